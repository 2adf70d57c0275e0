/*
 * liblog.h -- the one public header of liblog, an embeddable Kafka-model log.
 *
 * If it is not in this header, it is not API.  Everything here is callable
 * through a plain C FFI: handles are opaque pointers, lengths are explicit,
 * no struct crosses the boundary by value, there are no varargs and no
 * inline-only helpers.  Every function returns an lg_err_t (or a value whose
 * meaning is documented); when it fails, lg_last_error_message() returns a
 * sentence naming what went wrong, for the calling thread.
 *
 * Thread-safety is stated on each function.  "Any thread" means the call may
 * be made concurrently with any other call on the same handle except the
 * handle's destroy/close.  Destroy functions accept NULL.
 *
 * Ownership is stated on each function: "borrowed" arguments are read during
 * the call only; memory the library hands out is released by the lg_
 * function named next to it.
 */
#ifndef LIBLOG_H
#define LIBLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define LG_API __attribute__((visibility("default")))
#else
#define LG_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * --------------------------------------------------------------------- */

#define LIBLOG_VERSION_MAJOR 1
#define LIBLOG_VERSION_MINOR 0
#define LIBLOG_VERSION_PATCH 0
/* 0xMMmmpp: comparable with <, as librdkafka's RD_KAFKA_VERSION. */
#define LIBLOG_VERSION_NUMBER                                                  \
    ((LIBLOG_VERSION_MAJOR << 16) | (LIBLOG_VERSION_MINOR << 8) |              \
     LIBLOG_VERSION_PATCH)
#define LIBLOG_VERSION_STRING "1.0.0"

/* The version of the library actually loaded, as "1.0.0".  Static string.
 * Any thread. */
LG_API const char *lg_version(void);
/* The loaded library's LIBLOG_VERSION_NUMBER.  Any thread. */
LG_API int lg_version_number(void);

/* ------------------------------------------------------------------------
 * Errors
 * --------------------------------------------------------------------- */

/* Error codes.  Values are stable ABI: new codes are only ever appended. */
typedef enum lg_err_t {
    LG_OK = 0,
    LG_ERR_INVALID_ARG = 1,      /* NULL where a value is required, bad length */
    LG_ERR_NOMEM = 2,            /* allocation failed */
    LG_ERR_IO = 3,               /* read/write/fsync failed; see the message */
    LG_ERR_CORRUPT = 4,          /* data failed validation (CRC, length, magic) */
    LG_ERR_UNKNOWN_CONFIG = 5,   /* configuration property name not known */
    LG_ERR_INVALID_CONFIG = 6,   /* configuration value out of range / unparsable */
    LG_ERR_UNKNOWN_TOPIC = 7,    /* no such topic */
    LG_ERR_UNKNOWN_PARTITION = 8,/* partition index outside the topic */
    LG_ERR_TOPIC_EXISTS = 9,     /* create of a topic that exists */
    LG_ERR_INVALID_TOPIC = 10,   /* topic name illegal (chars, length, . or ..) */
    LG_ERR_RECORD_TOO_LARGE = 11,/* batch over max.message.bytes */
    LG_ERR_OFFSET_OUT_OF_RANGE = 12, /* offset below log start or above end */
    LG_ERR_LOCKED = 13,          /* data directory held by another engine */
    LG_ERR_CLOSED = 14,          /* handle is closing or closed */
    LG_ERR_DISK_FULL = 15,       /* ENOSPC: nothing was written; retry later */
    LG_ERR_READ_ONLY = 16,       /* partition fenced after an fsync failure */
    LG_ERR_UNSUPPORTED = 17,     /* feature or format not supported */
    LG_ERR_TIMED_OUT = 18,       /* a bounded wait expired */
    LG_ERR_STATE = 19,           /* call not valid in the handle's state */
    LG_ERR_QUEUE_FULL = 20,      /* producer buffer.memory exhausted */
    LG_ERR_PARTITION_EOF = 21,   /* event: consumer reached a partition's end */
    LG_ERR_ILLEGAL_GENERATION = 22, /* commit from a stale group generation */
    LG_ERR_REBALANCE_IN_PROGRESS = 23, /* group is rebalancing; retry */
    LG_ERR_UNKNOWN_MEMBER = 24,  /* member was evicted from its group */
    LG_ERR_ASSIGN_PARTITIONS = 25, /* rebalance event: partitions assigned */
    LG_ERR_REVOKE_PARTITIONS = 26, /* rebalance event: partitions revoked */
    LG_ERR_UNKNOWN_GROUP = 27,   /* no such consumer group */
    LG_ERR_GROUP_NOT_EMPTY = 28, /* group has members (delete, reset) */
    LG_ERR_INCONSISTENT_GROUP_PROTOCOL = 29, /* assignor differs from group's */
    LG_ERR_NOT_AUTHORIZED = 30,  /* the engine's authorizer denied the call */
    LG_ERR_OUT_OF_ORDER_SEQUENCE = 31, /* idempotent batch leaves a gap */
    LG_ERR_PRODUCER_FENCED = 32, /* a newer epoch of the producer exists */
    LG_ERR_NOT_LEADER = 33,      /* replicated partition led by another node */
    LG_ERR_TXN_ABORTABLE = 34,   /* transaction failed: only abort is allowed */
    LG_ERR__COUNT                /* not an error; one past the last code */
} lg_err_t;

/* A static English description of code, e.g. "data failed validation".
 * Unknown codes give "unknown error".  Any thread. */
LG_API const char *lg_strerror(lg_err_t code);

/* The name of code as a C identifier, e.g. "LG_ERR_CORRUPT".  Static string;
 * unknown codes give "LG_ERR_UNKNOWN".  Any thread. */
LG_API const char *lg_err_name(lg_err_t code);

/* A human message about the most recent failed lg_ call made by the calling
 * thread (thread-local), e.g. "segment.bytes: must be between 14 and
 * 2147483647, got 3".  Never NULL; "" when the last call succeeded.  Valid
 * until the next lg_ call on the same thread.  Any thread. */
LG_API const char *lg_last_error_message(void);

/* ------------------------------------------------------------------------
 * Configuration
 *
 * One object type serves the engine and topics.  Property names are
 * Kafka's where Kafka has the concept (segment.bytes, retention.ms,
 * max.message.bytes, acks ...); lg_conf_set rejects unknown names and bad
 * values with a message naming the property and the accepted range.  See
 * liblog-conf(7)/lg_conf_set(3) for the table.
 * --------------------------------------------------------------------- */

typedef struct lg_conf lg_conf_t;

/* A new configuration holding every default.  NULL on allocation failure.
 * Release with lg_conf_destroy().  Any thread. */
LG_API lg_conf_t *lg_conf_new(void);

/* A deep copy of conf, or NULL on allocation failure or NULL conf. */
LG_API lg_conf_t *lg_conf_dup(const lg_conf_t *conf);

/* Frees conf.  NULL is a harmless no-op.  Not concurrently with other calls
 * on the same conf. */
