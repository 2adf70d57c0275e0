/*
 * batch_builder.c -- incremental encoding of record batch v2 for the
 * producer (see batch_builder.h; the format is specified atop batch.c).
 *
 * A record is written as: length varint, attributes int8 (0),
 * timestampDelta varlong (against the first record's timestamp),
 * offsetDelta varint (its index in the batch), key length varint and key,
 * value length varint and value, header count varint and the headers.
 * Sealing writes the 61-byte big-endian header in front of a copy of the
 * records section (compressed with zstd when asked), then the CRC-32C over
 * attributes..end.  baseOffset is left 0 and partitionLeaderEpoch -1: the
 * partition stamps both, outside the CRC.
 */
#include "endian.h"
#include "batch_builder.h"

#include "alloc.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "varint.h"

#include <string.h>

int lgi_batch_builder_reset(lgi_batch_builder_t *builder, size_t capacity) {
    builder->buf.len = 0;
    builder->count = 0;
    builder->base_timestamp = 0;
    builder->max_timestamp = 0;
    size_t size = LGI_BATCH_HEADER_SIZE + capacity;
    if (builder->buf.cap < size) {
        /* Exactly the size asked for: the producer sizes batches to
         * batch.size, and a power-of-two rounding would nearly double
         * that. */
        uint8_t *data = lgi_realloc(builder->buf.data, size);
        if (!data)
            return -1;
        builder->buf.data = data;
        builder->buf.cap = size;
    }
    /* The header is written at seal time into the copy; these bytes only
     * keep offsets in buf equal to offsets in the sealed batch. */
    memset(builder->buf.data, 0, LGI_BATCH_HEADER_SIZE);
    builder->buf.len = LGI_BATCH_HEADER_SIZE;
    return 0;
}

void lgi_batch_builder_free(lgi_batch_builder_t *builder) {
    lgi_buf_free(&builder->buf);
    builder->count = 0;
}

static size_t body_size(const lgi_record_fields_t *r, int32_t offset_delta,
                        int64_t ts_delta) {
    size_t size = 1 + lgi_varlong_size(ts_delta) +
                  lgi_varint_size(offset_delta);
    size += lgi_varint_size((int32_t)r->key_len) +
            (r->key_len > 0 ? (size_t)r->key_len : 0);
    size += lgi_varint_size((int32_t)r->value_len) +
            (r->value_len > 0 ? (size_t)r->value_len : 0);
    size += lgi_varint_size(r->header_count) + r->headers_len;
    return size;
}

size_t lgi_batch_record_size(const lgi_record_fields_t *record,
                             int32_t offset_delta, int64_t ts_delta) {
    size_t body = body_size(record, offset_delta, ts_delta);
    return lgi_varint_size((int32_t)body) + body;
}

static int64_t next_delta(const lgi_batch_builder_t *b, int64_t timestamp) {
    if (b->count == 0)
        return 0;
    /* Wrapping subtraction, as batch.c: any two valid timestamps give a
     * delta that round-trips. */
    return (int64_t)((uint64_t)timestamp - (uint64_t)b->base_timestamp);
}


/* Writes raw as an unsigned varint at out; returns the byte after it.
 * Most varints of a record (attributes aside: deltas, lengths, header
 * count) are one or two bytes, so those cases come first. */
static inline uint8_t *put_varint(uint8_t *out, uint64_t raw) {
    if (raw < 0x80) {
        out[0] = (uint8_t)raw;
        return out + 1;
    }
    if (raw < 0x4000) {
        out[0] = (uint8_t)(raw | 0x80);
        out[1] = (uint8_t)(raw >> 7);
        return out + 2;
    }
    return out + lgi_unsigned_varint_write(out, raw);
}

