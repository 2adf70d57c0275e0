/*
 * test_crash.c -- acknowledged records survive SIGKILL and power loss.
 *
 * Each round forks a child that opens the engine (running recovery on what
 * the previous round left) and appends with LG_ACKS_ALL from several
 * threads to three partitions of one topic.  After every successful
 * lg_append the child writes (partition, offset, value hash) for each
 * record into a pipe -- after the ack, so the parent only ever learns of
 * acknowledged records.  The parent SIGKILLs the child at a random instant
 * (anywhere from inside lg_engine_open to deep in the appends) and then:
 *
 *   power-loss rounds: replays the fault journal (test/support/faultio.c)
 *   so every write not covered by an fdatasync is lost and the newest one
 *   is torn at a sector boundary, as a power cut would leave the disk;
 *
 *   every round: reopens the engine and checks that every record ever
 *   acknowledged is at its offset with its exact value, that offsets from
 *   the log start to the end are dense, that every record on disk --
 *   acknowledged or not -- is intact (values carry their own hash), and
 *   that a fresh append lands right after the recovered end and reads
 *   back.
 *
 * Every record is self-checking: value = 8-byte FNV-1a hash of the rest,
 * then the writer id, a sequence number and random padding.  So a
 * half-written record that recovery let through would be caught even if
 * it was never acknowledged.
 *
 * Rounds: LIBLOG_CRASH_KILLS per test (default 30; two tests, each run
 * under both I/O backends by test/run.sh, so make check kills 120 times),
 * stopping early after LIBLOG_CRASH_SECONDS (default 60).  The data
 * directory starts afresh every 100 rounds so long soaks stay fast.
 * LIBLOG_CRASH_SEED repeats a run.
 */
#include "faultio.h"
#include "testutil.h"

#include "engine.h"
#include "liblog.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "crash"
#define PARTITIONS 3
#define WRITERS 4
#define VALUE_HEADER 20 /* hash (8), writer (4), sequence (8) */

/* The library seals segments with a direct fdatasync; the power-loss
 * journal must see those too, or it would undo data that was synced.  The
 * test binary's definition wins over libc's for the static library. */
int fdatasync(int fd) {
    lgt_faultio_note_sync(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

/* One acknowledged record, as sent through the pipe (< PIPE_BUF, so each
 * write of whole records is atomic). */
typedef struct ack {
    int32_t partition;
    int32_t reserved;
    int64_t offset;
    uint64_t hash;
} ack_t;

/* Fills value (len >= VALUE_HEADER) as a self-checking record value and
 * returns its whole-value hash (what the parent compares). */
static uint64_t make_value(uint8_t *value, size_t len, uint32_t writer,
                           uint64_t sequence, uint64_t *random_state) {
    memcpy(value + 8, &writer, 4);
    memcpy(value + 12, &sequence, 8);
    for (size_t i = VALUE_HEADER; i < len; i++)
        value[i] = (uint8_t)lgt_xorshift(random_state);
    uint64_t inner = lgt_fnv1a(value + 8, len - 8);
    memcpy(value, &inner, 8);
    return lgt_fnv1a(value, len);
}

static int value_is_intact(const uint8_t *value, size_t len) {
    if (!value || len < VALUE_HEADER)
        return 0;
    uint64_t inner;
    memcpy(&inner, value, 8);
    return inner == lgt_fnv1a(value + 8, len - 8);
}

static lg_conf_t *engine_conf(void) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_ptr_nonnull(conf);
    /* Small segments so kills land in rolls and seals too; frequent
     * checkpoints so recovery starts from many different points. */
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "16384"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "index.interval.bytes", "512"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf,
                                 "log.flush.offset.checkpoint.interval.ms",
                                 "100"),
                     LG_OK);
    return conf;
}

/* ------------------------------------------------------------------------
 * The child: append until killed
 * --------------------------------------------------------------------- */

typedef struct writer {
    lg_engine_t *engine;
    int ack_fd;
    uint32_t id;
    uint64_t random_state;
} writer_t;

static void child_fail(const char *what) {
    fprintf(stderr, "child: %s: %s\n", what, lg_last_error_message());
    _exit(3);
}

static void *writer_main(void *arg) {
    writer_t *w = arg;
    lg_records_t *records = lg_records_new();
    uint8_t value[400];
    uint64_t sequence = 0;
    if (!records)
        child_fail("records");
    for (;;) {
        lg_records_clear(records);
        int32_t partition =
            (int32_t)(lgt_xorshift(&w->random_state) % PARTITIONS);
        int count = 1 + (int)(lgt_xorshift(&w->random_state) % 6);
        ack_t acks[8];
        for (int i = 0; i < count; i++) {
            size_t len = VALUE_HEADER + lgt_xorshift(&w->random_state) % 300;
            acks[i].partition = partition;
            acks[i].reserved = 0;
            acks[i].hash = make_value(value, len, w->id, sequence++,
                                      &w->random_state);
            if (lg_records_add(records, "k", 1, value, len,
                               LG_TIMESTAMP_NOW) != LG_OK)
                child_fail("records_add");
        }
        int64_t base;
        if (lg_append(w->engine, TOPIC, partition, records, LG_ACKS_ALL,
                      &base) != LG_OK)
            child_fail("lg_append");
        for (int i = 0; i < count; i++)
            acks[i].offset = base + i;
        /* Only now is the batch acknowledged: tell the parent. */
        if (write(w->ack_fd, acks, sizeof(ack_t) * (size_t)count) !=
            (ssize_t)(sizeof(ack_t) * (size_t)count))
            _exit(4);
    }
    return NULL;
}

