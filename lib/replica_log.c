/*
 * replica_log.c -- see replica_log.h: one replication entry = one record
 * batch of a partition.
 *
 * The log start ("replica-log-start", a checksummed metafile in the
 * partition directory): text
 *
 *   entry <first entry held>
 *   offset <record offset of that entry's batch>
 *   epoch <leader epoch of the entry before it>
 *   reset <1 while a reset is in progress, else 0>
 *
 * written (atomically, fsync'd) before the partition deletes anything
 * below offset, so the entry numbering survives retention: open scans the
 * batches from offset and numbers them from entry.  A crash in between
 * leaves the segments the partition had not deleted yet, which open
 * deletes.  A reset (the leader's log start passed this follower) writes
 * the file with reset 1 first, empties the partition and restarts it at
 * offset, then writes reset 0; open finishes a reset it finds marked.
 * Absent: the table starts at the partition's log start as entry 0.
 * Records below offset that the partition keeps (retention deletes whole
 * segments) stay readable but are not entries any more.
 */
#include "replica_log.h"

#include "alloc.h"
#include "batch.h"
#include "buf.h"
#include "crc32c.h"
#include "err.h"
#include "metafile.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct lgi_replica_log {
    lgi_partition_t *partition;
    char *state_path;
    int32_t state_epoch, state_voted_for;
    int64_t now_ms;
    int64_t *bases;  /* base record offset per entry */
    int32_t *epochs; /* leader epoch per entry */
    int64_t count, cap; /* entries held: [first, first + count) */
    int64_t first;       /* entry of bases[0] (retention moves it) */
    int64_t start_offset; /* record offset of entry first */
    int32_t start_epoch; /* epoch of entry first - 1 (0 at entry 0) */
    char *start_path;    /* the replica-log-start file */
    int broken;          /* a reset failed half-way: redone at reopen */
    int64_t log_end;     /* record offset after the last entry */
    uint8_t **reads;     /* buffers reads lent out, alive until released */
    size_t read_count, read_cap;
    size_t max_batch;
    lg_err_t last_err; /* why the last append failed (LG_OK: none) */
    char last_message[256];
    int proposing;      /* appends come from this node as leader */
    int64_t duplicate;  /* base of the original the last append repeated,
                           -1 none */
};

/* Records why an append failed; returns -1 for the core. */
static int failed(lgi_replica_log_t *log, lg_err_t err, const char *message) {
    log->last_err = err;
    snprintf(log->last_message, sizeof log->last_message, "%s", message);
    return -1;
}

void lgi_replica_log_set_proposing(lgi_replica_log_t *log, int proposing) {
    log->proposing = proposing;
    log->duplicate = -1;
}

int64_t lgi_replica_log_duplicate(lgi_replica_log_t *log) {
    return log->duplicate;
}

lg_err_t lgi_replica_log_append_error(lgi_replica_log_t *log,
                                      const char **messagep) {
    lg_err_t err = log->last_err;
    *messagep = log->last_message;
    log->last_err = LG_OK;
    return err;
}

static int push(lgi_replica_log_t *log, int64_t base, int32_t epoch) {
    if (log->count == log->cap) {
        int64_t cap = log->cap ? log->cap * 2 : 64;
        int64_t *bases = lgi_realloc(log->bases, (size_t)cap * sizeof *bases);
        if (bases == NULL)
            return -1;
        log->bases = bases;
        int32_t *epochs =
            lgi_realloc(log->epochs, (size_t)cap * sizeof *epochs);
        if (epochs == NULL)
            return -1;
        log->epochs = epochs;
        log->cap = cap;
    }
    log->bases[log->count] = base;
    log->epochs[log->count] = epoch;
    log->count++;
    return 0;
}

static size_t max_batch(lgi_partition_t *partition) {
    lgi_log_config_t config;
    lgi_partition_config(partition, &config);
    return (size_t)config.max_message_bytes;
}

/* Writes the replica-log-start file (see the file comment). */
static lg_err_t store_start(lgi_replica_log_t *log, int64_t first,
                            int64_t offset, int32_t epoch, int reset) {
    char body[128];
    int len = snprintf(body, sizeof body,
                       "entry %" PRId64 "\noffset %" PRId64 "\nepoch %" PRId32
                       "\nreset %d\n",
                       first, offset, epoch, reset);
    return lgi_metafile_write(log->start_path, body, (size_t)len);
}

/* Empties the partition and restarts it at offset (the partition half of
 * a reset). */
static lg_err_t restart_partition(lgi_replica_log_t *log, int64_t offset) {
    return lgi_partition_restart_at(log->partition, offset);
}

