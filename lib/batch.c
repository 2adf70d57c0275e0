/*
 * batch.c -- Kafka record batch v2 ("magic 2"), byte for byte as Kafka's
 * DefaultRecordBatch / DefaultRecord write it.
 *
 * BATCH LAYOUT (all integers big-endian, two's complement)
 *
 *   offset size field                 meaning
 *   ------ ---- --------------------- ------------------------------------
 *        0    8 baseOffset            offset of the first record; stamped
 *                                     by the log after encoding
 *        8    4 batchLength           bytes that follow this field, so the
 *                                     batch is batchLength + 12 bytes
 *       12    4 partitionLeaderEpoch  leader epoch at append; stamped by
 *                                     the log (-1 until then)
 *       16    1 magic                 always 2
 *       17    4 crc                   CRC-32C (uint32) of bytes 21..end
 *       21    2 attributes            bits 0-2 codec (0 none, 1 gzip,
 *                                     2 snappy, 3 lz4, 4 zstd); bit 3
 *                                     timestampType (1 = LogAppendTime);
 *                                     bit 4 transactional; bit 5 control;
 *                                     bit 6 delete horizon set (compaction)
 *       23    4 lastOffsetDelta       offset of the last record - base
 *       27    8 baseTimestamp         timestamp of the FIRST record (Kafka
 *                                     sets it from the first append, not
 *                                     the minimum; deltas may be negative)
 *       35    8 maxTimestamp          largest record timestamp, or the
 *                                     append time under LogAppendTime
 *       43    8 producerId            -1 without idempotence
 *       51    2 producerEpoch         -1 without idempotence
 *       53    4 baseSequence          -1 without idempotence
 *       57    4 recordCount           number of records that follow
 *       61      records               recordCount records; with a codec,
 *                                     the whole section is one compressed
 *                                     stream (the header never is)
 *
 *   +--------------+-----------+-----------+---+-------+------+---------+
 *   | baseOffset 8 | batchLen 4| epoch 4   |m 1| crc 4 |attr 2|lastDel 4|
 *   +--------------+-----------+-----------+---+-------+------+---------+
 *   | baseTimestamp 8 | maxTimestamp 8 | producerId 8 | pEpoch 2 |
 *   +-----------------+----------------+--------------+----------+
 *   | baseSequence 4 | recordCount 4 | records ...                |
 *   +----------------+---------------+----------------------------+
 *                    ^ CRC-32C covers byte 21 (attributes) to the end
 *
 * RECORD LAYOUT (varint = zig-zag 32-bit, varlong = zig-zag 64-bit)
 *
 *   length          varint   bytes of the record after this field
 *   attributes      int8     unused, 0
 *   timestampDelta  varlong  timestamp - baseTimestamp
 *   offsetDelta     varint   offset - baseOffset
 *   keyLength       varint   -1 = null key
 *   key             bytes
 *   valueLength     varint   -1 = null value
 *   value           bytes
 *   headerCount     varint
 *   headers         headerCount x { keyLength varint (>= 0), key,
 *                                   valueLength varint (-1 = null), value }
 *
 * CONTROL RECORDS (transaction markers) sit alone in a batch with the
 * control and transactional bits set: key = version int16 (0) + type int16
 * (0 abort, 1 commit); value = version int16 (0) + coordinatorEpoch int32.
 *
 * READER'S ALGORITHM
 *   1. Need 61 bytes; decode the header; magic must be 2; batchLength must
 *      cover the header and stay within max_batch_size; recordCount and
 *      lastOffsetDelta must be >= 0.
 *   2. The whole batch must be present; CRC-32C of bytes 21..end must equal
 *      the stored crc.  (baseOffset and partitionLeaderEpoch are outside
 *      the CRC so the log can stamp them without recomputing it.)
 *   3. Decompress the records section if the codec says so (bounded).
 *   4. Decode exactly recordCount records: each record's fields must end
 *      exactly at its length, every length is -1 (where null is allowed) or
 *      fits in what remains, offset deltas rise strictly and never pass
 *      lastOffsetDelta, and no bytes may follow the last record.
 *   Under LogAppendTime every record's timestamp is maxTimestamp, as Kafka.
 *
 * The decoder trusts nothing it reads: every read is bounded by the end of
 * the section, so arbitrary bytes produce LG_ERR_CORRUPT, never a fault.
 */
