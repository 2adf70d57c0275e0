/*
 * varint.c -- Kafka's zig-zag variable-length integers (the protobuf
 * encoding: 7 bits a byte, least significant group first, high bit set on
 * every byte but the last; zig-zag maps 0,-1,1,-2.. to 0,1,2,3.. so small
 * negative numbers stay short).
 *
 * Readers are the first line of defence against corrupt batches, so they
 * reject, rather than silently wrap, any encoding that cannot be a value of
 * the type: more than 5 (varint) / 10 (varlong) bytes, or a last byte
 * carrying bits beyond 32 / 64.  Kafka's own encoder never produces such
 * bytes.  Readers never look at or past end.
 */
#include "varint.h"

static int32_t unzigzag32(uint32_t raw) {
    return (int32_t)((raw >> 1) ^ (~(raw & 1) + 1));
}
static int64_t unzigzag64(uint64_t raw) {
    return (int64_t)((raw >> 1) ^ (~(raw & 1) + 1));
}



/* Reads at most max_bytes; the last allowed byte may only use the bits
 * that still fit in value_bits. */
static int unsigned_read(const uint8_t **pos, const uint8_t *end,
                         unsigned max_bytes, unsigned value_bits,
                         uint64_t *raw) {
    const uint8_t *p = *pos;
    uint64_t value = 0;
    for (unsigned i = 0; i < max_bytes; i++) {
        if (p >= end)
            return -1; /* truncated */
        uint8_t byte = *p++;
        unsigned shift = 7 * i;
        if (i == max_bytes - 1 && (byte >> (value_bits - shift)) != 0)
            return -1; /* overflow, or a continuation bit on the last byte */
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *pos = p;
            *raw = value;
            return 0;
        }
    }
    return -1;
}





int lgi_varint_read(const uint8_t **pos, const uint8_t *end, int32_t *value) {
    uint64_t raw;
    if (unsigned_read(pos, end, LGI_VARINT_MAX, 32, &raw) != 0)
        return -1;
    *value = unzigzag32((uint32_t)raw);
    return 0;
}

int lgi_varlong_read(const uint8_t **pos, const uint8_t *end, int64_t *value) {
    uint64_t raw;
    if (unsigned_read(pos, end, LGI_VARLONG_MAX, 64, &raw) != 0)
        return -1;
    *value = unzigzag64(raw);
    return 0;
}
