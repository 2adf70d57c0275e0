/*
 * test_cleaner.c -- retention and log compaction (lib/cleaner.c): what is
 * deleted and when, what the log start does, the compacted log against a
 * model (latest value per key) over seeded random workloads with random
 * crash points, the tombstone delete horizon, the lag settings, partial
 * cleaning with a full key map, a crash at every step of the swap, a
 * reader running while segments are swapped, tail-following and lagging
 * readers across a swap, descriptor leaks, and configuration errors.
 */

#include "cleaner.h"
#include "compress.h"
#include "engine.h"
#include "logtest.h"
#include "segment.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static lgi_io_t *io;

/* Sanitizer builds run smaller workloads (the same code paths). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 2
#else
#define ROUNDS 4
#endif

static void setup(void) {
    dir = lgt_tmpdir("cleaner");
    io = lgt_io();
}

static void teardown(void) {
    lgi_io_close(io);
    lgt_rmrf(dir);
    free(dir);
    lgi_cleaner_crash_at(0);
}

/* ------------------------------------------------------------------------
 * Helpers: a workload of keyed records remembered by offset (the model)
 * --------------------------------------------------------------------- */

#define MAX_RECORDS 8192

typedef struct rec {
    int key;      /* -1: null key */
    int value;    /* -1: tombstone */
    int64_t timestamp;
} rec_t;

typedef struct model {
    rec_t at[MAX_RECORDS]; /* by offset */
    int64_t end;
} model_t;

static lgi_partition_t *open_partition(const char *path, int64_t segment_bytes) {
    lgi_log_config_t config;
    lgi_partition_t *partition;
    lgt_default_config(&config);
    config.segment_bytes = segment_bytes;
    config.index_interval_bytes = 256;
    ck_assert_int_eq(lgi_partition_open(path, &config, io, 0, 0, 0,
                                        &partition),
                     LG_OK);
    return partition;
}

/* Appends one batch of count records with the given keys/values
 * (key -1 null, value -1 tombstone), codec as given. */
static void append_records(lgi_partition_t *partition, model_t *model,
                           const int *keys, const int *values, int count,
                           int64_t timestamp, int codec) {
    lg_records_t *records = lg_records_new();
    char key[32], value[128];
    for (int i = 0; i < count; i++) {
        int key_len = snprintf(key, sizeof key, "key-%d", keys[i]);
        int value_len = snprintf(value, sizeof value,
                                 "value-%d-%0*d", values[i], 40, values[i]);
        ck_assert_int_eq(lg_records_add(records, keys[i] < 0 ? NULL : key,
                                        keys[i] < 0 ? 0 : (size_t)key_len,
                                        values[i] < 0 ? NULL : value,
                                        values[i] < 0 ? 0 : (size_t)value_len,
                                        timestamp + i),
                         LG_OK);
    }
    lgi_batch_options_t options;
    lgi_buf_t out = LGI_BUF_INIT;
    lgi_batch_options_init(&options);
    options.codec = codec;
    options.now_ms = timestamp;
    ck_assert_int_eq(lgi_batch_encode(&out, records, &options), LG_OK);
    lg_records_destroy(records);
    int64_t base;
    /* The model is written before the records become readable: a
     * concurrent reader checking them finds their entries there. */
    if (model) {
        for (int i = 0; i < count; i++) {
            model->at[model->end + i].key = keys[i];
            model->at[model->end + i].value = values[i];
            model->at[model->end + i].timestamp = timestamp + i;
        }
    }
    ck_assert_int_eq(lgi_partition_append(partition, out.data, out.len,
                                          LG_ACKS_LEADER, timestamp, &base),
                     LG_OK);
    if (model) {
        ck_assert_int_eq(base, model->end);
        model->end = base + count;
    }
}

/* One record read back from the log. */
typedef struct seen {
    int64_t offset;
    int key, value;
    int64_t timestamp;
} seen_t;

static int parse_number(const uint8_t *p, size_t len, const char *prefix) {
    size_t n = strlen(prefix);
    ck_assert_uint_ge(len, n);
    ck_assert_int_eq(memcmp(p, prefix, n), 0);
    return atoi((const char *)p + n); /* stops at '-' or end: bytes follow */
}

/* dump_from's walk: where records go, and which are skipped. */
typedef struct dump_state {
    seen_t *out;
    size_t max, count;
    int64_t from;    /* records below it are skipped (a batch's start) */
    int control;     /* the batch being decoded is a transaction marker */
} dump_state_t;

static void dump_record(void *opaque, const lgi_record_t *r) {
    dump_state_t *d = opaque;
    if (r->offset < d->from)
        return;
    ck_assert_uint_lt(d->count, d->max);
    seen_t *s = &d->out[d->count++];
    if (d->count > 1)
        ck_assert_int_gt(r->offset, d->out[d->count - 2].offset);
    s->offset = r->offset;
    s->timestamp = r->timestamp;
    s->key = s->value = -1;
    if (d->control) {
        s->key = s->value = -3; /* a transaction marker: its key is binary */
        return;
    }
    /* "key-%d" and "value-%d-..." (a copy: not NUL-ended) */
    char text[160];
    if (r->key) {
        memcpy(text, r->key, r->key_len);
        text[r->key_len] = '\0';
        s->key = parse_number((uint8_t *)text, r->key_len, "key-");
    }
    if (r->value) {
        memcpy(text, r->value, r->value_len);
        text[r->value_len] = '\0';
        s->value = parse_number((uint8_t *)text, r->value_len, "value-");
    }
}

static void dump_batch(void *opaque, const uint8_t *batch,
                       const lgi_batch_header_t *header) {
    dump_state_t *d = opaque;
    d->control = (header->attributes & LGI_ATTR_CONTROL) != 0;
    lgt_each_record(batch, header, dump_record, d);
}

/* Reads the log from offset from to its end into out (max entries);
 * returns the count.  Checks offsets strictly increase. */
static size_t dump_from(lgi_partition_t *partition, int64_t from,
                        seen_t *out, size_t max) {
    dump_state_t d = {.out = out, .max = max, .from = from};
    lgt_each_batch(partition, from, dump_batch, &d);
    return d.count;
}

/* dump_from the log start. */
static size_t dump(lgi_partition_t *partition, seen_t *out, size_t max) {
    int64_t start;
    lgi_partition_watermarks(partition, &start, NULL);
    return dump_from(partition, start, out, max);
}

/* The compacted log agrees with the model: every record read is the one
 * appended at its offset; below first_dirty no key appears twice and no
 * keyless record remains; every key's last value in the log is its
 * latest in the model (a tombstone may be gone entirely). */
