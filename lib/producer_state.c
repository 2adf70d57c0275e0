/*
 * producer_state.c -- the per-partition idempotent-producer table and its
 * snapshot files.
 *
 * Role: decide, for every batch carrying a producer id, whether the log
 * takes it (next in sequence), acknowledges it without writing (a retry of
 * a batch already in the log: the original offsets are returned), or
 * refuses it (a gap in the sequence, or an epoch older than the one the
 * partition has seen).  The rules are Kafka's (ProducerAppendInfo):
 *
 *   - epoch < known epoch                      -> fenced;
 *   - a retained batch with the same epoch, first and last sequence
 *                                              -> duplicate;
 *   - epoch > known epoch: first sequence must be 0 (a new epoch restarts
 *     sequences), unless the producer is unknown;
 *   - same epoch: first sequence must be last sequence + 1 (wrapping from
 *     INT32_MAX to 0);
 *   - unknown producer: any first sequence is taken (its earlier batches
 *     may have gone with retention).
 *
 * Invariants: entries are sorted by producer id; every entry has at least
 * one batch; batches are in offset order.  A producer all of whose
 * batches a rollback or truncation removed keeps one placeholder batch
 * (offsets -1, never matched as a duplicate) whose last sequence is the
 * one before the first removed, so its next append must resend that; at most
 * LGI_PRODUCER_STATE_BATCHES batches below the partition's stable end are
 * kept per producer (unpublished ones are kept beyond that, so a rollback
 * never forgets a producer's last stable sequence).
 *
 * SNAPSHOT FILE "<20-digit offset>.snapshot" (Kafka's layout, version 1,
 * big-endian), the table as of that offset:
 *
 *   offset size field
 *   0      2    version (1)
 *   2      4    crc: CRC-32C of every byte after this field
 *   6      4    entry count n
 *   10     46*n entries:
 *                 ProducerId int64, ProducerEpoch int16, LastSequence int32,
 *                 LastOffset int64, OffsetDelta int32 (last - first offset
 *                 of the last batch), Timestamp int64 (its max timestamp),
 *                 CoordinatorEpoch int32 (-1), CurrentTxnFirstOffset int64
 *                 (-1: no open transaction; else the first offset of the
 *                 producer's open transaction, what the last stable
 *                 offset is computed from)
 *
 * Only the last batch of each producer is stored, as Kafka does, so after
 * a restart from a snapshot a retry of an older batch is out of order
 * rather than a duplicate.  A reader rejects a file whose length is not
 * 10 + 46*n or whose CRC differs, and then falls back to an older snapshot
 * or to rebuilding from the log.
 */
#include "producer_state.h"

#include "alloc.h"
#include "crc32c.h"
#include "err.h"
#include "metafile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAPSHOT_SUFFIX ".snapshot"
#define SNAPSHOT_VERSION 1
#define SNAPSHOT_HEADER 10
#define SNAPSHOT_ENTRY 46

typedef struct batch_meta {
    int16_t epoch; /* a retry must match it too: after an epoch change the
                      old epoch's last batch is kept (see record) but its
                      sequences are reused by the new epoch */
    int32_t first_sequence;
    int32_t last_sequence;
    int64_t first_offset;
    int64_t last_offset;
    int64_t max_timestamp; /* when appended (the max timestamp when
                              replayed from the log) */
} batch_meta_t;

typedef struct producer_entry {
    int64_t producer_id;
    int16_t epoch;
    size_t count; /* batches, oldest first */
    size_t cap;
    batch_meta_t *batches;
    /* Transactions: first offset of the producer's open transaction (-1:
     * none).  The last marker's offset and the transaction it closed, so
     * a rollback of the marker (truncate) reopens it. */
    int64_t txn_first_offset;
    int64_t closed_txn_first_offset;
    int64_t closed_txn_marker_offset;
    int transactional; /* has written transactional batches (counted in
                          the table's transactional) */
} producer_entry_t;

struct lgi_producer_state {
    producer_entry_t *entries; /* sorted by producer_id */
    size_t count;
    size_t cap;
    /* Entries with transactional set: while 0, the LSO questions are
     * answered without walking the table (they are asked at every
     * publish). */
    size_t transactional;
};

