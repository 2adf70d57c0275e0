/*
 * test_consumer.c -- lg_consumer_t through liblog.h: assignment and
 * positions, seeks, round-robin polling, batch polls whose messages stay
 * valid until the next poll, end-of-partition events, blocking polls ended
 * by new records, wakeups and timeouts, the eventfd, auto.offset.reset,
 * deleted topics, argument checks, and consumers racing appenders (run it
 * under TSan and ASan too; see the Makefile's SANITIZE).
 */
#include "consumer.h"
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static lg_engine_t *engine;

static void setup(void) {
    dir = lgt_tmpdir("consumer");
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 3, NULL), LG_OK);
}

static void teardown(void) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = NULL;
    lgt_rmrf(dir);
    free(dir);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Appends records "<partition>:<first+i>" for i in [0, n) to partition,
 * per_batch to a batch, timestamps 1000 + their index. */
static void append_range(const char *topic, int32_t partition, int first,
                         int n, int per_batch) {
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < n;) {
        lg_records_clear(records);
        for (int j = 0; j < per_batch && i < n; j++, i++) {
            char value[32];
            int len = snprintf(value, sizeof value, "%d:%d", (int)partition,
                               first + i);
            ck_assert_int_eq(lg_records_add(records, "k", 1, value,
                                            (size_t)len, 1000 + first + i),
                             LG_OK);
        }
        ck_assert_int_eq(lg_append(engine, topic, partition, records,
                                   LG_ACKS_LEADER, NULL),
                         LG_OK);
    }
    lg_records_destroy(records);
}

/* The index encoded in a record's value by append_range. */
static int value_index(const lg_message_t *message, int32_t *partitionp) {
    size_t len;
    const char *value = lg_message_value(message, &len);
    ck_assert_ptr_nonnull(value);
    char copy[32];
    ck_assert_uint_lt(len, sizeof copy);
    memcpy(copy, value, len);
    copy[len] = '\0';
    int partition, index;
    ck_assert_int_eq(sscanf(copy, "%d:%d", &partition, &index), 2);
    if (partitionp)
        *partitionp = partition;
    return index;
}

static lg_consumer_t *consumer_with(const char *name, const char *value) {
    lg_conf_t *conf = lg_conf_new();
    if (name)
        ck_assert_int_eq(lg_conf_set(conf, name, value), LG_OK);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer), LG_OK);
    lg_conf_destroy(conf);
    return consumer;
}

/* Polls (timeout 0) the next record, skipping nothing: fails on events. */
static const lg_message_t *next_record(lg_consumer_t *consumer) {
    const lg_message_t *message;
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_error(message), LG_OK);
    return message;
}

static void expect_nothing(lg_consumer_t *consumer) {
    const lg_message_t *message;
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_OK);
    ck_assert_ptr_null(message);
}

