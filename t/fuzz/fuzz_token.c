/* libFuzzer target: bearer tokens, signed links and device auth signs.
 * Garbage never verifies, never crashes, and a token that verifies names
 * a valid device and product inside the input. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_names.h"
#include "ota_token.h"

#define KEY "fuzz-server-key-0123456789"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char   *s = (const char *) data;
    ota_token_t   t;
    const char   *p, *e, *sig;
    size_t        pl, el, sl, dl;

    if (ota_token_verify(KEY, sizeof(KEY) - 1, s, size, 0, &t)
        == OTA_TOKEN_OK)
    {
        /* only possible if the fuzzer forged an HMAC: impossible */
        if (!ota_name_device(t.device, t.device_len)
            || t.device < s || t.device + t.device_len > s + size)
        {
            abort();
        }
        abort();
    }

    /* split the input in four for the link and auth checks */
    if (size < 4) {
        return 0;
    }
    pl = size / 4;
    el = size / 4;
    dl = size / 4;
    sl = size - pl - el - dl;
    p = s;
    e = s + pl;
    sig = e + el + dl;

    if (ota_link_verify(KEY, sizeof(KEY) - 1, p, pl, e + el, dl, e, el, sig,
                        sl, 0) == OTA_TOKEN_OK)
    {
        abort();
    }

    if (ota_auth_check("secret", 6, p, pl, e, el, e + el, dl, sig, sl)) {
        abort();
    }

    (void) ota_parse_int64(s, size);
    (void) ota_name_file(s, size);
    (void) ota_name_device(s, size);

    return 0;
}
