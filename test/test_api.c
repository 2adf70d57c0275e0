/*
 * test_api.c -- the public API end to end: engines, topics, appends and
 * reads through liblog.h, including every documented error path.
 */
#include "alloc.h"
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static lg_engine_t *engine;

static void setup(void) {
    dir = lgt_tmpdir("api");
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}

static void teardown(void) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = NULL;
    lgt_rmrf(dir);
    free(dir);
}

static void reopen(void) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}

/* Appends n records "key-<i>"/"value-<i>" one batch each. */
static void append_n(const char *topic, int32_t partition, int n, int acks) {
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < n; i++) {
        char key[32], value[32];
        int klen = snprintf(key, sizeof key, "key-%d", i);
        int vlen = snprintf(value, sizeof value, "value-%d", i);
        lg_records_clear(records);
        ck_assert_int_eq(lg_records_add(records, key, (size_t)klen, value,
                                        (size_t)vlen, 1000 + i),
                         LG_OK);
        ck_assert_int_eq(lg_append(engine, topic, partition, records, acks,
                                   NULL),
                         LG_OK);
    }
    lg_records_destroy(records);
}

/* Reads everything from offset and checks values follow append_n's. */
static int64_t read_all_check(const char *topic, int32_t partition,
                              int64_t offset) {
    int64_t count = 0;
    for (;;) {
        lg_fetch_t *fetch;
        ck_assert_int_eq(lg_read(engine, topic, partition, offset, 65536,
                                 &fetch),
                         LG_OK);
        const lg_message_t *m;
        int got = 0;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            ck_assert_int_eq(lg_message_offset(m), offset);
            char expect[32];
            int elen = snprintf(expect, sizeof expect, "value-%lld",
                                (long long)offset);
            size_t vlen;
            const void *value = lg_message_value(m, &vlen);
            ck_assert_uint_eq(vlen, (size_t)elen);
            ck_assert(memcmp(value, expect, vlen) == 0);
            offset++;
            count++;
            got = 1;
        }
        lg_fetch_destroy(fetch);
        if (!got)
            break;
    }
    return count;
}

START_TEST(version_is_consistent) {
    ck_assert_str_eq(lg_version(), LIBLOG_VERSION_STRING);
    ck_assert_int_eq(lg_version_number(), LIBLOG_VERSION_NUMBER);
    ck_assert_int_eq(lg_version_number() >> 16, LIBLOG_VERSION_MAJOR);
}
END_TEST

START_TEST(every_error_code_has_name_and_text) {
    for (int code = 0; code < LG_ERR__COUNT; code++) {
        ck_assert_str_ne(lg_strerror((lg_err_t)code), "unknown error");
        ck_assert_str_ne(lg_err_name((lg_err_t)code), "LG_ERR_UNKNOWN");
    }
    ck_assert_str_eq(lg_err_name(LG_ERR_CORRUPT), "LG_ERR_CORRUPT");
    ck_assert_str_eq(lg_strerror((lg_err_t)9999), "unknown error");
    ck_assert_str_eq(lg_err_name((lg_err_t)-1), "LG_ERR_UNKNOWN");
}
END_TEST

START_TEST(open_rejects_bad_arguments) {
    lg_engine_t *e = (lg_engine_t *)1;
    ck_assert_int_eq(lg_engine_open(NULL, NULL, &e), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_engine_open("", NULL, &e), LG_ERR_INVALID_ARG);
    ck_assert_ptr_null(e);
    ck_assert_int_eq(lg_engine_open("/tmp", NULL, NULL), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_engine_close(NULL), LG_OK);
}
END_TEST

START_TEST(open_on_a_regular_file_fails_cleanly) {
    char *tmp = lgt_tmpdir("file");
    char *file = lgt_path(tmp, "plain");
    ck_assert_int_eq(lgt_write_file(file, "x", 1), 0);
    lg_engine_t *e;
    ck_assert_int_eq(lg_engine_open(file, NULL, &e), LG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "plain"));
    lgt_rmrf(tmp);
    free(file);
    free(tmp);
}
END_TEST

