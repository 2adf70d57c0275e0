/*
 * test_uring.c -- specification of the I/O engine (lib/uring.c).
 *
 * Every test runs under whichever backend LIBLOG_IO_BACKEND selects
 * (test/run.sh runs the binary once per backend); only the tests of
 * backend selection set the variable themselves.  Faults -- short writes,
 * EAGAIN, EIO from fdatasync, ENOSPC -- come from the engine's fault hook,
 * which the tests also use to look at each fdatasync's group as it is
 * issued.
 */
#include "alloc.h"
#include "err.h"
#include "testutil.h"
#include "uring.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

/* Counts completions down to zero; waited on from the test thread. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int remaining;
} latch_t;

static void latch_init(latch_t *latch, int count) {
    pthread_mutex_init(&latch->lock, NULL);
    pthread_cond_init(&latch->cond, NULL);
    latch->remaining = count;
}

static void latch_count_down(latch_t *latch) {
    pthread_mutex_lock(&latch->lock);
    latch->remaining--;
    pthread_cond_broadcast(&latch->cond);
    pthread_mutex_unlock(&latch->lock);
}

static void latch_wait(latch_t *latch) {
    pthread_mutex_lock(&latch->lock);
    while (latch->remaining > 0)
        pthread_cond_wait(&latch->cond, &latch->lock);
    pthread_mutex_unlock(&latch->lock);
}

static void latch_destroy(latch_t *latch) {
    pthread_cond_destroy(&latch->cond);
    pthread_mutex_destroy(&latch->lock);
}

/* A request plus what its callback records.  req comes first so the
 * callback can recover the whole from the lgi_io_req_t pointer. */
typedef struct {
    lgi_io_req_t req;
    struct iovec iov[LGI_IO_MAX_IOV];
    latch_t *latch;
    int result;
    atomic_int calls;
    atomic_bool covered_by_fsync; /* set by the observing fault hook */
} test_req_t;

static void test_req_done(lgi_io_req_t *req, int result) {
    test_req_t *test = (test_req_t *)req;
    test->result = result;
    atomic_fetch_add(&test->calls, 1);
    latch_count_down(test->latch);
}

static void prepare_write(test_req_t *test, int fd, uint64_t pos,
                          void *data, size_t len, unsigned flags,
                          latch_t *latch) {
    memset(test, 0, sizeof *test);
    test->iov[0].iov_base = data;
    test->iov[0].iov_len = len;
    test->req.op = LGI_IO_WRITE;
    test->req.fd = fd;
    test->req.pos = pos;
    test->req.iov = test->iov;
    test->req.iovcnt = 1;
    test->req.flags = flags;
    test->req.done = test_req_done;
    test->req.opaque = test;
    test->latch = latch;
}

