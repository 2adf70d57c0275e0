/*
 * uring.c -- the I/O engine: one thread per lgi_io_t that alone issues
 * every fdatasync and fallocate and every write a caller does not wait
 * for, through io_uring or through plain system calls with the same
 * semantics.
 *
 * Role.  Segment stores on any thread hand requests to lgi_io_submit().
 * The request is pushed onto a mutex-protected intrusive FIFO (the lock is
 * held for a few pointer stores, never across I/O) and the I/O thread is
 * woken -- through an eventfd that a read SQE on the ring is always armed
 * on (io_uring backend), or a condition variable (syscall backend).  The
 * thread takes everything queued in one splice and issues it as one
 * submission, so many producers' writes share one io_uring_enter.
 *
 * Latency.  Waking a sleeping thread costs the waker a system call and
 * the wakee 5-30 us before it runs (an IPI, and on a VM often an exit to
 * the host), so the hand-off avoids it where it can:
 *
 *  - Wake only a sleeper.  The thread announces `sleeping` before it
 *    blocks and re-checks `queued` after; a submitter sets `queued` before
 *    it reads `sleeping`, each side with a sequentially consistent fence,
 *    so at least one sees the other.  A submitter pays for a wake-up only
 *    when the thread is really (about to be) asleep, and at most one
 *    submitter per sleep does (it takes `sleeping` back to 0).
 *
 *  - Spin before sleeping (io.spin.us, default 0).  With it set, the
 *    thread that runs out of work watches `queued` and the completion
 *    queue for that long before it blocks: the first few microseconds
 *    with the pause instruction, then yielding the CPU between looks, so
 *    on a busy machine runnable threads get the core.  A hand-off that
 *    lands within the window costs no wake-up at all.  It burns CPU for
 *    as long as it spins, which is why it is off unless asked for.
 *
 *  - Small writes inline.  io_uring completes a buffered write inline only
 *    when the file system can do it without blocking (IOCB_NOWAIT); ext4
 *    and tmpfs refuse, so every write SQE is punted to an io-wq worker --
 *    a wake-up of that worker and another of this thread for the CQE,
 *    some 30 us for a write pwritev does in 0.5 us.  So a write of at
 *    most LGI_IO_INLINE_WRITE_MAX bytes is first tried with
 *    pwritev2(RWF_NOWAIT) on this thread: done if the file system can;
 *    if it refuses nowait writes outright (EOPNOTSUPP, remembered for the
 *    engine's life) the write is a plain pwritev here -- what the io-wq
 *    worker would have done, minus two hops; if it would block (EAGAIN)
 *    it goes to the ring as before.  Larger writes, fdatasync and
 *    fallocate always go through the ring, so a long copy or a disk
 *    flush never holds the thread; so does a write to a file with an
 *    fdatasync in flight, because on a device that wants stable pages
 *    it would wait for the writeback of the page it appends to.
 *    Results are identical either way (a short or failed inline write is
 *    handled by the same write_finished), and doing the write on this
 *    thread is what the syscall backend does for every request.
 *
 *  - Writes done by the caller.  A caller that would only hand a small
 *    write over and wait for it can do it itself (lgi_io_write_here: the
 *    same pwritev, fault hook and retry rules, without the ring) and save
 *    both wake-ups; partition.c does so for acks=1 appends that wait.
 *    The ring's single issuer is unchanged: that path never touches it.
 *
 * Invariants (all state below the queue is touched by the I/O thread only,
 * so it needs no locks):
 *
 *  - A request is in exactly one place at a time: the submission queue,
 *    the ready list (taken, not yet issued), in flight (owned by a slot),
 *    the sync-waiting list (written, waiting for an fdatasync to be
 *    issued), an fsync group (owned by the slot of that fdatasync), or the
 *    done list.  Its `next` field links whichever list it is on.
 *
 *  - Group commit: a write with LGI_IO_SYNC, and an LGI_IO_FSYNC request,
 *    join the sync-waiting list only once their write has completed.  An
 *    fdatasync for fd is issued only when none is already in flight for fd,
 *    and it takes every waiter for fd present at that moment.  Hence every
 *    request it completes had its data written before it was issued, and
 *    writes finishing while it runs wait for the next one -- the longer an
 *    fdatasync takes, the more producers share the next.
 *
 *  - A failed fdatasync completes all of its group with its errno and is
 *    never retried for them: after a writeback error the kernel may have
 *    dropped the dirty pages and cleared the error, so a retry's success
 *    would prove nothing (the "fsyncgate" lesson PostgreSQL learnt).
 *
 *  - In-flight operations are bounded by the number of slots, which is
 *    below the completion queue size, so the CQ can never overflow.  Each
 *    slot owns the iovec array of its operation, because a resumed short
 *    write needs an iovec that skips what was already written and the
 *    caller's array is borrowed read-only.
 *
 *  - Completion callbacks run on the I/O thread with no lock held, after
 *    the work they might be waiting behind has been submitted.  They may
 *    call lgi_io_submit (it only takes the queue lock) but not
 *    lgi_io_submit_wait.
 *
 *  - lgi_io_close sets `stopping`; the thread keeps going until the queue,
 *    the ready list, the slots, the sync waiters and the done list are all
 *    empty, so every request ever submitted gets its callback.
 */
#include "uring.h"

#include "alloc.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Writes up to this size are tried inline on the I/O thread (see the file
 * comment): copying 64 KiB into the page cache takes some 10 us, less
 * than the io-wq round trip it replaces, and short enough not to hold up
 * the completions queued behind it. */
#define LGI_IO_INLINE_WRITE_MAX LGI_IO_SMALL_WRITE_MAX

/* The spin before sleeping uses the pause instruction for this long, then
 * sched_yield between looks (2 cores are easily all taken). */