LG_API void lg_conf_destroy(lg_conf_t *conf);

/* Sets property name to value (both NUL-terminated, borrowed).  Returns
 * LG_OK, LG_ERR_UNKNOWN_CONFIG, LG_ERR_INVALID_CONFIG or LG_ERR_INVALID_ARG;
 * on failure conf is unchanged.  Not concurrently with other calls on the
 * same conf. */
LG_API lg_err_t lg_conf_set(lg_conf_t *conf, const char *name,
                            const char *value);

/* Copies the current value of name, as text, into buf of size *size and
 * sets *size to the length needed including the terminating NUL.  With buf
 * NULL only *size is set.  LG_ERR_INVALID_ARG when buf is too small (and
 * *size tells how much is needed).  Any thread, if nobody sets concurrently. */
LG_API lg_err_t lg_conf_get(const lg_conf_t *conf, const char *name,
                            char *buf, size_t *size);

/* ------------------------------------------------------------------------
 * Engine: one data directory
 * --------------------------------------------------------------------- */

typedef struct lg_engine lg_engine_t;

/* Opens (creating if needed, mode 0700) the data directory dir, takes an
 * exclusive lock on it (a second opener, in this or another process, gets
 * LG_ERR_LOCKED), recovers every partition found in it and starts the
 * engine's I/O thread.  conf may be NULL for defaults; it is borrowed (the
 * engine keeps a copy).  On success *enginep is set; close it with
 * lg_engine_close().  Any thread. */
LG_API lg_err_t lg_engine_open(const char *dir, const lg_conf_t *conf,
                               lg_engine_t **enginep);

/* Detaches producers and consumers still alive on the engine (a producer
 * first appends what it has queued; afterwards their calls answer
 * LG_ERR_CLOSED, and their destroy functions must still be called: destroy
 * order never matters), flushes everything to disk (fdatasync), writes the
 * recovery-point checkpoints and clean-shutdown marker, stops the I/O
 * thread, releases the lock and frees the engine -- always, even when it
 * returns an error.
 * Returns the first flush error (LG_ERR_IO, LG_ERR_DISK_FULL): records
 * appended with acks below LG_ACKS_ALL may then not be durable, and no
 * clean-shutdown marker is written, so the next open runs full recovery.
 * NULL is a no-op returning LG_OK.  Must not race with other calls on the
 * same engine: the caller makes sure every other call on the engine has
 * returned first. */
LG_API lg_err_t lg_engine_close(lg_engine_t *engine);

/* The name of the I/O backend in use: "io_uring" or "syscall".  Static
 * string.  Any thread. */
LG_API const char *lg_engine_io_backend(const lg_engine_t *engine);

/* ------------------------------------------------------------------------
 * Observability: the library's log, statistics
 *
 * Statistics are counters and latency histograms kept per engine, topic
 * partition, producer and consumer with relaxed atomics (the hot paths pay
 * a few uncontended adds).  They are rendered on demand as a JSON document
 * (lg_engine_stats_json; schema in liblog(7)) or as Prometheus text
 * exposition format (lg_engine_stats_prometheus), and pushed every
 * statistics.interval.ms to a stats callback, like librdkafka's stats_cb,
 * from the application's own lg_engine_poll() call -- never from a library
 * thread.
 * --------------------------------------------------------------------- */

/* Log levels: syslog's numbering, as librdkafka's log_level. */
#define LG_LOG_ERROR 3
#define LG_LOG_WARNING 4
#define LG_LOG_NOTICE 5
#define LG_LOG_INFO 6
#define LG_LOG_DEBUG 7

/* A log message of the library's own (recovery truncations, fenced
 * partitions, I/O backend fallback, topic deletions ...).  message is
 * NUL-terminated and valid during the call only; level is LG_LOG_*. */
typedef void (*lg_log_fn)(void *opaque, int level, const char *message);

/* Sets the callback that receives the diagnostics of an engine opened with
 * conf (NULL: silent, the default -- the library never writes to stderr by
 * itself).  Messages above the conf's log_level (default 6, LG_LOG_INFO)
 * are not delivered.  Unlike every other callback, the log callback is
 * called directly from whichever thread notices the event -- the thread
 * calling lg_engine_open during recovery, the engine's I/O thread, an
 * application thread -- as librdkafka's log_cb is; it must be thread-safe,
 * must not block for long and must not call back into the engine.  It may
 * be called until lg_engine_close returns.  Copied with the conf by
 * lg_conf_dup and by lg_engine_open.  Not concurrently with other calls on
 * the same conf. */
LG_API lg_err_t lg_conf_set_log_callback(lg_conf_t *conf, lg_log_fn callback,
                                         void *opaque);

/* A statistics report: json is the document lg_engine_stats_json would
 * return (json_len bytes, NUL-terminated), valid during the call only. */
typedef void (*lg_stats_fn)(void *opaque, const char *json, size_t json_len);

/* Sets the callback that receives a statistics report every
 * statistics.interval.ms (an engine property; 0, the default, turns the
 * reports off) of an engine opened with conf.  Reports are served only by
 * lg_engine_poll(), on the thread calling it.  Copied with the conf.  Not
 * concurrently with other calls on the same conf. */
LG_API lg_err_t lg_conf_set_stats_callback(lg_conf_t *conf,
                                           lg_stats_fn callback,
                                           void *opaque);

/* Serves the engine's callbacks that are due on the calling thread: the
 * stats callback when statistics.interval.ms has passed since the last
 * report.  Waits up to timeout_ms (0: don't wait, -1: until the next report
 * is due) for one to become due; when statistics are off (interval 0 or no
 * stats callback) it returns 0 at once.
 * Returns the number of callbacks served (>= 0), or -1 with the error
 * message set for a NULL engine.  One thread at a time per engine. */
LG_API int lg_engine_poll(lg_engine_t *engine, int timeout_ms);

/* Renders the engine's statistics as a JSON document (schema in
 * liblog(7)) into *jsonp, a NUL-terminated string the caller frees with
 * lg_free_string().  Any thread. */
LG_API lg_err_t lg_engine_stats_json(lg_engine_t *engine, char **jsonp);

/* Renders the same statistics in Prometheus text exposition format 0.0.4
 * (# HELP / # TYPE lines; counters named *_total; latency histograms with
 * _bucket{le="..."}, _sum and _count in seconds) into *textp, freed with
 * lg_free_string().  Any thread. */
LG_API lg_err_t lg_engine_stats_prometheus(lg_engine_t *engine,
                                           char **textp);

/* Frees a string the library handed out (lg_engine_stats_json,
 * lg_engine_stats_prometheus).  NULL is a no-op. */
LG_API void lg_free_string(char *string);

