/*
 * ota-fleet: a fleet of devices against the device API, for tests and
 * benchmarks (t/36-fleet.t; the fleet benchmark reuses it).
 *
 * Each device runs a whole session, the way device code does it, on a
 * keep-alive HTTP/1.1 connection:
 *
 *   POST auth -> POST inform <from> -> GET upgrade -> GET the package in
 *   1..--pieces range pieces (random cut points) -> POST progress 100 ->
 *   POST inform <to>
 *
 * and checks the digest of what it downloaded against the upgrade answer.
 * --concurrency connections run sessions at once, one device after the
 * other on each connection; single-threaded, non-blocking (epoll).  The
 * pieces come from --seed and the device's position in the list only, so a
 * run is reproducible whatever the scheduling.
 *
 *   ota-fleet --port 8080 --devices devices.txt --product p [--module m]
 *             [--from 1.0.0] --to 2.0.0 [--concurrency 100] [--pieces 4]
 *             [--seed 1] [--host 127.0.0.1] [--timeout 30] [--json]
 *             [--waiting-ok] [--mode full|floor]
 *   ota-fleet --mode static --port 8080 --devices N --path /static/x/fw.bin
 *             --size BYTES [--sign HEX] [--concurrency 100] [--pieces 4]
 *             [--seed 1] ...
 *
 * --mode (bench/fleet.sh): "full" is the whole session above; "floor" the
 * five small requests without the download (what a session costs around
 * its bytes); "static" only the download's pieces, the same ones a full
 * run of the same seed fetches (they depend on the seed and the device's
 * place only), from a plain static location, on the same keep-alive
 * connections, without auth or reports: the baseline of a full run.
 * --devices is then a count, the file is not read.  "bare" is static with
 * the five small requests around the pieces, in the session's order, sent
 * to plain nginx locations under --bare (default /bare/: auth, inform,
 * upgrade, progress; no module behind them, answers of about the real
 * ones' sizes): what any nginx would pay for the protocol's shape, with no
 * authentication and no Redis; "bare-floor" the same without the pieces.
 *
 * devices.txt: one "<device> <secret> [fail]" per line; a device marked
 * "fail" reports progress -4 (flashing failed) after its download instead
 * of the new version.  --waiting-ok: a device answered 204 by the upgrade
 * (no task, or not offered yet: a rollout's later wave) ends its session
 * as "waiting" instead of failed.  Exit 0 when every
 * session succeeded, 1 when any failed (the first failures are printed),
 * 2 on bad arguments.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FLEET_IN_MAX      (1 << 20)         /* a JSON answer, at most */
#define FLEET_PIECES_MAX  16
#define FLEET_REPORTS     10                /* failures printed */


typedef enum {
    ST_AUTH = 0,
    ST_INFORM_FROM,
    ST_UPGRADE,
    ST_PIECE,
    ST_PROGRESS,
    ST_INFORM_TO,
    ST_COUNT
} fleet_step_t;

static const char  *fleet_step_names[ST_COUNT] = {
    "auth", "inform", "upgrade", "download", "progress", "inform-new"
};

/* the status each step's answer must have */
static const int  fleet_step_status[ST_COUNT] = { 200, 200, 200, 206, 200, 200 };

typedef struct {
    char        *device;
    char        *secret;
    int          fail;                  /* reports a failed install */
} fleet_dev_t;

typedef struct {
    int           fd;
    int           connecting;
    int           busy;                 /* a request is out */
    double        active;               /* last I/O, for the timeout */

    /* the request being written */
    char          out[4096];
    size_t        out_len;
    size_t        out_off;

    /* the response being read */
    char         *in;
    size_t        in_len;
    size_t        in_cap;
    size_t        head;                 /* header bytes, 0 until parsed */
    int           status;
    long long     clen;
    long long     got;                  /* body bytes so far */
    int           close;                /* Connection: close */
    int           stream;               /* body into the digest */

    /* the session */
    long          dev;
    fleet_step_t  step;
    char          token[512];
    char          path[1024];           /* the download, from the answer */
    char          sign[129];
    long long     size;
    int           npieces;
    int           piece;
    long long     cut[FLEET_PIECES_MAX + 1];
    EVP_MD_CTX   *md;
} fleet_conn_t;


