/*
 * ngx_ota_download.c: GET/HEAD /ota/v1/packages/<id>[/<file>]
 * (docs/device-protocol.md, docs/download.md).
 *
 *   1. names checked (ota_name_id, ota_name_file): nothing else reaches a path
 *   2. credentials: a signed link (pure HMAC, no Redis) or a bearer token
 *      whose device has an open task for this package (two HGETs through
 *      the non-blocking Redis layer; 503 when Redis is away)
 *   3. the manifest from the per-process cache, the file opened like the
 *      static module does, sent with sendfile; nginx's range and
 *      not-modified filters do Range, If-Range and the conditionals
 *   4. the body is counted into the device's coverage (ngx_ota_progress.c)
 */

#include "ngx_ota_core.h"
#include "ngx_ota_creds.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_metrics.h"
#include "ngx_ota_package.h"
#include "ngx_ota_progress.h"
#include "ngx_ota_redis.h"

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_token.h"


typedef struct {
    ngx_str_t             device;       /* NUL-terminated copy */
    ngx_ota_pkg_t         pkg;          /* copy: one file, the one served */
    ngx_ota_pkg_file_t    file;
    ngx_str_t             batch;
} ngx_ota_dl_ctx_t;


static ngx_int_t ngx_ota_download_link(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *device, ngx_int_t *answer);
static ngx_int_t ngx_ota_download_task(ngx_http_request_t *r,
    ngx_ota_dl_ctx_t *dl);