START_TEST(second_open_of_a_directory_is_locked) {
    lg_engine_t *second = NULL;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &second), LG_ERR_LOCKED);
    ck_assert_ptr_null(second);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), dir));
    /* and in another process */
    pid_t pid = fork();
    if (pid == 0) {
        lg_engine_t *child;
        _exit(lg_engine_open(dir, NULL, &child) == LG_ERR_LOCKED ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(data_directory_is_private) {
    char *sub = lgt_path(dir, "nested/deeper");
    lg_engine_t *e;
    ck_assert_int_eq(lg_engine_open(sub, NULL, &e), LG_OK);
    ck_assert_int_eq(lg_topic_create(e, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_close(e), LG_OK);
    char *cmd;
    ck_assert(asprintf(&cmd, "test \"$(stat -c %%a '%s')\" = 700", sub) > 0);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(sub);
}
END_TEST

START_TEST(io_backend_follows_environment) {
    const char *want = getenv("LIBLOG_IO_BACKEND");
    const char *got = lg_engine_io_backend(engine);
    if (want && strcmp(want, "syscall") == 0)
        ck_assert_str_eq(got, "syscall");
    else if (want && strcmp(want, "io_uring") == 0)
        ck_assert_str_eq(got, "io_uring");
    else
        ck_assert(strcmp(got, "io_uring") == 0 || strcmp(got, "syscall") == 0);
    ck_assert_str_eq(lg_engine_io_backend(NULL), "none");
}
END_TEST

START_TEST(topic_names_follow_kafka_rules) {
    char long_name[251];
    memset(long_name, 'a', 250);
    long_name[250] = '\0';
    const char *bad[] = {"", ".", "..", "a/b", "../etc", "/abs", "a b",
                         "tab\t", "ünicode", long_name};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(lg_topic_create(engine, bad[i], 1, NULL) ==
                          LG_ERR_INVALID_TOPIC,
                      "accepted bad name \"%s\"", bad[i]);
    long_name[249] = '\0';
    ck_assert_int_eq(lg_topic_create(engine, long_name, 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "ok.name_-9", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, NULL, 1, NULL),
                     LG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(topic_create_rejects_duplicates_and_bad_counts) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 3, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 3, NULL),
                     LG_ERR_TOPIC_EXISTS);
    ck_assert_int_eq(lg_topic_create(engine, "u", 0, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_create(engine, "u", -1, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_create(engine, "u", 100001, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_create(NULL, "u", 1, NULL), LG_ERR_INVALID_ARG);
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "io.backend", "syscall");
    ck_assert_int_eq(lg_topic_create(engine, "u", 1, conf),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);
    int32_t count = 0;
    ck_assert_int_eq(lg_topic_partition_count(engine, "t", &count), LG_OK);
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(lg_topic_partition_count(engine, "u", &count),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_topic_partition_count(engine, NULL, &count),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_topic_partition_count(engine, "t", NULL),
                     LG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(topics_and_overrides_survive_reopen) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "max.message.bytes", "200"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "small", 2, conf), LG_OK);
    lg_conf_destroy(conf);
    append_n("small", 1, 5, LG_ACKS_LEADER);
    reopen();
    int32_t count;
    ck_assert_int_eq(lg_topic_partition_count(engine, "small", &count), LG_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(read_all_check("small", 1, 0), 5);
    /* the override still applies */
    lg_records_t *records = lg_records_new();
    char big[300] = {0};
    lg_records_add(records, NULL, 0, big, sizeof big, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "small", 0, records, 1, NULL),
                     LG_ERR_RECORD_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "max.message.bytes"));
    lg_records_destroy(records);
}
END_TEST

START_TEST(corrupt_topic_metadata_fails_open) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    char *path = lgt_path(dir, "topics");
    ck_assert_int_eq(lgt_flip_bit(path, 3, 1), 0);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "checksum"));
    ck_assert_int_eq(lgt_flip_bit(path, 3, 1), 0);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    free(path);
}
END_TEST

