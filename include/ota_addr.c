/* ota_addr.c: Redis addresses (ota_addr.h) */

#include "ota_addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


void
ota_addr_init(ota_addr_t *a)
{
    memset(a, 0, sizeof(*a));
}


static int
ota_addr_fail(char *err, size_t errlen, const char *fmt, const char *w,
    size_t len)
{
    snprintf(err, errlen, fmt, (int) len, w);
    return -1;
}


/* a word's value into a field of its own size */
static int
ota_addr_copy(char *dst, size_t size, const char *v, size_t vl,
    const char *what, char *err, size_t errlen)
{
    if (vl >= size) {
        snprintf(err, errlen, "%s too long", what);
        return -1;
    }
    memcpy(dst, v, vl);
    dst[vl] = '\0';
    return 0;
}


/* "HOST:PORT" or "[IPv6]:PORT"; -1 when it is not one, -2 for a bad
 * port */
static int
ota_hostport(const char *s, size_t len, ota_hostport_t *hp)
{
    const char  *colon, *h = s;
    size_t       hl, i;
    long         port = 0;

    if (len == 0) {
        return -1;
    }
    colon = NULL;
    for (i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    }
    if (colon == NULL || colon == s || colon + 1 == s + len) {
        return -1;
    }
    for (i = (size_t) (colon + 1 - s); i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || port > 65535) {
            return -2;
        }
        port = port * 10 + (s[i] - '0');
    }
    if (port < 1 || port > 65535) {
        return -2;
    }
    hl = (size_t) (colon - s);
    if (s[0] == '[') {
        if (hl < 3 || s[hl - 1] != ']') {
            return -1;
        }
        h = s + 1;
        hl -= 2;
    } else if (memchr(s, ':', hl) != NULL) {
        return -1;                      /* IPv6 without brackets */
    }
    if (hl >= sizeof(hp->host) || memchr(h, ' ', hl) != NULL) {
        return -1;
    }
    memcpy(hp->host, h, hl);
    hp->host[hl] = '\0';
    hp->port = (int) port;
    return 0;
}


/* "A,B,..." into the sentinel list */
static int
ota_addr_sentinels(ota_addr_t *a, const char *s, size_t len, char *err,
    size_t errlen)
{
    const char  *p = s, *end = s + len, *comma;

    if (a->nsentinels > 0) {
        snprintf(err, errlen, "\"sentinel=\" given twice");
        return -1;
    }
    if (len == 0) {
        snprintf(err, errlen, "empty sentinel list (want "
                 "sentinel=IP:PORT[,IP:PORT...] master=NAME)");
        return -1;
    }
    while (p <= end) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }
        if (a->nsentinels == OTA_ADDR_SENTINELS_MAX) {
            snprintf(err, errlen, "more than %d sentinels",
                     OTA_ADDR_SENTINELS_MAX);
            return -1;
        }
        if (ota_hostport(p, (size_t) (comma - p),
                         &a->sentinel[a->nsentinels]) < 0)
        {
            return ota_addr_fail(err, errlen, "invalid sentinel \"%.*s\" "
                                 "(want IP:PORT)", p, (size_t) (comma - p));
        }
        a->nsentinels++;
        p = comma + 1;
    }
    return 0;
}


int
ota_addr_word(ota_addr_t *a, const char *w, size_t len, char *err,
    size_t errlen)
{
    const char  *v, *slash;
    size_t       vl, i;
    long         db = 0;
    int          rc;

#define ota_is(word)  (len > sizeof(word) - 1                                \
                       && strncmp(w, word, sizeof(word) - 1) == 0           \
                       && (v = w + sizeof(word) - 1,                        \
                           vl = len - (sizeof(word) - 1), 1))

    if (ota_is("password=")) {
        return ota_addr_copy(a->password, sizeof(a->password), v, vl,
                             "Redis password", err, errlen);
    }
    if (ota_is("db=")) {
        for (i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9' || db > 100000) {
                return ota_addr_fail(err, errlen, "invalid \"db\" value "
                                     "\"%.*s\"", w, len);
            }
            db = db * 10 + (v[i] - '0');
        }
        a->db = (int) db;
        return 0;
    }
    if (ota_is("master=")) {
        return ota_addr_copy(a->master, sizeof(a->master), v, vl,
                             "Sentinel master name", err, errlen);
    }
    if (len >= 9 && strncmp(w, "sentinel=", 9) == 0) {
        v = w + 9;
        vl = len - 9;
        /* the earlier form, sentinel=A,B/NAME: read for one release */
        slash = memchr(v, '/', vl);
        if (slash != NULL) {
            size_t  ml = vl - (size_t) (slash + 1 - v);

            if (ml == 0 || ml >= sizeof(a->master) || a->master[0]) {
                return ota_addr_fail(err, errlen, "invalid Sentinel address "
                                     "\"%.*s\" (want sentinel=IP:PORT"
                                     "[,IP:PORT...] master=NAME)", w, len);
            }
            if (ota_addr_sentinels(a, v, (size_t) (slash - v), err, errlen)
                != 0)
            {
                return -1;
            }
            memcpy(a->master, slash + 1, ml);
            a->master[ml] = '\0';
            a->old_form = 1;
        } else if (ota_addr_sentinels(a, v, vl, err, errlen) != 0) {
            return -1;
        }
        a->have_addr = 1;
        return 0;
    }
    if (memchr(w, '=', len) != NULL) {
        return 1;                       /* not ours */
    }

