/*
 * ngx_ota_creds.c: genuine bearer tokens and signed links, remembered per
 * process (docs/device-protocol.md, "Tokens and links known to a node").
 *
 * A device session presents its token four times (inform, upgrade,
 * progress, inform) and its link once per piece, and each check is an
 * HMAC over the server key: more than the rest of those requests' own
 * work, and on a node busy with downloads it runs with cold caches (made
 * for speed: bench/README.md, "nginx's user space in a session").  So what
 * this process made (auth's token, the upgrade answer's link) or verified
 * is kept in two tables of 2-way sets, indexed by the first hex digits of
 * the signature (the older of a set's two is replaced; a direct-mapped
 * table lost about one credential in five to a collision while 200
 * devices were in their sessions): a later request whose credential is the
 * same bytes,
 * compared in constant time, is genuine without an HMAC.  Only genuine
 * credentials are ever stored, so a forged one always takes the full
 * check (and is refused by it); expiry is checked by the caller on every
 * request, hit or not.  The server key is fixed for a process's life
 * (a reload starts new processes), so an entry never outlives its key.
 */

#include "ngx_ota_creds.h"

#include "ota_names.h"


#define NGX_OTA_CREDS_TOKENS  2048          /* a power of two */
#define NGX_OTA_CREDS_LINKS   2048          /* a power of two */
#define NGX_OTA_CREDS_WAYS    2             /* entries per set */


typedef struct {
    int64_t               expires;
    ngx_uint_t            stamp;            /* when stored: the older goes */
    uint16_t              len;              /* 0: empty */
    u_char                product;          /* offsets into tok */
    u_char                product_len;
    u_char                device;
    u_char                device_len;
    u_char                tok[OTA_TOKEN_MAX];
} ngx_ota_creds_token_t;

typedef struct {
    int64_t               expires;
    ngx_uint_t            stamp;
    u_char                sig[OTA_HEX_SHA256_LEN];  /* lower case */
    u_char                id_len;           /* 0: empty */
    u_char                dev_len;
    u_char                id[OTA_NAME_MAX];
    u_char                dev[OTA_NAME_MAX];
} ngx_ota_creds_link_t;


static ngx_ota_creds_token_t  ngx_ota_tokens[NGX_OTA_CREDS_TOKENS];
static ngx_ota_creds_link_t   ngx_ota_links[NGX_OTA_CREDS_LINKS];
static ngx_uint_t             ngx_ota_creds_stamp;


/* a token's set (NGX_OTA_CREDS_WAYS entries): the first hex digits of its
 * signature (the last 64 characters), or NULL when they are not hex (never
 * a genuine token) */
static ngx_ota_creds_token_t *
ngx_ota_creds_token_slot(const u_char *token, size_t len)
{
    ngx_int_t  h;

    if (len <= OTA_HEX_SHA256_LEN || len >= OTA_TOKEN_MAX) {
        return NULL;
    }

    h = ngx_hextoi((u_char *) token + len - OTA_HEX_SHA256_LEN, 4);
    if (h == NGX_ERROR) {
        return NULL;
    }

    return &ngx_ota_tokens[(h * NGX_OTA_CREDS_WAYS)
                           & (NGX_OTA_CREDS_TOKENS - 1)];
}


ngx_uint_t
ngx_ota_creds_token(const u_char *token, size_t len, ota_token_t *t)
{
    ngx_uint_t              i;
    ngx_ota_creds_token_t  *set, *e;

    set = ngx_ota_creds_token_slot(token, len);
    if (set == NULL) {
        return 0;
    }

    /* the lengths are public (the request's); the bytes compared in
     * constant time */
    for (i = 0; i < NGX_OTA_CREDS_WAYS; i++) {
        e = &set[i];
        if (e->len == len && ota_ct_equal(token, e->tok, len)) {
            break;
        }
    }

    if (i == NGX_OTA_CREDS_WAYS) {
        return 0;
    }

    t->expires = e->expires;
    t->product = (const char *) token + e->product;
    t->product_len = e->product_len;
    t->device = (const char *) token + e->device;
    t->device_len = e->device_len;

    return 1;
}


void
ngx_ota_creds_token_put(const u_char *token, size_t len, const ota_token_t *t)
{
    size_t                  dev, prod;
    ngx_ota_creds_token_t  *set, *e;

    set = ngx_ota_creds_token_slot(token, len);
    if (set == NULL) {
        return;
    }

    e = set[0].stamp <= set[1].stamp ? &set[0] : &set[1];

    dev = (const u_char *) t->device - token;
    prod = (const u_char *) t->product - token;

    if (dev + t->device_len > len || prod + t->product_len > len
        || dev > 255 || prod > 255 || t->device_len > 255
        || t->product_len > 255)
    {
        return;
    }

    e->expires = t->expires;
    e->stamp = ++ngx_ota_creds_stamp;
    e->len = (uint16_t) len;
    e->device = (u_char) dev;
    e->device_len = (u_char) t->device_len;
    e->product = (u_char) prod;
    e->product_len = (u_char) t->product_len;
    ngx_memcpy(e->tok, token, len);
}


static ngx_ota_creds_link_t *
ngx_ota_creds_link_slot(const u_char *sig)
{
    ngx_int_t  h;

    h = ngx_hextoi((u_char *) sig, 3);
    if (h == NGX_ERROR) {
        return NULL;
    }

    return &ngx_ota_links[(h * NGX_OTA_CREDS_WAYS)
                          & (NGX_OTA_CREDS_LINKS - 1)];
}


ngx_uint_t
ngx_ota_creds_link(ngx_str_t *id, ngx_str_t *device, int64_t expires,
    const u_char *sig)
{
    ngx_uint_t             i, same;
    ngx_ota_creds_link_t  *set, *e;

    set = ngx_ota_creds_link_slot(sig);
    if (set == NULL) {
        return 0;
    }

    for (i = 0; i < NGX_OTA_CREDS_WAYS; i++) {
        e = &set[i];

        /* the signature comparison runs whatever the rest says */
        same = ota_ct_equal(sig, e->sig, OTA_HEX_SHA256_LEN);

        if (same && e->id_len != 0 && e->expires == expires
            && e->id_len == id->len && e->dev_len == device->len
            && ngx_memcmp(e->id, id->data, id->len) == 0
            && ngx_memcmp(e->dev, device->data, device->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


void
ngx_ota_creds_link_put(ngx_str_t *id, ngx_str_t *device, int64_t expires,
    const u_char *sig)
{
    ngx_uint_t             i;
    ngx_ota_creds_link_t  *set, *e;

    if (id->len == 0 || id->len > OTA_NAME_MAX || device->len > OTA_NAME_MAX) {
        return;
    }

    set = ngx_ota_creds_link_slot(sig);
    if (set == NULL) {
        return;
    }

    e = set[0].stamp <= set[1].stamp ? &set[0] : &set[1];

    e->expires = expires;
    e->stamp = ++ngx_ota_creds_stamp;
    for (i = 0; i < OTA_HEX_SHA256_LEN; i++) {
        e->sig[i] = ngx_tolower(sig[i]);
    }
    e->id_len = (u_char) id->len;
    e->dev_len = (u_char) device->len;
    ngx_memcpy(e->id, id->data, id->len);
    ngx_memcpy(e->dev, device->data, device->len);
}
