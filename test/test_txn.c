/*
 * test_txn.c -- transactional producers and the transaction coordinator:
 * the API's state rules, commit and abort markers written to every
 * partition a transaction touched, group offsets committed only with the
 * transaction, fencing of an older producer with the same
 * transactional.id, transaction.timeout.ms, recovery after a crash
 * (fork + _exit) between PrepareCommit and the markers, the last stable
 * offset, and a consume-transform-produce loop SIGKILLed at random points
 * whose committed output holds every input exactly once (checked by hand
 * from the markers and through a read_committed consumer), partitions
 * registered durably before their data (power loss; a failed sync), and a
 * failed marker completed at the next open.
 */
#include "engine.h"
#include "faultio.h"
#include "group.h"
#include "logtest.h"
#include "producer_state.h"
#include "txn.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The power-loss journal must see the library's direct fdatasyncs too
 * (segment seals), or it would undo data that was synced; as in
 * test_crash, the test binary's definition wins for the static library.
 * Without a journal it is a plain fdatasync. */
int fdatasync(int fd) {
    lgt_faultio_note_sync(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

static char *dir;

static void setup(void) { dir = lgt_tmpdir("txn"); }

static void teardown(void) {
    lgt_rmrf(dir);
    free(dir);
}

static lg_engine_t *open_engine(void) { return lgt_engine_open(dir); }

static void create_topics(lg_engine_t *engine) {
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "in", 1, NULL), LG_OK);
}

/* A transactional producer (lgt_txn_producer) with its transactions
 * initialized. */
static lg_producer_t *ready_producer(lg_engine_t *engine, const char *id,
                                     const char *timeout_ms) {
    lg_producer_t *producer = lgt_txn_producer(engine, id, timeout_ms);
    ck_assert_int_eq(lg_producer_init_transactions(producer), LG_OK);
    return producer;
}

