/*
 * stats.h -- counters, latency histograms, the library's own log, and the
 * JSON / Prometheus renderings of an engine's statistics.
 *
 * Hot-path cost: recording is a handful of relaxed atomic adds on memory
 * owned by the object being measured (a partition, a producer, a consumer,
 * the I/O engine); nothing is locked and nothing is allocated.  Only the
 * renderers (lg_engine_stats_json, lg_engine_stats_prometheus, the
 * statistics.interval.ms callback) walk the engine and take locks.
 *
 * Histograms have fixed power-of-two buckets in microseconds: bucket i
 * counts values <= 2^i us (i = 0 .. LGI_HISTOGRAM_BUCKETS - 2, 1 us to
 * ~4.2 s) and the last bucket counts the rest (+Inf).  Counts are kept per
 * bucket and made cumulative when rendered, as Prometheus wants.
 */
#ifndef LG_STATS_H
#define LG_STATS_H

#include "liblog.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

#define LGI_HISTOGRAM_BUCKETS 24

typedef struct lgi_histogram {
    _Atomic uint64_t buckets[LGI_HISTOGRAM_BUCKETS];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
} lgi_histogram_t;

/* Records one value (microseconds).  Any thread; relaxed atomics. */
void lgi_histogram_record(lgi_histogram_t *histogram, uint64_t value_us);

/* The upper bound of bucket i in microseconds (UINT64_MAX for +Inf). */
uint64_t lgi_histogram_bound(int bucket);

/* Monotonic clock in nanoseconds, for latency measurements. */
int64_t lgi_monotonic_ns(void);

/* Adds n to counter with a relaxed atomic add. */
static inline void lgi_count(_Atomic uint64_t *counter, uint64_t n) {
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * The library's own log
 * --------------------------------------------------------------------- */

/* Where an engine's diagnostics go: the conf's log callback and level.
 * Copied into the engine at open; read-only afterwards, so any thread may
 * read it without a lock. */
typedef struct lgi_logger {
    lg_log_fn callback; /* NULL: silent */
    void *opaque;
    int level;          /* messages above this level are dropped */
} lgi_logger_t;

/* Formats and delivers a message at level through logger (NULL logger or
 * callback: nothing).  Called on whatever thread notices the event. */
void lgi_log(const lgi_logger_t *logger, int level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------
 * Per-object snapshots the renderers collect
 * --------------------------------------------------------------------- */

/* A partition's counters and gauges (lgi_partition_stats). */
typedef struct lgi_partition_stats {
    uint64_t records, bytes, batches; /* appended since open */
    int64_t log_start, log_end, recovery_point;
    uint64_t segment_count;
    uint64_t disk_bytes; /* .log bytes of every segment */
    int64_t cleaner_offset; /* compaction checkpoint: first dirty offset */
    int fenced;
} lgi_partition_stats_t;

/* Counters a partition keeps (embedded in it). */
typedef struct lgi_partition_counters {
    _Atomic uint64_t records, bytes, batches;
} lgi_partition_counters_t;

/* What a producer reports (lgi_producer_stats). */
typedef struct lgi_producer_stats {
    uint64_t records, bytes; /* accepted by lg_produce */
    uint64_t delivered, failed;
    uint64_t queue_length;
    uint64_t memory_used;
    /* Batches the producing thread handed off itself (producer.c, DIRECT
     * HAND-OFF); not rendered, for tests and benchmarks. */
    uint64_t direct_batches;
} lgi_producer_stats_t;

/* Cleaner progress, engine-wide (engine.c counts, after each pass). */
typedef struct lgi_cleaner_counters {
    _Atomic uint64_t passes;           /* compaction passes that rewrote */
    _Atomic uint64_t segments_deleted; /* by retention.ms / retention.bytes */
    _Atomic uint64_t segments_cleaned; /* segments rewritten by compaction */
    _Atomic uint64_t bytes_read, bytes_written;
    _Atomic uint64_t records_read, records_kept;
} lgi_cleaner_counters_t;

/* Counters of a consumer. */
typedef struct lgi_consumer_counters {
    _Atomic uint64_t records, bytes; /* handed out by poll */
    _Atomic uint64_t polls;
} lgi_consumer_counters_t;

/* One assigned partition of a consumer, as reported. */
typedef struct lgi_consumer_partition_stats {
    const char *topic;
    int32_t partition;
    int64_t position, high_watermark;
} lgi_consumer_partition_stats_t;

/* A text sink the consumer writes its assignment into (stats.c). */
typedef void (*lgi_consumer_partition_fn)(
    void *opaque, const lgi_consumer_partition_stats_t *partition);

/* ------------------------------------------------------------------------
 * Clients known to the engine's statistics
 * --------------------------------------------------------------------- */

enum lgi_stats_kind { LGI_STATS_PRODUCER = 1, LGI_STATS_CONSUMER = 2 };

typedef struct lgi_stats_client {
    int kind;
    uint64_t id; /* engine-unique, in creation order */
    void *handle;
    struct lgi_stats_client *prev, *next;
} lgi_stats_client_t;

/* Registers / unregisters a producer or consumer with engine's statistics
 * (lg_producer_new / _destroy, lg_consumer_new / _destroy).  After
 * unregister returns, no renderer is looking at the client. */
void lgi_stats_register(lg_engine_t *engine, lgi_stats_client_t *client,
                        int kind, void *handle);
void lgi_stats_unregister(lg_engine_t *engine, lgi_stats_client_t *client);

/* Implemented by producer.c / consumer.c for the renderers. */
void lgi_producer_stats(lg_producer_t *producer, lgi_producer_stats_t *stats);
void lgi_consumer_stats(lg_consumer_t *consumer, uint64_t *records,
                        uint64_t *bytes, uint64_t *polls,
                        lgi_consumer_partition_fn each, void *opaque);

#endif
