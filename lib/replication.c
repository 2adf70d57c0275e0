/*
 * replication.c -- wires the replication core (replica.c) into the engine.
 *
 * lg_engine_set_transport creates the engine's replica node; every
 * lg_topic_set_replicas adds one partition to it, run over the partition's
 * own log through the storage adapter (replica_log.c: one consensus entry
 * = one record batch).  From then on the partition is driven three ways,
 * all under one lock (repl->lock), so the core -- which has no locking of
 * its own -- only ever runs on one thread at a time:
 *
 *   appends   the partition's append hook (partition.h) sends every
 *             lgi_partition_append / _async -- lg_append, the producer, any
 *             internal writer -- here: on a follower LG_ERR_NOT_LEADER
 *             naming the leader; on the leader the batch becomes an entry
 *             (lgi_replica_propose) written to the local log; acks 0 and 1
 *             return then (leader-local: such data can be lost on
 *             failover); acks=all returns -- or, asynchronously, completes
 *             -- only once the high watermark covers the entry at its
 *             epoch, i.e. once a majority holds it durably.  An entry
 *             truncated away (a new leader never had it) fails with
 *             LG_ERR_NOT_LEADER; one not committed within
 *             replication.ack.timeout.ms of host time fails with
 *             LG_ERR_TIMED_OUT (outcome unknown).
 *   ticks     lg_engine_tick(now) advances the core's clock.
 *   receive   lg_replica_receive hands the host's bytes to the core.
 * After each, the high watermark (in entries) is converted to a record
 * offset and becomes the partition's read limit, so lg_read, consumers and
 * lg_watermarks never see past it; waiters that it settled are completed
 * (asynchronous ones after the lock is dropped).
 *
 * The core's time is the host's: the protocol never reads a clock (record
 * timestamps -- of the leader-change batches too -- and segment.ms stay on
 * the engine's wall clock like every other append).  Randomness
 * (election timeouts) comes from a generator seeded with
 * replication.random.seed, by default derived from node.id, so a test
 * driving several engines on virtual time replays exactly, and can vary
 * the schedule by changing the seeds.
 */
#include "replication.h"

#include "alloc.h"
#include "cleaner.h"
#include "conf.h"
#include "engine.h"
#include "err.h"
#include "replica.h"
#include "replica_log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CLUSTER_ID 0x6c69626c6f67ull /* "liblog" */

/* Serialises lg_engine_set_transport calls (rare: once per engine). */
static pthread_mutex_t transport_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct waiter {
    int64_t entry;
    int32_t epoch;
    int64_t base_offset;
    int64_t deadline_ms; /* host time */
    lgi_append_done_fn done; /* NULL: a synchronous caller waits on cond */
    void *done_opaque;
    lg_err_t result; /* LG_OK while pending: see settled */
    int settled;
    struct waiter *next;
} waiter_t;

typedef struct replicated {
    struct lgi_replication *repl;
    char *topic;
    int32_t partition;
    lgi_partition_ref_t ref; /* keeps the partition open */
    lgi_replica_log_t *log;
    lgi_append_hook_t hook;
    waiter_t *waiters;
    int64_t visible; /* read limit currently set */
} replicated_t;

typedef struct lgi_replication {
    lg_engine_t *engine;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a waiter settled or closing */
    lg_transport_t transport;
    int32_t node_id;
    size_t factor;
    int64_t ack_timeout_ms;
    lgi_replica_node_t *node;
    replicated_t **parts;
    size_t count;
    int64_t now_ms;
    int closing;
    int busy; /* threads inside a call that may wait */
} lgi_replication_t;

static lgi_replication_t *get(lg_engine_t *engine) {
    return atomic_load(&engine->replication);
}

static int transport_send(void *opaque, int32_t node, const void *bytes,
                          size_t len) {
    lgi_replication_t *repl = opaque;
    return repl->transport.send(repl->transport.opaque, node, bytes, len);
}

static replicated_t *find(lgi_replication_t *repl, const char *topic,
                          int32_t partition) {
    for (size_t i = 0; i < repl->count; i++)
        if (repl->parts[i]->partition == partition &&
            strcmp(repl->parts[i]->topic, topic) == 0)
            return repl->parts[i];
    return NULL;
}

/* 1 committed, -1 lost (truncated or replaced by another epoch's entry),
 * 0 pending.  Lock held. */
