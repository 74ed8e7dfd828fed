/*
 * ota_jflat.c: the flat JSON object reader of the device API's request
 * bodies (ota_jflat.h).  Each rule below is the one jansson 2.14 applies
 * (load.c, utf.c), so that what is read here is what json_loadb() with
 * JSON_REJECT_DUPLICATES would have read; t/unit/test_jflat.c compares the
 * two on many inputs.
 */

#include "ota_jflat.h"
#include "ota_jesc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    const char   *p;
    const char   *end;
    char         *out;              /* scratch: next free byte */
    char         *out_end;
    ota_jflat_t  *j;
} ota_jf_cur_t;


static void
ota_jf_ws(ota_jf_cur_t *c)
{
    while (c->p < c->end
           && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n'
               || *c->p == '\r'))
    {
        c->p++;
    }
}


/* a UTF-8 sequence at p (p[0] >= 0x80) as jansson's utf8_check_first and
 * utf8_check_full: its length, or 0 when jansson refuses it */
static size_t
ota_jf_utf8(const unsigned char *p, const unsigned char *end)
{
    size_t        n, i;
    unsigned int  v;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        v = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        v = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        v = p[0] & 0x07;
    } else {
        return 0;                   /* continuation, 0xc0/0xc1, >= 0xf5 */
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
        v = (v << 6) + (p[i] & 0x3f);
    }

    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)
        || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
    {
        return 0;
    }

    return n;
}


