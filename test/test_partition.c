/*
 * test_partition.c -- one partition's log: offsets, reads, time lookups,
 * rolling, indexes, truncation, the leader-epoch cache, durability modes,
 * concurrent appends, write and fsync failures, and a reader following
 * the tail across each of those (and the errors reads give for corrupt
 * batches).
 */
#include "logtest.h"
#include "segment.h"

#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
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


/* ------------------------------------------------------------------------
 * A reader following the tail: each read at the end of what it read
 * before gets exactly the batch appended since, whatever cut, replaced or
 * removed segment bytes in between (reads position themselves by the
 * partition's recently published batch ends; these tests also check that
 * everything that may move bytes forgets them).
 * --------------------------------------------------------------------- */

/* A batch as appended: its offsets [base, end) and a copy of its bytes. */
typedef struct kept {
    int64_t base, end;
    uint8_t *bytes;
    size_t len;
} kept_t;

/* Appends a batch of count records with values of value_size bytes and
 * timestamps from timestamp (so batches differ), keeping a copy. */
static kept_t append_kept(lgi_partition_t *partition, int count,
                          int64_t timestamp, size_t value_size) {
    kept_t kept;
    uint8_t *batch = lgt_batch(count, timestamp, value_size, &kept.len);
    kept.bytes = malloc(kept.len);
    ck_assert_ptr_nonnull(kept.bytes);
    memcpy(kept.bytes, batch, kept.len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, kept.len,
                                          LG_ACKS_LEADER, timestamp,
                                          &kept.base),
                     LG_OK);
    kept.end = kept.base + count;
    return kept;
}

/* Checks that data (len bytes a read returned) starts with the batch
 * kept: the base offset the append assigned, the length, and every byte
 * from the magic on (the leader epoch is stamped at append).  Returns
 * the batch's size. */
static size_t expect_batch(const uint8_t *data, size_t len,
                           const kept_t *kept) {
    lgi_batch_header_t header;
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_ge(len, kept->len);
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, &header),
                     LG_OK);
    ck_assert_int_eq(header.base_offset, kept->base);
    ck_assert_uint_eq(lgi_batch_size(&header), kept->len);
    ck_assert_int_eq(memcmp(data + 16, kept->bytes + 16, kept->len - 16), 0);
    return kept->len;
}

/* Reads at offset and checks the result is exactly batches[0..count). */
static void expect_read(lgi_partition_t *partition, int64_t offset,
                        size_t max_bytes, const kept_t *batches,
                        size_t count) {
    uint8_t *data;
    size_t len, at = 0;
    ck_assert_int_eq(lgi_partition_read(partition, offset, max_bytes, &data,
                                        &len),
                     LG_OK);
    for (size_t i = 0; i < count; i++)
        at += expect_batch(data + at, len - at, &batches[i]);
    ck_assert_uint_eq(at, len);
    lgi_free(data);
}

/* Reads from offset on, a read per segment at most, and checks the
 * results are exactly batches[0..count) and then the end. */
static void expect_all(lgi_partition_t *partition, int64_t offset,
                       const kept_t *batches, size_t count) {
    size_t i = 0;
    while (i < count) {
        uint8_t *data;
        size_t len, at = 0;
        ck_assert_int_eq(lgi_partition_read(partition, offset, 1 << 20,
                                            &data, &len),
                         LG_OK);
        ck_assert_uint_gt(len, 0);
        while (at < len) {
            ck_assert_uint_lt(i, count);
            at += expect_batch(data + at, len - at, &batches[i]);
            offset = batches[i++].end;
        }
        lgi_free(data);
    }
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(lgi_partition_read(partition, offset, 1 << 20, &data,
                                        &len),
                     LG_OK);
    ck_assert_uint_eq(len, 0);
}

/* The tail reader's step: at *position the one batch there is kept, and
 * after it nothing yet. */