static int commit_state(replicated_t *r, int64_t entry, int32_t epoch) {
    lgi_replica_status_t st;
    if (lgi_replica_status(r->repl->node, r->topic, r->partition, &st) !=
        LG_OK)
        return 0;
    if (lgi_replica_log_epoch_at(r->log, entry) != epoch)
        return -1;
    return st.high_watermark > entry ? 1 : 0;
}

/* After any core call: release read buffers, move read limits, settle
 * waiters.  Settled asynchronous waiters are moved to *readyp (completed
 * by the caller after unlocking).  Lock held. */
static void advance(lgi_replication_t *repl, waiter_t **readyp) {
    int any = 0;
    for (size_t i = 0; i < repl->count; i++) {
        replicated_t *r = repl->parts[i];
        lgi_replica_log_release_reads(r->log);
        lgi_replica_status_t st;
        if (lgi_replica_status(repl->node, r->topic, r->partition, &st) !=
            LG_OK)
            continue;
        int64_t visible =
            lgi_replica_log_record_offset(r->log, st.high_watermark);
        if (visible > r->visible) {
            r->visible = visible;
            lgi_partition_set_read_limit(r->ref.partition, visible);
        }
        for (waiter_t **wp = &r->waiters; *wp;) {
            waiter_t *w = *wp;
            int state = commit_state(r, w->entry, w->epoch);
            if (state == 0 && repl->now_ms < w->deadline_ms) {
                wp = &w->next;
                continue;
            }
            /* codes only: the message is set on the waiting thread */
            w->result = state > 0   ? LG_OK
                        : state < 0 ? LG_ERR_NOT_LEADER
                                    : LG_ERR_TIMED_OUT;
            w->settled = 1;
            *wp = w->next;
            any = 1;
            if (w->done) {
                w->next = *readyp;
                *readyp = w;
            }
        }
    }
    if (any)
        pthread_cond_broadcast(&repl->changed);
}

static void complete(waiter_t *ready) {
    while (ready) {
        waiter_t *next = ready->next;
        ready->done(ready->done_opaque, ready->result,
                    ready->result == LG_OK ? ready->base_offset : -1);
        lgi_free(ready);
        ready = next;
    }
}

