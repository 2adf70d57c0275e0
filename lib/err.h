/*
 * err.h -- internal error reporting.
 *
 * Every failing path returns an lg_err_t and records a human sentence in a
 * thread-local buffer that lg_last_error_message() exposes.  Thread-local
 * (rather than per-handle) because handles are shared between threads: a
 * per-handle buffer would be overwritten by a concurrent failure on another
 * thread before the first caller read it.
 */
#ifndef LG_ERR_H
#define LG_ERR_H

#include "liblog.h"

/* Records a formatted message for the calling thread and returns code, so
 * callers write `return lgi_error(LG_ERR_IO, "write %s: %s", path, why);`. */
lg_err_t lgi_error(lg_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Same, with the text of errno value errnum appended as ": <strerror>".
 * ENOSPC becomes LG_ERR_DISK_FULL whatever code was passed. */
lg_err_t lgi_error_errno(lg_err_t code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears the calling thread's message (public entry points call it first so
 * a success leaves ""). */
void lgi_error_clear(void);

#endif
