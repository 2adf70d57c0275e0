/*
 * producer.c -- the producer: lg_produce and its accumulator, the sender
 * thread, delivery reports.
 *
 * DATA FLOW
 *
 *   lg_produce (any thread)
 *     -> topic cache (the last topic, else a lock-free hash lookup)
 *        -> partitioner
 *     -> the partition's accumulator: under its mutex the record is
 *        charged to the open batch's buffer.memory credit, encoded
 *        straight into the batch (batch_builder.c) and its message_opaque
 *        stored in a parallel array.  Without an open batch with room and
 *        credit, the record is charged on its own (atomic; waits up to
 *        max.block.ms) and may open a batch.  A batch that cannot take
 *        another record of the same size is moved to the ready queue at
 *        once.  With linger.ms=0, a batch opened on an idle partition
 *        (nothing pending, no batch opened in the last 50 us) is sealed
 *        and handed to the partition by the producing thread itself when
 *        the call ends (DIRECT HAND-OFF, below); other batches wait for
 *        the sender, so records arriving meanwhile share them.
 *   sender thread
 *     -> moves batches whose linger.ms expired (or that a flush wants) to
 *        the ready queue, under the accumulator's mutex, so the queue holds
 *        each partition's batches in creation order;
 *     -> seals each ready batch (header, zstd, CRC-32C) and hands it to
 *        lgi_partition_append_async holding a partition reference;
 *     -> re-sends batches that failed with LG_ERR_DISK_FULL after
 *        retry.backoff.ms, until delivery.timeout.ms after their first
 *        record was produced.
 *   append completion (I/O thread; must not block)
 *     -> drops the reference, pushes the batch on the report stack (a
 *        lock-free list) and signals the eventfd when the stack was empty;
 *        without a delivery callback the batch is finished right there.
 *   lg_producer_poll / lg_producer_flush (application thread)
 *     -> pop the report stack and call the delivery callback once per
 *        record, then release the batch's buffer.memory.
 *
 * INVARIANTS
 *   - Every record accepted by lg_produce (LG_OK) is in exactly one batch,
 *     and every batch ends exactly once: reported by poll/flush, finished
 *     at completion without a callback, or discarded by destroy.  So each
 *     record gets at most one delivery report, and exactly one unless the
 *     producer is destroyed first.
 *   - Application callbacks run only inside lg_producer_poll/flush.
 *   - A batch holds a partition reference (lgi_engine_acquire) exactly
 *     while its append is in flight.
 *   - Lock order: accumulator mutex, then sender_lock or memory_lock (a
 *     batch leaving the accumulator returns its credit), or, for a direct
 *     hand-off, sequence_lock, the engine's topics lock and the
 *     partition's mutex (only try-locked), and the locks a completion
 *     takes (live, pool, event, inflight).  Nothing else nests.
 *   - Topic entries, accumulators and superseded lookup tables are freed
 *     only by lg_producer_destroy, so a pointer loaded from a table stays
 *     valid without reference counting.
 *
 * BUFFER.MEMORY: every record accepted is charged its size bound
 * (lgi_batch_record_size_bound) until its batch ends, and the charges
 * never exceed buffer.memory.  To keep the shared counter off the
 * per-record path, a batch whose first record was charged takes credit
 * ahead for the records like it that it can still hold (as Kafka's
 * producer takes a batch.size buffer from its pool), and later records
 * are charged to that credit under the accumulator mutex.  Credit is
 * taken only while the producer's use stays within half of buffer.memory
 * (so at most that half can sit idle in open batches) and what is unused
 * goes back when the batch leaves the accumulator (full, linger.ms, flush),
 * waking lg_produce calls that wait for memory.
 *
 * BATCH MEMORY: a batch's record buffer (batch.size plus the header) is
 * taken from a small per-producer pool and goes back to it when the
 * records are no longer needed (at completion, or at the end of the
 * batch), as Kafka's producer recycles batch.size buffers.  Besides the
 * malloc/free pair, this saves the page faults a fresh buffer costs when
 * the allocator has just returned the freed one to the kernel; at most
 * POOL_MAX buffers, and a quarter of buffer.memory, wait there, freed by
 * destroy.
 *
 * IDEMPOTENCE (enable.idempotence, the default): the producer takes an id
 * from the engine (producer_id.c) at creation, epoch 0.  The sender (one
 * thread, submitting each partition's batches in order) gives a batch its
 * base sequence right before its first hand-off, and the batch keeps
 * sequence, id and epoch through every re-send: a retried batch the log
 * already holds is acknowledged with the original offsets, never written
 * twice.  LG_ERR_OUT_OF_ORDER_SEQUENCE is retriable for an idempotent
 * producer: a batch sent while an earlier one was failing meets the
 * rolled-back log with a gap before it, and is re-sent behind the earlier
 * one.  A batch that fails for good after taking a sequence leaves a gap
 * no later batch could fill, so the sender then bumps the epoch (Kafka's
 * KIP-360): sequences restart at 0 in every partition and batches still
 * to be (re-)sent are stamped afresh.
 *
 * TRANSACTIONS (transactional.id): lg_producer_init_transactions takes the
 * producer id and a bumped epoch from the engine's coordinator (txn.c),
 * fencing an older producer with the same transactional.id.  Between
 * begin and commit/abort every record goes to a partition registered with
 * the coordinator first (txn_register, once per partition per
 * transaction, on the producing thread before the record is queued; the
 * sender makes the registrations durable with one lgi_txn_sync before it
 * hands off the next batch), and its batch is sealed with the
 * transactional attribute.  Commit and abort
 * flush first, so no batch of the transaction can land after its marker;
 * a batch that failed makes commit return LG_ERR_TXN_ABORTABLE, and the
 * abort that follows takes a new epoch from the coordinator (instead of
 * the sender's KIP-360 bump) so sequences restart cleanly.  Fencing
 * (LG_ERR_PRODUCER_FENCED from the coordinator or a partition) is final.
 *
 * TOPIC METADATA is cached per producer (partition count, max.message.bytes,
 * topic id) and refreshed by the sender every METADATA_REFRESH_MS, as a
 * Kafka client refreshes its metadata; a topic deleted in between is
 * noticed by the next refresh or the next append, whichever comes first,
 * and its queued records are reported with LG_ERR_UNKNOWN_TOPIC.
 */
#include "alloc.h"
#include "batch_builder.h"
#include "compress.h"
#include "conf.h"
#include "engine.h"
#include "err.h"
#include "group.h"
#include "partitioner.h"
#include "producer_id.h"
#include "producer_state.h"
#include "records.h"
#include "txn.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* Transactional producer states. */
enum { TXN_UNINIT, TXN_READY, TXN_IN, TXN_FENCED };

/* How stale cached topic metadata may get before the sender re-reads it. */
#define METADATA_REFRESH_MS 100
/* Upper bound on one wait inside lg_producer_flush, so completions that
 * do not signal the eventfd (no delivery callback) are noticed promptly. */
#define FLUSH_WAIT_SLICE_MS 5
/* Record buffers of ended batches kept for the next batches (see
 * BATCH MEMORY). */
#define POOL_MAX 16
/* A partition whose previous batch was opened longer ago than this is
 * idle enough for a direct hand-off (see DIRECT HAND-OFF): records further
 * apart than the sender takes to wake up (10-30 us) would not have shared
 * a batch anyway. */
#define DIRECT_IDLE_NS 50000

typedef struct pbatch pbatch_t;
typedef struct accumulator accumulator_t;
typedef struct ptopic ptopic_t;

/* A batch from its first record to its delivery report. */
struct pbatch {
    pbatch_t *next; /* ready queue, report/retry stacks, retry lists */
    pbatch_t *live_prev, *live_next; /* producer's live list (flush) */
    lg_producer_t *producer;
    ptopic_t *topic;
    accumulator_t *accumulator;
    uint64_t sequence;         /* per partition, creation order */
    uint64_t flush_generation; /* producer's flush generation at creation */
    lgi_batch_builder_t builder;
    size_t limit;    /* size the batch may grow to, header included */
    void **opaques;  /* one per record, only with a delivery callback */
    size_t opaque_cap;
    size_t memory;   /* bytes charged to buffer.memory */
    /* buffer.memory taken ahead for records still to come while the batch
     * is open, so they need no atomic on the shared counter (see
     * BUFFER.MEMORY); returned by make_ready. */
    size_t credit;
    /* Opened with linger.ms=0 while its partition was idle: the producing
     * thread hands it off itself (DIRECT HAND-OFF). */
    int direct;
    /* The sender was told of this batch's linger deadline (open_batch
     * leaves that to accumulate for a direct batch). */
    int sender_notified;
    int32_t base_sequence; /* idempotence: stamped at first hand-off */
    int16_t stamped_epoch; /* epoch base_sequence belongs to, -1 none */
    int64_t created_ms; /* monotonic: delivery.timeout.ms counts from here */
    int64_t retry_at_ms;
    lgi_partition_ref_t ref; /* held while the append is in flight */
    lg_err_t err;
    int64_t base_offset;
};

/* One partition of one topic. */
struct accumulator {
    pthread_mutex_t lock;
    pbatch_t *open; /* the batch records go into; NULL when none */
    /* Linger deadline of open (monotonic ms), 0 when none: read by the
     * sender without the mutex to find expired batches cheaply. */
    _Atomic int64_t deadline_ms;
    uint64_t next_sequence;
    int32_t next_record_sequence; /* idempotence: next base_sequence
                                     (sequence_lock) */
    /* Batches of this partition that left the accumulator and have not
     * completed: in the ready queue, being sent, in flight, or waiting to
     * be re-sent.  The producing thread hands a batch off itself only
     * while this is 0 (see DIRECT HAND-OFF). */
    atomic_int pending;
    /* When the last batch was opened (monotonic ns; lock held). */
    int64_t last_open_ns;
    /* Transactions: the producer's txn_serial when this partition was
     * registered with the coordinator (0: never). */
    atomic_ullong txn_registered;
    ptopic_t *topic;
    int32_t partition;
    /* Records and bytes (as charged) accepted into this partition: written
     * only under lock, so a relaxed load and store replace an atomic
     * read-modify-write on the per-record path; read by any thread. */
    atomic_llong accepted;
    _Atomic uint64_t accepted_bytes;
    accumulator_t *registry_next; /* all accumulators, for the sender */
    /* Sender thread only: batches waiting to be re-sent, by sequence, and
     * when.  While any wait, newer batches of the partition queue behind
     * them so the partition keeps its order. */
    pbatch_t *retry;
    int64_t retry_at_ms;
    /* Appends handed off and not completed.  An idempotent producer keeps
     * at most LGI_PRODUCER_STATE_BATCHES of them per replicated partition
     * (Kafka's max.in.flight.requests.per.connection <= 5), so a retry of
     * a batch the log already holds is always within the batches the
     * partition remembers per producer and is recognised as a duplicate
     * -- on a replicated partition acks=all batches can be in the log,
     * unacknowledged, when a leader fails over. */
    atomic_int in_flight;
};

/* Accumulators by partition index, replaced (never changed in place) when
 * the topic grows. */
typedef struct partition_table {
    int32_t count;
    _Atomic(accumulator_t *) slots[];
} partition_table_t;

struct ptopic {
    char *name;
    uint64_t hash;
    uint8_t topic_id[16];
    _Atomic int32_t partition_count;
    _Atomic int32_t max_message_bytes;
    atomic_int deleted;
    lgi_partitioner_state_t partitioner;
    _Atomic(partition_table_t *) partitions;
    ptopic_t *all_next; /* every entry ever made (topics_lock) */
};

/* Open-addressing hash table of topics, copy-on-write. */
typedef struct topic_table {
    size_t cap; /* power of two */
    size_t count;
    ptopic_t *slots[];
} topic_table_t;

/* Memory superseded by a copy-on-write replacement, freed at destroy. */
typedef struct retired {
    struct retired *next;
    void *memory;
} retired_t;

