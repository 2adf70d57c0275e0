/*
 * txn_clean.h -- what compaction does with transactions: Kafka's
 * CleanedTransactionMetadata, the per-pass record of which producers are
 * inside an aborted or a committed transaction while the cleaner walks
 * batches in offset order.
 *
 * The rules are documented atop txn_clean.c.  One object per walk (the
 * key-map scan and each rewritten group get their own); not thread-safe.
 */
#ifndef LG_TXN_CLEAN_H
#define LG_TXN_CLEAN_H

#include "batch.h"
#include "liblog.h"
#include "partition.h"
#include "txnindex.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lgi_txn_clean_producer {
    int64_t producer_id;
    int seen;                  /* a batch of its transaction was walked */
    lgi_aborted_txn_t aborted; /* for producers inside an aborted one */
} lgi_txn_clean_producer_t;

typedef struct lgi_txn_clean {
    lgi_aborted_txn_t *aborted; /* overlapping the walk, by first offset */
    size_t aborted_count;
    size_t aborted_next;        /* the next one not yet entered */
    lgi_txn_clean_producer_t *aborting; /* inside an aborted transaction */
    size_t aborting_count;
    int64_t *committing;        /* walked data of a transaction whose
                                   marker is not yet walked (a commit) */
    size_t committing_count;
    size_t committing_cap;
} lgi_txn_clean_t;

/* Starts a walk of [start, upper) of partition: loads the aborted
 * transactions that may have data there (lgi_partition_aborted_txns). */
lg_err_t lgi_txn_clean_init(lgi_txn_clean_t *clean, lgi_partition_t *partition,
                            int64_t start, int64_t upper);
void lgi_txn_clean_free(lgi_txn_clean_t *clean);

/* A data batch: 1 when it belongs to an aborted transaction (the cleaner
 * drops it and leaves its keys out of the map), 0 when not, -1 out of
 * memory. */
int lgi_txn_clean_data(lgi_txn_clean_t *clean,
                       const lgi_batch_header_t *header);

/* A control batch (batch: its whole bytes).  *discardablep: the marker may
 * go once its delete horizon has passed, because no batch of its
 * transaction was walked (its data is gone already); 0 for markers that
 * are still needed and for control batches that are not transaction
 * markers.  *entryp / *has_entryp: an ABORT marker kept because its data
 * was walked gets its aborted transaction back into the cleaned segment's
 * .txnindex.  Returns 0, or -1 out of memory. */
int lgi_txn_clean_marker(lgi_txn_clean_t *clean, const uint8_t *batch,
                         const lgi_batch_header_t *header, int *discardablep,
                         lgi_aborted_txn_t *entryp, int *has_entryp);

#endif
