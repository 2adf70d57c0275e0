/*
 * test_replica_sim.c -- deterministic simulation of replication.
 *
 * Role: runs N replica nodes (lib/replica.c) in one process and one thread
 * on virtual time.  Everything random -- faults, workload, each node's
 * election timeouts, where a crash tears a sector -- derives from one
 * seed, so `test_replica_sim --seed S` replays a failing run exactly.
 *
 * The world:
 *   - storage: per node and partition a byte-faithful simulated disk
 *     (test/support/simdisk.h): the log is Kafka v2 record batches in
 *     512-byte sectors with a page cache and a medium; a crash keeps the
 *     fdatasync'd bytes, lets some unsynced sectors through in order,
 *     tears the next one (a prefix of the new bytes, zeros or garbage) and
 *     sometimes lets a later one land out of order; recovery validates
 *     batches with lib/batch.c (length, magic, CRC-32C, expected offset,
 *     the leader epoch the checkpoint gives the offset) and truncates at
 *     the first invalid byte.  The quorum state is the
 *     metafile protocol (write tmp, fsync, rename, fsync the directory),
 *     judged on reload by lib/metafile.c and lib/replica.c; the power may
 *     fail part-way through a vote's save or a truncation.
 *   - network: every envelope may be dropped, delayed (reordering),
 *     duplicated, corrupted (a flipped byte; the decoder must reject it),
 *     and old envelopes are replayed; links are cut symmetrically or
 *     asymmetrically and healed.
 *   - nodes crash (all volatile state lost) and restart -- also between
 *     receiving entries and the next tick's fsync -- or pause (no ticks,
 *     no deliveries) and resume; hosts tick every 1..10 ms;
 *   - a nemesis crashes or isolates leaders, new ones right after their
 *     election or their first commit (leader churn with partial
 *     replication, which Figure 8 needs);
 *   - an operator transfers leadership at random moments.
 *
 * A client's acks=all entry is acknowledged by the rule lib/replication.c
 * applies: the node it was proposed on -- while that process lives -- has
 * a high watermark past the offset and still holds the entry at its epoch
 * (whatever its role by then).
 *
 * Invariants, checked after every step:
 *   I1 every acknowledged (acks=all) entry is durable on a majority;
 *   I2 at most one leader per (partition, epoch);
 *   I3 logs match: equal (offset, epoch) on two disks implies identical
 *      prefixes;
 *   I4 nothing below any node's HW ever differs from what a consumer saw
 *      there before (no retraction), and HW <= log end;
 *   I5 a leader of epoch E holds every entry acknowledged in an epoch < E;
 *   I8 no node grants votes to two candidates in one epoch (checked on
 *      every vote that leaves a node: its own candidacy or a grant);
 *   I9 no node lacking a consumer-visible entry could win an election,
 *      now or after crashes (leader completeness as a state predicate:
 *      check_completeness).
 * The run alternates faulty phases with majority phases (see
 * majority_phase): a random majority connected, the rest cut off or down,
 * the old leader often among the rest; there
 *   I6a each partition must have a leader in the majority within
 *       ELECTION_BOUND_MS, and that leader must commit a fresh acks=all
 *       entry within a catch-up allowance computed from how far the
 *       majority's logs are behind (or diverge from) its own.
 * Then the world heals:
 *   I6 every partition has a leader within 10 s of virtual time;
 *   I7 all replicas converge byte-identical (the log files themselves)
 *      with HW = end, and every acknowledged entry is in every log.
 *
 * Pre-vote (isolated_node_rejoins_without_disruption): a node cut off for
 * 10 s rejoins and the leaders keep their leadership and epochs; run again
 * with the nodes standing without pre-vote, the leaders must be deposed.
 *
 * Deliberately broken modes must make the checker fail (tests
 * broken_skip_fsync_is_caught, broken_commit_before_marker_is_caught,
 * broken_unpersisted_vote_is_caught): nodes that report appended data as
 * durable without fsync, leaders that move the HW over earlier epochs'
 * entries before their own epoch's marker is on a majority (Raft's
 * Figure 8), and disks that never persist the vote.  Figure 8 needs a
 * specific schedule; figure8_scenario builds it directly, and random
 * seeds find it mostly through I9 (--sweep counts them).
 *
 * Usage: test_replica_sim            N seeds (LG_SIM_SEEDS, default 300)
 *                                    from LG_SIM_FIRST (default 1)
 *        test_replica_sim --seed S   one seed, verbose
 *                                    (LG_SIM_BROKEN=1 skip fsync,
 *                                     =2 commit before marker,
 *                                     =4 votes never persisted)
 *        test_replica_sim --soak SEC random seeds until SEC seconds pass
 *        test_replica_sim --sweep N  seeds 1..N in LG_SIM_BROKEN's mode:
 *                                    how many are flagged / really lose
 *        test_replica_sim --figure8  the directed Figure 8 schedule
 *                                    (LG_SIM_LOSS_ONLY=1: I1, I9 off)
 */
#include "replica.h"

#include "alloc.h"
#include "simdisk.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_NODES 5
#define PARTITIONS 2
#define TOPIC "t"

#define ELECTION_TIMEOUT_MS 150 /* base T: timeouts are drawn in [T, 2T) */
#define FETCH_INTERVAL_MS 20
/* I6a's bounds have two parts.  Electing a leader inside the connected
 * majority: a leader on the minority side is noticed within one maximal
 * election timeout (2T); a round lasts at most another 2T; rounds repeat
 * when candidates collide -- typically a member whose log is behind (it
 * cannot win) standing at the same time as one that can.  Each round
 * succeeds with probability well over a half, so the bound is a number
 * of maximal timeouts: ELECTION_ROUNDS of them, set from the measured
 * worst case (many_seeds and the soak print "slowest election") with a
 * wide margin.  Then committing a probe entry, which first needs the
 * majority's logs to catch up: catch_up_allowance(). */
#define ELECTION_ROUNDS 10
#define ELECTION_BOUND_MS (ELECTION_ROUNDS * 2 * ELECTION_TIMEOUT_MS)

enum {
    BROKEN_SKIP_FSYNC = 1,           /* lib/replica.c acks without fsync */
    BROKEN_COMMIT_BEFORE_MARKER = 2, /* lib/replica.c Figure 8 */
    BROKEN_UNPERSISTED_VOTE = 4      /* the disks never persist votes */
};

/* The invariants that flag a state from which loss is possible (I1, I9);
 * off, only loss itself is checked (I4, I5, I7), so a test can show that
 * a broken mode really loses data. */
enum { CHECK_DURABLE = 1, CHECK_COMPLETE = 2, CHECK_ALL = 3 };

/* ---------------------------------------------------------------- rng */

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t rng_below(uint64_t *s, uint32_t n) {
    return n ? (uint32_t)(rng_next(s) % n) : 0;
}
static int rng_chance(uint64_t *s, double p) {
    return (double)(rng_next(s) >> 11) / 9007199254740992.0 < p;
}

/* ---------------------------------------------------------------- world */

typedef struct {
    int32_t from, to;
    int64_t at;
    uint64_t seq;
    uint8_t *bytes;
    size_t len;
} packet_t;

typedef struct {
    int partition;
    int64_t offset;
    int32_t epoch;
    char data[48];
    int acked;
    int32_t ack_epoch; /* the acknowledging node's epoch at ack time */
    int32_t node;
    long life; /* the proposing process; its waiter dies with it */
} proposal_t;

typedef struct {
    int32_t epoch;
    uint32_t len;
    uint8_t data[48];
} seen_t;

typedef struct {
    int32_t epoch;
    uint32_t len;
    const uint8_t *data;
} entry_t;

typedef struct sim sim_t;
typedef struct {
    sim_t *sim;
    int32_t id;
    lgt_simdisk_t *disk[PARTITIONS];
    lgi_replica_node_t *node; /* NULL while crashed */
    int dying;                /* the power failed inside a storage call */
    long life;                /* incremented at every start */
    int64_t paused_until;
    int64_t down_until;
    int64_t next_tick;
    int64_t strike_at;    /* the nemesis hits this new leader then ... */
    int32_t strike_epoch; /* ... if it still leads this epoch */
    int strike_partition;
    int64_t strike_hw; /* >= 0: strike once the HW passes this instead */
    int64_t isolated_until; /* the nemesis reconnects it then (0: not) */
} simnode_t;

typedef struct {
    double drop, dup, corrupt, replay, crash, pause, cut, transfer, death;
    double nemesis; /* per step: crash or isolate a leader */
    double fresh;   /* per new leader: crash or isolate it soon */
    int64_t max_delay;
} faults_t;

