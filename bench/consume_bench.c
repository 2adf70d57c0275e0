/*
 * consume_bench.c -- consumer throughput from the page cache and
 * produce-to-consume latency of a blocking poll.
 *
 *   usage: consume_bench [data-dir] [records] [repeats]
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
 * Then the latency runs, each on a fresh engine in <data-dir>-latency:
 * one thread writes single 100-byte records, one about every 200 us,
 * while a consumer blocks in lg_consumer_poll(-1); for each record, the
 * time from just before the call that writes it to the return of the
 * poll that delivered it, as p50/p99/p99.9 in microseconds, and the
 * process's CPU time (getrusage) over the run per record and as a share
 * of one core -- spinning buys latency with CPU, so both are shown.  The
 * record is written two ways: lg_append with LG_ACKS_LEADER (the calling
 * thread writes it to the page cache itself), and lg_produce on a
 * producer with linger.ms=0 and acks=1 (the producing thread hands the
 * batch of an idle partition to the I/O thread, which writes it).  Each
 * is run with the defaults (io.spin.us=0, poll.spin.us=0, the writer
 * sleeping through the gap) and with the library's threads spinning
 * through it (io.spin.us=500, poll.spin.us=500).  A last run gives each
 * thread of the lg_append path a core, as a latency-critical deployment
 * would: the consumer spins (poll.spin.us=500) and the writer waits out
 * the gap busy instead of sleeping, so neither pays a wake-up; the two
 * are pinned to cores 0 and 1.  On this 2-core target that is every core, which is why lg_produce, whose path
 * has a third thread, is not run that way.  Every configuration runs
 * `repeats` times (default 3), printing every run and the best.  Before
 * each run, the machine's floor for that configuration is measured the
 * same way without the library (see floor_run), because on a shared or
 * virtual machine it moves from minute to minute.  The data directories
 * are removed at the end.
 */
#include "bench.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define VALUE_BYTES 100
#define BATCH_RECORDS 1000
#define LATENCY_RECORDS 5000
#define LATENCY_GAP_US 200
/* A 100-byte value in a v2 batch of one record, as the runs write it. */
#define FLOOR_RECORD_BYTES 170

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

/* The latency runs.  Each opens its own engine, because io.spin.us is
 * an engine property, on a directory of its own. */
typedef struct latency_config {
    const char *name;
    int64_t io_spin_us;   /* engine io.spin.us */
    int64_t poll_spin_us; /* consumer poll.spin.us */
    int produce;          /* 1: lg_produce (linger.ms=0); 0: lg_append */
    int busy_writer;      /* 1: the writer busy-waits the gap */
} latency_config_t;

typedef struct latency_result {
    double p50, p99, p999; /* microseconds */
    double cpu_us;         /* process CPU time per record */
    double cpu_share;      /* CPU time over wall time (1.0 = one core) */
} latency_result_t;

typedef struct latency_job {
    lg_engine_t *engine;
    lg_producer_t *producer; /* NULL: lg_append */
    int busy_writer;
    _Atomic int64_t started[LATENCY_RECORDS];
    int64_t call_ns[LATENCY_RECORDS];
} latency_job_t;

