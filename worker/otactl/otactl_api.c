/*
 * otactl_api.c: otactl over the admin API (--api URL --token TOKEN, or
 * OTA_API and OTA_ADMIN_TOKEN): one HTTP client (libcurl, blocking: a
 * command line waits for its answer anyway), JSON in and out, and the
 * API's refusals turned into otactl's own: one line "otactl: <the API's
 * message>" and the exit code direct mode gives for the same refusal
 * (docs/otactl.md, "API mode").
 *
 * The connection is made once and kept (HTTP keep-alive): a list of many
 * pages costs one TCP connection.
 */

#include "otactl.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>


typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    int      oom;
} otactl_buf_t;


static size_t
otactl_api_write(char *p, size_t size, size_t n, void *ctx)
{
    otactl_buf_t  *b = ctx;
    size_t         len = size * n;
    char          *d;

    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);

        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        d = realloc(b->data, cap);
        if (d == NULL) {
            b->oom = 1;
            return 0;                   /* curl stops: CURLE_WRITE_ERROR */
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}


int
otactl_api_init(otactl_t *o)
{
    size_t  n;

    n = strlen(o->api);
    while (n > 0 && o->api[n - 1] == '/') {
        n--;
    }
    if (n == 0 || (strncmp(o->api, "http://", 7) != 0
                   && strncmp(o->api, "https://", 8) != 0))
    {
        return otactl_usage("invalid admin API address \"%s\" (want the URL "
                            "of the admin location, like "
                            "http://ota.example.com/ota/admin)", o->api);
    }
    if (o->token == NULL || o->token[0] == '\0') {
        return otactl_usage("--api needs an admin token: --token TOKEN or "
                            "OTA_ADMIN_TOKEN");
    }
    o->api_base = strndup(o->api, n);
    if (o->api_base == NULL
        || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    {
        return otactl_fail("out of memory");
    }
    o->curl = curl_easy_init();
    if (o->curl == NULL) {
        return otactl_fail("cannot start the HTTP client");
    }
    return OTACTL_OK;
}


void
otactl_api_done(otactl_t *o)
{
    if (o->curl != NULL) {
        curl_easy_cleanup(o->curl);
        curl_global_cleanup();
        o->curl = NULL;
    }
    free(o->api_base);
    o->api_base = NULL;
}


/* percent-encodes all but A-Z a-z 0-9 and "_.:~-": the characters of
 * every name (ota_names.h) stay as they are, as the API reads them */
char *
otactl_api_esc(otactl_t *o, const char *s)
{
    static const char  hex[] = "0123456789ABCDEF";
    char              *d, *p;

    (void) o;
    d = malloc(strlen(s) * 3 + 1);
    if (d == NULL) {
        return NULL;
    }
    for (p = d; *s; s++) {
        unsigned char c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || strchr("_.:~-", c) != NULL)
        {
            *p++ = (char) c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return d;
}


void
otactl_api_free(void *p)
{
    free(p);
}


/* the API's refusal as otactl's: its message, and the exit code */
static int
otactl_api_refused(otactl_t *o, long status, json_t *j, const char *body)
{
    const char  *msg;
    char         raw[256];

    msg = json_string_value(json_object_get(j, "message"));
    if (msg == NULL) {
        /* not the API's JSON: a proxy's page, or no admin API there */
        snprintf(raw, sizeof(raw), "HTTP %ld from %s%s", status, o->api_base,
                 status == 404 ? " (is this the admin location, the one "
                                 "with ota_admin_api?)" : "");
        msg = raw;
        (void) body;
    }

    switch (status) {
    case 401:
        otactl_fail("the admin API at %s refused the token: %s (check "
                    "--token or OTA_ADMIN_TOKEN)", o->api_base, msg);
        return OTACTL_FAIL;

    case 502:
    case 503:
    case 504:
        /* Redis or the worker did not answer: what direct mode says with 3 */
        otactl_fail("%s", msg);
        return OTACTL_UNAVAIL;

    default:
        otactl_fail("%s", msg);
        return OTACTL_FAIL;
    }
}


/*
 * One request: method on <api>/<path>; body (JSON, or NULL) sent as it is;
 * mime (a curl_mime *, for a multipart upload) instead of a body.  On 2xx:
 * OTACTL_OK with the answer in *out (the caller's to free).  With
 * OTACTL_API_404 a 404 is OTACTL_OK too, with *out NULL and *status 404,
 * for the caller to say "no batch X" as direct mode does.  Otherwise the
 * refusal is printed and its exit code returned.
 */
static int
otactl_api_do(otactl_t *o, const char *method, const char *path,
    json_t *body, void *mime, int flags, json_t **out, long *status)
{
    char               *url, *js = NULL, *auth;
    long                st = 0;
    int                 rc;
    size_t              n;
    json_t             *j;
    CURLcode            cc;
    otactl_buf_t        b;
    struct curl_slist  *h = NULL;
    char                err[CURL_ERROR_SIZE];

    *out = NULL;
    memset(&b, 0, sizeof(b));

    n = strlen(o->api_base) + strlen(path) + 2;
    url = malloc(n);
    auth = malloc(strlen(o->token) + 32);
    if (url == NULL || auth == NULL) {
        free(url);
        free(auth);
        return otactl_fail("out of memory");
    }
    snprintf(url, n, "%s/%s", o->api_base, path);
    snprintf(auth, strlen(o->token) + 32, "Authorization: Bearer %s",
             o->token);

    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");     /* no 100-continue round trip */
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        js = json_dumps(body, JSON_COMPACT);
    }
    if (h == NULL || (body != NULL && js == NULL)) {
        free(url);
        free(auth);
        curl_slist_free_all(h);
        free(js);
        return otactl_fail("out of memory");
    }

    curl_easy_reset(o->curl);
    curl_easy_setopt(o->curl, CURLOPT_URL, url);
    curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, otactl_api_write);
    curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(o->curl, CURLOPT_USERAGENT, "otactl");
    /* an upload takes as long as it takes; a request that goes quiet for
     * a minute is given up (a write waits at most 10 s for the worker) */
    curl_easy_setopt(o->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(o->curl, CURLOPT_LOW_SPEED_TIME, 60L);
    if (mime != NULL) {
        curl_easy_setopt(o->curl, CURLOPT_MIMEPOST, (curl_mime *) mime);
    } else if (js != NULL) {
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, js);
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(js));
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        curl_easy_setopt(o->curl, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "POST") == 0 && js == NULL && mime == NULL) {
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    err[0] = '\0';

    cc = curl_easy_perform(o->curl);
    curl_slist_free_all(h);
    free(auth);
    free(js);

    if (cc != CURLE_OK) {
        fprintf(stderr, "otactl: admin API at %s: %s (is nginx running "
                "there? set --api or OTA_API)\n", o->api_base,
                b.oom ? "out of memory" : err[0] ? err
                                                 : curl_easy_strerror(cc));
        free(url);
        free(b.data);
        return OTACTL_UNAVAIL;
    }
    free(url);
    curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &st);
    if (status != NULL) {
        *status = st;
    }

    j = b.len ? json_loadb(b.data, b.len, 0, NULL) : NULL;

    if (st >= 200 && st < 300) {
        free(b.data);
        if (j == NULL && b.len) {
            return otactl_fail("unreadable answer from the admin API at %s",
                               o->api_base);
        }
        *out = j ? j : json_object();
        return OTACTL_OK;
    }
    if (st == 404 && (flags & OTACTL_API_404)
        && json_object_get(j, "message") != NULL)
    {
        json_decref(j);
        free(b.data);
        return OTACTL_OK;
    }

    rc = otactl_api_refused(o, st, j, b.data);
    json_decref(j);
    free(b.data);
    return rc;
}


