/* ota_multipart.c: streaming multipart/form-data parser (ota_multipart.h) */

#include "ota_multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    OTA_MPS_BODY = 0,               /* looking for the delimiter */
    OTA_MPS_DELIM,                  /* right after a delimiter */
    OTA_MPS_DASH,                   /* "--" half seen: the close */
    OTA_MPS_PAD,                    /* transport padding before CRLF */
    OTA_MPS_LF,                     /* CR seen, LF expected */
    OTA_MPS_HEADERS,                /* a part's header block */
    OTA_MPS_EPILOGUE                /* after the close: ignored */
};


static int
ota_mp_fail(ota_mp_t *mp, const char *why)
{
    snprintf(mp->err, sizeof(mp->err), "%s", why);
    return OTA_MP_ERROR;
}


static int
ota_mp_bchar(unsigned char c)
{
    /* RFC 2046 bchars, space allowed but not last */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=? ", c) != NULL;
}


int
ota_mp_boundary(const char *ct, size_t len, char *out)
{
    static const char  type[] = "multipart/form-data";
    const char        *p, *end = ct + len, *v, *ve;
    size_t             l;

    if (len < sizeof(type) - 1 || strncasecmp(ct, type, sizeof(type) - 1))
    {
        return -1;
    }
    p = ct + sizeof(type) - 1;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < end && *p != ';') {
            return -1;
        }
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) {
            p++;
        }
        if ((size_t) (end - p) > 9 && strncasecmp(p, "boundary=", 9) == 0) {
            v = p + 9;
            if (v < end && *v == '"') {
                v++;
                for (ve = v; ve < end && *ve != '"'; ve++) {
                    /* void */
                }
                if (ve == end) {
                    return -1;
                }
                p = ve + 1;
            } else {
                for (ve = v; ve < end && *ve != ';' && *ve != ' '
                             && *ve != '\t'; ve++)
                {
                    /* void */
                }
                p = ve;
            }
            l = (size_t) (ve - v);
            if (l == 0 || l > OTA_MP_BOUNDARY_MAX || v[l - 1] == ' ') {
                return -1;
            }
            for (size_t i = 0; i < l; i++) {
                if (!ota_mp_bchar((unsigned char) v[i])) {
                    return -1;
                }
            }
            memcpy(out, v, l);
            out[l] = '\0';
            return 0;
        }
        /* another parameter: skip it */
        while (p < end && *p != ';') {
            if (*p == '"') {
                for (p++; p < end && *p != '"'; p++) {
                    if (*p == '\\' && p + 1 < end) {
                        p++;
                    }
                }
            }
            if (p < end) {
                p++;
            }
        }
    }
    return -1;
}


int
ota_mp_init(ota_mp_t *mp, const char *boundary, ota_mp_begin_pt begin,
    ota_mp_data_pt data, ota_mp_end_pt end, void *ctx)
{
    size_t  l = strlen(boundary);

    memset(mp, 0, sizeof(*mp));
    if (l == 0 || l > OTA_MP_BOUNDARY_MAX) {
        return -1;
    }
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, l);
    mp->dlen = 4 + l;
    mp->begin = begin;
    mp->data = data;
    mp->end = end;
    mp->ctx = ctx;
    mp->state = OTA_MPS_BODY;
    /* the first delimiter may open the body without a CRLF before it */
    mp->match = 2;
    return 0;
}


/* a parameter value of Content-Disposition (quoted-string or token) into
 * out; returns where the parameter ends */
static const char *
ota_mp_param(const char *p, const char *end, char *out, size_t max,
    size_t *olen)
{
    size_t  n = 0;

    if (p < end && *p == '"') {
        /* no backslash escapes: browsers send a '"' as %22 and a Windows
         * path's backslashes as they are (RFC 7578 4.2, HTML's form
         * encoding) */
        for (p++; p < end && *p != '"'; p++) {
            if (n < max) {
                out[n++] = *p;
            }
        }
        if (p < end) {
            p++;
        }
    } else {
        for (; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++) {
            if (n < max) {
                out[n++] = *p;
            }
        }
    }
    out[n] = '\0';
    *olen = n;
    return p;
}


