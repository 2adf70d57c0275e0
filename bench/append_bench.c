/*
 * append_bench.c -- append and read throughput of one engine, against the
 * machine's own limits measured in the same run.
 *
 *   usage: append_bench [data-dir] [scale]
 *
 * Prints one line per workload: records/s, MB/s (payload bytes: key +
 * value), p50/p99 append latency, and the ratio of MB/s to the matching
 * raw bound measured on the same file system in the same run -- the
 * ceiling for any log doing the same work:
 *   acks=1 appends   vs  write() loop of the same batch size, no fsync;
 *   acks=all         vs  write() + fdatasync per batch of the same size;
 *   reads            vs  memcpy bandwidth (data comes from the page cache).
 * scale (default 1.0) multiplies every record count.
 */
#include <liblog.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, lg_err_t err) {
    fprintf(stderr, "append_bench: %s: %s (%s)\n", what, lg_strerror(err),
            lg_last_error_message());
    exit(EXIT_FAILURE);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Raw sequential write: total bytes in block-sized write()s, with an
 * fdatasync after every block when sync is set (else none). */
static double raw_write_mbps(const char *dir, size_t total, size_t block,
                             int sync) {
    char path[4096];
    snprintf(path, sizeof path, "%s/raw-write.tmp", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        exit(EXIT_FAILURE);
    }
    char *buf = malloc(block);
    memset(buf, 'x', block);
    double start = now_seconds();
    for (size_t done = 0; done < total; done += block) {
        if (write(fd, buf, block) != (ssize_t)block) {
            perror("write");
            exit(EXIT_FAILURE);
        }
        if (sync)
            fdatasync(fd);
    }
    double secs = now_seconds() - start;
    close(fd);
    unlink(path);
    free(buf);
    return (double)total / secs / 1e6;
}

static double memcpy_mbps(void) {
    size_t size = 64 << 20;
    char *a = malloc(size), *b = malloc(size);
    memset(a, 1, size);
    memset(b, 2, size);
    double start = now_seconds();
    for (int i = 0; i < 8; i++) {
        memcpy(b, a, size);
        a[i] = b[size - 1 - (size_t)i]; /* keep the copies observable */
    }
    double secs = now_seconds() - start;
    free(a);
    free(b);
    return 8.0 * (double)size / secs / 1e6;
}

typedef struct workload {
    lg_engine_t *engine;
    const char *topic;
    int32_t partition;
    size_t record_size;
    int batch_records;
    long batches;
    int acks;
    double *latencies; /* one per batch */
} workload_t;

static void *append_thread(void *arg) {
    workload_t *w = arg;
    lg_records_t *records = lg_records_new();
    char *value = malloc(w->record_size);
    memset(value, 'v', w->record_size);
    for (long b = 0; b < w->batches; b++) {
        lg_records_clear(records);
        for (int i = 0; i < w->batch_records; i++) {
            char key[16];
            int klen = snprintf(key, sizeof key, "%08ld", (b * 31 + i) % 100000);
            lg_records_add(records, key, (size_t)klen, value,
                           w->record_size - (size_t)klen, LG_TIMESTAMP_NOW);
        }
        double start = now_seconds();
        lg_err_t err = lg_append(w->engine, w->topic, w->partition, records,
                                 w->acks, NULL);
        w->latencies[b] = now_seconds() - start;
        if (err)
            die("append", err);
    }
    free(value);
    lg_records_destroy(records);
    return NULL;
}

