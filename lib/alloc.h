/*
 * alloc.h -- the library's allocator.
 *
 * All heap memory goes through these wrappers so tests can make the Nth
 * allocation fail and walk every out-of-memory path (canonical/raft's
 * heap.c does the same).  In normal builds the counter check is one
 * relaxed atomic load.
 */
#ifndef LG_ALLOC_H
#define LG_ALLOC_H

#include <stddef.h>

void *lgi_malloc(size_t size);
void *lgi_calloc(size_t count, size_t size);
void *lgi_realloc(void *ptr, size_t size);
char *lgi_strdup(const char *s);
void lgi_free(void *ptr);

/* Test hook: the countdown-th allocation from now on fails (1 = the next),
 * and every one after it too when sticky is non-zero.  0 disarms. */
void lgi_alloc_fail_after(long countdown, int sticky);

#endif
