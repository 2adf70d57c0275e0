/*
 * fetch.c -- lg_fetch_t, a cursor over the whole record batches one read
 * returned, and the lg_message_t accessors.
 *
 * The promise to callers is strong: every lg_message_t handed out, and
 * every pointer read from one, stays valid until lg_fetch_destroy().  So
 *   - messages live in fixed-size chunks on a list and are never moved
 *     (no realloc of an array callers hold pointers into);
 *   - each compressed batch is decompressed into its own buffer, kept on a
 *     list until destroy, rather than into one reused scratch buffer;
 *   - uncompressed records point straight into the fetch's data.
 * Control batches (transaction markers) and records below the requested
 * offset are skipped, as a Kafka consumer skips them.  Under LogAppendTime
 * the batch's maxTimestamp is every record's timestamp (the iterator
 * applies it).
 *
 * read_committed: a consumer hands a fetch the aborted transactions the
 * partition returned with the batches (lgi_fetch_set_aborted), and the
 * walk skips their data exactly as Kafka's consumer does: aborted
 * transactions are taken in first-offset order; before a batch of
 * producer P is opened, every aborted transaction whose first offset is
 * <= the batch's last offset puts its producer in the "aborted" set; a
 * transactional data batch of a producer in the set is skipped; P's ABORT
 * marker takes P out of the set.  Skipping a batch copies nothing, so
 * the zero-copy walk is the same for the batches that stay.
 *
 * A consumer labels its fetches (lgi_fetch_set_source) so every message
 * names its topic and partition; the fetch owns that copy of the topic
 * name, so it lives exactly as long as the messages.  Event messages
 * (lgi_message_init_event) are lg_message_t objects with no record, made
 * by the consumer; lg_message_error tells them apart.
 *
 * lgi_fetch_new walks the batch headers once, so a malformed buffer is
 * refused up front and lg_fetch_next_offset is known before iterating.
 * The data was CRC-checked by the reader; here every batch is still
 * bounds-checked so no byte is read outside it.  The walk keeps the first
 * batch's header, which opening that batch then uses instead of parsing
 * and checking the same bytes again: a consumer at the end of a
 * partition reads one batch a fetch, so that is half its header work.
 *
 * Recycling.  A consumer polling at the end of a partition makes one
 * fetch per record, and allocating and freeing the fetch, its first
 * message chunk and its topic label was a quarter of the instructions of
 * such a poll.  So a consumer keeps used-up fetches as spares: at the
 * moment it would have destroyed one (when nothing it handed out can
 * still be in use, see consumer.c), lgi_fetch_recycle frees what belongs
 * to the records (the data, decompressed sections, the aborted lists,
 * all message chunks but one) and keeps the object, one chunk and the
 * label, and lgi_fetch_reuse points the object at the next read's data.
 * Everything a message shows is written afresh by lg_fetch_next, so a
 * reused chunk cannot show an earlier record.
 */
#include "fetch.h"

#include "alloc.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES_PER_CHUNK 64

typedef struct message_chunk {
    struct message_chunk *next;
    size_t used;
    struct lg_message messages[MESSAGES_PER_CHUNK];
} message_chunk_t;

/* A decompressed records section; its records' pointers point into it. */
typedef struct decompressed {
    struct decompressed *next;
    lgi_buf_t buf;
} decompressed_t;

struct lg_fetch {
    uint8_t *data; /* owned: the batches as read */
    size_t len;
    size_t position; /* of the next batch to open */
    int64_t start_offset;
    int64_t next_offset;
    size_t max_batch_size;
    size_t max_decompressed;
    int in_batch; /* iter is positioned inside a batch */
    lgi_record_iter_t iter;
    message_chunk_t *chunks; /* newest first */
    decompressed_t *buffers;
    lg_err_t failure; /* sticky: a corrupt fetch stays failed */
    char *topic;      /* owned copy stamped on messages; NULL for lg_read */
    int32_t partition; /* -1 for lg_read */
    /* read_committed (see the file comment): aborted transactions by
     * first offset, the next one not yet taken, and the producers whose
     * aborted data is being skipped. */
    lgi_aborted_txn_t *aborted;
    size_t aborted_count;
    size_t aborted_next;
    int64_t *skipping;
    size_t skipping_count;
    /* The header of the batch at position 0, parsed and checked by the
     * walk in fetch_open, for open_next_batch (see the file comment). */
    lgi_batch_header_t first_header;
};

