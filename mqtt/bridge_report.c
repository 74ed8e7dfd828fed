/*
 * bridge_report.c: what a device publishes, as the HTTP API would take it.
 *
 * A message becomes one operation of the pass (bridge.lua) or is dropped
 * with one log line and a count by reason:
 *
 *   topic      not one of the three device -> platform topics: bad_topic
 *   payload    over OTA_MQTT_PAYLOAD_MAX bytes: too_large; not JSON:
 *              malformed_json
 *   body       ota_request_inform / _progress / ota_mqtt_get_parse, the
 *              checks of the HTTP API's bodies (include/ota_request.c):
 *              bad_version, bad_step, bad_desc, bad_module, bad_payload
 *   in Redis   unknown_device (not in the topic's product), unknown_module
 *              (bridge.lua)
 *
 * The device names come from the topic, which the broker's ACL
 * (ota_mqtt_auth.so) lets only that device publish on.
 */

#include "ota_mqtt_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void ota_bridge_module_key(const ota_bridge_op_t *op, char *key);


static ota_drop_e
ota_bridge_reason(const char *err)
{
    int          i;
    const char  *name;

    name = ota_mqtt_drop_reason(err);

    for (i = 0; i < OTA_DROP_COUNT; i++) {
        if (strcmp(ota_drop_names[i], name) == 0) {
            return (ota_drop_e) i;
        }
    }

    return OTA_DROP_BAD_PAYLOAD;
}


static void
ota_bridge_copy(char *dst, const ota_view_t *v)
{
    size_t  n;

    /* names and versions are checked: at most OTA_NAME_MAX bytes; no
     * printf here: it was 5 % of the bridge's instructions */
    n = v->len < OTA_NAME_MAX ? v->len : OTA_NAME_MAX;
    memcpy(dst, v->data, n);
    dst[n] = '\0';
}


static json_t *
ota_bridge_request_id(const ota_report_req_t *rep)
{
    if (!rep->has_id) {
        return NULL;
    }

    return rep->id_is_int ? json_integer(rep->id_int)
                          : json_stringn(rep->id.data, rep->id.len);
}


void
ota_bridge_message(ota_bridge_t *b, const char *topic, const void *payload,
    int len)
{
    json_t            *body;
    const char        *err;
    json_error_t       jerr;
    ota_bridge_op_t   *op;
    ota_mqtt_topic_t   t;
    ota_report_req_t   rep;

    b->total_in++;
    b->last_in = ota_now_ms();

    if (ota_mqtt_topic_parse(topic, strlen(topic), 0, &t) != 0
        || !(t.kind == OTA_MQTT_T_INFORM || t.kind == OTA_MQTT_T_PROGRESS
             || t.kind == OTA_MQTT_T_GET))
    {
        b->handled[OTA_KIND_OTHER]++;
        ota_bridge_drop(b, OTA_DROP_BAD_TOPIC, topic, NULL);
        return;
    }

    b->handled[t.kind == OTA_MQTT_T_INFORM ? OTA_KIND_INFORM
               : t.kind == OTA_MQTT_T_PROGRESS ? OTA_KIND_PROGRESS
               : OTA_KIND_GET]++;

    if (len > OTA_MQTT_PAYLOAD_MAX) {
        ota_bridge_drop(b, OTA_DROP_TOO_LARGE, topic, NULL);
        return;
    }

    body = json_loadb(payload, (size_t) (len > 0 ? len : 0), 0, &jerr);
    if (body == NULL) {
        ota_bridge_drop(b, OTA_DROP_MALFORMED_JSON, topic, jerr.text);
        return;
    }

    err = t.kind == OTA_MQTT_T_INFORM ? ota_request_inform(body, &rep)
          : t.kind == OTA_MQTT_T_PROGRESS ? ota_request_progress(body, &rep)
          : ota_mqtt_get_parse(body, &rep);

    if (err != NULL) {
        ota_bridge_drop(b, ota_bridge_reason(err), topic, err);
        json_decref(body);
        return;
    }

    op = ota_bridge_ops_add(&b->reports);
    if (op == NULL) {
        ota_log(OTA_LOG_ERR, "out of memory: message on %s lost", topic);
        json_decref(body);
        return;
    }

    ota_bridge_copy(op->device, &t.device);
    ota_bridge_copy(op->product, &t.product);
    ota_bridge_copy(op->module, &rep.module);

    switch (t.kind) {

    case OTA_MQTT_T_INFORM:
        op->kind = 'i';
        ota_bridge_copy(op->a, &rep.version);
        break;

    case OTA_MQTT_T_PROGRESS:
        op->kind = 'p';
        /* canonical decimal: "-02" and -2 make the same event, as in the
         * module */
        snprintf(op->a, sizeof(op->a), "%d", rep.step);
        op->desc = strndup(rep.desc.data, rep.desc.len);
        break;

    default:
        op->kind = 'g';
        op->id = ota_bridge_request_id(&rep);
        break;
    }

    json_decref(body);
}