#define LGI_IO_SPIN_PAUSE_NS 5000

/* Consecutive EAGAIN/EINTR results after which a request is failed rather
 * than retried again: transient results on regular files clear within a
 * few tries, and a bound turns a livelock into a reported error. */
#define LGI_IO_MAX_RETRIES 1000

#define LGI_IO_DEFAULT_DEPTH 64u
#define LGI_IO_MAX_DEPTH 4096u

/* req->stage: where the request is in its life (private to this file). */
enum {
    STAGE_QUEUED = 0,  /* submitted, not yet taken by the I/O thread */
    STAGE_INVALID = 1, /* rejected by lgi_io_submit; completes -EINVAL */
    STAGE_WRITING = 2, /* write or fallocate not yet finished */
    STAGE_SYNC_WAIT = 3, /* data written; waiting for a group fdatasync */
    STAGE_DONE = 4,    /* on the done list; result is final */
};

enum slot_kind {
    SLOT_FREE = 0,
    SLOT_WRITE,
    SLOT_FALLOCATE,
    SLOT_FSYNC,
    SLOT_WAKE, /* the eventfd read that wakes the io_uring thread */
};

/* One in-flight operation.  Its address is the SQE's user_data. */
typedef struct lgi_io_slot {
    int kind;
    int fd;                   /* SLOT_FSYNC: the fd being synced */
    lgi_io_req_t *req;        /* the request, or the fsync group's head */
    struct lgi_io_slot *next; /* free list, or the in-flight fsync list */
    int64_t issued_ns;        /* SLOT_FSYNC: when it was issued (stats) */
    struct iovec iov[LGI_IO_MAX_IOV]; /* what this attempt writes */
} lgi_io_slot_t;

/* A singly linked FIFO threaded through lgi_io_req_t.next. */
typedef struct {
    lgi_io_req_t *head;
    lgi_io_req_t *tail;
} req_list_t;

struct lgi_io {
    int backend; /* LGI_IO_URING or LGI_IO_SYSCALL, never AUTO */
    pthread_t thread;

    /* --- shared with submitters, under queue_lock --- */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond; /* syscall backend: wakes the thread */
    req_list_t queue;
    bool stopping;
    lgi_io_fault_fn fault; /* copied to the thread's own at each drain */
    void *fault_opaque;

    /* eventfd the io_uring thread keeps a read armed on; written by a
     * submitter that finds the thread sleeping. */
    int wake_fd;

    /* --- lock-free hand-off (see "Latency" in the file comment) --- */
    atomic_int sleeping; /* 1: the thread is blocked or about to block */
    atomic_int queued;   /* 1: the queue is non-empty (set/cleared under
                            queue_lock, read without it) */
    _Atomic int64_t spin_ns; /* io.spin.us in ns; 0 = no spin */

    /* --- I/O thread only --- */
    struct io_uring ring;
    bool ring_ready;
    uint64_t wake_buffer; /* target of the eventfd read */
    lgi_io_slot_t wake_slot;
    bool wake_armed; /* the eventfd read is in the ring, not yet reaped */
    lgi_io_slot_t *slots;
    unsigned slot_count;
    lgi_io_slot_t *free_slots;
    unsigned in_flight;          /* slots in use */
    lgi_io_slot_t *fsyncs;       /* in-flight fdatasync slots */
    unsigned prepared;           /* SQEs prepared, not yet submitted */
    req_list_t ready;
    req_list_t sync_waiting;
    req_list_t done;
    lgi_io_fault_fn thread_fault;
    void *thread_fault_opaque;
    bool nowait_refused; /* the file system refused a RWF_NOWAIT write */

    /* --- counters: written by the I/O thread, read anywhere --- */
    _Atomic uint64_t stat_submits;
    _Atomic uint64_t stat_writes;
    _Atomic uint64_t stat_fsyncs;
    lgi_histogram_t fsync_latency; /* issue to completion, microseconds */
    lgi_logger_t logger;           /* set once, before any request */
    _Atomic uint64_t stat_sync_waiters;
    _Atomic uint64_t stat_short_writes;
    _Atomic uint64_t stat_retries;
    _Atomic uint64_t stat_inline_writes;
    _Atomic uint64_t stat_caller_writes;
};

static atomic_int uring_init_failure;

/* Counters are added to by the I/O thread and by lgi_io_write_here's
 * callers; relaxed order is enough because readers want a recent value,
 * not a consistent snapshot. */
