/*
 * ngx_ota_admin.c: the read-only admin API (GET/HEAD, admin bearer token
 * checked by ngx_ota_module.c): dispatch, and GET <admin>/metrics in
 * Prometheus text.  What the endpoints share is ngx_ota_admin_util.c.
 *
 *   batches                      ngx_ota_admin_batch.c
 *   batches/<id>                 ngx_ota_admin_batch.c
 *   batches/<id>/devices         ngx_ota_admin_batch.c
 *   batches/<id>/histogram       ngx_ota_admin_histogram.c
 *   packages                     ngx_ota_admin_package.c
 *   packages/<id>                ngx_ota_admin_package.c
 *   versions?product=&module=    ngx_ota_admin_package.c
 *   packages/<id>/manifest       ngx_ota_admin_sign.c
 *   products                     ngx_ota_admin_fleet.c
 *   products/<p>                 ngx_ota_admin_fleet.c
 *   devices?product=&cursor=     ngx_ota_admin_devices.c
 *   devices/<device>             ngx_ota_admin_fleet.c
 *   config                       ngx_ota_admin_config.c
 *   audit?limit=                 ngx_ota_admin_audit.c
 *   whoami                       here: the token's name and role, so a
 *                                console shows only what the token may do
 *   metrics                      here
 *
 * Writes (POST, PUT) go to ngx_ota_admin_write.c instead.
 *
 * Everything is read from counters the worker keeps (O(1) per batch) or
 * from bounded pages: no request scans tasks or keys.  Every token reads
 * (viewers and operators alike).
 */

#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_redis.h"

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_task.h"


/* per-batch series cover only the most recent batches: bounded output */
#define NGX_OTA_METRICS_BATCHES  100

/* replies before the batch list: the MQTT bridges' two counter hashes */
#define NGX_OTA_METRICS_MQTT     2
/* bounded: reasons and kinds are a handful of short words */
#define NGX_OTA_METRICS_MQTT_MAX 4096


typedef struct {
    ngx_http_request_t   *request;
    u_char               *buf;
    u_char               *pos;
    u_char               *end;
    ngx_str_t            *ids;
    ngx_uint_t            nids;
    ngx_uint_t            running;      /* running batches seen */
    u_char               *mqtt;         /* the bridges' counters, as text */
    u_char               *mqtt_pos;
    ngx_uint_t            paused;       /* paused ones (admin or rule) */
    ngx_uint_t            aborted;      /* cancelled by an abort rule */
    unsigned              current:1;    /* the batch being read runs */
} ngx_ota_metrics_t;


static ngx_int_t ngx_ota_admin_whoami(ngx_http_request_t *r);
static ngx_int_t ngx_ota_admin_metrics(ngx_http_request_t *r);
static void ngx_ota_admin_metrics_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_ota_admin_metrics_send(ngx_ota_metrics_t *m,
    ngx_uint_t redis_up);
static ngx_int_t ngx_ota_admin_metrics_mqtt(ngx_ota_metrics_t *m,
    ngx_uint_t index, redisReply *reply);