/* ------------------------------------------------------------------------
 * Authorization
 *
 * The host may install an authorizer on an engine, as Kafka brokers take
 * an Authorizer: before each guarded call the engine asks it whether the
 * calling principal may perform an operation on a resource.  Principals
 * are per thread (lg_principal_set), not per engine, because one engine is
 * shared by every part of the host: each request-serving thread states
 * whom it acts for.  Handles created by a thread (producers, consumers)
 * are checked with the principal of the thread making each call.
 *
 * Guarded calls and what they ask:
 *   lg_append, lg_produce, lg_produce_records   WRITE  TOPIC <topic>
 *   lg_read, lg_read_committed,
 *   lg_consumer_assign                          READ   TOPIC <topic>
 *   lg_topic_create                             CREATE TOPIC <name>
 *   lg_topic_delete                             DELETE TOPIC <name>
 *   lg_topic_add_partitions, lg_topic_config_set ALTER TOPIC <name>
 *   lg_topic_config_get, lg_topic_partition_count DESCRIBE TOPIC <name>
 * A denial returns LG_ERR_NOT_AUTHORIZED and changes nothing.
 * --------------------------------------------------------------------- */

/* Operations, as Kafka's AclOperation. */
#define LG_OP_READ 1
#define LG_OP_WRITE 2
#define LG_OP_CREATE 3
#define LG_OP_DELETE 4
#define LG_OP_ALTER 5
#define LG_OP_DESCRIBE 6

/* Resource types, as Kafka's ResourceType. */
#define LG_RESOURCE_TOPIC 1
#define LG_RESOURCE_GROUP 2
#define LG_RESOURCE_CLUSTER 3

/* Returns non-zero to allow, 0 to deny.  principal is the calling
 * thread's principal ("" when it set none); resource_name is the topic
 * (group, or "" for the cluster).  Both are borrowed for the call.  Runs
 * on the thread making the guarded call, possibly on many threads at
 * once, so it must be thread-safe; it must not call back into the
 * engine. */
typedef int (*lg_authorize_fn)(void *opaque, const char *principal,
                               int operation, int resource_type,
                               const char *resource_name);

/* Installs fn (NULL: remove; every call is then allowed, the default)
 * with its opaque on engine.  Calls already being checked finish with the
 * authorizer they started with.  Any thread. */
LG_API lg_err_t lg_engine_set_authorizer(lg_engine_t *engine,
                                         lg_authorize_fn fn, void *opaque);

/* Sets the principal (e.g. "User:alice"; copied; NULL or "" for
 * anonymous) the calling thread's later lg_ calls act for, on every
 * engine.  LG_ERR_INVALID_ARG when longer than 255 bytes.  Thread-local;
 * a new thread starts anonymous. */
LG_API lg_err_t lg_principal_set(const char *principal);

/* The calling thread's principal ("" when anonymous).  Valid until the
 * next lg_principal_set on the thread. */
LG_API const char *lg_principal_get(void);

/* ------------------------------------------------------------------------
 * Topics
 * --------------------------------------------------------------------- */

/* Creates topic name with partitions partitions (1..100000).  topic_conf
 * (may be NULL; borrowed) carries per-topic overrides of topic-level
 * properties such as segment.bytes.  Names follow Kafka: 1..249 chars of
 * [a-zA-Z0-9._-], not "." or "..".  Errors: LG_ERR_INVALID_TOPIC,
 * LG_ERR_TOPIC_EXISTS, LG_ERR_INVALID_CONFIG, LG_ERR_IO.  Any thread. */
LG_API lg_err_t lg_topic_create(lg_engine_t *engine, const char *name,
                                int32_t partitions,
                                const lg_conf_t *topic_conf);

/* Sets *countp to the number of partitions of topic name.
 * LG_ERR_UNKNOWN_TOPIC if it does not exist.  Any thread. */
LG_API lg_err_t lg_topic_partition_count(lg_engine_t *engine,
                                         const char *name, int32_t *countp);

/* ------------------------------------------------------------------------
 * Records to append
 *
 * An lg_records_t collects records (key, value, headers, timestamp) that
 * lg_append() writes as one Kafka record batch.  A NULL key or value pointer
 * means null (as in Kafka); a non-NULL pointer with length 0 means empty.
 * --------------------------------------------------------------------- */

typedef struct lg_records lg_records_t;

/* Timestamp meaning "now, by the engine's clock". */
#define LG_TIMESTAMP_NOW INT64_MIN

/* A new empty record list, or NULL on allocation failure.  Release with
 * lg_records_destroy().  A list is used by one thread at a time. */
LG_API lg_records_t *lg_records_new(void);

/* Frees records.  NULL is a no-op. */
LG_API void lg_records_destroy(lg_records_t *records);

/* Empties the list for reuse, keeping its memory. */
LG_API void lg_records_clear(lg_records_t *records);

/* Number of records in the list (0 for NULL). */
LG_API size_t lg_records_count(const lg_records_t *records);

/* Appends a record.  key/value are copied (borrowed for the call).
 * timestamp is milliseconds since the epoch or LG_TIMESTAMP_NOW.
 * LG_ERR_INVALID_ARG for NULL records, a negative timestamp other than
 * LG_TIMESTAMP_NOW, or a length with no pointer; LG_ERR_NOMEM. */
LG_API lg_err_t lg_records_add(lg_records_t *records, const void *key,
                               size_t key_len, const void *value,
                               size_t value_len, int64_t timestamp);

/* Adds a header to the most recently added record.  name is name_len bytes
 * (UTF-8, may be empty, not NUL-terminated), value may be NULL (null header
 * value).  LG_ERR_STATE when no record has been added yet. */
LG_API lg_err_t lg_records_add_header(lg_records_t *records,
                                      const char *name, size_t name_len,
                                      const void *value, size_t value_len);

/* ------------------------------------------------------------------------
 * Appending
 * --------------------------------------------------------------------- */

/* Durability levels, as Kafka's acks. */
#define LG_ACKS_NONE 0   /* handed to the I/O thread; may be lost on crash */
#define LG_ACKS_LEADER 1 /* written to the log (page cache); survives a
                            process crash, not a power loss */
#define LG_ACKS_ALL (-1) /* fdatasync'd (group commit); survives power loss */

/* Appends records, in order, to partition of topic as one record batch
 * (compressed per the topic's compression.type), and empties nothing: the
 * list is borrowed and may be reused.  acks is LG_ACKS_NONE, LG_ACKS_LEADER
 * or LG_ACKS_ALL; the call returns when that durability holds.  On success
 * *base_offsetp (may be NULL) is the offset of the first record; the rest
 * follow consecutively.  Errors: LG_ERR_UNKNOWN_TOPIC,
 * LG_ERR_UNKNOWN_PARTITION, LG_ERR_RECORD_TOO_LARGE (batch over the topic's
 * max.message.bytes), LG_ERR_INVALID_ARG (empty list, bad acks),
 * LG_ERR_DISK_FULL, LG_ERR_IO, LG_ERR_READ_ONLY, LG_ERR_CLOSED.  Any thread;
 * appends to one partition from many threads are serialised in offset
 * order. */
LG_API lg_err_t lg_append(lg_engine_t *engine, const char *topic,
                          int32_t partition, const lg_records_t *records,
                          int acks, int64_t *base_offsetp);

