/*
 * test_conf.c -- configuration: defaults, parsing, range errors with
 * messages that name the property, get/dup, topic overlays, and the
 * documentation generated from the same table.
 */
#include "conf.h"
#include "alloc.h"
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *get(const lg_conf_t *conf, const char *name) {
    static char buf[128];
    size_t size = sizeof buf;
    ck_assert_int_eq(lg_conf_get(conf, name, buf, &size), LG_OK);
    return buf;
}

START_TEST(defaults_are_kafkas) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_ptr_nonnull(conf);
    ck_assert_str_eq(get(conf, "segment.bytes"), "1073741824");
    ck_assert_str_eq(get(conf, "segment.ms"), "604800000");
    ck_assert_str_eq(get(conf, "index.interval.bytes"), "4096");
    ck_assert_str_eq(get(conf, "segment.index.bytes"), "10485760");
    ck_assert_str_eq(get(conf, "max.message.bytes"), "1048588");
    ck_assert_str_eq(get(conf, "compression.type"), "producer");
    ck_assert_str_eq(get(conf, "message.timestamp.type"), "CreateTime");
    ck_assert_str_eq(get(conf, "io.backend"), "auto");
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(set_then_get_round_trips) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "1048576"), LG_OK);
    ck_assert_str_eq(lg_last_error_message(), "");
    ck_assert_str_eq(get(conf, "segment.bytes"), "1048576");
    ck_assert_int_eq(lg_conf_set(conf, "compression.type", "zstd"), LG_OK);
    ck_assert_str_eq(get(conf, "compression.type"), "zstd");
    ck_assert_int_eq(lg_conf_set(conf, "compression.type", "uncompressed"),
                     LG_OK);
    ck_assert_str_eq(get(conf, "compression.type"), "none");
    ck_assert_int_eq(lgi_conf_int(conf, LGI_CONF_SEGMENT_BYTES), 1048576);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(unknown_property_is_rejected_by_name) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.byte", "1"),
                     LG_ERR_UNKNOWN_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "segment.byte"));
    size_t size = 0;
    ck_assert_int_eq(lg_conf_get(conf, "nope", NULL, &size),
                     LG_ERR_UNKNOWN_CONFIG);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(out_of_range_value_names_property_and_range) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "3"),
                     LG_ERR_INVALID_CONFIG);
    const char *msg = lg_last_error_message();
    ck_assert_ptr_nonnull(strstr(msg, "segment.bytes"));
    ck_assert_ptr_nonnull(strstr(msg, "14 .. 2147483647"));
    ck_assert_ptr_nonnull(strstr(msg, "\"3\""));
    /* the conf is unchanged after a failed set */
    ck_assert_str_eq(get(conf, "segment.bytes"), "1073741824");
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(io_spin_is_an_engine_property_in_range) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_str_eq(get(conf, "io.spin.us"), "0");
    ck_assert_str_eq(get(conf, "poll.spin.us"), "0");
    ck_assert_int_eq(lg_conf_set(conf, "io.spin.us", "100001"),
                     LG_ERR_INVALID_CONFIG);
    const char *msg = lg_last_error_message();
    ck_assert_ptr_nonnull(strstr(msg, "io.spin.us"));
    ck_assert_ptr_nonnull(strstr(msg, "0 .. 100000"));
    ck_assert_int_eq(lg_conf_set(conf, "io.spin.us", "-1"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "io.spin.us", "250"), LG_OK);
    ck_assert_str_eq(get(conf, "io.spin.us"), "250");
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(unparsable_values_are_rejected) {
    lg_conf_t *conf = lg_conf_new();
    const char *bad[] = {"", "12x", " 12", "0x10", "1e3",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", bad[i]),
                         LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "compression.type", "gzip"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "producer, none, zstd"));
    ck_assert_int_eq(lg_conf_set(conf, "io.backend", "IO_URING"),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(null_arguments_are_invalid_not_crashes) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(NULL, "a", "b"), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_conf_set(conf, NULL, "b"), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", NULL),
                     LG_ERR_INVALID_ARG);
    size_t size = 8;
    ck_assert_int_eq(lg_conf_get(NULL, "segment.bytes", NULL, &size),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_conf_get(conf, "segment.bytes", NULL, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_ptr_null(lg_conf_dup(NULL));
    lg_conf_destroy(NULL);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(get_reports_needed_size_and_refuses_small_buffer) {
    lg_conf_t *conf = lg_conf_new();
    size_t size = 0;
    ck_assert_int_eq(lg_conf_get(conf, "segment.bytes", NULL, &size), LG_OK);
    ck_assert_uint_eq(size, strlen("1073741824") + 1);
    char small[4];
    size = sizeof small;
    ck_assert_int_eq(lg_conf_get(conf, "segment.bytes", small, &size),
                     LG_ERR_INVALID_ARG);
    ck_assert_uint_eq(size, 11);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(dup_is_independent) {
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "segment.ms", "1000");
    lg_conf_t *copy = lg_conf_dup(conf);
    ck_assert_ptr_nonnull(copy);
    lg_conf_set(conf, "segment.ms", "2000");
    ck_assert_str_eq(get(copy, "segment.ms"), "1000");
    lg_conf_destroy(conf);
    lg_conf_destroy(copy);
}
END_TEST

START_TEST(allocation_failure_returns_null) {
    lgi_alloc_fail_after(1, 0);
    ck_assert_ptr_null(lg_conf_new());
    lg_conf_t *conf = lg_conf_new();
    lgi_alloc_fail_after(1, 0);
    ck_assert_ptr_null(lg_conf_dup(conf));
    lgi_alloc_fail_after(0, 0);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(overlay_applies_only_explicit_topic_properties) {
    lg_conf_t *base = lg_conf_new();
    lg_conf_t *topic = lg_conf_new();
    lg_conf_set(base, "segment.bytes", "5000");
    lg_conf_set(base, "segment.ms", "7000");
    lg_conf_set(topic, "segment.ms", "9000");
    lgi_conf_overlay(base, topic);
    ck_assert_str_eq(get(base, "segment.bytes"), "5000");
    ck_assert_str_eq(get(base, "segment.ms"), "9000");
    ck_assert_int_eq(lgi_conf_check_scope(topic, LGI_SCOPE_TOPIC, "a topic"), LG_OK);
    lg_conf_set(topic, "io.backend", "syscall");
    ck_assert_int_eq(lgi_conf_check_scope(topic, LGI_SCOPE_TOPIC, "a topic"), LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "io.backend"));
    char *text;
    ck_assert_int_eq(lgi_conf_serialize_overrides(topic, &text), LG_OK);
    ck_assert_str_eq(text, "segment.ms=9000\n");
    lgi_free(text);
    lg_conf_destroy(base);
    lg_conf_destroy(topic);
}
END_TEST

/* The configuration reference is generated from the same table; a
 * property missing from it is a documentation bug this catches. */
START_TEST(every_property_is_documented) {
    size_t len;
    uint8_t *page = lgt_read_file("man/man7/liblog-conf.7", &len);
    if (!page)
        page = lgt_read_file("../man/man7/liblog-conf.7", &len);
    ck_assert_msg(page != NULL, "man/man7/liblog-conf.7 is missing");
    char *text = malloc(len + 1);
    memcpy(text, page, len);
    text[len] = '\0';
    for (int i = 0; i < LGI_CONF__COUNT; i++) {
        /* roff escapes '-' as '\-'; property names use only [a-z.] */
        ck_assert_msg(strstr(text, lgi_conf_name(i)) != NULL,
                      "%s is not documented in liblog-conf.7",
                      lgi_conf_name(i));
        ck_assert_ptr_nonnull(lgi_conf_doc(i));
    }
    free(text);
    free(page);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");
    tcase_add_test(tc, defaults_are_kafkas);
    tcase_add_test(tc, set_then_get_round_trips);
    tcase_add_test(tc, unknown_property_is_rejected_by_name);
    tcase_add_test(tc, out_of_range_value_names_property_and_range);
    tcase_add_test(tc, io_spin_is_an_engine_property_in_range);
    tcase_add_test(tc, unparsable_values_are_rejected);
    tcase_add_test(tc, null_arguments_are_invalid_not_crashes);
    tcase_add_test(tc, get_reports_needed_size_and_refuses_small_buffer);
    tcase_add_test(tc, dup_is_independent);
    tcase_add_test(tc, allocation_failure_returns_null);
    tcase_add_test(tc, overlay_applies_only_explicit_topic_properties);
    tcase_add_test(tc, every_property_is_documented);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