static void fill_pattern(uint8_t *data, size_t len, unsigned seed) {
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* Scratch directory and one file in it, per test. */
typedef struct {
    char *dir;
    char *path;
    int fd;
} scratch_t;

static void scratch_open(scratch_t *scratch, const char *tag) {
    scratch->dir = lgt_tmpdir(tag);
    scratch->path = lgt_path(scratch->dir, "data");
    scratch->fd = open(scratch->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                       0644);
    ck_assert_int_ge(scratch->fd, 0);
}

static void scratch_close(scratch_t *scratch) {
    close(scratch->fd);
    lgt_rmrf(scratch->dir);
    free(scratch->path);
    free(scratch->dir);
}

static lgi_io_t *open_engine(void) {
    lgi_io_t *io = NULL;
    lg_err_t err = lgi_io_open(LGI_IO_AUTO, 32, &io);
    ck_assert_msg(err == LG_OK, "lgi_io_open: %s", lg_last_error_message());
    return io;
}

static void assert_file_equals(const char *path, const uint8_t *expected,
                               size_t len) {
    size_t actual_len = 0;
    uint8_t *actual = lgt_read_file(path, &actual_len);
    ck_assert_ptr_nonnull(actual);
    ck_assert_uint_eq(actual_len, len);
    ck_assert_msg(memcmp(actual, expected, len) == 0, "file content differs");
    free(actual);
}

/* Fault-hook state shared by several tests.  Fields are touched by the
 * hook on the I/O thread and read by the test after a completion, which
 * orders them; atomics keep that obviously race-free. */
typedef struct {
    atomic_int write_calls;
    atomic_int fsync_calls;
    atomic_int fallocate_calls;
    atomic_int fsync_group_total; /* requests in all fsync groups seen */
    atomic_int fsync_group_max;
    atomic_int errors_before_success; /* write: inject while > 0 */
    atomic_int write_error;           /* write: errno to inject, 0 none */
    atomic_int short_write_limit;     /* write: positive n, 0 none */
    atomic_int fsync_error;           /* fsync: errno to inject, 0 none */
    atomic_int fallocate_error;
    atomic_bool incomplete_write_in_group; /* group-commit violation */
} fault_state_t;

static int fault_hook(void *opaque, const lgi_io_req_t *req, int stage) {
    fault_state_t *state = opaque;
    switch (stage) {
    case LGI_IO_FAULT_WRITE: {
        atomic_fetch_add(&state->write_calls, 1);
        if (atomic_load(&state->errors_before_success) > 0) {
            int left = atomic_fetch_sub(&state->errors_before_success, 1);
            /* The first injections are EAGAIN, the last one EINTR. */
            return left == 1 ? -EINTR : -EAGAIN;
        }
        if (atomic_load(&state->write_error))
            return -atomic_load(&state->write_error);
        return atomic_load(&state->short_write_limit);
    }
    case LGI_IO_FAULT_FSYNC: {
        atomic_fetch_add(&state->fsync_calls, 1);
        /* White-box look at the group: req heads the chain of every
         * request this fdatasync will complete. */
        int size = 0;
        for (const lgi_io_req_t *member = req; member; member = member->next) {
            size++;
            if (member->fd != req->fd ||
                (member->op == LGI_IO_WRITE && member->written != member->len))
                atomic_store(&state->incomplete_write_in_group, true);
            test_req_t *test = member->opaque;
            if (test && member->done == test_req_done)
                atomic_store(&test->covered_by_fsync, true);
        }
        atomic_fetch_add(&state->fsync_group_total, size);
        if (size > atomic_load(&state->fsync_group_max))
            atomic_store(&state->fsync_group_max, size);
        return -atomic_load(&state->fsync_error);
    }
    case LGI_IO_FAULT_FALLOCATE:
        atomic_fetch_add(&state->fallocate_calls, 1);
        return -atomic_load(&state->fallocate_error);
    default:
        return 0;
    }
}

static void fault_state_init(fault_state_t *state) {
    memset(state, 0, sizeof *state);
}

/* ------------------------------------------------------------------------
 * Writes
 * --------------------------------------------------------------------- */

enum { WRITER_THREADS = 4, WRITES_PER_THREAD = 64, BLOCK = 512 };

typedef struct {
    lgi_io_t *io;
    int fd;
    int index;
    uint8_t *image; /* the whole expected file; each thread its blocks */
    int failures;
} writer_arg_t;

static void *writer_main(void *opaque) {
    writer_arg_t *arg = opaque;
    for (int i = 0; i < WRITES_PER_THREAD; i++) {
        int block = i * WRITER_THREADS + arg->index;
        uint8_t *data = arg->image + (size_t)block * BLOCK;
        /* Two iovec entries so the gather path is exercised too. */
        struct iovec iov[2] = {{data, BLOCK / 4}, {data + BLOCK / 4,
                                                   BLOCK - BLOCK / 4}};
        lgi_io_req_t req;
        memset(&req, 0, sizeof req);
        req.op = LGI_IO_WRITE;
        req.fd = arg->fd;
        req.pos = (uint64_t)block * BLOCK;
        req.iov = iov;
        req.iovcnt = 2;
        if (lgi_io_submit_wait(arg->io, &req) != 0)
            arg->failures++;
    }
    return NULL;
}

START_TEST(write_then_read_back_matches) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-readback");
    lgi_io_t *io = open_engine();
    size_t total = (size_t)WRITER_THREADS * WRITES_PER_THREAD * BLOCK;
    uint8_t *image = malloc(total);
    fill_pattern(image, total, 1);

    pthread_t threads[WRITER_THREADS];
    writer_arg_t args[WRITER_THREADS];
    for (int t = 0; t < WRITER_THREADS; t++) {
        args[t] = (writer_arg_t){io, scratch.fd, t, image, 0};
        pthread_create(&threads[t], NULL, writer_main, &args[t]);
    }
    for (int t = 0; t < WRITER_THREADS; t++) {
        pthread_join(threads[t], NULL);
        ck_assert_int_eq(args[t].failures, 0);
    }
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.writes, WRITER_THREADS * WRITES_PER_THREAD);
    ck_assert_uint_eq(stats.fsyncs, 0);
    lgi_io_close(io);

    assert_file_equals(scratch.path, image, total);
    free(image);
    scratch_close(&scratch);
}
END_TEST

enum { SYNC_WRITES = 64 };

typedef struct {
    lgi_io_t *io;
    int fd;
    int index;
    test_req_t *reqs; /* this thread's SYNC_WRITES / WRITER_THREADS */
    uint8_t *image;
    latch_t *latch;
} sync_writer_arg_t;

/* Submits all of this thread's sync writes without waiting, so the four
 * threads' writes are in the engine together. */
static void *sync_writer_main(void *opaque) {
    sync_writer_arg_t *arg = opaque;
    int per_thread = SYNC_WRITES / WRITER_THREADS;
    for (int i = 0; i < per_thread; i++) {
        int block = i * WRITER_THREADS + arg->index;
        prepare_write(&arg->reqs[i], arg->fd, (uint64_t)block * BLOCK,
                      arg->image + (size_t)block * BLOCK, BLOCK, LGI_IO_SYNC,
                      arg->latch);
        lgi_io_submit(arg->io, &arg->reqs[i].req);
    }
    return NULL;
}

