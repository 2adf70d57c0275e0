/*
 * replica_msg.c -- the wire format of replication messages.
 *
 * Role: turns an lgi_envelope_t (every message one node has for another,
 * for many partitions, batched) into bytes for the host's transport and
 * back.  The bytes arriving through lg_replica_receive are untrusted: the
 * decoder bounds-checks every read against the buffer, caps every count
 * and length, verifies the checksum before looking at any message, and
 * allocates nothing when it fails.  It never trusts a length to size an
 * allocation before checking that the buffer actually holds that much.
 *
 * Layout (all integers big-endian):
 *
 *   envelope header (32 bytes)
 *     0  u32 magic        "LGRP" (0x4c475250)
 *     4  u16 version      3 (2 lacked the PRE_VOTE types, 1 also the
 *                         log start fields; other versions are rejected,
 *                         so a node never reads a pre-vote as a vote)
 *     6  u16 flags        0 (reserved; non-zero is rejected)
 *     8  u32 total_len    whole envelope including the trailing checksum
 *    12  u64 cluster_id   receivers drop envelopes of another cluster
 *    20  i32 from         sender node id
 *    24  i32 to           receiver node id
 *    28  u32 count        number of messages (<= 4096)
 *   count x message
 *     u8  type            lgi_msg_type_t
 *     u8  topic_len       1..249
 *         topic bytes
 *     i32 partition, i32 epoch, i32 node, i32 last_epoch
 *     i64 offset, i64 durable_end, i64 high_watermark
 *     u8  granted, u8 kind, i32 diverging_epoch, i64 diverging_end
 *     i64 log_start, i32 log_start_epoch, i64 log_start_token
 *     u32 entry_count     (<= 4096; FETCH_RESPONSE only, else 0)
 *     entry_count x { i32 epoch, u32 len, len bytes }
 *   u64 XXH3-64 of bytes [0, total_len - 8)
 *
 * Reader's algorithm: check len >= 40 and <= 16 MiB, magic, version,
 * flags, total_len == len, checksum; then parse messages with a cursor that
 * refuses to pass the checksum; finally require the cursor to land exactly
 * on the checksum (no trailing garbage).
 */
#include "replica.h"

#include "alloc.h"
#include "err.h"

#include <string.h>
#include <xxhash.h>

#define HEADER_LEN 32u
#define TRAILER_LEN 8u
#define MSG_FIXED_LEN 80u
#define ENTRY_HEADER_LEN 8u

/* ---------------------------------------------------------------- writer */

typedef struct {
    uint8_t *p;
} writer_t;