int
otactl_api(otactl_t *o, const char *method, const char *path, json_t *body,
    int flags, json_t **out, long *status)
{
    return otactl_api_do(o, method, path, body, NULL, flags, out, status);
}


int
otactl_api_get(otactl_t *o, const char *path, int flags, json_t **out,
    long *status)
{
    return otactl_api_do(o, "GET", path, NULL, NULL, flags, out, status);
}


/* ---- a multipart upload (POST packages) --------------------------------- */

otactl_mime_t *
otactl_mime_new(otactl_t *o)
{
    return (otactl_mime_t *) curl_mime_init(o->curl);
}


int
otactl_mime_field(otactl_mime_t *m, const char *name, const char *value)
{
    curl_mimepart  *p = curl_mime_addpart((curl_mime *) m);

    if (p == NULL || curl_mime_name(p, name) != CURLE_OK
        || curl_mime_data(p, value, CURL_ZERO_TERMINATED) != CURLE_OK)
    {
        return -1;
    }
    return 0;
}


/* a file part: curl reads it as it sends, never the whole file in memory */
int
otactl_mime_file(otactl_mime_t *m, const char *path, const char *name)
{
    curl_mimepart  *p = curl_mime_addpart((curl_mime *) m);

    if (p == NULL || curl_mime_name(p, "file") != CURLE_OK
        || curl_mime_filedata(p, path) != CURLE_OK
        || curl_mime_filename(p, name) != CURLE_OK
        || curl_mime_type(p, "application/octet-stream") != CURLE_OK)
    {
        return -1;
    }
    return 0;
}


int
otactl_api_upload(otactl_t *o, const char *path, otactl_mime_t *m,
    json_t **out, long *status)
{
    return otactl_api_do(o, "POST", path, NULL, m, 0, out, status);
}


void
otactl_mime_free(otactl_mime_t *m)
{
    curl_mime_free((curl_mime *) m);
}


/* ---- pages --------------------------------------------------------------- */

/*
 * Every item of a paged list (<path>?...&offset=&limit=1000, array name
 * list) appended to *all, page after page until "total" is reached or a
 * page comes back short.  max bounds what is read (0: no bound).
 */
int
otactl_api_all(otactl_t *o, const char *path, const char *list,
    long long max, json_t **all)
{
    char        url[2048];
    json_t     *j, *a, *v;
    long long   offset = 0, total;
    size_t      i, n;
    int         rc;

    *all = json_array();
    if (*all == NULL) {
        return otactl_fail("out of memory");
    }
    for ( ;; ) {
        snprintf(url, sizeof(url), "%s%soffset=%lld&limit=1000", path,
                 strchr(path, '?') ? "&" : "?", offset);
        rc = otactl_api_get(o, url, 0, &j, NULL);
        if (rc != OTACTL_OK) {
            json_decref(*all);
            *all = NULL;
            return rc;
        }
        a = json_object_get(j, list);
        n = json_array_size(a);
        json_array_foreach(a, i, v) {
            json_array_append(*all, v);
        }
        total = json_integer_value(json_object_get(j, "total"));
        json_decref(j);
        offset += (long long) n;
        if (n < 1000 || offset >= total || (max > 0 && offset >= max)) {
            break;
        }
    }
    return OTACTL_OK;
}


/* a command that needs what only the server's host has */
int
otactl_api_local_only(const char *cmd, const char *why)
{
    otactl_fail("%s does not work over the admin API: %s; run it on a host "
                "that reaches Redis and the package store (without --api)",
                cmd, why);
    return OTACTL_USAGE;
}