#undef ota_is

    if (a->have_addr) {
        return ota_addr_fail(err, errlen, "a second Redis address \"%.*s\"",
                             w, len);
    }
    if (len >= 5 && strncmp(w, "unix:", 5) == 0) {
        if (len == 5 || len - 5 >= sizeof(a->path)) {
            return ota_addr_fail(err, errlen, "invalid Redis socket \"%.*s\"",
                                 w, len);
        }
        memcpy(a->path, w + 5, len - 5);
        a->path[len - 5] = '\0';
        a->have_addr = 1;
        return 0;
    }
    rc = ota_hostport(w, len, &a->server);
    if (rc == -2) {
        /* "invalid Redis address" as otactl, the worker and the bridge
         * said before; "invalid Redis port" as the module said */
        return ota_addr_fail(err, errlen, "invalid Redis address \"%.*s\": "
                             "invalid Redis port (1..65535)", w, len);
    }
    if (rc != 0) {
        return ota_addr_fail(err, errlen, "invalid Redis address \"%.*s\" "
                             "(want IP:PORT, [IPv6]:PORT, HOST:PORT, "
                             "unix:/path or sentinel=IP:PORT[,IP:PORT...] "
                             "master=NAME)", w, len);
    }
    a->have_addr = 1;
    return 0;
}


int
ota_addr_check(const ota_addr_t *a, char *err, size_t errlen)
{
    if (!a->have_addr) {
        snprintf(err, errlen, "no Redis address (want IP:PORT, unix:/path "
                 "or sentinel=IP:PORT[,IP:PORT...] master=NAME)");
        return -1;
    }
    if (a->nsentinels > 0 && a->master[0] == '\0') {
        snprintf(err, errlen, "a sentinel list needs the master's name "
                 "(sentinel=IP:PORT[,IP:PORT...] master=NAME)");
        return -1;
    }
    if (a->nsentinels == 0 && a->master[0]) {
        snprintf(err, errlen, "master= goes with a sentinel list "
                 "(sentinel=IP:PORT[,IP:PORT...] master=NAME)");
        return -1;
    }
    if (a->nsentinels > 0 && (a->server.host[0] || a->path[0])) {
        snprintf(err, errlen, "either a Redis address or sentinel=, not "
                 "both");
        return -1;
    }
    return 0;
}


int
ota_addr_parse(ota_addr_t *a, const char *s, char *err, size_t errlen)
{
    const char  *p = s, *e;
    int          rc;

    ota_addr_init(a);
    for ( ;; ) {
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        for (e = p; *e && *e != ' ' && *e != '\t'; e++) { /* void */ }
        rc = ota_addr_word(a, p, (size_t) (e - p), err, errlen);
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            return ota_addr_fail(err, errlen, "unknown word \"%.*s\" in the "
                                 "Redis address (want password=, db=, "
                                 "master=)", p, (size_t) (e - p));
        }
        p = e;
    }
    return ota_addr_check(a, err, errlen);
}


static size_t
ota_hostport_str(const ota_hostport_t *hp, char *buf, size_t len)
{
    int  n;

    n = snprintf(buf, len, strchr(hp->host, ':') ? "[%s]:%d" : "%s:%d",
                 hp->host, hp->port);
    return n < 0 ? 0 : (size_t) n >= len ? len - 1 : (size_t) n;
}


const char *
ota_addr_str(const ota_addr_t *a, char *buf, size_t len)
{
    size_t  n;
    int     i;

    if (len == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (a->path[0]) {
        snprintf(buf, len, "unix:%s", a->path);
    } else if (a->nsentinels == 0) {
        (void) ota_hostport_str(&a->server, buf, len);
    } else {
        n = (size_t) snprintf(buf, len, "sentinel=");
        for (i = 0; i < a->nsentinels && n + 1 < len; i++) {
            if (i > 0) {
                buf[n++] = ',';
                buf[n] = '\0';
            }
            n += ota_hostport_str(&a->sentinel[i], buf + n, len - n);
        }
        if (n + 1 < len) {
            snprintf(buf + n, len - n, " master=%s", a->master);
        }
    }
    return buf;
}


int
ota_addr_is_ip(const char *host)
{
    unsigned char  b[16];

    return inet_pton(AF_INET, host, b) == 1
           || inet_pton(AF_INET6, host, b) == 1;
}


int
ota_addr_needs_dns(const ota_addr_t *a)
{
    int  i;

    if (a->server.host[0] && !ota_addr_is_ip(a->server.host)
        && strcasecmp(a->server.host, "localhost") != 0)
    {
        return 1;
    }
    for (i = 0; i < a->nsentinels; i++) {
        if (!ota_addr_is_ip(a->sentinel[i].host)
            && strcasecmp(a->sentinel[i].host, "localhost") != 0)
        {
            return 1;
        }
    }
    return 0;
}
