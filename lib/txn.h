/*
 * txn.h -- the engine's transaction coordinator (Kafka's
 * TransactionCoordinator), keyed by transactional.id.  txn.c documents
 * the state machine, the __transaction_state record layout and recovery.
 *
 * Every function takes the coordinator's mutex; none calls application
 * callbacks.  Errors carry a message (lgi_error).
 */
#ifndef LG_TXN_H
#define LG_TXN_H

#include "liblog.h"

#include <stdint.h>

#define LGI_TXN_STATE_TOPIC "__transaction_state"

/* Kafka's TransactionState values, as stored. */
enum {
    LGI_TXN_EMPTY = 0,
    LGI_TXN_ONGOING = 1,
    LGI_TXN_PREPARE_COMMIT = 2,
    LGI_TXN_PREPARE_ABORT = 3,
    LGI_TXN_COMPLETE_COMMIT = 4,
    LGI_TXN_COMPLETE_ABORT = 5
};

/* Loads __transaction_state (when it exists) and finishes every
 * transaction found in PrepareCommit / PrepareAbort.  Called by
 * lg_engine_open after the group coordinator is open. */
lg_err_t lgi_txn_open(lg_engine_t *engine);
void lgi_txn_close(lg_engine_t *engine);

/* InitProducerId: finishes a transaction left in a prepare state, aborts
 * an ongoing one (fencing its producer), then bumps the epoch (or takes a
 * new producer id when the epoch space is spent) and records it durably.
 * *producer_idp / *epochp get the identity the caller must use. */
lg_err_t lgi_txn_init(lg_engine_t *engine, const char *transactional_id,
                      int32_t timeout_ms, int64_t *producer_idp,
                      int16_t *epochp);

/* AddPartitionsToTxn: registers (topic, partition) in the open
 * transaction.  The record is written but (unless __transaction_state is
 * replicated) not yet fdatasync'd: the caller must call lgi_txn_sync after
 * it and before any data of the transaction reaches the partition.
 * LG_ERR_PRODUCER_FENCED when (producer_id, epoch) is no longer current. */
lg_err_t lgi_txn_add_partition(lg_engine_t *engine,
                               const char *transactional_id,
                               int64_t producer_id, int16_t epoch,
                               const char *topic, int32_t partition);

/* Makes every __transaction_state record written so far durable (one
 * fdatasync covers all registrations made before the call).  Any
 * thread; does not take the coordinator's lock. */
lg_err_t lgi_txn_sync(lg_engine_t *engine);

/* TxnOffsetCommit: offsets of group_id to commit with the transaction
 * (one group per transaction; a later call for the same partition
 * replaces its offset). */
lg_err_t lgi_txn_add_offsets(lg_engine_t *engine, const char *transactional_id,
                             int64_t producer_id, int16_t epoch,
                             const char *group_id,
                             const lg_topic_partition_list_t *offsets);

/* EndTxn: PrepareX durably, markers to every registered partition, the
 * offsets (commit only), CompleteX.  A transaction already in PrepareX
 * (an earlier attempt failed part way) is finished; nothing registered is
 * a no-op. */
lg_err_t lgi_txn_end(lg_engine_t *engine, const char *transactional_id,
                     int64_t producer_id, int16_t epoch, int commit);

/* Maintenance thread: aborts transactions open longer than their
 * timeout (bumping the epoch, so their producer is fenced) and retries
 * prepared ones whose completion failed. */
void lgi_txn_expire(lg_engine_t *engine);

/* Tests: the state, producer id and epoch of transactional_id; -1 when
 * unknown. */
int lgi_txn_lookup(lg_engine_t *engine, const char *transactional_id,
                   int *statep, int64_t *producer_idp, int16_t *epochp);

/* Tests only: when set to 1 the process _exit(0)s right after a
 * PrepareCommit/PrepareAbort record is durable; 2: after the markers,
 * before the Complete record. */
extern int lgi_txn_crash_point;

#endif
