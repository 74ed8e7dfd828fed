/*
 * ota_sign.h: package signatures (docs/signing.md), plain C on OpenSSL 3.
 *
 * A signed package carries a manifest and its Ed25519 signature.  The
 * manifest is canonical JSON, the exact bytes that were signed, handed to
 * devices in base64 so that nothing between the admin and the device
 * (nginx nodes, the store, Redis, the bridge) re-encodes them:
 *
 *   {"format":"ota-manifest-1","id":"<package>","product":"<p>",
 *    "module":"<m>","version":"X.Y.Z","type":"full|diff","from":"X.Y.Z|",
 *    "files":[{"name":"<file>","size":<bytes>,"sha256":"<hex>"},...]}
 *
 * on one line, keys in this order, no blanks (every value is a name,
 * version or hex digest: nothing needs escaping).  A device verifies the
 * signature over the decoded bytes with the public key it was built with,
 * then checks the manifest names what it asked for (product, module, a
 * version above its own: anti-rollback) and each downloaded file's size and
 * sha256.
 *
 * Keys are PEM files: the private key (PKCS#8) stays with the admin
 * (otactl key gen, package add --sign-key); the public key
 * (SubjectPublicKeyInfo) goes into device images.  A key id (the first 8
 * bytes of the sha256 of the raw 32-byte public key, in hex) names a key
 * in messages and records.
 */

#ifndef OTA_SIGN_H
#define OTA_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>

#define OTA_SIGN_FORMAT      "ota-manifest-1"
#define OTA_SIGN_LEN         64                 /* Ed25519 signature bytes */
#define OTA_SIGN_KEYID_LEN   16                 /* hex characters */

/* base64 length of n bytes, without the terminator */
#define OTA_B64_LEN(n)       (4 * (((n) + 2) / 3))

typedef struct {
    const char  *name;
    long long    size;
    const char  *sha256;                        /* 64 hex characters */
} ota_manifest_file_t;

typedef struct {
    const char                 *id;
    const char                 *product;
    const char                 *module;
    const char                 *version;
    const char                 *type;           /* "full" or "diff" */
    const char                 *from;           /* "" for a full package */
    const ota_manifest_file_t  *files;
    int                         nfiles;
} ota_manifest_t;

/* The canonical bytes of m (malloc'd, NUL-terminated; *len without the
 * NUL), or NULL when out of memory. */
char *ota_manifest_bytes(const ota_manifest_t *m, size_t *len);

/* A new Ed25519 key; NULL on failure. */
EVP_PKEY *ota_sign_keygen(void);

/* The key of a PEM text: a private key when private is set, else a public
 * key (a private key's PEM is refused there: it must not travel).  Not an
 * Ed25519 key: refused.  NULL with the reason in err. */
EVP_PKEY *ota_sign_key_pem(const char *pem, size_t len, int private,
    char *err, size_t errlen);

/* The PEM text of a key (malloc'd), private or public part; NULL on OOM */
char *ota_sign_key_to_pem(EVP_PKEY *key, int private);

/* Signs msg: 0, or -1. */
int ota_sign(EVP_PKEY *key, const void *msg, size_t len,
    unsigned char sig[OTA_SIGN_LEN]);

/* 1 when sig is key's signature of msg, else 0. */
int ota_sign_verify(EVP_PKEY *key, const void *msg, size_t len,
    const unsigned char *sig, size_t siglen);

/* The key id of a key (its public part) into out (17 bytes); 0 or -1 */
int ota_sign_key_id(EVP_PKEY *key, char *out);

/* Standard base64 with padding: writes OTA_B64_LEN(len) + 1 bytes. */
void ota_b64_encode(const void *in, size_t len, char *out);

/* Decodes standard base64 (padding required, no blanks) into out (at
 * least 3 * (len / 4) bytes); *outlen the bytes.  0, or -1 when malformed. */
int ota_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t *outlen);

#endif /* OTA_SIGN_H */