static void check_against_model(lgi_partition_t *partition,
                                const model_t *model, int64_t first_dirty,
                                int keys) {
    static seen_t seen[MAX_RECORDS];
    size_t count = dump(partition, seen, MAX_RECORDS);
    int *last_in_log = calloc((size_t)keys, sizeof(int));
    int *in_clean = calloc((size_t)keys, sizeof(int));
    for (int k = 0; k < keys; k++)
        last_in_log[k] = -2; /* absent */
    for (size_t i = 0; i < count; i++) {
        const rec_t *want = &model->at[seen[i].offset];
        ck_assert_int_eq(seen[i].key, want->key);
        ck_assert_int_eq(seen[i].value, want->value);
        ck_assert_int_eq(seen[i].timestamp, want->timestamp);
        if (seen[i].key < 0) {
            ck_assert_int_ge(seen[i].offset, first_dirty);
            continue;
        }
        if (seen[i].offset < first_dirty) {
            ck_assert_msg(!in_clean[seen[i].key],
                          "key %d twice in the cleaned section",
                          seen[i].key);
            in_clean[seen[i].key] = 1;
        }
        last_in_log[seen[i].key] = seen[i].value;
    }
    for (int k = 0; k < keys; k++) {
        int latest = -2;
        for (int64_t o = 0; o < model->end; o++)
            if (model->at[o].key == k)
                latest = model->at[o].value;
        if (latest == -1)
            ck_assert_msg(last_in_log[k] == -1 || last_in_log[k] == -2,
                          "key %d: deleted, log has %d", k, last_in_log[k]);
        else
            ck_assert_msg(last_in_log[k] == latest,
                          "key %d: latest %d, log has %d", k, latest,
                          last_in_log[k]);
    }
    free(last_in_log);
    free(in_clean);
}

static void compact_settings(lgi_cleaner_settings_t *settings) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "cleanup.policy", "compact"), LG_OK);
    lgi_cleaner_settings_from_conf(conf, settings);
    lg_conf_destroy(conf);
}

/* Files in dir whose name contains text. */
static int count_files(const char *path, const char *text) {
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strstr(e->d_name, text) != NULL;
    closedir(d);
    return n;
}

/* Descriptors of this process pointing at unlinked files under path. */
static int deleted_fds(const char *path) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        char link[300], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        n += strncmp(target, path, strlen(path)) == 0 &&
             strstr(target, "(deleted)") != NULL;
    }
    closedir(d);
    return n;
}

/* Fills a partition with batches of 8 records at timestamp ts_start +
 * 1000 * batch over small segments. */
static void fill_plain(lgi_partition_t *partition, int batches,
                       int64_t ts_start) {
    for (int b = 0; b < batches; b++) {
        int keys[8], values[8];
        for (int i = 0; i < 8; i++) {
            keys[i] = b * 8 + i;
            values[i] = b;
        }
        append_records(partition, NULL, keys, values, 8, ts_start + b * 1000,
                       LGI_CODEC_NONE);
    }
}

/* ------------------------------------------------------------------------
 * Retention
 * --------------------------------------------------------------------- */

START_TEST(retention_by_time_deletes_whole_old_sealed_segments) {
    lgi_partition_t *partition = open_partition(dir, 2048);
    fill_plain(partition, 40, 0); /* batch b at ts 1000*b */
    size_t before = lgi_partition_segment_count(partition);
    ck_assert_uint_gt(before, 5);
    lgi_cleaner_settings_t settings;
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "retention.ms", "20000"), LG_OK);
    lgi_cleaner_settings_from_conf(conf, &settings);
    lg_conf_destroy(conf);
    size_t deleted;
    /* now 40000: segments whose newest record is before 20000 go. */
    ck_assert_int_eq(lgi_cleaner_retain(partition, &settings, 40000,
                                        &deleted),
                     LG_OK);
    ck_assert_uint_gt(deleted, 0);
    ck_assert_uint_eq(lgi_partition_segment_count(partition),
                      before - deleted);
    lgi_segment_t **segments;
    size_t count;
    ck_assert_int_eq(lgi_partition_sealed_segments(partition, &segments,
                                                   &count),
                     LG_OK);
    /* the first kept segment is young enough, the log start is its base */
    ck_assert_int_ge(segments[0]->max_timestamp, 20000);
    int64_t start;
    lgi_partition_watermarks(partition, &start, NULL);
    ck_assert_int_eq(start, segments[0]->base_offset);
    ck_assert_int_gt(start, 0);
    lgi_partition_segments_release(segments, count);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(lgi_partition_read(partition, 0, 4096, &data, &len),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(lgi_partition_read(partition, start, 4096, &data, &len),
                     LG_OK);
    lgi_free(data);
    char *first = lgt_segment_file(dir, 0, ".log");
    ck_assert_int_eq(lgt_file_size(first), -1);
    free(first);
    ck_assert_int_eq(count_files(dir, ".deleted"), 0);
    /* After a reopen the segments' newest timestamps come back from their
     * time indexes: the same check deletes nothing more. */
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    partition = open_partition(dir, 2048);
    ck_assert_int_eq(lgi_cleaner_retain(partition, &settings, 40000,
                                        &deleted),
                     LG_OK);
    ck_assert_uint_eq(deleted, 0);
    /* retention.ms = -1 keeps everything */
    settings.retention_ms = -1;
    ck_assert_int_eq(lgi_cleaner_retain(partition, &settings, INT64_MAX / 2,
                                        &deleted),
                     LG_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(retention_by_size_keeps_the_partition_within_retention_bytes) {
    lgi_partition_t *partition = open_partition(dir, 2048);
    fill_plain(partition, 40, 0);
    lgi_segment_t **segments;
    size_t count;
    ck_assert_int_eq(lgi_partition_sealed_segments(partition, &segments,
                                                   &count),
                     LG_OK);
    int64_t total = lgi_partition_active_size(partition);
    for (size_t i = 0; i < count; i++)
        total += segments[i]->size;
    int64_t limit = total / 2;
    /* Kafka's rule: drop the oldest while what remains is >= the limit. */
    size_t expect = 0;
    int64_t excess = total - limit;
    while (expect < count && excess - segments[expect]->size >= 0)
        excess -= segments[expect++]->size;
    lgi_partition_segments_release(segments, count);
    lgi_cleaner_settings_t settings;
    lg_conf_t *conf = lg_conf_new();
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)limit);
    ck_assert_int_eq(lg_conf_set(conf, "retention.bytes", text), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "retention.ms", "-1"), LG_OK);
    lgi_cleaner_settings_from_conf(conf, &settings);
    lg_conf_destroy(conf);
    size_t deleted;
    ck_assert_int_eq(lgi_cleaner_retain(partition, &settings, 0, &deleted),
                     LG_OK);
    ck_assert_uint_eq(deleted, expect);
    ck_assert_uint_gt(deleted, 0);
    /* compact alone never deletes by retention */
    settings.policy = LGI_CLEANUP_COMPACT;
    settings.retention_bytes = 0;
    ck_assert_int_eq(lgi_cleaner_retain(partition, &settings, 0, &deleted),
                     LG_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(deleted_segments_close_their_descriptors_once_unreferenced) {
    int baseline = lgt_open_fd_count();
    lgi_partition_t *partition = open_partition(dir, 2048);
    fill_plain(partition, 40, 0);
    /* A reader holding segments (as lgi_partition_read does mid-read). */
    lgi_segment_t **held;
    size_t held_count;
    ck_assert_int_eq(lgi_partition_sealed_segments(partition, &held,
                                                   &held_count),
                     LG_OK);
    lgi_cleaner_settings_t settings;
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "retention.bytes", "0"), LG_OK);
    lgi_cleaner_settings_from_conf(conf, &settings);
    lg_conf_destroy(conf);
    size_t deleted;
    ck_assert_int_eq(lgi_cleaner_retain(partition, &settings, 0, &deleted),
                     LG_OK);
    ck_assert_uint_eq(deleted, held_count);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 1);
    /* Unlinked but still readable through the held references. */
    ck_assert_int_eq(count_files(dir, ".deleted"), 0);
    ck_assert_int_eq(deleted_fds(dir), (int)held_count);
    lgi_batch_header_t header;
    ck_assert_int_eq(lgi_segment_read_header(held[0], 0, held[0]->size,
                                             &header),
                     LG_OK);
    lgi_partition_segments_release(held, held_count);
    ck_assert_int_eq(deleted_fds(dir), 0);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    ck_assert_int_eq(lgt_open_fd_count(), baseline);
}
END_TEST

