/*
 * txn.c -- the transaction coordinator: one entry per transactional.id
 * (producer id, epoch, timeout, state, the partitions and group offsets
 * of the open transaction), made durable in the compacted internal topic
 * __transaction_state (one partition; key = the transactional.id).
 *
 * STATE MACHINE (Kafka's):
 *   Empty/CompleteX --add partition/offsets--> Ongoing
 *   Ongoing --end--> PrepareCommit | PrepareAbort --markers--> CompleteX
 * init (lgi_txn_init) finishes a PrepareX, aborts an Ongoing transaction
 * under a bumped epoch, and bumps the epoch once more for the caller, so
 * the previous producer with the same transactional.id is fenced both
 * here (its epoch is stale) and in every partition the abort marker
 * reached (the partition's producer table refuses older epochs).
 *
 * INVARIANTS
 *   - A partition is recorded durably (an Ongoing record naming it) before
 *     the producer may write transactional data to it, so every partition
 *     holding data of an open transaction is known after a crash.  The
 *     record is written when the partition is added (lgi_txn_add_partition,
 *     on the producing thread) but made durable by lgi_txn_sync, which the
 *     producer's sender calls before handing off the first batch after any
 *     registration: the partitions a transaction touches within one linger
 *     share one fdatasync, as Kafka's producer sends one AddPartitionsToTxn
 *     for them.  A replicated __transaction_state is written acks=all at
 *     once instead, since a local fdatasync is not a majority.
 *   - Markers are written only after the PrepareX record is durable; once
 *     it is, the outcome is decided: engine open (lgi_txn_open) and the
 *     maintenance thread re-drive any PrepareX to CompleteX.  Markers and
 *     offset commits are idempotent in effect (a second commit marker
 *     closes nothing; the same offsets rewritten), so re-driving after a
 *     crash between markers and CompleteX is harmless.
 *   - Group offsets sent with the transaction are kept with it and are
 *     written to __consumer_offsets only when it commits (after its
 *     markers), so they become visible exactly when its output does.
 *   - One mutex guards the table and serialises all coordinator writes.
 *
 * RECORD LAYOUT (big-endian, as Kafka's TransactionLog v0):
 *   key:   version int16 (0), transactionalId string (int16 length)
 *   value: version int16 (0), producerId int64, producerEpoch int16,
 *          transactionTimeoutMs int32, transactionStatus int8,
 *          partitions int32 count of {topic string, int32 count (1),
 *          partition int32}, lastUpdateTimestampMs int64,
 *          startTimestampMs int64; then liblog's pending offsets:
 *          groupId string (length -1: none), int32 count of
 *          {topic string, partition int32, offset int64}.
 */
#include "txn.h"

#include "alloc.h"
#include "batch.h"
#include "buf.h"
#include "conf.h"
#include "endian.h"
#include "engine.h"
#include "err.h"
#include "group.h"
#include "partition.h"
#include "producer_id.h"
#include "stats.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lgi_txn_crash_point = 0;

typedef struct txn {
    struct txn *next;
    char *id;
    int64_t producer_id;
    int16_t epoch;
    int32_t timeout_ms;
    int state;
    int64_t start_ms; /* wall clock, when it became Ongoing */
    lg_topic_partition_list_t partitions;
    char *group_id; /* NULL: no offsets */
    lg_topic_partition_list_t offsets;
} txn_t;

typedef struct lgi_txn_coordinator {
    lg_engine_t *engine;
    pthread_mutex_t lock;
    txn_t *txns;
} lgi_txn_coordinator_t;

static void list_clear(lg_topic_partition_list_t *list) {
    for (size_t i = 0; i < list->count; i++)
        lgi_free(list->items[i].topic);
    list->count = 0;
}

static void list_free(lg_topic_partition_list_t *list) {
    list_clear(list);
    lgi_free(list->items);
    list->items = NULL;
    list->capacity = 0;
}

