/*
 * test_replica_sim.c -- deterministic simulation of replication.
 *
 * Role: runs N replica nodes (lib/replica.c) in one process and one thread
 * on virtual time.  Everything random -- faults, workload, each node's
 * election timeouts -- derives from one seed, so `test_replica_sim --seed S`
 * replays a failing run exactly.
 *
 * The world:
 *   - storage: per node an in-memory log whose "disk" survives crashes;
 *     appends are unsynced until sync(); a crash keeps the synced prefix
 *     plus a random prefix of the unsynced suffix (writes that happened to
 *     reach the platter) and drops the rest, the last kept write possibly
 *     torn -- which log recovery turns into "dropped", so it is modelled as
 *     dropped.  Quorum state (epoch, vote) is written durably.
 *   - network: every envelope may be dropped, delayed (reordering),
 *     duplicated, corrupted (a flipped byte; the decoder must reject it),
 *     and old envelopes are replayed; links are cut symmetrically or
 *     asymmetrically and healed.
 *   - nodes crash (all volatile state lost) and restart, or pause (no
 *     ticks, no deliveries) and resume;
 *   - an operator transfers leadership at random moments.
 *
 * Invariants, checked after every step:
 *   I1 every acknowledged (acks=all) entry is durable on a majority;
 *   I2 at most one leader per (partition, epoch);
 *   I3 logs match: equal (offset, epoch) on two disks implies identical
 *      prefixes;
 *   I4 nothing below any node's HW ever differs from what a consumer saw
 *      there before (no retraction), and HW <= log end;
 *   I5 a leader of epoch E holds every entry acknowledged in an epoch < E.
 * After the faulty phase the world heals; then:
 *   I6 every partition has a leader within 10 s of virtual time;
 *   I7 all replicas converge byte-identical with HW = end, and every
 *      acknowledged entry is in every log.
 *
 * The broken mode (nodes skip fsync and report appended data as durable)
 * must make the checker fail; test `broken_mode_is_caught` asserts it.
 *
 * Usage: test_replica_sim            N seeds (LG_SIM_SEEDS, default 300)
 *        test_replica_sim --seed S   one seed, verbose
 *        test_replica_sim --soak SEC random seeds until SEC seconds pass
 */
#include "replica.h"

#include "alloc.h"
#include "memlog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_NODES 5
#define PARTITIONS 2
#define TOPIC "t"

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

/* ---------------------------------------------------------------- disk */

typedef lgt_entry_t entry_t;
typedef lgt_memlog_t disk_t;

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
    int32_t ack_epoch; /* the leader epoch at ack time */
    int32_t node;
} proposal_t;

typedef struct {
    int32_t epoch;
    uint32_t len;
    uint8_t data[48];
} seen_t;

typedef struct sim sim_t;
typedef struct {
    sim_t *sim;
    int32_t id;
    disk_t disk[PARTITIONS];
    lgi_replica_node_t *node; /* NULL while crashed */
    int64_t paused_until;
    int64_t down_until;
} simnode_t;

typedef struct {
    double drop, dup, corrupt, replay, crash, pause, cut, transfer;
    int64_t max_delay;
} faults_t;

struct sim {
    uint64_t rng;
    uint64_t seed;
    int n;
    int broken;
    int verbose;
    int strict_durable; /* I1 on */
    int workload;       /* clients propose */
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
    char failure[256];
    uint64_t counter;
    long acked, delivered, crashes;
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

static int send_cb(void *opaque, int32_t to, const void *bytes, size_t len) {
    simnode_t *sn = opaque;
    sim_t *s = sn->sim;
    if (to < 0 || to >= s->n)
        return -1;
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
    lgi_replica_config_t c = {.node_id = sn->id,
                              .cluster_id = 42,
                              .seed = rng_next(&s->rng),
                              .election_timeout_ms = 150,
                              .fetch_interval_ms = 20,
                              .max_fetch_entries = 16,
                              .send = send_cb,
                              .send_opaque = sn,
                              .unsafe_skip_fsync = s->broken};
    if (lgi_replica_node_create(&c, s->now, &sn->node) != LG_OK)
        abort();
    int32_t voters[MAX_NODES];
    for (int i = 0; i < s->n; i++)
        voters[i] = i;
    for (int p = 0; p < PARTITIONS; p++) {
        lgi_replica_storage_t st = lgt_memlog_storage(&sn->disk[p]);
        if (lgi_replica_node_add(sn->node, TOPIC, p, voters, (size_t)s->n,
                                 &st, s->now) != LG_OK)
            abort();
    }
}

/* Crash: volatile state gone; each disk keeps its synced prefix and a
 * random part of what was written but not synced. */
static void node_crash(sim_t *s, simnode_t *sn) {
    lgi_replica_node_destroy(sn->node);
    sn->node = NULL;
    for (int p = 0; p < PARTITIONS; p++) {
        disk_t *d = &sn->disk[p];
        int64_t unsynced = d->count - d->durable;
        lgt_memlog_crash(d, unsynced ? rng_below(&s->rng, (uint32_t)unsynced + 1)
                                     : 0);
    }
    s->crashes++;
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
        }
        free(p.bytes);
    }
}

