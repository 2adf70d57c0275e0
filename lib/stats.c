/*
 * stats.c -- the engine's statistics: histograms, the library's log, the
 * registry of producers and consumers, and the two renderings (JSON for
 * lg_engine_stats_json and the stats callback, Prometheus text exposition
 * for lg_engine_stats_prometheus), plus lg_engine_poll which serves the
 * stats callback.
 *
 * Rendering takes a snapshot first -- every figure is read once, under the
 * lock of the object that owns it and never two locks at a time except the
 * engine's topics read lock around each partition's mutex (the order every
 * other path uses) -- and then formats the snapshot without holding any
 * lock.  Both formats are rendered from the same snapshot type, so they
 * always carry the same metrics.
 *
 * Invariants: a registered client (producer, consumer) stays valid while
 * stats_lock is held, because destroy unregisters (taking stats_lock)
 * before freeing anything; callbacks of the application are never called
 * with a library lock held.
 */
#include "stats.h"

#include "alloc.h"
#include "buf.h"
#include "engine.h"
#include "err.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------
 * Histograms, clock, log
 * --------------------------------------------------------------------- */

int64_t lgi_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void lgi_histogram_record(lgi_histogram_t *histogram, uint64_t value_us) {
    int bucket = 0;
    if (value_us > 1)
        bucket = 64 - __builtin_clzll(value_us - 1); /* ceil(log2(value)) */
    if (bucket > LGI_HISTOGRAM_BUCKETS - 1)
        bucket = LGI_HISTOGRAM_BUCKETS - 1;
    lgi_count(&histogram->buckets[bucket], 1);
    lgi_count(&histogram->sum_us, value_us);
    lgi_count(&histogram->count, 1);
}

uint64_t lgi_histogram_bound(int bucket) {
    return bucket >= LGI_HISTOGRAM_BUCKETS - 1 ? UINT64_MAX
                                               : (uint64_t)1 << bucket;
}

void lgi_log(const lgi_logger_t *logger, int level, const char *format, ...) {
    if (!logger || !logger->callback || level > logger->level)
        return;
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    logger->callback(logger->opaque, level, message);
}

/* ------------------------------------------------------------------------
 * Client registry
 * --------------------------------------------------------------------- */

void lgi_stats_register(lg_engine_t *engine, lgi_stats_client_t *client,
                        int kind, void *handle) {
    client->kind = kind;
    client->handle = handle;
    client->prev = NULL;
    pthread_mutex_lock(&engine->stats_lock);
    client->id = ++engine->stats_next_id;
    client->next = engine->stats_clients;
    if (client->next)
        client->next->prev = client;
    engine->stats_clients = client;
    pthread_mutex_unlock(&engine->stats_lock);
}

void lgi_stats_unregister(lg_engine_t *engine, lgi_stats_client_t *client) {
    if (!client->handle)
        return; /* never registered (a failed new) */
    pthread_mutex_lock(&engine->stats_lock);
    if (client->prev)
        client->prev->next = client->next;
    else
        engine->stats_clients = client->next;
    if (client->next)
        client->next->prev = client->prev;
    client->handle = NULL;
    pthread_mutex_unlock(&engine->stats_lock);
}

/* ------------------------------------------------------------------------
 * Snapshot
 * --------------------------------------------------------------------- */

typedef struct snap_histogram {
    uint64_t buckets[LGI_HISTOGRAM_BUCKETS]; /* cumulative */
    uint64_t sum_us, count;
} snap_histogram_t;

typedef struct snap_partition {
    char *topic;
    int32_t partition;
    lgi_partition_stats_t stats;
} snap_partition_t;

typedef struct snap_producer {
    uint64_t id;
    lgi_producer_stats_t stats;
} snap_producer_t;

typedef struct snap_assigned {
    char *topic;
    int32_t partition;
    int64_t position, high_watermark;
} snap_assigned_t;

typedef struct snap_consumer {
    uint64_t id;
    uint64_t records, bytes, polls;
    size_t first, count; /* its slice of snapshot.assigned */
} snap_consumer_t;

typedef struct snapshot {
    const char *backend;
    uint64_t cleaner[7]; /* lgi_cleaner_counters_t, in field order */
    int64_t time_s, monotonic_us, age_us;
    lgi_io_stats_t io;
    snap_histogram_t fsync_latency;
    size_t topic_count;
    snap_partition_t *partitions;
    size_t partition_count;
    snap_producer_t *producers;
    size_t producer_count;
    snap_consumer_t *consumers;
    size_t consumer_count;
    snap_assigned_t *assigned;
    size_t assigned_count, assigned_cap;
    int failed; /* out of memory while collecting */
} snapshot_t;

