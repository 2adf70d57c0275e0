/*
 * test_replica_log.c -- the replication core running over real partition
 * logs through the storage adapter (lib/replica_log.c): three nodes in one
 * process, each with its own partition directory, joined by an in-memory
 * transport and driven on virtual time by this one thread.  Produce on the
 * leader, kill (close) the leader, a follower takes over, no entry the
 * high watermark covered is lost, and the restarted node converges to
 * byte-identical logs.
 */
#include "logtest.h"
#include "metafile.h"
#include "replica.h"
#include "replica_log.h"

#define NODES 3

typedef struct {
    int32_t from, to;
    uint8_t *bytes;
    size_t len;
} packet_t;

static packet_t queue_[4096];
static size_t queued;
static lgi_io_t *io;
static char *dirs[NODES];
static lgi_partition_t *parts[NODES];
static lgi_replica_log_t *logs[NODES];
static lgi_replica_node_t *nodes[NODES];
static int64_t now;
static uint64_t net_seed; /* 0: a perfect network */

static uint64_t net_random(void) {
    uint64_t z = (net_seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static const int32_t voters[NODES] = {0, 1, 2};

static int send_cb(void *opaque, int32_t to, const void *bytes, size_t len) {
    int32_t from = (int32_t)(intptr_t)opaque;
    if (queued == sizeof queue_ / sizeof queue_[0])
        return -1; /* dropped: the protocol tolerates loss */
    uint8_t *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, bytes, len);
    queue_[queued++] = (packet_t){from, to, copy, len};
    return 0;
}

static void start_node(int i) {
    lgi_log_config_t config;
    lgt_default_config(&config);
    config.segment_bytes = 4096; /* several segments: truncation crosses them */
    ck_assert_int_eq(
        lgi_partition_open(dirs[i], &config, io, 0, 0, now, &parts[i]), LG_OK);
    char *state = lgt_path(dirs[i], "quorum-state");
    ck_assert_int_eq(lgi_replica_log_open(parts[i], state, now, &logs[i]),
                     LG_OK);
    free(state);
    lgi_replica_config_t rc = {.node_id = i,
                               .cluster_id = 77,
                               .seed = 1000 + (uint64_t)i,
                               .election_timeout_ms = 100,
                               .fetch_interval_ms = 10,
                               .max_fetch_entries = 16,
                               .send = send_cb,
                               .send_opaque = (void *)(intptr_t)i};
    ck_assert_int_eq(lgi_replica_node_create(&rc, now, &nodes[i]), LG_OK);
    lgi_replica_storage_t storage = lgi_replica_log_storage(logs[i]);
    ck_assert_int_eq(lgi_replica_node_add(nodes[i], "t", 0, voters, NODES,
                                          &storage, now),
                     LG_OK);
}

static void kill_node(int i) {
    lgi_replica_node_destroy(nodes[i]);
    lgi_replica_log_close(logs[i]);
    ck_assert_int_eq(lgi_partition_close(parts[i]), LG_OK);
    nodes[i] = NULL;
    logs[i] = NULL;
    parts[i] = NULL;
}

/* One step of virtual time: tick every live node, then deliver until the
 * network is quiet (messages to dead nodes are lost). */
static void step(void) {
    now += 5;
    for (int i = 0; i < NODES; i++)
        if (nodes[i]) {
            lgi_replica_log_set_time(logs[i], now);
            lgi_replica_node_tick(nodes[i], now);
            lgi_replica_log_release_reads(logs[i]);
        }
    for (int round = 0; round < 20 && queued > 0; round++) {
        packet_t batch[4096];
        size_t n = queued;
        memcpy(batch, queue_, n * sizeof *batch);
        queued = 0;
        if (net_seed && net_random() % 4 == 0) /* reorder */
            for (size_t k = 0; k < n / 2; k++) {
                packet_t t = batch[k];
                batch[k] = batch[n - 1 - k];
                batch[n - 1 - k] = t;
            }
        for (size_t k = 0; k < n; k++) {
            int to = batch[k].to;
            int copies = 1;
            if (net_seed) {
                uint64_t r = net_random() % 20;
                copies = r < 2 ? 0 : r == 2 ? 2 : 1; /* drop / duplicate */
            }
            for (int c = 0; c < copies; c++)
            if (to >= 0 && to < NODES && nodes[to])
            {
                lgi_replica_node_receive(nodes[to], batch[k].from,
                                         batch[k].bytes, batch[k].len, now);
                lgi_replica_log_release_reads(logs[to]);
            }
            free(batch[k].bytes);
        }
    }
}

static int leader_of(int except) {
    for (int i = 0; i < NODES; i++) {
        lgi_replica_status_t st;
        if (i == except || nodes[i] == NULL)
            continue;
        ck_assert_int_eq(lgi_replica_status(nodes[i], "t", 0, &st), LG_OK);
        if (st.role == LGI_ROLE_LEADER)
            return i;
    }
    return -1;
}

static int wait_leader(int except) {
    for (int s = 0; s < 400; s++) {
        int l = leader_of(except);
        if (l >= 0)
            return l;
        step();
    }
    ck_abort_msg("no leader elected");
    return -1;
}

static int64_t hw_of(int i) {
    lgi_replica_status_t st;
    ck_assert_int_eq(lgi_replica_status(nodes[i], "t", 0, &st), LG_OK);
    return st.high_watermark;
}

/* The partition's bytes [0, end) (record offsets). */
static uint8_t *log_bytes(int i, int64_t end, size_t *lenp) {
    size_t total = 0;
    uint8_t *all = NULL;
    int64_t offset = 0;
    while (offset < end) {
        uint8_t *data;
        size_t len;
        ck_assert_int_eq(lgi_partition_read(parts[i], offset, 1 << 20, &data,
                                            &len),
                         LG_OK);
        ck_assert_ptr_nonnull(data);
        size_t at = 0;
        while (at < len && offset < end) {
            lgi_batch_header_t h;
            ck_assert_int_eq(
                lgi_batch_parse_header(data + at, len - at, SIZE_MAX, &h),
                LG_OK);
            all = realloc(all, total + lgi_batch_size(&h));
            memcpy(all + total, data + at, lgi_batch_size(&h));
            total += lgi_batch_size(&h);
            at += lgi_batch_size(&h);
            offset = lgi_batch_last_offset(&h) + 1;
        }
        lgi_free(data);
    }
    *lenp = total;
    return all;
}

typedef struct {
    int64_t entry, base;
    int32_t epoch;
    int records;
    int acked; /* a high watermark covered it at its epoch */
} proposal_t;

static proposal_t proposals[256];
static size_t proposal_count;

static void propose(int leader, int records) {
    size_t len;
    uint8_t *batch = lgt_batch(records, now, 20, &len);
    proposal_t *p = &proposals[proposal_count++];
    ck_assert_int_eq(lgi_replica_propose(nodes[leader], "t", 0, batch,
                                         (uint32_t)len, &p->entry, &p->epoch,
                                         NULL),
                     LG_OK);
    p->base = lgi_replica_log_record_offset(logs[leader], p->entry);
    p->records = records;
    p->acked = 0;
    lgi_free(batch);
}

/* Every proposal below the HW of node i (at its epoch) is in i's log at
 * the same entry, base offset and epoch. */
static size_t check_committed(int i, int64_t hw) {
    size_t acked = 0;
    for (size_t k = 0; k < proposal_count; k++) {
        proposal_t *p = &proposals[k];
        if (p->entry >= hw)
            continue;
        lgi_replica_storage_t s = lgi_replica_log_storage(logs[i]);
        int32_t epoch;
        const uint8_t *data;
        uint32_t len;
        if (s.read(s.opaque, p->entry, &epoch, &data, &len) != 0 ||
            epoch != p->epoch)
            continue; /* not this epoch's entry: was never acked */
        lgi_batch_header_t h;
        ck_assert_int_eq(lgi_batch_parse_header(data, len, SIZE_MAX, &h),
                         LG_OK);
        ck_assert_int_eq(h.base_offset, p->base);
        ck_assert_int_eq(h.record_count, p->records);
        acked++;
    }
    return acked;
}

static void setup(void) {
    io = lgt_io();
    for (int i = 0; i < NODES; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "rlog%d", i);
        dirs[i] = lgt_tmpdir(tag);
    }
    now = 1000;
    net_seed = 0;
    queued = 0;
    proposal_count = 0;
}

