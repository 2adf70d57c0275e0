/*
 * sqlite_peer.c -- SQLite in the side-by-side benchmark (peer.h): WAL
 * journal, one table (seq INTEGER PRIMARY KEY, value BLOB); a batch is one
 * transaction of prepared INSERTs.  No fsync: synchronous=OFF.  Fsync per
 * batch: synchronous=FULL (in WAL mode every commit syncs the WAL).
 * Reading is a SELECT in rowid order.
 */
#include "peer.h"

#include <sqlite3.h>

typedef struct store {
    sqlite3 *db;
    sqlite3_stmt *insert;
} store_t;

static int exec(sqlite3 *db, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, error);
        sqlite3_free(error);
        return -1;
    }
    return 0;
}

static void *store_open(const char *dir, int durable, size_t value_size) {
    store_t *s = calloc(1, sizeof *s);
    char path[4200];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    if (sqlite3_open(path, &s->db) != SQLITE_OK ||
        exec(s->db, "PRAGMA journal_mode=WAL") ||
        exec(s->db, durable ? "PRAGMA synchronous=FULL"
                            : "PRAGMA synchronous=OFF") ||
        exec(s->db, "CREATE TABLE log(seq INTEGER PRIMARY KEY, value BLOB)") ||
        sqlite3_prepare_v2(s->db, "INSERT INTO log VALUES(?, ?)", -1,
                           &s->insert, NULL) != SQLITE_OK)
        return NULL;
    return s;
}

static int store_write(void *opaque, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size) {
    store_t *s = opaque;
    if (exec(s->db, "BEGIN"))
        return -1;
    for (size_t i = 0; i < count; i++) {
        sqlite3_bind_int64(s->insert, 1, (sqlite3_int64)keys[i]);
        sqlite3_bind_blob(s->insert, 2, value, (int)value_size, SQLITE_STATIC);
        if (sqlite3_step(s->insert) != SQLITE_DONE)
            return -1;
        sqlite3_reset(s->insert);
    }
    return exec(s->db, "COMMIT");
}

static int store_read(void *opaque, uint64_t *records, uint64_t *bytes) {
    store_t *s = opaque;
    sqlite3_stmt *select;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM log ORDER BY seq", -1,
                           &select, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(select) == SQLITE_ROW) {
        (*records)++;
        *bytes += (uint64_t)sqlite3_column_bytes(select, 0);
    }
    sqlite3_finalize(select);
    return 0;
}

static void store_close(void *opaque) {
    store_t *s = opaque;
    sqlite3_finalize(s->insert);
    sqlite3_close(s->db);
    free(s);
}

int main(int argc, char **argv) {
    peer_ops_t ops = {"sqlite", store_open, store_write, store_read,
                      store_close};
    return peer_main(&ops, argc, argv);
}