START_TEST(interrupted_delete_is_finished_at_open) {
    lgi_partition_t *partition = open_partition(dir, 2048);
    fill_plain(partition, 20, 0);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    /* A crash after renaming segment 0's .log to .deleted. */
    char *log = lgt_segment_file(dir, 0, ".log");
    char *gone = lgt_segment_file(dir, 0, ".log.deleted");
    ck_assert_int_eq(rename(log, gone), 0);
    partition = open_partition(dir, 2048);
    ck_assert_int_eq(count_files(dir, ".deleted"), 0);
    char *index = lgt_segment_file(dir, 0, ".index");
    ck_assert_int_eq(lgt_file_size(index), -1); /* orphan index removed */
    int64_t start;
    lgi_partition_watermarks(partition, &start, NULL);
    ck_assert_int_gt(start, 0);
    /* A checkpointed log start past a segment deletes it at open. */
    lgi_segment_t **segments;
    size_t count;
    ck_assert_int_eq(lgi_partition_sealed_segments(partition, &segments,
                                                   &count),
                     LG_OK);
    int64_t second = segments[1]->base_offset;
    lgi_partition_segments_release(segments, count);
    ck_assert_int_eq(lgi_partition_set_log_start(partition, second), LG_OK);
    lgi_partition_watermarks(partition, &start, NULL);
    ck_assert_int_eq(start, second);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(log);
    free(gone);
    free(index);
}
END_TEST

/* ------------------------------------------------------------------------
 * Engine level: the checkpoint and consumers below the log start
 * --------------------------------------------------------------------- */

