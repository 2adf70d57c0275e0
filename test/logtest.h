/*
 * logtest.h -- helpers shared by the log-layer suites (index, segment,
 * partition, recovery): encoded batches, default configs, an I/O engine,
 * segment file names.  Static so each suite stays one translation unit.
 */
#ifndef LG_LOGTEST_H
#define LG_LOGTEST_H

#include "alloc.h"
#include "batch.h"
#include "liblog.h"
#include "partition.h"
#include "testutil.h"
#include "uring.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An encoded batch of count records, keys "k<i>", values of value_size
 * bytes, timestamps first_timestamp + i.  lgi_malloc'd; *lenp its size. */
static inline uint8_t *lgt_batch(int count, int64_t first_timestamp,
                                 size_t value_size, size_t *lenp) {
    lg_records_t *records = lg_records_new();
    lgi_batch_options_t options;
    lgi_buf_t out = LGI_BUF_INIT;
    char key[32];
    char *value = calloc(1, value_size + 1);
    ck_assert_ptr_nonnull(records);
    for (int i = 0; i < count; i++) {
        int n = snprintf(key, sizeof(key), "k%d", i);
        memset(value, 'a' + (i % 26), value_size);
        ck_assert_int_eq(lg_records_add(records, key, (size_t)n, value,
                                        value_size, first_timestamp + i),
                         LG_OK);
    }
    lgi_batch_options_init(&options);
    options.now_ms = first_timestamp;
    ck_assert_int_eq(lgi_batch_encode(&out, records, &options), LG_OK);
    lg_records_destroy(records);
    free(value);
    *lenp = out.len;
    return out.data;
}

static inline void lgt_default_config(lgi_log_config_t *config) {
    config->segment_bytes = 1 << 20;
    config->segment_ms = 7LL * 24 * 3600 * 1000;
    config->index_interval_bytes = 4096;
    config->segment_index_bytes = 10 << 20;
    config->max_message_bytes = 1048588;
    config->preallocate_bytes = 0;
}

static inline lgi_io_t *lgt_io(void) {
    lgi_io_t *io = NULL;
    ck_assert_int_eq(lgi_io_open(LGI_IO_AUTO, 64, &io), LG_OK);
    return io;
}

/* "<dir>/<20-digit base><suffix>", malloc'd. */
static inline char *lgt_segment_file(const char *dir, int64_t base,
                                     const char *suffix) {
    char *path;
    if (asprintf(&path, "%s/%020" PRId64 "%s", dir, base, suffix) < 0)
        abort();
    return path;
}

/* Appends count batches of records_per_batch records; returns the base
 * offset of the first. */
static inline int64_t lgt_append_n(lgi_partition_t *partition, int count,
                                   int records_per_batch, size_t value_size,
                                   int64_t timestamp, int acks) {
    int64_t first = -1;
    for (int i = 0; i < count; i++) {
        size_t len;
        int64_t base;
        uint8_t *batch = lgt_batch(records_per_batch, timestamp, value_size,
                                   &len);
        ck_assert_int_eq(lgi_partition_append(partition, batch, len, acks,
                                              timestamp, &base),
                         LG_OK);
        if (first < 0)
            first = base;
    }
    return first;
}

/* Base offsets of the batches in a read result, into bases (max n);
 * returns how many. */
static inline size_t lgt_batch_bases(const uint8_t *data, size_t len,
                                     int64_t *bases, size_t n,
                                     int64_t *last_offsetp) {
    size_t count = 0, at = 0;
    while (at < len) {
        lgi_batch_header_t header;
        ck_assert_int_eq(lgi_batch_validate(data + at, len - at, INT32_MAX,
                                            &header),
                         LG_OK);
        if (count < n)
            bases[count] = header.base_offset;
        count++;
        if (last_offsetp)
            *last_offsetp = lgi_batch_last_offset(&header);
        at += lgi_batch_size(&header);
    }
    return count;
}

/* Called with each batch lgt_each_batch reads, validated. */
typedef void (*lgt_each_batch_fn)(void *opaque, const uint8_t *batch,
                             const lgi_batch_header_t *header);

/* Reads partition from offset from up to its high watermark (1 MiB a
 * read) and calls on_batch(opaque, batch, header) for every batch, in
 * offset order.  Stops early if a read returns nothing. */
static inline void lgt_each_batch(lgi_partition_t *partition, int64_t from,
                                  lgt_each_batch_fn on_batch, void *opaque) {
    int64_t offset = from, end;
    lgi_partition_watermarks(partition, NULL, &end);
    while (offset < end) {
        uint8_t *data;
        size_t len;
        ck_assert_int_eq(lgi_partition_read(partition, offset, 1 << 20,
                                            &data, &len),
                         LG_OK);
        if (!data)
            break;
        for (size_t at = 0; at < len;) {
            lgi_batch_header_t header;
            ck_assert_int_eq(lgi_batch_validate(data + at, len - at,
                                                INT32_MAX, &header),
                             LG_OK);
            on_batch(opaque, data + at, &header);
            offset = lgi_batch_last_offset(&header) + 1;
            at += lgi_batch_size(&header);
        }
        lgi_free(data);
    }
}

/* Called with each record lgt_each_record decodes. */
typedef void (*lgt_each_record_fn)(void *opaque, const lgi_record_t *record);

/* Decodes batch (validated into header) and calls on_record(opaque,
 * record) for each of its records, in order; record's key and value
 * point into batch or a scratch buffer valid for that call only. */
static inline void lgt_each_record(const uint8_t *batch,
                                   const lgi_batch_header_t *header,
                                   lgt_each_record_fn on_record, void *opaque) {
    lgi_record_iter_t iter;
    lgi_buf_t scratch = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_record_iter_init(&iter, batch, header, &scratch),
                     LG_OK);
    for (;;) {
        lgi_record_t record;
        int done;
        ck_assert_int_eq(lgi_record_iter_next(&iter, &record, &done), LG_OK);
        if (done)
            break;
        on_record(opaque, &record);
    }
    lgi_buf_free(&scratch);
}

/* Runs suite, returns the process exit status. */
static inline int lgt_run(Suite *suite) {
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}

#endif
