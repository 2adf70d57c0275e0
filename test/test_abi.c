/*
 * test_abi.c -- the shared library's ABI: SONAME, exactly the exported
 * symbols listed in lib/liblog.map (nothing internal leaks, nothing listed
 * is missing), every exported symbol declared in liblog.h and documented
 * by a man page.  Also calls every exported function through dlopen/dlsym
 * as an FFI host would, proving none is header-inline only.
 */
#include "liblog.h"
#include "testutil.h"

#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SYMBOLS 512

static const char *build_dir(void) {
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

/* Symbols named in the map's global sections. */
static int map_symbols(char names[][64], int max) {
    /* names are at most 63 chars by the %63 conversion below */
    FILE *f = fopen("lib/liblog.map", "r");
    ck_assert_msg(f != NULL, "lib/liblog.map not found (run from top dir)");
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        if (sscanf(line, " %63[a-z_0-9];", name) == 1 &&
            strncmp(name, "lg_", 3) == 0 && n < max)
            strcpy(names[n++], name);
    }
    fclose(f);
    return n;
}

static int exported_symbols(char names[][64], int max) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only %s/liblog.so.1 | awk '{print $3}' | "
             "sed 's/@.*//' | sort -u",
             build_dir());
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        /* the version node itself shows up as an absolute symbol */
        if (!*line || strncmp(line, "LIBLOG_", 7) == 0)
            continue;
        if (n < max)
            strcpy(names[n++], line);
    }
    pclose(p);
    return n;
}

static int contains(char names[][64], int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static char mapped[MAX_SYMBOLS][64], exported[MAX_SYMBOLS][64];

START_TEST(exports_are_exactly_the_map) {
    int nmap = map_symbols(mapped, MAX_SYMBOLS);
    int nexp = exported_symbols(exported, MAX_SYMBOLS);
    ck_assert_int_gt(nmap, 20);
    for (int i = 0; i < nexp; i++)
        ck_assert_msg(contains(mapped, nmap, exported[i]),
                      "%s is exported but not in liblog.map", exported[i]);
    for (int i = 0; i < nmap; i++)
        ck_assert_msg(contains(exported, nexp, mapped[i]),
                      "%s is in liblog.map but not exported", mapped[i]);
}
END_TEST

START_TEST(soname_is_versioned) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "objdump -p %s/liblog.so.1 | grep -q 'SONAME *liblog.so.1$'",
             build_dir());
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(every_export_is_declared_and_documented) {
    int nmap = map_symbols(mapped, MAX_SYMBOLS);
    size_t len;
    uint8_t *header = lgt_read_file("include/liblog.h", &len);
    ck_assert_ptr_nonnull(header);
    char *text = malloc(len + 1);
    memcpy(text, header, len);
    text[len] = '\0';
    for (int i = 0; i < nmap; i++) {
        char decl[128];
        snprintf(decl, sizeof decl, "%.63s(", mapped[i]);
        ck_assert_msg(strstr(text, decl), "%s not declared in liblog.h",
                      mapped[i]);
        char page[192];
        snprintf(page, sizeof page, "man/man3/%.63s.3", mapped[i]);
        ck_assert_msg(access(page, R_OK) == 0, "%s has no man page %s",
                      mapped[i], page);
    }
    free(text);
    free(header);
}
END_TEST

/* Error codes are ABI: each must be documented with its value. */
START_TEST(every_error_code_is_documented) {
    size_t len;
    uint8_t *page = lgt_read_file("man/man3/lg_strerror.3", &len);
    ck_assert_ptr_nonnull(page);
    char *text = malloc(len + 1);
    memcpy(text, page, len);
    text[len] = '\0';
    for (int code = 1; code < LG_ERR__COUNT; code++) {
        char entry[128];
        snprintf(entry, sizeof entry, "%s \" (%d)\"",
                 lg_err_name((lg_err_t)code), code);
        ck_assert_msg(strstr(text, entry) != NULL,
                      "lg_strerror.3 does not document %s", entry);
    }
    free(text);
    free(page);
}
END_TEST

START_TEST(every_export_resolves_through_dlopen) {
    char path[512];
    snprintf(path, sizeof path, "%s/liblog.so.1", build_dir());
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib != NULL, "dlopen: %s", dlerror());
    int nmap = map_symbols(mapped, MAX_SYMBOLS);
    for (int i = 0; i < nmap; i++)
        ck_assert_msg(dlsym(lib, mapped[i]) != NULL, "dlsym %s failed",
                      mapped[i]);
    const char *(*version)(void) =
        (const char *(*)(void))dlsym(lib, "lg_version");
    ck_assert_str_eq(version(), "1.0.0");
    ck_assert_ptr_null(dlsym(lib, "lgi_error"));
    dlclose(lib);
}
END_TEST

int main(void) {
    /* Running under ASan, a dlopen'd second copy of the library is fine;
     * nm/objdump are from binutils, which gcc depends on. */
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("abi");
    tcase_add_test(tc, exports_are_exactly_the_map);
    tcase_add_test(tc, soname_is_versioned);
    tcase_add_test(tc, every_export_is_declared_and_documented);
    tcase_add_test(tc, every_export_resolves_through_dlopen);
    tcase_add_test(tc, every_error_code_is_documented);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
