/*
 * partition.h -- one partition's log: an ordered list of segments in one
 * directory, the log end offset, the published (readable) end, the
 * recovery point and the leader-epoch cache.
 *
 * Concurrency contract:
 *   - lgi_partition_append may be called from many threads; offsets are
 *     assigned under the partition mutex in call order, and the batch is
 *     handed to the I/O engine still under the mutex, so the file receives
 *     batches in offset order.
 *   - Readers (read, watermarks, offset_for_time) take the mutex only to
 *     snapshot the segment list and published end, then pread outside it:
 *     readers never block writers for longer than that snapshot.
 *   - Only bytes whose write has completed ("published") are visible to
 *     readers; the published end advances over the contiguous completed
 *     prefix, in the I/O thread's completion callback.
 *   - open/close/truncate_to are not concurrent with anything else on the
 *     same partition.
 */
#ifndef LG_PARTITION_H
#define LG_PARTITION_H

#include "liblog.h"
#include "stats.h"
#include "txnindex.h"
#include "uring.h"

#include <stddef.h>
#include <stdint.h>

/* Topic-level settings the log obeys (Kafka names in comments). */
typedef struct lgi_log_config {
    int64_t segment_bytes;        /* segment.bytes, default 1 GiB */
    int64_t segment_ms;           /* segment.ms, default 7 days */
    int32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
    int32_t segment_index_bytes;  /* segment.index.bytes, default 10 MiB:
                                     max size of .index/.timeindex; a full
                                     index rolls the segment */
    int32_t max_message_bytes;    /* max.message.bytes, default 1048588 */
    int64_t preallocate_bytes;    /* fallocate this far ahead of the end of
                                     the active segment (0 = off) */
} lgi_log_config_t;

typedef struct lgi_partition lgi_partition_t;

/* Opens the partition in directory path (created by the caller), using io
 * for writes.  Recovers: segments wholly below recovery_point are trusted
 * (their indexes are sanity-checked and rebuilt if invalid); the segment
 * containing recovery_point and all later ones are scanned batch by batch
 * (length, magic, CRC, offsets increasing) and the log is truncated at the
 * first invalid byte, deleting any later segments; their indexes are
 * rebuilt.  clean_shutdown != 0 (the engine's marker was present) skips
 * the scan.  Creates segment 0 when the directory is empty.  now_ms feeds
 * segment.ms.  config is copied. */
lg_err_t lgi_partition_open(const char *path, const lgi_log_config_t *config,
                            lgi_io_t *io, int64_t recovery_point,
                            int clean_shutdown, int64_t now_ms,
                            lgi_partition_t **partitionp);

/* Makes everything durable (fdatasync of log and index files, index files
 * trimmed to their entries), then frees the partition.  Returns the first
 * error met while flushing (the partition is freed regardless).  NULL is a
 * no-op returning LG_OK. */
lg_err_t lgi_partition_close(lgi_partition_t *partition);

/* Replaces the configuration (topic config change); applies from the next
 * append. */
void lgi_partition_set_config(lgi_partition_t *partition,
                              const lgi_log_config_t *config);

/* Appends one encoded batch.  Ownership of batch (lgi_malloc'd, len bytes,
 * as produced by lgi_batch_encode) passes to the partition in every case,
 * success or failure.  Stamps base offset = log end offset and the current
 * leader epoch, rolls first if segment.bytes / segment.ms / a full index /
 * relative-offset overflow demand it, and returns once acks holds:
 * LG_ACKS_NONE at hand-off, LG_ACKS_LEADER when written, LG_ACKS_ALL when
 * fdatasync'd.  *base_offsetp (may be NULL) gets the first offset.
 * LG_ERR_RECORD_TOO_LARGE when len > max.message.bytes; LG_ERR_DISK_FULL /
 * LG_ERR_IO when the write failed (the log is rolled back to the published
 * end, so nothing is half-written); LG_ERR_READ_ONLY once an fdatasync has
 * failed (until reopen). */
lg_err_t lgi_partition_append(lgi_partition_t *partition, uint8_t *batch,
                              size_t len, int acks, int64_t now_ms,
                              int64_t *base_offsetp);

/* Completion of an asynchronous append: err LG_OK with the batch's base
 * offset, or the failure (base_offset -1).  Called exactly once. */
typedef void (*lgi_append_done_fn)(void *opaque, lg_err_t err,
                                   int64_t base_offset);

/* As lgi_partition_append, but returns once the batch is handed to the
 * I/O engine: done is called when acks holds or the append failed -- on
 * the I/O thread, or on the calling thread before this returns when the
 * append fails before hand-off or acks is LG_ACKS_NONE.  done must not
 * block and must not call back into this partition's append. */