#include "endian.h"
#include "batch.h"

#include "alloc.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "records.h"
#include "varint.h"

#include <stdio.h>
#include <string.h>

#define OFF_BASE_OFFSET 0
#define OFF_BATCH_LENGTH 8
#define OFF_LEADER_EPOCH 12
#define OFF_MAGIC 16
#define OFF_CRC 17
#define OFF_ATTRIBUTES 21
#define OFF_LAST_OFFSET_DELTA 23
#define OFF_BASE_TIMESTAMP 27
#define OFF_MAX_TIMESTAMP 35
#define OFF_PRODUCER_ID 43
#define OFF_PRODUCER_EPOCH 51
#define OFF_BASE_SEQUENCE 53
#define OFF_RECORD_COUNT 57

/* ------------------------------------------------------------------------
 * Header
 * --------------------------------------------------------------------- */

lg_err_t lgi_batch_parse_header(const uint8_t *buf, size_t len,
                                size_t max_batch_size,
                                lgi_batch_header_t *header) {
    if (!buf || !header)
        return lgi_error(LG_ERR_INVALID_ARG, "batch header: NULL argument");
    if (len < LGI_BATCH_HEADER_SIZE)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "batch header needs %d bytes, only %zu available",
                         LGI_BATCH_HEADER_SIZE, len);
    lgi_batch_header_t h;
    h.base_offset = (int64_t)lgi_get_be64(buf + OFF_BASE_OFFSET);
    h.batch_length = (int32_t)lgi_get_be32(buf + OFF_BATCH_LENGTH);
    h.partition_leader_epoch = (int32_t)lgi_get_be32(buf + OFF_LEADER_EPOCH);
    h.magic = (int8_t)buf[OFF_MAGIC];
    h.crc = lgi_get_be32(buf + OFF_CRC);
    h.attributes = (int16_t)lgi_get_be16(buf + OFF_ATTRIBUTES);
    h.last_offset_delta = (int32_t)lgi_get_be32(buf + OFF_LAST_OFFSET_DELTA);
    h.base_timestamp = (int64_t)lgi_get_be64(buf + OFF_BASE_TIMESTAMP);
    h.max_timestamp = (int64_t)lgi_get_be64(buf + OFF_MAX_TIMESTAMP);
    h.producer_id = (int64_t)lgi_get_be64(buf + OFF_PRODUCER_ID);
    h.producer_epoch = (int16_t)lgi_get_be16(buf + OFF_PRODUCER_EPOCH);
    h.base_sequence = (int32_t)lgi_get_be32(buf + OFF_BASE_SEQUENCE);
    h.record_count = (int32_t)lgi_get_be32(buf + OFF_RECORD_COUNT);

    if (h.magic != LGI_BATCH_MAGIC)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch at offset %lld: magic %d, expected %d",
                         (long long)h.base_offset, h.magic, LGI_BATCH_MAGIC);
    int64_t min_length = LGI_BATCH_HEADER_SIZE - LGI_BATCH_OVERHEAD;
    int64_t max_length = max_batch_size > INT32_MAX
                             ? INT32_MAX
                             : (int64_t)max_batch_size - LGI_BATCH_OVERHEAD;
    if (h.batch_length < min_length || h.batch_length > max_length)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch at offset %lld: batchLength %d outside [%lld, "
                         "%lld]",
                         (long long)h.base_offset, h.batch_length,
                         (long long)min_length, (long long)max_length);
    if (h.record_count < 0)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch at offset %lld: negative recordCount %d",
                         (long long)h.base_offset, h.record_count);
    if (h.last_offset_delta < 0)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch at offset %lld: negative lastOffsetDelta %d",
                         (long long)h.base_offset, h.last_offset_delta);
    if (h.base_offset < 0 || h.base_offset > INT64_MAX - h.last_offset_delta)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch: baseOffset %lld with lastOffsetDelta %d is "
                         "not a valid offset range",
                         (long long)h.base_offset, h.last_offset_delta);
    *header = h;
    return LG_OK;
}

