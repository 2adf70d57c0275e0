/*
 * conf.c -- the configuration property table and lg_conf_*.
 *
 * One table (properties[]) drives parsing, range checks, lg_conf_get, the
 * topic metadata serialisation and man/man7/liblog-conf.7 (test_conf checks
 * the page lists every property).  Names and defaults are Kafka's where
 * Kafka has the concept; liblog-only properties are marked so in their
 * description.  Adding a property is one table row plus its enum id.
 *
 * A conf is a flat array of int64 values (enum-valued properties store the
 * index of their value) plus a bitmask of what was set explicitly, so
 * copying is a memcpy and reading on hot paths is an array load.
 */
#include "conf.h"

#include "alloc.h"
#include "err.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TYPE_FRACTION: a decimal in [min, max] millionths, written "0.5". */
enum property_type { TYPE_INT, TYPE_ENUM, TYPE_STRING, TYPE_FRACTION };

typedef struct property {
    const char *name;
    int scope;
    int type;
    int64_t min, max, def;
    const char *const *choices; /* TYPE_ENUM, NULL-terminated */
    const char *doc;
} property_t;

static const char *const io_backends[] = {"auto", "io_uring", "syscall",
                                          NULL};
/* "none" is librdkafka's spelling, "uncompressed" Kafka's topic spelling. */
static const char *const compression_types[] = {"producer", "none", "zstd",
                                                NULL};
static const char *const timestamp_types[] = {"CreateTime", "LogAppendTime",
                                              NULL};
static const char *const acks_values[] = {"all", "0", "1", "-1", NULL};
static const char *const partitioners[] = {"default", "murmur2", "random",
                                           "roundrobin", NULL};
static const char *const offset_resets[] = {"earliest", "latest", "none",
                                            NULL};
static const char *const booleans[] = {"false", "true", NULL};
static const char *const isolation_levels[] = {"read_uncommitted",
                                               "read_committed", NULL};
static const char *const assignors[] = {"range", "roundrobin",
                                        "cooperative-sticky", NULL};
/* Kafka's list value; "delete,compact" is accepted as the same choice. */
static const char *const cleanup_policies[] = {"delete", "compact",
                                               "compact,delete", NULL};