struct sim {
    uint64_t rng;
    uint64_t seed;
    int n;
    int broken;
    int verbose;
    int checks;         /* CHECK_*: the invariants beyond actual loss */
    int no_epoch_check; /* disks recover trusting torn epoch fields */
    int no_prevote;     /* nodes stand without a pre-vote round */
    int workload;       /* clients propose */
    size_t max_fetch;
    int64_t tick_ms; /* hosts tick every [1, tick_ms] ms */
    int64_t now;
    uint64_t seq;
    faults_t f;
    int cut[MAX_NODES][MAX_NODES];
    simnode_t nodes[MAX_NODES];
    packet_t *net;
    size_t net_count, net_cap;
    packet_t history[64];
    size_t history_count;
    proposal_t *props;
    size_t prop_count, prop_cap;
    seen_t *seen[PARTITIONS];
    int64_t seen_count[PARTITIONS], seen_cap[PARTITIONS];
    int32_t *leader_of[PARTITIONS]; /* epoch -> leader */
    int32_t leader_cap[PARTITIONS];
    int32_t *vote_of[PARTITIONS][MAX_NODES]; /* epoch -> candidate voted */
    int32_t vote_cap[PARTITIONS][MAX_NODES];
    /* What the checker already verified and need not redo unless a disk
     * reports a cut below it (lgt_simdisk_take_cut): */
    size_t *acked_list; /* proposal indexes in the order acknowledged */
    size_t acked_count, acked_cap;
    size_t i1_done[PARTITIONS];              /* acked_list prefix */
    size_t i5_done[PARTITIONS][MAX_NODES];   /* acked_list prefix ... */
    int32_t i5_epoch[PARTITIONS][MAX_NODES]; /* ... for this leader epoch */
    int64_t i3_done[PARTITIONS][MAX_NODES][MAX_NODES]; /* equal prefix */
    int64_t i4_done[PARTITIONS][MAX_NODES];  /* offsets matched to seen */
    int64_t i9_done[PARTITIONS][MAX_NODES];  /* log prefix equal to seen */
    char failure[256];
    uint64_t counter;
    long acked, delivered, crashes, deaths;
    int64_t slowest_election; /* ms, over the majority phases */
    int64_t slowest_commit;   /* percent of the catch-up allowance used
                                 from the first leader to the commit */
    int32_t judged[PARTITIONS]; /* newest leader epoch the nemesis saw */
};

static int fail(sim_t *s, const char *fmt, ...) {
    if (s->failure[0])
        return 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->failure, sizeof s->failure, fmt, ap);
    va_end(ap);
    return 1;
}

/* Grows an epoch-indexed table of int32 (new slots -1). */
static void grow_table(int32_t **table, int32_t *cap, int32_t epoch) {
    if (epoch < *cap)
        return;
    int32_t grown = *cap ? *cap : 64;
    while (grown <= epoch)
        grown *= 2;
    *table = realloc(*table, (size_t)grown * sizeof(int32_t));
    for (int32_t e = *cap; e < grown; e++)
        (*table)[e] = -1;
    *cap = grown;
}

/* I8: every vote leaving a node -- a candidacy (Vote: it voted for
 * itself) or a grant -- must agree with what it voted before in that
 * epoch. */
static void check_votes(sim_t *s, int32_t from, int32_t to, const void *bytes,
                        size_t len) {
    lgi_envelope_t env;
    if (lgi_envelope_decode(bytes, len, &env) != LG_OK)
        return;
    for (uint32_t i = 0; i < env.count; i++) {
        const lgi_msg_t *m = &env.msgs[i];
        int32_t candidate;
        if (m->type == LGI_MSG_VOTE)
            candidate = from;
        else if (m->type == LGI_MSG_VOTE_RESPONSE && m->granted)
            candidate = to;
        else
            continue;
        int p = m->partition;
        if (p < 0 || p >= PARTITIONS || m->epoch < 0)
            continue;
        grow_table(&s->vote_of[p][from], &s->vote_cap[p][from], m->epoch);
        int32_t *slot = &s->vote_of[p][from][m->epoch];
        if (*slot == -1)
            *slot = candidate;
        else if (*slot != candidate)
            fail(s, "I8: node %d voted for %d and %d in p%d epoch %d", from,
                 *slot, candidate, p, m->epoch);
    }
    lgi_envelope_free(&env);
}

static int send_cb(void *opaque, int32_t to, const void *bytes, size_t len) {
    simnode_t *sn = opaque;
    sim_t *s = sn->sim;
    if (to < 0 || to >= s->n)
        return -1;
    if (sn->dying)
        return 0; /* the process is dead: nothing more leaves it */
    check_votes(s, sn->id, to, bytes, len);
    /* remember for replays */
    packet_t *h = &s->history[rng_below(&s->rng, 64)];
    if (s->history_count < 64)
        h = &s->history[s->history_count++];
    else
        free(h->bytes);
    h->from = sn->id;
    h->to = to;
    h->bytes = malloc(len);
    memcpy(h->bytes, bytes, len);
    h->len = len;
    if (s->cut[sn->id][to] || rng_chance(&s->rng, s->f.drop))
        return 0;
    int copies = rng_chance(&s->rng, s->f.dup) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        if (s->net_count == s->net_cap) {
            s->net_cap = s->net_cap ? s->net_cap * 2 : 64;
            s->net = realloc(s->net, s->net_cap * sizeof *s->net);
        }
        packet_t *p = &s->net[s->net_count++];
        p->from = sn->id;
        p->to = to;
        p->at = s->now + 1 + rng_below(&s->rng, (uint32_t)s->f.max_delay);
        p->seq = s->seq++;
        p->bytes = malloc(len);
        memcpy(p->bytes, bytes, len);
        p->len = len;
        if (rng_chance(&s->rng, s->f.corrupt))
            p->bytes[rng_below(&s->rng, (uint32_t)len)] ^=
                (uint8_t)(1u << rng_below(&s->rng, 8));
    }
    return 0;
}

static void node_start(sim_t *s, simnode_t *sn) {
    lgi_replica_config_t c = {
        .node_id = sn->id,
        .cluster_id = 42,
        .seed = rng_next(&s->rng),
        .election_timeout_ms = ELECTION_TIMEOUT_MS,
        .fetch_interval_ms = FETCH_INTERVAL_MS,
        .max_fetch_entries = s->max_fetch,
        .send = send_cb,
        .send_opaque = sn,
        .unsafe_skip_fsync = (s->broken & BROKEN_SKIP_FSYNC) != 0,
        .unsafe_commit_before_marker =
            (s->broken & BROKEN_COMMIT_BEFORE_MARKER) != 0,
        .unsafe_no_prevote = s->no_prevote};
    if (lgi_replica_node_create(&c, s->now, &sn->node) != LG_OK)
        abort();
    sn->life++;
    int32_t voters[MAX_NODES];
    for (int i = 0; i < s->n; i++)
        voters[i] = i;
    for (int p = 0; p < PARTITIONS; p++) {
        lgi_replica_storage_t st = lgt_simdisk_storage(sn->disk[p]);
        if (lgi_replica_node_add(sn->node, TOPIC, p, voters, (size_t)s->n,
                                 &st, s->now) != LG_OK)
            abort();
    }
}

/* Crash: volatile state gone; each disk loses power (simdisk.h) and
 * recovers.  A quorum state that cannot be read back is a failure: the
 * real node would refuse to start. */
static void node_crash(sim_t *s, simnode_t *sn) {
    lgi_replica_node_destroy(sn->node);
    sn->node = NULL;
    for (int p = 0; p < PARTITIONS; p++) {
        char why[160];
        if (lgt_simdisk_crash(sn->disk[p], why, sizeof why) != 0)
            fail(s, "node %d p%d quorum state unreadable after crash: %s",
                 sn->id, p, why);
    }
    sn->dying = 0;
    s->crashes++;
}

/* After every call into a node: if the power failed inside it, the node
 * is dead now; it restarts a little later. */
static void reap(sim_t *s, simnode_t *sn) {
    if (!sn->dying || sn->node == NULL)
        return;
    s->deaths++;
    node_crash(s, sn);
    sn->down_until = s->now + 20 + rng_below(&s->rng, 200);
}

static void deliver_due(sim_t *s) {
    for (;;) {
        size_t best = s->net_count;
        for (size_t i = 0; i < s->net_count; i++) {
            packet_t *p = &s->net[i];
            if (p->at > s->now || s->nodes[p->to].paused_until > s->now)
                continue;
            if (best == s->net_count || p->at < s->net[best].at ||
                (p->at == s->net[best].at && p->seq < s->net[best].seq))
                best = i;
        }
        if (best == s->net_count)
            return;
        packet_t p = s->net[best];
        s->net[best] = s->net[--s->net_count];
        simnode_t *to = &s->nodes[p.to];
        if (to->node != NULL) {
            lgi_replica_node_receive(to->node, p.from, p.bytes, p.len, s->now);
            s->delivered++;
            reap(s, to);
        }
        free(p.bytes);
    }
}

static lgt_simdisk_t *disk_of(sim_t *s, int node, int p) {
    return s->nodes[node].disk[p];
}

static int entry_at(lgt_simdisk_t *d, int64_t o, entry_t *e) {
    return lgt_simdisk_entry(d, o, &e->epoch, &e->data, &e->len);
}

static int same_entry(const entry_t *a, const entry_t *b) {
    return a->epoch == b->epoch && a->len == b->len &&
           memcmp(a->data, b->data, a->len) == 0;
}

/* 1 when d holds pr at its offset and epoch. */
static int holds(lgt_simdisk_t *d, const proposal_t *pr) {
    entry_t e;
    return entry_at(d, pr->offset, &e) == 0 && e.epoch == pr->epoch &&
           e.len == strlen(pr->data) && memcmp(e.data, pr->data, e.len) == 0;
}

static int status_of(sim_t *s, int i, int p, lgi_replica_status_t *st) {
    return s->nodes[i].node != NULL &&
           lgi_replica_status(s->nodes[i].node, TOPIC, p, st) == LG_OK;
}

/* ---------------------------------------------------------------- checks */

/* (last epoch, end) of the first `count` entries of d. */
static void log_version(lgt_simdisk_t *d, int64_t count, int32_t *epochp) {
    entry_t e = {0, 0, NULL};
    if (count > 0)
        entry_at(d, count - 1, &e);
    *epochp = count > 0 ? e.epoch : 0;
}

