/*
 * test_producer.c -- the producer end to end: lg_produce through the
 * accumulator and sender to the partition log, delivery reports served by
 * lg_producer_poll/flush, and every documented error path.
 */
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static lg_engine_t *engine;

static void setup(void) {
    dir = lgt_tmpdir("producer");
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}

static void teardown(void) {
    lg_err_t err = lg_engine_close(engine);
    ck_assert_msg(err == LG_OK, "lg_engine_close: %s", lg_last_error_message());
    engine = NULL;
    lgt_rmrf(dir);
    free(dir);
}

/* Delivery reports collected by the callback. */
#define MAX_REPORTS 300000
typedef struct report {
    lg_err_t err;
    int32_t partition;
    int64_t offset;
    intptr_t id;
} report_t;

typedef struct reports {
    report_t *items;
    size_t count;
    char topic[64];
} reports_t;

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    reports_t *r = opaque;
    ck_assert_uint_lt(r->count, MAX_REPORTS);
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    r->items[r->count++] = (report_t){err, partition, offset,
                                      (intptr_t)message_opaque};
}

static reports_t *reports_new(void) {
    reports_t *r = calloc(1, sizeof *r);
    r->items = calloc(MAX_REPORTS, sizeof *r->items);
    return r;
}

static void reports_free(reports_t *r) {
    free(r->items);
    free(r);
}

static lg_producer_t *new_producer(reports_t *r, const char *const *props) {
    lg_conf_t *conf = lg_conf_new();
    for (size_t i = 0; props && props[i]; i += 2)
        ck_assert_int_eq(lg_conf_set(conf, props[i], props[i + 1]), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    if (r)
        ck_assert_int_eq(
            lg_producer_set_delivery_callback(producer, on_delivery, r),
            LG_OK);
    return producer;
}

/* Number of batches and records in a partition, read back with lg_read;
 * checks every value is "v-<offset in partition order>" when check_values. */
static void read_partition(const char *topic, int32_t partition,
                           int64_t *batchesp, int64_t *recordsp) {
    int64_t offset = 0, batches = 0, records = 0;
    for (;;) {
        lg_fetch_t *fetch;
        /* max_bytes 1 returns exactly one batch: counts batches. */
        ck_assert_int_eq(lg_read(engine, topic, partition, offset, 1, &fetch),
                         LG_OK);
        const lg_message_t *m;
        int got = 0;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            ck_assert_int_eq(lg_message_offset(m), offset + got);
            got++;
        }
        offset = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        if (!got)
            break;
        batches++;
        records += got;
    }
    *batchesp = batches;
    *recordsp = records;
}

START_TEST(produced_records_are_reported_once_with_consecutive_offsets) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 3, NULL), LG_OK);
    reports_t *r = reports_new();
    lg_producer_t *producer = new_producer(r, NULL);
    const int n = 3000;
    for (int i = 0; i < n; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "v-%d", i);
        ck_assert_int_eq(lg_produce(producer, "t", i % 3, "k", 1, value,
                                    (size_t)len, LG_TIMESTAMP_NOW,
                                    (void *)(intptr_t)i),
                         LG_OK);
    }
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(r->count, (size_t)n);
    ck_assert_uint_eq(lg_producer_queue_length(producer), 0);
    ck_assert_str_eq(r->topic, "t");
    char *seen = calloc((size_t)n, 1);
    int64_t next[3] = {0, 0, 0};
    for (size_t i = 0; i < r->count; i++) {
        report_t *rep = &r->items[i];
        ck_assert_int_eq(rep->err, LG_OK);
        ck_assert(!seen[rep->id]);
        seen[rep->id] = 1;
        ck_assert_int_eq(rep->partition, rep->id % 3);
        /* Reports of one partition come in offset order, consecutive. */
        ck_assert_int_eq(rep->offset, next[rep->partition]++);
        ck_assert_int_eq(rep->offset, rep->id / 3);
    }
    free(seen);
    /* The data is there, in produce order. */
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engine, "t", 1, 0, 1 << 20, &fetch), LG_OK);
    const lg_message_t *m;
    int i = 0;
    while (lg_fetch_next(fetch, &m) == LG_OK && m) {
        char want[32];
        snprintf(want, sizeof want, "v-%d", i * 3 + 1);
        size_t len;
        const char *value = lg_message_value(m, &len);
        ck_assert_uint_eq(len, strlen(want));
        ck_assert(memcmp(value, want, len) == 0);
        const void *key = lg_message_key(m, &len);
        ck_assert_uint_eq(len, 1);
        ck_assert(memcmp(key, "k", 1) == 0);
        i++;
    }
    ck_assert_int_eq(i, n / 3);
    lg_fetch_destroy(fetch);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(linger_batches_many_records_into_few_batches) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    const char *props[] = {"linger.ms", "200", NULL};
    lg_producer_t *producer = new_producer(NULL, props);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "value", 5,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    int64_t batches, records;
    read_partition("t", 0, &batches, &records);
    ck_assert_int_eq(records, 100);
    ck_assert_int_le(batches, 2);
    lg_producer_destroy(producer);
}
END_TEST

