/*
 * consumer.c -- lg_consumer_t: positions in assigned partitions, poll and
 * batch poll over zero-copy fetches, seek, end-of-partition events, and a
 * blocking wait that new records end within microseconds.
 *
 * Assignment.  A consumer holds an array of assignments, one per (topic,
 * partition), each with its position (the offset of the next record poll
 * returns), the fetch being walked (lgi_partition_read of up to
 * max.partition.fetch.bytes from the position, wrapped by lgi_fetch_new)
 * and a watch registered on the partition.  Poll visits assignments
 * round-robin: each call starts at the one after the last that gave a
 * message, and takes from one assignment at most one refill's worth of
 * records before moving on, so a busy partition cannot starve the others.
 *
 * Lifetime of what poll hands out.  Messages point into fetches (record
 * bytes are not copied) or into event objects.  A fetch that is used up,
 * or dropped by seek/unassign, is not freed but "retired"; retired fetches
 * and events are freed at the start of the next poll call (or destroy), so
 * every message of a call stays valid until then, as liblog.h promises.
 * Each fetch and event carries its own copy of the topic name, so
 * unassigning does not pull it from under a message.  A retired fetch is
 * not always freed either: up to SPARE_FETCHES are recycled at that same
 * moment (fetch.c) and reused by the next refills, because at the end of
 * a partition every record is a fetch of its own and its allocation and
 * release were a quarter of such a poll's instructions.  A blocking poll
 * that came back empty releases before it spins, so what a record's
 * arrival finds to do is only the read and its decoding.
 *
 * References.  Each read takes a partition reference by name
 * (lgi_engine_acquire) for that read only, which is also how a deleted
 * topic is noticed: the name no longer resolves, or resolves to a new
 * topic of the same name.  The watch is the exception: unwatch must reach
 * a partition that still exists, so an assignment keeps one topic
 * reference for as long as its watch is registered.  That reference is
 * dropped, and the topic can be removed, as soon as a poll notices the
 * deletion -- every poll that visits the assignment, and a blocking poll
 * at least every LGI_CONSUMER_WAIT_SLICE_MS -- or at unassign or destroy.
 * The deletion is reported once, as an LG_ERR_UNKNOWN_TOPIC event message,
 * and the assignment removed.
 *
 * Waking.  One eventfd is the single wake source.  An assignment is
 * "armed" (caught_up = 1) when a poll finds it at the published end; the
 * partition's notify (I/O thread, after the published end advances)
 * disarms it and writes the eventfd -- once per arrival, however many
 * batches follow.  Arming is a store followed by a re-read of the
 * published end, and notify is the mirror image (published end stored,
 * then caught_up read), each side with a sequentially consistent fence,
 * so at least one of them sees the other: no wakeup is lost.  Around
 * that, the fd is kept level-triggered: at the end of every call that
 * changes what poll would return, it is written when poll has something
 * to return (records past a position, a pending EOF event, a wakeup) and
 * drained when not, and since a drain can swallow a concurrent notify's
 * write, the state is re-checked after every drain.  A spurious readiness
 * is possible (the next poll then returns nothing and clears it); a
 * missed one is not.
 *
 * Isolation.  Under isolation.level=read_committed (the default) a
 * partition's "end" is its last stable offset rather than its published
 * end, everywhere: reads stop there (lgi_partition_read_committed), the
 * EOF event fires there, seek to LG_OFFSET_END, auto.offset.reset=latest
 * and a timestamp past it land there, and the lock-free wake checks
 * compare positions with the partition's lock-free LSO copy -- which
 * advances only when the published end does, so the same notify wakes
 * both kinds of consumer.  Each read also brings the aborted transactions
 * overlapping it, and the fetch skips their data (fetch.c).
 *
 * Groups.  A consumer with group.id may subscribe instead of assigning:
 * it then holds a member of the engine's group coordinator (group.c), and
 * every poll round starts with group_service -- the member's heartbeat,
 * its rebalance steps (revoke/assign, through the application's callback
 * or directly, each acknowledged to the coordinator only after it was
 * applied), auto-commit, and queued commit callbacks.  The coordinator
 * signals a pending step through group_signal and the eventfd, so a
 * blocked poll wakes for it; group-assigned partitions are ordinary
 * assignments, so everything above applies to them unchanged.
 */
#include "consumer.h"

#include "alloc.h"
#include "engine.h"
#include "err.h"
#include "fetch.h"
#include "group.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct assignment {
    lg_consumer_t *consumer;
    char *topic;
    int32_t partition;
    /* Offset of the next record poll returns.  Atomic because the
     * engine's statistics read it from another thread (for lag). */
    _Atomic int64_t position;
    /* The reference that keeps the watched partition alive (see the file
     * comment); compared with fresh lookups to notice a deletion. */
    lgi_topic_t *held_topic;
    lgi_partition_t *log;
    lgi_partition_watch_t watch;
    /* 1 while the consumer was at the published end when it last looked:
     * notify disarms it and signals the eventfd.  2 (ARMED_QUIET) while a
     * blocking poll spins: notify disarms it without the eventfd write,
     * which the spinner does not need (see quiet_arms). */
    atomic_int caught_up;
    int quieted; /* made ARMED_QUIET by this spin (consumer thread only) */
    lg_fetch_t *fetch; /* being walked; NULL until the next refill */
    int eof_reported;  /* the EOF event for this arrival at the end is out */
    /* LG_OK, or the failure (LG_ERR_OFFSET_OUT_OF_RANGE under
     * auto.offset.reset=none, LG_ERR_CORRUPT, LG_ERR_IO) that paused this
     * partition until the next seek or assign: retrying at the same
     * position would only repeat it. */
    lg_err_t stopped;
    int dropped; /* topic deleted; removed at the end of the poll */
    /* The position last committed for the group (auto-commit writes only
     * what moved); -1 when none. */
    int64_t committed;
} assignment_t;

/* The outcome of an asynchronous or automatic commit, waiting for the
 * commit callback at the next poll. */
typedef struct commit_result {
    struct commit_result *next;
    lg_err_t err;
    lg_topic_partition_list_t *offsets;
} commit_result_t;

/* An event message and the topic name it points at. */
typedef struct event {
    struct event *next;
    struct lg_message message;
    char topic[];
} event_t;

/* Fetches kept for reuse: enough for a round in which several partitions
 * are each refilled, few enough that an idle consumer holds little (each
 * spare keeps one chunk of messages, a few kilobytes). */
#define SPARE_FETCHES 8

static lg_err_t detached_error(const char *function);
static void detach(lgi_engine_child_t *child);

struct lg_consumer {
    lgi_engine_child_t child; /* first: detach recovers the consumer */
    int detached;             /* the engine closed first: see detach */
    lg_engine_t *engine;
    int eventfd;
    /* 1 when the eventfd may hold a count: tells the end of a poll that
     * a drain (a read(2)) is needed, so a poll loop that never waits makes
     * no system call. */
    atomic_int signalled;
    atomic_int wakeup_requested;

    int enable_partition_eof;
    int64_t poll_spin_ns; /* poll.spin.us */
    int read_committed; /* isolation.level */
    int64_t fetch_max_bytes;
    int64_t max_partition_fetch_bytes;
    int auto_offset_reset;

    assignment_t **assignments;
    size_t count;
    size_t capacity;
    size_t cursor; /* where the next poll starts its round */

    /* Handed out since the previous poll call began; freed when the next
     * begins.  retired_capacity is reserved ahead so retiring a fetch
     * never fails halfway through a poll. */
    lg_fetch_t **retired;
    size_t retired_count;
    size_t retired_capacity;
    event_t *events;
    /* Recycled fetches for refill to reuse (file comment). */
    lg_fetch_t *spares[SPARE_FETCHES];
    size_t spare_count;

