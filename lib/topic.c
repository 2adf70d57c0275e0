/*
 * topic.c -- topics: name rules, creation, the persisted topic metadata and
 * the recovery-point checkpoint that tells recovery where to start.
 *
 * Engine-level metadata lives in two metafiles (see metafile.h) in the
 * data directory, both text so an operator can read them:
 *
 *   topics                          recovery-point-offset-checkpoint
 *   ----------------------------    --------------------------------
 *   liblog-topics 1                 0
 *   topic <name> <count> <id-hex>   <entries>
 *   config <name> <key>=<value>     <topic> <partition> <offset>
 *   replicas <name> <p> <n>,<n>,..  ...
 *   ...                             xxh3:<checksum>
 *   xxh3:<checksum>
 *
 * A "replicas" line is a replicated partition's voter set (node ids,
 * lg_topic_set_replicas): such a partition opens held -- appends refused,
 * nothing readable -- until lg_engine_set_transport attaches it to the
 * replication layer, so nothing is ever appended to it behind the
 * consensus' back (replication.c).
 *
 * log-start-offset-checkpoint (the first readable offset, moved by
 * retention) and cleaner-offset-checkpoint (compaction's first dirty
 * offset) have the recovery-point layout.  A missing or damaged one is
 * harmless: the log start falls back to the first segment's base (retention
 * deletes again what it had decided), the cleaner to a full pass.
 *
 * The recovery-point file is Kafka's layout plus our checksum line.  The
 * topics file is the commit point of a create: partition directories are
 * made (and emptied of any stale files) first, the metadata is replaced
 * atomically last, so a crash mid-create leaves either no topic or a whole
 * one.  A recovery point is a promise that every byte below it was
 * fdatasync'd; a missing or damaged checkpoint is harmless (recovery then
 * scans the whole partition), so load errors there are not fatal.
 */
#include "engine.h"

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "metafile.h"
#include "replication.h"
#include "strings.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#define TOPICS_FILE "topics"
#define RECOVERY_FILE "recovery-point-offset-checkpoint"
#define LOG_START_FILE "log-start-offset-checkpoint"
#define CLEANER_FILE "cleaner-offset-checkpoint"
#define TOPIC_NAME_MAX 249
#define PARTITIONS_MAX 100000

lg_err_t lgi_topic_name_validate(const char *name) {
    if (!name)
        return lgi_error(LG_ERR_INVALID_ARG, "topic name must not be NULL");
    size_t len = strlen(name);
    if (len == 0)
        return lgi_error(LG_ERR_INVALID_TOPIC, "topic name is empty");
    if (len > TOPIC_NAME_MAX)
        return lgi_error(LG_ERR_INVALID_TOPIC,
                         "topic name is %zu characters, the limit is %d", len,
                         TOPIC_NAME_MAX);
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return lgi_error(LG_ERR_INVALID_TOPIC,
                         "topic name cannot be \".\" or \"..\"");
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
        if (!legal)
            return lgi_error(LG_ERR_INVALID_TOPIC,
                             "topic name \"%s\": character %zu (0x%02x) is "
                             "not one of [a-zA-Z0-9._-]",
                             name, i, (unsigned char)c);
    }
    return LG_OK;
}

static char *partition_path(const lg_engine_t *engine, const char *topic,
                            int32_t partition) {
    char *path;
    if (asprintf(&path, "%s/%s-%" PRId32, engine->dir, topic, partition) < 0)
        return NULL;
    return path; /* malloc'd by asprintf: released with free() */
}

static char *engine_file(const lg_engine_t *engine, const char *name) {
    char *path;
    if (asprintf(&path, "%s/%s", engine->dir, name) < 0)
        return NULL;
    return path;
}

static void topic_free(lgi_topic_t *topic) {
    if (!topic)
        return;
    while (topic->assignments) {
        lgi_replica_assignment_t *next = topic->assignments->next;
        lgi_free(topic->assignments);
        topic->assignments = next;
    }
    lgi_free(topic->partitions);
    lgi_free(topic->name);
    lgi_free(topic);
}

/* ------------------------------------------------------------------------
 * Metadata files
 * --------------------------------------------------------------------- */

/* Renders the topics file from engine->topics (caller holds meta_lock and
 * at least a read lock on topics) plus an optional topic being created. */
static lg_err_t write_topics_file(lg_engine_t *engine,
                                  const lgi_topic_t *extra) {
    lgi_buf_t body = LGI_BUF_INIT;
    lg_err_t err = LG_OK;
    char line[512];
    snprintf(line, sizeof line, "liblog-topics 1\n");
    if (lgi_buf_append(&body, line, strlen(line)) != 0)
        goto nomem;
    for (size_t i = 0; i <= engine->topic_count; i++) {
        const lgi_topic_t *t = i < engine->topic_count ? engine->topics[i]
                                                       : extra;
        if (!t)
            continue;
        char id[33];
        for (int b = 0; b < 16; b++)
            snprintf(id + 2 * b, 3, "%02x", t->topic_id[b]);
        snprintf(line, sizeof line, "topic %s %" PRId32 " %s\n", t->name,
                 t->partition_count, id);
        if (lgi_buf_append(&body, line, strlen(line)) != 0)
            goto nomem;
        char *overrides;
        if ((err = lgi_conf_serialize_overrides(&t->overrides, &overrides)))
            goto out;
        for (char *p = overrides, *nl; *p; p = nl + 1) {
            nl = strchr(p, '\n');
            snprintf(line, sizeof line, "config %s %.*s\n", t->name,
                     (int)(nl - p), p);
            if (lgi_buf_append(&body, line, strlen(line)) != 0) {
                lgi_free(overrides);
                goto nomem;
            }
        }
        lgi_free(overrides);
        for (const lgi_replica_assignment_t *a = t->assignments; a;
             a = a->next) {
            int at = snprintf(line, sizeof line, "replicas %s %" PRId32 " ",
                              t->name, a->partition);
            for (size_t k = 0; k < a->count; k++)
                at += snprintf(line + at, sizeof line - (size_t)at,
                               "%s%" PRId32, k ? "," : "", a->nodes[k]);
            snprintf(line + at, sizeof line - (size_t)at, "\n");
            if (lgi_buf_append(&body, line, strlen(line)) != 0)
                goto nomem;
        }
    }
    char *path = engine_file(engine, TOPICS_FILE);
    if (!path)
        goto nomem;
    err = lgi_metafile_write(path, body.data, body.len);
    free(path);
    goto out;
nomem:
    err = lgi_error(LG_ERR_NOMEM, "out of memory writing topic metadata");
out:
    lgi_buf_free(&body);
    return err;
}