static disk_t *disk_of(sim_t *s, int node, int p) {
    return &s->nodes[node].disk[p];
}

/* ---------------------------------------------------------------- checks */

static int check(sim_t *s) {
    int majority = s->n / 2 + 1;
    for (int p = 0; p < PARTITIONS; p++) {
        /* I2 */
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (s->nodes[i].node == NULL ||
                lgi_replica_status(s->nodes[i].node, TOPIC, p, &st) != LG_OK ||
                st.role != LGI_ROLE_LEADER)
                continue;
            while (st.epoch >= s->leader_cap[p]) {
                int32_t cap = s->leader_cap[p] ? s->leader_cap[p] * 2 : 64;
                s->leader_of[p] =
                    realloc(s->leader_of[p], (size_t)cap * sizeof(int32_t));
                for (int32_t e = s->leader_cap[p]; e < cap; e++)
                    s->leader_of[p][e] = -1;
                s->leader_cap[p] = cap;
            }
            if (s->leader_of[p][st.epoch] == -1)
                s->leader_of[p][st.epoch] = i;
            else if (s->leader_of[p][st.epoch] != i)
                return fail(s, "I2: partition %d epoch %d has leaders %d and %d",
                            p, st.epoch, s->leader_of[p][st.epoch], i);
            /* I5 */
            disk_t *d = disk_of(s, i, p);
            for (size_t k = 0; k < s->prop_count; k++) {
                proposal_t *pr = &s->props[k];
                if (pr->partition != p || !pr->acked || pr->ack_epoch >= st.epoch)
                    continue;
                if (pr->offset >= d->count ||
                    d->entries[pr->offset].epoch != pr->epoch)
                    return fail(s, "I5: leader %d epoch %d lacks acked %s "
                                   "(p%d offset %" PRId64 ")",
                                i, st.epoch, pr->data, p, pr->offset);
            }
        }
        /* I1 */
        if (s->strict_durable)
            for (size_t k = 0; k < s->prop_count; k++) {
                proposal_t *pr = &s->props[k];
                if (pr->partition != p || !pr->acked)
                    continue;
                int holders = 0;
                for (int i = 0; i < s->n; i++) {
                    disk_t *d = disk_of(s, i, p);
                    if (pr->offset < d->durable &&
                        d->entries[pr->offset].epoch == pr->epoch)
                        holders++;
                }
                if (holders < majority)
                    return fail(s, "I1: acked %s durable on %d < %d nodes",
                                pr->data, holders, majority);
            }
        /* I3 */
        for (int a = 0; a < s->n; a++)
            for (int b = a + 1; b < s->n; b++) {
                disk_t *da = disk_of(s, a, p), *db = disk_of(s, b, p);
                int64_t o = (da->count < db->count ? da->count : db->count) - 1;
                while (o >= 0 && da->entries[o].epoch != db->entries[o].epoch)
                    o--;
                for (; o >= 0; o--) {
                    entry_t *x = &da->entries[o], *y = &db->entries[o];
                    if (x->epoch != y->epoch || x->len != y->len ||
                        memcmp(x->data, y->data, x->len) != 0)
                        return fail(s, "I3: p%d nodes %d,%d differ at %" PRId64,
                                    p, a, b, o);
                }
            }
        /* I4 */
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (s->nodes[i].node == NULL ||
                lgi_replica_status(s->nodes[i].node, TOPIC, p, &st) != LG_OK)
                continue;
            disk_t *d = disk_of(s, i, p);
            if (st.high_watermark > d->count)
                return fail(s, "I4: node %d p%d HW %" PRId64 " > end %" PRId64,
                            i, p, st.high_watermark, d->count);
            for (int64_t o = 0; o < st.high_watermark; o++) {
                entry_t *e = &d->entries[o];
                if (o < s->seen_count[p]) {
                    seen_t *v = &s->seen[p][o];
                    if (v->epoch != e->epoch || v->len != e->len ||
                        memcmp(v->data, e->data, e->len) != 0)
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
                v->epoch = e->epoch;
                v->len = e->len;
                memcpy(v->data, e->data, e->len);
            }
        }
    }
    return 0;
}

