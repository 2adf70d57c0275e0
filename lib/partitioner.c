/*
 * partitioner.c -- partition choice for records produced with
 * LG_PARTITION_ANY: key hashing (XXH3 or Kafka's murmur2), sticky
 * partitioning of null keys, random and round-robin.
 *
 * murmur2 reproduces the Java client's Utils.murmur2 bit for bit: seed
 * 0x9747b28c, multiplier 0x5bd1e995, shift 24, the key read as
 * little-endian 32-bit words, the 1-3 trailing bytes folded in before the
 * final multiply, and the finalisation h ^= h >>> 13; h *= m; h ^= h >>> 15.
 * Java's int arithmetic wraps modulo 2^32 and >>> is a logical shift, which
 * is exactly uint32_t arithmetic in C.  The partition is then
 * (hash & 0x7fffffff) % count (Kafka's toPositive, which, unlike abs(),
 * is defined for INT32_MIN).
 *
 * Invariant: every function returns a partition in [0, count) for any
 * count >= 1; nothing here allocates or locks.
 */
#include "partitioner.h"

#include "conf.h"

#include <time.h>
#include <xxhash.h>

void lgi_partitioner_state_init(lgi_partitioner_state_t *state) {
    atomic_init(&state->sticky, -1);
    atomic_init(&state->round_robin, 0);
}

int32_t lgi_murmur2(const void *key, size_t len) {
    const uint8_t *data = key;
    const uint32_t seed = 0x9747b28cu;
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    /* Java passes the length as an int; keys beyond 2 GiB cannot occur
     * (lg_produce rejects them), so the truncation is Java's too. */
    uint32_t h = seed ^ (uint32_t)len;
    size_t words = len / 4;
    for (size_t i = 0; i < words; i++) {
        const uint8_t *p = data + i * 4;
        uint32_t k = (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
                     ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *tail = data + words * 4;
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)tail[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t lgi_partition_murmur2(const void *key, size_t len, int32_t count) {
    uint32_t positive = (uint32_t)lgi_murmur2(key, len) & 0x7fffffffu;
    return (int32_t)(positive % (uint32_t)count);
}

int32_t lgi_partition_xxh3(const void *key, size_t len, int32_t count) {
    return (int32_t)(XXH3_64bits(key, len) % (uint64_t)count);
}

/* Per-thread xorshift64* generator, seeded lazily from the clock and the
 * address of the thread's own state (distinct per thread).  Partition
 * choice needs spread, not cryptographic quality. */
static _Thread_local uint64_t random_state;

static uint64_t next_random(void) {
    if (random_state == 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        random_state = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^
                       (uint64_t)(uintptr_t)&random_state;
        random_state = XXH3_64bits(&random_state, sizeof random_state) | 1;
    }
    uint64_t x = random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    random_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

int32_t lgi_partition_random(int32_t count) {
    /* The high bits are the generator's best; the modulo bias for counts
     * up to 100000 is below 1e-14. */
    return (int32_t)((next_random() >> 16) % (uint64_t)count);
}

int32_t lgi_partition_round_robin(lgi_partitioner_state_t *state,
                                  int32_t count) {
    unsigned ticket = atomic_fetch_add_explicit(&state->round_robin, 1,
                                                memory_order_relaxed);
    return (int32_t)(ticket % (unsigned)count);
}

int32_t lgi_sticky_partition(lgi_partitioner_state_t *state, int32_t count) {
    int sticky = atomic_load_explicit(&state->sticky, memory_order_relaxed);
    while (sticky < 0 || sticky >= count) {
        int chosen = lgi_partition_random(count);
        /* On failure sticky holds what another thread chose; take it
         * unless it is out of range too. */
        if (atomic_compare_exchange_weak(&state->sticky, &sticky, chosen))
            return chosen;
    }
    return sticky;
}

int32_t lgi_sticky_on_new_batch(lgi_partitioner_state_t *state,
                                int32_t previous, int32_t count) {
    if (count <= 1)
        return lgi_sticky_partition(state, count);
    /* A random partition other than previous: draw among count - 1 and
     * skip over previous. */
    int32_t next = lgi_partition_random(count - 1);
    if (next >= previous)
        next++;
    int expected = previous;
    if (atomic_compare_exchange_strong(&state->sticky, &expected, next))
        return next;
    /* Someone else moved it already (or it was never previous): keep
     * theirs, so concurrent producers agree on one partition. */
    return lgi_sticky_partition(state, count);
}

int32_t lgi_partitioner_choose(int strategy, lgi_partitioner_state_t *state,
                               const void *key, size_t key_len,
                               int32_t count, int *stickyp) {
    *stickyp = 0;
    switch (strategy) {
    case LGI_PARTITIONER_RANDOM:
        return lgi_partition_random(count);
    case LGI_PARTITIONER_ROUNDROBIN:
        return lgi_partition_round_robin(state, count);
    case LGI_PARTITIONER_MURMUR2:
        if (key)
            return lgi_partition_murmur2(key, key_len, count);
        break;
    default:
        if (key)
            return lgi_partition_xxh3(key, key_len, count);
        break;
    }
    *stickyp = 1;
    return lgi_sticky_partition(state, count);
}