/* Loads the replica-log-start file, finishing a reset or a deletion a
 * crash interrupted. */
static lg_err_t load_start(lgi_replica_log_t *log) {
    int64_t start = lgi_partition_log_start(log->partition);
    log->first = 0;
    log->start_offset = start;
    log->start_epoch = 0;
    if (!lgi_metafile_exists(log->start_path))
        return LG_OK;
    char *body;
    size_t len;
    lg_err_t err = lgi_metafile_read(log->start_path, &body, &len);
    if (err != LG_OK)
        return err;
    int64_t first, offset;
    int32_t epoch;
    int reset;
    char extra;
    int n = sscanf(body, "entry %" SCNd64 " offset %" SCNd64 " epoch %" SCNd32
                   " reset %d %c", &first, &offset, &epoch, &reset, &extra);
    lgi_free(body);
    if (n != 4 || first < 0 || offset < 0 || epoch < 0 || reset < 0 ||
        reset > 1)
        return lgi_error(LG_ERR_CORRUPT, "%s: unparsable", log->start_path);
    if (reset) {
        if ((err = restart_partition(log, offset)) != LG_OK ||
            (err = store_start(log, first, offset, epoch, 0)) != LG_OK)
            return err;
        start = lgi_partition_log_start(log->partition);
    } else if (start < offset) {
        size_t deleted;
        if ((err = lgi_partition_delete_before(log->partition, offset,
                                               &deleted)) != LG_OK)
            return err;
        start = lgi_partition_log_start(log->partition);
    }
    if (start > offset)
        return lgi_error(LG_ERR_CORRUPT,
                         "replicated partition %s: log starts at %" PRId64
                         ", after its replica log start %" PRId64,
                         lgi_partition_path(log->partition), start, offset);
    log->first = first;
    log->start_offset = offset;
    log->start_epoch = epoch;
    return LG_OK;
}

/* Builds the table from the log: every batch from the start offset. */
static lg_err_t scan(lgi_replica_log_t *log) {
    int64_t end = lgi_partition_end_offset(log->partition);
    int64_t offset = log->start_offset;
    while (offset < end) {
        uint8_t *data;
        size_t len;
        lg_err_t err =
            lgi_partition_read_uncapped(log->partition, offset, 1 << 20, &data, &len);
        if (err != LG_OK)
            return err;
        if (data == NULL)
            break;
        size_t at = 0;
        while (at < len) {
            lgi_batch_header_t h;
            err = lgi_batch_parse_header(data + at, len - at, SIZE_MAX, &h);
            if (err == LG_OK && log->count == 0 && h.base_offset < offset &&
                lgi_batch_last_offset(&h) < offset) {
                at += lgi_batch_size(&h); /* the read began before start */
                continue;
            }
            if (err != LG_OK || h.base_offset != offset) {
                lgi_free(data);
                return err != LG_OK
                           ? err
                           : lgi_error(LG_ERR_CORRUPT,
                                       "replicated partition %s: batch at "
                                       "%" PRId64 " has base %" PRId64,
                                       lgi_partition_path(log->partition),
                                       offset, h.base_offset);
            }
            if (push(log, h.base_offset, h.partition_leader_epoch) != 0) {
                lgi_free(data);
                return lgi_error(LG_ERR_NOMEM, "replica log: out of memory");
            }
            offset = lgi_batch_last_offset(&h) + 1;
            at += lgi_batch_size(&h);
        }
        lgi_free(data);
    }
    log->log_end = offset;
    return LG_OK;
}

lg_err_t lgi_replica_log_open(lgi_partition_t *partition,
                              const char *state_path, int64_t now_ms,
                              lgi_replica_log_t **logp) {
    if (partition == NULL || state_path == NULL || logp == NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "replica log: NULL argument");
    lgi_replica_log_t *log = lgi_calloc(1, sizeof *log);
    if (log == NULL)
        return lgi_error(LG_ERR_NOMEM, "replica log: out of memory");
    log->partition = partition;
    log->now_ms = now_ms;
    log->duplicate = -1;
    log->max_batch = max_batch(partition);
    const char *dir = lgi_partition_path(partition);
    log->state_path = lgi_malloc(strlen(state_path) + 1);
    log->start_path = lgi_malloc(strlen(dir) + sizeof "/replica-log-start");
    if (log->state_path == NULL || log->start_path == NULL) {
        lgi_replica_log_close(log);
        return lgi_error(LG_ERR_NOMEM, "replica log: out of memory");
    }
    strcpy(log->state_path, state_path);
    strcpy(log->start_path, dir);
    strcat(log->start_path, "/replica-log-start");
    lg_err_t err = lgi_quorum_state_load(state_path, &log->state_epoch,
                                         &log->state_voted_for);
    if (err == LG_OK)
        err = load_start(log);
    if (err == LG_OK)
        err = scan(log);
    if (err != LG_OK) {
        lgi_replica_log_close(log);
        return err;
    }
    *logp = log;
    return LG_OK;
}

