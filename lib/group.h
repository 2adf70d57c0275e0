/*
 * group.h -- the in-engine group coordinator as the consumer sees it:
 * membership (join, resubscribe, leave), the per-poll protocol step,
 * offset commits and lookups; and the topic-partition list type shared by
 * the consumer and admin API.
 */
#ifndef LG_GROUP_H
#define LG_GROUP_H

#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * lg_topic_partition_list_t
 * --------------------------------------------------------------------- */

typedef struct lgi_tp_entry {
    char *topic;
    int32_t partition;
    int64_t offset;
} lgi_tp_entry_t;

struct lg_topic_partition_list {
    lgi_tp_entry_t *items;
    size_t count;
    size_t capacity;
};

/* The index of (topic, partition) in list, or SIZE_MAX. */
size_t lgi_tp_list_find(const lg_topic_partition_list_t *list,
                        const char *topic, int32_t partition);

/* ------------------------------------------------------------------------
 * Coordinator
 * --------------------------------------------------------------------- */

/* The name of the internal topic holding committed offsets. */
#define LGI_OFFSETS_TOPIC "__consumer_offsets"

typedef struct lgi_coordinator lgi_coordinator_t;
typedef struct lgi_member lgi_member_t;

/* Creates engine->coordinator and loads every committed offset from
 * __consumer_offsets (when it exists).  Called by lg_engine_open after
 * the topics are recovered. */
lg_err_t lgi_coordinator_open(lg_engine_t *engine);

/* Frees the coordinator (consumers are destroyed by then; departed static
 * members still in groups are freed here).  NULL-safe. */
void lgi_coordinator_close(lg_engine_t *engine);

/* What a consumer joins with.  wake is called, under the coordinator's
 * lock and from any thread, when the member has a step to take; it must
 * only signal (the consumer's eventfd). */
typedef struct lgi_member_config {
    const char *group_id;
    const char *instance_id; /* "" for a dynamic member */
    int strategy;            /* LGI_ASSIGNOR_* */
    int64_t session_timeout_ms;
    int64_t max_poll_interval_ms;
    void (*wake)(void *opaque);
    void *opaque;
} lgi_member_config_t;

/* Joins (or, for a static member whose slot is still held, takes over)
 * the group with subscription topics[0..count) ('^' entries are regexes,
 * already validated by lgi_group_validate_subscription).  *memberp is
 * owned by the consumer until lgi_group_leave. */
lg_err_t lgi_group_join(lg_engine_t *engine, const lgi_member_config_t *config,
                        const char *const *topics, size_t count,
                        lgi_member_t **memberp);

/* Checks names and compiles regexes of a subscription without joining. */
lg_err_t lgi_group_validate_subscription(const char *const *topics,
                                         size_t count);

/* Replaces the member's subscription and rebalances the group. */
lg_err_t lgi_group_resubscribe(lgi_member_t *member,
                               const char *const *topics, size_t count);

/* The member leaves and is freed.  A static member (unless permanent)
 * keeps its slot and assignment for session.timeout.ms from its last
 * call, so a consumer with the same group.instance.id can take it over
 * without a rebalance. */
void lgi_group_leave(lgi_member_t *member, int permanent);

/* Steps of the rebalance protocol handed to the consumer's poll. */
enum lgi_group_step {
    LGI_STEP_NONE,
    LGI_STEP_REVOKE, /* give up the listed partitions */
    LGI_STEP_ASSIGN, /* take the listed partitions */
};

/* A heartbeat (is_poll: also resets the max.poll.interval.ms clock), then
 * the member's next protocol step.  For REVOKE/ASSIGN *listp is a new
 * list (offsets LG_OFFSET_STORED) the caller frees, and the caller must
 * call lgi_group_step_done once it has applied the step (after the
 * rebalance callback returned) before stepping again; *lostp is 1 for a
 * revoke of partitions the member lost by eviction. */
int lgi_group_step(lgi_member_t *member, int is_poll,
                   lg_topic_partition_list_t **listp, int *lostp);
void lgi_group_step_done(lgi_member_t *member);

/* A heartbeat without a protocol step (non-poll consumer calls). */
void lgi_group_heartbeat(lgi_member_t *member);

/* "EAGER" or "COOPERATIVE". */
const char *lgi_group_protocol(const lgi_member_t *member);

/* Commits offsets (entries with offset >= 0) for group_id, from member
 * (NULL: a consumer with manual assignment, accepted while the group has
 * no members), with durability acks.  Generation checks as
 * lg_consumer_commit documents. */
lg_err_t lgi_group_commit(lg_engine_t *engine, const char *group_id,
                          lgi_member_t *member,
                          const lg_topic_partition_list_t *offsets, int acks);

/* Commits offsets for group_id on behalf of a committing transaction
 * (txn.c): no member or generation checks (as Kafka's TxnOffsetCommit
 * without group metadata), durability acks=all. */
lg_err_t lgi_group_commit_txn(lg_engine_t *engine, const char *group_id,
                              const lg_topic_partition_list_t *offsets);

/* The committed offset of group_id for (topic, partition), or
 * LG_OFFSET_INVALID. */
int64_t lgi_group_committed(lg_engine_t *engine, const char *group_id,
                            const char *topic, int32_t partition);

#endif