typedef enum {
    FLEET_FULL = 0,
    FLEET_STATIC,
    FLEET_FLOOR,
    FLEET_BARE,                         /* static + five plain requests */
    FLEET_BARE_FLOOR                    /* the five plain requests only */
} fleet_mode_t;

/* the modes whose pieces come from --path, --devices a count */
#define fleet_plain()  (F.mode == FLEET_STATIC || F.mode == FLEET_BARE     \
                        || F.mode == FLEET_BARE_FLOOR)
#define fleet_bare()   (F.mode == FLEET_BARE || F.mode == FLEET_BARE_FLOOR)

/* a bare session's token: about a real one's length, so its requests are */
#define FLEET_BARE_TOKEN                                                     \
    "bare.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123"

static struct {
    fleet_mode_t   mode;
    const char    *path;                /* static: the file's URL path */
    long long      size;                /* static: its size */
    const char    *sign;                /* static: its digest, optional */
    const char    *bare;                /* bare: the plain locations' prefix */
    const char    *host;
    int            port;
    const char    *product;
    const char    *module;
    const char    *from;
    const char    *to;
    int            concurrency;
    int            pieces;
    uint64_t       seed;
    int            timeout;
    int            json;
    int            waiting_ok;

    fleet_dev_t   *devs;
    long           ndevs;
    long           next;                /* next device to start */
    long           ok;
    long           failed;
    long           waiting;             /* 204 upgrade, --waiting-ok */
    long           requests;
    long long      bytes;
    long           fails[ST_COUNT];
    int            reported;
    int            ep;
    struct sockaddr_in  addr;
} F;