/* Pins the calling thread to cpu, or (cpu < 0) lets it run anywhere. */
static void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < cpus && c < CPU_SETSIZE; c++)
        if (cpu < 0 || c == cpu)
            CPU_SET(c, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The writer's pause of LATENCY_GAP_US after a record written at `from`:
 * asleep, or (busy) watching the clock. */
static void wait_gap(int busy, int64_t from) {
    if (!busy) {
        usleep(LATENCY_GAP_US);
        return;
    }
    while (now_ns() - from < LATENCY_GAP_US * 1000)
        ;
}

static void *latency_writer(void *arg) {
    latency_job_t *job = arg;
    if (job->busy_writer)
        pin_to(0);
    char value[VALUE_BYTES];
    memset(value, 'l', sizeof value);
    lg_records_t *list = lg_records_new();
    check("lg_records_add", lg_records_add(list, NULL, 0, value, sizeof value,
                                           LG_TIMESTAMP_NOW));
    for (int i = 0; i < LATENCY_RECORDS; i++) {
        int64_t start = now_ns();
        atomic_store(&job->started[i], start);
        if (job->producer)
            check("lg_produce",
                  lg_produce(job->producer, "bench", 0, NULL, 0, value,
                             sizeof value, LG_TIMESTAMP_NOW, NULL));
        else
            check("lg_append", lg_append(job->engine, "bench", 0, list,
                                         LG_ACKS_LEADER, NULL));
        int64_t done = now_ns();
        job->call_ns[i] = done - start;
        wait_gap(job->busy_writer, done);
    }
    lg_records_destroy(list);
    return NULL;
}

static double percentile_us(const int64_t *sorted, int n, double p) {
    int index = (int)(p * (n - 1) + 0.5);
    return (double)sorted[index] / 1000.0;
}

static int64_t cpu_ns(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return ((int64_t)usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) *
               1000000000 +
           ((int64_t)usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000;
}

static void set(lg_conf_t *conf, const char *name, int64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)value);
    check(name, lg_conf_set(conf, name, text));
}

/* The machine's own floor for a configuration, measured in the same run
 * because a shared or virtual machine's scheduling changes by the minute:
 * the same two threads (writer and reader, pinned as in the run), the
 * same gap and the same waiting -- the reader spinning on a cache line
 * when the run's consumer spins through the gap, else asleep in poll(2)
 * on an eventfd the writer writes -- and the least work any file-backed
 * log does, without the library: the writer appends the record's bytes
 * to a file with one pwrite(2), the reader reads them back with one
 * pread(2).  The file is written with zeros beforehand, so the writes
 * land in page-cache pages that exist, as the library's zero fill makes
 * small appends do (lib/partition.c): the floor has every advantage the
 * library has. */
typedef struct floor_job {
    int busy_writer;
    int spin;
    int eventfd;
    int fd;
    int64_t started[LATENCY_RECORDS];
    atomic_int published; /* started[0 .. published) are set */
} floor_job_t;

static void *floor_writer(void *arg) {
    floor_job_t *job = arg;
    if (job->busy_writer)
        pin_to(0);
    char record[FLOOR_RECORD_BYTES];
    memset(record, 'f', sizeof record);
    for (int i = 0; i < LATENCY_RECORDS; i++) {
        int64_t start = now_ns();
        job->started[i] = start;
        if (pwrite(job->fd, record, sizeof record,
                   (off_t)i * FLOOR_RECORD_BYTES) != sizeof record)
            exit(EXIT_FAILURE);
        atomic_store(&job->published, i + 1);
        if (!job->spin) {
            uint64_t one = 1;
            if (write(job->eventfd, &one, sizeof one) != sizeof one)
                exit(EXIT_FAILURE);
        }
        wait_gap(job->busy_writer, now_ns());
    }
    return NULL;
}