START_TEST(sync_writes_share_fdatasync) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-group");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    lgi_io_set_fault(io, fault_hook, &faults); /* observes only */

    uint8_t *image = malloc((size_t)SYNC_WRITES * BLOCK);
    fill_pattern(image, (size_t)SYNC_WRITES * BLOCK, 2);
    test_req_t *reqs = calloc(SYNC_WRITES, sizeof *reqs);
    latch_t latch;
    latch_init(&latch, SYNC_WRITES);

    pthread_t threads[WRITER_THREADS];
    sync_writer_arg_t args[WRITER_THREADS];
    int per_thread = SYNC_WRITES / WRITER_THREADS;
    for (int t = 0; t < WRITER_THREADS; t++) {
        args[t] = (sync_writer_arg_t){io, scratch.fd, t,
                                      reqs + t * per_thread, image, &latch};
        pthread_create(&threads[t], NULL, sync_writer_main, &args[t]);
    }
    for (int t = 0; t < WRITER_THREADS; t++)
        pthread_join(threads[t], NULL);
    latch_wait(&latch);

    for (int i = 0; i < SYNC_WRITES; i++) {
        ck_assert_int_eq(reqs[i].result, 0);
        ck_assert_int_eq(atomic_load(&reqs[i].calls), 1);
        /* Durable-ordered: each write was complete when the fdatasync that
         * completed it was issued. */
        ck_assert(atomic_load(&reqs[i].covered_by_fsync));
    }
    ck_assert(!atomic_load(&faults.incomplete_write_in_group));

    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_lt(stats.fsyncs, SYNC_WRITES);
    ck_assert_uint_eq(stats.sync_waiters, SYNC_WRITES);
    ck_assert_int_eq(atomic_load(&faults.fsync_group_total), SYNC_WRITES);
    fprintf(stderr,
            "sync_writes_share_fdatasync [%s]: %d sync writes, %llu "
            "fdatasyncs, largest group %d, %llu submits\n",
            lgi_io_backend_name(io), SYNC_WRITES,
            (unsigned long long)stats.fsyncs,
            atomic_load(&faults.fsync_group_max),
            (unsigned long long)stats.submits);
    lgi_io_close(io);

    assert_file_equals(scratch.path, image, (size_t)SYNC_WRITES * BLOCK);
    latch_destroy(&latch);
    free(reqs);
    free(image);
    scratch_close(&scratch);
}
END_TEST

START_TEST(fsync_request_completes_after_fdatasync) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-fsync");
    lgi_io_t *io = open_engine();
    uint8_t data[100];
    fill_pattern(data, sizeof data, 3);
    struct iovec iov = {data, sizeof data};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = &iov,
                        .iovcnt = 1};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    ck_assert_uint_eq(req.len, sizeof data); /* set by submit */

    lgi_io_req_t sync = {.op = LGI_IO_FSYNC, .fd = scratch.fd};
    ck_assert_int_eq(lgi_io_submit_wait(io, &sync), 0);
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.fsyncs, 1);
    ck_assert_uint_eq(stats.sync_waiters, 1);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
}
END_TEST

START_TEST(short_write_is_resumed) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-short");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.short_write_limit, 1000);
    lgi_io_set_fault(io, fault_hook, &faults);

    /* 4096 bytes in three uneven pieces, written 1000 bytes at a time:
     * the resumed writes start inside the first, second and third iovec. */
    uint8_t data[4096];
    fill_pattern(data, sizeof data, 4);
    struct iovec iov[3] = {{data, 1500}, {data + 1500, 1500},
                           {data + 3000, 1096}};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .pos = 0,
                        .iov = iov, .iovcnt = 3, .flags = LGI_IO_SYNC};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    ck_assert_uint_eq(req.written, sizeof data);

    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.short_writes, 4); /* 1000 x4, then 96 */
    ck_assert_int_eq(atomic_load(&faults.write_calls), 5);
    ck_assert_uint_eq(stats.writes, 1);
    ck_assert_uint_eq(stats.fsyncs, 1);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
}
END_TEST

START_TEST(eagain_is_retried) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-eagain");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.errors_before_success, 4); /* 3 EAGAIN, 1 EINTR */
    lgi_io_set_fault(io, fault_hook, &faults);

    uint8_t data[300];
    fill_pattern(data, sizeof data, 5);
    struct iovec iov = {data, sizeof data};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = &iov,
                        .iovcnt = 1};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.retries, 4);
    ck_assert_int_eq(atomic_load(&faults.write_calls), 5);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
}
END_TEST

START_TEST(endless_eagain_is_eventually_reported) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-eagain-forever");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.write_error, EAGAIN);
    lgi_io_set_fault(io, fault_hook, &faults);
    uint8_t data[10] = {0};
    struct iovec iov = {data, sizeof data};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = &iov,
                        .iovcnt = 1};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), -EAGAIN);
    lgi_io_close(io);
    scratch_close(&scratch);
}
END_TEST

enum { FAILED_GROUP = 8 };