static void snapshot_free(snapshot_t *snap) {
    for (size_t i = 0; i < snap->partition_count; i++)
        lgi_free(snap->partitions[i].topic);
    for (size_t i = 0; i < snap->assigned_count; i++)
        lgi_free(snap->assigned[i].topic);
    lgi_free(snap->partitions);
    lgi_free(snap->producers);
    lgi_free(snap->consumers);
    lgi_free(snap->assigned);
}

static void histogram_snap(const lgi_histogram_t *histogram,
                           snap_histogram_t *snap) {
    uint64_t running = 0;
    for (int i = 0; i < LGI_HISTOGRAM_BUCKETS; i++) {
        running += atomic_load_explicit(&histogram->buckets[i],
                                        memory_order_relaxed);
        snap->buckets[i] = running;
    }
    snap->sum_us = atomic_load_explicit(&histogram->sum_us,
                                        memory_order_relaxed);
    /* count is the +Inf bucket, so _count always equals it even when a
     * record lands between the loads above. */
    snap->count = running;
}

/* lgi_consumer_stats callback: appends one assigned partition. */
static void collect_assigned(void *opaque,
                             const lgi_consumer_partition_stats_t *partition) {
    snapshot_t *snap = opaque;
    if (snap->assigned_count == snap->assigned_cap) {
        size_t cap = snap->assigned_cap * 2 + 8;
        snap_assigned_t *grown =
            lgi_realloc(snap->assigned, cap * sizeof *grown);
        if (!grown) {
            snap->failed = 1;
            return;
        }
        snap->assigned = grown;
        snap->assigned_cap = cap;
    }
    char *topic = lgi_strdup(partition->topic);
    if (!topic) {
        snap->failed = 1;
        return;
    }
    snap->assigned[snap->assigned_count++] = (snap_assigned_t){
        topic, partition->partition, partition->position,
        partition->high_watermark};
}

static void collect_partitions(lg_engine_t *engine, snapshot_t *snap) {
    pthread_rwlock_rdlock(&engine->topics_lock);
    size_t total = 0;
    for (size_t t = 0; t < engine->topic_count; t++)
        total += (size_t)engine->topics[t]->partition_count;
    snap->topic_count = engine->topic_count;
    snap->partitions = lgi_calloc(total ? total : 1, sizeof *snap->partitions);
    if (!snap->partitions) {
        snap->failed = 1;
        pthread_rwlock_unlock(&engine->topics_lock);
        return;
    }
    for (size_t t = 0; t < engine->topic_count; t++) {
        lgi_topic_t *topic = engine->topics[t];
        for (int32_t p = 0; p < topic->partition_count; p++) {
            snap_partition_t *out = &snap->partitions[snap->partition_count];
            out->topic = lgi_strdup(topic->name);
            if (!out->topic) {
                snap->failed = 1;
                break;
            }
            out->partition = p;
            lgi_partition_stats(topic->partitions[p], &out->stats);
            snap->partition_count++;
        }
    }
    pthread_rwlock_unlock(&engine->topics_lock);
}

static void collect_clients(lg_engine_t *engine, snapshot_t *snap) {
    pthread_mutex_lock(&engine->stats_lock);
    size_t producers = 0, consumers = 0;
    for (lgi_stats_client_t *c = engine->stats_clients; c; c = c->next)
        *(c->kind == LGI_STATS_PRODUCER ? &producers : &consumers) += 1;
    snap->producers = lgi_calloc(producers + 1, sizeof *snap->producers);
    snap->consumers = lgi_calloc(consumers + 1, sizeof *snap->consumers);
    if (!snap->producers || !snap->consumers) {
        snap->failed = 1;
        pthread_mutex_unlock(&engine->stats_lock);
        return;
    }
    /* The list is newest first; report in creation order. */
    lgi_stats_client_t *last = engine->stats_clients;
    while (last && last->next)
        last = last->next;
    for (lgi_stats_client_t *c = last; c; c = c->prev) {
        if (c->kind == LGI_STATS_PRODUCER) {
            snap_producer_t *out = &snap->producers[snap->producer_count++];
            out->id = c->id;
            lgi_producer_stats(c->handle, &out->stats);
        } else {
            snap_consumer_t *out = &snap->consumers[snap->consumer_count++];
            out->id = c->id;
            out->first = snap->assigned_count;
            lgi_consumer_stats(c->handle, &out->records, &out->bytes,
                               &out->polls, collect_assigned, snap);
            out->count = snap->assigned_count - out->first;
        }
    }
    pthread_mutex_unlock(&engine->stats_lock);
}

