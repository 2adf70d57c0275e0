/*
 * bench/replica_bench.c -- throughput of the replication core at acks=all:
 * N nodes (1 and 3) in one thread over an in-memory transport (every
 * envelope encoded, checksummed, decoded) and in-memory logs (sync is
 * free), so the number is the protocol's own CPU cost, not disk.  Reports
 * committed entries/s and MB/s, and the 3-node cost relative to 1 node.
 *
 * Usage: replica_bench [dir] -- the directory argument `make
 * bench` passes is unused.
 */
#include "alloc.h"
#include "replica.h"

/* The tests' in-memory log (one translation unit; no test framework). */
#include "../test/support/memlog.c"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define MAX_N 3
#define ENTRY_BYTES 1024
#define TOTAL 200000

typedef struct {
    int32_t from, to;
    uint8_t *bytes;
    size_t len;
} pkt_t;

static pkt_t queue_[1 << 16];
static size_t head, tail;
static int32_t ids[MAX_N] = {0, 1, 2};

static int send_cb(void *opaque, int32_t to, const void *bytes, size_t len) {
    pkt_t *p = &queue_[tail++ & 0xffff];
    p->from = *(int32_t *)opaque;
    p->to = to;
    p->bytes = malloc(len);
    memcpy(p->bytes, bytes, len);
    p->len = len;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run(int n) {
    lgi_replica_node_t *nodes[MAX_N];
    lgt_memlog_t logs[MAX_N];
    memset(logs, 0, sizeof logs);
    int64_t now = 0;
    for (int i = 0; i < n; i++) {
        lgi_replica_config_t c = {.node_id = i, .seed = (uint64_t)i + 1,
                                  .election_timeout_ms = 100,
                                  .fetch_interval_ms = 1,
                                  .max_fetch_entries = 64, .send = send_cb,
                                  .send_opaque = &ids[i]};
        lgi_replica_node_create(&c, 0, &nodes[i]);
        lgi_replica_storage_t st = lgt_memlog_storage(&logs[i]);
        lgi_replica_node_add(nodes[i], "t", 0, ids, (size_t)n, &st, 0);
    }
    static uint8_t payload[ENTRY_BYTES];
    int leader = -1;
    int64_t proposed = 0;
    lgi_replica_status_t st = {0};
    double start = 0;
    for (;;) {
        now += 1;
        for (int i = 0; i < n; i++)
            lgi_replica_node_tick(nodes[i], now);
        while (head != tail) {
            pkt_t p = queue_[head++ & 0xffff];
            lgi_replica_node_receive(nodes[p.to], p.from, p.bytes, p.len, now);
            free(p.bytes);
        }
        if (leader < 0) {
            for (int i = 0; i < n; i++) {
                lgi_replica_status(nodes[i], "t", 0, &st);
                if (st.role == LGI_ROLE_LEADER)
                    leader = i;
            }
            if (leader < 0)
                continue;
            start = now_s();
        }
        for (int k = 0; k < 64 && proposed < TOTAL; k++, proposed++)
            lgi_replica_propose(nodes[leader], "t", 0, payload, ENTRY_BYTES,
                                NULL, NULL, NULL);
        lgi_replica_status(nodes[leader], "t", 0, &st);
        if (st.high_watermark > TOTAL)
            break;
    }
    double secs = now_s() - start;
    for (int i = 0; i < n; i++) {
        lgi_replica_node_destroy(nodes[i]);
        lgt_memlog_free(&logs[i]);
    }
    double rate = TOTAL / secs;
    printf("replica core, %d node%s, acks=all, %d x %d B: %.0f entries/s, "
           "%.1f MB/s\n",
           n, n > 1 ? "s" : "", TOTAL, ENTRY_BYTES, rate,
           rate * ENTRY_BYTES / 1e6);
    return rate;
}

int main(void) {
    double one = run(1);
    double three = run(3);
    printf("replication cost: 3 nodes run at %.0f%% of 1 node's rate "
           "(protocol CPU only; fsync and network excluded)\n",
           100.0 * three / one);
    return 0;
}
