/*
 * test_partition_async.c -- asynchronous appends (the producer's path) and
 * watchers (the consumer's wake-up): every append completes exactly once,
 * in offset order per partition, with the durability its acks asked for,
 * errors included; watchers hear about every advance of the published end.
 */
#include "logtest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static char *dir;
static lgi_io_t *io;
static lgi_log_config_t config;

static void setup(void) {
    dir = lgt_tmpdir("partition-async");
    io = lgt_io();
    lgt_default_config(&config);
}

static void teardown(void) {
    lgi_io_close(io);
    lgt_rmrf(dir);
    free(dir);
}

static lgi_partition_t *open_partition(void) {
    lgi_partition_t *partition = NULL;
    ck_assert_int_eq(lgi_partition_open(dir, &config, io, 0, 0, 1000,
                                        &partition),
                     LG_OK);
    return partition;
}

/* Completion record shared with the I/O thread. */
typedef struct outcome {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int calls;
    lg_err_t errors[4096];
    int64_t offsets[4096];
    /* fsyncs issued by the I/O engine when the report arrived */
    uint64_t fsyncs_at[4096];
} outcome_t;

static outcome_t outcome;

static void reset_outcome(void) {
    pthread_mutex_init(&outcome.mutex, NULL);
    pthread_cond_init(&outcome.cond, NULL);
    outcome.calls = 0;
}

static void done(void *opaque, lg_err_t err, int64_t base_offset) {
    (void)opaque;
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    pthread_mutex_lock(&outcome.mutex);
    outcome.errors[outcome.calls] = err;
    outcome.offsets[outcome.calls] = base_offset;
    outcome.fsyncs_at[outcome.calls] = stats.fsyncs;
    outcome.calls++;
    pthread_cond_broadcast(&outcome.cond);
    pthread_mutex_unlock(&outcome.mutex);
}

static void wait_calls(int n) {
    pthread_mutex_lock(&outcome.mutex);
    while (outcome.calls < n)
        pthread_cond_wait(&outcome.cond, &outcome.mutex);
    pthread_mutex_unlock(&outcome.mutex);
}

static void append_async(lgi_partition_t *partition, int records, int acks) {
    size_t len;
    uint8_t *batch = lgt_batch(records, 1000, 10, &len);
    lgi_partition_append_async(partition, batch, len, acks, 1000, done, NULL);
}

