/*
 * buf.h -- a growable byte buffer used by encoders and readers.
 *
 * Invariant: len <= cap; data is NULL only when cap is 0.  Growth doubles,
 * so appends are amortised O(1).
 */
#ifndef LG_BUF_H
#define LG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct lgi_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} lgi_buf_t;

#define LGI_BUF_INIT {NULL, 0, 0}

/* Makes room for extra more bytes; 0 or -1 (ENOMEM). */
int lgi_buf_reserve(lgi_buf_t *buf, size_t extra);
/* Appends n bytes; 0 or -1. */
int lgi_buf_append(lgi_buf_t *buf, const void *bytes, size_t n);
void lgi_buf_reset(lgi_buf_t *buf);
void lgi_buf_free(lgi_buf_t *buf);

#endif
