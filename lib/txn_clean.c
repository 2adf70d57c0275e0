/*
 * txn_clean.c -- compaction's view of transactions (Kafka's
 * CleanedTransactionMetadata).
 *
 * Role: while the cleaner walks a range of the log in offset order, tell
 * it which data batches belong to aborted transactions and which
 * transaction markers are no longer needed.  The rules, as Kafka's:
 *
 *   - The aborted transactions that may have data in the range come from
 *     the .txnindex files (lgi_partition_aborted_txns).  Before each batch
 *     is judged, every aborted transaction whose first offset is <= the
 *     batch's last offset is "entered": its producer is now inside it.
 *   - A transactional data batch of a producer inside an aborted
 *     transaction is aborted data: dropped, and its keys stay out of the
 *     key map (an aborted value must not supersede a committed one).  It
 *     marks that transaction as seen.
 *   - Any other transactional data batch marks its producer as inside a
 *     committed transaction whose data was seen.
 *   - An ABORT marker ends its producer's aborted transaction.  If data of
 *     it was seen in this walk, the marker is kept (the data is dropped by
 *     this pass, but readers of the old files may still need the marker)
 *     and the transaction goes back into the cleaned segment's .txnindex;
 *     otherwise the marker is discardable.
 *   - A COMMIT marker is discardable when no data of its transaction was
 *     seen in this walk.
 *   - A discardable marker is not dropped at once: like a tombstone it
 *     first gets a delete horizon (now + delete.retention.ms, the batch's
 *     delete-horizon bit), so a consumer that has read the transaction's
 *     data but not yet its marker still finds the marker; a later pass
 *     drops it once the horizon has passed (cleaner.c applies this).
 *   - Control batches that are not transaction markers (no producer id,
 *     or another type) are always kept.
 *
 * The cleaner never walks past the last stable offset (cleaner.c stops
 * the dirty range before the segment holding it), so no batch judged here
 * belongs to an open transaction.
 */
#include "txn_clean.h"

#include "alloc.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

static int compare_first_offset(const void *a, const void *b) {
    int64_t x = ((const lgi_aborted_txn_t *)a)->first_offset;
    int64_t y = ((const lgi_aborted_txn_t *)b)->first_offset;
    return x < y ? -1 : x > y;
}

lg_err_t lgi_txn_clean_init(lgi_txn_clean_t *clean, lgi_partition_t *partition,
                            int64_t start, int64_t upper) {
    memset(clean, 0, sizeof *clean);
    lg_err_t err = lgi_partition_aborted_txns(partition, start, upper,
                                              &clean->aborted,
                                              &clean->aborted_count);
    if (err != LG_OK)
        return err;
    if (clean->aborted_count == 0)
        return LG_OK;
    qsort(clean->aborted, clean->aborted_count, sizeof *clean->aborted,
          compare_first_offset);
    /* At most one open aborted transaction per entry. */
    clean->aborting = lgi_calloc(clean->aborted_count,
                                 sizeof *clean->aborting);
    if (!clean->aborting) {
        lgi_txn_clean_free(clean);
        return lgi_error(LG_ERR_NOMEM, "cleaner: out of memory");
    }
    return LG_OK;
}

void lgi_txn_clean_free(lgi_txn_clean_t *clean) {
    lgi_free(clean->aborted);
    lgi_free(clean->aborting);
    lgi_free(clean->committing);
    memset(clean, 0, sizeof *clean);
}

static lgi_txn_clean_producer_t *find_aborting(lgi_txn_clean_t *clean,
                                               int64_t producer_id) {
    for (size_t i = 0; i < clean->aborting_count; i++)
        if (clean->aborting[i].producer_id == producer_id)
            return &clean->aborting[i];
    return NULL;
}

/* Enters every aborted transaction beginning at or before offset. */
static void enter_aborted(lgi_txn_clean_t *clean, int64_t offset) {
    while (clean->aborted_next < clean->aborted_count &&
           clean->aborted[clean->aborted_next].first_offset <= offset) {
        const lgi_aborted_txn_t *txn = &clean->aborted[clean->aborted_next++];
        lgi_txn_clean_producer_t *producer =
            find_aborting(clean, txn->producer_id);
        if (!producer) {
            producer = &clean->aborting[clean->aborting_count++];
            producer->producer_id = txn->producer_id;
            producer->seen = 0;
        }
        producer->aborted = *txn;
    }
}

static size_t find_committing(const lgi_txn_clean_t *clean,
                              int64_t producer_id) {
    size_t i = 0;
    while (i < clean->committing_count &&
           clean->committing[i] != producer_id)
        i++;
    return i;
}

int lgi_txn_clean_data(lgi_txn_clean_t *clean,
                       const lgi_batch_header_t *header) {
    enter_aborted(clean, lgi_batch_last_offset(header));
    if (header->producer_id < 0 ||
        !(header->attributes & LGI_ATTR_TRANSACTIONAL))
        return 0;
    lgi_txn_clean_producer_t *producer =
        find_aborting(clean, header->producer_id);
    if (producer) {
        producer->seen = 1;
        return 1;
    }
    if (find_committing(clean, header->producer_id) <
        clean->committing_count)
        return 0;
    if (clean->committing_count == clean->committing_cap) {
        size_t cap = clean->committing_cap ? clean->committing_cap * 2 : 8;
        int64_t *grown = lgi_realloc(clean->committing, cap * sizeof *grown);
        if (!grown)
            return -1;
        clean->committing = grown;
        clean->committing_cap = cap;
    }
    clean->committing[clean->committing_count++] = header->producer_id;
    return 0;
}

int lgi_txn_clean_marker(lgi_txn_clean_t *clean, const uint8_t *batch,
                         const lgi_batch_header_t *header, int *discardablep,
                         lgi_aborted_txn_t *entryp, int *has_entryp) {
    *discardablep = 0;
    *has_entryp = 0;
    enter_aborted(clean, lgi_batch_last_offset(header));
    if (header->producer_id < 0)
        return 0;
    int type = lgi_batch_control_type(batch, header);
    if (type != LGI_CONTROL_ABORT && type != LGI_CONTROL_COMMIT)
        return 0;
    /* Either marker ends whatever the producer had open. */
    size_t c = find_committing(clean, header->producer_id);
    int committed_seen = c < clean->committing_count;
    if (committed_seen)
        clean->committing[c] = clean->committing[--clean->committing_count];
    lgi_txn_clean_producer_t *producer =
        find_aborting(clean, header->producer_id);
    int aborted_seen = 0;
    if (producer) {
        aborted_seen = producer->seen;
        if (aborted_seen && type == LGI_CONTROL_ABORT) {
            *entryp = producer->aborted;
            *has_entryp = 1;
        }
        *producer = clean->aborting[--clean->aborting_count];
    }
    *discardablep = type == LGI_CONTROL_ABORT ? !aborted_seen
                                              : !committed_seen;
    return 0;
}
