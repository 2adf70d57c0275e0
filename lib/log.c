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

/* Bound on a batch's decompressed size when reading: far above anything a
 * writer within max.message.bytes produces from real data, low enough that
 * a hostile batch claiming more cannot exhaust memory. */
#define DECOMPRESSED_BATCH_MAX ((size_t)256 << 20)

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

    lgi_topic_t *t;
    lgi_partition_t *log;
    lg_err_t err = lgi_engine_partition(engine, topic, partition, &t, &log);
    if (err)
        return err;

    lgi_batch_options_t options;
    lgi_batch_options_init(&options);
    options.now_ms = lgi_engine_now_ms(engine);
    if (lgi_conf_int(&t->effective, LGI_CONF_COMPRESSION_TYPE) ==
        LGI_COMPRESSION_ZSTD) {
        options.codec = LGI_CODEC_ZSTD;
        options.zstd_level = (int)lgi_conf_int(&t->effective,
                                               LGI_CONF_COMPRESSION_ZSTD_LEVEL);
    }
    options.log_append_time =
        lgi_conf_int(&t->effective, LGI_CONF_MESSAGE_TIMESTAMP_TYPE) ==
        LGI_TIMESTAMP_LOG_APPEND_TIME;

    /* Reject what can never fit before paying for the encoding. */
    int64_t max_bytes = lgi_conf_int(&t->effective, LGI_CONF_MAX_MESSAGE_BYTES);
    if (options.codec == LGI_CODEC_NONE &&
        records->payload_bytes > (size_t)max_bytes)
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "records hold %zu bytes, over max.message.bytes "
                         "%" PRId64 " of topic \"%s\"",
                         records->payload_bytes, max_bytes, topic);

    lgi_buf_t batch = LGI_BUF_INIT;
    if ((err = lgi_batch_encode(&batch, records, &options))) {
        lgi_buf_free(&batch);
        return err;
    }
    if (batch.len > (size_t)max_bytes) {
        size_t len = batch.len;
        lgi_buf_free(&batch);
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "record batch of %zu bytes is over max.message.bytes "
                         "%" PRId64 " of topic \"%s\"",
                         len, max_bytes, topic);
    }
    /* Ownership of the encoded bytes passes to the partition. */
    return lgi_partition_append(log, batch.data, batch.len, acks,
                                options.now_ms, base_offsetp);
}

LG_API lg_err_t lg_read(lg_engine_t *engine, const char *topic,
                        int32_t partition, int64_t offset, size_t max_bytes,
                        lg_fetch_t **fetchp) {
    lgi_error_clear();
    if (!engine || !topic || !fetchp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_read: engine, topic and fetchp must not be NULL");
    *fetchp = NULL;
    if (offset < 0)
        return lgi_error(LG_ERR_OFFSET_OUT_OF_RANGE,
                         "offset %" PRId64 " is negative", offset);
    lgi_partition_t *log;
    lg_err_t err = lgi_engine_partition(engine, topic, partition, NULL, &log);
    if (err)
        return err;
    uint8_t *data = NULL;
    size_t len = 0;
    if ((err = lgi_partition_read(log, offset, max_bytes, &data, &len)))
        return err;
    return lgi_fetch_new(data, len, offset, DECOMPRESSED_BATCH_MAX, fetchp);
}

LG_API lg_err_t lg_watermarks(lg_engine_t *engine, const char *topic,
                              int32_t partition, int64_t *lowp,
                              int64_t *highp) {
    lgi_error_clear();
    lgi_partition_t *log;
    lg_err_t err = lgi_engine_partition(engine, topic, partition, NULL, &log);
    if (err)
        return err;
    lgi_partition_watermarks(log, lowp, highp);
    return LG_OK;
}

LG_API lg_err_t lg_offset_for_time(lg_engine_t *engine, const char *topic,
                                   int32_t partition, int64_t timestamp_ms,
                                   int64_t *offsetp) {
    lgi_error_clear();
    if (!offsetp)
        return lgi_error(LG_ERR_INVALID_ARG, "offsetp must not be NULL");
    lgi_partition_t *log;
    lg_err_t err = lgi_engine_partition(engine, topic, partition, NULL, &log);
    if (err)
        return err;
    return lgi_partition_offset_for_time(log, timestamp_ms, offsetp);
}