/* The append hook: see the file comment. */
static lg_err_t hook_append(void *opaque, uint8_t *batch, size_t len,
                            int acks, int64_t now_ms, lgi_append_done_fn done,
                            void *done_opaque, int64_t *base_offsetp) {
    replicated_t *r = opaque;
    lgi_replication_t *repl = r->repl;
    waiter_t *ready = NULL;
    lg_err_t err;
    pthread_mutex_lock(&repl->lock);
    if (repl->closing) {
        pthread_mutex_unlock(&repl->lock);
        lgi_free(batch);
        return lgi_error(LG_ERR_CLOSED, "%s-%" PRId32 ": engine is closing",
                         r->topic, r->partition);
    }
    if (len > UINT32_MAX) {
        pthread_mutex_unlock(&repl->lock);
        lgi_free(batch);
        return lgi_error(LG_ERR_RECORD_TOO_LARGE, "batch too large");
    }
    lgi_replica_log_set_time(r->log, now_ms);
    int64_t entry;
    int32_t epoch, leader;
    lgi_replica_log_set_proposing(r->log, 1);
    err = lgi_replica_propose(repl->node, r->topic, r->partition, batch,
                              (uint32_t)len, &entry, &epoch, &leader);
    int64_t duplicate = lgi_replica_log_duplicate(r->log);
    lgi_replica_log_set_proposing(r->log, 0);
    lgi_free(batch); /* the adapter wrote a copy */
    if (err != LG_OK && err != LG_ERR_STATE && duplicate >= 0) {
        /* A retry of an idempotent batch the log holds at duplicate --
         * appended by this node or, before a failover, by another leader
         * and replicated here.  Answered with the original's offsets once
         * the original satisfies acks: for acks=all, once the high
         * watermark covers it at the epoch it has (as Kafka's leader
         * waits for its HW); if it is truncated away meanwhile, the retry
         * fails LG_ERR_NOT_LEADER and is retried again. */
        lgi_error_clear();
        err = LG_OK;
        if (duplicate < lgi_replica_log_record_offset(
                            r->log, lgi_replica_log_first(r->log))) {
            /* Below the log start: committed long ago (and retention has
             * deleted it since). */
            advance(repl, &ready);
            pthread_mutex_unlock(&repl->lock);
            complete(ready);
            if (base_offsetp)
                *base_offsetp = duplicate;
            if (done)
                done(done_opaque, LG_OK, duplicate);
            return LG_OK;
        }
        entry = lgi_replica_log_entry_of(r->log, duplicate);
        epoch = lgi_replica_log_epoch_at(r->log, entry);
    }
    if (err == LG_ERR_STATE) {
        advance(repl, &ready);
        pthread_mutex_unlock(&repl->lock);
        complete(ready);
        if (leader >= 0)
            return lgi_error(LG_ERR_NOT_LEADER,
                             "%s-%" PRId32 ": node %" PRId32 " is not the "
                             "leader; the leader is node %" PRId32,
                             r->topic, r->partition, repl->node_id, leader);
        return lgi_error(LG_ERR_NOT_LEADER,
                         "%s-%" PRId32 ": node %" PRId32 " is not the "
                         "leader; no leader is known yet",
                         r->topic, r->partition, repl->node_id);
    }
    if (err != LG_OK) {
        const char *cause_message;
        lg_err_t cause = lgi_replica_log_append_error(r->log, &cause_message);
        if (cause != LG_OK) /* the real reason, not the core's "failed" */
            err = lgi_error(cause, "%s-%" PRId32 ": %s", r->topic,
                            r->partition, cause_message);
        advance(repl, &ready);
        pthread_mutex_unlock(&repl->lock);
        complete(ready);
        return err;
    }
    int64_t base = lgi_replica_log_record_offset(r->log, entry);
    if (acks != LG_ACKS_ALL) {
        advance(repl, &ready);
        pthread_mutex_unlock(&repl->lock);
        complete(ready);
        if (base_offsetp)
            *base_offsetp = base;
        if (done)
            done(done_opaque, LG_OK, base);
        return LG_OK;
    }
    waiter_t local, *w = done ? lgi_calloc(1, sizeof *w) : &local;
    if (w == NULL) {
        advance(repl, &ready);
        pthread_mutex_unlock(&repl->lock);
        complete(ready);
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    }
    memset(w, 0, sizeof *w);
    w->entry = entry;
    w->epoch = epoch;
    w->base_offset = base;
    w->deadline_ms = repl->now_ms + repl->ack_timeout_ms;
    w->done = done;
    w->done_opaque = done_opaque;
    w->next = r->waiters;
    r->waiters = w;
    advance(repl, &ready); /* a single voter commits at once */
    if (done) {
        pthread_mutex_unlock(&repl->lock);
        complete(ready);
        return LG_OK;
    }
    repl->busy++;
    while (!w->settled && !repl->closing)
        pthread_cond_wait(&repl->changed, &repl->lock);
    if (!w->settled) { /* closing: unlink */
        for (waiter_t **wp = &r->waiters; *wp; wp = &(*wp)->next)
            if (*wp == w) {
                *wp = w->next;
                break;
            }
        err = lgi_error(LG_ERR_CLOSED, "%s-%" PRId32 ": engine closed before "
                        "the batch was committed", r->topic, r->partition);
    } else {
        err = w->result;
        if (err != LG_OK) /* restore the message on this thread */
            err = lgi_error(err, "%s-%" PRId32 ": batch at %" PRId64 " %s",
                            r->topic, r->partition, base,
                            err == LG_ERR_TIMED_OUT
                                ? "not committed within "
                                  "replication.ack.timeout.ms"
                                : "lost to a leadership change");
    }
    repl->busy--;
    pthread_cond_broadcast(&repl->changed);
    pthread_mutex_unlock(&repl->lock);
    complete(ready);
    if (err == LG_OK && base_offsetp)
        *base_offsetp = base;
    return err;
}

static lg_err_t attach_persisted(lgi_replication_t *repl);

