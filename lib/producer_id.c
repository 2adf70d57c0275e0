/*
 * producer_id.c -- engine-wide producer id allocation for idempotent and
 * transactional producers.
 *
 * Role: hand out producer ids that are unique over the life of a data
 * directory, across restarts and crashes, so a partition's producer-state
 * table never mistakes a new producer for an old one.
 *
 * Invariant: every id returned is below the block end recorded durably in
 * "<dir>/producer-id-block" (a metafile whose body is "block_end <n>\n"),
 * and the file's block end only grows.  At open the next id is the
 * recorded block end, so ids of a block that a crashed process had
 * started are never reused (at most LGI_PRODUCER_ID_BLOCK are skipped),
 * as Kafka's ProducerIdManager does with its ZooKeeper/KRaft blocks.
 * With node.id set, ids start at node.id << 32, so engines replicating
 * the same partitions never hand out the same id (see producer_id.h).
 */
#include "producer_id.h"

#include "alloc.h"
#include "err.h"
#include "metafile.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define PRODUCER_ID_FILE "producer-id-block"

struct lgi_producer_ids {
    pthread_mutex_t lock;
    char *path;
    int64_t next;      /* next id to hand out */
    int64_t block_end; /* first id not yet reserved on disk */
};

lg_err_t lgi_producer_ids_open(const char *dir, int32_t node_id,
                               lgi_producer_ids_t **idsp) {
    *idsp = NULL;
    lgi_producer_ids_t *ids = lgi_calloc(1, sizeof *ids);
    size_t len = strlen(dir) + sizeof("/" PRODUCER_ID_FILE);
    char *path = lgi_malloc(len);
    if (!ids || !path) {
        lgi_free(ids);
        lgi_free(path);
        return lgi_error(LG_ERR_NOMEM, "producer ids: out of memory");
    }
    snprintf(path, len, "%s/%s", dir, PRODUCER_ID_FILE);
    ids->path = path;
    pthread_mutex_init(&ids->lock, NULL);
    if (lgi_metafile_exists(path)) {
        char *body = NULL;
        size_t body_len;
        lg_err_t err = lgi_metafile_read(path, &body, &body_len);
        long long end = -1;
        if (err == LG_OK && (sscanf(body, "block_end %lld", &end) != 1 ||
                             end < 0))
            err = lgi_error(LG_ERR_CORRUPT, "%s: no block_end line", path);
        lgi_free(body);
        if (err != LG_OK) {
            lgi_producer_ids_free(ids);
            return err;
        }
        ids->next = ids->block_end = end;
    }
    /* A node's own range (see producer_id.h): 2^32 ids per node. */
    if (node_id >= 0 && ids->next < (int64_t)node_id << 32)
        ids->next = ids->block_end = (int64_t)node_id << 32;
    *idsp = ids;
    return LG_OK;
}

void lgi_producer_ids_free(lgi_producer_ids_t *ids) {
    if (!ids)
        return;
    pthread_mutex_destroy(&ids->lock);
    lgi_free(ids->path);
    lgi_free(ids);
}

lg_err_t lgi_producer_ids_next(lgi_producer_ids_t *ids, int64_t *idp) {
    lg_err_t err = LG_OK;
    pthread_mutex_lock(&ids->lock);
    if (ids->next >= ids->block_end) {
        char body[64];
        int64_t end = ids->next + LGI_PRODUCER_ID_BLOCK;
        int n = snprintf(body, sizeof body, "block_end %" PRId64 "\n", end);
        err = lgi_metafile_write(ids->path, body, (size_t)n);
        if (err == LG_OK)
            ids->block_end = end;
    }
    if (err == LG_OK)
        *idp = ids->next++;
    pthread_mutex_unlock(&ids->lock);
    return err;
}
