/*
 * test_replication.c -- replication through the public API: three engines
 * in one process, each in its own directory, joined by an in-memory
 * transport.  One thread (the test's) drives every lg_engine_tick and
 * delivers every message on virtual time; acks=all appends, which block
 * until a majority holds the batch durably, run on a helper thread.
 *
 * Proves: produce on the leader, followers refuse appends naming the
 * leader, acks=all returns only once committed, readers see only up to
 * the high watermark, close the leader and a follower takes over with no
 * acknowledged record lost, the old leader rejoins and converges; without
 * a majority acks=all times out instead of acknowledging; an engine
 * without a transport is unchanged.
 */
#include "liblog.h"
#include "testutil.h"

#include "alloc.h"
#include "engine.h" /* lgi_engine_clean: run retention now */
#include "metafile.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODES 3
#define MAX_PACKETS 8192

typedef struct {
    int32_t from, to;
    uint8_t *bytes;
    size_t len;
} packet_t;

static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static packet_t packets[MAX_PACKETS];
static size_t packet_count;
static int isolated = -1; /* node whose messages are all lost; -1 none */
static int32_t ids[NODES] = {0, 1, 2};
static lg_conf_t *topic_conf; /* for topic "t" when start_node creates it */
static char *dirs[NODES];
static lg_engine_t *engines[NODES];
static int64_t now_ms;
static const char *seeds[NODES]; /* replication.random.seed; NULL: default */

static int net_send(void *opaque, int32_t node_id, const void *bytes,
                    size_t len) {
    int32_t from = *(const int32_t *)opaque;
    pthread_mutex_lock(&net_lock);
    if (packet_count == MAX_PACKETS) {
        pthread_mutex_unlock(&net_lock);
        return -1;
    }
    uint8_t *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, bytes, len);
    packets[packet_count++] = (packet_t){from, node_id, copy, len};
    pthread_mutex_unlock(&net_lock);
    return 0;
}

/* Opens engine i with the test's replication settings, creates topic
 * "t" if needed and registers the transport; with assign, also calls
 * lg_topic_set_replicas (only the first open needs it: the replica set
 * is persisted). */
static void open_node(int i) {
    lg_conf_t *conf = lg_conf_new();
    char id[16];
    snprintf(id, sizeof id, "%d", i);
    ck_assert_int_eq(lg_conf_set(conf, "node.id", id), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "replication.factor", "3"), LG_OK);
    ck_assert_int_eq(
        lg_conf_set(conf, "replication.election.timeout.ms", "100"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "replication.fetch.interval.ms", "10"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "replication.ack.timeout.ms", "2000"),
                     LG_OK);
    if (seeds[i])
        ck_assert_int_eq(
            lg_conf_set(conf, "replication.random.seed", seeds[i]), LG_OK);
    ck_assert_int_eq(lg_engine_open(dirs[i], conf, &engines[i]), LG_OK);
    lg_conf_destroy(conf);
}

static void start_node(int i, int assign) {
    open_node(i);
    lg_err_t err = lg_topic_create(engines[i], "t", 1, topic_conf);
    ck_assert(err == LG_OK || err == LG_ERR_TOPIC_EXISTS);
    lg_transport_t transport = {.version = LG_TRANSPORT_VERSION,
                                .opaque = &ids[i],
                                .send = net_send};
    ck_assert_int_eq(lg_engine_set_transport(engines[i], &transport), LG_OK);
    if (assign)
        ck_assert_int_eq(lg_topic_set_replicas(engines[i], "t", 0, ids, NODES),
                         LG_OK);
    ck_assert_int_eq(lg_engine_tick(engines[i], now_ms), LG_OK);
}

static void start(int i) { start_node(i, 1); }

static void stop(int i) {
    ck_assert_int_eq(lg_engine_close(engines[i]), LG_OK);
    engines[i] = NULL;
}

/* 5 ms of virtual time: tick every live engine, then deliver until quiet
 * (messages to closed or isolated nodes are lost). */
static void step(void) {
    now_ms += 5;
    for (int i = 0; i < NODES; i++)
        if (engines[i])
            ck_assert_int_eq(lg_engine_tick(engines[i], now_ms), LG_OK);
    for (int round = 0; round < 50; round++) {
        static packet_t batch[MAX_PACKETS];
        pthread_mutex_lock(&net_lock);
        size_t n = packet_count;
        memcpy(batch, packets, n * sizeof *batch);
        packet_count = 0;
        pthread_mutex_unlock(&net_lock);
        if (n == 0)
            break;
        for (size_t k = 0; k < n; k++) {
            int to = batch[k].to;
            if (to >= 0 && to < NODES && engines[to] && to != isolated &&
                batch[k].from != isolated)
                ck_assert_int_eq(lg_replica_receive(engines[to], batch[k].from,
                                                    batch[k].bytes,
                                                    batch[k].len),
                                 LG_OK);
            free(batch[k].bytes);
        }
    }
}

static int leader(void) {
    for (int i = 0; i < NODES; i++) {
        int32_t l;
        if (engines[i] && i != isolated &&
            lg_replica_leader(engines[i], "t", 0, &l, NULL, NULL) == LG_OK &&
            l == i)
            return i;
    }
    return -1;
}

static int wait_leader(void) {
    for (int s = 0; s < 1000; s++) {
        int l = leader();
        if (l >= 0)
            return l;
        step();
    }
    ck_abort_msg("no leader elected");
    return -1;
}

static int64_t high(int i) {
    int64_t h;
    ck_assert_int_eq(lg_watermarks(engines[i], "t", 0, NULL, &h), LG_OK);
    return h;
}

static _Thread_local char last_message[512]; /* of the last append */

static lg_err_t append(int i, int n, int acks, int64_t *basep) {
    lg_records_t *records = lg_records_new();
    for (int r = 0; r < 3; r++) {
        char value[32];
        int len = snprintf(value, sizeof value, "v%d.%d", n, r);
        ck_assert_int_eq(
            lg_records_add(records, NULL, 0, value, (size_t)len, 1000 + n),
            LG_OK);
    }
    lg_err_t err = lg_append(engines[i], "t", 0, records, acks, basep);
    snprintf(last_message, sizeof last_message, "%s",
             lg_last_error_message());
    lg_records_destroy(records);
    return err;
}

