/*
 * bridge_notice.c: the notices stream ota:notices (the worker appends one
 * entry per task of an active-push batch, ota_keys.h), read by every bridge
 * in the group ota-bridges:
 *
 *   start, reconnect   XGROUP CREATE ... 0 MKSTREAM (the worker appends
 *                      only once the stream exists), then this consumer's
 *                      own pending entries (a previous run's) from 0
 *   every 100 ms       XREADGROUP ... > (at once again after a full read),
 *                      while fewer than 10000 publishes are unacknowledged
 *   every claim_idle/2 XAUTOCLAIM of entries idle for claim_idle: those of a
 *                      bridge that died
 *   every 5 s          notices_trim.lua: drop what every group acknowledged
 *
 * An entry is looked up (bridge.lua 'o': the task still open in a running
 * batch) and published to the device with QoS 1; when the broker
 * acknowledges the publish, the entry is acknowledged (XACK) and, for a
 * task still pending, the 'notified' event appended, in the next round
 * trip.  A bridge that dies before leaves the entry pending: its restart
 * or another bridge publishes it again (at least once).
 */

#include "ota_mqtt_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"


#define OTA_NOTICE_COUNT   256          /* entries per read */

enum {
    OTA_NREQ_GROUP = 0,
    OTA_NREQ_TRIM,
    OTA_NREQ_OWN,
    OTA_NREQ_CLAIM,
    OTA_NREQ_READ
};


int
ota_bridge_notice_due(ota_bridge_t *b, int64_t now)
{
    if (!b->mqtt_up || b->leave) {
        return 0;
    }

    if (b->waiting.n > 0 && now >= b->waiting_at) {
        return 1;
    }

    if (b->outstanding + b->waiting.n >= b->outstanding_max) {
        return 0;
    }

    return !b->group_ready || b->own_cursor[0] || now >= b->next_read
           || now >= b->next_claim || now >= b->next_trim;
}


void
ota_bridge_notice_request(ota_bridge_t *b, int *n, int64_t now)
{
    char  idle[24];

    b->nreq = 0;

    if (!ota_bridge_notice_due(b, now)
        || b->outstanding + b->waiting.n >= b->outstanding_max)
    {
        return;
    }

#define req(kind)  b->req[b->nreq++] = kind; (*n)++

    if (!b->group_ready) {
        redisAppendCommand(b->rc, "XGROUP CREATE %s %s 0 MKSTREAM",
                           OTA_STREAM_NOTICES, OTA_GROUP_BRIDGES);
        req(OTA_NREQ_GROUP);
    }

    if (now >= b->next_trim) {
        ota_cmd_t  none;

        ota_cmd_init(&none);
        ota_script_append(b->rc, &b->trim, &none);
        req(OTA_NREQ_TRIM);
        b->next_trim = now + 5000;
    }

    if (b->own_cursor[0]) {
        redisAppendCommand(b->rc, "XREADGROUP GROUP %s %s COUNT %d STREAMS "
                           "%s %s", OTA_GROUP_BRIDGES, b->consumer,
                           OTA_NOTICE_COUNT, OTA_STREAM_NOTICES,
                           b->own_cursor);
        req(OTA_NREQ_OWN);

    } else if (now >= b->next_claim) {
        snprintf(idle, sizeof(idle), "%d", b->claim_idle);
        redisAppendCommand(b->rc, "XAUTOCLAIM %s %s %s %s %s COUNT %d",
                           OTA_STREAM_NOTICES, OTA_GROUP_BRIDGES, b->consumer,
                           idle, b->claim_cursor, OTA_NOTICE_COUNT);
        req(OTA_NREQ_CLAIM);

    } else if (now >= b->next_read) {
        redisAppendCommand(b->rc, "XREADGROUP GROUP %s %s COUNT %d STREAMS "
                           "%s >", OTA_GROUP_BRIDGES, b->consumer,
                           OTA_NOTICE_COUNT, OTA_STREAM_NOTICES);
        req(OTA_NREQ_READ);
    }

#undef req
}


/* an entry published and not yet acknowledged by the broker, or waiting
 * for its batch */
