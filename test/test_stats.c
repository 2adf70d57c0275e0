/*
 * test_stats.c -- statistics and the library's log: the JSON document is
 * well-formed (checked by python3 -m json.tool when python3 exists) and
 * carries per-partition, producer and consumer figures including lag; the
 * Prometheus rendering follows the text exposition format (HELP/TYPE
 * before samples, *_total counters, cumulative histogram buckets ending in
 * +Inf equal to _count); the stats callback is served only from
 * lg_engine_poll at statistics.interval.ms; the log callback hears of the
 * I/O backend, recovery truncation and topic deletion, and is filtered by
 * log_level; cleaner progress counts compaction passes and the
 * partition's cleaner checkpoint.
 */
#include "testutil.h"

#include "engine.h" /* lgi_engine_clean: run the cleaner now */
#include "liblog.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

typedef struct captured {
    pthread_mutex_t lock;
    char text[16384];
    int count;
    int max_level;
} captured_t;

static captured_t logs = {PTHREAD_MUTEX_INITIALIZER, "", 0, 0};

static void on_log(void *opaque, int level, const char *message) {
    captured_t *c = opaque;
    pthread_mutex_lock(&c->lock);
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%d %s\n", level, message);
    c->count++;
    if (level > c->max_level)
        c->max_level = level;
    pthread_mutex_unlock(&c->lock);
}

typedef struct stats_seen {
    int calls;
    pthread_t thread;
    char *last;
} stats_seen_t;

static void on_stats(void *opaque, const char *json, size_t len) {
    stats_seen_t *seen = opaque;
    seen->calls++;
    seen->thread = pthread_self();
    free(seen->last);
    seen->last = strndup(json, len);
    ck_assert_uint_eq(strlen(json), len);
}

static void setup(void) {
    dir = lgt_tmpdir("stats");
    logs.text[0] = '\0';
    logs.count = 0;
    logs.max_level = 0;
}

static void teardown(void) {
    lgt_rmrf(dir);
    free(dir);
}

/* Opens an engine with both callbacks; interval_ms for statistics. */
static lg_engine_t *open_engine(const char *interval_ms, const char *level,
                                stats_seen_t *seen) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "statistics.interval.ms", interval_ms),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "log_level", level), LG_OK);
    ck_assert_int_eq(lg_conf_set_log_callback(conf, on_log, &logs), LG_OK);
    ck_assert_int_eq(lg_conf_set_stats_callback(conf, on_stats, seen), LG_OK);
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    return engine;
}

static int delivered;
static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    ck_assert_int_eq(err, LG_OK);
    delivered++;
}

/* 100 records to t/0 and t/1 through a producer; a consumer reads 30 of
 * t/0 and is left assigned to both. */
static void traffic(lg_engine_t *engine, lg_producer_t **producerp,
                    lg_consumer_t **consumerp) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, NULL, &producer), LG_OK);
    lg_producer_set_delivery_callback(producer, on_delivery, NULL);
    delivered = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lg_produce(producer, "t", i % 2, "k", 1,
                                    "value-0123456789", 16, LG_TIMESTAMP_NOW,
                                    NULL),
                         LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_int_eq(delivered, 100);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &consumer), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_BEGINNING),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 1, LG_OFFSET_END),
                     LG_OK);
    int got = 0;
    while (got < 30) {
        const lg_message_t *message;
        ck_assert_int_eq(lg_consumer_poll(consumer, 1000, &message), LG_OK);
        ck_assert_ptr_nonnull(message);
        got++;
    }
    *producerp = producer;
    *consumerp = consumer;
}

START_TEST(json_is_well_formed_and_carries_every_level) {
    stats_seen_t seen = {0};
    lg_engine_t *engine = open_engine("0", "6", &seen);
    lg_producer_t *producer;
    lg_consumer_t *consumer;
    traffic(engine, &producer, &consumer);
    char *json;
    ck_assert_int_eq(lg_engine_stats_json(engine, &json), LG_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"name\":\"liblog\""));
    ck_assert_ptr_nonnull(strstr(json, "\"io_backend\":\""));
    ck_assert_ptr_nonnull(strstr(json, "\"fsync_latency_us\":{\"count\":"));
    ck_assert_ptr_nonnull(strstr(json, "\"t\":{\"partitions\":{\"0\":{"
                                       "\"partition\":0,\"records\":50,"));
    ck_assert_ptr_nonnull(strstr(json, "\"log_end_offset\":50"));
    ck_assert_ptr_nonnull(strstr(json, "\"records\":100,\"bytes\":"));
    ck_assert_ptr_nonnull(strstr(json, "\"delivered\":100,\"failed\":0,"
                                       "\"queue_length\":0"));
    /* consumer: 30 read of t/0 (lag 20), t/1 at its end (lag 0) */
    ck_assert_ptr_nonnull(strstr(json, "\"records\":30,"));
    ck_assert_ptr_nonnull(strstr(json, "\"lag\":20,\"partitions\":["));
    ck_assert_ptr_nonnull(strstr(json, "{\"topic\":\"t\",\"partition\":0,"
                                       "\"position\":30,\"high_watermark\":50,"
                                       "\"lag\":20}"));
    /* well-formed: python3's parser, when present */
    char *path = lgt_path(dir, "stats.json");
    ck_assert_int_eq(lgt_write_file(path, json, strlen(json)), 0);
    if (system("command -v python3 >/dev/null 2>&1") == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "python3 -m json.tool %s >/dev/null", path);
        ck_assert_msg(system(cmd) == 0, "not valid JSON: %s", json);
    }
    free(path);
    lg_free_string(json);
    /* statistics off: poll serves nothing and returns at once */
    ck_assert_int_eq(lg_engine_poll(engine, 1000), 0);
    ck_assert_int_eq(seen.calls, 0);
    lg_consumer_destroy(consumer);
    lg_producer_destroy(producer);
    /* destroyed clients leave the report */
    ck_assert_int_eq(lg_engine_stats_json(engine, &json), LG_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"producers\":{},\"consumers\":{}}"));
    lg_free_string(json);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* Checks the exposition format line by line: every sample's metric
 * family was declared by # TYPE before it, counters end in _total,
 * histogram buckets are cumulative and the +Inf bucket equals _count. */