void lgi_replica_log_release_reads(lgi_replica_log_t *log) {
    for (size_t i = 0; i < log->read_count; i++)
        lgi_free(log->reads[i]);
    log->read_count = 0;
}

void lgi_replica_log_close(lgi_replica_log_t *log) {
    if (log == NULL)
        return;
    lgi_replica_log_release_reads(log);
    lgi_free(log->reads);
    lgi_free(log->bases);
    lgi_free(log->epochs);
    lgi_free(log->state_path);
    lgi_free(log->start_path);
    lgi_free(log);
}

void lgi_replica_log_set_time(lgi_replica_log_t *log, int64_t now_ms) {
    log->now_ms = now_ms;
}

int64_t lgi_replica_log_count(lgi_replica_log_t *log) {
    return log->first + log->count;
}

int64_t lgi_replica_log_first(lgi_replica_log_t *log) { return log->first; }

int32_t lgi_replica_log_epoch_at(lgi_replica_log_t *log, int64_t entry) {
    entry -= log->first;
    return entry >= 0 && entry < log->count ? log->epochs[entry] : -1;
}

int64_t lgi_replica_log_record_offset(lgi_replica_log_t *log, int64_t entry) {
    entry -= log->first;
    if (entry <= 0)
        return log->count > 0 ? log->bases[0] : log->log_end;
    if (entry >= log->count)
        return log->log_end;
    return log->bases[entry];
}