START_TEST(append_and_read_round_trip_every_field) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, "k", 1, "v", 1, 12345), LG_OK);
    ck_assert_int_eq(lg_records_add_header(records, "h1", 2, "x", 1), LG_OK);
    ck_assert_int_eq(lg_records_add_header(records, "h2", 2, NULL, 0), LG_OK);
    ck_assert_int_eq(lg_records_add(records, NULL, 0, NULL, 0, 12346), LG_OK);
    ck_assert_int_eq(lg_records_add(records, "", 0, "", 0, 12347), LG_OK);
    int64_t base = -1;
    ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_ALL, &base),
                     LG_OK);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_LEADER, &base),
                     LG_OK);
    ck_assert_int_eq(base, 3);

    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engine, "t", 0, 0, 1 << 20, &fetch), LG_OK);
    const lg_message_t *m;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_nonnull(m);
    size_t len;
    ck_assert_int_eq(lg_message_offset(m), 0);
    int type = -1;
    ck_assert_int_eq(lg_message_timestamp(m, &type), 12345);
    ck_assert_int_eq(type, 0);
    ck_assert(memcmp(lg_message_key(m, &len), "k", 1) == 0 && len == 1);
    ck_assert(memcmp(lg_message_value(m, &len), "v", 1) == 0 && len == 1);
    ck_assert_uint_eq(lg_message_header_count(m), 2);
    const char *name;
    size_t name_len, value_len;
    const void *value;
    ck_assert_int_eq(lg_message_header(m, 0, &name, &name_len, &value,
                                       &value_len),
                     LG_OK);
    ck_assert(name_len == 2 && memcmp(name, "h1", 2) == 0);
    ck_assert(value_len == 1 && memcmp(value, "x", 1) == 0);
    ck_assert_int_eq(lg_message_header(m, 1, &name, &name_len, &value,
                                       &value_len),
                     LG_OK);
    ck_assert_ptr_null(value);
    ck_assert_int_eq(lg_message_header(m, 2, &name, &name_len, &value,
                                       &value_len),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(lg_message_key(m, &len));
    ck_assert_ptr_null(lg_message_value(m, &len));
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_nonnull(lg_message_key(m, &len));
    ck_assert_uint_eq(len, 0);
    int seen = 3;
    while (lg_fetch_next(fetch, &m) == LG_OK && m)
        ck_assert_int_eq(lg_message_offset(m), seen++);
    ck_assert_int_eq(seen, 6);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 6);
    lg_fetch_destroy(fetch);
    lg_records_destroy(records);

    int64_t low, high;
    ck_assert_int_eq(lg_watermarks(engine, "t", 0, &low, &high), LG_OK);
    ck_assert_int_eq(low, 0);
    ck_assert_int_eq(high, 6);
}
END_TEST

START_TEST(read_from_middle_skips_earlier_records) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < 10; i++) {
        char value[16];
        int n = snprintf(value, sizeof value, "value-%d", i);
        lg_records_add(records, NULL, 0, value, (size_t)n, 5000 + i);
    }
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL), LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(read_all_check("t", 0, 7), 3);
}
END_TEST

START_TEST(every_acks_level_is_readable_after_return) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 3, NULL), LG_OK);
    append_n("t", 0, 50, LG_ACKS_NONE);
    append_n("t", 1, 50, LG_ACKS_LEADER);
    append_n("t", 2, 50, LG_ACKS_ALL);
    /* acks=1/all: visible at once; acks=0: visible after a flush (close) */
    ck_assert_int_eq(read_all_check("t", 1, 0), 50);
    ck_assert_int_eq(read_all_check("t", 2, 0), 50);
    reopen();
    for (int p = 0; p < 3; p++)
        ck_assert_int_eq(read_all_check("t", p, 0), 50);
}
END_TEST

START_TEST(append_error_paths) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL),
                     LG_ERR_INVALID_ARG); /* empty */
    lg_records_add(records, "k", 1, "v", 1, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(NULL, "t", 0, records, 1, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_append(engine, NULL, 0, records, 1, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_append(engine, "t", 0, NULL, 1, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 2, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_append(engine, "nope", 0, records, 1, NULL),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_append(engine, "t", 2, records, 1, NULL),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "0..1"));
    ck_assert_int_eq(lg_append(engine, "t", -1, records, 1, NULL),
                     LG_ERR_UNKNOWN_PARTITION);
    lg_records_destroy(records);
}
END_TEST

START_TEST(oversized_batch_is_rejected_and_log_unchanged) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_records_t *records = lg_records_new();
    size_t size = 1048588 + 1;
    char *big = calloc(1, size);
    lg_records_add(records, NULL, 0, big, size, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL),
                     LG_ERR_RECORD_TOO_LARGE);
    /* just under the limit once the 61+ bytes of framing are counted */
    lg_records_clear(records);
    lg_records_add(records, NULL, 0, big, 1048588 - 100, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL), LG_OK);
    int64_t high;
    lg_watermarks(engine, "t", 0, NULL, &high);
    ck_assert_int_eq(high, 1);
    free(big);
    lg_records_destroy(records);
}
END_TEST

