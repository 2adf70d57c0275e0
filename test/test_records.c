/*
 * test_records.c -- the public record list (lg_records_*), the fetch
 * cursor (lg_fetch_*) and the message accessors (lg_message_*), including
 * every error path a caller can reach with NULLs and bad lengths.
 */
#include "liblog.h"

#include "alloc.h"
#include "batch.h"
#include "compress.h"
#include "crc32c.h"
#include "fetch.h"
#include "records.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- records */

START_TEST(new_list_is_empty_and_null_is_harmless) {
    lg_records_t *r = lg_records_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(lg_records_count(r), 0);
    ck_assert_uint_eq(lg_records_count(NULL), 0);
    lg_records_clear(NULL);
    lg_records_destroy(NULL);
    lg_records_destroy(r);
}
END_TEST

START_TEST(add_copies_key_value_and_counts) {
    lg_records_t *r = lg_records_new();
    char key[] = "key", value[] = "value";
    ck_assert_int_eq(lg_records_add(r, key, 3, value, 5, 10), LG_OK);
    ck_assert_str_eq(lg_last_error_message(), "");
    key[0] = 'X'; /* borrowed for the call only */
    ck_assert_int_eq(lg_records_add(r, NULL, 0, NULL, 0, LG_TIMESTAMP_NOW),
                     LG_OK);
    ck_assert_int_eq(lg_records_add(r, "", 0, "", 0, 0), LG_OK);
    ck_assert_uint_eq(lg_records_count(r), 3);
    const lgi_record_desc_t *d = r->descs;
    ck_assert_int_eq(d[0].key_len, 3);
    ck_assert_mem_eq(r->arena.data + d[0].key_off, "key", 3);
    ck_assert_mem_eq(r->arena.data + d[0].value_off, "value", 5);
    ck_assert_int_eq(d[0].timestamp, 10);
    ck_assert_int_eq(d[1].key_len, -1);
    ck_assert_int_eq(d[1].value_len, -1);
    ck_assert(d[1].timestamp == LG_TIMESTAMP_NOW);
    ck_assert_int_eq(d[2].key_len, 0);
    ck_assert_int_eq(d[2].value_len, 0);
    ck_assert_uint_eq(r->payload_bytes, 8);
    lg_records_destroy(r);
}
END_TEST

