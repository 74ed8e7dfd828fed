/*
 * ota_mqtt.c: topics, logins, ACL and the firmware/get request of the MQTT
 * device channel (ota_mqtt.h).  t/unit/test_mqtt.c and t/fuzz/fuzz_mqtt.c
 * hold the cases.
 */

#include "ota_mqtt.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ota_names.h"
#include "ota_token.h"


#define OTA_MQTT_DEV_PREFIX  "/ota/device/"
#define OTA_MQTT_SYS_PREFIX  "/sys/"
#define OTA_MQTT_GET_SUFFIX  "/thing/ota/firmware/get"
#define OTA_MQTT_SHARE       "$share/"

#define ota_lit_eq(s, len, lit)                                              \
    ((len) == sizeof(lit) - 1 && memcmp((s), (lit), sizeof(lit) - 1) == 0)


static const struct {
    ota_mqtt_topic_e   kind;
    const char        *word;        /* /ota/device/<word>/<p>/<d> */
    const char        *filter;
} ota_mqtt_dev_topics[] = {
    { OTA_MQTT_T_INFORM, "inform", "/ota/device/inform/+/+" },
    { OTA_MQTT_T_PROGRESS, "progress", "/ota/device/progress/+/+" },
    { OTA_MQTT_T_UPGRADE, "upgrade", "/ota/device/upgrade/+/+" }
};


static int
ota_mqtt_name(const char *s, size_t len, int wild, int device)
{
    if (wild && len == 1 && s[0] == '+') {
        return 1;
    }
    return device ? ota_name_device(s, len) : ota_name_product(s, len);
}


/* "<p>/<d>" exactly: two names, nothing after */
static int
ota_mqtt_pair(const char *s, size_t len, int wild, ota_mqtt_topic_t *t)
{
    const char  *slash;

    slash = memchr(s, '/', len);
    if (slash == NULL) {
        return -1;
    }

    t->product.data = s;
    t->product.len = (size_t) (slash - s);
    t->device.data = slash + 1;
    t->device.len = len - t->product.len - 1;

    if (!ota_mqtt_name(t->product.data, t->product.len, wild, 0)
        || !ota_mqtt_name(t->device.data, t->device.len, wild, 1))
    {
        return -1;                  /* a '/' in the device is refused here */
    }

    return 0;
}


int
ota_mqtt_topic_parse(const char *s, size_t len, int wild,
    ota_mqtt_topic_t *t)
{
    size_t       i, n, wl;
    const char  *p, *end, *slash;

    memset(t, 0, sizeof(ota_mqtt_topic_t));

    if (s == NULL) {
        return -1;
    }

    end = s + len;
    n = sizeof(OTA_MQTT_DEV_PREFIX) - 1;

    if (len > n && memcmp(s, OTA_MQTT_DEV_PREFIX, n) == 0) {
        p = s + n;

        for (i = 0; i < sizeof(ota_mqtt_dev_topics)
                        / sizeof(ota_mqtt_dev_topics[0]); i++)
        {
            wl = strlen(ota_mqtt_dev_topics[i].word);

            if ((size_t) (end - p) > wl + 1
                && memcmp(p, ota_mqtt_dev_topics[i].word, wl) == 0
                && p[wl] == '/')
            {
                if (ota_mqtt_pair(p + wl + 1, (size_t) (end - p) - wl - 1,
                                  wild, t) != 0)
                {
                    return -1;
                }
                t->kind = ota_mqtt_dev_topics[i].kind;
                return 0;
            }
        }

        return -1;
    }

    n = sizeof(OTA_MQTT_SYS_PREFIX) - 1;

    if (len <= n || memcmp(s, OTA_MQTT_SYS_PREFIX, n) != 0) {
        return -1;
    }

    /* /sys/<p>/<d>/thing/ota/firmware/get[_reply] */
    p = s + n;
    slash = memchr(p, '/', (size_t) (end - p));
    if (slash == NULL) {
        return -1;
    }
    slash = memchr(slash + 1, '/', (size_t) (end - slash - 1));
    if (slash == NULL) {
        return -1;
    }

    if (ota_lit_eq(slash, (size_t) (end - slash), OTA_MQTT_GET_SUFFIX)) {
        t->kind = OTA_MQTT_T_GET;

    } else if (ota_lit_eq(slash, (size_t) (end - slash),
                          OTA_MQTT_GET_SUFFIX "_reply"))
    {
        t->kind = OTA_MQTT_T_GET_REPLY;

    } else {
        return -1;
    }

    if (ota_mqtt_pair(p, (size_t) (slash - p), wild, t) != 0) {
        t->kind = OTA_MQTT_T_NONE;
        return -1;
    }

    return 0;
}


