/*
 * test_clock.c -- lgi_clock_realtime_ms (clock.c): always the millisecond
 * CLOCK_REALTIME shows at some instant during the call, whether answered
 * from the TSC-validated cache or by reading the clock.
 */
#include "clock.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static int64_t realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What clock.c needs to use its cache: x86-64, clocksource tsc. */
static int tsc_machine(void) {
#if defined(__x86_64__)
    int fd = open("/sys/devices/system/clocksource/clocksource0/"
                  "current_clocksource", O_RDONLY);
    if (fd < 0)
        return 0;
    char name[16] = {0};
    ssize_t n = read(fd, name, sizeof name - 1);
    close(fd);
    return n > 0 && strcmp(name, "tsc\n") == 0;
#else
    return 0;
#endif
}

START_TEST(every_answer_lies_between_clock_reads_around_the_call) {
    /* 300 ms of calls cross hundreds of millisecond boundaries, with the
     * cache calibrated after the first 20 ms where it is used. */
    int64_t end = monotonic_ns() + 300 * 1000000LL;
    long calls = 0, changes = 0;
    int64_t last = 0;
    while (monotonic_ns() < end) {
        for (int i = 0; i < 1000; i++) {
            int64_t before = realtime_ms();
            int64_t got = lgi_clock_realtime_ms();
            int64_t after = realtime_ms();
            ck_assert_msg(before <= got && got <= after,
                          "%lld outside [%lld, %lld] after %ld calls",
                          (long long)got, (long long)before,
                          (long long)after, calls);
            changes += got != last;
            last = got;
            calls++;
        }
    }
    /* Many millisecond boundaries were crossed (fewer under a sanitizer
     * on a busy machine, where each call is slow). */
    ck_assert_int_gt(changes, 20);
    if (tsc_machine())
        ck_assert_int_eq(lgi_clock_cached(), 1);
}
END_TEST

START_TEST(back_to_back_calls_never_go_backwards) {
    int64_t end = monotonic_ns() + 100 * 1000000LL;
    int64_t last = lgi_clock_realtime_ms();
    while (monotonic_ns() < end) {
        int64_t now = lgi_clock_realtime_ms();
        /* The wall clock may be stepped back by an administrator; on a
         * test machine it is not, so any regression is the cache's. */
        ck_assert_int_ge(now, last);
        last = now;
    }
}
END_TEST

static atomic_long violations;

static void *hammer(void *arg) {
    (void)arg;
    int64_t end = monotonic_ns() + 200 * 1000000LL;
    while (monotonic_ns() < end) {
        int64_t before = realtime_ms();
        int64_t got = lgi_clock_realtime_ms();
        int64_t after = realtime_ms();
        if (got < before || got > after)
            atomic_fetch_add(&violations, 1);
    }
    return NULL;
}

START_TEST(threads_sharing_the_cache_get_exact_answers) {
    /* Threads refresh the one shared cache concurrently (seqlock). */
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(atomic_load(&violations), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("clock");
    tcase_add_test(tc, every_answer_lies_between_clock_reads_around_the_call);
    tcase_add_test(tc, back_to_back_calls_never_go_backwards);
    tcase_add_test(tc, threads_sharing_the_cache_get_exact_answers);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