START_TEST(add_rejects_bad_arguments_with_a_message) {
    lg_records_t *r = lg_records_new();
    ck_assert_int_eq(lg_records_add(NULL, "k", 1, "v", 1, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "records is NULL"), NULL);
    ck_assert_int_eq(lg_records_add(r, "k", 1, "v", 1, -5),
                     LG_ERR_INVALID_ARG);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "timestamp -5"), NULL);
    ck_assert_int_eq(lg_records_add(r, NULL, 4, "v", 1, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "key is NULL"), NULL);
    ck_assert_int_eq(lg_records_add(r, "k", 1, NULL, 2, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "value is NULL"), NULL);
    /* The length check happens before any byte is read. */
    ck_assert_int_eq(lg_records_add(r, "k", (size_t)INT32_MAX + 1, "v", 1, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_records_add(r, "k", 1, "v", SIZE_MAX, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_uint_eq(lg_records_count(r), 0);
    ck_assert_uint_eq(r->arena.len, 0);
    lg_records_destroy(r);
}
END_TEST

START_TEST(add_header_before_any_add_is_a_state_error) {
    lg_records_t *r = lg_records_new();
    ck_assert_int_eq(lg_records_add_header(r, "h", 1, "v", 1), LG_ERR_STATE);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "lg_records_add"), NULL);
    ck_assert_int_eq(lg_records_add_header(NULL, "h", 1, "v", 1),
                     LG_ERR_INVALID_ARG);
    lg_records_add(r, NULL, 0, "v", 1, 0);
    ck_assert_int_eq(lg_records_add_header(r, NULL, 3, "v", 1),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_records_add_header(r, "h", 1, NULL, 3),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_records_add_header(r, "h", (size_t)INT32_MAX + 1,
                                           NULL, 0), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(r->descs[0].header_count, 0);
    lg_records_clear(r);
    ck_assert_int_eq(lg_records_add_header(r, "h", 1, "v", 1), LG_ERR_STATE);
    lg_records_destroy(r);
}
END_TEST

START_TEST(headers_are_stored_kafka_encoded) {
    lg_records_t *r = lg_records_new();
    lg_records_add(r, "k", 1, "v", 1, 0);
    ck_assert_int_eq(lg_records_add_header(r, "ab", 2, "xyz", 3), LG_OK);
    ck_assert_int_eq(lg_records_add_header(r, "n", 1, NULL, 0), LG_OK);
    ck_assert_int_eq(lg_records_add_header(r, "", 0, "", 0), LG_OK);
    const lgi_record_desc_t *d = &r->descs[0];
    const uint8_t expected[] = {0x04, 'a', 'b', 0x06, 'x', 'y', 'z',
                                0x02, 'n', 0x01, 0x00, 0x00};
    ck_assert_int_eq(d->header_count, 3);
    ck_assert_uint_eq(d->headers_len, sizeof expected);
    ck_assert_mem_eq(r->arena.data + d->headers_off, expected,
                     sizeof expected);
    /* Headers attach to the newest record only. */
    lg_records_add(r, "k2", 2, "v2", 2, 0);
    lg_records_add_header(r, "z", 1, "1", 1);
    ck_assert_int_eq(r->descs[0].header_count, 3);
    ck_assert_int_eq(r->descs[1].header_count, 1);
    lg_records_destroy(r);
}
END_TEST

START_TEST(clear_empties_the_list_and_keeps_memory) {
    lg_records_t *r = lg_records_new();
    for (int i = 0; i < 100; i++)
        lg_records_add(r, "key", 3, "value", 5, i);
    size_t cap = r->arena.cap;
    lg_records_clear(r);
    ck_assert_uint_eq(lg_records_count(r), 0);
    ck_assert_uint_eq(r->arena.cap, cap);
    ck_assert_uint_eq(r->payload_bytes, 0);
    ck_assert_int_eq(lg_records_add(r, "a", 1, "b", 1, 1), LG_OK);
    ck_assert_uint_eq(lg_records_count(r), 1);
    lg_records_destroy(r);
}
END_TEST

START_TEST(out_of_memory_leaves_the_list_unchanged) {
    lgi_alloc_fail_after(1, 0);
    ck_assert_ptr_null(lg_records_new());
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "out of memory"), NULL);
    lg_records_t *r = lg_records_new();
    lgi_alloc_fail_after(1, 0); /* the descriptor array */
    ck_assert_int_eq(lg_records_add(r, "k", 1, "v", 1, 0), LG_ERR_NOMEM);
    ck_assert_uint_eq(lg_records_count(r), 0);
    lgi_alloc_fail_after(2, 0); /* the arena */
    ck_assert_int_eq(lg_records_add(r, "k", 1, "v", 1, 0), LG_ERR_NOMEM);
    ck_assert_uint_eq(lg_records_count(r), 0);
    ck_assert_uint_eq(r->arena.len, 0);
    ck_assert_int_eq(lg_records_add(r, "k", 1, "v", 1, 0), LG_OK);
    /* Grow the arena past its first 256 bytes so the header needs memory. */
    char big[300] = {0};
    lgi_alloc_fail_after(1, 0);
    ck_assert_int_eq(lg_records_add_header(r, "h", 1, big, sizeof big),
                     LG_ERR_NOMEM);
    ck_assert_int_eq(r->descs[0].header_count, 0);
    lgi_alloc_fail_after(0, 0);
    lg_records_destroy(r);
}
END_TEST

/* ---------------------------------------------------------------- fetch */

/* Appends one batch of n records with offsets base.., values "v<offset>"
 * and a header "o" = offset on every record. */
static void append_batch(lgi_buf_t *out, int64_t base, int n, int codec,
                         int log_append_time, int32_t epoch) {
    lg_records_t *r = lg_records_new();
    for (int i = 0; i < n; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "v%lld", (long long)(base + i));
        ck_assert_int_eq(lg_records_add(r, i % 2 ? NULL : "k", i % 2 ? 0 : 1,
                                        value, (size_t)len, 1000 + base + i),
                         LG_OK);
        ck_assert_int_eq(lg_records_add_header(r, "o", 1, value, (size_t)len),
                         LG_OK);
    }
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    o.codec = codec;
    o.log_append_time = log_append_time;
    o.now_ms = 777777;
    size_t start = out->len;
    ck_assert_int_eq(lgi_batch_encode(out, r, &o), LG_OK);
    lgi_batch_set_base_offset(out->data + start, base);
    lgi_batch_set_leader_epoch(out->data + start, epoch);
    lg_records_destroy(r);
}