/* Parses and bounds-checks the batch header at position. */
static lg_err_t batch_at(const struct lg_fetch *fetch, size_t position,
                         lgi_batch_header_t *header) {
    lg_err_t err = lgi_batch_parse_header(fetch->data + position,
                                          fetch->len - position,
                                          fetch->max_batch_size, header);
    if (err == LG_ERR_INVALID_ARG)
        return lgi_error(LG_ERR_CORRUPT,
                         "fetch: %zu trailing bytes at position %zu are too "
                         "short for a batch header",
                         fetch->len - position, position);
    if (err != LG_OK) {
        /* copied first: the message buffer is also the output */
        char cause[256];
        snprintf(cause, sizeof cause, "%s", lg_last_error_message());
        return lgi_error(err, "fetch: batch at position %zu: %s", position,
                         cause);
    }
    if (lgi_batch_size(header) > fetch->len - position)
        return lgi_error(LG_ERR_CORRUPT,
                         "fetch: batch at position %zu is %zu bytes but only "
                         "%zu remain", position, lgi_batch_size(header),
                         fetch->len - position);
    return LG_OK;
}

/* Points fetch (fresh from calloc, or recycled) at data: every field that
 * describes the records is set here, chunks and the topic label are kept.
 * On failure the fetch is left empty (no data) and data stays the
 * caller's. */
static lg_err_t fetch_open(struct lg_fetch *fetch, uint8_t *data, size_t len,
                           int64_t start_offset, size_t max_batch_size) {
    fetch->data = data;
    fetch->len = len;
    fetch->position = 0;
    fetch->start_offset = start_offset;
    fetch->next_offset = start_offset;
    fetch->max_batch_size = max_batch_size;
    /* max.message.bytes limits the compressed batch, and Kafka allows any
     * ratio, so the bound on decompression cannot be max_batch_size alone. */
    fetch->max_decompressed = max_batch_size > LGI_BATCH_MAX_DECOMPRESSED
                                  ? max_batch_size
                                  : LGI_BATCH_MAX_DECOMPRESSED;
    fetch->in_batch = 0;
    fetch->failure = LG_OK;
    fetch->aborted_count = 0;
    fetch->aborted_next = 0;
    fetch->skipping_count = 0;
    for (size_t position = 0; position < len;) {
        lgi_batch_header_t header;
        lg_err_t err = batch_at(fetch, position, &header);
        if (err != LG_OK) {
            fetch->data = NULL;
            fetch->len = 0;
            return err;
        }
        if (position == 0)
            fetch->first_header = header;
        int64_t after = lgi_batch_last_offset(&header) + 1;
        if (after > fetch->next_offset)
            fetch->next_offset = after;
        position += lgi_batch_size(&header);
    }
    return LG_OK;
}

lg_err_t lgi_fetch_new(uint8_t *data, size_t len, int64_t start_offset,
                       size_t max_batch_size, lg_fetch_t **fetchp) {
    if (!fetchp || (!data && len))
        return lgi_error(LG_ERR_INVALID_ARG, "fetch: NULL argument");
    struct lg_fetch *fetch = lgi_calloc(1, sizeof *fetch);
    if (!fetch)
        return lgi_error(LG_ERR_NOMEM, "fetch: out of memory");
    fetch->partition = -1;
    lg_err_t err = fetch_open(fetch, data, len, start_offset, max_batch_size);
    if (err != LG_OK) {
        lgi_free(fetch); /* data stays the caller's on failure */
        return err;
    }
    *fetchp = fetch;
    return LG_OK;
}