ngx_int_t
ngx_ota_admin_handler(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char     *slash;
    ngx_str_t   rest, id;


    rest = *path;

    /* a trailing slash names the same resource */
    while (rest.len && rest.data[rest.len - 1] == '/') {
        rest.len--;
    }

    if (ngx_ota_str_is(rest, "metrics")) {
        return ngx_ota_admin_metrics(r);
    }

    if (ngx_ota_str_is(rest, "batches")) {
        return ngx_ota_admin_batches(r);
    }

    if (ngx_ota_str_is(rest, "versions")) {
        return ngx_ota_admin_versions(r);
    }

    if (ngx_ota_str_is(rest, "packages")) {
        return ngx_ota_admin_packages(r);
    }

    if (ngx_ota_str_is(rest, "products")) {
        return ngx_ota_admin_products(r);
    }

    if (ngx_ota_str_is(rest, "devices")) {
        return ngx_ota_admin_devices(r);
    }

    if (ngx_ota_str_is(rest, "config")) {
        return ngx_ota_admin_config_get(r);
    }

    if (ngx_ota_str_is(rest, "audit")) {
        return ngx_ota_admin_audit_read(r);
    }

    if (ngx_ota_str_is(rest, "whoami")) {
        return ngx_ota_admin_whoami(r);
    }

    if (rest.len > 8 && ngx_strncmp(rest.data, "batches/", 8) == 0) {
        id.data = rest.data + 8;
        id.len = rest.len - 8;

        slash = ngx_strlchr(id.data, id.data + id.len, '/');
        if (slash) {
            rest.data = slash + 1;
            rest.len = id.data + id.len - rest.data;
            id.len = slash - id.data;

            if (!ngx_ota_str_is(rest, "devices")
                && !ngx_ota_str_is(rest, "histogram"))
            {
                return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such admin resource");
            }
        }

        if (!ota_name_id((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid batch id "
                                      "([A-Za-z0-9_-]{1,64})");
        }

        if (slash == NULL) {
            return ngx_ota_admin_batch(r, &id);
        }

        return ngx_ota_str_is(rest, "devices")
               ? ngx_ota_admin_batch_devices(r, &id)
               : ngx_ota_admin_batch_histogram(r, &id);
    }

    if (rest.len > 9 && ngx_strncmp(rest.data, "packages/", 9) == 0) {
        id.data = rest.data + 9;
        id.len = rest.len - 9;

        /* packages/<id>/manifest (ngx_ota_admin_sign.c) */
        if (id.len > 9
            && ngx_strncmp(id.data + id.len - 9, "/manifest", 9) == 0)
        {
            id.len -= 9;

            if (!ota_name_id((char *) id.data, id.len)) {
                return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                          "not a valid package id "
                                          "([A-Za-z0-9_-]{1,64})");
            }

            return ngx_ota_admin_package_manifest(r, &id);
        }

        if (!ota_name_id((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid package id "
                                      "([A-Za-z0-9_-]{1,64})");
        }

        return ngx_ota_admin_package(r, &id);
    }

    if (rest.len > 9 && ngx_strncmp(rest.data, "products/", 9) == 0) {
        id.data = rest.data + 9;
        id.len = rest.len - 9;

        if (!ota_name_product((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid product name "
                                      "([A-Za-z0-9_.:-]{1,64}, not starting "
                                      "with '.')");
        }

        return ngx_ota_admin_product(r, &id);
    }

    if (rest.len > 8 && ngx_strncmp(rest.data, "devices/", 8) == 0) {
        id.data = rest.data + 8;
        id.len = rest.len - 8;

        if (!ota_name_device((char *) id.data, id.len)) {
            return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                      "not a valid device name "
                                      "([A-Za-z0-9_.:-]{1,64}, not starting "
                                      "with '.')");
        }

        return ngx_ota_admin_device(r, &id);
    }


    return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                              "no such admin resource: use batches, "
                              "batches/<id>, batches/<id>/devices, "
                              "batches/<id>/histogram, packages, "
                              "packages/<id>, versions, products, "
                              "products/<p>, devices?product=, "
                              "devices/<device>, config, audit, whoami or "
                              "metrics");
}


/* ---- whoami ------------------------------------------------------------- */

/* {"token": name, "role": "viewer"|"operator", "write": bool}: no Redis */
static ngx_int_t
ngx_ota_admin_whoami(ngx_http_request_t *r)
{
    json_t                 *j;
    ngx_int_t               rc;
    ngx_ota_ctx_t          *ctx;
    ngx_ota_admin_token_t  *t;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    t = ctx->admin;

    j = json_pack("{s:s%, s:s, s:b}", "token", t->name.data, t->name.len,
                  "role", ngx_ota_role_name(t->role),
                  "write", t->role == NGX_OTA_ROLE_OPERATOR);
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_ota_send_json(r, NGX_HTTP_OK, j);
}


/* ---- metrics ----------------------------------------------------------- */

/*
 * The node's counters (shared memory, no Redis), the MQTT bridges'
 * counters (two HGETALLs: the bridges keep them in Redis, so they are the
 * same on every node), then the task counts per state of each running
 * batch among the NGX_OTA_METRICS_BATCHES most recent: one ZREVRANGE,
 * then HMGET state abort + HGETALL counts per batch in one pipeline; the
 * paused and aborted ones (docs/rollouts.md) are counted too.  Without
 * Redis the node's counters are still served, with ota_redis_up 0.
 */
