/* libFuzzer target: what reaches the MQTT channel from the network: topic
 * names and filters, client ids and user names of logins, firmware/get
 * payloads.  Never crashes; an accepted topic names valid names inside the
 * input and is rebuilt to the same bytes; the ACL never lets a device use
 * a topic that does not parse as its own; an accepted login names the
 * same device in client id and user name; garbage passwords never verify.
 * The input's first byte picks the split point of client id / user name. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_mqtt.h"
#include "ota_names.h"

static int
inside(const char *p, size_t len, const char *s, size_t size)
{
    return p >= s && p + len <= s + size;
}

static void
check_topic(const char *s, size_t size)
{
    char              buf[OTA_MQTT_TOPIC_MAX];
    int               n;
    ota_mqtt_topic_t  t;
    int               a;

    if (ota_mqtt_topic_parse(s, size, 0, &t) == 0) {
        if (!ota_name_device(t.device.data, t.device.len)
            || !ota_name_product(t.product.data, t.product.len)
            || !inside(t.device.data, t.device.len, s, size)
            || !inside(t.product.data, t.product.len, s, size))
        {
            abort();
        }
        n = ota_mqtt_topic_make(buf, sizeof(buf), t.kind, t.product.data,
                                t.product.len, t.device.data, t.device.len);
        if (n < 0 || (size_t) n != size || memcmp(buf, s, size) != 0) {
            abort();
        }
    } else {
        /* nothing that does not parse is any device's */
        for (a = 1; a <= 8; a <<= 1) {
            if (ota_mqtt_acl_device("d", 1, "p", 1, s, size, a)) {
                abort();
            }
        }
    }

    (void) ota_mqtt_topic_parse(s, size, 1, &t);
    for (a = 1; a <= 8; a <<= 1) {
        (void) ota_mqtt_acl_bridge(s, size, a);
    }
}

static void
check_login(const char *s, size_t size)
{
    size_t            cut;
    ota_mqtt_login_t  l;

    if (size < 2) {
        return;
    }
    cut = 1 + (unsigned char) s[0] % (size - 1);

    if (ota_mqtt_login_parse(s + 1, cut - 1, s + cut, size - cut, &l)
        == NULL)
    {
        if (!ota_name_device(l.device.data, l.device.len)
            || !ota_name_product(l.product.data, l.product.len)
            || !inside(l.device.data, l.device.len, s, size)
            || l.ts_ms < 0)
        {
            abort();
        }
        (void) ota_mqtt_login_window(&l, 0, 300);
        if (ota_mqtt_login_check("secret", 6, &l, s, size)) {
            abort();                /* would be a forged HMAC */
        }
    }
}

static void
check_get(const char *s, size_t size)
{
    json_t            *j;
    json_error_t       e;
    ota_report_req_t   r;

    j = json_loadb(s, size, 0, &e);
    if (j == NULL) {
        return;
    }
    if (ota_mqtt_get_parse(j, &r) == NULL) {
        if (!ota_name_module(r.module.data, r.module.len)) {
            abort();
        }
        json_decref(ota_mqtt_get_reply(&r, json_object()));
    } else {
        (void) ota_mqtt_drop_reason(ota_mqtt_get_parse(j, &r));
    }
    json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *s = (const char *) data;

    check_topic(s, size);
    check_login(s, size);
    check_get(s, size);

    return 0;
}