static lg_engine_t *open_engine(const char *path) {
    lg_conf_t *conf = lg_conf_new();
    lg_engine_t *engine;
    /* the thread stays out of the way: tests drive lgi_engine_clean */
    ck_assert_int_eq(lg_conf_set(conf, "log.retention.check.interval.ms",
                                 "100000000"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "log.cleaner.backoff.ms", "100000000"),
                     LG_OK);
    ck_assert_int_eq(lg_engine_open(path, conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    return engine;
}

START_TEST(log_start_is_checkpointed_and_consumers_below_it_reset) {
    lg_engine_t *engine = open_engine(dir);
    lg_conf_t *topic_conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(topic_conf, "segment.bytes", "2048"), LG_OK);
    ck_assert_int_eq(lg_conf_set(topic_conf, "retention.ms", "3600000"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "events", 1, topic_conf), LG_OK);
    lg_conf_destroy(topic_conf);
    int64_t now = lgi_engine_now_ms(engine);
    for (int b = 0; b < 30; b++) {
        lg_records_t *records = lg_records_new();
        char value[100];
        memset(value, 'v', sizeof value);
        /* the first 20 batches are two hours old */
        for (int i = 0; i < 5; i++)
            lg_records_add(records, "k", 1, value, sizeof value,
                           b < 20 ? now - 7200000 : now);
        ck_assert_int_eq(lg_append(engine, "events", 0, records, LG_ACKS_ALL,
                                   NULL),
                         LG_OK);
        lg_records_destroy(records);
    }
    int64_t low, high;
    ck_assert_int_eq(lgi_engine_clean(engine, now, 1), LG_OK);
    ck_assert_int_eq(lg_watermarks(engine, "events", 0, &low, &high), LG_OK);
    ck_assert_int_gt(low, 0);
    ck_assert_int_le(low, 100);

    lg_consumer_t *consumer;
    const lg_message_t *message;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &consumer), LG_OK);
    lg_conf_t *earliest = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(earliest, "auto.offset.reset", "earliest"),
                     LG_OK);
    lg_consumer_destroy(consumer);
    ck_assert_int_eq(lg_consumer_new(engine, earliest, &consumer), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "events", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_poll(consumer, 1000, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_offset(message), low);
    lg_consumer_destroy(consumer);
    lg_conf_destroy(earliest);

    lg_conf_t *none = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(none, "auto.offset.reset", "none"), LG_OK);
    ck_assert_int_eq(lg_consumer_new(engine, none, &consumer), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "events", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_poll(consumer, 1000, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_error(message), LG_ERR_OFFSET_OUT_OF_RANGE);
    lg_consumer_destroy(consumer);
    lg_conf_destroy(none);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    char *checkpoint = lgt_path(dir, "log-start-offset-checkpoint");
    ck_assert_int_gt(lgt_file_size(checkpoint), 0);
    free(checkpoint);
    engine = open_engine(dir);
    int64_t low_again;
    ck_assert_int_eq(lg_watermarks(engine, "events", 0, &low_again, &high),
                     LG_OK);
    ck_assert_int_eq(low_again, low);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(cleaner_thread_applies_retention_and_compaction_by_itself) {
    lg_conf_t *conf = lg_conf_new();
    lg_engine_t *engine;
    ck_assert_int_eq(lg_conf_set(conf, "log.retention.check.interval.ms",
                                 "20"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "log.cleaner.backoff.ms", "20"),
                     LG_OK);
    ck_assert_int_eq(lg_engine_open(dir, conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    lg_conf_t *old = lg_conf_new(), *compacted = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(old, "segment.bytes", "1024"), LG_OK);
    ck_assert_int_eq(lg_conf_set(old, "retention.ms", "60000"), LG_OK);
    ck_assert_int_eq(lg_conf_set(compacted, "segment.bytes", "1024"), LG_OK);
    ck_assert_int_eq(lg_conf_set(compacted, "cleanup.policy", "compact"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "old", 1, old), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "compacted", 1, compacted),
                     LG_OK);
    lg_conf_destroy(old);
    lg_conf_destroy(compacted);
    int64_t now = lgi_engine_now_ms(engine);
    char value[200];
    memset(value, 'x', sizeof value);
    for (int b = 0; b < 20; b++) {
        lg_records_t *records = lg_records_new();
        lg_records_add(records, "same", 4, value, sizeof value,
                       now - 3600000);
        ck_assert_int_eq(lg_append(engine, "old", 0, records, LG_ACKS_LEADER,
                                   NULL),
                         LG_OK);
        ck_assert_int_eq(lg_append(engine, "compacted", 0, records,
                                   LG_ACKS_LEADER, NULL),
                         LG_OK);
        lg_records_destroy(records);
    }
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "compacted", 0, &ref), LG_OK);
    int64_t low = 0, cleaned = -1;
    for (int wait = 0; wait < 500 && (low == 0 || cleaned <= 0); wait++) {
        usleep(10000);
        ck_assert_int_eq(lg_watermarks(engine, "old", 0, &low, NULL), LG_OK);
        cleaned = lgi_partition_cleaner_offset(ref.partition);
    }
    ck_assert_int_gt(low, 0);
    ck_assert_int_gt(cleaned, 0);
    /* A pass covered at least the first sealed segment (three batches of
     * "same"): its superseded records are gone.  (The thread may run
     * again at any time, so only a lower bound is stable.) */
    uint8_t *data;
    size_t len;
    lgi_batch_header_t header;
    ck_assert_int_eq(lgi_partition_read(ref.partition, 0, 1, &data, &len),
                     LG_OK);
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, &header),
                     LG_OK);
    ck_assert_int_ge(header.base_offset, 2);
    lgi_free(data);
    lgi_engine_release(engine, &ref);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(configuration_errors_name_the_property) {
    lg_conf_t *conf = lg_conf_new();
    char buf[64];
    size_t size = sizeof buf;
    ck_assert_int_eq(lg_conf_set(conf, "cleanup.policy", "shred"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "cleanup.policy"));
    ck_assert_int_eq(lg_conf_set(conf, "cleanup.policy", "delete,compact"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_get(conf, "cleanup.policy", buf, &size), LG_OK);
    ck_assert_str_eq(buf, "compact,delete");
    ck_assert_int_eq(lg_conf_set(conf, "min.cleanable.dirty.ratio", "1.5"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(
        strstr(lg_last_error_message(), "min.cleanable.dirty.ratio"));
    ck_assert_int_eq(lg_conf_set(conf, "min.cleanable.dirty.ratio", "half"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "min.cleanable.dirty.ratio",
                                 "0.1234567"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "min.cleanable.dirty.ratio", ""),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "min.cleanable.dirty.ratio", ".25"),
                     LG_OK);
    size = sizeof buf;
    ck_assert_int_eq(lg_conf_get(conf, "min.cleanable.dirty.ratio", buf,
                                 &size),
                     LG_OK);
    ck_assert_str_eq(buf, "0.25");
    ck_assert_int_eq(lg_conf_set(conf, "retention.ms", "-2"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "retention.bytes", "x"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "delete.retention.ms", "-1"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "max.compaction.lag.ms", "0"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "log.cleaner.dedupe.buffer.size",
                                 "100"),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);

    /* Cross-property and scope errors at topic creation. */
    lg_engine_t *engine = open_engine(dir);
    conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "min.compaction.lag.ms", "5000"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "max.compaction.lag.ms", "1000"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, conf),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(
        strstr(lg_last_error_message(), "min.compaction.lag.ms"));
    lg_conf_destroy(conf);
    conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "log.cleaner.backoff.ms", "5"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, conf),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "cleanup.policy",
                                         "compact"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "retention.bytes",
                                         "-5"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* ------------------------------------------------------------------------
 * Compaction
 * --------------------------------------------------------------------- */

static model_t model;

/* A random batch of 1..8 records over keys [0, keys): ~10% tombstones,
 * ~3% null keys, every 7th batch zstd. */
static void random_batch(lgi_partition_t *partition, unsigned *seed, int keys,
                         int64_t timestamp, int tombstones) {
    int count = 1 + (int)(rand_r(seed) % 8);
    int k[8], v[8];
    for (int i = 0; i < count; i++) {
        k[i] = rand_r(seed) % 33 == 0 ? -1 : (int)(rand_r(seed) % keys);
        v[i] = tombstones && rand_r(seed) % 10 == 0
                   ? -1
                   : (int)(rand_r(seed) % 100000);
    }
    append_records(partition, &model, k, v, count, timestamp,
                   rand_r(seed) % 7 == 0 ? LGI_CODEC_ZSTD : LGI_CODEC_NONE);
}

START_TEST(compaction_matches_model_over_random_workloads_and_crashes) {
    lgi_cleaner_settings_t settings;
    compact_settings(&settings);
    settings.delete_retention_ms = 50;
    for (unsigned round = 0; round < ROUNDS; round++) {
        unsigned seed = 1234 + round;
        char *path;
        ck_assert_int_ne(asprintf(&path, "%s/r%u", dir, round), -1);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        memset(&model, 0, sizeof model);
        int keys = 20 + (int)(rand_r(&seed) % 200);
        lgi_cleaner_t *cleaner;
        /* from a map too small for the log to one that holds it all */
        ck_assert_int_eq(lgi_cleaner_new(4096 << (rand_r(&seed) % 6),
                                         &cleaner),
                         LG_OK);
        lgi_partition_t *partition = open_partition(path, 4096 +
                                                    rand_r(&seed) % 8192);
        int64_t first_dirty = 0, now = 1000;
        for (int step = 0; step < 10 && model.end < MAX_RECORDS - 200;
             step++) {
            int batches = 1 + (int)(rand_r(&seed) % 30);
            for (int b = 0; b < batches; b++)
                random_batch(partition, &seed, keys, now++, 1);
            now += rand_r(&seed) % 40;
            int crash = rand_r(&seed) % 4 == 0
                            ? 1 + (int)(rand_r(&seed) %
                                        LGI_CLEANER_CRASH_STEPS)
                            : 0;
            lgi_cleaner_crash_at(crash);
            lg_err_t err = lgi_cleaner_compact(cleaner, partition, &settings,
                                               now, 1, &first_dirty, NULL);
            lgi_cleaner_crash_at(0);
            if (err != LG_OK) {
                /* The process "died": reopen, which completes or discards
                 * the interrupted swap; cleaning restarts from scratch. */
                ck_assert_int_ne(crash, 0);
                ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
                partition = open_partition(path, 8192);
                first_dirty = 0;
                ck_assert_int_eq(count_files(path, ".cleaned") +
                                     count_files(path, ".swap") +
                                     count_files(path, ".deleted"),
                                 0);
                check_against_model(partition, &model, 0, keys);
                continue;
            }
            check_against_model(partition, &model, first_dirty, keys);
        }
        /* Repeated passes converge: everything sealed gets cleaned. */
        for (int pass = 0; pass < 64; pass++) {
            int64_t before = first_dirty;
            ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition,
                                                 &settings, now, 1,
                                                 &first_dirty, NULL),
                             LG_OK);
            if (first_dirty == before)
                break;
        }
        check_against_model(partition, &model, first_dirty, keys);
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        /* and the cleaned log reads the same after reopen */
        partition = open_partition(path, 8192);
        check_against_model(partition, &model, first_dirty, keys);
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        lgi_cleaner_free(cleaner);
        free(path);
    }
}
END_TEST