static void put_u8(writer_t *w, uint8_t v) { *w->p++ = v; }
static void put_u16(writer_t *w, uint16_t v) {
    w->p[0] = (uint8_t)(v >> 8);
    w->p[1] = (uint8_t)v;
    w->p += 2;
}
static void put_u32(writer_t *w, uint32_t v) {
    for (int i = 3; i >= 0; i--)
        *w->p++ = (uint8_t)(v >> (8 * i));
}
static void put_u64(writer_t *w, uint64_t v) {
    for (int i = 7; i >= 0; i--)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

lg_err_t lgi_envelope_encode(const lgi_envelope_t *env, uint8_t **bytesp,
                             size_t *lenp) {
    if (env == NULL || bytesp == NULL || lenp == NULL ||
        env->count > LGI_REPLICA_MAX_MESSAGES ||
        (env->count > 0 && env->msgs == NULL))
        return lgi_error(LG_ERR_INVALID_ARG, "replica envelope: bad argument");
    size_t total = HEADER_LEN + TRAILER_LEN;
    for (uint32_t i = 0; i < env->count; i++) {
        const lgi_msg_t *m = &env->msgs[i];
        size_t topic_len = strnlen(m->topic, sizeof m->topic);
        if (topic_len == 0 || topic_len > LGI_REPLICA_MAX_TOPIC ||
            m->entry_count > LGI_REPLICA_MAX_ENTRIES)
            return lgi_error(LG_ERR_INVALID_ARG,
                             "replica envelope: message %u exceeds a limit", i);
        total += MSG_FIXED_LEN + topic_len;
        for (uint32_t j = 0; j < m->entry_count; j++)
            total += ENTRY_HEADER_LEN + m->entries[j].len;
        if (total > LGI_REPLICA_MAX_ENVELOPE)
            return lgi_error(LG_ERR_INVALID_ARG,
                             "replica envelope: over %u bytes",
                             LGI_REPLICA_MAX_ENVELOPE);
    }
    uint8_t *buf = lgi_malloc(total);
    if (buf == NULL)
        return lgi_error(LG_ERR_NOMEM, "replica envelope: out of memory");
    writer_t w = {buf};
    put_u32(&w, LGI_REPLICA_MAGIC);
    put_u16(&w, LGI_REPLICA_VERSION);
    put_u16(&w, 0);
    put_u32(&w, (uint32_t)total);
    put_u64(&w, env->cluster_id);
    put_u32(&w, (uint32_t)env->from);
    put_u32(&w, (uint32_t)env->to);
    put_u32(&w, env->count);
    for (uint32_t i = 0; i < env->count; i++) {
        const lgi_msg_t *m = &env->msgs[i];
        size_t topic_len = strnlen(m->topic, sizeof m->topic);
        put_u8(&w, m->type);
        put_u8(&w, (uint8_t)topic_len);
        memcpy(w.p, m->topic, topic_len);
        w.p += topic_len;
        put_u32(&w, (uint32_t)m->partition);
        put_u32(&w, (uint32_t)m->epoch);
        put_u32(&w, (uint32_t)m->node);
        put_u32(&w, (uint32_t)m->last_epoch);
        put_u64(&w, (uint64_t)m->offset);
        put_u64(&w, (uint64_t)m->durable_end);
        put_u64(&w, (uint64_t)m->high_watermark);
        put_u8(&w, m->granted);
        put_u8(&w, m->kind);
        put_u32(&w, (uint32_t)m->diverging_epoch);
        put_u64(&w, (uint64_t)m->diverging_end);
        put_u64(&w, (uint64_t)m->log_start);
        put_u32(&w, (uint32_t)m->log_start_epoch);
        put_u64(&w, (uint64_t)m->log_start_token);
        put_u32(&w, m->entry_count);
        for (uint32_t j = 0; j < m->entry_count; j++) {
            put_u32(&w, (uint32_t)m->entries[j].epoch);
            put_u32(&w, m->entries[j].len);
            if (m->entries[j].len > 0)
                memcpy(w.p, m->entries[j].data, m->entries[j].len);
            w.p += m->entries[j].len;
        }
    }
    put_u64(&w, XXH3_64bits(buf, total - TRAILER_LEN));
    *bytesp = buf;
    *lenp = total;
    return LG_OK;
}

/* ---------------------------------------------------------------- reader */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} reader_t;

static int need(reader_t *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}
static uint8_t get_u8(reader_t *r) { return need(r, 1) ? *r->p++ : 0; }
static uint16_t get_u16(reader_t *r) {
    if (!need(r, 2))
        return 0;
    uint16_t v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    return v;
}
static uint32_t get_u32(reader_t *r) {
    if (!need(r, 4))
        return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | *r->p++;
    return v;
}
static uint64_t get_u64(reader_t *r) {
    if (!need(r, 8))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | *r->p++;
    return v;
}

void lgi_envelope_free(lgi_envelope_t *env) {
    if (env == NULL || env->msgs == NULL)
        return;
    for (uint32_t i = 0; i < env->count; i++)
        lgi_free(env->msgs[i].entries);
    lgi_free(env->msgs);
    env->msgs = NULL;
    env->count = 0;
}

static lg_err_t corrupt(lgi_envelope_t *env, const char *why) {
    lgi_envelope_free(env);
    return lgi_error(LG_ERR_CORRUPT, "replica envelope: %s", why);
}

