/*
 * assignor.c -- the partition assignors a group coordinator runs: range,
 * roundrobin and cooperative-sticky, each producing for every member the
 * set of partitions it should hold.
 *
 * Invariants of every assignor: each partition of a subscribed topic goes
 * to exactly one member that subscribes to that topic; no partition of a
 * topic nobody subscribes to is assigned; the result depends only on the
 * inputs (members are ordered by their id first), so every run over the
 * same group state gives the same answer.
 *
 *   range        per topic, the subscribed members in id order take
 *                consecutive runs of partitions, the first P % M one more
 *                than the rest (Kafka's RangeAssignor).
 *   roundrobin   all partitions of all topics, in (topic, partition)
 *                order, dealt to the members in id order, skipping those
 *                not subscribed to the partition's topic (Kafka's
 *                RoundRobinAssignor).
 *   cooperative-sticky
 *                every member keeps what it owns while that is still
 *                valid, unowned partitions go to the least loaded eligible
 *                member, then partitions move one at a time from a member
 *                holding at least two more than an eligible other until no
 *                such move exists.  Only what must move for balance moves.
 *                The coordinator turns the difference into KIP-429's two
 *                rounds (revoke first, assign in the next rebalance); the
 *                assignor itself only computes the target.
 */
#include "assignor.h"

#include "alloc.h"
#include "conf.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

const char *lgi_assignor_name(int strategy) {
    switch (strategy) {
    case LGI_ASSIGNOR_ROUNDROBIN:
        return "roundrobin";
    case LGI_ASSIGNOR_COOPERATIVE_STICKY:
        return "cooperative-sticky";
    default:
        return "range";
    }
}

/* Whether member subscribes to topic. */
static int subscribes(const lgi_assignor_member_t *member, const char *topic) {
    for (size_t i = 0; i < member->topic_count; i++)
        if (strcmp(member->topics[i], topic) == 0)
            return 1;
    return 0;
}

/* Sorting member indices by id (qsort_r: no shared state). */
static int compare_member_index(const void *a, const void *b, void *arg) {
    const lgi_assignor_member_t *members = arg;
    size_t left = *(const size_t *)a, right = *(const size_t *)b;
    return strcmp(members[left].id, members[right].id);
}

/* Everything one run needs: the flattened partitions (topic order, then
 * partition order), each partition's owner, member order and loads. */
typedef struct run {
    const lgi_assignor_topic_t *topics;
    size_t topic_count;
    lgi_assignor_member_t *members;
    size_t member_count;
    size_t *order; /* member indices sorted by id */
    size_t partition_count;
    size_t *topic_of;        /* partition -> topic index */
    int32_t *number_of;      /* partition -> partition number */
    long *owner;             /* partition -> member index, -1 none */
    size_t *load;            /* member index -> partitions owned */
    unsigned char *eligible; /* [member * topic_count + topic] */
} run_t;

static void run_free(run_t *run) {
    lgi_free(run->order);
    lgi_free(run->topic_of);
    lgi_free(run->number_of);
    lgi_free(run->owner);
    lgi_free(run->load);
    lgi_free(run->eligible);
}

static int is_eligible(const run_t *run, size_t member, size_t topic) {
    return run->eligible[member * run->topic_count + topic];
}

/* Makes member the owner of partition, keeping the loads. */
static void give(run_t *run, size_t partition, size_t member) {
    if (run->owner[partition] >= 0)
        run->load[run->owner[partition]]--;
    run->owner[partition] = (long)member;
    run->load[member]++;
}

static void range(run_t *run) {
    size_t base = 0;
    for (size_t t = 0; t < run->topic_count; t++) {
        size_t eligible = 0;
        for (size_t k = 0; k < run->member_count; k++)
            eligible += is_eligible(run, run->order[k], t);
        size_t count = (size_t)run->topics[t].partitions;
        if (eligible > 0) {
            size_t per = count / eligible, extra = count % eligible;
            size_t next = 0, rank = 0;
            for (size_t k = 0; k < run->member_count; k++) {
                size_t member = run->order[k];
                if (!is_eligible(run, member, t))
                    continue;
                size_t take = per + (rank < extra ? 1 : 0);
                for (size_t i = 0; i < take; i++)
                    give(run, base + next++, member);
                rank++;
            }
        }
        base += count;
    }
}

static void roundrobin(run_t *run) {
    size_t cursor = 0;
    for (size_t p = 0; p < run->partition_count; p++) {
        size_t t = run->topic_of[p];
        for (size_t tried = 0; tried < run->member_count; tried++) {
            size_t k = (cursor + tried) % run->member_count;
            if (is_eligible(run, run->order[k], t)) {
                give(run, p, run->order[k]);
                cursor = k + 1;
                break;
            }
        }
    }
}

/* The flattened index of tp, or SIZE_MAX if its topic or partition is
 * gone. */
static size_t partition_index(const run_t *run, const lgi_tp_t *tp) {
    size_t base = 0;
    for (size_t t = 0; t < run->topic_count; t++) {
        if (strcmp(run->topics[t].name, tp->topic) == 0)
            return tp->partition >= 0 &&
                           tp->partition < run->topics[t].partitions
                       ? base + (size_t)tp->partition
                       : SIZE_MAX;
        base += (size_t)run->topics[t].partitions;
    }
    return SIZE_MAX;
}