int
ota_mqtt_topic_make(char *buf, size_t size, ota_mqtt_topic_e kind,
    const char *product, size_t product_len, const char *device,
    size_t device_len)
{
    int          n;
    const char  *word;

    if (!ota_name_product(product, product_len)
        || !ota_name_device(device, device_len))
    {
        return -1;
    }

    switch (kind) {

    case OTA_MQTT_T_GET:
    case OTA_MQTT_T_GET_REPLY:
        n = snprintf(buf, size, OTA_MQTT_SYS_PREFIX "%.*s/%.*s"
                     OTA_MQTT_GET_SUFFIX "%s", (int) product_len, product,
                     (int) device_len, device,
                     kind == OTA_MQTT_T_GET_REPLY ? "_reply" : "");
        break;

    case OTA_MQTT_T_INFORM:
    case OTA_MQTT_T_PROGRESS:
    case OTA_MQTT_T_UPGRADE:
        word = kind == OTA_MQTT_T_INFORM ? "inform"
               : kind == OTA_MQTT_T_PROGRESS ? "progress" : "upgrade";
        n = snprintf(buf, size, OTA_MQTT_DEV_PREFIX "%s/%.*s/%.*s", word,
                     (int) product_len, product, (int) device_len, device);
        break;

    default:
        return -1;
    }

    return (n < 0 || (size_t) n >= size) ? -1 : n;
}


const char *
ota_mqtt_topic_filter(ota_mqtt_topic_e kind)
{
    size_t  i;

    if (kind == OTA_MQTT_T_GET) {
        return "/sys/+/+/thing/ota/firmware/get";
    }

    if (kind == OTA_MQTT_T_GET_REPLY) {
        return "/sys/+/+/thing/ota/firmware/get_reply";
    }

    for (i = 0; i < sizeof(ota_mqtt_dev_topics)
                    / sizeof(ota_mqtt_dev_topics[0]); i++)
    {
        if (ota_mqtt_dev_topics[i].kind == kind) {
            return ota_mqtt_dev_topics[i].filter;
        }
    }

    return NULL;
}


static int
ota_mqtt_up(ota_mqtt_topic_e kind)
{
    return kind == OTA_MQTT_T_INFORM || kind == OTA_MQTT_T_PROGRESS
           || kind == OTA_MQTT_T_GET;
}


int
ota_mqtt_acl_device(const char *device, size_t device_len,
    const char *product, size_t product_len, const char *topic,
    size_t topic_len, int access)
{
    ota_mqtt_topic_t  t;

    /* no wildcards: a device subscribes to its own topics by name */
    if (ota_mqtt_topic_parse(topic, topic_len, 0, &t) != 0) {
        return 0;
    }

    if (t.device.len != device_len || t.product.len != product_len
        || memcmp(t.device.data, device, device_len) != 0
        || memcmp(t.product.data, product, product_len) != 0)
    {
        return 0;
    }

    switch (access) {

    case OTA_MQTT_WRITE:
        return ota_mqtt_up(t.kind);

    case OTA_MQTT_READ:
    case OTA_MQTT_SUBSCRIBE:
        return !ota_mqtt_up(t.kind);

    case OTA_MQTT_UNSUBSCRIBE:
        return 1;

    default:
        return 0;
    }
}


/*
 * A subscription filter ending in "/#" whose every topic is an OTA topic:
 * "/ota/device/#", "/ota/device/<word>/#", "/ota/device/<word>/<p>/#",
 * "/sys/<p>/<d>/thing/ota/#", "/sys/<p>/<d>/thing/ota/firmware/#"
 * (names or '+').
 */
static int
ota_mqtt_filter_hash(const char *s, size_t len)
{
    size_t            i, n, wl;
    const char       *p, *slash;
    ota_mqtt_topic_t  t;

    if (len < 2 || s[len - 1] != '#' || s[len - 2] != '/') {
        return 0;
    }
    len -= 2;

    n = sizeof(OTA_MQTT_DEV_PREFIX) - 2;            /* "/ota/device" */
    if (len >= n && memcmp(s, OTA_MQTT_DEV_PREFIX, n) == 0) {
        if (len == n) {
            return 1;
        }
        if (s[n] != '/') {
            return 0;
        }
        p = s + n + 1;
        len -= n + 1;
        for (i = 0; i < sizeof(ota_mqtt_dev_topics)
                        / sizeof(ota_mqtt_dev_topics[0]); i++)
        {
            wl = strlen(ota_mqtt_dev_topics[i].word);
            if (len >= wl && memcmp(p, ota_mqtt_dev_topics[i].word, wl) == 0) {
                if (len == wl) {
                    return 1;
                }
                return p[wl] == '/'
                       && ota_mqtt_name(p + wl + 1, len - wl - 1, 1, 0);
            }
        }
        return 0;
    }

    n = sizeof(OTA_MQTT_SYS_PREFIX) - 1;
    if (len <= n || memcmp(s, OTA_MQTT_SYS_PREFIX, n) != 0) {
        return 0;
    }

    /* /sys/<p>/<d> then /thing/ota or /thing/ota/firmware */
    p = s + n;
    slash = memchr(p, '/', len - n);
    if (slash == NULL) {
        return 0;
    }
    slash = memchr(slash + 1, '/', (size_t) (s + len - slash - 1));
    if (slash == NULL) {
        return 0;
    }

    if (!ota_lit_eq(slash, (size_t) (s + len - slash), "/thing/ota")
        && !ota_lit_eq(slash, (size_t) (s + len - slash),
                       "/thing/ota/firmware"))
    {
        return 0;
    }

    return ota_mqtt_pair(p, (size_t) (slash - p), 1, &t) == 0;
}


