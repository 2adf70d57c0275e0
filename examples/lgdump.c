/*
 * lgdump.c -- print and verify segment files, like Kafka's kafka-dump-log.
 *
 * Role: a format reader independent of the library.  It parses the
 * documented on-disk formats directly -- Kafka record batch v2 in <base>.log,
 * the 8-byte offset index entries of <base>.index, the 12-byte time index
 * entries of <base>.timeindex and the 34-byte aborted-transaction entries
 * of <base>.txnindex (layouts atop lib/segment.c, lib/batch.c,
 * lib/index.c and lib/txnindex.c) -- with its own CRC-32C table and varint
 * decoder, and links
 * libzstd only to open compressed batches.  It uses no liblog internals,
 * so it also reads segments Kafka wrote, and a bug in the library's codec
 * cannot hide itself by being shared with the checker.
 *
 *   lgdump [--print-data] [--verify] FILE...
 *
 * For a .log it prints one line per batch (and with --print-data one per
 * record), and notes zeros at its end (the zero fill past a live active
 * segment's end) without calling them a problem; for an index it prints
 * its entries.  --verify checks every
 * batch CRC, magic, length and record framing, offsets strictly
 * increasing, and for an index every entry against the sibling .log
 * (<base>.index entries must point at the start of the batch whose last
 * offset they name; <base>.timeindex entries must name a batch's last
 * offset and carry the greatest batch max timestamp up to that batch, with
 * timestamps non-decreasing and offsets strictly increasing; <base>.txnindex
 * entries must have version 0, markers in increasing order, firstOffset <=
 * lastOffset, and lastOffset must be an ABORT marker of that producer in
 * the .log).  Every
 * problem is printed to stderr naming the file and byte position; the exit
 * status is 0 when nothing was wrong, 1 when a check failed, 2 on usage or
 * I/O errors.
 *
 * Invariant kept by the reader: no byte is read outside the buffer holding
 * the file; every length read from the file is bounds-checked first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ------------------------------------------------------------------------
 * Primitives: CRC-32C, big-endian loads, varints
 * --------------------------------------------------------------------- */

static int all_zero(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (data[i])
            return 0;
    return 1;
}

static uint32_t crc_table[256];

/* Fills the table for CRC-32C (Castagnoli, reflected polynomial
 * 0x82F63B78), the checksum of record batch v2. */
static void crc32c_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        crc_table[i] = crc;
    }
}

static uint32_t crc32c(const uint8_t *data, size_t len) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

static uint16_t load_be16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t load_be64(const uint8_t *p) {
    return ((uint64_t)load_be32(p) << 32) | load_be32(p + 4);
}

/* A cursor over a byte range; failed is set (and stays set) when a read
 * would pass the end or a varint is malformed. */
typedef struct cursor {
    const uint8_t *data;
    size_t len;
    size_t pos;
    int failed;
} cursor_t;

/* Reads a zig-zag varlong (Kafka's varint/varlong encoding). */
static int64_t read_varlong(cursor_t *cursor) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (cursor->pos >= cursor->len) {
            cursor->failed = 1;
            return 0;
        }
        uint8_t byte = cursor->data[cursor->pos++];
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
    }
    cursor->failed = 1;
    return 0;
}

/* Takes n bytes; NULL (and failed) when fewer remain or n is negative. */
static const uint8_t *read_bytes(cursor_t *cursor, int64_t n) {
    if (n < 0 || (uint64_t)n > cursor->len - cursor->pos) {
        cursor->failed = 1;
        return NULL;
    }
    const uint8_t *p = cursor->data + cursor->pos;
    cursor->pos += (size_t)n;
    return p;
}

/* ------------------------------------------------------------------------
 * Files and reporting
 * --------------------------------------------------------------------- */

static int problems; /* checks failed so far, over all files */

static void problem(const char *path, uint64_t position, const char *what) {
    fprintf(stderr, "%s: position %" PRIu64 ": %s\n", path, position, what);
    problems++;
}

/* Reads the whole of path into a malloc'd buffer; NULL with a message on
 * failure.  An empty file gives a non-NULL 1-byte buffer and *lenp 0. */