/* I9, Raft's leader completeness as a state predicate: no node that lacks
 * a consumer-visible entry could win an election, now or after crashes.
 * Node c's candidacy is judged with the largest version of its log that
 * lacks such an entry (its log, or its durable prefix if only that lacks
 * one); every voter with the smallest version of its log (its durable
 * prefix, all a crash is sure to leave) -- a voter grants when the
 * candidate's (last epoch, end) is at least its own.  If a majority would
 * grant, an acknowledged or visible entry can be lost.  Sound for the
 * correct protocol: a committed entry sits, with its leader's marker,
 * in the durable prefix of a majority, and a log at least as up to date
 * as one of those contains it (log matching). */
static int check_completeness(sim_t *s, int p) {
    int majority = s->n / 2 + 1;
    int64_t visible = s->seen_count[p];
    for (int c = 0; c < s->n; c++) {
        lgt_simdisk_t *d = disk_of(s, c, p);
        int64_t count = lgt_simdisk_count(d), o = s->i9_done[p][c];
        for (; o < visible && o < count; o++) {
            entry_t e;
            seen_t *v = &s->seen[p][o];
            entry_t seen = {v->epoch, v->len, v->data};
            entry_at(d, o, &e);
            if (!same_entry(&seen, &e))
                break;
        }
        s->i9_done[p][c] = o;
        int64_t version = count, lacks = o;
        if (o >= visible) { /* holds all; its durable prefix may not */
            version = lgt_simdisk_durable(d);
            lacks = version;
            if (version >= visible)
                continue;
        }
        int32_t epoch;
        log_version(d, version, &epoch);
        int grants = 0;
        for (int v = 0; v < s->n; v++) {
            lgt_simdisk_t *dv = disk_of(s, v, p);
            int64_t vend = lgt_simdisk_durable(dv);
            int32_t vepoch;
            log_version(dv, vend, &vepoch);
            if (v == c || epoch > vepoch || (epoch == vepoch && version >= vend))
                grants++;
        }
        if (grants >= majority)
            return fail(s, "I9: node %d (last epoch %d, end %" PRId64 ") "
                           "could win an election lacking visible p%d offset "
                           "%" PRId64,
                        c, epoch, version, p, lacks);
    }
    return 0;
}

static int check(sim_t *s) {
    if (s->failure[0])
        return 1; /* I8 or a recovery failure found it in passing */
    int majority = s->n / 2 + 1;
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t cuts[MAX_NODES], low = INT64_MAX;
        for (int i = 0; i < s->n; i++) {
            cuts[i] = lgt_simdisk_take_cut(disk_of(s, i, p));
            if (cuts[i] < low)
                low = cuts[i];
            if (cuts[i] != INT64_MAX)
                s->i5_done[p][i] = 0;
            if (s->i4_done[p][i] > cuts[i])
                s->i4_done[p][i] = cuts[i];
            if (s->i9_done[p][i] > cuts[i])
                s->i9_done[p][i] = cuts[i];
            for (int j = 0; j < s->n; j++) {
                if (s->i3_done[p][i][j] > cuts[i])
                    s->i3_done[p][i][j] = cuts[i];
                if (s->i3_done[p][j][i] > cuts[i])
                    s->i3_done[p][j][i] = cuts[i];
            }
        }
        if (low != INT64_MAX)
            s->i1_done[p] = 0;
        /* I2 */
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (!status_of(s, i, p, &st) || st.role != LGI_ROLE_LEADER)
                continue;
            grow_table(&s->leader_of[p], &s->leader_cap[p], st.epoch);
            if (s->leader_of[p][st.epoch] == -1)
                s->leader_of[p][st.epoch] = i;
            else if (s->leader_of[p][st.epoch] != i)
                return fail(s, "I2: partition %d epoch %d has leaders %d and %d",
                            p, st.epoch, s->leader_of[p][st.epoch], i);
            /* I5 */
            lgt_simdisk_t *d = disk_of(s, i, p);
            if (s->i5_epoch[p][i] != st.epoch) {
                s->i5_epoch[p][i] = st.epoch;
                s->i5_done[p][i] = 0;
            }
            for (size_t k = s->i5_done[p][i]; k < s->acked_count; k++) {
                proposal_t *pr = &s->props[s->acked_list[k]];
                if (pr->partition != p || pr->ack_epoch >= st.epoch)
                    continue;
                if (!holds(d, pr))
                    return fail(s, "I5: leader %d epoch %d lacks acked %s "
                                   "(p%d offset %" PRId64 ")",
                                i, st.epoch, pr->data, p, pr->offset);
            }
            s->i5_done[p][i] = s->acked_count;
        }
        /* I1 */
        if (s->checks & CHECK_DURABLE) {
            for (size_t k = s->i1_done[p]; k < s->acked_count; k++) {
                proposal_t *pr = &s->props[s->acked_list[k]];
                if (pr->partition != p)
                    continue;
                int holders = 0;
                for (int i = 0; i < s->n; i++) {
                    lgt_simdisk_t *d = disk_of(s, i, p);
                    if (pr->offset < lgt_simdisk_durable(d) && holds(d, pr))
                        holders++;
                }
                if (holders < majority)
                    return fail(s, "I1: acked %s durable on %d < %d nodes",
                                pr->data, holders, majority);
            }
            s->i1_done[p] = s->acked_count;
        }
        /* I3 */
        for (int a = 0; a < s->n; a++)
            for (int b = a + 1; b < s->n; b++) {
                lgt_simdisk_t *da = disk_of(s, a, p), *db = disk_of(s, b, p);
                int64_t ca = lgt_simdisk_count(da), cb = lgt_simdisk_count(db);
                int64_t o = (ca < cb ? ca : cb) - 1, top;
                entry_t x, y;
                while (o >= s->i3_done[p][a][b] && entry_at(da, o, &x) == 0 &&
                       entry_at(db, o, &y) == 0 && x.epoch != y.epoch)
                    o--;
                top = o;
                for (; o >= s->i3_done[p][a][b]; o--) {
                    entry_at(da, o, &x);
                    entry_at(db, o, &y);
                    if (!same_entry(&x, &y))
                        return fail(s, "I3: p%d nodes %d,%d differ at %" PRId64,
                                    p, a, b, o);
                }
                if (top + 1 > s->i3_done[p][a][b])
                    s->i3_done[p][a][b] = top + 1;
            }
        /* I4 */
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (!status_of(s, i, p, &st))
                continue;
            lgt_simdisk_t *d = disk_of(s, i, p);
            if (st.high_watermark > lgt_simdisk_count(d))
                return fail(s, "I4: node %d p%d HW %" PRId64 " > end %" PRId64,
                            i, p, st.high_watermark, lgt_simdisk_count(d));
            for (int64_t o = s->i4_done[p][i]; o < st.high_watermark; o++) {
                entry_t e;
                entry_at(d, o, &e);
                if (o < s->seen_count[p]) {
                    seen_t *v = &s->seen[p][o];
                    entry_t seen = {v->epoch, v->len, v->data};
                    if (!same_entry(&seen, &e))
                        return fail(s, "I4: node %d p%d retracted offset %" PRId64,
                                    i, p, o);
                    continue;
                }
                if (s->seen_count[p] == s->seen_cap[p]) {
                    s->seen_cap[p] = s->seen_cap[p] ? s->seen_cap[p] * 2 : 64;
                    s->seen[p] = realloc(s->seen[p],
                                         (size_t)s->seen_cap[p] * sizeof(seen_t));
                }
                seen_t *v = &s->seen[p][s->seen_count[p]++];
                v->epoch = e.epoch;
                v->len = e.len;
                memcpy(v->data, e.data, e.len);
            }
            if (st.high_watermark > s->i4_done[p][i])
                s->i4_done[p][i] = st.high_watermark;
        }
        if ((s->checks & CHECK_COMPLETE) && check_completeness(s, p))
            return 1;
    }
    return 0;
}

/* Marks proposals acknowledged by lib/replication.c's rule: the proposing
 * process is still alive, its HW passed the offset, and its log still
 * holds the entry at its epoch. */
static void update_acks(sim_t *s) {
    for (size_t k = 0; k < s->prop_count; k++) {
        proposal_t *pr = &s->props[k];
        simnode_t *sn = &s->nodes[pr->node];
        lgi_replica_status_t st;
        if (pr->acked || sn->life != pr->life ||
            !status_of(s, pr->node, pr->partition, &st) ||
            st.high_watermark <= pr->offset)
            continue;
        if (holds(disk_of(s, pr->node, pr->partition), pr)) {
            pr->acked = 1;
            pr->ack_epoch = st.epoch;
            s->acked++;
            if (s->acked_count == s->acked_cap) {
                s->acked_cap = s->acked_cap ? s->acked_cap * 2 : 64;
                s->acked_list = realloc(s->acked_list,
                                        s->acked_cap * sizeof *s->acked_list);
            }
            s->acked_list[s->acked_count++] = k;
        }
    }
}

/* A client proposes on node i (which may not lead): the index of the new
 * proposal, or -1. */
static long propose_on(sim_t *s, int i, int p) {
    if (s->nodes[i].node == NULL || s->nodes[i].paused_until > s->now)
        return -1;
    char data[48];
    int len = snprintf(data, sizeof data, "n%d-r%" PRIu64, i, s->counter++);
    int64_t off;
    int32_t epoch, leader;
    lg_err_t err = lgi_replica_propose(s->nodes[i].node, TOPIC, p, data,
                                       (uint32_t)len, &off, &epoch, &leader);
    reap(s, &s->nodes[i]);
    if (err != LG_OK)
        return -1;
    if (s->prop_count == s->prop_cap) {
        s->prop_cap = s->prop_cap ? s->prop_cap * 2 : 64;
        s->props = realloc(s->props, s->prop_cap * sizeof *s->props);
    }
    proposal_t *pr = &s->props[s->prop_count++];
    memset(pr, 0, sizeof *pr);
    pr->partition = p;
    pr->offset = off;
    pr->epoch = epoch;
    pr->node = i;
    pr->life = s->nodes[i].life;
    memcpy(pr->data, data, (size_t)len + 1);
    return (long)(s->prop_count - 1);
}

