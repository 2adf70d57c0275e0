/*
 * test_eos.c -- the exactly-once example program, examples/eos, end to
 * end: run as a child process ($BUILD/examples/eos, BUILD defaults to
 * "build") on a scratch data directory, it must turn every input record
 * into exactly one uppercased output record in committed data and leave
 * the group's offsets at the input's end -- after a clean run, a rerun
 * (nothing new: nothing produced), a SIGTERM mid-run (what it reports
 * is what it committed) and a series of SIGKILLs at random points
 * followed by restarts.  Committed output is checked two ways: by
 * a read_committed consumer, and by walking the output's batches and
 * transaction markers directly, so the proof does not rest on the
 * consumer's own filtering.  The child inherits LIBLOG_IO_BACKEND, so
 * test/run.sh runs it under both backends.
 */
#include "engine.h"
#include "logtest.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;     /* the data directory, fresh per test */
static char *io_dir;  /* eos's stdout */
static char eos_path[4096];

static void setup(void) {
    dir = lgt_tmpdir("eos");
    io_dir = lgt_tmpdir("eos-io");
    const char *build = getenv("BUILD");
    snprintf(eos_path, sizeof eos_path, "%s/examples/eos",
             build && *build ? build : "build");
}

static void teardown(void) {
    lgt_rmrf(dir);
    lgt_rmrf(io_dir);
    free(dir);
    free(io_dir);
}

/* The value of input record (partition, offset): mixed case, so the
 * transform is visible. */
static int input_value(char *buf, size_t size, int32_t partition,
                       int64_t offset) {
    return snprintf(buf, size, "Record %d/%" PRId64 " of the Input",
                    (int)partition, offset);
}

/* Creates topic "in" with `partitions` partitions of `per_partition`
 * records each (appended in chunks, as separate batches). */
static void seed(int32_t partitions, int per_partition) {
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "in", partitions, NULL), LG_OK);
    for (int32_t p = 0; p < partitions; p++)
        for (int first = 0; first < per_partition; first += 50) {
            lg_records_t *records = lg_records_new();
            for (int o = first; o < first + 50 && o < per_partition; o++) {
                char value[64];
                int n = input_value(value, sizeof value, p, o);
                ck_assert_int_eq(lg_records_add(records, NULL, 0, value,
                                                (size_t)n, LG_TIMESTAMP_NOW),
                                 LG_OK);
            }
            ck_assert_int_eq(
                lg_append(engine, "in", p, records, LG_ACKS_ALL, NULL), LG_OK);
            lg_records_destroy(records);
        }
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}

/* Starts eos with arguments (NULL-terminated, after the program name)
 * and stdout/stderr to scratch files; returns its pid. */
static pid_t start_eos(const char *const *arguments) {
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        char *out = lgt_path(io_dir, "stdout");
        FILE *o = freopen(out, "w", stdout);
        FILE *e = freopen("/dev/null", "w", stderr);
        (void)o;
        (void)e;
        const char *argv[16] = {eos_path};
        for (int i = 0; arguments[i] && i < 14; i++)
            argv[i + 1] = arguments[i];
        execv(eos_path, (char *const *)argv);
        _exit(127);
    }
    return child;
}

/* Runs eos to completion; returns its exit status, stdout in output. */
static int run_eos(const char *const *arguments, char *output, size_t size) {
    pid_t child = start_eos(arguments);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status), "eos did not exit (status %d)", status);
    char *out = lgt_path(io_dir, "stdout");
    size_t len = 0;
    uint8_t *data = lgt_read_file(out, &len);
    free(out);
    if (len >= size)
        len = size - 1;
    if (data)
        memcpy(output, data, len);
    output[len] = '\0';
    free(data);
    return WEXITSTATUS(status);
}

/* Marks output record key "in/<p>/<o>" with value value as seen once in
 * seen[p * per_partition + o], checking key and value. */
