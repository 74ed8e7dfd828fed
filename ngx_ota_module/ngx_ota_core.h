/*
 * ngx_ota_core.h: what every file of the module uses (ngx_ota_core.c): its
 * configuration, the request context, process-level events, Redis keys
 * and hash replies, small string helpers, time.  The module's files, each
 * calling only files below it (docs/architecture.md walks the download
 * path through them):
 *
 *   ngx_ota_module.c    directives, configuration, process init/exit, the
 *                       dispatch of ota_device_api / ota_admin_api
 *   ngx_ota_api_auth.c, ngx_ota_api_report.c, ngx_ota_api_upgrade.c
 *                       the device API (auth, inform and progress, upgrade)
 *   ngx_ota_admin.c     the admin API's dispatch and Prometheus metrics
 *   ngx_ota_admin_batch.c, _histogram.c, _package.c, _fleet.c
 *                       the admin API's endpoints
 *   ngx_ota_admin_util.c what the admin endpoints share
 *   ngx_ota_wait.c      upgrade requests that wait for an offer (long
 *                       poll), woken through the process's subscription
 *   ngx_ota_api.c       what the device API's handlers share (answers,
 *                       events)
 *   ngx_ota_download.c  GET /ota/v1/packages/<id>: auth, files, ranges
 *   ngx_ota_progress.c  exact byte coverage of downloads into Redis
 *   ngx_ota_notified.c  the upgrade answer's notified event, held for the
 *                       first download event (the progress tick handed
 *                       over at process start: ngx_ota_notified.h)
 *   ngx_ota_ack.c       which bytes the client acknowledged
 *   ngx_ota_package.c   package manifests, cached per process
 *   ngx_ota_json.c      JSON answers, request bodies, bearer tokens
 *   ngx_ota_redis_sub.c the process's one Redis subscription
 *   ngx_ota_redis.c     non-blocking hiredis on nginx events
 *   ngx_ota_metrics.c   shared-memory counters for the metrics endpoint
 *   ngx_ota_creds.c     tokens and signed links known genuine, per process
 *   ngx_ota_core.c      this header's helpers
 *   ngx_ota_lua.c       generated (build/gen/) from lua/module/
 *
 * ngx_ota_endpoints.h declares the request entry points the dispatch
 * calls; include/ holds what the module shares with the worker and otactl.
 */

#ifndef NGX_OTA_CORE_H
#define NGX_OTA_CORE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ota_event.h"
#include "ota_request.h"


typedef struct {
    ngx_str_t             host;             /* IP literal, NUL-terminated */
    in_port_t             port;
} ngx_ota_addr_t;


typedef struct {
    ngx_str_t             redis;            /* as written, for logs */
    ngx_str_t             redis_host;       /* IP literal, NUL-terminated */
    in_port_t             redis_port;
    ngx_str_t             redis_unix;       /* unix socket path, or empty */
    ngx_str_t             redis_password;
    ngx_int_t             redis_db;
    ngx_msec_t            redis_timeout;    /* answer timeout of one call */
    ngx_msec_t            redis_gather;     /* commands held up to this long */
    ngx_array_t          *redis_sentinels;  /* of ngx_ota_addr_t, or NULL */
    ngx_str_t             redis_master;     /* Sentinel master name */

    ngx_str_t             token_secret;     /* server key, same on all nodes */

    ngx_shm_zone_t       *metrics_zone;
} ngx_ota_main_conf_t;


/* an admin token (ota_admin_token NAME:TOKEN role=...): viewers read,
 * operators also write */
typedef enum {
    NGX_OTA_ROLE_VIEWER = 1,
    NGX_OTA_ROLE_OPERATOR
} ngx_ota_role_e;

typedef struct {
    ngx_str_t             name;             /* in the audit stream */
    ngx_str_t             token;
    ngx_ota_role_e        role;
} ngx_ota_admin_token_t;

#define ngx_ota_role_name(role)                                              \
    ((role) == NGX_OTA_ROLE_OPERATOR ? "operator" : "viewer")