START_TEST(assign_at_beginning_end_and_offset) {
    append_range("t", 0, 0, 10, 3);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    int64_t position;

    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_BEGINNING),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 0);
    const lg_message_t *message = next_record(consumer);
    ck_assert_int_eq(lg_message_offset(message), 0);
    ck_assert_str_eq(lg_message_topic(message), "t");
    ck_assert_int_eq(lg_message_partition(message), 0);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 1);

    /* Re-assigning moves the position. */
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END), LG_OK);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 10);
    expect_nothing(consumer);

    /* An offset inside a batch starts at that record. */
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 4), LG_OK);
    for (int64_t offset = 4; offset < 10; offset++) {
        message = next_record(consumer);
        ck_assert_int_eq(lg_message_offset(message), offset);
        ck_assert_int_eq(value_index(message, NULL), (int)offset);
    }
    expect_nothing(consumer);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 10);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(seek_and_seek_timestamp_move_the_position) {
    append_range("t", 1, 0, 20, 4);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 1, LG_OFFSET_END), LG_OK);
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 1, 7), LG_OK);
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 7);
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 1, LG_OFFSET_BEGINNING),
                     LG_OK);
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 0);
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 1, LG_OFFSET_END), LG_OK);
    expect_nothing(consumer);

    /* Timestamps are 1000 + offset. */
    ck_assert_int_eq(lg_consumer_seek_timestamp(consumer, "t", 1, 1013), LG_OK);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 1, &position), LG_OK);
    ck_assert_int_eq(position, 13);
    const lg_message_t *message = next_record(consumer);
    ck_assert_int_eq(lg_message_offset(message), 13);
    ck_assert_int_eq(lg_message_timestamp(message, NULL), 1013);
    ck_assert_int_eq(lg_consumer_seek_timestamp(consumer, "t", 1, 0), LG_OK);
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 0);
    ck_assert_int_eq(lg_consumer_seek_timestamp(consumer, "t", 1, 999999),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 1, &position), LG_OK);
    ck_assert_int_eq(position, 20);
    expect_nothing(consumer);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(poll_gets_every_record_once_in_partition_order_round_robin) {
    const int per_partition = 500;
    for (int32_t p = 0; p < 3; p++)
        append_range("t", p, 0, per_partition, 7);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    for (int32_t p = 0; p < 3; p++)
        ck_assert_int_eq(lg_consumer_assign(consumer, "t", p,
                                            LG_OFFSET_BEGINNING),
                         LG_OK);
    int next[3] = {0, 0, 0};
    int32_t previous = -1, switches = 0;
    for (int got = 0; got < 3 * per_partition; got++) {
        const lg_message_t *message = next_record(consumer);
        int32_t partition = lg_message_partition(message), encoded;
        ck_assert(partition >= 0 && partition < 3);
        ck_assert_int_eq(value_index(message, &encoded), next[partition]);
        ck_assert_int_eq(encoded, partition);
        ck_assert_int_eq(lg_message_offset(message), next[partition]);
        next[partition]++;
        switches += partition != previous;
        previous = partition;
    }
    expect_nothing(consumer);
    /* Single-message polls rotate between partitions. */
    ck_assert_int_gt(switches, per_partition);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(poll_batch_returns_many_valid_until_next_poll) {
    append_range("t", 0, 0, 3000, 100);
    append_range("t", 2, 0, 3000, 100);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 2, 0), LG_OK);
    const lg_message_t *messages[1024];
    int next[3] = {0, 0, 0};
    int calls = 0;
    while (next[0] + next[2] < 6000) {
        size_t count;
        ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages, 1024,
                                                &count),
                         LG_OK);
        ck_assert_uint_gt(count, 0);
        calls++;
        /* Every message of the call is still readable at its end (ASan
         * would flag a freed fetch). */
        for (size_t i = 0; i < count; i++) {
            int32_t partition = lg_message_partition(messages[i]);
            ck_assert_int_eq(lg_message_error(messages[i]), LG_OK);
            ck_assert_int_eq(value_index(messages[i], NULL), next[partition]);
            next[partition]++;
        }
        for (size_t i = 0; i < count; i++) {
            size_t len;
            ck_assert_ptr_nonnull(lg_message_key(messages[i], &len));
            ck_assert_uint_eq(len, 1);
        }
    }
    ck_assert_int_le(calls, 20); /* many records per call */
    size_t count;
    ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages, 1024,
                                            &count),
                     LG_OK);
    ck_assert_uint_eq(count, 0);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(fetch_max_bytes_bounds_a_batch_poll) {
    append_range("t", 0, 0, 200, 50);
    lg_consumer_t *consumer = consumer_with("fetch.max.bytes", "40");
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    const lg_message_t *messages[256];
    size_t count;
    ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages, 256, &count),
                     LG_OK);
    /* Records of 1 + 3 bytes ("k", "0:0".."0:9"): the 10th reaches 40. */
    ck_assert_uint_eq(count, 10);
    /* At least one record, however small the limit. */
    lg_consumer_t *tiny = consumer_with("fetch.max.bytes", "0");
    ck_assert_int_eq(lg_consumer_assign(tiny, "t", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_poll_batch(tiny, 0, messages, 256, &count),
                     LG_OK);
    ck_assert_uint_eq(count, 1);
    lg_consumer_destroy(tiny);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(partition_eof_event_once_per_arrival_at_the_end) {
    lg_consumer_t *consumer = consumer_with("enable.partition.eof", "true");
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_BEGINNING),
                     LG_OK);
    const lg_message_t *message;
    /* Empty partition: at the end at once. */
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_error(message), LG_ERR_PARTITION_EOF);
    ck_assert_str_eq(lg_message_topic(message), "t");
    ck_assert_int_eq(lg_message_partition(message), 0);
    ck_assert_int_eq(lg_message_offset(message), 0);
    expect_nothing(consumer);
    expect_nothing(consumer);

    append_range("t", 0, 0, 5, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(lg_message_offset(next_record(consumer)), i);
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_error(message), LG_ERR_PARTITION_EOF);
    ck_assert_int_eq(lg_message_offset(message), 5);
    ck_assert_ptr_null(lg_message_value(message, NULL));
    expect_nothing(consumer);

    /* A seek is a new arrival. */
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 0, LG_OFFSET_END), LG_OK);
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_OK);
    ck_assert_int_eq(lg_message_error(message), LG_ERR_PARTITION_EOF);
    expect_nothing(consumer);
    lg_consumer_destroy(consumer);
}
END_TEST

typedef struct delayed_append {
    int delay_ms;
    int count;
    int64_t started_ns[64];
} delayed_append_t;

static void *append_later(void *arg) {
    delayed_append_t *job = arg;
    lg_records_t *records = lg_records_new();
    lg_records_add(records, NULL, 0, "x", 1, LG_TIMESTAMP_NOW);
    for (int i = 0; i < job->count; i++) {
        usleep((useconds_t)job->delay_ms * 1000);
        job->started_ns[i] = now_ns();
        lg_append(engine, "t", 1, records, LG_ACKS_LEADER, NULL);
    }
    lg_records_destroy(records);
    return NULL;
}

