/* ota_check.c: refusals shared by otactl and the admin API (ota_check.h) */

#include "ota_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ota_names.h"


void
ota_check_init(ota_check_t *c, int api)
{
    memset(c, 0, sizeof(*c));
    c->api = api;
}


const char *
ota_check_field(ota_check_t *c, const char *name)
{
    char  *b = c->fbuf[c->fk++ & 3], *p;

    snprintf(b, sizeof(c->fbuf[0]), c->api ? "\"%s\"" : "--%s", name);
    /* options are spelt with '-' where fields have '_' (--from-version) */
    for (p = b; !c->api && *p; p++) {
        if (*p == '_') {
            *p = '-';
        }
    }
    return b;
}


int
ota_check_fail(ota_check_t *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    return -1;
}


int
ota_check_fail_api(ota_check_t *c, const char *m)
{
    size_t  n = 0, max = sizeof(c->msg) - 1;

    while (*m && n < max) {
        /* "--name" at a word's start, name of a-z and '-' */
        if (m[0] == '-' && m[1] == '-' && m[2] >= 'a' && m[2] <= 'z'
            && (n == 0 || c->msg[n - 1] == ' ' || c->msg[n - 1] == '('))
        {
            if (!c->api) {
                c->msg[n++] = *m++;
                continue;
            }
            m += 2;
            c->msg[n++] = '"';
            while (n < max && ((*m >= 'a' && *m <= 'z') || *m == '-')) {
                c->msg[n++] = *m == '-' ? '_' : *m;
                m++;
            }
            if (n < max) {
                c->msg[n++] = '"';
            }
            continue;
        }
        c->msg[n++] = *m++;
    }
    c->msg[n] = '\0';
    return -1;
}


/* the length of the UTF-8 sequence at s (at most n bytes), 0 when it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are
 * refused, as jansson refuses them */
static size_t
ota_utf8_len(const unsigned char *s, size_t n)
{
    unsigned  cp;
    size_t    len, i;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
        || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    {
        return 0;
    }
    return len;
}


int
ota_text_ok(const char *s, size_t len, size_t max)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i, k;

    if (len > max) {
        return 0;
    }
    for (i = 0; i < len; i += k) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 0;
        }
        k = ota_utf8_len(p + i, len - i);
        if (k == 0) {
            return 0;
        }
        /* C1 control characters (U+0080..U+009F) */
        if (k == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
            return 0;
        }
    }
    return 1;
}


int
ota_secret_ok(const char *s, size_t len)
{
    size_t  i;

    if (len < 16 || len > 128) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}


int
ota_check_fields(ota_check_t *c, const void *obj, const char *const *names,
    const char **out)
{
    char         known[256];
    size_t       i, k, n;
    json_t      *v;
    const char  *key;

    for (n = 0; names[n] != NULL; n++) {
        out[n] = NULL;
    }

    json_object_foreach((json_t *) obj, key, v) {
        for (i = 0; i < n && strcmp(key, names[i]) != 0; i++) {
            /* void */
        }

        if (i == n) {
            known[0] = '\0';
            for (k = 0, i = 0; i < n && k < sizeof(known); i++) {
                k += (size_t) snprintf(known + k, sizeof(known) - k, "%s%s",
                                       i ? ", " : "", names[i]);
            }
            return ota_check_fail(c, "unknown field \"%.64s\" (known: %s)",
                                  key, known);
        }

        if (json_is_null(v)) {
            continue;
        }

        if (!json_is_string(v)) {
            return ota_check_fail(c, "\"%s\" must be a string", key);
        }

        out[i] = json_string_value(v);
    }

    return 0;
}


int
ota_check_device(ota_check_t *c, const char *device, const char *product,
    const char *secret)
{
    if (device == NULL) {
        return ota_check_fail(c, "a device needs a name (\"device\")");
    }
    if (!ota_name_device(device, strlen(device))) {
        return ota_check_fail(c, "invalid device name \"%s\" (1-64 of A-Z "
                              "a-z 0-9 _ - . :, not starting with '.')",
                              device);
    }
    if (product == NULL) {
        return ota_check_fail(c, "%s needs %s",
                              c->api ? "a device" : "device add",
                              ota_check_field(c, "product"));
    }
    if (!ota_name_product(product, strlen(product))) {
        return ota_check_fail(c, "invalid product name \"%s\" (1-64 of A-Z "
                              "a-z 0-9 _ - . :)", product);
    }
    if (secret != NULL && !ota_secret_ok(secret, strlen(secret))) {
        return ota_check_fail(c, "invalid %s: 16-128 printable characters, "
                              "no spaces", ota_check_field(c, "secret"));
    }
    return 0;
}


int
ota_check_module(ota_check_t *c, const char *module, const char *product,
    const char *alias, const char *desc)
{
    if (module == NULL) {
        return ota_check_fail(c, "a module needs a name (\"module\")");
    }
    if (!ota_name_module(module, strlen(module))) {
        return ota_check_fail(c, "invalid module name \"%s\" (1-64 of A-Z "
                              "a-z 0-9 _ -)", module);
    }
    if (product == NULL) {
        return ota_check_fail(c, "%s needs %s",
                              c->api ? "a module" : "module add",
                              ota_check_field(c, "product"));
    }
    if (!ota_name_product(product, strlen(product))) {
        return ota_check_fail(c, "invalid product name \"%s\"", product);
    }
    if (alias != NULL && !ota_text_ok(alias, strlen(alias), OTA_ALIAS_MAX)) {
        return ota_check_fail(c, "invalid %s: at most %d characters, no "
                              "control characters",
                              ota_check_field(c, "alias"), OTA_ALIAS_MAX);
    }
    if (desc != NULL && !ota_text_ok(desc, strlen(desc), OTA_DESC_MAX)) {
        return ota_check_fail(c, "invalid %s: at most %d characters, no "
                              "control characters",
                              ota_check_field(c, "desc"), OTA_DESC_MAX);
    }
    return 0;
}


char *
ota_module_json(const char *alias, const char *desc, long long created)
{
    json_t  *j;
    char    *s;

    j = json_pack("{s:s, s:s, s:I}", "alias", alias ? alias : "",
                  "desc", desc ? desc : "", "created", (json_int_t) created);
    if (j == NULL) {
        return NULL;
    }
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}