lgi_producer_state_t *lgi_producer_state_new(void) {
    return lgi_calloc(1, sizeof(lgi_producer_state_t));
}

static void clear(lgi_producer_state_t *state) {
    for (size_t i = 0; i < state->count; i++)
        lgi_free(state->entries[i].batches);
    state->count = 0;
    state->transactional = 0;
}

static void mark_transactional(lgi_producer_state_t *state,
                               producer_entry_t *entry) {
    if (!entry->transactional) {
        entry->transactional = 1;
        state->transactional++;
    }
}

void lgi_producer_state_free(lgi_producer_state_t *state) {
    if (!state)
        return;
    clear(state);
    lgi_free(state->entries);
    lgi_free(state);
}

size_t lgi_producer_state_count(const lgi_producer_state_t *state) {
    return state->count;
}

/* Index of producer_id's entry, or where it would be inserted (with
 * *foundp 0). */
static size_t find(const lgi_producer_state_t *state, int64_t producer_id,
                   int *foundp) {
    size_t low = 0, high = state->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (state->entries[mid].producer_id < producer_id)
            low = mid + 1;
        else
            high = mid;
    }
    *foundp = low < state->count &&
              state->entries[low].producer_id == producer_id;
    return low;
}

int lgi_producer_state_lookup(const lgi_producer_state_t *state,
                              int64_t producer_id, int16_t *epochp,
                              int32_t *last_sequencep) {
    int found;
    size_t i = find(state, producer_id, &found);
    if (!found)
        return -1;
    const producer_entry_t *entry = &state->entries[i];
    if (epochp)
        *epochp = entry->epoch;
    if (last_sequencep)
        *last_sequencep = entry->batches[entry->count - 1].last_sequence;
    return 0;
}

static int32_t last_sequence_of(const lgi_batch_header_t *header) {
    int64_t last = (int64_t)header->base_sequence + header->last_offset_delta;
    return last > INT32_MAX ? (int32_t)(last - INT32_MAX - 1) : (int32_t)last;
}

lgi_sequence_verdict_t lgi_producer_state_check(
    const lgi_producer_state_t *state, const lgi_batch_header_t *header,
    int64_t *first_offsetp, int64_t *last_offsetp) {
    int found;
    size_t i = find(state, header->producer_id, &found);
    if (!found)
        return LGI_SEQUENCE_OK;
    const producer_entry_t *entry = &state->entries[i];
    if (header->producer_epoch < entry->epoch)
        return LGI_SEQUENCE_FENCED;
    if (header->attributes & LGI_ATTR_CONTROL)
        return LGI_SEQUENCE_OK;
    int32_t first = header->base_sequence;
    if (header->producer_epoch == entry->epoch) {
        int32_t last = last_sequence_of(header);
        for (size_t b = 0; b < entry->count; b++) {
            const batch_meta_t *meta = &entry->batches[b];
            if (meta->first_offset >= 0 &&
                meta->epoch == header->producer_epoch &&
                meta->first_sequence == first &&
                meta->last_sequence == last) {
                *first_offsetp = meta->first_offset;
                *last_offsetp = meta->last_offset;
                return LGI_SEQUENCE_DUPLICATE;
            }
        }
        int32_t previous = entry->batches[entry->count - 1].last_sequence;
        int in_sequence = previous == INT32_MAX ? first == 0
                                                : first == previous + 1;
        return in_sequence ? LGI_SEQUENCE_OK : LGI_SEQUENCE_OUT_OF_ORDER;
    }
    /* A newer epoch starts its sequences again at 0. */
    return first == 0 ? LGI_SEQUENCE_OK : LGI_SEQUENCE_OUT_OF_ORDER;
}

/* Adds one batch to entry, trimming stable ones beyond the retained
 * number. */
