/*
 * otactl.h: the admin command line (docs/otactl.md).  Its files, each
 * calling only files below it:
 *
 *   otactl_main.c      global flags, environment, config file; dispatch
 *   otactl_device.c    device add|show|list, module add|list
 *   otactl_package.c   package add|show|list|diff, link
 *   otactl_sign.c      key gen, product set, package verify, signing
 *   otactl_batch.c     batch create|show|list|pause|resume|cancel
 *   otactl_stats.c     stats versions
 *   otactl_config.c    config show|set (the platform's settings)
 *   otactl_table.c     readable tables, and the --json/table end of lists
 *   otactl_cli.c       options and positionals of a command, refusals
 *   otactl_redis.c     the Redis connection and commands
 *   otactl_api.c       the admin API (--api URL --token T): HTTP client,
 *                      the API's refusals as otactl's
 *   otactl_format.c    JSON, sizes, times, rates
 *   otactl_lua.c       generated (build/gen/) from lua/lib/prelude.lua and
 *                      lua/admin/ (shared with the admin API)
 *
 * and below them worker/common/ (ota_common.h) and include/.
 */

#ifndef OTACTL_H
#define OTACTL_H

#include <stdio.h>

#include <jansson.h>

#include <openssl/evp.h>

#include "ota_common.h"
#include "ota_settings.h"
#include "ota_sign.h"
#include "ota_token.h"

#define OTACTL_MAX_POS   256
#define OTACTL_MAX_FILES  64            /* files of one package */

/* package diff refuses a delta larger than this fraction of the full file
 * (delta_max_ratio in the config file, --max-ratio) */
#define OTACTL_DEFAULT_DELTA_RATIO  0.9

typedef struct {
    ota_addr_t         addr;
    const char        *redis;          /* as given */
    const char        *store;
    const char        *config;
    int                json;
    int                wait;           /* seconds to wait for a worker */
    ota_settings_t     settings;       /* accepted extensions, size limit */
    unsigned           local;          /* OTA_SET_BIT_* given on this host
                                          (config file, environment): they
                                          win over the platform's */
    double             delta_max_ratio;  /* a delta's size / the full's */
    const char        *token_secret;
    redisContext      *rc;
    const char        *api;            /* --api / OTA_API: API mode */
    const char        *token;          /* --token / OTA_ADMIN_TOKEN */
    char              *api_base;       /* api without trailing slashes */
    void              *curl;           /* CURL *, kept: keep-alive */
} otactl_t;

enum { OTACTL_FLAG = 0, OTACTL_ARG, OTACTL_MULTI };

typedef struct {
    const char    *name;               /* without the leading "--" */
    int            kind;
    const char    *val;                /* last value; "1" for a flag */
    const char   **vals;               /* every value of OTACTL_MULTI */
    int            nvals;
} otactl_opt_t;

typedef struct {
    const char    *pos[OTACTL_MAX_POS];
    int            npos;
} otactl_pos_t;

/* exit codes */
#define OTACTL_OK        0
#define OTACTL_FAIL      1      /* refused: bad input, conflict, not found */
#define OTACTL_USAGE     2      /* unknown command or option */
#define OTACTL_UNAVAIL   3      /* Redis or the worker did not answer */

/* one line "otactl: ..." on stderr; returns OTACTL_FAIL */
int otactl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int otactl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* parses argv against opts (NULL name ends the list) into positionals */
int otactl_parse(int argc, char **argv, otactl_opt_t *opts,
    otactl_pos_t *pos, const char *cmd);
/* frees what otactl_parse() kept of repeated options (at exit) */
void otactl_parse_free(void);
const char *otactl_opt(otactl_opt_t *opts, const char *name);
otactl_opt_t *otactl_optp(otactl_opt_t *opts, const char *name);

/* connects once (lazily); on failure prints why and returns -1 */
int otactl_connect(otactl_t *o);

/* runs a command built by the caller; prints the error and returns NULL
 * when Redis failed (connection or error reply) */
redisReply *otactl_exec(otactl_t *o, ota_cmd_t *c);
redisReply *otactl_cmd(otactl_t *o, const char *fmt, ...);
redisReply *otactl_script(otactl_t *o, ota_script_t *s, ota_cmd_t *args);

/* ---- the admin API (otactl_api.c) --------------------------------------- */

/* a 404 is not printed: *out NULL, *status 404, for the caller to say what
 * direct mode says ("no batch X") */
#define OTACTL_API_404  1

typedef struct otactl_mime_s  otactl_mime_t;   /* curl_mime */

/* checks --api and --token, starts the client: OTACTL_OK or the exit code */
int otactl_api_init(otactl_t *o);
void otactl_api_done(otactl_t *o);

/* method on <api>/<path> with a JSON body (or NULL): OTACTL_OK with the
 * answer in *out (the caller's), or the refusal printed as otactl prints
 * its own and the exit code (1 refused, 3 unreachable or 503) */
int otactl_api(otactl_t *o, const char *method, const char *path,
    json_t *body, int flags, json_t **out, long *status);
int otactl_api_get(otactl_t *o, const char *path, int flags, json_t **out,
    long *status);
/* every item of a paged list into *all (a JSON array), at most max (0: all) */
int otactl_api_all(otactl_t *o, const char *path, const char *list,
    long long max, json_t **all);
/* percent-encoded (free with otactl_api_free), NULL on no memory */
char *otactl_api_esc(otactl_t *o, const char *s);
void otactl_api_free(void *p);