lg_err_t lgi_fetch_reuse(lg_fetch_t *fetch, uint8_t *data, size_t len,
                         int64_t start_offset, size_t max_batch_size) {
    if (!fetch || (!data && len))
        return lgi_error(LG_ERR_INVALID_ARG, "fetch: NULL argument");
    return fetch_open(fetch, data, len, start_offset, max_batch_size);
}

/* Frees the decompressed sections and all message chunks but the last
 * `keep` (0 or 1) on the list. */
static void free_records(struct lg_fetch *fetch, int keep) {
    while (fetch->chunks && (!keep || fetch->chunks->next)) {
        message_chunk_t *next = fetch->chunks->next;
        lgi_free(fetch->chunks);
        fetch->chunks = next;
    }
    if (fetch->chunks)
        fetch->chunks->used = 0;
    while (fetch->buffers) {
        decompressed_t *next = fetch->buffers->next;
        lgi_buf_free(&fetch->buffers->buf);
        lgi_free(fetch->buffers);
        fetch->buffers = next;
    }
    lgi_free(fetch->aborted);
    fetch->aborted = NULL;
    fetch->aborted_count = 0;
    lgi_free(fetch->skipping);
    fetch->skipping = NULL;
    fetch->skipping_count = 0;
    lgi_free(fetch->data);
    fetch->data = NULL;
    fetch->len = 0;
}

void lgi_fetch_recycle(lg_fetch_t *fetch) {
    free_records(fetch, 1);
}

static struct lg_message *new_message(struct lg_fetch *fetch) {
    message_chunk_t *chunk = fetch->chunks;
    if (!chunk || chunk->used == MESSAGES_PER_CHUNK) {
        chunk = lgi_malloc(sizeof *chunk);
        if (!chunk)
            return NULL;
        chunk->used = 0;
        chunk->next = fetch->chunks;
        fetch->chunks = chunk;
    }
    return &chunk->messages[chunk->used++];
}

static int compare_first_offset(const void *a, const void *b) {
    int64_t x = ((const lgi_aborted_txn_t *)a)->first_offset;
    int64_t y = ((const lgi_aborted_txn_t *)b)->first_offset;
    return x < y ? -1 : x > y;
}

lg_err_t lgi_fetch_set_aborted(lg_fetch_t *fetch, lgi_aborted_txn_t *aborted,
                               size_t count) {
    if (count == 0) {
        lgi_free(aborted);
        return LG_OK;
    }
    int64_t *skipping = lgi_malloc(count * sizeof *skipping);
    if (!skipping)
        return lgi_error(LG_ERR_NOMEM, "fetch: out of memory");
    qsort(aborted, count, sizeof *aborted, compare_first_offset);
    lgi_free(fetch->aborted);
    lgi_free(fetch->skipping);
    fetch->aborted = aborted;
    fetch->aborted_count = count;
    fetch->aborted_next = 0;
    fetch->skipping = skipping;
    fetch->skipping_count = 0;
    return LG_OK;
}

/* Kafka's consumer filter for one batch (see the file comment): 1 when
 * the batch is aborted data to skip. */
static int skip_aborted(struct lg_fetch *fetch, const uint8_t *batch,
                        const lgi_batch_header_t *header) {
    if (fetch->aborted_count == 0 || header->producer_id < 0)
        return 0;
    while (fetch->aborted_next < fetch->aborted_count &&
           fetch->aborted[fetch->aborted_next].first_offset <=
               lgi_batch_last_offset(header)) {
        int64_t producer_id = fetch->aborted[fetch->aborted_next++].producer_id;
        size_t k = 0;
        while (k < fetch->skipping_count && fetch->skipping[k] != producer_id)
            k++;
        if (k == fetch->skipping_count) /* room: at most one per entry */
            fetch->skipping[fetch->skipping_count++] = producer_id;
    }
    size_t k = 0;
    while (k < fetch->skipping_count &&
           fetch->skipping[k] != header->producer_id)
        k++;
    if (k == fetch->skipping_count)
        return 0;
    if (header->attributes & LGI_ATTR_CONTROL) {
        if (lgi_batch_control_type(batch, header) == LGI_CONTROL_ABORT)
            fetch->skipping[k] = fetch->skipping[--fetch->skipping_count];
        return 0;
    }
    return (header->attributes & LGI_ATTR_TRANSACTIONAL) != 0;
}

