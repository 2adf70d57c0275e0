/*
 * redis_peer.c -- Redis Streams in the side-by-side benchmark (peer.h),
 * through hiredis: a batch is `count` XADD commands pipelined on one
 * connection (explicit ids <seq+1>-0, field "v"), then their replies read.
 * Durability is the server's: bench/peers.sh starts redis-server with AOF
 * and appendfsync everysec for the no-fsync runs and appendfsync always for
 * the fsync-per-batch runs (the server fsyncs before replying).  Reading
 * is XRANGE in pages of 1000.  The server's port comes from REDIS_PORT;
 * the stream is deleted at open.
 */
#include "peer.h"

#include <hiredis/hiredis.h>

typedef struct store {
    redisContext *context;
} store_t;

static void *store_open(const char *dir, int durable, size_t value_size) {
    const char *port = getenv("REDIS_PORT");
    store_t *s = calloc(1, sizeof *s);
    s->context = redisConnect("127.0.0.1", port ? atoi(port) : 6379);
    if (!s->context || s->context->err) {
        fprintf(stderr, "redis: cannot connect: %s\n",
                s->context ? s->context->errstr : "no memory");
        return NULL;
    }
    redisReply *reply = redisCommand(s->context, "DEL bench");
    freeReplyObject(reply);
    reply = redisCommand(s->context, "CONFIG SET appendfsync %s",
                         durable ? "always" : "everysec");
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis: CONFIG SET appendfsync failed\n");
        return NULL;
    }
    freeReplyObject(reply);
    return s;
}

static int store_write(void *opaque, const uint64_t *keys, size_t count,
                       const void *value, size_t value_size) {
    store_t *s = opaque;
    for (size_t i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "%llu-0", (unsigned long long)keys[i] + 1);
        redisAppendCommand(s->context, "XADD bench %s v %b", id, value,
                           value_size);
    }
    for (size_t i = 0; i < count; i++) {
        redisReply *reply;
        if (redisGetReply(s->context, (void **)&reply) != REDIS_OK || !reply ||
            reply->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redis: XADD failed: %s\n",
                    reply ? reply->str : s->context->errstr);
            return -1;
        }
        freeReplyObject(reply);
    }
    return 0;
}

static int store_read(void *opaque, uint64_t *records, uint64_t *bytes) {
    store_t *s = opaque;
    char start[40] = "-";
    for (;;) {
        redisReply *reply = redisCommand(s->context,
                                         "XRANGE bench %s + COUNT 1000", start);
        if (!reply || reply->type != REDIS_REPLY_ARRAY)
            return -1;
        if (reply->elements == 0) {
            freeReplyObject(reply);
            return 0;
        }
        for (size_t i = 0; i < reply->elements; i++) {
            redisReply *entry = reply->element[i];
            redisReply *fields = entry->element[1];
            (*records)++;
            *bytes += fields->element[1]->len;
            if (i + 1 == reply->elements)
                snprintf(start, sizeof start, "(%s", entry->element[0]->str);
        }
        freeReplyObject(reply);
    }
}

static void store_close(void *opaque) {
    store_t *s = opaque;
    redisReply *reply = redisCommand(s->context, "DEL bench");
    freeReplyObject(reply);
    redisFree(s->context);
    free(s);
}

int main(int argc, char **argv) {
    peer_ops_t ops = {"redis", store_open, store_write, store_read,
                      store_close};
    return peer_main(&ops, argc, argv);
}
