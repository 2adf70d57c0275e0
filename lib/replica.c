/*
 * replica.c -- per-partition consensus: KRaft-style pull replication.
 *
 * Role: one lgi_replica_node_t is everything a process knows about the
 * replicated partitions it hosts.  It owns no thread, clock or socket: the
 * host calls lgi_replica_node_tick(now) and lgi_replica_node_receive(bytes)
 * and gets bytes back through config.send.  All messages one call produces
 * for the same destination travel in one envelope (replica_msg.c), whatever
 * partitions they concern.
 *
 * Protocol (Kafka's vocabulary: epoch = term, offset = index, high
 * watermark (HW) = commit index).  Every voter is in one of four roles:
 *
 *   unattached  knows its epoch but no leader; after a randomized election
 *               timeout in [T, 2T) it pre-votes (below).
 *   candidate   epoch+1, votes for itself, persists (epoch, voted_for) and
 *               sends Vote(epoch, last epoch, end offset).  A majority of
 *               grants makes it leader; a timeout sends it back to
 *               pre-voting (unattached, its vote kept).
 *   leader      appends a leader-change marker in its own epoch first, then
 *               client entries; answers fetches; fsyncs on each tick (group
 *               commit); the HW is the largest offset that a majority holds
 *               durably, and moves only once it passes the marker.
 *   follower    every fetch interval fsyncs its log and sends
 *               Fetch(epoch, fetch offset = its end, last fetched epoch,
 *               durable end).  The leader checks (offset, last epoch)
 *               against its own log with OffsetsForLeaderEpoch: on a match
 *               it records min(durable end, offset) for that voter and sends
 *               entries from offset; otherwise it answers Diverging(epoch,
 *               end offset) and the follower truncates there and retries.
 *               Its election timer restarts at every answer from the
 *               leader; when it fires the follower pre-votes, fetching on.
 *
 * Pre-vote (KIP-996, Raft thesis 9.6): a node whose timer fires does not
 * bump its epoch; it asks PreVote(epoch+1, last epoch, end offset) and
 * becomes candidate only with a majority of grants (itself included).  A
 * voter grants when epoch+1 is beyond its own epoch, the asker's log is at
 * least as up to date as its own, and it knows no live leader: it is not
 * the leader and has not had a fetch answered by its leader within T.
 * Answering changes nothing on the voter -- no epoch adopted, no vote
 * saved, no timer restarted -- and the answer carries the voter's epoch
 * (an asker behind adopts it) and the live leader it follows (an asker
 * that knows none joins it).  So a node cut off for a long time, or one
 * that restarts, comes back at the epoch it left and follows the leader
 * instead of deposing it, and candidates whose logs cannot win no longer
 * drive epochs up.  Pre-vote alone can stall: a leader reaching only a
 * minority would keep that minority refusing forever; check-quorum (a
 * leader resigns when a majority has not fetched within 2T) ends that,
 * and only answered fetches -- not BeginQuorum -- count as hearing from a
 * leader, as in KIP-996.  The other stall: a node already in a newer
 * epoch (it voted in an election that failed) whose log cannot win would
 * ignore the leader of the older epoch, which its voters keep alive; it
 * answers that leader's BeginQuorum with "fenced" and its newer epoch, so
 * the leader resigns and the next election includes it.  Leadership
 * transfer skips pre-vote: the resigning leader names the target, which
 * stands at once.  Pre-vote touches liveness only: the safety argument
 * below does not use it.
 *
 * Log start (retention, optional in the storage table): every fetch
 * response carries the leader's log start, and the follower deletes below
 * it, never past its own HW.  A fetch below the leader's log start, or
 * diverging below it, is answered "out of range": the follower discards
 * its log and starts over empty at the leader's log start (Kafka's
 * OffsetOutOfRange / truncateFullyAndStartAt).  Entries below a log start
 * are below that node's HW, hence committed, so nothing uncommitted is
 * deleted and nothing a reset discards above the start was committed
 * (a follower is reset above the start only when its last epoch is
 * unknown there, i.e. its suffix diverges).
 *
 * Any message carrying a larger epoch makes the receiver adopt that epoch
 * (forgetting its vote) before anything else; a message of a smaller epoch
 * is answered with "fenced" or ignored.
 *
 * Safety argument (why an entry below a leader's HW is never lost):
 *   1. At most one leader per epoch: a candidate needs a majority of
 *      grants; a voter grants at most one candidate per epoch, and
 *      (epoch, voted_for) is fsync'd before the grant is sent, so a crash
 *      cannot make it vote twice.
 *   2. Log matching: an entry's epoch names the only leader that could have
 *      created it at that offset, and a follower appends only entries
 *      following a prefix the leader validated by (offset, last epoch), so
 *      two logs holding the same (offset, epoch) are identical up to it.
 *      Divergence truncation cuts at the start of the first epoch the
 *      leader does not share, never inside the common prefix.
 *   3. The leader counts a follower only up to min(durable end, validated
 *      fetch offset), and itself up to its own fsync'd end, so an offset
 *      below the HW is on stable storage at a majority.  Responses are
 *      acted on only if they answer the follower's current (end, last
 *      epoch), so a delayed or replayed response cannot truncate data the
 *      leader already counted.
 *   4. Voters grant only to candidates whose (last epoch, end offset) is at
 *      least their own; any majority of grants intersects the majority that
 *      durably holds a committed entry, so every later leader holds it.
 *   5. The HW moves only past the new leader's own marker, so entries of
 *      earlier epochs become visible only through an entry of the current
 *      epoch (Raft's "commit only current-term entries" rule).
 * Consumers read below the HW only, hence never see a retracted entry.
 * Liveness is best-effort (randomized timeouts); the simulator checks that
 * a connected majority regains a leader within a bound.
 *
 * Unclean election (lgi_replica_force_leader) is the one deliberate hole:
 * an operator makes a node leader without votes when no majority can ever
 * return, accepting the loss of whatever only the lost nodes held.  It
 * jumps FORCED_EPOCH_GAP epochs ahead: the nodes it could not reach, if
 * they do return, may elect among themselves before they hear of it, and
 * with pre-vote they come back at the epoch they left, so the next epoch
 * would likely get two leaders.
 *
 * Storage: test/support/simdisk.c (simulator), test/support/memlog.c (unit
 * tests) or lib/replica_log.c (a real partition; one entry = one record
 * batch).
 *
 * Engine wiring: lib/replication.c.  Not here yet: replica set changes.
 */
