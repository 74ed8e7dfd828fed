/*
 * plugin_acl.c: MOSQ_EVT_ACL_CHECK.  Called for every publish, subscribe
 * and delivery, so it is decided from the client's user name (verified at
 * login) and the topic alone: no Redis, no allocation.
 */

#include "ota_mqtt_plugin.h"

#include <string.h>

#include "ota_mqtt.h"


int
ota_plugin_acl_check(int event, void *event_data, void *userdata)
{
    int                              ok;
    const char                      *user;
    ota_view_t                       dev, prod;
    ota_plugin_t                    *p = userdata;
    struct mosquitto_evt_acl_check  *ed = event_data;

    (void) event;

    user = mosquitto_client_username(ed->client);
    if (user == NULL || ed->topic == NULL) {
        return MOSQ_ERR_ACL_DENIED;
    }

    if (p->bridge_user != NULL && strcmp(user, p->bridge_user) == 0) {
        ok = ota_mqtt_acl_bridge(ed->topic, strlen(ed->topic), ed->access);

    } else if (ota_mqtt_user_split(user, strlen(user), &dev, &prod) == 0) {
        /* a retained report would be delivered again to every bridge that
         * subscribes: devices publish none */
        ok = !(ed->access == MOSQ_ACL_WRITE && ed->retain)
             && ota_mqtt_acl_device(dev.data, dev.len, prod.data, prod.len,
                                    ed->topic, strlen(ed->topic),
                                    ed->access);

    } else {
        ok = 0;
    }

    if (!ok && ed->access != MOSQ_ACL_READ) {
        /* a read refusal is a delivery the client never asked for by
         * name: not worth a line each */
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_mqtt_auth: denied %s of "
                             "\"%s\" to client %s (user %s)",
                             ed->access == MOSQ_ACL_WRITE
                             ? (ed->retain ? "retained publish" : "publish")
                             : ed->access == MOSQ_ACL_SUBSCRIBE ? "subscribe"
                             : "unsubscribe",
                             ed->topic, mosquitto_client_id(ed->client),
                             user);
    }

    return ok ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}
