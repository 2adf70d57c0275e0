/*
 * test_group.c -- consumer groups through liblog.h: subscription and
 * assignment, rebalance callbacks (eager and cooperative), queue semantics
 * (each record to exactly one member between rebalances; at-least-once
 * with members joining and leaving while producers write), eviction by
 * session.timeout.ms and max.poll.interval.ms, static membership, stale
 * generations, commits (sync, async, auto) and their survival across
 * close/reopen and a crash, auto.offset.reset, topic changes, admin.
 */
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir;
static lg_engine_t *engine;

static void setup(void) {
    dir = lgt_tmpdir("group");
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 6, NULL), LG_OK);
}

static void teardown(void) {
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = NULL;
    lgt_rmrf(dir);
    free(dir);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends n records valued "<p>:<first+i>" to partition p of topic. */
static void append(const char *topic, int32_t p, int first, int n) {
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < n; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "%d:%d", (int)p, first + i);
        ck_assert_int_eq(
            lg_records_add(records, NULL, 0, value, (size_t)len, 1000),
            LG_OK);
    }
    ck_assert_int_eq(
        lg_append(engine, topic, p, records, LG_ACKS_LEADER, NULL), LG_OK);
    lg_records_destroy(records);
}

/* A consumer of group with extra properties name=value pairs. */
static lg_consumer_t *member(const char *group, const char *const *props) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "group.id", group), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "auto.offset.reset", "earliest"),
                     LG_OK);
    for (; props && props[0]; props += 2)
        ck_assert_int_eq(lg_conf_set(conf, props[0], props[1]), LG_OK);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer), LG_OK);
    lg_conf_destroy(conf);
    return consumer;
}

static void subscribe(lg_consumer_t *consumer, const char *topic) {
    const char *topics[] = {topic};
    ck_assert_int_eq(lg_consumer_subscribe(consumer, topics, 1), LG_OK);
}

static size_t assigned_count(lg_consumer_t *consumer) {
    lg_topic_partition_list_t *list;
    ck_assert_int_eq(lg_consumer_assignment(consumer, &list), LG_OK);
    size_t n = lg_topic_partition_list_count(list);
    lg_topic_partition_list_destroy(list);
    return n;
}

/* Polls every consumer (timeout 0) until their assignments add up to
 * total, each non-empty when every_one, or 5 s pass. */
static void settle(lg_consumer_t **consumers, int n, size_t total,
                   int every_one) {
    int64_t deadline = now_ms() + 5000;
    for (;;) {
        size_t sum = 0;
        int all = 1;
        for (int i = 0; i < n; i++) {
            const lg_message_t *message;
            ck_assert_int_eq(lg_consumer_poll(consumers[i], 0, &message),
                             LG_OK);
            ck_assert_ptr_null(message); /* nothing produced yet */
        }
        for (int i = 0; i < n; i++) {
            size_t c = assigned_count(consumers[i]);
            sum += c;
            all &= c > 0;
        }
        if (sum == total && (all || !every_one))
            return;
        ck_assert_msg(now_ms() < deadline, "group did not settle: %zu of %zu",
                      sum, total);
        usleep(2000);
    }
}

/* Rebalance events recorded by a callback that applies them. */
typedef struct events {
    int assigns, revokes;
    size_t last_assign_count, last_revoke_count;
    size_t max_revoke_count;
} events_t;

static void on_rebalance(void *opaque, lg_consumer_t *consumer,
                         lg_err_t event,
                         const lg_topic_partition_list_t *partitions) {
    events_t *events = opaque;
    size_t n = lg_topic_partition_list_count(partitions);
    if (event == LG_ERR_ASSIGN_PARTITIONS) {
        events->assigns++;
        events->last_assign_count = n;
        ck_assert_int_eq(lg_consumer_incremental_assign(consumer, partitions),
                         LG_OK);
    } else {
        ck_assert_int_eq(event, LG_ERR_REVOKE_PARTITIONS);
        events->revokes++;
        events->last_revoke_count = n;
        if (n > events->max_revoke_count)
            events->max_revoke_count = n;
        /* Commit what was processed before giving the partitions up. */
        lg_consumer_commit(consumer, NULL, 0);
        ck_assert_int_eq(
            lg_consumer_incremental_unassign(consumer, partitions), LG_OK);
    }
}

