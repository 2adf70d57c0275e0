/*
 * test_batch.c -- Kafka record batch v2: the encoder against bytes laid
 * out by hand from the Kafka spec, round trips, control batches, and a
 * decoder that rejects every malformation (and never reads out of bounds)
 * on flipped, truncated and randomly mutated input.
 */
#include "batch.h"

#include "alloc.h"
#include "batch_builder.h"
#include "compress.h"
#include "crc32c.h"
#include "records.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCH (1 << 24)

/* ---------------------------------------------------------------- helpers */

/* Explicit big-endian writers: the expected bytes are built without the
 * library's encoder. */
static uint8_t *be16(uint8_t *p, uint16_t v) {
    *p++ = (uint8_t)(v >> 8);
    *p++ = (uint8_t)v;
    return p;
}
static uint8_t *be32(uint8_t *p, uint32_t v) {
    p = be16(p, (uint16_t)(v >> 16));
    return be16(p, (uint16_t)v);
}
static uint8_t *be64(uint8_t *p, uint64_t v) {
    p = be32(p, (uint32_t)(v >> 32));
    return be32(p, (uint32_t)v);
}

typedef struct hand_header {
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp, max_timestamp, producer_id;
    int16_t producer_epoch;
    int32_t base_sequence, record_count;
} hand_header_t;

static hand_header_t plain_header(int32_t count, int64_t ts) {
    hand_header_t h = {0, count - 1, ts, ts, -1, -1, -1, count};
    return h;
}

/* A whole batch around records section `section`, base offset 0, leader
 * epoch -1, CRC computed over attributes..end; returns its size. */
static size_t hand_batch(uint8_t *out, const hand_header_t *h,
                         const uint8_t *section, size_t section_len) {
    uint8_t *p = out;
    p = be64(p, 0);
    p = be32(p, (uint32_t)(49 + section_len));
    p = be32(p, (uint32_t)-1);
    *p++ = 2;
    uint8_t *crc_at = p;
    p = be32(p, 0);
    p = be16(p, (uint16_t)h->attributes);
    p = be32(p, (uint32_t)h->last_offset_delta);
    p = be64(p, (uint64_t)h->base_timestamp);
    p = be64(p, (uint64_t)h->max_timestamp);
    p = be64(p, (uint64_t)h->producer_id);
    p = be16(p, (uint16_t)h->producer_epoch);
    p = be32(p, (uint32_t)h->base_sequence);
    p = be32(p, (uint32_t)h->record_count);
    memcpy(p, section, section_len);
    p += section_len;
    size_t size = (size_t)(p - out);
    be32(crc_at, lgi_crc32c(0, out + 21, size - 21));
    return size;
}

/* Recomputes the CRC of a batch after a test edits it on purpose. */
static void reseal(uint8_t *batch, size_t size) {
    be32(batch + 17, lgi_crc32c(0, batch + 21, size - 21));
}