LG_API lg_err_t lg_engine_set_transport(lg_engine_t *engine,
                                        const lg_transport_t *transport) {
    lgi_error_clear();
    if (!engine || !transport || !transport->send)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_engine_set_transport: engine, transport and "
                         "send must not be NULL");
    if (transport->version != LG_TRANSPORT_VERSION)
        return lgi_error(LG_ERR_UNSUPPORTED,
                         "transport version %d (this liblog knows %d)",
                         transport->version, LG_TRANSPORT_VERSION);
    for (size_t i = 0; i < 8; i++)
        if (transport->reserved[i])
            return lgi_error(LG_ERR_INVALID_ARG,
                             "transport reserved slots must be NULL");
    int64_t node_id = lgi_conf_int(&engine->conf, LGI_CONF_NODE_ID);
    if (node_id < 0)
        return lgi_error(LG_ERR_INVALID_CONFIG,
                         "lg_engine_set_transport: set node.id first");
    if (get(engine))
        return lgi_error(LG_ERR_STATE, "a transport is already set");
    lgi_replication_t *repl = lgi_calloc(1, sizeof *repl);
    if (!repl)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    repl->engine = engine;
    repl->transport = *transport;
    repl->node_id = (int32_t)node_id;
    repl->factor =
        (size_t)lgi_conf_int(&engine->conf, LGI_CONF_REPLICATION_FACTOR);
    repl->ack_timeout_ms =
        lgi_conf_int(&engine->conf, LGI_CONF_REPLICATION_ACK_TIMEOUT_MS);
    int64_t seed =
        lgi_conf_int(&engine->conf, LGI_CONF_REPLICATION_RANDOM_SEED);
    lgi_replica_config_t config = {
        .node_id = repl->node_id,
        .cluster_id = CLUSTER_ID,
        .seed = seed >= 0 ? (uint64_t)seed
                          : 0x6c67000000000000ull ^ (uint64_t)node_id,
        .election_timeout_ms = lgi_conf_int(
            &engine->conf, LGI_CONF_REPLICATION_ELECTION_TIMEOUT_MS),
        .fetch_interval_ms = lgi_conf_int(
            &engine->conf, LGI_CONF_REPLICATION_FETCH_INTERVAL_MS),
        .max_fetch_entries = 64,
        .send = transport_send,
        .send_opaque = repl,
    };
    lg_err_t err = lgi_replica_node_create(&config, 0, &repl->node);
    if (err) {
        lgi_free(repl);
        return err;
    }
    pthread_mutex_init(&repl->lock, NULL);
    pthread_cond_init(&repl->changed, NULL);
    /* Replica sets persisted by an earlier lg_topic_set_replicas resume
     * here, before anyone can see the transport.  Serialised, so a second
     * concurrent call cannot attach (or, failing, hold again) partitions
     * the first one runs. */
    pthread_mutex_lock(&transport_lock);
    if (get(engine))
        err = lgi_error(LG_ERR_STATE, "a transport is already set");
    else if (!(err = attach_persisted(repl)))
        atomic_store(&engine->replication, repl);
    pthread_mutex_unlock(&transport_lock);
    if (err) {
        lgi_replica_node_destroy(repl->node);
        pthread_mutex_destroy(&repl->lock);
        pthread_cond_destroy(&repl->changed);
        lgi_free(repl->parts);
        lgi_free(repl);
        return err;
    }
    return LG_OK;
}

/* The hook of a held partition (lgi_replication_hold). */
static lg_err_t held_append(void *opaque, uint8_t *batch, size_t len,
                            int acks, int64_t now_ms, lgi_append_done_fn done,
                            void *done_opaque, int64_t *base_offsetp) {
    (void)opaque, (void)len, (void)acks, (void)now_ms, (void)done,
        (void)done_opaque, (void)base_offsetp;
    lgi_free(batch);
    return lgi_error(LG_ERR_NOT_LEADER,
                     "replicated partition: no leader known yet (its replica "
                     "set is persisted; replication resumes once "
                     "lg_engine_set_transport is called)");
}

static const lgi_append_hook_t held_hook = {.append = held_append};

void lgi_replication_hold(lgi_partition_t *partition) {
    /* at the log start, not 0, so the high watermark is never below the
     * low one */
    lgi_partition_set_read_limit(partition,
                                 lgi_partition_log_start(partition));
    lgi_partition_set_append_hook(partition, &held_hook);
}

/* Undoes a failed attach of r before its hook went in: the partition is
 * left as it was (held when its set is persisted, plain otherwise). */
static void detach(lg_engine_t *engine, replicated_t *r) {
    lgi_replica_log_close(r->log);
    lgi_engine_release(engine, &r->ref);
    lgi_free(r->topic);
    lgi_free(r);
}

/* Runs partition of topic on repl's node with voters nodes[0..count):
 * opens the storage adapter, adds the partition to the core, installs the
 * append hook.  *already is set when it is attached already (LG_ERR_STATE
 * then). */