int lgi_batch_builder_add(lgi_batch_builder_t *builder,
                          const lgi_record_fields_t *r) {
    size_t bound = lgi_batch_record_size_bound(r);
    if (builder->buf.cap - builder->buf.len < bound &&
        lgi_buf_reserve(&builder->buf, bound) != 0)
        return -1;
    /* The body's length comes first but is known only once the body is
     * written: leave room for the length varint of the largest body the
     * record could have, and move the body back in the rare case its
     * real length needs a shorter varint (sizes next to 64, 8192, ...).
     * Lengths are zig-zag varints: 2 * length, unsigned. */
    size_t body_bound = bound - LGI_VARINT_MAX;
    size_t room = lgi_unsigned_varint_size((uint64_t)body_bound << 1);
    uint8_t *start = builder->buf.data + builder->buf.len;
    uint8_t *body = start + room;
    /* Ask for the cache lines the next records will fill, for writing:
     * a store that misses the cache stalls the next atomic instruction
     * (the accumulator's mutex) until the line arrives, and the buffer
     * was last touched by the thread that wrote it out.  Harmless past
     * the end of the buffer (prefetches do not fault). */
    __builtin_prefetch(start + 256, 1);
    __builtin_prefetch(start + 320, 1);
    uint8_t *p = body;
    *p++ = 0; /* record attributes: unused by Kafka */
    p = put_varint(p, lgi_zigzag64(next_delta(builder, r->timestamp)));
    p = put_varint(p, lgi_zigzag32(builder->count));
    p = put_varint(p, lgi_zigzag32((int32_t)r->key_len));
    if (r->key_len > 0) {
        memcpy(p, r->key, (size_t)r->key_len);
        p += r->key_len;
    }
    p = put_varint(p, lgi_zigzag32((int32_t)r->value_len));
    if (r->value_len > 0) {
        memcpy(p, r->value, (size_t)r->value_len);
        p += r->value_len;
    }
    p = put_varint(p, lgi_zigzag32(r->header_count));
    if (r->headers_len) {
        memcpy(p, r->headers, r->headers_len);
        p += r->headers_len;
    }
    size_t body_len = (size_t)(p - body);
    size_t length_len = lgi_unsigned_varint_size((uint64_t)body_len << 1);
    if (length_len != room)
        memmove(start + length_len, body, body_len);
    put_varint(start, (uint64_t)body_len << 1);
    builder->buf.len += length_len + body_len;
    if (builder->count == 0) {
        builder->base_timestamp = r->timestamp;
        builder->max_timestamp = r->timestamp;
    } else if (r->timestamp > builder->max_timestamp) {
        builder->max_timestamp = r->timestamp;
    }
    builder->count++;
    return 0;
}

lg_err_t lgi_batch_builder_seal(const lgi_batch_builder_t *builder,
                                const lgi_batch_options_t *options,
                                uint8_t **batchp, size_t *lenp) {
    if (builder->count == 0)
        return lgi_error(LG_ERR_INVALID_ARG, "batch builder: no records");
    const uint8_t *records = builder->buf.data + LGI_BATCH_HEADER_SIZE;
    size_t records_len = builder->buf.len - LGI_BATCH_HEADER_SIZE;
    lgi_buf_t out = LGI_BUF_INIT;
    int codec = options->codec;
    if (codec == LGI_CODEC_NONE) {
        /* Exactly the batch's size (lgi_buf_reserve would round up to a
         * power of two): the copy is written once and handed off. */
        out.data = lgi_malloc(builder->buf.len);
        if (!out.data)
            return lgi_error(LG_ERR_NOMEM,
                             "batch builder: out of memory for a %zu-byte "
                             "batch", builder->buf.len);
        out.cap = builder->buf.len;
        memcpy(out.data + LGI_BATCH_HEADER_SIZE, records, records_len);
        out.len = builder->buf.len;
    } else {
        if (lgi_buf_reserve(&out, LGI_BATCH_HEADER_SIZE) != 0)
            return lgi_error(LG_ERR_NOMEM,
                             "batch builder: out of memory for a header");
        out.len = LGI_BATCH_HEADER_SIZE;
        lg_err_t err = lgi_compress(codec, options->zstd_level, records,
                                    records_len, &out);
        if (err != LG_OK) {
            lgi_buf_free(&out);
            return err;
        }
    }
    if (out.len - LGI_BATCH_OVERHEAD > INT32_MAX) {
        lgi_buf_free(&out);
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "batch of %zu bytes exceeds the Kafka limit of %d",
                         out.len, INT32_MAX);
    }
    int16_t attributes = (int16_t)(codec & LGI_ATTR_CODEC_MASK);
    int64_t max_timestamp = builder->max_timestamp;
    if (options->log_append_time) {
        attributes |= LGI_ATTR_LOG_APPEND_TIME;
        max_timestamp = options->now_ms;
    }
    if (options->transactional)
        attributes |= LGI_ATTR_TRANSACTIONAL;
    uint8_t *b = out.data;
    lgi_put_be64(b + 0, 0);                                       /* baseOffset */
    lgi_put_be32(b + 8, (uint32_t)(out.len - LGI_BATCH_OVERHEAD)); /* batchLength */
    lgi_put_be32(b + 12, (uint32_t)-1);                  /* partitionLeaderEpoch */
    b[16] = LGI_BATCH_MAGIC;
    lgi_put_be16(b + 21, (uint16_t)attributes);
    lgi_put_be32(b + 23, (uint32_t)(builder->count - 1)); /* lastOffsetDelta */
    lgi_put_be64(b + 27, (uint64_t)builder->base_timestamp);
    lgi_put_be64(b + 35, (uint64_t)max_timestamp);
    lgi_put_be64(b + 43, (uint64_t)options->producer_id);
    lgi_put_be16(b + 51, (uint16_t)options->producer_epoch);
    lgi_put_be32(b + 53, (uint32_t)options->base_sequence);
    lgi_put_be32(b + 57, (uint32_t)builder->count);
    lgi_put_be32(b + 17, lgi_crc32c(0, b + LGI_BATCH_CRC_START,
                             out.len - LGI_BATCH_CRC_START));
    *batchp = out.data;
    *lenp = out.len;
    return LG_OK;
}