struct lg_producer {
    lgi_engine_child_t child; /* first: detach recovers the producer */
    int detached;             /* the engine closed first: see detach */
    lg_engine_t *engine;
    int acks;
    int64_t linger_ms;
    int64_t batch_size;
    int partitioner;
    int codec; /* the producer's compression.type: LGI_CODEC_* */
    int64_t buffer_memory;
    int64_t max_block_ms;
    int64_t delivery_timeout_ms;
    int64_t retry_backoff_ms;
    int idempotent;
    int64_t producer_id;    /* -1 unless idempotent */
    int16_t producer_epoch; /* -1 unless idempotent; sender thread
                               changes it (epoch bump) */
    /* producer_id, producer_epoch and the accumulators' next_record_sequence
     * change under it, and a base sequence is stamped under it: the sender
     * and producing threads (DIRECT HAND-OFF) both stamp.  A leaf lock. */
    pthread_mutex_t sequence_lock;
    /* Ready batches may be handed off by the producing thread: linger.ms
     * is 0 and the producer is not transactional (DIRECT HAND-OFF). */
    int direct;
    atomic_int epoch_bump;  /* a sequenced batch failed for good */
    /* Transactions (transactional.id set): see TRANSACTIONS above. */
    const char *transactional_id; /* NULL: not transactional */
    int32_t transaction_timeout_ms;
    atomic_int txn_state;          /* TXN_* */
    atomic_ullong txn_serial;      /* bumped by every begin */
    atomic_int txn_failed;         /* a batch of the transaction failed */
    atomic_int txn_fenced;         /* a batch met LG_ERR_PRODUCER_FENCED */
    atomic_int txn_unsynced;       /* a registration awaits lgi_txn_sync */
    lg_delivery_fn callback;
    void *callback_opaque;
    int event_fd;
    atomic_int closing;

    /* Topic cache: lock-free readers, writers under topics_lock (which
     * also serialises accumulator creation and table growth). */
    pthread_mutex_t topics_lock;
    _Atomic(topic_table_t *) topics;
    /* The entry the last lookup found: most applications produce to one
     * topic, or to a few in runs, so one name comparison usually replaces
     * hashing the name.  Written only when it changes. */
    _Atomic(ptopic_t *) last_topic;
    retired_t *retired;
    ptopic_t *all_topics;
    _Atomic(accumulator_t *) registry;

    /* Record buffers for reuse (BATCH MEMORY): data and cap only. */
    pthread_mutex_t pool_lock;
    size_t pool_count;
    lgi_buf_t pool[POOL_MAX];

    /* buffer.memory */
    atomic_llong memory_used;
    atomic_int memory_waiters;
    pthread_mutex_t memory_lock;
    pthread_cond_t memory_freed;

    /* Records whose batch ended (the accumulators count those accepted). */
    atomic_llong finished;
    /* Statistics (stats.h): records whose batch was appended / failed;
     * relaxed atomics. */
    _Atomic uint64_t stat_delivered, stat_failed;
    _Atomic uint64_t stat_direct; /* batches handed off directly */
    lgi_stats_client_t stats_client;

    /* Sender thread and its inputs. */
    pthread_mutex_t sender_lock;
    pthread_cond_t sender_wake;
    pbatch_t *ready_head, *ready_tail;
    int sender_pending; /* work arrived since the sender last looked */
    int sender_stop;
    uint64_t flush_request; /* seal open batches of generations below */
    /* When the sender will next wake by itself (monotonic ms); 0 while it
     * is scanning.  A producer opening a batch that expires earlier wakes
     * it (see open_batch for why this cannot miss). */
    _Atomic int64_t sender_next_wake_ms;
    pthread_t sender;
    int sender_started;
    int64_t last_refresh_ms; /* sender only */

    /* Completed batches: pushed by completions, popped by poll. */
    _Atomic(pbatch_t *) reports;
    /* 1 once the eventfd was written since poll last drained it, so an
     * idle lg_producer_poll costs no read(2). */
    atomic_int event_signalled;
    pthread_mutex_t event_lock;
    /* Batches to re-send: pushed by completions, popped by the sender. */
    _Atomic(pbatch_t *) retries;

    /* Every batch not yet ended, oldest first, for flush. */
    pthread_mutex_t live_lock;
    pbatch_t live;
    atomic_ullong flush_generation;
    atomic_int flush_waiters;

    /* Appends handed to a partition and not yet completed. */
    pthread_mutex_t inflight_lock;
    pthread_cond_t inflight_done;
    long inflight;
};

/* ------------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* An absolute CLOCK_MONOTONIC timespec ms from now, for condvars created
 * with that clock. */
static struct timespec deadline_after(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static int init_monotonic_cond(pthread_cond_t *cond) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

/* event_signalled is 1 exactly while the eventfd holds a count: both
 * change together under event_lock.  The flag is set before the write, so
 * an application that saw the descriptor readable finds the flag set and
 * drains it; a poll that finds the flag clear makes no system call (the
 * common idle case).  Signalling happens once per batch of reports, so
 * the lock is cheap. */
static void signal_eventfd(lg_producer_t *producer) {
    if (atomic_load(&producer->event_signalled))
        return; /* a count is already pending: the fd is readable */
    pthread_mutex_lock(&producer->event_lock);
    if (!atomic_load(&producer->event_signalled)) {
        atomic_store(&producer->event_signalled, 1);
        uint64_t one = 1;
        /* EAGAIN means the counter is already huge: still readable. */
        ssize_t n = write(producer->event_fd, &one, sizeof one);
        (void)n;
    }
    pthread_mutex_unlock(&producer->event_lock);
}

static void drain_eventfd(lg_producer_t *producer) {
    if (!atomic_load(&producer->event_signalled))
        return;
    pthread_mutex_lock(&producer->event_lock);
    if (atomic_load(&producer->event_signalled)) {
        uint64_t value;
        ssize_t n = read(producer->event_fd, &value, sizeof value);
        (void)n;
        atomic_store(&producer->event_signalled, 0);
    }
    pthread_mutex_unlock(&producer->event_lock);
}

static void wake_sender(lg_producer_t *producer) {
    pthread_mutex_lock(&producer->sender_lock);
    producer->sender_pending = 1;
    pthread_cond_signal(&producer->sender_wake);
    pthread_mutex_unlock(&producer->sender_lock);
}

/* ------------------------------------------------------------------------
 * Batches
 * --------------------------------------------------------------------- */

static void live_insert(lg_producer_t *producer, pbatch_t *batch) {
    pthread_mutex_lock(&producer->live_lock);
    batch->live_prev = producer->live.live_prev;
    batch->live_next = &producer->live;
    producer->live.live_prev->live_next = batch;
    producer->live.live_prev = batch;
    pthread_mutex_unlock(&producer->live_lock);
}

static void live_remove(lg_producer_t *producer, pbatch_t *batch) {
    pthread_mutex_lock(&producer->live_lock);
    batch->live_prev->live_next = batch->live_next;
    batch->live_next->live_prev = batch->live_prev;
    pthread_mutex_unlock(&producer->live_lock);
}

/* Gives buf's memory to the pool, or frees it when the pool is full or
 * the buffer is not of the usual size (a batch of one large record). */
static void pool_put(lg_producer_t *producer, lgi_buf_t *buf) {
    size_t usual = (size_t)producer->batch_size + LGI_BATCH_HEADER_SIZE;
    if (buf->data && buf->cap >= usual && buf->cap / 4 <= usual) {
        pthread_mutex_lock(&producer->pool_lock);
        /* At most POOL_MAX buffers, and at most a quarter of
         * buffer.memory in them (large batch.size values). */
        if (producer->pool_count < POOL_MAX &&
            (producer->pool_count + 1) * buf->cap <=
                (size_t)producer->buffer_memory / 4) {
            producer->pool[producer->pool_count++] =
                (lgi_buf_t){buf->data, 0, buf->cap};
            *buf = (lgi_buf_t)LGI_BUF_INIT;
        }
        pthread_mutex_unlock(&producer->pool_lock);
    }
    lgi_buf_free(buf);
}

/* Fills the empty buf from the pool when it holds a buffer of at least
 * size bytes; buf stays empty otherwise. */
static void pool_get(lg_producer_t *producer, lgi_buf_t *buf, size_t size) {
    pthread_mutex_lock(&producer->pool_lock);
    if (producer->pool_count > 0 &&
        producer->pool[producer->pool_count - 1].cap >= size)
        *buf = producer->pool[--producer->pool_count];
    pthread_mutex_unlock(&producer->pool_lock);
}

static void batch_free(lg_producer_t *producer, pbatch_t *batch) {
    pool_put(producer, &batch->builder.buf);
    lgi_batch_builder_free(&batch->builder);
    lgi_free(batch->opaques);
    lgi_free(batch);
}

/* Returns memory bytes to buffer.memory and wakes lg_produce calls
 * waiting for it.  The waiter count is read after the release with
 * sequentially consistent atomics on both sides, so either the waiter sees
 * the freed memory or this sees the waiter. */
static void memory_release(lg_producer_t *producer, size_t memory) {
    atomic_fetch_sub(&producer->memory_used, (long long)memory);
    if (atomic_load(&producer->memory_waiters) > 0) {
        pthread_mutex_lock(&producer->memory_lock);
        pthread_cond_broadcast(&producer->memory_freed);
        pthread_mutex_unlock(&producer->memory_lock);
    }
}

/* The batch's life is over (reported, or nobody wants a report). */
static void batch_finish(lg_producer_t *producer, pbatch_t *batch) {
    int32_t count = batch->builder.count;
    memory_release(producer, batch->memory);
    live_remove(producer, batch);
    batch_free(producer, batch);
    atomic_fetch_add(&producer->finished, count);
}

/* Ends the batch's delivery with err (LG_OK and base_offset on success):
 * queues its report, or finishes it when there is no callback.  Runs on
 * the I/O thread, the sender, or an appender; never blocks. */
static void batch_complete(lg_producer_t *producer, pbatch_t *batch,
                           lg_err_t err, int64_t base_offset) {
    accumulator_t *acc = batch->accumulator;
    if (err != LG_OK && producer->transactional_id) {
        /* The transaction cannot commit; abort re-bumps the epoch. */
        atomic_store(&producer->txn_failed, 1);
        if (err == LG_ERR_PRODUCER_FENCED)
            atomic_store(&producer->txn_fenced, 1);
    } else if (err != LG_OK && batch->stamped_epoch >= 0) {
        atomic_store(&producer->epoch_bump, 1); /* its sequence is a gap */
    }
    batch->err = err;
    batch->base_offset = err == LG_OK ? base_offset : -1;
    lgi_count(err == LG_OK ? &producer->stat_delivered : &producer->stat_failed,
              (uint64_t)batch->builder.count);
    if (!producer->callback) {
        batch_finish(producer, batch);
        if (atomic_load(&producer->flush_waiters) > 0)
            signal_eventfd(producer);
    } else {
        /* The records are not needed for the report: free them now rather
         * than when the application gets round to polling. */
        pool_put(producer, &batch->builder.buf); /* builder.count stays */
        pbatch_t *head = atomic_load(&producer->reports);
        do {
            batch->next = head;
        } while (!atomic_compare_exchange_weak(&producer->reports, &head,
                                               batch));
        if (!head)
            signal_eventfd(producer);
    }
    /* Last, so the partition's next batch, which may now be handed off
     * directly, is reported after this one. */
    atomic_fetch_sub(&acc->pending, 1);
}

/* ------------------------------------------------------------------------
 * Topic cache
 * --------------------------------------------------------------------- */

static uint64_t name_hash(const char *name, size_t len) {
    return XXH3_64bits(name, len);
}

static ptopic_t *topic_find(const topic_table_t *table, const char *name,
                            uint64_t hash) {
    if (!table)
        return NULL;
    size_t mask = table->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        ptopic_t *t = table->slots[i];
        if (!t)
            return NULL;
        if (t->hash == hash && strcmp(t->name, name) == 0)
            return t;
    }
}

static void retire(lg_producer_t *producer, void *memory) {
    retired_t *r = lgi_malloc(sizeof *r);
    if (!r) {
        /* Cannot record it: leaking a superseded table is safer than
         * freeing memory a lock-free reader may still use. */
        return;
    }
    r->memory = memory;
    r->next = producer->retired;
    producer->retired = r;
}

/* Copies table into a new one of cap slots, replacing the entry named like
 * replace (if any) by replace and adding replace otherwise.  NULL on
 * allocation failure. */