lg_err_t lgi_envelope_decode(const uint8_t *bytes, size_t len,
                             lgi_envelope_t *env) {
    if (env == NULL)
        return lgi_error(LG_ERR_INVALID_ARG, "replica envelope: env is NULL");
    memset(env, 0, sizeof *env);
    if (bytes == NULL || len < HEADER_LEN + TRAILER_LEN ||
        len > LGI_REPLICA_MAX_ENVELOPE)
        return corrupt(env, "bad length");
    reader_t r = {bytes, bytes + len - TRAILER_LEN, 0};
    if (get_u32(&r) != LGI_REPLICA_MAGIC)
        return corrupt(env, "bad magic");
    if (get_u16(&r) != LGI_REPLICA_VERSION)
        return corrupt(env, "unsupported version");
    if (get_u16(&r) != 0)
        return corrupt(env, "unknown flags");
    if (get_u32(&r) != len)
        return corrupt(env, "length mismatch");
    reader_t tail = {bytes + len - TRAILER_LEN, bytes + len, 0};
    if (get_u64(&tail) != XXH3_64bits(bytes, len - TRAILER_LEN))
        return corrupt(env, "checksum mismatch");
    env->cluster_id = get_u64(&r);
    env->from = (int32_t)get_u32(&r);
    env->to = (int32_t)get_u32(&r);
    uint32_t count = get_u32(&r);
    if (r.bad || count > LGI_REPLICA_MAX_MESSAGES ||
        (size_t)count * MSG_FIXED_LEN > (size_t)(r.end - r.p))
        return corrupt(env, "bad message count");
    if (count > 0) {
        env->msgs = lgi_calloc(count, sizeof *env->msgs);
        if (env->msgs == NULL) {
            memset(env, 0, sizeof *env);
            return lgi_error(LG_ERR_NOMEM, "replica envelope: out of memory");
        }
    }
    env->count = count;
    for (uint32_t i = 0; i < count; i++) {
        lgi_msg_t *m = &env->msgs[i];
        m->type = get_u8(&r);
        if (m->type < LGI_MSG_VOTE || m->type > LGI_MSG_PRE_VOTE_RESPONSE)
            return corrupt(env, "unknown message type");
        uint8_t topic_len = get_u8(&r);
        if (topic_len == 0 || topic_len > LGI_REPLICA_MAX_TOPIC ||
            !need(&r, topic_len))
            return corrupt(env, "bad topic");
        memcpy(m->topic, r.p, topic_len);
        m->topic[topic_len] = '\0';
        if (memchr(m->topic, '\0', topic_len) != NULL)
            return corrupt(env, "bad topic");
        r.p += topic_len;
        m->partition = (int32_t)get_u32(&r);
        m->epoch = (int32_t)get_u32(&r);
        m->node = (int32_t)get_u32(&r);
        m->last_epoch = (int32_t)get_u32(&r);
        m->offset = (int64_t)get_u64(&r);
        m->durable_end = (int64_t)get_u64(&r);
        m->high_watermark = (int64_t)get_u64(&r);
        m->granted = get_u8(&r);
        m->kind = get_u8(&r);
        m->diverging_epoch = (int32_t)get_u32(&r);
        m->diverging_end = (int64_t)get_u64(&r);
        m->log_start = (int64_t)get_u64(&r);
        m->log_start_epoch = (int32_t)get_u32(&r);
        m->log_start_token = (int64_t)get_u64(&r);
        m->entry_count = get_u32(&r);
        if (r.bad)
            return corrupt(env, "truncated message");
        if (m->partition < 0 || m->epoch < 0 || m->offset < 0 ||
            m->durable_end < 0 || m->high_watermark < 0 ||
            m->diverging_end < -1 || m->kind > LGI_FETCH_OUT_OF_RANGE ||
            m->log_start < 0 || m->log_start_epoch < -1 ||
            m->log_start_token < 0 ||
            m->granted > 1)
            return corrupt(env, "field out of range");
        if (m->entry_count > LGI_REPLICA_MAX_ENTRIES ||
            (size_t)m->entry_count * ENTRY_HEADER_LEN >
                (size_t)(r.end - r.p) ||
            (m->entry_count > 0 && m->type != LGI_MSG_FETCH_RESPONSE))
            return corrupt(env, "bad entry count");
        if (m->entry_count > 0) {
            m->entries = lgi_calloc(m->entry_count, sizeof *m->entries);
            if (m->entries == NULL) {
                lgi_envelope_free(env);
                return lgi_error(LG_ERR_NOMEM,
                                 "replica envelope: out of memory");
            }
        }
        for (uint32_t j = 0; j < m->entry_count; j++) {
            m->entries[j].epoch = (int32_t)get_u32(&r);
            m->entries[j].len = get_u32(&r);
            if (r.bad || m->entries[j].epoch < 0 ||
                !need(&r, m->entries[j].len))
                return corrupt(env, "truncated entry");
            m->entries[j].data = r.p;
            r.p += m->entries[j].len;
        }
    }
    if (r.p != r.end)
        return corrupt(env, "trailing bytes");
    return LG_OK;
}