/* Order must match enum lgi_conf_id. */
static const property_t properties[LGI_CONF__COUNT] = {
    [LGI_CONF_IO_BACKEND] = {"io.backend", LGI_SCOPE_ENGINE, TYPE_ENUM, 0, 2,
                             0, io_backends,
                             "I/O backend (liblog): auto tries io_uring and "
                             "falls back to syscalls; the environment "
                             "variable LIBLOG_IO_BACKEND overrides it"},
    [LGI_CONF_IO_QUEUE_DEPTH] = {"io.queue.depth", LGI_SCOPE_ENGINE, TYPE_INT,
                                 8, 4096, 256, NULL,
                                 "io_uring submission queue entries "
                                 "(liblog); the completion queue is twice "
                                 "that"},
    [LGI_CONF_IO_SPIN_US] = {"io.spin.us", LGI_SCOPE_ENGINE, TYPE_INT, 0,
                             100000, 0, NULL,
                             "microseconds the I/O thread keeps watching for "
                             "new work before it sleeps (liblog): a hand-off "
                             "within that time costs no thread wake-up (5-30 "
                             "us), at the price of that much CPU per idle "
                             "moment; 0 sleeps at once"},
    [LGI_CONF_CHECKPOINT_INTERVAL_MS] =
        {"log.flush.offset.checkpoint.interval.ms", LGI_SCOPE_ENGINE,
         TYPE_INT, 100, INT32_MAX, 60000, NULL,
         "how often the recovery points are checkpointed; a crash rescans "
         "at most what was written since"},
    [LGI_CONF_STATISTICS_INTERVAL_MS] =
        {"statistics.interval.ms", LGI_SCOPE_ENGINE, TYPE_INT, 0, 86400000, 0,
         NULL,
         "how often lg_engine_poll serves the stats callback a JSON report "
         "(0 = off), as librdkafka's statistics.interval.ms"},
    [LGI_CONF_LOG_LEVEL] =
        {"log_level", LGI_SCOPE_ENGINE, TYPE_INT, 0, 7, 6, NULL,
         "most verbose level given to the log callback: 3 error, 4 warning, "
         "5 notice, 6 info, 7 debug (syslog levels, as librdkafka)"},
    [LGI_CONF_SEGMENT_BYTES] = {"segment.bytes", LGI_SCOPE_TOPIC, TYPE_INT,
                                14, INT32_MAX, 1073741824, NULL,
                                "size at which a segment is rolled"},
    [LGI_CONF_SEGMENT_MS] = {"segment.ms", LGI_SCOPE_TOPIC, TYPE_INT, 1,
                             INT64_MAX, 604800000, NULL,
                             "age of the active segment's first batch after "
                             "which it is rolled"},
    [LGI_CONF_SEGMENT_INDEX_BYTES] = {"segment.index.bytes", LGI_SCOPE_TOPIC,
                                      TYPE_INT, 4, INT32_MAX, 10485760, NULL,
                                      "maximum size of a segment's offset "
                                      "index; a full index rolls the "
                                      "segment"},
    [LGI_CONF_INDEX_INTERVAL_BYTES] = {"index.interval.bytes",
                                       LGI_SCOPE_TOPIC, TYPE_INT, 0,
                                       INT32_MAX, 4096, NULL,
                                       "bytes of log between offset index "
                                       "entries"},
    [LGI_CONF_SEGMENT_PREALLOCATE_BYTES] =
        {"segment.preallocate.bytes", LGI_SCOPE_TOPIC, TYPE_INT, 0,
         INT32_MAX, 8388608, NULL,
         "reserve disk this far ahead of the active segment's end with "
         "fallocate(KEEP_SIZE), and keep up to 64 KiB of it written with "
         "zeros so appends land in existing page-cache pages; a live "
         "active segment's file ends in those zeros, cut at roll and "
         "close (liblog; 0 disables both)"},
    [LGI_CONF_MAX_MESSAGE_BYTES] = {"max.message.bytes", LGI_SCOPE_TOPIC,
                                    TYPE_INT, 0, INT32_MAX, 1048588, NULL,
                                    "largest record batch accepted, after "
                                    "compression"},
    [LGI_CONF_COMPRESSION_TYPE] = {"compression.type",
                                   LGI_SCOPE_TOPIC | LGI_SCOPE_PRODUCER,
                                   TYPE_ENUM, 0, 2, 0, compression_types,
                                   "codec of batches: on a topic, producer "
                                   "keeps the writer's choice (lg_append "
                                   "writes uncompressed) and none/zstd "
                                   "override it; on a producer, producer "
                                   "means none"},
    [LGI_CONF_COMPRESSION_ZSTD_LEVEL] = {"compression.zstd.level",
                                         LGI_SCOPE_TOPIC, TYPE_INT, -131072,
                                         22, 3, NULL,
                                         "zstd level when compression.type "
                                         "is zstd"},
    [LGI_CONF_MESSAGE_TIMESTAMP_TYPE] = {"message.timestamp.type",
                                         LGI_SCOPE_TOPIC, TYPE_ENUM, 0, 1, 0,
                                         timestamp_types,
                                         "CreateTime keeps the writer's "
                                         "timestamps, LogAppendTime stamps "
                                         "the append time"},
    [LGI_CONF_ACKS] = {"acks", LGI_SCOPE_PRODUCER, TYPE_ENUM, 0, 3, 0,
                       acks_values,
                       "durability before a delivery report: 0 handed to "
                       "the I/O thread, 1 written to the log, all (-1) "
                       "fdatasync'd"},
    [LGI_CONF_LINGER_MS] = {"linger.ms", LGI_SCOPE_PRODUCER, TYPE_INT, 0,
                            900000, 5, NULL,
                            "how long a partition's batch waits for more "
                            "records before it is appended"},
    [LGI_CONF_BATCH_SIZE] = {"batch.size", LGI_SCOPE_PRODUCER, TYPE_INT, 1,
                             INT32_MAX, 16384, NULL,
                             "bytes of records at which a batch is appended "
                             "without waiting for linger.ms"},
    [LGI_CONF_PARTITIONER] = {"partitioner", LGI_SCOPE_PRODUCER, TYPE_ENUM, 0,
                              3, 0, partitioners,
                              "partition for LG_PARTITION_ANY: default is "
                              "XXH3 of the key (sticky for null keys), "
                              "murmur2 matches Kafka's Java client, random, "
                              "roundrobin"},
    [LGI_CONF_BUFFER_MEMORY] = {"buffer.memory", LGI_SCOPE_PRODUCER, TYPE_INT,
                                1024, INT64_MAX, 33554432, NULL,
                                "bytes of records a producer may hold before "
                                "lg_produce reports LG_ERR_QUEUE_FULL"},
    [LGI_CONF_MAX_BLOCK_MS] = {"max.block.ms", LGI_SCOPE_PRODUCER, TYPE_INT,
                               0, INT32_MAX, 0, NULL,
                               "how long lg_produce waits for buffer space "
                               "before LG_ERR_QUEUE_FULL; 0 (librdkafka's "
                               "behaviour, not Kafka's 60000) never waits"},
    [LGI_CONF_DELIVERY_TIMEOUT_MS] = {"delivery.timeout.ms",
                                      LGI_SCOPE_PRODUCER, TYPE_INT, 1,
                                      INT32_MAX, 120000, NULL,
                                      "a record not appended within this "
                                      "time of lg_produce (retrying "
                                      "LG_ERR_DISK_FULL, LG_ERR_NOT_LEADER "
                                      "and, idempotent, LG_ERR_TIMED_OUT) "
                                      "fails with LG_ERR_TIMED_OUT"},
    [LGI_CONF_RETRY_BACKOFF_MS] = {"retry.backoff.ms", LGI_SCOPE_PRODUCER,
                                   TYPE_INT, 0, INT32_MAX, 100, NULL,
                                   "wait before retrying an append that "
                                   "failed with a retriable error"},
    [LGI_CONF_ENABLE_IDEMPOTENCE] =
        {"enable.idempotence", LGI_SCOPE_PRODUCER, TYPE_ENUM, 0, 1, 1,
         booleans,
         "stamp batches with a producer id, epoch and sequence numbers so "
         "the log drops retried duplicates and refuses gaps; needs "
         "acks=all (when acks is set to 0 or 1 and this is not set, "
         "idempotence is off, as in Kafka 3)"},
    [LGI_CONF_TRANSACTIONAL_ID] =
        {"transactional.id", LGI_SCOPE_PRODUCER, TYPE_STRING, 0, 255, 0, NULL,
         "makes the producer transactional (lg_producer_init_transactions): "
         "a stable name that survives restarts, so a new producer with the "
         "same id fences the old one and finishes its open transaction; "
         "needs idempotence (at most 255 bytes; empty: not transactional)"},
    [LGI_CONF_TRANSACTION_TIMEOUT_MS] =
        {"transaction.timeout.ms", LGI_SCOPE_PRODUCER, TYPE_INT, 1, 900000,
         60000, NULL,
         "a transaction open longer than this is aborted by the engine "
         "(the producer is then fenced); at most 900000, Kafka's "
         "transaction.max.timeout.ms"},
    [LGI_CONF_ENABLE_PARTITION_EOF] = {"enable.partition.eof",
                                       LGI_SCOPE_CONSUMER, TYPE_ENUM, 0, 1,
                                       0, booleans,
                                       "emit an LG_ERR_PARTITION_EOF event "
                                       "when a partition's end is reached "
                                       "(librdkafka)"},
    [LGI_CONF_POLL_SPIN_US] = {"poll.spin.us", LGI_SCOPE_CONSUMER, TYPE_INT,
                               0, 100000, 0, NULL,
                               "microseconds a blocking poll that found "
                               "nothing keeps looking for new records "
                               "before it sleeps (liblog): the first 5 us "
                               "spinning, then yielding the CPU between "
                               "looks (spinning throughout on a thread "
                               "pinned to one CPU); records published "
                               "meanwhile are "
                               "returned without a wake-up, at the price "
                               "of that much CPU.  Only for a consumer "
                               "with a core of its own: a consumer that "
                               "spun on a shared core is woken later; 0 "
                               "sleeps at once"},
    [LGI_CONF_FETCH_MAX_BYTES] = {"fetch.max.bytes", LGI_SCOPE_CONSUMER,
                                  TYPE_INT, 0, INT32_MAX, 52428800, NULL,
                                  "bytes one poll reads across partitions"},
    [LGI_CONF_MAX_PARTITION_FETCH_BYTES] =
        {"max.partition.fetch.bytes", LGI_SCOPE_CONSUMER, TYPE_INT, 0,
         INT32_MAX, 1048576, NULL,
         "bytes read from one partition at a time (at least one batch)"},
    [LGI_CONF_AUTO_OFFSET_RESET] = {"auto.offset.reset", LGI_SCOPE_CONSUMER,
                                    TYPE_ENUM, 0, 2, 1, offset_resets,
                                    "where a position outside the log moves: "
                                    "earliest, latest, or none (the poll "
                                    "fails with LG_ERR_OFFSET_OUT_OF_RANGE); "
                                    "also where a group member starts on a "
                                    "partition with no committed offset"},
    /* librdkafka's default, not the Java client's read_uncommitted: a C
     * application asking for transactions expects to see only committed
     * ones. */
    [LGI_CONF_ISOLATION_LEVEL] = {"isolation.level", LGI_SCOPE_CONSUMER,
                                  TYPE_ENUM, 0, 1, 1, isolation_levels,
                                  "read_committed (the default, as "
                                  "librdkafka): poll returns only records "
                                  "below the last stable offset, and never "
                                  "those of aborted transactions; "
                                  "read_uncommitted: every record up to the "
                                  "end, aborted ones included (the Java "
                                  "client's default).  Transaction markers "
                                  "are never returned"},
    [LGI_CONF_GROUP_ID] = {"group.id", LGI_SCOPE_CONSUMER, TYPE_STRING, 0,
                           255, 0, NULL,
                           "consumer group this consumer joins with "
                           "lg_consumer_subscribe and commits offsets for "
                           "(at most 255 bytes; empty: no group)"},
    [LGI_CONF_GROUP_INSTANCE_ID] = {"group.instance.id", LGI_SCOPE_CONSUMER,
                                    TYPE_STRING, 0, 255, 0, NULL,
                                    "static membership: a member that comes "
                                    "back with the same id within "
                                    "session.timeout.ms keeps its partitions "
                                    "without a rebalance"},
    [LGI_CONF_PARTITION_ASSIGNMENT_STRATEGY] =
        {"partition.assignment.strategy", LGI_SCOPE_CONSUMER, TYPE_ENUM, 0,
         2, 0, assignors,
         "assignor of the group, one name (Kafka takes a list; its default "
         "list range,cooperative-sticky selects range, which is ours); "
         "every member must name the same one; cooperative-sticky rebalances "
         "incrementally"},
    [LGI_CONF_SESSION_TIMEOUT_MS] = {"session.timeout.ms", LGI_SCOPE_CONSUMER,
                                     TYPE_INT, 1, 3600000, 45000, NULL,
                                     "a member none of whose consumer calls "
                                     "(each is a heartbeat) came for this "
                                     "long is evicted; a departed static "
                                     "member's slot is kept this long"},
    [LGI_CONF_HEARTBEAT_INTERVAL_MS] = {"heartbeat.interval.ms",
                                        LGI_SCOPE_CONSUMER, TYPE_INT, 1,
                                        3600000, 3000, NULL,
                                        "accepted for compatibility: the "
                                        "coordinator is in-process and every "
                                        "consumer call is a heartbeat"},
    [LGI_CONF_MAX_POLL_INTERVAL_MS] = {"max.poll.interval.ms",
                                       LGI_SCOPE_CONSUMER, TYPE_INT, 1,
                                       INT32_MAX, 300000, NULL,
                                       "a member that does not poll for this "
                                       "long is evicted and its partitions "
                                       "reassigned; also how long a "
                                       "rebalance waits for it"},
    [LGI_CONF_ENABLE_AUTO_COMMIT] = {"enable.auto.commit", LGI_SCOPE_CONSUMER,
                                     TYPE_ENUM, 0, 1, 1, booleans,
                                     "commit positions from poll every "
                                     "auto.commit.interval.ms, before "
                                     "partitions are revoked, and at "
                                     "destroy"},
    [LGI_CONF_AUTO_COMMIT_INTERVAL_MS] = {"auto.commit.interval.ms",
                                          LGI_SCOPE_CONSUMER, TYPE_INT, 0,
                                          INT32_MAX, 5000, NULL,
                                          "interval of automatic commits"},
    [LGI_CONF_OFFSETS_TOPIC_NUM_PARTITIONS] =
        {"offsets.topic.num.partitions", LGI_SCOPE_ENGINE, TYPE_INT, 1, 1000,
         8, NULL,
         "partitions of __consumer_offsets when the engine creates it "
         "(Kafka: 50; fewer here because the coordinator reads them all at "
         "open and each costs open files)"},
    [LGI_CONF_RETENTION_MS] = {"retention.ms", LGI_SCOPE_TOPIC, TYPE_INT, -1,
                               INT64_MAX, 604800000, NULL,
                               "a sealed segment whose newest record is "
                               "older than this is deleted (delete "
                               "policy); -1 keeps data forever"},
    [LGI_CONF_RETENTION_BYTES] = {"retention.bytes", LGI_SCOPE_TOPIC,
                                  TYPE_INT, -1, INT64_MAX, -1, NULL,
                                  "oldest sealed segments are deleted while "
                                  "the partition is larger than this "
                                  "(delete policy); -1 means no limit"},
    [LGI_CONF_CLEANUP_POLICY] = {"cleanup.policy", LGI_SCOPE_TOPIC,
                                 TYPE_ENUM, 0, 2, 0, cleanup_policies,
                                 "delete applies retention.ms/bytes, "
                                 "compact keeps the latest record per key, "
                                 "compact,delete does both"},
    [LGI_CONF_MIN_CLEANABLE_DIRTY_RATIO] =
        {"min.cleanable.dirty.ratio", LGI_SCOPE_TOPIC, TYPE_FRACTION, 0,
         LGI_CONF_FRACTION_ONE, LGI_CONF_FRACTION_ONE / 2, NULL,
         "a partition is compacted once its uncleaned bytes reach this "
         "fraction of its cleanable bytes"},
    [LGI_CONF_MIN_COMPACTION_LAG_MS] = {"min.compaction.lag.ms",
                                        LGI_SCOPE_TOPIC, TYPE_INT, 0,
                                        INT64_MAX, 0, NULL,
                                        "records stay uncompacted while "
                                        "their segment has a record younger "
                                        "than this"},
    [LGI_CONF_MAX_COMPACTION_LAG_MS] = {"max.compaction.lag.ms",
                                        LGI_SCOPE_TOPIC, TYPE_INT, 1,
                                        INT64_MAX, INT64_MAX, NULL,
                                        "a partition with an uncleaned "
                                        "segment older than this is "
                                        "compacted whatever its dirty "
                                        "ratio; must be >= "
                                        "min.compaction.lag.ms"},
    [LGI_CONF_DELETE_RETENTION_MS] = {"delete.retention.ms", LGI_SCOPE_TOPIC,
                                      TYPE_INT, 0, INT64_MAX, 86400000, NULL,
                                      "how long a tombstone (null value) "
                                      "survives compaction, counted from "
                                      "the first compaction that saw it"},
    [LGI_CONF_CLEANER_DEDUPE_BUFFER_SIZE] =
        {"log.cleaner.dedupe.buffer.size", LGI_SCOPE_ENGINE, TYPE_INT, 4096,
         INT64_MAX, 134217728, NULL,
         "memory for the compaction key map (24 bytes a key); a pass "
         "covers as much of the log as fits and the next pass continues"},
    [LGI_CONF_RETENTION_CHECK_INTERVAL_MS] =
        {"log.retention.check.interval.ms", LGI_SCOPE_ENGINE, TYPE_INT, 1,
         INT32_MAX, 300000, NULL,
         "how often the cleaner thread applies retention"},
    [LGI_CONF_CLEANER_BACKOFF_MS] = {"log.cleaner.backoff.ms",
                                     LGI_SCOPE_ENGINE, TYPE_INT, 0,
                                     INT32_MAX, 15000, NULL,
                                     "sleep of the cleaner thread between "
                                     "compaction checks"},
    [LGI_CONF_NODE_ID] = {"node.id", LGI_SCOPE_ENGINE, TYPE_INT, -1,
                          INT32_MAX, -1, NULL,
                          "this engine's node id among replicas (see "
                          "lg_engine_set_transport(3)); -1: not replicated"},
    [LGI_CONF_REPLICATION_FACTOR] =
        {"replication.factor", LGI_SCOPE_ENGINE, TYPE_INT, 1, 32, 1, NULL,
         "number of replicas lg_topic_set_replicas(3) takes per partition"},
    [LGI_CONF_REPLICATION_ELECTION_TIMEOUT_MS] =
        {"replication.election.timeout.ms", LGI_SCOPE_ENGINE, TYPE_INT, 10,
         INT32_MAX, 1000, NULL,
         "liblog: a follower that hears no leader for this long (randomized "
         "up to twice it) starts an election; host time (lg_engine_tick)"},
    [LGI_CONF_REPLICATION_FETCH_INTERVAL_MS] =
        {"replication.fetch.interval.ms", LGI_SCOPE_ENGINE, TYPE_INT, 1,
         INT32_MAX, 50, NULL,
         "liblog: follower fetch and leader heartbeat cadence, in host "
         "time"},
    [LGI_CONF_REPLICATION_ACK_TIMEOUT_MS] =
        {"replication.ack.timeout.ms", LGI_SCOPE_ENGINE, TYPE_INT, 1,
         INT32_MAX, 30000, NULL,
         "liblog: an acks=all append to a replicated partition not committed "
         "within this much host time fails with LG_ERR_TIMED_OUT (outcome "
         "unknown)"},
    [LGI_CONF_REPLICATION_RANDOM_SEED] =
        {"replication.random.seed", LGI_SCOPE_ENGINE, TYPE_INT, -1,
         INT64_MAX, -1, NULL,
         "liblog: seed of the replication core's randomness (election "
         "timeouts), so a test can replay or vary an election schedule; "
         "-1 derives it from node.id"},
};