lg_err_t lgi_batch_validate(const uint8_t *buf, size_t len,
                            size_t max_batch_size,
                            lgi_batch_header_t *header) {
    lgi_batch_header_t h;
    lg_err_t err = lgi_batch_parse_header(buf, len, max_batch_size, &h);
    if (err != LG_OK)
        return err;
    size_t size = lgi_batch_size(&h);
    if (size > len)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch at offset %lld: %zu bytes long but only %zu "
                         "available (truncated)",
                         (long long)h.base_offset, size, len);
    uint32_t computed = lgi_crc32c(0, buf + LGI_BATCH_CRC_START,
                                   size - LGI_BATCH_CRC_START);
    if (computed != h.crc)
        return lgi_error(LG_ERR_CORRUPT,
                         "batch at offset %lld: CRC mismatch (stored 0x%08x, "
                         "computed 0x%08x)",
                         (long long)h.base_offset, h.crc, computed);
    if (header)
        *header = h;
    return LG_OK;
}

void lgi_batch_set_base_offset(uint8_t *batch, int64_t base_offset) {
    lgi_put_be64(batch + OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void lgi_batch_set_leader_epoch(uint8_t *batch, int32_t epoch) {
    lgi_put_be32(batch + OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void lgi_batch_options_init(lgi_batch_options_t *options) {
    memset(options, 0, sizeof *options);
    options->codec = LGI_CODEC_NONE;
    options->producer_id = -1;
    options->producer_epoch = -1;
    options->base_sequence = -1;
}

/* ------------------------------------------------------------------------
 * Encoding
 * --------------------------------------------------------------------- */

/* Everything the header needs that is not in the options. */
typedef struct header_fields {
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} header_fields_t;

/* Fills the 61-byte header at out->data + start (the records follow up to
 * out->len) and computes the CRC over attributes..end. */
static lg_err_t finish_batch(lgi_buf_t *out, size_t start,
                             const header_fields_t *f) {
    size_t size = out->len - start;
    if (size - LGI_BATCH_OVERHEAD > INT32_MAX) {
        out->len = start;
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "batch of %zu bytes exceeds the Kafka limit of %d",
                         size, INT32_MAX);
    }
    uint8_t *b = out->data + start;
    lgi_put_be64(b + OFF_BASE_OFFSET, 0);
    lgi_put_be32(b + OFF_BATCH_LENGTH, (uint32_t)(size - LGI_BATCH_OVERHEAD));
    lgi_put_be32(b + OFF_LEADER_EPOCH, (uint32_t)-1);
    b[OFF_MAGIC] = LGI_BATCH_MAGIC;
    lgi_put_be16(b + OFF_ATTRIBUTES, (uint16_t)f->attributes);
    lgi_put_be32(b + OFF_LAST_OFFSET_DELTA, (uint32_t)f->last_offset_delta);
    lgi_put_be64(b + OFF_BASE_TIMESTAMP, (uint64_t)f->base_timestamp);
    lgi_put_be64(b + OFF_MAX_TIMESTAMP, (uint64_t)f->max_timestamp);
    lgi_put_be64(b + OFF_PRODUCER_ID, (uint64_t)f->producer_id);
    lgi_put_be16(b + OFF_PRODUCER_EPOCH, (uint16_t)f->producer_epoch);
    lgi_put_be32(b + OFF_BASE_SEQUENCE, (uint32_t)f->base_sequence);
    lgi_put_be32(b + OFF_RECORD_COUNT, (uint32_t)f->record_count);
    lgi_put_be32(b + OFF_CRC, lgi_crc32c(0, b + LGI_BATCH_CRC_START,
                                  size - LGI_BATCH_CRC_START));
    return LG_OK;
}

static int64_t record_timestamp(const lgi_record_desc_t *desc,
                                const lgi_batch_options_t *options) {
    return desc->timestamp == LG_TIMESTAMP_NOW ? options->now_ms
                                               : desc->timestamp;
}

/* Size of a record's body (everything after its length varint). */
static uint64_t body_size(const lgi_record_desc_t *d, int64_t ts_delta,
                          int32_t offset_delta) {
    uint64_t size = 1 + lgi_varlong_size(ts_delta) +
                    lgi_varint_size(offset_delta);
    size += lgi_varint_size((int32_t)d->key_len) +
            (d->key_len > 0 ? (uint64_t)d->key_len : 0);
    size += lgi_varint_size((int32_t)d->value_len) +
            (d->value_len > 0 ? (uint64_t)d->value_len : 0);
    size += lgi_varint_size(d->header_count) + d->headers_len;
    return size;
}

/* Writes the records section of records into out (already reserved). */
static void write_records(uint8_t *p, const lg_records_t *records,
                          int64_t base_timestamp,
                          const lgi_batch_options_t *options) {
    const uint8_t *arena = records->arena.data;
    for (size_t i = 0; i < records->count; i++) {
        const lgi_record_desc_t *d = &records->descs[i];
        int64_t delta = (int64_t)((uint64_t)record_timestamp(d, options) -
                                  (uint64_t)base_timestamp);
        uint64_t body = body_size(d, delta, (int32_t)i);
        p += lgi_varint_write(p, (int32_t)body);
        *p++ = 0; /* record attributes: unused by Kafka */
        p += lgi_varlong_write(p, delta);
        p += lgi_varint_write(p, (int32_t)i);
        p += lgi_varint_write(p, (int32_t)d->key_len);
        if (d->key_len > 0) {
            memcpy(p, arena + d->key_off, (size_t)d->key_len);
            p += d->key_len;
        }
        p += lgi_varint_write(p, (int32_t)d->value_len);
        if (d->value_len > 0) {
            memcpy(p, arena + d->value_off, (size_t)d->value_len);
            p += d->value_len;
        }
        p += lgi_varint_write(p, d->header_count);
        if (d->headers_len) {
            memcpy(p, arena + d->headers_off, d->headers_len);
            p += d->headers_len;
        }
    }
}

lg_err_t lgi_batch_encode(lgi_buf_t *out, const lg_records_t *records,
                          const lgi_batch_options_t *options) {
    if (!out || !records || !options)
        return lgi_error(LG_ERR_INVALID_ARG, "batch encode: NULL argument");
    if (records->count == 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "batch encode: the record list is empty");
    if (records->count > INT32_MAX)
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "batch encode: %zu records exceed %d",
                         records->count, INT32_MAX);
    if (options->codec != LGI_CODEC_NONE && options->codec != LGI_CODEC_ZSTD)
        return lgi_error(LG_ERR_UNSUPPORTED,
                         "batch encode: codec %d cannot be written; use none "
                         "(0) or zstd (4)", options->codec);
    /* now_ms matters only if some timestamp is taken from it. */
    int uses_now = options->log_append_time;
    for (size_t i = 0; i < records->count && !uses_now; i++)
        uses_now = records->descs[i].timestamp == LG_TIMESTAMP_NOW;
    if (uses_now && options->now_ms < 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "batch encode: now_ms %lld is negative",
                         (long long)options->now_ms);

    header_fields_t f;
    f.base_timestamp = record_timestamp(&records->descs[0], options);
    f.max_timestamp = f.base_timestamp;
    uint64_t section = 0;
    for (size_t i = 0; i < records->count; i++) {
        const lgi_record_desc_t *d = &records->descs[i];
        int64_t ts = record_timestamp(d, options);
        if (ts > f.max_timestamp)
            f.max_timestamp = ts;
        int64_t delta =
            (int64_t)((uint64_t)ts - (uint64_t)f.base_timestamp);
        uint64_t body = body_size(d, delta, (int32_t)i);
        if (body > INT32_MAX)
            return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                             "batch encode: record %zu is %llu bytes, over "
                             "the Kafka limit of %d", i,
                             (unsigned long long)body, INT32_MAX);
        section += lgi_varint_size((int32_t)body) + body;
    }
    if (section > (uint64_t)INT32_MAX - LGI_BATCH_HEADER_SIZE)
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "batch encode: %llu bytes of records exceed the "
                         "Kafka batch limit", (unsigned long long)section);
    if (options->log_append_time)
        f.max_timestamp = options->now_ms;
    f.attributes = (int16_t)(options->codec & LGI_ATTR_CODEC_MASK);
    if (options->log_append_time)
        f.attributes |= LGI_ATTR_LOG_APPEND_TIME;
    if (options->transactional)
        f.attributes |= LGI_ATTR_TRANSACTIONAL;
    f.last_offset_delta = (int32_t)(records->count - 1);
    f.producer_id = options->producer_id;
    f.producer_epoch = options->producer_epoch;
    f.base_sequence = options->base_sequence;
    f.record_count = (int32_t)records->count;

    size_t start = out->len;
    if (options->codec == LGI_CODEC_NONE) {
        if (lgi_buf_reserve(out, LGI_BATCH_HEADER_SIZE + (size_t)section) != 0)
            return lgi_error(LG_ERR_NOMEM,
                             "batch encode: out of memory for %llu bytes",
                             (unsigned long long)section);
        write_records(out->data + start + LGI_BATCH_HEADER_SIZE, records,
                      f.base_timestamp, options);
        out->len = start + LGI_BATCH_HEADER_SIZE + (size_t)section;
        return finish_batch(out, start, &f);
    }

    lgi_buf_t plain = LGI_BUF_INIT;
    if (lgi_buf_reserve(&plain, (size_t)section) != 0 ||
        lgi_buf_reserve(out, LGI_BATCH_HEADER_SIZE) != 0) {
        lgi_buf_free(&plain);
        return lgi_error(LG_ERR_NOMEM,
                         "batch encode: out of memory for %llu bytes",
                         (unsigned long long)section);
    }
    write_records(plain.data, records, f.base_timestamp, options);
    plain.len = (size_t)section;
    out->len = start + LGI_BATCH_HEADER_SIZE;
    lg_err_t err = lgi_compress(options->codec, options->zstd_level,
                                plain.data, plain.len, out);
    lgi_buf_free(&plain);
    if (err != LG_OK) {
        out->len = start;
        return err;
    }
    return finish_batch(out, start, &f);
}

