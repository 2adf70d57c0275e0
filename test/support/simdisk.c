/*
 * simdisk.c -- see simdisk.h: a byte-faithful simulated disk (log in
 * sectors, metafile-style quorum state) with power loss and recovery.
 */
#include "simdisk.h"

#include "batch.h"
#include "buf.h"
#include "metafile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR 512
#define MAX_BATCH (1u << 20)
#define NAME_STATE 0 /* "quorum-state" */
#define NAME_TMP 1   /* "quorum-state.tmp" */
#define INODES 6
#define INODE_CAP 128
#define DIR_STATES 4 /* directory images since the last directory fsync */

typedef struct {
    int64_t pos;   /* byte position in the file */
    uint32_t size; /* batch size */
    int32_t epoch;
    uint32_t value_pos, value_len; /* the entry: the record's value */
} slot_t;

typedef struct {
    uint8_t cache[INODE_CAP], medium[INODE_CAP];
    size_t cache_len, medium_len;
    int dirty; /* cache differs from medium */
} inode_t;

typedef struct {
    int names[2]; /* inode per name, -1 when absent */
} dir_t;

struct lgt_simdisk {
    uint64_t *rng;
    int *dying;
    double death;
    int no_epoch_check; /* tests: recover as if the checkpoint were ignored */
    int unsafe_state;   /* tests: quorum state never reaches the disk */
    /* the log file: page cache and medium; [0, synced) is equal in both */
    uint8_t *cache, *medium;
    size_t cache_len, medium_len, cap;
    size_t synced;
    slot_t *slots;
    int64_t count, slot_cap;
    /* the leader-epoch checkpoint (lib/partition.c): (epoch, first offset)
     * pairs, stored durably before the first batch of a newer epoch is
     * written and trimmed after a truncation */
    int32_t *cp_epoch;
    int64_t *cp_start;
    size_t cp_count, cp_cap;
    /* the quorum-state files */
    inode_t inodes[INODES];
    dir_t dir_medium;
    dir_t dir_states[DIR_STATES]; /* [0] = medium, [pending] = cache */
    int pending;                  /* directory operations not yet synced */
    int32_t state_epoch, state_vote;
    int64_t cut; /* lowest offset removed or changed since taken */
    lgt_simdisk_counters_t counters;
};

/* ---------------------------------------------------------------- rng */

