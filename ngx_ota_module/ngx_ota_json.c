/*
 * ngx_ota_json.c: JSON answers, JSON request bodies and bearer tokens: the
 * pieces every endpoint of the device and admin APIs uses the same way.
 */

#include "ngx_ota_json.h"
#include "ngx_ota_core.h"
#include "ngx_ota_creds.h"

#include "ota_jflat.h"
#include "ota_token.h"


static void ngx_ota_json_body_ready(ngx_http_request_t *r);


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
ngx_ota_method_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_ota_send_error(r, NGX_HTTP_NOT_ALLOWED,
                              "method not allowed here");
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
ngx_ota_send_json_text(ngx_http_request_t *r, ngx_uint_t status, u_char *data,
    size_t len)
{
    ngx_str_t  type = ngx_string("application/json");

    return ngx_ota_send_text(r, status, &type, data, len);
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


/*
 * Request bodies (auth, inform, progress) are small JSON objects, and the
 * body of auth is not authenticated yet: they are read in memory only,
 * whatever client_body_buffer_size, and never reach a temporary file.
 * nginx's unbuffered reading hands each part over as it arrives (its save
 * filter never writes to disk in that mode); the parts are copied into one
 * buffer of at most the limit, and over the limit the answer is the
 * module's JSON 413 at once.
 */

#define NGX_OTA_BODY_CHUNKED_FIRST  2048


typedef struct {
    u_char               *data;
    size_t                len;
    size_t                size;             /* allocated */
    size_t                limit;
    ngx_ota_flat_body_pt  flat;             /* read flat first: speed */
    unsigned              array:1;          /* an array is good too */
} ngx_ota_body_t;


static ngx_int_t ngx_ota_read_body(ngx_http_request_t *r,
    ngx_ota_json_body_pt handler, ngx_ota_flat_body_pt flat,
    ngx_uint_t array);
static void ngx_ota_json_body_start(ngx_http_request_t *r);
static ngx_int_t ngx_ota_body_refuse(ngx_http_request_t *r,
    ngx_uint_t status, const char *msg);
static void ngx_ota_json_body_read(ngx_http_request_t *r);


ngx_int_t
ngx_ota_read_json_body(ngx_http_request_t *r, ngx_ota_json_body_pt handler)
{
    return ngx_ota_read_json_body_as(r, handler, 0);
}


ngx_int_t
ngx_ota_read_flat_body(ngx_http_request_t *r, ngx_ota_flat_body_pt flat,
    ngx_ota_json_body_pt handler)
{
    return ngx_ota_read_body(r, handler, flat, 0);
}


ngx_int_t
ngx_ota_read_json_body_as(ngx_http_request_t *r, ngx_ota_json_body_pt handler,
    ngx_uint_t array)
{
    return ngx_ota_read_body(r, handler, NULL, array);
}


static ngx_int_t
ngx_ota_read_body(ngx_http_request_t *r, ngx_ota_json_body_pt handler,
    ngx_ota_flat_body_pt flat, ngx_uint_t array)
{
    ngx_int_t            rc;
    ngx_ota_ctx_t       *ctx;
    ngx_ota_body_t      *b;
    ngx_ota_loc_conf_t  *olcf;

    /* a declared length over the limit was refused by the device API's
     * entry (ngx_ota_device_handler) before any body was read */
    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    ctx = ngx_ota_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_pcalloc(r->pool, sizeof(ngx_ota_body_t));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->limit = (size_t) olcf->body_limit;
    b->flat = flat;
    b->array = array ? 1 : 0;

    ctx->body_handler = handler;
    ctx->body = b;

    /* never a temporary file: each part is handed over as it arrives */
    r->request_body_no_buffering = 1;

    rc = ngx_http_read_client_request_body(r, ngx_ota_json_body_start);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (rc == NGX_HTTP_BAD_REQUEST && !r->connection->error) {
            r->keepalive = 0;
            r->lingering_close = 1;
            return ngx_ota_body_refuse(r, NGX_HTTP_BAD_REQUEST,
                                      "malformed request body (chunked "
                                      "encoding)");
        }
        return rc;
    }

    return NGX_DONE;
}