static ngx_int_t
ngx_ota_admin_metrics(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_ota_metrics_t     *m;
    ngx_ota_redis_call_t  *call;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_pcalloc(r->pool, sizeof(ngx_ota_metrics_t));
    if (m == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m->request = r;

    call = ngx_ota_redis_call(r, ngx_ota_admin_metrics_reply, m);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HGETALL %s", OTA_KEY_MQTT_DROPPED);

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "HGETALL %s", OTA_KEY_MQTT_HANDLED);
    }

    if (rc == NGX_OK) {
        rc = ngx_ota_redis_cmd(call, "ZREVRANGE %s 0 %d", OTA_KEY_BATCHES,
                               NGX_OTA_METRICS_BATCHES - 1);
    }

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        return ngx_ota_admin_metrics_send(m, 0);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_ota_admin_metrics_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t               size;
    ngx_int_t            rc;
    ngx_str_t            key, id;
    ngx_uint_t           i, k;
    redisReply          *e;
    ngx_ota_metrics_t   *m = call->data;
    ngx_http_request_t  *r = call->request;

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: metrics: redis error: %*s",
                      (size_t) reply->len, reply->str);
    }

    /* without Redis the node's counters are still worth serving */
    if (reply == NULL
        || (call->index <= NGX_OTA_METRICS_MQTT
            && reply->type == REDIS_REPLY_ERROR))
    {
        if (call->index == NGX_OTA_METRICS_MQTT || reply == NULL) {
            ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 0));
        }
        return;
    }

    if (call->index < NGX_OTA_METRICS_MQTT) {
        if (ngx_ota_admin_metrics_mqtt(m, call->index, reply) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;
    }

    if (call->index == NGX_OTA_METRICS_MQTT) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
            ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 1));
            return;
        }

        m->ids = ngx_pcalloc(r->pool, reply->elements * sizeof(ngx_str_t));
        if (m->ids == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        /* every running batch: one line per state, plus the header */
        size = 512;

        for (i = 0; i < reply->elements; i++) {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING
                || !ota_name_id(e->str, e->len))
            {
                continue;
            }

            id.data = (u_char *) e->str;
            id.len = e->len;

            m->ids[m->nids].len = id.len;
            m->ids[m->nids].data = ngx_ota_pstrdup0(r->pool, &id);
            if (m->ids[m->nids].data == NULL) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            size += OTA_TS_COUNT
                    * (sizeof("ota_batch_tasks{batch=\"\",state=\"\"} \n")
                       + id.len + sizeof("downloading") + NGX_OFF_T_LEN);
            m->nids++;
        }

        if (m->nids == 0) {
            ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 1));
            return;
        }

        m->buf = ngx_pnalloc(r->pool, size);
        if (m->buf == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        m->pos = m->buf;
        m->end = m->buf + size;

        m->pos = ngx_slprintf(m->pos, m->end,
                    "# HELP ota_batch_tasks Tasks of a running batch by "
                    "state (the %d most recent batches).\n"
                    "# TYPE ota_batch_tasks gauge\n",
                    NGX_OTA_METRICS_BATCHES);

        for (i = 0; i < m->nids; i++) {
            if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH, &m->ids[i], NULL,
                            NULL) == NULL)
            {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            rc = ngx_ota_redis_cmd(call, "HMGET %b state " OTA_R_ABORT,
                                   key.data, key.len);

            if (rc == NGX_OK) {
                if (ngx_ota_key(r->pool, &key, OTA_KEY_BATCH_COUNTS,
                                &m->ids[i], NULL, NULL) == NULL)
                {
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                rc = ngx_ota_redis_cmd(call, "HGETALL %b", key.data, key.len);
            }

            if (rc != NGX_OK) {
                ngx_ota_redis_call_abort(call);
                ngx_http_finalize_request(r,
                                          ngx_ota_admin_metrics_send(m, 0));
                return;
            }
        }

        return;
    }

    /* then batch 0's state and counts, batch 1's, ... */
    k = (call->index - NGX_OTA_METRICS_MQTT - 1) / 2;

    if (k >= m->nids) {
        return;
    }

    if ((call->index - NGX_OTA_METRICS_MQTT) % 2 == 1) {
        m->current = 0;

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
            e = reply->element[0];

            if (e->type == REDIS_REPLY_STRING) {
                m->current = (e->len == 7
                              && ngx_strncmp(e->str, "running", 7) == 0);
                m->paused += (e->len == 6
                              && ngx_strncmp(e->str, "paused", 6) == 0);
            }

            m->aborted += (reply->element[1]->type == REDIS_REPLY_STRING);
        }

    } else if (m->current) {
        m->running++;

        for (i = 0; i < OTA_TS_COUNT; i++) {
            if (ngx_ota_hash_get(reply, ota_task_state_name(i), &id)
                != NGX_OK)
            {
                ngx_str_set(&id, "0");
            }

            m->pos = ngx_slprintf(m->pos, m->end,
                                  "ota_batch_tasks{batch=\"%V\",state=\"%s\"}"
                                  " %V\n", &m->ids[k],
                                  ota_task_state_name(i), &id);
        }
    }

    if (k == m->nids - 1 && (call->index - NGX_OTA_METRICS_MQTT) % 2 == 0) {
        ngx_http_finalize_request(r, ngx_ota_admin_metrics_send(m, 1));
    }
}