static void append_control(lgi_buf_t *out, int64_t offset) {
    size_t start = out->len;
    ck_assert_int_eq(lgi_batch_encode_control(out, 1, 0, 5, 9, 0), LG_OK);
    lgi_batch_set_base_offset(out->data + start, offset);
}

/* Hands a copy of buf (from lgi_malloc) to a new fetch. */
static lg_fetch_t *fetch_of(const lgi_buf_t *buf, int64_t start) {
    uint8_t *data = lgi_malloc(buf->len ? buf->len : 1);
    memcpy(data, buf->data, buf->len);
    lg_fetch_t *fetch = NULL;
    ck_assert_int_eq(lgi_fetch_new(data, buf->len, start, 1 << 20, &fetch),
                     LG_OK);
    return fetch;
}

static void check_message(const lg_message_t *m, int64_t offset) {
    char expected[32];
    int len = snprintf(expected, sizeof expected, "v%lld", (long long)offset);
    ck_assert_int_eq(lg_message_offset(m), offset);
    size_t value_len = 99;
    const void *value = lg_message_value(m, &value_len);
    ck_assert_uint_eq(value_len, (size_t)len);
    ck_assert_mem_eq(value, expected, (size_t)len);
    ck_assert_uint_eq(lg_message_header_count(m), 1);
    const char *name;
    const void *header_value;
    size_t name_len, header_value_len;
    ck_assert_int_eq(lg_message_header(m, 0, &name, &name_len, &header_value,
                                       &header_value_len), LG_OK);
    ck_assert_uint_eq(name_len, 1);
    ck_assert_mem_eq(name, "o", 1);
    ck_assert_uint_eq(header_value_len, (size_t)len);
    ck_assert_mem_eq(header_value, expected, (size_t)len);
}

START_TEST(fetch_walks_batches_skipping_control_and_earlier_offsets) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_batch(&buf, 0, 3, LGI_CODEC_NONE, 0, 1);  /* 0..2 */
    append_control(&buf, 3);                         /* 3, skipped */
    append_batch(&buf, 4, 3, LGI_CODEC_ZSTD, 0, 5);  /* 4..6 */
    append_batch(&buf, 7, 2, LGI_CODEC_ZSTD, 1, 6);  /* 7..8 LogAppendTime */
    lg_fetch_t *fetch = fetch_of(&buf, 1);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 9);

    const int64_t expected[] = {1, 2, 4, 5, 6, 7, 8};
    const lg_message_t *seen[7];
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(lg_fetch_next(fetch, &seen[i]), LG_OK);
        ck_assert_ptr_nonnull(seen[i]);
        check_message(seen[i], expected[i]);
    }
    const lg_message_t *end = (const lg_message_t *)1;
    ck_assert_int_eq(lg_fetch_next(fetch, &end), LG_OK);
    ck_assert_ptr_null(end);
    ck_assert_int_eq(lg_fetch_next(fetch, &end), LG_OK);
    ck_assert_ptr_null(end);

    /* Every message, and what it points at, is still valid at the end,
     * including those of the first compressed batch. */
    for (int i = 0; i < 7; i++)
        check_message(seen[i], expected[i]);
    int type = -1;
    ck_assert_int_eq(lg_message_timestamp(seen[0], &type), 1001);
    ck_assert_int_eq(type, 0);
    ck_assert_int_eq(lg_message_leader_epoch(seen[0]), 1);
    ck_assert_int_eq(lg_message_timestamp(seen[2], &type), 1004);
    ck_assert_int_eq(lg_message_leader_epoch(seen[2]), 5);
    ck_assert_int_eq(lg_message_timestamp(seen[5], &type), 777777);
    ck_assert_int_eq(type, 1);
    ck_assert_int_eq(lg_message_timestamp(seen[6], NULL), 777777);
    size_t key_len = 99;
    ck_assert_ptr_null(lg_message_key(seen[0], &key_len)); /* offset 1: odd */
    ck_assert_uint_eq(key_len, 0);
    ck_assert_mem_eq(lg_message_key(seen[1], &key_len), "k", 1);
    ck_assert_uint_eq(key_len, 1);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

