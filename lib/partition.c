/*
 * partition.c -- one partition's log: ordered segments, offsets, the
 * published and durable ends, rolling, recovery, the leader-epoch cache.
 *
 * Role: turn "append this batch" into a position in the active segment and
 * a write handed to the I/O engine, and tell readers what they may see.
 *
 * Three ends, always log_start <= durable_end <= published_end <= log_end:
 *   log_end        next offset to assign (under the mutex, at hand-off);
 *   published_end  end of the contiguous prefix of completed writes: only
 *                  this is readable.  Appends queue in a FIFO in offset
 *                  order; the I/O thread's completion callback marks an
 *                  entry done and advances published_end over the done
 *                  prefix, so a write that finishes early never exposes a
 *                  hole before it;
 *   durable_end    known fdatasync'd: the recovery point.  It advances when
 *                  an LGI_IO_SYNC write (acks=all) is published contiguous
 *                  with it, when an explicit sync (flush, or an acks=all
 *                  waiter behind acks=0/1 writes) completes, and to the new
 *                  base at a roll, which seals (fdatasyncs) the old segment
 *                  first.  So every segment before the active one is fully
 *                  synced and durable_end never passes unsynced bytes.
 *
 * acks: NONE returns after hand-off, LEADER when published, ALL when
 * durable_end covers the batch.  An acks=all batch must not be acknowledged
 * while an earlier batch is undurable: recovery truncates at the first
 * invalid byte, which would take the acknowledged batch with it.
 *
 * Rolling happens before an append when the active segment is non-empty
 * and: the batch would take it past segment.bytes; segment.ms has passed
 * since its first append; either index is full; or the batch's last offset
 * is not representable relative to its base.  A roll waits for in-flight
 * writes to drain (new appends wait meanwhile), seals the old segment
 * (index files written, .log and indexes fdatasync'd) and creates the new
 * one, fsyncing the directory so the new name survives a crash.
 *
 * Write failure (EIO, ENOSPC): the failed append and every append queued
 * after it fail (their bytes sit beyond a hole); new appends fail at once
 * until the queue drains; then the log is rolled back to published_end --
 * ftruncate, indexes trimmed, later segments deleted, log_end reset -- so
 * nothing half-written remains and later appends succeed once space is
 * back.
 *
 * fsync failure: waiters fail and the partition is fenced (LG_ERR_READ_ONLY
 * for appends until reopen).  After a failed fdatasync Linux may have
 * dropped the dirty pages and cleared the error, so a later fdatasync can
 * succeed without the data ever reaching the disk; continuing to append
 * would build acknowledged data on a possibly missing prefix.  Reopening
 * runs recovery, which re-reads and re-verifies what is really on disk.
 *
 * Log start: the first readable offset, segments[0]'s base at open, moved
 * forward by retention (lgi_partition_delete_before) and by a
 * checkpointed value applied after open.  Sealed segments may be replaced
 * by the cleaner (lgi_partition_swap_in, under the mutex); the cleaner's
 * file protocol is documented atop cleaner.c, and its recovery half runs
 * here at open (finish_cleaner_files) before segments are listed.
 *
 * Idempotent producers: batches with a producer id are checked against
 * the producer-state table (producer_state.c) under the mutex before an
 * offset is given: a retried duplicate is acknowledged with the original
 * offsets (once the original satisfies the caller's acks) and nothing is
 * written; a gap in the sequence is LG_ERR_OUT_OF_ORDER_SEQUENCE and an
 * old epoch LG_ERR_PRODUCER_FENCED.  The table is updated at hand-off and
 * cut back with the log at a rollback or truncation.  A snapshot
 * "<offset>.snapshot" is written at every roll (as of the new segment's
 * base) and at close (as of the log end); open loads the newest one not
 * past the recovered log end and replays batch headers from there, or
 * from the log start when there is none.
 *
 * Transactions: the last stable offset (LSO) is the first offset of the
 * oldest transaction not yet decided for readers -- open, or closed by a
 * marker that is not yet readable -- capped at the readable end.  It is
 * recomputed under the mutex whenever the readable end moves and kept in
 * an atomic for the consumers' lock-free "anything new?" checks; since it
 * only advances when the readable end does, watchers need no separate
 * signal.  An ABORT marker appends an entry to the active segment's
 * .txnindex at hand-off (txnindex.c); a read_committed read stops at the
 * LSO and returns the aborted transactions overlapping what it read.  At
 * open, segments whose .txnindex is stale (scanned by recovery, missing,
 * invalid) get it rebuilt by a replay of the log's batch headers: from
 * the producer snapshot on, seeded with the snapshot's open transactions,
 * in the same walk that rebuilds the producer table; from the first
 * segment only when a stale file lies below the snapshot.
 *
 * Writes done by the appender: a caller that waits for acks=1 (lg_append,
 * a follower's append) does a batch of at most LGI_IO_SMALL_WRITE_MAX
 * bytes itself with lgi_io_write_here, outside the mutex, and completes it
 * through the same write_done.  Handing it to the I/O thread would cost
 * two thread wake-ups -- the I/O thread's and then the caller's own --
 * for a copy into the page cache that takes a microsecond; Kafka's request
 * handler threads append to the log themselves for the same reason.  The
 * entry is in the FIFO like any other, so publication stays in offset
 * order, a roll or rollback still waits for it, and a failure is handled
 * as on the I/O thread.  What must never wait on the disk (lg_produce and
 * its sender), acks=all (group commit) and larger batches still go
 * through the I/O thread.
 *
 * Zero fill: while segment.preallocate.bytes is set, the active segment's
 * file is kept up to LGI_SEGMENT_ZERO_FILL_BYTES ahead of its logical end
 * with zeros (segment.c, ".log LAYOUT"), because an append that starts a
 * new page-cache page costs several times one that lands in an existing
 * page, and that is most of a small append's p99.  The appender of a
 * small batch (ZERO_FILL_MAX_BATCH) that leaves less than half of the
 * zeros ahead claims the next fill under the mutex and writes it after
 * its own batch is handed off (after it is published, when it writes that
 * batch itself), outside the mutex.  Large batches neither claim fills
 * nor need them.  The fill covers only bytes past every batch placed so
 * far; a batch that would be placed into a fill under way waits for it
 * (the try form backs off), so zeros never land on a batch.  The fill
 * counts as in flight, so a roll, rollback, truncation or close waits for
 * it, and every one of them cuts the file back to its logical end.  A
 * fill that fails is ignored: appends then extend the file as without it,
 * and report a full disk themselves.
 *
 * Locking: one mutex per partition guards everything here and the
 * segments' mutable fields; one condvar signals completion, drain and
 * sync progress.  Readers snapshot (segment reference, byte limit, index
 * position or a remembered batch end) under the mutex and pread outside
 * it, a fetch's batches in one pread; the I/O thread takes the
 * mutex only in the completion callback.  Rolls and rollbacks hold the
 * mutex across I/O, so a caller that must never wait on the disk (a
 * producer's own thread handing off its batch) uses the try form, which
 * only try-locks and backs off from anything that would wait or do I/O.
 */
#include "partition.h"

#include "alloc.h"
#include "batch.h"
#include "err.h"
#include "metafile.h"
#include "producer_state.h"
#include "segment.h"
#include "txnindex.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EPOCH_CHECKPOINT_NAME "leader-epoch-checkpoint"

/* ------------------------------------------------------------------------
 * Types
 * --------------------------------------------------------------------- */

/* One append between hand-off and completion. */
typedef struct append_entry {
    struct append_entry *next; /* FIFO link */
    lgi_partition_t *partition;
    lgi_segment_t *segment; /* referenced */
    int64_t position;
    size_t len;
    int64_t base_offset;
    int64_t end_offset; /* last offset + 1 */
    uint8_t *batch;     /* freed once written */
    struct iovec iov;
    lgi_io_req_t req;
    int sync;        /* LGI_IO_SYNC requested (acks=all) */
    int done;        /* completion callback ran */
    int result;      /* its result */
    int fsync_failed;/* the write landed, its fdatasync did not */
    int finished;    /* left the FIFO: published or failed */
    lg_err_t error;  /* outcome once finished */
    int has_waiter;  /* the appending thread will read the outcome */
    int acks;        /* for asynchronous appends: when to call done */
    lgi_append_done_fn done_fn; /* non-NULL: asynchronous append */
    void *done_opaque;
} append_entry_t;

/* An asynchronous acks=all append that is published but not yet known
 * durable: completed when durable_end reaches end_offset. */
typedef struct durable_waiter {
    struct durable_waiter *next;
    int64_t base_offset;
    int64_t end_offset;
    lgi_append_done_fn done_fn;
    void *done_opaque;
} durable_waiter_t;

typedef struct epoch_entry {
    int32_t epoch;
    int64_t start_offset;
} epoch_entry_t;

/* Recently published batch ends remembered for readers (see "Recent batch
 * ends" below). */
#define RECENT_ENDS 64

typedef struct recent_end {
    int64_t end_offset;           /* one past a published batch's last offset */
    const lgi_segment_t *segment; /* holding that batch: compared with the
                                     list's segments, never dereferenced */
    int64_t position;             /* the byte after that batch there */
} recent_end_t;

struct lgi_partition {
    char *path;
    char *epoch_path;
    lgi_log_config_t config;
    lgi_io_t *io;
    pthread_mutex_t mutex;
    pthread_cond_t cond;

    lgi_segment_t **segments; /* ascending base offset; last is active */
    size_t segment_count;
    size_t segment_cap;

    int64_t log_start;  /* first readable offset: segments[0]'s base until
                           retention or a checkpoint moves it past (never
                           past the active segment's base) */
    int64_t cleaner_offset; /* compaction's first dirty offset (the cleaner
                               checkpoint); -1 before any pass */
    int64_t cleaner_horizon; /* earliest delete horizon a pass left in the
                                log, -1 none known (not persisted) */
    uint64_t segments_version; /* bumped when segments leave or are
                                  replaced (not by a roll), so a reader
                                  that unlocked knows its index is stale */
    int64_t log_end;
    int64_t published_end;
    lgi_segment_t *published_segment; /* segment holding published_end's
                                         last byte (borrowed from list) */
    int64_t published_position;       /* its byte end there */
    int64_t durable_end;

    append_entry_t *fifo_head;
    append_entry_t *fifo_tail;
    size_t inflight; /* FIFO entries, plus one while a zero fill is under
                        way: what a roll, rollback, truncation or close
                        waits out before it touches the files */
    int zero_filling;       /* a zero fill of the active segment is under
                               way (file comment, "Zero fill") */
    int64_t zero_fill_from; /* its first byte: no batch may be placed at or
                               past it until the fill is done */

    int write_failed;      /* rollback pending */
    int64_t fail_offset;   /* base offset of the first failed append */
    lg_err_t write_error;  /* what the failure was */
    int fenced;            /* an fdatasync failed */
    int rolling;           /* a roll waits for the queue to drain */
    int syncing;           /* an explicit sync is running */

    /* Asynchronous acks=all appends waiting for durability, in offset
     * order, and the one asynchronous fdatasync that serves them (its
     * request lives here: at most one is in flight). */
    durable_waiter_t *durable_head;
    durable_waiter_t *durable_tail;
    int async_sync_inflight;
    int64_t async_sync_target;
    lgi_segment_t *async_sync_segment;
    lgi_io_req_t async_sync_req;

    /* Watchers told when published_end advances (see partition.h). */
    lgi_partition_watch_t *watchers;

    epoch_entry_t *epochs; /* ascending epoch and start offset */
    size_t epoch_count;
    size_t epoch_cap;
    int32_t current_epoch; /* stamped on new batches; -1 none */

    lgi_producer_state_t *producers; /* idempotent producers' sequences */
    int64_t snapshot_offsets[2];     /* the two newest snapshots written
                                        since open (-1 none): older ones
                                        are deleted */

    lgi_partition_counters_t counters; /* statistics; relaxed atomics */

    /* Replication (see partition.h): readers see up to min(published_end,
     * read_limit); appends go through append_hook when one is set.  Both
     * are read without the mutex (atomic loads). */
    int64_t read_limit; /* INT64_MAX unless replicated */
    const lgi_append_hook_t *append_hook;

    /* The LSO as of the last change of the readable end (written under
     * the mutex, read lock-free: see the file comment). */
    int64_t stable_end;

    /* The last recent_count published batch ends, newest at
     * recent_next - 1 (mod RECENT_ENDS), in ascending end offset. */
    recent_end_t recent_ends[RECENT_ENDS];
    unsigned recent_next;
    unsigned recent_count;
    uint64_t recent_hits; /* reads positioned by them (tests) */

    /* Threads giving signals they deferred past the mutex (see
     * unlock_and_signal). */
    atomic_int signalling;
};

/* ------------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

/* published_end is written under the mutex but read lock-free by
 * lgi_partition_published_end, so every store is atomic (release: a
 * reader that sees the new end also sees the bytes the write put in the
 * page cache before completion). */
static void store_published_end(lgi_partition_t *partition, int64_t end) {
    __atomic_store_n(&partition->published_end, end, __ATOMIC_RELEASE);
}

int64_t lgi_partition_published_end(lgi_partition_t *partition) {
    int64_t end = __atomic_load_n(&partition->published_end, __ATOMIC_ACQUIRE);
    int64_t limit = __atomic_load_n(&partition->read_limit, __ATOMIC_ACQUIRE);
    return end < limit ? end : limit;
}

int64_t lgi_partition_end_offset(lgi_partition_t *partition) {
    return __atomic_load_n(&partition->published_end, __ATOMIC_ACQUIRE);
}

/* What readers may see.  Mutex held. */
static int64_t visible_end(lgi_partition_t *partition) {
    int64_t limit = __atomic_load_n(&partition->read_limit, __ATOMIC_ACQUIRE);
    return partition->published_end < limit ? partition->published_end
                                            : limit;
}

static void complete_durable_waiters(lgi_partition_t *partition);

/* The last stable offset.  Mutex held. */
static int64_t last_stable(lgi_partition_t *partition) {
    int64_t end = visible_end(partition);
    int64_t first =
        lgi_producer_state_first_unstable(partition->producers, end);
    return first >= 0 && first < end ? first : end;
}

/* Refreshes the lock-free copy of the LSO.  Mutex held. */
static void update_stable_end(lgi_partition_t *partition) {
    __atomic_store_n(&partition->stable_end, last_stable(partition),
                     __ATOMIC_RELEASE);
}