static lg_err_t entry_push(producer_entry_t *entry, const batch_meta_t *meta,
                           int64_t stable_end) {
    if (entry->count == entry->cap) {
        size_t cap = entry->cap ? entry->cap * 2 : LGI_PRODUCER_STATE_BATCHES + 1;
        batch_meta_t *grown = lgi_realloc(entry->batches, cap * sizeof(*grown));
        if (!grown)
            return LG_ERR_NOMEM;
        entry->batches = grown;
        entry->cap = cap;
    }
    entry->batches[entry->count++] = *meta;
    size_t drop = 0;
    while (entry->count - drop > LGI_PRODUCER_STATE_BATCHES &&
           entry->batches[drop + 1].last_offset < stable_end)
        drop++;
    if (drop > 0) {
        memmove(entry->batches, entry->batches + drop,
                (entry->count - drop) * sizeof(*entry->batches));
        entry->count -= drop;
    }
    return LG_OK;
}

/* Inserts or updates producer_id with one batch. */
static lg_err_t record(lgi_producer_state_t *state, int64_t producer_id,
                       int16_t epoch, const batch_meta_t *meta,
                       int64_t stable_end) {
    int found;
    size_t i = find(state, producer_id, &found);
    if (!found) {
        if (state->count == state->cap) {
            size_t cap = state->cap ? state->cap * 2 : 8;
            producer_entry_t *grown =
                lgi_realloc(state->entries, cap * sizeof(*grown));
            if (!grown)
                return lgi_error(LG_ERR_NOMEM, "producer state: out of memory");
            state->entries = grown;
            state->cap = cap;
        }
        producer_entry_t fresh = {.producer_id = producer_id,
                                  .epoch = epoch,
                                  .txn_first_offset = -1,
                                  .closed_txn_first_offset = -1,
                                  .closed_txn_marker_offset = -1};
        if (entry_push(&fresh, meta, stable_end) != LG_OK)
            return lgi_error(LG_ERR_NOMEM, "producer state: out of memory");
        memmove(state->entries + i + 1, state->entries + i,
                (state->count - i) * sizeof(*state->entries));
        state->entries[i] = fresh;
        state->count++;
        return LG_OK;
    }
    producer_entry_t *entry = &state->entries[i];
    if (epoch != entry->epoch) {
        /* A new epoch: the old epoch's batches can no longer be retried. */
        if (entry->count > 0 &&
            entry->batches[entry->count - 1].last_offset < stable_end) {
            entry->batches[0] = entry->batches[entry->count - 1];
            entry->count = 1;
        }
        entry->epoch = epoch;
    }
    if (entry_push(entry, meta, stable_end) != LG_OK)
        return lgi_error(LG_ERR_NOMEM, "producer state: out of memory");
    return LG_OK;
}

/* A marker at marker_offset ends entry's open transaction. */
static void close_txn(producer_entry_t *entry, int64_t marker_offset) {
    entry->closed_txn_first_offset = entry->txn_first_offset;
    entry->closed_txn_marker_offset = marker_offset;
    entry->txn_first_offset = -1;
}

lg_err_t lgi_producer_state_update(lgi_producer_state_t *state,
                                   const lgi_batch_header_t *header,
                                   int64_t stable_end, int64_t append_ms) {
    batch_meta_t meta = {
        .epoch = header->producer_epoch,
        .first_sequence = header->base_sequence,
        .last_sequence = last_sequence_of(header),
        .first_offset = header->base_offset,
        .last_offset = lgi_batch_last_offset(header),
        .max_timestamp = append_ms,
    };
    if (header->attributes & LGI_ATTR_CONTROL) {
        /* A marker carries no sequence: keep the last data batch's. */
        int found;
        size_t i = find(state, header->producer_id, &found);
        if (found) {
            producer_entry_t *entry = &state->entries[i];
            entry->epoch = header->producer_epoch;
            close_txn(entry, header->base_offset);
            mark_transactional(state, entry);
            return LG_OK;
        }
        meta.first_sequence = meta.last_sequence = -1;
    }
    lg_err_t err = record(state, header->producer_id, header->producer_epoch,
                          &meta, stable_end);
    if (err != LG_OK)
        return err;
    int found;
    producer_entry_t *entry =
        &state->entries[find(state, header->producer_id, &found)];
    if (header->attributes & LGI_ATTR_CONTROL)
        close_txn(entry, header->base_offset);
    else if ((header->attributes & LGI_ATTR_TRANSACTIONAL) &&
             entry->txn_first_offset < 0)
        entry->txn_first_offset = header->base_offset;
    if (header->attributes & (LGI_ATTR_CONTROL | LGI_ATTR_TRANSACTIONAL))
        mark_transactional(state, entry);
    return LG_OK;
}