static void teardown(void) {
    for (int i = 0; i < NODES; i++) {
        if (nodes[i])
            kill_node(i);
        lgt_rmrf(dirs[i]);
        free(dirs[i]);
    }
    for (size_t k = 0; k < queued; k++)
        free(queue_[k].bytes);
    queued = 0;
    lgi_io_close(io);
}

START_TEST(leader_failover_keeps_every_committed_batch) {
    for (int i = 0; i < NODES; i++)
        start_node(i);
    int leader = wait_leader(-1);
    /* The leader's first entry is its leader-change marker: a control
     * batch that readers skip. */
    {
        uint8_t *data;
        size_t len;
        ck_assert_int_eq(lgi_partition_read(parts[leader], 0, 1, &data, &len),
                         LG_OK);
        lgi_batch_header_t h;
        ck_assert_int_eq(lgi_batch_validate(data, len, SIZE_MAX, &h), LG_OK);
        ck_assert(h.attributes & LGI_ATTR_CONTROL);
        lgi_free(data);
    }
    for (int k = 0; k < 40; k++) {
        propose(leader, 1 + k % 5);
        if (k % 4 == 0)
            step();
    }
    for (int s = 0; s < 40; s++)
        step();
    int64_t hw = hw_of(leader);
    ck_assert_int_eq(hw, lgi_replica_log_count(logs[leader]));
    ck_assert_uint_eq(check_committed(leader, hw), 40);
    /* Followers hold byte-identical logs up to the HW. */
    int64_t end = lgi_replica_log_record_offset(logs[leader], hw);
    size_t ref_len;
    uint8_t *ref = log_bytes(leader, end, &ref_len);
    for (int i = 0; i < NODES; i++) {
        size_t len;
        uint8_t *b = log_bytes(i, end, &len);
        ck_assert_uint_eq(len, ref_len);
        ck_assert(memcmp(b, ref, len) == 0);
        free(b);
    }
    free(ref);

    /* Uncommitted tail on the old leader, then it dies. */
    propose(leader, 3);
    propose(leader, 2);
    int old = leader;
    kill_node(old);
    leader = wait_leader(old);
    ck_assert_int_ne(leader, old);
    for (int s = 0; s < 10; s++)
        step();
    ck_assert_uint_ge(check_committed(leader, hw_of(leader)), 40);
    for (int k = 0; k < 20; k++) {
        propose(leader, 2);
        step();
    }
    for (int s = 0; s < 40; s++)
        step();
    hw = hw_of(leader);
    ck_assert_int_eq(hw, lgi_replica_log_count(logs[leader]));
    ck_assert_uint_ge(check_committed(leader, hw), 60);

    /* The old leader restarts from its files, truncates what it alone
     * held, and converges byte for byte. */
    start_node(old);
    for (int s = 0; s < 100; s++)
        step();
    ck_assert_int_eq(leader_of(-1), leader);
    hw = hw_of(leader);
    end = lgi_replica_log_record_offset(logs[leader], hw);
    ck_assert_int_eq(end, lgi_partition_published_end(parts[leader]));
    ref = log_bytes(leader, end, &ref_len);
    for (int i = 0; i < NODES; i++) {
        ck_assert_int_eq(lgi_replica_log_count(logs[i]), hw);
        ck_assert_int_eq(lgi_partition_published_end(parts[i]), end);
        size_t len;
        uint8_t *b = log_bytes(i, end, &len);
        ck_assert_uint_eq(len, ref_len);
        ck_assert(memcmp(b, ref, len) == 0);
        free(b);
        ck_assert_uint_ge(check_committed(i, hw), 60);
    }
    free(ref);
}
END_TEST

