/*
 * consumer.c -- the smallest complete consumer: assign every partition of
 * a topic from the beginning and print records as they arrive, until
 * Ctrl-C.
 *
 *   usage: consumer <dir> <topic>
 *
 * Each record prints as "events [1] offset 7: key-3 = message 3".  After
 * the backlog it keeps waiting for new records: a data directory is open in
 * one engine at a time, so in a real program the producer would run in the
 * same process (try `producer <dir> <topic>` first, then this).
 * SIGINT or SIGTERM ends it cleanly: a thread that waits for the signal
 * calls lg_consumer_wakeup, which ends the blocking poll at once.
 */
#include <liblog.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_int stopping;

/* Waits for SIGINT/SIGTERM (blocked in every thread, so only sigwait sees
 * them) and wakes the consumer.  lg_consumer_wakeup may be called from any
 * thread while another thread is inside lg_consumer_poll. */
static void *signal_thread(void *consumer) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    int signal_number;
    sigwait(&signals, &signal_number);
    atomic_store(&stopping, 1);
    lg_consumer_wakeup(consumer);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: consumer <dir> <topic>\n");
        return 1;
    }
    const char *dir = argv[1], *topic = argv[2];

    /* Block the signals before any thread starts (the engine's own threads
     * inherit the mask), so they are delivered to signal_thread only. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    lg_engine_t *engine;
    if (lg_engine_open(dir, NULL, &engine) != LG_OK) {
        fprintf(stderr, "open %s: %s\n", dir, lg_last_error_message());
        return 1;
    }
    int32_t partitions;
    if (lg_topic_partition_count(engine, topic, &partitions) != LG_OK) {
        fprintf(stderr, "%s: %s\n", topic, lg_last_error_message());
        lg_engine_close(engine);
        return 1;
    }
    lg_consumer_t *consumer;
    if (lg_consumer_new(engine, NULL, &consumer) != LG_OK) {
        fprintf(stderr, "consumer: %s\n", lg_last_error_message());
        lg_engine_close(engine);
        return 1;
    }
    /* Every partition, from the oldest record still in the log. */
    for (int32_t p = 0; p < partitions; p++)
        lg_consumer_assign(consumer, topic, p, LG_OFFSET_BEGINNING);

    pthread_t waiter;
    pthread_create(&waiter, NULL, signal_thread, consumer);

    long count = 0;
    while (!atomic_load(&stopping)) {
        const lg_message_t *message;
        /* Wait up to a second; a new record or a wakeup ends the wait
         * within microseconds.  NULL means timeout or wakeup. */
        if (lg_consumer_poll(consumer, 1000, &message) != LG_OK) {
            fprintf(stderr, "poll: %s\n", lg_last_error_message());
            break;
        }
        if (!message)
            continue;
        if (lg_message_error(message) != LG_OK) { /* an event, not a record */
            fprintf(stderr, "%s [%" PRId32 "]: %s\n", lg_message_topic(message),
                    lg_message_partition(message),
                    lg_strerror(lg_message_error(message)));
            continue;
        }
        /* Key and value point into the consumer's buffers (no copy) and
         * stay valid until the next poll. */
        size_t key_len, value_len;
        const char *key = lg_message_key(message, &key_len);
        const char *value = lg_message_value(message, &value_len);
        printf("%s [%" PRId32 "] offset %" PRId64 ": %.*s = %.*s\n",
               lg_message_topic(message), lg_message_partition(message),
               lg_message_offset(message), (int)key_len, key ? key : "",
               (int)value_len, value ? value : "");
        fflush(stdout);
        count++;
    }

    /* The signal thread has returned once stopping is set; if poll failed
     * instead, cancel its wait by sending it the signal it waits for. */
    if (!atomic_load(&stopping))
        pthread_kill(waiter, SIGTERM);
    pthread_join(waiter, NULL);
    lg_consumer_destroy(consumer);
    lg_engine_close(engine);
    fprintf(stderr, "consumed %ld records\n", count);
    return 0;
}
