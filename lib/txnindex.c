/*
 * txnindex.c -- the aborted-transaction index (<base>.txnindex), Kafka's
 * TransactionIndex, byte for byte.
 *
 * Role: let a read_committed reader skip the data of aborted transactions
 * without scanning the log for markers.  Each entry names one aborted
 * transaction of one producer in this partition; it lives in the segment
 * that holds the transaction's ABORT marker.
 *
 * FILE LAYOUT (big-endian, no header, entries back to back, 34 bytes each)
 *
 *   offset size field
 *   0      2    version            int16, 0
 *   2      8    producerId         int64
 *   10     8    firstOffset        int64: the producer's first offset in
 *                                  the transaction in this partition (the
 *                                  marker's own offset if it wrote none)
 *   18     8    lastOffset         int64: the ABORT marker's offset
 *   26     8    lastStableOffset   int64: the first offset of the oldest
 *                                  transaction of ANOTHER producer still
 *                                  open when the marker was appended, or
 *                                  lastOffset + 1 when none was (Kafka's
 *                                  ProducerStateManager.lastStableOffset
 *                                  of a completed transaction)
 *
 *   Entries are in marker order (lastOffset strictly increasing, every
 *   one inside the segment).  Commits get no entry: only aborted data
 *   must be skipped.
 *
 * WHEN IT IS WRITTEN.  The partition appends an entry when it hands an
 * ABORT control batch to the I/O engine (under its mutex, with the values
 * its producer-state table gives), pwrite'ing the 34 bytes at once; the
 * file is fdatasync'd with the segment's seal.  It is created, renamed,
 * truncated and deleted with the segment's other files.  A segment that
 * recovery scans (past the recovery point), or whose file is missing or
 * fails validation, gets its index rebuilt by the replay below, which
 * re-derives every entry from the log's batch headers; the values match
 * what the live path wrote, except that a transaction whose earlier
 * batches retention already deleted starts at its first retained batch --
 * the same for every reader, since the deleted part cannot be read.
 *
 * THE READER'S ALGORITHM (Kafka's collectAbortedTxns, then the consumer's
 * filter in fetch.c).  For a fetch of [fetchOffset, upper), visit the
 * segments from the one holding fetchOffset onwards and take every entry
 * with lastOffset >= fetchOffset and firstOffset < upper; stop after the
 * first segment holding an entry whose lastStableOffset >= upper: that
 * marker came after every transaction begun below upper had completed, so
 * no later marker concerns the fetched range.  The consumer then walks
 * the batches: a transactional data batch of producer P is skipped while
 * P has an aborted transaction whose firstOffset <= the batch's last
 * offset and whose marker it has not yet passed.
 */
#include "txnindex.h"

#include "alloc.h"
#include "endian.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files larger than this are refused as corrupt (two million aborted
 * transactions in one segment). */
#define MAX_FILE_BYTES ((off_t)64 << 20)

void lgi_txnindex_init(lgi_txnindex_t *index, int64_t base_offset) {
    memset(index, 0, sizeof *index);
    index->base_offset = base_offset;
}

void lgi_txnindex_free(lgi_txnindex_t *index) {
    lgi_free(index->entries);
    index->entries = NULL;
    index->count = index->cap = 0;
}

void lgi_txnindex_reset(lgi_txnindex_t *index) { index->count = 0; }

void lgi_txnindex_encode(uint8_t out[LGI_TXNINDEX_ENTRY_SIZE],
                         const lgi_aborted_txn_t *entry) {
    lgi_put_be16(out, LGI_TXNINDEX_VERSION);
    lgi_put_be64(out + 2, (uint64_t)entry->producer_id);
    lgi_put_be64(out + 10, (uint64_t)entry->first_offset);
    lgi_put_be64(out + 18, (uint64_t)entry->last_offset);
    lgi_put_be64(out + 26, (uint64_t)entry->last_stable_offset);
}

lg_err_t lgi_txnindex_decode(const uint8_t in[LGI_TXNINDEX_ENTRY_SIZE],
                             lgi_aborted_txn_t *entry) {
    if ((int16_t)lgi_get_be16(in) != LGI_TXNINDEX_VERSION)
        return LG_ERR_CORRUPT;
    entry->producer_id = (int64_t)lgi_get_be64(in + 2);
    entry->first_offset = (int64_t)lgi_get_be64(in + 10);
    entry->last_offset = (int64_t)lgi_get_be64(in + 18);
    entry->last_stable_offset = (int64_t)lgi_get_be64(in + 26);
    return LG_OK;
}

static lg_err_t reserve(lgi_txnindex_t *index, size_t n) {
    if (n <= index->cap)
        return LG_OK;
    size_t cap = index->cap ? index->cap * 2 : 8;
    while (cap < n)
        cap *= 2;
    lgi_aborted_txn_t *grown =
        lgi_realloc(index->entries, cap * sizeof *grown);
    if (!grown)
        return lgi_error(LG_ERR_NOMEM, "transaction index: out of memory");
    index->entries = grown;
    index->cap = cap;
    return LG_OK;
}

