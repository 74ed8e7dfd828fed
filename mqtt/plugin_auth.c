/*
 * plugin_auth.c: MOSQ_EVT_BASIC_AUTH, the device login.
 *
 *   1  the bridge's user: its password, compared in constant time
 *   2  client id and user name parsed, the timestamp within the window
 *      (include/ota_mqtt.c): refused before any lookup
 *   3  the device's product and secret: from the cache when verified less
 *      than cache_ttl ago, else one HMGET of ota:dev:{<device>}
 *   4  the password checked against the secret; a cached secret that does
 *      not match is looked up once more (it may have changed), and kept
 *      when Redis does not answer, so wrong passwords evict no device
 *
 * Redis unreachable: a login that needs it is refused (fail closed), and
 * Redis is not tried again for retry_ms, so a login storm during an
 * outage costs the broker one timeout per retry_ms at most.  Connected
 * clients are not touched.  Every refusal is one log line with its reason;
 * the device only sees CONNACK "not authorised".
 */

#include "ota_mqtt_plugin.h"

#include <stdio.h>
#include <string.h>

#include "ota_keys.h"
#include "ota_mqtt.h"
#include "ota_names.h"
#include "ota_token.h"


typedef enum {
    OTA_LOOKUP_OK = 0,
    OTA_LOOKUP_UNKNOWN,         /* no such device */
    OTA_LOOKUP_UNAVAILABLE      /* Redis away */
} ota_lookup_e;


/* ---- Redis --------------------------------------------------------------- */

void
ota_plugin_redis_close(ota_plugin_t *p)
{
    if (p->rc != NULL) {
        redisFree(p->rc);
        p->rc = NULL;
    }
}


static void
ota_plugin_redis_failed(ota_plugin_t *p, int64_t now, const char *why)
{
    ota_plugin_redis_close(p);
    p->next_try = now + p->retry_ms;

    if (!p->redis_down) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_mqtt_auth: Redis at %s is "
                             "unreachable (%s): new device logins are "
                             "refused until it answers; connected clients "
                             "are not affected", ota_redis_addr_str(&p->addr),
                             why);
        p->redis_down = 1;
    }
}


static redisReply *
ota_plugin_hmget(ota_plugin_t *p, const char *key)
{
    return redisCommand(p->rc, "HMGET %s product secret", key);
}


/* the device's product and secret (NUL-terminated into the buffers) */
static ota_lookup_e
ota_plugin_lookup(ota_plugin_t *p, const ota_view_t *device, int64_t now,
    char *product, size_t product_size, char *secret, size_t secret_size)
{
    int          attempt;
    char         key[128], dev[OTA_NAME_MAX + 1], err[256];
    redisReply  *r;

    snprintf(dev, sizeof(dev), "%.*s", (int) device->len, device->data);
    snprintf(key, sizeof(key), OTA_KEY_DEVICE, dev);

    r = NULL;

    /* a connection Redis closed (a restart) fails on its first use: one
     * more attempt on a fresh connection before giving up */
    for (attempt = 0; attempt < 2 && r == NULL; attempt++) {
        if (p->rc == NULL) {
            if (now < p->next_try) {
                return OTA_LOOKUP_UNAVAILABLE;
            }

            p->rc = ota_redis_connect(&p->addr, p->timeout_ms, err,
                                      sizeof(err));
            if (p->rc == NULL) {
                ota_plugin_redis_failed(p, now, err);
                return OTA_LOOKUP_UNAVAILABLE;
            }
        }

        p->redis_lookups++;
        r = ota_plugin_hmget(p, key);

        if (r == NULL) {
            snprintf(err, sizeof(err), "%s", p->rc->errstr);
            ota_plugin_redis_close(p);
            if (attempt == 1) {
                ota_plugin_redis_failed(p, now, err);
                return OTA_LOOKUP_UNAVAILABLE;
            }
        }
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        snprintf(err, sizeof(err), "unexpected answer to HMGET %s%s%s", key,
                 r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
        ota_plugin_redis_failed(p, now, err);
        return OTA_LOOKUP_UNAVAILABLE;
    }

    if (p->redis_down) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_mqtt_auth: Redis at %s "
                             "answers again", ota_redis_addr_str(&p->addr));
        p->redis_down = 0;
    }

    if (r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        freeReplyObject(r);
        return OTA_LOOKUP_UNKNOWN;
    }

    snprintf(product, product_size, "%s", r->element[0]->str);
    snprintf(secret, secret_size, "%s", r->element[1]->str);
    freeReplyObject(r);

    return OTA_LOOKUP_OK;
}


/* ---- the login ------------------------------------------------------------- */

