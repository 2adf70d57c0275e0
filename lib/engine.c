/*
 * engine.c -- the engine's lifecycle: opening a data directory (lock,
 * recovery, I/O thread), the maintenance thread, and closing.
 *
 * Invariants:
 *   - One engine per data directory, across processes: an flock(LOCK_EX)
 *     on <dir>/.lock held for the engine's life.  flock locks belong to the
 *     open file description, so a second open in the same process is
 *     refused too.
 *   - The clean-shutdown marker (<dir>/.clean-shutdown, Kafka's
 *     .kafka_cleanshutdown) exists only while no engine has the directory
 *     open after a close that flushed everything.  Open removes it (durably)
 *     before any write, so a crash later can never be mistaken for a clean
 *     stop; close writes it after the last fdatasync and checkpoint.
 *   - Recovery happens inside lg_engine_open, before the call returns:
 *     nothing can read a partition before its torn tail is cut off.
 *   - Everything the engine creates is private to its owner: directories
 *     0700, files 0600 (explicit modes, so a permissive umask cannot widen
 *     them; a restrictive one can only narrow them further).
 *   - Authorization: a guarded call asks the installed authorizer with the
 *     calling thread's principal before it touches anything; the
 *     authorizer pointer is swapped atomically and old ones are freed only
 *     at close, so checks never lock.
 */
#include "engine.h"
#include "replication.h"

#include "alloc.h"
#include "cleaner.h"
#include "clock.h"
#include "err.h"
#include "group.h"
#include "metafile.h"
#include "producer_id.h"
#include "txn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_FILE ".lock"
#define CLEAN_SHUTDOWN_FILE ".clean-shutdown"

LG_API const char *lg_version(void) { return LIBLOG_VERSION_STRING; }

LG_API int lg_version_number(void) { return LIBLOG_VERSION_NUMBER; }

int64_t lgi_engine_now_ms(const lg_engine_t *engine) {
    (void)engine;
    return lgi_clock_realtime_ms(); /* clock.c: cheap enough per record */
}

/* ------------------------------------------------------------------------
 * Authorization
 * --------------------------------------------------------------------- */

#define PRINCIPAL_MAX 255

/* The calling thread's principal; "" is anonymous. */
static _Thread_local char thread_principal[PRINCIPAL_MAX + 1];

LG_API lg_err_t lg_principal_set(const char *principal) {
    lgi_error_clear();
    if (!principal)
        principal = "";
    size_t len = strlen(principal);
    if (len > PRINCIPAL_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "principal: at most %d bytes, got %zu", PRINCIPAL_MAX,
                         len);
    memcpy(thread_principal, principal, len + 1);
    return LG_OK;
}

LG_API const char *lg_principal_get(void) { return thread_principal; }

LG_API lg_err_t lg_engine_set_authorizer(lg_engine_t *engine,
                                         lg_authorize_fn fn, void *opaque) {
    lgi_error_clear();
    if (!engine)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_engine_set_authorizer: engine must not be NULL");
    pthread_mutex_lock(&engine->authorizer_lock);
    /* Every authorizer ever installed stays on retired_authorizers until
     * close, so none is freed while a check might still be using it. */
    lgi_authorizer_t *next = lgi_calloc(1, sizeof *next);
    if (!next) {
        pthread_mutex_unlock(&engine->authorizer_lock);
        return lgi_error(LG_ERR_NOMEM, "lg_engine_set_authorizer: out of "
                                       "memory");
    }
    next->fn = fn;
    next->opaque = opaque;
    next->older = engine->retired_authorizers;
    engine->retired_authorizers = next;
    atomic_store(&engine->authorizer, fn ? next : NULL);
    pthread_mutex_unlock(&engine->authorizer_lock);
    return LG_OK;
}

static const char *operation_name(int operation) {
    static const char *names[] = {"UNKNOWN", "READ",   "WRITE",   "CREATE",
                                  "DELETE",  "ALTER",  "DESCRIBE"};
    return operation >= 0 && operation <= LG_OP_DESCRIBE ? names[operation]
                                                         : "UNKNOWN";
}