static uint8_t *read_file(const char *path, size_t *lenp) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *data = malloc(cap);
    while (data) {
        size_t got = fread(data + len, 1, cap - len, file);
        len += got;
        if (len < cap)
            break;
        uint8_t *bigger = realloc(data, cap * 2);
        if (!bigger) {
            free(data);
            data = NULL;
            break;
        }
        data = bigger;
        cap *= 2;
    }
    int failed = ferror(file);
    fclose(file);
    if (!data || failed) {
        fprintf(stderr, "%s: read failed\n", path);
        free(data);
        return NULL;
    }
    *lenp = len;
    return data;
}

/* The segment base offset encoded in a file name (20 digits before the
 * extension), or -1 when the name does not follow that convention. */
static int64_t base_offset_of(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    int64_t value = 0;
    int digits = 0;
    for (; name[digits] >= '0' && name[digits] <= '9'; digits++)
        value = value * 10 + (name[digits] - '0');
    return digits == 20 && name[digits] == '.' ? value : -1;
}

/* Prints bytes as text, escaping what is not printable ASCII; "null" for
 * a null field. */
static void print_bytes(const uint8_t *bytes, int64_t len) {
    if (len < 0) {
        fputs("null", stdout);
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        uint8_t c = bytes[i];
        if (c >= 0x20 && c < 0x7F && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
}

static const char *codec_name(int codec) {
    static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return codec >= 0 && codec <= 4 ? names[codec] : "unknown";
}

/* ------------------------------------------------------------------------
 * .log: record batch v2
 *
 *   0 baseOffset int64      8 batchLength int32    12 leaderEpoch int32
 *  16 magic int8           17 crc uint32           21 attributes int16
 *  23 lastOffsetDelta int32 27 baseTimestamp int64 35 maxTimestamp int64
 *  43 producerId int64     51 producerEpoch int16  53 baseSequence int32
 *  57 recordCount int32    61 records (compressed as attributes & 7 says)
 * --------------------------------------------------------------------- */

#define BATCH_HEADER 61
#define BATCH_LENGTH_MIN (BATCH_HEADER - 12)

/* What a .log scan learns about each batch, for index verification. */
typedef struct batch_info {
    uint64_t position;
    int64_t base_offset;
    int64_t last_offset;
    int64_t max_timestamp;
    int64_t producer_id;
    int control_type; /* a control batch's record type (0 ABORT, 1 COMMIT),
                         -1 for data or when it does not decode */
} batch_info_t;

/* The type of a control batch's (uncompressed) first record: the int16 at
 * bytes 2-3 of its key; -1 when it does not decode. */
static int control_type_of(const uint8_t *records, size_t len) {
    cursor_t cursor = {records, len, 0, 0};
    read_varlong(&cursor);     /* length */
    read_bytes(&cursor, 1);    /* attributes */
    read_varlong(&cursor);     /* timestampDelta */
    read_varlong(&cursor);     /* offsetDelta */
    int64_t key_len = read_varlong(&cursor);
    const uint8_t *key = read_bytes(&cursor, key_len);
    if (cursor.failed || !key || key_len < 4)
        return -1;
    return (int16_t)load_be16(key + 2);
}

typedef struct batch_list {
    batch_info_t *items;
    size_t count, cap;
} batch_list_t;

static int batch_list_push(batch_list_t *list, const batch_info_t *info) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        batch_info_t *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = *info;
    return 0;
}

/* Decodes (and with print_data prints) the records of one batch from
 * cursor, which holds exactly the (decompressed) records section.
 * Reports framing problems against the batch's position. */
static void dump_records(const char *path, uint64_t position, cursor_t *cursor,
                         int64_t base_offset, int64_t base_timestamp,
                         int32_t last_offset_delta, int32_t record_count,
                         int32_t base_sequence, int timestamp_type,
                         int print_data) {
    int64_t previous_delta = -1;
    char what[160];
    for (int32_t i = 0; i < record_count; i++) {
        int64_t length = read_varlong(cursor);
        size_t start = cursor->pos;
        const uint8_t *attributes = read_bytes(cursor, 1);
        int64_t timestamp_delta = read_varlong(cursor);
        int64_t offset_delta = read_varlong(cursor);
        int64_t key_len = read_varlong(cursor);
        const uint8_t *key = key_len >= 0 ? read_bytes(cursor, key_len) : NULL;
        int64_t value_len = read_varlong(cursor);
        const uint8_t *value =
            value_len >= 0 ? read_bytes(cursor, value_len) : NULL;
        int64_t header_count = read_varlong(cursor);
        if (cursor->failed || !attributes || header_count < 0) {
            snprintf(what, sizeof what, "record %" PRId32 " is malformed", i);
            problem(path, position, what);
            return;
        }
        if (offset_delta <= previous_delta || offset_delta > last_offset_delta) {
            snprintf(what, sizeof what,
                     "record %" PRId32 " has offset delta %" PRId64
                     " (previous %" PRId64 ", last %" PRId32 ")",
                     i, offset_delta, previous_delta, last_offset_delta);
            problem(path, position, what);
        }
        previous_delta = offset_delta;
        if (print_data) {
            printf("| offset: %" PRId64 " %s: %" PRId64 " keySize: %" PRId64
                   " valueSize: %" PRId64 " sequence: %" PRId64,
                   base_offset + offset_delta,
                   timestamp_type ? "LogAppendTime" : "CreateTime",
                   base_timestamp + timestamp_delta, key_len, value_len,
                   base_sequence < 0 ? -1 : (int64_t)base_sequence +
                                                offset_delta);
            printf(" headers: [");
        }
        for (int64_t h = 0; h < header_count; h++) {
            int64_t name_len = read_varlong(cursor);
            const uint8_t *name = read_bytes(cursor, name_len);
            int64_t header_value_len = read_varlong(cursor);
            const uint8_t *header_value =
                header_value_len >= 0 ? read_bytes(cursor, header_value_len)
                                      : NULL;
            if (cursor->failed) {
                if (print_data)
                    printf("]\n");
                snprintf(what, sizeof what,
                         "record %" PRId32 " header %" PRId64 " is malformed",
                         i, h);
                problem(path, position, what);
                return;
            }
            if (print_data) {
                printf(h ? ", " : "");
                print_bytes(name, name_len);
                putchar('=');
                print_bytes(header_value, header_value_len);
            }
        }
        if (print_data) {
            printf("] key: ");
            print_bytes(key, key_len);
            printf(" payload: ");
            print_bytes(value, value_len);
            putchar('\n');
        }
        if ((int64_t)(cursor->pos - start) != length) {
            snprintf(what, sizeof what,
                     "record %" PRId32 " length field %" PRId64
                     " but its fields take %zu bytes",
                     i, length, cursor->pos - start);
            problem(path, position, what);
            return;
        }
    }
    if (cursor->pos != cursor->len) {
        snprintf(what, sizeof what,
                 "%zu bytes follow the batch's %" PRId32 " records",
                 cursor->len - cursor->pos, record_count);
        problem(path, position, what);
    }
}

/* Prints (and checks) every batch of a .log held in data[0..len).  With
 * batches non-NULL, records each sound batch there. */
static void dump_log(const char *path, const uint8_t *data, size_t len,
                     int print, int print_data, int verify,
                     batch_list_t *batches) {
    int64_t file_base = base_offset_of(path);
    int64_t expected = file_base >= 0 ? file_base : 0;
    uint64_t position = 0;
    char what[200];
    while (position < len) {
        const uint8_t *b = data + position;
        if (all_zero(b, len - position)) {
            /* A live active segment runs ahead of its end with zeros
             * (lib/segment.c); the library cuts them off when it seals or
             * closes the segment, and so does its recovery. */
            if (print)
                printf("zero fill: %zu bytes from position %" PRIu64
                       " (the end of an active segment, not a batch)\n",
                       (size_t)(len - position), position);
            return;
        }
        if (len - position < BATCH_HEADER) {
            snprintf(what, sizeof what,
                     "%zu trailing bytes, fewer than a batch header (torn "
                     "tail)",
                     (size_t)(len - position));
            problem(path, position, what);
            return;
        }
        int64_t base_offset = (int64_t)load_be64(b);
        int32_t batch_length = (int32_t)load_be32(b + 8);
        int32_t leader_epoch = (int32_t)load_be32(b + 12);
        int magic = (int8_t)b[16];
        uint32_t crc_stored = load_be32(b + 17);
        int attributes = load_be16(b + 21);
        int32_t last_offset_delta = (int32_t)load_be32(b + 23);
        int64_t base_timestamp = (int64_t)load_be64(b + 27);
        int64_t max_timestamp = (int64_t)load_be64(b + 35);
        int64_t producer_id = (int64_t)load_be64(b + 43);
        int producer_epoch = (int16_t)load_be16(b + 51);
        int32_t base_sequence = (int32_t)load_be32(b + 53);
        int32_t record_count = (int32_t)load_be32(b + 57);
        if (magic != 2) {
            snprintf(what, sizeof what, "magic %d, expected 2", magic);
            problem(path, position, what);
            return;
        }
        if (batch_length < BATCH_LENGTH_MIN ||
            (uint64_t)batch_length + 12 > len - position) {
            snprintf(what, sizeof what,
                     "batchLength %" PRId32 " does not fit the %zu bytes "
                     "left",
                     batch_length, (size_t)(len - position));
            problem(path, position, what);
            return;
        }
        size_t size = (size_t)batch_length + 12;
        uint32_t crc_computed = crc32c(b + 21, size - 21);
        int64_t last_offset = base_offset + last_offset_delta;
        int codec = attributes & 7;
        int timestamp_type = (attributes >> 3) & 1;
        int transactional = (attributes >> 4) & 1;
        int control = (attributes >> 5) & 1;
        if (print)
            printf("baseOffset: %" PRId64 " lastOffset: %" PRId64
                   " count: %" PRId32 " baseSequence: %" PRId32
                   " lastSequence: %" PRId64 " producerId: %" PRId64
                   " producerEpoch: %d partitionLeaderEpoch: %" PRId32
                   " isTransactional: %s isControl: %s position: %" PRIu64
                   " %s: %" PRId64 " baseTimestamp: %" PRId64
                   " size: %zu magic: %d attributes: 0x%04x"
                   " compresscodec: %s crc: 0x%08" PRIx32
                   " computedCrc: 0x%08" PRIx32 " isvalid: %s\n",
                   base_offset, last_offset, record_count, base_sequence,
                   base_sequence < 0 ? (int64_t)-1
                                     : (int64_t)base_sequence +
                                           last_offset_delta,
                   producer_id, producer_epoch, leader_epoch,
                   transactional ? "true" : "false",
                   control ? "true" : "false", position,
                   timestamp_type ? "LogAppendTime" : "CreateTime",
                   max_timestamp, base_timestamp, size, magic, attributes,
                   codec_name(codec), crc_stored, crc_computed,
                   crc_stored == crc_computed ? "true" : "false");
        if (crc_stored != crc_computed) {
            snprintf(what, sizeof what,
                     "CRC-32C stored 0x%08" PRIx32 ", computed 0x%08" PRIx32,
                     crc_stored, crc_computed);
            problem(path, position, what);
        }
        if (base_offset < expected) {
            snprintf(what, sizeof what,
                     "baseOffset %" PRId64 " not above the previous batch's "
                     "last offset (%" PRId64 " expected at least)",
                     base_offset, expected);
            problem(path, position, what);
        }
        if (last_offset_delta < 0 || record_count < 0 ||
            record_count > (int64_t)last_offset_delta + 1) {
            snprintf(what, sizeof what,
                     "lastOffsetDelta %" PRId32 " and count %" PRId32
                     " disagree",
                     last_offset_delta, record_count);
            problem(path, position, what);
        }
        if (verify || print_data) {
            const uint8_t *records = b + BATCH_HEADER;
            size_t records_len = size - BATCH_HEADER;
            uint8_t *inflated = NULL;
            if (codec == 4) {
                unsigned long long content =
                    ZSTD_getFrameContentSize(records, records_len);
                if (content == ZSTD_CONTENTSIZE_ERROR ||
                    content == ZSTD_CONTENTSIZE_UNKNOWN ||
                    content > (1ull << 31)) {
                    problem(path, position, "zstd frame is unreadable");
                    records = NULL;
                } else {
                    inflated = malloc(content ? content : 1);
                    size_t got = inflated ? ZSTD_decompress(inflated, content,
                                                            records,
                                                            records_len)
                                          : 0;
                    if (!inflated || ZSTD_isError(got) || got != content) {
                        problem(path, position, "zstd frame does not "
                                                "decompress");
                        records = NULL;
                    } else {
                        records = inflated;
                        records_len = content;
                    }
                }
            } else if (codec != 0) {
                if (print_data)
                    printf("| (records compressed with %s: not decoded)\n",
                           codec_name(codec));
                records = NULL;
            }
            if (records) {
                cursor_t cursor = {records, records_len, 0, 0};
                dump_records(path, position, &cursor, base_offset,
                             base_timestamp, last_offset_delta, record_count,
                             base_sequence, timestamp_type, print_data);
            }
            free(inflated);
        }
        if (batches) {
            batch_info_t info = {position, base_offset, last_offset,
                                 max_timestamp, producer_id,
                                 control && codec == 0
                                     ? control_type_of(b + BATCH_HEADER,
                                                       size - BATCH_HEADER)
                                     : -1};
            if (batch_list_push(batches, &info) != 0) {
                fprintf(stderr, "out of memory\n");
                exit(2);
            }
        }
        if (last_offset + 1 > expected)
            expected = last_offset + 1;
        position += size;
    }
}

/* ------------------------------------------------------------------------
 * .index and .timeindex
 * --------------------------------------------------------------------- */

/* Reads the .log next to an index file (same base name) and lists its
 * batches; returns -1 when it cannot be read. */
static int load_sibling_log(const char *index_path, batch_list_t *batches) {
    const char *dot = strrchr(index_path, '.');
    size_t stem = dot ? (size_t)(dot - index_path) : strlen(index_path);
    char *log_path = malloc(stem + 5);
    if (!log_path)
        return -1;
    memcpy(log_path, index_path, stem);
    memcpy(log_path + stem, ".log", 5);
    size_t len;
    uint8_t *data = read_file(log_path, &len);
    if (!data) {
        free(log_path);
        return -1;
    }
    int before = problems;
    dump_log(log_path, data, len, 0, 0, 0, batches);
    problems = before; /* problems in the .log are its own dump's business */
    free(data);
    free(log_path);
    return 0;
}

/* The batch whose last offset is offset, or NULL. */
static const batch_info_t *batch_by_last_offset(const batch_list_t *batches,
                                                int64_t offset) {
    size_t low = 0, high = batches->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (batches->items[mid].last_offset < offset)
            low = mid + 1;
        else
            high = mid;
    }
    return low < batches->count && batches->items[low].last_offset == offset
               ? &batches->items[low]
               : NULL;
}

