/*
 * cleaner.c -- retention (delete whole old segments) and log compaction
 * (keep the latest record per key), Kafka's LogCleaner and retention
 * rules, for one partition at a time.
 *
 * RETENTION (cleanup.policy delete or compact,delete)
 *
 *   Only sealed segments go, whole, oldest first: while the oldest one's
 *   newest record is older than retention.ms, and then while the
 *   partition's bytes minus that segment stay >= retention.bytes.  The log
 *   start moves to the first kept segment (partition.c moves it under the
 *   mutex before the files go, so no new read starts on a doomed segment)
 *   and the engine checkpoints it in log-start-offset-checkpoint.  Files
 *   are renamed <base>.log/.index/.timeindex/.txnindex -> *.deleted (directory
 *   fsync'd), then unlinked; readers holding the segment keep reading
 *   through their fd, closed by the last reference.  A crash leaves at
 *   most *.deleted files (removed at open) or a segment below the
 *   checkpointed log start (deleted at open).
 *
 * COMPACTION (cleanup.policy compact or compact,delete)
 *
 *   The log below the active segment is split at the cleaner checkpoint
 *   ("first dirty offset") into a clean head and a dirty tail.  The dirty
 *   tail ends at the first uncleanable segment: the active one, the first
 *   whose newest record is younger than min.compaction.lag.ms, or the one
 *   holding the last stable offset (an open transaction's records are
 *   never cleaned: whether they stay is not decided yet).  A
 *   pass runs when dirty bytes / (clean + dirty bytes) reaches
 *   min.cleanable.dirty.ratio, or when the first dirty segment's oldest
 *   record is older than max.compaction.lag.ms.
 *
 *   1. Key map: the dirty tail is scanned batch by batch; each keyed
 *      record (aborted transactions' data excepted, txn_clean.c) stores
 *      XXH3-128(key) -> offset in an open-addressing table
 *      of 24-byte slots sized by log.cleaner.dedupe.buffer.size, filled to
 *      at most 90%.  When the next batch would not fit, the map stops
 *      there: the pass cleans only the prefix it covers ("map end") and the
 *      next pass continues from it.
 *   2. Rewrite: every segment from the log start up to the one holding
 *      the map end is rewritten, in groups of consecutive segments whose
 *      total size fits segment.bytes (and whose offsets fit the 32-bit
 *      relative index), each group into one new segment named after the
 *      group's first base offset.  A record is kept when
 *        - the per-batch decision does not drop its batch: aborted
 *          transactions' data goes, and transaction markers are kept
 *          whole until no data of their transaction remains and their
 *          delete horizon (set as for tombstones, below) has passed --
 *          Kafka's rules, atop txn_clean.c; a test may replace the
 *          decision (lgi_cleaner_set_batch_retain) -- and
 *        - it has a key (Kafka drops keyless records in compacted logs),
 *        - the map holds no later offset for its key, and
 *        - it is not a tombstone (null value) whose batch's delete horizon
 *          has passed.
 *      Offsets are preserved: a batch keeps its base offset and each
 *      record its offset delta, so gaps appear (the format allows them).
 *      A batch whose records all stay and that needs no new horizon is
 *      copied byte for byte; otherwise it is re-encoded with the kept
 *      records, its codec, producer fields and leader epoch.
 *   Replicated partitions (settings keep_batches): replicas must keep
 *   the same batches, so no batch is dropped -- one left without records
 *   (superseded, aborted) is written as an empty batch with the same base
 *   offset, lastOffsetDelta, epoch and producer fields, re-encoded batches
 *   keep their lastOffsetDelta, and control batches are copied whole.
 *   Tombstones, exactly as Kafka 3.x (KIP-534): a batch that keeps a
 *   tombstone and has no delete horizon yet is written with attribute bit
 *   6 set and baseTimestamp = deleteHorizonMs = now + delete.retention.ms
 *   (record timestamp deltas are then relative to the horizon); a batch
 *   already carrying a horizon keeps it; a tombstone is dropped by a later
 *   pass once now >= the horizon.  Readers get record timestamps right
 *   either way since a record's timestamp is baseTimestamp + delta.
 *   Indexes of cleaned segments are built as batches are written; the
 *   .txnindex gets back the aborted transactions whose markers stay
 *   because their data was still there when the pass began.
 *
 * SWAP PROTOCOL (one group; the steps named for lgi_cleaner_crash_at)
 *
 *   write  <B>.log.cleaned, <B>.index.cleaned, <B>.timeindex.cleaned,
 *          <B>.txnindex.cleaned (fdatasync'd) and
 *          <B>.cleaner-group.cleaned = "end <E>" where E is the base of
 *          the first segment after the group; dir fsync
 *                                                        -- step 1 after
 *   rename group file, .index, .timeindex, .txnindex: .cleaned -> .swap;
 *          dir fsync
 *                                                        -- step 2 after
 *   rename <B>.log.cleaned -> <B>.log.swap; dir fsync   (COMMIT POINT)
 *                                                        -- step 3 after
 *   rename the other members' files (bases in (B, E)) -> .deleted; fsync
 *                                                        -- step 4 after
 *   rename <B>.index.swap, <B>.timeindex.swap, <B>.txnindex.swap over
 *          the live ones
 *                                                        -- step 5 after
 *   rename <B>.log.swap over <B>.log; unlink the group file; dir fsync
 *                                                        -- step 6 after
 *   swap in memory under the partition mutex (lgi_partition_swap_in)
 *                                                        -- step 7 after
 *   unlink the .deleted files
 *
 *   Recovery at open (partition.c, finish_cleaner_files), before segments
 *   are listed: *.cleaned files are removed (no commit, the old segments
 *   are intact); for each <B>.log.swap (committed) every segment with a
 *   base in (B, E) is removed, <B>'s .swap indexes replace the live ones
 *   (a missing one was renamed already, the cleaner having written all
 *   three before its commit; one that cannot be renamed removes the live
 *   index, rebuilt at load -- a .txnindex by the partition's replay of
 *   the log), and
 *   <B>.log.swap is renamed to <B>.log; leftover .swap files without a
 *   .log.swap were never committed and are removed; *.deleted files are
 *   removed.  So after a crash at any step the log reads either exactly as
 *   before the pass or exactly as after it (test_cleaner crashes at every
 *   step and compares).
 *
 * READERS: a reader snapshots a segment (reference) under the partition
 * mutex and reads through its fd; the in-memory swap replaces the group's
 * segments by the cleaned one in one critical section, so a reader sees
 * the old segments or the new one, never a mix, and since both hold the
 * same surviving records at the same offsets, a consumer advancing by
 * offset sees every surviving record once, in order.  Renames do not
 * disturb open fds.
 */
