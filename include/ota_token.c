#include "ota_token.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "ota_names.h"

#define OTA_TOKEN_VERSION  "1"

void
ota_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
    size_t msg_len, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      md[EVP_MAX_MD_SIZE];
    unsigned int       md_len = 0, i;

    if (HMAC(EVP_sha256(), key, (int) key_len, msg, msg_len, md, &md_len)
        == NULL)
    {
        /* cannot happen with SHA-256; an all-zero answer never verifies
         * because a hex of 64 '0' is compared against a real HMAC */
        memset(out, 'x', OTA_HEX_SHA256_LEN);
        out[OTA_HEX_SHA256_LEN] = '\0';
        return;
    }

    for (i = 0; i < md_len && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[OTA_HEX_SHA256_LEN] = '\0';
}

/*
 * HMAC on a kept context: the server key signs and checks every token and
 * link, and HMAC() hashes the key into its inner and outer pads on every
 * call.  A few prepared EVP_MAC contexts per thread (the server key and at
 * most a few others, e.g. a key change in a reload) are re-initialised
 * with a NULL key, which restores the kept pads (OpenSSL 3 HMAC provider).
 * Anything that fails falls back to the one-shot HMAC().
 */
#define OTA_HMAC_KEPT      4
#define OTA_HMAC_KEPT_KEY  256

typedef struct {
    EVP_MAC_CTX    *ctx;
    size_t          key_len;
    unsigned long   used;
    unsigned char   key[OTA_HMAC_KEPT_KEY];
} ota_hmac_kept_t;

static __thread ota_hmac_kept_t  ota_hmac_kept[OTA_HMAC_KEPT];
static __thread unsigned long    ota_hmac_tick;

static EVP_MAC_CTX *
ota_hmac_ctx(const void *key, size_t key_len)
{
    static EVP_MAC         *mac;
    ota_hmac_kept_t        *k, *lru = &ota_hmac_kept[0];
    OSSL_PARAM              params[2];
    int                     i;

    if (key_len == 0 || key_len > OTA_HMAC_KEPT_KEY) {
        return NULL;
    }

    for (i = 0; i < OTA_HMAC_KEPT; i++) {
        k = &ota_hmac_kept[i];
        if (k->ctx != NULL && k->key_len == key_len
            && memcmp(k->key, key, key_len) == 0)
        {
            if (!EVP_MAC_init(k->ctx, NULL, 0, NULL)) {
                return NULL;
            }
            k->used = ++ota_hmac_tick;
            return k->ctx;
        }
        if (k->used < lru->used) {
            lru = k;
        }
    }

    if (mac == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            return NULL;
        }
    }

    k = lru;
    if (k->ctx == NULL) {
        k->ctx = EVP_MAC_CTX_new(mac);
        if (k->ctx == NULL) {
            return NULL;
        }
    }
    k->key_len = 0;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(k->ctx, key, key_len, params)) {
        return NULL;
    }

    memcpy(k->key, key, key_len);
    k->key_len = key_len;
    k->used = ++ota_hmac_tick;
    return k->ctx;
}

static void
ota_hex32(const unsigned char *md, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    int                i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[OTA_HEX_SHA256_LEN] = '\0';
}

void
ota_hmac_sha256_hex_kept(const void *key, size_t key_len, const void *msg,
    size_t msg_len, char *out)
{
    EVP_MAC_CTX    *ctx;
    unsigned char   md[EVP_MAX_MD_SIZE];
    size_t          md_len = 0;

    ctx = ota_hmac_ctx(key, key_len);
    if (ctx == NULL || !EVP_MAC_update(ctx, msg, msg_len)
        || !EVP_MAC_final(ctx, md, &md_len, sizeof(md)) || md_len != 32)
    {
        ota_hmac_sha256_hex(key, key_len, msg, msg_len, out);
        return;
    }
    ota_hex32(md, out);
}

/*
 * HMAC with a key used once (a device secret in auth): one spare context
 * per thread, given the new key each time, so the kept contexts of the
 * server key are never evicted.  Made for speed: the one-shot HMAC()
 * fetches the algorithm and allocates and frees a context on every call.
 */