static void produce(lg_producer_t *producer, int32_t partition, int n) {
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(lg_produce(producer, "t", partition, "k", 1, "v", 1,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
}

/* What one partition of "t" holds. */
typedef struct scan {
    int data_records;         /* records of transactional data batches */
    int plain_records;        /* records of non-transactional batches */
    int commits, aborts;      /* control markers */
    int last_marker;          /* 1 commit, 0 abort, -1 none */
    int16_t last_marker_epoch;
    int64_t last_producer_id;
} scan_t;

static void scan_batch(void *opaque, const uint8_t *batch,
                       const lgi_batch_header_t *h) {
    scan_t *s = opaque;
    s->last_producer_id = h->producer_id;
    if (h->attributes & LGI_ATTR_CONTROL) {
        ck_assert(h->attributes & LGI_ATTR_TRANSACTIONAL);
        lgi_record_iter_t iter;
        lgi_buf_t scratch = LGI_BUF_INIT;
        lgi_record_t record;
        int done;
        ck_assert_int_eq(lgi_record_iter_init(&iter, batch, h, &scratch),
                         LG_OK);
        ck_assert_int_eq(lgi_record_iter_next(&iter, &record, &done), LG_OK);
        ck_assert(!done);
        ck_assert_uint_eq(record.key_len, 4);
        const uint8_t *key = record.key;
        int type = key[3];
        s->last_marker = type;
        s->last_marker_epoch = h->producer_epoch;
        if (type == 1)
            s->commits++;
        else
            s->aborts++;
        lgi_buf_free(&scratch);
    } else if (h->attributes & LGI_ATTR_TRANSACTIONAL) {
        s->data_records += h->record_count;
    } else {
        s->plain_records += h->record_count;
    }
}

static void scan(lg_engine_t *engine, int32_t partition, scan_t *s) {
    memset(s, 0, sizeof *s);
    s->last_marker = -1;
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", partition, &ref), LG_OK);
    lgt_each_batch(ref.partition, 0, scan_batch, s);
    lgi_engine_release(engine, &ref);
}

static int txn_state(lg_engine_t *engine, const char *id, int64_t *pidp,
                     int16_t *epochp) {
    int state = -1;
    int64_t pid = -1;
    int16_t epoch = -1;
    if (lgi_txn_lookup(engine, id, &state, &pid, &epoch) != 0)
        return -1;
    if (pidp)
        *pidp = pid;
    if (epochp)
        *epochp = epoch;
    return state;
}

START_TEST(commit_writes_a_marker_to_every_partition_touched) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 5);
    produce(p, 1, 3);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_OK);
    scan_t s;
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 5);
    ck_assert_int_eq(s.plain_records, 0);
    ck_assert_int_eq(s.commits, 1);
    ck_assert_int_eq(s.aborts, 0);
    scan(engine, 1, &s);
    ck_assert_int_eq(s.data_records, 3);
    ck_assert_int_eq(s.commits, 1);
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_COMPLETE_COMMIT);

    /* A second transaction touching only partition 1. */
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 1, 2);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_OK);
    scan(engine, 0, &s);
    ck_assert_int_eq(s.commits, 1);
    scan(engine, 1, &s);
    ck_assert_int_eq(s.data_records, 5);
    ck_assert_int_eq(s.commits, 2);

    /* Readers skip the markers. */
    lg_fetch_t *fetch;
    const lg_message_t *m;
    int seen = 0;
    ck_assert_int_eq(lg_read(engine, "t", 1, 0, 1 << 20, &fetch), LG_OK);
    while (lg_fetch_next(fetch, &m) == LG_OK && m)
        seen++;
    lg_fetch_destroy(fetch);
    ck_assert_int_eq(seen, 5);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(abort_writes_abort_markers_and_the_producer_goes_on) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 4);
    ck_assert_int_eq(lg_producer_abort_transaction(p, -1), LG_OK);
    scan_t s;
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 4);
    ck_assert_int_eq(s.aborts, 1);
    ck_assert_int_eq(s.last_marker, 0);
    scan(engine, 1, &s);
    ck_assert_int_eq(s.aborts + s.commits, 0); /* untouched: no marker */
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_COMPLETE_ABORT);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 2);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_OK);
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 6);
    ck_assert_int_eq(s.last_marker, 1);
    /* Nothing registered: commit and abort are no-ops. */
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_OK);
    scan(engine, 0, &s);
    ck_assert_int_eq(s.commits, 1);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(calls_out_of_order_are_refused) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = lgt_txn_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_ERR_STATE);
    ck_assert_int_eq(lg_produce(p, "t", 0, "k", 1, "v", 1, LG_TIMESTAMP_NOW,
                                NULL),
                     LG_ERR_STATE);
    ck_assert_int_eq(lg_producer_init_transactions(p), LG_OK);
    ck_assert_int_eq(lg_producer_init_transactions(p), LG_ERR_STATE);
    ck_assert_int_eq(lg_produce(p, "t", 0, "k", 1, "v", 1, LG_TIMESTAMP_NOW,
                                NULL),
                     LG_ERR_STATE);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_ERR_STATE);
    ck_assert_int_eq(lg_producer_abort_transaction(p, -1), LG_ERR_STATE);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_ERR_STATE);
    ck_assert_int_eq(lg_producer_send_offsets_to_transaction(p, NULL, "g"),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_producer_abort_transaction(p, -1), LG_OK);
    lg_producer_destroy(p);

    /* Not transactional. */
    lg_producer_t *plain = NULL;
    ck_assert_int_eq(lg_producer_new(engine, NULL, &plain), LG_OK);
    ck_assert_int_eq(lg_producer_init_transactions(plain), LG_ERR_STATE);
    lg_producer_destroy(plain);
    ck_assert_int_eq(lg_producer_init_transactions(NULL),
                     LG_ERR_INVALID_ARG);

    /* transactional.id needs idempotence and acks=all. */
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "transactional.id", "x"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "acks", "1"), LG_OK);
    ck_assert_int_eq(lg_producer_new(engine, conf, &plain),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_int_eq(lg_conf_set(conf, "acks", "all"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "enable.idempotence", "false"),
                     LG_OK);
    ck_assert_int_eq(lg_producer_new(engine, conf, &plain),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(a_new_producer_fences_the_old_one_and_aborts_its_transaction) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *old = lgt_txn_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_init_transactions(old), LG_OK);
    int64_t pid = -1;
    int16_t old_epoch = -1, epoch = -1;
    txn_state(engine, "tx", &pid, &old_epoch);
    ck_assert_int_eq(lg_producer_begin_transaction(old), LG_OK);
    produce(old, 0, 3);
    ck_assert_int_eq(lg_producer_flush(old, -1), LG_OK);

    lg_producer_t *young = lgt_txn_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_init_transactions(young), LG_OK);
    int64_t young_pid;
    txn_state(engine, "tx", &young_pid, &epoch);
    ck_assert_int_eq(young_pid, pid);
    ck_assert_int_eq(epoch, old_epoch + 2);
    /* The old transaction was aborted, under a bumped epoch. */
    scan_t s;
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 3);
    ck_assert_int_eq(s.aborts, 1);
    ck_assert_int_eq(s.last_marker_epoch, old_epoch + 1);

    /* The old producer is fenced: by the coordinator ... */
    ck_assert_int_eq(lg_producer_commit_transaction(old, -1),
                     LG_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(lg_producer_begin_transaction(old),
                     LG_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(lg_produce(old, "t", 1, "k", 1, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_PRODUCER_FENCED);
    lg_producer_destroy(old);

    /* ... and the new one works. */
    ck_assert_int_eq(lg_producer_begin_transaction(young), LG_OK);
    produce(young, 0, 2);
    produce(young, 1, 2);
    ck_assert_int_eq(lg_producer_commit_transaction(young, -1), LG_OK);
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 5);
    ck_assert_int_eq(s.last_marker, 1);
    ck_assert_int_eq(s.last_marker_epoch, epoch);
    scan(engine, 1, &s);
    ck_assert_int_eq(s.data_records, 2);
    ck_assert_int_eq(s.commits, 1);
    lg_producer_destroy(young);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(an_old_epoch_is_fenced_in_the_partition_too) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *old = lgt_txn_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_init_transactions(old), LG_OK);
    ck_assert_int_eq(lg_producer_begin_transaction(old), LG_OK);
    /* Registered with the coordinator, records still lingering. */
    produce(old, 0, 1);
    ck_assert_int_eq(lg_producer_flush(old, -1), LG_OK);
    lg_producer_t *young = lgt_txn_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_init_transactions(young), LG_OK);
    /* Partition 0 was registered already, so the producer does not ask
     * the coordinator again: the partition refuses the old epoch. */
    produce(old, 0, 1);
    ck_assert_int_eq(lg_producer_commit_transaction(old, -1),
                     LG_ERR_PRODUCER_FENCED);
    scan_t s;
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 1);
    ck_assert_int_eq(s.aborts, 1);
    lg_producer_destroy(old);
    lg_producer_destroy(young);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(offsets_are_committed_only_with_the_transaction) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    ck_assert_int_eq(lg_topic_partition_list_add(offsets, "in", 0, 7),
                     LG_OK);

    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 1);
    ck_assert_int_eq(lg_producer_send_offsets_to_transaction(p, offsets, "g"),
                     LG_OK);
    ck_assert_int_eq(lg_producer_send_offsets_to_transaction(p, offsets, "h"),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_producer_abort_transaction(p, -1), LG_OK);
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0),
                     LG_OFFSET_INVALID);

    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 1);
    ck_assert_int_eq(lg_topic_partition_list_set_offset(offsets, 0, 9),
                     LG_OK);
    ck_assert_int_eq(lg_producer_send_offsets_to_transaction(p, offsets, "g"),
                     LG_OK);
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0),
                     LG_OFFSET_INVALID);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_OK);
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0), 9);

    /* Offsets alone make a transaction too. */
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_set_offset(offsets, 0, 11),
                     LG_OK);
    ck_assert_int_eq(lg_producer_send_offsets_to_transaction(p, offsets, "g"),
                     LG_OK);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_OK);
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0), 11);
    lg_topic_partition_list_destroy(offsets);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    engine = open_engine();
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0), 11);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(epoch_survives_restart) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    int64_t pid = -1, pid2 = -1;
    int16_t epoch = -1, epoch2 = -1;
    txn_state(engine, "tx", &pid, &epoch);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = open_engine();
    ck_assert_int_eq(txn_state(engine, "tx", &pid2, &epoch2),
                     LGI_TXN_EMPTY);
    ck_assert_int_eq(pid2, pid);
    ck_assert_int_eq(epoch2, epoch);
    p = ready_producer(engine, "tx", NULL);
    txn_state(engine, "tx", &pid2, &epoch2);
    ck_assert_int_eq(pid2, pid);
    ck_assert_int_eq(epoch2, epoch + 1);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(abandoned_transaction_times_out) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", "200");
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 1, 2);
    ck_assert_int_eq(lg_producer_flush(p, -1), LG_OK);
    for (int i = 0; i < 200 && txn_state(engine, "tx", NULL, NULL) !=
                                   LGI_TXN_COMPLETE_ABORT;
         i++)
        usleep(20000);
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_COMPLETE_ABORT);
    scan_t s;
    scan(engine, 1, &s);
    ck_assert_int_eq(s.aborts, 1);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1),
                     LG_ERR_PRODUCER_FENCED);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* In a child: a transaction over t-0, t-1 and offsets of group "g",
 * committed with the coordinator's crash point set (never returns when
 * crash_point is set), or left open (crash_point 0). */