/* copies the parts nginx handed over into the body buffer and marks them
 * consumed (so nginx reuses its buffer); NGX_DECLINED over the limit */
static ngx_int_t
ngx_ota_json_body_take(ngx_http_request_t *r, ngx_ota_body_t *b)
{
    u_char       *p;
    size_t        n, size;
    ngx_buf_t    *buf;
    ngx_chain_t  *cl;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        buf = cl->buf;

        if (buf->in_file) {
            /* not in unbuffered mode: refuse rather than read a file */
            return NGX_ERROR;
        }

        n = buf->last - buf->pos;
        if (n == 0) {
            continue;
        }

        if (n > b->limit - b->len) {
            return NGX_DECLINED;
        }

        if (b->len + n > b->size) {
            /* a declared length is allocated once; a chunked body grows
             * by doubling, never past the limit */
            size = r->headers_in.chunked ? ngx_max(b->size * 2,
                                                   NGX_OTA_BODY_CHUNKED_FIRST)
                                         : (size_t) r->headers_in
                                                     .content_length_n;
            size = ngx_max(size, b->len + n);
            size = ngx_min(size, b->limit);

            p = ngx_palloc(r->pool, size);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (b->len) {
                ngx_memcpy(p, b->data, b->len);
            }

            if (b->data) {
                (void) ngx_pfree(r->pool, b->data);
            }

            b->data = p;
            b->size = size;
        }

        ngx_memcpy(b->data + b->len, buf->pos, n);
        b->len += n;
        buf->pos = buf->last;
    }

    r->request_body->bufs = NULL;

    return NGX_OK;
}


/* the post handler: called once, the body complete or not */
static void
ngx_ota_json_body_start(ngx_http_request_t *r)
{
    if (r->reading_body) {
        r->read_event_handler = ngx_ota_json_body_read;
    }

    ngx_ota_json_body_read(r);
}


static void
ngx_ota_json_body_read(ngx_http_request_t *r)
{
    ngx_int_t        rc;
    ngx_ota_ctx_t   *ctx;
    ngx_ota_body_t  *b;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    b = ctx->body;

    for ( ;; ) {
        rc = ngx_ota_json_body_take(r, b);

        if (rc != NGX_OK) {
            r->read_event_handler = ngx_http_block_reading;

            if (rc == NGX_ERROR) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota: request body over %uz bytes after %uz",
                           b->limit, b->len);

            /* the rest is not read: the connection closes after the
             * answer (nginx sees reading_body) */
            r->keepalive = 0;
            r->lingering_close = 1;
            ngx_http_finalize_request(r,
                ngx_ota_body_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   "request body too large"));
            return;
        }

        if (!r->reading_body) {
            break;
        }

        rc = ngx_http_read_unbuffered_request_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            r->read_event_handler = ngx_http_block_reading;

            if (rc == NGX_HTTP_BAD_REQUEST && !r->connection->error) {
                r->keepalive = 0;
                r->lingering_close = 1;
                rc = ngx_ota_body_refuse(r, NGX_HTTP_BAD_REQUEST,
                                        "malformed request body (chunked "
                                        "encoding)");
            }

            ngx_http_finalize_request(r, rc);
            return;
        }

        if (r->request_body->bufs == NULL) {
            if (rc == NGX_OK) {
                break;                  /* the end, with no new bytes */
            }
            return;                     /* NGX_AGAIN: wait for more */
        }
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota: request body of %uz bytes read", b->len);

    ngx_ota_json_body_ready(r);
}


