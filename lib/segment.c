/*
 * segment.c -- one segment of a partition's log.
 *
 * Role: own one <base>.log and its two indexes; place batches, find them
 * by offset and by time, cut the file back, seal it when the partition
 * rolls, and recover it after a crash.  The partition decides *when*; this
 * file knows *how*.
 *
 * FILES
 *
 *   <dir>/<base>.log        the records, Kafka record batch v2 back to back
 *   <dir>/<base>.index      offset index (layout atop index.c)
 *   <dir>/<base>.timeindex  time index (layout atop index.c)
 *   <dir>/<base>.txnindex   aborted transactions (layout atop txnindex.c)
 *
 *   <base> is the segment's base offset in 20 zero-padded decimal digits,
 *   e.g. 00000000000000000000.log, 00000000000000001234.log -- Kafka's
 *   naming, so Kafka tools can read our directories.  The base offset is
 *   <= the first offset in the segment and > every offset of earlier
 *   segments.
 *
 * .log LAYOUT
 *
 *   +---------------------+---------------------+-----+---------------+
 *   | batch 0             | batch 1             | ... | batch n-1     |
 *   +---------------------+---------------------+-----+---------------+
 *   0                                                          file size
 *
 *   No file header, no padding, no trailer.  A sealed segment's file size
 *   is its logical end.  The active segment's file may go on past it with
 *   up to LGI_SEGMENT_ZERO_FILL_BYTES of zeros, written ahead so that
 *   appends land in page-cache pages that exist already (Kafka's
 *   log.preallocate leaves zeros there too).  Zeros are never taken for a
 *   batch -- magic 0 fails the header check -- and sealing cuts them off.
 *   Disk further ahead is reserved with FALLOC_FL_KEEP_SIZE, which does
 *   not change the size.  Each batch (full layout atop batch.c):
 *
 *   0         8           12                    16      17       21
 *   +---------+-----------+---------------------+-------+--------+-------
 *   |baseOff- |batchLength|partitionLeaderEpoch |magic=2| crc32c | attrs..
 *   |set int64|int32      |int32                |int8   | uint32 |
 *   +---------+-----------+---------------------+-------+--------+-------
 *   |<--------- not covered by the CRC -------->|       |<- CRC covers
 *                                                         21..end ---->
 *
 *   The batch occupies 12 + batchLength bytes.  Batches appear in
 *   increasing offset order: each baseOffset is greater than the previous
 *   batch's last offset (baseOffset + lastOffsetDelta).
 *
 * RECOVERY (lgi_segment_recover)
 *
 *   position = 0, expected = base offset; reset both indexes, and mark
 *   the .txnindex stale (its entries depend on transactions begun in
 *   earlier segments: the partition rebuilds it, atop partition.c)
 *   loop:
 *     if fewer than 61 header bytes remain            -> stop (torn tail)
 *     parse the header: magic 2, batchLength sane      else stop
 *     if position + 12 + batchLength > file size       -> stop (torn tail)
 *     read the batch, check the CRC-32C                else stop
 *     baseOffset >= expected, lastOffset - base fits
 *       an int32 (relative offsets in the indexes)     else stop
 *     the caller's check of the fields outside the CRC
 *       (the partition: partitionLeaderEpoch against
 *       its leader-epoch checkpoint)                   else stop
 *     add index entries exactly as append does; expected = lastOffset + 1
 *     position += 12 + batchLength
 *   truncate the file to position ("the first invalid byte"); what is
 *   reported as dropped excludes a run of zeros at the end, which is the
 *   zero fill of a segment that was active at the crash, not damage
 *
 *   Everything before the first bad batch is kept, everything from it on
 *   is dropped: a torn write of the last batch, or a corrupt batch, never
 *   takes earlier acknowledged data with it, and nothing after a hole is
 *   ever exposed.  The partition deletes later segments in that case.
 *
 * Invariants: size <= file size <= max(size, zeroed_to) once every write
 * queued for this segment has completed, and the bytes past size are
 * zeros; a sealed segment's file size == size; the in-memory indexes
 * describe exactly the batches in [0, size); a sealed segment's files are
 * fdatasync'd and immutable.
 */
#include "segment.h"

#include "alloc.h"
#include "buf.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Creation and lifetime
 * --------------------------------------------------------------------- */

/* "<dir>/<20 digits><suffix>", lgi_malloc'd. */
static char *segment_path(const char *dir, int64_t base_offset,
                          const char *suffix) {
    size_t len = strlen(dir) + 1 + LGI_SEGMENT_NAME_DIGITS + strlen(suffix) + 1;
    char *path = lgi_malloc(len);
    if (path)
        snprintf(path, len, "%s/%020" PRId64 "%s", dir, base_offset, suffix);
    return path;
}