static int
ota_plugin_refuse(ota_plugin_t *p, struct mosquitto *client,
    const char *user, const char *why)
{
    const char  *id;

    p->refused++;
    id = mosquitto_client_id(client);

    mosquitto_log_printf(MOSQ_LOG_NOTICE, "ota_mqtt_auth: refused client "
                         "\"%s\" user \"%s\" from %s: %s", id ? id : "",
                         user ? user : "", mosquitto_client_address(client),
                         why);

    return MOSQ_ERR_AUTH;
}


static int
ota_plugin_bridge(ota_plugin_t *p, struct mosquitto *client,
    const char *user, const char *password)
{
    size_t  n;

    n = strlen(p->bridge_password);

    if (password == NULL || strlen(password) != n
        || !ota_ct_equal(password, p->bridge_password, n))
    {
        return ota_plugin_refuse(p, client, user,
                                 "wrong password of the bridge's user");
    }

    p->logins++;
    return MOSQ_ERR_SUCCESS;
}


int
ota_plugin_basic_auth(int event, void *event_data, void *userdata)
{
    int                               cached;
    char                              product[OTA_NAME_MAX + 1];
    char                              secret[OTA_PLUGIN_SECRET_MAX + 1];
    int64_t                           now;
    const char                       *id, *why, *e, *nl;
    ota_lookup_e                      rc;
    ota_mqtt_login_t                  l;
    ota_plugin_t                     *p = userdata;
    struct mosquitto_evt_basic_auth  *ed = event_data;

    (void) event;

    if (p->bridge_user != NULL && ed->username != NULL
        && strcmp(ed->username, p->bridge_user) == 0)
    {
        return ota_plugin_bridge(p, ed->client, ed->username, ed->password);
    }

    id = mosquitto_client_id(ed->client);

    why = ota_mqtt_login_parse(id, id ? strlen(id) : 0, ed->username,
                               ed->username ? strlen(ed->username) : 0, &l);
    if (why != NULL) {
        return ota_plugin_refuse(p, ed->client, ed->username, why);
    }

    now = ota_now_ms();

    why = ota_mqtt_login_window(&l, now, p->window_s);
    if (why != NULL) {
        return ota_plugin_refuse(p, ed->client, ed->username, why);
    }

    if (ed->password == NULL) {
        return ota_plugin_refuse(p, ed->client, ed->username, "no password");
    }

    /* "<product>\n<secret>" of a device verified less than cache_ttl ago */
    e = ota_lcache_get(p->cache, l.device.data, l.device.len, now);
    cached = 0;

    if (e != NULL) {
        p->cache_hits++;
        nl = strchr(e, '\n');

        if (nl != NULL && (size_t) (nl - e) < sizeof(product)
            && ota_mqtt_login_check(nl + 1, strlen(nl + 1), &l,
                                    ed->password, strlen(ed->password)))
        {
            snprintf(product, sizeof(product), "%.*s", (int) (nl - e), e);
            cached = 1;
        }

        /* else the secret may have changed since: ask Redis (the entry
         * stays, so wrong passwords cannot evict a device) */
    }

    if (!cached) {
        rc = ota_plugin_lookup(p, &l.device, now, product, sizeof(product),
                               secret, sizeof(secret));

        if (rc == OTA_LOOKUP_UNAVAILABLE) {
            return ota_plugin_refuse(p, ed->client, ed->username,
                                     e != NULL
                                     ? "wrong password (not the HMAC-SHA256 "
                                       "of the device secret)"
                                     : "Redis unreachable: new logins are "
                                       "refused");
        }

        if (rc == OTA_LOOKUP_UNKNOWN) {
            ota_lcache_drop(p->cache, l.device.data, l.device.len);
            return ota_plugin_refuse(p, ed->client, ed->username,
                                     "unknown device");
        }
    }

    if (strlen(product) != l.product.len
        || memcmp(product, l.product.data, l.product.len) != 0)
    {
        return ota_plugin_refuse(p, ed->client, ed->username,
                                 "the device belongs to another product");
    }

    /* a cached secret was checked above */
    if (!cached
        && !ota_mqtt_login_check(secret, strlen(secret), &l, ed->password,
                                 strlen(ed->password)))
    {
        return ota_plugin_refuse(p, ed->client, ed->username,
                                 "wrong password (not the HMAC-SHA256 of "
                                 "the device secret)");
    }

    if (!cached) {
        /* a new entry, or the one of a secret that changed */
        char  v[OTA_LCACHE_VALUE_MAX + 2];

        if ((size_t) snprintf(v, sizeof(v), "%s\n%s", product, secret)
            <= OTA_LCACHE_VALUE_MAX)
        {
            ota_lcache_put(p->cache, l.device.data, l.device.len, v, now);
        }
    }

    p->logins++;

    return MOSQ_ERR_SUCCESS;
}
