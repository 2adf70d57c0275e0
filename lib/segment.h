/*
 * segment.h -- one log segment: <base>.log with its .index, .timeindex
 * and .txnindex (aborted transactions, txnindex.h).
 *
 * The layout and the recovery algorithm are documented atop segment.c.
 *
 * Thread-safety: fields are guarded by the owning partition's mutex except
 * fd, base_offset and the paths, which never change once the segment is
 * in a partition's list (the cleaner renames its private new segment
 * before publishing it), so
 * readers holding a reference may pread the file outside the mutex.  The
 * reference count is atomic: a reader keeps a segment (and its fd) alive
 * while the partition rolls or deletes it.
 */
#ifndef LG_SEGMENT_H
#define LG_SEGMENT_H

#include "batch.h"
#include "index.h"
#include "liblog.h"
#include "txnindex.h"
#include "uring.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Bound passed to the batch parser when reading our own files: the file,
 * not max.message.bytes (which may have been lowered since), limits a
 * batch. */
#define LGI_SEGMENT_MAX_BATCH ((size_t)INT32_MAX)

/* Length of "00000000000000000000" (Kafka's zero-padded base offset). */
#define LGI_SEGMENT_NAME_DIGITS 20

typedef struct lgi_segment {
    int64_t base_offset;
    char *log_path;
    char *index_path;
    char *time_index_path;
    char *txn_index_path;
    int fd;               /* .log, O_RDWR */
    int64_t size;         /* logical end: bytes assigned to batches */
    int64_t next_offset;  /* offset after the last batch */
    lgi_index_t offset_index;
    lgi_index_t time_index;
    lgi_txnindex_t txn_index;
    int txn_index_stale;             /* the .txnindex must be rebuilt from
                                        the log (recovered, missing or
                                        invalid); the partition does it
                                        with a replay at open */
    int32_t index_interval_bytes;
    int64_t bytes_since_index;       /* since the last offset-index entry */
    int64_t max_timestamp;           /* -1 before any batch */
    int64_t offset_of_max_timestamp; /* last offset of that batch */
    int64_t first_append_ms;         /* now_ms of the first append, -1 when
                                        none yet: segment.ms counts from it */
    int64_t preallocated_to;         /* fallocate'd (KEEP_SIZE) up to here */
    int64_t zeroed_to;               /* the file may reach this far: zeros
                                        written ahead of size (see
                                        lgi_segment_zero_fill_req); >= size */
    int sealed;                      /* indexes stored and all synced */
    int deleted;                     /* files unlinked */
    atomic_int refcount;
} lgi_segment_t;

/* Called for each valid batch during recovery (leader-epoch rebuild and
 * checks of the header fields the CRC does not cover).  Returns 0 to
 * accept the batch; non-zero makes lgi_segment_recover treat it as
 * invalid (the valid prefix ends before it). */
typedef int (*lgi_segment_batch_fn)(void *opaque,
                                    const lgi_batch_header_t *header);

/* Creates a new, empty segment at base_offset in dir: .log, .index and
 * .timeindex created (truncated if present).  now_ms is unused until the
 * first append.  Reference count 1. */
lg_err_t lgi_segment_create(const char *dir, int64_t base_offset,
                            int32_t index_interval_bytes,
                            int32_t segment_index_bytes,
                            lgi_segment_t **segmentp);

/* Opens the existing segment at base_offset (its .log must exist).  Size
 * is the file size; indexes are empty until lgi_segment_load or
 * lgi_segment_recover.  Reference count 1. */
lg_err_t lgi_segment_open(const char *dir, int64_t base_offset,
                          int32_t index_interval_bytes,
                          int32_t segment_index_bytes,
                          lgi_segment_t **segmentp);

/* Trusts the .log: loads and validates the index files, rebuilding them by
 * lgi_segment_recover when missing or invalid (*rebuiltp, may be NULL, set
 * to 1 then), and finds next_offset by walking batch headers from the last
 * index entry.  A missing or invalid .txnindex only sets txn_index_stale
 * (the partition's replay rebuilds it). */
lg_err_t lgi_segment_load(lgi_segment_t *segment, lgi_segment_batch_fn fn,
                          void *opaque, int *rebuiltp);