/* write_topics_file under a read lock on topics, for callers that hold
 * meta_lock (which keeps other writers of the table out) but not the
 * topics lock; readers of the table may run while the file is written. */
static lg_err_t persist_topics(lg_engine_t *engine, const lgi_topic_t *extra) {
    pthread_rwlock_rdlock(&engine->topics_lock);
    lg_err_t err = write_topics_file(engine, extra);
    pthread_rwlock_unlock(&engine->topics_lock);
    return err;
}

/* What one checkpoint file records per partition. */
typedef int64_t (*offset_of_fn)(lgi_partition_t *partition);

static int64_t cleaner_offset_of(lgi_partition_t *partition) {
    int64_t offset = lgi_partition_cleaner_offset(partition);
    return offset < 0 ? 0 : offset;
}

/* Writes file (Kafka's offset-checkpoint layout plus our checksum) with
 * offset_of(partition) for every partition. */
static lg_err_t checkpoint_offsets(lg_engine_t *engine, const char *file,
                                   offset_of_fn offset_of) {
    lgi_buf_t body = LGI_BUF_INIT;
    lg_err_t err = LG_OK;
    char line[512];
    size_t entries = 0;

    pthread_mutex_lock(&engine->meta_lock);
    pthread_rwlock_rdlock(&engine->topics_lock);
    for (size_t i = 0; i < engine->topic_count; i++)
        entries += (size_t)engine->topics[i]->partition_count;
    snprintf(line, sizeof line, "0\n%zu\n", entries);
    int failed = lgi_buf_append(&body, line, strlen(line));
    for (size_t i = 0; i < engine->topic_count && !failed; i++) {
        lgi_topic_t *t = engine->topics[i];
        for (int32_t p = 0; p < t->partition_count && !failed; p++) {
            snprintf(line, sizeof line, "%s %" PRId32 " %" PRId64 "\n",
                     t->name, p, offset_of(t->partitions[p]));
            failed = lgi_buf_append(&body, line, strlen(line));
        }
    }
    pthread_rwlock_unlock(&engine->topics_lock);
    if (failed) {
        err = lgi_error(LG_ERR_NOMEM, "out of memory writing %s", file);
    } else {
        char *path = engine_file(engine, file);
        err = path ? lgi_metafile_write(path, body.data, body.len)
                   : lgi_error(LG_ERR_NOMEM, "out of memory");
        free(path);
    }
    pthread_mutex_unlock(&engine->meta_lock);
    lgi_buf_free(&body);
    return err;
}

lg_err_t lgi_engine_checkpoint_recovery_points(lg_engine_t *engine) {
    return checkpoint_offsets(engine, RECOVERY_FILE,
                              lgi_partition_recovery_point);
}

lg_err_t lgi_engine_checkpoint_log_starts(lg_engine_t *engine) {
    lg_err_t err = checkpoint_offsets(engine, LOG_START_FILE,
                                      lgi_partition_log_start);
    if (err == LG_OK)
        err = checkpoint_offsets(engine, CLEANER_FILE, cleaner_offset_of);
    return err;
}

/* Finds "<topic> <partition> <offset>" in the recovery-point body; 0 (scan
 * everything) when absent. */
static int64_t recovery_point_of(const char *body, const char *topic,
                                 int32_t partition) {
    if (!body)
        return 0;
    size_t name_len = strlen(topic);
    const char *line = body;
    /* skip version and count lines */
    for (int skip = 0; skip < 2 && line; skip++) {
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    for (; line && *line; line = strchr(line, '\n'), line = line ? line + 1
                                                                  : NULL) {
        if (strncmp(line, topic, name_len) != 0 || line[name_len] != ' ')
            continue;
        char *end;
        long part = strtol(line + name_len + 1, &end, 10);
        if (part != partition || *end != ' ')
            continue;
        long long offset = strtoll(end + 1, &end, 10);
        return offset >= 0 ? offset : 0;
    }
    return 0;
}

/* Empties a directory left by a crashed create so a new topic of the same
 * name never inherits stale records. */
static void empty_directory(const char *path) {
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (entry->d_name[0] == '.' &&
            (entry->d_name[1] == '\0' ||
             (entry->d_name[1] == '.' && entry->d_name[2] == '\0')))
            continue;
        char *file;
        if (asprintf(&file, "%s/%s", path, entry->d_name) >= 0) {
            unlink(file);
            free(file);
        }
    }
    closedir(d);
}

/* Makes (or, with fresh, empties) the directories of partitions
 * [from, to) of topic name and opens them into partitions[].  fresh is for
 * new partitions: a directory left by a crashed create or an interrupted
 * delete must not leak old records into them.  On failure the partitions
 * opened here are closed again. */