START_TEST(read_error_paths) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    append_n("t", 0, 3, 1);
    lg_fetch_t *fetch = (lg_fetch_t *)1;
    ck_assert_int_eq(lg_read(engine, "t", 0, -1, 100, &fetch),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_ptr_null(fetch);
    ck_assert_int_eq(lg_read(engine, "t", 0, 4, 100, &fetch),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(lg_read(engine, "t", 1, 0, 100, &fetch),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_read(engine, "x", 0, 0, 100, &fetch),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_read(engine, "t", 0, 0, 100, NULL),
                     LG_ERR_INVALID_ARG);
    /* at the end: an empty fetch */
    ck_assert_int_eq(lg_read(engine, "t", 0, 3, 100, &fetch), LG_OK);
    const lg_message_t *m = (const lg_message_t *)1;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 3);
    lg_fetch_destroy(fetch);
    lg_fetch_destroy(NULL);
    /* accessors on NULL */
    ck_assert_int_eq(lg_message_offset(NULL), -1);
    size_t len = 9;
    ck_assert_ptr_null(lg_message_value(NULL, &len));
    ck_assert_int_eq(lg_watermarks(engine, "x", 0, NULL, NULL),
                     LG_ERR_UNKNOWN_TOPIC);
    int64_t offset;
    ck_assert_int_eq(lg_offset_for_time(engine, "t", 0, 0, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_offset_for_time(engine, "t", 5, 0, &offset),
                     LG_ERR_UNKNOWN_PARTITION);
}
END_TEST

START_TEST(offset_for_time_finds_first_at_or_after) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    append_n("t", 0, 100, 1); /* timestamps 1000 + i */
    int64_t offset;
    ck_assert_int_eq(lg_offset_for_time(engine, "t", 0, 0, &offset), LG_OK);
    ck_assert_int_eq(offset, 0);
    ck_assert_int_eq(lg_offset_for_time(engine, "t", 0, 1042, &offset), LG_OK);
    ck_assert_int_eq(offset, 42);
    ck_assert_int_eq(lg_offset_for_time(engine, "t", 0, 99999, &offset),
                     LG_OK);
    ck_assert_int_eq(offset, 100);
}
END_TEST

START_TEST(zstd_topic_round_trips) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "compression.type", "zstd"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "z", 1, conf), LG_OK);
    lg_conf_destroy(conf);
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < 1000; i++) {
        char value[32];
        int n = snprintf(value, sizeof value, "value-%d", i);
        lg_records_add(records, NULL, 0, value, (size_t)n, 1000 + i);
    }
    ck_assert_int_eq(lg_append(engine, "z", 0, records, 1, NULL), LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(read_all_check("z", 0, 0), 1000);
    /* Compressed on disk: well under the ~12 KB the values take raw.  The
     * file is measured closed, without the zero fill past the active
     * segment's end. */
    reopen();
    char *log = lgt_path(dir, "z-0/00000000000000000000.log");
    long long size = lgt_file_size(log);
    ck_assert(size > 0 && size < 6000);
    free(log);
}
END_TEST

START_TEST(log_append_time_replaces_timestamps) {
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "message.timestamp.type", "LogAppendTime");
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, conf), LG_OK);
    lg_conf_destroy(conf);
    append_n("t", 0, 1, 1);
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engine, "t", 0, 0, 1000, &fetch), LG_OK);
    const lg_message_t *m;
    lg_fetch_next(fetch, &m);
    int type;
    ck_assert(lg_message_timestamp(m, &type) > 1600000000000LL);
    ck_assert_int_eq(type, 1);
    lg_fetch_destroy(fetch);
}
END_TEST

START_TEST(acknowledged_records_survive_process_crash) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        lg_engine_t *e;
        if (lg_engine_open(dir, NULL, &e) != LG_OK)
            _exit(2);
        engine = e;
        append_n("t", 0, 200, LG_ACKS_LEADER);
        _exit(0); /* no close: a crash as far as the files know */
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(read_all_check("t", 0, 0), 200);
    /* and the log keeps going where it ended */
    append_n("t", 0, 1, 1);
    int64_t high;
    lg_watermarks(engine, "t", 0, NULL, &high);
    ck_assert_int_eq(high, 201);
}
END_TEST