START_TEST(single_member_gets_every_partition) {
    lg_consumer_t *c = member("g", NULL);
    ck_assert_str_eq(lg_consumer_rebalance_protocol(c), "NONE");
    events_t events = {0};
    lg_consumer_set_rebalance_callback(c, on_rebalance, &events);
    subscribe(c, "t");
    ck_assert_str_eq(lg_consumer_rebalance_protocol(c), "EAGER");
    settle(&c, 1, 6, 1);
    ck_assert_int_eq(events.assigns, 1);
    ck_assert_uint_eq(events.last_assign_count, 6);
    /* Manual assignment is refused while subscribed. */
    ck_assert_int_eq(lg_consumer_assign(c, "t", 0, 0), LG_ERR_STATE);
    /* A second member splits the partitions (eager: c revokes all six,
     * then gets three); when it leaves, c has all six again. */
    lg_consumer_t *both[] = {c, member("g", NULL)};
    subscribe(both[1], "t");
    settle(both, 2, 6, 1);
    ck_assert_int_eq(events.revokes, 1);
    ck_assert_uint_eq(events.last_revoke_count, 6);
    ck_assert_uint_eq(events.last_assign_count, 3);
    lg_consumer_destroy(both[1]);
    settle(&c, 1, 6, 1);
    ck_assert_int_eq(events.revokes, 2);
    ck_assert_uint_eq(events.last_assign_count, 6);
    lg_consumer_destroy(c);
}
END_TEST

START_TEST(subscribe_needs_group_id) {
    lg_consumer_t *c;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &c), LG_OK);
    const char *topics[] = {"t"};
    ck_assert_int_eq(lg_consumer_subscribe(c, topics, 1),
                     LG_ERR_INVALID_CONFIG);
    lg_consumer_destroy(c);
    c = member("g", NULL);
    const char *bad[] = {"^(unclosed"};
    ck_assert_int_eq(lg_consumer_subscribe(c, bad, 1), LG_ERR_INVALID_ARG);
    lg_consumer_destroy(c);
}
END_TEST

START_TEST(each_record_goes_to_exactly_one_member) {
    lg_consumer_t *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = member("g", NULL);
        subscribe(c[i], "t");
    }
    settle(c, 3, 6, 1);
    for (int p = 0; p < 6; p++)
        append("t", p, 0, 50);
    static int seen[6][50];
    memset(seen, 0, sizeof seen);
    int owner[6] = {-1, -1, -1, -1, -1, -1};
    int total = 0;
    int64_t deadline = now_ms() + 10000;
    while (total < 300 && now_ms() < deadline) {
        for (int i = 0; i < 3; i++) {
            const lg_message_t *message;
            ck_assert_int_eq(lg_consumer_poll(c[i], 1, &message), LG_OK);
            if (!message || lg_message_error(message) != LG_OK)
                continue;
            int32_t p = lg_message_partition(message);
            ck_assert(owner[p] == -1 || owner[p] == i);
            owner[p] = i;
            seen[p][lg_message_offset(message)]++;
            total++;
        }
    }
    ck_assert_int_eq(total, 300);
    for (int p = 0; p < 6; p++)
        for (int o = 0; o < 50; o++)
            ck_assert_int_eq(seen[p][o], 1);
    for (int i = 0; i < 3; i++)
        lg_consumer_destroy(c[i]);
}
END_TEST

START_TEST(commit_from_stale_generation_is_rejected) {
    const char *manual[] = {"enable.auto.commit", "false", NULL};
    lg_consumer_t *a = member("g", manual);
    subscribe(a, "t");
    settle(&a, 1, 6, 1);
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    lg_topic_partition_list_add(offsets, "t", 0, 0);
    ck_assert_int_eq(lg_consumer_commit(a, offsets, 0), LG_OK);
    lg_consumer_t *b = member("g", manual);
    subscribe(b, "t");
    lg_consumer_t *both[] = {a, b};
    settle(both, 2, 6, 1);
    /* c joins.  a revokes and rejoins at its poll: while the round is
     * open it may not commit; b's poll completes the round, and a has not
     * seen the new generation yet. */
    lg_consumer_t *c = member("g", manual);
    subscribe(c, "t");
    const lg_message_t *message;
    lg_consumer_poll(a, 0, &message);
    ck_assert_int_eq(lg_consumer_commit(a, offsets, 0),
                     LG_ERR_REBALANCE_IN_PROGRESS);
    lg_consumer_poll(b, 0, &message);
    ck_assert_int_eq(lg_consumer_commit(a, offsets, 0),
                     LG_ERR_ILLEGAL_GENERATION);
    lg_consumer_poll(a, 0, &message);
    ck_assert_int_eq(lg_consumer_commit(a, offsets, 0), LG_OK);
    /* A consumer outside the group cannot commit while it has members. */
    lg_consumer_t *outsider = member("g", manual);
    ck_assert_int_eq(lg_consumer_commit(outsider, offsets, 0),
                     LG_ERR_ILLEGAL_GENERATION);
    lg_topic_partition_list_destroy(offsets);
    lg_consumer_destroy(outsider);
    lg_consumer_destroy(a);
    lg_consumer_destroy(b);
    lg_consumer_destroy(c);
}
END_TEST