static lg_err_t open_partition_range(lg_engine_t *engine, const char *name,
                                     const lg_conf_t *effective,
                                     lgi_partition_t **partitions,
                                     int32_t from, int32_t to,
                                     const char *recovery_body,
                                     const char *log_start_body,
                                     const char *cleaner_body,
                                     int clean_shutdown, int fresh) {
    lgi_log_config_t config;
    lgi_conf_log_config(effective, &config);
    lg_err_t err = LG_OK;
    int32_t p;
    for (p = from; p < to && !err; p++) {
        char *path = partition_path(engine, name, p);
        if (!path) {
            err = lgi_error(LG_ERR_NOMEM, "out of memory");
            break;
        }
        if (mkdir(path, 0700) != 0) {
            if (errno != EEXIST)
                err = lgi_error_errno(LG_ERR_IO, errno, "mkdir %s", path);
            else if (fresh)
                empty_directory(path);
        }
        if (!err)
            err = lgi_partition_open(
                path, &config, engine->io,
                recovery_point_of(recovery_body, name, p), clean_shutdown,
                lgi_engine_now_ms(engine), &partitions[p]);
        free(path);
        if (err)
            break;
        /* Finish what retention decided before a crash; resume cleaning
         * where it stopped. */
        if (log_start_body &&
            (err = lgi_partition_set_log_start(
                 partitions[p], recovery_point_of(log_start_body, name, p))))
            break;
        if (cleaner_body)
            lgi_partition_set_cleaner_offset(
                partitions[p], recovery_point_of(cleaner_body, name, p));
        /* Without replication this engine is the partition's only leader:
         * it keeps the epoch it last had (0 for a new partition), so every
         * batch carries a real epoch and leader-epoch-checkpoint exists. */
        int32_t epoch = lgi_partition_latest_epoch(partitions[p]);
        err = lgi_partition_set_leader_epoch(partitions[p],
                                             epoch < 0 ? 0 : epoch);
    }
    if (!err && fresh)
        err = lgi_fsync_dir(engine->dir);
    if (err) {
        for (int32_t q = from; q < to; q++) {
            lgi_partition_close(partitions[q]);
            partitions[q] = NULL;
        }
    }
    return err;
}

static void close_partitions(lgi_topic_t *topic) {
    for (int32_t p = 0; p < topic->partition_count; p++) {
        lgi_partition_close(topic->partitions[p]);
        topic->partitions[p] = NULL;
    }
}

static lgi_topic_t *topic_new(const char *name, int32_t partitions) {
    lgi_topic_t *topic = lgi_calloc(1, sizeof *topic);
    if (!topic)
        return NULL;
    atomic_init(&topic->refs, 1);
    topic->name = lgi_strdup(name);
    topic->partitions = lgi_calloc((size_t)partitions,
                                   sizeof *topic->partitions);
    topic->partition_count = partitions;
    if (!topic->name || !topic->partitions) {
        topic_free(topic);
        return NULL;
    }
    return topic;
}

static int add_topic(lg_engine_t *engine, lgi_topic_t *topic) {
    if (engine->topic_count == engine->topic_cap) {
        size_t cap = engine->topic_cap ? engine->topic_cap * 2 : 8;
        lgi_topic_t **topics =
            lgi_realloc(engine->topics, cap * sizeof *topics);
        if (!topics)
            return -1;
        engine->topics = topics;
        engine->topic_cap = cap;
    }
    engine->topics[engine->topic_count++] = topic;
    return 0;
}

static lgi_topic_t *find_topic(lg_engine_t *engine, const char *name) {
    for (size_t i = 0; i < engine->topic_count; i++)
        if (strcmp(engine->topics[i]->name, name) == 0)
            return engine->topics[i];
    return NULL;
}

static int parse_hex_id(const char *hex, uint8_t id[16]) {
    for (int b = 0; b < 16; b++) {
        unsigned v;
        if (sscanf(hex + 2 * b, "%2x", &v) != 1)
            return -1;
        id[b] = (uint8_t)v;
    }
    return 0;
}

/* The body of an engine metafile, or NULL when missing or damaged. */
static char *read_optional(lg_engine_t *engine, const char *file) {
    char *path = engine_file(engine, file), *body = NULL;
    size_t len;
    if (path && lgi_metafile_exists(path) &&
        lgi_metafile_read(path, &body, &len) != LG_OK)
        body = NULL;
    free(path);
    return body;
}

static lgi_replica_assignment_t *find_assignment(const lgi_topic_t *topic,
                                                 int32_t partition) {
    for (lgi_replica_assignment_t *a = topic->assignments; a; a = a->next)
        if (a->partition == partition)
            return a;
    return NULL;
}

/* "replicas <topic> <partition> <id>,<id>,..." of the topics file: the
 * topic line comes first; ids are distinct and non-negative. */
static lg_err_t parse_replicas_line(lg_engine_t *engine, const char *path,
                                    const char *line) {
    char name[256], list[512];
    long partition;
    lgi_topic_t *topic = NULL;
    lgi_replica_assignment_t a = {0};
    int ok = sscanf(line, "replicas %255s %ld %511s", name, &partition,
                    list) == 3 &&
             (topic = find_topic(engine, name)) != NULL && partition >= 0 &&
             partition < topic->partition_count &&
             !find_assignment(topic, (int32_t)partition);
    for (char *p = list, *end; ok; p = end + 1) {
        long id = strtol(p, &end, 10);
        ok = end != p && id >= 0 && id <= INT32_MAX &&
             a.count < LGI_MAX_REPLICAS && (*end == ',' || *end == '\0');
        for (size_t k = 0; ok && k < a.count; k++)
            ok = a.nodes[k] != (int32_t)id;
        if (ok)
            a.nodes[a.count++] = (int32_t)id;
        if (!ok || *end == '\0')
            break;
    }
    if (!ok)
        return lgi_error(LG_ERR_CORRUPT, "%s: bad replicas line \"%s\"",
                         path, line);
    lgi_replica_assignment_t *copy = lgi_malloc(sizeof *copy);
    if (!copy)
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    *copy = a;
    copy->partition = (int32_t)partition;
    copy->next = topic->assignments;
    topic->assignments = copy;
    return LG_OK;
}