START_TEST(failed_fsync_fails_waiters_and_is_not_retried) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-eio");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.fsync_error, EIO);
    lgi_io_set_fault(io, fault_hook, &faults);

    uint8_t data[FAILED_GROUP][64];
    test_req_t reqs[FAILED_GROUP];
    latch_t latch;
    latch_init(&latch, FAILED_GROUP);
    for (int i = 0; i < FAILED_GROUP; i++) {
        fill_pattern(data[i], sizeof data[i], 6 + (unsigned)i);
        prepare_write(&reqs[i], scratch.fd, (uint64_t)i * 64, data[i], 64,
                      LGI_IO_SYNC, &latch);
        lgi_io_submit(io, &reqs[i].req);
    }
    latch_wait(&latch);
    for (int i = 0; i < FAILED_GROUP; i++) {
        ck_assert_int_eq(reqs[i].result, -EIO);
        ck_assert_int_eq(atomic_load(&reqs[i].calls), 1);
    }
    /* Each waiter was in exactly one failed fdatasync: none was retried. */
    ck_assert_int_eq(atomic_load(&faults.fsync_group_total), FAILED_GROUP);
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    uint64_t failed_fsyncs = stats.fsyncs;
    ck_assert_uint_eq(failed_fsyncs,
                      (uint64_t)atomic_load(&faults.fsync_calls));
    ck_assert_uint_eq(stats.sync_waiters, FAILED_GROUP);

    /* The failure is not sticky: a later sync request gets a fresh
     * fdatasync of its own, and only itself in it. */
    atomic_store(&faults.fsync_error, 0);
    latch_destroy(&latch);
    latch_init(&latch, 1);
    test_req_t later;
    prepare_write(&later, scratch.fd, 0, data[0], 64, LGI_IO_SYNC, &latch);
    lgi_io_submit(io, &later.req);
    latch_wait(&latch);
    ck_assert_int_eq(later.result, 0);
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.fsyncs, failed_fsyncs + 1);
    ck_assert_int_eq(atomic_load(&faults.fsync_group_total),
                     FAILED_GROUP + 1);
    lgi_io_close(io);
    latch_destroy(&latch);
    scratch_close(&scratch);
}
END_TEST

START_TEST(enospc_reported) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-enospc");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.write_error, ENOSPC);
    lgi_io_set_fault(io, fault_hook, &faults);

    uint8_t data[128];
    fill_pattern(data, sizeof data, 7);
    struct iovec iov = {data, sizeof data};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = &iov,
                        .iovcnt = 1, .flags = LGI_IO_SYNC};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), -ENOSPC);
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.fsyncs, 0); /* a failed write is not synced */
    ck_assert_int_eq(lgt_file_size(scratch.path), 0);

    /* Space "freed": the same request now succeeds. */
    atomic_store(&faults.write_error, 0);
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
}
END_TEST

START_TEST(real_write_error_is_reported) {
    /* A read-only fd gives a genuine -EBADF from either backend. */
    scratch_t scratch;
    scratch_open(&scratch, "uring-ebadf");
    int read_only = open(scratch.path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(read_only, 0);
    lgi_io_t *io = open_engine();
    uint8_t data[16] = {0};
    struct iovec iov = {data, sizeof data};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = read_only, .iov = &iov,
                        .iovcnt = 1};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), -EBADF);
    lgi_io_close(io);
    close(read_only);
    scratch_close(&scratch);
}
END_TEST

/* lgi_io_write_here: the caller's own write follows the I/O thread's
 * rules -- gather, resumed short writes, retried EAGAIN/EINTR, reported
 * errors, the fault hook -- and never touches the queue. */
START_TEST(write_here_resumes_short_writes_and_retries) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-here");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.short_write_limit, 1000);
    atomic_store(&faults.errors_before_success, 2); /* EAGAIN, EINTR */
    lgi_io_set_fault(io, fault_hook, &faults);

    uint8_t data[4096];
    fill_pattern(data, sizeof data, 9);
    struct iovec iov[3] = {{data, 1500}, {data + 1500, 1500},
                           {data + 3000, 1096}};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .pos = 0,
                        .iov = iov, .iovcnt = 3};
    ck_assert_int_eq(lgi_io_write_here(io, &req), 0);
    ck_assert_uint_eq(req.written, sizeof data);

    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.retries, 2);
    ck_assert_uint_eq(stats.short_writes, 4); /* 1000 x4, then 96 */
    ck_assert_int_eq(atomic_load(&faults.write_calls), 7);
    ck_assert_uint_eq(stats.writes, 1);
    ck_assert_uint_eq(stats.caller_writes, 1);
    ck_assert_uint_eq(stats.inline_writes, 0); /* none on the I/O thread */
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
}
END_TEST