int64_t lgi_partition_stable_end(lgi_partition_t *partition) {
    return __atomic_load_n(&partition->stable_end, __ATOMIC_ACQUIRE);
}

/* Watchers to signal once the mutex is released (see lgi_partition_watch_t):
 * filled under the mutex by notify_watchers, emptied by unlock_and_signal.
 * A watcher beyond the first SIGNALS_DEFERRED is signalled at once. */
#define SIGNALS_DEFERRED 16

typedef struct signals {
    lgi_partition_watch_t *watches[SIGNALS_DEFERRED];
    size_t count;
} signals_t;

/* Tells every watcher the readable end moved; the signals they ask for
 * are left in deferred, or given at once when deferred is NULL.  Mutex
 * held. */
static void notify_watchers(lgi_partition_t *partition, signals_t *deferred) {
    for (lgi_partition_watch_t *w = partition->watchers; w; w = w->next) {
        if (!w->notify(w))
            continue;
        if (deferred && deferred->count < SIGNALS_DEFERRED)
            deferred->watches[deferred->count++] = w;
        else
            w->signal(w);
    }
}

/* Releases the mutex, then gives the deferred signals.  `signalling`
 * counts threads between the two, so that unwatch, which unlinks under
 * the mutex, can wait until no deferred signal of its watch is left. */
static void unlock_and_signal(lgi_partition_t *partition,
                              signals_t *deferred) {
    if (deferred->count > 0)
        atomic_fetch_add(&partition->signalling, 1);
    pthread_mutex_unlock(&partition->mutex);
    if (deferred->count == 0)
        return;
    for (size_t i = 0; i < deferred->count; i++)
        deferred->watches[i]->signal(deferred->watches[i]);
    atomic_fetch_sub(&partition->signalling, 1);
}

void lgi_partition_watch(lgi_partition_t *partition,
                         lgi_partition_watch_t *watch) {
    pthread_mutex_lock(&partition->mutex);
    watch->prev = NULL;
    watch->next = partition->watchers;
    if (partition->watchers)
        partition->watchers->prev = watch;
    partition->watchers = watch;
    pthread_mutex_unlock(&partition->mutex);
}

void lgi_partition_unwatch(lgi_partition_t *partition,
                           lgi_partition_watch_t *watch) {
    /* notify runs under the mutex, so once we hold it no notify of this
     * watch is running, and after unlinking none will start; a signal
     * deferred past the mutex is waited for below. */
    pthread_mutex_lock(&partition->mutex);
    if (watch->prev)
        watch->prev->next = watch->next;
    else if (partition->watchers == watch)
        partition->watchers = watch->next;
    if (watch->next)
        watch->next->prev = watch->prev;
    watch->prev = watch->next = NULL;
    pthread_mutex_unlock(&partition->mutex);
    /* A signal deferred before the unlink may still be on its way. */
    while (atomic_load(&partition->signalling) > 0)
        sched_yield();
}

/* Marks the partition read-only after a failed fdatasync (under the
 * mutex), telling the engine's log the first time. */
static void fence(lgi_partition_t *partition) {
    if (!partition->fenced)
        lgi_log(lgi_io_logger(partition->io), LG_LOG_ERROR,
                "partition %s fenced: an fdatasync failed, so appends get "
                "LG_ERR_READ_ONLY until the engine is reopened",
                partition->path);
    partition->fenced = 1;
}

static lgi_segment_t *active_segment(lgi_partition_t *partition) {
    return partition->segments[partition->segment_count - 1];
}

/* Index of the last segment whose base offset is <= offset (0 if none). */
static size_t segment_index_for(lgi_partition_t *partition, int64_t offset) {
    size_t low = 0, high = partition->segment_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (partition->segments[mid]->base_offset <= offset)
            low = mid + 1;
        else
            high = mid;
    }
    return low == 0 ? 0 : low - 1;
}

static lg_err_t push_segment(lgi_partition_t *partition,
                             lgi_segment_t *segment) {
    if (partition->segment_count == partition->segment_cap) {
        size_t cap = partition->segment_cap ? partition->segment_cap * 2 : 8;
        lgi_segment_t **segments =
            lgi_realloc(partition->segments, cap * sizeof(*segments));
        if (!segments)
            return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                             partition->path);
        partition->segments = segments;
        partition->segment_cap = cap;
    }
    partition->segments[partition->segment_count++] = segment;
    return LG_OK;
}

/* Deletes (unlinks and drops) every segment after index keep. */
static lg_err_t delete_segments_after(lgi_partition_t *partition,
                                      size_t keep) {
    lg_err_t err = LG_OK;
    while (partition->segment_count > keep + 1) {
        lgi_segment_t *segment =
            partition->segments[--partition->segment_count];
        lg_err_t e = lgi_segment_delete(segment);
        if (err == LG_OK)
            err = e;
        if (partition->published_segment == segment)
            partition->published_segment = NULL;
        lgi_segment_unref(segment);
    }
    return err;
}

static lg_err_t errno_to_err(int errnum) {
    return errnum == ENOSPC ? LG_ERR_DISK_FULL : LG_ERR_IO;
}

/* ------------------------------------------------------------------------
 * Recent batch ends
 *
 * A consumer following the tail asks for the offset just past the batch
 * it read last, which is usually the end of a batch published a moment
 * ago.  Finding its position the general way takes the offset index and
 * then a walk of batch headers from the index entry, one pread each (up
 * to index.interval.bytes / batch size of them).  So every publish
 * remembers (end offset -> segment, byte after the batch) in a small
 * ring, and a read looks there first, under the mutex.
 *
 * An entry holds while its segment is in the list and the bytes before
 * its position there are the ones that were published.  Appends and
 * rolls only add bytes past the published end, so they keep every entry.
 * Whatever cuts or replaces bytes or removes segments forgets the whole
 * ring in the critical section that makes the change (readers look only
 * under the mutex, so none sees the change with the old ring): a write
 * failure's rollback (maybe_rollback; it cuts only unpublished bytes,
 * but it truncates and deletes segments, so it forgets rather than rely
 * on that), a replica's truncation (lgi_partition_truncate_to, so also
 * restart_at, which then starts a segment of its own and forgets again),
 * retention and log-start deletion (lgi_partition_delete_before), and
 * the cleaner's swap (lgi_partition_swap_in): every change of
 * segments_version forgets.  Deleting a topic closes its partitions and
 * their rings.  As a second guard, a read uses an entry only when its
 * segment is the list's segment for the offset (compared by address,
 * which forgetting at every removal keeps unambiguous) and its position
 * lies within that segment's readable bytes.
 *
 * Ends enter in publish order and published_end moves back only in a
 * truncation, which forgets, so the ring is in ascending end offset.
 * --------------------------------------------------------------------- */

/* Remembers a published batch end.  Mutex held. */
static void recent_end_note(lgi_partition_t *partition, int64_t end_offset,
                            const lgi_segment_t *segment, int64_t position) {
    recent_end_t *end = &partition->recent_ends[partition->recent_next];
    end->end_offset = end_offset;
    end->segment = segment;
    end->position = position;
    partition->recent_next = (partition->recent_next + 1) % RECENT_ENDS;
    if (partition->recent_count < RECENT_ENDS)
        partition->recent_count++;
}

/* Forgets every remembered end.  Mutex held. */
static void recent_ends_forget(lgi_partition_t *partition) {
    partition->recent_count = 0;
}

/* The newest remembered end at or below offset, NULL when none (tail
 * followers find theirs in the first slot looked at).  Mutex held. */
static const recent_end_t *recent_end_find(const lgi_partition_t *partition,
                                           int64_t offset) {
    unsigned count = partition->recent_count;
    unsigned next = partition->recent_next;
    if (count == 0 ||
        partition->recent_ends[(next + RECENT_ENDS - count) % RECENT_ENDS]
                .end_offset > offset)
        return NULL;
    for (unsigned k = 1; k <= count; k++) {
        const recent_end_t *end =
            &partition->recent_ends[(next + RECENT_ENDS - k) % RECENT_ENDS];
        if (end->end_offset <= offset)
            return end;
    }
    return NULL;
}

/* Where a read of offset may start in segment, the list's segment for
 * offset, whose readable bytes end at limit.  Returns 1 when a remembered
 * end is offset itself, with *positionp set to the batch there (the first
 * with an offset >= offset, so the one holding it); else 0, having moved
 * *positionp (a batch boundary at or below the batch holding offset,
 * from the offset index) forward to a remembered end closer to offset,
 * if there is one.  Mutex held. */
static int recent_position(lgi_partition_t *partition,
                           const lgi_segment_t *segment, int64_t offset,
                           int64_t limit, int64_t *positionp) {
    const recent_end_t *end = recent_end_find(partition, offset);
    if (!end || end->segment != segment || end->position > limit)
        return 0;
    if (end->end_offset == offset && end->position < limit) {
        *positionp = end->position;
        partition->recent_hits++;
        return 1;
    }
    if (end->position > *positionp)
        *positionp = end->position;
    return 0;
}

/* ------------------------------------------------------------------------
 * Leader-epoch cache
 *
 * Kafka's leader-epoch-checkpoint text: "0\n<count>\n" then one
 * "<epoch> <startOffset>\n" per entry (version 0), followed here by the
 * metafile checksum line.
 * --------------------------------------------------------------------- */

static lg_err_t epochs_store(lgi_partition_t *partition) {
    size_t cap = 32 + partition->epoch_count * 34;
    char *body = lgi_malloc(cap);
    size_t len;
    lg_err_t err;
    if (!body)
        return lgi_error(LG_ERR_NOMEM, "%s: out of memory",
                         partition->epoch_path);
    len = (size_t)snprintf(body, cap, "0\n%zu\n", partition->epoch_count);
    for (size_t i = 0; i < partition->epoch_count; i++)
        len += (size_t)snprintf(body + len, cap - len, "%" PRId32 " %" PRId64
                                "\n", partition->epochs[i].epoch,
                                partition->epochs[i].start_offset);
    err = lgi_metafile_write(partition->epoch_path, body, len);
    lgi_free(body);
    return err;
}

static lg_err_t epochs_push(lgi_partition_t *partition, int32_t epoch,
                            int64_t start_offset) {
    if (partition->epoch_count == partition->epoch_cap) {
        size_t cap = partition->epoch_cap ? partition->epoch_cap * 2 : 8;
        epoch_entry_t *epochs =
            lgi_realloc(partition->epochs, cap * sizeof(*epochs));
        if (!epochs)
            return lgi_error(LG_ERR_NOMEM, "%s: out of memory",
                             partition->epoch_path);
        partition->epochs = epochs;
        partition->epoch_cap = cap;
    }
    partition->epochs[partition->epoch_count].epoch = epoch;
    partition->epochs[partition->epoch_count].start_offset = start_offset;
    partition->epoch_count++;
    return LG_OK;
}

static int32_t epochs_latest(const lgi_partition_t *partition) {
    return partition->epoch_count
               ? partition->epochs[partition->epoch_count - 1].epoch
               : -1;
}

/* Drops entries starting at or after offset (Kafka's truncateFromEnd);
 * returns 1 if any went. */
static int epochs_truncate(lgi_partition_t *partition, int64_t offset) {
    size_t before = partition->epoch_count;
    while (partition->epoch_count > 0 &&
           partition->epochs[partition->epoch_count - 1].start_offset >=
               offset)
        partition->epoch_count--;
    return partition->epoch_count != before;
}

/* Parses the checkpoint body; 0 on success, -1 when malformed. */
static int epochs_parse(lgi_partition_t *partition, const char *body) {
    char *end;
    long version = strtol(body, &end, 10);
    long long count;
    if (end == body || version != 0 || *end != '\n')
        return -1;
    body = end + 1;
    count = strtoll(body, &end, 10);
    if (end == body || count < 0 || *end != '\n')
        return -1;
    body = end + 1;
    partition->epoch_count = 0;
    for (long long i = 0; i < count; i++) {
        long long epoch = strtoll(body, &end, 10);
        if (end == body || *end != ' ' || epoch < 0 || epoch > INT32_MAX)
            return -1;
        body = end + 1;
        long long start = strtoll(body, &end, 10);
        if (end == body || *end != '\n' || start < 0)
            return -1;
        body = end + 1;
        if (partition->epoch_count > 0 &&
            (epoch <= epochs_latest(partition) ||
             start < partition->epochs[partition->epoch_count - 1]
                         .start_offset))
            return -1;
        if (epochs_push(partition, (int32_t)epoch, start) != LG_OK)
            return -1;
    }
    return *body == '\0' ? 0 : -1;
}

/* Recovery callback: Kafka assigns a batch's epoch when it is newer than
 * the cache's latest. */
static int epochs_learn(void *opaque, const lgi_batch_header_t *header) {
    lgi_partition_t *partition = opaque;
    if (header->partition_leader_epoch >= 0 &&
        header->partition_leader_epoch > epochs_latest(partition))
        (void)epochs_push(partition, header->partition_leader_epoch,
                          header->base_offset);
    return 0;
}

/* Recovery callback for scanned segments when the checkpoint was read.
 * append stores the checkpoint before it writes the first batch of a
 * newer epoch, so every batch that really reached the disk carries the
 * epoch the checkpoint gives its offset (-1 before the first entry).  The
 * epoch field lies outside the batch CRC (Kafka's format): a batch whose
 * first sector was torn while its later sectors landed passes the CRC
 * with a wrong epoch, which would make a replica's log look more or less
 * up to date than it is (found by test_replica_sim's torn sectors).  Such
 * a batch is rejected: the log is truncated there. */
static int epochs_check(void *opaque, const lgi_batch_header_t *header) {
    lgi_partition_t *partition = opaque;
    int32_t expected = -1;
    for (size_t i = partition->epoch_count; i-- > 0;)
        if (partition->epochs[i].start_offset <= header->base_offset) {
            expected = partition->epochs[i].epoch;
            break;
        }
    return header->partition_leader_epoch == expected ? 0 : -1;
}

/* Feeds every batch header of segment to epochs_learn (used when the
 * checkpoint file is missing or corrupt). */
