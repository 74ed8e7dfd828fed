/*
 * ngx_ota_json.h: JSON answers, request bodies and bearer tokens
 * (ngx_ota_json.c).
 */

#ifndef NGX_OTA_JSON_H
#define NGX_OTA_JSON_H

#include "ngx_ota_core.h"

#include "ota_jflat.h"


/* the handler of a flat body (ngx_ota_read_flat_body): body lives during
 * the call only, its views (into the request's pool) with the request */
typedef void (*ngx_ota_flat_body_pt)(ngx_http_request_t *r,
    const ota_jflat_t *body);


/* Sends {"code":status,"message":msg}; adds Retry-After for 429 and 503.
 * Returns what the content handler should return. */
ngx_int_t ngx_ota_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *msg);

/* 405 with "Allow: <allow>" (a static string) */
ngx_int_t ngx_ota_method_not_allowed(ngx_http_request_t *r,
    const char *allow);

/* Serialises and sends json (reference is stolen) with status; 429 and
 * 503 answers get Retry-After. */
ngx_int_t ngx_ota_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json);

/* Sends an answer already in JSON text (a hot path's fixed shape, built
 * without a tree: ngx_ota_api_auth.c, ngx_ota_api_report.c). */
ngx_int_t ngx_ota_send_json_text(ngx_http_request_t *r, ngx_uint_t status,
    u_char *data, size_t len);

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

/* the same; array: a JSON array is accepted as well as an object */
ngx_int_t ngx_ota_read_json_body_as(ngx_http_request_t *r,
    ngx_ota_json_body_pt handler, ngx_uint_t array);

/* The same for the small device bodies (auth, inform, progress): a flat
 * object (include/ota_jflat.h) goes to flat(r, body) without a jansson
 * tree, any other body (nested, or to be refused: the same 400 and text as
 * ngx_ota_read_json_body) to handler as above. */
ngx_int_t ngx_ota_read_flat_body(ngx_http_request_t *r,
    ngx_ota_flat_body_pt flat, ngx_ota_json_body_pt handler);

/* Bearer token of the request, verified against ota_token_secret.
 * Returns NGX_OK and fills device/product (pointing into the header), or
 * NGX_DECLINED with *why set to a reason for a 401 answer. */
ngx_int_t ngx_ota_bearer(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *product, const char **why);

/* The same, with the token's expiry (unix s) in *expires. */
ngx_int_t ngx_ota_bearer_expires(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *product, time_t *expires, const char **why);

#endif /* NGX_OTA_JSON_H */