static const char *resource_name(int resource_type) {
    static const char *names[] = {"UNKNOWN", "topic", "group", "cluster"};
    return resource_type >= 0 && resource_type <= LG_RESOURCE_CLUSTER
               ? names[resource_type]
               : "UNKNOWN";
}

static _Thread_local int authorize_suspended;

void lgi_authorize_suspend(void) { authorize_suspended++; }

void lgi_authorize_resume(void) { authorize_suspended--; }

lg_err_t lgi_authorize(lg_engine_t *engine, int operation, int resource_type,
                       const char *name) {
    lgi_authorizer_t *authorizer = atomic_load(&engine->authorizer);
    if (!authorizer || authorize_suspended)
        return LG_OK;
    if (authorizer->fn(authorizer->opaque, thread_principal, operation,
                       resource_type, name ? name : ""))
        return LG_OK;
    return lgi_error(LG_ERR_NOT_AUTHORIZED,
                     "principal \"%s\" is not authorized to %s %s \"%s\"",
                     thread_principal[0] ? thread_principal : "(anonymous)",
                     operation_name(operation), resource_name(resource_type),
                     name ? name : "");
}

void lgi_engine_attach_child(lg_engine_t *engine, lgi_engine_child_t *child) {
    pthread_mutex_lock(&engine->children_lock);
    child->prev = NULL;
    child->next = engine->children;
    if (engine->children)
        engine->children->prev = child;
    engine->children = child;
    pthread_mutex_unlock(&engine->children_lock);
}

void lgi_engine_detach_child(lg_engine_t *engine, lgi_engine_child_t *child) {
    pthread_mutex_lock(&engine->children_lock);
    if (child->prev)
        child->prev->next = child->next;
    else if (engine->children == child)
        engine->children = child->next;
    if (child->next)
        child->next->prev = child->prev;
    child->prev = child->next = NULL;
    pthread_mutex_unlock(&engine->children_lock);
}

/* Detaches every live child, newest first.  Their detach callbacks may
 * still use the engine (a producer sends what it has queued), so this
 * runs before anything is torn down. */
/* Adds one compaction pass to the engine's cleaner statistics. */
static void count_clean_pass(lg_engine_t *engine,
                             const lgi_clean_stats_t *pass) {
    lgi_cleaner_counters_t *c = &engine->cleaner_counters;
    if (pass->segments_in <= 0)
        return; /* nothing was rewritten */
    lgi_count(&c->passes, 1);
    lgi_count(&c->segments_cleaned, (uint64_t)pass->segments_in);
    lgi_count(&c->bytes_read, (uint64_t)pass->bytes_read);
    lgi_count(&c->bytes_written, (uint64_t)pass->bytes_written);
    lgi_count(&c->records_read, (uint64_t)pass->records_read);
    lgi_count(&c->records_kept, (uint64_t)pass->records_kept);
}

static void detach_children(lg_engine_t *engine) {
    for (;;) {
        pthread_mutex_lock(&engine->children_lock);
        lgi_engine_child_t *child = engine->children;
        pthread_mutex_unlock(&engine->children_lock);
        if (!child)
            return;
        lgi_engine_detach_child(engine, child);
        child->detach(child);
    }
}

static char *dir_file(const char *dir, const char *name) {
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    return path;
}

/* Creates dir and its missing parents with mode 0700 (mkdir -p). */
static lg_err_t make_directory(const char *dir) {
    char *copy = lgi_strdup(dir);
    if (!copy)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            lg_err_t err = lgi_error_errno(LG_ERR_IO, errno, "mkdir %s", copy);
            lgi_free(copy);
            return err;
        }
        *p = '/';
    }
    lgi_free(copy);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return lgi_error_errno(LG_ERR_IO, errno, "mkdir %s", dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return lgi_error(LG_ERR_IO, "%s is not a directory", dir);
    return LG_OK;
}