static ngx_int_t
ngx_ota_admin_metrics_send(ngx_ota_metrics_t *m, ngx_uint_t redis_up)
{
    u_char              *buf, *p, *end;
    size_t               size, extra;
    ngx_uint_t           i;
    ngx_str_t            type = ngx_string("text/plain; version=0.0.4");
    ngx_http_request_t  *r = m->request;

    extra = m->buf ? (size_t) (m->pos - m->buf) : 0;
    size = NGX_OTA_M_COUNT * 160 + 640 + extra;

    if (redis_up && m->mqtt) {
        size += m->mqtt_pos - m->mqtt;
    }

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = buf;
    end = buf + size;

    for (i = 0; i < NGX_OTA_M_COUNT; i++) {
        p = ngx_slprintf(p, end, "# TYPE %s counter\n%s %A\n",
                         ngx_ota_metric_name(i), ngx_ota_metric_name(i),
                         ngx_ota_metric_get(i));
    }

    p = ngx_slprintf(p, end, "# TYPE ota_redis_up gauge\nota_redis_up %ui\n",
                     redis_up);

    if (redis_up) {
        p = ngx_slprintf(p, end, "# HELP ota_batches_running Running batches "
                         "among the %d most recent.\n"
                         "# TYPE ota_batches_running gauge\n"
                         "ota_batches_running %ui\n",
                         NGX_OTA_METRICS_BATCHES, m->running);

        p = ngx_slprintf(p, end, "# HELP ota_batches_paused Paused batches "
                         "(by an admin or an error threshold) among the %d "
                         "most recent.\n"
                         "# TYPE ota_batches_paused gauge\n"
                         "ota_batches_paused %ui\n"
                         "# HELP ota_batches_aborted Batches cancelled by "
                         "their abort rule among the %d most recent.\n"
                         "# TYPE ota_batches_aborted gauge\n"
                         "ota_batches_aborted %ui\n",
                         NGX_OTA_METRICS_BATCHES, m->paused,
                         NGX_OTA_METRICS_BATCHES, m->aborted);

        if (m->running) {
            p = ngx_cpymem(p, m->buf, extra);
        }

        if (m->mqtt) {
            p = ngx_cpymem(p, m->mqtt, m->mqtt_pos - m->mqtt);
        }
    }

    return ngx_ota_send_text(r, NGX_HTTP_OK, &type, buf, p - buf);
}


/*
 * The MQTT bridges' counters (docs/mqtt.md, "Metrics"): reason -> dropped
 * messages, kind -> handled messages.  Names that are not short words are
 * left out, so nothing written into Redis can inject a label.
 */
/* a string of 1..max lower-case letters and '_' (or digits) */
static ngx_uint_t
ngx_ota_admin_word(redisReply *r, size_t max, ngx_uint_t digits)
{
    size_t  j;
    u_char  c;

    if (r->type != REDIS_REPLY_STRING || r->len == 0 || (size_t) r->len > max)
    {
        return 0;
    }

    for (j = 0; j < (size_t) r->len; j++) {
        c = (u_char) r->str[j];

        if (digits ? (c < '0' || c > '9')
                   : !((c >= 'a' && c <= 'z') || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_ota_admin_metrics_mqtt(ngx_ota_metrics_t *m, ngx_uint_t index,
    redisReply *reply)
{
    size_t       i;
    redisReply  *k, *v;
    const char  *name, *label;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        return NGX_OK;
    }

    if (m->mqtt == NULL) {
        m->mqtt = ngx_pnalloc(m->request->pool, NGX_OTA_METRICS_MQTT_MAX);
        if (m->mqtt == NULL) {
            return NGX_ERROR;
        }
        m->mqtt_pos = m->mqtt;
    }

    name = index == 0 ? "ota_mqtt_dropped_total" : "ota_mqtt_messages_total";
    label = index == 0 ? "reason" : "kind";

    m->mqtt_pos = ngx_slprintf(m->mqtt_pos, m->mqtt + NGX_OTA_METRICS_MQTT_MAX,
                               "# HELP %s MQTT messages the bridges %s, by "
                               "%s.\n# TYPE %s counter\n", name,
                               index == 0 ? "dropped" : "handled", label,
                               name);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (!ngx_ota_admin_word(k, 32, 0) || !ngx_ota_admin_word(v, 20, 1)) {
            continue;
        }

        m->mqtt_pos = ngx_slprintf(m->mqtt_pos,
                                   m->mqtt + NGX_OTA_METRICS_MQTT_MAX,
                                   "%s{%s=\"%*s\"} %*s\n", name, label,
                                   (size_t) k->len, k->str,
                                   (size_t) v->len, v->str);
    }

    return NGX_OK;
}