typedef struct {
    ngx_flag_t            device_api;
    ngx_flag_t            admin_api;
    ngx_array_t          *admin_tokens;     /* of ngx_ota_admin_token_t */

    ngx_str_t             package_root;
    ngx_msec_t            progress_interval;
    size_t                progress_pending; /* bytes of ranges kept offline */

    time_t                token_ttl;
    time_t                link_ttl;
    time_t                auth_window;
    size_t                body_max;
    off_t                 body_limit;       /* smaller of body_max and
                                               client_max_body_size */
    ngx_str_t             public_url;       /* base of download links */
    ngx_msec_t            upgrade_wait_max; /* longest GET upgrade?wait= */
} ngx_ota_loc_conf_t;


/*
 * Per-request context of the module (ngx_http_get_module_ctx).  Each
 * concern keeps its own state behind its own pointer so the files do not
 * share struct layouts.
 */
typedef void (*ngx_ota_json_body_pt)(ngx_http_request_t *r, json_t *body);
typedef ngx_int_t (*ngx_ota_body_refused_pt)(ngx_http_request_t *r,
    ngx_uint_t status, const char *msg);

typedef struct {
    ngx_ota_json_body_pt  body_handler;     /* ngx_ota_json.c */
    void                 *body;             /* ngx_ota_json.c */
    void                 *api;              /* ngx_ota_api.c */
    void                 *download;         /* ngx_ota_download.c */
    void                 *progress;         /* ngx_ota_progress.c */
    void                 *wait;             /* ngx_ota_wait.c */
    ngx_ota_body_refused_pt  body_refused;  /* NULL: a plain JSON error */
    ngx_ota_admin_token_t *admin;           /* the admin token accepted */
    const char           *admin_action;     /* a write's (OTA_ACT_*) */
} ngx_ota_ctx_t;

extern ngx_module_t  ngx_ota_module;


/* the request's context, created on first use; NULL on no memory */
ngx_ota_ctx_t *ngx_ota_get_ctx(ngx_http_request_t *r);

/*
 * A process-level event of the module (a timer that belongs to no
 * connection): data points at a connection stand-in whose fd is -1, since
 * nginx's debug log reads ((ngx_connection_t *) ev->data)->fd for every
 * timer it adds, deletes or runs.  A handler finds its own state from the
 * event's address, never from ev->data.
 */
void ngx_ota_event_init(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_log_t *log);


/* an nginx string as a field of an event (include/ota_event.h) */
static ngx_inline ota_event_str_t
ngx_ota_event_str(ngx_str_t *s)
{
    ota_event_str_t  v;

    v.data = (const char *) s->data;
    v.len = s->len;

    return v;
}


/*
 * Builds a key from a printf format of ota_keys.h whose only conversions
 * are "%s", taking the arguments in order.  The result is NUL-terminated
 * and allocated from pool; NULL on no memory or a wrong argument count.
 */
u_char *ngx_ota_key(ngx_pool_t *pool, ngx_str_t *key, const char *fmt,
    ngx_str_t *a, ngx_str_t *b, ngx_str_t *c);

/* The same into buf (size bytes, the NUL included), for the hot paths (no
 * pool, no printf): its length, 0 when it does not fit or the arguments do
 * not match. */
size_t ngx_ota_key_buf(u_char *buf, size_t size, const char *fmt,
    ngx_str_t *a, ngx_str_t *b, ngx_str_t *c);

/* The value of field in an HGETALL reply (pointing into the reply, valid
 * during the reply handler only); NGX_DECLINED when absent. */
ngx_int_t ngx_ota_hash_get(redisReply *reply, const char *field,
    ngx_str_t *value);

/* The same, copied into pool (empty string when absent). */
ngx_int_t ngx_ota_hash_dup(ngx_pool_t *pool, redisReply *reply,
    const char *field, ngx_str_t *value);

/* Decimal of a hash field, or def when absent or not a number. */
int64_t ngx_ota_hash_int(redisReply *reply, const char *field, int64_t def);

/* NUL-terminated copy of s in pool, NULL on no memory. */
u_char *ngx_ota_pstrdup0(ngx_pool_t *pool, ngx_str_t *s);

/* the same for a view of a parsed request body (views die with the body) */
ngx_int_t ngx_ota_view_copy(ngx_pool_t *pool, const ota_view_t *v,
    ngx_str_t *out);

/* 1 when the nginx string s is the literal str */
#define ngx_ota_str_is(s, str)                                               \
    ((s).len == sizeof(str) - 1                                              \
     && ngx_strncmp((s).data, str, sizeof(str) - 1) == 0)

/* current time in ms */
int64_t ngx_ota_now_ms(void);

#endif /* NGX_OTA_CORE_H */
