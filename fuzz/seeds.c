/*
 * seeds.c -- writes the seed corpora under fuzz/corpus/<target>/ (run by
 * `make fuzz-seeds`; the output is committed, so this only reruns when the
 * formats change).  Seeds are real files the engine wrote: a data
 * directory with a plain and a zstd topic, batches with keys, null values
 * and headers, indexes dense enough to hold several entries.  Each seed is
 * small (a few KiB) so the committed corpus stays small.
 *
 * Usage: seeds <corpus-dir> <scratch-dir>
 */
#include "liblog.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint8_t *slurp(const char *path, size_t *lenp) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(n > 0 ? (size_t)n : 1);
    if (fread(data, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    fclose(f);
    *lenp = (size_t)n;
    return data;
}

/* Writes prefix (prefix_len bytes) then data to <dir>/<target>/<name>. */
static void seed(const char *dir, const char *target, const char *name,
                 const void *prefix, size_t prefix_len, const void *data,
                 size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(prefix, 1, prefix_len, f) != prefix_len ||
        fwrite(data, 1, len, f) != len)
        exit(1);
    fclose(f);
}

static void fill(lg_engine_t *engine, const char *topic) {
    lg_records_t *records = lg_records_new();
    char value[200];
    for (int b = 0; b < 6; b++) {
        lg_records_clear(records);
        for (int r = 0; r < 1 + b % 3; r++) {
            memset(value, 'a' + r, sizeof value);
            lg_records_add(records, b % 2 ? "key" : NULL, b % 2 ? 3 : 0,
                           r == 2 ? NULL : value, 20 + (size_t)b * 30,
                           1700000000000 + b);
            if (b % 3 == 1)
                lg_records_add_header(records, "h", 1, "v", 1);
        }
        if (lg_append(engine, topic, 0, records, LG_ACKS_LEADER, NULL) !=
            LG_OK)
            exit(1);
    }
    lg_records_destroy(records);
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    const char *corpus = argv[1], *scratch = argv[2];
    lg_conf_t *conf = lg_conf_new();
    lg_conf_set(conf, "index.interval.bytes", "100");
    lg_engine_t *engine;
    if (lg_engine_open(scratch, conf, &engine) != LG_OK)
        return 1;
    lg_conf_t *zstd = lg_conf_new();
    lg_conf_set(zstd, "compression.type", "zstd");
    lg_topic_create(engine, "plain", 1, NULL);
    lg_topic_create(engine, "packed", 1, zstd);
    fill(engine, "plain");
    fill(engine, "packed");
    lg_engine_close(engine);
    lg_conf_destroy(zstd);
    lg_conf_destroy(conf);

    static const uint8_t raw = 0, fix = 1;
    const char *topics[] = {"plain-0", "packed-0"};
    for (int t = 0; t < 2; t++) {
        char path[1024], name[64];
        size_t len, index_len, time_len;
        snprintf(path, sizeof path, "%s/%s/00000000000000000000.log", scratch,
                 topics[t]);
        uint8_t *log = slurp(path, &len);
        snprintf(path, sizeof path, "%s/%s/00000000000000000000.index",
                 scratch, topics[t]);
        uint8_t *index = slurp(path, &index_len);
        snprintf(path, sizeof path, "%s/%s/00000000000000000000.timeindex",
                 scratch, topics[t]);
        uint8_t *time_index = slurp(path, &time_len);
        if (!log || !index || !time_index)
            return 1;
        snprintf(name, sizeof name, "%s-log", topics[t]);
        seed(corpus, "batch", name, &raw, 1, log, len);
        seed(corpus, "recovery", name, &raw, 1, log, len);
        snprintf(name, sizeof name, "%s-torn", topics[t]);
        seed(corpus, "recovery", name, &fix, 1, log, len - len / 3);
        /* First batch alone, CRC restamped mode. */
        uint32_t first = (uint32_t)log[8] << 24 | (uint32_t)log[9] << 16 |
                         (uint32_t)log[10] << 8 | log[11];
        snprintf(name, sizeof name, "%s-first", topics[t]);
        seed(corpus, "batch", name, &fix, 1, log, first + 12u);
        uint8_t header[4] = {(uint8_t)len, (uint8_t)(len >> 8),
                             (uint8_t)(len >> 16), 0};
        snprintf(name, sizeof name, "%s-index", topics[t]);
        seed(corpus, "index", name, header, 4, index, index_len);
        snprintf(name, sizeof name, "%s-timeindex", topics[t]);
        seed(corpus, "index", name, header, 4, time_index, time_len);
        free(log);
        free(index);
        free(time_index);
    }
    static const struct {
        const char *name;
        const char *text;
        size_t len;
    } confs[] = {
        {"segment-bytes", "segment.bytes\0001048576", 21},
        {"acks-all", "acks\0all", 8},
        {"compression", "compression.type\0zstd", 21},
        {"retention", "retention.ms\0-1", 15},
        {"by-index", "\001\005" "12345", 7},
        {"unknown", "no.such.thing\0x", 15},
    };
    for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++)
        seed(corpus, "conf", confs[i].name, "", 0, confs[i].text,
             confs[i].len);
    /* fuzz_replica_msg, reseal mode: an envelope body (header fields the
     * target fixes up are zero) from node 1 to node 0 of cluster 0 with a
     * Vote then a FetchResponse carrying one entry, for partition t-0. */
    static const uint8_t envelope[] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* magic..length */
        0, 0, 0, 0, 0, 0, 0, 0,                      /* cluster 0 */
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,          /* from 1, to 0, 2 msgs */
        1, 1, 't', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, /* Vote */
        0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* start */
        0, 0, 0, 0,
        6, 1, 't', 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, /* Fetch */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,        /* response */
        0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* start */
        0, 0, 0, 1,
        0, 0, 0, 2, 0, 0, 0, 3, 'a', 'b', 'c'};
    seed(corpus, "replica_msg", "vote-and-fetch", &fix, 1, envelope,
         sizeof envelope);
    /* the same with a PreVote for epoch 3 (end offset 3, last epoch 1) and
     * a granted PreVoteResponse (responder's epoch 2, asked about epoch 1,
     * no leader) */
    static const uint8_t prevote[] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* magic..length */
        0, 0, 0, 0, 0, 0, 0, 0,                      /* cluster 0 */
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,          /* from 1, to 0, 2 msgs */
        7, 1, 't', 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, /* Pre */
        0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0,        /* vote */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* start */
        0, 0, 0, 0,
        8, 1, 't', 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, /* Pre */
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* vote response */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* start */
        0, 0, 0, 0};
    seed(corpus, "replica_msg", "prevote", &fix, 1, prevote, sizeof prevote);
    return 0;
}
