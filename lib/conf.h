/*
 * conf.h -- configuration properties: one table drives parsing,
 * validation, lg_conf_get and the generated documentation.
 *
 * Each property has a scope.  Engine properties configure the engine as a
 * whole; topic properties are defaults for every topic when set on the
 * engine's conf, and per-topic overrides when set on the conf given to
 * lg_topic_create (which persists only the explicitly set ones, as Kafka
 * keeps only overrides in a topic's config).
 */
#ifndef LG_CONF_H
#define LG_CONF_H

#include "liblog.h"
#include "partition.h"

#include <stdint.h>

/* Property ids, the order of the table in conf.c. */
enum lgi_conf_id {
    LGI_CONF_IO_BACKEND,
    LGI_CONF_IO_QUEUE_DEPTH,
    LGI_CONF_IO_SPIN_US,
    LGI_CONF_CHECKPOINT_INTERVAL_MS,
    LGI_CONF_STATISTICS_INTERVAL_MS,
    LGI_CONF_LOG_LEVEL,
    LGI_CONF_SEGMENT_BYTES,
    LGI_CONF_SEGMENT_MS,
    LGI_CONF_SEGMENT_INDEX_BYTES,
    LGI_CONF_INDEX_INTERVAL_BYTES,
    LGI_CONF_SEGMENT_PREALLOCATE_BYTES,
    LGI_CONF_MAX_MESSAGE_BYTES,
    LGI_CONF_COMPRESSION_TYPE,
    LGI_CONF_COMPRESSION_ZSTD_LEVEL,
    LGI_CONF_MESSAGE_TIMESTAMP_TYPE,
    /* producer */
    LGI_CONF_ACKS,
    LGI_CONF_LINGER_MS,
    LGI_CONF_BATCH_SIZE,
    LGI_CONF_PARTITIONER,
    LGI_CONF_BUFFER_MEMORY,
    LGI_CONF_MAX_BLOCK_MS,
    LGI_CONF_DELIVERY_TIMEOUT_MS,
    LGI_CONF_RETRY_BACKOFF_MS,
    LGI_CONF_ENABLE_IDEMPOTENCE,
    LGI_CONF_TRANSACTIONAL_ID,
    LGI_CONF_TRANSACTION_TIMEOUT_MS,
    /* consumer */
    LGI_CONF_ENABLE_PARTITION_EOF,
    LGI_CONF_POLL_SPIN_US,
    LGI_CONF_FETCH_MAX_BYTES,
    LGI_CONF_MAX_PARTITION_FETCH_BYTES,
    LGI_CONF_AUTO_OFFSET_RESET,
    LGI_CONF_ISOLATION_LEVEL,
    /* consumer groups */
    LGI_CONF_GROUP_ID,
    LGI_CONF_GROUP_INSTANCE_ID,
    LGI_CONF_PARTITION_ASSIGNMENT_STRATEGY,
    LGI_CONF_SESSION_TIMEOUT_MS,
    LGI_CONF_HEARTBEAT_INTERVAL_MS,
    LGI_CONF_MAX_POLL_INTERVAL_MS,
    LGI_CONF_ENABLE_AUTO_COMMIT,
    LGI_CONF_AUTO_COMMIT_INTERVAL_MS,
    LGI_CONF_OFFSETS_TOPIC_NUM_PARTITIONS,
    /* retention and compaction */
    LGI_CONF_RETENTION_MS,
    LGI_CONF_RETENTION_BYTES,
    LGI_CONF_CLEANUP_POLICY,
    LGI_CONF_MIN_CLEANABLE_DIRTY_RATIO,
    LGI_CONF_MIN_COMPACTION_LAG_MS,
    LGI_CONF_MAX_COMPACTION_LAG_MS,
    LGI_CONF_DELETE_RETENTION_MS,
    LGI_CONF_CLEANER_DEDUPE_BUFFER_SIZE,
    LGI_CONF_RETENTION_CHECK_INTERVAL_MS,
    LGI_CONF_CLEANER_BACKOFF_MS,
    LGI_CONF_NODE_ID,
    LGI_CONF_REPLICATION_FACTOR,
    LGI_CONF_REPLICATION_ELECTION_TIMEOUT_MS,
    LGI_CONF_REPLICATION_FETCH_INTERVAL_MS,
    LGI_CONF_REPLICATION_ACK_TIMEOUT_MS,
    LGI_CONF_REPLICATION_RANDOM_SEED,
    LGI_CONF__COUNT
};

/* Scopes are bits: compression.type, for one, is both a topic and a
 * producer property, as in Kafka. */
enum lgi_conf_scope {
    LGI_SCOPE_ENGINE = 1,
    LGI_SCOPE_TOPIC = 2,
    LGI_SCOPE_PRODUCER = 4,
    LGI_SCOPE_CONSUMER = 8,
};