static lg_err_t attach(lgi_replication_t *repl, const char *topic,
                       int32_t partition, const int32_t *nodes, size_t count,
                       int *already) {
    lg_engine_t *engine = repl->engine;
    *already = 0;
    replicated_t *r = lgi_calloc(1, sizeof *r);
    if (!r)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    r->topic = lgi_malloc(strlen(topic) + 1);
    if (!r->topic) {
        lgi_free(r);
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    }
    strcpy(r->topic, topic);
    r->partition = partition;
    r->repl = repl;
    lg_err_t err = lgi_engine_acquire(engine, topic, partition, &r->ref);
    if (err) {
        lgi_free(r->topic);
        lgi_free(r);
        return err;
    }
    pthread_mutex_lock(&repl->lock);
    char *state = NULL;
    const char *dir = lgi_partition_path(r->ref.partition);
    if (repl->closing)
        err = lgi_error(LG_ERR_CLOSED, "engine is closing");
    else if (find(repl, topic, partition))
        err = lgi_error(LG_ERR_STATE, "%s-%" PRId32 " is already replicated",
                        topic, partition), *already = 1;
    else if (!(state = lgi_malloc(strlen(dir) + sizeof "/quorum-state")))
        err = lgi_error(LG_ERR_NOMEM, "out of memory");
    if (!err) {
        strcpy(state, dir);
        strcat(state, "/quorum-state");
        err = lgi_replica_log_open(r->ref.partition, state,
                                   lgi_engine_now_ms(engine), &r->log);
        lgi_free(state);
    }
    /* Batches written before replication carry no epoch (-1): on several
     * voters they would look alike at equal offsets while differing, which
     * breaks log matching.  A single voter has nothing to match. */
    if (!err && count > 1)
        for (int64_t e = lgi_replica_log_first(r->log);
             e < lgi_replica_log_count(r->log) && !err; e++)
            if (lgi_replica_log_epoch_at(r->log, e) < 1)
                err = lgi_error(LG_ERR_STATE,
                                "%s-%" PRId32 " holds records written without "
                                "replication; only an empty partition can get "
                                "several replicas",
                                topic, partition);
    replicated_t **grown = NULL;
    if (!err) {
        grown = lgi_realloc(repl->parts, (repl->count + 1) * sizeof *grown);
        if (!grown)
            err = lgi_error(LG_ERR_NOMEM, "out of memory");
        else
            repl->parts = grown;
    }
    if (!err) {
        lgi_replica_storage_t storage = lgi_replica_log_storage(r->log);
        err = lgi_replica_node_add(repl->node, topic, partition, nodes, count,
                                   &storage, repl->now_ms);
    }
    if (err) {
        pthread_mutex_unlock(&repl->lock);
        detach(engine, r);
        return err;
    }
    /* Nothing is visible until this node learns a high watermark. */
    r->visible = lgi_partition_log_start(r->ref.partition);
    lgi_partition_set_read_limit(r->ref.partition, r->visible);
    r->hook.append = hook_append;
    r->hook.opaque = r;
    lgi_partition_set_append_hook(r->ref.partition, &r->hook);
    repl->parts[repl->count++] = r;
    pthread_mutex_unlock(&repl->lock);
    return LG_OK;
}

/* Attaches every persisted replica set (the engine's open held them) to
 * repl, which is not published yet.  On failure every partition attached
 * here is held again. */
static lg_err_t attach_persisted(lgi_replication_t *repl) {
    lgi_replica_assignment_t *sets;
    char **names;
    size_t count;
    lg_err_t err = lgi_topic_replica_sets(repl->engine, &sets, &names, &count);
    if (err)
        return err;
    for (size_t i = 0; i < count && !err; i++) {
        int self = 0, already;
        for (size_t k = 0; k < sets[i].count; k++)
            self |= sets[i].nodes[k] == repl->node_id;
        if (!self)
            err = lgi_error(LG_ERR_INVALID_CONFIG,
                            "%s-%" PRId32 " is replicated over %zu nodes that "
                            "do not include this engine's node.id %" PRId32,
                            names[i], sets[i].partition, sets[i].count,
                            repl->node_id);
        else
            err = attach(repl, names[i], sets[i].partition, sets[i].nodes,
                         sets[i].count, &already);
    }
    if (err) {
        for (size_t i = 0; i < repl->count; i++) {
            replicated_t *r = repl->parts[i];
            lgi_replica_log_close(r->log);
            r->log = NULL;
            lgi_replication_hold(r->ref.partition);
            lgi_engine_release(repl->engine, &r->ref);
            lgi_free(r->topic);
            lgi_free(r);
        }
        repl->count = 0;
    }
    for (size_t i = 0; i < count; i++)
        lgi_free(names[i]);
    lgi_free(names);
    lgi_free(sets);
    return err;
}