START_TEST(untrusted_entries_are_rejected) {
    start_node(0);
    lgi_replica_storage_t s = lgi_replica_log_storage(logs[0]);
    size_t len;
    uint8_t *batch = lgt_batch(3, now, 10, &len);
    ck_assert_int_eq(s.append(s.opaque, 1, batch, (uint32_t)len), 0);
    /* torn, trailing garbage, flipped bit, not a batch */
    ck_assert_int_eq(s.append(s.opaque, 1, batch, (uint32_t)len - 1), -1);
    uint8_t *longer = malloc(len + 4);
    memcpy(longer, batch, len);
    memset(longer + len, 0, 4);
    ck_assert_int_eq(s.append(s.opaque, 1, longer, (uint32_t)len + 4), -1);
    free(longer);
    batch[len - 1] ^= 1;
    ck_assert_int_eq(s.append(s.opaque, 1, batch, (uint32_t)len), -1);
    ck_assert_int_eq(s.append(s.opaque, 1, (const uint8_t *)"hello", 5), -1);
    const char *why;
    ck_assert_int_eq(lgi_replica_log_append_error(logs[0], &why),
                     LG_ERR_CORRUPT);
    ck_assert_int_eq(lgi_replica_log_append_error(logs[0], &why), LG_OK);
    lgi_free(batch);
    ck_assert_int_eq(s.end_offset(s.opaque), 1);
    ck_assert_int_eq(lgi_partition_published_end(parts[0]), 3);
    /* epochs, OffsetsForLeaderEpoch and truncation in entries */
    batch = lgt_batch(2, now, 10, &len);
    ck_assert_int_eq(s.append(s.opaque, 3, batch, (uint32_t)len), 0);
    ck_assert_int_eq(s.append(s.opaque, 3, batch, (uint32_t)len), 0);
    lgi_free(batch);
    int32_t e;
    int64_t e_end;
    s.end_offset_for_epoch(s.opaque, 2, &e, &e_end);
    ck_assert_int_eq(e, 1);
    ck_assert_int_eq(e_end, 1);
    s.end_offset_for_epoch(s.opaque, 0, &e, &e_end);
    ck_assert_int_eq(e, -1);
    ck_assert_int_eq(lgi_replica_log_record_offset(logs[0], 2), 5);
    ck_assert_int_eq(lgi_replica_log_entry_of(logs[0], 4), 1);
    ck_assert_int_eq(lgi_replica_log_entry_of(logs[0], 6), 2);
    ck_assert_int_eq(s.sync(s.opaque), 0);
    ck_assert_int_eq(s.durable_end(s.opaque), 3);
    ck_assert_int_eq(s.truncate_to(s.opaque, 1), 0);
    ck_assert_int_eq(s.end_offset(s.opaque), 1);
    ck_assert_int_eq(lgi_partition_published_end(parts[0]), 3);
    ck_assert_int_eq(s.save_state(s.opaque, 4, 2), 0);
    /* a reopen rebuilds the table and the quorum state */
    kill_node(0);
    start_node(0);
    s = lgi_replica_log_storage(logs[0]);
    ck_assert_int_eq(s.end_offset(s.opaque), 1);
    int32_t vote;
    s.load_state(s.opaque, &e, &vote);
    ck_assert_int_eq(e, 4);
    ck_assert_int_eq(vote, 2);
    int32_t epoch;
    const uint8_t *data;
    uint32_t dlen;
    ck_assert_int_eq(s.read(s.opaque, 0, &epoch, &data, &dlen), 0);
    ck_assert_int_eq(epoch, 1);
    ck_assert_int_eq(s.read(s.opaque, 1, &epoch, &data, &dlen), -1);
}
END_TEST

