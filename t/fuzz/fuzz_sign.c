/* libFuzzer target: what otactl and devices read of a signed package from
 * places that may be hostile (a record in Redis, a key file): base64
 * manifests and signatures, PEM keys.  Never crashes; what decodes
 * re-encodes to text of the same length that decodes to the same bytes
 * (a non-canonical last character is read as its canonical one); a
 * signature never verifies over garbage with a fixed key. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_sign.h"

static EVP_PKEY  *key;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char  *out, *again;
    char           *back, err[256];
    size_t          n, m;
    EVP_PKEY       *k;

    if (key == NULL) {
        key = ota_sign_keygen();
    }

    out = malloc(size / 4 * 3 + 3);
    if (out != NULL && ota_b64_decode((const char *) data, size, out, &n) == 0)
    {
        back = malloc(OTA_B64_LEN(n) + 1);
        again = malloc(n + 3);
        if (back == NULL || again == NULL) {
            abort();
        }
        ota_b64_encode(out, n, back);
        if (strlen(back) != size
            || ota_b64_decode(back, size, again, &m) != 0 || m != n
            || memcmp(again, out, n) != 0)
        {
            abort();                    /* decoding is exact */
        }
        free(back);
        free(again);
        if (n >= OTA_SIGN_LEN
            && ota_sign_verify(key, out + OTA_SIGN_LEN, n - OTA_SIGN_LEN, out,
                               OTA_SIGN_LEN))
        {
            abort();
        }
    }
    free(out);

    k = ota_sign_key_pem((const char *) data, size, size & 1, err,
                         sizeof(err));
    EVP_PKEY_free(k);
    return 0;
}
