/*
 * cleaner_bench.c -- log compaction throughput with a bounded key map,
 * against the machine's own limits measured in the same run.
 *
 *   usage: cleaner_bench [data-dir] [scale] [map-bytes]
 *
 * Writes one partition of keyed records with values of 100 B to 1 KiB
 * (uniform) over a key space a quarter of the record count (so about 75%
 * of the records are superseded), in 16 KiB batches, 64 MiB segments.
 * Then compacts it to the end with log.cleaner.dedupe.buffer.size =
 * map-bytes (default 16 MiB, smaller than the log's keys at scale >= 2,
 * so passes clean a prefix and continue), and prints:
 *   cleaner   MB/s of log bytes compacted (wall time of every pass: key
 *             map build, rewrite, fdatasync of the cleaned segments, swap)
 *   cleaner CPU  the same bytes over the cleaning thread's CPU time (what
 *             the cleaner costs; the wall figure adds the device's fsync
 *             latency, noisy on a shared machine)
 *   raw read  MB/s of pread() of the same segment files (page cache)
 *   memcpy    MB/s of memcpy of 4 MiB blocks
 * scale (default 1.0) multiplies the log size (128 MiB at 1.0).
 * Uses the internal partition and cleaner API (links liblog.a).
 */
#include "cleaner.h"
#include "partition.h"
#include "segment.h"
#include "uring.h"

#include <liblog.h>

#include <fcntl.h>
#include <inttypes.h>
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

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(lg_err_t err, const char *what) {
    if (err != LG_OK) {
        fprintf(stderr, "cleaner_bench: %s: %s (%s)\n", what,
                lg_strerror(err), lg_last_error_message());
        exit(EXIT_FAILURE);
    }
}