START_TEST(linger_expiry_sends_without_flush) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    reports_t *r = reports_new();
    const char *props[] = {"linger.ms", "20", NULL};
    lg_producer_t *producer = new_producer(r, props);
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "x", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    int served = 0;
    for (int i = 0; i < 100 && !served; i++)
        served = lg_producer_poll(producer, 100);
    ck_assert_int_eq(served, 1);
    ck_assert_int_eq(r->items[0].err, LG_OK);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(batch_size_sends_full_batches_without_waiting_for_linger) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    reports_t *r = reports_new();
    /* A linger far beyond the test's patience: only batch.size can send. */
    const char *props[] = {"linger.ms", "600000", "batch.size", "1000", NULL};
    lg_producer_t *producer = new_producer(r, props);
    char value[100];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                    sizeof value, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    size_t want = 90; /* all but the last partly filled batch */
    for (int i = 0; i < 200 && r->count < want; i++)
        lg_producer_poll(producer, 50);
    ck_assert_uint_ge(r->count, want);
    ck_assert_uint_lt(r->count, 100);
    int64_t batches, records;
    read_partition("t", 0, &batches, &records);
    ck_assert_int_ge(batches, 9);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(flush_times_out_when_appends_cannot_finish) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    reports_t *r = reports_new();
    lg_producer_t *producer = new_producer(r, NULL);
    /* Nothing queued: flush succeeds at once. */
    ck_assert_int_eq(lg_producer_flush(producer, 0), LG_OK);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "v", 1,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    /* A zero timeout cannot see the appends complete. */
    lg_err_t err = lg_producer_flush(producer, 0);
    ck_assert(err == LG_ERR_TIMED_OUT || err == LG_OK);
    if (err == LG_ERR_TIMED_OUT)
        ck_assert_str_ne(lg_last_error_message(), "");
    ck_assert_int_eq(lg_producer_flush(producer, -1), LG_OK);
    ck_assert_uint_eq(r->count, 1000);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(full_buffer_memory_fails_fast_or_after_max_block) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    /* 4 records of 500 bytes fit (536 each as charged), 5 do not */
    const char *props[] = {"buffer.memory", "2200", "linger.ms", "600000",
                           NULL};
    reports_t *r = reports_new();
    lg_producer_t *producer = new_producer(r, props);
    char value[500];
    memset(value, 'x', sizeof value);
    int accepted = 0;
    lg_err_t err;
    while ((err = lg_produce(producer, "t", 0, NULL, 0, value, sizeof value,
                             LG_TIMESTAMP_NOW, NULL)) == LG_OK)
        accepted++;
    ck_assert_int_eq(err, LG_ERR_QUEUE_FULL);
    ck_assert_int_ge(accepted, 3);
    ck_assert_uint_eq(lg_producer_queue_length(producer), (size_t)accepted);
    /* Delivering frees the memory. */
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                sizeof value, LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    lg_producer_destroy(producer);

    /* With max.block.ms the call waits that long, then fails. */
    const char *blocking[] = {"buffer.memory", "2048", "linger.ms", "600000",
                              "max.block.ms", "100", NULL};
    producer = new_producer(r, blocking);
    while ((err = lg_produce(producer, "t", 0, NULL, 0, value, sizeof value,
                             LG_TIMESTAMP_NOW, NULL)) == LG_OK)
        ;
    ck_assert_int_eq(err, LG_ERR_QUEUE_FULL);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(buffer_memory_bound_is_exact_with_batch_credit) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    /* Room for many batches: open batches take buffer.memory ahead for
     * the records they will hold, yet the records accepted are exactly
     * those whose charges (536 bytes each) fit. */
    const char *props[] = {"buffer.memory", "65536", "linger.ms", "600000",
                           NULL};
    reports_t *r = reports_new();
    lg_producer_t *producer = new_producer(r, props);
    char value[500];
    memset(value, 'x', sizeof value);
    int accepted = 0;
    lg_err_t err;
    while ((err = lg_produce(producer, "t", 0, NULL, 0, value, sizeof value,
                             LG_TIMESTAMP_NOW, NULL)) == LG_OK)
        accepted++;
    ck_assert_int_eq(err, LG_ERR_QUEUE_FULL);
    ck_assert_int_eq(accepted, 65536 / 536);
    ck_assert_uint_eq(lg_producer_queue_length(producer), (size_t)accepted);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(r->count, (size_t)accepted);
    ck_assert_uint_eq(lg_producer_queue_length(producer), 0);
    /* Everything came back: the same number fits again. */
    int again = 0;
    while (lg_produce(producer, "t", 0, NULL, 0, value, sizeof value,
                      LG_TIMESTAMP_NOW, NULL) == LG_OK)
        again++;
    ck_assert_int_eq(again, accepted);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(records_go_to_the_topic_named_in_each_call) {
    ck_assert_int_eq(lg_topic_create(engine, "a", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "b", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "bb", 1, NULL), LG_OK);
    lg_producer_t *producer = new_producer(NULL, NULL);
    /* One buffer rewritten between calls: the topic is its name, not the
     * pointer. */
    char name[8];
    const char *names[] = {"a", "b", "b", "bb", "a", "a", "bb"};
    int64_t expected[3] = {0, 0, 0};
    for (int i = 0; i < 700; i++) {
        int which = i % 7;
        snprintf(name, sizeof name, "%s", names[which]);
        ck_assert_int_eq(lg_produce(producer, name, 0, NULL, 0, "v", 1,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
        expected[strcmp(name, "a") == 0 ? 0 : strcmp(name, "b") == 0 ? 1 : 2]++;
    }
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    const char *topics[] = {"a", "b", "bb"};
    for (int t = 0; t < 3; t++) {
        int64_t batches, records;
        read_partition(topics[t], 0, &batches, &records);
        ck_assert_int_eq(records, expected[t]);
    }
    lg_producer_destroy(producer);
}
END_TEST

static void *flush_later(void *arg) {
    usleep(50 * 1000);
    ck_assert_int_eq(lg_producer_flush(arg, 10000), LG_OK);
    return NULL;
}

START_TEST(blocked_produce_resumes_when_memory_is_freed) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    /* No callback: memory is released when the append completes. */
    /* 4 records of 500 bytes fit (536 each as charged), 5 do not */
    const char *props[] = {"buffer.memory", "2200", "linger.ms", "600000",
                           "max.block.ms", "10000", NULL};
    lg_producer_t *producer = new_producer(NULL, props);
    char value[500];
    memset(value, 'x', sizeof value);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                    sizeof value, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    pthread_t thread;
    pthread_create(&thread, NULL, flush_later, producer);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                    sizeof value, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    pthread_join(thread, NULL);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(lg_producer_queue_length(producer), 0);
    lg_producer_destroy(producer);
}
END_TEST

START_TEST(record_over_max_message_bytes_is_rejected) {
    lg_conf_t *topic_conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(topic_conf, "max.message.bytes", "1000"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, topic_conf), LG_OK);
    lg_conf_destroy(topic_conf);
    reports_t *r = reports_new();
    lg_producer_t *producer = new_producer(r, NULL);
    static char value[2000];
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value, 1000,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_RECORD_TOO_LARGE);
    ck_assert(strstr(lg_last_error_message(), "max.message.bytes"));
    /* Small records still go, in batches capped by max.message.bytes. */
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value, 100,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(r->count, 50);
    for (size_t i = 0; i < r->count; i++)
        ck_assert_int_eq(r->items[i].err, LG_OK);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(bad_arguments_and_unknown_targets_are_errors) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(NULL, NULL, &producer),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_producer_new(engine, NULL, NULL), LG_ERR_INVALID_ARG);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "100000"), LG_OK);
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_producer_new(engine, NULL, &producer), LG_OK);
    ck_assert_int_eq(lg_produce(NULL, "t", 0, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_produce(producer, NULL, 0, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 3, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "v", 1, -5, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_produce(producer, "nope", 0, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_produce(producer, "t", 2, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_produce(producer, "t", -7, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_produce_records(producer, "t", 0, NULL, NULL),
                     LG_ERR_INVALID_ARG);
    lg_records_t *empty = lg_records_new();
    ck_assert_int_eq(lg_produce_records(producer, "t", 0, empty, NULL),
                     LG_ERR_INVALID_ARG);
    lg_records_destroy(empty);
    ck_assert_int_eq(lg_producer_flush(NULL, 0), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_producer_poll(NULL, 0), 0);
    ck_assert_uint_eq(lg_producer_queue_length(NULL), 0);
    ck_assert_int_eq(lg_producer_eventfd(NULL), -1);
    ck_assert_int_eq(lg_producer_set_delivery_callback(NULL, NULL, NULL),
                     LG_ERR_INVALID_ARG);
    /* The callback is fixed once records flow. */
    ck_assert_int_eq(lg_produce(producer, "t", LG_PARTITION_ANY, "k", 1, "v",
                                1, LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_producer_set_delivery_callback(producer, on_delivery,
                                                       NULL),
                     LG_ERR_STATE);
    lg_producer_destroy(producer);
    lg_producer_destroy(NULL);
}
END_TEST

START_TEST(zstd_topic_and_producer_compression_round_trip) {
    lg_conf_t *topic_conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(topic_conf, "compression.type", "zstd"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "z", 1, topic_conf), LG_OK);
    lg_conf_destroy(topic_conf);
    ck_assert_int_eq(lg_topic_create(engine, "p", 1, NULL), LG_OK);
    const char *props[] = {"compression.type", "zstd", NULL};
    lg_producer_t *producer = new_producer(NULL, props);
    char value[1000];
    memset(value, 'a', sizeof value);
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(lg_produce(producer, "z", 0, NULL, 0, value,
                                    sizeof value, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
        ck_assert_int_eq(lg_produce(producer, "p", 0, NULL, 0, value,
                                    sizeof value, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    }
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    lg_producer_destroy(producer);
    /* Files measured closed, without the zero fill past the active
     * segment's end. */
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    const char *topics[] = {"z", "p"};
    for (int t = 0; t < 2; t++) {
        int64_t batches, records;
        read_partition(topics[t], 0, &batches, &records);
        ck_assert_int_eq(records, 200);
        /* 200 KB of 'a' compressed: the log is far smaller. */
        char *path = lgt_path(dir, t == 0 ? "z-0/00000000000000000000.log"
                                          : "p-0/00000000000000000000.log");
        long long size = lgt_file_size(path);
        free(path);
        ck_assert_int_gt(size, 0);
        ck_assert_int_lt(size, 50000);
    }
}
END_TEST

START_TEST(deleted_topic_fails_queued_records_and_later_produces) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    reports_t *r = reports_new();
    const char *props[] = {"linger.ms", "600000", NULL};
    lg_producer_t *producer = new_producer(r, props);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "v", 1,
                                    LG_TIMESTAMP_NOW, (void *)(intptr_t)i),
                         LG_OK);
    ck_assert_int_eq(lg_topic_delete(engine, "t"), LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(r->count, 10);
    for (size_t i = 0; i < r->count; i++) {
        ck_assert_int_eq(r->items[i].err, LG_ERR_UNKNOWN_TOPIC);
        ck_assert_int_eq(r->items[i].offset, -1);
    }
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_UNKNOWN_TOPIC);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(destroy_with_queued_records_reports_nothing) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 4, NULL), LG_OK);
    reports_t *r = reports_new();
    const char *props[] = {"linger.ms", "600000", NULL};
    lg_producer_t *producer = new_producer(r, props);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(lg_produce(producer, "t", LG_PARTITION_ANY, &i,
                                    sizeof i, "v", 1, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    lg_producer_destroy(producer);
    ck_assert_uint_eq(r->count, 0);
    reports_free(r);
}
END_TEST

START_TEST(eventfd_becomes_readable_when_reports_wait) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    reports_t *r = reports_new();
    const char *props[] = {"linger.ms", "0", NULL};
    lg_producer_t *producer = new_producer(r, props);
    int fd = lg_producer_eventfd(producer);
    ck_assert_int_ge(fd, 0);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    ck_assert_int_eq(lg_producer_poll(producer, 0), 1);
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    ck_assert_int_eq(lg_producer_poll(producer, 0), 0);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(produce_records_keeps_headers_and_reports_each_record) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 3, NULL), LG_OK);
    reports_t *r = reports_new();
    lg_producer_t *producer = new_producer(r, NULL);
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(lg_records_add(records, "key", 3, "value", 5, 1234),
                         LG_OK);
        ck_assert_int_eq(lg_records_add_header(records, "h", 1, "hv", 2),
                         LG_OK);
    }
    ck_assert_int_eq(lg_produce_records(producer, "t", LG_PARTITION_ANY,
                                        records, (void *)(intptr_t)7),
                     LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(r->count, 5);
    int32_t partition = r->items[0].partition;
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(r->items[i].partition, partition);
        ck_assert_int_eq(r->items[i].offset, (int64_t)i);
        ck_assert_int_eq(r->items[i].id, 7);
    }
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engine, "t", partition, 0, 1 << 20, &fetch),
                     LG_OK);
    const lg_message_t *m;
    int count = 0;
    while (lg_fetch_next(fetch, &m) == LG_OK && m) {
        ck_assert_int_eq(lg_message_timestamp(m, NULL), 1234);
        ck_assert_uint_eq(lg_message_header_count(m), 1);
        const char *name;
        size_t name_len, value_len;
        const void *value;
        ck_assert_int_eq(lg_message_header(m, 0, &name, &name_len, &value,
                                           &value_len),
                         LG_OK);
        ck_assert(name_len == 1 && name[0] == 'h');
        ck_assert(value_len == 2 && memcmp(value, "hv", 2) == 0);
        count++;
    }
    ck_assert_int_eq(count, 5);
    lg_fetch_destroy(fetch);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