/* Marks proposals acknowledged: the proposing leader's HW passed the offset
 * while it still holds the entry at its epoch. */
static void update_acks(sim_t *s) {
    for (size_t k = 0; k < s->prop_count; k++) {
        proposal_t *pr = &s->props[k];
        simnode_t *sn = &s->nodes[pr->node];
        lgi_replica_status_t st;
        if (pr->acked || sn->node == NULL ||
            lgi_replica_status(sn->node, TOPIC, pr->partition, &st) != LG_OK ||
            st.role != LGI_ROLE_LEADER || st.epoch != pr->epoch ||
            st.high_watermark <= pr->offset)
            continue;
        disk_t *d = disk_of(s, pr->node, pr->partition);
        if (pr->offset < d->count && d->entries[pr->offset].epoch == pr->epoch) {
            pr->acked = 1;
            pr->ack_epoch = st.epoch;
            s->acked++;
        }
    }
}

static void propose(sim_t *s) {
    int i = (int)rng_below(&s->rng, (uint32_t)s->n);
    int p = (int)rng_below(&s->rng, PARTITIONS);
    if (s->nodes[i].node == NULL || s->nodes[i].paused_until > s->now)
        return;
    char data[48];
    int len = snprintf(data, sizeof data, "n%d-r%" PRIu64, i, s->counter++);
    int64_t off;
    int32_t epoch, leader;
    if (lgi_replica_propose(s->nodes[i].node, TOPIC, p, data, (uint32_t)len,
                            &off, &epoch, &leader) != LG_OK)
        return;
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
    memcpy(pr->data, data, (size_t)len + 1);
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
        if (to->node != NULL)
            lgi_replica_node_receive(to->node, h->from, h->bytes, h->len, s->now);
    }
    if (rng_chance(&s->rng, s->f.transfer)) {
        /* an operator moves leadership: whoever leads hands over */
        int i = (int)rng_below(&s->rng, (uint32_t)s->n);
        int target = (i + 1 + (int)rng_below(&s->rng, (uint32_t)s->n - 1)) % s->n;
        if (s->nodes[i].node != NULL && s->nodes[i].paused_until <= s->now)
            lgi_replica_transfer(s->nodes[i].node, TOPIC,
                                 (int32_t)rng_below(&s->rng, PARTITIONS),
                                 target, s->now);
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
    for (int i = 0; i < s->n; i++)
        if (s->nodes[i].node != NULL && s->nodes[i].paused_until <= s->now)
            lgi_replica_node_tick(s->nodes[i].node, s->now);
    if (s->workload && rng_chance(&s->rng, 0.3))
        propose(s);
    update_acks(s);
}

static int leaders_everywhere(sim_t *s) {
    for (int p = 0; p < PARTITIONS; p++) {
        int found = 0;
        for (int i = 0; i < s->n; i++) {
            lgi_replica_status_t st;
            if (s->nodes[i].node &&
                lgi_replica_status(s->nodes[i].node, TOPIC, p, &st) == LG_OK &&
                st.role == LGI_ROLE_LEADER)
                found = 1;
        }
        if (!found)
            return 0;
    }
    return 1;
}

