/*
 * txn_bench.c -- what idempotence and transactions cost a producer.
 *
 *   usage: txn_bench [data-dir] [records]
 *
 * One thread produces `records` (default 200,000) 100-byte values (null
 * key) to a topic of 1 and then of 4 partitions, record i to partition
 * i % partitions, so every transaction touches every partition.  The
 * modes, each on a fresh topic in the same engine:
 *
 *   acks=1 idem=off       the baseline: no fsync, no sequence numbers;
 *   acks=all idem=off     fsync'd (group commit), no sequence numbers;
 *   acks=all idem=on      the default producer;
 *   flush/100             idem=on, lg_producer_flush every 100 records:
 *                         what an application pays to know every 100
 *                         records are durable without transactions;
 *   txn 100, txn 1000     transactional.id set: begin, 100 (1000)
 *                         records, commit, repeated.
 *
 * For each it prints records/s and MB/s (of values) from the first
 * lg_produce to the last delivery (flush, or commit), the ratio of that
 * rate to idempotence off (acks=1 and acks=all), and for the chunked
 * modes the p50/p99 latency of lg_producer_commit_transaction
 * (respectively lg_producer_flush) -- a commit includes the flush of the
 * transaction's last batches, the coordinator's writes to
 * __transaction_state and the markers -- and the engine's fdatasync calls
 * per chunk (stats "fsyncs"), which does not depend on how busy the
 * machine is: on a shared machine compare those, and the latency p50s,
 * rather than the rates.
 *
 * The machine's own limit is printed first: the p50/p99 of a 4 KiB
 * write + fdatasync in the data directory, since every acks=all append,
 * coordinator write and marker waits for one (markers and coordinator
 * writes of one commit are sequential, so a commit costs a few of them).
 * The data directory is removed at the end.
 */
#include "bench.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 100
#define FSYNC_PROBES 200

/* p-th percentile (0..100) of sorted[0..count), in ms. */
static double percentile_ms(const int64_t *sorted, size_t count, int p) {
    if (count == 0)
        return 0;
    size_t i = count * (size_t)p / 100;
    return sorted[i < count ? i : count - 1] / 1e6;
}

typedef struct mode {
    const char *label;
    const char *acks;
    const char *idempotence;
    int chunk;         /* records per transaction or flush; 0: none */
    int transactional; /* chunks are transactions (else flushes) */
} bench_mode_t;

static const bench_mode_t modes[] = {
    {"acks=1 idem=off", "1", "false", 0, 0},
    {"acks=all idem=off", "all", "false", 0, 0},
    {"acks=all idem=on", "all", "true", 0, 0},
    {"flush/100 idem=on", "all", "true", 100, 0},
    {"txn 100/commit", "all", "true", 100, 1},
    {"txn 1000/commit", "all", "true", 1000, 1},
};
#define MODE_COUNT (sizeof modes / sizeof modes[0])

typedef struct result {
    double records_per_s;
    size_t chunks;
    double p50_ms, p99_ms;
    double fsyncs_per_chunk; /* the engine's fdatasyncs / chunks */
} result_t;

/* The engine's count of fdatasync calls so far (stats "fsyncs"). */
static long long engine_fsyncs(lg_engine_t *engine) {
    char *json;
    lg_err_t err = lg_engine_stats_json(engine, &json);
    if (err)
        check("lg_engine_stats_json", err);
    const char *field = strstr(json, "\"fsyncs\":");
    long long count = field ? atoll(field + strlen("\"fsyncs\":")) : -1;
    lg_free_string(json);
    return count;
}

static lg_err_t first_delivery_error;

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    if (err && !first_delivery_error)
        first_delivery_error = err;
}

/* Produces records records in mode m to topic (partitions partitions). */
static result_t run(lg_engine_t *engine, const char *topic,
                    int32_t partitions, const bench_mode_t *m, long long records,
                    int serial) {
    lg_conf_t *conf = lg_conf_new();
    lg_err_t err = lg_conf_set(conf, "acks", m->acks);
    if (!err)
        err = lg_conf_set(conf, "enable.idempotence", m->idempotence);
    char id[64];
    if (!err && m->transactional) {
        /* A fresh id per run, so no run inherits another's epoch. */
        snprintf(id, sizeof id, "txn-bench-%d", serial);
        err = lg_conf_set(conf, "transactional.id", id);
    }
    if (err)
        check("lg_conf_set", err);
    lg_producer_t *producer;
    if ((err = lg_producer_new(engine, conf, &producer)))
        check("lg_producer_new", err);
    lg_conf_destroy(conf);
    lg_producer_set_delivery_callback(producer, on_delivery, NULL);
    if (m->transactional && (err = lg_producer_init_transactions(producer)))
        check("lg_producer_init_transactions", err);

    size_t max_chunks = m->chunk ? (size_t)(records / m->chunk + 1) : 1;
    int64_t *latency = calloc(max_chunks, sizeof *latency);
    size_t chunks = 0;
    char value[VALUE_SIZE];
    memset(value, 'v', sizeof value);
    first_delivery_error = LG_OK;

    long long fsyncs_before = engine_fsyncs(engine);
    int64_t start = now_ns();
    for (long long i = 0; i < records; i++) {
        if (m->transactional && i % m->chunk == 0 &&
            (err = lg_producer_begin_transaction(producer)))
            check("lg_producer_begin_transaction", err);
        while ((err = lg_produce(producer, topic, (int32_t)(i % partitions),
                                 NULL, 0, value, sizeof value,
                                 LG_TIMESTAMP_NOW, NULL)) ==
               LG_ERR_QUEUE_FULL)
            lg_producer_poll(producer, 1);
        if (err)
            check("lg_produce", err);
        if ((i & 4095) == 4095)
            lg_producer_poll(producer, 0);
        if (m->chunk && (i % m->chunk == m->chunk - 1 || i == records - 1)) {
            int64_t t0 = now_ns();
            err = m->transactional
                      ? lg_producer_commit_transaction(producer, -1)
                      : lg_producer_flush(producer, -1);
            if (err)
                check(m->transactional ? "lg_producer_commit_transaction"
                                     : "lg_producer_flush",
                    err);
            latency[chunks++] = now_ns() - t0;
        }
    }
    if ((err = lg_producer_flush(producer, -1)))
        check("lg_producer_flush", err);
    int64_t elapsed = now_ns() - start;
    long long fsyncs = engine_fsyncs(engine) - fsyncs_before;
    if (first_delivery_error)
        check("delivery report", first_delivery_error);
    lg_producer_destroy(producer);

    qsort(latency, chunks, sizeof *latency, compare_int64);
    result_t r = {
        .records_per_s = (double)records / (elapsed / 1e9),
        .chunks = chunks,
        .p50_ms = percentile_ms(latency, chunks, 50),
        .p99_ms = percentile_ms(latency, chunks, 99),
        .fsyncs_per_chunk = chunks ? (double)fsyncs / (double)chunks : 0,
    };
    free(latency);
    return r;
}