#include "endian.h"
#include "cleaner.h"

#include "alloc.h"
#include "buf.h"
#include "compress.h"
#include "crc32c.h"
#include "err.h"
#include "metafile.h"
#include "segment.h"
#include "txn_clean.h"
#include "varint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#define WRITE_CHUNK ((size_t)1 << 20)  /* output flushed at this size */
#define MAP_LOAD_PER_MILLE 900         /* Kafka's 0.9 load factor */

static atomic_int crash_point;

void lgi_cleaner_crash_at(int n) { atomic_store(&crash_point, n); }

/* 1 (and disarms the hook) when the test hook asks to die at step. */
static int crash_here(int step) {
    int expected = step;
    return atomic_compare_exchange_strong(&crash_point, &expected, 0);
}

#define CRASH_POINT(step)                                                    \
    do {                                                                     \
        if (crash_here(step)) {                                              \
            err = lgi_error(LG_ERR_IO, "cleaner: injected crash at step %d", \
                            step);                                           \
            goto crashed;                                                    \
        }                                                                    \
    } while (0)

/* ------------------------------------------------------------------------
 * Settings
 * --------------------------------------------------------------------- */

void lgi_cleaner_settings_from_conf(const lg_conf_t *conf,
                                    lgi_cleaner_settings_t *settings) {
    settings->policy = (int)lgi_conf_int(conf, LGI_CONF_CLEANUP_POLICY);
    settings->retention_ms = lgi_conf_int(conf, LGI_CONF_RETENTION_MS);
    settings->retention_bytes = lgi_conf_int(conf, LGI_CONF_RETENTION_BYTES);
    settings->min_dirty_ratio =
        lgi_conf_int(conf, LGI_CONF_MIN_CLEANABLE_DIRTY_RATIO);
    settings->min_compaction_lag_ms =
        lgi_conf_int(conf, LGI_CONF_MIN_COMPACTION_LAG_MS);
    settings->max_compaction_lag_ms =
        lgi_conf_int(conf, LGI_CONF_MAX_COMPACTION_LAG_MS);
    settings->delete_retention_ms =
        lgi_conf_int(conf, LGI_CONF_DELETE_RETENTION_MS);
    settings->keep_batches = 0;
}

/* ------------------------------------------------------------------------
 * The key map: XXH3-128 of the key -> latest offset, open addressing with
 * linear probing; a slot with offset -1 is empty.
 * --------------------------------------------------------------------- */

typedef struct map_slot {
    uint64_t high;
    uint64_t low;
    int64_t offset;
} map_slot_t;

struct lgi_cleaner {
    map_slot_t *slots;
    size_t slot_capacity; /* slots allocated (the configured bound) */
    size_t slot_count;    /* slots in use this pass: sized to the dirty
                             bytes, so small partitions touch little of a
                             large map (untouched pages cost no memory) */
    size_t max_entries;   /* fill limit: 90% of slot_count */
    size_t entries;
    lgi_cleaner_batch_retain_fn retain_fn;
    void *retain_opaque;
    lgi_buf_t out;       /* pending output of the cleaned segment */
    lgi_buf_t plain;     /* re-encoded records section */
    lgi_buf_t packed;    /* re-encoded batch */
    lgi_buf_t scratch;   /* decompressed records */
    lgi_record_t *records;
    size_t record_cap;
};

lg_err_t lgi_cleaner_new(int64_t map_bytes, lgi_cleaner_t **cleanerp) {
    lgi_cleaner_t *cleaner = lgi_calloc(1, sizeof *cleaner);
    if (!cleaner)
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
    cleaner->slot_capacity = (size_t)map_bytes / sizeof(map_slot_t);
    if (cleaner->slot_capacity < 16)
        cleaner->slot_capacity = 16;
    cleaner->slot_count = cleaner->slot_capacity;
    cleaner->max_entries = cleaner->slot_count * MAP_LOAD_PER_MILLE / 1000;
    cleaner->slots = lgi_malloc(cleaner->slot_capacity * sizeof(map_slot_t));
    if (!cleaner->slots) {
        lgi_cleaner_free(cleaner);
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory for a key map "
                         "of %lld bytes", (long long)map_bytes);
    }
    *cleanerp = cleaner;
    return LG_OK;
}

void lgi_cleaner_free(lgi_cleaner_t *cleaner) {
    if (!cleaner)
        return;
    lgi_free(cleaner->slots);
    lgi_buf_free(&cleaner->out);
    lgi_buf_free(&cleaner->plain);
    lgi_buf_free(&cleaner->packed);
    lgi_buf_free(&cleaner->scratch);
    lgi_free(cleaner->records);
    lgi_free(cleaner);
}

void lgi_cleaner_set_batch_retain(lgi_cleaner_t *cleaner,
                                  lgi_cleaner_batch_retain_fn fn,
                                  void *opaque) {
    cleaner->retain_fn = fn;
    cleaner->retain_opaque = opaque;
}

/* Empties the map, using just enough slots for records records (at most
 * the capacity). */
static void map_clear(lgi_cleaner_t *cleaner, int64_t records) {
    size_t want = (size_t)records / MAP_LOAD_PER_MILLE * 1000 + 16;
    cleaner->slot_count =
        want < cleaner->slot_capacity ? want : cleaner->slot_capacity;
    cleaner->max_entries = cleaner->slot_count * MAP_LOAD_PER_MILLE / 1000;
    for (size_t i = 0; i < cleaner->slot_count; i++)
        cleaner->slots[i].offset = -1;
    cleaner->entries = 0;
}

/* The slot for hash: its entry, or the empty slot where it would go. */
static map_slot_t *map_find(lgi_cleaner_t *cleaner, XXH128_hash_t hash) {
    size_t i = (size_t)(hash.low64 % cleaner->slot_count);
    for (;;) {
        map_slot_t *slot = &cleaner->slots[i];
        if (slot->offset < 0 ||
            (slot->high == hash.high64 && slot->low == hash.low64))
            return slot;
        if (++i == cleaner->slot_count)
            i = 0;
    }
}