static void count_output(int *seen, int32_t partitions, int per_partition,
                         int32_t output_partition, const void *key,
                         size_t key_len, const void *value,
                         size_t value_len) {
    char text[64] = {0};
    ck_assert_uint_lt(key_len, sizeof text);
    memcpy(text, key, key_len);
    int p, o;
    ck_assert_msg(sscanf(text, "in/%d/%d", &p, &o) == 2, "key %s", text);
    ck_assert_int_eq(p, output_partition); /* same partition as input */
    ck_assert(p >= 0 && p < partitions && o >= 0 && o < per_partition);
    char expected[64];
    int n = input_value(expected, sizeof expected, p, o);
    for (int i = 0; i < n; i++)
        if (expected[i] >= 'a' && expected[i] <= 'z')
            expected[i] = (char)(expected[i] - 'a' + 'A');
    ck_assert_uint_eq(value_len, (size_t)n);
    ck_assert_msg(memcmp(value, expected, (size_t)n) == 0, "value of %s",
                  text);
    seen[p * per_partition + o]++;
}

/* Walks "out" partition by partition: data batches of the transactional
 * producer count once its commit marker follows them, and not when an
 * abort marker does or none does yet.  Returns the number of aborted
 * records met. */
/* committed_by_markers' walk of one partition of "out". */
typedef struct marker_walk {
    int *seen;
    int32_t partitions, partition;
    int per_partition;
    long aborted;
    int control; /* the batch being walked is a marker */
    /* One transaction open at a time per partition: the records since
     * the last marker. */
    struct pending {
        char key[64], value[64];
        size_t key_len, value_len;
    } *pending;
    size_t pending_count;
} marker_walk_t;

static void marker_walk_record(void *opaque, const lgi_record_t *record) {
    marker_walk_t *w = opaque;
    if (w->control) {
        /* Control key: version int16, type int16 (1 = commit, 0 =
         * abort). */
        int commit = ((const uint8_t *)record->key)[3] == 1;
        for (size_t i = 0; i < w->pending_count; i++)
            if (commit)
                count_output(w->seen, w->partitions, w->per_partition,
                             w->partition, w->pending[i].key,
                             w->pending[i].key_len, w->pending[i].value,
                             w->pending[i].value_len);
        if (!commit)
            w->aborted += (long)w->pending_count;
        w->pending_count = 0;
        return;
    }
    ck_assert_uint_lt(w->pending_count, (size_t)w->per_partition * 4);
    struct pending *r = &w->pending[w->pending_count++];
    ck_assert_uint_lt(record->key_len, sizeof r->key);
    ck_assert_uint_lt(record->value_len, sizeof r->value);
    memcpy(r->key, record->key, record->key_len);
    memcpy(r->value, record->value, record->value_len);
    r->key_len = record->key_len;
    r->value_len = record->value_len;
}

static void marker_walk_batch(void *opaque, const uint8_t *batch,
                              const lgi_batch_header_t *h) {
    marker_walk_t *w = opaque;
    ck_assert(h->attributes & LGI_ATTR_TRANSACTIONAL);
    w->control = (h->attributes & LGI_ATTR_CONTROL) != 0;
    lgt_each_record(batch, h, marker_walk_record, w);
}

static long committed_by_markers(lg_engine_t *engine, int *seen,
                                 int32_t partitions, int per_partition) {
    marker_walk_t w = {.seen = seen,
                       .partitions = partitions,
                       .per_partition = per_partition};
    w.pending = calloc((size_t)per_partition * 4, sizeof *w.pending);
    ck_assert_ptr_nonnull(w.pending);
    for (int32_t p = 0; p < partitions; p++) {
        lgi_partition_ref_t ref;
        ck_assert_int_eq(lgi_engine_acquire(engine, "out", p, &ref), LG_OK);
        w.partition = p;
        w.pending_count = 0;
        lgt_each_batch(ref.partition, 0, marker_walk_batch, &w);
        lgi_engine_release(engine, &ref);
    }
    free(w.pending);
    return w.aborted;
}

