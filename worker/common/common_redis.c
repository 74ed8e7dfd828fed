/* Redis connection, command building and pipelining, scripts */

#include "ota_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/sha.h>

int  ota_redis_read_timeout_ms = 30000;

int
ota_redis_addr_set(ota_addr_t *a, const char *v, char *err, size_t errlen,
    char *warn, size_t warnlen)
{
    ota_addr_t  n;
    char        buf[1200];

    warn[0] = '\0';
    if (ota_addr_parse(&n, v, err, errlen) != 0) {
        return -1;
    }
    if (n.old_form) {
        snprintf(warn, warnlen, "redis \"%s\": %s; write \"%s\"", v,
                 OTA_ADDR_OLD_FORM, ota_addr_str(&n, buf, sizeof(buf)));
    }
    if (n.password[0] == '\0') {
        memcpy(n.password, a->password, sizeof(n.password));
    }
    if (n.db == 0) {
        n.db = a->db;
    }
    *a = n;
    return 0;
}


const char *
ota_redis_addr_str(const ota_addr_t *a)
{
    static char  buf[1200];

    return ota_addr_str(a, buf, sizeof(buf));
}

static redisContext *ota_redis_connect_sentinel(const ota_addr_t *a,
    int timeout_ms, char *err, size_t errlen);


redisContext *
ota_redis_connect(const ota_addr_t *a, int timeout_ms, char *err,
    size_t errlen)
{
    redisContext    *rc;
    redisReply      *r;
    struct timeval   tv;

    if (a->nsentinels > 0) {
        return ota_redis_connect_sentinel(a, timeout_ms, err, errlen);
    }

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;

    rc = a->path[0] ? redisConnectUnixWithTimeout(a->path, tv)
                    : redisConnectWithTimeout(a->server.host, a->server.port,
                                              tv);
    if (rc == NULL) {
        snprintf(err, errlen, "out of memory connecting to Redis");
        return NULL;
    }
    if (rc->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s: %s",
                 ota_redis_addr_str(a), rc->errstr);
        redisFree(rc);
        return NULL;
    }

    /* the read timeout bounds every command, BLOCK included: callers keep
     * their blocking calls shorter than this */
    tv.tv_sec = ota_redis_read_timeout_ms / 1000;
    tv.tv_usec = (ota_redis_read_timeout_ms % 1000) * 1000;
    redisSetTimeout(rc, tv);

    if (a->password[0]) {
        r = redisCommand(rc, "AUTH %s", a->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis AUTH failed: %s",
                     r ? r->str : rc->errstr);
            freeReplyObject(r);
            redisFree(rc);
            return NULL;
        }
        freeReplyObject(r);
    }

    if (a->db) {
        r = redisCommand(rc, "SELECT %d", a->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "Redis SELECT %d failed: %s", a->db,
                     r ? r->str : rc->errstr);
            freeReplyObject(r);
            redisFree(rc);
            return NULL;
        }
        freeReplyObject(r);
    }

    return rc;
}

/*
 * Asks each sentinel in turn where the master is, connects there and checks
 * ROLE: during a failover a sentinel may still name the old master for a
 * moment, and writing to a replica would only fail later.
 */
static redisContext *
ota_redis_connect_sentinel(const ota_addr_t *a, int timeout_ms, char *err,
    size_t errlen)
{
    char           one[300];
    redisContext  *sc, *rc;
    redisReply    *r;
    ota_addr_t     s, m;
    int            i;

    snprintf(err, errlen, "no sentinel of %s answered",
             ota_redis_addr_str(a));

    for (i = 0; i < a->nsentinels; i++) {
        ota_addr_init(&s);
        s.server = a->sentinel[i];
        s.have_addr = 1;
        snprintf(one, sizeof(one), "%s", ota_redis_addr_str(&s));

        sc = ota_redis_connect(&s, timeout_ms, err, errlen);
        if (sc == NULL) {
            continue;
        }

        r = redisCommand(sc, "SENTINEL get-master-addr-by-name %s",
                         a->master);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_STRING)
        {
            snprintf(err, errlen, "sentinel %s does not know master \"%s\"",
                     one, a->master);
            freeReplyObject(r);
            redisFree(sc);
            continue;
        }

        m = *a;
        m.nsentinels = 0;
        snprintf(m.server.host, sizeof(m.server.host), "%s",
                 r->element[0]->str);
        m.server.port = atoi(r->element[1]->str);
        freeReplyObject(r);
        redisFree(sc);

        rc = ota_redis_connect(&m, timeout_ms, err, errlen);
        if (rc == NULL) {
            continue;
        }

        r = redisCommand(rc, "ROLE");
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0
            && r->element[0]->type == REDIS_REPLY_STRING
            && strcmp(r->element[0]->str, "master") == 0)
        {
            freeReplyObject(r);
            return rc;
        }

        snprintf(err, errlen, "%s:%d, named master by sentinel %s, is not "
                 "a master (yet)", m.server.host, m.server.port, one);
        freeReplyObject(r);
        redisFree(rc);
    }

    return NULL;
}

