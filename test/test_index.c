/*
 * test_index.c -- the sparse offset and time indexes: lookups, ordering
 * rules, Kafka's on-disk byte layout and validation on load.
 */
#include "index.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static void setup(void) { dir = lgt_tmpdir("index"); }
static void teardown(void) {
    lgt_rmrf(dir);
    free(dir);
}

START_TEST(lookup_returns_largest_entry_at_or_below) {
    lgi_index_t index;
    lgi_index_entry_t entry;
    lgi_index_init(&index, LGI_INDEX_OFFSET, 100, 1024);
    ck_assert_int_eq(lgi_index_lookup(&index, 150, &entry), 0);
    ck_assert_int_eq(lgi_index_append_offset(&index, 110, 4100), LG_OK);
    ck_assert_int_eq(lgi_index_append_offset(&index, 130, 8300), LG_OK);
    ck_assert_int_eq(lgi_index_append_offset(&index, 170, 12500), LG_OK);
    ck_assert_int_eq(lgi_index_lookup(&index, 109, &entry), 0);
    ck_assert_int_eq(lgi_index_lookup(&index, 110, &entry), 1);
    ck_assert_int_eq(entry.value, 4100);
    ck_assert_int_eq(lgi_index_lookup(&index, 169, &entry), 1);
    ck_assert_int_eq(entry.key, 130);
    ck_assert_int_eq(lgi_index_lookup(&index, 1000, &entry), 1);
    ck_assert_int_eq(entry.value, 12500);
    lgi_index_free(&index);
}
END_TEST

START_TEST(append_rejects_offsets_that_do_not_increase) {
    lgi_index_t index;
    lgi_index_init(&index, LGI_INDEX_OFFSET, 0, 1024);
    ck_assert_int_eq(lgi_index_append_offset(&index, 5, 0), LG_OK);
    ck_assert_int_eq(lgi_index_append_offset(&index, 5, 10), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_index_append_offset(&index, 4, 10), LG_ERR_INVALID_ARG);
    ck_assert_int_eq(index.count, 1);
    lgi_index_free(&index);
}
END_TEST

START_TEST(time_index_appends_only_when_timestamp_grows) {
    lgi_index_t index;
    lgi_index_entry_t entry;
    lgi_index_init(&index, LGI_INDEX_TIME, 0, 1200);
    ck_assert_int_eq(lgi_index_maybe_append_time(&index, 1000, 9), LG_OK);
    ck_assert_int_eq(lgi_index_maybe_append_time(&index, 1000, 19), LG_OK);
    ck_assert_int_eq(lgi_index_maybe_append_time(&index, 900, 29), LG_OK);
    ck_assert_int_eq(index.count, 1);
    ck_assert_int_eq(lgi_index_maybe_append_time(&index, 1500, 39), LG_OK);
    ck_assert_int_eq(index.count, 2);
    ck_assert_int_eq(lgi_index_maybe_append_time(&index, 2000, 5),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_index_lookup(&index, 1499, &entry), 1);
    ck_assert_int_eq(entry.value, 9);
    lgi_index_free(&index);
}
END_TEST

START_TEST(full_at_segment_index_bytes) {
    lgi_index_t offsets, times;
    lgi_index_init(&offsets, LGI_INDEX_OFFSET, 0, 24);
    lgi_index_init(&times, LGI_INDEX_TIME, 0, 24);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(lgi_index_append_offset(&offsets, i, i * 10), LG_OK);
    ck_assert(lgi_index_is_full(&offsets));
    ck_assert_int_eq(lgi_index_append_offset(&offsets, 9, 90),
                     LG_ERR_INVALID_ARG);
    ck_assert_int_eq(lgi_index_maybe_append_time(&times, 1, 0), LG_OK);
    ck_assert(!lgi_index_is_full(&times));
    ck_assert_int_eq(lgi_index_maybe_append_time(&times, 2, 1), LG_OK);
    ck_assert(lgi_index_is_full(&times));
    lgi_index_free(&offsets);
    lgi_index_free(&times);
}
END_TEST