/* Reads all of "out" with a read_committed consumer into seen. */
static void committed_by_consumer(lg_engine_t *engine, int *seen,
                                  int32_t partitions, int per_partition) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "isolation.level", "read_committed"),
                     LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "enable.partition.eof", "true"),
                     LG_OK);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer), LG_OK);
    lg_conf_destroy(conf);
    for (int32_t p = 0; p < partitions; p++)
        ck_assert_int_eq(
            lg_consumer_assign(consumer, "out", p, LG_OFFSET_BEGINNING),
            LG_OK);
    int at_end = 0;
    while (at_end < partitions) {
        const lg_message_t *m;
        ck_assert_int_eq(lg_consumer_poll(consumer, 5000, &m), LG_OK);
        ck_assert_msg(m != NULL, "read_committed consumer stalled");
        if (lg_message_error(m) == LG_ERR_PARTITION_EOF) {
            at_end++;
            continue;
        }
        ck_assert_int_eq(lg_message_error(m), LG_OK);
        size_t key_len, value_len;
        const void *key = lg_message_key(m, &key_len);
        const void *value = lg_message_value(m, &value_len);
        count_output(seen, partitions, per_partition,
                     lg_message_partition(m), key, key_len, value,
                     value_len);
    }
    lg_consumer_destroy(consumer);
}

/* The offsets eos's group "eos-out" committed for partitions 0 ..
 * partitions - 1 of "in", into offsets (as lg_consumer_committed reports
 * them: no offset where the group committed none). */
static void committed_offsets(lg_engine_t *engine, int32_t partitions,
                              int64_t *offsets) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "group.id", "eos-out"), LG_OK);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer), LG_OK);
    lg_conf_destroy(conf);
    lg_topic_partition_list_t *list = lg_topic_partition_list_new();
    for (int32_t p = 0; p < partitions; p++)
        lg_topic_partition_list_add(list, "in", p, LG_OFFSET_INVALID);
    ck_assert_int_eq(lg_consumer_committed(consumer, list), LG_OK);
    for (int32_t p = 0; p < partitions; p++)
        offsets[p] = lg_topic_partition_list_offset(list, (size_t)p);
    lg_topic_partition_list_destroy(list);
    lg_consumer_destroy(consumer);
}

/* Checks that committed output holds every input record exactly once
 * (both ways) and that group eos-out's offsets are at the input's end.
 * Returns the number of aborted output records. */
static long check_exactly_once(int32_t partitions, int per_partition,
                               int kills) {
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    size_t total = (size_t)partitions * (size_t)per_partition;
    int *by_markers = calloc(total, sizeof *by_markers);
    int *by_consumer = calloc(total, sizeof *by_consumer);
    long aborted =
        committed_by_markers(engine, by_markers, partitions, per_partition);
    committed_by_consumer(engine, by_consumer, partitions, per_partition);
    for (size_t i = 0; i < total; i++) {
        ck_assert_msg(by_markers[i] == 1,
                      "input %d/%d is in the committed output %d times "
                      "(%d kills)",
                      (int)(i / (size_t)per_partition),
                      (int)(i % (size_t)per_partition), by_markers[i], kills);
        ck_assert_msg(by_consumer[i] == 1,
                      "a read_committed consumer sees input %d/%d %d times "
                      "(%d kills)",
                      (int)(i / (size_t)per_partition),
                      (int)(i % (size_t)per_partition), by_consumer[i],
                      kills);
    }
    free(by_markers);
    free(by_consumer);
    /* Every input offset was committed with the output of its record. */
    int64_t *offsets = calloc((size_t)partitions, sizeof *offsets);
    ck_assert_ptr_nonnull(offsets);
    committed_offsets(engine, partitions, offsets);
    for (int32_t p = 0; p < partitions; p++)
        ck_assert_int_eq(offsets[p], per_partition);
    free(offsets);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    return aborted;
}

START_TEST(eos_turns_every_input_record_into_one_committed_output) {
    seed(3, 200);
    char output[4096];
    const char *const arguments[] = {"-e", "-n", "16", dir, "in", "out",
                                     NULL};
    ck_assert_int_eq(run_eos(arguments, output, sizeof output), 0);
    /* 600 records, 16 to a transaction per commit, at least 38. */
    long records, transactions, aborts;
    ck_assert_int_eq(sscanf(output, "eos: %ld records in %ld transactions, "
                                    "%ld aborted",
                            &records, &transactions, &aborts),
                     3);
    ck_assert_int_eq(records, 600);
    ck_assert_int_ge(transactions, 38);
    ck_assert_int_eq(aborts, 0);
    ck_assert_int_eq(check_exactly_once(3, 200, 0), 0);

    /* A rerun finds nothing new: the group's offsets are at the end. */
    ck_assert_int_eq(run_eos(arguments, output, sizeof output), 0);
    ck_assert_str_eq(output, "eos: 0 records in 0 transactions, 0 aborted\n");
    ck_assert_int_eq(check_exactly_once(3, 200, 0), 0);
}
END_TEST