/* Content-Disposition: form-data; name="x"; filename="y" */
static int
ota_mp_disposition(ota_mp_t *mp, const char *p, const char *end,
    ota_mp_part_t *part)
{
    const char  *k, *slash;
    size_t       kl, l;
    char         junk[64];

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if ((size_t) (end - p) < 9 || strncasecmp(p, "form-data", 9) != 0) {
        return ota_mp_fail(mp, "a part is not form-data");
    }
    p += 9;
    for ( ;; ) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) {
            p++;
        }
        if (p >= end) {
            break;
        }
        for (k = p; p < end && *p != '=' && *p != ';'; p++) {
            /* void */
        }
        kl = (size_t) (p - k);
        while (kl > 0 && (k[kl - 1] == ' ' || k[kl - 1] == '\t')) {
            kl--;
        }
        if (p >= end || *p != '=') {
            continue;           /* a parameter without a value */
        }
        p++;
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (kl == 4 && strncasecmp(k, "name", 4) == 0) {
            p = ota_mp_param(p, end, mp->name, OTA_MP_NAME_MAX, &l);
            part->name_len = l;
        } else if (kl == 8 && strncasecmp(k, "filename", 8) == 0) {
            p = ota_mp_param(p, end, mp->filename, OTA_MP_FILENAME_MAX, &l);
            part->has_filename = 1;
            /* a browser may send a path: the file's own name is the last
             * component */
            slash = NULL;
            for (const char *s = mp->filename; *s; s++) {
                if (*s == '/' || *s == '\\') {
                    slash = s;
                }
            }
            if (slash != NULL) {
                l = strlen(slash + 1);
                memmove(mp->filename, slash + 1, l + 1);
            }
            part->filename_len = l;
        } else {
            p = ota_mp_param(p, end, junk, sizeof(junk) - 1, &l);
        }
    }
    return OTA_MP_OK;
}


/* the header block of a part (ends with an empty line), then begin() */
static int
ota_mp_headers(ota_mp_t *mp)
{
    ota_mp_part_t  part;
    const char    *p = mp->hdr, *end = mp->hdr + mp->hlen, *eol, *v;
    size_t         l;
    int            disposition = 0, rc;

    memset(&part, 0, sizeof(part));
    mp->name[0] = mp->filename[0] = mp->type[0] = '\0';

    for (; p < end; p = eol + 2) {
        eol = p;
        while (eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n')) {
            eol++;
        }
        if (eol + 1 >= end) {
            break;
        }
        if (eol == p) {
            break;                      /* the empty line */
        }
        v = memchr(p, ':', (size_t) (eol - p));
        if (v == NULL) {
            return ota_mp_fail(mp, "a part header without a colon");
        }
        l = (size_t) (v - p);
        for (v++; v < eol && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }
        if (l == 19 && strncasecmp(p, "Content-Disposition", 19) == 0) {
            if (ota_mp_disposition(mp, v, eol, &part) != OTA_MP_OK) {
                return OTA_MP_ERROR;
            }
            disposition = 1;
        } else if (l == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
            l = (size_t) (eol - v);
            l = l > OTA_MP_TYPE_MAX ? OTA_MP_TYPE_MAX : l;
            memcpy(mp->type, v, l);
            mp->type[l] = '\0';
        }
    }
    if (!disposition || mp->name[0] == '\0') {
        return ota_mp_fail(mp, "a part without Content-Disposition: "
                           "form-data; name=\"...\"");
    }
    part.name = mp->name;
    part.filename = mp->filename;
    part.content_type = mp->type;
    mp->in_part = 1;
    mp->parts++;
    rc = mp->begin ? mp->begin(mp->ctx, &part) : OTA_MP_OK;
    return (rc == OTA_MP_OK || rc == OTA_MP_PAUSE) ? rc : OTA_MP_ABORT;
}


static int
ota_mp_emit(ota_mp_t *mp, const char *p, size_t n)
{
    if (n == 0 || !mp->in_part || mp->data == NULL) {
        return 0;                       /* the preamble is nobody's */
    }
    return mp->data(mp->ctx, p, n);
}


static int
ota_mp_close_part(ota_mp_t *mp)
{
    if (!mp->in_part) {
        return 0;
    }
    mp->in_part = 0;
    return mp->end ? mp->end(mp->ctx) : 0;
}


