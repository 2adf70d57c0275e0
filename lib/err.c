/*
 * err.c -- error codes, their names and messages, and the thread-local
 * last-error message.
 *
 * The code table is one X-macro so the enum in liblog.h, the names and the
 * descriptions cannot drift apart: test_api checks every code below
 * LG_ERR__COUNT has an entry.
 */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LG_ERROR_TABLE(X)                                                      \
    X(LG_OK, "success")                                                        \
    X(LG_ERR_INVALID_ARG, "invalid argument")                                  \
    X(LG_ERR_NOMEM, "out of memory")                                           \
    X(LG_ERR_IO, "input/output error")                                         \
    X(LG_ERR_CORRUPT, "data failed validation")                                \
    X(LG_ERR_UNKNOWN_CONFIG, "unknown configuration property")                 \
    X(LG_ERR_INVALID_CONFIG, "invalid configuration value")                    \
    X(LG_ERR_UNKNOWN_TOPIC, "unknown topic")                                   \
    X(LG_ERR_UNKNOWN_PARTITION, "unknown partition")                           \
    X(LG_ERR_TOPIC_EXISTS, "topic already exists")                             \
    X(LG_ERR_INVALID_TOPIC, "invalid topic name")                              \
    X(LG_ERR_RECORD_TOO_LARGE, "record batch larger than max.message.bytes")   \
    X(LG_ERR_OFFSET_OUT_OF_RANGE, "offset out of range")                       \
    X(LG_ERR_LOCKED, "data directory locked by another engine")                \
    X(LG_ERR_CLOSED, "handle closed")                                          \
    X(LG_ERR_DISK_FULL, "disk full")                                           \
    X(LG_ERR_READ_ONLY, "partition is read-only after an I/O failure")         \
    X(LG_ERR_UNSUPPORTED, "not supported")                                     \
    X(LG_ERR_TIMED_OUT, "timed out")                                           \
    X(LG_ERR_STATE, "operation not valid in the current state")               \
    X(LG_ERR_QUEUE_FULL, "producer queue full")                                \
    X(LG_ERR_PARTITION_EOF, "reached the end of the partition")             \
    X(LG_ERR_ILLEGAL_GENERATION, "commit from a stale group generation")    \
    X(LG_ERR_REBALANCE_IN_PROGRESS, "group rebalance in progress")          \
    X(LG_ERR_UNKNOWN_MEMBER, "member is not in the group")                 \
    X(LG_ERR_ASSIGN_PARTITIONS, "rebalance: partitions assigned")           \
    X(LG_ERR_REVOKE_PARTITIONS, "rebalance: partitions revoked")            \
    X(LG_ERR_UNKNOWN_GROUP, "unknown consumer group")                      \
    X(LG_ERR_GROUP_NOT_EMPTY, "consumer group has members")                \
    X(LG_ERR_INCONSISTENT_GROUP_PROTOCOL,                                   \
      "assignor differs from the group's")                                \
    X(LG_ERR_NOT_AUTHORIZED, "not authorized")                              \
    X(LG_ERR_OUT_OF_ORDER_SEQUENCE,                                         \
      "producer sequence number out of order")                            \
    X(LG_ERR_PRODUCER_FENCED,                                               \
      "producer fenced by a newer epoch with the same id")                \
    X(LG_ERR_NOT_LEADER, "not the leader of the replicated partition")     \
    X(LG_ERR_TXN_ABORTABLE, "transaction failed and must be aborted")

#define LG_ERROR_ENTRY(code, text) [code] = {#code, text},
static const struct {
    const char *name;
    const char *text;
} error_table[LG_ERR__COUNT] = {LG_ERROR_TABLE(LG_ERROR_ENTRY)};

/* 512 bytes holds any message we build (paths are bounded by the topic name
 * limit); longer ones are cut, never overflowed. */
static _Thread_local char last_message[512];

LG_API const char *lg_strerror(lg_err_t code) {
    if ((unsigned)code >= LG_ERR__COUNT || !error_table[code].text)
        return "unknown error";
    return error_table[code].text;
}

LG_API const char *lg_err_name(lg_err_t code) {
    if ((unsigned)code >= LG_ERR__COUNT || !error_table[code].name)
        return "LG_ERR_UNKNOWN";
    return error_table[code].name;
}

LG_API const char *lg_last_error_message(void) { return last_message; }

void lgi_error_clear(void) { last_message[0] = '\0'; }

lg_err_t lgi_error(lg_err_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return code;
}

lg_err_t lgi_error_errno(lg_err_t code, int errnum, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof last_message)
        snprintf(last_message + n, sizeof last_message - (size_t)n, ": %s",
                 strerror(errnum));
    return errnum == ENOSPC ? LG_ERR_DISK_FULL : code;
}
