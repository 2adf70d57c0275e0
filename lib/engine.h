/*
 * engine.h -- the engine: a data directory, its lock, its topics, the I/O
 * engine and the maintenance thread.
 */
#ifndef LG_ENGINE_H
#define LG_ENGINE_H

#include "conf.h"
#include "liblog.h"
#include "partition.h"
#include "stats.h"
#include "uring.h"

#include <pthread.h>
#include <stdatomic.h>

/* Most voters a replicated partition can have (replica.c's limit too). */
#define LGI_MAX_REPLICAS 32

/* One partition's replica set (lg_topic_set_replicas), persisted with the
 * topic's metadata so replication resumes by itself after a restart. */
typedef struct lgi_replica_assignment {
    struct lgi_replica_assignment *next;
    int32_t partition;
    size_t count;
    int32_t nodes[LGI_MAX_REPLICAS];
} lgi_replica_assignment_t;

typedef struct lgi_topic {
    /* References: 1 for the engine's topic table plus 1 per operation in
     * progress (lgi_engine_acquire).  A deleted topic leaves the table;
     * whoever drops the last reference hands it to the maintenance thread,
     * which closes its partitions and removes its files -- never the
     * dropping thread itself, which may be the I/O thread. */
    atomic_int refs;
    int deleted;
    struct lgi_topic *next_dead; /* graveyard link */
    char *name;
    int32_t partition_count;
    lgi_partition_t **partitions;
    lg_conf_t overrides; /* explicitly set topic properties, persisted */
    lg_conf_t effective; /* engine defaults overlaid with overrides */
    uint8_t topic_id[16];
    /* Replicated partitions (unordered; NULL: none).  Changed under
     * meta_lock plus the topics write lock, read under either. */
    lgi_replica_assignment_t *assignments;
} lgi_topic_t;

/* An installed authorizer.  Immutable once published; replaced ones stay
 * allocated until engine close, so a thread that loaded the pointer just
 * before a replacement can still call through it safely. */
typedef struct lgi_authorizer {
    lg_authorize_fn fn;
    void *opaque;
    struct lgi_authorizer *older;
} lgi_authorizer_t;

/* A handle made on the engine (producer, consumer).  Destroy order never
 * matters (as SQLite promises): lg_engine_close first detaches every live
 * child -- the child stops using the engine for good, its later calls
 * answer LG_ERR_CLOSED -- and the child's own destroy then frees what is
 * left. */
typedef struct lgi_engine_child lgi_engine_child_t;
struct lgi_engine_child {
    void (*detach)(lgi_engine_child_t *child);
    lgi_engine_child_t *prev, *next; /* private to the engine */
};

struct lg_engine {
    char *dir;
    /* NULL: everything allowed.  Read with an acquire load per check. */
    _Atomic(lgi_authorizer_t *) authorizer;
    pthread_mutex_t authorizer_lock; /* serialises lg_engine_set_authorizer */
    lgi_authorizer_t *retired_authorizers; /* every one installed; freed at
                                              close */
    int lock_fd;
    lg_conf_t conf;
    lgi_io_t *io;

    /* Topics are looked up on every append and read (read lock) and
     * changed only by admin calls (write lock).  Topic structs are never
     * freed before engine close, so a looked-up pointer stays valid. */
    pthread_rwlock_t topics_lock;
    lgi_topic_t **topics;
    size_t topic_count;
    size_t topic_cap;

    /* Live children (protected by children_lock). */
    lgi_engine_child_t *children;
    pthread_mutex_t children_lock;

    /* Serialises writers of the engine-level metadata files. */
    pthread_mutex_t meta_lock;

    /* Deleted topics still referenced by operations in progress
     * (deleting), and those whose last reference is gone, awaiting removal
     * of their files (graveyard); both protected by maintenance_lock.  A
     * name in either list cannot be created again yet: the old
     * incarnation's files still occupy its directories. */
    lgi_topic_t *deleting;
    lgi_topic_t *graveyard;
    /* Held for a whole lgi_topics_bury, so a caller that returns from one
     * knows no removal taken by another thread is still running. */
    pthread_mutex_t bury_lock;

