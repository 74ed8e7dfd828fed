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

#include "mqtt_lua.h"
#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"


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
        b->script.src = mqtt_lua_bridge;
        b->trim.name = "notices_trim.lua";
        b->trim.src = mqtt_lua_notices_trim;
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
        if (op->fast) {
            continue;
        }
        kind[0] = op->kind;
        kind[1] = '\0';
        if (op->kind != 'o' && op->kind != 'q') {
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


/* bridge.lua over ops; its answer, or NULL (Redis then counts as lost) */
static redisReply *
ota_bridge_script_round(ota_bridge_t *b, ota_cmd_t *c, ota_bridge_ops_t *ops)
{
    redisReply  *r;

    if (ota_bridge_script_ops(b, c, ops) != 0) {
        ota_bridge_redis_lost(b, "out of memory");
        return NULL;
    }

    r = ota_redis_reply(b->rc);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        ota_bridge_redis_lost(b, r ? (r->type == REDIS_REPLY_ERROR ? r->str
                                      : "unexpected answer of bridge.lua")
                                   : b->rc->errstr);
        freeReplyObject(r);
        return NULL;
    }

    return r;
}


/*
 * A report of a device and module Redis confirmed less than a minute ago
 * is appended as is, without bridge.lua: its XADD, and for an inform the
 * HGET of the device's open task of the module (an open task means a
 * lookup of its offer, bridge.lua 'q', in the same round).  Speed:
 * bridge.lua spent about 6 us of Lua per report around its 2.4 us XADD
 * (INFO commandstats, bench/README.md "MQTT").
 */
static int
ota_bridge_fast_cmds(ota_bridge_t *b, int64_t now)
{
    int                  i, n;
    char                 key[128];
    ota_event_t          e;
    ota_event_fields_t   f;
    ota_bridge_op_t     *op;

    n = 0;

    for (i = 0; i < b->reports.n; i++) {
        op = &b->reports.op[i];
        op->fast = ota_bridge_fast(b, op, now);
        if (!op->fast) {
            continue;
        }

        memset(&f, 0, sizeof(f));
        f.type = op->kind == 'i' ? OTA_EV_INFORM : OTA_EV_PROGRESS;
        f.ts = now;
        f.device = ota_event_cstr(op->device);
        f.product = ota_event_cstr(op->product);
        f.module = ota_event_cstr(op->module);
        if (op->kind == 'i') {
            f.version = ota_event_cstr(op->a);
        } else {
            f.step = atoi(op->a);           /* -4..100, checked on receipt */
            f.desc = ota_event_cstr(op->desc);
        }
        if (ota_event_encode(&e, &f) != 0
            || redisAppendCommandArgv(b->rc, e.argc, e.argv, e.argvlen)
               != REDIS_OK)
        {
            return -1;
        }
        n++;

        if (op->kind == 'i') {
            snprintf(key, sizeof(key), OTA_KEY_DEVICE_OPEN, op->device);
            redisAppendCommand(b->rc, "HGET %s %s", key, op->module);
            n++;
        }
    }

    return n;
}


/* the answers of the fast reports: 0, or -1 when one was refused */
static int
ota_bridge_fast_done(ota_bridge_t *b, redisReply **rep)
{
    int               i, k;
    ota_bridge_op_t  *op, *f;

    k = 0;

    for (i = 0; i < b->reports.n; i++) {
        op = &b->reports.op[i];
        if (!op->fast) {
            continue;
        }

        if (rep[k++]->type != REDIS_REPLY_STRING) {
            return -1;
        }

        if (op->kind == 'i' && rep[k++]->type == REDIS_REPLY_STRING) {
            f = ota_bridge_ops_add(&b->followups);
            if (f != NULL) {
                *f = *op;
                f->kind = 'q';
                f->fast = 0;
                f->desc = NULL;
                f->id = NULL;
            }
        }
    }

    return 0;
}


/* the offers of the informs stored the fast way that have an open task
 * (a failure drops them: the device gets its offer with its next inform
 * or firmware/get; nothing to store is lost) */
