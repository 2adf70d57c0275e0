/*
 * producer.c -- the smallest complete producer: open a data directory,
 * create the topic if needed, queue records with lg_produce, serve delivery
 * reports with lg_producer_poll, and flush before exiting.
 *
 *   usage: producer <dir> <topic>
 *
 * It produces ten keyed records, prints one line per delivery report
 * ("delivered key-3 to events [1] at offset 7") and exits 0 when every
 * record was delivered, 1 otherwise.  Read them back with
 * `consumer <dir> <topic>` or `lgcat -b <dir> -C -t <topic> -e`.
 */
#include <liblog.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Delivery reports are counted here by the callback below. */
struct counts {
    int delivered;
    int failed;
};

/* The delivery callback runs on our own thread, inside lg_producer_poll or
 * lg_producer_flush -- never on a library thread -- so it may touch our
 * data without locks.  message_opaque is what we gave lg_produce: here the
 * record's key, a string literal that outlives the producer. */
static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    struct counts *counts = opaque;
    const char *key = message_opaque;
    if (err) {
        counts->failed++;
        fprintf(stderr, "failed to deliver %s: %s\n", key, lg_strerror(err));
        return;
    }
    counts->delivered++;
    printf("delivered %s to %s [%" PRId32 "] at offset %" PRId64 "\n", key,
           topic, partition, offset);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: producer <dir> <topic>\n");
        return 1;
    }
    const char *dir = argv[1], *topic = argv[2];

    lg_engine_t *engine;
    if (lg_engine_open(dir, NULL, &engine) != LG_OK) {
        fprintf(stderr, "open %s: %s\n", dir, lg_last_error_message());
        return 1;
    }
    /* Three partitions; a rerun finds the topic already there. */
    lg_err_t err = lg_topic_create(engine, topic, 3, NULL);
    if (err != LG_OK && err != LG_ERR_TOPIC_EXISTS) {
        fprintf(stderr, "create %s: %s\n", topic, lg_last_error_message());
        lg_engine_close(engine);
        return 1;
    }

    /* acks=1: a report means the record is in the log (page cache).
     * linger.ms=1: batches wait at most 1 ms for more records. */
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "acks", "1");
    lg_conf_set(conf, "linger.ms", "1");
    lg_producer_t *producer;
    err = lg_producer_new(engine, conf, &producer);
    lg_conf_destroy(conf); /* the producer keeps its own copy */
    if (err != LG_OK) {
        fprintf(stderr, "producer: %s\n", lg_last_error_message());
        lg_engine_close(engine);
        return 1;
    }
    struct counts counts = {0, 0};
    lg_producer_set_delivery_callback(producer, on_delivery, &counts);

    static const char *const keys[] = {"key-0", "key-1", "key-2", "key-3",
                                       "key-4", "key-5", "key-6", "key-7",
                                       "key-8", "key-9"};
    int queued = 0;
    for (int i = 0; i < 10; i++) {
        char value[64];
        int value_len = snprintf(value, sizeof value, "message %d", i);
        /* LG_PARTITION_ANY: the partitioner hashes the key.  Key and value
         * are copied, so the buffers may be reused at once. */
        err = lg_produce(producer, topic, LG_PARTITION_ANY, keys[i],
                         strlen(keys[i]), value, (size_t)value_len,
                         LG_TIMESTAMP_NOW, (void *)keys[i]);
        if (err == LG_ERR_QUEUE_FULL) {
            /* Memory is full: serve reports to free some, then retry. */
            lg_producer_poll(producer, 100);
            i--;
            continue;
        }
        if (err != LG_OK) {
            fprintf(stderr, "produce: %s\n", lg_last_error_message());
            break;
        }
        queued++;
        /* Serve whatever reports are ready, without waiting. */
        lg_producer_poll(producer, 0);
    }

    /* A poll loop, as a long-running program would have: wait up to
     * 100 ms at a time until every record queued has been reported. */
    while (counts.delivered + counts.failed < queued &&
           lg_producer_queue_length(producer) > 0)
        lg_producer_poll(producer, 100);

    /* flush sends anything still lingering and serves the last reports;
     * destroying without it would drop queued records unreported. */
    if (lg_producer_flush(producer, 10000) != LG_OK)
        fprintf(stderr, "flush: %s\n", lg_last_error_message());
    lg_producer_destroy(producer);
    lg_engine_close(engine);
    printf("%d delivered, %d failed\n", counts.delivered, counts.failed);
    return counts.delivered == 10 ? 0 : 1;
}
