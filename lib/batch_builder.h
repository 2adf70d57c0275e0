/*
 * batch_builder.h -- building a record batch v2 one record at a time.
 *
 * lgi_batch_encode (batch.c) encodes a finished lg_records_t; the producer
 * instead encodes each record the moment lg_produce hands it over, straight
 * into the records section of its partition's open batch, so a record is
 * copied once (key and value memcpy'd next to their varints) and the batch
 * is ready to seal when it fills.  The byte layout is the one documented
 * atop batch.c; this builder writes the same bytes lgi_batch_encode would
 * for the same records.
 *
 * Invariants: buf holds LGI_BATCH_HEADER_SIZE reserved bytes followed by
 * count encoded records; the header is written only by lgi_batch_builder_seal,
 * into the copy it returns, so a builder can be sealed again (retries).
 */
#ifndef LG_BATCH_BUILDER_H
#define LG_BATCH_BUILDER_H

#include "batch.h"
#include "varint.h"
#include "buf.h"

typedef struct lgi_batch_builder {
    lgi_buf_t buf;
    int32_t count;
    int64_t base_timestamp; /* timestamp of the first record */
    int64_t max_timestamp;
} lgi_batch_builder_t;

/* One record's fields; key_len/value_len -1 mean null.  headers are
 * header_count Kafka-encoded entries, headers_len bytes (records.h
 * layout). */
typedef struct lgi_record_fields {
    int64_t timestamp; /* ms, already resolved (no LG_TIMESTAMP_NOW) */
    const void *key;
    int64_t key_len;
    const void *value;
    int64_t value_len;
    int32_t header_count;
    const void *headers;
    size_t headers_len;
} lgi_record_fields_t;

/* Empties builder and reserves room for capacity bytes of records after
 * the header; 0 or -1 (out of memory). */
int lgi_batch_builder_reset(lgi_batch_builder_t *builder, size_t capacity);

/* Frees the builder's memory. */
void lgi_batch_builder_free(lgi_batch_builder_t *builder);

/* Bytes record would take at offsetDelta offset_delta with timestamp
 * delta ts_delta, its length varint included. */
size_t lgi_batch_record_size(const lgi_record_fields_t *record,
                             int32_t offset_delta, int64_t ts_delta);

/* How much lgi_batch_record_size_bound can exceed the real size: every
 * varint is at least one byte. */
#define LGI_RECORD_BOUND_SLACK \
    (LGI_VARINT_MAX - 1 + LGI_VARLONG_MAX - 1 + (LGI_VARINT_MAX - 1) * 4)

/* An upper bound of lgi_batch_record_size for any offset and timestamp
 * delta: every varint at its widest.  Costs two additions, so the
 * producer's per-record checks (does it fit the open batch, what does it
 * charge against buffer.memory) use it instead of the exact size. */
static inline size_t lgi_batch_record_size_bound(
    const lgi_record_fields_t *record) {
    return LGI_VARINT_MAX /* length */ + 1 /* attributes */ +
           LGI_VARLONG_MAX /* timestamp delta */ + LGI_VARINT_MAX * 4 +
           (record->key_len > 0 ? (size_t)record->key_len : 0) +
           (record->value_len > 0 ? (size_t)record->value_len : 0) +
           record->headers_len;
}

/* Total batch size (header included) once the next record is added. */
static inline size_t lgi_batch_builder_size(const lgi_batch_builder_t *b) {
    return b->buf.len;
}

/* Appends record; 0, or -1 when memory for it cannot be had. */
int lgi_batch_builder_add(lgi_batch_builder_t *builder,
                          const lgi_record_fields_t *record);

/* Seals the records so far into a new lgi_malloc'd batch (header written,
 * records section compressed when options->codec says so, CRC-32C
 * computed), returned in *batchp / *lenp; ownership passes to the caller.
 * options->log_append_time stamps maxTimestamp with options->now_ms and
 * sets the timestamp-type bit, as lgi_batch_encode.  The builder is left
 * unchanged.  LG_ERR_INVALID_ARG for an empty builder, LG_ERR_NOMEM,
 * LG_ERR_RECORD_TOO_LARGE past Kafka's 2 GiB batch limit. */
lg_err_t lgi_batch_builder_seal(const lgi_batch_builder_t *builder,
                                const lgi_batch_options_t *options,
                                uint8_t **batchp, size_t *lenp);

#endif
