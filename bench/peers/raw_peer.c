/*
 * raw_peer.c -- the raw sequential-write bound for the side-by-side
 * benchmark (peer.h): each batch is written with one write(2) of the
 * records laid end to end (8-byte key + value, no framing, no checksum)
 * and, durably, one fdatasync(2); reading is read(2) of the whole file in
 * 4 MiB chunks.  No store can do the same work with fewer system calls, so
 * this is the ceiling every figure is compared with.
 */
#include "peer.h"

#include <fcntl.h>

typedef struct store {
    int fd;
    int durable;
    size_t value_size;
    uint8_t *buffer;
    size_t capacity;
} store_t;

static void *store_open(const char *dir, int durable, size_t value_size) {
    store_t *s = calloc(1, sizeof *s);
    char path[4200];
    snprintf(path, sizeof path, "%s/raw.log", dir);
    s->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (s->fd < 0) {
        perror(path);
        return NULL;
    }
    s->durable = durable;
    s->value_size = value_size;
    return s;
}

static int store_write(void *opaque, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size) {
    store_t *s = opaque;
    size_t need = count * (8 + value_size);
    if (need > s->capacity) {
        s->buffer = realloc(s->buffer, need);
        s->capacity = need;
    }
    uint8_t *p = s->buffer;
    for (size_t i = 0; i < count; i++) {
        peer_put_be64(p, keys[i]);
        memcpy(p + 8, value, value_size);
        p += 8 + value_size;
    }
    for (size_t off = 0; off < need;) {
        ssize_t n = write(s->fd, s->buffer + off, need - off);
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return s->durable && fdatasync(s->fd) != 0 ? -1 : 0;
}

static int store_read(void *opaque, uint64_t *records, uint64_t *bytes) {
    store_t *s = opaque;
    size_t record = 8 + s->value_size, chunk = (4 << 20) / record * record;
    uint8_t *buffer = malloc(chunk);
    off_t pos = 0;
    for (;;) {
        ssize_t n = pread(s->fd, buffer, chunk, pos);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        pos += n;
        *records += (uint64_t)n / record;
        *bytes += (uint64_t)n / record * s->value_size;
    }
    free(buffer);
    return 0;
}

static void store_close(void *opaque) {
    store_t *s = opaque;
    close(s->fd);
    free(s->buffer);
    free(s);
}

int main(int argc, char **argv) {
    peer_ops_t ops = {"raw", store_open, store_write, store_read, store_close};
    return peer_main(&ops, argc, argv);
}