/* ---- commands ----------------------------------------------------------- */

void
ota_cmd_init(ota_cmd_t *c)
{
    memset(c, 0, sizeof(*c));
}

void
ota_cmd_reset(ota_cmd_t *c)
{
    c->len = 0;
    c->argc = 0;
    c->oom = 0;
}

void
ota_cmd_free(ota_cmd_t *c)
{
    free(c->buf);
    free(c->off);
    free(c->lens);
    ota_cmd_init(c);
}

void
ota_cmd_add(ota_cmd_t *c, const char *s, size_t len)
{
    size_t   ncap;
    int      nac;
    void    *p;

    if (c->oom) {
        return;
    }

    if (c->len + len + 1 > c->cap) {
        ncap = c->cap ? c->cap * 2 : 4096;
        while (ncap < c->len + len + 1) {
            ncap *= 2;
        }
        p = realloc(c->buf, ncap);
        if (p == NULL) {
            c->oom = 1;
            return;
        }
        c->buf = p;
        c->cap = ncap;
    }

    if (c->argc == c->argcap) {
        nac = c->argcap ? c->argcap * 2 : 64;
        p = realloc(c->off, nac * sizeof(size_t));
        if (p == NULL) {
            c->oom = 1;
            return;
        }
        c->off = p;
        p = realloc(c->lens, nac * sizeof(size_t));
        if (p == NULL) {
            c->oom = 1;
            return;
        }
        c->lens = p;
        c->argcap = nac;
    }

    memcpy(c->buf + c->len, s, len);
    c->buf[c->len + len] = '\0';
    c->off[c->argc] = c->len;
    c->lens[c->argc] = len;
    c->argc++;
    c->len += len + 1;
}

void
ota_cmd_adds(ota_cmd_t *c, const char *s)
{
    ota_cmd_add(c, s, strlen(s));
}

/* v in decimal at p, no terminator; returns the length.  The worker
 * formats several numbers per task and per argument: printf's machinery
 * was a tenth of its time. */