static void child_main(const char *dir, int ack_fd, const char *journal,
                       uint64_t seed) {
    if (journal && lgt_faultio_journal_start(journal) != 0)
        _exit(5);
    lg_conf_t *conf = engine_conf();
    lg_engine_t *engine;
    if (lg_engine_open(dir, conf, &engine) != LG_OK)
        child_fail("lg_engine_open");
    lg_conf_destroy(conf);
    if (journal)
        lgi_io_set_fault(engine->io, lgt_faultio_hook, NULL);
    pthread_t threads[WRITERS];
    writer_t writers[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (writer_t){engine, ack_fd, (uint32_t)i,
                                seed * 31 + (uint64_t)i + 1};
        if (pthread_create(&threads[i], NULL, writer_main, &writers[i]) != 0)
            _exit(6);
    }
    for (;;)
        pause(); /* until SIGKILL */
}

/* ------------------------------------------------------------------------
 * The parent: kill, recover, verify
 * --------------------------------------------------------------------- */

/* Every acknowledged record so far, per partition, indexed by offset (0:
 * not acknowledged). */
typedef struct expected {
    uint64_t *hash;
    int64_t cap;
} expected_t;

static expected_t expected[PARTITIONS];
static long total_acks;

static void note_ack(const ack_t *ack) {
    ck_assert_int_ge(ack->partition, 0);
    ck_assert_int_lt(ack->partition, PARTITIONS);
    expected_t *e = &expected[ack->partition];
    if (ack->offset >= e->cap) {
        int64_t cap = e->cap ? e->cap : 1024;
        while (cap <= ack->offset)
            cap *= 2;
        e->hash = realloc(e->hash, (size_t)cap * sizeof *e->hash);
        ck_assert_ptr_nonnull(e->hash);
        memset(e->hash + e->cap, 0, (size_t)(cap - e->cap) * sizeof *e->hash);
        e->cap = cap;
    }
    /* An offset is acknowledged at most once per data directory. */
    ck_assert_msg(e->hash[ack->offset] == 0,
                  "partition %d offset %" PRId64 " acknowledged twice",
                  ack->partition, ack->offset);
    e->hash[ack->offset] = ack->hash ? ack->hash : 1;
    total_acks++;
}

static void reset_expected(void) {
    for (int p = 0; p < PARTITIONS; p++) {
        free(expected[p].hash);
        expected[p] = (expected_t){NULL, 0};
    }
}

static void on_ack(void *opaque, const uint8_t *record) {
    ack_t ack;
    memcpy(&ack, record, sizeof ack);
    note_ack(&ack);
}

/* Reads acks from fd until EOF or deadline (ms, monotonic; -1: EOF). */
static void drain_acks(int fd, int64_t deadline, uint8_t *buf, size_t *have) {
    lgt_drain_records(fd, deadline, buf, 4096, have, sizeof(ack_t), on_ack,
                      NULL);
}

/* Reopens dir and checks one partition against every acknowledgement. */
static void verify_partition(lg_engine_t *engine, int32_t partition) {
    int64_t low, high;
    ck_assert_int_eq(lg_watermarks(engine, TOPIC, partition, &low, &high),
                     LG_OK);
    ck_assert_int_eq(low, 0);
    expected_t *e = &expected[partition];
    int64_t next = 0;
    while (next < high) {
        lg_fetch_t *fetch;
        lg_err_t err = lg_read(engine, TOPIC, partition, next, 1 << 16,
                               &fetch);
        ck_assert_msg(err == LG_OK, "read p%d at %" PRId64 ": %s", partition,
                      next, lg_last_error_message());
        const lg_message_t *m;
        int any = 0;
        while ((err = lg_fetch_next(fetch, &m)) == LG_OK && m) {
            any = 1;
            ck_assert_int_eq(lg_message_offset(m), next); /* dense */
            size_t len;
            const uint8_t *value = lg_message_value(m, &len);
            ck_assert_msg(value_is_intact(value, len),
                          "p%d offset %" PRId64 " damaged", partition, next);
            if (next < e->cap && e->hash[next]) {
                uint64_t h = lgt_fnv1a(value, len);
                ck_assert_msg((h ? h : 1) == e->hash[next],
                              "p%d offset %" PRId64 " is not the "
                              "acknowledged record",
                              partition, next);
            }
            next++;
        }
        ck_assert_int_eq(err, LG_OK);
        ck_assert(any);
        lg_fetch_destroy(fetch);
    }
    ck_assert_int_eq(next, high);
    /* Nothing acknowledged lies beyond the recovered end. */
    for (int64_t o = high; o < e->cap; o++)
        ck_assert_msg(e->hash[o] == 0,
                      "p%d: acknowledged offset %" PRId64 " lost (end %" PRId64
                      ")",
                      partition, o, high);
    /* Appends continue right after the recovered end. */
    uint8_t value[64];
    uint64_t state = (uint64_t)high + 7;
    uint64_t h = make_value(value, sizeof value, 0xffff, (uint64_t)high,
                            &state);
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, NULL, 0, value, sizeof value,
                                    LG_TIMESTAMP_NOW),
                     LG_OK);
    int64_t base;
    ck_assert_int_eq(lg_append(engine, TOPIC, partition, records, LG_ACKS_ALL,
                               &base),
                     LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(base, high);
    note_ack(&(ack_t){partition, 0, base, h});
}