/* Checks record r of append n is at offset base + r on engine i. */
static void check_batch(int i, int n, int64_t base) {
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engines[i], "t", 0, base, 1 << 16, &fetch),
                     LG_OK);
    for (int r = 0; r < 3; r++) {
        const lg_message_t *m;
        ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
        ck_assert_msg(m != NULL, "node %d: no record at %" PRId64, i,
                      base + r);
        ck_assert_int_eq(lg_message_offset(m), base + r);
        char want[32];
        int len = snprintf(want, sizeof want, "v%d.%d", n, r);
        size_t got_len;
        const void *got = lg_message_value(m, &got_len);
        ck_assert_uint_eq(got_len, (size_t)len);
        ck_assert(memcmp(got, want, got_len) == 0);
    }
    lg_fetch_destroy(fetch);
}

/* The helper thread's acks=all appends. */
typedef struct {
    int engine, first, count;
    int64_t bases[64];
    lg_err_t errs[64];
    atomic_int done;
} producer_t;

static void *produce_all(void *arg) {
    producer_t *p = arg;
    for (int k = 0; k < p->count; k++)
        p->errs[k] = append(p->engine, p->first + k, LG_ACKS_ALL, &p->bases[k]);
    atomic_store(&p->done, 1);
    return NULL;
}

/* Drives the cluster while a helper thread's calls (served by the
 * engines' real threads: writes, fsyncs) finish.  Bounded by wall-clock
 * time, not by a step count: on a loaded machine the fsyncs an acks=all
 * append waits for can take far longer than any fixed number of steps,
 * and each step yields briefly so those threads get the CPU. */
static void drive_until(atomic_int *done, const char *what) {
    struct timespec start, now, pause = {0, 50000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (atomic_load(done))
            return;
        step();
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        ck_assert_msg(now.tv_sec - start.tv_sec < 120, "%s", what);
    }
}

/* Runs p on a helper thread while this thread drives the cluster. */
static void run_producer(producer_t *p) {
    pthread_t thread;
    atomic_store(&p->done, 0);
    ck_assert_int_eq(pthread_create(&thread, NULL, produce_all, p), 0);
    drive_until(&p->done, "acks=all appends never returned");
    pthread_join(thread, NULL);
}

/* Appends batches first..first+count with acks=all through engine i. */
static void produce_batches(int i, int first, int count, int64_t *bases) {
    static producer_t p;
    p.engine = i;
    p.first = first;
    p.count = count;
    run_producer(&p);
    for (int k = 0; k < count; k++) {
        ck_assert_msg(p.errs[k] == LG_OK, "batch %d: %s", first + k,
                      lg_err_name(p.errs[k]));
        bases[first + k] = p.bases[k];
    }
}

static void setup(void) {
    for (int i = 0; i < NODES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "repl%d", i);
        dirs[i] = lgt_tmpdir(tag);
        engines[i] = NULL;
    }
    now_ms = 1000;
    isolated = -1;
    for (int i = 0; i < NODES; i++)
        seeds[i] = NULL;
    packet_count = 0;
    topic_conf = NULL;
}

static void teardown(void) {
    for (int i = 0; i < NODES; i++) {
        if (engines[i])
            lg_engine_close(engines[i]);
        engines[i] = NULL;
        lgt_rmrf(dirs[i]);
        free(dirs[i]);
    }
    lg_conf_destroy(topic_conf);
    topic_conf = NULL;
    for (size_t k = 0; k < packet_count; k++)
        free(packets[k].bytes);
    packet_count = 0;
}

START_TEST(failover_loses_no_acknowledged_record) {
    for (int i = 0; i < NODES; i++)
        start(i);
    /* Before any election nobody leads. */
    ck_assert_int_eq(append(0, 0, LG_ACKS_LEADER, NULL), LG_ERR_NOT_LEADER);
    ck_assert_msg(strstr(last_message, "no leader") != NULL, "message: %s",
                  last_message);

    int l = wait_leader();
    for (int s = 0; s < 20; s++)
        step();
    int f = (l + 1) % NODES;
    ck_assert_int_eq(append(f, 0, LG_ACKS_ALL, NULL), LG_ERR_NOT_LEADER);
    char want[64];
    snprintf(want, sizeof want, "the leader is node %d", l);
    ck_assert_msg(strstr(last_message, want), "message: %s", last_message);

    static producer_t p1;
    p1.engine = l;
    p1.first = 0;
    p1.count = 30;
    run_producer(&p1);
    for (int k = 0; k < p1.count; k++) {
        ck_assert_int_eq(p1.errs[k], LG_OK);
        /* acknowledged means committed: below the leader's HW */
        ck_assert_int_ge(high(l), p1.bases[k] + 3);
        check_batch(l, k, p1.bases[k]);
    }

    /* acks=1 is leader-local: returns at once, but readers see the batch
     * only once the high watermark covers it. */
    int64_t before = high(l), base;
    ck_assert_int_eq(append(l, 100, LG_ACKS_LEADER, &base), LG_OK);
    ck_assert_int_eq(base, before);
    ck_assert_int_eq(high(l), before);
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engines[l], "t", 0, base, 1 << 16, &fetch),
                     LG_OK);
    const lg_message_t *m;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    lg_fetch_destroy(fetch);
    /* Time lookups stop at the high watermark too: past every timestamp
     * the answer is the visible end, not the log end. */
    int64_t by_time;
    ck_assert_int_eq(lg_offset_for_time(engines[l], "t", 0, 4102444800000,
                                        &by_time),
                     LG_OK);
    ck_assert_int_eq(by_time, base);
    for (int s = 0; s < 20; s++)
        step();
    ck_assert_int_eq(high(l), base + 3);
    check_batch(l, 100, base);
    for (int i = 0; i < NODES; i++) /* followers learned the HW too */
        check_batch(i, 29, p1.bases[29]);

    /* The leader dies; a follower takes over with every acknowledged
     * record. */
    int old = l;
    stop(old);
    l = wait_leader();
    ck_assert_int_ne(l, old);
    static producer_t p2;
    p2.engine = l;
    p2.first = 30;
    p2.count = 10;
    run_producer(&p2);
    for (int k = 0; k < p2.count; k++)
        ck_assert_int_eq(p2.errs[k], LG_OK);
    for (int s = 0; s < 20; s++)
        step();
    for (int i = 0; i < NODES; i++) {
        if (!engines[i])
            continue;
        for (int k = 0; k < p1.count; k++)
            check_batch(i, k, p1.bases[k]);
        for (int k = 0; k < p2.count; k++)
            check_batch(i, 30 + k, p2.bases[k]);
    }

    /* The old leader comes back from its directory and converges. */
    start(old);
    for (int s = 0; s < 200; s++)
        step();
    ck_assert_int_eq(leader(), l);
    int64_t end = high(l);
    for (int i = 0; i < NODES; i++) {
        ck_assert_int_eq(high(i), end);
        for (int k = 0; k < p1.count; k++)
            check_batch(i, k, p1.bases[k]);
        for (int k = 0; k < p2.count; k++)
            check_batch(i, 30 + k, p2.bases[k]);
    }
}
END_TEST

