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

/* Encoded size of value. */
size_t lgi_varint_size(int32_t value);
size_t lgi_varlong_size(int64_t value);

/* Writes value at out (room for LGI_VAR*_MAX bytes) and returns the bytes
 * written. */
size_t lgi_varint_write(uint8_t *out, int32_t value);
size_t lgi_varlong_write(uint8_t *out, int64_t value);

/* Reads a value from [*pos, end), advancing *pos.  Returns 0, or -1 when
 * the input ends mid-value or the encoding is too long for the type
 * (*pos is then unspecified). */
int lgi_varint_read(const uint8_t **pos, const uint8_t *end, int32_t *value);
int lgi_varlong_read(const uint8_t **pos, const uint8_t *end, int64_t *value);

#endif
