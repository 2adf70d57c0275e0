/*
 * test_replica.c -- replication's wire format (every rejection path of the
 * decoder), the quorum-state file, and the consensus core's behaviour in
 * small scripted clusters on a synchronous in-process network.  The
 * randomized fault-injecting runs are in test_replica_sim.c.
 */
#include "alloc.h"
#include "memlog.h"
#include "replica.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* ---------------------------------------------------------------- wire */

static uint8_t *sample(size_t *lenp) {
    static lgi_msg_entry_t ents[2] = {
        {.epoch = 3, .len = 5, .data = (const uint8_t *)"hello"},
        {.epoch = 4, .len = 0, .data = NULL}};
    lgi_msg_t msgs[2] = {
        {.type = LGI_MSG_VOTE, .topic = "orders", .partition = 7, .epoch = 9,
         .node = 1, .last_epoch = 4, .offset = 123, .diverging_end = -1},
        {.type = LGI_MSG_FETCH_RESPONSE, .topic = "t", .partition = 0,
         .epoch = 4, .node = 1, .offset = 10, .last_epoch = 3,
         .high_watermark = 8, .kind = LGI_FETCH_DATA, .diverging_epoch = -1,
         .diverging_end = -1, .entry_count = 2, .entries = ents}};
    lgi_envelope_t env = {.from = 1, .to = 2, .cluster_id = 77, .count = 2,
                          .msgs = msgs};
    uint8_t *bytes;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, lenp), LG_OK);
    return bytes;
}

/* Re-seals bytes after a deliberate edit so the decoder reaches the check
 * behind the checksum. */