START_TEST(acks_all_without_a_majority_times_out) {
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    for (int s = 0; s < 20; s++)
        step();
    int64_t before = high(l);
    isolated = l; /* the leader hears no one and no one hears it */
    static producer_t p;
    p.engine = l;
    p.first = 0;
    p.count = 1;
    run_producer(&p);
    /* Never acknowledged.  Which refusal comes depends on the race between
     * the appending thread and the stepping one: queued while l still
     * leads, the append waits out its timeout; reaching l only after its
     * fetch timeout made it resign (it heard no voter), it is refused as
     * not leader.  Both are correct; LG_OK never is. */
    ck_assert_msg(p.errs[0] == LG_ERR_TIMED_OUT ||
                      p.errs[0] == LG_ERR_NOT_LEADER,
                  "acks=all without a majority returned %d", p.errs[0]);
    ck_assert_int_eq(high(l), before); /* never visible on the old leader */
    isolated = -1;
    /* Healed: one leader again, known to every node (possibly the old one
     * in a new epoch: its isolated elections raised its epoch). */
    wait_leader();
    for (int s = 0; s < 200; s++)
        step();
    int l2 = leader();
    ck_assert_int_ge(l2, 0);
    for (int i = 0; i < NODES; i++) {
        int32_t known;
        ck_assert_int_eq(lg_replica_leader(engines[i], "t", 0, &known, NULL,
                                           NULL),
                         LG_OK);
        ck_assert_int_eq(known, l2);
    }
}
END_TEST

static int64_t high_of(lg_engine_t *engine) {
    int64_t h;
    ck_assert_int_eq(lg_watermarks(engine, "t", 0, NULL, &h), LG_OK);
    return h;
}

/* One record, acks=all, on engine. */
static lg_err_t append_engine_check(lg_engine_t *engine, int64_t *basep) {
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, NULL, 0, "x", 1, 1000), LG_OK);
    lg_err_t err = lg_append(engine, "t", 0, records, LG_ACKS_ALL, basep);
    lg_records_destroy(records);
    return err;
}