int
ota_mqtt_acl_bridge(const char *topic, size_t topic_len, int access)
{
    int               wild;
    const char       *slash;
    ota_mqtt_topic_t  t;

    wild = (access == OTA_MQTT_SUBSCRIBE || access == OTA_MQTT_UNSUBSCRIBE);

    if (wild && topic_len > sizeof(OTA_MQTT_SHARE) - 1
        && memcmp(topic, OTA_MQTT_SHARE, sizeof(OTA_MQTT_SHARE) - 1) == 0)
    {
        /* $share/<group>/<filter>: the filter decides */
        topic += sizeof(OTA_MQTT_SHARE) - 1;
        topic_len -= sizeof(OTA_MQTT_SHARE) - 1;

        slash = memchr(topic, '/', topic_len);
        if (slash == NULL || slash == topic) {
            return 0;
        }

        topic_len -= (size_t) (slash + 1 - topic);
        topic = slash + 1;
    }

    if (access != OTA_MQTT_READ && access != OTA_MQTT_WRITE && !wild) {
        return 0;
    }

    return ota_mqtt_topic_parse(topic, topic_len, wild, &t) == 0
           || (wild && ota_mqtt_filter_hash(topic, topic_len));
}


int
ota_mqtt_user_split(const char *user, size_t len, ota_view_t *device,
    ota_view_t *product)
{
    const char  *amp;

    if (user == NULL) {
        return -1;
    }

    amp = memchr(user, '&', len);
    if (amp == NULL) {
        return -1;
    }

    device->data = user;
    device->len = (size_t) (amp - user);
    product->data = amp + 1;
    product->len = len - device->len - 1;

    if (!ota_name_device(device->data, device->len)
        || !ota_name_product(product->data, product->len))
    {
        return -1;
    }

    return 0;
}


const char *
ota_mqtt_login_parse(const char *client_id, size_t id_len, const char *user,
    size_t user_len, ota_mqtt_login_t *l)
{
    int          have_method, have_ts;
    size_t       kl, vl;
    ota_view_t   udev;
    const char  *bar, *p, *end, *comma, *eq, *k, *v;

    memset(l, 0, sizeof(ota_mqtt_login_t));

    if (client_id == NULL || id_len == 0) {
        return "no client id";
    }

    if (user == NULL || user_len == 0) {
        return "no user name";
    }

    bar = memchr(client_id, '|', id_len);
    if (bar == NULL || client_id[id_len - 1] != '|' || bar == client_id
        || bar == client_id + id_len - 1)
    {
        return "client id is not <device>|securemode=2,signmethod="
               "hmacsha256,timestamp=<ms>|";
    }

    l->device.data = client_id;
    l->device.len = (size_t) (bar - client_id);

    if (!ota_name_device(l->device.data, l->device.len)) {
        return "client id names no valid device";
    }

    /* key=value pairs between the two bars */
    have_method = have_ts = 0;
    p = bar + 1;
    end = client_id + id_len - 1;

    if (memchr(p, '|', (size_t) (end - p)) != NULL) {
        return "client id has more than two '|'";
    }

    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }

        eq = memchr(p, '=', (size_t) (comma - p));
        if (eq == NULL) {
            return "client id: a parameter without '='";
        }

        k = p;
        kl = (size_t) (eq - p);
        v = eq + 1;
        vl = (size_t) (comma - v);

        if (ota_lit_eq(k, kl, "signmethod")) {
            if (vl != sizeof("hmacsha256") - 1
                || strncasecmp(v, "hmacsha256", vl) != 0)
            {
                return "client id: signmethod must be hmacsha256";
            }
            have_method = 1;

        } else if (ota_lit_eq(k, kl, "timestamp")) {
            l->ts.data = v;
            l->ts.len = vl;
            l->ts_ms = vl <= OTA_REQ_TS_MAX_LEN ? ota_parse_int64(v, vl) : -1;
            if (l->ts_ms < 0) {
                return "client id: timestamp must be milliseconds since "
                       "the epoch";
            }
            have_ts = 1;

        } else if (ota_lit_eq(k, kl, "securemode")) {
            if (!(vl == 1 && (v[0] == '2' || v[0] == '3'))) {
                return "client id: securemode must be 2 or 3";
            }
        }
        /* others (SDK versions, language tags) are not ours to judge */

        p = comma + 1;
    }

    if (!have_method) {
        return "client id: no signmethod";
    }

    if (!have_ts) {
        return "client id: no timestamp";
    }

    if (ota_mqtt_user_split(user, user_len, &udev, &l->product) != 0) {
        return "user name is not <device>&<product>";
    }

    if (udev.len != l->device.len
        || memcmp(udev.data, l->device.data, udev.len) != 0)
    {
        return "user name and client id name different devices";
    }

    return NULL;
}