static lg_err_t epochs_learn_segment(lgi_partition_t *partition,
                                     lgi_segment_t *segment) {
    int64_t position = 0;
    while (position < segment->size) {
        lgi_batch_header_t header;
        lg_err_t err = lgi_segment_read_header(segment, position,
                                               segment->size, &header);
        if (err != LG_OK)
            return err;
        epochs_learn(partition, &header);
        position += (int64_t)lgi_batch_size(&header);
    }
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Open and close
 * --------------------------------------------------------------------- */

static int compare_offsets(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the base offsets of the *.log files in path, sorted. */
static lg_err_t list_segments(const char *path, int64_t **basesp,
                              size_t *countp) {
    DIR *dir = opendir(path);
    struct dirent *entry;
    int64_t *bases = NULL;
    size_t count = 0, cap = 0;
    if (!dir)
        return lgi_error_errno(LG_ERR_IO, errno, "open directory %s", path);
    while ((entry = readdir(dir)) != NULL) {
        int64_t base;
        if (!lgi_segment_parse_name(entry->d_name, &base))
            continue;
        if (count == cap) {
            size_t new_cap = cap ? cap * 2 : 16;
            int64_t *grown = lgi_realloc(bases, new_cap * sizeof(*grown));
            if (!grown) {
                lgi_free(bases);
                closedir(dir);
                return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                                 path);
            }
            bases = grown;
            cap = new_cap;
        }
        bases[count++] = base;
    }
    closedir(dir);
    if (count > 1)
        qsort(bases, count, sizeof(*bases), compare_offsets);
    *basesp = bases;
    *countp = count;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Interrupted retention and cleaning (the file protocol is spelled out
 * atop cleaner.c; this is its recovery half, run before segments are
 * listed)
 * --------------------------------------------------------------------- */

/* Suffix after "<20 digits>.<kind>" of name, or NULL when name is not a
 * segment file; *basep and *kindp (".log", ".index", ".timeindex", or
 * the cleaner's group file) set. */
static const char *segment_file_suffix(const char *name, int64_t *basep,
                                       const char **kindp) {
    static const char *const kinds[] = {".log", ".index", ".timeindex",
                                        ".txnindex", LGI_CLEANER_GROUP_KIND};
    int64_t base = 0;
    for (int i = 0; i < LGI_SEGMENT_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return NULL;
        base = base * 10 + (name[i] - '0');
    }
    const char *rest = name + LGI_SEGMENT_NAME_DIGITS;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t len = strlen(kinds[k]);
        if (strncmp(rest, kinds[k], len) == 0 &&
            (rest[len] == '\0' || rest[len] == '.')) {
            *basep = base;
            *kindp = kinds[k];
            return rest + len;
        }
    }
    return NULL;
}

static char *join_path(const char *dir, const char *name) {
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = lgi_malloc(len);
    if (path)
        snprintf(path, len, "%s/%s", dir, name);
    return path;
}

static void unlink_name(const char *dir, const char *name) {
    char *path = join_path(dir, name);
    if (path)
        unlink(path);
    lgi_free(path);
}

/* The group end recorded in "<base>.cleaner-group.swap", or -1. */
static int64_t read_group_end(const char *dir, int64_t base) {
    char name[64];
    snprintf(name, sizeof name, "%020" PRId64 "%s.swap", base,
             LGI_CLEANER_GROUP_KIND);
    char *path = join_path(dir, name), *body = NULL;
    size_t len;
    long long end = -1;
    if (path && lgi_metafile_read(path, &body, &len) == LG_OK &&
        sscanf(body, "end %lld", &end) != 1)
        end = -1;
    lgi_free(body);
    lgi_free(path);
    lgi_error_clear();
    return end;
}

/* Completes or discards what a crash interrupted:
 *   *.cleaned                      never committed: removed;
 *   <B>.log.swap                   committed: segments with base in
 *                                  (B, group end) removed, <B>'s .swap
 *                                  indexes renamed over the live ones (a
 *                                  missing .swap was renamed already; one
 *                                  that cannot be renamed removes the live
 *                                  one, to be rebuilt),
 *                                  <B>.log.swap renamed to <B>.log;
 *   other *.swap                   (no .log.swap) never committed: removed;
 *   *.deleted                      retention or a swap decided: removed;
 *   .index/.timeindex/.txnindex without .log left by a partial delete:
 *                                  removed. */
static lg_err_t finish_cleaner_files(const char *path) {
    DIR *dir = opendir(path);
    struct dirent *entry;
    int changed = 0;
    int64_t *swaps = NULL;
    size_t swap_count = 0, swap_cap = 0;
    lg_err_t err = LG_OK;
    if (!dir)
        return lgi_error_errno(LG_ERR_IO, errno, "open directory %s", path);
    /* Pass 1: drop .cleaned and .deleted files, collect committed swaps. */
    while ((entry = readdir(dir)) != NULL) {
        int64_t base;
        const char *kind;
        const char *suffix = segment_file_suffix(entry->d_name, &base, &kind);
        if (!suffix)
            continue;
        if (strcmp(suffix, ".cleaned") == 0 ||
            strcmp(suffix, ".deleted") == 0) {
            unlink_name(path, entry->d_name);
            changed = 1;
        } else if (strcmp(suffix, ".swap") == 0 &&
                   strcmp(kind, ".log") == 0) {
            if (swap_count == swap_cap) {
                size_t cap = swap_cap ? swap_cap * 2 : 4;
                int64_t *grown = lgi_realloc(swaps, cap * sizeof(*grown));
                if (!grown) {
                    err = lgi_error(LG_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                swaps = grown;
                swap_cap = cap;
            }
            swaps[swap_count++] = base;
        }
    }
    closedir(dir);
    /* Pass 2: complete each committed swap. */
    for (size_t i = 0; i < swap_count && err == LG_OK; i++) {
        int64_t base = swaps[i];
        int64_t end = read_group_end(path, base);
        int64_t *bases = NULL;
        size_t count = 0;
        if ((err = list_segments(path, &bases, &count)) != LG_OK)
            break;
        for (size_t j = 0; j < count && err == LG_OK; j++)
            if (bases[j] > base && bases[j] < end)
                err = lgi_segment_files_unlink(path, bases[j], "");
        lgi_free(bases);
        char name[64];
        static const char *const index_kinds[] = {".index", ".timeindex",
                                                  ".txnindex"};
        for (int k = 0; k < 3 && err == LG_OK; k++) {
            const char *kind = index_kinds[k];
            char *swap_path, *live_path;
            snprintf(name, sizeof name, "%020" PRId64 "%s.swap", base, kind);
            swap_path = join_path(path, name);
            snprintf(name, sizeof name, "%020" PRId64 "%s", base, kind);
            live_path = join_path(path, name);
            if (!swap_path || !live_path)
                err = lgi_error(LG_ERR_NOMEM, "%s: out of memory", path);
            else if (rename(swap_path, live_path) != 0 && errno != ENOENT)
                unlink(live_path); /* no new index: rebuilt at load */
            /* A missing .swap was renamed over the live one already (the
             * cleaner writes all three before its commit), so the live
             * file is the new one. */
            lgi_free(swap_path);
            lgi_free(live_path);
        }
        if (err == LG_OK)
            err = lgi_segment_files_rename(path, base, ".swap", "", 1);
        snprintf(name, sizeof name, "%020" PRId64 "%s.swap", base,
                 LGI_CLEANER_GROUP_KIND);
        unlink_name(path, name);
        changed = 1;
    }
    lgi_free(swaps);
    if (err != LG_OK)
        return err;
    /* Pass 3: uncommitted .swap files and orphaned indexes. */
    if (!(dir = opendir(path)))
        return lgi_error_errno(LG_ERR_IO, errno, "open directory %s", path);
    while ((entry = readdir(dir)) != NULL) {
        int64_t base;
        const char *kind;
        const char *suffix = segment_file_suffix(entry->d_name, &base, &kind);
        if (!suffix)
            continue;
        int orphan = 0;
        if (*suffix == '\0' && strcmp(kind, ".log") != 0 &&
            strcmp(kind, LGI_CLEANER_GROUP_KIND) != 0) {
            char name[64];
            struct stat st;
            snprintf(name, sizeof name, "%020" PRId64 ".log", base);
            char *log_path = join_path(path, name);
            orphan = log_path && stat(log_path, &st) != 0 && errno == ENOENT;
            lgi_free(log_path);
        }
        if (strcmp(suffix, ".swap") == 0 || orphan) {
            unlink_name(path, entry->d_name);
            changed = 1;
        }
    }
    closedir(dir);
    return changed ? lgi_fsync_dir(path) : LG_OK;
}

static void partition_free(lgi_partition_t *partition) {
    for (size_t i = 0; i < partition->segment_count; i++)
        lgi_segment_unref(partition->segments[i]);
    lgi_free(partition->segments);
    lgi_free(partition->epochs);
    lgi_producer_state_free(partition->producers);
    lgi_free(partition->path);
    lgi_free(partition->epoch_path);
    pthread_mutex_destroy(&partition->mutex);
    pthread_cond_destroy(&partition->cond);
    lgi_free(partition);
}

/* Loads the checkpoint; 1 when it was usable. */
static int epochs_load(lgi_partition_t *partition) {
    char *body = NULL;
    size_t len;
    int ok = 0;
    if (!lgi_metafile_exists(partition->epoch_path))
        return 0;
    if (lgi_metafile_read(partition->epoch_path, &body, &len) == LG_OK &&
        epochs_parse(partition, body) == 0)
        ok = 1;
    else
        partition->epoch_count = 0;
    lgi_free(body);
    lgi_error_clear();
    return ok;
}

/* The mutex spins a little before it sleeps, where the C library can
 * (glibc's adaptive kind).  Its usual hold is a few hundred nanoseconds,
 * and its typical contention is a consumer woken by an append taking it
 * to read while the appender is still finishing up: sleeping on the futex
 * and being woken would cost that consumer several microseconds. */
static void partition_mutex_init(pthread_mutex_t *mutex) {
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_t attributes;
    if (pthread_mutexattr_init(&attributes) == 0) {
        int ok = pthread_mutexattr_settype(&attributes,
                                           PTHREAD_MUTEX_ADAPTIVE_NP) == 0 &&
                 pthread_mutex_init(mutex, &attributes) == 0;
        pthread_mutexattr_destroy(&attributes);
        if (ok)
            return;
    }
#endif
    pthread_mutex_init(mutex, NULL);
}

/* Recovers the segments listed in bases (see partition.h for the rule). */
static lg_err_t recover_segments(lgi_partition_t *partition,
                                 const int64_t *bases, size_t count,
                                 int64_t recovery_point, int clean_shutdown,
                                 int epochs_ok) {
    const lgi_log_config_t *config = &partition->config;
    lg_err_t err;
    size_t i;

    for (i = 0; i < count; i++) {
        lgi_segment_t *segment;
        err = lgi_segment_open(partition->path, bases[i],
                               config->index_interval_bytes,
                               config->segment_index_bytes, &segment);
        if (err != LG_OK)
            return err;
        if ((err = push_segment(partition, segment)) != LG_OK) {
            lgi_segment_unref(segment);
            return err;
        }
    }
    for (i = 0; i < partition->segment_count; i++) {
        lgi_segment_t *segment = partition->segments[i];
        int last = i + 1 == partition->segment_count;
        int trusted = clean_shutdown ||
                      (!last && partition->segments[i + 1]->base_offset <=
                                    recovery_point);
        if (trusted) {
            int rebuilt = 0;
            err = lgi_segment_load(segment, epochs_learn, partition, &rebuilt);
            /* A rebuilt index is written back at once for a sealed segment
             * (the active one is stored when it is sealed or closed). */
            if (err == LG_OK && rebuilt && !last)
                err = lgi_segment_seal(segment);
            if (err != LG_OK)
                return err;
            if (!epochs_ok && (err = epochs_learn_segment(partition,
                                                          segment)) != LG_OK)
                return err;
            continue;
        }
        int64_t truncated = 0;
        err = lgi_segment_recover(segment,
                                  epochs_ok ? epochs_check : epochs_learn,
                                  partition, &truncated, NULL);
        if (err != LG_OK)
            return err;
        /* The scanned bytes may exist only in the page cache of a crashed
         * process: make them durable before calling them recovered. */
        if ((err = (last ? lgi_segment_sync(segment)
                         : lgi_segment_seal(segment))) != LG_OK)
            return err;
        if (truncated > 0 || (!last && partition->segments[i + 1]->base_offset <
                                           segment->next_offset)) {
            lgi_log(lgi_io_logger(partition->io), LG_LOG_WARNING,
                    "recovery: %s: segment %020lld truncated by %lld bytes "
                    "at its first invalid batch; %zu later segment(s) "
                    "deleted",
                    partition->path, (long long)segment->base_offset,
                    (long long)truncated, partition->segment_count - i - 1);
            /* Everything after the first invalid byte goes, later
             * segments included: they follow a hole. */
            err = delete_segments_after(partition, i);
            if (err != LG_OK)
                return err;
            if ((err = lgi_fsync_dir(partition->path)) != LG_OK)
                return err;
            break;
        }
    }
    return LG_OK;
}

/* Whether header's batch goes through the producer-state table: it has a
 * producer id and either is a transaction marker or carries a sequence
 * (a batch with an id but sequence -1 is not idempotent and is taken as
 * it is). */
static int producer_tracked(const lgi_batch_header_t *header) {
    return header->producer_id >= 0 &&
           (header->base_sequence >= 0 ||
            (header->attributes & LGI_ATTR_CONTROL));
}

/* Feeds the batch at position of segment (header read) to replay; when
 * the segment's .txnindex is being rebuilt (stale), reads a marker's
 * control record to tell an abort from a commit and appends the entry an
 * abort yields.  buf is scratch for the marker. */
static lg_err_t txn_replay_batch(lgi_partition_t *partition,
                                 lgi_txn_replay_t *replay,
                                 lgi_segment_t *segment, int64_t position,
                                 const lgi_batch_header_t *header, int stale,
                                 lgi_buf_t *buf) {
    int type = -1;
    if (stale && header->producer_id >= 0 &&
        (header->attributes & LGI_ATTR_CONTROL)) {
        size_t size = lgi_batch_size(header);
        buf->len = 0;
        if (lgi_buf_reserve(buf, size) != 0)
            return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                             partition->path);
        lg_err_t err = lgi_segment_pread(segment, position, buf->data, size);
        if (err != LG_OK)
            return err;
        type = lgi_batch_control_type(buf->data, header);
    }
    lgi_aborted_txn_t aborted;
    int produced = lgi_txn_replay_feed(replay, header, type, &aborted);
    if (produced < 0)
        return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                         partition->path);
    if (produced && stale)
        return lgi_txnindex_append(&segment->txn_index,
                                   segment->txn_index_path, &aborted);
    return LG_OK;
}

/* Ends the rebuild of a stale segment's .txnindex: written and synced. */
static lg_err_t txn_index_rebuilt(lgi_segment_t *segment) {
    lg_err_t err = lgi_txnindex_store(&segment->txn_index,
                                      segment->txn_index_path, 1);
    if (err == LG_OK)
        segment->txn_index_stale = 0;
    return err;
}

static int seed_replay(void *opaque, int64_t producer_id,
                       int64_t first_offset) {
    return lgi_txn_replay_open(opaque, producer_id, first_offset);
}

/* Loads the newest usable producer snapshot and replays the batch headers
 * after it (every batch when there is none) into the producer table.  The
 * same walk rebuilds the stale .txnindex files it covers whole (usually
 * the segments recovery scanned): the snapshot's open transactions
 * (CurrentTxnFirstOffset) seed the replay, so nothing before the snapshot
 * is read.  Stale files of earlier segments are left to
 * txn_indexes_rebuild. */
static lg_err_t producers_rebuild(lgi_partition_t *partition) {
    int64_t from;
    lg_err_t err = lgi_producer_state_load_latest(
        partition->producers, partition->path, partition->log_end, &from);
    if (err != LG_OK)
        return err;
    size_t first_stale = 0;
    while (first_stale < partition->segment_count &&
           !partition->segments[first_stale]->txn_index_stale)
        first_stale++;
    lgi_txn_replay_t *replay = NULL;
    lgi_buf_t buf = LGI_BUF_INIT;
    if (first_stale < partition->segment_count && from >= 0 &&
        partition->segments[first_stale]->base_offset >= from) {
        if (!(replay = lgi_txn_replay_new()) ||
            lgi_producer_state_each_open_txn(partition->producers,
                                             seed_replay, replay) != 0) {
            lgi_txn_replay_free(replay);
            return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                             partition->path);
        }
    }
    for (size_t i = 0; i < partition->segment_count && err == LG_OK; i++) {
        lgi_segment_t *segment = partition->segments[i];
        if (segment->next_offset <= from)
            continue;
        /* Only segments wholly after the snapshot (base >= from, as every
         * stale one is when replay is set). */
        int stale = replay && segment->txn_index_stale;
        if (stale)
            lgi_txnindex_reset(&segment->txn_index);
        int64_t position = 0;
        while (position < segment->size) {
            lgi_batch_header_t header;
            err = lgi_segment_read_header(segment, position, segment->size,
                                          &header);
            if (err != LG_OK)
                break;
            if (producer_tracked(&header) &&
                lgi_batch_last_offset(&header) >= from &&
                (err = lgi_producer_state_update(
                     partition->producers, &header, INT64_MAX,
                     header.max_timestamp)) != LG_OK)
                break;
            if (replay && lgi_batch_last_offset(&header) >= from &&
                (err = txn_replay_batch(partition, replay, segment, position,
                                        &header, stale, &buf)) != LG_OK)
                break;
            position += (int64_t)lgi_batch_size(&header);
        }
        if (err == LG_OK && stale)
            err = txn_index_rebuilt(segment);
    }
    lgi_buf_free(&buf);
    lgi_txn_replay_free(replay);
    return err;
}