static void child_transaction(int crash_point) {
    lg_engine_t *engine = NULL;
    if (lg_engine_open(dir, NULL, &engine) != LG_OK)
        _exit(10);
    if (lg_topic_create(engine, "t", 2, NULL) != LG_OK ||
        lg_topic_create(engine, "in", 1, NULL) != LG_OK)
        _exit(11);
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "transactional.id", "tx");
    lg_producer_t *p = NULL;
    if (lg_producer_new(engine, conf, &p) != LG_OK ||
        lg_producer_init_transactions(p) != LG_OK ||
        lg_producer_begin_transaction(p) != LG_OK)
        _exit(12);
    for (int i = 0; i < 4; i++)
        if (lg_produce(p, "t", i % 2, "k", 1, "v", 1, LG_TIMESTAMP_NOW,
                       NULL) != LG_OK)
            _exit(13);
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    lg_topic_partition_list_add(offsets, "in", 0, 42);
    if (lg_producer_send_offsets_to_transaction(p, offsets, "g") != LG_OK)
        _exit(14);
    if (crash_point == 0) {
        if (lg_producer_flush(p, -1) != LG_OK)
            _exit(15);
        _exit(0);
    }
    lgi_txn_crash_point = crash_point;
    lg_producer_commit_transaction(p, -1);
    _exit(16); /* the crash point did not fire */
}

