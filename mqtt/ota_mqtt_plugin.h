/*
 * ota_mqtt_plugin.h: ota_mqtt_auth.so, the mosquitto 2.0 plugin (API v5)
 * that logs devices in with the device secret of the HTTP API (Alibaba's
 * one-device-one-secret form, include/ota_mqtt.h) and keeps each device on
 * its own topics.
 *
 *   plugin_main.c   version, init (plugin_opt_*), cleanup
 *   plugin_auth.c   MOSQ_EVT_BASIC_AUTH: the login, the Redis lookup of the
 *                   device record, the bounded cache of verified secrets
 *   plugin_acl.c    MOSQ_EVT_ACL_CHECK: devices on their own topics, the
 *                   bridge's user on all OTA topics, nobody else
 *
 * The broker runs every callback on its one thread, so none may wait for
 * long: Redis is asked synchronously with a short timeout (default 100 ms)
 * and, after a failure, not again for plugin_opt_redis_retry ms (logins
 * that need it are refused at once meanwhile: fail closed); a login whose
 * device was verified within plugin_opt_cache_ttl needs no Redis at all;
 * the ACL is decided from the user name alone.
 */

#ifndef OTA_MQTT_PLUGIN_H
#define OTA_MQTT_PLUGIN_H

#include <stdint.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "ota_common.h"
#include "ota_lcache.h"

#define OTA_PLUGIN_SECRET_MAX  128      /* otactl: 16-128 characters */

typedef struct {
    mosquitto_plugin_id_t  *id;

    ota_addr_t              addr;
    int                     timeout_ms;     /* connect and each command */
    int                     retry_ms;       /* no new attempt before */
    int                     window_s;       /* plugin_opt_auth_window */
    char                   *bridge_user;
    char                   *bridge_password;

    redisContext           *rc;
    int64_t                 next_try;       /* ms */
    int                     redis_down;     /* logged once per outage */

    /* device -> "<product>\n<secret>" of a verified login */
    ota_lcache_t           *cache;
    int64_t                 cache_ttl_ms;

    unsigned long           logins, refused, cache_hits, redis_lookups;
} ota_plugin_t;

int ota_plugin_basic_auth(int event, void *event_data, void *userdata);
int ota_plugin_acl_check(int event, void *event_data, void *userdata);

void ota_plugin_redis_close(ota_plugin_t *p);

#endif /* OTA_MQTT_PLUGIN_H */
