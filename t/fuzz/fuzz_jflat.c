/* libFuzzer target: ota_jflat, the module's flat reader of the device
 * API's request bodies, against jansson (t/unit/jflat_diff.h): what jflat
 * reads, jansson reads alike; what jflat refuses, jansson refuses; a flat
 * object jansson reads, jflat reads; the request checks answer the same on
 * both.  Any difference aborts. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../unit/jflat_diff.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char   *why;
    ota_jf_rc_e   rc;

    why = jflat_diff((const char *) data, size, &rc);
    if (why != NULL) {
        fprintf(stderr, "jflat: %s\n", why);
        abort();
    }

    return 0;
}
