/*
 * alloc.c -- malloc wrappers with fault injection for tests.
 *
 * fail_countdown > 0 counts allocations down; the one that brings it to
 * zero fails.  With fail_sticky every later allocation fails as well until
 * the hook is disarmed, which is how tests prove a failure leaves state
 * consistent rather than merely survivable once.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown;
static atomic_int fail_sticky;
static atomic_int failing;

void lgi_alloc_fail_after(long countdown, int sticky) {
    atomic_store(&failing, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, countdown);
}

static int should_fail(void) {
    if (atomic_load_explicit(&failing, memory_order_relaxed))
        return 1;
    if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) <= 0)
        return 0;
    if (atomic_fetch_sub(&fail_countdown, 1) == 1) {
        if (atomic_load(&fail_sticky))
            atomic_store(&failing, 1);
        return 1;
    }
    return 0;
}

void *lgi_malloc(size_t size) { return should_fail() ? NULL : malloc(size); }

void *lgi_calloc(size_t count, size_t size) {
    return should_fail() ? NULL : calloc(count, size);
}

void *lgi_realloc(void *ptr, size_t size) {
    return should_fail() ? NULL : realloc(ptr, size);
}

char *lgi_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = lgi_malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

void lgi_free(void *ptr) { free(ptr); }
