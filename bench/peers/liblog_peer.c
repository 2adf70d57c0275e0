/*
 * liblog_peer.c -- liblog in the side-by-side benchmark (peer.h): one
 * topic with one partition; a batch is one lg_append (one record batch)
 * with acks=1 (no fsync) or acks=all (fdatasync, group commit); reading is
 * lg_read from offset 0 to the end.
 */
#include "peer.h"

#include <liblog.h>

typedef struct store {
    lg_engine_t *engine;
    lg_records_t *records;
    int acks;
} store_t;

static void *store_open(const char *dir, int durable, size_t value_size) {
    store_t *s = calloc(1, sizeof *s);
    if (lg_engine_open(dir, NULL, &s->engine) != LG_OK ||
        lg_topic_create(s->engine, "bench", 1, NULL) != LG_OK) {
        fprintf(stderr, "liblog: %s\n", lg_last_error_message());
        return NULL;
    }
    s->records = lg_records_new();
    s->acks = durable ? LG_ACKS_ALL : LG_ACKS_LEADER;
    return s;
}

static int store_write(void *opaque, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size) {
    store_t *s = opaque;
    lg_records_clear(s->records);
    for (size_t i = 0; i < count; i++) {
        uint8_t key[8];
        peer_put_be64(key, keys[i]);
        if (lg_records_add(s->records, key, 8, value, value_size,
                           LG_TIMESTAMP_NOW) != LG_OK)
            return -1;
    }
    if (lg_append(s->engine, "bench", 0, s->records, s->acks, NULL) != LG_OK) {
        fprintf(stderr, "liblog: %s\n", lg_last_error_message());
        return -1;
    }
    return 0;
}

static int store_read(void *opaque, uint64_t *records, uint64_t *bytes) {
    store_t *s = opaque;
    int64_t offset = 0, end;
    if (lg_watermarks(s->engine, "bench", 0, NULL, &end) != LG_OK)
        return -1;
    while (offset < end) {
        lg_fetch_t *fetch;
        if (lg_read(s->engine, "bench", 0, offset, 4 << 20, &fetch) != LG_OK)
            return -1;
        const lg_message_t *message;
        while (lg_fetch_next(fetch, &message) == LG_OK && message) {
            size_t len;
            lg_message_value(message, &len);
            (*records)++;
            *bytes += len;
        }
        offset = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
    }
    return 0;
}

static void store_close(void *opaque) {
    store_t *s = opaque;
    lg_records_destroy(s->records);
    lg_engine_close(s->engine);
    free(s);
}

int main(int argc, char **argv) {
    peer_ops_t ops = {"liblog", store_open, store_write, store_read,
                      store_close};
    return peer_main(&ops, argc, argv);
}