lg_err_t lgi_topics_load(lg_engine_t *engine, int clean_shutdown) {
    char *topics_path = engine_file(engine, TOPICS_FILE);
    char *recovery_path = engine_file(engine, RECOVERY_FILE);
    char *body = NULL, *recovery_body = NULL;
    char *log_start_body = NULL, *cleaner_body = NULL;
    size_t len;
    lg_err_t err = LG_OK;
    if (!topics_path || !recovery_path) {
        err = lgi_error(LG_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!lgi_metafile_exists(topics_path))
        goto out; /* a new data directory */
    if ((err = lgi_metafile_read(topics_path, &body, &len)))
        goto out;
    if (lgi_metafile_exists(recovery_path) &&
        lgi_metafile_read(recovery_path, &recovery_body, &len) != LG_OK) {
        /* Damaged checkpoint: scan everything, and distrust the clean
         * marker too since the files disagree about the last shutdown. */
        recovery_body = NULL;
        clean_shutdown = 0;
    }
    log_start_body = read_optional(engine, LOG_START_FILE);
    cleaner_body = read_optional(engine, CLEANER_FILE);
    lgi_error_clear();

    char *save = NULL;
    char *line = strtok_r(body, "\n", &save);
    if (!line || strcmp(line, "liblog-topics 1") != 0) {
        err = lgi_error(LG_ERR_CORRUPT, "%s: unknown format or version",
                        topics_path);
        goto out;
    }
    /* First pass: topics and their configs. */
    while ((line = strtok_r(NULL, "\n", &save))) {
        char name[256], rest[256];
        long count;
        if (sscanf(line, "topic %255s %ld %255s", name, &count, rest) == 3) {
            if (lgi_topic_name_validate(name) || count < 1 ||
                count > PARTITIONS_MAX || strlen(rest) != 32) {
                err = lgi_error(LG_ERR_CORRUPT, "%s: bad topic line \"%s\"",
                                topics_path, line);
                goto out;
            }
            lgi_topic_t *topic = topic_new(name, (int32_t)count);
            if (!topic || add_topic(engine, topic) != 0) {
                topic_free(topic);
                err = lgi_error(LG_ERR_NOMEM, "out of memory");
                goto out;
            }
            parse_hex_id(rest, topic->topic_id);
            topic->effective = engine->conf;
            topic->effective.set_mask = 0;
            lg_conf_t *defaults = lg_conf_new();
            if (!defaults) {
                err = lgi_error(LG_ERR_NOMEM, "out of memory");
                goto out;
            }
            topic->overrides = *defaults;
            lg_conf_destroy(defaults);
        } else if (sscanf(line, "config %255s %255s", name, rest) == 2) {
            lgi_topic_t *topic = find_topic(engine, name);
            char *eq = strchr(rest, '=');
            if (!topic || !eq) {
                err = lgi_error(LG_ERR_CORRUPT, "%s: bad config line \"%s\"",
                                topics_path, line);
                goto out;
            }
            *eq = '\0';
            if ((err = lg_conf_set(&topic->overrides, rest, eq + 1))) {
                err = lgi_error(LG_ERR_CORRUPT, "%s: topic %s: %s",
                                topics_path, name, lg_last_error_message());
                goto out;
            }
            lgi_conf_overlay(&topic->effective, &topic->overrides);
        } else if (strncmp(line, "replicas ", 9) == 0) {
            if ((err = parse_replicas_line(engine, topics_path, line)))
                goto out;
        } else {
            err = lgi_error(LG_ERR_CORRUPT, "%s: unreadable line \"%s\"",
                            topics_path, line);
            goto out;
        }
    }
    for (size_t i = 0; i < engine->topic_count; i++) {
        lgi_topic_t *t = engine->topics[i];
        if ((err = open_partition_range(engine, t->name, &t->effective,
                                        t->partitions, 0, t->partition_count,
                                        recovery_body, log_start_body,
                                        cleaner_body, clean_shutdown, 0)))
            goto out;
        for (lgi_replica_assignment_t *a = t->assignments; a; a = a->next)
            lgi_replication_hold(t->partitions[a->partition]);
    }
out:
    lgi_free(body);
    lgi_free(recovery_body);
    lgi_free(log_start_body);
    lgi_free(cleaner_body);
    free(topics_path);
    free(recovery_path);
    return err;
}

lg_err_t lgi_topics_close(lg_engine_t *engine) {
    lg_err_t first = LG_OK;
    for (size_t i = 0; i < engine->topic_count; i++) {
        lgi_topic_t *t = engine->topics[i];
        for (int32_t p = 0; p < t->partition_count; p++) {
            lg_err_t err = lgi_partition_close(t->partitions[p]);
            if (err && !first)
                first = err;
        }
        topic_free(t);
    }
    lgi_free(engine->topics);
    engine->topics = NULL;
    engine->topic_count = engine->topic_cap = 0;
    return first;
}

lg_err_t lgi_engine_acquire(lg_engine_t *engine, const char *topic,
                            int32_t partition, lgi_partition_ref_t *ref) {
    if (!engine || !topic)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "engine and topic must not be NULL");
    pthread_rwlock_rdlock(&engine->topics_lock);
    lgi_topic_t *t = find_topic(engine, topic);
    if (!t) {
        pthread_rwlock_unlock(&engine->topics_lock);
        return lgi_error(LG_ERR_UNKNOWN_TOPIC, "topic \"%s\" does not exist",
                         topic);
    }
    int32_t count = t->partition_count;
    if (partition != LG_PARTITION_ANY && (partition < 0 || partition >= count)) {
        pthread_rwlock_unlock(&engine->topics_lock);
        return lgi_error(LG_ERR_UNKNOWN_PARTITION,
                         "topic \"%s\" has partitions 0..%" PRId32
                         ", not %" PRId32,
                         topic, count - 1, partition);
    }
    atomic_fetch_add(&t->refs, 1);
    ref->topic = t;
    ref->partition_count = count;
    ref->partition = partition == LG_PARTITION_ANY ? NULL
                                                   : t->partitions[partition];
    ref->conf = t->effective;
    pthread_rwlock_unlock(&engine->topics_lock);
    return LG_OK;
}