static void run_child(int crash_point) {
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        child_transaction(crash_point);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* Both partitions of "t" hold a transaction's two records, committed:
 * the last marker is a COMMIT and there is no ABORT. */
static void check_committed_on_both(lg_engine_t *engine) {
    for (int32_t partition = 0; partition < 2; partition++) {
        scan_t s;
        scan(engine, partition, &s);
        ck_assert_int_eq(s.data_records, 2);
        ck_assert_int_ge(s.commits, 1);
        ck_assert_int_eq(s.aborts, 0);
        ck_assert_int_eq(s.last_marker, 1);
    }
}

static void check_recovered_commit(void) {
    lg_engine_t *engine = open_engine();
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_COMPLETE_COMMIT);
    check_committed_on_both(engine);
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0), 42);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    /* Nothing left to do at the next open. */
    engine = open_engine();
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_COMPLETE_COMMIT);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}

START_TEST(crash_after_prepare_commit_is_completed_at_open) {
    run_child(1);
    check_recovered_commit();
}
END_TEST

START_TEST(crash_after_markers_is_completed_at_open) {
    run_child(2);
    check_recovered_commit();
}
END_TEST

START_TEST(open_transaction_of_a_crashed_process_is_aborted_by_its_successor) {
    run_child(0);
    lg_engine_t *engine = open_engine();
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL), LGI_TXN_ONGOING);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "transactional.id", "tx"), LG_OK);
    lg_producer_t *p = NULL;
    ck_assert_int_eq(lg_producer_new(engine, conf, &p), LG_OK);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_producer_init_transactions(p), LG_OK);
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL), LGI_TXN_EMPTY);
    for (int32_t partition = 0; partition < 2; partition++) {
        scan_t s;
        scan(engine, partition, &s);
        ck_assert_int_eq(s.data_records, 2);
        ck_assert_int_eq(s.aborts, 1);
        ck_assert_int_eq(s.commits, 0);
    }
    ck_assert_int_eq(lgi_group_committed(engine, "g", "in", 0),
                     LG_OFFSET_INVALID);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST


static int64_t lso(lg_engine_t *engine, int32_t partition) {
    return lgt_lso(engine, "t", partition);
}

static int64_t high(lg_engine_t *engine, int32_t partition) {
    return lgt_high(engine, "t", partition);
}

START_TEST(lso_stops_at_the_oldest_open_transaction) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    ck_assert_int_eq(lso(engine, 0), 0);
    lg_producer_t *a = lgt_txn_producer(engine, "a", NULL);
    lg_producer_t *b = lgt_txn_producer(engine, "b", NULL);
    ck_assert_int_eq(lg_producer_init_transactions(a), LG_OK);
    ck_assert_int_eq(lg_producer_init_transactions(b), LG_OK);
    ck_assert_int_eq(lg_producer_begin_transaction(a), LG_OK);
    produce(a, 0, 3); /* offsets 0..2 */
    ck_assert_int_eq(lg_producer_flush(a, -1), LG_OK);
    ck_assert_int_eq(high(engine, 0), 3);
    ck_assert_int_eq(lso(engine, 0), 0);
    ck_assert_int_eq(lso(engine, 1), 0);
    ck_assert_int_eq(lg_producer_begin_transaction(b), LG_OK);
    produce(b, 0, 2); /* offsets 3..4 */
    ck_assert_int_eq(lg_producer_flush(b, -1), LG_OK);
    ck_assert_int_eq(lso(engine, 0), 0);
    ck_assert_int_eq(lg_producer_commit_transaction(a, -1), LG_OK); /* 5 */
    ck_assert_int_eq(lso(engine, 0), 3);
    ck_assert_int_eq(lg_producer_abort_transaction(b, -1), LG_OK); /* 6 */
    ck_assert_int_eq(high(engine, 0), 7);
    ck_assert_int_eq(lso(engine, 0), 7);
    /* Non-transactional records do not hold it back. */
    lg_producer_t *plain = NULL;
    ck_assert_int_eq(lg_producer_new(engine, NULL, &plain), LG_OK);
    ck_assert_int_eq(lg_produce(plain, "t", 0, "k", 1, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_producer_flush(plain, -1), LG_OK);
    ck_assert_int_eq(lso(engine, 0), 8);
    int64_t value;
    ck_assert_int_eq(lg_watermarks_lso(engine, "t", 0, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_watermarks_lso(engine, "t", 9, &value),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_watermarks_lso(engine, "nope", 0, &value),
                     LG_ERR_UNKNOWN_TOPIC);
    lg_producer_destroy(plain);
    lg_producer_destroy(a);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

static void remove_snapshots(const char *partition_dir) {
    char *path = lgt_path(dir, partition_dir);
    char command[1024];
    snprintf(command, sizeof command, "ls %s/*.snapshot >/dev/null 2>&1",
             path);
    ck_assert_int_eq(system(command), 0); /* there was one */
    snprintf(command, sizeof command, "rm -f %s/*.snapshot", path);
    ck_assert_int_eq(system(command), 0);
    free(path);
}

/* An open transaction's LSO survives a clean restart through the
 * snapshot (rebuild_from_log 0) or from the log alone (1). */
static void lso_survives_restart(int rebuild_from_log) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *plain = NULL;
    ck_assert_int_eq(lg_producer_new(engine, NULL, &plain), LG_OK);
    ck_assert_int_eq(lg_produce(plain, "t", 0, "k", 1, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_producer_flush(plain, -1), LG_OK);
    lg_producer_destroy(plain);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 2); /* offsets 1..2 */
    ck_assert_int_eq(lg_producer_flush(p, -1), LG_OK);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    if (rebuild_from_log)
        remove_snapshots("t-0");
    engine = open_engine();
    ck_assert_int_eq(high(engine, 0), 3);
    ck_assert_int_eq(lso(engine, 0), 1);
    /* Its successor aborts it. */
    p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lso(engine, 0), 4);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}