int
ota_mp_parse(ota_mp_t *mp, const char *data, size_t len, size_t *used)
{
    const char  *p = data, *end = data + len, *q;
    int          rc;

#define OTA_MP_CB(call)                                                      \
    if ((call) != 0) { *used = (size_t) (p - data); return OTA_MP_ABORT; }

    while (p < end) {
        switch (mp->state) {

        case OTA_MPS_BODY:
            if (mp->match == 0) {
                q = memchr(p, '\r', (size_t) (end - p));
                if (q == NULL) {
                    OTA_MP_CB(ota_mp_emit(mp, p, (size_t) (end - p)));
                    p = end;
                    break;
                }
                OTA_MP_CB(ota_mp_emit(mp, p, (size_t) (q - p)));
                p = q + 1;
                mp->match = 1;
                break;
            }
            if (*p == mp->delim[mp->match]) {
                p++;
                if (++mp->match == mp->dlen) {
                    mp->match = 0;
                    mp->state = OTA_MPS_DELIM;
                }
                break;
            }
            /* no delimiter: what matched was content (the boundary has no
             * CR, so no later match can start inside it) */
            OTA_MP_CB(ota_mp_emit(mp, mp->delim, mp->match));
            mp->match = 0;
            break;

        case OTA_MPS_DELIM:
            if (*p == '-') {
                mp->state = OTA_MPS_DASH;
            } else if (*p == ' ' || *p == '\t') {
                mp->state = OTA_MPS_PAD;
            } else if (*p == '\r') {
                mp->state = OTA_MPS_LF;
            } else {
                *used = (size_t) (p - data);
                return ota_mp_fail(mp, "the boundary appears inside a part");
            }
            p++;
            break;

        case OTA_MPS_DASH:
            if (*p != '-') {
                *used = (size_t) (p - data);
                return ota_mp_fail(mp, "malformed closing boundary");
            }
            p++;
            OTA_MP_CB(ota_mp_close_part(mp));
            mp->state = OTA_MPS_EPILOGUE;
            break;

        case OTA_MPS_PAD:
            if (*p == '\r') {
                mp->state = OTA_MPS_LF;
            } else if (*p != ' ' && *p != '\t') {
                *used = (size_t) (p - data);
                return ota_mp_fail(mp, "malformed boundary line");
            }
            p++;
            break;

        case OTA_MPS_LF:
            if (*p != '\n') {
                *used = (size_t) (p - data);
                return ota_mp_fail(mp, "malformed boundary line");
            }
            p++;
            OTA_MP_CB(ota_mp_close_part(mp));
            mp->state = OTA_MPS_HEADERS;
            mp->hlen = 0;
            break;

        case OTA_MPS_HEADERS:
            /* byte by byte: header blocks are small */
            if (mp->hlen == sizeof(mp->hdr)) {
                *used = (size_t) (p - data);
                return ota_mp_fail(mp, "a part's headers are too long");
            }
            mp->hdr[mp->hlen++] = *p++;
            if ((mp->hlen == 2 && memcmp(mp->hdr, "\r\n", 2) == 0)
                || (mp->hlen >= 4
                    && memcmp(mp->hdr + mp->hlen - 4, "\r\n\r\n", 4) == 0))
            {
                rc = ota_mp_headers(mp);
                mp->state = OTA_MPS_BODY;
                mp->match = 0;
                if (rc == OTA_MP_ERROR) {
                    *used = (size_t) (p - data);
                    return OTA_MP_ERROR;
                }
                if (rc != OTA_MP_OK) {
                    *used = (size_t) (p - data);
                    return rc;          /* OTA_MP_PAUSE or OTA_MP_ABORT */
                }
            }
            break;

        default:                        /* OTA_MPS_EPILOGUE */
            p = end;
            break;
        }
    }

#undef OTA_MP_CB

    *used = len;
    return OTA_MP_OK;
}


int
ota_mp_finish(ota_mp_t *mp)
{
    if (mp->state != OTA_MPS_EPILOGUE) {
        return ota_mp_fail(mp, mp->parts ? "the body ends before the closing "
                                           "boundary"
                                         : "no part in the body");
    }
    return OTA_MP_OK;
}
