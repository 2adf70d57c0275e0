/*
 * fuzz_common.h -- helpers shared by the libFuzzer targets in fuzz/.
 *
 * Most mutations of a record batch break its CRC-32C, and a batch with a
 * bad CRC is rejected before any record is decoded; the fuzzer would then
 * spend its time on the CRC check alone.  So every target that feeds
 * batches treats the input's first byte as a mode: odd means "restamp the
 * CRC of every batch-shaped chunk before use", letting mutated record
 * bytes reach the decoder; even means "take the bytes as they are", which
 * fuzzes the validation itself.  Static functions so each target stays
 * one translation unit.
 */
#ifndef LG_FUZZ_COMMON_H
#define LG_FUZZ_COMMON_H

#include "batch.h"
#include "crc32c.h"

#include <stddef.h>
#include <stdint.h>

static inline uint32_t fuzz_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Walks buf as back-to-back batches by their batchLength fields and
 * recomputes each one's CRC-32C (bytes 17..20) over attributes..end.
 * Stops at the first chunk that does not fit. */
static inline void fuzz_fix_crcs(uint8_t *buf, size_t len) {
    size_t at = 0;
    while (len - at >= LGI_BATCH_HEADER_SIZE) {
        uint32_t batch_length = fuzz_be32(buf + at + 8);
        size_t size = (size_t)batch_length + LGI_BATCH_OVERHEAD;
        if (batch_length < LGI_BATCH_HEADER_SIZE - LGI_BATCH_OVERHEAD ||
            size > len - at)
            return;
        uint32_t crc = lgi_crc32c(0, buf + at + LGI_BATCH_CRC_START,
                                  size - LGI_BATCH_CRC_START);
        buf[at + 17] = (uint8_t)(crc >> 24);
        buf[at + 18] = (uint8_t)(crc >> 16);
        buf[at + 19] = (uint8_t)(crc >> 8);
        buf[at + 20] = (uint8_t)crc;
        at += size;
    }
}

#endif