static void stat_add(_Atomic uint64_t *counter, uint64_t amount) {
    atomic_fetch_add_explicit(counter, amount, memory_order_relaxed);
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ------------------------------------------------------------------------
 * Request lists
 * --------------------------------------------------------------------- */

/* Appends req; requests are issued in the order they were queued. */
static void list_push_back(req_list_t *list, lgi_io_req_t *req) {
    req->next = NULL;
    if (list->tail)
        list->tail->next = req;
    else
        list->head = req;
    list->tail = req;
}

/* Puts req first: a resumed or retried request goes ahead of later ones
 * so that writes to one fd keep starting in submission order. */
static void list_push_front(req_list_t *list, lgi_io_req_t *req) {
    req->next = list->head;
    list->head = req;
    if (!list->tail)
        list->tail = req;
}

/* Detaches and returns the first request, or NULL. */
static lgi_io_req_t *list_pop_front(req_list_t *list) {
    lgi_io_req_t *req = list->head;
    if (req) {
        list->head = req->next;
        if (!list->head)
            list->tail = NULL;
        req->next = NULL;
    }
    return req;
}

/* Moves all of from to the end of to, leaving from empty. */
static void list_splice(req_list_t *to, req_list_t *from) {
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

/* ------------------------------------------------------------------------
 * Slots
 * --------------------------------------------------------------------- */

/* Takes a free slot for one operation, or NULL when as many operations
 * are in flight as the completion queue can hold. */
static lgi_io_slot_t *slot_get(lgi_io_t *io, int kind) {
    lgi_io_slot_t *slot = io->free_slots;
    if (!slot)
        return NULL;
    io->free_slots = slot->next;
    slot->next = NULL;
    slot->kind = kind;
    io->in_flight++;
    return slot;
}

/* Returns slot once its operation's completion has been handled. */
static void slot_put(lgi_io_t *io, lgi_io_slot_t *slot) {
    slot->kind = SLOT_FREE;
    slot->req = NULL;
    slot->next = io->free_slots;
    io->free_slots = slot;
    io->in_flight--;
}

/* Fills slot->iov with the part of req's iovec that is still unwritten,
 * at most limit bytes of it; returns the entry count. */
static int build_remaining_iov(const lgi_io_req_t *req, lgi_io_slot_t *slot,
                               uint64_t limit) {
    uint64_t skip = req->written;
    int count = 0;
    for (int i = 0; i < req->iovcnt && limit > 0; i++) {
        size_t length = req->iov[i].iov_len;
        char *base = req->iov[i].iov_base;
        if (skip >= length) {
            skip -= length;
            continue;
        }
        base += skip;
        length -= skip;
        skip = 0;
        if (length > limit)
            length = limit;
        if (length == 0)
            continue;
        slot->iov[count].iov_base = base;
        slot->iov[count].iov_len = length;
        count++;
        limit -= length;
    }
    return count;
}

/* ------------------------------------------------------------------------
 * Results: shared by both backends
 * --------------------------------------------------------------------- */

/* Gives req its final result; its callback runs at the end of the current
 * round, after the round's new I/O has been submitted. */
static void complete(lgi_io_t *io, lgi_io_req_t *req, int result) {
    req->result = result;
    req->stage = STAGE_DONE;
    list_push_back(&io->done, req);
}

/* Counts a transient failure and requeues req, or fails it once the bound
 * is reached.  req->result holds the consecutive retry count while the
 * request is in flight. */
static void retry_or_fail(lgi_io_t *io, lgi_io_req_t *req, int result) {
    if (++req->result > LGI_IO_MAX_RETRIES) {
        complete(io, req, result);
        return;
    }
    stat_add(&io->stat_retries, 1);
    list_push_front(&io->ready, req);
}

/* A write attempt of req finished with result (bytes or -errno). */
static void write_finished(lgi_io_t *io, lgi_io_req_t *req, int result) {
    if (result == -EAGAIN || result == -EINTR) {
        retry_or_fail(io, req, result);
        return;
    }
    if (result < 0) {
        complete(io, req, result);
        return;
    }
    req->result = 0;
    if (result == 0 && req->written < req->len) {
        /* No progress on a regular file means the device gave up without
         * saying why; resubmitting would spin forever. */
        complete(io, req, -EIO);
        return;
    }
    req->written += (uint64_t)result;
    if (req->written < req->len) {
        stat_add(&io->stat_short_writes, 1);
        list_push_front(&io->ready, req);
        return;
    }
    if (req->flags & LGI_IO_SYNC) {
        req->stage = STAGE_SYNC_WAIT;
        list_push_back(&io->sync_waiting, req);
        return;
    }
    complete(io, req, 0);
}

static void fallocate_finished(lgi_io_t *io, lgi_io_req_t *req, int result) {
    if (result == -EAGAIN || result == -EINTR) {
        retry_or_fail(io, req, result);
        return;
    }
    /* Preallocation only saves the file system work later; a file system
     * that cannot do it (EOPNOTSUPP) or not with KEEP_SIZE (EINVAL) still
     * accepts the writes, so that is not a failure of the request. */
    if (result == -EOPNOTSUPP || result == -EINVAL)
        result = 0;
    complete(io, req, result < 0 ? result : 0);
}

/* The fdatasync in slot finished: every request of its group completes
 * with its result, and none of them is ever synced again. */
static void fsync_finished(lgi_io_t *io, lgi_io_slot_t *slot, int result) {
    lgi_io_slot_t **link = &io->fsyncs;
    while (*link && *link != slot)
        link = &(*link)->next;
    if (*link)
        *link = slot->next;
    lgi_io_req_t *req = slot->req;
    lgi_histogram_record(&io->fsync_latency,
                         (uint64_t)(lgi_monotonic_ns() - slot->issued_ns) /
                             1000);
    slot_put(io, slot);
    uint64_t served = 0;
    while (req) {
        lgi_io_req_t *next = req->next;
        complete(io, req, result < 0 ? result : 0);
        served++;
        req = next;
    }
    stat_add(&io->stat_sync_waiters, served);
}

/* ------------------------------------------------------------------------
 * Issuing
 * --------------------------------------------------------------------- */

/* An SQE, flushing the SQ to the kernel first if it is full. */
static struct io_uring_sqe *get_sqe(lgi_io_t *io) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    if (!sqe) {
        int submitted = io_uring_submit(&io->ring);
        if (submitted > 0) {
            stat_add(&io->stat_submits, 1);
            io->prepared = 0;
        }
        sqe = io_uring_get_sqe(&io->ring);
    }
    if (sqe)
        io->prepared++;
    return sqe;
}

/* The fault hook's verdict on issuing stage for req; 0 without a hook. */
static int ask_fault(lgi_io_t *io, const lgi_io_req_t *req, int stage) {
    if (!io->thread_fault)
        return 0;
    return io->thread_fault(io->thread_fault_opaque, req, stage);
}

static bool fsync_in_flight(const lgi_io_t *io, int fd);

/* Starts one attempt of a write.  Returns false (and leaves req untouched)
 * when no slot or SQE is free, so the caller keeps it ready. */
static bool start_write(lgi_io_t *io, lgi_io_req_t *req) {
    uint64_t remaining = req->len - req->written;
    if (remaining == 0) {
        write_finished(io, req, 0);
        return true;
    }
    int fault = ask_fault(io, req, LGI_IO_FAULT_WRITE);
    if (fault < 0) {
        write_finished(io, req, fault);
        return true;
    }
    uint64_t limit = remaining;
    if (fault > 0 && (uint64_t)fault < remaining)
        limit = (uint64_t)fault;

    lgi_io_slot_t *slot = slot_get(io, SLOT_WRITE);
    if (!slot)
        return false;
    slot->req = req;
    int count = build_remaining_iov(req, slot, limit);
    off_t position = (off_t)(req->pos + req->written);

    if (io->backend == LGI_IO_SYSCALL) {
        ssize_t written = pwritev(req->fd, slot->iov, count, position);
        int result = written < 0 ? -errno : (int)written;
        slot_put(io, slot);
        write_finished(io, req, result);
        return true;
    }
    if (limit <= LGI_IO_INLINE_WRITE_MAX && !fsync_in_flight(io, req->fd)) {
        /* Inline when io_uring would punt it to io-wq anyway (file
         * comment); EAGAIN means it could block here: the ring's job. */
        ssize_t written = -1;
        errno = EAGAIN;
        if (!io->nowait_refused) {
            written = pwritev2(req->fd, slot->iov, count, position,
                               RWF_NOWAIT);
            if (written < 0 && errno == EOPNOTSUPP)
                io->nowait_refused = true;
        }
        if (io->nowait_refused)
            written = pwritev(req->fd, slot->iov, count, position);
        if (written >= 0 || errno != EAGAIN) {
            int result = written < 0 ? -errno : (int)written;
            slot_put(io, slot);
            stat_add(&io->stat_inline_writes, 1);
            write_finished(io, req, result);
            return true;
        }
    }
    struct io_uring_sqe *sqe = get_sqe(io);
    if (!sqe) {
        slot_put(io, slot);
        return false;
    }
    io_uring_prep_writev(sqe, req->fd, slot->iov, (unsigned)count,
                         (uint64_t)position);
    io_uring_sqe_set_data(sqe, slot);
    return true;
}

/* Starts a fallocate (KEEP_SIZE: preallocate without changing the size
 * readers see).  Returns false when no slot or SQE is free. */
static bool start_fallocate(lgi_io_t *io, lgi_io_req_t *req) {
    int fault = ask_fault(io, req, LGI_IO_FAULT_FALLOCATE);
    if (fault < 0) {
        fallocate_finished(io, req, fault);
        return true;
    }
    if (io->backend == LGI_IO_SYSCALL) {
        int result = fallocate(req->fd, FALLOC_FL_KEEP_SIZE, (off_t)req->pos,
                               (off_t)req->len);
        fallocate_finished(io, req, result < 0 ? -errno : 0);
        return true;
    }
    lgi_io_slot_t *slot = slot_get(io, SLOT_FALLOCATE);
    if (!slot)
        return false;
    struct io_uring_sqe *sqe = get_sqe(io);
    if (!sqe) {
        slot_put(io, slot);
        return false;
    }
    slot->req = req;
    io_uring_prep_fallocate(sqe, req->fd, FALLOC_FL_KEEP_SIZE, req->pos,
                            req->len);
    io_uring_sqe_set_data(sqe, slot);
    return true;
}

/* Issues the ready list in order until it is empty or slots run out.
 * Requests a fault completes, or that need resuming, go back to the front
 * of the list and are seen again in this same pass. */
static void issue_ready(lgi_io_t *io) {
    lgi_io_req_t *req;
    while ((req = list_pop_front(&io->ready))) {
        bool started;
        if (req->stage == STAGE_INVALID) {
            complete(io, req, -EINVAL);
            continue;
        }
        req->stage = STAGE_WRITING;
        switch (req->op) {
        case LGI_IO_WRITE:
            started = start_write(io, req);
            break;
        case LGI_IO_FALLOCATE:
            started = start_fallocate(io, req);
            break;
        default: /* LGI_IO_FSYNC: nothing to write, wait for a group */
            req->stage = STAGE_SYNC_WAIT;
            list_push_back(&io->sync_waiting, req);
            started = true;
            break;
        }
        if (!started) {
            list_push_front(&io->ready, req);
            return;
        }
    }
}

/* Whether an fdatasync of fd is in flight: if so, new waiters on fd wait
 * for the next one, since this one may have been issued before their
 * writes completed. */
static bool fsync_in_flight(const lgi_io_t *io, int fd) {
    for (const lgi_io_slot_t *slot = io->fsyncs; slot; slot = slot->next)
        if (slot->fd == fd)
            return true;
    return false;
}

/* Issues one fdatasync per fd that has sync waiters and no fdatasync in
 * flight, each taking every waiter for its fd present now. */
static void issue_fsyncs(lgi_io_t *io) {
    req_list_t pending = io->sync_waiting;
    io->sync_waiting.head = io->sync_waiting.tail = NULL;

    lgi_io_req_t *first;
    while ((first = list_pop_front(&pending))) {
        int fd = first->fd;
        lgi_io_slot_t *slot = NULL;
        if (!fsync_in_flight(io, fd))
            slot = slot_get(io, SLOT_FSYNC);
        if (!slot) {
            /* Wait for the next round, keeping the waiting order. */
            list_push_back(&io->sync_waiting, first);
            continue;
        }

        /* Gather the group: first plus every other waiter on fd. */
        req_list_t group = {NULL, NULL};
        req_list_t rest = {NULL, NULL};
        lgi_io_req_t *req;
        list_push_back(&group, first);
        while ((req = list_pop_front(&pending)))
            list_push_back(req->fd == fd ? &group : &rest, req);
        pending = rest;

        slot->fd = fd;
        slot->req = group.head;
        slot->issued_ns = lgi_monotonic_ns();
        slot->next = io->fsyncs;
        io->fsyncs = slot;

        int fault = ask_fault(io, first, LGI_IO_FAULT_FSYNC);
        if (fault < 0 || io->backend == LGI_IO_SYSCALL) {
            int result = fault;
            if (fault >= 0)
                result = fdatasync(fd) < 0 ? -errno : 0;
            stat_add(&io->stat_fsyncs, 1);
            fsync_finished(io, slot, result);
            continue;
        }
        struct io_uring_sqe *sqe = get_sqe(io);
        if (!sqe) {
            /* The kernel would not take the full SQ; put the group back
             * (the fault hook above has already been consulted, which
             * only matters to tests, and they never fill the SQ). */
            io->fsyncs = slot->next;
            slot_put(io, slot);
            list_splice(&group, &io->sync_waiting);
            io->sync_waiting = group;
            continue;
        }
        stat_add(&io->stat_fsyncs, 1);
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data(sqe, slot);
    }
}

/* ------------------------------------------------------------------------
 * The I/O thread
 * --------------------------------------------------------------------- */

/* Moves the submission queue onto the ready list and refreshes the fault
 * hook.  Returns whether close has been requested. */
static bool take_queue(lgi_io_t *io) {
    pthread_mutex_lock(&io->queue_lock);
    list_splice(&io->ready, &io->queue);
    atomic_store_explicit(&io->queued, 0, memory_order_relaxed);
    io->thread_fault = io->fault;
    io->thread_fault_opaque = io->fault_opaque;
    bool stopping = io->stopping;
    pthread_mutex_unlock(&io->queue_lock);
    return stopping;
}

/* Calls the done callback of every completed request.  The callback may
 * reuse or free req, so nothing is read from it afterwards. */
static void run_callbacks(lgi_io_t *io) {
    lgi_io_req_t *req;
    while ((req = list_pop_front(&io->done))) {
        if (req->op == LGI_IO_WRITE)
            stat_add(&io->stat_writes, 1);
        req->done(req, req->result);
    }
}

/* Whether the thread holds no work at all (the queue aside). */
static bool idle(const lgi_io_t *io) {
    return !io->ready.head && !io->sync_waiting.head && !io->done.head &&
           io->in_flight == 0;
}

/* Arms the eventfd read that turns a submitter's wake-up into a CQE, so
 * the thread needs only one blocking call: waiting on the ring. */
static void arm_wake(lgi_io_t *io) {
    struct io_uring_sqe *sqe = get_sqe(io);
    if (!sqe)
        return; /* impossible: the wake read is re-armed after a reap */
    io_uring_prep_read(sqe, io->wake_fd, &io->wake_buffer,
                       sizeof io->wake_buffer, 0);
    io_uring_sqe_set_data(sqe, &io->wake_slot);
    io->wake_armed = true;
}

/* Cancels the armed eventfd read and waits for its completion before the
 * thread exits.  Without this the kernel could still complete the read --
 * close writes the eventfd after the thread may already have seen
 * `stopping` -- into wake_buffer after free_io has released it. */
static void disarm_wake(lgi_io_t *io) {
    if (!io->wake_armed)
        return;
    struct io_uring_sqe *sqe = get_sqe(io);
    if (sqe) {
        io_uring_prep_cancel(sqe, &io->wake_slot, 0);
        io_uring_sqe_set_data(sqe, NULL); /* its own CQE is ignored */
    }
    while (io->wake_armed) {
        struct io_uring_cqe *cqe;
        int result = io_uring_submit_and_wait(&io->ring, 1);
        if (result < 0 && result != -EINTR && result != -EAGAIN &&
            result != -EBUSY)
            return; /* ring unusable; queue_exit will cancel it */
        while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
            if (io_uring_cqe_get_data(cqe) == &io->wake_slot)
                io->wake_armed = false;
            io_uring_cqe_seen(&io->ring, cqe);
        }
    }
}

