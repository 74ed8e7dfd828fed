#include "ota_names.h"

#include <string.h>

#include "ota_fields.h"

static int
ota_name_chars(const char *s, size_t len, size_t max, const char *extra)
{
    size_t  i;

    if (s == NULL || len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-')
        {
            continue;
        }
        if (c != '\0' && strchr(extra, c) != NULL) {
            continue;
        }
        return 0;
    }

    return 1;
}

int
ota_name_device(const char *s, size_t len)
{
    return ota_name_chars(s, len, OTA_NAME_MAX, ".:") && s[0] != '.';
}

int
ota_name_product(const char *s, size_t len)
{
    return ota_name_device(s, len);
}

int
ota_name_module(const char *s, size_t len)
{
    return ota_name_chars(s, len, OTA_NAME_MAX, "");
}

int
ota_name_id(const char *s, size_t len)
{
    return ota_name_chars(s, len, OTA_NAME_MAX, "");
}

int
ota_name_file(const char *s, size_t len)
{
    if (!ota_name_chars(s, len, 128, ".") || s[0] == '.') {
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