static void dump_offset_index(const char *path, const uint8_t *data, size_t len,
                              int verify, const batch_list_t *batches) {
    int64_t base = base_offset_of(path);
    char what[200];
    if (base < 0)
        base = 0;
    if (len % 8)
        problem(path, len - len % 8, "size is not a multiple of 8 bytes");
    int64_t previous = -1;
    for (size_t position = 0; position + 8 <= len; position += 8) {
        int64_t offset = base + (int32_t)load_be32(data + position);
        uint32_t file_position = load_be32(data + position + 4);
        printf("offset: %" PRId64 " position: %" PRIu32 "\n", offset,
               file_position);
        if (!verify)
            continue;
        if (offset <= previous) {
            snprintf(what, sizeof what,
                     "offset %" PRId64 " not above the previous entry's %" PRId64,
                     offset, previous);
            problem(path, position, what);
        }
        previous = offset;
        const batch_info_t *batch = batch_by_last_offset(batches, offset);
        if (!batch || batch->position != file_position) {
            snprintf(what, sizeof what,
                     "entry (offset %" PRId64 ", position %" PRIu32
                     ") does not point at the start of the batch ending at "
                     "that offset",
                     offset, file_position);
            problem(path, position, what);
        }
    }
}

static void dump_time_index(const char *path, const uint8_t *data, size_t len,
                            int verify, const batch_list_t *batches) {
    int64_t base = base_offset_of(path);
    char what[240];
    if (base < 0)
        base = 0;
    if (len % 12)
        problem(path, len - len % 12, "size is not a multiple of 12 bytes");
    int64_t previous_offset = -1, previous_timestamp = INT64_MIN;
    for (size_t position = 0; position + 12 <= len; position += 12) {
        int64_t timestamp = (int64_t)load_be64(data + position);
        int64_t offset = base + (int32_t)load_be32(data + position + 8);
        printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", timestamp,
               offset);
        if (!verify)
            continue;
        if (offset <= previous_offset || timestamp < previous_timestamp) {
            snprintf(what, sizeof what,
                     "entry (timestamp %" PRId64 ", offset %" PRId64
                     ") does not follow (%" PRId64 ", %" PRId64 ")",
                     timestamp, offset, previous_timestamp, previous_offset);
            problem(path, position, what);
        }
        previous_offset = offset;
        previous_timestamp = timestamp;
        const batch_info_t *batch = batch_by_last_offset(batches, offset);
        if (!batch) {
            snprintf(what, sizeof what,
                     "offset %" PRId64 " is not the last offset of a batch",
                     offset);
            problem(path, position, what);
            continue;
        }
        int64_t running_max = INT64_MIN;
        for (const batch_info_t *b = batches->items; b <= batch; b++)
            if (b->max_timestamp > running_max)
                running_max = b->max_timestamp;
        if (running_max != timestamp) {
            snprintf(what, sizeof what,
                     "timestamp %" PRId64 " but the greatest batch timestamp "
                     "up to offset %" PRId64 " is %" PRId64,
                     timestamp, offset, running_max);
            problem(path, position, what);
        }
    }
}