static size_t
ota_fmt_ull(char *p, unsigned long long v)
{
    char    t[24];
    size_t  n = 0, i;

    do {
        t[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (i = 0; i < n; i++) {
        p[i] = t[n - 1 - i];
    }
    return n;
}

size_t
ota_fmt_ll(char *p, long long v)
{
    if (v < 0) {
        *p = '-';
        return 1 + ota_fmt_ull(p + 1, 0ULL - (unsigned long long) v);
    }
    return ota_fmt_ull(p, (unsigned long long) v);
}

void
ota_cmd_addll(ota_cmd_t *c, long long v)
{
    char    b[OTA_FMT_LL_MAX];

    ota_cmd_add(c, b, ota_fmt_ll(b, v));
}

void
ota_cmd_addf(ota_cmd_t *c, const char *fmt, ...)
{
    char     b[1024];
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(b, sizeof(b), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(b)) {
        c->oom = 1;           /* keys are short: this is a bug, refuse */
        return;
    }
    ota_cmd_add(c, b, (size_t) n);
}

/* appends "*argc $len arg ..." as RESP, the npre words first and then
 * the arguments of c, in one buffer: hiredis's own formatting goes through
 * an sds per argument, a measurable share of the worker's time with
 * thousands of arguments per script call */
static int
ota_cmd_append_resp(redisContext *rc, int npre, const char **pre,
    ota_cmd_t *c)
{
    size_t   total, n;
    char    *buf, *p;
    int      i, argc, rv;

    if (c->oom || npre + c->argc == 0) {
        return -1;
    }
    argc = npre + c->argc;
    total = 16;                                 /* "*<argc>\r\n" */
    for (i = 0; i < npre; i++) {
        total += 32 + strlen(pre[i]);          /* "$<len>\r\n" arg "\r\n" */
    }
    total += (size_t) c->argc * 32 + c->len;
    buf = malloc(total);
    if (buf == NULL) {
        return -1;
    }
    p = buf;
    *p++ = '*';
    p += ota_fmt_ull(p, (unsigned long long) argc);
    *p++ = '\r';
    *p++ = '\n';
    for (i = 0; i < argc; i++) {
        const char *a = i < npre ? pre[i] : c->buf + c->off[i - npre];

        n = i < npre ? strlen(a) : c->lens[i - npre];
        *p++ = '$';
        p += ota_fmt_ull(p, (unsigned long long) n);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, a, n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    rv = redisAppendFormattedCommand(rc, buf, (size_t) (p - buf)) == REDIS_OK
         ? 0 : -1;
    free(buf);
    return rv;
}

int
ota_cmd_append(redisContext *rc, ota_cmd_t *c)
{
    return ota_cmd_append_resp(rc, 0, NULL, c);
}

redisReply *
ota_redis_reply(redisContext *rc)
{
    void  *r = NULL;

    if (redisGetReply(rc, &r) != REDIS_OK) {
        return NULL;
    }
    return r;
}

redisReply *
ota_cmd_exec(redisContext *rc, ota_cmd_t *c)
{
    if (ota_cmd_append(rc, c) != 0) {
        return NULL;
    }
    return ota_redis_reply(rc);
}

int
ota_reply_is_err(const redisReply *r)
{
    return r == NULL || r->type == REDIS_REPLY_ERROR;
}

const char *
ota_reply_str(const redisReply *r)
{
    if (r != NULL && (r->type == REDIS_REPLY_STRING
                      || r->type == REDIS_REPLY_STATUS
                      || r->type == REDIS_REPLY_ERROR))
    {
        return r->str;
    }
    return "";
}

long long
ota_reply_ll(const redisReply *r, long long dflt)
{
    char  *end;
    long long v;

    if (r == NULL) {
        return dflt;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        return r->integer;
    }
    if (r->type == REDIS_REPLY_STRING && r->len > 0) {
        v = strtoll(r->str, &end, 10);
        return *end == '\0' ? v : dflt;
    }
    return dflt;
}

/* the value of field name in a stream entry's field list, or NULL */
const char *
ota_entry_field(redisReply *fields, const char *name)
{
    size_t  i;

    if (fields == NULL || fields->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }
    for (i = 0; i + 1 < fields->elements; i += 2) {
        if (fields->element[i]->type == REDIS_REPLY_STRING
            && strcmp(fields->element[i]->str, name) == 0
            && fields->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            return fields->element[i + 1]->str;
        }
    }
    return NULL;
}

/* ---- scripts ------------------------------------------------------------- */

void
ota_script_init(ota_script_t *s)
{
    unsigned char  md[SHA_DIGEST_LENGTH];
    int            i;

    SHA1((const unsigned char *) s->src, strlen(s->src), md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        sprintf(s->sha + 2 * i, "%02x", md[i]);
    }
}

static int
ota_script_append_cmd(redisContext *rc, const char *verb, const char *body,
    ota_cmd_t *args)
{
    const char  *pre[3] = { verb, body, "0" };

    return ota_cmd_append_resp(rc, 3, pre, args);
}

int
ota_script_append(redisContext *rc, ota_script_t *s, ota_cmd_t *args)
{
    if (s->sha[0] == '\0') {
        ota_script_init(s);
    }
    return ota_script_append_cmd(rc, "EVALSHA", s->sha, args);
}

redisReply *
ota_script_reply(redisContext *rc, ota_script_t *s, ota_cmd_t *args)
{
    (void) s;
    (void) args;

    /* pipelined calls cannot fall back to EVAL in place: callers load the
     * scripts after each connect (ota_script_load), so NOSCRIPT here means
     * Redis restarted under us and the caller retries after reconnecting */
    return ota_redis_reply(rc);
}

redisReply *
ota_script_run(redisContext *rc, ota_script_t *s, ota_cmd_t *args)
{
    redisReply  *r;

    if (ota_script_append(rc, s, args) != 0) {
        return NULL;
    }
    r = ota_redis_reply(rc);
    if (r != NULL && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "NOSCRIPT", 8) == 0)
    {
        /* Redis restarted or flushed its script cache: EVAL loads it */
        freeReplyObject(r);
        if (ota_script_append_cmd(rc, "EVAL", s->src, args) != 0) {
            return NULL;
        }
        r = ota_redis_reply(rc);
    }
    return r;
}

int
ota_script_load(redisContext *rc, ota_script_t *s)
{
    redisReply  *r;
    int          rv;

    if (s->sha[0] == '\0') {
        ota_script_init(s);
    }
    r = redisCommand(rc, "SCRIPT LOAD %s", s->src);
    rv = (r != NULL && r->type == REDIS_REPLY_STRING
          && strcmp(r->str, s->sha) == 0) ? 0 : -1;
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ota_log(OTA_LOG_ERR, "script %s does not load: %s", s->name, r->str);
    }
    freeReplyObject(r);
    return rv;
}