static void read_tail(lgi_partition_t *partition, int64_t *position,
                      const kept_t *kept) {
    uint8_t *data;
    size_t len;
    expect_read(partition, *position, 1 << 20, kept, 1);
    *position = kept->end;
    ck_assert_int_eq(lgi_partition_read(partition, *position, 1 << 20, &data,
                                        &len),
                     LG_OK);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
}

static uint64_t recent_hits(lgi_partition_t *partition) {
    uint64_t hits;
    size_t remembered;
    lgi_partition_recent_ends(partition, &hits, &remembered);
    return hits;
}

static size_t recent_remembered(lgi_partition_t *partition) {
    uint64_t hits;
    size_t remembered;
    lgi_partition_recent_ends(partition, &hits, &remembered);
    return remembered;
}

static void free_kept(kept_t *batches, size_t count) {
    for (size_t i = 0; i < count; i++)
        free(batches[i].bytes);
}

START_TEST(tail_reader_is_positioned_by_recent_batch_ends) {
    config.index_interval_bytes = 256;
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[100];
    int64_t position = 0;
    for (int b = 0; b < 100; b++) {
        batches[b] = append_kept(partition, 1 + b % 4, 1000 + 10 * b,
                                 20 + (size_t)(b % 7) * 30);
        read_tail(partition, &position, &batches[b]);
    }
    /* Every read at a batch end but the first (at 0, no end below it)
     * took its position from the ends remembered at publish. */
    ck_assert_uint_eq(recent_hits(partition), 99);
    ck_assert_uint_eq(recent_remembered(partition), 64);
    /* Offsets inside a batch, recent or older than the remembered ends,
     * return the batch holding them. */
    for (int b = 0; b < 100; b++)
        expect_read(partition, batches[b].end - 1, 1, &batches[b], 1);
    /* max_bytes counts whole batches, at least one; the batch after
     * them is left out even when only part of it would not fit. */
    uint64_t hits = recent_hits(partition);
    size_t three = batches[97].len + batches[98].len + batches[99].len;
    expect_read(partition, batches[97].base, three, &batches[97], 3);
    expect_read(partition, batches[97].base, three - 1, &batches[97], 2);
    expect_read(partition, batches[97].base, 0, &batches[97], 1);
    ck_assert_uint_eq(recent_hits(partition), hits + 3);
    /* Batch 10's start is older than the 64 ends remembered: found
     * through the offset index. */
    size_t two = batches[10].len + batches[11].len;
    expect_read(partition, batches[10].base, two, &batches[10], 2);
    expect_read(partition, batches[41].base + 1, 1 << 20, &batches[41], 59);
    ck_assert_uint_eq(recent_hits(partition), hits + 3);
    free_kept(batches, 100);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(reads_of_large_batches_keep_whole_batches_within_max_bytes) {
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[4];
    int64_t position = 0;
    for (int b = 0; b < 4; b++) { /* about 10 KB each */
        batches[b] = append_kept(partition, 1 + b % 2, 1000 + b, 5000);
        read_tail(partition, &position, &batches[b]);
    }
    size_t one = batches[0].len, two = one + batches[1].len;
    expect_read(partition, 0, one + one / 2, batches, 1);
    expect_read(partition, 0, two, batches, 2);
    expect_read(partition, 0, two + batches[2].len - 1, batches, 2);
    expect_read(partition, 1, 100, &batches[1], 1);
    expect_read(partition, 1, 1 << 20, &batches[1], 3);
    free_kept(batches, 4);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(tail_reader_follows_across_segment_rolls) {
    config.segment_bytes = 1000;
    config.index_interval_bytes = 256;
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[60];
    int64_t position = 0;
    for (int b = 0; b < 60; b++) {
        batches[b] = append_kept(partition, 1 + b % 3, 5000 + b, 60 + b % 5);
        read_tail(partition, &position, &batches[b]);
    }
    ck_assert_uint_gt(lgi_partition_segment_count(partition), 8);
    /* The first batch of each segment is not found by its predecessor's
     * end (that end lies in the segment before); the others are. */
    ck_assert_uint_ge(recent_hits(partition),
                      60 - lgi_partition_segment_count(partition));
    /* A reader from the start crosses each boundary, a batch or a
     * segment at a time. */
    for (int64_t offset = 0, b = 0; b < 60; b++) {
        expect_read(partition, offset, 1, &batches[b], 1);
        offset = batches[b].end;
    }
    expect_all(partition, 0, batches, 60);
    free_kept(batches, 60);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(tail_reader_after_write_failure_reads_the_batch_written_instead) {
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[8];
    int64_t position = 0, end;
    size_t len;
    for (int b = 0; b < 5; b++) {
        batches[b] = append_kept(partition, 2, 1000 + b, 100);
        read_tail(partition, &position, &batches[b]);
    }
    ck_assert_uint_gt(recent_remembered(partition), 0);
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_writes, 1);
    uint8_t *batch = lgt_batch(3, 2000, 40, &len);
    ck_assert_int_eq(lgi_partition_append(partition, batch, len,
                                          LG_ACKS_LEADER, 2000, NULL),
                     LG_ERR_DISK_FULL);
    /* The rollback cut the log back to the published end and forgot the
     * remembered ends with the bytes. */
    ck_assert_uint_eq(recent_remembered(partition), 0);
    lgi_partition_watermarks(partition, NULL, &end);
    ck_assert_int_eq(end, position);
    /* What is written in the failed batch's place is what the tail
     * reader gets next, and the batches before it are unchanged. */
    for (int b = 5; b < 8; b++) {
        batches[b] = append_kept(partition, 1 + b % 2, 3000 + b, 70 + b);
        read_tail(partition, &position, &batches[b]);
    }
    expect_read(partition, batches[3].base, 1 << 20, &batches[3], 5);
    expect_read(partition, 0, 1 << 20, batches, 8);
    lgi_io_set_fault(io, NULL, NULL);
    free_kept(batches, 8);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(tail_reader_after_truncation_reads_the_new_history) {
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t old[10], batches[8];
    int64_t position = 0, end;
    uint8_t *data;
    size_t len;
    for (int b = 0; b < 10; b++) { /* [0, 2) ... [18, 20) */
        old[b] = append_kept(partition, 2, 1000 + b, 60);
        read_tail(partition, &position, &old[b]);
    }
    /* A follower diverged from its leader: offsets 6 on are replaced by
     * batches of other sizes, whose offsets 8, 10, 12, ... now lie
     * inside batches although they were batch ends before. */
    ck_assert_int_eq(lgi_partition_truncate_to(partition, 6), LG_OK);
    ck_assert_uint_eq(recent_remembered(partition), 0);
    ck_assert_int_eq(lgi_partition_read(partition, 8, 1 << 20, &data, &len),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    memcpy(batches, old, 3 * sizeof *old);
    position = 6;
    for (int b = 3; b < 8; b++) { /* [6, 9) [9, 12) ... [18, 21) */
        batches[b] = append_kept(partition, 3, 2000 + b, 90);
        read_tail(partition, &position, &batches[b]);
    }
    for (int64_t offset = 0; offset < 21; offset++) {
        int b = offset < 6 ? (int)offset / 2 : 3 + (int)(offset - 6) / 3;
        expect_read(partition, offset, 1, &batches[b], 1);
    }
    expect_read(partition, 10, 1 << 20, &batches[4], 4);
    /* Reset to a leader's log start past everything: the old segments
     * go, reads start there, and the tail reader follows from it. */
    ck_assert_int_eq(lgi_partition_restart_at(partition, 100), LG_OK);
    ck_assert_uint_eq(recent_remembered(partition), 0);
    lgi_partition_watermarks(partition, &position, &end);
    ck_assert_int_eq(position, 100);
    ck_assert_int_eq(end, 100);
    ck_assert_int_eq(lgi_partition_read(partition, 20, 1 << 20, &data, &len),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    kept_t after[3];
    for (int b = 0; b < 3; b++) {
        after[b] = append_kept(partition, 2, 4000 + b, 50);
        ck_assert_int_eq(after[b].base, 100 + 2 * b);
        read_tail(partition, &position, &after[b]);
    }
    expect_read(partition, 100, 1 << 20, after, 3);
    free_kept(old, 10);
    free_kept(batches + 3, 5);
    free_kept(after, 3);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(tail_reader_after_retention_reads_from_the_new_log_start) {
    config.segment_bytes = 800;
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[40];
    int64_t position = 0, start;
    uint8_t *data;
    size_t len, deleted;
    for (int b = 0; b < 30; b++) {
        batches[b] = append_kept(partition, 2, 1000 + b, 50 + b % 3);
        read_tail(partition, &position, &batches[b]);
    }
    size_t segments = lgi_partition_segment_count(partition);
    ck_assert_uint_gt(segments, 4);
    ck_assert_int_eq(lgi_partition_delete_before(partition, batches[20].base,
                                                 &deleted),
                     LG_OK);
    ck_assert_uint_gt(deleted, 1);
    ck_assert_uint_eq(recent_remembered(partition), 0);
    lgi_partition_watermarks(partition, &start, NULL);
    ck_assert_int_gt(start, 0);
    ck_assert_int_le(start, batches[20].base);
    int first = 0;
    while (batches[first].base < start)
        first++;
    ck_assert_int_eq(batches[first].base, start); /* a segment's base */
    ck_assert_int_eq(lgi_partition_read(partition, start - 1, 1 << 20, &data,
                                        &len),
                     LG_ERR_OFFSET_OUT_OF_RANGE);
    expect_all(partition, start, &batches[first], 30 - (size_t)first);
    for (int b = 30; b < 40; b++) {
        batches[b] = append_kept(partition, 2, 1000 + b, 50 + b % 3);
        read_tail(partition, &position, &batches[b]);
    }
    for (int b = first; b < 40; b++)
        expect_read(partition, batches[b].base, 1, &batches[b], 1);
    expect_all(partition, start, &batches[first], 40 - (size_t)first);
    free_kept(batches, 40);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* A reader thread following the tail while the test thread appends
 * single-record batches across rolls and deletes old segments behind it:
 * every batch it reads is the next one, whole and byte for byte as
 * appended (below the log start it restarts there, as a consumer's
 * auto.offset.reset would).  Failures are counted, not asserted: Check
 * asserts on the test's own thread. */
#define FOLLOWED 3000

static int64_t followed_timestamp(int64_t offset) { return 100000 + offset; }

static size_t followed_value_size(int64_t offset) {
    return 40 + (size_t)(offset % 50);
}

struct follower {
    lgi_partition_t *partition;
    int64_t read;     /* batches read and checked */
    int64_t restarts; /* jumps to the log start */
    int failures;
};

static int followed_batch_ok(const uint8_t *data, size_t len,
                             int64_t offset, size_t *sizep) {
    lgi_batch_header_t header;
    size_t want_len;
    if (lgi_batch_validate(data, len, INT32_MAX, &header) != LG_OK ||
        header.base_offset != offset || header.record_count != 1)
        return 0;
    uint8_t *want = lgt_batch(1, followed_timestamp(offset),
                              followed_value_size(offset), &want_len);
    int same = lgi_batch_size(&header) == want_len &&
               memcmp(data + 16, want + 16, want_len - 16) == 0;
    lgi_free(want);
    *sizep = want_len;
    return same;
}

static void *follower_main(void *arg) {
    struct follower *f = arg;
    int64_t position = 0;
    while (position < FOLLOWED && f->failures == 0) {
        uint8_t *data;
        size_t len;
        lg_err_t err = lgi_partition_read(f->partition, position, 1 << 12,
                                          &data, &len);
        if (err == LG_ERR_OFFSET_OUT_OF_RANGE) {
            int64_t start;
            lgi_partition_watermarks(f->partition, &start, NULL);
            if (start <= position)
                f->failures++;
            position = start;
            f->restarts++;
            continue;
        }
        if (err != LG_OK) {
            f->failures++;
            break;
        }
        if (!data) {
            sched_yield();
            continue;
        }
        for (size_t at = 0, size; at < len; at += size, position++) {
            if (!followed_batch_ok(data + at, len - at, position, &size)) {
                f->failures++;
                break;
            }
            f->read++;
        }
        lgi_free(data);
    }
    return NULL;
}

START_TEST(tail_reader_thread_keeps_up_with_appends_rolls_and_retention) {
    config.segment_bytes = 4096;
    config.index_interval_bytes = 512;
    lgi_partition_t *partition = open_partition(0, 0);
    struct follower follower = {.partition = partition};
    pthread_t thread;
    pthread_create(&thread, NULL, follower_main, &follower);
    size_t deleted_total = 0;
    for (int64_t offset = 0; offset < FOLLOWED; offset++) {
        size_t len, deleted;
        int64_t base;
        uint8_t *batch = lgt_batch(1, followed_timestamp(offset),
                                   followed_value_size(offset), &len);
        ck_assert_int_eq(lgi_partition_append(partition, batch, len,
                                              LG_ACKS_LEADER,
                                              followed_timestamp(offset),
                                              &base),
                         LG_OK);
        ck_assert_int_eq(base, offset);
        if (offset % 100 == 99) {
            ck_assert_int_eq(lgi_partition_delete_before(partition,
                                                         offset - 150,
                                                         &deleted),
                             LG_OK);
            deleted_total += deleted;
        }
    }
    pthread_join(thread, NULL);
    ck_assert_int_eq(follower.failures, 0);
    ck_assert_int_gt(follower.read, FOLLOWED / 2);
    ck_assert_uint_gt(deleted_total, 10);
    ck_assert_uint_gt(recent_hits(partition), 0);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(read_errors_name_the_corrupt_batch) {
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[4];
    int64_t position = 0;
    uint8_t *data;
    size_t len;
    char want[256];
    for (int b = 0; b < 4; b++) { /* [0, 2) [2, 4) [4, 6) [6, 8) */
        batches[b] = append_kept(partition, 2, 1000 + b, 100);
        read_tail(partition, &position, &batches[b]);
    }
    long long size = (long long)batches[0].len;
    char *log = lgt_path(dir, "00000000000000000000.log");
    /* A flipped bit in batch 2's records: its CRC fails. */
    ck_assert_int_eq(lgt_flip_bit(log, 2 * size + 80, 3), 0);
    ck_assert_int_eq(lgi_partition_read(partition, 0, 1 << 20, &data, &len),
                     LG_ERR_CORRUPT);
    snprintf(want, sizeof want, "read %s: batch at %lld failed validation",
             log, 2 * size);
    ck_assert_str_eq(lg_last_error_message(), want);
    ck_assert_int_eq(lgi_partition_read(partition, 4, 1 << 20, &data, &len),
                     LG_ERR_CORRUPT);
    ck_assert_str_eq(lg_last_error_message(), want);
    /* Batches that do not reach it read as before. */
    expect_read(partition, 0, (size_t)(2 * size), batches, 2);
    expect_read(partition, 6, 1 << 20, &batches[3], 1);
    /* A broken header (batch 3's magic) fails every read that walks to
     * it: to its offset, and past the last batch that fits max_bytes. */
    ck_assert_int_eq(lgt_flip_bit(log, 3 * size + 16, 0), 0);
    snprintf(want, sizeof want, "%s: bad batch header at %lld", log,
             3 * size);
    ck_assert_int_eq(lgi_partition_read(partition, 6, 1 << 20, &data, &len),
                     LG_ERR_CORRUPT);
    ck_assert_str_eq(lg_last_error_message(), want);
    ck_assert_int_eq(lgi_partition_read(partition, 7, 1 << 20, &data, &len),
                     LG_ERR_CORRUPT);
    ck_assert_str_eq(lg_last_error_message(), want);
    ck_assert_int_eq(lgi_partition_read(partition, 4, (size_t)size, &data,
                                        &len),
                     LG_ERR_CORRUPT);
    ck_assert_str_eq(lg_last_error_message(), want);
    expect_read(partition, 0, (size_t)size, batches, 1);
    expect_read(partition, 2, (size_t)size, &batches[1], 1);
    free(log);
    free_kept(batches, 4);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* ------------------------------------------------------------------------
 * Zero fill: the active segment's file runs ahead of its logical end with
 * zeros, which no reader, seal, close or recovery takes for batches.
 * --------------------------------------------------------------------- */

/* Whether bytes [from, to) of path are all zero (and the file has them). */
static int file_zero_from(const char *path, long long from, long long to) {
    size_t len;
    uint8_t *bytes = lgt_read_file(path, &len);
    ck_assert_ptr_nonnull(bytes);
    int zero = (long long)len >= to;
    for (long long i = from; zero && i < to; i++)
        zero = bytes[i] == 0;
    free(bytes);
    return zero;
}

START_TEST(zero_fill_runs_ahead_of_the_end_and_close_cuts_it) {
    config.preallocate_bytes = 1 << 20;
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[5];
    for (int b = 0; b < 5; b++)
        batches[b] = append_kept(partition, 2, 1000 + b, 100);
    long long data = (long long)batches[0].len * 5;
    char *log = lgt_path(dir, "00000000000000000000.log");
    /* The first fill starts where the first batch ends. */
    ck_assert_int_eq(lgt_file_size(log),
                     (long long)batches[0].len + LGI_SEGMENT_ZERO_FILL_BYTES);
    ck_assert(file_zero_from(log, data, lgt_file_size(log)));
    expect_all(partition, 0, batches, 5);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    ck_assert_int_eq(lgt_file_size(log), data);
    partition = open_partition(0, 1);
    expect_all(partition, 0, batches, 5);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free_kept(batches, 5);
    free(log);
}
END_TEST

START_TEST(zero_fill_stops_at_segment_bytes_and_a_roll_cuts_it) {
    size_t len;
    lgi_free(lgt_batch(1, 1000, 100, &len));
    config.preallocate_bytes = 1 << 20;
    config.segment_bytes = (int64_t)len * 3 + 10;
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[4];
    for (int b = 0; b < 3; b++)
        batches[b] = append_kept(partition, 1, 1000 + b, 100);
    char *first = lgt_path(dir, "00000000000000000000.log");
    ck_assert_int_eq(lgt_file_size(first), config.segment_bytes);
    batches[3] = append_kept(partition, 1, 1003, 100); /* rolls */
    ck_assert_int_eq(lgt_file_size(first), (long long)len * 3);
    char *second = lgt_path(dir, "00000000000000000003.log");
    ck_assert_int_eq(lgt_file_size(second), config.segment_bytes);
    expect_all(partition, 0, batches, 4);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    ck_assert_int_eq(lgt_file_size(second), (long long)len);
    free_kept(batches, 4);
    free(first);
    free(second);
}
END_TEST

static void count_warnings(void *opaque, int level, const char *message) {
    (void)message;
    if (level <= LG_LOG_WARNING)
        (*(int *)opaque)++;
}

/* A crash leaves the active segment with its zero fill: recovery keeps
 * every batch, cuts the zeros and reports no damage -- but still reports
 * a non-zero byte among them. */
START_TEST(recovery_cuts_a_crashed_zero_fill_without_calling_it_damage) {
    config.preallocate_bytes = 1 << 20;
    int warnings = 0;
    lgi_logger_t logger = {.callback = count_warnings, .opaque = &warnings,
                           .level = LG_LOG_DEBUG};
    lgi_io_set_logger(io, &logger);
    char *log = lgt_path(dir, "00000000000000000000.log");
    for (int damaged = 0; damaged < 2; damaged++) {
        lgi_partition_t *partition = open_partition(0, 0);
        kept_t batches[5];
        for (int b = 0; b < 5; b++)
            batches[b] = append_kept(partition, 2, 1000 + b, 100);
        size_t crashed_len;
        uint8_t *crashed = lgt_read_file(log, &crashed_len);
        ck_assert_uint_gt(crashed_len, batches[0].len * 5);
        if (damaged)
            crashed[crashed_len - 100] = 0x5a;
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        ck_assert_int_eq(lgt_write_file(log, crashed, crashed_len), 0);
        free(crashed);
        warnings = 0;
        partition = open_partition(0, 0); /* not clean: recovery scans */
        ck_assert_int_eq(warnings, damaged);
        ck_assert_int_eq(lgt_file_size(log), (long long)batches[0].len * 5);
        expect_all(partition, 0, batches, 5);
        ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
        free_kept(batches, 5);
        lgt_rmrf(dir);
        ck_assert_int_eq(mkdir(dir, 0700), 0);
    }
    free(log);
}
END_TEST

/* The fault hook's side of the next test: the first zero fill waits until
 * the test lets it go. */
typedef struct fill_gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int held;     /* a fill is waiting at the gate */
    int released; /* the gate is open */
    int failing;  /* fail every fill with ENOSPC instead */
} fill_gate_t;

static int gate_fill(void *opaque, const lgi_io_req_t *req, int stage) {
    fill_gate_t *gate = opaque;
    if (stage != LGI_IO_FAULT_WRITE || !lgi_segment_is_zero_fill(req))
        return 0;
    if (gate->failing)
        return -ENOSPC;
    pthread_mutex_lock(&gate->mutex);
    gate->held = 1;
    pthread_cond_broadcast(&gate->cond);
    while (!gate->released)
        pthread_cond_wait(&gate->cond, &gate->mutex);
    pthread_mutex_unlock(&gate->mutex);
    return 0;
}

typedef struct gated_append {
    lgi_partition_t *partition;
    kept_t kept;
    int64_t timestamp;
    atomic_int done;
} gated_append_t;

static void *gated_append_thread(void *arg) {
    gated_append_t *job = arg;
    job->kept = append_kept(job->partition, 3, job->timestamp, 200);
    atomic_store(&job->done, 1);
    return NULL;
}

/* A batch placed while a fill is being written would sit under its zeros:
 * it waits for the fill, and lands intact after it. */
START_TEST(batch_waits_for_a_zero_fill_under_way_where_it_would_land) {
    config.preallocate_bytes = 1 << 20;
    fill_gate_t gate = {.mutex = PTHREAD_MUTEX_INITIALIZER,
                        .cond = PTHREAD_COND_INITIALIZER};
    lgi_io_set_fault(io, gate_fill, &gate);
    lgi_partition_t *partition = open_partition(0, 0);
    gated_append_t first = {.partition = partition, .timestamp = 1000};
    gated_append_t second = {.partition = partition, .timestamp = 2000};
    pthread_t first_thread, second_thread;
    /* The first append claims the segment's first fill, from its own end:
     * exactly where the second batch goes. */
    ck_assert_int_eq(
        pthread_create(&first_thread, NULL, gated_append_thread, &first), 0);
    pthread_mutex_lock(&gate.mutex);
    while (!gate.held)
        pthread_cond_wait(&gate.cond, &gate.mutex);
    pthread_mutex_unlock(&gate.mutex);
    ck_assert_int_eq(
        pthread_create(&second_thread, NULL, gated_append_thread, &second),
        0);
    usleep(50 * 1000);
    ck_assert_int_eq(atomic_load(&second.done), 0);
    pthread_mutex_lock(&gate.mutex);
    gate.released = 1;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mutex);
    pthread_join(first_thread, NULL);
    pthread_join(second_thread, NULL);
    kept_t batches[2] = {first.kept, second.kept};
    expect_all(partition, 0, batches, 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    partition = open_partition(0, 0);
    expect_all(partition, 0, batches, 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    lgi_io_set_fault(io, NULL, NULL);
    free_kept(batches, 2);
}
END_TEST

/* Large batches pay for their pages anyway; zeros ahead of them would
 * only be a second copy. */
START_TEST(large_batches_claim_no_zero_fill) {
    config.preallocate_bytes = 1 << 20;
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[4];
    for (int b = 0; b < 4; b++)
        batches[b] = append_kept(partition, 2, 1000 + b, 4000);
    char *log = lgt_path(dir, "00000000000000000000.log");
    ck_assert_uint_gt(batches[0].len, 4096);
    ck_assert_int_eq(lgt_file_size(log), (long long)batches[0].len * 4);
    /* A small one after them does. */
    kept_t small = append_kept(partition, 1, 2000, 100);
    ck_assert_int_eq(lgt_file_size(log), (long long)batches[0].len * 4 +
                                             (long long)small.len +
                                             LGI_SEGMENT_ZERO_FILL_BYTES);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free_kept(batches, 4);
    free_kept(&small, 1);
    free(log);
}
END_TEST

/* Fills that fail (a full disk) cost nothing but the fill: appends go on
 * extending the file themselves. */
START_TEST(failed_zero_fills_leave_appends_unharmed) {
    config.preallocate_bytes = 1 << 20;
    fill_gate_t gate = {.failing = 1};
    lgi_io_set_fault(io, gate_fill, &gate);
    lgi_partition_t *partition = open_partition(0, 0);
    kept_t batches[20];
    for (int b = 0; b < 20; b++)
        batches[b] = append_kept(partition, 2, 1000 + b, 3000);
    char *log = lgt_path(dir, "00000000000000000000.log");
    ck_assert_int_eq(lgt_file_size(log), (long long)batches[0].len * 20);
    expect_all(partition, 0, batches, 20);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    lgi_io_set_fault(io, NULL, NULL);
    free_kept(batches, 20);
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
    tcase_add_test(tc, tail_reader_is_positioned_by_recent_batch_ends);
    tcase_add_test(tc, reads_of_large_batches_keep_whole_batches_within_max_bytes);
    tcase_add_test(tc, tail_reader_follows_across_segment_rolls);
    tcase_add_test(tc,
                   tail_reader_after_write_failure_reads_the_batch_written_instead);
    tcase_add_test(tc, tail_reader_after_truncation_reads_the_new_history);
    tcase_add_test(tc, tail_reader_after_retention_reads_from_the_new_log_start);
    tcase_add_test(tc,
                   tail_reader_thread_keeps_up_with_appends_rolls_and_retention);
    tcase_add_test(tc, read_errors_name_the_corrupt_batch);
    tcase_add_test(tc, zero_fill_runs_ahead_of_the_end_and_close_cuts_it);
    tcase_add_test(tc, zero_fill_stops_at_segment_bytes_and_a_roll_cuts_it);
    tcase_add_test(tc,
                   recovery_cuts_a_crashed_zero_fill_without_calling_it_damage);
    tcase_add_test(tc,
                   batch_waits_for_a_zero_fill_under_way_where_it_would_land);
    tcase_add_test(tc, failed_zero_fills_leave_appends_unharmed);
    tcase_add_test(tc, large_batches_claim_no_zero_fill);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void) { return lgt_run(partition_suite()); }
