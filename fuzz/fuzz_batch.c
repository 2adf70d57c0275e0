/*
 * fuzz_batch.c -- libFuzzer target for the record batch v2 decoder:
 * lgi_batch_validate over back-to-back batches, then every record of each
 * valid batch through lgi_record_iter (zstd batches decompressed), and
 * every header of every record.  Input: mode byte (see fuzz_common.h),
 * then the batches.  Invariant checked beyond "no crash, no sanitizer
 * report": every decoded pointer lies inside the input or the scratch
 * buffer, and a record's offset stays within the batch's offset range.
 */
#include "fuzz_common.h"

#include "alloc.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

static int inside(const uint8_t *p, size_t n, const uint8_t *lo,
                  const uint8_t *hi) {
    return !p || (p >= lo && p + n <= hi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int fix = data[0] & 1;
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);
    if (fix)
        fuzz_fix_crcs(buf, len);
    lgi_buf_t scratch = LGI_BUF_INIT;
    size_t at = 0;
    while (at < len) {
        lgi_batch_header_t header;
        if (lgi_batch_validate(buf + at, len - at, 1 << 20, &header) != LG_OK)
            break;
        lgi_record_iter_t iter;
        /* A small decompression bound keeps each run fast. */
        if (lgi_record_iter_init_limit(&iter, buf + at, &header, &scratch,
                                       1 << 20) == LG_OK) {
            const uint8_t *lo = buf, *hi = buf + len;
            if (scratch.len && iter.pos >= scratch.data &&
                iter.pos <= scratch.data + scratch.len)
                lo = scratch.data, hi = scratch.data + scratch.len;
            for (;;) {
                lgi_record_t record;
                int done = 0;
                if (lgi_record_iter_next(&iter, &record, &done) != LG_OK ||
                    done)
                    break;
                if (!inside(record.key, record.key_len, lo, hi) ||
                    !inside(record.value, record.value_len, lo, hi) ||
                    record.offset < header.base_offset ||
                    record.offset > lgi_batch_last_offset(&header))
                    abort();
                for (int32_t h = 0; h < record.header_count; h++) {
                    const uint8_t *name, *value;
                    size_t name_len, value_len;
                    if (lgi_record_header(&record, (size_t)h, &name,
                                          &name_len, &value,
                                          &value_len) != LG_OK)
                        break;
                    if (!inside(name, name_len, lo, hi) ||
                        !inside(value, value_len, lo, hi))
                        abort();
                }
            }
        }
        at += lgi_batch_size(&header);
    }
    lgi_buf_free(&scratch);
    free(buf);
    return 0;
}
