/*
 * metafile.h -- small metadata files replaced atomically and protected by
 * an XXH3 checksum (topic configs, recovery points, leader epochs).
 *
 * File layout: the caller's text, then one line "xxh3:<16 hex digits>\n"
 * holding XXH3-64 of every byte before it.  Keeping the body text (Kafka's
 * checkpoint files are text) makes them readable with cat; the trailer
 * makes a torn or bit-flipped file detectable instead of silently parsed.
 */
#ifndef LG_METAFILE_H
#define LG_METAFILE_H

#include "liblog.h"

#include <stddef.h>

/* Writes body to path atomically: path.tmp, fsync, rename, fsync of the
 * directory.  After a crash either the old or the new file is present. */
lg_err_t lgi_metafile_write(const char *path, const void *body, size_t len);

/* Reads path and checks its trailer.  *bodyp (lgi_malloc'd, NUL-terminated,
 * without the trailer) and *lenp on success.  LG_ERR_IO with errno ENOENT
 * in the message when missing (*bodyp NULL; callers test
 * lgi_metafile_exists first when absence is normal); LG_ERR_CORRUPT when
 * the checksum line is missing or wrong. */
lg_err_t lgi_metafile_read(const char *path, char **bodyp, size_t *lenp);

/* The checksum line of a file whose body is body[0..len): exactly
 * LGI_METAFILE_TRAILER_LEN characters plus a NUL into trailer.  Exposed,
 * with lgi_metafile_verify, so test/test_replica_sim.c can model these
 * files byte for byte in memory (torn writes, lost renames) and still
 * judge them by this code. */
#define LGI_METAFILE_TRAILER_LEN 22 /* "xxh3:" + 16 hex digits + "\n" */
void lgi_metafile_trailer(const void *body, size_t len,
                          char trailer[LGI_METAFILE_TRAILER_LEN + 1]);

/* Checks the whole file content data[0..size) (name is for the message):
 * LG_OK with the body length in *body_lenp, or LG_ERR_CORRUPT when the
 * checksum line is missing or wrong. */
lg_err_t lgi_metafile_verify(const char *data, size_t size, const char *name,
                             size_t *body_lenp);

/* 1 when path exists. */
int lgi_metafile_exists(const char *path);

/* fsync of the directory dir (after creating/renaming/unlinking in it). */
lg_err_t lgi_fsync_dir(const char *dir);

#endif
