/*
 * produce_bench.c -- producer throughput and delivery latency.
 *
 *   usage: produce_bench [data-dir] [records]
 *
 * For acks=1, acks=all without idempotence and acks=all with idempotence
 * (enable.idempotence; linger.ms and batch.size at their defaults) it
 * produces `records` (default 5,000,000) 100-byte values (null key) to a
 * one-partition topic from one thread, serving delivery reports with
 * lg_producer_poll(0) every 4096 records (and whenever lg_produce reports
 * LG_ERR_QUEUE_FULL) and lg_producer_flush at the end,
 * and prints:
 *   produce call rate  records/s and MB/s of lg_produce alone (the time
 *                      spent inside lg_produce calls), i.e. the cost the
 *                      application thread pays per record;
 *   end to end         records/s and MB/s from the first lg_produce to the
 *                      last delivery report (everything appended);
 *   latency            p50/p99 of lg_produce -> delivery report, sampled
 *                      on every 64th record, in a separate paced run
 *                      (20,000 records/s) so the figure is not a queueing
 *                      delay of a saturated pipeline.
 */
#include <liblog.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 100
#define SAMPLE_EVERY 64

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, lg_err_t err) {
    fprintf(stderr, "produce_bench: %s: %s (%s)\n", what, lg_strerror(err),
            lg_last_error_message());
    exit(EXIT_FAILURE);
}

static int compare_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct latency {
    int64_t *sent;    /* produce time of sampled records, by sample index */
    int64_t *samples; /* report - produce, ns */
    size_t count;
    long long reported;
    lg_err_t first_error;
} latency_t;

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    latency_t *l = opaque;
    l->reported++;
    if (err && !l->first_error)
        l->first_error = err;
    uintptr_t tag = (uintptr_t)message_opaque;
    if (tag)
        l->samples[l->count++] = now_ns() - l->sent[tag - 1];
}

static lg_producer_t *make_producer(lg_engine_t *engine, const char *acks,
                                    const char *idempotence, latency_t *l) {
    lg_conf_t *conf = lg_conf_new();
    lg_err_t err = lg_conf_set(conf, "acks", acks);
    if (!err)
        err = lg_conf_set(conf, "enable.idempotence", idempotence);
    /* max.block.ms stays 0: with a delivery callback, buffer.memory comes
     * back only when reports are served, so a single-threaded producer
     * serves them when the queue is full (librdkafka's idiom) rather than
     * blocking in lg_produce. */
    if (err)
        die("lg_conf_set", err);
    lg_producer_t *producer;
    if ((err = lg_producer_new(engine, conf, &producer)))
        die("lg_producer_new", err);
    lg_conf_destroy(conf);
    lg_producer_set_delivery_callback(producer, on_delivery, l);
    return producer;
}

