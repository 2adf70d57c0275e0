/*
 * test_idempotence.c -- idempotent producers: the partition's producer
 * state (duplicates acknowledged with the original offsets, gaps and old
 * epochs refused, state kept across restarts by snapshots or rebuilt from
 * the log), engine producer ids that never repeat, and the producer's
 * retries after write failures that never duplicate nor reorder.
 */
#include "engine.h"
#include "logtest.h"
#include "producer_id.h"
#include "producer_state.h"
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

static char *dir;
static lgi_io_t *io;
static lgi_log_config_t config;

static void setup(void) {
    dir = lgt_tmpdir("idempotence");
    io = lgt_io();
    lgt_default_config(&config);
}

static void teardown(void) {
    lgi_io_close(io);
    lgt_rmrf(dir);
    free(dir);
}

static lgi_partition_t *open_partition(int clean) {
    lgi_partition_t *partition = NULL;
    ck_assert_int_eq(lgi_partition_open(dir, &config, io, 0, clean, 1000,
                                        &partition),
                     LG_OK);
    return partition;
}

/* A batch of count records from producer id/epoch starting at sequence. */
static uint8_t *producer_batch(int64_t id, int16_t epoch, int32_t sequence,
                               int count, size_t *lenp) {
    lg_records_t *records = lg_records_new();
    for (int i = 0; i < count; i++)
        ck_assert_int_eq(lg_records_add(records, "k", 1, "value", 5, 1000 + i),
                         LG_OK);
    lgi_batch_options_t options;
    lgi_batch_options_init(&options);
    options.producer_id = id;
    options.producer_epoch = epoch;
    options.base_sequence = sequence;
    lgi_buf_t out = LGI_BUF_INIT;
    ck_assert_int_eq(lgi_batch_encode(&out, records, &options), LG_OK);
    lg_records_destroy(records);
    *lenp = out.len;
    return out.data;
}

static lg_err_t append_at(lgi_partition_t *partition, int64_t id,
                          int16_t epoch, int32_t sequence, int count,
                          int64_t now_ms, int64_t *basep) {
    size_t len;
    uint8_t *batch = producer_batch(id, epoch, sequence, count, &len);
    *basep = -1;
    return lgi_partition_append(partition, batch, len, LG_ACKS_ALL, now_ms,
                                basep);
}

static lg_err_t append(lgi_partition_t *partition, int64_t id, int16_t epoch,
                       int32_t sequence, int count, int64_t *basep) {
    return append_at(partition, id, epoch, sequence, count, 1000, basep);
}

static int64_t log_end(lgi_partition_t *partition) {
    int64_t end;
    lgi_partition_watermarks(partition, NULL, &end);
    return end;
}

static int count_snapshots(void) {
    DIR *d = opendir(dir);
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 9 && strcmp(de->d_name + n - 9, ".snapshot") == 0)
            count++;
    }
    closedir(d);
    return count;
}

static void remove_snapshots(void) {
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 9 && strcmp(de->d_name + n - 9, ".snapshot") == 0) {
            char *path = lgt_path(dir, de->d_name);
            unlink(path);
            free(path);
        }
    }
    closedir(d);
}

/* ------------------------------------------------------------------------
 * The partition's producer state
 * --------------------------------------------------------------------- */