static double
fleet_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static long long
fleet_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* splitmix64: the pieces of a device depend on the seed and its index */
static uint64_t
fleet_rand(uint64_t *s)
{
    uint64_t  z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


static int
fleet_load(const char *file)
{
    FILE    *f;
    char     line[1024], dev[256], sec[512], mark[16];
    size_t   cap = 0;

    f = fopen(file, "r");
    if (f == NULL) {
        fprintf(stderr, "ota-fleet: cannot read %s: %s\n", file,
                strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        mark[0] = '\0';
        if (sscanf(line, "%255s %511s %15s", dev, sec, mark) < 2) {
            continue;
        }
        if ((size_t) F.ndevs == cap) {
            fleet_dev_t *d;

            cap = cap ? cap * 2 : 1024;
            d = realloc(F.devs, cap * sizeof(fleet_dev_t));
            if (d == NULL) {
                fclose(f);
                return -1;
            }
            F.devs = d;
        }
        F.devs[F.ndevs].device = strdup(dev);
        F.devs[F.ndevs].secret = strdup(sec);
        F.devs[F.ndevs].fail = strcmp(mark, "fail") == 0;
        if (F.devs[F.ndevs].device == NULL || F.devs[F.ndevs].secret == NULL) {
            fclose(f);
            return -1;
        }
        F.ndevs++;
    }
    fclose(f);
    return 0;
}


/* ---- requests ---------------------------------------------------------- */

static void fleet_want(fleet_conn_t *c, int out);
static void fleet_write(fleet_conn_t *c);


static void
fleet_request(fleet_conn_t *c, const char *method, const char *path,
    const char *range, const char *body)
{
    int     n;
    size_t  blen = body ? strlen(body) : 0;

    n = snprintf(c->out, sizeof(c->out), "%s %s HTTP/1.1\r\nHost: %s:%d\r\n",
                 method, path, F.host, F.port);
    if (c->token[0]) {
        n += snprintf(c->out + n, sizeof(c->out) - n,
                      "Authorization: Bearer %s\r\n", c->token);
    }
    if (range) {
        n += snprintf(c->out + n, sizeof(c->out) - n, "Range: bytes=%s\r\n",
                      range);
    }
    if (body) {
        n += snprintf(c->out + n, sizeof(c->out) - n,
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n%s", blen, body);
    } else {
        n += snprintf(c->out + n, sizeof(c->out) - n, "\r\n");
    }

    c->out_len = n > 0 && (size_t) n < sizeof(c->out) ? (size_t) n : 0;
    c->out_off = 0;
    c->head = 0;
    c->in_len = 0;
    c->got = 0;
    c->status = 0;
    c->clen = -1;
    c->close = 0;
    c->stream = range != NULL;
    c->busy = 1;
    F.requests++;

    if (!c->connecting) {
        fleet_write(c);
    }
    if (c->fd >= 0) {
        fleet_want(c, c->connecting || c->out_off < c->out_len);
    }
}


/* the path of a small request: the device API, or the bare locations */
static const char *
fleet_api(fleet_conn_t *c, const char *name, char *buf, size_t size)
{
    (void) c;
    snprintf(buf, size, "%s%s", fleet_bare() ? F.bare : "/ota/v1/", name);
    return buf;
}


static void
fleet_send_step(fleet_conn_t *c)
{
    fleet_dev_t  *d = &F.devs[c->dev];
    char          body[1024], range[64], msg[512], hex[65];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int  len, i;
    long long     ts;

    switch (c->step) {

    case ST_AUTH:
        c->token[0] = '\0';
        ts = fleet_ms();
        snprintf(msg, sizeof(msg), "device%sproduct%stimestamp%lld",
                 d->device, F.product, ts);
        HMAC(EVP_sha256(), d->secret, (int) strlen(d->secret),
             (unsigned char *) msg, strlen(msg), mac, &len);
        for (i = 0; i < 32; i++) {
            sprintf(hex + 2 * i, "%02x", mac[i]);
        }
        snprintf(body, sizeof(body), "{\"product\":\"%s\",\"device\":\"%s\","
                 "\"timestamp\":\"%lld\",\"sign\":\"%s\"}", F.product,
                 d->device, ts, hex);
        fleet_request(c, "POST", fleet_api(c, "auth", msg, sizeof(msg)),
                      NULL, body);
        return;

    case ST_INFORM_FROM:
    case ST_INFORM_TO:
        snprintf(body, sizeof(body), "{\"module\":\"%s\",\"version\":\"%s\"}",
                 F.module, c->step == ST_INFORM_FROM ? F.from : F.to);
        fleet_request(c, "POST", fleet_api(c, "inform", msg, sizeof(msg)),
                      NULL, body);
        return;

    case ST_UPGRADE:
        snprintf(range, sizeof(range), "upgrade?module=%s", F.module);
        fleet_request(c, "GET", fleet_api(c, range, msg, sizeof(msg)), NULL,
                      NULL);
        return;

    case ST_PIECE:
        snprintf(range, sizeof(range), "%lld-%lld", c->cut[c->piece],
                 c->cut[c->piece + 1] - 1);
        fleet_request(c, "GET", c->path, range, NULL);
        return;

    case ST_PROGRESS:
        snprintf(body, sizeof(body), "{\"module\":\"%s\",\"step\":%s,"
                 "\"desc\":\"%s\"}", F.module,
                 d->fail ? "-4" : "100", d->fail ? "flashing failed"
                                                 : "installed");
        fleet_request(c, "POST", fleet_api(c, "progress", msg, sizeof(msg)),
                      NULL, body);
        return;

    default:
        return;
    }
}


/* ---- connections --------------------------------------------------------- */

static void fleet_next_device(fleet_conn_t *c);


static void
fleet_close(fleet_conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(F.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->connecting = 0;
}


/* the events wanted: writing only while a request is not all out (a
 * level-triggered EPOLLOUT would fire without end) */
static void
fleet_want(fleet_conn_t *c, int out)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    (void) epoll_ctl(F.ep, EPOLL_CTL_MOD, c->fd, &ev);
}


static int
fleet_connect(fleet_conn_t *c)
{
    struct epoll_event  ev;
    int                 one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *) &F.addr, sizeof(F.addr)) < 0
        && errno != EINPROGRESS)
    {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->connecting = 1;
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(F.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}


/* the session of c failed: counted, the first ones told */
static void
fleet_failed(fleet_conn_t *c, const char *why)
{
    F.failed++;
    F.fails[c->step]++;
    if (F.reported++ < FLEET_REPORTS) {
        fprintf(stderr, "ota-fleet: device %s failed at %s: %s",
                F.devs[c->dev].device, fleet_step_names[c->step], why);
        if (c->status) {
            fprintf(stderr, " (HTTP %d: %.*s)", c->status,
                    (int) (c->in_len > c->head + 200 ? 200
                           : c->in_len - c->head), c->in + c->head);
        }
        fprintf(stderr, "\n");
    }
    fleet_close(c);                       /* a clean connection for the next */
}


static void
fleet_fail(fleet_conn_t *c, const char *why)
{
    fleet_failed(c, why);
    fleet_next_device(c);
}


/* 1..pieces contiguous pieces of c->size at random cut points, from the
 * seed and the device's place only (a static run fetches the same ones) */
static int
fleet_pieces(fleet_conn_t *c)
{
    uint64_t      rng;
    int           k, i;
    unsigned int  n;

    rng = F.seed ^ ((uint64_t) c->dev * 0x9e3779b97f4a7c15ULL);
    k = 1 + (int) (fleet_rand(&rng) % (uint64_t) F.pieces);
    if (k > c->size) {
        k = 1;
    }
    c->cut[0] = 0;
    c->cut[k] = c->size;
    for (i = 1; i < k; i++) {
        c->cut[i] = 1 + (long long) (fleet_rand(&rng)
                                     % (uint64_t) (c->size - 1));
    }
    for (i = 1; i < k; i++) {             /* sort, few elements */
        for (int m = i + 1; m < k; m++) {
            if (c->cut[m] < c->cut[i]) {
                long long x = c->cut[i];
                c->cut[i] = c->cut[m];
                c->cut[m] = x;
            }
        }
    }
    for (i = 1, n = 1; i <= k; i++) {     /* no empty piece */
        if (c->cut[i] > c->cut[n - 1]) {
            c->cut[n++] = c->cut[i];
        }
    }
    c->npieces = (int) n - 1;
    c->piece = 0;
    if (c->md == NULL) {
        c->md = EVP_MD_CTX_new();
    }
    if (c->md == NULL
        || EVP_DigestInit_ex(c->md, strlen(c->sign) == 32 ? EVP_md5()
                                                           : EVP_sha256(),
                             NULL) != 1)
    {
        return -1;
    }
    return 0;
}


/* the answer of the step is in: check it, go on */
static void
fleet_answer(fleet_conn_t *c)
{
    json_t        *j = NULL;
    json_error_t   err;
    const char    *url, *p, *sign;
    unsigned char  dg[EVP_MAX_MD_SIZE];
    unsigned int   dl, n;
    char           hex[2 * EVP_MAX_MD_SIZE + 1];

    c->busy = 0;

    if (c->close) {
        fleet_close(c);
    }

    if (c->step == ST_UPGRADE && c->status == 204 && F.waiting_ok) {
        F.waiting++;
        fleet_next_device(c);
        return;
    }

    if (c->status != fleet_step_status[c->step]) {
        fleet_fail(c, c->step == ST_UPGRADE && c->status == 204
                      ? "no task" : "unexpected status");
        return;
    }

    switch (c->step) {

    case ST_AUTH:
        if (fleet_bare()) {
            strcpy(c->token, FLEET_BARE_TOKEN);
            c->step = ST_INFORM_FROM;
            break;
        }
        j = json_loadb(c->in + c->head, c->in_len - c->head, 0, &err);
        p = json_string_value(json_object_get(j, "token"));
        if (p == NULL || strlen(p) >= sizeof(c->token)) {
            json_decref(j);
            fleet_fail(c, "no token in the answer");
            return;
        }
        strcpy(c->token, p);
        json_decref(j);
        c->step = ST_INFORM_FROM;
        break;

    case ST_PROGRESS:
        if (F.devs[c->dev].fail) {
            F.ok++;                     /* its failure is reported */
            fleet_next_device(c);
            return;
        }
        c->step++;
        break;

    case ST_INFORM_FROM:
        c->step++;
        break;

    case ST_UPGRADE:
        if (fleet_bare()) {
            /* the pieces are static's (set at the session's start) */
            if (fleet_pieces(c) != 0) {
                fleet_fail(c, "no digest");
                return;
            }
            c->step = F.mode == FLEET_BARE_FLOOR ? ST_PROGRESS : ST_PIECE;
            break;
        }
        j = json_loadb(c->in + c->head, c->in_len - c->head, 0, &err);
        url = json_string_value(json_object_get(j, "url"));
        sign = json_string_value(json_object_get(j, "sign"));
        c->size = (long long) json_integer_value(json_object_get(j, "size"));
        if (url == NULL || sign == NULL || c->size <= 0
            || strlen(sign) >= sizeof(c->sign))
        {
            json_decref(j);
            fleet_fail(c, "upgrade answer without url, sign or size");
            return;
        }
        /* the path of the signed link: the host is ours */
        p = strstr(url, "://");
        p = p ? strchr(p + 3, '/') : url;
        if (p == NULL || strlen(p) >= sizeof(c->path)) {
            json_decref(j);
            fleet_fail(c, "bad url in the upgrade answer");
            return;
        }
        strcpy(c->path, p);
        strcpy(c->sign, sign);
        json_decref(j);

        if (fleet_pieces(c) != 0) {
            fleet_fail(c, "no digest");
            return;
        }
        if (F.mode == FLEET_FLOOR) {
            c->step = ST_PROGRESS;        /* the floor: no download */
            break;
        }
        c->step = ST_PIECE;
        break;

    case ST_PIECE:
        if (c->got != c->cut[c->piece + 1] - c->cut[c->piece])
        {
            fleet_fail(c, "a piece of the package did not arrive whole");
            return;
        }
        F.bytes += c->got;
        if (++c->piece < c->npieces) {
            break;
        }
        EVP_DigestFinal_ex(c->md, dg, &dl);
        for (n = 0; n < dl; n++) {
            sprintf(hex + 2 * n, "%02x", dg[n]);
        }
        if (c->sign[0] && strcasecmp(hex, c->sign) != 0) {
            fleet_fail(c, "the download does not match the digest");
            return;
        }
        if (F.mode == FLEET_STATIC) {
            F.ok++;                         /* the pieces are the session */
            fleet_next_device(c);
            return;
        }
        c->step = ST_PROGRESS;
        break;

    case ST_INFORM_TO:
        F.ok++;
        fleet_next_device(c);
        return;

    default:
        return;
    }

    if (c->fd < 0 && fleet_connect(c) != 0) {
        fleet_fail(c, "cannot connect");
        return;
    }
    fleet_send_step(c);
}


/* the connection takes the next device, if any is left */
static void
fleet_next_device(fleet_conn_t *c)
{
    for ( ;; ) {
        c->busy = 0;
        c->token[0] = '\0';

        if (F.next >= F.ndevs) {
            fleet_close(c);
            c->dev = -1;
            return;
        }
        c->dev = F.next++;
        c->step = ST_AUTH;
        c->active = fleet_now();

        if (fleet_plain()) {
            c->size = F.size;
            snprintf(c->path, sizeof(c->path), "%s", F.path);
            snprintf(c->sign, sizeof(c->sign), "%s", F.sign ? F.sign : "");
            if (fleet_pieces(c) != 0) {
                fleet_failed(c, "no digest");
                continue;
            }
            /* bare: the small requests first, as a device does */
            c->step = fleet_bare() ? ST_AUTH : ST_PIECE;
        }

        if (c->fd >= 0 || fleet_connect(c) == 0) {
            fleet_send_step(c);
            return;
        }
        fleet_failed(c, "cannot connect");
    }
}


/* parses the status line and headers once they are all in */
static int
fleet_parse_head(fleet_conn_t *c)
{
    char  *end, *p, *line, *next;

    end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->in_len > 16384 ? -1 : 0;
    }
    *end = '\0';
    c->head = (size_t) (end - c->in) + 4;

    if (sscanf(c->in, "HTTP/1.%*d %d", &c->status) != 1) {
        return -1;
    }
    c->clen = c->status == 204 || c->status == 304 ? 0 : -1;
    for (line = strstr(c->in, "\r\n"); line; line = next) {
        line += 2;
        next = strstr(line, "\r\n");
        if (next) {
            *next = '\0';
        }
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            c->clen = atoll(line + 15);
        } else if (strncasecmp(line, "Connection:", 11) == 0) {
            for (p = line + 11; *p == ' '; p++) { /* void */ }
            c->close = strncasecmp(p, "close", 5) == 0;
        }
    }
    if (c->clen < 0) {
        return -1;                      /* every answer has a length */
    }
    return 1;
}


