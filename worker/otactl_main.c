/*
 * otactl: the admin's command line for the OTA system.
 *
 *   otactl [--redis HOST:PORT] [--store DIR] [--json] [--config FILE]
 *          <device|module|package|batch|stats|link> <verb> ...
 *
 * Global flags may come before or after the command.  Every refusal is one
 * line on stderr and a non-zero exit; nothing is changed then.
 */

#include "otactl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OTACTL_DEFAULT_EXTS \
    ".bin .dav .tar .gz .zip .gzip .apk .tar.gz .tar.xz .pack"
#define OTACTL_DEFAULT_MAX_MB  1000

static const char  *otactl_usage_text =
    "usage: otactl [--redis HOST:PORT] [--store DIR] [--json] "
    "[--config FILE] COMMAND ...\n"
    "\n"
    "  device add <device> --product <p> [--secret <s>]\n"
    "  device show <device>\n"
    "  device list [--product <p>] [--limit N]\n"
    "  module add <module> --product <p> [--alias A] [--desc D]\n"
    "  module list --product <p>\n"
    "  package add <file> [<file>...] --product <p> --module <m> --name <n>\n"
    "          --version X.Y.Z [--type full|diff] [--from X.Y.Z]\n"
    "          [--sign md5|sha256] [--verify] [--desc D] [--ext key=value]...\n"
    "          [--follow-symlinks]\n"
    "  package show <id>\n"
    "  package list [--product <p>]\n"
    "  batch create --package <id> --type verify|upgrade --name <n>\n"
    "          [--devices d1,d2,...] [--from-version X.Y.Z]\n"
    "          [--protocol http|https|mqtt] [--method static|dynamic] [--push]\n"
    "          [--wait SECS]\n"
    "  batch show <id> [--devices]\n"
    "  batch list [--package <id>] [--product <p>]\n"
    "  batch pause|resume|cancel <id> [--wait SECS]\n"
    "  stats versions --product <p> [--module <m>]\n"
    "  link --package <id> --device <d> [--expires SECS] [--base URL]\n"
    "          [--secret KEY]        signed download link (OTA_TOKEN_SECRET)\n"
    "\n"
    "Environment: OTA_REDIS, OTA_STORE, OTA_CONFIG, OTA_PACKAGE_EXTS,\n"
    "OTA_PACKAGE_MAX_MB, OTA_TOKEN_SECRET.  See docs/otactl.md.\n";

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

/* ---- Redis -------------------------------------------------------------- */

int
otactl_connect(otactl_t *o)
{
    char  err[512];

    if (o->rc != NULL) {
        return 0;
    }
    o->rc = ota_redis_connect(&o->addr, 3000, err, sizeof(err));
    if (o->rc == NULL) {
        fprintf(stderr, "otactl: %s (is redis-server running? set --redis "
                "or OTA_REDIS)\n", err);
        return -1;
    }
    return 0;
}