static void propose(sim_t *s) {
    int i = (int)rng_below(&s->rng, (uint32_t)s->n);
    int p = (int)rng_below(&s->rng, PARTITIONS);
    propose_on(s, i, p);
}

/* Cuts node i off from everyone for a while. */
static void isolate(sim_t *s, int i) {
    for (int j = 0; j < s->n; j++)
        s->cut[i][j] = s->cut[j][i] = 1;
    s->nodes[i].isolated_until = s->now + 30 + rng_below(&s->rng, 400);
}

static void inject_faults(sim_t *s) {
    if (rng_chance(&s->rng, s->f.cut)) {
        int a = (int)rng_below(&s->rng, (uint32_t)s->n);
        int b = (int)rng_below(&s->rng, (uint32_t)s->n);
        int v = !s->cut[a][b];
        s->cut[a][b] = v;
        if (rng_chance(&s->rng, 0.5))
            s->cut[b][a] = v; /* symmetric; else asymmetric */
    }
    if (rng_chance(&s->rng, s->f.replay) && s->history_count > 0) {
        packet_t *h = &s->history[rng_below(&s->rng, (uint32_t)s->history_count)];
        simnode_t *to = &s->nodes[h->to];
        if (to->node != NULL && to->paused_until <= s->now) {
            lgi_replica_node_receive(to->node, h->from, h->bytes, h->len, s->now);
            reap(s, to);
        }
    }
    if (rng_chance(&s->rng, s->f.transfer)) {
        /* an operator moves leadership: whoever leads hands over */
        int i = (int)rng_below(&s->rng, (uint32_t)s->n);
        int target = (i + 1 + (int)rng_below(&s->rng, (uint32_t)s->n - 1)) % s->n;
        int p = (int)rng_below(&s->rng, PARTITIONS);
        if (s->nodes[i].node != NULL && s->nodes[i].paused_until <= s->now) {
            lgi_replica_transfer(s->nodes[i].node, TOPIC, p, target, s->now);
            reap(s, &s->nodes[i]);
        }
    }
    /* Every new leader may be hit soon after its election: its marker
     * and a few entries reach some followers only.  Combined with the
     * churn below this is what Figure 8 needs. */
    for (int p = 0; p < PARTITIONS; p++)
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (!status_of(s, i, p, &st) || st.role != LGI_ROLE_LEADER ||
                st.epoch <= s->judged[p])
                continue;
            s->judged[p] = st.epoch;
            if (rng_chance(&s->rng, s->f.fresh)) {
                /* at a random moment, or right after its first commit:
                 * the HW has moved, followers may still lack the rest */
                s->nodes[i].strike_at = s->now + rng_below(&s->rng, 150);
                s->nodes[i].strike_hw =
                    rng_chance(&s->rng, 0.5) ? st.high_watermark : -1;
                s->nodes[i].strike_epoch = st.epoch;
                s->nodes[i].strike_partition = p;
            }
        }
    for (int i = 0; i < s->n; i++) {
        simnode_t *sn = &s->nodes[i];
        if (sn->isolated_until && s->now >= sn->isolated_until) {
            for (int j = 0; j < s->n; j++)
                s->cut[i][j] = s->cut[j][i] = 0;
            sn->isolated_until = 0;
        }
        lgi_replica_status_t st;
        if (sn->strike_epoch <= 0)
            continue;
        int leads = status_of(s, i, sn->strike_partition, &st) &&
                    st.role == LGI_ROLE_LEADER && st.epoch == sn->strike_epoch;
        if (leads && (sn->strike_hw >= 0 ? st.high_watermark <= sn->strike_hw
                                         : s->now < sn->strike_at))
            continue; /* not yet */
        if (leads) {
            if (rng_chance(&s->rng, 0.5)) {
                node_crash(s, sn);
                sn->down_until = s->now + 20 + rng_below(&s->rng, 400);
            } else {
                isolate(s, i);
            }
        }
        sn->strike_epoch = 0;
    }
    if (rng_chance(&s->rng, s->f.nemesis)) {
        /* Leader churn with partial replication (what Figure 8 needs): a
         * leader of a random partition is crashed or cut off from
         * everyone, often right after its election. */
        int p = (int)rng_below(&s->rng, PARTITIONS);
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (!status_of(s, i, p, &st) || st.role != LGI_ROLE_LEADER)
                continue;
            if (rng_chance(&s->rng, 0.5)) {
                node_crash(s, &s->nodes[i]);
                s->nodes[i].down_until = s->now + 20 + rng_below(&s->rng, 400);
            } else {
                isolate(s, i);
            }
        }
    }
    for (int i = 0; i < s->n; i++) {
        simnode_t *sn = &s->nodes[i];
        if (sn->node == NULL) {
            if (s->now >= sn->down_until)
                node_start(s, sn);
            continue;
        }
        if (rng_chance(&s->rng, s->f.crash)) {
            node_crash(s, sn);
            sn->down_until = s->now + 20 + rng_below(&s->rng, 600);
        } else if (sn->paused_until <= s->now && rng_chance(&s->rng, s->f.pause)) {
            sn->paused_until = s->now + 10 + rng_below(&s->rng, 500);
        }
    }
}

static void step(sim_t *s, int faulty) {
    s->now += 1 + rng_below(&s->rng, 3);
    if (faulty)
        inject_faults(s);
    deliver_due(s);
    if (faulty)
        for (int i = 0; i < s->n; i++)
            if (s->nodes[i].node != NULL && rng_chance(&s->rng, s->f.crash)) {
                /* between receiving entries and the tick's fsync */
                node_crash(s, &s->nodes[i]);
                s->nodes[i].down_until = s->now + 20 + rng_below(&s->rng, 600);
            }
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].node != NULL && s->nodes[i].paused_until <= s->now &&
            s->now >= s->nodes[i].next_tick) {
            /* hosts tick every few ms; between ticks appended entries
             * wait for their fsync */
            s->nodes[i].next_tick =
                s->now + 1 + rng_below(&s->rng, (uint32_t)s->tick_ms);
            lgi_replica_node_tick(s->nodes[i].node, s->now);
            reap(s, &s->nodes[i]);
        }
    if (s->workload && rng_chance(&s->rng, 0.3))
        propose(s);
    update_acks(s);
}

static int leaders_everywhere(sim_t *s) {
    for (int p = 0; p < PARTITIONS; p++) {
        int found = 0;
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (status_of(s, i, p, &st) && st.role == LGI_ROLE_LEADER)
                found = 1;
        }
        if (!found)
            return 0;
    }
    return 1;
}