/* Positions the iterator on the next batch, skipping control batches
 * (and aborted data under read_committed).  Sets *end when no batch is
 * left. */
static lg_err_t open_next_batch(struct lg_fetch *fetch, int *end) {
    for (;;) {
        if (fetch->position >= fetch->len) {
            *end = 1;
            return LG_OK;
        }
        lgi_batch_header_t header;
        lg_err_t err = LG_OK;
        if (fetch->position == 0)
            header = fetch->first_header; /* checked by fetch_open */
        else
            err = batch_at(fetch, fetch->position, &header);
        if (err != LG_OK)
            return err;
        const uint8_t *batch = fetch->data + fetch->position;
        fetch->position += lgi_batch_size(&header);
        if (skip_aborted(fetch, batch, &header))
            continue;
        if (header.attributes & LGI_ATTR_CONTROL)
            continue;
        /* Every record of this batch is below start_offset: skip it
         * without decompressing. */
        if (lgi_batch_last_offset(&header) < fetch->start_offset)
            continue;
        lgi_buf_t *scratch = NULL;
        if (header.attributes & LGI_ATTR_CODEC_MASK) {
            decompressed_t *node = lgi_calloc(1, sizeof *node);
            if (!node)
                return lgi_error(LG_ERR_NOMEM,
                                 "fetch: out of memory decompressing");
            node->next = fetch->buffers;
            fetch->buffers = node;
            scratch = &node->buf;
        }
        err = lgi_record_iter_init_limit(&fetch->iter, batch, &header, scratch,
                                         fetch->max_decompressed);
        if (err != LG_OK)
            return err;
        fetch->in_batch = 1;
        *end = 0;
        return LG_OK;
    }
}

LG_API lg_err_t lg_fetch_next(lg_fetch_t *fetch,
                              const lg_message_t **messagep) {
    lgi_error_clear();
    if (messagep)
        *messagep = NULL;
    if (!fetch || !messagep)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_fetch_next: fetch and messagep must not be NULL");
    if (fetch->failure != LG_OK)
        return lgi_error(fetch->failure,
                         "lg_fetch_next: the fetch failed earlier and cannot "
                         "continue");
    lg_err_t err = LG_OK;
    for (;;) {
        if (!fetch->in_batch) {
            int end = 0;
            err = open_next_batch(fetch, &end);
            if (err != LG_OK || end)
                break;
        }
        lgi_record_t record;
        int done = 0;
        err = lgi_record_iter_next(&fetch->iter, &record, &done);
        if (err != LG_OK)
            break;
        if (done) {
            fetch->in_batch = 0;
            continue;
        }
        if (record.offset < fetch->start_offset)
            continue;
        struct lg_message *message = new_message(fetch);
        if (!message) {
            /* The iterator has already moved past this record, so a retry
             * would silently skip it: the failure is sticky. */
            fetch->failure = LG_ERR_NOMEM;
            return lgi_error(LG_ERR_NOMEM, "lg_fetch_next: out of memory");
        }
        message->record = record;
        message->leader_epoch = fetch->iter.header.partition_leader_epoch;
        message->timestamp_type =
            (fetch->iter.header.attributes & LGI_ATTR_LOG_APPEND_TIME) ? 1 : 0;
        message->topic = fetch->topic;
        message->partition = fetch->partition;
        message->error = LG_OK;
        *messagep = message;
        return LG_OK;
    }
    if (err != LG_OK && err != LG_ERR_INVALID_ARG)
        fetch->failure = err;
    return err;
}

LG_API int64_t lg_fetch_next_offset(const lg_fetch_t *fetch) {
    lgi_error_clear();
    return fetch ? fetch->next_offset : -1;
}

