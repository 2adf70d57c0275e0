/*
 * uring.h -- the I/O engine: one I/O thread that is the single issuer of a
 * ring, with a plain-syscall backend of identical semantics.
 *
 * Callers on any thread hand requests to the I/O thread through a
 * lock-light queue; the thread batches whatever has queued into one
 * submission, and completes requests by calling their done callback on the
 * I/O thread.  Writes to one fd that ask for LGI_IO_SYNC are group-committed:
 * every write to that fd completed before the fdatasync was issued shares
 * that one fdatasync, and sync requests complete only after it.
 *
 * Backend choice: "auto" tries io_uring and falls back to syscalls when
 * io_uring_queue_init fails (ENOSYS, EPERM from kernel.io_uring_disabled or
 * seccomp, ENOMEM from locked-memory limits).  The environment variable
 * LIBLOG_IO_BACKEND=io_uring|syscall|auto overrides the configured value.
 */
#ifndef LG_URING_H
#define LG_URING_H

#include "liblog.h"
#include "stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct lgi_io lgi_io_t;
typedef struct lgi_io_req lgi_io_req_t;

enum lgi_io_backend {
    LGI_IO_AUTO = 0,
    LGI_IO_URING = 1,
    LGI_IO_SYSCALL = 2,
};

enum lgi_io_op {
    LGI_IO_WRITE = 0,     /* pwritev iov at pos; retried until complete */
    /* fdatasync fd (group-committed with others).  It covers the writes to
     * fd that had completed when it was submitted; a write still in flight
     * is not waited for -- flag that write LGI_IO_SYNC instead. */
    LGI_IO_FSYNC = 1,
    LGI_IO_FALLOCATE = 2, /* fallocate(fd, FALLOC_FL_KEEP_SIZE, pos, len) */
};

/* Writes up to this size are done without the ring where that saves a
 * hand-off: inline on the I/O thread (uring.c, "Small writes inline") or
 * by a caller waiting for them (lgi_io_write_here). */
#define LGI_IO_SMALL_WRITE_MAX 65536u

/* Flag for LGI_IO_WRITE: complete only once the write is durable
 * (write, then the group fdatasync of its fd). */
#define LGI_IO_SYNC 0x1u

/* Completion callback, run on the I/O thread.  result is 0 or a negative
 * errno (-EIO, -ENOSPC ...).  For a write with LGI_IO_SYNC, a failed write
 * reports the write's errno and a failed fdatasync reports its errno; a
 * failed fdatasync is never retried (the kernel may have dropped the dirty
 * pages, so a retry's success would prove nothing). */
typedef void (*lgi_io_done_fn)(lgi_io_req_t *req, int result);

struct lgi_io_req {
    /* filled by the caller */
    int op;       /* enum lgi_io_op */
    int fd;
    uint64_t pos; /* file position (write, fallocate) */
    uint64_t len; /* fallocate length; for writes, set by submit from iov */
    const struct iovec *iov; /* write: borrowed until done */
    int iovcnt;              /* at most LGI_IO_MAX_IOV */
    unsigned flags;
    lgi_io_done_fn done;
    void *opaque;
    /* private to the engine */
    lgi_io_req_t *next;
    uint64_t written; /* bytes written so far (short-write resume) */
    int stage;
    int result;
};

#define LGI_IO_MAX_IOV 8

/* Starts the I/O engine and its thread.  backend is enum lgi_io_backend
 * (the environment variable wins); queue_depth is the submission queue
 * size (the completion queue is made at least twice that).  *iop on
 * success; LG_ERR_IO with a message when the requested backend cannot
 * start (io_uring asked for explicitly but unavailable). */
lg_err_t lgi_io_open(int backend, unsigned queue_depth, lgi_io_t **iop);

/* Completes every queued request, stops and joins the thread, frees io.
 * NULL is a no-op.  Nothing may be submitted concurrently. */
void lgi_io_close(lgi_io_t *io);

/* "io_uring" or "syscall". */
const char *lgi_io_backend_name(const lgi_io_t *io);

/* Queues req (any thread, never blocks on I/O).  req and its iov must stay
 * valid until req->done has been called.  Requests are started in
 * submission order per fd, but may complete out of order. */
void lgi_io_submit(lgi_io_t *io, lgi_io_req_t *req);

/* lgi_io_submit in two steps, for a caller that queues under a lock of
 * its own: enqueue queues req and returns true when the I/O thread was
 * asleep and this caller took it upon itself to wake it; the caller then
 * must call lgi_io_wake soon, after releasing its lock (a thread it
 * wakes would otherwise find the lock held and sleep again).  Until that
 * call the I/O thread may stay asleep, also for others' requests. */