START_TEST(null_keys_stick_to_a_partition_per_batch) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 4, NULL), LG_OK);
    reports_t *r = reports_new();
    const char *props[] = {"linger.ms", "600000", "batch.size", "2000",
                           NULL};
    lg_producer_t *producer = new_producer(r, props);
    char value[100] = {0};
    for (int i = 0; i < 400; i++)
        ck_assert_int_eq(lg_produce(producer, "t", LG_PARTITION_ANY, NULL, 0,
                                    value, sizeof value, LG_TIMESTAMP_NOW,
                                    NULL),
                         LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_uint_eq(r->count, 400);
    /* Runs of one partition as long as a batch, not a scatter. */
    int switches = 0;
    for (size_t i = 1; i < r->count; i++)
        switches += r->items[i].partition != r->items[i - 1].partition;
    ck_assert_int_lt(switches, 40);
    int used[4] = {0};
    for (size_t i = 0; i < r->count; i++)
        used[r->items[i].partition] = 1;
    ck_assert_int_ge(used[0] + used[1] + used[2] + used[3], 2);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

/* Four threads, 50k records each, to four partitions: every record
 * reported exactly once, and within a partition each thread's records
 * keep their order. */
#define THREADS 4
#define PER_THREAD 50000
static atomic_int threads_done;

static void *produce_thread(void *arg) {
    lg_producer_t *producer = ((void **)arg)[0];
    intptr_t thread = (intptr_t)((void **)arg)[1];
    for (intptr_t i = 0; i < PER_THREAD; i++) {
        intptr_t id = thread * PER_THREAD + i;
        int32_t partition = (int32_t)(i % 4);
        char value[16];
        int len = snprintf(value, sizeof value, "%ld", (long)id);
        ck_assert_int_eq(lg_produce(producer, "t", partition, NULL, 0, value,
                                    (size_t)len, LG_TIMESTAMP_NOW,
                                    (void *)id),
                         LG_OK);
    }
    atomic_fetch_add(&threads_done, 1);
    return NULL;
}

START_TEST(concurrent_producers_lose_and_duplicate_nothing) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 4, NULL), LG_OK);
    reports_t *r = reports_new();
    const char *props[] = {"max.block.ms", "60000", NULL};
    lg_producer_t *producer = new_producer(r, props);
    pthread_t threads[THREADS];
    void *args[THREADS][2];
    for (intptr_t t = 0; t < THREADS; t++) {
        args[t][0] = producer;
        args[t][1] = (void *)t;
        pthread_create(&threads[t], NULL, produce_thread, args[t]);
    }
    /* Serve reports while they produce, as an application would. */
    while (r->count < THREADS * PER_THREAD) {
        lg_producer_poll(producer, 100);
        if (r->count >= THREADS * PER_THREAD)
            break;
        if (atomic_load(&threads_done) == THREADS)
            break;
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    ck_assert_int_eq(lg_producer_flush(producer, 30000), LG_OK);
    ck_assert_uint_eq(r->count, THREADS * PER_THREAD);
    char *seen = calloc(THREADS * PER_THREAD, 1);
    int64_t *offset_of = calloc(THREADS * PER_THREAD, sizeof *offset_of);
    for (size_t i = 0; i < r->count; i++) {
        ck_assert_int_eq(r->items[i].err, LG_OK);
        intptr_t id = r->items[i].id;
        ck_assert(!seen[id]);
        seen[id] = 1;
        offset_of[id] = r->items[i].offset;
        ck_assert_int_eq(r->items[i].partition, (id % PER_THREAD) % 4);
    }
    for (intptr_t t = 0; t < THREADS; t++)
        for (intptr_t i = 4; i < PER_THREAD; i++)
            ck_assert_int_gt(offset_of[t * PER_THREAD + i],
                             offset_of[t * PER_THREAD + i - 4]);
    for (int p = 0; p < 4; p++) {
        int64_t batches, records;
        read_partition("t", p, &batches, &records);
        ck_assert_int_eq(records, THREADS * PER_THREAD / 4);
    }
    free(seen);
    free(offset_of);
    lg_producer_destroy(producer);
    reports_free(r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("producer");
    TCase *tc = tcase_create("producer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, produced_records_are_reported_once_with_consecutive_offsets);
    tcase_add_test(tc, linger_batches_many_records_into_few_batches);
    tcase_add_test(tc, linger_expiry_sends_without_flush);
    tcase_add_test(tc, batch_size_sends_full_batches_without_waiting_for_linger);
    tcase_add_test(tc, flush_times_out_when_appends_cannot_finish);
    tcase_add_test(tc, full_buffer_memory_fails_fast_or_after_max_block);
    tcase_add_test(tc, blocked_produce_resumes_when_memory_is_freed);
    tcase_add_test(tc, buffer_memory_bound_is_exact_with_batch_credit);
    tcase_add_test(tc, records_go_to_the_topic_named_in_each_call);
    tcase_add_test(tc, record_over_max_message_bytes_is_rejected);
    tcase_add_test(tc, bad_arguments_and_unknown_targets_are_errors);
    tcase_add_test(tc, zstd_topic_and_producer_compression_round_trip);
    tcase_add_test(tc, deleted_topic_fails_queued_records_and_later_produces);
    tcase_add_test(tc, destroy_with_queued_records_reports_nothing);
    tcase_add_test(tc, eventfd_becomes_readable_when_reports_wait);
    tcase_add_test(tc, produce_records_keeps_headers_and_reports_each_record);
    tcase_add_test(tc, null_keys_stick_to_a_partition_per_batch);
    tcase_add_test(tc, concurrent_producers_lose_and_duplicate_nothing);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
