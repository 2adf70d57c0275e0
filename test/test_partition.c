/*
 * test_partition.c -- one partition's log: offsets, reads, time lookups,
 * rolling, indexes, truncation, the leader-epoch cache, durability modes,
 * concurrent appends, write and fsync failures.
 */
#include "logtest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static char *dir;
static lgi_io_t *io;
static lgi_log_config_t config;

static void setup(void) {
    dir = lgt_tmpdir("partition");
    io = lgt_io();
    lgt_default_config(&config);
}

static void teardown(void) {
    lgi_io_close(io);
    lgt_rmrf(dir);
    free(dir);
}

static lgi_partition_t *open_partition(int64_t recovery_point, int clean) {
    lgi_partition_t *partition = NULL;
    ck_assert_int_eq(lgi_partition_open(dir, &config, io, recovery_point,
                                        clean, 1000, &partition),
                     LG_OK);
    return partition;
}

START_TEST(append_assigns_consecutive_offsets) {
    lgi_partition_t *partition = open_partition(0, 0);
    int64_t start, end;
    for (int i = 0; i < 5; i++) {
        size_t len;
        int64_t base;
        uint8_t *batch = lgt_batch(3, 1000, 10, &len);
        ck_assert_int_eq(lgi_partition_append(partition, batch, len,
                                              LG_ACKS_LEADER, 1000, &base),
                         LG_OK);
        ck_assert_int_eq(base, i * 3);
    }
    lgi_partition_watermarks(partition, &start, &end);
    ck_assert_int_eq(start, 0);
    ck_assert_int_eq(end, 15);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    /* Offsets continue after a reopen. */
    partition = open_partition(0, 1);
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 10, 1000, LG_ACKS_LEADER),
                     15);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(read_from_middle_of_batch_returns_containing_batch) {
    lgi_partition_t *partition = open_partition(0, 0);
    uint8_t *data;
    size_t len;
    int64_t bases[16], last;
    lgt_append_n(partition, 10, 10, 100, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_read(partition, 37, 1, &data, &len), LG_OK);
    ck_assert_uint_eq(lgt_batch_bases(data, len, bases, 16, &last), 1);
    ck_assert_int_eq(bases[0], 30);
    ck_assert_int_eq(last, 39);
    lgi_free(data);
    /* max_bytes bounds whole batches, at least one. */
    ck_assert_int_eq(lgi_partition_read(partition, 37, 1 << 20, &data, &len),
                     LG_OK);
    ck_assert_uint_eq(lgt_batch_bases(data, len, bases, 16, &last), 7);
    ck_assert_int_eq(last, 99);
    lgi_free(data);
    ck_assert_int_eq(lgi_partition_read(partition, 100, 100, &data, &len),
                     LG_OK);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(lgi_partition_read(partition, 101, 100, &data, &len),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(offset_for_time_finds_first_at_or_after) {
    config.segment_bytes = 2000;
    config.index_interval_bytes = 256;
    lgi_partition_t *partition = open_partition(0, 0);
    int64_t offset;
    /* batch b holds offsets 4b..4b+3 with timestamps 10000+100b+i */
    for (int b = 0; b < 30; b++)
        lgt_append_n(partition, 1, 4, 40, 10000 + 100 * b, LG_ACKS_LEADER);
    ck_assert_uint_gt(lgi_partition_segment_count(partition), 2);
    ck_assert_int_eq(lgi_partition_offset_for_time(partition, 0, &offset),
                     LG_OK);
    ck_assert_int_eq(offset, 0);
    ck_assert_int_eq(lgi_partition_offset_for_time(partition, 11702, &offset),
                     LG_OK);
    ck_assert_int_eq(offset, 17 * 4 + 2);
    ck_assert_int_eq(lgi_partition_offset_for_time(partition, 11750, &offset),
                     LG_OK);
    ck_assert_int_eq(offset, 18 * 4);
    ck_assert_int_eq(lgi_partition_offset_for_time(partition, 99999, &offset),
                     LG_OK);
    ck_assert_int_eq(offset, 120);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(roll_on_segment_bytes_creates_kafka_named_files) {
    config.segment_bytes = 1500;
    lgi_partition_t *partition = open_partition(0, 0);
    size_t len;
    uint8_t *probe = lgt_batch(5, 1000, 50, &len);
    lgi_free(probe);
    int per_segment = (int)(1500 / len);
    lgt_append_n(partition, per_segment * 3, 5, 50, 1000, LG_ACKS_LEADER);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 3);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    const int64_t bases[3] = {0, 5 * per_segment, 10 * per_segment};
    for (int i = 0; i < 3; i++) {
        const char *suffixes[4] = {".log", ".index", ".timeindex",
                                   ".txnindex"};
        for (int s = 0; s < 4; s++) {
            char *path = lgt_segment_file(dir, bases[i], suffixes[s]);
            ck_assert_msg(lgt_file_size(path) >= 0, "missing %s", path);
            free(path);
        }
        char *log = lgt_segment_file(dir, bases[i], ".log");
        ck_assert_int_le(lgt_file_size(log), 1500);
        free(log);
    }
    char *first = lgt_path(dir, "00000000000000000000.log");
    ck_assert_int_eq(lgt_file_size(first), (long long)len * per_segment);
    free(first);
}
END_TEST

START_TEST(roll_on_segment_ms) {
    config.segment_ms = 1000;
    lgi_partition_t *partition = open_partition(0, 0);
    lgt_append_n(partition, 3, 1, 10, 5000, LG_ACKS_LEADER);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 1);
    lgt_append_n(partition, 1, 1, 10, 5999, LG_ACKS_LEADER);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 1);
    lgt_append_n(partition, 1, 1, 10, 6000, LG_ACKS_LEADER);
    ck_assert_uint_eq(lgi_partition_segment_count(partition), 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    char *second = lgt_segment_file(dir, 4, ".log");
    ck_assert_int_gt(lgt_file_size(second), 0);
    free(second);
}
END_TEST

START_TEST(index_entries_every_interval_bytes) {
    config.index_interval_bytes = 1000;
    lgi_partition_t *partition = open_partition(0, 0);
    size_t len;
    uint8_t *probe = lgt_batch(1, 1000, 400, &len);
    lgi_free(probe);
    lgt_append_n(partition, 40, 1, 400, 1000, LG_ACKS_LEADER);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    /* Kafka's rule: a batch is indexed when more than interval bytes were
     * appended since the last entry; count entries the same way. */
    long long since = 0, expected = 0;
    for (int i = 0; i < 40; i++) {
        if (since > 1000) {
            expected++;
            since = 0;
        }
        since += (long long)len;
    }
    char *index = lgt_path(dir, "00000000000000000000.index");
    ck_assert_int_eq(lgt_file_size(index), expected * 8);
    size_t bytes_len;
    uint8_t *bytes = lgt_read_file(index, &bytes_len);
    for (long long e = 0; e < expected; e++) {
        const uint8_t *p = bytes + e * 8;
        uint32_t relative = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        uint32_t position = (uint32_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
        ck_assert_uint_eq(position, (uint64_t)relative * len);
    }
    free(bytes);
    free(index);
}
END_TEST

START_TEST(truncate_to_removes_later_records_and_epochs) {
    config.segment_bytes = 1200;
    lgi_partition_t *partition = open_partition(0, 0);
    int32_t epoch;
    int64_t end, log_end;
    ck_assert_int_eq(lgi_partition_set_leader_epoch(partition, 1), LG_OK);
    lgt_append_n(partition, 10, 2, 60, 1000, LG_ACKS_LEADER); /* 0..19 */
    ck_assert_int_eq(lgi_partition_set_leader_epoch(partition, 2), LG_OK);
    lgt_append_n(partition, 10, 2, 60, 2000, LG_ACKS_LEADER); /* 20..39 */
    size_t segments = lgi_partition_segment_count(partition);
    ck_assert_uint_gt(segments, 2);
    ck_assert_int_eq(lgi_partition_truncate_to(partition, 15), LG_OK);
    lgi_partition_watermarks(partition, NULL, &log_end);
    ck_assert_int_eq(log_end, 14); /* batch 14..15 holds 15: goes whole */
    ck_assert_uint_lt(lgi_partition_segment_count(partition), segments);
    lgi_partition_end_offset_for_epoch(partition, 2, &epoch, &end);
    ck_assert_int_eq(epoch, 1);
    ck_assert_int_eq(end, 14);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(lgi_partition_read(partition, 14, 100, &data, &len),
                     LG_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(lgi_partition_read(partition, 15, 100, &data, &len),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    /* Appends continue from the new end, and it survives a reopen. */
    ck_assert_int_eq(lgt_append_n(partition, 1, 1, 10, 3000, LG_ACKS_LEADER),
                     14);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    partition = open_partition(0, 0);
    lgi_partition_watermarks(partition, NULL, &log_end);
    ck_assert_int_eq(log_end, 15);
    lgi_partition_end_offset_for_epoch(partition, 2, &epoch, &end);
    ck_assert_int_eq(epoch, 2);
    ck_assert_int_eq(end, 15);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(leader_epoch_checkpoint_persists) {
    lgi_partition_t *partition = open_partition(0, 0);
    int32_t epoch;
    int64_t end;
    lgi_partition_set_leader_epoch(partition, 3);
    lgt_append_n(partition, 2, 5, 10, 1000, LG_ACKS_LEADER); /* 0..9 */
    lgi_partition_set_leader_epoch(partition, 5);
    lgt_append_n(partition, 1, 5, 10, 1000, LG_ACKS_LEADER); /* 10..14 */
    lgi_partition_set_leader_epoch(partition, 7);
    lgt_append_n(partition, 1, 5, 10, 1000, LG_ACKS_LEADER); /* 15..19 */
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);

    char *path = lgt_path(dir, "leader-epoch-checkpoint");
    size_t len;
    char *body = (char *)lgt_read_file(path, &len);
    ck_assert_ptr_nonnull(body);
    ck_assert_msg(len > 20 && memcmp(body, "0\n3\n3 0\n5 10\n7 15\n", 18) == 0,
                  "checkpoint body: %.*s", (int)len, body);
    free(body);
    free(path);

    partition = open_partition(0, 1);
    lgi_partition_end_offset_for_epoch(partition, 5, &epoch, &end);
    ck_assert_int_eq(epoch, 5);
    ck_assert_int_eq(end, 15);
    lgi_partition_end_offset_for_epoch(partition, 6, &epoch, &end);
    ck_assert_int_eq(epoch, 5);
    ck_assert_int_eq(end, 15);
    lgi_partition_end_offset_for_epoch(partition, 7, &epoch, &end);
    ck_assert_int_eq(epoch, 7);
    ck_assert_int_eq(end, 20);
    lgi_partition_end_offset_for_epoch(partition, 2, &epoch, &end);
    ck_assert_int_eq(epoch, -1);
    ck_assert_int_eq(end, -1);
    /* Batches carry the stamped epoch. */
    uint8_t *data;
    ck_assert_int_eq(lgi_partition_read(partition, 12, 1, &data, &len), LG_OK);
    lgi_batch_header_t header;
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, &header), LG_OK);
    ck_assert_int_eq(header.partition_leader_epoch, 5);
    lgi_free(data);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(acks_all_waits_for_fdatasync) {
    lgi_partition_t *partition = open_partition(0, 0);
    lgi_io_stats_t before, after;
    lgt_append_n(partition, 3, 1, 10, 1000, LG_ACKS_LEADER);
    lgi_io_get_stats(io, &before);
    ck_assert_int_lt(lgi_partition_recovery_point(partition), 3);
    lgt_append_n(partition, 1, 1, 10, 1000, LG_ACKS_ALL);
    lgi_io_get_stats(io, &after);
    ck_assert_uint_gt(after.fsyncs, before.fsyncs);
    ck_assert_int_eq(lgi_partition_recovery_point(partition), 4);
    /* acks=1 alone issues no fdatasync. */
    lgi_io_get_stats(io, &before);
    lgt_append_n(partition, 3, 1, 10, 1000, LG_ACKS_LEADER);
    lgi_io_get_stats(io, &after);
    ck_assert_uint_eq(after.fsyncs, before.fsyncs);
    ck_assert_int_eq(lgi_partition_recovery_point(partition), 4);
    ck_assert_int_eq(lgi_partition_flush(partition), LG_OK);
    ck_assert_int_eq(lgi_partition_recovery_point(partition), 7);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

#define THREADS 4
#define PER_THREAD 150

struct writer {
    lgi_partition_t *partition;
    int id;
    int acks;
};

static void *writer_main(void *arg) {
    struct writer *writer = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        lg_records_t *records = lg_records_new();
        lgi_batch_options_t options;
        lgi_buf_t out = LGI_BUF_INIT;
        char value[32];
        int n = snprintf(value, sizeof(value), "%d:%d", writer->id, i);
        lg_records_add(records, NULL, 0, value, (size_t)n, 1000);
        lg_records_add(records, NULL, 0, value, (size_t)n, 1000);
        lgi_batch_options_init(&options);
        lgi_batch_encode(&out, records, &options);
        lg_records_destroy(records);
        int64_t base;
        if (lgi_partition_append(writer->partition, out.data, out.len,
                                 (i % 3 == 0) ? LG_ACKS_ALL : writer->acks,
                                 1000, &base) != LG_OK)
            return (void *)1;
    }
    return NULL;
}

START_TEST(concurrent_appends_keep_order) {
    config.segment_bytes = 16 * 1024;
    config.index_interval_bytes = 512;
    lgi_partition_t *partition = open_partition(0, 0);
    pthread_t threads[THREADS];
    struct writer writers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        writers[t] = (struct writer){partition, t,
                                     t % 2 ? LG_ACKS_LEADER : LG_ACKS_NONE};
        pthread_create(&threads[t], NULL, writer_main, &writers[t]);
    }
    /* A reader runs alongside: what it sees is always whole and ordered. */
    for (int r = 0; r < 50; r++) {
        int64_t end;
        uint8_t *data;
        size_t len;
        lgi_partition_watermarks(partition, NULL, &end);
        if (end > 0) {
            ck_assert_int_eq(lgi_partition_read(partition, end / 2, 4096, &data,
                                                 &len),
                             LG_OK);
            lgi_free(data);
        }
    }
    for (int t = 0; t < THREADS; t++) {
        void *result;
        pthread_join(threads[t], &result);
        ck_assert_ptr_null(result);
    }
    ck_assert_int_eq(lgi_partition_flush(partition), LG_OK);
    int64_t end;
    lgi_partition_watermarks(partition, NULL, &end);
    ck_assert_int_eq(end, THREADS * PER_THREAD * 2);
    /* Every batch in offset order, each thread's values in its own order. */
    int next[THREADS] = {0};
    int64_t offset = 0;
    while (offset < end) {
        uint8_t *data;
        size_t len, at = 0;
        ck_assert_int_eq(lgi_partition_read(partition, offset, 1 << 16, &data,
                                            &len),
                         LG_OK);
        while (at < len) {
            lgi_batch_header_t header;
            lgi_record_iter_t iter;
            lgi_record_t record;
            lgi_buf_t scratch = LGI_BUF_INIT;
            int done = 0, t, i;
            ck_assert_int_eq(lgi_batch_validate(data + at, len - at, INT32_MAX,
                                                &header),
                             LG_OK);
            ck_assert_int_eq(header.base_offset, offset);
            ck_assert_int_eq(lgi_record_iter_init(&iter, data + at, &header,
                                                  &scratch),
                             LG_OK);
            ck_assert_int_eq(lgi_record_iter_next(&iter, &record, &done),
                             LG_OK);
            ck_assert_int_eq(sscanf((const char *)record.value, "%d:%d", &t,
                                    &i),
                             2);
            ck_assert_int_eq(i, next[t]);
            next[t]++;
            lgi_buf_free(&scratch);
            offset = lgi_batch_last_offset(&header) + 1;
            at += lgi_batch_size(&header);
        }
        lgi_free(data);
    }
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* A waiting acks=1 append of a small batch is written by the caller
 * (partition.c, "Writes done by the appender"); acks=0, acks=all and
 * batches over LGI_IO_SMALL_WRITE_MAX go through the I/O thread.  Either
 * way the bytes land in order and read back. */
START_TEST(small_acks1_append_is_written_by_the_caller) {
    config.max_message_bytes = 1 << 20;
    lgi_partition_t *partition = open_partition(0, 0);
    lgi_io_stats_t before, after;
    lgi_io_get_stats(io, &before);
    ck_assert_int_eq(lgt_append_n(partition, 3, 2, 100, 1000, LG_ACKS_LEADER),
                     0);
    lgi_io_get_stats(io, &after);
    ck_assert_uint_eq(after.caller_writes - before.caller_writes, 3);
    ck_assert_uint_eq(after.writes - before.writes, 3);

    before = after;
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_ALL), 6);
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_NONE),
                     8);
    size_t len;
    int64_t base;
    uint8_t *big = lgt_batch(1, 1000, LGI_IO_SMALL_WRITE_MAX, &len);
    ck_assert_uint_gt(len, LGI_IO_SMALL_WRITE_MAX);
    ck_assert_int_eq(lgi_partition_append(partition, big, len, LG_ACKS_LEADER,
                                          1000, &base),
                     LG_OK);
    ck_assert_int_eq(base, 10);
    ck_assert_int_eq(lgi_partition_flush(partition), LG_OK);
    lgi_io_get_stats(io, &after);
    ck_assert_uint_eq(after.caller_writes, before.caller_writes);
    ck_assert_uint_eq(after.writes - before.writes, 3);

    int64_t offset = 0;
    int batches = 0;
    while (offset < 11) {
        uint8_t *data;
        size_t got;
        ck_assert_int_eq(lgi_partition_read(partition, offset, 1 << 20, &data,
                                            &got),
                         LG_OK);
        lgi_batch_header_t header;
        ck_assert_int_eq(lgi_batch_validate(data, got, INT32_MAX, &header),
                         LG_OK);
        ck_assert_int_eq(header.base_offset, offset);
        offset = lgi_batch_last_offset(&header) + 1;
        batches++;
        lgi_free(data);
    }
    ck_assert_int_eq(batches, 6);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* Fault hook: fails the write (or fdatasync) of requests while armed. */