/* Validates and walks every record; returns the first error or LG_OK. */
static lg_err_t decode_all(const uint8_t *buf, size_t len, int *count) {
    lgi_batch_header_t h;
    lg_err_t err = lgi_batch_validate(buf, len, MAX_BATCH, &h);
    if (err != LG_OK)
        return err;
    lgi_buf_t scratch = LGI_BUF_INIT;
    lgi_record_iter_t it;
    err = lgi_record_iter_init(&it, buf, &h, &scratch);
    int n = 0;
    while (err == LG_OK) {
        lgi_record_t r;
        int done;
        err = lgi_record_iter_next(&it, &r, &done);
        if (err != LG_OK || done)
            break;
        /* Touch every byte the record points at: ASan catches overreads. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < r.key_len; i++)
            sink ^= r.key[i];
        for (size_t i = 0; i < r.value_len; i++)
            sink ^= r.value[i];
        for (int32_t i = 0; i < r.header_count; i++) {
            const uint8_t *name, *value;
            size_t name_len, value_len;
            if (lgi_record_header(&r, (size_t)i, &name, &name_len, &value,
                                  &value_len) == LG_OK && name_len)
                sink ^= name[name_len - 1];
        }
        (void)sink;
        n++;
    }
    lgi_buf_free(&scratch);
    if (count)
        *count = n;
    return err;
}

static lg_records_t *three_records(void) {
    lg_records_t *r = lg_records_new();
    ck_assert_int_eq(lg_records_add(r, "k1", 2, "v1", 2, 2000), LG_OK);
    ck_assert_int_eq(lg_records_add(r, NULL, 0, "hello", 5, 1995), LG_OK);
    ck_assert_int_eq(lg_records_add_header(r, "h", 1, "x", 1), LG_OK);
    ck_assert_int_eq(lg_records_add_header(r, "n", 1, NULL, 0), LG_OK);
    ck_assert_int_eq(lg_records_add(r, "", 0, "", 0, 2010), LG_OK);
    return r;
}

/* The records section of three_records(), byte by byte from the spec. */
static const uint8_t three_section[] = {
    /* record 0: length 10 */
    0x14, 0x00, /* attributes */ 0x00, /* tsDelta 0 */ 0x00, /* offDelta 0 */
    0x04, 'k', '1', /* key len 2 */ 0x04, 'v', '1', /* value len 2 */
    0x00, /* no headers */
    /* record 1: length 18; tsDelta -5 (first record sets baseTimestamp) */
    0x24, 0x00, 0x09, 0x02, /* offDelta 1 */
    0x01, /* null key (-1) */ 0x0a, 'h', 'e', 'l', 'l', 'o', /* value 5 */
    0x04, /* 2 headers */ 0x02, 'h', 0x02, 'x', 0x02, 'n', 0x01, /* null */
    /* record 2: length 6; tsDelta 10, offDelta 2, empty key and value */
    0x0c, 0x00, 0x14, 0x04, 0x00, 0x00, 0x00,
};

/* ---------------------------------------------------------------- encoding */

START_TEST(encode_matches_hand_built_kafka_bytes) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);

    hand_header_t h = plain_header(3, 2000);
    h.max_timestamp = 2010; /* base = first record's, max = largest */
    uint8_t expected[256];
    size_t size = hand_batch(expected, &h, three_section, sizeof three_section);
    ck_assert_uint_eq(size, 61 + 37);
    ck_assert_uint_eq(out.len, size);
    ck_assert_mem_eq(out.data, expected, size);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(encode_appends_after_existing_bytes) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    size_t first = out.len;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    ck_assert_uint_eq(out.len, 2 * first);
    ck_assert_mem_eq(out.data, out.data + first, first);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(producer_fields_and_transactional_bit_are_written) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    o.producer_id = 0x0102030405060708LL;
    o.producer_epoch = 7;
    o.base_sequence = 42;
    o.transactional = 1;
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    hand_header_t h = plain_header(3, 2000);
    h.max_timestamp = 2010;
    h.attributes = LGI_ATTR_TRANSACTIONAL;
    h.producer_id = 0x0102030405060708LL;
    h.producer_epoch = 7;
    h.base_sequence = 42;
    uint8_t expected[256];
    size_t size = hand_batch(expected, &h, three_section, sizeof three_section);
    ck_assert_uint_eq(out.len, size);
    ck_assert_mem_eq(out.data, expected, size);
    lgi_batch_header_t parsed;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &parsed),
                     LG_OK);
    ck_assert(parsed.producer_id == 0x0102030405060708LL);
    ck_assert_int_eq(parsed.producer_epoch, 7);
    ck_assert_int_eq(parsed.base_sequence, 42);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(now_timestamps_take_now_ms) {
    lg_records_t *r = lg_records_new();
    lg_records_add(r, NULL, 0, "a", 1, LG_TIMESTAMP_NOW);
    lg_records_add(r, NULL, 0, "b", 1, 5000);
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    o.now_ms = 6000;
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_OK);
    ck_assert_int_eq(h.base_timestamp, 6000);
    ck_assert_int_eq(h.max_timestamp, 6000);
    lgi_record_iter_t it;
    lgi_record_t rec;
    int done;
    ck_assert_int_eq(lgi_record_iter_init(&it, out.data, &h, NULL), LG_OK);
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(rec.timestamp, 6000);
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(rec.timestamp, 5000);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(log_append_time_gives_every_record_max_timestamp) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    o.log_append_time = 1;
    o.now_ms = 99999;
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_OK);
    ck_assert(h.attributes & LGI_ATTR_LOG_APPEND_TIME);
    ck_assert_int_eq(h.max_timestamp, 99999);
    lgi_record_iter_t it;
    ck_assert_int_eq(lgi_record_iter_init(&it, out.data, &h, NULL), LG_OK);
    for (;;) {
        lgi_record_t rec;
        int done;
        ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
        if (done)
            break;
        ck_assert_int_eq(rec.timestamp, 99999);
    }
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(encode_rejects_bad_arguments) {
    lg_records_t *r = lg_records_new();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_ERR_INVALID_ARG);
    ck_assert_str_ne(lg_last_error_message(), "");
    lg_records_add(r, "k", 1, "v", 1, 1);
    ck_assert_int_eq(lgi_batch_encode(NULL, r, &o), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_batch_encode(&out, NULL, &o), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_batch_encode(&out, r, NULL), LG_ERR_INVALID_ARG);
    o.codec = LGI_CODEC_GZIP;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_ERR_UNSUPPORTED);
    ck_assert_uint_eq(out.len, 0);
    lgi_batch_options_init(&o);
    o.now_ms = -1; /* fine while no timestamp comes from it */
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    lgi_buf_reset(&out);
    o.log_append_time = 1;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_ERR_INVALID_ARG);
    ck_assert_uint_eq(out.len, 0);
    lgi_buf_free(&out); /* so the encoder must allocate again below */
    lgi_batch_options_init(&o);
    lgi_alloc_fail_after(1, 1);
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_ERR_NOMEM);
    o.codec = LGI_CODEC_ZSTD;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_ERR_NOMEM);
    lgi_alloc_fail_after(0, 0);
    ck_assert_uint_eq(out.len, 0);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