static void reseal(uint8_t *bytes, size_t len) {
    uint64_t h = XXH3_64bits(bytes, len - 8);
    for (int i = 0; i < 8; i++)
        bytes[len - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
}

START_TEST(envelope_round_trips_every_field) {
    size_t len;
    uint8_t *bytes = sample(&len);
    lgi_envelope_t env;
    ck_assert_int_eq(lgi_envelope_decode(bytes, len, &env), LG_OK);
    ck_assert_int_eq(env.from, 1);
    ck_assert_int_eq(env.to, 2);
    ck_assert_uint_eq(env.cluster_id, 77);
    ck_assert_uint_eq(env.count, 2);
    ck_assert_str_eq(env.msgs[0].topic, "orders");
    ck_assert_int_eq(env.msgs[0].partition, 7);
    ck_assert_int_eq(env.msgs[0].epoch, 9);
    ck_assert_int_eq(env.msgs[0].last_epoch, 4);
    ck_assert_int_eq(env.msgs[0].offset, 123);
    ck_assert_int_eq(env.msgs[1].type, LGI_MSG_FETCH_RESPONSE);
    ck_assert_int_eq(env.msgs[1].high_watermark, 8);
    ck_assert_uint_eq(env.msgs[1].entry_count, 2);
    ck_assert_int_eq(env.msgs[1].entries[0].epoch, 3);
    ck_assert_mem_eq(env.msgs[1].entries[0].data, "hello", 5);
    ck_assert_uint_eq(env.msgs[1].entries[1].len, 0);
    lgi_envelope_free(&env);
    lgi_free(bytes);
}
END_TEST

static void expect_corrupt(uint8_t *bytes, size_t len) {
    lgi_envelope_t env;
    ck_assert_int_eq(lgi_envelope_decode(bytes, len, &env), LG_ERR_CORRUPT);
    ck_assert_ptr_null(env.msgs);
}

START_TEST(decoder_rejects_bad_header_and_checksum) {
    size_t len;
    uint8_t *bytes = sample(&len);
    expect_corrupt(bytes, 0);
    expect_corrupt(NULL, len);
    expect_corrupt(bytes, len - 1); /* length mismatch */
    bytes[40] ^= 1;                 /* checksum */
    expect_corrupt(bytes, len);
    bytes[40] ^= 1;
    bytes[0] ^= 1; /* magic */
    reseal(bytes, len);
    expect_corrupt(bytes, len);
    bytes[0] ^= 1;
    bytes[5] = LGI_REPLICA_VERSION + 1; /* version */
    reseal(bytes, len);
    expect_corrupt(bytes, len);
    bytes[5] = 1; /* the version before the log start fields */
    reseal(bytes, len);
    expect_corrupt(bytes, len);
    bytes[5] = 2; /* the version before pre-vote: it would read one as a
                     vote, so it must not talk to this one */
    reseal(bytes, len);
    expect_corrupt(bytes, len);
    bytes[5] = LGI_REPLICA_VERSION;
    bytes[7] = 1; /* flags */
    reseal(bytes, len);
    expect_corrupt(bytes, len);
    bytes[7] = 0;
    reseal(bytes, len);
    lgi_envelope_t env;
    ck_assert_int_eq(lgi_envelope_decode(bytes, len, &env), LG_OK);
    lgi_envelope_free(&env);
    lgi_free(bytes);
}
END_TEST

START_TEST(decoder_rejects_bad_counts_types_and_fields) {
    size_t len;
    uint8_t *bytes = sample(&len);
    uint8_t *copy = malloc(len);
    /* message count far beyond the buffer */
    memcpy(copy, bytes, len);
    copy[28] = 0x7f;
    reseal(copy, len);
    expect_corrupt(copy, len);
    /* unknown type */
    memcpy(copy, bytes, len);
    copy[32] = 99;
    reseal(copy, len);
    expect_corrupt(copy, len);
    /* topic length 0 */
    memcpy(copy, bytes, len);
    copy[33] = 0;
    reseal(copy, len);
    expect_corrupt(copy, len);
    /* negative epoch (first message: type, len, "orders", partition, epoch) */
    memcpy(copy, bytes, len);
    copy[32 + 2 + 6 + 4] = 0x80;
    reseal(copy, len);
    expect_corrupt(copy, len);
    /* entries on a message type that carries none: first message's
     * entry_count is its last 4 fixed bytes */
    memcpy(copy, bytes, len);
    copy[32 + 80 + 6 - 1] = 1;
    reseal(copy, len);
    expect_corrupt(copy, len);
    free(copy);
    lgi_free(bytes);
}
END_TEST

START_TEST(decoder_rejects_trailing_bytes_and_oversize) {
    size_t len;
    uint8_t *bytes = sample(&len);
    uint8_t *longer = calloc(1, len + 4);
    memcpy(longer, bytes, len - 8);
    uint32_t total = (uint32_t)len + 4;
    longer[8] = (uint8_t)(total >> 24);
    longer[9] = (uint8_t)(total >> 16);
    longer[10] = (uint8_t)(total >> 8);
    longer[11] = (uint8_t)total;
    reseal(longer, len + 4);
    expect_corrupt(longer, len + 4);
    free(longer);
    uint8_t *huge = calloc(1, LGI_REPLICA_MAX_ENVELOPE + 1);
    expect_corrupt(huge, LGI_REPLICA_MAX_ENVELOPE + 1);
    free(huge);
    lgi_free(bytes);
}
END_TEST

START_TEST(encoder_rejects_over_limits) {
    lgi_msg_t m = {.type = LGI_MSG_VOTE, .topic = ""};
    lgi_envelope_t env = {.count = 1, .msgs = &m};
    uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, &len),
                     LG_ERR_INVALID_ARG);
    strcpy(m.topic, "t");
    m.entry_count = LGI_REPLICA_MAX_ENTRIES + 1;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, &len),
                     LG_ERR_INVALID_ARG);
}
END_TEST

START_TEST(random_mutations_are_never_accepted) {
    size_t len;
    uint8_t *bytes = sample(&len);
    uint8_t *copy = malloc(len);
    srand(7);
    for (int i = 0; i < 50000; i++) {
        memcpy(copy, bytes, len);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++)
            copy[(size_t)rand() % len] ^= (uint8_t)(1 + rand() % 255);
        size_t cut = rand() % 5 == 0 ? (size_t)rand() % len : len;
        lgi_envelope_t env;
        if (lgi_envelope_decode(copy, cut, &env) == LG_OK) {
            ck_assert_uint_eq(cut, len);
            ck_assert_mem_eq(copy, bytes, len); /* flips cancelled out */
            lgi_envelope_free(&env);
        }
    }
    free(copy);
    lgi_free(bytes);
}
END_TEST

