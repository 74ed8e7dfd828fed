/*
 * ota_token.h: the cryptographic formats of the OTA system (HMAC-SHA256
 * everywhere, hex encoded, compared in constant time).  Plain C on OpenSSL,
 * shared by the module, otactl (signed links for operators) and the tests.
 *
 *  device auth sign  hex HMAC(device secret,
 *                        "device<d>product<p>timestamp<ms>")   (docs/device-protocol.md)
 *  bearer token      "1~<expires>~<product>~<device>~<hex>"
 *                    hex = HMAC(server key, "ota-token\n1~<expires>~<product>~<device>")
 *                    stateless: any node with the key verifies it, no Redis.
 *  signed link       ?device=<d>&expires=<unix s>&signature=<hex>
 *                    hex = HMAC(server key, "ota-link\n<package>\n<device>\n<expires>")
 *
 * The distinct prefixes keep a signature of one kind from passing as another.
 */

#ifndef OTA_TOKEN_H
#define OTA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define OTA_HEX_SHA256_LEN   64
#define OTA_TOKEN_MAX        256

enum {
    OTA_TOKEN_OK = 0,
    OTA_TOKEN_MALFORMED = -1,
    OTA_TOKEN_BAD_SIGNATURE = -2,
    OTA_TOKEN_EXPIRED = -3
};

typedef struct {
    const char  *device;        /* points into the token */
    size_t       device_len;
    const char  *product;
    size_t       product_len;
    int64_t      expires;       /* unix seconds */
} ota_token_t;

/* out gets 64 hex chars and a NUL. */
void ota_hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
    size_t msg_len, char *out);

/* The same on a kept context per key (a few per thread, for the server key
 * that signs every token and link): 2.7 -> ~0.5 us per call. */
void ota_hmac_sha256_hex_kept(const void *key, size_t key_len,
    const void *msg, size_t msg_len, char *out);

/* 1 when the two buffers are equal; time depends only on len. */
int ota_ct_equal(const void *a, const void *b, size_t len);

/* Device auth: the expected sign for these inputs (out: 65 bytes). */
void ota_auth_sign(const char *secret, size_t secret_len,
    const char *device, size_t device_len, const char *product,
    size_t product_len, const char *ts, size_t ts_len, char *out);

/* 1 when hex (any case) equals the expected sign. */
int ota_auth_check(const char *secret, size_t secret_len,
    const char *device, size_t device_len, const char *product,
    size_t product_len, const char *ts, size_t ts_len,
    const char *sign, size_t sign_len);

/* Writes a NUL-terminated token into buf (OTA_TOKEN_MAX bytes); returns its
 * length, or -1 when the names are not valid device/product names. */
int ota_token_make(const char *key, size_t key_len, const char *device,
    size_t device_len, const char *product, size_t product_len,
    int64_t expires, char *buf);

/* Checks a token at time now (unix s); fills t on OTA_TOKEN_OK. */
int ota_token_verify(const char *key, size_t key_len, const char *token,
    size_t len, int64_t now, ota_token_t *t);

/* Signed download link signature (out: 65 bytes). */
void ota_link_sign(const char *key, size_t key_len, const char *package,
    size_t package_len, const char *device, size_t device_len,
    int64_t expires, char *out);

/* OTA_TOKEN_OK, _BAD_SIGNATURE, _EXPIRED or _MALFORMED. */
int ota_link_verify(const char *key, size_t key_len, const char *package,
    size_t package_len, const char *device, size_t device_len,
    const char *expires, size_t expires_len, const char *signature,
    size_t signature_len, int64_t now);

/* Parses a non-negative decimal of at most 18 digits; -1 when malformed. */
int64_t ota_parse_int64(const char *s, size_t len);

#endif /* OTA_TOKEN_H */