/* The transaction seam: a decision function that drops the batches of
 * "aborted" producer 42 and keeps producer 43's whole. */
static int decide(void *opaque, lgi_partition_t *partition,
                  const lgi_batch_header_t *header, int64_t now_ms) {
    (*(int *)opaque)++;
    ck_assert_ptr_nonnull(partition);
    if (header->producer_id == 42)
        return LGI_BATCH_DELETE;
    if (header->producer_id == 43)
        return LGI_BATCH_RETAIN_WHOLE;
    return LGI_BATCH_RETAIN_RECORDS;
}

START_TEST(batch_decision_seam_drops_or_keeps_whole_batches) {
    lgi_partition_t *partition = open_partition(dir, 1024);
    lgi_cleaner_t *cleaner;
    lgi_cleaner_settings_t settings;
    compact_settings(&settings);
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    int calls = 0;
    lgi_cleaner_set_batch_retain(cleaner, decide, &calls);
    for (int b = 0; b < 30; b++) {
        lg_records_t *records = lg_records_new();
        lg_records_add(records, "k", 1, "v", 1, b);
        lg_records_add(records, "k", 1, "w", 1, b);
        lgi_batch_options_t options;
        lgi_buf_t out = LGI_BUF_INIT;
        lgi_batch_options_init(&options);
        options.producer_id = b < 10 ? 42 : b < 20 ? 43 : -1;
        options.producer_epoch = b < 20 ? 0 : -1;
        /* in sequence (two records a batch), or the log would drop the
         * repeats as retried duplicates */
        options.base_sequence = b < 20 ? (b % 10) * 2 : -1;
        ck_assert_int_eq(lgi_batch_encode(&out, records, &options), LG_OK);
        lg_records_destroy(records);
        ck_assert_int_eq(lgi_partition_append(partition, out.data, out.len,
                                              LG_ACKS_LEADER, b, NULL),
                         LG_OK);
    }
    int64_t first_dirty = 0;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 100,
                                         1, &first_dirty, NULL),
                     LG_OK);
    ck_assert_int_gt(calls, 0);
    /* producer 42's batches are gone; 43's keep both records although
     * superseded; the rest keep only the latest "k" below the active
     * segment. */
    uint8_t *data;
    size_t len;
    lgi_batch_header_t header;
    int64_t start;
    lgi_partition_watermarks(partition, &start, NULL);
    ck_assert_int_eq(lgi_partition_read(partition, start, 1, &data, &len),
                     LG_OK);
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, &header),
                     LG_OK);
    ck_assert_int_eq(header.producer_id, 43);
    ck_assert_int_eq(header.record_count, 2);
    lgi_free(data);
    lgi_cleaner_free(cleaner);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* Reads the raw first batch holding offset. */
static void batch_at(lgi_partition_t *partition, int64_t offset,
                     lgi_batch_header_t *header) {
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(lgi_partition_read(partition, offset, 1, &data, &len),
                     LG_OK);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, header), LG_OK);
    lgi_free(data);
}

START_TEST(tombstone_survives_until_its_delete_horizon) {
    lgi_partition_t *partition = open_partition(dir, 1024);
    lgi_cleaner_t *cleaner;
    lgi_cleaner_settings_t settings;
    compact_settings(&settings);
    settings.delete_retention_ms = 1000;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    memset(&model, 0, sizeof model);
    int k = 7, v = 1, tomb = -1;
    append_records(partition, &model, &k, &v, 1, 100, LGI_CODEC_NONE);
    append_records(partition, &model, &k, &tomb, 1, 200, LGI_CODEC_NONE);
    int64_t tomb_offset = model.end - 1;
    for (int b = 0; b < 40; b++) { /* other keys, to roll segments */
        int key = 100 + b, value = b;
        append_records(partition, &model, &key, &value, 1, 300 + b,
                       LGI_CODEC_NONE);
    }
    int64_t first_dirty = 0;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 5000,
                                         1, &first_dirty, NULL),
                     LG_OK);
    static seen_t seen[MAX_RECORDS];
    size_t n = dump(partition, seen, MAX_RECORDS);
    ck_assert_int_eq(seen[0].offset, tomb_offset); /* the value went */
    ck_assert_int_eq(seen[0].value, -1);
    ck_assert_int_eq(seen[0].timestamp, 200); /* timestamps survive */
    lgi_batch_header_t header;
    batch_at(partition, tomb_offset, &header);
    ck_assert(header.attributes & LGI_ATTR_DELETE_HORIZON);
    ck_assert_int_eq(header.base_timestamp, 5000 + 1000);
    ck_assert_int_eq(header.base_offset, tomb_offset); /* offsets kept */
    /* Before the horizon the tombstone stays, horizon unchanged. */
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 5999,
                                         1, &first_dirty, NULL),
                     LG_OK);
    batch_at(partition, tomb_offset, &header);
    ck_assert_int_eq(header.base_offset, tomb_offset);
    ck_assert_int_eq(header.base_timestamp, 6000);
    /* At the horizon it goes. */
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 6000,
                                         1, &first_dirty, NULL),
                     LG_OK);
    size_t after = dump(partition, seen, MAX_RECORDS);
    ck_assert_uint_eq(after, n - 1);
    for (size_t i = 0; i < after; i++)
        ck_assert_int_ne(seen[i].key, 7);
    lgi_cleaner_free(cleaner);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(lag_settings_and_dirty_ratio_decide_when_to_clean) {
    lgi_partition_t *partition = open_partition(dir, 4096);
    lgi_cleaner_t *cleaner;
    lgi_cleaner_settings_t settings;
    lgi_clean_stats_t stats;
    compact_settings(&settings);
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    memset(&model, 0, sizeof model);
    /* one key rewritten 200 times, timestamps 1000.. */
    for (int i = 0; i < 200; i++) {
        int key = 1, value = i;
        append_records(partition, &model, &key, &value, 1, 1000 + i,
                       LGI_CODEC_NONE);
    }
    int64_t first_dirty = 0;
    /* min.compaction.lag.ms: at now 1100 with lag 1000 nothing is old
     * enough. */
    settings.min_compaction_lag_ms = 1000;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 1100,
                                         1, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_eq(stats.segments_in, 0);
    /* at now 1100 + 1000 the segments below ~ts 1100 are cleanable */
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 2100,
                                         1, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_gt(stats.segments_in, 0);
    ck_assert_int_lt(first_dirty, model.end);
    int64_t partial = first_dirty;
    ck_assert_int_le(model.at[partial - 1].timestamp, 1100);
    check_against_model(partition, &model, first_dirty, 2);
    /* Dirty ratio 1.0 is never reached after a clean pass ... */
    settings.min_compaction_lag_ms = 0;
    settings.min_dirty_ratio = LGI_CONF_FRACTION_ONE;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 1e6,
                                         0, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_eq(stats.segments_in, 0);
    /* ... but max.compaction.lag.ms forces the pass. */
    settings.max_compaction_lag_ms = 10;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 1e6,
                                         0, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_gt(stats.segments_in, 0);
    ck_assert_int_gt(first_dirty, partial);
    check_against_model(partition, &model, first_dirty, 2);
    /* a ratio of 0.5 is met by a fresh dirty tail */
    settings.max_compaction_lag_ms = INT64_MAX;
    settings.min_dirty_ratio = LGI_CONF_FRACTION_ONE / 2;
    for (int i = 0; i < 400; i++) {
        int key = 1, value = 1000 + i;
        append_records(partition, &model, &key, &value, 1, 5000 + i,
                       LGI_CODEC_NONE);
    }
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 1e6,
                                         0, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_gt(stats.segments_in, 0);
    check_against_model(partition, &model, first_dirty, 2);
    lgi_cleaner_free(cleaner);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(full_key_map_cleans_a_prefix_and_the_next_pass_continues) {
    lgi_partition_t *partition = open_partition(dir, 4096);
    lgi_cleaner_t *cleaner;
    lgi_cleaner_settings_t settings;
    lgi_clean_stats_t stats;
    compact_settings(&settings);
    ck_assert_int_eq(lgi_cleaner_new(4096, &cleaner), LG_OK); /* 153 keys */
    memset(&model, 0, sizeof model);
    unsigned seed = 99;
    for (int b = 0; b < 150; b++) {
        int k[4], v[4];
        for (int i = 0; i < 4; i++) {
            k[i] = (int)(rand_r(&seed) % 1000);
            v[i] = b;
        }
        append_records(partition, &model, k, v, 4, b, LGI_CODEC_NONE);
    }
    int64_t first_dirty = 0;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 1000,
                                         1, &first_dirty, &stats),
                     LG_OK);
    ck_assert(stats.map_full);
    ck_assert_int_gt(first_dirty, 0);
    ck_assert_int_lt(first_dirty, 300);
    check_against_model(partition, &model, first_dirty, 1000);
    int passes = 1;
    for (;;) {
        int64_t before = first_dirty;
        ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings,
                                             1000, 1, &first_dirty, &stats),
                         LG_OK);
        check_against_model(partition, &model, first_dirty, 1000);
        if (first_dirty == before)
            break;
        passes++;
    }
    ck_assert_int_gt(passes, 3);
    lgi_cleaner_free(cleaner);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);

    /* A map too small for one batch is an error naming the property. */
    char *other = lgt_path(dir, "other");
    ck_assert_int_eq(mkdir(other, 0700), 0);
    partition = open_partition(other, 2048);
    lgi_cleaner_t *tiny;
    ck_assert_int_eq(lgi_cleaner_new(64, &tiny), LG_OK);
    int k[20], v[20];
    for (int i = 0; i < 20; i++) {
        k[i] = 5000 + i;
        v[i] = i;
    }
    append_records(partition, NULL, k, v, 20, 2000, LGI_CODEC_NONE);
    fill_plain(partition, 10, 3000);
    first_dirty = 0;
    ck_assert_int_eq(lgi_cleaner_compact(tiny, partition, &settings, 1000, 1,
                                         &first_dirty, &stats),
                     LG_ERR_NOMEM);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(),
                                 "log.cleaner.dedupe.buffer.size"));
    lgi_cleaner_free(tiny);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(other);
}
END_TEST