/* acks values (index of the choice; lgi_conf_acks maps to -1/0/1) */
enum { LGI_ACKS_ALL_CHOICE, LGI_ACKS_0_CHOICE, LGI_ACKS_1_CHOICE,
       LGI_ACKS_MINUS1_CHOICE };
/* partitioner values */
enum { LGI_PARTITIONER_DEFAULT, LGI_PARTITIONER_MURMUR2,
       LGI_PARTITIONER_RANDOM, LGI_PARTITIONER_ROUNDROBIN };
/* auto.offset.reset values */
enum { LGI_RESET_EARLIEST, LGI_RESET_LATEST, LGI_RESET_NONE };

/* isolation.level values */
enum { LGI_ISOLATION_READ_UNCOMMITTED, LGI_ISOLATION_READ_COMMITTED };

/* partition.assignment.strategy values */
enum { LGI_ASSIGNOR_RANGE, LGI_ASSIGNOR_ROUNDROBIN,
       LGI_ASSIGNOR_COOPERATIVE_STICKY };

/* cleanup.policy values */
enum { LGI_CLEANUP_DELETE, LGI_CLEANUP_COMPACT, LGI_CLEANUP_COMPACT_DELETE };

/* Fraction-valued properties (min.cleanable.dirty.ratio) are stored in
 * millionths: "0.5" is 500000.  Parsing accepts a decimal in [0, 1] with
 * at most six digits after the point. */
#define LGI_CONF_FRACTION_ONE 1000000

/* compression.type values */
enum { LGI_COMPRESSION_PRODUCER, LGI_COMPRESSION_NONE, LGI_COMPRESSION_ZSTD };
/* message.timestamp.type values */
enum { LGI_TIMESTAMP_CREATE_TIME, LGI_TIMESTAMP_LOG_APPEND_TIME };

struct lg_conf {
    int64_t values[LGI_CONF__COUNT];
    /* bit i set when property i was set explicitly (topic overrides) */
    uint64_t set_mask;
    /* Callbacks (engine confs): copied by value with the rest. */
    lg_log_fn log_callback;
    void *log_opaque;
    lg_stats_fn stats_callback;
    void *stats_opaque;
};

/* Value of property id (enum-valued properties give their index). */
int64_t lgi_conf_int(const lg_conf_t *conf, enum lgi_conf_id id);

/* Value of the string property id ("" when unset).  String values are
 * interned in a process-wide table (values[] holds the index), so a conf
 * stays a flat struct copied by assignment; the returned pointer is valid
 * for the life of the process. */
const char *lgi_conf_str(const lg_conf_t *conf, enum lgi_conf_id id);

/* The log settings of a topic: topic-scope values from conf. */
void lgi_conf_log_config(const lg_conf_t *conf, lgi_log_config_t *config);

/* Overlays the explicitly set topic-scope properties of overrides onto
 * conf (which then holds a topic's effective configuration). */
void lgi_conf_overlay(lg_conf_t *conf, const lg_conf_t *overrides);

/* 1 when property name is set explicitly in conf (0 for unknown names). */
int lgi_conf_is_set(const lg_conf_t *conf, const char *name);

/* Returns property name to its default and clears its explicit bit
 * (LG_ERR_UNKNOWN_CONFIG for unknown names). */
lg_err_t lgi_conf_unset(lg_conf_t *conf, const char *name);

/* acks as LG_ACKS_NONE / LG_ACKS_LEADER / LG_ACKS_ALL. */
int lgi_conf_acks(const lg_conf_t *conf);

/* Fails with LG_ERR_INVALID_CONFIG, naming the property, when conf sets
 * explicitly a property none of whose scopes is in allowed (a mask of
 * enum lgi_conf_scope); what names the object ("a topic").  Also checks
 * cross-property rules (min.compaction.lag.ms <= max.compaction.lag.ms). */
lg_err_t lgi_conf_check_scope(const lg_conf_t *conf, int allowed,
                              const char *what);

/* "topic, producer" etc. */
const char *lgi_conf_scope_name(int id);

/* Table access for docs and tests: name, scope, default as text, the
 * accepted range as text, one-line description.  id < LGI_CONF__COUNT. */
const char *lgi_conf_name(int id);
int lgi_conf_scope(int id); /* mask */
const char *lgi_conf_doc(int id);
void lgi_conf_describe(int id, char *default_text, size_t default_size,
                       char *range_text, size_t range_size);

/* Renders explicitly set properties as "name=value\n" lines, for the
 * topic metadata file; lgi_buf_t-free: writes into a malloc'd string. */
lg_err_t lgi_conf_serialize_overrides(const lg_conf_t *conf, char **textp);

#endif
