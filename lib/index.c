/*
 * index.c -- Kafka's sparse offset and time indexes of one segment.
 *
 * Role: map an offset to a file position close below it (offset index) and
 * a timestamp to an offset close below it (time index), so a lookup reads
 * at most index.interval.bytes of batch headers.  The indexes are hints:
 * the .log is the truth, and an index that fails validation is rebuilt from
 * it.  The active segment's indexes live in memory and are stored when the
 * segment is sealed or the partition closed; files hold exactly their
 * entries (Kafka preallocates and trims at seal; we never preallocate, so
 * there is no trailing zero region to mistake for entries).
 *
 * File layouts (all integers big-endian, as Kafka writes them):
 *
 *   <base>.index       entries of 8 bytes, sorted by offset
 *     +--------------------------+--------------------------+
 *     | relativeOffset (int32)   | position (int32)         |
 *     +--------------------------+--------------------------+
 *     relativeOffset = last offset of an indexed batch - segment base
 *     position       = byte position of that batch in <base>.log
 *
 *   <base>.timeindex   entries of 12 bytes, sorted by timestamp
 *     +------------------------------------+------------------------+
 *     | timestamp (int64, ms)              | relativeOffset (int32) |
 *     +------------------------------------+------------------------+
 *     timestamp      = greatest batch max timestamp seen so far in the
 *                      segment when the entry was made
 *     relativeOffset = last offset of the batch holding that timestamp
 *
 * When entries are made (Kafka's LogSegment.append): before a batch is
 * appended, if more than index.interval.bytes were appended since the last
 * offset-index entry, the batch gets an entry (its last offset, its start
 * position) and the time index gets (max timestamp so far, its offset) if
 * that timestamp grew.  Lookups take the largest entry <= the target; an
 * entry's position is the start of the batch whose last offset is the
 * key, so scanning from it never skips the batch holding the target.
 *
 * Invariants: keys strictly increasing; values of the time index
 * non-decreasing; count <= max_entries.
 */
#include "endian.h"
#include "index.h"

#include "alloc.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * In-memory operations
 * --------------------------------------------------------------------- */

void lgi_index_init(lgi_index_t *index, int kind, int64_t base_offset,
                    int32_t max_bytes) {
    memset(index, 0, sizeof(*index));
    index->kind = kind;
    index->base_offset = base_offset;
    index->max_entries = max_bytes > 0
        ? (size_t)max_bytes / lgi_index_entry_size(index) : 0;
}

void lgi_index_free(lgi_index_t *index) {
    if (!index)
        return;
    lgi_free(index->entries);
    index->entries = NULL;
    index->count = index->cap = 0;
}

size_t lgi_index_entry_size(const lgi_index_t *index) {
    return index->kind == LGI_INDEX_OFFSET ? LGI_OFFSET_INDEX_ENTRY_SIZE
                                           : LGI_TIME_INDEX_ENTRY_SIZE;
}

int lgi_index_is_full(const lgi_index_t *index) {
    return index->count >= index->max_entries;
}

/* Appends one entry, growing the array by doubling. */
static lg_err_t push(lgi_index_t *index, int64_t key, int64_t value) {
    if (lgi_index_is_full(index))
        return lgi_error(LG_ERR_INVALID_ARG,
                         "index of segment %lld is full (%zu entries)",
                         (long long)index->base_offset, index->count);
    if (index->count == index->cap) {
        size_t cap = index->cap ? index->cap * 2 : 64;
        lgi_index_entry_t *entries =
            lgi_realloc(index->entries, cap * sizeof(*entries));
        if (!entries)
            return lgi_error(LG_ERR_NOMEM, "index of segment %lld: out of memory",
                             (long long)index->base_offset);
        index->entries = entries;
        index->cap = cap;
    }
    index->entries[index->count].key = key;
    index->entries[index->count].value = value;
    index->count++;
    return LG_OK;
}

lg_err_t lgi_index_append_offset(lgi_index_t *index, int64_t offset,
                                 int64_t position) {
    if (index->count > 0 && offset <= index->entries[index->count - 1].key)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "offset index of segment %lld: offset %lld not above "
                         "last entry %lld",
                         (long long)index->base_offset, (long long)offset,
                         (long long)index->entries[index->count - 1].key);
    return push(index, offset, position);
}

lg_err_t lgi_index_maybe_append_time(lgi_index_t *index, int64_t timestamp,
                                     int64_t offset) {
    if (index->count > 0) {
        const lgi_index_entry_t *last = &index->entries[index->count - 1];
        if (offset < last->value)
            return lgi_error(LG_ERR_INVALID_ARG,
                             "time index of segment %lld: offset %lld below "
                             "last entry's %lld",
                             (long long)index->base_offset, (long long)offset,
                             (long long)last->value);
        if (timestamp <= last->key)
            return LG_OK;
    }
    return push(index, timestamp, offset);
}

int lgi_index_lookup(const lgi_index_t *index, int64_t key,
                     lgi_index_entry_t *entry) {
    /* Binary search for the first entry with key > target; the one before
     * it is the answer. */
    size_t low = 0, high = index->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (index->entries[mid].key <= key)
            low = mid + 1;
        else
            high = mid;
    }
    if (low == 0)
        return 0;
    *entry = index->entries[low - 1];
    return 1;
}

int lgi_index_last(const lgi_index_t *index, lgi_index_entry_t *entry) {
    if (index->count == 0)
        return 0;
    *entry = index->entries[index->count - 1];
    return 1;
}