/* Hands the prepared SQEs to the kernel.  On EAGAIN/EBUSY (the kernel is
 * short of resources until completions are reaped) they stay in the SQ and
 * the next io_uring_submit_and_wait retries them. */
static void submit_prepared(lgi_io_t *io) {
    if (io->prepared == 0)
        return;
    int submitted;
    do
        submitted = io_uring_submit(&io->ring);
    while (submitted == -EINTR);
    if (submitted >= 0) {
        if (submitted > 0)
            stat_add(&io->stat_submits, 1);
        io->prepared = 0;
    }
}

/* With wait, blocks for at least one completion (or a wake-up); then
 * handles every completion available. */
static void reap_uring(lgi_io_t *io, bool wait) {
    struct io_uring_cqe *cqe;
    int result = wait ? io_uring_submit_and_wait(&io->ring, 1)
                      : io_uring_submit(&io->ring);
    if (result >= 0) {
        if (result > 0 && io->prepared > 0)
            stat_add(&io->stat_submits, 1);
        io->prepared = 0;
    } else if (wait && (result == -EAGAIN || result == -EBUSY)) {
        /* Could not submit: wait for completions without submitting. */
        io_uring_wait_cqe(&io->ring, &cqe);
    }

    unsigned head, seen = 0;
    bool rearm = false;
    io_uring_for_each_cqe(&io->ring, head, cqe) {
        lgi_io_slot_t *slot = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        seen++;
        switch (slot->kind) {
        case SLOT_WAKE:
            io->wake_armed = false;
            rearm = true;
            break;
        case SLOT_WRITE: {
            lgi_io_req_t *req = slot->req;
            slot_put(io, slot);
            write_finished(io, req, res);
            break;
        }
        case SLOT_FALLOCATE: {
            lgi_io_req_t *req = slot->req;
            slot_put(io, slot);
            fallocate_finished(io, req, res);
            break;
        }
        case SLOT_FSYNC:
            fsync_finished(io, slot, res);
            break;
        default:
            break;
        }
    }
    io_uring_cq_advance(&io->ring, seen);
    if (rearm)
        arm_wake(io);
}