    /* Statistics (stats.h).  stats_lock is held while the assignments
     * array changes shape and while a stats renderer walks it. */
    lgi_consumer_counters_t counters;
    pthread_mutex_t stats_lock;
    lgi_stats_client_t stats_client;
    /* Consumer groups.  group_id/instance_id point into the process-wide
     * table of interned conf strings. */
    const char *group_id;
    const char *instance_id;
    int strategy;
    int64_t session_timeout_ms;
    int64_t max_poll_interval_ms;
    int enable_auto_commit;
    int64_t auto_commit_interval_ms;
    int64_t next_auto_commit_ns;
    lgi_member_t *member; /* set while subscribed */
    /* Set by the coordinator (any thread) when the member has a protocol
     * step to take: poll must run group_service. */
    atomic_int group_signal;
    lg_rebalance_fn rebalance_callback;
    void *rebalance_opaque;
    lg_commit_fn commit_callback;
    void *commit_opaque;
    commit_result_t *results; /* oldest first */
    commit_result_t **results_tail;
};

/* ------------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Whether the calling thread may run on only one of the machine's
 * several CPUs: the application gave it that CPU, so its spin need not
 * yield it (consumer.h).  On a one-CPU machine every thread looks
 * pinned, and there the spin must yield. */
static int pinned_to_one_cpu(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 &&
           CPU_COUNT(&set) == 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/* Makes the eventfd readable.  The write comes before the flag so that a
 * drain that sees the flag always finds the count (see drain). */
static void signal_eventfd(lg_consumer_t *consumer) {
    uint64_t one = 1;
    ssize_t written = write(consumer->eventfd, &one, sizeof one);
    (void)written; /* EAGAIN only at a count of 2^64-2: already readable */
    atomic_store(&consumer->signalled, 1);
}

/* Empties the eventfd if it may be readable. */
static void drain(lg_consumer_t *consumer) {
    if (!atomic_exchange(&consumer->signalled, 0))
        return;
    uint64_t count;
    ssize_t got = read(consumer->eventfd, &count, sizeof count);
    (void)got; /* EAGAIN: a signaller's flag store overtook its write */
}

/* The partition's notify: runs on the I/O thread (or an appender's),
 * under the partition's mutex, whenever the published end advances.
 * Disarms and asks for on_signal when the consumer was armed. */
static int on_publish(lgi_partition_watch_t *watch) {
    assignment_t *assignment = watch->opaque;
    /* Pairs with the fence in arm(): the published end was stored before
     * this call, so either this load sees caught_up = 1 or arm's re-read
     * sees the new end. */
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&assignment->caught_up,
                                memory_order_relaxed) &&
           atomic_exchange(&assignment->caught_up, 0) == 1;
}

/* The signal on_publish asked for, usually given after the partition's
 * mutex is released (the woken poll will want it). */
static void on_signal(lgi_partition_watch_t *watch) {
    assignment_t *assignment = watch->opaque;
    signal_eventfd(assignment->consumer);
}

#define ARMED_QUIET 2

/* Around the spin of a blocking poll (quiet = 1 before, 0 after): the
 * spinner sees new records by itself, so an armed assignment is made
 * ARMED_QUIET for the spin and notify skips the eventfd write (a system
 * call on the I/O thread, and a drain on the poll's way out).  Afterwards
 * every assignment quieted is armed again, also one that a notify
 * disarmed meanwhile: under read_committed a notify can come without
 * records to read (the published end moved, the LSO did not), and that
 * assignment must be armed for the notify of the LSO's move.  The fence
 * orders the re-arming before the caller's re-reads of the readable
 * ends, as in arm(), so records that came meanwhile are seen there. */
static void quiet_arms(lg_consumer_t *consumer, int quiet) {
    for (size_t i = 0; i < consumer->count; i++) {
        assignment_t *assignment = consumer->assignments[i];
        if (quiet) {
            int expected = 1;
            assignment->quieted = atomic_compare_exchange_strong(
                &assignment->caught_up, &expected, ARMED_QUIET);
        } else if (assignment->quieted) {
            atomic_store(&assignment->caught_up, 1);
            assignment->quieted = 0;
        }
    }
    atomic_thread_fence(memory_order_seq_cst);
}

static int is_active(const assignment_t *assignment) {
    return !assignment->dropped && assignment->stopped == LG_OK;
}

/* Whether a read at the position would find something: records past it,
 * or (an end below it) an out-of-range position to resolve.  Under
 * read_committed a position in [LSO, end] waits for the LSO to pass it.
 * Lock-free. */
static int records_ahead(const assignment_t *assignment) {
    int64_t position = assignment->position;
    int64_t end = lgi_partition_published_end(assignment->log);
    if (!assignment->consumer->read_committed || end < position)
        return end != position;
    return lgi_partition_stable_end(assignment->log) > position;
}

/* Whether a poll would return something now: a wakeup, records past a
 * position, an EOF event not yet given.  Lock-free. */
static int anything_pending(lg_consumer_t *consumer) {
    if (atomic_load(&consumer->wakeup_requested) ||
        atomic_load(&consumer->group_signal) || consumer->results)
        return 1;
    for (size_t i = 0; i < consumer->count; i++) {
        assignment_t *assignment = consumer->assignments[i];
        if (!is_active(assignment))
            continue;
        if (assignment->fetch)
            return 1;
        if (records_ahead(assignment))
            return 1;
        if (consumer->enable_partition_eof && !assignment->eof_reported)
            return 1;
    }
    return 0;
}

/* Brings the eventfd in line with anything_pending (see the file
 * comment): the invariant every public call re-establishes on return. */
static void settle_eventfd(lg_consumer_t *consumer) {
    if (anything_pending(consumer)) {
        if (!atomic_load(&consumer->signalled))
            signal_eventfd(consumer);
        return;
    }
    if (!atomic_load(&consumer->signalled))
        return;
    drain(consumer);
    /* A notify may have written between the check and the drain. */
    if (anything_pending(consumer))
        signal_eventfd(consumer);
}

/* Arms assignment for notify and returns 1 if records arrived meanwhile
 * (the caller then must not sleep on them). */
static int arm(assignment_t *assignment) {
    atomic_store(&assignment->caught_up, 1);
    atomic_thread_fence(memory_order_seq_cst);
    return records_ahead(assignment);
}

/* Makes room for n more retired fetches. */
static lg_err_t reserve_retired(lg_consumer_t *consumer, size_t n) {
    if (consumer->retired_count + n <= consumer->retired_capacity)
        return LG_OK;
    size_t capacity = consumer->retired_capacity * 2 + n + 4;
    lg_fetch_t **grown = lgi_realloc(consumer->retired,
                                     capacity * sizeof *grown);
    if (!grown)
        return lgi_error(LG_ERR_NOMEM, "consumer: out of memory");
    consumer->retired = grown;
    consumer->retired_capacity = capacity;
    return LG_OK;
}

/* Moves the assignment's fetch to the retired list (room was reserved). */
static void retire_fetch(lg_consumer_t *consumer, assignment_t *assignment) {
    if (!assignment->fetch)
        return;
    consumer->retired[consumer->retired_count++] = assignment->fetch;
    assignment->fetch = NULL;
}

/* Frees what the previous poll call handed out; retired fetches become
 * spares while there is room. */
static void release_handed_out(lg_consumer_t *consumer) {
    for (size_t i = 0; i < consumer->retired_count; i++) {
        lg_fetch_t *fetch = consumer->retired[i];
        if (consumer->spare_count < SPARE_FETCHES) {
            lgi_fetch_recycle(fetch);
            consumer->spares[consumer->spare_count++] = fetch;
        } else {
            lg_fetch_destroy(fetch);
        }
    }
    consumer->retired_count = 0;
    while (consumer->events) {
        event_t *next = consumer->events->next;
        lgi_free(consumer->events);
        consumer->events = next;
    }
}

/* release_handed_out when there is something to release: most calls of
 * a poll loop reading a long fetch have nothing, and pay two loads. */
static inline void release_previous(lg_consumer_t *consumer) {
    if (consumer->retired_count > 0 || consumer->events)
        release_handed_out(consumer);
}

/* A new event message for assignment, kept until the next poll. */
static lg_err_t push_event(lg_consumer_t *consumer, assignment_t *assignment,
                           lg_err_t error, int64_t offset,
                           const lg_message_t **messages, size_t *countp) {
    size_t name_len = strlen(assignment->topic) + 1;
    event_t *event = lgi_malloc(sizeof *event + name_len);
    if (!event)
        return lgi_error(LG_ERR_NOMEM, "consumer: out of memory for an "
                                       "event message");
    memcpy(event->topic, assignment->topic, name_len);
    lgi_message_init_event(&event->message, error, event->topic,
                           assignment->partition, offset);
    event->next = consumer->events;
    consumer->events = event;
    messages[(*countp)++] = &event->message;
    return LG_OK;
}

