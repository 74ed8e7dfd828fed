/*
 * ngx_ota_module.c: directives, configuration and dispatch of the OTA
 * module.  The handlers themselves live in their own files (the map is
 * ngx_ota_core.h; their entry points ngx_ota_endpoints.h).
 */

#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_notified.h"
#include "ngx_ota_progress.h"
#include "ngx_ota_redis.h"
#include "ngx_ota_wait.h"

#include "ota_addr.h"
#include "ota_names.h"
#include "ota_request.h"
#include "ota_token.h"


#define NGX_OTA_SECRET_MIN  16
#define NGX_OTA_NO_BODY_MIN 65536     /* bytes: a body worth not reading */


static void *ngx_ota_create_main_conf(ngx_conf_t *cf);
static char *ngx_ota_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_ota_create_loc_conf(ngx_conf_t *cf);
static char *ngx_ota_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_ota_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_ota_init_process(ngx_cycle_t *cycle);
static void ngx_ota_exit_process(ngx_cycle_t *cycle);

static char *ngx_ota_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ota_device_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ota_admin_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ota_admin_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_ota_device_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ota_admin_entry(ngx_http_request_t *r);


static ngx_command_t  ngx_ota_commands[] = {

    { ngx_string("ota_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_ota_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ota_token_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ota_main_conf_t, token_secret),
      NULL },

    { ngx_string("ota_device_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ota_device_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ota_admin_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ota_admin_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ota_admin_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ota_admin_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ota_package_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, package_root),
      NULL },

    { ngx_string("ota_progress_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, progress_interval),
      NULL },

    { ngx_string("ota_progress_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, progress_pending),
      NULL },

    { ngx_string("ota_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, token_ttl),
      NULL },

    { ngx_string("ota_link_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, link_ttl),
      NULL },

    { ngx_string("ota_auth_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, auth_window),
      NULL },

    { ngx_string("ota_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, body_max),
      NULL },

    { ngx_string("ota_upgrade_wait_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, upgrade_wait_max),
      NULL },

    { ngx_string("ota_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ota_loc_conf_t, public_url),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_ota_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_ota_postconfiguration,             /* postconfiguration */

    ngx_ota_create_main_conf,              /* create main configuration */
    ngx_ota_init_main_conf,                /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_ota_create_loc_conf,               /* create location configuration */
    ngx_ota_merge_loc_conf                 /* merge location configuration */
};


ngx_module_t  ngx_ota_module = {
    NGX_MODULE_V1,
    &ngx_ota_module_ctx,                   /* module context */
    ngx_ota_commands,                      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_ota_init_process,                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_ota_exit_process,                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_uint_t  ngx_ota_uses_device_api;

/* what ev->data of the module's own timers points at (ngx_ota_event_init):
 * nginx's idiom for timers without a connection (ngx_cycle.c does the same) */


static void *
ngx_ota_create_main_conf(ngx_conf_t *cf)
{
    ngx_ota_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_ota_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->redis = { 0, NULL };
     *     omcf->redis_unix = { 0, NULL };
     *     omcf->redis_password = { 0, NULL };
     *     omcf->token_secret = { 0, NULL };
     */

    omcf->redis_db = NGX_CONF_UNSET;
    omcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    omcf->redis_gather = NGX_CONF_UNSET_MSEC;

    ngx_ota_uses_device_api = 0;

    return omcf;
}


static char *
ngx_ota_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_ota_main_conf_t  *omcf = conf;

    ngx_conf_init_value(omcf->redis_db, 0);
    ngx_conf_init_msec_value(omcf->redis_timeout, 2000);
    ngx_conf_init_msec_value(omcf->redis_gather, 5);

    if (ngx_ota_metrics_zone(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_ota_create_loc_conf(ngx_conf_t *cf)
{
    ngx_ota_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_ota_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     olcf->package_root = { 0, NULL };
     *     olcf->public_url = { 0, NULL };
     */

    olcf->device_api = NGX_CONF_UNSET;
    olcf->admin_api = NGX_CONF_UNSET;
    olcf->admin_tokens = NGX_CONF_UNSET_PTR;
    olcf->progress_interval = NGX_CONF_UNSET_MSEC;
    olcf->progress_pending = NGX_CONF_UNSET_SIZE;
    olcf->token_ttl = NGX_CONF_UNSET;
    olcf->link_ttl = NGX_CONF_UNSET;
    olcf->auth_window = NGX_CONF_UNSET;
    olcf->body_max = NGX_CONF_UNSET_SIZE;
    olcf->upgrade_wait_max = NGX_CONF_UNSET_MSEC;

    return olcf;
}


static char *
ngx_ota_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_ota_loc_conf_t  *prev = parent;
    ngx_ota_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->device_api, prev->device_api, 0);
    ngx_conf_merge_value(conf->admin_api, prev->admin_api, 0);
    ngx_conf_merge_ptr_value(conf->admin_tokens, prev->admin_tokens, NULL);
    ngx_conf_merge_str_value(conf->package_root, prev->package_root,
                             "/var/lib/ota/packages");
    ngx_conf_merge_msec_value(conf->progress_interval,
                              prev->progress_interval, 1000);
    ngx_conf_merge_size_value(conf->progress_pending, prev->progress_pending,
                              1024 * 1024);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 3600);
    ngx_conf_merge_sec_value(conf->link_ttl, prev->link_ttl, 3600);
    ngx_conf_merge_sec_value(conf->auth_window, prev->auth_window, 300);
    ngx_conf_merge_size_value(conf->body_max, prev->body_max, 16 * 1024);
    ngx_conf_merge_str_value(conf->public_url, prev->public_url, "");
    ngx_conf_merge_msec_value(conf->upgrade_wait_max, prev->upgrade_wait_max,
                              60000);

    /*
     * Where the device API is served the module answers over-limit bodies
     * itself, in JSON like every other error: the limit is the smaller of
     * ota_body_max and client_max_body_size, and nginx's own check (an HTML
     * 413 before the handler runs, also for chunked bodies) is turned off
     * in this location.  Bodies are read into memory, never to a file
     * (ngx_ota_read_json_body).
     */
    conf->body_limit = (off_t) conf->body_max;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_ota_device_handler
        || clcf->handler == ngx_ota_admin_entry)
    {
        if (clcf->client_max_body_size
            && clcf->client_max_body_size < conf->body_limit)
        {
            conf->body_limit = clcf->client_max_body_size;
        }

        clcf->client_max_body_size = 0;
    }

    if (conf->progress_interval == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ota_progress_interval\" must be more than 0");
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)
    /* a package upload syncs its files in a thread of nginx's pool
     * "default" (thread_pool default ...; in the main context sizes it) */
    if (conf->admin_api == 1 && ngx_thread_pool_add(cf, NULL) == NULL) {
        return NGX_CONF_ERROR;
    }
#endif

    if (conf->admin_api && conf->admin_tokens == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ota_admin_api\" needs \"ota_admin_token\": "
                           "the admin API is never served without a token");
        return NGX_CONF_ERROR;
    }

    /* relative to nginx's prefix, like "root" */
    if (ngx_conf_full_name(cf->cycle, &conf->package_root, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* a trailing slash would double in "<root>/<id>/<file>" */
    while (conf->package_root.len > 1
           && conf->package_root.data[conf->package_root.len - 1] == '/')
    {
        conf->package_root.len--;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_ota_postconfiguration(ngx_conf_t *cf)
{
    ngx_ota_main_conf_t  *omcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_ota_module);

    if (ngx_ota_uses_device_api) {
        if (omcf->token_secret.len < NGX_OTA_SECRET_MIN) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ota_device_api\" needs \"ota_token_secret\" "
                               "of at least %d characters in http{}, the "
                               "same on every node", NGX_OTA_SECRET_MIN);
            return NGX_ERROR;
        }

        if (omcf->redis.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ota_device_api\" needs \"ota_redis\" "
                               "in http{}");
            return NGX_ERROR;
        }
    }

    return ngx_ota_progress_filter_init(cf);
}


/* a string of the address into the configuration, NUL-terminated */
static ngx_int_t
ngx_ota_conf_str(ngx_conf_t *cf, ngx_str_t *dst, const char *src)
{
    dst->len = ngx_strlen(src);
    dst->data = ngx_pnalloc(cf->pool, dst->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len + 1);

    return NGX_OK;
}


/* a host of the address as the module keeps it: an IP literal,
 * NUL-terminated (localhost is 127.0.0.1; the parser refused names) */
static ngx_int_t
ngx_ota_addr_host(ngx_conf_t *cf, ota_hostport_t *hp, ngx_ota_addr_t *addr)
{
    size_t       len;
    const char  *host = hp->host;

    if (ngx_strcasecmp((u_char *) host, (u_char *) "localhost") == 0) {
        host = "127.0.0.1";
    }

    len = ngx_strlen(host);

    addr->host.data = ngx_pnalloc(cf->pool, len + 1);
    if (addr->host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(addr->host.data, host, len + 1);
    addr->host.len = len;
    addr->port = (in_port_t) hp->port;

    return NGX_OK;
}


/*
 * ota_redis ADDRESS [password=P] [db=N] [timeout=2s] [gather=5ms], ADDRESS
 * one of
 * IP:port, [IPv6]:port, localhost:port, unix:/path,
 * sentinel=IP:port[,IP:port...] master=NAME: the one address syntax of
 * include/ota_addr.h (ota-worker and otactl read the same words), except
 * that host names are refused here (hiredis would resolve them with
 * blocking DNS inside the event loop) and timeout= and gather= are the
 * module's own.
 * With Sentinel the module asks the sentinels for the master's address and
 * asks again after every lost connection, so a failover is followed.
 */
static char *
ngx_ota_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ota_main_conf_t  *omcf = conf;

    char             err[512], buf[1200];
    ngx_int_t        rc;
    ngx_str_t       *value, s;
    ngx_uint_t       i, k;
    ota_addr_t       a;
    ngx_ota_addr_t   addr, *sa;

    if (omcf->redis.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    omcf->redis = value[1];

    ota_addr_init(&a);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;
            omcf->redis_timeout = ngx_parse_time(&s, 0);
            if (omcf->redis_timeout == (ngx_msec_t) NGX_ERROR
                || omcf->redis_timeout == 0)
            {
                return "has an invalid \"timeout\" value";
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "gather=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;
            omcf->redis_gather = ngx_parse_time(&s, 0);
            if (omcf->redis_gather == (ngx_msec_t) NGX_ERROR
                || omcf->redis_gather > 100)
            {
                return "has an invalid \"gather\" value (0 to 100ms)";
            }
            continue;
        }

        rc = ota_addr_word(&a, (const char *) value[i].data, value[i].len,
                           err, sizeof(err));
        if (rc < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
            return NGX_CONF_ERROR;
        }

        if (rc > 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (ota_addr_check(&a, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    if (ota_addr_needs_dns(&a)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis host \"%s\" is not an IP address: name "
                           "lookups would block nginx, use an IP or a unix "
                           "socket",
                           a.nsentinels ? "in the sentinel list"
                                        : a.server.host);
        return NGX_CONF_ERROR;
    }

    if (a.old_form) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "%s; write \"%s\"",
                           OTA_ADDR_OLD_FORM,
                           ota_addr_str(&a, buf, sizeof(buf)));
    }

    if (a.password[0]
        && ngx_ota_conf_str(cf, &omcf->redis_password, a.password) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    omcf->redis_db = a.db;

    if (a.path[0]) {
        if (ngx_ota_conf_str(cf, &omcf->redis_unix, a.path) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (a.nsentinels == 0) {
        if (ngx_ota_addr_host(cf, &a.server, &addr) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
        omcf->redis_host = addr.host;
        omcf->redis_port = addr.port;

    } else {
        omcf->redis_sentinels = ngx_array_create(cf->pool, a.nsentinels,
                                                 sizeof(ngx_ota_addr_t));
        if (omcf->redis_sentinels == NULL) {
            return NGX_CONF_ERROR;
        }

        for (k = 0; k < (ngx_uint_t) a.nsentinels; k++) {
            sa = ngx_array_push(omcf->redis_sentinels);
            if (sa == NULL
                || ngx_ota_addr_host(cf, &a.sentinel[k], sa) != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }

        if (ngx_ota_conf_str(cf, &omcf->redis_master, a.master) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_ota_device_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ota_loc_conf_t  *olcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->device_api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    olcf->device_api = 1;
    ngx_ota_uses_device_api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_ota_device_handler;

    return NGX_CONF_OK;
}


static char *
ngx_ota_admin_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ota_loc_conf_t  *olcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->admin_api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    olcf->admin_api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_ota_admin_entry;

    return NGX_CONF_OK;
}


/*
 * ota_admin_token TOKEN | NAME:TOKEN [role=viewer|operator]: repeatable; the
 * one-word form without a name is the token "admin" and, like a token
 * without role=, an operator.  Names go into the audit stream, so each is
 * a short plain name, and no name or token is given twice.
 */
static char *
ngx_ota_admin_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ota_loc_conf_t  *olcf = conf;

    u_char                 *colon;
    ngx_str_t              *value, arg;
    ngx_uint_t              i;
    ngx_ota_admin_token_t  *t, *all;

    value = cf->args->elts;
    arg = value[1];

    if (olcf->admin_tokens == NGX_CONF_UNSET_PTR) {
        olcf->admin_tokens = ngx_array_create(cf->pool, 2,
                                              sizeof(ngx_ota_admin_token_t));
        if (olcf->admin_tokens == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    t = ngx_array_push(olcf->admin_tokens);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    colon = ngx_strlchr(arg.data, arg.data + arg.len, ':');

    if (colon) {
        t->name.data = arg.data;
        t->name.len = colon - arg.data;
        t->token.data = colon + 1;
        t->token.len = arg.data + arg.len - t->token.data;

        if (!ota_name_id((char *) t->name.data, t->name.len)) {
            return "has an invalid name before ':' (1-64 of A-Z a-z 0-9 _ -)";
        }

    } else {
        ngx_str_set(&t->name, "admin");
        t->token = arg;
    }

    if (t->token.len < 8) {
        return "needs a token of at least 8 characters";
    }

    for (i = 0; i < t->token.len; i++) {
        if (t->token.data[i] <= 0x20 || t->token.data[i] >= 0x7f) {
            return "has a token with a character a bearer header cannot "
                   "carry";
        }
    }

    t->role = NGX_OTA_ROLE_OPERATOR;

    if (cf->args->nelts == 3) {
        if (value[2].len == 11
            && ngx_strncmp(value[2].data, "role=viewer", 11) == 0)
        {
            t->role = NGX_OTA_ROLE_VIEWER;

        } else if (value[2].len != 13
                   || ngx_strncmp(value[2].data, "role=operator", 13) != 0)
        {
            return "takes \"role=viewer\" or \"role=operator\" after the "
                   "token";
        }
    }

    all = olcf->admin_tokens->elts;

    for (i = 0; i + 1 < olcf->admin_tokens->nelts; i++) {
        if (all[i].name.len == t->name.len
            && ngx_strncmp(all[i].name.data, t->name.data, t->name.len) == 0)
        {
            return "names a token twice";
        }

        if (all[i].token.len == t->token.len
            && ngx_strncmp(all[i].token.data, t->token.data, t->token.len)
               == 0)
        {
            return "gives the same token twice";
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_ota_init_process(ngx_cycle_t *cycle)
{
    if (ngx_ota_redis_init_process(cycle) != NGX_OK
        || ngx_ota_wait_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_ota_progress_init_process(cycle);
}


static void
ngx_ota_exit_process(ngx_cycle_t *cycle)
{
    /* waiting requests get their answer while their calls can still end */
    ngx_ota_wait_exit_process(cycle);
    /* held notified events before the progress: a device's notified
     * reaches the stream before its last download event */
    ngx_ota_notified_exit_process(cycle);
    /* progress first: it may still hand buffered ranges to hiredis */
    ngx_ota_progress_exit_process(cycle);
    ngx_ota_redis_exit_process(cycle);
}


/* the part of the URI below the location's prefix, without leading '/' */
static void
ngx_ota_rel_uri(ngx_http_request_t *r, ngx_str_t *rel)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    *rel = r->uri;

    if (!clcf->regex && rel->len >= clcf->name.len
        && ngx_strncmp(rel->data, clcf->name.data, clcf->name.len) == 0)
    {
        rel->data += clcf->name.len;
        rel->len -= clcf->name.len;
    }

    while (rel->len && rel->data[0] == '/') {
        rel->data++;
        rel->len--;
    }
}


/*
 * GET health: for load balancer checks.  200 while this node's worker
 * process has Redis, 503 otherwise: signed-link downloads still work then,
 * but the API does not, so a balancer should prefer other nodes.
 */
static ngx_int_t
ngx_ota_health(ngx_http_request_t *r)
{
    ngx_uint_t  up;

    up = ngx_ota_redis_ready();

    return ngx_ota_send_json(r, up ? NGX_HTTP_OK
                                   : NGX_HTTP_SERVICE_UNAVAILABLE,
                             json_pack("{s:s,s:b}", "status",
                                       up ? "ok" : "degraded", "redis",
                                       (int) up));
}


static ngx_int_t
ngx_ota_device_handler(ngx_http_request_t *r)
{
    u_char              *slash;
    ngx_str_t            rel, id, file;
    ngx_uint_t           get;
    ngx_ota_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    /* nginx's client_max_body_size check is off here (merge): refuse a
     * declared body over the limit at once, in JSON, whatever the endpoint */
    if (r->headers_in.content_length_n > olcf->body_limit) {
        r->keepalive = 0;
        r->lingering_close = 1;
        return ngx_ota_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "request body too large");
    }

    ngx_ota_rel_uri(r, &rel);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota device api: \"%V\"", &rel);

    get = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) != 0;

#define ngx_ota_is(s)  (rel.len == sizeof(s) - 1                              \
                        && ngx_strncmp(rel.data, s, sizeof(s) - 1) == 0)

    if (rel.len > 9 && ngx_strncmp(rel.data, "packages/", 9) == 0) {
        if (!get) {
            return ngx_ota_method_not_allowed(r, "GET, HEAD");
        }

        id.data = rel.data + 9;
        id.len = rel.len - 9;
        ngx_str_null(&file);

        slash = ngx_strlchr(id.data, id.data + id.len, '/');
        if (slash) {
            file.data = slash + 1;
            file.len = id.data + id.len - file.data;
            id.len = slash - id.data;
        }

        return ngx_ota_download_handler(r, &id, &file);
    }

    if (ngx_ota_is("health")) {
        if (!get) {
            return ngx_ota_method_not_allowed(r, "GET, HEAD");
        }
        return ngx_ota_health(r);
    }

    if (ngx_ota_is("upgrade")) {
        if (!get) {
            return ngx_ota_method_not_allowed(r, "GET, HEAD");
        }
        return ngx_ota_api_upgrade(r);
    }

    if (ngx_ota_is("auth") || ngx_ota_is("inform") || ngx_ota_is("progress")) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_ota_method_not_allowed(r, "POST");
        }

        ngx_ota_metric_add(NGX_OTA_M_API_REQUESTS, 1);

        if (ngx_ota_is("auth")) {
            return ngx_ota_api_auth(r);
        }
        if (ngx_ota_is("inform")) {
            return ngx_ota_api_inform(r);
        }
        return ngx_ota_api_progress(r);
    }

#undef ngx_ota_is

    return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                              "no such endpoint: use auth, inform, upgrade, "
                              "progress, health or packages/<id>");
}


/* a refused request with a large body coming (an upload): no "100
 * Continue", so the client does not send it, and no keepalive, so what
 * it sent anyway is not read */
static void
ngx_ota_admin_no_body(ngx_http_request_t *r)
{
    if (r->headers_in.content_length_n > NGX_OTA_NO_BODY_MIN
        || r->headers_in.chunked)
    {
        r->expect_tested = 1;
        r->keepalive = 0;
    }
}


static ngx_int_t
ngx_ota_admin_entry(ngx_http_request_t *r)
{
    ngx_str_t               rel, auth;
    ngx_uint_t              i, write;
    ngx_ota_ctx_t          *ctx;
    ngx_ota_loc_conf_t     *olcf;
    ngx_ota_admin_token_t  *t, *found;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    if (r->headers_in.authorization == NULL) {
        ngx_ota_metric_add(NGX_OTA_M_AUTH_FAILURES, 1);
        ngx_ota_admin_no_body(r);
        return ngx_ota_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                  "missing \"Authorization: Bearer <admin "
                                  "token>\" header");
    }

    auth = r->headers_in.authorization->value;
    found = NULL;

    if (auth.len > 7 && ngx_strncasecmp(auth.data, (u_char *) "Bearer ", 7)
                        == 0)
    {
        /* every token is compared, in constant time each */
        t = olcf->admin_tokens->elts;

        for (i = 0; i < olcf->admin_tokens->nelts; i++) {
            if (auth.len - 7 == t[i].token.len
                && ota_ct_equal(auth.data + 7, t[i].token.data,
                                t[i].token.len))
            {
                found = &t[i];
            }
        }
    }

    if (found == NULL) {
        ngx_ota_metric_add(NGX_OTA_M_AUTH_FAILURES, 1);
        ngx_ota_admin_no_body(r);
        return ngx_ota_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                  "bad admin token");
    }

    write = (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT)) != 0;

    if (!write && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_ota_method_not_allowed(r, "GET, HEAD, POST, PUT");
    }

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->admin = found;

    ngx_ota_rel_uri(r, &rel);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin api: token \"%V\" (%s) accepted, \"%V\"",
                   &found->name, ngx_ota_role_name(found->role), &rel);

    if (write) {
        /* a package upload has its own limit, the platform's
         * package.max_size (ngx_ota_admin_upload.c) */
        if (r->headers_in.content_length_n > olcf->body_limit
            && !(rel.len >= 8 && ngx_strncmp(rel.data, "packages", 8) == 0
                 && (rel.len == 8 || rel.data[8] == '/')))
        {
            r->keepalive = 0;
            r->lingering_close = 1;
            return ngx_ota_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "request body too large (ota_body_max "
                                      "of the admin location)");
        }

        return ngx_ota_admin_write_handler(r, &rel);
    }

    return ngx_ota_admin_handler(r, &rel);
}
