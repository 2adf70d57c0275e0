/*
 * strings.h -- lg_strings_t, a list of strings the library hands out.
 */
#ifndef LG_STRINGS_H
#define LG_STRINGS_H

#include "liblog.h"

struct lg_strings {
    size_t count;
    char **items;
};

/* A list of count copies of items (sorted when sort is set); NULL on
 * allocation failure. */
lg_strings_t *lgi_strings_new(const char *const *items, size_t count,
                              int sort);

#endif
