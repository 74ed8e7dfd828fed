/* aligned text tables for people (--json is for scripts) */

#include "otactl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void
otactl_table_grow(otactl_table_t *t)
{
    char  **p;

    if (t->oom) {
        return;
    }
    if ((t->nrows + 1) * t->ncols > t->cap) {
        int ncap = t->cap ? t->cap * 2 : t->ncols * 32;
        p = realloc(t->cells, ncap * sizeof(char *));
        if (p == NULL) {
            t->oom = 1;
            return;
        }
        t->cells = p;
        t->cap = ncap;
    }
}

static void
otactl_table_add(otactl_table_t *t, va_list ap)
{
    int    i;
    char  *s;

    otactl_table_grow(t);
    if (t->oom) {
        return;
    }
    for (i = 0; i < t->ncols; i++) {
        const char *v = va_arg(ap, const char *);
        s = strdup(v ? v : "");
        if (s == NULL) {
            t->oom = 1;
            s = NULL;
        }
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

void
otactl_table_init(otactl_table_t *t, int ncols, ...)
{
    va_list  ap;

    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    va_start(ap, ncols);
    otactl_table_add(t, ap);
    va_end(ap);
}

void
otactl_table_row(otactl_table_t *t, ...)
{
    va_list  ap;

    va_start(ap, t);
    otactl_table_add(t, ap);
    va_end(ap);
}

void
otactl_table_print(otactl_table_t *t, FILE *f)
{
    size_t  w[32] = { 0 }, l;
    int     r, c;

    if (t->oom) {
        fprintf(stderr, "otactl: out of memory printing a table\n");
        return;
    }
    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols && c < 32; c++) {
            const char *s = t->cells[r * t->ncols + c];
            l = s ? strlen(s) : 0;
            if (l > w[c]) {
                w[c] = l;
            }
        }
    }
    for (r = 0; r < t->nrows; r++) {
        for (c = 0; c < t->ncols && c < 32; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c == t->ncols - 1) {
                fprintf(f, "%s\n", s ? s : "");
            } else {
                fprintf(f, "%-*s  ", (int) w[c], s ? s : "");
            }
        }
    }
}

void
otactl_table_free(otactl_table_t *t)
{
    int  i;

    for (i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* the end of every list command: the JSON array for --json, else the
 * table; both are freed */
int
otactl_list_print(otactl_t *o, json_t *ja, otactl_table_t *t)
{
    if (o->json) {
        otactl_print_json(ja);
    } else {
        json_decref(ja);
        otactl_table_print(t, stdout);
    }
    otactl_table_free(t);
    return OTACTL_OK;
}
