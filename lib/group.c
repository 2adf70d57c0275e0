/*
 * group.c -- the in-engine group coordinator: consumer groups keyed by
 * group.id, their members and generations, rebalances run by the
 * coordinator itself (there is no elected leader: every member lives in
 * this process), committed offsets kept in the internal topic
 * __consumer_offsets, and the admin calls lg_group_*.
 *
 * Group state machine (Kafka's, with CompletingRebalance folded away:
 * the coordinator assigns the moment the last member rejoins):
 *
 *        join/leave/evict/topics change            all members rejoined
 *   Empty ----------------------> PreparingRebalance ------------------> Stable
 *     ^                              ^      |  (assignor runs, generation+1)  |
 *     |  last member gone            |      +--------------------------------+
 *     +------------------------------+------ join/leave/evict/topics change --+
 *
 * Members.  A member is "rejoined" once it has acknowledged the current
 * round: under the EAGER protocol (range, roundrobin) by revoking every
 * partition it owns first, under COOPERATIVE (cooperative-sticky) by
 * reporting what it owns, keeping it.  All of this happens in the
 * member's own poll (lgi_group_step), so a member cannot take part in a
 * round without its application seeing the revocation first.  When every
 * member has rejoined, the assignor runs over the group's topic snapshot,
 * the generation increases, and each member syncs at its next poll: it
 * revokes what it owns outside its new assignment, then is assigned what
 * it lacks.  Cooperative assignments withhold a partition that another
 * member still owns; that member's revocation triggers the next round,
 * which hands the partition over (KIP-429's two rounds).
 *
 * Invariants:
 *   - A partition is in at most one member's owned set: eager members own
 *     nothing when the assignor runs, cooperative assignments never give
 *     what another member owns, and owned sets change only through acks of
 *     the steps that produced them (lgi_group_step_done).
 *   - Liveness is measured from the member's own calls (every consumer
 *     call is a heartbeat, every poll also a poll): a member silent for
 *     session.timeout.ms, or not polling for max.poll.interval.ms, is
 *     evicted by whichever member of its group steps next, and its
 *     partitions are reassigned.  The evicted consumer learns it at its
 *     next poll (a revoke of everything, as lost) and joins again as a new
 *     member.  Evictions are therefore checked at least every
 *     LGI_CONSUMER_WAIT_SLICE_MS while any member of the group polls.
 *   - A static member (group.instance.id) that departs keeps its slot and
 *     assignment for session.timeout.ms; a consumer joining with the same
 *     id takes them over without a rebalance.
 *   - Commits carry the member's synced generation: one from a member the
 *     group has moved past is LG_ERR_ILLEGAL_GENERATION, from an evicted
 *     member LG_ERR_UNKNOWN_MEMBER.
 *
 * Offsets.  A commit appends one record batch to partition
 * hash(group.id) % N of __consumer_offsets (created on first use with
 * offsets.topic.num.partitions partitions), with Kafka's schemas:
 *   key   (version 1): int16 version, string group, string topic,
 *                      int32 partition
 *   value (version 3): int16 version, int64 offset, int32 leader epoch
 *                      (-1), string metadata (""), int64 commit timestamp
 * (strings are int16 length + bytes, integers big-endian); a null value
 * is a tombstone (lg_group_delete).  lgi_coordinator_open replays the
 * whole topic, the last record per key winning, so the in-memory table
 * equals what compaction would keep.  The topic is created with
 * cleanup.policy=compact, as Kafka's: the cleaner keeps the last record
 * per key (and drops tombstones after delete.retention.ms), which replays
 * to the same table, and retention never deletes commits.
 *
 * Locks: coordinator->lock guards every group and member field and is
 * held only for in-memory work (plus topic lookups, which take the
 * engine's topics lock after it, never before).  commit_lock serialises
 * commits so a group's in-memory table follows its log order; it is taken
 * before coordinator->lock and held across the append.
 */
#include "group.h"

#include "alloc.h"
#include "assignor.h"
#include "conf.h"
#include "engine.h"
#include "err.h"
#include "fetch.h"
#include "strings.h"

#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ------------------------------------------------------------------------
 * Topic-partition lists
 * --------------------------------------------------------------------- */

static lg_err_t list_push(lg_topic_partition_list_t *list, const char *topic,
                          int32_t partition, int64_t offset) {
    if (list->count == list->capacity) {
        size_t capacity = list->capacity * 2 + 8;
        lgi_tp_entry_t *grown =
            lgi_realloc(list->items, capacity * sizeof *grown);
        if (!grown)
            return lgi_error(LG_ERR_NOMEM, "out of memory");
        list->items = grown;
        list->capacity = capacity;
    }
    char *copy = lgi_strdup(topic);
    if (!copy)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    list->items[list->count].topic = copy;
    list->items[list->count].partition = partition;
    list->items[list->count++].offset = offset;
    return LG_OK;
}

static void list_clear(lg_topic_partition_list_t *list) {
    for (size_t i = 0; i < list->count; i++)
        lgi_free(list->items[i].topic);
    list->count = 0;
}

static void list_release(lg_topic_partition_list_t *list) {
    list_clear(list);
    lgi_free(list->items);
    list->items = NULL;
    list->capacity = 0;
}

static void list_remove_at(lg_topic_partition_list_t *list, size_t index) {
    lgi_free(list->items[index].topic);
    list->items[index] = list->items[--list->count];
}

size_t lgi_tp_list_find(const lg_topic_partition_list_t *list,
                        const char *topic, int32_t partition) {
    for (size_t i = 0; list && i < list->count; i++)
        if (list->items[i].partition == partition &&
            strcmp(list->items[i].topic, topic) == 0)
            return i;
    return SIZE_MAX;
}

LG_API lg_topic_partition_list_t *lg_topic_partition_list_new(void) {
    lgi_error_clear();
    lg_topic_partition_list_t *list = lgi_calloc(1, sizeof *list);
    if (!list)
        lgi_error(LG_ERR_NOMEM, "lg_topic_partition_list_new: out of memory");
    return list;
}

LG_API void lg_topic_partition_list_destroy(lg_topic_partition_list_t *list) {
    if (!list)
        return;
    list_release(list);
    lgi_free(list);
}

LG_API lg_err_t lg_topic_partition_list_add(lg_topic_partition_list_t *list,
                                            const char *topic,
                                            int32_t partition,
                                            int64_t offset) {
    lgi_error_clear();
    if (!list || !topic || partition < 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_topic_partition_list_add: list and topic must "
                         "not be NULL and partition must be >= 0");
    return list_push(list, topic, partition, offset);
}

LG_API size_t
lg_topic_partition_list_count(const lg_topic_partition_list_t *list) {
    return list ? list->count : 0;
}

LG_API const char *
lg_topic_partition_list_topic(const lg_topic_partition_list_t *list,
                              size_t index) {
    return list && index < list->count ? list->items[index].topic : NULL;
}

LG_API int32_t
lg_topic_partition_list_partition(const lg_topic_partition_list_t *list,
                                  size_t index) {
    return list && index < list->count ? list->items[index].partition : -1;
}

LG_API int64_t
lg_topic_partition_list_offset(const lg_topic_partition_list_t *list,
                               size_t index) {
    return list && index < list->count ? list->items[index].offset
                                       : LG_OFFSET_INVALID;
}

LG_API lg_err_t
lg_topic_partition_list_set_offset(lg_topic_partition_list_t *list,
                                   size_t index, int64_t offset) {
    lgi_error_clear();
    if (!list || index >= list->count)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_topic_partition_list_set_offset: index %zu out "
                         "of range",
                         index);
    list->items[index].offset = offset;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Structures
 * --------------------------------------------------------------------- */

enum group_state { STATE_EMPTY, STATE_PREPARING, STATE_STABLE };
static const char *const state_names[] = {"Empty", "PreparingRebalance",
                                          "Stable"};