/* the bytes after the head: into the digest (a piece) or kept (JSON) */
static void
fleet_body(fleet_conn_t *c, const char *data, size_t n)
{
    if (c->stream && c->status / 100 == 2) {
        EVP_DigestUpdate(c->md, data, n);
    }
    c->got += (long long) n;
}


static void
fleet_read(fleet_conn_t *c)
{
    char     buf[65536];
    ssize_t  n;
    int      rc;

    for ( ;; ) {
        if (c->head == 0 || !c->stream) {
            /* the head, or a JSON answer: kept in c->in */
            if (c->in_cap - c->in_len < 65536) {
                size_t  cap = c->in_cap ? c->in_cap * 2 : 131072;
                char   *p;

                if (cap > FLEET_IN_MAX) {
                    fleet_fail(c, "answer too large");
                    return;
                }
                p = realloc(c->in, cap);
                if (p == NULL) {
                    fleet_fail(c, "no memory");
                    return;
                }
                c->in = p;
                c->in_cap = cap;
            }
            n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
        } else {
            n = recv(c->fd, buf, sizeof(buf), 0);
        }

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            fleet_fail(c, n == 0 ? "the server closed the connection"
                                 : strerror(errno));
            return;
        }
        c->active = fleet_now();

        if (c->head == 0 || !c->stream) {
            c->in_len += (size_t) n;
            c->in[c->in_len] = '\0';
            if (c->head == 0) {
                rc = fleet_parse_head(c);
                if (rc < 0) {
                    fleet_fail(c, "malformed HTTP answer");
                    return;
                }
                if (rc == 0) {
                    continue;
                }
                if (c->stream) {
                    /* what came with the head belongs to the body */
                    fleet_body(c, c->in + c->head, c->in_len - c->head);
                    c->in_len = c->head;
                } else {
                    c->got = (long long) (c->in_len - c->head);
                }
            } else {
                c->got += n;
            }
        } else {
            fleet_body(c, buf, (size_t) n);
        }

        if (c->head && c->got >= c->clen) {
            if (c->got > c->clen) {
                fleet_fail(c, "more bytes than the answer's length");
                return;
            }
            fleet_answer(c);
            return;
        }
    }
}