/* ---------------------------------------------------------------- round trip */

START_TEST(round_trip_keeps_null_empty_and_headers) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    lgi_batch_set_base_offset(out.data, 500);
    lgi_batch_set_leader_epoch(out.data, 3);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_OK);
    ck_assert_int_eq(h.base_offset, 500);
    ck_assert_int_eq(h.partition_leader_epoch, 3);
    ck_assert_int_eq(lgi_batch_last_offset(&h), 502);

    lgi_record_iter_t it;
    lgi_record_t rec;
    int done;
    ck_assert_int_eq(lgi_record_iter_init(&it, out.data, &h, NULL), LG_OK);
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(rec.offset, 500);
    ck_assert_int_eq(rec.timestamp, 2000);
    ck_assert_uint_eq(rec.key_len, 2);
    ck_assert_mem_eq(rec.key, "k1", 2);
    ck_assert_mem_eq(rec.value, "v1", 2);
    ck_assert_int_eq(rec.header_count, 0);

    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(rec.offset, 501);
    ck_assert_int_eq(rec.timestamp, 1995);
    ck_assert_ptr_null(rec.key);
    ck_assert_uint_eq(rec.key_len, 0);
    ck_assert_mem_eq(rec.value, "hello", 5);
    ck_assert_int_eq(rec.header_count, 2);
    const uint8_t *name, *value;
    size_t name_len, value_len;
    ck_assert_int_eq(lgi_record_header(&rec, 0, &name, &name_len, &value,
                                       &value_len), LG_OK);
    ck_assert_uint_eq(name_len, 1);
    ck_assert_mem_eq(name, "h", 1);
    ck_assert_uint_eq(value_len, 1);
    ck_assert_mem_eq(value, "x", 1);
    ck_assert_int_eq(lgi_record_header(&rec, 1, &name, &name_len, &value,
                                       &value_len), LG_OK);
    ck_assert_mem_eq(name, "n", 1);
    ck_assert_ptr_null(value);
    ck_assert_int_eq(lgi_record_header(&rec, 2, &name, &name_len, &value,
                                       &value_len), LG_ERR_INVALID_ARG);

    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(rec.offset, 502);
    ck_assert_ptr_nonnull(rec.key);
    ck_assert_uint_eq(rec.key_len, 0);
    ck_assert_ptr_nonnull(rec.value);
    ck_assert_uint_eq(rec.value_len, 0);
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(done, 1);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

static void thousand_records(int codec) {
    lg_records_t *r = lg_records_new();
    char key[32], value[64];
    for (int i = 0; i < 1000; i++) {
        int kl = snprintf(key, sizeof key, "key-%d", i);
        int vl = snprintf(value, sizeof value, "value number %d of many", i);
        ck_assert_int_eq(lg_records_add(r, key, (size_t)kl, value, (size_t)vl,
                                        1700000000000LL + i), LG_OK);
        if (i % 10 == 0)
            ck_assert_int_eq(lg_records_add_header(r, "i", 1, key,
                                                   (size_t)kl), LG_OK);
    }
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    o.codec = codec;
    lgi_buf_t out = LGI_BUF_INIT, scratch = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_OK);
    ck_assert_int_eq(h.attributes & LGI_ATTR_CODEC_MASK, codec);
    ck_assert_int_eq(h.record_count, 1000);
    ck_assert_int_eq(h.last_offset_delta, 999);
    ck_assert_int_eq(h.max_timestamp, 1700000000999LL);
    lgi_record_iter_t it;
    ck_assert_int_eq(lgi_record_iter_init(&it, out.data, &h, &scratch), LG_OK);
    for (int i = 0; i < 1000; i++) {
        lgi_record_t rec;
        int done;
        ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
        ck_assert_int_eq(done, 0);
        int kl = snprintf(key, sizeof key, "key-%d", i);
        int vl = snprintf(value, sizeof value, "value number %d of many", i);
        ck_assert_int_eq(rec.offset, i);
        ck_assert_int_eq(rec.timestamp, 1700000000000LL + i);
        ck_assert_uint_eq(rec.key_len, (size_t)kl);
        ck_assert_mem_eq(rec.key, key, (size_t)kl);
        ck_assert_uint_eq(rec.value_len, (size_t)vl);
        ck_assert_mem_eq(rec.value, value, (size_t)vl);
        ck_assert_int_eq(rec.header_count, i % 10 == 0 ? 1 : 0);
    }
    lgi_record_t rec;
    int done;
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(done, 1);
    lgi_buf_free(&out);
    lgi_buf_free(&scratch);
    lg_records_destroy(r);
}

