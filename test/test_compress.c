/*
 * test_compress.c -- zstd round trips, frames without a content size,
 * the decompression-bomb bound, corrupt input, and the codecs liblog
 * recognises but does not support.
 */
#include "compress.h"

#include "alloc.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static uint8_t *sample(size_t len) {
    uint8_t *data = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)("kafka log "[i % 10] + (i / 1000) % 3);
    return data;
}

START_TEST(zstd_round_trips) {
    size_t sizes[] = {0, 1, 100, 65536, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *data = sample(sizes[i]);
        lgi_buf_t packed = LGI_BUF_INIT, plain = LGI_BUF_INIT;
        ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 0, data, sizes[i],
                                      &packed), LG_OK);
        ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed.data,
                                        packed.len, sizes[i], &plain), LG_OK);
        ck_assert_uint_eq(plain.len, sizes[i]);
        if (sizes[i])
            ck_assert_mem_eq(plain.data, data, sizes[i]);
        lgi_buf_free(&packed);
        lgi_buf_free(&plain);
        free(data);
    }
}
END_TEST

START_TEST(compress_appends_after_existing_bytes) {
    lgi_buf_t out = LGI_BUF_INIT, plain = LGI_BUF_INIT;
    lgi_buf_append(&out, "HEAD", 4);
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 3, "hello", 5, &out), LG_OK);
    ck_assert_mem_eq(out.data, "HEAD", 4);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, out.data + 4, out.len - 4,
                                    100, &plain), LG_OK);
    ck_assert_uint_eq(plain.len, 5);
    ck_assert_mem_eq(plain.data, "hello", 5);
    lgi_buf_free(&out);
    lgi_buf_free(&plain);
}
END_TEST

START_TEST(decompresses_streamed_frames_without_content_size) {
    size_t len = 300000;
    uint8_t *data = sample(len);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(len);
    uint8_t *packed = malloc(cap);
    ZSTD_outBuffer out = {packed, cap, 0};
    /* Two frames back to back, each streamed (no content size stored). */
    for (int frame = 0; frame < 2; frame++) {
        ZSTD_inBuffer in = {data + frame * len / 2, len / 2, 0};
        ck_assert(!ZSTD_isError(ZSTD_compressStream2(cctx, &out, &in,
                                                     ZSTD_e_continue)));
        size_t left;
        do {
            left = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end);
            ck_assert(!ZSTD_isError(left));
        } while (left);
    }
    ZSTD_freeCCtx(cctx);
    ck_assert_uint_eq(ZSTD_getFrameContentSize(packed, out.pos),
                      ZSTD_CONTENTSIZE_UNKNOWN);
    lgi_buf_t plain = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed, out.pos, len,
                                    &plain), LG_OK);
    ck_assert_uint_eq(plain.len, len);
    ck_assert_mem_eq(plain.data, data, len);
    lgi_buf_free(&plain);
    free(packed);
    free(data);
}
END_TEST

START_TEST(decompress_refuses_output_beyond_max_out) {
    size_t len = 10 << 20;
    uint8_t *zeros = calloc(1, len);
    lgi_buf_t packed = LGI_BUF_INIT, plain = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 1, zeros, len, &packed),
                     LG_OK);
    ck_assert_uint_lt(packed.len, 4096); /* a bomb: tiny in, huge out */
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed.data, packed.len,
                                    len - 1, &plain), LG_ERR_CORRUPT);
    ck_assert_uint_eq(plain.len, 0);
    /* growth doubles, so capacity stays within twice the bound */
    ck_assert_uint_le(plain.cap, 2 * (len + 1));
    ck_assert_ptr_ne(strstr(lg_last_error_message(), "limit"), NULL);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed.data, packed.len,
                                    len, &plain), LG_OK);
    ck_assert_uint_eq(plain.len, len);
    lgi_buf_free(&packed);
    lgi_buf_free(&plain);
    free(zeros);
}
END_TEST

