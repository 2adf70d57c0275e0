/*
 * replication_bench.c -- the cost of replication: acks=all append
 * throughput of a 3-node replicated partition against the same workload on
 * one unreplicated engine, in the same run.
 *
 *   usage: replication_bench [data-dir] [batches]
 *
 * The three nodes are three engines in this process joined by an
 * in-memory transport (a locked packet queue); a driver thread plays the
 * host: it ticks every engine with the monotonic clock and delivers
 * packets.  Each node is its own data directory, so every replica does
 * its own fdatasync: the figure includes replication's real disk cost, not
 * only the protocol's CPU (bench/replica_bench.c measures that alone).
 * One thread appends batches of 100 records of 100 bytes with
 * LG_ACKS_ALL; the line printed for each setup gives records/s, MB/s and
 * append latency percentiles, and the last line the ratio.
 */
#include <liblog.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NODES 3
#define RECORDS_PER_BATCH 100
#define VALUE_SIZE 100

typedef struct packet {
    int32_t from, to;
    void *bytes;
    size_t len;
} packet_t;

static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static packet_t *queue;
static size_t queued, queue_cap;
static lg_engine_t *engines[NODES];
static int32_t ids[NODES] = {0, 1, 2};
static atomic_int stop_driver;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, lg_err_t err) {
    fprintf(stderr, "replication_bench: %s: %s (%s)\n", what,
            lg_strerror(err), lg_last_error_message());
    exit(EXIT_FAILURE);
}

static int net_send(void *opaque, int32_t to, const void *bytes, size_t len) {
    int32_t from = *(const int32_t *)opaque;
    void *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, bytes, len);
    pthread_mutex_lock(&net_lock);
    if (queued == queue_cap) {
        queue_cap = queue_cap ? queue_cap * 2 : 1024;
        queue = realloc(queue, queue_cap * sizeof *queue);
    }
    queue[queued++] = (packet_t){from, to, copy, len};
    pthread_mutex_unlock(&net_lock);
    return 0;
}

/* The host's loop: time and delivery.  Sleeps briefly only when idle. */
static void *drive(void *arg) {
    (void)arg;
    packet_t *batch = NULL;
    size_t batch_cap = 0;
    while (!atomic_load(&stop_driver)) {
        int64_t ms = (int64_t)(now_seconds() * 1000);
        for (int i = 0; i < NODES; i++)
            lg_engine_tick(engines[i], ms);
        pthread_mutex_lock(&net_lock);
        size_t n = queued;
        if (n > batch_cap) {
            batch_cap = n;
            batch = realloc(batch, batch_cap * sizeof *batch);
        }
        memcpy(batch, queue, n * sizeof *batch);
        queued = 0;
        pthread_mutex_unlock(&net_lock);
        for (size_t k = 0; k < n; k++) {
            lg_replica_receive(engines[batch[k].to], batch[k].from,
                               batch[k].bytes, batch[k].len);
            free(batch[k].bytes);
        }
        if (n == 0)
            usleep(50);
    }
    free(batch);
    return NULL;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Appends batches to engine and prints one line; returns records/s. */
static double run(const char *label, lg_engine_t *engine, long batches) {
    lg_records_t *records = lg_records_new();
    char value[VALUE_SIZE];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < RECORDS_PER_BATCH; i++)
        lg_records_add(records, NULL, 0, value, sizeof value, LG_TIMESTAMP_NOW);
    double *latency = malloc(sizeof(double) * (size_t)batches);
    double start = now_seconds();
    for (long b = 0; b < batches; b++) {
        double t0 = now_seconds();
        lg_err_t err = lg_append(engine, "t", 0, records, LG_ACKS_ALL, NULL);
        if (err)
            die("append", err);
        latency[b] = now_seconds() - t0;
    }
    double secs = now_seconds() - start;
    qsort(latency, (size_t)batches, sizeof *latency, compare_double);
    double rate = (double)batches * RECORDS_PER_BATCH / secs;
    printf("%-28s %10.0f rec/s %7.1f MB/s  p50 %7.0f us  p99 %7.0f us\n",
           label, rate, rate * VALUE_SIZE / 1e6,
           latency[batches / 2] * 1e6, latency[batches * 99 / 100] * 1e6);
    free(latency);
    lg_records_destroy(records);
    return rate;
}

static lg_engine_t *open_engine(const char *dir, int node) {
    lg_conf_t *conf = lg_conf_new();
    if (node >= 0) {
        char id[16];
        snprintf(id, sizeof id, "%d", node);
        lg_conf_set(conf, "node.id", id);
        lg_conf_set(conf, "replication.factor", "3");
        lg_conf_set(conf, "replication.election.timeout.ms", "200");
        lg_conf_set(conf, "replication.fetch.interval.ms", "1");
    }
    lg_engine_t *engine;
    lg_err_t err = lg_engine_open(dir, conf, &engine);
    lg_conf_destroy(conf);
    if (err)
        die("open", err);
    if ((err = lg_topic_create(engine, "t", 1, NULL)))
        die("create topic", err);
    return engine;
}

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : "./bench-data";
    long batches = argc > 2 ? atol(argv[2]) : 2000;
    char dir[4096], cmd[4200];
    mkdir(base, 0700);
    snprintf(dir, sizeof dir, "%s/replication-bench", base);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return EXIT_FAILURE;
    mkdir(dir, 0700);

    char path[4200];
    snprintf(path, sizeof path, "%s/single", dir);
    lg_engine_t *single = open_engine(path, -1);
    double single_rate = run("1 node, acks=all", single, batches);
    lg_engine_close(single);

    for (int i = 0; i < NODES; i++) {
        snprintf(path, sizeof path, "%s/node%d", dir, i);
        engines[i] = open_engine(path, i);
        lg_transport_t transport = {.version = LG_TRANSPORT_VERSION,
                                    .opaque = &ids[i],
                                    .send = net_send};
        lg_err_t err = lg_engine_set_transport(engines[i], &transport);
        if (!err)
            err = lg_topic_set_replicas(engines[i], "t", 0, ids, NODES);
        if (err)
            die("replication setup", err);
    }
    pthread_t driver;
    pthread_create(&driver, NULL, drive, NULL);
    int leader = -1;
    for (int tries = 0; tries < 1000 && leader < 0; tries++) {
        for (int i = 0; i < NODES; i++) {
            int32_t known;
            if (lg_replica_leader(engines[i], "t", 0, &known, NULL, NULL) ==
                    LG_OK &&
                known == i)
                leader = i;
        }
        usleep(10000);
    }
    if (leader < 0) {
        fprintf(stderr, "replication_bench: no leader elected\n");
        return EXIT_FAILURE;
    }
    double replicated_rate =
        run("3 nodes, acks=all (majority)", engines[leader], batches);
    atomic_store(&stop_driver, 1);
    pthread_join(driver, NULL);
    for (int i = 0; i < NODES; i++)
        lg_engine_close(engines[i]);
    printf("replication cost: 3-node acks=all runs at %.2fx the single-node "
           "rate\n", replicated_rate / single_rate);
    system(cmd);
    return EXIT_SUCCESS;
}