START_TEST(write_here_reports_errors) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-here-errors");
    lgi_io_t *io = open_engine();
    uint8_t data[64];
    fill_pattern(data, sizeof data, 10);
    struct iovec iov = {data, sizeof data};

    /* Injected ENOSPC: reported, nothing written. */
    fault_state_t faults;
    fault_state_init(&faults);
    atomic_store(&faults.write_error, ENOSPC);
    lgi_io_set_fault(io, fault_hook, &faults);
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = &iov,
                        .iovcnt = 1};
    ck_assert_int_eq(lgi_io_write_here(io, &req), -ENOSPC);
    ck_assert_uint_eq(req.written, 0);
    /* Endless EAGAIN: reported once the retry bound is reached. */
    atomic_store(&faults.write_error, EAGAIN);
    ck_assert_int_eq(lgi_io_write_here(io, &req), -EAGAIN);
    lgi_io_set_fault(io, NULL, NULL);

    /* A genuine error from the system call. */
    int read_only = open(scratch.path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(read_only, 0);
    req.fd = read_only;
    ck_assert_int_eq(lgi_io_write_here(io, &req), -EBADF);
    close(read_only);

    /* What it does not do: sync writes (group commit is the I/O
     * thread's), other operations, malformed iovecs. */
    req.fd = scratch.fd;
    req.flags = LGI_IO_SYNC;
    ck_assert_int_eq(lgi_io_write_here(io, &req), -EINVAL);
    req.flags = 0;
    req.op = LGI_IO_FSYNC;
    ck_assert_int_eq(lgi_io_write_here(io, &req), -EINVAL);
    req.op = LGI_IO_WRITE;
    req.iovcnt = LGI_IO_MAX_IOV + 1;
    ck_assert_int_eq(lgi_io_write_here(io, &req), -EINVAL);
    req.iovcnt = 1;
    req.iov = NULL;
    ck_assert_int_eq(lgi_io_write_here(io, &req), -EINVAL);

    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.writes, 0);
    lgi_io_close(io);
    struct stat st;
    ck_assert_int_eq(stat(scratch.path, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    scratch_close(&scratch);
}
END_TEST

START_TEST(invalid_request_completes_with_einval) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-einval");
    lgi_io_t *io = open_engine();
    uint8_t data[16] = {0};
    struct iovec iov[LGI_IO_MAX_IOV + 1];
    for (int i = 0; i <= LGI_IO_MAX_IOV; i++)
        iov[i] = (struct iovec){data, 1};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = iov,
                        .iovcnt = LGI_IO_MAX_IOV + 1};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), -EINVAL);
    lgi_io_req_t unknown = {.op = 42, .fd = scratch.fd};
    ck_assert_int_eq(lgi_io_submit_wait(io, &unknown), -EINVAL);
    lgi_io_close(io);
    ck_assert_int_eq(lgt_file_size(scratch.path), 0);
    scratch_close(&scratch);
}
END_TEST

/* ------------------------------------------------------------------------
 * Fallocate
 * --------------------------------------------------------------------- */

START_TEST(fallocate_keeps_size) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-falloc");
    lgi_io_t *io = open_engine();
    uint64_t length = 1u << 20;
    lgi_io_req_t req = {.op = LGI_IO_FALLOCATE, .fd = scratch.fd, .pos = 0,
                        .len = length};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    struct stat st;
    ck_assert_int_eq(fstat(scratch.fd, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    /* Where the file system preallocates at all, the blocks are there. */
    int probe = open(scratch.path, O_RDWR | O_CLOEXEC);
    if (fallocate(probe, FALLOC_FL_KEEP_SIZE, 0, 4096) == 0)
        ck_assert_int_ge((long long)st.st_blocks * 512, (long long)length);
    close(probe);
    lgi_io_close(io);
    scratch_close(&scratch);
}
END_TEST

START_TEST(unsupported_fallocate_is_not_an_error) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-falloc-unsup");
    lgi_io_t *io = open_engine();
    fault_state_t faults;
    fault_state_init(&faults);
    lgi_io_set_fault(io, fault_hook, &faults);
    lgi_io_req_t req = {.op = LGI_IO_FALLOCATE, .fd = scratch.fd, .len = 4096};
    atomic_store(&faults.fallocate_error, EOPNOTSUPP);
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    atomic_store(&faults.fallocate_error, EINVAL);
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    atomic_store(&faults.fallocate_error, ENOSPC); /* a real failure */
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), -ENOSPC);
    ck_assert_int_eq(atomic_load(&faults.fallocate_calls), 3);
    lgi_io_close(io);
    scratch_close(&scratch);
}
END_TEST

/* ------------------------------------------------------------------------
 * Backend selection
 * --------------------------------------------------------------------- */

START_TEST(forced_syscall_backend_reports_name) {
    lgi_io_t *io = NULL;
    unsetenv("LIBLOG_IO_BACKEND");
    ck_assert_int_eq(lgi_io_open(LGI_IO_SYSCALL, 8, &io), LG_OK);
    ck_assert_str_eq(lgi_io_backend_name(io), "syscall");
    lgi_io_close(io);

    /* The environment wins over the configured backend. */
    setenv("LIBLOG_IO_BACKEND", "syscall", 1);
    ck_assert_int_eq(lgi_io_open(LGI_IO_URING, 8, &io), LG_OK);
    ck_assert_str_eq(lgi_io_backend_name(io), "syscall");
    lgi_io_close(io);
    unsetenv("LIBLOG_IO_BACKEND");
}
END_TEST

START_TEST(auto_falls_back) {
    unsetenv("LIBLOG_IO_BACKEND");
    lgi_io_set_uring_init_failure(EPERM); /* as kernel.io_uring_disabled */
    lgi_io_t *io = NULL;
    ck_assert_int_eq(lgi_io_open(LGI_IO_AUTO, 8, &io), LG_OK);
    ck_assert_str_eq(lgi_io_backend_name(io), "syscall");

    scratch_t scratch;
    scratch_open(&scratch, "uring-fallback");
    uint8_t data[32];
    fill_pattern(data, sizeof data, 8);
    struct iovec iov = {data, sizeof data};
    lgi_io_req_t req = {.op = LGI_IO_WRITE, .fd = scratch.fd, .iov = &iov,
                        .iovcnt = 1, .flags = LGI_IO_SYNC};
    ck_assert_int_eq(lgi_io_submit_wait(io, &req), 0);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
    lgi_io_set_uring_init_failure(0);
}
END_TEST