/* 1 when a[0..a_count) and b[0..b_count) hold the same ids (any order). */
static int same_nodes(const int32_t *a, size_t a_count, const int32_t *b,
                      size_t b_count) {
    if (a_count != b_count)
        return 0;
    for (size_t i = 0; i < a_count; i++) {
        int found = 0;
        for (size_t j = 0; j < b_count && !found; j++)
            found = a[i] == b[j];
        if (!found)
            return 0;
    }
    return 1;
}

LG_API lg_err_t lg_topic_set_replicas(lg_engine_t *engine, const char *topic,
                                      int32_t partition, const int32_t *nodes,
                                      size_t count) {
    lgi_error_clear();
    if (!engine || !topic || !nodes)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_topic_set_replicas: engine, topic and nodes "
                         "must not be NULL");
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return lgi_error(LG_ERR_STATE, "lg_topic_set_replicas: no transport "
                         "(lg_engine_set_transport first)");
    if (count != repl->factor)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%zu replicas given, replication.factor is %zu",
                         count, repl->factor);
    int self = 0;
    for (size_t i = 0; i < count; i++) {
        if (nodes[i] < 0)
            return lgi_error(LG_ERR_INVALID_ARG, "node id %" PRId32
                             " is negative", nodes[i]);
        for (size_t j = 0; j < i; j++)
            if (nodes[j] == nodes[i])
                return lgi_error(LG_ERR_INVALID_ARG,
                                 "node %" PRId32 " listed twice", nodes[i]);
        self |= nodes[i] == repl->node_id;
    }
    if (!self)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "replicas must include this engine's node.id %" PRId32,
                         repl->node_id);
    if (partition < 0)
        return lgi_error(LG_ERR_UNKNOWN_PARTITION, "partition %" PRId32
                         " of topic \"%s\" does not exist", partition, topic);
    lg_err_t err = lgi_authorize(engine, LG_OP_ALTER, LG_RESOURCE_TOPIC, topic);
    if (err)
        return err;
    /* The assignment is persisted first (the commit point: the next open
     * holds the partition for replication); removed again if attaching
     * fails. */
    lgi_replica_assignment_t current;
    int claimed;
    if ((err = lgi_topic_claim_replicas(engine, topic, partition, nodes,
                                        count, &current, &claimed)))
        return err;
    if (!claimed &&
        !same_nodes(current.nodes, current.count, nodes, count)) {
        char list[LGI_MAX_REPLICAS * 12] = "";
        for (size_t k = 0, at = 0; k < current.count; k++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%" PRId32,
                                   k ? "," : "", current.nodes[k]);
        return lgi_error(LG_ERR_STATE,
                         "%s-%" PRId32 " is already replicated over nodes %s; "
                         "changing a replica set is not supported",
                         topic, partition, list);
    }
    int already;
    err = attach(repl, topic, partition, current.nodes, current.count,
                 &already);
    if (err && already) { /* the same set again: nothing to do */
        lgi_error_clear();
        return LG_OK;
    }
    if (err && claimed) {
        char message[512];
        snprintf(message, sizeof message, "%s", lg_last_error_message());
        lgi_topic_unclaim_replicas(engine, topic, partition);
        err = lgi_error(err, "%s", message);
    }
    return err;
}

LG_API lg_err_t lg_replica_receive(lg_engine_t *engine, int32_t from_node,
                                   const void *bytes, size_t len) {
    lgi_error_clear();
    if (!engine || (!bytes && len))
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_replica_receive: engine and bytes must not be "
                         "NULL");
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return lgi_error(LG_ERR_STATE, "lg_replica_receive: no transport");
    waiter_t *ready = NULL;
    pthread_mutex_lock(&repl->lock);
    lg_err_t err = repl->closing ? lgi_error(LG_ERR_CLOSED, "engine closing")
                                 : lgi_replica_node_receive(repl->node,
                                                            from_node, bytes,
                                                            len, repl->now_ms);
    if (!repl->closing)
        advance(repl, &ready);
    pthread_mutex_unlock(&repl->lock);
    complete(ready);
    return err;
}

LG_API lg_err_t lg_engine_tick(lg_engine_t *engine, int64_t now_ms) {
    lgi_error_clear();
    if (!engine)
        return lgi_error(LG_ERR_INVALID_ARG, "lg_engine_tick: engine is NULL");
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return LG_OK;
    waiter_t *ready = NULL;
    pthread_mutex_lock(&repl->lock);
    if (repl->closing) {
        pthread_mutex_unlock(&repl->lock);
        return lgi_error(LG_ERR_CLOSED, "engine closing");
    }
    if (now_ms > repl->now_ms)
        repl->now_ms = now_ms;
    /* Record timestamps and segment.ms are wall-clock data, as for every
     * other append; only the protocol runs on host time. */
    int64_t wall = lgi_engine_now_ms(engine);
    for (size_t i = 0; i < repl->count; i++)
        lgi_replica_log_set_time(repl->parts[i]->log, wall);
    lgi_replica_node_tick(repl->node, repl->now_ms);
    advance(repl, &ready);
    pthread_mutex_unlock(&repl->lock);
    complete(ready);
    return LG_OK;
}

