/*
 * fetch.h -- lg_fetch_t and lg_message_t: decoded views over batches read
 * from a partition.
 *
 * A fetch owns one buffer of whole, CRC-validated batches (filled by the
 * reader, see partition.h) and walks them; lg_message_t objects live in the
 * fetch and point into its buffers, so reading a record copies nothing
 * unless the batch was compressed.
 */
#ifndef LG_FETCH_H
#define LG_FETCH_H

#include "batch.h"
#include "buf.h"
#include "liblog.h"
#include "txnindex.h"

struct lg_message {
    lgi_record_t record;
    int32_t leader_epoch;
    int timestamp_type; /* 0 CreateTime, 1 LogAppendTime */
    /* Where the message came from, for consumers that read many partitions
     * at once: set from lgi_fetch_set_source (NULL / -1 for an lg_read
     * fetch).  topic points at a string owned by the same fetch (or event),
     * so it lives exactly as long as the message. */
    const char *topic;
    int32_t partition;
    /* LG_OK for a record; an event message (end of partition, a
     * partition-level failure) carries its code here and no record. */
    lg_err_t error;
};

/* Creates a fetch taking ownership of data (the batches, len bytes, from
 * lgi_malloc; freed by lg_fetch_destroy).  Records with offsets below
 * start_offset are skipped; control batches are skipped.  max_batch_size
 * bounds each batch; decompression is bounded by the larger of it and
 * LGI_BATCH_MAX_DECOMPRESSED (max.message.bytes limits the compressed size
 * only).  Every batch header is checked here, so a buffer that is not a
 * sequence of whole batches gives LG_ERR_CORRUPT; ownership of data passes
 * on success only.  lg_fetch_next_offset is then one past the last offset
 * of the last batch (control batches included), or start_offset if larger
 * or the buffer is empty.  The CRC is not re-checked (the reader did). */
lg_err_t lgi_fetch_new(uint8_t *data, size_t len, int64_t start_offset,
                       size_t max_batch_size, lg_fetch_t **fetchp);

/* Recycling (fetch.c): lgi_fetch_recycle frees what fetch holds for its
 * records -- the data, decompressed sections, aborted lists, every
 * message chunk but one -- and keeps the object, one chunk and the topic
 * label, so every message and pointer it handed out is invalid from then
 * on, as after lg_fetch_destroy.  lgi_fetch_reuse then makes a recycled
 * fetch what lgi_fetch_new would have made of data (same arguments, same
 * checks, same ownership: data passes on success only; on failure the
 * fetch stays recycled, ready for another reuse or lg_fetch_destroy).
 * The label stays until lgi_fetch_set_source changes it. */
void lgi_fetch_recycle(lg_fetch_t *fetch);
lg_err_t lgi_fetch_reuse(lg_fetch_t *fetch, uint8_t *data, size_t len,
                         int64_t start_offset, size_t max_batch_size);

/* read_committed: the aborted transactions (count entries, lgi_malloc'd;
 * ownership passes on success, and always when count is 0) whose data the
 * walk skips, as Kafka's consumer does (algorithm atop fetch.c).  Call
 * before the first lg_fetch_next.  LG_ERR_NOMEM leaves the fetch
 * unfiltered and aborted the caller's. */
lg_err_t lgi_fetch_set_aborted(lg_fetch_t *fetch, lgi_aborted_txn_t *aborted,
                               size_t count);

/* Labels every message fetch hands out from now on with topic (copied
 * into the fetch) and partition.  LG_ERR_NOMEM leaves the fetch
 * unlabelled but usable. */
lg_err_t lgi_fetch_set_source(lg_fetch_t *fetch, const char *topic,
                              int32_t partition);

/* Initialises message as an event: no record (offset as given, null key
 * and value, no headers, timestamp -1), the given error, topic (borrowed:
 * the caller keeps it alive as long as the message) and partition. */
void lgi_message_init_event(struct lg_message *message, lg_err_t error,
                            const char *topic, int32_t partition,
                            int64_t offset);

#endif