static int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(blocking_poll_is_woken_by_a_concurrent_append) {
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 1, LG_OFFSET_END), LG_OK);
    delayed_append_t job = {.delay_ms = 5, .count = 21};
    pthread_t thread;
    pthread_create(&thread, NULL, append_later, &job);
    int64_t latency[64];
    for (int i = 0; i < job.count; i++) {
        const lg_message_t *message;
        ck_assert_int_eq(lg_consumer_poll(consumer, -1, &message), LG_OK);
        int64_t woke = now_ns();
        ck_assert_ptr_nonnull(message);
        ck_assert_int_eq(lg_message_offset(message), i);
        latency[i] = woke - job.started_ns[i];
    }
    pthread_join(thread, NULL);
    qsort(latency, (size_t)job.count, sizeof latency[0], compare_int64);
    fprintf(stderr, "append -> blocked poll returns: median %" PRId64
                    " us, max %" PRId64 " us\n",
            latency[job.count / 2] / 1000, latency[job.count - 1] / 1000);
    ck_assert_int_lt(latency[job.count / 2], 50 * 1000000LL);
    lg_consumer_destroy(consumer);
}
END_TEST

static void *wake_later(void *arg) {
    usleep(20000);
    lg_consumer_wakeup(arg);
    return NULL;
}

START_TEST(wakeup_ends_a_poll_that_waits_forever) {
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END), LG_OK);
    pthread_t thread;
    pthread_create(&thread, NULL, wake_later, consumer);
    const lg_message_t *message = (const lg_message_t *)1;
    int64_t start = now_ns();
    ck_assert_int_eq(lg_consumer_poll(consumer, -1, &message), LG_OK);
    int64_t waited = now_ns() - start;
    pthread_join(thread, NULL);
    ck_assert_ptr_null(message);
    ck_assert_int_ge(waited, 15 * 1000000LL);
    ck_assert_int_lt(waited, 2000 * 1000000LL);
    /* A wakeup before the call ends the next wait at once; only one. */
    lg_consumer_wakeup(consumer);
    start = now_ns();
    ck_assert_int_eq(lg_consumer_poll(consumer, 5000, &message), LG_OK);
    ck_assert_ptr_null(message);
    ck_assert_int_lt(now_ns() - start, 1000 * 1000000LL);
    start = now_ns();
    ck_assert_int_eq(lg_consumer_poll(consumer, 30, &message), LG_OK);
    ck_assert_ptr_null(message);
    ck_assert_int_ge(now_ns() - start, 25 * 1000000LL);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(poll_with_timeout_returns_null_after_it) {
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    const lg_message_t *message;
    /* No assignment at all: waits the timeout. */
    int64_t start = now_ns();
    ck_assert_int_eq(lg_consumer_poll(consumer, 20, &message), LG_OK);
    ck_assert_ptr_null(message);
    ck_assert_int_ge(now_ns() - start, 15 * 1000000LL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 2, 0), LG_OK);
    start = now_ns();
    ck_assert_int_eq(lg_consumer_poll(consumer, 20, &message), LG_OK);
    ck_assert_ptr_null(message);
    int64_t waited = now_ns() - start;
    ck_assert_int_ge(waited, 15 * 1000000LL);
    ck_assert_int_lt(waited, 1000 * 1000000LL);
    lg_consumer_destroy(consumer);
}
END_TEST

static int readable(int fd, int timeout_ms) {
    struct pollfd descriptor = {.fd = fd, .events = POLLIN};
    return poll(&descriptor, 1, timeout_ms) == 1;
}