START_TEST(async_appends_complete_once_in_offset_order) {
    lgi_partition_t *partition = open_partition();
    reset_outcome();
    for (int i = 0; i < 300; i++)
        append_async(partition, 2, (int[]){LG_ACKS_NONE, LG_ACKS_LEADER,
                                           LG_ACKS_ALL}[i % 3]);
    wait_calls(300);
    ck_assert_int_eq(lgi_partition_flush(partition), LG_OK);
    usleep(10000); /* a duplicate report would arrive by now */
    ck_assert_int_eq(outcome.calls, 300);
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(outcome.errors[i], LG_OK);
    }
    /* every base offset reported once */
    int seen[600] = {0};
    for (int i = 0; i < 300; i++) {
        ck_assert(outcome.offsets[i] % 2 == 0 && outcome.offsets[i] < 600);
        ck_assert_int_eq(seen[outcome.offsets[i]]++, 0);
    }
    int64_t end;
    lgi_partition_watermarks(partition, NULL, &end);
    ck_assert_int_eq(end, 600);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(async_acks_all_reports_only_after_fdatasync) {
    lgi_partition_t *partition = open_partition();
    reset_outcome();
    lgi_io_stats_t before;
    lgi_io_get_stats(io, &before);
    /* acks=1 in front makes the acks=all batch need the partition's own
     * asynchronous fdatasync (its LGI_IO_SYNC alone covers only itself). */
    append_async(partition, 1, LG_ACKS_LEADER);
    append_async(partition, 1, LG_ACKS_ALL);
    wait_calls(2);
    ck_assert_int_eq(outcome.errors[1], LG_OK);
    ck_assert(outcome.fsyncs_at[1] > before.fsyncs);
    ck_assert_int_eq(lgi_partition_recovery_point(partition), 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(async_error_before_hand_off_is_reported_on_caller_thread) {
    config.max_message_bytes = 100;
    lgi_partition_t *partition = open_partition();
    reset_outcome();
    size_t len;
    uint8_t *batch = lgt_batch(1, 1000, 500, &len);
    lgi_partition_append_async(partition, batch, len, LG_ACKS_LEADER, 1000,
                               done, NULL);
    /* reported before the call returned */
    ck_assert_int_eq(outcome.calls, 1);
    ck_assert_int_eq(outcome.errors[0], LG_ERR_RECORD_TOO_LARGE);
    ck_assert_int_eq(outcome.offsets[0], -1);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

static atomic_int fail_writes, fail_fsyncs;

static int fault(void *opaque, const lgi_io_req_t *req, int stage) {
    (void)opaque;
    (void)req;
    if (stage == LGI_IO_FAULT_WRITE && atomic_load(&fail_writes) > 0) {
        atomic_fetch_sub(&fail_writes, 1);
        return -ENOSPC;
    }
    if (stage == LGI_IO_FAULT_FSYNC && atomic_load(&fail_fsyncs) > 0) {
        atomic_fetch_sub(&fail_fsyncs, 1);
        return -EIO;
    }
    return 0;
}

START_TEST(async_write_failure_is_reported_and_log_rolls_back) {
    lgi_partition_t *partition = open_partition();
    reset_outcome();
    append_async(partition, 1, LG_ACKS_LEADER);
    wait_calls(1);
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_writes, 1);
    append_async(partition, 1, LG_ACKS_LEADER);
    wait_calls(2);
    ck_assert_int_eq(outcome.errors[1], LG_ERR_DISK_FULL);
    lgi_io_set_fault(io, NULL, NULL);
    /* space is back: the next append lands right after the first */
    append_async(partition, 1, LG_ACKS_LEADER);
    wait_calls(3);
    ck_assert_int_eq(outcome.errors[2], LG_OK);
    ck_assert_int_eq(outcome.offsets[2], 1);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(async_fsync_failure_fails_waiters_and_fences) {
    lgi_partition_t *partition = open_partition();
    reset_outcome();
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_fsyncs, 1000);
    append_async(partition, 1, LG_ACKS_LEADER);
    append_async(partition, 1, LG_ACKS_ALL);
    wait_calls(2);
    ck_assert_int_eq(outcome.errors[0], LG_OK);
    ck_assert_int_eq(outcome.errors[1], LG_ERR_IO);
    append_async(partition, 1, LG_ACKS_LEADER);
    wait_calls(3);
    ck_assert_int_eq(outcome.errors[2], LG_ERR_READ_ONLY);
    atomic_store(&fail_fsyncs, 0);
    lgi_io_set_fault(io, NULL, NULL);
    lgi_partition_close(partition);
}
END_TEST

typedef struct counting_watch {
    lgi_partition_watch_t watch;
    atomic_int notified;
    atomic_int signalled;
    atomic_int in_signal;   /* 1 while a signal runs */
    int slow_signal_ms;     /* how long each signal takes */
} counting_watch_t;

/* Asks for a signal every other notify. */
static int count_notify(lgi_partition_watch_t *watch) {
    counting_watch_t *w = (counting_watch_t *)watch;
    return atomic_fetch_add(&w->notified, 1) % 2 == 0;
}

static void count_signal(lgi_partition_watch_t *watch) {
    counting_watch_t *w = (counting_watch_t *)watch;
    atomic_store(&w->in_signal, 1);
    if (w->slow_signal_ms)
        usleep((useconds_t)w->slow_signal_ms * 1000);
    atomic_fetch_add(&w->signalled, 1);
    atomic_store(&w->in_signal, 0);
}

START_TEST(watchers_hear_published_end_advance) {
    lgi_partition_t *partition = open_partition();
    counting_watch_t w = {.watch = {.notify = count_notify,
                                    .signal = count_signal}};
    atomic_init(&w.notified, 0);
    atomic_init(&w.signalled, 0);
    lgi_partition_watch(partition, &w.watch);
    ck_assert_int_eq(lgi_partition_published_end(partition), 0);
    lgt_append_n(partition, 5, 3, 10, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_published_end(partition), 15);
    /* at least once per append (writes may complete together) */
    ck_assert(atomic_load(&w.notified) >= 1);
    int before = atomic_load(&w.notified);
    lgi_partition_unwatch(partition, &w.watch);
    /* Every notify that asked for a signal got exactly one. */
    ck_assert_int_eq(atomic_load(&w.signalled), (before + 1) / 2);
    lgt_append_n(partition, 5, 1, 10, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(atomic_load(&w.notified), before);
    ck_assert_int_eq(atomic_load(&w.signalled), (before + 1) / 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* A signal runs after the appender released the mutex; unwatch must
 * still not return while one for its watch is on its way (the watcher
 * frees itself next). */
static void *append_one(void *arg) {
    lgt_append_n(arg, 1, 1, 10, 1000, LG_ACKS_LEADER);
    return NULL;
}

START_TEST(unwatch_waits_for_a_signal_under_way) {
    lgi_partition_t *partition = open_partition();
    counting_watch_t w = {.watch = {.notify = count_notify,
                                    .signal = count_signal},
                          .slow_signal_ms = 200};
    atomic_init(&w.notified, 0);
    atomic_init(&w.signalled, 0);
    atomic_init(&w.in_signal, 0);
    lgi_partition_watch(partition, &w.watch);
    pthread_t thread;
    pthread_create(&thread, NULL, append_one, partition);
    while (!atomic_load(&w.in_signal))
        usleep(100);
    /* The mutex is free while the signal runs: a read goes through. */
    int64_t start, end;
    lgi_partition_watermarks(partition, &start, &end);
    ck_assert_int_eq(end, 1);
    lgi_partition_unwatch(partition, &w.watch);
    ck_assert_int_eq(atomic_load(&w.in_signal), 0);
    ck_assert_int_eq(atomic_load(&w.signalled), 1);
    pthread_join(thread, NULL);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* Appenders and a lock-free reader of the published end: TSan checks the
 * atomic accesses; the reader checks the end never moves backwards and
 * that everything below it is readable. */
static lgi_partition_t *shared;
static atomic_int stop_reader;

static void *appender(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) {
        size_t len;
        uint8_t *batch = lgt_batch(1, 1000, 10, &len);
        lgi_partition_append_async(shared, batch, len, LG_ACKS_LEADER, 1000,
                                   done, NULL);
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    int64_t last = 0;
    while (!atomic_load(&stop_reader)) {
        int64_t end = lgi_partition_published_end(shared);
        ck_assert(end >= last);
        if (end > 0) {
            uint8_t *data = NULL;
            size_t len = 0;
            ck_assert_int_eq(lgi_partition_read(shared, end - 1, 4096, &data,
                                                &len),
                             LG_OK);
            ck_assert(len > 0);
            lgi_free(data);
        }
        last = end;
    }
    return NULL;
}

START_TEST(published_end_is_safe_to_read_without_the_lock) {
    shared = open_partition();
    reset_outcome();
    atomic_store(&stop_reader, 0);
    pthread_t appenders[3], reading;
    pthread_create(&reading, NULL, reader, NULL);
    for (int i = 0; i < 3; i++)
        pthread_create(&appenders[i], NULL, appender, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(appenders[i], NULL);
    wait_calls(600);
    atomic_store(&stop_reader, 1);
    pthread_join(reading, NULL);
    ck_assert_int_eq(lgi_partition_published_end(shared), 600);
    ck_assert_int_eq(lgi_partition_close(shared), LG_OK);
}
END_TEST

static Suite *async_suite(void) {
    Suite *suite = suite_create("partition_async");
    TCase *tc = tcase_create("async");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, async_appends_complete_once_in_offset_order);
    tcase_add_test(tc, async_acks_all_reports_only_after_fdatasync);
    tcase_add_test(tc, async_error_before_hand_off_is_reported_on_caller_thread);
    tcase_add_test(tc, async_write_failure_is_reported_and_log_rolls_back);
    tcase_add_test(tc, async_fsync_failure_fails_waiters_and_fences);
    tcase_add_test(tc, watchers_hear_published_end_advance);
    tcase_add_test(tc, unwatch_waits_for_a_signal_under_way);
    tcase_add_test(tc, published_end_is_safe_to_read_without_the_lock);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(async_suite()); }