START_TEST(round_trip_1000_records) { thousand_records(LGI_CODEC_NONE); }
END_TEST

START_TEST(zstd_round_trip_1000_records) { thousand_records(LGI_CODEC_ZSTD); }
END_TEST

START_TEST(zstd_batch_is_header_plus_compressed_plain_section) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    o.codec = LGI_CODEC_ZSTD;
    lgi_buf_t out = LGI_BUF_INIT, plain = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, r, &o), LG_OK);
    /* The compressed bytes after the 61-byte header decode, with plain
     * zstd, to exactly the uncompressed records section. */
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, out.data + 61,
                                    out.len - 61, 1 << 20, &plain), LG_OK);
    ck_assert_uint_eq(plain.len, sizeof three_section);
    ck_assert_mem_eq(plain.data, three_section, sizeof three_section);
    ck_assert_uint_eq(out.data[22], LGI_CODEC_ZSTD); /* attributes low byte */
    lgi_buf_free(&out);
    lgi_buf_free(&plain);
    lg_records_destroy(r);
}
END_TEST

START_TEST(decoder_reads_a_hand_compressed_zstd_batch) {
    lgi_buf_t packed = LGI_BUF_INIT, scratch = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 19, three_section,
                                  sizeof three_section, &packed), LG_OK);
    hand_header_t h = plain_header(3, 2000);
    h.max_timestamp = 2010;
    h.attributes = LGI_CODEC_ZSTD;
    uint8_t batch[512];
    size_t size = hand_batch(batch, &h, packed.data, packed.len);
    int count = 0;
    ck_assert_int_eq(decode_all(batch, size, &count), LG_OK);
    ck_assert_int_eq(count, 3);
    /* A tight decompression limit turns the same batch into a refusal. */
    lgi_batch_header_t parsed;
    lgi_record_iter_t it;
    ck_assert_int_eq(lgi_batch_validate(batch, size, MAX_BATCH, &parsed),
                     LG_OK);
    ck_assert_int_eq(lgi_record_iter_init_limit(&it, batch, &parsed, &scratch,
                                                10), LG_ERR_CORRUPT);
    ck_assert_int_eq(lgi_record_iter_init(&it, batch, &parsed, NULL),
                     LG_ERR_INVALID_ARG);
    lgi_buf_free(&packed);
    lgi_buf_free(&scratch);
}
END_TEST

START_TEST(gzip_batch_is_unsupported_not_misread) {
    hand_header_t h = plain_header(3, 2000);
    h.attributes = LGI_CODEC_GZIP;
    uint8_t batch[256];
    size_t size = hand_batch(batch, &h, three_section, sizeof three_section);
    ck_assert_int_eq(decode_all(batch, size, NULL), LG_ERR_UNSUPPORTED);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "gzip"), NULL);
}
END_TEST

/* ---------------------------------------------------------------- control */