static topic_table_t *topic_table_with(const topic_table_t *table,
                                       ptopic_t *replace) {
    size_t count = table ? table->count : 0;
    size_t cap = table ? table->cap : 8;
    while ((count + 1) * 2 > cap)
        cap *= 2;
    topic_table_t *copy =
        lgi_calloc(1, sizeof *copy + cap * sizeof copy->slots[0]);
    if (!copy)
        return NULL;
    copy->cap = cap;
    size_t mask = cap - 1;
    int replaced = 0;
    for (size_t j = 0; table && j < table->cap; j++) {
        ptopic_t *t = table->slots[j];
        if (!t)
            continue;
        if (t->hash == replace->hash && strcmp(t->name, replace->name) == 0) {
            t = replace;
            replaced = 1;
        }
        size_t i = t->hash & mask;
        while (copy->slots[i])
            i = (i + 1) & mask;
        copy->slots[i] = t;
        copy->count++;
    }
    if (!replaced) {
        size_t i = replace->hash & mask;
        while (copy->slots[i])
            i = (i + 1) & mask;
        copy->slots[i] = replace;
        copy->count++;
    }
    return copy;
}

/* Updates t's cached metadata from ref. */
static void topic_apply_metadata(ptopic_t *t, const lgi_partition_ref_t *ref) {
    atomic_store(&t->max_message_bytes,
                 (int32_t)lgi_conf_int(&ref->conf,
                                       LGI_CONF_MAX_MESSAGE_BYTES));
    atomic_store(&t->partition_count, ref->partition_count);
}

/* Re-reads t's metadata from the engine: partition count, limits, and
 * whether the topic still exists as the same topic (id). */
static void topic_refresh(lg_producer_t *producer, ptopic_t *t) {
    lgi_partition_ref_t ref;
    if (lgi_engine_acquire(producer->engine, t->name, LG_PARTITION_ANY,
                           &ref) != LG_OK) {
        atomic_store(&t->deleted, 1);
        return;
    }
    if (memcmp(ref.topic->topic_id, t->topic_id, sizeof t->topic_id) != 0)
        atomic_store(&t->deleted, 1);
    else
        topic_apply_metadata(t, &ref);
    lgi_engine_release(producer->engine, &ref);
}

/* The slow path of topic lookup: the topic is new to this producer, or
 * the cached entry belongs to a deleted topic (which may have been
 * re-created).  Installs a fresh entry. */
static lg_err_t topic_load(lg_producer_t *producer, const char *name,
                           uint64_t hash, ptopic_t **topicp) {
    lgi_partition_ref_t ref;
    lg_err_t err = lgi_engine_acquire(producer->engine, name,
                                      LG_PARTITION_ANY, &ref);
    if (err)
        return err;
    pthread_mutex_lock(&producer->topics_lock);
    topic_table_t *table = atomic_load(&producer->topics);
    ptopic_t *existing = topic_find(table, name, hash);
    if (existing && !atomic_load(&existing->deleted) &&
        memcmp(existing->topic_id, ref.topic->topic_id, 16) == 0) {
        /* Another thread loaded it meanwhile. */
        pthread_mutex_unlock(&producer->topics_lock);
        lgi_engine_release(producer->engine, &ref);
        *topicp = existing;
        return LG_OK;
    }
    ptopic_t *t = lgi_calloc(1, sizeof *t);
    char *copy = lgi_strdup(name);
    partition_table_t *parts =
        lgi_calloc(1, sizeof *parts +
                          (size_t)ref.partition_count * sizeof parts->slots[0]);
    topic_table_t *replacement = NULL;
    if (t && copy && parts) {
        t->name = copy;
        t->hash = hash;
        memcpy(t->topic_id, ref.topic->topic_id, sizeof t->topic_id);
        topic_apply_metadata(t, &ref);
        atomic_init(&t->deleted, 0);
        lgi_partitioner_state_init(&t->partitioner);
        parts->count = ref.partition_count;
        atomic_init(&t->partitions, parts);
        replacement = topic_table_with(table, t);
    }
    if (!replacement) {
        pthread_mutex_unlock(&producer->topics_lock);
        lgi_engine_release(producer->engine, &ref);
        lgi_free(t);
        lgi_free(copy);
        lgi_free(parts);
        return lgi_error(LG_ERR_NOMEM,
                         "lg_produce: out of memory caching topic \"%s\"",
                         name);
    }
    atomic_store(&producer->topics, replacement);
    if (table)
        retire(producer, table);
    /* A replaced deleted entry stays allocated (its accumulators and
     * queued reports point at it) until destroy walks all_topics. */
    t->all_next = producer->all_topics;
    producer->all_topics = t;
    pthread_mutex_unlock(&producer->topics_lock);
    lgi_engine_release(producer->engine, &ref);
    *topicp = t;
    return LG_OK;
}

static lg_err_t topic_get(lg_producer_t *producer, const char *name,
                          ptopic_t **topicp) {
    ptopic_t *t =
        atomic_load_explicit(&producer->last_topic, memory_order_acquire);
    if (t && strcmp(t->name, name) == 0 &&
        !atomic_load_explicit(&t->deleted, memory_order_relaxed)) {
        *topicp = t;
        return LG_OK;
    }
    size_t len = strlen(name);
    uint64_t hash = name_hash(name, len);
    t = topic_find(atomic_load_explicit(&producer->topics,
                                        memory_order_acquire),
                   name, hash);
    lg_err_t err = LG_OK;
    if (!t || atomic_load_explicit(&t->deleted, memory_order_relaxed))
        err = topic_load(producer, name, hash, &t);
    if (err == LG_OK) {
        /* Entries live until destroy, so a stale last_topic is harmless. */
        atomic_store_explicit(&producer->last_topic, t, memory_order_release);
        *topicp = t;
    }
    return err;
}

/* The accumulator of partition, created on first use.  NULL on allocation
 * failure. */
static accumulator_t *accumulator_get(lg_producer_t *producer, ptopic_t *t,
                                      int32_t partition) {
    partition_table_t *parts =
        atomic_load_explicit(&t->partitions, memory_order_acquire);
    if (partition < parts->count) {
        accumulator_t *acc = atomic_load_explicit(&parts->slots[partition],
                                                  memory_order_acquire);
        if (acc)
            return acc;
    }
    pthread_mutex_lock(&producer->topics_lock);
    parts = atomic_load(&t->partitions);
    accumulator_t *acc = NULL;
    if (partition >= parts->count) {
        /* The topic grew: a larger table with the same accumulators. */
        int32_t count = atomic_load(&t->partition_count);
        if (count <= partition)
            count = partition + 1;
        partition_table_t *grown = lgi_calloc(
            1, sizeof *grown + (size_t)count * sizeof grown->slots[0]);
        if (!grown)
            goto out;
        grown->count = count;
        for (int32_t i = 0; i < parts->count; i++)
            atomic_init(&grown->slots[i], atomic_load(&parts->slots[i]));
        atomic_store(&t->partitions, grown);
        retire(producer, parts);
        parts = grown;
    }
    acc = atomic_load(&parts->slots[partition]);
    if (acc)
        goto out;
    acc = lgi_calloc(1, sizeof *acc);
    if (!acc)
        goto out;
    pthread_mutex_init(&acc->lock, NULL);
    atomic_init(&acc->deadline_ms, 0);
    acc->topic = t;
    acc->partition = partition;
    acc->registry_next = atomic_load(&producer->registry);
    atomic_store(&producer->registry, acc);
    atomic_store_explicit(&parts->slots[partition], acc,
                          memory_order_release);
out:
    pthread_mutex_unlock(&producer->topics_lock);
    return acc;
}

/* ------------------------------------------------------------------------
 * Accumulating
 * --------------------------------------------------------------------- */

/* Takes acc's open batch out of the accumulator (acc->lock held): it
 * returns its unused credit and counts as pending until it completes. */
static pbatch_t *leave_accumulator(lg_producer_t *producer,
                                   accumulator_t *acc) {
    pbatch_t *batch = acc->open;
    acc->open = NULL;
    atomic_store_explicit(&acc->deadline_ms, 0, memory_order_relaxed);
    if (batch->credit) {
        memory_release(producer, batch->credit);
        batch->credit = 0;
    }
    atomic_fetch_add(&acc->pending, 1);
    return batch;
}

/* Appends batch, which just left acc, to the ready queue (acc->lock
 * held).  Taking sender_lock inside the accumulator's keeps each
 * partition's batches in creation order in the queue. */
static void queue_ready(lg_producer_t *producer, pbatch_t *batch) {
    batch->next = NULL;
    pthread_mutex_lock(&producer->sender_lock);
    if (producer->ready_tail)
        producer->ready_tail->next = batch;
    else
        producer->ready_head = batch;
    producer->ready_tail = batch;
    producer->sender_pending = 1;
    pthread_cond_signal(&producer->sender_wake);
    pthread_mutex_unlock(&producer->sender_lock);
}

/* Moves acc's open batch to the ready queue (acc->lock held). */
static void make_ready(lg_producer_t *producer, accumulator_t *acc) {
    queue_ready(producer, leave_accumulator(producer, acc));
}

static int hand_off_direct(lg_producer_t *producer, accumulator_t *acc);

/* acc's open batch is ready (full, or linger.ms is 0): hands it off on
 * this thread when it can (DIRECT HAND-OFF), else through the ready queue
 * (acc->lock held). */
static void batch_ready(lg_producer_t *producer, accumulator_t *acc) {
    if (!hand_off_direct(producer, acc))
        make_ready(producer, acc);
}

/* Wakes the sender unless it will wake by itself before deadline.  The
 * sender publishes its next wake time after scanning (0 while it scans).
 * Seeing 0 or a later time means it may not have seen the deadline just
 * stored: wake it.  Seeing an earlier time means it will wake by then and
 * scan again.  Both accesses are sequentially consistent, so a value read
 * from before the sender's scan began implies the scan sees the
 * deadline. */
static void sender_note_deadline(lg_producer_t *producer, pbatch_t *batch,
                                 int64_t deadline) {
    batch->sender_notified = 1;
    int64_t next_wake = atomic_load(&producer->sender_next_wake_ms);
    if (next_wake == 0 || next_wake > deadline)
        wake_sender(producer);
}

/* Takes size bytes of buffer.memory ahead for an open batch, without
 * waiting, and only while the producer's use stays within half of
 * buffer.memory: credit held by idle partitions then never keeps more
 * than that half from records going elsewhere.  1 if taken. */
static int memory_take_credit(lg_producer_t *producer, size_t size) {
    long long limit = producer->buffer_memory / 2;
    long long used = atomic_load_explicit(&producer->memory_used,
                                          memory_order_relaxed);
    while (used + (long long)size <= limit)
        if (atomic_compare_exchange_weak(&producer->memory_used, &used,
                                         used + (long long)size))
            return 1;
    return 0;
}

/* Opens a batch in acc (lock held) sized for records of first_size bytes.
 * NULL on allocation failure. */
static pbatch_t *open_batch(lg_producer_t *producer, accumulator_t *acc,
                            size_t first_size) {
    ptopic_t *t = acc->topic;
    size_t limit = (size_t)producer->batch_size + LGI_BATCH_HEADER_SIZE;
    size_t max_message =
        (size_t)atomic_load_explicit(&t->max_message_bytes,
                                     memory_order_relaxed);
    if (limit > max_message)
        limit = max_message;
    if (limit < LGI_BATCH_HEADER_SIZE + first_size)
        limit = LGI_BATCH_HEADER_SIZE + first_size; /* a batch of its own */
    pbatch_t *batch = lgi_calloc(1, sizeof *batch);
    if (!batch)
        return NULL;
    pool_get(producer, &batch->builder.buf, limit);
    if (lgi_batch_builder_reset(&batch->builder,
                                limit - LGI_BATCH_HEADER_SIZE) != 0) {
        lgi_free(batch);
        return NULL;
    }
    if (producer->callback) {
        /* One slot per record the batch can hold if records are like
         * this one: first_size bounds its encoding, which is at most
         * LGI_RECORD_BOUND_SLACK bytes shorter. */
        size_t least = first_size > LGI_RECORD_BOUND_SLACK + 1
                           ? first_size - LGI_RECORD_BOUND_SLACK
                           : 1;
        batch->opaque_cap = (limit - LGI_BATCH_HEADER_SIZE) / least + 1;
        batch->opaques = lgi_malloc(batch->opaque_cap * sizeof(void *));
        if (!batch->opaques) {
            batch_free(producer, batch);
            return NULL;
        }
    }
    batch->producer = producer;
    batch->topic = t;
    batch->accumulator = acc;
    batch->limit = limit;
    batch->sequence = acc->next_sequence++;
    batch->flush_generation = atomic_load(&producer->flush_generation);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    batch->created_ms = now_ns / 1000000;
    batch->stamped_epoch = -1;
    batch->base_sequence = -1;
    live_insert(producer, batch);
    acc->open = batch;

    int64_t deadline = batch->created_ms + producer->linger_ms;
    if (deadline == 0)
        deadline = 1; /* 0 means "no open batch" */
    atomic_store(&acc->deadline_ms, deadline);
    /* A direct batch is handed off when accumulate ends, or the sender
     * is told then: waking it now would cost a system call for nothing.
     * A busy partition's batches are the sender's, so their records are
     * batched as before (see DIRECT HAND-OFF). */
    batch->direct = producer->direct &&
                    now_ns - acc->last_open_ns >= DIRECT_IDLE_NS &&
                    atomic_load(&acc->pending) == 0;
    acc->last_open_ns = now_ns;
    if (!batch->direct)
        sender_note_deadline(producer, batch, deadline);
    return batch;
}

