/*
 * clock.c -- CLOCK_REALTIME in milliseconds without a clock read per call.
 *
 * LG_TIMESTAMP_NOW stamps each record with the engine's clock at the time
 * of lg_produce.  clock_gettime(CLOCK_REALTIME) goes through the vDSO,
 * which reads the TSC behind a fence: 20-35 ns on a virtual machine, a
 * fifth of a whole lg_produce.  A millisecond lasts millions of TSC ticks,
 * so most calls can know the answer without asking the clock:
 *
 *   - A full read brackets clock_gettime between two TSC reads t0 and t1.
 *     The reading r (ns) was taken within [t0, t1]; its millisecond m ends
 *     (m + 1) * 10^6 - r ns after it, so not before the TSC shows
 *     t0 + left_ns * rate, for any rate at or below the TSC's true ticks
 *     per ns.  The cache keeps {from = t1, until = that value, m}.
 *   - A later call reads the TSC once (no fence) and, when
 *     from <= t < until, returns m: a clock reading at t would have been
 *     in millisecond m.  Otherwise it does a full read, which refreshes the
 *     cache.
 *   - rate is a lower bound measured once, between two readings of
 *     CLOCK_MONOTONIC (immune to clock steps) at least CALIBRATION_NS
 *     apart, bracketed the same way (the fewest ticks that can have passed
 *     over the nanoseconds that did), less 1%, which also covers NTP
 *     slewing the clock (at most 0.05%).  Until then every call does a full
 *     read.
 *
 * The cache is used only on x86-64 and only when the kernel's clocksource
 * is "tsc": the kernel then vouches that the TSC is invariant and
 * synchronised across CPUs, so a thread that moves to another CPU reads a
 * consistent counter.  A step of the wall clock (settimeofday, an NTP step)
 * shows at the next full read, within the millisecond.
 *
 * The cache is one seqlock-protected record shared by all threads: readers
 * never write it (its cache line stays shared), the thread that refreshes
 * it (about once per millisecond) takes the odd sequence number with a
 * compare-and-swap, and a reader that meets a refresh in progress, or loses
 * the race to make one, uses its own full read.
 */
#include "clock.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#define HAVE_TSC 1
static inline uint64_t read_tsc(void) { return __rdtsc(); }
#else
#define HAVE_TSC 0
static inline uint64_t read_tsc(void) { return 0; }
#endif

#define CALIBRATION_NS 20000000 /* between the two calibrating readings */
#define RATE_SHIFT 16           /* rate: TSC ticks per ns, fixed point */

/* Ticks per ns << RATE_SHIFT, a lower bound; 0 until calibrated (and
 * forever where the TSC cannot be trusted). */
static _Atomic uint64_t rate;

/* The cache: valid while seq is even and unchanged across the reads. */
static atomic_uint seq;
static _Atomic uint64_t cache_from, cache_until;
static _Atomic int64_t cache_ms;

/* Calibration state, under calibration_lock. */
static pthread_mutex_t calibration_lock = PTHREAD_MUTEX_INITIALIZER;
static int calibration; /* 0 not started, 1 sampling, 2 done, -1 no TSC */
static uint64_t first_tsc, first_ns;

/* 1 if the kernel keeps time with the TSC. */
static int tsc_clocksource(void) {
    int fd = open("/sys/devices/system/clocksource/clocksource0/"
                  "current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char name[16] = {0};
    ssize_t n = read(fd, name, sizeof name - 1);
    close(fd);
    return n >= 3 && strcmp(name, "tsc\n") == 0;
}

/* One step of calibration; called by full reads until it is done. */
static void calibrate(void) {
    if (pthread_mutex_trylock(&calibration_lock) != 0)
        return; /* another thread is at it */
    if (calibration == 0)
        calibration = HAVE_TSC && tsc_clocksource() ? 1 : -1;
    if (calibration == 1) {
        struct timespec ts;
        uint64_t t0 = read_tsc();
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t t1 = read_tsc();
        uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (first_ns == 0) {
            first_tsc = t1;
            first_ns = ns;
        } else if (ns - first_ns >= CALIBRATION_NS && t0 > first_tsc) {
            double per_ns = (double)(t0 - first_tsc) / (double)(ns - first_ns);
            uint64_t bound = (uint64_t)(per_ns * 0.99 * (1u << RATE_SHIFT));
            calibration = 2;
            if (bound > 0)
                atomic_store(&rate, bound);
        }
    }
    pthread_mutex_unlock(&calibration_lock);
}

/* Reads the clock and, once calibrated, refreshes the cache with it. */
static int64_t full_read(void) {
    struct timespec ts;
    uint64_t t0 = read_tsc();
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t1 = read_tsc();
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (!HAVE_TSC)
        return ms;
    uint64_t r = atomic_load_explicit(&rate, memory_order_relaxed);
    if (r == 0) {
        calibrate();
        return ms;
    }
    uint64_t left = 1000000u - (uint64_t)(ts.tv_nsec % 1000000);
    uint64_t until = t0 + ((left * r) >> RATE_SHIFT);
    unsigned s = atomic_load_explicit(&seq, memory_order_relaxed);
    if ((s & 1) == 0 && atomic_compare_exchange_strong(&seq, &s, s + 1)) {
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&cache_from, t1, memory_order_relaxed);
        atomic_store_explicit(&cache_until, until, memory_order_relaxed);
        atomic_store_explicit(&cache_ms, ms, memory_order_relaxed);
        atomic_store_explicit(&seq, s + 2, memory_order_release);
    }
    return ms;
}

int64_t lgi_clock_realtime_ms(void) {
    if (HAVE_TSC && atomic_load_explicit(&rate, memory_order_relaxed)) {
        uint64_t t = read_tsc();
        unsigned s = atomic_load_explicit(&seq, memory_order_acquire);
        uint64_t from = atomic_load_explicit(&cache_from,
                                             memory_order_relaxed);
        uint64_t until = atomic_load_explicit(&cache_until,
                                              memory_order_relaxed);
        int64_t ms = atomic_load_explicit(&cache_ms, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if ((s & 1) == 0 &&
            atomic_load_explicit(&seq, memory_order_relaxed) == s &&
            t >= from && t < until)
            return ms;
    }
    return full_read();
}

int lgi_clock_cached(void) {
    return atomic_load(&rate) != 0;
}