/* Rebuilds the .txnindex of every segment still stale after
 * producers_rebuild (its file was missing or invalid below the producer
 * snapshot, or there was no snapshot): one replay of the batch headers
 * from the first segment to the last stale one -- earlier segments only
 * to learn which transactions are open.  Rebuilt files are written and
 * fdatasync'd. */
static lg_err_t txn_indexes_rebuild(lgi_partition_t *partition) {
    size_t last_stale = SIZE_MAX;
    for (size_t i = 0; i < partition->segment_count; i++)
        if (partition->segments[i]->txn_index_stale)
            last_stale = i;
    if (last_stale == SIZE_MAX)
        return LG_OK;
    lgi_txn_replay_t *replay = lgi_txn_replay_new();
    lgi_buf_t buf = LGI_BUF_INIT;
    lg_err_t err = LG_OK;
    if (!replay)
        return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                         partition->path);
    for (size_t i = 0; i <= last_stale && err == LG_OK; i++) {
        lgi_segment_t *segment = partition->segments[i];
        int stale = segment->txn_index_stale;
        if (stale)
            lgi_txnindex_reset(&segment->txn_index);
        for (int64_t position = 0; position < segment->size && err == LG_OK;) {
            lgi_batch_header_t header;
            err = lgi_segment_read_header(segment, position, segment->size,
                                          &header);
            if (err == LG_OK)
                err = txn_replay_batch(partition, replay, segment, position,
                                       &header, stale, &buf);
            position += (int64_t)lgi_batch_size(&header);
        }
        if (err == LG_OK && stale)
            err = txn_index_rebuilt(segment);
    }
    lgi_buf_free(&buf);
    lgi_txn_replay_free(replay);
    return err;
}

/* Writes the producer snapshot as of offset (the log end, nothing in
 * flight) and deletes the one two snapshots back.  A failure only costs a
 * longer replay at the next open, so it is not reported. */
static void producers_snapshot(lgi_partition_t *partition, int64_t offset) {
    if (offset == partition->snapshot_offsets[1])
        return;
    if (lgi_producer_state_write_snapshot(partition->producers,
                                          partition->path, offset) != LG_OK) {
        lgi_error_clear();
        return;
    }
    int64_t old = partition->snapshot_offsets[0];
    partition->snapshot_offsets[0] = partition->snapshot_offsets[1];
    partition->snapshot_offsets[1] = offset;
    if (old >= 0) {
        char name[48];
        snprintf(name, sizeof name, "%020" PRId64 ".snapshot", old);
        unlink_name(partition->path, name);
    }
}

lg_err_t lgi_partition_open(const char *path, const lgi_log_config_t *config,
                            lgi_io_t *io, int64_t recovery_point,
                            int clean_shutdown, int64_t now_ms,
                            lgi_partition_t **partitionp) {
    lgi_partition_t *partition;
    int64_t *bases = NULL;
    size_t count = 0;
    lg_err_t err;
    int epochs_ok;

    if (!path || !config || !io || !partitionp)
        return lgi_error(LG_ERR_INVALID_ARG, "partition open: NULL argument");
    partition = lgi_calloc(1, sizeof(*partition));
    if (partition)
        partition->read_limit = INT64_MAX;
    if (!partition)
        return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory", path);
    partition_mutex_init(&partition->mutex);
    pthread_cond_init(&partition->cond, NULL);
    partition->config = *config;
    partition->io = io;
    partition->current_epoch = -1;
    partition->snapshot_offsets[0] = partition->snapshot_offsets[1] = -1;
    partition->producers = lgi_producer_state_new();
    partition->path = lgi_strdup(path);
    partition->epoch_path =
        lgi_malloc(strlen(path) + sizeof("/" EPOCH_CHECKPOINT_NAME));
    if (!partition->path || !partition->epoch_path || !partition->producers) {
        partition_free(partition);
        return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory", path);
    }
    sprintf(partition->epoch_path, "%s/%s", path, EPOCH_CHECKPOINT_NAME);

    epochs_ok = epochs_load(partition);
    err = finish_cleaner_files(path);
    if (err == LG_OK)
        err = list_segments(path, &bases, &count);
    if (err == LG_OK)
        err = recover_segments(partition, bases, count, recovery_point,
                               clean_shutdown, epochs_ok);
    lgi_free(bases);
    if (err == LG_OK && partition->segment_count == 0) {
        lgi_segment_t *segment;
        err = lgi_segment_create(path, 0, config->index_interval_bytes,
                                 config->segment_index_bytes, &segment);
        if (err == LG_OK && (err = push_segment(partition, segment)) != LG_OK)
            lgi_segment_unref(segment);
        if (err == LG_OK)
            err = lgi_fsync_dir(path);
    }
    if (err != LG_OK) {
        partition_free(partition);
        return err;
    }

    lgi_segment_t *active = active_segment(partition);
    partition->log_start = partition->segments[0]->base_offset;
    partition->cleaner_offset = -1;
    partition->cleaner_horizon = -1;
    partition->log_end = active->next_offset;
    store_published_end(partition, partition->log_end);
    partition->published_segment = active;
    partition->published_position = active->size;
    /* Trusted segments were synced before their recovery point was
     * written, scanned ones were synced above; a clean shutdown synced
     * everything. */
    partition->durable_end = partition->log_end;
    if (active->size > 0)
        active->first_append_ms = now_ms;
    if (epochs_truncate(partition, partition->log_end) || !epochs_ok) {
        err = epochs_store(partition);
        if (err != LG_OK) {
            partition_free(partition);
            return err;
        }
    }
    if ((err = producers_rebuild(partition)) != LG_OK ||
        (err = txn_indexes_rebuild(partition)) != LG_OK) {
        partition_free(partition);
        return err;
    }
    update_stable_end(partition);
    *partitionp = partition;
    return LG_OK;
}

lg_err_t lgi_partition_close(lgi_partition_t *partition) {
    lg_err_t err;
    if (!partition)
        return LG_OK;
    err = lgi_partition_flush(partition);
    pthread_mutex_lock(&partition->mutex);
    /* The asynchronous fdatasync's request lives in the partition; a zero
     * fill still running would grow the file the seal cuts back. */
    while (partition->async_sync_inflight || partition->inflight > 0)
        pthread_cond_wait(&partition->cond, &partition->mutex);
    complete_durable_waiters(partition);
    if (!partition->fenced) {
        lg_err_t e = lgi_segment_seal(active_segment(partition));
        if (err == LG_OK)
            err = e;
        if (e == LG_OK && !partition->write_failed)
            producers_snapshot(partition, partition->log_end);
    }
    pthread_mutex_unlock(&partition->mutex);
    partition_free(partition);
    return err;
}

void lgi_partition_set_config(lgi_partition_t *partition,
                              const lgi_log_config_t *config) {
    pthread_mutex_lock(&partition->mutex);
    partition->config = *config;
    pthread_mutex_unlock(&partition->mutex);
}

/* ------------------------------------------------------------------------
 * Completion (I/O thread)
 * --------------------------------------------------------------------- */

static void entry_free(append_entry_t *entry) {
    lgi_segment_unref(entry->segment);
    lgi_free(entry->batch);
    lgi_free(entry);
}

/* Moves the done prefix of the FIFO out: publishes successful entries,
 * fails those at or after the first failed one.  Mutex held. */
static void finish_async(lgi_partition_t *partition, append_entry_t *entry);

static void advance_published(lgi_partition_t *partition,
                              signals_t *deferred) {
    append_entry_t *entry;
    int64_t published_before = partition->published_end;
    while ((entry = partition->fifo_head) != NULL && entry->done) {
        partition->fifo_head = entry->next;
        if (!partition->fifo_head)
            partition->fifo_tail = NULL;
        partition->inflight--;
        if (partition->write_failed &&
            entry->base_offset >= partition->fail_offset) {
            entry->error = partition->write_error;
        } else {
            store_published_end(partition, entry->end_offset);
            partition->published_segment = entry->segment;
            partition->published_position =
                entry->position + (int64_t)entry->len;
            recent_end_note(partition, entry->end_offset, entry->segment,
                            partition->published_position);
            if (entry->fsync_failed) {
                entry->error = LG_ERR_IO; /* message set by the waiter */
            } else {
                entry->error = LG_OK;
                if (entry->sync && !partition->fenced &&
                    entry->base_offset <= partition->durable_end &&
                    entry->end_offset > partition->durable_end)
                    partition->durable_end = entry->end_offset;
            }
        }
        entry->finished = 1;
        if (entry->done_fn)
            finish_async(partition, entry);
        if (!entry->has_waiter)
            entry_free(entry);
    }
    if (partition->durable_head)
        complete_durable_waiters(partition);
    if (partition->published_end != published_before) {
        update_stable_end(partition);
        notify_watchers(partition, deferred);
    }
}

/* Whether a failed LGI_IO_SYNC write failed in its fdatasync (the bytes
 * were all written) rather than in the write. */
static int failed_in_fsync(const lgi_io_req_t *req) {
    return (req->flags & LGI_IO_SYNC) && req->written >= req->len;
}

static void write_done(lgi_io_req_t *req, int result) {
    append_entry_t *entry = req->opaque;
    lgi_partition_t *partition = entry->partition;

    pthread_mutex_lock(&partition->mutex);
    entry->done = 1;
    entry->result = result;
    lgi_free(entry->batch);
    entry->batch = NULL;
    if (result < 0) {
        if (failed_in_fsync(req)) {
            entry->fsync_failed = 1;
            fence(partition);
        } else if (!partition->write_failed ||
                   entry->base_offset < partition->fail_offset) {
            partition->write_failed = 1;
            partition->fail_offset = entry->base_offset;
            partition->write_error = errno_to_err(-result);
        }
    }
    signals_t deferred = {.count = 0};
    advance_published(partition, &deferred);
    pthread_cond_broadcast(&partition->cond);
    unlock_and_signal(partition, &deferred);
}

/* ------------------------------------------------------------------------
 * Asynchronous appends: completing them without a waiting thread
 * --------------------------------------------------------------------- */

static void start_async_sync(lgi_partition_t *partition);

/* Completes every durable waiter now covered by durable_end, and fails
 * all of them once the partition is fenced.  Mutex held. */
static void complete_durable_waiters(lgi_partition_t *partition) {
    durable_waiter_t *waiter;
    while ((waiter = partition->durable_head) != NULL &&
           (partition->fenced ||
            waiter->end_offset <= partition->durable_end)) {
        partition->durable_head = waiter->next;
        if (!partition->durable_head)
            partition->durable_tail = NULL;
        if (partition->fenced && waiter->end_offset > partition->durable_end)
            waiter->done_fn(waiter->done_opaque, LG_ERR_IO, -1);
        else
            waiter->done_fn(waiter->done_opaque, LG_OK, waiter->base_offset);
        lgi_free(waiter);
    }
    if (partition->durable_head && !partition->async_sync_inflight)
        start_async_sync(partition);
}

static void async_sync_done(lgi_io_req_t *req, int result) {
    lgi_partition_t *partition = req->opaque;
    pthread_mutex_lock(&partition->mutex);
    partition->async_sync_inflight = 0;
    lgi_segment_unref(partition->async_sync_segment);
    partition->async_sync_segment = NULL;
    if (result < 0)
        fence(partition);
    else if (partition->async_sync_target > partition->durable_end)
        partition->durable_end = partition->async_sync_target;
    complete_durable_waiters(partition);
    pthread_cond_broadcast(&partition->cond);
    pthread_mutex_unlock(&partition->mutex);
}