/* p50/p99 of a 4 KiB pwrite + fdatasync appended to a file in dir. */
static void fsync_probe(const char *dir, double *p50, double *p99) {
    char path[4200];
    snprintf(path, sizeof path, "%s/fsync-probe", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0) {
        perror("txn_bench: fsync probe");
        exit(EXIT_FAILURE);
    }
    static char block[4096];
    int64_t samples[FSYNC_PROBES];
    for (int i = 0; i < FSYNC_PROBES; i++) {
        int64_t t0 = now_ns();
        if (pwrite(fd, block, sizeof block, (off_t)i * 4096) < 0 ||
            fdatasync(fd) < 0) {
            perror("txn_bench: fsync probe");
            exit(EXIT_FAILURE);
        }
        samples[i] = now_ns() - t0;
    }
    close(fd);
    unlink(path);
    qsort(samples, FSYNC_PROBES, sizeof *samples, compare_int64);
    *p50 = percentile_ms(samples, FSYNC_PROBES, 50);
    *p99 = percentile_ms(samples, FSYNC_PROBES, 99);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./bench-data";
    long long records = argc > 2 ? atoll(argv[2]) : 200000;
    if (records <= 0) {
        fprintf(stderr, "usage: txn_bench [data-dir] [records > 0]\n");
        return EXIT_FAILURE;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/txn_bench", dir);
    mkdir(dir, 0700);
    mkdir(path, 0700);
    double fsync_p50, fsync_p99;
    fsync_probe(path, &fsync_p50, &fsync_p99);

    lg_engine_t *engine;
    lg_err_t err = lg_engine_open(path, NULL, &engine);
    if (err)
        check("lg_engine_open", err);
    printf("txn_bench: %lld records of %d-byte values per mode, 1 thread, "
           "I/O backend %s\n", records, VALUE_SIZE,
           lg_engine_io_backend(engine));
    printf("machine: 4 KiB write+fdatasync p50 %.3f ms, p99 %.3f ms\n",
           fsync_p50, fsync_p99);
    printf("%-10s %-19s %11s %7s %8s %8s %7s %9s %9s %8s\n", "partitions",
           "mode", "records/s", "MB/s", "/acks=1", "/acks=all", "chunks",
           "p50 ms", "p99 ms", "fsyncs/c");

    static const int32_t partition_counts[] = {1, 4};
    int serial = 0;
    for (size_t pc = 0; pc < 2; pc++) {
        int32_t partitions = partition_counts[pc];
        result_t results[MODE_COUNT];
        for (size_t i = 0; i < MODE_COUNT; i++) {
            char topic[48];
            snprintf(topic, sizeof topic, "bench-%d-%zu", (int)partitions, i);
            lg_topic_delete(engine, topic);
            if ((err = lg_topic_create(engine, topic, partitions, NULL)))
                check("lg_topic_create", err);
            results[i] =
                run(engine, topic, partitions, &modes[i], records, serial++);
            lg_topic_delete(engine, topic);
            const result_t *r = &results[i];
            printf("%-10d %-19s %11.0f %7.1f %7.2fx", (int)partitions,
                   modes[i].label, r->records_per_s,
                   r->records_per_s * VALUE_SIZE / 1e6,
                   r->records_per_s / results[0].records_per_s);
            if (i >= 1)
                printf(" %8.2fx",
                       r->records_per_s / results[1].records_per_s);
            else
                printf(" %9s", "-");
            if (modes[i].chunk)
                printf(" %7zu %9.3f %9.3f %8.1f\n", r->chunks, r->p50_ms,
                       r->p99_ms, r->fsyncs_per_chunk);
            else
                printf(" %7s %9s %9s %8s\n", "-", "-", "-", "-");
            fflush(stdout);
        }
    }
    if ((err = lg_engine_close(engine)))
        check("lg_engine_close", err);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", path);
    return system(command) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