static int
ota_bridge_followup_round(ota_bridge_t *b, ota_cmd_t *c)
{
    redisReply  *r;

    r = ota_bridge_script_round(b, c, &b->followups);
    if (r != NULL) {
        ota_bridge_followups_done(b, r);
        freeReplyObject(r);
    }

    ota_bridge_ops_clear(&b->followups);

    return r != NULL ? 0 : -1;
}


/* the notices read in this round, looked up and published */
static int
ota_bridge_notice_round(ota_bridge_t *b, ota_cmd_t *c)
{
    redisReply  *r;

    r = ota_bridge_script_round(b, c, &b->notices);
    if (r == NULL) {
        return -1;
    }

    ota_bridge_notices_done(b, r);
    freeReplyObject(r);

    return 0;
}


static int
ota_bridge_round_failed(ota_bridge_t *b, redisReply **rep, int n,
    ota_cmd_t *c, const char *why)
{
    char  msg[256];

    /* why may point into a reply */
    snprintf(msg, sizeof(msg), "%s", why);
    ota_bridge_free_replies(rep, n);
    ota_cmd_free(c);
    ota_bridge_ops_clear(&b->followups);
    ota_bridge_redis_lost(b, msg);

    return -1;
}


int
ota_bridge_round(ota_bridge_t *b)
{
    int           i, n, script_at, fast_at, nfast, acks, notice_at, rc;
    int64_t       now;
    ota_cmd_t     c;
    redisReply  **rep;

    ota_cmd_init(&c);
    now = ota_now_ms();

    n = ota_bridge_counters(b);
    script_at = -1;
    acks = 0;

    fast_at = n;
    nfast = b->reports.n > 0 ? ota_bridge_fast_cmds(b, now) : 0;
    if (nfast < 0) {
        return ota_bridge_round_failed(b, NULL, 0, &c, "out of memory");
    }
    n += nfast;

    for (i = 0; i < b->reports.n; i++) {
        if (!b->reports.op[i].fast) {
            if (ota_bridge_script_ops(b, &c, &b->reports) != 0) {
                return ota_bridge_round_failed(b, NULL, 0, &c,
                                               "out of memory");
            }
            script_at = n++;
            break;
        }
    }

    if (b->ndone > 0 || b->nacks > 0) {
        ota_bridge_notice_acks(b, b->rc, &n);
        acks = 1;
    }

    notice_at = n;
    ota_bridge_notice_request(b, &n, now);

    rep = calloc((size_t) (n ? n : 1), sizeof(redisReply *));
    if (rep == NULL) {
        return ota_bridge_round_failed(b, NULL, 0, &c, "out of memory");
    }

    for (i = 0; i < n; i++) {
        rep[i] = ota_redis_reply(b->rc);
        if (rep[i] == NULL) {
            return ota_bridge_round_failed(b, rep, i, &c, b->rc->errstr);
        }
    }

    if (script_at >= 0 && rep[script_at]->type != REDIS_REPLY_ARRAY) {
        return ota_bridge_round_failed(b, rep, n, &c,
                                       rep[script_at]->type
                                       == REDIS_REPLY_ERROR
                                       ? rep[script_at]->str
                                       : "unexpected answer of bridge.lua");
    }

    if (nfast > 0 && ota_bridge_fast_done(b, rep + fast_at) != 0) {
        return ota_bridge_round_failed(b, rep, n, &c,
                                       "Redis refused a report's XADD");
    }

    /* stored: the counters are Redis's now */
    memset(b->dropped, 0, sizeof(b->dropped));
    memset(b->handled, 0, sizeof(b->handled));

    if (script_at >= 0) {
        ota_bridge_reports_done(b, rep[script_at]);
    }
    ota_bridge_ops_clear(&b->reports);

    if (acks) {
        ota_bridge_notice_acks_done(b);
    }

    for (i = notice_at; i < n; i++) {
        (void) ota_bridge_notice_reply(b, i - notice_at, rep[i]);
    }

    ota_bridge_free_replies(rep, n);

    ota_bridge_notices_retry(b, ota_now_ms());

    rc = 0;
    if (b->followups.n > 0) {
        rc = ota_bridge_followup_round(b, &c);
    }
    if (rc == 0 && b->notices.n > 0) {
        rc = ota_bridge_notice_round(b, &c);
    }

    ota_cmd_free(&c);

    return rc;
}