/* ------------------------------------------------------------------------
 * Interned strings: values of TYPE_STRING properties.  Index 0 is "".
 * Entries are never freed (a handful of distinct group ids per process),
 * so a conf copied by assignment never dangles.
 * --------------------------------------------------------------------- */

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static char **interned;
static size_t interned_count, interned_capacity;

/* The index of text in the table, adding it; -1 on allocation failure. */
static int64_t intern(const char *text) {
    if (!*text)
        return 0;
    int64_t index = -1;
    pthread_mutex_lock(&intern_lock);
    for (size_t i = 0; i < interned_count && index < 0; i++)
        if (strcmp(interned[i], text) == 0)
            index = (int64_t)i + 1;
    if (index < 0) {
        if (interned_count == interned_capacity) {
            size_t capacity = interned_capacity * 2 + 8;
            char **grown = realloc(interned, capacity * sizeof *grown);
            if (grown) {
                interned = grown;
                interned_capacity = capacity;
            }
        }
        char *copy = interned_count < interned_capacity ? strdup(text) : NULL;
        if (copy) {
            interned[interned_count++] = copy;
            index = (int64_t)interned_count;
        }
    }
    pthread_mutex_unlock(&intern_lock);
    return index;
}

static const char *interned_text(int64_t index) {
    if (index <= 0)
        return "";
    pthread_mutex_lock(&intern_lock);
    const char *text = interned[index - 1];
    pthread_mutex_unlock(&intern_lock);
    return text;
}

