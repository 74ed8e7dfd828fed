/*
 * ota_jesc.c: JSON string escaping as jansson's json_dumps does it (no
 * JSON_ESCAPE_SLASH, no JSON_ENSURE_ASCII), with its UTF-8 check: the
 * upgrade answer's text form (ota_offer_text.c) and the quoted report id
 * (ota_jflat_quote) are written without jansson, byte for byte as it would.
 */

#include "ota_jesc.h"

#include <stdint.h>


/* one UTF-8 sequence at s as jansson's utf8_iterate() takes it: its
 * length (0: not UTF-8) and its code point */
static size_t
ota_utf8_next(const unsigned char *s, size_t len, int32_t *cp)
{
    size_t         n, i;
    int32_t        v;
    unsigned char  u;

    u = s[0];

    if (u < 0x80) {
        *cp = u;
        return 1;
    }

    if (u < 0xC2) {
        return 0;                   /* continuation or overlong */
    } else if (u <= 0xDF) {
        n = 2;
        v = u & 0x1F;
    } else if (u <= 0xEF) {
        n = 3;
        v = u & 0x0F;
    } else if (u <= 0xF4) {
        n = 4;
        v = u & 0x07;
    } else {
        return 0;
    }

    if (n > len) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }

    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)
        || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
    {
        return 0;
    }

    *cp = v;
    return n;
}


size_t
ota_json_esc_len(const char *s, size_t len)
{
    size_t               n, i, k;
    int32_t              cp;
    const unsigned char  *p = (const unsigned char *) s;

    n = 0;

    for (i = 0; i < len; i += k) {
        if (p[i] >= 0x20 && p[i] < 0x80) {
            k = 1;
            n += (p[i] == '"' || p[i] == '\\') ? 2 : 1;
            continue;
        }

        k = ota_utf8_next(p + i, len - i, &cp);
        if (k == 0) {
            return (size_t) -1;
        }

        if (cp >= 0x20) {
            n += k;
        } else if (cp == '\b' || cp == '\f' || cp == '\n' || cp == '\r'
                   || cp == '\t')
        {
            n += 2;
        } else {
            n += 6;                 /* \u00XX */
        }
    }

    return n;
}


char *
ota_json_esc(char *out, const char *s, size_t len)
{
    size_t               i, k;
    int32_t              cp;
    const unsigned char  *p = (const unsigned char *) s;
    static const char    hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i += k) {
        if (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\') {
            /* a valid sequence (checked) is copied byte by byte */
            k = 1;
            *out++ = (char) p[i];
            continue;
        }

        k = 1;
        cp = p[i];

        switch (cp) {
        case '"':  *out++ = '\\'; *out++ = '"'; break;
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\b': *out++ = '\\'; *out++ = 'b'; break;
        case '\f': *out++ = '\\'; *out++ = 'f'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        default:
            *out++ = '\\';
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[(cp >> 4) & 0xF];
            *out++ = hex[cp & 0xF];
        }
    }

    return out;
}