/* Scans the whole .log batch by batch (length, magic, CRC, offsets
 * increasing and representable relative to the base), rebuilds both
 * indexes, empties the .txnindex and marks it stale (the partition
 * rebuilds it), and truncates the file at the first invalid byte.  fn (may
 * be NULL) sees every valid batch and may reject it.  *truncatedp (may be
 * NULL) gets the bytes cut off, not counting zeros at the end (the zero
 * fill of a segment active at a crash is not damage); *scannedp (may be
 * NULL) gets the bytes read. */
lg_err_t lgi_segment_recover(lgi_segment_t *segment, lgi_segment_batch_fn fn,
                             void *opaque, int64_t *truncatedp,
                             int64_t *scannedp);

/* Records, in the in-memory indexes, a batch of len bytes placed at
 * position (the caller has reserved [position, position + len) by adding
 * len to size), following Kafka's LogSegment.append. */
lg_err_t lgi_segment_note_append(lgi_segment_t *segment, int64_t position,
                                 size_t len, int64_t last_offset,
                                 int64_t max_timestamp, int64_t now_ms);

/* Non-zero when a batch with last offset last_offset cannot be indexed in
 * this segment (relative offset beyond INT32_MAX). */
int lgi_segment_offset_overflows(const lgi_segment_t *segment,
                                 int64_t last_offset);

/* Position from which to scan for offset: the offset index's largest entry
 * <= offset, else 0.  Under the partition mutex. */
int64_t lgi_segment_index_position(const lgi_segment_t *segment,
                                   int64_t offset);

/* Reads and parses the batch header at position, with the whole batch
 * required to end at or before limit.  LG_ERR_CORRUPT otherwise. */
lg_err_t lgi_segment_read_header(const lgi_segment_t *segment,
                                 int64_t position, int64_t limit,
                                 lgi_batch_header_t *header);

/* From position (a batch boundary), walks headers to the first batch whose
 * last offset >= offset, before limit.  *positionp and *header on success;
 * returns LG_OK with *positionp = limit when there is none. */
lg_err_t lgi_segment_scan_to_offset(const lgi_segment_t *segment,
                                    int64_t position, int64_t limit,
                                    int64_t offset, int64_t *positionp,
                                    lgi_batch_header_t *header);

/* lgi_segment_scan_to_offset that also hands over what it read of the
 * file from the batch found on: *windowp (lgi_malloc'd, the caller frees;
 * NULL when the scan found no batch or holds none of its bytes) gets
 * *window_lenp bytes starting at *positionp, at most limit - *positionp
 * and usually a few KiB (the walk reads in windows). */
lg_err_t lgi_segment_scan_to_offset_keep(const lgi_segment_t *segment,
                                         int64_t position, int64_t limit,
                                         int64_t offset, int64_t *positionp,
                                         lgi_batch_header_t *header,
                                         uint8_t **windowp,
                                         size_t *window_lenp);

/* pread of len bytes at position, retried until complete. */
lg_err_t lgi_segment_pread(const lgi_segment_t *segment, int64_t position,
                           void *buf, size_t len);

/* Earliest offset with a record timestamp >= timestamp, scanning batches
 * from position (a batch boundary) to limit: *foundp 1 with *offsetp set,
 * or 0. */
lg_err_t lgi_segment_find_time(const lgi_segment_t *segment,
                               int64_t timestamp, int64_t position,
                               int64_t limit, int64_t *offsetp, int *foundp);

/* Time-index hint for timestamp: the offset to start searching from (the
 * largest entry <= timestamp, else the base offset).  Under the mutex. */
int64_t lgi_segment_time_lookup(const lgi_segment_t *segment,
                                int64_t timestamp);

/* Cuts the segment at position, which must be a batch boundary, and makes
 * next_offset the offset following what is kept: ftruncate, trim indexes,
 * recompute the max timestamp.  The segment becomes unsealed. */
lg_err_t lgi_segment_truncate_bytes(lgi_segment_t *segment, int64_t position,
                                    int64_t next_offset);

/* Removes every batch whose last offset >= offset (the batch holding
 * offset goes whole).  *new_endp gets the segment's new next_offset. */
