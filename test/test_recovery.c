/*
 * test_recovery.c -- reopening a partition after a crash: torn tails, bad
 * CRCs, missing/corrupt/torn indexes, empty files, the recovery point, the
 * leader-epoch checkpoint.
 */
#include "logtest.h"

#include <fcntl.h>
#include <unistd.h>

static char *dir;
static lgi_io_t *io;
static lgi_log_config_t config;
static size_t batch_len; /* every test batch: 2 records of 100 bytes */

static void setup(void) {
    dir = lgt_tmpdir("recovery");
    io = lgt_io();
    lgt_default_config(&config);
    config.index_interval_bytes = 300;
    uint8_t *probe = lgt_batch(2, 1000, 100, &batch_len);
    lgi_free(probe);
    /* five batches a segment */
    config.segment_bytes = (int64_t)batch_len * 5;
}

static void teardown(void) {
    lgi_io_close(io);
    lgt_rmrf(dir);
    free(dir);
}

static lgi_partition_t *reopen(int64_t recovery_point, int clean) {
    lgi_partition_t *partition = NULL;
    ck_assert_int_eq(lgi_partition_open(dir, &config, io, recovery_point,
                                        clean, 1000, &partition),
                     LG_OK);
    return partition;
}

/* A closed partition of batches batches (offsets 0..2*batches-1). */
static void populate(int batches) {
    lgi_partition_t *partition = reopen(0, 0);
    lgt_append_n(partition, batches, 2, 100, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}

static int64_t log_end_of(lgi_partition_t *partition) {
    int64_t end;
    lgi_partition_watermarks(partition, NULL, &end);
    return end;
}

/* Reads every offset from 0 and checks batches are whole and consecutive. */
static void check_readable(lgi_partition_t *partition) {
    int64_t offset = 0, end = log_end_of(partition);
    while (offset < end) {
        uint8_t *data;
        size_t len;
        int64_t bases[64], last;
        ck_assert_int_eq(lgi_partition_read(partition, offset, 1 << 20, &data,
                                            &len),
                         LG_OK);
        size_t n = lgt_batch_bases(data, len, bases, 64, &last);
        ck_assert_uint_gt(n, 0);
        ck_assert_int_eq(bases[0], offset);
        offset = last + 1;
        lgi_free(data);
    }
    ck_assert_int_eq(offset, end);
}

START_TEST(recover_truncates_torn_tail) {
    populate(4);
    char *log = lgt_path(dir, "00000000000000000000.log");
    ck_assert_int_eq(lgt_truncate(log, (long long)batch_len * 3 + 40), 0);
    lgi_partition_t *partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 6);
    ck_assert_int_eq(lgt_file_size(log), (long long)batch_len * 3);
    check_readable(partition);
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_ALL), 6);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(log);
}
END_TEST

START_TEST(recover_truncates_at_first_bad_crc) {
    populate(14); /* segments at 0, 10, 20 (5 batches each, last has 4) */
    char *second = lgt_segment_file(dir, 10, ".log");
    char *third = lgt_segment_file(dir, 20, ".log");
    ck_assert_int_ge(lgt_file_size(third), 0);
    /* Flip a bit inside the value of the 3rd batch of segment 10. */
    ck_assert_int_eq(lgt_flip_bit(second, (long long)batch_len * 2 + 150, 3),
                     0);
    lgi_partition_t *partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 14); /* 10 + two batches */
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 2);
    ck_assert_int_eq(lgt_file_size(second), (long long)batch_len * 2);
    ck_assert_int_eq(lgt_file_size(third), -1);
    char *third_index = lgt_segment_file(dir, 20, ".index");
    ck_assert_int_eq(lgt_file_size(third_index), -1);
    check_readable(partition);
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_ALL),
                     14);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(second);
    free(third);
    free(third_index);
}
END_TEST

/* Reopens after damage() to segment 0's index (below the recovery point)
 * and checks the rebuilt file equals the original. */