/* Syscall backend: sleeps until something is queued or close begins.
 * `sleeping` is set and read under the lock here, so no fence is needed. */
static void wait_syscall(lgi_io_t *io) {
    pthread_mutex_lock(&io->queue_lock);
    while (!io->queue.head && !io->stopping) {
        atomic_store_explicit(&io->sleeping, 1, memory_order_relaxed);
        pthread_cond_wait(&io->queue_cond, &io->queue_lock);
    }
    atomic_store_explicit(&io->sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&io->queue_lock);
}

/* Watches for new work for up to io.spin.us before the thread sleeps
 * (file comment): true as soon as something is queued or, on io_uring, a
 * completion is waiting. */
static bool spin_for_work(lgi_io_t *io) {
    int64_t spin_ns = atomic_load_explicit(&io->spin_ns, memory_order_relaxed);
    if (spin_ns <= 0)
        return false;
    int64_t start = lgi_monotonic_ns();
    for (int64_t now = start; now - start < spin_ns;
         now = lgi_monotonic_ns()) {
        if (atomic_load_explicit(&io->queued, memory_order_relaxed))
            return true;
        if (io->backend == LGI_IO_URING && io_uring_cq_ready(&io->ring))
            return true;
        if (now - start < LGI_IO_SPIN_PAUSE_NS)
            cpu_relax();
        else
            sched_yield();
    }
    return false;
}