START_TEST(without_transport_nothing_changes) {
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dirs[0], NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_tick(engine, 5), LG_OK);
    ck_assert_int_eq(lg_replica_receive(engine, 1, "x", 1), LG_ERR_STATE);
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 0, ids, 1),
                     LG_ERR_STATE);
    ck_assert_int_eq(lg_replica_leader(engine, "t", 0, NULL, NULL, NULL),
                     LG_ERR_STATE);
    lg_transport_t transport = {.version = LG_TRANSPORT_VERSION,
                                .opaque = &ids[0],
                                .send = net_send};
    /* node.id is required */
    ck_assert_int_eq(lg_engine_set_transport(engine, &transport),
                     LG_ERR_INVALID_CONFIG);
    int64_t base;
    ck_assert_int_eq(append_engine_check(engine, &base), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "node.id", "0"), LG_OK);
    ck_assert_int_eq(lg_engine_open(dirs[0], conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    transport.version = 2;
    ck_assert_int_eq(lg_engine_set_transport(engine, &transport),
                     LG_ERR_UNSUPPORTED);
    transport.version = LG_TRANSPORT_VERSION;
    transport.reserved[0] = &transport;
    ck_assert_int_eq(lg_engine_set_transport(engine, &transport),
                     LG_ERR_INVALID_ARG);
    transport.reserved[0] = NULL;
    ck_assert_int_eq(lg_engine_set_transport(engine, &transport), LG_OK);
    ck_assert_int_eq(lg_engine_set_transport(engine, &transport),
                     LG_ERR_STATE);
    int32_t others[1] = {1};
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 0, ids, 2),
                     LG_ERR_INVALID_ARG); /* replication.factor is 1 */
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 0, others, 1),
                     LG_ERR_INVALID_ARG); /* not a replica itself */
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 5, ids, 1),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_replica_receive(engine, 1, "garbage", 7),
                     LG_ERR_CORRUPT);
    /* A single replica elects itself and commits on its own fsync; the
     * record written before replication is kept. */
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 0, ids, 1), LG_OK);
    /* the same set again is a no-op */
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 0, ids, 1), LG_OK);
    ck_assert_int_eq(high_of(engine), 0);
    for (int64_t t = 10; t < 3000; t += 10)
        ck_assert_int_eq(lg_engine_tick(engine, t), LG_OK);
    int32_t l;
    ck_assert_int_eq(lg_replica_leader(engine, "t", 0, &l, NULL, NULL), LG_OK);
    ck_assert_int_eq(l, 0);
    ck_assert_int_eq(high_of(engine), 2); /* the old record + the marker */
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, NULL, 0, "y", 1, 1000), LG_OK);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_LEADER, &base),
                     LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(base, 2);
    ck_assert_int_eq(high_of(engine), 2); /* not committed before a tick */
    ck_assert_int_eq(lg_engine_tick(engine, 3000), LG_OK);
    ck_assert_int_eq(high_of(engine), 3);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    /* Several replicas only for a partition without unreplicated data. */
    conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "node.id", "1"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "replication.factor", "3"), LG_OK);
    ck_assert_int_eq(lg_engine_open(dirs[1], conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(append_engine_check(engine, &base), LG_OK);
    transport.opaque = &ids[1];
    ck_assert_int_eq(lg_engine_set_transport(engine, &transport), LG_OK);
    ck_assert_int_eq(lg_topic_set_replicas(engine, "t", 0, ids, 3),
                     LG_ERR_STATE);
    ck_assert_int_eq(high_of(engine), 1); /* still readable, unreplicated */
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    for (size_t k = 0; k < packet_count; k++)
        free(packets[k].bytes);
    packet_count = 0;
}
END_TEST

/* examples/replicated: three processes over TCP loopback, the leader
 * SIGKILLed, a follower takes over, no acknowledged record lost (the
 * example checks and exits 0). */
START_TEST(example_three_processes_survive_leader_kill) {
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char command[4096];
    snprintf(command, sizeof command,
             "%s/examples/replicated/replicated %s/demo > %s/out 2>&1",
             build, dirs[0], dirs[0]);
    int rc = system(command);
    if (rc != 0) {
        snprintf(command, sizeof command, "cat %s/out", dirs[0]);
        ck_assert_int_eq(system(command), 0);
    }
    ck_assert_int_eq(rc, 0);
}
END_TEST

START_TEST(leadership_transfer_moves_the_leader_without_loss) {
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    int64_t bases[5];
    produce_batches(l, 0, 5, bases);
    int target = (l + 1) % NODES, other = (l + 2) % NODES;
    /* errors first: a follower cannot transfer, nor to a non-replica */
    ck_assert_int_eq(lg_replica_transfer_leadership(engines[target], "t", 0,
                                                    other),
                     LG_ERR_NOT_LEADER);
    ck_assert_int_eq(lg_replica_transfer_leadership(engines[l], "t", 0, 7),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_replica_transfer_leadership(engines[l], "t", 9,
                                                    target),
                     LG_ERR_STATE);
    ck_assert_int_eq(lg_replica_transfer_leadership(NULL, "t", 0, target),
                     LG_ERR_INVALID_ARG);
    int32_t epoch_before;
    ck_assert_int_eq(lg_replica_leader(engines[l], "t", 0, NULL,
                                       &epoch_before, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_replica_transfer_leadership(engines[l], "t", 0,
                                                    target),
                     LG_OK);
    int s;
    for (s = 0; s < 1000 && leader() != target; s++)
        step();
    ck_assert_int_eq(leader(), target);
    int32_t epoch_after;
    ck_assert_int_eq(lg_replica_leader(engines[target], "t", 0, NULL,
                                       &epoch_after, NULL),
                     LG_OK);
    ck_assert_int_gt(epoch_after, epoch_before);
    /* the old leader now refuses appends, naming the new one */
    for (s = 0; s < 50; s++)
        step();
    ck_assert_int_eq(append(l, 99, LG_ACKS_LEADER, NULL), LG_ERR_NOT_LEADER);
    /* nothing acknowledged was lost */
    for (int k = 0; k < 5; k++)
        check_batch(target, k, bases[k]);
}
END_TEST

START_TEST(unclean_election_only_by_operator_call) {
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    int64_t bases[3];
    produce_batches(l, 0, 3, bases);
    for (int s = 0; s < 50; s++)
        step();
    int survivor = (l + 1) % NODES;
    stop(l);
    stop((l + 2) % NODES);
    /* alone, the survivor never elects itself */
    for (int s = 0; s < 400; s++)
        step();
    ck_assert_int_eq(leader(), -1);
    ck_assert_int_eq(lg_replica_elect_unclean(engines[survivor], "t", 9),
                     LG_ERR_STATE);
    ck_assert_int_eq(lg_replica_elect_unclean(engines[survivor], "t", 0),
                     LG_OK);
    for (int s = 0; s < 20; s++)
        step();
    ck_assert_int_eq(leader(), survivor);
    /* it kept what it had replicated, and accepts leader-local appends */
    for (int k = 0; k < 3; k++)
        check_batch(survivor, k, bases[k]);
    ck_assert_int_eq(append(survivor, 50, LG_ACKS_LEADER, NULL), LG_OK);
}
END_TEST

START_TEST(replica_sets_persist_across_reopen) {
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    static producer_t p1;
    p1.engine = l;
    p1.first = 0;
    p1.count = 5;
    run_producer(&p1);
    for (int k = 0; k < p1.count; k++)
        ck_assert_int_eq(p1.errs[k], LG_OK);
    for (int s = 0; s < 20; s++)
        step();
    for (int i = 0; i < NODES; i++)
        stop(i);

    /* Reopened, before any transport: the partition is held -- appends
     * refused, nothing readable -- instead of silently unreplicated. */
    open_node(0);
    ck_assert_int_eq(append(0, 99, LG_ACKS_LEADER, NULL), LG_ERR_NOT_LEADER);
    ck_assert_msg(strstr(last_message, "lg_engine_set_transport") != NULL,
                  "message: %s", last_message);
    ck_assert_int_eq(high(0), 0);
    stop(0);

    /* With a transport and no lg_topic_set_replicas, replication resumes:
     * a leader, every acknowledged record, new appends committed. */
    for (int i = 0; i < NODES; i++)
        start_node(i, 0);
    l = wait_leader();
    static producer_t p2;
    p2.engine = l;
    p2.first = 5;
    p2.count = 5;
    run_producer(&p2);
    for (int k = 0; k < p2.count; k++)
        ck_assert_int_eq(p2.errs[k], LG_OK);
    for (int s = 0; s < 20; s++)
        step();
    for (int i = 0; i < NODES; i++) {
        for (int k = 0; k < p1.count; k++)
            check_batch(i, k, p1.bases[k]);
        for (int k = 0; k < p2.count; k++)
            check_batch(i, 5 + k, p2.bases[k]);
    }

    /* Changing the set is explicit and refused; the same set (any order)
     * is a no-op. */
    int32_t other[NODES] = {0, 1, 5}, same[NODES] = {2, 0, 1};
    ck_assert_int_eq(lg_topic_set_replicas(engines[0], "t", 0, other, NODES),
                     LG_ERR_STATE);
    ck_assert_msg(strstr(lg_last_error_message(),
                         "already replicated over nodes 0,1,2") != NULL,
                  "message: %s", lg_last_error_message());
    ck_assert_int_eq(lg_topic_set_replicas(engines[0], "t", 0, same, NODES),
                     LG_OK);
}
END_TEST

/* ------------------------------------------------------------------------
 * Idempotent producer over a failover
 * --------------------------------------------------------------------- */

#define RECORDS 60

typedef struct {
    int count;
    lg_err_t errs[RECORDS];
    int64_t offsets[RECORDS];
} reports_t;

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    (void)topic, (void)partition;
    reports_t *r = opaque;
    int n = (int)(intptr_t)message_opaque;
    r->errs[n] = err;
    r->offsets[n] = offset;
    r->count++;
}

static void produce_range(lg_producer_t *producer, int from, int to) {
    for (int n = from; n < to; n++) {
        char value[16];
        int len = snprintf(value, sizeof value, "p%d", n);
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                    (size_t)len, 1000 + n, (void *)(intptr_t)n),
                         LG_OK);
    }
}