START_TEST(decoder_out_of_memory_leaves_nothing) {
    size_t len;
    uint8_t *bytes = sample(&len);
    for (long n = 1; n <= 3; n++) {
        lgi_envelope_t env;
        lgi_alloc_fail_after(n, 0);
        lg_err_t err = lgi_envelope_decode(bytes, len, &env);
        lgi_alloc_fail_after(0, 0);
        if (err == LG_OK)
            lgi_envelope_free(&env);
        else
            ck_assert_int_eq(err, LG_ERR_NOMEM);
    }
    lgi_free(bytes);
}
END_TEST

/* ---------------------------------------------------------------- quorum state */

START_TEST(quorum_state_round_trips_and_detects_damage) {
    char *dir = lgt_tmpdir("quorum");
    char *path = lgt_path(dir, "quorum-state");
    int32_t epoch, vote;
    ck_assert_int_eq(lgi_quorum_state_load(path, &epoch, &vote), LG_OK);
    ck_assert_int_eq(epoch, 0);
    ck_assert_int_eq(vote, -1);
    ck_assert_int_eq(lgi_quorum_state_save(path, 12, 3), LG_OK);
    ck_assert_int_eq(lgi_quorum_state_load(path, &epoch, &vote), LG_OK);
    ck_assert_int_eq(epoch, 12);
    ck_assert_int_eq(vote, 3);
    ck_assert_int_eq(lgt_flip_bit(path, 2, 1), 0);
    ck_assert_int_eq(lgi_quorum_state_load(path, &epoch, &vote),
                     LG_ERR_CORRUPT);
    lgt_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- cluster */

/* A synchronous cluster: sent envelopes queue FIFO and pump() delivers
 * them until quiet. */
#define N 3
typedef struct {
    int32_t from, to;
    uint8_t *bytes;
    size_t len;
} pkt_t;

typedef struct cluster {
    lgi_replica_node_t *nodes[N];
    lgt_memlog_t logs[N];
    pkt_t q[4096];
    size_t head, tail;
    int64_t now;
    int cut[N]; /* node isolated */
    int32_t ids[N];
    /* vote-before-grant witness */
    int granted_unpersisted;
} cluster_t;

static cluster_t *the_cluster;

static int csend(void *opaque, int32_t to, const void *bytes, size_t len) {
    cluster_t *c = the_cluster;
    int32_t from = *(int32_t *)opaque;
    lgi_envelope_t env;
    ck_assert_int_eq(lgi_envelope_decode(bytes, len, &env), LG_OK);
    for (uint32_t i = 0; i < env.count; i++)
        if (env.msgs[i].type == LGI_MSG_VOTE_RESPONSE && env.msgs[i].granted &&
            c->logs[from].state_vote != to)
            c->granted_unpersisted = 1;
    lgi_envelope_free(&env);
    if (c->cut[from] || c->cut[to])
        return 0;
    pkt_t *p = &c->q[c->tail++ % 4096];
    p->from = from;
    p->to = to;
    p->bytes = malloc(len);
    memcpy(p->bytes, bytes, len);
    p->len = len;
    return 0;
}

static void pump(cluster_t *c) {
    while (c->head != c->tail) {
        pkt_t p = c->q[c->head++ % 4096];
        if (!c->cut[p.to])
            lgi_replica_node_receive(c->nodes[p.to], p.from, p.bytes, p.len,
                                     c->now);
        free(p.bytes);
    }
}

static void advance(cluster_t *c, int64_t ms) {
    for (int64_t t = 0; t < ms; t += 5) {
        c->now += 5;
        for (int i = 0; i < N; i++)
            if (!c->cut[i])
                lgi_replica_node_tick(c->nodes[i], c->now);
        pump(c);
    }
}

static cluster_t *cluster_new(void) {
    cluster_t *c = calloc(1, sizeof *c);
    the_cluster = c;
    int32_t voters[N] = {0, 1, 2};
    for (int i = 0; i < N; i++) {
        c->ids[i] = i;
        lgi_replica_config_t conf = {.node_id = i,
                                     .cluster_id = 5,
                                     .seed = (uint64_t)i + 1,
                                     .election_timeout_ms = 100,
                                     .fetch_interval_ms = 10,
                                     .max_fetch_entries = 8,
                                     .send = csend,
                                     .send_opaque = &c->ids[i]};
        ck_assert_int_eq(lgi_replica_node_create(&conf, 0, &c->nodes[i]), LG_OK);
        lgi_replica_storage_t st = lgt_memlog_storage(&c->logs[i]);
        ck_assert_int_eq(lgi_replica_node_add(c->nodes[i], "t", 0, voters, N,
                                              &st, 0),
                         LG_OK);
    }
    return c;
}

static void cluster_free(cluster_t *c) {
    pump(c);
    for (int i = 0; i < N; i++) {
        lgi_replica_node_destroy(c->nodes[i]);
        lgt_memlog_free(&c->logs[i]);
    }
    free(c);
}

static int leader_of(cluster_t *c) {
    int leader = -1;
    for (int i = 0; i < N; i++) {
        lgi_replica_status_t st;
        ck_assert_int_eq(lgi_replica_status(c->nodes[i], "t", 0, &st), LG_OK);
        if (st.role == LGI_ROLE_LEADER && !c->cut[i]) {
            ck_assert_int_eq(leader, -1);
            leader = i;
        }
    }
    return leader;
}

START_TEST(single_voter_elects_itself_and_commits) {
    lgt_memlog_t log = {0};
    lgi_replica_node_t *node;
    int32_t self = 0;
    lgi_replica_config_t conf = {.node_id = 0, .seed = 1,
                                 .election_timeout_ms = 50,
                                 .fetch_interval_ms = 10, .send = csend,
                                 .send_opaque = &self};
    ck_assert_int_eq(lgi_replica_node_create(&conf, 0, &node), LG_OK);
    lgi_replica_storage_t st = lgt_memlog_storage(&log);
    ck_assert_int_eq(lgi_replica_node_add(node, "t", 0, &self, 1, &st, 0),
                     LG_OK);
    lgi_replica_node_tick(node, 200);
    lgi_replica_status_t s;
    lgi_replica_status(node, "t", 0, &s);
    ck_assert_int_eq(s.role, LGI_ROLE_LEADER);
    ck_assert_int_eq(s.epoch, 1);
    ck_assert_int_eq(log.state_epoch, 1); /* persisted */
    int64_t off;
    int32_t epoch;
    ck_assert_int_eq(lgi_replica_propose(node, "t", 0, "x", 1, &off, &epoch,
                                         NULL),
                     LG_OK);
    ck_assert_int_eq(off, 1); /* offset 0 is the leader-change marker */
    lgi_replica_status(node, "t", 0, &s);
    ck_assert_int_lt(s.high_watermark, 2); /* not durable yet */
    lgi_replica_node_tick(node, 210);      /* fsync, then HW */
    lgi_replica_status(node, "t", 0, &s);
    ck_assert_int_eq(s.high_watermark, 2);
    lgi_replica_node_destroy(node);
    lgt_memlog_free(&log);
}
END_TEST

START_TEST(cluster_elects_one_leader_and_replicates) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int leader = leader_of(c);
    ck_assert_int_ge(leader, 0);
    ck_assert_int_eq(c->granted_unpersisted, 0);
    int64_t off;
    int32_t epoch;
    ck_assert_int_eq(lgi_replica_propose(c->nodes[leader], "t", 0, "abc", 3,
                                         &off, &epoch, NULL),
                     LG_OK);
    advance(c, 200);
    for (int i = 0; i < N; i++) {
        lgi_replica_status_t st;
        lgi_replica_status(c->nodes[i], "t", 0, &st);
        ck_assert_int_eq(st.high_watermark, off + 1);
        ck_assert_int_eq(c->logs[i].count, off + 1);
        ck_assert_mem_eq(c->logs[i].entries[off].data, "abc", 3);
    }
    cluster_free(c);
}
END_TEST