LG_API void lg_fetch_destroy(lg_fetch_t *fetch) {
    lgi_error_clear();
    if (!fetch)
        return;
    free_records(fetch, 0);
    lgi_free(fetch->topic);
    lgi_free(fetch);
}

lg_err_t lgi_fetch_set_source(lg_fetch_t *fetch, const char *topic,
                              int32_t partition) {
    /* A recycled fetch usually goes back to the same partition. */
    if (fetch->topic && strcmp(fetch->topic, topic) == 0) {
        fetch->partition = partition;
        return LG_OK;
    }
    char *copy = lgi_strdup(topic);
    if (!copy)
        return lgi_error(LG_ERR_NOMEM, "fetch: out of memory");
    lgi_free(fetch->topic);
    fetch->topic = copy;
    fetch->partition = partition;
    return LG_OK;
}

void lgi_message_init_event(struct lg_message *message, lg_err_t error,
                            const char *topic, int32_t partition,
                            int64_t offset) {
    memset(message, 0, sizeof *message);
    message->record.offset = offset;
    message->record.timestamp = -1;
    message->leader_epoch = -1;
    message->topic = topic;
    message->partition = partition;
    message->error = error;
}

/* ------------------------------------------------------------------------
 * Message accessors
 * --------------------------------------------------------------------- */

LG_API int64_t lg_message_offset(const lg_message_t *message) {
    lgi_error_clear();
    return message ? message->record.offset : -1;
}

LG_API int64_t lg_message_timestamp(const lg_message_t *message, int *typep) {
    lgi_error_clear();
    if (typep)
        *typep = message ? message->timestamp_type : 0;
    return message ? message->record.timestamp : -1;
}

LG_API const void *lg_message_key(const lg_message_t *message, size_t *lenp) {
    lgi_error_clear();
    if (lenp)
        *lenp = message ? message->record.key_len : 0;
    return message ? message->record.key : NULL;
}

LG_API const void *lg_message_value(const lg_message_t *message,
                                    size_t *lenp) {
    lgi_error_clear();
    if (lenp)
        *lenp = message ? message->record.value_len : 0;
    return message ? message->record.value : NULL;
}

LG_API int32_t lg_message_leader_epoch(const lg_message_t *message) {
    lgi_error_clear();
    return message ? message->leader_epoch : -1;
}

LG_API size_t lg_message_header_count(const lg_message_t *message) {
    lgi_error_clear();
    return message ? (size_t)message->record.header_count : 0;
}

LG_API lg_err_t lg_message_header(const lg_message_t *message, size_t index,
                                  const char **namep, size_t *name_lenp,
                                  const void **valuep, size_t *value_lenp) {
    lgi_error_clear();
    if (!message)
        return lgi_error(LG_ERR_INVALID_ARG, "lg_message_header: NULL message");
    const uint8_t *name = NULL, *value = NULL;
    size_t name_len = 0, value_len = 0;
    lg_err_t err = lgi_record_header(&message->record, index, &name,
                                     &name_len, &value, &value_len);
    if (err != LG_OK) {
        char cause[256];
        snprintf(cause, sizeof cause, "%s", lg_last_error_message());
        return lgi_error(err, "lg_message_header: %s", cause);
    }
    if (namep)
        *namep = (const char *)name;
    if (name_lenp)
        *name_lenp = name_len;
    if (valuep)
        *valuep = value;
    if (value_lenp)
        *value_lenp = value_len;
    return LG_OK;
}

/* Consumer accessors: an lg_read fetch has no source label, so its
 * messages give NULL / -1; every message read is a record (LG_OK). */

LG_API const char *lg_message_topic(const lg_message_t *message) {
    lgi_error_clear();
    return message ? message->topic : NULL;
}

LG_API int32_t lg_message_partition(const lg_message_t *message) {
    lgi_error_clear();
    return message ? message->partition : -1;
}

LG_API lg_err_t lg_message_error(const lg_message_t *message) {
    lgi_error_clear();
    return message ? message->error : LG_ERR_INVALID_ARG;
}