static int converged(sim_t *s) {
    for (int p = 0; p < PARTITIONS; p++) {
        disk_t *d0 = disk_of(s, 0, p);
        for (int i = 0; i < s->n; i++) {
            disk_t *d = disk_of(s, i, p);
            lgi_replica_status_t st;
            lgi_replica_status(s->nodes[i].node, TOPIC, p, &st);
            if (d->count != d0->count || st.high_watermark != d->count ||
                d->durable != d->count)
                return 0;
            for (int64_t o = 0; o < d->count; o++)
                if (d->entries[o].epoch != d0->entries[o].epoch ||
                    d->entries[o].len != d0->entries[o].len ||
                    memcmp(d->entries[o].data, d0->entries[o].data,
                           d->entries[o].len) != 0)
                    return 0;
        }
    }
    return 1;
}

static void sim_free(sim_t *s) {
    for (int i = 0; i < s->n; i++) {
        lgi_replica_node_destroy(s->nodes[i].node);
        for (int p = 0; p < PARTITIONS; p++) {
            lgt_memlog_free(&s->nodes[i].disk[p]);
        }
    }
    for (size_t i = 0; i < s->net_count; i++)
        free(s->net[i].bytes);
    free(s->net);
    for (size_t i = 0; i < s->history_count; i++)
        free(s->history[i].bytes);
    free(s->props);
    for (int p = 0; p < PARTITIONS; p++) {
        free(s->seen[p]);
        free(s->leader_of[p]);
    }
}

/* Totals over every seed run, for the summary line. */
static long total_acked, total_crashes, total_truncations, total_epochs;

/* Runs one seed; returns 0 when every invariant held, else 1 with
 * s->failure set. */
static int run_seed(uint64_t seed, int broken, int strict, int verbose,
                    char *why, size_t why_len) {
    sim_t *s = calloc(1, sizeof *s);
    s->seed = seed;
    s->rng = seed * 0x2545f4914f6cdd1dull + 1;
    s->broken = broken;
    s->strict_durable = strict;
    s->verbose = verbose;
    s->n = rng_chance(&s->rng, 0.3) ? 5 : 3;
    s->f.drop = rng_below(&s->rng, 20) / 100.0;
    s->f.dup = rng_below(&s->rng, 10) / 100.0;
    s->f.corrupt = rng_below(&s->rng, 3) / 100.0;
    s->f.replay = rng_below(&s->rng, 5) / 100.0;
    s->f.crash = rng_below(&s->rng, 30) / 10000.0;
    s->f.pause = rng_below(&s->rng, 10) / 10000.0;
    s->f.cut = rng_below(&s->rng, 20) / 1000.0;
    s->f.max_delay = 1 + rng_below(&s->rng, 60);
    s->f.transfer = rng_below(&s->rng, 5) / 1000.0;
    s->workload = 1;
    for (int i = 0; i < s->n; i++) {
        s->nodes[i].sim = s;
        s->nodes[i].id = i;
        node_start(s, &s->nodes[i]);
    }
    int rc = 0;
    const int64_t faulty_ms = 3000, bound_ms = 10000;
    while (s->now < faulty_ms && !rc) {
        step(s, 1);
        rc = check(s);
    }
    /* heal: links, pauses, crashed nodes; faults off */
    if (!rc) {
        memset(s->cut, 0, sizeof s->cut);
        memset(&s->f, 0, sizeof s->f);
        s->f.max_delay = 5;
        for (int i = 0; i < s->n; i++) {
            s->nodes[i].paused_until = 0;
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
                if (verbose)
                    for (int p = 0; p < PARTITIONS; p++)
                        for (int i = 0; i < s->n; i++) {
                            lgi_replica_status_t st;
                            disk_t *d = disk_of(s, i, p);
                            lgi_replica_status(s->nodes[i].node, TOPIC, p, &st);
                            fprintf(stderr,
                                    "  p%d node %d role %d epoch %d leader %d "
                                    "hw %" PRId64 " end %" PRId64
                                    " durable %" PRId64 " last epoch %d\n",
                                    p, i, (int)st.role, st.epoch, st.leader,
                                    st.high_watermark, d->count, d->durable,
                                    d->count ? d->entries[d->count - 1].epoch
                                             : -1);
                        }
                break;
            }
            step(s, 0);
            rc = check(s);
        }
        for (size_t k = 0; !rc && k < s->prop_count; k++) {
            proposal_t *pr = &s->props[k];
            disk_t *d = disk_of(s, 0, pr->partition);
            if (pr->acked && (pr->offset >= d->count ||
                              d->entries[pr->offset].epoch != pr->epoch ||
                              memcmp(d->entries[pr->offset].data, pr->data,
                                     d->entries[pr->offset].len) != 0))
                rc = fail(s, "I7: acked %s lost", pr->data);
        }
    }
    if (verbose || rc)
        fprintf(stderr,
                "seed %" PRIu64 "%s: %s n=%d t=%" PRId64 "ms acked=%ld "
                "delivered=%ld crashes=%ld%s%s\n",
                seed, broken ? " (broken)" : "", rc ? "FAIL" : "ok", s->n,
                s->now, s->acked, s->delivered, s->crashes, rc ? " -- " : "",
                s->failure);
    if (why)
        snprintf(why, why_len, "%s", s->failure);
    if (!broken) {
        total_acked += s->acked;
        total_crashes += s->crashes;
        for (int i = 0; i < s->n; i++)
            for (int p = 0; p < PARTITIONS; p++) {
                total_truncations += s->nodes[i].disk[p].truncations;
                if (s->nodes[i].disk[p].state_epoch > total_epochs)
                    total_epochs = s->nodes[i].disk[p].state_epoch;
            }
    }
    sim_free(s);
    free(s);
    return rc;
}

