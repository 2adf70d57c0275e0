/*
 * index.h -- Kafka's sparse offset index (.index) and time index
 * (.timeindex) for one segment, kept in memory and stored to their files.
 *
 * Both kinds share one structure: a sorted array of (key, value) pairs.
 *   offset index: key = absolute offset (the LAST offset of a batch),
 *                 value = file position of that batch's first byte;
 *   time index:   key = timestamp (max timestamp so far in the segment),
 *                 value = absolute offset of the batch that holds it.
 * On disk offsets are stored relative to the segment's base offset; the
 * byte layout is documented atop index.c.
 *
 * Thread-safety: none; the owning partition serialises access under its
 * mutex.
 */
#ifndef LG_INDEX_H
#define LG_INDEX_H

#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

enum lgi_index_kind {
    LGI_INDEX_OFFSET = 0, /* .index, 8-byte entries */
    LGI_INDEX_TIME = 1,   /* .timeindex, 12-byte entries */
};

#define LGI_OFFSET_INDEX_ENTRY_SIZE 8
#define LGI_TIME_INDEX_ENTRY_SIZE 12

typedef struct lgi_index_entry {
    int64_t key;
    int64_t value;
} lgi_index_entry_t;

typedef struct lgi_index {
    int kind;                   /* enum lgi_index_kind */
    int64_t base_offset;        /* the segment's base offset */
    lgi_index_entry_t *entries; /* sorted, keys strictly increasing */
    size_t count;
    size_t cap;
    size_t max_entries; /* segment.index.bytes / entry size */
} lgi_index_t;

/* Initialises an empty index of kind for the segment at base_offset that
 * may hold at most max_bytes of entries (segment.index.bytes). */
void lgi_index_init(lgi_index_t *index, int kind, int64_t base_offset,
                    int32_t max_bytes);

/* Frees the entries (the struct itself is the caller's). */
void lgi_index_free(lgi_index_t *index);

/* Bytes of one entry of index's kind. */
size_t lgi_index_entry_size(const lgi_index_t *index);

/* Non-zero when no further entry fits within segment.index.bytes. */
int lgi_index_is_full(const lgi_index_t *index);

/* Appends an offset-index entry (offset, position).  offset must be greater
 * than the last entry's.  LG_ERR_INVALID_ARG when it is not or the index is
 * full; LG_ERR_NOMEM. */
lg_err_t lgi_index_append_offset(lgi_index_t *index, int64_t offset,
                                 int64_t position);

/* Kafka's TimeIndex.maybeAppend: appends (timestamp, offset) when timestamp
 * is greater than the last entry's (or the index is empty); otherwise does
 * nothing.  LG_ERR_NOMEM; LG_ERR_INVALID_ARG when offset goes backwards or
 * the index is full. */
lg_err_t lgi_index_maybe_append_time(lgi_index_t *index, int64_t timestamp,
                                     int64_t offset);

/* The largest entry whose key is <= key: 1 with *entry set, 0 when every
 * entry is larger (or the index is empty). */
int lgi_index_lookup(const lgi_index_t *index, int64_t key,
                     lgi_index_entry_t *entry);

/* The last entry: 1 with *entry set, 0 when empty. */
int lgi_index_last(const lgi_index_t *index, lgi_index_entry_t *entry);

/* Removes every entry that refers to an offset >= offset (key for the
 * offset index, value for the time index), as Kafka's truncateTo. */
void lgi_index_truncate_to_offset(lgi_index_t *index, int64_t offset);

/* Removes every entry. */
void lgi_index_reset(lgi_index_t *index);

/* Loads path into index, replacing its entries, and validates: size a
 * multiple of the entry size and within max_entries, relative offsets in
 * [0, INT32_MAX], keys strictly increasing (the time index's offsets
 * non-decreasing), offset-index positions < log_size and time-index offsets
 * >= base offset.  LG_OK; LG_ERR_IO when missing or unreadable (the index
 * is then empty); LG_ERR_CORRUPT with a message naming the file and entry
 * when invalid (the index is then empty).  Callers rebuild on either. */
lg_err_t lgi_index_load(lgi_index_t *index, const char *path,
                        int64_t log_size);

/* Writes the entries to path (created if needed) and truncates the file to
 * exactly their bytes; fdatasyncs it when sync is non-zero. */
lg_err_t lgi_index_store(const lgi_index_t *index, const char *path,
                         int sync);

#endif
