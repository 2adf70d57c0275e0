/*
 * eos.c -- exactly-once consume-transform-produce: read an input topic in
 * a consumer group, uppercase every value, write it to an output topic,
 * and commit the output together with the input offsets in one
 * transaction, so that however often the program is killed and
 * restarted, every input record's output appears exactly once in what
 * read_committed consumers see.
 *
 *   usage: eos [-e] [-n records] <dir> <input-topic> <output-topic>
 *
 *   -e          exit once every assigned input partition is drained and
 *               the last transaction committed (else run until SIGINT or
 *               SIGTERM, which also commit what was read, then exit)
 *   -n records  records per transaction (default 100); a transaction is
 *               also committed when no record arrived for 100 ms
 *
 * The output record for input record (p, o) goes to the same partition p
 * of the output topic (created with the input's partition count if
 * missing), keyed "<input-topic>/<p>/<o>", so a duplicate would be
 * visible as two output records with the same key.  The consumer group
 * is "eos-<output-topic>" and the transactional.id "eos-<output-topic>-0":
 * both must stay the same across restarts, since they are what lets a
 * restarted instance resume where the last committed transaction ended
 * and fence a stale instance of itself.  Exit status: 0 done, 1 error,
 * 2 usage, 3 fenced by a newer instance.
 *
 * Why each step is what it is:
 *   - The consumer reads with isolation.level=read_committed, so output of
 *     an upstream transactional producer is seen only once committed, and
 *     with enable.auto.commit=false: the group's offsets move only inside
 *     our transactions (lg_producer_send_offsets_to_transaction).
 *   - The producer has a transactional.id; lg_producer_init_transactions
 *     aborts whatever a previous, killed instance left open and fences
 *     it, so a zombie can never commit after we started.
 *   - One transaction holds a chunk of output records *and* the input
 *     offsets after them.  Commit makes both visible at once; a crash
 *     before it leaves neither, and the restarted instance re-reads from
 *     the old offsets and produces the same output again -- once.
 */
#include <liblog.h>

#include <ctype.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDLE_COMMIT_MS 100

static volatile sig_atomic_t stopping;