int64_t lgi_replica_log_entry_of(lgi_replica_log_t *log, int64_t offset) {
    if (offset >= log->log_end)
        return log->first + log->count;
    if (log->count == 0 || offset <= log->bases[0])
        return log->first;
    /* last entry with base <= offset */
    int64_t lo = 0, hi = log->count; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (log->bases[mid] <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return log->first + lo;
}

/* ------------------------------------------------------------------------
 * The storage table
 * --------------------------------------------------------------------- */

static int64_t s_end_offset(void *opaque) {
    lgi_replica_log_t *log = opaque;
    return log->first + log->count;
}

/* Entries wholly below the partition's durable (fdatasync'd) end. */
static int64_t s_durable_end(void *opaque) {
    lgi_replica_log_t *log = opaque;
    int64_t durable = lgi_partition_recovery_point(log->partition);
    if (durable >= log->log_end)
        return log->first + log->count;
    /* entry i is durable when the next entry starts at or below durable */
    int64_t holding = lgi_replica_log_entry_of(log, durable);
    return holding; /* entries [0, holding) end at or below durable */
}

static int s_read(void *opaque, int64_t offset, int32_t *epochp,
                  const uint8_t **datap, uint32_t *lenp) {
    lgi_replica_log_t *log = opaque;
    offset -= log->first;
    if (offset < 0 || offset >= log->count)
        return -1;
    if (log->read_count == log->read_cap) {
        size_t cap = log->read_cap ? log->read_cap * 2 : 16;
        uint8_t **reads = lgi_realloc(log->reads, cap * sizeof *reads);
        if (reads == NULL)
            return -1;
        log->reads = reads;
        log->read_cap = cap;
    }
    uint8_t *data;
    size_t len;
    if (lgi_partition_read_uncapped(log->partition, log->bases[offset], 1, &data,
                           &len) != LG_OK ||
        data == NULL)
        return -1;
    lgi_batch_header_t h;
    if (lgi_batch_parse_header(data, len, SIZE_MAX, &h) != LG_OK ||
        h.base_offset != log->bases[offset] || lgi_batch_size(&h) > len ||
        lgi_batch_size(&h) > UINT32_MAX) {
        lgi_free(data);
        return -1;
    }
    log->reads[log->read_count++] = data;
    *epochp = log->epochs[offset];
    *datap = data;
    *lenp = (uint32_t)lgi_batch_size(&h);
    return 0;
}

/* The leader-change marker as a one-record control batch (key: version 0,
 * type 2; value: version 0).  lgi_batch_encode builds the record and CRC;
 * the control attribute is then set and the CRC recomputed. */
static uint8_t *marker_batch(lgi_replica_log_t *log, size_t *lenp) {
    lg_records_t *records = lg_records_new();
    if (records == NULL)
        return NULL;
    static const uint8_t key[4] = {0, 0, 0, LGI_CONTROL_LEADER_CHANGE};
    static const uint8_t value[2] = {0, 0};
    lgi_batch_options_t options;
    lgi_batch_options_init(&options);
    options.now_ms = log->now_ms < 0 ? 0 : log->now_ms;
    lgi_buf_t out = LGI_BUF_INIT;
    int64_t timestamp = options.now_ms;
    if (lg_records_add(records, key, sizeof key, value, sizeof value,
                       timestamp) != LG_OK ||
        lgi_batch_encode(&out, records, &options) != LG_OK) {
        lg_records_destroy(records);
        lgi_buf_free(&out);
        return NULL;
    }
    lg_records_destroy(records);
    uint8_t *b = out.data;
    uint16_t attributes = (uint16_t)((b[21] << 8) | b[22]);
    attributes |= LGI_ATTR_CONTROL;
    b[21] = (uint8_t)(attributes >> 8);
    b[22] = (uint8_t)attributes;
    uint32_t crc = lgi_crc32c(0, b + LGI_BATCH_CRC_START,
                              out.len - LGI_BATCH_CRC_START);
    b[17] = (uint8_t)(crc >> 24);
    b[18] = (uint8_t)(crc >> 16);
    b[19] = (uint8_t)(crc >> 8);
    b[20] = (uint8_t)crc;
    *lenp = out.len;
    return b;
}

static int s_append(void *opaque, int32_t epoch, const uint8_t *data,
                    uint32_t len) {
    lgi_replica_log_t *log = opaque;
    uint8_t *batch;
    size_t size;
    log->last_err = LG_OK;
    if (log->broken)
        return failed(log, LG_ERR_IO, "a reset of this replica failed; "
                      "reopen the engine to finish it");
    if (len == LGI_REPLICA_MARKER_LEN &&
        memcmp(data, LGI_REPLICA_MARKER, LGI_REPLICA_MARKER_LEN) == 0) {
        batch = marker_batch(log, &size);
        if (batch == NULL)
            return failed(log, LG_ERR_NOMEM, "leader-change batch: out of "
                          "memory");
    } else {
        /* Untrusted: exactly one whole, CRC-valid batch. */
        lgi_batch_header_t h;
        if (data == NULL ||
            lgi_batch_validate(data, len, log->max_batch, &h) != LG_OK ||
            lgi_batch_size(&h) != len)
            return failed(log, LG_ERR_CORRUPT,
                          "entry is not exactly one valid record batch");
        batch = lgi_malloc(len);
        if (batch == NULL)
            return failed(log, LG_ERR_NOMEM, "out of memory");
        memcpy(batch, data, len);
        size = len;
    }
    lgi_batch_header_t h;
    if (lgi_batch_parse_header(batch, size, SIZE_MAX, &h) != LG_OK ||
        lgi_partition_set_leader_epoch(log->partition, epoch) != LG_OK) {
        lgi_free(batch);
        return failed(log, LG_ERR_INVALID_ARG, lg_last_error_message());
    }
    if (log->count == log->cap && push(log, 0, 0) == 0)
        log->count--; /* grow first so the table cannot fail after append */
    if (log->count == log->cap) {
        lgi_free(batch);
        return failed(log, LG_ERR_NOMEM, "out of memory");
    }
    /* The leader validates producer id, epoch and sequence; a follower
     * records what the leader accepted without judging it again. */
    int64_t base;
    lg_err_t err =
        log->proposing
            ? lgi_partition_append_direct(log->partition, batch, size,
                                          LG_ACKS_LEADER, log->now_ms, &base)
            : lgi_partition_append_replica(log->partition, batch, size,
                                           log->now_ms, &base);
    if (err != LG_OK) /* e.g. an idempotent producer's sequence error */
        return failed(log, err, lg_last_error_message());
    if (base != log->log_end) {
        /* Nothing was written: the partition recognised a retried batch of
         * an idempotent producer it already holds at base (its only reason
         * to answer another offset, as the adapter is the sole writer).
         * Not an entry: the owner answers with the original's offsets. */
        log->duplicate = base;
        return failed(log, LG_OK, "retried batch already in the log");
    }
    push(log, base, epoch);
    log->log_end = base + h.last_offset_delta + 1;
    return 0;
}

static int s_truncate_to(void *opaque, int64_t offset) {
    lgi_replica_log_t *log = opaque;
    offset -= log->first;
    if (offset < 0) /* below the log start: committed, never truncated */
        return -1;
    if (offset >= log->count)
        return 0;
    if (lgi_partition_truncate_to(log->partition, log->bases[offset]) !=
        LG_OK)
        return -1;
    log->log_end = log->bases[offset];
    log->count = offset;
    return 0;
}

static int s_sync(void *opaque) {
    lgi_replica_log_t *log = opaque;
    return lgi_partition_flush(log->partition) == LG_OK ? 0 : -1;
}

static void s_end_offset_for_epoch(void *opaque, int32_t epoch,
                                   int32_t *epoch_out, int64_t *end_out) {
    lgi_replica_log_t *log = opaque;
    *epoch_out = -1;
    *end_out = -1;
    for (int64_t i = log->count; i-- > 0;) {
        if (log->epochs[i] <= epoch) {
            *epoch_out = log->epochs[i];
            *end_out = log->first + i + 1;
            return;
        }
    }
    /* Only the entry before the log start is known below it. */
    if (log->first > 0 && log->start_epoch <= epoch) {
        *epoch_out = log->start_epoch;
        *end_out = log->first;
    }
}

static void s_log_start(void *opaque, int64_t *offsetp, int32_t *epochp,
                        int64_t *tokenp) {
    lgi_replica_log_t *log = opaque;
    *offsetp = log->first;
    *epochp = log->start_epoch;
    *tokenp = log->start_offset;
}

/* Moves the log start to entry offset (or less: never past the end).
 * The file first, so the numbering survives a crash in the deletion. */
static int s_delete_before(void *opaque, int64_t offset) {
    lgi_replica_log_t *log = opaque;
    if (offset > log->first + log->count)
        offset = log->first + log->count;
    int64_t drop = offset - log->first;
    if (drop <= 0)
        return 0;
    int64_t base = lgi_replica_log_record_offset(log, offset);
    int32_t epoch = log->epochs[drop - 1];
    size_t deleted;
    if (store_start(log, offset, base, epoch, 0) != LG_OK)
        return -1;
    memmove(log->bases, log->bases + drop,
            (size_t)(log->count - drop) * sizeof *log->bases);
    memmove(log->epochs, log->epochs + drop,
            (size_t)(log->count - drop) * sizeof *log->epochs);
    log->count -= drop;
    log->first = offset;
    log->start_offset = base;
    log->start_epoch = epoch;
    /* A failure leaves segments below base, deleted at the next open. */
    return lgi_partition_delete_before(log->partition, base, &deleted) ==
                   LG_OK
               ? 0
               : -1;
}

lg_err_t lgi_replica_log_delete_before(lgi_replica_log_t *log,
                                      int64_t offset) {
    if (s_delete_before(log, lgi_replica_log_entry_of(log, offset)) != 0)
        return lgi_error(LG_ERR_IO, "replicated partition %s: retention "
                         "failed: %s", lgi_partition_path(log->partition),
                         lg_last_error_message());
    return LG_OK;
}

/* Kafka's truncateFullyAndStartAt: see the file comment. */
static int s_reset_to(void *opaque, int64_t offset, int32_t epoch,
                      int64_t token) {
    lgi_replica_log_t *log = opaque;
    if (offset < 0 || epoch < 0 || token < log->start_offset ||
        store_start(log, offset, token, epoch, 1) != LG_OK)
        return -1;
    log->count = 0;
    log->first = offset;
    log->start_offset = token;
    log->start_epoch = epoch;
    log->log_end = token;
    if (restart_partition(log, token) != LG_OK ||
        store_start(log, offset, token, epoch, 0) != LG_OK) {
        log->broken = 1; /* the reset is redone at the next open */
        return -1;
    }
    return 0;
}

static int s_save_state(void *opaque, int32_t epoch, int32_t voted_for) {
    lgi_replica_log_t *log = opaque;
    if (lgi_quorum_state_save(log->state_path, epoch, voted_for) != LG_OK)
        return -1;
    log->state_epoch = epoch;
    log->state_voted_for = voted_for;
    return 0;
}

static void s_load_state(void *opaque, int32_t *epochp, int32_t *voted_forp) {
    lgi_replica_log_t *log = opaque;
    *epochp = log->state_epoch;
    *voted_forp = log->state_voted_for;
}

lgi_replica_storage_t lgi_replica_log_storage(lgi_replica_log_t *log) {
    lgi_replica_storage_t s = {
        .opaque = log,
        .end_offset = s_end_offset,
        .durable_end = s_durable_end,
        .read = s_read,
        .append = s_append,
        .truncate_to = s_truncate_to,
        .sync = s_sync,
        .end_offset_for_epoch = s_end_offset_for_epoch,
        .save_state = s_save_state,
        .load_state = s_load_state,
        .log_start = s_log_start,
        .delete_before = s_delete_before,
        .reset_to = s_reset_to,
    };
    return s;
}