static void run(lg_engine_t *engine, const char *topic, const char *acks,
                const char *idempotence, long long records) {
    char label[32];
    snprintf(label, sizeof label, "acks=%s idem=%s", acks,
             idempotence[0] == 't' ? "on" : "off");
    latency_t l = {0};
    size_t max_samples = (size_t)(records / SAMPLE_EVERY + 2);
    l.sent = calloc(max_samples, sizeof *l.sent);
    l.samples = calloc(max_samples, sizeof *l.samples);
    char value[VALUE_SIZE];
    memset(value, 'v', sizeof value);

    /* Throughput. */
    lg_producer_t *producer = make_producer(engine, acks, idempotence, &l);
    /* No per-call timing: a clock read costs about as much as a third of
     * lg_produce here, so the loop is timed as a whole (including the
     * report serving it needs) and the flush separately. */
    int64_t start = now_ns();
    for (long long i = 0; i < records; i++) {
        lg_err_t err;
        while ((err = lg_produce(producer, topic, 0, NULL, 0, value,
                                 sizeof value, LG_TIMESTAMP_NOW, NULL)) ==
               LG_ERR_QUEUE_FULL)
            lg_producer_poll(producer, 1);
        if (err)
            die("lg_produce", err);
        if ((i & 4095) == 4095)
            lg_producer_poll(producer, 0);
    }
    int64_t in_produce = now_ns() - start;
    lg_err_t err = lg_producer_flush(producer, -1);
    if (err)
        die("lg_producer_flush", err);
    int64_t elapsed = now_ns() - start;
    if (l.first_error)
        die("delivery report", l.first_error);
    lg_producer_destroy(producer);
    double mb = (double)records * VALUE_SIZE / 1e6;
    printf("%-18s produce loop:      %10.0f records/s %8.1f MB/s "
           "(%.0f ns/record)\n",
           label, records / (in_produce / 1e9), mb / (in_produce / 1e9),
           (double)in_produce / (double)records);
    printf("%-18s end to end:        %10.0f records/s %8.1f MB/s "
           "(%lld records, %.2f s, all reported)\n",
           label, records / (elapsed / 1e9), mb / (elapsed / 1e9), records,
           elapsed / 1e9);

    if (getenv("PRODUCE_BENCH_NO_LATENCY"))
        goto out;
    /* Latency, paced. */
    long long paced = records / 20 < 200000 ? records / 20 : 200000;
    l = (latency_t){.sent = l.sent, .samples = l.samples};
    producer = make_producer(engine, acks, idempotence, &l);
    int64_t pace_start = now_ns();
    for (long long i = 0; i < paced; i++) {
        while (now_ns() - pace_start < i * 50000) /* 20,000 records/s */
            lg_producer_poll(producer, 0);
        void *tag = NULL;
        if (i % SAMPLE_EVERY == 0) {
            size_t index = (size_t)(i / SAMPLE_EVERY);
            l.sent[index] = now_ns();
            tag = (void *)(uintptr_t)(index + 1);
        }
        while ((err = lg_produce(producer, topic, 0, NULL, 0, value,
                                 sizeof value, LG_TIMESTAMP_NOW, tag)) ==
               LG_ERR_QUEUE_FULL)
            lg_producer_poll(producer, 1);
        if (err)
            die("lg_produce", err);
    }
    if ((err = lg_producer_flush(producer, -1)))
        die("lg_producer_flush", err);
    lg_producer_destroy(producer);
    qsort(l.samples, l.count, sizeof *l.samples, compare_i64);
    if (l.count)
        printf("%-18s produce->report latency at 20k records/s: "
               "p50 %.2f ms, p99 %.2f ms (%zu samples; linger.ms 5)\n",
               label, l.samples[l.count / 2] / 1e6,
               l.samples[l.count * 99 / 100] / 1e6, l.count);
out:
    free(l.sent);
    free(l.samples);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./bench-data";
    long long records = argc > 2 ? atoll(argv[2]) : 5000000;
    char path[4096];
    snprintf(path, sizeof path, "%s/produce_bench", dir);
    mkdir(dir, 0700);
    lg_engine_t *engine;
    lg_err_t err = lg_engine_open(path, NULL, &engine);
    if (err)
        die("lg_engine_open", err);
    printf("produce_bench: %lld records of %d-byte values, 1 thread, "
           "I/O backend %s\n",
           records, VALUE_SIZE, lg_engine_io_backend(engine));
    const char *acks[] = {"1", "all", "all"};
    const char *idempotence[] = {"false", "false", "true"};
    for (int i = 0; i < 3; i++) {
        char topic[32];
        snprintf(topic, sizeof topic, "bench-%d-acks-%s", i, acks[i]);
        lg_topic_delete(engine, topic);
        if ((err = lg_topic_create(engine, topic, 1, NULL)))
            die("lg_topic_create", err);
        run(engine, topic, acks[i], idempotence[i], records);
        lg_topic_delete(engine, topic);
    }
    return lg_engine_close(engine) == LG_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