bool lgi_io_enqueue(lgi_io_t *io, lgi_io_req_t *req);
void lgi_io_wake(lgi_io_t *io);

/* Does the write req describes on the calling thread and returns its
 * result (0 or -errno) without calling req->done: the same pwritev the I/O
 * thread would do for a small write, with the same fault hook, retries
 * and resumption of short writes.  For a caller that would otherwise hand
 * the write over and wait for it (see partition.c, "Writes done by the
 * appender"), which saves both hand-offs.  Not for LGI_IO_SYNC writes
 * (-EINVAL): those join the I/O thread's group commit.  Any thread except
 * inside a completion callback, concurrently with other requests. */
int lgi_io_write_here(lgi_io_t *io, lgi_io_req_t *req);

/* Convenience: submits req and waits for it; returns its result (0 or
 * -errno).  req->done/opaque are overwritten.  Must not be called from a
 * completion callback (the I/O thread would wait on itself); it returns
 * -EDEADLK there without submitting. */
int lgi_io_submit_wait(lgi_io_t *io, lgi_io_req_t *req);

/* Sets how long the I/O thread watches for new work before it sleeps
 * (engine property io.spin.us, in nanoseconds here; 0 = sleep at once).
 * Any thread, any time. */
void lgi_io_set_spin(lgi_io_t *io, int64_t spin_ns);

/* Counters for stats and tests. */
typedef struct lgi_io_stats {
    uint64_t submits;      /* io_uring_submit / syscall rounds */
    uint64_t writes;       /* write requests completed */
    uint64_t fsyncs;       /* fdatasync calls issued */
    uint64_t sync_waiters; /* sync requests served by those fsyncs */
    uint64_t short_writes; /* resubmissions after a short write */
    uint64_t retries;      /* resubmissions after EAGAIN/EINTR */
    uint64_t inline_writes; /* io_uring backend: write attempts made on the
                               I/O thread instead of the ring */
    uint64_t caller_writes; /* writes done by lgi_io_write_here (appends
                               and zero fills) */
} lgi_io_stats_t;

void lgi_io_get_stats(lgi_io_t *io, lgi_io_stats_t *stats);

/* Latency of every fdatasync issued (group commits count once), from
 * issue to completion.  Read with relaxed loads by the stats renderers. */
const lgi_histogram_t *lgi_io_fsync_latency(lgi_io_t *io);

/* Sets where the I/O engine and the partitions using it send their log
 * messages (copied).  Call right after lgi_io_open, before any request. */
void lgi_io_set_logger(lgi_io_t *io, const lgi_logger_t *logger);

/* io's logger (NULL for a NULL io).  Any thread. */
const lgi_logger_t *lgi_io_logger(lgi_io_t *io);

/* ------------------------------------------------------------------------
 * Test hooks
 * --------------------------------------------------------------------- */

/* Where a fault hook is consulted: just before the I/O thread would issue
 * the named operation for req (for LGI_IO_FAULT_FSYNC, req is the first of
 * the requests sharing that fdatasync). */
enum lgi_io_fault_stage {
    LGI_IO_FAULT_WRITE = 1,
    LGI_IO_FAULT_FSYNC = 2,
    LGI_IO_FAULT_FALLOCATE = 3,
};

/* Returns 0 to perform the operation normally; a negative errno to report
 * that errno as the operation's result without performing it; for
 * LGI_IO_FAULT_WRITE, a positive n smaller than the bytes still to write
 * to perform a real write of only the first n of them (a short write).
 * Runs on the I/O thread, or on the caller of lgi_io_write_here. */
typedef int (*lgi_io_fault_fn)(void *opaque, const lgi_io_req_t *req,
                               int stage);

/* Installs (or with NULL removes) io's fault hook.  It applies to
 * operations issued after the I/O thread next takes requests from its
 * queue, so install it before submitting the requests it should see.
 * Any thread. */
void lgi_io_set_fault(lgi_io_t *io, lgi_io_fault_fn fault, void *opaque);

/* Makes every later io_uring setup in this process fail with errnum as
 * though the kernel refused it (EPERM as from kernel.io_uring_disabled,
 * ENOSYS, ENOMEM), so the fallback can be tested without root.  0 restores
 * normal behaviour.  Any thread. */
void lgi_io_set_uring_init_failure(int errnum);

#endif