int64_t lgi_producer_state_first_unstable(const lgi_producer_state_t *state,
                                          int64_t published_end) {
    int64_t first = -1;
    if (state->transactional == 0)
        return -1;
    for (size_t i = 0; i < state->count; i++) {
        const producer_entry_t *entry = &state->entries[i];
        int64_t offset = entry->txn_first_offset;
        /* Kafka's unreplicated transactions: closed, but the marker is not
         * readable yet, so the transaction is not decided for readers. */
        if (offset < 0 && entry->closed_txn_marker_offset >= published_end)
            offset = entry->closed_txn_first_offset;
        if (offset >= 0 && (first < 0 || offset < first))
            first = offset;
    }
    return first;
}

void lgi_producer_state_aborted_txn(const lgi_producer_state_t *state,
                                    int64_t producer_id,
                                    int64_t marker_offset,
                                    int64_t *first_offsetp,
                                    int64_t *last_stable_offsetp) {
    int64_t first = marker_offset, stable = marker_offset + 1;
    for (size_t i = 0; state->transactional && i < state->count; i++) {
        const producer_entry_t *entry = &state->entries[i];
        if (entry->txn_first_offset < 0)
            continue;
        if (entry->producer_id == producer_id)
            first = entry->txn_first_offset;
        else if (entry->txn_first_offset < stable)
            stable = entry->txn_first_offset;
    }
    *first_offsetp = first;
    *last_stable_offsetp = stable;
}

int lgi_producer_state_each_open_txn(const lgi_producer_state_t *state,
                                     int (*fn)(void *opaque,
                                               int64_t producer_id,
                                               int64_t first_offset),
                                     void *opaque) {
    for (size_t i = 0; state->transactional && i < state->count; i++) {
        const producer_entry_t *entry = &state->entries[i];
        int rc;
        if (entry->txn_first_offset >= 0 &&
            (rc = fn(opaque, entry->producer_id, entry->txn_first_offset)))
            return rc;
    }
    return 0;
}

void lgi_producer_state_truncate(lgi_producer_state_t *state, int64_t offset) {
    for (size_t i = 0; i < state->count; i++) {
        producer_entry_t *entry = &state->entries[i];
        int32_t removed_first = -1;
        int64_t removed_timestamp = -1;
        if (entry->txn_first_offset >= offset)
            entry->txn_first_offset = -1;
        if (entry->closed_txn_marker_offset >= offset) {
            /* The marker went: its transaction is open again (unless its
             * data went too). */
            entry->txn_first_offset =
                entry->closed_txn_first_offset < offset
                    ? entry->closed_txn_first_offset
                    : -1;
            entry->closed_txn_first_offset = -1;
            entry->closed_txn_marker_offset = -1;
        }
        while (entry->count > 0 &&
               entry->batches[entry->count - 1].last_offset >= offset) {
            entry->count--;
            removed_first = entry->batches[entry->count].first_sequence;
            removed_timestamp = entry->batches[entry->count].max_timestamp;
        }
        if (entry->count == 0 && removed_first >= 0) {
            /* Everything it wrote went: the producer is still known, and
             * its next batch must be the first one removed -- otherwise a
             * later batch sent before the retry of an earlier one would
             * be taken as the start of an unknown producer. */
            int32_t previous = removed_first == 0 ? INT32_MAX
                                                  : removed_first - 1;
            entry->batches[0] = (batch_meta_t){
                .epoch = entry->epoch,
                .first_sequence = previous,
                .last_sequence = previous,
                .first_offset = -1,
                .last_offset = -1,
                .max_timestamp = removed_timestamp,
            };
            entry->count = 1;
        }
    }
}

void lgi_producer_state_expire(lgi_producer_state_t *state, int64_t cutoff_ms) {
    size_t kept = 0;
    for (size_t i = 0; i < state->count; i++) {
        producer_entry_t *entry = &state->entries[i];
        /* As Kafka, a producer with an open transaction never expires. */
        if (entry->txn_first_offset < 0 &&
            entry->batches[entry->count - 1].max_timestamp < cutoff_ms) {
            if (entry->transactional)
                state->transactional--;
            lgi_free(entry->batches);
            continue;
        }
        state->entries[kept++] = *entry;
    }
    state->count = kept;
}