/* Reads the partition (as replication and consumers do) at offset and
 * checks the first batch returned is base..base+count-1 with the bytes
 * of want from the magic on. */
static void expect_first_batch(int64_t offset, int64_t base, int count,
                               const uint8_t *want, size_t want_len) {
    uint8_t *data;
    size_t len;
    lgi_batch_header_t h;
    ck_assert_int_eq(lgi_partition_read_uncapped(parts[0], offset, 1, &data,
                                                 &len),
                     LG_OK);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, &h), LG_OK);
    ck_assert_int_eq(h.base_offset, base);
    ck_assert_int_eq(lgi_batch_last_offset(&h), base + count - 1);
    ck_assert_uint_eq(len, want_len);
    ck_assert_int_eq(memcmp(data + 16, want + 16, want_len - 16), 0);
    lgi_free(data);
}

/* A follower's divergence truncation through the storage adapter, then
 * entries of other sizes in its place: reads at the old batch ends (each
 * remembered as a published end before) find the new batches. */
START_TEST(reads_after_a_divergence_truncation_find_the_new_entries) {
    start_node(0);
    lgi_replica_storage_t s = lgi_replica_log_storage(logs[0]);
    size_t len;
    for (int k = 0; k < 6; k++) { /* entries 0..5: offsets 2k, 2k + 1 */
        uint8_t *batch = lgt_batch(2, now + k, 30, &len);
        ck_assert_int_eq(s.append(s.opaque, 1, batch, (uint32_t)len), 0);
        expect_first_batch(2 * k, 2 * k, 2, batch, len);
        lgi_free(batch);
    }
    ck_assert_int_eq(s.truncate_to(s.opaque, 2), 0);
    ck_assert_int_eq(s.end_offset(s.opaque), 2);
    ck_assert_int_eq(lgi_partition_end_offset(parts[0]), 4);
    uint8_t *kept[3];
    size_t kept_len[3];
    for (int k = 0; k < 3; k++) { /* entries 2..4: offsets 4..6, 7..9, ... */
        kept[k] = lgt_batch(3, now + 100 + k, 50, &kept_len[k]);
        ck_assert_int_eq(s.append(s.opaque, 2, kept[k], (uint32_t)kept_len[k]),
                         0);
    }
    for (int64_t offset = 4; offset < 13; offset++) {
        int k = (int)(offset - 4) / 3;
        expect_first_batch(offset, 4 + 3 * k, 3, kept[k], kept_len[k]);
    }
    for (int k = 0; k < 3; k++)
        lgi_free(kept[k]);
}
END_TEST

