/*
 * test_lgdump.c -- examples/lgdump against segments the library wrote:
 * it prints every batch and record, --verify passes on an intact segment
 * (log, offset index, time index and transaction index, plain and zstd
 * batches, headers, transactions committed and aborted), and
 * one flipped byte anywhere that matters makes --verify exit non-zero with
 * a message naming the position.  lgdump is run as a separate program, as
 * an operator would run it.
 */
#include "testutil.h"

#include "liblog.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char *dir;

static const char *build_dir(void) {
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

/* Writes topic t (1 partition, small index interval so the indexes get
 * entries, segments rolled every 64 KiB) with plain batches, then zstd
 * batches with headers, and closes the engine so the indexes are stored. */
static void write_segments(void) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "index.interval.bytes", "512"), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "65536"), LG_OK);
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, conf, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    lg_conf_t *zstd = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(zstd, "compression.type", "zstd"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "z", 1, zstd), LG_OK);
    lg_conf_destroy(zstd);
    lg_records_t *records = lg_records_new();
    char key[32], value[128];
    for (int batch = 0; batch < 200; batch++) {
        lg_records_clear(records);
        for (int i = 0; i < 5; i++) {
            snprintf(key, sizeof key, "key-%d-%d", batch, i);
            snprintf(value, sizeof value, "value %d/%d padding padding", batch,
                     i);
            ck_assert_int_eq(lg_records_add(records, key, strlen(key), value,
                                            strlen(value), 1700000000000 + batch),
                             LG_OK);
            ck_assert_int_eq(lg_records_add_header(records, "h", 1, "v", 1),
                             LG_OK);
        }
        ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_LEADER,
                                   NULL),
                         LG_OK);
        ck_assert_int_eq(lg_append(engine, "z", 0, records, LG_ACKS_LEADER,
                                   NULL),
                         LG_OK);
    }
    lg_records_clear(records);
    ck_assert_int_eq(lg_records_add(records, NULL, 0, "only", 4,
                                    LG_TIMESTAMP_NOW),
                     LG_OK);
    ck_assert_int_eq(lg_append(engine, "t", 0, records, LG_ACKS_ALL, NULL),
                     LG_OK);
    lg_records_destroy(records);
    /* Topic x: transactions, every other one aborted, so x-0's .txnindex
     * has entries. */
    ck_assert_int_eq(lg_topic_create(engine, "x", 1, NULL), LG_OK);
    lg_conf_t *txn = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(txn, "transactional.id", "dump"), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, txn, &producer), LG_OK);
    lg_conf_destroy(txn);
    ck_assert_int_eq(lg_producer_init_transactions(producer), LG_OK);
    for (int t = 0; t < 4; t++) {
        ck_assert_int_eq(lg_producer_begin_transaction(producer), LG_OK);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(lg_produce(producer, "x", 0, "k", 1, "v", 1,
                                        LG_TIMESTAMP_NOW, NULL),
                             LG_OK);
        ck_assert_int_eq(t % 2 ? lg_producer_abort_transaction(producer, -1)
                               : lg_producer_commit_transaction(producer, -1),
                         LG_OK);
    }
    lg_producer_destroy(producer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    lg_conf_destroy(conf);
}

/* Runs lgdump with args (a shell fragment) and returns its exit status;
 * its stdout goes to out, stderr to err (both in dir). */
static int run_lgdump(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/examples/lgdump %s >%s/out 2>%s/err",
             build_dir(), args, dir, dir);
    int status = system(cmd);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *read_text(const char *name) {
    char *path = lgt_path(dir, name);
    size_t len;
    uint8_t *data = lgt_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    free(data);
    free(path);
    return text;
}

static void setup(void) {
    dir = lgt_tmpdir("lgdump");
    write_segments();
}

static void teardown(void) {
    lgt_rmrf(dir);
    free(dir);
}

START_TEST(verify_passes_on_segments_the_library_wrote) {
    char args[1024];
    snprintf(args, sizeof args,
             "--verify --print-data %s/t-0/*.log %s/t-0/*.index "
             "%s/t-0/*.timeindex %s/z-0/*.log %s/z-0/*.index "
             "%s/z-0/*.timeindex",
             dir, dir, dir, dir, dir, dir);
    int rc = run_lgdump(args);
    char *err = read_text("err");
    ck_assert_msg(rc == 0, "lgdump exit %d: %s", rc, err);
    free(err);
    char *out = read_text("out");
    ck_assert_ptr_nonnull(strstr(out, "baseOffset: 0 lastOffset: 4 count: 5"));
    ck_assert_ptr_nonnull(strstr(out, "compresscodec: zstd"));
    ck_assert_ptr_nonnull(strstr(out, "compresscodec: none"));
    ck_assert_ptr_nonnull(strstr(out, "| offset: 0 CreateTime: 1700000000000"));
    ck_assert_ptr_nonnull(strstr(out, "headers: [h=v] key: key-0-0 payload: "
                                      "value 0/0 padding padding"));
    ck_assert_ptr_nonnull(strstr(out, "key: null payload: only"));
    ck_assert_ptr_nonnull(strstr(out, "isvalid: true"));
    ck_assert_ptr_null(strstr(out, "isvalid: false"));
    /* the indexes have entries to check */
    ck_assert_ptr_nonnull(strstr(out, "position: "));
    ck_assert_ptr_nonnull(strstr(out, "timestamp: 17000000"));
    ck_assert_ptr_nonnull(strstr(out, "verify: no problems found"));
    free(out);
}
END_TEST