/* What the member's pending step does when acknowledged. */
enum stage {
    STAGE_NONE,
    STAGE_EAGER_REVOKE, /* revoke all, then count as rejoined */
    STAGE_LOST,         /* evicted: drop all, then join as a new member */
    STAGE_SYNC_REVOKE,  /* give up what the new assignment lacks */
    STAGE_SYNC_ASSIGN,  /* take what the new assignment adds */
};

typedef struct offset_entry {
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t commit_ms;
} offset_entry_t;

typedef struct lgi_group lgi_group_t;

struct lgi_member {
    lgi_coordinator_t *coordinator;
    lgi_group_t *group;
    lgi_member_t *next; /* in group->members */
    char member_id[96];
    char *instance_id; /* "" for dynamic members */
    int strategy;
    int64_t session_timeout_ms;
    int64_t max_poll_interval_ms;
    void (*wake)(void *opaque);
    void *opaque;
    /* Subscription: names, and compiled regexes for '^' entries. */
    char **names;
    regex_t *regexes;
    size_t name_count;

    int64_t last_call_ms; /* monotonic: any consumer call */
    int64_t last_poll_ms; /* monotonic: the last poll */
    int in_group;         /* 0 once evicted (the consumer still holds it) */
    int departed;         /* static member whose consumer was destroyed */
    int rejoined;         /* acknowledged the current round */
    int32_t synced_generation;
    lg_topic_partition_list_t owned;      /* as acknowledged */
    lg_topic_partition_list_t assignment; /* for group->generation */

    enum stage stage;
    int32_t stage_generation;
    lg_topic_partition_list_t stage_list;
    int revoked_in_sync; /* a cooperative sync revoked: rebalance after */
};

struct lgi_group {
    lgi_group_t *next;
    char *id;
    enum group_state state;
    int32_t generation;
    int strategy; /* of the members; -1 while empty */
    lgi_member_t *members;
    size_t member_count;
    offset_entry_t *offsets;
    size_t offset_count;
    size_t offset_capacity;
    /* The subscribed topics and their partition counts, as of the last
     * rebalance; compared with the engine's when topics_version moves. */
    unsigned topics_version;
    lgi_assignor_topic_t *snapshot;
    size_t snapshot_count;
};

struct lgi_coordinator {
    lg_engine_t *engine;
    pthread_mutex_t lock;
    pthread_mutex_t commit_lock;
    lgi_group_t *groups;
    uint64_t next_member_number;
};

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Groups and their offsets (coordinator lock held)
 * --------------------------------------------------------------------- */

static lgi_group_t *find_group(lgi_coordinator_t *coordinator,
                               const char *id) {
    for (lgi_group_t *group = coordinator->groups; group; group = group->next)
        if (strcmp(group->id, id) == 0)
            return group;
    return NULL;
}

static lgi_group_t *get_group(lgi_coordinator_t *coordinator,
                              const char *id) {
    lgi_group_t *group = find_group(coordinator, id);
    if (group)
        return group;
    group = lgi_calloc(1, sizeof *group);
    if (!group || !(group->id = lgi_strdup(id))) {
        lgi_free(group);
        lgi_error(LG_ERR_NOMEM, "out of memory creating group \"%s\"", id);
        return NULL;
    }
    group->strategy = -1;
    group->topics_version = (unsigned)-1;
    group->next = coordinator->groups;
    coordinator->groups = group;
    return group;
}

static void snapshot_free(lgi_group_t *group) {
    for (size_t i = 0; i < group->snapshot_count; i++)
        lgi_free((char *)group->snapshot[i].name);
    lgi_free(group->snapshot);
    group->snapshot = NULL;
    group->snapshot_count = 0;
}

static void offsets_free(lgi_group_t *group) {
    for (size_t i = 0; i < group->offset_count; i++)
        lgi_free(group->offsets[i].topic);
    lgi_free(group->offsets);
    group->offsets = NULL;
    group->offset_count = group->offset_capacity = 0;
}

static void group_free(lgi_group_t *group) {
    offsets_free(group);
    snapshot_free(group);
    lgi_free(group->id);
    lgi_free(group);
}

static offset_entry_t *find_offset(lgi_group_t *group, const char *topic,
                                   int32_t partition) {
    for (size_t i = 0; i < group->offset_count; i++)
        if (group->offsets[i].partition == partition &&
            strcmp(group->offsets[i].topic, topic) == 0)
            return &group->offsets[i];
    return NULL;
}