void lgi_topic_release(lg_engine_t *engine, lgi_topic_t *topic) {
    if (atomic_fetch_sub(&topic->refs, 1) != 1)
        return;
    /* Only a deleted topic can reach zero: the table holds a reference
     * otherwise.  Move it from deleting to the graveyard. */
    pthread_mutex_lock(&engine->maintenance_lock);
    for (lgi_topic_t **link = &engine->deleting; *link;
         link = &(*link)->next_dead) {
        if (*link == topic) {
            *link = topic->next_dead;
            break;
        }
    }
    topic->next_dead = engine->graveyard;
    engine->graveyard = topic;
    pthread_cond_signal(&engine->maintenance_wake);
    pthread_mutex_unlock(&engine->maintenance_lock);
}

void lgi_engine_release(lg_engine_t *engine, lgi_partition_ref_t *ref) {
    if (ref->topic)
        lgi_topic_release(engine, ref->topic);
    ref->topic = NULL;
    ref->partition = NULL;
}

static int deletion_pending(lg_engine_t *engine, const char *name) {
    int pending = 0;
    pthread_mutex_lock(&engine->maintenance_lock);
    for (lgi_topic_t *t = engine->deleting; t && !pending; t = t->next_dead)
        pending = strcmp(t->name, name) == 0;
    pthread_mutex_unlock(&engine->maintenance_lock);
    return pending;
}

LG_API lg_err_t lg_topic_create(lg_engine_t *engine, const char *name,
                                int32_t partitions,
                                const lg_conf_t *topic_conf) {
    lgi_error_clear();
    if (!engine)
        return lgi_error(LG_ERR_INVALID_ARG, "engine must not be NULL");
    lg_err_t err = lgi_topic_name_validate(name);
    if (err)
        return err;
    if ((err = lgi_authorize(engine, LG_OP_CREATE, LG_RESOURCE_TOPIC, name)))
        return err;
    if (partitions < 1 || partitions > PARTITIONS_MAX)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "partitions must be between 1 and %d, got %" PRId32,
                         PARTITIONS_MAX, partitions);
    if (topic_conf && (err = lgi_conf_check_scope(topic_conf, LGI_SCOPE_TOPIC, "a topic")))
        return err;

    pthread_mutex_lock(&engine->meta_lock);
    pthread_rwlock_rdlock(&engine->topics_lock);
    int exists = find_topic(engine, name) != NULL;
    pthread_rwlock_unlock(&engine->topics_lock);
    if (exists) {
        pthread_mutex_unlock(&engine->meta_lock);
        return lgi_error(LG_ERR_TOPIC_EXISTS, "topic \"%s\" already exists",
                         name);
    }
    /* A deleted incarnation must be gone from disk before its name's
     * directories are reused: finish removals that are due now, and
     * refuse (as Kafka does for a topic "marked for deletion") while
     * operations still hold the old one. */
    lgi_topics_bury(engine);
    if (deletion_pending(engine, name)) {
        pthread_mutex_unlock(&engine->meta_lock);
        return lgi_error(LG_ERR_TOPIC_EXISTS,
                         "topic \"%s\" is marked for deletion: operations "
                         "on it are still running; retry once they finish",
                         name);
    }
    lgi_topic_t *topic = topic_new(name, partitions);
    if (!topic) {
        pthread_mutex_unlock(&engine->meta_lock);
        return lgi_error(LG_ERR_NOMEM, "out of memory creating topic");
    }
    if (getrandom(topic->topic_id, sizeof topic->topic_id, 0) !=
        (ssize_t)sizeof topic->topic_id) {
        /* The id only needs to differ between incarnations of a name. */
        int64_t now = lgi_engine_now_ms(engine);
        memcpy(topic->topic_id, &now, sizeof now);
    }
    lg_conf_t *defaults = lg_conf_new();
    if (!defaults) {
        err = lgi_error(LG_ERR_NOMEM, "out of memory creating topic");
        goto fail;
    }
    topic->overrides = *defaults;
    lg_conf_destroy(defaults);
    if (topic_conf)
        lgi_conf_overlay(&topic->overrides, topic_conf);
    topic->effective = engine->conf;
    topic->effective.set_mask = 0;
    lgi_conf_overlay(&topic->effective, &topic->overrides);

    if ((err = open_partition_range(engine, name, &topic->effective,
                                    topic->partitions, 0, partitions, NULL,
                                    NULL, NULL, 0, 1)))
        goto fail;
    /* Commit point. */
    err = persist_topics(engine, topic);
    if (err)
        goto fail;
    pthread_rwlock_wrlock(&engine->topics_lock);
    int added = add_topic(engine, topic);
    pthread_rwlock_unlock(&engine->topics_lock);
    atomic_fetch_add(&engine->topics_version, 1);
    if (added != 0) {
        /* Durable but not in memory: the next open will see it; fail the
         * call so the caller knows this engine cannot use it now. */
        err = lgi_error(LG_ERR_NOMEM, "out of memory registering topic");
        goto fail;
    }
    pthread_mutex_unlock(&engine->meta_lock);
    return LG_OK;
