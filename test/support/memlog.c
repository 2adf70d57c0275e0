/*
 * memlog.c -- see memlog.h.
 */
#include "memlog.h"

#include <stdlib.h>
#include <string.h>

static int64_t m_end(void *o) { return ((lgt_memlog_t *)o)->count; }
static int64_t m_durable(void *o) { return ((lgt_memlog_t *)o)->durable; }

static int m_read(void *o, int64_t off, int32_t *ep, const uint8_t **dp,
                  uint32_t *lp) {
    lgt_memlog_t *d = o;
    if (off < 0 || off >= d->count)
        return -1;
    *ep = d->entries[off].epoch;
    *dp = d->entries[off].data;
    *lp = d->entries[off].len;
    return 0;
}

static int m_append(void *o, int32_t epoch, const uint8_t *data,
                    uint32_t len) {
    lgt_memlog_t *d = o;
    if (d->count == d->cap) {
        int64_t cap = d->cap ? d->cap * 2 : 64;
        lgt_entry_t *e = realloc(d->entries, (size_t)cap * sizeof *e);
        if (e == NULL)
            return -1;
        d->entries = e;
        d->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return -1;
    if (len)
        memcpy(copy, data, len);
    d->entries[d->count++] = (lgt_entry_t){epoch, len, copy};
    return 0;
}

static void drop_from(lgt_memlog_t *d, int64_t off) {
    for (int64_t i = off; i < d->count; i++)
        free(d->entries[i].data);
    if (off < d->count)
        d->count = off;
    if (d->durable > d->count)
        d->durable = d->count;
}

static int m_truncate(void *o, int64_t off) {
    lgt_memlog_t *d = o;
    if (off < d->count)
        d->truncations++;
    drop_from(d, off);
    return 0;
}

static int m_sync(void *o) {
    lgt_memlog_t *d = o;
    d->durable = d->count;
    return 0;
}

static void m_eofe(void *o, int32_t epoch, int32_t *eo, int64_t *endo) {
    lgt_memlog_t *d = o;
    int64_t i = d->count;
    while (i > 0 && d->entries[i - 1].epoch > epoch)
        i--;
    *eo = i ? d->entries[i - 1].epoch : -1;
    *endo = i ? i : -1;
}

static int m_save(void *o, int32_t epoch, int32_t vote) {
    lgt_memlog_t *d = o;
    d->state_epoch = epoch;
    d->state_vote = vote;
    d->state_saves++;
    return 0;
}

static void m_load(void *o, int32_t *ep, int32_t *vp) {
    lgt_memlog_t *d = o;
    *ep = d->state_epoch;
    *vp = d->state_vote;
}

lgi_replica_storage_t lgt_memlog_storage(lgt_memlog_t *log) {
    if (log->count == 0 && log->state_saves == 0 && log->state_epoch == 0)
        log->state_vote = -1;
    return (lgi_replica_storage_t){.opaque = log,
                                   .end_offset = m_end,
                                   .durable_end = m_durable,
                                   .read = m_read,
                                   .append = m_append,
                                   .truncate_to = m_truncate,
                                   .sync = m_sync,
                                   .end_offset_for_epoch = m_eofe,
                                   .save_state = m_save,
                                   .load_state = m_load};
}

void lgt_memlog_crash(lgt_memlog_t *log, int64_t keep_unsynced) {
    int64_t unsynced = log->count - log->durable;
    if (keep_unsynced > unsynced)
        keep_unsynced = unsynced;
    drop_from(log, log->durable + keep_unsynced);
    log->durable = log->count;
}

void lgt_memlog_free(lgt_memlog_t *log) {
    drop_from(log, 0);
    free(log->entries);
    log->entries = NULL;
    log->cap = 0;
}