static void
ota_hmac_sha256_hex_once(const void *key, size_t key_len, const void *msg,
    size_t msg_len, char *out)
{
    static EVP_MAC               *mac;
    static __thread EVP_MAC_CTX  *spare;
    static __thread int           digest_set;
    unsigned char                 md[EVP_MAX_MD_SIZE];
    size_t                        md_len = 0;
    OSSL_PARAM                    params[2];

    if (mac == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    }

    if (spare == NULL && mac != NULL) {
        spare = EVP_MAC_CTX_new(mac);
        digest_set = 0;
    }

    /* the digest once: a context keeps it across inits */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (spare == NULL || key_len == 0
        || !EVP_MAC_init(spare, key, key_len, digest_set ? NULL : params)
        || !(digest_set = 1)
        || !EVP_MAC_update(spare, msg, msg_len)
        || !EVP_MAC_final(spare, md, &md_len, sizeof(md)) || md_len != 32)
    {
        ota_hmac_sha256_hex(key, key_len, msg, msg_len, out);
        return;
    }

    ota_hex32(md, out);
}

/* made for speed: 8 bytes a step (the HMACs compared per request are 64
 * hex chars: 8 steps, not 64), the rest a byte at a time; every byte is
 * read and no branch depends on the data, so the time still depends only
 * on len */
int
ota_ct_equal(const void *a, const void *b, size_t len)
{
    const unsigned char  *x = a, *y = b;
    unsigned char         d8 = 0;
    uint64_t              u, v, d = 0;
    size_t                i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        d |= u ^ v;
    }
    for (; i < len; i++) {
        d8 |= x[i] ^ y[i];
    }
    return (d | d8) == 0;
}

