/*
 * test_faults.c -- I/O errors at random points: EIO on write, EIO on
 * fdatasync (through the I/O engine and on the direct fdatasync that seals
 * a segment), ENOSPC that persists until "space is freed", and short
 * writes.
 *
 * Each injection point opens the engine on a data directory that carries
 * over from point to point, installs a fault plan (test/support/faultio.c)
 * that fires at a random operation, and appends batches with acks=1 and
 * acks=all to two partitions.  The contract checked at every point:
 *
 *   write EIO       the append whose write failed returns LG_ERR_IO; the
 *                   next append succeeds and lands at the same offset (the
 *                   log was rolled back; nothing half-written remains);
 *   ENOSPC          appends fail with LG_ERR_DISK_FULL while the fault
 *                   lasts, and succeed again once it is cleared;
 *   fdatasync EIO   the acks=all append that needed it fails, and from then
 *                   on the partition refuses appends with LG_ERR_READ_ONLY
 *                   -- even after the fault is gone: a failed fdatasync is
 *                   never retried as if the data were safe -- while the
 *                   other partition carries on; reopening recovers it;
 *   short write     invisible: the engine resumes the write.
 *
 * After every point the engine is closed and reopened, and every partition
 * is read from offset 0: offsets dense, every record intact (values carry
 * their own hash), every acknowledged record present with its exact value.
 *
 * LIBLOG_FAULT_POINTS sets the number of points (default 100; run under
 * both backends by test/run.sh, and make check runs the suite plain and
 * under ASan, so it injects at 400 points);
 * LIBLOG_FAULT_SEED repeats a run.
 */
#include "faultio.h"
#include "testutil.h"

#include "engine.h"
#include "liblog.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "faults"
#define PARTITIONS 2
#define VALUE_HEADER 12 /* hash (8), sequence (4) */
#define DIRECT_SYNC_STAGE 100 /* plan stage for the interposed fdatasync */

/* When set, fdatasyncs the library issues itself (segment seals) go
 * through this plan too. */
static lgt_fault_plan_t *direct_sync_plan;

int fdatasync(int fd) {
    lgt_fault_plan_t *plan = __atomic_load_n(&direct_sync_plan,
                                             __ATOMIC_ACQUIRE);
    if (plan) {
        int result = lgt_faultio_inject_hook(plan, NULL, DIRECT_SYNC_STAGE);
        if (result < 0) {
            errno = -result;
            return -1;
        }
    }
    return (int)syscall(SYS_fdatasync, fd);
}

/* Acknowledged value hashes per partition, by offset (0: none). */
static uint64_t *acked[PARTITIONS];
static int64_t acked_cap[PARTITIONS];
static uint64_t random_state;
static uint32_t sequence;
static char append_message[512]; /* lg_last_error_message of the last append */

static void note_acked(int32_t partition, int64_t offset, uint64_t hash) {
    if (offset >= acked_cap[partition]) {
        int64_t cap = acked_cap[partition] ? acked_cap[partition] * 2 : 1024;
        while (cap <= offset)
            cap *= 2;
        acked[partition] = realloc(acked[partition],
                                   (size_t)cap * sizeof(uint64_t));
        ck_assert_ptr_nonnull(acked[partition]);
        memset(acked[partition] + acked_cap[partition], 0,
               (size_t)(cap - acked_cap[partition]) * sizeof(uint64_t));
        acked_cap[partition] = cap;
    }
    acked[partition][offset] = hash | 1;
}

static lg_engine_t *open_engine(const char *dir) {
    lg_conf_t *conf = lg_conf_new();
    /* Small segments: rolls (and their sealing fdatasync) happen often. */
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "3000"), LG_OK);
    lg_engine_t *engine;
    lg_err_t err = lg_engine_open(dir, conf, &engine);
    lg_conf_destroy(conf);
    ck_assert_msg(err == LG_OK, "open: %s", lg_last_error_message());
    return engine;
}

/* One batch of 1..3 self-checking records; returns lg_append's result and
 * records the acknowledgement on success. */
static lg_err_t append_batch(lg_engine_t *engine, int32_t partition, int acks,
                             int64_t *basep) {
    lg_records_t *records = lg_records_new();
    int count = 1 + (int)(lgt_xorshift(&random_state) % 3);
    uint64_t hashes[3];
    uint8_t value[256];
    for (int i = 0; i < count; i++) {
        size_t len = VALUE_HEADER + lgt_xorshift(&random_state) % 200;
        uint32_t seq = sequence++;
        memcpy(value + 8, &seq, 4);
        for (size_t b = VALUE_HEADER; b < len; b++)
            value[b] = (uint8_t)lgt_xorshift(&random_state);
        uint64_t inner = lgt_fnv1a(value + 8, len - 8);
        memcpy(value, &inner, 8);
        hashes[i] = lgt_fnv1a(value, len);
        ck_assert_int_eq(lg_records_add(records, NULL, 0, value, len,
                                        LG_TIMESTAMP_NOW),
                         LG_OK);
    }
    int64_t base = -1;
    lg_err_t err = lg_append(engine, TOPIC, partition, records, acks, &base);
    /* The message lives until the next lg_ call on this thread. */
    snprintf(append_message, sizeof append_message, "%s",
             lg_last_error_message());
    lg_records_destroy(records);
    if (err == LG_OK)
        for (int i = 0; i < count; i++)
            note_acked(partition, base + i, hashes[i]);
    if (basep)
        *basep = base;
    return err;
}

