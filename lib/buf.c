/*
 * buf.c -- growable byte buffer (see buf.h for the invariants).
 */
#include "buf.h"

#include "alloc.h"

#include <string.h>

int lgi_buf_reserve(lgi_buf_t *buf, size_t extra) {
    if (extra <= buf->cap - buf->len)
        return 0;
    if (extra > SIZE_MAX / 2 - buf->len)
        return -1;
    size_t want = buf->len + extra;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < want)
        cap *= 2;
    uint8_t *data = lgi_realloc(buf->data, cap);
    if (!data)
        return -1;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int lgi_buf_append(lgi_buf_t *buf, const void *bytes, size_t n) {
    if (n == 0)
        return 0;
    if (lgi_buf_reserve(buf, n) != 0)
        return -1;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return 0;
}

void lgi_buf_reset(lgi_buf_t *buf) { buf->len = 0; }

void lgi_buf_free(lgi_buf_t *buf) {
    lgi_free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
