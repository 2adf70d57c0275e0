/*
 * bench.h -- the few helpers the benchmark programs share: a monotonic
 * clock in nanoseconds, a check that ends the program on a library error
 * (naming the program, the call and liblog's message), and the int64_t
 * comparison their percentile sorts use.  Each bench stays one .c file;
 * these are static inline so a program pays only for what it uses.
 */
#ifndef LG_BENCH_H
#define LG_BENCH_H

#include <liblog.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Ends the program when err is not LG_OK. */
static inline void check(const char *what, lg_err_t err) {
    if (err == LG_OK)
        return;
    fprintf(stderr, "%s: %s: %s (%s)\n", program_invocation_short_name, what,
            lg_strerror(err), lg_last_error_message());
    exit(EXIT_FAILURE);
}

/* qsort comparison of int64_t values, ascending. */
static inline int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

#endif