START_TEST(forced_io_uring_unavailable_is_an_error) {
    lgi_io_set_uring_init_failure(ENOSYS);
    lgi_io_t *io = (lgi_io_t *)&io; /* must be reset to NULL */
    unsetenv("LIBLOG_IO_BACKEND");
    ck_assert_int_eq(lgi_io_open(LGI_IO_URING, 8, &io), LG_ERR_IO);
    ck_assert_ptr_null(io);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "io_uring"));

    setenv("LIBLOG_IO_BACKEND", "io_uring", 1);
    ck_assert_int_eq(lgi_io_open(LGI_IO_AUTO, 8, &io), LG_ERR_IO);
    unsetenv("LIBLOG_IO_BACKEND");
    lgi_io_set_uring_init_failure(0);
}
END_TEST

START_TEST(unknown_backend_name_is_rejected) {
    lgi_io_t *io = NULL;
    setenv("LIBLOG_IO_BACKEND", "iouring", 1);
    ck_assert_int_eq(lgi_io_open(LGI_IO_AUTO, 8, &io), LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "iouring"));
    unsetenv("LIBLOG_IO_BACKEND");
    ck_assert_int_eq(lgi_io_open(7, 8, &io), LG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(open_out_of_memory_is_reported) {
    lgi_io_t *io = NULL;
    for (long countdown = 1; countdown <= 3; countdown++) {
        lgi_alloc_fail_after(countdown, 1);
        lg_err_t err = lgi_io_open(LGI_IO_AUTO, 8, &io);
        lgi_alloc_fail_after(0, 0);
        if (err == LG_OK) {
            lgi_io_close(io);
            break;
        }
        ck_assert_int_eq(err, LG_ERR_NOMEM);
        ck_assert_ptr_null(io);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * Lifecycle and callbacks
 * --------------------------------------------------------------------- */

enum { DRAIN_WRITES = 200 };

START_TEST(close_drains_pending) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-drain");
    lgi_io_t *io = open_engine();
    size_t total = (size_t)DRAIN_WRITES * BLOCK;
    uint8_t *image = malloc(total);
    fill_pattern(image, total, 9);
    test_req_t *reqs = calloc(DRAIN_WRITES, sizeof *reqs);
    latch_t latch;
    latch_init(&latch, DRAIN_WRITES);
    for (int i = 0; i < DRAIN_WRITES; i++) {
        prepare_write(&reqs[i], scratch.fd, (uint64_t)i * BLOCK,
                      image + (size_t)i * BLOCK, BLOCK,
                      i % 3 == 0 ? LGI_IO_SYNC : 0, &latch);
        lgi_io_submit(io, &reqs[i].req);
    }
    lgi_io_close(io); /* no waiting first: close must finish them */
    for (int i = 0; i < DRAIN_WRITES; i++) {
        ck_assert_int_eq(atomic_load(&reqs[i].calls), 1);
        ck_assert_int_eq(reqs[i].result, 0);
    }
    assert_file_equals(scratch.path, image, total);
    latch_destroy(&latch);
    free(reqs);
    free(image);
    scratch_close(&scratch);
}
END_TEST

START_TEST(close_of_null_is_noop) { lgi_io_close(NULL); }
END_TEST

enum { CHAIN_LENGTH = 100 };

typedef struct {
    test_req_t base;
    lgi_io_t *io;
    int fd;
    int round;
    uint8_t data[CHAIN_LENGTH];
    int submit_wait_result;
    latch_t *finished;
} chain_t;

/* Each completion writes the next byte with the same request, from the
 * I/O thread itself; the last one flags it sync. */
static void chain_done(lgi_io_req_t *req, int result) {
    chain_t *chain = (chain_t *)req;
    if (result != 0) {
        chain->base.result = result;
        latch_count_down(chain->finished);
        return;
    }
    if (chain->round == 0) {
        lgi_io_req_t probe = {.op = LGI_IO_FSYNC, .fd = chain->fd};
        chain->submit_wait_result = lgi_io_submit_wait(chain->io, &probe);
    }
    if (++chain->round == CHAIN_LENGTH) {
        latch_count_down(chain->finished);
        return;
    }
    chain->base.iov[0].iov_base = &chain->data[chain->round];
    chain->base.iov[0].iov_len = 1;
    req->pos = (uint64_t)chain->round;
    req->flags = chain->round == CHAIN_LENGTH - 1 ? LGI_IO_SYNC : 0;
    lgi_io_submit(chain->io, req);
}

START_TEST(callback_may_resubmit) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-chain");
    lgi_io_t *io = open_engine();
    latch_t finished;
    latch_init(&finished, 1);
    chain_t *chain = calloc(1, sizeof *chain);
    fill_pattern(chain->data, sizeof chain->data, 10);
    prepare_write(&chain->base, scratch.fd, 0, chain->data, 1, 0, &finished);
    chain->base.req.done = chain_done;
    chain->io = io;
    chain->fd = scratch.fd;
    chain->finished = &finished;
    lgi_io_submit(io, &chain->base.req);
    latch_wait(&finished);
    ck_assert_int_eq(chain->base.result, 0);
    ck_assert_int_eq(chain->round, CHAIN_LENGTH);
    /* Waiting on itself from the I/O thread is refused, not a deadlock. */
    ck_assert_int_eq(chain->submit_wait_result, -EDEADLK);
    lgi_io_close(io);
    assert_file_equals(scratch.path, chain->data, CHAIN_LENGTH);
    latch_destroy(&finished);
    free(chain);
    scratch_close(&scratch);
}
END_TEST

/* Resubmits from callbacks while close is already draining: close waits
 * for those too. */
START_TEST(close_drains_callback_resubmissions) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-chain-close");
    lgi_io_t *io = open_engine();
    latch_t finished;
    latch_init(&finished, 1);
    chain_t *chain = calloc(1, sizeof *chain);
    fill_pattern(chain->data, sizeof chain->data, 11);
    prepare_write(&chain->base, scratch.fd, 0, chain->data, 1, 0, &finished);
    chain->base.req.done = chain_done;
    chain->io = io;
    chain->fd = scratch.fd;
    chain->finished = &finished;
    lgi_io_submit(io, &chain->base.req);
    lgi_io_close(io);
    ck_assert_int_eq(chain->round, CHAIN_LENGTH);
    assert_file_equals(scratch.path, chain->data, CHAIN_LENGTH);
    latch_destroy(&finished);
    free(chain);
    scratch_close(&scratch);
}
END_TEST