/* Reads every partition from 0: dense, intact, acknowledged records
 * present and exact. */
static void verify_all(lg_engine_t *engine) {
    for (int32_t p = 0; p < PARTITIONS; p++) {
        int64_t high;
        ck_assert_int_eq(lg_watermarks(engine, TOPIC, p, NULL, &high), LG_OK);
        int64_t next = 0;
        while (next < high) {
            lg_fetch_t *fetch;
            lg_err_t err = lg_read(engine, TOPIC, p, next, 1 << 16, &fetch);
            ck_assert_msg(err == LG_OK, "read p%d at %" PRId64 ": %s", p,
                          next, lg_last_error_message());
            const lg_message_t *m;
            while ((err = lg_fetch_next(fetch, &m)) == LG_OK && m) {
                ck_assert_int_eq(lg_message_offset(m), next);
                size_t len;
                const uint8_t *value = lg_message_value(m, &len);
                ck_assert(value && len >= VALUE_HEADER);
                uint64_t inner;
                memcpy(&inner, value, 8);
                ck_assert_msg(inner == lgt_fnv1a(value + 8, len - 8),
                              "p%d offset %" PRId64 " damaged", p, next);
                if (next < acked_cap[p] && acked[p][next])
                    ck_assert_msg((lgt_fnv1a(value, len) | 1) == acked[p][next],
                                  "p%d offset %" PRId64 " is not the "
                                  "acknowledged record", p, next);
                next++;
            }
            ck_assert_int_eq(err, LG_OK);
            lg_fetch_destroy(fetch);
        }
        for (int64_t o = high; o < acked_cap[p]; o++)
            ck_assert_msg(acked[p][o] == 0,
                          "p%d: acknowledged offset %" PRId64 " lost", p, o);
    }
}

enum fault_kind {
    WRITE_EIO,
    WRITE_ENOSPC, /* sticky until cleared: a full disk */
    FSYNC_EIO,
    SEAL_FSYNC_EIO,
    SHORT_WRITE,
    FAULT_KINDS
};

static const char *kind_names[FAULT_KINDS] = {
    "write EIO", "ENOSPC", "fdatasync EIO", "seal fdatasync EIO",
    "short write"};

