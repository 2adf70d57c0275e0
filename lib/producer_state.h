/*
 * producer_state.h -- one partition's idempotent-producer table, as
 * Kafka's ProducerStateManager: producer id -> epoch and the last
 * LGI_PRODUCER_STATE_BATCHES batches (first/last sequence, first/last
 * offset), used to drop retried duplicates and refuse gaps.
 *
 * Not thread-safe: the partition calls it under its mutex.  The file
 * format of snapshots is documented atop producer_state.c.
 */
#ifndef LG_PRODUCER_STATE_H
#define LG_PRODUCER_STATE_H

#include "batch.h"
#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

/* Batches remembered per producer for duplicate detection (Kafka's
 * NUM_BATCHES_TO_RETAIN, which also bounds max.in.flight). */
#define LGI_PRODUCER_STATE_BATCHES 5

typedef struct lgi_producer_state lgi_producer_state_t;

lgi_producer_state_t *lgi_producer_state_new(void);
void lgi_producer_state_free(lgi_producer_state_t *state); /* NULL no-op */

/* Outcome of checking a batch against the table. */
typedef enum lgi_sequence_verdict {
    LGI_SEQUENCE_OK = 0,        /* append it */
    LGI_SEQUENCE_DUPLICATE = 1, /* already in the log: offsets set */
    LGI_SEQUENCE_OUT_OF_ORDER = 2,
    LGI_SEQUENCE_FENCED = 3     /* epoch older than the producer's */
} lgi_sequence_verdict_t;

/* Checks header (a batch with producer_id >= 0 about to be appended).
 * For DUPLICATE, *first_offsetp and *last_offsetp get the offsets the
 * original batch was given.  Control batches are never duplicates or out
 * of order; only fencing applies to them. */
lgi_sequence_verdict_t lgi_producer_state_check(
    const lgi_producer_state_t *state, const lgi_batch_header_t *header,
    int64_t *first_offsetp, int64_t *last_offsetp);

/* Records an appended batch: its producer's epoch, sequences and offsets
 * (header->base_offset must be the assigned base).  Batches whose last
 * offset is below stable_end (what can no longer be rolled back) are
 * dropped beyond the retained LGI_PRODUCER_STATE_BATCHES, so after a
 * rollback the last stable batch of every producer is still known.
 * append_ms is when the batch was appended (what expiry measures; when
 * replaying the log, the batch's max timestamp stands in for it).
 * LG_ERR_NOMEM on allocation failure (nothing changed). */
lg_err_t lgi_producer_state_update(lgi_producer_state_t *state,
                                   const lgi_batch_header_t *header,
                                   int64_t stable_end, int64_t append_ms);

/* Transactions: the table also tracks each producer's open transaction
 * (a transactional data batch opens it, a control batch closes it).
 * Returns the smallest first offset of a transaction that is open, or
 * whose marker is at or above published_end (closed at hand-off but not
 * yet readable: Kafka's "unreplicated" transactions), -1 when none: the
 * last stable offset is that (or the readable end).  Only the latest
 * closed transaction of each producer is remembered. */
int64_t lgi_producer_state_first_unstable(const lgi_producer_state_t *state,
                                          int64_t published_end);

/* For an ABORT marker of producer_id about to be recorded at
 * marker_offset (call before lgi_producer_state_update closes the
 * transaction): the transaction's first offset (the marker's own when the
 * producer has none open) and the LSO Kafka stores in the transaction
 * index -- the first offset of the oldest open transaction of another
 * producer, else marker_offset + 1. */
void lgi_producer_state_aborted_txn(const lgi_producer_state_t *state,
                                    int64_t producer_id,
                                    int64_t marker_offset,
                                    int64_t *first_offsetp,
                                    int64_t *last_stable_offsetp);

/* Calls fn for every producer with an open transaction (its first
 * offset), in producer id order; stops at and returns fn's first non-zero
 * return, else 0. */
int lgi_producer_state_each_open_txn(const lgi_producer_state_t *state,
                                     int (*fn)(void *opaque,
                                               int64_t producer_id,
                                               int64_t first_offset),
                                     void *opaque);

/* Forgets every batch at or above offset (log rollback or truncation).
 * A producer left without batches stays known, expecting the first
 * sequence that was removed (see producer_state.c). */
void lgi_producer_state_truncate(lgi_producer_state_t *state, int64_t offset);

/* Producers silent this long are forgotten (Kafka's broker setting
 * producer.id.expiration.ms, default one day), so a process that creates
 * many short-lived producers does not grow every partition's table (and
 * snapshot) without bound.  Each producer gets a fresh id, so a forgotten
 * one never comes back. */
#define LGI_PRODUCER_ID_EXPIRATION_MS (24LL * 3600 * 1000)

/* Removes the producers whose newest batch was appended before
 * cutoff_ms. */
void lgi_producer_state_expire(lgi_producer_state_t *state, int64_t cutoff_ms);

/* Number of producers in the table (tests, stats). */
size_t lgi_producer_state_count(const lgi_producer_state_t *state);

/* Epoch and last sequence of producer_id; -1 when unknown. */
int lgi_producer_state_lookup(const lgi_producer_state_t *state,
                              int64_t producer_id, int16_t *epochp,
                              int32_t *last_sequencep);

/* Writes "<dir>/<20-digit offset>.snapshot" (temp then rename, without
 * fsync: a lost or torn snapshot only means a rebuild from the log): the
 * table as of offset, which must be the end of everything recorded and
 * durable in the log. */
lg_err_t lgi_producer_state_write_snapshot(const lgi_producer_state_t *state,
                                           const char *dir, int64_t offset);

/* Loads the newest valid snapshot in dir whose offset is <= log_end into
 * state (emptied first) and sets *offsetp to its offset (-1 when none is
 * usable: the caller rebuilds from the log start).  Deletes snapshots
 * above log_end (they describe truncated data) and corrupt ones, and all
 * but the two newest that remain. */
lg_err_t lgi_producer_state_load_latest(lgi_producer_state_t *state,
                                        const char *dir, int64_t log_end,
                                        int64_t *offsetp);

#endif
