/*
 * test_isolation.c -- isolation.level and the aborted-transaction index:
 * read_committed consumers stop at the last stable offset and never see
 * aborted data (interleaved committed, aborted and open transactions over
 * several partitions and small segments), read_uncommitted ones see every
 * record and no markers; the blocking poll wakes when a commit moves the
 * LSO; seek, timestamps and group commits stay below the LSO; .txnindex
 * files hold Kafka's 34-byte entries, survive reopen, are rebuilt when
 * deleted, corrupt or after a torn tail, and go with their segment.
 */
#include "cleaner.h"
#include "consumer.h"
#include "engine.h"
#include "endian.h"
#include "logtest.h"
#include "segment.h"
#include "txnindex.h"

#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = lgt_tmpdir("isolation"); }

static void teardown(void) {
    lgt_rmrf(dir);
    free(dir);
}

static lg_engine_t *open_engine(void) { return lgt_engine_open(dir); }

/* Topic "t" with partitions partitions and tiny segments, so the
 * transactions below span several. */
static void create_topic(lg_engine_t *engine, int partitions) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "300"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", partitions, conf), LG_OK);
    lg_conf_destroy(conf);
}

/* A transactional producer with its transactions initialized. */
static lg_producer_t *txn_producer(lg_engine_t *engine, const char *id) {
    lg_producer_t *producer = lgt_txn_producer(engine, id, NULL);
    ck_assert_int_eq(lg_producer_init_transactions(producer), LG_OK);
    return producer;
}

/* Produces value to partition and waits until it is in the log. */
static void send(lg_producer_t *producer, int32_t partition,
                 const char *value) {
    ck_assert_int_eq(lg_produce(producer, "t", partition, "k", 1, value,
                                strlen(value), LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
}

static void plain(lg_engine_t *engine, int32_t partition, const char *value) {
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, "k", 1, value, strlen(value),
                                    LG_TIMESTAMP_NOW),
                     LG_OK);
    ck_assert_int_eq(lg_append(engine, "t", partition, records, LG_ACKS_LEADER,
                               NULL),
                     LG_OK);
    lg_records_destroy(records);
}

static lg_consumer_t *consumer_with(lg_engine_t *engine, const char *level,
                                    const char *group) {
    lg_conf_t *conf = lg_conf_new();
    if (level)
        ck_assert_int_eq(lg_conf_set(conf, "isolation.level", level), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "enable.partition.eof", "true"),
                     LG_OK);
    if (group)
        ck_assert_int_eq(lg_conf_set(conf, "group.id", group), LG_OK);
    lg_consumer_t *consumer = NULL;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer), LG_OK);
    lg_conf_destroy(conf);
    return consumer;
}

/* Polls until every assigned partition (of count) reported EOF; appends
 * "p:value " of each record to out. */
static void drain(lg_consumer_t *consumer, int partitions, char *out,
                  size_t size) {
    int eof = 0;
    out[0] = '\0';
    for (int rounds = 0; eof < partitions; rounds++) {
        ck_assert_int_lt(rounds, 10000);
        const lg_message_t *m = NULL;
        ck_assert_int_eq(lg_consumer_poll(consumer, 1000, &m), LG_OK);
        ck_assert_ptr_nonnull(m);
        if (lg_message_error(m) == LG_ERR_PARTITION_EOF) {
            eof++;
            continue;
        }
        ck_assert_int_eq(lg_message_error(m), LG_OK);
        size_t len;
        const char *value = lg_message_value(m, &len);
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%d:%.*s ",
                 (int)lg_message_partition(m), (int)len, value);
    }
}

static size_t segments(lg_engine_t *engine, int32_t partition) {
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", partition, &ref), LG_OK);
    size_t count = lgi_partition_segment_count(ref.partition);
    lgi_engine_release(engine, &ref);
    return count;
}

static int64_t lso(lg_engine_t *engine, int32_t partition) {
    return lgt_lso(engine, "t", partition);
}

static int64_t high(lg_engine_t *engine, int32_t partition) {
    return lgt_high(engine, "t", partition);
}

/* The scenario most tests share, on 3 partitions of tiny segments:
 *   plain "x0" to p0, p1, p2
 *   A: a1 -> p0, p1, p2; commit
 *   B: b1 -> p0, p1 (several); abort
 *   B: b2 -> p0; A: a2 -> p0, p2; A commits (B still open on p0)
 * Returns the producer B with its transaction open. */
static lg_producer_t *scenario(lg_engine_t *engine, lg_producer_t **ap) {
    lg_producer_t *a = txn_producer(engine, "A");
    lg_producer_t *b = txn_producer(engine, "B");
    for (int32_t p = 0; p < 3; p++)
        plain(engine, p, "x0");
    ck_assert_int_eq(lg_producer_begin_transaction(a), LG_OK);
    for (int32_t p = 0; p < 3; p++)
        send(a, p, "a1");
    ck_assert_int_eq(lg_producer_commit_transaction(a, -1), LG_OK);
    ck_assert_int_eq(lg_producer_begin_transaction(b), LG_OK);
    for (int i = 0; i < 4; i++) {
        send(b, 0, "b1");
        send(b, 1, "b1");
    }
    ck_assert_int_eq(lg_producer_abort_transaction(b, -1), LG_OK);
    ck_assert_int_eq(lg_producer_begin_transaction(b), LG_OK);
    send(b, 0, "b2");
    ck_assert_int_eq(lg_producer_begin_transaction(a), LG_OK);
    send(a, 0, "a2");
    send(a, 2, "a2");
    ck_assert_int_eq(lg_producer_commit_transaction(a, -1), LG_OK);
    *ap = a;
    return b;
}

static void assign_all(lg_consumer_t *consumer, int partitions) {
    for (int32_t p = 0; p < partitions; p++)
        ck_assert_int_eq(lg_consumer_assign(consumer, "t", p,
                                            LG_OFFSET_BEGINNING),
                         LG_OK);
}

/* Sorted per partition: the consumer visits partitions round-robin, so
 * compare the records of each partition in order. */
static void per_partition(const char *all, int32_t partition, char *out,
                          size_t size) {
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%d:", (int)partition);
    out[0] = '\0';
    for (const char *p = all; *p;) {
        const char *space = strchr(p, ' ');
        size_t len = space ? (size_t)(space - p) + 1 : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            size_t used = strlen(out);
            snprintf(out + used, size - used, "%.*s", (int)len, p);
        }
        p += len;
    }
}