/* The eligible member with the least load for partition p (ties: id
 * order), or SIZE_MAX. */
static size_t least_loaded(const run_t *run, size_t p) {
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < run->member_count; k++) {
        size_t member = run->order[k];
        if (is_eligible(run, member, run->topic_of[p]) &&
            (best == SIZE_MAX || run->load[member] < run->load[best]))
            best = member;
    }
    return best;
}

static void sticky(run_t *run) {
    /* 1. Keep what is owned and still valid; a partition claimed by two
     *    members (a stale view) goes to the first in id order. */
    for (size_t k = 0; k < run->member_count; k++) {
        size_t member = run->order[k];
        const lgi_assignor_member_t *m = &run->members[member];
        for (size_t i = 0; i < m->owned_count; i++) {
            size_t p = partition_index(run, &m->owned[i]);
            if (p != SIZE_MAX && run->owner[p] < 0 &&
                is_eligible(run, member, run->topic_of[p]))
                give(run, p, member);
        }
    }
    /* 2. Unowned partitions to the least loaded eligible member. */
    for (size_t p = 0; p < run->partition_count; p++) {
        if (run->owner[p] >= 0)
            continue;
        size_t member = least_loaded(run, p);
        if (member != SIZE_MAX)
            give(run, p, member);
    }
    /* 3. Balance: move one partition at a time from a member holding two
     *    more than an eligible other, taking the highest partitions first
     *    so a member's lower ones stay put.  Each move lowers the sum of
     *    squared loads, so this ends. */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t p = run->partition_count; p-- > 0;) {
            long from = run->owner[p];
            if (from < 0)
                continue;
            size_t to = least_loaded(run, p);
            if (to != SIZE_MAX && run->load[to] + 1 < run->load[from]) {
                give(run, p, to);
                changed = 1;
            }
        }
    }
}

lg_err_t lgi_assign(int strategy, const lgi_assignor_topic_t *topics,
                    size_t topic_count, lgi_assignor_member_t *members,
                    size_t member_count) {
    for (size_t m = 0; m < member_count; m++) {
        members[m].assigned = NULL;
        members[m].assigned_count = 0;
    }
    if (member_count == 0)
        return LG_OK;
    run_t run = {.topics = topics,
                 .topic_count = topic_count,
                 .members = members,
                 .member_count = member_count};
    for (size_t t = 0; t < topic_count; t++)
        run.partition_count += (size_t)topics[t].partitions;
    size_t slots = run.partition_count ? run.partition_count : 1;
    run.order = lgi_calloc(member_count, sizeof *run.order);
    run.topic_of = lgi_calloc(slots, sizeof *run.topic_of);
    run.number_of = lgi_calloc(slots, sizeof *run.number_of);
    run.owner = lgi_calloc(slots, sizeof *run.owner);
    run.load = lgi_calloc(member_count, sizeof *run.load);
    run.eligible =
        lgi_calloc(member_count * (topic_count ? topic_count : 1), 1);
    if (!run.order || !run.topic_of || !run.number_of || !run.owner ||
        !run.load || !run.eligible) {
        run_free(&run);
        return lgi_error(LG_ERR_NOMEM, "assignor: out of memory");
    }
    size_t p = 0;
    for (size_t t = 0; t < topic_count; t++)
        for (int32_t i = 0; i < topics[t].partitions; i++, p++) {
            run.topic_of[p] = t;
            run.number_of[p] = i;
            run.owner[p] = -1;
        }
    for (size_t m = 0; m < member_count; m++) {
        run.order[m] = m;
        for (size_t t = 0; t < topic_count; t++)
            run.eligible[m * topic_count + t] =
                (unsigned char)subscribes(&members[m], topics[t].name);
    }
    qsort_r(run.order, member_count, sizeof *run.order, compare_member_index,
            members);

    if (strategy == LGI_ASSIGNOR_ROUNDROBIN)
        roundrobin(&run);
    else if (strategy == LGI_ASSIGNOR_COOPERATIVE_STICKY)
        sticky(&run);
    else
        range(&run);

    lg_err_t err = LG_OK;
    for (size_t m = 0; m < member_count && err == LG_OK; m++) {
        members[m].assigned =
            lgi_calloc(run.load[m] ? run.load[m] : 1, sizeof(lgi_tp_t));
        if (!members[m].assigned)
            err = lgi_error(LG_ERR_NOMEM, "assignor: out of memory");
    }
    for (size_t i = 0; i < run.partition_count && err == LG_OK; i++) {
        if (run.owner[i] < 0)
            continue;
        lgi_assignor_member_t *m = &members[run.owner[i]];
        m->assigned[m->assigned_count].topic = topics[run.topic_of[i]].name;
        m->assigned[m->assigned_count++].partition = run.number_of[i];
    }
    if (err != LG_OK)
        for (size_t m = 0; m < member_count; m++) {
            lgi_free(members[m].assigned);
            members[m].assigned = NULL;
            members[m].assigned_count = 0;
        }
    run_free(&run);
    return err;
}
