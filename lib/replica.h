/*
 * replica.h -- replication core: the wire format of replication messages
 * (replica_msg.c) and the per-partition consensus state machine
 * (replica.c).
 *
 * Both are deliberately free of threads, clocks and sockets: time arrives
 * as now_ms arguments, randomness from a seedable generator owned by the
 * node, bytes leave through a send callback and arrive through
 * lgi_replica_node_receive, and the log lives behind a storage table.  That
 * is what lets test/test_replica_sim.c run many nodes in one thread on
 * virtual time and reproduce a run exactly from one seed.
 *
 * Vocabulary is Kafka's (KRaft): epoch = Raft term, offset = index, high
 * watermark (HW) = commit index.  One offset holds one entry (an opaque
 * byte string -- a record batch once wired to the engine -- stamped with the
 * epoch of the leader that appended it).
 */
#ifndef LG_REPLICA_H
#define LG_REPLICA_H

#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------
 * Wire format (replica_msg.c)
 * --------------------------------------------------------------------- */

#define LGI_REPLICA_MAGIC 0x4c475250u      /* "LGRP" */
#define LGI_REPLICA_VERSION 3
#define LGI_REPLICA_MAX_ENVELOPE (16u << 20)
#define LGI_REPLICA_MAX_MESSAGES 4096
#define LGI_REPLICA_MAX_ENTRIES 4096
#define LGI_REPLICA_MAX_TOPIC 249

typedef enum {
    LGI_MSG_VOTE = 1,          /* candidate asks for a vote */
    LGI_MSG_VOTE_RESPONSE = 2, /* granted or not */
    LGI_MSG_BEGIN_QUORUM = 3,  /* new leader announces itself */
    LGI_MSG_END_QUORUM = 4,    /* leader resigns (transfer), names successor */
    LGI_MSG_FETCH = 5,         /* follower pulls from fetch_offset */
    LGI_MSG_FETCH_RESPONSE = 6, /* data, diverging epoch, or fenced */
    LGI_MSG_PRE_VOTE = 7,         /* would you vote for me in epoch+1? */
    LGI_MSG_PRE_VOTE_RESPONSE = 8 /* granted or not; changes nothing */
} lgi_msg_type_t;

typedef enum {
    LGI_FETCH_DATA = 0,      /* entries follow (maybe none) */
    LGI_FETCH_DIVERGING = 1, /* truncate to diverging_end, fetch again */
    LGI_FETCH_FENCED = 2,    /* responder is not leader of that epoch */
    LGI_FETCH_OUT_OF_RANGE = 3 /* fetch offset below the leader's log start
                                  (or diverging below it): reset to it */
} lgi_fetch_kind_t;

typedef struct lgi_msg_entry {
    int32_t epoch;
    uint32_t len;
    const uint8_t *data; /* borrowed: points into the envelope or the log */
} lgi_msg_entry_t;

/* One per-partition message.  Fields not used by a type are 0. */
typedef struct lgi_msg {
    uint8_t type;
    char topic[LGI_REPLICA_MAX_TOPIC + 1];
    int32_t partition;
    int32_t epoch;          /* sender's epoch (every type but PRE_VOTE,
                               which carries the epoch it would stand in) */
    int32_t node;           /* candidate / leader / preferred successor;
                               PRE_VOTE_RESPONSE: the leader the responder
                               follows (-1 none) */
    int32_t last_epoch;     /* VOTE / PRE_VOTE: candidate's last epoch;
                               FETCH: last fetched epoch; PRE_VOTE_RESPONSE:
                               the epoch asked about */
    int64_t offset;         /* VOTE / PRE_VOTE: end offset; FETCH /
                               FETCH_RESPONSE: fetch offset */
    int64_t durable_end;    /* FETCH: follower's fsync'd end */
    int64_t high_watermark; /* FETCH_RESPONSE */
    uint8_t granted;        /* VOTE_RESPONSE, PRE_VOTE_RESPONSE */
    uint8_t kind;           /* FETCH_RESPONSE: lgi_fetch_kind_t */
    int32_t diverging_epoch;
    int64_t diverging_end;
    int64_t log_start;       /* FETCH_RESPONSE: leader's first offset */
    int32_t log_start_epoch; /* epoch of the entry before log_start */
    int64_t log_start_token; /* storage's position of log_start (a record
                                offset for a real partition) */
    uint32_t entry_count;
    lgi_msg_entry_t *entries; /* FETCH_RESPONSE */
} lgi_msg_t;

typedef struct lgi_envelope {
    int32_t from, to;
    uint64_t cluster_id;
    uint32_t count;
    lgi_msg_t *msgs;
} lgi_envelope_t;

/* Encodes env into *bytesp (lgi_malloc'd, *lenp bytes).  LG_ERR_INVALID_ARG
 * when a limit is exceeded, LG_ERR_NOMEM. */
