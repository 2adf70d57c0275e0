/*
 * test_segment.c -- one segment: Kafka file names, index entries made as
 * Kafka's LogSegment.append makes them, offset and time lookups,
 * truncation, recovery of a torn tail.
 */
#include "logtest.h"
#include "segment.h"

#include <fcntl.h>
#include <unistd.h>

static char *dir;

static void setup(void) { dir = lgt_tmpdir("segment"); }
static void teardown(void) {
    lgt_rmrf(dir);
    free(dir);
}

/* Writes batch at the segment's end as the partition would (reserve,
 * index, write); base offset stamped. */
static int64_t put_batch(lgi_segment_t *segment, int records,
                         int64_t timestamp, size_t value_size) {
    size_t len;
    uint8_t *batch = lgt_batch(records, timestamp, value_size, &len);
    lgi_batch_header_t header;
    int64_t base = segment->next_offset;
    int64_t position = segment->size;
    lgi_batch_set_base_offset(batch, base);
    ck_assert_int_eq(lgi_batch_parse_header(batch, len, len, &header), LG_OK);
    ck_assert_int_eq(lgi_segment_note_append(segment, position, len,
                                             base + header.last_offset_delta,
                                             header.max_timestamp, 0),
                     LG_OK);
    segment->size += (int64_t)len;
    ck_assert_int_eq(pwrite(segment->fd, batch, len, position), (ssize_t)len);
    lgi_free(batch);
    return position;
}

START_TEST(create_makes_kafka_named_files) {
    lgi_segment_t *segment;
    int64_t base;
    ck_assert_int_eq(lgi_segment_create(dir, 1234, 4096, 1 << 20, &segment),
                     LG_OK);
    char *log = lgt_segment_file(dir, 1234, ".log");
    char *index = lgt_segment_file(dir, 1234, ".index");
    char *time = lgt_segment_file(dir, 1234, ".timeindex");
    ck_assert_int_eq(lgt_file_size(log), 0);
    ck_assert_int_eq(lgt_file_size(index), 0);
    ck_assert_int_eq(lgt_file_size(time), 0);
    ck_assert_str_eq(strrchr(log, '/') + 1, "00000000000000001234.log");
    ck_assert(lgi_segment_parse_name("00000000000000001234.log", &base));
    ck_assert_int_eq(base, 1234);
    ck_assert(!lgi_segment_parse_name("00000000000000001234.index", &base));
    ck_assert(!lgi_segment_parse_name("0000000000000001234.log", &base));
    ck_assert_int_eq(lgi_segment_delete(segment), LG_OK);
    ck_assert_int_eq(lgt_file_size(log), -1);
    lgi_segment_unref(segment);
    free(log);
    free(index);
    free(time);
}
END_TEST

START_TEST(index_entry_after_more_than_interval_bytes) {
    lgi_segment_t *segment;
    lgi_index_entry_t entry;
    ck_assert_int_eq(lgi_segment_create(dir, 0, 1000, 1 << 20, &segment),
                     LG_OK);
    /* ~600-byte batches: entries at the 3rd batch (1200 > 1000 since 0),
     * then every 2 batches. */
    int64_t positions[8];
    for (int i = 0; i < 8; i++)
        positions[i] = put_batch(segment, 1, 1000 + i, 520);
    ck_assert_int_eq(segment->offset_index.count, 3);
    ck_assert_int_eq(lgi_index_lookup(&segment->offset_index, 2, &entry), 1);
    ck_assert_int_eq(entry.key, 2);
    ck_assert_int_eq(entry.value, positions[2]);
    ck_assert_int_eq(segment->time_index.count, 3);
    /* Kafka updates the max timestamp before indexing: the first entry is
     * (timestamp of batch 2, offset 2). */
    ck_assert_int_eq(lgi_index_lookup(&segment->time_index, 1001, &entry), 0);
    ck_assert_int_eq(lgi_index_lookup(&segment->time_index, 1002, &entry), 1);
    ck_assert_int_eq(entry.value, 2);
    lgi_segment_unref(segment);
}
END_TEST

START_TEST(scan_to_offset_finds_containing_batch) {
    lgi_segment_t *segment;
    lgi_batch_header_t header;
    int64_t position;
    ck_assert_int_eq(lgi_segment_create(dir, 50, 200, 1 << 20, &segment),
                     LG_OK);
    int64_t p[10];
    for (int i = 0; i < 10; i++)
        p[i] = put_batch(segment, 5, 1000, 50);
    ck_assert_int_eq(lgi_segment_scan_to_offset(
                         segment, lgi_segment_index_position(segment, 77),
                         segment->size, 77, &position, &header),
                     LG_OK);
    ck_assert_int_eq(position, p[5]);
    ck_assert_int_eq(header.base_offset, 75);
    ck_assert_int_eq(lgi_segment_scan_to_offset(segment, 0, segment->size, 100,
                                                &position, &header),
                     LG_OK);
    ck_assert_int_eq(position, segment->size);
    lgi_segment_unref(segment);
}
END_TEST