static void
fleet_write(fleet_conn_t *c)
{
    ssize_t  n;

    while (c->out_off < c->out_len) {
        n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                 MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n < 0) {
            fleet_fail(c, strerror(errno));
            return;
        }
        c->out_off += (size_t) n;
        c->active = fleet_now();
    }
}


static void
fleet_event(fleet_conn_t *c, uint32_t events)
{
    int        err = 0;
    socklen_t  len = sizeof(err);

    if (c->fd < 0) {
        return;
    }
    if (c->connecting) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            fleet_fail(c, "cannot connect");
            return;
        }
        c->connecting = 0;
    }
    if ((events & EPOLLOUT) && c->out_off < c->out_len) {
        fleet_write(c);
        if (c->fd < 0) {
            return;
        }
        fleet_want(c, c->out_off < c->out_len);
    } else if (events & EPOLLOUT) {
        fleet_want(c, 0);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        fleet_read(c);
    }
}


static void
fleet_usage(void)
{
    fprintf(stderr,
        "usage: ota-fleet --port PORT --devices FILE --product P --to X.Y.Z\n"
        "                 [--module default] [--from 1.0.0] [--concurrency 100]\n"
        "                 [--pieces 4] [--seed 1] [--host 127.0.0.1]\n"
        "                 [--timeout 30] [--json] [--waiting-ok]\n"
        "                 [--mode full|floor]\n"
        "       ota-fleet --mode static --port PORT --devices N --path /x/f.bin\n"
        "                 --size BYTES [--sign HEX] [--concurrency 100] ...\n"
        "       ota-fleet --mode bare|bare-floor [--bare /bare/] (as static)\n"
        "FILE: one \"<device> <secret>\" per line\n");
}


