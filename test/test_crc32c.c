/*
 * test_crc32c.c -- CRC-32C: published check values, chaining, and the
 * hardware path agreeing with the portable one on every length/alignment.
 */
#include "crc32c.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void fill(uint8_t *buf, size_t len, int value) { memset(buf, value, len); }

START_TEST(check_value_of_123456789_is_e3069283) {
    ck_assert_uint_eq(lgi_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(lgi_crc32c_portable(0, "123456789", 9), 0xE3069283u);
}
END_TEST

START_TEST(rfc3720_vectors_match) {
    uint8_t buf[32];
    fill(buf, 32, 0);
    ck_assert_uint_eq(lgi_crc32c(0, buf, 32), 0x8A9136AAu);
    ck_assert_uint_eq(lgi_crc32c_portable(0, buf, 32), 0x8A9136AAu);
    fill(buf, 32, 0xff);
    ck_assert_uint_eq(lgi_crc32c(0, buf, 32), 0x62A8AB43u);
    ck_assert_uint_eq(lgi_crc32c_portable(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    ck_assert_uint_eq(lgi_crc32c(0, buf, 32), 0x46DD794Eu);
    ck_assert_uint_eq(lgi_crc32c_portable(0, buf, 32), 0x46DD794Eu);
}
END_TEST

START_TEST(empty_input_returns_the_initial_crc) {
    ck_assert_uint_eq(lgi_crc32c(0, NULL, 0), 0);
    ck_assert_uint_eq(lgi_crc32c(0x1234, "", 0), 0x1234);
}
END_TEST

START_TEST(chained_calls_equal_one_call) {
    const char *text = "The quick brown fox jumps over the lazy dog";
    size_t len = strlen(text);
    uint32_t whole = lgi_crc32c(0, text, len);
    for (size_t split = 0; split <= len; split++) {
        uint32_t crc = lgi_crc32c(0, text, split);
        ck_assert_uint_eq(lgi_crc32c(crc, text + split, len - split), whole);
        crc = lgi_crc32c_portable(0, text, split);
        ck_assert_uint_eq(
            lgi_crc32c_portable(crc, text + split, len - split), whole);
    }
}
END_TEST

START_TEST(hardware_equals_portable_on_random_lengths_and_alignments) {
    enum { MAX = 4096 };
    uint8_t *buf = malloc(MAX + 64);
    srand(12345);
    for (size_t i = 0; i < MAX + 64; i++)
        buf[i] = (uint8_t)rand();
    for (int trial = 0; trial < 3000; trial++) {
        size_t align = (size_t)rand() % 16;
        size_t len = trial <= MAX / 4 ? (size_t)trial * 4 % (MAX + 1)
                                      : (size_t)rand() % (MAX + 1);
        uint32_t seed = trial & 1 ? (uint32_t)rand() : 0;
        ck_assert_uint_eq(lgi_crc32c(seed, buf + align, len),
                          lgi_crc32c_portable(seed, buf + align, len));
    }
    free(buf);
}
END_TEST

START_TEST(hardware_equals_portable_on_long_inputs) {
    /* Lengths around the three-stream block boundaries (3 x 256, 3 x 8192). */
    size_t lengths[] = {767, 768, 769, 24575, 24576, 24577, 49160, 100003};
    uint8_t *buf = malloc(100003 + 8);
    for (size_t i = 0; i < 100003 + 8; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        for (size_t align = 0; align < 8; align += 3)
            ck_assert_uint_eq(lgi_crc32c(0, buf + align, lengths[i]),
                              lgi_crc32c_portable(0, buf + align, lengths[i]));
    free(buf);
}
END_TEST

START_TEST(hardware_path_is_used_when_the_cpu_has_sse42) {
    int first = lgi_crc32c_hardware();
    ck_assert(first == 0 || first == 1);
#if defined(__x86_64__)
    __builtin_cpu_init();
    ck_assert_int_eq(first, __builtin_cpu_supports("sse4.2") ? 1 : 0);
#endif
    ck_assert_int_eq(lgi_crc32c_hardware(), first);
}
END_TEST

static Suite *crc32c_suite(void) {
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, check_value_of_123456789_is_e3069283);
    tcase_add_test(tc, rfc3720_vectors_match);
    tcase_add_test(tc, empty_input_returns_the_initial_crc);
    tcase_add_test(tc, chained_calls_equal_one_call);
    tcase_add_test(tc, hardware_equals_portable_on_random_lengths_and_alignments);
    tcase_add_test(tc, hardware_equals_portable_on_long_inputs);
    tcase_add_test(tc, hardware_path_is_used_when_the_cpu_has_sse42);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(crc32c_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