/* Fills snap; LG_ERR_NOMEM (message set) when memory ran out. */
static lg_err_t snapshot_take(lg_engine_t *engine, snapshot_t *snap) {
    memset(snap, 0, sizeof *snap);
    snap->backend = lgi_io_backend_name(engine->io);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snap->time_s = now.tv_sec;
    int64_t monotonic = lgi_monotonic_ns();
    snap->monotonic_us = monotonic / 1000;
    snap->age_us = (monotonic - engine->opened_ns) / 1000;
    lgi_io_get_stats(engine->io, &snap->io);
    const lgi_cleaner_counters_t *c = &engine->cleaner_counters;
    const _Atomic uint64_t *fields[7] = {
        &c->passes,     &c->segments_deleted, &c->segments_cleaned,
        &c->bytes_read, &c->bytes_written,    &c->records_read,
        &c->records_kept};
    for (int i = 0; i < 7; i++)
        snap->cleaner[i] = atomic_load_explicit(fields[i],
                                                memory_order_relaxed);
    histogram_snap(lgi_io_fsync_latency(engine->io), &snap->fsync_latency);
    collect_partitions(engine, snap);
    if (!snap->failed)
        collect_clients(engine, snap);
    if (snap->failed) {
        snapshot_free(snap);
        return lgi_error(LG_ERR_NOMEM, "statistics: out of memory");
    }
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Text output
 * --------------------------------------------------------------------- */

typedef struct text {
    lgi_buf_t buf;
    int failed;
} text_t;

static void put(text_t *text, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void put(text_t *text, const char *format, ...) {
    if (text->failed)
        return;
    va_list args;
    va_start(args, format);
    char small[256];
    int n = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (n < 0) {
        text->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        text->failed = lgi_buf_append(&text->buf, small, (size_t)n) != 0;
        return;
    }
    if (lgi_buf_reserve(&text->buf, (size_t)n + 1) != 0) {
        text->failed = 1;
        return;
    }
    va_start(args, format);
    vsnprintf((char *)text->buf.data + text->buf.len, (size_t)n + 1, format,
              args);
    va_end(args);
    text->buf.len += (size_t)n;
}

/* Writes s as the inside of a JSON string or Prometheus label value: both
 * escape backslash and double quote; control characters become \uXXXX in
 * JSON and are dropped from labels (topic names never contain them). */
static void put_escaped(text_t *text, const char *s, int json) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(text, "\\%c", c);
        else if (c < 0x20) {
            if (json)
                put(text, "\\u%04x", c);
        } else
            put(text, "%c", c);
    }
}

