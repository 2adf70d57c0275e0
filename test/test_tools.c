/*
 * test_tools.c -- the command-line tools end to end: runs the built
 * $BUILD/examples/lgcat, lgperf, producer and consumer (BUILD defaults to
 * "build") through the shell on scratch data directories and checks their
 * exact output and exit codes: keyed lines produced and consumed back
 * through a format, headers, -L listings, -o offsets, -c counts, usage and
 * runtime errors, lgperf's fixed last line, and the producer and consumer
 * examples.  The tools inherit LIBLOG_IO_BACKEND, so test/run.sh runs them
 * under both backends.
 */
#include "testutil.h"

#include <check.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char *dir;        /* scratch data directory, fresh per test */
static char *scratch;    /* holds stdin/stdout/stderr files */
static char output[1 << 16];
static char errors[1 << 16];

static void setup(void) {
    dir = lgt_tmpdir("tools-data");
    scratch = lgt_tmpdir("tools-io");
}

static void teardown(void) {
    lgt_rmrf(dir);
    lgt_rmrf(scratch);
    free(dir);
    free(scratch);
}

/* Reads the file scratch/name into buffer (NUL-terminated, truncated). */
static void read_into(const char *name, char *buffer, size_t size) {
    char *path = lgt_path(scratch, name);
    size_t length = 0;
    uint8_t *data = lgt_read_file(path, &length);
    free(path);
    if (length >= size)
        length = size - 1;
    if (data)
        memcpy(buffer, data, length);
    buffer[length] = '\0';
    free(data);
}

/* Runs $BUILD/examples/<tool> with arguments (shell words; "%D" stands for
 * the data directory), feeding input (may be NULL: empty stdin), and
 * returns its exit status, with stdout in output and stderr in errors. */
static int run(const char *tool, const char *arguments, const char *input) {
    const char *build = getenv("BUILD");
    char *in_path = lgt_path(scratch, "stdin");
    ck_assert_int_eq(lgt_write_file(in_path, input ? input : "",
                                    input ? strlen(input) : 0), 0);
    /* Expand %D into the data directory. */
    char expanded[4096];
    size_t used = 0;
    for (const char *c = arguments; *c && used < sizeof expanded - 1; c++) {
        if (c[0] == '%' && c[1] == 'D') {
            used += (size_t)snprintf(expanded + used, sizeof expanded - used,
                                     "%s", dir);
            c++;
        } else {
            expanded[used++] = *c;
        }
    }
    expanded[used] = '\0';
    char command[8192];
    snprintf(command, sizeof command,
             "%s/examples/%s %s < %s > %s/stdout 2> %s/stderr",
             build && *build ? build : "build", tool, expanded, in_path,
             scratch, scratch);
    free(in_path);
    int status = system(command);
    ck_assert_msg(status != -1 && WIFEXITED(status), "%s did not exit",
                  command);
    read_into("stdout", output, sizeof output);
    read_into("stderr", errors, sizeof errors);
    return WEXITSTATUS(status);
}

/* The last line of text (without its newline), in a static buffer. */
static const char *last_line(const char *text) {
    static char line[1024];
    size_t length = strlen(text);
    while (length && text[length - 1] == '\n')
        length--;
    size_t start = length;
    while (start && text[start - 1] != '\n')
        start--;
    size_t n = length - start < sizeof line - 1 ? length - start
                                                : sizeof line - 1;
    memcpy(line, text + start, n);
    line[n] = '\0';
    return line;
}

#define LGCAT_OK(arguments, input)                                            \
    ck_assert_msg(run("lgcat", arguments, input) == 0,                        \
                  "lgcat %s failed: %s", arguments, errors)

/* ---------------------------------------------------------------- lgcat */