/* Outcome of appending to an accumulator. */
enum { APPENDED, NEEDS_NEW_BATCH, NEEDS_MEMORY, APPEND_NOMEM,
       APPEND_TXN_FAILED };

/* After the first record of batch (encoded in first_len bytes, charged
 * charge) takes credit for the records like it that the batch can still
 * take (see BUFFER.MEMORY). */
static void batch_take_credit(lg_producer_t *producer, pbatch_t *batch,
                              size_t first_len, size_t charge) {
    size_t len = lgi_batch_builder_size(&batch->builder);
    /* A record goes in while len + charge <= limit (the charge bounds its
     * encoded size); each adds about first_len. */
    if (first_len == 0 || len + charge > batch->limit)
        return;
    size_t more = (batch->limit - charge - len) / first_len + 1;
    if (memory_take_credit(producer, more * charge))
        batch->credit = more * charge;
}

/* Appends the n records fields[] to partition's accumulator (acc->lock
 * held).  With
 * abort_on_new_batch, returns NEEDS_NEW_BATCH instead of opening a batch
 * (the sticky partitioner then moves on, as Kafka's).  charges[i] is the
 * buffer.memory charge of record i.  With reserved, the caller already
 * charged them to buffer.memory; without (n is then 1), the record is
 * charged to the open batch's credit, and NEEDS_MEMORY (nothing changed)
 * says there is no open batch it fits with enough credit.  Records that do
 * not fit the open batch start a new one, so one call may span batches. */
static int accumulate_locked(lg_producer_t *producer, accumulator_t *acc,
                             const lgi_record_fields_t *fields,
                             const size_t *sizes, size_t n,
                             void *message_opaque, int abort_on_new_batch,
                             int reserved, size_t *appendedp) {
    for (size_t i = 0; i < n; i++) {
        const lgi_record_fields_t *r = &fields[i];
        pbatch_t *batch = acc->open;
        /* sizes[i] bounds the record's encoded size in any batch. */
        size_t size = sizes[i];
        if (!reserved && (!batch || batch->credit < size ||
                          lgi_batch_builder_size(&batch->builder) + size >
                              batch->limit))
            return NEEDS_MEMORY;
        if (batch && lgi_batch_builder_size(&batch->builder) + size >
                         batch->limit) {
            batch_ready(producer, acc);
            batch = NULL;
        }
        if (!batch) {
            if (abort_on_new_batch && i == 0)
                return NEEDS_NEW_BATCH;
            batch = open_batch(producer, acc, size);
            if (!batch)
                return APPEND_NOMEM;
        }
        if (batch->opaques && (size_t)batch->builder.count ==
                                  batch->opaque_cap) {
            size_t cap = batch->opaque_cap * 2;
            void **grown = lgi_realloc(batch->opaques, cap * sizeof *grown);
            if (!grown)
                return reserved ? APPEND_NOMEM : NEEDS_MEMORY;
            batch->opaques = grown;
            batch->opaque_cap = cap;
        }
        size_t before = lgi_batch_builder_size(&batch->builder);
        if (lgi_batch_builder_add(&batch->builder, r) != 0)
            return reserved ? APPEND_NOMEM : NEEDS_MEMORY;
        if (batch->opaques)
            batch->opaques[batch->builder.count - 1] = message_opaque;
        if (!reserved)
            batch->credit -= size;
        batch->memory += size;
        /* Only this thread writes them (lock held): no read-modify-write
         * atomics needed. */
        atomic_store_explicit(
            &acc->accepted,
            atomic_load_explicit(&acc->accepted, memory_order_relaxed) + 1,
            memory_order_relaxed);
        atomic_store_explicit(
            &acc->accepted_bytes,
            atomic_load_explicit(&acc->accepted_bytes, memory_order_relaxed) +
                size,
            memory_order_relaxed);
        (*appendedp)++;
        if (batch->builder.count == 1)
            batch_take_credit(producer, batch,
                              lgi_batch_builder_size(&batch->builder) - before,
                              size);
        /* Full for practical purposes once another record like this one
         * would not fit: send it now instead of after linger.ms. */
        if (lgi_batch_builder_size(&batch->builder) + size > batch->limit)
            batch_ready(producer, acc);
    }
    return APPENDED;
}

/* accumulate_locked under acc->lock.  A direct batch (linger.ms=0) is
 * ready when the call ends: handed off here, or left open for the sender,
 * which is told of it then. */
static int accumulate(lg_producer_t *producer, accumulator_t *acc,
                      const lgi_record_fields_t *fields, const size_t *sizes,
                      size_t n, void *message_opaque,
                      int abort_on_new_batch, int reserved,
                      size_t *appendedp) {
    pthread_mutex_lock(&acc->lock);
    int outcome = accumulate_locked(producer, acc, fields, sizes, n,
                                    message_opaque, abort_on_new_batch,
                                    reserved, appendedp);
    pbatch_t *batch = acc->open;
    if (batch && batch->direct && batch->builder.count > 0 &&
        !hand_off_direct(producer, acc) && !batch->sender_notified)
        sender_note_deadline(producer, batch,
                             atomic_load(&acc->deadline_ms));
    pthread_mutex_unlock(&acc->lock);
    return outcome;
}

/* Charges size bytes to buffer.memory, waiting up to max.block.ms for
 * room. */
static lg_err_t memory_reserve(lg_producer_t *producer, size_t size) {
    long long limit = producer->buffer_memory;
    long long before = atomic_fetch_add(&producer->memory_used,
                                        (long long)size);
    if (before + (long long)size <= limit)
        return LG_OK;
    atomic_fetch_sub(&producer->memory_used, (long long)size);
    if (producer->max_block_ms == 0)
        return lgi_error(LG_ERR_QUEUE_FULL,
                         "lg_produce: buffer.memory (%lld bytes) is full and "
                         "max.block.ms is 0", limit);
    struct timespec deadline = deadline_after(producer->max_block_ms);
    lg_err_t err = LG_OK;
    pthread_mutex_lock(&producer->memory_lock);
    atomic_fetch_add(&producer->memory_waiters, 1);
    for (;;) {
        long long used = atomic_load(&producer->memory_used);
        if (used + (long long)size <= limit) {
            if (atomic_compare_exchange_strong(&producer->memory_used, &used,
                                               used + (long long)size))
                break;
            continue;
        }
        if (atomic_load(&producer->closing)) {
            err = lgi_error(LG_ERR_CLOSED, "lg_produce: producer is closing");
            break;
        }
        if (pthread_cond_timedwait(&producer->memory_freed,
                                   &producer->memory_lock,
                                   &deadline) == ETIMEDOUT) {
            err = lgi_error(LG_ERR_QUEUE_FULL,
                            "lg_produce: buffer.memory (%lld bytes) stayed "
                            "full for max.block.ms (%" PRId64 " ms)",
                            limit, producer->max_block_ms);
            break;
        }
    }
    atomic_fetch_sub(&producer->memory_waiters, 1);
    pthread_mutex_unlock(&producer->memory_lock);
    return err;
}

/* Everything lg_produce and lg_produce_records share once the records are
 * described as fields[0..n): topic and partition resolution, size checks,
 * memory, accumulation. */
/* lg_produce of a transactional producer: only inside a transaction. */
static lg_err_t txn_check_produce(lg_producer_t *producer) {
    int state = atomic_load(&producer->txn_state);
    if (state == TXN_FENCED)
        return lgi_error(LG_ERR_PRODUCER_FENCED,
                         "lg_produce: transactional.id \"%s\": this "
                         "producer was fenced by a newer one",
                         producer->transactional_id);
    if (state != TXN_IN)
        return lgi_error(LG_ERR_STATE,
                         "lg_produce: a transactional producer produces "
                         "only between lg_producer_begin_transaction and "
                         "commit/abort");
    return LG_OK;
}

/* Registers acc's partition with the coordinator once per transaction,
 * before any of its records can be written. */
static lg_err_t txn_register(lg_producer_t *producer, accumulator_t *acc) {
    unsigned long long serial = atomic_load(&producer->txn_serial);
    if (atomic_load(&acc->txn_registered) == serial)
        return LG_OK;
    lg_err_t err = lgi_txn_add_partition(
        producer->engine, producer->transactional_id, producer->producer_id,
        producer->producer_epoch, acc->topic->name, acc->partition);
    if (err == LG_ERR_PRODUCER_FENCED)
        atomic_store(&producer->txn_state, TXN_FENCED);
    if (err == LG_OK) {
        /* Before the record is queued, so the sender sees the flag. */
        atomic_store(&producer->txn_unsynced, 1);
        atomic_store(&acc->txn_registered, serial);
    }
    return err;
}

static lg_err_t produce_fields(lg_producer_t *producer, const char *topic,
                               int32_t partition, lgi_record_fields_t *fields,
                               size_t *sizes, size_t n,
                               void *message_opaque) {
    if (atomic_load_explicit(&producer->closing, memory_order_relaxed))
        return lgi_error(LG_ERR_CLOSED, "lg_produce: producer is closing");
    /* Checked per call, with the calling thread's principal (liblog.h). */
    lg_err_t err = lgi_authorize(producer->engine, LG_OP_WRITE,
                                 LG_RESOURCE_TOPIC, topic);
    if (err)
        return err;
    if (producer->transactional_id &&
        (err = txn_check_produce(producer)) != LG_OK)
        return err;
    ptopic_t *t = NULL;
    err = topic_get(producer, topic, &t);
    if (err)
        return err;
    int32_t count =
        atomic_load_explicit(&t->partition_count, memory_order_relaxed);
    if (partition != LG_PARTITION_ANY && partition >= count) {
        /* Partitions may have been added since the cache was filled. */
        topic_refresh(producer, t);
        count = atomic_load(&t->partition_count);
    }
    if (partition != LG_PARTITION_ANY && (partition < 0 || partition >= count))
        return lgi_error(LG_ERR_UNKNOWN_PARTITION,
                         "topic \"%s\" has partitions 0..%" PRId32
                         ", not %" PRId32,
                         topic, count - 1, partition);

    /* Sizes: each record must fit a batch of its own within the topic's
     * max.message.bytes (checked uncompressed, as Kafka's producer checks
     * its estimate against max.request.size) and within buffer.memory.
     * sizes[i] is the cheap upper bound, used for batch fitting and the
     * buffer.memory charge; the exact size is computed only when the
     * bound is over the limit. */
    int32_t max_message = atomic_load_explicit(&t->max_message_bytes,
                                               memory_order_relaxed);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        sizes[i] = lgi_batch_record_size_bound(&fields[i]);
        if (sizes[i] + LGI_BATCH_HEADER_SIZE > (size_t)max_message) {
            size_t exact = lgi_batch_record_size(&fields[i], 0, 0);
            if (exact + LGI_BATCH_HEADER_SIZE > (size_t)max_message)
                return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                                 "record of %zu bytes (batch of %zu) is over "
                                 "max.message.bytes %" PRId32
                                 " of topic \"%s\"",
                                 exact, exact + LGI_BATCH_HEADER_SIZE,
                                 max_message, topic);
        }
        total += sizes[i];
    }
    if (total > (size_t)producer->buffer_memory)
        return lgi_error(LG_ERR_RECORD_TOO_LARGE,
                         "records of %zu bytes are over buffer.memory "
                         "%" PRId64, total, producer->buffer_memory);
    /* One record first tries the open batch's credit; a failed try
     * changes nothing, and the record is then charged on its own. */
    int reserved = n > 1;
    if (reserved && (err = memory_reserve(producer, total)))
        return err;

    int sticky = 0;
    if (partition == LG_PARTITION_ANY)
        partition = lgi_partitioner_choose(
            producer->partitioner, &t->partitioner, fields[0].key,
            fields[0].key_len > 0 ? (size_t)fields[0].key_len : 0, count,
            &sticky);
    size_t appended = 0;
    for (;;) {
        accumulator_t *acc = accumulator_get(producer, t, partition);
        int outcome = APPEND_NOMEM;
        if (acc && producer->transactional_id &&
            (err = txn_register(producer, acc)) != LG_OK)
            outcome = APPEND_TXN_FAILED;
        else if (acc)
            outcome = accumulate(producer, acc, fields, sizes, n,
                                 message_opaque, sticky, reserved,
                                 &appended);
        if (outcome == APPENDED)
            break;
        if (outcome == NEEDS_MEMORY) {
            if ((err = memory_reserve(producer, total)))
                return err;
            reserved = 1;
            continue;
        }
        if (outcome == NEEDS_NEW_BATCH) {
            /* KIP-480: a new batch in the sticky partition moves the
             * sticky partition; the record opens its batch there. */
            partition = lgi_sticky_on_new_batch(&t->partitioner, partition,
                                                count);
            sticky = 0;
            continue;
        }
        /* Records of lg_produce_records appended before the failure stay
         * queued and will be reported; the rest are released. */
        size_t kept = 0;
        for (size_t i = 0; i < appended; i++)
            kept += sizes[i];
        if (reserved)
            memory_release(producer, total - kept);
        if (outcome == APPEND_TXN_FAILED)
            return err;
        return lgi_error(LG_ERR_NOMEM,
                         "lg_produce: out of memory queueing a record for "
                         "topic \"%s\"", topic);
    }
    return LG_OK;
}