/* Runs one injection point; returns 1 if the fault fired. */
static int run_point(const char *dir, int kind, long point) {
    lg_engine_t *engine = open_engine(dir);
    lgt_fault_plan_t plan;
    memset(&plan, 0, sizeof plan);
    plan.at = (long)(lgt_xorshift(&random_state) % 6);
    switch (kind) {
    case WRITE_EIO:
        plan.stage = LGI_IO_FAULT_WRITE, plan.result = -EIO;
        break;
    case WRITE_ENOSPC:
        plan.stage = LGI_IO_FAULT_WRITE, plan.result = -ENOSPC;
        plan.sticky = 1;
        break;
    case FSYNC_EIO:
        plan.stage = LGI_IO_FAULT_FSYNC, plan.result = -EIO;
        break;
    case SEAL_FSYNC_EIO:
        plan.stage = DIRECT_SYNC_STAGE, plan.result = -EIO;
        plan.at = 0;
        break;
    default:
        plan.stage = LGI_IO_FAULT_WRITE;
        plan.result = 1 + (int)(lgt_xorshift(&random_state) % 60);
        break;
    }
    if (kind == SEAL_FSYNC_EIO)
        __atomic_store_n(&direct_sync_plan, &plan, __ATOMIC_RELEASE);
    else
        lgi_io_set_fault(engine->io, lgt_faultio_inject_hook, &plan);

    int fenced[PARTITIONS] = {0, 0};
    int fired_before = 0;
    for (int i = 0; i < 16; i++) {
        int32_t p = (int32_t)(lgt_xorshift(&random_state) % PARTITIONS);
        int acks =
            lgt_xorshift(&random_state) % 2 ? LG_ACKS_ALL : LG_ACKS_LEADER;
        int64_t end_before;
        ck_assert_int_eq(lg_watermarks(engine, TOPIC, p, NULL, &end_before),
                         LG_OK);
        int64_t base;
        lg_err_t err = append_batch(engine, p, acks, &base);
        int fired = atomic_load(&plan.fired);
        int new_fire = fired > fired_before;
        fired_before = fired;
        if (fenced[p]) {
            ck_assert_msg(err == LG_ERR_READ_ONLY,
                          "point %ld: fenced partition accepted an append "
                          "(%s)", point, lg_err_name(err));
            continue;
        }
        if (!new_fire) {
            ck_assert_msg(err == LG_OK, "point %ld (%s): append failed "
                          "without a fault: %s", point, kind_names[kind],
                          append_message);
            ck_assert_int_eq(base, end_before);
            continue;
        }
        switch (kind) {
        case WRITE_EIO:
            ck_assert_int_eq(err, LG_ERR_IO);
            break;
        case WRITE_ENOSPC:
            ck_assert_int_eq(err, LG_ERR_DISK_FULL);
            ck_assert_msg(strstr(append_message, "No space left"),
                          "message: %s", append_message);
            if (lgt_xorshift(&random_state) % 3 == 0)
                atomic_store(&plan.cleared, 1); /* space freed */
            break;
        case FSYNC_EIO:
        case SEAL_FSYNC_EIO:
            /* The fdatasync was needed by this append (acks=all) or by
             * the roll before it; either way it must not be acknowledged
             * as durable. */
            ck_assert_msg(err == LG_ERR_IO || err == LG_ERR_READ_ONLY,
                          "point %ld: append after failed fdatasync gave %s",
                          point, lg_err_name(err));
            fenced[p] = 1;
            /* The fault is over; the partition must stay fenced anyway. */
            atomic_store(&plan.cleared, 1);
            break;
        default: /* short write: resumed, invisible */
            ck_assert_msg(err == LG_OK, "short write surfaced: %s",
                          append_message);
            ck_assert_int_eq(base, end_before);
            break;
        }
        /* A failed write leaves the log end where it was. */
        if (kind == WRITE_EIO || kind == WRITE_ENOSPC) {
            int64_t end_after;
            ck_assert_int_eq(lg_watermarks(engine, TOPIC, p, NULL,
                                           &end_after),
                             LG_OK);
            ck_assert_int_eq(end_after, end_before);
        }
    }
    /* Disk space back: appends work again on unfenced partitions. */
    atomic_store(&plan.cleared, 1);
    for (int32_t p = 0; p < PARTITIONS; p++) {
        lg_err_t err = append_batch(engine, p, LG_ACKS_ALL, NULL);
        ck_assert_msg(err == (fenced[p] ? LG_ERR_READ_ONLY : LG_OK),
                      "point %ld (%s): p%d after clearing: %s", point,
                      kind_names[kind], p, append_message);
    }
    int fired = atomic_load(&plan.fired);
    __atomic_store_n(&direct_sync_plan, NULL, __ATOMIC_RELEASE);
    lgi_io_set_fault(engine->io, NULL, NULL);
    /* A fenced partition cannot flush: close reports it and leaves no
     * clean-shutdown marker, so the reopen below runs recovery. */
    lg_err_t close_err = lg_engine_close(engine);
    if (!fenced[0] && !fenced[1])
        ck_assert_msg(close_err == LG_OK, "close: %s",
                      lg_last_error_message());
    engine = open_engine(dir);
    verify_all(engine);
    for (int32_t p = 0; p < PARTITIONS; p++)
        ck_assert_int_eq(append_batch(engine, p, LG_ACKS_ALL, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    return fired > 0;
}

START_TEST(random_io_faults_keep_acknowledged_records) {
    long points = lgt_env_long("LIBLOG_FAULT_POINTS", 100);
    uint64_t seed = (uint64_t)lgt_env_long("LIBLOG_FAULT_SEED", 0);
    if (!seed)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("faults: seed %" PRIu64 "\n", seed);
    random_state = seed;
    char *dir = lgt_tmpdir("faults");
    lg_engine_t *engine = open_engine(dir);
    ck_assert_int_eq(lg_topic_create(engine, TOPIC, PARTITIONS, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    long fired[FAULT_KINDS] = {0}, tried[FAULT_KINDS] = {0};
    for (long point = 0; point < points; point++) {
        int kind = (int)(point % FAULT_KINDS);
        tried[kind]++;
        fired[kind] += run_point(dir, kind, point);
    }
    long total = 0;
    for (int k = 0; k < FAULT_KINDS; k++) {
        printf("faults: %-20s %ld points, %ld fired\n", kind_names[k],
               tried[k], fired[k]);
        total += fired[k];
        /* Every kind must really have been exercised. */
        if (tried[k] >= 10)
            ck_assert_int_gt(fired[k], 0);
    }
    printf("faults: %ld injection points, %ld faults injected\n", points,
           total);
    for (int p = 0; p < PARTITIONS; p++)
        free(acked[p]);
    lgt_rmrf(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, random_io_faults_keep_acknowledged_records);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