static void expect(const char *all, int32_t partition, const char *want) {
    char got[4096];
    per_partition(all, partition, got, sizeof got);
    ck_assert_str_eq(got, want);
}

START_TEST(read_committed_stops_at_the_lso_and_skips_aborted_data) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    lg_producer_t *a, *b = scenario(engine, &a);
    ck_assert_int_gt(segments(engine, 0), 2);

    char all[8192];
    lg_consumer_t *committed = consumer_with(engine, NULL, NULL); /* default */
    assign_all(committed, 3);
    drain(committed, 3, all, sizeof all);
    expect(all, 0, "0:x0 0:a1 ");        /* b2 open: a2 waits behind it */
    expect(all, 1, "1:x0 1:a1 ");
    expect(all, 2, "2:x0 2:a1 2:a2 ");
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(committed, "t", 0, &position),
                     LG_OK);
    ck_assert_int_eq(position, lso(engine, 0));
    ck_assert_int_lt(lso(engine, 0), high(engine, 0));

    lg_consumer_t *uncommitted =
        consumer_with(engine, "read_uncommitted", NULL);
    assign_all(uncommitted, 3);
    drain(uncommitted, 3, all, sizeof all);
    expect(all, 0, "0:x0 0:a1 0:b1 0:b1 0:b1 0:b1 0:b2 0:a2 ");
    expect(all, 1, "1:x0 1:a1 1:b1 1:b1 1:b1 1:b1 ");
    expect(all, 2, "2:x0 2:a1 2:a2 ");

    /* B commits: the LSO passes b2 and a2. */
    ck_assert_int_eq(lg_producer_commit_transaction(b, -1), LG_OK);
    ck_assert_int_eq(lso(engine, 0), high(engine, 0));
    drain(committed, 1, all, sizeof all); /* only p0 reaches a new end */
    expect(all, 0, "0:b2 0:a2 ");
    expect(all, 1, "");
    expect(all, 2, "");

    lg_consumer_destroy(committed);
    lg_consumer_destroy(uncommitted);
    lg_producer_destroy(a);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* A consumer positioned inside an aborted transaction (its first batches
 * are before the fetch) still skips the rest of it; poll_batch gives the
 * same records as poll. */
START_TEST(a_position_inside_an_aborted_transaction_skips_the_rest) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    lg_producer_t *a, *b = scenario(engine, &a);
    ck_assert_int_eq(lg_producer_commit_transaction(b, -1), LG_OK);
    /* p0: x0 @0, a1 @1, marker @2, b1 @3..6, abort @7, b2 @8, a2 @9 ... */
    lg_consumer_t *consumer = consumer_with(engine, "read_committed", NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 5), LG_OK);
    const lg_message_t *messages[16];
    size_t count = 0, total = 0;
    char got[256] = "";
    for (int rounds = 0; rounds < 100; rounds++) {
        ck_assert_int_eq(lg_consumer_poll_batch(consumer, 100, messages, 16,
                                                &count),
                         LG_OK);
        int eof = 0;
        for (size_t i = 0; i < count; i++) {
            if (lg_message_error(messages[i]) == LG_ERR_PARTITION_EOF) {
                eof = 1;
                continue;
            }
            size_t len;
            const char *value = lg_message_value(messages[i], &len);
            size_t used = strlen(got);
            snprintf(got + used, sizeof got - used, "%.*s@%lld ", (int)len,
                     value, (long long)lg_message_offset(messages[i]));
            total++;
        }
        if (eof)
            break;
    }
    ck_assert_str_eq(got, "b2@8 a2@9 ");
    ck_assert_uint_eq(total, 2);
    lg_consumer_destroy(consumer);
    lg_producer_destroy(a);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

typedef struct committer {
    lg_producer_t *producer;
    int delay_ms;
} committer_t;

static void *commit_later(void *arg) {
    committer_t *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    ck_assert_int_eq(lg_producer_commit_transaction(c->producer, -1), LG_OK);
    return NULL;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A blocked read_committed poll sleeps while only uncommitted records
 * arrive and wakes when the commit moves the LSO. */
START_TEST(blocking_poll_wakes_when_the_commit_moves_the_lso) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 1);
    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    const lg_message_t *m = NULL;
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &m), LG_OK);
    ck_assert_int_eq(lg_message_error(m), LG_ERR_PARTITION_EOF);

    lg_producer_t *producer = txn_producer(engine, "W");
    ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);
    send(producer, 0, "w1");
    send(producer, 0, "w2");
    /* Uncommitted: nothing to return, and a poll waits its full time. */
    int64_t start = now_ms();
    ck_assert_int_eq(lg_consumer_poll(consumer, 150, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_ge(now_ms() - start, 140);

    committer_t c = {producer, 200};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, commit_later, &c), 0);
    start = now_ms();
    ck_assert_int_eq(lg_consumer_poll(consumer, 10000, &m), LG_OK);
    int64_t waited = now_ms() - start;
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(lg_message_error(m), LG_OK);
    ck_assert_int_lt(waited, 5000);
    size_t len;
    ck_assert_int_eq(memcmp(lg_message_value(m, &len), "w1", 2), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(lg_consumer_poll(consumer, 1000, &m), LG_OK);
    ck_assert_int_eq(memcmp(lg_message_value(m, &len), "w2", 2), 0);

    /* The eventfd: readable once committed records wait. */
    ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);
    send(producer, 0, "w3");
    ck_assert_int_eq(lg_producer_commit_transaction(producer, -1), LG_OK);
    struct pollfd fd = {.fd = lg_consumer_eventfd(consumer), .events = POLLIN};
    ck_assert_int_eq(poll(&fd, 1, 5000), 1);
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &m), LG_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(memcmp(lg_message_value(m, &len), "w3", 2), 0);

    lg_consumer_destroy(consumer);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

static int64_t thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A position between the LSO and the log end (sought there while a
 * transaction is open) is a valid place to wait: the poll sleeps -- it
 * does not spin -- and returns the records once the LSO passes it. */
