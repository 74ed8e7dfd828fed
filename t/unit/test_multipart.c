/* unit tests: the streaming multipart/form-data parser (include/ota_multipart):
 * the same parts whatever the pieces the body comes in, boundaries inside
 * content that only look alike, truncated and malformed bodies, pausing */

#include <stdlib.h>

#include "tap.h"
#include "ota_multipart.h"

typedef struct {
    char    log[65536];         /* "B<name>|<file>|<type>;D<bytes>;E;" */
    size_t  n;
    int     pause_on;           /* begin of this part (1-based) pauses */
    int     abort_on;
    int     parts;
    int     in_data;
} rec_t;

static void
rec(rec_t *r, const char *s, size_t n)
{
    if (r->n + n < sizeof(r->log)) {
        memcpy(r->log + r->n, s, n);
        r->n += n;
        r->log[r->n] = '\0';
    }
}

static int
on_begin(void *ctx, const ota_mp_part_t *p)
{
    rec_t  *r = ctx;
    char    b[2048];

    snprintf(b, sizeof(b), "B%s|%s%s|%s;", p->name,
             p->has_filename ? "@" : "", p->filename, p->content_type);
    rec(r, b, strlen(b));
    r->in_data = 0;
    r->parts++;
    if (r->parts == r->abort_on) {
        return -1;
    }
    return r->parts == r->pause_on ? OTA_MP_PAUSE : 0;
}

static int
on_data(void *ctx, const char *d, size_t n)
{
    rec_t  *r = ctx;

    /* pieces of one content are joined: the log does not depend on how
     * the body was cut */
    if (r->in_data) {
        r->n--;
    } else {
        rec(r, "D", 1);
    }
    rec(r, d, n);
    rec(r, ";", 1);
    r->in_data = 1;
    return 0;
}

static int
on_end(void *ctx)
{
    rec((rec_t *) ctx, "E;", 2);
    ((rec_t *) ctx)->in_data = 0;
    return 0;
}

/* parses body in pieces of step bytes (0: at once); returns the final rc */
static int
run(const char *boundary, const char *body, size_t len, size_t step,
    rec_t *r, char *out)
{
    ota_mp_t   *mp = malloc(sizeof(ota_mp_t));
    size_t      off = 0, n, used;
    int         rc = OTA_MP_OK;

    memset(r, 0, sizeof(*r));
    r->log[0] = ';';
    r->n = 1;
    ota_mp_init(mp, boundary, on_begin, on_data, on_end, r);
    while (off < len) {
        n = step && len - off > step ? step : len - off;
        rc = ota_mp_parse(mp, body + off, n, &used);
        off += used;
        if (rc == OTA_MP_PAUSE) {
            continue;
        }
        if (rc != OTA_MP_OK) {
            break;
        }
    }
    if (rc == OTA_MP_OK || rc == OTA_MP_PAUSE) {
        rc = ota_mp_finish(mp);
    }
    strcpy(out, r->log);
    if (rc == OTA_MP_ERROR) {
        strcat(out, "!");
        strcat(out, mp->err);
    }
    free(mp);
    return rc;
}