START_TEST(find_time_returns_first_record_at_or_after) {
    lgi_segment_t *segment;
    int64_t offset;
    int found;
    ck_assert_int_eq(lgi_segment_create(dir, 0, 100, 1 << 20, &segment),
                     LG_OK);
    for (int i = 0; i < 6; i++)
        put_batch(segment, 4, 1000 + i * 10, 30); /* ts 1000+10i .. +3 */
    ck_assert_int_eq(lgi_segment_find_time(segment, 1032, 0, segment->size,
                                           &offset, &found),
                     LG_OK);
    ck_assert(found);
    ck_assert_int_eq(offset, 14);
    ck_assert_int_eq(lgi_segment_find_time(segment, 1035, 0, segment->size,
                                           &offset, &found),
                     LG_OK);
    ck_assert_int_eq(offset, 16);
    ck_assert_int_eq(lgi_segment_find_time(segment, 5000, 0, segment->size,
                                           &offset, &found),
                     LG_OK);
    ck_assert(!found);
    lgi_segment_unref(segment);
}
END_TEST

START_TEST(truncate_to_removes_whole_batch_holding_offset) {
    lgi_segment_t *segment;
    int64_t end;
    ck_assert_int_eq(lgi_segment_create(dir, 0, 100, 1 << 20, &segment),
                     LG_OK);
    int64_t p[6];
    for (int i = 0; i < 6; i++)
        p[i] = put_batch(segment, 3, 1000 + i * 10, 60);
    ck_assert_int_eq(lgi_segment_truncate_to(segment, 10, &end), LG_OK);
    ck_assert_int_eq(end, 9);
    ck_assert_int_eq(segment->size, p[3]);
    ck_assert_int_eq(lgt_file_size(segment->log_path), p[3]);
    lgi_index_entry_t entry;
    if (lgi_index_last(&segment->offset_index, &entry))
        ck_assert_int_lt(entry.key, 9);
    ck_assert_int_eq(segment->max_timestamp, 1022);
    lgi_segment_unref(segment);
}
END_TEST

START_TEST(recover_cuts_torn_tail_and_rebuilds_indexes) {
    lgi_segment_t *segment;
    int64_t truncated, scanned;
    ck_assert_int_eq(lgi_segment_create(dir, 0, 100, 1 << 20, &segment),
                     LG_OK);
    int64_t p[5];
    for (int i = 0; i < 5; i++)
        p[i] = put_batch(segment, 2, 1000 + i, 80);
    size_t entries = segment->offset_index.count;
    int64_t full = segment->size;
    ck_assert_int_eq(ftruncate(segment->fd, full - 7), 0);
    ck_assert_int_eq(lgi_segment_recover(segment, NULL, NULL, &truncated,
                                         &scanned),
                     LG_OK);
    ck_assert_int_eq(scanned, full - 7);
    ck_assert_int_eq(truncated, full - 7 - p[4]);
    ck_assert_int_eq(segment->size, p[4]);
    ck_assert_int_eq(segment->next_offset, 8);
    ck_assert_int_eq(lgt_file_size(segment->log_path), p[4]);
    ck_assert_uint_le(segment->offset_index.count, entries);
    lgi_segment_unref(segment);
}
END_TEST

START_TEST(seal_stores_indexes_that_load_back) {
    lgi_segment_t *segment, *opened;
    int rebuilt = -1;
    ck_assert_int_eq(lgi_segment_create(dir, 0, 100, 1 << 20, &segment),
                     LG_OK);
    for (int i = 0; i < 10; i++)
        put_batch(segment, 2, 1000 + i, 80);
    ck_assert_int_eq(lgi_segment_seal(segment), LG_OK);
    ck_assert_int_eq(lgt_file_size(segment->index_path),
                     (long long)segment->offset_index.count * 8);
    ck_assert_int_eq(lgi_segment_open(dir, 0, 100, 1 << 20, &opened), LG_OK);
    ck_assert_int_eq(lgi_segment_load(opened, NULL, NULL, &rebuilt), LG_OK);
    ck_assert_int_eq(rebuilt, 0);
    ck_assert_int_eq(opened->next_offset, 20);
    ck_assert_int_eq(opened->offset_index.count, segment->offset_index.count);
    ck_assert_int_eq(opened->max_timestamp, 1010);
    lgi_segment_unref(opened);
    lgi_segment_unref(segment);
}
END_TEST

static Suite *segment_suite(void) {
    Suite *suite = suite_create("segment");
    TCase *tc = tcase_create("segment");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_makes_kafka_named_files);
    tcase_add_test(tc, index_entry_after_more_than_interval_bytes);
    tcase_add_test(tc, scan_to_offset_finds_containing_batch);
    tcase_add_test(tc, find_time_returns_first_record_at_or_after);
    tcase_add_test(tc, truncate_to_removes_whole_batch_holding_offset);
    tcase_add_test(tc, recover_cuts_torn_tail_and_rebuilds_indexes);
    tcase_add_test(tc, seal_stores_indexes_that_load_back);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(segment_suite()); }