/* One fdatasync of the segment holding the published end: everything
 * published before it is issued becomes durable (earlier segments were
 * sealed, hence synced, at their roll).  Mutex held. */
static void start_async_sync(lgi_partition_t *partition) {
    lgi_segment_t *segment = partition->published_segment
                                 ? partition->published_segment
                                 : active_segment(partition);
    partition->async_sync_inflight = 1;
    partition->async_sync_target = partition->published_end;
    partition->async_sync_segment = segment;
    lgi_segment_ref(segment);
    memset(&partition->async_sync_req, 0, sizeof partition->async_sync_req);
    partition->async_sync_req.op = LGI_IO_FSYNC;
    partition->async_sync_req.fd = segment->fd;
    partition->async_sync_req.done = async_sync_done;
    partition->async_sync_req.opaque = partition;
    lgi_io_submit(partition->io, &partition->async_sync_req);
}

/* An asynchronous append left the FIFO: report it, or park it until it is
 * durable.  Mutex held (the done callbacks only signal, by contract). */
static void finish_async(lgi_partition_t *partition, append_entry_t *entry) {
    if (entry->error != LG_OK) {
        entry->done_fn(entry->done_opaque, entry->error, -1);
        return;
    }
    if (entry->acks != LG_ACKS_ALL ||
        entry->end_offset <= partition->durable_end) {
        entry->done_fn(entry->done_opaque, LG_OK, entry->base_offset);
        return;
    }
    durable_waiter_t *waiter = lgi_malloc(sizeof *waiter);
    if (!waiter) {
        /* The data is written; only the wait for its fdatasync cannot be
         * tracked.  Report the failure rather than a false success. */
        entry->done_fn(entry->done_opaque, LG_ERR_NOMEM, -1);
        return;
    }
    waiter->next = NULL;
    waiter->base_offset = entry->base_offset;
    waiter->end_offset = entry->end_offset;
    waiter->done_fn = entry->done_fn;
    waiter->done_opaque = entry->done_opaque;
    if (partition->durable_tail)
        partition->durable_tail->next = waiter;
    else
        partition->durable_head = waiter;
    partition->durable_tail = waiter;
    if (!partition->async_sync_inflight)
        start_async_sync(partition);
}

/* ------------------------------------------------------------------------
 * Zero fill (file comment)
 * --------------------------------------------------------------------- */

/* Only an append of at most this many bytes claims a fill.  A write
 * spanning pages pays for each new page wherever it starts, so zeros
 * ahead of large batches would only add a second copy of every byte:
 * about a tenth of lg_produce's throughput, whose batches are large. */
#define ZERO_FILL_MAX_BATCH 4096

/* How far ahead of the active segment's end zeros are kept. */
static int64_t zero_fill_ahead(const lgi_partition_t *partition) {
    int64_t ahead = partition->config.preallocate_bytes;
    return ahead < LGI_SEGMENT_ZERO_FILL_BYTES ? ahead
                                               : LGI_SEGMENT_ZERO_FILL_BYTES;
}

/* Whether an append of len bytes that takes the active segment's
 * logical end to end is due to write a zero fill: it is small, zeros are
 * wanted, none is under way, less than half of them lie ahead of end, and
 * the segment may still grow past end.  Mutex held. */
static int zero_fill_due(lgi_partition_t *partition, size_t len,
                         int64_t end) {
    int64_t ahead = zero_fill_ahead(partition);
    return len <= ZERO_FILL_MAX_BATCH && ahead > 0 &&
           !partition->zero_filling &&
           active_segment(partition)->zeroed_to - end < ahead / 2 &&
           end < partition->config.segment_bytes;
}

/* Claims the zero fill due after the active segment's last batch, of
 * len bytes: [*fromp, *top) of *segmentp, in flight until zero_fill_run
 * ends.  Returns 0 when none is due.  Mutex held. */
static int zero_fill_claim(lgi_partition_t *partition, size_t len,
                           lgi_segment_t **segmentp, int64_t *fromp,
                           int64_t *top) {
    lgi_segment_t *active = active_segment(partition);
    if (!zero_fill_due(partition, len, active->size))
        return 0;
    int64_t from = active->zeroed_to > active->size ? active->zeroed_to
                                                    : active->size;
    int64_t to = from + zero_fill_ahead(partition);
    if (to > partition->config.segment_bytes)
        to = partition->config.segment_bytes;
    if (to <= from)
        return 0;
    partition->zero_filling = 1;
    partition->zero_fill_from = from;
    partition->inflight++;
    *segmentp = active;
    *fromp = from;
    *top = to;
    return 1;
}

/* Writes a claimed fill and ends it.  Mutex not held.  The segment stays
 * active meanwhile: a roll waits for the fill. */
static void zero_fill_run(lgi_partition_t *partition, lgi_segment_t *segment,
                          int64_t from, int64_t to) {
    lgi_io_req_t req;
    struct iovec iov;
    lgi_segment_zero_fill_req(segment, from, to, &req, &iov);
    /* A failure is left to the appends that follow (file comment); the
     * file may hold part of the zeros, which zeroed_to covers either way. */
    (void)lgi_io_write_here(partition->io, &req);
    pthread_mutex_lock(&partition->mutex);
    if (segment->zeroed_to < to)
        segment->zeroed_to = to;
    partition->zero_filling = 0;
    partition->inflight--;
    pthread_cond_broadcast(&partition->cond);
    pthread_mutex_unlock(&partition->mutex);
}

/* ------------------------------------------------------------------------
 * Rollback, roll, sync (mutex held)
 * --------------------------------------------------------------------- */

/* After a write failure, once the queue has drained: cut the log back to
 * published_end. */
static lg_err_t maybe_rollback(lgi_partition_t *partition) {
    if (!partition->write_failed || partition->inflight > 0)
        return LG_OK;
    int64_t end = partition->published_end;
    size_t keep = segment_index_for(partition, end);
    lgi_segment_t *segment = partition->segments[keep];
    int64_t position = segment == partition->published_segment
                           ? partition->published_position
                           : 0;
    recent_ends_forget(partition);
    lg_err_t err = delete_segments_after(partition, keep);
    if (err == LG_OK)
        err = lgi_segment_truncate_bytes(segment, position, end);
    if (err != LG_OK)
        return err; /* still pending: retried by the next append */
    partition->published_segment = segment;
    partition->published_position = position;
    partition->log_end = end;
    lgi_producer_state_truncate(partition->producers, end);
    update_stable_end(partition);
    if (partition->durable_end > end)
        partition->durable_end = end;
    if (epochs_truncate(partition, end))
        (void)epochs_store(partition);
    partition->write_failed = 0;
    return LG_OK;
}

/* Seals the active segment and starts a new one at log_end.  The queue is
 * empty and no failure is pending. */
static lg_err_t roll(lgi_partition_t *partition, int64_t now_ms) {
    lgi_segment_t *old = active_segment(partition), *segment;
    lg_err_t err = lgi_segment_seal(old);
    if (err == LG_ERR_IO) {
        /* The seal's fdatasync (or index write) failed: see the file
         * comment. */
        fence(partition);
        return err;
    }
    if (err != LG_OK)
        return err; /* ENOSPC or ENOMEM storing an index: retried next time */
    if (partition->durable_end < partition->log_end)
        partition->durable_end = partition->log_end;
    complete_durable_waiters(partition);
    lgi_producer_state_expire(partition->producers,
                              now_ms - LGI_PRODUCER_ID_EXPIRATION_MS);
    producers_snapshot(partition, partition->log_end);
    err = lgi_segment_create(partition->path, partition->log_end,
                             partition->config.index_interval_bytes,
                             partition->config.segment_index_bytes, &segment);
    if (err != LG_OK)
        return err;
    if ((err = push_segment(partition, segment)) != LG_OK) {
        lgi_segment_delete(segment);
        lgi_segment_unref(segment);
        return err;
    }
    return lgi_fsync_dir(partition->path);
}

/* segment.ms counts from the engine clock's now_ms at the segment's first
 * append (or at open, for a non-empty active segment after a restart),
 * not from record timestamps as Kafka does: producer-chosen timestamps
 * can be far in the past or future, and one stale timestamp would roll on
 * every append. */
static int roll_needed(lgi_partition_t *partition, size_t len,
                       int64_t last_offset, int64_t now_ms) {
    const lgi_log_config_t *config = &partition->config;
    lgi_segment_t *active = active_segment(partition);
    if (active->size == 0)
        return 0;
    return active->size + (int64_t)len > config->segment_bytes ||
           (config->segment_ms > 0 && active->first_append_ms >= 0 &&
            now_ms - active->first_append_ms >= config->segment_ms) ||
           lgi_index_is_full(&active->offset_index) ||
           lgi_index_is_full(&active->time_index) ||
           lgi_segment_offset_overflows(active, last_offset);
}

/* Makes durable_end reach target (<= published_end): group commit among
 * callers -- one caller runs an LGI_IO_FSYNC of the segment holding the
 * published end while the others wait for its outcome. */