lg_err_t lgi_batch_encode_control(lgi_buf_t *out, int type,
                                  int32_t coordinator_epoch, int64_t now_ms,
                                  int64_t producer_id, int16_t producer_epoch) {
    if (!out)
        return lgi_error(LG_ERR_INVALID_ARG, "control batch: NULL buffer");
    if (type != 0 && type != 1)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "control batch: type %d is neither abort (0) nor "
                         "commit (1)", type);
    if (now_ms < 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "control batch: timestamp %lld is negative",
                         (long long)now_ms);
    uint8_t key[4], value[6];
    lgi_put_be16(key, 0); /* ControlRecordType key version */
    lgi_put_be16(key + 2, (uint16_t)type);
    lgi_put_be16(value, 0); /* EndTransactionMarker version */
    lgi_put_be32(value + 2, (uint32_t)coordinator_epoch);

    /* length, attributes, tsDelta 0, offsetDelta 0, keyLen, key, valueLen,
     * value, headerCount 0: 1 + 1 + 1 + 1 + 4 + 1 + 6 + 1 = 16 bytes. */
    uint8_t record[32];
    uint8_t *p = record;
    p += lgi_varint_write(p, 16);
    *p++ = 0;
    p += lgi_varlong_write(p, 0);
    p += lgi_varint_write(p, 0);
    p += lgi_varint_write(p, (int32_t)sizeof key);
    memcpy(p, key, sizeof key);
    p += sizeof key;
    p += lgi_varint_write(p, (int32_t)sizeof value);
    memcpy(p, value, sizeof value);
    p += sizeof value;
    p += lgi_varint_write(p, 0);
    size_t record_len = (size_t)(p - record);

    size_t start = out->len;
    if (lgi_buf_reserve(out, LGI_BATCH_HEADER_SIZE + record_len) != 0)
        return lgi_error(LG_ERR_NOMEM, "control batch: out of memory");
    memcpy(out->data + start + LGI_BATCH_HEADER_SIZE, record, record_len);
    out->len = start + LGI_BATCH_HEADER_SIZE + record_len;
    header_fields_t f = {
        .attributes = LGI_ATTR_CONTROL | LGI_ATTR_TRANSACTIONAL,
        .last_offset_delta = 0,
        .base_timestamp = now_ms,
        .max_timestamp = now_ms,
        .producer_id = producer_id,
        .producer_epoch = producer_epoch,
        .base_sequence = -1,
        .record_count = 1,
    };
    return finish_batch(out, start, &f);
}