static int converged(sim_t *s) {
    for (int p = 0; p < PARTITIONS; p++) {
        lgt_simdisk_t *d0 = disk_of(s, 0, p);
        int64_t count = lgt_simdisk_count(d0);
        for (int i = 0; i < s->n; i++) {
            lgt_simdisk_t *d = disk_of(s, i, p);
            lgi_replica_status_t st;
            if (!status_of(s, i, p, &st) || lgt_simdisk_count(d) != count ||
                st.high_watermark != count || lgt_simdisk_durable(d) != count)
                return 0;
            /* byte-identical log files, not just equal entries */
            size_t len, len0;
            const uint8_t *bytes = lgt_simdisk_bytes(d, &len);
            const uint8_t *bytes0 = lgt_simdisk_bytes(d0, &len0);
            if (len != len0 || memcmp(bytes, bytes0, len) != 0)
                return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- phases */

/* The chance that a storage call dies part-way, on every disk. */
static void set_death(sim_t *s, double chance) {
    s->f.death = chance;
    for (int i = 0; i < s->n; i++)
        for (int p = 0; p < PARTITIONS; p++)
            lgt_simdisk_set_death(s->nodes[i].disk[p], chance);
}

/* Catch-up part of I6a's bound for partition p, majority in[] and leader
 * ref: every other member of M must first cut its own suffix beyond the
 * common prefix with the leader's log (one diverging round per epoch in
 * that suffix), then fetch the rest, max_fetch entries per round trip;
 * then a few rounds for the leader's marker and the probe; plus three
 * fetch intervals for a follower to learn the leader (BeginQuorum is
 * repeated every interval to a voter silent for two) and two for the
 * fsync'd end to be reported on a later fetch.  A
 * round trip is at most two network delays plus one host tick (a leader
 * answers a fetch on receipt; a follower fetches again as soon as data
 * arrives). */
static int64_t catch_up_allowance(sim_t *s, int p, const int *in, int ref) {
    lgt_simdisk_t *r = disk_of(s, ref, p);
    int64_t ref_end = lgt_simdisk_count(r), rounds = 0;
    for (int i = 0; i < s->n; i++) {
        if (!in[i] || i == ref)
            continue;
        lgt_simdisk_t *d = disk_of(s, i, p);
        int64_t count = lgt_simdisk_count(d), common = 0;
        entry_t x, y;
        while (common < count && common < ref_end &&
               entry_at(d, common, &x) == 0 && entry_at(r, common, &y) == 0 &&
               same_entry(&x, &y))
            common++;
        int64_t epochs = 0;
        int32_t prev = -1;
        for (int64_t o = common; o < count; o++) {
            entry_at(d, o, &x);
            if (x.epoch != prev)
                epochs++;
            prev = x.epoch;
        }
        int64_t need = (ref_end - common + (int64_t)s->max_fetch - 1) /
                           (int64_t)s->max_fetch +
                       epochs;
        if (need > rounds)
            rounds = need;
    }
    int64_t trip = 2 * s->f.max_delay + s->tick_ms;
    return (rounds + 4) * trip + 5 * FETCH_INTERVAL_MS + 2 * s->tick_ms;
}

/* A majority phase: a random majority M (never everyone) is connected
 * with a clean network (delays, reordering and duplicates, no loss); every
 * other node is cut off from all or down, and the leader of a random
 * partition is put outside M half of the time.  I6a: each partition must,
 * have a leader in M within ELECTION_BOUND_MS, and the leader it has
 * from then on (the last new one seen within that time) must, within
 * catch_up_allowance() of being seen, move its HW past a fresh
 * acks=all entry proposed to it.  Faults resume afterwards; down nodes
 * restart a little later. */
static int majority_phase(sim_t *s) {
    int in[MAX_NODES] = {0}, order[MAX_NODES];
    int size = s->n / 2 + 1 +
               (int)rng_below(&s->rng, (uint32_t)(s->n - 1 - s->n / 2));
    for (int i = 0; i < s->n; i++)
        order[i] = i;
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)rng_below(&s->rng, (uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int exile = -1;
    if (rng_chance(&s->rng, 0.5)) {
        int p = (int)rng_below(&s->rng, PARTITIONS);
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (status_of(s, i, p, &st) && st.role == LGI_ROLE_LEADER)
                exile = i;
        }
    }
    for (int k = 0, taken = 0; k < s->n && taken < size; k++)
        if (order[k] != exile) {
            in[order[k]] = 1;
            taken++;
        }
    faults_t saved = s->f;
    memset(&s->f, 0, sizeof s->f);
    set_death(s, 0);
    s->f.dup = saved.dup;
    s->f.max_delay = saved.max_delay < 20 ? saved.max_delay : 20;
    int workload = s->workload;
    s->workload = 0; /* probes only: a backlog must be able to drain */
    for (int a = 0; a < s->n; a++)
        for (int b = 0; b < s->n; b++)
            s->cut[a][b] = !(in[a] && in[b]);
    for (int i = 0; i < s->n; i++) {
        s->nodes[i].strike_epoch = 0;
        s->nodes[i].isolated_until = 0;
    }
    for (int i = 0; i < s->n; i++) {
        simnode_t *sn = &s->nodes[i];
        if (in[i]) {
            sn->paused_until = 0;
            if (sn->node == NULL)
                node_start(s, sn);
        } else if (sn->node != NULL && rng_chance(&s->rng, 0.5)) {
            node_crash(s, sn);
            sn->down_until = INT64_MAX;
        } else if (sn->node == NULL) {
            sn->down_until = INT64_MAX;
        }
    }
    int64_t start = s->now, elected[PARTITIONS];
    int64_t since[PARTITIONS];     /* when the current leader was seen */
    int64_t allowance[PARTITIONS]; /* its catch-up allowance */
    int32_t seen_leader[PARTITIONS], seen_epoch[PARTITIONS];
    long probe[PARTITIONS];
    int done = 0, rc = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        probe[p] = -1;
        elected[p] = -1;
        seen_leader[p] = -1;
    }
    while (!rc && done != (1 << PARTITIONS) - 1) {
        for (int p = 0; p < PARTITIONS && !rc; p++) {
            if (done & (1 << p))
                continue;
            if (elected[p] < 0 && s->now - start > ELECTION_BOUND_MS)
                rc = fail(s, "I6a: p%d: no leader in a connected majority "
                             "of %d within %d ms",
                          p, size, ELECTION_BOUND_MS);
            else if (elected[p] >= 0 && s->now - since[p] > allowance[p] &&
                     s->now - start > ELECTION_BOUND_MS)
                rc = fail(s, "I6a: p%d: leader %d of a connected majority "
                             "of %d committed nothing within %" PRId64
                             " ms",
                          p, seen_leader[p], size, allowance[p]);
        }
        if (rc)
            break;
        step(s, 1);
        rc = check(s);
        for (int p = 0; p < PARTITIONS && !rc; p++) {
            if (done & (1 << p))
                continue;
            if (probe[p] >= 0 && s->props[probe[p]].acked) {
                done |= 1 << p;
                int64_t used = (s->now - since[p]) * 100 / allowance[p];
                if (used > s->slowest_commit)
                    s->slowest_commit = used;
                continue;
            }
            for (int i = 0; i < s->n; i++) {
                lgi_replica_status_t st;
                if (!in[i] || !status_of(s, i, p, &st) ||
                    st.role != LGI_ROLE_LEADER)
                    continue;
                if (elected[p] < 0) {
                    elected[p] = s->now - start;
                    if (elected[p] > s->slowest_election)
                        s->slowest_election = elected[p];
                }
                if ((seen_leader[p] != i || seen_epoch[p] != st.epoch) &&
                    s->now - start <= ELECTION_BOUND_MS) {
                    seen_leader[p] = i;
                    seen_epoch[p] = st.epoch;
                    since[p] = s->now;
                    allowance[p] = catch_up_allowance(s, p, in, i);
                }
                proposal_t *old = probe[p] >= 0 ? &s->props[probe[p]] : NULL;
                if (old == NULL || old->node != i || old->epoch != st.epoch ||
                    old->life != s->nodes[i].life)
                    probe[p] = propose_on(s, i, p);
            }
        }
    }
    s->f = saved;
    set_death(s, saved.death);
    s->workload = workload;
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].node == NULL && s->nodes[i].down_until == INT64_MAX)
            s->nodes[i].down_until = s->now + 20 + rng_below(&s->rng, 600);
    memset(s->cut, 0, sizeof s->cut);
    return rc;
}

static void sim_free(sim_t *s) {
    for (int i = 0; i < MAX_NODES; i++) {
        lgi_replica_node_destroy(s->nodes[i].node);
        for (int p = 0; p < PARTITIONS; p++)
            lgt_simdisk_free(s->nodes[i].disk[p]);
    }
    for (size_t i = 0; i < s->net_count; i++)
        free(s->net[i].bytes);
    free(s->net);
    for (size_t i = 0; i < s->history_count; i++)
        free(s->history[i].bytes);
    free(s->props);
    free(s->acked_list);
    for (int p = 0; p < PARTITIONS; p++) {
        free(s->seen[p]);
        free(s->leader_of[p]);
        for (int i = 0; i < MAX_NODES; i++)
            free(s->vote_of[p][i]);
    }
}

static sim_t *sim_new(uint64_t seed, int n, int broken, int checks,
                      int verbose) {
    sim_t *s = calloc(1, sizeof *s);
    s->seed = seed;
    s->rng = seed * 0x2545f4914f6cdd1dull + 1;
    s->broken = broken;
    s->checks = checks;
    s->verbose = verbose;
    s->n = n;
    s->max_fetch = 16;
    s->tick_ms = 1;
    for (int i = 0; i < MAX_NODES; i++) {
        s->nodes[i].sim = s;
        s->nodes[i].id = i;
        for (int p = 0; p < PARTITIONS; p++)
            s->nodes[i].disk[p] = lgt_simdisk_new(&s->rng, &s->nodes[i].dying);
    }
    return s;
}

/* Totals over every seed run, for the summary line. */
static struct {
    long acked, crashes, deaths, truncations, torn_tails, entries_lost,
        state_deaths, renames_lost, epochs;
    int64_t slowest_election, slowest_commit;
} totals;

static void add_totals(sim_t *s) {
    totals.acked += s->acked;
    totals.crashes += s->crashes;
    totals.deaths += s->deaths;
    if (s->slowest_election > totals.slowest_election)
        totals.slowest_election = s->slowest_election;
    if (s->slowest_commit > totals.slowest_commit)
        totals.slowest_commit = s->slowest_commit;
    for (int i = 0; i < s->n; i++)
        for (int p = 0; p < PARTITIONS; p++) {
            const lgt_simdisk_counters_t *c =
                lgt_simdisk_counters(s->nodes[i].disk[p]);
            totals.truncations += c->truncations;
            totals.torn_tails += c->torn_tails;
            totals.entries_lost += c->entries_lost;
            totals.state_deaths += c->state_deaths;
            totals.renames_lost += c->renames_lost;
            int32_t e = lgt_simdisk_state_epoch(s->nodes[i].disk[p]);
            if (e > totals.epochs)
                totals.epochs = e;
        }
}

static void dump(sim_t *s) {
    for (int p = 0; p < PARTITIONS; p++)
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st = {0};
            lgt_simdisk_t *d = disk_of(s, i, p);
            int up = status_of(s, i, p, &st);
            entry_t last = {-1, 0, NULL};
            int64_t count = lgt_simdisk_count(d);
            if (count > 0)
                entry_at(d, count - 1, &last);
            if (getenv("LG_SIM_DUMP_LOGS")) {
                fprintf(stderr, "  p%d node %d epochs:", p, i);
                for (int64_t o = 0; o < count; o++) {
                    entry_t e;
                    entry_at(d, o, &e);
                    fprintf(stderr, " %d", e.epoch);
                }
                fprintf(stderr, "\n");
            }
            fprintf(stderr,
                    "  p%d node %d %s role %d epoch %d leader %d hw %" PRId64
                    " end %" PRId64 " durable %" PRId64 " last epoch %d\n",
                    p, i, up ? "up" : "down", (int)st.role, st.epoch,
                    st.leader, st.high_watermark, count,
                    lgt_simdisk_durable(d), last.epoch);
        }
}