START_TEST(control_batch_carries_an_end_transaction_marker) {
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode_control(&out, 1, 17, 123456, 77, 3),
                     LG_OK);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_OK);
    ck_assert_int_eq(h.attributes,
                     LGI_ATTR_CONTROL | LGI_ATTR_TRANSACTIONAL);
    ck_assert_int_eq(h.record_count, 1);
    ck_assert_int_eq(h.last_offset_delta, 0);
    ck_assert_int_eq(h.producer_id, 77);
    ck_assert_int_eq(h.producer_epoch, 3);
    ck_assert_int_eq(h.base_sequence, -1);
    ck_assert_int_eq(h.base_timestamp, 123456);
    ck_assert_int_eq(h.max_timestamp, 123456);
    lgi_record_iter_t it;
    lgi_record_t rec;
    int done;
    ck_assert_int_eq(lgi_record_iter_init(&it, out.data, &h, NULL), LG_OK);
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    const uint8_t key[] = {0, 0, 0, 1};            /* version 0, commit */
    const uint8_t value[] = {0, 0, 0, 0, 0, 17}; /* version 0, epoch 17 */
    ck_assert_uint_eq(rec.key_len, 4);
    ck_assert_mem_eq(rec.key, key, 4);
    ck_assert_uint_eq(rec.value_len, 6);
    ck_assert_mem_eq(rec.value, value, 6);
    ck_assert_int_eq(rec.header_count, 0);
    ck_assert_int_eq(lgi_record_iter_next(&it, &rec, &done), LG_OK);
    ck_assert_int_eq(done, 1);

    lgi_buf_reset(&out);
    ck_assert_int_eq(lgi_batch_encode_control(&out, 0, 0, 1, 5, 0), LG_OK);
    ck_assert_int_eq(decode_all(out.data, out.len, NULL), LG_OK);
    ck_assert_int_eq(lgi_batch_encode_control(&out, 2, 0, 1, 5, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_batch_encode_control(&out, 0, 0, -5, 5, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_batch_encode_control(NULL, 0, 0, 1, 5, 0),
                     LG_ERR_INVALID_ARG);
    lgi_buf_free(&out);
}
END_TEST

/* ---------------------------------------------------------------- header */

START_TEST(stamping_offset_and_epoch_keeps_the_crc_valid) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    lgi_batch_encode(&out, r, &o);
    lgi_batch_set_base_offset(out.data, INT64_MAX - 2);
    lgi_batch_set_leader_epoch(out.data, 12345);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_OK);
    ck_assert(h.base_offset == INT64_MAX - 2);
    ck_assert_int_eq(h.partition_leader_epoch, 12345);
    lgi_batch_set_base_offset(out.data, INT64_MAX - 1); /* last overflows */
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_ERR_CORRUPT);
    lgi_batch_set_base_offset(out.data, -1);
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, &h),
                     LG_ERR_CORRUPT);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(parse_header_rejects_bad_fields) {
    uint8_t batch[256];
    hand_header_t h = plain_header(3, 2000);
    size_t size = hand_batch(batch, &h, three_section, sizeof three_section);
    lgi_batch_header_t parsed;
    ck_assert_int_eq(lgi_batch_parse_header(batch, 60, MAX_BATCH, &parsed),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_batch_parse_header(NULL, 61, MAX_BATCH, &parsed),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_batch_parse_header(batch, size, size, &parsed), LG_OK);
    ck_assert_int_eq(lgi_batch_parse_header(batch, size, size - 1, &parsed),
                     LG_ERR_CORRUPT); /* over max_batch_size */

    uint8_t copy[256];
    memcpy(copy, batch, size);
    copy[16] = 1; /* magic */
    ck_assert_int_eq(lgi_batch_parse_header(copy, size, MAX_BATCH, &parsed),
                     LG_ERR_CORRUPT);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "magic"), NULL);
    memcpy(copy, batch, size);
    be32(copy + 8, 48); /* batchLength shorter than the header */
    ck_assert_int_eq(lgi_batch_parse_header(copy, size, MAX_BATCH, &parsed),
                     LG_ERR_CORRUPT);
    memcpy(copy, batch, size);
    be32(copy + 57, (uint32_t)-1); /* recordCount */
    ck_assert_int_eq(lgi_batch_parse_header(copy, size, MAX_BATCH, &parsed),
                     LG_ERR_CORRUPT);
    memcpy(copy, batch, size);
    be32(copy + 23, (uint32_t)-1); /* lastOffsetDelta */
    ck_assert_int_eq(lgi_batch_parse_header(copy, size, MAX_BATCH, &parsed),
                     LG_ERR_CORRUPT);
}
END_TEST

START_TEST(validate_reports_crc_mismatch_with_both_values) {
    uint8_t batch[256];
    hand_header_t h = plain_header(3, 2000);
    size_t size = hand_batch(batch, &h, three_section, sizeof three_section);
    batch[size - 1] ^= 1;
    ck_assert_int_eq(lgi_batch_validate(batch, size, MAX_BATCH, NULL),
                     LG_ERR_CORRUPT);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "CRC mismatch (stored 0x"),
                     NULL);
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "computed 0x"), NULL);
}
END_TEST

START_TEST(validate_detects_every_bit_flip_the_crc_or_length_covers) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    lgi_batch_encode(&out, r, &o);
    /* baseOffset (0-7) and partitionLeaderEpoch (12-15) are outside the CRC
     * by Kafka's design (the log stamps them); every other bit is covered
     * by the CRC, the magic check or the length check. */
    for (size_t byte = 8; byte < out.len; byte++) {
        if (byte >= 12 && byte < 16)
            continue;
        for (int bit = 0; bit < 8; bit++) {
            out.data[byte] ^= (uint8_t)(1 << bit);
            ck_assert_msg(lgi_batch_validate(out.data, out.len, MAX_BATCH,
                                             NULL) == LG_ERR_CORRUPT,
                          "flip of byte %zu bit %d not detected", byte, bit);
            out.data[byte] ^= (uint8_t)(1 << bit);
        }
    }
    ck_assert_int_eq(lgi_batch_validate(out.data, out.len, MAX_BATCH, NULL),
                     LG_OK);
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