const char *lgi_conf_str(const lg_conf_t *conf, enum lgi_conf_id id) {
    return interned_text(conf->values[id]);
}

const char *lgi_conf_name(int id) { return properties[id].name; }
int lgi_conf_scope(int id) { return properties[id].scope; }

const char *lgi_conf_scope_name(int id) {
    switch (properties[id].scope) {
    case LGI_SCOPE_ENGINE:
        return "engine";
    case LGI_SCOPE_TOPIC:
        return "topic";
    case LGI_SCOPE_PRODUCER:
        return "producer";
    case LGI_SCOPE_CONSUMER:
        return "consumer";
    case LGI_SCOPE_TOPIC | LGI_SCOPE_PRODUCER:
        return "topic, producer";
    default:
        return "mixed";
    }
}
const char *lgi_conf_doc(int id) { return properties[id].doc; }

static int find_property(const char *name) {
    for (int i = 0; i < LGI_CONF__COUNT; i++)
        if (strcmp(properties[i].name, name) == 0)
            return i;
    return -1;
}

/* "0.5" for 500000 millionths: shortest decimal, no trailing zeros. */
static void render_fraction(int64_t value, char *buf, size_t size) {
    int64_t whole = value / LGI_CONF_FRACTION_ONE;
    int64_t part = value % LGI_CONF_FRACTION_ONE;
    if (part == 0) {
        snprintf(buf, size, "%" PRId64, whole);
        return;
    }
    char digits[8];
    snprintf(digits, sizeof digits, "%06" PRId64, part);
    for (int i = 5; i > 0 && digits[i] == '0'; i--)
        digits[i] = '\0';
    snprintf(buf, size, "%" PRId64 ".%s", whole, digits);
}