lg_err_t lgi_segment_truncate_to(lgi_segment_t *segment, int64_t offset,
                                 int64_t *new_endp);

/* Kafka's roll/close: adds the final time-index entry for the greatest
 * timestamp, stores the three index files trimmed to their entries and
 * fdatasyncs them and the .log.  Every write to the .log must have
 * completed. */
lg_err_t lgi_segment_seal(lgi_segment_t *segment);

/* fdatasync of the .log. */
lg_err_t lgi_segment_sync(lgi_segment_t *segment);

/* fallocate(FALLOC_FL_KEEP_SIZE) so the file has room up to end without
 * changing its size; failures are ignored (it is only an optimisation). */
void lgi_segment_preallocate(lgi_segment_t *segment, int64_t end);

/* Zeros written ahead of an active segment's logical end, so that an
 * append lands in page-cache pages that already exist: a write that
 * starts a new page costs 3-4 times one that does not (page allocation
 * and ext4's delayed allocation).  Kafka's log.preallocate leaves the same
 * zeros past the end of its active segment. */
#define LGI_SEGMENT_ZERO_FILL_BYTES (64 * 1024)

/* Fills req and iov (the caller's, kept until the write is done) with the
 * write of zeros over [from, to) of segment's .log, to <= from +
 * LGI_SEGMENT_ZERO_FILL_BYTES.  The caller issues it (lgi_io_write_here)
 * and records `to` in zeroed_to whether or not it succeeded: zeroed_to
 * bounds what the file may hold past size, which lgi_segment_seal and
 * lgi_segment_truncate_bytes cut back. */
void lgi_segment_zero_fill_req(const lgi_segment_t *segment, int64_t from,
                               int64_t to, lgi_io_req_t *req,
                               struct iovec *iov);

/* Whether req is a write prepared by lgi_segment_zero_fill_req (for test
 * hooks). */
int lgi_segment_is_zero_fill(const lgi_io_req_t *req);

/* As lgi_segment_create, but the files are named <base>.log<suffix>,
 * <base>.index<suffix>, <base>.timeindex<suffix>, <base>.txnindex<suffix>
 * (the cleaner's
 * ".cleaned"), and only the .log is created now (the indexes are written
 * by lgi_segment_seal).  Reference count 1. */
lg_err_t lgi_segment_create_suffixed(const char *dir, int64_t base_offset,
                                     const char *suffix,
                                     int32_t index_interval_bytes,
                                     int32_t segment_index_bytes,
                                     lgi_segment_t **segmentp);

/* Renames the four files to <base>.<kind><suffix> in dir (suffix "" for
 * the live names, ".swap", ".deleted") and updates the paths; a missing
 * file is skipped.  log_last != 0 renames the .log after the indexes (so
 * its rename is the commit point of the step), otherwise first.  The fd
 * is unaffected.  On failure the paths of files already renamed are
 * updated, the rest keep their old names. */
lg_err_t lgi_segment_rename(lgi_segment_t *segment, const char *dir,
                            const char *suffix, int log_last);

/* Renames <base>.<kind><from> to <base>.<kind><to> in dir for the four
 * kinds, by name only (no segment struct is touched, so readers holding
 * one keep valid paths for messages and their fd).  Missing files are
 * skipped.  log_last as lgi_segment_rename. */
lg_err_t lgi_segment_files_rename(const char *dir, int64_t base_offset,
                                  const char *from, const char *to,
                                  int log_last);

/* Unlinks <base>.<kind><suffix> for the four kinds (missing ones are
 * fine). */
lg_err_t lgi_segment_files_unlink(const char *dir, int64_t base_offset,
                                  const char *suffix);

/* Unlinks the four files; the fd stays open until the last reference. */
lg_err_t lgi_segment_delete(lgi_segment_t *segment);

void lgi_segment_ref(lgi_segment_t *segment);
/* Drops a reference; the last one closes the fd and frees.  NULL is a
 * no-op. */
void lgi_segment_unref(lgi_segment_t *segment);

/* Parses "<20 digits>.log": 1 with *base_offsetp, else 0. */
int lgi_segment_parse_name(const char *name, int64_t *base_offsetp);

#endif