/* ------------------------------------------------------------------------
 * Wake-ups (the thread is woken only when it sleeps; see uring.c)
 * --------------------------------------------------------------------- */

enum { WAKE_REQUESTS = 1500, WAKE_SUBMITTERS = 2 };

typedef struct {
    lgi_io_t *io;
    int fd;
    int index;
    int lost; /* requests not completed within the deadline */
} wake_arg_t;

/* One request at a time, each waited for with a deadline far beyond any
 * scheduling delay: the thread has no timer of its own, so a lost
 * wake-up leaves the request queued for ever.  The pauses between
 * requests vary so each finds the thread busy, spinning, or asleep. */
static void *wake_submitter(void *opaque) {
    wake_arg_t *arg = opaque;
    uint8_t byte = (uint8_t)arg->index;
    unsigned seed = (unsigned)arg->index + 1;
    for (int i = 0; i < WAKE_REQUESTS; i++) {
        latch_t latch;
        latch_init(&latch, 1);
        test_req_t test;
        prepare_write(&test, arg->fd,
                      (uint64_t)(i * WAKE_SUBMITTERS + arg->index), &byte, 1,
                      0, &latch);
        lgi_io_submit(arg->io, &test.req);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 20;
        pthread_mutex_lock(&latch.lock);
        while (latch.remaining > 0 &&
               pthread_cond_timedwait(&latch.cond, &latch.lock, &deadline) !=
                   ETIMEDOUT)
            ;
        int finished = latch.remaining == 0;
        pthread_mutex_unlock(&latch.lock);
        if (!finished) {
            /* Not safe to unwind a request the engine holds: report and
             * let the test fail without freeing it. */
            arg->lost++;
            return NULL;
        }
        latch_destroy(&latch);
        ck_assert_int_eq(test.result, 0);
        seed = seed * 1103515245u + 12345u;
        switch ((seed >> 16) % 4) {
        case 0:
            break; /* straight away: the thread is still busy or spinning */
        case 1:
            sched_yield();
            break;
        default:
            usleep((seed >> 8) % 300); /* long enough to fall asleep */
            break;
        }
    }
    return NULL;
}

static void run_wake_submitters(int64_t spin_ns) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-wake");
    lgi_io_t *io = open_engine();
    lgi_io_set_spin(io, spin_ns);
    pthread_t threads[WAKE_SUBMITTERS];
    wake_arg_t args[WAKE_SUBMITTERS];
    for (int t = 0; t < WAKE_SUBMITTERS; t++) {
        args[t] = (wake_arg_t){io, scratch.fd, t, 0};
        pthread_create(&threads[t], NULL, wake_submitter, &args[t]);
    }
    for (int t = 0; t < WAKE_SUBMITTERS; t++) {
        pthread_join(threads[t], NULL);
        ck_assert_msg(args[t].lost == 0,
                      "a request was never completed: lost wake-up");
    }
    lgi_io_stats_t stats;
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.writes, WAKE_REQUESTS * WAKE_SUBMITTERS);
    lgi_io_close(io);
    struct stat st;
    ck_assert_int_eq(stat(scratch.path, &st), 0);
    ck_assert_int_eq(st.st_size, WAKE_REQUESTS * WAKE_SUBMITTERS);
    scratch_close(&scratch);
}

START_TEST(every_single_request_wakes_a_sleeping_thread) {
    run_wake_submitters(0);
}
END_TEST

START_TEST(every_single_request_is_seen_by_a_spinning_thread) {
    run_wake_submitters(50000); /* 50 us: some land in the spin, some not */
}
END_TEST

START_TEST(negative_spin_is_no_spin) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-spin");
    lgi_io_t *io = open_engine();
    lgi_io_set_spin(io, -5);
    uint8_t data[16];
    fill_pattern(data, sizeof data, 9);
    latch_t latch;
    latch_init(&latch, 1);
    test_req_t test;
    prepare_write(&test, scratch.fd, 0, data, sizeof data, 0, &latch);
    lgi_io_submit(io, &test.req);
    latch_wait(&latch);
    ck_assert_int_eq(test.result, 0);
    latch_destroy(&latch);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, sizeof data);
    scratch_close(&scratch);
}
END_TEST