START_TEST(a_position_past_the_lso_waits_without_spinning) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 1);
    lg_producer_t *producer = txn_producer(engine, "W");
    ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);
    send(producer, 0, "w1");
    send(producer, 0, "w2");
    plain(engine, 0, "p1");
    int64_t end = high(engine, 0);
    ck_assert_int_eq(lso(engine, 0), 0);
    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, end - 1), LG_OK);
    const lg_message_t *m = NULL;
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &m), LG_OK);
    ck_assert_int_eq(lg_message_error(m), LG_ERR_PARTITION_EOF);
    ck_assert_int_eq(lg_message_offset(m), end - 1);
    int64_t cpu = thread_cpu_ms(), start = now_ms();
    ck_assert_int_eq(lg_consumer_poll(consumer, 400, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_ge(now_ms() - start, 390);
    ck_assert_int_lt(thread_cpu_ms() - cpu, 100);
    struct pollfd fd = {.fd = lg_consumer_eventfd(consumer), .events = POLLIN};
    ck_assert_int_eq(poll(&fd, 1, 0), 0);
    ck_assert_int_eq(lg_producer_commit_transaction(producer, -1), LG_OK);
    ck_assert_int_eq(lg_consumer_poll(consumer, 5000, &m), LG_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(lg_message_error(m), LG_OK);
    size_t len;
    ck_assert_int_eq(memcmp(lg_message_value(m, &len), "p1", 2), 0);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, end);
    lg_consumer_destroy(consumer);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* A read_committed poll that is spinning (poll.spin.us) when uncommitted
 * records arrive gets a notify with nothing to read; it must still be
 * woken by the commit after it has gone to sleep (consumer.c, quiet_arms
 * re-arms it).  The poll's safety slice is off, so a lost wake-up would
 * hang it: the test then gives up after a deadline far beyond any
 * scheduling delay and ends the poll with lg_consumer_wakeup. */
typedef struct spin_poll {
    lg_consumer_t *consumer;
    const lg_message_t *message;
    atomic_int done;
} spin_poll_t;

static void *poll_until_woken(void *arg) {
    spin_poll_t *p = arg;
    ck_assert_int_eq(lg_consumer_poll(p->consumer, -1, &p->message), LG_OK);
    atomic_store(&p->done, 1);
    return NULL;
}

START_TEST(spinning_poll_wakes_for_the_commit_after_uncommitted_records) {
    lgi_consumer_set_wait_slice_ms(-1);
    lg_engine_t *engine = open_engine();
    create_topic(engine, 1);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "poll.spin.us", "100000"), LG_OK);
    spin_poll_t p = {.message = NULL};
    ck_assert_int_eq(lg_consumer_new(engine, conf, &p.consumer), LG_OK);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_consumer_assign(p.consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    lg_producer_t *producer = txn_producer(engine, "S");
    ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);

    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, poll_until_woken, &p), 0);
    usleep(20000);        /* the poll is in its 100 ms spin ... */
    send(producer, 0, "s1"); /* ... when this is published, LSO unmoved */
    usleep(200000);       /* the spin is over: the poll sleeps */
    ck_assert_int_eq(atomic_load(&p.done), 0);
    ck_assert_int_eq(lg_producer_commit_transaction(producer, -1), LG_OK);
    int64_t deadline = now_ms() + 20000;
    while (!atomic_load(&p.done) && now_ms() < deadline)
        usleep(1000);
    int woken = atomic_load(&p.done);
    if (!woken)
        lg_consumer_wakeup(p.consumer);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    lgi_consumer_set_wait_slice_ms(LGI_CONSUMER_WAIT_SLICE_MS);
    ck_assert_msg(woken, "the commit never woke the blocked poll");
    ck_assert_ptr_nonnull(p.message);
    size_t len;
    ck_assert_int_eq(memcmp(lg_message_value(p.message, &len), "s1", 2), 0);

    lg_consumer_destroy(p.consumer);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* LG_OFFSET_END, a timestamp past everything, auto.offset.reset=latest
 * and the group's committed position are the LSO, not the high
 * watermark, for a read_committed consumer. */
START_TEST(seek_timestamps_and_group_commits_stay_below_the_lso) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    lg_producer_t *a, *b = scenario(engine, &a);
    int64_t stable = lso(engine, 0), end = high(engine, 0);
    ck_assert_int_lt(stable, end);

    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    int64_t position;
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 0, LG_OFFSET_END), LG_OK);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, stable);
    ck_assert_int_eq(lg_consumer_seek_timestamp(consumer, "t", 0, INT64_MAX / 2),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, stable);
    /* A position past the log end is reset to the LSO (latest). */
    ck_assert_int_eq(lg_consumer_seek(consumer, "t", 0, end + 100), LG_OK);
    const lg_message_t *m = NULL;
    ck_assert_int_eq(lg_consumer_poll(consumer, 0, &m), LG_OK);
    ck_assert_int_eq(lg_message_error(m), LG_ERR_PARTITION_EOF);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, stable);
    lg_consumer_destroy(consumer);

    /* read_uncommitted: the high watermark. */
    consumer = consumer_with(engine, "read_uncommitted", NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_END),
                     LG_OK);
    ck_assert_int_eq(lg_consumer_position(consumer, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, end);
    lg_consumer_destroy(consumer);

    /* A group member reads to the LSO and commits it. */
    consumer = consumer_with(engine, NULL, "g");
    lg_topic_partition_list_t *list = lg_topic_partition_list_new();
    ck_assert_int_eq(lg_topic_partition_list_add(list, "t", 0, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 0), LG_OK);
    char all[4096];
    drain(consumer, 1, all, sizeof all);
    ck_assert_str_eq(all, "0:x0 0:a1 ");
    ck_assert_int_eq(lg_consumer_commit(consumer, NULL, 0), LG_OK);
    ck_assert_int_eq(lg_consumer_committed(consumer, list), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_offset(list, 0), stable);
    lg_topic_partition_list_destroy(list);
    lg_consumer_destroy(consumer);

    lg_producer_destroy(a);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(bad_isolation_level_is_refused) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "isolation.level", "serializable"),
                     LG_ERR_INVALID_CONFIG);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "isolation.level"));
    ck_assert_int_eq(lg_conf_set(conf, "isolation.level", ""),
                     LG_ERR_INVALID_CONFIG);
    char value[32];
    size_t size = sizeof value;
    ck_assert_int_eq(lg_conf_get(conf, "isolation.level", value, &size), LG_OK);
    ck_assert_str_eq(value, "read_committed");
    ck_assert_int_eq(lg_conf_set(conf, "isolation.level", "read_uncommitted"),
                     LG_OK);
    size = sizeof value;
    ck_assert_int_eq(lg_conf_get(conf, "isolation.level", value, &size), LG_OK);
    ck_assert_str_eq(value, "read_uncommitted");
    /* A consumer property: an engine refuses it. */
    lg_engine_t *engine = NULL;
    ck_assert_int_ne(lg_engine_open(dir, conf, &engine), LG_OK);
    lg_conf_destroy(conf);
}
END_TEST

/* ------------------------------------------------------------------------
 * The .txnindex files
 * --------------------------------------------------------------------- */