START_TEST(fetch_messages_stay_valid_across_many_chunks) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_batch(&buf, 100, 500, LGI_CODEC_ZSTD, 0, 0);
    append_batch(&buf, 600, 500, LGI_CODEC_NONE, 0, 0);
    append_batch(&buf, 1100, 300, LGI_CODEC_ZSTD, 0, 0);
    lg_fetch_t *fetch = fetch_of(&buf, 100);
    const lg_message_t **all = malloc(1300 * sizeof *all);
    for (int i = 0; i < 1300; i++) {
        ck_assert_int_eq(lg_fetch_next(fetch, &all[i]), LG_OK);
        ck_assert_ptr_nonnull(all[i]);
    }
    const lg_message_t *end;
    ck_assert_int_eq(lg_fetch_next(fetch, &end), LG_OK);
    ck_assert_ptr_null(end);
    for (int i = 0; i < 1300; i++)
        check_message(all[i], 100 + i);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 1400);
    free(all);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

START_TEST(fetch_skips_whole_batches_below_the_start_offset) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_batch(&buf, 0, 5, LGI_CODEC_ZSTD, 0, 0);
    append_batch(&buf, 5, 5, LGI_CODEC_NONE, 0, 0);
    lg_fetch_t *fetch = fetch_of(&buf, 8);
    const lg_message_t *m;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    check_message(m, 8);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    check_message(m, 9);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 10);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

START_TEST(empty_fetch_yields_null_and_the_requested_offset) {
    lg_fetch_t *fetch = NULL;
    ck_assert_int_eq(lgi_fetch_new(NULL, 0, 42, 1 << 20, &fetch), LG_OK);
    const lg_message_t *m = (const lg_message_t *)1;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 42);
    lg_fetch_destroy(fetch);

    /* Only a control batch: no messages, but the position moves past it. */
    lgi_buf_t buf = LGI_BUF_INIT;
    append_control(&buf, 42);
    fetch = fetch_of(&buf, 42);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 43);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

START_TEST(fetch_new_rejects_a_partial_batch_and_leaves_data_to_caller) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_batch(&buf, 0, 3, LGI_CODEC_NONE, 0, 0);
    lg_fetch_t *fetch = (lg_fetch_t *)1;
    ck_assert_int_eq(lgi_fetch_new(buf.data, buf.len - 1, 0, 1 << 20, &fetch),
                     LG_ERR_CORRUPT);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "position 0"), NULL);
    ck_assert_int_eq(lgi_fetch_new(buf.data, 30, 0, 1 << 20, &fetch),
                     LG_ERR_CORRUPT);
    ck_assert_int_eq(lgi_fetch_new(buf.data, buf.len, 0, 1 << 20, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_fetch_new(NULL, 10, 0, 1 << 20, &fetch),
                     LG_ERR_INVALID_ARG);
    lgi_buf_free(&buf); /* still ours: ASan would flag a double free */
}
END_TEST

/* Appends a batch of 3 records whose header claims a fourth the records
 * section does not hold, with its CRC kept valid: only decoding the
 * records finds it corrupt. */
static void append_overcounted_batch(lgi_buf_t *buf) {
    append_batch(buf, 0, 3, LGI_CODEC_NONE, 0, 0);
    buf->data[60] = 4;
    buf->data[26] = 3;
    uint32_t crc = lgi_crc32c(0, buf->data + 21, buf->len - 21);
    buf->data[17] = (uint8_t)(crc >> 24);
    buf->data[18] = (uint8_t)(crc >> 16);
    buf->data[19] = (uint8_t)(crc >> 8);
    buf->data[20] = (uint8_t)crc;
}

START_TEST(fetch_reports_a_corrupt_record_and_stays_failed) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_overcounted_batch(&buf);
    lg_fetch_t *fetch = fetch_of(&buf, 0);
    const lg_message_t *m;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
        check_message(m, i);
    }
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_ERR_CORRUPT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "recordCount"), NULL);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_ERR_CORRUPT);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