START_TEST(verify_fails_on_a_corrupt_record_byte) {
    char *log = lgt_path(dir, "t-0/00000000000000000000.log");
    /* a byte inside the second batch's records */
    long long size = lgt_file_size(log);
    ck_assert_int_gt(size, 400);
    ck_assert_int_eq(lgt_flip_bit(log, 200, 3), 0);
    char args[1024];
    snprintf(args, sizeof args, "--verify %s", log);
    ck_assert_int_eq(run_lgdump(args), 1);
    char *err = read_text("err");
    ck_assert_ptr_nonnull(strstr(err, "CRC-32C stored"));
    ck_assert_ptr_nonnull(strstr(err, "00000000000000000000.log: position "));
    free(err);
    free(log);
}
END_TEST

START_TEST(verify_fails_on_an_index_entry_off_a_batch_start) {
    char *index = lgt_path(dir, "t-0/00000000000000000000.index");
    ck_assert_int_ge(lgt_file_size(index), 8);
    /* low bit of the first entry's position */
    ck_assert_int_eq(lgt_flip_bit(index, 7, 0), 0);
    char args[1024];
    snprintf(args, sizeof args, "--verify %s", index);
    ck_assert_int_eq(run_lgdump(args), 1);
    char *err = read_text("err");
    ck_assert_ptr_nonnull(strstr(err, "does not point at the start"));
    free(err);
    free(index);
}
END_TEST

START_TEST(verify_fails_on_a_time_index_entry_with_a_wrong_timestamp) {
    char *index = lgt_path(dir, "t-0/00000000000000000000.timeindex");
    ck_assert_int_ge(lgt_file_size(index), 12);
    ck_assert_int_eq(lgt_flip_bit(index, 7, 4), 0);
    char args[1024];
    snprintf(args, sizeof args, "--verify %s", index);
    ck_assert_int_eq(run_lgdump(args), 1);
    free(index);
}
END_TEST

START_TEST(verify_checks_the_transaction_index) {
    char *index = lgt_path(dir, "x-0/00000000000000000000.txnindex");
    ck_assert_int_eq(lgt_file_size(index), 2 * 34);
    char args[1024];
    snprintf(args, sizeof args, "--verify %s/x-0/*.log %s", dir, index);
    int rc = run_lgdump(args);
    char *err = read_text("err");
    ck_assert_msg(rc == 0, "lgdump exit %d: %s", rc, err);
    free(err);
    char *out = read_text("out");
    ck_assert_ptr_nonnull(strstr(out, "version: 0 producerId: "));
    ck_assert_ptr_nonnull(strstr(out, " lastStableOffset: "));
    ck_assert_ptr_nonnull(strstr(out, "isControl: true"));
    free(out);
    /* The second entry's lastOffset one lower: not a marker any more. */
    ck_assert_int_eq(lgt_flip_bit(index, 34 + 25, 0), 0);
    snprintf(args, sizeof args, "--verify %s", index);
    ck_assert_int_eq(run_lgdump(args), 1);
    err = read_text("err");
    ck_assert_ptr_nonnull(strstr(err, "is not an ABORT marker"));
    free(err);
    free(index);
}
END_TEST

START_TEST(verify_fails_on_a_torn_tail) {
    char *log = lgt_path(dir, "t-0/00000000000000000000.log");
    long long size = lgt_file_size(log);
    ck_assert_int_eq(lgt_truncate(log, size - 3), 0);
    char args[1024];
    snprintf(args, sizeof args, "--verify %s", log);
    ck_assert_int_eq(run_lgdump(args), 1);
    char *err = read_text("err");
    ck_assert_ptr_nonnull(strstr(err, "batchLength"));
    free(err);
    free(log);
}
END_TEST

START_TEST(verify_accepts_zeros_at_the_end_but_not_a_byte_after_them) {
    char *log = lgt_path(dir, "t-0/00000000000000000000.log");
    size_t len;
    uint8_t *data = lgt_read_file(log, &len);
    ck_assert_ptr_nonnull(data);
    /* What a live active segment looks like: its zero fill past the end. */
    uint8_t *filled = calloc(1, len + 4096);
    memcpy(filled, data, len);
    ck_assert_int_eq(lgt_write_file(log, filled, len + 4096), 0);
    char args[1024];
    snprintf(args, sizeof args, "--verify %s", log);
    int rc = run_lgdump(args);
    char *err = read_text("err");
    ck_assert_msg(rc == 0, "lgdump exit %d: %s", rc, err);
    free(err);
    char *out = read_text("out");
    ck_assert_ptr_nonnull(strstr(out, "zero fill: 4096 bytes"));
    free(out);
    filled[len + 4095] = 1;
    ck_assert_int_eq(lgt_write_file(log, filled, len + 4096), 0);
    ck_assert_int_eq(run_lgdump(args), 1);
    err = read_text("err");
    ck_assert_ptr_nonnull(strstr(err, "magic 0"));
    free(err);
    free(filled);
    free(data);
    free(log);
}
END_TEST

int main(void) {
    Suite *s = suite_create("lgdump");
    TCase *tc = tcase_create("lgdump");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, verify_passes_on_segments_the_library_wrote);
    tcase_add_test(tc, verify_fails_on_a_corrupt_record_byte);
    tcase_add_test(tc, verify_fails_on_an_index_entry_off_a_batch_start);
    tcase_add_test(tc, verify_fails_on_a_time_index_entry_with_a_wrong_timestamp);
    tcase_add_test(tc, verify_checks_the_transaction_index);
    tcase_add_test(tc, verify_fails_on_a_torn_tail);
    tcase_add_test(tc, verify_accepts_zeros_at_the_end_but_not_a_byte_after_them);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