/* Parses "0", "1", "0.5", ".25", "1.0" into millionths; at most six
 * fraction digits.  -1 on junk. */
static int parse_fraction(const char *text, int64_t *out) {
    int64_t whole = 0, part = 0;
    int digits = 0, fraction_digits = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > 1000)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, fraction_digits++) {
            if (fraction_digits == 6)
                return -1;
            part = part * 10 + (*p - '0');
        }
    }
    if (*p != '\0' || digits + fraction_digits == 0)
        return -1;
    for (int i = fraction_digits; i < 6; i++)
        part *= 10;
    *out = whole * LGI_CONF_FRACTION_ONE + part;
    return 0;
}

static void render_value(const property_t *p, int64_t value, char *buf,
                         size_t size) {
    if (p->type == TYPE_ENUM)
        snprintf(buf, size, "%s", p->choices[value]);
    else if (p->type == TYPE_STRING)
        snprintf(buf, size, "%s", interned_text(value));
    else if (p->type == TYPE_FRACTION)
        render_fraction(value, buf, size);
    else
        snprintf(buf, size, "%" PRId64, value);
}

void lgi_conf_describe(int id, char *default_text, size_t default_size,
                       char *range_text, size_t range_size) {
    const property_t *p = &properties[id];
    render_value(p, p->def, default_text, default_size);
    if (p->type == TYPE_STRING) {
        snprintf(range_text, range_size, "text of at most %" PRId64 " bytes",
                 p->max);
    } else if (p->type == TYPE_ENUM) {
        size_t used = 0;
        range_text[0] = '\0';
        for (int i = 0; p->choices[i] && used < range_size; i++)
            used += (size_t)snprintf(range_text + used, range_size - used,
                                     "%s%s", i ? ", " : "", p->choices[i]);
    } else if (p->type == TYPE_FRACTION) {
        char low[32], high[32];
        render_fraction(p->min, low, sizeof low);
        render_fraction(p->max, high, sizeof high);
        snprintf(range_text, range_size, "%s .. %s", low, high);
    } else {
        snprintf(range_text, range_size, "%" PRId64 " .. %" PRId64, p->min,
                 p->max);
    }
}

