/*
 * ota_mqtt.h: the MQTT device channel's formats, in plain C (no mosquitto,
 * no Redis), shared by the broker plugin (ota_mqtt_auth.so), the bridge
 * (ota-mqtt), the unit tests and the fuzzers.  docs/mqtt.md is the
 * device programmer's view.
 *
 * Topics (SagooIOT / Alibaba Cloud IoT OTA), <p> product, <d> device:
 *
 *   device -> platform   /ota/device/inform/<p>/<d>
 *                        /ota/device/progress/<p>/<d>
 *                        /sys/<p>/<d>/thing/ota/firmware/get
 *   platform -> device   /ota/device/upgrade/<p>/<d>
 *                        /sys/<p>/<d>/thing/ota/firmware/get_reply
 *
 * Login (Alibaba "one device, one secret"):
 *
 *   client id  <d>|securemode=2,signmethod=hmacsha256,timestamp=<ms>|
 *              (securemode 2 or 3; other key=value pairs are ignored)
 *   user name  <d>&<p>
 *   password   hex HMAC-SHA256, keyed with the device secret, of
 *              clientId<d>deviceName<d>productKey<p>timestamp<ms>
 *
 * Parsers return NULL when the input is accepted, or a short reason (a
 * static string) for the log line.  Views point into the caller's input.
 */

#ifndef OTA_MQTT_H
#define OTA_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ota_request.h"

#define OTA_MQTT_TOPIC_MAX     256      /* longest topic we build */
#define OTA_MQTT_PAYLOAD_MAX   16384    /* larger reports are dropped */

typedef enum {
    OTA_MQTT_T_NONE = 0,
    OTA_MQTT_T_INFORM,
    OTA_MQTT_T_PROGRESS,
    OTA_MQTT_T_GET,
    OTA_MQTT_T_UPGRADE,
    OTA_MQTT_T_GET_REPLY
} ota_mqtt_topic_e;

typedef struct {
    ota_mqtt_topic_e  kind;
    ota_view_t        product;
    ota_view_t        device;
} ota_mqtt_topic_t;

/* what a client does with a topic (mosquitto's MOSQ_ACL_* values) */
#define OTA_MQTT_READ         0x01
#define OTA_MQTT_WRITE        0x02
#define OTA_MQTT_SUBSCRIBE    0x04
#define OTA_MQTT_UNSUBSCRIBE  0x08

/*
 * A topic name: 0 and t filled when it is one of the five OTA topics with
 * valid names, -1 when not.  With wild, a product or device of "+" is
 * taken too (a subscription filter of the bridge: t->product or t->device
 * is then "+").
 */
int ota_mqtt_topic_parse(const char *s, size_t len, int wild,
    ota_mqtt_topic_t *t);

/* writes the topic of kind for (product, device) with a NUL; returns its
 * length, or -1 when it does not fit or a name is invalid */
int ota_mqtt_topic_make(char *buf, size_t size, ota_mqtt_topic_e kind,
    const char *product, size_t product_len, const char *device,
    size_t device_len);

/* the filter a bridge subscribes to for kind ("/ota/device/inform/+/+") */
const char *ota_mqtt_topic_filter(ota_mqtt_topic_e kind);

/*
 * ACL.  A device (user name "<d>&<p>") may publish its three reports and
 * subscribe to and read its two answers, and nothing else; the bridge may
 * use every OTA topic of every device, and subscribe through a shared
 * subscription ("$share/<group>/<filter>").  1 allowed, 0 refused.
 */
int ota_mqtt_acl_device(const char *device, size_t device_len,
    const char *product, size_t product_len, const char *topic,
    size_t topic_len, int access);
int ota_mqtt_acl_bridge(const char *topic, size_t topic_len, int access);

typedef struct {
    ota_view_t  device;         /* a valid device name */
    ota_view_t  product;        /* a valid product name */
    ota_view_t  ts;             /* the timestamp as written (signed) */
    int64_t     ts_ms;
} ota_mqtt_login_t;

/* "<device>&<product>": 0 with both views set, -1 when it is not one */
int ota_mqtt_user_split(const char *user, size_t len, ota_view_t *device,
    ota_view_t *product);

/* client id and user name of a device login */
const char *ota_mqtt_login_parse(const char *client_id, size_t id_len,
    const char *user, size_t user_len, ota_mqtt_login_t *l);

/* NULL when the timestamp is within window_s seconds of now_ms */
const char *ota_mqtt_login_window(const ota_mqtt_login_t *l, int64_t now_ms,
    int64_t window_s);

/* the password a device computes (out: 65 bytes) */
void ota_mqtt_login_sign(const char *secret, size_t secret_len,
    const ota_mqtt_login_t *l, char *out);

/* 1 when password (hex, any case) is the device's signature */
int ota_mqtt_login_check(const char *secret, size_t secret_len,
    const ota_mqtt_login_t *l, const char *password, size_t password_len);

/*
 * firmware/get: {"id","version":"1.0","params":{"module"},"method":
 * "thing.ota.firmware.get"}; module omitted means "default", "method"
 * when present must be that one.  rep: id and module.
 */
const char *ota_mqtt_get_parse(json_t *body, ota_report_req_t *rep);

/*
 * The reason a report is dropped for, as counted in the metrics, from the
 * message of ota_request_inform / _progress / ota_mqtt_get_parse:
 * "bad_version", "bad_step", "bad_desc", "bad_module" or "bad_payload".
 */
const char *ota_mqtt_drop_reason(const char *err);

/*
 * The two answers around an offer's data (ota_offer.h; an empty object
 * when there is nothing to do).  Both take data over (a reference).
 *   upgrade notice  {"code":"200","data":{..},"id":<ms>,"message":"success"}
 *   get_reply       {"id":<the request's id>,"code":200,"data":{..}}
 */
json_t *ota_mqtt_notice(json_t *data, int64_t id_ms);
json_t *ota_mqtt_get_reply(const ota_report_req_t *req, json_t *data);

#endif /* OTA_MQTT_H */