int lgi_segment_parse_name(const char *name, int64_t *base_offsetp) {
    int64_t value = 0;
    for (int i = 0; i < LGI_SEGMENT_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        if (value > (INT64_MAX - 9) / 10)
            return 0;
        value = value * 10 + (name[i] - '0');
    }
    if (strcmp(name + LGI_SEGMENT_NAME_DIGITS, ".log") != 0)
        return 0;
    *base_offsetp = value;
    return 1;
}

/* Allocates the struct and its paths; fd is left -1. */
static lg_err_t segment_alloc(const char *dir, int64_t base_offset,
                              int32_t index_interval_bytes,
                              int32_t segment_index_bytes,
                              lgi_segment_t **segmentp) {
    lgi_segment_t *segment = lgi_calloc(1, sizeof(*segment));
    if (!segment)
        return lgi_error(LG_ERR_NOMEM, "segment %lld: out of memory",
                         (long long)base_offset);
    segment->base_offset = base_offset;
    segment->fd = -1;
    segment->log_path = segment_path(dir, base_offset, ".log");
    segment->index_path = segment_path(dir, base_offset, ".index");
    segment->time_index_path = segment_path(dir, base_offset, ".timeindex");
    segment->txn_index_path = segment_path(dir, base_offset, ".txnindex");
    if (!segment->log_path || !segment->index_path ||
        !segment->time_index_path || !segment->txn_index_path) {
        lgi_free(segment->log_path);
        lgi_free(segment->index_path);
        lgi_free(segment->time_index_path);
        lgi_free(segment->txn_index_path);
        lgi_free(segment);
        return lgi_error(LG_ERR_NOMEM, "segment %lld: out of memory",
                         (long long)base_offset);
    }
    segment->next_offset = base_offset;
    segment->index_interval_bytes = index_interval_bytes;
    segment->max_timestamp = -1;
    segment->offset_of_max_timestamp = base_offset;
    segment->first_append_ms = -1;
    lgi_index_init(&segment->offset_index, LGI_INDEX_OFFSET, base_offset,
                   segment_index_bytes);
    lgi_index_init(&segment->time_index, LGI_INDEX_TIME, base_offset,
                   segment_index_bytes);
    lgi_txnindex_init(&segment->txn_index, base_offset);
    atomic_init(&segment->refcount, 1);
    *segmentp = segment;
    return LG_OK;
}

static void segment_free(lgi_segment_t *segment) {
    if (segment->fd >= 0)
        close(segment->fd);
    lgi_index_free(&segment->offset_index);
    lgi_index_free(&segment->time_index);
    lgi_txnindex_free(&segment->txn_index);
    lgi_free(segment->log_path);
    lgi_free(segment->index_path);
    lgi_free(segment->time_index_path);
    lgi_free(segment->txn_index_path);
    lgi_free(segment);
}

/* Creates (or empties) path. */
static lg_err_t create_empty(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "create %s", path);
    close(fd);
    return LG_OK;
}

lg_err_t lgi_segment_create(const char *dir, int64_t base_offset,
                            int32_t index_interval_bytes,
                            int32_t segment_index_bytes,
                            lgi_segment_t **segmentp) {
    lgi_segment_t *segment;
    lg_err_t err = segment_alloc(dir, base_offset, index_interval_bytes,
                                 segment_index_bytes, &segment);
    if (err != LG_OK)
        return err;
    segment->fd = open(segment->log_path,
                       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (segment->fd < 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "create %s",
                              segment->log_path);
        segment_free(segment);
        return err;
    }
    if ((err = create_empty(segment->index_path)) != LG_OK ||
        (err = create_empty(segment->time_index_path)) != LG_OK ||
        (err = create_empty(segment->txn_index_path)) != LG_OK) {
        segment_free(segment);
        return err;
    }
    *segmentp = segment;
    return LG_OK;
}

/* Replaces *pathp by "<dir>/<base><kind><suffix>"; -1 when out of memory
 * (the old path is kept then). */
static int set_path(char **pathp, const char *dir, int64_t base_offset,
                    const char *kind, const char *suffix) {
    size_t len = strlen(kind) + strlen(suffix) + 1;
    char *name = lgi_malloc(len);
    if (!name)
        return -1;
    snprintf(name, len, "%s%s", kind, suffix);
    char *path = segment_path(dir, base_offset, name);
    lgi_free(name);
    if (!path)
        return -1;
    lgi_free(*pathp);
    *pathp = path;
    return 0;
}