/* lower-case copy of a 64-char hex string; 0 when it is not one */
static int
ota_hex_lower(const char *s, size_t len, char *out)
{
    size_t  i;

    if (len != OTA_HEX_SHA256_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'F') {
            c = (char) (c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
        out[i] = c;
    }
    out[len] = '\0';
    return 1;
}

int64_t
ota_parse_int64(const char *s, size_t len)
{
    int64_t  v = 0;
    size_t   i;

    if (s == NULL || len == 0 || len > 18) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

void
ota_auth_sign(const char *secret, size_t secret_len,
    const char *device, size_t device_len, const char *product,
    size_t product_len, const char *ts, size_t ts_len, char *out)
{
    char    msg[512];
    size_t  n = 0;

    if (device_len > 128 || product_len > 128 || ts_len > 32) {
        memset(out, 'x', OTA_HEX_SHA256_LEN);
        out[OTA_HEX_SHA256_LEN] = '\0';
        return;
    }

    memcpy(msg + n, "device", 6); n += 6;
    memcpy(msg + n, device, device_len); n += device_len;
    memcpy(msg + n, "product", 7); n += 7;
    memcpy(msg + n, product, product_len); n += product_len;
    memcpy(msg + n, "timestamp", 9); n += 9;
    memcpy(msg + n, ts, ts_len); n += ts_len;

    ota_hmac_sha256_hex_once(secret, secret_len, msg, n, out);
}

int
ota_auth_check(const char *secret, size_t secret_len,
    const char *device, size_t device_len, const char *product,
    size_t product_len, const char *ts, size_t ts_len,
    const char *sign, size_t sign_len)
{
    char  want[OTA_HEX_SHA256_LEN + 1], got[OTA_HEX_SHA256_LEN + 1];

    if (!ota_hex_lower(sign, sign_len, got)) {
        return 0;
    }
    ota_auth_sign(secret, secret_len, device, device_len, product,
                  product_len, ts, ts_len, want);
    return ota_ct_equal(want, got, OTA_HEX_SHA256_LEN);
}

/* body = "1~<expires>~<product>~<device>", returns its length or -1 */
static int
ota_token_body(char *buf, size_t size, const char *device, size_t device_len,
    const char *product, size_t product_len, int64_t expires)
{
    char       *p, digits[20];
    size_t      n, d;
    long long   v;

    /* by hand, not snprintf: auth makes one per request (speed);
     * expires >= 0 (ota_token_make checks) */
    v = (long long) expires;
    d = 0;
    do {
        digits[d++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v > 0 && d < sizeof(digits));

    n = sizeof(OTA_TOKEN_VERSION) - 1 + 1 + d + 1 + product_len + 1
        + device_len;
    if (n >= size) {
        return -1;
    }

    p = buf;
    memcpy(p, OTA_TOKEN_VERSION "~", sizeof(OTA_TOKEN_VERSION));
    p += sizeof(OTA_TOKEN_VERSION);
    while (d) {
        *p++ = digits[--d];
    }
    *p++ = '~';
    memcpy(p, product, product_len);
    p += product_len;
    *p++ = '~';
    memcpy(p, device, device_len);
    p += device_len;
    *p = '\0';

    return (int) n;
}

static void
ota_token_mac(const char *key, size_t key_len, const char *body,
    size_t body_len, char *out)
{
    char  msg[OTA_TOKEN_MAX + 16];

    memcpy(msg, "ota-token\n", 10);
    memcpy(msg + 10, body, body_len);
    ota_hmac_sha256_hex_kept(key, key_len, msg, 10 + body_len, out);
}

int
ota_token_make(const char *key, size_t key_len, const char *device,
    size_t device_len, const char *product, size_t product_len,
    int64_t expires, char *buf)
{
    char  mac[OTA_HEX_SHA256_LEN + 1];
    int   n;

    if (!ota_name_device(device, device_len)
        || !ota_name_product(product, product_len) || expires < 0)
    {
        return -1;
    }

    n = ota_token_body(buf, OTA_TOKEN_MAX - OTA_HEX_SHA256_LEN - 2, device,
                       device_len, product, product_len, expires);
    if (n < 0) {
        return -1;
    }

    ota_token_mac(key, key_len, buf, (size_t) n, mac);
    buf[n++] = '~';
    memcpy(buf + n, mac, OTA_HEX_SHA256_LEN + 1);

    return n + OTA_HEX_SHA256_LEN;
}

int
ota_token_verify(const char *key, size_t key_len, const char *token,
    size_t len, int64_t now, ota_token_t *t)
{
    const char  *f[5], *end = token + len, *p;
    size_t       fl[5];
    char         mac[OTA_HEX_SHA256_LEN + 1], got[OTA_HEX_SHA256_LEN + 1];
    int          i;

    if (token == NULL || len == 0 || len >= OTA_TOKEN_MAX) {
        return OTA_TOKEN_MALFORMED;
    }

    /* split into exactly five '~' separated fields */
    p = token;
    for (i = 0; i < 5; i++) {
        const char *q = memchr(p, '~', (size_t) (end - p));

        if (i < 4 && q == NULL) {
            return OTA_TOKEN_MALFORMED;
        }
        if (i == 4) {
            if (q != NULL) {
                return OTA_TOKEN_MALFORMED;
            }
            q = end;
        }
        f[i] = p;
        fl[i] = (size_t) (q - p);
        p = q + 1;
    }

    if (fl[0] != 1 || f[0][0] != OTA_TOKEN_VERSION[0]
        || !ota_name_product(f[2], fl[2]) || !ota_name_device(f[3], fl[3])
        || !ota_hex_lower(f[4], fl[4], got))
    {
        return OTA_TOKEN_MALFORMED;
    }

    t->expires = ota_parse_int64(f[1], fl[1]);
    if (t->expires < 0) {
        return OTA_TOKEN_MALFORMED;
    }

    ota_token_mac(key, key_len, token, (size_t) (f[4] - 1 - token), mac);
    if (!ota_ct_equal(mac, got, OTA_HEX_SHA256_LEN)) {
        return OTA_TOKEN_BAD_SIGNATURE;
    }

    if (t->expires <= now) {
        return OTA_TOKEN_EXPIRED;
    }

    t->product = f[2];
    t->product_len = fl[2];
    t->device = f[3];
    t->device_len = fl[3];

    return OTA_TOKEN_OK;
}

void
ota_link_sign(const char *key, size_t key_len, const char *package,
    size_t package_len, const char *device, size_t device_len,
    int64_t expires, char *out)
{
    char  msg[512];
    int   n;

    n = snprintf(msg, sizeof(msg), "ota-link\n%.*s\n%.*s\n%lld",
                 (int) package_len, package, (int) device_len, device,
                 (long long) expires);
    if (n < 0 || (size_t) n >= sizeof(msg)) {
        memset(out, 'x', OTA_HEX_SHA256_LEN);
        out[OTA_HEX_SHA256_LEN] = '\0';
        return;
    }
    ota_hmac_sha256_hex_kept(key, key_len, msg, (size_t) n, out);
}

int
ota_link_verify(const char *key, size_t key_len, const char *package,
    size_t package_len, const char *device, size_t device_len,
    const char *expires, size_t expires_len, const char *signature,
    size_t signature_len, int64_t now)
{
    char     want[OTA_HEX_SHA256_LEN + 1], got[OTA_HEX_SHA256_LEN + 1];
    int64_t  exp;

    exp = ota_parse_int64(expires, expires_len);
    if (exp < 0 || !ota_name_id(package, package_len)
        || !ota_name_device(device, device_len)
        || !ota_hex_lower(signature, signature_len, got))
    {
        return OTA_TOKEN_MALFORMED;
    }

    ota_link_sign(key, key_len, package, package_len, device, device_len,
                  exp, want);
    if (!ota_ct_equal(want, got, OTA_HEX_SHA256_LEN)) {
        return OTA_TOKEN_BAD_SIGNATURE;
    }

    return exp <= now ? OTA_TOKEN_EXPIRED : OTA_TOKEN_OK;
}
