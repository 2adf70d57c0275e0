/*
 * test_topics.c -- topic administration: list, delete, add partitions and
 * per-topic configuration, persisted across reopen, with error paths.
 */
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static lg_engine_t *engine;

static void setup(void) {
    dir = lgt_tmpdir("topics");
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}

static void teardown(void) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lgt_rmrf(dir);
    free(dir);
}

static void reopen(void) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}

static void append_one(const char *topic, int32_t partition) {
    lg_records_t *records = lg_records_new();
    lg_records_add(records, "k", 1, "v", 1, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, topic, partition, records, 1, NULL),
                     LG_OK);
    lg_records_destroy(records);
}

static const char *config(const char *topic, const char *name, int *over) {
    static char buf[64];
    size_t size = sizeof buf;
    ck_assert_int_eq(lg_topic_config_get(engine, topic, name, buf, &size,
                                         over),
                     LG_OK);
    return buf;
}

START_TEST(list_returns_sorted_names) {
    lg_strings_t *names;
    ck_assert_int_eq(lg_topic_list(engine, &names), LG_OK);
    ck_assert_uint_eq(lg_strings_count(names), 0);
    lg_strings_destroy(names);
    ck_assert_int_eq(lg_topic_create(engine, "zeta", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "alpha", 2, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "mid", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_list(engine, &names), LG_OK);
    ck_assert_uint_eq(lg_strings_count(names), 3);
    ck_assert_str_eq(lg_strings_get(names, 0), "alpha");
    ck_assert_str_eq(lg_strings_get(names, 1), "mid");
    ck_assert_str_eq(lg_strings_get(names, 2), "zeta");
    ck_assert_ptr_null(lg_strings_get(names, 3));
    lg_strings_destroy(names);
    ck_assert_uint_eq(lg_strings_count(NULL), 0);
    ck_assert_ptr_null(lg_strings_get(NULL, 0));
    lg_strings_destroy(NULL);
    ck_assert_int_eq(lg_topic_list(NULL, &names), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_list(engine, NULL), LG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(delete_removes_topic_and_files_durably) {
    ck_assert_int_eq(lg_topic_create(engine, "doomed", 2, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "kept", 1, NULL), LG_OK);
    append_one("doomed", 1);
    append_one("kept", 0);
    ck_assert_int_eq(lg_topic_delete(engine, "doomed"), LG_OK);
    lg_records_t *records = lg_records_new();
    lg_records_add(records, "k", 1, "v", 1, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "doomed", 0, records, 1, NULL),
                     LG_ERR_UNKNOWN_TOPIC);
    lg_records_destroy(records);
    int32_t count;
    ck_assert_int_eq(lg_topic_partition_count(engine, "doomed", &count),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_topic_delete(engine, "doomed"), LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_topic_delete(engine, NULL), LG_ERR_INVALID_ARG);
    reopen(); /* the files go at latest when the engine closes */
    char *path = lgt_path(dir, "doomed-1");
    ck_assert_int_eq(access(path, F_OK), -1);
    free(path);
    ck_assert_int_eq(lg_topic_partition_count(engine, "doomed", &count),
                     LG_ERR_UNKNOWN_TOPIC);
    /* the other topic is intact, and the name can be reused, empty */
    int64_t high;
    ck_assert_int_eq(lg_watermarks(engine, "kept", 0, NULL, &high), LG_OK);
    ck_assert_int_eq(high, 1);
    ck_assert_int_eq(lg_topic_create(engine, "doomed", 2, NULL), LG_OK);
    ck_assert_int_eq(lg_watermarks(engine, "doomed", 1, NULL, &high), LG_OK);
    ck_assert_int_eq(high, 0);
}
END_TEST

START_TEST(recreate_right_after_delete_starts_empty) {
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(lg_topic_create(engine, "again", 2, NULL), LG_OK);
        int64_t high;
        ck_assert_int_eq(lg_watermarks(engine, "again", 0, NULL, &high),
                         LG_OK);
        ck_assert_int_eq(high, 0);
        append_one("again", 0);
        append_one("again", 1);
        ck_assert_int_eq(lg_topic_delete(engine, "again"), LG_OK);
    }
    ck_assert_int_eq(lg_topic_create(engine, "again", 1, NULL), LG_OK);
    append_one("again", 0);
    reopen();
    int64_t high;
    ck_assert_int_eq(lg_watermarks(engine, "again", 0, NULL, &high), LG_OK);
    ck_assert_int_eq(high, 1);
}
END_TEST

START_TEST(recreate_while_old_incarnation_is_in_use_is_refused) {
    ck_assert_int_eq(lg_topic_create(engine, "busy", 1, NULL), LG_OK);
    append_one("busy", 0);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &consumer), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "busy", 0,
                                        LG_OFFSET_BEGINNING),
                     LG_OK);
    ck_assert_int_eq(lg_topic_delete(engine, "busy"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "busy", 1, NULL),
                     LG_ERR_TOPIC_EXISTS);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "deletion"));
    lg_consumer_destroy(consumer);
    ck_assert_int_eq(lg_topic_create(engine, "busy", 1, NULL), LG_OK);
    int64_t high;
    ck_assert_int_eq(lg_watermarks(engine, "busy", 0, NULL, &high), LG_OK);
    ck_assert_int_eq(high, 0);
}
END_TEST