static void on_signal(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

/* The program's state, shared with the rebalance callback. */
typedef struct app {
    lg_engine_t *engine;
    lg_consumer_t *consumer;
    lg_producer_t *producer;
    const char *input, *output, *group;
    int in_transaction;      /* begun, not yet committed or aborted */
    long in_this_transaction; /* records produced in the open one */
    long records, transactions, aborts;
    int fenced;
    char *scratch; /* the transformed value; grows to the largest */
    size_t scratch_size;
} app_t;

/* Prints what failed with the library's message. */
static void report(const char *what, lg_err_t err) {
    fprintf(stderr, "eos: %s: %s (%s)\n", what, lg_strerror(err),
            lg_last_error_message());
}

/* Moves every assigned partition back to the group's committed offset
 * (the beginning when the group has none yet).  After an abort our
 * position is past records whose output was just thrown away: reading
 * them again is what makes the abort lose nothing. */
static lg_err_t rewind_to_committed(app_t *app) {
    lg_topic_partition_list_t *assigned;
    lg_err_t err = lg_consumer_assignment(app->consumer, &assigned);
    if (err != LG_OK)
        return err;
    if ((err = lg_consumer_committed(app->consumer, assigned)) == LG_OK)
        for (size_t i = 0; i < lg_topic_partition_list_count(assigned); i++) {
            int64_t offset = lg_topic_partition_list_offset(assigned, i);
            err = lg_consumer_seek(
                app->consumer, lg_topic_partition_list_topic(assigned, i),
                lg_topic_partition_list_partition(assigned, i),
                offset >= 0 ? offset : LG_OFFSET_BEGINNING);
            if (err != LG_OK)
                break;
        }
    lg_topic_partition_list_destroy(assigned);
    return err;
}

/* Aborts the open transaction and rewinds.  Returns LG_OK, or the error
 * that makes carrying on unsafe (fencing among them). */
static lg_err_t abort_and_rewind(app_t *app) {
    lg_err_t err = lg_producer_abort_transaction(app->producer, -1);
    if (err == LG_ERR_PRODUCER_FENCED)
        app->fenced = 1;
    if (err != LG_OK)
        return err;
    app->in_transaction = 0;
    app->in_this_transaction = 0;
    app->aborts++;
    return rewind_to_committed(app);
}

/* Commits the open transaction: first the consumer's positions (the next
 * record to read in every assigned partition) as the group's offsets,
 * then the commit itself, which flushes the output records, and makes
 * records and offsets visible together.  LG_ERR_TXN_ABORTABLE (a record
 * could not be written) is handled here by aborting and rewinding. */
static lg_err_t commit(app_t *app) {
    if (!app->in_transaction)
        return LG_OK;
    lg_topic_partition_list_t *positions, *offsets;
    lg_err_t err = lg_consumer_assignment(app->consumer, &positions);
    if (err != LG_OK)
        return err;
    /* A partition that has not been read yet has no position to send. */
    offsets = lg_topic_partition_list_new();
    for (size_t i = 0; offsets && err == LG_OK &&
                       i < lg_topic_partition_list_count(positions);
         i++)
        if (lg_topic_partition_list_offset(positions, i) >= 0)
            err = lg_topic_partition_list_add(
                offsets, lg_topic_partition_list_topic(positions, i),
                lg_topic_partition_list_partition(positions, i),
                lg_topic_partition_list_offset(positions, i));
    lg_topic_partition_list_destroy(positions);
    if (!offsets)
        return LG_ERR_NOMEM;
    if (err == LG_OK)
        err = lg_producer_send_offsets_to_transaction(app->producer,
                                                      offsets, app->group);
    lg_topic_partition_list_destroy(offsets);
    if (err == LG_OK)
        err = lg_producer_commit_transaction(app->producer, -1);
    if (err == LG_OK) {
        app->in_transaction = 0;
        app->records += app->in_this_transaction;
        app->in_this_transaction = 0;
        app->transactions++;
        return LG_OK;
    }
    if (err == LG_ERR_TXN_ABORTABLE) {
        report("commit (aborting and re-reading)", err);
        return abort_and_rewind(app);
    }
    if (err == LG_ERR_PRODUCER_FENCED)
        app->fenced = 1;
    return err;
}

/* Rebalance callback, served from our own lg_consumer_poll.  On revoke,
 * the open transaction holds output for partitions about to go to another
 * member, which will start from the committed offsets: it must not
 * commit, so it is aborted before the partitions are let go.  On assign,
 * each partition starts at the group's committed offset
 * (LG_OFFSET_STORED), i.e. right after the last committed transaction. */
static void on_rebalance(void *opaque, lg_consumer_t *consumer,
                         lg_err_t event,
                         const lg_topic_partition_list_t *partitions) {
    app_t *app = opaque;
    if (event == LG_ERR_ASSIGN_PARTITIONS) {
        lg_consumer_incremental_assign(consumer, partitions);
        return;
    }
    if (app->in_transaction) {
        lg_err_t err = lg_producer_abort_transaction(app->producer, -1);
        if (err == LG_OK) {
            app->in_transaction = 0;
            app->in_this_transaction = 0;
            app->aborts++;
        } else {
            /* Carrying on could commit records of revoked partitions:
             * stop (a restart recovers; see main). */
            report("abort on revoke", err);
            app->fenced = err == LG_ERR_PRODUCER_FENCED;
            stopping = 1;
        }
    }
    lg_consumer_incremental_unassign(consumer, partitions);
}

/* The transform: the value uppercased, into out (len bytes). */
static void transform(const char *value, size_t len, char *out) {
    for (size_t i = 0; i < len; i++)
        out[i] = (char)toupper((unsigned char)value[i]);
}

/* Produces the output record for input message m inside the open
 * transaction (begun here if none is).  Returns the produce error. */
static lg_err_t process(app_t *app, const lg_message_t *m) {
    lg_err_t err;
    if (!app->in_transaction) {
        /* begin is local (no I/O): the coordinator hears of the
         * transaction with its first record. */
        if ((err = lg_producer_begin_transaction(app->producer)) != LG_OK)
            return err;
        app->in_transaction = 1;
    }
    size_t len;
    const char *value = lg_message_value(m, &len);
    if (len > app->scratch_size) {
        char *bigger = realloc(app->scratch, len);
        if (!bigger)
            return LG_ERR_NOMEM;
        app->scratch = bigger;
        app->scratch_size = len;
    }
    transform(value ? value : "", len, app->scratch);
    char key[300];
    int key_len = snprintf(key, sizeof key, "%s/%" PRId32 "/%" PRId64,
                           lg_message_topic(m), lg_message_partition(m),
                           lg_message_offset(m));
    /* Same partition as the input: output keeps the input's order. */
    while ((err = lg_produce(app->producer, app->output,
                             lg_message_partition(m), key, (size_t)key_len,
                             app->scratch, len, LG_TIMESTAMP_NOW, NULL)) ==
           LG_ERR_QUEUE_FULL)
        lg_producer_poll(app->producer, 10); /* memory full: let it drain */
    if (err == LG_OK)
        app->in_this_transaction++;
    return err;
}

/* Non-zero when every assigned partition's position has reached its last
 * stable offset: nothing more is readable under read_committed (-e). */
static int drained(app_t *app) {
    lg_topic_partition_list_t *assigned;
    if (lg_consumer_assignment(app->consumer, &assigned) != LG_OK)
        return 0;
    size_t count = lg_topic_partition_list_count(assigned);
    int done = count > 0;
    for (size_t i = 0; done && i < count; i++) {
        int64_t end;
        if (lg_watermarks_lso(app->engine,
                              lg_topic_partition_list_topic(assigned, i),
                              lg_topic_partition_list_partition(assigned, i),
                              &end) != LG_OK ||
            lg_topic_partition_list_offset(assigned, i) < end)
            done = 0;
    }
    lg_topic_partition_list_destroy(assigned);
    return done;
}

/* Creates the output topic like the input when it does not exist. */
static lg_err_t ensure_output(app_t *app) {
    int32_t partitions;
    lg_err_t err = lg_topic_partition_count(app->engine, app->input,
                                            &partitions);
    if (err != LG_OK)
        return err;
    err = lg_topic_create(app->engine, app->output, partitions, NULL);
    return err == LG_ERR_TOPIC_EXISTS ? LG_OK : err;
}

static lg_err_t make_clients(app_t *app) {
    char id[300];
    /* The consumer: a group member, committed reads only, offsets moved
     * only by our transactions; a new group starts at the beginning. */
    lg_conf_t *conf = lg_conf_new();
    lg_err_t err = conf ? LG_OK : LG_ERR_NOMEM;
    if (err == LG_OK)
        err = lg_conf_set(conf, "group.id", app->group);
    if (err == LG_OK)
        err = lg_conf_set(conf, "isolation.level", "read_committed");
    if (err == LG_OK)
        err = lg_conf_set(conf, "enable.auto.commit", "false");
    if (err == LG_OK)
        err = lg_conf_set(conf, "auto.offset.reset", "earliest");
    if (err == LG_OK)
        err = lg_conf_set(conf, "enable.partition.eof", "true");
    if (err == LG_OK)
        err = lg_consumer_new(app->engine, conf, &app->consumer);
    lg_conf_destroy(conf);
    if (err != LG_OK)
        return err;
    lg_consumer_set_rebalance_callback(app->consumer, on_rebalance, app);

    /* The producer: transactional (which implies idempotence and
     * acks=all).  init_transactions fences any older instance with this
     * transactional.id and finishes or aborts what it left open. */
    snprintf(id, sizeof id, "%s-0", app->group);
    conf = lg_conf_new();
    err = conf ? LG_OK : LG_ERR_NOMEM;
    if (err == LG_OK)
        err = lg_conf_set(conf, "transactional.id", id);
    if (err == LG_OK)
        err = lg_producer_new(app->engine, conf, &app->producer);
    lg_conf_destroy(conf);
    if (err == LG_OK)
        err = lg_producer_init_transactions(app->producer);
    if (err == LG_ERR_PRODUCER_FENCED)
        app->fenced = 1;
    if (err != LG_OK)
        return err;
    /* Subscribing last: partitions arrive through poll, and offsets are
     * read from the group only after the old instance was fenced. */
    const char *topics[] = {app->input};
    return lg_consumer_subscribe(app->consumer, topics, 1);
}

static int usage(void) {
    fprintf(stderr, "usage: eos [-e] [-n records] <dir> <input-topic> "
                    "<output-topic>\n");
    return 2;
}

int main(int argc, char **argv) {
    int exit_at_end = 0;
    long per_transaction = 100;
    int option;
    while ((option = getopt(argc, argv, "en:")) != -1) {
        if (option == 'e')
            exit_at_end = 1;
        else if (option == 'n' && (per_transaction = atol(optarg)) > 0)
            continue;
        else
            return usage();
    }
    if (argc - optind != 3)
        return usage();
    const char *dir = argv[optind];
    app_t app = {.input = argv[optind + 1], .output = argv[optind + 2]};
    char group[280];
    snprintf(group, sizeof group, "eos-%s", app.output);
    app.group = group;

    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    lg_err_t err = lg_engine_open(dir, NULL, &app.engine);
    if (err != LG_OK) {
        report(dir, err);
        return 1;
    }
    if ((err = ensure_output(&app)) != LG_OK)
        report("topics", err);
    else if ((err = make_clients(&app)) != LG_OK)
        report("clients", err);

    while (err == LG_OK && !stopping) {
        const lg_message_t *m;
        /* A short wait, so a quiet input still gets its open transaction
         * committed (and a signal noticed) within IDLE_COMMIT_MS. */
        if ((err = lg_consumer_poll(app.consumer, IDLE_COMMIT_MS, &m)) !=
            LG_OK) {
            report("poll", err);
            break;
        }
        if (!m || lg_message_error(m) == LG_ERR_PARTITION_EOF) {
            /* Idle or caught up: commit what is open. */
            if ((err = commit(&app)) != LG_OK) {
                report("commit", err);
                break;
            }
            if (exit_at_end && m && drained(&app))
                break;
            continue;
        }
        if (lg_message_error(m) != LG_OK)
            continue; /* another event: nothing to transform */
        err = process(&app, m);
        if (err == LG_ERR_PRODUCER_FENCED) {
            app.fenced = 1;
            report("produce", err);
            break;
        }
        if (err != LG_OK) {
            /* The record is not in the transaction: committing would lose
             * it.  Abort, and read it (and the rest) again. */
            report("produce (aborting and re-reading)", err);
            if ((err = abort_and_rewind(&app)) != LG_OK) {
                report("abort", err);
                break;
            }
            continue;
        }
        if (app.in_this_transaction >= per_transaction &&
            (err = commit(&app)) != LG_OK)
            report("commit", err);
    }
    /* A signal: keep what was processed (unless fenced or failing). */
    if (err == LG_OK && (err = commit(&app)) != LG_OK)
        report("commit", err);

    /* Any other failure leaves the transaction open or half-finished; we
     * exit without trying to repair it.  That is safe: the next
     * lg_producer_init_transactions with our transactional.id completes a
     * commit that was decided, aborts one that was not (the engine would
     * also abort it after transaction.timeout.ms), and the consumer
     * resumes from the offsets of the last committed transaction. */
    lg_consumer_destroy(app.consumer);
    lg_producer_destroy(app.producer);
    lg_engine_close(app.engine);
    free(app.scratch);
    printf("eos: %ld records in %ld transactions, %ld aborted\n",
           app.records, app.transactions, app.aborts);
    if (app.fenced) {
        fprintf(stderr, "eos: fenced: a newer instance with the same "
                        "transactional.id took over\n");
        return 3;
    }
    return err == LG_OK ? 0 : 1;
}
