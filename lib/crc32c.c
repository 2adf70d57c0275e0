/*
 * crc32c.c -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum Kafka record batch v2 stores over attributes..end.
 *
 * Two implementations give bit-identical results:
 *   - portable: slicing-by-8, eight 256-entry tables, 8 bytes per step;
 *   - hardware (x86-64 with SSE4.2): the crc32 instruction on 8-byte words.
 *     The instruction has a latency of 3 cycles but a throughput of 1, so
 *     long inputs are cut into three adjacent blocks whose CRCs run
 *     interleaved, and the three partial CRCs are then combined by
 *     "shifting" the earlier ones over the later blocks' lengths (a
 *     multiplication by x^(8*len) mod P, done with four table lookups).
 * The choice is made once (pthread_once) from __builtin_cpu_supports, and
 * the hardware code is compiled with a target attribute so the build needs
 * no -msse4.2 and the library still runs on CPUs without it.
 *
 * Invariant: both paths work on the raw register (the CRC with the initial
 * and final inversion removed); lgi_crc32c(crc, ...) inverts on entry and
 * exit so calls chain: crc(crc(0, a), b) == crc(0, a || b).
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_CRC32 1
#include <nmmintrin.h>
#endif

#define POLY 0x82F63B78u

/* Block lengths of the three-stream hardware loop.  LONG_BLOCK amortises
 * the combine (8 lookups) over 24 KiB; SHORT_BLOCK catches mid-size input
 * such as a typical 1-16 KiB batch. */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

static uint32_t slice_table[8][256];
static uint32_t shift_long[4][256];  /* register * x^(8*LONG_BLOCK) mod P */
static uint32_t shift_short[4][256]; /* register * x^(8*SHORT_BLOCK) mod P */
static int use_hardware;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* a * b mod P in the reflected representation, where bit 31 is x^0. */
static uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t mask = 1u << 31; mask != 0; mask >>= 1) {
        if (a & mask)
            product ^= b;
        b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
    }
    return product;
}

/* x^n mod P by square-and-multiply. */
static uint32_t x_power_mod_p(uint64_t n) {
    uint32_t result = 1u << 31; /* x^0 */
    uint32_t base = 1u << 30;   /* x^1 */
    while (n) {
        if (n & 1)
            result = multiply_mod_p(result, base);
        base = multiply_mod_p(base, base);
        n >>= 1;
    }
    return result;
}

/* Shifting is linear in the register, so a table per register byte holds
 * the shifted value of that byte alone and the four results are XORed. */
static void build_shift_table(uint32_t table[4][256], size_t bytes) {
    uint32_t factor = x_power_mod_p((uint64_t)bytes * 8);
    for (int k = 0; k < 4; k++)
        for (uint32_t n = 0; n < 256; n++)
            table[k][n] = multiply_mod_p(factor, n << (8 * k));
}

static uint32_t shift(const uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^
           table[2][(crc >> 16) & 0xff] ^ table[3][crc >> 24];
}

static void initialise(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ POLY : crc >> 1;
        slice_table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = slice_table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = slice_table[0][crc & 0xff] ^ (crc >> 8);
            slice_table[k][n] = crc;
        }
    }
    build_shift_table(shift_long, LONG_BLOCK);
    build_shift_table(shift_short, SHORT_BLOCK);
#ifdef HAVE_X86_CRC32
    __builtin_cpu_init();
    use_hardware = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint64_t load64(const uint8_t *p) {
    uint64_t word;
    memcpy(&word, p, 8); /* unaligned-safe; the compiler emits one load */
    return word;
}

/* Slicing-by-8 over the raw register.  Assumes a little-endian host for
 * the 8-byte step; other hosts take the byte loop. */
static uint32_t portable_raw(uint32_t crc, const uint8_t *p, size_t len) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (len >= 8) {
        uint64_t word = load64(p) ^ crc;
        crc = slice_table[7][word & 0xff] ^
              slice_table[6][(word >> 8) & 0xff] ^
              slice_table[5][(word >> 16) & 0xff] ^
              slice_table[4][(word >> 24) & 0xff] ^
              slice_table[3][(word >> 32) & 0xff] ^
              slice_table[2][(word >> 40) & 0xff] ^
              slice_table[1][(word >> 48) & 0xff] ^ slice_table[0][word >> 56];
        p += 8;
        len -= 8;
    }
#endif
    while (len--)
        crc = slice_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#ifdef HAVE_X86_CRC32
__attribute__((target("sse4.2"))) static uint32_t
three_streams(uint32_t crc, const uint8_t **pp, size_t *lenp, size_t block,
              const uint32_t table[4][256]) {
    const uint8_t *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * block) {
        uint64_t c0 = crc, c1 = 0, c2 = 0;
        const uint8_t *end = p + block;
        while (p < end) {
            c0 = _mm_crc32_u64(c0, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + block));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
            p += 8;
        }
        crc = shift(table, (uint32_t)c0) ^ (uint32_t)c1;
        crc = shift(table, crc) ^ (uint32_t)c2;
        p += 2 * block;
        len -= 3 * block;
    }
    *pp = p;
    *lenp = len;
    return crc;
}

__attribute__((target("sse4.2"))) static uint32_t
hardware_raw(uint32_t crc, const uint8_t *p, size_t len) {
    /* Align to 8 so the word loads of the main loops never split a cache
     * line boundary needlessly. */
    while (len && ((uintptr_t)p & 7)) {
        crc = _mm_crc32_u8(crc, *p++);
        len--;
    }
    crc = three_streams(crc, &p, &len, LONG_BLOCK, shift_long);
    crc = three_streams(crc, &p, &len, SHORT_BLOCK, shift_short);
    uint64_t c = crc;
    while (len >= 8) {
        c = _mm_crc32_u64(c, load64(p));
        p += 8;
        len -= 8;
    }
    crc = (uint32_t)c;
    while (len--)
        crc = _mm_crc32_u8(crc, *p++);
    return crc;
}
#endif

uint32_t lgi_crc32c_portable(uint32_t crc, const void *data, size_t len) {
    pthread_once(&init_once, initialise);
    return ~portable_raw(~crc, data, len);
}

uint32_t lgi_crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&init_once, initialise);
#ifdef HAVE_X86_CRC32
    if (use_hardware)
        return ~hardware_raw(~crc, data, len);
#endif
    return ~portable_raw(~crc, data, len);
}

int lgi_crc32c_hardware(void) {
    pthread_once(&init_once, initialise);
    return use_hardware;
}