static lg_err_t sync_through(lgi_partition_t *partition, int64_t target) {
    while (partition->durable_end < target) {
        if (partition->fenced)
            return lgi_error(LG_ERR_IO,
                             "partition %s: fenced after a failed fdatasync",
                             partition->path);
        if (partition->syncing) {
            pthread_cond_wait(&partition->cond, &partition->mutex);
            continue;
        }
        partition->syncing = 1;
        int64_t snapshot = partition->published_end;
        lgi_segment_t *segment = partition->published_segment
                                     ? partition->published_segment
                                     : active_segment(partition);
        lgi_segment_ref(segment);
        pthread_mutex_unlock(&partition->mutex);
        lgi_io_req_t req;
        memset(&req, 0, sizeof(req));
        req.op = LGI_IO_FSYNC;
        req.fd = segment->fd;
        int result = lgi_io_submit_wait(partition->io, &req);
        pthread_mutex_lock(&partition->mutex);
        partition->syncing = 0;
        pthread_cond_broadcast(&partition->cond);
        if (result < 0) {
            fence(partition);
            complete_durable_waiters(partition);
            lg_err_t err = lgi_error_errno(LG_ERR_IO, -result,
                                           "fdatasync %s; partition fenced",
                                           segment->log_path);
            lgi_segment_unref(segment);
            return err == LG_ERR_DISK_FULL ? LG_ERR_IO : err;
        }
        lgi_segment_unref(segment);
        if (snapshot > partition->durable_end)
            partition->durable_end = snapshot;
        complete_durable_waiters(partition);
    }
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Append
 * --------------------------------------------------------------------- */

/* What a failed write's code means, for messages: a full disk must read
 * as one ("disk full"), not as a generic I/O failure. */
static const char *write_failure_text(lg_err_t err) {
    return err == LG_ERR_DISK_FULL ? "disk full (No space left on device)"
                                   : "write failed (I/O error)";
}

/* A retried batch the log already holds at [.., original_last]: waits
 * (mutex held, released while waiting) until the original is published,
 * and durable too for acks=all, so the duplicate is acknowledged exactly
 * when the original would be.  The original's failure is returned as the
 * duplicate's (the rollback then forgets it, and a further retry is
 * appended afresh). */
static lg_err_t await_duplicate(lgi_partition_t *partition, int acks,
                                int64_t original_last) {
    if (acks == LG_ACKS_NONE)
        return LG_OK;
    while (partition->published_end <= original_last &&
           !partition->write_failed && !partition->fenced)
        pthread_cond_wait(&partition->cond, &partition->mutex);
    if (partition->published_end <= original_last)
        return lgi_error(partition->fenced ? LG_ERR_READ_ONLY
                                           : partition->write_error,
                         "append to %s: the original of this retried batch "
                         "failed", partition->path);
    if (acks == LG_ACKS_ALL)
        return sync_through(partition, original_last + 1);
    return LG_OK;
}

/* The append path shared by the waiting and the asynchronous forms.  With
 * done_fn NULL it returns once acks holds; otherwise it returns after
 * hand-off (errors it returns happened before hand-off, and done_fn has
 * not been called for them).  With would_blockp (asynchronous form only),
 * nothing that could wait is done: when the hand-off would have to wait
 * for the mutex (held across I/O by a roll or a rollback), for a roll, or
 * would do I/O itself (rollback, leader-epoch checkpoint, fallocate,
 * zero fill, .txnindex) or wait for a zero fill, it sets *would_blockp,
 * changes nothing and returns LG_OK with batch still the caller's. */
static lg_err_t append(lgi_partition_t *partition, uint8_t *batch,
                       size_t len, int acks, int64_t now_ms,
                       lgi_append_done_fn done_fn, void *done_opaque,
                       int64_t *base_offsetp, int replica_origin,
                       int *would_blockp) {
    lgi_batch_header_t header;
    append_entry_t *entry;
    lg_err_t err;

    if (!partition || !batch) {
        lgi_free(batch);
        return lgi_error(LG_ERR_INVALID_ARG, "append: NULL argument");
    }
    if (acks != LG_ACKS_NONE && acks != LG_ACKS_LEADER && acks != LG_ACKS_ALL) {
        lgi_free(batch);
        return lgi_error(LG_ERR_INVALID_ARG, "append: acks %d is not 0, 1 or -1",
                         acks);
    }
    if (lgi_batch_parse_header(batch, len, len, &header) != LG_OK ||
        lgi_batch_size(&header) != len) {
        lgi_free(batch);
        return lgi_error(LG_ERR_INVALID_ARG,
                         "append to %s: not one encoded record batch of %zu "
                         "bytes", partition->path, len);
    }
    entry = lgi_calloc(1, sizeof(*entry));
    if (!entry) {
        lgi_free(batch);
        return lgi_error(LG_ERR_NOMEM, "append to %s: out of memory",
                         partition->path);
    }
    entry->partition = partition;
    entry->batch = batch;
    entry->len = len;

    if (!would_blockp)
        pthread_mutex_lock(&partition->mutex);
    else if (pthread_mutex_trylock(&partition->mutex) != 0)
        goto would_block_unlocked;
    if (len > (size_t)partition->config.max_message_bytes) {
        err = lgi_error(LG_ERR_RECORD_TOO_LARGE,
                        "append to %s: batch of %zu bytes exceeds "
                        "max.message.bytes %" PRId32,
                        partition->path, len,
                        partition->config.max_message_bytes);
        goto fail;
    }
    for (;;) {
        if (partition->fenced) {
            err = lgi_error(LG_ERR_READ_ONLY,
                            "append to %s: partition is read-only after a "
                            "failed fdatasync; reopen to recover",
                            partition->path);
            goto fail;
        }
        if (would_blockp && partition->write_failed &&
            partition->inflight == 0)
            goto would_block; /* the rollback truncates files */
        if ((err = maybe_rollback(partition)) != LG_OK)
            goto fail;
        if (partition->write_failed) {
            err = lgi_error(partition->write_error,
                            "append to %s: %s: an earlier write failed and "
                            "the log is being rolled back",
                            partition->path,
                            write_failure_text(partition->write_error));
            goto fail;
        }
        if (would_blockp && partition->rolling)
            goto would_block;
        if (partition->rolling) {
            pthread_cond_wait(&partition->cond, &partition->mutex);
            continue;
        }
        if (partition->zero_filling &&
            active_segment(partition)->size + (int64_t)len >
                partition->zero_fill_from) {
            /* The batch would land where zeros are being written. */
            if (would_blockp)
                goto would_block;
            pthread_cond_wait(&partition->cond, &partition->mutex);
            continue;
        }
        if (!roll_needed(partition, len,
                         partition->log_end + header.last_offset_delta,
                         now_ms))
            break;
        if (would_blockp)
            goto would_block;
        if (partition->inflight > 0) {
            partition->rolling = 1;
            while (partition->inflight > 0)
                pthread_cond_wait(&partition->cond, &partition->mutex);
            partition->rolling = 0;
            pthread_cond_broadcast(&partition->cond);
            continue; /* re-check: a failure may need a rollback first */
        }
        if ((err = roll(partition, now_ms)) != LG_OK)
            goto fail;
    }

    if (would_blockp) {
        lgi_segment_t *active = active_segment(partition);
        if ((header.attributes & LGI_ATTR_CONTROL) ||
            (partition->current_epoch >= 0 &&
             partition->current_epoch > epochs_latest(partition)) ||
            (partition->config.preallocate_bytes > 0 &&
             active->size + (int64_t)len > active->preallocated_to) ||
            zero_fill_due(partition, len, active->size + (int64_t)len))
            goto would_block;
    }

    /* A batch copied from a replication leader was validated there; the
     * follower only records it (Kafka's AppendOrigin.REPLICATION). */
    if (producer_tracked(&header) && !replica_origin) {
        int64_t original_first = -1, original_last = -1;
        switch (lgi_producer_state_check(partition->producers, &header,
                                         &original_first, &original_last)) {
        case LGI_SEQUENCE_OK:
            break;
        case LGI_SEQUENCE_DUPLICATE:
            if (would_blockp && acks != LG_ACKS_NONE)
                goto would_block;
            err = await_duplicate(partition, acks, original_last);
            pthread_mutex_unlock(&partition->mutex);
            lgi_free(entry);
            lgi_free(batch);
            if (err != LG_OK)
                return err;
            if (base_offsetp)
                *base_offsetp = original_first;
            if (done_fn)
                done_fn(done_opaque, LG_OK, original_first);
            return LG_OK;
        case LGI_SEQUENCE_OUT_OF_ORDER:
            err = lgi_error(LG_ERR_OUT_OF_ORDER_SEQUENCE,
                            "append to %s: producer %" PRId64 " epoch %d "
                            "sequence %" PRId32 " does not follow the last "
                            "one the log holds",
                            partition->path, header.producer_id,
                            (int)header.producer_epoch, header.base_sequence);
            goto fail;
        case LGI_SEQUENCE_FENCED:
            err = lgi_error(LG_ERR_PRODUCER_FENCED,
                            "append to %s: producer %" PRId64 " epoch %d is "
                            "older than the epoch the log has seen",
                            partition->path, header.producer_id,
                            (int)header.producer_epoch);
            goto fail;
        }
    }

    lgi_segment_t *active = active_segment(partition);
    int64_t base_offset = partition->log_end;
    int64_t last_offset = base_offset + header.last_offset_delta;
    if (partition->current_epoch >= 0 &&
        partition->current_epoch > epochs_latest(partition)) {
        if ((err = epochs_push(partition, partition->current_epoch,
                               base_offset)) != LG_OK)
            goto fail;
        if ((err = epochs_store(partition)) != LG_OK) {
            partition->epoch_count--;
            goto fail;
        }
    }
    lgi_batch_set_base_offset(batch, base_offset);
    lgi_batch_set_leader_epoch(batch, partition->current_epoch);

    if (producer_tracked(&header)) {
        header.base_offset = base_offset;
        if ((header.attributes & LGI_ATTR_CONTROL) &&
            lgi_batch_control_type(batch, &header) == LGI_CONTROL_ABORT) {
            /* Before the table closes the transaction: the entry needs
             * its first offset. */
            lgi_aborted_txn_t aborted = {.producer_id = header.producer_id,
                                         .last_offset = base_offset};
            lgi_producer_state_aborted_txn(
                partition->producers, header.producer_id, base_offset,
                &aborted.first_offset, &aborted.last_stable_offset);
            if ((err = lgi_txnindex_append(&active->txn_index,
                                           active->txn_index_path,
                                           &aborted)) != LG_OK)
                goto fail;
        }
        err = lgi_producer_state_update(partition->producers, &header,
                                        partition->published_end, now_ms);
        if (err != LG_OK) {
            lgi_txnindex_truncate_to(&active->txn_index, base_offset);
            goto fail;
        }
    }
    entry->position = active->size;
    err = lgi_segment_note_append(active, entry->position, len, last_offset,
                                  header.max_timestamp, now_ms);
    if (err != LG_OK) {
        lgi_producer_state_truncate(partition->producers, base_offset);
        lgi_txnindex_truncate_to(&active->txn_index, base_offset);
        goto fail;
    }
    active->size += (int64_t)len;
    if (partition->config.preallocate_bytes > 0 &&
        active->size > active->preallocated_to) {
        /* One fallocate per preallocate_bytes, never past segment.bytes
         * (unless this batch alone goes further). */
        int64_t target = active->size + partition->config.preallocate_bytes;
        int64_t cap = partition->config.segment_bytes > active->size
                          ? partition->config.segment_bytes
                          : active->size;
        lgi_segment_preallocate(active, target < cap ? target : cap);
    }
    partition->log_end = last_offset + 1;

    entry->segment = active;
    lgi_segment_ref(active);
    entry->base_offset = base_offset;
    entry->end_offset = last_offset + 1;
    entry->sync = acks == LG_ACKS_ALL;
    entry->has_waiter = !done_fn && acks != LG_ACKS_NONE;
    entry->acks = acks;
    /* acks=0: reported at hand-off below, not at completion. */
    entry->done_fn = acks == LG_ACKS_NONE ? NULL : done_fn;
    entry->done_opaque = done_opaque;
    if (partition->fifo_tail)
        partition->fifo_tail->next = entry;
    else
        partition->fifo_head = entry;
    partition->fifo_tail = entry;
    partition->inflight++;

    entry->iov.iov_base = batch;
    entry->iov.iov_len = len;
    entry->req.op = LGI_IO_WRITE;
    entry->req.fd = active->fd;
    entry->req.pos = (uint64_t)entry->position;
    entry->req.iov = &entry->iov;
    entry->req.iovcnt = 1;
    entry->req.flags = entry->sync ? LGI_IO_SYNC : 0;
    entry->req.done = write_done;
    entry->req.opaque = entry;
    /* A caller that waits for acks=1 writes a small batch itself (file
     * comment, "Writes done by the appender").  Otherwise the write is
     * queued under the mutex, so the engine sees writes in offset order;
     * the I/O thread woken after it, as its write_done needs the mutex
     * (see lgi_io_enqueue). */
    int write_here = entry->has_waiter && acks == LG_ACKS_LEADER &&
                     len <= LGI_IO_SMALL_WRITE_MAX;
    int wake = !write_here && lgi_io_enqueue(partition->io, &entry->req);
    lgi_segment_t *fill_segment = NULL;
    int64_t fill_from = 0, fill_to = 0;
    int fill = !would_blockp && zero_fill_claim(partition, len, &fill_segment,
                                                &fill_from, &fill_to);
    lgi_count(&partition->counters.records, (uint64_t)header.record_count);
    lgi_count(&partition->counters.bytes, len);
    lgi_count(&partition->counters.batches, 1);
    if (base_offsetp)
        *base_offsetp = base_offset;
    if (acks == LG_ACKS_NONE || done_fn) {
        pthread_mutex_unlock(&partition->mutex);
        if (wake)
            lgi_io_wake(partition->io);
        if (fill)
            zero_fill_run(partition, fill_segment, fill_from, fill_to);
        if (done_fn && acks == LG_ACKS_NONE)
            done_fn(done_opaque, LG_OK, base_offset);
        return LG_OK;
    }

    if (write_here || wake || fill) {
        pthread_mutex_unlock(&partition->mutex);
        if (write_here)
            write_done(&entry->req,
                       lgi_io_write_here(partition->io, &entry->req));
        else if (wake)
            lgi_io_wake(partition->io);
        /* After the batch is published when written here: the fill is not
         * on its latency. */
        if (fill)
            zero_fill_run(partition, fill_segment, fill_from, fill_to);
        pthread_mutex_lock(&partition->mutex);
    }
    while (!entry->finished)
        pthread_cond_wait(&partition->cond, &partition->mutex);
    err = entry->error;
    if (err != LG_OK) {
        if (entry->fsync_failed)
            lgi_error(err, "append to %s at offset %lld: fdatasync failed; "
                      "partition fenced until reopen",
                      partition->path, (long long)base_offset);
        else
            lgi_error(err, "append to %s at offset %lld: %s: the write of "
                      "this batch or an earlier one failed; log rolled back",
                      partition->path, (long long)base_offset,
                      write_failure_text(err));
    } else if (acks == LG_ACKS_ALL) {
        err = sync_through(partition, entry->end_offset);
    }
    (void)maybe_rollback(partition);
    pthread_mutex_unlock(&partition->mutex);
    entry_free(entry);
    return err;

fail:
    pthread_mutex_unlock(&partition->mutex);
    lgi_free(entry);
    lgi_free(batch);
    return err;

would_block:
    pthread_mutex_unlock(&partition->mutex);
would_block_unlocked:
    lgi_free(entry);
    *would_blockp = 1;
    return LG_OK;
}

static const lgi_append_hook_t *append_hook(lgi_partition_t *partition) {
    return __atomic_load_n(&partition->append_hook, __ATOMIC_ACQUIRE);
}

lg_err_t lgi_partition_append(lgi_partition_t *partition, uint8_t *batch,
                              size_t len, int acks, int64_t now_ms,
                              int64_t *base_offsetp) {
    const lgi_append_hook_t *hook = append_hook(partition);
    if (hook)
        return hook->append(hook->opaque, batch, len, acks, now_ms, NULL,
                            NULL, base_offsetp);
    return append(partition, batch, len, acks, now_ms, NULL, NULL,
                  base_offsetp, 0, NULL);
}

lg_err_t lgi_partition_append_direct(lgi_partition_t *partition,
                                     uint8_t *batch, size_t len, int acks,
                                     int64_t now_ms, int64_t *base_offsetp) {
    return append(partition, batch, len, acks, now_ms, NULL, NULL,
                  base_offsetp, 0, NULL);
}

lg_err_t lgi_partition_append_replica(lgi_partition_t *partition,
                                      uint8_t *batch, size_t len,
                                      int64_t now_ms, int64_t *base_offsetp) {
    return append(partition, batch, len, LG_ACKS_LEADER, now_ms, NULL, NULL,
                  base_offsetp, 1, NULL);
}

void lgi_partition_append_async(lgi_partition_t *partition, uint8_t *batch,
                                size_t len, int acks, int64_t now_ms,
                                lgi_append_done_fn done, void *opaque) {
    const lgi_append_hook_t *hook = append_hook(partition);
    lg_err_t err =
        hook ? hook->append(hook->opaque, batch, len, acks, now_ms, done,
                            opaque, NULL)
             : append(partition, batch, len, acks, now_ms, done, opaque,
                      NULL, 0, NULL);
    if (err != LG_OK)
        done(opaque, err, -1);
}

int lgi_partition_try_append_async(lgi_partition_t *partition,
                                   uint8_t *batch, size_t len, int acks,
                                   int64_t now_ms, lgi_append_done_fn done,
                                   void *opaque) {
    /* Replication's hook may wait (it appends through the same path):
     * replicated partitions are left to the blocking form. */
    if (append_hook(partition))
        return 0;
    int would_block = 0;
    lg_err_t err = append(partition, batch, len, acks, now_ms, done, opaque,
                          NULL, 0, &would_block);
    if (would_block)
        return 0;
    if (err != LG_OK)
        done(opaque, err, -1);
    return 1;
}

void lgi_partition_set_append_hook(lgi_partition_t *partition,
                                   const lgi_append_hook_t *hook) {
    __atomic_store_n(&partition->append_hook, hook, __ATOMIC_RELEASE);
}

int lgi_partition_replicated(lgi_partition_t *partition) {
    return append_hook(partition) != NULL;
}

void lgi_partition_set_read_limit(lgi_partition_t *partition, int64_t limit) {
    pthread_mutex_lock(&partition->mutex);
    int64_t before = visible_end(partition);
    __atomic_store_n(&partition->read_limit, limit, __ATOMIC_RELEASE);
    update_stable_end(partition);
    if (visible_end(partition) != before)
        notify_watchers(partition, NULL);
    pthread_mutex_unlock(&partition->mutex);
}

lg_err_t lgi_partition_flush(lgi_partition_t *partition) {
    lg_err_t err;
    pthread_mutex_lock(&partition->mutex);
    int64_t target = partition->log_end;
    while (partition->published_end < target && partition->inflight > 0)
        pthread_cond_wait(&partition->cond, &partition->mutex);
    (void)maybe_rollback(partition);
    if (target > partition->published_end)
        target = partition->published_end;
    err = sync_through(partition, target);
    pthread_mutex_unlock(&partition->mutex);
    return err;
}

/* ------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

/* Byte limit readers may see in segment index i.  Mutex held. */
static int64_t readable_limit(lgi_partition_t *partition, size_t i) {
    lgi_segment_t *segment = partition->segments[i];
    if (segment == partition->published_segment)
        return partition->published_position;
    if (segment->base_offset >= partition->published_end)
        return 0;
    return segment->size;
}

/* How far a read may go. */
enum read_mode {
    READ_UNCAPPED = 0,  /* the published end (replication's own reads) */
    READ_CAPPED = 1,    /* the read limit too (whole batches: replication
                           sets it at batch boundaries) */
    READ_COMMITTED = 2, /* the last stable offset too (a batch boundary:
                           the first batch of a transaction, or the end) */
};

static lg_err_t read_batches(lgi_partition_t *partition, int64_t offset,
                             size_t max_bytes, uint8_t **datap, size_t *lenp,
                             int mode, int64_t *capp);

lg_err_t lgi_partition_read(lgi_partition_t *partition, int64_t offset,
                            size_t max_bytes, uint8_t **datap, size_t *lenp) {
    return read_batches(partition, offset, max_bytes, datap, lenp,
                        READ_CAPPED, NULL);
}

lg_err_t lgi_partition_read_uncapped(lgi_partition_t *partition,
                                     int64_t offset, size_t max_bytes,
                                     uint8_t **datap, size_t *lenp) {
    return read_batches(partition, offset, max_bytes, datap, lenp,
                        READ_UNCAPPED, NULL);
}

/* Kafka's collectAbortedTransactions over the segments from the one
 * holding offset (txnindex.c). */
lg_err_t lgi_partition_aborted_txns(lgi_partition_t *partition,
                                    int64_t offset, int64_t upper,
                                    lgi_aborted_txn_t **listp,
                                    size_t *countp) {
    size_t cap = 0;
    *listp = NULL;
    *countp = 0;
    lg_err_t err = LG_OK;
    pthread_mutex_lock(&partition->mutex);
    for (size_t i = segment_index_for(partition, offset);
         i < partition->segment_count; i++) {
        int complete = lgi_txnindex_collect(&partition->segments[i]->txn_index,
                                            offset, upper, listp, countp,
                                            &cap);
        if (complete < 0) {
            err = lgi_error(LG_ERR_NOMEM, "read %s: out of memory",
                            partition->path);
            break;
        }
        if (complete)
            break;
    }
    pthread_mutex_unlock(&partition->mutex);
    if (err != LG_OK) {
        lgi_free(*listp);
        *listp = NULL;
        *countp = 0;
    }
    return err;
}

lg_err_t lgi_partition_read_committed(lgi_partition_t *partition,
                                      int64_t offset, size_t max_bytes,
                                      uint8_t **datap, size_t *lenp,
                                      int64_t *stablep,
                                      lgi_aborted_txn_t **abortedp,
                                      size_t *aborted_countp) {
    *abortedp = NULL;
    *aborted_countp = 0;
    lg_err_t err = read_batches(partition, offset, max_bytes, datap, lenp,
                                READ_COMMITTED, stablep);
    if (err != LG_OK || *lenp == 0)
        return err;
    /* The end of what was read: one past the last batch's last offset. */
    int64_t upper = offset;
    for (size_t at = 0; at < *lenp;) {
        lgi_batch_header_t header;
        if (lgi_batch_parse_header(*datap + at, *lenp - at,
                                   LGI_SEGMENT_MAX_BATCH, &header) != LG_OK)
            break; /* validated by the read: cannot happen */
        upper = lgi_batch_last_offset(&header) + 1;
        at += lgi_batch_size(&header);
    }
    err = lgi_partition_aborted_txns(partition, offset, upper, abortedp,
                                     aborted_countp);
    if (err != LG_OK) {
        lgi_free(*datap);
        *datap = NULL;
        *lenp = 0;
    }
    return err;
}

/* The bytes a read of up to max_bytes from a position with available
 * readable bytes after it takes in one pread: the batches that fit, and
 * the header of the batch after them, which is checked even when the
 * batch does not fit. */
static size_t fetch_span(int64_t available, size_t max_bytes) {
    if ((uint64_t)available <= LGI_BATCH_HEADER_SIZE ||
        max_bytes >= (uint64_t)available - LGI_BATCH_HEADER_SIZE)
        return (size_t)available;
    return max_bytes + LGI_BATCH_HEADER_SIZE;
}

/* Whole batches from position (a batch boundary in segment) to at most
 * limit: the first, then each next one while the total stays within
 * max_bytes.  The batches are not validated yet.  The header walk goes
 * header by header, one pread each, which gives every error its message
 * and position.  Mutex not held. */
static lg_err_t read_batches_by_header(lgi_partition_t *partition,
                                       const lgi_segment_t *segment,
                                       int64_t position, int64_t limit,
                                       size_t max_bytes, uint8_t **datap,
                                       int64_t *endp) {
    lgi_batch_header_t header;
    lg_err_t err = lgi_segment_read_header(segment, position, limit, &header);
    if (err != LG_OK)
        return err;
    int64_t end = position + (int64_t)lgi_batch_size(&header);
    while (end < limit) {
        err = lgi_segment_read_header(segment, end, limit, &header);
        if (err != LG_OK)
            return err;
        if ((size_t)(end - position) + lgi_batch_size(&header) > max_bytes)
            break;
        end += (int64_t)lgi_batch_size(&header);
    }
    uint8_t *data = lgi_malloc((size_t)(end - position));
    if (!data)
        return lgi_error(LG_ERR_NOMEM, "read %s: out of memory",
                         partition->path);
    err = lgi_segment_pread(segment, position, data, (size_t)(end - position));
    if (err != LG_OK) {
        lgi_free(data);
        return err;
    }
    *datap = data;
    *endp = end;
    return LG_OK;
}

/* Makes the first *havep bytes of *datap (the file from position on)
 * the first need bytes, growing the buffer and reading the rest.
 * LG_ERR_NOMEM (*datap freed), lgi_segment_pread's error for a failed or
 * short read (*datap kept), or LG_OK.  Mutex not held. */
static lg_err_t read_more(lgi_partition_t *partition,
                          const lgi_segment_t *segment, int64_t position,
                          uint8_t **datap, size_t *havep, size_t need) {
    if (need <= *havep)
        return LG_OK;
    uint8_t *grown = lgi_realloc(*datap, need);
    if (!grown) {
        lgi_free(*datap);
        *datap = NULL;
        return lgi_error(LG_ERR_NOMEM, "read %s: out of memory",
                         partition->path);
    }
    *datap = grown;
    lg_err_t err = lgi_segment_pread(segment, position + (int64_t)*havep,
                                     grown + *havep, need - *havep);
    if (err == LG_OK)
        *havep = need;
    return err;
}

/* As read_batches_by_header, but in one pread (none when prefix, the
 * first prefix_len bytes from position that a scan already read, covers
 * the fetch; one more when the first batch alone is larger than
 * max_bytes): fetch_span bytes are read and the headers walked in
 * memory.  Anything out of the ordinary -- a failed or short read, a
 * header that does not parse or runs past limit -- sends the read
 * through read_batches_by_header, which reports it exactly as it always
 * has.  prefix (may be NULL) is lgi_malloc'd and taken over.  *datap is
 * lgi_malloc'd and may be larger than *endp - position.  Mutex not
 * held. */
static lg_err_t read_whole_batches(lgi_partition_t *partition,
                                   const lgi_segment_t *segment,
                                   int64_t position, int64_t limit,
                                   size_t max_bytes, uint8_t *prefix,
                                   size_t prefix_len, uint8_t **datap,
                                   int64_t *endp) {
    int64_t available = limit - position;
    uint8_t *data = prefix;
    size_t have = prefix ? prefix_len : 0, end = 0;
    lg_err_t err = read_more(partition, segment, position, &data, &have,
                             fetch_span(available, max_bytes));
    if (err == LG_ERR_NOMEM)
        return err;
    if (err != LG_OK)
        goto by_header;
    while ((int64_t)end < available) {
        lgi_batch_header_t header;
        if (end + LGI_BATCH_HEADER_SIZE > have ||
            lgi_batch_parse_header(data + end, LGI_BATCH_HEADER_SIZE,
                                   LGI_SEGMENT_MAX_BATCH, &header) != LG_OK)
            goto by_header;
        size_t size = lgi_batch_size(&header);
        if ((int64_t)size > available - (int64_t)end)
            goto by_header;
        if (end > 0 && end + size > max_bytes)
            break;
        if (end + size > have) { /* the first batch, beyond max_bytes */
            err = read_more(partition, segment, position, &data, &have,
                            fetch_span(available, size));
            if (err == LG_ERR_NOMEM)
                return err;
            if (err != LG_OK)
                goto by_header;
        }
        end += size;
    }
    if (have - end > have / 4 && have - end > 4096) {
        /* Bytes past the batches kept (a large batch that did not fit,
         * or the rest of a scan's window): not held as long as the
         * caller holds the fetch. */
        uint8_t *trimmed = lgi_realloc(data, end);
        if (trimmed)
            data = trimmed;
    }
    *datap = data;
    *endp = position + (int64_t)end;
    return LG_OK;

by_header:
    lgi_free(data);
    return read_batches_by_header(partition, segment, position, limit,
                                  max_bytes, datap, endp);
}

/* mode: enum read_mode.  *capp (may be NULL) gets the end the read was
 * capped at. */
static lg_err_t read_batches(lgi_partition_t *partition, int64_t offset,
                             size_t max_bytes, uint8_t **datap, size_t *lenp,
                             int mode, int64_t *capp) {
    lgi_segment_t *segment = NULL;
    int64_t limit = 0, position = 0, start = 0, end = 0;
    lgi_batch_header_t header;
    lg_err_t err = LG_OK;
    uint8_t *data = NULL, *window = NULL; /* what a scan read */
    size_t window_len = 0;
    int capped = mode != READ_UNCAPPED;

    *datap = NULL;
    *lenp = 0;
    pthread_mutex_lock(&partition->mutex);
    int64_t log_start = partition->log_start;
    int64_t published_end =
        capped ? visible_end(partition) : partition->published_end;
    if (offset < log_start || offset > published_end) {
        pthread_mutex_unlock(&partition->mutex);
        return lgi_error(LG_ERR_OFFSET_OUT_OF_RANGE,
                         "read %s: offset %lld outside [%lld, %lld]",
                         partition->path, (long long)offset,
                         (long long)log_start, (long long)published_end);
    }
    /* From here on published_end is the cap: for read_committed the LSO
     * (offsets in [LSO, end] are valid positions with nothing to read). */
    if (mode == READ_COMMITTED)
        published_end = last_stable(partition);
    if (capp)
        *capp = published_end;
    if (offset >= published_end) {
        pthread_mutex_unlock(&partition->mutex);
        return LG_OK;
    }
    uint64_t version = partition->segments_version;
    for (size_t i = segment_index_for(partition, offset);
         i < partition->segment_count;) {
        /* Snapshot, then scan outside the mutex; a segment whose readable
         * bytes end before offset (a boundary, or a gap the cleaner left)
         * sends us to the next one.  A remembered batch end at offset
         * needs no scan, one below it shortens the scan. */
        segment = partition->segments[i];
        limit = readable_limit(partition, i);
        start = lgi_segment_index_position(segment, offset);
        int recent = recent_position(partition, segment, offset, limit,
                                     &start);
        lgi_segment_ref(segment);
        pthread_mutex_unlock(&partition->mutex);
        if (recent) {
            position = start;
            break;
        }
        err = lgi_segment_scan_to_offset_keep(segment, start, limit, offset,
                                              &position, &header, &window,
                                              &window_len);
        if (err == LG_OK && position < limit)
            break;
        lgi_free(window);
        window = NULL;
        lgi_segment_unref(segment);
        segment = NULL;
        pthread_mutex_lock(&partition->mutex);
        if (err != LG_OK) {
            pthread_mutex_unlock(&partition->mutex);
            return err;
        }
        if (offset < partition->log_start) {
            int64_t first = partition->log_start;
            pthread_mutex_unlock(&partition->mutex);
            return lgi_error(LG_ERR_OFFSET_OUT_OF_RANGE,
                             "read %s: offset %lld is below the log start "
                             "%lld", partition->path, (long long)offset,
                             (long long)first);
        }
        /* Retention or the cleaner changed the list while we scanned:
         * indexes moved, and the next segment may now be merged into the
         * one holding offset -- look it up again. */
        if (partition->segments_version != version) {
            version = partition->segments_version;
            i = segment_index_for(partition, offset);
        } else {
            i++;
        }
    }
    if (!segment) {
        pthread_mutex_unlock(&partition->mutex);
        return LG_OK;
    }

    /* Whole batches from position: at least one, then while they fit. */
    err = read_whole_batches(partition, segment, position, limit, max_bytes,
                             window, window_len, &data, &end);
    if (err != LG_OK)
        goto out;
    for (size_t at = 0; err == LG_OK && at < (size_t)(end - position);) {
        if (lgi_batch_validate(data + at, (size_t)(end - position) - at,
                               LGI_SEGMENT_MAX_BATCH, &header) != LG_OK)
            err = lgi_error(LG_ERR_CORRUPT, "read %s: batch at %lld failed "
                            "validation", segment->log_path,
                            (long long)(position + (int64_t)at));
        else
            at += lgi_batch_size(&header);
    }
    if (err != LG_OK) {
        lgi_free(data);
        goto out;
    }
    size_t keep = (size_t)(end - position);
    if (capped) { /* drop whole batches at or past the read limit */
        size_t at = 0;
        while (at < keep &&
               lgi_batch_parse_header(data + at, keep - at,
                                      LGI_SEGMENT_MAX_BATCH,
                                      &header) == LG_OK &&
               header.base_offset < published_end)
            at += lgi_batch_size(&header);
        keep = at;
        if (keep == 0) {
            lgi_free(data);
            data = NULL;
        }
    }
    *datap = data;
    *lenp = keep;
out:
    lgi_segment_unref(segment);
    return err;
}

void lgi_partition_watermarks(lgi_partition_t *partition, int64_t *log_start,
                              int64_t *log_end) {
    pthread_mutex_lock(&partition->mutex);
    if (log_start)
        *log_start = partition->log_start;
    if (log_end)
        *log_end = visible_end(partition);
    pthread_mutex_unlock(&partition->mutex);
}

int64_t lgi_partition_last_stable_offset(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int64_t stable = last_stable(partition);
    pthread_mutex_unlock(&partition->mutex);
    return stable;
}

lg_err_t lgi_partition_offset_for_time(lgi_partition_t *partition,
                                       int64_t timestamp_ms,
                                       int64_t *offsetp) {
    lg_err_t err = LG_OK;
    pthread_mutex_lock(&partition->mutex);
    int64_t published_end = visible_end(partition);
    *offsetp = published_end;
    for (size_t i = 0; i < partition->segment_count; i++) {
        lgi_segment_t *segment = partition->segments[i];
        int64_t limit = readable_limit(partition, i);
        if (limit == 0 || segment->max_timestamp < timestamp_ms)
            continue;
        /* Time index: an offset whose batches before it are all older;
         * offset index: where that offset's batch starts or earlier. */
        int64_t start = lgi_segment_index_position(
            segment, lgi_segment_time_lookup(segment, timestamp_ms));
        int found = 0;
        int64_t offset;
        lgi_segment_ref(segment);
        pthread_mutex_unlock(&partition->mutex);
        err = lgi_segment_find_time(segment, timestamp_ms, start, limit,
                                    &offset, &found);
        lgi_segment_unref(segment);
        if (err == LG_OK && found)
            *offsetp = offset < published_end ? offset : published_end;
        return err;
    }
    pthread_mutex_unlock(&partition->mutex);
    return LG_OK;
}

int64_t lgi_partition_recovery_point(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int64_t durable = partition->durable_end;
    pthread_mutex_unlock(&partition->mutex);
    return durable;
}

void lgi_partition_stats(lgi_partition_t *partition,
                         lgi_partition_stats_t *stats) {
    stats->records = atomic_load_explicit(&partition->counters.records,
                                          memory_order_relaxed);
    stats->bytes = atomic_load_explicit(&partition->counters.bytes,
                                        memory_order_relaxed);
    stats->batches = atomic_load_explicit(&partition->counters.batches,
                                          memory_order_relaxed);
    lgi_partition_watermarks(partition, &stats->log_start, NULL);
    pthread_mutex_lock(&partition->mutex);
    stats->log_end = partition->published_end;
    stats->recovery_point = partition->durable_end;
    stats->segment_count = partition->segment_count;
    stats->disk_bytes = 0;
    for (size_t i = 0; i < partition->segment_count; i++)
        stats->disk_bytes += (uint64_t)partition->segments[i]->size;
    stats->fenced = partition->fenced;
    pthread_mutex_unlock(&partition->mutex);
    stats->cleaner_offset = lgi_partition_cleaner_offset(partition);
}

void lgi_partition_recent_ends(lgi_partition_t *partition, uint64_t *hitsp,
                               size_t *rememberedp) {
    pthread_mutex_lock(&partition->mutex);
    *hitsp = partition->recent_hits;
    *rememberedp = partition->recent_count;
    pthread_mutex_unlock(&partition->mutex);
}

size_t lgi_partition_segment_count(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    size_t count = partition->segment_count;
    pthread_mutex_unlock(&partition->mutex);
    return count;
}

/* ------------------------------------------------------------------------
 * Epochs and truncation
 * --------------------------------------------------------------------- */

int32_t lgi_partition_latest_epoch(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int32_t epoch = epochs_latest(partition);
    pthread_mutex_unlock(&partition->mutex);
    return epoch;
}

lg_err_t lgi_partition_set_leader_epoch(lgi_partition_t *partition,
                                        int32_t epoch) {
    if (epoch < 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "partition %s: leader epoch %" PRId32 " is negative",
                         partition->path, epoch);
    pthread_mutex_lock(&partition->mutex);
    partition->current_epoch = epoch;
    pthread_mutex_unlock(&partition->mutex);
    return LG_OK;
}

/* As partition.h states: the largest cached epoch <= epoch and the start
 * of the next one (or the log end).  Kafka differs at the edges -- an
 * epoch above the latest gives UNDEFINED there, one below the earliest
 * gives (epoch, first start offset) -- which the replication layer can
 * derive from this answer if it wants Kafka's wire behaviour. */
void lgi_partition_end_offset_for_epoch(lgi_partition_t *partition,
                                        int32_t epoch, int32_t *epoch_out,
                                        int64_t *end_offset_out) {
    pthread_mutex_lock(&partition->mutex);
    *epoch_out = -1;
    *end_offset_out = -1;
    for (size_t i = partition->epoch_count; i-- > 0;) {
        if (partition->epochs[i].epoch <= epoch) {
            *epoch_out = partition->epochs[i].epoch;
            *end_offset_out = i + 1 < partition->epoch_count
                                  ? partition->epochs[i + 1].start_offset
                                  : partition->log_end;
            break;
        }
    }
    pthread_mutex_unlock(&partition->mutex);
}

lg_err_t lgi_partition_truncate_to(lgi_partition_t *partition,
                                   int64_t offset) {
    lg_err_t err = LG_OK;
    pthread_mutex_lock(&partition->mutex);
    while (partition->inflight > 0)
        pthread_cond_wait(&partition->cond, &partition->mutex);
    if ((err = maybe_rollback(partition)) != LG_OK)
        goto out;
    if (offset >= partition->log_end)
        goto out;
    if (offset < partition->log_start)
        offset = partition->log_start;
    size_t keep = segment_index_for(partition, offset);
    lgi_segment_t *segment = partition->segments[keep];
    int64_t new_end;
    recent_ends_forget(partition);
    if ((err = delete_segments_after(partition, keep)) != LG_OK ||
        (err = lgi_segment_truncate_to(segment, offset, &new_end)) != LG_OK ||
        (err = lgi_segment_sync(segment)) != LG_OK ||
        (err = lgi_index_store(&segment->offset_index, segment->index_path,
                               1)) != LG_OK ||
        (err = lgi_index_store(&segment->time_index, segment->time_index_path,
                               1)) != LG_OK ||
        (err = lgi_txnindex_store(&segment->txn_index,
                                  segment->txn_index_path, 1)) != LG_OK ||
        (err = lgi_fsync_dir(partition->path)) != LG_OK)
        goto out;
    partition->log_end = new_end;
    lgi_producer_state_truncate(partition->producers, new_end);
    store_published_end(partition, new_end);
    update_stable_end(partition);
    partition->published_segment = segment;
    partition->published_position = segment->size;
    partition->durable_end = new_end;
    if (epochs_truncate(partition, new_end))
        err = epochs_store(partition);
out:
    pthread_mutex_unlock(&partition->mutex);
    return err;
}

lg_err_t lgi_partition_restart_at(lgi_partition_t *partition,
                                  int64_t offset) {
    lg_err_t err = lgi_partition_truncate_to(partition, 0);
    if (err != LG_OK)
        return err;
    pthread_mutex_lock(&partition->mutex);
    if (offset < partition->log_end) {
        pthread_mutex_unlock(&partition->mutex);
        return lgi_error(LG_ERR_INVALID_ARG, "partition %s: cannot restart "
                         "at %" PRId64 ", below its start %" PRId64,
                         partition->path, offset, partition->log_end);
    }
    if (offset > partition->log_end) {
        lgi_segment_t *segment;
        recent_ends_forget(partition);
        err = lgi_segment_create(partition->path, offset,
                                 partition->config.index_interval_bytes,
                                 partition->config.segment_index_bytes,
                                 &segment);
        if (err == LG_OK && (err = push_segment(partition, segment))) {
            lgi_segment_delete(segment);
            lgi_segment_unref(segment);
        }
        if (err == LG_OK) {
            partition->log_end = offset;
            partition->durable_end = offset;
            store_published_end(partition, offset);
            partition->published_segment = segment;
            partition->published_position = 0;
        }
    }
    pthread_mutex_unlock(&partition->mutex);
    if (err == LG_OK)
        err = lgi_fsync_dir(partition->path);
    /* The old, now empty segments lie wholly below offset. */
    size_t deleted;
    if (err == LG_OK)
        err = lgi_partition_delete_before(partition, offset, &deleted);
    return err;
}

/* ------------------------------------------------------------------------
 * Retention and cleaning (the cleaner's view of the segment list)
 * --------------------------------------------------------------------- */

const char *lgi_partition_path(const lgi_partition_t *partition) {
    return partition->path;
}

void lgi_partition_config(lgi_partition_t *partition,
                          lgi_log_config_t *config) {
    pthread_mutex_lock(&partition->mutex);
    *config = partition->config;
    pthread_mutex_unlock(&partition->mutex);
}

int64_t lgi_partition_cleaner_offset(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int64_t offset = partition->cleaner_offset;
    pthread_mutex_unlock(&partition->mutex);
    return offset;
}

void lgi_partition_set_cleaner_offset(lgi_partition_t *partition,
                                      int64_t offset) {
    pthread_mutex_lock(&partition->mutex);
    partition->cleaner_offset = offset;
    pthread_mutex_unlock(&partition->mutex);
}

int64_t lgi_partition_cleaner_horizon(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int64_t horizon = partition->cleaner_horizon;
    pthread_mutex_unlock(&partition->mutex);
    return horizon;
}

void lgi_partition_set_cleaner_horizon(lgi_partition_t *partition,
                                       int64_t horizon) {
    pthread_mutex_lock(&partition->mutex);
    partition->cleaner_horizon = horizon;
    pthread_mutex_unlock(&partition->mutex);
}

int64_t lgi_partition_active_size(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int64_t size = active_segment(partition)->size;
    pthread_mutex_unlock(&partition->mutex);
    return size;
}

int64_t lgi_partition_log_start(lgi_partition_t *partition) {
    pthread_mutex_lock(&partition->mutex);
    int64_t log_start = partition->log_start;
    pthread_mutex_unlock(&partition->mutex);
    return log_start;
}

lg_err_t lgi_partition_sealed_segments(lgi_partition_t *partition,
                                       lgi_segment_t ***segmentsp,
                                       size_t *countp) {
    pthread_mutex_lock(&partition->mutex);
    size_t count = partition->segment_count - 1;
    lgi_segment_t **segments =
        lgi_malloc((count ? count : 1) * sizeof(*segments));
    if (!segments) {
        pthread_mutex_unlock(&partition->mutex);
        return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                         partition->path);
    }
    for (size_t i = 0; i < count; i++) {
        segments[i] = partition->segments[i];
        lgi_segment_ref(segments[i]);
    }
    pthread_mutex_unlock(&partition->mutex);
    *segmentsp = segments;
    *countp = count;
    return LG_OK;
}