int
main(int argc, char **argv)
{
    static struct option  opts[] = {
        { "host", 1, NULL, 'H' }, { "port", 1, NULL, 'p' },
        { "devices", 1, NULL, 'd' }, { "product", 1, NULL, 'P' },
        { "module", 1, NULL, 'm' }, { "from", 1, NULL, 'f' },
        { "to", 1, NULL, 't' }, { "concurrency", 1, NULL, 'c' },
        { "pieces", 1, NULL, 'k' }, { "seed", 1, NULL, 's' },
        { "timeout", 1, NULL, 'T' }, { "json", 0, NULL, 'j' },
        { "waiting-ok", 0, NULL, 'w' }, { "mode", 1, NULL, 'M' },
        { "path", 1, NULL, 'u' }, { "size", 1, NULL, 'z' },
        { "sign", 1, NULL, 'g' }, { "bare", 1, NULL, 'b' },
        { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    struct epoll_event   evs[256];
    fleet_conn_t        *conns;
    const char          *file = NULL;
    double               t0, secs, now, cpu;
    struct rusage        ru;
    long                 i;
    int                  o, n, running;

    F.host = "127.0.0.1";
    F.bare = "/bare/";
    F.module = "default";
    F.from = "1.0.0";
    F.concurrency = 100;
    F.pieces = 4;
    F.seed = 1;
    F.timeout = 30;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'H': F.host = optarg; break;
        case 'p': F.port = atoi(optarg); break;
        case 'd': file = optarg; break;
        case 'P': F.product = optarg; break;
        case 'm': F.module = optarg; break;
        case 'f': F.from = optarg; break;
        case 't': F.to = optarg; break;
        case 'c': F.concurrency = atoi(optarg); break;
        case 'k': F.pieces = atoi(optarg); break;
        case 's': F.seed = strtoull(optarg, NULL, 10); break;
        case 'T': F.timeout = atoi(optarg); break;
        case 'j': F.json = 1; break;
        case 'w': F.waiting_ok = 1; break;
        case 'M':
            if (strcmp(optarg, "full") == 0) {
                F.mode = FLEET_FULL;
            } else if (strcmp(optarg, "static") == 0) {
                F.mode = FLEET_STATIC;
            } else if (strcmp(optarg, "floor") == 0) {
                F.mode = FLEET_FLOOR;
            } else if (strcmp(optarg, "bare") == 0) {
                F.mode = FLEET_BARE;
            } else if (strcmp(optarg, "bare-floor") == 0) {
                F.mode = FLEET_BARE_FLOOR;
            } else {
                fleet_usage();
                return 2;
            }
            break;
        case 'u': F.path = optarg; break;
        case 'z': F.size = atoll(optarg); break;
        case 'g': F.sign = optarg; break;
        case 'b': F.bare = optarg; break;
        default: fleet_usage(); return 2;
        }
    }
    if (F.port <= 0 || F.port > 65535 || file == NULL
        || (!fleet_plain() && (F.product == NULL || F.to == NULL))
        || (fleet_plain()
            && (F.path == NULL || F.path[0] != '/' || F.size <= 0
                || strlen(F.path) >= sizeof(((fleet_conn_t *) 0)->path)
                || (F.sign && strlen(F.sign) != 32 && strlen(F.sign) != 64)))
        || F.concurrency < 1 || F.pieces < 1
        || F.pieces > FLEET_PIECES_MAX || F.timeout < 1)
    {
        fleet_usage();
        return 2;
    }
    memset(&F.addr, 0, sizeof(F.addr));
    F.addr.sin_family = AF_INET;
    F.addr.sin_port = htons((uint16_t) F.port);
    if (inet_pton(AF_INET, F.host, &F.addr.sin_addr) != 1) {
        fprintf(stderr, "ota-fleet: --host must be an IPv4 address\n");
        return 2;
    }
    if (fleet_plain()) {
        F.ndevs = atol(file);
        F.devs = calloc(F.ndevs > 0 ? (size_t) F.ndevs : 1,
                        sizeof(fleet_dev_t));
        if (F.devs == NULL) {
            return 2;
        }
        for (i = 0; i < F.ndevs; i++) {
            F.devs[i].device = strdup("static");
            F.devs[i].secret = strdup("");
            if (F.devs[i].device == NULL || F.devs[i].secret == NULL) {
                return 2;
            }
        }
    } else if (fleet_load(file) != 0) {
        return 2;
    }
    if (F.ndevs == 0) {
        fprintf(stderr, "ota-fleet: no devices in %s\n", file);
        return 2;
    }

    F.ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t) F.concurrency, sizeof(fleet_conn_t));
    if (F.ep < 0 || conns == NULL) {
        fprintf(stderr, "ota-fleet: %s\n", strerror(errno));
        return 2;
    }

    t0 = fleet_now();
    for (i = 0; i < F.concurrency; i++) {
        conns[i].fd = -1;
        conns[i].dev = -1;
        fleet_next_device(&conns[i]);
    }

    for ( ;; ) {
        running = 0;
        now = fleet_now();
        for (i = 0; i < F.concurrency; i++) {
            if (conns[i].dev >= 0) {
                running++;
                if (now - conns[i].active > F.timeout) {
                    fleet_fail(&conns[i], "timed out");
                }
            }
        }
        if (running == 0) {
            break;
        }
        n = epoll_wait(F.ep, evs, 256, 1000);
        for (o = 0; o < n; o++) {
            fleet_event(evs[o].data.ptr, evs[o].events);
        }
    }
    secs = fleet_now() - t0;
    getrusage(RUSAGE_SELF, &ru);
    cpu = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
          + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    if (F.json) {
        printf("{\"devices\":%ld,\"ok\":%ld,\"failed\":%ld,\"waiting\":%ld,"
               "\"requests\":%ld,"
               "\"bytes\":%lld,\"seconds\":%.3f,\"sessions_per_s\":%.1f,"
               "\"requests_per_s\":%.1f,\"concurrency\":%d,\"cpu\":%.4f,"
               "\"failures\":{",
               F.ndevs, F.ok, F.failed, F.waiting, F.requests, F.bytes, secs,
               (double) F.ok / secs, (double) F.requests / secs,
               F.concurrency, cpu);
        for (i = 0, n = 0; i < ST_COUNT; i++) {
            if (F.fails[i]) {
                printf("%s\"%s\":%ld", n++ ? "," : "", fleet_step_names[i],
                       F.fails[i]);
            }
        }
        printf("}}\n");
    } else {
        printf("ota-fleet: %ld devices, %d at once: %ld succeeded, %ld failed; "
               "%ld requests, %lld bytes downloaded in %.2f s (%.1f sessions/s, "
               "%.0f requests/s)\n", F.ndevs, F.concurrency, F.ok, F.failed,
               F.requests, F.bytes, secs, (double) F.ok / secs,
               (double) F.requests / secs);
    }

    fflush(stdout);

    for (i = 0; i < F.concurrency; i++) {
        fleet_close(&conns[i]);
        free(conns[i].in);
        EVP_MD_CTX_free(conns[i].md);
    }
    for (i = 0; i < F.ndevs; i++) {
        free(F.devs[i].device);
        free(F.devs[i].secret);
    }
    free(F.devs);
    free(conns);
    close(F.ep);

    return F.failed ? 1 : 0;
}