START_TEST(eventfd_becomes_readable_when_records_arrive) {
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    int fd = lg_consumer_eventfd(consumer);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END), LG_OK);
    expect_nothing(consumer);
    ck_assert(!readable(fd, 0));

    /* Arrival while the application is not inside poll. */
    append_range("t", 0, 0, 3, 1);
    ck_assert(readable(fd, 2000));
    /* Level-triggered: stays readable while poll has records. */
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 0);
    ck_assert(readable(fd, 0));
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 1);
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 2);
    expect_nothing(consumer);
    ck_assert(!readable(fd, 0));

    /* Again, for the next arrival. */
    append_range("t", 0, 3, 1, 1);
    ck_assert(readable(fd, 2000));
    ck_assert_int_eq(lg_message_offset(next_record(consumer)), 3);
    expect_nothing(consumer);
    ck_assert(!readable(fd, 0));

    /* A wakeup makes it readable until a poll consumes it. */
    lg_consumer_wakeup(consumer);
    ck_assert(readable(fd, 0));
    expect_nothing(consumer);
    ck_assert(!readable(fd, 0));

    /* Assigning a partition with records makes it readable at once. */
    append_range("t", 2, 0, 1, 1);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 2, 0), LG_OK);
    ck_assert(readable(fd, 0));
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(out_of_range_positions_follow_auto_offset_reset) {
    append_range("t", 0, 0, 10, 5);
    const lg_message_t *message;

    lg_consumer_t *earliest = consumer_with("auto.offset.reset", "earliest");
    ck_assert_int_eq(lg_consumer_assign(earliest, "t", 0, 1000), LG_OK);
    ck_assert_int_eq(lg_message_offset(next_record(earliest)), 0);
    lg_consumer_destroy(earliest);

    lg_consumer_t *latest = consumer_with("auto.offset.reset", "latest");
    ck_assert_int_eq(lg_consumer_assign(latest, "t", 0, 1000), LG_OK);
    expect_nothing(latest);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(latest, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 10);
    lg_consumer_destroy(latest);

    lg_consumer_t *none = consumer_with("auto.offset.reset", "none");
    ck_assert_int_eq(lg_consumer_assign(none, "t", 0, 1000), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(none, "t", 1, LG_OFFSET_END), LG_OK);
    ck_assert_int_eq(lg_consumer_poll(none, 0, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_error(message), LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(lg_message_partition(message), 0);
    ck_assert_int_eq(lg_message_offset(message), 1000);
    /* Reported once; the partition waits for a seek, others go on. */
    expect_nothing(none);
    append_range("t", 1, 0, 1, 1);
    ck_assert_int_eq(lg_message_partition(next_record(none)), 1);
    ck_assert_int_eq(lg_consumer_seek(none, "t", 0, 9), LG_OK);
    ck_assert_int_eq(lg_message_offset(next_record(none)), 9);
    lg_consumer_destroy(none);
}
END_TEST

START_TEST(unassign_stops_delivery_from_that_partition) {
    append_range("t", 0, 0, 5, 5);
    append_range("t", 1, 0, 5, 5);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 1, 0), LG_OK);
    const lg_message_t *first = next_record(consumer);
    int32_t gone = lg_message_partition(first);
    ck_assert_int_eq(lg_consumer_unassign(consumer, "t", gone), LG_OK);
    /* The message of the last poll is still valid after unassign. */
    ck_assert_str_eq(lg_message_topic(first), "t");
    ck_assert_int_eq(value_index(first, NULL), 0);
    ck_assert_int_eq(lg_consumer_unassign(consumer, "t", gone), LG_ERR_STATE);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(consumer, "t", gone, &position),
                     LG_ERR_STATE);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(lg_message_partition(next_record(consumer)), 1 - gone);
    expect_nothing(consumer);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(deleted_topic_is_reported_once_then_dropped) {
    ck_assert_int_eq(lg_topic_create(engine, "doomed", 1, NULL), LG_OK);
    append_range("doomed", 0, 0, 3, 3);
    append_range("t", 0, 0, 2, 2);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "doomed", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    ck_assert_int_eq(lg_topic_delete(engine, "doomed"), LG_OK);
    int unknown = 0, records = 0;
    for (;;) {
        const lg_message_t *message;
        ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_OK);
        if (!message)
            break;
        if (lg_message_error(message) == LG_ERR_UNKNOWN_TOPIC) {
            ck_assert_str_eq(lg_message_topic(message), "doomed");
            unknown++;
        } else {
            ck_assert_int_eq(lg_message_error(message), LG_OK);
            ck_assert_str_eq(lg_message_topic(message), "t");
            records++;
        }
    }
    ck_assert_int_eq(unknown, 1);
    ck_assert_int_eq(records, 2);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(consumer, "doomed", 0, &position),
                     LG_ERR_STATE);
    ck_assert_int_eq(lg_consumer_assign(consumer, "doomed", 0, 0),
                     LG_ERR_UNKNOWN_TOPIC);
    lg_consumer_destroy(consumer);
}
END_TEST

/* Appends one record to partition of topic: key NULL for a null key,
 * header_value non-NULL for two headers "h1" = header_value and "h2"
 * empty. */
static void append_one(const char *topic, int32_t partition, const char *key,
                       const char *value, const char *header_value,
                       int64_t timestamp) {
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, key, key ? strlen(key) : 0,
                                    value, strlen(value), timestamp),
                     LG_OK);
    if (header_value) {
        ck_assert_int_eq(lg_records_add_header(records, "h1", 2, header_value,
                                               strlen(header_value)),
                         LG_OK);
        ck_assert_int_eq(lg_records_add_header(records, "h2", 2, "", 0),
                         LG_OK);
    }
    ck_assert_int_eq(lg_append(engine, topic, partition, records,
                               LG_ACKS_LEADER, NULL),
                     LG_OK);
    lg_records_destroy(records);
}

