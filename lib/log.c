/*
 * log.c -- the engine-level record API: lg_append, lg_read, lg_watermarks,
 * lg_offset_for_time.
 *
 * These entry points resolve (topic, partition) to a partition log and
 * translate between the public types and the codec.  Encoding (varints,
 * compression, CRC) happens here on the caller's thread, outside every
 * lock: the partition only stamps the base offset and leader epoch, which
 * sit outside the CRC, so the serialised section of an append is a few
 * stores and a queue push.
 */
#include "alloc.h"
#include "batch.h"
#include "compress.h"
#include "engine.h"
#include "err.h"
#include "fetch.h"
#include "records.h"

#include <inttypes.h>

/* lgi_engine_acquire reads LG_PARTITION_ANY as "the topic only"; these
 * entry points need one real partition. */
static lg_err_t acquire_partition(lg_engine_t *engine, const char *topic,
                                  int32_t partition, lgi_partition_ref_t *ref) {
    if (partition < 0 && topic)
        return lgi_error(LG_ERR_UNKNOWN_PARTITION,
                         "partition %" PRId32 " of topic \"%s\" does not "
                         "exist",
                         partition, topic);
    return lgi_engine_acquire(engine, topic, partition, ref);
}

/* The checks both read calls make before reading at offset of topic's
 * partition: the offset is not negative and the caller may read the
 * topic; on LG_OK *ref holds the partition (release it). */
static lg_err_t acquire_for_read(lg_engine_t *engine, const char *topic,
                                 int32_t partition, int64_t offset,
                                 lgi_partition_ref_t *ref) {
    if (offset < 0)
        return lgi_error(LG_ERR_OFFSET_OUT_OF_RANGE,
                         "offset %" PRId64 " is negative", offset);
    lg_err_t err = lgi_authorize(engine, LG_OP_READ, LG_RESOURCE_TOPIC, topic);
    if (err)
        return err;
    return acquire_partition(engine, topic, partition, ref);
}

LG_API lg_err_t lg_append(lg_engine_t *engine, const char *topic,
                          int32_t partition, const lg_records_t *records,
                          int acks, int64_t *base_offsetp) {
    lgi_error_clear();
    if (!engine || !topic || !records)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_append: engine, topic and records must not be "
                         "NULL");
    if (acks != LG_ACKS_NONE && acks != LG_ACKS_LEADER && acks != LG_ACKS_ALL)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "acks must be 0, 1 or -1 (all), got %d", acks);
    if (records->count == 0)
        return lgi_error(LG_ERR_INVALID_ARG, "lg_append: no records to append");

    lg_err_t err = lgi_authorize(engine, LG_OP_WRITE, LG_RESOURCE_TOPIC, topic);
    if (err)
        return err;
    lgi_partition_ref_t ref;
    err = acquire_partition(engine, topic, partition, &ref);
    if (err)
        return err;
    const lg_conf_t *conf = &ref.conf;

    lgi_batch_options_t options;
    lgi_batch_options_init(&options);
    options.now_ms = lgi_engine_now_ms(engine);
    if (lgi_conf_int(conf, LGI_CONF_COMPRESSION_TYPE) ==
        LGI_COMPRESSION_ZSTD) {
        options.codec = LGI_CODEC_ZSTD;
        options.zstd_level = (int)lgi_conf_int(conf,
                                               LGI_CONF_COMPRESSION_ZSTD_LEVEL);
    }
    options.log_append_time =
        lgi_conf_int(conf, LGI_CONF_MESSAGE_TIMESTAMP_TYPE) ==
        LGI_TIMESTAMP_LOG_APPEND_TIME;

    /* Reject what can never fit before paying for the encoding. */
    int64_t max_bytes = lgi_conf_int(conf, LGI_CONF_MAX_MESSAGE_BYTES);
    if (options.codec == LGI_CODEC_NONE &&
        records->payload_bytes > (size_t)max_bytes) {
        lgi_engine_release(engine, &ref);
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "records hold %zu bytes, over max.message.bytes "
                         "%" PRId64 " of topic \"%s\"",
                         records->payload_bytes, max_bytes, topic);
    }

    lgi_buf_t batch = LGI_BUF_INIT;
    if ((err = lgi_batch_encode(&batch, records, &options))) {
        lgi_buf_free(&batch);
    } else if (batch.len > (size_t)max_bytes) {
        err = lgi_error(LG_ERR_RECORD_TOO_LARGE,
                        "record batch of %zu bytes is over max.message.bytes "
                        "%" PRId64 " of topic \"%s\"",
                        batch.len, max_bytes, topic);
        lgi_buf_free(&batch);
    } else {
        /* Ownership of the encoded bytes passes to the partition. */
        err = lgi_partition_append(ref.partition, batch.data, batch.len, acks,
                                   options.now_ms, base_offsetp);
    }
    lgi_engine_release(engine, &ref);
    return err;
}