void lgi_partition_append_async(lgi_partition_t *partition, uint8_t *batch,
                                size_t len, int acks, int64_t now_ms,
                                lgi_append_done_fn done, void *opaque);

/* As lgi_partition_append_async, but only when the hand-off can be made
 * at once without waiting or doing I/O on the calling thread: not when
 * the partition's mutex is taken (a roll or a rollback may hold it across
 * I/O), a roll or rollback is due, the leader-epoch checkpoint or a
 * fallocate would be written, the batch is a control batch, or the
 * partition is replicated.  Returns 1 when it handed off (ownership of
 * batch passed; done is called as lgi_partition_append_async calls it),
 * 0 when it did nothing (batch is still the caller's; done is not
 * called).  For callers that have somewhere else to send the batch: the
 * producer's thread, which falls back to its sender thread. */
int lgi_partition_try_append_async(lgi_partition_t *partition,
                                   uint8_t *batch, size_t len, int acks,
                                   int64_t now_ms, lgi_append_done_fn done,
                                   void *opaque);

/* Replication (replication.c) takes over a partition's appends and caps
 * what readers see:
 *   - an append hook, once set, receives every lgi_partition_append /
 *     lgi_partition_append_async with the same contract (ownership of
 *     batch passes; with done == NULL the call is synchronous and fills
 *     *base_offsetp; with done != NULL it returns LG_OK and calls done
 *     later exactly once, or returns an error and does not call done, which
 *     lgi_partition_append_async then calls);
 *   - the read limit caps lgi_partition_read, lgi_partition_published_end
 *     and lgi_partition_watermarks at a record offset (the high watermark,
 *     always a batch boundary); INT64_MAX (the default) means no cap.
 *     Raising it notifies watchers.
 * The replication layer itself writes and reads with the _direct /
 * _uncapped variants.  hook is borrowed until replaced (NULL removes). */
typedef struct lgi_append_hook {
    lg_err_t (*append)(void *opaque, uint8_t *batch, size_t len, int acks,
                       int64_t now_ms, lgi_append_done_fn done,
                       void *done_opaque, int64_t *base_offsetp);
    void *opaque;
} lgi_append_hook_t;

void lgi_partition_set_append_hook(lgi_partition_t *partition,
                                   const lgi_append_hook_t *hook);
void lgi_partition_set_read_limit(lgi_partition_t *partition, int64_t limit);
/* Non-zero once an append hook is installed (the cleaner skips such
 * partitions). */
int lgi_partition_replicated(lgi_partition_t *partition);
lg_err_t lgi_partition_append_direct(lgi_partition_t *partition,
                                     uint8_t *batch, size_t len, int acks,
                                     int64_t now_ms, int64_t *base_offsetp);
/* As _direct with acks LG_ACKS_LEADER, for a batch a replication leader
 * already validated: its producer id, epoch and sequence are recorded
 * without being checked (a follower never refuses what the leader
 * accepted, whatever its own producer expiry did). */
lg_err_t lgi_partition_append_replica(lgi_partition_t *partition,
                                      uint8_t *batch, size_t len,
                                      int64_t now_ms, int64_t *base_offsetp);
/* The published end ignoring the read limit. */
int64_t lgi_partition_end_offset(lgi_partition_t *partition);
lg_err_t lgi_partition_read_uncapped(lgi_partition_t *partition,
                                     int64_t offset, size_t max_bytes,
                                     uint8_t **datap, size_t *lenp);

/* Watchers are told when the published end advances (new records became
 * readable), so consumers can sleep instead of polling.  notify runs on
 * the thread that moved the end (the I/O thread, or an appender's) under
 * the partition's mutex, and returns 1 when the watcher wants to be
 * signalled; signal then runs on the same thread, usually after the
 * mutex is released, so the thread it wakes -- about to read, which
 * takes that mutex -- does not find it held.  Neither may block or call
 * into the partition. */
typedef struct lgi_partition_watch lgi_partition_watch_t;
struct lgi_partition_watch {
    int (*notify)(lgi_partition_watch_t *watch);
    void (*signal)(lgi_partition_watch_t *watch);
    void *opaque;
    lgi_partition_watch_t *prev, *next; /* private to the partition */
};

/* Registers / unregisters watch (any thread).  After unwatch returns,
 * neither notify nor signal is running or will be called for watch. */
void lgi_partition_watch(lgi_partition_t *partition,
                         lgi_partition_watch_t *watch);
void lgi_partition_unwatch(lgi_partition_t *partition,
                           lgi_partition_watch_t *watch);