START_TEST(eos_reports_usage_and_runtime_errors) {
    char output[4096];
    const char *const none[] = {NULL};
    ck_assert_int_eq(run_eos(none, output, sizeof output), 2);
    const char *const bad_n[] = {"-n", "0", dir, "in", "out", NULL};
    ck_assert_int_eq(run_eos(bad_n, output, sizeof output), 2);
    /* The input topic does not exist. */
    const char *const missing[] = {"-e", dir, "in", "out", NULL};
    ck_assert_int_eq(run_eos(missing, output, sizeof output), 1);
}
END_TEST

/* SIGKILL at random points (opening, mid-transaction, inside a commit),
 * restart each time, then let it finish: still exactly once. */
START_TEST(eos_is_exactly_once_when_killed_and_restarted) {
    enum { PARTITIONS = 2, PER_PARTITION = 2000 };
    seed(PARTITIONS, PER_PARTITION);
    const char *const arguments[] = {"-e", "-n", "10", dir, "in", "out",
                                     NULL};
    srand(6);
    int kills = 0, finished = 0;
    for (int round = 0; !finished && round < 200; round++) {
        pid_t child = start_eos(arguments);
        int killed;
        int status = lgt_wait_or_kill(
            child, kills < 10 ? 100000 + rand() % 300000 : -1, &killed);
        kills += killed;
        if (WIFEXITED(status)) {
            ck_assert_int_eq(WEXITSTATUS(status), 0);
            finished = 1;
        } else {
            ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        }
    }
    ck_assert(finished);
    ck_assert_int_gt(kills, 0);
    long aborted = check_exactly_once(PARTITIONS, PER_PARTITION, kills);
    fprintf(stderr, "eos kill test: %d kills, %ld output records aborted\n",
            kills, aborted);
}
END_TEST

/* SIGTERM while running (no -e): eos commits what it has read and exits
 * 0; its summary matches the group's offsets, and a second run finishes
 * the rest exactly once. */
START_TEST(eos_commits_its_work_on_sigterm) {
    enum { PARTITIONS = 2, PER_PARTITION = 3000 };
    seed(PARTITIONS, PER_PARTITION);
    const char *const arguments[] = {"-n", "10", dir, "in", "out", NULL};
    pid_t child = start_eos(arguments);
    usleep(400000);
    ck_assert_int_eq(kill(child, SIGTERM), 0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "status %d", status);
    char *out = lgt_path(io_dir, "stdout");
    size_t len = 0;
    char *text = (char *)lgt_read_file(out, &len);
    free(out);
    ck_assert_ptr_nonnull(text);
    long records = -1, transactions, aborts;
    ck_assert_int_eq(sscanf(text, "eos: %ld records in %ld transactions, "
                                  "%ld aborted",
                            &records, &transactions, &aborts),
                     3);
    free(text);
    /* What it reported is exactly what the group committed. */
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    int64_t offsets[PARTITIONS];
    committed_offsets(engine, PARTITIONS, offsets);
    long committed = 0;
    for (int32_t p = 0; p < PARTITIONS; p++)
        committed += offsets[p] > 0 ? (long)offsets[p] : 0;
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(committed, records);
    /* Finish, then everything is there once. */
    const char *const finish[] = {"-e", dir, "in", "out", NULL};
    char output[4096];
    ck_assert_int_eq(run_eos(finish, output, sizeof output), 0);
    long rest = -1;
    ck_assert_int_eq(sscanf(output, "eos: %ld records", &rest), 1);
    ck_assert_int_eq(records + rest, PARTITIONS * PER_PARTITION);
    ck_assert_int_eq(check_exactly_once(PARTITIONS, PER_PARTITION, 0), 0);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("eos");
    TCase *tc = tcase_create("eos");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, eos_turns_every_input_record_into_one_committed_output);
    tcase_add_test(tc, eos_reports_usage_and_runtime_errors);
    tcase_add_test(tc, eos_is_exactly_once_when_killed_and_restarted);
    tcase_add_test(tc, eos_commits_its_work_on_sigterm);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