START_TEST(store_writes_kafka_big_endian_layout) {
    lgi_index_t offsets, times;
    char *offset_path = lgt_path(dir, "00000000000000001000.index");
    char *time_path = lgt_path(dir, "00000000000000001000.timeindex");
    size_t len;
    lgi_index_init(&offsets, LGI_INDEX_OFFSET, 1000, 1024);
    lgi_index_init(&times, LGI_INDEX_TIME, 1000, 1024);
    ck_assert_int_eq(lgi_index_append_offset(&offsets, 1258, 0x01020304),
                     LG_OK);
    ck_assert_int_eq(lgi_index_maybe_append_time(&times, 0x0102030405LL, 1258),
                     LG_OK);
    ck_assert_int_eq(lgi_index_store(&offsets, offset_path, 1), LG_OK);
    ck_assert_int_eq(lgi_index_store(&times, time_path, 1), LG_OK);

    uint8_t *bytes = lgt_read_file(offset_path, &len);
    const uint8_t want_offset[8] = {0, 0, 1, 2, 1, 2, 3, 4}; /* 258, pos */
    ck_assert_uint_eq(len, 8);
    ck_assert_mem_eq(bytes, want_offset, 8);
    free(bytes);
    bytes = lgt_read_file(time_path, &len);
    const uint8_t want_time[12] = {0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 1, 2};
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(bytes, want_time, 12);
    free(bytes);

    lgi_index_t loaded;
    lgi_index_entry_t entry;
    lgi_index_init(&loaded, LGI_INDEX_OFFSET, 1000, 1024);
    ck_assert_int_eq(lgi_index_load(&loaded, offset_path, 0x02000000), LG_OK);
    ck_assert_int_eq(lgi_index_last(&loaded, &entry), 1);
    ck_assert_int_eq(entry.key, 1258);
    ck_assert_int_eq(entry.value, 0x01020304);
    lgi_index_free(&loaded);
    lgi_index_free(&offsets);
    lgi_index_free(&times);
    free(offset_path);
    free(time_path);
}
END_TEST

START_TEST(load_rejects_invalid_files) {
    char *path = lgt_path(dir, "00000000000000000000.index");
    lgi_index_t index;
    lgi_index_init(&index, LGI_INDEX_OFFSET, 0, 1024);
    /* missing */
    ck_assert_int_eq(lgi_index_load(&index, path, 100), LG_ERR_IO);
    /* torn: not a multiple of 8 */
    const uint8_t torn[5] = {0, 0, 0, 1, 0};
    lgt_write_file(path, torn, sizeof(torn));
    ck_assert_int_eq(lgi_index_load(&index, path, 100), LG_ERR_CORRUPT);
    /* offsets going backwards */
    const uint8_t backwards[16] = {0, 0, 0, 5, 0, 0, 0, 1,
                                   0, 0, 0, 4, 0, 0, 0, 2};
    lgt_write_file(path, backwards, sizeof(backwards));
    ck_assert_int_eq(lgi_index_load(&index, path, 100), LG_ERR_CORRUPT);
    ck_assert_int_eq(index.count, 0);
    /* position beyond the log */
    const uint8_t beyond[8] = {0, 0, 0, 5, 0, 0, 1, 0};
    lgt_write_file(path, beyond, sizeof(beyond));
    ck_assert_int_eq(lgi_index_load(&index, path, 100), LG_ERR_CORRUPT);
    ck_assert_int_eq(lgi_index_load(&index, path, 1000), LG_OK);
    ck_assert_int_eq(index.count, 1);
    /* more entries than segment.index.bytes allows */
    lgi_index_t small;
    lgi_index_init(&small, LGI_INDEX_OFFSET, 0, 8);
    const uint8_t two[16] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2};
    lgt_write_file(path, two, sizeof(two));
    ck_assert_int_eq(lgi_index_load(&small, path, 100), LG_ERR_CORRUPT);
    lgi_index_free(&small);
    lgi_index_free(&index);
    free(path);
}
END_TEST

START_TEST(truncate_to_offset_drops_entries_at_or_above) {
    lgi_index_t offsets, times;
    lgi_index_init(&offsets, LGI_INDEX_OFFSET, 0, 1024);
    lgi_index_init(&times, LGI_INDEX_TIME, 0, 1024);
    for (int i = 1; i <= 5; i++) {
        ck_assert_int_eq(lgi_index_append_offset(&offsets, i * 10, i * 100),
                         LG_OK);
        ck_assert_int_eq(lgi_index_maybe_append_time(&times, i, i * 10), LG_OK);
    }
    lgi_index_truncate_to_offset(&offsets, 30);
    lgi_index_truncate_to_offset(&times, 31);
    ck_assert_int_eq(offsets.count, 2);
    ck_assert_int_eq(times.count, 3);
    lgi_index_free(&offsets);
    lgi_index_free(&times);
}
END_TEST

static Suite *index_suite(void) {
    Suite *suite = suite_create("index");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, lookup_returns_largest_entry_at_or_below);
    tcase_add_test(tc, append_rejects_offsets_that_do_not_increase);
    tcase_add_test(tc, time_index_appends_only_when_timestamp_grows);
    tcase_add_test(tc, full_at_segment_index_bytes);
    tcase_add_test(tc, store_writes_kafka_big_endian_layout);
    tcase_add_test(tc, load_rejects_invalid_files);
    tcase_add_test(tc, truncate_to_offset_drops_entries_at_or_above);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) {
    SRunner *runner = srunner_create(index_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