LG_API lg_err_t lg_read(lg_engine_t *engine, const char *topic,
                        int32_t partition, int64_t offset, size_t max_bytes,
                        lg_fetch_t **fetchp) {
    lgi_error_clear();
    if (!engine || !topic || !fetchp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_read: engine, topic and fetchp must not be NULL");
    *fetchp = NULL;
    lgi_partition_ref_t ref;
    lg_err_t err = acquire_for_read(engine, topic, partition, offset, &ref);
    if (err)
        return err;
    uint8_t *data = NULL;
    size_t len = 0;
    err = lgi_partition_read(ref.partition, offset, max_bytes, &data, &len);
    lgi_engine_release(engine, &ref);
    if (err)
        return err;
    /* On failure ownership of data stays here. */
    if ((err = lgi_fetch_new(data, len, offset, LGI_BATCH_MAX_DECOMPRESSED,
                             fetchp)))
        lgi_free(data);
    return err;
}

LG_API lg_err_t lg_read_committed(lg_engine_t *engine, const char *topic,
                                  int32_t partition, int64_t offset,
                                  size_t max_bytes, lg_fetch_t **fetchp) {
    lgi_error_clear();
    if (!engine || !topic || !fetchp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_read_committed: engine, topic and fetchp must "
                         "not be NULL");
    *fetchp = NULL;
    lgi_partition_ref_t ref;
    lg_err_t err = acquire_for_read(engine, topic, partition, offset, &ref);
    if (err)
        return err;
    uint8_t *data = NULL;
    size_t len = 0;
    int64_t stable = offset;
    lgi_aborted_txn_t *aborted = NULL;
    size_t aborted_count = 0;
    err = lgi_partition_read_committed(ref.partition, offset, max_bytes, &data,
                                       &len, &stable, &aborted,
                                       &aborted_count);
    lgi_engine_release(engine, &ref);
    if (err)
        return err;
    /* Nothing below the LSO although offset is: a gap the cleaner left,
     * which the reader steps over. */
    int64_t start = len == 0 && stable > offset ? stable : offset;
    if ((err = lgi_fetch_new(data, len, start, LGI_BATCH_MAX_DECOMPRESSED,
                             fetchp))) {
        lgi_free(data);
        lgi_free(aborted);
        return err;
    }
    if ((err = lgi_fetch_set_aborted(*fetchp, aborted, aborted_count))) {
        lgi_free(aborted);
        lg_fetch_destroy(*fetchp);
        *fetchp = NULL;
    }
    return err;
}

LG_API lg_err_t lg_watermarks(lg_engine_t *engine, const char *topic,
                              int32_t partition, int64_t *lowp,
                              int64_t *highp) {
    lgi_error_clear();
    lgi_partition_ref_t ref;
    lg_err_t err = acquire_partition(engine, topic, partition, &ref);
    if (err)
        return err;
    lgi_partition_watermarks(ref.partition, lowp, highp);
    lgi_engine_release(engine, &ref);
    return LG_OK;
}

LG_API lg_err_t lg_watermarks_lso(lg_engine_t *engine, const char *topic,
                                  int32_t partition, int64_t *lsop) {
    lgi_error_clear();
    if (!lsop)
        return lgi_error(LG_ERR_INVALID_ARG, "lsop must not be NULL");
    lgi_partition_ref_t ref;
    lg_err_t err = acquire_partition(engine, topic, partition, &ref);
    if (err)
        return err;
    *lsop = lgi_partition_last_stable_offset(ref.partition);
    lgi_engine_release(engine, &ref);
    return LG_OK;
}

LG_API lg_err_t lg_offset_for_time(lg_engine_t *engine, const char *topic,
                                   int32_t partition, int64_t timestamp_ms,
                                   int64_t *offsetp) {
    lgi_error_clear();
    if (!offsetp)
        return lgi_error(LG_ERR_INVALID_ARG, "offsetp must not be NULL");
    lgi_partition_ref_t ref;
    lg_err_t err = acquire_partition(engine, topic, partition, &ref);
    if (err)
        return err;
    err = lgi_partition_offset_for_time(ref.partition, timestamp_ms, offsetp);
    lgi_engine_release(engine, &ref);
    return err;
}

lg_err_t lgi_engine_replay(lg_engine_t *engine, const char *topic,
                           int32_t partition, lgi_replay_fn apply,
                           void *opaque) {
    int64_t offset, end;
    lg_err_t err = lg_watermarks(engine, topic, partition, &offset, &end);
    while (err == LG_OK && offset < end) {
        lg_fetch_t *fetch;
        if ((err = lg_read(engine, topic, partition, offset, 1 << 20,
                           &fetch)) != LG_OK)
            break;
        const lg_message_t *message;
        while (err == LG_OK &&
               (err = lg_fetch_next(fetch, &message)) == LG_OK && message)
            err = apply(opaque, message);
        int64_t next = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        if (next <= offset)
            break; /* no progress: nothing more is readable */
        offset = next;
    }
    return err;
}
