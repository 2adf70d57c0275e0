/*
 * consumer.h -- lg_consumer_t internals shared with tests and benchmarks:
 * the latency constants of the blocking poll.
 *
 * The consumer itself (assignment, positions, fetches, the eventfd) is
 * private to consumer.c; everything callers may use is in liblog.h.
 */
#ifndef LG_CONSUMER_H
#define LG_CONSUMER_H

#include "liblog.h"

/* The first part of a blocking poll's spin (poll.spin.us) uses the
 * pause instruction; past this, it yields the CPU between looks, because
 * on small machines the appender and the I/O thread need the core the
 * spinner would hold -- unless the polling thread is pinned to a single
 * CPU, which says that CPU is its own: then it pauses throughout, since
 * a yield is a system call (some 400 ns) that a record arriving during it
 * waits out.  Nanoseconds. */
#define LGI_CONSUMER_SPIN_PAUSE_NS 5000

/* A blocking poll sleeps at most this long at a time, then checks that
 * its topics still exist, so a consumer blocked forever on a deleted
 * topic reports it and lets its files be removed.  Milliseconds. */
#define LGI_CONSUMER_WAIT_SLICE_MS 100

/* Test hook: every blocking poll in the process sleeps at most slice_ms
 * at a time instead (-1: until woken).  With -1 a lost wake-up hangs the
 * poll rather than being hidden by the slice.  Any thread. */
void lgi_consumer_set_wait_slice_ms(int slice_ms);

#endif
