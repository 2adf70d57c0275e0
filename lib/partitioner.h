/*
 * partitioner.h -- choosing a partition for LG_PARTITION_ANY.
 *
 * Four strategies, selected by the producer property "partitioner":
 *   default     XXH3-64 of the key modulo the partition count; null keys
 *               go to the topic's sticky partition.
 *   murmur2     Kafka's Java client exactly: toPositive(murmur2(key)) %
 *               count, so keyed records land where a Java producer would
 *               put them; null keys are sticky.
 *   random      a uniformly random partition per record.
 *   roundrobin  partitions in turn, per topic, whatever the key.
 *
 * Sticky partitioning (Kafka's KIP-480): null-key records all go to one
 * partition until a new batch has to be started there; then the sticky
 * partition moves to a random other partition, so batches fill up instead
 * of every partition receiving a trickle.  The state is per topic and
 * shared by every thread producing to it; all of it is atomics, so
 * choosing a partition never takes a lock.
 */
#ifndef LG_PARTITIONER_H
#define LG_PARTITIONER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Per-topic partitioner state.  Zero-initialise with
 * lgi_partitioner_state_init. */
typedef struct lgi_partitioner_state {
    atomic_int sticky;      /* current sticky partition, -1 = none yet */
    atomic_uint round_robin; /* next round-robin ticket */
} lgi_partitioner_state_t;

void lgi_partitioner_state_init(lgi_partitioner_state_t *state);

/* Kafka's Utils.murmur2: the 32-bit hash as Java's int arithmetic gives it
 * (returned as the same bit pattern). */
int32_t lgi_murmur2(const void *key, size_t len);

/* Partition of a non-null key among count partitions (count >= 1). */
int32_t lgi_partition_murmur2(const void *key, size_t len, int32_t count);
int32_t lgi_partition_xxh3(const void *key, size_t len, int32_t count);

/* A uniformly random partition in [0, count), from a per-thread
 * generator (no shared state, no lock). */
int32_t lgi_partition_random(int32_t count);

/* The next partition in turn for this topic. */
int32_t lgi_partition_round_robin(lgi_partitioner_state_t *state,
                                  int32_t count);

/* The topic's sticky partition, choosing a random one the first time (or
 * when the remembered one is outside a shrunk count). */
int32_t lgi_sticky_partition(lgi_partitioner_state_t *state, int32_t count);

/* Called when a null-key record would start a new batch in partition
 * previous: if previous is still the sticky partition, moves it to a
 * random different one (count > 1).  Threads racing here agree on one
 * successor (compare-and-swap).  Returns the sticky partition after the
 * call. */
int32_t lgi_sticky_on_new_batch(lgi_partitioner_state_t *state,
                                int32_t previous, int32_t count);

/* The partition for a record under strategy (LGI_PARTITIONER_* from
 * conf.h).  key NULL means a null key.  *stickyp is set to 1 when the
 * sticky partition was used (the caller must then report new batches
 * with lgi_sticky_on_new_batch), 0 otherwise. */
int32_t lgi_partitioner_choose(int strategy, lgi_partitioner_state_t *state,
                               const void *key, size_t key_len,
                               int32_t count, int *stickyp);

#endif