/* .txnindex: 34-byte entries, version int16 (0), producerId, firstOffset,
 * lastOffset (the ABORT marker), lastStableOffset (all int64). */
static void dump_txn_index(const char *path, const uint8_t *data, size_t len,
                           int verify, const batch_list_t *batches) {
    char what[240];
    if (len % 34)
        problem(path, len - len % 34, "size is not a multiple of 34 bytes");
    int64_t previous = -1;
    for (size_t position = 0; position + 34 <= len; position += 34) {
        int version = (int16_t)load_be16(data + position);
        int64_t producer_id = (int64_t)load_be64(data + position + 2);
        int64_t first = (int64_t)load_be64(data + position + 10);
        int64_t last = (int64_t)load_be64(data + position + 18);
        int64_t stable = (int64_t)load_be64(data + position + 26);
        printf("version: %d producerId: %" PRId64 " firstOffset: %" PRId64
               " lastOffset: %" PRId64 " lastStableOffset: %" PRId64 "\n",
               version, producer_id, first, last, stable);
        if (!verify)
            continue;
        if (version != 0 || first > last || last <= previous) {
            snprintf(what, sizeof what,
                     "entry (version %d, firstOffset %" PRId64
                     ", lastOffset %" PRId64 ") is not a version 0 entry "
                     "following lastOffset %" PRId64,
                     version, first, last, previous);
            problem(path, position, what);
        }
        previous = last;
        const batch_info_t *batch = batch_by_last_offset(batches, last);
        if (!batch || batch->base_offset != last || batch->control_type != 0 ||
            batch->producer_id != producer_id) {
            snprintf(what, sizeof what,
                     "lastOffset %" PRId64 " is not an ABORT marker of "
                     "producer %" PRId64 " in the .log",
                     last, producer_id);
            problem(path, position, what);
        }
    }
}