/* Steps (serving reports) until reports->count reaches want. */
static void deliver(lg_producer_t *producer, reports_t *reports, int want) {
    /* Bounded by wall-clock time, as drive_until is, for the same reason. */
    struct timespec start, now, pause = {0, 50000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (reports->count < want) {
        step();
        lg_producer_poll(producer, 0);
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 120)
            break;
    }
    ck_assert_int_eq(reports->count, want);
}

/* Every record of engine i below its high watermark: n of "p<n>" per
 * offset in *valuesp (count returned), offsets in *offsetsp. */
static int read_all(int i, int *values, int64_t *offsets, int max) {
    int count = 0;
    int64_t offset = 0, end = high(i);
    while (offset < end) {
        lg_fetch_t *fetch;
        ck_assert_int_eq(lg_read(engines[i], "t", 0, offset, 1 << 16, &fetch),
                         LG_OK);
        const lg_message_t *m;
        int any = 0;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            size_t len;
            const char *v = lg_message_value(m, &len);
            ck_assert_int_lt(count, max);
            ck_assert(len > 1 && v[0] == 'p');
            values[count] = atoi(v + 1);
            offsets[count++] = lg_message_offset(m);
            offset = lg_message_offset(m) + 1;
            any = 1;
        }
        int64_t next = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        if (!any) {
            if (next <= offset)
                break;
            offset = next; /* past control batches */
        }
    }
    return count;
}

START_TEST(idempotent_producer_failover_never_duplicates_or_reorders) {
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    for (int s = 0; s < 20; s++)
        step();
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "enable.idempotence", "true"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "acks", "all"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "0"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "retry.backoff.ms", "1"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "delivery.timeout.ms", "600000"),
                     LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engines[l], conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    static reports_t reports;
    memset(&reports, 0, sizeof reports);
    ck_assert_int_eq(
        lg_producer_set_delivery_callback(producer, on_delivery, &reports),
        LG_OK);

    produce_range(producer, 0, 20);
    deliver(producer, &reports, 20);

    /* Mid-stream the leader is cut off: some batches reach a follower
     * before it, some not; the producer keeps re-sending (timed out or
     * refused) while another node leads. */
    produce_range(producer, 20, 40);
    for (int s = 0; s < 3; s++) {
        step();
        lg_producer_poll(producer, 0);
    }
    isolated = l;
    produce_range(producer, 40, RECORDS);
    int other = -1;
    for (int s = 0; s < 4000 && other < 0; s++) {
        step();
        lg_producer_poll(producer, 0);
        other = leader();
    }
    ck_assert_int_ge(other, 0);
    ck_assert_int_ne(other, l);
    for (int s = 0; s < 500; s++) { /* the old leader's waits time out */
        step();
        lg_producer_poll(producer, 0);
    }
    ck_assert_int_lt(reports.count, RECORDS);

    /* Healed; once the old leader has caught up, leadership goes back to
     * it and the producer's re-sends land: what the new leader already
     * holds is acknowledged with its original offsets, the rest appended
     * once. */
    isolated = -1;
    for (int s = 0; s < 4000 && leader() != l; s++) {
        step();
        lg_producer_poll(producer, 0);
        int now = leader();
        int32_t known;
        if (now >= 0 && now != l &&
            lg_replica_leader(engines[l], "t", 0, &known, NULL, NULL) ==
                LG_OK &&
            known == now && high(l) == high(now))
            lg_replica_transfer_leadership(engines[now], "t", 0, l);
    }
    ck_assert_int_eq(leader(), l);
    deliver(producer, &reports, RECORDS);
    for (int n = 0; n < RECORDS; n++)
        ck_assert_msg(reports.errs[n] == LG_OK, "record %d: %s", n,
                      lg_err_name(reports.errs[n]));
    lg_producer_destroy(producer);
    for (int s = 0; s < 50; s++)
        step();

    /* On every replica: each record exactly once, in produce order, at
     * the offset its delivery report gave. */
    for (int i = 0; i < NODES; i++) {
        static int values[4 * RECORDS];
        static int64_t offsets[4 * RECORDS];
        int count = read_all(i, values, offsets, 4 * RECORDS);
        ck_assert_int_eq(count, RECORDS);
        for (int k = 0; k < count; k++) {
            ck_assert_int_eq(values[k], k);
            ck_assert_int_eq(offsets[k], reports.offsets[k]);
        }
    }
}
END_TEST

/* The transactional producer's life, on a helper thread (commit and abort
 * wait for their markers to be committed while the test thread drives the
 * cluster). */
typedef struct {
    int engine;
    lg_err_t init, commit, abort;
    atomic_int done;
} txn_run_t;