/* One transactional batch of producer_id ("key-<key>" = "value-<value>-..."
 * as append_records writes), or its marker (type 0 abort, 1 commit) when
 * marker >= 0. */
static void txn_batch(lgi_partition_t *partition, int64_t producer_id,
                      int key, int value, int marker, int64_t timestamp) {
    lgi_buf_t out = LGI_BUF_INIT;
    if (marker >= 0) {
        ck_assert_int_eq(lgi_batch_encode_control(&out, marker, 0, timestamp,
                                                  producer_id, 0),
                         LG_OK);
    } else {
        lg_records_t *records = lg_records_new();
        char k[32], v[128];
        int key_len = snprintf(k, sizeof k, "key-%d", key);
        int value_len = snprintf(v, sizeof v, "value-%d-%0*d", value, 40,
                                 value);
        ck_assert_int_eq(lg_records_add(records, k, (size_t)key_len, v,
                                        (size_t)value_len, timestamp),
                         LG_OK);
        lgi_batch_options_t options;
        lgi_batch_options_init(&options);
        options.producer_id = producer_id;
        options.producer_epoch = 0;
        options.base_sequence = 0;
        options.transactional = 1;
        options.now_ms = timestamp;
        ck_assert_int_eq(lgi_batch_encode(&out, records, &options), LG_OK);
        lg_records_destroy(records);
    }
    int64_t base;
    ck_assert_int_eq(lgi_partition_append(partition, out.data, out.len,
                                          LG_ACKS_LEADER, timestamp, &base),
                     LG_OK);
    /* Keeps the model's offsets in step (the crash test compares dumps,
     * not the model). */
    ck_assert_int_eq(base, model.end);
    model.at[base].key = model.at[base].value = -1;
    model.end = base + 1;
}

/* Builds the same deterministic log in path: 60 batches of up to 8
 * records over 30 keys with tombstones, among them an aborted transaction
 * (producer 900, key 1) and a committed one (901, key 2) whose markers
 * come a few batches later, 1 KiB segments; then raises segment.bytes so
 * cleaning groups every sealed segment into one (a pass is then one swap,
 * and a crash leaves the log before or after it). */
static lgi_partition_t *build_fixed(const char *path) {
    lgi_partition_t *partition = open_partition(path, 2048);
    unsigned seed = 7;
    memset(&model, 0, sizeof model);
    for (int b = 0; b < 60; b++) {
        random_batch(partition, &seed, 30, 100 + b, 1);
        if (b == 20 || b == 30)
            txn_batch(partition, b == 20 ? 900 : 901, b == 20 ? 1 : 2, 777,
                      -1, 100 + b);
        if (b == 25 || b == 35)
            txn_batch(partition, b == 25 ? 900 : 901, 0, 0, b == 25 ? 0 : 1,
                      100 + b);
    }
    lgi_log_config_t config;
    lgi_partition_config(partition, &config);
    config.segment_bytes = 1 << 20;
    lgi_partition_set_config(partition, &config);
    return partition;
}

static int same_dump(const seen_t *a, size_t an, const seen_t *b, size_t bn) {
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++)
        if (a[i].offset != b[i].offset || a[i].key != b[i].key ||
            a[i].value != b[i].value || a[i].timestamp != b[i].timestamp)
            return 0;
    return 1;
}

/* Every .txnindex of path, names and bytes concatenated (malloc'd). */
static char *txn_indexes(const char *path) {
    char *names[256];
    size_t count = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 9 && strcmp(e->d_name + n - 9, ".txnindex") == 0) {
            ck_assert_uint_lt(count, 256);
            names[count++] = strdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t i = 0; i < count; i++) /* sort: readdir order varies */
        for (size_t j = i + 1; j < count; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    size_t cap = 65536, len = 0;
    char *all = calloc(1, cap);
    for (size_t i = 0; i < count; i++) {
        char *file = lgt_path(path, names[i]);
        size_t n;
        uint8_t *bytes = lgt_read_file(file, &n);
        ck_assert_uint_lt(len + strlen(names[i]) + 2 * n + 2, cap);
        len += (size_t)sprintf(all + len, "%s:", names[i]);
        for (size_t k = 0; k < n; k++)
            len += (size_t)sprintf(all + len, "%02x", bytes[k]);
        all[len++] = ' ';
        free(bytes);
        free(file);
        free(names[i]);
    }
    return all;
}