static void run_rounds(int power_loss) {
    long kills = lgt_env_long("LIBLOG_CRASH_KILLS", 30);
    long seconds = lgt_env_long("LIBLOG_CRASH_SECONDS", 60);
    uint64_t seed = (uint64_t)lgt_env_long("LIBLOG_CRASH_SEED", 0);
    if (!seed)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    printf("%s: seed %" PRIu64 "\n", power_loss ? "power loss" : "sigkill",
           seed);
    uint64_t random_state = seed;
    char *base_dir = lgt_tmpdir("crash");
    char *dir = lgt_path(base_dir, "data");
    char *journal = lgt_path(base_dir, "journal");
    int64_t start = lgt_monotonic_ms();
    long rounds = 0, undone = 0, hard_kills = 0;
    total_acks = 0;
    reset_expected();
    for (; rounds < kills && lgt_monotonic_ms() - start < seconds * 1000;
         rounds++) {
        if (rounds % 100 == 0) {
            /* A fresh directory with the topic created and closed. */
            lgt_rmrf(dir);
            reset_expected();
            lg_engine_t *engine;
            lg_conf_t *conf = engine_conf();
            ck_assert_int_eq(lg_engine_open(dir, conf, &engine), LG_OK);
            lg_conf_destroy(conf);
            ck_assert_int_eq(lg_topic_create(engine, TOPIC, PARTITIONS, NULL),
                             LG_OK);
            ck_assert_int_eq(lg_engine_close(engine), LG_OK);
        }
        /* A child killed before it starts its journal must not leave the
         * previous round's journal to be replayed over data synced since
         * (the parent's own appends). */
        unlink(journal);
        int fds[2];
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        uint64_t child_seed = lgt_xorshift(&random_state);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, fds[1], power_loss ? journal : NULL, child_seed);
        }
        close(fds[1]);
        /* Kill anywhere from during open/recovery to well into the
         * appends. */
        int64_t delay = 1 + (int64_t)(lgt_xorshift(&random_state) % 80);
        uint8_t buf[4096];
        size_t have = 0;
        drain_acks(fds[0], lgt_monotonic_ms() + delay, buf, &have);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        drain_acks(fds[0], -1, buf, &have);
        close(fds[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "child ended by itself (status %d): see its stderr",
                      status);
        hard_kills++;
        if (power_loss) {
            long n =
                lgt_faultio_power_loss(journal, lgt_xorshift(&random_state));
            ck_assert_int_ge(n, 0);
            undone += n;
        }
        lg_engine_t *engine;
        lg_conf_t *conf = engine_conf();
        lg_err_t err = lg_engine_open(dir, conf, &engine);
        lg_conf_destroy(conf);
        ck_assert_msg(err == LG_OK, "reopen after kill %ld: %s", rounds,
                      lg_last_error_message());
        for (int32_t p = 0; p < PARTITIONS; p++)
            verify_partition(engine, p);
        ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    }
    printf("%s: %ld kills, %ld acknowledged records verified, %ld unsynced "
           "writes undone, %.1f s\n",
           power_loss ? "power loss" : "sigkill", hard_kills, total_acks,
           undone, (double)(lgt_monotonic_ms() - start) / 1000.0);
    ck_assert_int_ge(hard_kills, kills < 10 ? kills : 10);
    ck_assert_int_gt(total_acks, 0);
    if (power_loss && hard_kills >= 10)
        ck_assert_int_gt(undone, 0); /* the simulation really lost data */
    reset_expected();
    lgt_rmrf(base_dir);
    free(journal);
    free(dir);
    free(base_dir);
}

START_TEST(acked_records_survive_sigkill) { run_rounds(0); }
END_TEST

START_TEST(acked_records_survive_power_loss) { run_rounds(1); }
END_TEST

int main(void) {
    Suite *suite = suite_create("crash");
    TCase *tc = tcase_create("crash");
    /* Bounded by LIBLOG_CRASH_SECONDS, plus the last round and verify. */
    tcase_set_timeout(tc,
                      (double)lgt_env_long("LIBLOG_CRASH_SECONDS", 60) + 60);
    tcase_add_test(tc, acked_records_survive_sigkill);
    tcase_add_test(tc, acked_records_survive_power_loss);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