/* ------------------------------------------------------------------------
 * Decoding
 * --------------------------------------------------------------------- */

lg_err_t lgi_record_iter_init_limit(lgi_record_iter_t *iter,
                                    const uint8_t *batch,
                                    const lgi_batch_header_t *header,
                                    lgi_buf_t *scratch,
                                    size_t max_decompressed) {
    if (!iter || !batch || !header)
        return lgi_error(LG_ERR_INVALID_ARG, "record iterator: NULL argument");
    const uint8_t *section = batch + LGI_BATCH_HEADER_SIZE;
    size_t section_len = lgi_batch_size(header) - LGI_BATCH_HEADER_SIZE;
    int codec = header->attributes & LGI_ATTR_CODEC_MASK;
    iter->header = *header;
    iter->remaining = header->record_count;
    iter->last_delta = -1;
    if (codec == LGI_CODEC_NONE) {
        iter->pos = section;
        iter->end = section + section_len;
        return LG_OK;
    }
    if (!scratch)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "batch at offset %lld is compressed (codec %d) but "
                         "no scratch buffer was given",
                         (long long)header->base_offset, codec);
    lgi_buf_reset(scratch);
    lg_err_t err = lgi_decompress(codec, section, section_len,
                                  max_decompressed, scratch);
    if (err != LG_OK) {
        if (err == LG_ERR_CORRUPT) {
            /* copied first: the message buffer is also the output */
            char cause[256];
            snprintf(cause, sizeof cause, "%s", lg_last_error_message());
            lgi_error(LG_ERR_CORRUPT, "batch at offset %lld: %s",
                      (long long)header->base_offset, cause);
        }
        return err;
    }
    iter->pos = scratch->data;
    iter->end = scratch->data + scratch->len;
    return LG_OK;
}