START_TEST(keyed_lines_come_back_through_the_format) {
    LGCAT_OK("-b %D -P -t events -c -N 1 -K :",
             "alice:one\nbob:two:too\nno key here\n:empty key\n");
    LGCAT_OK("-b %D -C -t events -e -q -f '%k=%s@%o|%K|%S\\n'", NULL);
    ck_assert_str_eq(output, "alice=one@0|5|3\n"
                             "bob=two:too@1|3|7\n"
                             "=no key here@2|-1|11\n"
                             "=empty key@3|0|9\n");
}
END_TEST

START_TEST(default_format_is_the_value_and_a_newline) {
    LGCAT_OK("-b %D -P -t plain -c", "first\nsecond\n\nfourth\n");
    LGCAT_OK("-b %D -C -t plain -e", NULL);
    ck_assert_str_eq(output, "first\nsecond\n\nfourth\n");
    ck_assert_ptr_nonnull(strstr(errors, "% Reached end of topic plain [0]"
                                         " at offset 4"));
}
END_TEST

START_TEST(headers_topic_partition_and_escapes_print) {
    LGCAT_OK("-b %D -P -t headed -N 3 -p 2 -H source=test -H empty=",
             "v1\nv2\n");
    LGCAT_OK("-b %D -C -t headed -e -q -f '%t\\t%p\\t%o\\t%h\\t%s 100%%\\n'",
             NULL);
    ck_assert_str_eq(output, "headed\t2\t0\tsource=test,empty=\tv1 100%\n"
                             "headed\t2\t1\tsource=test,empty=\tv2 100%\n");
    /* %T is the record's timestamp in milliseconds: a plausible now. */
    LGCAT_OK("-b %D -C -t headed -e -q -c 1 -f '%T'", NULL);
    long long timestamp = atoll(output);
    ck_assert_msg(timestamp > 1500000000000LL, "timestamp %s", output);
}
END_TEST

START_TEST(list_shows_partitions_and_watermarks) {
    LGCAT_OK("-b %D -P -t alpha -N 2 -p 1", "a\nb\nc\n");
    LGCAT_OK("-b %D -P -t beta -c", "x\n");
    LGCAT_OK("-b %D -L", NULL);
    char expected[4096];
    snprintf(expected, sizeof expected,
             "Metadata for data directory %s (liblog 1.0.0):\n"
             " 2 topics:\n"
             "  topic \"alpha\" with 2 partitions:\n"
             "    partition 0, low 0, high 0\n"
             "    partition 1, low 0, high 3\n"
             "  topic \"beta\" with 1 partition:\n"
             "    partition 0, low 0, high 1\n", dir);
    ck_assert_str_eq(output, expected);
    LGCAT_OK("-b %D -L -t beta", NULL);
    ck_assert_ptr_nonnull(strstr(output, " 1 topic:\n  topic \"beta\""));
    ck_assert_ptr_null(strstr(output, "alpha"));
}
END_TEST

START_TEST(offsets_and_counts_select_records) {
    LGCAT_OK("-b %D -P -t numbers -c", "0\n1\n2\n3\n4\n5\n");
    LGCAT_OK("-b %D -C -t numbers -e -q -o 4", NULL);
    ck_assert_str_eq(output, "4\n5\n");
    LGCAT_OK("-b %D -C -t numbers -e -q -o -2", NULL);
    ck_assert_str_eq(output, "4\n5\n");
    LGCAT_OK("-b %D -C -t numbers -e -q -o -100", NULL);
    ck_assert_str_eq(output, "0\n1\n2\n3\n4\n5\n");
    LGCAT_OK("-b %D -C -t numbers -e -q -o end", NULL);
    ck_assert_str_eq(output, "");
    LGCAT_OK("-b %D -C -t numbers -e -q -o beginning -c 3", NULL);
    ck_assert_str_eq(output, "0\n1\n2\n");
    /* Without -e, -c alone ends the run. */
    LGCAT_OK("-b %D -C -t numbers -q -o 1 -c 2", NULL);
    ck_assert_str_eq(output, "1\n2\n");
    LGCAT_OK("-b %D -C -t numbers -e -q -o s@0 -c 1", NULL);
    ck_assert_str_eq(output, "0\n");
    /* -c <count> in produce mode stops reading stdin. */
    LGCAT_OK("-b %D -P -t numbers -c 2", "6\n7\n8\n");
    LGCAT_OK("-b %D -C -t numbers -e -q -o 6", NULL);
    ck_assert_str_eq(output, "6\n7\n");
}
END_TEST