START_TEST(crash_at_each_swap_step_reads_as_before_or_after) {
    static seen_t before[MAX_RECORDS], after[MAX_RECORDS], got[MAX_RECORDS];
    lgi_cleaner_settings_t settings;
    compact_settings(&settings);
    lgi_cleaner_t *cleaner;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    /* The reference: the same pass without a crash. */
    char *reference = lgt_path(dir, "reference");
    ck_assert_int_eq(mkdir(reference, 0700), 0);
    lgi_partition_t *partition = build_fixed(reference);
    size_t before_count = dump(partition, before, MAX_RECORDS);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *txn_before = txn_indexes(reference);
    /* the abort's entry is there before the pass */
    ck_assert_ptr_nonnull(strstr(txn_before, "0000000000000384"));
    partition = open_partition(reference, 1 << 20);
    int64_t first_dirty = 0;
    lgi_clean_stats_t stats;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 1000,
                                         1, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_gt(stats.segments_in, 0); /* grouped */
    size_t after_count = dump(partition, after, MAX_RECORDS);
    ck_assert_uint_lt(after_count, before_count);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *txn_after = txn_indexes(reference);
    /* the aborted data went, its marker and entry stay (for now) */
    ck_assert_ptr_nonnull(strstr(txn_after, "0000000000000384"));
    ck_assert_str_ne(txn_after, txn_before);

    for (int step = 1; step <= LGI_CLEANER_CRASH_STEPS; step++) {
        char *path;
        ck_assert_int_ne(asprintf(&path, "%s/step%d", dir, step), -1);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        partition = build_fixed(path);
        first_dirty = 0;
        lgi_cleaner_crash_at(step);
        ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings,
                                             1000, 1, &first_dirty, NULL),
                         LG_ERR_IO);
        ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "injected"));
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        /* The .txnindex files as the swap's recovery leaves them: opened
         * as after a clean shutdown, so they are loaded, not rebuilt by
         * the replay of a scanned log. */
        lgi_log_config_t trusted_config;
        lgt_default_config(&trusted_config);
        trusted_config.segment_bytes = 1 << 20;
        trusted_config.index_interval_bytes = 256;
        ck_assert_int_eq(lgi_partition_open(path, &trusted_config, io, 0, 1,
                                            0, &partition),
                         LG_OK);
        char *txn_got = txn_indexes(path);
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        partition = open_partition(path, 1 << 20);
        size_t n = dump(partition, got, MAX_RECORDS);
        if (step <= 2) {
            ck_assert_msg(same_dump(got, n, before, before_count),
                          "step %d: not the log before the pass", step);
            ck_assert_msg(strcmp(txn_got, txn_before) == 0,
                          "step %d: not the .txnindex before the pass", step);
        } else {
            ck_assert_msg(same_dump(got, n, after, after_count),
                          "step %d: not the log after the pass", step);
            ck_assert_msg(strcmp(txn_got, txn_after) == 0,
                          "step %d: not the .txnindex after the pass", step);
        }
        free(txn_got);
        ck_assert_int_eq(count_files(path, ".cleaned") +
                             count_files(path, ".swap") +
                             count_files(path, ".deleted") +
                             count_files(path, ".cleaner-group"),
                         0);
        /* Cleaning again reaches the reference result. */
        first_dirty = 0;
        ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings,
                                             1000, 1, &first_dirty, NULL),
                         LG_OK);
        n = dump(partition, got, MAX_RECORDS);
        ck_assert_msg(same_dump(got, n, after, after_count),
                      "step %d: recleaning differs", step);
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        free(path);
    }
    free(txn_before);
    free(txn_after);
    free(reference);
    lgi_cleaner_free(cleaner);
}
END_TEST

/* A reader walking the log by offset, over and over, while the cleaner
 * swaps segments under it. */
#define MAX_PASSES 1024

typedef struct walker {
    lgi_partition_t *partition;
    atomic_int stop;
    int passes;
    int failures;
    /* per completed pass: its end and the offsets it saw */
    int64_t pass_end[MAX_PASSES];
    uint8_t (*pass_seen)[MAX_RECORDS];
} walker_t;

static void *walker_main(void *arg) {
    walker_t *w = arg;
    while (!atomic_load(&w->stop) && w->passes < MAX_PASSES) {
        int64_t position = 0, last = -1, end;
        uint8_t *seen_now = w->pass_seen[w->passes];
        lgi_partition_watermarks(w->partition, NULL, &end);
        w->pass_end[w->passes] = end;
        while (position < end) {
            uint8_t *data;
            size_t len;
            lg_err_t err = lgi_partition_read(w->partition, position, 4096,
                                              &data, &len);
            if (err != LG_OK || !data) {
                fprintf(stderr, "walker: read at %lld (end %lld): %s %s\n",
                        (long long)position, (long long)end,
                        lg_strerror(err), err ? lg_last_error_message() : "");
                w->failures++;
                break;
            }
            for (size_t at = 0; at < len;) {
                lgi_batch_header_t header;
                lgi_record_iter_t iter;
                lgi_buf_t scratch = LGI_BUF_INIT;
                lgi_batch_validate(data + at, len - at, INT32_MAX, &header);
                lgi_record_iter_init(&iter, data + at, &header, &scratch);
                for (;;) {
                    lgi_record_t r;
                    int done;
                    if (lgi_record_iter_next(&iter, &r, &done) != LG_OK) {
                        w->failures++;
                        break;
                    }
                    if (done)
                        break;
                    if (r.offset < position)
                        continue;
                    /* exactly once, in order, and the record appended at
                     * that offset */
                    if (r.offset <= last ||
                        (r.value == NULL) != (model.at[r.offset].value < 0)) {
                        fprintf(stderr, "walker: offset %lld after %lld\n",
                                (long long)r.offset, (long long)last);
                        w->failures++;
                    }
                    last = r.offset;
                    if (r.offset < MAX_RECORDS)
                        seen_now[r.offset] = 1;
                    position = r.offset + 1;
                }
                lgi_buf_free(&scratch);
                if (lgi_batch_last_offset(&header) + 1 > position)
                    position = lgi_batch_last_offset(&header) + 1;
                at += lgi_batch_size(&header);
            }
            lgi_free(data);
        }
        w->passes++;
    }
    return NULL;
}