/* Sets (topic, partition) to offset, appending when absent. */
static lg_err_t list_put(lg_topic_partition_list_t *list, const char *topic,
                         int32_t partition, int64_t offset) {
    size_t i = lgi_tp_list_find(list, topic, partition);
    if (i != SIZE_MAX) {
        list->items[i].offset = offset;
        return LG_OK;
    }
    return lg_topic_partition_list_add(list, topic, partition, offset);
}

static void txn_clear(txn_t *t) {
    list_clear(&t->partitions);
    list_clear(&t->offsets);
    lgi_free(t->group_id);
    t->group_id = NULL;
}

static void txn_free(txn_t *t) {
    list_free(&t->partitions);
    list_free(&t->offsets);
    lgi_free(t->group_id);
    lgi_free(t->id);
    lgi_free(t);
}

static txn_t *find(lgi_txn_coordinator_t *c, const char *id) {
    for (txn_t *t = c->txns; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

static txn_t *create(lgi_txn_coordinator_t *c, const char *id) {
    txn_t *t = lgi_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t len = strlen(id);
    if (!(t->id = lgi_malloc(len + 1))) {
        lgi_free(t);
        return NULL;
    }
    memcpy(t->id, id, len + 1);
    t->producer_id = -1;
    t->epoch = -1;
    t->state = LGI_TXN_EMPTY;
    t->next = c->txns;
    c->txns = t;
    return t;
}

/* ------------------------------------------------------------------------
 * Encoding
 * --------------------------------------------------------------------- */

static int put_bytes(lgi_buf_t *b, const void *p, size_t n) {
    return lgi_buf_append(b, p, n);
}
static int put16(lgi_buf_t *b, int16_t v) {
    uint8_t x[2];
    lgi_put_be16(x, (uint16_t)v);
    return put_bytes(b, x, 2);
}
static int put32(lgi_buf_t *b, int32_t v) {
    uint8_t x[4];
    lgi_put_be32(x, (uint32_t)v);
    return put_bytes(b, x, 4);
}
static int put64(lgi_buf_t *b, int64_t v) {
    uint8_t x[8];
    lgi_put_be64(x, (uint64_t)v);
    return put_bytes(b, x, 8);
}
static int put_str(lgi_buf_t *b, const char *s) {
    if (!s)
        return put16(b, -1);
    size_t n = strlen(s);
    return put16(b, (int16_t)n) || put_bytes(b, s, n);
}

/* Returns nonzero when out of memory. */
static int encode_value(lgi_buf_t *b, const txn_t *t, int64_t now) {
    int bad = put16(b, 0) || put64(b, t->producer_id) || put16(b, t->epoch) ||
              put32(b, t->timeout_ms) || put_bytes(b, &(uint8_t){(uint8_t)t->state}, 1) ||
              put32(b, (int32_t)t->partitions.count);
    for (size_t i = 0; !bad && i < t->partitions.count; i++)
        bad = put_str(b, t->partitions.items[i].topic) || put32(b, 1) ||
              put32(b, t->partitions.items[i].partition);
    bad = bad || put64(b, now) || put64(b, t->start_ms) ||
          put_str(b, t->group_id) || put32(b, (int32_t)t->offsets.count);
    for (size_t i = 0; !bad && i < t->offsets.count; i++)
        bad = put_str(b, t->offsets.items[i].topic) ||
              put32(b, t->offsets.items[i].partition) ||
              put64(b, t->offsets.items[i].offset);
    return bad;
}

typedef struct reader {
    const uint8_t *p;
    size_t left;
    int bad;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n) {
    if (r->bad || r->left < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}
static int64_t get64(reader_t *r) {
    const uint8_t *p = take(r, 8);
    return p ? (int64_t)lgi_get_be64(p) : 0;
}
static int32_t get32(reader_t *r) {
    const uint8_t *p = take(r, 4);
    return p ? (int32_t)lgi_get_be32(p) : 0;
}
static int16_t get16(reader_t *r) {
    const uint8_t *p = take(r, 2);
    return p ? (int16_t)lgi_get_be16(p) : 0;
}
/* A copy of a string field (NULL for length -1 or on error). */
static char *get_str(reader_t *r) {
    int16_t n = get16(r);
    if (n < 0)
        return NULL;
    const uint8_t *p = take(r, (size_t)n);
    if (!p)
        return NULL;
    char *s = lgi_malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    return s;
}

/* Decodes a value into t (whose lists are empty).  Nonzero when
 * malformed. */
static int decode_value(txn_t *t, const uint8_t *value, size_t len) {
    reader_t r = {value, len, 0};
    if (get16(&r) != 0)
        return 1;
    t->producer_id = get64(&r);
    t->epoch = get16(&r);
    t->timeout_ms = get32(&r);
    const uint8_t *state = take(&r, 1);
    t->state = state ? *state : 0;
    int32_t n = get32(&r);
    for (int32_t i = 0; !r.bad && i < n; i++) {
        char *topic = get_str(&r);
        int32_t count = get32(&r);
        for (int32_t k = 0; topic && !r.bad && k < count; k++)
            if (lg_topic_partition_list_add(&t->partitions, topic, get32(&r),
                                            LG_OFFSET_INVALID) != LG_OK)
                r.bad = 1;
        if (!topic)
            r.bad = 1;
        lgi_free(topic);
    }
    get64(&r);
    t->start_ms = get64(&r);
    t->group_id = get_str(&r);
    n = get32(&r);
    for (int32_t i = 0; !r.bad && i < n; i++) {
        char *topic = get_str(&r);
        int32_t partition = get32(&r);
        int64_t offset = get64(&r);
        if (!topic || r.bad ||
            lg_topic_partition_list_add(&t->offsets, topic, partition,
                                        offset) != LG_OK)
            r.bad = 1;
        lgi_free(topic);
    }
    lgi_error_clear();
    return r.bad || t->state < LGI_TXN_EMPTY ||
           t->state > LGI_TXN_COMPLETE_ABORT;
}

/* ------------------------------------------------------------------------
 * Durable writes
 * --------------------------------------------------------------------- */

static lg_err_t ensure_topic(lg_engine_t *engine) {
    int32_t partitions;
    if (lg_topic_partition_count(engine, LGI_TXN_STATE_TOPIC, &partitions) ==
        LG_OK)
        return LG_OK;
    lg_conf_t *conf = lg_conf_new();
    if (!conf)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    lg_conf_set(conf, "segment.bytes", "104857600");
    lg_conf_set(conf, "segment.preallocate.bytes", "0");
    lg_conf_set(conf, "cleanup.policy", "compact");
    lg_err_t err = lg_topic_create(engine, LGI_TXN_STATE_TOPIC, 1, conf);
    lg_conf_destroy(conf);
    if (err == LG_ERR_TOPIC_EXISTS)
        err = LG_OK;
    return err;
}

/* Appends t's current state to __transaction_state with acks (acks=all
 * unless the caller arranges the fdatasync itself, see INVARIANTS). */
static lg_err_t persist_unchecked(lgi_txn_coordinator_t *c, const txn_t *t,
                                  int acks);

/* Writing __transaction_state is the library's own act, whoever's call
 * caused it. */
static lg_err_t persist_acks(lgi_txn_coordinator_t *c, const txn_t *t,
                             int acks) {
    lgi_authorize_suspend();
    lg_err_t err = persist_unchecked(c, t, acks);
    lgi_authorize_resume();
    return err;
}

static lg_err_t persist(lgi_txn_coordinator_t *c, const txn_t *t) {
    return persist_acks(c, t, LG_ACKS_ALL);
}

static lg_err_t persist_unchecked(lgi_txn_coordinator_t *c, const txn_t *t,
                                  int acks) {
    lg_engine_t *engine = c->engine;
    lg_err_t err = ensure_topic(engine);
    if (err != LG_OK)
        return err;
    lgi_buf_t key = {0}, value = {0};
    int64_t now = lgi_engine_now_ms(engine);
    if (put16(&key, 0) || put_str(&key, t->id) ||
        encode_value(&value, t, now)) {
        lgi_buf_free(&key);
        lgi_buf_free(&value);
        return lgi_error(LG_ERR_NOMEM, "out of memory writing %s",
                         LGI_TXN_STATE_TOPIC);
    }
    lg_records_t *records = lg_records_new();
    if (!records)
        err = lgi_error(LG_ERR_NOMEM, "out of memory");
    else if ((err = lg_records_add(records, key.data, key.len, value.data,
                                   value.len, now)) == LG_OK)
        err = lg_append(engine, LGI_TXN_STATE_TOPIC, 0, records, acks, NULL);
    lg_records_destroy(records);
    lgi_buf_free(&key);
    lgi_buf_free(&value);
    return err;
}

/* The markers of one commit or abort in flight: the appends complete on
 * the I/O thread, the coordinator waits for the last. */
typedef struct marker_wait {
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t pending;
    lg_err_t err;         /* the first failure */
    size_t failed;        /* index of the partition it happened in */
} marker_wait_t;

/* One marker's completion context: the shared wait and its partition. */
typedef struct marker_slot {
    marker_wait_t *wait;
    size_t index;
} marker_slot_t;

static void marker_appended(void *opaque, lg_err_t err, int64_t base_offset) {
    marker_slot_t *slot = opaque;
    marker_wait_t *w = slot->wait;
    pthread_mutex_lock(&w->lock);
    if (err != LG_OK && w->err == LG_OK) {
        w->err = err;
        w->failed = slot->index;
    }
    if (--w->pending == 0)
        pthread_cond_signal(&w->done);
    pthread_mutex_unlock(&w->lock);
}

/* Writes a commit or abort marker for t to each registered partition.
 * A partition whose topic was deleted meanwhile needs none.  The markers
 * are appended concurrently and waited for together (acks=all), so a
 * commit spanning n partitions waits for one round of fdatasyncs rather
 * than n in a row; they are independent, and the outcome was decided by
 * the durable PrepareX record before the first is written. */
static lg_err_t write_markers(lgi_txn_coordinator_t *c, const txn_t *t,
                              int commit) {
    lg_engine_t *engine = c->engine;
    size_t count = t->partitions.count;
    if (count == 0)
        return LG_OK;
    lgi_partition_ref_t *refs = lgi_calloc(count, sizeof *refs);
    marker_slot_t *slots = lgi_calloc(count, sizeof *slots);
    if (!refs || !slots) {
        lgi_free(refs);
        lgi_free(slots);
        return lgi_error(LG_ERR_NOMEM, "out of memory writing markers");
    }
    marker_wait_t w = {.pending = 1, .err = LG_OK};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.done, NULL);
    lg_err_t err = LG_OK;
    for (size_t i = 0; i < count && err == LG_OK; i++) {
        const char *topic = t->partitions.items[i].topic;
        int32_t partition = t->partitions.items[i].partition;
        err = lgi_engine_acquire(engine, topic, partition, &refs[i]);
        if (err == LG_ERR_UNKNOWN_TOPIC || err == LG_ERR_UNKNOWN_PARTITION) {
            lgi_error_clear();
            refs[i].partition = NULL;
            err = LG_OK;
            continue;
        }
        if (err != LG_OK) {
            refs[i].partition = NULL;
            break;
        }
        int64_t now = lgi_engine_now_ms(engine);
        lgi_buf_t buf = {0};
        err = lgi_batch_encode_control(&buf, commit ? 1 : 0, 0, now,
                                       t->producer_id, t->epoch);
        if (err != LG_OK) {
            lgi_buf_free(&buf);
            break;
        }
        pthread_mutex_lock(&w.lock);
        w.pending++;
        pthread_mutex_unlock(&w.lock);
        slots[i] = (marker_slot_t){&w, i};
        /* The partition takes ownership of the buffer. */
        lgi_partition_append_async(refs[i].partition, buf.data, buf.len,
                                   LG_ACKS_ALL, now, marker_appended,
                                   &slots[i]);
    }
    /* Drop the count's initial 1 and wait for the appends in flight. */
    pthread_mutex_lock(&w.lock);
    w.pending--;
    while (w.pending > 0)
        pthread_cond_wait(&w.done, &w.lock);
    lg_err_t appended = w.err;
    size_t failed = w.failed;
    pthread_mutex_unlock(&w.lock);
    for (size_t i = 0; i < count; i++)
        if (refs[i].partition)
            lgi_engine_release(engine, &refs[i]);
    lgi_free(refs);
    lgi_free(slots);
    pthread_cond_destroy(&w.done);
    pthread_mutex_destroy(&w.lock);
    /* An append that failed on the I/O thread left its message there. */
    if (err == LG_OK && appended != LG_OK)
        err = lgi_error(appended,
                        "writing the %s marker of transactional.id \"%s\" "
                        "to %s [%" PRId32 "]: %s",
                        commit ? "commit" : "abort", t->id,
                        t->partitions.items[failed].topic,
                        t->partitions.items[failed].partition,
                        lg_strerror(appended));
    return err;
}

/* Finishes a transaction in PrepareCommit / PrepareAbort. */
static lg_err_t complete(lgi_txn_coordinator_t *c, txn_t *t) {
    int commit = t->state == LGI_TXN_PREPARE_COMMIT;
    lg_err_t err = write_markers(c, t, commit);
    if (err == LG_OK && commit && t->group_id && t->offsets.count > 0)
        err = lgi_group_commit_txn(c->engine, t->group_id, &t->offsets);
    if (err != LG_OK)
        return err;
    if (lgi_txn_crash_point == 2)
        _exit(0);
    int previous = t->state;
    t->state = commit ? LGI_TXN_COMPLETE_COMMIT : LGI_TXN_COMPLETE_ABORT;
    lg_topic_partition_list_t partitions = t->partitions, offsets = t->offsets;
    char *group = t->group_id;
    memset(&t->partitions, 0, sizeof t->partitions);
    memset(&t->offsets, 0, sizeof t->offsets);
    t->group_id = NULL;
    if ((err = persist(c, t)) != LG_OK) {
        /* Stay prepared: the next attempt writes the markers again. */
        t->state = previous;
        t->partitions = partitions;
        t->offsets = offsets;
        t->group_id = group;
        return err;
    }
    list_free(&partitions);
    list_free(&offsets);
    lgi_free(group);
    return LG_OK;
}

/* Ongoing (or holding offsets) -> PrepareX -> CompleteX. */
static lg_err_t end(lgi_txn_coordinator_t *c, txn_t *t, int commit) {
    if (t->state == LGI_TXN_ONGOING) {
        t->state = commit ? LGI_TXN_PREPARE_COMMIT : LGI_TXN_PREPARE_ABORT;
        lg_err_t err = persist(c, t);
        if (err != LG_OK) {
            t->state = LGI_TXN_ONGOING;
            return err;
        }
        if (lgi_txn_crash_point == 1)
            _exit(0);
    }
    return complete(c, t);
}

static int prepared(const txn_t *t) {
    return t->state == LGI_TXN_PREPARE_COMMIT ||
           t->state == LGI_TXN_PREPARE_ABORT;
}

/* Aborts t's ongoing transaction under a new epoch (the timeout and the
 * fencing by a new producer). */
static lg_err_t fence_and_abort(lgi_txn_coordinator_t *c, txn_t *t) {
    if (t->epoch < INT16_MAX)
        t->epoch++;
    return end(c, t, 0);
}

static lg_err_t check_producer(const txn_t *t, const char *id,
                               int64_t producer_id, int16_t epoch) {
    if (!t)
        return lgi_error(LG_ERR_STATE,
                         "transactional.id \"%s\" is not initialised "
                         "(lg_producer_init_transactions)", id);
    if (t->producer_id != producer_id || t->epoch != epoch)
        return lgi_error(LG_ERR_PRODUCER_FENCED,
                         "transactional.id \"%s\": producer %" PRId64
                         " epoch %d was fenced by producer %" PRId64
                         " epoch %d",
                         id, producer_id, (int)epoch, t->producer_id,
                         (int)t->epoch);
    if (prepared(t))
        return lgi_error(LG_ERR_STATE,
                         "transactional.id \"%s\": a commit or abort is in "
                         "progress", id);
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Operations
 * --------------------------------------------------------------------- */

lg_err_t lgi_txn_init(lg_engine_t *engine, const char *transactional_id,
                      int32_t timeout_ms, int64_t *producer_idp,
                      int16_t *epochp) {
    lgi_txn_coordinator_t *c = engine->txn;
    pthread_mutex_lock(&c->lock);
    lg_err_t err = LG_OK;
    txn_t *t = find(c, transactional_id);
    if (!t && !(t = create(c, transactional_id))) {
        pthread_mutex_unlock(&c->lock);
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    }
    if (prepared(t))
        err = complete(c, t);
    else if (t->state == LGI_TXN_ONGOING)
        err = fence_and_abort(c, t);
    if (err == LG_OK) {
        int64_t old_id = t->producer_id;
        int16_t old_epoch = t->epoch;
        if (t->producer_id < 0 || t->epoch >= INT16_MAX - 1) {
            int64_t id;
            if ((err = lgi_producer_ids_next(engine->producer_ids, &id)) ==
                LG_OK) {
                t->producer_id = id;
                t->epoch = 0;
            }
        } else {
            t->epoch++;
        }
        if (err == LG_OK) {
            t->timeout_ms = timeout_ms;
            t->state = LGI_TXN_EMPTY;
            txn_clear(t);
            if ((err = persist(c, t)) != LG_OK) {
                t->producer_id = old_id;
                t->epoch = old_epoch;
            }
        }
    }
    if (err == LG_OK) {
        *producer_idp = t->producer_id;
        *epochp = t->epoch;
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

/* Moves t to Ongoing when it is not. */
static void begin_ongoing(lgi_txn_coordinator_t *c, txn_t *t) {
    if (t->state != LGI_TXN_ONGOING) {
        t->state = LGI_TXN_ONGOING;
        t->start_ms = lgi_engine_now_ms(c->engine);
    }
}

/* Non-zero when __transaction_state is replicated (lg_topic_set_replicas):
 * its writes must then be acks=all each. */
static int state_replicated(lg_engine_t *engine) {
    lgi_partition_ref_t ref;
    if (lgi_engine_acquire(engine, LGI_TXN_STATE_TOPIC, 0, &ref) != LG_OK) {
        lgi_error_clear();
        return 1; /* the append will say what is wrong */
    }
    int replicated = lgi_partition_replicated(ref.partition);
    lgi_engine_release(engine, &ref);
    return replicated;
}

lg_err_t lgi_txn_sync(lg_engine_t *engine) {
    lgi_partition_ref_t ref;
    lg_err_t err = lgi_engine_acquire(engine, LGI_TXN_STATE_TOPIC, 0, &ref);
    if (err != LG_OK)
        return err;
    err = lgi_partition_flush(ref.partition);
    lgi_engine_release(engine, &ref);
    if (err != LG_OK)
        err = lgi_error(err, "making transaction registrations durable in "
                        "%s: %s", LGI_TXN_STATE_TOPIC, lg_strerror(err));
    return err;
}

lg_err_t lgi_txn_add_partition(lg_engine_t *engine,
                               const char *transactional_id,
                               int64_t producer_id, int16_t epoch,
                               const char *topic, int32_t partition) {
    lgi_txn_coordinator_t *c = engine->txn;
    pthread_mutex_lock(&c->lock);
    txn_t *t = find(c, transactional_id);
    lg_err_t err = check_producer(t, transactional_id, producer_id, epoch);
    if (err == LG_OK &&
        lgi_tp_list_find(&t->partitions, topic, partition) == SIZE_MAX) {
        int previous = t->state;
        int64_t start = t->start_ms;
        err = lg_topic_partition_list_add(&t->partitions, topic, partition,
                                          LG_OFFSET_INVALID);
        if (err == LG_OK) {
            begin_ongoing(c, t);
            /* Written now, made durable by lgi_txn_sync before any data
             * (see INVARIANTS). */
            if ((err = persist_acks(c, t,
                                    state_replicated(engine)
                                        ? LG_ACKS_ALL
                                        : LG_ACKS_LEADER)) != LG_OK) {
                lgi_free(t->partitions.items[--t->partitions.count].topic);
                t->state = previous;
                t->start_ms = start;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    return err;
}

lg_err_t lgi_txn_add_offsets(lg_engine_t *engine, const char *transactional_id,
                             int64_t producer_id, int16_t epoch,
                             const char *group_id,
                             const lg_topic_partition_list_t *offsets) {
    lgi_txn_coordinator_t *c = engine->txn;
    pthread_mutex_lock(&c->lock);
    txn_t *t = find(c, transactional_id);
    lg_err_t err = check_producer(t, transactional_id, producer_id, epoch);
    if (err == LG_OK && t->group_id && strcmp(t->group_id, group_id) != 0)
        err = lgi_error(LG_ERR_INVALID_ARG,
                        "send_offsets_to_transaction: the transaction "
                        "already holds offsets of group \"%s\"; one group "
                        "per transaction", t->group_id);
    if (err == LG_OK && !t->group_id) {
        size_t len = strlen(group_id);
        if (!(t->group_id = lgi_malloc(len + 1)))
            err = lgi_error(LG_ERR_NOMEM, "out of memory");
        else
            memcpy(t->group_id, group_id, len + 1);
    }
    for (size_t i = 0; err == LG_OK && i < offsets->count; i++)
        err = list_put(&t->offsets, offsets->items[i].topic,
                       offsets->items[i].partition,
                       offsets->items[i].offset);
    if (err == LG_OK)
        begin_ongoing(c, t);
    pthread_mutex_unlock(&c->lock);
    return err;
}

lg_err_t lgi_txn_end(lg_engine_t *engine, const char *transactional_id,
                     int64_t producer_id, int16_t epoch, int commit) {
    lgi_txn_coordinator_t *c = engine->txn;
    pthread_mutex_lock(&c->lock);
    txn_t *t = find(c, transactional_id);
    lg_err_t err = LG_OK;
    if (!t || t->producer_id != producer_id || t->epoch != epoch)
        err = check_producer(t, transactional_id, producer_id, epoch);
    else if (prepared(t) &&
             (t->state == LGI_TXN_PREPARE_COMMIT) != (commit != 0))
        err = lgi_error(LG_ERR_STATE,
                        "transactional.id \"%s\": the transaction is "
                        "already being %s",
                        transactional_id, commit ? "aborted" : "committed");
    else if (t->state == LGI_TXN_ONGOING || prepared(t))
        err = end(c, t, commit);
    pthread_mutex_unlock(&c->lock);
    return err;
}

void lgi_txn_expire(lg_engine_t *engine) {
    lgi_txn_coordinator_t *c = engine->txn;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    int64_t now = lgi_engine_now_ms(engine);
    for (txn_t *t = c->txns; t; t = t->next) {
        lg_err_t err = LG_OK;
        if (prepared(t))
            err = complete(c, t);
        else if (t->state == LGI_TXN_ONGOING &&
                 now - t->start_ms >= t->timeout_ms) {
            lgi_log(&engine->logger, LG_LOG_WARNING,
                    "transactional.id \"%s\": aborting a transaction open "
                    "for more than transaction.timeout.ms (%" PRId32 ")",
                    t->id, t->timeout_ms);
            err = fence_and_abort(c, t);
        }
        if (err != LG_OK) {
            lgi_log(&engine->logger, LG_LOG_WARNING,
                    "transactional.id \"%s\": finishing the transaction "
                    "failed (retried): %s",
                    t->id, lg_last_error_message());
            lgi_error_clear();
        }
    }
    pthread_mutex_unlock(&c->lock);
}

int lgi_txn_lookup(lg_engine_t *engine, const char *transactional_id,
                   int *statep, int64_t *producer_idp, int16_t *epochp) {
    lgi_txn_coordinator_t *c = engine->txn;
    pthread_mutex_lock(&c->lock);
    txn_t *t = find(c, transactional_id);
    if (t) {
        *statep = t->state;
        *producer_idp = t->producer_id;
        *epochp = t->epoch;
    }
    pthread_mutex_unlock(&c->lock);
    return t ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * Open and close
 * --------------------------------------------------------------------- */

/* Applies one __transaction_state record (the newest per key wins). */
static lg_err_t load_record(lgi_txn_coordinator_t *c,
                            const lg_message_t *message) {
    size_t key_len, value_len;
    const uint8_t *key = lg_message_key(message, &key_len);
    const uint8_t *value = lg_message_value(message, &value_len);
    reader_t r = {key, key_len, 0};
    if (!key || get16(&r) != 0)
        return LG_OK; /* not a v0 key: skip */
    char *id = get_str(&r);
    if (!id)
        return r.bad ? LG_OK : lgi_error(LG_ERR_NOMEM, "out of memory");
    txn_t *t = find(c, id);
    if (!value) { /* tombstone */
        for (txn_t **link = &c->txns; *link; link = &(*link)->next)
            if (*link == t) {
                *link = t->next;
                txn_free(t);
                break;
            }
        lgi_free(id);
        return LG_OK;
    }
    if (!t && !(t = create(c, id))) {
        lgi_free(id);
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    }
    lgi_free(id);
    txn_clear(t);
    if (decode_value(t, value, value_len))
        return lgi_error(LG_ERR_CORRUPT,
                         "%s: malformed value for transactional.id \"%s\"",
                         LGI_TXN_STATE_TOPIC, t->id);
    return LG_OK;
}

static lg_err_t replay_record(void *opaque, const lg_message_t *message) {
    return load_record(opaque, message);
}

static lg_err_t load(lgi_txn_coordinator_t *c) {
    int64_t offset, end_offset;
    if (lg_watermarks(c->engine, LGI_TXN_STATE_TOPIC, 0, &offset,
                      &end_offset) != LG_OK) {
        lgi_error_clear();
        return LG_OK; /* never used */
    }
    return lgi_engine_replay(c->engine, LGI_TXN_STATE_TOPIC, 0, replay_record,
                             c);
}

lg_err_t lgi_txn_open(lg_engine_t *engine) {
    lgi_txn_coordinator_t *c = lgi_calloc(1, sizeof *c);
    if (!c)
        return lgi_error(LG_ERR_NOMEM, "out of memory opening engine");
    c->engine = engine;
    pthread_mutex_init(&c->lock, NULL);
    engine->txn = c;
    lg_err_t err = load(c);
    if (err != LG_OK) {
        char message[512];
        snprintf(message, sizeof message, "%s", lg_last_error_message());
        lgi_txn_close(engine);
        return lgi_error(err, "loading %s: %s", LGI_TXN_STATE_TOPIC, message);
    }
    /* Decided outcomes are carried out before the engine takes writes. */
    for (txn_t *t = c->txns; t; t = t->next)
        if (prepared(t) && (err = complete(c, t)) != LG_OK) {
            char message[768];
            snprintf(message, sizeof message,
                     "finishing transaction \"%s\": %s", t->id,
                     lg_last_error_message());
            lgi_txn_close(engine);
            return lgi_error(err, "%s", message);
        }
    return LG_OK;
}

void lgi_txn_close(lg_engine_t *engine) {
    lgi_txn_coordinator_t *c = engine->txn;
    if (!c)
        return;
    while (c->txns) {
        txn_t *t = c->txns;
        c->txns = t->next;
        txn_free(t);
    }
    pthread_mutex_destroy(&c->lock);
    lgi_free(c);
    engine->txn = NULL;
}