START_TEST(keys_pick_partitions_consistently) {
    LGCAT_OK("-b %D -P -t keyed -N 4 -K =",
             "k1=a\nk2=b\nk3=c\nk1=d\nk2=e\nk3=f\n");
    LGCAT_OK("-b %D -C -t keyed -e -q -f '%k %p\\n'", NULL);
    /* Every record of a key went to the same partition. */
    for (int key = 1; key <= 3; key++) {
        char name[16];
        snprintf(name, sizeof name, "k%d ", key);
        const char *first = strstr(output, name);
        ck_assert_ptr_nonnull(first);
        const char *second = strstr(first + 1, name);
        ck_assert_ptr_nonnull(second);
        ck_assert_int_eq(first[3], second[3]);
    }
    /* A -p partition consumes just that partition. */
    LGCAT_OK("-b %D -C -t keyed -e -q -p 0 -f '%p\\n'", NULL);
    for (const char *c = output; *c; c += 2)
        ck_assert_int_eq(*c, '0');
}
END_TEST

START_TEST(properties_route_to_engine_and_clients) {
    /* acks/linger.ms: producer; segment.bytes: engine (a topic default);
     * fetch.max.bytes: consumer. */
    LGCAT_OK("-b %D -P -t routed -c -X acks=all -X linger.ms=0 "
             "-X segment.bytes=100000", "a\nb\n");
    LGCAT_OK("-b %D -C -t routed -e -q -X fetch.max.bytes=1000 "
             "-X io.queue.depth=64", NULL);
    ck_assert_str_eq(output, "a\nb\n");
}
END_TEST

START_TEST(usage_errors_exit_1) {
    ck_assert_int_eq(run("lgcat", "-b %D -C -t x -Z", NULL), 1);
    ck_assert_ptr_nonnull(strstr(errors, "unknown option: -Z"));
    ck_assert_int_eq(run("lgcat", "-C -t x", NULL), 1);
    ck_assert_ptr_nonnull(strstr(errors, "-b <dir> is required"));
    ck_assert_int_eq(run("lgcat", "-b %D -t x", NULL), 1);
    ck_assert_int_eq(run("lgcat", "-b %D -C", NULL), 1);
    ck_assert_int_eq(run("lgcat", "-b %D -C -P -t x", NULL), 1);
    ck_assert_int_eq(run("lgcat", "-b %D -C -t x -o later", NULL), 1);
    ck_assert_int_eq(run("lgcat", "-b %D -C -t x -X no.such=1", NULL), 1);
    ck_assert_ptr_nonnull(strstr(errors, "no.such"));
    ck_assert_int_eq(run("lgcat", "-b %D -C -t x -X acks=7", NULL), 1);
    ck_assert_int_eq(run("lgcat", "-b %D -C -t", NULL), 1);
    ck_assert_int_eq(run("lgcat", "-h", NULL), 0);
    ck_assert_ptr_nonnull(strstr(output, "usage: lgcat"));
}
END_TEST

