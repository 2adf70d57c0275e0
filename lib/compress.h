/*
 * compress.h -- batch compression codecs (Kafka attribute bits 0-2).
 *
 * liblog writes none or zstd (codec 4).  gzip (1), snappy (2) and lz4 (3)
 * batches that Kafka wrote are recognised and reported LG_ERR_UNSUPPORTED
 * rather than misread.
 */
#ifndef LG_COMPRESS_H
#define LG_COMPRESS_H

#include "buf.h"
#include "liblog.h"

#define LGI_CODEC_NONE 0
#define LGI_CODEC_GZIP 1
#define LGI_CODEC_SNAPPY 2
#define LGI_CODEC_LZ4 3
#define LGI_CODEC_ZSTD 4

/* Appends the compressed form of src to out.  level is the zstd level
 * (0 = library default). */
lg_err_t lgi_compress(int codec, int level, const void *src, size_t len,
                      lgi_buf_t *out);

/* Appends the decompressed form of src to out, refusing to produce more
 * than max_out bytes (a decompression bomb in a corrupt or hostile batch
 * gets LG_ERR_CORRUPT, not an allocation of its claimed size). */
lg_err_t lgi_decompress(int codec, const void *src, size_t len,
                        size_t max_out, lgi_buf_t *out);

#endif
