/* otactl's command line: options and positionals, one-line refusals */

#include "otactl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int
otactl_fail(const char *fmt, ...)
{
    va_list  ap;

    fputs("otactl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return OTACTL_FAIL;
}

int
otactl_usage(const char *fmt, ...)
{
    va_list  ap;

    fputs("otactl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (otactl --help for usage)\n", stderr);
    return OTACTL_USAGE;
}

otactl_opt_t *
otactl_optp(otactl_opt_t *opts, const char *name)
{
    for (; opts->name != NULL; opts++) {
        if (strcmp(opts->name, name) == 0) {
            return opts;
        }
    }
    return NULL;
}

const char *
otactl_opt(otactl_opt_t *opts, const char *name)
{
    otactl_opt_t  *o = otactl_optp(opts, name);

    return o ? o->val : NULL;
}

/* value arrays of repeated options, released by main() */
#define OTACTL_MULTI_MAX  16
static void  *otactl_multi_mem[OTACTL_MULTI_MAX];
static int    otactl_multi_n;


int
otactl_parse(int argc, char **argv, otactl_opt_t *opts, otactl_pos_t *pos,
    const char *cmd)
{
    int            i;
    char          *eq;
    const char    *val;
    const char   **v;
    otactl_opt_t  *o;
    char           name[64];

    pos->npos = 0;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc; i++) {
                if (pos->npos == OTACTL_MAX_POS) {
                    return otactl_usage("too many arguments for %s", cmd);
                }
                pos->pos[pos->npos++] = argv[i];
            }
            break;
        }

        if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
            if (pos->npos == OTACTL_MAX_POS) {
                return otactl_usage("too many arguments for %s", cmd);
            }
            pos->pos[pos->npos++] = argv[i];
            continue;
        }

        eq = strchr(argv[i], '=');
        snprintf(name, sizeof(name), "%.*s",
                 (int) (eq ? eq - argv[i] - 2 : (long) strlen(argv[i]) - 2),
                 argv[i] + 2);
        o = otactl_optp(opts, name);
        if (o == NULL) {
            return otactl_usage("unknown option --%s for %s", name, cmd);
        }

        if (o->kind == OTACTL_FLAG) {
            if (eq != NULL) {
                return otactl_usage("--%s takes no value", name);
            }
            o->val = "1";
            continue;
        }

        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return otactl_usage("--%s needs a value", name);
        }

        if (o->kind == OTACTL_ARG && o->val != NULL) {
            return otactl_usage("--%s given twice", name);
        }
        o->val = val;

        if (o->kind == OTACTL_MULTI) {
            /* argc bounds the values: one allocation, freed at exit */
            if (o->vals == NULL) {
                if (otactl_multi_n == OTACTL_MULTI_MAX) {
                    return otactl_fail("too many repeated options");
                }
                v = calloc((size_t) argc, sizeof(char *));
                if (v == NULL) {
                    return otactl_fail("out of memory");
                }
                o->vals = v;
                otactl_multi_mem[otactl_multi_n++] = v;
            }
            o->vals[o->nvals++] = val;
        }
    }

    return OTACTL_OK;
}


void
otactl_parse_free(void)
{
    while (otactl_multi_n > 0) {
        free(otactl_multi_mem[--otactl_multi_n]);
    }
}