static void
ngx_ota_json_body_ready(ngx_http_request_t *r)
{
    char            *scratch;
    json_t          *json;
    ota_jflat_t      flat;
    json_error_t     err;
    ngx_ota_ctx_t   *ctx;
    ngx_ota_body_t  *b;
    char             msg[256];

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    b = ctx->body;

    if (b->len == 0) {
        ngx_http_finalize_request(r,
            ngx_ota_body_refuse(r, NGX_HTTP_BAD_REQUEST,
                               "empty body: send a JSON object"));
        return;
    }

    /*
     * Made for speed: a flat object (the device reports, auth) is read
     * without a jansson tree (no malloc per node, no hash table per
     * object); its strings are views into the body or into scratch, both
     * in the pool.  Anything else, a malformed body included, is read by
     * jansson below as before, so every refusal keeps its message.
     */
    if (b->flat != NULL) {
        scratch = ngx_pnalloc(r->pool, b->len);
        if (scratch == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ota_jflat_parse(&flat, (const char *) b->data, b->len, scratch,
                            b->len)
            == OTA_JF_OK)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota: request body read flat, %d members of "
                           "%uz bytes", flat.n, b->len);
            b->flat(r, &flat);
            return;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota: request body not flat: read by jansson");
    }

    json = json_loadb((const char *) b->data, b->len,
                      JSON_REJECT_DUPLICATES, &err);

    if (json == NULL || !(json_is_object(json)
                          || (b->array && json_is_array(json))))
    {
        if (json == NULL) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "malformed JSON at line %d column %d: %s%Z",
                         err.line, err.column, err.text);
        } else {
            ngx_cpystrn((u_char *) msg, b->array
                        ? (u_char *) "the body must be a JSON object or array"
                        : (u_char *) "the body must be a JSON object",
                        sizeof(msg));
            json_decref(json);
        }
        ngx_http_finalize_request(r,
            ngx_ota_body_refuse(r, NGX_HTTP_BAD_REQUEST, msg));
        return;
    }

    ctx->body_handler(r, json);
}


ngx_int_t
ngx_ota_bearer(ngx_http_request_t *r, ngx_str_t *device, ngx_str_t *product,
    const char **why)
{
    time_t  expires;

    return ngx_ota_bearer_expires(r, device, product, &expires, why);
}


ngx_int_t
ngx_ota_bearer_expires(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *product, time_t *expires, const char **why)
{
    int                   rc;
    ngx_str_t             auth;
    ngx_uint_t            known;
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

    /* a token this process made or verified needs no HMAC
     * (ngx_ota_creds.c); its expiry is checked all the same */
    if (ngx_ota_creds_token(auth.data + 7, auth.len - 7, &t)) {
        rc = t.expires <= (int64_t) ngx_time() ? OTA_TOKEN_EXPIRED
                                                : OTA_TOKEN_OK;
        known = 1;

    } else {
        rc = ota_token_verify((char *) omcf->token_secret.data,
                              omcf->token_secret.len, (char *) auth.data + 7,
                              auth.len - 7, (int64_t) ngx_time(), &t);
        known = 0;
    }

    switch (rc) {
    case OTA_TOKEN_OK:
        if (!known) {
            ngx_ota_creds_token_put(auth.data + 7, auth.len - 7, &t);
        }

        device->data = (u_char *) t.device;
        device->len = t.device_len;
        product->data = (u_char *) t.product;
        product->len = t.product_len;
        *expires = (time_t) t.expires;
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ota bearer: token of device \"%V\", product "
                       "\"%V\" accepted%s", device, product,
                       known ? " (known to this process)" : "");
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


/* a body refused: through the endpoint's own hook when it has one (the
 * admin API audits its refusals), else the usual JSON error */
static ngx_int_t
ngx_ota_body_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg)
{
    ngx_ota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    if (ctx != NULL && ctx->body_refused != NULL) {
        return ctx->body_refused(r, status, msg);
    }

    return ngx_ota_send_error(r, status, msg);
}