/* Runs the faulty phase for until_ms of virtual time. */
static int faulty_until(sim_t *s, int64_t until_ms) {
    int rc = 0;
    while (s->now < until_ms && !rc) {
        step(s, 1);
        rc = check(s);
    }
    return rc;
}

/* Disks of the next run_seed recover trusting torn epoch fields (test). */
static int next_run_without_epoch_check;
static int next_run_without_prevote;

/* Runs one seed; returns 0 when every invariant held, else 1 with the
 * failure in why. */
static int run_seed(uint64_t seed, int broken, int checks, int verbose,
                    char *why, size_t why_len) {
    uint64_t pick = seed * 0x2545f4914f6cdd1dull + 1;
    sim_t *s = sim_new(seed, rng_chance(&pick, 0.3) ? 5 : 3, broken, checks,
                       verbose);
    s->rng = pick;
    s->no_epoch_check = next_run_without_epoch_check;
    next_run_without_epoch_check = 0;
    s->no_prevote = next_run_without_prevote;
    s->f.drop = rng_below(&s->rng, 20) / 100.0;
    s->f.dup = rng_below(&s->rng, 10) / 100.0;
    s->f.corrupt = rng_below(&s->rng, 3) / 100.0;
    s->f.replay = rng_below(&s->rng, 5) / 100.0;
    s->f.crash = rng_below(&s->rng, 30) / 10000.0;
    s->f.pause = rng_below(&s->rng, 10) / 10000.0;
    s->f.cut = rng_below(&s->rng, 20) / 1000.0;
    s->f.max_delay = 1 + rng_below(&s->rng, 60);
    s->f.transfer = rng_below(&s->rng, 5) / 1000.0;
    s->f.nemesis = rng_below(&s->rng, 10) / 1000.0;
    s->f.fresh = rng_below(&s->rng, 50) / 100.0;
    s->f.death = rng_below(&s->rng, 5) / 100.0;
    /* small fetches make partial replication (and Figure 8) likelier */
    s->max_fetch = rng_chance(&s->rng, 0.5) ? 1 + rng_below(&s->rng, 3) : 16;
    s->tick_ms = 1 + rng_below(&s->rng, 10);
    s->workload = 1;
    set_death(s, s->f.death);
    for (int i = 0; i < s->n; i++) {
        for (int p = 0; p < PARTITIONS; p++) {
            lgt_simdisk_set_epoch_check(s->nodes[i].disk[p],
                                        !s->no_epoch_check);
            lgt_simdisk_set_unsafe_state(s->nodes[i].disk[p],
                                         (broken & BROKEN_UNPERSISTED_VOTE) != 0);
        }
        node_start(s, &s->nodes[i]);
    }
    const int64_t chunk_ms = 1000, bound_ms = 10000;
    int rc = faulty_until(s, chunk_ms);
    if (!rc)
        rc = majority_phase(s);
    if (!rc)
        rc = faulty_until(s, s->now + chunk_ms);
    if (!rc)
        rc = majority_phase(s);
    if (!rc)
        rc = faulty_until(s, s->now + chunk_ms);
    /* heal: links, pauses, crashed nodes; faults off */
    if (!rc) {
        memset(s->cut, 0, sizeof s->cut);
        memset(&s->f, 0, sizeof s->f);
        set_death(s, 0);
        s->f.max_delay = 5;
        for (int i = 0; i < s->n; i++) {
            s->nodes[i].paused_until = 0;
            s->nodes[i].strike_epoch = 0;
            s->nodes[i].isolated_until = 0;
            if (s->nodes[i].node == NULL)
                node_start(s, &s->nodes[i]);
        }
        int64_t healed = s->now;
        s->workload = 0; /* quiesce so convergence is observable */
        while (!rc && !leaders_everywhere(s)) {
            if (s->now - healed > bound_ms) {
                rc = fail(s, "I6: no leader %d ms after healing", (int)bound_ms);
                break;
            }
            step(s, 0);
            rc = check(s);
        }
        int64_t t = s->now;
        while (!rc && !converged(s)) {
            if (s->now - t > bound_ms) {
                rc = fail(s, "I7: replicas did not converge");
                break;
            }
            step(s, 0);
            rc = check(s);
        }
        for (size_t k = 0; !rc && k < s->prop_count; k++) {
            proposal_t *pr = &s->props[k];
            if (pr->acked && !holds(disk_of(s, 0, pr->partition), pr))
                rc = fail(s, "I7: acked %s lost", pr->data);
        }
    }
    if (verbose && rc)
        dump(s);
    if (verbose || (rc && !broken)) /* broken modes are meant to fail */
        fprintf(stderr,
                "seed %" PRIu64 "%s: %s n=%d t=%" PRId64 "ms acked=%ld "
                "delivered=%ld crashes=%ld (%ld inside a storage call)%s%s\n",
                seed, broken ? " (broken)" : "", rc ? "FAIL" : "ok", s->n,
                s->now, s->acked, s->delivered, s->crashes, s->deaths,
                rc ? " -- " : "", s->failure);
    if (why)
        snprintf(why, why_len, "%s", s->failure);
    if (!broken)
        add_totals(s);
    sim_free(s);
    free(s);
    return rc;
}

/* ---------------------------------------------------------------- scenario */

/* Raft's Figure 8, built directly.  Five nodes; p0 only matters.
 *   offsets 0,1: leader-change marker and "a" of epoch 1, on everyone;
 *   2,3: marker and "b" of epoch 2 (leader node 0), on nodes 0 and 1 --
 *        "b" was proposed on node 0, whose client still waits;
 *   2:   marker of epoch 3 (leader node 4, voted by 2, 3, 4), on node 4.
 * Node 4 is down, node 1 cut off.  Node 0 wins an election with 2 and 3
 * and replicates 2,3 to them two entries at a time; as soon as they hold
 * those, node 0's answers to them are cut (their fetches, carrying their
 * durable end 4, still arrive).  The broken leader now counts "b" as on a
 * majority and moves its HW past it before its own marker is anywhere:
 * "b" is acknowledged and consumer-visible.  Node 0 crashes; node 4
 * returns, 1, 2, 3 can reach only node 4, which wins (its last epoch 3
 * beats their 2) and makes them truncate "b": I4/I5 must fire.  The
 * correct leader never moves its HW there, so the same schedule passes. */
static int figure8_scenario(int broken, int checks, int verbose, char *why,
                            size_t why_len) {
    sim_t *s = sim_new(8, 5, broken, checks, verbose);
    s->f.max_delay = 1;
    s->max_fetch = 2;
    static const char *marker = LGI_REPLICA_MARKER;
    struct {
        int32_t epoch;
        const char *data;
        int on; /* bitmask of nodes */
        int64_t offset;
    } entries[] = {{1, marker, 0x1f, 0}, {1, "a", 0x1f, 1},
                   {2, marker, 0x03, 2}, {2, "b", 0x03, 3},
                   {3, marker, 0x10, 2}};
    int32_t state[5][2] = {{2, 0}, {2, 0}, {3, 4}, {3, 4}, {3, 4}};
    for (int i = 0; i < 5; i++) {
        lgi_replica_storage_t st = lgt_simdisk_storage(disk_of(s, i, 0));
        for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++) {
            if (!(entries[k].on & (1 << i)))
                continue;
            uint32_t len = entries[k].data == marker
                               ? LGI_REPLICA_MARKER_LEN
                               : (uint32_t)strlen(entries[k].data);
            if (st.end_offset(st.opaque) != entries[k].offset ||
                st.append(st.opaque, entries[k].epoch,
                          (const uint8_t *)entries[k].data, len) != 0)
                abort();
        }
        st.sync(st.opaque);
        st.save_state(st.opaque, state[i][0], state[i][1]);
    }
    for (int i = 0; i < 4; i++)
        node_start(s, &s->nodes[i]);
    s->nodes[4].down_until = INT64_MAX;
    for (int i = 0; i < 5; i++)
        s->cut[1][i] = s->cut[i][1] = 1;
    /* "b": proposed on node 0 in epoch 2, its client still waiting */
    s->props = calloc(1, sizeof *s->props);
    s->prop_cap = s->prop_count = 1;
    s->props[0] = (proposal_t){.partition = 0, .offset = 3, .epoch = 2,
                               .node = 0, .life = s->nodes[0].life};
    strcpy(s->props[0].data, "b");

    int rc = 0, phase = 0;
    int64_t phase_start = 0;
    while (!rc && s->now < 4000) {
        step(s, 1);
        rc = check(s);
        lgi_replica_status_t st;
        if (phase == 0) {
            /* cut node 0's answers to each follower holding 2,3 */
            int holding = 0;
            for (int i = 2; i <= 3; i++)
                if (lgt_simdisk_count(disk_of(s, i, 0)) >= 4) {
                    s->cut[0][i] = 1;
                    holding++;
                }
            if (holding == 2 && status_of(s, 0, 0, &st) &&
                st.role == LGI_ROLE_LEADER) {
                phase = 1;
                phase_start = s->now;
            }
        } else if (phase == 1 && s->now - phase_start >= 60) {
            /* node 0 goes; node 4 returns; 1, 2, 3 reach only node 4 */
            if (verbose)
                dump(s);
            node_crash(s, &s->nodes[0]);
            s->nodes[0].down_until = INT64_MAX;
            memset(s->cut, 0, sizeof s->cut);
            for (int a = 1; a <= 3; a++)
                for (int b = 0; b <= 3; b++)
                    if (a != b)
                        s->cut[a][b] = s->cut[b][a] = 1;
            s->nodes[4].down_until = 0; /* inject_faults restarts it */
            phase = 2;
        } else if (phase == 2 && status_of(s, 4, 0, &st) &&
                   st.role == LGI_ROLE_LEADER && st.high_watermark >= 3) {
            break;
        }
    }
    if (!rc && phase < 2)
        rc = fail(s, "scenario did not reach its schedule (phase %d)", phase);
    if (verbose) {
        dump(s);
        fprintf(stderr, "figure 8%s: %s %s\n", broken ? " (broken)" : "",
                rc ? "FAIL" : "ok", s->failure);
    }
    snprintf(why, why_len, "%s", s->failure);
    sim_free(s);
    free(s);
    return rc;
}

