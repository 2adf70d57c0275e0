/*
 * test_partitioner.c -- partition choice for LG_PARTITION_ANY: Kafka's
 * murmur2 known answers (from Apache Kafka's UtilsTest.testMurmur2 and
 * librdkafka's unit tests), XXH3 stability, sticky switching, round-robin
 * spread and random range.
 */
#include "conf.h"
#include "partitioner.h"

#include <check.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *key;
    int32_t hash;
} kafka_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
    {"kafka", (int32_t)0xd067cf64u},
    {"giberish123456789", (int32_t)0x8f552b0cu},
};

START_TEST(murmur2_matches_kafka_java_client_vectors) {
    for (size_t i = 0; i < sizeof kafka_vectors / sizeof kafka_vectors[0];
         i++) {
        const char *key = kafka_vectors[i].key;
        ck_assert_msg(lgi_murmur2(key, strlen(key)) == kafka_vectors[i].hash,
                      "murmur2(\"%s\") = %d, want %d", key,
                      lgi_murmur2(key, strlen(key)), kafka_vectors[i].hash);
    }
}
END_TEST

START_TEST(murmur2_partition_is_positive_hash_modulo_count) {
    int32_t counts[] = {1, 3, 7, 12, 100000};
    for (size_t i = 0; i < sizeof kafka_vectors / sizeof kafka_vectors[0];
         i++) {
        const char *key = kafka_vectors[i].key;
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            uint32_t positive = (uint32_t)kafka_vectors[i].hash & 0x7fffffffu;
            int32_t want = (int32_t)(positive % (uint32_t)counts[c]);
            ck_assert_int_eq(lgi_partition_murmur2(key, strlen(key), counts[c]),
                             want);
        }
    }
    /* Two hand-checked placements: "foobar" is -790332482 =
     * 0xd0e3b8be, & 0x7fffffff = 1357151166, % 10 = 6; "abc" 479470107
     * % 10 = 7. */
    ck_assert_int_eq(lgi_partition_murmur2("foobar", 6, 10), 6);
    ck_assert_int_eq(lgi_partition_murmur2("abc", 3, 10), 7);
}
END_TEST

START_TEST(murmur2_of_empty_key_is_defined) {
    ck_assert_int_eq(lgi_murmur2("", 0), 275646681);
}
END_TEST

START_TEST(xxh3_partition_is_stable_and_in_range) {
    for (int i = 0; i < 1000; i++) {
        char key[16];
        int len = snprintf(key, sizeof key, "key-%d", i);
        int32_t p = lgi_partition_xxh3(key, (size_t)len, 7);
        ck_assert(p >= 0 && p < 7);
        ck_assert_int_eq(lgi_partition_xxh3(key, (size_t)len, 7), p);
    }
    /* XXH3-64 is a fixed function: pin one value so an accidental switch
     * of hash (or seed) is caught. XXH3_64bits("") = 0x2d06800538d394c2. */
    ck_assert_int_eq(lgi_partition_xxh3("", 0, 1000),
                     (int32_t)(0x2d06800538d394c2ull % 1000));
}
END_TEST

START_TEST(default_strategy_hashes_keys_and_sticks_null_keys) {
    lgi_partitioner_state_t state;
    lgi_partitioner_state_init(&state);
    int sticky;
    int32_t p = lgi_partitioner_choose(LGI_PARTITIONER_DEFAULT, &state, "k",
                                       1, 5, &sticky);
    ck_assert_int_eq(sticky, 0);
    ck_assert_int_eq(p, lgi_partition_xxh3("k", 1, 5));
    p = lgi_partitioner_choose(LGI_PARTITIONER_MURMUR2, &state, "abc", 3, 10,
                               &sticky);
    ck_assert_int_eq(sticky, 0);
    ck_assert_int_eq(p, 7);
    int32_t first = lgi_partitioner_choose(LGI_PARTITIONER_DEFAULT, &state,
                                           NULL, 0, 5, &sticky);
    ck_assert_int_eq(sticky, 1);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lgi_partitioner_choose(LGI_PARTITIONER_MURMUR2,
                                                &state, NULL, 0, 5, &sticky),
                         first);
}
END_TEST

START_TEST(sticky_moves_to_another_partition_on_new_batch) {
    lgi_partitioner_state_t state;
    lgi_partitioner_state_init(&state);
    int seen[4] = {0};
    int32_t current = lgi_sticky_partition(&state, 4);
    for (int i = 0; i < 400; i++) {
        int32_t next = lgi_sticky_on_new_batch(&state, current, 4);
        ck_assert_int_ne(next, current);
        ck_assert(next >= 0 && next < 4);
        ck_assert_int_eq(lgi_sticky_partition(&state, 4), next);
        seen[next]++;
        current = next;
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_gt(seen[i], 50);
    /* A stale "previous" (someone already moved it) keeps the current. */
    int32_t now = lgi_sticky_partition(&state, 4);
    ck_assert_int_eq(lgi_sticky_on_new_batch(&state, (now + 1) % 4, 4), now);
    /* One partition: nowhere else to go. */
    lgi_partitioner_state_init(&state);
    ck_assert_int_eq(lgi_sticky_on_new_batch(&state, 0, 1), 0);
}
END_TEST

START_TEST(round_robin_spreads_evenly) {
    lgi_partitioner_state_t state;
    lgi_partitioner_state_init(&state);
    int counts[6] = {0};
    int sticky;
    for (int i = 0; i < 600; i++)
        counts[lgi_partitioner_choose(LGI_PARTITIONER_ROUNDROBIN, &state,
                                      "same-key", 8, 6, &sticky)]++;
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(counts[i], 100);
    ck_assert_int_eq(sticky, 0);
}
END_TEST

START_TEST(random_stays_in_range_and_covers_it) {
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        int32_t p = lgi_partition_random(10);
        ck_assert(p >= 0 && p < 10);
        counts[p]++;
    }
    for (int i = 0; i < 10; i++)
        ck_assert_int_gt(counts[i], 800);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(lgi_partition_random(1), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("partitioner");
    TCase *tc = tcase_create("partitioner");
    tcase_add_test(tc, murmur2_matches_kafka_java_client_vectors);
    tcase_add_test(tc, murmur2_partition_is_positive_hash_modulo_count);
    tcase_add_test(tc, murmur2_of_empty_key_is_defined);
    tcase_add_test(tc, xxh3_partition_is_stable_and_in_range);
    tcase_add_test(tc, default_strategy_hashes_keys_and_sticks_null_keys);
    tcase_add_test(tc, sticky_moves_to_another_partition_on_new_batch);
    tcase_add_test(tc, round_robin_spreads_evenly);
    tcase_add_test(tc, random_stays_in_range_and_covers_it);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