static char *partition_dir(int32_t partition) {
    char name[32];
    snprintf(name, sizeof name, "t-%d", (int)partition);
    return lgt_path(dir, name);
}

static int compare_names(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The names in directory path ending in suffix, sorted; returns how many
 * (at most 64). */
static size_t list_kind_in(const char *path, const char *suffix,
                           char *names[64]) {
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t n = strlen(entry->d_name), k = strlen(suffix);
        if (n > k && strcmp(entry->d_name + n - k, suffix) == 0) {
            ck_assert_uint_lt(count, 64);
            names[count++] = strdup(entry->d_name);
        }
    }
    closedir(d);
    qsort(names, count, sizeof *names, compare_names);
    return count;
}

/* The same in partition's directory of topic t. */
static size_t list_kind(int32_t partition, const char *suffix,
                        char *names[64]) {
    char *path = partition_dir(partition);
    size_t count = list_kind_in(path, suffix, names);
    free(path);
    return count;
}

static void free_names(char *names[], size_t count) {
    for (size_t i = 0; i < count; i++)
        free(names[i]);
}

/* Every entry of every .txnindex of the partition, in file order, into
 * entries (max 32); each file is checked to be 0600 and paired with a
 * .log.  Returns the count. */
static size_t read_entries(int32_t partition, lgi_aborted_txn_t *entries) {
    char *names[64], *logs[64];
    size_t count = list_kind(partition, ".txnindex", names);
    size_t log_count = list_kind(partition, ".log", logs);
    ck_assert_uint_eq(count, log_count);
    char *path = partition_dir(partition);
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        ck_assert_int_eq(strncmp(names[i], logs[i], 20), 0);
        char *file = lgt_path(path, names[i]);
        struct stat st;
        ck_assert_int_eq(stat(file, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        size_t len;
        uint8_t *bytes = lgt_read_file(file, &len);
        ck_assert_uint_eq(len % LGI_TXNINDEX_ENTRY_SIZE, 0);
        for (size_t at = 0; at < len; at += LGI_TXNINDEX_ENTRY_SIZE) {
            ck_assert_uint_lt(total, 32);
            ck_assert_int_eq(lgi_txnindex_decode(bytes + at, &entries[total]),
                             LG_OK);
            total++;
        }
        free(bytes);
        free(file);
    }
    free(path);
    free_names(names, count);
    free_names(logs, log_count);
    return total;
}

/* p0 after scenario(), then A opens a3, B aborts, A commits:
 *   x0 @0, a1 @1, C @2, b1 @3..6, A(bort) @7, b2 @8, a2 @9, C @10,
 *   a3 @11, A @12 (B's), C @13 (A's) */
static void scenario_with_two_aborts(lg_engine_t *engine) {
    lg_producer_t *a, *b = scenario(engine, &a);
    ck_assert_int_eq(lg_producer_begin_transaction(a), LG_OK);
    send(a, 0, "a3");
    ck_assert_int_eq(lg_producer_abort_transaction(b, -1), LG_OK);
    ck_assert_int_eq(lg_producer_commit_transaction(a, -1), LG_OK);
    lg_producer_destroy(a);
    lg_producer_destroy(b);
}

static void check_two_aborts(void) {
    lgi_aborted_txn_t entries[32];
    ck_assert_uint_eq(read_entries(0, entries), 2);
    /* The first abort: nothing else open, LSO = marker + 1. */
    ck_assert_int_ge(entries[0].producer_id, 0);
    ck_assert_int_eq(entries[0].first_offset, 3);
    ck_assert_int_eq(entries[0].last_offset, 7);
    ck_assert_int_eq(entries[0].last_stable_offset, 8);
    /* The second: A's transaction (from a3 @11) was open. */
    ck_assert_int_eq(entries[1].producer_id, entries[0].producer_id);
    ck_assert_int_eq(entries[1].first_offset, 8);
    ck_assert_int_eq(entries[1].last_offset, 12);
    ck_assert_int_eq(entries[1].last_stable_offset, 11);
    /* p1 saw the first abort only; p2 none. */
    ck_assert_uint_eq(read_entries(1, entries), 1);
    ck_assert_int_eq(entries[0].first_offset, 3);
    ck_assert_int_eq(entries[0].last_offset, 7);
    ck_assert_uint_eq(read_entries(2, entries), 0);
}

static void check_committed_view(lg_engine_t *engine) {
    char all[8192];
    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    assign_all(consumer, 3);
    drain(consumer, 3, all, sizeof all);
    expect(all, 0, "0:x0 0:a1 0:a2 0:a3 ");
    expect(all, 1, "1:x0 1:a1 ");
    expect(all, 2, "2:x0 2:a1 2:a2 ");
    lg_consumer_destroy(consumer);
}

START_TEST(txnindex_holds_one_kafka_entry_per_abort) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    scenario_with_two_aborts(engine);
    check_committed_view(engine);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    check_two_aborts();
}
END_TEST

/* Concatenated bytes of every .txnindex of partition 0. */
static uint8_t *txnindex_bytes(size_t *lenp) {
    char *names[64];
    size_t count = list_kind(0, ".txnindex", names);
    char *path = partition_dir(0);
    uint8_t *all = malloc(4096);
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        char *file = lgt_path(path, names[i]);
        size_t len;
        uint8_t *bytes = lgt_read_file(file, &len);
        ck_assert_uint_le(total + len + 20, 4096);
        memcpy(all + total, names[i], 20); /* which file it was */
        memcpy(all + total + 20, bytes, len);
        total += len + 20;
        free(bytes);
        free(file);
    }
    free(path);
    free_names(names, count);
    *lenp = total;
    return all;
}