/* Records offset as the latest for key (offsets arrive ascending). */
static void map_put(lgi_cleaner_t *cleaner, const void *key, size_t len,
                    int64_t offset) {
    XXH128_hash_t hash = XXH3_128bits(key, len);
    map_slot_t *slot = map_find(cleaner, hash);
    if (slot->offset < 0) {
        slot->high = hash.high64;
        slot->low = hash.low64;
        cleaner->entries++;
    }
    slot->offset = offset;
}

/* Latest offset recorded for key, -1 when none. */
static int64_t map_get(lgi_cleaner_t *cleaner, const void *key, size_t len) {
    return map_find(cleaner, XXH3_128bits(key, len))->offset;
}

/* ------------------------------------------------------------------------
 * Reading a segment batch by batch through a large buffer
 * --------------------------------------------------------------------- */

/* Sealed segments are immutable, so the cleaner maps them read-only and
 * parses batches in place: no copy out of the page cache (reading twice,
 * once for the key map and once to rewrite, costs two walks of memory
 * instead of two copies). */
typedef struct reader {
    lgi_segment_t *segment;
    const uint8_t *map; /* NULL for an empty segment */
    int64_t limit;      /* segment size at the snapshot */
    int64_t position;   /* next batch */
} reader_t;

static lg_err_t reader_open(reader_t *reader, lgi_segment_t *segment) {
    reader->segment = segment;
    reader->limit = segment->size;
    reader->position = 0;
    reader->map = NULL;
    if (reader->limit == 0)
        return LG_OK;
    void *map = mmap(NULL, (size_t)reader->limit, PROT_READ,
                     MAP_SHARED | MAP_POPULATE, segment->fd, 0);
    if (map == MAP_FAILED)
        return lgi_error_errno(LG_ERR_IO, errno, "mmap %s",
                               segment->log_path);
    (void)madvise(map, (size_t)reader->limit, MADV_SEQUENTIAL);
    reader->map = map;
    return LG_OK;
}

static void reader_close(reader_t *reader) {
    if (reader->map)
        munmap((void *)reader->map, (size_t)reader->limit);
    reader->map = NULL;
}

/* The next batch, CRC-validated when validate is set (batches read a
 * second time in the same pass were validated the first time): *batchp
 * points into the mapping; *done at the end. */
