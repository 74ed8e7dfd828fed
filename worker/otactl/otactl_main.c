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

#include "ota_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char  *otactl_usage_text =
    "usage: otactl [--redis HOST:PORT] [--store DIR] [--json] "
    "[--config FILE] COMMAND ...\n"
    "       otactl --api URL --token TOKEN [--json] COMMAND ...\n"
    "              (through the admin API: no Redis, no store needed)\n"
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
    "          [--sign-key KEY]       Ed25519-signed manifest (docs/signing.md)\n"
    "  package diff --from <old id> --to <new id> [--name <n>] [--level 1..19]\n"
    "          [--max-ratio F] [--sign-key KEY] [--wait S]   zstd patch-from\n"
    "          (docs/delta.md; --api: the worker makes it, --wait S for it)\n"
    "  package verify <id> --pubkey PUB\n"
    "  package show <id>\n"
    "  package list [--product <p>]\n"
    "  key gen --out DIR                 Ed25519 signing key pair\n"
    "  product set <p> [--require-signed|--no-require-signed]\n"
    "          [--pubkey PUB|--no-pubkey]\n"
    "  batch create --package <id> --type verify|upgrade --name <n>\n"
    "          [--devices d1,d2,...] [--from-version X.Y.Z]\n"
    "          [--protocol http|https|mqtt] [--method static|dynamic] [--push]\n"
    "          [--wait SECS] [--waves 1%,10%,100%|10,100,1000]\n"
    "          [--success-threshold P] [--error-threshold P]\n"
    "          [--max-per-minute N [--ramp BASE,FACTOR]]\n"
    "          [--abort-failure-rate P --abort-min N]\n"
    "          [--start-at TIME] [--timeout MIN]   (docs/rollouts.md)\n"
    "  batch show <id> [--devices]\n"
    "  batch list [--package <id>] [--product <p>]\n"
    "  batch pause|resume|cancel <id> [--wait SECS]\n"
    "  stats versions --product <p> [--module <m>]\n"
    "  config show                  the platform's settings\n"
    "  config set package.max_size 2000MB | package.extensions .bin,.zip,...\n"
    "  link --package <id> --device <d> [--expires SECS] [--base URL]\n"
    "          [--secret KEY]        signed download link (OTA_TOKEN_SECRET)\n"
    "\n"
    "Environment: OTA_REDIS, OTA_STORE, OTA_CONFIG, OTA_PACKAGE_EXTS,\n"
    "OTA_PACKAGE_MAX_MB, OTA_TOKEN_SECRET, OTA_API, OTA_ADMIN_TOKEN.\n"
    "See docs/otactl.md.\n";

/* ---- configuration -------------------------------------------------------- */

/* a host's own list (config file, OTA_PACKAGE_EXTS): the platform
 * setting's check (include/ota_settings.h) */
static int
otactl_set_exts(otactl_t *o, const char *v, char *err, size_t errlen)
{
    ota_check_t  c;

    ota_check_init(&c, 0);
    if (ota_settings_set(&o->settings, &c, OTA_SET_EXTENSIONS, v) != 0) {
        snprintf(err, errlen, "%s", c.msg);
        return -1;
    }
    o->local |= OTA_SET_BIT_EXTENSIONS;
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
    o->settings.max_size = mb * 1024 * 1024;
    o->local |= OTA_SET_BIT_MAX_SIZE;
    return 0;
}

static int
otactl_set_ratio(otactl_t *o, const char *v, char *err, size_t errlen)
{
    char    *end;
    double   f;

    errno = 0;
    f = strtod(v, &end);
    if (errno || *end || end == v || !(f > 0 && f <= 1)) {
        snprintf(err, errlen, "invalid delta size limit \"%s\" (want a "
                 "fraction of the full file, 0 < F <= 1)", v);
        return -1;
    }
    o->delta_max_ratio = f;
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
    if (strcmp(k, "delta_max_ratio") == 0) {
        return otactl_set_ratio(o, v, err, errlen);
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
    } else if (strcmp(k, "api") == 0) {
        if (o->api == NULL) o->api = d; else free(d);
    } else if (strcmp(k, "admin_token") == 0) {
        if (o->token == NULL) o->token = d; else free(d);
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
    ota_settings_default(&o.settings);
    o.delta_max_ratio = OTACTL_DEFAULT_DELTA_RATIO;

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
        } else if (strcmp(a, "--api") == 0) {
            dst = &o.api;
        } else if (strcmp(a, "--token") == 0) {
            dst = &o.token;
        } else if (strncmp(a, "--api=", 6) == 0) {
            o.api = a + 6;
            continue;
        } else if (strncmp(a, "--token=", 8) == 0) {
            o.token = a + 8;
            continue;
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
    if (o.api == NULL) {
        o.api = getenv("OTA_API");
    }
    if (o.token == NULL) {
        o.token = getenv("OTA_ADMIN_TOKEN");
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

    /* API mode: every command goes through the admin API, no Redis */
    if (o.api != NULL && o.api[0] != '\0') {
        if ((rc = otactl_api_init(&o)) != OTACTL_OK) {
            otactl_api_done(&o);
            return rc;
        }
        goto dispatch;
    }
    o.api = NULL;

    /* a password in the address wins over redis_password in the file,
     * OTA_REDIS_PASSWORD over both */
    snprintf(pw, sizeof(pw), "%s", o.addr.password);
    if (ota_addr_parse(&o.addr, o.redis ? o.redis : "127.0.0.1:6379", err,
                       sizeof(err)) != 0)
    {
        return otactl_usage("%s", err);
    }
    if (o.addr.old_form) {
        char  buf[1200];

        fprintf(stderr, "otactl: warning: Redis address \"%s\": %s; write "
                "\"%s\"\n", o.redis, OTA_ADDR_OLD_FORM,
                ota_addr_str(&o.addr, buf, sizeof(buf)));
    }
    if (getenv("OTA_REDIS_PASSWORD") != NULL) {
        snprintf(o.addr.password, sizeof(o.addr.password), "%s",
                 getenv("OTA_REDIS_PASSWORD"));
    } else if (o.addr.password[0] == '\0') {
        snprintf(o.addr.password, sizeof(o.addr.password), "%s", pw);
    }

dispatch:

    if (n == 0) {
        fputs(otactl_usage_text, stderr);
        otactl_api_done(&o);
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
    } else if (strcmp(cmd, "config") == 0) {
        rc = otactl_config(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "key") == 0) {
        rc = otactl_key(&o, n - 1, rest + 1);
    } else if (strcmp(cmd, "product") == 0) {
        rc = otactl_product(&o, n - 1, rest + 1);
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
    otactl_api_done(&o);
    otactl_parse_free();
    return rc;
}
