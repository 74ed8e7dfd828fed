/*
 * ngx_ota_json.c: JSON answers, JSON request bodies and bearer tokens: the
 * pieces every endpoint of the device and admin APIs uses the same way.
 */

#include "ngx_ota_module.h"

#include "ota_token.h"


static void ngx_ota_json_body_ready(ngx_http_request_t *r);


ngx_ota_ctx_t *
ngx_ota_get_ctx(ngx_http_request_t *r)
{
    ngx_ota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_ota_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }
        ngx_http_set_ctx(r, ctx, ngx_ota_module);
    }

    return ctx;
}


ngx_int_t
ngx_ota_send_text(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *type,
    u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = len;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->pos, data, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_ota_send_json(ngx_http_request_t *r, ngx_uint_t status, json_t *json)
{
    char             *s;
    ngx_int_t         rc;
    ngx_str_t         type = ngx_string("application/json");
    ngx_table_elt_t  *h;

    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every "come back later" answer says when */
    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        || status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        ngx_str_set(&h->value, "5");
    }

    s = json_dumps(json, JSON_COMPACT);
    json_decref(json);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_send_text(r, status, &type, (u_char *) s, ngx_strlen(s));
    free(s);

    return rc;
}


ngx_int_t
ngx_ota_send_error(ngx_http_request_t *r, ngx_uint_t status, const char *msg)
{
    json_t           *j;
    ngx_table_elt_t  *h;

    if (status == NGX_HTTP_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer realm=\"ota\"");
    }

    j = json_pack("{s:i,s:s}", "code", (int) status, "message", msg);

    return ngx_ota_send_json(r, status, j);
}


ngx_int_t
ngx_ota_read_json_body(ngx_http_request_t *r, ngx_ota_json_body_pt handler)
{
    ngx_int_t            rc;
    ngx_ota_ctx_t       *ctx;
    ngx_ota_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    if (r->headers_in.content_length_n > (off_t) olcf->body_max) {
        return ngx_ota_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "request body too large");
    }

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->body_handler = handler;

    /* one buffer in memory: bodies are small and never spill to disk */
    r->request_body_in_single_buf = 1;
    r->request_body_no_buffering = 0;

    rc = ngx_http_read_client_request_body(r, ngx_ota_json_body_ready);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_ota_json_body_ready(ngx_http_request_t *r)
{
    u_char              *data, *p;
    size_t               len;
    json_t              *json;
    ngx_chain_t         *cl;
    json_error_t         err;
    ngx_ota_ctx_t       *ctx;
    ngx_ota_loc_conf_t  *olcf;
    char                 msg[256];

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);
    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_http_finalize_request(r,
            ngx_ota_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                               "request body too large"));
        return;
    }

    len = 0;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len > olcf->body_max) {
        ngx_http_finalize_request(r,
            ngx_ota_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                               "request body too large"));
        return;
    }

    if (len == 0) {
        ngx_http_finalize_request(r,
            ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                               "empty body: send a JSON object"));
        return;
    }

    if (r->request_body->bufs->next == NULL) {
        data = r->request_body->bufs->buf->pos;

    } else {
        data = ngx_pnalloc(r->pool, len);
        if (data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
        p = data;
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    json = json_loadb((const char *) data, len,
                      JSON_REJECT_DUPLICATES, &err);

    if (json == NULL || !json_is_object(json)) {
        if (json == NULL) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "malformed JSON at line %d column %d: %s%Z",
                         err.line, err.column, err.text);
        } else {
            ngx_cpystrn((u_char *) msg, (u_char *) "the body must be a JSON "
                        "object", sizeof(msg));
            json_decref(json);
        }
        ngx_http_finalize_request(r,
            ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST, msg));
        return;
    }

    ctx->body_handler(r, json);
}


ngx_int_t
ngx_ota_bearer(ngx_http_request_t *r, ngx_str_t *device, ngx_str_t *product,
    const char **why)
{
    ngx_str_t             auth;
    ota_token_t           t;
    ngx_ota_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_ota_module);

    if (r->headers_in.authorization == NULL) {
        *why = "missing \"Authorization: Bearer <token>\" header: "
               "get a token from POST auth";
        return NGX_DECLINED;
    }

    auth = r->headers_in.authorization->value;

    if (auth.len < 8
        || ngx_strncasecmp(auth.data, (u_char *) "Bearer ", 7) != 0)
    {
        *why = "the Authorization header must be \"Bearer <token>\"";
        return NGX_DECLINED;
    }

    switch (ota_token_verify((char *) omcf->token_secret.data,
                             omcf->token_secret.len, (char *) auth.data + 7,
                             auth.len - 7, (int64_t) ngx_time(), &t))
    {
    case OTA_TOKEN_OK:
        device->data = (u_char *) t.device;
        device->len = t.device_len;
        product->data = (u_char *) t.product;
        product->len = t.product_len;
        return NGX_OK;

    case OTA_TOKEN_EXPIRED:
        *why = "token expired: authenticate again";
        return NGX_DECLINED;

    case OTA_TOKEN_BAD_SIGNATURE:
        *why = "token signature does not match";
        return NGX_DECLINED;

    default:
        *why = "malformed token";
        return NGX_DECLINED;
    }
}