/* ---------------------------------------------------------------- tests */

static int many_seeds(uint64_t first, long count) {
    int failed = 0;
    long acked = 0;
    for (long i = 0; i < count; i++)
        failed += run_seed(first + (uint64_t)i, 0, 1, 0, NULL, 0);
    (void)acked;
    fprintf(stderr,
            "%ld seeds from %" PRIu64 ": %d failed (%ld entries acknowledged, "
            "%ld crashes, %ld divergence truncations, highest epoch %ld)\n",
            count, first, failed, total_acked, total_crashes,
            total_truncations, total_epochs);
    return failed;
}

/* The checker must notice a node that acknowledges without fsync: across
 * a few seeds, the broken mode fails I1 (strict) and, with I1 off, loses or
 * retracts acknowledged data for real after crashes. */
static int broken_mode_is_caught(void) {
    int strict_caught = 0, loss_caught = 0;
    char why[256];
    for (uint64_t seed = 1; seed <= 40; seed++) {
        if (run_seed(seed, 1, 1, 0, why, sizeof why))
            strict_caught++;
        if (run_seed(seed, 1, 0, 0, why, sizeof why) &&
            (strncmp(why, "I4", 2) == 0 || strncmp(why, "I5", 2) == 0 ||
             strncmp(why, "I7: acked", 9) == 0)) {
            loss_caught++;
            fprintf(stderr, "broken mode, no I1: seed %" PRIu64 " caught: %s\n",
                    seed, why);
        }
    }
    fprintf(stderr, "broken mode: I1 caught %d/40, real loss caught %d/40\n",
            strict_caught, loss_caught);
    return strict_caught > 0 && loss_caught > 0 ? 0 : 1;
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
    if (argc == 3 && strcmp(argv[1], "--seed") == 0)
        return run_seed(strtoull(argv[2], NULL, 10), getenv("LG_SIM_BROKEN") != NULL,
                        1, 1, NULL, 0);
    if (argc == 3 && strcmp(argv[1], "--soak") == 0) {
        time_t stop = time(NULL) + atol(argv[2]);
        uint64_t seed = (uint64_t)time(NULL) * 1000003u;
        long runs = 0;
        int failed = 0;
        while (time(NULL) < stop) {
            failed += run_seed(seed + (uint64_t)runs, 0, 1, 0, NULL, 0);
            runs++;
        }
        fprintf(stderr, "soak: %ld seeds from %" PRIu64 ", %d failed\n", runs,
                seed, failed);
        return failed ? 1 : 0;
    }
    long count = getenv("LG_SIM_SEEDS") ? atol(getenv("LG_SIM_SEEDS")) : 300;
    int rc = 0;
    if (envelope_fuzz_is_harmless()) {
        fprintf(stderr, "FAIL envelope_fuzz_is_harmless\n");
        rc = 1;
    }
    if (many_seeds(1, count)) {
        fprintf(stderr, "FAIL many_seeds\n");
        rc = 1;
    }
    if (broken_mode_is_caught()) {
        fprintf(stderr, "FAIL broken_mode_is_caught\n");
        rc = 1;
    }
    return rc;
}