#include "replica.h"

#include "alloc.h"
#include "err.h"
#include "metafile.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_VOTERS 32
/* Epochs an unclean election skips (see the file comment): more than the
 * elections returning nodes could hold before hearing of the forced
 * leader, which tells them at once. */
#define FORCED_EPOCH_GAP 1000

/* ------------------------------------------------------------------------
 * State
 * --------------------------------------------------------------------- */

typedef struct group {
    char topic[LGI_REPLICA_MAX_TOPIC + 1];
    int32_t partition;
    int32_t voters[MAX_VOTERS];
    size_t voter_count;
    lgi_replica_storage_t storage;

    lgi_replica_role_t role;
    int32_t epoch;
    int32_t voted_for;
    int32_t leader;
    int64_t hw;
    int64_t election_deadline;

    /* candidate */
    uint32_t votes; /* bitmask over voter index */

    /* pre-vote round (any role but leader): asking whether a majority
     * would vote for it in epoch + 1 before bumping anything */
    int prospective;
    uint32_t prevotes; /* bitmask over voter index */

    /* leader */
    int64_t leader_epoch_start;
    int64_t matched[MAX_VOTERS];       /* durable and validated end */
    int64_t last_fetch_ms[MAX_VOTERS]; /* for check-quorum and heartbeats */
    int64_t next_begin_ms;
    int64_t leader_since_ms;

    /* follower */
    int64_t next_fetch_ms;
    int64_t leader_contact_ms; /* last fetch response from the leader: a
                                  voter refuses pre-votes while it is
                                  recent */
} group_t;

typedef struct outbox {
    int32_t to;
    lgi_msg_t *msgs;
    uint8_t **blobs; /* entry data copies, one per message (or NULL) */
    uint32_t count, cap;
} outbox_t;

struct lgi_replica_node {
    lgi_replica_config_t config;
    uint64_t rng;
    group_t **groups;
    size_t group_count;
    outbox_t *outboxes;
    size_t outbox_count;
    int64_t now_ms;
};