static assignment_t *find_assignment(lg_consumer_t *consumer,
                                     const char *topic, int32_t partition,
                                     size_t *indexp) {
    for (size_t i = 0; i < consumer->count; i++) {
        assignment_t *assignment = consumer->assignments[i];
        if (assignment->partition == partition &&
            strcmp(assignment->topic, topic) == 0) {
            if (indexp)
                *indexp = i;
            return assignment;
        }
    }
    return NULL;
}

/* Unregisters, drops the held reference, frees.  The fetch must already
 * be retired (its messages may still be in the caller's hands). */
static void assignment_free(lg_consumer_t *consumer,
                            assignment_t *assignment) {
    lgi_partition_unwatch(assignment->log, &assignment->watch);
    lgi_topic_release(consumer->engine, assignment->held_topic);
    lgi_free(assignment->topic);
    lgi_free(assignment);
}

/* Removes the assignment at index, keeping the round-robin order. */
static void remove_at(lg_consumer_t *consumer, size_t index) {
    assignment_t *assignment = consumer->assignments[index];
    retire_fetch(consumer, assignment);
    pthread_mutex_lock(&consumer->stats_lock);
    memmove(consumer->assignments + index, consumer->assignments + index + 1,
            (consumer->count - index - 1) * sizeof *consumer->assignments);
    consumer->count--;
    pthread_mutex_unlock(&consumer->stats_lock);
    assignment_free(consumer, assignment);
    if (index < consumer->cursor)
        consumer->cursor--;
    if (consumer->cursor >= consumer->count)
        consumer->cursor = 0;
}

/* Moves an assignment to offset (already resolved): the current fetch is
 * retired, end-of-partition and stop states are reset. */
static void reposition(lg_consumer_t *consumer, assignment_t *assignment,
                       int64_t offset) {
    retire_fetch(consumer, assignment);
    assignment->position = offset;
    assignment->eof_reported = 0;
    assignment->stopped = LG_OK;
}

/* ------------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

/* Gives assignment a new fetch from its position, or finds it at the end
 * (arming it, and emitting the EOF event), or turns a failure into an
 * event.  budget bounds the read.  Only LG_ERR_NOMEM is returned; every
 * other failure belongs to the partition and becomes its event. */
static lg_err_t refill(lg_consumer_t *consumer, assignment_t *assignment,
                       int64_t budget, const lg_message_t **messages,
                       size_t *countp) {
    lgi_partition_ref_t ref;
    lg_err_t err = lgi_engine_acquire(consumer->engine, assignment->topic,
                                      assignment->partition, &ref);
    if (err == LG_OK && ref.topic != assignment->held_topic) {
        /* Deleted and created again under the same name: the records at
         * our position are not the ones we were reading. */
        lgi_engine_release(consumer->engine, &ref);
        err = LG_ERR_UNKNOWN_TOPIC;
    }
    if (err != LG_OK) {
        /* Partitions only grow, so the lookup can fail only because the
         * topic we hold was deleted. */
        assignment->dropped = 1;
        return push_event(consumer, assignment, LG_ERR_UNKNOWN_TOPIC,
                          assignment->position, messages, countp);
    }
    size_t max_bytes = (size_t)consumer->max_partition_fetch_bytes;
    if (budget < consumer->max_partition_fetch_bytes)
        max_bytes = budget > 0 ? (size_t)budget : 0;
    uint8_t *data = NULL;
    size_t len = 0;
    lgi_aborted_txn_t *aborted = NULL;
    size_t aborted_count = 0;
    int64_t stable = -1;
    /* Nothing past the position by the lock-free ends (records_ahead):
     * a read would take the partition's mutex only to find the end, so it
     * is left out -- the lookup above, which notices a deleted topic,
     * still ran, and arming below re-reads the ends, so a record that
     * arrives meanwhile is not missed. */
    int ahead = records_ahead(assignment);
    for (int attempt = 0; ahead; attempt++) {
        if (consumer->read_committed)
            err = lgi_partition_read_committed(
                ref.partition, assignment->position, max_bytes, &data, &len,
                &stable, &aborted, &aborted_count);
        else
            err = lgi_partition_read(ref.partition, assignment->position,
                                     max_bytes, &data, &len);
        if (err != LG_ERR_OFFSET_OUT_OF_RANGE || attempt > 0 ||
            consumer->auto_offset_reset == LGI_RESET_NONE)
            break;
        /* auto.offset.reset: retention or a truncation moved the log
         * away from the position, or the application asked for an
         * offset the log never had. */
        int64_t low, high;
        lgi_partition_watermarks(ref.partition, &low, &high);
        if (consumer->read_committed)
            high = lgi_partition_last_stable_offset(ref.partition);
        assignment->position =
            consumer->auto_offset_reset == LGI_RESET_EARLIEST ? low : high;
        assignment->eof_reported = 0;
    }
    lgi_engine_release(consumer->engine, &ref);
    /* Nothing below the LSO although the position is: the cleaner left a
     * gap up to it (an open transaction's first batch).  Nothing there can
     * ever be read, so the position moves on to the LSO. */
    if (err == LG_OK && len == 0 && stable > assignment->position)
        assignment->position = stable;
    if (err != LG_OK) {
        if (err == LG_ERR_NOMEM)
            return err;
        assignment->stopped = err;
        return push_event(consumer, assignment, err, assignment->position,
                          messages, countp);
    }
    if (len == 0) {
        /* At the end.  Armed even by a non-blocking poll: the eventfd
         * must turn readable for epoll users when records arrive. */
        if (arm(assignment) && atomic_exchange(&assignment->caught_up, 0))
            signal_eventfd(consumer);
        if (consumer->enable_partition_eof && !assignment->eof_reported) {
            assignment->eof_reported = 1;
            return push_event(consumer, assignment, LG_ERR_PARTITION_EOF,
                              assignment->position, messages, countp);
        }
        return LG_OK;
    }
    lg_fetch_t *fetch = NULL;
    if (consumer->spare_count > 0) {
        fetch = consumer->spares[--consumer->spare_count];
        err = lgi_fetch_reuse(fetch, data, len, assignment->position,
                              LGI_BATCH_MAX_DECOMPRESSED);
        if (err != LG_OK) /* still a spare: recycled, holding no data */
            consumer->spares[consumer->spare_count++] = fetch;
    } else {
        err = lgi_fetch_new(data, len, assignment->position,
                            LGI_BATCH_MAX_DECOMPRESSED, &fetch);
    }
    if (err != LG_OK) {
        lgi_free(data);
        lgi_free(aborted);
        if (err == LG_ERR_NOMEM)
            return err;
        assignment->stopped = err;
        return push_event(consumer, assignment, err, assignment->position,
                          messages, countp);
    }
    if ((err = lgi_fetch_set_aborted(fetch, aborted, aborted_count)) !=
        LG_OK) {
        lgi_free(aborted);
        lg_fetch_destroy(fetch);
        return err;
    }
    if ((err = lgi_fetch_set_source(fetch, assignment->topic,
                                    assignment->partition)) != LG_OK) {
        lg_fetch_destroy(fetch);
        return err;
    }
    assignment->fetch = fetch;
    return LG_OK;
}

/* Takes messages from one assignment into messages[*countp..max), with
 * at most one refill, while *bytes (key + value bytes handed out by this
 * call) stays under fetch.max.bytes.  Only LG_ERR_NOMEM is returned. */