void lgi_partition_segments_release(lgi_segment_t **segments, size_t count) {
    for (size_t i = 0; i < count; i++)
        lgi_segment_unref(segments[i]);
    lgi_free(segments);
}

/* Removes segments[0..count) from the list (mutex held): renames their
 * files to .deleted (the .log first, so the segment leaves the directory
 * listing in one step) and fsyncs the directory.  The caller unlinks the
 * .deleted names and drops the references. */
static lg_err_t detach_prefix(lgi_partition_t *partition, size_t count) {
    lg_err_t err = LG_OK;
    for (size_t i = 0; i < count && err == LG_OK; i++)
        err = lgi_segment_files_rename(partition->path,
                                       partition->segments[i]->base_offset,
                                       "", ".deleted", 0);
    if (err == LG_OK)
        err = lgi_fsync_dir(partition->path);
    return err;
}

lg_err_t lgi_partition_delete_before(lgi_partition_t *partition,
                                     int64_t offset, size_t *deletedp) {
    lg_err_t err = LG_OK;
    size_t count = 0;
    lgi_segment_t **gone = NULL;
    *deletedp = 0;
    pthread_mutex_lock(&partition->mutex);
    /* Whole sealed segments wholly below offset: those followed by a
     * segment whose base is <= offset.  The active one always stays. */
    while (count + 1 < partition->segment_count &&
           partition->segments[count + 1]->base_offset <= offset)
        count++;
    if (count == 0) {
        if (offset > partition->log_start &&
            offset <= partition->segments[0]->base_offset)
            partition->log_start = offset;
        pthread_mutex_unlock(&partition->mutex);
        return LG_OK;
    }
    gone = lgi_malloc(count * sizeof(*gone));
    if (!gone) {
        pthread_mutex_unlock(&partition->mutex);
        return lgi_error(LG_ERR_NOMEM, "partition %s: out of memory",
                         partition->path);
    }
    /* Readers check the log start under the mutex before they look for a
     * segment, so moving it first means none starts on a doomed segment;
     * those already reading hold a reference and keep the fd. */
    partition->log_start = partition->segments[count]->base_offset;
    err = detach_prefix(partition, count);
    memcpy(gone, partition->segments, count * sizeof(*gone));
    for (size_t i = 0; i < count; i++)
        if (partition->published_segment == gone[i])
            partition->published_segment = NULL;
    memmove(partition->segments, partition->segments + count,
            (partition->segment_count - count) * sizeof(*gone));
    partition->segment_count -= count;
    partition->segments_version++;
    recent_ends_forget(partition);
    pthread_mutex_unlock(&partition->mutex);
    /* Unlinked now; the space is freed when the last reader's reference
     * closes the fd. */
    for (size_t i = 0; i < count; i++) {
        lg_err_t e = lgi_segment_files_unlink(partition->path,
                                              gone[i]->base_offset,
                                              ".deleted");
        if (err == LG_OK)
            err = e;
        gone[i]->deleted = 1;
        lgi_segment_unref(gone[i]);
    }
    lgi_free(gone);
    *deletedp = count;
    return err;
}