static lg_err_t check_bytes(const char *what, const void *bytes, size_t len) {
    if (!bytes && len)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_produce: %s is NULL but its length is %zu", what,
                         len);
    if (len > INT32_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_produce: %s length %zu exceeds the Kafka limit "
                         "of %d bytes", what, len, INT32_MAX);
    return LG_OK;
}

LG_API lg_err_t lg_produce(lg_producer_t *producer, const char *topic,
                           int32_t partition, const void *key, size_t key_len,
                           const void *value, size_t value_len,
                           int64_t timestamp, void *message_opaque) {
    lgi_error_clear();
    if (!producer || !topic)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_produce: producer and topic must not be NULL");
    /* One test for the usual case; check_bytes says what is wrong. */
    if ((!key && key_len) || (!value && value_len) || key_len > INT32_MAX ||
        value_len > INT32_MAX) {
        lg_err_t err = check_bytes("key", key, key_len);
        if (err == LG_OK)
            err = check_bytes("value", value, value_len);
        return err;
    }
    if (timestamp < 0 && timestamp != LG_TIMESTAMP_NOW)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_produce: timestamp %" PRId64 " is negative (use "
                         "LG_TIMESTAMP_NOW for the engine's clock)",
                         timestamp);
    if (timestamp == LG_TIMESTAMP_NOW)
        timestamp = lgi_engine_now_ms(producer->engine);
    lgi_record_fields_t fields = {
        .timestamp = timestamp,
        .key = key,
        .key_len = key ? (int64_t)key_len : -1,
        .value = value,
        .value_len = value ? (int64_t)value_len : -1,
    };
    size_t size;
    return produce_fields(producer, topic, partition, &fields, &size, 1,
                          message_opaque);
}

LG_API lg_err_t lg_produce_records(lg_producer_t *producer, const char *topic,
                                   int32_t partition,
                                   const lg_records_t *records,
                                   void *message_opaque) {
    lgi_error_clear();
    if (!producer || !topic || !records)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_produce_records: producer, topic and records "
                         "must not be NULL");
    if (records->count == 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_produce_records: no records to produce");
    lgi_record_fields_t *fields =
        lgi_malloc(records->count * sizeof *fields);
    size_t *sizes = lgi_malloc(records->count * sizeof *sizes);
    if (!fields || !sizes) {
        lgi_free(fields);
        lgi_free(sizes);
        return lgi_error(LG_ERR_NOMEM,
                         "lg_produce_records: out of memory for %zu records",
                         records->count);
    }
    int64_t now = lgi_engine_now_ms(producer->engine);
    const uint8_t *arena = records->arena.data;
    for (size_t i = 0; i < records->count; i++) {
        const lgi_record_desc_t *d = &records->descs[i];
        fields[i] = (lgi_record_fields_t){
            .timestamp = d->timestamp == LG_TIMESTAMP_NOW ? now : d->timestamp,
            .key = d->key_len >= 0 ? arena + d->key_off : NULL,
            .key_len = d->key_len,
            .value = d->value_len >= 0 ? arena + d->value_off : NULL,
            .value_len = d->value_len,
            .header_count = d->header_count,
            .headers = arena + d->headers_off,
            .headers_len = d->headers_len,
        };
        /* A zero-length key in an empty arena has no address; any
         * non-NULL pointer marks it non-null. */
        if (d->key_len == 0)
            fields[i].key = "";
        if (d->value_len == 0)
            fields[i].value = "";
    }
    lg_err_t err = produce_fields(producer, topic, partition, fields, sizes,
                                  records->count, message_opaque);
    lgi_free(fields);
    lgi_free(sizes);
    return err;
}

/* ------------------------------------------------------------------------
 * Sender
 * --------------------------------------------------------------------- */

static void inflight_end(lg_producer_t *producer) {
    pthread_mutex_lock(&producer->inflight_lock);
    if (--producer->inflight == 0)
        pthread_cond_broadcast(&producer->inflight_done);
    pthread_mutex_unlock(&producer->inflight_lock);
}

/* Replicated partitions add two (Kafka's NOT_LEADER_OR_FOLLOWER and
 * REQUEST_TIMED_OUT): LG_ERR_NOT_LEADER means the batch is in no majority
 * (refused, or truncated away by a new leader), so a re-send cannot
 * duplicate it and succeeds once this engine leads again;
 * LG_ERR_TIMED_OUT (acks=all not committed in time) leaves the outcome
 * unknown, so only an idempotent producer re-sends it -- a copy the log
 * already holds is then acknowledged with its original offsets. */
static int retriable(const lg_producer_t *producer, lg_err_t err) {
    return err == LG_ERR_DISK_FULL || err == LG_ERR_NOT_LEADER ||
           (producer->idempotent && (err == LG_ERR_OUT_OF_ORDER_SEQUENCE ||
                                     err == LG_ERR_TIMED_OUT));
}

/* lgi_append_done_fn: on the I/O thread (or the sender, when the append
 * failed before hand-off).  Never blocks beyond short mutexes. */
static void append_done(void *opaque, lg_err_t err, int64_t base_offset) {
    pbatch_t *batch = opaque;
    lg_producer_t *producer = batch->producer;
    lgi_engine_release(producer->engine, &batch->ref);
    if (atomic_fetch_sub(&batch->accumulator->in_flight, 1) >=
        LGI_PRODUCER_STATE_BATCHES)
        wake_sender(producer); /* batches may be held back for the slot */
    if (retriable(producer, err) && !atomic_load(&producer->closing)) {
        int64_t now = monotonic_ms();
        if (now - batch->created_ms < producer->delivery_timeout_ms) {
            batch->retry_at_ms = now + producer->retry_backoff_ms;
            pbatch_t *head = atomic_load(&producer->retries);
            do {
                batch->next = head;
            } while (!atomic_compare_exchange_weak(&producer->retries, &head,
                                                   batch));
            wake_sender(producer);
            inflight_end(producer);
            return;
        }
        err = LG_ERR_TIMED_OUT;
    }
    batch_complete(producer, batch, err, base_offset);
    /* Last: once inflight reaches 0 destroy may free the producer. */
    inflight_end(producer);
}

/* Gives back the sequence batch was stamped with, which was not used:
 * it was never handed off.  No-op when the epoch changed since (the bump
 * restarted the sequences). */
static void return_sequence(lg_producer_t *producer, pbatch_t *batch) {
    pthread_mutex_lock(&producer->sequence_lock);
    if (batch->stamped_epoch == producer->producer_epoch)
        batch->accumulator->next_record_sequence = batch->base_sequence;
    batch->stamped_epoch = -1;
    pthread_mutex_unlock(&producer->sequence_lock);
}

/* Seals batch for its partition (batch->ref held): the topic's
 * compression and timestamp type and, for an idempotent producer, the
 * base sequence, stamped at the batch's first hand-off under the current
 * epoch and kept through re-sends.  Returns LG_OK with the sealed bytes
 * (the caller's) in *datap and *lenp and the append time in options, or the
 * error (no sequence is then used up).  *freshp says this call stamped
 * the sequence (return_sequence gives it back if the batch is not handed
 * off after all). */
static lg_err_t seal_for_partition(lg_producer_t *producer, pbatch_t *batch,
                                   lgi_batch_options_t *options,
                                   uint8_t **datap, size_t *lenp,
                                   int *freshp) {
    const lg_conf_t *conf = &batch->ref.conf;
    lgi_batch_options_init(options);
    options->now_ms = lgi_engine_now_ms(producer->engine);
    /* The topic's none/zstd wins; "producer" keeps the producer's. */
    int64_t topic_codec = lgi_conf_int(conf, LGI_CONF_COMPRESSION_TYPE);
    if (topic_codec == LGI_COMPRESSION_ZSTD ||
        (topic_codec == LGI_COMPRESSION_PRODUCER &&
         producer->codec == LGI_CODEC_ZSTD)) {
        options->codec = LGI_CODEC_ZSTD;
        options->zstd_level =
            (int)lgi_conf_int(conf, LGI_CONF_COMPRESSION_ZSTD_LEVEL);
    }
    options->log_append_time =
        lgi_conf_int(conf, LGI_CONF_MESSAGE_TIMESTAMP_TYPE) ==
        LGI_TIMESTAMP_LOG_APPEND_TIME;
    accumulator_t *acc = batch->accumulator;
    *freshp = 0;
    if (producer->idempotent) {
        pthread_mutex_lock(&producer->sequence_lock);
        if (batch->stamped_epoch != producer->producer_epoch) {
            /* Sequences wrap from INT32_MAX to 0, as Kafka's do. */
            batch->base_sequence = acc->next_record_sequence;
            batch->stamped_epoch = producer->producer_epoch;
            acc->next_record_sequence = (int32_t)(
                ((int64_t)acc->next_record_sequence + batch->builder.count) &
                INT32_MAX);
            *freshp = 1;
        }
        options->producer_id = producer->producer_id;
        options->producer_epoch = producer->producer_epoch;
        pthread_mutex_unlock(&producer->sequence_lock);
        options->base_sequence = batch->base_sequence;
        options->transactional = producer->transactional_id != NULL;
    }
    lg_err_t err = lgi_batch_builder_seal(&batch->builder, options, datap,
                                          lenp);
    int64_t max_message = lgi_conf_int(conf, LGI_CONF_MAX_MESSAGE_BYTES);
    if (err == LG_OK && *lenp > (size_t)max_message) {
        /* max.message.bytes was lowered after the records were queued. */
        lgi_free(*datap);
        err = LG_ERR_RECORD_TOO_LARGE;
    }
    if (err != LG_OK && *freshp) {
        return_sequence(producer, batch);
        *freshp = 0;
    }
    return err;
}

static void retry_insert(accumulator_t *acc, pbatch_t *batch);

/* Seals batch and hands it to its partition, or completes it with the
 * reason it cannot be sent. */
