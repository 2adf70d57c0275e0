/*
 * test_replica_crash.c -- a replicated cluster of three real engines loses
 * power, again and again: the stress counterpart of test_replica_sim.c
 * over the real storage path (lib/replication.c, lib/replica_log.c,
 * lib/partition.c, the I/O engine).
 *
 * Why not inside the deterministic simulator: each engine has a real I/O
 * thread, and a power loss is modelled by test/support/faultio.c's
 * journal, which is process-wide and replayed after the process is
 * SIGKILLed.  So this test is seeded but not reproducible step by step;
 * the simulator keeps the exact-replay property with a byte-faithful
 * in-memory disk instead (test/support/simdisk.c).
 *
 * Each round forks a child that opens the three engines (recovering what
 * the previous round left), joined by an in-memory transport that drops
 * messages and isolates nodes at random, driven on virtual time by the
 * child's main thread.  A writer thread appends self-checking records
 * with acks=all to whichever node leads and, only after lg_append
 * returned LG_OK, reports (offset, hash) through a pipe; a reader thread
 * reads every node below its high watermark and reports what it saw.  The
 * parent SIGKILLs the child at a random instant, replays the fault
 * journal so that every node loses what it had not fdatasync'd at once
 * (the newest write torn at a sector boundary) -- a whole-cluster power
 * cut -- then restarts the cluster itself and checks, once a leader is
 * elected and the three high watermarks agree:
 *   - every acknowledged record is at its offset with its exact value on
 *     every node (acks=all survives while a majority's disks do);
 *   - every record a reader saw is still there, unchanged (nothing
 *     visible is retracted), and no offset was ever seen or acknowledged
 *     with two different records;
 *   - the three logs are identical up to the high watermark, dense, and
 *     every record intact.
 *
 * Rounds: LIBLOG_REPL_CRASH_KILLS (default 6), at most
 * LIBLOG_REPL_CRASH_SECONDS (default 30); LIBLOG_REPL_CRASH_SEED repeats
 * the random choices (not the thread interleaving).
 */
#include "faultio.h"
#include "testutil.h"

#include "engine.h"
#include "liblog.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODES 3
#define TOPIC "t"
#define MAX_PACKETS 8192
#define VALUE_HEADER 16 /* hash (8), sequence (8) */

/* Segment seals and truncations fdatasync directly; the journal must see
 * those syncs too (as in test_crash.c). */
