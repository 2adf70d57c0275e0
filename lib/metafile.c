/*
 * metafile.c -- atomic, checksummed replacement of small metadata files.
 *
 * Write protocol (the classic one, as Kafka's checkpoint files):
 *   1. write body + "xxh3:<hex>\n" to <path>.tmp, fsync it;
 *   2. rename(<path>.tmp, <path>) -- atomic on POSIX file systems;
 *   3. fsync the directory so the rename itself is durable.
 * A crash before 2 leaves the old file (and a stray .tmp that the next write
 * truncates); after 2 the new one.  The checksum catches what the protocol
 * cannot: a file damaged on disk, or written by a tool that skipped fsync.
 */
#include "metafile.h"

#include "alloc.h"
#include "err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define TRAILER_PREFIX "xxh3:"
#define TRAILER_LEN (sizeof(TRAILER_PREFIX) - 1 + 16 + 1)
_Static_assert(TRAILER_LEN == LGI_METAFILE_TRAILER_LEN, "trailer length");

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

lg_err_t lgi_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "open directory %s", dir);
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return lgi_error_errno(LG_ERR_IO, saved, "fsync directory %s", dir);
    return LG_OK;
}

void lgi_metafile_trailer(const void *body, size_t len,
                          char trailer[LGI_METAFILE_TRAILER_LEN + 1]) {
    snprintf(trailer, LGI_METAFILE_TRAILER_LEN + 1,
             TRAILER_PREFIX "%016" PRIx64 "\n",
             (uint64_t)XXH3_64bits(body, len));
}

lg_err_t lgi_metafile_verify(const char *data, size_t size, const char *name,
                             size_t *body_lenp) {
    if (size < TRAILER_LEN ||
        memcmp(data + size - TRAILER_LEN, TRAILER_PREFIX,
               sizeof(TRAILER_PREFIX) - 1) != 0 ||
        data[size - 1] != '\n')
        return lgi_error(LG_ERR_CORRUPT, "%s: checksum line missing", name);
    size_t body_len = size - TRAILER_LEN;
    char expect[TRAILER_LEN + 1];
    lgi_metafile_trailer(data, body_len, expect);
    if (memcmp(expect, data + body_len, TRAILER_LEN) != 0)
        return lgi_error(LG_ERR_CORRUPT, "%s: checksum mismatch", name);
    *body_lenp = body_len;
    return LG_OK;
}

lg_err_t lgi_metafile_write(const char *path, const void *body, size_t len) {
    size_t path_len = strlen(path);
    char *tmp = lgi_malloc(path_len + 5);
    char *dir = lgi_malloc(path_len + 1);
    if (!tmp || !dir) {
        lgi_free(tmp);
        lgi_free(dir);
        return lgi_error(LG_ERR_NOMEM, "out of memory writing %s", path);
    }
    memcpy(tmp, path, path_len);
    memcpy(tmp + path_len, ".tmp", 5);
    memcpy(dir, path, path_len + 1);

    char trailer[TRAILER_LEN + 1];
    lgi_metafile_trailer(body, len, trailer);

    lg_err_t err = LG_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "create %s", tmp);
        goto out;
    }
    if (write_all(fd, body, len) != 0 ||
        write_all(fd, trailer, TRAILER_LEN) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "write %s", tmp);
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (fsync(fd) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "fsync %s", tmp);
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        err = lgi_error_errno(LG_ERR_IO, errno, "rename %s", tmp);
        unlink(tmp);
        goto out;
    }
    err = lgi_fsync_dir(dirname(dir));
out:
    lgi_free(tmp);
    lgi_free(dir);
    return err;
}

lg_err_t lgi_metafile_read(const char *path, char **bodyp, size_t *lenp) {
    *bodyp = NULL;
    *lenp = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lgi_error_errno(LG_ERR_IO, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return lgi_error_errno(LG_ERR_IO, saved, "stat %s", path);
    }
    /* Metadata files are small; a huge one is damage, not data. */
    if (st.st_size > 64 * 1024 * 1024) {
        close(fd);
        return lgi_error(LG_ERR_CORRUPT, "%s: implausible size %lld", path,
                         (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    char *data = lgi_malloc(size + 1);
    if (!data) {
        close(fd);
        return lgi_error(LG_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            close(fd);
            lgi_free(data);
            return lgi_error_errno(LG_ERR_IO, saved, "read %s", path);
        }
        got += (size_t)n;
    }
    close(fd);
    data[size] = '\0';

    size_t body_len;
    lg_err_t err = lgi_metafile_verify(data, size, path, &body_len);
    if (err != LG_OK) {
        lgi_free(data);
        return err;
    }
    data[body_len] = '\0';
    *bodyp = data;
    *lenp = body_len;
    return LG_OK;
}

int lgi_metafile_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