/* ------------------------------------------------------------------------
 * Reading
 *
 * lg_read() returns an lg_fetch_t holding whole record batches starting at
 * the batch that contains offset; lg_fetch_next() walks its records in
 * offset order, skipping those below the requested offset.  Records are
 * decoded in place (zstd batches are decompressed once into the fetch): the
 * lg_message_t pointers and every pointer read from them stay valid until
 * lg_fetch_destroy().
 * --------------------------------------------------------------------- */

typedef struct lg_fetch lg_fetch_t;
typedef struct lg_message lg_message_t;

/* Reads from partition of topic starting at offset, up to about max_bytes
 * of batches (at least one whole batch is returned even if larger).  Only
 * records whose write has completed are visible.  offset == the log end
 * offset gives an empty fetch (lg_fetch_next at once yields NULL); offset
 * outside [log start, log end] gives LG_ERR_OFFSET_OUT_OF_RANGE.
 * LG_ERR_CORRUPT if a batch fails its CRC.  Any thread; readers never block
 * writers. */
LG_API lg_err_t lg_read(lg_engine_t *engine, const char *topic,
                        int32_t partition, int64_t offset, size_t max_bytes,
                        lg_fetch_t **fetchp);

/* lg_read with read_committed isolation: the fetch stops at the last stable
 * offset (lg_watermarks_lso) and lg_fetch_next skips the records of aborted
 * transactions (lg_read returns them; transaction markers neither).  An
 * offset in [LSO, log end] gives an empty fetch whose lg_fetch_next_offset
 * is the offset (or the LSO, when nothing but a gap left by compaction lies
 * below it).  Errors and thread-safety as lg_read. */
LG_API lg_err_t lg_read_committed(lg_engine_t *engine, const char *topic,
                                  int32_t partition, int64_t offset,
                                  size_t max_bytes, lg_fetch_t **fetchp);

/* Sets *messagep to the next record of fetch, or to NULL at the end of the
 * fetch (returning LG_OK).  LG_ERR_CORRUPT if a record fails to decode.
 * One thread at a time per fetch. */
LG_API lg_err_t lg_fetch_next(lg_fetch_t *fetch,
                              const lg_message_t **messagep);

/* The offset following the last record of the fetch (where the next
 * lg_read should start), or the requested offset for an empty fetch. */
LG_API int64_t lg_fetch_next_offset(const lg_fetch_t *fetch);

/* Frees fetch and invalidates its messages.  NULL is a no-op. */
LG_API void lg_fetch_destroy(lg_fetch_t *fetch);

/* Message accessors.  Pointers returned point into the owning fetch (or
 * consumer batch) and live as long as it.  NULL message gives -1/NULL/0. */
LG_API int64_t lg_message_offset(const lg_message_t *message);
/* Milliseconds since the epoch.  *typep (may be NULL) is 0 for
 * CreateTime, 1 for LogAppendTime. */
LG_API int64_t lg_message_timestamp(const lg_message_t *message, int *typep);
/* Key bytes and length; NULL (with *lenp 0) for a null key. */
LG_API const void *lg_message_key(const lg_message_t *message, size_t *lenp);
/* Value bytes and length; NULL (with *lenp 0) for a null value. */
LG_API const void *lg_message_value(const lg_message_t *message,
                                    size_t *lenp);
/* The partition leader epoch stamped on the message's batch. */
LG_API int32_t lg_message_leader_epoch(const lg_message_t *message);
/* Number of headers. */
LG_API size_t lg_message_header_count(const lg_message_t *message);
/* Header index: name (not NUL-terminated) and value (NULL when null).
 * LG_ERR_INVALID_ARG when index is out of range. */
LG_API lg_err_t lg_message_header(const lg_message_t *message, size_t index,
                                  const char **namep, size_t *name_lenp,
                                  const void **valuep, size_t *value_lenp);

/* Sets *lowp to the log start offset and *highp to the log end offset
 * (one past the last visible record) of the partition.  Either pointer may
 * be NULL.  Any thread. */
LG_API lg_err_t lg_watermarks(lg_engine_t *engine, const char *topic,
                              int32_t partition, int64_t *lowp,
                              int64_t *highp);

/* The last stable offset (LSO) of partition: the first offset of the
 * oldest transaction still open in it (neither committed nor aborted), or
 * the high watermark when none is.  Records below it are decided.  Any
 * thread.  LG_ERR_UNKNOWN_TOPIC, LG_ERR_UNKNOWN_PARTITION,
 * LG_ERR_INVALID_ARG (NULL lsop). */
LG_API lg_err_t lg_watermarks_lso(lg_engine_t *engine, const char *topic,
                                  int32_t partition, int64_t *lsop);

/* Sets *offsetp to the earliest offset whose timestamp is >= timestamp_ms,
 * as Kafka's ListOffsets; the log end offset when every record is older.
 * Any thread. */
LG_API lg_err_t lg_offset_for_time(lg_engine_t *engine, const char *topic,
                                   int32_t partition, int64_t timestamp_ms,
                                   int64_t *offsetp);

/* ------------------------------------------------------------------------
 * Topic administration
 * --------------------------------------------------------------------- */

/* A list of strings handed out by the library (topic names ...).  Free
 * with lg_strings_destroy(). */
typedef struct lg_strings lg_strings_t;

/* Number of strings in list (0 for NULL). */
LG_API size_t lg_strings_count(const lg_strings_t *list);
/* The index-th string, NUL-terminated, or NULL when out of range.  Valid
 * until lg_strings_destroy(list). */
LG_API const char *lg_strings_get(const lg_strings_t *list, size_t index);
/* Frees list.  NULL is a no-op. */
LG_API void lg_strings_destroy(lg_strings_t *list);

/* Sets *namesp to the names of all topics, sorted.  Any thread. */
LG_API lg_err_t lg_topic_list(lg_engine_t *engine, lg_strings_t **namesp);

/* Deletes topic name and all its data.  Appends, reads, producers and
 * consumers using it get LG_ERR_UNKNOWN_TOPIC from then on; calls already
 * inside the topic finish first, and the files are removed once the last
 * finishes (a consumer with one of its partitions assigned counts until
 * its next poll).  Until then lg_topic_create of the same name fails with
 * LG_ERR_TOPIC_EXISTS ("marked for deletion", as in Kafka).  Any
 * thread. */
LG_API lg_err_t lg_topic_delete(lg_engine_t *engine, const char *name);

/* Grows topic name to partition_count partitions (Kafka allows only
 * growth): LG_ERR_INVALID_ARG when partition_count is not larger than the
 * current count.  Existing partitions keep their data; key-hash
 * partitioning of new records changes, as in Kafka.  Any thread. */
LG_API lg_err_t lg_topic_add_partitions(lg_engine_t *engine, const char *name,
                                        int32_t partition_count);

/* Copies topic name's effective value of property (override or engine
 * default) into buf, as lg_conf_get.  *is_overridep (may be NULL) is 1
 * when the topic overrides it.  Any thread. */
