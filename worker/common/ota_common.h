/*
 * ota_common.h: what ota-worker and otactl share beyond include/:
 *
 *   common_redis.c   connecting (the address itself: include/ota_addr.h;
 *                    Sentinel, AUTH, SELECT), commands built in one buffer
 *                    and pipelined, reply helpers, scripts (EVALSHA with
 *                    EVAL when Redis forgot them)
 *   common_arena.c   big replies read into an arena
 *   common_util.c    time, random ids, logging, the "key value" config file
 */

#ifndef OTA_COMMON_H
#define OTA_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "ota_addr.h"

/* ---- time, randomness, logging ---------------------------------------- */

int64_t ota_now_ms(void);

/* n random bytes as 2n hex chars into out (2n+1 bytes); 0 or -1 */
int ota_random_hex(char *out, size_t n);

enum { OTA_LOG_ERR = 0, OTA_LOG_WARN, OTA_LOG_INFO, OTA_LOG_DEBUG };

extern int  ota_log_level;
extern const char  *ota_log_name;

void ota_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- configuration file ------------------------------------------------
 * "key value" or "key = value" per line, '#' starts a comment.  The
 * callback returns 0, or -1 with a message in err to refuse a line. */

typedef int (*ota_config_cb)(void *ctx, const char *key, const char *value,
    char *err, size_t errlen);

int ota_config_load(const char *path, ota_config_cb cb, void *ctx, char *err,
    size_t errlen);

/* a setting's integer in min..max: 0, or -1 with the reason in err */
int ota_config_int(const char *name, const char *v, long min, long max,
    int *out, char *err, size_t errlen);

/* "error", "warn", "info" or "debug" into ota_log_level: 0, or -1 */
int ota_log_level_set(const char *v, char *err, size_t errlen);

/* ---- Redis ------------------------------------------------------------- */

/* The "redis" setting of a program (flag or config file line): v, in the
 * one address syntax, into *a; a password or db set before (by the
 * redis_password and redis_db settings) is kept when v names none.  0, or
 * -1 with the reason in err.  warn gets "" or, for the earlier Sentinel
 * form, what to write instead. */
int ota_redis_addr_set(ota_addr_t *a, const char *v, char *err,
    size_t errlen, char *warn, size_t warnlen);

/* how long a command may wait for its answer on a connection made by
 * ota_redis_connect() (sentinel queries included); 30 s, the MQTT broker
 * plugin sets its short timeout here */
extern int  ota_redis_read_timeout_ms;

/* one attempt: connect (through the sentinels: the master they name, and
 * only if ROLE says it is one), AUTH, SELECT; NULL with a reason in err */
redisContext *ota_redis_connect(const ota_addr_t *a, int timeout_ms,
    char *err, size_t errlen);

/* where Redis is, for messages (ota_addr_str; one static buffer) */
const char *ota_redis_addr_str(const ota_addr_t *a);

/* A command under construction: arguments are copied into one buffer so a
 * pipeline of thousands of arguments costs a few allocations.  An
 * allocation failure is remembered and reported when the command is sent. */
typedef struct {
    char     *buf;
    size_t    len, cap;
    size_t   *off;            /* argument i starts at buf + off[i] */
    size_t   *lens;
    int       argc, argcap;
    int       oom;
} ota_cmd_t;

void ota_cmd_init(ota_cmd_t *c);
void ota_cmd_reset(ota_cmd_t *c);
void ota_cmd_free(ota_cmd_t *c);
void ota_cmd_add(ota_cmd_t *c, const char *s, size_t len);
void ota_cmd_adds(ota_cmd_t *c, const char *s);
void ota_cmd_addll(ota_cmd_t *c, long long v);

/* v in decimal at p (at least OTA_FMT_LL_MAX bytes), no terminator;
 * returns the length.  By hand: the worker formats several numbers per
 * task, and printf's machinery was a tenth of its time. */
#define OTA_FMT_LL_MAX  24
size_t ota_fmt_ll(char *p, long long v);
void ota_cmd_addf(ota_cmd_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* appends to the context's output buffer (pipelining); 0 or -1 */
int ota_cmd_append(redisContext *rc, ota_cmd_t *c);

/* sends and reads one reply; NULL on a connection or memory error */
redisReply *ota_cmd_exec(redisContext *rc, ota_cmd_t *c);

/* reads the next pipelined reply; NULL on a connection error */
redisReply *ota_redis_reply(redisContext *rc);

/* ---- replies in an arena (common_arena.c) -------------------------------
 * For the big replies of the hot path: no malloc and free per object.  A
 * reply read with ota_arena_reply() must not be given to freeReplyObject();
 * it lives until the arena is released to a mark taken before the read. */

typedef struct ota_arena_blk_s ota_arena_blk_t;

typedef struct {
    ota_arena_blk_t  *first, *cur;
} ota_arena_t;

typedef struct {
    ota_arena_blk_t  *blk;
    size_t            used;
} ota_arena_mark_t;

ota_arena_mark_t ota_arena_mark(ota_arena_t *a);
void ota_arena_release(ota_arena_t *a, ota_arena_mark_t m);
void ota_arena_free(ota_arena_t *a);

/* reads the next reply (of a command appended before) into a; NULL on a
 * connection error */
redisReply *ota_arena_reply(redisContext *rc, ota_arena_t *a);

/* reply helpers: NULL-safe */
int ota_reply_is_err(const redisReply *r);
const char *ota_reply_str(const redisReply *r);     /* "" for nil */
long long ota_reply_ll(const redisReply *r, long long dflt);

/* the value of a field in a stream entry's [field, value, ...] list, or
 * NULL */
const char *ota_entry_field(redisReply *fields, const char *name);

/* ---- scripts ------------------------------------------------------------
 * EVALSHA with a fallback to SCRIPT LOAD when Redis forgot the script (a
 * restart), so callers never care. */

typedef struct {
    const char  *name;
    const char  *src;
    char         sha[41];
} ota_script_t;

/* appends EVALSHA sha 0 <args of c> to the pipeline; the caller then reads
 * the reply with ota_script_reply() */
int ota_script_append(redisContext *rc, ota_script_t *s, ota_cmd_t *args);
redisReply *ota_script_reply(redisContext *rc, ota_script_t *s,
    ota_cmd_t *args);

/* both steps for one call */
redisReply *ota_script_run(redisContext *rc, ota_script_t *s,
    ota_cmd_t *args);

/* computes the sha1 of the source (no round trip) */
void ota_script_init(ota_script_t *s);

/* SCRIPT LOAD after each connect, so pipelined EVALSHA never misses */
int ota_script_load(redisContext *rc, ota_script_t *s);

#endif /* OTA_COMMON_H */