static void *run_transactions(void *arg) {
    txn_run_t *run = arg;
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "transactional.id", "tx"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "0"), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engines[run->engine], conf, &producer),
                     LG_OK);
    lg_conf_destroy(conf);
    run->init = lg_producer_init_transactions(producer);
    if (run->init == LG_OK) {
        ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);
        produce_range(producer, 0, 3);
        run->commit = lg_producer_commit_transaction(producer, 60000);
        ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);
        produce_range(producer, 3, 5);
        run->abort = lg_producer_abort_transaction(producer, 60000);
    }
    lg_producer_destroy(producer);
    atomic_store(&run->done, 1);
    return NULL;
}

START_TEST(transactions_commit_and_abort_on_a_replicated_partition) {
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    for (int s = 0; s < 20; s++)
        step();
    static txn_run_t run;
    memset(&run, 0, sizeof run);
    run.engine = l;
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, run_transactions, &run),
                     0);
    drive_until(&run.done, "transactions never finished");
    pthread_join(thread, NULL);
    ck_assert_int_eq(run.init, LG_OK);
    ck_assert_int_eq(run.commit, LG_OK);
    ck_assert_int_eq(run.abort, LG_OK);
    for (int s = 0; s < 50; s++)
        step();
    /* Every replica saw both markers through replication: no transaction
     * is open anywhere, so the last stable offset is the high watermark,
     * and all five records (committed and aborted) are in each log. */
    for (int i = 0; i < NODES; i++) {
        int64_t lso;
        ck_assert_int_eq(lg_watermarks_lso(engines[i], "t", 0, &lso), LG_OK);
        ck_assert_int_eq(lso, high(i));
        static int values[16];
        static int64_t offsets[16];
        ck_assert_int_eq(read_all(i, values, offsets, 16), 5);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * Retention
 * --------------------------------------------------------------------- */

static int64_t low(int i) {
    int64_t l;
    ck_assert_int_eq(lg_watermarks(engines[i], "t", 0, &l, NULL), LG_OK);
    return l;
}

START_TEST(retention_follows_the_leader_and_a_lagging_follower_resets) {
    topic_conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(topic_conf, "segment.bytes", "400"), LG_OK);
    ck_assert_int_eq(lg_conf_set(topic_conf, "retention.bytes", "1500"),
                     LG_OK);
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    static int64_t bases[200];
    produce_batches(l, 0, 40, bases);
    for (int s = 0; s < 20; s++)
        step();
    /* One follower falls behind: it is down while the others go on. */
    int lagging = (l + 1) % NODES, other = (l + 2) % NODES;
    stop(lagging);
    produce_batches(l, 40, 40, bases);
    for (int s = 0; s < 20; s++)
        step();

    /* Retention on the leader: below its high watermark only. */
    int64_t high_before = high(l);
    ck_assert_int_eq(lgi_engine_clean(engines[l], lgi_engine_now_ms(engines[l]),
                                      1),
                     LG_OK);
    int64_t start = low(l);
    ck_assert_int_gt(start, bases[40]); /* past what the lagging one has */
    ck_assert_int_le(start, high_before);
    ck_assert_int_eq(high(l), high_before);
    /* The other follower learns the leader's log start in fetch responses
     * and deletes below it (at a boundary of its own segments). */
    for (int s = 0; s < 20; s++)
        step();
    ck_assert_int_gt(low(other), bases[40]);
    ck_assert_int_le(low(other), start);

    /* The lagging follower returns below the leader's log start: it is
     * told so, starts over empty at the leader's log start, and catches
     * up with exactly the leader's records from there. */
    start_node(lagging, 0);
    for (int s = 0; s < 200; s++)
        step();
    ck_assert_int_eq(low(lagging), start);
    ck_assert_int_eq(high(lagging), high(l));
    for (int k = 0; k < 80; k++)
        if (bases[k] >= start)
            for (int i = 0; i < NODES; i++)
                check_batch(i, k, bases[k]);

    /* Replication goes on, and survives a restart of everyone (the
     * entry numbering is persisted with the log start). */
    l = wait_leader(); /* the returning node may have forced an election */
    produce_batches(l, 80, 10, bases);
    for (int i = 0; i < NODES; i++)
        stop(i);
    /* Held before its transport, it shows nothing: the high watermark
     * sits at the log start, never below it. */
    open_node(0);
    ck_assert_int_gt(low(0), 0);
    ck_assert_int_eq(high(0), low(0));
    stop(0);
    for (int i = 0; i < NODES; i++)
        start_node(i, 0);
    l = wait_leader();
    produce_batches(l, 90, 10, bases);
    for (int s = 0; s < 50; s++)
        step();
    for (int i = 0; i < NODES; i++) {
        ck_assert_int_eq(high(i), high(l));
        for (int k = 80; k < 100; k++)
            check_batch(i, k, bases[k]);
    }
}
END_TEST

/* One keyed record "k<n % 5>" = "v<n>" with acks=all on engine i, per
 * append n in [first, first + count); a helper thread appends while this
 * one drives the cluster. */
typedef struct {
    int engine, first, count;
    lg_err_t errs[64];
    atomic_int done;
} keyed_t;

static void *produce_keyed(void *arg) {
    keyed_t *p = arg;
    for (int k = 0; k < p->count; k++) {
        int n = p->first + k;
        char key[16], value[16];
        int key_len = snprintf(key, sizeof key, "k%d", n % 5);
        int value_len = snprintf(value, sizeof value, "v%d", n);
        lg_records_t *records = lg_records_new();
        ck_assert_int_eq(lg_records_add(records, key, (size_t)key_len, value,
                                        (size_t)value_len, 1000 + n),
                         LG_OK);
        p->errs[k] = lg_append(engines[p->engine], "t", 0, records,
                               LG_ACKS_ALL, NULL);
        lg_records_destroy(records);
    }
    atomic_store(&p->done, 1);
    return NULL;
}

static void produce_keyed_range(int i, int first, int count) {
    static keyed_t p;
    p.engine = i;
    p.first = first;
    p.count = count;
    atomic_store(&p.done, 0);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, produce_keyed, &p), 0);
    drive_until(&p.done, "keyed acks=all appends never returned");
    pthread_join(thread, NULL);
    for (int k = 0; k < count; k++)
        ck_assert_int_eq(p.errs[k], LG_OK);
}