START_TEST(torn_tail_after_crash_is_cut_and_appends_continue) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    append_n("t", 0, 10, LG_ACKS_ALL);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = NULL;
    /* Simulate a crash: no clean marker, and half a batch at the end. */
    char *marker = lgt_path(dir, ".clean-shutdown");
    unlink(marker);
    char *log = lgt_path(dir, "t-0/00000000000000000000.log");
    long long size = lgt_file_size(log);
    ck_assert_int_eq(lgt_truncate(log, size - 5), 0);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    int64_t high;
    lg_watermarks(engine, "t", 0, NULL, &high);
    ck_assert_int_eq(high, 9);
    ck_assert_int_eq(read_all_check("t", 0, 0), 9);
    int64_t base = -1;
    lg_records_t *records = lg_records_new();
    lg_records_add(records, NULL, 0, "value-9", 7, 1);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, &base), LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(base, 9);
    ck_assert_int_eq(read_all_check("t", 0, 0), 10);
    free(marker);
    free(log);
}
END_TEST

/* Every allocation in open/create/append/read failing in turn must give
 * LG_ERR_NOMEM (or succeed), never crash or leak (ASan checks leaks). */
START_TEST(allocation_failures_are_reported) {
    lg_engine_close(engine);
    engine = NULL;
    int saw_nomem = 0;
    for (long n = 1; n < 400; n++) {
        char *sub;
        ck_assert(asprintf(&sub, "%s/oom-%ld", dir, n) > 0);
        lg_engine_t *e = NULL;
        lgi_alloc_fail_after(n, 0);
        lg_err_t err = lg_engine_open(sub, NULL, &e);
        if (err == LG_OK) {
            err = lg_topic_create(e, "t", 2, NULL);
            lg_records_t *records = lg_records_new();
            if (err == LG_OK && records &&
                lg_records_add(records, "k", 1, "v", 1, 1) == LG_OK) {
                err = lg_append(e, "t", 1, records, 1, NULL);
                if (err == LG_OK) {
                    lg_fetch_t *fetch = NULL;
                    err = lg_read(e, "t", 1, 0, 100, &fetch);
                    lg_fetch_destroy(fetch);
                }
            }
            lg_records_destroy(records);
            lgi_alloc_fail_after(0, 0);
            lg_engine_close(e);
        }
        lgi_alloc_fail_after(0, 0);
        ck_assert_msg(err == LG_OK || err == LG_ERR_NOMEM || err == LG_ERR_IO,
                      "step %ld: %s (%s)", n, lg_err_name(err),
                      lg_last_error_message());
        saw_nomem |= err == LG_ERR_NOMEM;
        lgt_rmrf(sub);
        free(sub);
    }
    ck_assert(saw_nomem);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}
END_TEST

int main(void) {
    Suite *s = suite_create("api");
    TCase *basic = tcase_create("basic");
    tcase_add_test(basic, version_is_consistent);
    tcase_add_test(basic, every_error_code_has_name_and_text);
    tcase_add_test(basic, open_rejects_bad_arguments);
    tcase_add_test(basic, open_on_a_regular_file_fails_cleanly);
    suite_add_tcase(s, basic);

    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, second_open_of_a_directory_is_locked);
    tcase_add_test(tc, data_directory_is_private);
    tcase_add_test(tc, io_backend_follows_environment);
    tcase_add_test(tc, topic_names_follow_kafka_rules);
    tcase_add_test(tc, topic_create_rejects_duplicates_and_bad_counts);
    tcase_add_test(tc, topics_and_overrides_survive_reopen);
    tcase_add_test(tc, corrupt_topic_metadata_fails_open);
    tcase_add_test(tc, append_and_read_round_trip_every_field);
    tcase_add_test(tc, read_from_middle_skips_earlier_records);
    tcase_add_test(tc, every_acks_level_is_readable_after_return);
    tcase_add_test(tc, append_error_paths);
    tcase_add_test(tc, oversized_batch_is_rejected_and_log_unchanged);
    tcase_add_test(tc, read_error_paths);
    tcase_add_test(tc, offset_for_time_finds_first_at_or_after);
    tcase_add_test(tc, zstd_topic_round_trips);
    tcase_add_test(tc, log_append_time_replaces_timestamps);
    tcase_add_test(tc, acknowledged_records_survive_process_crash);
    tcase_add_test(tc, torn_tail_after_crash_is_cut_and_appends_continue);
    tcase_add_test(tc, allocation_failures_are_reported);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
