/*
 * ngx_ota_creds.h: bearer tokens and signed links this process made or
 * verified, remembered so that the next request presenting the same bytes
 * needs no HMAC (ngx_ota_creds.c; docs/device-protocol.md, "Tokens and
 * links known to a node"; made for speed: bench/README.md, "nginx's user
 * space in a session").
 */

#ifndef NGX_OTA_CREDS_H
#define NGX_OTA_CREDS_H

#include "ngx_ota_core.h"

#include "ota_token.h"


/*
 * A token known to be genuine (made by this process's auth or verified
 * before): 1 and t filled (pointing into token) when token is byte for
 * byte one of them, else 0.  Expiry is the caller's to check, as on every
 * verification.
 */
ngx_uint_t ngx_ota_creds_token(const u_char *token, size_t len,
    ota_token_t *t);

/* Remembers a genuine token (t: its fields, pointing into token). */
void ngx_ota_creds_token_put(const u_char *token, size_t len,
    const ota_token_t *t);

/*
 * A signed link known to be genuine: 1 when (package, device, expires) and
 * the signature (64 lower-case hex digits) are those of a link this
 * process signed or verified; expiry is the caller's to check.
 */
ngx_uint_t ngx_ota_creds_link(ngx_str_t *id, ngx_str_t *device,
    int64_t expires, const u_char *sig);

/* Remembers a genuine link (sig: 64 hex digits, any case). */
void ngx_ota_creds_link_put(ngx_str_t *id, ngx_str_t *device,
    int64_t expires, const u_char *sig);

#endif /* NGX_OTA_CREDS_H */