/* the answers of bridge.lua for the pass: a letter per operation, then
 * the offers (bridge.lua) */
void
ota_bridge_reports_done(ota_bridge_t *b, redisReply *r)
{
    int               i, j;
    char              letter, topic[OTA_MQTT_TOPIC_MAX];
    size_t            next;
    int64_t           now;
    redisReply       *e;
    ota_bridge_op_t  *op;

    now = ota_now_ms();
    next = 1;

    for (i = 0, j = 0; i < b->reports.n; i++) {
        op = &b->reports.op[i];
        if (op->fast) {
            continue;           /* not the script's */
        }
        letter = ota_bridge_letter(r, j++);

        if (letter == 'O') {
            e = next < r->elements ? r->element[next++] : NULL;
            if (e == NULL || e->type != REDIS_REPLY_ARRAY) {
                break;
            }
            if (op->kind == 'g') {
                (void) ota_bridge_get_reply(b, op, e);
            } else {
                /* an inform of a device with an open push task */
                (void) ota_bridge_offer(b, op, e, NULL);
            }
        }

        if (letter == 'n') {
            (void) ota_bridge_get_reply(b, op, NULL);
        }

        if (letter == 'k' || letter == 'n' || letter == 'O'
            || letter == 'M')
        {
            /* Redis found the device in the product: trusted a while */
            ota_lcache_put(b->known, op->device, strlen(op->device),
                           op->product, now);
        }

        if (letter == 'k' || letter == 'n' || letter == 'O') {
            /* and the module in the product */
            ota_bridge_module_key(op, topic);
            ota_lcache_put(b->modules, topic, strlen(topic), "1", now);
        }

        if (letter == 'D' || letter == 'M') {
            /* counted by the script; the line is ours */
            b->total_dropped++;
            ota_mqtt_topic_make(topic, sizeof(topic),
                                op->kind == 'i' ? OTA_MQTT_T_INFORM
                                : op->kind == 'p' ? OTA_MQTT_T_PROGRESS
                                : OTA_MQTT_T_GET,
                                op->product, strlen(op->product),
                                op->device, strlen(op->device));
            ota_log(OTA_LOG_WARN, "dropped a message on \"%s\": %s (module "
                    "\"%s\")", topic, letter == 'D' ? "unknown_device"
                    : "unknown_module", op->module);
        }
    }
}


/* the offers of the informs stored the fast way: 'O' an offer, 'k' none */
void
ota_bridge_followups_done(ota_bridge_t *b, redisReply *r)
{
    int         i;
    size_t      next;
    redisReply  *e;

    next = 1;

    for (i = 0; i < b->followups.n; i++) {
        if (ota_bridge_letter(r, i) != 'O') {
            continue;
        }
        e = next < r->elements ? r->element[next++] : NULL;
        if (e == NULL || e->type != REDIS_REPLY_ARRAY) {
            break;
        }
        (void) ota_bridge_offer(b, &b->followups.op[i], e, NULL);
    }
}


/* "<module>@<product>" into key (OTA_MQTT_TOPIC_MAX bytes) */
static void
ota_bridge_module_key(const ota_bridge_op_t *op, char *key)
{
    size_t  m, p;

    m = strlen(op->module);
    p = strlen(op->product);
    memcpy(key, op->module, m);
    key[m] = '@';
    memcpy(key + m + 1, op->product, p + 1);
}


/* a report Redis need not check: an inform or progress of a device that
 * Redis found in the product, and of a module it found, less than a
 * minute ago (the cache's lifetime), or "default", which every product
 * has */
int
ota_bridge_fast(ota_bridge_t *b, ota_bridge_op_t *op, int64_t now)
{
    char         key[OTA_MQTT_TOPIC_MAX];
    const char  *prod;

    if (op->kind != 'i' && op->kind != 'p') {
        return 0;
    }

    prod = ota_lcache_get(b->known, op->device, strlen(op->device), now);
    if (prod == NULL || strcmp(prod, op->product) != 0) {
        return 0;
    }

    if (strcmp(op->module, "default") == 0) {
        return 1;
    }

    ota_bridge_module_key(op, key);

    return ota_lcache_get(b->modules, key, strlen(key), now) != NULL;
}
