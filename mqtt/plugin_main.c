/*
 * plugin_main.c: the entry points of ota_mqtt_auth.so and its options.
 *
 *   plugin /usr/lib/ota/ota_mqtt_auth.so
 *   plugin_opt_redis            127.0.0.1:6379   the project's one address
 *                                                syntax (include/ota_addr.h):
 *                                                ADDR [password=P] [db=N],
 *                                                unix:/path, sentinel=A,B
 *                                                master=NAME
 *   plugin_opt_redis_password   P                (optional, as password=)
 *   plugin_opt_redis_db         N                (optional, as db=)
 *   plugin_opt_redis_timeout    100              ms, connect and answer
 *   plugin_opt_redis_retry      1000             ms without Redis after a failure
 *   plugin_opt_auth_window      300              s, accepted clock difference
 *   plugin_opt_bridge_user      ota-bridge
 *   plugin_opt_bridge_password  <secret>
 *   plugin_opt_cache_size       65536            verified devices kept
 *   plugin_opt_cache_ttl        60               s a verification is reused
 *
 * A bad option stops the broker at start with the reason in its log.
 */

#include "ota_mqtt_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTA_EXPORT  __attribute__((visibility("default")))


static ota_plugin_t  *ota_the_plugin;


OTA_EXPORT int
mosquitto_plugin_version(int supported_version_count,
    const int *supported_versions)
{
    int  i;

    for (i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == MOSQ_PLUGIN_VERSION) {
            return MOSQ_PLUGIN_VERSION;
        }
    }

    return -1;
}


static int
ota_plugin_num(const char *k, const char *v, long min, long max, long *out)
{
    char  *end;
    long   n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_mqtt_auth: plugin_opt_%s "
                             "\"%s\" is invalid (want %ld..%ld)", k, v, min,
                             max);
        return -1;
    }

    *out = n;
    return 0;
}


static int
ota_plugin_option(ota_plugin_t *p, const char *k, const char *v,
    long *cache_size)
{
    long  n;
    char  err[256];

#define num(name, min, max, dst)                                             \
    if (strcmp(k, name) == 0) {                                              \
        if (ota_plugin_num(k, v, min, max, &n) != 0) {                       \
            return -1;                                                       \
        }                                                                    \
        dst = n;                                                             \
        return 0;                                                            \
    }

    if (strcmp(k, "redis") == 0) {
        char  warn[1600];

        if (ota_redis_addr_set(&p->addr, v, err, sizeof(err), warn,
                               sizeof(warn)) != 0)
        {
            mosquitto_log_printf(MOSQ_LOG_ERR, "ota_mqtt_auth: "
                                 "plugin_opt_redis: %s", err);
            return -1;
        }
        if (warn[0]) {
            mosquitto_log_printf(MOSQ_LOG_WARNING, "ota_mqtt_auth: "
                                 "plugin_opt_%s", warn);
        }
        /* every login runs on the broker's one thread: no name lookup */
        if (ota_addr_needs_dns(&p->addr)) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "ota_mqtt_auth: "
                                 "plugin_opt_redis \"%s\": a host name would "
                                 "be looked up on the broker's thread (it "
                                 "blocks); give an IP address or unix:/path",
                                 v);
            return -1;
        }
        return 0;
    }

    if (strcmp(k, "redis_password") == 0) {
        snprintf(p->addr.password, sizeof(p->addr.password), "%s", v);
        return 0;
    }

    num("redis_db", 0, 1000, p->addr.db)
    num("redis_timeout", 1, 10000, p->timeout_ms)
    num("redis_retry", 0, 600000, p->retry_ms)
    num("auth_window", 1, 86400 * 365, p->window_s)
    num("cache_size", 0, 1L << 24, *cache_size)
    num("cache_ttl", 0, 86400, p->cache_ttl_ms)

#undef num

    if (strcmp(k, "bridge_user") == 0 || strcmp(k, "bridge_password") == 0) {
        char  **dst = k[7] == 'u' ? &p->bridge_user : &p->bridge_password;

        mosquitto_free(*dst);
        *dst = mosquitto_strdup(v);
        return *dst ? 0 : -1;
    }

    mosquitto_log_printf(MOSQ_LOG_WARNING, "ota_mqtt_auth: unknown option "
                         "plugin_opt_%s ignored", k);
    return 0;
}