static lg_err_t serve(lg_consumer_t *consumer, assignment_t *assignment,
                      const lg_message_t **messages, size_t max,
                      size_t *countp, int64_t *bytes) {
    int refilled = 0;
    while (*countp < max && is_active(assignment)) {
        if (*countp > 0 && *bytes >= consumer->fetch_max_bytes)
            break;
        if (assignment->fetch) {
            const lg_message_t *message;
            lg_err_t err = lg_fetch_next(assignment->fetch, &message);
            if (err == LG_ERR_NOMEM)
                return err;
            if (err != LG_OK) {
                /* A record that does not decode (a compressed section
                 * that fails to inflate): stop here, report it. */
                retire_fetch(consumer, assignment);
                assignment->stopped = err;
                return push_event(consumer, assignment, err,
                                  assignment->position, messages, countp);
            }
            if (message) {
                messages[(*countp)++] = message;
                assignment->position = message->record.offset + 1;
                assignment->eof_reported = 0;
                *bytes += (int64_t)(message->record.key_len +
                                    message->record.value_len);
                continue;
            }
            /* Used up: continue after its last batch, which may end in
             * control records poll never shows. */
            int64_t next = lg_fetch_next_offset(assignment->fetch);
            if (next > assignment->position)
                assignment->position = next;
            retire_fetch(consumer, assignment);
        }
        if (refilled)
            break;
        refilled = 1;
        lg_err_t err = refill(consumer, assignment,
                              consumer->fetch_max_bytes - *bytes, messages,
                              countp);
        if (err != LG_OK)
            return err;
        if (!assignment->fetch)
            break;
    }
    return LG_OK;
}

/* One round over the assignments, starting at the cursor.  Returns
 * LG_ERR_NOMEM only, and only when nothing was collected. */
static lg_err_t collect(lg_consumer_t *consumer, const lg_message_t **messages,
                        size_t max, size_t *countp) {
    size_t n = consumer->count;
    int64_t bytes = 0;
    size_t last = SIZE_MAX;
    lg_err_t err = LG_OK;
    for (size_t visited = 0; visited < n && *countp < max; visited++) {
        if (*countp > 0 && bytes >= consumer->fetch_max_bytes)
            break;
        size_t index = (consumer->cursor + visited) % n;
        size_t before = *countp;
        err = serve(consumer, consumer->assignments[index], messages, max,
                    countp, &bytes);
        if (*countp > before)
            last = index;
        if (err != LG_OK)
            break;
    }
    if (last != SIZE_MAX)
        consumer->cursor = (last + 1) % n;
    /* Deleted topics: their event is out, drop the assignments (their
     * reference lets the topic's files go). */
    for (size_t i = consumer->count; i-- > 0;)
        if (consumer->assignments[i]->dropped)
            remove_at(consumer, i);
    return *countp > 0 ? LG_OK : err;
}

/* Whether any active assignment has records past its position.
 * Lock-free: for the spin before sleeping. */
static int records_arrived(lg_consumer_t *consumer) {
    for (size_t i = 0; i < consumer->count; i++) {
        assignment_t *assignment = consumer->assignments[i];
        if (is_active(assignment) && records_ahead(assignment))
            return 1;
    }
    return 0;
}

static void group_service(lg_consumer_t *consumer);
static void drop_results(lg_consumer_t *consumer);
static lg_err_t commit_positions(lg_consumer_t *consumer,
                                 const lg_topic_partition_list_t *only,
                                 int acks, int report);

/* LGI_CONSUMER_WAIT_SLICE_MS unless a test replaced it. */
static atomic_int wait_slice_ms = LGI_CONSUMER_WAIT_SLICE_MS;

void lgi_consumer_set_wait_slice_ms(int slice_ms) {
    atomic_store_explicit(&wait_slice_ms, slice_ms, memory_order_relaxed);
}

/* Everything poll and poll_batch share. */
static lg_err_t consume(lg_consumer_t *consumer, int timeout_ms,
                        const lg_message_t **messages, size_t max,
                        size_t *countp) {
    *countp = 0;
    lg_err_t err = LG_OK;
    int64_t deadline =
        timeout_ms > 0 ? monotonic_ns() + (int64_t)timeout_ms * 1000000 : 0;
    for (;;) {
        /* Nothing has been handed out by this call yet, so what is retired
         * -- by the previous call, or by an empty round of this one --
         * can go.  Each assignment retires at most two fetches a round. */
        release_previous(consumer);
        group_service(consumer);
        if ((err = reserve_retired(consumer, 2 * consumer->count + 2)))
            break;
        err = collect(consumer, messages, max, countp);
        if (err != LG_OK || *countp > 0)
            break;
        /* Nothing.  A wakeup ends the call, whether it came during it or
         * before (then it was meant for this call). */
        if (atomic_exchange(&consumer->wakeup_requested, 0) ||
            timeout_ms == 0)
            break;
        int64_t now = monotonic_ns();
        if (timeout_ms > 0 && now >= deadline)
            break;
        /* Spin for poll.spin.us: a record published now is returned
         * without the cost of sleeping and being woken.  Pause first,
         * then yield between looks so a spinner on a small machine does
         * not keep the appender or the I/O thread off the CPU -- unless
         * this thread is pinned to one CPU (LGI_CONSUMER_SPIN_PAUSE_NS). */
        /* Nothing was handed out, so what this call's empty round
         * retired goes now rather than after a record arrived: the
         * arrival's path then holds only the read. */
        release_previous(consumer);
        int arrived = 0, pinned = 0;
        if (consumer->poll_spin_ns > 0) {
            quiet_arms(consumer, 1);
            pinned = pinned_to_one_cpu();
        }
        for (int64_t spin_start = now;
             !arrived && now - spin_start < consumer->poll_spin_ns &&
             (timeout_ms < 0 || now < deadline);
             now = monotonic_ns()) {
            arrived = records_arrived(consumer) ||
                      atomic_load(&consumer->wakeup_requested);
            if (pinned || now - spin_start < LGI_CONSUMER_SPIN_PAUSE_NS)
                cpu_relax();
            else
                sched_yield();
        }
        if (consumer->poll_spin_ns > 0)
            quiet_arms(consumer, 0);
        if (arrived)
            continue;
        /* Every active assignment was armed by its refill in collect;
         * anything_pending re-reads the ends after that, so a record
         * published since is seen here or has signalled the fd. */
        drain(consumer);
        if (anything_pending(consumer))
            continue;
        int slice = atomic_load_explicit(&wait_slice_ms, memory_order_relaxed);
        if (timeout_ms > 0) {
            int64_t left_ms = (deadline - monotonic_ns() + 999999) / 1000000;
            if (left_ms <= 0)
                break;
            if (slice < 0 || left_ms < slice)
                slice = (int)left_ms;
        }
        struct pollfd descriptor = {.fd = consumer->eventfd, .events = POLLIN};
        if (poll(&descriptor, 1, slice) < 0 && errno != EINTR) {
            err = lgi_error_errno(LG_ERR_IO, errno, "consumer: poll");
            break;
        }
    }
    settle_eventfd(consumer);
    return *countp > 0 ? LG_OK : err;
}

/* ------------------------------------------------------------------------
 * Public API
 * --------------------------------------------------------------------- */

