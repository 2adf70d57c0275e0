/*
 * simdisk.h -- a byte-faithful simulated disk for one replica of one
 * partition, for the deterministic simulator (test/test_replica_sim.c).
 * Implements lgi_replica_storage_t.
 *
 * The log is a byte file in 512-byte sectors, each entry stored as a real
 * Kafka v2 record batch (lib/batch.c encodes it: one record whose value is
 * the entry, base offset = entry index, partitionLeaderEpoch = the entry's
 * epoch, CRC-32C).  Two images of the file exist: the page cache (what the
 * process reads and writes) and the medium (what survives a power loss).
 * sync (fdatasync) copies the cache to the medium; truncate_to cuts the
 * cache and syncs, as lib/partition.c's truncation does.
 *
 * A crash (lgt_simdisk_crash) keeps the medium, then lets a random number
 * of the unsynced sectors reach it in order, then possibly tears the next
 * sector -- a random prefix of the new bytes over the old content, zeros
 * (size updated, data not), or garbage -- and with some chance lets one
 * later sector land out of order.  Bytes synced before are never altered
 * (a sector rewritten with unchanged synced bytes keeps them; drives
 * write 512-byte sectors atomically).  Recovery then does what segment
 * recovery does: walks the batches from the start with
 * lgi_batch_validate (length, magic, CRC) and the expected base offset,
 * requires each batch's partitionLeaderEpoch (outside the CRC) to be the
 * one the leader-epoch checkpoint gives its offset -- the checkpoint is
 * durable before the first batch of a newer epoch, as in lib/partition.c
 * -- and truncates at the first invalid byte.
 *
 * The quorum state is modelled as the files lib/metafile.c writes, with
 * inodes and a directory that each have a cache and a medium image:
 * write "quorum-state.tmp" (body + XXH3 trailer, lgi_metafile_trailer),
 * fsync it, rename it over "quorum-state", fsync the directory.  A crash
 * may tear unsynced file data and may or may not persist an unsynced
 * rename (atomically).  Loading reads "quorum-state" through the medium
 * directory and judges it with lgi_metafile_verify and
 * lgi_quorum_state_parse -- the real code.
 *
 * Dying mid-operation: with the chance set by lgt_simdisk_set_death, a
 * save_state or truncate_to stops at a random step of its protocol (the
 * power fails there): the disk marks *dying (shared by a node's disks),
 * the call fails, and every later mutating call fails without effect; the
 * simulator drops the node's messages and crashes it as soon as the
 * current call returns.
 *
 * All randomness comes from the rng passed at creation (the simulator's),
 * so runs are reproducible.
 */
#ifndef LG_TEST_SIMDISK_H
#define LG_TEST_SIMDISK_H

#include "replica.h"

#include <stdint.h>

typedef struct lgt_simdisk lgt_simdisk_t;

/* A new empty disk drawing randomness from *rng and sharing *dying with
 * the other disks of its node (both borrowed for the disk's life). */
lgt_simdisk_t *lgt_simdisk_new(uint64_t *rng, int *dying);
void lgt_simdisk_free(lgt_simdisk_t *disk);

/* The storage table over disk (borrowed). */
lgi_replica_storage_t lgt_simdisk_storage(lgt_simdisk_t *disk);

/* Chance that a save_state / truncate_to dies part-way. */
void lgt_simdisk_set_death(lgt_simdisk_t *disk, double chance);

/* Tests: with on == 0 recovery ignores the leader-epoch checkpoint and
 * trusts a batch's epoch field as the CRC leaves it (the store before the
 * fix in lib/partition.c's epochs_check). */
void lgt_simdisk_set_epoch_check(lgt_simdisk_t *disk, int on);

/* Tests: with on != 0 save_state reports success but keeps the quorum
 * state in memory only -- a deliberately broken vote store that must let
 * a node vote twice in an epoch after a crash. */
void lgt_simdisk_set_unsafe_state(lgt_simdisk_t *disk, int on);

/* Power loss then recovery (see above).  0, or -1 when the quorum state
 * cannot be read back (the real node would refuse to start) with a reason
 * in why. */
int lgt_simdisk_crash(lgt_simdisk_t *disk, char *why, size_t why_len);

/* The log as the process sees it: entry count, entries wholly on the
 * medium (durable), and one entry (data borrowed until the log changes). */
int64_t lgt_simdisk_count(const lgt_simdisk_t *disk);
int64_t lgt_simdisk_durable(const lgt_simdisk_t *disk);
int lgt_simdisk_entry(const lgt_simdisk_t *disk, int64_t offset,
                      int32_t *epochp, const uint8_t **datap,
                      uint32_t *lenp);

/* The log file's bytes as the process sees them (borrowed until the log
 * changes). */
const uint8_t *lgt_simdisk_bytes(const lgt_simdisk_t *disk, size_t *lenp);

/* The lowest offset whose entry was removed or replaced (by truncation or
 * by a crash's recovery) since the previous call, INT64_MAX if none: lets
 * the checker re-verify only what can have changed. */
int64_t lgt_simdisk_take_cut(lgt_simdisk_t *disk);

/* Quorum state the process last saved (the cache view). */
int32_t lgt_simdisk_state_epoch(const lgt_simdisk_t *disk);

typedef struct lgt_simdisk_counters {
    long truncations;    /* truncate_to calls that removed entries */
    long torn_tails;     /* crashes whose recovery cut invalid bytes */
    long torn_bytes;     /* bytes recovery cut */
    long entries_lost;   /* unsynced entries a crash lost */
    long state_deaths;   /* save_state calls the power cut part-way */
    long renames_lost;   /* unsynced renames a crash did not persist */
} lgt_simdisk_counters_t;

const lgt_simdisk_counters_t *lgt_simdisk_counters(const lgt_simdisk_t *disk);

#endif
