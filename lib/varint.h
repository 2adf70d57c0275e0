/*
 * varint.h -- Kafka's zig-zag varints (protobuf encoding), used inside
 * records of batch v2.  varint = 32-bit zig-zag, varlong = 64-bit.
 */
#ifndef LG_VARINT_H
#define LG_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define LGI_VARINT_MAX 5
#define LGI_VARLONG_MAX 10

/* Sizing and writing are on the producer's per-record path (several
 * varints per record), so they are inline here; reading, which validates,
 * lives in varint.c. */

static inline uint64_t lgi_zigzag64(int64_t value) {
    return ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
}

static inline uint32_t lgi_zigzag32(int32_t value) {
    return ((uint32_t)value << 1) ^ (uint32_t)(value >> 31);
}

/* Bytes of the base-128 encoding of raw: one per started 7 bits, i.e.
 * ceil(bits / 7), computed as (floor(log2) * 9 + 73) / 64, which equals it
 * for every bit length 1..64 and needs no division. */
static inline size_t lgi_unsigned_varint_size(uint64_t raw) {
    unsigned log2 = 63u - (unsigned)__builtin_clzll(raw | 1);
    return (size_t)((log2 * 9 + 73) / 64);
}

static inline size_t lgi_unsigned_varint_write(uint8_t *out, uint64_t raw) {
    size_t n = 0;
    while (raw >= 0x80) {
        out[n++] = (uint8_t)(raw | 0x80);
        raw >>= 7;
    }
    out[n++] = (uint8_t)raw;
    return n;
}

/* Encoded size of value. */
static inline size_t lgi_varint_size(int32_t value) {
    return lgi_unsigned_varint_size(lgi_zigzag32(value));
}
static inline size_t lgi_varlong_size(int64_t value) {
    return lgi_unsigned_varint_size(lgi_zigzag64(value));
}

/* Writes value at out (room for LGI_VAR*_MAX bytes) and returns the bytes
 * written. */
static inline size_t lgi_varint_write(uint8_t *out, int32_t value) {
    return lgi_unsigned_varint_write(out, lgi_zigzag32(value));
}
static inline size_t lgi_varlong_write(uint8_t *out, int64_t value) {
    return lgi_unsigned_varint_write(out, lgi_zigzag64(value));
}

/* Reads a value from [*pos, end), advancing *pos.  Returns 0, or -1 when
 * the input ends mid-value or the encoding is too long for the type
 * (*pos is then unspecified). */
int lgi_varint_read(const uint8_t **pos, const uint8_t *end, int32_t *value);
int lgi_varlong_read(const uint8_t **pos, const uint8_t *end, int64_t *value);

#endif