LG_API lg_err_t lg_consumer_new(lg_engine_t *engine, const lg_conf_t *conf,
                                lg_consumer_t **consumerp) {
    lgi_error_clear();
    if (consumerp)
        *consumerp = NULL;
    if (!engine || !consumerp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_new: engine and consumerp must not be "
                         "NULL");
    lg_err_t err;
    if (conf &&
        (err = lgi_conf_check_scope(conf, LGI_SCOPE_CONSUMER, "a consumer")))
        return err;
    lg_conf_t *defaults = NULL;
    if (!conf && !(conf = defaults = lg_conf_new()))
        return lgi_error(LG_ERR_NOMEM, "lg_consumer_new: out of memory");
    lg_consumer_t *consumer = lgi_calloc(1, sizeof *consumer);
    if (!consumer) {
        lg_conf_destroy(defaults);
        return lgi_error(LG_ERR_NOMEM, "lg_consumer_new: out of memory");
    }
    consumer->engine = engine;
    consumer->enable_partition_eof =
        lgi_conf_int(conf, LGI_CONF_ENABLE_PARTITION_EOF) != 0;
    consumer->poll_spin_ns = lgi_conf_int(conf, LGI_CONF_POLL_SPIN_US) * 1000;
    consumer->fetch_max_bytes = lgi_conf_int(conf, LGI_CONF_FETCH_MAX_BYTES);
    consumer->max_partition_fetch_bytes =
        lgi_conf_int(conf, LGI_CONF_MAX_PARTITION_FETCH_BYTES);
    consumer->auto_offset_reset =
        (int)lgi_conf_int(conf, LGI_CONF_AUTO_OFFSET_RESET);
    consumer->read_committed = lgi_conf_int(conf, LGI_CONF_ISOLATION_LEVEL) ==
                               LGI_ISOLATION_READ_COMMITTED;
    consumer->group_id = lgi_conf_str(conf, LGI_CONF_GROUP_ID);
    consumer->instance_id = lgi_conf_str(conf, LGI_CONF_GROUP_INSTANCE_ID);
    consumer->strategy =
        (int)lgi_conf_int(conf, LGI_CONF_PARTITION_ASSIGNMENT_STRATEGY);
    consumer->session_timeout_ms =
        lgi_conf_int(conf, LGI_CONF_SESSION_TIMEOUT_MS);
    consumer->max_poll_interval_ms =
        lgi_conf_int(conf, LGI_CONF_MAX_POLL_INTERVAL_MS);
    consumer->enable_auto_commit =
        lgi_conf_int(conf, LGI_CONF_ENABLE_AUTO_COMMIT) != 0;
    consumer->auto_commit_interval_ms =
        lgi_conf_int(conf, LGI_CONF_AUTO_COMMIT_INTERVAL_MS);
    consumer->next_auto_commit_ns =
        monotonic_ns() + consumer->auto_commit_interval_ms * 1000000;
    consumer->results_tail = &consumer->results;
    atomic_init(&consumer->group_signal, 0);
    lg_conf_destroy(defaults);
    atomic_init(&consumer->signalled, 0);
    atomic_init(&consumer->wakeup_requested, 0);
    consumer->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (consumer->eventfd < 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "lg_consumer_new: eventfd");
        lgi_free(consumer);
        return err;
    }
    consumer->child.detach = detach;
    lgi_engine_attach_child(engine, &consumer->child);
    pthread_mutex_init(&consumer->stats_lock, NULL);
    lgi_stats_register(engine, &consumer->stats_client, LGI_STATS_CONSUMER,
                       consumer);
    *consumerp = consumer;
    return LG_OK;
}

/* Counts what a poll handed out (statistics; relaxed atomics). */
static void count_polled(lg_consumer_t *consumer,
                         const lg_message_t *const *messages, size_t count) {
    uint64_t records = 0, bytes = 0;
    for (size_t i = 0; i < count; i++) {
        if (messages[i]->error != LG_OK)
            continue;
        records++;
        bytes += messages[i]->record.key_len + messages[i]->record.value_len;
    }
    lgi_count(&consumer->counters.polls, 1);
    if (records) {
        lgi_count(&consumer->counters.records, records);
        lgi_count(&consumer->counters.bytes, bytes);
    }
}

/* Reports counters and, through each, every assigned partition with its
 * position and the partition's published end (for lag).  Any thread while
 * the consumer is registered. */
void lgi_consumer_stats(lg_consumer_t *consumer, uint64_t *records,
                        uint64_t *bytes, uint64_t *polls,
                        lgi_consumer_partition_fn each, void *opaque) {
    *records = atomic_load_explicit(&consumer->counters.records,
                                    memory_order_relaxed);
    *bytes = atomic_load_explicit(&consumer->counters.bytes,
                                  memory_order_relaxed);
    *polls = atomic_load_explicit(&consumer->counters.polls,
                                  memory_order_relaxed);
    pthread_mutex_lock(&consumer->stats_lock);
    for (size_t i = 0; i < consumer->count; i++) {
        assignment_t *assignment = consumer->assignments[i];
        lgi_consumer_partition_stats_t partition = {
            assignment->topic, assignment->partition,
            atomic_load_explicit(&assignment->position, memory_order_relaxed),
            lgi_partition_published_end(assignment->log)};
        each(opaque, &partition);
    }
    pthread_mutex_unlock(&consumer->stats_lock);
}

/* Checks the arguments common to the per-partition calls. */
static lg_err_t check_partition_args(const char *function,
                                     lg_consumer_t *consumer,
                                     const char *topic, int32_t partition) {
    if (!consumer || !topic)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: consumer and topic must not be NULL", function);
    if (partition < 0)
        return lgi_error(LG_ERR_UNKNOWN_PARTITION,
                         "%s: partition %" PRId32 " is negative", function,
                         partition);
    return LG_OK;
}

static lg_err_t not_assigned(const char *function, const char *topic,
                             int32_t partition) {
    return lgi_error(LG_ERR_STATE,
                     "%s: partition %" PRId32 " of topic \"%s\" is not "
                     "assigned to this consumer",
                     function, partition, topic);
}

/* Resolves LG_OFFSET_BEGINNING / LG_OFFSET_END against the partition's
 * watermarks (the end is the LSO under read_committed); other offsets
 * must be >= 0 and are kept as they are (a position outside the log is
 * handled at read time, by auto.offset.reset). */
static lg_err_t resolve_offset(const char *function,
                               const lg_consumer_t *consumer,
                               lgi_partition_t *log, int64_t offset,
                               int64_t *resolvedp) {
    if (offset == LG_OFFSET_BEGINNING) {
        lgi_partition_watermarks(log, resolvedp, NULL);
    } else if (offset == LG_OFFSET_END) {
        if (consumer->read_committed)
            *resolvedp = lgi_partition_last_stable_offset(log);
        else
            lgi_partition_watermarks(log, NULL, resolvedp);
    } else if (offset < 0) {
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: offset %" PRId64 " is neither >= 0 nor "
                         "LG_OFFSET_BEGINNING (-2) or LG_OFFSET_END (-1)",
                         function, offset);
    } else {
        *resolvedp = offset;
    }
    return LG_OK;
}

/* The body of lg_consumer_assign and lg_consumer_incremental_assign.
 * offset may also be LG_OFFSET_INVALID (internal): no position, so the
 * first read fails as auto.offset.reset=none demands.  committed is the
 * group's committed offset, for auto-commit to skip unmoved positions. */
static lg_err_t assign_one(const char *function, lg_consumer_t *consumer,
                           const char *topic, int32_t partition,
                           int64_t offset, int64_t committed) {
    lg_err_t err = check_partition_args(function, consumer, topic, partition);
    if (err != LG_OK)
        return err;
    if ((err = lgi_authorize(consumer->engine, LG_OP_READ, LG_RESOURCE_TOPIC,
                             topic)))
        return err;
    lgi_partition_ref_t ref;
    if ((err = lgi_engine_acquire(consumer->engine, topic, partition, &ref)))
        return err;
    int64_t position = LG_OFFSET_INVALID;
    if ((offset != LG_OFFSET_INVALID &&
         (err = resolve_offset(function, consumer, ref.partition, offset,
                               &position))) ||
        (err = reserve_retired(consumer, 1))) {
        lgi_engine_release(consumer->engine, &ref);
        return err;
    }
    size_t index;
    assignment_t *assignment = find_assignment(consumer, topic, partition,
                                               &index);
    if (assignment && assignment->held_topic == ref.topic) {
        lgi_engine_release(consumer->engine, &ref);
        reposition(consumer, assignment, position);
        assignment->committed = committed;
        settle_eventfd(consumer);
        return LG_OK;
    }
    if (consumer->count == consumer->capacity) {
        size_t capacity = consumer->capacity * 2 + 4;
        pthread_mutex_lock(&consumer->stats_lock);
        assignment_t **grown = lgi_realloc(
            consumer->assignments, capacity * sizeof *grown);
        if (grown) {
            consumer->assignments = grown;
            consumer->capacity = capacity;
        }
        pthread_mutex_unlock(&consumer->stats_lock);
        if (!grown) {
            lgi_engine_release(consumer->engine, &ref);
            return lgi_error(LG_ERR_NOMEM, "%s: out of memory", function);
        }
    }
    assignment_t *fresh = lgi_calloc(1, sizeof *fresh);
    char *name = lgi_strdup(topic);
    if (!fresh || !name) {
        lgi_free(fresh);
        lgi_free(name);
        lgi_engine_release(consumer->engine, &ref);
        return lgi_error(LG_ERR_NOMEM, "%s: out of memory", function);
    }
    if (assignment) /* of a deleted topic now re-created: start afresh */
        remove_at(consumer, index);
    fresh->consumer = consumer;
    fresh->topic = name;
    fresh->partition = partition;
    fresh->position = position;
    /* ref's topic reference is kept for the watch (file comment). */
    fresh->held_topic = ref.topic;
    fresh->log = ref.partition;
    fresh->watch.notify = on_publish;
    fresh->watch.signal = on_signal;
    fresh->watch.opaque = fresh;
    atomic_init(&fresh->caught_up, 0);
    fresh->stopped = LG_OK;
    fresh->committed = committed;
    pthread_mutex_lock(&consumer->stats_lock);
    consumer->assignments[consumer->count++] = fresh;
    pthread_mutex_unlock(&consumer->stats_lock);
    lgi_partition_watch(fresh->log, &fresh->watch);
    settle_eventfd(consumer);
    return LG_OK;
}