static void check_index_rebuilt(void (*damage)(const char *path)) {
    populate(12);
    char *index = lgt_path(dir, "00000000000000000000.index");
    size_t original_len, rebuilt_len;
    uint8_t *original = lgt_read_file(index, &original_len);
    ck_assert_ptr_nonnull(original);
    ck_assert_uint_gt(original_len, 8);
    damage(index);
    lgi_partition_t *partition = reopen(24, 0);
    ck_assert_int_eq(log_end_of(partition), 24);
    check_readable(partition);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    uint8_t *rebuilt = lgt_read_file(index, &rebuilt_len);
    ck_assert_uint_eq(rebuilt_len, original_len);
    ck_assert_mem_eq(rebuilt, original, original_len);
    free(original);
    free(rebuilt);
    free(index);
}

static void remove_file(const char *path) { ck_assert_int_eq(unlink(path), 0); }

static void scramble_file(const char *path) {
    const uint8_t backwards[16] = {0, 0, 0, 9, 0, 0, 0, 1,
                                   0, 0, 0, 3, 0, 0, 0, 2};
    ck_assert_int_eq(lgt_write_file(path, backwards, sizeof(backwards)), 0);
}

static void tear_file(const char *path) {
    ck_assert_int_eq(lgt_truncate(path, lgt_file_size(path) - 3), 0);
}

START_TEST(recover_rebuilds_missing_index) { check_index_rebuilt(remove_file); }
END_TEST

START_TEST(recover_rebuilds_corrupt_index) { check_index_rebuilt(scramble_file); }
END_TEST

START_TEST(recover_rebuilds_torn_index) { check_index_rebuilt(tear_file); }
END_TEST

START_TEST(recover_handles_empty_files) {
    /* An empty directory gets segment 0. */
    lgi_partition_t *partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 0);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *log = lgt_path(dir, "00000000000000000000.log");
    ck_assert_int_eq(lgt_file_size(log), 0);
    /* Empty .log with missing indexes, and an empty segment after a full
     * one (a crash right after a roll). */
    char *index = lgt_path(dir, "00000000000000000000.index");
    unlink(index);
    partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 0);
    lgt_append_n(partition, 5, 2, 100, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *empty = lgt_segment_file(dir, 10, ".log");
    ck_assert_int_eq(lgt_write_file(empty, "", 0), 0);
    partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 10);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 2);
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_ALL),
                     10);
    check_readable(partition);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(log);
    free(index);
    free(empty);
}
END_TEST

START_TEST(recovery_skips_segments_below_recovery_point) {
    populate(12); /* segments 0, 10, 20 */
    char *first = lgt_path(dir, "00000000000000000000.log");
    long long size = lgt_file_size(first);
    /* Corrupt a batch of sealed segment 0: with the recovery point past
     * it, recovery must not scan it, so nothing is truncated. */
    ck_assert_int_eq(lgt_flip_bit(first, (long long)batch_len * 3 + 150, 0),
                     0);
    lgi_partition_t *partition = reopen(20, 0);
    ck_assert_int_eq(log_end_of(partition), 24);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 3);
    ck_assert_int_eq(lgt_file_size(first), size);
    /* The reader still validates: the damaged batch is reported. */
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(lgi_partition_read(partition, 6, 1, &data, &len),
                     LG_ERR_CORRUPT);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    /* With the recovery point at 0 the same damage is found and cut. */
    partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 6);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 1);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(first);
}
END_TEST

