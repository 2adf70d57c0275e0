/*
 * consume_bench.c -- consumer throughput from the page cache and
 * produce-to-consume latency of a blocking poll.
 *
 *   usage: consume_bench [data-dir] [records]
 *
 * Fills one partition with `records` (default 5,000,000) records of a
 * 100-byte value and no key, 1000 to a batch, then reads them all back
 * with lg_consumer_poll_batch (4096 at a time) and with lg_consumer_poll,
 * each under isolation.level read_uncommitted and read_committed (the
 * default: the same records, with the LSO check and the aborted-
 * transaction lookup on every read), printing records/s and MB/s of
 * value bytes.
 * The data was just written, so it is read from the page cache: this
 * measures the consumer (read, batch walk, record decode), not the disk.
 *
 * Then the latency run: one thread appends single records with
 * LG_ACKS_LEADER, about 5000 per second, while the consumer blocks in
 * lg_consumer_poll(-1); for each record, the time from just before its
 * lg_append call to the return of the poll that delivered it, as
 * p50/p99/p99.9 in microseconds.  The append's own write (the I/O thread
 * writing the batch) is part of that time, so the line also shows the
 * p50 of lg_append alone for comparison.  The data directory is removed
 * at the end.
 */
#include <liblog.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VALUE_BYTES 100
#define BATCH_RECORDS 1000
#define LATENCY_RECORDS 5000
#define LATENCY_GAP_US 200

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void check(const char *what, lg_err_t err) {
    if (err == LG_OK)
        return;
    fprintf(stderr, "consume_bench: %s: %s (%s)\n", what, lg_strerror(err),
            lg_last_error_message());
    exit(EXIT_FAILURE);
}

static void fill(lg_engine_t *engine, long records) {
    char value[VALUE_BYTES];
    memset(value, 'v', sizeof value);
    lg_records_t *list = lg_records_new();
    for (long i = 0; i < records;) {
        lg_records_clear(list);
        for (int j = 0; j < BATCH_RECORDS && i < records; j++, i++)
            check("lg_records_add",
                  lg_records_add(list, NULL, 0, value, sizeof value,
                                 LG_TIMESTAMP_NOW));
        check("lg_append",
              lg_append(engine, "bench", 0, list, LG_ACKS_NONE, NULL));
    }
    lg_records_destroy(list);
    /* LG_ACKS_NONE returns at hand-off: wait until all is readable. */
    int64_t high = 0;
    while (high < records) {
        check("lg_watermarks", lg_watermarks(engine, "bench", 0, NULL, &high));
        if (high < records)
            usleep(1000);
    }
}

static void report(const char *how, long records, int64_t elapsed_ns) {
    double seconds = (double)elapsed_ns / 1e9;
    printf("%-45s %10.0f records/s %8.1f MB/s  (%ld records, %.3f s)\n", how,
           (double)records / seconds,
           (double)records * VALUE_BYTES / seconds / 1e6, records, seconds);
}

static void consume_all(lg_engine_t *engine, long records, int batch,
                        const char *isolation) {
    lg_consumer_t *consumer;
    lg_conf_t *conf = lg_conf_new();
    check("isolation.level", lg_conf_set(conf, "isolation.level", isolation));
    check("lg_consumer_new", lg_consumer_new(engine, conf, &consumer));
    lg_conf_destroy(conf);
    check("lg_consumer_assign",
          lg_consumer_assign(consumer, "bench", 0, LG_OFFSET_BEGINNING));
    static const lg_message_t *messages[4096];
    long got = 0;
    uint64_t checksum = 0;
    int64_t start = now_ns();
    while (got < records) {
        size_t count = 0;
        if (batch) {
            check("lg_consumer_poll_batch",
                  lg_consumer_poll_batch(consumer, 1000, messages, 4096,
                                         &count));
        } else {
            check("lg_consumer_poll",
                  lg_consumer_poll(consumer, 1000, &messages[0]));
            count = messages[0] != NULL;
        }
        for (size_t i = 0; i < count; i++) {
            size_t len;
            lg_message_value(messages[i], &len);
            checksum += len; /* touch every message */
        }
        got += (long)count;
    }
    char how[64];
    snprintf(how, sizeof how, "%s, %s", batch ? "poll_batch (4096)" : "poll",
             isolation);
    report(how, got, now_ns() - start);
    if (checksum != (uint64_t)records * VALUE_BYTES)
        fprintf(stderr, "consume_bench: value bytes do not add up\n");
    lg_consumer_destroy(consumer);
}