void lgi_index_truncate_to_offset(lgi_index_t *index, int64_t offset) {
    /* Entries refer to non-decreasing offsets, so the survivors are a
     * prefix. */
    size_t keep = 0;
    while (keep < index->count) {
        const lgi_index_entry_t *e = &index->entries[keep];
        int64_t entry_offset = index->kind == LGI_INDEX_OFFSET ? e->key
                                                               : e->value;
        if (entry_offset >= offset)
            break;
        keep++;
    }
    index->count = keep;
}

void lgi_index_reset(lgi_index_t *index) { index->count = 0; }

/* ------------------------------------------------------------------------
 * Files
 * --------------------------------------------------------------------- */

lg_err_t lgi_index_load(lgi_index_t *index, const char *path,
                        int64_t log_size) {
    size_t entry_size = lgi_index_entry_size(index);
    struct stat st;
    uint8_t *bytes = NULL;
    lg_err_t err = LG_OK;
    size_t saved_max = index->max_entries;
    int fd;

    index->count = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "open index %s", path);
    if (fstat(fd, &st) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "stat index %s", path);
        goto out;
    }
    if (st.st_size % (off_t)entry_size != 0) {
        err = lgi_error(LG_ERR_CORRUPT,
                        "index %s: size %lld is not a multiple of %zu", path,
                        (long long)st.st_size, entry_size);
        goto out;
    }
    /* The time index may hold one entry past the limit: the one sealing
     * adds for the greatest timestamp (Kafka skips the full check too). */
    if ((uint64_t)st.st_size / entry_size >
        index->max_entries + (index->kind == LGI_INDEX_TIME ? 1 : 0)) {
        err = lgi_error(LG_ERR_CORRUPT,
                        "index %s: %lld entries exceed segment.index.bytes",
                        path, (long long)(st.st_size / (off_t)entry_size));
        goto out;
    }
    if (st.st_size == 0)
        goto out;
    index->max_entries = (size_t)st.st_size / entry_size;
    bytes = lgi_malloc((size_t)st.st_size);
    if (!bytes) {
        err = lgi_error(LG_ERR_NOMEM, "index %s: out of memory", path);
        goto out;
    }
    {
        size_t done = 0;
        while (done < (size_t)st.st_size) {
            ssize_t n = pread(fd, bytes + done, (size_t)st.st_size - done,
                              (off_t)done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                err = n < 0 ? lgi_error_errno(LG_ERR_IO, errno,
                                              "read index %s", path)
                            : lgi_error(LG_ERR_CORRUPT,
                                        "index %s: shrank while read", path);
                goto out;
            }
            done += (size_t)n;
        }
    }
    for (size_t i = 0; i < (size_t)st.st_size / entry_size; i++) {
        const uint8_t *p = bytes + i * entry_size;
        int64_t key, value, relative;
        if (index->kind == LGI_INDEX_OFFSET) {
            relative = (int32_t)lgi_get_be32(p);
            key = index->base_offset + relative;
            value = (int32_t)lgi_get_be32(p + 4);
            if (value < 0 || value >= log_size) {
                err = lgi_error(LG_ERR_CORRUPT,
                                "index %s: entry %zu position %lld outside "
                                "log of %lld bytes",
                                path, i, (long long)value, (long long)log_size);
                goto out;
            }
        } else {
            key = (int64_t)lgi_get_be64(p);
            relative = (int32_t)lgi_get_be32(p + 8);
            value = index->base_offset + relative;
        }
        if (relative < 0) {
            err = lgi_error(LG_ERR_CORRUPT,
                            "index %s: entry %zu has negative relative offset",
                            path, i);
            goto out;
        }
        if (index->count > 0) {
            const lgi_index_entry_t *last = &index->entries[index->count - 1];
            if (key <= last->key ||
                (index->kind == LGI_INDEX_TIME && value < last->value)) {
                err = lgi_error(LG_ERR_CORRUPT,
                                "index %s: entry %zu is not above entry %zu",
                                path, i, i - 1);
                goto out;
            }
        }
        err = push(index, key, value);
        if (err != LG_OK)
            goto out;
    }
out:
    index->max_entries = saved_max;
    if (err != LG_OK)
        index->count = 0;
    lgi_free(bytes);
    close(fd);
    return err;
}

lg_err_t lgi_index_store(const lgi_index_t *index, const char *path,
                         int sync) {
    size_t entry_size = lgi_index_entry_size(index);
    size_t len = index->count * entry_size;
    uint8_t *bytes = NULL;
    lg_err_t err = LG_OK;
    int fd;

    if (len > 0) {
        bytes = lgi_malloc(len);
        if (!bytes)
            return lgi_error(LG_ERR_NOMEM, "index %s: out of memory", path);
    }
    for (size_t i = 0; i < index->count; i++) {
        uint8_t *p = bytes + i * entry_size;
        const lgi_index_entry_t *e = &index->entries[i];
        if (index->kind == LGI_INDEX_OFFSET) {
            lgi_put_be32(p, (uint32_t)(e->key - index->base_offset));
            lgi_put_be32(p + 4, (uint32_t)e->value);
        } else {
            lgi_put_be64(p, (uint64_t)e->key);
            lgi_put_be32(p + 8, (uint32_t)(e->value - index->base_offset));
        }
    }
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        lgi_free(bytes);
        return lgi_error_errno(LG_ERR_IO, errno, "open index %s", path);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, bytes + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = lgi_error_errno(LG_ERR_IO, errno, "write index %s at %zu",
                                  path, done);
            goto out;
        }
        done += (size_t)n;
    }
    if (ftruncate(fd, (off_t)len) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "truncate index %s to %zu",
                              path, len);
        goto out;
    }
    if (sync && fdatasync(fd) != 0)
        err = lgi_error_errno(LG_ERR_IO, errno, "fdatasync index %s", path);
out:
    close(fd);
    lgi_free(bytes);
    return err;
}