    /* Maintenance thread: periodic recovery-point checkpoints, removal of
     * deleted topics. */
    pthread_t maintenance_thread;
    int maintenance_started;
    pthread_mutex_t maintenance_lock;
    pthread_cond_t maintenance_wake;
    int maintenance_stop;

    /* Observability (stats.c).  logger is set before the I/O engine
     * starts and never changes.  stats_lock guards the client list;
     * poll_lock serialises lg_engine_poll callers. */
    lgi_logger_t logger;
    int64_t opened_ns;
    lgi_cleaner_counters_t cleaner_counters;
    pthread_mutex_t stats_lock;
    lgi_stats_client_t *stats_clients;
    uint64_t stats_next_id;
    pthread_mutex_t poll_lock;
    int64_t stats_due_ns; /* next report; under poll_lock */
    /* Consumer groups (group.c): created after the topics are loaded. */
    struct lgi_coordinator *coordinator;
    /* Transaction coordinator (txn.c): after the group coordinator. */
    struct lgi_txn_coordinator *txn;
    /* Idempotent producer ids (producer_id.c). */
    struct lgi_producer_ids *producer_ids;
    /* Bumped on every topic create, delete and partition growth, so group
     * coordinators notice subscription changes with one atomic load. */
    atomic_uint topics_version;

    /* Cleaner thread (cleaner.c does the work): retention every
     * log.retention.check.interval.ms, compaction checks every
     * log.cleaner.backoff.ms.  cleaner_run_lock serialises passes (the
     * thread's and lgi_engine_clean's); cleaner_lock guards the stop flag
     * and the wake-up. */
    pthread_t cleaner_thread;
    int cleaner_started;
    pthread_mutex_t cleaner_lock;
    pthread_cond_t cleaner_wake;
    int cleaner_stop;
    pthread_mutex_t cleaner_run_lock;
    struct lgi_cleaner *cleaner; /* key map, made on first compaction */
    int64_t next_retention_ms;   /* monotonic deadline of the next check */

    /* Replication (replication.c): NULL until lg_engine_set_transport. */
    _Atomic(struct lgi_replication *) replication;
};

/* Registers / unregisters a child handle (any thread). */
void lgi_engine_attach_child(lg_engine_t *engine, lgi_engine_child_t *child);
void lgi_engine_detach_child(lg_engine_t *engine, lgi_engine_child_t *child);

/* Wall-clock milliseconds, the engine's notion of "now". */
int64_t lgi_engine_now_ms(const lg_engine_t *engine);

/* One partition of a live topic, referenced for the duration of one
 * operation, with a snapshot of the topic's effective configuration (taken
 * under the topics lock, so a concurrent lg_topic_config_set is seen
 * either wholly or not at all). */
typedef struct lgi_partition_ref {
    lgi_topic_t *topic;
    lgi_partition_t *partition;
    int32_t partition_count;
    lg_conf_t conf;
} lgi_partition_ref_t;

/* Looks up topic and partition and takes a reference.  partition may be
 * LG_PARTITION_ANY to reference the topic only (ref->partition NULL).
 * LG_ERR_UNKNOWN_TOPIC / LG_ERR_UNKNOWN_PARTITION / LG_ERR_INVALID_ARG
 * with a message.  Release with lgi_engine_release. */
lg_err_t lgi_engine_acquire(lg_engine_t *engine, const char *topic,
                            int32_t partition, lgi_partition_ref_t *ref);

/* Drops the reference taken by lgi_engine_acquire.  Any thread, including
 * the I/O thread. */
void lgi_engine_release(lg_engine_t *engine, lgi_partition_ref_t *ref);