START_TEST(lso_survives_restart_through_the_snapshot) {
    lso_survives_restart(0);
}
END_TEST

START_TEST(lso_survives_restart_rebuilt_from_the_log) {
    lso_survives_restart(1);
}
END_TEST

START_TEST(lso_after_a_crash_with_an_open_transaction) {
    run_child(0);
    lg_engine_t *engine = open_engine();
    ck_assert_int_eq(high(engine, 0), 2);
    ck_assert_int_eq(lso(engine, 0), 0);
    ck_assert_int_eq(lso(engine, 1), 0);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lso(engine, 0), 3);
    ck_assert_int_eq(lso(engine, 1), 3);
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* A transactional batch header of producer 7. */
static lgi_batch_header_t txn_header(int64_t base, int count, int control) {
    lgi_batch_header_t h;
    memset(&h, 0, sizeof h);
    h.base_offset = base;
    h.last_offset_delta = count - 1;
    h.record_count = count;
    h.producer_id = 7;
    h.producer_epoch = 0;
    h.base_sequence = control ? -1 : (int32_t)base;
    h.attributes = LGI_ATTR_TRANSACTIONAL | (control ? LGI_ATTR_CONTROL : 0);
    return h;
}

START_TEST(producer_state_tracks_open_transactions_through_rollback) {
    lgi_producer_state_t *state = lgi_producer_state_new();
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 100), -1);
    lgi_batch_header_t h = txn_header(10, 2, 0);
    ck_assert_int_eq(lgi_producer_state_update(state, &h, 0, 1), LG_OK);
    h = txn_header(12, 3, 0);
    ck_assert_int_eq(lgi_producer_state_update(state, &h, 0, 1), LG_OK);
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 100), 10);
    h = txn_header(15, 1, 1); /* marker */
    ck_assert_int_eq(lgi_producer_state_update(state, &h, 0, 1), LG_OK);
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 100), -1);
    /* Closed, but while the marker is not readable the transaction is not
     * decided for readers (Kafka's unreplicated transactions). */
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 15), 10);
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 16), -1);
    /* The marker rolled back: the transaction is open again. */
    lgi_producer_state_truncate(state, 15);
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 100), 10);
    /* ... and once its data went too, nothing is open. */
    lgi_producer_state_truncate(state, 10);
    ck_assert_int_eq(lgi_producer_state_first_unstable(state, 100), -1);
    /* Snapshots keep it (CurrentTxnFirstOffset). */
    h = txn_header(10, 2, 0);
    ck_assert_int_eq(lgi_producer_state_update(state, &h, 0, 1), LG_OK);
    char *snapdir = lgt_path(dir, "snap");
    ck_assert_int_eq(mkdir(snapdir, 0700), 0);
    ck_assert_int_eq(lgi_producer_state_write_snapshot(state, snapdir, 12),
                     LG_OK);
    lgi_producer_state_t *loaded = lgi_producer_state_new();
    int64_t at;
    ck_assert_int_eq(lgi_producer_state_load_latest(loaded, snapdir, 12,
                                                    &at),
                     LG_OK);
    ck_assert_int_eq(at, 12);
    ck_assert_int_eq(lgi_producer_state_first_unstable(loaded, 100), 10);
    /* An open transaction keeps its producer from expiring. */
    lgi_producer_state_expire(loaded, INT64_MAX);
    ck_assert_int_eq(lgi_producer_state_count(loaded), 1);
    lgi_producer_state_free(loaded);
    lgi_producer_state_free(state);
    free(snapdir);
}
END_TEST


/* ------------------------------------------------------------------------
 * Exactly once under kills: a consume-transform-produce loop (input "in",
 * output "t" partition 0, offsets of group "eos" sent with each
 * transaction) is SIGKILLed at random points and restarted until it has
 * processed everything; the committed output must then hold every input
 * value exactly once.
 * --------------------------------------------------------------------- */

#define EOS_RECORDS 300

