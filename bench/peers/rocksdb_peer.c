/*
 * rocksdb_peer.c -- RocksDB in the side-by-side benchmark (peer.h),
 * through its C API: keys are the 8-byte big-endian sequence numbers
 * (bytewise order = write order); a batch is one WriteBatch written with
 * sync=false (no fsync: WAL in the page cache) or sync=true (the WAL is
 * fsync'd per batch).  Reading is an iterator scan.
 */
#include "peer.h"

#include <rocksdb/c.h>

typedef struct store {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_writeoptions_t *write_options;
    rocksdb_readoptions_t *read_options;
    rocksdb_writebatch_t *batch;
} store_t;

static void *store_open(const char *dir, int durable, size_t value_size) {
    store_t *s = calloc(1, sizeof *s);
    char *error = NULL;
    s->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->options, 1);
    rocksdb_options_increase_parallelism(s->options, 2);
    s->db = rocksdb_open(s->options, dir, &error);
    if (error) {
        fprintf(stderr, "rocksdb: %s\n", error);
        return NULL;
    }
    s->write_options = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->write_options, durable);
    s->read_options = rocksdb_readoptions_create();
    s->batch = rocksdb_writebatch_create();
    return s;
}

static int store_write(void *opaque, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size) {
    store_t *s = opaque;
    rocksdb_writebatch_clear(s->batch);
    for (size_t i = 0; i < count; i++) {
        char key[8];
        peer_put_be64((uint8_t *)key, keys[i]);
        rocksdb_writebatch_put(s->batch, key, 8, value, value_size);
    }
    char *error = NULL;
    rocksdb_write(s->db, s->write_options, s->batch, &error);
    if (error) {
        fprintf(stderr, "rocksdb: %s\n", error);
        return -1;
    }
    return 0;
}

static int store_read(void *opaque, uint64_t *records, uint64_t *bytes) {
    store_t *s = opaque;
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->read_options);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t len;
        rocksdb_iter_value(it, &len);
        (*records)++;
        *bytes += len;
    }
    rocksdb_iter_destroy(it);
    return 0;
}

static void store_close(void *opaque) {
    store_t *s = opaque;
    rocksdb_writebatch_destroy(s->batch);
    rocksdb_readoptions_destroy(s->read_options);
    rocksdb_writeoptions_destroy(s->write_options);
    rocksdb_close(s->db);
    rocksdb_options_destroy(s->options);
    free(s);
}

int main(int argc, char **argv) {
    peer_ops_t ops = {"rocksdb", store_open, store_write, store_read,
                      store_close};
    return peer_main(&ops, argc, argv);
}