/* The published end offset, read without taking the partition mutex (an
 * acquire load), for cheap "anything new?" checks. */
int64_t lgi_partition_published_end(lgi_partition_t *partition);

/* Waits until everything appended so far is fdatasync'd. */
lg_err_t lgi_partition_flush(lgi_partition_t *partition);

/* Reads whole batches starting with the one containing offset, up to about
 * max_bytes (at least one whole batch), never past the published end.
 * Every returned batch has been CRC-validated.  *datap is lgi_malloc'd
 * (caller frees with lgi_free; NULL with *lenp 0 when offset is the
 * published end).  LG_ERR_OFFSET_OUT_OF_RANGE outside [log start, published
 * end]; LG_ERR_CORRUPT if a batch fails validation. */
lg_err_t lgi_partition_read(lgi_partition_t *partition, int64_t offset,
                            size_t max_bytes, uint8_t **datap, size_t *lenp);

/* The last stable offset: the first offset of the oldest transaction not
 * yet decided for readers (open, or closed by a marker not yet readable;
 * producer_state.h), or the readable end when none is below it. */
int64_t lgi_partition_last_stable_offset(lgi_partition_t *partition);

/* The same, read without the mutex (an acquire load of the value kept
 * current whenever the readable end moves), for cheap "anything
 * committed?" checks.  Advances only together with the readable end, so
 * watchers are notified of every advance. */
int64_t lgi_partition_stable_end(lgi_partition_t *partition);

/* lgi_partition_read for read_committed readers: never returns a batch at
 * or past the last stable offset (*stablep, may be NULL, gets the LSO the
 * read used: an offset in [LSO, readable end] is a valid position with
 * nothing to read yet), and *abortedp / *aborted_countp get the aborted
 * transactions that may have data in what was read (lgi_malloc'd, NULL /
 * 0 when none; the caller frees), for the reader to skip (fetch.h). */
lg_err_t lgi_partition_read_committed(lgi_partition_t *partition,
                                      int64_t offset, size_t max_bytes,
                                      uint8_t **datap, size_t *lenp,
                                      int64_t *stablep,
                                      lgi_aborted_txn_t **abortedp,
                                      size_t *aborted_countp);

/* The aborted transactions that may have data in [offset, upper), from
 * the .txnindex of the segments from the one holding offset on, stopping
 * as Kafka does (txnindex.c): *listp lgi_malloc'd (NULL / 0 when none; the
 * caller frees).  LG_ERR_NOMEM. */
lg_err_t lgi_partition_aborted_txns(lgi_partition_t *partition,
                                    int64_t offset, int64_t upper,
                                    lgi_aborted_txn_t **listp,
                                    size_t *countp);

/* Log start offset and published end offset (either pointer may be NULL). */
void lgi_partition_watermarks(lgi_partition_t *partition, int64_t *log_start,
                              int64_t *log_end);

/* Earliest offset with timestamp >= timestamp_ms (time index + scan), or
 * the published end if none. */
lg_err_t lgi_partition_offset_for_time(lgi_partition_t *partition,
                                       int64_t timestamp_ms,
                                       int64_t *offsetp);

/* Highest offset known durable (fdatasync'd) -- what the engine
 * checkpoints as this partition's recovery point. */
int64_t lgi_partition_recovery_point(lgi_partition_t *partition);

/* Sets the leader epoch stamped on later batches; an epoch greater than
 * the cache's latest is recorded as (epoch, log end offset) in the
 * leader-epoch-checkpoint when its first batch is appended. */
lg_err_t lgi_partition_set_leader_epoch(lgi_partition_t *partition,
                                        int32_t epoch);

/* The latest epoch in the leader-epoch cache, -1 when it is empty. */
int32_t lgi_partition_latest_epoch(lgi_partition_t *partition);

/* Kafka's OffsetsForLeaderEpoch: for epoch, the largest epoch <= epoch in
 * the cache (*epoch_out) and the start offset of the next larger epoch or
 * the log end offset (*end_offset_out).  -1/-1 when the cache has no such
 * epoch. */
void lgi_partition_end_offset_for_epoch(lgi_partition_t *partition,
                                        int32_t epoch, int32_t *epoch_out,
                                        int64_t *end_offset_out);

/* Removes every record at or above offset (replication's truncation):
 * truncates the segment holding it, deletes later segments, trims indexes
 * and the leader-epoch cache, and makes that durable before returning. */
lg_err_t lgi_partition_truncate_to(lgi_partition_t *partition,
                                   int64_t offset);

/* Kafka's truncateFullyAndStartAt, for a replication follower whose log
 * lies below its leader's log start: removes every record and restarts
 * the log empty at offset (>= the old log end), log start included,
 * durably before returning.  Same concurrency rule as truncate_to. */