START_TEST(records_at_the_end_show_only_their_own_fields) {
    /* At the end of a partition each record comes in a fetch of its own,
     * and used-up fetches are recycled for the next ones -- across
     * partitions and topics whose names differ in length.  No field of a
     * message may show an earlier record's, or another partition's. */
    const char *other = "a-topic-with-a-much-longer-name";
    ck_assert_int_eq(lg_topic_create(engine, other, 1, NULL), LG_OK);
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 1, LG_OFFSET_END),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, other, 0, LG_OFFSET_END),
                     LG_OK);
    expect_nothing(consumer);
    int64_t next_offset[3] = {0, 0, 0}; /* t/0, t/1, other/0 */
    for (int i = 0; i < 60; i++) {
        int which = i % 3;
        const char *topic = which == 2 ? other : "t";
        int32_t partition = which == 1 ? 1 : 0;
        char key[16], value[32], header[32];
        snprintf(key, sizeof key, "key%d", i);
        snprintf(value, sizeof value, "value of record %d", i);
        snprintf(header, sizeof header, "h%d", i);
        int with_key = i % 2 == 0, with_headers = i % 4 == 0;
        append_one(topic, partition, with_key ? key : NULL, value,
                   with_headers ? header : NULL, 5000 + i);
        const lg_message_t *message = next_record(consumer);
        ck_assert_str_eq(lg_message_topic(message), topic);
        ck_assert_int_eq(lg_message_partition(message), partition);
        ck_assert_int_eq(lg_message_offset(message), next_offset[which]++);
        int type = -1;
        ck_assert_int_eq(lg_message_timestamp(message, &type), 5000 + i);
        ck_assert_int_eq(type, 0);
        size_t len = 99;
        const void *bytes = lg_message_key(message, &len);
        if (with_key) {
            ck_assert_uint_eq(len, strlen(key));
            ck_assert_mem_eq(bytes, key, len);
        } else {
            ck_assert_ptr_null(bytes);
            ck_assert_uint_eq(len, 0);
        }
        bytes = lg_message_value(message, &len);
        ck_assert_uint_eq(len, strlen(value));
        ck_assert_mem_eq(bytes, value, len);
        ck_assert_uint_eq(lg_message_header_count(message),
                          with_headers ? 2 : 0);
        if (with_headers) {
            const char *name;
            size_t name_len;
            ck_assert_int_eq(lg_message_header(message, 0, &name, &name_len,
                                               &bytes, &len),
                             LG_OK);
            ck_assert_uint_eq(name_len, 2);
            ck_assert_mem_eq(name, "h1", 2);
            ck_assert_uint_eq(len, strlen(header));
            ck_assert_mem_eq(bytes, header, len);
        }
        if (i % 5 == 0) /* an empty round between records retires too */
            expect_nothing(consumer);
        if (i == 30) {
            /* A fetch of many records (several message chunks) goes
             * through the recycling as well. */
            append_range("t", 0, 0, 200, 200);
            const lg_message_t *messages[256];
            size_t count = 0;
            for (int got = 0; got < 200; got += (int)count) {
                ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages,
                                                        256, &count),
                                 LG_OK);
                ck_assert_uint_gt(count, 0);
                for (size_t j = 0; j < count; j++) {
                    ck_assert_int_eq(lg_message_offset(messages[j]),
                                     next_offset[0]++);
                    ck_assert_int_eq(value_index(messages[j], NULL),
                                     got + (int)j);
                }
            }
        }
    }
    expect_nothing(consumer);
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(one_batch_poll_over_recycled_fetches_keeps_every_message) {
    /* Spares exist once records have been polled at the end; a batch poll
     * that then refills several partitions takes several of them, and
     * every message of the call stays intact to its end. */
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    for (int32_t p = 0; p < 3; p++)
        ck_assert_int_eq(lg_consumer_assign(consumer, "t", p, LG_OFFSET_END),
                         LG_OK);
    for (int round = 0; round < 5; round++) {
        for (int32_t p = 0; p < 3; p++)
            append_range("t", p, round, 1, 1);
        const lg_message_t *messages[8];
        size_t count = 0;
        ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages, 8,
                                                &count),
                         LG_OK);
        ck_assert_uint_eq(count, 3);
        int seen[3] = {0, 0, 0};
        for (size_t i = 0; i < count; i++) {
            int32_t partition;
            ck_assert_int_eq(value_index(messages[i], &partition), round);
            ck_assert_int_eq(lg_message_partition(messages[i]), partition);
            ck_assert_int_eq(lg_message_offset(messages[i]), round);
            seen[partition]++;
        }
        ck_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
        expect_nothing(consumer);
    }
    lg_consumer_destroy(consumer);
}
END_TEST

START_TEST(consumer_with_spare_fetches_outlives_its_engine) {
    /* Destroy order never matters: the spares go with the engine's close
     * (LeakSanitizer checks that nothing is left) and destroy frees the
     * rest. */
    lg_consumer_t *consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    for (int i = 0; i < 5; i++) {
        append_range("t", 0, i, 1, 1);
        ck_assert_int_eq(value_index(next_record(consumer), NULL), i);
        expect_nothing(consumer);
    }
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    const lg_message_t *message;
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &message), LG_ERR_CLOSED);
    lg_consumer_destroy(consumer);
    /* teardown closes an engine */
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
}
END_TEST

