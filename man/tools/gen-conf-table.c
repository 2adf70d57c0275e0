/*
 * gen-conf-table.c -- prints the configuration property table of
 * lib/conf.c as man(7) roff, so man/man7/liblog-conf.7 and
 * man/man3/lg_conf_set.3 are generated from the same table that
 * lg_conf_set() validates against.  Run man/tools/update-conf-pages.sh
 * after changing lib/conf.c.
 *
 * Output, one block per property in table order:
 *
 *   .TP
 *   .B <name>
 *   Scope: engine|topic.  Default: <default>.
 *   .br
 *   Range: <range>.
 *   .br
 *   Meaning: <description>.
 *
 * With the argument "summary" it prints a tbl(1) table of name, scope
 * and default instead (the range would make it wider than 80 columns).
 */
#include "conf.h"

#include <stdio.h>
#include <string.h>

/* Writes s with roff escapes: "-" becomes "\-", "\" becomes "\e". */
static void put_escaped(const char *s) {
    for (; *s; s++) {
        if (*s == '-')
            fputs("\\-", stdout);
        else if (*s == '\\')
            fputs("\\e", stdout);
        else
            putchar(*s);
    }
}

int main(int argc, char **argv) {
    int summary = argc > 1 && strcmp(argv[1], "summary") == 0;
    if (summary) {
        puts(".TS\nbox;\nlb lb lb\nl l l.");
        puts("Property\tScope\tDefault\n_");
    }
    for (int id = 0; id < LGI_CONF__COUNT; id++) {
        char def[64], range[256];
        lgi_conf_describe(id, def, sizeof def, range, sizeof range);
        const char *scope = lgi_conf_scope_name(id);
        if (summary) {
            put_escaped(lgi_conf_name(id));
            printf("\t%s\t", scope);
            put_escaped(def);
            putchar('\n');
            continue;
        }
        printf(".TP\n.B ");
        put_escaped(lgi_conf_name(id));
        printf("\nScope: %s.  Default: ", scope);
        put_escaped(def);
        printf(".\n.br\nRange: ");
        put_escaped(range);
        printf(".\n.br\nMeaning: ");
        const char *doc = lgi_conf_doc(id);
        put_escaped(doc);
        puts(".");
    }
    if (summary)
        puts(".TE");
    return 0;
}
