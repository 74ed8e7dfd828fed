/* ota_settings.c: the platform's parameters (ota_settings.h) */

#include "ota_settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>


const char  *ota_settings_names[OTA_SETTINGS_N] = {
    OTA_SET_MAX_SIZE, OTA_SET_EXTENSIONS
};


void
ota_settings_default(ota_settings_t *s)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->exts, OTA_SETTINGS_EXTS_DEFAULT);
    s->max_size = OTA_SETTINGS_MAX_SIZE_DEFAULT;
}


long long
ota_settings_parse_size(const char *v)
{
    char       *end;
    long long   n, mul = 1;

    if (v == NULL || *v < '0' || *v > '9') {
        return -1;
    }
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno) {
        return -1;
    }
    while (*end == ' ') {
        end++;
    }
    if (strcasecmp(end, "") == 0 || strcasecmp(end, "b") == 0) {
        mul = 1;
    } else if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0) {
        mul = 1024;
    } else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0) {
        mul = 1024 * 1024;
    } else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0) {
        mul = 1024LL * 1024 * 1024;
    } else {
        return -1;
    }
    if (n > OTA_SETTINGS_MAX_SIZE_LIMIT / mul) {
        return -1;
    }
    return n * mul;
}


const char *
ota_settings_size_str(long long bytes, char *buf, size_t len)
{
    if (bytes > 0 && bytes % (1024LL * 1024) == 0) {
        snprintf(buf, len, "%lld MB", bytes / (1024LL * 1024));
    } else if (bytes > 0 && bytes % 1024 == 0) {
        snprintf(buf, len, "%lld KB", bytes / 1024);
    } else {
        snprintf(buf, len, "%lld bytes", bytes);
    }
    return buf;
}


/* ".bin,.ZIP .tar.gz" -> ".bin .zip .tar.gz" into out; -1 with the reason */
static int
ota_settings_exts(ota_check_t *c, const char *v, char *out, size_t outlen)
{
    const char  *p, *e;
    char         one[OTA_SETTINGS_EXT_LEN + 2], *q;
    size_t       n = 0, l, i;
    int          count = 0;

    out[0] = '\0';
    for (p = v; *p; p = e) {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        for (e = p; *e && *e != ' ' && *e != ','; e++) {
            /* void */
        }
        l = (size_t) (e - p);
        if (l == 0) {
            continue;
        }
        if (l > OTA_SETTINGS_EXT_LEN || p[0] != '.' || l < 2) {
            return ota_check_fail(c, "invalid file extension \"%.*s\" (want "
                                  "\".bin\" style, at most %d characters, "
                                  "space or comma separated)", (int) l, p,
                                  OTA_SETTINGS_EXT_LEN);
        }
        for (i = 0; i < l; i++) {
            unsigned char ch = (unsigned char) p[i];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                  || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_'
                  || ch == '-'))
            {
                return ota_check_fail(c, "invalid file extension \"%.*s\" "
                                      "(letters, digits, '.', '_' and '-' "
                                      "only)", (int) l, p);
            }
            one[i] = (char) ((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
        }
        one[l] = '\0';

        /* the same extension twice is kept once */
        for (q = out; (q = strstr(q, one)) != NULL; q += l) {
            if ((q == out || q[-1] == ' ') && (q[l] == ' ' || q[l] == '\0')) {
                break;
            }
        }
        if (q != NULL) {
            continue;
        }
        if (n + l + 2 > outlen) {
            return ota_check_fail(c, "extension list too long (at most %d "
                                  "bytes)", (int) outlen - 1);
        }
        n += (size_t) snprintf(out + n, outlen - n, "%s%s", n ? " " : "",
                               one);
        count++;
    }
    if (count == 0) {
        return ota_check_fail(c, "empty extension list");
    }
    return 0;
}


int
ota_settings_set(ota_settings_t *s, ota_check_t *c, const char *key,
    const char *value)
{
    long long  n;
    char       buf[OTA_SETTINGS_EXTS_MAX];

    if (strcmp(key, OTA_SET_MAX_SIZE) == 0) {
        n = ota_settings_parse_size(value);
        if (n < 1) {
            return ota_check_fail(c, "invalid %s \"%s\" (want a size such as "
                                  "2000MB or 2GB: B, KB, MB, GB, from 1 byte "
                                  "to 1024 GB)", OTA_SET_MAX_SIZE,
                                  value ? value : "");
        }
        s->max_size = n;
        s->stored |= OTA_SET_BIT_MAX_SIZE;
        return 0;
    }
    if (strcmp(key, OTA_SET_EXTENSIONS) == 0) {
        if (ota_settings_exts(c, value ? value : "", buf, sizeof(buf)) != 0) {
            return -1;
        }
        strcpy(s->exts, buf);
        s->stored |= OTA_SET_BIT_EXTENSIONS;
        return 0;
    }
    return ota_check_fail(c, "unknown setting \"%s\" (%s or %s)", key,
                          OTA_SET_MAX_SIZE, OTA_SET_EXTENSIONS);
}


const char *
ota_settings_stored(const ota_settings_t *s, const char *key, char *buf,
    size_t len)
{
    if (strcmp(key, OTA_SET_MAX_SIZE) == 0) {
        snprintf(buf, len, "%lld", s->max_size);
        return buf;
    }
    if (strcmp(key, OTA_SET_EXTENSIONS) == 0) {
        snprintf(buf, len, "%s", s->exts);
        return buf;
    }
    return NULL;
}


int
ota_settings_load(ota_settings_t *s, const char *key, const char *value)
{
    ota_check_t     c;
    ota_settings_t  t = *s;

    ota_check_init(&c, 0);
    if (ota_settings_set(&t, &c, key, value) != 0) {
        return -1;
    }
    *s = t;
    return 0;
}


void *
ota_settings_json(const ota_settings_t *s)
{
    json_t  *j, *d;

    d = json_array();
    if (d == NULL) {
        return NULL;
    }
    if ((!(s->stored & OTA_SET_BIT_MAX_SIZE)
         && json_array_append_new(d, json_string(OTA_SET_MAX_SIZE)) != 0)
        || (!(s->stored & OTA_SET_BIT_EXTENSIONS)
            && json_array_append_new(d, json_string(OTA_SET_EXTENSIONS))
               != 0))
    {
        json_decref(d);
        return NULL;
    }
    j = json_pack("{s:I, s:s, s:o}", OTA_SET_MAX_SIZE,
                  (json_int_t) s->max_size, OTA_SET_EXTENSIONS, s->exts,
                  "defaults", d);
    return j;
}