lg_err_t lgi_segment_create_suffixed(const char *dir, int64_t base_offset,
                                     const char *suffix,
                                     int32_t index_interval_bytes,
                                     int32_t segment_index_bytes,
                                     lgi_segment_t **segmentp) {
    lgi_segment_t *segment;
    lg_err_t err = segment_alloc(dir, base_offset, index_interval_bytes,
                                 segment_index_bytes, &segment);
    if (err != LG_OK)
        return err;
    if (set_path(&segment->log_path, dir, base_offset, ".log", suffix) ||
        set_path(&segment->index_path, dir, base_offset, ".index", suffix) ||
        set_path(&segment->time_index_path, dir, base_offset, ".timeindex",
                 suffix) ||
        set_path(&segment->txn_index_path, dir, base_offset, ".txnindex",
                 suffix)) {
        segment_free(segment);
        return lgi_error(LG_ERR_NOMEM, "segment %lld: out of memory",
                         (long long)base_offset);
    }
    segment->fd = open(segment->log_path,
                       O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (segment->fd < 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "create %s",
                              segment->log_path);
        segment_free(segment);
        return err;
    }
    *segmentp = segment;
    return LG_OK;
}

lg_err_t lgi_segment_rename(lgi_segment_t *segment, const char *dir,
                            const char *suffix, int log_last) {
    char *paths[4] = {NULL, NULL, NULL, NULL};
    char **current[4] = {&segment->index_path, &segment->time_index_path,
                         &segment->txn_index_path, &segment->log_path};
    static const char *const kinds[4] = {".index", ".timeindex", ".txnindex",
                                         ".log"};
    lg_err_t err = LG_OK;
    for (int i = 0; i < 4; i++) {
        if (set_path(&paths[i], dir, segment->base_offset, kinds[i],
                     suffix) != 0) {
            err = lgi_error(LG_ERR_NOMEM, "segment %lld: out of memory",
                            (long long)segment->base_offset);
            goto out;
        }
    }
    for (int n = 0; n < 4; n++) {
        /* The .log goes first or last as the caller's protocol needs. */
        int i = log_last ? n : (n + 3) % 4;
        if (rename(*current[i], paths[i]) != 0 && errno != ENOENT) {
            err = lgi_error_errno(LG_ERR_IO, errno, "rename %s to %s",
                                  *current[i], paths[i]);
            goto out;
        }
        lgi_free(*current[i]);
        *current[i] = paths[i];
        paths[i] = NULL;
    }
out:
    for (int i = 0; i < 4; i++)
        lgi_free(paths[i]);
    return err;
}

lg_err_t lgi_segment_files_rename(const char *dir, int64_t base_offset,
                                  const char *from, const char *to,
                                  int log_last) {
    static const char *const kinds[4] = {".index", ".timeindex", ".txnindex",
                                         ".log"};
    lg_err_t err = LG_OK;
    for (int n = 0; n < 4 && err == LG_OK; n++) {
        int i = log_last ? n : (n + 3) % 4;
        char *source = NULL, *target = NULL;
        if (set_path(&source, dir, base_offset, kinds[i], from) != 0 ||
            set_path(&target, dir, base_offset, kinds[i], to) != 0)
            err = lgi_error(LG_ERR_NOMEM, "segment %lld: out of memory",
                            (long long)base_offset);
        else if (rename(source, target) != 0 && errno != ENOENT)
            err = lgi_error_errno(LG_ERR_IO, errno, "rename %s to %s",
                                  source, target);
        lgi_free(source);
        lgi_free(target);
    }
    return err;
}

lg_err_t lgi_segment_files_unlink(const char *dir, int64_t base_offset,
                                  const char *suffix) {
    static const char *const kinds[4] = {".log", ".index", ".timeindex",
                                         ".txnindex"};
    lg_err_t err = LG_OK;
    for (int i = 0; i < 4; i++) {
        char *path = NULL;
        if (set_path(&path, dir, base_offset, kinds[i], suffix) != 0) {
            if (err == LG_OK)
                err = lgi_error(LG_ERR_NOMEM, "segment %lld: out of memory",
                                (long long)base_offset);
            continue;
        }
        if (unlink(path) != 0 && errno != ENOENT && err == LG_OK)
            err = lgi_error_errno(LG_ERR_IO, errno, "unlink %s", path);
        lgi_free(path);
    }
    return err;
}

lg_err_t lgi_segment_open(const char *dir, int64_t base_offset,
                          int32_t index_interval_bytes,
                          int32_t segment_index_bytes,
                          lgi_segment_t **segmentp) {
    lgi_segment_t *segment;
    struct stat st;
    lg_err_t err = segment_alloc(dir, base_offset, index_interval_bytes,
                                 segment_index_bytes, &segment);
    if (err != LG_OK)
        return err;
    segment->fd = open(segment->log_path, O_RDWR | O_CLOEXEC);
    if (segment->fd < 0 || fstat(segment->fd, &st) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "open %s", segment->log_path);
        segment_free(segment);
        return err;
    }
    segment->size = st.st_size;
    segment->preallocated_to = st.st_size;
    segment->zeroed_to = st.st_size;
    segment->sealed = 1; /* on disk already; unsealed if appended to */
    *segmentp = segment;
    return LG_OK;
}

