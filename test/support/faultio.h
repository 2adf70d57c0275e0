/*
 * faultio.h -- a fault-injecting layer under the I/O engine, for the crash,
 * power-loss and I/O-error suites.  Built on lgi_io_set_fault: nothing in
 * lib/ knows it exists.
 *
 * Two independent tools:
 *
 *   The power-loss journal.  In a process that is about to be SIGKILLed,
 *   lgt_faultio_hook (installed as the engine's fault hook) records, before
 *   every write is issued, the bytes the write is about to overwrite and
 *   the file's size, into an append-only journal file outside the data
 *   directory; before every fdatasync it records a sync mark with the
 *   file's size.  lgt_faultio_note_sync does the same for fdatasyncs the
 *   library issues without the I/O engine (segment seals), for a wrapper
 *   the test program interposes.  After the kill, lgt_faultio_power_loss
 *   replays the journal backwards: every write issued after the last sync
 *   mark of its file is undone (old bytes restored, size cut back to the
 *   synced size), except that the last such write may keep a prefix ending
 *   at a 512-byte sector boundary -- a torn write.  What remains is what a
 *   disk would hold after losing power: the fdatasync'd state plus a torn
 *   sector run.
 *
 *   Marks are written *before* the sync they describe, so a kill between
 *   the two makes the simulation keep slightly more than a real power loss
 *   would (never less): the test can be lenient, never wrong.  Likewise on
 *   io_uring a write still in flight when an fdatasync is issued is counted
 *   as covered by it.
 *
 *   The error injector.  lgt_faultio_inject_hook returns a chosen errno
 *   (EIO, ENOSPC) or a short write at the n-th operation of a chosen
 *   stage, once or from then on, so in-process tests can drive every
 *   failure path at a random point.
 */
#ifndef LG_FAULTIO_H
#define LG_FAULTIO_H

#include "uring.h"

#include <stdatomic.h>
#include <stdint.h>

/* Starts journaling into path (created/truncated, O_APPEND).  Process-wide;
 * meant for a child process that will be killed.  0 or -1. */
int lgt_faultio_journal_start(const char *path);

/* The fault hook that journals; always lets the operation proceed. */
int lgt_faultio_hook(void *opaque, const lgi_io_req_t *req, int stage);

/* Records a sync mark for fd, when journaling is on (for an interposed
 * fdatasync/fsync wrapper).  Safe to call from any thread. */
void lgt_faultio_note_sync(int fd);

/* Replays the journal at path as a power loss; seed chooses where the last
 * unsynced write tears.  Returns the number of writes undone (fully or
 * partly), 0 when there is no journal (the process died before starting
 * one: callers must unlink it before each run, or an old journal would be
 * replayed over newer synced data), or -1 if it cannot be read. */
long lgt_faultio_power_loss(const char *path, uint64_t seed);

/* The error injector's plan: fail operation number `at` (0-based, counted
 * per stage over the operations of that stage) with `result` (a negative
 * errno, or for writes a positive short-write length); sticky != 0 keeps
 * failing every later operation of the stage until cleared.  Counters are
 * atomics because the hook runs on the I/O thread while the test thread
 * reads them. */
typedef struct lgt_fault_plan {
    int stage;          /* LGI_IO_FAULT_WRITE / _FSYNC */
    long at;
    int result;
    int sticky;
    atomic_long seen;   /* operations of the stage seen so far */
    atomic_int fired;   /* how many times the fault was injected */
    atomic_int cleared; /* set by the test: stop injecting */
} lgt_fault_plan_t;

/* Fault hook driven by a plan (opaque is the lgt_fault_plan_t *).  Zero
 * fills (lgi_segment_is_zero_fill) are not counted as operations; they
 * fail only while a sticky fault is firing. */
int lgt_faultio_inject_hook(void *opaque, const lgi_io_req_t *req, int stage);

#endif
