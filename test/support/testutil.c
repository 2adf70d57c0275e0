/*
 * testutil.c -- see testutil.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *lgt_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    char *path;
    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&path, "%s/liblog-%s-XXXXXX", base, tag ? tag : "test") < 0)
        abort();
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void lgt_rmrf(const char *path) {
    if (path)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *lgt_path(const char *dir, const char *name) {
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    return path;
}

uint8_t *lgt_read_file(const char *path, size_t *lenp) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    if (data && size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (data && lenp)
        *lenp = (size_t)size;
    return data;
}

int lgt_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

long long lgt_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int lgt_flip_bit(const char *path, long long pos, int bit) {
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    uint8_t byte;
    int rc = -1;
    if (pread(fd, &byte, 1, pos) == 1) {
        byte ^= (uint8_t)(1u << bit);
        rc = pwrite(fd, &byte, 1, pos) == 1 ? 0 : -1;
    }
    close(fd);
    return rc;
}

int lgt_truncate(const char *path, long long len) {
    return truncate(path, len);
}

int lgt_open_fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own descriptor */
}

int lgt_wait_or_kill(pid_t child, long delay_us, int *killedp) {
    int status = 0;
    pid_t done = 0;
    if (killedp)
        *killedp = 0;
    if (delay_us >= 0) {
        usleep((useconds_t)delay_us);
        done = waitpid(child, &status, WNOHANG);
        if (done == 0 && kill(child, SIGKILL) == 0 && killedp)
            *killedp = 1;
    }
    if (done == 0)
        done = waitpid(child, &status, 0);
    if (done != child) {
        perror("waitpid");
        abort();
    }
    return status;
}

uint64_t lgt_fnv1a(const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t lgt_xorshift(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

long lgt_env_long(const char *name, long fallback) {
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : fallback;
}

int64_t lgt_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lgt_drain_records(int fd, int64_t deadline_ms, uint8_t *buf,
                       size_t size, size_t *have, size_t record_size,
                       lgt_record_fn on_record, void *opaque) {
    for (;;) {
        int timeout = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - lgt_monotonic_ms();
            if (left <= 0)
                return;
            timeout = (int)left;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int rc = poll(&pfd, 1, timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(rc, 0);
        if (rc == 0)
            return;
        ssize_t n = read(fd, buf + *have, size - *have);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(n, 0);
        if (n == 0)
            return;
        *have += (size_t)n;
        size_t whole = *have / record_size * record_size;
        for (size_t at = 0; at < whole; at += record_size)
            on_record(opaque, buf + at);
        memmove(buf, buf + whole, *have - whole);
        *have -= whole;
    }
}

/* ------------------------------------------------------------------------
 * Engine calls
 * --------------------------------------------------------------------- */

lg_engine_t *lgt_engine_open(const char *dir) {
    lg_engine_t *engine = NULL;
    ck_assert_int_eq(lg_engine_open(dir, NULL, &engine), LG_OK);
    return engine;
}

lg_producer_t *lgt_txn_producer(lg_engine_t *engine, const char *id,
                                const char *timeout_ms) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(lg_conf_set(conf, "transactional.id", id), LG_OK);
    ck_assert_int_eq(lg_conf_set(conf, "linger.ms", "0"), LG_OK);
    if (timeout_ms)
        ck_assert_int_eq(lg_conf_set(conf, "transaction.timeout.ms",
                                     timeout_ms),
                         LG_OK);
    lg_producer_t *producer = NULL;
    ck_assert_int_eq(lg_producer_new(engine, conf, &producer), LG_OK);
    lg_conf_destroy(conf);
    return producer;
}

int64_t lgt_lso(lg_engine_t *engine, const char *topic, int32_t partition) {
    int64_t value = -2;
    ck_assert_int_eq(lg_watermarks_lso(engine, topic, partition, &value),
                     LG_OK);
    return value;
}

int64_t lgt_high(lg_engine_t *engine, const char *topic, int32_t partition) {
    int64_t value = -2;
    ck_assert_int_eq(lg_watermarks(engine, topic, partition, NULL, &value),
                     LG_OK);
    return value;
}