static void submit(lg_producer_t *producer, pbatch_t *batch, int64_t now) {
    ptopic_t *t = batch->topic;
    if (now - batch->created_ms >= producer->delivery_timeout_ms) {
        batch_complete(producer, batch, LG_ERR_TIMED_OUT, -1);
        return;
    }
    /* Partitions registered with the transaction since the last sync must
     * be durable in __transaction_state before any transactional data is
     * written: one fdatasync for all of them (txn.c, INVARIANTS).  On
     * failure the batch fails, which makes the transaction abortable. */
    if (producer->transactional_id &&
        atomic_exchange(&producer->txn_unsynced, 0)) {
        lg_err_t err = lgi_txn_sync(producer->engine);
        if (err != LG_OK) {
            atomic_store(&producer->txn_unsynced, 1);
            batch_complete(producer, batch, err, -1);
            return;
        }
    }
    lg_err_t err = lgi_engine_acquire(producer->engine, t->name,
                                      batch->accumulator->partition,
                                      &batch->ref);
    if (err == LG_OK &&
        memcmp(batch->ref.topic->topic_id, t->topic_id, 16) != 0) {
        /* Deleted and re-created under the same name: these records were
         * meant for the old topic. */
        lgi_engine_release(producer->engine, &batch->ref);
        err = LG_ERR_UNKNOWN_TOPIC;
    }
    if (err) {
        if (err == LG_ERR_UNKNOWN_TOPIC)
            atomic_store(&t->deleted, 1);
        batch_complete(producer, batch, err, -1);
        return;
    }
    lgi_batch_options_t options;
    accumulator_t *acc = batch->accumulator;
    if (producer->idempotent && lgi_partition_replicated(batch->ref.partition) &&
        atomic_load(&acc->in_flight) >= LGI_PRODUCER_STATE_BATCHES) {
        /* Held back until an append of the partition completes (see
         * accumulator.in_flight); batches behind it queue after it. */
        lgi_engine_release(producer->engine, &batch->ref);
        batch->retry_at_ms = now;
        retry_insert(acc, batch);
        return;
    }
    uint8_t *data;
    size_t len;
    int fresh_sequence;
    err = seal_for_partition(producer, batch, &options, &data, &len,
                             &fresh_sequence);
    if (err) {
        lgi_engine_release(producer->engine, &batch->ref);
        batch_complete(producer, batch, err, -1);
        return;
    }
    pthread_mutex_lock(&producer->inflight_lock);
    producer->inflight++;
    pthread_mutex_unlock(&producer->inflight_lock);
    atomic_fetch_add(&acc->in_flight, 1);
    lgi_partition_append_async(batch->ref.partition, data, len,
                               producer->acks, options.now_ms, append_done,
                               batch);
}

/* DIRECT HAND-OFF.  With linger.ms=0, a batch is ready as soon as the
 * lg_produce call that filled it ends (or when it is full); the producing
 * thread then seals it and hands it to its partition itself, acc->lock
 * held, instead of waking the sender for it: the wake-up and the sender's
 * run cost some 10 us of latency on a small machine.  Not with
 * linger.ms > 0, not even for a batch that just filled: that producer
 * chose throughput, and sealing and handing off on its thread cost it
 * some 15% of its records/s in produce_bench (the sender does that work
 * in parallel).  Only the plain case goes this way, so everything the
 * sender guarantees still holds:
 *   - order: only while acc->pending is 0 -- no earlier batch of the
 *     partition is queued in the sender, being sent, in flight or waiting
 *     to be re-sent -- so the batch is handed off after every earlier one
 *     and before any later one (those leave the accumulator after it,
 *     under acc->lock), and sequences are stamped in hand-off order;
 *   - only a batch opened while its partition was idle (batch->direct):
 *     nothing pending, and its previous batch opened DIRECT_IDLE_NS or
 *     more before.  The batches of a partition receiving records faster
 *     stay with the sender, which batches what arrives meanwhile as it
 *     always did.  (Measured: in a loop producing with linger.ms=0 on 2
 *     busy cores, handing off whenever nothing was pending sent a
 *     one-record batch each time the pipeline drained -- the producing
 *     thread paying the I/O thread's wake-up each time -- for some 15%
 *     fewer records/s.)
 *   - never for a transactional producer (its partitions are registered
 *     by the sender's path), while an epoch bump is pending, while
 *     closing, past delivery.timeout.ms, or when the topic is gone or
 *     re-created: the sender handles those as always;
 *   - lgi_partition_try_append_async never waits: when the partition is
 *     busy (a roll or rollback may hold it across I/O) or needs I/O on
 *     this thread, it does nothing and the batch goes to the ready queue;
 *   - the completion is append_done's, as for the sender's hand-offs:
 *     retries, delivery reports, in-flight and flush accounting, stats.
 * Returns 1 when the batch left the accumulator (handed off, completed,
 * or queued for the sender), 0 when nothing changed. */
static int hand_off_direct(lg_producer_t *producer, accumulator_t *acc) {
    pbatch_t *batch = acc->open;
    if (!batch || !batch->direct || batch->builder.count == 0 ||
        atomic_load(&acc->pending) != 0 || atomic_load(&producer->closing) ||
        atomic_load_explicit(&producer->epoch_bump, memory_order_relaxed) ||
        atomic_load_explicit(&batch->topic->deleted, memory_order_relaxed) ||
        monotonic_ms() - batch->created_ms >= producer->delivery_timeout_ms)
        return 0;
    ptopic_t *t = batch->topic;
    if (lgi_engine_acquire(producer->engine, t->name, acc->partition,
                           &batch->ref) != LG_OK) {
        lgi_error_clear();
        return 0;
    }
    lgi_batch_options_t options;
    uint8_t *data;
    size_t len;
    int fresh_sequence;
    if (memcmp(batch->ref.topic->topic_id, t->topic_id, 16) != 0 ||
        seal_for_partition(producer, batch, &options, &data, &len,
                           &fresh_sequence) != LG_OK) {
        lgi_error_clear();
        lgi_engine_release(producer->engine, &batch->ref);
        return 0;
    }
    leave_accumulator(producer, acc);
    pthread_mutex_lock(&producer->inflight_lock);
    producer->inflight++;
    pthread_mutex_unlock(&producer->inflight_lock);
    atomic_fetch_add(&acc->in_flight, 1); /* append_done takes it back */
    if (lgi_partition_try_append_async(batch->ref.partition, data, len,
                                       producer->acks, options.now_ms,
                                       append_done, batch)) {
        /* append_done may have run (and ended the batch) already. */
        lgi_count(&producer->stat_direct, 1);
        lgi_error_clear();
        return 1;
    }
    atomic_fetch_sub(&acc->in_flight, 1);
    inflight_end(producer);
    lgi_free(data);
    if (fresh_sequence)
        return_sequence(producer, batch);
    lgi_engine_release(producer->engine, &batch->ref);
    queue_ready(producer, batch);
    return 1;
}

/* Inserts batch into acc's retry list, keeping sequence order. */
static void retry_insert(accumulator_t *acc, pbatch_t *batch) {
    pbatch_t **link = &acc->retry;
    while (*link && (*link)->sequence < batch->sequence)
        link = &(*link)->next;
    batch->next = *link;
    *link = batch;
    if (acc->retry == batch || batch->retry_at_ms > acc->retry_at_ms)
        acc->retry_at_ms = batch->retry_at_ms;
}

/* Moves every open batch that expired, or that belongs to a generation a
 * flush wants sealed, to the ready queue; returns the earliest remaining
 * deadline (INT64_MAX when none). */
static int64_t scan_accumulators(lg_producer_t *producer, int64_t now,
                                 uint64_t flush_below) {
    int64_t earliest = INT64_MAX;
    for (accumulator_t *acc = atomic_load(&producer->registry); acc;
         acc = acc->registry_next) {
        int64_t deadline = atomic_load(&acc->deadline_ms);
        if (deadline == 0)
            continue;
        if (deadline > now && flush_below == 0) {
            if (deadline < earliest)
                earliest = deadline;
            continue;
        }
        pthread_mutex_lock(&acc->lock);
        pbatch_t *open = acc->open;
        if (open && (atomic_load(&acc->deadline_ms) <= now ||
                     open->flush_generation < flush_below))
            make_ready(producer, acc);
        else if (open && acc->deadline_ms < earliest)
            earliest = acc->deadline_ms;
        pthread_mutex_unlock(&acc->lock);
    }
    return earliest;
}

static void refresh_metadata(lg_producer_t *producer) {
    topic_table_t *table = atomic_load(&producer->topics);
    for (size_t i = 0; table && i < table->cap; i++)
        if (table->slots[i] && !atomic_load(&table->slots[i]->deleted))
            topic_refresh(producer, table->slots[i]);
}

/* Sender thread: after a sequenced batch failed for good, moves to a new
 * epoch (or, when the epoch space is used up, a new producer id) so
 * sequences restart at 0 everywhere.  Batches already handed off under
 * the old epoch passed the log's checks before this runs (hand-off
 * assigns their place synchronously); any that come back for a retry are
 * stamped afresh by submit. */
static void bump_epoch(lg_producer_t *producer) {
    /* Only this thread changes the identity: reading it unlocked is safe,
     * and the id is taken before the lock (it may write to disk). */
    int64_t id = producer->producer_id;
    if (producer->producer_epoch == INT16_MAX &&
        lgi_producer_ids_next(producer->engine->producer_ids, &id) !=
            LG_OK) {
        lgi_error_clear();
        atomic_store(&producer->epoch_bump, 1); /* try again later */
        return;
    }
    pthread_mutex_lock(&producer->sequence_lock);
    if (producer->producer_epoch == INT16_MAX) {
        producer->producer_id = id;
        producer->producer_epoch = 0;
    } else {
        producer->producer_epoch++;
    }
    for (accumulator_t *acc = atomic_load(&producer->registry); acc;
         acc = acc->registry_next)
        acc->next_record_sequence = 0;
    pthread_mutex_unlock(&producer->sequence_lock);
}