lg_err_t lgi_record_iter_init(lgi_record_iter_t *iter, const uint8_t *batch,
                              const lgi_batch_header_t *header,
                              lgi_buf_t *scratch) {
    return lgi_record_iter_init_limit(iter, batch, header, scratch,
                                      LGI_BATCH_MAX_DECOMPRESSED);
}

/* A length prefix: -1 (null, when allowed) or 0..bytes left. */
static int read_length(const uint8_t **p, const uint8_t *end, int null_ok,
                       int32_t *len) {
    if (lgi_varint_read(p, end, len) != 0)
        return -1;
    if (*len == -1 && null_ok)
        return 0;
    if (*len < 0 || *len > end - *p)
        return -1;
    return 0;
}

static lg_err_t corrupt_record(const lgi_record_iter_t *iter,
                               const char *what) {
    int32_t index = iter->header.record_count - iter->remaining;
    return lgi_error(LG_ERR_CORRUPT,
                     "batch at offset %lld, record %d: %s",
                     (long long)iter->header.base_offset, index, what);
}

lg_err_t lgi_record_iter_next(lgi_record_iter_t *iter, lgi_record_t *record,
                              int *done) {
    if (!iter || !record || !done)
        return lgi_error(LG_ERR_INVALID_ARG, "record iterator: NULL argument");
    *done = 0;
    if (iter->remaining == 0) {
        if (iter->pos != iter->end)
            return corrupt_record(iter, "bytes follow the last record "
                                        "(recordCount too small)");
        *done = 1;
        return LG_OK;
    }
    if (iter->pos == iter->end)
        return corrupt_record(iter, "records end before recordCount is "
                                    "reached");

    const uint8_t *p = iter->pos;
    int32_t length;
    if (lgi_varint_read(&p, iter->end, &length) != 0)
        return corrupt_record(iter, "bad record length varint");
    if (length < 0 || length > iter->end - p)
        return corrupt_record(iter, "record length past the end of the batch");
    const uint8_t *end = p + length;

    if (p == end)
        return corrupt_record(iter, "record has no attributes byte");
    p++; /* record attributes: unused */
    int64_t timestamp_delta;
    int32_t offset_delta, key_len, value_len, header_count;
    if (lgi_varlong_read(&p, end, &timestamp_delta) != 0)
        return corrupt_record(iter, "bad timestampDelta varlong");
    if (lgi_varint_read(&p, end, &offset_delta) != 0)
        return corrupt_record(iter, "bad offsetDelta varint");
    if (offset_delta <= iter->last_delta ||
        offset_delta > iter->header.last_offset_delta)
        return corrupt_record(iter, "offsetDelta not increasing or past "
                                    "lastOffsetDelta");
    if (read_length(&p, end, 1, &key_len) != 0)
        return corrupt_record(iter, "bad key length");
    const uint8_t *key = key_len < 0 ? NULL : p;
    if (key_len > 0)
        p += key_len;
    if (read_length(&p, end, 1, &value_len) != 0)
        return corrupt_record(iter, "bad value length");
    const uint8_t *value = value_len < 0 ? NULL : p;
    if (value_len > 0)
        p += value_len;
    if (lgi_varint_read(&p, end, &header_count) != 0 || header_count < 0)
        return corrupt_record(iter, "bad header count");
    const uint8_t *headers = p;
    for (int32_t i = 0; i < header_count; i++) {
        int32_t name_len, header_value_len;
        if (read_length(&p, end, 0, &name_len) != 0)
            return corrupt_record(iter, "bad header key length");
        p += name_len;
        if (read_length(&p, end, 1, &header_value_len) != 0)
            return corrupt_record(iter, "bad header value length");
        if (header_value_len > 0)
            p += header_value_len;
    }
    if (p != end)
        return corrupt_record(iter, "record length does not match its "
                                    "content");

    record->offset = iter->header.base_offset + offset_delta;
    if (iter->header.attributes & LGI_ATTR_LOG_APPEND_TIME)
        record->timestamp = iter->header.max_timestamp;
    else
        record->timestamp = (int64_t)((uint64_t)iter->header.base_timestamp +
                                      (uint64_t)timestamp_delta);
    record->key = key;
    record->key_len = key_len < 0 ? 0 : (size_t)key_len;
    record->value = value;
    record->value_len = value_len < 0 ? 0 : (size_t)value_len;
    record->header_count = header_count;
    record->headers = headers;
    record->headers_len = (size_t)(end - headers);
    iter->pos = end;
    iter->last_delta = offset_delta;
    iter->remaining--;
    return LG_OK;
}

