/* hello.c -- the README's example: append two records, read them back. */
#include <liblog.h>
#include <stdio.h>

int main(void) {
    lg_engine_t *engine;
    if (lg_engine_open("./hello-data", NULL, &engine) != LG_OK) {
        fprintf(stderr, "open: %s\n", lg_last_error_message());
        return 1;
    }
    lg_topic_create(engine, "events", 1, NULL); /* LG_ERR_TOPIC_EXISTS on reruns */
    lg_records_t *records = lg_records_new();
    lg_records_add(records, "k1", 2, "hello", 5, LG_TIMESTAMP_NOW);
    lg_records_add(records, "k2", 2, "world", 5, LG_TIMESTAMP_NOW);
    int64_t base;
    if (lg_append(engine, "events", 0, records, LG_ACKS_ALL, &base) != LG_OK)
        fprintf(stderr, "append: %s\n", lg_last_error_message());
    lg_records_destroy(records);

    lg_fetch_t *fetch;
    if (lg_read(engine, "events", 0, base, 1 << 20, &fetch) == LG_OK) {
        const lg_message_t *m;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            size_t len;
            const char *value = lg_message_value(m, &len);
            printf("offset %lld: %.*s\n", (long long)lg_message_offset(m), (int)len, value);
        }
        lg_fetch_destroy(fetch);
    }
    return lg_engine_close(engine) == LG_OK ? 0 : 1;
}