/* ------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

/* splitmix64: the node's seedable randomness (election timeouts). */
static uint64_t next_random(lgi_replica_node_t *node) {
    uint64_t z = (node->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reset_election_timer(lgi_replica_node_t *node, group_t *g) {
    int64_t base = node->config.election_timeout_ms;
    g->election_deadline =
        node->now_ms + base + (int64_t)(next_random(node) % (uint64_t)base);
}

static int voter_index(const group_t *g, int32_t id) {
    for (size_t i = 0; i < g->voter_count; i++)
        if (g->voters[i] == id)
            return (int)i;
    return -1;
}

/* Whether the voters whose bits (by voter_index) are set in granted are
 * a majority of g's voters. */
static int is_majority(const group_t *g, uint32_t granted) {
    size_t count = 0;
    for (size_t i = 0; i < g->voter_count; i++)
        count += (granted >> i) & 1u;
    return count * 2 > g->voter_count;
}

static int64_t end_offset(group_t *g) {
    return g->storage.end_offset(g->storage.opaque);
}

/* The first offset held (retention moves it), the epoch of the entry
 * before it and the storage's position of it; 0, 0, 0 for storage
 * without retention. */
static int64_t log_start(group_t *g, int32_t *epochp, int64_t *tokenp) {
    int64_t offset = 0, token = 0;
    int32_t epoch = 0;
    if (g->storage.log_start)
        g->storage.log_start(g->storage.opaque, &offset, &epoch, &token);
    if (epochp)
        *epochp = epoch < 0 ? 0 : epoch;
    if (tokenp)
        *tokenp = token;
    return offset;
}

static int32_t last_epoch(group_t *g) {
    int64_t end = end_offset(g);
    int32_t epoch = 0;
    if (end > 0 && end <= log_start(g, &epoch, NULL))
        return epoch; /* nothing held since the start: the entry before */
    const uint8_t *data;
    uint32_t len;
    if (end > 0 &&
        g->storage.read(g->storage.opaque, end - 1, &epoch, &data, &len) != 0)
        return 0;
    return epoch;
}

static int64_t durable_end(lgi_replica_node_t *node, group_t *g) {
    if (node->config.unsafe_skip_fsync)
        return end_offset(g);
    return g->storage.durable_end(g->storage.opaque);
}

static int persist(group_t *g) {
    return g->storage.save_state(g->storage.opaque, g->epoch, g->voted_for);
}

/* Queues m for node to; copies entry data so the log may change before the
 * outbox is flushed.  Drops the message when out of memory (the protocol
 * tolerates loss). */
static void queue(lgi_replica_node_t *node, int32_t to, const lgi_msg_t *m) {
    outbox_t *box = NULL;
    for (size_t i = 0; i < node->outbox_count; i++)
        if (node->outboxes[i].to == to)
            box = &node->outboxes[i];
    if (box == NULL) {
        outbox_t *grown = lgi_realloc(node->outboxes, (node->outbox_count + 1) *
                                                          sizeof *grown);
        if (grown == NULL)
            return;
        node->outboxes = grown;
        box = &grown[node->outbox_count++];
        memset(box, 0, sizeof *box);
        box->to = to;
    }
    if (box->count == box->cap) {
        uint32_t cap = box->cap ? box->cap * 2 : 8;
        lgi_msg_t *msgs = lgi_realloc(box->msgs, cap * sizeof *msgs);
        if (msgs == NULL)
            return;
        box->msgs = msgs;
        uint8_t **blobs = lgi_realloc(box->blobs, cap * sizeof *blobs);
        if (blobs == NULL)
            return;
        box->blobs = blobs;
        box->cap = cap;
    }
    lgi_msg_t copy = *m;
    uint8_t *blob = NULL;
    copy.entries = NULL;
    if (m->entry_count > 0) {
        size_t total = 0;
        for (uint32_t i = 0; i < m->entry_count; i++)
            total += m->entries[i].len;
        copy.entries = lgi_malloc(m->entry_count * sizeof *copy.entries);
        blob = lgi_malloc(total ? total : 1);
        if (copy.entries == NULL || blob == NULL) {
            lgi_free(copy.entries);
            lgi_free(blob);
            return;
        }
        size_t at = 0;
        for (uint32_t i = 0; i < m->entry_count; i++) {
            copy.entries[i] = m->entries[i];
            memcpy(blob + at, m->entries[i].data, m->entries[i].len);
            copy.entries[i].data = blob + at;
            at += m->entries[i].len;
        }
    }
    box->blobs[box->count] = blob;
    box->msgs[box->count++] = copy;
}

/* Sends one envelope per destination with everything queued. */
static void flush(lgi_replica_node_t *node) {
    for (size_t i = 0; i < node->outbox_count; i++) {
        outbox_t *box = &node->outboxes[i];
        if (box->count == 0)
            continue;
        lgi_envelope_t env = {.from = node->config.node_id,
                              .to = box->to,
                              .cluster_id = node->config.cluster_id,
                              .count = box->count,
                              .msgs = box->msgs};
        uint8_t *bytes;
        size_t len;
        if (lgi_envelope_encode(&env, &bytes, &len) == LG_OK) {
            node->config.send(node->config.send_opaque, box->to, bytes, len);
            lgi_free(bytes);
        }
        for (uint32_t j = 0; j < box->count; j++) {
            lgi_free(box->msgs[j].entries);
            lgi_free(box->blobs[j]);
        }
        box->count = 0;
    }
}

static void base_msg(group_t *g, lgi_msg_t *m, uint8_t type) {
    memset(m, 0, sizeof *m);
    m->type = type;
    memcpy(m->topic, g->topic, sizeof m->topic);
    m->partition = g->partition;
    m->epoch = g->epoch;
    m->diverging_end = -1;
    m->diverging_epoch = -1;
}

/* ------------------------------------------------------------------------
 * Role transitions
 * --------------------------------------------------------------------- */

/* Adopts epoch (>= current) with leader (-1 unknown).  A new epoch forgets
 * the vote and is persisted.  Returns -1 if persisting failed. */
static int become_follower(lgi_replica_node_t *node, group_t *g,
                           int32_t epoch, int32_t leader) {
    if (epoch > g->epoch) {
        g->epoch = epoch;
        g->voted_for = -1;
        if (persist(g) != 0)
            return -1;
    }
    if (leader != g->leader)
        g->leader_contact_ms = INT64_MIN / 2; /* not heard from it yet */
    g->role = leader >= 0 ? LGI_ROLE_FOLLOWER : LGI_ROLE_UNATTACHED;
    g->leader = leader;
    g->prospective = 0;
    g->next_fetch_ms = node->now_ms;
    reset_election_timer(node, g);
    return 0;
}

static void send_fetch(lgi_replica_node_t *node, group_t *g) {
    lgi_msg_t m;
    base_msg(g, &m, LGI_MSG_FETCH);
    m.node = node->config.node_id;
    m.offset = end_offset(g);
    m.last_epoch = last_epoch(g);
    m.durable_end = durable_end(node, g);
    queue(node, g->leader, &m);
    g->next_fetch_ms = node->now_ms + node->config.fetch_interval_ms;
}

static void send_begin_quorum(lgi_replica_node_t *node, group_t *g,
                              int32_t to) {
    lgi_msg_t m;
    base_msg(g, &m, LGI_MSG_BEGIN_QUORUM);
    m.node = node->config.node_id;
    queue(node, to, &m);
}

static void update_hw(lgi_replica_node_t *node, group_t *g);

static void become_leader(lgi_replica_node_t *node, group_t *g) {
    g->role = LGI_ROLE_LEADER;
    g->prospective = 0;
    g->leader = node->config.node_id;
    g->leader_epoch_start = end_offset(g);
    g->leader_since_ms = node->now_ms;
    for (size_t i = 0; i < g->voter_count; i++) {
        g->matched[i] = 0;
        g->last_fetch_ms[i] = node->now_ms;
    }
    /* The marker: nothing of earlier epochs becomes visible before an entry
     * of this epoch is committed. */
    if (g->storage.append(g->storage.opaque, g->epoch,
                          (const uint8_t *)LGI_REPLICA_MARKER,
                          LGI_REPLICA_MARKER_LEN) != 0) {
        become_follower(node, g, g->epoch, -1);
        return;
    }
    for (size_t i = 0; i < g->voter_count; i++)
        if (g->voters[i] != node->config.node_id)
            send_begin_quorum(node, g, g->voters[i]);
    g->next_begin_ms = node->now_ms + node->config.fetch_interval_ms;
    update_hw(node, g);
}

static void start_election(lgi_replica_node_t *node, group_t *g) {
    g->epoch++;
    g->voted_for = node->config.node_id;
    if (persist(g) != 0) {
        g->epoch--;
        reset_election_timer(node, g);
        return;
    }
    g->role = LGI_ROLE_CANDIDATE;
    g->leader = -1;
    g->prospective = 0;
    g->votes = 1u << voter_index(g, node->config.node_id);
    reset_election_timer(node, g);
    if (g->voter_count == 1) {
        become_leader(node, g);
        return;
    }
    lgi_msg_t m;
    base_msg(g, &m, LGI_MSG_VOTE);
    m.node = node->config.node_id;
    m.last_epoch = last_epoch(g);
    m.offset = end_offset(g);
    for (size_t i = 0; i < g->voter_count; i++)
        if (g->voters[i] != node->config.node_id)
            queue(node, g->voters[i], &m);
}

/* The election timer fired: ask the voters whether they would vote for
 * this node in epoch + 1 (pre-vote) and stand for real only with a
 * majority of yeses (on_pre_vote_response).  Nothing is persisted and no
 * epoch moves, so a node cut off for a long time comes back at the epoch
 * it left and cannot depose a healthy leader.  A candidate whose round
 * failed goes back to pre-voting too, which keeps colliding stale
 * candidates from driving the epoch up.  The node keeps fetching from
 * the leader it knows meanwhile: an answer ends the round. */
static void start_prevote(lgi_replica_node_t *node, group_t *g) {
    if (g->voter_count == 1 || node->config.unsafe_no_prevote) {
        start_election(node, g);
        return;
    }
    if (g->role == LGI_ROLE_CANDIDATE)
        g->role = LGI_ROLE_UNATTACHED; /* keeps its vote for itself */
    g->prospective = 1;
    g->prevotes = 1u << voter_index(g, node->config.node_id);
    reset_election_timer(node, g);
    lgi_msg_t m;
    base_msg(g, &m, LGI_MSG_PRE_VOTE);
    m.epoch = g->epoch + 1;
    m.node = node->config.node_id;
    m.last_epoch = last_epoch(g);
    m.offset = end_offset(g);
    for (size_t i = 0; i < g->voter_count; i++)
        if (g->voters[i] != node->config.node_id)
            queue(node, g->voters[i], &m);
}

/* Leader: HW = the largest offset a majority holds durably, once past this
 * epoch's marker; never moves back. */
static void update_hw(lgi_replica_node_t *node, group_t *g) {
    int64_t ends[MAX_VOTERS];
    int self = voter_index(g, node->config.node_id);
    for (size_t i = 0; i < g->voter_count; i++)
        ends[i] = (int)i == self ? durable_end(node, g) : g->matched[i];
    /* sort descending (tiny n) */
    for (size_t i = 1; i < g->voter_count; i++)
        for (size_t j = i; j > 0 && ends[j] > ends[j - 1]; j--) {
            int64_t t = ends[j];
            ends[j] = ends[j - 1];
            ends[j - 1] = t;
        }
    int64_t majority = ends[g->voter_count / 2];
    if ((majority > g->leader_epoch_start ||
         node->config.unsafe_commit_before_marker) &&
        majority > g->hw)
        g->hw = majority;
}

/* ------------------------------------------------------------------------
 * Message handlers
 * --------------------------------------------------------------------- */

static void on_vote(lgi_replica_node_t *node, group_t *g, int32_t from,
                    const lgi_msg_t *m) {
    if (m->node != from)
        return;
    /* A larger epoch is adopted, but only a granted vote restarts the
     * election timer (Raft 5.2): a candidate whose log is behind must not
     * keep the voters that could win from ever standing. */
    int64_t deadline = g->election_deadline;
    if (m->epoch > g->epoch) {
        if (become_follower(node, g, m->epoch, -1) != 0)
            return;
        g->election_deadline = deadline;
    }
    lgi_msg_t r;
    base_msg(g, &r, LGI_MSG_VOTE_RESPONSE);
    r.node = node->config.node_id;
    int32_t my_last = last_epoch(g);
    int64_t my_end = end_offset(g);
    int up_to_date = m->last_epoch > my_last ||
                     (m->last_epoch == my_last && m->offset >= my_end);
    if (m->epoch == g->epoch && g->role != LGI_ROLE_LEADER &&
        (g->voted_for == -1 || g->voted_for == from) && up_to_date) {
        int32_t before = g->voted_for;
        g->voted_for = from;
        if (persist(g) != 0) { /* never grant what is not on disk */
            g->voted_for = before;
            return;
        }
        r.granted = 1;
        reset_election_timer(node, g);
    }
    queue(node, from, &r);
}

/* Whether this node knows a live leader: it is the leader, or it has had
 * a fetch answered by its leader within the (base) election timeout.  A
 * leader that lost its majority resigns (check-quorum, tick_group), so a
 * leader only a minority still reaches cannot make the majority refuse
 * pre-votes forever -- the liveness trap pre-vote has without
 * check-quorum (KIP-996 pairs them the same way).  Only answered fetches
 * count, not BeginQuorum: a leader that is heard but cannot hear back is
 * not live. */
static int knows_live_leader(lgi_replica_node_t *node, group_t *g) {
    if (g->role == LGI_ROLE_LEADER)
        return 1;
    return g->role == LGI_ROLE_FOLLOWER && g->leader >= 0 &&
           node->now_ms - g->leader_contact_ms <
               node->config.election_timeout_ms;
}

/* A pre-vote changes nothing here -- no epoch adopted, no vote recorded,
 * no timer restarted -- whatever the answer. */
static void on_pre_vote(lgi_replica_node_t *node, group_t *g, int32_t from,
                        const lgi_msg_t *m) {
    if (m->node != from)
        return;
    lgi_msg_t r;
    base_msg(g, &r, LGI_MSG_PRE_VOTE_RESPONSE);
    r.node = knows_live_leader(node, g) ? g->leader : -1;
    r.last_epoch = m->epoch;
    int32_t my_last = last_epoch(g);
    int64_t my_end = end_offset(g);
    int up_to_date = m->last_epoch > my_last ||
                     (m->last_epoch == my_last && m->offset >= my_end);
    r.granted = m->epoch > g->epoch && up_to_date &&
                !knows_live_leader(node, g);
    queue(node, from, &r);
}

static void on_pre_vote_response(lgi_replica_node_t *node, group_t *g,
                                 int32_t from, const lgi_msg_t *m) {
    int32_t leader = m->node;
    if (voter_index(g, leader) < 0 || leader == node->config.node_id)
        leader = -1;
    if (m->epoch > g->epoch) {
        /* behind: catch up with the epoch (and its leader, if named) and
         * stand later, if at all, in a later one */
        if (become_follower(node, g, m->epoch, leader) == 0 && leader >= 0)
            send_fetch(node, g);
        return;
    }
    if (m->epoch < g->epoch || g->role == LGI_ROLE_LEADER)
        return;
    if (leader >= 0 && g->leader < 0 && g->role != LGI_ROLE_CANDIDATE) {
        /* a voter follows a live leader of this epoch that this node has
         * not heard of (one per epoch): join it instead of standing */
        if (become_follower(node, g, g->epoch, leader) == 0)
            send_fetch(node, g);
        return;
    }
    if (!g->prospective || !m->granted || m->last_epoch != g->epoch + 1)
        return;
    g->prevotes |= 1u << voter_index(g, from);
    if (is_majority(g, g->prevotes))
        start_election(node, g);
}

static void on_vote_response(lgi_replica_node_t *node, group_t *g,
                             int32_t from, const lgi_msg_t *m) {
    if (m->epoch > g->epoch) {
        become_follower(node, g, m->epoch, -1);
        return;
    }
    if (g->role != LGI_ROLE_CANDIDATE || m->epoch != g->epoch || !m->granted)
        return;
    g->votes |= 1u << voter_index(g, from);
    if (is_majority(g, g->votes))
        become_leader(node, g);
}

static void on_begin_quorum(lgi_replica_node_t *node, group_t *g,
                            int32_t from, const lgi_msg_t *m) {
    if (m->node != from)
        return;
    if (m->epoch < g->epoch && node->config.unsafe_no_prevote)
        return; /* without pre-vote, this node's Vote deposes it */
    if (m->epoch < g->epoch) {
        /* A leader of an older epoch.  This node may be the one that
         * moved on (an election that failed, or a vote in one): with
         * pre-vote nothing else would tell that leader, the voters it
         * has refuse this node's pre-votes, and this node, whose log may
         * be too far behind to win, would stay outside for good.  Fence
         * it with the newer epoch (KRaft answers an old BeginQuorumEpoch
         * the same way; etcd answers old heartbeats): it resigns and an
         * election in a later epoch brings everyone back together. */
        lgi_msg_t r;
        base_msg(g, &r, LGI_MSG_FETCH_RESPONSE);
        r.kind = LGI_FETCH_FENCED;
        r.node = g->leader;
        queue(node, from, &r);
        return;
    }
    if (m->epoch == g->epoch &&
        (g->role == LGI_ROLE_LEADER || g->leader == from))
        return;
    if (become_follower(node, g, m->epoch, from) == 0)
        send_fetch(node, g);
}

static void on_end_quorum(lgi_replica_node_t *node, group_t *g, int32_t from,
                          const lgi_msg_t *m) {
    if (m->epoch < g->epoch)
        return;
    if (m->epoch > g->epoch || g->leader == from) {
        if (become_follower(node, g, m->epoch, -1) != 0)
            return;
    }
    if (m->node == node->config.node_id && g->role != LGI_ROLE_LEADER)
        start_election(node, g);
}

static void on_fetch(lgi_replica_node_t *node, group_t *g, int32_t from,
                     const lgi_msg_t *m) {
    int vi = voter_index(g, from);
    if (m->epoch > g->epoch) {
        become_follower(node, g, m->epoch, -1);
        return;
    }
    lgi_msg_t r;
    base_msg(g, &r, LGI_MSG_FETCH_RESPONSE);
    r.node = g->leader;
    r.offset = m->offset;
    r.last_epoch = m->last_epoch;
    if (m->epoch < g->epoch || g->role != LGI_ROLE_LEADER) {
        r.kind = LGI_FETCH_FENCED;
        queue(node, from, &r);
        return;
    }
    g->last_fetch_ms[vi] = node->now_ms; /* contact, even if diverging */
    int64_t end = end_offset(g);
    /* Every response tells the follower the log start (it deletes below
     * it); a fetch below it, or diverging below it, cannot be served:
     * the follower starts over there (Kafka's OffsetOutOfRange). */
    r.log_start = log_start(g, &r.log_start_epoch, &r.log_start_token);
    if (m->offset < r.log_start) {
        r.kind = LGI_FETCH_OUT_OF_RANGE;
        r.high_watermark = g->hw;
        queue(node, from, &r);
        return;
    }
    if (m->offset > 0) {
        int32_t e;
        int64_t e_end;
        g->storage.end_offset_for_epoch(g->storage.opaque, m->last_epoch, &e,
                                        &e_end);
        if (e != m->last_epoch || e_end < m->offset) {
            if (r.log_start > 0 && (e < 0 || e_end < r.log_start)) {
                r.kind = LGI_FETCH_OUT_OF_RANGE;
                r.high_watermark = g->hw;
                queue(node, from, &r);
                return;
            }
            r.kind = LGI_FETCH_DIVERGING;
            r.diverging_epoch = e < 0 ? 0 : e;
            r.diverging_end = e_end < 0 ? 0 : e_end;
            r.high_watermark = g->hw;
            queue(node, from, &r);
            return;
        }
    }
    /* (offset, last epoch) matches: the follower's prefix is ours. */
    int64_t matched = m->durable_end < m->offset ? m->durable_end : m->offset;
    if (matched > g->matched[vi])
        g->matched[vi] = matched;
    update_hw(node, g);
    r.kind = LGI_FETCH_DATA;
    r.high_watermark = g->hw;
    lgi_msg_entry_t entries[64];
    size_t max = node->config.max_fetch_entries;
    if (max == 0 || max > 64)
        max = 64;
    uint32_t n = 0;
    for (int64_t o = m->offset; o < end && n < max; o++, n++) {
        if (g->storage.read(g->storage.opaque, o, &entries[n].epoch,
                            &entries[n].data, &entries[n].len) != 0)
            break;
    }
    /* reads borrow until the log changes; queue copies them now */
    r.entry_count = n;
    r.entries = entries;
    queue(node, from, &r);
}

static void on_fetch_response(lgi_replica_node_t *node, group_t *g,
                              int32_t from, const lgi_msg_t *m) {
    if (m->epoch < g->epoch)
        return;
    if (m->kind == LGI_FETCH_FENCED) {
        if (m->epoch > g->epoch)
            become_follower(node, g, m->epoch,
                            voter_index(g, m->node) >= 0 &&
                                    m->node != node->config.node_id
                                ? m->node
                                : -1);
        return;
    }
    /* DATA / DIVERGING come only from the leader of m->epoch. */
    if (m->node != from)
        return;
    if (g->role == LGI_ROLE_LEADER && m->epoch == g->epoch)
        return; /* impossible unless two leaders; never obey */
    if (m->epoch > g->epoch || g->leader != from) {
        if (become_follower(node, g, m->epoch, from) != 0)
            return;
    }
    reset_election_timer(node, g);
    g->leader_contact_ms = node->now_ms;
    g->prospective = 0; /* the leader answers: no election needed */
    int64_t end = end_offset(g);
    /* Act only on an answer to our current position (see safety 3). */
    if (m->offset != end || m->last_epoch != last_epoch(g))
        return;
    if (m->kind == LGI_FETCH_OUT_OF_RANGE) {
        /* What this node holds lies below the leader's log start, or
         * diverges below it (then only uncommitted entries sit above it):
         * start over empty at the leader's log start.  Everything below
         * it is committed (it is <= the leader's HW). */
        if (!g->storage.reset_to || m->log_start_epoch < 0 ||
            g->storage.reset_to(g->storage.opaque, m->log_start,
                                m->log_start_epoch, m->log_start_token) != 0)
            return;
        g->hw = m->log_start;
        send_fetch(node, g);
        return;
    }
    if (m->kind == LGI_FETCH_DIVERGING) {
        if (m->diverging_end < 0 || m->diverging_epoch < 0)
            return; /* malformed: a leader always names a place */
        /* Cut at the end of the diverging epoch as both logs know it
         * (Kafka's follower-side OffsetsForLeaderEpoch): entries of that
         * epoch or earlier up to there are common, everything after is
         * not (safety 2). */
        int32_t own_epoch;
        int64_t own_end;
        g->storage.end_offset_for_epoch(g->storage.opaque, m->diverging_epoch,
                                        &own_epoch, &own_end);
        int64_t to = m->diverging_end < end ? m->diverging_end : end;
        if (own_end < 0)
            own_end = 0;
        if (own_end < to)
            to = own_end;
        if (to < end && g->storage.truncate_to(g->storage.opaque, to) != 0)
            return;
        if (g->hw > to)
            g->hw = to; /* would be a bug; the simulator's checker sees it */
        send_fetch(node, g);
        return;
    }
    int32_t prev = m->last_epoch;
    for (uint32_t i = 0; i < m->entry_count; i++) {
        const lgi_msg_entry_t *e = &m->entries[i];
        if (e->epoch < prev || e->epoch > m->epoch)
            return; /* malformed: epochs must not go back */
        if (g->storage.append(g->storage.opaque, e->epoch, e->data, e->len) !=
            0)
            return;
        prev = e->epoch;
    }
    end = end_offset(g);
    int64_t hw = m->high_watermark < end ? m->high_watermark : end;
    if (hw > g->hw)
        g->hw = hw;
    /* The leader's log start drives this replica's (Kafka's follower
     * logStartOffset), never past what this node knows is committed. */
    int64_t delete_to = m->log_start < g->hw ? m->log_start : g->hw;
    if (g->storage.delete_before && delete_to > log_start(g, NULL, NULL))
        g->storage.delete_before(g->storage.opaque, delete_to);
    if (m->entry_count > 0)
        send_fetch(node, g);
}

/* ------------------------------------------------------------------------
 * Public (internal) API
 * --------------------------------------------------------------------- */

lg_err_t lgi_replica_node_create(const lgi_replica_config_t *config,
                                 int64_t now_ms, lgi_replica_node_t **nodep) {
    if (config == NULL || nodep == NULL || config->send == NULL ||
        config->node_id < 0 || config->election_timeout_ms <= 0 ||
        config->fetch_interval_ms <= 0)
        return lgi_error(LG_ERR_INVALID_ARG, "replica node: bad config");
    lgi_replica_node_t *node = lgi_calloc(1, sizeof *node);
    if (node == NULL)
        return lgi_error(LG_ERR_NOMEM, "replica node: out of memory");
    node->config = *config;
    node->rng = config->seed;
    node->now_ms = now_ms;
    *nodep = node;
    return LG_OK;
}

void lgi_replica_node_destroy(lgi_replica_node_t *node) {
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->group_count; i++)
        lgi_free(node->groups[i]);
    lgi_free(node->groups);
    for (size_t i = 0; i < node->outbox_count; i++) {
        outbox_t *box = &node->outboxes[i];
        for (uint32_t j = 0; j < box->count; j++) {
            lgi_free(box->msgs[j].entries);
            lgi_free(box->blobs[j]);
        }
        lgi_free(box->msgs);
        lgi_free(box->blobs);
    }
    lgi_free(node->outboxes);
    lgi_free(node);
}

static group_t *find_group(lgi_replica_node_t *node, const char *topic,
                           int32_t partition) {
    for (size_t i = 0; i < node->group_count; i++)
        if (node->groups[i]->partition == partition &&
            strcmp(node->groups[i]->topic, topic) == 0)
            return node->groups[i];
    return NULL;
}

lg_err_t lgi_replica_node_add(lgi_replica_node_t *node, const char *topic,
                              int32_t partition, const int32_t *voters,
                              size_t voter_count,
                              const lgi_replica_storage_t *storage,
                              int64_t now_ms) {
    if (node == NULL || topic == NULL || storage == NULL || voters == NULL ||
        voter_count == 0 || voter_count > MAX_VOTERS || partition < 0 ||
        strlen(topic) == 0 || strlen(topic) > LGI_REPLICA_MAX_TOPIC)
        return lgi_error(LG_ERR_INVALID_ARG, "replica add: bad argument");
    if (find_group(node, topic, partition) != NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "replica add: %s-%d exists",
                         topic, partition);
    group_t *g = lgi_calloc(1, sizeof *g);
    if (g == NULL)
        return lgi_error(LG_ERR_NOMEM, "replica add: out of memory");
    strcpy(g->topic, topic);
    g->partition = partition;
    memcpy(g->voters, voters, voter_count * sizeof *voters);
    g->voter_count = voter_count;
    if (voter_index(g, node->config.node_id) < 0) {
        lgi_free(g);
        return lgi_error(LG_ERR_INVALID_ARG, "replica add: node %d not a voter",
                         node->config.node_id);
    }
    g->storage = *storage;
    g->storage.load_state(g->storage.opaque, &g->epoch, &g->voted_for);
    g->leader = -1;
    g->role = LGI_ROLE_UNATTACHED;
    group_t **grown =
        lgi_realloc(node->groups, (node->group_count + 1) * sizeof *grown);
    if (grown == NULL) {
        lgi_free(g);
        return lgi_error(LG_ERR_NOMEM, "replica add: out of memory");
    }
    node->groups = grown;
    grown[node->group_count++] = g;
    node->now_ms = now_ms;
    reset_election_timer(node, g);
    return LG_OK;
}

lg_err_t lgi_replica_node_receive(lgi_replica_node_t *node, int32_t from,
                                  const void *bytes, size_t len,
                                  int64_t now_ms) {
    if (node == NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "replica receive: node is NULL");
    lgi_envelope_t env;
    lg_err_t err = lgi_envelope_decode(bytes, len, &env);
    if (err != LG_OK)
        return err;
    if (env.from != from || env.to != node->config.node_id ||
        env.cluster_id != node->config.cluster_id) {
        lgi_envelope_free(&env);
        return lgi_error(LG_ERR_CORRUPT,
                         "replica receive: envelope not for this node");
    }
    if (now_ms > node->now_ms)
        node->now_ms = now_ms;
    for (uint32_t i = 0; i < env.count; i++) {
        const lgi_msg_t *m = &env.msgs[i];
        group_t *g = find_group(node, m->topic, m->partition);
        if (g == NULL || voter_index(g, from) < 0 ||
            from == node->config.node_id)
            continue;
        switch (m->type) {
        case LGI_MSG_VOTE: on_vote(node, g, from, m); break;
        case LGI_MSG_VOTE_RESPONSE: on_vote_response(node, g, from, m); break;
        case LGI_MSG_BEGIN_QUORUM: on_begin_quorum(node, g, from, m); break;
        case LGI_MSG_END_QUORUM: on_end_quorum(node, g, from, m); break;
        case LGI_MSG_FETCH: on_fetch(node, g, from, m); break;
        case LGI_MSG_FETCH_RESPONSE: on_fetch_response(node, g, from, m); break;
        case LGI_MSG_PRE_VOTE: on_pre_vote(node, g, from, m); break;
        case LGI_MSG_PRE_VOTE_RESPONSE:
            on_pre_vote_response(node, g, from, m);
            break;
        }
    }
    lgi_envelope_free(&env);
    flush(node);
    return LG_OK;
}

static void tick_group(lgi_replica_node_t *node, group_t *g) {
    int64_t now = node->now_ms;
    int64_t end = end_offset(g);
    if (!node->config.unsafe_skip_fsync &&
        g->storage.durable_end(g->storage.opaque) < end)
        g->storage.sync(g->storage.opaque);
    switch (g->role) {
    case LGI_ROLE_LEADER: {
        update_hw(node, g);
        /* check-quorum: resign when a majority has not fetched lately */
        size_t recent = 0;
        for (size_t i = 0; i < g->voter_count; i++)
            if (g->voters[i] == node->config.node_id ||
                now - g->last_fetch_ms[i] < 2 * node->config.election_timeout_ms)
                recent++;
        if (recent * 2 <= g->voter_count) {
            become_follower(node, g, g->epoch, -1);
            return;
        }
        if (now >= g->next_begin_ms) {
            for (size_t i = 0; i < g->voter_count; i++)
                if (g->voters[i] != node->config.node_id &&
                    now - g->last_fetch_ms[i] >=
                        2 * node->config.fetch_interval_ms)
                    send_begin_quorum(node, g, g->voters[i]);
            g->next_begin_ms = now + node->config.fetch_interval_ms;
        }
        break;
    }
    case LGI_ROLE_FOLLOWER:
        if (now >= g->election_deadline) {
            start_prevote(node, g);
            /* and fetch on: an answer from the leader ends the round */
        }
        if (g->role == LGI_ROLE_FOLLOWER && now >= g->next_fetch_ms)
            send_fetch(node, g);
        break;
    case LGI_ROLE_UNATTACHED:
    case LGI_ROLE_CANDIDATE:
        if (now >= g->election_deadline)
            start_prevote(node, g);
        break;
    }
}

void lgi_replica_node_tick(lgi_replica_node_t *node, int64_t now_ms) {
    if (node == NULL)
        return;
    if (now_ms > node->now_ms)
        node->now_ms = now_ms;
    for (size_t i = 0; i < node->group_count; i++)
        tick_group(node, node->groups[i]);
    flush(node);
}

lg_err_t lgi_replica_propose(lgi_replica_node_t *node, const char *topic,
                             int32_t partition, const void *data,
                             uint32_t len, int64_t *offsetp, int32_t *epochp,
                             int32_t *leaderp) {
    group_t *g = node ? find_group(node, topic, partition) : NULL;
    if (g == NULL || (data == NULL && len > 0))
        return lgi_error(LG_ERR_INVALID_ARG, "replica propose: bad argument");
    if (leaderp)
        *leaderp = g->leader;
    if (g->role != LGI_ROLE_LEADER)
        return lgi_error(LG_ERR_STATE, "%s-%d: not leader (leader is %d)",
                         topic, partition, g->leader);
    int64_t offset = end_offset(g);
    if (g->storage.append(g->storage.opaque, g->epoch, data, len) != 0)
        return lgi_error(LG_ERR_IO, "%s-%d: append failed", topic, partition);
    if (offsetp)
        *offsetp = offset;
    if (epochp)
        *epochp = g->epoch;
    return LG_OK;
}

lg_err_t lgi_replica_transfer(lgi_replica_node_t *node, const char *topic,
                              int32_t partition, int32_t target,
                              int64_t now_ms) {
    group_t *g = node ? find_group(node, topic, partition) : NULL;
    if (g == NULL || voter_index(g, target) < 0 ||
        target == node->config.node_id)
        return lgi_error(LG_ERR_INVALID_ARG, "replica transfer: bad argument");
    if (g->role != LGI_ROLE_LEADER)
        return lgi_error(LG_ERR_STATE, "%s-%d: not leader", topic, partition);
    if (now_ms > node->now_ms)
        node->now_ms = now_ms;
    lgi_msg_t m;
    base_msg(g, &m, LGI_MSG_END_QUORUM);
    m.node = target;
    for (size_t i = 0; i < g->voter_count; i++)
        if (g->voters[i] != node->config.node_id)
            queue(node, g->voters[i], &m);
    become_follower(node, g, g->epoch, -1);
    flush(node);
    return LG_OK;
}

lg_err_t lgi_replica_force_leader(lgi_replica_node_t *node, const char *topic,
                                  int32_t partition, int64_t now_ms) {
    group_t *g = node ? find_group(node, topic, partition) : NULL;
    if (g == NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "replica force: bad argument");
    if (g->epoch > INT32_MAX - FORCED_EPOCH_GAP)
        return lgi_error(LG_ERR_STATE, "%s-%d: epochs exhausted", topic,
                         partition);
    if (now_ms > node->now_ms)
        node->now_ms = now_ms;
    g->epoch += FORCED_EPOCH_GAP;
    g->voted_for = node->config.node_id;
    g->prospective = 0;
    if (persist(g) != 0) {
        g->epoch -= FORCED_EPOCH_GAP;
        return lgi_error(LG_ERR_IO, "%s-%d: cannot persist quorum state",
                         topic, partition);
    }
    become_leader(node, g);
    flush(node);
    return g->role == LGI_ROLE_LEADER
               ? LG_OK
               : lgi_error(LG_ERR_IO, "%s-%d: marker append failed", topic,
                           partition);
}

lg_err_t lgi_replica_status(lgi_replica_node_t *node, const char *topic,
                            int32_t partition, lgi_replica_status_t *status) {
    group_t *g = node ? find_group(node, topic, partition) : NULL;
    if (g == NULL || status == NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "replica status: bad argument");
    status->role = g->role;
    status->epoch = g->epoch;
    status->leader = g->leader;
    status->voted_for = g->voted_for;
    status->high_watermark = g->hw;
    status->leader_epoch_start = g->leader_epoch_start;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Quorum-state file
 * --------------------------------------------------------------------- */

lg_err_t lgi_quorum_state_save(const char *path, int32_t epoch,
                               int32_t voted_for) {
    if (path == NULL || epoch < 0 || voted_for < -1)
        return lgi_error(LG_ERR_INVALID_ARG, "quorum state: bad argument");
    char body[LGI_QUORUM_STATE_MAX_BODY];
    size_t len = lgi_quorum_state_body(epoch, voted_for, body);
    return lgi_metafile_write(path, body, len);
}

size_t lgi_quorum_state_body(int32_t epoch, int32_t voted_for,
                             char body[LGI_QUORUM_STATE_MAX_BODY]) {
    int len = snprintf(body, LGI_QUORUM_STATE_MAX_BODY,
                       "epoch %" PRId32 "\nvoted_for %" PRId32 "\n", epoch,
                       voted_for);
    return (size_t)len;
}

lg_err_t lgi_quorum_state_parse(const char *body, const char *name,
                                int32_t *epochp, int32_t *voted_forp) {
    int32_t epoch, vote;
    char extra;
    int n = sscanf(body, "epoch %" SCNd32 " voted_for %" SCNd32 " %c", &epoch,
                   &vote, &extra);
    if (n != 2 || epoch < 0 || vote < -1)
        return lgi_error(LG_ERR_CORRUPT, "quorum state %s: unparsable", name);
    *epochp = epoch;
    *voted_forp = vote;
    return LG_OK;
}

lg_err_t lgi_quorum_state_load(const char *path, int32_t *epochp,
                               int32_t *voted_forp) {
    if (path == NULL || epochp == NULL || voted_forp == NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "quorum state: bad argument");
    *epochp = 0;
    *voted_forp = -1;
    if (!lgi_metafile_exists(path))
        return LG_OK;
    char *body;
    size_t len;
    lg_err_t err = lgi_metafile_read(path, &body, &len);
    if (err != LG_OK)
        return err;
    err = lgi_quorum_state_parse(body, path, epochp, voted_forp);
    lgi_free(body);
    return err;
}