int fdatasync(int fd) {
    lgt_faultio_note_sync(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

/* One record report through a pipe. */
typedef struct report {
    int64_t offset;
    uint64_t hash;
} report_t;

/* Never 0: a 0 hash means "no record at this offset" below. */
static uint64_t fnv1a(const void *data, size_t len) {
    uint64_t h = lgt_fnv1a(data, len);
    return h ? h : 1;
}

static int value_is_intact(const uint8_t *value, size_t len) {
    if (value == NULL || len < VALUE_HEADER)
        return 0;
    uint64_t inner;
    memcpy(&inner, value, 8);
    return inner == fnv1a(value + 8, len - 8);
}

/* ------------------------------------------------------------------------
 * The cluster: engines, transport, virtual time (child and parent)
 * --------------------------------------------------------------------- */

typedef struct {
    int32_t from, to;
    uint8_t *bytes;
    size_t len;
} packet_t;

static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static packet_t packets[MAX_PACKETS];
static size_t packet_count;
static int32_t ids[NODES] = {0, 1, 2};
static char *dirs[NODES];
static lg_engine_t *engines[NODES];
static int64_t now_ms = 1000;
static atomic_int isolated = -1; /* its messages are lost both ways */
static uint64_t net_random; /* drops; 0: a perfect network */

static int net_send(void *opaque, int32_t node_id, const void *bytes,
                    size_t len) {
    int32_t from = *(const int32_t *)opaque;
    pthread_mutex_lock(&net_lock);
    int drop = packet_count == MAX_PACKETS ||
               (net_random && lgt_xorshift(&net_random) % 100 < 5);
    if (!drop) {
        uint8_t *copy = malloc(len);
        if (copy == NULL)
            abort();
        memcpy(copy, bytes, len);
        packets[packet_count++] = (packet_t){from, node_id, copy, len};
    }
    pthread_mutex_unlock(&net_lock);
    return drop ? -1 : 0;
}

static int cluster_start(int i, int journal) {
    lg_conf_t *conf = lg_conf_new();
    char id[16];
    snprintf(id, sizeof id, "%d", i);
    if (lg_conf_set(conf, "node.id", id) != LG_OK ||
        lg_conf_set(conf, "replication.factor", "3") != LG_OK ||
        lg_conf_set(conf, "replication.election.timeout.ms", "100") !=
            LG_OK ||
        lg_conf_set(conf, "replication.fetch.interval.ms", "10") != LG_OK ||
        lg_conf_set(conf, "replication.ack.timeout.ms", "1000") != LG_OK ||
        lg_conf_set(conf, "segment.bytes", "8192") != LG_OK)
        return -1;
    lg_err_t err = lg_engine_open(dirs[i], conf, &engines[i]);
    lg_conf_destroy(conf);
    if (err != LG_OK)
        return -1;
    if (journal)
        lgi_io_set_fault(engines[i]->io, lgt_faultio_hook, NULL);
    err = lg_topic_create(engines[i], TOPIC, 1, NULL);
    if (err != LG_OK && err != LG_ERR_TOPIC_EXISTS)
        return -1;
    lg_transport_t transport = {.version = LG_TRANSPORT_VERSION,
                                .opaque = &ids[i],
                                .send = net_send};
    if (lg_engine_set_transport(engines[i], &transport) != LG_OK ||
        lg_topic_set_replicas(engines[i], TOPIC, 0, ids, NODES) != LG_OK ||
        lg_engine_tick(engines[i], now_ms) != LG_OK)
        return -1;
    return 0;
}

/* 5 ms of virtual time: tick every engine (fsyncs, fetches), then deliver
 * until quiet (followers append: unsynced until the next tick). */
static void cluster_tick(void) {
    now_ms += 5;
    for (int i = 0; i < NODES; i++)
        lg_engine_tick(engines[i], now_ms);
}

static void cluster_deliver(void) {
    static packet_t batch[MAX_PACKETS];
    for (int round = 0; round < 50; round++) {
        pthread_mutex_lock(&net_lock);
        size_t n = packet_count;
        memcpy(batch, packets, n * sizeof *batch);
        packet_count = 0;
        pthread_mutex_unlock(&net_lock);
        if (n == 0)
            break;
        for (size_t k = 0; k < n; k++) {
            int to = batch[k].to;
            if (to >= 0 && to < NODES && to != isolated &&
                batch[k].from != isolated)
                lg_replica_receive(engines[to], batch[k].from, batch[k].bytes,
                                   batch[k].len);
            free(batch[k].bytes);
        }
    }
}

static void cluster_step(void) {
    cluster_tick();
    cluster_deliver();
}

static int cluster_leader(void) {
    for (int i = 0; i < NODES; i++) {
        int32_t l;
        if (i != isolated &&
            lg_replica_leader(engines[i], TOPIC, 0, &l, NULL, NULL) == LG_OK &&
            l == i)
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * The child: produce and read until killed
 * --------------------------------------------------------------------- */

static void child_fail(const char *what) {
    fprintf(stderr, "child: %s: %s\n", what, lg_last_error_message());
    _exit(3);
}

typedef struct {
    int fd;
    uint64_t random_state;
} child_thread_t;

static void send_reports(int fd, const report_t *reports, size_t n) {
    if (n && write(fd, reports, n * sizeof *reports) !=
                 (ssize_t)(n * sizeof *reports))
        _exit(4);
}

static void *writer_main(void *arg) {
    child_thread_t *w = arg;
    lg_records_t *records = lg_records_new();
    uint8_t value[200];
    uint64_t sequence = 0;
    for (;;) {
        int l = cluster_leader();
        if (l < 0) {
            usleep(200);
            continue;
        }
        lg_records_clear(records);
        int count = 1 + (int)(lgt_xorshift(&w->random_state) % 3);
        report_t reports[4];
        for (int r = 0; r < count; r++) {
            size_t len = VALUE_HEADER + lgt_xorshift(&w->random_state) % 150;
            uint64_t seq = (w->random_state << 20) ^ sequence++;
            memcpy(value + 8, &seq, 8);
            for (size_t k = VALUE_HEADER; k < len; k++)
                value[k] = (uint8_t)lgt_xorshift(&w->random_state);
            uint64_t inner = fnv1a(value + 8, len - 8);
            memcpy(value, &inner, 8);
            reports[r].hash = fnv1a(value, len);
            if (lg_records_add(records, NULL, 0, value, len, 1000) != LG_OK)
                child_fail("records_add");
        }
        int64_t base;
        if (lg_append(engines[l], TOPIC, 0, records, LG_ACKS_ALL, &base) !=
            LG_OK)
            continue; /* not leader any more, timed out: not acknowledged */
        for (int r = 0; r < count; r++)
            reports[r].offset = base + r;
        send_reports(w->fd, reports, (size_t)count);
    }
    return NULL;
}

static void *reader_main(void *arg) {
    child_thread_t *r = arg;
    int64_t next[NODES] = {0};
    for (;;) {
        int i = (int)(lgt_xorshift(&r->random_state) % NODES);
        lg_fetch_t *fetch;
        if (lg_read(engines[i], TOPIC, 0, next[i], 1 << 14, &fetch) != LG_OK) {
            usleep(200);
            continue;
        }
        const lg_message_t *m;
        report_t reports[64];
        size_t n = 0;
        while (lg_fetch_next(fetch, &m) == LG_OK && m && n < 64) {
            size_t len;
            const uint8_t *value = lg_message_value(m, &len);
            reports[n].offset = lg_message_offset(m);
            reports[n].hash = value ? fnv1a(value, len) : 0;
            next[i] = reports[n].offset + 1;
            n++;
        }
        lg_fetch_destroy(fetch);
        send_reports(r->fd, reports, n);
        if (n == 0)
            usleep(200);
    }
    return NULL;
}

static void child_main(const char *journal, int ack_fd, int seen_fd,
                       uint64_t seed) {
    if (lgt_faultio_journal_start(journal) != 0)
        _exit(5);
    for (int i = 0; i < NODES; i++)
        if (cluster_start(i, 1) != 0)
            child_fail("start");
    net_random = seed | 1;
    uint64_t random_state = seed * 7 + 3;
    static child_thread_t writer, reader;
    writer = (child_thread_t){ack_fd, seed * 31 + 1};
    reader = (child_thread_t){seen_fd, seed * 37 + 2};
    pthread_t threads[2];
    if (pthread_create(&threads[0], NULL, writer_main, &writer) != 0 ||
        pthread_create(&threads[1], NULL, reader_main, &reader) != 0)
        _exit(6);
    for (;;) { /* until SIGKILL */
        if (lgt_xorshift(&random_state) % 200 == 0) /* move the leader around */
            isolated =
                isolated >= 0 ? -1 : (int)(lgt_xorshift(&random_state) % NODES);
        cluster_tick();
        cluster_deliver();
        usleep(300); /* most kills land while appends wait for a tick */
    }
}

/* ------------------------------------------------------------------------
 * The parent: kill, cut the power, recover, verify
 * --------------------------------------------------------------------- */

/* Per offset: the record acknowledged or seen there (0: none). */
typedef struct {
    uint64_t *hash;
    int64_t cap;
} known_t;

static known_t acked, seen;
static long total_acks, total_seen;

static void note(known_t *k, const report_t *r, const char *what) {
    ck_assert_int_ge(r->offset, 0);
    if (r->offset >= k->cap) {
        int64_t cap = k->cap ? k->cap : 1024;
        while (cap <= r->offset)
            cap *= 2;
        k->hash = realloc(k->hash, (size_t)cap * sizeof *k->hash);
        ck_assert_ptr_nonnull(k->hash);
        memset(k->hash + k->cap, 0, (size_t)(cap - k->cap) * sizeof *k->hash);
        k->cap = cap;
    }
    /* One record per offset, ever: what was acknowledged or seen there
     * never changes. */
    ck_assert_msg(k->hash[r->offset] == 0 || k->hash[r->offset] == r->hash,
                  "offset %" PRId64 " %s with two different records",
                  r->offset, what);
    k->hash[r->offset] = r->hash;
}

/* Where drain's reports go. */
typedef struct drain_target {
    known_t *known;
    long *total;
    const char *what;
} drain_target_t;

static void on_report(void *opaque, const uint8_t *record) {
    drain_target_t *target = opaque;
    report_t r;
    memcpy(&r, record, sizeof r);
    note(target->known, &r, target->what);
    ++*target->total;
}

static void drain(int fd, int64_t deadline, uint8_t *buf, size_t *have,
                  known_t *k, long *total, const char *what) {
    drain_target_t target = {k, total, what};
    lgt_drain_records(fd, deadline, buf, 4096, have, sizeof(report_t),
                      on_report, &target);
}

/* Both pipes until the deadline (-1: until both reach EOF). */
static void drain_both(int ack_fd, int seen_fd, int64_t deadline,
                       uint8_t bufs[2][4096], size_t have[2]) {
    do {
        int64_t slice = deadline >= 0 ? lgt_monotonic_ms() + 5 : -1;
        drain(ack_fd, slice, bufs[0], &have[0], &acked, &total_acks,
              "acknowledged");
        drain(seen_fd, slice, bufs[1], &have[1], &seen, &total_seen, "seen");
    } while (deadline >= 0 && lgt_monotonic_ms() < deadline);
}

/* The hashes of node i's records [0, end) by offset, checked intact and
 * in order; 0 where no record is (the offsets of the leader-change
 * control batches readers skip). */
static uint64_t *read_all(int i, int64_t end) {
    uint64_t *hashes = calloc((size_t)end + 1, sizeof *hashes);
    int64_t next = 0;
    while (next < end) {
        lg_fetch_t *fetch;
        lg_err_t err = lg_read(engines[i], TOPIC, 0, next, 1 << 16, &fetch);
        ck_assert_msg(err == LG_OK, "node %d read at %" PRId64 ": %s", i,
                      next, lg_last_error_message());
        const lg_message_t *m;
        int any = 0;
        while ((err = lg_fetch_next(fetch, &m)) == LG_OK && m) {
            int64_t o = lg_message_offset(m);
            ck_assert_int_ge(o, next);
            if (o >= end)
                break;
            any = 1;
            size_t len;
            const uint8_t *value = lg_message_value(m, &len);
            ck_assert_msg(value_is_intact(value, len),
                          "node %d offset %" PRId64 " damaged", i, o);
            hashes[o] = fnv1a(value, len);
            next = o + 1;
        }
        ck_assert_int_eq(err, LG_OK);
        lg_fetch_destroy(fetch);
        if (!any)
            next++; /* a leader-change control batch: one offset */
    }
    return hashes;
}

/* Restarts the cluster after the power cut and checks it. */
static void verify_round(long round) {
    net_random = 0;
    isolated = -1;
    for (int i = 0; i < NODES; i++)
        ck_assert_msg(cluster_start(i, 0) == 0,
                      "restart node %d after power cut %ld: %s", i, round,
                      lg_last_error_message());
    /* Converged: a leader, and every node's HW equal to the leader's end
     * for a while (no record left to replicate). */
    int64_t end = -1;
    int stable = 0;
    for (int s = 0; s < 4000 && stable < 40; s++) {
        cluster_step();
        int l = cluster_leader();
        int64_t hw[NODES];
        for (int i = 0; i < NODES; i++)
            ck_assert_int_eq(lg_replica_leader(engines[i], TOPIC, 0, NULL,
                                               NULL, &hw[i]),
                             LG_OK);
        if (l >= 0 && hw[0] == hw[1] && hw[1] == hw[2] && hw[0] == end)
            stable++;
        else
            stable = 0;
        end = hw[0];
    }
    ck_assert_msg(stable >= 40, "cluster did not converge after power cut "
                                "%ld",
                  round);
    uint64_t *logs[NODES];
    for (int i = 0; i < NODES; i++) {
        int64_t low, high;
        ck_assert_int_eq(lg_watermarks(engines[i], TOPIC, 0, &low, &high),
                         LG_OK);
        ck_assert_int_eq(low, 0);
        ck_assert_int_eq(high, end);
        logs[i] = read_all(i, end);
    }
    for (int64_t o = 0; o < end; o++) {
        ck_assert_msg(logs[0][o] == logs[1][o] && logs[1][o] == logs[2][o],
                      "replicas differ at offset %" PRId64, o);
        if (o < acked.cap && acked.hash[o])
            ck_assert_msg(acked.hash[o] == logs[0][o],
                          "acknowledged offset %" PRId64 " holds another "
                          "record",
                          o);
        if (o < seen.cap && seen.hash[o])
            ck_assert_msg(seen.hash[o] == logs[0][o],
                          "seen offset %" PRId64 " was retracted", o);
    }
    for (int64_t o = end; o < acked.cap; o++)
        ck_assert_msg(acked.hash[o] == 0,
                      "acknowledged offset %" PRId64 " lost (end %" PRId64
                      ")",
                      o, end);
    for (int64_t o = end; o < seen.cap; o++)
        ck_assert_msg(seen.hash[o] == 0,
                      "seen offset %" PRId64 " lost (end %" PRId64 ")", o,
                      end);
    for (int i = 0; i < NODES; i++) {
        free(logs[i]);
        ck_assert_int_eq(lg_engine_close(engines[i]), LG_OK);
        engines[i] = NULL;
    }
    pthread_mutex_lock(&net_lock);
    for (size_t k = 0; k < packet_count; k++)
        free(packets[k].bytes);
    packet_count = 0;
    pthread_mutex_unlock(&net_lock);
}

START_TEST(acked_and_visible_records_survive_cluster_power_loss) {
    long kills = lgt_env_long("LIBLOG_REPL_CRASH_KILLS", 6);
    long seconds = lgt_env_long("LIBLOG_REPL_CRASH_SECONDS", 30);
    uint64_t seed = (uint64_t)lgt_env_long("LIBLOG_REPL_CRASH_SEED", 0);
    if (!seed)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    printf("replicated power loss: seed %" PRIu64 "\n", seed);
    uint64_t random_state = seed;
    char *base_dir = lgt_tmpdir("replcrash");
    char *journal = lgt_path(base_dir, "journal");
    for (int i = 0; i < NODES; i++) {
        char name[16];
        snprintf(name, sizeof name, "node%d", i);
        dirs[i] = lgt_path(base_dir, name);
    }
    int64_t start = lgt_monotonic_ms();
    long rounds = 0, undone = 0;
    total_acks = total_seen = 0;
    for (; rounds < kills &&
           (rounds == 0 || lgt_monotonic_ms() - start < seconds * 1000);
         rounds++) {
        unlink(journal); /* never replay an old journal (test_crash.c) */
        int ack_pipe[2], seen_pipe[2];
        ck_assert_int_eq(pipe2(ack_pipe, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(seen_pipe, O_CLOEXEC), 0);
        uint64_t child_seed = lgt_xorshift(&random_state);
        fflush(stdout);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(ack_pipe[0]);
            close(seen_pipe[0]);
            child_main(journal, ack_pipe[1], seen_pipe[1], child_seed);
        }
        close(ack_pipe[1]);
        close(seen_pipe[1]);
        int64_t delay = 100 + (int64_t)(lgt_xorshift(&random_state) % 400);
        uint8_t bufs[2][4096];
        size_t have[2] = {0, 0};
        drain_both(ack_pipe[0], seen_pipe[0], lgt_monotonic_ms() + delay, bufs,
                   have);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        drain_both(ack_pipe[0], seen_pipe[0], -1, bufs, have);
        close(ack_pipe[0]);
        close(seen_pipe[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child ended by itself (status %d): see its stderr",
                      status);
        long n = lgt_faultio_power_loss(journal, lgt_xorshift(&random_state));
        ck_assert_int_ge(n, 0);
        undone += n;
        verify_round(rounds);
    }
    printf("replicated power loss: %ld power cuts, %ld acknowledged and "
           "%ld seen records verified, %ld unsynced writes undone, %.1f s\n",
           rounds, total_acks, total_seen, undone,
           (double)(lgt_monotonic_ms() - start) / 1000.0);
    ck_assert_int_gt(total_acks, 0);
    if (rounds >= 20) /* a few cuts may each find everything synced */
        ck_assert_int_gt(undone, 0); /* the power cuts really lost data */
    free(acked.hash);
    free(seen.hash);
    acked = seen = (known_t){NULL, 0};
    for (int i = 0; i < NODES; i++)
        free(dirs[i]);
    lgt_rmrf(base_dir);
    free(journal);
    free(base_dir);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("replica_crash");
    TCase *tc = tcase_create("replica_crash");
    tcase_set_timeout(
        tc, (double)lgt_env_long("LIBLOG_REPL_CRASH_SECONDS", 30) + 90);
    tcase_add_test(tc, acked_and_visible_records_survive_cluster_power_loss);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