/* ------------------------------------------------------------------------
 * Snapshots
 * --------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint16_t get16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static char *snapshot_path(const char *dir, int64_t offset, const char *tail) {
    size_t len = strlen(dir) + 48;
    char *path = lgi_malloc(len);
    if (path)
        snprintf(path, len, "%s/%020" PRId64 SNAPSHOT_SUFFIX "%s", dir,
                 offset, tail);
    return path;
}

static lg_err_t write_all(int fd, const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC ? LG_ERR_DISK_FULL : LG_ERR_IO;
        }
        data += n;
        len -= (size_t)n;
    }
    return LG_OK;
}

lg_err_t lgi_producer_state_write_snapshot(const lgi_producer_state_t *state,
                                           const char *dir, int64_t offset) {
    size_t len = SNAPSHOT_HEADER + SNAPSHOT_ENTRY * state->count;
    uint8_t *body = lgi_malloc(len);
    char *path = snapshot_path(dir, offset, "");
    char *temp = snapshot_path(dir, offset, ".tmp");
    lg_err_t err = LG_OK;
    if (!body || !path || !temp) {
        err = lgi_error(LG_ERR_NOMEM, "producer snapshot: out of memory");
        goto out;
    }
    put16(body, SNAPSHOT_VERSION);
    put32(body + 6, (uint32_t)state->count);
    for (size_t i = 0; i < state->count; i++) {
        const producer_entry_t *entry = &state->entries[i];
        const batch_meta_t *last = &entry->batches[entry->count - 1];
        uint8_t *p = body + SNAPSHOT_HEADER + SNAPSHOT_ENTRY * i;
        put64(p, (uint64_t)entry->producer_id);
        put16(p + 8, (uint16_t)entry->epoch);
        put32(p + 10, (uint32_t)last->last_sequence);
        put64(p + 14, (uint64_t)last->last_offset);
        put32(p + 22, (uint32_t)(last->last_offset - last->first_offset));
        put64(p + 26, (uint64_t)last->max_timestamp);
        put32(p + 34, (uint32_t)-1);
        put64(p + 38, (uint64_t)entry->txn_first_offset);
    }
    put32(body + 2, lgi_crc32c(0, body + 6, len - 6));
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = lgi_error_errno(errno == ENOSPC ? LG_ERR_DISK_FULL : LG_ERR_IO,
                              errno, "producer snapshot %s", temp);
        goto out;
    }
    /* No fdatasync: a snapshot lost or torn in a crash fails its CRC
     * (or is missing) and the table is rebuilt from the log, which is
     * durable up to the snapshot's offset whenever one is written (at a
     * roll or close, after the segment's own fdatasync). */
    err = write_all(fd, body, len);
    close(fd);
    if (err == LG_OK && rename(temp, path) != 0)
        err = LG_ERR_IO;
    if (err != LG_OK) {
        unlink(temp);
        err = lgi_error(err, "producer snapshot %s: write failed", path);
        goto out;
    }
out:
    lgi_free(body);
    lgi_free(path);
    lgi_free(temp);
    return err;
}