START_TEST(reader_sees_each_surviving_record_once_while_segments_swap) {
    lgi_partition_t *partition = open_partition(dir, 4096);
    lgi_cleaner_settings_t settings;
    compact_settings(&settings);
    lgi_cleaner_t *cleaner;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    memset(&model, 0, sizeof model);
    unsigned seed = 5;
    for (int b = 0; b < 100; b++)
        random_batch(partition, &seed, 40, b, 0);
    static walker_t walker;
    memset(&walker, 0, sizeof walker);
    walker.partition = partition;
    walker.pass_seen = calloc(MAX_PASSES, MAX_RECORDS);
    pthread_t thread;
    pthread_create(&thread, NULL, walker_main, &walker);
    int64_t first_dirty = 0;
    for (int round = 0; round < ROUNDS + 1; round++) {
        for (int b = 0; b < 20; b++)
            random_batch(partition, &seed, 40, 100 + round * 20 + b, 0);
        first_dirty = 0; /* recopy everything: more swaps */
        ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings,
                                             10000, 1, &first_dirty, NULL),
                         LG_OK);
    }
    atomic_store(&walker.stop, 1);
    pthread_join(thread, NULL);
    ck_assert_int_eq(walker.failures, 0);
    ck_assert_int_gt(walker.passes, 0);
    /* Cleaning only removes records: every record still in the log below
     * a pass's end existed during that pass, so the pass saw it. */
    static seen_t final[MAX_RECORDS];
    size_t count = dump(partition, final, MAX_RECORDS);
    for (int p = 0; p < walker.passes; p++)
        for (size_t i = 0; i < count; i++)
            if (final[i].offset < walker.pass_end[p])
                ck_assert_msg(walker.pass_seen[p][final[i].offset],
                              "pass %d missed offset %lld", p,
                              (long long)final[i].offset);
    free(walker.pass_seen);
    check_against_model(partition, &model, first_dirty, 40);
    lgi_cleaner_free(cleaner);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* A reader following the tail, and one lagging behind in what gets
 * compacted: reads position themselves by recently published batch
 * ends, which the swap must forget (the cleaned segment holds the
 * surviving batches at other positions). */
/* A read from tail returns exactly the 4 records of the batch appended
 * last, with these keys and values. */
static void expect_tail_batch(lgi_partition_t *partition, int64_t tail,
                              const int *keys, const int *values,
                              seen_t *seen) {
    ck_assert_uint_eq(dump_from(partition, tail, seen, MAX_RECORDS), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(seen[i].offset, tail + i);
        ck_assert_int_eq(seen[i].key, keys[i]);
        ck_assert_int_eq(seen[i].value, values[i]);
    }
}

START_TEST(tail_and_lagging_readers_read_the_cleaned_log_after_a_swap) {
    lgi_partition_t *partition = open_partition(dir, 1024);
    lgi_cleaner_settings_t settings;
    compact_settings(&settings);
    lgi_cleaner_t *cleaner;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    memset(&model, 0, sizeof model);
    static seen_t seen[MAX_RECORDS], all[MAX_RECORDS];
    int64_t tail = 0, lagging = -1;
    uint64_t hits;
    size_t remembered;
    for (int b = 0; b < 60; b++) {
        int keys[4], values[4];
        for (int i = 0; i < 4; i++) {
            keys[i] = (b * 4 + i) % 10;
            values[i] = b * 4 + i;
        }
        append_records(partition, &model, keys, values, 4, 1000 + b * 4,
                       LGI_CODEC_NONE);
        /* The tail reader gets exactly the batch just appended. */
        expect_tail_batch(partition, tail, keys, values, seen);
        tail += 4;
        if (b == 30)
            lagging = tail;
    }
    lgi_partition_recent_ends(partition, &hits, &remembered);
    ck_assert_uint_gt(hits, 0);
    ck_assert_uint_gt(remembered, 0);
    ck_assert_uint_gt(lgi_partition_segment_count(partition), 4);
    int64_t first_dirty = 0;
    lgi_clean_stats_t stats;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, partition, &settings, 10000,
                                         1, &first_dirty, &stats),
                     LG_OK);
    ck_assert_int_gt(stats.segments_in, 0);
    ck_assert_int_gt(first_dirty, lagging);
    lgi_partition_recent_ends(partition, &hits, &remembered);
    ck_assert_uint_eq(remembered, 0);
    /* The lagging reader reads what a reader from the start reads from
     * its offset on, and both agree with the model. */
    size_t count = dump(partition, all, MAX_RECORDS);
    size_t suffix = 0;
    while (suffix < count && all[suffix].offset < lagging)
        suffix++;
    ck_assert_uint_lt(suffix, count);
    ck_assert_uint_eq(dump_from(partition, lagging, seen, MAX_RECORDS),
                      count - suffix);
    for (size_t i = 0; i < count - suffix; i++) {
        ck_assert_int_eq(seen[i].offset, all[suffix + i].offset);
        ck_assert_int_eq(seen[i].key, all[suffix + i].key);
        ck_assert_int_eq(seen[i].value, all[suffix + i].value);
    }
    check_against_model(partition, &model, first_dirty, 10);
    /* The tail reader goes on from where it was. */
    for (int b = 60; b < 70; b++) {
        int keys[4] = {1, 2, 3, 4}, values[4];
        for (int i = 0; i < 4; i++)
            values[i] = b * 4 + i;
        append_records(partition, &model, keys, values, 4, 1000 + b * 4,
                       LGI_CODEC_NONE);
        expect_tail_batch(partition, tail, keys, values, seen);
        tail += 4;
    }
    check_against_model(partition, &model, first_dirty, 10);
    lgi_cleaner_free(cleaner);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* One case per test, so CK_RUN_CASE=<test name> runs just one. */
#define ADD(suite, name)                                                     \
    do {                                                                     \
        TCase *tc = tcase_create(#name);                                     \
        tcase_add_checked_fixture(tc, setup, teardown);                      \
        tcase_set_timeout(tc, 60);                                           \
        tcase_add_test(tc, name);                                            \
        suite_add_tcase(suite, tc);                                          \
    } while (0)

int main(void) {
    Suite *suite = suite_create("cleaner");
    ADD(suite, retention_by_time_deletes_whole_old_sealed_segments);
    ADD(suite, retention_by_size_keeps_the_partition_within_retention_bytes);
    ADD(suite, deleted_segments_close_their_descriptors_once_unreferenced);
    ADD(suite, interrupted_delete_is_finished_at_open);
    ADD(suite, log_start_is_checkpointed_and_consumers_below_it_reset);
    ADD(suite, cleaner_thread_applies_retention_and_compaction_by_itself);
    ADD(suite, configuration_errors_name_the_property);
    ADD(suite, compaction_matches_model_over_random_workloads_and_crashes);
    ADD(suite, tombstone_survives_until_its_delete_horizon);
    ADD(suite, batch_decision_seam_drops_or_keeps_whole_batches);
    ADD(suite, lag_settings_and_dirty_ratio_decide_when_to_clean);
    ADD(suite, full_key_map_cleans_a_prefix_and_the_next_pass_continues);
    ADD(suite, crash_at_each_swap_step_reads_as_before_or_after);
    ADD(suite, reader_sees_each_surviving_record_once_while_segments_swap);
    ADD(suite, tail_and_lagging_readers_read_the_cleaned_log_after_a_swap);
    return lgt_run(suite);
}
