/*
 * otactl.h: the admin command line (docs/otactl.md).  Its files, each
 * calling only files below it:
 *
 *   otactl_main.c      global flags, environment, config file; dispatch
 *   otactl_device.c    device add|show|list, module add|list
 *   otactl_package.c   package add|show|list, link
 *   otactl_batch.c     batch create|show|list|pause|resume|cancel
 *   otactl_stats.c     stats versions
 *   otactl_config.c    config show|set (the platform's settings)
 *   otactl_table.c     readable tables, and the --json/table end of lists
 *   otactl_cli.c       options and positionals of a command, refusals
 *   otactl_redis.c     the Redis connection and commands
 *   otactl_format.c    JSON, sizes, times, rates
 *   otactl_lua.c       generated (build/gen/) from lua/lib/prelude.lua and
 *                      lua/otactl/
 *
 * and below them worker/common/ (ota_common.h) and include/.
 */

#ifndef OTACTL_H
#define OTACTL_H

#include <stdio.h>

#include <jansson.h>

#include "ota_common.h"
#include "ota_settings.h"

#define OTACTL_MAX_POS   256

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
    const char        *token_secret;
    redisContext      *rc;
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

/* prints a JSON value on stdout and frees it */
void otactl_print_json(json_t *v);

/* "1.5 MB", "-" for negative */
const char *otactl_bytes(long long n, char *buf, size_t len);
/* "2024-01-02 03:04:05" of unix ms or s */
const char *otactl_time(long long t, char *buf, size_t len);
/* JSON value of a rate, null when undefined (< 0) */
json_t *otactl_rate_json(double r);
const char *otactl_rate_str(double r, char *buf, size_t len);

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

/* ---- commands ------------------------------------------------------------ */

int otactl_device(otactl_t *o, int argc, char **argv);
int otactl_module(otactl_t *o, int argc, char **argv);
int otactl_package(otactl_t *o, int argc, char **argv);
int otactl_batch(otactl_t *o, int argc, char **argv);
int otactl_stats(otactl_t *o, int argc, char **argv);
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