/* Whether this file system refuses buffered RWF_NOWAIT writes (ext4 and
 * tmpfs do), which is when io_uring would punt every write to io-wq. */
static int nowait_refused(int fd) {
    uint8_t byte = 0;
    struct iovec iov = {&byte, 1};
    return pwritev2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
}

/* Writes data[0, len) at offset 0 and waits; returns the result. */
static int write_and_wait(lgi_io_t *io, int fd, uint8_t *data, size_t len) {
    latch_t latch;
    latch_init(&latch, 1);
    test_req_t test;
    prepare_write(&test, fd, 0, data, len, 0, &latch);
    lgi_io_submit(io, &test.req);
    latch_wait(&latch);
    latch_destroy(&latch);
    return test.result;
}

START_TEST(small_writes_skip_io_wq_large_ones_use_the_ring) {
    scratch_t scratch;
    scratch_open(&scratch, "uring-inline");
    lgi_io_t *io = open_engine();
    int uring = strcmp(lgi_io_backend_name(io), "io_uring") == 0;
    int refused = nowait_refused(scratch.fd);
    size_t large = 256 * 1024;
    uint8_t *data = malloc(large);
    fill_pattern(data, large, 3);
    lgi_io_stats_t stats;

    ck_assert_int_eq(write_and_wait(io, scratch.fd, data, 100), 0);
    lgi_io_get_stats(io, &stats);
    if (!uring)
        ck_assert_uint_eq(stats.inline_writes, 0); /* all writes are */
    else if (refused)
        ck_assert_uint_eq(stats.inline_writes, 1);
    uint64_t inline_before = stats.inline_writes;

    /* Past LGI_IO_INLINE_WRITE_MAX: the ring's, whatever the file system. */
    ck_assert_int_eq(write_and_wait(io, scratch.fd, data, large), 0);
    lgi_io_get_stats(io, &stats);
    ck_assert_uint_eq(stats.inline_writes, inline_before);
    ck_assert_uint_eq(stats.writes, 2);
    lgi_io_close(io);
    assert_file_equals(scratch.path, data, large);
    free(data);
    scratch_close(&scratch);
}
END_TEST

/* ------------------------------------------------------------------------
 * Runner
 * --------------------------------------------------------------------- */

static Suite *uring_suite(void) {
    Suite *suite = suite_create("uring");
    TCase *writes = tcase_create("writes");
    tcase_add_test(writes, write_then_read_back_matches);
    tcase_add_test(writes, sync_writes_share_fdatasync);
    tcase_add_test(writes, fsync_request_completes_after_fdatasync);
    tcase_add_test(writes, short_write_is_resumed);
    tcase_add_test(writes, eagain_is_retried);
    tcase_add_test(writes, endless_eagain_is_eventually_reported);
    tcase_add_test(writes, failed_fsync_fails_waiters_and_is_not_retried);
    tcase_add_test(writes, enospc_reported);
    tcase_add_test(writes, real_write_error_is_reported);
    tcase_add_test(writes, invalid_request_completes_with_einval);
    tcase_add_test(writes, write_here_resumes_short_writes_and_retries);
    tcase_add_test(writes, write_here_reports_errors);
    suite_add_tcase(suite, writes);

    TCase *falloc = tcase_create("fallocate");
    tcase_add_test(falloc, fallocate_keeps_size);
    tcase_add_test(falloc, unsupported_fallocate_is_not_an_error);
    suite_add_tcase(suite, falloc);

    TCase *backend = tcase_create("backend");
    tcase_add_test(backend, forced_syscall_backend_reports_name);
    tcase_add_test(backend, auto_falls_back);
    tcase_add_test(backend, forced_io_uring_unavailable_is_an_error);
    tcase_add_test(backend, unknown_backend_name_is_rejected);
    tcase_add_test(backend, open_out_of_memory_is_reported);
    suite_add_tcase(suite, backend);

    TCase *lifecycle = tcase_create("lifecycle");
    tcase_add_test(lifecycle, close_drains_pending);
    tcase_add_test(lifecycle, close_of_null_is_noop);
    tcase_add_test(lifecycle, callback_may_resubmit);
    tcase_add_test(lifecycle, close_drains_callback_resubmissions);
    suite_add_tcase(suite, lifecycle);

    TCase *wake = tcase_create("wake");
    tcase_add_test(wake, every_single_request_wakes_a_sleeping_thread);
    tcase_add_test(wake, every_single_request_is_seen_by_a_spinning_thread);
    tcase_add_test(wake, negative_spin_is_no_spin);
    tcase_add_test(wake, small_writes_skip_io_wq_large_ones_use_the_ring);
    suite_add_tcase(suite, wake);
    return suite;
}

int main(void) {
    /* Asked for io_uring on a kernel that refuses it: skip, as liburing's
     * own tests do, rather than fail every test. */
    const char *backend = getenv("LIBLOG_IO_BACKEND");
    if (backend && strcmp(backend, "io_uring") == 0) {
        lgi_io_t *io = NULL;
        if (lgi_io_open(LGI_IO_URING, 8, &io) != LG_OK) {
            fprintf(stderr, "io_uring unavailable: %s\n",
                    lg_last_error_message());
            return 77;
        }
        lgi_io_close(io);
    }
    SRunner *runner = srunner_create(uring_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
