#include "ota_names.h"

#include <string.h>

#include "ota_fields.h"

/* what each byte may be: OTA_NC_BASE [A-Za-z0-9_-], and the extras some
 * names allow.  Made for speed: a table, not comparisons and a strchr per
 * byte (a device session checks its names on every request) */
#define OTA_NC_BASE   1
#define OTA_NC_DOT    2
#define OTA_NC_COLON  4

static const unsigned char  ota_name_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* 10 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0,    /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 0, 0, 0, 0, 0,    /* 30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,    /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,    /* 50 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,    /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,    /* 70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* 80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* 90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* a0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* b0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* c0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* d0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* e0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* f0 */
};

/* allow: OTA_NC_BASE and the extras */
static int
ota_name_chars(const char *s, size_t len, size_t max, unsigned allow)
{
    size_t  i;

    if (s == NULL || len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(ota_name_class[(unsigned char) s[i]] & allow)) {
            return 0;
        }
    }

    return 1;
}

int
ota_name_device(const char *s, size_t len)
{
    return ota_name_chars(s, len, OTA_NAME_MAX,
                          OTA_NC_BASE | OTA_NC_DOT | OTA_NC_COLON)
           && s[0] != '.';
}

int
ota_name_product(const char *s, size_t len)
{
    return ota_name_device(s, len);
}

int
ota_name_module(const char *s, size_t len)
{
    return ota_name_chars(s, len, OTA_NAME_MAX, OTA_NC_BASE);
}

int
ota_name_id(const char *s, size_t len)
{
    return ota_name_chars(s, len, OTA_NAME_MAX, OTA_NC_BASE);
}

int
ota_name_file(const char *s, size_t len)
{
    if (!ota_name_chars(s, len, 128, OTA_NC_BASE | OTA_NC_DOT)
        || s[0] == '.')
    {
        return 0;
    }
    if (len == sizeof(OTA_MANIFEST_NAME) - 1
        && memcmp(s, OTA_MANIFEST_NAME, len) == 0)
    {
        return 0;
    }
    return 1;
}

static unsigned char
ota_name_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + ('a' - 'A')) : c;
}

int
ota_name_ext_ok(const char *name, size_t len, const char *exts)
{
    const char  *p, *e;
    size_t       tl, i;

    for (p = exts; p != NULL && *p; p = e) {
        while (*p == ' ') {
            p++;
        }
        for (e = p; *e && *e != ' '; e++) {
            /* void */
        }
        tl = (size_t) (e - p);
        if (tl == 0 || tl >= len) {
            continue;           /* a name is more than its extension */
        }
        for (i = 0; i < tl; i++) {
            if (ota_name_lower((unsigned char) name[len - tl + i])
                != ota_name_lower((unsigned char) p[i]))
            {
                break;
            }
        }
        if (i == tl) {
            return 1;
        }
    }
    return 0;
}
