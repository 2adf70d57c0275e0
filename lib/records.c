/*
 * records.c -- lg_records_t: the caller-built list that lg_append() writes
 * as one record batch.
 *
 * Keys, values and headers are copied into one arena (records.h) and each
 * record is a fixed descriptor of offsets into it, so a list of thousands
 * of records costs a handful of reallocations and the batch encoder reads
 * it front to back.  Headers are stored already in Kafka's record encoding
 * (varint keyLength, key, varint valueLength or -1, value) so encoding a
 * record copies its header block verbatim.
 *
 * Invariants: a record's headers are contiguous and directly follow its
 * value in the arena (only the most recent record may gain headers, and
 * nothing is appended after it before the next lg_records_add); every
 * length fits Kafka's int32 fields; a failed call leaves the list as it
 * was.
 */
#include "records.h"

#include "alloc.h"
#include "err.h"
#include "varint.h"

#include <stdint.h>
#include <string.h>

LG_API lg_records_t *lg_records_new(void) {
    lgi_error_clear();
    lg_records_t *records = lgi_calloc(1, sizeof *records);
    if (!records)
        lgi_error(LG_ERR_NOMEM, "lg_records_new: out of memory");
    return records;
}

LG_API void lg_records_destroy(lg_records_t *records) {
    lgi_error_clear();
    if (!records)
        return;
    lgi_free(records->descs);
    lgi_buf_free(&records->arena);
    lgi_free(records);
}

LG_API void lg_records_clear(lg_records_t *records) {
    lgi_error_clear();
    if (!records)
        return;
    records->count = 0;
    records->payload_bytes = 0;
    lgi_buf_reset(&records->arena);
}

LG_API size_t lg_records_count(const lg_records_t *records) {
    lgi_error_clear();
    return records ? records->count : 0;
}

/* Checks a (pointer, length) pair: NULL with a length is a caller bug;
 * lengths beyond Kafka's int32 fields cannot be encoded. */
static lg_err_t check_bytes(const char *function, const char *what,
                            const void *bytes, size_t len) {
    if (!bytes && len)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: %s is NULL but its length is %zu", function,
                         what, len);
    if (len > INT32_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: %s length %zu exceeds the Kafka limit of %d "
                         "bytes", function, what, len, INT32_MAX);
    return LG_OK;
}

LG_API lg_err_t lg_records_add(lg_records_t *records, const void *key,
                               size_t key_len, const void *value,
                               size_t value_len, int64_t timestamp) {
    lgi_error_clear();
    if (!records)
        return lgi_error(LG_ERR_INVALID_ARG, "lg_records_add: records is NULL");
    if (timestamp < 0 && timestamp != LG_TIMESTAMP_NOW)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_records_add: timestamp %lld is negative (use "
                         "LG_TIMESTAMP_NOW for the engine's clock)",
                         (long long)timestamp);
    lg_err_t err = check_bytes("lg_records_add", "key", key, key_len);
    if (err == LG_OK)
        err = check_bytes("lg_records_add", "value", value, value_len);
    if (err != LG_OK)
        return err;
    if (records->count >= INT32_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_records_add: a batch holds at most %d records",
                         INT32_MAX);

    if (records->count == records->cap) {
        size_t cap = records->cap ? records->cap * 2 : 16;
        lgi_record_desc_t *descs =
            lgi_realloc(records->descs, cap * sizeof *descs);
        if (!descs)
            return lgi_error(LG_ERR_NOMEM, "lg_records_add: out of memory");
        records->descs = descs;
        records->cap = cap;
    }
    /* Reserve both at once so a failure cannot leave half a record. */
    if (lgi_buf_reserve(&records->arena, key_len + value_len) != 0)
        return lgi_error(LG_ERR_NOMEM,
                         "lg_records_add: out of memory copying %zu bytes",
                         key_len + value_len);

    lgi_buf_t *arena = &records->arena;
    lgi_record_desc_t *desc = &records->descs[records->count];
    desc->timestamp = timestamp;
    desc->key_off = arena->len;
    desc->key_len = key ? (int64_t)key_len : -1;
    if (key_len)
        memcpy(arena->data + arena->len, key, key_len);
    arena->len += key_len;
    desc->value_off = arena->len;
    desc->value_len = value ? (int64_t)value_len : -1;
    if (value_len)
        memcpy(arena->data + arena->len, value, value_len);
    arena->len += value_len;
    desc->headers_off = arena->len;
    desc->headers_len = 0;
    desc->header_count = 0;
    records->count++;
    records->payload_bytes += key_len + value_len;
    return LG_OK;
}

LG_API lg_err_t lg_records_add_header(lg_records_t *records,
                                      const char *name, size_t name_len,
                                      const void *value, size_t value_len) {
    lgi_error_clear();
    if (!records)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_records_add_header: records is NULL");
    if (records->count == 0)
        return lgi_error(LG_ERR_STATE,
                         "lg_records_add_header: no record to attach the "
                         "header to; call lg_records_add first");
    lg_err_t err = check_bytes("lg_records_add_header", "name", name, name_len);
    if (err == LG_OK)
        err = check_bytes("lg_records_add_header", "value", value, value_len);
    if (err != LG_OK)
        return err;
    lgi_record_desc_t *desc = &records->descs[records->count - 1];
    if (desc->header_count == INT32_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_records_add_header: too many headers");
    size_t encoded = 2 * LGI_VARINT_MAX + name_len + value_len;
    if (desc->headers_len + encoded > INT32_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_records_add_header: the record's headers would "
                         "exceed %d bytes", INT32_MAX);
    if (lgi_buf_reserve(&records->arena, encoded) != 0)
        return lgi_error(LG_ERR_NOMEM,
                         "lg_records_add_header: out of memory");

    lgi_buf_t *arena = &records->arena;
    uint8_t *start = arena->data + arena->len;
    uint8_t *p = start;
    p += lgi_varint_write(p, (int32_t)name_len);
    if (name_len)
        memcpy(p, name, name_len);
    p += name_len;
    p += lgi_varint_write(p, value ? (int32_t)value_len : -1);
    if (value_len)
        memcpy(p, value, value_len);
    p += value_len;
    size_t written = (size_t)(p - start);
    arena->len += written;
    desc->headers_len += written;
    desc->header_count++;
    records->payload_bytes += written;
    return LG_OK;
}