LG_API lg_conf_t *lg_conf_new(void) {
    lgi_error_clear();
    lg_conf_t *conf = lgi_calloc(1, sizeof *conf);
    if (!conf) {
        lgi_error(LG_ERR_NOMEM, "lg_conf_new: out of memory");
        return NULL;
    }
    for (int i = 0; i < LGI_CONF__COUNT; i++)
        conf->values[i] = properties[i].def;
    return conf;
}

LG_API lg_conf_t *lg_conf_dup(const lg_conf_t *conf) {
    lgi_error_clear();
    if (!conf)
        return NULL;
    lg_conf_t *copy = lgi_malloc(sizeof *copy);
    if (copy)
        *copy = *conf;
    else
        lgi_error(LG_ERR_NOMEM, "lg_conf_dup: out of memory");
    return copy;
}

LG_API void lg_conf_destroy(lg_conf_t *conf) { lgi_free(conf); }

LG_API lg_err_t lg_conf_set_log_callback(lg_conf_t *conf, lg_log_fn callback,
                                         void *opaque) {
    lgi_error_clear();
    if (!conf)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_conf_set_log_callback: conf must not be NULL");
    conf->log_callback = callback;
    conf->log_opaque = opaque;
    return LG_OK;
}

LG_API lg_err_t lg_conf_set_stats_callback(lg_conf_t *conf,
                                           lg_stats_fn callback,
                                           void *opaque) {
    lgi_error_clear();
    if (!conf)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_conf_set_stats_callback: conf must not be NULL");
    conf->stats_callback = callback;
    conf->stats_opaque = opaque;
    return LG_OK;
}

