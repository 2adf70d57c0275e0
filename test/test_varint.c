/*
 * test_varint.c -- zig-zag varints: Kafka's byte encodings, round trips at
 * the type limits, and rejection of truncated or overlong input.
 */
#include "varint.h"

#include <check.h>
#include <string.h>

START_TEST(encodes_small_values_as_kafka_does) {
    uint8_t out[LGI_VARLONG_MAX];
    struct { int32_t value; uint8_t bytes[5]; size_t len; } cases[] = {
        {0, {0x00}, 1},       {-1, {0x01}, 1},      {1, {0x02}, 1},
        {-2, {0x03}, 1},      {63, {0x7e}, 1},      {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2}, {300, {0xd8, 0x04}, 2},
        {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},
        {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = lgi_varint_write(out, cases[i].value);
        ck_assert_uint_eq(n, cases[i].len);
        ck_assert_uint_eq(lgi_varint_size(cases[i].value), cases[i].len);
        ck_assert_mem_eq(out, cases[i].bytes, n);
    }
}
END_TEST

START_TEST(varint_round_trips_across_the_range) {
    int32_t values[] = {0, 1, -1, 127, -128, 8191, -8192, 1 << 20,
                        -(1 << 27), INT32_MAX, INT32_MIN, INT32_MAX - 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t buf[LGI_VARINT_MAX];
        size_t n = lgi_varint_write(buf, values[i]);
        const uint8_t *pos = buf;
        int32_t got;
        ck_assert_int_eq(lgi_varint_read(&pos, buf + n, &got), 0);
        ck_assert_int_eq(got, values[i]);
        ck_assert_ptr_eq(pos, buf + n);
    }
}
END_TEST

START_TEST(varlong_round_trips_across_the_range) {
    int64_t values[] = {0, 1, -1, 1LL << 40, -(1LL << 50), INT64_MAX,
                        INT64_MIN, 1700000000000LL, -1700000000000LL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        uint8_t buf[LGI_VARLONG_MAX];
        size_t n = lgi_varlong_write(buf, values[i]);
        ck_assert_uint_eq(n, lgi_varlong_size(values[i]));
        const uint8_t *pos = buf;
        int64_t got;
        ck_assert_int_eq(lgi_varlong_read(&pos, buf + n, &got), 0);
        ck_assert(got == values[i]);
        ck_assert_ptr_eq(pos, buf + n);
    }
    uint8_t buf[LGI_VARLONG_MAX];
    ck_assert_uint_eq(lgi_varlong_write(buf, INT64_MIN), 10);
}
END_TEST

START_TEST(read_rejects_truncated_input) {
    uint8_t buf[LGI_VARLONG_MAX];
    size_t n = lgi_varlong_write(buf, INT64_MAX);
    for (size_t len = 0; len < n; len++) {
        const uint8_t *pos = buf;
        int64_t value;
        ck_assert_int_eq(lgi_varlong_read(&pos, buf + len, &value), -1);
    }
    n = lgi_varint_write(buf, INT32_MIN);
    for (size_t len = 0; len < n; len++) {
        const uint8_t *pos = buf;
        int32_t value;
        ck_assert_int_eq(lgi_varint_read(&pos, buf + len, &value), -1);
    }
}
END_TEST

START_TEST(varint_read_rejects_overlong_and_overflowing_encodings) {
    const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    const uint8_t wide[] = {0xff, 0xff, 0xff, 0xff, 0x1f}; /* 33 bits */
    int32_t value;
    const uint8_t *pos = six;
    ck_assert_int_eq(lgi_varint_read(&pos, six + sizeof six, &value), -1);
    pos = wide;
    ck_assert_int_eq(lgi_varint_read(&pos, wide + sizeof wide, &value), -1);
}
END_TEST

START_TEST(varlong_read_rejects_overlong_and_overflowing_encodings) {
    uint8_t eleven[11];
    memset(eleven, 0x80, 10);
    eleven[10] = 0;
    uint8_t wide[10];
    memset(wide, 0xff, 9);
    wide[9] = 0x02; /* 65 bits */
    int64_t value;
    const uint8_t *pos = eleven;
    ck_assert_int_eq(lgi_varlong_read(&pos, eleven + 11, &value), -1);
    pos = wide;
    ck_assert_int_eq(lgi_varlong_read(&pos, wide + 10, &value), -1);
}
END_TEST

START_TEST(read_accepts_non_minimal_but_valid_encodings) {
    /* 0 written in two bytes: Kafka's reader accepts it, so do we. */
    const uint8_t padded[] = {0x80, 0x00};
    const uint8_t *pos = padded;
    int32_t value = 99;
    ck_assert_int_eq(lgi_varint_read(&pos, padded + 2, &value), 0);
    ck_assert_int_eq(value, 0);
}
END_TEST

static Suite *varint_suite(void) {
    Suite *s = suite_create("varint");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, encodes_small_values_as_kafka_does);
    tcase_add_test(tc, varint_round_trips_across_the_range);
    tcase_add_test(tc, varlong_round_trips_across_the_range);
    tcase_add_test(tc, read_rejects_truncated_input);
    tcase_add_test(tc, varint_read_rejects_overlong_and_overflowing_encodings);
    tcase_add_test(tc, varlong_read_rejects_overlong_and_overflowing_encodings);
    tcase_add_test(tc, read_accepts_non_minimal_but_valid_encodings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(varint_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
