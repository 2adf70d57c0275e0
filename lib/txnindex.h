/*
 * txnindex.h -- the aborted-transaction index of one segment
 * (<base>.txnindex), Kafka's TransactionIndex, and the replay that
 * rebuilds it from the log.
 *
 * The file layout and the rules (what an entry says, when it is written,
 * how a reader collects the aborted transactions of a fetched range) are
 * documented atop txnindex.c.
 *
 * Thread-safety: none; the owning partition serialises access under its
 * mutex (readers copy what they need out under it).  The replay
 * (lgi_txn_replay_t) is a private object of whoever runs it.
 */
#ifndef LG_TXNINDEX_H
#define LG_TXNINDEX_H

#include "batch.h"
#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

#define LGI_TXNINDEX_ENTRY_SIZE 34
#define LGI_TXNINDEX_VERSION 0

/* Control record types (the key's second int16; Kafka's
 * ControlRecordType). */
enum {
    LGI_CONTROL_ABORT = 0,
    LGI_CONTROL_COMMIT = 1,
};

/* One aborted transaction of one producer in this partition. */
typedef struct lgi_aborted_txn {
    int64_t producer_id;
    int64_t first_offset;       /* its first batch in this partition, or the
                                   marker's offset when it wrote none */
    int64_t last_offset;        /* the ABORT marker's offset */
    int64_t last_stable_offset; /* the LSO when it completed (see .c) */
} lgi_aborted_txn_t;

typedef struct lgi_txnindex {
    int64_t base_offset; /* the segment's */
    lgi_aborted_txn_t *entries; /* in marker (last_offset) order */
    size_t count;
    size_t cap;
} lgi_txnindex_t;

void lgi_txnindex_init(lgi_txnindex_t *index, int64_t base_offset);
void lgi_txnindex_free(lgi_txnindex_t *index); /* entries only */
void lgi_txnindex_reset(lgi_txnindex_t *index);

/* Adds entry in memory and appends its 34 bytes to path (created 0600 if
 * missing) at the position the in-memory count says, so a file left
 * longer by an earlier failure is overwritten rather than extended.  Not
 * synced (lgi_txnindex_store with sync, at the segment's seal, is).
 * entry->last_offset must exceed the last entry's.  LG_ERR_INVALID_ARG,
 * LG_ERR_NOMEM, LG_ERR_IO / LG_ERR_DISK_FULL (the entry is then not
 * kept). */
lg_err_t lgi_txnindex_append(lgi_txnindex_t *index, const char *path,
                             const lgi_aborted_txn_t *entry);

/* Removes every entry whose marker is at or above offset (in memory; the
 * caller stores). */
void lgi_txnindex_truncate_to(lgi_txnindex_t *index, int64_t offset);

/* Loads path and validates it against the segment [base, next_offset):
 * size a multiple of 34, version 0, first <= last, last in [base,
 * next_offset) and strictly increasing, 0 <= LSO <= last + 1.  LG_ERR_IO when
 * missing or unreadable, LG_ERR_CORRUPT with a message naming the file
 * and entry when invalid; either way the index is left empty and the
 * caller rebuilds it from the log. */
lg_err_t lgi_txnindex_load(lgi_txnindex_t *index, const char *path,
                           int64_t next_offset);

/* Writes the entries to path (created 0600 if needed), truncates it to
 * exactly them, and fdatasyncs it when sync is non-zero. */
lg_err_t lgi_txnindex_store(const lgi_txnindex_t *index, const char *path,
                            int sync);

/* Kafka's collectAbortedTxns: appends to *listp (grown with lgi_realloc;
 * *countp entries, *capp capacity) every entry whose transaction may have
 * data in [fetch_offset, upper_offset): last_offset >= fetch_offset and
 * first_offset < upper_offset.  Returns 1 when an entry's LSO is >=
 * upper_offset (no later segment can hold an entry that matters: every
 * transaction that began below upper_offset had completed by then), 0
 * otherwise, -1 when out of memory. */
int lgi_txnindex_collect(const lgi_txnindex_t *index, int64_t fetch_offset,
                         int64_t upper_offset, lgi_aborted_txn_t **listp,
                         size_t *countp, size_t *capp);

/* Big-endian encode / decode of one entry (lgdump reads files with it). */
void lgi_txnindex_encode(uint8_t out[LGI_TXNINDEX_ENTRY_SIZE],
                         const lgi_aborted_txn_t *entry);
/* LG_ERR_CORRUPT when the version is not 0. */
lg_err_t lgi_txnindex_decode(const uint8_t in[LGI_TXNINDEX_ENTRY_SIZE],
                             lgi_aborted_txn_t *entry);

/* The control record type of a control batch (the whole, validated batch
 * at batch): LGI_CONTROL_ABORT, LGI_CONTROL_COMMIT or another type (a
 * leader-change marker is 2); -1 when it does not decode. */
int lgi_batch_control_type(const uint8_t *batch,
                           const lgi_batch_header_t *header);

/* ------------------------------------------------------------------------
 * Replay: rebuilding entries from the log (recovery, a lost or corrupt
 * file, a cleaned segment).  Feed every batch of the partition in offset
 * order from the log start; for each ABORT marker the replay yields the
 * entry the live path wrote (same first offset and LSO rule, as far as the
 * retained log can tell).
 * --------------------------------------------------------------------- */

typedef struct lgi_txn_replay lgi_txn_replay_t;

lgi_txn_replay_t *lgi_txn_replay_new(void);
void lgi_txn_replay_free(lgi_txn_replay_t *replay); /* NULL no-op */

/* Seeds an open transaction known from elsewhere (a producer snapshot)
 * before the walk starts.  0, or -1 out of memory. */
int lgi_txn_replay_open(lgi_txn_replay_t *replay, int64_t producer_id,
                        int64_t first_offset);

/* Feeds one batch header; control_type is the batch's control record type
 * (-1 for data batches).  For an ABORT marker *entryp is filled and 1
 * returned; 0 otherwise; -1 when out of memory. */
int lgi_txn_replay_feed(lgi_txn_replay_t *replay,
                        const lgi_batch_header_t *header, int control_type,
                        lgi_aborted_txn_t *entryp);

#endif
