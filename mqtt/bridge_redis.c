/*
 * bridge_redis.c: the bridge's Redis connection and the round trip of a
 * pass.
 *
 * One round trip (one pipeline) per pass: the counters, bridge.lua with
 * every report and firmware/get of the pass, the acknowledgements of the
 * notices the broker took, the next read of the notices stream; a second
 * one only when notices were read (bridge.lua looks them up).  Speed:
 * a pass of 1000 messages costs Redis one script call instead of a few
 * thousand commands and round trips (bench/README.md, "MQTT").
 *
 * Redis away: the pass stays in hand (and its PUBACKs unsent, so the
 * broker keeps the messages), the bridge retries with a growing delay
 * (100 ms .. 5 s) and logs once.  A round that failed half-way is done
 * again whole: its events may be appended twice, which the worker's
 * absolute-value events make harmless.
 */

#include "ota_mqtt_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_lua.h"
#include "ota_mqtt_lua.h"


/* the names bridge.lua needs beyond the worker's prelude */
#define OTA_BRIDGE_LUA_PRELUDE                                               \
    OTA_LUA_PRELUDE                                                          \
    "local K_MQTT_DROPPED='" OTA_KEY_MQTT_DROPPED "'\n"                      \
    "local F_TYPE, F_TS='" OTA_F_TYPE "', '" OTA_F_TS "'\n"                  \
    "local F_DEVICE, F_PRODUCT='" OTA_F_DEVICE "', '" OTA_F_PRODUCT "'\n"    \
    "local F_MODULE, F_VERSION='" OTA_F_MODULE "', '" OTA_F_VERSION "'\n"    \
    "local F_STEP, F_DESC='" OTA_F_STEP "', '" OTA_F_DESC "'\n"              \
    "local F_BATCH, F_PACKAGE='" OTA_F_BATCH "', '" OTA_F_PACKAGE "'\n"      \
    "local EV_INFORM, EV_PROGRESS='" OTA_EV_INFORM "', '" OTA_EV_PROGRESS    \
        "'\n"                                                                \
    "local EV_NOTIFIED='" OTA_EV_NOTIFIED "'\n"

static const char  ota_bridge_lua[] =
    OTA_BRIDGE_LUA_PRELUDE OTA_MQTT_LUA_BRIDGE;

static const char  ota_bridge_trim_lua[] =
    OTA_BRIDGE_LUA_PRELUDE OTA_MQTT_LUA_NOTICES_TRIM;


void
ota_bridge_redis_lost(ota_bridge_t *b, const char *why)
{
    if (b->rc != NULL) {
        redisFree(b->rc);
        b->rc = NULL;
    }

    if (!b->redis_down) {
        ota_log(OTA_LOG_WARN, "Redis at %s: %s; retrying (the messages in "
                "hand wait, unacknowledged)", ota_redis_addr_str(&b->addr),
                why);
        b->redis_down = 1;
    }

    b->redis_next_try = ota_now_ms() + b->redis_delay;
    b->redis_delay = b->redis_delay * 2 > 5000 ? 5000 : b->redis_delay * 2;

    /* notices read but not published are pending on us: read them again */
    ota_bridge_ops_clear(&b->notices);
    ota_bridge_ops_clear(&b->waiting);
}


int
ota_bridge_redis_ready(ota_bridge_t *b)
{
    char  err[512];

    if (b->rc != NULL && b->rc->err == 0) {
        return 0;
    }

    if (b->rc != NULL) {
        ota_bridge_redis_lost(b, b->rc->errstr);
    }

    if (ota_now_ms() < b->redis_next_try) {
        return -1;
    }

    if (b->script.src == NULL) {
        b->script.name = "bridge.lua";
        b->script.src = ota_bridge_lua;
        b->trim.name = "notices_trim.lua";
        b->trim.src = ota_bridge_trim_lua;
        b->redis_delay = 100;
    }

    b->rc = ota_redis_connect(&b->addr, 2000, err, sizeof(err));

    if (b->rc == NULL || ota_script_load(b->rc, &b->script) != 0
        || ota_script_load(b->rc, &b->trim) != 0)
    {
        ota_bridge_redis_lost(b, b->rc ? "cannot load the scripts" : err);
        return -1;
    }

    if (b->redis_down) {
        ota_log(OTA_LOG_INFO, "connected to Redis at %s again",
                ota_redis_addr_str(&b->addr));
    }

    b->redis_down = 0;
    b->redis_delay = 100;

    /* the group may be gone (a flushed Redis); our own pending entries
     * are read again: we may have lost their publishes */
    b->group_ready = 0;
    strcpy(b->own_cursor, "0");
    strcpy(b->claim_cursor, "0-0");
    b->next_read = 0;
    b->next_claim = ota_now_ms() + b->claim_idle / 2;

    return 0;
}


