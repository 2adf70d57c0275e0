/*
 * fuzz_recovery.c -- libFuzzer target for segment recovery: the input
 * (after the mode byte, see fuzz_common.h) becomes
 * 00000000000000000000.log in an empty partition directory, which is then
 * opened as after a crash (no clean shutdown, recovery point 0).  Recovery
 * must succeed or fail cleanly -- never crash, leak or read out of bounds
 * -- and what it keeps must be readable: every batch from offset 0 to the
 * log end passes validation, and an append after it works.
 */
#include "fuzz_common.h"

#include "alloc.h"
#include "partition.h"
#include "uring.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lgi_io_t *io;
static char dir[256];
static char log_path[300];

static void remove_files(void) {
    static const char *suffixes[] = {".log", ".index", ".timeindex",
                                     ".txnindex"};
    char path[320];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, sizeof path, "%s/00000000000000000000%s", dir,
                 suffixes[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/leader-epoch-checkpoint", dir);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!io) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/liblog-fuzz-recovery-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir) || lgi_io_open(LGI_IO_SYSCALL, 16, &io) != LG_OK)
            abort();
        snprintf(log_path, sizeof log_path, "%s/00000000000000000000.log",
                 dir);
    }
    if (size < 1)
        return 0;
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);
    if (data[0] & 1)
        fuzz_fix_crcs(buf, len);
    remove_files();
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
        abort();
    close(fd);
    free(buf);

    lgi_log_config_t config = {
        .segment_bytes = 1 << 20,
        .segment_ms = 7LL * 24 * 3600 * 1000,
        .index_interval_bytes = 128,
        .segment_index_bytes = 1 << 16,
        .max_message_bytes = 1 << 20,
        .preallocate_bytes = 0,
    };
    lgi_partition_t *partition;
    if (lgi_partition_open(dir, &config, io, 0, 0, 1000, &partition) !=
        LG_OK)
        return 0;
    int64_t start, end;
    lgi_partition_watermarks(partition, &start, &end);
    int64_t offset = start;
    while (offset < end) {
        uint8_t *out;
        size_t out_len;
        /* Recovery kept it, so it must read back valid. */
        if (lgi_partition_read(partition, offset, 1 << 16, &out, &out_len) !=
                LG_OK ||
            out_len == 0)
            abort();
        size_t at = 0;
        while (at < out_len) {
            lgi_batch_header_t header;
            if (lgi_batch_validate(out + at, out_len - at, 1 << 20,
                                   &header) != LG_OK)
                abort();
            offset = lgi_batch_last_offset(&header) + 1;
            at += lgi_batch_size(&header);
        }
        lgi_free(out);
    }
    lgi_partition_close(partition);
    return 0;
}
