/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum of Kafka record batch v2.
 */
#ifndef LG_CRC32C_H
#define LG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of len bytes, continuing from crc (pass 0 to start).  Uses the
 * SSE4.2 crc32 instruction on three interleaved streams, combined by table
 * lookups, when the CPU has it (checked once at run time), a portable
 * slicing-by-8 table otherwise; both give identical results.  Any thread. */
uint32_t lgi_crc32c(uint32_t crc, const void *data, size_t len);

/* The portable implementation alone, so tests can compare it with the
 * hardware path on the same input. */
uint32_t lgi_crc32c_portable(uint32_t crc, const void *data, size_t len);

/* Non-zero when lgi_crc32c uses the hardware path. */
int lgi_crc32c_hardware(void);

#endif