START_TEST(txnindex_survives_reopen_and_is_rebuilt_when_lost_or_corrupt) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    scenario_with_two_aborts(engine);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    size_t before_len, after_len;
    uint8_t *before = txnindex_bytes(&before_len);

    engine = open_engine();
    check_committed_view(engine);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    uint8_t *after = txnindex_bytes(&after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(after, before, before_len), 0);
    free(after);

    /* Delete one file, fill another with garbage, break the version of a
     * third's entry, make a fourth's marker point outside its segment. */
    char *names[64];
    size_t count = list_kind(0, ".txnindex", names);
    ck_assert_uint_ge(count, 4);
    char *path = partition_dir(0);
    int with_entries = 0;
    for (size_t i = 0; i < count; i++) {
        char *file = lgt_path(path, names[i]);
        long long size = lgt_file_size(file);
        if (size > 0 && with_entries++ == 0) {
            uint8_t bad[LGI_TXNINDEX_ENTRY_SIZE];
            uint8_t *bytes = lgt_read_file(file, &(size_t){0});
            memcpy(bad, bytes, sizeof bad);
            free(bytes);
            lgi_put_be16(bad, 1); /* version 1 */
            ck_assert_int_eq(lgt_write_file(file, bad, sizeof bad), 0);
        } else if (size > 0) {
            uint8_t *bytes = lgt_read_file(file, &(size_t){0});
            lgi_put_be64(bytes + 18, (uint64_t)1 << 40); /* lastOffset */
            ck_assert_int_eq(lgt_write_file(file, bytes, (size_t)size), 0);
            free(bytes);
        } else if (i % 2 == 0) {
            ck_assert_int_eq(unlink(file), 0);
        } else {
            ck_assert_int_eq(lgt_write_file(file, "garbage!!", 9), 0);
        }
        free(file);
    }
    ck_assert_int_eq(with_entries, 2);
    free(path);
    free_names(names, count);

    engine = open_engine();
    check_committed_view(engine);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    after = txnindex_bytes(&after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(after, before, before_len), 0);
    check_two_aborts();
    free(after);
    free(before);
}
END_TEST

/* Creates topic "t" with partitions partitions, then calls run in a
 * child process that opens the engine and exits without closing it (an
 * unclean shutdown: recovery sees the unsynced tail).  Fails unless the
 * child exits 0; run exits with its own codes on failure. */
static void run_without_close(int partitions,
                              void (*run)(lg_engine_t *engine)) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, partitions);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        lg_engine_t *e = NULL;
        if (lg_engine_open(dir, NULL, &e) != LG_OK)
            _exit(10);
        run(e);
        _exit(0); /* no close */
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* A process dies without closing (recovery scans the unsynced tail and
 * rebuilds its .txnindex), with a torn batch at the end. */
START_TEST(txnindex_is_rebuilt_after_a_crash_with_a_torn_tail) {
    run_without_close(3, scenario_with_two_aborts);
    /* A torn write after the last batch of p0, and the active segment's
     * index emptied as a crash could leave it. */
    char *logs[64], *txns[64];
    size_t count = list_kind(0, ".log", logs);
    ck_assert_uint_eq(list_kind(0, ".txnindex", txns), count);
    char *path = partition_dir(0);
    char *last = lgt_path(path, logs[count - 1]);
    long long size = lgt_file_size(last);
    uint8_t *bytes = lgt_read_file(last, &(size_t){0});
    uint8_t *torn = malloc((size_t)size + 40);
    memcpy(torn, bytes, (size_t)size);
    memset(torn + size, 0x5a, 40);
    ck_assert_int_eq(lgt_write_file(last, torn, (size_t)size + 40), 0);
    free(torn);
    free(bytes);
    for (size_t i = 0; i < count; i++) {
        char *file = lgt_path(path, txns[i]);
        ck_assert_int_eq(lgt_write_file(file, "", 0), 0);
        free(file);
    }
    free(last);
    free(path);
    free_names(logs, count);
    free_names(txns, count);

    lg_engine_t *engine = open_engine();
    check_committed_view(engine);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    check_two_aborts();
}
END_TEST

/* A plain record x0, then a transaction writing b1 that aborts. */
static void scenario_with_one_abort(lg_engine_t *e) {
    lg_producer_t *b = txn_producer(e, "B");
    plain(e, 0, "x0");
    if (lg_producer_begin_transaction(b) != LG_OK)
        _exit(11);
    send(b, 0, "b1");
    if (lg_producer_abort_transaction(b, -1) != LG_OK)
        _exit(12);
}

/* The ABORT marker itself is torn: recovery drops it, its entry goes with
 * it, and the transaction's data is never shown as committed. */
START_TEST(a_torn_abort_marker_takes_its_entry_with_it) {
    run_without_close(1, scenario_with_one_abort);
    lgi_aborted_txn_t entries[32];
    ck_assert_uint_eq(read_entries(0, entries), 1);
    ck_assert_int_eq(entries[0].last_offset, 2);
    char *logs[64];
    size_t count = list_kind(0, ".log", logs);
    char *path = partition_dir(0);
    char *last = lgt_path(path, logs[count - 1]);
    ck_assert_int_eq(lgt_truncate(last, lgt_file_size(last) - 10), 0);
    free(last);
    free(path);
    free_names(logs, count);

    lg_engine_t *engine = open_engine();
    /* Whatever the coordinator does at open (writes the abort again or
     * leaves the transaction open until its timeout), b1 never shows. */
    char all[1024];
    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    assign_all(consumer, 1);
    drain(consumer, 1, all, sizeof all);
    ck_assert_str_eq(all, "0:x0 ");
    lg_consumer_destroy(consumer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    /* The torn marker's entry went with it; a marker the coordinator
     * wrote again since (at open or by the transaction timeout, so
     * possibly while closing) has its own, naming the same data. */
    size_t n = read_entries(0, entries);
    ck_assert_uint_le(n, 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_ge(entries[i].last_offset, 2);
        ck_assert_int_eq(entries[i].first_offset, 1);
    }
}
END_TEST

START_TEST(retention_deletes_the_txnindex_with_its_segment) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    scenario_with_two_aborts(engine);
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    size_t before = lgi_partition_segment_count(ref.partition), deleted = 0;
    ck_assert_int_gt(before, 3);
    /* Everything below offset 9: the first abort's segments go. */
    ck_assert_int_eq(lgi_partition_delete_before(ref.partition, 9, &deleted),
                     LG_OK);
    ck_assert_uint_gt(deleted, 0);
    lgi_engine_release(engine, &ref);
    char *logs[64], *txns[64];
    size_t logs_count = list_kind(0, ".log", logs);
    size_t txns_count = list_kind(0, ".txnindex", txns);
    ck_assert_uint_eq(logs_count, before - deleted);
    ck_assert_uint_eq(txns_count, logs_count);
    for (size_t i = 0; i < logs_count; i++)
        ck_assert_int_eq(strncmp(logs[i], txns[i], 20), 0);
    free_names(logs, logs_count);
    free_names(txns, txns_count);
    lgi_aborted_txn_t entries[32];
    ck_assert_uint_eq(read_entries(0, entries), 1);
    ck_assert_int_eq(entries[0].last_offset, 12);
    char all[4096];
    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, LG_OFFSET_BEGINNING),
                     LG_OK);
    drain(consumer, 1, all, sizeof all);
    lg_consumer_destroy(consumer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST


/* ------------------------------------------------------------------------
 * Compaction
 * --------------------------------------------------------------------- */

static void plain_key(lg_engine_t *engine, const char *key,
                      const char *value) {
    lg_records_t *records = lg_records_new();
    ck_assert_int_eq(lg_records_add(records, key, strlen(key), value,
                                    strlen(value), LG_TIMESTAMP_NOW),
                     LG_OK);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_LEADER,
                               NULL),
                     LG_OK);
    lg_records_destroy(records);
}