START_TEST(delete_releases_file_descriptors) {
    int before = lgt_open_fd_count();
    ck_assert_int_eq(lg_topic_create(engine, "fd", 4, NULL), LG_OK);
    for (int p = 0; p < 4; p++)
        append_one("fd", p);
    ck_assert(lgt_open_fd_count() > before);
    ck_assert_int_eq(lg_topic_delete(engine, "fd"), LG_OK);
    /* removal happens on the maintenance thread: give it a moment */
    for (int i = 0; i < 200 && lgt_open_fd_count() > before; i++)
        usleep(5000);
    ck_assert_int_eq(lgt_open_fd_count(), before);
}
END_TEST

START_TEST(interrupted_delete_is_finished_at_open) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    char *stale = lgt_path(dir, "old-0.0123-delete");
    char *cmd;
    ck_assert(asprintf(&cmd, "mkdir -p '%s' && touch '%s/x.log'", stale,
                       stale) > 0);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(access(stale, F_OK), -1);
    free(cmd);
    free(stale);
}
END_TEST

START_TEST(add_partitions_grows_only) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    append_one("t", 1);
    ck_assert_int_eq(lg_topic_add_partitions(engine, "t", 2),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_add_partitions(engine, "t", 1),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_add_partitions(engine, "t", 100001),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_add_partitions(engine, "nope", 5),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_topic_add_partitions(NULL, "t", 5),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_add_partitions(engine, "t", 5), LG_OK);
    append_one("t", 4);
    reopen();
    int32_t count;
    ck_assert_int_eq(lg_topic_partition_count(engine, "t", &count), LG_OK);
    ck_assert_int_eq(count, 5);
    int64_t high;
    lg_watermarks(engine, "t", 1, NULL, &high);
    ck_assert_int_eq(high, 1);
    lg_watermarks(engine, "t", 4, NULL, &high);
    ck_assert_int_eq(high, 1);
}
END_TEST

START_TEST(config_overrides_can_be_set_read_and_removed) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "100000"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, conf), LG_OK);
    lg_conf_destroy(conf);
    int over = -1;
    ck_assert_str_eq(config("t", "segment.bytes", &over), "100000");
    ck_assert_int_eq(over, 1);
    ck_assert_str_eq(config("t", "segment.ms", &over), "604800000");
    ck_assert_int_eq(over, 0);

    ck_assert_int_eq(lg_topic_config_set(engine, "t", "max.message.bytes",
                                         "100"),
                     LG_OK);
    lg_records_t *records = lg_records_new();
    char big[200] = {0};
    lg_records_add(records, NULL, 0, big, sizeof big, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL),
                     LG_ERR_RECORD_TOO_LARGE);
    reopen();
    ck_assert_str_eq(config("t", "max.message.bytes", &over), "100");
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL),
                     LG_ERR_RECORD_TOO_LARGE);
    /* NULL value: back to the default */
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "max.message.bytes",
                                         NULL),
                     LG_OK);
    ck_assert_str_eq(config("t", "max.message.bytes", &over), "1048588");
    ck_assert_int_eq(over, 0);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL), LG_OK);
    lg_records_destroy(records);
    reopen();
    ck_assert_str_eq(config("t", "max.message.bytes", &over), "1048588");
    ck_assert_str_eq(config("t", "segment.bytes", &over), "100000");
}
END_TEST

START_TEST(config_errors_name_the_problem) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "segment.bytes", "1"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "segment.bytes"));
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "no.such", "1"),
                     LG_ERR_UNKNOWN_CONFIG);
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "io.backend",
                                         "syscall"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "linger.ms", "1"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_topic_config_set(engine, "x", "segment.bytes",
                                         "100000"),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_topic_config_set(engine, "t", NULL, "1"),
                     LG_ERR_INVALID_ARG);
    char buf[8];
    size_t size = sizeof buf;
    ck_assert_int_eq(lg_topic_config_get(engine, "x", "segment.bytes", buf,
                                         &size, NULL),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_topic_config_get(engine, "t", "nope", buf, &size,
                                         NULL),
                     LG_ERR_UNKNOWN_CONFIG);
    ck_assert_int_eq(lg_topic_config_get(engine, "t", "segment.bytes", buf,
                                         NULL, NULL),
                     LG_ERR_INVALID_ARG);
    size = 2;
    ck_assert_int_eq(lg_topic_config_get(engine, "t", "segment.bytes", buf,
                                         &size, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_uint_eq(size, 11);
    /* a producer property in the engine's conf is rejected at open */
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "linger.ms", "3");
    lg_engine_t *other;
    char *sub = lgt_path(dir, "other");
    ck_assert_int_eq(lg_engine_open(sub, conf, &other), LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "linger.ms"));
    free(sub);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(engine_conf_sets_topic_defaults) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "segment.bytes", "200000");
    ck_assert_int_eq(lg_engine_open(dir, conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    int over = -1;
    ck_assert_str_eq(config("t", "segment.bytes", &over), "200000");
    ck_assert_int_eq(over, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("topics");
    TCase *tc = tcase_create("topics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, list_returns_sorted_names);
    tcase_add_test(tc, delete_removes_topic_and_files_durably);
    tcase_add_test(tc, recreate_right_after_delete_starts_empty);
    tcase_add_test(tc, recreate_while_old_incarnation_is_in_use_is_refused);
    tcase_add_test(tc, delete_releases_file_descriptors);
    tcase_add_test(tc, interrupted_delete_is_finished_at_open);
    tcase_add_test(tc, add_partitions_grows_only);
    tcase_add_test(tc, config_overrides_can_be_set_read_and_removed);
    tcase_add_test(tc, config_errors_name_the_problem);
    tcase_add_test(tc, engine_conf_sets_topic_defaults);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
