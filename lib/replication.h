/*
 * replication.h -- the engine's side of replication: the host's transport,
 * the replica node (replica.c) and the replicated partitions, each run by
 * the core over its partition log through replica_log.c.
 */
#ifndef LG_REPLICATION_H
#define LG_REPLICATION_H

#include "liblog.h"
#include "partition.h"

/* A partition with a persisted replica set, at engine open: until
 * lg_engine_set_transport attaches it, appends fail with
 * LG_ERR_NOT_LEADER and nothing is readable (read limit at the log
 * start), so nothing is written or shown behind the consensus' back. */
void lgi_replication_hold(lgi_partition_t *partition);

/* Retention of a replicated partition (the engine's cleaner round):
 * deletes what settings' retention.ms / retention.bytes allow below this
 * node's high watermark, keeping the entry numbering every replica shares
 * (replica_log.c).  The leader's log start then reaches the followers in
 * fetch responses.  A partition still held (no transport yet) is left
 * alone.  *deletedp gets the segments deleted. */
struct lgi_cleaner_settings;
lg_err_t lgi_replication_retain(lg_engine_t *engine,
                                lgi_partition_t *partition,
                                const struct lgi_cleaner_settings *settings,
                                int64_t now_ms, size_t *deletedp);

/* Compaction of a replicated partition (the engine's cleaner round), as
 * lgi_cleaner_compact with settings' keep_batches set, so every replica
 * keeps the same batches (their records may differ below each one's
 * cleaner point), and under the replication lock, so no truncation,
 * deletion or reset of the partition runs during the pass (it also holds
 * up this engine's replication for the pass).  Never above the high
 * watermark: the cleaner stops at the last stable offset, which the read
 * limit caps.  A held partition is left alone (*first_dirtyp unchanged,
 * stats zero). */
struct lgi_cleaner;
struct lgi_clean_stats;
lg_err_t lgi_replication_compact(lg_engine_t *engine,
                                 struct lgi_cleaner *cleaner,
                                 lgi_partition_t *partition,
                                 const struct lgi_cleaner_settings *settings,
                                 int64_t now_ms, int force,
                                 int64_t *first_dirtyp,
                                 struct lgi_clean_stats *stats);

/* Engine close, first step: fails waiting acks=all appends with
 * LG_ERR_CLOSED, waits for calls in progress, makes replicated partitions
 * refuse appends, releases their topic references.  NULL-safe. */
void lgi_replication_shutdown(lg_engine_t *engine);

/* Engine close, after the partitions are closed: frees everything. */
void lgi_replication_free(lg_engine_t *engine);

#endif