lg_err_t lgi_envelope_encode(const lgi_envelope_t *env, uint8_t **bytesp,
                             size_t *lenp);

/* Decodes untrusted bytes.  On success *env holds msgs/entries lgi_malloc'd
 * (free with lgi_envelope_free) whose entry data points into bytes (which
 * must outlive env).  LG_ERR_CORRUPT for anything malformed: wrong magic,
 * version, length, checksum, a count or length beyond the limits or the
 * buffer, an unknown type, a negative offset.  Nothing is allocated on
 * failure. */
lg_err_t lgi_envelope_decode(const uint8_t *bytes, size_t len,
                             lgi_envelope_t *env);
void lgi_envelope_free(lgi_envelope_t *env);

/* ------------------------------------------------------------------------
 * Storage a replica runs on (one per partition)
 * --------------------------------------------------------------------- */

typedef struct lgi_replica_storage {
    void *opaque;
    /* Next offset to be written. */
    int64_t (*end_offset)(void *opaque);
    /* End of the fsync'd prefix. */
    int64_t (*durable_end)(void *opaque);
    /* Epoch and bytes of the entry at offset (< end_offset); data is
     * borrowed until the next call that changes the log.  0 or -1. */
    int (*read)(void *opaque, int64_t offset, int32_t *epochp,
                const uint8_t **datap, uint32_t *lenp);
    /* Appends at end_offset (not yet durable).  0 or -1. */
    int (*append)(void *opaque, int32_t epoch, const uint8_t *data,
                  uint32_t len);
    /* Removes offsets >= offset, durably.  0 or -1. */
    int (*truncate_to)(void *opaque, int64_t offset);
    /* Makes everything appended durable.  0 or -1. */
    int (*sync)(void *opaque);
    /* OffsetsForLeaderEpoch: largest epoch <= epoch present and the start
     * of the next larger epoch (or end_offset); -1/-1 if none. */
    void (*end_offset_for_epoch)(void *opaque, int32_t epoch,
                                 int32_t *epoch_out, int64_t *end_out);
    /* Quorum state: persists (epoch, voted_for) durably before returning
     * (0 or -1); load gives the last saved pair or (0, -1). */
    int (*save_state)(void *opaque, int32_t epoch, int32_t voted_for);
    void (*load_state)(void *opaque, int32_t *epochp, int32_t *voted_forp);
    /* Log start (retention), all optional (NULL: the log starts at 0 and
     * never moves).  log_start gives the first offset still held, the
     * epoch of the entry before it (0 at offset 0; -1 when unknown) and
     * an opaque position of it the storage needs to start a log there
     * (reset_to).  delete_before removes entries below offset, or fewer:
     * the storage may stop at an earlier boundary (0 or -1).  reset_to
     * discards the whole log and starts it empty at offset, whose
     * preceding entry had epoch, durably before returning (Kafka's
     * truncateFullyAndStartAt; 0 or -1). */
    void (*log_start)(void *opaque, int64_t *offsetp, int32_t *epochp,
                      int64_t *tokenp);
    int (*delete_before)(void *opaque, int64_t offset);
    int (*reset_to)(void *opaque, int64_t offset, int32_t epoch,
                    int64_t token);
} lgi_replica_storage_t;

/* ------------------------------------------------------------------------
 * Node: every replicated partition hosted by one process
 * --------------------------------------------------------------------- */

typedef struct lgi_replica_node lgi_replica_node_t;

typedef enum {
    LGI_ROLE_UNATTACHED = 0, /* knows no leader for its epoch */
    LGI_ROLE_FOLLOWER = 1,
    LGI_ROLE_CANDIDATE = 2,
    LGI_ROLE_LEADER = 3
} lgi_replica_role_t;

typedef struct lgi_replica_config {
    int32_t node_id;
    uint64_t cluster_id;
    uint64_t seed;               /* randomness (election timeouts) */
    int64_t election_timeout_ms; /* base; actual is in [base, 2*base) */
    int64_t fetch_interval_ms;   /* follower fetch / leader fsync cadence */
    size_t max_fetch_entries;
    /* The host's transport: sends bytes (borrowed for the call) to node. */
    int (*send)(void *opaque, int32_t node, const void *bytes, size_t len);
    void *send_opaque;
    /* Test only: a deliberately broken node that reports appended data as
     * durable without fsync (acks before durability).  Must make the
     * simulator's checker fail. */
    int unsafe_skip_fsync;
    /* Test only: a deliberately broken leader that moves the HW over
     * entries of earlier epochs before its own epoch's marker is on a
     * majority (Raft's Figure 8 bug).  Must make the checker fail. */
    int unsafe_commit_before_marker;
    /* Test only: the election protocol before pre-vote -- stands for
     * election as soon as the timer fires, and ignores a BeginQuorum of an
     * older epoch instead of fencing its leader (its own Vote requests
     * depose that leader) -- so the simulator can show the disruption
     * pre-vote prevents and replay seeds found before it. */
    int unsafe_no_prevote;
} lgi_replica_config_t;