const char *
ota_mqtt_login_window(const ota_mqtt_login_t *l, int64_t now_ms,
    int64_t window_s)
{
    int64_t  d;

    d = now_ms - l->ts_ms;
    if (d < 0) {
        d = -d;
    }

    return d > window_s * 1000 ? "timestamp outside the auth window" : NULL;
}


void
ota_mqtt_login_sign(const char *secret, size_t secret_len,
    const ota_mqtt_login_t *l, char *out)
{
    char  msg[512];
    int   n;

    n = snprintf(msg, sizeof(msg),
                 "clientId%.*sdeviceName%.*sproductKey%.*stimestamp%.*s",
                 (int) l->device.len, l->device.data,
                 (int) l->device.len, l->device.data,
                 (int) l->product.len, l->product.data,
                 (int) l->ts.len, l->ts.data);

    if (n < 0 || (size_t) n >= sizeof(msg)) {
        /* names are at most 64 bytes: cannot happen; never verifies */
        memset(out, 'x', OTA_HEX_SHA256_LEN);
        out[OTA_HEX_SHA256_LEN] = '\0';
        return;
    }

    ota_hmac_sha256_hex(secret, secret_len, msg, (size_t) n, out);
}


int
ota_mqtt_login_check(const char *secret, size_t secret_len,
    const ota_mqtt_login_t *l, const char *password, size_t password_len)
{
    size_t  i;
    char    want[OTA_HEX_SHA256_LEN + 1], got[OTA_HEX_SHA256_LEN];

    if (password == NULL || password_len != OTA_HEX_SHA256_LEN) {
        return 0;
    }

    for (i = 0; i < OTA_HEX_SHA256_LEN; i++) {
        char c = password[i];

        if (c >= 'A' && c <= 'F') {
            c = (char) (c - 'A' + 'a');
        }
        got[i] = c;
    }

    ota_mqtt_login_sign(secret, secret_len, l, want);

    return ota_ct_equal(want, got, OTA_HEX_SHA256_LEN);
}


const char *
ota_mqtt_get_parse(json_t *body, ota_report_req_t *rep)
{
    json_t      *method;
    const char  *err;

    err = ota_request_target(body, rep);
    if (err != NULL) {
        return err;
    }

    method = json_object_get(body, "method");
    if (method != NULL && !json_is_null(method)
        && !(json_is_string(method)
             && strcmp(json_string_value(method), "thing.ota.firmware.get")
                == 0))
    {
        return "\"method\" must be \"thing.ota.firmware.get\"";
    }

    return NULL;
}


const char *
ota_mqtt_drop_reason(const char *err)
{
    static const struct {
        const char  *field;
        const char  *reason;
    } map[] = {
        { "\"version\"", "bad_version" },
        { "\"step\"", "bad_step" },
        { "\"desc\"", "bad_desc" },
        { "\"module\"", "bad_module" }
    };

    size_t  i;

    for (i = 0; err != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strncmp(err, map[i].field, strlen(map[i].field)) == 0) {
            return map[i].reason;
        }
    }

    return "bad_payload";
}


json_t *
ota_mqtt_notice(json_t *data, int64_t id_ms)
{
    if (data == NULL) {
        return NULL;
    }

    return json_pack("{s:s,s:o,s:I,s:s}", "code", "200", "data", data,
                     "id", (json_int_t) id_ms, "message", "success");
}


json_t *
ota_mqtt_get_reply(const ota_report_req_t *req, json_t *data)
{
    json_t  *out, *id;

    if (data == NULL) {
        return NULL;
    }

    if (!req->has_id) {
        id = json_null();
    } else if (req->id_is_int) {
        id = json_integer(req->id_int);
    } else {
        id = json_stringn(req->id.data, req->id.len);
    }

    out = json_pack("{s:o,s:i,s:o}", "id", id, "code", 200, "data", data);

    return out;
}