otactl_mime_t *otactl_mime_new(otactl_t *o);
int otactl_mime_field(otactl_mime_t *m, const char *name, const char *value);
int otactl_mime_file(otactl_mime_t *m, const char *path, const char *name);
int otactl_api_upload(otactl_t *o, const char *path, otactl_mime_t *m,
    json_t **out, long *status);
void otactl_mime_free(otactl_mime_t *m);

/* "<cmd> does not work over the admin API: <why>; ...": OTACTL_USAGE */
int otactl_api_local_only(const char *cmd, const char *why);

/* prints a JSON value on stdout and frees it */
void otactl_print_json(json_t *v);

/* "1.5 MB", "-" for negative */
const char *otactl_bytes(long long n, char *buf, size_t len);
/* "2024-01-02 03:04:05" of unix ms or s */
const char *otactl_time(long long t, char *buf, size_t len);
/* JSON value of a rate, null when undefined (< 0) */
json_t *otactl_rate_json(double r);
const char *otactl_rate_str(double r, char *buf, size_t len);

/* a product's modules (HKEYS: stride 1, HGETALL: stride 2) in the admin
 * API's order: "default" first, then by name */
void otactl_sort_modules(redisReply **el, size_t n, size_t stride);

/* free text given by an admin: printable, no control characters */
int otactl_text_ok(const char *s, size_t max);

/* ---- tables -------------------------------------------------------------- */

typedef struct {
    int       ncols, nrows, cap;
    char    **cells;
    int       oom;
} otactl_table_t;

void otactl_table_init(otactl_table_t *t, int ncols, ...);
void otactl_table_row(otactl_table_t *t, ...);
void otactl_table_print(otactl_table_t *t, FILE *f);
void otactl_table_free(otactl_table_t *t);
int otactl_list_print(otactl_t *o, json_t *ja, otactl_table_t *t);

/* ---- packages ------------------------------------------------------------ */

typedef struct {
    const char  *path;
    const char  *name;          /* base name */
    long long    size;
    long long    offset;
    char         sign[OTA_HEX_SHA256_LEN + 1];
    char         sha256[OTA_HEX_SHA256_LEN + 1];    /* for the manifest */
} otactl_file_t;

/* a package checked and ready to be stored (otactl_package.c: package
 * add, package diff) */
typedef struct {
    const char     *prod, *mod, *name, *type, *sign, *desc;
    const char     *ver, *from;         /* canonical; from "" for full */
    const char     *sign_key;           /* PEM file, or NULL */
    int             sign_later;         /* state unsigned with its manifest
                                         * (the worker's package diff) */
    const char     *base, *target;      /* package diff: the two packages */
    const EVP_MD   *md;
    int             verify, follow;
    json_t         *jext;
    otactl_file_t  *files;
    int             nfiles;
    long long       total;
} otactl_pkg_spec_t;

/* a package's signature in the making (otactl_sign.c) */
typedef struct {
    EVP_PKEY   *key;                    /* the admin's private key */
    char       *manifest;               /* base64 of the signed bytes */
    char        signature[OTA_B64_LEN(OTA_SIGN_LEN) + 1];
    char        key_id[OTA_SIGN_KEYID_LEN + 1];
} otactl_signed_t;

/* the product's signing policy against the key given (a PEM file, or
 * NULL): refused with the reason printed (-1), or 0 with sg->key read */
int otactl_sign_policy(otactl_t *o, const char *prod, const char *keyfile,
    otactl_signed_t *sg);
/* signs the manifest of package id (sp's files digested): 0 or -1; with
 * no sg->key only sg->manifest is made (sign_later) */
int otactl_sign_package(const char *id, const otactl_pkg_spec_t *sp,
    otactl_signed_t *sg);
void otactl_signed_free(otactl_signed_t *sg);
/* over the API: signs package id (uploaded with sign_later) with
 * sp->sign_key, the manifest checked against the local files first:
 * OTACTL_OK with POST .../signature's answer in *out, or the exit code */
int otactl_api_sign_package(otactl_t *o, otactl_pkg_spec_t *sp,
    const char *id, json_t **out);

/* reads a whole small file (at most max bytes) into *buf (malloc'd,
 * NUL-terminated): 0, or -1 with the reason printed */
int otactl_read_small(const char *path, size_t max, char **buf, size_t *len);

/* ---- commands ------------------------------------------------------------ */

int otactl_device(otactl_t *o, int argc, char **argv);
int otactl_module(otactl_t *o, int argc, char **argv);
int otactl_package(otactl_t *o, int argc, char **argv);
int otactl_batch(otactl_t *o, int argc, char **argv);
int otactl_stats(otactl_t *o, int argc, char **argv);
int otactl_key(otactl_t *o, int argc, char **argv);
int otactl_product(otactl_t *o, int argc, char **argv);
int otactl_package_verify(otactl_t *o, int argc, char **argv);

int otactl_link(otactl_t *o, int argc, char **argv);
int otactl_config(otactl_t *o, int argc, char **argv);

/* the platform's settings from Redis into o->settings, except those this
 * host sets itself (o->local); 0, or -1 when Redis failed (printed) */
int otactl_settings_load(otactl_t *o);

/* appends an entry to the audit stream (token "otactl"): action OTA_ACT_*,
 * result NULL for ok; a failure is only warned about */
void otactl_audit(otactl_t *o, const char *action, const char *object,
    int status, const char *result);

#endif /* OTACTL_H */