/* Regression (found by the majority phases): a voter that refuses a
 * candidate must not restart its election timer.  Node 0's log is empty;
 * it keeps asking node 1 for votes in ever larger epochs (forged here
 * every 50 ms, as a stale node cut off from the leader does).  Node 1,
 * whose log is better, must still stand itself within one maximal
 * election timeout; before the fix each refused request pushed its
 * deadline back and a connected majority stayed leaderless. */
static int stale_candidate_does_not_block_election(void) {
    sim_t *s = sim_new(36, 3, 0, CHECK_ALL, 0);
    s->f.max_delay = 1;
    lgi_replica_storage_t st = lgt_simdisk_storage(disk_of(s, 1, 0));
    if (st.append(st.opaque, 1, (const uint8_t *)LGI_REPLICA_MARKER,
                  LGI_REPLICA_MARKER_LEN) != 0 ||
        st.append(st.opaque, 1, (const uint8_t *)"a", 1) != 0 ||
        st.sync(st.opaque) != 0 || st.save_state(st.opaque, 1, -1) != 0)
        abort();
    node_start(s, &s->nodes[0]);
    node_start(s, &s->nodes[1]);
    s->nodes[2].down_until = INT64_MAX;
    int stood = 0;
    int64_t next_forge = 0, start = s->now;
    while (!stood && s->now - start <= 2 * ELECTION_TIMEOUT_MS) {
        lgi_replica_status_t st1;
        if (s->now >= next_forge && status_of(s, 1, 0, &st1)) {
            lgi_msg_t m = {.type = LGI_MSG_VOTE, .topic = TOPIC,
                           .partition = 0, .epoch = st1.epoch + 1,
                           .node = 0, .last_epoch = 0, .offset = 0,
                           .diverging_end = -1, .diverging_epoch = -1};
            lgi_envelope_t env = {.from = 0, .to = 1, .cluster_id = 42,
                                  .count = 1, .msgs = &m};
            uint8_t *bytes;
            size_t len;
            if (lgi_envelope_encode(&env, &bytes, &len) != LG_OK)
                abort();
            lgi_replica_node_receive(s->nodes[1].node, 0, bytes, len, s->now);
            lgi_free(bytes);
            next_forge = s->now + 50;
        }
        step(s, 1);
        if (check(s))
            break;
        if (status_of(s, 1, 0, &st1) && (st1.role == LGI_ROLE_CANDIDATE ||
                                         st1.role == LGI_ROLE_LEADER))
            stood = 1;
    }
    if (!stood)
        fprintf(stderr, "node 1 never stood for election in %d ms: %s\n",
                2 * ELECTION_TIMEOUT_MS, s->failure);
    int rc = stood && !s->failure[0] ? 0 : 1;
    sim_free(s);
    free(s);
    return rc;
}

/* Regression (found by make soak): the partitionLeaderEpoch of a batch is
 * outside its CRC, so a torn first sector with a later sector landing out
 * of order left a valid-looking batch with epoch 0 at the end of a node's
 * log; that made its log look less up to date, and I9 saw a node lacking
 * a visible entry that could win an election.  Recovery now requires the
 * epoch the leader-epoch checkpoint gives the offset (lib/partition.c
 * epochs_check; test_recovery covers the real store).  This seed must
 * pass, and must fail when the disks skip that check -- if a change to the
 * simulator makes the second run pass, pick a new seed with --soak.  The
 * seed was found before pre-vote, and its nodes stand without pre-vote
 * (unsafe_no_prevote) to keep the schedule that tears the field: the
 * regression is in recovery, not in elections. */