typedef struct latency_job {
    lg_engine_t *engine;
    int64_t base_offset;
    _Atomic int64_t started[LATENCY_RECORDS];
    int64_t append_ns[LATENCY_RECORDS];
} latency_job_t;

static void *latency_appender(void *arg) {
    latency_job_t *job = arg;
    char value[VALUE_BYTES];
    memset(value, 'l', sizeof value);
    lg_records_t *list = lg_records_new();
    check("lg_records_add", lg_records_add(list, NULL, 0, value, sizeof value,
                                           LG_TIMESTAMP_NOW));
    for (int i = 0; i < LATENCY_RECORDS; i++) {
        int64_t start = now_ns();
        atomic_store(&job->started[i], start);
        check("lg_append",
              lg_append(job->engine, "bench", 0, list, LG_ACKS_LEADER, NULL));
        job->append_ns[i] = now_ns() - start;
        usleep(LATENCY_GAP_US);
    }
    lg_records_destroy(list);
    return NULL;
}

static int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_us(const int64_t *sorted, int n, double p) {
    int index = (int)(p * (n - 1) + 0.5);
    return (double)sorted[index] / 1000.0;
}

static void latency(lg_engine_t *engine) {
    static latency_job_t job;
    job.engine = engine;
    check("lg_watermarks",
          lg_watermarks(engine, "bench", 0, NULL, &job.base_offset));
    lg_consumer_t *consumer;
    check("lg_consumer_new", lg_consumer_new(engine, NULL, &consumer));
    check("lg_consumer_assign",
          lg_consumer_assign(consumer, "bench", 0, LG_OFFSET_END));
    static int64_t latency_ns[LATENCY_RECORDS];
    pthread_t thread;
    pthread_create(&thread, NULL, latency_appender, &job);
    for (int got = 0; got < LATENCY_RECORDS;) {
        const lg_message_t *message;
        check("lg_consumer_poll", lg_consumer_poll(consumer, -1, &message));
        int64_t now = now_ns();
        if (!message)
            continue;
        int64_t index = lg_message_offset(message) - job.base_offset;
        latency_ns[got++] = now - atomic_load(&job.started[index]);
    }
    pthread_join(thread, NULL);
    lg_consumer_destroy(consumer);
    qsort(latency_ns, LATENCY_RECORDS, sizeof latency_ns[0], compare_int64);
    qsort(job.append_ns, LATENCY_RECORDS, sizeof job.append_ns[0],
          compare_int64);
    printf("append -> blocking poll      p50 %.1f us  p99 %.1f us  "
           "p99.9 %.1f us  (%d records; lg_append alone p50 %.1f us)\n",
           percentile_us(latency_ns, LATENCY_RECORDS, 0.50),
           percentile_us(latency_ns, LATENCY_RECORDS, 0.99),
           percentile_us(latency_ns, LATENCY_RECORDS, 0.999), LATENCY_RECORDS,
           percentile_us(job.append_ns, LATENCY_RECORDS, 0.50));
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./consume-bench-data";
    long records = argc > 2 ? atol(argv[2]) : 5000000;
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        return EXIT_FAILURE;
    lg_engine_t *engine;
    check("lg_engine_open", lg_engine_open(dir, NULL, &engine));
    check("lg_topic_create", lg_topic_create(engine, "bench", 1, NULL));
    printf("backend %s, %ld records of %d bytes\n",
           lg_engine_io_backend(engine), records, VALUE_BYTES);
    int64_t start = now_ns();
    fill(engine, records);
    report("fill (lg_append, 1000/batch)", records, now_ns() - start);
    for (int round = 0; round < 2; round++) {
        consume_all(engine, records, 1, "read_uncommitted");
        consume_all(engine, records, 1, "read_committed");
    }
    consume_all(engine, records, 0, "read_uncommitted");
    consume_all(engine, records, 0, "read_committed");
    latency(engine);
    check("lg_engine_close", lg_engine_close(engine));
    if (system(command) != 0)
        return EXIT_FAILURE;
    return EXIT_SUCCESS;
}