static lg_err_t write_at(int fd, const uint8_t *data, size_t len, off_t at,
                         const char *path) {
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return lgi_error_errno(errno == ENOSPC ? LG_ERR_DISK_FULL
                                                  : LG_ERR_IO,
                                   errno, "write %s", path);
        data += n;
        len -= (size_t)n;
        at += n;
    }
    return LG_OK;
}

lg_err_t lgi_txnindex_append(lgi_txnindex_t *index, const char *path,
                             const lgi_aborted_txn_t *entry) {
    if (index->count > 0 &&
        entry->last_offset <= index->entries[index->count - 1].last_offset)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: marker offset %" PRId64 " does not follow %"
                         PRId64, path, entry->last_offset,
                         index->entries[index->count - 1].last_offset);
    lg_err_t err = reserve(index, index->count + 1);
    if (err != LG_OK)
        return err;
    uint8_t bytes[LGI_TXNINDEX_ENTRY_SIZE];
    lgi_txnindex_encode(bytes, entry);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "open %s", path);
    err = write_at(fd, bytes, sizeof bytes,
                   (off_t)(index->count * LGI_TXNINDEX_ENTRY_SIZE), path);
    close(fd);
    if (err != LG_OK)
        return err;
    index->entries[index->count++] = *entry;
    return LG_OK;
}

void lgi_txnindex_truncate_to(lgi_txnindex_t *index, int64_t offset) {
    while (index->count > 0 &&
           index->entries[index->count - 1].last_offset >= offset)
        index->count--;
}

lg_err_t lgi_txnindex_load(lgi_txnindex_t *index, const char *path,
                           int64_t next_offset) {
    struct stat st;
    uint8_t *bytes = NULL;
    lg_err_t err = LG_OK;
    index->count = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "open %s", path);
    if (fstat(fd, &st) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "stat %s", path);
        goto out;
    }
    if (st.st_size % LGI_TXNINDEX_ENTRY_SIZE != 0 ||
        st.st_size > MAX_FILE_BYTES) {
        err = lgi_error(LG_ERR_CORRUPT,
                        "%s: size %lld is not a multiple of %d entries",
                        path, (long long)st.st_size, LGI_TXNINDEX_ENTRY_SIZE);
        goto out;
    }
    size_t count = (size_t)st.st_size / LGI_TXNINDEX_ENTRY_SIZE;
    if (count == 0)
        goto out;
    if ((err = reserve(index, count)) != LG_OK)
        goto out;
    bytes = lgi_malloc((size_t)st.st_size);
    if (!bytes) {
        err = lgi_error(LG_ERR_NOMEM, "transaction index: out of memory");
        goto out;
    }
    if (pread(fd, bytes, (size_t)st.st_size, 0) != (ssize_t)st.st_size) {
        err = lgi_error_errno(LG_ERR_IO, errno, "read %s", path);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        lgi_aborted_txn_t entry;
        int64_t previous = i > 0 ? index->entries[i - 1].last_offset
                                 : index->base_offset - 1;
        if (lgi_txnindex_decode(bytes + i * LGI_TXNINDEX_ENTRY_SIZE,
                                &entry) != LG_OK ||
            entry.producer_id < 0 || entry.first_offset < 0 ||
            entry.first_offset > entry.last_offset ||
            entry.last_offset <= previous ||
            entry.last_offset >= next_offset ||
            entry.last_stable_offset < 0 ||
            entry.last_stable_offset > entry.last_offset + 1) {
            err = lgi_error(LG_ERR_CORRUPT, "%s: entry %zu is invalid", path,
                            i);
            goto out;
        }
        index->entries[i] = entry;
    }
    index->count = count;
out:
    if (err != LG_OK)
        index->count = 0;
    lgi_free(bytes);
    close(fd);
    return err;
}

lg_err_t lgi_txnindex_store(const lgi_txnindex_t *index, const char *path,
                            int sync) {
    size_t len = index->count * LGI_TXNINDEX_ENTRY_SIZE;
    uint8_t *bytes = len ? lgi_malloc(len) : NULL;
    if (len && !bytes)
        return lgi_error(LG_ERR_NOMEM, "transaction index: out of memory");
    for (size_t i = 0; i < index->count; i++)
        lgi_txnindex_encode(bytes + i * LGI_TXNINDEX_ENTRY_SIZE,
                            &index->entries[i]);
    lg_err_t err = LG_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "open %s", path);
        goto out;
    }
    if ((err = write_at(fd, bytes, len, 0, path)) == LG_OK &&
        ftruncate(fd, (off_t)len) != 0)
        err = lgi_error_errno(LG_ERR_IO, errno, "truncate %s", path);
    if (err == LG_OK && sync && fdatasync(fd) != 0)
        err = lgi_error_errno(LG_ERR_IO, errno, "fdatasync %s", path);
    close(fd);
out:
    lgi_free(bytes);
    return err;
}