START_TEST(truncated_batch_fails_at_every_length) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t out = LGI_BUF_INIT;
    lgi_batch_encode(&out, r, &o);
    for (size_t len = 0; len < out.len; len++) {
        /* An exact-size heap copy so ASan sees any read past len. */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, out.data, len);
        lg_err_t err = decode_all(copy, len, NULL);
        ck_assert_int_eq(err, len < 61 ? LG_ERR_INVALID_ARG : LG_ERR_CORRUPT);
        free(copy);
    }
    lgi_buf_free(&out);
    lg_records_destroy(r);
}
END_TEST

/* ---------------------------------------------------------------- iterator */

/* Builds a batch with header h around section and expects the walk to fail
 * with LG_ERR_CORRUPT (the CRC is valid, so the record decoder must catch
 * it). */
static void expect_corrupt_records(const hand_header_t *h,
                                   const uint8_t *section, size_t len,
                                   const char *why) {
    uint8_t batch[512];
    size_t size = hand_batch(batch, h, section, len);
    uint8_t *exact = malloc(size);
    memcpy(exact, batch, size);
    ck_assert_int_eq(decode_all(exact, size, NULL), LG_ERR_CORRUPT);
    ck_assert_msg(strstr(lg_last_error_message(), why) != NULL,
                  "expected \"%s\" in \"%s\"", why, lg_last_error_message());
    free(exact);
}

START_TEST(decode_rejects_record_count_mismatch) {
    hand_header_t more = plain_header(4, 2000); /* claims 4, holds 3 */
    more.last_offset_delta = 3;
    expect_corrupt_records(&more, three_section, sizeof three_section,
                           "before recordCount");
    hand_header_t fewer = plain_header(2, 2000); /* claims 2, holds 3 */
    fewer.last_offset_delta = 2;
    expect_corrupt_records(&fewer, three_section, sizeof three_section,
                           "follow the last record");
}
END_TEST

START_TEST(decode_rejects_record_length_not_matching_content) {
    uint8_t section[sizeof three_section];
    hand_header_t h = plain_header(3, 2000);
    memcpy(section, three_section, sizeof section);
    section[0] = 0x16; /* record 0 claims 11 bytes, holds 10 */
    expect_corrupt_records(&h, section, sizeof section, "does not match");
    memcpy(section, three_section, sizeof section);
    section[0] = 0x12; /* claims 9 */
    expect_corrupt_records(&h, section, sizeof section, "header count");
    memcpy(section, three_section, sizeof section);
    section[0] = 0x7e; /* claims 63: past the end */
    expect_corrupt_records(&h, section, sizeof section, "past the end");
    memcpy(section, three_section, sizeof section);
    section[0] = 0x01; /* -1 */
    expect_corrupt_records(&h, section, sizeof section, "past the end");
}
END_TEST