/* Parses a decimal integer with optional sign; rejects trailing junk,
 * empty strings and overflow. */
static int parse_int64(const char *text, int64_t *out) {
    if (!*text)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text)
        return -1;
    *out = v;
    return 0;
}

LG_API lg_err_t lg_conf_set(lg_conf_t *conf, const char *name,
                            const char *value) {
    lgi_error_clear();
    if (!conf || !name || !value)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_conf_set: conf, name and value must not be "
                         "NULL");
    int id = find_property(name);
    if (id < 0)
        return lgi_error(LG_ERR_UNKNOWN_CONFIG,
                         "%s: unknown configuration property", name);
    const property_t *p = &properties[id];
    char range[256], def[64];
    lgi_conf_describe(id, def, sizeof def, range, sizeof range);
    int64_t parsed = -1;
    if (p->type == TYPE_ENUM) {
        for (int i = 0; p->choices[i]; i++)
            if (strcmp(p->choices[i], value) == 0)
                parsed = i;
        /* Kafka's topic spelling of "no codec". */
        if (id == LGI_CONF_COMPRESSION_TYPE &&
            strcmp(value, "uncompressed") == 0)
            parsed = LGI_COMPRESSION_NONE;
        if (id == LGI_CONF_CLEANUP_POLICY &&
            strcmp(value, "delete,compact") == 0)
            parsed = LGI_CLEANUP_COMPACT_DELETE;
        if (parsed < 0)
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "%s: must be one of %s, got \"%s\"", name,
                             range, value);
    } else if (p->type == TYPE_STRING) {
        if (strlen(value) > (size_t)p->max)
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "%s: must be %s, got %zu bytes", name, range,
                             strlen(value));
        if ((parsed = intern(value)) < 0)
            return lgi_error(LG_ERR_NOMEM, "%s: out of memory", name);
    } else if (p->type == TYPE_FRACTION) {
        if (parse_fraction(value, &parsed) != 0 || parsed < p->min ||
            parsed > p->max)
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "%s: must be a decimal number between %s, got "
                             "\"%s\"", name, range, value);
    } else if (parse_int64(value, &parsed) != 0 || parsed < p->min ||
               parsed > p->max) {
        return lgi_error(LG_ERR_INVALID_CONFIG,
                         "%s: must be an integer between %s, got \"%s\"",
                         name, range, value);
    }
    conf->values[id] = parsed;
    conf->set_mask |= UINT64_C(1) << id;
    return LG_OK;
}