static lg_err_t reader_next(reader_t *reader, const uint8_t **batchp,
                            lgi_batch_header_t *header, int validate,
                            int *done) {
    *done = reader->position >= reader->limit;
    if (*done)
        return LG_OK;
    const uint8_t *batch = reader->map + reader->position;
    size_t left = (size_t)(reader->limit - reader->position);
    lg_err_t err = validate ? lgi_batch_validate(batch, left,
                                                 LGI_SEGMENT_MAX_BATCH,
                                                 header)
                            : lgi_batch_parse_header(batch, left,
                                                     LGI_SEGMENT_MAX_BATCH,
                                                     header);
    if (err == LG_OK && lgi_batch_size(header) > left)
        err = LG_ERR_CORRUPT;
    if (err != LG_OK)
        return lgi_error(LG_ERR_CORRUPT, "%s: batch at %lld failed "
                         "validation", reader->segment->log_path,
                         (long long)reader->position);
    *batchp = batch;
    reader->position += (int64_t)lgi_batch_size(header);
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Retention
 * --------------------------------------------------------------------- */

lg_err_t lgi_cleaner_retain(lgi_partition_t *partition,
                            const lgi_cleaner_settings_t *settings,
                            int64_t now_ms, size_t *deletedp) {
    int64_t point;
    size_t deleted = 0;
    lg_err_t err = lgi_cleaner_retention_point(partition, settings, now_ms,
                                               &point);
    if (err == LG_OK && point >= 0)
        err = lgi_partition_delete_before(partition, point, &deleted);
    if (deletedp)
        *deletedp = deleted;
    return err;
}

lg_err_t lgi_cleaner_retention_point(lgi_partition_t *partition,
                                     const lgi_cleaner_settings_t *settings,
                                     int64_t now_ms, int64_t *pointp) {
    lgi_segment_t **segments;
    size_t count, cut = 0;
    *pointp = -1;
    if (settings->policy == LGI_CLEANUP_COMPACT)
        return LG_OK;
    lg_err_t err = lgi_partition_sealed_segments(partition, &segments, &count);
    if (err != LG_OK)
        return err;
    if (settings->retention_ms >= 0) {
        /* An empty sealed segment (max timestamp -1) has nothing to keep. */
        while (cut < count &&
               now_ms - segments[cut]->max_timestamp > settings->retention_ms)
            cut++;
    }
    if (settings->retention_bytes >= 0) {
        int64_t total = 0;
        for (size_t i = 0; i < count; i++)
            total += segments[i]->size;
        total += lgi_partition_active_size(partition);
        int64_t excess = total - settings->retention_bytes;
        for (size_t i = 0; i < count; i++) {
            if (excess - segments[i]->size < 0)
                break;
            excess -= segments[i]->size;
            if (i + 1 > cut)
                cut = i + 1;
        }
    }
    if (cut > 0)
        *pointp = cut < count ? segments[cut]->base_offset : INT64_MAX;
    lgi_partition_segments_release(segments, count);
    return err;
}

/* ------------------------------------------------------------------------
 * Filtering one batch
 * --------------------------------------------------------------------- */

/* Writes the batch header over the first LGI_BATCH_HEADER_SIZE bytes of
 * packed (which holds the whole batch, records after the header): the
 * leader epoch and producer fields come from header, the rest from the
 * arguments; then the CRC over everything after it. */
static void seal_header(lgi_buf_t *packed, const lgi_batch_header_t *header,
                        int16_t attributes, int32_t last_offset_delta,
                        int64_t base_timestamp, int64_t max_timestamp,
                        int32_t record_count) {
    uint8_t *b = packed->data;
    lgi_put_be64(b + 0, (uint64_t)header->base_offset);
    lgi_put_be32(b + 8, (uint32_t)(packed->len - LGI_BATCH_OVERHEAD));
    lgi_put_be32(b + 12, (uint32_t)header->partition_leader_epoch);
    b[16] = LGI_BATCH_MAGIC;
    lgi_put_be16(b + 21, (uint16_t)attributes);
    lgi_put_be32(b + 23, (uint32_t)last_offset_delta);
    lgi_put_be64(b + 27, (uint64_t)base_timestamp);
    lgi_put_be64(b + 35, (uint64_t)max_timestamp);
    lgi_put_be64(b + 43, (uint64_t)header->producer_id);
    lgi_put_be16(b + 51, (uint16_t)header->producer_epoch);
    lgi_put_be32(b + 53, (uint32_t)header->base_sequence);
    lgi_put_be32(b + 57, (uint32_t)record_count);
    lgi_put_be32(b + 17, lgi_crc32c(0, b + LGI_BATCH_CRC_START,
                                    packed->len - LGI_BATCH_CRC_START));
}

/* Encodes records[0..count) of the batch header describes as a new batch
 * in cleaner->packed: same base offset, epoch, producer fields and codec;
 * baseTimestamp = horizon with the delete-horizon bit when horizon >= 0,
 * else the first kept record's timestamp. */
static lg_err_t encode_kept(lgi_cleaner_t *cleaner,
                            const lgi_batch_header_t *header,
                            const lgi_record_t *records, size_t count,
                            int64_t horizon, int keep_delta) {
    int log_append_time = (header->attributes & LGI_ATTR_LOG_APPEND_TIME) != 0;
    int64_t base_timestamp = horizon >= 0 ? horizon : records[0].timestamp;
    int64_t max_timestamp = log_append_time ? header->max_timestamp : -1;
    lgi_buf_t *plain = &cleaner->plain;
    plain->len = 0;
    for (size_t i = 0; i < count; i++) {
        const lgi_record_t *r = &records[i];
        int64_t ts_delta =
            (int64_t)((uint64_t)r->timestamp - (uint64_t)base_timestamp);
        int32_t offset_delta = (int32_t)(r->offset - header->base_offset);
        int32_t key_len = r->key ? (int32_t)r->key_len : -1;
        int32_t value_len = r->value ? (int32_t)r->value_len : -1;
        size_t body = 1 + lgi_varlong_size(ts_delta) +
                      lgi_varint_size(offset_delta) +
                      lgi_varint_size(key_len) + (r->key ? r->key_len : 0) +
                      lgi_varint_size(value_len) +
                      (r->value ? r->value_len : 0) +
                      lgi_varint_size(r->header_count) + r->headers_len;
        if (lgi_buf_reserve(plain, LGI_VARINT_MAX + body) != 0)
            return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
        uint8_t *p = plain->data + plain->len;
        p += lgi_varint_write(p, (int32_t)body);
        *p++ = 0;
        p += lgi_varlong_write(p, ts_delta);
        p += lgi_varint_write(p, offset_delta);
        p += lgi_varint_write(p, key_len);
        if (r->key && r->key_len) {
            memcpy(p, r->key, r->key_len);
            p += r->key_len;
        }
        p += lgi_varint_write(p, value_len);
        if (r->value && r->value_len) {
            memcpy(p, r->value, r->value_len);
            p += r->value_len;
        }
        p += lgi_varint_write(p, r->header_count);
        if (r->headers_len) {
            memcpy(p, r->headers, r->headers_len);
            p += r->headers_len;
        }
        plain->len = (size_t)(p - plain->data);
        if (!log_append_time && r->timestamp > max_timestamp)
            max_timestamp = r->timestamp;
    }
    lgi_buf_t *packed = &cleaner->packed;
    packed->len = 0;
    int codec = header->attributes & LGI_ATTR_CODEC_MASK;
    if (lgi_buf_reserve(packed, LGI_BATCH_HEADER_SIZE +
                                    (codec ? 0 : plain->len)) != 0)
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
    packed->len = LGI_BATCH_HEADER_SIZE;
    if (codec == LGI_CODEC_NONE) {
        memcpy(packed->data + packed->len, plain->data, plain->len);
        packed->len += plain->len;
    } else {
        lg_err_t err = lgi_compress(codec, 0, plain->data, plain->len, packed);
        if (err != LG_OK)
            return err;
    }
    int16_t attributes = header->attributes;
    if (horizon >= 0)
        attributes |= LGI_ATTR_DELETE_HORIZON;
    else
        attributes &= (int16_t)~LGI_ATTR_DELETE_HORIZON;
    int32_t last_offset_delta =
        keep_delta ? header->last_offset_delta
                   : (int32_t)(records[count - 1].offset - header->base_offset);
    seal_header(packed, header, attributes, last_offset_delta, base_timestamp,
                max_timestamp, (int32_t)count);
    return LG_OK;
}

/* keep_batches: the header of batch with no records (codec none, no
 * delete horizon), same base offset, lastOffsetDelta, leader epoch and
 * producer fields, in cleaner->packed; *outp / *out_lenp point at it. */
static lg_err_t encode_empty(lgi_cleaner_t *cleaner,
                             const lgi_batch_header_t *header,
                             const uint8_t **outp, size_t *out_lenp) {
    lgi_buf_t *packed = &cleaner->packed;
    packed->len = 0;
    if (lgi_buf_reserve(packed, LGI_BATCH_HEADER_SIZE) != 0)
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
    packed->len = LGI_BATCH_HEADER_SIZE;
    int16_t attributes = (int16_t)(header->attributes &
                                   ~(LGI_ATTR_CODEC_MASK |
                                     LGI_ATTR_DELETE_HORIZON));
    seal_header(packed, header, attributes, header->last_offset_delta,
                header->base_timestamp, header->max_timestamp, 0);
    *outp = packed->data;
    *out_lenp = packed->len;
    return LG_OK;
}

/* The built-in per-batch decision: the transaction rules (atop
 * txn_clean.c).  *marker_horizonp is set for a marker that is kept only
 * until its delete horizon; an aborted transaction whose marker stays is
 * added to cleaned's .txnindex. */
static lg_err_t transaction_decision(lgi_txn_clean_t *txn,
                                     lgi_segment_t *cleaned,
                                     const uint8_t *batch,
                                     const lgi_batch_header_t *header,
                                     int64_t now_ms, int *decisionp,
                                     int *marker_horizonp) {
    *marker_horizonp = 0;
    if (!(header->attributes & LGI_ATTR_CONTROL)) {
        int aborted = lgi_txn_clean_data(txn, header);
        if (aborted < 0)
            return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
        *decisionp = aborted ? LGI_BATCH_DELETE : LGI_BATCH_RETAIN_RECORDS;
        return LG_OK;
    }
    int discardable, has_entry;
    lgi_aborted_txn_t entry;
    if (lgi_txn_clean_marker(txn, batch, header, &discardable, &entry,
                             &has_entry) < 0)
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
    if (has_entry) {
        lg_err_t err = lgi_txnindex_append(&cleaned->txn_index,
                                           cleaned->txn_index_path, &entry);
        if (err != LG_OK)
            return err;
    }
    *decisionp = LGI_BATCH_RETAIN_WHOLE;
    if (discardable) {
        int has_horizon = (header->attributes & LGI_ATTR_DELETE_HORIZON) != 0;
        if (has_horizon && now_ms >= header->base_timestamp)
            *decisionp = LGI_BATCH_DELETE;
        else
            *marker_horizonp = 1;
    }
    return LG_OK;
}

/* A marker kept until its delete horizon: copied when it has one, else
 * re-encoded with horizon = now + delete.retention.ms; the horizon is
 * reported so the cleaner comes back for it. */
/* Grows cleaner->records to hold at least count records (a batch's
 * record_count); the buffer is reused across batches and only grows.
 * Returns LG_ERR_NOMEM when it cannot, the buffer left as it was. */
static lg_err_t reserve_records(lgi_cleaner_t *cleaner, int32_t count) {
    if ((size_t)count <= cleaner->record_cap)
        return LG_OK;
    size_t cap = (size_t)count;
    lgi_record_t *grown = lgi_realloc(cleaner->records, cap * sizeof(*grown));
    if (!grown)
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
    cleaner->records = grown;
    cleaner->record_cap = cap;
    return LG_OK;
}

static lg_err_t keep_marker_until_horizon(lgi_cleaner_t *cleaner,
                                          const uint8_t *batch,
                                          const lgi_batch_header_t *header,
                                          const lgi_cleaner_settings_t *settings,
                                          int64_t now_ms, const uint8_t **outp,
                                          size_t *out_lenp,
                                          lgi_clean_stats_t *stats) {
    int64_t horizon = header->base_timestamp;
    stats->records_kept += header->record_count;
    if (!(header->attributes & LGI_ATTR_DELETE_HORIZON)) {
        horizon = now_ms + settings->delete_retention_ms;
        lg_err_t err = reserve_records(cleaner, header->record_count);
        if (err != LG_OK)
            return err;
        lgi_record_iter_t iter;
        size_t count = 0;
        err = lgi_record_iter_init(&iter, batch, header,
                                            &cleaner->scratch);
        for (int done = 0; err == LG_OK;) {
            lgi_record_t record;
            err = lgi_record_iter_next(&iter, &record, &done);
            if (err != LG_OK || done)
                break;
            cleaner->records[count++] = record;
        }
        if (err == LG_OK && count == 0)
            err = lgi_error(LG_ERR_CORRUPT, "cleaner: empty control batch at "
                            "offset %lld", (long long)header->base_offset);
        if (err == LG_OK)
            err = encode_kept(cleaner, header, cleaner->records, count,
                              horizon, settings->keep_batches);
        if (err != LG_OK)
            return err;
        *outp = cleaner->packed.data;
        *out_lenp = cleaner->packed.len;
    } else {
        *out_lenp = lgi_batch_size(header);
    }
    if (stats->next_horizon < 0 || horizon < stats->next_horizon)
        stats->next_horizon = horizon;
    return LG_OK;
}

/* Decides batch's records; sets *outp and *out_lenp to the bytes to write
 * (the original batch, a re-encoded one in cleaner->packed, or nothing
 * with *out_lenp 0).  txn is the walk's transaction state, cleaned the
 * segment being written. */
static lg_err_t filter_batch(lgi_cleaner_t *cleaner,
                             lgi_partition_t *partition, lgi_txn_clean_t *txn,
                             lgi_segment_t *cleaned, const uint8_t *batch,
                             const lgi_batch_header_t *header,
                             const lgi_cleaner_settings_t *settings,
                             int64_t now_ms, const uint8_t **outp,
                             size_t *out_lenp, lgi_clean_stats_t *stats) {
    *outp = batch;
    *out_lenp = 0;
    int decision = LGI_BATCH_RETAIN_RECORDS, marker_horizon = 0;
    if (cleaner->retain_fn) {
        decision = cleaner->retain_fn(cleaner->retain_opaque, partition,
                                      header, now_ms);
    } else {
        lg_err_t err = transaction_decision(txn, cleaned, batch, header,
                                            now_ms, &decision,
                                            &marker_horizon);
        if (err != LG_OK)
            return err;
    }
    stats->records_read += header->record_count;
    if (settings->keep_batches && (header->attributes & LGI_ATTR_CONTROL)) {
        decision = LGI_BATCH_RETAIN_WHOLE; /* tiny; replicas keep them */
        marker_horizon = 0;
    }
    if (decision == LGI_BATCH_DELETE)
        return settings->keep_batches
                   ? encode_empty(cleaner, header, outp, out_lenp)
                   : LG_OK;
    if (marker_horizon)
        return keep_marker_until_horizon(cleaner, batch, header, settings,
                                         now_ms, outp, out_lenp, stats);
    if (decision == LGI_BATCH_RETAIN_WHOLE) {
        *out_lenp = lgi_batch_size(header);
        stats->records_kept += header->record_count;
        return LG_OK;
    }
    lg_err_t err = reserve_records(cleaner, header->record_count);
    if (err != LG_OK)
        return err;
    lgi_record_iter_t iter;
    err = lgi_record_iter_init(&iter, batch, header,
                                        &cleaner->scratch);
    if (err != LG_OK)
        return err;
    int has_horizon = (header->attributes & LGI_ATTR_DELETE_HORIZON) != 0;
    int64_t horizon = has_horizon ? header->base_timestamp : -1;
    size_t kept = 0;
    int kept_tombstone = 0;
    for (;;) {
        lgi_record_t record;
        int done;
        if ((err = lgi_record_iter_next(&iter, &record, &done)) != LG_OK)
            return err;
        if (done)
            break;
        if (!record.key)
            continue; /* keyless: not compactable, dropped as Kafka does */
        int64_t latest = map_get(cleaner, record.key, record.key_len);
        if (latest > record.offset)
            continue; /* superseded */
        if (!record.value) {
            if (has_horizon && now_ms >= horizon)
                continue; /* tombstone past its delete horizon */
            kept_tombstone = 1;
            int64_t due = has_horizon ? horizon
                                      : now_ms + settings->delete_retention_ms;
            if (stats->next_horizon < 0 || due < stats->next_horizon)
                stats->next_horizon = due;
        }
        cleaner->records[kept++] = record;
    }
    stats->records_kept += (int64_t)kept;
    if (kept == 0)
        return settings->keep_batches
                   ? encode_empty(cleaner, header, outp, out_lenp)
                   : LG_OK;
    int set_horizon = kept_tombstone && !has_horizon;
    if (kept == (size_t)header->record_count && !set_horizon) {
        *out_lenp = lgi_batch_size(header);
        return LG_OK;
    }
    if (set_horizon)
        horizon = now_ms + settings->delete_retention_ms;
    if ((err = encode_kept(cleaner, header, cleaner->records, kept,
                           horizon, settings->keep_batches)) != LG_OK)
        return err;
    *outp = cleaner->packed.data;
    *out_lenp = cleaner->packed.len;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Cleaning one group of segments
 * --------------------------------------------------------------------- */

static lg_err_t flush_out(lgi_cleaner_t *cleaner, lgi_segment_t *cleaned,
                          int64_t *written) {
    int64_t start = *written;
    const uint8_t *p = cleaner->out.data;
    size_t left = cleaner->out.len;
    while (left > 0) {
        ssize_t n = pwrite(cleaned->fd, p, left, (off_t)*written);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return lgi_error_errno(errno == ENOSPC ? LG_ERR_DISK_FULL
                                                   : LG_ERR_IO,
                                   errno, "write %s", cleaned->log_path);
        }
        p += n;
        left -= (size_t)n;
        *written += n;
    }
    cleaner->out.len = 0;
    /* Start writeback now so the fdatasync at the end of the group finds
     * little left to do (a hint: failure is harmless, the fdatasync
     * decides). */
    if (*written > start)
        (void)sync_file_range(cleaned->fd, (off_t)start,
                              (off_t)(*written - start),
                              SYNC_FILE_RANGE_WRITE);
    return LG_OK;
}

static lg_err_t rename_kind(const char *dir, int64_t base, const char *kind,
                            const char *from, const char *to) {
    char source[4096], target[4096];
    snprintf(source, sizeof source, "%s/%020" PRId64 "%s%s", dir, base, kind,
             from);
    snprintf(target, sizeof target, "%s/%020" PRId64 "%s%s", dir, base, kind,
             to);
    if (rename(source, target) != 0 && errno != ENOENT)
        return lgi_error_errno(LG_ERR_IO, errno, "rename %s to %s", source,
                               target);
    return LG_OK;
}

/* Rewrites group[0..count) into one segment and swaps it in (protocol
 * atop this file).  group_end: the base of the first segment after the
 * group.  txn: the pass's transaction state, which carries over from one
 * group to the next as Kafka's does (a transaction's data and marker may
 * sit in different groups). */
static lg_err_t clean_group(lgi_cleaner_t *cleaner, lgi_partition_t *partition,
                            lgi_txn_clean_t *txn, lgi_segment_t **group,
                            size_t count, int64_t group_end,
                            int64_t first_dirty,
                            const lgi_cleaner_settings_t *settings,
                            int64_t now_ms, lgi_clean_stats_t *stats) {
    const char *dir = lgi_partition_path(partition);
    int64_t base = group[0]->base_offset;
    lgi_log_config_t config;
    lgi_segment_t *cleaned = NULL;
    lg_err_t err;
    char name[4096];

    lgi_partition_config(partition, &config);
    err = lgi_segment_create_suffixed(dir, base, ".cleaned",
                                      config.index_interval_bytes,
                                      /* the cleaned segment never holds
                                         more entries than its members */
                                      INT32_MAX, &cleaned);
    if (err != LG_OK)
        return err;
    int64_t written = 0;
    cleaner->out.len = 0;
    for (size_t i = 0; i < count && err == LG_OK; i++) {
        reader_t reader;
        if ((err = reader_open(&reader, group[i])) != LG_OK)
            break;
        stats->bytes_read += group[i]->size;
        for (;;) {
            const uint8_t *batch, *out;
            lgi_batch_header_t header;
            size_t out_len;
            int done;
            /* The key map pass validated the dirty segments already. */
            if ((err = reader_next(&reader, &batch, &header,
                                   group[i]->next_offset <= first_dirty,
                                   &done)) != LG_OK || done)
                break;
            if ((err = filter_batch(cleaner, partition, txn, cleaned, batch,
                                    &header, settings, now_ms, &out,
                                    &out_len, stats)) != LG_OK)
                break;
            if (out_len == 0)
                continue;
            lgi_batch_header_t kept;
            if ((err = lgi_batch_parse_header(out, out_len,
                                              LGI_SEGMENT_MAX_BATCH,
                                              &kept)) != LG_OK)
                break;
            int64_t at = cleaned->size;
            if ((err = lgi_segment_note_append(
                     cleaned, at, out_len, lgi_batch_last_offset(&kept),
                     kept.max_timestamp, now_ms)) != LG_OK)
                break;
            cleaned->size += (int64_t)out_len;
            if (lgi_buf_append(&cleaner->out, out, out_len) != 0) {
                err = lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
                break;
            }
            if (cleaner->out.len >= WRITE_CHUNK &&
                (err = flush_out(cleaner, cleaned, &written)) != LG_OK)
                break;
        }
        reader_close(&reader);
    }
    if (err == LG_OK)
        err = flush_out(cleaner, cleaned, &written);
    if (err == LG_OK)
        err = lgi_segment_seal(cleaned); /* indexes + fdatasync */
    if (err != LG_OK)
        goto failed;
    stats->bytes_written += cleaned->size;
    stats->segments_in += (int64_t)count;
    stats->segments_out++;

    /* Step 1: the group file, then everything .cleaned is durable. */
    char body[64];
    int len = snprintf(body, sizeof body, "end %" PRId64 "\n", group_end);
    snprintf(name, sizeof name, "%s/%020" PRId64 "%s.cleaned", dir, base,
             LGI_CLEANER_GROUP_KIND);
    if ((err = lgi_metafile_write(name, body, (size_t)len)) != LG_OK)
        goto failed;
    CRASH_POINT(1);

    /* Step 2: group file and indexes to .swap. */
    if ((err = rename_kind(dir, base, LGI_CLEANER_GROUP_KIND, ".cleaned",
                           ".swap")) != LG_OK ||
        (err = rename_kind(dir, base, ".index", ".cleaned", ".swap")) !=
            LG_OK ||
        (err = rename_kind(dir, base, ".timeindex", ".cleaned", ".swap")) !=
            LG_OK ||
        (err = rename_kind(dir, base, ".txnindex", ".cleaned", ".swap")) !=
            LG_OK ||
        (err = lgi_fsync_dir(dir)) != LG_OK)
        goto failed;
    CRASH_POINT(2);

    /* Commit: the .log to .swap. */
    if ((err = rename_kind(dir, base, ".log", ".cleaned", ".swap")) != LG_OK ||
        (err = lgi_fsync_dir(dir)) != LG_OK)
        goto failed;
    CRASH_POINT(3);

    /* From here on the swap is decided: a failure is finished by the
     * recovery at the next open, so the in-memory list must not go back
     * to the old files either -- the partition is left as is and the
     * error reported. */
    for (size_t i = 1; i < count && err == LG_OK; i++)
        err = lgi_segment_files_rename(dir, group[i]->base_offset, "",
                                       ".deleted", 0);
    if (err == LG_OK)
        err = lgi_fsync_dir(dir);
    if (err != LG_OK)
        goto committed_failure;
    CRASH_POINT(4);

    if ((err = rename_kind(dir, base, ".index", ".swap", "")) != LG_OK ||
        (err = rename_kind(dir, base, ".timeindex", ".swap", "")) != LG_OK ||
        (err = rename_kind(dir, base, ".txnindex", ".swap", "")) != LG_OK)
        goto committed_failure;
    CRASH_POINT(5);

    if ((err = rename_kind(dir, base, ".log", ".swap", "")) != LG_OK)
        goto committed_failure;
    snprintf(name, sizeof name, "%s/%020" PRId64 "%s.swap", dir, base,
             LGI_CLEANER_GROUP_KIND);
    unlink(name);
    if ((err = lgi_fsync_dir(dir)) != LG_OK)
        goto committed_failure;
    CRASH_POINT(6);

    /* The files are live: give the segment its live names (the .cleaned
     * ones it was created with are gone, so nothing is renamed). */
    if ((err = lgi_segment_rename(cleaned, dir, "", 1)) != LG_OK ||
        (err = lgi_partition_swap_in(partition, group, count, cleaned)) !=
            LG_OK)
        goto committed_failure;
    CRASH_POINT(7);

    for (size_t i = 1; i < count; i++)
        lgi_segment_files_unlink(dir, group[i]->base_offset, ".deleted");
    lgi_segment_unref(cleaned);
    return LG_OK;

failed:
    /* Nothing committed: remove what this pass wrote. */
    lgi_segment_files_unlink(dir, base, ".cleaned");
    lgi_segment_files_unlink(dir, base, ".swap");
    snprintf(name, sizeof name, "%s/%020" PRId64 "%s.cleaned", dir, base,
             LGI_CLEANER_GROUP_KIND);
    unlink(name);
    snprintf(name, sizeof name, "%s/%020" PRId64 "%s.swap", dir, base,
             LGI_CLEANER_GROUP_KIND);
    unlink(name);
    lgi_segment_unref(cleaned);
    return err;
committed_failure:
    lgi_segment_unref(cleaned);
    return lgi_error(err, "cleaner: %s after committing the swap of %s "
                     "segment %lld; it completes at the next open",
                     lg_last_error_message(), dir, (long long)base);
crashed:
    /* The test hook: stop dead, as a crash would (the fd closes, files
     * stay as they are). */
    lgi_segment_unref(cleaned);
    return err;
}

/* ------------------------------------------------------------------------
 * One compaction pass
 * --------------------------------------------------------------------- */

/* Timestamp of the first batch of segment (-1 if empty or unreadable):
 * its baseTimestamp, unless that holds a delete horizon. */
static int64_t first_timestamp(lgi_segment_t *segment) {
    lgi_batch_header_t header;
    if (segment->size == 0 ||
        lgi_segment_read_header(segment, 0, segment->size, &header) != LG_OK) {
        lgi_error_clear();
        return -1;
    }
    if (header.attributes & LGI_ATTR_DELETE_HORIZON)
        return header.max_timestamp;
    return header.base_timestamp;
}

/* Adds the keys of one segment's records at or after first_dirty to the
 * map, batch by batch (CRC-validated), and advances *map_endp past each
 * batch taken; stops before a batch that would overfill the map, setting
 * stats->map_full. */
static lg_err_t map_segment(lgi_cleaner_t *cleaner, lgi_txn_clean_t *txn,
                            reader_t *reader, int64_t first_dirty,
                            int64_t *map_endp, lgi_clean_stats_t *stats) {
    for (;;) {
        const uint8_t *batch;
        lgi_batch_header_t header;
        int done;
        lg_err_t err = reader_next(reader, &batch, &header, 1, &done);
        if (err != LG_OK || done)
            return err;
        stats->map_bytes_read += (int64_t)lgi_batch_size(&header);
        if (lgi_batch_last_offset(&header) < first_dirty)
            continue;
        /* Aborted data stays out of the map: its value must not
         * supersede a committed one (the rewrite drops it anyway). */
        int aborted = 0;
        if (header.attributes & LGI_ATTR_CONTROL) {
            int discardable, has_entry;
            lgi_aborted_txn_t entry;
            if (lgi_txn_clean_marker(txn, batch, &header, &discardable,
                                     &entry, &has_entry) < 0)
                return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
        } else if ((aborted = lgi_txn_clean_data(txn, &header)) < 0) {
            return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
        }
        if (!(header.attributes & LGI_ATTR_CONTROL) && !aborted) {
            if (cleaner->entries + (size_t)header.record_count >
                cleaner->max_entries) {
                if (*map_endp == first_dirty)
                    return lgi_error(
                        LG_ERR_NOMEM,
                        "cleaner: log.cleaner.dedupe.buffer.size holds %zu "
                        "keys, fewer than the %" PRId32 " records of the "
                        "batch at offset %" PRId64,
                        cleaner->max_entries, header.record_count,
                        header.base_offset);
                stats->map_full = 1;
                return LG_OK;
            }
            lgi_record_iter_t iter;
            if ((err = lgi_record_iter_init(&iter, batch, &header,
                                            &cleaner->scratch)) != LG_OK)
                return err;
            for (;;) {
                lgi_record_t record;
                if ((err = lgi_record_iter_next(&iter, &record, &done)) !=
                    LG_OK)
                    return err;
                if (done)
                    break;
                if (record.key && record.offset >= first_dirty)
                    map_put(cleaner, record.key, record.key_len,
                            record.offset);
            }
        }
        *map_endp = lgi_batch_last_offset(&header) + 1;
    }
}

/* Fills the map from segments[from..to) (the dirty tail), stopping at the
 * first batch that would overfill it.  *map_endp gets the offset below
 * which the map covers every dirty record. */
static lg_err_t build_map(lgi_cleaner_t *cleaner, lgi_partition_t *partition,
                          lgi_segment_t **segments, size_t from, size_t to,
                          int64_t first_dirty, int64_t *map_endp,
                          lgi_clean_stats_t *stats) {
    int64_t map_end = first_dirty;
    lgi_txn_clean_t txn;
    lg_err_t err = lgi_txn_clean_init(&txn, partition, first_dirty,
                                      to > from ? segments[to - 1]->next_offset
                                                : first_dirty);
    if (err != LG_OK)
        return err;
    /* A keyed record takes at least 8 bytes (length, attributes, two
     * deltas, key and value lengths, header count, a key byte), so this
     * bounds the records of the dirty tail. */
    int64_t dirty_bytes = 0;
    for (size_t i = from; i < to; i++)
        dirty_bytes += segments[i]->size;
    map_clear(cleaner, dirty_bytes / 8);
    for (size_t i = from; i < to; i++) {
        reader_t reader;
        if ((err = reader_open(&reader, segments[i])) != LG_OK)
            break;
        err = map_segment(cleaner, &txn, &reader, first_dirty, &map_end,
                          stats);
        reader_close(&reader);
        if (err != LG_OK || stats->map_full)
            break;
        /* A whole segment: continue from the next one's base. */
        map_end = i + 1 < to ? segments[i + 1]->base_offset
                             : segments[i]->next_offset;
    }
    lgi_txn_clean_free(&txn);
    *map_endp = map_end;
    return err;
}

lg_err_t lgi_cleaner_compact(lgi_cleaner_t *cleaner,
                             lgi_partition_t *partition,
                             const lgi_cleaner_settings_t *settings,
                             int64_t now_ms, int force,
                             int64_t *first_dirtyp,
                             lgi_clean_stats_t *stats) {
    lgi_clean_stats_t local;
    lgi_segment_t **segments;
    size_t count;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    stats->next_horizon = -1;
    if (settings->policy == LGI_CLEANUP_DELETE)
        return LG_OK;
    lg_err_t err = lgi_partition_sealed_segments(partition, &segments, &count);
    if (err != LG_OK)
        return err;
    int64_t log_start = lgi_partition_log_start(partition);
    int64_t first_dirty = *first_dirtyp;
    if (first_dirty < log_start)
        first_dirty = log_start;

    /* The dirty tail [dirty, uncleanable) in segment indexes. */
    size_t uncleanable = count;
    if (settings->min_compaction_lag_ms > 0)
        for (size_t i = 0; i < count; i++)
            if (segments[i]->max_timestamp >
                now_ms - settings->min_compaction_lag_ms) {
                uncleanable = i;
                break;
            }
    /* Nor past the last stable offset: an open transaction's records
     * (and everything after them) wait until it is decided. */
    int64_t stable = lgi_partition_last_stable_offset(partition);
    for (size_t i = 0; i < uncleanable; i++)
        if (segments[i]->next_offset > stable) {
            uncleanable = i;
            break;
        }
    /* Segment i is clean when every offset it may hold is below
     * first_dirty: the next segment starts at or before it. */
    size_t dirty = 0;
    while (dirty < count &&
           (dirty + 1 < count ? segments[dirty + 1]->base_offset
                              : segments[dirty]->next_offset) <= first_dirty)
        dirty++;
    int64_t horizon = lgi_partition_cleaner_horizon(partition);
    int horizon_due = horizon >= 0 && now_ms >= horizon;
    if (dirty >= uncleanable && !force && !horizon_due)
        goto out;
    int64_t clean_bytes = 0, dirty_bytes = 0;
    for (size_t i = 0; i < uncleanable; i++)
        *(i < dirty ? &clean_bytes : &dirty_bytes) += segments[i]->size;
    int due = force || horizon_due || (clean_bytes + dirty_bytes > 0 &&
                        dirty_bytes * LGI_CONF_FRACTION_ONE >=
                            settings->min_dirty_ratio *
                                (clean_bytes + dirty_bytes));
    if (!due && dirty < uncleanable) {
        int64_t oldest = first_timestamp(segments[dirty]);
        due = oldest >= 0 && now_ms - oldest > settings->max_compaction_lag_ms;
    }
    if (!due)
        goto out;

    int64_t map_end = first_dirty;
    if ((err = build_map(cleaner, partition, segments, dirty, uncleanable,
                         first_dirty, &map_end, stats)) != LG_OK)
        goto out;
    /* Segments to rewrite: from the first up to the one holding map_end's
     * predecessor. */
    lgi_log_config_t config;
    lgi_partition_config(partition, &config);
    size_t last = 0;
    while (last < uncleanable && segments[last]->base_offset < map_end)
        last++;
    lgi_txn_clean_t txn;
    if (last > 0 &&
        (err = lgi_txn_clean_init(&txn, partition, segments[0]->base_offset,
                                  segments[last - 1]->next_offset)) != LG_OK)
        goto out;
    for (size_t i = 0; i < last && err == LG_OK;) {
        int64_t size = segments[i]->size;
        size_t j = i + 1;
        while (j < last && size + segments[j]->size <= config.segment_bytes &&
               segments[j]->next_offset - 1 - segments[i]->base_offset <=
                   INT32_MAX) {
            size += segments[j]->size;
            j++;
        }
        int64_t group_end = j < count ? segments[j]->base_offset
                                      : segments[count - 1]->next_offset;
        err = clean_group(cleaner, partition, &txn, segments + i, j - i,
                          group_end, first_dirty, settings, now_ms, stats);
        i = j;
    }
    if (last > 0)
        lgi_txn_clean_free(&txn);
    if (err == LG_OK && map_end > *first_dirtyp)
        *first_dirtyp = map_end;
    if (err == LG_OK)
        lgi_partition_set_cleaner_horizon(partition, stats->next_horizon);
out:
    lgi_partition_segments_release(segments, count);
    return err;
}
