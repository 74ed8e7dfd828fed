/* otactl's Redis connection: made once, on the first command that needs
 * it; every failure printed as one line */

#include "otactl.h"

#include <stdarg.h>
#include <stdio.h>

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