/* io_uring backend: announces that the thread is going to block and
 * returns true, or false (announcing nothing) when work was queued
 * meanwhile.  Pairs with the fence in lgi_io_submit. */
static bool announce_sleep(lgi_io_t *io) {
    atomic_store_explicit(&io->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&io->queued, memory_order_relaxed))
        return true;
    atomic_store_explicit(&io->sleeping, 0, memory_order_relaxed);
    return false;
}

/* The I/O thread: take the queue, issue, submit, run callbacks, wait --
 * until close has been asked and everything has completed. */
static void *io_thread_main(void *arg) {
    lgi_io_t *io = arg;
    if (io->backend == LGI_IO_URING) {
        arm_wake(io);
        submit_prepared(io);
    }
    for (;;) {
        bool stopping = take_queue(io);
        bool had_work = io->ready.head || io->sync_waiting.head;
        issue_ready(io);
        issue_fsyncs(io);
        if (io->backend == LGI_IO_URING)
            submit_prepared(io);
        else if (had_work)
            stat_add(&io->stat_submits, 1);
        /* New I/O is already on its way while the callbacks run. */
        run_callbacks(io);

        if (stopping && idle(io)) {
            pthread_mutex_lock(&io->queue_lock);
            bool empty = !io->queue.head;
            pthread_mutex_unlock(&io->queue_lock);
            if (empty) {
                if (io->backend == LGI_IO_URING)
                    disarm_wake(io);
                break;
            }
            continue; /* a callback submitted more; drain it too */
        }
        if (io->backend == LGI_IO_URING) {
            bool sleep = !spin_for_work(io) && announce_sleep(io);
            reap_uring(io, sleep);
            atomic_store_explicit(&io->sleeping, 0, memory_order_relaxed);
        } else if (idle(io) && !spin_for_work(io)) {
            wait_syscall(io);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Setup and teardown
 * --------------------------------------------------------------------- */

/* Sets up the ring; 0 or -errno.  Also refuses (-ENOSYS) a kernel whose
 * io_uring lacks one of the operations we issue, so "auto" can fall back
 * rather than fail every request with -EINVAL. */
static int setup_ring(lgi_io_t *io, unsigned depth) {
    int injected = atomic_load(&uring_init_failure);
    if (injected)
        return -injected;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = depth * 2;
    int result = io_uring_queue_init_params(depth, &io->ring, &params);
    if (result < 0)
        return result;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&io->ring);
    if (probe) {
        static const int needed[] = {IORING_OP_WRITEV, IORING_OP_FSYNC,
                                     IORING_OP_FALLOCATE, IORING_OP_READ};
        for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
            if (!io_uring_opcode_supported(probe, needed[i]))
                result = -ENOSYS;
        io_uring_free_probe(probe);
    }
    if (result < 0) {
        io_uring_queue_exit(&io->ring);
        return result;
    }
    io->ring_ready = true;
    /* One CQ entry stays free for the wake read. */
    io->slot_count = params.cq_entries - 1;
    return 0;
}

/* Releases what lgi_io_open acquired; the thread must not be running. */
static void free_io(lgi_io_t *io) {
    if (io->ring_ready)
        io_uring_queue_exit(&io->ring);
    if (io->wake_fd >= 0)
        close(io->wake_fd);
    pthread_cond_destroy(&io->queue_cond);
    pthread_mutex_destroy(&io->queue_lock);
    lgi_free(io->slots);
    lgi_free(io);
}

/* Resolves the backend: the environment variable wins over backend. */
static lg_err_t choose_backend(int backend, int *chosen) {
    const char *env = getenv("LIBLOG_IO_BACKEND");
    if (env && *env) {
        if (strcmp(env, "io_uring") == 0)
            backend = LGI_IO_URING;
        else if (strcmp(env, "syscall") == 0)
            backend = LGI_IO_SYSCALL;
        else if (strcmp(env, "auto") == 0)
            backend = LGI_IO_AUTO;
        else
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "LIBLOG_IO_BACKEND=%s: expected io_uring, "
                             "syscall or auto",
                             env);
    }
    if (backend != LGI_IO_AUTO && backend != LGI_IO_URING &&
        backend != LGI_IO_SYSCALL)
        return lgi_error(LG_ERR_INVALID_ARG, "unknown I/O backend %d",
                         backend);
    *chosen = backend;
    return LG_OK;
}

lg_err_t lgi_io_open(int backend, unsigned queue_depth, lgi_io_t **iop) {
    if (!iop)
        return lgi_error(LG_ERR_INVALID_ARG, "lgi_io_open: NULL iop");
    *iop = NULL;
    int wanted = LGI_IO_AUTO;
    lg_err_t err = choose_backend(backend, &wanted);
    if (err != LG_OK)
        return err;
    if (queue_depth == 0)
        queue_depth = LGI_IO_DEFAULT_DEPTH;
    if (queue_depth > LGI_IO_MAX_DEPTH)
        queue_depth = LGI_IO_MAX_DEPTH;

    lgi_io_t *io = lgi_calloc(1, sizeof *io);
    if (!io)
        return lgi_error(LG_ERR_NOMEM, "out of memory for the I/O engine");
    io->wake_fd = -1;
    pthread_mutex_init(&io->queue_lock, NULL);
    pthread_cond_init(&io->queue_cond, NULL);

    io->backend = LGI_IO_SYSCALL;
    io->slot_count = queue_depth * 2;
    if (wanted != LGI_IO_SYSCALL) {
        int result = setup_ring(io, queue_depth);
        if (result == 0) {
            io->backend = LGI_IO_URING;
        } else if (wanted == LGI_IO_URING) {
            free_io(io);
            return lgi_error_errno(LG_ERR_IO, -result,
                                   "io_uring backend requested but "
                                   "io_uring_queue_init failed");
        }
        /* auto: fall back to the syscall backend silently. */
    }
    if (io->backend == LGI_IO_URING) {
        io->wake_fd = eventfd(0, EFD_CLOEXEC);
        if (io->wake_fd < 0) {
            int saved = errno;
            free_io(io);
            return lgi_error_errno(LG_ERR_IO, saved,
                                   "eventfd for the I/O thread");
        }
        io->wake_slot.kind = SLOT_WAKE;
    }

    io->slots = lgi_calloc(io->slot_count, sizeof *io->slots);
    if (!io->slots) {
        free_io(io);
        return lgi_error(LG_ERR_NOMEM, "out of memory for I/O slots");
    }
    for (unsigned i = io->slot_count; i-- > 0;) {
        io->slots[i].next = io->free_slots;
        io->free_slots = &io->slots[i];
    }

    /* The I/O thread blocks every signal so the application's handlers
     * never run on it and never interrupt its system calls. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int result = pthread_create(&io->thread, NULL, io_thread_main, io);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (result != 0) {
        free_io(io);
        return lgi_error_errno(LG_ERR_IO, result, "starting the I/O thread");
    }
    *iop = io;
    return LG_OK;
}

void lgi_io_close(lgi_io_t *io) {
    if (!io)
        return;
    pthread_mutex_lock(&io->queue_lock);
    io->stopping = true;
    pthread_cond_signal(&io->queue_cond);
    pthread_mutex_unlock(&io->queue_lock);
    if (io->wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(io->wake_fd, &one, sizeof one);
        (void)ignored;
    }
    pthread_join(io->thread, NULL);
    free_io(io);
}

const char *lgi_io_backend_name(const lgi_io_t *io) {
    if (!io)
        return "none";
    return io->backend == LGI_IO_URING ? "io_uring" : "syscall";
}

/* ------------------------------------------------------------------------
 * Submission
 * --------------------------------------------------------------------- */

bool lgi_io_enqueue(lgi_io_t *io, lgi_io_req_t *req) {
    req->next = NULL;
    req->written = 0;
    req->result = 0;
    req->stage = STAGE_QUEUED;
    if (req->op == LGI_IO_WRITE) {
        req->len = 0;
        if (req->iovcnt < 0 || req->iovcnt > LGI_IO_MAX_IOV ||
            (req->iovcnt > 0 && !req->iov)) {
            req->stage = STAGE_INVALID;
        } else {
            for (int i = 0; i < req->iovcnt; i++)
                req->len += req->iov[i].iov_len;
        }
    } else if (req->op != LGI_IO_FSYNC && req->op != LGI_IO_FALLOCATE) {
        req->stage = STAGE_INVALID;
    }

    pthread_mutex_lock(&io->queue_lock);
    list_push_back(&io->queue, req);
    atomic_store_explicit(&io->queued, 1, memory_order_relaxed);
    /* Only a sleeping thread is woken (file comment, "Latency"); the one
     * submitter that takes `sleeping` back to 0 pays for the wake-up. */
    bool wake = false;
    if (io->backend == LGI_IO_SYSCALL &&
        atomic_load_explicit(&io->sleeping, memory_order_relaxed)) {
        atomic_store_explicit(&io->sleeping, 0, memory_order_relaxed);
        wake = true;
    }
    pthread_mutex_unlock(&io->queue_lock);
    if (io->wake_fd >= 0) {
        /* Pairs with the fence in announce_sleep. */
        atomic_thread_fence(memory_order_seq_cst);
        wake = atomic_load_explicit(&io->sleeping, memory_order_relaxed) &&
               atomic_exchange(&io->sleeping, 0);
    }
    return wake;
}

void lgi_io_wake(lgi_io_t *io) {
    if (io->wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(io->wake_fd, &one, sizeof one);
        (void)ignored;
    } else {
        pthread_cond_signal(&io->queue_cond);
    }
}

void lgi_io_submit(lgi_io_t *io, lgi_io_req_t *req) {
    if (lgi_io_enqueue(io, req))
        lgi_io_wake(io);
}

/* ------------------------------------------------------------------------
 * Writes done by the caller
 * --------------------------------------------------------------------- */

int lgi_io_write_here(lgi_io_t *io, lgi_io_req_t *req) {
    req->next = NULL;
    req->written = 0;
    req->result = 0;
    req->len = 0;
    if (req->op != LGI_IO_WRITE || (req->flags & LGI_IO_SYNC) ||
        req->iovcnt < 0 || req->iovcnt > LGI_IO_MAX_IOV ||
        (req->iovcnt > 0 && !req->iov))
        return -EINVAL;
    for (int i = 0; i < req->iovcnt; i++)
        req->len += req->iov[i].iov_len;
    pthread_mutex_lock(&io->queue_lock);
    lgi_io_fault_fn fault_hook = io->fault;
    void *fault_opaque = io->fault_opaque;
    pthread_mutex_unlock(&io->queue_lock);

    /* start_write and write_finished's rules, in a loop on this thread:
     * a short write resumes, EAGAIN/EINTR retry up to the bound, no
     * progress is EIO. */
    lgi_io_slot_t slot;
    int retries = 0;
    stat_add(&io->stat_caller_writes, 1);
    while (req->written < req->len) {
        uint64_t limit = req->len - req->written;
        int fault = fault_hook
                        ? fault_hook(fault_opaque, req, LGI_IO_FAULT_WRITE)
                        : 0;
        if (fault > 0 && (uint64_t)fault < limit)
            limit = (uint64_t)fault;
        ssize_t written = -1;
        errno = -fault;
        if (fault >= 0) {
            int count = build_remaining_iov(req, &slot, limit);
            written = pwritev(req->fd, slot.iov, count,
                              (off_t)(req->pos + req->written));
        }
        if (written < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (++retries > LGI_IO_MAX_RETRIES)
                return -errno;
            stat_add(&io->stat_retries, 1);
            continue;
        }
        if (written < 0)
            return -errno;
        if (written == 0)
            return -EIO;
        retries = 0;
        req->written += (uint64_t)written;
        if (req->written < req->len)
            stat_add(&io->stat_short_writes, 1);
    }
    stat_add(&io->stat_writes, 1);
    return 0;
}

void lgi_io_set_spin(lgi_io_t *io, int64_t spin_ns) {
    atomic_store_explicit(&io->spin_ns, spin_ns < 0 ? 0 : spin_ns,
                          memory_order_relaxed);
}

/* The per-call rendezvous of lgi_io_submit_wait. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished;
    int result;
} io_waiter_t;

static void waiter_done(lgi_io_req_t *req, int result) {
    io_waiter_t *waiter = req->opaque;
    pthread_mutex_lock(&waiter->lock);
    waiter->result = result;
    waiter->finished = true;
    pthread_cond_signal(&waiter->cond);
    /* The waiter may free itself as soon as the lock is released. */
    pthread_mutex_unlock(&waiter->lock);
}

int lgi_io_submit_wait(lgi_io_t *io, lgi_io_req_t *req) {
    if (pthread_equal(pthread_self(), io->thread))
        return -EDEADLK;
    io_waiter_t waiter;
    pthread_mutex_init(&waiter.lock, NULL);
    pthread_cond_init(&waiter.cond, NULL);
    waiter.finished = false;
    waiter.result = 0;
    req->done = waiter_done;
    req->opaque = &waiter;
    lgi_io_submit(io, req);
    pthread_mutex_lock(&waiter.lock);
    while (!waiter.finished)
        pthread_cond_wait(&waiter.cond, &waiter.lock);
    int result = waiter.result;
    pthread_mutex_unlock(&waiter.lock);
    pthread_cond_destroy(&waiter.cond);
    pthread_mutex_destroy(&waiter.lock);
    return result;
}

const lgi_histogram_t *lgi_io_fsync_latency(lgi_io_t *io) {
    return &io->fsync_latency;
}

void lgi_io_set_logger(lgi_io_t *io, const lgi_logger_t *logger) {
    io->logger = *logger;
}

const lgi_logger_t *lgi_io_logger(lgi_io_t *io) {
    return io ? &io->logger : NULL;
}

void lgi_io_get_stats(lgi_io_t *io, lgi_io_stats_t *stats) {
    stats->submits = atomic_load_explicit(&io->stat_submits,
                                          memory_order_relaxed);
    stats->writes = atomic_load_explicit(&io->stat_writes,
                                         memory_order_relaxed);
    stats->fsyncs = atomic_load_explicit(&io->stat_fsyncs,
                                         memory_order_relaxed);
    stats->sync_waiters = atomic_load_explicit(&io->stat_sync_waiters,
                                               memory_order_relaxed);
    stats->short_writes = atomic_load_explicit(&io->stat_short_writes,
                                               memory_order_relaxed);
    stats->retries = atomic_load_explicit(&io->stat_retries,
                                          memory_order_relaxed);
    stats->inline_writes = atomic_load_explicit(&io->stat_inline_writes,
                                                memory_order_relaxed);
    stats->caller_writes = atomic_load_explicit(&io->stat_caller_writes,
                                                memory_order_relaxed);
}

/* ------------------------------------------------------------------------
 * Test hooks
 * --------------------------------------------------------------------- */

void lgi_io_set_fault(lgi_io_t *io, lgi_io_fault_fn fault, void *opaque) {
    pthread_mutex_lock(&io->queue_lock);
    io->fault = fault;
    io->fault_opaque = opaque;
    pthread_mutex_unlock(&io->queue_lock);
}

void lgi_io_set_uring_init_failure(int errnum) {
    atomic_store(&uring_init_failure, errnum < 0 ? -errnum : errnum);
}