static void
ota_plugin_free(ota_plugin_t *p)
{
    if (p == NULL) {
        return;
    }
    ota_plugin_redis_close(p);
    mosquitto_free(p->bridge_user);
    mosquitto_free(p->bridge_password);
    ota_lcache_free(p->cache);
    mosquitto_free(p);
}


OTA_EXPORT int
mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
    struct mosquitto_opt *options, int option_count)
{
    int            i, have_redis;
    long           cache_size;
    ota_plugin_t  *p;

    p = mosquitto_calloc(1, sizeof(ota_plugin_t));
    if (p == NULL) {
        return MOSQ_ERR_NOMEM;
    }

    p->id = identifier;
    p->timeout_ms = 100;
    p->retry_ms = 1000;
    p->window_s = 300;
    p->cache_ttl_ms = 60;
    cache_size = 65536;
    have_redis = 0;

    for (i = 0; i < option_count; i++) {
        have_redis |= strcmp(options[i].key, "redis") == 0;
        if (ota_plugin_option(p, options[i].key, options[i].value,
                              &cache_size) != 0)
        {
            ota_plugin_free(p);
            return MOSQ_ERR_INVAL;
        }
    }

    if (!have_redis) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_mqtt_auth: plugin_opt_redis "
                             "is missing (HOST:PORT, unix:/path or "
                             "sentinel=IP:PORT,.../MASTER)");
        ota_plugin_free(p);
        return MOSQ_ERR_INVAL;
    }

    if ((p->bridge_user == NULL) != (p->bridge_password == NULL)
        || (p->bridge_password && strlen(p->bridge_password) < 16))
    {
        mosquitto_log_printf(MOSQ_LOG_ERR, "ota_mqtt_auth: set both "
                             "plugin_opt_bridge_user and "
                             "plugin_opt_bridge_password (16 characters or "
                             "more), or neither");
        ota_plugin_free(p);
        return MOSQ_ERR_INVAL;
    }

    p->cache_ttl_ms *= 1000;
    ota_redis_read_timeout_ms = p->timeout_ms;

    p->cache = ota_lcache_new(cache_size, p->cache_ttl_ms);
    if (p->cache == NULL && cache_size > 0 && p->cache_ttl_ms > 0) {
        ota_plugin_free(p);
        return MOSQ_ERR_NOMEM;
    }

    if (mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH,
                                    ota_plugin_basic_auth, NULL, p)
        != MOSQ_ERR_SUCCESS
        || mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK,
                                       ota_plugin_acl_check, NULL, p)
           != MOSQ_ERR_SUCCESS)
    {
        ota_plugin_free(p);
        return MOSQ_ERR_UNKNOWN;
    }

    mosquitto_log_printf(MOSQ_LOG_INFO, "ota_mqtt_auth: devices log in with "
                         "their secret from Redis at %s (timeout %d ms, auth "
                         "window %d s, cache of %zu verified devices for "
                         "%lld s); bridge user %s",
                         ota_redis_addr_str(&p->addr), p->timeout_ms,
                         p->window_s,
                         ota_lcache_capacity(p->cache),
                         (long long) p->cache_ttl_ms / 1000,
                         p->bridge_user ? p->bridge_user : "(none)");

    ota_the_plugin = p;
    *userdata = p;

    return MOSQ_ERR_SUCCESS;
}


OTA_EXPORT int
mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options,
    int option_count)
{
    ota_plugin_t  *p = userdata;

    (void) options;
    (void) option_count;

    if (p == NULL) {
        return MOSQ_ERR_SUCCESS;
    }

    mosquitto_callback_unregister(p->id, MOSQ_EVT_BASIC_AUTH,
                                  ota_plugin_basic_auth, NULL);
    mosquitto_callback_unregister(p->id, MOSQ_EVT_ACL_CHECK,
                                  ota_plugin_acl_check, NULL);

    mosquitto_log_printf(MOSQ_LOG_INFO, "ota_mqtt_auth: %lu logins, %lu "
                         "refused, %lu from the cache, %lu Redis lookups",
                         p->logins, p->refused, p->cache_hits,
                         p->redis_lookups);

    ota_plugin_free(p);
    ota_the_plugin = NULL;

    return MOSQ_ERR_SUCCESS;
}