/* EVALSHA bridge.lua now <kind device product module a b>... */
int
ota_bridge_script_ops(ota_bridge_t *b, ota_cmd_t *c, ota_bridge_ops_t *ops)
{
    int               i;
    char              kind[2];
    int64_t           now;
    ota_bridge_op_t  *op;

    now = ota_now_ms();
    ota_cmd_reset(c);
    ota_cmd_addll(c, now);

    for (i = 0; i < ops->n; i++) {
        op = &ops->op[i];
        kind[0] = op->kind;
        kind[1] = '\0';
        if (op->kind != 'o') {
            const char *prod = ota_lcache_get(b->known, op->device,
                                              strlen(op->device), now);

            if (prod != NULL && strcmp(prod, op->product) == 0) {
                kind[0] = (char) (op->kind - 'a' + 'A');    /* trusted */
            }
        }
        ota_cmd_adds(c, kind);
        ota_cmd_adds(c, op->device);
        ota_cmd_adds(c, op->product);
        ota_cmd_adds(c, op->module);
        ota_cmd_adds(c, op->a);
        ota_cmd_adds(c, op->desc ? op->desc : "");
    }

    return ota_script_append(b->rc, &b->script, c);
}


/* appends HINCRBY key name[i] count[i] of every count that moved;
 * returns how many */
static int
ota_bridge_hincr(ota_bridge_t *b, const char *key, const char **names,
    const long *counts, int n)
{
    int  i, cmds;

    for (i = 0, cmds = 0; i < n; i++) {
        if (counts[i]) {
            redisAppendCommand(b->rc, "HINCRBY %s %s %ld", key, names[i],
                               counts[i]);
            cmds++;
        }
    }

    return cmds;
}


static int
ota_bridge_counters(ota_bridge_t *b)
{
    return ota_bridge_hincr(b, OTA_KEY_MQTT_DROPPED, ota_drop_names,
                            b->dropped, OTA_DROP_COUNT)
           + ota_bridge_hincr(b, OTA_KEY_MQTT_HANDLED, ota_kind_names,
                              b->handled, OTA_KIND_COUNT);
}


static void
ota_bridge_free_replies(redisReply **rep, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        freeReplyObject(rep[i]);
    }
    free(rep);
}


/* the notices read in this round, looked up and published */
static int
ota_bridge_notice_round(ota_bridge_t *b, ota_cmd_t *c)
{
    redisReply  *r;

    if (ota_bridge_script_ops(b, c, &b->notices) != 0) {
        ota_bridge_redis_lost(b, "out of memory");
        return -1;
    }

    r = ota_redis_reply(b->rc);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        ota_bridge_redis_lost(b, r ? (r->type == REDIS_REPLY_ERROR ? r->str
                                      : "unexpected answer of bridge.lua")
                                   : b->rc->errstr);
        freeReplyObject(r);
        return -1;
    }

    ota_bridge_notices_done(b, r);
    freeReplyObject(r);

    return 0;
}


int
ota_bridge_round(ota_bridge_t *b)
{
    int           i, n, script_at, acks, notice_at, rc;
    char          why[256];
    ota_cmd_t     c;
    redisReply  **rep;

    ota_cmd_init(&c);

    n = ota_bridge_counters(b);
    script_at = -1;
    acks = 0;

    if (b->reports.n > 0) {
        if (ota_bridge_script_ops(b, &c, &b->reports) != 0) {
            ota_cmd_free(&c);
            ota_bridge_redis_lost(b, "out of memory");
            return -1;
        }
        script_at = n++;
    }

    if (b->ndone > 0 || b->nacks > 0) {
        ota_bridge_notice_acks(b, b->rc, &n);
        acks = 1;
    }

    notice_at = n;
    ota_bridge_notice_request(b, &n, ota_now_ms());

    rep = calloc((size_t) (n ? n : 1), sizeof(redisReply *));
    if (rep == NULL) {
        ota_cmd_free(&c);
        ota_bridge_redis_lost(b, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        rep[i] = ota_redis_reply(b->rc);
        if (rep[i] == NULL) {
            snprintf(why, sizeof(why), "%s", b->rc->errstr);
            ota_bridge_free_replies(rep, i);
            ota_cmd_free(&c);
            ota_bridge_redis_lost(b, why);
            return -1;
        }
    }

    if (script_at >= 0 && rep[script_at]->type != REDIS_REPLY_ARRAY) {
        snprintf(why, sizeof(why), "bridge.lua: %s",
                 rep[script_at]->type == REDIS_REPLY_ERROR
                 ? rep[script_at]->str : "unexpected answer");
        ota_bridge_free_replies(rep, n);
        ota_cmd_free(&c);
        ota_bridge_redis_lost(b, why);
        return -1;
    }

    /* stored: the counters are Redis's now */
    memset(b->dropped, 0, sizeof(b->dropped));
    memset(b->handled, 0, sizeof(b->handled));

    if (script_at >= 0) {
        ota_bridge_reports_done(b, rep[script_at]);
        ota_bridge_ops_clear(&b->reports);
    }

    if (acks) {
        ota_bridge_notice_acks_done(b);
    }

    for (i = notice_at; i < n; i++) {
        (void) ota_bridge_notice_reply(b, i - notice_at, rep[i]);
    }

    ota_bridge_free_replies(rep, n);

    ota_bridge_notices_retry(b, ota_now_ms());

    rc = 0;
    if (b->notices.n > 0) {
        rc = ota_bridge_notice_round(b, &c);
    }

    ota_cmd_free(&c);

    return rc;
}