static void eos_worker(void) {
    lg_engine_t *engine = NULL;
    if (lg_engine_open(dir, NULL, &engine) != LG_OK)
        _exit(20);
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "transactional.id", "eos-tx");
    lg_conf_set(conf, "linger.ms", "0");
    lg_producer_t *p = NULL;
    if (lg_producer_new(engine, conf, &p) != LG_OK ||
        lg_producer_init_transactions(p) != LG_OK)
        _exit(21);
    lg_conf_destroy(conf);
    lg_consumer_t *c = NULL;
    if (lg_consumer_new(engine, NULL, &c) != LG_OK)
        _exit(22);
    int64_t next = lgi_group_committed(engine, "eos", "in", 0);
    if (next < 0)
        next = 0;
    if (lg_consumer_assign(c, "in", 0, next) != LG_OK)
        _exit(23);
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    lg_topic_partition_list_add(offsets, "in", 0, next);
    while (next < EOS_RECORDS) {
        if (lg_producer_begin_transaction(p) != LG_OK)
            _exit(24);
        for (int i = 0; i < 7 && next < EOS_RECORDS; i++) {
            const lg_message_t *m = NULL;
            if (lg_consumer_poll(c, 100, &m) != LG_OK || !m ||
                lg_message_error(m) != LG_OK)
                continue;
            size_t len;
            const void *value = lg_message_value(m, &len);
            if (lg_produce(p, "t", 0, NULL, 0, value, len, LG_TIMESTAMP_NOW,
                           NULL) != LG_OK)
                _exit(25);
            next = lg_message_offset(m) + 1;
        }
        lg_topic_partition_list_set_offset(offsets, 0, next);
        if (lg_producer_send_offsets_to_transaction(p, offsets, "eos") !=
                LG_OK ||
            lg_producer_commit_transaction(p, -1) != LG_OK)
            _exit(26);
    }
    _exit(0);
}

/* What eos_worker's committed output holds: data batches of a producer
 * count once its commit marker follows; aborted and still open ones do
 * not. */
typedef struct eos_output {
    int seen[EOS_RECORDS]; /* times each input value is committed */
    int pending[EOS_RECORDS * 2], pending_count; /* since the last marker */
    int64_t pending_pid;
} eos_output_t;

static void eos_output_record(void *opaque, const lgi_record_t *record) {
    eos_output_t *out = opaque;
    char text[16] = {0};
    memcpy(text, record->value, record->value_len < 15 ? record->value_len
                                                        : 15);
    int v = atoi(text);
    ck_assert(v >= 0 && v < EOS_RECORDS);
    ck_assert_int_lt(out->pending_count, EOS_RECORDS * 2);
    out->pending[out->pending_count++] = v;
}

static void eos_output_batch(void *opaque, const uint8_t *batch,
                             const lgi_batch_header_t *h) {
    eos_output_t *out = opaque;
    ck_assert(h->attributes & LGI_ATTR_TRANSACTIONAL);
    /* One transactional producer id at a time (epochs change). */
    if (out->pending_pid >= 0)
        ck_assert_int_eq(h->producer_id, out->pending_pid);
    out->pending_pid = h->producer_id;
    if (!(h->attributes & LGI_ATTR_CONTROL)) {
        lgt_each_record(batch, h, eos_output_record, out);
        return;
    }
    lgi_record_iter_t iter;
    lgi_buf_t scratch = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_record_iter_init(&iter, batch, h, &scratch), LG_OK);
    lgi_record_t record;
    int fin;
    ck_assert_int_eq(lgi_record_iter_next(&iter, &record, &fin), LG_OK);
    if (((const uint8_t *)record.key)[3] == 1)
        for (int i = 0; i < out->pending_count; i++)
            out->seen[out->pending[i]]++;
    out->pending_count = 0;
    lgi_buf_free(&scratch);
}