static void ngx_ota_download_task_reply(ngx_ota_redis_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_ota_download_send(ngx_http_request_t *r,
    ngx_ota_dl_ctx_t *dl);
static ngx_int_t ngx_ota_download_deny(ngx_http_request_t *r,
    ngx_uint_t status, const char *why);

#if (NGX_DEBUG)
static ngx_str_t  ngx_ota_whole = ngx_string("(whole file)");
#endif


ngx_int_t
ngx_ota_download_handler(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *file)
{
    ngx_int_t             rc;
    ngx_str_t             device, product, v;
    ngx_uint_t            i, bearer;
    const char           *why;
    ngx_ota_pkg_t        *pkg;
    ngx_ota_ctx_t        *ctx;
    ngx_ota_dl_ctx_t     *dl;
    ngx_ota_pkg_file_t   *f;
    ngx_ota_loc_conf_t   *olcf;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota download: package \"%V\" file \"%V\"", id, file);

    if (!ota_name_id((char *) id->data, id->len)) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "malformed package id: "
                                  "[A-Za-z0-9_-]{1,64} expected");
    }

    if (file->len && !ota_name_file((char *) file->data, file->len)) {
        return ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                  "malformed file name");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* credentials: a signed link wins when its arguments are there */

    bearer = 0;
    ngx_str_null(&product);

    if (ngx_http_arg(r, (u_char *) "signature", 9, &v) == NGX_OK
        || ngx_http_arg(r, (u_char *) "expires", 7, &v) == NGX_OK
        || ngx_http_arg(r, (u_char *) "device", 6, &v) == NGX_OK)
    {
        if (ngx_ota_download_link(r, id, &device, &rc) != NGX_OK) {
            return rc;                  /* the refusal was answered */
        }

    } else if (r->headers_in.authorization != NULL) {
        if (ngx_ota_bearer(r, &device, &product, &why) != NGX_OK) {
            return ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED, why);
        }
        bearer = 1;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota download: bearer token of device \"%V\", "
                       "product \"%V\": its task is asked of redis",
                       &device, &product);

    } else {
        return ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED,
                                     "missing credentials: use the signed "
                                     "link (device, expires, signature) or "
                                     "\"Authorization: Bearer <token>\"");
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    rc = ngx_ota_package_get(r->connection->log, &olcf->package_root, id,
                             &pkg);
    if (rc == NGX_DECLINED) {
        return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND, "no such package");
    }
    if (rc != NGX_OK) {
        return ngx_ota_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "package manifest unreadable");
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota download: manifest of \"%V\": %ui files, %O bytes",
                   id, pkg->nfiles, pkg->size);

    f = &pkg->files[0];

    if (file->len) {
        for (i = 0; i < pkg->nfiles; i++) {
            if (pkg->files[i].name.len == file->len
                && ngx_strncmp(pkg->files[i].name.data, file->data,
                               file->len) == 0)
            {
                break;
            }
        }

        if (i == pkg->nfiles) {
            return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                                      "no such file in this package");
        }

        f = &pkg->files[i];
    }

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dl = ngx_pcalloc(r->pool, sizeof(ngx_ota_dl_ctx_t));
    if (dl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->download = dl;

    /* the cache entry may be evicted while we wait for Redis: copy */
    if (ngx_ota_package_copy(r->pool, pkg, f, &dl->pkg, &dl->file) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dl->device.len = device.len;
    dl->device.data = ngx_pnalloc(r->pool, device.len + 1);
    if (dl->device.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_cpymem(dl->device.data, device.data, device.len) = '\0';

    if (!bearer) {
        return ngx_ota_download_send(r, dl);
    }

    if (dl->pkg.product.len
        && (product.len != dl->pkg.product.len
            || ngx_strncmp(product.data, dl->pkg.product.data, product.len)
               != 0))
    {
        return ngx_ota_download_deny(r, NGX_HTTP_FORBIDDEN,
                                     "this package belongs to another "
                                     "product than the token's");
    }

    return ngx_ota_download_task(r, dl);
}


/*
 * signed link: ?device=<d>&expires=<unix s>&signature=<hex>.  NGX_OK with
 * the device, or NGX_DECLINED once the refusal is sent (*answer: what the
 * content handler returns).
 */
static ngx_int_t
ngx_ota_download_link(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *device, ngx_int_t *answer)
{
    u_char                *dst, *src, sig[OTA_HEX_SHA256_LEN];
    int64_t                exp;
    ngx_str_t              dev, expires, signature;
    ngx_uint_t             i, known;
    ngx_ota_main_conf_t   *omcf;

    if (ngx_http_arg(r, (u_char *) "device", 6, &dev) != NGX_OK
        || ngx_http_arg(r, (u_char *) "expires", 7, &expires) != NGX_OK
        || ngx_http_arg(r, (u_char *) "signature", 9, &signature) != NGX_OK)
    {
        *answer = ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED,
                                        "a signed link needs \"device\", "
                                        "\"expires\" and \"signature\"");
        return NGX_DECLINED;
    }

    /* clients may percent-encode ':' of a device name */
    if (ngx_strlchr(dev.data, dev.data + dev.len, '%')) {
        dst = ngx_pnalloc(r->pool, dev.len);
        if (dst == NULL) {
            *answer = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }
        src = dev.data;
        dev.data = dst;
        ngx_unescape_uri(&dst, &src, dev.len, 0);
        dev.len = dst - dev.data;
    }

    if (!ota_name_device((char *) dev.data, dev.len)) {
        *answer = ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED,
                                        "malformed \"device\" in the "
                                        "signed link");
        return NGX_DECLINED;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_ota_module);

    known = 0;
    exp = ota_parse_int64((char *) expires.data, expires.len);

    /* a link this process signed (the upgrade answer) or verified before
     * needs no HMAC (ngx_ota_creds.c); expiry is checked on every request */
    if (signature.len == OTA_HEX_SHA256_LEN && exp > (int64_t) ngx_time()) {
        for (i = 0; i < OTA_HEX_SHA256_LEN; i++) {
            sig[i] = ngx_tolower(signature.data[i]);
        }

        known = 1;

        if (ngx_ota_creds_link(id, &dev, exp, sig)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota download: signed link of device \"%V\" "
                           "accepted (known to this process)", &dev);
            *device = dev;
            return NGX_OK;
        }
    }

    switch (ota_link_verify((char *) omcf->token_secret.data,
                            omcf->token_secret.len, (char *) id->data,
                            id->len, (char *) dev.data, dev.len,
                            (char *) expires.data, expires.len,
                            (char *) signature.data, signature.len,
                            (int64_t) ngx_time()))
    {
    case OTA_TOKEN_OK:
        if (known) {
            ngx_ota_creds_link_put(id, &dev, exp, sig);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota download: signed link of device \"%V\" "
                       "accepted", &dev);
        *device = dev;
        return NGX_OK;

    case OTA_TOKEN_EXPIRED:
        *answer = ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED,
                                        "signed link expired: ask for the "
                                        "upgrade again");
        return NGX_DECLINED;

    case OTA_TOKEN_BAD_SIGNATURE:
        *answer = ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED,
                                        "link signature does not match this "
                                        "package, device and expiry");
        return NGX_DECLINED;

    default:
        *answer = ngx_ota_download_deny(r, NGX_HTTP_UNAUTHORIZED,
                                        "malformed signed link");
        return NGX_DECLINED;
    }
}


