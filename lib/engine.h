/*
 * engine.h -- the engine: a data directory, its lock, its topics, the I/O
 * engine and the maintenance thread.
 */
#ifndef LG_ENGINE_H
#define LG_ENGINE_H

#include "conf.h"
#include "liblog.h"
#include "partition.h"
#include "uring.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct lgi_topic {
    char *name;
    int32_t partition_count;
    lgi_partition_t **partitions;
    lg_conf_t overrides; /* explicitly set topic properties, persisted */
    lg_conf_t effective; /* engine defaults overlaid with overrides */
    uint8_t topic_id[16];
} lgi_topic_t;

struct lg_engine {
    char *dir;
    int lock_fd;
    lg_conf_t conf;
    lgi_io_t *io;

    /* Topics are looked up on every append and read (read lock) and
     * changed only by admin calls (write lock).  Topic structs are never
     * freed before engine close, so a looked-up pointer stays valid. */
    pthread_rwlock_t topics_lock;
    lgi_topic_t **topics;
    size_t topic_count;
    size_t topic_cap;

    /* Serialises writers of the engine-level metadata files. */
    pthread_mutex_t meta_lock;

    /* Maintenance thread: periodic recovery-point checkpoints. */
    pthread_t maintenance_thread;
    int maintenance_started;
    pthread_mutex_t maintenance_lock;
    pthread_cond_t maintenance_wake;
    int maintenance_stop;
};

/* Wall-clock milliseconds, the engine's notion of "now". */
int64_t lgi_engine_now_ms(const lg_engine_t *engine);

/* Looks up topic name and partition; fills *partitionp (and *topicp if not
 * NULL).  LG_ERR_UNKNOWN_TOPIC / LG_ERR_UNKNOWN_PARTITION with a message. */
lg_err_t lgi_engine_partition(lg_engine_t *engine, const char *topic,
                              int32_t partition, lgi_topic_t **topicp,
                              lgi_partition_t **partitionp);

/* topic.c: load topics from the metadata file and open their partitions
 * (recovering them); free them all at close. */
lg_err_t lgi_topics_load(lg_engine_t *engine, int clean_shutdown);
lg_err_t lgi_topics_close(lg_engine_t *engine);

/* Writes recovery-point-offset-checkpoint for every partition. */
lg_err_t lgi_engine_checkpoint_recovery_points(lg_engine_t *engine);

/* Validates a topic name as Kafka does. */
lg_err_t lgi_topic_name_validate(const char *name);

#endif
