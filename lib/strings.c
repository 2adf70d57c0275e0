/*
 * strings.c -- lg_strings_t: one allocation for the pointer array, one per
 * string, all freed by lg_strings_destroy.
 */
#include "strings.h"

#include "alloc.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

lg_strings_t *lgi_strings_new(const char *const *items, size_t count,
                              int sort) {
    lg_strings_t *list = lgi_calloc(1, sizeof *list);
    if (!list)
        return NULL;
    list->items = lgi_calloc(count ? count : 1, sizeof *list->items);
    if (!list->items) {
        lgi_free(list);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (!(list->items[i] = lgi_strdup(items[i]))) {
            lg_strings_destroy(list);
            return NULL;
        }
        list->count = i + 1;
    }
    if (sort)
        qsort(list->items, list->count, sizeof *list->items, compare_strings);
    return list;
}

LG_API size_t lg_strings_count(const lg_strings_t *list) {
    lgi_error_clear();
    return list ? list->count : 0;
}

LG_API const char *lg_strings_get(const lg_strings_t *list, size_t index) {
    lgi_error_clear();
    if (!list || index >= list->count)
        return NULL;
    return list->items[index];
}

LG_API void lg_strings_destroy(lg_strings_t *list) {
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        lgi_free(list->items[i]);
    lgi_free(list->items);
    lgi_free(list);
}
