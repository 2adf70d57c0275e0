/*
 * testutil.h -- helpers shared by the test suites: scratch directories,
 * whole-file reads/writes for corrupting data on purpose, child processes
 * killed at random moments and the reports they pipe to the parent, and
 * the engine calls several suites make the same way (those fail the
 * running Check test when the call fails).
 */
#ifndef LG_TESTUTIL_H
#define LG_TESTUTIL_H

#include "liblog.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A fresh empty directory under $TMPDIR (or /tmp); malloc'd path.
 * Aborts the test process if it cannot be made. */
char *lgt_tmpdir(const char *tag);

/* rm -rf path; ignores errors. */
void lgt_rmrf(const char *path);

/* path joined with a printf-style suffix into a static-free malloc'd
 * string. */
char *lgt_path(const char *dir, const char *name);

/* Reads a whole file into a malloc'd buffer; NULL if missing. */
uint8_t *lgt_read_file(const char *path, size_t *lenp);

/* Writes len bytes to path (create/truncate); 0 or -1. */
int lgt_write_file(const char *path, const void *data, size_t len);

/* Size of path in bytes, -1 if missing. */
long long lgt_file_size(const char *path);

/* Flips bit (0-7) of the byte at pos in path; 0 or -1. */
int lgt_flip_bit(const char *path, long long pos, int bit);

/* Truncates path to len bytes; 0 or -1. */
int lgt_truncate(const char *path, long long len);

/* Number of open file descriptors of this process (for leak checks). */
int lgt_open_fd_count(void);

/* Gives child up to delay_us microseconds to end by itself, then
 * SIGKILLs it; delay_us < 0 waits for it to end.  Reaps child and returns
 * its waitpid status; *killedp (may be NULL) is 1 when this call killed
 * it, else 0.  Aborts the test process if child cannot be reaped. */
int lgt_wait_or_kill(pid_t child, long delay_us, int *killedp);

/* FNV-1a 64 of data (what the crash suites store per acknowledged
 * record to compare after recovery). */
uint64_t lgt_fnv1a(const void *data, size_t len);

/* xorshift64: advances *state (seeded non-zero) and returns it;
 * reproducible random numbers for the crash suites. */
uint64_t lgt_xorshift(uint64_t *state);

/* Environment variable name as a number, fallback when unset or empty
 * (the soak settings, e.g. LIBLOG_CRASH_KILLS). */
long lgt_env_long(const char *name, long fallback);

/* Milliseconds on CLOCK_MONOTONIC (deadlines; not wall time). */
int64_t lgt_monotonic_ms(void);

/* Called with each whole record_size-byte record lgt_drain_records reads;
 * record is not aligned (memcpy it). */
typedef void (*lgt_record_fn)(void *opaque, const uint8_t *record);

/* Reads fd -- a pipe a child writes fixed-size records of record_size
 * bytes to -- until EOF, or until deadline_ms (lgt_monotonic_ms; -1: no
 * deadline), calling on_record(opaque, record) for every whole record.
 * buf (size bytes, at least record_size) holds *have bytes of a partial
 * record between calls.  Retries EINTR; fails the Check test on other
 * read or poll errors. */
void lgt_drain_records(int fd, int64_t deadline_ms, uint8_t *buf,
                       size_t size, size_t *have, size_t record_size,
                       lgt_record_fn on_record, void *opaque);

/* ---- engine calls (Check assertions) ---- */

/* lg_engine_open(dir) with the default configuration. */
lg_engine_t *lgt_engine_open(const char *dir);

/* A transactional producer: transactional.id id, linger.ms 0 and, when
 * timeout_ms is not NULL, that transaction.timeout.ms.  Transactions are
 * not initialized. */
lg_producer_t *lgt_txn_producer(lg_engine_t *engine, const char *id,
                                const char *timeout_ms);

/* The last stable offset and the high watermark of topic's partition. */
int64_t lgt_lso(lg_engine_t *engine, const char *topic, int32_t partition);
int64_t lgt_high(lg_engine_t *engine, const char *topic, int32_t partition);

#endif
