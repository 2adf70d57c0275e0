/*
 * consumer.h -- lg_consumer_t internals shared with tests and benchmarks:
 * the latency knobs of the blocking poll.
 *
 * The consumer itself (assignment, positions, fetches, the eventfd) is
 * private to consumer.c; everything callers may use is in liblog.h.
 */
#ifndef LG_CONSUMER_H
#define LG_CONSUMER_H

#include "liblog.h"

/* How long a blocking poll that found nothing spins, re-reading the
 * published ends of its partitions without a lock, before it sleeps on
 * its eventfd.  A record published within this window is returned
 * without paying for a sleep and a wakeup (tens of microseconds on a busy
 * machine); longer would burn a core that, on small machines, the
 * appender and the I/O thread need.  Nanoseconds. */
#define LGI_CONSUMER_SPIN_NS 20000

/* A blocking poll sleeps at most this long at a time, then checks that
 * its topics still exist, so a consumer blocked forever on a deleted
 * topic reports it and lets its files be removed.  Milliseconds. */
#define LGI_CONSUMER_WAIT_SLICE_MS 100

#endif