static lg_err_t take_lock(lg_engine_t *engine) {
    char *path = dir_file(engine->dir, LOCK_FILE);
    if (!path)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        lg_err_t err = lgi_error_errno(LG_ERR_IO, errno, "open %s", path);
        free(path);
        return err;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(fd);
        lg_err_t err =
            saved == EWOULDBLOCK
                ? lgi_error(LG_ERR_LOCKED,
                            "%s is in use by another engine (lock %s held)",
                            engine->dir, path)
                : lgi_error_errno(LG_ERR_IO, saved, "flock %s", path);
        free(path);
        return err;
    }
    free(path);
    engine->lock_fd = fd;
    return LG_OK;
}

/* Returns 1 if the marker was there; removes it durably either way. */
static lg_err_t consume_clean_marker(lg_engine_t *engine, int *cleanp) {
    char *path = dir_file(engine->dir, CLEAN_SHUTDOWN_FILE);
    if (!path)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    *cleanp = 0;
    lg_err_t err = LG_OK;
    if (unlink(path) == 0) {
        *cleanp = 1;
        err = lgi_fsync_dir(engine->dir);
    } else if (errno != ENOENT) {
        err = lgi_error_errno(LG_ERR_IO, errno, "unlink %s", path);
    }
    free(path);
    return err;
}

static lg_err_t write_clean_marker(lg_engine_t *engine) {
    char *path = dir_file(engine->dir, CLEAN_SHUTDOWN_FILE);
    if (!path)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    lg_err_t err = LG_OK;
    if (fd < 0 || fsync(fd) != 0)
        err = lgi_error_errno(LG_ERR_IO, errno, "create %s", path);
    if (fd >= 0)
        close(fd);
    free(path);
    return err ? err : lgi_fsync_dir(engine->dir);
}

/* The maintenance thread checkpoints recovery points every
 * log.flush.offset.checkpoint.interval.ms, so a crash rescans at most that
 * much, and removes deleted topics.  Retention and compaction have their
 * own thread (below), since a compaction pass may take long.  It also
 * aborts transactions past transaction.timeout.ms (txn.c).  Neither
 * calls application callbacks. */
/* How often the maintenance thread looks for timed-out transactions. */
#define TXN_CHECK_INTERVAL_MS 100