lg_err_t lgi_replica_node_create(const lgi_replica_config_t *config,
                                 int64_t now_ms, lgi_replica_node_t **nodep);
void lgi_replica_node_destroy(lgi_replica_node_t *node);

/* Hosts partition topic/partition on storage (borrowed until destroy) with
 * the given voters (must include this node; copied).  Loads the quorum
 * state from storage. */
lg_err_t lgi_replica_node_add(lgi_replica_node_t *node, const char *topic,
                              int32_t partition, const int32_t *voters,
                              size_t voter_count,
                              const lgi_replica_storage_t *storage,
                              int64_t now_ms);

/* Hands received bytes (untrusted) to the node.  LG_ERR_CORRUPT when the
 * envelope is malformed or not for this node/cluster (nothing changes). */
lg_err_t lgi_replica_node_receive(lgi_replica_node_t *node, int32_t from,
                                  const void *bytes, size_t len,
                                  int64_t now_ms);

/* Advances time: elections, fetches, fsyncs, heartbeats.  Sends what is
 * due. */
void lgi_replica_node_tick(lgi_replica_node_t *node, int64_t now_ms);

/* Appends data on the leader.  *offsetp gets the offset, *epochp the
 * epoch: the entry is acknowledged (acks=all) once the high watermark
 * passes offset while the log still holds it at epoch.  LG_ERR_STATE when
 * not leader (*leaderp = known leader or -1), LG_ERR_IO on storage
 * failure. */
lg_err_t lgi_replica_propose(lgi_replica_node_t *node, const char *topic,
                             int32_t partition, const void *data,
                             uint32_t len, int64_t *offsetp, int32_t *epochp,
                             int32_t *leaderp);

/* Leadership transfer: the leader resigns in favour of target (which must
 * be a voter); target starts an election at once.  LG_ERR_STATE when not
 * leader. */
lg_err_t lgi_replica_transfer(lgi_replica_node_t *node, const char *topic,
                              int32_t partition, int32_t target,
                              int64_t now_ms);

/* Unclean election, for operators only: makes this node leader of a new
 * epoch without any vote (when a majority is gone for good).  Entries
 * acknowledged by the old majority but missing here are lost, and the
 * other replicas truncate to this log when they return. */
lg_err_t lgi_replica_force_leader(lgi_replica_node_t *node, const char *topic,
                                  int32_t partition, int64_t now_ms);

typedef struct lgi_replica_status {
    lgi_replica_role_t role;
    int32_t epoch;
    int32_t leader; /* -1 unknown */
    int32_t voted_for;
    int64_t high_watermark;
    int64_t leader_epoch_start; /* leader: offset of its epoch's marker */
} lgi_replica_status_t;

lg_err_t lgi_replica_status(lgi_replica_node_t *node, const char *topic,
                            int32_t partition, lgi_replica_status_t *status);

/* The quorum-state file ("quorum-state" in a partition directory): text
 * "epoch <e>\nvoted_for <id>\n" in a checksummed metafile, replaced
 * atomically and fsync'd (with its directory) before returning -- so a vote
 * is on disk before the grant leaves the node.  Storage adapters call these
 * from save_state / load_state.  load gives (0, -1) when the file is
 * missing; LG_ERR_CORRUPT when it is damaged (a voter must not guess its
 * vote). */
lg_err_t lgi_quorum_state_save(const char *path, int32_t epoch,
                               int32_t voted_for);
lg_err_t lgi_quorum_state_load(const char *path, int32_t *epochp,
                               int32_t *voted_forp);

/* The file's body text for (epoch, voted_for) into body (NUL-terminated);
 * returns its length.  And the inverse over a NUL-terminated body (name
 * for the message): LG_ERR_CORRUPT unless it is exactly that text.  Split
 * out so the simulator's in-memory files go through the same code. */
#define LGI_QUORUM_STATE_MAX_BODY 64
size_t lgi_quorum_state_body(int32_t epoch, int32_t voted_for,
                             char body[LGI_QUORUM_STATE_MAX_BODY]);
lg_err_t lgi_quorum_state_parse(const char *body, const char *name,
                                int32_t *epochp, int32_t *voted_forp);

/* Entry data of the marker a new leader appends in its epoch (the control
 * "leader change" record).  Readers skip entries equal to it. */
#define LGI_REPLICA_MARKER "\0lg-leader-change"
#define LGI_REPLICA_MARKER_LEN 17u

#endif