void lgi_segment_ref(lgi_segment_t *segment) {
    atomic_fetch_add_explicit(&segment->refcount, 1, memory_order_relaxed);
}

void lgi_segment_unref(lgi_segment_t *segment) {
    if (!segment)
        return;
    if (atomic_fetch_sub_explicit(&segment->refcount, 1,
                                  memory_order_acq_rel) == 1)
        segment_free(segment);
}

lg_err_t lgi_segment_delete(lgi_segment_t *segment) {
    const char *paths[4] = {segment->log_path, segment->index_path,
                            segment->time_index_path,
                            segment->txn_index_path};
    lg_err_t err = LG_OK;
    for (int i = 0; i < 4; i++) {
        if (unlink(paths[i]) != 0 && errno != ENOENT && err == LG_OK)
            err = lgi_error_errno(LG_ERR_IO, errno, "unlink %s", paths[i]);
    }
    segment->deleted = 1;
    return err;
}

/* ------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

lg_err_t lgi_segment_pread(const lgi_segment_t *segment, int64_t position,
                           void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(segment->fd, (uint8_t *)buf + done, len - done,
                          (off_t)(position + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lgi_error_errno(LG_ERR_IO, errno, "read %s at %lld",
                                   segment->log_path,
                                   (long long)(position + (int64_t)done));
        if (n == 0)
            return lgi_error(LG_ERR_CORRUPT,
                             "%s: unexpected end of file at %lld",
                             segment->log_path,
                             (long long)(position + (int64_t)done));
        done += (size_t)n;
    }
    return LG_OK;
}

lg_err_t lgi_segment_read_header(const lgi_segment_t *segment,
                                 int64_t position, int64_t limit,
                                 lgi_batch_header_t *header) {
    uint8_t bytes[LGI_BATCH_HEADER_SIZE];
    lg_err_t err;
    if (limit - position < LGI_BATCH_HEADER_SIZE)
        return lgi_error(LG_ERR_CORRUPT,
                         "%s: partial batch header at %lld (%lld bytes left)",
                         segment->log_path, (long long)position,
                         (long long)(limit - position));
    err = lgi_segment_pread(segment, position, bytes, sizeof(bytes));
    if (err != LG_OK)
        return err;
    err = lgi_batch_parse_header(bytes, sizeof(bytes), LGI_SEGMENT_MAX_BATCH,
                                 header);
    if (err != LG_OK)
        return lgi_error(LG_ERR_CORRUPT, "%s: bad batch header at %lld",
                         segment->log_path, (long long)position);
    if ((int64_t)lgi_batch_size(header) > limit - position)
        return lgi_error(LG_ERR_CORRUPT,
                         "%s: batch at %lld of %zu bytes runs past %lld",
                         segment->log_path, (long long)position,
                         lgi_batch_size(header), (long long)limit);
    return LG_OK;
}

int64_t lgi_segment_index_position(const lgi_segment_t *segment,
                                   int64_t offset) {
    lgi_index_entry_t entry;
    if (lgi_index_lookup(&segment->offset_index, offset, &entry))
        return entry.value;
    return 0;
}

/* Bytes the header walk of lgi_segment_scan_to_offset reads at once.  It
 * starts at an offset-index entry, at most about index.interval.bytes
 * (default 4096) before the batch sought, so one window usually holds
 * the whole walk. */
#define SCAN_WINDOW 8192

/* Reads up to len bytes at position into buf, stopping early at the end
 * of the file or at an error: what was read is all the caller learns
 * (the header-by-header read that follows reports any failure). */