START_TEST(consume_transform_produce_is_exactly_once_under_kills) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < EOS_RECORDS; i++) {
        char value[16];
        int n = snprintf(value, sizeof value, "%d", i);
        ck_assert_int_eq(lg_records_add(records, NULL, 0, value, (size_t)n,
                                        LG_TIMESTAMP_NOW),
                         LG_OK);
    }
    ck_assert_int_eq(lg_append(engine, "in", 0, records, LG_ACKS_ALL, NULL),
                     LG_OK);
    lg_records_destroy(records);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    srand(6);
    int kills = 0, finished = 0;
    for (int round = 0; !finished && round < 200; round++) {
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0)
            eos_worker();
        int killed;
        int status = lgt_wait_or_kill(child, kills < 12 ? rand() % 40000 : -1,
                                      &killed);
        kills += killed;
        if (WIFEXITED(status)) {
            ck_assert_int_eq(WEXITSTATUS(status), 0);
            finished = 1;
        }
    }
    ck_assert(finished);

    /* Committed output: data batches of a producer count once its commit
     * marker follows; aborted and still open ones do not. */
    engine = open_engine();
    static eos_output_t out;
    memset(&out, 0, sizeof out);
    out.pending_pid = -1;
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    int64_t end;
    lgi_partition_watermarks(ref.partition, NULL, &end);
    lgt_each_batch(ref.partition, 0, eos_output_batch, &out);
    lgi_engine_release(engine, &ref);
    for (int i = 0; i < EOS_RECORDS; i++)
        ck_assert_msg(out.seen[i] == 1, "input %d is in the committed output "
                      "%d times (%d kills)", i, out.seen[i], kills);
    /* A read_committed consumer (the default isolation.level) sees
     * exactly that: every input once, nothing aborted. */
    int read[EOS_RECORDS] = {0};
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "isolation.level", "read_committed"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "enable.partition.eof", "true"),
                     LG_OK);
    lg_consumer_t *reader = NULL;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &reader), LG_OK);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_consumer_assign(reader, "t", 0, 0), LG_OK);
    for (;;) {
        const lg_message_t *m = NULL;
        ck_assert_int_eq(lg_consumer_poll(reader, 5000, &m), LG_OK);
        ck_assert_ptr_nonnull(m);
        if (lg_message_error(m) == LG_ERR_PARTITION_EOF)
            break;
        ck_assert_int_eq(lg_message_error(m), LG_OK);
        size_t len;
        const char *value = lg_message_value(m, &len);
        char text[16] = {0};
        memcpy(text, value, len < 15 ? len : 15);
        int v = atoi(text);
        ck_assert(v >= 0 && v < EOS_RECORDS);
        read[v]++;
    }
    lg_consumer_destroy(reader);
    for (int i = 0; i < EOS_RECORDS; i++)
        ck_assert_msg(read[i] == 1, "input %d read %d times by a "
                      "read_committed consumer", i, read[i]);
    ck_assert_int_eq(lgi_group_committed(engine, "eos", "in", 0),
                     EOS_RECORDS);
    ck_assert_int_eq(lso(engine, 0), end);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* ------------------------------------------------------------------------
 * Registrations are durable before data: the partitions a transaction
 * touches are recorded in __transaction_state with one fdatasync, which
 * the producer's sender issues before handing off the transaction's data.
 * A child begins a transaction, writes a record to both partitions of "t",
 * flushes (the data is fdatasync'd) and is SIGKILLed; the power-loss
 * replay then undoes every write not fdatasync'd.  The successor must
 * still find both partitions in the open transaction and abort it there,
 * or their LSO would stay stuck behind data nobody can close.
 * --------------------------------------------------------------------- */

static void power_loss_child(const char *journal, int ready_fd) {
    if (lgt_faultio_journal_start(journal) != 0)
        _exit(30);
    lg_engine_t *engine = NULL;
    if (lg_engine_open(dir, NULL, &engine) != LG_OK)
        _exit(31);
    lgi_io_set_fault(engine->io, lgt_faultio_hook, NULL);
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "transactional.id", "pl");
    lg_producer_t *p = NULL;
    if (lg_producer_new(engine, conf, &p) != LG_OK ||
        lg_producer_init_transactions(p) != LG_OK ||
        lg_producer_begin_transaction(p) != LG_OK)
        _exit(32);
    lg_conf_destroy(conf);
    for (int32_t partition = 0; partition < 2; partition++)
        if (lg_produce(p, "t", partition, "k", 1, "v", 1, LG_TIMESTAMP_NOW,
                       NULL) != LG_OK)
            _exit(33);
    if (lg_producer_flush(p, -1) != LG_OK)
        _exit(34);
    if (write(ready_fd, "x", 1) != 1)
        _exit(35);
    for (;;)
        pause(); /* until SIGKILL */
}

