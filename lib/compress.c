/*
 * compress.c -- the compression codecs of record batch attributes bits 0-2.
 *
 * liblog writes zstd (codec 4) as one standard zstd frame over the records
 * section, as Kafka's producer does.  On the read side the frame is
 * decompressed with the streaming API because Kafka's zstd-jni frames may
 * omit the content size, and because the output has to be capped: a corrupt
 * or hostile batch may claim, or expand to, any size, so decompression
 * stops with LG_ERR_CORRUPT the moment output would pass max_out instead of
 * trusting the frame header.  Several concatenated frames are accepted, as
 * the zstd format allows.
 *
 * Invariant: on failure, out is left at its length on entry.
 */
#include "compress.h"

#include "err.h"

#include <zstd.h>

static const char *codec_name(int codec) {
    switch (codec) {
    case LGI_CODEC_NONE: return "none";
    case LGI_CODEC_GZIP: return "gzip";
    case LGI_CODEC_SNAPPY: return "snappy";
    case LGI_CODEC_LZ4: return "lz4";
    case LGI_CODEC_ZSTD: return "zstd";
    default: return "unknown";
    }
}

static lg_err_t unsupported(int codec) {
    return lgi_error(LG_ERR_UNSUPPORTED,
                     "compression codec %d (%s) is not supported; liblog "
                     "reads and writes none and zstd only",
                     codec, codec_name(codec));
}

lg_err_t lgi_compress(int codec, int level, const void *src, size_t len,
                      lgi_buf_t *out) {
    if (!out || (!src && len))
        return lgi_error(LG_ERR_INVALID_ARG, "compress: NULL buffer");
    if (codec == LGI_CODEC_NONE) {
        if (lgi_buf_append(out, src, len) != 0)
            return lgi_error(LG_ERR_NOMEM, "compress: out of memory");
        return LG_OK;
    }
    if (codec != LGI_CODEC_ZSTD)
        return unsupported(codec);
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return lgi_error(LG_ERR_INVALID_ARG,
                         "zstd level %d outside [%d, %d]", level,
                         ZSTD_minCLevel(), ZSTD_maxCLevel());
    size_t bound = ZSTD_compressBound(len);
    if (lgi_buf_reserve(out, bound) != 0)
        return lgi_error(LG_ERR_NOMEM,
                         "zstd: out of memory reserving %zu bytes", bound);
    /* level 0 is zstd's own "default level" */
    size_t n = ZSTD_compress(out->data + out->len, bound, src, len, level);
    if (ZSTD_isError(n))
        return lgi_error(LG_ERR_IO, "zstd compress of %zu bytes failed: %s",
                         len, ZSTD_getErrorName(n));
    out->len += n;
    return LG_OK;
}

static lg_err_t zstd_decompress(const void *src, size_t len, size_t max_out,
                                lgi_buf_t *out) {
    size_t start = out->len;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx)
        return lgi_error(LG_ERR_NOMEM, "zstd: cannot create a context");
    ZSTD_inBuffer in = {src, len, 0};
    lg_err_t err = LG_OK;
    size_t last = 0;
    /* A first guess from the input size, grown by doubling; never beyond
     * max_out + 1 (the extra byte is how a bomb is detected). */
    size_t guess = len < 4096 ? 16384 : len * 4;
    for (;;) {
        size_t produced = out->len - start;
        size_t room_limit = max_out - produced + 1;
        if (out->cap - out->len == 0 || out->cap - out->len < 1024) {
            size_t want = guess < room_limit ? guess : room_limit;
            if (lgi_buf_reserve(out, want) != 0) {
                err = lgi_error(LG_ERR_NOMEM,
                                "zstd: out of memory growing output to %zu "
                                "bytes", produced + want);
                break;
            }
            guess *= 2;
        }
        size_t room = out->cap - out->len;
        if (room > room_limit)
            room = room_limit;
        ZSTD_outBuffer o = {out->data + out->len, room, 0};
        last = ZSTD_decompressStream(dctx, &o, &in);
        if (ZSTD_isError(last)) {
            err = lgi_error(LG_ERR_CORRUPT, "zstd: corrupt data: %s",
                            ZSTD_getErrorName(last));
            break;
        }
        out->len += o.pos;
        if (out->len - start > max_out) {
            err = lgi_error(LG_ERR_CORRUPT,
                            "zstd: decompressed data exceeds the limit of %zu "
                            "bytes", max_out);
            break;
        }
        if (in.pos == in.size && last == 0)
            break; /* every frame complete */
        if (o.pos == 0 && in.pos == in.size && o.pos < o.size) {
            err = lgi_error(LG_ERR_CORRUPT,
                            "zstd: input ends inside a frame (%zu bytes)", len);
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    if (err != LG_OK)
        out->len = start;
    return err;
}

lg_err_t lgi_decompress(int codec, const void *src, size_t len,
                        size_t max_out, lgi_buf_t *out) {
    if (!out || (!src && len))
        return lgi_error(LG_ERR_INVALID_ARG, "decompress: NULL buffer");
    if (codec == LGI_CODEC_NONE) {
        if (len > max_out)
            return lgi_error(LG_ERR_CORRUPT,
                             "uncompressed data of %zu bytes exceeds the "
                             "limit of %zu bytes", len, max_out);
        if (lgi_buf_append(out, src, len) != 0)
            return lgi_error(LG_ERR_NOMEM, "decompress: out of memory");
        return LG_OK;
    }
    if (codec != LGI_CODEC_ZSTD)
        return unsupported(codec);
    if (len == 0)
        return lgi_error(LG_ERR_CORRUPT, "zstd: empty input has no frame");
    return zstd_decompress(src, len, max_out, out);
}