/* Reads engine i's keyed records below its high watermark: *countp
 * records, latest[key] the value number last seen for each key (-1
 * none).  Offsets must increase. */
static void read_keyed(int i, int *countp, int latest[5]) {
    for (int k = 0; k < 5; k++)
        latest[k] = -1;
    int count = 0;
    int64_t offset = low(i), end = high(i), last = -1;
    while (offset < end) {
        lg_fetch_t *fetch;
        ck_assert_int_eq(lg_read(engines[i], "t", 0, offset, 1 << 16, &fetch),
                         LG_OK);
        const lg_message_t *m;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            size_t key_len, value_len;
            const char *key = lg_message_key(m, &key_len);
            const char *value = lg_message_value(m, &value_len);
            ck_assert(key && key_len == 2 && value && value[0] == 'v');
            ck_assert_int_gt(lg_message_offset(m), last);
            last = lg_message_offset(m);
            latest[key[1] - '0'] = atoi(value + 1);
            count++;
        }
        int64_t next = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        ck_assert_int_gt(next, offset);
        offset = next;
    }
    *countp = count;
}

/* Compaction runs on every replica independently and keeps each batch in
 * place (emptied ones as empty batches), so replicas still correspond
 * batch for batch: a follower that was down catches up over the leader's
 * compacted log, and everything restarts cleanly. */
START_TEST(compaction_runs_on_every_replica_and_keeps_batches_alike) {
    topic_conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(topic_conf, "segment.bytes", "300"), LG_OK);
    ck_assert_int_eq(lg_conf_set(topic_conf, "cleanup.policy", "compact"),
                     LG_OK);
    for (int i = 0; i < NODES; i++)
        start(i);
    int l = wait_leader();
    produce_keyed_range(l, 0, 30);
    for (int s = 0; s < 20; s++)
        step();
    int lagging = (l + 1) % NODES, other = (l + 2) % NODES;
    stop(lagging);
    produce_keyed_range(l, 30, 30);
    for (int s = 0; s < 20; s++)
        step();
    int before, latest[5];
    read_keyed(l, &before, latest);
    ck_assert_int_eq(before, 60);
    for (int i = 0; i < NODES; i++)
        if (engines[i])
            ck_assert_int_eq(lgi_engine_clean(engines[i],
                                              lgi_engine_now_ms(engines[i]),
                                              1),
                             LG_OK);
    /* Each live replica compacted its own log: fewer records, the latest
     * value of every key kept. */
    for (int i = 0; i < NODES; i++) {
        if (!engines[i])
            continue;
        int count;
        read_keyed(i, &count, latest);
        ck_assert_int_lt(count, 60);
        for (int k = 0; k < 5; k++)
            ck_assert_int_eq(latest[k], 55 + k);
    }
    /* The lagging follower catches up over the compacted batches. */
    start_node(lagging, 0);
    for (int s = 0; s < 200; s++)
        step();
    l = wait_leader();
    ck_assert_int_eq(high(lagging), high(l));
    int count;
    read_keyed(lagging, &count, latest);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(latest[k], 55 + k);
    /* The logs still line up entry for entry: new batches land at the
     * same offsets everywhere, also after everyone restarts. */
    produce_keyed_range(l, 60, 5);
    for (int i = 0; i < NODES; i++)
        stop(i);
    for (int i = 0; i < NODES; i++)
        start_node(i, 0);
    l = wait_leader();
    produce_keyed_range(l, 65, 5);
    for (int s = 0; s < 50; s++)
        step();
    for (int i = 0; i < NODES; i++) {
        ck_assert_int_eq(high(i), high(l));
        read_keyed(i, &count, latest);
        for (int k = 0; k < 5; k++)
            ck_assert_int_eq(latest[k], 65 + k);
    }
    (void)other;
}
END_TEST

/* Replaces the body of dir's topics file (a valid checksum: the damage is
 * in what the line says). */
static void rewrite_topics(const char *dir, const char *from, const char *to) {
    char path[4096];
    snprintf(path, sizeof path, "%s/topics", dir);
    char *body;
    size_t len;
    ck_assert_int_eq(lgi_metafile_read(path, &body, &len), LG_OK);
    char *at = strstr(body, from);
    ck_assert_msg(at != NULL, "topics file: %s", body);
    char out[8192];
    int n = snprintf(out, sizeof out, "%.*s%s%s", (int)(at - body), body, to,
                     at + strlen(from));
    lgi_free(body);
    ck_assert_int_eq(lgi_metafile_write(path, out, (size_t)n), LG_OK);
}

static lg_err_t open_plain(int i) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "node.id", "0"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "replication.factor", "3"), LG_OK);
    lg_err_t err = lg_engine_open(dirs[i], conf, &engines[i]);
    lg_conf_destroy(conf);
    if (err)
        engines[i] = NULL;
    return err;
}