LG_API lg_err_t lg_topic_config_get(lg_engine_t *engine, const char *name,
                                    const char *property, char *buf,
                                    size_t *size, int *is_overridep);

/* Sets (value non-NULL) or removes (value NULL: back to the engine
 * default) a topic-level override, persisted atomically with the topic.
 * Applies to appends from the next one on.  LG_ERR_UNKNOWN_CONFIG /
 * LG_ERR_INVALID_CONFIG as lg_conf_set.  Any thread. */
LG_API lg_err_t lg_topic_config_set(lg_engine_t *engine, const char *name,
                                    const char *property, const char *value);

/* ------------------------------------------------------------------------
 * Producer
 *
 * lg_produce() copies a record into an in-memory batch for its partition
 * and returns; it never waits for disk.  Batches are appended when they
 * reach batch.size or linger.ms has passed, by the engine's I/O machinery,
 * and each record's outcome is delivered exactly once to the delivery
 * callback -- from the application's own lg_producer_poll() (or
 * lg_producer_flush()) call, never from a library thread.
 * --------------------------------------------------------------------- */

typedef struct lg_producer lg_producer_t;

/* Partition argument meaning "let the partitioner choose". */
#define LG_PARTITION_ANY (-1)

/* Delivery report: err is LG_OK and offset the record's offset, or the
 * error that failed it (offset -1).  topic is valid during the call only;
 * message_opaque is the pointer given to lg_produce. */
typedef void (*lg_delivery_fn)(void *opaque, lg_err_t err, const char *topic,
                               int32_t partition, int64_t offset,
                               void *message_opaque);

/* A new producer on engine.  conf (may be NULL; borrowed) carries producer
 * properties (acks, linger.ms, batch.size, compression.type, partitioner,
 * buffer.memory, max.block.ms, delivery.timeout.ms); setting a property of
 * another scope is LG_ERR_INVALID_CONFIG.  The producer must be destroyed
 * before the engine is closed.  Any thread. */
LG_API lg_err_t lg_producer_new(lg_engine_t *engine, const lg_conf_t *conf,
                                lg_producer_t **producerp);

/* Sets the delivery callback and its opaque (NULL callback: no reports are
 * kept).  Call before the first lg_produce.  Not concurrently with
 * lg_producer_poll. */
LG_API lg_err_t lg_producer_set_delivery_callback(lg_producer_t *producer,
                                                  lg_delivery_fn callback,
                                                  void *opaque);

/* Queues one record for topic.  partition is an index or LG_PARTITION_ANY
 * (the configured partitioner picks one).  key/value as lg_records_add
 * (NULL = null), copied; records with headers go through
 * lg_produce_records.  timestamp is ms or LG_TIMESTAMP_NOW.  Errors:
 * LG_ERR_UNKNOWN_TOPIC, LG_ERR_UNKNOWN_PARTITION, LG_ERR_RECORD_TOO_LARGE,
 * LG_ERR_QUEUE_FULL (buffer.memory exhausted and max.block.ms passed),
 * LG_ERR_CLOSED.  On error no delivery report will come for this record.
 * Any thread. */
LG_API lg_err_t lg_produce(lg_producer_t *producer, const char *topic,
                           int32_t partition, const void *key, size_t key_len,
                           const void *value, size_t value_len,
                           int64_t timestamp, void *message_opaque);

/* As lg_produce, for every record of records (borrowed; with headers),
 * all to the same partition (chosen once, from the first record's key,
 * when partition is LG_PARTITION_ANY), each reported separately with
 * message_opaque.  Any thread. */
LG_API lg_err_t lg_produce_records(lg_producer_t *producer, const char *topic,
                                   int32_t partition,
                                   const lg_records_t *records,
                                   void *message_opaque);

/* Serves pending delivery reports by calling the delivery callback on the
 * calling thread, waiting up to timeout_ms (0: don't wait, -1: forever)
 * for at least one.  Returns the number of reports served (>= 0).  One
 * thread at a time per producer. */
LG_API int lg_producer_poll(lg_producer_t *producer, int timeout_ms);

/* Sends every queued batch now (ignoring linger.ms) and serves delivery
 * reports until all records produced before the call are reported or
 * timeout_ms passes (LG_ERR_TIMED_OUT; -1 waits forever).  Same thread
 * rules as lg_producer_poll. */
LG_API lg_err_t lg_producer_flush(lg_producer_t *producer, int timeout_ms);

/* Records produced and not yet reported (queued, in flight, or waiting in
 * the report queue).  Any thread. */
LG_API size_t lg_producer_queue_length(const lg_producer_t *producer);

/* A file descriptor (eventfd) that becomes readable when delivery reports
 * are waiting, for epoll/poll loops; lg_producer_poll drains it.  Owned by
 * the producer: do not close it.  Any thread. */
LG_API int lg_producer_eventfd(const lg_producer_t *producer);

/* Stops the producer: records still queued are failed with LG_ERR_CLOSED
 * without a delivery report (call lg_producer_flush first to deliver
 * them), in-flight appends are waited for, memory is freed.  NULL is a
 * no-op.  Not concurrently with other calls on the producer. */
LG_API void lg_producer_destroy(lg_producer_t *producer);

/* Transactions (Kafka's exactly-once producer), for a producer created
 * with transactional.id.  lg_producer_init_transactions (once) takes the
 * producer id and a new epoch from the engine's transaction coordinator:
 * an older producer with the same transactional.id is fenced (its calls
 * fail with LG_ERR_PRODUCER_FENCED) and its open transaction aborted.
 * Between begin and commit/abort, lg_produce is allowed (elsewhere it
 * gives LG_ERR_STATE); the records of a transaction, and the group
 * offsets sent with it, become visible together on commit or never.
 * Commit and abort first flush (up to timeout_ms, -1 forever:
 * LG_ERR_TIMED_OUT leaves the transaction open, call again).  Commit
 * gives LG_ERR_TXN_ABORTABLE when a record failed: abort then.  A
 * transaction open longer than transaction.timeout.ms is aborted by the
 * engine and its producer fenced.  The calls are not thread-safe with
 * each other or with lg_produce on the same producer. */
struct lg_topic_partition_list; /* lg_topic_partition_list_t, below */
LG_API lg_err_t lg_producer_init_transactions(lg_producer_t *producer);
LG_API lg_err_t lg_producer_begin_transaction(lg_producer_t *producer);
LG_API lg_err_t lg_producer_commit_transaction(lg_producer_t *producer,
                                               int timeout_ms);
LG_API lg_err_t lg_producer_abort_transaction(lg_producer_t *producer,
                                              int timeout_ms);
/* Commits offsets (entries with offset >= 0; the next record to consume)
 * of consumer group group_id as part of the open transaction: written to
 * __consumer_offsets only if the transaction commits.  One group per
 * transaction (LG_ERR_INVALID_ARG otherwise). */
