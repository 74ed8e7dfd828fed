/*
 * bridge_offer.c: an offer read by bridge.lua, handed to the device as the
 * upgrade notice on /ota/device/upgrade/<p>/<d> or as the answer on
 * /sys/<p>/<d>/thing/ota/firmware/get_reply.  The data is
 * ota_offer_json()'s, which also shapes the HTTP upgrade answer, with
 * links signed for --public-url as nginx signs them.
 */

#include "ota_mqtt_bridge.h"

#include <stdio.h>
#include <string.h>

#include "ota_offer.h"
#include "ota_token.h"


/* bridge.lua's offer: batch package pending task_from version type
 * pkg_from sign_method sign size files ext manifest signature; a diff's
 * then adds its fallback, the full package: package sign_method sign size
 * files manifest signature version */
#define OTA_OFFER_FIELDS  14
#define OTA_OFFER_FALLBACK_FIELDS  8

static ota_view_t
ota_bridge_view(redisReply *r, size_t i)
{
    ota_view_t  v;

    if (i < r->elements && r->element[i]->type == REDIS_REPLY_STRING) {
        v.data = r->element[i]->str;
        v.len = r->element[i]->len;
    } else {
        v.data = "";
        v.len = 0;
    }

    return v;
}


static json_t *
ota_bridge_offer_data(ota_bridge_t *b, const ota_bridge_op_t *op,
    redisReply *r)
{
    ota_view_t   v;
    ota_offer_t  o, fb;

    if (r->elements != OTA_OFFER_FIELDS
        && r->elements != OTA_OFFER_FIELDS + OTA_OFFER_FALLBACK_FIELDS)
    {
        ota_log(OTA_LOG_ERR, "unexpected offer of %zu fields for device %s",
                r->elements, op->device);
        return NULL;
    }

    memset(&o, 0, sizeof(o));

    o.device.data = op->device;
    o.device.len = strlen(op->device);
    o.module.data = op->module;
    o.module.len = strlen(op->module);
    o.batch = ota_bridge_view(r, 0);
    o.package = ota_bridge_view(r, 1);
    o.task_from = ota_bridge_view(r, 3);
    o.version = ota_bridge_view(r, 4);
    o.type = ota_bridge_view(r, 5);
    o.pkg_from = ota_bridge_view(r, 6);
    o.sign_method = ota_bridge_view(r, 7);
    o.sign = ota_bridge_view(r, 8);
    v = ota_bridge_view(r, 9);
    o.size = ota_parse_int64(v.data, v.len);
    o.files = ota_bridge_view(r, 10);
    o.ext = ota_bridge_view(r, 11);
    o.manifest = ota_bridge_view(r, 12);
    o.signature = ota_bridge_view(r, 13);
    o.key.data = b->token_secret;
    o.key.len = strlen(b->token_secret);
    o.prefix.data = b->public_url;
    o.prefix.len = strlen(b->public_url);
    o.expires = ota_now_ms() / 1000 + b->link_ttl;

    if (o.size < 0) {
        o.size = 0;
    }

    if (r->elements > OTA_OFFER_FIELDS) {
        memset(&fb, 0, sizeof(fb));
        fb.package = ota_bridge_view(r, 14);
        fb.sign_method = ota_bridge_view(r, 15);
        fb.sign = ota_bridge_view(r, 16);
        v = ota_bridge_view(r, 17);
        fb.size = ota_parse_int64(v.data, v.len);
        fb.files = ota_bridge_view(r, 18);
        fb.manifest = ota_bridge_view(r, 19);
        fb.signature = ota_bridge_view(r, 20);
        fb.version = ota_bridge_view(r, 21);
        fb.type.data = "full";
        fb.type.len = 4;
        if (fb.size < 0) {
            fb.size = 0;
        }
        o.fallback = &fb;
    }

    return ota_offer_json(&o, OTA_OFFER_MQTT);
}


/* the device's answer topic into topic (OTA_MQTT_TOPIC_MAX); -1, data
 * released, when there is no data or no topic */
static int
ota_bridge_topic(const ota_bridge_op_t *op, ota_mqtt_topic_e kind,
    char *topic, json_t *data)
{
    if (data == NULL
        || ota_mqtt_topic_make(topic, OTA_MQTT_TOPIC_MAX, kind, op->product,
                               strlen(op->product), op->device,
                               strlen(op->device)) < 0)
    {
        json_decref(data);
        return -1;
    }

    return 0;
}


int
ota_bridge_offer(ota_bridge_t *b, const ota_bridge_op_t *op, redisReply *r,
    ota_bridge_sent_t *track)
{
    char        topic[OTA_MQTT_TOPIC_MAX];
    json_t     *data;
    ota_view_t  batch, package, pending;

    data = ota_bridge_offer_data(b, op, r);

    if (ota_bridge_topic(op, OTA_MQTT_T_UPGRADE, topic, data) != 0) {
        return -1;
    }

    batch = ota_bridge_view(r, 0);

    if (track != NULL) {
        package = ota_bridge_view(r, 1);
        pending = ota_bridge_view(r, 2);
        snprintf(track->batch, sizeof(track->batch), "%.*s", (int) batch.len,
                 batch.data);
        snprintf(track->package, sizeof(track->package), "%.*s",
                 (int) package.len, package.data);
        track->pending = pending.len == 1 && pending.data[0] == '1';
    }

    if (ota_bridge_publish(b, topic, ota_mqtt_notice(data, ota_now_ms()),
                           track)
        != 0)
    {
        return -1;
    }

    b->handled[OTA_KIND_NOTICE]++;
    b->total_notices++;

    ota_log(OTA_LOG_DEBUG, "upgrade notice of batch %.*s to %s",
            (int) batch.len, batch.data, topic);

    return 0;
}


int
ota_bridge_get_reply(ota_bridge_t *b, const ota_bridge_op_t *op,
    redisReply *offer)
{
    char              topic[OTA_MQTT_TOPIC_MAX];
    json_t           *data;
    ota_report_req_t  req;

    data = offer ? ota_bridge_offer_data(b, op, offer) : json_object();

    if (ota_bridge_topic(op, OTA_MQTT_T_GET_REPLY, topic, data) != 0) {
        return -1;
    }

    memset(&req, 0, sizeof(req));

    if (json_is_integer(op->id)) {
        req.has_id = 1;
        req.id_is_int = 1;
        req.id_int = json_integer_value(op->id);

    } else if (json_is_string(op->id)) {
        req.has_id = 1;
        req.id.data = json_string_value(op->id);
        req.id.len = json_string_length(op->id);
    }

    return ota_bridge_publish(b, topic, ota_mqtt_get_reply(&req, data), NULL);
}
