/*
 * fuzz_conf.c -- libFuzzer target for the configuration parser.  Input:
 * "name\0value" (bytes after a second NUL are ignored); when the first
 * byte is 0x01 the name is instead the known property chosen by the
 * second byte, so values reach every property's parser.  lg_conf_set must
 * accept or reject without crashing; on acceptance lg_conf_get must give
 * back a value that lg_conf_set accepts again with the same result (the
 * text round-trips), and on rejection the conf must be unchanged.
 */
#include "conf.h"
#include "liblog.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 2);
    memcpy(text, data, size);
    text[size] = '\0';
    text[size + 1] = '\0';
    const char *name = text, *value = text + strlen(text) + 1;
    if (size >= 2 && data[0] == 0x01) {
        name = lgi_conf_name(data[1] % LGI_CONF__COUNT);
        value = text + 2;
    }
    lg_conf_t *conf = lg_conf_new();
    lg_conf_t *before = lg_conf_dup(conf);
    if (lg_conf_set(conf, name, value) == LG_OK) {
        char got[1024];
        size_t got_size = sizeof got;
        if (lg_conf_get(conf, name, got, &got_size) == LG_OK) {
            lg_conf_t *again = lg_conf_new();
            if (lg_conf_set(again, name, got) != LG_OK)
                abort();
            char got2[1024];
            size_t got2_size = sizeof got2;
            if (lg_conf_get(again, name, got2, &got2_size) != LG_OK ||
                strcmp(got, got2) != 0)
                abort();
            lg_conf_destroy(again);
        }
    } else if (memcmp(conf, before, sizeof *conf) != 0) {
        abort(); /* a rejected set must leave conf unchanged */
    }
    lg_conf_destroy(before);
    lg_conf_destroy(conf);
    free(text);
    return 0;
}