LG_API lg_err_t lg_producer_send_offsets_to_transaction(
    lg_producer_t *producer, const struct lg_topic_partition_list *offsets,
    const char *group_id);

/* ------------------------------------------------------------------------
 * Consumer
 *
 * A consumer reads assigned partitions from its own positions.  Messages
 * returned by lg_consumer_poll / lg_consumer_poll_batch point into the
 * consumer's fetch buffers without copying, and stay valid until the next
 * poll call on the same consumer or lg_consumer_destroy.
 * --------------------------------------------------------------------- */

typedef struct lg_consumer lg_consumer_t;

/* Special offsets for assign/seek. */
#define LG_OFFSET_BEGINNING (-2) /* the log start offset */
#define LG_OFFSET_END (-1)       /* the log end offset (the LSO under
                                    read_committed): only new records */

/* A new consumer on engine; conf (may be NULL; borrowed) carries consumer
 * properties (enable.partition.eof, fetch.max.bytes,
 * max.partition.fetch.bytes, auto.offset.reset, isolation.level, and for
 * groups group.id, group.instance.id, partition.assignment.strategy,
 * session.timeout.ms, max.poll.interval.ms, enable.auto.commit,
 * auto.commit.interval.ms).  isolation.level is read_committed by default
 * (librdkafka's default): a partition's end is then its last stable offset
 * (lg_watermarks_lso) for reads, EOF events, LG_OFFSET_END and
 * auto.offset.reset, and records of aborted transactions are skipped;
 * read_uncommitted returns every record.  Transaction markers are never
 * returned.  Destroy it before closing the engine.  Any thread. */
LG_API lg_err_t lg_consumer_new(lg_engine_t *engine, const lg_conf_t *conf,
                                lg_consumer_t **consumerp);

/* Adds partition of topic to the assignment, positioned at offset (an
 * offset, LG_OFFSET_BEGINNING or LG_OFFSET_END).  Re-assigning an assigned
 * partition moves its position.  One thread at a time per consumer. */
LG_API lg_err_t lg_consumer_assign(lg_consumer_t *consumer, const char *topic,
                                   int32_t partition, int64_t offset);

/* Removes partition of topic from the assignment (LG_ERR_STATE if not
 * assigned). */
LG_API lg_err_t lg_consumer_unassign(lg_consumer_t *consumer,
                                     const char *topic, int32_t partition);

/* Moves the position of an assigned partition: an offset,
 * LG_OFFSET_BEGINNING or LG_OFFSET_END. */
LG_API lg_err_t lg_consumer_seek(lg_consumer_t *consumer, const char *topic,
                                 int32_t partition, int64_t offset);

/* Moves the position to the first record with timestamp >= timestamp_ms
 * (the log end when none). */
LG_API lg_err_t lg_consumer_seek_timestamp(lg_consumer_t *consumer,
                                           const char *topic,
                                           int32_t partition,
                                           int64_t timestamp_ms);

/* The offset of the next record poll will return for the partition. */
LG_API lg_err_t lg_consumer_position(lg_consumer_t *consumer,
                                     const char *topic, int32_t partition,
                                     int64_t *offsetp);

/* Returns the next message of any assigned partition, waiting up to
 * timeout_ms (0: don't wait; -1: forever) for one to arrive; a wait is
 * ended within microseconds by a new record, lg_consumer_wakeup, or the
 * timeout.  *messagep is NULL on timeout or wakeup (LG_OK).  With
 * enable.partition.eof, reaching a partition's end yields a message whose
 * lg_message_error() is LG_ERR_PARTITION_EOF (once per arrival at the
 * end).  One thread at a time per consumer. */
LG_API lg_err_t lg_consumer_poll(lg_consumer_t *consumer, int timeout_ms,
                                 const lg_message_t **messagep);

/* As lg_consumer_poll, filling messages[0..max) and *countp with as many
 * messages as are ready (at least one unless it times out). */
LG_API lg_err_t lg_consumer_poll_batch(lg_consumer_t *consumer,
                                       int timeout_ms,
                                       const lg_message_t **messages,
                                       size_t max, size_t *countp);

/* Ends a blocking poll on another thread early.  Any thread. */
LG_API void lg_consumer_wakeup(lg_consumer_t *consumer);

/* A file descriptor (eventfd) that becomes readable when poll has
 * something to return (new records in an assigned partition, or a
 * wakeup); lg_consumer_poll drains it.  Owned by the consumer.  Any
 * thread. */
LG_API int lg_consumer_eventfd(const lg_consumer_t *consumer);

/* Frees the consumer and invalidates its messages.  A group member first
 * commits positions (enable.auto.commit) and leaves its group, without
 * calling callbacks; a static member (group.instance.id) keeps its place
 * for session.timeout.ms instead.  NULL is a no-op. */
LG_API void lg_consumer_destroy(lg_consumer_t *consumer);

/* ------------------------------------------------------------------------
 * Topic-partition lists
 *
 * An ordered list of (topic, partition, offset) entries: what rebalance and
 * commit callbacks receive, what commits and lg_consumer_committed take.
 * Lists handed to a callback are borrowed for the call; lists the
 * application creates are freed with lg_topic_partition_list_destroy.
 * --------------------------------------------------------------------- */

typedef struct lg_topic_partition_list lg_topic_partition_list_t;

/* Offset meaning "the group's committed offset, else auto.offset.reset"
 * (entries of an assign event carry it). */
#define LG_OFFSET_STORED (-1000)
/* Offset meaning "none" (lg_consumer_committed with nothing committed). */
#define LG_OFFSET_INVALID (-1001)

/* A new empty list, or NULL on allocation failure.  One thread at a time
 * per list. */
LG_API lg_topic_partition_list_t *lg_topic_partition_list_new(void);
/* Frees list.  NULL is a no-op. */
LG_API void lg_topic_partition_list_destroy(lg_topic_partition_list_t *list);
/* Appends (topic, partition, offset); topic is copied.  LG_ERR_INVALID_ARG
 * for NULL list/topic or a negative partition; LG_ERR_NOMEM. */
LG_API lg_err_t lg_topic_partition_list_add(lg_topic_partition_list_t *list,
                                            const char *topic,
                                            int32_t partition,
                                            int64_t offset);
/* Number of entries (0 for NULL). */
LG_API size_t lg_topic_partition_list_count(
    const lg_topic_partition_list_t *list);
/* Entry index's topic (valid as long as the list), partition and offset;
 * NULL / -1 / LG_OFFSET_INVALID when index is out of range. */
LG_API const char *lg_topic_partition_list_topic(
    const lg_topic_partition_list_t *list, size_t index);
LG_API int32_t lg_topic_partition_list_partition(
    const lg_topic_partition_list_t *list, size_t index);
LG_API int64_t lg_topic_partition_list_offset(
    const lg_topic_partition_list_t *list, size_t index);
/* Sets entry index's offset.  LG_ERR_INVALID_ARG when out of range. */
LG_API lg_err_t lg_topic_partition_list_set_offset(
    lg_topic_partition_list_t *list, size_t index, int64_t offset);