static ngx_int_t
ngx_ota_download_deny(ngx_http_request_t *r, ngx_uint_t status,
    const char *why)
{
    ngx_ota_metric_add(NGX_OTA_M_AUTH_FAILURES, 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ota: download of \"%V\" refused: %s", &r->uri, why);

    return ngx_ota_send_error(r, status, why);
}


/* bearer: ota:dev:{d}:open[module] -> batch, ota:batch:{b}.package */
static ngx_int_t
ngx_ota_download_task(ngx_http_request_t *r, ngx_ota_dl_ctx_t *dl)
{
    char                   key[sizeof(OTA_KEY_DEVICE_OPEN) + OTA_NAME_MAX];
    ngx_int_t              rc;
    ngx_ota_redis_call_t  *call;

    if (!ngx_ota_redis_ready()) {
        return ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "task store unreachable: retry later or "
                                  "use the signed link");
    }

    call = ngx_ota_redis_call(r, ngx_ota_download_task_reply, dl);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* copied, not printed: a bearer download asks this per piece (the
     * device's name is at most OTA_NAME_MAX: it fits) */
    (void) ngx_ota_key_buf((u_char *) key, sizeof(key), OTA_KEY_DEVICE_OPEN,
                           &dl->device, NULL, NULL);

    rc = ngx_ota_redis_cmd(call, "HGET %s %b", key, dl->pkg.module.data,
                           dl->pkg.module.len);
    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        return ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "task store unreachable: retry later");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_ota_download_task_reply(ngx_ota_redis_call_t *call, redisReply *reply)
{
    char                 key[sizeof(OTA_KEY_BATCH) + OTA_NAME_MAX];
    ngx_int_t            rc;
    ngx_str_t            batch;
    ngx_ota_dl_ctx_t    *dl = call->data;
    ngx_http_request_t  *r = call->request;

    if (reply == NULL) {
        rc = ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "task store unreachable: retry later");
        goto done;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: task lookup for device \"%V\" failed: %*s",
                      &dl->device, (int) reply->len, reply->str);
        rc = ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "task store error: retry later");
        goto done;
    }

    if (call->index == 0) {
        if (reply->type != REDIS_REPLY_STRING
            || !ota_name_id(reply->str, reply->len))
        {
            rc = ngx_ota_download_deny(r, NGX_HTTP_FORBIDDEN,
                                       "the device has no open task for "
                                       "this package");
            goto done;
        }

        /* the batch names the package of each of its tasks (tasks are
         * stored by column: ota_keys.h) */
        batch.data = (u_char *) reply->str;
        batch.len = reply->len;
        (void) ngx_ota_key_buf((u_char *) key, sizeof(key), OTA_KEY_BATCH,
                               &batch, NULL, NULL);

        if (ngx_ota_redis_cmd(call, "HGET %s " OTA_F_PACKAGE, key) != NGX_OK) {
            rc = ngx_ota_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "task store unreachable: retry later");
            goto done;
        }

        return;                         /* the second answer comes here too */
    }

    if (reply->type != REDIS_REPLY_STRING
        || reply->len != dl->pkg.id.len
        || ngx_strncmp(reply->str, dl->pkg.id.data, reply->len) != 0)
    {
        rc = ngx_ota_download_deny(r, NGX_HTTP_FORBIDDEN,
                                   "the device's open task is for another "
                                   "package");
        goto done;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota download: device \"%V\" has a task for \"%V\"",
                   &dl->device, &dl->pkg.id);

    rc = ngx_ota_download_send(r, dl);