/* Writes dir's replica-log-start file (as a crash would leave it). */
static void write_start(int i, const char *body) {
    char *path = lgt_path(dirs[i], "replica-log-start");
    ck_assert_int_eq(lgi_metafile_write(path, body, strlen(body)), LG_OK);
    free(path);
}

static void expect_start(lgi_replica_storage_t *s, int64_t first,
                         int32_t epoch, int64_t offset) {
    int64_t got_first, got_offset;
    int32_t got_epoch;
    s->log_start(s->opaque, &got_first, &got_epoch, &got_offset);
    ck_assert_int_eq(got_first, first);
    ck_assert_int_eq(got_epoch, epoch);
    ck_assert_int_eq(got_offset, offset);
}

START_TEST(log_start_survives_deletion_reset_and_crashes) {
    start_node(0);
    lgi_replica_storage_t s = lgi_replica_log_storage(logs[0]);
    /* 40 entries of 10 records; entry k has epoch 1 + k / 10 */
    for (int k = 0; k < 40; k++) {
        size_t len;
        uint8_t *batch = lgt_batch(10, now, 100, &len);
        ck_assert_int_eq(s.append(s.opaque, 1 + k / 10, batch, (uint32_t)len),
                         0);
        lgi_free(batch);
    }
    ck_assert_int_eq(s.sync(s.opaque), 0);
    expect_start(&s, 0, 0, 0);

    /* Deleting below entry 25 keeps the numbering: the table starts
     * there, the partition deleted whole segments below its offset. */
    ck_assert_int_eq(s.delete_before(s.opaque, 25), 0);
    expect_start(&s, 25, 3, 250);
    ck_assert_int_gt(lgi_partition_log_start(parts[0]), 0);
    ck_assert_int_le(lgi_partition_log_start(parts[0]), 250);
    int32_t epoch, e;
    int64_t e_end;
    const uint8_t *data;
    uint32_t dlen;
    ck_assert_int_eq(s.read(s.opaque, 24, &epoch, &data, &dlen), -1);
    ck_assert_int_eq(s.read(s.opaque, 25, &epoch, &data, &dlen), 0);
    ck_assert_int_eq(epoch, 3);
    s.end_offset_for_epoch(s.opaque, 3, &e, &e_end);
    ck_assert_int_eq(e, 3);
    ck_assert_int_eq(e_end, 30);
    s.end_offset_for_epoch(s.opaque, 2, &e, &e_end); /* unknown below */
    ck_assert_int_eq(e, -1);
    ck_assert_int_eq(s.truncate_to(s.opaque, 20), -1); /* never below it */
    ck_assert_int_eq(lgi_replica_log_record_offset(logs[0], 10), 250);
    ck_assert_int_eq(lgi_replica_log_entry_of(logs[0], 100), 25);
    lgi_replica_log_release_reads(logs[0]);

    /* A reopen numbers the batches from the persisted start. */
    kill_node(0);
    start_node(0);
    s = lgi_replica_log_storage(logs[0]);
    expect_start(&s, 25, 3, 250);
    ck_assert_int_eq(s.end_offset(s.opaque), 40);
    ck_assert_int_eq(lgi_replica_log_record_offset(logs[0], 39), 390);

    /* A crash between writing the file and deleting: open deletes. */
    kill_node(0);
    write_start(0, "entry 35\noffset 350\nepoch 4\nreset 0\n");
    start_node(0);
    s = lgi_replica_log_storage(logs[0]);
    expect_start(&s, 35, 4, 350);
    ck_assert_int_eq(s.end_offset(s.opaque), 40);
    ck_assert_int_gt(lgi_partition_log_start(parts[0]), 250);

    /* A crash in a reset (file marked, partition not yet restarted):
     * open finishes it. */
    kill_node(0);
    write_start(0, "entry 60\noffset 600\nepoch 5\nreset 1\n");
    start_node(0);
    s = lgi_replica_log_storage(logs[0]);
    expect_start(&s, 60, 5, 600);
    ck_assert_int_eq(s.end_offset(s.opaque), 60);
    ck_assert_int_eq(lgi_partition_log_start(parts[0]), 600);
    ck_assert_int_eq(lgi_partition_end_offset(parts[0]), 600);
    size_t len;
    uint8_t *batch = lgt_batch(10, now, 100, &len);
    ck_assert_int_eq(s.append(s.opaque, 6, batch, (uint32_t)len), 0);
    lgi_free(batch);
    ck_assert_int_eq(lgi_replica_log_record_offset(logs[0], 60), 600);
    s.end_offset_for_epoch(s.opaque, 5, &e, &e_end); /* the entry before */
    ck_assert_int_eq(e, 5);
    ck_assert_int_eq(e_end, 60);

    /* A reset through the storage table, as the core does it. */
    ck_assert_int_eq(s.reset_to(s.opaque, 80, 7, 900), 0);
    expect_start(&s, 80, 7, 900);
    ck_assert_int_eq(s.end_offset(s.opaque), 80);
    ck_assert_int_eq(lgi_partition_log_start(parts[0]), 900);
    kill_node(0);
    start_node(0);
    s = lgi_replica_log_storage(logs[0]);
    expect_start(&s, 80, 7, 900);
    ck_assert_int_eq(s.end_offset(s.opaque), 80);

    /* Damaged, or naming an offset below the partition's start: refused
     * by name. */
    kill_node(0);
    static const char *bad[] = {"entry 1\n",
                                "entry -1\noffset 0\nepoch 0\nreset 0\n",
                                "entry 1\noffset 10\nepoch 0\nreset 0\n"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        write_start(0, bad[k]);
        lgi_log_config_t config;
        lgt_default_config(&config);
        ck_assert_int_eq(lgi_partition_open(dirs[0], &config, io, 0, 0, now,
                                            &parts[0]),
                         LG_OK);
        char *state = lgt_path(dirs[0], "quorum-state");
        ck_assert_int_eq(lgi_replica_log_open(parts[0], state, now, &logs[0]),
                         LG_ERR_CORRUPT);
        ck_assert_msg(strstr(lg_last_error_message(), "replica") != NULL,
                      "%s", lg_last_error_message());
        free(state);
        ck_assert_int_eq(lgi_partition_close(parts[0]), LG_OK);
        parts[0] = NULL;
        logs[0] = NULL;
    }
}
END_TEST