LG_API lg_err_t lg_consumer_assign(lg_consumer_t *consumer, const char *topic,
                                   int32_t partition, int64_t offset) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_assign");
    if (consumer && consumer->member)
        return lgi_error(LG_ERR_STATE,
                         "lg_consumer_assign: the consumer is subscribed; "
                         "its group assigns its partitions");
    return assign_one("lg_consumer_assign", consumer, topic, partition,
                      offset, -1);
}

LG_API lg_err_t lg_consumer_unassign(lg_consumer_t *consumer,
                                     const char *topic, int32_t partition) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_unassign");
    lg_err_t err = check_partition_args("lg_consumer_unassign", consumer,
                                        topic, partition);
    if (err != LG_OK)
        return err;
    size_t index;
    if (!find_assignment(consumer, topic, partition, &index))
        return not_assigned("lg_consumer_unassign", topic, partition);
    if ((err = reserve_retired(consumer, 1)))
        return err;
    remove_at(consumer, index);
    settle_eventfd(consumer);
    return LG_OK;
}

/* Shared tail of seek and seek_timestamp.  offset is resolved by
 * position_for, which runs with a reference to the partition when the
 * target depends on the log (special offsets, timestamps). */
static lg_err_t seek_to(const char *function, lg_consumer_t *consumer,
                        const char *topic, int32_t partition, int64_t offset,
                        int by_timestamp) {
    lg_err_t err = check_partition_args(function, consumer, topic, partition);
    if (err != LG_OK)
        return err;
    assignment_t *assignment = find_assignment(consumer, topic, partition,
                                               NULL);
    if (!assignment)
        return not_assigned(function, topic, partition);
    if ((err = reserve_retired(consumer, 1)))
        return err;
    int64_t position = offset;
    if (by_timestamp || offset < 0) {
        lgi_partition_ref_t ref;
        if ((err = lgi_engine_acquire(consumer->engine, topic, partition,
                                      &ref)))
            return err;
        if (ref.topic != assignment->held_topic)
            err = lgi_error(LG_ERR_UNKNOWN_TOPIC,
                            "%s: topic \"%s\" was deleted (and created "
                            "again) since it was assigned",
                            function, topic);
        else if (by_timestamp) {
            err = lgi_partition_offset_for_time(ref.partition, offset,
                                                &position);
            /* Past the LSO is past the end a read_committed consumer
             * sees. */
            int64_t stable;
            if (err == LG_OK && consumer->read_committed &&
                position > (stable = lgi_partition_last_stable_offset(
                                ref.partition)))
                position = stable;
        } else {
            err = resolve_offset(function, consumer, ref.partition, offset,
                                 &position);
        }
        lgi_engine_release(consumer->engine, &ref);
        if (err != LG_OK)
            return err;
    }
    reposition(consumer, assignment, position);
    settle_eventfd(consumer);
    return LG_OK;
}

LG_API lg_err_t lg_consumer_seek(lg_consumer_t *consumer, const char *topic,
                                 int32_t partition, int64_t offset) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_seek");
    return seek_to("lg_consumer_seek", consumer, topic, partition, offset, 0);
}

LG_API lg_err_t lg_consumer_seek_timestamp(lg_consumer_t *consumer,
                                           const char *topic,
                                           int32_t partition,
                                           int64_t timestamp_ms) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_seek_timestamp");
    if (timestamp_ms < 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_seek_timestamp: timestamp %" PRId64
                         " is negative",
                         timestamp_ms);
    return seek_to("lg_consumer_seek_timestamp", consumer, topic, partition,
                   timestamp_ms, 1);
}

LG_API lg_err_t lg_consumer_position(lg_consumer_t *consumer,
                                     const char *topic, int32_t partition,
                                     int64_t *offsetp) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_position");
    lg_err_t err = check_partition_args("lg_consumer_position", consumer,
                                        topic, partition);
    if (err != LG_OK)
        return err;
    if (!offsetp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_position: offsetp must not be NULL");
    lgi_group_heartbeat(consumer->member);
    assignment_t *assignment = find_assignment(consumer, topic, partition,
                                               NULL);
    if (!assignment)
        return not_assigned("lg_consumer_position", topic, partition);
    *offsetp = assignment->position;
    return LG_OK;
}

static lg_err_t check_poll_args(const char *function, lg_consumer_t *consumer,
                                int timeout_ms) {
    if (!consumer)
        return lgi_error(LG_ERR_INVALID_ARG, "%s: consumer must not be NULL",
                         function);
    if (timeout_ms < -1)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "%s: timeout_ms must be -1 (forever), 0 or positive, "
                         "got %d",
                         function, timeout_ms);
    return LG_OK;
}

LG_API lg_err_t lg_consumer_poll(lg_consumer_t *consumer, int timeout_ms,
                                 const lg_message_t **messagep) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_poll");
    if (messagep)
        *messagep = NULL;
    if (!messagep)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_poll: messagep must not be NULL");
    lg_err_t err = check_poll_args("lg_consumer_poll", consumer, timeout_ms);
    if (err != LG_OK)
        return err;
    size_t count;
    err = consume(consumer, timeout_ms, messagep, 1, &count);
    count_polled(consumer, messagep, *messagep ? 1 : 0);
    return err;
}

LG_API lg_err_t lg_consumer_poll_batch(lg_consumer_t *consumer,
                                       int timeout_ms,
                                       const lg_message_t **messages,
                                       size_t max, size_t *countp) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_poll_batch");
    if (countp)
        *countp = 0;
    if (!messages || !countp || max == 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_poll_batch: messages and countp must "
                         "not be NULL and max must be positive");
    lg_err_t err = check_poll_args("lg_consumer_poll_batch", consumer,
                                   timeout_ms);
    if (err != LG_OK)
        return err;
    err = consume(consumer, timeout_ms, messages, max, countp);
    count_polled(consumer, messages, *countp);
    return err;
}

LG_API void lg_consumer_wakeup(lg_consumer_t *consumer) {
    lgi_error_clear();
    if (!consumer)
        return;
    atomic_store(&consumer->wakeup_requested, 1);
    signal_eventfd(consumer);
}

LG_API int lg_consumer_eventfd(const lg_consumer_t *consumer) {
    lgi_error_clear();
    if (!consumer) {
        lgi_error(LG_ERR_INVALID_ARG,
                  "lg_consumer_eventfd: consumer must not be NULL");
        return -1;
    }
    return consumer->eventfd;
}

/* Everything that ties the consumer to the engine: Kafka's close (commit
 * with auto-commit, leave the group; no callbacks), then every assigned
 * partition's watch and topic reference. */
static void release_engine(lg_consumer_t *consumer) {
    lgi_stats_unregister(consumer->engine, &consumer->stats_client);
    if (consumer->group_id[0] && consumer->enable_auto_commit)
        commit_positions(consumer, NULL, LG_ACKS_LEADER, 0);
    lgi_group_leave(consumer->member, 0);
    consumer->member = NULL;
    drop_results(consumer);
    for (size_t i = 0; i < consumer->count; i++) {
        assignment_t *assignment = consumer->assignments[i];
        /* Unwatch first: after it returns notify cannot run. */
        lgi_partition_unwatch(assignment->log, &assignment->watch);
        lg_fetch_destroy(assignment->fetch);
        lgi_topic_release(consumer->engine, assignment->held_topic);
        lgi_free(assignment->topic);
        lgi_free(assignment);
    }
    consumer->count = 0;
    release_previous(consumer);
    while (consumer->spare_count > 0)
        lg_fetch_destroy(consumer->spares[--consumer->spare_count]);
}