START_TEST(messages_from_lg_read_have_no_source) {
    append_range("t", 0, 0, 1, 1);
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engine, "t", 0, 0, 4096, &fetch), LG_OK);
    const lg_message_t *message;
    ck_assert_int_eq(lg_fetch_next(fetch, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_ptr_null(lg_message_topic(message));
    ck_assert_int_eq(lg_message_partition(message), -1);
    ck_assert_int_eq(lg_message_error(message), LG_OK);
    lg_fetch_destroy(fetch);
}
END_TEST

START_TEST(bad_arguments_are_rejected) {
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(NULL, NULL, &consumer), LG_ERR_INVALID_ARG);
    ck_assert_ptr_null(consumer);
    ck_assert_int_eq(lg_consumer_new(engine, NULL, NULL), LG_ERR_INVALID_ARG);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "100000"), LG_OK);
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer),
                     LG_ERR_INVALID_CONFIG);
    ck_assert(strstr(lg_last_error_message(), "segment.bytes") != NULL);
    lg_conf_destroy(conf);

    consumer = consumer_with(NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(NULL, "t", 0, 0), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_assign(consumer, NULL, 0, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", -1, 0),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 3, 0),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_consumer_assign(consumer, "nope", 0, 0),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, -3),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_unassign(NULL, "t", 0), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_unassign(consumer, NULL, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_unassign(consumer, "t", 0), LG_ERR_STATE);
    ck_assert_int_eq(lg_consumer_seek(NULL, "t", 0, 0), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 0, 0), LG_ERR_STATE);
    ck_assert_int_eq(lg_consumer_seek_timestamp(NULL, "t", 0, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_seek_timestamp(consumer, "t", 0, 0),
                     LG_ERR_STATE);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(NULL, "t", 0, &position),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position),
                     LG_ERR_STATE);

    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 0, -5),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_seek(consumer, NULL, 0, 0),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_seek_timestamp(consumer, "t", 0, -1),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_position(consumer, NULL, 0, &position),
                     LG_ERR_INVALID_ARG);

    const lg_message_t *message, *messages[4];
    size_t count;
    ck_assert_int_eq(lg_consumer_poll(NULL, 0, &message), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, NULL), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll(consumer, -2, &message),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll_batch(NULL, 0, messages, 4, &count),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, NULL, 4, &count),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages, 0, &count),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll_batch(consumer, 0, messages, 4, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_poll_batch(consumer, -7, messages, 4, &count),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_consumer_eventfd(NULL), -1);
    lg_consumer_wakeup(NULL);
    lg_consumer_destroy(NULL);

    ck_assert_ptr_null(lg_message_topic(NULL));
    ck_assert_int_eq(lg_message_partition(NULL), -1);
    ck_assert_int_eq(lg_message_error(NULL), LG_ERR_INVALID_ARG);
    lg_consumer_destroy(consumer);
}
END_TEST

/* ------------------------------------------------------------------------
 * Consumers racing appenders
 * --------------------------------------------------------------------- */

#define RACE_PARTITIONS 4
#define RACE_RECORDS 1500

static void *race_appender(void *arg) {
    int32_t partition = (int32_t)(intptr_t)arg;
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < RACE_RECORDS;) {
        lg_records_clear(records);
        int batch = 1 + i % 4;
        for (int j = 0; j < batch && i < RACE_RECORDS; j++, i++) {
            char value[32];
            int len = snprintf(value, sizeof value, "%d:%d", (int)partition, i);
            lg_records_add(records, NULL, 0, value, (size_t)len,
                           LG_TIMESTAMP_NOW);
        }
        if (lg_append(engine, "race", partition, records,
                      i % 3 ? LG_ACKS_LEADER : LG_ACKS_NONE, NULL) != LG_OK)
            abort();
    }
    lg_records_destroy(records);
    return NULL;
}

typedef struct race_reader {
    int use_batch;
    int next[RACE_PARTITIONS];
    int failures;
} race_reader_t;

static void *race_consumer(void *arg) {
    race_reader_t *reader = arg;
    lg_consumer_t *consumer;
    if (lg_consumer_new(engine, NULL, &consumer) != LG_OK)
        abort();
    for (int32_t p = 0; p < RACE_PARTITIONS; p++)
        if (lg_consumer_assign(consumer, "race", p, LG_OFFSET_BEGINNING))
            abort();
    int total = 0;
    int64_t give_up = now_ns() + 60 * 1000000000LL;
    while (total < RACE_PARTITIONS * RACE_RECORDS && now_ns() < give_up) {
        const lg_message_t *messages[64];
        size_t count = 0;
        if (reader->use_batch) {
            if (lg_consumer_poll_batch(consumer, 100, messages, 64, &count))
                reader->failures++;
        } else {
            if (lg_consumer_poll(consumer, 100, &messages[0]))
                reader->failures++;
            count = messages[0] != NULL;
        }
        for (size_t i = 0; i < count; i++) {
            int32_t partition;
            if (lg_message_error(messages[i]) != LG_OK) {
                reader->failures++;
                continue;
            }
            size_t len;
            const char *value = lg_message_value(messages[i], &len);
            char copy[32];
            memcpy(copy, value, len < 31 ? len : 31);
            copy[len < 31 ? len : 31] = '\0';
            int index;
            if (sscanf(copy, "%d:%d", &partition, &index) != 2 ||
                partition != lg_message_partition(messages[i]) ||
                index != reader->next[partition] ||
                lg_message_offset(messages[i]) != index)
                reader->failures++;
            reader->next[partition] = index + 1;
            total++;
        }
    }
    lg_consumer_destroy(consumer);
    return NULL;
}