START_TEST(runtime_errors_exit_2_with_the_library_message) {
    ck_assert_int_eq(run("lgcat", "-b %D -C -t missing -e", NULL), 2);
    ck_assert_ptr_nonnull(strstr(errors, "missing"));
    /* Produce to a missing topic without -c. */
    ck_assert_int_eq(run("lgcat", "-b %D -P -t missing", "x\n"), 2);
    LGCAT_OK("-b %D -P -t one -c", "x\n");
    ck_assert_int_eq(run("lgcat", "-b %D -P -t one -p 5", "x\n"), 2);
    ck_assert_int_eq(run("lgcat", "-b %D -C -t one -p 5 -e", NULL), 2);
    ck_assert_int_eq(run("lgcat", "-b %D -L -t missing", NULL), 2);
    /* A consumer property in produce mode fits neither handle. */
    ck_assert_int_eq(run("lgcat", "-b %D -P -t one -X enable.partition.eof="
                                  "true", "x\n"), 2);
    ck_assert_ptr_nonnull(strstr(errors, "enable.partition.eof"));
    /* A data directory that cannot be created. */
    ck_assert_int_eq(run("lgcat", "-b /proc/lgcat-nope -L", NULL), 2);
}
END_TEST

/* ---------------------------------------------------------------- lgperf */

/* Checks that text's last line is lgperf's summary for records records,
 * with (want_latency) or without latency figures, in order. */
static void check_summary(const char *text, long long records,
                          int want_latency) {
    const char *line = last_line(text);
    regex_t pattern;
    ck_assert_int_eq(
        regcomp(&pattern,
                want_latency
                    ? "^lgperf: ([0-9]+) records, ([0-9]+) rec/s, "
                      "([0-9]+\\.[0-9]) MB/s, latency p50 ([0-9]+) us "
                      "p99 ([0-9]+) us p99\\.9 ([0-9]+) us$"
                    : "^lgperf: ([0-9]+) records, ([0-9]+) rec/s, "
                      "([0-9]+\\.[0-9]) MB/s$",
                REG_EXTENDED),
        0);
    regmatch_t match[7];
    int matched = regexec(&pattern, line, 7, match, 0);
    regfree(&pattern);
    ck_assert_msg(matched == 0, "last line not in the format: '%s'", line);
    long long count, rate, p50, p99, p999;
    double megabytes;
    if (want_latency) {
        ck_assert_int_eq(sscanf(line, "lgperf: %lld records, %lld rec/s, %lf "
                                      "MB/s, latency p50 %lld us p99 %lld us "
                                      "p99.9 %lld us", &count, &rate,
                                &megabytes, &p50, &p99, &p999), 6);
        ck_assert_msg(p50 <= p99 && p99 <= p999, "%s", line);
        ck_assert_msg(p999 < 60LL * 1000 * 1000, "%s", line);
    } else {
        ck_assert_int_eq(sscanf(line, "lgperf: %lld records, %lld rec/s, %lf "
                                      "MB/s", &count, &rate, &megabytes), 3);
    }
    ck_assert_int_eq(count, records);
    ck_assert_msg(rate > 0 && megabytes >= 0, "%s", line);
}

START_TEST(lgperf_produce_prints_the_summary_line) {
    ck_assert_msg(run("lgperf", "-b %D -t perf -P -n 3000 -s 64 -a 1 -T 2 "
                                "-N 2 -X linger.ms=1", NULL) == 0,
                  "%s", errors);
    check_summary(output, 3000, 1);
    LGCAT_OK("-b %D -L -t perf", NULL);
    ck_assert_ptr_nonnull(strstr(output, "with 2 partitions"));
    /* Throughput follows from count, size and rate. */
    ck_assert_msg(run("lgperf", "-b %D -t perf -C", NULL) == 0, "%s", errors);
    check_summary(output, 3000, 0);
    ck_assert_msg(run("lgperf", "-b %D -t perf -C -n 100", NULL) == 0, "%s",
                  errors);
    check_summary(output, 100, 0);
}
END_TEST

START_TEST(lgperf_latency_mode_prints_the_summary_line) {
    ck_assert_msg(run("lgperf", "-b %D -t e2e -L -n 2000 -s 16 -a 0 "
                                "-X linger.ms=0 -r 20000", NULL) == 0,
                  "%s", errors);
    check_summary(output, 2000, 1);
}
END_TEST