fail:
    close_partitions(topic);
    topic_free(topic);
    pthread_mutex_unlock(&engine->meta_lock);
    return err;
}

LG_API lg_err_t lg_topic_partition_count(lg_engine_t *engine,
                                         const char *name, int32_t *countp) {
    lgi_error_clear();
    if (!engine || !name || !countp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "engine, name and countp must not be NULL");
    lg_err_t denied = lgi_authorize(engine, LG_OP_DESCRIBE, LG_RESOURCE_TOPIC,
                                    name);
    if (denied)
        return denied;
    pthread_rwlock_rdlock(&engine->topics_lock);
    lgi_topic_t *t = find_topic(engine, name);
    if (t)
        *countp = t->partition_count;
    pthread_rwlock_unlock(&engine->topics_lock);
    if (!t)
        return lgi_error(LG_ERR_UNKNOWN_TOPIC, "topic \"%s\" does not exist",
                         name);
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Administration: list, delete, add partitions, per-topic config
 * --------------------------------------------------------------------- */

LG_API lg_err_t lg_topic_list(lg_engine_t *engine, lg_strings_t **namesp) {
    lgi_error_clear();
    if (!engine || !namesp)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "engine and namesp must not be NULL");
    *namesp = NULL;
    pthread_rwlock_rdlock(&engine->topics_lock);
    const char **names =
        lgi_calloc(engine->topic_count ? engine->topic_count : 1,
                   sizeof *names);
    size_t count = engine->topic_count;
    for (size_t i = 0; names && i < count; i++)
        names[i] = engine->topics[i]->name;
    lg_strings_t *list = names ? lgi_strings_new(names, count, 1) : NULL;
    pthread_rwlock_unlock(&engine->topics_lock);
    lgi_free(names);
    if (!list)
        return lgi_error(LG_ERR_NOMEM, "out of memory listing topics");
    *namesp = list;
    return LG_OK;
}

static void remove_from_table(lg_engine_t *engine, lgi_topic_t *topic) {
    for (size_t i = 0; i < engine->topic_count; i++) {
        if (engine->topics[i] == topic) {
            engine->topics[i] = engine->topics[--engine->topic_count];
            return;
        }
    }
}

LG_API lg_err_t lg_topic_delete(lg_engine_t *engine, const char *name) {
    lgi_error_clear();
    if (!engine || !name)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "engine and name must not be NULL");
    lg_err_t denied = lgi_authorize(engine, LG_OP_DELETE, LG_RESOURCE_TOPIC,
                                    name);
    if (denied)
        return denied;
    pthread_mutex_lock(&engine->meta_lock);
    pthread_rwlock_wrlock(&engine->topics_lock);
    lgi_topic_t *topic = find_topic(engine, name);
    if (topic)
        remove_from_table(engine, topic);
    pthread_rwlock_unlock(&engine->topics_lock);
    if (!topic) {
        pthread_mutex_unlock(&engine->meta_lock);
        return lgi_error(LG_ERR_UNKNOWN_TOPIC, "topic \"%s\" does not exist",
                         name);
    }
    /* Commit point: the topic is gone once the metadata says so. */
    lg_err_t err = persist_topics(engine, NULL);
    if (err) {
        pthread_rwlock_wrlock(&engine->topics_lock);
        int failed = add_topic(engine, topic);
        pthread_rwlock_unlock(&engine->topics_lock);
        /* add_topic cannot fail here: the slot it vacated is free. */
        (void)failed;
        pthread_mutex_unlock(&engine->meta_lock);
        return err;
    }
    topic->deleted = 1;
    atomic_fetch_add(&engine->topics_version, 1);
    pthread_mutex_lock(&engine->maintenance_lock);
    topic->next_dead = engine->deleting;
    engine->deleting = topic;
    pthread_mutex_unlock(&engine->maintenance_lock);
    pthread_mutex_unlock(&engine->meta_lock);
    lgi_log(&engine->logger, LG_LOG_INFO,
            "topic \"%s\" deleted (%d partitions); its files are removed "
            "once the last operation using it finishes",
            topic->name, (int)topic->partition_count);
    lgi_topic_release(engine, topic); /* the table's reference */
    return LG_OK;
}

/* Looks up name for an admin call that holds meta_lock.  Only meta_lock
 * holders change the topic set, a topic's partitions and its
 * configuration, so the pointer and those fields stay stable while the
 * caller holds it, without the topics lock. */
static lg_err_t find_topic_for_admin(lg_engine_t *engine, const char *name,
                                     lgi_topic_t **topicp) {
    pthread_rwlock_rdlock(&engine->topics_lock);
    *topicp = find_topic(engine, name);
    pthread_rwlock_unlock(&engine->topics_lock);
    if (!*topicp)
        return lgi_error(LG_ERR_UNKNOWN_TOPIC, "topic \"%s\" does not exist",
                         name);
    return LG_OK;
}

/* The prologue of the ALTER calls: authorization, then the metadata lock
 * and the lookup.  On LG_OK the caller holds meta_lock and must release
 * it; on failure nothing is held. */
static lg_err_t begin_alter(lg_engine_t *engine, const char *name,
                            lgi_topic_t **topicp) {
    lg_err_t err = lgi_authorize(engine, LG_OP_ALTER, LG_RESOURCE_TOPIC, name);
    if (err)
        return err;
    pthread_mutex_lock(&engine->meta_lock);
    if ((err = find_topic_for_admin(engine, name, topicp)))
        pthread_mutex_unlock(&engine->meta_lock);
    return err;
}

