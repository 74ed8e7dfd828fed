/* libFuzzer target: the version parser never reads out of bounds, and what
 * it accepts formats back to exactly the input (one spelling per version). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota_version.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ota_version_t  v, w;
    char           buf[OTA_VERSION_STR_MAX];
    int            n;

    if (ota_version_parse((const char *) data, size, &v) != 0) {
        return 0;
    }

    n = ota_version_format(&v, buf);
    if (n < 0 || (size_t) n != size || memcmp(buf, data, size) != 0) {
        abort();
    }
    if (ota_version_parse(buf, (size_t) n, &w) != 0
        || ota_version_cmp(&v, &w) != 0)
    {
        abort();
    }
    if (v.major > OTA_VERSION_PART_MAX || v.minor > OTA_VERSION_PART_MAX
        || v.patch > OTA_VERSION_PART_MAX)
    {
        abort();
    }
    return 0;
}