lg_err_t lgi_partition_swap_in(lgi_partition_t *partition,
                               lgi_segment_t *const *old, size_t count,
                               lgi_segment_t *cleaned) {
    pthread_mutex_lock(&partition->mutex);
    size_t at = 0;
    while (at < partition->segment_count && partition->segments[at] != old[0])
        at++;
    int same = at + count < partition->segment_count;
    for (size_t i = 0; same && i < count; i++)
        same = partition->segments[at + i] == old[i];
    if (!same) {
        pthread_mutex_unlock(&partition->mutex);
        return lgi_error(LG_ERR_INVALID_ARG, "partition %s: segments changed "
                         "under the cleaner", partition->path);
    }
    for (size_t i = 0; i < count; i++)
        if (partition->published_segment == old[i]) {
            partition->published_segment = cleaned;
            partition->published_position = cleaned->size;
        }
    lgi_segment_ref(cleaned);
    partition->segments[at] = cleaned;
    memmove(partition->segments + at + 1, partition->segments + at + count,
            (partition->segment_count - at - count) * sizeof(cleaned));
    partition->segment_count -= count - 1;
    partition->segments_version++;
    recent_ends_forget(partition);
    pthread_mutex_unlock(&partition->mutex);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            old[i]->deleted = 1;
        lgi_segment_unref(old[i]);
    }
    return LG_OK;
}

lg_err_t lgi_partition_set_log_start(lgi_partition_t *partition,
                                     int64_t offset) {
    size_t deleted;
    int64_t published_end = lgi_partition_published_end(partition);
    if (offset > published_end)
        offset = published_end;
    return lgi_partition_delete_before(partition, offset, &deleted);
}