LG_API lg_err_t lg_topic_add_partitions(lg_engine_t *engine, const char *name,
                                        int32_t partition_count) {
    lgi_error_clear();
    if (!engine || !name)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "engine and name must not be NULL");
    lgi_topic_t *topic;
    lg_err_t err = begin_alter(engine, name, &topic);
    if (err)
        return err;
    int32_t old_count = topic->partition_count;
    if (partition_count <= old_count || partition_count > PARTITIONS_MAX) {
        err = lgi_error(LG_ERR_INVALID_ARG,
                        "topic \"%s\" has %" PRId32 " partitions; the new "
                        "count must be larger and at most %d, got %" PRId32,
                        name, old_count, PARTITIONS_MAX, partition_count);
        goto out;
    }
    lgi_partition_t **grown = lgi_calloc((size_t)partition_count,
                                         sizeof *grown);
    if (!grown) {
        err = lgi_error(LG_ERR_NOMEM, "out of memory adding partitions");
        goto out;
    }
    /* Open the new partitions first; they become visible only after the
     * metadata naming them is durable. */
    err = open_partition_range(engine, name, &topic->effective, grown,
                               old_count, partition_count, NULL, NULL,
                               NULL, 0, 1);
    if (!err) {
        pthread_rwlock_rdlock(&engine->topics_lock);
        topic->partition_count = partition_count; /* for the file only */
        err = write_topics_file(engine, NULL);
        topic->partition_count = old_count;
        pthread_rwlock_unlock(&engine->topics_lock);
    }
    if (err) {
        for (int32_t p = old_count; p < partition_count; p++)
            lgi_partition_close(grown[p]);
        lgi_free(grown);
        goto out;
    }
    pthread_rwlock_wrlock(&engine->topics_lock);
    memcpy(grown, topic->partitions, (size_t)old_count * sizeof *grown);
    lgi_free(topic->partitions);
    topic->partitions = grown;
    topic->partition_count = partition_count;
    pthread_rwlock_unlock(&engine->topics_lock);
    atomic_fetch_add(&engine->topics_version, 1);
out:
    pthread_mutex_unlock(&engine->meta_lock);
    return err;
}

LG_API lg_err_t lg_topic_config_get(lg_engine_t *engine, const char *name,
                                    const char *property, char *buf,
                                    size_t *size, int *is_overridep) {
    lgi_error_clear();
    if (!property || !size)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "property and size must not be NULL");
    if (!engine)
        return lgi_error(LG_ERR_INVALID_ARG, "engine must not be NULL");
    lg_err_t err = lgi_authorize(engine, LG_OP_DESCRIBE, LG_RESOURCE_TOPIC,
                                 name);
    if (err)
        return err;
    lgi_partition_ref_t ref;
    err = lgi_engine_acquire(engine, name, LG_PARTITION_ANY, &ref);
    if (err)
        return err;
    err = lg_conf_get(&ref.conf, property, buf, size);
    if (is_overridep)
        *is_overridep = lgi_conf_is_set(&ref.conf, property);
    lgi_engine_release(engine, &ref);
    return err;
}

LG_API lg_err_t lg_topic_config_set(lg_engine_t *engine, const char *name,
                                    const char *property, const char *value) {
    lgi_error_clear();
    if (!engine || !name || !property)
        return lgi_error(LG_ERR_INVALID_ARG,
                         "engine, name and property must not be NULL");
    lgi_topic_t *topic;
    lg_err_t err = begin_alter(engine, name, &topic);
    if (err)
        return err;
    lg_conf_t overrides = topic->overrides;
    if (value)
        err = lg_conf_set(&overrides, property, value);
    else
        err = lgi_conf_unset(&overrides, property);
    if (!err)
        err = lgi_conf_check_scope(&overrides, LGI_SCOPE_TOPIC, "a topic");
    if (err)
        goto out;
    lg_conf_t effective = engine->conf;
    effective.set_mask = 0;
    lgi_conf_overlay(&effective, &overrides);
    lg_conf_t old_overrides = topic->overrides, old_effective = topic->effective;
    pthread_rwlock_wrlock(&engine->topics_lock);
    topic->overrides = overrides;
    topic->effective = effective;
    pthread_rwlock_unlock(&engine->topics_lock);
    err = persist_topics(engine, NULL);
    if (err) {
        pthread_rwlock_wrlock(&engine->topics_lock);
        topic->overrides = old_overrides;
        topic->effective = old_effective;
        pthread_rwlock_unlock(&engine->topics_lock);
        goto out;
    }
    lgi_log_config_t config;
    lgi_conf_log_config(&effective, &config);
    for (int32_t p = 0; p < topic->partition_count; p++)
        lgi_partition_set_config(topic->partitions[p], &config);
out:
    pthread_mutex_unlock(&engine->meta_lock);
    return err;
}

/* ------------------------------------------------------------------------
 * Replica assignments
 * --------------------------------------------------------------------- */