/* ------------------------------------------------------------------------
 * Consumer groups
 *
 * A consumer created with group.id joins its group with
 * lg_consumer_subscribe.  The engine's in-process coordinator assigns the
 * partitions of the subscribed topics among the group's members with the
 * configured partition.assignment.strategy, and rebalances when members
 * join, leave or are evicted (no call for session.timeout.ms, no poll for
 * max.poll.interval.ms), or when the subscribed topics change.  Every
 * change reaches the application from its own lg_consumer_poll, through
 * the rebalance callback; without one the library assigns and revokes by
 * itself.  Committed offsets live in the internal topic __consumer_offsets
 * and survive restarts.  See liblog(7), "Consumer groups".
 * --------------------------------------------------------------------- */

/* Rebalance callback: event is LG_ERR_ASSIGN_PARTITIONS or
 * LG_ERR_REVOKE_PARTITIONS; partitions is borrowed for the call.  EAGER
 * protocol: an assign event carries the whole new assignment and a revoke
 * event all of it.  COOPERATIVE: only what is added or taken away.  The
 * callback applies the change with lg_consumer_incremental_assign /
 * lg_consumer_incremental_unassign (entries carry LG_OFFSET_STORED);
 * revoked partitions it leaves assigned are unassigned when it returns.
 * Called from lg_consumer_poll / lg_consumer_poll_batch /
 * lg_consumer_unsubscribe on the calling thread, never from a library
 * thread. */
typedef void (*lg_rebalance_fn)(void *opaque, lg_consumer_t *consumer,
                                lg_err_t event,
                                const lg_topic_partition_list_t *partitions);

/* Commit callback: the outcome of an asynchronous or automatic commit of
 * offsets (borrowed for the call).  Served from the consumer's poll. */
typedef void (*lg_commit_fn)(void *opaque, lg_consumer_t *consumer,
                             lg_err_t err,
                             const lg_topic_partition_list_t *offsets);

/* Sets the rebalance callback (NULL: the library assigns and revokes by
 * itself).  Call before lg_consumer_subscribe.  One thread at a time per
 * consumer. */
LG_API lg_err_t lg_consumer_set_rebalance_callback(lg_consumer_t *consumer,
                                                   lg_rebalance_fn callback,
                                                   void *opaque);

/* Sets the commit callback (NULL: outcomes are dropped). */
LG_API lg_err_t lg_consumer_set_commit_callback(lg_consumer_t *consumer,
                                                lg_commit_fn callback,
                                                void *opaque);

/* Joins the consumer's group.id with a subscription to topics[0..count)
 * (borrowed): names, or POSIX extended regexes when they start with '^'
 * (internal topics, named "__...", never match a regex).  A new call
 * replaces the subscription.  Partitions arrive through poll.
 * LG_ERR_INVALID_CONFIG without group.id, LG_ERR_INVALID_ARG for a bad
 * regex or name, LG_ERR_STATE when partitions were assigned manually,
 * LG_ERR_INCONSISTENT_GROUP_PROTOCOL when the group's members use another
 * assignor.  One thread at a time per consumer. */
LG_API lg_err_t lg_consumer_subscribe(lg_consumer_t *consumer,
                                      const char *const *topics,
                                      size_t count);

/* Leaves the group: revokes every group-assigned partition (calling the
 * rebalance callback on the calling thread), commits positions when
 * enable.auto.commit is set, and gives the partitions to the remaining
 * members.  LG_ERR_STATE when not subscribed. */
LG_API lg_err_t lg_consumer_unsubscribe(lg_consumer_t *consumer);

/* "EAGER" (range, roundrobin), "COOPERATIVE" (cooperative-sticky), or
 * "NONE" when the consumer is not subscribed.  Static string. */
LG_API const char *lg_consumer_rebalance_protocol(lg_consumer_t *consumer);

/* Adds partitions (borrowed) to the assignment, each at its entry's
 * offset: LG_OFFSET_STORED (committed, else auto.offset.reset), an
 * offset, LG_OFFSET_BEGINNING or LG_OFFSET_END.  Meant for the rebalance
 * callback; works outside it too. */
LG_API lg_err_t lg_consumer_incremental_assign(
    lg_consumer_t *consumer, const lg_topic_partition_list_t *partitions);

/* Removes partitions (borrowed) from the assignment; entries not assigned
 * are ignored. */
LG_API lg_err_t lg_consumer_incremental_unassign(
    lg_consumer_t *consumer, const lg_topic_partition_list_t *partitions);

/* Sets *listp to the current assignment (offsets: positions); free it
 * with lg_topic_partition_list_destroy. */
LG_API lg_err_t lg_consumer_assignment(lg_consumer_t *consumer,
                                       lg_topic_partition_list_t **listp);

/* Commits offsets for the consumer's group: the entries of offsets (the
 * offset of the next record to read, as Kafka), or with offsets NULL the
 * current position of every assigned partition.  Synchronous (async 0):
 * written to __consumer_offsets with acks=all before returning.
 * Asynchronous: written with acks=1 (survives a process crash), outcome
 * to the commit callback at the next poll.  LG_ERR_ILLEGAL_GENERATION when
 * the group has moved to a newer generation than the consumer has seen,
 * LG_ERR_UNKNOWN_MEMBER when the consumer was evicted,
 * LG_ERR_INVALID_CONFIG without group.id. */
LG_API lg_err_t lg_consumer_commit(lg_consumer_t *consumer,
                                   const lg_topic_partition_list_t *offsets,
                                   int async);

/* Sets the offset of each entry of partitions to the group's committed
 * offset for it (LG_OFFSET_INVALID when none). */
LG_API lg_err_t lg_consumer_committed(lg_consumer_t *consumer,
                                      lg_topic_partition_list_t *partitions);

/* ------------------------------------------------------------------------
 * Consumer group administration
 * --------------------------------------------------------------------- */

typedef struct lg_group_description lg_group_description_t;

/* Sets *namesp to the ids of every group with members or committed
 * offsets, sorted.  Any thread. */
LG_API lg_err_t lg_group_list(lg_engine_t *engine, lg_strings_t **namesp);

/* Describes group_id: state, assignor, generation, members and their
 * assignments, committed offsets and lag.  LG_ERR_UNKNOWN_GROUP.  Free
 * with lg_group_description_destroy.  Any thread. */
LG_API lg_err_t lg_group_describe(lg_engine_t *engine, const char *group_id,
                                  lg_group_description_t **descriptionp);
LG_API void lg_group_description_destroy(lg_group_description_t *description);
/* "Empty", "PreparingRebalance" or "Stable".  Valid as long as the
 * description. */
LG_API const char *lg_group_description_state(
    const lg_group_description_t *description);
/* The assignor name ("" for an empty group). */
LG_API const char *lg_group_description_protocol(
    const lg_group_description_t *description);
LG_API int32_t lg_group_description_generation(
    const lg_group_description_t *description);
LG_API size_t lg_group_description_member_count(
    const lg_group_description_t *description);
