/* unit tests: manifests, Ed25519 signatures, base64 (include/ota_sign.c) */

#include "tap.h"
#include "ota_sign.h"

#include <stdlib.h>

#include <openssl/rsa.h>

int
main(void)
{
    ota_manifest_file_t  f[2] = {
        { "fw.bin", 600, "aaaa" },
        { "data.tar", 7, "bbbb" },
    };
    ota_manifest_t  m = { "p-m-1_1_0", "p", "m", "1.1.0", "diff", "1.0.0",
                          f, 2 };
    unsigned char   sig[OTA_SIGN_LEN], bad[OTA_SIGN_LEN], out[256];
    char            kid[OTA_SIGN_KEYID_LEN + 1], kid2[OTA_SIGN_KEYID_LEN + 1];
    char            b64[OTA_B64_LEN(OTA_SIGN_LEN) + 1], err[256];
    char           *bytes, *pem, *ppem;
    size_t          len, n;
    EVP_PKEY       *k, *k2, *pub, *priv, *rsa;

    bytes = ota_manifest_bytes(&m, &len);
    is_str(bytes, "{\"format\":\"ota-manifest-1\",\"id\":\"p-m-1_1_0\","
           "\"product\":\"p\",\"module\":\"m\",\"version\":\"1.1.0\","
           "\"type\":\"diff\",\"from\":\"1.0.0\",\"files\":[{\"name\":"
           "\"fw.bin\",\"size\":600,\"sha256\":\"aaaa\"},{\"name\":"
           "\"data.tar\",\"size\":7,\"sha256\":\"bbbb\"}]}",
           "the manifest's canonical bytes: fixed order, no blanks");
    ok(len == strlen(bytes), "its length");

    k = ota_sign_keygen();
    k2 = ota_sign_keygen();
    ok(k != NULL && k2 != NULL, "two Ed25519 keys");
    ok(ota_sign(k, bytes, len, sig) == 0, "signed");
    ok(ota_sign_verify(k, bytes, len, sig, sizeof(sig)) == 1,
       "the signature verifies with its key");
    ok(ota_sign_verify(k2, bytes, len, sig, sizeof(sig)) == 0,
       "not with another key");
    bytes[20] ^= 1;
    ok(ota_sign_verify(k, bytes, len, sig, sizeof(sig)) == 0,
       "not over a changed byte");
    bytes[20] ^= 1;
    memcpy(bad, sig, sizeof(bad));
    bad[5] ^= 0x40;
    ok(ota_sign_verify(k, bytes, len, bad, sizeof(bad)) == 0,
       "a changed signature fails");
    ok(ota_sign_verify(k, bytes, len, sig, sizeof(sig) - 1) == 0,
       "a short signature fails");

    /* PEM: the private key signs, the public key verifies, and a private
     * key is refused where a public one is asked for */
    ppem = ota_sign_key_to_pem(k, 1);
    pem = ota_sign_key_to_pem(k, 0);
    ok(ppem && strstr(ppem, "BEGIN PRIVATE KEY"), "private key in PKCS#8 PEM");
    ok(pem && strstr(pem, "BEGIN PUBLIC KEY"), "public key in PEM");
    pub = ota_sign_key_pem(pem, strlen(pem), 0, err, sizeof(err));
    priv = ota_sign_key_pem(ppem, strlen(ppem), 1, err, sizeof(err));
    ok(pub && ota_sign_verify(pub, bytes, len, sig, sizeof(sig)) == 1,
       "the public key read back verifies");
    ok(priv != NULL, "the private key read back");
    ok(ota_sign_key_pem(ppem, strlen(ppem), 0, err, sizeof(err)) == NULL
       && strstr(err, "private key") != NULL,
       "a private key given as the public one is refused: %s", err);
    ok(ota_sign_key_pem("junk", 4, 0, err, sizeof(err)) == NULL,
       "not PEM: %s", err);
    rsa = EVP_RSA_gen(1024);
    if (rsa != NULL) {
        char *rp = ota_sign_key_to_pem(rsa, 0);
        ok(ota_sign_key_pem(rp, strlen(rp), 0, err, sizeof(err)) == NULL
           && strstr(err, "Ed25519") != NULL, "an RSA key is refused: %s",
           err);
        free(rp);
        EVP_PKEY_free(rsa);
    }
    ok(ota_sign_key_id(k, kid) == 0 && strlen(kid) == 16
       && ota_sign_key_id(pub, kid2) == 0 && strcmp(kid, kid2) == 0,
       "the key id of the private and the public key: %s", kid);
    ok(ota_sign_key_id(k2, kid2) == 0 && strcmp(kid, kid2) != 0,
       "another key, another id");

    /* base64 */
    ota_b64_encode(sig, sizeof(sig), b64);
    ok(strlen(b64) == OTA_B64_LEN(OTA_SIGN_LEN), "base64 of 64 bytes: 88");
    ok(ota_b64_decode(b64, strlen(b64), out, &n) == 0 && n == sizeof(sig)
       && memcmp(out, sig, n) == 0, "and back");
    ota_b64_encode("ab", 2, b64);
    is_str(b64, "YWI=", "padding");
    ok(ota_b64_decode("YWI=", 4, out, &n) == 0 && n == 2
       && memcmp(out, "ab", 2) == 0, "padding decoded");
    ok(ota_b64_decode("YWI", 3, out, &n) != 0, "no padding: refused");
    ok(ota_b64_decode("YW I", 4, out, &n) != 0, "a blank: refused");
    ok(ota_b64_decode("Y=WI", 4, out, &n) != 0, "padding inside: refused");
    ok(ota_b64_decode("YWI*", 4, out, &n) != 0, "not base64: refused");
    ok(ota_b64_decode("", 0, out, &n) == 0 && n == 0, "empty");

    free(bytes);
    free(pem);
    free(ppem);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(priv);
    return done_testing();
}