START_TEST(fetch_and_message_functions_handle_null) {
    const lg_message_t *m = (const lg_message_t *)1;
    ck_assert_int_eq(lg_fetch_next(NULL, &m), LG_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_str_ne(lg_last_error_message(), "");
    lg_fetch_t *fetch = NULL;
    ck_assert_int_eq(lgi_fetch_new(NULL, 0, 0, 1 << 20, &fetch), LG_OK);
    ck_assert_int_eq(lg_fetch_next(fetch, NULL), LG_ERR_INVALID_ARG);
    lg_fetch_destroy(fetch);
    lg_fetch_destroy(NULL);
    ck_assert_int_eq(lg_fetch_next_offset(NULL), -1);

    ck_assert_int_eq(lg_message_offset(NULL), -1);
    int type = 5;
    ck_assert_int_eq(lg_message_timestamp(NULL, &type), -1);
    ck_assert_int_eq(type, 0);
    size_t len = 5;
    ck_assert_ptr_null(lg_message_key(NULL, &len));
    ck_assert_uint_eq(len, 0);
    len = 5;
    ck_assert_ptr_null(lg_message_value(NULL, &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(lg_message_key(NULL, NULL));
    ck_assert_int_eq(lg_message_leader_epoch(NULL), -1);
    ck_assert_uint_eq(lg_message_header_count(NULL), 0);
    ck_assert_int_eq(lg_message_header(NULL, 0, NULL, NULL, NULL, NULL),
                     LG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(message_header_rejects_an_index_out_of_range) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_batch(&buf, 0, 1, LGI_CODEC_NONE, 0, 0);
    lg_fetch_t *fetch = fetch_of(&buf, 0);
    const lg_message_t *m;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_int_eq(lg_message_header(m, 1, NULL, NULL, NULL, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "out of range"), NULL);
    /* Output pointers are optional. */
    ck_assert_int_eq(lg_message_header(m, 0, NULL, NULL, NULL, NULL), LG_OK);
    ck_assert_str_eq(lg_last_error_message(), "");
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

START_TEST(fetch_out_of_memory_is_reported) {
    lgi_buf_t buf = LGI_BUF_INIT;
    append_batch(&buf, 0, 2, LGI_CODEC_NONE, 0, 0);
    uint8_t *data = lgi_malloc(buf.len);
    memcpy(data, buf.data, buf.len);
    lg_fetch_t *fetch = NULL;
    lgi_alloc_fail_after(1, 0);
    ck_assert_int_eq(lgi_fetch_new(data, buf.len, 0, 1 << 20, &fetch),
                     LG_ERR_NOMEM);
    ck_assert_int_eq(lgi_fetch_new(data, buf.len, 0, 1 << 20, &fetch), LG_OK);
    const lg_message_t *m;
    lgi_alloc_fail_after(1, 0); /* the first message chunk */
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_ERR_NOMEM);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_ERR_NOMEM); /* sticky */
    lg_fetch_destroy(fetch);
    lgi_buf_free(&buf);
}
END_TEST

/* A copy of buf from lgi_malloc, as a reader hands a fetch its data. */
static uint8_t *copy_of(const lgi_buf_t *buf) {
    uint8_t *data = lgi_malloc(buf->len ? buf->len : 1);
    memcpy(data, buf->data, buf->len);
    return data;
}

START_TEST(recycled_fetch_shows_only_the_records_it_was_reused_for) {
    /* A first life with everything a fetch can hold: a compressed batch
     * under LogAppendTime, enough records for several message chunks, a
     * label. */
    lgi_buf_t first = LGI_BUF_INIT;
    append_batch(&first, 0, 150, LGI_CODEC_ZSTD, 1, 3);
    append_batch(&first, 150, 50, LGI_CODEC_NONE, 0, 4);
    lg_fetch_t *fetch = fetch_of(&first, 0);
    ck_assert_int_eq(lgi_fetch_set_source(fetch, "first-topic", 2), LG_OK);
    const lg_message_t *m;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
        check_message(m, i);
    }
    lgi_fetch_recycle(fetch);

    /* The second life starts at offset 601, a record with a null key
     * created at 1601, in the message slot that held offset 0 (key "k",
     * LogAppendTime, epoch 3). */
    lgi_buf_t second = LGI_BUF_INIT;
    append_batch(&second, 600, 2, LGI_CODEC_NONE, 0, 7);
    ck_assert_int_eq(lgi_fetch_reuse(fetch, copy_of(&second), second.len, 601,
                                     1 << 20),
                     LG_OK);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 602);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    check_message(m, 601);
    size_t key_len = 99;
    ck_assert_ptr_null(lg_message_key(m, &key_len));
    ck_assert_uint_eq(key_len, 0);
    int type = -1;
    ck_assert_int_eq(lg_message_timestamp(m, &type), 1601);
    ck_assert_int_eq(type, 0);
    ck_assert_int_eq(lg_message_leader_epoch(m), 7);
    /* The label stays until it is set again. */
    ck_assert_str_eq(lg_message_topic(m), "first-topic");
    ck_assert_int_eq(lg_message_partition(m), 2);
    ck_assert_int_eq(lgi_fetch_set_source(fetch, "other", 0), LG_OK);
    const lg_message_t *end = (const lg_message_t *)1;
    ck_assert_int_eq(lg_fetch_next(fetch, &end), LG_OK);
    ck_assert_ptr_null(end);

    /* An empty read, then the same label again (kept, not copied). */
    lgi_fetch_recycle(fetch);
    ck_assert_int_eq(lgi_fetch_reuse(fetch, NULL, 0, 42, 1 << 20), LG_OK);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 42);
    ck_assert_int_eq(lg_fetch_next(fetch, &end), LG_OK);
    ck_assert_ptr_null(end);
    ck_assert_int_eq(lgi_fetch_set_source(fetch, "other", 1), LG_OK);
    lgi_fetch_recycle(fetch);
    ck_assert_int_eq(lgi_fetch_reuse(fetch, copy_of(&second), second.len, 600,
                                     1 << 20),
                     LG_OK);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    check_message(m, 600);
    ck_assert_str_eq(lg_message_topic(m), "other");
    ck_assert_int_eq(lg_message_partition(m), 1);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&first);
    lgi_buf_free(&second);
}
END_TEST

