/*
 * ngx_ota_module.h: what the files of the module share: configuration
 * structures, the request dispatch entry points and the small helpers
 * (JSON answers, metrics).  Each concern lives in its own file:
 *
 *   ngx_ota_module.c    directives, configuration, process init/exit,
 *                       dispatch of ota_device_api / ota_admin_api
 *   ngx_ota_redis.c     non-blocking hiredis on nginx events
 *   ngx_ota_json.c      JSON answers and request bodies
 *   ngx_ota_metrics.c   shared-memory counters for the metrics endpoint
 *   ngx_ota_download.c  GET /ota/v1/packages/<id>: auth, files, ranges
 *   ngx_ota_progress.c  exact byte coverage of downloads into Redis
 *   ngx_ota_ack.c       which bytes the client acknowledged
 *   ngx_ota_api.c       auth, inform, upgrade, progress
 *   ngx_ota_admin.c     read-only admin API and Prometheus metrics
 */

#ifndef NGX_OTA_MODULE_H
#define NGX_OTA_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ota_event.h"
#include "ota_fields.h"
#include "ota_keys.h"


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
    ngx_array_t          *redis_sentinels;  /* of ngx_ota_addr_t, or NULL */
    ngx_str_t             redis_master;     /* Sentinel master name */

    ngx_str_t             token_secret;     /* server key, same on all nodes */

    ngx_shm_zone_t       *metrics_zone;
} ngx_ota_main_conf_t;


typedef struct {
    ngx_flag_t            device_api;
    ngx_flag_t            admin_api;
    ngx_str_t             admin_token;

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
} ngx_ota_loc_conf_t;


/*
 * Per-request context of the module (ngx_http_get_module_ctx).  Each
 * concern keeps its own state behind its own pointer so the files do not
 * share struct layouts.
 */
typedef void (*ngx_ota_json_body_pt)(ngx_http_request_t *r, json_t *body);

typedef struct {
    ngx_ota_json_body_pt  body_handler;     /* ngx_ota_json.c */
    void                 *body;             /* ngx_ota_json.c */
    void                 *api;              /* ngx_ota_api.c */
    void                 *download;         /* ngx_ota_download.c */
    void                 *progress;         /* ngx_ota_progress.c */
} ngx_ota_ctx_t;

/* the request's context, created on first use; NULL on no memory */
ngx_ota_ctx_t *ngx_ota_get_ctx(ngx_http_request_t *r);


extern ngx_module_t  ngx_ota_module;


/* an nginx string as a field of an event (include/ota_event.h) */
static ngx_inline ota_event_str_t
ngx_ota_event_str(ngx_str_t *s)
{
    ota_event_str_t  v;

    v.data = (const char *) s->data;
    v.len = s->len;

    return v;
}


/* ---- dispatch targets (ngx_ota_download.c, ngx_ota_api.c, admin.c) ---- */

/* id: package id; file: file name inside the package, empty for the first */
ngx_int_t ngx_ota_download_handler(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *file);
ngx_int_t ngx_ota_api_auth(ngx_http_request_t *r);
ngx_int_t ngx_ota_api_inform(ngx_http_request_t *r);
ngx_int_t ngx_ota_api_upgrade(ngx_http_request_t *r);
ngx_int_t ngx_ota_api_progress(ngx_http_request_t *r);
/* path: the URI below the admin location, without the leading '/' */
ngx_int_t ngx_ota_admin_handler(ngx_http_request_t *r, ngx_str_t *path);

/*
 * A process-level event of the module (a timer that belongs to no
 * connection): data points at a connection stand-in whose fd is -1, since
 * nginx's debug log reads ((ngx_connection_t *) ev->data)->fd for every
 * timer it adds, deletes or runs.  A handler finds its own state from the
 * event's address, never from ev->data.
 */
void ngx_ota_event_init(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_log_t *log);

/* process hooks of files that keep per-process state */
ngx_int_t ngx_ota_progress_init_process(ngx_cycle_t *cycle);
void ngx_ota_progress_exit_process(ngx_cycle_t *cycle);
/* body filter registration for download progress */
ngx_int_t ngx_ota_progress_filter_init(ngx_conf_t *cf);


/* ---- JSON answers (ngx_ota_json.c) ------------------------------------ */

/* Sends {"code":status,"message":msg}; adds Retry-After for 429 and 503.
 * Returns what the content handler should return. */
ngx_int_t ngx_ota_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg);

/* Serialises and sends json (reference is stolen) with status; 429 and
 * 503 answers get Retry-After. */
ngx_int_t ngx_ota_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json);

/* Sends text with content type (for Prometheus metrics). */
ngx_int_t ngx_ota_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);

/* Reads the whole request body without blocking, into memory only (never
 * a temporary file, whatever client_body_buffer_size), refuses bodies over
 * the location's limit (ota_body_max, or client_max_body_size when
 * smaller: 413 in JSON, declared or chunked), parses it as a JSON object
 * (400 when not) and calls handler(r, json) with it; the handler owns the
 * reference and must finalize the request.  Returns what the content
 * handler returns. */
ngx_int_t ngx_ota_read_json_body(ngx_http_request_t *r,
    ngx_ota_json_body_pt handler);

/* Bearer token of the request, verified against ota_token_secret.
 * Returns NGX_OK and fills device/product (pointing into the header), or
 * NGX_DECLINED with *why set to a reason for a 401 answer. */
ngx_int_t ngx_ota_bearer(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *product, const char **why);


/* ---- metrics (ngx_ota_metrics.c): per-node counters in shared memory --- */

typedef enum {
    NGX_OTA_M_DOWNLOADS = 0,        /* download responses started */
    NGX_OTA_M_DOWNLOAD_BYTES,       /* body bytes sent by downloads */
    NGX_OTA_M_AUTH_OK,
    NGX_OTA_M_AUTH_FAILURES,        /* every 401/403 the module answers */
    NGX_OTA_M_API_REQUESTS,
    NGX_OTA_M_REDIS_ERRORS,         /* failed or timed out Redis calls */
    NGX_OTA_M_REDIS_RECONNECTS,
    NGX_OTA_M_PROGRESS_WRITES,      /* coverage updates sent to Redis */
    NGX_OTA_M_PROGRESS_DROPPED,     /* ranges dropped: offline buffer full */
    NGX_OTA_M_EVENTS,               /* stream events appended */
    NGX_OTA_M_PROGRESS_CAPPED,      /* ranges not stored: the device's
                                       coverage set was full */
    NGX_OTA_M_UNACKED_BYTES,        /* body bytes sent, never acknowledged
                                       by the client: not counted */
    NGX_OTA_M_COUNT
} ngx_ota_metric_e;

void ngx_ota_metric_add(ngx_ota_metric_e m, ngx_atomic_int_t n);
ngx_atomic_int_t ngx_ota_metric_get(ngx_ota_metric_e m);
const char *ngx_ota_metric_name(ngx_ota_metric_e m);
ngx_int_t ngx_ota_metrics_zone(ngx_conf_t *cf, ngx_ota_main_conf_t *omcf);

#endif /* NGX_OTA_MODULE_H */