static size_t pread_some(const lgi_segment_t *segment, int64_t position,
                         uint8_t *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(segment->fd, buf + done, len - done,
                          (off_t)(position + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

/* Walks the headers in windows of SCAN_WINDOW bytes read at once.  A
 * header that is not wholly in the window read, does not parse, or runs
 * past limit is read again with lgi_segment_read_header, which fails
 * exactly as a header-by-header walk would (and, should the window have
 * been short or out of memory, simply reads it). */
lg_err_t lgi_segment_scan_to_offset_keep(const lgi_segment_t *segment,
                                         int64_t position, int64_t limit,
                                         int64_t offset, int64_t *positionp,
                                         lgi_batch_header_t *header,
                                         uint8_t **windowp,
                                         size_t *window_lenp) {
    uint8_t *window = NULL;
    size_t window_size = 0;
    int64_t window_start = position, window_end = position;
    lg_err_t err = LG_OK;
    while (position < limit) {
        if (position + LGI_BATCH_HEADER_SIZE > window_end &&
            limit - position >= LGI_BATCH_HEADER_SIZE) {
            if (!window) {
                window_size = limit - position < SCAN_WINDOW
                                  ? (size_t)(limit - position)
                                  : SCAN_WINDOW;
                window = lgi_malloc(window_size);
            }
            size_t want = limit - position < (int64_t)window_size
                              ? (size_t)(limit - position)
                              : window_size;
            window_start = position;
            window_end = position +
                         (window ? (int64_t)pread_some(segment, position,
                                                       window, want)
                                 : 0);
        }
        if (position + LGI_BATCH_HEADER_SIZE > window_end ||
            lgi_batch_parse_header(window + (position - window_start),
                                   LGI_BATCH_HEADER_SIZE,
                                   LGI_SEGMENT_MAX_BATCH, header) != LG_OK ||
            (int64_t)lgi_batch_size(header) > limit - position) {
            err = lgi_segment_read_header(segment, position, limit, header);
            if (err != LG_OK)
                break;
        }
        if (lgi_batch_last_offset(header) >= offset)
            break;
        position += (int64_t)lgi_batch_size(header);
    }
    if (windowp) {
        *windowp = NULL;
        *window_lenp = 0;
    }
    if (windowp && err == LG_OK && position < limit &&
        position >= window_start && position < window_end) {
        size_t kept = (size_t)(window_end - position);
        memmove(window, window + (position - window_start), kept);
        *windowp = window;
        *window_lenp = kept;
        window = NULL;
    }
    lgi_free(window);
    if (err == LG_OK)
        *positionp = position < limit ? position : limit;
    return err;
}

lg_err_t lgi_segment_scan_to_offset(const lgi_segment_t *segment,
                                    int64_t position, int64_t limit,
                                    int64_t offset, int64_t *positionp,
                                    lgi_batch_header_t *header) {
    return lgi_segment_scan_to_offset_keep(segment, position, limit, offset,
                                           positionp, header, NULL, NULL);
}

int64_t lgi_segment_time_lookup(const lgi_segment_t *segment,
                                int64_t timestamp) {
    lgi_index_entry_t entry;
    if (lgi_index_lookup(&segment->time_index, timestamp, &entry))
        return entry.value;
    return segment->base_offset;
}

lg_err_t lgi_segment_find_time(const lgi_segment_t *segment,
                               int64_t timestamp, int64_t position,
                               int64_t limit, int64_t *offsetp, int *foundp) {
    lgi_batch_header_t header;
    lgi_buf_t batch = LGI_BUF_INIT, scratch = LGI_BUF_INIT;
    lg_err_t err = LG_OK;

    *foundp = 0;
    while (position < limit) {
        err = lgi_segment_read_header(segment, position, limit, &header);
        if (err != LG_OK)
            break;
        if (header.max_timestamp < timestamp) {
            position += (int64_t)lgi_batch_size(&header);
            continue;
        }
        /* This batch holds the first record at or after timestamp. */
        size_t size = lgi_batch_size(&header);
        batch.len = 0;
        if (lgi_buf_reserve(&batch, size) != 0) {
            err = lgi_error(LG_ERR_NOMEM, "%s: out of memory",
                            segment->log_path);
            break;
        }
        err = lgi_segment_pread(segment, position, batch.data, size);
        if (err != LG_OK)
            break;
        err = lgi_batch_validate(batch.data, size, LGI_SEGMENT_MAX_BATCH,
                                 &header);
        if (err != LG_OK)
            break;
        if (header.attributes & LGI_ATTR_LOG_APPEND_TIME) {
            /* Every record carries the batch's append time. */
            *offsetp = header.base_offset;
            *foundp = 1;
            break;
        }
        lgi_record_iter_t iter;
        lgi_record_t record;
        int done = 0;
        err = lgi_record_iter_init(&iter, batch.data, &header, &scratch);
        while (err == LG_OK) {
            err = lgi_record_iter_next(&iter, &record, &done);
            if (err != LG_OK || done)
                break;
            if (record.timestamp >= timestamp) {
                *offsetp = record.offset;
                *foundp = 1;
                break;
            }
        }
        if (err != LG_OK || *foundp)
            break;
        /* max_timestamp promised a record; fall back to the batch end. */
        *offsetp = lgi_batch_last_offset(&header);
        *foundp = 1;
        break;
    }
    lgi_buf_free(&batch);
    lgi_buf_free(&scratch);
    return err;
}

/* ------------------------------------------------------------------------
 * Appending and indexing
 * --------------------------------------------------------------------- */

int lgi_segment_offset_overflows(const lgi_segment_t *segment,
                                 int64_t last_offset) {
    return last_offset - segment->base_offset > INT32_MAX ||
           last_offset < segment->base_offset;
}

lg_err_t lgi_segment_note_append(lgi_segment_t *segment, int64_t position,
                                 size_t len, int64_t last_offset,
                                 int64_t max_timestamp, int64_t now_ms) {
    lg_err_t err = LG_OK;
    if (position == 0 || segment->first_append_ms < 0)
        segment->first_append_ms = now_ms;
    segment->sealed = 0;
    if (max_timestamp > segment->max_timestamp) {
        segment->max_timestamp = max_timestamp;
        segment->offset_of_max_timestamp = last_offset;
    }
    /* Kafka indexes the batch that starts once MORE than
     * index.interval.bytes have been appended since the last entry. */
    if (segment->bytes_since_index > segment->index_interval_bytes) {
        err = lgi_index_append_offset(&segment->offset_index, last_offset,
                                      position);
        if (err == LG_OK)
            err = lgi_index_maybe_append_time(&segment->time_index,
                                              segment->max_timestamp,
                                              segment->offset_of_max_timestamp);
        segment->bytes_since_index = 0;
    }
    segment->bytes_since_index += (int64_t)len;
    segment->next_offset = last_offset + 1;
    return err;
}

void lgi_segment_preallocate(lgi_segment_t *segment, int64_t end) {
    if (end <= segment->preallocated_to)
        return;
    /* KEEP_SIZE: the blocks are reserved but the file size, which is the
     * log's logical end, does not move.  EOPNOTSUPP (tmpfs on old kernels,
     * some network filesystems) just means no preallocation. */
    if (fallocate(segment->fd, FALLOC_FL_KEEP_SIZE,
                  (off_t)segment->preallocated_to,
                  (off_t)(end - segment->preallocated_to)) == 0)
        segment->preallocated_to = end;
}

/* The source of every zero fill; never written. */
static const uint8_t zeros[LGI_SEGMENT_ZERO_FILL_BYTES];

void lgi_segment_zero_fill_req(const lgi_segment_t *segment, int64_t from,
                               int64_t to, lgi_io_req_t *req,
                               struct iovec *iov) {
    memset(req, 0, sizeof *req);
    iov->iov_base = (void *)zeros;
    iov->iov_len = (size_t)(to - from);
    req->op = LGI_IO_WRITE;
    req->fd = segment->fd;
    req->pos = (uint64_t)from;
    req->iov = iov;
    req->iovcnt = 1;
}

int lgi_segment_is_zero_fill(const lgi_io_req_t *req) {
    return req->op == LGI_IO_WRITE && req->iovcnt == 1 &&
           req->iov[0].iov_base == (const void *)zeros;
}

/* Where the last non-zero byte of [from, to) of segment's .log ends (from
 * when there is none).  A read error counts as non-zero: the bytes are
 * then reported as dropped, which is the safe side. */
static int64_t nonzero_end(const lgi_segment_t *segment, int64_t from,
                           int64_t to) {
    uint8_t block[4096];
    int64_t end = from;
    for (int64_t position = from; position < to;) {
        size_t want = (size_t)(to - position) < sizeof block
                          ? (size_t)(to - position)
                          : sizeof block;
        ssize_t got = pread(segment->fd, block, want, (off_t)position);
        if (got <= 0)
            return to;
        for (ssize_t i = got; i > 0; i--)
            if (block[i - 1] != 0) {
                end = position + i;
                break;
            }
        position += got;
    }
    return end;
}

/* ------------------------------------------------------------------------
 * Recovery and index loading
 * --------------------------------------------------------------------- */

lg_err_t lgi_segment_recover(lgi_segment_t *segment, lgi_segment_batch_fn fn,
                             void *opaque, int64_t *truncatedp,
                             int64_t *scannedp) {
    struct stat st;
    lgi_buf_t batch = LGI_BUF_INIT;
    lgi_batch_header_t header;
    int64_t position = 0, expected = segment->base_offset;
    lg_err_t err = LG_OK;

    if (fstat(segment->fd, &st) != 0)
        return lgi_error_errno(LG_ERR_IO, errno, "stat %s", segment->log_path);
    lgi_index_reset(&segment->offset_index);
    lgi_index_reset(&segment->time_index);
    /* Entries depend on producer state before this segment: the partition
     * rebuilds them with a replay of the log (txnindex.h). */
    lgi_txnindex_reset(&segment->txn_index);
    segment->txn_index_stale = 1;
    segment->bytes_since_index = 0;
    segment->max_timestamp = -1;
    segment->offset_of_max_timestamp = segment->base_offset;
    segment->size = 0;
    segment->next_offset = segment->base_offset;

    while (position < st.st_size) {
        if (lgi_segment_read_header(segment, position, st.st_size, &header) !=
            LG_OK)
            break; /* torn or garbage header: the valid prefix ends here */
        size_t size = lgi_batch_size(&header);
        batch.len = 0;
        if (lgi_buf_reserve(&batch, size) != 0) {
            err = lgi_error(LG_ERR_NOMEM, "recover %s: out of memory",
                            segment->log_path);
            goto out;
        }
        err = lgi_segment_pread(segment, position, batch.data, size);
        if (err == LG_ERR_IO)
            goto out;
        if (err != LG_OK ||
            lgi_batch_validate(batch.data, size, LGI_SEGMENT_MAX_BATCH,
                               &header) != LG_OK ||
            header.base_offset < expected ||
            lgi_segment_offset_overflows(segment,
                                         lgi_batch_last_offset(&header)) ||
            (fn && fn(opaque, &header) != 0)) {
            err = LG_OK;
            break;
        }
        err = lgi_segment_note_append(segment, position, size,
                                      lgi_batch_last_offset(&header),
                                      header.max_timestamp,
                                      segment->first_append_ms);
        if (err != LG_OK)
            goto out;
        expected = lgi_batch_last_offset(&header) + 1;
        position += (int64_t)size;
        segment->size = position;
    }
    int64_t dropped = position < st.st_size
                          ? nonzero_end(segment, position, st.st_size) -
                                position
                          : 0;
    if (position < st.st_size) {
        if (ftruncate(segment->fd, (off_t)position) != 0) {
            err = lgi_error_errno(LG_ERR_IO, errno, "truncate %s to %lld",
                                  segment->log_path, (long long)position);
            goto out;
        }
        if (fdatasync(segment->fd) != 0) {
            err = lgi_error_errno(LG_ERR_IO, errno, "fdatasync %s",
                                  segment->log_path);
            goto out;
        }
    }
    segment->preallocated_to = position;
    segment->zeroed_to = position;
    if (truncatedp)
        *truncatedp = dropped;
    if (scannedp)
        *scannedp = st.st_size;
out:
    lgi_buf_free(&batch);
    return err;
}

lg_err_t lgi_segment_load(lgi_segment_t *segment, lgi_segment_batch_fn fn,
                          void *opaque, int *rebuiltp) {
    lgi_index_entry_t entry;
    lgi_batch_header_t header;
    int64_t position = 0;

    if (rebuiltp)
        *rebuiltp = 0;
    if (lgi_index_load(&segment->offset_index, segment->index_path,
                       segment->size) != LG_OK ||
        lgi_index_load(&segment->time_index, segment->time_index_path,
                       segment->size) != LG_OK)
        goto rebuild;
    /* The last time-index entry must name an offset inside the log, which
     * the header walk below tells us. */
    if (lgi_index_last(&segment->offset_index, &entry))
        position = entry.value;
    segment->next_offset = segment->base_offset;
    while (position < segment->size) {
        if (lgi_segment_read_header(segment, position, segment->size,
                                    &header) != LG_OK)
            goto rebuild;
        if (header.base_offset < segment->next_offset && position > 0)
            goto rebuild;
        segment->next_offset = lgi_batch_last_offset(&header) + 1;
        position += (int64_t)lgi_batch_size(&header);
    }
    if (lgi_index_last(&segment->time_index, &entry)) {
        if (entry.value >= segment->next_offset)
            goto rebuild;
        segment->max_timestamp = entry.key;
        segment->offset_of_max_timestamp = entry.value;
    }
    if (lgi_index_last(&segment->offset_index, &entry) &&
        entry.key >= segment->next_offset)
        goto rebuild;
    /* A missing or invalid .txnindex alone does not distrust the log: it
     * is rebuilt by the partition's replay. */
    if (lgi_txnindex_load(&segment->txn_index, segment->txn_index_path,
                          segment->next_offset) != LG_OK) {
        lgi_error_clear();
        segment->txn_index_stale = 1;
    }
    /* Trusted segments feed the epoch cache only when asked to. */
    segment->bytes_since_index = 0;
    (void)fn;
    (void)opaque;
    return LG_OK;

rebuild:
    lgi_error_clear();
    if (rebuiltp)
        *rebuiltp = 1;
    return lgi_segment_recover(segment, fn, opaque, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * Truncation and sealing
 * --------------------------------------------------------------------- */

lg_err_t lgi_segment_truncate_bytes(lgi_segment_t *segment, int64_t position,
                                    int64_t next_offset) {
    lgi_index_entry_t entry;
    if (ftruncate(segment->fd, (off_t)position) != 0)
        return lgi_error_errno(LG_ERR_IO, errno, "truncate %s to %lld",
                               segment->log_path, (long long)position);
    segment->size = position;
    segment->next_offset = next_offset;
    if (segment->preallocated_to > position)
        segment->preallocated_to = position;
    segment->zeroed_to = position;
    lgi_index_truncate_to_offset(&segment->offset_index, next_offset);
    lgi_index_truncate_to_offset(&segment->time_index, next_offset);
    lgi_txnindex_truncate_to(&segment->txn_index, next_offset);
    /* Kafka also restarts the interval count after a truncation. */
    segment->bytes_since_index = 0;
    if (lgi_index_last(&segment->time_index, &entry)) {
        segment->max_timestamp = entry.key;
        segment->offset_of_max_timestamp = entry.value;
    } else {
        segment->max_timestamp = -1;
        segment->offset_of_max_timestamp = segment->base_offset;
    }
    if (position == 0)
        segment->first_append_ms = -1;
    segment->sealed = 0;
    return LG_OK;
}

lg_err_t lgi_segment_truncate_to(lgi_segment_t *segment, int64_t offset,
                                 int64_t *new_endp) {
    lgi_batch_header_t header;
    int64_t position;
    lg_err_t err = lgi_segment_scan_to_offset(
        segment, lgi_segment_index_position(segment, offset), segment->size,
        offset, &position, &header);
    if (err != LG_OK)
        return err;
    if (position < segment->size) {
        err = lgi_segment_truncate_bytes(segment, position,
                                         header.base_offset);
        if (err != LG_OK)
            return err;
        /* The max timestamp may have come from a dropped batch that the
         * time index never recorded; rescan what is kept past the last
         * entry so later appends index correctly. */
        int64_t scan = lgi_segment_index_position(segment, header.base_offset);
        while (scan < segment->size) {
            lgi_batch_header_t kept;
            err = lgi_segment_read_header(segment, scan, segment->size, &kept);
            if (err != LG_OK)
                return err;
            if (kept.max_timestamp > segment->max_timestamp) {
                segment->max_timestamp = kept.max_timestamp;
                segment->offset_of_max_timestamp = lgi_batch_last_offset(&kept);
            }
            scan += (int64_t)lgi_batch_size(&kept);
        }
    }
    if (new_endp)
        *new_endp = segment->next_offset;
    return LG_OK;
}

lg_err_t lgi_segment_sync(lgi_segment_t *segment) {
    if (fdatasync(segment->fd) != 0)
        return lgi_error_errno(LG_ERR_IO, errno, "fdatasync %s",
                               segment->log_path);
    return LG_OK;
}

lg_err_t lgi_segment_seal(lgi_segment_t *segment) {
    lg_err_t err;
    /* Kafka's onBecomeInactiveSegment: the greatest timestamp always gets
     * an entry, even in a full index, so time lookups see it. */
    if (segment->max_timestamp >= 0) {
        size_t max_entries = segment->time_index.max_entries;
        segment->time_index.max_entries = segment->time_index.count + 1;
        err = lgi_index_maybe_append_time(&segment->time_index,
                                          segment->max_timestamp,
                                          segment->offset_of_max_timestamp);
        segment->time_index.max_entries = max_entries > segment->time_index.count
                                              ? max_entries
                                              : segment->time_index.count;
        if (err != LG_OK)
            return err;
    }
    /* Cut the zero fill off and drop blocks preallocated past the end: a
     * sealed segment never grows.  Only the zeros make a failure matter
     * (the next open would see them as the log's tail). */
    if (segment->zeroed_to > segment->size ||
        segment->preallocated_to > segment->size) {
        if (ftruncate(segment->fd, (off_t)segment->size) == 0) {
            segment->preallocated_to = segment->size;
            segment->zeroed_to = segment->size;
        } else if (segment->zeroed_to > segment->size) {
            return lgi_error_errno(LG_ERR_IO, errno, "truncate %s to %lld",
                                   segment->log_path,
                                   (long long)segment->size);
        }
    }
    if ((err = lgi_index_store(&segment->offset_index, segment->index_path,
                               1)) != LG_OK ||
        (err = lgi_index_store(&segment->time_index,
                               segment->time_index_path, 1)) != LG_OK ||
        (err = lgi_txnindex_store(&segment->txn_index,
                                  segment->txn_index_path, 1)) != LG_OK ||
        (err = lgi_segment_sync(segment)) != LG_OK)
        return err;
    segment->sealed = 1;
    return LG_OK;
}