done:

    call->handler = NULL;               /* no later reply for this call */
    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_ota_push_header(ngx_http_request_t *r, const char *key, u_char *value,
    size_t len, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    if (out) {
        *out = h;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ota_download_send(ngx_http_request_t *r, ngx_ota_dl_ctx_t *dl)
{
    u_char                    *p, *etag, *disp;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_str_t                  path;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_uint_t                 level;
    ngx_table_elt_t           *h;
    ngx_open_file_info_t       of;
    ngx_ota_loc_conf_t        *olcf;
    ngx_http_core_loc_conf_t  *clcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    len = olcf->package_root.len + 1 + dl->pkg.id.len + 1 + dl->file.name.len;

    path.data = ngx_pnalloc(r->pool, len + 1);
    if (path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(path.data, olcf->package_root.data, olcf->package_root.len);
    *p++ = '/';
    p = ngx_cpymem(p, dl->pkg.id.data, dl->pkg.id.len);
    *p++ = '/';
    p = ngx_cpymem(p, dl->file.name.data, dl->file.name.len);
    *p = '\0';
    path.len = len;

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    if (ngx_http_set_disable_symlinks(r, clcf, &path, &of) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_open_cached_file(clcf->open_file_cache, &path, &of, r->pool)
        != NGX_OK)
    {
        level = (of.err == NGX_ENOENT || of.err == NGX_ENOTDIR)
                ? NGX_LOG_ERR : NGX_LOG_CRIT;

        ngx_log_error(level, r->connection->log, of.err,
                      "ota: %s \"%s\" of package \"%V\" failed", of.failed,
                      path.data, &dl->pkg.id);

        if (of.err == NGX_ENOENT || of.err == NGX_ENOTDIR) {
            return ngx_ota_send_error(r, NGX_HTTP_NOT_FOUND,
                                      "the package's file is missing "
                                      "from the store");
        }

        return ngx_ota_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "cannot open the package's file");
    }

    if (!of.is_file || of.size != dl->file.size) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: \"%s\" is not the file of %O bytes that the "
                      "manifest of package \"%V\" names", path.data,
                      dl->file.size, &dl->pkg.id);
        return ngx_ota_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "the package's file does not match "
                                  "its manifest");
    }

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    /* nginx's range filter cuts the body; the progress filter counts what
     * of it went out */
    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota download: file \"%s\" fd:%d size:%O at %O, "
                   "range \"%V\"", path.data, of.fd, of.size,
                   dl->file.offset,
                   r->headers_in.range ? &r->headers_in.range->value
                                       : &ngx_ota_whole);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;

    ngx_str_set(&r->headers_out.content_type, "application/octet-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    /* strong ETag: the file's digest; the content never changes */
    etag = ngx_pnalloc(r->pool, dl->file.sign.len + 2);
    if (etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = etag;
    *p++ = '"';
    p = ngx_cpymem(p, dl->file.sign.data, dl->file.sign.len);
    *p++ = '"';

    len = sizeof("attachment; filename=\"\"") - 1 + dl->file.name.len;
    disp = ngx_pnalloc(r->pool, len);
    if (disp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(disp, "attachment; filename=\"%V\"", &dl->file.name);

    if (ngx_ota_push_header(r, "ETag", etag, p - etag, &h) != NGX_OK
        || ngx_ota_push_header(r, "X-OTA-Sign", dl->file.sign.data,
                               dl->file.sign.len, NULL) != NGX_OK
        || ngx_ota_push_header(r, "X-OTA-Sign-Method",
                               dl->pkg.sign_method.data,
                               dl->pkg.sign_method.len, NULL) != NGX_OK
        || ngx_ota_push_header(r, "Content-Disposition", disp, len, NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag = h;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;

    } else {
        ngx_ota_progress_start(r, &dl->device, &dl->pkg, &dl->file);
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_HTTP_RANGE_NOT_SATISFIABLE) {
        /* the range filter has set "Content-Range: bytes *" "/<size>";
         * answer in JSON like every other error, not nginx's HTML page */
        return ngx_ota_send_error(r, NGX_HTTP_RANGE_NOT_SATISFIABLE,
                                  "range not satisfiable: see "
                                  "Content-Range for the file's size");
    }

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ngx_ota_metric_add(NGX_OTA_M_DOWNLOADS, 1);

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file_pos = 0;
    b->file_last = of.size;

    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = b->file_last ? 0 : 1;

    b->file->fd = of.fd;
    b->file->name = path;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
