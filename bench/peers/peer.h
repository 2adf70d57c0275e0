/*
 * peer.h -- the harness shared by the side-by-side benchmarks: one workload
 * definition, one timing method and one output format for liblog and every
 * peer, so the figures differ only by the store under test.
 *
 * A peer supplies a peer_ops_t: open a store in a fresh directory, write one
 * batch of records (keys are 8-byte big-endian sequence numbers, values a
 * fixed pattern) either durably (fsync per batch: the batch is on stable
 * storage when write_batch returns) or not, then read every record back in
 * order.  peer_main runs, for each workload (1M x 100 B in batches of 1000;
 * 10k x 16 KiB in batches of 16), a write phase and a read phase, checks
 * the record count and bytes read, and prints
 *
 *   RESULT <peer> <workload> <durability> <write records/s> <write MB/s>
 *          <read records/s> <read MB/s>
 *
 * on one line; bench/peers.sh turns these into the table.  A scale
 * argument multiplies the record counts (smoke runs).
 */
#ifndef PEER_H
#define PEER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct peer_ops {
    const char *name;
    /* Opens a new store under dir (an empty directory).  durable: every
     * write_batch must be on stable storage when it returns.  Returns an
     * opaque store or NULL (after printing why). */
    void *(*open)(const char *dir, int durable, size_t value_size);
    /* Writes count records: keys[i] (8 bytes), value (value_size bytes,
     * the same for all).  Returns 0 or -1. */
    int (*write_batch)(void *store, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size);
    /* Reads every record in key order; *records and *bytes (value bytes)
     * are set.  Returns 0 or -1. */
    int (*read_all)(void *store, uint64_t *records, uint64_t *bytes);
    void (*close)(void *store);
} peer_ops_t;

static inline void peer_put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline double peer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int peer_run(const peer_ops_t *ops, const char *base, const char *name,
                    uint64_t records, size_t value_size, size_t batch,
                    int durable) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s-%s-%s", base, ops->name, name,
             durable ? "fsync" : "nofsync");
    mkdir(dir, 0700);
    void *store = ops->open(dir, durable, value_size);
    if (!store)
        return -1;
    uint8_t *value = malloc(value_size);
    uint64_t *keys = malloc(batch * sizeof *keys);
    for (size_t i = 0; i < value_size; i++)
        value[i] = (uint8_t)('a' + i % 26);
    double start = peer_now();
    for (uint64_t done = 0; done < records;) {
        size_t n = records - done < batch ? (size_t)(records - done) : batch;
        for (size_t i = 0; i < n; i++)
            keys[i] = done + i;
        if (ops->write_batch(store, keys, n, value, value_size) != 0) {
            fprintf(stderr, "%s: write failed at record %llu\n", ops->name,
                    (unsigned long long)done);
            return -1;
        }
        done += n;
    }
    double written = peer_now() - start;
    uint64_t got = 0, bytes = 0;
    start = peer_now();
    if (ops->read_all(store, &got, &bytes) != 0 || got != records ||
        bytes != records * value_size) {
        fprintf(stderr, "%s: read back %llu records / %llu bytes, wanted %llu\n",
                ops->name, (unsigned long long)got, (unsigned long long)bytes,
                (unsigned long long)records);
        return -1;
    }
    double read = peer_now() - start;
    ops->close(store);
    free(value);
    free(keys);
    double mb = (double)records * (double)value_size / 1e6;
    printf("RESULT %s %s %s %.0f %.1f %.0f %.1f\n", ops->name, name,
           durable ? "fsync" : "nofsync", (double)records / written,
           mb / written, (double)records / read, mb / read);
    fflush(stdout);
    return 0;
}

/* usage: <peer> DIR [scale] [nofsync|fsync|both] */
static int peer_main(const peer_ops_t *ops, int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [scale] [nofsync|fsync|both]\n",
                argv[0]);
        return 2;
    }
    double scale = argc > 2 ? atof(argv[2]) : 1.0;
    const char *modes = argc > 3 ? argv[3] : "both";
    uint64_t small = (uint64_t)(1000000 * scale), large = (uint64_t)(10000 * scale);
    if (small < 1000)
        small = 1000;
    if (large < 16)
        large = 16;
    for (int durable = 0; durable <= 1; durable++) {
        if (strcmp(modes, "both") != 0 &&
            strcmp(modes, durable ? "fsync" : "nofsync") != 0)
            continue;
        if (peer_run(ops, argv[1], "1Mx100B", small, 100, 1000, durable) ||
            peer_run(ops, argv[1], "10kx16KiB", large, 16384, 16, durable))
            return 1;
    }
    return 0;
}

#endif
