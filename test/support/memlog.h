/*
 * memlog.h -- an in-memory replica log for replication tests and the
 * simulator: appends are volatile until sync, a crash keeps the synced
 * prefix plus a chosen number of unsynced entries, and the quorum state
 * is written durably.  Implements lgi_replica_storage_t.
 */
#ifndef LG_TEST_MEMLOG_H
#define LG_TEST_MEMLOG_H

#include "replica.h"

#include <stdint.h>

typedef struct {
    int32_t epoch;
    uint32_t len;
    uint8_t *data;
} lgt_entry_t;

typedef struct {
    lgt_entry_t *entries;
    int64_t count, cap;
    int64_t durable;
    int32_t state_epoch, state_vote;
    long state_saves; /* number of save_state calls (tests) */
    long truncations; /* truncate_to calls that removed entries (tests) */
} lgt_memlog_t;

/* The storage table over log (borrowed). */
lgi_replica_storage_t lgt_memlog_storage(lgt_memlog_t *log);

/* Crash: keeps the durable prefix and the first keep_unsynced entries
 * after it (clamped); the rest is lost.  What is kept becomes durable (as
 * recovery would fsync it). */
void lgt_memlog_crash(lgt_memlog_t *log, int64_t keep_unsynced);

/* Frees every entry (log itself is the caller's). */
void lgt_memlog_free(lgt_memlog_t *log);

#endif