static atomic_int fail_writes;
static atomic_int fail_fsyncs;

static int fault(void *opaque, const lgi_io_req_t *req, int stage) {
    if (stage == LGI_IO_FAULT_WRITE && atomic_load(&fail_writes) > 0) {
        atomic_fetch_sub(&fail_writes, 1);
        return -ENOSPC;
    }
    if (stage == LGI_IO_FAULT_FSYNC && atomic_load(&fail_fsyncs) > 0) {
        atomic_fetch_sub(&fail_fsyncs, 1);
        return -EIO;
    }
    return 0;
}

START_TEST(write_error_rolls_back_and_later_append_succeeds) {
    lgi_partition_t *partition = open_partition(0, 0);
    size_t len;
    int64_t base, end;
    lgt_append_n(partition, 4, 2, 100, 1000, LG_ACKS_LEADER); /* 0..7 */
    char *log = lgt_path(dir, "00000000000000000000.log");
    long long size_before = lgt_file_size(log);
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_writes, 1);
    uint8_t *batch = lgt_batch(2, 1000, 100, &len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, len,
                                          LG_ACKS_LEADER, 1000, &base),
                     LG_ERR_DISK_FULL);
    lgi_partition_watermarks(partition, NULL, &end);
    ck_assert_int_eq(end, 8);
    /* Space is back: the next append takes offset 8 and nothing of the
     * failed one remains. */
    ck_assert_int_eq(lgt_append_n(partition, 1, 2, 100, 1000, LG_ACKS_ALL), 8);
    ck_assert_int_eq(lgt_file_size(log), size_before + (long long)len);
    free(log);
    lgi_io_set_fault(io, NULL, NULL);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    partition = open_partition(0, 0);
    lgi_partition_watermarks(partition, NULL, &end);
    ck_assert_int_eq(end, 10);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(fsync_error_fences_partition) {
    lgi_partition_t *partition = open_partition(0, 0);
    size_t len;
    int64_t base;
    lgt_append_n(partition, 2, 1, 10, 1000, LG_ACKS_ALL);
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_fsyncs, 1);
    uint8_t *batch = lgt_batch(1, 1000, 10, &len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, len, LG_ACKS_ALL,
                                          1000, &base),
                     LG_ERR_IO);
    batch = lgt_batch(1, 1000, 10, &len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, len,
                                          LG_ACKS_LEADER, 1000, &base),
                     LG_ERR_READ_ONLY);
    ck_assert_int_eq(lgi_partition_recovery_point(partition), 2);
    lgi_io_set_fault(io, NULL, NULL);
    lgi_partition_close(partition);
    /* Reopen recovers and accepts appends again. */
    partition = open_partition(2, 0);
    batch = lgt_batch(1, 1000, 10, &len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, len, LG_ACKS_ALL,
                                          1000, &base),
                     LG_OK);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(record_too_large_is_rejected) {
    config.max_message_bytes = 200;
    lgi_partition_t *partition = open_partition(0, 0);
    size_t len;
    uint8_t *batch = lgt_batch(1, 1000, 500, &len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, len,
                                          LG_ACKS_LEADER, 1000, NULL),
                     LG_ERR_RECORD_TOO_LARGE);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(preallocation_keeps_file_size_at_logical_end) {
    config.preallocate_bytes = 64 * 1024;
    lgi_partition_t *partition = open_partition(0, 0);
    size_t len;
    uint8_t *probe = lgt_batch(2, 1000, 100, &len);
    lgi_free(probe);
    lgt_append_n(partition, 5, 2, 100, 1000, LG_ACKS_LEADER);
    char *log = lgt_path(dir, "00000000000000000000.log");
    ck_assert_int_eq(lgt_file_size(log), (long long)len * 5);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    partition = open_partition(0, 0);
    int64_t end;
    lgi_partition_watermarks(partition, NULL, &end);
    ck_assert_int_eq(end, 10);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(log);
}
END_TEST

static Suite *partition_suite(void) {
    Suite *suite = suite_create("partition");
    TCase *tc = tcase_create("partition");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, append_assigns_consecutive_offsets);
    tcase_add_test(tc, read_from_middle_of_batch_returns_containing_batch);
    tcase_add_test(tc, offset_for_time_finds_first_at_or_after);
    tcase_add_test(tc, roll_on_segment_bytes_creates_kafka_named_files);
    tcase_add_test(tc, roll_on_segment_ms);
    tcase_add_test(tc, index_entries_every_interval_bytes);
    tcase_add_test(tc, truncate_to_removes_later_records_and_epochs);
    tcase_add_test(tc, leader_epoch_checkpoint_persists);
    tcase_add_test(tc, acks_all_waits_for_fdatasync);
    tcase_add_test(tc, concurrent_appends_keep_order);
    tcase_add_test(tc, small_acks1_append_is_written_by_the_caller);
    tcase_add_test(tc, write_error_rolls_back_and_later_append_succeeds);
    tcase_add_test(tc, fsync_error_fences_partition);
    tcase_add_test(tc, record_too_large_is_rejected);
    tcase_add_test(tc, preallocation_keeps_file_size_at_logical_end);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(partition_suite()); }