START_TEST(registrations_survive_power_loss_before_the_data) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    char *journal_dir = lgt_tmpdir("txn-journal");
    char *journal = lgt_path(journal_dir, "journal");
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        close(fds[0]);
        power_loss_child(journal, fds[1]);
    }
    close(fds[1]);
    char byte;
    ck_assert_int_eq(read(fds[0], &byte, 1), 1);
    close(fds[0]);
    ck_assert_int_eq(kill(child, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_ge(lgt_faultio_power_loss(journal, 6), 0);

    engine = open_engine();
    for (int32_t partition = 0; partition < 2; partition++) {
        scan_t s;
        scan(engine, partition, &s);
        ck_assert_int_eq(s.data_records, 1); /* it was fdatasync'd */
        ck_assert_int_eq(lso(engine, partition), 0);
    }
    ck_assert_int_eq(txn_state(engine, "pl", NULL, NULL), LGI_TXN_ONGOING);
    lg_producer_t *p = ready_producer(engine, "pl", NULL);
    for (int32_t partition = 0; partition < 2; partition++) {
        scan_t s;
        scan(engine, partition, &s);
        ck_assert_int_eq(s.aborts, 1);
        ck_assert_int_eq(lso(engine, partition), high(engine, partition));
    }
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lgt_rmrf(journal_dir);
    free(journal);
    free(journal_dir);
}
END_TEST

/* From now on engine's fdatasync number at (0: the next one) fails with
 * EIO, once; plan (static: the I/O threads read it) counts what fired. */
static void fail_fdatasync(lg_engine_t *engine, lgt_fault_plan_t *plan,
                           long at) {
    memset(plan, 0, sizeof *plan);
    plan->stage = LGI_IO_FAULT_FSYNC;
    plan->at = at;
    plan->result = -EIO;
    lgi_io_set_fault(engine->io, lgt_faultio_inject_hook, plan);
}

/* The sync of the registrations fails (EIO on that fdatasync): the
 * transaction's data must not be written at all, and commit must say the
 * transaction can only be aborted. */
START_TEST(a_registration_that_cannot_be_synced_fails_the_transaction) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    /* From here the first fdatasync is the sender's lgi_txn_sync: the
     * registration is written without one, and nothing else is synced
     * before the data, which waits for it. */
    static lgt_fault_plan_t plan;
    fail_fdatasync(engine, &plan, 0);
    produce(p, 0, 3);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1),
                     LG_ERR_TXN_ABORTABLE);
    ck_assert_int_eq(atomic_load(&plan.fired), 1);
    scan_t s;
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 0);
    ck_assert_int_eq(high(engine, 0), 0);
    /* __transaction_state is fenced now (a failed fdatasync proves
     * nothing on retry), so the abort cannot be recorded either. */
    ck_assert_int_ne(lg_producer_abort_transaction(p, -1), LG_OK);
    lg_producer_destroy(p);
    lgi_io_set_fault(engine->io, NULL, NULL);
    lg_engine_close(engine);
    /* After a reopen the successor finishes the job: nothing of the
     * transaction is visible, nothing stays open. */
    engine = open_engine();
    p = ready_producer(engine, "tx", NULL);
    scan(engine, 0, &s);
    ck_assert_int_eq(s.data_records, 0);
    ck_assert_int_eq(lso(engine, 0), high(engine, 0));
    lg_producer_destroy(p);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* A marker's fdatasync fails (the markers of one commit are appended
 * concurrently): commit reports it, and since PrepareCommit was durable
 * the outcome stands -- the next open writes the markers. */
START_TEST(a_failed_marker_fails_commit_and_open_completes_it) {
    lg_engine_t *engine = open_engine();
    create_topics(engine);
    lg_producer_t *p = ready_producer(engine, "tx", NULL);
    ck_assert_int_eq(lg_producer_begin_transaction(p), LG_OK);
    produce(p, 0, 2);
    produce(p, 1, 2);
    ck_assert_int_eq(lg_producer_flush(p, -1), LG_OK);
    /* fdatasync 0 is PrepareCommit's, 1 the first marker's. */
    static lgt_fault_plan_t plan;
    fail_fdatasync(engine, &plan, 1);
    ck_assert_int_eq(lg_producer_commit_transaction(p, -1), LG_ERR_IO);
    ck_assert_int_eq(atomic_load(&plan.fired), 1);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(),
                                 "commit marker of transactional.id \"tx\" "
                                 "to t ["));
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_PREPARE_COMMIT);
    lg_producer_destroy(p);
    lgi_io_set_fault(engine->io, NULL, NULL);
    lg_engine_close(engine);
    engine = open_engine();
    ck_assert_int_eq(txn_state(engine, "tx", NULL, NULL),
                     LGI_TXN_COMPLETE_COMMIT);
    check_committed_on_both(engine);
    for (int32_t partition = 0; partition < 2; partition++)
        ck_assert_int_eq(lso(engine, partition), high(engine, partition));
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

static Suite *txn_suite(void) {
    Suite *suite = suite_create("txn");
    TCase *tc = tcase_create("txn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, commit_writes_a_marker_to_every_partition_touched);
    tcase_add_test(tc, abort_writes_abort_markers_and_the_producer_goes_on);
    tcase_add_test(tc, calls_out_of_order_are_refused);
    tcase_add_test(tc,
                   a_new_producer_fences_the_old_one_and_aborts_its_transaction);
    tcase_add_test(tc, an_old_epoch_is_fenced_in_the_partition_too);
    tcase_add_test(tc, offsets_are_committed_only_with_the_transaction);
    tcase_add_test(tc, epoch_survives_restart);
    tcase_add_test(tc, abandoned_transaction_times_out);
    tcase_add_test(tc, crash_after_prepare_commit_is_completed_at_open);
    tcase_add_test(tc, crash_after_markers_is_completed_at_open);
    tcase_add_test(
        tc, open_transaction_of_a_crashed_process_is_aborted_by_its_successor);
    tcase_add_test(tc, lso_stops_at_the_oldest_open_transaction);
    tcase_add_test(tc, lso_survives_restart_through_the_snapshot);
    tcase_add_test(tc, lso_survives_restart_rebuilt_from_the_log);
    tcase_add_test(tc, lso_after_a_crash_with_an_open_transaction);
    tcase_add_test(tc, producer_state_tracks_open_transactions_through_rollback);
    tcase_add_test(tc, consume_transform_produce_is_exactly_once_under_kills);
    tcase_add_test(tc, registrations_survive_power_loss_before_the_data);
    tcase_add_test(tc, a_registration_that_cannot_be_synced_fails_the_transaction);
    tcase_add_test(tc, a_failed_marker_fails_commit_and_open_completes_it);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(txn_suite()); }
