/*
 * producer_id.h -- engine-wide allocation of idempotent producer ids.
 * See producer_id.c for the file it keeps and why ids never repeat.
 */
#ifndef LG_PRODUCER_ID_H
#define LG_PRODUCER_ID_H

#include "liblog.h"

#include <stdint.h>

/* Ids are reserved on disk this many at a time (Kafka's block size). */
#define LGI_PRODUCER_ID_BLOCK 1000

typedef struct lgi_producer_ids lgi_producer_ids_t;

/* Reads "<dir>/producer-id-block" (absent: ids start at 0).  The next id
 * handed out is the end of the last reserved block, so ids a crashed
 * process may have used are skipped.  node_id >= 0 (the engine's node.id)
 * starts ids at node_id << 32 at least: replicas of one partition take
 * producers from several engines, whose ids must never meet in one
 * producer-state table (Kafka's controller hands out disjoint blocks). */
lg_err_t lgi_producer_ids_open(const char *dir, int32_t node_id,
                               lgi_producer_ids_t **idsp);

/* NULL is a no-op. */
void lgi_producer_ids_free(lgi_producer_ids_t *ids);

/* A fresh producer id, never handed out before by any engine on this
 * directory.  Reserving a new block writes the file (temp, fsync, rename)
 * before any id of the block is returned.  Any thread. */
lg_err_t lgi_producer_ids_next(lgi_producer_ids_t *ids, int64_t *idp);

#endif