static int torn_epoch_field_is_rejected(void) {
    const uint64_t seed = 1795672292028261ull;
    char why[256];
    next_run_without_prevote = 1;
    int rc = run_seed(seed, 0, CHECK_ALL, 0, why, sizeof why);
    next_run_without_prevote = 0;
    if (rc != 0)
        return 1;
    next_run_without_prevote = 1;
    next_run_without_epoch_check = 1;
    fprintf(stderr, "(the next failure is expected: epoch check off)\n");
    rc = run_seed(seed, 0, CHECK_ALL, 0, why, sizeof why);
    next_run_without_prevote = 0;
    if (rc == 0) {
        fprintf(stderr, "seed %" PRIu64 " no longer tears an epoch field: "
                        "choose another\n",
                seed);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- tests */

/* Pre-vote: a node cut off from everyone for REJOIN_ISOLATION_MS (many
 * election timeouts) comes back, and the leaders of both partitions keep
 * their leadership and their epochs; the returning node follows them at
 * that same epoch.  Without pre-vote (no_prevote) the returning node has
 * driven its epoch up while alone, and its first message deposes the
 * leader; the test runs that way too and requires the disruption, so it
 * shows what pre-vote prevents.  Returns 0 when the outcome matches
 * no_prevote's expectation; *disrupted counts the partitions whose leader
 * lost its leadership or epoch. */
#define REJOIN_ISOLATION_MS 10000
static int isolated_node_rejoins(int no_prevote, int *disrupted) {
    sim_t *s = sim_new(7, 3, 0, CHECK_ALL, 0);
    s->no_prevote = no_prevote;
    s->f.max_delay = 5;
    s->tick_ms = 5;
    s->workload = 1;
    for (int i = 0; i < s->n; i++)
        node_start(s, &s->nodes[i]);
    int rc = 0;
    while (!rc && !leaders_everywhere(s) && s->now < 5000) {
        step(s, 0);
        rc = check(s);
    }
    /* steady state, then cut off a node that leads neither partition */
    for (int64_t until = s->now + 1000; !rc && s->now < until;) {
        step(s, 0);
        rc = check(s);
    }
    int32_t leader[PARTITIONS], epoch[PARTITIONS];
    int led[MAX_NODES] = {0};
    for (int p = 0; p < PARTITIONS; p++) {
        leader[p] = -1;
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (status_of(s, i, p, &st) && st.role == LGI_ROLE_LEADER) {
                leader[p] = i;
                epoch[p] = st.epoch;
                led[i] = 1;
            }
        }
        if (leader[p] < 0 && !rc)
            rc = fail(s, "p%d: no leader before the isolation", p);
    }
    int x = 0;
    while (led[x])
        x++;
    for (int j = 0; j < s->n; j++)
        s->cut[x][j] = s->cut[j][x] = 1;
    for (int64_t until = s->now + REJOIN_ISOLATION_MS; !rc && s->now < until;) {
        step(s, 0);
        rc = check(s);
    }
    for (int j = 0; j < s->n; j++)
        s->cut[x][j] = s->cut[j][x] = 0;
    for (int64_t until = s->now + 3000; !rc && s->now < until;) {
        step(s, 0);
        rc = check(s);
    }
    *disrupted = 0;
    for (int p = 0; !rc && p < PARTITIONS; p++) {
        lgi_replica_status_t st, sx;
        if (!status_of(s, leader[p], p, &st) || !status_of(s, x, p, &sx)) {
            rc = fail(s, "p%d: node down", p);
            break;
        }
        if (st.role != LGI_ROLE_LEADER || st.epoch != epoch[p])
            (*disrupted)++;
        else if (sx.epoch != epoch[p] || sx.leader != leader[p])
            rc = fail(s, "p%d: node %d did not rejoin leader %d epoch %d "
                         "(it has leader %d epoch %d)",
                      p, x, leader[p], epoch[p], sx.leader, sx.epoch);
    }
    if (rc)
        fprintf(stderr, "isolated_node_rejoins(%d): %s\n", no_prevote,
                s->failure);
    sim_free(s);
    free(s);
    if (rc)
        return 1;
    return no_prevote ? *disrupted == 0 : *disrupted != 0;
}

static int isolated_node_rejoins_without_disruption(void) {
    int with, without;
    int rc = isolated_node_rejoins(0, &with) |
             isolated_node_rejoins(1, &without);
    fprintf(stderr, "rejoin after %d ms alone: leaders deposed %d/%d with "
                    "pre-vote, %d/%d without\n",
            REJOIN_ISOLATION_MS, with, PARTITIONS, without, PARTITIONS);
    return rc;
}

static int many_seeds(uint64_t first, long count) {
    int failed = 0;
    for (long i = 0; i < count; i++)
        failed += run_seed(first + (uint64_t)i, 0, CHECK_ALL, 0, NULL, 0);
    fprintf(stderr,
            "%ld seeds from %" PRIu64 ": %d failed (%ld entries acknowledged, "
            "%ld crashes of which %ld inside a storage call, %ld torn log "
            "tails cut, %ld unsynced entries lost, %ld quorum-state saves "
            "cut by power loss, %ld unsynced renames lost, %ld divergence "
            "truncations, highest epoch %ld; majority phases: slowest "
            "election %" PRId64 " ms of %d, slowest catch-up %" PRId64
            "%% of its allowance)\n",
            count, first, failed, totals.acked, totals.crashes, totals.deaths,
            totals.torn_tails, totals.entries_lost, totals.state_deaths,
            totals.renames_lost, totals.truncations, totals.epochs,
            totals.slowest_election, ELECTION_BOUND_MS,
            totals.slowest_commit);
    return failed;
}

/* Loss itself: a visible entry retracted, an acknowledged one missing. */
static int loss_found(const char *why) {
    return strncmp(why, "I4", 2) == 0 || strncmp(why, "I5", 2) == 0 ||
           strncmp(why, "I7: acked", 9) == 0;
}

/* Runs seeds 1..count in a broken mode: *flagged = failures with every
 * invariant on, *lost = runs that really lost or retracted data with
 * only the loss invariants on. */
static void sweep(int broken, long count, long *flagged, long *lost) {
    char why[256];
    *flagged = *lost = 0;
    for (uint64_t seed = 1; seed <= (uint64_t)count; seed++) {
        if (run_seed(seed, broken, CHECK_ALL, 0, why, sizeof why))
            ++*flagged;
        if (run_seed(seed, broken, 0, 0, why, sizeof why) && loss_found(why))
            ++*lost;
    }
}

/* The checker must notice a node that acknowledges without fsync: across
 * a few seeds the broken mode is flagged (I1, I9), and with those off it
 * loses or retracts acknowledged data for real after crashes. */
static int broken_skip_fsync_is_caught(void) {
    long flagged, lost;
    sweep(BROKEN_SKIP_FSYNC, 40, &flagged, &lost);
    fprintf(stderr, "broken mode skip-fsync: flagged %ld/40, real loss "
                    "%ld/40\n",
            flagged, lost);
    return flagged > 0 && lost > 0 ? 0 : 1;
}

/* The checker must notice a leader that commits earlier epochs' entries
 * before its own marker.  The directed Figure 8 schedule passes the
 * correct code, and in the broken mode loses an acknowledged,
 * consumer-visible entry (I5 or I4 with only the loss invariants on) and
 * is flagged earlier by I9 with all on.  Random seeds find it too, though
 * rarely; the count is printed (see --sweep). */
static int broken_commit_before_marker_is_caught(long seeds) {
    char why[256];
    int rc = 0;
    if (figure8_scenario(0, CHECK_ALL, 0, why, sizeof why) != 0) {
        fprintf(stderr, "figure 8 with correct code failed: %s\n", why);
        rc = 1;
    }
    if (figure8_scenario(BROKEN_COMMIT_BEFORE_MARKER, 0, 0, why,
                         sizeof why) == 0 ||
        !loss_found(why)) {
        fprintf(stderr, "figure 8 broken mode lost nothing: %s\n",
                why[0] ? why : "(passed)");
        rc = 1;
    } else {
        fprintf(stderr, "figure 8 broken mode, loss: %s\n", why);
    }
    if (figure8_scenario(BROKEN_COMMIT_BEFORE_MARKER, CHECK_ALL, 0, why,
                         sizeof why) == 0 ||
        strncmp(why, "I9", 2) != 0) {
        fprintf(stderr, "figure 8 broken mode not flagged by I9: %s\n",
                why[0] ? why : "(passed)");
        rc = 1;
    } else {
        fprintf(stderr, "figure 8 broken mode, flagged: %s\n", why);
    }
    long flagged, lost;
    sweep(BROKEN_COMMIT_BEFORE_MARKER, seeds, &flagged, &lost);
    fprintf(stderr, "broken mode commit-before-marker: random seeds flagged "
                    "%ld/%ld, real loss %ld/%ld\n",
            flagged, seeds, lost, seeds);
    return rc;
}

/* The vote's durability is what I8 guards: disks whose save_state keeps
 * the quorum state in memory only must, after crashes, let some node vote
 * twice in an epoch (I8). */
static int broken_unpersisted_vote_is_caught(void) {
    char why[256];
    int double_votes = 0;
    for (uint64_t seed = 1; seed <= 40; seed++)
        if (run_seed(seed, BROKEN_UNPERSISTED_VOTE, CHECK_ALL, 0, why,
                     sizeof why) &&
            strncmp(why, "I8", 2) == 0)
            double_votes++;
    fprintf(stderr, "broken mode unpersisted vote: double votes caught "
                    "%d/40\n",
            double_votes);
    return double_votes > 0 ? 0 : 1;
}

static int envelope_fuzz_is_harmless(void) {
    /* random mutations of a valid envelope never crash the decoder and are
     * rejected unless unchanged (the checksum covers every byte) */
    lgi_msg_entry_t ent = {.epoch = 1, .len = 3, .data = (const uint8_t *)"abc"};
    lgi_msg_t m = {.type = LGI_MSG_FETCH_RESPONSE, .topic = "t", .epoch = 1,
                   .entry_count = 1, .entries = &ent, .diverging_end = -1};
    lgi_envelope_t env = {.from = 1, .to = 2, .cluster_id = 7, .count = 1,
                          .msgs = &m};
    uint8_t *bytes;
    size_t len;
    if (lgi_envelope_encode(&env, &bytes, &len) != LG_OK)
        return 1;
    uint64_t r = 99;
    for (int i = 0; i < 20000; i++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, bytes, len);
        size_t cut = len;
        int flips = 1 + (int)rng_below(&r, 4);
        for (int k = 0; k < flips; k++)
            copy[rng_below(&r, (uint32_t)len)] ^= (uint8_t)rng_next(&r);
        if (rng_chance(&r, 0.2))
            cut = rng_below(&r, (uint32_t)len);
        lgi_envelope_t out;
        lg_err_t err = lgi_envelope_decode(copy, cut, &out);
        if (err == LG_OK) {
            if (cut != len || memcmp(copy, bytes, len) != 0) {
                free(copy);
                return 1; /* a changed envelope got through */
            }
            lgi_envelope_free(&out);
        }
        free(copy);
    }
    lgi_free(bytes);
    return 0;
}

int main(int argc, char **argv) {
    int broken = getenv("LG_SIM_BROKEN") ? atoi(getenv("LG_SIM_BROKEN")) : 0;
    if (argc == 3 && strcmp(argv[1], "--seed") == 0)
        return run_seed(strtoull(argv[2], NULL, 10), broken,
                        getenv("LG_SIM_LOSS_ONLY") ? 0 : CHECK_ALL, 1, NULL,
                        0);
    if (argc == 2 && strcmp(argv[1], "--figure8") == 0) {
        char why[256];
        return figure8_scenario(broken,
                                getenv("LG_SIM_LOSS_ONLY") ? 0 : CHECK_ALL, 1,
                                why, sizeof why);
    }
    if (argc == 3 && strcmp(argv[1], "--sweep") == 0) {
        /* how often random seeds catch LG_SIM_BROKEN's mode */
        long flagged, lost;
        sweep(broken, atol(argv[2]), &flagged, &lost);
        fprintf(stderr, "mode %d: %ld/%s seeds flagged, %ld really lost "
                        "data\n",
                broken, flagged, argv[2], lost);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--soak") == 0) {
        time_t start = time(NULL), stop = start + atol(argv[2]);
        uint64_t seed = (uint64_t)start * 1000003u;
        long runs = 0;
        int failed = 0;
        while (time(NULL) < stop) {
            failed += run_seed(seed + (uint64_t)runs, 0, CHECK_ALL, 0, NULL, 0);
            runs++;
        }
        long elapsed = (long)(time(NULL) - start);
        fprintf(stderr,
                "soak: %ld seeds from %" PRIu64 " in %ld s (%ld/min), %d "
                "failed; slowest election %" PRId64 " ms of %d, slowest "
                "catch-up %" PRId64 "%% of its allowance\n",
                runs, seed, elapsed, elapsed ? runs * 60 / elapsed : runs,
                failed, totals.slowest_election, ELECTION_BOUND_MS,
                totals.slowest_commit);
        return failed ? 1 : 0;
    }
    long count = getenv("LG_SIM_SEEDS") ? atol(getenv("LG_SIM_SEEDS")) : 300;
    int rc = 0;
    if (envelope_fuzz_is_harmless()) {
        fprintf(stderr, "FAIL envelope_fuzz_is_harmless\n");
        rc = 1;
    }
    if (stale_candidate_does_not_block_election()) {
        fprintf(stderr, "FAIL stale_candidate_does_not_block_election\n");
        rc = 1;
    }
    if (isolated_node_rejoins_without_disruption()) {
        fprintf(stderr, "FAIL isolated_node_rejoins_without_disruption\n");
        rc = 1;
    }
    if (torn_epoch_field_is_rejected()) {
        fprintf(stderr, "FAIL torn_epoch_field_is_rejected\n");
        rc = 1;
    }
    uint64_t first = getenv("LG_SIM_FIRST")
                         ? strtoull(getenv("LG_SIM_FIRST"), NULL, 10)
                         : 1;
    if (many_seeds(first, count)) {
        fprintf(stderr, "FAIL many_seeds\n");
        rc = 1;
    }
    if (broken_skip_fsync_is_caught()) {
        fprintf(stderr, "FAIL broken_skip_fsync_is_caught\n");
        rc = 1;
    }
    if (broken_unpersisted_vote_is_caught()) {
        fprintf(stderr, "FAIL broken_unpersisted_vote_is_caught\n");
        rc = 1;
    }
    if (broken_commit_before_marker_is_caught(40)) {
        fprintf(stderr, "FAIL broken_commit_before_marker_is_caught\n");
        rc = 1;
    }
    return rc;
}