static void *sender_main(void *arg) {
    lg_producer_t *producer = arg;
    uint64_t flush_handled = 0;
    pthread_mutex_lock(&producer->sender_lock);
    while (!producer->sender_stop) {
        producer->sender_pending = 0;
        uint64_t flush_request = producer->flush_request;
        atomic_store(&producer->sender_next_wake_ms, 0);
        pthread_mutex_unlock(&producer->sender_lock);

        int64_t now = monotonic_ms();
        if (now - producer->last_refresh_ms >= METADATA_REFRESH_MS) {
            refresh_metadata(producer);
            producer->last_refresh_ms = now;
        }
        if (atomic_exchange(&producer->epoch_bump, 0))
            bump_epoch(producer);
        /* Failed appends come back in completion order; file them by
         * partition and sequence. */
        pbatch_t *retries = atomic_exchange(&producer->retries, NULL);
        while (retries) {
            pbatch_t *next = retries->next;
            retry_insert(retries->accumulator, retries);
            retries = next;
        }
        uint64_t flush_below =
            flush_request > flush_handled ? flush_request : 0;
        int64_t next_wake = scan_accumulators(producer, now, flush_below);
        flush_handled = flush_request;

        pthread_mutex_lock(&producer->sender_lock);
        pbatch_t *ready = producer->ready_head;
        producer->ready_head = producer->ready_tail = NULL;
        pthread_mutex_unlock(&producer->sender_lock);

        /* Due retries first: they are older than anything ready. */
        for (accumulator_t *acc = atomic_load(&producer->registry); acc;
             acc = acc->registry_next) {
            if (!acc->retry)
                continue;
            if (acc->retry_at_ms > now) {
                if (acc->retry_at_ms < next_wake)
                    next_wake = acc->retry_at_ms;
                continue;
            }
            pbatch_t *list = acc->retry;
            acc->retry = NULL;
            while (list) {
                pbatch_t *next = list->next;
                submit(producer, list, now);
                list = next;
            }
        }
        while (ready) {
            pbatch_t *next = ready->next;
            accumulator_t *acc = ready->accumulator;
            if (acc->retry) {
                /* Keep the partition's order behind the waiting retry. */
                ready->retry_at_ms = acc->retry_at_ms;
                retry_insert(acc, ready);
            } else {
                submit(producer, ready, now);
            }
            ready = next;
        }

        int64_t refresh_at = producer->last_refresh_ms + METADATA_REFRESH_MS;
        if (refresh_at < next_wake)
            next_wake = refresh_at;
        pthread_mutex_lock(&producer->sender_lock);
        atomic_store(&producer->sender_next_wake_ms, next_wake);
        if (!producer->sender_pending && !producer->ready_head &&
            !producer->sender_stop) {
            int64_t wait = next_wake - monotonic_ms();
            if (wait > 0) {
                struct timespec deadline = deadline_after(wait);
                pthread_cond_timedwait(&producer->sender_wake,
                                       &producer->sender_lock, &deadline);
            }
        }
    }
    pthread_mutex_unlock(&producer->sender_lock);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Delivery reports
 * --------------------------------------------------------------------- */

/* Calls the delivery callback for every queued report; returns the
 * number of records reported. */
static int serve_reports(lg_producer_t *producer) {
    drain_eventfd(producer);
    pbatch_t *stack = atomic_exchange(&producer->reports, NULL);
    /* The stack is newest first; reverse to report in completion order. */
    pbatch_t *list = NULL;
    while (stack) {
        pbatch_t *next = stack->next;
        stack->next = list;
        list = stack;
        stack = next;
    }
    int served = 0;
    while (list) {
        pbatch_t *batch = list;
        list = batch->next;
        int32_t count = batch->builder.count;
        for (int32_t i = 0; i < count; i++) {
            int64_t offset = batch->err == LG_OK ? batch->base_offset + i : -1;
            producer->callback(producer->callback_opaque, batch->err,
                               batch->topic->name,
                               batch->accumulator->partition, offset,
                               batch->opaques[i]);
            if (served < INT32_MAX)
                served++;
        }
        batch_finish(producer, batch);
    }
    return served;
}

/* Waits up to timeout_ms (-1 forever) for the eventfd to become
 * readable. */
static void wait_event(lg_producer_t *producer, int timeout_ms) {
    struct pollfd pfd = {.fd = producer->event_fd, .events = POLLIN};
    int rc = poll(&pfd, 1, timeout_ms);
    (void)rc; /* EINTR or timeout: the caller re-checks */
}

LG_API int lg_producer_poll(lg_producer_t *producer, int timeout_ms) {
    lgi_error_clear();
    if (!producer)
        return 0;
    int64_t start = monotonic_ms();
    for (;;) {
        int served = serve_reports(producer);
        if (served > 0 || timeout_ms == 0)
            return served;
        int wait = -1;
        if (timeout_ms > 0) {
            int64_t left = timeout_ms - (monotonic_ms() - start);
            if (left <= 0)
                return 0;
            wait = (int)left;
        }
        wait_event(producer, wait);
    }
}

/* 1 while a batch of a generation below generation has not ended. */
static int live_before(lg_producer_t *producer, uint64_t generation) {
    int found = 0;
    pthread_mutex_lock(&producer->live_lock);
    for (pbatch_t *b = producer->live.live_next; b != &producer->live;
         b = b->live_next)
        if (b->flush_generation < generation) {
            found = 1;
            break;
        }
    pthread_mutex_unlock(&producer->live_lock);
    return found;
}

LG_API lg_err_t lg_producer_flush(lg_producer_t *producer, int timeout_ms) {
    lgi_error_clear();
    if (!producer)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_producer_flush: producer is NULL");
    int64_t start = monotonic_ms();
    /* Batches opened from now on get a generation >= this one; every
     * record produced before the call is in a batch below it. */
    uint64_t generation = atomic_fetch_add(&producer->flush_generation, 1) + 1;
    pthread_mutex_lock(&producer->sender_lock);
    producer->flush_request = generation;
    producer->sender_pending = 1;
    pthread_cond_signal(&producer->sender_wake);
    pthread_mutex_unlock(&producer->sender_lock);

    atomic_fetch_add(&producer->flush_waiters, 1);
    lg_err_t err = LG_OK;
    for (;;) {
        serve_reports(producer);
        if (!live_before(producer, generation))
            break;
        int wait = FLUSH_WAIT_SLICE_MS;
        if (timeout_ms >= 0) {
            int64_t left = timeout_ms - (monotonic_ms() - start);
            if (left <= 0) {
                err = lgi_error(LG_ERR_TIMED_OUT,
                                "lg_producer_flush: records still pending "
                                "after %d ms", timeout_ms);
                break;
            }
            if (left < wait)
                wait = (int)left;
        }
        wait_event(producer, wait);
    }
    atomic_fetch_sub(&producer->flush_waiters, 1);
    return err;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * --------------------------------------------------------------------- */

/* Records accepted by lg_produce so far, summed over the accumulators;
 * with bytesp, their buffer.memory charges too. */
static long long producer_accepted(lg_producer_t *producer, uint64_t *bytesp) {
    long long records = 0;
    uint64_t bytes = 0;
    for (accumulator_t *acc = atomic_load(&producer->registry); acc;
         acc = acc->registry_next) {
        records += atomic_load_explicit(&acc->accepted, memory_order_relaxed);
        bytes += atomic_load_explicit(&acc->accepted_bytes,
                                      memory_order_relaxed);
    }
    if (bytesp)
        *bytesp = bytes;
    return records;
}

LG_API size_t lg_producer_queue_length(const lg_producer_t *producer) {
    if (!producer)
        return 0;
    lg_producer_t *p = (lg_producer_t *)producer; /* atomics are not const */
    /* finished first: a record counted finished was counted accepted
     * before, so the difference cannot go negative from a race. */
    long long finished = atomic_load(&p->finished);
    long long accepted = producer_accepted(p, NULL);
    return accepted > finished ? (size_t)(accepted - finished) : 0;
}

LG_API int lg_producer_eventfd(const lg_producer_t *producer) {
    return producer ? producer->event_fd : -1;
}

LG_API lg_err_t lg_producer_set_delivery_callback(lg_producer_t *producer,
                                                  lg_delivery_fn callback,
                                                  void *opaque) {
    lgi_error_clear();
    if (!producer)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_producer_set_delivery_callback: producer is "
                         "NULL");
    if (producer_accepted(producer, NULL) != 0)
        return lgi_error(LG_ERR_STATE,
                         "lg_producer_set_delivery_callback: records were "
                         "already produced; set the callback before the "
                         "first lg_produce");
    producer->callback = callback;
    producer->callback_opaque = opaque;
    return LG_OK;
}

static void free_topic(ptopic_t *t) {
    lgi_free(t->name);
    lgi_free(atomic_load(&t->partitions));
    lgi_free(t);
}

static void producer_free(lg_producer_t *producer) {
    accumulator_t *acc = atomic_load(&producer->registry);
    while (acc) {
        accumulator_t *next = acc->registry_next;
        pthread_mutex_destroy(&acc->lock);
        lgi_free(acc);
        acc = next;
    }
    while (producer->all_topics) {
        ptopic_t *t = producer->all_topics;
        producer->all_topics = t->all_next;
        free_topic(t);
    }
    topic_table_t *table = atomic_load(&producer->topics);
    lgi_free(table);
    for (size_t i = 0; i < producer->pool_count; i++)
        lgi_buf_free(&producer->pool[i]);
    while (producer->retired) {
        retired_t *r = producer->retired;
        producer->retired = r->next;
        lgi_free(r->memory);
        lgi_free(r);
    }
    if (producer->event_fd >= 0)
        close(producer->event_fd);
    pthread_mutex_destroy(&producer->topics_lock);
    pthread_mutex_destroy(&producer->memory_lock);
    pthread_cond_destroy(&producer->memory_freed);
    pthread_mutex_destroy(&producer->sender_lock);
    pthread_cond_destroy(&producer->sender_wake);
    pthread_mutex_destroy(&producer->live_lock);
    pthread_mutex_destroy(&producer->inflight_lock);
    pthread_mutex_destroy(&producer->event_lock);
    pthread_mutex_destroy(&producer->pool_lock);
    pthread_mutex_destroy(&producer->sequence_lock);
    pthread_cond_destroy(&producer->inflight_done);
    lgi_free(producer);
}

static void discard_list(lg_producer_t *producer, pbatch_t *list) {
    while (list) {
        pbatch_t *next = list->next;
        live_remove(producer, list);
        batch_free(producer, list);
        list = next;
    }
}

/* Stops the sender and waits for in-flight appends; queued records are
 * failed without a report (destroy's documented behaviour) unless they
 * were sent first.  Leaves the report queue for serve_reports. */
static void shut_down(lg_producer_t *producer) {
    lgi_stats_unregister(producer->engine, &producer->stats_client);
    atomic_store(&producer->closing, 1);
    pthread_mutex_lock(&producer->memory_lock);
    pthread_cond_broadcast(&producer->memory_freed);
    pthread_mutex_unlock(&producer->memory_lock);
    if (producer->sender_started) {
        pthread_mutex_lock(&producer->sender_lock);
        producer->sender_stop = 1;
        pthread_cond_signal(&producer->sender_wake);
        pthread_mutex_unlock(&producer->sender_lock);
        pthread_join(producer->sender, NULL);
        producer->sender_started = 0;
    }
    for (accumulator_t *acc = atomic_load(&producer->registry); acc;
         acc = acc->registry_next) {
        pthread_mutex_lock(&acc->lock);
        if (acc->open) {
            acc->open->next = NULL;
            discard_list(producer, acc->open);
            acc->open = NULL;
        }
        pthread_mutex_unlock(&acc->lock);
        discard_list(producer, acc->retry);
        acc->retry = NULL;
    }
    discard_list(producer, producer->ready_head);
    producer->ready_head = producer->ready_tail = NULL;
    /* In-flight appends hold partition references and point at the
     * producer: wait for their completions. */
    pthread_mutex_lock(&producer->inflight_lock);
    while (producer->inflight > 0)
        pthread_cond_wait(&producer->inflight_done, &producer->inflight_lock);
    pthread_mutex_unlock(&producer->inflight_lock);
    discard_list(producer, atomic_exchange(&producer->retries, NULL));
}

/* Nothing queued, waiting to retry or in flight. */
static int drained(lg_producer_t *producer) {
    int idle = 1;
    for (accumulator_t *acc = atomic_load(&producer->registry); acc && idle;
         acc = acc->registry_next) {
        pthread_mutex_lock(&acc->lock);
        idle = !acc->open;
        pthread_mutex_unlock(&acc->lock);
        idle = idle && !acc->retry;
    }
    pthread_mutex_lock(&producer->sender_lock);
    idle = idle && !producer->ready_head;
    pthread_mutex_unlock(&producer->sender_lock);
    pthread_mutex_lock(&producer->inflight_lock);
    idle = idle && producer->inflight == 0;
    pthread_mutex_unlock(&producer->inflight_lock);
    return idle && !atomic_load(&producer->retries);
}

/* The engine is closing while this producer lives.  Records already
 * produced are appended first (the application asked for them and the
 * engine is about to flush), bounded by delivery.timeout.ms; then the
 * producer lets go of the engine.  Their delivery reports stay queued:
 * lg_producer_poll still serves them, lg_produce answers LG_ERR_CLOSED. */
static void detach(lgi_engine_child_t *child) {
    lg_producer_t *producer = (lg_producer_t *)child;
    uint64_t generation = atomic_fetch_add(&producer->flush_generation, 1) + 1;
    pthread_mutex_lock(&producer->sender_lock);
    producer->flush_request = generation;
    producer->sender_pending = 1;
    pthread_cond_signal(&producer->sender_wake);
    pthread_mutex_unlock(&producer->sender_lock);
    int64_t deadline = monotonic_ms() + producer->delivery_timeout_ms;
    while (!drained(producer) && monotonic_ms() < deadline)
        usleep(1000);
    shut_down(producer);
    producer->detached = 1;
    producer->engine = NULL;
}

LG_API void lg_producer_destroy(lg_producer_t *producer) {
    if (!producer)
        return;
    if (!producer->detached) {
        lgi_engine_detach_child(producer->engine, &producer->child);
        shut_down(producer);
    }
    discard_list(producer, atomic_exchange(&producer->reports, NULL));
    producer_free(producer);
}

/* Decides enable.idempotence against acks as Kafka 3 does (an explicit
 * conflict is an error; a default yields to an explicit acks 0/1) and
 * takes a producer id from the engine. */
static lg_err_t idempotence_setup(lg_producer_t *p, const lg_conf_t *conf) {
    int wanted = lgi_conf_int(conf, LGI_CONF_ENABLE_IDEMPOTENCE) != 0;
    int explicit_idempotence = lgi_conf_is_set(conf, "enable.idempotence");
    const char *transactional_id = lgi_conf_str(conf, LGI_CONF_TRANSACTIONAL_ID);
    if (transactional_id[0]) {
        /* As Kafka: transactions need idempotence and acks=all; the id
         * and epoch come from lg_producer_init_transactions. */
        if (!wanted)
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "lg_producer_new: transactional.id needs "
                             "enable.idempotence=true");
        if (p->acks != LG_ACKS_ALL)
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "lg_producer_new: transactional.id needs "
                             "acks=all");
        p->transactional_id = transactional_id;
        p->transaction_timeout_ms =
            (int32_t)lgi_conf_int(conf, LGI_CONF_TRANSACTION_TIMEOUT_MS);
        p->idempotent = 1;
        return LG_OK;
    }
    if (!wanted)
        return LG_OK;
    if (p->acks != LG_ACKS_ALL) {
        if (explicit_idempotence)
            return lgi_error(LG_ERR_INVALID_CONFIG,
                             "lg_producer_new: enable.idempotence=true needs "
                             "acks=all");
        return LG_OK;
    }
    lg_err_t err = lgi_producer_ids_next(p->engine->producer_ids,
                                         &p->producer_id);
    if (err != LG_OK)
        return err;
    p->idempotent = 1;
    p->producer_epoch = 0;
    return LG_OK;
}

