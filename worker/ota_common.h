/*
 * ota_common.h: what ota-worker and otactl share beyond include/: the Redis
 * connection (address parsing, connect, command building, pipelining),
 * the "key value" configuration file, time, logging and random ids.
 */

#ifndef OTA_COMMON_H
#define OTA_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

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

typedef struct {
    char  host[256];          /* IP or name; empty for a unix socket */
    int   port;
    char  path[256];          /* unix socket path */
    char  password[256];
    int   db;
    char  sentinels[512];     /* "IP:PORT,IP:PORT": ask them for master */
    char  master[128];        /* Sentinel master name */
} ota_redis_addr_t;

/* "HOST:PORT", "unix:/path" or "sentinel=IP:PORT[,IP:PORT...]/MASTER";
 * 0, or -1 with a reason in err */
int ota_redis_parse_addr(const char *s, ota_redis_addr_t *a, char *err,
    size_t errlen);

/* how long a command may wait for its answer on a connection made by
 * ota_redis_connect() (sentinel queries included); 30 s, the MQTT broker
 * plugin sets its short timeout here */
extern int  ota_redis_read_timeout_ms;

/* one attempt: connect (through the sentinels: the master they name, and
 * only if ROLE says it is one), AUTH, SELECT; NULL with a reason in err */
redisContext *ota_redis_connect(const ota_redis_addr_t *a, int timeout_ms,
    char *err, size_t errlen);

/* "127.0.0.1:6379" or "unix:/path" for messages */
const char *ota_redis_addr_str(const ota_redis_addr_t *a);

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

/* the value of a field in a stream entry's [field, value, ...] (NULL when
 * absent or not a string) */
const char *ota_entry_field(redisReply *fields, const char *name);

/* reply helpers: NULL-safe */
int ota_reply_is_err(const redisReply *r);
const char *ota_reply_str(const redisReply *r);     /* "" for nil */
long long ota_reply_ll(const redisReply *r, long long dflt);

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
