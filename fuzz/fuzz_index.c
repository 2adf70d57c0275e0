/*
 * fuzz_index.c -- libFuzzer target for index validation and loading.  The
 * input's first 4 bytes give the .log size the index is checked against
 * and the segment base offset's low bits; the rest is written as both an
 * offset index and a time index file and loaded with lgi_index_load.  A
 * load either fails (leaving the index empty) or yields an index whose
 * invariants hold: keys strictly increasing, offset-index positions below
 * the log size, lookups returning an entry no larger than the key.
 */
#include "index.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[300];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const lgi_index_t *index, int64_t log_size) {
    for (size_t i = 0; i < index->count; i++) {
        if (i > 0 && index->entries[i].key <= index->entries[i - 1].key)
            abort();
        if (index->kind == LGI_INDEX_OFFSET &&
            (index->entries[i].value < 0 ||
             index->entries[i].value >= log_size))
            abort();
        lgi_index_entry_t found;
        if (!lgi_index_lookup(index, index->entries[i].key, &found) ||
            found.key != index->entries[i].key)
            abort();
    }
    lgi_index_entry_t found;
    if (index->count && index->entries[0].key > INT64_MIN &&
        lgi_index_lookup(index, index->entries[0].key - 1, &found))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/liblog-fuzz-index-%d",
                 tmp && *tmp ? tmp : "/tmp", (int)getpid());
    }
    if (size < 4)
        return 0;
    int64_t log_size = (int64_t)(data[0] | data[1] << 8 | data[2] << 16);
    int64_t base = data[3] * 1000;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data + 4, size - 4) != (ssize_t)(size - 4))
        abort();
    close(fd);
    for (int kind = LGI_INDEX_OFFSET; kind <= LGI_INDEX_TIME; kind++) {
        lgi_index_t index;
        lgi_index_init(&index, kind, base, 1 << 16);
        if (lgi_index_load(&index, path, log_size) == LG_OK)
            check(&index, log_size);
        else if (index.count != 0)
            abort(); /* a failed load leaves the index empty */
        lgi_index_free(&index);
    }
    unlink(path);
    return 0;
}