START_TEST(lgperf_acks_all_and_errors) {
    ck_assert_msg(run("lgperf", "-b %D -t durable -P -n 200 -s 10 -a all",
                      NULL) == 0, "%s", errors);
    check_summary(output, 200, 1);
    ck_assert_int_eq(run("lgperf", "-b %D -t x -P -a 2", NULL), 1);
    ck_assert_int_eq(run("lgperf", "-b %D -t x -P -q", NULL), 1);
    ck_assert_int_eq(run("lgperf", "-t x -P", NULL), 1);
    ck_assert_int_eq(run("lgperf", "-b %D -t x -L -s 4", NULL), 1);
    ck_assert_int_eq(run("lgperf", "-b %D -t x -C", NULL), 2);
    ck_assert_int_eq(run("lgperf", "-h", NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------- examples */

START_TEST(producer_and_consumer_examples_run) {
    ck_assert_msg(run("producer", "%D greetings", NULL) == 0, "%s", errors);
    ck_assert_ptr_nonnull(strstr(output, "10 delivered, 0 failed\n"));
    ck_assert_ptr_nonnull(strstr(output, "delivered key-3 to greetings ["));
    /* The consumer waits for more records until a signal; it must then
     * exit 0 having printed all ten.  (SIGTERM: a shell's background jobs
     * ignore SIGINT.) */
    const char *build = getenv("BUILD");
    char command[8192];
    snprintf(command, sizeof command,
             "%s/examples/consumer %s greetings > %s/stdout 2> %s/stderr & "
             "pid=$!; sleep 1; kill -TERM $pid; wait $pid",
             build && *build ? build : "build", dir, scratch, scratch);
    int status = system(command);
    read_into("stdout", output, sizeof output);
    read_into("stderr", errors, sizeof errors);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "consumer: status %d: %s", status, errors);
    int lines = 0;
    for (const char *c = output; *c; c++)
        lines += *c == '\n';
    ck_assert_int_eq(lines, 10);
    ck_assert_ptr_nonnull(strstr(output, ": key-3 = message 3\n"));
    ck_assert_ptr_nonnull(strstr(errors, "consumed 10 records"));
    /* Usage errors. */
    ck_assert_int_eq(run("producer", "", NULL), 1);
    ck_assert_int_eq(run("consumer", "%D", NULL), 1);
    ck_assert_int_eq(run("consumer", "%D missing", NULL), 1);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("tools");
    TCase *lgcat = tcase_create("lgcat");
    tcase_add_checked_fixture(lgcat, setup, teardown);
    tcase_set_timeout(lgcat, 120);
    tcase_add_test(lgcat, keyed_lines_come_back_through_the_format);
    tcase_add_test(lgcat, default_format_is_the_value_and_a_newline);
    tcase_add_test(lgcat, headers_topic_partition_and_escapes_print);
    tcase_add_test(lgcat, list_shows_partitions_and_watermarks);
    tcase_add_test(lgcat, offsets_and_counts_select_records);
    tcase_add_test(lgcat, keys_pick_partitions_consistently);
    tcase_add_test(lgcat, properties_route_to_engine_and_clients);
    tcase_add_test(lgcat, usage_errors_exit_1);
    tcase_add_test(lgcat, runtime_errors_exit_2_with_the_library_message);
    suite_add_tcase(suite, lgcat);
    TCase *lgperf = tcase_create("lgperf");
    tcase_add_checked_fixture(lgperf, setup, teardown);
    tcase_set_timeout(lgperf, 120);
    tcase_add_test(lgperf, lgperf_produce_prints_the_summary_line);
    tcase_add_test(lgperf, lgperf_latency_mode_prints_the_summary_line);
    tcase_add_test(lgperf, lgperf_acks_all_and_errors);
    suite_add_tcase(suite, lgperf);
    TCase *examples = tcase_create("examples");
    tcase_add_checked_fixture(examples, setup, teardown);
    tcase_set_timeout(examples, 120);
    tcase_add_test(examples, producer_and_consumer_examples_run);
    suite_add_tcase(suite, examples);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