START_TEST(recycled_fetch_forgets_a_failure_and_refuses_bad_data) {
    lgi_buf_t bad = LGI_BUF_INIT;
    append_overcounted_batch(&bad);
    lg_fetch_t *fetch = fetch_of(&bad, 0);
    const lg_message_t *m;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_ERR_CORRUPT);
    lgi_fetch_recycle(fetch);

    /* A buffer that is not whole batches is refused as lgi_fetch_new
     * refuses it; the data stays the caller's and the fetch recycled. */
    lgi_buf_t good = LGI_BUF_INIT;
    append_batch(&good, 10, 2, LGI_CODEC_NONE, 0, 0);
    ck_assert_int_eq(lgi_fetch_reuse(fetch, good.data, good.len - 1, 10,
                                     1 << 20),
                     LG_ERR_CORRUPT);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "position 0"), NULL);
    ck_assert_int_eq(lgi_fetch_reuse(fetch, NULL, 10, 10, 1 << 20),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_fetch_reuse(NULL, NULL, 0, 10, 1 << 20),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_fetch_reuse(fetch, copy_of(&good), good.len, 10,
                                     1 << 20),
                     LG_OK);
    for (int i = 10; i < 12; i++) {
        ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
        check_message(m, i);
    }
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    lg_fetch_destroy(fetch);
    lgi_buf_free(&bad);
    lgi_buf_free(&good); /* still ours after the refusal */
}
END_TEST

static Suite *records_suite(void) {
    Suite *s = suite_create("records");
    TCase *rec = tcase_create("records");
    tcase_add_test(rec, new_list_is_empty_and_null_is_harmless);
    tcase_add_test(rec, add_copies_key_value_and_counts);
    tcase_add_test(rec, add_rejects_bad_arguments_with_a_message);
    tcase_add_test(rec, add_header_before_any_add_is_a_state_error);
    tcase_add_test(rec, headers_are_stored_kafka_encoded);
    tcase_add_test(rec, clear_empties_the_list_and_keeps_memory);
    tcase_add_test(rec, out_of_memory_leaves_the_list_unchanged);
    suite_add_tcase(s, rec);

    TCase *fe = tcase_create("fetch");
    tcase_add_test(fe, fetch_walks_batches_skipping_control_and_earlier_offsets);
    tcase_add_test(fe, fetch_messages_stay_valid_across_many_chunks);
    tcase_add_test(fe, fetch_skips_whole_batches_below_the_start_offset);
    tcase_add_test(fe, empty_fetch_yields_null_and_the_requested_offset);
    tcase_add_test(fe, fetch_new_rejects_a_partial_batch_and_leaves_data_to_caller);
    tcase_add_test(fe, fetch_reports_a_corrupt_record_and_stays_failed);
    tcase_add_test(fe, fetch_and_message_functions_handle_null);
    tcase_add_test(fe, message_header_rejects_an_index_out_of_range);
    tcase_add_test(fe, fetch_out_of_memory_is_reported);
    tcase_add_test(fe, recycled_fetch_shows_only_the_records_it_was_reused_for);
    tcase_add_test(fe, recycled_fetch_forgets_a_failure_and_refuses_bad_data);
    suite_add_tcase(s, fe);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(records_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