START_TEST(recover_rebuilds_corrupt_epoch_checkpoint) {
    lgi_partition_t *partition = reopen(0, 0);
    int32_t epoch;
    int64_t end;
    lgi_partition_set_leader_epoch(partition, 4);
    lgt_append_n(partition, 3, 2, 100, 1000, LG_ACKS_LEADER);
    lgi_partition_set_leader_epoch(partition, 6);
    lgt_append_n(partition, 3, 2, 100, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *checkpoint = lgt_path(dir, "leader-epoch-checkpoint");
    ck_assert_int_eq(lgt_flip_bit(checkpoint, 5, 1), 0);
    partition = reopen(12, 1);
    lgi_partition_end_offset_for_epoch(partition, 5, &epoch, &end);
    ck_assert_int_eq(epoch, 4);
    ck_assert_int_eq(end, 6);
    lgi_partition_end_offset_for_epoch(partition, 6, &epoch, &end);
    ck_assert_int_eq(epoch, 6);
    ck_assert_int_eq(end, 12);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(checkpoint);
}
END_TEST

/* Overwrites the 4-byte big-endian field at position of file path. */
static void put_be32(const char *path, long long position, uint32_t value) {
    uint8_t bytes[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16),
                        (uint8_t)(value >> 8), (uint8_t)value};
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, 4, (off_t)position), 4);
    close(fd);
}

/* partitionLeaderEpoch (bytes 12..15 of a batch) is outside the CRC: a
 * batch whose first sector was torn while the rest landed keeps a valid
 * CRC with a wrong epoch.  The checkpoint is stored before the first batch
 * of a newer epoch is written, so a scanned batch must carry the epoch the
 * checkpoint gives its offset; one that does not is cut off like a bad
 * CRC (older or newer epoch alike), and one that does is kept. */
START_TEST(recover_rejects_batch_whose_epoch_the_checkpoint_denies) {
    lgi_partition_t *partition = reopen(0, 0);
    lgi_partition_set_leader_epoch(partition, 4);
    lgt_append_n(partition, 2, 2, 100, 1000, LG_ACKS_LEADER);
    lgi_partition_set_leader_epoch(partition, 5);
    lgt_append_n(partition, 2, 2, 100, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *log = lgt_path(dir, "00000000000000000000.log");
    partition = reopen(0, 0); /* scanned, nothing wrong: all kept */
    ck_assert_int_eq(log_end_of(partition), 8);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);

    /* the 4th batch says epoch 9, which the checkpoint never saw */
    put_be32(log, (long long)batch_len * 3 + 12, 9);
    partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 6);
    ck_assert_int_eq(lgt_file_size(log), (long long)batch_len * 3);
    check_readable(partition);
    int32_t epoch;
    int64_t end;
    lgi_partition_end_offset_for_epoch(partition, 9, &epoch, &end);
    ck_assert_int_eq(epoch, 5);
    ck_assert_int_eq(end, 6);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);

    /* the 2nd batch's epoch torn to zeros: cut there, the rest with it */
    put_be32(log, (long long)batch_len + 12, 0);
    partition = reopen(0, 0);
    ck_assert_int_eq(log_end_of(partition), 2);
    ck_assert_int_eq(lgt_file_size(log), (long long)batch_len);
    check_readable(partition);
    lgi_partition_end_offset_for_epoch(partition, 9, &epoch, &end);
    ck_assert_int_eq(epoch, 4);
    ck_assert_int_eq(end, 2);
    /* appends go on after the cut */
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_ALL), 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(log);
}
END_TEST

static Suite *recovery_suite(void) {
    Suite *suite = suite_create("recovery");
    TCase *tc = tcase_create("recovery");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, recover_truncates_torn_tail);
    tcase_add_test(tc, recover_truncates_at_first_bad_crc);
    tcase_add_test(tc, recover_rebuilds_missing_index);
    tcase_add_test(tc, recover_rebuilds_corrupt_index);
    tcase_add_test(tc, recover_rebuilds_torn_index);
    tcase_add_test(tc, recover_handles_empty_files);
    tcase_add_test(tc, recovery_skips_segments_below_recovery_point);
    tcase_add_test(tc, recover_rebuilds_corrupt_epoch_checkpoint);
    tcase_add_test(tc, recover_rejects_batch_whose_epoch_the_checkpoint_denies);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(recovery_suite()); }