LG_API lg_err_t lg_producer_new(lg_engine_t *engine, const lg_conf_t *conf,
                                lg_producer_t **producerp) {
    lgi_error_clear();
    if (!engine || !producerp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_producer_new: engine and producerp must not be "
                         "NULL");
    *producerp = NULL;
    lg_conf_t defaults;
    if (!conf) {
        lg_conf_t *fresh = lg_conf_new();
        if (!fresh)
            return lgi_error(LG_ERR_NOMEM, "lg_producer_new: out of memory");
        defaults = *fresh;
        lg_conf_destroy(fresh);
        conf = &defaults;
    }
    lg_err_t err = lgi_conf_check_scope(conf, LGI_SCOPE_PRODUCER, "a producer");
    if (err)
        return err;
    lg_producer_t *p = lgi_calloc(1, sizeof *p);
    if (!p)
        return lgi_error(LG_ERR_NOMEM, "lg_producer_new: out of memory");
    p->engine = engine;
    p->acks = lgi_conf_acks(conf);
    p->linger_ms = lgi_conf_int(conf, LGI_CONF_LINGER_MS);
    p->batch_size = lgi_conf_int(conf, LGI_CONF_BATCH_SIZE);
    p->partitioner = (int)lgi_conf_int(conf, LGI_CONF_PARTITIONER);
    p->codec = lgi_conf_int(conf, LGI_CONF_COMPRESSION_TYPE) ==
                       LGI_COMPRESSION_ZSTD
                   ? LGI_CODEC_ZSTD
                   : LGI_CODEC_NONE;
    p->buffer_memory = lgi_conf_int(conf, LGI_CONF_BUFFER_MEMORY);
    p->max_block_ms = lgi_conf_int(conf, LGI_CONF_MAX_BLOCK_MS);
    p->delivery_timeout_ms = lgi_conf_int(conf, LGI_CONF_DELIVERY_TIMEOUT_MS);
    p->retry_backoff_ms = lgi_conf_int(conf, LGI_CONF_RETRY_BACKOFF_MS);
    p->producer_id = -1;
    p->producer_epoch = -1;
    if ((err = idempotence_setup(p, conf)) != LG_OK) {
        lgi_free(p);
        return err;
    }
    p->direct = p->linger_ms == 0 && p->transactional_id == NULL;
    p->live.live_next = p->live.live_prev = &p->live;
    pthread_mutex_init(&p->topics_lock, NULL);
    pthread_mutex_init(&p->memory_lock, NULL);
    pthread_mutex_init(&p->sender_lock, NULL);
    pthread_mutex_init(&p->live_lock, NULL);
    pthread_mutex_init(&p->inflight_lock, NULL);
    pthread_mutex_init(&p->event_lock, NULL);
    pthread_mutex_init(&p->pool_lock, NULL);
    pthread_mutex_init(&p->sequence_lock, NULL);
    p->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->event_fd < 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "lg_producer_new: eventfd");
        pthread_cond_init(&p->memory_freed, NULL);
        pthread_cond_init(&p->sender_wake, NULL);
        pthread_cond_init(&p->inflight_done, NULL);
        producer_free(p);
        return err;
    }
    if (init_monotonic_cond(&p->memory_freed) != 0 ||
        init_monotonic_cond(&p->sender_wake) != 0 ||
        pthread_cond_init(&p->inflight_done, NULL) != 0) {
        close(p->event_fd);
        lgi_free(p);
        return lgi_error(LG_ERR_NOMEM,
                         "lg_producer_new: cannot create condition "
                         "variables");
    }
    p->last_refresh_ms = monotonic_ms();
    int rc = pthread_create(&p->sender, NULL, sender_main, p);
    if (rc != 0) {
        producer_free(p);
        return lgi_error_errno(LG_ERR_NOMEM, rc,
                               "lg_producer_new: cannot start the sender "
                               "thread");
    }
    p->sender_started = 1;
    p->child.detach = detach;
    lgi_engine_attach_child(engine, &p->child);
    lgi_stats_register(engine, &p->stats_client, LGI_STATS_PRODUCER, p);
    *producerp = p;
    return LG_OK;
}

/* Fills stats for the engine's statistics renderers.  Any thread, while
 * the producer is registered. */
void lgi_producer_stats(lg_producer_t *producer, lgi_producer_stats_t *stats) {
    stats->records = (uint64_t)producer_accepted(producer, &stats->bytes);
    stats->delivered = atomic_load_explicit(&producer->stat_delivered,
                                            memory_order_relaxed);
    stats->failed = atomic_load_explicit(&producer->stat_failed,
                                         memory_order_relaxed);
    stats->direct_batches = atomic_load_explicit(&producer->stat_direct,
                                                 memory_order_relaxed);
    stats->queue_length = lg_producer_queue_length(producer);
    long long memory = atomic_load_explicit(&producer->memory_used,
                                            memory_order_relaxed);
    stats->memory_used = memory > 0 ? (uint64_t)memory : 0;
}

/* ------------------------------------------------------------------------
 * Transactions
 * --------------------------------------------------------------------- */

/* The state check shared by the transactional calls. */
static lg_err_t txn_expect(lg_producer_t *producer, const char *what,
                           int state) {
    if (!producer)
        return lgi_error(LG_ERR_INVALID_ARG, "%s: producer is NULL", what);
    if (!producer->transactional_id)
        return lgi_error(LG_ERR_STATE, "%s: the producer has no "
                         "transactional.id", what);
    int now = atomic_load(&producer->txn_state);
    if (now == TXN_FENCED)
        return lgi_error(LG_ERR_PRODUCER_FENCED,
                         "%s: transactional.id \"%s\": this producer was "
                         "fenced by a newer one", what,
                         producer->transactional_id);
    if (now != state) {
        static const char *const names[] = {
            "before lg_producer_init_transactions", "outside a transaction",
            "inside a transaction", "fenced"};
        return lgi_error(LG_ERR_STATE, "%s: not valid %s", what, names[now]);
    }
    return LG_OK;
}

/* Asks the coordinator for the producer id and a new epoch; sequences
 * restart at 0.  Only while nothing is in flight (init, or abort after
 * its flush), so the sender sees the new identity with the next batch. */
static lg_err_t txn_new_epoch(lg_producer_t *producer) {
    int64_t id;
    int16_t epoch;
    lg_err_t err = lgi_txn_init(producer->engine, producer->transactional_id,
                                producer->transaction_timeout_ms, &id,
                                &epoch);
    if (err != LG_OK)
        return err;
    pthread_mutex_lock(&producer->sequence_lock);
    producer->producer_id = id;
    producer->producer_epoch = epoch;
    for (accumulator_t *acc = atomic_load(&producer->registry); acc;
         acc = acc->registry_next)
        acc->next_record_sequence = 0;
    pthread_mutex_unlock(&producer->sequence_lock);
    atomic_store(&producer->txn_failed, 0);
    atomic_store(&producer->txn_fenced, 0);
    return LG_OK;
}

LG_API lg_err_t lg_producer_init_transactions(lg_producer_t *producer) {
    lgi_error_clear();
    lg_err_t err = txn_expect(producer, "lg_producer_init_transactions",
                              TXN_UNINIT);
    if (err)
        return err;
    if ((err = txn_new_epoch(producer)) != LG_OK)
        return err;
    atomic_store(&producer->txn_state, TXN_READY);
    return LG_OK;
}

LG_API lg_err_t lg_producer_begin_transaction(lg_producer_t *producer) {
    lgi_error_clear();
    lg_err_t err = txn_expect(producer, "lg_producer_begin_transaction",
                              TXN_READY);
    if (err)
        return err;
    atomic_fetch_add(&producer->txn_serial, 1);
    atomic_store(&producer->txn_state, TXN_IN);
    return LG_OK;
}

LG_API lg_err_t lg_producer_send_offsets_to_transaction(
    lg_producer_t *producer, const lg_topic_partition_list_t *offsets,
    const char *group_id) {
    lgi_error_clear();
    lg_err_t err = txn_expect(producer,
                              "lg_producer_send_offsets_to_transaction",
                              TXN_IN);
    if (err)
        return err;
    if (!offsets || !group_id || !group_id[0])
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_producer_send_offsets_to_transaction: offsets "
                         "and a non-empty group_id are required");
    for (size_t i = 0; i < offsets->count; i++)
        if (offsets->items[i].offset < 0)
            return lgi_error(LG_ERR_INVALID_ARG,
                             "lg_producer_send_offsets_to_transaction: "
                             "offset of partition %" PRId32 " of \"%s\" "
                             "is negative",
                             offsets->items[i].partition,
                             offsets->items[i].topic);
    err = lgi_txn_add_offsets(producer->engine, producer->transactional_id,
                              producer->producer_id,
                              producer->producer_epoch, group_id, offsets);
    if (err == LG_ERR_PRODUCER_FENCED)
        atomic_store(&producer->txn_state, TXN_FENCED);
    return err;
}

/* Commit or abort: flush, then the coordinator's EndTxn. */
static lg_err_t txn_end(lg_producer_t *producer, int commit, int timeout_ms) {
    const char *what = commit ? "lg_producer_commit_transaction"
                              : "lg_producer_abort_transaction";
    lgi_error_clear();
    lg_err_t err = txn_expect(producer, what, TXN_IN);
    if (err)
        return err;
    /* Every batch of the transaction must be in the log (or failed)
     * before its marker. */
    if ((err = lg_producer_flush(producer, timeout_ms)) != LG_OK)
        return err;
    if (atomic_load(&producer->txn_fenced)) {
        atomic_store(&producer->txn_state, TXN_FENCED);
        return lgi_error(LG_ERR_PRODUCER_FENCED,
                         "%s: transactional.id \"%s\": a newer producer "
                         "fenced this one", what, producer->transactional_id);
    }
    if (commit && atomic_load(&producer->txn_failed))
        return lgi_error(LG_ERR_TXN_ABORTABLE,
                         "%s: a record of the transaction could not be "
                         "written; abort the transaction", what);
    err = lgi_txn_end(producer->engine, producer->transactional_id,
                      producer->producer_id, producer->producer_epoch, commit);
    if (err == LG_ERR_PRODUCER_FENCED)
        atomic_store(&producer->txn_state, TXN_FENCED);
    if (err != LG_OK)
        return err;
    /* A failed batch left a sequence gap: continue under a new epoch. */
    if (!commit && atomic_load(&producer->txn_failed) &&
        (err = txn_new_epoch(producer)) != LG_OK)
        return err;
    atomic_store(&producer->txn_state, TXN_READY);
    return LG_OK;
}

LG_API lg_err_t lg_producer_commit_transaction(lg_producer_t *producer,
                                               int timeout_ms) {
    return txn_end(producer, 1, timeout_ms);
}

LG_API lg_err_t lg_producer_abort_transaction(lg_producer_t *producer,
                                              int timeout_ms) {
    return txn_end(producer, 0, timeout_ms);
}