static void check_exposition(char *text) {
    char declared[128][96];
    char types[128][16];
    int families = 0;
    unsigned long long previous_bucket = 0, inf_bucket = 0;
    int saw_inf = 0, saw_count = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[96], type[16];
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (sscanf(line, "# TYPE %95s %15s", name, type) == 2) {
            ck_assert_int_lt(families, 128);
            strcpy(declared[families], name);
            strcpy(types[families], type);
            families++;
            if (strcmp(type, "counter") == 0)
                ck_assert_msg(strstr(name, "_total") != NULL,
                              "counter %s lacks _total", name);
            continue;
        }
        ck_assert_msg(line[0] != '#', "unexpected comment %s", line);
        size_t n = strcspn(line, "{ ");
        ck_assert_uint_lt(n, sizeof name);
        memcpy(name, line, n);
        name[n] = '\0';
        char *value = strrchr(line, ' ');
        ck_assert_ptr_nonnull(value);
        char *end;
        strtod(value + 1, &end);
        ck_assert_msg(*end == '\0', "bad value in %s", line);
        /* the family is the last declared one (samples follow their TYPE) */
        ck_assert_int_gt(families, 0);
        const char *family = declared[families - 1];
        size_t fl = strlen(family);
        ck_assert_msg(strncmp(name, family, fl) == 0,
                      "%s appears outside its family (%s)", name, family);
        if (strcmp(types[families - 1], "histogram") == 0) {
            unsigned long long count = strtoull(value + 1, NULL, 10);
            if (strstr(name, "_bucket")) {
                ck_assert_ptr_nonnull(strstr(line, "{le=\""));
                ck_assert_uint_ge(count, previous_bucket);
                previous_bucket = count;
                if (strstr(line, "le=\"+Inf\"")) {
                    saw_inf = 1;
                    inf_bucket = count;
                }
            } else if (strstr(name, "_count")) {
                saw_count = 1;
                ck_assert_uint_eq(count, inf_bucket);
            }
        } else
            ck_assert_str_eq(name, family);
    }
    ck_assert(saw_inf && saw_count);
    ck_assert_int_gt(families, 20);
}