START_TEST(propose_on_follower_names_the_leader) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int leader = leader_of(c);
    int follower = (leader + 1) % N;
    int32_t named = -2;
    ck_assert_int_eq(lgi_replica_propose(c->nodes[follower], "t", 0, "x", 1,
                                         NULL, NULL, &named),
                     LG_ERR_STATE);
    ck_assert_int_eq(named, leader);
    cluster_free(c);
}
END_TEST

START_TEST(isolated_leader_is_replaced_and_truncated_on_return) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int old = leader_of(c);
    c->cut[old] = 1;
    /* the isolated leader appends what can never commit */
    ck_assert_int_eq(lgi_replica_propose(c->nodes[old], "t", 0, "lost", 4,
                                         NULL, NULL, NULL),
                     LG_OK);
    advance(c, 1000);
    int fresh = leader_of(c);
    ck_assert_int_ge(fresh, 0);
    ck_assert_int_ne(fresh, old);
    int64_t off;
    ck_assert_int_eq(lgi_replica_propose(c->nodes[fresh], "t", 0, "kept", 4,
                                         &off, NULL, NULL),
                     LG_OK);
    c->cut[old] = 0;
    advance(c, 1000);
    ck_assert_int_eq(c->logs[old].count, c->logs[fresh].count);
    for (int64_t o = 0; o < c->logs[old].count; o++)
        ck_assert_int_eq(c->logs[old].entries[o].epoch,
                         c->logs[fresh].entries[o].epoch);
    ck_assert_mem_eq(c->logs[old].entries[off].data, "kept", 4);
    cluster_free(c);
}
END_TEST