/* The engine is closing while this consumer lives (destroy order never
 * matters): let go of the engine now; later calls answer LG_ERR_CLOSED
 * and lg_consumer_destroy frees the rest.  Messages from the last poll are
 * invalidated here, as lg_engine_close documents. */
static void detach(lgi_engine_child_t *child) {
    lg_consumer_t *consumer = (lg_consumer_t *)child;
    release_engine(consumer);
    consumer->detached = 1;
    consumer->engine = NULL;
}

static lg_err_t detached_error(const char *function) {
    return lgi_error(LG_ERR_CLOSED,
                     "%s: the engine of this consumer was closed; destroy "
                     "the consumer", function);
}

LG_API void lg_consumer_destroy(lg_consumer_t *consumer) {
    lgi_error_clear();
    if (!consumer)
        return;
    if (!consumer->detached) {
        lgi_engine_detach_child(consumer->engine, &consumer->child);
        release_engine(consumer);
    }
    lgi_free(consumer->assignments);
    lgi_free(consumer->retired);
    close(consumer->eventfd);
    pthread_mutex_destroy(&consumer->stats_lock);
    lgi_free(consumer);
}

/* ------------------------------------------------------------------------
 * Consumer groups: subscription, the rebalance protocol served from poll,
 * commits and their callbacks
 *
 * A subscribed consumer holds an lgi_member_t of the engine's coordinator
 * (group.c).  Each poll (group_service) is the member's heartbeat and
 * protocol step: the coordinator answers with a revoke or an assign, which
 * is applied here -- through the application's rebalance callback, or
 * directly without one -- and acknowledged, so the coordinator never hands
 * a partition to another member before this consumer has let go of it.
 * Auto-commit runs here too, every auto.commit.interval.ms and before a
 * revocation, committing only positions that moved.
 * --------------------------------------------------------------------- */

/* Drops queued commit outcomes without calling back. */
static void drop_results(lg_consumer_t *consumer) {
    while (consumer->results) {
        commit_result_t *result = consumer->results;
        consumer->results = result->next;
        lg_topic_partition_list_destroy(result->offsets);
        lgi_free(result);
    }
    consumer->results_tail = &consumer->results;
}

/* Queues the outcome of a commit for the commit callback (takes
 * offsets). */
static void queue_result(lg_consumer_t *consumer, lg_err_t err,
                         lg_topic_partition_list_t *offsets) {
    commit_result_t *result = consumer->commit_callback
                                  ? lgi_calloc(1, sizeof *result)
                                  : NULL;
    if (!result) {
        lg_topic_partition_list_destroy(offsets);
        return;
    }
    result->err = err;
    result->offsets = offsets;
    *consumer->results_tail = result;
    consumer->results_tail = &result->next;
}

/* Calls the commit callback for every queued outcome. */
static void serve_results(lg_consumer_t *consumer) {
    while (consumer->results) {
        commit_result_t *result = consumer->results;
        consumer->results = result->next;
        if (!consumer->results)
            consumer->results_tail = &consumer->results;
        if (consumer->commit_callback)
            consumer->commit_callback(consumer->commit_opaque, consumer,
                                      result->err, result->offsets);
        lg_topic_partition_list_destroy(result->offsets);
        lgi_free(result);
    }
}

/* Commits the positions of the assigned partitions (only those in only,
 * when given) that moved since their last commit.  report queues the
 * outcome for the commit callback. */
static lg_err_t commit_positions(lg_consumer_t *consumer,
                                 const lg_topic_partition_list_t *only,
                                 int acks, int report) {
    lg_topic_partition_list_t *offsets = lg_topic_partition_list_new();
    if (!offsets)
        return LG_ERR_NOMEM;
    lg_err_t err = LG_OK;
    for (size_t i = 0; i < consumer->count && err == LG_OK; i++) {
        assignment_t *assignment = consumer->assignments[i];
        if (assignment->position < 0 ||
            assignment->position == assignment->committed)
            continue;
        if (only && lgi_tp_list_find(only, assignment->topic,
                                     assignment->partition) == SIZE_MAX)
            continue;
        err = lg_topic_partition_list_add(offsets, assignment->topic,
                                          assignment->partition,
                                          assignment->position);
    }
    if (err == LG_OK && offsets->count > 0) {
        err = lgi_group_commit(consumer->engine, consumer->group_id,
                               consumer->member, offsets, acks);
        for (size_t i = 0; err == LG_OK && i < offsets->count; i++) {
            assignment_t *assignment = find_assignment(
                consumer, offsets->items[i].topic,
                offsets->items[i].partition, NULL);
            if (assignment)
                assignment->committed = offsets->items[i].offset;
        }
        if (report) {
            queue_result(consumer, err, offsets);
            offsets = NULL;
        }
    }
    lg_topic_partition_list_destroy(offsets);
    return err;
}

/* Adds the partitions of list, each at its offset, resolving
 * LG_OFFSET_STORED to the committed offset or auto.offset.reset. */
static lg_err_t assign_list(const char *function, lg_consumer_t *consumer,
                            const lg_topic_partition_list_t *list) {
    lg_err_t first = LG_OK;
    for (size_t i = 0; i < list->count; i++) {
        const lgi_tp_entry_t *entry = &list->items[i];
        int64_t offset = entry->offset, committed = -1;
        if (offset == LG_OFFSET_STORED || offset == LG_OFFSET_INVALID) {
            committed = consumer->group_id[0]
                            ? lgi_group_committed(consumer->engine,
                                                  consumer->group_id,
                                                  entry->topic,
                                                  entry->partition)
                            : LG_OFFSET_INVALID;
            if (committed >= 0)
                offset = committed;
            else if (consumer->auto_offset_reset == LGI_RESET_EARLIEST)
                offset = LG_OFFSET_BEGINNING;
            else if (consumer->auto_offset_reset == LGI_RESET_LATEST)
                offset = LG_OFFSET_END;
            else
                offset = LG_OFFSET_INVALID;
            if (committed < 0)
                committed = -1;
        }
        lg_err_t err = assign_one(function, consumer, entry->topic,
                                  entry->partition, offset, committed);
        if (err != LG_OK && first == LG_OK)
            first = err;
    }
    return first;
}

/* Removes the assigned partitions of list; others are ignored. */
static lg_err_t unassign_list(lg_consumer_t *consumer,
                              const lg_topic_partition_list_t *list) {
    for (size_t i = 0; i < list->count; i++) {
        size_t index;
        if (!find_assignment(consumer, list->items[i].topic,
                             list->items[i].partition, &index))
            continue;
        lg_err_t err = reserve_retired(consumer, 1);
        if (err != LG_OK)
            return err;
        remove_at(consumer, index);
    }
    settle_eventfd(consumer);
    return LG_OK;
}

/* Gives up the partitions of list: commit (auto-commit, unless they were
 * lost), the callback, then whatever the callback left assigned. */
static void revoke_list(lg_consumer_t *consumer, lg_topic_partition_list_t *list,
                        int lost) {
    if (consumer->enable_auto_commit && !lost)
        commit_positions(consumer, list, LG_ACKS_LEADER, 1);
    if (consumer->rebalance_callback)
        consumer->rebalance_callback(consumer->rebalance_opaque, consumer,
                                     LG_ERR_REVOKE_PARTITIONS, list);
    unassign_list(consumer, list);
}

/* The member's heartbeat and protocol steps, auto-commit and commit
 * callbacks: run at the top of every poll round. */