/* Records offset (or, with offset < 0, forgets the entry). */
static lg_err_t set_offset(lgi_group_t *group, const char *topic,
                           int32_t partition, int64_t offset,
                           int64_t commit_ms) {
    offset_entry_t *entry = find_offset(group, topic, partition);
    if (offset < 0) {
        if (entry) {
            lgi_free(entry->topic);
            *entry = group->offsets[--group->offset_count];
        }
        return LG_OK;
    }
    if (!entry) {
        if (group->offset_count == group->offset_capacity) {
            size_t capacity = group->offset_capacity * 2 + 8;
            offset_entry_t *grown =
                lgi_realloc(group->offsets, capacity * sizeof *grown);
            if (!grown)
                return lgi_error(LG_ERR_NOMEM, "out of memory");
            group->offsets = grown;
            group->offset_capacity = capacity;
        }
        char *copy = lgi_strdup(topic);
        if (!copy)
            return lgi_error(LG_ERR_NOMEM, "out of memory");
        entry = &group->offsets[group->offset_count++];
        entry->topic = copy;
        entry->partition = partition;
    }
    entry->offset = offset;
    entry->commit_ms = commit_ms;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Subscriptions and the topic snapshot
 * --------------------------------------------------------------------- */

static void subscription_free(lgi_member_t *member) {
    for (size_t i = 0; i < member->name_count; i++) {
        if (member->names[i][0] == '^')
            regfree(&member->regexes[i]);
        lgi_free(member->names[i]);
    }
    lgi_free(member->names);
    lgi_free(member->regexes);
    member->names = NULL;
    member->regexes = NULL;
    member->name_count = 0;
}

/* Fills member's subscription from topics (validated or not). */
static lg_err_t subscription_set(lgi_member_t *member,
                                 const char *const *topics, size_t count) {
    char **names = lgi_calloc(count ? count : 1, sizeof *names);
    regex_t *regexes = lgi_calloc(count ? count : 1, sizeof *regexes);
    if (!names || !regexes) {
        lgi_free(names);
        lgi_free(regexes);
        return lgi_error(LG_ERR_NOMEM, "out of memory subscribing");
    }
    lg_err_t err = LG_OK;
    size_t i = 0;
    for (; i < count && err == LG_OK; i++) {
        if (!topics[i]) {
            err = lgi_error(LG_ERR_INVALID_ARG,
                            "subscribe: topic %zu is NULL", i);
            break;
        }
        if (topics[i][0] == '^') {
            int rc = regcomp(&regexes[i], topics[i], REG_EXTENDED | REG_NOSUB);
            if (rc != 0) {
                char why[128];
                regerror(rc, &regexes[i], why, sizeof why);
                err = lgi_error(LG_ERR_INVALID_ARG,
                                "subscribe: bad regex \"%s\": %s", topics[i],
                                why);
                break;
            }
        } else if ((err = lgi_topic_name_validate(topics[i]))) {
            break;
        }
        if (!(names[i] = lgi_strdup(topics[i]))) {
            if (topics[i][0] == '^')
                regfree(&regexes[i]);
            err = lgi_error(LG_ERR_NOMEM, "out of memory subscribing");
            break;
        }
    }
    if (err != LG_OK) {
        for (size_t j = 0; j < i; j++) {
            if (names[j][0] == '^')
                regfree(&regexes[j]);
            lgi_free(names[j]);
        }
        lgi_free(names);
        lgi_free(regexes);
        return err;
    }
    subscription_free(member);
    member->names = names;
    member->regexes = regexes;
    member->name_count = count;
    return LG_OK;
}

lg_err_t lgi_group_validate_subscription(const char *const *topics,
                                         size_t count) {
    lgi_member_t scratch = {0};
    lg_err_t err = subscription_set(&scratch, topics, count);
    subscription_free(&scratch);
    return err;
}

/* Whether member subscribes to topic (internal topics match no regex,
 * as Kafka's exclude.internal.topics). */
static int member_matches(const lgi_member_t *member, const char *topic) {
    for (size_t i = 0; i < member->name_count; i++) {
        if (member->names[i][0] == '^') {
            if (strncmp(topic, "__", 2) != 0 &&
                regexec(&member->regexes[i], topic, 0, NULL, 0) == 0)
                return 1;
        } else if (strcmp(member->names[i], topic) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Builds the snapshot of topics some member subscribes to (sorted, since
 * lg_topic_list sorts).  Sets *changedp when it differs from the old. */
static lg_err_t refresh_snapshot(lgi_coordinator_t *coordinator,
                                 lgi_group_t *group, int *changedp) {
    *changedp = 0;
    unsigned version = atomic_load(&coordinator->engine->topics_version);
    lg_strings_t *names;
    lg_err_t err = lg_topic_list(coordinator->engine, &names);
    if (err != LG_OK)
        return err;
    lgi_assignor_topic_t *snapshot =
        lgi_calloc(names->count ? names->count : 1, sizeof *snapshot);
    size_t count = 0;
    for (size_t i = 0; snapshot && i < names->count; i++) {
        int wanted = 0;
        for (lgi_member_t *m = group->members; m && !wanted; m = m->next)
            wanted = member_matches(m, names->items[i]);
        int32_t partitions;
        if (!wanted || lg_topic_partition_count(coordinator->engine,
                                                names->items[i],
                                                &partitions) != LG_OK)
            continue; /* deleted meanwhile: the next version covers it */
        char *copy = lgi_strdup(names->items[i]);
        if (!copy) {
            for (size_t j = 0; j < count; j++)
                lgi_free((char *)snapshot[j].name);
            lgi_free(snapshot);
            snapshot = NULL;
            break;
        }
        snapshot[count].name = copy;
        snapshot[count++].partitions = partitions;
    }
    lg_strings_destroy(names);
    if (!snapshot)
        return lgi_error(LG_ERR_NOMEM, "out of memory reading topics");
    int same = count == group->snapshot_count;
    for (size_t i = 0; same && i < count; i++)
        same = strcmp(snapshot[i].name, group->snapshot[i].name) == 0 &&
               snapshot[i].partitions == group->snapshot[i].partitions;
    snapshot_free(group);
    group->snapshot = snapshot;
    group->snapshot_count = count;
    group->topics_version = version;
    *changedp = !same;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Rebalancing (coordinator lock held)
 * --------------------------------------------------------------------- */

static void wake_all(lgi_group_t *group) {
    for (lgi_member_t *m = group->members; m; m = m->next)
        if (m->wake)
            m->wake(m->opaque);
}

static int is_cooperative(int strategy) {
    return strategy == LGI_ASSIGNOR_COOPERATIVE_STICKY;
}

/* Owner in group (other than except) of (topic, partition), or NULL. */
static lgi_member_t *owner_of(lgi_group_t *group, const lgi_member_t *except,
                              const char *topic, int32_t partition) {
    for (lgi_member_t *m = group->members; m; m = m->next)
        if (m != except &&
            lgi_tp_list_find(&m->owned, topic, partition) != SIZE_MAX)
            return m;
    return NULL;
}

static void start_rebalance(lgi_coordinator_t *coordinator,
                            lgi_group_t *group);

/* Runs the assignor once every member has rejoined: the new generation
 * begins and every member syncs at its next poll. */
static void maybe_complete(lgi_coordinator_t *coordinator,
                           lgi_group_t *group) {
    if (group->state != STATE_PREPARING)
        return;
    for (lgi_member_t *m = group->members; m; m = m->next)
        if (!m->rejoined)
            return;
    size_t n = group->member_count;
    lgi_assignor_member_t *inputs = lgi_calloc(n ? n : 1, sizeof *inputs);
    const char **topic_names =
        lgi_calloc(n * (group->snapshot_count + 1) + 1, sizeof *topic_names);
    lgi_tp_t *owned_all = NULL;
    size_t owned_total = 0;
    for (lgi_member_t *m = group->members; m; m = m->next)
        owned_total += m->owned.count;
    owned_all = lgi_calloc(owned_total + 1, sizeof *owned_all);
    if (!inputs || !topic_names || !owned_all) {
        /* Retried at the next step of any member. */
        lgi_free(inputs);
        lgi_free(topic_names);
        lgi_free(owned_all);
        return;
    }
    size_t k = 0, next_name = 0, next_owned = 0;
    for (lgi_member_t *m = group->members; m; m = m->next, k++) {
        inputs[k].id = m->instance_id[0] ? m->instance_id : m->member_id;
        inputs[k].topics = topic_names + next_name;
        for (size_t t = 0; t < group->snapshot_count; t++)
            if (member_matches(m, group->snapshot[t].name))
                topic_names[next_name + inputs[k].topic_count++] =
                    group->snapshot[t].name;
        next_name += inputs[k].topic_count;
        inputs[k].owned = owned_all + next_owned;
        for (size_t i = 0; i < m->owned.count; i++) {
            owned_all[next_owned].topic = m->owned.items[i].topic;
            owned_all[next_owned++].partition = m->owned.items[i].partition;
        }
        inputs[k].owned_count = m->owned.count;
    }
    lg_err_t err = lgi_assign(group->strategy, group->snapshot,
                              group->snapshot_count, inputs, n);
    if (err == LG_OK) {
        int follow_up = 0;
        k = 0;
        for (lgi_member_t *m = group->members; m; m = m->next, k++) {
            list_clear(&m->assignment);
            for (size_t i = 0; i < inputs[k].assigned_count; i++) {
                const lgi_tp_t *tp = &inputs[k].assigned[i];
                /* Cooperative: not while another member still owns it;
                 * that member's revocation starts the round that hands it
                 * over. */
                if (owner_of(group, m, tp->topic, tp->partition))
                    continue;
                if (list_push(&m->assignment, tp->topic, tp->partition,
                              LG_OFFSET_STORED) != LG_OK)
                    err = LG_ERR_NOMEM;
            }
        }
        if (err == LG_OK) {
            group->generation++;
            group->state = STATE_STABLE;
            /* A departed static member cannot acknowledge: its sync is
             * applied here. */
            for (lgi_member_t *m = group->members; m; m = m->next) {
                if (!m->departed)
                    continue;
                for (size_t i = m->owned.count; i-- > 0;)
                    if (lgi_tp_list_find(&m->assignment,
                                         m->owned.items[i].topic,
                                         m->owned.items[i].partition) ==
                        SIZE_MAX) {
                        list_remove_at(&m->owned, i);
                        follow_up = 1;
                    }
                for (size_t i = 0; i < m->assignment.count; i++)
                    if (lgi_tp_list_find(&m->owned,
                                         m->assignment.items[i].topic,
                                         m->assignment.items[i].partition) ==
                        SIZE_MAX)
                        list_push(&m->owned, m->assignment.items[i].topic,
                                  m->assignment.items[i].partition,
                                  LG_OFFSET_STORED);
                m->synced_generation = group->generation;
            }
            wake_all(group);
            if (follow_up && is_cooperative(group->strategy))
                start_rebalance(coordinator, group);
        }
    }
    for (k = 0; k < n; k++)
        lgi_free(inputs[k].assigned);
    lgi_free(inputs);
    lgi_free(topic_names);
    lgi_free(owned_all);
}

/* Starts a round: every member must rejoin (departed static members count
 * as rejoined: they hold their slot without acting). */
static void start_rebalance(lgi_coordinator_t *coordinator,
                            lgi_group_t *group) {
    int changed;
    refresh_snapshot(coordinator, group, &changed);
    if (group->member_count == 0) {
        group->state = STATE_EMPTY;
        group->strategy = -1;
        return;
    }
    group->state = STATE_PREPARING;
    for (lgi_member_t *m = group->members; m; m = m->next)
        m->rejoined = m->departed;
    wake_all(group);
    maybe_complete(coordinator, group);
}

static void unlink_member(lgi_group_t *group, lgi_member_t *member) {
    for (lgi_member_t **link = &group->members; *link; link = &(*link)->next)
        if (*link == member) {
            *link = member->next;
            group->member_count--;
            break;
        }
    member->next = NULL;
    member->in_group = 0;
}

static void member_free(lgi_member_t *member) {
    subscription_free(member);
    list_release(&member->owned);
    list_release(&member->assignment);
    list_release(&member->stage_list);
    lgi_free(member->instance_id);
    lgi_free(member);
}

/* Evicts members whose liveness lapsed; starts a round if any went. */
static void expire_members(lgi_coordinator_t *coordinator, lgi_group_t *group,
                           int64_t now) {
    int evicted = 0;
    for (lgi_member_t *m = group->members, *next; m; m = next) {
        next = m->next;
        int lapsed = now - m->last_call_ms > m->session_timeout_ms ||
                     (!m->departed &&
                      now - m->last_poll_ms > m->max_poll_interval_ms);
        if (!lapsed)
            continue;
        unlink_member(group, m);
        evicted = 1;
        if (m->departed) {
            member_free(m);
        } else if (m->wake) {
            m->wake(m->opaque); /* it learns at its next poll */
        }
    }
    if (evicted)
        start_rebalance(coordinator, group);
}

/* Notices topic changes that affect the group's subscriptions. */
static void check_topics(lgi_coordinator_t *coordinator, lgi_group_t *group) {
    if (atomic_load(&coordinator->engine->topics_version) ==
        group->topics_version)
        return;
    int changed;
    if (refresh_snapshot(coordinator, group, &changed) == LG_OK && changed &&
        group->member_count > 0)
        start_rebalance(coordinator, group);
}

static void new_member_id(lgi_coordinator_t *coordinator,
                          lgi_member_t *member) {
    uint8_t uuid[16];
    if (getrandom(uuid, sizeof uuid, 0) != (ssize_t)sizeof uuid) {
        uint64_t fallback = (uint64_t)monotonic_ms() * 2654435761u;
        memcpy(uuid, &fallback, sizeof fallback);
        memcpy(uuid + 8, &member, sizeof member < 8 ? sizeof member : 8);
    }
    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
    snprintf(member->member_id, sizeof member->member_id,
             "consumer-%" PRIu64 "-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             ++coordinator->next_member_number, uuid[0], uuid[1], uuid[2],
             uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9],
             uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}

/* Puts member into group as a new, rejoined member and starts a round. */
static void add_member(lgi_coordinator_t *coordinator, lgi_group_t *group,
                       lgi_member_t *member) {
    new_member_id(coordinator, member);
    member->group = group;
    member->in_group = 1;
    member->synced_generation = -1;
    member->next = group->members;
    group->members = member;
    group->member_count++;
    if (group->strategy < 0)
        group->strategy = member->strategy;
    start_rebalance(coordinator, group);
    member->rejoined = 1;
    maybe_complete(coordinator, group);
}

/* ------------------------------------------------------------------------
 * Membership
 * --------------------------------------------------------------------- */

lg_err_t lgi_group_join(lg_engine_t *engine, const lgi_member_config_t *config,
                        const char *const *topics, size_t count,
                        lgi_member_t **memberp) {
    lgi_coordinator_t *coordinator = engine->coordinator;
    lgi_member_t *member = lgi_calloc(1, sizeof *member);
    if (!member || !(member->instance_id = lgi_strdup(config->instance_id))) {
        lgi_free(member);
        return lgi_error(LG_ERR_NOMEM, "out of memory joining a group");
    }
    lg_err_t err = subscription_set(member, topics, count);
    if (err != LG_OK) {
        member_free(member);
        return err;
    }
    member->coordinator = coordinator;
    member->strategy = config->strategy;
    member->session_timeout_ms = config->session_timeout_ms;
    member->max_poll_interval_ms = config->max_poll_interval_ms;
    member->wake = config->wake;
    member->opaque = config->opaque;
    member->last_call_ms = member->last_poll_ms = monotonic_ms();

    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = get_group(coordinator, config->group_id);
    if (!group) {
        pthread_mutex_unlock(&coordinator->lock);
        member_free(member);
        return LG_ERR_NOMEM;
    }
    expire_members(coordinator, group, member->last_call_ms);
    if (group->strategy >= 0 && group->strategy != member->strategy) {
        pthread_mutex_unlock(&coordinator->lock);
        member_free(member);
        return lgi_error(LG_ERR_INCONSISTENT_GROUP_PROTOCOL,
                         "group \"%s\" uses partition.assignment.strategy %s, "
                         "this consumer %s",
                         config->group_id,
                         lgi_assignor_name(group->strategy),
                         lgi_assignor_name(config->strategy));
    }
    if (member->instance_id[0]) {
        for (lgi_member_t *m = group->members; m; m = m->next) {
            if (strcmp(m->instance_id, member->instance_id) != 0)
                continue;
            if (!m->departed) {
                pthread_mutex_unlock(&coordinator->lock);
                member_free(member);
                return lgi_error(LG_ERR_STATE,
                                 "group.instance.id \"%s\" is in use by "
                                 "another consumer of group \"%s\"",
                                 config->instance_id, config->group_id);
            }
            /* Take over the departed slot: same assignment, no rebalance
             * (Kafka gives the returning static member a new member id). */
            subscription_free(m);
            m->names = member->names;
            m->regexes = member->regexes;
            m->name_count = member->name_count;
            member->names = NULL;
            member->regexes = NULL;
            member->name_count = 0;
            member_free(member);
            new_member_id(coordinator, m);
            m->departed = 0;
            m->wake = config->wake;
            m->opaque = config->opaque;
            m->session_timeout_ms = config->session_timeout_ms;
            m->max_poll_interval_ms = config->max_poll_interval_ms;
            m->last_call_ms = m->last_poll_ms = monotonic_ms();
            list_clear(&m->owned); /* the old consumer dropped them */
            m->synced_generation = -1;
            m->stage = STAGE_NONE;
            m->revoked_in_sync = 0;
            int changed;
            refresh_snapshot(coordinator, group, &changed);
            if (changed)
                start_rebalance(coordinator, group);
            pthread_mutex_unlock(&coordinator->lock);
            *memberp = m;
            return LG_OK;
        }
    }
    add_member(coordinator, group, member);
    pthread_mutex_unlock(&coordinator->lock);
    *memberp = member;
    return LG_OK;
}

lg_err_t lgi_group_resubscribe(lgi_member_t *member,
                               const char *const *topics, size_t count) {
    lgi_coordinator_t *coordinator = member->coordinator;
    pthread_mutex_lock(&coordinator->lock);
    lg_err_t err = subscription_set(member, topics, count);
    if (err == LG_OK && member->in_group)
        start_rebalance(coordinator, member->group);
    pthread_mutex_unlock(&coordinator->lock);
    return err;
}

void lgi_group_leave(lgi_member_t *member, int permanent) {
    if (!member)
        return;
    lgi_coordinator_t *coordinator = member->coordinator;
    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = member->group;
    if (member->in_group && member->instance_id[0] && !permanent) {
        /* Kafka's static members send no LeaveGroup: the slot waits for
         * session.timeout.ms from the last call. */
        member->departed = 1;
        member->rejoined = 1;
        member->wake = NULL;
        member->opaque = NULL;
        member->stage = STAGE_NONE;
        maybe_complete(coordinator, group);
        pthread_mutex_unlock(&coordinator->lock);
        return;
    }
    if (member->in_group) {
        unlink_member(group, member);
        start_rebalance(coordinator, group);
    }
    pthread_mutex_unlock(&coordinator->lock);
    member_free(member);
}

/* ------------------------------------------------------------------------
 * The per-poll protocol step
 * --------------------------------------------------------------------- */

static void touch(lgi_member_t *member, int is_poll, int64_t now) {
    member->last_call_ms = now;
    if (is_poll)
        member->last_poll_ms = now;
}

void lgi_group_heartbeat(lgi_member_t *member) {
    if (!member)
        return;
    pthread_mutex_lock(&member->coordinator->lock);
    touch(member, 0, monotonic_ms());
    pthread_mutex_unlock(&member->coordinator->lock);
}

/* Copies source into a new list for the caller and keeps a copy as the
 * pending stage.  Returns step, or LGI_STEP_NONE when out of memory (the
 * step is retried at the next poll). */
static int hand_out(lgi_member_t *member, enum stage stage, int step,
                    const lg_topic_partition_list_t *source,
                    lg_topic_partition_list_t **listp) {
    lg_topic_partition_list_t *list = lgi_calloc(1, sizeof *list);
    if (!list)
        return LGI_STEP_NONE;
    list_clear(&member->stage_list);
    for (size_t i = 0; i < source->count; i++)
        if (list_push(list, source->items[i].topic, source->items[i].partition,
                      LG_OFFSET_STORED) != LG_OK ||
            list_push(&member->stage_list, source->items[i].topic,
                      source->items[i].partition, LG_OFFSET_STORED) != LG_OK) {
            lg_topic_partition_list_destroy(list);
            list_clear(&member->stage_list);
            return LGI_STEP_NONE;
        }
    member->stage = stage;
    member->stage_generation = member->group ? member->group->generation : -1;
    *listp = list;
    return step;
}

int lgi_group_step(lgi_member_t *member, int is_poll,
                   lg_topic_partition_list_t **listp, int *lostp) {
    lgi_coordinator_t *coordinator = member->coordinator;
    *listp = NULL;
    *lostp = 0;
    int step = LGI_STEP_NONE;
    int64_t now = monotonic_ms();
    pthread_mutex_lock(&coordinator->lock);
    touch(member, is_poll, now);
    lgi_group_t *group = member->group;
    if (member->stage != STAGE_NONE) /* not acknowledged: nothing new */
        goto out;
    if (member->in_group) {
        expire_members(coordinator, group, now);
        check_topics(coordinator, group);
        if (group->state == STATE_PREPARING)
            maybe_complete(coordinator, group);
    }
    if (!member->in_group) {
        /* Evicted: whatever it owned is lost; then it joins afresh. */
        if (member->owned.count > 0) {
            *lostp = 1;
            step = hand_out(member, STAGE_LOST, LGI_STEP_REVOKE,
                            &member->owned, listp);
            goto out;
        }
        add_member(coordinator, group, member);
    }
    if (group->state == STATE_PREPARING && !member->rejoined) {
        if (!is_cooperative(group->strategy) && member->owned.count > 0) {
            step = hand_out(member, STAGE_EAGER_REVOKE, LGI_STEP_REVOKE,
                            &member->owned, listp);
            goto out;
        }
        member->rejoined = 1;
        maybe_complete(coordinator, group);
    }
    if (group->state == STATE_STABLE &&
        member->synced_generation != group->generation) {
        lg_topic_partition_list_t difference = {0};
        for (size_t i = 0; i < member->owned.count; i++)
            if (lgi_tp_list_find(&member->assignment,
                                 member->owned.items[i].topic,
                                 member->owned.items[i].partition) ==
                SIZE_MAX)
                list_push(&difference, member->owned.items[i].topic,
                          member->owned.items[i].partition, LG_OFFSET_STORED);
        if (difference.count > 0) {
            step = hand_out(member, STAGE_SYNC_REVOKE, LGI_STEP_REVOKE,
                            &difference, listp);
        } else {
            for (size_t i = 0; i < member->assignment.count; i++)
                if (lgi_tp_list_find(&member->owned,
                                     member->assignment.items[i].topic,
                                     member->assignment.items[i].partition) ==
                    SIZE_MAX)
                    list_push(&difference, member->assignment.items[i].topic,
                              member->assignment.items[i].partition,
                              LG_OFFSET_STORED);
            step = hand_out(member, STAGE_SYNC_ASSIGN, LGI_STEP_ASSIGN,
                            &difference, listp);
        }
        list_release(&difference);
    }
out:
    pthread_mutex_unlock(&coordinator->lock);
    return step;
}

void lgi_group_step_done(lgi_member_t *member) {
    lgi_coordinator_t *coordinator = member->coordinator;
    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = member->group;
    lg_topic_partition_list_t *list = &member->stage_list;
    enum stage stage = member->stage;
    member->stage = STAGE_NONE;
    if (stage == STAGE_EAGER_REVOKE || stage == STAGE_LOST ||
        stage == STAGE_SYNC_REVOKE) {
        for (size_t i = 0; i < list->count; i++) {
            size_t at = lgi_tp_list_find(&member->owned, list->items[i].topic,
                                         list->items[i].partition);
            if (at != SIZE_MAX)
                list_remove_at(&member->owned, at);
        }
    } else if (stage == STAGE_SYNC_ASSIGN) {
        for (size_t i = 0; i < list->count; i++)
            if (lgi_tp_list_find(&member->owned, list->items[i].topic,
                                 list->items[i].partition) == SIZE_MAX)
                list_push(&member->owned, list->items[i].topic,
                          list->items[i].partition, LG_OFFSET_STORED);
        member->synced_generation = member->stage_generation;
    }
    list_clear(list);
    if (member->in_group) {
        if (stage == STAGE_EAGER_REVOKE && group->state == STATE_PREPARING) {
            member->rejoined = 1;
            maybe_complete(coordinator, group);
        } else if (stage == STAGE_SYNC_REVOKE) {
            member->revoked_in_sync = 1;
        } else if (stage == STAGE_SYNC_ASSIGN && member->revoked_in_sync) {
            /* KIP-429: what this member gave up is handed over in the next
             * round. */
            member->revoked_in_sync = 0;
            start_rebalance(coordinator, group);
        }
    }
    pthread_mutex_unlock(&coordinator->lock);
}

const char *lgi_group_protocol(const lgi_member_t *member) {
    return is_cooperative(member->strategy) ? "COOPERATIVE" : "EAGER";
}

/* ------------------------------------------------------------------------
 * __consumer_offsets: encoding, commits, loading
 * --------------------------------------------------------------------- */

static size_t put16(uint8_t *p, int16_t v) {
    p[0] = (uint8_t)((uint16_t)v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}
static size_t put32(uint8_t *p, int32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)((uint32_t)v >> (24 - 8 * i));
    return 4;
}
static size_t put64(uint8_t *p, int64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    return 8;
}
static size_t put_string(uint8_t *p, const char *s) {
    size_t len = strlen(s);
    put16(p, (int16_t)len);
    memcpy(p + 2, s, len);
    return 2 + len;
}

/* Key of (group, topic, partition), version 1; returns its length.  key
 * holds 2 + 2 + 255 + 2 + 249 + 4 bytes (group.id and topic name limits). */
static size_t encode_key(uint8_t *key, const char *group, const char *topic,
                         int32_t partition) {
    size_t n = put16(key, 1);
    n += put_string(key + n, group);
    n += put_string(key + n, topic);
    n += put32(key + n, partition);
    return n;
}

static size_t encode_value(uint8_t *value, int64_t offset, int64_t now_ms) {
    size_t n = put16(value, 3);
    n += put64(value + n, offset);
    n += put32(value + n, -1); /* leader epoch: unknown */
    n += put_string(value + n, "");
    n += put64(value + n, now_ms);
    return n;
}

typedef struct reader {
    const uint8_t *p;
    size_t left;
    int bad;
} reader_t;

static uint64_t get_n(reader_t *r, size_t n) {
    uint64_t v = 0;
    if (r->left < n) {
        r->bad = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        v = v << 8 | r->p[i];
    r->p += n;
    r->left -= n;
    return v;
}

/* A string into buf (NUL-terminated, at most size-1 bytes). */
static void get_string(reader_t *r, char *buf, size_t size) {
    int16_t len = (int16_t)get_n(r, 2);
    if (r->bad || len < 0 || (size_t)len >= size || r->left < (size_t)len) {
        r->bad = 1;
        return;
    }
    memcpy(buf, r->p, (size_t)len);
    buf[len] = '\0';
    r->p += len;
    r->left -= (size_t)len;
}

/* The __consumer_offsets partition of group (Java's String.hashCode over
 * the bytes, as Kafka's abs(hashCode) % partitions). */
static int32_t offsets_partition(const char *group, int32_t partitions) {
    int32_t hash = 0;
    for (const unsigned char *p = (const unsigned char *)group; *p; p++)
        hash = (int32_t)((uint32_t)hash * 31u + *p);
    int64_t positive = hash < 0 ? -(int64_t)hash : hash;
    return (int32_t)(positive % partitions);
}

/* Creates __consumer_offsets if missing; sets *partitionsp. */
static lg_err_t ensure_offsets_topic(lg_engine_t *engine,
                                     int32_t *partitionsp) {
    if (lg_topic_partition_count(engine, LGI_OFFSETS_TOPIC, partitionsp) ==
        LG_OK)
        return LG_OK;
    int32_t partitions = (int32_t)lgi_conf_int(
        &engine->conf, LGI_CONF_OFFSETS_TOPIC_NUM_PARTITIONS);
    lg_conf_t *conf = lg_conf_new();
    if (!conf)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    /* Kafka's offsets.topic.segment.bytes; small preallocation. */
    lg_conf_set(conf, "segment.bytes", "104857600");
    lg_conf_set(conf, "segment.preallocate.bytes", "0");
    lg_conf_set(conf, "cleanup.policy", "compact");
    lg_err_t err = lg_topic_create(engine, LGI_OFFSETS_TOPIC, partitions, conf);
    lg_conf_destroy(conf);
    if (err != LG_OK && err != LG_ERR_TOPIC_EXISTS)
        return err;
    return lg_topic_partition_count(engine, LGI_OFFSETS_TOPIC, partitionsp);
}

/* Appends the records for (topic, partition, offset) entries of group
 * (offset < 0: a tombstone) to __consumer_offsets as one batch, then
 * applies them to the group's table.  commit_lock held, coordinator lock
 * not. */
static lg_err_t write_offsets_unchecked(
    lgi_coordinator_t *coordinator, const char *group_id,
    const lg_topic_partition_list_t *entries, int acks);

/* The caller's right to commit was checked as READ on the group; writing
 * __consumer_offsets is the library's own act. */
static lg_err_t write_offsets(lgi_coordinator_t *coordinator,
                              const char *group_id,
                              const lg_topic_partition_list_t *entries,
                              int acks) {
    lgi_authorize_suspend();
    lg_err_t err = write_offsets_unchecked(coordinator, group_id, entries,
                                           acks);
    lgi_authorize_resume();
    return err;
}

static lg_err_t write_offsets_unchecked(
    lgi_coordinator_t *coordinator, const char *group_id,
    const lg_topic_partition_list_t *entries, int acks) {
    if (entries->count == 0)
        return LG_OK;
    lg_engine_t *engine = coordinator->engine;
    int32_t partitions;
    lg_err_t err = ensure_offsets_topic(engine, &partitions);
    if (err != LG_OK)
        return err;
    lg_records_t *records = lg_records_new();
    if (!records)
        return lgi_error(LG_ERR_NOMEM, "out of memory committing");
    int64_t now = lgi_engine_now_ms(engine);
    for (size_t i = 0; i < entries->count && err == LG_OK; i++) {
        uint8_t key[600], value[64];
        size_t key_len = encode_key(key, group_id, entries->items[i].topic,
                                    entries->items[i].partition);
        if (entries->items[i].offset < 0)
            err = lg_records_add(records, key, key_len, NULL, 0, now);
        else
            err = lg_records_add(
                records, key, key_len, value,
                encode_value(value, entries->items[i].offset, now), now);
    }
    if (err == LG_OK)
        err = lg_append(engine, LGI_OFFSETS_TOPIC,
                        offsets_partition(group_id, partitions), records,
                        acks, NULL);
    lg_records_destroy(records);
    if (err != LG_OK)
        return err;
    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = get_group(coordinator, group_id);
    for (size_t i = 0; group && i < entries->count && err == LG_OK; i++)
        err = set_offset(group, entries->items[i].topic,
                         entries->items[i].partition,
                         entries->items[i].offset, now);
    if (!group)
        err = LG_ERR_NOMEM;
    pthread_mutex_unlock(&coordinator->lock);
    return err;
}

lg_err_t lgi_group_commit(lg_engine_t *engine, const char *group_id,
                          lgi_member_t *member,
                          const lg_topic_partition_list_t *offsets,
                          int acks) {
    lgi_coordinator_t *coordinator = engine->coordinator;
    for (size_t i = 0; i < offsets->count; i++)
        if (offsets->items[i].offset < 0)
            return lgi_error(LG_ERR_INVALID_ARG,
                             "commit: offset %" PRId64 " of partition %" PRId32
                             " of \"%s\" is negative",
                             offsets->items[i].offset,
                             offsets->items[i].partition,
                             offsets->items[i].topic);
    pthread_mutex_lock(&coordinator->commit_lock);
    pthread_mutex_lock(&coordinator->lock);
    lg_err_t err = LG_OK;
    if (member) {
        touch(member, 0, monotonic_ms());
        lgi_group_t *group = member->group;
        if (!member->in_group)
            err = lgi_error(LG_ERR_UNKNOWN_MEMBER,
                            "commit: member %s was evicted from group "
                            "\"%s\"",
                            member->member_id, group_id);
        else if (member->synced_generation != group->generation)
            err = lgi_error(LG_ERR_ILLEGAL_GENERATION,
                            "commit: generation %" PRId32 " of group \"%s\" "
                            "is stale; the group is at %" PRId32,
                            member->synced_generation, group_id,
                            group->generation);
        else if (group->state == STATE_PREPARING && member->rejoined &&
                 !is_cooperative(group->strategy))
            err = lgi_error(LG_ERR_REBALANCE_IN_PROGRESS,
                            "commit: group \"%s\" is rebalancing and this "
                            "member has given up its partitions",
                            group_id);
    } else {
        lgi_group_t *group = find_group(coordinator, group_id);
        if (group && group->member_count > 0)
            err = lgi_error(LG_ERR_ILLEGAL_GENERATION,
                            "commit: group \"%s\" has members; a consumer "
                            "outside it cannot commit for it",
                            group_id);
    }
    pthread_mutex_unlock(&coordinator->lock);
    if (err == LG_OK)
        err = write_offsets(coordinator, group_id, offsets, acks);
    pthread_mutex_unlock(&coordinator->commit_lock);
    return err;
}

lg_err_t lgi_group_commit_txn(lg_engine_t *engine, const char *group_id,
                              const lg_topic_partition_list_t *offsets) {
    lgi_coordinator_t *coordinator = engine->coordinator;
    pthread_mutex_lock(&coordinator->commit_lock);
    lg_err_t err = write_offsets(coordinator, group_id, offsets, LG_ACKS_ALL);
    pthread_mutex_unlock(&coordinator->commit_lock);
    return err;
}

int64_t lgi_group_committed(lg_engine_t *engine, const char *group_id,
                            const char *topic, int32_t partition) {
    lgi_coordinator_t *coordinator = engine->coordinator;
    int64_t offset = LG_OFFSET_INVALID;
    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = find_group(coordinator, group_id);
    offset_entry_t *entry =
        group ? find_offset(group, topic, partition) : NULL;
    if (entry)
        offset = entry->offset;
    pthread_mutex_unlock(&coordinator->lock);
    return offset;
}

/* Applies one __consumer_offsets record to the table; records that are
 * not offset commits (group metadata, version 2 keys) are skipped. */
static void load_record(lgi_coordinator_t *coordinator,
                        const lg_message_t *message) {
    size_t key_len, value_len;
    const uint8_t *key = lg_message_key(message, &key_len);
    const uint8_t *value = lg_message_value(message, &value_len);
    if (!key)
        return;
    reader_t r = {key, key_len, 0};
    int16_t version = (int16_t)get_n(&r, 2);
    if (r.bad || (version != 0 && version != 1))
        return;
    char group_id[320], topic[320];
    get_string(&r, group_id, sizeof group_id);
    get_string(&r, topic, sizeof topic);
    int32_t partition = (int32_t)get_n(&r, 4);
    if (r.bad)
        return;
    int64_t offset = -1, commit_ms = 0;
    if (value) {
        reader_t v = {value, value_len, 0};
        int16_t value_version = (int16_t)get_n(&v, 2);
        offset = (int64_t)get_n(&v, 8);
        if (value_version >= 3)
            get_n(&v, 4); /* leader epoch */
        char metadata[1024];
        get_string(&v, metadata, sizeof metadata);
        commit_ms = (int64_t)get_n(&v, 8);
        if (v.bad || value_version < 0 || value_version > 3)
            return;
    }
    lgi_group_t *group = get_group(coordinator, group_id);
    if (group)
        set_offset(group, topic, partition, offset, commit_ms);
}

static lg_err_t replay_record(void *opaque, const lg_message_t *message) {
    load_record(opaque, message);
    return LG_OK;
}

/* Replays __consumer_offsets into the table. */
static lg_err_t load_offsets(lgi_coordinator_t *coordinator) {
    lg_engine_t *engine = coordinator->engine;
    int32_t partitions;
    if (lg_topic_partition_count(engine, LGI_OFFSETS_TOPIC, &partitions) !=
        LG_OK)
        return LG_OK; /* never used */
    for (int32_t p = 0; p < partitions; p++) {
        lg_err_t err = lgi_engine_replay(engine, LGI_OFFSETS_TOPIC, p,
                                         replay_record, coordinator);
        if (err != LG_OK)
            return err;
    }
    /* Groups whose every offset was deleted are gone. */
    for (lgi_group_t **link = &coordinator->groups; *link;) {
        lgi_group_t *group = *link;
        if (group->offset_count == 0) {
            *link = group->next;
            group_free(group);
        } else {
            link = &group->next;
        }
    }
    return LG_OK;
}

lg_err_t lgi_coordinator_open(lg_engine_t *engine) {
    lgi_coordinator_t *coordinator = lgi_calloc(1, sizeof *coordinator);
    if (!coordinator)
        return lgi_error(LG_ERR_NOMEM, "out of memory opening engine");
    coordinator->engine = engine;
    pthread_mutex_init(&coordinator->lock, NULL);
    pthread_mutex_init(&coordinator->commit_lock, NULL);
    engine->coordinator = coordinator;
    lg_err_t err = load_offsets(coordinator);
    if (err != LG_OK) {
        char message[512];
        snprintf(message, sizeof message, "%s", lg_last_error_message());
        lgi_coordinator_close(engine);
        return lgi_error(err, "loading %s: %s", LGI_OFFSETS_TOPIC, message);
    }
    return LG_OK;
}

void lgi_coordinator_close(lg_engine_t *engine) {
    lgi_coordinator_t *coordinator = engine->coordinator;
    if (!coordinator)
        return;
    while (coordinator->groups) {
        lgi_group_t *group = coordinator->groups;
        coordinator->groups = group->next;
        while (group->members) {
            lgi_member_t *member = group->members;
            unlink_member(group, member);
            if (member->departed)
                member_free(member);
            /* A live consumer not destroyed before close keeps a pointer
             * it must not use again; it is not freed here. */
        }
        group_free(group);
    }
    pthread_mutex_destroy(&coordinator->lock);
    pthread_mutex_destroy(&coordinator->commit_lock);
    lgi_free(coordinator);
    engine->coordinator = NULL;
}

/* ------------------------------------------------------------------------
 * Administration
 * --------------------------------------------------------------------- */

typedef struct described_member {
    char *member_id;
    char *instance_id;
    lg_topic_partition_list_t assignment;
} described_member_t;

struct lg_group_description {
    char *state;
    char *protocol;
    int32_t generation;
    described_member_t *members;
    size_t member_count;
    lg_topic_partition_list_t offsets;
    int64_t *lags;
};

LG_API lg_err_t lg_group_list(lg_engine_t *engine, lg_strings_t **namesp) {
    lgi_error_clear();
    if (!engine || !namesp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_group_list: engine and namesp must not be NULL");
    *namesp = NULL;
    lgi_coordinator_t *coordinator = engine->coordinator;
    pthread_mutex_lock(&coordinator->lock);
    size_t count = 0;
    for (lgi_group_t *g = coordinator->groups; g; g = g->next)
        count += g->member_count > 0 || g->offset_count > 0;
    const char **names = lgi_calloc(count ? count : 1, sizeof *names);
    size_t n = 0;
    for (lgi_group_t *g = coordinator->groups; names && g; g = g->next)
        if (g->member_count > 0 || g->offset_count > 0)
            names[n++] = g->id;
    lg_strings_t *list = names ? lgi_strings_new(names, n, 1) : NULL;
    pthread_mutex_unlock(&coordinator->lock);
    lgi_free(names);
    if (!list)
        return lgi_error(LG_ERR_NOMEM, "lg_group_list: out of memory");
    *namesp = list;
    return LG_OK;
}

LG_API void
lg_group_description_destroy(lg_group_description_t *description) {
    if (!description)
        return;
    for (size_t i = 0; i < description->member_count; i++) {
        lgi_free(description->members[i].member_id);
        lgi_free(description->members[i].instance_id);
        list_release(&description->members[i].assignment);
    }
    lgi_free(description->members);
    list_release(&description->offsets);
    lgi_free(description->lags);
    lgi_free(description->state);
    lgi_free(description->protocol);
    lgi_free(description);
}

/* Copies the group's state into description (coordinator lock held). */
static lg_err_t describe_locked(lgi_group_t *group,
                                lg_group_description_t *description) {
    description->state = lgi_strdup(state_names[group->state]);
    description->protocol = lgi_strdup(
        group->strategy >= 0 ? lgi_assignor_name(group->strategy) : "");
    description->generation = group->generation;
    description->members =
        lgi_calloc(group->member_count + 1, sizeof *description->members);
    if (!description->state || !description->protocol ||
        !description->members)
        return lgi_error(LG_ERR_NOMEM, "lg_group_describe: out of memory");
    for (lgi_member_t *m = group->members; m; m = m->next) {
        described_member_t *d =
            &description->members[description->member_count++];
        d->member_id = lgi_strdup(m->member_id);
        d->instance_id = lgi_strdup(m->instance_id);
        if (!d->member_id || !d->instance_id)
            return lgi_error(LG_ERR_NOMEM, "lg_group_describe: out of memory");
        const lg_topic_partition_list_t *shown =
            group->state == STATE_STABLE ? &m->assignment : &m->owned;
        for (size_t i = 0; i < shown->count; i++)
            if (list_push(&d->assignment, shown->items[i].topic,
                          shown->items[i].partition,
                          shown->items[i].offset) != LG_OK)
                return LG_ERR_NOMEM;
    }
    for (size_t i = 0; i < group->offset_count; i++)
        if (list_push(&description->offsets, group->offsets[i].topic,
                      group->offsets[i].partition,
                      group->offsets[i].offset) != LG_OK)
            return LG_ERR_NOMEM;
    return LG_OK;
}

static int compare_entries(const void *a, const void *b) {
    const lgi_tp_entry_t *left = a, *right = b;
    int c = strcmp(left->topic, right->topic);
    return c ? c : (left->partition > right->partition) -
                       (left->partition < right->partition);
}

static void sort_entries(lg_topic_partition_list_t *list) {
    if (list->count > 1) /* items is NULL for an empty list */
        qsort(list->items, list->count, sizeof *list->items, compare_entries);
}

LG_API lg_err_t lg_group_describe(lg_engine_t *engine, const char *group_id,
                                  lg_group_description_t **descriptionp) {
    lgi_error_clear();
    if (!engine || !group_id || !descriptionp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_group_describe: engine, group_id and "
                         "descriptionp must not be NULL");
    *descriptionp = NULL;
    lg_err_t denied = lgi_authorize(engine, LG_OP_DESCRIBE, LG_RESOURCE_GROUP,
                                    group_id);
    if (denied)
        return denied;
    lgi_coordinator_t *coordinator = engine->coordinator;
    lg_group_description_t *description = lgi_calloc(1, sizeof *description);
    if (!description)
        return lgi_error(LG_ERR_NOMEM, "lg_group_describe: out of memory");
    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = find_group(coordinator, group_id);
    lg_err_t err;
    if (group && (group->member_count > 0 || group->offset_count > 0)) {
        expire_members(coordinator, group, monotonic_ms());
        err = describe_locked(group, description);
    } else {
        err = lgi_error(LG_ERR_UNKNOWN_GROUP, "group \"%s\" does not exist",
                        group_id);
    }
    pthread_mutex_unlock(&coordinator->lock);
    if (err == LG_OK) {
        sort_entries(&description->offsets);
        for (size_t i = 0; i < description->member_count; i++)
            sort_entries(&description->members[i].assignment);
        description->lags = lgi_calloc(description->offsets.count + 1,
                                       sizeof *description->lags);
        if (!description->lags)
            err = lgi_error(LG_ERR_NOMEM, "lg_group_describe: out of memory");
        for (size_t i = 0; err == LG_OK && i < description->offsets.count;
             i++) {
            int64_t end;
            const lgi_tp_entry_t *entry = &description->offsets.items[i];
            if (lg_watermarks(engine, entry->topic, entry->partition, NULL,
                              &end) != LG_OK)
                description->lags[i] = -1;
            else
                description->lags[i] =
                    end > entry->offset ? end - entry->offset : 0;
        }
        lgi_error_clear();
    }
    if (err != LG_OK) {
        lg_group_description_destroy(description);
        return err;
    }
    *descriptionp = description;
    return LG_OK;
}

LG_API const char *
lg_group_description_state(const lg_group_description_t *description) {
    return description ? description->state : NULL;
}

LG_API const char *
lg_group_description_protocol(const lg_group_description_t *description) {
    return description ? description->protocol : NULL;
}

LG_API int32_t
lg_group_description_generation(const lg_group_description_t *description) {
    return description ? description->generation : -1;
}

LG_API size_t lg_group_description_member_count(
    const lg_group_description_t *description) {
    return description ? description->member_count : 0;
}

LG_API const char *
lg_group_description_member_id(const lg_group_description_t *description,
                               size_t index) {
    return description && index < description->member_count
               ? description->members[index].member_id
               : NULL;
}

LG_API const char *lg_group_description_member_instance_id(
    const lg_group_description_t *description, size_t index) {
    return description && index < description->member_count
               ? description->members[index].instance_id
               : NULL;
}

LG_API const lg_topic_partition_list_t *lg_group_description_member_assignment(
    const lg_group_description_t *description, size_t index) {
    return description && index < description->member_count
               ? &description->members[index].assignment
               : NULL;
}

LG_API const lg_topic_partition_list_t *
lg_group_description_offsets(const lg_group_description_t *description) {
    return description ? &description->offsets : NULL;
}

LG_API int64_t lg_group_description_lag(
    const lg_group_description_t *description, size_t index) {
    return description && index < description->offsets.count
               ? description->lags[index]
               : -1;
}

/* Fails unless group_id exists (when must_exist) and has no members. */
static lg_err_t check_empty(lgi_coordinator_t *coordinator,
                            const char *group_id, int must_exist) {
    pthread_mutex_lock(&coordinator->lock);
    lgi_group_t *group = find_group(coordinator, group_id);
    if (group)
        expire_members(coordinator, group, monotonic_ms());
    lg_err_t err = LG_OK;
    if (!group || (group->member_count == 0 && group->offset_count == 0)) {
        if (must_exist)
            err = lgi_error(LG_ERR_UNKNOWN_GROUP,
                            "group \"%s\" does not exist", group_id);
    } else if (group->member_count > 0) {
        err = lgi_error(LG_ERR_GROUP_NOT_EMPTY,
                        "group \"%s\" has %zu members", group_id,
                        group->member_count);
    }
    pthread_mutex_unlock(&coordinator->lock);
    return err;
}

LG_API lg_err_t lg_group_delete(lg_engine_t *engine, const char *group_id) {
    lgi_error_clear();
    if (!engine || !group_id)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_group_delete: engine and group_id must not be "
                         "NULL");
    lg_err_t denied = lgi_authorize(engine, LG_OP_DELETE, LG_RESOURCE_GROUP,
                                    group_id);
    if (denied)
        return denied;
    lgi_coordinator_t *coordinator = engine->coordinator;
    pthread_mutex_lock(&coordinator->commit_lock);
    lg_err_t err = check_empty(coordinator, group_id, 1);
    lg_topic_partition_list_t tombstones = {0};
    if (err == LG_OK) {
        pthread_mutex_lock(&coordinator->lock);
        lgi_group_t *group = find_group(coordinator, group_id);
        for (size_t i = 0; group && i < group->offset_count && err == LG_OK;
             i++)
            err = list_push(&tombstones, group->offsets[i].topic,
                            group->offsets[i].partition, -1);
        pthread_mutex_unlock(&coordinator->lock);
    }
    if (err == LG_OK)
        err = write_offsets(coordinator, group_id, &tombstones, LG_ACKS_ALL);
    if (err == LG_OK) {
        /* The struct stays (an evicted member's consumer may still point
         * at it); with no members and no offsets it no longer exists for
         * list, describe and delete. */
        pthread_mutex_lock(&coordinator->lock);
        lgi_group_t *group = find_group(coordinator, group_id);
        if (group && group->member_count == 0) {
            offsets_free(group);
            group->strategy = -1;
            group->state = STATE_EMPTY;
        }
        pthread_mutex_unlock(&coordinator->lock);
    }
    list_release(&tombstones);
    pthread_mutex_unlock(&coordinator->commit_lock);
    return err;
}

LG_API lg_err_t lg_group_reset_offsets(lg_engine_t *engine,
                                       const char *group_id,
                                       const char *topic, int32_t partition,
                                       int64_t offset) {
    lgi_error_clear();
    if (!engine || !group_id || !topic)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_group_reset_offsets: engine, group_id and topic "
                         "must not be NULL");
    /* Kafka's AlterConsumerGroupOffsets asks READ on the group. */
    lg_err_t denied = lgi_authorize(engine, LG_OP_READ, LG_RESOURCE_GROUP,
                                    group_id);
    if (denied)
        return denied;
    if (!*group_id || strlen(group_id) > 255)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_group_reset_offsets: group_id must be 1 to 255 "
                         "bytes");
    if (offset < 0 && offset != LG_OFFSET_BEGINNING && offset != LG_OFFSET_END)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_group_reset_offsets: offset %" PRId64 " is "
                         "neither >= 0 nor LG_OFFSET_BEGINNING/END",
                         offset);
    int32_t count;
    lg_err_t err = lg_topic_partition_count(engine, topic, &count);
    if (err != LG_OK)
        return err;
    if (partition != LG_PARTITION_ANY && (partition < 0 || partition >= count))
        return lgi_error(LG_ERR_UNKNOWN_PARTITION,
                         "partition %" PRId32 " of topic \"%s\" does not "
                         "exist",
                         partition, topic);
    lg_topic_partition_list_t entries = {0};
    for (int32_t p = 0; p < count && err == LG_OK; p++) {
        if (partition != LG_PARTITION_ANY && p != partition)
            continue;
        int64_t low, high, target = offset;
        if ((err = lg_watermarks(engine, topic, p, &low, &high)) != LG_OK)
            break;
        if (offset == LG_OFFSET_BEGINNING)
            target = low;
        else if (offset == LG_OFFSET_END)
            target = high;
        err = list_push(&entries, topic, p, target);
    }
    lgi_coordinator_t *coordinator = engine->coordinator;
    pthread_mutex_lock(&coordinator->commit_lock);
    if (err == LG_OK)
        err = check_empty(coordinator, group_id, 0);
    if (err == LG_OK)
        err = write_offsets(coordinator, group_id, &entries, LG_ACKS_ALL);
    pthread_mutex_unlock(&coordinator->commit_lock);
    list_release(&entries);
    return err;
}