static redisReply *
otactl_check(otactl_t *o, redisReply *r)
{
    if (r == NULL) {
        fprintf(stderr, "otactl: Redis at %s: %s\n",
                ota_redis_addr_str(&o->addr),
                o->rc->errstr[0] ? o->rc->errstr : "out of memory");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "otactl: Redis refused: %s\n", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

redisReply *
otactl_exec(otactl_t *o, ota_cmd_t *c)
{
    if (otactl_connect(o) != 0) {
        return NULL;
    }
    return otactl_check(o, ota_cmd_exec(o->rc, c));
}

redisReply *
otactl_cmd(otactl_t *o, const char *fmt, ...)
{
    va_list  ap;
    void    *r;

    if (otactl_connect(o) != 0) {
        return NULL;
    }
    va_start(ap, fmt);
    r = redisvCommand(o->rc, fmt, ap);
    va_end(ap);
    return otactl_check(o, r);
}

redisReply *
otactl_script(otactl_t *o, ota_script_t *s, ota_cmd_t *args)
{
    if (otactl_connect(o) != 0) {
        return NULL;
    }
    return ota_script_run(o->rc, s, args);
}

/* ---- output helpers ------------------------------------------------------ */

void
otactl_print_json(json_t *v)
{
    char  *s;

    if (v == NULL) {
        fprintf(stderr, "otactl: out of memory building JSON\n");
        return;
    }
    s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s != NULL) {
        printf("%s\n", s);
        free(s);
    }
    json_decref(v);
}

const char *
otactl_bytes(long long n, char *buf, size_t len)
{
    if (n < 0) {
        snprintf(buf, len, "-");
    } else if (n < 1024) {
        snprintf(buf, len, "%lld B", n);
    } else if (n < 1024 * 1024) {
        snprintf(buf, len, "%.1f KB", n / 1024.0);
    } else if (n < 1024LL * 1024 * 1024) {
        snprintf(buf, len, "%.1f MB", n / (1024.0 * 1024));
    } else {
        snprintf(buf, len, "%.2f GB", n / (1024.0 * 1024 * 1024));
    }
    return buf;
}

const char *
otactl_time(long long t, char *buf, size_t len)
{
    time_t     s;
    struct tm  tm;

    if (t <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    s = (time_t) (t > 100000000000LL ? t / 1000 : t);
    localtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

json_t *
otactl_rate_json(double r)
{
    return r < 0 ? json_null() : json_real((double) (long long) (r * 10000 + 0.5)
                                           / 10000);
}

const char *
otactl_rate_str(double r, char *buf, size_t len)
{
    if (r < 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.1f%%", r * 100);
    }
    return buf;
}

int
otactl_text_ok(const char *s, size_t max)
{
    size_t  n = 0;

    for (; *s; s++, n++) {
        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
            return 0;
        }
    }
    return n <= max;
}

/* ---- configuration -------------------------------------------------------- */

static int
otactl_set_exts(otactl_t *o, const char *v, char *err, size_t errlen)
{
    char        buf[1024], *tok, *save;
    size_t      n = 0;

    if (strlen(v) >= sizeof(buf)) {
        snprintf(err, errlen, "extension list too long");
        return -1;
    }
    strcpy(buf, v);
    o->exts[0] = '\0';
    for (tok = strtok_r(buf, " ,", &save); tok;
         tok = strtok_r(NULL, " ,", &save))
    {
        if (tok[0] != '.' || tok[1] == '\0' || strchr(tok + 1, '/')) {
            snprintf(err, errlen, "invalid file extension \"%s\" (want "
                     "\".bin\" style, space or comma separated)", tok);
            return -1;
        }
        n += snprintf(o->exts + n, sizeof(o->exts) - n, "%s%s",
                      n ? " " : "", tok);
    }
    if (n == 0) {
        snprintf(err, errlen, "empty extension list");
        return -1;
    }
    return 0;
}

static int
otactl_set_max_mb(otactl_t *o, const char *v, char *err, size_t errlen)
{
    char       *end;
    long long   mb;

    errno = 0;
    mb = strtoll(v, &end, 10);
    if (errno || *end || end == v || mb < 1 || mb > 1024 * 1024) {
        snprintf(err, errlen, "invalid package size limit \"%s\" "
                 "(want megabytes, 1..1048576)", v);
        return -1;
    }
    o->max_bytes = mb * 1024 * 1024;
    return 0;
}

static int
otactl_config_cb(void *ctx, const char *k, const char *v, char *err,
    size_t errlen)
{
    otactl_t  *o = ctx;
    char      *d;

    if (strcmp(k, "package_exts") == 0) {
        return otactl_set_exts(o, v, err, errlen);
    }
    if (strcmp(k, "package_max_mb") == 0) {
        return otactl_set_max_mb(o, v, err, errlen);
    }

    d = strdup(v);
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strcmp(k, "redis") == 0) {
        if (o->redis == NULL) o->redis = d; else free(d);
    } else if (strcmp(k, "store") == 0) {
        if (o->store == NULL) o->store = d; else free(d);
    } else if (strcmp(k, "token_secret") == 0) {
        if (o->token_secret == NULL) o->token_secret = d; else free(d);
    } else if (strcmp(k, "redis_password") == 0) {
        snprintf(o->addr.password, sizeof(o->addr.password), "%s", d);
        free(d);
    } else {
        free(d);           /* worker settings share the file: ignore them */
    }
    return 0;
}

int
main(int argc, char **argv)
{
    otactl_t     o;
    char        *rest[1024], err[512], pw[256];
    const char  *cmd = NULL, *e;
    int          n = 0, i, rc;

    memset(&o, 0, sizeof(o));
    o.wait = 30;
    o.max_bytes = (long long) OTACTL_DEFAULT_MAX_MB * 1024 * 1024;
    strcpy(o.exts, OTACTL_DEFAULT_EXTS);

    /* global flags anywhere on the line */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;

        if (strcmp(a, "--") == 0) {
            for (; i < argc && n < 1023; i++) {
                rest[n++] = argv[i];
            }
            break;
        }
        if (strcmp(a, "--json") == 0) {
            o.json = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(otactl_usage_text, stdout);
            return OTACTL_OK;
        }
        if (strcmp(a, "--redis") == 0) {
            dst = &o.redis;
        } else if (strcmp(a, "--store") == 0) {
            dst = &o.store;
        } else if (strcmp(a, "--config") == 0) {
            dst = &o.config;
        } else if (strncmp(a, "--redis=", 8) == 0) {
            o.redis = a + 8;
            continue;
        } else if (strncmp(a, "--store=", 8) == 0) {
            o.store = a + 8;
            continue;
        } else if (strncmp(a, "--config=", 9) == 0) {
            o.config = a + 9;
            continue;
        }
        if (dst != NULL) {
            if (i + 1 >= argc) {
                return otactl_usage("%s needs a value", a);
            }
            *dst = argv[++i];
            continue;
        }
        if (n == 1023) {
            return otactl_usage("too many arguments");
        }
        rest[n++] = argv[i];
    }

    /* precedence: flag, then environment, then config file, then default */
    if (o.redis == NULL) {
        o.redis = getenv("OTA_REDIS");
    }
    if (o.store == NULL) {
        o.store = getenv("OTA_STORE");
    }
    if (o.token_secret == NULL) {
        o.token_secret = getenv("OTA_TOKEN_SECRET");
    }
    if (o.config == NULL) {
        o.config = getenv("OTA_CONFIG");
    }
    if (o.config != NULL
        && ota_config_load(o.config, otactl_config_cb, &o, err, sizeof(err))
           != 0)
    {
        return otactl_fail("%s", err);
    }
    if ((e = getenv("OTA_PACKAGE_EXTS")) != NULL
        && otactl_set_exts(&o, e, err, sizeof(err)) != 0)
    {
        return otactl_fail("OTA_PACKAGE_EXTS: %s", err);
    }
    if ((e = getenv("OTA_PACKAGE_MAX_MB")) != NULL
        && otactl_set_max_mb(&o, e, err, sizeof(err)) != 0)
    {
        return otactl_fail("OTA_PACKAGE_MAX_MB: %s", err);
    }

    snprintf(pw, sizeof(pw), "%s", o.addr.password);
    if (ota_redis_parse_addr(o.redis ? o.redis : "127.0.0.1:6379", &o.addr,
                             err, sizeof(err)) != 0)
    {
        return otactl_usage("%s", err);
    }
    snprintf(o.addr.password, sizeof(o.addr.password), "%s",
             getenv("OTA_REDIS_PASSWORD") ? getenv("OTA_REDIS_PASSWORD") : pw);

    if (n == 0) {
        fputs(otactl_usage_text, stderr);
        return OTACTL_USAGE;
    }
    cmd = rest[0];

    if (strcmp(cmd, "device") == 0) {
        rc = otactl_device(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "module") == 0) {
        rc = otactl_module(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "package") == 0) {
        rc = otactl_package(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "batch") == 0) {
        rc = otactl_batch(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "stats") == 0) {
        rc = otactl_stats(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "link") == 0) {
        rc = otactl_link(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "help") == 0) {
        fputs(otactl_usage_text, stdout);
        rc = OTACTL_OK;
    } else {
        rc = otactl_usage("unknown command \"%s\"", cmd);
    }

    if (o.rc != NULL) {
        redisFree(o.rc);
    }
    while (otactl_multi_n > 0) {
        free(otactl_multi_mem[--otactl_multi_n]);
    }
    return rc;
}