START_TEST(damaged_replica_metadata_is_a_clear_error) {
    start(0);
    stop(0);
    char path[4096];
    snprintf(path, sizeof path, "%s/topics", dirs[0]);
    FILE *f = fopen(path, "r+");
    ck_assert_ptr_nonnull(f);
    char text[4096];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    char *line = strstr(text, "replicas t 0 0,1,2\n");
    ck_assert_msg(line != NULL, "topics file: %s", text);

    /* A flipped bit in the line: the checksum catches it. */
    fseek(f, (long)(line - text) + 13, SEEK_SET);
    fputc('7', f);
    fclose(f);
    ck_assert_int_eq(open_plain(0), LG_ERR_CORRUPT);
    ck_assert_msg(strstr(lg_last_error_message(), "checksum") != NULL,
                  "message: %s", lg_last_error_message());
    f = fopen(path, "r+");
    fseek(f, (long)(line - text) + 13, SEEK_SET);
    fputc('0', f);
    fclose(f);

    /* Well-formed files that say impossible things. */
    static const char *bad[] = {"replicas t 0 0,1,1\n", "replicas t 7 0,1,2\n",
                                "replicas t 0 0,-1,2\n", "replicas t 0 \n",
                                "replicas u 0 0,1,2\n"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        rewrite_topics(dirs[0], "replicas t 0 0,1,2\n", bad[k]);
        ck_assert_int_eq(open_plain(0), LG_ERR_CORRUPT);
        ck_assert_msg(strstr(lg_last_error_message(), "topics") != NULL,
                      "message: %s", lg_last_error_message());
        rewrite_topics(dirs[0], bad[k], "replicas t 0 0,1,2\n");
    }

    /* A set without this node: the engine opens (the partition held) and
     * lg_engine_set_transport says why it cannot replicate it. */
    rewrite_topics(dirs[0], "replicas t 0 0,1,2\n", "replicas t 0 1,2,3\n");
    ck_assert_int_eq(open_plain(0), LG_OK);
    lg_transport_t transport = {.version = LG_TRANSPORT_VERSION,
                                .opaque = &ids[0],
                                .send = net_send};
    ck_assert_int_eq(lg_engine_set_transport(engines[0], &transport),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_msg(strstr(lg_last_error_message(), "node.id 0") != NULL,
                  "message: %s", lg_last_error_message());
    ck_assert_int_eq(append(0, 1, LG_ACKS_LEADER, NULL), LG_ERR_NOT_LEADER);
    stop(0);

    /* A damaged replica log start (the entry numbering retention keeps)
     * is refused by name too, and the partition stays held. */
    rewrite_topics(dirs[0], "replicas t 0 1,2,3\n", "replicas t 0 0,1,2\n");
    char start_path[4096];
    snprintf(start_path, sizeof start_path, "%s/t-0/replica-log-start",
             dirs[0]);
    ck_assert_int_eq(lgi_metafile_write(start_path, "entry x\n", 8), LG_OK);
    ck_assert_int_eq(open_plain(0), LG_OK);
    ck_assert_int_eq(lg_engine_set_transport(engines[0], &transport),
                     LG_ERR_CORRUPT);
    ck_assert_msg(strstr(lg_last_error_message(), "replica-log-start") !=
                      NULL,
                  "message: %s", lg_last_error_message());
    ck_assert_int_eq(append(0, 1, LG_ACKS_LEADER, NULL), LG_ERR_NOT_LEADER);
    stop(0);
    ck_assert_int_eq(unlink(start_path), 0);

    /* Repaired, it resumes. */
    start_node(0, 0);
    int32_t leader;
    ck_assert_int_eq(lg_replica_leader(engines[0], "t", 0, &leader, NULL,
                                       NULL),
                     LG_OK);
}
END_TEST

/* The election schedule of a fresh cluster whose nodes use seeds s[]:
 * each of three rounds waits for a leader, notes (virtual time, leader,
 * epoch) in trace, then stops that leader -- restarting the one stopped in
 * the round before -- so later rounds depend on the timeouts drawn. */
static void election_schedule(const char *s0, const char *s1, const char *s2,
                              int64_t trace[9]) {
    for (int i = 0; i < NODES; i++) {
        lgt_rmrf(dirs[i]);
        ck_assert_int_eq(mkdir(dirs[i], 0755), 0);
    }
    seeds[0] = s0;
    seeds[1] = s1;
    seeds[2] = s2;
    now_ms = 1000;
    for (size_t k = 0; k < packet_count; k++)
        free(packets[k].bytes); /* the previous cluster's */
    packet_count = 0;
    for (int i = 0; i < NODES; i++)
        start(i);
    int stopped = -1;
    for (int round = 0; round < 3; round++) {
        int l = wait_leader();
        int32_t epoch;
        ck_assert_int_eq(lg_replica_leader(engines[l], "t", 0, NULL, &epoch,
                                           NULL),
                         LG_OK);
        trace[3 * round] = now_ms;
        trace[3 * round + 1] = l;
        trace[3 * round + 2] = epoch;
        stop(l);
        if (stopped >= 0)
            start_node(stopped, 0);
        stopped = l;
    }
    for (int i = 0; i < NODES; i++)
        if (engines[i])
            stop(i);
}

START_TEST(random_seed_replays_or_varies_the_election_schedule) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "replication.random.seed", "-2"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "replication.random.seed", "x"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(
        lg_conf_set(conf, "replication.random.seed", "9223372036854775807"),
        LG_OK);
    lg_conf_destroy(conf);
    int64_t a[9], b[9], c[9], d[9];
    election_schedule("11", "22", "33", a);
    election_schedule("11", "22", "33", b);
    ck_assert_mem_eq(a, b, sizeof a); /* same seeds: same schedule */
    election_schedule(NULL, NULL, NULL, c);
    election_schedule(NULL, NULL, NULL, d);
    ck_assert_mem_eq(c, d, sizeof c); /* the node.id default replays too */
    /* other seeds draw other timeouts: the schedule moves */
    int64_t e[9];
    election_schedule("5", "6", "7", e);
    ck_assert(memcmp(a, e, sizeof a) != 0);
    ck_assert(memcmp(c, e, sizeof c) != 0);
    ck_assert(memcmp(a, c, sizeof a) != 0);
}
END_TEST

static Suite *replication_suite(void) {
    Suite *s = suite_create("replication");
    TCase *tc = tcase_create("engines");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, without_transport_nothing_changes);
    tcase_add_test(tc, random_seed_replays_or_varies_the_election_schedule);
    tcase_add_test(tc, failover_loses_no_acknowledged_record);
    tcase_add_test(tc, acks_all_without_a_majority_times_out);
    tcase_add_test(tc, leadership_transfer_moves_the_leader_without_loss);
    tcase_add_test(tc, unclean_election_only_by_operator_call);
    tcase_add_test(tc, replica_sets_persist_across_reopen);
    tcase_add_test(tc, idempotent_producer_failover_never_duplicates_or_reorders);
    tcase_add_test(tc, transactions_commit_and_abort_on_a_replicated_partition);
    tcase_add_test(tc, retention_follows_the_leader_and_a_lagging_follower_resets);
    tcase_add_test(tc, compaction_runs_on_every_replica_and_keeps_batches_alike);
    tcase_add_test(tc, damaged_replica_metadata_is_a_clear_error);
    tcase_add_test(tc, example_three_processes_survive_leader_kill);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(replication_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
