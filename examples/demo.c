/*
 * demo.c -- liblog end to end: open a data directory, create a topic,
 * append records at each durability level, read them back, look one up by
 * timestamp, close, reopen and show the log survived.
 *
 *   usage: demo [data-dir]      (default ./demo-data; `make demo DEMO_DIR=..`)
 *
 * Run it twice: the second run finds the first run's records and appends
 * after them -- the log is persistent.
 */
#include <liblog.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, lg_err_t err) {
    fprintf(stderr, "demo: %s: %s (%s)\n", what, lg_strerror(err),
            lg_last_error_message());
    return EXIT_FAILURE;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./demo-data";
    lg_engine_t *engine;
    lg_err_t err;

    lg_conf_t *conf = lg_conf_new();
    /* Small segments so the demo shows several segment files. */
    if (!conf || (err = lg_conf_set(conf, "segment.bytes", "4096")))
        return fail("configure", conf ? err : LG_ERR_NOMEM);
    if ((err = lg_engine_open(dir, conf, &engine)))
        return fail("open", err);
    lg_conf_destroy(conf);
    printf("opened %s (liblog %s, I/O backend %s)\n", dir, lg_version(),
           lg_engine_io_backend(engine));

    err = lg_topic_create(engine, "greetings", 2, NULL);
    if (err == LG_ERR_TOPIC_EXISTS)
        printf("topic greetings exists: appending after earlier runs\n");
    else if (err)
        return fail("create topic", err);
    else
        printf("created topic greetings with 2 partitions\n");

    int64_t low, high;
    lg_watermarks(engine, "greetings", 0, &low, &high);
    printf("partition 0 holds offsets [%" PRId64 ", %" PRId64 ")\n", low, high);

    /* 300 records in batches of 10, cycling the durability levels. */
    const int acks_levels[] = {LG_ACKS_NONE, LG_ACKS_LEADER, LG_ACKS_ALL};
    const char *acks_names[] = {"0", "1", "all"};
    lg_records_t *records = lg_records_new();
    int64_t first_time = 1700000000000;
    for (int batch = 0; batch < 30; batch++) {
        lg_records_clear(records);
        for (int i = 0; i < 10; i++) {
            char key[32], value[64];
            int n = batch * 10 + i;
            int klen = snprintf(key, sizeof key, "user-%d", n % 7);
            int vlen = snprintf(value, sizeof value, "hello #%d from run at %"
                                PRId64, n, high);
            lg_records_add(records, key, (size_t)klen, value, (size_t)vlen,
                           first_time + n * 1000);
            lg_records_add_header(records, "source", 6, "demo", 4);
        }
        int64_t base;
        int acks = acks_levels[batch % 3];
        if ((err = lg_append(engine, "greetings", 0, records, acks, &base)))
            return fail("append", err);
        if (batch < 3)
            printf("appended 10 records at offset %" PRId64 " with acks=%s\n",
                   base, acks_names[batch % 3]);
    }
    lg_records_destroy(records);
    printf("appended 300 records in 30 batches\n");

    /* Read back the first five records of this run. */
    lg_fetch_t *fetch;
    if ((err = lg_read(engine, "greetings", 0, high, 4096, &fetch)))
        return fail("read", err);
    const lg_message_t *m;
    for (int shown = 0; shown < 5 && lg_fetch_next(fetch, &m) == LG_OK && m;
         shown++) {
        size_t klen, vlen;
        const char *key = lg_message_key(m, &klen);
        const char *value = lg_message_value(m, &vlen);
        printf("  offset %" PRId64 "  ts %" PRId64 "  key %.*s  value %.*s\n",
               lg_message_offset(m), lg_message_timestamp(m, NULL), (int)klen,
               key, (int)vlen, value);
    }
    lg_fetch_destroy(fetch);

    int64_t offset;
    if ((err = lg_offset_for_time(engine, "greetings", 0,
                                  first_time + 150 * 1000, &offset)))
        return fail("offset for time", err);
    printf("first record at or after timestamp %" PRId64 ": offset %" PRId64
           "\n", first_time + 150 * 1000, offset);

    if ((err = lg_engine_close(engine)))
        return fail("close", err);
    printf("closed; reopening\n");

    if ((err = lg_engine_open(dir, NULL, &engine)))
        return fail("reopen", err);
    lg_watermarks(engine, "greetings", 0, &low, &high);
    printf("after reopen partition 0 holds offsets [%" PRId64 ", %" PRId64
           ")\n", low, high);
    /* Count every record to prove nothing was lost. */
    int64_t count = 0, next = low;
    for (;;) {
        if ((err = lg_read(engine, "greetings", 0, next, 1 << 20, &fetch)))
            return fail("read", err);
        int got = 0;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            count++;
            got = 1;
        }
        next = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        if (!got)
            break;
    }
    printf("read back %" PRId64 " records; files are in %s/greetings-0/\n",
           count, dir);
    if (count != high - low) {
        fprintf(stderr, "demo: expected %" PRId64 " records\n", high - low);
        return EXIT_FAILURE;
    }
    if ((err = lg_engine_close(engine)))
        return fail("close", err);
    return EXIT_SUCCESS;
}