/* Hands the text out as a NUL-terminated string, or fails. */
static lg_err_t text_finish(text_t *text, char **outp) {
    if (!text->failed)
        text->failed = lgi_buf_append(&text->buf, "", 1) != 0;
    if (text->failed) {
        lgi_buf_free(&text->buf);
        return lgi_error(LG_ERR_NOMEM, "statistics: out of memory");
    }
    *outp = (char *)text->buf.data;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * JSON
 * --------------------------------------------------------------------- */

static void json_histogram(text_t *text, const snap_histogram_t *h) {
    put(text, "{\"count\":%" PRIu64 ",\"sum\":%" PRIu64 ",\"buckets\":{",
        h->count, h->sum_us);
    for (int i = 0; i < LGI_HISTOGRAM_BUCKETS; i++) {
        uint64_t bound = lgi_histogram_bound(i);
        if (bound == UINT64_MAX)
            put(text, "%s\"+Inf\":%" PRIu64, i ? "," : "", h->buckets[i]);
        else
            put(text, "%s\"%" PRIu64 "\":%" PRIu64, i ? "," : "", bound,
                h->buckets[i]);
    }
    put(text, "}}");
}

static void render_json(const snapshot_t *snap, text_t *text) {
    uint64_t records = 0, bytes = 0, batches = 0, segments = 0, disk = 0;
    for (size_t i = 0; i < snap->partition_count; i++) {
        const lgi_partition_stats_t *s = &snap->partitions[i].stats;
        records += s->records;
        bytes += s->bytes;
        batches += s->batches;
        segments += s->segment_count;
        disk += s->disk_bytes;
    }
    put(text,
        "{\"name\":\"liblog\",\"version\":\"%s\",\"type\":\"engine\","
        "\"ts\":%" PRId64 ",\"time\":%" PRId64 ",\"age\":%" PRId64
        ",\"io_backend\":\"%s\",",
        LIBLOG_VERSION_STRING, snap->monotonic_us, snap->time_s, snap->age_us,
        snap->backend);
    put(text,
        "\"io\":{\"submits\":%" PRIu64 ",\"writes\":%" PRIu64
        ",\"fsyncs\":%" PRIu64 ",\"sync_waiters\":%" PRIu64
        ",\"short_writes\":%" PRIu64 ",\"retries\":%" PRIu64
        ",\"fsync_latency_us\":",
        snap->io.submits, snap->io.writes, snap->io.fsyncs,
        snap->io.sync_waiters, snap->io.short_writes, snap->io.retries);
    json_histogram(text, &snap->fsync_latency);
    put(text,
        "},\"cleaner\":{\"passes\":%" PRIu64 ",\"segments_deleted\":%" PRIu64
        ",\"segments_cleaned\":%" PRIu64 ",\"bytes_read\":%" PRIu64
        ",\"bytes_written\":%" PRIu64 ",\"records_read\":%" PRIu64
        ",\"records_kept\":%" PRIu64,
        snap->cleaner[0], snap->cleaner[1], snap->cleaner[2], snap->cleaner[3],
        snap->cleaner[4], snap->cleaner[5], snap->cleaner[6]);
    put(text,
        "},\"totals\":{\"topics\":%zu,\"partitions\":%zu,\"records\":%" PRIu64
        ",\"bytes\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"segments\":%" PRIu64
        ",\"disk_bytes\":%" PRIu64 "},\"topics\":{",
        snap->topic_count, snap->partition_count, records, bytes, batches,
        segments, disk);
    for (size_t i = 0; i < snap->partition_count; i++) {
        const snap_partition_t *p = &snap->partitions[i];
        int first_of_topic =
            i == 0 || strcmp(snap->partitions[i - 1].topic, p->topic) != 0;
        if (first_of_topic) {
            put(text, "%s\"", i ? "}}," : "");
            put_escaped(text, p->topic, 1);
            put(text, "\":{\"partitions\":{");
        } else
            put(text, ",");
        const lgi_partition_stats_t *s = &p->stats;
        put(text,
            "\"%" PRId32 "\":{\"partition\":%" PRId32 ",\"records\":%" PRIu64
            ",\"bytes\":%" PRIu64 ",\"batches\":%" PRIu64
            ",\"log_start_offset\":%" PRId64 ",\"log_end_offset\":%" PRId64
            ",\"recovery_point\":%" PRId64 ",\"segments\":%" PRIu64
            ",\"disk_bytes\":%" PRIu64 ",\"cleaner_offset\":%" PRId64
            ",\"fenced\":%s}",
            p->partition, p->partition, s->records, s->bytes, s->batches,
            s->log_start, s->log_end, s->recovery_point, s->segment_count,
            s->disk_bytes, s->cleaner_offset, s->fenced ? "true" : "false");
    }
    put(text, "%s},\"producers\":{", snap->partition_count ? "}}" : "");
    for (size_t i = 0; i < snap->producer_count; i++) {
        const snap_producer_t *p = &snap->producers[i];
        put(text,
            "%s\"%" PRIu64 "\":{\"id\":%" PRIu64 ",\"records\":%" PRIu64
            ",\"bytes\":%" PRIu64 ",\"delivered\":%" PRIu64
            ",\"failed\":%" PRIu64 ",\"queue_length\":%" PRIu64
            ",\"memory_bytes\":%" PRIu64 "}",
            i ? "," : "", p->id, p->id, p->stats.records, p->stats.bytes,
            p->stats.delivered, p->stats.failed, p->stats.queue_length,
            p->stats.memory_used);
    }
    put(text, "},\"consumers\":{");
    for (size_t i = 0; i < snap->consumer_count; i++) {
        const snap_consumer_t *c = &snap->consumers[i];
        int64_t lag = 0;
        for (size_t j = c->first; j < c->first + c->count; j++) {
            const snap_assigned_t *a = &snap->assigned[j];
            if (a->high_watermark > a->position)
                lag += a->high_watermark - a->position;
        }
        put(text,
            "%s\"%" PRIu64 "\":{\"id\":%" PRIu64 ",\"records\":%" PRIu64
            ",\"bytes\":%" PRIu64 ",\"polls\":%" PRIu64 ",\"lag\":%" PRId64
            ",\"partitions\":[",
            i ? "," : "", c->id, c->id, c->records, c->bytes, c->polls, lag);
        for (size_t j = c->first; j < c->first + c->count; j++) {
            const snap_assigned_t *a = &snap->assigned[j];
            put(text, "%s{\"topic\":\"", j > c->first ? "," : "");
            put_escaped(text, a->topic, 1);
            put(text,
                "\",\"partition\":%" PRId32 ",\"position\":%" PRId64
                ",\"high_watermark\":%" PRId64 ",\"lag\":%" PRId64 "}",
                a->partition, a->position, a->high_watermark,
                a->high_watermark > a->position
                    ? a->high_watermark - a->position
                    : 0);
        }
        put(text, "]}");
    }
    put(text, "}}");
}

/* ------------------------------------------------------------------------
 * Prometheus text exposition format 0.0.4
 * --------------------------------------------------------------------- */

static void prom_header(text_t *text, const char *name, const char *type,
                        const char *help) {
    put(text, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family with one sample per partition: value picks the figure. */
static void prom_partition_family(text_t *text, const snapshot_t *snap,
                                  const char *name, const char *type,
                                  const char *help, int which) {
    prom_header(text, name, type, help);
    for (size_t i = 0; i < snap->partition_count; i++) {
        const snap_partition_t *p = &snap->partitions[i];
        const lgi_partition_stats_t *s = &p->stats;
        int64_t values[] = {(int64_t)s->records,   (int64_t)s->bytes,
                            (int64_t)s->batches,   s->log_start,
                            s->log_end,            s->recovery_point,
                            (int64_t)s->segment_count,
                            (int64_t)s->disk_bytes, s->fenced,
                            s->cleaner_offset};
        put(text, "%s{topic=\"", name);
        put_escaped(text, p->topic, 0);
        put(text, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n", p->partition,
            values[which]);
    }
}

static void prom_producer_family(text_t *text, const snapshot_t *snap,
                                 const char *name, const char *type,
                                 const char *help, int which) {
    prom_header(text, name, type, help);
    for (size_t i = 0; i < snap->producer_count; i++) {
        const lgi_producer_stats_t *s = &snap->producers[i].stats;
        uint64_t values[] = {s->records,   s->bytes,        s->delivered,
                             s->failed,    s->queue_length, s->memory_used};
        put(text, "%s{producer=\"%" PRIu64 "\"} %" PRIu64 "\n", name,
            snap->producers[i].id, values[which]);
    }
}

static void prom_consumer_family(text_t *text, const snapshot_t *snap,
                                 const char *name, const char *type,
                                 const char *help, int which) {
    prom_header(text, name, type, help);
    for (size_t i = 0; i < snap->consumer_count; i++) {
        const snap_consumer_t *c = &snap->consumers[i];
        uint64_t values[] = {c->records, c->bytes, c->polls};
        put(text, "%s{consumer=\"%" PRIu64 "\"} %" PRIu64 "\n", name, c->id,
            values[which]);
    }
}

static void prom_assigned_family(text_t *text, const snapshot_t *snap,
                                 const char *name, const char *help,
                                 int lag) {
    prom_header(text, name, "gauge", help);
    for (size_t i = 0; i < snap->consumer_count; i++) {
        const snap_consumer_t *c = &snap->consumers[i];
        for (size_t j = c->first; j < c->first + c->count; j++) {
            const snap_assigned_t *a = &snap->assigned[j];
            int64_t value = a->position;
            if (lag)
                value = a->high_watermark > a->position
                            ? a->high_watermark - a->position
                            : 0;
            put(text, "%s{consumer=\"%" PRIu64 "\",topic=\"", name, c->id);
            put_escaped(text, a->topic, 0);
            put(text, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n",
                a->partition, value);
        }
    }
}

static void render_prometheus(const snapshot_t *snap, text_t *text) {
    prom_header(text, "liblog_info", "gauge",
                "Library version and I/O backend in use (always 1).");
    put(text, "liblog_info{version=\"%s\",io_backend=\"%s\"} 1\n",
        LIBLOG_VERSION_STRING, snap->backend);
    prom_header(text, "liblog_uptime_seconds", "gauge",
                "Seconds since the engine was opened.");
    put(text, "liblog_uptime_seconds %.6f\n", (double)snap->age_us / 1e6);
    prom_header(text, "liblog_topics", "gauge", "Topics in the engine.");
    put(text, "liblog_topics %zu\n", snap->topic_count);

    struct {
        const char *name, *help;
        uint64_t value;
    } io[] = {
        {"liblog_io_submits_total", "I/O submission rounds.", snap->io.submits},
        {"liblog_io_writes_total", "Write requests completed.",
         snap->io.writes},
        {"liblog_io_fsyncs_total",
         "fdatasync calls issued (one per group commit).", snap->io.fsyncs},
        {"liblog_io_sync_waiters_total",
         "Durable writes served by those fdatasync calls.",
         snap->io.sync_waiters},
        {"liblog_io_short_writes_total", "Resubmissions after a short write.",
         snap->io.short_writes},
        {"liblog_io_retries_total", "Resubmissions after EAGAIN or EINTR.",
         snap->io.retries},
    };
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++) {
        prom_header(text, io[i].name, "counter", io[i].help);
        put(text, "%s %" PRIu64 "\n", io[i].name, io[i].value);
    }

    const snap_histogram_t *h = &snap->fsync_latency;
    prom_header(text, "liblog_fsync_latency_seconds", "histogram",
                "fdatasync latency, issue to completion.");
    for (int i = 0; i < LGI_HISTOGRAM_BUCKETS; i++) {
        uint64_t bound = lgi_histogram_bound(i);
        if (bound == UINT64_MAX)
            put(text, "liblog_fsync_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64
                      "\n",
                h->buckets[i]);
        else
            put(text, "liblog_fsync_latency_seconds_bucket{le=\"%g\"} %" PRIu64
                      "\n",
                (double)bound / 1e6, h->buckets[i]);
    }
    put(text, "liblog_fsync_latency_seconds_sum %.6f\n",
        (double)h->sum_us / 1e6);
    put(text, "liblog_fsync_latency_seconds_count %" PRIu64 "\n", h->count);

    prom_partition_family(text, snap, "liblog_partition_records_total",
                          "counter", "Records appended since open.", 0);
    prom_partition_family(text, snap, "liblog_partition_bytes_total",
                          "counter", "Batch bytes appended since open.", 1);
    prom_partition_family(text, snap, "liblog_partition_batches_total",
                          "counter", "Record batches appended since open.", 2);
    prom_partition_family(text, snap, "liblog_partition_log_start_offset",
                          "gauge", "First offset kept.", 3);
    prom_partition_family(text, snap, "liblog_partition_log_end_offset",
                          "gauge", "One past the last readable offset.", 4);
    prom_partition_family(text, snap, "liblog_partition_recovery_point",
                          "gauge", "Offset up to which the log is durable.",
                          5);
    prom_partition_family(text, snap, "liblog_partition_segments", "gauge",
                          "Segments of the partition.", 6);
    prom_partition_family(text, snap, "liblog_partition_disk_bytes", "gauge",
                          "Bytes of the partition's .log files.", 7);
    prom_partition_family(text, snap, "liblog_partition_fenced", "gauge",
                          "1 when an fdatasync failed and the partition is "
                          "read-only.",
                          8);
    prom_partition_family(text, snap, "liblog_partition_cleaner_offset",
                          "gauge",
                          "Compaction checkpoint: offsets below it are "
                          "cleaned.",
                          9);
    static const char *const cleaner_names[7][2] = {
        {"liblog_cleaner_passes_total", "Compaction passes that rewrote "
                                        "segments."},
        {"liblog_cleaner_segments_deleted_total",
         "Segments deleted by retention.ms / retention.bytes."},
        {"liblog_cleaner_segments_cleaned_total",
         "Segments rewritten by compaction."},
        {"liblog_cleaner_bytes_read_total", "Bytes compaction read."},
        {"liblog_cleaner_bytes_written_total", "Bytes compaction wrote."},
        {"liblog_cleaner_records_read_total", "Records compaction read."},
        {"liblog_cleaner_records_kept_total", "Records compaction kept."},
    };
    for (int i = 0; i < 7; i++) {
        prom_header(text, cleaner_names[i][0], "counter", cleaner_names[i][1]);
        put(text, "%s %" PRIu64 "\n", cleaner_names[i][0], snap->cleaner[i]);
    }

    prom_producer_family(text, snap, "liblog_producer_records_total",
                         "counter", "Records accepted by lg_produce.", 0);
    prom_producer_family(text, snap, "liblog_producer_bytes_total", "counter",
                         "Bytes accepted by lg_produce (as counted against "
                         "buffer.memory).",
                         1);
    prom_producer_family(text, snap, "liblog_producer_delivered_total",
                         "counter", "Records whose append succeeded.", 2);
    prom_producer_family(text, snap, "liblog_producer_failed_total",
                         "counter", "Records whose delivery failed.", 3);
    prom_producer_family(text, snap, "liblog_producer_queue_length", "gauge",
                         "Records produced and not yet reported.", 4);
    prom_producer_family(text, snap, "liblog_producer_memory_bytes", "gauge",
                         "buffer.memory in use.", 5);

    prom_consumer_family(text, snap, "liblog_consumer_records_total",
                         "counter", "Records returned by poll.", 0);
    prom_consumer_family(text, snap, "liblog_consumer_bytes_total", "counter",
                         "Key and value bytes returned by poll.", 1);
    prom_consumer_family(text, snap, "liblog_consumer_polls_total", "counter",
                         "Poll calls.", 2);
    prom_assigned_family(text, snap, "liblog_consumer_position",
                         "Offset of the next record poll returns.", 0);
    prom_assigned_family(text, snap, "liblog_consumer_lag",
                         "Log end offset minus position.", 1);
}

/* ------------------------------------------------------------------------
 * Public API
 * --------------------------------------------------------------------- */

typedef void (*render_fn)(const snapshot_t *snap, text_t *text);

static lg_err_t render(lg_engine_t *engine, char **outp, render_fn fn,
                       const char *function) {
    if (!engine || !outp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: engine and the output pointer must not be NULL",
                         function);
    *outp = NULL;
    snapshot_t snap;
    lg_err_t err = snapshot_take(engine, &snap);
    if (err != LG_OK)
        return err;
    text_t text = {LGI_BUF_INIT, 0};
    fn(&snap, &text);
    snapshot_free(&snap);
    return text_finish(&text, outp);
}

LG_API lg_err_t lg_engine_stats_json(lg_engine_t *engine, char **jsonp) {
    lgi_error_clear();
    return render(engine, jsonp, render_json, "lg_engine_stats_json");
}

LG_API lg_err_t lg_engine_stats_prometheus(lg_engine_t *engine,
                                           char **textp) {
    lgi_error_clear();
    return render(engine, textp, render_prometheus,
                  "lg_engine_stats_prometheus");
}

LG_API void lg_free_string(char *string) { lgi_free(string); }

LG_API int lg_engine_poll(lg_engine_t *engine, int timeout_ms) {
    lgi_error_clear();
    if (!engine) {
        lgi_error(LG_ERR_INVALID_ARG, "lg_engine_poll: engine must not be "
                                      "NULL");
        return -1;
    }
    int64_t interval_ns =
        lgi_conf_int(&engine->conf, LGI_CONF_STATISTICS_INTERVAL_MS) *
        1000000;
    if (interval_ns <= 0 || !engine->conf.stats_callback)
        return 0;
    pthread_mutex_lock(&engine->poll_lock);
    int64_t now = lgi_monotonic_ns();
    int64_t wait = engine->stats_due_ns - now;
    if (wait > 0 && timeout_ms != 0) {
        if (timeout_ms > 0 && wait > (int64_t)timeout_ms * 1000000)
            wait = (int64_t)timeout_ms * 1000000;
        struct timespec nap = {wait / 1000000000, wait % 1000000000};
        while (nanosleep(&nap, &nap) != 0)
            ;
        now = lgi_monotonic_ns();
    }
    if (now < engine->stats_due_ns) {
        pthread_mutex_unlock(&engine->poll_lock);
        return 0;
    }
    engine->stats_due_ns = now + interval_ns;
    pthread_mutex_unlock(&engine->poll_lock);
    char *json;
    if (lg_engine_stats_json(engine, &json) != LG_OK)
        return 0;
    engine->conf.stats_callback(engine->conf.stats_opaque, json, strlen(json));
    lg_free_string(json);
    return 1;
}