lg_err_t lgi_topic_claim_replicas(lg_engine_t *engine, const char *name,
                                  int32_t partition, const int32_t *nodes,
                                  size_t count,
                                  lgi_replica_assignment_t *current,
                                  int *claimed) {
    *claimed = 0;
    if (count == 0 || count > LGI_MAX_REPLICAS)
        return lgi_error(LG_ERR_INVALID_ARG, "%zu replicas: between 1 and %d",
                         count, LGI_MAX_REPLICAS);
    pthread_mutex_lock(&engine->meta_lock);
    lgi_topic_t *topic;
    lg_err_t err = find_topic_for_admin(engine, name, &topic);
    if (!err && (partition < 0 || partition >= topic->partition_count))
        err = lgi_error(LG_ERR_UNKNOWN_PARTITION,
                        "topic \"%s\" has partitions 0..%" PRId32
                        ", not %" PRId32,
                        name, topic->partition_count - 1, partition);
    if (err) {
        pthread_mutex_unlock(&engine->meta_lock);
        return err;
    }
    lgi_replica_assignment_t *existing = find_assignment(topic, partition);
    if (existing) {
        *current = *existing;
        pthread_mutex_unlock(&engine->meta_lock);
        return LG_OK;
    }
    lgi_replica_assignment_t *a = lgi_calloc(1, sizeof *a);
    if (!a) {
        pthread_mutex_unlock(&engine->meta_lock);
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    }
    a->partition = partition;
    a->count = count;
    memcpy(a->nodes, nodes, count * sizeof *nodes);
    pthread_rwlock_wrlock(&engine->topics_lock);
    a->next = topic->assignments;
    topic->assignments = a;
    pthread_rwlock_unlock(&engine->topics_lock);
    err = persist_topics(engine, NULL);
    if (err) {
        pthread_rwlock_wrlock(&engine->topics_lock);
        topic->assignments = a->next;
        pthread_rwlock_unlock(&engine->topics_lock);
        lgi_free(a);
    } else {
        *current = *a;
        *claimed = 1;
    }
    pthread_mutex_unlock(&engine->meta_lock);
    return err;
}

void lgi_topic_unclaim_replicas(lg_engine_t *engine, const char *name,
                                int32_t partition) {
    pthread_mutex_lock(&engine->meta_lock);
    lgi_topic_t *topic;
    if (find_topic_for_admin(engine, name, &topic) == LG_OK) {
        pthread_rwlock_wrlock(&engine->topics_lock);
        lgi_replica_assignment_t *gone = NULL;
        for (lgi_replica_assignment_t **link = &topic->assignments; *link;
             link = &(*link)->next)
            if ((*link)->partition == partition) {
                gone = *link;
                *link = gone->next;
                break;
            }
        pthread_rwlock_unlock(&engine->topics_lock);
        if (gone) {
            (void)persist_topics(engine, NULL); /* best effort */
            lgi_free(gone);
        }
    }
    lgi_error_clear();
    pthread_mutex_unlock(&engine->meta_lock);
}

lg_err_t lgi_topic_replica_sets(lg_engine_t *engine,
                                lgi_replica_assignment_t **setsp,
                                char ***namesp, size_t *countp) {
    *setsp = NULL;
    *namesp = NULL;
    *countp = 0;
    pthread_rwlock_rdlock(&engine->topics_lock);
    size_t count = 0;
    for (size_t i = 0; i < engine->topic_count; i++)
        for (lgi_replica_assignment_t *a = engine->topics[i]->assignments; a;
             a = a->next)
            count++;
    lgi_replica_assignment_t *sets =
        lgi_calloc(count ? count : 1, sizeof *sets);
    char **names = lgi_calloc(count ? count : 1, sizeof *names);
    size_t n = 0;
    int failed = !sets || !names;
    for (size_t i = 0; i < engine->topic_count && !failed; i++)
        for (lgi_replica_assignment_t *a = engine->topics[i]->assignments;
             a && !failed; a = a->next) {
            sets[n] = *a;
            sets[n].next = NULL;
            names[n] = lgi_strdup(engine->topics[i]->name);
            failed = !names[n++];
        }
    pthread_rwlock_unlock(&engine->topics_lock);
    if (failed) {
        for (size_t k = 0; names && k < n; k++)
            lgi_free(names[k]);
        lgi_free(names);
        lgi_free(sets);
        return lgi_error(LG_ERR_NOMEM, "out of memory");
    }
    *setsp = sets;
    *namesp = names;
    *countp = n;
    return LG_OK;
}

/* ------------------------------------------------------------------------
 * Removing deleted topics
 * --------------------------------------------------------------------- */

/* Renames dir to dir.<id>-delete (Kafka's marker for a deletion in
 * progress) and removes it recursively. */
static void remove_partition_directory(const char *path, const char *id) {
    char *doomed;
    if (asprintf(&doomed, "%s.%s-delete", path, id) < 0)
        return;
    if (rename(path, doomed) == 0) {
        empty_directory(doomed);
        rmdir(doomed);
    }
    free(doomed);
}

void lgi_topics_bury(lg_engine_t *engine) {
    pthread_mutex_lock(&engine->bury_lock);
    pthread_mutex_lock(&engine->maintenance_lock);
    lgi_topic_t *dead = engine->graveyard;
    engine->graveyard = NULL;
    pthread_mutex_unlock(&engine->maintenance_lock);
    while (dead) {
        lgi_topic_t *next = dead->next_dead;
        char id[33];
        for (int b = 0; b < 16; b++)
            snprintf(id + 2 * b, 3, "%02x", dead->topic_id[b]);
        for (int32_t p = 0; p < dead->partition_count; p++) {
            lgi_partition_close(dead->partitions[p]);
            char *path = partition_path(engine, dead->name, p);
            if (path)
                remove_partition_directory(path, id);
            free(path);
        }
        lgi_fsync_dir(engine->dir);
        topic_free(dead);
        dead = next;
    }
    pthread_mutex_unlock(&engine->bury_lock);
}

void lgi_topics_remove_leftovers(lg_engine_t *engine) {
    DIR *d = opendir(engine->dir);
    if (!d)
        return;
    struct dirent *entry;
    size_t suffix = strlen("-delete");
    while ((entry = readdir(d))) {
        size_t len = strlen(entry->d_name);
        if (len <= suffix ||
            strcmp(entry->d_name + len - suffix, "-delete") != 0)
            continue;
        char *path = engine_file(engine, entry->d_name);
        if (path) {
            empty_directory(path);
            rmdir(path);
        }
        free(path);
    }
    closedir(d);
}
