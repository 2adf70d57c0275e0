/*
 * lmdb_peer.c -- LMDB in the side-by-side benchmark (peer.h): one
 * database keyed by the 8-byte big-endian sequence number, written with
 * MDB_APPEND (keys arrive in order); a batch is one write transaction.  No
 * fsync: MDB_NOSYNC|MDB_NOMETASYNC.  Fsync per batch: default flags
 * (commit syncs).  Reading is a cursor walk.
 */
#include "peer.h"

#include <lmdb.h>

typedef struct store {
    MDB_env *env;
    MDB_dbi dbi;
} store_t;

static void *store_open(const char *dir, int durable, size_t value_size) {
    store_t *s = calloc(1, sizeof *s);
    MDB_txn *txn;
    int rc;
    if ((rc = mdb_env_create(&s->env)) ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)8 << 30)) ||
        (rc = mdb_env_open(s->env, dir,
                           durable ? 0 : MDB_NOSYNC | MDB_NOMETASYNC, 0600)) ||
        (rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) ||
        (rc = mdb_txn_commit(txn))) {
        fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
        return NULL;
    }
    return s;
}

static int store_write(void *opaque, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size) {
    store_t *s = opaque;
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, 0, &txn))
        return -1;
    for (size_t i = 0; i < count; i++) {
        uint8_t key_bytes[8];
        peer_put_be64(key_bytes, keys[i]);
        MDB_val key = {8, key_bytes}, data = {value_size, (void *)value};
        int rc = mdb_put(txn, s->dbi, &key, &data, MDB_APPEND);
        if (rc) {
            fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
            mdb_txn_abort(txn);
            return -1;
        }
    }
    return mdb_txn_commit(txn) ? -1 : 0;
}

static int store_read(void *opaque, uint64_t *records, uint64_t *bytes) {
    store_t *s = opaque;
    MDB_txn *txn;
    MDB_cursor *cursor;
    MDB_val key, data;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) ||
        mdb_cursor_open(txn, s->dbi, &cursor))
        return -1;
    for (int rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
        (*records)++;
        *bytes += data.mv_size;
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return 0;
}

static void store_close(void *opaque) {
    store_t *s = opaque;
    mdb_env_close(s->env);
    free(s);
}

int main(int argc, char **argv) {
    peer_ops_t ops = {"lmdb", store_open, store_write, store_read,
                      store_close};
    return peer_main(&ops, argc, argv);
}