START_TEST(transfer_hands_leadership_to_target) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int leader = leader_of(c);
    int target = (leader + 2) % N;
    ck_assert_int_eq(lgi_replica_transfer(c->nodes[(leader + 1) % N], "t", 0,
                                          target, c->now),
                     LG_ERR_STATE);
    ck_assert_int_eq(lgi_replica_transfer(c->nodes[leader], "t", 0, target,
                                          c->now),
                     LG_OK);
    pump(c);
    advance(c, 50);
    ck_assert_int_eq(leader_of(c), target);
    cluster_free(c);
}
END_TEST

START_TEST(unclean_election_only_when_forced) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int leader = leader_of(c);
    int a = (leader + 1) % N, b = (leader + 2) % N;
    /* a majority is gone: the survivor cannot elect itself */
    c->cut[leader] = 1;
    c->cut[b] = 1;
    advance(c, 2000);
    ck_assert_int_eq(leader_of(c), -1);
    ck_assert_int_eq(lgi_replica_force_leader(c->nodes[a], "t", 0, c->now),
                     LG_OK);
    ck_assert_int_eq(leader_of(c), a);
    int64_t off;
    ck_assert_int_eq(lgi_replica_propose(c->nodes[a], "t", 0, "u", 1, &off,
                                         NULL, NULL),
                     LG_OK);
    /* the others return and follow the forced log */
    c->cut[leader] = c->cut[b] = 0;
    advance(c, 1000);
    ck_assert_int_ge(leader_of(c), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_ge(c->logs[i].count, off + 1);
    cluster_free(c);
}
END_TEST