static latency_result_t floor_run(const char *dir,
                                  const latency_config_t *config) {
    static floor_job_t job;
    static int64_t latency_ns[LATENCY_RECORDS];
    char path[4400];
    snprintf(path, sizeof path, "%s-floor", dir);
    job.busy_writer = config->busy_writer;
    job.spin = config->poll_spin_us > LATENCY_GAP_US;
    job.eventfd = eventfd(0, EFD_CLOEXEC);
    job.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    atomic_store(&job.published, 0);
    if (job.eventfd < 0 || job.fd < 0)
        exit(EXIT_FAILURE);
    static const char zeros[FLOOR_RECORD_BYTES * 64];
    for (off_t at = 0; at < (off_t)LATENCY_RECORDS * FLOOR_RECORD_BYTES;
         at += (off_t)sizeof zeros)
        if (pwrite(job.fd, zeros, sizeof zeros, at) != sizeof zeros)
            exit(EXIT_FAILURE);
    if (config->busy_writer)
        pin_to(1);
    pthread_t thread;
    pthread_create(&thread, NULL, floor_writer, &job);
    /* As the library's consumer does, a reader that fell behind times
     * every record it catches up on from that record's own start. */
    for (int got = 0; got < LATENCY_RECORDS;) {
        if (!job.spin) {
            struct pollfd descriptor = {.fd = job.eventfd, .events = POLLIN};
            uint64_t count;
            if (poll(&descriptor, 1, -1) != 1 ||
                read(job.eventfd, &count, sizeof count) != sizeof count)
                exit(EXIT_FAILURE);
        }
        int published = atomic_load(&job.published);
        if (published == got)
            continue;
        char record[FLOOR_RECORD_BYTES];
        if (pread(job.fd, record, sizeof record,
                  (off_t)(published - 1) * FLOOR_RECORD_BYTES) !=
            sizeof record)
            exit(EXIT_FAILURE);
        int64_t now = now_ns();
        for (; got < published; got++)
            latency_ns[got] = now - job.started[got];
    }
    pthread_join(thread, NULL);
    if (config->busy_writer)
        pin_to(-1);
    close(job.eventfd);
    close(job.fd);
    unlink(path);
    qsort(latency_ns, LATENCY_RECORDS, sizeof latency_ns[0], compare_int64);
    latency_result_t floor = {
        .p50 = percentile_us(latency_ns, LATENCY_RECORDS, 0.50),
        .p99 = percentile_us(latency_ns, LATENCY_RECORDS, 0.99),
        .p999 = percentile_us(latency_ns, LATENCY_RECORDS, 0.999),
    };
    printf("  floor     p50 %6.1f us  p99 %7.1f us  p99.9 %7.1f us  (%s, "
           "no library)\n",
           floor.p50, floor.p99, floor.p999,
           job.spin ? "pwrite, hand-off through a cache line, pread"
                    : "pwrite, eventfd wake-up of a thread in poll, pread");
    return floor;
}

/* One run of config: LATENCY_RECORDS single records, one every
 * LATENCY_GAP_US, each timed from just before the call that writes it to
 * the return of the blocking poll that delivers it. */
static latency_result_t latency_run(const char *dir,
                                    const latency_config_t *config) {
    static latency_job_t job;
    memset(&job, 0, sizeof job);
    job.busy_writer = config->busy_writer;
    char command[4400];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        exit(EXIT_FAILURE);
    lg_conf_t *conf = lg_conf_new();
    set(conf, "io.spin.us", config->io_spin_us);
    check("lg_engine_open", lg_engine_open(dir, conf, &job.engine));
    lg_conf_destroy(conf);
    check("lg_topic_create", lg_topic_create(job.engine, "bench", 1, NULL));
    if (config->produce) {
        conf = lg_conf_new();
        set(conf, "linger.ms", 0);
        check("acks", lg_conf_set(conf, "acks", "1"));
        check("lg_producer_new",
              lg_producer_new(job.engine, conf, &job.producer));
        lg_conf_destroy(conf);
    }
    conf = lg_conf_new();
    set(conf, "poll.spin.us", config->poll_spin_us);
    lg_consumer_t *consumer;
    check("lg_consumer_new", lg_consumer_new(job.engine, conf, &consumer));
    lg_conf_destroy(conf);
    check("lg_consumer_assign",
          lg_consumer_assign(consumer, "bench", 0, LG_OFFSET_BEGINNING));

    static int64_t latency_ns[LATENCY_RECORDS];
    int64_t cpu_start = cpu_ns(), wall_start = now_ns();
    pthread_t thread;
    if (config->busy_writer)
        pin_to(1); /* the consumer; the writer takes core 0 */
    pthread_create(&thread, NULL, latency_writer, &job);
    for (int got = 0; got < LATENCY_RECORDS;) {
        const lg_message_t *message;
        check("lg_consumer_poll", lg_consumer_poll(consumer, -1, &message));
        int64_t now = now_ns();
        if (!message)
            continue;
        int64_t index = lg_message_offset(message);
        latency_ns[got++] = now - atomic_load(&job.started[index]);
    }
    pthread_join(thread, NULL);
    if (config->busy_writer)
        pin_to(-1);
    int64_t cpu = cpu_ns() - cpu_start, wall = now_ns() - wall_start;
    lg_consumer_destroy(consumer);
    lg_producer_destroy(job.producer);
    check("lg_engine_close", lg_engine_close(job.engine));
    if (system(command) != 0)
        exit(EXIT_FAILURE);

    qsort(latency_ns, LATENCY_RECORDS, sizeof latency_ns[0], compare_int64);
    qsort(job.call_ns, LATENCY_RECORDS, sizeof job.call_ns[0],
          compare_int64);
    latency_result_t result = {
        .p50 = percentile_us(latency_ns, LATENCY_RECORDS, 0.50),
        .p99 = percentile_us(latency_ns, LATENCY_RECORDS, 0.99),
        .p999 = percentile_us(latency_ns, LATENCY_RECORDS, 0.999),
        .cpu_us = (double)cpu / 1000.0 / LATENCY_RECORDS,
        .cpu_share = (double)cpu / (double)wall,
    };
    printf("  %-9s p50 %6.1f us  p99 %7.1f us  p99.9 %7.1f us  CPU %5.1f us "
           "per record (%3.0f%% of a core); %s alone p50 %.1f us p99 "
           "%.1f us\n",
           config->produce ? "produce" : "append", result.p50, result.p99,
           result.p999, result.cpu_us, 100.0 * result.cpu_share,
           config->produce ? "lg_produce" : "lg_append",
           percentile_us(job.call_ns, LATENCY_RECORDS, 0.50),
           percentile_us(job.call_ns, LATENCY_RECORDS, 0.99));
    fflush(stdout);
    return result;
}