static void send_key(lg_producer_t *producer, const char *key,
                     const char *value) {
    ck_assert_int_eq(lg_produce(producer, "t", 0, key, strlen(key), value,
                                strlen(value), LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
}

/* Enough unique keys to put what came before into sealed segments. */
static void roll(lg_engine_t *engine, int *filler) {
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof key, "f%d", (*filler)++);
        plain_key(engine, key, "filler");
    }
}

/* raw_view's output buffer. */
typedef struct view {
    char *out;
    size_t size;
} view_t;

static void view_record(void *opaque, const lgi_record_t *r) {
    view_t *view = opaque;
    if (r->key && r->key_len && ((const char *)r->key)[0] == 'f')
        return;
    size_t used = strlen(view->out);
    snprintf(view->out + used, view->size - used, "%.*s=%.*s ",
             (int)r->key_len, (const char *)r->key, (int)r->value_len,
             (const char *)r->value);
}

static void view_batch(void *opaque, const uint8_t *batch,
                       const lgi_batch_header_t *h) {
    view_t *view = opaque;
    if (!(h->attributes & LGI_ATTR_CONTROL)) {
        lgt_each_record(batch, h, view_record, view);
        return;
    }
    int type = lgi_batch_control_type(batch, h);
    size_t used = strlen(view->out);
    snprintf(view->out + used, view->size - used, "%s%s ",
             type == LGI_CONTROL_COMMIT ? "C" : "A",
             (h->attributes & LGI_ATTR_DELETE_HORIZON) ? "*" : "");
}

/* What partition 0 holds, batch by batch (read_uncommitted, markers
 * included): "k=v" for records, "C"/"A" for markers ("C*"/"A*" with a
 * delete horizon); filler records left out. */
static void raw_view(lg_engine_t *engine, char *out, size_t size) {
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    int64_t start;
    lgi_partition_watermarks(ref.partition, &start, NULL);
    out[0] = '\0';
    view_t view = {out, size};
    lgt_each_batch(ref.partition, start, view_batch, &view);
    lgi_engine_release(engine, &ref);
}

static void compact(lg_engine_t *engine, lgi_cleaner_t *cleaner,
                    int64_t now_ms) {
    lgi_cleaner_settings_t settings = {
        .policy = LGI_CLEANUP_COMPACT,
        .retention_ms = -1,
        .retention_bytes = -1,
        .min_dirty_ratio = 0,
        .min_compaction_lag_ms = 0,
        .max_compaction_lag_ms = INT64_MAX / 2,
        .delete_retention_ms = 1000,
    };
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    int64_t first_dirty = 0;
    ck_assert_int_eq(lgi_cleaner_compact(cleaner, ref.partition, &settings,
                                         now_ms, 1, &first_dirty, NULL),
                     LG_OK);
    lgi_engine_release(engine, &ref);
}

START_TEST(the_cleaner_drops_aborted_data_and_markers_after_their_horizon) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 1);
    lg_producer_t *a = txn_producer(engine, "A");
    lg_producer_t *b = txn_producer(engine, "B");
    lgi_cleaner_t *cleaner;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    int filler = 0;
    char view[4096];

    plain_key(engine, "k", "v0");
    ck_assert_int_eq(lg_producer_begin_transaction(b), LG_OK);
    send_key(b, "k", "aborted");
    ck_assert_int_eq(lg_producer_abort_transaction(b, -1), LG_OK);
    ck_assert_int_eq(lg_producer_begin_transaction(a), LG_OK);
    send_key(a, "j", "c1");
    ck_assert_int_eq(lg_producer_commit_transaction(a, -1), LG_OK);
    roll(engine, &filler);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 k=aborted A j=c1 C ");

    /* The aborted value goes and does not take the committed one with it;
     * both markers stay (their data was there when the pass began), and
     * the abort is still in the cleaned segment's .txnindex. */
    int64_t now = 1000000;
    compact(engine, cleaner, now);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 A j=c1 C ");
    lgi_aborted_txn_t entries[32];
    ck_assert_uint_eq(read_entries(0, entries), 1);
    ck_assert_int_eq(entries[0].first_offset, 1);
    ck_assert_int_eq(entries[0].last_offset, 2);

    /* Next pass: no data of the abort is left, so its marker gets a
     * delete horizon; the commit's data is still there. */
    compact(engine, cleaner, now);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 A* j=c1 C ");
    ck_assert_uint_eq(read_entries(0, entries), 0);
    compact(engine, cleaner, now + 999);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 A* j=c1 C ");
    compact(engine, cleaner, now + 1000);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 j=c1 C ");

    /* A newer j supersedes the transaction's only record; the marker
     * outlives it by one pass, then by its horizon. */
    plain_key(engine, "j", "c2");
    roll(engine, &filler);
    now += 5000;
    compact(engine, cleaner, now);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 C j=c2 ");
    compact(engine, cleaner, now);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 C* j=c2 ");
    compact(engine, cleaner, now + 1000);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=v0 j=c2 ");

    /* Consumers of both kinds agree with what is left. */
    char all[4096];
    lg_consumer_t *consumer = consumer_with(engine, "read_committed", NULL);
    assign_all(consumer, 1);
    drain(consumer, 1, all, sizeof all);
    ck_assert_ptr_null(strstr(all, "aborted"));
    ck_assert_ptr_nonnull(strstr(all, "0:v0 "));
    ck_assert_ptr_nonnull(strstr(all, "0:c2 "));
    lg_consumer_destroy(consumer);

    lgi_cleaner_free(cleaner);
    lg_producer_destroy(a);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(the_cleaner_never_passes_the_lso) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 1);
    lg_producer_t *b = txn_producer(engine, "B");
    lgi_cleaner_t *cleaner;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    int filler = 0;
    char view[4096];

    plain_key(engine, "k", "x1");
    roll(engine, &filler);
    ck_assert_int_eq(lg_producer_begin_transaction(b), LG_OK);
    send_key(b, "k", "open");
    roll(engine, &filler);
    plain_key(engine, "k", "x2");
    roll(engine, &filler);
    ck_assert_uint_gt(segments(engine, 0), 4);
    /* Everything from the open transaction on waits, and so does what
     * only a record beyond it would supersede. */
    compact(engine, cleaner, 1000000);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=x1 k=open k=x2 ");
    ck_assert_int_eq(lg_producer_commit_transaction(b, -1), LG_OK);
    roll(engine, &filler);
    compact(engine, cleaner, 1000000);
    raw_view(engine, view, sizeof view);
    ck_assert_str_eq(view, "k=x2 C ");

    lgi_cleaner_free(cleaner);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST


/* ------------------------------------------------------------------------
 * lg_read_committed
 * --------------------------------------------------------------------- */

/* Everything lg_read_committed (or lg_read) returns from offset on, as
 * "value@offset "; *nextp gets where the reader ends up. */
static void read_all(lg_engine_t *engine, int committed, int64_t offset,
                     char *out, size_t size, int64_t *nextp) {
    out[0] = '\0';
    for (int rounds = 0;; rounds++) {
        ck_assert_int_lt(rounds, 1000);
        lg_fetch_t *fetch = NULL;
        ck_assert_int_eq(committed ? lg_read_committed(engine, "t", 0, offset,
                                                       100, &fetch)
                                   : lg_read(engine, "t", 0, offset, 100,
                                             &fetch),
                         LG_OK);
        const lg_message_t *m;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            size_t len, used = strlen(out);
            const char *value = lg_message_value(m, &len);
            snprintf(out + used, size - used, "%.*s@%lld ", (int)len,
                     value ? value : "", (long long)lg_message_offset(m));
        }
        int64_t after = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        if (after == offset)
            break;
        offset = after;
    }
    *nextp = offset;
}

START_TEST(read_committed_call_matches_the_consumer) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 3);
    lg_producer_t *a, *b = scenario(engine, &a);
    char got[4096];
    int64_t next;
    read_all(engine, 1, 0, got, sizeof got, &next);
    ck_assert_str_eq(got, "x0@0 a1@1 ");
    ck_assert_int_eq(next, lso(engine, 0));
    read_all(engine, 0, 0, got, sizeof got, &next);
    ck_assert_str_eq(got, "x0@0 a1@1 b1@3 b1@4 b1@5 b1@6 b2@8 a2@9 ");
    ck_assert_int_eq(next, high(engine, 0));
    /* Between the LSO and the end: valid, empty. */
    lg_fetch_t *fetch = NULL;
    ck_assert_int_eq(lg_read_committed(engine, "t", 0, 9, 100, &fetch), LG_OK);
    const lg_message_t *m = (const lg_message_t *)1;
    ck_assert_int_eq(lg_fetch_next(fetch, &m), LG_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(lg_fetch_next_offset(fetch), 9);
    lg_fetch_destroy(fetch);
    /* From inside the aborted transaction. */
    ck_assert_int_eq(lg_producer_commit_transaction(b, -1), LG_OK);
    read_all(engine, 1, 4, got, sizeof got, &next);
    ck_assert_str_eq(got, "b2@8 a2@9 ");
    ck_assert_int_eq(next, high(engine, 0));
    /* Errors as lg_read's. */
    fetch = (lg_fetch_t *)1;
    ck_assert_int_eq(lg_read_committed(NULL, "t", 0, 0, 100, &fetch),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_read_committed(engine, NULL, 0, 0, 100, &fetch),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_read_committed(engine, "t", 0, 0, 100, NULL),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lg_read_committed(engine, "t", 0, -1, 100, &fetch),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_ptr_null(fetch);
    ck_assert_int_eq(lg_read_committed(engine, "t", 0, high(engine, 0) + 1,
                                       100, &fetch),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(lg_read_committed(engine, "nope", 0, 0, 100, &fetch),
                     LG_ERR_UNKNOWN_TOPIC);
    ck_assert_int_eq(lg_read_committed(engine, "t", 7, 0, 100, &fetch),
                     LG_ERR_UNKNOWN_PARTITION);
    ck_assert_int_eq(lg_read_committed(engine, "t", -1, 0, 100, &fetch),
                     LG_ERR_UNKNOWN_PARTITION);
    lg_producer_destroy(a);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

/* Compaction empties everything between a position and an open
 * transaction: readers step over the gap to the LSO instead of waiting
 * there for ever. */
START_TEST(readers_step_over_a_gap_up_to_the_lso) {
    lg_engine_t *engine = open_engine();
    create_topic(engine, 1);
    lgi_cleaner_t *cleaner;
    ck_assert_int_eq(lgi_cleaner_new(1 << 20, &cleaner), LG_OK);
    plain_key(engine, "k", "v");
    for (int i = 0; i < 8; i++) { /* tombstones: gone after their horizon */
        lg_records_t *records = lg_records_new();
        ck_assert_int_eq(lg_records_add(records, "g", 1, NULL, 0,
                                        LG_TIMESTAMP_NOW),
                         LG_OK);
        ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_LEADER,
                                   NULL),
                         LG_OK);
        lg_records_destroy(records);
    }
    lg_producer_t *b = txn_producer(engine, "B");
    ck_assert_int_eq(lg_producer_begin_transaction(b), LG_OK);
    /* The transaction starts a segment of its own, so everything before
     * it is cleanable. */
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    lgi_log_config_t config, rolling;
    lgi_partition_config(ref.partition, &config);
    rolling = config;
    rolling.segment_bytes = 1; /* the next append rolls */
    lgi_partition_set_config(ref.partition, &rolling);
    send_key(b, "z", "open");
    lgi_partition_set_config(ref.partition, &config);
    lgi_engine_release(engine, &ref);
    for (int i = 0; i < 6; i++)
        send_key(b, "z", "more");
    int64_t stable = lso(engine, 0);
    ck_assert_int_eq(stable, 9);
    ck_assert_uint_gt(segments(engine, 0), 3);
    compact(engine, cleaner, 1000000);
    compact(engine, cleaner, 1000000 + 5000);
    char view[4096];
    raw_view(engine, view, sizeof view);
    ck_assert_ptr_null(strstr(view, "g="));
    ck_assert_int_eq(lso(engine, 0), stable);

    char got[1024];
    int64_t next;
    read_all(engine, 1, 1, got, sizeof got, &next);
    ck_assert_str_eq(got, "");
    ck_assert_int_eq(next, stable);
    lg_consumer_t *consumer = consumer_with(engine, NULL, NULL);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0, 1), LG_OK);
    const lg_message_t *m = NULL;
    ck_assert_int_eq(lg_consumer_poll(consumer, 1000, &m), LG_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(lg_message_error(m), LG_ERR_PARTITION_EOF);
    ck_assert_int_eq(lg_message_offset(m), stable);
    lg_consumer_destroy(consumer);

    lgi_cleaner_free(cleaner);
    lg_producer_destroy(b);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST


/* ------------------------------------------------------------------------
 * The rebuild after a crash starts at the producer snapshot
 * --------------------------------------------------------------------- */

static void append_raw(lgi_partition_t *partition, int64_t producer_id,
                       int marker, int64_t *basep) {
    lgi_buf_t out = LGI_BUF_INIT;
    if (marker >= 0) {
        ck_assert_int_eq(lgi_batch_encode_control(&out, marker, 0, 1000,
                                                  producer_id, 0),
                         LG_OK);
    } else {
        lg_records_t *records = lg_records_new();
        ck_assert_int_eq(lg_records_add(records, "k", 1, "value-value-value",
                                        17, 1000),
                         LG_OK);
        lgi_batch_options_t options;
        lgi_batch_options_init(&options);
        if (producer_id >= 0) {
            options.producer_id = producer_id;
            options.producer_epoch = 0;
            options.base_sequence = 0;
            options.transactional = 1;
        }
        options.now_ms = 1000;
        ck_assert_int_eq(lgi_batch_encode(&out, records, &options), LG_OK);
        lg_records_destroy(records);
    }
    ck_assert_int_eq(lgi_partition_append(partition, out.data, out.len,
                                          LG_ACKS_ALL, 1000, basep),
                     LG_OK);
}

START_TEST(crash_rebuild_is_seeded_by_the_producer_snapshot) {
    lgi_io_t *io = lgt_io();
    lgi_log_config_t config;
    lgt_default_config(&config);
    config.segment_bytes = 300;
    lgi_partition_t *partition;
    ck_assert_int_eq(lgi_partition_open(dir, &config, io, 0, 0, 0, &partition),
                     LG_OK);
    int64_t first, marker, base;
    append_raw(partition, -1, -1, &base);
    append_raw(partition, 77, -1, &first);  /* transaction of 77 opens */
    for (int i = 0; i < 8; i++)
        append_raw(partition, -1, -1, &base);
    append_raw(partition, 77, 0, &marker);  /* and is aborted */
    size_t count = lgi_partition_segment_count(partition);
    ck_assert_uint_ge(count, 3);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    /* The active segment: the one holding the marker. */
    char *logs[64];
    size_t n = list_kind_in(dir, ".log", logs);
    int64_t active = strtoll(logs[n - 1], NULL, 10);
    free_names(logs, n);
    ck_assert_int_le(active, marker);
    ck_assert_int_gt(active, first);
    /* As after a crash: no snapshot at the log end (only the one the last
     * roll wrote, at the active segment's base), the active segment past
     * the recovery point, its .txnindex gone. */
    char *snapshot = lgt_segment_file(dir, marker + 1, ".snapshot");
    ck_assert_int_eq(unlink(snapshot), 0);
    free(snapshot);
    char *txn = lgt_segment_file(dir, active, ".txnindex");
    ck_assert_int_eq(unlink(txn), 0);
    /* The producer id of the transaction's batch in the first segment is
     * made unrecognisable: a replay from the first segment would no longer
     * know where the transaction began (the header is not CRC-checked by a
     * header walk). */
    char *log0 = lgt_segment_file(dir, 0, ".log");
    size_t len;
    uint8_t *bytes = lgt_read_file(log0, &len);
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_batch_parse_header(bytes, len, INT32_MAX, &h), LG_OK);
    size_t second = lgi_batch_size(&h);
    ck_assert_int_eq(lgi_batch_parse_header(bytes + second, len - second,
                                            INT32_MAX, &h),
                     LG_OK);
    ck_assert_int_eq(h.producer_id, 77);
    lgi_put_be64(bytes + second + 43, 12345);
    ck_assert_int_eq(lgt_write_file(log0, bytes, len), 0);
    free(bytes);
    free(log0);

    ck_assert_int_eq(lgi_partition_open(dir, &config, io, active, 0, 0,
                                        &partition),
                     LG_OK);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    bytes = lgt_read_file(txn, &len);
    ck_assert_uint_eq(len, LGI_TXNINDEX_ENTRY_SIZE);
    lgi_aborted_txn_t entry;
    ck_assert_int_eq(lgi_txnindex_decode(bytes, &entry), LG_OK);
    ck_assert_int_eq(entry.producer_id, 77);
    ck_assert_int_eq(entry.first_offset, first); /* from the snapshot */
    ck_assert_int_eq(entry.last_offset, marker);
    ck_assert_int_eq(entry.last_stable_offset, marker + 1);
    free(bytes);
    free(txn);
    lgi_io_close(io);
}
END_TEST