/* Member index's member id, group.instance.id ("" if dynamic) and
 * assignment (valid as long as the description). */
LG_API const char *lg_group_description_member_id(
    const lg_group_description_t *description, size_t index);
LG_API const char *lg_group_description_member_instance_id(
    const lg_group_description_t *description, size_t index);
LG_API const lg_topic_partition_list_t *
lg_group_description_member_assignment(
    const lg_group_description_t *description, size_t index);
/* Committed offsets of the group, one entry per partition. */
LG_API const lg_topic_partition_list_t *lg_group_description_offsets(
    const lg_group_description_t *description);
/* Lag of entry index of the offsets list: log end offset minus committed
 * offset, or -1 when the partition no longer exists. */
LG_API int64_t lg_group_description_lag(
    const lg_group_description_t *description, size_t index);

/* Deletes group_id and its committed offsets (tombstones in
 * __consumer_offsets).  LG_ERR_GROUP_NOT_EMPTY while it has members,
 * LG_ERR_UNKNOWN_GROUP.  Any thread. */
LG_API lg_err_t lg_group_delete(lg_engine_t *engine, const char *group_id);

/* Sets the committed offset of group_id for partition of topic
 * (LG_PARTITION_ANY: every partition) to offset: an offset,
 * LG_OFFSET_BEGINNING or LG_OFFSET_END (resolved now).  The group may be
 * new; LG_ERR_GROUP_NOT_EMPTY while it has members.  Any thread. */
LG_API lg_err_t lg_group_reset_offsets(lg_engine_t *engine,
                                       const char *group_id,
                                       const char *topic, int32_t partition,
                                       int64_t offset);

/* Message accessors for consumers: the topic name (valid as long as the
 * message), partition, and the error of an event message (LG_OK for a
 * record; LG_ERR_PARTITION_EOF for an end-of-partition event). */
LG_API const char *lg_message_topic(const lg_message_t *message);
LG_API int32_t lg_message_partition(const lg_message_t *message);
LG_API lg_err_t lg_message_error(const lg_message_t *message);

/* ------------------------------------------------------------------------
 * Replication (lg_engine_set_transport(3)).  The host owns the network:
 * the engine hands bytes for another node to transport->send and the host
 * hands bytes it received to lg_replica_receive; time enters only through
 * lg_engine_tick.  Without a transport an engine is single-node, exactly
 * as without this section.
 * --------------------------------------------------------------------- */

#define LG_TRANSPORT_VERSION 1

/* The host's transport.  send delivers len bytes (borrowed for the call)
 * to node_id, best effort: messages may be lost, delayed, duplicated or
 * reordered.  It runs on the thread calling lg_engine_tick,
 * lg_replica_receive or lg_append, with the engine's replication lock
 * held: it must not block for long and must not call back into the same
 * engine (queue instead).  Returns 0, or -1 (the message is dropped). */
typedef struct lg_transport {
    int version; /* LG_TRANSPORT_VERSION */
    void *opaque;
    int (*send)(void *opaque, int32_t node_id, const void *bytes, size_t len);
    void *reserved[8]; /* must be NULL */
} lg_transport_t;

/* Registers transport (copied) on engine, whose node.id property must be
 * set (>= 0), and resumes replication of every partition whose replica
 * set lg_topic_set_replicas persisted.  Once per engine.  LG_ERR_STATE
 * when already set, LG_ERR_INVALID_CONFIG without node.id or when a
 * persisted replica set does not include node.id, LG_ERR_CORRUPT when a
 * replicated partition's quorum state is damaged (then no transport is
 * set and those partitions stay held). */
LG_API lg_err_t lg_engine_set_transport(lg_engine_t *engine,
                                        const lg_transport_t *transport);

/* Replicates partition of topic over the voters nodes[0..count) (count ==
 * replication.factor, one of them this engine's node.id).  From then on
 * appends on a follower fail with LG_ERR_NOT_LEADER, acks=all appends
 * return once a majority holds the batch durably, and readers see only up
 * to the high watermark.  The assignment is persisted with the topic's
 * metadata: after lg_engine_open the partition refuses appends
 * (LG_ERR_NOT_LEADER) and shows nothing until lg_engine_set_transport,
 * which resumes its replication without another call.  Calling again
 * with the same set (any order) is a harmless no-op; a different set is
 * LG_ERR_STATE (replica set changes are not supported).  LG_ERR_STATE
 * without a transport. */
LG_API lg_err_t lg_topic_set_replicas(lg_engine_t *engine, const char *topic,
                                      int32_t partition, const int32_t *nodes,
                                      size_t count);

/* Hands len bytes received from from_node to the engine (untrusted:
 * malformed, foreign or stale messages are rejected without harm,
 * LG_ERR_CORRUPT).  LG_ERR_STATE without a transport. */
LG_API lg_err_t lg_replica_receive(lg_engine_t *engine, int32_t from_node,
                                   const void *bytes, size_t len);

/* Advances replication to host time now_ms (milliseconds, any origin,
 * never decreasing): elections, fetches, fsyncs, heartbeats, acks=all
 * timeouts.  Call every few milliseconds.  LG_OK and nothing happens
 * without a transport. */
LG_API lg_err_t lg_engine_tick(lg_engine_t *engine, int64_t now_ms);

/* The leader this engine knows for a replicated partition (-1 none), its
 * epoch and the high watermark (record offset); any pointer may be NULL.
 * LG_ERR_STATE when the partition is not replicated. */
LG_API lg_err_t lg_replica_leader(lg_engine_t *engine, const char *topic,
                                  int32_t partition, int32_t *leaderp,
                                  int32_t *epochp, int64_t *high_watermarkp);

/* Leadership transfer: called on the current leader of partition of
 * topic, it resigns in favour of target_node (a replica of the partition),
 * which starts an election at once (Kafka's preferred-leader election, in
 * KRaft terms EndQuorumEpoch).  Acknowledged records are never lost: the
 * target still needs a majority's votes, which it only gets with an
 * up-to-date log.  LG_ERR_NOT_LEADER on a follower, LG_ERR_INVALID_ARG when
 * target_node is not a replica, LG_ERR_STATE when the partition is not
 * replicated.  Any thread. */
LG_API lg_err_t lg_replica_transfer_leadership(lg_engine_t *engine,
                                               const char *topic,
                                               int32_t partition,
                                               int32_t target_node);

/* Unclean leader election, for operators only (Kafka's
 * unclean.leader.election, done by hand): makes this node leader of a new
 * epoch without any vote, for when a majority of replicas is gone for
 * good.  Records acknowledged by the old majority but missing here are
 * lost, and the other replicas truncate to this log when they come back.
 * Never called by the library itself.  LG_ERR_STATE when the partition is
 * not replicated.  Any thread. */
LG_API lg_err_t lg_replica_elect_unclean(lg_engine_t *engine,
                                         const char *topic,
                                         int32_t partition);

#ifdef __cplusplus
}
#endif
#endif /* LIBLOG_H */