/* Calls apply(opaque, message) for every record of partition of topic,
 * from its log start to its end as of the call, in offset order: how the
 * coordinators rebuild their tables from their internal topics at open.
 * Stops at the first error apply or a read returns. */
typedef lg_err_t (*lgi_replay_fn)(void *opaque, const lg_message_t *message);
lg_err_t lgi_engine_replay(lg_engine_t *engine, const char *topic,
                           int32_t partition, lgi_replay_fn apply,
                           void *opaque);

/* Drops one reference to topic (the engine table's own, or one taken by
 * lgi_engine_acquire). */
void lgi_topic_release(lg_engine_t *engine, lgi_topic_t *topic);

/* Closes the partitions of every topic in the graveyard and removes their
 * directories (maintenance thread, and engine close). */
void lgi_topics_bury(lg_engine_t *engine);

/* Removes directories of deletions interrupted by a crash. */
void lgi_topics_remove_leftovers(lg_engine_t *engine);

/* topic.c: load topics from the metadata file and open their partitions
 * (recovering them); free them all at close. */
lg_err_t lgi_topics_load(lg_engine_t *engine, int clean_shutdown);
lg_err_t lgi_topics_close(lg_engine_t *engine);

/* Replica assignments (topic.c; policy in replication.c).
 * lgi_topic_claim_replicas persists nodes[0..count) as partition's replica
 * set unless it already has one; either way *current gets the set now in
 * force (current->count 0 never happens on LG_OK).  *claimed is 1 when
 * this call wrote it.  lgi_topic_unclaim_replicas removes the set again
 * (the attach that followed a claim failed).  lgi_topic_replica_sets
 * copies every assignment of the engine: *setsp (lgi_malloc'd array, free
 * with lgi_free) of *countp entries, *namesp parallel topic names
 * (lgi_malloc'd each and the array). */
lg_err_t lgi_topic_claim_replicas(lg_engine_t *engine, const char *topic,
                                  int32_t partition, const int32_t *nodes,
                                  size_t count,
                                  lgi_replica_assignment_t *current,
                                  int *claimed);
void lgi_topic_unclaim_replicas(lg_engine_t *engine, const char *topic,
                                int32_t partition);
lg_err_t lgi_topic_replica_sets(lg_engine_t *engine,
                                lgi_replica_assignment_t **setsp,
                                char ***namesp, size_t *countp);

/* Writes log-start-offset-checkpoint and cleaner-offset-checkpoint. */
lg_err_t lgi_engine_checkpoint_log_starts(lg_engine_t *engine);

/* One cleaner round over every partition at now_ms: retention when
 * retention is due (or always with force), compaction where the policy
 * asks for it (force ignores the dirty ratio), then the checkpoints when
 * a log start or cleaner offset moved.  Serialised with the cleaner
 * thread.  Returns the first error (other partitions are still done). */
lg_err_t lgi_engine_clean(lg_engine_t *engine, int64_t now_ms, int force);

/* Writes recovery-point-offset-checkpoint for every partition. */
lg_err_t lgi_engine_checkpoint_recovery_points(lg_engine_t *engine);

/* The library's own reads and writes of its internal topics
 * (__consumer_offsets, __transaction_state) are the library acting, not
 * the calling principal: between suspend and resume on a thread,
 * lgi_authorize allows everything.  Calls nest. */
void lgi_authorize_suspend(void);
void lgi_authorize_resume(void);

/* Asks engine's authorizer whether the calling thread's principal may do
 * operation on resource name: LG_OK, or LG_ERR_NOT_AUTHORIZED with a
 * message naming principal, operation and resource.  LG_OK when no
 * authorizer is installed.  Any thread. */
lg_err_t lgi_authorize(lg_engine_t *engine, int operation, int resource_type,
                       const char *name);

/* Validates a topic name as Kafka does. */
lg_err_t lgi_topic_name_validate(const char *name);

#endif
