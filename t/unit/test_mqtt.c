/* unit tests: MQTT topics, the Alibaba login, the ACL, firmware/get,
 * drop reasons and the two answers (include/ota_mqtt.c) */

#include "tap.h"
#include "ota_mqtt.h"

#include <stdlib.h>

#define CID "dev1|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|"
/* printf 'clientIddev1deviceNamedev1productKeyp1timestamp1700000000000' |
 *   openssl dgst -sha256 -hmac secret-1 */
#define PASS "d8c1dc180bfc97e1604616a367be724a045d824ffb9c53415a3ec7c97c09ba39"

static int
topic(const char *s, int wild, ota_mqtt_topic_t *t)
{
    return ota_mqtt_topic_parse(s, strlen(s), wild, t);
}

static const char *
login(const char *cid, const char *user, ota_mqtt_login_t *l)
{
    return ota_mqtt_login_parse(cid, cid ? strlen(cid) : 0, user,
                                user ? strlen(user) : 0, l);
}

static int
dev_acl(const char *t, int access)
{
    return ota_mqtt_acl_device("dev1", 4, "p1", 2, t, strlen(t), access);
}

static int
bridge_acl(const char *t, int access)
{
    return ota_mqtt_acl_bridge(t, strlen(t), access);
}

static const char *
get(const char *js, ota_report_req_t *r)
{
    json_error_t  e;
    json_t       *j = json_loads(js, 0, &e);
    static char   keep[64];
    const char   *err;

    err = ota_mqtt_get_parse(j, r);
    if (err == NULL) {
        snprintf(keep, sizeof(keep), "%.*s", (int) r->module.len,
                 r->module.data);
        r->module.data = keep;      /* outlives the JSON */
        r->id.data = NULL;
    }
    json_decref(j);
    return err;
}

