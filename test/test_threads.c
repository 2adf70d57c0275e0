/*
 * test_threads.c -- the concurrency contract end to end: 4 threads
 * producing through one shared producer while 2 consumer threads read, and
 * a thread serving delivery reports.  Checks that every record is
 * delivered exactly once with a delivery report, consumed exactly once,
 * and that each producer thread's records keep their order within each
 * partition.  Runs under ThreadSanitizer in `make check`.
 */
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 4
#define PARTITIONS 4
#define PER_PRODUCER 20000

static lg_engine_t *engine;
static lg_producer_t *producer;
static atomic_int delivered_ok, delivered_failed, producers_done;
static atomic_int reports_per_record[PRODUCERS * PER_PRODUCER];

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    (void)opaque;
    (void)topic;
    (void)partition;
    (void)offset;
    intptr_t id = (intptr_t)message_opaque;
    atomic_fetch_add(&reports_per_record[id], 1);
    if (err == LG_OK)
        atomic_fetch_add(&delivered_ok, 1);
    else
        atomic_fetch_add(&delivered_failed, 1);
}

static void *produce_main(void *arg) {
    int thread = (int)(intptr_t)arg;
    for (int seq = 0; seq < PER_PRODUCER; seq++) {
        char key[16], value[32];
        int klen = snprintf(key, sizeof key, "k%d", seq % 97);
        int vlen = snprintf(value, sizeof value, "%d:%d", thread, seq);
        intptr_t id = (intptr_t)thread * PER_PRODUCER + seq;
        lg_err_t err;
        /* Explicit partitions spread each thread over all partitions, so
         * every partition interleaves all four producers. */
        while ((err = lg_produce(producer, "t", seq % PARTITIONS, key,
                                 (size_t)klen, value, (size_t)vlen,
                                 LG_TIMESTAMP_NOW, (void *)id)) ==
               LG_ERR_QUEUE_FULL)
            ;
        ck_assert_int_eq(err, LG_OK);
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static void *poll_main(void *arg) {
    (void)arg;
    while (atomic_load(&producers_done) < PRODUCERS)
        lg_producer_poll(producer, 10);
    ck_assert_int_eq(lg_producer_flush(producer, 60000), LG_OK);
    return NULL;
}

typedef struct consumer_job {
    int32_t first_partition;
    long consumed;
    /* next expected sequence per (producer thread, partition) */
    int next_seq[PRODUCERS][PARTITIONS];
} consumer_job_t;

static atomic_int seen[PRODUCERS * PER_PRODUCER];

static void *consume_main(void *arg) {
    consumer_job_t *job = arg;
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &consumer), LG_OK);
    for (int p = 0; p < 2; p++)
        ck_assert_int_eq(lg_consumer_assign(consumer, "t",
                                            job->first_partition + p,
                                            LG_OFFSET_BEGINNING),
                         LG_OK);
    for (int t = 0; t < PRODUCERS; t++)
        for (int p = 0; p < PARTITIONS; p++)
            job->next_seq[t][p] = p; /* seq % PARTITIONS == partition */
    long expected = (long)PRODUCERS * PER_PRODUCER / PARTITIONS * 2;
    const lg_message_t *batch[256];
    while (job->consumed < expected) {
        size_t count = 0;
        ck_assert_int_eq(lg_consumer_poll_batch(consumer, 100, batch, 256,
                                                &count),
                         LG_OK);
        for (size_t i = 0; i < count; i++) {
            const lg_message_t *m = batch[i];
            ck_assert_int_eq(lg_message_error(m), LG_OK);
            size_t len;
            const char *value = lg_message_value(m, &len);
            char text[32];
            ck_assert(len < sizeof text);
            memcpy(text, value, len);
            text[len] = '\0';
            int thread, seq;
            ck_assert_int_eq(sscanf(text, "%d:%d", &thread, &seq), 2);
            int32_t partition = lg_message_partition(m);
            ck_assert_int_eq(seq % PARTITIONS, partition);
            /* per producer, per partition order */
            ck_assert_int_eq(seq, job->next_seq[thread][partition]);
            job->next_seq[thread][partition] += PARTITIONS;
            ck_assert_int_eq(
                atomic_fetch_add(&seen[thread * PER_PRODUCER + seq], 1), 0);
            job->consumed++;
        }
    }
    lg_consumer_destroy(consumer);
    return NULL;
}

START_TEST(producers_and_consumers_share_an_engine_safely) {
    char *dir = lgt_tmpdir("threads");
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", PARTITIONS, NULL), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "acks", "1"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "1"), LG_OK);
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_producer_set_delivery_callback(producer, on_delivery,
                                                       NULL),
                     LG_OK);

    consumer_job_t jobs[2] = {{.first_partition = 0}, {.first_partition = 2}};
    pthread_t consumers[2], producers[PRODUCERS], poller;
    for (int c = 0; c < 2; c++)
        pthread_create(&consumers[c], NULL, consume_main, &jobs[c]);
    for (int t = 0; t < PRODUCERS; t++)
        pthread_create(&producers[t], NULL, produce_main, (void *)(intptr_t)t);
    pthread_create(&poller, NULL, poll_main, NULL);
    for (int t = 0; t < PRODUCERS; t++)
        pthread_join(producers[t], NULL);
    pthread_join(poller, NULL);
    for (int c = 0; c < 2; c++)
        pthread_join(consumers[c], NULL);

    ck_assert_int_eq(atomic_load(&delivered_failed), 0);
    ck_assert_int_eq(atomic_load(&delivered_ok), PRODUCERS * PER_PRODUCER);
    for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++) {
        ck_assert_int_eq(atomic_load(&reports_per_record[i]), 1);
        ck_assert_int_eq(atomic_load(&seen[i]), 1);
    }
    ck_assert_uint_eq(lg_producer_queue_length(producer), 0);
    lg_producer_destroy(producer);
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t high;
        ck_assert_int_eq(lg_watermarks(engine, "t", p, NULL, &high), LG_OK);
        ck_assert_int_eq(high, PRODUCERS * PER_PRODUCER / PARTITIONS);
    }
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lgt_rmrf(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_add_test(tc, producers_and_consumers_share_an_engine_safely);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