/* Parses one snapshot file into state; LG_ERR_CORRUPT when invalid. */
static lg_err_t load_file(lgi_producer_state_t *state, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "producer snapshot %s", path);
    struct stat st;
    lg_err_t err = LG_OK;
    uint8_t *body = NULL;
    if (fstat(fd, &st) != 0 || st.st_size < SNAPSHOT_HEADER ||
        st.st_size > (off_t)64 << 20) {
        err = lgi_error(LG_ERR_CORRUPT, "producer snapshot %s: bad size", path);
        goto out;
    }
    size_t len = (size_t)st.st_size;
    body = lgi_malloc(len);
    if (!body) {
        err = lgi_error(LG_ERR_NOMEM, "producer snapshot: out of memory");
        goto out;
    }
    if (pread(fd, body, len, 0) != (ssize_t)len) {
        err = lgi_error(LG_ERR_IO, "producer snapshot %s: short read", path);
        goto out;
    }
    uint32_t count = get32(body + 6);
    if (get16(body) != SNAPSHOT_VERSION ||
        len != SNAPSHOT_HEADER + (size_t)SNAPSHOT_ENTRY * count ||
        get32(body + 2) != lgi_crc32c(0, body + 6, len - 6)) {
        err = lgi_error(LG_ERR_CORRUPT,
                        "producer snapshot %s: bad version, length or CRC",
                        path);
        goto out;
    }
    clear(state);
    for (uint32_t i = 0; i < count && err == LG_OK; i++) {
        const uint8_t *p = body + SNAPSHOT_HEADER + SNAPSHOT_ENTRY * i;
        batch_meta_t meta;
        int64_t producer_id = (int64_t)get64(p);
        int16_t epoch = (int16_t)get16(p + 8);
        int32_t delta = (int32_t)get32(p + 22);
        if (delta < 0)
            delta = 0;
        meta.last_sequence = (int32_t)get32(p + 10);
        meta.last_offset = (int64_t)get64(p + 14);
        meta.first_offset = meta.last_offset - delta;
        meta.first_sequence = meta.last_sequence < 0
                                  ? -1
                                  : (int32_t)((meta.last_sequence - delta) &
                                              INT32_MAX);
        meta.max_timestamp = (int64_t)get64(p + 26);
        meta.epoch = epoch;
        err = record(state, producer_id, epoch, &meta, INT64_MAX);
        if (err == LG_OK) {
            int found;
            int64_t txn_first = (int64_t)get64(p + 38);
            producer_entry_t *entry =
                &state->entries[find(state, producer_id, &found)];
            entry->txn_first_offset = txn_first < 0 ? -1 : txn_first;
            if (txn_first >= 0)
                mark_transactional(state, entry);
        }
    }
    if (err != LG_OK)
        clear(state);
out:
    close(fd);
    lgi_free(body);
    return err;
}

static int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

lg_err_t lgi_producer_state_load_latest(lgi_producer_state_t *state,
                                        const char *dir, int64_t log_end,
                                        int64_t *offsetp) {
    *offsetp = -1;
    clear(state);
    DIR *d = opendir(dir);
    if (!d)
        return lgi_error_errno(LG_ERR_IO, errno, "producer state: opendir %s",
                               dir);
    int64_t *offsets = NULL;
    size_t count = 0, cap = 0;
    lg_err_t err = LG_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        const char *suffix = SNAPSHOT_SUFFIX;
        size_t suffix_len = strlen(suffix);
        if (n != 20 + suffix_len || strcmp(de->d_name + 20, suffix) != 0)
            continue;
        char *end;
        errno = 0;
        long long offset = strtoll(de->d_name, &end, 10);
        if (errno || end != de->d_name + 20 || offset < 0)
            continue;
        if (count == cap) {
            size_t grown_cap = cap ? cap * 2 : 8;
            int64_t *grown = lgi_realloc(offsets, grown_cap * sizeof(*grown));
            if (!grown) {
                err = lgi_error(LG_ERR_NOMEM, "producer state: out of memory");
                break;
            }
            offsets = grown;
            cap = grown_cap;
        }
        offsets[count++] = offset;
    }
    closedir(d);
    if (err == LG_OK) {
        if (count > 1)
            qsort(offsets, count, sizeof(*offsets), compare_int64);
        size_t kept = 0;
        for (size_t i = count; i-- > 0;) {
            char *path = snapshot_path(dir, offsets[i], "");
            if (!path) {
                err = lgi_error(LG_ERR_NOMEM, "producer state: out of memory");
                break;
            }
            int remove = offsets[i] > log_end || kept >= 2;
            if (!remove && *offsetp < 0) {
                if (load_file(state, path) == LG_OK)
                    *offsetp = offsets[i];
                else
                    remove = 1; /* corrupt: fall back to an older one */
                lgi_error_clear();
            }
            if (remove)
                unlink(path);
            else
                kept++;
            lgi_free(path);
        }
    }
    lgi_free(offsets);
    return err;
}
