/*
 * faultio.c -- see faultio.h.
 *
 * Journal format: a sequence of entries, each a fixed header, the file's
 * path (path_len bytes, no NUL) and, for writes, saved_len bytes of the
 * file's content at [pos, pos + saved_len) before the write.  An entry is
 * written with one writev before the operation it describes is issued, so
 * a kill can only cut the journal inside an entry whose operation never
 * happened; the reader ignores such a truncated last entry.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "faultio.h"

#include "segment.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define JOURNAL_MAGIC 0x4c474a4eu /* "LGJN" */
#define ENTRY_WRITE 1u
#define ENTRY_SYNC 2u
#define SECTOR 512

typedef struct entry_header {
    uint32_t magic;
    uint32_t type;
    uint32_t path_len;
    uint32_t reserved;
    int64_t size;       /* file size before the write / at the sync */
    int64_t pos;        /* write: first byte */
    uint64_t len;       /* write: bytes about to be written */
    uint64_t saved_len; /* write: old bytes saved (the part below size) */
} entry_header_t;

static int journal_fd = -1;

int lgt_faultio_journal_start(const char *path) {
    journal_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
                                O_CLOEXEC, 0600);
    return journal_fd < 0 ? -1 : 0;
}

/* The path fd refers to, via /proc; 0 or -1. */
static int fd_path(int fd, char *buf, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, size - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static void journal_append(uint32_t type, int fd, int64_t pos, uint64_t len) {
    char path[PATH_MAX];
    struct stat st;
    if (journal_fd < 0 || fd_path(fd, path, sizeof path) != 0 ||
        fstat(fd, &st) != 0)
        return;
    entry_header_t header = {JOURNAL_MAGIC, type, (uint32_t)strlen(path), 0,
                             (int64_t)st.st_size, pos, len, 0};
    uint8_t *saved = NULL;
    if (type == ENTRY_WRITE && pos < st.st_size) {
        uint64_t below = (uint64_t)(st.st_size - pos);
        header.saved_len = below < len ? below : len;
        saved = malloc(header.saved_len);
        if (!saved)
            abort();
        if (pread(fd, saved, header.saved_len, pos) !=
            (ssize_t)header.saved_len)
            abort();
    }
    struct iovec iov[3] = {{&header, sizeof header},
                           {path, header.path_len},
                           {saved, header.saved_len}};
    size_t total = sizeof header + header.path_len + header.saved_len;
    if (writev(journal_fd, iov, 3) != (ssize_t)total)
        abort();
    free(saved);
}

int lgt_faultio_hook(void *opaque, const lgi_io_req_t *req, int stage) {
    (void)opaque;
    if (stage == LGI_IO_FAULT_WRITE)
        journal_append(ENTRY_WRITE, req->fd, (int64_t)(req->pos + req->written),
                       req->len - req->written);
    else if (stage == LGI_IO_FAULT_FSYNC)
        journal_append(ENTRY_SYNC, req->fd, 0, 0);
    return 0;
}

void lgt_faultio_note_sync(int fd) {
    if (journal_fd >= 0)
        journal_append(ENTRY_SYNC, fd, 0, 0);
}

/* ------------------------------------------------------------------------
 * Replay
 * --------------------------------------------------------------------- */

typedef struct parsed_entry {
    entry_header_t header;
    const char *path; /* points into the journal image (not terminated) */
    const uint8_t *saved;
} parsed_entry_t;

static uint64_t next_random(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static int same_path(const parsed_entry_t *a, const parsed_entry_t *b) {
    return a->header.path_len == b->header.path_len &&
           memcmp(a->path, b->path, a->header.path_len) == 0;
}

long lgt_faultio_power_loss(const char *path, uint64_t seed) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1; /* killed before journaling */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *image = malloc(size ? size : 1);
    if (!image || pread(fd, image, size, 0) != (ssize_t)size) {
        free(image);
        close(fd);
        return -1;
    }
    close(fd);

    size_t count = 0, cap = 64, at = 0;
    parsed_entry_t *entries = malloc(cap * sizeof *entries);
    while (entries && at + sizeof(entry_header_t) <= size) {
        parsed_entry_t e;
        memcpy(&e.header, image + at, sizeof e.header);
        size_t need = sizeof e.header + e.header.path_len + e.header.saved_len;
        if (e.header.magic != JOURNAL_MAGIC || need > size - at)
            break; /* the entry the kill cut short: its operation never ran */
        e.path = (const char *)image + at + sizeof e.header;
        e.saved = image + at + sizeof e.header + e.header.path_len;
        at += need;
        if (count == cap) {
            cap *= 2;
            parsed_entry_t *grown = realloc(entries, cap * sizeof *entries);
            if (!grown)
                break;
            entries = grown;
        }
        entries[count++] = e;
    }
    if (!entries) {
        free(image);
        return -1;
    }

    /* Per file, newest first: undo every write after its last sync mark.
     * done[] marks entries already handled as part of some file. */
    uint64_t random_state = seed * 0x9e3779b97f4a7c15ull + 1;
    char *done = calloc(count ? count : 1, 1);
    long undone = 0;
    for (size_t i = count; i-- > 0;) {
        if (done[i])
            continue;
        /* entries[i] is the newest entry of its file. */
        size_t last_sync = SIZE_MAX;
        for (size_t j = i + 1; j-- > 0;)
            if (same_path(&entries[j], &entries[i])) {
                done[j] = 1;
                if (entries[j].header.type == ENTRY_SYNC &&
                    last_sync == SIZE_MAX)
                    last_sync = j;
            }
        size_t first_unsynced = last_sync == SIZE_MAX ? 0 : last_sync + 1;
        /* The durable size: at the last sync mark, or else as the oldest
         * write of this journal found the file (nothing of this process
         * was in flight to it then). */
        int64_t synced_size = -1;
        if (last_sync != SIZE_MAX)
            synced_size = entries[last_sync].header.size;
        for (size_t j = first_unsynced; synced_size < 0 && j <= i; j++)
            if (same_path(&entries[j], &entries[i]) &&
                entries[j].header.type == ENTRY_WRITE)
                synced_size = entries[j].header.size;
        char file[PATH_MAX];
        snprintf(file, sizeof file, "%.*s", (int)entries[i].header.path_len,
                 entries[i].path);
        int target = open(file, O_RDWR | O_CLOEXEC);
        if (target < 0)
            continue; /* deleted since: nothing to lose */
        int torn_kept = 0;
        int64_t keep_end = -1; /* end of the torn write's surviving prefix */
        for (size_t j = i + 1; j-- > first_unsynced;) {
            const parsed_entry_t *e = &entries[j];
            if (!same_path(e, &entries[i]) || e->header.type != ENTRY_WRITE)
                continue;
            int64_t from = e->header.pos;
            if (!torn_kept) {
                /* The newest unsynced write tears at a sector boundary: a
                 * random number of whole sectors of it reach the disk. */
                torn_kept = 1;
                int64_t end = e->header.pos + (int64_t)e->header.len;
                int64_t first_boundary = (e->header.pos + SECTOR - 1) / SECTOR *
                                         SECTOR;
                int64_t sectors = end > first_boundary
                                      ? (end - first_boundary) / SECTOR + 1
                                      : 0;
                int64_t pick = sectors ? (int64_t)(next_random(&random_state) %
                                                   (uint64_t)(sectors + 1))
                                       : 0;
                if (pick > 0) {
                    from = first_boundary + (pick - 1) * SECTOR;
                    if (from > end)
                        from = end;
                    keep_end = from;
                }
            }
            /* Restore the old bytes of [from, pos + saved_len). */
            int64_t saved_end = e->header.pos + (int64_t)e->header.saved_len;
            if (from < saved_end) {
                size_t skip = (size_t)(from - e->header.pos);
                if (pwrite(target, e->saved + skip,
                           (size_t)(saved_end - from), from) < 0)
                    abort();
            }
            undone++;
        }
        if (synced_size >= 0) {
            int64_t new_size = synced_size;
            if (keep_end > new_size)
                new_size = keep_end;
            struct stat now;
            if (fstat(target, &now) == 0 && now.st_size > new_size &&
                ftruncate(target, new_size) != 0)
                abort();
        }
        close(target);
    }
    free(done);
    free(entries);
    free(image);
    return undone;
}

/* ------------------------------------------------------------------------
 * Error injection
 * --------------------------------------------------------------------- */

int lgt_faultio_inject_hook(void *opaque, const lgi_io_req_t *req, int stage) {
    lgt_fault_plan_t *plan = opaque;
    if (stage != plan->stage || atomic_load(&plan->cleared))
        return 0;
    /* A zero fill is not an operation the plan counts (its failure has no
     * visible effect), but a sticky fault under way -- a full disk --
     * fails it too. */
    if (req && lgi_segment_is_zero_fill(req))
        return plan->sticky && atomic_load(&plan->fired) > 0 ? plan->result
                                                            : 0;
    long n = atomic_fetch_add(&plan->seen, 1);
    if (n == plan->at || (plan->sticky && n > plan->at)) {
        atomic_fetch_add(&plan->fired, 1);
        return plan->result;
    }
    return 0;
}