START_TEST(cooperative_sticky_revokes_only_what_moves) {
    const char *coop[] = {"partition.assignment.strategy",
                          "cooperative-sticky", NULL};
    lg_consumer_t *c[2];
    events_t events[2] = {{0}};
    c[0] = member("g", coop);
    lg_consumer_set_rebalance_callback(c[0], on_rebalance, &events[0]);
    subscribe(c[0], "t");
    ck_assert_str_eq(lg_consumer_rebalance_protocol(c[0]), "COOPERATIVE");
    settle(c, 1, 6, 1);
    c[1] = member("g", coop);
    lg_consumer_set_rebalance_callback(c[1], on_rebalance, &events[1]);
    subscribe(c[1], "t");
    settle(c, 2, 6, 1);
    ck_assert_uint_eq(assigned_count(c[0]), 3);
    ck_assert_uint_eq(assigned_count(c[1]), 3);
    /* The first member gave up exactly the three that moved, never all. */
    ck_assert_int_eq(events[0].revokes, 1);
    ck_assert_uint_eq(events[0].max_revoke_count, 3);
    ck_assert_int_eq(events[1].revokes, 0);
    /* A strategy other than the group's is refused. */
    lg_consumer_t *range = member("g", NULL);
    const char *topics[] = {"t"};
    ck_assert_int_eq(lg_consumer_subscribe(range, topics, 1),
                     LG_ERR_INCONSISTENT_GROUP_PROTOCOL);
    lg_consumer_destroy(range);
    lg_consumer_destroy(c[0]);
    lg_consumer_destroy(c[1]);
}
END_TEST

START_TEST(silent_member_is_evicted_and_rejoins) {
    const char *fast[] = {"session.timeout.ms", "200", NULL};
    lg_consumer_t *c[2];
    events_t events = {0};
    c[0] = member("g", fast);
    c[1] = member("g", fast);
    lg_consumer_set_rebalance_callback(c[0], on_rebalance, &events);
    subscribe(c[0], "t");
    subscribe(c[1], "t");
    settle(c, 2, 6, 1);
    /* c[0] goes silent; c[1] keeps polling and takes everything. */
    int64_t deadline = now_ms() + 5000;
    while (assigned_count(c[1]) != 6) {
        const lg_message_t *message;
        lg_consumer_poll(c[1], 10, &message);
        ck_assert(now_ms() < deadline);
    }
    lg_group_description_t *description;
    ck_assert_int_eq(lg_group_describe(engine, "g", &description), LG_OK);
    ck_assert_uint_eq(lg_group_description_member_count(description), 1);
    lg_group_description_destroy(description);
    /* c[0] learns at its poll: its partitions are revoked (lost), it
     * joins again and the group splits once more. */
    settle(c, 2, 6, 1);
    ck_assert_int_ge(events.revokes, 1);
    lg_consumer_destroy(c[0]);
    lg_consumer_destroy(c[1]);
}
END_TEST

START_TEST(member_that_stops_polling_is_evicted) {
    const char *slow[] = {"max.poll.interval.ms", "200", NULL};
    lg_consumer_t *c[2] = {member("g", slow), member("g", slow)};
    subscribe(c[0], "t");
    subscribe(c[1], "t");
    settle(c, 2, 6, 1);
    /* c[0] keeps heartbeating through position() but never polls. */
    lg_topic_partition_list_t *mine;
    lg_consumer_assignment(c[0], &mine);
    int64_t deadline = now_ms() + 5000, position;
    while (assigned_count(c[1]) != 6) {
        lg_consumer_position(c[0], lg_topic_partition_list_topic(mine, 0),
                             lg_topic_partition_list_partition(mine, 0),
                             &position);
        const lg_message_t *message;
        lg_consumer_poll(c[1], 10, &message);
        ck_assert(now_ms() < deadline);
    }
    lg_topic_partition_list_destroy(mine);
    lg_consumer_destroy(c[0]);
    lg_consumer_destroy(c[1]);
}
END_TEST