/* Runs threads appenders, each on its own partition, and prints a line. */
static double run_append(lg_engine_t *engine, const char *name,
                         size_t record_size, int batch_records,
                         long total_records, int acks, int threads,
                         double raw_mbps) {
    char topic[64];
    snprintf(topic, sizeof topic, "%s", name);
    lg_err_t err = lg_topic_create(engine, topic, threads, NULL);
    if (err)
        die("create topic", err);
    workload_t work[16];
    pthread_t tids[16];
    long batches = total_records / batch_records / threads;
    double start = now_seconds();
    for (int t = 0; t < threads; t++) {
        work[t] = (workload_t){engine, topic, t, record_size, batch_records,
                               batches, acks,
                               malloc(sizeof(double) * (size_t)batches)};
        pthread_create(&tids[t], NULL, append_thread, &work[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    double secs = now_seconds() - start;
    long records = batches * batch_records * threads;
    double mb = (double)records * (double)record_size / 1e6;
    /* latency percentiles over all batches */
    long n = batches * threads;
    double *all = malloc(sizeof(double) * (size_t)n);
    for (int t = 0; t < threads; t++) {
        memcpy(all + t * batches, work[t].latencies,
               sizeof(double) * (size_t)batches);
        free(work[t].latencies);
    }
    qsort(all, (size_t)n, sizeof(double), compare_double);
    printf("%-34s %12.0f rec/s %9.1f MB/s  p50 %8.1f us  p99 %8.1f us"
           "  %5.2fx raw\n",
           name, (double)records / secs, mb / secs, all[n / 2] * 1e6,
           all[n * 99 / 100] * 1e6, mb / secs / raw_mbps);
    free(all);
    return mb / secs;
}

static void run_read(lg_engine_t *engine, const char *topic, size_t record_size,
                     double raw_mbps) {
    int64_t low, high;
    lg_err_t err = lg_watermarks(engine, topic, 0, &low, &high);
    if (err)
        die("watermarks", err);
    double start = now_seconds();
    int64_t offset = low, records = 0;
    size_t bytes = 0;
    while (offset < high) {
        lg_fetch_t *fetch;
        if ((err = lg_read(engine, topic, 0, offset, 1 << 20, &fetch)))
            die("read", err);
        const lg_message_t *m;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            size_t len;
            lg_message_value(m, &len);
            bytes += len;
            records++;
        }
        offset = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
    }
    double secs = now_seconds() - start;
    double mb = (double)records * (double)record_size / 1e6;
    printf("%-34s %12.0f rec/s %9.1f MB/s  (page cache; %zu value bytes)"
           "  %5.2fx memcpy\n",
           "read back (same records)", (double)records / secs, mb / secs,
           bytes, mb / secs / raw_mbps);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./bench-data";
    double scale = argc > 2 ? atof(argv[2]) : 1.0;
    if (scale <= 0)
        scale = 1.0;
    mkdir(dir, 0700);
    char engine_dir[4096];
    snprintf(engine_dir, sizeof engine_dir, "%s/append-bench", dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", engine_dir);
    if (system(cmd) != 0)
        return EXIT_FAILURE;

    long small_records = (long)(1000000 * scale);
    long large_records = (long)(20000 * scale);
    size_t raw_bytes = (size_t)(large_records * 16384L);
    /* The bounds each workload is compared with (see the file comment). */
    double raw_small = raw_write_mbps(dir, raw_bytes / 4, 10000, 0);
    double raw_small_sync = raw_write_mbps(dir, raw_bytes / 64, 10000, 1);
    double raw_large = raw_write_mbps(dir, raw_bytes, 65536, 0);
    double raw_large_sync = raw_write_mbps(dir, raw_bytes / 8, 65536, 1);
    double memcpy_bw = memcpy_mbps();
    printf("machine bounds: write 10 KB blocks %.1f MB/s, +fdatasync each "
           "%.1f MB/s; write 64 KiB blocks %.1f MB/s, +fdatasync each %.1f "
           "MB/s; memcpy %.1f MB/s\n",
           raw_small, raw_small_sync, raw_large, raw_large_sync, memcpy_bw);

    lg_engine_t *engine;
    lg_err_t err = lg_engine_open(engine_dir, NULL, &engine);
    if (err)
        die("open", err);
    printf("liblog %s, I/O backend %s\n", lg_version(),
           lg_engine_io_backend(engine));

    run_append(engine, "100B-batch100-acks1", 100, 100, small_records,
               LG_ACKS_LEADER, 1, raw_small);
    run_read(engine, "100B-batch100-acks1", 100, memcpy_bw);
    run_append(engine, "100B-batch100-acksall", 100, 100, small_records / 4,
               LG_ACKS_ALL, 1, raw_small_sync);
    run_append(engine, "100B-batch100-acksall-4threads", 100, 100,
               small_records / 4, LG_ACKS_ALL, 4, raw_small_sync);
    run_append(engine, "100B-batch1-acks1", 100, 1, small_records / 10,
               LG_ACKS_LEADER, 1, raw_small);
    run_append(engine, "16KiB-batch4-acks1", 16384, 4, large_records,
               LG_ACKS_LEADER, 1, raw_large);
    run_read(engine, "16KiB-batch4-acks1", 16384, memcpy_bw);
    run_append(engine, "16KiB-batch4-acksall", 16384, 4, large_records / 2,
               LG_ACKS_ALL, 1, raw_large_sync);
    run_append(engine, "16KiB-batch4-acksall-4threads", 16384, 4,
               large_records / 2, LG_ACKS_ALL, 4, raw_large_sync);

    if ((err = lg_engine_close(engine)))
        die("close", err);
    system(cmd);
    return EXIT_SUCCESS;
}