static int
ota_bridge_in_flight(ota_bridge_t *b, const char *id)
{
    int  i, seen;

    for (i = 0; i < b->waiting.n; i++) {
        if (strcmp(b->waiting.op[i].stream_id, id) == 0) {
            return 1;
        }
    }

    for (i = 0, seen = 0; i < OTA_BRIDGE_MIDS && seen < b->outstanding; i++) {
        if (b->sent[i] != NULL) {
            seen++;
            if (strcmp(b->sent[i]->stream_id, id) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* entries [[id, [field, value, ...]], ...] -> notice operations; the
 * last id, or NULL */
static const char *
ota_bridge_entries(ota_bridge_t *b, redisReply *list, int claimed)
{
    size_t            i;
    const char       *dev, *prod, *mod, *batch, *last;
    redisReply       *e;
    ota_bridge_op_t  *op;

    last = NULL;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    for (i = 0; i < list->elements; i++) {
        e = list->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len >= OTA_BRIDGE_ID_MAX)
        {
            continue;
        }

        last = e->element[0]->str;

        if (claimed && ota_bridge_in_flight(b, last)) {
            continue;
        }

        dev = ota_entry_field(e->element[1], OTA_F_DEVICE);
        prod = ota_entry_field(e->element[1], OTA_F_PRODUCT);
        mod = ota_entry_field(e->element[1], OTA_F_MODULE);
        batch = ota_entry_field(e->element[1], OTA_F_BATCH);

        if (dev == NULL || prod == NULL || mod == NULL || batch == NULL
            || !ota_name_device(dev, strlen(dev))
            || !ota_name_product(prod, strlen(prod))
            || !ota_name_module(mod, strlen(mod))
            || !ota_name_id(batch, strlen(batch)))
        {
            /* trimmed meanwhile (nil fields), or not ours to read */
            ota_bridge_ack_later(b, last);
            continue;
        }

        op = ota_bridge_ops_add(&b->notices);
        if (op == NULL) {
            continue;               /* stays pending: claimed later */
        }

        op->kind = 'o';
        snprintf(op->device, sizeof(op->device), "%s", dev);
        snprintf(op->product, sizeof(op->product), "%s", prod);
        snprintf(op->module, sizeof(op->module), "%s", mod);
        snprintf(op->a, sizeof(op->a), "%s", batch);
        snprintf(op->stream_id, sizeof(op->stream_id), "%s", last);
    }

    return last;
}


/* the entries of a stream in an XREADGROUP reply */
static redisReply *
ota_bridge_stream(redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_ARRAY
        && r->element[0]->elements == 2)
    {
        return r->element[0]->element[1];
    }

    return NULL;
}


/* the reply of the i-th notice command of this round (b->req) */
int
ota_bridge_notice_reply(ota_bridge_t *b, int i, redisReply *r)
{
    int           kind;
    int64_t       now;
    size_t        n;
    const char   *last;
    redisReply   *list;

    if (i < 0 || i >= b->nreq) {
        return 0;
    }

    kind = b->req[i];

    now = ota_now_ms();

    if (r->type == REDIS_REPLY_ERROR) {
        if (kind == OTA_NREQ_GROUP && strncmp(r->str, "BUSYGROUP", 9) == 0) {
            b->group_ready = 1;
            return 0;
        }
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            b->group_ready = 0;     /* someone deleted the stream */
            return 0;
        }
        ota_log(OTA_LOG_ERR, "notices: Redis refused a read: %s", r->str);
        return 0;
    }

    switch (kind) {

    case OTA_NREQ_GROUP:
        b->group_ready = 1;
        ota_log(OTA_LOG_INFO, "created the consumer group %s on %s",
                OTA_GROUP_BRIDGES, OTA_STREAM_NOTICES);
        return 0;

    case OTA_NREQ_TRIM:
        if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
            ota_log(OTA_LOG_DEBUG, "notices: trimmed %lld acknowledged",
                    r->integer);
        }
        return 0;

    case OTA_NREQ_OWN:
        list = ota_bridge_stream(r);
        /* after a reconnect: some may be in flight still */
        last = ota_bridge_entries(b, list, 1);
        if (last == NULL) {
            b->own_cursor[0] = '\0';            /* all read again */
        } else {
            snprintf(b->own_cursor, sizeof(b->own_cursor), "%s", last);
        }
        return 0;

    case OTA_NREQ_CLAIM:
        /* [next cursor, entries, deleted ids] */
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
            || r->element[0]->type != REDIS_REPLY_STRING)
        {
            b->next_claim = now + b->claim_idle / 2;
            return 0;
        }
        (void) ota_bridge_entries(b, r->element[1], 1);
        if (strcmp(r->element[0]->str, "0-0") == 0
            || r->element[0]->len >= sizeof(b->claim_cursor))
        {
            strcpy(b->claim_cursor, "0-0");
            b->next_claim = now + b->claim_idle / 2;
        } else {
            strcpy(b->claim_cursor, r->element[0]->str);
        }
        return 0;

    default:
        list = ota_bridge_stream(r);
        n = list != NULL && list->type == REDIS_REPLY_ARRAY
            ? list->elements : 0;
        (void) ota_bridge_entries(b, list, 0);
        /* a full read: more are waiting */
        b->next_read = n >= OTA_NOTICE_COUNT ? now : now + 100;
        return 0;
    }
}


/* bridge.lua's answers for the notices read: publish, wait, or
 * acknowledge */