int
main(void)
{
    static rec_t  r;
    static char   out[70000], first[70000];
    char          bnd[OTA_MP_BOUNDARY_MAX + 1];
    const char   *b;
    size_t        step;
    int           rc, same;

    /* the boundary from a Content-Type */
    ok(ota_mp_boundary("multipart/form-data; boundary=abc", 33, bnd) == 0
       && strcmp(bnd, "abc") == 0, "boundary from the header");
    b = "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"";
    ok(ota_mp_boundary(b, strlen(b), bnd) == 0 && strcmp(bnd, "a b:c") == 0,
       "quoted boundary after another parameter, type in any case");
    b = "multipart/form-data;boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
    ok(ota_mp_boundary(b, strlen(b), bnd) == 0
       && strcmp(bnd, "----WebKitFormBoundary7MA4YWxkTrZu0gW") == 0,
       "a browser's boundary");
    ok(ota_mp_boundary("multipart/mixed; boundary=x", 27, bnd) == -1,
       "another multipart type is refused");
    ok(ota_mp_boundary("multipart/form-data", 19, bnd) == -1,
       "no boundary is refused");
    b = "multipart/form-data; boundary=";
    ok(ota_mp_boundary(b, strlen(b), bnd) == -1, "empty boundary refused");
    b = "multipart/form-data; boundary=\"a\rb\"";
    ok(ota_mp_boundary(b, strlen(b), bnd) == -1, "CR in a boundary refused");
    b = "multipart/form-data; boundary=0123456789012345678901234567890123456"
        "7890123456789012345678901234567890";
    ok(ota_mp_boundary(b, strlen(b), bnd) == -1, "71 characters refused");

    /* a form as curl -F sends it; every way of cutting it in pieces parses
     * the same parts */
    static const char form[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"product\"\r\n\r\n"
        "thermo\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"ext\"\r\n\r\n"
        "region=eu\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; "
        "filename=\"fw.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
        "\r\n--XyQ\r\r\n-\r\n--X\r\n--Xy is not it\r--"
        "\r\n--XyZ\r\n"
        "content-disposition: form-data; filename=\"C:\\dir\\two.pack\"; "
        "name=\"file\"\r\n\r\n"
        "\r\n"
        "\r\n--XyZ--\r\nepilogue \r\n--XyZ\r\n";
    size_t  flen = sizeof(form) - 1;

    rc = run("XyZ", form, flen, 0, &r, first);
    is_int(rc, OTA_MP_OK, "a form parses");
    is_str(first, ";Bproduct||;Dthermo;E;Bext||;Dregion=eu;E;"
                  "Bfile|@fw.bin|application/octet-stream;"
                  "D\r\n--XyQ\r\r\n-\r\n--X\r\n--Xy is not it\r--;E;"
                  "Bfile|@two.pack|;D\r\n;E;",
           "its parts, contents that look like the boundary kept, a "
           "browser's path cut to the file name, the epilogue ignored");
    same = 1;
    for (step = 1; step < flen; step++) {
        run("XyZ", form, flen, step, &r, out);
        if (strcmp(out, first) != 0) {
            same = 0;
            diag_fail:
            printf("# step %zu: %s\n", step, out);
            break;
        }
    }
    ok(same, "the same parts for pieces of every size from 1 byte");
    if (0) {
        goto diag_fail;
    }

    /* a preamble before the first delimiter, transport padding */
    static const char pre[] =
        "this is a preamble\r\n--b  \t\r\n"
        "Content-Disposition: form-data; name=a\r\n\r\n1\r\n--b--";
    rc = run("b", pre, sizeof(pre) - 1, 0, &r, out);
    ok(rc == OTA_MP_OK && strcmp(out, ";Ba||;D1;E;") == 0,
       "preamble, padding, unquoted name, no CRLF after the close") ;

    /* truncated: no closing delimiter, or cut inside a part */
    rc = run("XyZ", form, 120, 0, &r, out);
    ok(rc == OTA_MP_ERROR && strstr(out, "ends before the closing"),
       "a body cut short is refused") ;
    rc = run("XyZ", "", 0, 0, &r, out);
    ok(rc == OTA_MP_ERROR && strstr(out, "no part"), "an empty body");
    rc = run("XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n",
             52, 0, &r, out);
    ok(rc == OTA_MP_ERROR, "cut inside the headers");

    /* malformed */
    static const char *badv[] = {
        "--XyZ\r\nContent-Type: x\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n"
        "--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nno colon here\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZx",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ-x",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ \r",
    };
    for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++) {
        rc = run("XyZ", badv[i], strlen(badv[i]), 0, &r, out);
        ok(rc == OTA_MP_ERROR, "malformed %zu refused (%s)", i,
           strchr(out, '!') ? strchr(out, '!') + 1 : out);
    }
    {
        static char big[OTA_MP_HEADER_MAX + 100];

        strcpy(big, "--b\r\nContent-Disposition: form-data; name=a\r\nX: ");
        memset(big + strlen(big), 'x', OTA_MP_HEADER_MAX);
        rc = run("b", big, strlen(big), 0, &r, out);
        ok(rc == OTA_MP_ERROR && strstr(out, "too long"),
           "a part's headers over the limit");
    }

    /* a callback pauses after a part's headers: the rest is fed later */
    {
        ota_mp_t   *mp = malloc(sizeof(ota_mp_t));
        size_t      used;

        memset(&r, 0, sizeof(r));
        r.log[0] = ';';
        r.n = 1;
        r.pause_on = 3;
        ota_mp_init(mp, "XyZ", on_begin, on_data, on_end, &r);
        rc = ota_mp_parse(mp, form, flen, &used);
        ok(rc == OTA_MP_PAUSE && used < flen
           && memcmp(form + used, "\r\n--XyQ", 7) == 0,
           "paused right after the headers of the first file");
        rc = ota_mp_parse(mp, form + used, flen - used, &used);
        ok(rc == OTA_MP_OK && ota_mp_finish(mp) == OTA_MP_OK,
           "and goes on from there");
        is_str(r.log, first, "with the same parts");

        memset(&r, 0, sizeof(r));
        r.log[0] = ';';
        r.n = 1;
        r.abort_on = 2;
        ota_mp_init(mp, "XyZ", on_begin, on_data, on_end, &r);
        rc = ota_mp_parse(mp, form, flen, &used);
        ok(rc == OTA_MP_ABORT && r.parts == 2, "a callback stops the parse");
        free(mp);
    }

    return done_testing();
}
