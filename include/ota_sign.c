/* ota_sign.c: manifests, Ed25519 keys and signatures, base64 (ota_sign.h) */

#include "ota_sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <jansson.h>


char *
ota_manifest_bytes(const ota_manifest_t *m, size_t *len)
{
    json_t  *man, *files, *f;
    char    *s;
    int      i;

    files = json_array();
    for (i = 0; files != NULL && i < m->nfiles; i++) {
        f = json_pack("{s:s, s:I, s:s}", "name", m->files[i].name,
                      "size", (json_int_t) m->files[i].size,
                      "sha256", m->files[i].sha256);
        if (f == NULL || json_array_append_new(files, f) != 0) {
            json_decref(files);
            return NULL;
        }
    }
    if (files == NULL) {
        return NULL;
    }

    /* json_pack keeps the order of its format with JSON_PRESERVE_ORDER */
    man = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
                    "format", OTA_SIGN_FORMAT, "id", m->id,
                    "product", m->product, "module", m->module,
                    "version", m->version, "type", m->type,
                    "from", m->from ? m->from : "", "files", files);
    if (man == NULL) {
        return NULL;
    }
    s = json_dumps(man, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(man);
    if (s != NULL) {
        *len = strlen(s);
    }
    return s;
}


EVP_PKEY *
ota_sign_keygen(void)
{
    EVP_PKEY      *key = NULL;
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1
        || EVP_PKEY_keygen(ctx, &key) != 1)
    {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}


/* s (len bytes, not terminated) contains w */
static int
ota_sign_has(const char *s, size_t len, const char *w)
{
    size_t  i, n = strlen(w);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(s + i, w, n) == 0) {
            return 1;
        }
    }
    return 0;
}


EVP_PKEY *
ota_sign_key_pem(const char *pem, size_t len, int private, char *err,
    size_t errlen)
{
    BIO       *b;
    EVP_PKEY  *key;

    if (!private && ota_sign_has(pem, len, "PRIVATE KEY")) {
        snprintf(err, errlen, "this is a private key: give the public key "
                 "(otactl key gen writes both)");
        return NULL;
    }
    b = BIO_new_mem_buf(pem, (int) len);
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    key = private ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
                  : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (key == NULL) {
        snprintf(err, errlen, "not a PEM %s key", private ? "private"
                                                           : "public");
        return NULL;
    }
    if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        snprintf(err, errlen, "not an Ed25519 key (otactl key gen makes one)");
        return NULL;
    }
    return key;
}


char *
ota_sign_key_to_pem(EVP_PKEY *key, int private)
{
    BIO    *b;
    char   *data, *s = NULL;
    long    n;
    int     ok;

    b = BIO_new(BIO_s_mem());
    if (b == NULL) {
        return NULL;
    }
    ok = private ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_bio_PUBKEY(b, key);
    n = BIO_get_mem_data(b, &data);
    if (ok == 1 && n > 0 && (s = malloc((size_t) n + 1)) != NULL) {
        memcpy(s, data, (size_t) n);
        s[n] = '\0';
    }
    BIO_free(b);
    return s;
}


int
ota_sign(EVP_PKEY *key, const void *msg, size_t len,
    unsigned char sig[OTA_SIGN_LEN])
{
    EVP_MD_CTX  *ctx;
    size_t       sl = OTA_SIGN_LEN;
    int          rc = -1;

    ctx = EVP_MD_CTX_new();
    /* Ed25519 signs the message itself: no digest (NULL) */
    if (ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1
        && EVP_DigestSign(ctx, sig, &sl, msg, len) == 1 && sl == OTA_SIGN_LEN)
    {
        rc = 0;
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}


int
ota_sign_verify(EVP_PKEY *key, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX  *ctx;
    int          ok = 0;

    if (siglen != OTA_SIGN_LEN) {
        return 0;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1
        && EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1)
    {
        ok = 1;
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}


int
ota_sign_key_id(EVP_PKEY *key, char *out)
{
    unsigned char  raw[32], dg[SHA256_DIGEST_LENGTH];
    size_t         rl = sizeof(raw);
    int            i;

    if (EVP_PKEY_get_raw_public_key(key, raw, &rl) != 1 || rl != 32) {
        return -1;
    }
    SHA256(raw, rl, dg);
    for (i = 0; i < OTA_SIGN_KEYID_LEN / 2; i++) {
        sprintf(out + 2 * i, "%02x", dg[i]);
    }
    return 0;
}


void
ota_b64_encode(const void *in, size_t len, char *out)
{
    EVP_EncodeBlock((unsigned char *) out, in, (int) len);
}


int
ota_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t *outlen)
{
    int     n;
    size_t  i, pad = 0;

    if (len % 4 != 0) {
        return -1;
    }
    if (len == 0) {
        *outlen = 0;
        return 0;
    }
    /* EVP_DecodeBlock ignores blanks and counts padding as zero bytes:
     * refuse the first, take the second off */
    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) in[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
        {
            return -1;
        }
    }
    if (in[len - 1] == '=') {
        pad++;
        if (in[len - 2] == '=') {
            pad++;
        }
    }
    if (memchr(in, '=', len - pad) != NULL) {
        return -1;
    }
    n = EVP_DecodeBlock(out, (const unsigned char *) in, (int) len);
    if (n < 0 || (size_t) n < pad) {
        return -1;
    }
    *outlen = (size_t) n - pad;
    return 0;
}