START_TEST(static_member_returns_without_rebalance) {
    const char *stat[] = {"group.instance.id", "s1", NULL};
    lg_consumer_t *c[2];
    events_t events = {0};
    c[0] = member("g", stat);
    c[1] = member("g", NULL);
    lg_consumer_set_rebalance_callback(c[1], on_rebalance, &events);
    subscribe(c[0], "t");
    subscribe(c[1], "t");
    settle(c, 2, 6, 1);
    lg_group_description_t *description;
    ck_assert_int_eq(lg_group_describe(engine, "g", &description), LG_OK);
    int32_t generation = lg_group_description_generation(description);
    lg_group_description_destroy(description);
    size_t had = assigned_count(c[0]);
    int assigns = events.assigns, revokes = events.revokes;

    lg_consumer_destroy(c[0]);
    /* The same id in use twice is refused. */
    c[0] = member("g", stat);
    subscribe(c[0], "t");
    lg_consumer_t *twin = member("g", stat);
    const char *topics[] = {"t"};
    ck_assert_int_eq(lg_consumer_subscribe(twin, topics, 1), LG_ERR_STATE);
    lg_consumer_destroy(twin);
    settle(c, 2, 6, 1);
    ck_assert_uint_eq(assigned_count(c[0]), had);
    ck_assert_int_eq(events.assigns, assigns);
    ck_assert_int_eq(events.revokes, revokes);
    ck_assert_int_eq(lg_group_describe(engine, "g", &description), LG_OK);
    ck_assert_int_eq(lg_group_description_generation(description),
                     generation);
    lg_group_description_destroy(description);
    lg_consumer_destroy(c[0]);
    lg_consumer_destroy(c[1]);
}
END_TEST

static int commits_seen;
static lg_err_t last_commit_err = -1;
static void on_commit(void *opaque, lg_consumer_t *consumer, lg_err_t err,
                      const lg_topic_partition_list_t *offsets) {
    commits_seen++;
    last_commit_err = err;
}

START_TEST(commits_sync_async_auto_and_committed) {
    append("t", 0, 0, 10);
    const char *manual[] = {"enable.auto.commit", "false", NULL};
    lg_consumer_t *c = member("g", manual);
    lg_consumer_set_commit_callback(c, on_commit, NULL);
    ck_assert_int_eq(lg_consumer_assign(c, "t", 0, LG_OFFSET_BEGINNING),
                     LG_OK);
    const lg_message_t *message;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(lg_consumer_poll(c, 1000, &message), LG_OK);
    /* Sync: current positions. */
    ck_assert_int_eq(lg_consumer_commit(c, NULL, 0), LG_OK);
    lg_topic_partition_list_t *query = lg_topic_partition_list_new();
    lg_topic_partition_list_add(query, "t", 0, LG_OFFSET_INVALID);
    lg_topic_partition_list_add(query, "t", 1, 0);
    ck_assert_int_eq(lg_consumer_committed(c, query), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_offset(query, 0), 4);
    ck_assert_int_eq(lg_topic_partition_list_offset(query, 1),
                     LG_OFFSET_INVALID);
    /* Async, explicit offsets: the callback comes from poll. */
    lg_topic_partition_list_t *explicit = lg_topic_partition_list_new();
    lg_topic_partition_list_add(explicit, "t", 0, 7);
    commits_seen = 0;
    ck_assert_int_eq(lg_consumer_commit(c, explicit, 1), LG_OK);
    ck_assert_int_eq(commits_seen, 0);
    lg_consumer_poll(c, 0, &message);
    ck_assert_int_eq(commits_seen, 1);
    ck_assert_int_eq(last_commit_err, LG_OK);
    ck_assert_int_eq(lg_consumer_committed(c, query), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_offset(query, 0), 7);
    lg_topic_partition_list_destroy(explicit);
    lg_consumer_destroy(c);

    /* Auto-commit every 20 ms commits the positions poll reached. */
    const char *autoc[] = {"auto.commit.interval.ms", "20", NULL};
    c = member("auto", autoc);
    subscribe(c, "t");
    int got = 0;
    int64_t deadline = now_ms() + 5000;
    while (got < 10 && now_ms() < deadline)
        if (lg_consumer_poll(c, 10, &message) == LG_OK && message &&
            lg_message_error(message) == LG_OK)
            got++;
    ck_assert_int_eq(got, 10);
    usleep(30000);
    lg_consumer_poll(c, 0, &message);
    ck_assert_int_eq(lg_consumer_committed(c, query), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_offset(query, 0), 10);
    lg_topic_partition_list_destroy(query);
    lg_consumer_destroy(c);
}
END_TEST