static uint64_t next_random(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* MB/s of pread over every sealed segment of partition. */
static double raw_read(lgi_partition_t *partition, int64_t *bytesp) {
    lgi_segment_t **segments;
    size_t count;
    size_t cap = (size_t)4 << 20;
    char *buf = malloc(cap);
    int64_t bytes = 0;
    check(lgi_partition_sealed_segments(partition, &segments, &count),
          "segments");
    double start = now_seconds();
    for (size_t i = 0; i < count; i++)
        for (int64_t at = 0; at < segments[i]->size; at += (int64_t)cap) {
            ssize_t n = pread(segments[i]->fd, buf, cap, (off_t)at);
            if (n <= 0)
                break;
            bytes += n;
        }
    double seconds = now_seconds() - start;
    lgi_partition_segments_release(segments, count);
    free(buf);
    *bytesp = bytes;
    return (double)bytes / 1e6 / seconds;
}

static double memcpy_rate(void) {
    size_t size = (size_t)4 << 20;
    char *a = malloc(size), *b = malloc(size);
    memset(a, 1, size);
    memset(b, 2, size);
    double start = now_seconds();
    int rounds = 64;
    for (int i = 0; i < rounds; i++) {
        memcpy(i % 2 ? a : b, i % 2 ? b : a, size);
        __asm__ volatile("" ::"r"(a), "r"(b) : "memory");
    }
    double seconds = now_seconds() - start;
    free(a);
    free(b);
    return (double)size * rounds / 1e6 / seconds;
}

int main(int argc, char **argv) {
    const char *base_dir = argc > 1 ? argv[1] : "./bench-data";
    double scale = argc > 2 ? atof(argv[2]) : 1.0;
    int64_t map_bytes = argc > 3 ? atoll(argv[3]) : (int64_t)16 << 20;
    int64_t log_bytes = (int64_t)(scale * (128 << 20));
    char dir[4096];
    mkdir(base_dir, 0700);
    snprintf(dir, sizeof dir, "%s/cleaner-bench", base_dir);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0 || mkdir(dir, 0700) != 0) {
        perror(dir);
        return EXIT_FAILURE;
    }

    lgi_io_t *io;
    lgi_partition_t *partition;
    lgi_log_config_t config = {
        .segment_bytes = 64 << 20,
        .segment_ms = INT64_MAX / 2,
        .index_interval_bytes = 4096,
        .segment_index_bytes = 10 << 20,
        .max_message_bytes = 1 << 20,
        .preallocate_bytes = 0,
    };
    check(lgi_io_open(LGI_IO_AUTO, 256, &io), "io");
    check(lgi_partition_open(dir, &config, io, 0, 0, 0, &partition), "open");

    /* Average record ~560 B: keys are a quarter of the records. */
    int64_t records_expected = log_bytes / 600;
    int64_t keys = records_expected / 4 > 0 ? records_expected / 4 : 1;
    uint64_t state = 88172645463325252ULL;
    char value[1024], key[32];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (char)('a' + i % 26);
    int64_t written = 0, records = 0;
    double start = now_seconds();
    while (written < log_bytes) {
        lg_records_t *batch = lg_records_new();
        size_t batch_bytes = 0;
        while (batch_bytes < 16384) {
            int key_len = snprintf(key, sizeof key, "key-%010" PRId64,
                                   (int64_t)(next_random(&state) %
                                             (uint64_t)keys));
            size_t value_len = 100 + next_random(&state) % 925;
            check(lg_records_add(batch, key, (size_t)key_len, value,
                                 value_len, 1000 + records),
                  "records");
            batch_bytes += (size_t)key_len + value_len + 8;
            records++;
        }
        lgi_batch_options_t options;
        lgi_buf_t out = LGI_BUF_INIT;
        lgi_batch_options_init(&options);
        check(lgi_batch_encode(&out, batch, &options), "encode");
        lg_records_destroy(batch);
        written += (int64_t)out.len;
        check(lgi_partition_append(partition, out.data, out.len,
                                   LG_ACKS_LEADER, 0, NULL),
              "append");
    }
    check(lgi_partition_flush(partition), "flush");
    double fill_seconds = now_seconds() - start;

    int64_t raw_bytes;
    double raw = raw_read(partition, &raw_bytes);
    double copy = memcpy_rate();

    lgi_cleaner_t *cleaner;
    lgi_cleaner_settings_t settings;
    lg_conf_t *conf = lg_conf_new();
    check(lg_conf_set(conf, "cleanup.policy", "compact"), "conf");
    lgi_cleaner_settings_from_conf(conf, &settings);
    lg_conf_destroy(conf);
    check(lgi_cleaner_new(map_bytes, &cleaner), "cleaner");
    int64_t first_dirty = 0, read = 0, out = 0, map_read = 0;
    int passes = 0;
    start = now_seconds();
    double cpu_start = cpu_seconds();
    for (;;) {
        lgi_clean_stats_t stats;
        int64_t before = first_dirty;
        check(lgi_cleaner_compact(cleaner, partition, &settings, 10000, 1,
                                  &first_dirty, &stats),
              "compact");
        if (first_dirty == before)
            break;
        passes++;
        read += stats.bytes_read;
        map_read += stats.map_bytes_read;
        out += stats.bytes_written;
    }
    double clean_seconds = now_seconds() - start;
    double clean_cpu = cpu_seconds() - cpu_start;
    double mb = (double)raw_bytes / 1e6;
    printf("log: %.1f MB, %" PRId64 " records over %" PRId64 " keys "
           "(written at %.0f MB/s)\n",
           mb, records, keys, (double)written / 1e6 / fill_seconds);
    printf("cleaner:  %8.0f MB/s  (%.1f MB log in %.2f s, %d pass(es), "
           "map %" PRId64 " bytes, %.1f MB rewritten, %.1f MB scanned for "
           "the map, %.1f MB kept)\n",
           mb / clean_seconds, mb, clean_seconds, passes, map_bytes,
           (double)read / 1e6, (double)map_read / 1e6, (double)out / 1e6);
    printf("cleaner CPU: %5.0f MB/s  (%.2f s of the cleaning thread's CPU "
           "time; the rest of the wall time is waiting for fdatasync)\n",
           mb / clean_cpu, clean_cpu);
    printf("raw read: %8.0f MB/s  (pread of the segment files, page cache)\n",
           raw);
    printf("memcpy:   %8.0f MB/s\n", copy);
    printf("cleaner / raw read = %.2f\n", mb / clean_seconds / raw);

    lgi_cleaner_free(cleaner);
    check(lgi_partition_close(partition), "close");
    lgi_io_close(io);
    if (system(command) != 0)
        return EXIT_FAILURE;
    return 0;
}