START_TEST(decompress_rejects_corrupt_and_truncated_frames) {
    uint8_t *data = sample(50000);
    lgi_buf_t packed = LGI_BUF_INIT, plain = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 0, data, 50000, &packed),
                     LG_OK);
    for (size_t cut = 0; cut < packed.len; cut += 1 + cut / 8) {
        ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed.data, cut,
                                        50000, &plain), LG_ERR_CORRUPT);
        ck_assert_uint_eq(plain.len, 0);
    }
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, "not zstd at all", 15,
                                    1000, &plain), LG_ERR_CORRUPT);
    /* Garbage after a complete frame is not silently ignored. */
    lgi_buf_append(&packed, "junk", 4);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed.data, packed.len,
                                    50000, &plain), LG_ERR_CORRUPT);
    lgi_buf_free(&packed);
    lgi_buf_free(&plain);
    free(data);
}
END_TEST

START_TEST(gzip_snappy_lz4_are_unsupported_with_a_message) {
    int codecs[] = {LGI_CODEC_GZIP, LGI_CODEC_SNAPPY, LGI_CODEC_LZ4, 7};
    const char *names[] = {"gzip", "snappy", "lz4", "unknown"};
    for (int i = 0; i < 4; i++) {
        lgi_buf_t out = LGI_BUF_INIT;
        ck_assert_int_eq(lgi_compress(codecs[i], 0, "x", 1, &out),
                         LG_ERR_UNSUPPORTED);
        ck_assert_ptr_ne(strstr(lg_last_error_message(), names[i]), NULL);
        ck_assert_int_eq(lgi_decompress(codecs[i], "x", 1, 10, &out),
                         LG_ERR_UNSUPPORTED);
        ck_assert_uint_eq(out.len, 0);
        lgi_buf_free(&out);
    }
}
END_TEST

START_TEST(codec_none_copies_within_the_bound) {
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_compress(LGI_CODEC_NONE, 0, "abc", 3, &out), LG_OK);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_NONE, "abc", 3, 3, &out), LG_OK);
    ck_assert_uint_eq(out.len, 6);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_NONE, "abc", 3, 2, &out),
                     LG_ERR_CORRUPT);
    lgi_buf_free(&out);
}
END_TEST

START_TEST(invalid_arguments_are_rejected) {
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 0, NULL, 5, &out),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 0, "x", 1, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 1000, "x", 1, &out),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, NULL, 5, 10, &out),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, "x", 0, 10, &out),
                     LG_ERR_CORRUPT);
}
END_TEST

START_TEST(out_of_memory_is_reported_and_leaves_output_unchanged) {
    uint8_t *data = sample(100000);
    lgi_buf_t packed = LGI_BUF_INIT, plain = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 0, data, 100000, &packed),
                     LG_OK);
    lgi_buf_t fresh = LGI_BUF_INIT;
    lgi_alloc_fail_after(1, 1);
    ck_assert_int_eq(lgi_compress(LGI_CODEC_ZSTD, 0, data, 100000, &fresh),
                     LG_ERR_NOMEM);
    ck_assert_int_eq(lgi_decompress(LGI_CODEC_ZSTD, packed.data, packed.len,
                                    100000, &plain), LG_ERR_NOMEM);
    lgi_alloc_fail_after(0, 0);
    ck_assert_uint_eq(plain.len, 0);
    lgi_buf_free(&packed);
    lgi_buf_free(&plain);
    free(data);
}
END_TEST

static Suite *compress_suite(void) {
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, zstd_round_trips);
    tcase_add_test(tc, compress_appends_after_existing_bytes);
    tcase_add_test(tc, decompresses_streamed_frames_without_content_size);
    tcase_add_test(tc, decompress_refuses_output_beyond_max_out);
    tcase_add_test(tc, decompress_rejects_corrupt_and_truncated_frames);
    tcase_add_test(tc, gzip_snappy_lz4_are_unsupported_with_a_message);
    tcase_add_test(tc, codec_none_copies_within_the_bound);
    tcase_add_test(tc, invalid_arguments_are_rejected);
    tcase_add_test(tc, out_of_memory_is_reported_and_leaves_output_unchanged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(compress_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
