/*
 * records.h -- lg_records_t, the caller-built list of records to append.
 *
 * Records are kept in one flat arena (keys, values, header bytes) plus an
 * array of fixed descriptors, so building a batch of thousands of records
 * costs a few reallocs, and the encoder reads them sequentially.
 */
#ifndef LG_RECORDS_H
#define LG_RECORDS_H

#include "buf.h"
#include "liblog.h"

typedef struct lgi_record_desc {
    int64_t timestamp;   /* LG_TIMESTAMP_NOW or ms */
    size_t key_off;      /* into arena */
    int64_t key_len;     /* -1 = null */
    size_t value_off;
    int64_t value_len;   /* -1 = null */
    size_t headers_off;  /* Kafka-encoded header entries, back to back */
    size_t headers_len;
    int32_t header_count;
} lgi_record_desc_t;

struct lg_records {
    lgi_record_desc_t *descs;
    size_t count;
    size_t cap;
    lgi_buf_t arena;
    size_t payload_bytes; /* sum of key, value and header bytes */
};

#endif