static Suite *isolation_suite(void) {
    Suite *suite = suite_create("isolation");
    TCase *tc = tcase_create("isolation");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, read_committed_stops_at_the_lso_and_skips_aborted_data);
    tcase_add_test(tc, a_position_inside_an_aborted_transaction_skips_the_rest);
    tcase_add_test(tc, blocking_poll_wakes_when_the_commit_moves_the_lso);
    tcase_add_test(tc, a_position_past_the_lso_waits_without_spinning);
    tcase_add_test(
        tc, spinning_poll_wakes_for_the_commit_after_uncommitted_records);
    tcase_add_test(tc, seek_timestamps_and_group_commits_stay_below_the_lso);
    tcase_add_test(tc, bad_isolation_level_is_refused);
    tcase_add_test(tc, txnindex_holds_one_kafka_entry_per_abort);
    tcase_add_test(tc,
                   txnindex_survives_reopen_and_is_rebuilt_when_lost_or_corrupt);
    tcase_add_test(tc, txnindex_is_rebuilt_after_a_crash_with_a_torn_tail);
    tcase_add_test(tc, a_torn_abort_marker_takes_its_entry_with_it);
    tcase_add_test(tc, retention_deletes_the_txnindex_with_its_segment);
    tcase_add_test(tc,
                   the_cleaner_drops_aborted_data_and_markers_after_their_horizon);
    tcase_add_test(tc, the_cleaner_never_passes_the_lso);
    tcase_add_test(tc, read_committed_call_matches_the_consumer);
    tcase_add_test(tc, readers_step_over_a_gap_up_to_the_lso);
    tcase_add_test(tc, crash_rebuild_is_seeded_by_the_producer_snapshot);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(isolation_suite()); }