int
main(void)
{
    ota_mqtt_topic_t  t;
    ota_mqtt_login_t  l;
    ota_report_req_t  r;
    char              buf[OTA_MQTT_TOPIC_MAX], sign[65], *s;
    json_t           *j;

    /* ---- topics -------------------------------------------------------- */
    ok(topic("/ota/device/inform/p1/dev1", 0, &t) == 0
       && t.kind == OTA_MQTT_T_INFORM && t.product.len == 2
       && memcmp(t.product.data, "p1", 2) == 0 && t.device.len == 4
       && memcmp(t.device.data, "dev1", 4) == 0, "inform topic parsed");
    ok(topic("/ota/device/progress/p.1/aa:bb:cc", 0, &t) == 0
       && t.kind == OTA_MQTT_T_PROGRESS && t.device.len == 8,
       "progress topic with dotted product and a MAC address device");
    ok(topic("/ota/device/upgrade/p1/dev1", 0, &t) == 0
       && t.kind == OTA_MQTT_T_UPGRADE, "upgrade topic parsed");
    ok(topic("/sys/p1/dev1/thing/ota/firmware/get", 0, &t) == 0
       && t.kind == OTA_MQTT_T_GET && t.device.len == 4
       && memcmp(t.product.data, "p1", 2) == 0, "firmware/get parsed");
    ok(topic("/sys/p1/dev1/thing/ota/firmware/get_reply", 0, &t) == 0
       && t.kind == OTA_MQTT_T_GET_REPLY, "firmware/get_reply parsed");
    ok(topic("/ota/device/inform/p1/dev1/x", 0, &t) != 0,
       "a third name after the device is refused");
    ok(topic("/ota/device/inform/p1", 0, &t) != 0, "no device: refused");
    ok(topic("/ota/device/inform//dev1", 0, &t) != 0, "empty product refused");
    ok(topic("/ota/device/inform/p1/", 0, &t) != 0, "empty device refused");
    ok(topic("/ota/device/reboot/p1/dev1", 0, &t) != 0, "unknown word refused");
    ok(topic("ota/device/inform/p1/dev1", 0, &t) != 0,
       "no leading slash: not an OTA topic");
    ok(topic("/sys/p1/dev1/thing/ota/firmware/get/x", 0, &t) != 0
       && topic("/sys/p1/dev1/thing/ota/firmware", 0, &t) != 0
       && topic("/sys/p1/thing/ota/firmware/get", 0, &t) != 0,
       "malformed /sys topics refused");
    ok(topic("/ota/device/inform/p1/.hidden", 0, &t) != 0
       && topic("/ota/device/inform/p1/a b", 0, &t) != 0
       && topic("/ota/device/inform/p1/+", 0, &t) != 0,
       "invalid device names refused");
    ok(topic("/ota/device/inform/+/+", 1, &t) == 0
       && t.device.len == 1 && t.device.data[0] == '+',
       "a filter of '+' taken with wild");
    ok(topic("/ota/device/inform/#", 1, &t) != 0, "'#' never taken");
    ok(ota_mqtt_topic_parse(NULL, 0, 0, &t) != 0, "NULL topic refused");

    is_int(ota_mqtt_topic_make(buf, sizeof(buf), OTA_MQTT_T_UPGRADE, "p1", 2,
                               "dev1", 4), 27, "upgrade topic made");
    is_str(buf, "/ota/device/upgrade/p1/dev1", "upgrade topic text");
    ota_mqtt_topic_make(buf, sizeof(buf), OTA_MQTT_T_GET_REPLY, "p1", 2,
                        "dev1", 4);
    is_str(buf, "/sys/p1/dev1/thing/ota/firmware/get_reply",
           "get_reply topic text");
    is_int(ota_mqtt_topic_make(buf, 10, OTA_MQTT_T_UPGRADE, "p1", 2, "dev1",
                               4), -1, "too small a buffer: -1");
    is_int(ota_mqtt_topic_make(buf, sizeof(buf), OTA_MQTT_T_UPGRADE, "p/1", 3,
                               "dev1", 4), -1, "invalid product: -1");
    is_str(ota_mqtt_topic_filter(OTA_MQTT_T_GET),
           "/sys/+/+/thing/ota/firmware/get", "get filter");
    ok(topic(ota_mqtt_topic_filter(OTA_MQTT_T_INFORM), 1, &t) == 0
       && t.kind == OTA_MQTT_T_INFORM, "the inform filter parses as one");

    /* ---- ACL ----------------------------------------------------------- */
    ok(dev_acl("/ota/device/inform/p1/dev1", OTA_MQTT_WRITE)
       && dev_acl("/ota/device/progress/p1/dev1", OTA_MQTT_WRITE)
       && dev_acl("/sys/p1/dev1/thing/ota/firmware/get", OTA_MQTT_WRITE),
       "a device publishes its three reports");
    ok(dev_acl("/ota/device/upgrade/p1/dev1", OTA_MQTT_SUBSCRIBE)
       && dev_acl("/ota/device/upgrade/p1/dev1", OTA_MQTT_READ)
       && dev_acl("/sys/p1/dev1/thing/ota/firmware/get_reply",
                  OTA_MQTT_SUBSCRIBE),
       "a device subscribes to its two answers");
    ok(!dev_acl("/ota/device/inform/p1/dev2", OTA_MQTT_WRITE)
       && !dev_acl("/ota/device/inform/p2/dev1", OTA_MQTT_WRITE)
       && !dev_acl("/sys/p1/dev2/thing/ota/firmware/get", OTA_MQTT_WRITE),
       "another device's or product's topics refused");
    ok(!dev_acl("/ota/device/upgrade/p1/dev2", OTA_MQTT_SUBSCRIBE)
       && !dev_acl("/ota/device/upgrade/p1/+", OTA_MQTT_SUBSCRIBE)
       && !dev_acl("/ota/device/upgrade/#", OTA_MQTT_SUBSCRIBE)
       && !dev_acl("#", OTA_MQTT_SUBSCRIBE)
       && !dev_acl("$share/g//ota/device/upgrade/p1/dev1",
                   OTA_MQTT_SUBSCRIBE),
       "wildcards, shared and other devices' subscriptions refused");
    ok(!dev_acl("/ota/device/upgrade/p1/dev1", OTA_MQTT_WRITE)
       && !dev_acl("/ota/device/inform/p1/dev1", OTA_MQTT_SUBSCRIBE)
       && !dev_acl("/ota/device/inform/p1/dev1", OTA_MQTT_READ),
       "a device neither forges its answers nor reads its reports");
    ok(!dev_acl("/other/topic", OTA_MQTT_WRITE)
       && !dev_acl("$SYS/broker/uptime", OTA_MQTT_SUBSCRIBE),
       "non-OTA topics refused");
    ok(!ota_mqtt_acl_device("dev", 3, "p1", 2, "/ota/device/inform/p1/dev1",
                            26, OTA_MQTT_WRITE),
       "a prefix of the device name is another device");
    ok(bridge_acl("$share/ota-mqtt//ota/device/inform/+/+",
                  OTA_MQTT_SUBSCRIBE)
       && bridge_acl("/sys/+/+/thing/ota/firmware/get", OTA_MQTT_SUBSCRIBE)
       && bridge_acl("/ota/device/inform/p1/dev1", OTA_MQTT_READ)
       && bridge_acl("/ota/device/upgrade/p1/dev1", OTA_MQTT_WRITE)
       && bridge_acl("/sys/p1/dev1/thing/ota/firmware/get_reply",
                     OTA_MQTT_WRITE),
       "the bridge uses every OTA topic, shared subscriptions too");
    ok(bridge_acl("/ota/device/#", OTA_MQTT_SUBSCRIBE)
       && bridge_acl("/ota/device/upgrade/#", OTA_MQTT_SUBSCRIBE)
       && bridge_acl("/ota/device/upgrade/p1/#", OTA_MQTT_SUBSCRIBE)
       && bridge_acl("/sys/+/+/thing/ota/#", OTA_MQTT_SUBSCRIBE)
       && bridge_acl("/sys/p1/+/thing/ota/firmware/#", OTA_MQTT_SUBSCRIBE),
       "'#' over OTA topics only: allowed to the bridge");
    ok(!bridge_acl("/sys/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/sys/+/+/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/device/reboot/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/device/upgradex/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/devicex/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/deviceXinform/p1/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/device/#", OTA_MQTT_WRITE),
       "'#' that reaches other topics, or in a publish: refused");
    ok(!bridge_acl("#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("$share/g/#", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("$share//ota/device/inform/+/+", OTA_MQTT_SUBSCRIBE)
       && !bridge_acl("/ota/device/inform/+/+", OTA_MQTT_WRITE)
       && !bridge_acl("/other", OTA_MQTT_WRITE),
       "but nothing else");

    /* ---- login --------------------------------------------------------- */
    ok(login(CID, "dev1&p1", &l) == NULL && l.device.len == 4
       && l.product.len == 2 && l.ts_ms == 1700000000000LL
       && l.ts.len == 13, "Alibaba login parsed");
    ota_mqtt_login_sign("secret-1", 8, &l, sign);
    is_str(sign, PASS, "password is HMAC-SHA256 of clientId..timestamp..");
    ok(ota_mqtt_login_check("secret-1", 8, &l, PASS, 64),
       "the right password accepted");
    s = strdup(PASS);
    for (char *p = s; *p; p++) {
        if (*p >= 'a' && *p <= 'f') {
            *p = (char) (*p - 'a' + 'A');
        }
    }
    ok(ota_mqtt_login_check("secret-1", 8, &l, s, 64),
       "upper-case hex accepted too");
    free(s);
    ok(!ota_mqtt_login_check("secret-2", 8, &l, PASS, 64),
       "another secret refused");
    ok(!ota_mqtt_login_check("secret-1", 8, &l, PASS, 63)
       && !ota_mqtt_login_check("secret-1", 8, &l, NULL, 0),
       "short or no password refused");
    ok(login("dev1|timestamp=1700000000000,signmethod=HmacSHA256,_v=sdk-4,"
             "securemode=3|", "dev1&p1", &l) == NULL,
       "any order, securemode 3, unknown keys, method case-insensitive");
    ok(login("dev1|securemode=2,signmethod=hmacsha1,timestamp=1|", "dev1&p1",
             &l) != NULL, "hmacsha1 refused");
    ok(login("dev1|securemode=2,signmethod=hmacsha256|", "dev1&p1", &l)
       != NULL, "no timestamp refused");
    ok(login("dev1|securemode=2,timestamp=1|", "dev1&p1", &l) != NULL,
       "no signmethod refused");
    ok(login("dev1|securemode=2,signmethod=hmacsha256,timestamp=12a|",
             "dev1&p1", &l) != NULL
       && login("dev1|securemode=2,signmethod=hmacsha256,timestamp=-1|",
                "dev1&p1", &l) != NULL
       && login("dev1|securemode=2,signmethod=hmacsha256,"
                "timestamp=1234567890123456789|", "dev1&p1", &l) != NULL,
       "a timestamp of other than 1-18 digits refused");
    ok(login("dev1|securemode=9,signmethod=hmacsha256,timestamp=1|",
             "dev1&p1", &l) != NULL, "securemode 9 refused");
    ok(login("dev1", "dev1&p1", &l) != NULL
       && login("dev1|securemode=2,signmethod=hmacsha256,timestamp=1",
                "dev1&p1", &l) != NULL
       && login("|securemode=2,signmethod=hmacsha256,timestamp=1|",
                "dev1&p1", &l) != NULL
       && login("dev1|securemode=2|x|", "dev1&p1", &l) != NULL
       && login("dev1|securemode|", "dev1&p1", &l) != NULL
       && login("dev1||", "dev1&p1", &l) != NULL,
       "malformed client ids refused");
    ok(login(CID, "dev2&p1", &l) != NULL, "user of another device refused");
    ok(login(CID, "dev1", &l) != NULL && login(CID, "dev1&", &l) != NULL
       && login(CID, "dev1&p/1", &l) != NULL && login(CID, NULL, &l) != NULL
       && login(NULL, "dev1&p1", &l) != NULL,
       "malformed or missing user names refused");
    ok(login("../x|securemode=2,signmethod=hmacsha256,timestamp=1|",
             "../x&p1", &l) != NULL, "an invalid device name refused");

    login(CID, "dev1&p1", &l);
    ok(ota_mqtt_login_window(&l, 1700000000000LL + 300000, 300) == NULL
       && ota_mqtt_login_window(&l, 1700000000000LL - 300000, 300) == NULL,
       "the window's edges accepted");
    ok(ota_mqtt_login_window(&l, 1700000000000LL + 300001, 300) != NULL
       && ota_mqtt_login_window(&l, 1700000000000LL - 300001, 300) != NULL,
       "past either edge refused");

    {
        ota_view_t  d, p;

        ok(ota_mqtt_user_split("a&b", 3, &d, &p) == 0 && d.len == 1
           && p.len == 1, "user split");
        ok(ota_mqtt_user_split("a&b&c", 5, &d, &p) != 0,
           "a second '&' makes no valid product");
    }

    /* ---- firmware/get ---------------------------------------------------- */
    ok(get("{\"id\":\"123\",\"version\":\"1.0\",\"params\":{\"module\":\"MCU\"},"
           "\"method\":\"thing.ota.firmware.get\"}", &r) == NULL
       && r.has_id && !r.id_is_int && strcmp(r.module.data, "MCU") == 0,
       "firmware/get parsed");
    ok(get("{\"id\":7}", &r) == NULL && r.id_is_int && r.id_int == 7
       && strcmp(r.module.data, "default") == 0,
       "no params: module default, integer id");
    ok(get("{\"id\":\"1\",\"method\":\"thing.ota.firmware.set\"}", &r) != NULL,
       "another method refused");
    ok(get("{\"id\":\"1\",\"params\":{\"module\":\"a/b\"}}", &r) != NULL,
       "bad module refused");
    ok(get("[1]", &r) != NULL, "not an object refused");
    ok(get("{\"params\":3}", &r) != NULL, "params not an object refused");

    /* ---- drop reasons ---------------------------------------------------- */
    {
        json_error_t  e;
        json_t       *b;

        b = json_loads("{\"params\":{\"version\":\"1.0\"}}", 0, &e);
        is_str(ota_mqtt_drop_reason(ota_request_inform(b, &r)), "bad_version",
               "bad version reason");
        json_decref(b);
        b = json_loads("{\"params\":{\"step\":\"101\"}}", 0, &e);
        is_str(ota_mqtt_drop_reason(ota_request_progress(b, &r)), "bad_step",
               "step out of range reason");
        json_decref(b);
        b = json_loads("{\"params\":{\"step\":1,\"desc\":7}}", 0, &e);
        is_str(ota_mqtt_drop_reason(ota_request_progress(b, &r)), "bad_desc",
               "bad desc reason");
        json_decref(b);
        b = json_loads("{\"params\":{\"version\":\"1.0.0\",\"module\":\"\"}}",
                       0, &e);
        is_str(ota_mqtt_drop_reason(ota_request_inform(b, &r)), "bad_module",
               "bad module reason");
        json_decref(b);
        b = json_loads("{\"params\":[]}", 0, &e);
        is_str(ota_mqtt_drop_reason(ota_request_inform(b, &r)), "bad_payload",
               "anything else: bad_payload");
        json_decref(b);
    }

    /* ---- answers --------------------------------------------------------- */
    j = ota_mqtt_notice(json_pack("{s:s}", "version", "1.1.0"), 1234);
    s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    is_str(s, "{\"code\":\"200\",\"data\":{\"version\":\"1.1.0\"},\"id\":1234,"
              "\"message\":\"success\"}", "upgrade notice");
    free(s);
    json_decref(j);

    get("{\"id\":\"123\"}", &r);
    r.id.data = "123";
    j = ota_mqtt_get_reply(&r, json_object());
    s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    is_str(s, "{\"code\":200,\"data\":{},\"id\":\"123\"}",
           "get_reply with nothing to do");
    free(s);
    json_decref(j);
    ok(ota_mqtt_notice(NULL, 1) == NULL, "no data, no notice");

    return done_testing();
}