/* Every configuration `repeats` times, printing each run and then the
 * best run's figures (the machine may be shared: the best run is the one
 * least disturbed by others). */
static void latency(const char *dir, int repeats) {
    static const latency_config_t configs[] = {
        {"defaults", 0, 0, 0, 0},
        {"defaults", 0, 0, 1, 0},
        {"spinning", 500, 500, 0, 0},
        {"spinning", 500, 500, 1, 0},
        {"cores", 0, 500, 0, 1},
    };
    char latency_dir[4300];
    snprintf(latency_dir, sizeof latency_dir, "%s-latency", dir);
    printf("latency: %d single %d-byte records, one every %d us, consumer "
           "blocked in lg_consumer_poll(-1); best of %d runs\n",
           LATENCY_RECORDS, VALUE_BYTES, LATENCY_GAP_US, repeats);
    /* CONSUME_BENCH_LATENCY=<index> runs only that configuration (for
     * profiling one path). */
    const char *only = getenv("CONSUME_BENCH_LATENCY");
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        if (only && (size_t)atoi(only) != c)
            continue;
        const latency_config_t *config = &configs[c];
        printf("%s: io.spin.us=%lld poll.spin.us=%lld%s%s\n", config->name,
               (long long)config->io_spin_us,
               (long long)config->poll_spin_us,
               config->produce ? ", producer linger.ms=0 acks=1" : "",
               config->busy_writer ? ", writer busy between records" : "");
        latency_result_t best = {0}, best_floor = {0};
        for (int r = 0; r < repeats; r++) {
            latency_result_t floor = floor_run(latency_dir, config);
            latency_result_t result = latency_run(latency_dir, config);
            if (r == 0 || result.p99 < best.p99) {
                best = result;
                best_floor = floor;
            }
        }
        printf("%-8s %-7s -> blocking poll  best p50 %.1f us  p99 %.1f us  "
               "p99.9 %.1f us  CPU %.1f us/record; floor in that run p50 "
               "%.1f us  p99 %.1f us\n",
               config->name, config->produce ? "produce" : "append",
               best.p50, best.p99, best.p999, best.cpu_us, best_floor.p50,
               best_floor.p99);
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./consume-bench-data";
    long records = argc > 2 ? atol(argv[2]) : 5000000;
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    if (repeats < 1)
        repeats = 1;
    if (getenv("CONSUME_BENCH_LATENCY")) {
        latency(dir, repeats);
        return EXIT_SUCCESS;
    }
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
    check("lg_engine_close", lg_engine_close(engine));
    if (system(command) != 0)
        return EXIT_FAILURE;
    latency(dir, repeats);
    return EXIT_SUCCESS;
}
