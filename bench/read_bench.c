/*
 * read_bench.c -- the cost of one lg_read of single-record batches: at the
 * tail (the batch just published, as a consumer following the producer
 * reads it) and from far behind, against one pread of the same bytes.
 *
 *   usage: read_bench [data-dir] [records]
 *
 * Appends `records` (default 20,000) single 100-byte records, each its
 * own batch (about 170 bytes), with lg_append acks=1, and after each one
 * times an lg_read at its offset (max_bytes 1 MiB: the read returns that
 * batch only, as nothing follows it yet).  Then reads the whole log back
 * from offset 0 one batch per lg_read (max_bytes 1): a reader far behind,
 * whose position comes from the offset index and a walk of batch headers.
 * Last, the bound for either: a pread of one batch's bytes from the same
 * segment file.  Prints p50/p99/p99.9 in microseconds for each.  The data
 * is in the page cache: this measures the read path, not the disk.  The
 * data directory is removed at the end.
 */
#include "bench.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VALUE_BYTES 100

static void report(const char *what, int64_t *ns, long count) {
    qsort(ns, (size_t)count, sizeof *ns, compare_int64);
    printf("%-44s p50 %6.2f us  p99 %6.2f us  p99.9 %6.2f us  (%ld)\n", what,
           ns[count / 2] / 1e3, ns[count * 99 / 100] / 1e3,
           ns[count * 999 / 1000] / 1e3, count);
}

/* Reads one batch at offset and checks it holds exactly that record. */
static void read_one(lg_engine_t *engine, int64_t offset, size_t max_bytes,
                     int64_t *elapsed) {
    lg_fetch_t *fetch;
    const lg_message_t *message;
    int64_t start = now_ns();
    check("lg_read", lg_read(engine, "bench", 0, offset, max_bytes, &fetch));
    *elapsed = now_ns() - start;
    check("lg_fetch_next", lg_fetch_next(fetch, &message));
    if (!message || lg_message_offset(message) != offset ||
        lg_fetch_next_offset(fetch) != offset + 1) {
        fprintf(stderr, "read_bench: read at %lld returned the wrong batch\n",
                (long long)offset);
        exit(EXIT_FAILURE);
    }
    lg_fetch_destroy(fetch);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./read-bench-data";
    long records = argc > 2 ? atol(argv[2]) : 20000;
    if (records < 1000)
        records = 1000;
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        return EXIT_FAILURE;
    int64_t *ns = malloc((size_t)records * sizeof *ns);
    if (!ns)
        return EXIT_FAILURE;
    lg_engine_t *engine;
    check("lg_engine_open", lg_engine_open(dir, NULL, &engine));
    check("lg_topic_create", lg_topic_create(engine, "bench", 1, NULL));
    printf("backend %s, %ld single-record batches of a %d-byte value\n",
           lg_engine_io_backend(engine), records, VALUE_BYTES);

    char value[VALUE_BYTES];
    memset(value, 'v', sizeof value);
    lg_records_t *list = lg_records_new();
    for (long i = 0; i < records; i++) {
        int64_t base;
        lg_records_clear(list);
        check("lg_records_add", lg_records_add(list, NULL, 0, value,
                                               sizeof value,
                                               LG_TIMESTAMP_NOW));
        check("lg_append",
              lg_append(engine, "bench", 0, list, LG_ACKS_LEADER, &base));
        read_one(engine, base, 1 << 20, &ns[i]);
    }
    lg_records_destroy(list);
    report("lg_read at the tail (just published)", ns, records);

    for (long i = 0; i < records; i++)
        read_one(engine, i, 1, &ns[i]);
    report("lg_read from far behind (one batch each)", ns, records);
    check("lg_engine_close", lg_engine_close(engine));

    /* The bound: one pread of a batch's bytes from the segment. */
    char path[4300];
    snprintf(path, sizeof path, "%s/bench-0/00000000000000000000.log", dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return EXIT_FAILURE;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    size_t batch = (size_t)(size / records);
    char buf[512];
    for (long i = 0; i < records; i++) {
        int64_t start = now_ns();
        if (pread(fd, buf, batch, (off_t)((size_t)i * batch)) !=
            (ssize_t)batch) {
            perror("pread");
            return EXIT_FAILURE;
        }
        ns[i] = now_ns() - start;
    }
    close(fd);
    char label[64];
    snprintf(label, sizeof label, "bound: one pread of %zu bytes", batch);
    report(label, ns, records);
    free(ns);
    if (system(command) != 0)
        return EXIT_FAILURE;
    return EXIT_SUCCESS;
}