START_TEST(prometheus_text_follows_the_exposition_format) {
    stats_seen_t seen = {0};
    lg_engine_t *engine = open_engine("0", "6", &seen);
    lg_producer_t *producer;
    lg_consumer_t *consumer;
    traffic(engine, &producer, &consumer);
    lg_records_t *records = lg_records_new();
    lg_records_add(records, NULL, 0, "durable", 7, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "t", 1, records, LG_ACKS_ALL, NULL),
                     LG_OK);
    lg_records_destroy(records);
    char *text;
    ck_assert_int_eq(lg_engine_stats_prometheus(engine, &text), LG_OK);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE liblog_fsync_latency_seconds "
                                       "histogram\n"));
    ck_assert_ptr_nonnull(strstr(text, "liblog_partition_records_total{topic="
                                       "\"t\",partition=\"0\"} 50\n"));
    ck_assert_ptr_nonnull(strstr(text, "liblog_consumer_lag{consumer=\"2\","
                                       "topic=\"t\",partition=\"0\"} 20\n"));
    ck_assert_ptr_nonnull(strstr(text, "liblog_producer_delivered_total{"
                                       "producer=\"1\"} 100\n"));
    ck_assert_ptr_null(strstr(text, "liblog_io_fsyncs_total 0\n"));
    check_exposition(text);
    lg_free_string(text);
    lg_consumer_destroy(consumer);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(stats_callback_is_served_by_poll_at_the_interval) {
    stats_seen_t seen = {0};
    lg_engine_t *engine = open_engine("400", "6", &seen);
    /* not due yet: a non-blocking poll serves nothing */
    ck_assert_int_eq(lg_engine_poll(engine, 0), 0);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    usleep(500 * 1000);
    /* the library never calls it by itself */
    ck_assert_int_eq(seen.calls, 0);
    ck_assert_int_eq(lg_engine_poll(engine, 0), 1);
    ck_assert_int_eq(seen.calls, 1);
    ck_assert(pthread_equal(seen.thread, pthread_self()));
    ck_assert_ptr_nonnull(strstr(seen.last, "\"topics\":1"));
    /* a blocking poll waits for the next report */
    ck_assert_int_eq(lg_engine_poll(engine, 0), 0);
    ck_assert_int_eq(lg_engine_poll(engine, 1000), 1);
    ck_assert_int_eq(seen.calls, 2);
    ck_assert_int_eq(lg_engine_poll(NULL, 0), -1);
    free(seen.last);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(log_callback_hears_backend_recovery_and_deletion) {
    stats_seen_t seen = {0};
    lg_engine_t *engine = open_engine("0", "7", &seen);
    ck_assert_ptr_nonnull(strstr(logs.text, "I/O backend") ?
                          strstr(logs.text, "I/O backend") :
                          strstr(logs.text, "falling back"));
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_records_t *records = lg_records_new();
    lg_records_add(records, "k", 1, "v", 1, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_ALL, NULL),
                     LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    /* a crash-like tail: garbage after the last batch, no clean marker */
    char *marker = lgt_path(dir, ".clean-shutdown");
    unlink(marker);
    free(marker);
    char *log = lgt_path(dir, "t-0/00000000000000000000.log");
    long long size = lgt_file_size(log);
    FILE *f = fopen(log, "ab");
    ck_assert_ptr_nonnull(f);
    fwrite("garbage-garbage-garbage", 1, 23, f);
    fclose(f);
    free(log);
    (void)size;
    engine = open_engine("0", "7", &seen);
    ck_assert_msg(strstr(logs.text, "truncated by 23 bytes") != NULL,
                  "no truncation message in:\n%s", logs.text);
    ck_assert_int_eq(lg_topic_delete(engine, "t"), LG_OK);
    ck_assert_ptr_nonnull(strstr(logs.text, "topic \"t\" deleted"));
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(log_level_filters_messages) {
    stats_seen_t seen = {0};
    lg_engine_t *engine = open_engine("0", "3", &seen);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_delete(engine, "t"), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    /* only errors pass; nothing failed */
    ck_assert_int_eq(logs.count, 0);
    ck_assert_int_eq(lg_conf_set_log_callback(NULL, on_log, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_conf_set_stats_callback(NULL, on_stats, NULL),
                     LG_ERR_INVALID_ARG);
    lg_free_string(NULL);
}
END_TEST

START_TEST(cleaner_progress_is_reported) {
    stats_seen_t seen = {0};
    lg_engine_t *engine = open_engine("0", "6", &seen);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "cleanup.policy", "compact"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "1024"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "c", 1, conf), LG_OK);
    lg_conf_destroy(conf);
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < 200; i++) {
        char key[16];
        snprintf(key, sizeof key, "key-%d", i % 10);
        lg_records_clear(records);
        lg_records_add(records, key, strlen(key), "value-value-value", 17,
                       LG_TIMESTAMP_NOW);
        ck_assert_int_eq(lg_append(engine, "c", 0, records, LG_ACKS_LEADER,
                                   NULL),
                         LG_OK);
    }
    lg_records_destroy(records);
    char *json;
    /* (the engine's cleaner thread may already have run a pass) */
    ck_assert_int_eq(lgi_engine_clean(engine, lgi_engine_now_ms(engine), 1),
                     LG_OK);
    ck_assert_int_eq(lg_engine_stats_json(engine, &json), LG_OK);
    ck_assert_msg(strstr(json, "\"cleaner\":{\"passes\":0,") == NULL,
                  "no pass counted: %s", json);
    const char *at = strstr(json, "\"cleaner_offset\":");
    ck_assert_ptr_nonnull(at);
    long long cleaner_offset = -1;
    ck_assert_int_eq(sscanf(at, "\"cleaner_offset\":%lld", &cleaner_offset),
                     1);
    ck_assert_msg(cleaner_offset > 0, "cleaner checkpoint %lld: %s",
                  cleaner_offset, json);
    lg_free_string(json);
    char *text;
    ck_assert_int_eq(lg_engine_stats_prometheus(engine, &text), LG_OK);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE liblog_cleaner_passes_total "
                                       "counter\n"));
    ck_assert_ptr_null(strstr(text, "liblog_cleaner_records_read_total 0\n"));
    lg_free_string(text);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

int main(void) {
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, json_is_well_formed_and_carries_every_level);
    tcase_add_test(tc, prometheus_text_follows_the_exposition_format);
    tcase_add_test(tc, stats_callback_is_served_by_poll_at_the_interval);
    tcase_add_test(tc, log_callback_hears_backend_recovery_and_deletion);
    tcase_add_test(tc, log_level_filters_messages);
    tcase_add_test(tc, cleaner_progress_is_reported);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