START_TEST(receive_rejects_foreign_envelopes) {
    cluster_t *c = cluster_new();
    lgi_msg_t m = {.type = LGI_MSG_BEGIN_QUORUM, .topic = "t", .epoch = 50,
                   .node = 1, .diverging_end = -1};
    lgi_envelope_t env = {.from = 1, .to = 0, .cluster_id = 6, .count = 1,
                          .msgs = &m};
    uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, &len), LG_OK);
    /* wrong cluster */
    ck_assert_int_eq(lgi_replica_node_receive(c->nodes[0], 1, bytes, len, 0),
                     LG_ERR_CORRUPT);
    lgi_free(bytes);
    env.cluster_id = 5;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, &len), LG_OK);
    /* claimed sender differs from the transport's */
    ck_assert_int_eq(lgi_replica_node_receive(c->nodes[0], 2, bytes, len, 0),
                     LG_ERR_CORRUPT);
    /* addressed to another node */
    ck_assert_int_eq(lgi_replica_node_receive(c->nodes[2], 1, bytes, len, 0),
                     LG_ERR_CORRUPT);
    lgi_replica_status_t st;
    lgi_replica_status(c->nodes[0], "t", 0, &st);
    ck_assert_int_eq(st.epoch, 0);
    /* genuine: node 0 follows node 1 in epoch 50 */
    ck_assert_int_eq(lgi_replica_node_receive(c->nodes[0], 1, bytes, len, 0),
                     LG_OK);
    lgi_replica_status(c->nodes[0], "t", 0, &st);
    ck_assert_int_eq(st.epoch, 50);
    ck_assert_int_eq(st.leader, 1);
    ck_assert_int_eq(c->logs[0].state_epoch, 50);
    lgi_free(bytes);
    cluster_free(c);
}
END_TEST

/* Found by fuzz_replica_msg: a diverging answer naming no place (-1) from
 * the leader must not truncate anything. */
START_TEST(diverging_response_without_a_place_is_ignored) {
    cluster_t *c = cluster_new();
    lgi_replica_storage_t st = lgt_memlog_storage(&c->logs[0]);
    st.append(st.opaque, 1, (const uint8_t *)"a", 1);
    st.append(st.opaque, 1, (const uint8_t *)"b", 1);
    lgi_msg_t msgs[2] = {
        {.type = LGI_MSG_BEGIN_QUORUM, .topic = "t", .epoch = 50, .node = 1,
         .diverging_end = -1},
        {.type = LGI_MSG_FETCH_RESPONSE, .topic = "t", .epoch = 50, .node = 1,
         .kind = LGI_FETCH_DIVERGING, .offset = 2, .last_epoch = 1,
         .diverging_epoch = 0, .diverging_end = -1}};
    lgi_envelope_t env = {.from = 1, .to = 0, .cluster_id = 5, .count = 2,
                          .msgs = msgs};
    uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, &len), LG_OK);
    ck_assert_int_eq(lgi_replica_node_receive(c->nodes[0], 1, bytes, len, 0),
                     LG_OK);
    ck_assert_int_eq(c->logs[0].count, 2);
    ck_assert_int_eq(c->logs[0].truncations, 0);
    lgi_free(bytes);
    cluster_free(c);
}
END_TEST

/* Delivers one message from node `from` to node `to` (not pumped) and
 * returns in *out the first message of type `type` that `to` queued for
 * `from` in answer; the queue is emptied.  0 when there is none. */
static int exchange(cluster_t *c, int from, int to, const lgi_msg_t *m,
                    uint8_t type, lgi_msg_t *out) {
    lgi_envelope_t env = {.from = from, .to = to, .cluster_id = 5,
                          .count = 1, .msgs = (lgi_msg_t *)m};
    uint8_t *bytes;
    size_t len;
    ck_assert_int_eq(lgi_envelope_encode(&env, &bytes, &len), LG_OK);
    ck_assert_int_eq(
        lgi_replica_node_receive(c->nodes[to], from, bytes, len, c->now),
        LG_OK);
    lgi_free(bytes);
    int found = 0;
    while (c->head != c->tail) {
        pkt_t p = c->q[c->head++ % 4096];
        lgi_envelope_t got;
        ck_assert_int_eq(lgi_envelope_decode(p.bytes, p.len, &got), LG_OK);
        for (uint32_t i = 0; i < got.count; i++)
            if (!found && p.from == to && p.to == from &&
                got.msgs[i].type == type) {
                *out = got.msgs[i];
                out->entries = NULL;
                found = 1;
            }
        lgi_envelope_free(&got);
        free(p.bytes);
    }
    return found;
}

