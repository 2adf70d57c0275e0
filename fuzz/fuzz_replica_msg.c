/*
 * fuzz_replica_msg.c -- libFuzzer target for replication's wire format and
 * the consensus core behind it.  Bytes a transport delivers are untrusted:
 * lgi_envelope_decode must reject or accept without crashing, and what it
 * accepts must re-encode to exactly the same bytes (the format has one
 * encoding per value).  Accepted envelopes are then handed to a replica
 * node (id 0 of voters {0,1,2}, cluster 0, partition t-0) so arbitrary,
 * well-formed but hostile messages exercise the state machine.
 *
 * First byte is a mode (as fuzz_common.h explains for batches): odd means
 * "reseal": the rest becomes an envelope body whose magic, version, flags,
 * length and XXH3 trailer are fixed up before decoding, so mutations reach
 * the message parser past the checksum; even takes the bytes as they are.
 */
#include "alloc.h"
#include "replica.h"

#include "../test/support/memlog.c"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int drop_send(void *opaque, int32_t to, const void *bytes, size_t len) {
    (void)opaque;
    (void)to;
    (void)bytes;
    (void)len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > LGI_REPLICA_MAX_ENVELOPE)
        return 0;
    size_t len = size - 1;
    uint8_t *buf;
    if (data[0] & 1) {
        if (len < 32)
            return 0;
        len += 8;
        buf = malloc(len);
        memcpy(buf, data + 1, size - 1);
        const uint8_t head[12] = {0x4c, 0x47, 0x52, 0x50,
                                  (uint8_t)(LGI_REPLICA_VERSION >> 8),
                                  (uint8_t)LGI_REPLICA_VERSION, 0, 0,
                                  (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                                  (uint8_t)(len >> 8), (uint8_t)len};
        memcpy(buf, head, sizeof head);
        uint64_t h = XXH3_64bits(buf, len - 8);
        for (int i = 0; i < 8; i++)
            buf[len - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
    } else {
        buf = malloc(len ? len : 1);
        memcpy(buf, data + 1, len);
    }
    lgi_envelope_t env;
    if (lgi_envelope_decode(buf, len, &env) == LG_OK) {
        uint8_t *again;
        size_t again_len;
        if (lgi_envelope_encode(&env, &again, &again_len) != LG_OK ||
            again_len != len || memcmp(again, buf, len) != 0)
            abort();
        lgi_free(again);
        int32_t from = env.from;
        lgi_envelope_free(&env);

        lgt_memlog_t log = {0};
        lgi_replica_node_t *node;
        lgi_replica_config_t conf = {.node_id = 0, .seed = 1,
                                     .election_timeout_ms = 100,
                                     .fetch_interval_ms = 10,
                                     .send = drop_send};
        int32_t voters[3] = {0, 1, 2};
        if (lgi_replica_node_create(&conf, 0, &node) != LG_OK)
            abort();
        lgi_replica_storage_t st = lgt_memlog_storage(&log);
        lgi_replica_node_add(node, "t", 0, voters, 3, &st, 0);
        /* twice: as follower of whatever the first delivery taught it */
        lgi_replica_node_receive(node, from, buf, len, 1);
        lgi_replica_node_tick(node, 500);
        lgi_replica_node_receive(node, from, buf, len, 501);
        lgi_replica_node_destroy(node);
        lgt_memlog_free(&log);
    }
    free(buf);
    return 0;
}