static void timespec_add_ms(struct timespec *ts, int64_t ms) {
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static int timespec_before(const struct timespec *a,
                           const struct timespec *b) {
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *maintenance_main(void *arg) {
    lg_engine_t *engine = arg;
    int64_t interval = lgi_conf_int(&engine->conf,
                                    LGI_CONF_CHECKPOINT_INTERVAL_MS);
    pthread_mutex_lock(&engine->maintenance_lock);
    struct timespec checkpoint_at;
    clock_gettime(CLOCK_MONOTONIC, &checkpoint_at);
    timespec_add_ms(&checkpoint_at, interval);
    while (!engine->maintenance_stop) {
        /* Wakes at least every TXN_CHECK_INTERVAL_MS to abort timed-out
         * transactions (txn.c). */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        timespec_add_ms(&deadline, TXN_CHECK_INTERVAL_MS);
        if (timespec_before(&checkpoint_at, &deadline))
            deadline = checkpoint_at;
        int rc = 0;
        while (!engine->maintenance_stop && rc != ETIMEDOUT &&
               !engine->graveyard)
            rc = pthread_cond_timedwait(&engine->maintenance_wake,
                                        &engine->maintenance_lock, &deadline);
        if (engine->maintenance_stop)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int checkpoint_due = !timespec_before(&now, &checkpoint_at);
        pthread_mutex_unlock(&engine->maintenance_lock);
        lgi_topics_bury(engine);
        lgi_txn_expire(engine);
        /* A failed checkpoint is retried next round; recovery stays
         * correct with an older one. */
        if (checkpoint_due) {
            lgi_engine_checkpoint_recovery_points(engine);
            checkpoint_at = now;
            timespec_add_ms(&checkpoint_at, interval);
        }
        pthread_mutex_lock(&engine->maintenance_lock);
    }
    pthread_mutex_unlock(&engine->maintenance_lock);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Cleaner thread
 * --------------------------------------------------------------------- */

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Names of the live topics (a snapshot; topics may go meanwhile). */
static char **topic_names(lg_engine_t *engine, size_t *countp) {
    pthread_rwlock_rdlock(&engine->topics_lock);
    size_t count = engine->topic_count;
    char **names = lgi_calloc(count ? count : 1, sizeof(*names));
    for (size_t i = 0; names && i < count; i++)
        names[i] = lgi_strdup(engine->topics[i]->name);
    pthread_rwlock_unlock(&engine->topics_lock);
    *countp = names ? count : 0;
    return names;
}

lg_err_t lgi_engine_clean(lg_engine_t *engine, int64_t now_ms, int force) {
    lg_err_t first = LG_OK;
    int moved = 0;
    size_t count;
    pthread_mutex_lock(&engine->cleaner_run_lock);
    int retention_due = force || monotonic_ms() >= engine->next_retention_ms;
    if (retention_due)
        engine->next_retention_ms =
            monotonic_ms() +
            lgi_conf_int(&engine->conf, LGI_CONF_RETENTION_CHECK_INTERVAL_MS);
    char **names = topic_names(engine, &count);
    for (size_t i = 0; i < count; i++) {
        lgi_partition_ref_t ref;
        if (!names[i] ||
            lgi_engine_acquire(engine, names[i], LG_PARTITION_ANY, &ref))
            continue; /* deleted meanwhile */
        int32_t partitions = ref.partition_count;
        lgi_engine_release(engine, &ref);
        for (int32_t p = 0; p < partitions; p++) {
            if (lgi_engine_acquire(engine, names[i], p, &ref))
                break;
            lgi_cleaner_settings_t settings;
            lgi_cleaner_settings_from_conf(&ref.conf, &settings);
            lg_err_t err = LG_OK;
            /* Replicated partitions go through the replication layer:
             * below the high watermark, entry numbering and batches kept
             * alike on every replica (replication.h). */
            int replicated = lgi_partition_replicated(ref.partition);
            if (retention_due) {
                size_t deleted = 0;
                err = replicated
                          ? lgi_replication_retain(engine, ref.partition,
                                                   &settings, now_ms,
                                                   &deleted)
                          : lgi_cleaner_retain(ref.partition, &settings,
                                               now_ms, &deleted);
                moved |= deleted > 0;
                lgi_count(&engine->cleaner_counters.segments_deleted,
                          deleted);
            }
            if (err == LG_OK && settings.policy != LGI_CLEANUP_DELETE) {
                if (!engine->cleaner)
                    err = lgi_cleaner_new(
                        lgi_conf_int(&engine->conf,
                                     LGI_CONF_CLEANER_DEDUPE_BUFFER_SIZE),
                        &engine->cleaner);
                if (err == LG_OK) {
                    int64_t before =
                        lgi_partition_cleaner_offset(ref.partition);
                    int64_t first_dirty = before;
                    lgi_clean_stats_t pass;
                    err = replicated
                              ? lgi_replication_compact(
                                    engine, engine->cleaner, ref.partition,
                                    &settings, now_ms, force, &first_dirty,
                                    &pass)
                              : lgi_cleaner_compact(engine->cleaner,
                                                    ref.partition, &settings,
                                                    now_ms, force,
                                                    &first_dirty, &pass);
                    count_clean_pass(engine, &pass);
                    if (first_dirty != before) {
                        lgi_partition_set_cleaner_offset(ref.partition,
                                                         first_dirty);
                        moved = 1;
                    }
                }
            }
            if (err != LG_OK && first == LG_OK)
                first = err;
            lgi_engine_release(engine, &ref);
        }
    }
    for (size_t i = 0; i < count; i++)
        lgi_free(names[i]);
    lgi_free(names);
    if (moved) {
        lg_err_t err = lgi_engine_checkpoint_log_starts(engine);
        if (first == LG_OK)
            first = err;
    }
    pthread_mutex_unlock(&engine->cleaner_run_lock);
    return first;
}

/* Wakes every min(log.cleaner.backoff.ms, retention interval); failures
 * are retried at the next round (a failed pass leaves the log as it was,
 * or as the next open will complete it). */
static void *cleaner_main(void *arg) {
    lg_engine_t *engine = arg;
    int64_t backoff = lgi_conf_int(&engine->conf, LGI_CONF_CLEANER_BACKOFF_MS);
    int64_t retention =
        lgi_conf_int(&engine->conf, LGI_CONF_RETENTION_CHECK_INTERVAL_MS);
    int64_t interval = backoff < retention ? backoff : retention;
    if (interval < 1)
        interval = 1;
    pthread_mutex_lock(&engine->cleaner_lock);
    while (!engine->cleaner_stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += interval / 1000;
        deadline.tv_nsec += (interval % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!engine->cleaner_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&engine->cleaner_wake,
                                        &engine->cleaner_lock, &deadline);
        if (engine->cleaner_stop)
            break;
        pthread_mutex_unlock(&engine->cleaner_lock);
        (void)lgi_engine_clean(engine, lgi_engine_now_ms(engine), 0);
        lgi_error_clear();
        pthread_mutex_lock(&engine->cleaner_lock);
    }
    pthread_mutex_unlock(&engine->cleaner_lock);
    return NULL;
}

static lg_err_t start_cleaner(lg_engine_t *engine) {
    engine->next_retention_ms =
        monotonic_ms() +
        lgi_conf_int(&engine->conf, LGI_CONF_RETENTION_CHECK_INTERVAL_MS);
    int rc = pthread_create(&engine->cleaner_thread, NULL, cleaner_main,
                            engine);
    if (rc != 0)
        return lgi_error_errno(LG_ERR_IO, rc, "starting cleaner thread");
    engine->cleaner_started = 1;
    return LG_OK;
}

static void stop_cleaner(lg_engine_t *engine) {
    if (!engine->cleaner_started)
        return;
    pthread_mutex_lock(&engine->cleaner_lock);
    engine->cleaner_stop = 1;
    pthread_cond_signal(&engine->cleaner_wake);
    pthread_mutex_unlock(&engine->cleaner_lock);
    pthread_join(engine->cleaner_thread, NULL);
    engine->cleaner_started = 0;
}

static lg_err_t start_maintenance(lg_engine_t *engine) {
    int rc = pthread_create(&engine->maintenance_thread, NULL,
                            maintenance_main, engine);
    if (rc != 0)
        return lgi_error_errno(LG_ERR_IO, rc, "starting maintenance thread");
    engine->maintenance_started = 1;
    return LG_OK;
}

static void stop_maintenance(lg_engine_t *engine) {
    if (!engine->maintenance_started)
        return;
    pthread_mutex_lock(&engine->maintenance_lock);
    engine->maintenance_stop = 1;
    pthread_cond_signal(&engine->maintenance_wake);
    pthread_mutex_unlock(&engine->maintenance_lock);
    pthread_join(engine->maintenance_thread, NULL);
    engine->maintenance_started = 0;
}

/* Frees everything; flushes only when flush is set (a failed open must not
 * write a clean marker over a directory it never recovered). */
static lg_err_t engine_teardown(lg_engine_t *engine, int flush) {
    lg_err_t first = LG_OK;
    /* First: fails acks=all appends still waiting for replication (a
     * producer's detach may wait for them) and makes replicated partitions
     * refuse appends from here on. */
    lgi_replication_shutdown(engine);
    stop_cleaner(engine);
    detach_children(engine);
    stop_maintenance(engine);
    /* Deleted topics still referenced now can only be held by handles the
     * application failed to destroy before closing: remove them anyway. */
    pthread_mutex_lock(&engine->maintenance_lock);
    while (engine->deleting) {
        lgi_topic_t *t = engine->deleting;
        engine->deleting = t->next_dead;
        t->next_dead = engine->graveyard;
        engine->graveyard = t;
    }
    pthread_mutex_unlock(&engine->maintenance_lock);
    lgi_topics_bury(engine);
    lgi_txn_close(engine);
    lgi_coordinator_close(engine);
    if (flush) {
        /* Partitions are flushed and closed first so the checkpoint below
         * records their final, fully synced recovery points. */
        lg_err_t err;
        pthread_rwlock_wrlock(&engine->topics_lock);
        for (size_t i = 0; i < engine->topic_count; i++) {
            lgi_topic_t *t = engine->topics[i];
            for (int32_t p = 0; p < t->partition_count; p++)
                if ((err = lgi_partition_flush(t->partitions[p])) && !first)
                    first = err;
        }
        pthread_rwlock_unlock(&engine->topics_lock);
        if ((err = lgi_engine_checkpoint_recovery_points(engine)) && !first)
            first = err;
        if ((err = lgi_engine_checkpoint_log_starts(engine)) && !first)
            first = err;
    }
    lg_err_t err = lgi_topics_close(engine);
    if (err && !first)
        first = err;
    lgi_replication_free(engine);
    lgi_io_close(engine->io);
    if (flush && !first)
        first = write_clean_marker(engine);
    if (engine->lock_fd >= 0)
        close(engine->lock_fd);
    pthread_rwlock_destroy(&engine->topics_lock);
    pthread_mutex_destroy(&engine->meta_lock);
    pthread_mutex_destroy(&engine->bury_lock);
    pthread_mutex_destroy(&engine->children_lock);
    pthread_mutex_destroy(&engine->maintenance_lock);
    pthread_cond_destroy(&engine->maintenance_wake);
    pthread_mutex_destroy(&engine->stats_lock);
    pthread_mutex_destroy(&engine->poll_lock);
    pthread_mutex_destroy(&engine->authorizer_lock);
    while (engine->retired_authorizers) {
        lgi_authorizer_t *older = engine->retired_authorizers->older;
        lgi_free(engine->retired_authorizers);
        engine->retired_authorizers = older;
    }
    pthread_mutex_destroy(&engine->cleaner_lock);
    pthread_cond_destroy(&engine->cleaner_wake);
    pthread_mutex_destroy(&engine->cleaner_run_lock);
    lgi_cleaner_free(engine->cleaner);
    lgi_producer_ids_free(engine->producer_ids);
    lgi_free(engine->dir);
    lgi_free(engine);
    return first;
}

/* Tells the log which I/O backend the engine got, as a warning when
 * io_uring was wanted (auto) but the kernel refused it. */
static void log_backend(lg_engine_t *engine) {
    const char *backend = lgi_io_backend_name(engine->io);
    const char *forced = getenv("LIBLOG_IO_BACKEND");
    int automatic = lgi_conf_int(&engine->conf, LGI_CONF_IO_BACKEND) == 0 &&
                    !(forced && (strcmp(forced, "syscall") == 0 ||
                                 strcmp(forced, "io_uring") == 0));
    if (automatic && strcmp(backend, "syscall") == 0)
        lgi_log(&engine->logger, LG_LOG_WARNING,
                "engine %s: io_uring is unavailable (kernel refused it); "
                "falling back to the syscall I/O backend",
                engine->dir);
    else
        lgi_log(&engine->logger, LG_LOG_INFO,
                "engine %s: I/O backend %s", engine->dir, backend);
}

LG_API lg_err_t lg_engine_open(const char *dir, const lg_conf_t *conf,
                               lg_engine_t **enginep) {
    lgi_error_clear();
    if (!dir || !enginep)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "lg_engine_open: dir and enginep must not be NULL");
    *enginep = NULL;
    if (!*dir)
        return lgi_error(LG_ERR_INVALID_ARG, "data directory path is empty");
    /* Topic properties on the engine's conf are defaults for all topics. */
    lg_err_t err;
    if (conf && (err = lgi_conf_check_scope(
                     conf, LGI_SCOPE_ENGINE | LGI_SCOPE_TOPIC, "an engine")))
        return err;

    lg_engine_t *engine = lgi_calloc(1, sizeof *engine);
    if (!engine)
        return lgi_error(LG_ERR_NOMEM, "out of memory opening engine");
    engine->lock_fd = -1;
    atomic_init(&engine->authorizer, NULL);
    pthread_mutex_init(&engine->authorizer_lock, NULL);
    pthread_rwlock_init(&engine->topics_lock, NULL);
    pthread_mutex_init(&engine->meta_lock, NULL);
    pthread_mutex_init(&engine->bury_lock, NULL);
    pthread_mutex_init(&engine->children_lock, NULL);
    pthread_mutex_init(&engine->maintenance_lock, NULL);
    pthread_mutex_init(&engine->stats_lock, NULL);
    pthread_mutex_init(&engine->poll_lock, NULL);
    engine->opened_ns = lgi_monotonic_ns();
    /* The maintenance thread sleeps with timed waits on the monotonic
     * clock, so wall-clock jumps neither stall nor spin it. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&engine->maintenance_wake, &attr);
    pthread_cond_init(&engine->cleaner_wake, &attr);
    pthread_mutex_init(&engine->cleaner_lock, NULL);
    pthread_mutex_init(&engine->cleaner_run_lock, NULL);
    pthread_condattr_destroy(&attr);
    engine->dir = lgi_strdup(dir);
    lg_conf_t *defaults = conf ? NULL : lg_conf_new();
    if (!engine->dir || (!conf && !defaults)) {
        lg_conf_destroy(defaults);
        engine_teardown(engine, 0);
        return lgi_error(LG_ERR_NOMEM, "out of memory opening engine");
    }
    engine->conf = conf ? *conf : *defaults;
    lg_conf_destroy(defaults);
    engine->logger.callback = engine->conf.log_callback;
    engine->logger.opaque = engine->conf.log_opaque;
    engine->logger.level = (int)lgi_conf_int(&engine->conf, LGI_CONF_LOG_LEVEL);
    engine->stats_due_ns =
        engine->opened_ns +
        lgi_conf_int(&engine->conf, LGI_CONF_STATISTICS_INTERVAL_MS) * 1000000;

    int clean = 0;
    if ((err = make_directory(engine->dir)) || (err = take_lock(engine)) ||
        (err = consume_clean_marker(engine, &clean)))
        goto fail;
    if ((err = lgi_io_open((int)lgi_conf_int(&engine->conf,
                                             LGI_CONF_IO_BACKEND),
                           (unsigned)lgi_conf_int(&engine->conf,
                                                  LGI_CONF_IO_QUEUE_DEPTH),
                           &engine->io)))
        goto fail;
    lgi_io_set_logger(engine->io, &engine->logger);
    lgi_io_set_spin(engine->io,
                    lgi_conf_int(&engine->conf, LGI_CONF_IO_SPIN_US) * 1000);
    log_backend(engine);
    lgi_topics_remove_leftovers(engine);
    if ((err = lgi_topics_load(engine, clean)))
        goto fail;
    if ((err = lgi_producer_ids_open(
             engine->dir,
             (int32_t)lgi_conf_int(&engine->conf, LGI_CONF_NODE_ID),
             &engine->producer_ids)))
        goto fail;
    if ((err = lgi_coordinator_open(engine)))
        goto fail;
    if ((err = lgi_txn_open(engine)))
        goto fail;
    /* Record what recovery established before accepting writes. */
    if ((err = lgi_engine_checkpoint_recovery_points(engine)))
        goto fail;
    if ((err = start_maintenance(engine)) || (err = start_cleaner(engine)))
        goto fail;
    *enginep = engine;
    return LG_OK;
fail:;
    /* Keep the message of the real failure, not of the teardown. */
    char message[512];
    snprintf(message, sizeof message, "%s", lg_last_error_message());
    engine_teardown(engine, 0);
    return lgi_error(err, "%s", message);
}

LG_API lg_err_t lg_engine_close(lg_engine_t *engine) {
    lgi_error_clear();
    if (!engine)
        return LG_OK;
    lg_err_t err = engine_teardown(engine, 1);
    if (err) {
        char message[512];
        snprintf(message, sizeof message, "%s", lg_last_error_message());
        return lgi_error(err, "closing engine: %s", message);
    }
    return LG_OK;
}

LG_API const char *lg_engine_io_backend(const lg_engine_t *engine) {
    lgi_error_clear();
    if (!engine || !engine->io)
        return "none";
    return lgi_io_backend_name(engine->io);
}