int lgi_txnindex_collect(const lgi_txnindex_t *index, int64_t fetch_offset,
                         int64_t upper_offset, lgi_aborted_txn_t **listp,
                         size_t *countp, size_t *capp) {
    int complete = 0;
    for (size_t i = 0; i < index->count; i++) {
        const lgi_aborted_txn_t *entry = &index->entries[i];
        if (entry->last_offset >= fetch_offset &&
            entry->first_offset < upper_offset) {
            if (*countp == *capp) {
                size_t cap = *capp ? *capp * 2 : 8;
                lgi_aborted_txn_t *grown =
                    lgi_realloc(*listp, cap * sizeof *grown);
                if (!grown)
                    return -1;
                *listp = grown;
                *capp = cap;
            }
            (*listp)[(*countp)++] = *entry;
        }
        if (entry->last_stable_offset >= upper_offset)
            complete = 1;
    }
    return complete;
}

int lgi_batch_control_type(const uint8_t *batch,
                           const lgi_batch_header_t *header) {
    lgi_record_iter_t iter;
    lgi_record_t record;
    lgi_buf_t scratch = LGI_BUF_INIT;
    int done = 0, type = -1;
    if (!(header->attributes & LGI_ATTR_CONTROL))
        return -1;
    if (lgi_record_iter_init(&iter, batch, header, &scratch) == LG_OK &&
        lgi_record_iter_next(&iter, &record, &done) == LG_OK && !done &&
        record.key && record.key_len >= 4)
        type = (int16_t)lgi_get_be16(record.key + 2);
    lgi_buf_free(&scratch);
    lgi_error_clear();
    return type;
}

/* ------------------------------------------------------------------------
 * Replay
 * --------------------------------------------------------------------- */

typedef struct open_txn {
    int64_t producer_id;
    int64_t first_offset;
} open_txn_t;

struct lgi_txn_replay {
    open_txn_t *open; /* sorted by producer id */
    size_t count;
    size_t cap;
};

lgi_txn_replay_t *lgi_txn_replay_new(void) {
    return lgi_calloc(1, sizeof(lgi_txn_replay_t));
}

void lgi_txn_replay_free(lgi_txn_replay_t *replay) {
    if (!replay)
        return;
    lgi_free(replay->open);
    lgi_free(replay);
}

static size_t replay_find(const lgi_txn_replay_t *replay, int64_t producer_id,
                          int *foundp) {
    size_t low = 0, high = replay->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (replay->open[mid].producer_id < producer_id)
            low = mid + 1;
        else
            high = mid;
    }
    *foundp = low < replay->count && replay->open[low].producer_id ==
                                         producer_id;
    return low;
}

/* Inserts producer_id's open transaction at index i. */
static int replay_insert(lgi_txn_replay_t *replay, size_t i,
                         int64_t producer_id, int64_t first_offset) {
    if (replay->count == replay->cap) {
        size_t cap = replay->cap ? replay->cap * 2 : 8;
        open_txn_t *grown = lgi_realloc(replay->open, cap * sizeof *grown);
        if (!grown)
            return -1;
        replay->open = grown;
        replay->cap = cap;
    }
    memmove(replay->open + i + 1, replay->open + i,
            (replay->count - i) * sizeof *replay->open);
    replay->open[i] = (open_txn_t){producer_id, first_offset};
    replay->count++;
    return 0;
}

int lgi_txn_replay_open(lgi_txn_replay_t *replay, int64_t producer_id,
                        int64_t first_offset) {
    int found;
    size_t i = replay_find(replay, producer_id, &found);
    if (found) {
        replay->open[i].first_offset = first_offset;
        return 0;
    }
    return replay_insert(replay, i, producer_id, first_offset);
}

int lgi_txn_replay_feed(lgi_txn_replay_t *replay,
                        const lgi_batch_header_t *header, int control_type,
                        lgi_aborted_txn_t *entryp) {
    if (header->producer_id < 0 ||
        !(header->attributes & LGI_ATTR_TRANSACTIONAL))
        return 0;
    int found;
    size_t i = replay_find(replay, header->producer_id, &found);
    if (!(header->attributes & LGI_ATTR_CONTROL)) {
        if (found)
            return 0; /* its transaction is open already */
        return replay_insert(replay, i, header->producer_id,
                             header->base_offset);
    }
    int64_t first = found ? replay->open[i].first_offset : header->base_offset;
    if (found) {
        memmove(replay->open + i, replay->open + i + 1,
                (replay->count - i - 1) * sizeof *replay->open);
        replay->count--;
    }
    if (control_type != LGI_CONTROL_ABORT)
        return 0;
    /* The LSO rule: the oldest open transaction of another producer (this
     * one's was just removed). */
    int64_t stable = header->base_offset + 1;
    for (size_t k = 0; k < replay->count; k++)
        if (replay->open[k].first_offset < stable)
            stable = replay->open[k].first_offset;
    *entryp = (lgi_aborted_txn_t){.producer_id = header->producer_id,
                                  .first_offset = first,
                                  .last_offset = header->base_offset,
                                  .last_stable_offset = stable};
    return 1;
}