START_TEST(consumers_racing_appenders_see_every_record_once_in_order) {
    ck_assert_int_eq(lg_topic_create(engine, "race", RACE_PARTITIONS, NULL),
                     LG_OK);
    race_reader_t readers[2] = {{.use_batch = 0}, {.use_batch = 1}};
    pthread_t consumers[2], appenders[RACE_PARTITIONS];
    for (int c = 0; c < 2; c++)
        pthread_create(&consumers[c], NULL, race_consumer, &readers[c]);
    for (int p = 0; p < RACE_PARTITIONS; p++)
        pthread_create(&appenders[p], NULL, race_appender,
                       (void *)(intptr_t)p);
    for (int p = 0; p < RACE_PARTITIONS; p++)
        pthread_join(appenders[p], NULL);
    for (int c = 0; c < 2; c++)
        pthread_join(consumers[c], NULL);
    for (int c = 0; c < 2; c++) {
        ck_assert_int_eq(readers[c].failures, 0);
        for (int p = 0; p < RACE_PARTITIONS; p++)
            ck_assert_int_eq(readers[c].next[p], RACE_RECORDS);
    }
}
END_TEST

/* Lock-step single appends, each of which must wake the consumer blocked
 * in lg_consumer_poll(-1).  The poll's safety slice is off (test hook),
 * so a lost wake-up would block it for ever: the appender then gives up
 * after a deadline far beyond any scheduling delay, ends the poll with
 * lg_consumer_wakeup and the test fails. */
enum { LOCKSTEP_RECORDS = 1500 };

typedef struct {
    lg_consumer_t *consumer;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int received;
    int stop;
    int wrong; /* records out of order */
    int pin;   /* the consumer's thread pins itself to one CPU */
} lockstep_t;

static void *lockstep_consumer(void *arg) {
    lockstep_t *state = arg;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (state->pin && cpus > 1) {
        /* A pinned spinner pauses instead of yielding (consumer.h). */
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)(cpus - 1), &set);
        ck_assert_int_eq(pthread_setaffinity_np(pthread_self(), sizeof set,
                                                &set),
                         0);
    }
    for (;;) {
        const lg_message_t *message;
        ck_assert_int_eq(lg_consumer_poll(state->consumer, -1, &message),
                         LG_OK);
        pthread_mutex_lock(&state->lock);
        if (message) {
            /* The value names the offset: a record read through a
             * recycled fetch must not show another's bytes. */
            size_t len;
            const char *value = lg_message_value(message, &len);
            char expected[24];
            int expected_len = snprintf(expected, sizeof expected, "%d",
                                        state->received);
            if (lg_message_offset(message) != state->received ||
                len != (size_t)expected_len ||
                memcmp(value, expected, len) != 0)
                state->wrong++;
            state->received++;
            pthread_cond_broadcast(&state->cond);
        }
        int done = state->stop || state->received == LOCKSTEP_RECORDS;
        pthread_mutex_unlock(&state->lock);
        if (done)
            return NULL;
    }
}

static void lockstep(const char *poll_spin_us, int pin) {
    lgi_consumer_set_wait_slice_ms(-1);
    lockstep_t state = {.consumer = consumer_with("poll.spin.us",
                                                  poll_spin_us),
                        .pin = pin};
    pthread_mutex_init(&state.lock, NULL);
    pthread_cond_init(&state.cond, NULL);
    ck_assert_int_eq(lg_consumer_assign(state.consumer, "t", 2,
                                        LG_OFFSET_BEGINNING),
                     LG_OK);
    pthread_t thread;
    pthread_create(&thread, NULL, lockstep_consumer, &state);
    lg_records_t *records = lg_records_new();
    unsigned seed = 7;
    int lost_at = -1;
    for (int i = 0; i < LOCKSTEP_RECORDS && lost_at < 0; i++) {
        /* Vary the pause so the poll is caught spinning or asleep. */
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 2)
            usleep((seed >> 8) % 200);
        char value[24];
        int len = snprintf(value, sizeof value, "%d", i);
        lg_records_clear(records);
        ck_assert_int_eq(lg_records_add(records, NULL, 0, value, (size_t)len,
                                        LG_TIMESTAMP_NOW),
                         LG_OK);
        ck_assert_int_eq(lg_append(engine, "t", 2, records, LG_ACKS_LEADER,
                                   NULL),
                         LG_OK);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 20;
        pthread_mutex_lock(&state.lock);
        while (state.received <= i &&
               pthread_cond_timedwait(&state.cond, &state.lock, &deadline) ==
                   0)
            ;
        if (state.received <= i) {
            lost_at = i;
            state.stop = 1;
        }
        pthread_mutex_unlock(&state.lock);
    }
    if (lost_at >= 0)
        lg_consumer_wakeup(state.consumer);
    pthread_join(thread, NULL);
    lgi_consumer_set_wait_slice_ms(LGI_CONSUMER_WAIT_SLICE_MS);
    ck_assert_msg(lost_at < 0, "record %d never woke the blocked poll",
                  lost_at);
    ck_assert_int_eq(state.received, LOCKSTEP_RECORDS);
    ck_assert_int_eq(state.wrong, 0);
    lg_records_destroy(records);
    lg_consumer_destroy(state.consumer);
    pthread_cond_destroy(&state.cond);
    pthread_mutex_destroy(&state.lock);
}