static void group_service(lg_consumer_t *consumer) {
    /* A plain consumer pays two loads here, no store and no lock. */
    if (atomic_load_explicit(&consumer->group_signal, memory_order_relaxed))
        atomic_store(&consumer->group_signal, 0);
    if (consumer->results)
        serve_results(consumer);
    while (consumer->member) {
        lg_topic_partition_list_t *list;
        int lost;
        int step = lgi_group_step(consumer->member, 1, &list, &lost);
        if (step == LGI_STEP_NONE)
            break;
        if (step == LGI_STEP_REVOKE) {
            revoke_list(consumer, list, lost);
        } else if (consumer->rebalance_callback) {
            consumer->rebalance_callback(consumer->rebalance_opaque, consumer,
                                         LG_ERR_ASSIGN_PARTITIONS, list);
        } else {
            assign_list("lg_consumer_poll", consumer, list);
        }
        lg_topic_partition_list_destroy(list);
        if (consumer->member) /* the callback may have unsubscribed */
            lgi_group_step_done(consumer->member);
    }
    if (consumer->enable_auto_commit && consumer->group_id[0] &&
        monotonic_ns() >= consumer->next_auto_commit_ns) {
        consumer->next_auto_commit_ns =
            monotonic_ns() + consumer->auto_commit_interval_ms * 1000000;
        commit_positions(consumer, NULL, LG_ACKS_LEADER, 1);
    }
    serve_results(consumer);
}

/* The coordinator's wake: runs under its lock on any thread. */
static void group_wake(void *opaque) {
    lg_consumer_t *consumer = opaque;
    atomic_store(&consumer->group_signal, 1);
    signal_eventfd(consumer);
}

static lg_err_t need_group(const char *function, lg_consumer_t *consumer) {
    if (!consumer)
        return lgi_error(LG_ERR_INVALID_ARG, "%s: consumer must not be NULL",
                         function);
    if (!consumer->group_id[0])
        return lgi_error(LG_ERR_INVALID_CONFIG,
                         "%s: the consumer has no group.id", function);
    /* Kafka asks READ on the group for join, commit and offset fetch. */
    return lgi_authorize(consumer->engine, LG_OP_READ, LG_RESOURCE_GROUP,
                         consumer->group_id);
}

LG_API lg_err_t lg_consumer_set_rebalance_callback(lg_consumer_t *consumer,
                                                   lg_rebalance_fn callback,
                                                   void *opaque) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_set_rebalance_callback");
    if (!consumer)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_set_rebalance_callback: consumer must "
                         "not be NULL");
    consumer->rebalance_callback = callback;
    consumer->rebalance_opaque = opaque;
    return LG_OK;
}

LG_API lg_err_t lg_consumer_set_commit_callback(lg_consumer_t *consumer,
                                                lg_commit_fn callback,
                                                void *opaque) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_set_commit_callback");
    if (!consumer)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_set_commit_callback: consumer must not "
                         "be NULL");
    consumer->commit_callback = callback;
    consumer->commit_opaque = opaque;
    return LG_OK;
}

LG_API lg_err_t lg_consumer_subscribe(lg_consumer_t *consumer,
                                      const char *const *topics,
                                      size_t count) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_subscribe");
    lg_err_t err = need_group("lg_consumer_subscribe", consumer);
    if (err != LG_OK)
        return err;
    if (!topics || count == 0)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_subscribe: no topics given");
    if (!consumer->member && consumer->count > 0)
        return lgi_error(LG_ERR_STATE,
                         "lg_consumer_subscribe: partitions are assigned "
                         "manually; unassign them first");
    if ((err = lgi_group_validate_subscription(topics, count)))
        return err;
    if (consumer->member)
        return lgi_group_resubscribe(consumer->member, topics, count);
    lgi_member_config_t config = {
        .group_id = consumer->group_id,
        .instance_id = consumer->instance_id,
        .strategy = consumer->strategy,
        .session_timeout_ms = consumer->session_timeout_ms,
        .max_poll_interval_ms = consumer->max_poll_interval_ms,
        .wake = group_wake,
        .opaque = consumer,
    };
    err = lgi_group_join(consumer->engine, &config, topics, count,
                         &consumer->member);
    if (err == LG_OK)
        group_wake(consumer);
    return err;
}

LG_API lg_err_t lg_consumer_unsubscribe(lg_consumer_t *consumer) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_unsubscribe");
    if (!consumer)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_unsubscribe: consumer must not be "
                         "NULL");
    if (!consumer->member)
        return lgi_error(LG_ERR_STATE,
                         "lg_consumer_unsubscribe: not subscribed");
    lg_topic_partition_list_t *list;
    lg_err_t err = lg_consumer_assignment(consumer, &list);
    if (err != LG_OK)
        return err;
    if (list->count > 0)
        revoke_list(consumer, list, 0);
    lg_topic_partition_list_destroy(list);
    lgi_group_leave(consumer->member, 1);
    consumer->member = NULL;
    serve_results(consumer);
    return LG_OK;
}

LG_API const char *lg_consumer_rebalance_protocol(lg_consumer_t *consumer) {
    lgi_error_clear();
    if (!consumer || consumer->detached || !consumer->member)
        return "NONE";
    return lgi_group_protocol(consumer->member);
}

LG_API lg_err_t lg_consumer_incremental_assign(
    lg_consumer_t *consumer, const lg_topic_partition_list_t *partitions) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_incremental_assign");
    if (!consumer || !partitions)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_incremental_assign: consumer and "
                         "partitions must not be NULL");
    return assign_list("lg_consumer_incremental_assign", consumer,
                       partitions);
}

LG_API lg_err_t lg_consumer_incremental_unassign(
    lg_consumer_t *consumer, const lg_topic_partition_list_t *partitions) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_incremental_unassign");
    if (!consumer || !partitions)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_incremental_unassign: consumer and "
                         "partitions must not be NULL");
    return unassign_list(consumer, partitions);
}

LG_API lg_err_t lg_consumer_assignment(lg_consumer_t *consumer,
                                       lg_topic_partition_list_t **listp) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_assignment");
    if (!consumer || !listp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_assignment: consumer and listp must "
                         "not be NULL");
    *listp = NULL;
    lg_topic_partition_list_t *list = lg_topic_partition_list_new();
    if (!list)
        return LG_ERR_NOMEM;
    for (size_t i = 0; i < consumer->count; i++) {
        lg_err_t err = lg_topic_partition_list_add(
            list, consumer->assignments[i]->topic,
            consumer->assignments[i]->partition,
            consumer->assignments[i]->position);
        if (err != LG_OK) {
            lg_topic_partition_list_destroy(list);
            return err;
        }
    }
    *listp = list;
    return LG_OK;
}

LG_API lg_err_t lg_consumer_commit(lg_consumer_t *consumer,
                                   const lg_topic_partition_list_t *offsets,
                                   int async) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_commit");
    lg_err_t err = need_group("lg_consumer_commit", consumer);
    if (err != LG_OK)
        return err;
    int acks = async ? LG_ACKS_LEADER : LG_ACKS_ALL;
    if (!offsets) {
        /* Every position, moved or not: an explicit commit is a promise. */
        for (size_t i = 0; i < consumer->count; i++)
            consumer->assignments[i]->committed = -1;
        err = commit_positions(consumer, NULL, acks, async);
    } else {
        err = lgi_group_commit(consumer->engine, consumer->group_id,
                               consumer->member, offsets, acks);
        for (size_t i = 0; err == LG_OK && i < offsets->count; i++) {
            assignment_t *assignment = find_assignment(
                consumer, offsets->items[i].topic,
                offsets->items[i].partition, NULL);
            if (assignment)
                assignment->committed = offsets->items[i].offset;
        }
        if (async) {
            lg_topic_partition_list_t *copy = lg_topic_partition_list_new();
            for (size_t i = 0; copy && i < offsets->count; i++)
                lg_topic_partition_list_add(copy, offsets->items[i].topic,
                                            offsets->items[i].partition,
                                            offsets->items[i].offset);
            if (copy)
                queue_result(consumer, err, copy);
        }
    }
    if (async && consumer->results)
        signal_eventfd(consumer); /* the callback is due at the next poll */
    return err;
}

LG_API lg_err_t lg_consumer_committed(lg_consumer_t *consumer,
                                      lg_topic_partition_list_t *partitions) {
    lgi_error_clear();
    if (consumer && consumer->detached)
        return detached_error("lg_consumer_committed");
    lg_err_t err = need_group("lg_consumer_committed", consumer);
    if (err != LG_OK)
        return err;
    if (!partitions)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_consumer_committed: partitions must not be NULL");
    lgi_group_heartbeat(consumer->member);
    for (size_t i = 0; i < partitions->count; i++)
        partitions->items[i].offset = lgi_group_committed(
            consumer->engine, consumer->group_id, partitions->items[i].topic,
            partitions->items[i].partition);
    return LG_OK;
}