void
ota_bridge_notices_done(ota_bridge_t *b, redisReply *r)
{
    int                i;
    char               letter;
    size_t             next;
    redisReply        *e;
    ota_bridge_op_t   *op, *w;
    ota_bridge_sent_t  t;

    next = 1;

    for (i = 0; i < b->notices.n; i++) {
        op = &b->notices.op[i];
        letter = ota_bridge_letter(r, i);

        if (letter == 'O') {
            e = next < r->elements ? r->element[next++] : NULL;
            if (e == NULL || e->type != REDIS_REPLY_ARRAY) {
                break;          /* stays pending: claimed again */
            }

            memset(&t, 0, sizeof(t));
            snprintf(t.stream_id, sizeof(t.stream_id), "%s", op->stream_id);
            snprintf(t.device, sizeof(t.device), "%s", op->device);
            snprintf(t.module, sizeof(t.module), "%s", op->module);

            /* a failed publish stays pending and is claimed again */
            (void) ota_bridge_offer(b, op, e, &t);
            continue;
        }

        if (letter == 'l') {
            /* no room: it stays pending and is claimed again */
            w = ota_bridge_ops_add(&b->waiting);
            if (w != NULL) {
                *w = *op;
                op->desc = NULL;
                op->id = NULL;
                b->waiting_at = ota_now_ms() + 200;
            }
            continue;
        }

        if (letter == 'n') {
            /* the task is no longer to be offered (final, batch paused or
             * gone): nothing to deliver */
            ota_bridge_ack_later(b, op->stream_id);
        }
    }

    ota_bridge_ops_clear(&b->notices);
}


/* the notices of batches being created, looked up again with this
 * round's */
void
ota_bridge_notices_retry(ota_bridge_t *b, int64_t now)
{
    int               i;
    ota_bridge_op_t  *op;

    if (b->waiting.n == 0 || now < b->waiting_at) {
        return;
    }

    for (i = 0; i < b->waiting.n; i++) {
        op = ota_bridge_ops_add(&b->notices);
        if (op == NULL) {
            break;
        }
        *op = b->waiting.op[i];
    }

    /* moved, not freed: a notice op owns nothing */
    b->waiting.n = 0;
}


void
ota_bridge_ack_later(ota_bridge_t *b, const char *id)
{
    int    cap;
    void  *p;

    if (b->nacks == b->acks_cap) {
        cap = b->acks_cap ? b->acks_cap * 2 : 256;
        p = realloc(b->acks, (size_t) cap * OTA_BRIDGE_ID_MAX);
        if (p == NULL) {
            return;                 /* stays pending: claimed again later */
        }
        b->acks = p;
        b->acks_cap = cap;
    }

    snprintf(b->acks[b->nacks++], OTA_BRIDGE_ID_MAX, "%s", id);
}


/* the broker acknowledged (or refused) publish mid */
void
ota_bridge_sent_acked(ota_bridge_t *b, int mid, int ok)
{
    int                 cap;
    void               *p;
    ota_bridge_sent_t  *t;

    if (mid < 0 || mid >= OTA_BRIDGE_MIDS || b->sent[mid] == NULL) {
        return;
    }

    t = b->sent[mid];
    b->sent[mid] = NULL;
    b->outstanding--;

    if (!ok) {
        ota_bridge_drop(b, OTA_DROP_PUBLISH_FAILED, t->device,
                        "the broker refused the bridge's publish");
    }

    if (t->stream_id[0] == '\0') {
        free(t);
        return;
    }

    if (b->ndone == b->done_cap) {
        cap = b->done_cap ? b->done_cap * 2 : 256;
        p = realloc(b->done, (size_t) cap * sizeof(ota_bridge_sent_t *));
        if (p == NULL) {
            free(t);                /* stays pending: claimed again */
            return;
        }
        b->done = p;
        b->done_cap = cap;
    }

    b->done[b->ndone++] = t;
}


/* XACK of every delivered or dead notice, and the notified events */
void
ota_bridge_notice_acks(ota_bridge_t *b, redisContext *rc, int *n)
{
    int                  i;
    int64_t              now;
    ota_cmd_t            c;
    ota_event_t          e;
    ota_event_fields_t   f;
    ota_bridge_sent_t   *t;

    ota_cmd_init(&c);

    ota_cmd_adds(&c, "XACK");
    ota_cmd_adds(&c, OTA_STREAM_NOTICES);
    ota_cmd_adds(&c, OTA_GROUP_BRIDGES);
    for (i = 0; i < b->ndone; i++) {
        ota_cmd_adds(&c, b->done[i]->stream_id);
    }
    for (i = 0; i < b->nacks; i++) {
        ota_cmd_adds(&c, b->acks[i]);
    }
    (void) ota_cmd_append(rc, &c);
    (*n)++;

    now = ota_now_ms();

    /* as the HTTP upgrade answer records it; a repeated one is a no-op */
    for (i = 0; i < b->ndone; i++) {
        t = b->done[i];
        if (!t->pending) {
            continue;
        }

        memset(&f, 0, sizeof(f));
        f.type = OTA_EV_NOTIFIED;
        f.ts = now;
        f.device = ota_event_cstr(t->device);
        f.module = ota_event_cstr(t->module);
        f.batch = ota_event_cstr(t->batch);
        f.package = ota_event_cstr(t->package);
        if (ota_event_encode(&e, &f) != 0) {
            continue;                   /* cannot be: every field is set */
        }
        (void) redisAppendCommandArgv(rc, e.argc, e.argv, e.argvlen);
        (*n)++;
    }

    ota_cmd_free(&c);
}


void
ota_bridge_notice_acks_done(ota_bridge_t *b)
{
    int  i;

    for (i = 0; i < b->ndone; i++) {
        free(b->done[i]);
    }

    b->ndone = 0;
    b->nacks = 0;
}
