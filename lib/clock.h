/*
 * clock.h -- the wall clock in milliseconds, read cheaply (see clock.c).
 */
#ifndef LG_CLOCK_H
#define LG_CLOCK_H

#include <stdint.h>

/* Milliseconds since the epoch: CLOCK_REALTIME as clock_gettime gives it
 * at some instant during the call, divided by 10^6.  Any thread. */
int64_t lgi_clock_realtime_ms(void);

/* 1 when lgi_clock_realtime_ms answers from its TSC-validated cache on
 * this machine (x86-64 with the kernel keeping time by the TSC), once
 * calibrated; 0 when every call reads the clock.  For tests. */
int lgi_clock_cached(void);

#endif