START_TEST(offsets_survive_reopen_and_crash) {
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    lg_topic_partition_list_add(offsets, "t", 2, 42);
    lg_consumer_t *c = member("keep", NULL);
    ck_assert_int_eq(lg_consumer_commit(c, offsets, 0), LG_OK);
    lg_consumer_destroy(c);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    c = member("keep", NULL);
    lg_topic_partition_list_set_offset(offsets, 0, 0);
    ck_assert_int_eq(lg_consumer_committed(c, offsets), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_offset(offsets, 0), 42);
    lg_consumer_destroy(c);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = NULL;

    /* A child commits asynchronously (acks=1) and dies without closing. */
    pid_t child = fork();
    if (child == 0) {
        lg_engine_t *e;
        if (lg_engine_open(dir, NULL, &e) != LG_OK)
            _exit(2);
        engine = e;
        lg_conf_t *conf = lg_conf_new();
        lg_conf_set(conf, "group.id", "keep");
        lg_consumer_t *cc;
        if (lg_consumer_new(e, conf, &cc) != LG_OK)
            _exit(3);
        lg_topic_partition_list_set_offset(offsets, 0, 99);
        if (lg_consumer_commit(cc, offsets, 1) != LG_OK)
            _exit(4);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    c = member("keep", NULL);
    ck_assert_int_eq(lg_consumer_committed(c, offsets), LG_OK);
    ck_assert_int_eq(lg_topic_partition_list_offset(offsets, 0), 99);
    lg_topic_partition_list_destroy(offsets);
    lg_consumer_destroy(c);
}
END_TEST

START_TEST(auto_offset_reset_applies_without_committed_offset) {
    append("t", 0, 0, 5);
    const char *latest[] = {"auto.offset.reset", "latest", NULL};
    lg_consumer_t *c = member("fresh", latest);
    lg_topic_partition_list_t *list = lg_topic_partition_list_new();
    lg_topic_partition_list_add(list, "t", 0, LG_OFFSET_STORED);
    ck_assert_int_eq(lg_consumer_incremental_assign(c, list), LG_OK);
    int64_t position;
    ck_assert_int_eq(lg_consumer_position(c, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 5);
    lg_consumer_destroy(c);

    const char *earliest[] = {"auto.offset.reset", "earliest", NULL};
    c = member("fresh2", earliest);
    ck_assert_int_eq(lg_consumer_incremental_assign(c, list), LG_OK);
    ck_assert_int_eq(lg_consumer_position(c, "t", 0, &position), LG_OK);
    ck_assert_int_eq(position, 0);
    lg_consumer_destroy(c);

    const char *none[] = {"auto.offset.reset", "none", NULL};
    c = member("fresh3", none);
    ck_assert_int_eq(lg_consumer_incremental_assign(c, list), LG_OK);
    const lg_message_t *message;
    ck_assert_int_eq(lg_consumer_poll(c, 100, &message), LG_OK);
    ck_assert_ptr_nonnull(message);
    ck_assert_int_eq(lg_message_error(message), LG_ERR_OFFSET_OUT_OF_RANGE);
    lg_consumer_destroy(c);
    lg_topic_partition_list_destroy(list);
}
END_TEST

/* Polls c until its assignment has n partitions (5 s at most). */
static void wait_assigned(lg_consumer_t *c, size_t n) {
    int64_t deadline = now_ms() + 5000;
    while (assigned_count(c) != n) {
        const lg_message_t *message;
        lg_consumer_poll(c, 10, &message);
        ck_assert_msg(now_ms() < deadline, "have %zu partitions, want %zu",
                      assigned_count(c), n);
    }
}

START_TEST(topic_changes_trigger_rebalance) {
    lg_consumer_t *c = member("g", NULL);
    const char *topics[] = {"^ev-.*"};
    ck_assert_int_eq(lg_consumer_subscribe(c, topics, 1), LG_OK);
    wait_assigned(c, 0);
    ck_assert_int_eq(lg_topic_create(engine, "ev-1", 2, NULL), LG_OK);
    wait_assigned(c, 2);
    ck_assert_int_eq(lg_topic_add_partitions(engine, "ev-1", 4), LG_OK);
    wait_assigned(c, 4);
    ck_assert_int_eq(lg_topic_create(engine, "ev-2", 1, NULL), LG_OK);
    wait_assigned(c, 5);
    ck_assert_int_eq(lg_topic_create(engine, "other", 1, NULL), LG_OK);
    const lg_message_t *message;
    lg_consumer_poll(c, 50, &message);
    ck_assert_uint_eq(assigned_count(c), 5);
    /* A named topic created after subscribing. */
    const char *later[] = {"later"};
    ck_assert_int_eq(lg_consumer_subscribe(c, later, 1), LG_OK);
    wait_assigned(c, 0);
    ck_assert_int_eq(lg_topic_create(engine, "later", 3, NULL), LG_OK);
    wait_assigned(c, 3);
    ck_assert_int_eq(lg_consumer_unsubscribe(c), LG_OK);
    ck_assert_uint_eq(assigned_count(c), 0);
    lg_consumer_destroy(c);
}
END_TEST

START_TEST(admin_lists_describes_resets_and_deletes) {
    const char *manual[] = {"enable.auto.commit", "false", NULL};
    lg_consumer_t *c = member("admin", manual);
    subscribe(c, "t");
    settle(&c, 1, 6, 1);
    append("t", 1, 0, 10);
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    lg_topic_partition_list_add(offsets, "t", 1, 4);
    ck_assert_int_eq(lg_consumer_commit(c, offsets, 0), LG_OK);
    lg_topic_partition_list_destroy(offsets);

    lg_strings_t *groups;
    ck_assert_int_eq(lg_group_list(engine, &groups), LG_OK);
    ck_assert_uint_eq(lg_strings_count(groups), 1);
    ck_assert_str_eq(lg_strings_get(groups, 0), "admin");
    lg_strings_destroy(groups);

    lg_group_description_t *d;
    ck_assert_int_eq(lg_group_describe(engine, "admin", &d), LG_OK);
    ck_assert_str_eq(lg_group_description_state(d), "Stable");
    ck_assert_str_eq(lg_group_description_protocol(d), "range");
    ck_assert_uint_eq(lg_group_description_member_count(d), 1);
    ck_assert(strncmp(lg_group_description_member_id(d, 0), "consumer-",
                      9) == 0);
    ck_assert_str_eq(lg_group_description_member_instance_id(d, 0), "");
    ck_assert_uint_eq(lg_topic_partition_list_count(
                          lg_group_description_member_assignment(d, 0)),
                      6);
    const lg_topic_partition_list_t *committed =
        lg_group_description_offsets(d);
    ck_assert_uint_eq(lg_topic_partition_list_count(committed), 1);
    ck_assert_int_eq(lg_topic_partition_list_offset(committed, 0), 4);
    ck_assert_int_eq(lg_group_description_lag(d, 0), 6);
    lg_group_description_destroy(d);

    ck_assert_int_eq(lg_group_delete(engine, "admin"),
                     LG_ERR_GROUP_NOT_EMPTY);
    ck_assert_int_eq(
        lg_group_reset_offsets(engine, "admin", "t", 1, LG_OFFSET_BEGINNING),
        LG_ERR_GROUP_NOT_EMPTY);
    lg_consumer_destroy(c);
    ck_assert_int_eq(
        lg_group_reset_offsets(engine, "admin", "t", LG_PARTITION_ANY,
                               LG_OFFSET_END),
        LG_OK);
    ck_assert_int_eq(lg_group_describe(engine, "admin", &d), LG_OK);
    ck_assert_str_eq(lg_group_description_state(d), "Empty");
    ck_assert_uint_eq(
        lg_topic_partition_list_count(lg_group_description_offsets(d)), 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(lg_group_description_lag(d, i), 0);
    lg_group_description_destroy(d);
    ck_assert_int_eq(lg_group_delete(engine, "admin"), LG_OK);
    ck_assert_int_eq(lg_group_describe(engine, "admin", &d),
                     LG_ERR_UNKNOWN_GROUP);
    ck_assert_int_eq(lg_group_delete(engine, "admin"), LG_ERR_UNKNOWN_GROUP);
    /* Deletion is durable. */
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_group_list(engine, &groups), LG_OK);
    ck_assert_uint_eq(lg_strings_count(groups), 0);
    lg_strings_destroy(groups);
}
END_TEST

/* ------------------------------------------------------------------------
 * At-least-once with members joining and leaving while producers write
 * --------------------------------------------------------------------- */

#define CHURN_PARTITIONS 4
#define CHURN_RECORDS 2000 /* per partition */

static atomic_int churn_seen[CHURN_PARTITIONS][CHURN_RECORDS];

static void *churn_producer(void *arg) {
    int32_t p = (int32_t)(intptr_t)arg;
    for (int i = 0; i < CHURN_RECORDS; i += 20) {
        append("churn", p, i, 20);
        usleep(1000);
    }
    return NULL;
}

/* One member's life: join, consume for life_ms (marking what it sees),
 * leave.  Auto-commit at every poll and before revocations; destroy
 * commits what was processed. */
static void *churn_member(void *arg) {
    int life_ms = (int)(intptr_t)arg;
    const char *props[] = {"auto.commit.interval.ms", "0", NULL};
    lg_consumer_t *c = member("churn", props);
    subscribe(c, "churn");
    int64_t end = now_ms() + life_ms;
    while (now_ms() < end) {
        const lg_message_t *messages[64];
        size_t n;
        if (lg_consumer_poll_batch(c, 5, messages, 64, &n) != LG_OK)
            continue;
        for (size_t i = 0; i < n; i++)
            if (lg_message_error(messages[i]) == LG_OK)
                atomic_fetch_add(&churn_seen[lg_message_partition(messages[i])]
                                            [lg_message_offset(messages[i])],
                                 1);
    }
    lg_consumer_destroy(c);
    return NULL;
}

START_TEST(no_record_is_skipped_while_members_come_and_go) {
    ck_assert_int_eq(lg_topic_create(engine, "churn", CHURN_PARTITIONS, NULL),
                     LG_OK);
    memset(churn_seen, 0, sizeof churn_seen);
    pthread_t producers[CHURN_PARTITIONS], members[6];
    for (int p = 0; p < CHURN_PARTITIONS; p++)
        pthread_create(&producers[p], NULL, churn_producer,
                       (void *)(intptr_t)p);
    /* Staggered members: 3 at a time, each living 150-400 ms. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++)
            pthread_create(&members[round * 3 + i], NULL, churn_member,
                           (void *)(intptr_t)(150 + 120 * i));
        usleep(100000);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(members[i], NULL);
    for (int p = 0; p < CHURN_PARTITIONS; p++)
        pthread_join(producers[p], NULL);
    /* A last member drains from the committed offsets: together with what
     * the others saw, nothing is missing. */
    churn_member((void *)(intptr_t)1500);
    for (int p = 0; p < CHURN_PARTITIONS; p++)
        for (int o = 0; o < CHURN_RECORDS; o++)
            ck_assert_msg(atomic_load(&churn_seen[p][o]) >= 1,
                          "record %d of partition %d was never processed", o,
                          p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("group");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, single_member_gets_every_partition);
    tcase_add_test(tc, subscribe_needs_group_id);
    tcase_add_test(tc, each_record_goes_to_exactly_one_member);
    tcase_add_test(tc, commit_from_stale_generation_is_rejected);
    tcase_add_test(tc, cooperative_sticky_revokes_only_what_moves);
    tcase_add_test(tc, silent_member_is_evicted_and_rejoins);
    tcase_add_test(tc, member_that_stops_polling_is_evicted);
    tcase_add_test(tc, static_member_returns_without_rebalance);
    tcase_add_test(tc, commits_sync_async_auto_and_committed);
    tcase_add_test(tc, offsets_survive_reopen_and_crash);
    tcase_add_test(tc, auto_offset_reset_applies_without_committed_offset);
    tcase_add_test(tc, topic_changes_trigger_rebalance);
    tcase_add_test(tc, admin_lists_describes_resets_and_deletes);
    tcase_add_test(tc, no_record_is_skipped_while_members_come_and_go);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
