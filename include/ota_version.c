#include "ota_version.h"

#include <stdio.h>
#include <string.h>

static int
ota_version_part(const char **p, const char *end, unsigned *out)
{
    const char  *s = *p;
    unsigned     v = 0;
    size_t       n = 0;

    while (s < end && *s >= '0' && *s <= '9') {
        if (++n > 6) {
            return -1;
        }
        v = v * 10 + (unsigned) (*s - '0');
        s++;
    }

    /* "0" is fine, "01" is not: one spelling per version */
    if (n == 0 || (n > 1 && **p == '0')) {
        return -1;
    }

    *out = v;
    *p = s;
    return 0;
}

int
ota_version_parse(const char *s, size_t len, ota_version_t *v)
{
    const char     *p = s, *end = s + len;
    ota_version_t   t;

    if (s == NULL || len == 0 || len >= OTA_VERSION_STR_MAX) {
        return -1;
    }

    if (ota_version_part(&p, end, &t.major) != 0 || p >= end || *p++ != '.') {
        return -1;
    }
    if (ota_version_part(&p, end, &t.minor) != 0 || p >= end || *p++ != '.') {
        return -1;
    }
    if (ota_version_part(&p, end, &t.patch) != 0 || p != end) {
        return -1;
    }

    *v = t;
    return 0;
}

int
ota_version_parse_cstr(const char *s, ota_version_t *v)
{
    if (s == NULL) {
        return -1;
    }
    return ota_version_parse(s, strlen(s), v);
}

int
ota_version_cmp(const ota_version_t *a, const ota_version_t *b)
{
    if (a->major != b->major) {
        return a->major < b->major ? -1 : 1;
    }
    if (a->minor != b->minor) {
        return a->minor < b->minor ? -1 : 1;
    }
    if (a->patch != b->patch) {
        return a->patch < b->patch ? -1 : 1;
    }
    return 0;
}

int
ota_version_format(const ota_version_t *v, char *buf)
{
    return snprintf(buf, OTA_VERSION_STR_MAX, "%u.%u.%u",
                    v->major, v->minor, v->patch);
}