START_TEST(duplicate_batch_is_acknowledged_with_the_original_offset) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    ck_assert_int_eq(append(partition, 7, 0, 0, 3, &base), LG_OK);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(append(partition, 7, 0, 3, 2, &base), LG_OK);
    ck_assert_int_eq(base, 3);
    /* both retried: the log keeps one copy and answers the first offsets */
    ck_assert_int_eq(append(partition, 7, 0, 0, 3, &base), LG_OK);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(append(partition, 7, 0, 3, 2, &base), LG_OK);
    ck_assert_int_eq(base, 3);
    ck_assert_int_eq(log_end(partition), 5);
    /* another producer with the same sequences is not a duplicate */
    ck_assert_int_eq(append(partition, 8, 0, 0, 3, &base), LG_OK);
    ck_assert_int_eq(base, 5);
    ck_assert_int_eq(log_end(partition), 8);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(only_the_last_five_batches_are_remembered) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    for (int b = 0; b < 7; b++)
        ck_assert_int_eq(append(partition, 7, 0, b, 1, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 0, 2, 1, &base), LG_OK);
    ck_assert_int_eq(base, 2); /* 5th from the end: still known */
    ck_assert_int_eq(append(partition, 7, 0, 1, 1, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(log_end(partition), 7);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(sequence_gap_is_out_of_order) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    ck_assert_int_eq(append(partition, 7, 0, 0, 5, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 0, 6, 1, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(append(partition, 7, 0, 4, 2, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(log_end(partition), 5);
    ck_assert_int_eq(append(partition, 7, 0, 5, 1, &base), LG_OK);
    ck_assert_int_eq(base, 5);
    /* an unknown producer may start anywhere (its past may have gone with
     * retention), as in Kafka */
    ck_assert_int_eq(append(partition, 9, 0, 1000, 1, &base), LG_OK);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(older_epoch_is_fenced_and_a_new_epoch_restarts_at_zero) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    ck_assert_int_eq(append(partition, 7, 0, 0, 2, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 1, 5, 1, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(append(partition, 7, 1, 0, 1, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 0, 2, 1, &base),
                     LG_ERR_PRODUCER_FENCED);
    ck_assert_int_eq(log_end(partition), 3);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* The old epoch's last batch is kept after an epoch change, but a batch
 * of the new epoch with the same sequences is new data, not a retry. */
START_TEST(a_new_epoch_reusing_old_sequences_is_not_a_duplicate) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    ck_assert_int_eq(append(partition, 7, 0, 0, 2, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 0, 2, 2, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 1, 0, 2, &base), LG_OK);
    ck_assert_int_eq(base, 4);
    ck_assert_int_eq(append(partition, 7, 1, 2, 2, &base), LG_OK);
    ck_assert_int_eq(base, 6); /* written, not acknowledged as 2 */
    ck_assert_int_eq(append(partition, 7, 1, 2, 2, &base), LG_OK);
    ck_assert_int_eq(base, 6); /* a real retry still is */
    ck_assert_int_eq(log_end(partition), 8);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* Checks the state producer 7 left: duplicate of its last batch (sequence
 * 10..11 at offsets 10..11) acknowledged, a gap refused, the next taken. */
static void check_restored_state(lgi_partition_t *partition) {
    int64_t base;
    ck_assert_int_eq(append(partition, 7, 0, 10, 2, &base), LG_OK);
    ck_assert_int_eq(base, 10);
    ck_assert_int_eq(log_end(partition), 12);
    ck_assert_int_eq(append(partition, 7, 0, 13, 1, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(append(partition, 7, 0, 12, 1, &base), LG_OK);
    ck_assert_int_eq(base, 12);
}

static void write_history(void) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    for (int b = 0; b < 6; b++)
        ck_assert_int_eq(append(partition, 7, 0, 2 * b, 2, &base), LG_OK);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}

START_TEST(state_survives_restart_through_a_snapshot) {
    write_history();
    char *snapshot = lgt_segment_file(dir, 12, ".snapshot");
    ck_assert_int_eq(access(snapshot, F_OK), 0);
    free(snapshot);
    lgi_partition_t *partition = open_partition(1);
    check_restored_state(partition);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(state_is_rebuilt_from_the_log_without_a_snapshot) {
    write_history();
    remove_snapshots();
    lgi_partition_t *partition = open_partition(0);
    check_restored_state(partition);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(corrupt_snapshot_is_ignored_and_state_rebuilt) {
    write_history();
    char *snapshot = lgt_segment_file(dir, 12, ".snapshot");
    FILE *f = fopen(snapshot, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 20, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    lgi_partition_t *partition = open_partition(1);
    check_restored_state(partition);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    free(snapshot);
}
END_TEST

START_TEST(snapshots_are_written_at_roll_and_old_ones_pruned) {
    config.segment_bytes = 400; /* a few batches a segment */
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    for (int b = 0; b < 40; b++)
        ck_assert_int_eq(append(partition, 7, 0, b, 1, &base), LG_OK);
    ck_assert_uint_gt(lgi_partition_segment_count(partition), 3);
    ck_assert_int_le(count_snapshots(), 2);
    ck_assert_int_ge(count_snapshots(), 1);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
    /* without the close's snapshot (as after a crash), the newest roll
     * snapshot plus the log after it give the same state */
    char *at_end = lgt_segment_file(dir, 40, ".snapshot");
    ck_assert_int_eq(unlink(at_end), 0);
    free(at_end);
    ck_assert_int_eq(count_snapshots(), 1);
    partition = open_partition(0);
    ck_assert_int_eq(append(partition, 7, 0, 39, 1, &base), LG_OK);
    ck_assert_int_eq(base, 39);
    ck_assert_int_eq(append(partition, 7, 0, 41, 1, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(append(partition, 7, 0, 40, 1, &base), LG_OK);
    ck_assert_int_eq(base, 40);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(silent_producers_expire_at_a_roll) {
    config.segment_bytes = 400;
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    int64_t later = 1000 + LGI_PRODUCER_ID_EXPIRATION_MS + 1;
    ck_assert_int_eq(append(partition, 7, 0, 0, 1, &base), LG_OK);
    ck_assert_int_eq(append(partition, 7, 0, 5, 1, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    size_t segments = lgi_partition_segment_count(partition);
    for (int b = 0; lgi_partition_segment_count(partition) == segments; b++)
        ck_assert_int_eq(append_at(partition, 8, 0, b, 1, later, &base),
                         LG_OK);
    /* producer 7 was forgotten: it is unknown now, so any sequence goes */
    ck_assert_int_eq(append_at(partition, 7, 0, 5, 1, later, &base), LG_OK);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* Fault hook: fails the next writes with ENOSPC while armed. */
static atomic_int fail_writes;

static int fault(void *opaque, const lgi_io_req_t *req, int stage) {
    (void)opaque;
    (void)req;
    if (stage == LGI_IO_FAULT_WRITE && atomic_load(&fail_writes) > 0) {
        atomic_fetch_sub(&fail_writes, 1);
        return -ENOSPC;
    }
    return 0;
}

START_TEST(rolled_back_batch_is_forgotten_so_its_retry_is_appended) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    ck_assert_int_eq(append(partition, 7, 0, 0, 2, &base), LG_OK);
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_writes, 1);
    ck_assert_int_eq(append(partition, 7, 0, 2, 2, &base), LG_ERR_DISK_FULL);
    lgi_io_set_fault(io, NULL, NULL);
    ck_assert_int_eq(append(partition, 7, 0, 2, 2, &base), LG_OK);
    ck_assert_int_eq(base, 2);
    ck_assert_int_eq(log_end(partition), 4);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

START_TEST(new_producer_whose_first_batch_failed_must_resend_it_first) {
    lgi_partition_t *partition = open_partition(0);
    int64_t base;
    lgi_io_set_fault(io, fault, NULL);
    atomic_store(&fail_writes, 1);
    ck_assert_int_eq(append(partition, 7, 0, 0, 2, &base), LG_ERR_DISK_FULL);
    lgi_io_set_fault(io, NULL, NULL);
    /* the batch after it arrives first: a gap, not a fresh producer */
    ck_assert_int_eq(append(partition, 7, 0, 2, 2, &base),
                     LG_ERR_OUT_OF_ORDER_SEQUENCE);
    ck_assert_int_eq(append(partition, 7, 0, 0, 2, &base), LG_OK);
    ck_assert_int_eq(base, 0);
    ck_assert_int_eq(append(partition, 7, 0, 2, 2, &base), LG_OK);
    ck_assert_int_eq(base, 2);
    ck_assert_int_eq(lgi_partition_close(partition), LG_OK);
}
END_TEST

/* ------------------------------------------------------------------------
 * Producer ids
 * --------------------------------------------------------------------- */

START_TEST(producer_ids_never_repeat_across_restarts) {
    lgi_producer_ids_t *ids;
    int64_t first, second, third;
    ck_assert_int_eq(lgi_producer_ids_open(dir, -1, &ids), LG_OK);
    ck_assert_int_eq(lgi_producer_ids_next(ids, &first), LG_OK);
    ck_assert_int_eq(lgi_producer_ids_next(ids, &second), LG_OK);
    ck_assert_int_eq(second, first + 1);
    lgi_producer_ids_free(ids); /* as a crash: the block is not given back */
    ck_assert_int_eq(lgi_producer_ids_open(dir, -1, &ids), LG_OK);
    ck_assert_int_eq(lgi_producer_ids_next(ids, &third), LG_OK);
    ck_assert_int_ge(third, first + LGI_PRODUCER_ID_BLOCK);
    for (int i = 0; i < 2 * LGI_PRODUCER_ID_BLOCK; i++) {
        int64_t id;
        ck_assert_int_eq(lgi_producer_ids_next(ids, &id), LG_OK);
        ck_assert_int_eq(id, third + 1 + i);
    }
    lgi_producer_ids_free(ids);
}
END_TEST

/* Replicas of one partition take producers from several engines: each
 * node.id has its own range, so their ids never meet. */
START_TEST(producer_ids_of_different_nodes_never_meet) {
    lgi_producer_ids_t *ids;
    int64_t id;
    ck_assert_int_eq(lgi_producer_ids_open(dir, 3, &ids), LG_OK);
    ck_assert_int_eq(lgi_producer_ids_next(ids, &id), LG_OK);
    ck_assert_int_eq(id, (int64_t)3 << 32);
    lgi_producer_ids_free(ids);
    ck_assert_int_eq(lgi_producer_ids_open(dir, 3, &ids), LG_OK);
    ck_assert_int_eq(lgi_producer_ids_next(ids, &id), LG_OK);
    ck_assert_int_eq(id, ((int64_t)3 << 32) + LGI_PRODUCER_ID_BLOCK);
    lgi_producer_ids_free(ids);
}
END_TEST

/* ------------------------------------------------------------------------
 * The producer end to end
 * --------------------------------------------------------------------- */

/* Values of every record of t-0, in offset order, and the producer ids
 * and sequences their batches carry. */
typedef struct log_content {
    int values[20000];
    int count;
    int64_t producer_id;
    int batches;
    int batches_without_producer;
    int sequence_breaks;
} log_content_t;

static void read_log(lg_engine_t *engine, log_content_t *content) {
    lgi_partition_ref_t ref;
    memset(content, 0, sizeof *content);
    content->producer_id = -2;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    int64_t offset = 0, end;
    int32_t next_sequence = -1;
    lgi_partition_watermarks(ref.partition, NULL, &end);
    while (offset < end) {
        uint8_t *data;
        size_t len;
        ck_assert_int_eq(lgi_partition_read(ref.partition, offset, 1 << 20,
                                            &data, &len),
                         LG_OK);
        size_t at = 0;
        while (at < len) {
            lgi_batch_header_t header;
            ck_assert_int_eq(lgi_batch_validate(data + at, len - at,
                                                INT32_MAX, &header),
                             LG_OK);
            content->batches++;
            if (header.producer_id < 0)
                content->batches_without_producer++;
            content->producer_id = header.producer_id;
            if (next_sequence >= 0 && header.base_sequence != next_sequence)
                content->sequence_breaks++;
            next_sequence = header.base_sequence + header.record_count;
            lgi_record_iter_t iter;
            lgi_buf_t scratch = LGI_BUF_INIT;
            ck_assert_int_eq(lgi_record_iter_init(&iter, data + at, &header,
                                                  &scratch),
                             LG_OK);
            for (;;) {
                lgi_record_t record;
                int done;
                ck_assert_int_eq(lgi_record_iter_next(&iter, &record, &done),
                                 LG_OK);
                if (done)
                    break;
                char text[32] = {0};
                memcpy(text, record.value,
                       record.value_len < 31 ? record.value_len : 31);
                content->values[content->count++] = atoi(text);
                offset = record.offset + 1;
            }
            lgi_buf_free(&scratch);
            at += lgi_batch_size(&header);
        }
        lgi_free(data);
    }
    lgi_engine_release(engine, &ref);
}

typedef struct delivery {
    atomic_int ok, failed;
} delivery_t;

static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    delivery_t *d = opaque;
    if (err == LG_OK)
        atomic_fetch_add(&d->ok, 1);
    else
        atomic_fetch_add(&d->failed, 1);
}

/* Produces n numbered records with write failures injected every
 * fail_every writes; checks each is in the log exactly once, in order. */
static void produce_through_failures(int n, int fail_every,
                                     const char *linger) {
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", linger), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "batch.size", "2000"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "retry.backoff.ms", "1"), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    delivery_t delivery = {0};
    ck_assert_int_eq(lg_producer_set_delivery_callback(producer, on_delivery,
                                                       &delivery),
                     LG_OK);
    lgi_io_set_fault(engine->io, fault, NULL);
    for (int i = 0; i < n; i++) {
        char value[16];
        int len = snprintf(value, sizeof value, "%d", i);
        if (fail_every > 0 && i % fail_every == fail_every / 2)
            atomic_store(&fail_writes, 1 + i % 3);
        lg_err_t err;
        while ((err = lg_produce(producer, "t", 0, NULL, 0, value,
                                 (size_t)len, LG_TIMESTAMP_NOW, NULL)) ==
               LG_ERR_QUEUE_FULL)
            lg_producer_poll(producer, 1);
        ck_assert_int_eq(err, LG_OK);
        if (i % 512 == 0)
            lg_producer_poll(producer, 0);
    }
    ck_assert_int_eq(lg_producer_flush(producer, 30000), LG_OK);
    lgi_io_set_fault(engine->io, NULL, NULL);
    ck_assert_int_eq(atomic_load(&delivery.failed), 0);
    ck_assert_int_eq(atomic_load(&delivery.ok), n);
    log_content_t *content = malloc(sizeof *content);
    read_log(engine, content);
    ck_assert_int_eq(content->count, n);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(content->values[i], i);
    ck_assert_int_ge(content->producer_id, 0);
    ck_assert_int_eq(content->batches_without_producer, 0);
    ck_assert_int_eq(content->sequence_breaks, 0);
    free(content);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}

START_TEST(producer_retries_after_disk_full_never_duplicate) {
    produce_through_failures(5000, 700, "0");
}
END_TEST

START_TEST(producer_retries_with_lingering_batches_keep_order) {
    produce_through_failures(10000, 1500, "2");
}
END_TEST

/* What the delivery callback saw for each record (message_opaque is the
 * record's number + 1). */
typedef struct report_log {
    int count[4000];
    int64_t offset[4000];
    atomic_int failed, stray;
} report_log_t;

static void on_report(void *opaque, lg_err_t err, const char *topic,
                      int32_t partition, int64_t offset,
                      void *message_opaque) {
    report_log_t *reports = opaque;
    intptr_t i = (intptr_t)message_opaque - 1;
    if (err != LG_OK)
        atomic_fetch_add(&reports->failed, 1);
    if (i < 0 || i >= 4000 || partition != 0) {
        atomic_fetch_add(&reports->stray, 1);
        return;
    }
    reports->count[i]++; /* served on this thread, by poll/flush */
    reports->offset[i] = offset;
}

/* With linger.ms=0 a batch opened on an idle partition is handed to the
 * partition by the producing thread, the rest go through the sender (its
 * linger expiry), and failed writes come back through the sender's
 * retries: records produced in paced runs (direct) and bursts (sender),
 * with ENOSPC injected now and then when idempotent, must all land once,
 * in order, each reported once with the offset it has.  Without
 * idempotence (and so without faults: plain retries may reorder, as
 * Kafka's) the order rests on the direct path alone, which must never
 * overtake a batch queued in the sender. */
static void produce_paced_and_in_bursts(int idempotent) {
    enum { N = 4000 };
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "0"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "retry.backoff.ms", "1"), LG_OK);
    if (!idempotent) {
        ck_assert_int_eq(lg_conf_set(conf, "enable.idempotence", "false"),
                         LG_OK);
        ck_assert_int_eq(lg_conf_set(conf, "acks", "1"), LG_OK);
    }
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    report_log_t *reports = calloc(1, sizeof *reports);
    ck_assert_int_eq(lg_producer_set_delivery_callback(producer, on_report,
                                                       reports),
                     LG_OK);
    lgi_io_set_fault(engine->io, fault, NULL);
    int injected = 0;
    for (int i = 0; i < N; i++) {
        /* Runs of 40: the first half paced (the partition idles between
         * records), the second a burst. */
        if (i % 40 < 20)
            usleep(200);
        if (idempotent && i % 250 == 125) {
            atomic_store(&fail_writes, 1 + i % 2);
            injected++;
        }
        char value[16];
        int len = snprintf(value, sizeof value, "%d", i);
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                    (size_t)len, LG_TIMESTAMP_NOW,
                                    (void *)(intptr_t)(i + 1)),
                         LG_OK);
        if (i % 100 == 0)
            lg_producer_poll(producer, 0);
    }
    ck_assert_int_eq(lg_producer_flush(producer, 30000), LG_OK);
    lgi_io_set_fault(engine->io, NULL, NULL);
    ck_assert_int_eq(injected, idempotent ? N / 250 : 0);
    ck_assert_int_eq(atomic_load(&fail_writes), 0); /* all were hit */

    lgi_producer_stats_t stats;
    lgi_producer_stats(producer, &stats);
    log_content_t *content = malloc(sizeof *content);
    read_log(engine, content);
    ck_assert_int_eq(content->count, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(content->values[i], i);
    ck_assert_int_eq(content->batches_without_producer,
                     idempotent ? 0 : content->batches);
    if (idempotent)
        ck_assert_int_eq(content->sequence_breaks, 0);
    /* Both paths were taken: some batches directly, and fewer directly
     * than there are batches. */
    ck_assert_uint_gt(stats.direct_batches, 0);
    ck_assert_uint_lt(stats.direct_batches, (uint64_t)content->batches);
    ck_assert_int_eq(atomic_load(&reports->failed), 0);
    ck_assert_int_eq(atomic_load(&reports->stray), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(reports->count[i], 1);
        /* the log holds record i at offset i (values checked above) */
        ck_assert_int_eq(reports->offset[i], i);
    }
    free(content);
    free(reports);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}

START_TEST(direct_hand_off_keeps_order_and_reports_each_record_once) {
    produce_paced_and_in_bursts(1);
}
END_TEST

START_TEST(direct_hand_off_never_overtakes_the_sender) {
    produce_paced_and_in_bursts(0);
}
END_TEST

/* Fault hook for the epoch test: every write fails while armed. */
static atomic_int disk_full;

static int full_disk(void *opaque, const lgi_io_req_t *req, int stage) {
    (void)opaque;
    (void)req;
    return stage == LGI_IO_FAULT_WRITE && atomic_load(&disk_full) ? -ENOSPC
                                                                    : 0;
}

START_TEST(failed_sequenced_batches_move_the_producer_to_a_new_epoch) {
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "0"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "delivery.timeout.ms", "150"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "retry.backoff.ms", "5"), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    delivery_t delivery = {0};
    ck_assert_int_eq(lg_producer_set_delivery_callback(producer, on_delivery,
                                                       &delivery),
                     LG_OK);
    lgi_io_set_fault(engine->io, full_disk, NULL);
    atomic_store(&disk_full, 1);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "lost", 4,
                                    LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    /* every batch keeps failing until delivery.timeout.ms */
    lg_producer_flush(producer, 5000);
    ck_assert_int_eq(atomic_load(&delivery.failed), 50);
    atomic_store(&disk_full, 0);
    for (int i = 0; i < 100; i++) {
        char value[16];
        int len = snprintf(value, sizeof value, "%d", i);
        ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, value,
                                    (size_t)len, LG_TIMESTAMP_NOW, NULL),
                         LG_OK);
    }
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    ck_assert_int_eq(atomic_load(&delivery.ok), 100);
    lgi_io_set_fault(engine->io, NULL, NULL);
    /* the gap the lost batches left did not block the later records */
    log_content_t *content = malloc(sizeof *content);
    read_log(engine, content);
    ck_assert_int_eq(content->count, 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(content->values[i], i);
    free(content);
    lgi_partition_ref_t ref;
    ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(lgi_partition_read(ref.partition, 0, 1, &data, &len),
                     LG_OK);
    lgi_batch_header_t header;
    ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX, &header), LG_OK);
    ck_assert_int_ge(header.producer_epoch, 1);
    ck_assert_int_eq(header.base_sequence, 0);
    lgi_free(data);
    lgi_engine_release(engine, &ref);
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

START_TEST(producers_get_distinct_ids_across_engine_restarts) {
    int64_t seen[4];
    for (int round = 0; round < 2; round++) {
        lg_engine_t *engine;
        ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
        if (round == 0)
            ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
        for (int p = 0; p < 2; p++) {
            lg_producer_t *producer;
            ck_assert_int_eq(lg_producer_new(engine, NULL, &producer), LG_OK);
            ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "x", 1,
                                        LG_TIMESTAMP_NOW, NULL),
                             LG_OK);
            ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
            lg_producer_destroy(producer);
            lgi_partition_ref_t ref;
            ck_assert_int_eq(lgi_engine_acquire(engine, "t", 0, &ref), LG_OK);
            int64_t end;
            lgi_partition_watermarks(ref.partition, NULL, &end);
            uint8_t *data;
            size_t len;
            ck_assert_int_eq(lgi_partition_read(ref.partition, end - 1, 1,
                                                &data, &len),
                             LG_OK);
            lgi_batch_header_t header;
            ck_assert_int_eq(lgi_batch_validate(data, len, INT32_MAX,
                                                &header),
                             LG_OK);
            seen[round * 2 + p] = header.producer_id;
            lgi_free(data);
            lgi_engine_release(engine, &ref);
        }
        ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            ck_assert_int_ne(seen[i], seen[j]);
}
END_TEST

START_TEST(idempotence_needs_acks_all) {
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    lg_producer_t *producer = NULL;
    ck_assert_int_eq(lg_conf_set(conf, "acks", "1"), LG_OK);
    /* the default yields to an explicit acks=1 ... */
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_producer_destroy(producer);
    /* ... an explicit enable.idempotence=true does not */
    ck_assert_int_eq(lg_conf_set(conf, "enable.idempotence", "true"), LG_OK);
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer),
                     LG_ERR_INVALID_CONFIG);
    lg_conf_destroy(conf);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

static Suite *idempotence_suite(void) {
    Suite *suite = suite_create("idempotence");
    TCase *tc = tcase_create("producer_state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, duplicate_batch_is_acknowledged_with_the_original_offset);
    tcase_add_test(tc, only_the_last_five_batches_are_remembered);
    tcase_add_test(tc, sequence_gap_is_out_of_order);
    tcase_add_test(tc, older_epoch_is_fenced_and_a_new_epoch_restarts_at_zero);
    tcase_add_test(tc, a_new_epoch_reusing_old_sequences_is_not_a_duplicate);
    tcase_add_test(tc, state_survives_restart_through_a_snapshot);
    tcase_add_test(tc, state_is_rebuilt_from_the_log_without_a_snapshot);
    tcase_add_test(tc, corrupt_snapshot_is_ignored_and_state_rebuilt);
    tcase_add_test(tc, snapshots_are_written_at_roll_and_old_ones_pruned);
    tcase_add_test(tc, rolled_back_batch_is_forgotten_so_its_retry_is_appended);
    tcase_add_test(tc, new_producer_whose_first_batch_failed_must_resend_it_first);
    tcase_add_test(tc, producer_ids_never_repeat_across_restarts);
    tcase_add_test(tc, producer_ids_of_different_nodes_never_meet);
    tcase_add_test(tc, silent_producers_expire_at_a_roll);
    suite_add_tcase(suite, tc);
    TCase *producer = tcase_create("producer");
    tcase_add_checked_fixture(producer, setup, teardown);
    tcase_set_timeout(producer, 120);
    tcase_add_test(producer, producer_retries_after_disk_full_never_duplicate);
    tcase_add_test(producer, producer_retries_with_lingering_batches_keep_order);
    tcase_add_test(producer,
                   direct_hand_off_keeps_order_and_reports_each_record_once);
    tcase_add_test(producer, direct_hand_off_never_overtakes_the_sender);
    tcase_add_test(producer, idempotence_needs_acks_all);
    tcase_add_test(producer,
                   failed_sequenced_batches_move_the_producer_to_a_new_epoch);
    tcase_add_test(producer, producers_get_distinct_ids_across_engine_restarts);
    suite_add_tcase(suite, producer);
    return suite;
}

int main(void) { return lgt_run(idempotence_suite()); }