static lgi_msg_t pre_vote(int32_t candidate, int32_t epoch,
                          int32_t last_epoch, int64_t end) {
    lgi_msg_t m = {.type = LGI_MSG_PRE_VOTE, .topic = "t", .epoch = epoch,
                   .node = candidate, .last_epoch = last_epoch,
                   .offset = end, .diverging_end = -1,
                   .diverging_epoch = -1};
    return m;
}

START_TEST(pre_vote_changes_nothing_and_checks_the_log) {
    cluster_t *c = cluster_new();
    lgi_replica_storage_t st = lgt_memlog_storage(&c->logs[0]);
    st.append(st.opaque, 3, (const uint8_t *)"a", 1);
    st.append(st.opaque, 3, (const uint8_t *)"b", 1);
    ck_assert_int_eq(st.save_state(st.opaque, 4, 2), 0);
    long saves = c->logs[0].state_saves;
    lgi_replica_node_destroy(c->nodes[0]);
    lgi_replica_config_t conf = {.node_id = 0, .cluster_id = 5, .seed = 9,
                                 .election_timeout_ms = 100,
                                 .fetch_interval_ms = 10, .send = csend,
                                 .send_opaque = &c->ids[0]};
    ck_assert_int_eq(lgi_replica_node_create(&conf, 0, &c->nodes[0]), LG_OK);
    int32_t voters[N] = {0, 1, 2};
    ck_assert_int_eq(lgi_replica_node_add(c->nodes[0], "t", 0, voters, N, &st,
                                          0),
                     LG_OK);
    lgi_msg_t r, m;
    /* up to date and a later epoch: granted, yet nothing moves */
    m = pre_vote(1, 9, 3, 2);
    ck_assert(exchange(c, 1, 0, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 1);
    ck_assert_int_eq(r.epoch, 4);      /* the voter's own epoch */
    ck_assert_int_eq(r.last_epoch, 9); /* the epoch asked about */
    ck_assert_int_eq(r.node, -1);      /* it knows no leader */
    lgi_replica_status_t s;
    lgi_replica_status(c->nodes[0], "t", 0, &s);
    ck_assert_int_eq(s.epoch, 4);
    ck_assert_int_eq(s.voted_for, 2);
    ck_assert_int_eq(c->logs[0].state_saves, saves);
    ck_assert_int_eq(c->logs[0].state_epoch, 4);
    ck_assert_int_eq(c->logs[0].state_vote, 2);
    /* a log behind: shorter in the same last epoch, or an older epoch */
    m = pre_vote(1, 9, 3, 1);
    ck_assert(exchange(c, 1, 0, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 0);
    m = pre_vote(1, 9, 2, 7);
    ck_assert(exchange(c, 1, 0, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 0);
    /* an epoch not beyond the voter's: refused, the answer carries the
     * voter's epoch so the asker catches up */
    m = pre_vote(1, 4, 3, 2);
    ck_assert(exchange(c, 1, 0, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 0);
    ck_assert_int_eq(r.epoch, 4);
    /* a sender that is not the candidate named gets no answer */
    m = pre_vote(2, 9, 3, 2);
    ck_assert(!exchange(c, 1, 0, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(c->logs[0].state_saves, saves);
    cluster_free(c);
}
END_TEST

START_TEST(pre_vote_refused_while_the_leader_is_live) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int leader = leader_of(c);
    ck_assert_int_ge(leader, 0);
    int f = (leader + 1) % N, o = (leader + 2) % N;
    lgi_replica_status_t s;
    lgi_replica_status(c->nodes[f], "t", 0, &s);
    int32_t epoch = s.epoch;
    int64_t end = c->logs[f].count;
    int32_t last = c->logs[f].entries[end - 1].epoch;
    lgi_msg_t r, m = pre_vote(o, epoch + 1, last, end);
    /* the follower fetched from the leader moments ago, and the leader
     * is the leader: both refuse, naming it */
    ck_assert(exchange(c, o, f, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 0);
    ck_assert_int_eq(r.node, leader);
    ck_assert(exchange(c, o, leader, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 0);
    ck_assert_int_eq(r.node, leader);
    /* the leader gone for longer than an election timeout: granted */
    c->cut[leader] = 1;
    c->cut[o] = 1; /* o must not stand itself meanwhile */
    for (int i = 0; i < 24; i++) { /* 120 ms > the 100 ms timeout */
        c->now += 5;
        lgi_replica_node_tick(c->nodes[f], c->now);
        pump(c);
    }
    c->cut[o] = 0;
    ck_assert(exchange(c, o, f, &m, LGI_MSG_PRE_VOTE_RESPONSE, &r));
    ck_assert_int_eq(r.granted, 1);
    lgi_replica_status(c->nodes[f], "t", 0, &s);
    ck_assert_int_eq(s.epoch, epoch); /* still nothing moved */
    cluster_free(c);
}
END_TEST

START_TEST(rejoining_node_learns_the_leader_from_pre_vote_answers) {
    cluster_t *c = cluster_new();
    advance(c, 1000);
    int leader = leader_of(c);
    int x = (leader + 1) % N;
    lgi_replica_status_t s;
    lgi_replica_status(c->nodes[leader], "t", 0, &s);
    int32_t epoch = s.epoch;
    /* x alone for many election timeouts: it pre-votes and never stands,
     * so its epoch stays; the others keep their leader */
    c->cut[x] = 1;
    for (int t = 0; t < 2000; t += 5) {
        c->now += 5;
        lgi_replica_node_tick(c->nodes[x], c->now);
        for (int i = 0; i < N; i++)
            if (i != x)
                lgi_replica_node_tick(c->nodes[i], c->now);
        pump(c);
    }
    lgi_replica_status(c->nodes[x], "t", 0, &s);
    ck_assert_int_eq(s.epoch, epoch);
    ck_assert_int_ne(s.role, LGI_ROLE_CANDIDATE);
    c->cut[x] = 0;
    advance(c, 500);
    ck_assert_int_eq(leader_of(c), leader);
    lgi_replica_status(c->nodes[leader], "t", 0, &s);
    ck_assert_int_eq(s.epoch, epoch);
    lgi_replica_status(c->nodes[x], "t", 0, &s);
    ck_assert_int_eq(s.role, LGI_ROLE_FOLLOWER);
    ck_assert_int_eq(s.leader, leader);
    cluster_free(c);
}
END_TEST

static Suite *replica_suite(void) {
    Suite *s = suite_create("replica");
    TCase *wire = tcase_create("wire");
    tcase_add_test(wire, envelope_round_trips_every_field);
    tcase_add_test(wire, decoder_rejects_bad_header_and_checksum);
    tcase_add_test(wire, decoder_rejects_bad_counts_types_and_fields);
    tcase_add_test(wire, decoder_rejects_trailing_bytes_and_oversize);
    tcase_add_test(wire, encoder_rejects_over_limits);
    tcase_add_test(wire, random_mutations_are_never_accepted);
    tcase_add_test(wire, decoder_out_of_memory_leaves_nothing);
    tcase_add_test(wire, quorum_state_round_trips_and_detects_damage);
    suite_add_tcase(s, wire);
    TCase *core = tcase_create("core");
    tcase_add_test(core, single_voter_elects_itself_and_commits);
    tcase_add_test(core, cluster_elects_one_leader_and_replicates);
    tcase_add_test(core, propose_on_follower_names_the_leader);
    tcase_add_test(core, isolated_leader_is_replaced_and_truncated_on_return);
    tcase_add_test(core, transfer_hands_leadership_to_target);
    tcase_add_test(core, unclean_election_only_when_forced);
    tcase_add_test(core, receive_rejects_foreign_envelopes);
    tcase_add_test(core, diverging_response_without_a_place_is_ignored);
    tcase_add_test(core, pre_vote_changes_nothing_and_checks_the_log);
    tcase_add_test(core, pre_vote_refused_while_the_leader_is_live);
    tcase_add_test(core, rejoining_node_learns_the_leader_from_pre_vote_answers);
    suite_add_tcase(s, core);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(replica_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