LG_API lg_err_t lg_replica_leader(lg_engine_t *engine, const char *topic,
                                  int32_t partition, int32_t *leaderp,
                                  int32_t *epochp, int64_t *high_watermarkp) {
    lgi_error_clear();
    if (!engine || !topic)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_replica_leader: engine and topic must not be "
                         "NULL");
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return lgi_error(LG_ERR_STATE, "%s-%" PRId32 " is not replicated",
                         topic, partition);
    pthread_mutex_lock(&repl->lock);
    replicated_t *r = repl->closing ? NULL : find(repl, topic, partition);
    lgi_replica_status_t st;
    lg_err_t err = r ? lgi_replica_status(repl->node, topic, partition, &st)
                     : lgi_error(LG_ERR_STATE, "%s-%" PRId32 " is not "
                                 "replicated", topic, partition);
    if (!err) {
        if (leaderp)
            *leaderp = st.leader;
        if (epochp)
            *epochp = st.epoch;
        if (high_watermarkp)
            *high_watermarkp =
                lgi_replica_log_record_offset(r->log, st.high_watermark);
    }
    pthread_mutex_unlock(&repl->lock);
    return err;
}

/* Runs an operator action (transfer, unclean election) on partition's
 * consensus under the replication lock, then releases what it completed. */
typedef lg_err_t (*operator_fn)(lgi_replica_node_t *node, const char *topic,
                                int32_t partition, int32_t target,
                                int64_t now_ms);

static lg_err_t run_operator(lg_engine_t *engine, const char *what,
                             const char *topic, int32_t partition,
                             int32_t target, operator_fn action) {
    if (!engine || !topic)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: engine and topic must not be NULL", what);
    lg_err_t denied = lgi_authorize(engine, LG_OP_ALTER, LG_RESOURCE_TOPIC,
                                    topic);
    if (denied)
        return denied;
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return lgi_error(LG_ERR_STATE, "%s: %s-%" PRId32 " is not replicated",
                         what, topic, partition);
    waiter_t *ready = NULL;
    pthread_mutex_lock(&repl->lock);
    replicated_t *r = repl->closing ? NULL : find(repl, topic, partition);
    lg_err_t err = r ? action(repl->node, topic, partition, target,
                              repl->now_ms)
                     : lgi_error(LG_ERR_STATE,
                                 "%s: %s-%" PRId32 " is not replicated",
                                 what, topic, partition);
    if (r)
        advance(repl, &ready);
    pthread_mutex_unlock(&repl->lock);
    complete(ready);
    return err;
}

static lg_err_t transfer(lgi_replica_node_t *node, const char *topic,
                         int32_t partition, int32_t target, int64_t now_ms) {
    lg_err_t err = lgi_replica_transfer(node, topic, partition, target,
                                        now_ms);
    if (err == LG_ERR_STATE) {
        lgi_replica_status_t st;
        int32_t leader = lgi_replica_status(node, topic, partition, &st)
                             ? -1
                             : st.leader;
        return lgi_error(LG_ERR_NOT_LEADER,
                         "lg_replica_transfer_leadership: this node is not "
                         "the leader of %s-%" PRId32 " (leader: %" PRId32 ")",
                         topic, partition, leader);
    }
    if (err == LG_ERR_INVALID_ARG)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_replica_transfer_leadership: node %" PRId32
                         " is not another replica of %s-%" PRId32,
                         target, topic, partition);
    return err;
}

static lg_err_t elect_unclean(lgi_replica_node_t *node, const char *topic,
                              int32_t partition, int32_t target,
                              int64_t now_ms) {
    (void)target;
    return lgi_replica_force_leader(node, topic, partition, now_ms);
}

LG_API lg_err_t lg_replica_transfer_leadership(lg_engine_t *engine,
                                               const char *topic,
                                               int32_t partition,
                                               int32_t target_node) {
    lgi_error_clear();
    return run_operator(engine, "lg_replica_transfer_leadership", topic,
                        partition, target_node, transfer);
}

