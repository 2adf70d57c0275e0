/*
 * test_lifecycle.c -- destroy order never matters: an engine closed while
 * producers (and consumers) still live detaches them; their later calls
 * answer LG_ERR_CLOSED instead of touching freed memory, and their own
 * destroy frees what is left.  Garbage-collected hosts (the Python
 * binding) destroy in whatever order their collector picks.
 */
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int reports_ok, reports_failed;

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    (void)opaque;
    (void)topic;
    (void)partition;
    (void)offset;
    (void)message_opaque;
    if (err == LG_OK)
        reports_ok++;
    else
        reports_failed++;
}

START_TEST(engine_closed_before_producer_appends_what_was_produced) {
    char *dir = lgt_tmpdir("lifecycle");
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    /* a long linger: nothing is sent unless something forces it */
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "60000"), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    lg_producer_set_delivery_callback(producer, on_delivery, NULL);
    reports_ok = reports_failed = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lg_produce(producer, "t", i % 2, "k", 1, "v", 1,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    /* the producer outlives the engine: reports still served, produce
     * refused */
    ck_assert_int_eq(lg_producer_poll(producer, 0), 100);
    ck_assert_int_eq(reports_ok, 100);
    ck_assert_int_eq(lg_produce(producer, "t", 0, "k", 1, "v", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_CLOSED);
    ck_assert_int_eq(lg_producer_flush(producer, 100), LG_OK);
    lg_producer_destroy(producer);

    /* and the records are in the log */
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    for (int p = 0; p < 2; p++) {
        int64_t high;
        ck_assert_int_eq(lg_watermarks(engine, "t", p, NULL, &high), LG_OK);
        ck_assert_int_eq(high, 50);
    }
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lgt_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(producer_destroyed_first_still_works) {
    char *dir = lgt_tmpdir("lifecycle");
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    lg_producer_t *a, *b;
    ck_assert_int_eq(lg_producer_new(engine, NULL, &a), LG_OK);
    ck_assert_int_eq(lg_producer_new(engine, NULL, &b), LG_OK);
    lg_producer_destroy(a);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lg_producer_destroy(b);
    lgt_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(engine_closed_before_consumers_detaches_them) {
    char *dir = lgt_tmpdir("lifecycle");
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 2, NULL), LG_OK);
    lg_records_t *records = lg_records_new();
    lg_records_add(records, "k", 1, "v", 1, LG_TIMESTAMP_NOW);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, 1, NULL), LG_OK);
    lg_records_destroy(records);

    /* one consumer with a manual assignment, one in a group */
    lg_consumer_t *manual, *member;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &manual), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(manual, "t", 0, LG_OFFSET_BEGINNING),
                     LG_OK);
    const lg_message_t *m;
    ck_assert_int_eq(lg_consumer_poll(manual, 1000, &m), LG_OK);
    ck_assert_ptr_nonnull(m);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "group.id", "g"), LG_OK);
    ck_assert_int_eq(lg_consumer_new(engine, conf, &member), LG_OK);
    lg_conf_destroy(conf);
    const char *topics[] = {"t"};
    ck_assert_int_eq(lg_consumer_subscribe(member, topics, 1), LG_OK);
    ck_assert_int_eq(lg_consumer_poll(member, 200, &m), LG_OK);

    ck_assert_int_eq(lg_engine_close(engine), LG_OK);

    ck_assert_int_eq(lg_consumer_poll(manual, 0, &m), LG_ERR_CLOSED);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "closed"));
    ck_assert_int_eq(lg_consumer_assign(manual, "t", 1, 0), LG_ERR_CLOSED);
    int64_t offset;
    ck_assert_int_eq(lg_consumer_position(manual, "t", 0, &offset),
                     LG_ERR_CLOSED);
    ck_assert_int_eq(lg_consumer_subscribe(member, topics, 1), LG_ERR_CLOSED);
    ck_assert_str_eq(lg_consumer_rebalance_protocol(member), "NONE");
    lg_consumer_wakeup(manual); /* harmless */
    lg_consumer_destroy(member);
    lg_consumer_destroy(manual);

    /* a clean close: the next open finds a clean-shutdown marker */
    char *marker = lgt_path(dir, ".clean-shutdown");
    ck_assert(lgt_file_size(marker) >= 0);
    free(marker);
    lgt_rmrf(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_test(tc, engine_closed_before_producer_appends_what_was_produced);
    tcase_add_test(tc, producer_destroyed_first_still_works);
    tcase_add_test(tc, engine_closed_before_consumers_detaches_them);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