START_TEST(decode_rejects_varint_overflow) {
    hand_header_t h = plain_header(1, 0);
    h.last_offset_delta = 0;
    /* offsetDelta encoded in 6 bytes */
    const uint8_t section[] = {0x14, 0x00, 0x00, 0x80, 0x80, 0x80,
                               0x80, 0x80, 0x00, 0x01, 0x01, 0x00};
    expect_corrupt_records(&h, section, sizeof section, "offsetDelta varint");
    /* the record length itself is an overlong varint */
    const uint8_t bad_length[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_corrupt_records(&h, bad_length, sizeof bad_length,
                           "record length varint");
}
END_TEST

START_TEST(decode_rejects_lengths_below_minus_one_or_past_end) {
    hand_header_t h = plain_header(1, 0);
    /* key length -2 */
    const uint8_t key_minus_two[] = {0x0a, 0x00, 0x00, 0x00, 0x03,
                                     0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    expect_corrupt_records(&h, key_minus_two, 6, "key length");
    /* value length 5 with 1 byte left in the record */
    const uint8_t value_past_end[] = {0x0c, 0x00, 0x00, 0x00, 0x01,
                                      0x0a, 'a', 0x00};
    expect_corrupt_records(&h, value_past_end, sizeof value_past_end,
                           "value length");
    /* header key null (-1) is not allowed */
    const uint8_t null_header_key[] = {0x10, 0x00, 0x00, 0x00, 0x01,
                                       0x01, 0x02, 0x01, 0x01};
    expect_corrupt_records(&h, null_header_key, sizeof null_header_key,
                           "header key length");
    /* header count negative */
    const uint8_t negative_headers[] = {0x0c, 0x00, 0x00, 0x00,
                                        0x01, 0x01, 0x03};
    expect_corrupt_records(&h, negative_headers, sizeof negative_headers,
                           "header count");
    /* header count larger than the bytes could hold */
    const uint8_t many_headers[] = {0x0c, 0x00, 0x00, 0x00,
                                    0x01, 0x01, 0x7e};
    expect_corrupt_records(&h, many_headers, sizeof many_headers,
                           "header key length");
}
END_TEST

START_TEST(decode_rejects_offset_delta_beyond_last_offset_delta) {
    hand_header_t h = plain_header(3, 2000);
    h.last_offset_delta = 1; /* record 2 has offsetDelta 2 */
    expect_corrupt_records(&h, three_section, sizeof three_section,
                           "past lastOffsetDelta");
    uint8_t section[sizeof three_section];
    memcpy(section, three_section, sizeof section);
    section[14] = 0x00; /* record 1 offsetDelta 0: repeats record 0's */
    hand_header_t ok = plain_header(3, 2000);
    expect_corrupt_records(&ok, section, sizeof section, "not increasing");
}
END_TEST

START_TEST(decode_accepts_gaps_in_offset_deltas) {
    /* Compaction leaves holes: deltas 0, 1, 2 inside lastOffsetDelta 9. */
    hand_header_t h = plain_header(3, 2000);
    h.last_offset_delta = 9;
    uint8_t batch[256];
    size_t size = hand_batch(batch, &h, three_section, sizeof three_section);
    int count;
    ck_assert_int_eq(decode_all(batch, size, &count), LG_OK);
    ck_assert_int_eq(count, 3);
}
END_TEST

START_TEST(random_mutations_never_crash_the_decoder) {
    lg_records_t *r = three_records();
    lgi_batch_options_t o;
    lgi_batch_options_init(&o);
    lgi_buf_t plain = LGI_BUF_INIT, packed = LGI_BUF_INIT;
    lgi_batch_encode(&plain, r, &o);
    o.codec = LGI_CODEC_ZSTD;
    lgi_batch_encode(&packed, r, &o);
    srand(424242);
    int decoded = 0;
    for (int trial = 0; trial < 40000; trial++) {
        lgi_buf_t *source = trial & 1 ? &packed : &plain;
        size_t len = source->len;
        if (trial % 7 == 0)
            len = (size_t)rand() % (len + 1);
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, source->data, len);
        int mutations = 1 + rand() % 4;
        for (int m = 0; m < mutations && len; m++) {
            size_t at = (size_t)rand() % len;
            switch (rand() % 3) {
            case 0: copy[at] ^= (uint8_t)(1 << (rand() % 8)); break;
            case 1: copy[at] = (uint8_t)rand(); break;
            default: copy[at] = (uint8_t)(rand() & 1 ? 0xff : 0x00); break;
            }
        }
        /* Mostly reseal, so the mutation reaches the record decoder. */
        if (len >= 61 && trial % 4 != 0) {
            uint32_t length = ((uint32_t)copy[8] << 24) | (copy[9] << 16) |
                              (copy[10] << 8) | copy[11];
            if (length >= 49 && length + 12 <= len)
                reseal(copy, length + 12);
        }
        if (decode_all(copy, len, NULL) == LG_OK)
            decoded++;
        free(copy);
    }
    ck_assert_int_gt(decoded, 0); /* some mutations are harmless */
    lgi_buf_free(&plain);
    lgi_buf_free(&packed);
    lg_records_destroy(r);
}
END_TEST

START_TEST(iterator_rejects_null_arguments) {
    lgi_record_iter_t it;
    lgi_batch_header_t h = {0};
    lgi_record_t rec;
    int done;
    ck_assert_int_eq(lgi_record_iter_init(NULL, (const uint8_t *)"", &h, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_record_iter_init(&it, NULL, &h, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_record_iter_next(NULL, &rec, &done),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_record_header(NULL, 0, NULL, NULL, NULL, NULL),
                     LG_ERR_INVALID_ARG);
}
END_TEST

/* ---------------------------------------------------------------- builder */

/* The producer's incremental builder writes the bytes lgi_batch_encode
 * writes, for records whose body lengths sit on both sides of every varint
 * width the length prefix can take (64 and 8192 bytes, zig-zag), where
 * the builder's guess of the prefix width is wrong and it moves the body,
 * with keys and values null, empty and sized, and headers. */
START_TEST(builder_writes_the_bytes_the_encoder_writes) {
    static uint8_t payload[20000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    const size_t sizes[] = {0,  1,  20,   30,   40,   50,   55,   57,
                            60, 63, 64,   90,   100,  127,  128,  8150,
                            8160, 8170, 8180, 8191, 8192, 8200, 16383,
                            16384};
    size_t n = sizeof sizes / sizeof sizes[0];
    for (int with_headers = 0; with_headers < 2; with_headers++) {
        lg_records_t *records = lg_records_new();
        lgi_batch_builder_t builder = {0};
        ck_assert_int_eq(lgi_batch_builder_reset(&builder, 64), 0);
        for (size_t i = 0; i < n * 3; i++) {
            size_t size = sizes[i % n];
            int shape = (int)(i / n); /* 0: null key, 1: empty, 2: sized */
            const void *key = shape == 0 ? NULL : payload + 5;
            size_t key_len = shape == 2 ? 3 + i % 5 : 0;
            const void *value = size == 0 && shape == 0 ? NULL : payload;
            int64_t timestamp = 1700000000000LL + (int64_t)(i * 37 % 101);
            ck_assert_int_eq(lg_records_add(records, key, key_len, value,
                                            size, timestamp),
                             LG_OK);
            if (with_headers)
                ck_assert_int_eq(lg_records_add_header(records, "h", 1,
                                                       payload, i % 70),
                                 LG_OK);
            const lgi_record_desc_t *d = &records->descs[i];
            lgi_record_fields_t fields = {
                .timestamp = timestamp,
                .key = d->key_len >= 0 ? records->arena.data + d->key_off
                                       : NULL,
                .key_len = d->key_len,
                .value = d->value_len >= 0
                             ? records->arena.data + d->value_off
                             : NULL,
                .value_len = d->value_len,
                .header_count = d->header_count,
                .headers = records->arena.data + d->headers_off,
                .headers_len = d->headers_len,
            };
            ck_assert_int_eq(lgi_batch_builder_add(&builder, &fields), 0);
        }
        lgi_batch_options_t options;
        lgi_batch_options_init(&options);
        lgi_buf_t encoded = LGI_BUF_INIT;
        ck_assert_int_eq(lgi_batch_encode(&encoded, records, &options),
                         LG_OK);
        uint8_t *built;
        size_t built_len;
        ck_assert_int_eq(
            lgi_batch_builder_seal(&builder, &options, &built, &built_len),
            LG_OK);
        ck_assert_uint_eq(built_len, encoded.len);
        ck_assert(memcmp(built, encoded.data, built_len) == 0);
        lgi_free(built);
        lgi_buf_free(&encoded);
        lgi_batch_builder_free(&builder);
        lg_records_destroy(records);
    }
}
END_TEST

static Suite *batch_suite(void) {
    Suite *s = suite_create("batch");
    TCase *enc = tcase_create("encode");
    tcase_add_test(enc, encode_matches_hand_built_kafka_bytes);
    tcase_add_test(enc, encode_appends_after_existing_bytes);
    tcase_add_test(enc, producer_fields_and_transactional_bit_are_written);
    tcase_add_test(enc, now_timestamps_take_now_ms);
    tcase_add_test(enc, log_append_time_gives_every_record_max_timestamp);
    tcase_add_test(enc, encode_rejects_bad_arguments);
    tcase_add_test(enc, control_batch_carries_an_end_transaction_marker);
    tcase_add_test(enc, builder_writes_the_bytes_the_encoder_writes);
    suite_add_tcase(s, enc);

    TCase *rt = tcase_create("round trip");
    tcase_add_test(rt, round_trip_keeps_null_empty_and_headers);
    tcase_add_test(rt, round_trip_1000_records);
    tcase_add_test(rt, zstd_round_trip_1000_records);
    tcase_add_test(rt, zstd_batch_is_header_plus_compressed_plain_section);
    tcase_add_test(rt, decoder_reads_a_hand_compressed_zstd_batch);
    tcase_add_test(rt, gzip_batch_is_unsupported_not_misread);
    suite_add_tcase(s, rt);

    TCase *val = tcase_create("validate");
    tcase_add_test(val, stamping_offset_and_epoch_keeps_the_crc_valid);
    tcase_add_test(val, parse_header_rejects_bad_fields);
    tcase_add_test(val, validate_reports_crc_mismatch_with_both_values);
    tcase_add_test(val, validate_detects_every_bit_flip_the_crc_or_length_covers);
    tcase_add_test(val, truncated_batch_fails_at_every_length);
    suite_add_tcase(s, val);

    TCase *dec = tcase_create("decode");
    tcase_add_test(dec, decode_rejects_record_count_mismatch);
    tcase_add_test(dec, decode_rejects_record_length_not_matching_content);
    tcase_add_test(dec, decode_rejects_varint_overflow);
    tcase_add_test(dec, decode_rejects_lengths_below_minus_one_or_past_end);
    tcase_add_test(dec, decode_rejects_offset_delta_beyond_last_offset_delta);
    tcase_add_test(dec, decode_accepts_gaps_in_offset_deltas);
    tcase_add_test(dec, random_mutations_never_crash_the_decoder);
    tcase_add_test(dec, iterator_rejects_null_arguments);
    tcase_set_timeout(dec, 60);
    suite_add_tcase(s, dec);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(batch_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