LG_API lg_err_t lg_replica_elect_unclean(lg_engine_t *engine,
                                         const char *topic,
                                         int32_t partition) {
    lgi_error_clear();
    return run_operator(engine, "lg_replica_elect_unclean", topic, partition,
                        -1, elect_unclean);
}

lg_err_t lgi_replication_retain(lg_engine_t *engine,
                                lgi_partition_t *partition,
                                const lgi_cleaner_settings_t *settings,
                                int64_t now_ms, size_t *deletedp) {
    *deletedp = 0;
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return LG_OK; /* held until a transport is set */
    pthread_mutex_lock(&repl->lock);
    replicated_t *r = NULL;
    for (size_t i = 0; !repl->closing && i < repl->count && !r; i++)
        if (repl->parts[i]->ref.partition == partition)
            r = repl->parts[i];
    lg_err_t err = LG_OK;
    int64_t point = -1;
    if (r)
        err = lgi_cleaner_retention_point(partition, settings, now_ms,
                                          &point);
    /* Never above the high watermark: what is not committed may still be
     * truncated, and what is deleted must be the same on every replica. */
    if (r && point > r->visible)
        point = r->visible;
    if (r && !err && point > lgi_replica_log_record_offset(
                            r->log, lgi_replica_log_first(r->log))) {
        size_t before = lgi_partition_segment_count(partition);
        err = lgi_replica_log_delete_before(r->log, point);
        size_t after = lgi_partition_segment_count(partition);
        *deletedp = before > after ? before - after : 0;
    }
    pthread_mutex_unlock(&repl->lock);
    return err;
}

lg_err_t lgi_replication_compact(lg_engine_t *engine, lgi_cleaner_t *cleaner,
                                 lgi_partition_t *partition,
                                 const lgi_cleaner_settings_t *settings,
                                 int64_t now_ms, int force,
                                 int64_t *first_dirtyp,
                                 lgi_clean_stats_t *stats) {
    memset(stats, 0, sizeof *stats);
    stats->next_horizon = -1;
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return LG_OK; /* held until a transport is set */
    lgi_cleaner_settings_t keeping = *settings;
    keeping.keep_batches = 1;
    lg_err_t err = LG_OK;
    pthread_mutex_lock(&repl->lock);
    for (size_t i = 0; !repl->closing && i < repl->count; i++)
        if (repl->parts[i]->ref.partition == partition) {
            err = lgi_cleaner_compact(cleaner, partition, &keeping, now_ms,
                                      force, first_dirtyp, stats);
            break;
        }
    pthread_mutex_unlock(&repl->lock);
    return err;
}

void lgi_replication_shutdown(lg_engine_t *engine) {
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return;
    waiter_t *ready = NULL;
    pthread_mutex_lock(&repl->lock);
    repl->closing = 1;
    for (size_t i = 0; i < repl->count; i++) {
        replicated_t *r = repl->parts[i];
        for (waiter_t **wp = &r->waiters; *wp;) {
            waiter_t *w = *wp;
            if (!w->done) { /* a synchronous caller: it unlinks itself */
                wp = &w->next;
                continue;
            }
            *wp = w->next;
            w->result = LG_ERR_CLOSED;
            w->next = ready;
            ready = w;
        }
    }
    pthread_cond_broadcast(&repl->changed);
    while (repl->busy > 0)
        pthread_cond_wait(&repl->changed, &repl->lock);
    pthread_mutex_unlock(&repl->lock);
    complete(ready);
    /* The hooks stay installed (they now answer LG_ERR_CLOSED), so nothing
     * can append behind the consensus' back; the partitions stay open in
     * the engine's table until lgi_topics_close. */
    for (size_t i = 0; i < repl->count; i++) {
        replicated_t *r = repl->parts[i];
        lgi_replica_log_close(r->log);
        r->log = NULL;
        lgi_engine_release(engine, &r->ref);
    }
    lgi_replica_node_destroy(repl->node);
    repl->node = NULL;
}

void lgi_replication_free(lg_engine_t *engine) {
    lgi_replication_t *repl = get(engine);
    if (!repl)
        return;
    for (size_t i = 0; i < repl->count; i++) {
        lgi_free(repl->parts[i]->topic);
        lgi_free(repl->parts[i]);
    }
    lgi_free(repl->parts);
    pthread_mutex_destroy(&repl->lock);
    pthread_cond_destroy(&repl->changed);
    lgi_free(repl);
    atomic_store(&engine->replication, NULL);
}