LG_API lg_err_t lg_conf_get(const lg_conf_t *conf, const char *name,
                            char *buf, size_t *size) {
    lgi_error_clear();
    if (!conf || !name || !size)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_conf_get: conf, name and size must not be NULL");
    int id = find_property(name);
    if (id < 0)
        return lgi_error(LG_ERR_UNKNOWN_CONFIG,
                         "%s: unknown configuration property", name);
    char text[320];
    render_value(&properties[id], conf->values[id], text, sizeof text);
    size_t need = strlen(text) + 1;
    size_t have = *size;
    *size = need;
    if (!buf)
        return LG_OK;
    if (have < need)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: buffer of %zu bytes too small, %zu needed",
                         name, have, need);
    memcpy(buf, text, need);
    return LG_OK;
}

int lgi_conf_is_set(const lg_conf_t *conf, const char *name) {
    int id = find_property(name);
    return id >= 0 && (conf->set_mask & (UINT64_C(1) << id)) != 0;
}

lg_err_t lgi_conf_unset(lg_conf_t *conf, const char *name) {
    int id = find_property(name);
    if (id < 0)
        return lgi_error(LG_ERR_UNKNOWN_CONFIG,
                         "%s: unknown configuration property", name);
    conf->values[id] = properties[id].def;
    conf->set_mask &= ~(UINT64_C(1) << id);
    return LG_OK;
}

int64_t lgi_conf_int(const lg_conf_t *conf, enum lgi_conf_id id) {
    return conf->values[id];
}

void lgi_conf_log_config(const lg_conf_t *conf, lgi_log_config_t *config) {
    config->segment_bytes = conf->values[LGI_CONF_SEGMENT_BYTES];
    config->segment_ms = conf->values[LGI_CONF_SEGMENT_MS];
    config->index_interval_bytes =
        (int32_t)conf->values[LGI_CONF_INDEX_INTERVAL_BYTES];
    config->segment_index_bytes =
        (int32_t)conf->values[LGI_CONF_SEGMENT_INDEX_BYTES];
    config->max_message_bytes =
        (int32_t)conf->values[LGI_CONF_MAX_MESSAGE_BYTES];
    config->preallocate_bytes =
        conf->values[LGI_CONF_SEGMENT_PREALLOCATE_BYTES];
}

void lgi_conf_overlay(lg_conf_t *conf, const lg_conf_t *overrides) {
    for (int i = 0; i < LGI_CONF__COUNT; i++) {
        if ((properties[i].scope & LGI_SCOPE_TOPIC) &&
            (overrides->set_mask & (UINT64_C(1) << i))) {
            conf->values[i] = overrides->values[i];
            conf->set_mask |= UINT64_C(1) << i;
        }
    }
}

lg_err_t lgi_conf_check_scope(const lg_conf_t *conf, int allowed,
                              const char *what) {
    for (int i = 0; i < LGI_CONF__COUNT; i++)
        if (!(properties[i].scope & allowed) &&
            (conf->set_mask & (UINT64_C(1) << i)))
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "%s: is a %s property and does not apply to %s",
                             properties[i].name, lgi_conf_scope_name(i),
                             what);
    /* Cross-property rule, as Kafka's LogConfig validation. */
    if (conf->values[LGI_CONF_MIN_COMPACTION_LAG_MS] >
        conf->values[LGI_CONF_MAX_COMPACTION_LAG_MS])
        return lgi_error(LG_ERR_INVALID_CONFIG,
                         "min.compaction.lag.ms (%" PRId64 ") must not "
                         "exceed max.compaction.lag.ms (%" PRId64 ")",
                         conf->values[LGI_CONF_MIN_COMPACTION_LAG_MS],
                         conf->values[LGI_CONF_MAX_COMPACTION_LAG_MS]);
    return LG_OK;
}

int lgi_conf_acks(const lg_conf_t *conf) {
    switch (conf->values[LGI_CONF_ACKS]) {
    case LGI_ACKS_0_CHOICE:
        return LG_ACKS_NONE;
    case LGI_ACKS_1_CHOICE:
        return LG_ACKS_LEADER;
    default:
        return LG_ACKS_ALL;
    }
}

lg_err_t lgi_conf_serialize_overrides(const lg_conf_t *conf, char **textp) {
    size_t cap = 64, len = 0;
    for (int i = 0; i < LGI_CONF__COUNT; i++)
        cap += strlen(properties[i].name) + 32;
    char *text = lgi_malloc(cap);
    if (!text)
        return lgi_error(LG_ERR_NOMEM, "out of memory serialising config");
    text[0] = '\0';
    for (int i = 0; i < LGI_CONF__COUNT; i++) {
        if (!(properties[i].scope & LGI_SCOPE_TOPIC) ||
            !(conf->set_mask & (UINT64_C(1) << i)))
            continue;
        char value[64];
        render_value(&properties[i], conf->values[i], value, sizeof value);
        len += (size_t)snprintf(text + len, cap - len, "%s=%s\n",
                                properties[i].name, value);
    }
    *textp = text;
    return LG_OK;
}