lg_err_t lgi_record_header(const lgi_record_t *record, size_t index,
                           const uint8_t **name, size_t *name_len,
                           const uint8_t **value, size_t *value_len) {
    if (!record)
        return lgi_error(LG_ERR_INVALID_ARG, "record header: NULL record");
    if (index >= (size_t)(record->header_count < 0 ? 0 : record->header_count))
        return lgi_error(LG_ERR_INVALID_ARG,
                         "header index %zu out of range (record has %d)",
                         index, record->header_count);
    const uint8_t *p = record->headers;
    const uint8_t *end = p + record->headers_len;
    for (size_t i = 0;; i++) {
        int32_t nlen, vlen;
        if (read_length(&p, end, 0, &nlen) != 0)
            return lgi_error(LG_ERR_CORRUPT, "header %zu: bad key length", i);
        const uint8_t *n = p;
        p += nlen;
        if (read_length(&p, end, 1, &vlen) != 0)
            return lgi_error(LG_ERR_CORRUPT, "header %zu: bad value length",
                             i);
        const uint8_t *v = vlen < 0 ? NULL : p;
        if (vlen > 0)
            p += vlen;
        if (i == index) {
            if (name)
                *name = n;
            if (name_len)
                *name_len = (size_t)nlen;
            if (value)
                *value = v;
            if (value_len)
                *value_len = vlen < 0 ? 0 : (size_t)vlen;
            return LG_OK;
        }
    }
}
