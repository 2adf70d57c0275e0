/*
 * replica_log.h -- the storage adapter that runs the replication core
 * (replica.h) over a real partition log (partition.h).
 *
 * The core numbers entries 0, 1, 2, ... and assumes one entry per offset;
 * a partition stores multi-record batches at record offsets.  The adapter
 * maps one core entry to one record batch: entry i is the i-th batch of
 * the log, and an in-memory table gives each entry's base record offset
 * and leader epoch (the batch header's partitionLeaderEpoch).  Entry
 * indexes are therefore identical on every replica exactly when the logs
 * are (log matching is per batch), and every core quantity converts to a
 * record offset through lgi_replica_log_record_offset: the high watermark
 * in entries H becomes the base offset of entry H (or the log end offset).
 * This leaves the core and the wire format unchanged (the smallest correct
 * change: the core never looks inside an entry).
 *
 * Entries that arrive from another node are untrusted: append accepts only
 * exactly one CRC-valid v2 batch (or the core's leader-change marker, which
 * it writes as a one-record control batch of Kafka's LeaderChange type 2,
 * so fetch.c skips it like any control batch).  The partition stamps the
 * base offset (the log end, equal on every replica with the same prefix)
 * and the entry's epoch.
 *
 * Retention: the table holds entries [first, end); the log start
 * (first entry, its record offset, the epoch before it) is persisted in
 * "replica-log-start" before anything is deleted, so entry numbers stay
 * identical on every replica whatever each deleted (format and crash
 * rules atop replica_log.c).  The core moves it through the storage
 * table's delete_before (the leader's log start, learned in fetch
 * responses) and reset_to (a follower below the leader's log start starts
 * over there), the engine through lgi_replica_log_delete_before
 * (retention).  The table is rebuilt at open by scanning the log from the
 * persisted start.  Compaction keeps every batch in place on replicated
 * partitions (cleaner.h, keep_batches), so the table survives it.
 *
 * Not thread-safe: the owner serializes every call (the engine does it
 * under its replication lock).
 */
#ifndef LG_REPLICA_LOG_H
#define LG_REPLICA_LOG_H

#include "partition.h"
#include "replica.h"

typedef struct lgi_replica_log lgi_replica_log_t;

/* Adapts partition (borrowed until close) whose quorum state lives in file
 * state_path (copied).  Scans the log to build the entry table.
 * LG_ERR_CORRUPT when the quorum-state file is damaged, LG_ERR_STATE when
 * the log does not start at 0. */
lg_err_t lgi_replica_log_open(lgi_partition_t *partition,
                              const char *state_path, int64_t now_ms,
                              lgi_replica_log_t **logp);
void lgi_replica_log_close(lgi_replica_log_t *log);

/* The storage table the core calls (opaque = log). */
lgi_replica_storage_t lgi_replica_log_storage(lgi_replica_log_t *log);

/* Frees the buffers reads lent out.  The core holds read data only within
 * one call (it copies what it sends), so the owner calls this after every
 * lgi_replica_node_tick / receive / propose on the node using this log;
 * until then every read stays valid (the core reads many entries into one
 * fetch response before copying them). */
void lgi_replica_log_release_reads(lgi_replica_log_t *log);

/* Wall-clock time for batches the adapter writes itself (the leader-change
 * marker's timestamp) and for segment.ms -- the engine's clock, not the
 * protocol's host time. */
void lgi_replica_log_set_time(lgi_replica_log_t *log, int64_t now_ms);

/* Record offset where entry starts: its batch's base offset, or the log
 * end offset when entry is the entry count (clamped to [0, count]). */
int64_t lgi_replica_log_record_offset(lgi_replica_log_t *log, int64_t entry);

/* Entry holding record offset (the entry count when offset is at or past
 * the log end). */
int64_t lgi_replica_log_entry_of(lgi_replica_log_t *log, int64_t offset);

/* Idempotent producers, as Kafka: while proposing is set (the owner
 * proposes a batch as leader) the partition validates producer id, epoch
 * and sequence, and a retried batch it already holds is not appended:
 * the append fails and lgi_replica_log_duplicate gives the original's
 * base offset (-1 otherwise; reset by set_proposing).  Otherwise (entries
 * from the leader, the leader-change marker) batches are recorded without
 * validation, so every replica rebuilds the same producer state from the
 * log and a new leader recognises retries of what the old one appended. */
void lgi_replica_log_set_proposing(lgi_replica_log_t *log, int proposing);
int64_t lgi_replica_log_duplicate(lgi_replica_log_t *log);

/* Why the last append refused an entry (LG_OK: it did not, or it was a
 * duplicate), with a message (valid until the next append); clears it.
 * The core reports any refusal as a plain failure, so the engine asks
 * here for the cause: LG_ERR_CORRUPT (not exactly one valid batch), the
 * partition's own error (e.g. LG_ERR_OUT_OF_ORDER_SEQUENCE,
 * LG_ERR_PRODUCER_FENCED, LG_ERR_IO). */
lg_err_t lgi_replica_log_append_error(lgi_replica_log_t *log,
                                      const char **messagep);

/* Leader epoch of entry, -1 when there is no such entry. */
int32_t lgi_replica_log_epoch_at(lgi_replica_log_t *log, int64_t entry);

/* The entry after the last one (entries are numbered from 0 since the
 * partition was first replicated, retention notwithstanding). */
int64_t lgi_replica_log_count(lgi_replica_log_t *log);

/* The first entry held (0 until retention deleted some). */
int64_t lgi_replica_log_first(lgi_replica_log_t *log);

/* Retention on a replicated partition: moves the log start up to the
 * entry holding record offset (never past the end), as the storage
 * table's delete_before.  LG_OK or the partition's error. */
lg_err_t lgi_replica_log_delete_before(lgi_replica_log_t *log,
                                      int64_t offset);

/* Control record type of the leader-change marker (Kafka's LeaderChange). */
#define LGI_CONTROL_LEADER_CHANGE 2

#endif
