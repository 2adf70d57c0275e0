/*
 * cleaner.h -- retention and log compaction of one partition at a time.
 *
 * The algorithms, the on-disk swap protocol and its crash recovery are
 * documented atop cleaner.c.  The engine's cleaner thread (engine.c)
 * drives these functions; tests call them directly with a chosen now_ms.
 *
 * Thread-safety: an lgi_cleaner_t (its key map and buffers) is used by one
 * thread at a time.  The partition functions may run concurrently with
 * appends and reads of the same partition, but at most one cleaner may
 * work on a given partition at once, and not concurrently with
 * lgi_partition_truncate_to on it.
 */
#ifndef LG_CLEANER_H
#define LG_CLEANER_H

#include "batch.h"
#include "conf.h"
#include "liblog.h"
#include "partition.h"

#include <stddef.h>
#include <stdint.h>

/* A topic's cleaning settings (Kafka names). */
typedef struct lgi_cleaner_settings {
    int policy;                  /* cleanup.policy: LGI_CLEANUP_* */
    int64_t retention_ms;        /* -1: no time limit */
    int64_t retention_bytes;     /* -1: no size limit */
    int64_t min_dirty_ratio;     /* millionths (LGI_CONF_FRACTION_ONE) */
    int64_t min_compaction_lag_ms;
    int64_t max_compaction_lag_ms;
    int64_t delete_retention_ms;
    /* Replicated partitions (replication.c sets it; 0 from conf): every
     * batch keeps its place -- base offset, lastOffsetDelta, leader epoch
     * and producer fields -- so replicas compacting independently still
     * hold the same batches: one emptied of records (all superseded, or
     * aborted) is written as an empty batch, control batches are kept
     * whole. */
    int keep_batches;
} lgi_cleaner_settings_t;

void lgi_cleaner_settings_from_conf(const lg_conf_t *conf,
                                    lgi_cleaner_settings_t *settings);

/* A per-batch decision (see lgi_cleaner_batch_retain_fn). */
enum lgi_batch_retention {
    LGI_BATCH_RETAIN_RECORDS = 0, /* keep the batch; records by key rules */
    LGI_BATCH_DELETE = 1,         /* drop the whole batch (aborted data,
                                     a marker past its horizon) */
    LGI_BATCH_RETAIN_WHOLE = 2,   /* keep every record (a control batch
                                     still needed) */
};

/* Per-batch "retain?" decision.  partition is the one being cleaned,
 * header the batch's, now_ms the cleaning time.  Called for every batch
 * the pass rewrites, in offset order.  Returns an enum
 * lgi_batch_retention.  The built-in decision (fn NULL, the default) is
 * the transactional one, Kafka's CleanedTransactionMetadata (txn_clean.c,
 * driven by the .txnindex): aborted transactional batches -> DELETE (and
 * left out of the key map); commit/abort markers -> RETAIN_WHOLE until no
 * data of their transaction remains and their delete horizon
 * (delete.retention.ms, stamped as for tombstones) has passed, then
 * DELETE; everything else -> RETAIN_RECORDS.  Installing a function
 * replaces it wholesale (tests use this to drive the seam directly). */
typedef int (*lgi_cleaner_batch_retain_fn)(void *opaque,
                                           lgi_partition_t *partition,
                                           const lgi_batch_header_t *header,
                                           int64_t now_ms);

typedef struct lgi_cleaner lgi_cleaner_t;

/* Counters of one compaction pass. */
typedef struct lgi_clean_stats {
    int64_t bytes_read;      /* bytes of segments rewritten */
    int64_t bytes_written;   /* bytes of the cleaned segments */
    int64_t map_bytes_read;  /* bytes scanned to build the key map */
    int64_t records_read;
    int64_t records_kept;
    int64_t segments_in;
    int64_t segments_out;
    int map_full;            /* the map filled: a prefix was cleaned */
    int64_t next_horizon;    /* earliest delete horizon of a tombstone
                                kept by this pass, -1 none */
} lgi_clean_stats_t;

/* A cleaner whose key map takes at most map_bytes
 * (log.cleaner.dedupe.buffer.size; 24 bytes an entry, 90% load). */
lg_err_t lgi_cleaner_new(int64_t map_bytes, lgi_cleaner_t **cleanerp);
void lgi_cleaner_free(lgi_cleaner_t *cleaner);

/* Installs a per-batch decision (NULL restores the built-in one). */
void lgi_cleaner_set_batch_retain(lgi_cleaner_t *cleaner,
                                  lgi_cleaner_batch_retain_fn fn,
                                  void *opaque);

/* Retention (policy delete or compact,delete): deletes the oldest sealed
 * segments whose newest record is older than retention.ms, then more of
 * the oldest while the partition exceeds retention.bytes; whole segments
 * only, never the active one.  The log start moves to the first kept
 * segment.  *deletedp (may be NULL) gets the count. */
lg_err_t lgi_cleaner_retain(lgi_partition_t *partition,
                            const lgi_cleaner_settings_t *settings,
                            int64_t now_ms, size_t *deletedp);

/* The offset retention would delete below (the base of the first segment
 * to keep, INT64_MAX for every sealed one), -1 when nothing is due; the
 * decision lgi_cleaner_retain acts on, for callers that delete through
 * another layer (replicated partitions, replication.c). */
lg_err_t lgi_cleaner_retention_point(lgi_partition_t *partition,
                                     const lgi_cleaner_settings_t *settings,
                                     int64_t now_ms, int64_t *pointp);

/* One compaction pass (policy compact or compact,delete).  *first_dirtyp
 * is the cleaner checkpoint: offsets below it were cleaned before; it is
 * advanced past what this pass covered.  A pass runs when the dirty ratio
 * reaches min.cleanable.dirty.ratio, when max.compaction.lag.ms has
 * passed for the oldest dirty record, when the partition's recorded
 * tombstone horizon (lgi_partition_cleaner_horizon) has passed, or always
 * with force != 0; it records the earliest horizon it left.  stats (may
 * be NULL) is filled.  LG_OK when there was nothing to do. */
lg_err_t lgi_cleaner_compact(lgi_cleaner_t *cleaner,
                             lgi_partition_t *partition,
                             const lgi_cleaner_settings_t *settings,
                             int64_t now_ms, int force,
                             int64_t *first_dirtyp,
                             lgi_clean_stats_t *stats);

/* Test hook: with n > 0 the next compaction stops dead (returns
 * LG_ERR_IO, leaving its files exactly as a crash would) at step n of the
 * swap protocol (steps atop cleaner.c), then the hook disarms itself.
 * 0 disarms. */
void lgi_cleaner_crash_at(int n);

/* Number of steps lgi_cleaner_crash_at understands. */
#define LGI_CLEANER_CRASH_STEPS 7

#endif