static uint64_t rnd(lgt_simdisk_t *d) {
    uint64_t z = (*d->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static size_t below(lgt_simdisk_t *d, size_t n) {
    return n ? (size_t)(rnd(d) % n) : 0;
}
static int chance(lgt_simdisk_t *d, double p) {
    return (double)(rnd(d) >> 11) / 9007199254740992.0 < p;
}

/* ---------------------------------------------------------------- log */

static void reserve(lgt_simdisk_t *d, size_t need) {
    if (need <= d->cap)
        return;
    size_t cap = d->cap ? d->cap : 4096;
    while (cap < need)
        cap *= 2;
    d->cache = realloc(d->cache, cap);
    d->medium = realloc(d->medium, cap);
    if (d->cache == NULL || d->medium == NULL)
        abort();
    d->cap = cap;
}

/* Judges the bytes at buf (avail of them) as the batch of entry `expect`
 * with the validation segment recovery uses (lgi_batch_validate: length,
 * magic, CRC) plus the expected base offset and the one-record shape this
 * disk writes.  0 with *slot filled (pos left to the caller), else -1. */
static int judge(const uint8_t *buf, size_t avail, int64_t expect,
                 slot_t *slot) {
    lgi_batch_header_t h;
    if (avail < LGI_BATCH_HEADER_SIZE ||
        lgi_batch_validate(buf, avail, MAX_BATCH, &h) != LG_OK ||
        h.base_offset != expect || h.last_offset_delta != 0 ||
        h.record_count != 1)
        return -1;
    lgi_record_iter_t it;
    lgi_record_t rec;
    int done = 0;
    if (lgi_record_iter_init(&it, buf, &h, NULL) != LG_OK ||
        lgi_record_iter_next(&it, &rec, &done) != LG_OK || done ||
        rec.value == NULL)
        return -1;
    slot->size = (uint32_t)lgi_batch_size(&h);
    slot->epoch = h.partition_leader_epoch;
    slot->value_pos = (uint32_t)(rec.value - buf);
    slot->value_len = (uint32_t)rec.value_len;
    return 0;
}

static void push_slot(lgt_simdisk_t *d, const slot_t *slot) {
    if (d->count == d->slot_cap) {
        d->slot_cap = d->slot_cap ? d->slot_cap * 2 : 64;
        d->slots = realloc(d->slots, (size_t)d->slot_cap * sizeof *d->slots);
        if (d->slots == NULL)
            abort();
    }
    d->slots[d->count++] = *slot;
}

static void checkpoint_push(lgt_simdisk_t *d, int32_t epoch, int64_t start) {
    if (d->cp_count == d->cp_cap) {
        d->cp_cap = d->cp_cap ? d->cp_cap * 2 : 16;
        d->cp_epoch = realloc(d->cp_epoch, d->cp_cap * sizeof *d->cp_epoch);
        d->cp_start = realloc(d->cp_start, d->cp_cap * sizeof *d->cp_start);
        if (d->cp_epoch == NULL || d->cp_start == NULL)
            abort();
    }
    d->cp_epoch[d->cp_count] = epoch;
    d->cp_start[d->cp_count++] = start;
}

static void checkpoint_trim(lgt_simdisk_t *d, int64_t end) {
    while (d->cp_count > 0 && d->cp_start[d->cp_count - 1] >= end)
        d->cp_count--;
}

/* The epoch the checkpoint gives offset (-1 before its first entry). */
static int32_t checkpoint_epoch(const lgt_simdisk_t *d, int64_t offset) {
    for (size_t i = d->cp_count; i-- > 0;)
        if (d->cp_start[i] <= offset)
            return d->cp_epoch[i];
    return -1;
}

static int64_t s_end(void *o) { return ((lgt_simdisk_t *)o)->count; }

static int64_t s_durable(void *o) { return lgt_simdisk_durable(o); }

static int s_read(void *o, int64_t off, int32_t *ep, const uint8_t **dp,
                  uint32_t *lp) {
    return lgt_simdisk_entry(o, off, ep, dp, lp);
}

/* Writes the entry as a one-record v2 batch into the page cache. */
static int s_append(void *o, int32_t epoch, const uint8_t *data,
                    uint32_t len) {
    lgt_simdisk_t *d = o;
    if (*d->dying)
        return -1;
    lg_records_t *records = lg_records_new();
    lgi_buf_t out = LGI_BUF_INIT;
    lgi_batch_options_t options;
    lgi_batch_options_init(&options);
    options.now_ms = 0;
    slot_t slot;
    int rc = -1;
    if (records != NULL &&
        lg_records_add(records, NULL, 0, len ? (const void *)data : "", len,
                       0) == LG_OK &&
        lgi_batch_encode(&out, records, &options) == LG_OK) {
        lgi_batch_set_base_offset(out.data, d->count);
        lgi_batch_set_leader_epoch(out.data, epoch);
        if (judge(out.data, out.len, d->count, &slot) == 0) {
            if (d->cp_count == 0 || epoch > d->cp_epoch[d->cp_count - 1])
                checkpoint_push(d, epoch, d->count); /* durable first */
            reserve(d, d->cache_len + out.len);
            memcpy(d->cache + d->cache_len, out.data, out.len);
            slot.pos = (int64_t)d->cache_len;
            d->cache_len += out.len;
            push_slot(d, &slot);
            rc = 0;
        }
    }
    lg_records_destroy(records);
    lgi_buf_free(&out);
    return rc;
}

/* fdatasync: the medium catches up with the cache (size included). */
static void sync_log(lgt_simdisk_t *d) {
    memcpy(d->medium + d->synced, d->cache + d->synced,
           d->cache_len - d->synced);
    d->medium_len = d->cache_len;
    d->synced = d->cache_len;
}

static int s_sync(void *o) {
    lgt_simdisk_t *d = o;
    if (*d->dying)
        return -1;
    sync_log(d);
    return 0;
}

/* ftruncate, then fdatasync (lib/partition.c's truncation is durable
 * before it returns); the power may fail between the two. */
static int s_truncate(void *o, int64_t off) {
    lgt_simdisk_t *d = o;
    if (*d->dying || off < 0)
        return -1;
    if (off >= d->count)
        return 0;
    d->counters.truncations++;
    if (off < d->cut)
        d->cut = off;
    d->cache_len = (size_t)d->slots[off].pos;
    d->count = off;
    if (d->synced > d->cache_len)
        d->synced = d->cache_len;
    if (chance(d, d->death)) {
        *d->dying = 1;
        return -1;
    }
    sync_log(d);
    checkpoint_trim(d, off);
    return 0;
}

static void s_eofe(void *o, int32_t epoch, int32_t *eo, int64_t *endo) {
    lgt_simdisk_t *d = o;
    int64_t i = d->count;
    while (i > 0 && d->slots[i - 1].epoch > epoch)
        i--;
    *eo = i ? d->slots[i - 1].epoch : -1;
    *endo = i ? i : -1;
}

/* ---------------------------------------------------------------- state */

static dir_t *dir_cache(lgt_simdisk_t *d) { return &d->dir_states[d->pending]; }

static int inode_busy(const lgt_simdisk_t *d, int i) {
    for (int k = 0; k <= d->pending; k++)
        for (int n = 0; n < 2; n++)
            if (d->dir_states[k].names[n] == i)
                return 1;
    return d->dir_medium.names[0] == i || d->dir_medium.names[1] == i;
}

/* One directory operation (create or rename) in the cache, remembered
 * until the directory is fsync'd. */
static void dir_op(lgt_simdisk_t *d, const dir_t *after) {
    if (d->pending == DIR_STATES - 1) /* cannot happen: 2 ops per save */
        abort();
    d->dir_states[++d->pending] = *after;
}

/* lgi_metafile_write's protocol over the modelled files; the power may
 * fail after the data write, after its fsync, or after the rename. */
static int s_save(void *o, int32_t epoch, int32_t vote) {
    lgt_simdisk_t *d = o;
    if (*d->dying)
        return -1;
    if (d->unsafe_state) { /* broken on purpose: memory only */
        d->state_epoch = epoch;
        d->state_vote = vote;
        return 0;
    }
    int die_at = chance(d, d->death) ? 1 + (int)below(d, 3) : 0;
    char bytes[LGI_QUORUM_STATE_MAX_BODY + LGI_METAFILE_TRAILER_LEN + 1];
    size_t len = lgi_quorum_state_body(epoch, vote, bytes);
    lgi_metafile_trailer(bytes, len, bytes + len);
    len += LGI_METAFILE_TRAILER_LEN;

    /* 1. open(tmp, O_CREAT | O_TRUNC), write */
    int tmp = dir_cache(d)->names[NAME_TMP];
    if (tmp < 0) {
        for (tmp = 0; tmp < INODES && inode_busy(d, tmp); tmp++)
            ;
        if (tmp == INODES)
            abort();
        memset(&d->inodes[tmp], 0, sizeof d->inodes[tmp]);
        dir_t after = *dir_cache(d);
        after.names[NAME_TMP] = tmp;
        dir_op(d, &after);
    }
    inode_t *ino = &d->inodes[tmp];
    memcpy(ino->cache, bytes, len);
    ino->cache_len = len;
    ino->dirty = 1;
    if (die_at == 1)
        goto died;
    /* 2. fsync(tmp) */
    memcpy(ino->medium, ino->cache, ino->cache_len);
    ino->medium_len = ino->cache_len;
    ino->dirty = 0;
    if (die_at == 2)
        goto died;
    /* 3. rename(tmp, path) */
    dir_t after = *dir_cache(d);
    after.names[NAME_STATE] = tmp;
    after.names[NAME_TMP] = -1;
    dir_op(d, &after);
    if (die_at == 3)
        goto died;
    /* 4. fsync(dir) */
    d->dir_medium = *dir_cache(d);
    d->dir_states[0] = d->dir_medium;
    d->pending = 0;
    d->state_epoch = epoch;
    d->state_vote = vote;
    return 0;
died:
    d->counters.state_deaths++;
    *d->dying = 1;
    return -1;
}

static void s_load(void *o, int32_t *ep, int32_t *vp) {
    lgt_simdisk_t *d = o;
    *ep = d->state_epoch;
    *vp = d->state_vote;
}

/* Reads "quorum-state" through the medium directory with the real
 * checks.  0, or -1 with why. */
static int load_state(lgt_simdisk_t *d, char *why, size_t why_len) {
    int i = d->dir_medium.names[NAME_STATE];
    d->state_epoch = 0;
    d->state_vote = -1;
    if (i < 0)
        return 0; /* never saved: (0, -1), as lgi_quorum_state_load */
    inode_t *ino = &d->inodes[i];
    char text[INODE_CAP + 1];
    memcpy(text, ino->medium, ino->medium_len);
    text[ino->medium_len] = '\0';
    size_t body_len;
    if (lgi_metafile_verify(text, ino->medium_len, "quorum-state",
                            &body_len) != LG_OK) {
        snprintf(why, why_len, "%s", lg_last_error_message());
        return -1;
    }
    text[body_len] = '\0';
    if (lgi_quorum_state_parse(text, "quorum-state", &d->state_epoch,
                               &d->state_vote) != LG_OK) {
        snprintf(why, why_len, "%s", lg_last_error_message());
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- crash */

/* Puts cache bytes [from, to) at the same place in img (zero-filling any
 * gap). */
static void land(lgt_simdisk_t *d, uint8_t *img, size_t *img_len, size_t from,
                 size_t to) {
    if (*img_len < from)
        memset(img + *img_len, 0, from - *img_len);
    memcpy(img + from, d->cache + from, to - from);
    if (*img_len < to)
        *img_len = to;
}

static void crash_log(lgt_simdisk_t *d) {
    size_t img_cap = (d->cache_len > d->medium_len ? d->cache_len
                                                   : d->medium_len) +
                     SECTOR;
    uint8_t *img = malloc(img_cap);
    if (img == NULL)
        abort();
    memcpy(img, d->medium, d->medium_len);
    size_t img_len = d->medium_len;
    if (d->cache_len > d->synced) {
        size_t first = d->synced / SECTOR, last = (d->cache_len - 1) / SECTOR;
        /* whole sectors written back in order */
        size_t c = (first + below(d, last - first + 2)) * SECTOR;
        if (c > d->cache_len)
            c = d->cache_len;
        if (c < d->synced)
            c = d->synced;
        land(d, img, &img_len, d->synced, c);
        if (c < d->cache_len) {
            size_t end = (c / SECTOR + 1) * SECTOR;
            if (end > d->cache_len)
                end = d->cache_len;
            size_t tear = below(d, 4);
            switch (tear) {
            case 0: /* nothing more */
                break;
            case 1: /* a prefix of the new bytes over the old content */
                land(d, img, &img_len, c, c + 1 + below(d, end - c));
                break;
            case 2: /* the size reached the medium, the data did not */
            case 3: /* garbage */
                if (img_len < end)
                    img_len = end;
                for (size_t k = c; k < end; k++)
                    img[k] = tear == 2 ? 0 : (uint8_t)rnd(d);
                break;
            }
            if (last > c / SECTOR && chance(d, 0.25)) {
                /* one later sector written back out of order */
                size_t k = c / SECTOR + 1 + below(d, last - c / SECTOR);
                size_t to = (k + 1) * SECTOR;
                land(d, img, &img_len, k * SECTOR,
                     to < d->cache_len ? to : d->cache_len);
            }
        }
    }
    /* recovery: keep the valid prefix of batches, cut the rest */
    int64_t before = d->count, changed = INT64_MAX;
    d->count = 0;
    size_t pos = 0;
    slot_t slot;
    while (pos < img_len &&
           judge(img + pos, img_len - pos, d->count, &slot) == 0 &&
           (d->no_epoch_check || slot.epoch == checkpoint_epoch(d, d->count))) {
        slot.pos = (int64_t)pos;
        if (changed == INT64_MAX && d->count < before &&
            (d->slots[d->count].size != slot.size ||
             (size_t)slot.pos + slot.size > d->cache_len ||
             memcmp(d->cache + slot.pos, img + slot.pos, slot.size) != 0))
            changed = d->count;
        push_slot(d, &slot);
        pos += slot.size;
    }
    if (changed == INT64_MAX && d->count < before)
        changed = d->count;
    if (changed < d->cut)
        d->cut = changed;
    if (pos < img_len) {
        d->counters.torn_tails++;
        d->counters.torn_bytes += (long)(img_len - pos);
    }
    if (before > d->count)
        d->counters.entries_lost += (long)(before - d->count);
    checkpoint_trim(d, d->count);
    reserve(d, pos);
    memcpy(d->cache, img, pos);
    memcpy(d->medium, img, pos);
    d->cache_len = d->medium_len = d->synced = pos;
    free(img);
}

static void crash_state(lgt_simdisk_t *d) {
    for (int i = 0; i < INODES; i++) {
        inode_t *ino = &d->inodes[i];
        if (!ino->dirty)
            continue;
        switch (below(d, 4)) {
        case 0: /* nothing reached the medium */
            break;
        case 1: /* all of it */
            memcpy(ino->medium, ino->cache, ino->cache_len);
            ino->medium_len = ino->cache_len;
            break;
        case 2: /* a prefix */
            ino->medium_len = below(d, ino->cache_len + 1);
            memcpy(ino->medium, ino->cache, ino->medium_len);
            break;
        case 3: /* the size but garbage */
            ino->medium_len = ino->cache_len;
            for (size_t k = 0; k < ino->medium_len; k++)
                ino->medium[k] = (uint8_t)rnd(d);
            break;
        }
        memcpy(ino->cache, ino->medium, ino->medium_len);
        ino->cache_len = ino->medium_len;
        ino->dirty = 0;
    }
    /* the journal committed some prefix of the directory operations */
    if (d->pending > 0) {
        int kept = (int)below(d, (size_t)d->pending + 1);
        d->counters.renames_lost += d->pending - kept;
        d->dir_medium = d->dir_states[kept];
        d->dir_states[0] = d->dir_medium;
        d->pending = 0;
    }
}

int lgt_simdisk_crash(lgt_simdisk_t *disk, char *why, size_t why_len) {
    crash_log(disk);
    crash_state(disk);
    *disk->dying = 0;
    return load_state(disk, why, why_len);
}

/* ---------------------------------------------------------------- public */

lgt_simdisk_t *lgt_simdisk_new(uint64_t *rng, int *dying) {
    lgt_simdisk_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        abort();
    d->rng = rng;
    d->dying = dying;
    d->dir_medium.names[0] = d->dir_medium.names[1] = -1;
    d->dir_states[0] = d->dir_medium;
    d->state_vote = -1;
    d->cut = INT64_MAX;
    reserve(d, 8 * SECTOR); /* never NULL buffers, even when empty */
    return d;
}

void lgt_simdisk_free(lgt_simdisk_t *disk) {
    if (disk == NULL)
        return;
    free(disk->cache);
    free(disk->medium);
    free(disk->slots);
    free(disk->cp_epoch);
    free(disk->cp_start);
    free(disk);
}

void lgt_simdisk_set_death(lgt_simdisk_t *disk, double p) { disk->death = p; }

void lgt_simdisk_set_unsafe_state(lgt_simdisk_t *disk, int on) {
    disk->unsafe_state = on;
}

void lgt_simdisk_set_epoch_check(lgt_simdisk_t *disk, int on) {
    disk->no_epoch_check = !on;
}

lgi_replica_storage_t lgt_simdisk_storage(lgt_simdisk_t *disk) {
    return (lgi_replica_storage_t){.opaque = disk,
                                   .end_offset = s_end,
                                   .durable_end = s_durable,
                                   .read = s_read,
                                   .append = s_append,
                                   .truncate_to = s_truncate,
                                   .sync = s_sync,
                                   .end_offset_for_epoch = s_eofe,
                                   .save_state = s_save,
                                   .load_state = s_load};
}

int64_t lgt_simdisk_count(const lgt_simdisk_t *disk) { return disk->count; }

int64_t lgt_simdisk_durable(const lgt_simdisk_t *disk) {
    /* entries wholly in the synced prefix: binary search on the end */
    int64_t lo = 0, hi = disk->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const slot_t *s = &disk->slots[mid];
        if ((size_t)s->pos + s->size <= disk->synced)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int lgt_simdisk_entry(const lgt_simdisk_t *disk, int64_t offset,
                      int32_t *epochp, const uint8_t **datap,
                      uint32_t *lenp) {
    if (offset < 0 || offset >= disk->count)
        return -1;
    const slot_t *s = &disk->slots[offset];
    *epochp = s->epoch;
    *datap = disk->cache + s->pos + s->value_pos;
    *lenp = s->value_len;
    return 0;
}

const uint8_t *lgt_simdisk_bytes(const lgt_simdisk_t *disk, size_t *lenp) {
    *lenp = disk->cache_len;
    return disk->cache;
}

int64_t lgt_simdisk_take_cut(lgt_simdisk_t *disk) {
    int64_t cut = disk->cut;
    disk->cut = INT64_MAX;
    return cut;
}

int32_t lgt_simdisk_state_epoch(const lgt_simdisk_t *disk) {
    return disk->state_epoch;
}

const lgt_simdisk_counters_t *lgt_simdisk_counters(const lgt_simdisk_t *disk) {
    return &disk->counters;
}