START_TEST(each_single_append_wakes_a_sleeping_blocked_poll) {
    lockstep("0", 0);
}
END_TEST

START_TEST(each_single_append_wakes_a_spinning_blocked_poll) {
    lockstep("50", 0);
}
END_TEST

START_TEST(each_single_append_wakes_a_pinned_spinning_blocked_poll) {
    lockstep("50", 1);
}
END_TEST

START_TEST(poll_spin_is_range_checked) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "poll.spin.us", "-1"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "poll.spin.us"));
    ck_assert_int_eq(lg_conf_set(conf, "poll.spin.us", "100001"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "0 .. 100000"));
    ck_assert_int_eq(lg_conf_set(conf, "poll.spin.us", "100000"), LG_OK);
    /* A consumer property, not an engine one. */
    lg_engine_t *other;
    char *other_dir = lgt_tmpdir("consumer-spin");
    ck_assert_int_eq(lg_engine_open(other_dir, conf, &other),
                     LG_ERR_INVALID_CONFIG);
    lgt_rmrf(other_dir);
    free(other_dir);
    lg_conf_destroy(conf);
}
END_TEST

START_TEST(poll_without_spin_still_gets_records_and_times_out) {
    lg_consumer_t *consumer = consumer_with("poll.spin.us", "0"); /* default */
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    const lg_message_t *message;
    ck_assert_int_eq(lg_consumer_poll(consumer, 5, &message), LG_OK);
    ck_assert_ptr_null(message);
    append_range("t", 0, 0, 1, 1);
    ck_assert_int_eq(lg_consumer_poll(consumer, 5000, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(value_index(message, NULL), 0);
    lg_consumer_destroy(consumer);
}
END_TEST

/* The spin ends at the call's timeout, not at a longer poll.spin.us. */
START_TEST(poll_spin_ends_at_the_timeout) {
    lg_consumer_t *consumer = consumer_with("poll.spin.us", "100000");
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    const lg_message_t *message;
    int64_t start = lgt_monotonic_ms();
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(lg_consumer_poll(consumer, 10, &message), LG_OK);
        ck_assert_ptr_null(message);
    }
    int64_t elapsed = lgt_monotonic_ms() - start;
    /* 5 x 10 ms; a spin to poll.spin.us would take 500 ms at least. */
    ck_assert_msg(elapsed < 400, "5 polls of 10 ms took %" PRId64 " ms",
                  elapsed);
    lg_consumer_destroy(consumer);
}
END_TEST

int main(void) {
    Suite *s = suite_create("consumer");
    TCase *tc = tcase_create("consumer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, assign_at_beginning_end_and_offset);
    tcase_add_test(tc, seek_and_seek_timestamp_move_the_position);
    tcase_add_test(tc, poll_gets_every_record_once_in_partition_order_round_robin);
    tcase_add_test(tc, poll_batch_returns_many_valid_until_next_poll);
    tcase_add_test(tc, fetch_max_bytes_bounds_a_batch_poll);
    tcase_add_test(tc, partition_eof_event_once_per_arrival_at_the_end);
    tcase_add_test(tc, blocking_poll_is_woken_by_a_concurrent_append);
    tcase_add_test(tc, wakeup_ends_a_poll_that_waits_forever);
    tcase_add_test(tc, poll_with_timeout_returns_null_after_it);
    tcase_add_test(tc, eventfd_becomes_readable_when_records_arrive);
    tcase_add_test(tc, out_of_range_positions_follow_auto_offset_reset);
    tcase_add_test(tc, unassign_stops_delivery_from_that_partition);
    tcase_add_test(tc, deleted_topic_is_reported_once_then_dropped);
    tcase_add_test(tc, records_at_the_end_show_only_their_own_fields);
    tcase_add_test(tc, one_batch_poll_over_recycled_fetches_keeps_every_message);
    tcase_add_test(tc, consumer_with_spare_fetches_outlives_its_engine);
    tcase_add_test(tc, messages_from_lg_read_have_no_source);
    tcase_add_test(tc, bad_arguments_are_rejected);
    tcase_add_test(tc, consumers_racing_appenders_see_every_record_once_in_order);
    tcase_add_test(tc, each_single_append_wakes_a_sleeping_blocked_poll);
    tcase_add_test(tc, each_single_append_wakes_a_spinning_blocked_poll);
    tcase_add_test(tc, each_single_append_wakes_a_pinned_spinning_blocked_poll);
    tcase_add_test(tc, poll_spin_is_range_checked);
    tcase_add_test(tc, poll_without_spin_still_gets_records_and_times_out);
    tcase_add_test(tc, poll_spin_ends_at_the_timeout);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
