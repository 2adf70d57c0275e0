/*
 * batch.h -- Kafka record batch v2: the unit written to a segment.
 *
 * The full byte layout and the reader's algorithm are documented atop
 * batch.c.  Key facts callers rely on:
 *   - a batch is LGI_BATCH_OVERHEAD (12) + batch_length bytes;
 *   - baseOffset (bytes 0-7) and partitionLeaderEpoch (12-15) are outside
 *     the CRC, so the log stamps them after encoding without recomputing it;
 *   - the CRC-32C covers bytes 21 (attributes) to the end.
 */
#ifndef LG_BATCH_H
#define LG_BATCH_H

#include "buf.h"
#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

#define LGI_BATCH_HEADER_SIZE 61 /* through recordCount */
#define LGI_BATCH_OVERHEAD 12    /* baseOffset + batchLength */
#define LGI_BATCH_MAGIC 2
#define LGI_BATCH_CRC_START 21 /* first byte covered by the CRC */

/* attributes bits */
#define LGI_ATTR_CODEC_MASK 0x07
#define LGI_ATTR_LOG_APPEND_TIME 0x08
#define LGI_ATTR_TRANSACTIONAL 0x10
#define LGI_ATTR_CONTROL 0x20
#define LGI_ATTR_DELETE_HORIZON 0x40

/* The decoded 61-byte header, host byte order. */
typedef struct lgi_batch_header {
    int64_t base_offset;
    int32_t batch_length; /* bytes after this field */
    int32_t partition_leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp; /* Kafka: firstTimestamp */
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} lgi_batch_header_t;

/* Total on-disk size of the batch a header describes. */
static inline size_t lgi_batch_size(const lgi_batch_header_t *h) {
    return (size_t)h->batch_length + LGI_BATCH_OVERHEAD;
}
static inline int64_t lgi_batch_last_offset(const lgi_batch_header_t *h) {
    return h->base_offset + h->last_offset_delta;
}

/* Decodes the header at buf (len bytes available, at least
 * LGI_BATCH_HEADER_SIZE).  Checks magic == 2, batch_length in
 * [LGI_BATCH_HEADER_SIZE - 12, max_batch_size - 12], record_count >= 0 and
 * last_offset_delta >= 0.  Does not check the CRC.  LG_ERR_CORRUPT with a
 * message on failure; LG_ERR_INVALID_ARG if len < header size. */
lg_err_t lgi_batch_parse_header(const uint8_t *buf, size_t len,
                                size_t max_batch_size,
                                lgi_batch_header_t *header);

/* lgi_batch_parse_header plus: the whole batch fits in len and its CRC-32C
 * matches. */
lg_err_t lgi_batch_validate(const uint8_t *buf, size_t len,
                            size_t max_batch_size, lgi_batch_header_t *header);

/* Stamp fields outside the CRC in an encoded batch. */
void lgi_batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void lgi_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

/* Options for encoding; lgi_batch_options_init gives Kafka's "no producer"
 * values (producer_id -1, epoch -1, sequence -1), codec none. */
typedef struct lgi_batch_options {
    int codec;      /* LGI_CODEC_NONE or LGI_CODEC_ZSTD */
    int zstd_level; /* 0 = zstd default */
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int transactional;
    int log_append_time; /* stamp every record with now_ms */
    int64_t now_ms;      /* replaces LG_TIMESTAMP_NOW timestamps */
} lgi_batch_options_t;

void lgi_batch_options_init(lgi_batch_options_t *options);

/* Encodes records (see records.h) as one v2 batch appended to out, with
 * base offset 0 and leader epoch -1 (the log stamps both).  Computes the
 * CRC.  Empty lists are LG_ERR_INVALID_ARG. */
lg_err_t lgi_batch_encode(lgi_buf_t *out, const lg_records_t *records,
                          const lgi_batch_options_t *options);

/* Control records (transaction markers): type 0 = abort, 1 = commit. */
lg_err_t lgi_batch_encode_control(lgi_buf_t *out, int type,
                                  int32_t coordinator_epoch, int64_t now_ms,
                                  int64_t producer_id, int16_t producer_epoch);

/* One decoded record.  Pointers point into the records section the
 * iterator walks (which outlives the record). */
typedef struct lgi_record {
    int64_t offset;
    int64_t timestamp;
    const uint8_t *key; /* NULL when null */
    size_t key_len;
    const uint8_t *value; /* NULL when null */
    size_t value_len;
    int32_t header_count;
    const uint8_t *headers; /* raw header bytes, header_count entries */
    size_t headers_len;
} lgi_record_t;

/* Iterator over the records of one batch.  For a compressed batch the
 * records section is decompressed into scratch (which must outlive the
 * records read). */
typedef struct lgi_record_iter {
    lgi_batch_header_t header;
    const uint8_t *pos;
    const uint8_t *end;
    int32_t remaining;
    int32_t last_delta; /* offsetDelta of the previous record, -1 at start;
                           deltas must rise strictly */
} lgi_record_iter_t;

/* Decompressed records sections larger than this are refused by
 * lgi_record_iter_init (a decompression bomb gets LG_ERR_CORRUPT). */
#define LGI_BATCH_MAX_DECOMPRESSED ((size_t)64 << 20)

/* Starts iterating the validated batch at batch (length from header).
 * For a compressed batch scratch is emptied first and receives the
 * decompressed records section (at most LGI_BATCH_MAX_DECOMPRESSED bytes);
 * use a separate scratch per batch whose records must stay valid together.
 * scratch may be NULL for uncompressed batches.  LG_ERR_UNSUPPORTED for
 * gzip/snappy/lz4, LG_ERR_CORRUPT for a bad compressed stream. */
lg_err_t lgi_record_iter_init(lgi_record_iter_t *iter, const uint8_t *batch,
                              const lgi_batch_header_t *header,
                              lgi_buf_t *scratch);

/* lgi_record_iter_init with an explicit bound on the decompressed size. */
lg_err_t lgi_record_iter_init_limit(lgi_record_iter_t *iter,
                                    const uint8_t *batch,
                                    const lgi_batch_header_t *header,
                                    lgi_buf_t *scratch,
                                    size_t max_decompressed);

/* Decodes the next record into *record; returns LG_OK with *done = 1 after
 * the last.  LG_ERR_CORRUPT for a malformed record (length mismatch,
 * varint overflow, negative length other than -1, count mismatch). */
lg_err_t lgi_record_iter_next(lgi_record_iter_t *iter, lgi_record_t *record,
                              int *done);

/* The index-th header of record: name and value (value NULL when null). */
lg_err_t lgi_record_header(const lgi_record_t *record, size_t index,
                           const uint8_t **name, size_t *name_len,
                           const uint8_t **value, size_t *value_len);

#endif