/* Marks what the leader's high watermark covers at the proposal's epoch:
 * what acks=all would acknowledge. */
static void mark_acked(int leader) {
    int64_t hw = hw_of(leader);
    lgi_replica_storage_t s = lgi_replica_log_storage(logs[leader]);
    for (size_t k = 0; k < proposal_count; k++) {
        proposal_t *p = &proposals[k];
        int32_t epoch;
        const uint8_t *data;
        uint32_t len;
        if (!p->acked && p->entry < hw &&
            s.read(s.opaque, p->entry, &epoch, &data, &len) == 0 &&
            epoch == p->epoch)
            p->acked = 1;
    }
    lgi_replica_log_release_reads(logs[leader]);
}

/* A lossy network (drops, duplicates, reordering) and a leader killed and
 * restarted again and again: nothing acknowledged is ever lost, and the
 * replicas end byte-identical. */
START_TEST(lossy_network_and_repeated_failover_lose_nothing_acked) {
    net_seed = 0x5eed0000u + (uint64_t)_i;
    for (int i = 0; i < NODES; i++)
        start_node(i);
    int dead = -1;
    for (int s = 1; s <= 900; s++) {
        step();
        int leader = leader_of(-1);
        if (leader >= 0) {
            mark_acked(leader);
            if (s % 3 == 0 && proposal_count < 200)
                propose(leader, 1 + s % 4);
            lgi_replica_log_release_reads(logs[leader]);
        }
        if (s % 150 == 0 && leader >= 0) {
            if (dead >= 0)
                start_node(dead);
            kill_node(leader);
            dead = leader;
        }
    }
    if (dead >= 0)
        start_node(dead);
    net_seed = 0; /* heal */
    for (int s = 0; s < 300; s++)
        step();
    int leader = wait_leader(-1);
    mark_acked(leader);
    size_t acked = 0;
    for (size_t k = 0; k < proposal_count; k++)
        acked += (size_t)proposals[k].acked;
    ck_assert_uint_gt(acked, 50);
    int64_t hw = hw_of(leader);
    int64_t end = lgi_replica_log_record_offset(logs[leader], hw);
    size_t ref_len;
    uint8_t *ref = log_bytes(leader, end, &ref_len);
    for (int i = 0; i < NODES; i++) {
        ck_assert_int_eq(lgi_replica_log_count(logs[i]), hw);
        size_t len;
        uint8_t *b = log_bytes(i, end, &len);
        ck_assert_uint_eq(len, ref_len);
        ck_assert(memcmp(b, ref, len) == 0);
        free(b);
        lgi_replica_storage_t st = lgi_replica_log_storage(logs[i]);
        for (size_t k = 0; k < proposal_count; k++) {
            proposal_t *p = &proposals[k];
            if (!p->acked)
                continue;
            int32_t epoch;
            const uint8_t *data;
            uint32_t dlen;
            ck_assert_int_eq(st.read(st.opaque, p->entry, &epoch, &data, &dlen),
                             0);
            ck_assert_int_eq(epoch, p->epoch);
            lgi_batch_header_t h;
            ck_assert_int_eq(lgi_batch_parse_header(data, dlen, SIZE_MAX, &h),
                             LG_OK);
            ck_assert_int_eq(h.base_offset, p->base);
            ck_assert_int_eq(h.record_count, p->records);
        }
        lgi_replica_log_release_reads(logs[i]);
    }
    free(ref);
}
END_TEST

static Suite *replica_log_suite(void) {
    Suite *s = suite_create("replica_log");
    TCase *tc = tcase_create("adapter");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, untrusted_entries_are_rejected);
    tcase_add_test(tc, reads_after_a_divergence_truncation_find_the_new_entries);
    tcase_add_test(tc, log_start_survives_deletion_reset_and_crashes);
    tcase_add_test(tc, leader_failover_keeps_every_committed_batch);
    tcase_add_loop_test(tc, lossy_network_and_repeated_failover_lose_nothing_acked,
                        0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(replica_log_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