/* ------------------------------------------------------------------------
 * main
 * --------------------------------------------------------------------- */

static int ends_with(const char *text, const char *suffix) {
    size_t a = strlen(text), b = strlen(suffix);
    return a >= b && strcmp(text + a - b, suffix) == 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: lgdump [--print-data] [--verify] FILE...\n"
            "  FILE is a segment's .log, .index, .timeindex or .txnindex\n"
            "  --print-data  print every record of a .log\n"
            "  --verify      check CRCs, offsets and indexes; exit 1 on any "
            "problem\n");
}

int main(int argc, char **argv) {
    int print_data = 0, verify = 0, files = 0, io_failed = 0;
    crc32c_init();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-data") == 0)
            print_data = 1;
        else if (strcmp(argv[i], "--verify") == 0)
            verify = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] == '-') {
            usage();
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *path = argv[i];
        if (path[0] == '-')
            continue;
        files++;
        size_t len;
        uint8_t *data = read_file(path, &len);
        if (!data) {
            io_failed = 1;
            continue;
        }
        printf("Dumping %s\n", path);
        if (ends_with(path, ".log")) {
            dump_log(path, data, len, 1, print_data, verify, NULL);
        } else if (ends_with(path, ".index") || ends_with(path, ".timeindex") ||
                   ends_with(path, ".txnindex")) {
            batch_list_t batches = {0};
            if (verify && load_sibling_log(path, &batches) != 0)
                io_failed = 1;
            else if (ends_with(path, ".index"))
                dump_offset_index(path, data, len, verify, &batches);
            else if (ends_with(path, ".timeindex"))
                dump_time_index(path, data, len, verify, &batches);
            else
                dump_txn_index(path, data, len, verify, &batches);
            free(batches.items);
        } else {
            fprintf(stderr,
                    "%s: not a .log, .index, .timeindex or .txnindex file\n",
                    path);
            io_failed = 1;
        }
        free(data);
    }
    if (!files) {
        usage();
        return 2;
    }
    if (verify && !problems && !io_failed)
        printf("verify: no problems found\n");
    if (problems)
        fprintf(stderr, "lgdump: %d problem%s found\n", problems,
                problems == 1 ? "" : "s");
    return problems ? 1 : io_failed ? 2 : 0;
}