lg_err_t lgi_partition_restart_at(lgi_partition_t *partition,
                                  int64_t offset);

/* Counters and gauges for the engine's statistics: log start (base of
 * the first segment), published end, recovery point, segments and their
 * .log bytes.  Any thread. */
void lgi_partition_stats(lgi_partition_t *partition,
                         lgi_partition_stats_t *stats);

/* Number of segments (tests, stats). */
size_t lgi_partition_segment_count(lgi_partition_t *partition);

/* Reads since open whose position came from a remembered batch end
 * without a scan (*hitsp), and how many published batch ends are
 * remembered now (*rememberedp): 0 right after anything that cuts,
 * replaces or removes segment bytes ("Recent batch ends" in partition.c).
 * For tests.  Any thread. */
void lgi_partition_recent_ends(lgi_partition_t *partition, uint64_t *hitsp,
                               size_t *rememberedp);

/* ------------------------------------------------------------------------
 * Retention and cleaning support (cleaner.c is the only caller besides
 * open's recovery).  The cleaner's file protocol is documented atop
 * cleaner.c.
 * --------------------------------------------------------------------- */

/* Kind of the cleaner's per-group metafile: "<base>.cleaner-group.cleaned"
 * then ".swap", holding "end <offset>": the base of the first segment
 * after the group, so recovery knows which old segments a committed swap
 * replaces. */
#define LGI_CLEANER_GROUP_KIND ".cleaner-group"

struct lgi_segment;

/* The partition directory (immutable). */
const char *lgi_partition_path(const lgi_partition_t *partition);

/* A copy of the current configuration. */
void lgi_partition_config(lgi_partition_t *partition,
                          lgi_log_config_t *config);

/* Compaction's checkpoint: the first offset not yet cleaned (-1 until a
 * pass or a loaded checkpoint sets it).  Kept here so it lives and dies
 * with the partition; the engine persists it in cleaner-offset-checkpoint. */
int64_t lgi_partition_cleaner_offset(lgi_partition_t *partition);
void lgi_partition_set_cleaner_offset(lgi_partition_t *partition,
                                      int64_t offset);

/* The earliest tombstone delete horizon the last compaction pass left in
 * the log (-1 none known), so the cleaner comes back when it passes even
 * without new dirty data.  In memory only: after a restart tombstones
 * wait for the next pass the dirty ratio or max.compaction.lag.ms
 * triggers. */
int64_t lgi_partition_cleaner_horizon(lgi_partition_t *partition);
void lgi_partition_set_cleaner_horizon(lgi_partition_t *partition,
                                       int64_t horizon);

/* Bytes assigned in the active segment. */
int64_t lgi_partition_active_size(lgi_partition_t *partition);

/* The log start offset (first readable offset). */
int64_t lgi_partition_log_start(lgi_partition_t *partition);

/* Every segment but the active one, each referenced, ascending.  Release
 * with lgi_partition_segments_release. */
lg_err_t lgi_partition_sealed_segments(lgi_partition_t *partition,
                                       struct lgi_segment ***segmentsp,
                                       size_t *countp);
void lgi_partition_segments_release(struct lgi_segment **segments,
                                    size_t count);

/* Retention: deletes every sealed segment lying wholly below offset (the
 * active segment always stays) and moves the log start to the first kept
 * segment's base (or to offset itself when nothing is deleted and offset
 * is at most segments[0]'s base).  Files go <base>.*  -> *.deleted (dir
 * fsync'd) under the mutex, then are unlinked; readers holding a segment
 * keep reading through their fd, which closes with the last reference.
 * *deletedp gets the number of segments deleted. */
lg_err_t lgi_partition_delete_before(lgi_partition_t *partition,
                                     int64_t offset, size_t *deletedp);

/* Applies a checkpointed log start after open: as delete_before with
 * offset clamped to the published end (finishes a retention delete that a
 * crash interrupted before the files went). */
lg_err_t lgi_partition_set_log_start(lgi_partition_t *partition,
                                     int64_t offset);

/* Replaces the consecutive sealed segments old[0..count) by cleaned (the
 * in-memory half of the cleaner's swap; the files were swapped already),
 * under the mutex, so a reader snapshots either the old segments or the
 * new one, never a mix.  LG_ERR_INVALID_ARG when the list no longer holds
 * old[] consecutively (then nothing changes).  Drops the list's references
 * to old[] and takes one on cleaned. */
lg_err_t lgi_partition_swap_in(lgi_partition_t *partition,
                               struct lgi_segment *const *old, size_t count,
                               struct lgi_segment *cleaned);

#endif