static int
ota_jf_hex4(const char *p, unsigned int *v)
{
    int  i;
    char ch;

    *v = 0;
    for (i = 0; i < 4; i++) {
        ch = p[i];
        *v <<= 4;
        if (ch >= '0' && ch <= '9') {
            *v |= (unsigned int) (ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            *v |= (unsigned int) (ch - 'a' + 10);
        } else if (ch >= 'A' && ch <= 'F') {
            *v |= (unsigned int) (ch - 'A' + 10);
        } else {
            return -1;
        }
    }

    return 0;
}


static char *
ota_jf_utf8_put(char *o, unsigned int v)
{
    if (v < 0x80) {
        *o++ = (char) v;
    } else if (v < 0x800) {
        *o++ = (char) (0xc0 | (v >> 6));
        *o++ = (char) (0x80 | (v & 0x3f));
    } else if (v < 0x10000) {
        *o++ = (char) (0xe0 | (v >> 12));
        *o++ = (char) (0x80 | ((v >> 6) & 0x3f));
        *o++ = (char) (0x80 | (v & 0x3f));
    } else {
        *o++ = (char) (0xf0 | (v >> 18));
        *o++ = (char) (0x80 | ((v >> 12) & 0x3f));
        *o++ = (char) (0x80 | ((v >> 6) & 0x3f));
        *o++ = (char) (0x80 | (v & 0x3f));
    }

    return o;
}


/* a string at c->p (on its '"'): *s, *len as unescaped; a string without
 * escapes is a view into the input */
static ota_jf_rc_e
ota_jf_string(ota_jf_cur_t *c, const char **s, size_t *len)
{
    size_t                n;
    unsigned int          v, v2;
    const char           *start, *q;
    char                 *o;
    const unsigned char  *u;

    start = ++c->p;
    q = start;

    /* the first pass: the end, the escapes' shape and the UTF-8 */
    for ( ;; ) {
        if (q >= c->end) {
            return OTA_JF_INVALID;  /* premature end of input */
        }

        u = (const unsigned char *) q;

        if (*u == '"') {
            break;
        }

        if (*u < 0x20) {
            return OTA_JF_INVALID;  /* control character */
        }

        if (*u == '\\') {
            break;                  /* the decoding pass takes it on */
        }

        if (*u >= 0x80) {
            n = ota_jf_utf8(u, (const unsigned char *) c->end);
            if (n == 0) {
                return OTA_JF_INVALID;
            }
            q += n;
            continue;
        }

        q++;
    }

    if (*q == '"') {
        *s = start;
        *len = (size_t) (q - start);
        c->p = q + 1;
        return OTA_JF_OK;
    }

    /* escapes: the plain prefix copied, then decoded into the scratch */
    o = c->out;
    if ((size_t) (c->out_end - o) < (size_t) (c->end - start)) {
        return OTA_JF_UNSUPPORTED;
    }

    memcpy(o, start, (size_t) (q - start));
    o += q - start;

    for ( ;; ) {
        if (q >= c->end) {
            return OTA_JF_INVALID;
        }

        u = (const unsigned char *) q;

        if (*u == '"') {
            break;
        }

        if (*u < 0x20) {
            return OTA_JF_INVALID;
        }

        if (*u >= 0x80) {
            n = ota_jf_utf8(u, (const unsigned char *) c->end);
            if (n == 0) {
                return OTA_JF_INVALID;
            }
            memcpy(o, q, n);
            o += n;
            q += n;
            continue;
        }

        if (*u != '\\') {
            *o++ = *q++;
            continue;
        }

        if (c->end - q < 2) {
            return OTA_JF_INVALID;
        }

        switch (q[1]) {
        case '"':  *o++ = '"';  q += 2; continue;
        case '\\': *o++ = '\\'; q += 2; continue;
        case '/':  *o++ = '/';  q += 2; continue;
        case 'b':  *o++ = '\b'; q += 2; continue;
        case 'f':  *o++ = '\f'; q += 2; continue;
        case 'n':  *o++ = '\n'; q += 2; continue;
        case 'r':  *o++ = '\r'; q += 2; continue;
        case 't':  *o++ = '\t'; q += 2; continue;
        case 'u':  break;
        default:   return OTA_JF_INVALID;      /* invalid escape */
        }

        if (c->end - q < 6 || ota_jf_hex4(q + 2, &v) != 0) {
            return OTA_JF_INVALID;
        }
        q += 6;

        if (v >= 0xd800 && v <= 0xdbff) {
            /* a high surrogate: a low one must follow */
            if (c->end - q < 6 || q[0] != '\\' || q[1] != 'u'
                || ota_jf_hex4(q + 2, &v2) != 0
                || v2 < 0xdc00 || v2 > 0xdfff)
            {
                return OTA_JF_INVALID;
            }
            q += 6;
            v = ((v - 0xd800) << 10) + (v2 - 0xdc00) + 0x10000;

        } else if (v >= 0xdc00 && v <= 0xdfff) {
            return OTA_JF_INVALID;  /* a lone low surrogate */

        } else if (v == 0) {
            return OTA_JF_INVALID;  /* no JSON_ALLOW_NUL */
        }

        o = ota_jf_utf8_put(o, v);
    }

    *s = c->out;
    *len = (size_t) (o - c->out);
    c->out = o;
    c->p = q + 1;

    return OTA_JF_OK;
}


/* a number at c->p, as jansson's lex_scan_number */
static ota_jf_rc_e
ota_jf_number(ota_jf_cur_t *c, ota_jf_member_t *m)
{
    int                  neg, real;
    size_t               n;
    const char          *start, *q;
    unsigned long long   v, lim;
    char                 buf[OTA_JF_NUM_MAX + 1];

    start = c->p;
    q = c->p;
    neg = 0;
    real = 0;

    if (q < c->end && *q == '-') {
        neg = 1;
        q++;
    }

    if (q >= c->end) {
        return OTA_JF_INVALID;
    }

    if (*q == '0') {
        q++;
        if (q < c->end && *q >= '0' && *q <= '9') {
            return OTA_JF_INVALID;
        }

    } else if (*q >= '1' && *q <= '9') {
        while (q < c->end && *q >= '0' && *q <= '9') {
            q++;
        }

    } else {
        return OTA_JF_INVALID;
    }

    if (q < c->end && *q == '.') {
        real = 1;
        q++;
        if (q >= c->end || *q < '0' || *q > '9') {
            return OTA_JF_INVALID;
        }
        while (q < c->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }

    if (q < c->end && (*q == 'e' || *q == 'E')) {
        real = 1;
        q++;
        if (q < c->end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= c->end || *q < '0' || *q > '9') {
            return OTA_JF_INVALID;
        }
        while (q < c->end && *q >= '0' && *q <= '9') {
            q++;
        }
    }

    c->p = q;

    if (!real) {
        /* long long, refused past its range as jansson's strtoll does */
        lim = neg ? (unsigned long long) 9223372036854775807LL + 1
                  : (unsigned long long) 9223372036854775807LL;
        v = 0;
        for (q = start + neg; q < c->p; q++) {
            if (v > (lim - (unsigned long long) (*q - '0')) / 10) {
                return OTA_JF_INVALID;      /* too big (negative) integer */
            }
            v = v * 10 + (unsigned long long) (*q - '0');
        }

        m->type = OTA_JF_INT;
        m->i = neg ? (v == lim ? (-9223372036854775807LL - 1)
                               : -(long long) v)
                   : (long long) v;
        return OTA_JF_OK;
    }

    n = (size_t) (c->p - start);
    if (n > OTA_JF_NUM_MAX) {
        return OTA_JF_UNSUPPORTED;
    }

    memcpy(buf, start, n);
    buf[n] = '\0';

    errno = 0;
    m->d = strtod(buf, NULL);
    if ((m->d == HUGE_VAL || m->d == -HUGE_VAL) && errno == ERANGE) {
        return OTA_JF_INVALID;              /* real number overflow */
    }

    m->type = OTA_JF_REAL;
    return OTA_JF_OK;
}


static ota_jf_rc_e
ota_jf_word(ota_jf_cur_t *c, const char *w, size_t n)
{
    if ((size_t) (c->end - c->p) < n || memcmp(c->p, w, n) != 0) {
        return OTA_JF_INVALID;
    }

    c->p += n;

    /* jansson reads a run of letters as one word: "truex" is no "true" */
    if (c->p < c->end
        && ((*c->p >= 'a' && *c->p <= 'z') || (*c->p >= 'A' && *c->p <= 'Z')))
    {
        return OTA_JF_INVALID;
    }

    return OTA_JF_OK;
}


/* an object at c->p (on its '{'); parent: its member's index, -1 for the
 * top one */
static ota_jf_rc_e
ota_jf_object(ota_jf_cur_t *c, int parent)
{
    int               k;
    ota_jf_rc_e       rc;
    ota_jflat_t      *j = c->j;
    ota_jf_member_t  *m;

    c->p++;
    ota_jf_ws(c);

    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return OTA_JF_OK;
    }

    for ( ;; ) {
        if (c->p >= c->end || *c->p != '"') {
            return OTA_JF_INVALID;          /* string or '}' expected */
        }

        if (j->n == OTA_JF_MAX) {
            return OTA_JF_UNSUPPORTED;
        }

        m = &j->m[j->n];
        memset(m, 0, sizeof(ota_jf_member_t));
        m->parent = parent;

        rc = ota_jf_string(c, &m->key, &m->key_len);
        if (rc != OTA_JF_OK) {
            return rc;
        }

        /* JSON_REJECT_DUPLICATES (a NUL cannot be in a key: \u0000 is
         * refused) */
        for (k = 0; k < j->n; k++) {
            if (j->m[k].parent == parent && j->m[k].key_len == m->key_len
                && memcmp(j->m[k].key, m->key, m->key_len) == 0)
            {
                return OTA_JF_INVALID;
            }
        }

        j->n++;

        ota_jf_ws(c);
        if (c->p >= c->end || *c->p != ':') {
            return OTA_JF_INVALID;
        }
        c->p++;
        ota_jf_ws(c);

        if (c->p >= c->end) {
            return OTA_JF_INVALID;
        }

        switch (*c->p) {
        case '"':
            m->type = OTA_JF_STRING;
            rc = ota_jf_string(c, &m->str, &m->len);
            break;
        case '{':
            if (parent != -1) {
                return OTA_JF_UNSUPPORTED;  /* deeper than one level */
            }
            m->type = OTA_JF_OBJECT;
            rc = ota_jf_object(c, ota_jflat_index(j, m));
            break;
        case '[':
            return OTA_JF_UNSUPPORTED;
        case 't':
            m->type = OTA_JF_TRUE;
            rc = ota_jf_word(c, "true", 4);
            break;
        case 'f':
            m->type = OTA_JF_FALSE;
            rc = ota_jf_word(c, "false", 5);
            break;
        case 'n':
            m->type = OTA_JF_NULL;
            rc = ota_jf_word(c, "null", 4);
            break;
        default:
            rc = ota_jf_number(c, m);
            break;
        }

        if (rc != OTA_JF_OK) {
            return rc;
        }

        ota_jf_ws(c);
        if (c->p >= c->end) {
            return OTA_JF_INVALID;
        }

        if (*c->p == '}') {
            c->p++;
            return OTA_JF_OK;
        }

        if (*c->p != ',') {
            return OTA_JF_INVALID;
        }

        c->p++;
        ota_jf_ws(c);
    }
}


ota_jf_rc_e
ota_jflat_parse(ota_jflat_t *j, const char *in, size_t len, char *scratch,
    size_t scratch_size)
{
    ota_jf_rc_e   rc;
    ota_jf_cur_t  c;

    j->n = 0;

    /* jansson drops a NUL byte that follows a number or a word (its
     * lexer's look-ahead slot reads NUL as empty): whatever jansson makes
     * of a NUL, it is jansson's to say */
    if (memchr(in, '\0', len) != NULL) {
        return OTA_JF_UNSUPPORTED;
    }

    c.p = in;
    c.end = in + len;
    c.out = scratch;
    c.out_end = scratch + scratch_size;
    c.j = j;

    ota_jf_ws(&c);

    if (c.p >= c.end) {
        return OTA_JF_INVALID;
    }

    if (*c.p != '{') {
        /* an array is JSON too: not for this reader */
        return *c.p == '[' ? OTA_JF_UNSUPPORTED : OTA_JF_INVALID;
    }

    rc = ota_jf_object(&c, -1);
    if (rc != OTA_JF_OK) {
        return rc;
    }

    ota_jf_ws(&c);

    return c.p == c.end ? OTA_JF_OK : OTA_JF_INVALID;  /* end expected */
}


const ota_jf_member_t *
ota_jflat_get(const ota_jflat_t *j, int parent, const char *name)
{
    int     k;
    size_t  n;

    n = strlen(name);

    for (k = 0; k < j->n; k++) {
        if (j->m[k].parent == parent && j->m[k].key_len == n
            && memcmp(j->m[k].key, name, n) == 0)
        {
            return &j->m[k];
        }
    }

    return NULL;
}


size_t
ota_jflat_quoted_len(const char *s, size_t len)
{
    size_t  n;

    n = ota_json_esc_len(s, len);

    /* not UTF-8 (a reader's strings always are): room for the worst case,
     * every byte as \u00XX, which ota_json_esc never exceeds */
    return n == (size_t) -1 ? 6 * len + 2 : n + 2;
}


char *
ota_jflat_quote(char *out, const char *s, size_t len)
{
    *out++ = '"';
    out = ota_json_esc(out, s, len);
    *out++ = '"';

    return out;
}
