/*
 * ngx_ota_admin_upload.c: POST <admin>/packages, a package uploaded as
 * multipart/form-data (curl -F, a browser's form): docs/admin-api.md.
 *
 *   1. the platform's settings are read (HGETALL OTA_KEY_CONFIG): a
 *      declared body over package.max_size + NGX_OTA_UPLOAD_SLACK is
 *      refused with 413 before any of it is read (and without "100
 *      Continue", so the client does not send it);
 *   2. the body is read unbuffered (nginx hands over each piece as it
 *      arrives and never writes it anywhere itself), fed to the streaming
 *      parser of include/ota_multipart.h; a file part is checked (name,
 *      extension: include/ota_package.h) when its headers are read and
 *      written through a buffer of NGX_OTA_UPLOAD_BUF bytes to a temporary
 *      file in <store>/.upload-<random>/, its digests computed on each
 *      buffer as it is written (include/ota_store.h): the body is never
 *      held, and no file is read again or hashed in one go;
 *   3. the complete body's fields are checked by otactl's checks
 *      (ota_package_check), the manifest is written last, the directory
 *      takes its place as <store>/<id>, and lua/admin/package_add.lua
 *      registers the record, refusing a version that exists (also one
 *      registered by a concurrent upload: 409) in the same step.
 *
 * Nothing is left behind by a refusal, a failure or a client that goes
 * away: the directory is removed before the answer is sent, and by the
 * request pool's cleanup in every other case.  The one exception is a
 * registration whose outcome is unknown (Redis gone after the script was
 * sent): the files then stay, since the record may exist.
 */

#include "ngx_ota_admin_audit.h"
#include "ngx_ota_api.h"
#include "ngx_ota_core.h"
#include "ngx_ota_endpoints.h"
#include "ngx_ota_json.h"
#include "ngx_ota_redis.h"

#include <openssl/rand.h>

#include "ngx_ota_admin_lua.h"      /* generated from lua/admin/ */

#include "ota_audit.h"
#include "ota_check.h"
#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_multipart.h"
#include "ota_package.h"
#include "ota_settings.h"
#include "ota_sign.h"
#include "ota_store.h"


#define NGX_OTA_UPLOAD_BUF        (256 * 1024)  /* bytes per write(2) */
#define NGX_OTA_UPLOAD_SLACK      (1024 * 1024) /* fields and part headers */
#define NGX_OTA_UPLOAD_FIELD_MAX  2048
/* bytes parsed and written in one go before the other connections of the
 * worker process get their turn: a fast client on a fast link would
 * otherwise keep the socket full and the loop here (for latency) */
#define NGX_OTA_UPLOAD_SLICE      (1024 * 1024)


/* the form's fields; "file" parts are apart */
enum {
    NGX_OTA_UF_PRODUCT = 0,
    NGX_OTA_UF_MODULE,
    NGX_OTA_UF_NAME,
    NGX_OTA_UF_VERSION,
    NGX_OTA_UF_TYPE,
    NGX_OTA_UF_FROM,
    NGX_OTA_UF_SIGN,
    NGX_OTA_UF_VERIFY,
    NGX_OTA_UF_DESC,
    NGX_OTA_UF_EXT,
    NGX_OTA_UF_SIGN_LATER,
    NGX_OTA_UF_N,
    NGX_OTA_UF_FILE = NGX_OTA_UF_N
};

static const char *ngx_ota_upload_fields[NGX_OTA_UF_N] = {
    "product", "module", "name", "version", "type", "from", "sign",
    "verify", "desc", "ext", "sign_later"
};


typedef struct {
    ngx_http_request_t    *request;
    ngx_ota_api_answer_t  *answer;
    ngx_str_t              object;          /* for the audit */

    ota_settings_t         settings;
    off_t                  limit;           /* of the whole body */
    off_t                  received;

    ota_mp_t              *mp;
    ngx_uint_t             part;            /* NGX_OTA_UF_* being read */
    u_char                *value;           /* the field being read */
    size_t                 vlen;

    const char            *field[NGX_OTA_UF_N];
    const char            *ext[OTA_PKG_EXT_MAX];
    int                    next;

    ota_package_file_t     files[OTA_PKG_FILES_MAX];
    char                   md5[OTA_PKG_FILES_MAX][33];
    char                   sha[OTA_PKG_FILES_MAX][65];
    int                    nfiles;
    ota_store_file_t      *out;             /* the file being written */
    ota_store_file_t      *outs[OTA_PKG_FILES_MAX];  /* digested, open */
    json_t                *manifest;
    int                    placed;          /* the thread's outcome */
    char                   err[OTA_STORE_ERR_MAX];
    u_char                *buf;
    size_t                 blen;

    ota_package_t          pkg;
    char                   id[OTA_NAME_MAX + 1];
    char                   slot[OTA_PKG_SLOT_MAX];
    char                  *tmpdir;          /* <store>/.upload-<hex> */
    char                  *dir;             /* <store>/<id> */
    ngx_str_t              package_root;

    ngx_uint_t             status;          /* a callback's refusal */
    ota_check_t            check;

    int                    sign_later;      /* state unsigned, for
                                               POST .../signature */
    unsigned               md5_needed:1;    /* sign=md5 came before the files */
    unsigned               tmpdir_made:1;
    unsigned               dir_made:1;
    unsigned               sent:1;          /* the registration is out */
    unsigned               kept:1;          /* registered, or unknown */
} ngx_ota_upload_t;


static void ngx_ota_upload_settings(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_upload_body_start(ngx_http_request_t *r);
static void ngx_ota_upload_read(ngx_http_request_t *r);
static void ngx_ota_upload_complete(ngx_http_request_t *r,
    ngx_ota_upload_t *up);
static void ngx_ota_upload_place(ngx_ota_upload_t *up);
static void ngx_ota_upload_placed(ngx_ota_upload_t *up);
#if (NGX_THREADS)
static void ngx_ota_upload_place_thread(void *data, ngx_log_t *log);
static void ngx_ota_upload_placed_event(ngx_event_t *ev);
#endif
static void ngx_ota_upload_registered(ngx_ota_redis_call_t *call,
    redisReply *reply);
static void ngx_ota_upload_cleanup(void *data);


/* removes what the upload wrote (the temporary directory, the package's
 * directory unless it is registered or may be) */
static void
ngx_ota_upload_remove(ngx_ota_upload_t *up)
{
    int  i;

    if (up->out != NULL) {
        ota_store_file_abort(up->out);
    }

    for (i = 0; i < OTA_PKG_FILES_MAX && up->outs[i] != NULL; i++) {
        ota_store_file_abort(up->outs[i]);
    }

    if (up->tmpdir_made) {
        (void) ota_store_rmtree(up->tmpdir);
        up->tmpdir_made = 0;
    }

    if (up->dir_made && !up->kept) {
        (void) ota_store_rmtree(up->dir);
        up->dir_made = 0;
    }
}


static void
ngx_ota_upload_cleanup(void *data)
{
    ngx_ota_upload_t  *up = data;

    if (up->tmpdir_made || (up->dir_made && !up->kept)) {
        ngx_log_error(NGX_LOG_INFO, up->request->connection->log, 0,
                      "ota: admin: upload %s not completed: its files are "
                      "removed", up->tmpdir);
    }

    ngx_ota_upload_remove(up);
    ota_package_free(&up->pkg);

    if (up->manifest != NULL) {
        json_decref(up->manifest);
        up->manifest = NULL;
    }
}


/* a refusal once the body is (partly) read: the files go first, so the
 * client that has its answer finds nothing; the rest of a body is not
 * read (the connection closes after the answer) */
static void
ngx_ota_upload_refused(ngx_http_request_t *r, ngx_ota_upload_t *up,
    ngx_uint_t status, const char *msg)
{
    ngx_ota_upload_remove(up);

    r->read_event_handler = ngx_http_block_reading;

    if (r->reading_body) {
        r->keepalive = 0;
        r->lingering_close = 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin upload: refused %ui: %s", status, msg);

    ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_ADD,
                          up->object.len ? &up->object : NULL, status, msg);
}


ngx_int_t
ngx_ota_admin_package_upload(ngx_http_request_t *r)
{
    u_char                *p;
    ngx_int_t              rc;
    ngx_str_t             *ct;
    ngx_ota_ctx_t         *ctx;
    ngx_ota_upload_t      *up;
    ngx_pool_cleanup_t    *cln;
    ngx_ota_redis_call_t  *call;
    char                   boundary[OTA_MP_BOUNDARY_MAX + 1];

    /* a refusal before the body is read says so at once, without "100
     * Continue": the client then does not send the body */
    r->expect_tested = 1;

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct == NULL || ct->len < 19
        || ngx_strncasecmp(ct->data, (u_char *) "multipart/form-data", 19)
           != 0)
    {
        r->keepalive = 0;
        return ngx_ota_admin_refuse(r, OTA_ACT_PACKAGE_ADD, NULL,
                                    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    "send the package as multipart/form-data "
                                    "(curl -F product=... -F file=@fw.bin)");
    }

    if (ota_mp_boundary((const char *) ct->data, ct->len, boundary) != 0) {
        r->keepalive = 0;
        return ngx_ota_admin_refuse(r, OTA_ACT_PACKAGE_ADD, NULL,
                                    NGX_HTTP_BAD_REQUEST,
                                    "multipart/form-data without a valid "
                                    "boundary parameter");
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_ota_upload_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    up = cln->data;
    ngx_memzero(up, sizeof(ngx_ota_upload_t));
    cln->handler = ngx_ota_upload_cleanup;

    up->request = r;
    ota_check_init(&up->check, 1);
    ota_package_init(&up->pkg);

    up->answer = ngx_ota_api_answer(r);
    up->mp = ngx_palloc(r->pool, sizeof(ota_mp_t));
    up->buf = ngx_palloc(r->pool, NGX_OTA_UPLOAD_BUF);
    up->value = ngx_palloc(r->pool, NGX_OTA_UPLOAD_FIELD_MAX + 1);

    if (up->answer == NULL || up->mp == NULL || up->buf == NULL
        || up->value == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the temporary directory's name: in the store, never a package id */
    up->tmpdir = ngx_pnalloc(r->pool, OTA_STORE_PATH_MAX);
    up->dir = ngx_pnalloc(r->pool, OTA_STORE_PATH_MAX);
    if (up->tmpdir == NULL || up->dir == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    {
        u_char               rnd[8], hex[17];
        ngx_ota_loc_conf_t  *olcf;

        olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_hex_dump(hex, rnd, sizeof(rnd)) = '\0';

        if (olcf->package_root.len + 32 > OTA_STORE_PATH_MAX) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf((u_char *) up->tmpdir, "%V/.upload-%s%Z",
                        &olcf->package_root, hex);
        (void) p;
    }

    (void) ota_mp_init(up->mp, boundary, NULL, NULL, NULL, up);

    ctx->api = up;

    call = ngx_ota_redis_call(r, ngx_ota_upload_settings, up);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ota_redis_cmd(call, "HGETALL %s", OTA_KEY_CONFIG);

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        r->keepalive = 0;
        return ngx_ota_admin_refuse(r, OTA_ACT_PACKAGE_ADD, NULL,
                                    rc == NGX_DECLINED
                                    ? NGX_HTTP_SERVICE_UNAVAILABLE
                                    : NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "storage unavailable, retry later");
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin upload: into \"%s\", settings asked",
                   up->tmpdir);

    r->main->count++;

    return NGX_DONE;
}


/* ---- the parser's callbacks --------------------------------------------- */

static int
ngx_ota_upload_fail(ngx_ota_upload_t *up, ngx_uint_t status)
{
    up->status = status;
    return -1;
}


static int
ngx_ota_upload_flush(ngx_ota_upload_t *up)
{
    if (up->blen == 0) {
        return 0;
    }

    if (ota_store_file_write(up->out, up->buf, up->blen) != 0) {
        ngx_log_error(NGX_LOG_ERR, up->request->connection->log, 0,
                      "ota: admin: upload: %s", up->out->err);
        (void) ota_check_fail(&up->check, "cannot write the package store: "
                              "%s", up->out->err);
        return ngx_ota_upload_fail(up, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    up->blen = 0;

    return 0;
}


static int
ngx_ota_upload_begin(void *data, const ota_mp_part_t *part)
{
    ngx_ota_upload_t  *up = data;

    ngx_uint_t  i;

    up->vlen = 0;

    if (ngx_strcmp(part->name, "file") == 0) {
        if (!part->has_filename || part->filename_len == 0) {
            (void) ota_check_fail(&up->check, "a \"file\" part needs a file "
                                  "name (curl -F file=@fw.bin)");
            return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
        }

        if (ota_package_check_nfiles(&up->check, up->nfiles + 1) != 0
            || ota_package_check_file_name(&up->check, &up->settings,
                                           part->filename, up->files,
                                           up->nfiles) != 0)
        {
            return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
        }

        if (!up->tmpdir_made) {
            if (mkdir(up->tmpdir, 0755) != 0) {
                ngx_log_error(NGX_LOG_ERR, up->request->connection->log,
                              ngx_errno, "ota: admin: upload: mkdir(\"%s\") "
                              "failed", up->tmpdir);
                (void) ota_check_fail(&up->check, "cannot write the package "
                                      "store (ota_package_root): %s",
                                      strerror(errno));
                return ngx_ota_upload_fail(up,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
            }
            up->tmpdir_made = 1;
        }

        up->out = ngx_palloc(up->request->pool, sizeof(ota_store_file_t));
        if (up->out == NULL) {
            (void) ota_check_fail(&up->check, "out of memory");
            return ngx_ota_upload_fail(up, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        if (ota_store_file_open(up->out, up->tmpdir, part->filename,
                                up->md5_needed) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, up->request->connection->log, 0,
                          "ota: admin: upload: %s", up->out->err);
            (void) ota_check_fail(&up->check, "cannot write the package "
                                  "store: %s", up->out->err);
            return ngx_ota_upload_fail(up, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        ngx_cpystrn((u_char *) up->files[up->nfiles].name,
                    (u_char *) part->filename, OTA_PKG_FILE_NAME_MAX + 1);
        up->files[up->nfiles].size = 0;
        up->part = NGX_OTA_UF_FILE;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, up->request->connection->log, 0,
                       "ota admin upload: file \"%s\" begins",
                       part->filename);
        return 0;
    }

    for (i = 0; i < NGX_OTA_UF_N; i++) {
        if (ngx_strcmp(part->name, ngx_ota_upload_fields[i]) == 0) {
            break;
        }
    }

    if (i == NGX_OTA_UF_N) {
        (void) ota_check_fail(&up->check, "unknown field \"%.64s\" (product, "
                              "module, name, version, type, from, sign, "
                              "verify, desc, ext, sign_later, file)",
                              part->name);
        return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
    }

    if (i == NGX_OTA_UF_EXT) {
        if (up->next == OTA_PKG_EXT_MAX) {
            (void) ota_check_fail(&up->check, "at most %d \"ext\" values",
                                  OTA_PKG_EXT_MAX);
            return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
        }

    } else if (up->field[i] != NULL) {
        (void) ota_check_fail(&up->check, "\"%s\" given twice",
                              ngx_ota_upload_fields[i]);
        return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
    }

    up->part = i;

    return 0;
}


static int
ngx_ota_upload_data(void *data, const char *p, size_t len)
{
    ngx_ota_upload_t  *up = data;

    size_t               n;
    ota_package_file_t  *f;

    if (up->part != NGX_OTA_UF_FILE) {
        if (len > NGX_OTA_UPLOAD_FIELD_MAX - up->vlen) {
            (void) ota_check_fail(&up->check, "\"%s\" is too long (at most "
                                  "%d bytes)",
                                  ngx_ota_upload_fields[up->part],
                                  NGX_OTA_UPLOAD_FIELD_MAX);
            return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
        }

        ngx_memcpy(up->value + up->vlen, p, len);
        up->vlen += len;

        return 0;
    }

    f = &up->files[up->nfiles];

    if ((long long) len > up->settings.max_size - f->size) {
        /* the first byte over: the whole size is not known */
        (void) ota_package_check_file_size(&up->check, &up->settings,
                                           f->name, -1);
        return ngx_ota_upload_fail(up, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
    }

    f->size += (long long) len;

    /* pieces end at every CR of the content: gathered into one buffer,
     * written and digested a buffer at a time (for speed) */
    while (len) {
        n = ngx_min(len, NGX_OTA_UPLOAD_BUF - up->blen);
        ngx_memcpy(up->buf + up->blen, p, n);
        up->blen += n;
        p += n;
        len -= n;

        if (up->blen == NGX_OTA_UPLOAD_BUF && ngx_ota_upload_flush(up) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
ngx_ota_upload_end(void *data)
{
    ngx_ota_upload_t  *up = data;

    u_char              *v;
    ota_package_file_t  *f;

    if (up->part != NGX_OTA_UF_FILE) {
        v = ngx_pnalloc(up->request->pool, up->vlen + 1);
        if (v == NULL) {
            (void) ota_check_fail(&up->check, "out of memory");
            return ngx_ota_upload_fail(up, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        ngx_memcpy(v, up->value, up->vlen);
        v[up->vlen] = '\0';

        if (ngx_strlen(v) != up->vlen) {
            (void) ota_check_fail(&up->check, "\"%s\" holds a NUL byte",
                                  ngx_ota_upload_fields[up->part]);
            return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
        }

        if (up->part == NGX_OTA_UF_EXT) {
            up->ext[up->next++] = (const char *) v;

        } else {
            up->field[up->part] = (const char *) v;

            /* md5 is computed only when asked for before the files: for
             * speed, the default sha256 path digests each byte once */
            if (up->part == NGX_OTA_UF_SIGN && ngx_strcmp(v, "md5") == 0) {
                if (up->nfiles > 0) {
                    (void) ota_check_fail(&up->check, "\"sign\" md5 must "
                                          "come before the \"file\" parts "
                                          "(the digest is computed as the "
                                          "bytes arrive)");
                    return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
                }
                up->md5_needed = 1;
            }
        }

        return 0;
    }

    f = &up->files[up->nfiles];

    if (f->size == 0) {
        (void) ota_package_check_file_size(&up->check, &up->settings,
                                           f->name, 0);
        return ngx_ota_upload_fail(up, NGX_HTTP_BAD_REQUEST);
    }

    if (ngx_ota_upload_flush(up) != 0) {
        return -1;
    }

    up->md5[up->nfiles][0] = '\0';

    /* digested now; synced, made read-only and renamed with the others
     * once the body is complete (off the event loop: ngx_ota_upload_place) */
    if (ota_store_file_digest(up->out, up->sha[up->nfiles],
                              up->md5[up->nfiles])
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, up->request->connection->log, 0,
                      "ota: admin: upload: %s", up->out->err);
        (void) ota_check_fail(&up->check, "cannot write the package store: "
                              "%s", up->out->err);
        return ngx_ota_upload_fail(up, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, up->request->connection->log, 0,
                   "ota admin upload: file \"%s\" of %L bytes written",
                   f->name, (int64_t) f->size);

    up->outs[up->nfiles] = up->out;
    up->out = NULL;
    up->nfiles++;

    return 0;
}


/* ---- reading the body --------------------------------------------------- */

static void
ngx_ota_upload_settings(ngx_ota_redis_call_t *call, redisReply *reply)
{
    size_t               k;
    ngx_int_t            rc;
    redisReply          *f, *v;
    ngx_ota_upload_t    *up = call->data;
    ngx_http_request_t  *r = call->request;
    char                 msg[160], lim[32];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        r->keepalive = 0;
        ngx_ota_admin_redis_error(r, OTA_ACT_PACKAGE_ADD, NULL, reply);
        return;
    }

    ota_settings_default(&up->settings);

    for (k = 0; k + 1 < reply->elements; k += 2) {
        f = reply->element[k];
        v = reply->element[k + 1];

        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) {
            /* a value written by hand that does not parse keeps the
             * default (GET config says so too) */
            (void) ota_settings_load(&up->settings, f->str, v->str);
        }
    }

    up->limit = (off_t) up->settings.max_size + NGX_OTA_UPLOAD_SLACK;

    if (r->headers_in.content_length_n > up->limit) {
        ota_settings_size_str(up->settings.max_size, lim, sizeof(lim));
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "the upload is %O bytes, over the limit of %s per file "
                     "(package.max_size) and 1 MB for the fields%Z",
                     r->headers_in.content_length_n, lim);

        r->keepalive = 0;
        ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_ADD, NULL,
                              NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, msg);
        return;
    }

    up->mp->begin = ngx_ota_upload_begin;
    up->mp->data = ngx_ota_upload_data;
    up->mp->end = ngx_ota_upload_end;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin upload: limits %L per file, %O per body",
                   (int64_t) up->settings.max_size, up->limit);

    /* nginx hands over each piece as it arrives, never writing it to a
     * file itself: the pieces go to the parser */
    r->expect_tested = 0;
    r->request_body_no_buffering = 1;

    rc = ngx_http_read_client_request_body(r, ngx_ota_upload_body_start);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (rc == NGX_HTTP_BAD_REQUEST && !r->connection->error) {
            r->keepalive = 0;
            ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST,
                                   "malformed request body (chunked "
                                   "encoding)");
            return;
        }

        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the body reader holds the request now: the hold of the content
     * handler is released */
    ngx_http_finalize_request(r, NGX_DONE);
}


static void
ngx_ota_upload_body_start(ngx_http_request_t *r)
{
    if (r->reading_body) {
        r->read_event_handler = ngx_ota_upload_read;
    }

    ngx_ota_upload_read(r);
}


static void
ngx_ota_upload_read(ngx_http_request_t *r)
{
    off_t               slice;
    size_t              n, used;
    ngx_int_t           rc, prc;
    ngx_buf_t          *buf;
    ngx_chain_t        *cl;
    ngx_ota_ctx_t      *ctx;
    ngx_ota_upload_t   *up;
    char                msg[OTA_CHECK_MSG_MAX + 64], lim[32];

    ctx = ngx_http_get_module_ctx(r, ngx_ota_module);
    up = ctx->api;
    slice = up->received + NGX_OTA_UPLOAD_SLICE;

    for ( ;; ) {

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            buf = cl->buf;

            if (buf->in_file) {
                /* not in unbuffered mode */
                ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "request body in a file");
                return;
            }

            n = buf->last - buf->pos;
            if (n == 0) {
                continue;
            }

            up->received += n;

            if (up->received > up->limit) {
                ota_settings_size_str(up->settings.max_size, lim,
                                      sizeof(lim));
                ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                             "the upload is over the limit of %s per file "
                             "(package.max_size) and 1 MB for the fields%Z",
                             lim);
                ngx_ota_upload_refused(r, up,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       msg);
                return;
            }

            prc = ota_mp_parse(up->mp, (const char *) buf->pos, n, &used);
            buf->pos = buf->last;

            if (prc == OTA_MP_ERROR) {
                ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                             "malformed multipart/form-data body: %s%Z",
                             up->mp->err);
                ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST, msg);
                return;
            }

            if (prc != OTA_MP_OK) {
                ngx_ota_upload_refused(r, up, up->status
                                              ? up->status
                                              : NGX_HTTP_BAD_REQUEST,
                                       up->check.msg);
                return;
            }
        }

        r->request_body->bufs = NULL;

        if (!r->reading_body) {
            break;
        }

        if (up->received >= slice) {
            /* the rest in the loop's next turn, after the other events */
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "ota admin upload: %O bytes, yielding",
                           up->received);
            ngx_post_event(r->connection->read, &ngx_posted_next_events);
            return;
        }

        rc = ngx_http_read_unbuffered_request_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            r->read_event_handler = ngx_http_block_reading;

            /* the client went away or stalled: nothing stays, and the
             * entry is written without waiting (nobody to answer) */
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ota: admin: upload cut off after %O bytes (%i)",
                          up->received, rc);

            ngx_ota_upload_remove(up);

            ngx_ota_admin_audit(r, OTA_ACT_PACKAGE_ADD,
                                up->object.len ? &up->object : NULL,
                                NGX_HTTP_BAD_REQUEST,
                                rc == NGX_HTTP_REQUEST_TIME_OUT
                                ? "the upload timed out"
                                : "the upload was cut off");

            if (rc == NGX_HTTP_BAD_REQUEST && !r->connection->error) {
                r->keepalive = 0;
                ngx_http_finalize_request(r,
                    ngx_ota_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "malformed request body (chunked "
                                       "encoding)"));
                return;
            }

            ngx_http_finalize_request(r, rc);
            return;
        }

        if (r->request_body->bufs == NULL) {
            if (rc == NGX_OK) {
                break;                  /* the end, with no new bytes */
            }
            return;                     /* NGX_AGAIN: wait for more */
        }
    }

    r->read_event_handler = ngx_http_block_reading;

    if (ota_mp_finish(up->mp) != OTA_MP_OK) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "malformed multipart/form-data body: %s%Z",
                     up->mp->err);
        ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST, msg);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin upload: body of %O bytes read, %d files",
                   up->received, up->nfiles);

    ngx_ota_upload_complete(r, up);
}


/* ---- placing and registering -------------------------------------------- */

/* "verify": what a checkbox or a script sends */
static ngx_int_t
ngx_ota_upload_bool(const char *v, int *out)
{
    static const char *const  yes[] = { "", "1", "true", "on", "yes", NULL };
    static const char *const  no[] = { "0", "false", "off", "no", NULL };

    ngx_uint_t  i;

    for (i = 0; yes[i]; i++) {
        if (ngx_strcasecmp((u_char *) v, (u_char *) yes[i]) == 0) {
            *out = 1;
            return NGX_OK;
        }
    }

    for (i = 0; no[i]; i++) {
        if (ngx_strcasecmp((u_char *) v, (u_char *) no[i]) == 0) {
            *out = 0;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


static void
ngx_ota_upload_arg(const char **argv, size_t *argvlen, int *argc,
    const char *s)
{
    argv[*argc] = s;
    argvlen[(*argc)++] = ngx_strlen(s);
}


static void
ngx_ota_upload_complete(ngx_http_request_t *r, ngx_ota_upload_t *up)
{
    int                  i, k, nf;
    u_char               rnd[8], hex[17];
    ngx_int_t            rc;
    ota_package_t       *p = &up->pkg;
    ngx_ota_loc_conf_t  *olcf;
    long long            off;

    olcf = ngx_http_get_module_loc_conf(r, ngx_ota_module);

    /* ---- the fields, by otactl's checks ---- */
    p->product = up->field[NGX_OTA_UF_PRODUCT];
    p->module = up->field[NGX_OTA_UF_MODULE];
    p->name = up->field[NGX_OTA_UF_NAME];
    p->version = up->field[NGX_OTA_UF_VERSION];
    p->type = up->field[NGX_OTA_UF_TYPE];
    p->from = up->field[NGX_OTA_UF_FROM];
    p->sign = up->field[NGX_OTA_UF_SIGN];
    p->desc = up->field[NGX_OTA_UF_DESC];

    for (i = 0; i < up->next; i++) {
        p->ext[i] = up->ext[i];
    }
    p->next = up->next;

    if (up->field[NGX_OTA_UF_VERIFY] != NULL
        && ngx_ota_upload_bool(up->field[NGX_OTA_UF_VERIFY], &p->verify)
           != NGX_OK)
    {
        (void) ota_check_fail(&up->check, "invalid \"verify\" \"%.32s\" "
                              "(true or false)",
                              up->field[NGX_OTA_UF_VERIFY]);
        ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST, up->check.msg);
        return;
    }

    if (up->field[NGX_OTA_UF_SIGN_LATER] != NULL
        && ngx_ota_upload_bool(up->field[NGX_OTA_UF_SIGN_LATER],
                               &up->sign_later)
           != NGX_OK)
    {
        (void) ota_check_fail(&up->check, "invalid \"sign_later\" \"%.32s\" "
                              "(true or false)",
                              up->field[NGX_OTA_UF_SIGN_LATER]);
        ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST, up->check.msg);
        return;
    }

    rc = ota_package_check(&up->check, p);

    /* the object of the audit from here on */
    if (p->product && p->module && p->version) {
        up->object.data = ngx_pnalloc(r->pool, ngx_strlen(p->product)
                                      + ngx_strlen(p->module)
                                      + ngx_strlen(p->version) + 3);
        if (up->object.data != NULL) {
            up->object.len = ngx_sprintf(up->object.data, "%s/%s/%s",
                                         p->product, p->module,
                                         rc == 0 ? p->vbuf : p->version)
                             - up->object.data;
        }
    }

    if (rc != 0) {
        ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST, up->check.msg);
        return;
    }

    if (ota_package_check_nfiles(&up->check, up->nfiles) != 0) {
        ngx_ota_upload_refused(r, up, NGX_HTTP_BAD_REQUEST, up->check.msg);
        return;
    }

    /* each file's digest by the sign method; the manifest names sha256 */
    off = 0;

    for (i = 0; i < up->nfiles; i++) {
        ngx_cpystrn((u_char *) up->files[i].sign,
                    (u_char *) (p->md5 ? up->md5[i] : up->sha[i]),
                    OTA_PKG_SIGN_MAX + 1);
        up->files[i].offset = off;
        off += up->files[i].size;

        if (p->md5 && up->md5[i][0] == '\0') {
            /* not possible: sign=md5 after a file is refused */
            ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "no md5 digest");
            return;
        }
    }

    nf = up->nfiles;

    /* ---- the id: readable when free on disk, random otherwise ---- */
    ota_package_id(p, up->id);
    ota_package_slot(p, up->slot);

    for (k = 0; k < 2; k++) {
        if (up->id[0] == '\0' || k == 1) {
            if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
                ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "no randomness for the package id");
                return;
            }
            *ngx_hex_dump(hex, rnd, sizeof(rnd)) = '\0';
            ngx_snprintf((u_char *) up->id, sizeof(up->id) - 1, "pkg-%s%Z",
                         hex);
        }

        ngx_snprintf((u_char *) up->dir, OTA_STORE_PATH_MAX - 1, "%V/%s%Z",
                     &olcf->package_root, up->id);

        /* claims the name on disk (otactl claims it the same way) */
        if (mkdir(up->dir, 0755) == 0) {
            up->dir_made = 1;
            break;
        }

        if (ngx_errno != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          "ota: admin: upload: mkdir(\"%s\") failed",
                          up->dir);
            ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "cannot write the package store "
                                   "(ota_package_root)");
            return;
        }
    }

    if (!up->dir_made) {
        ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                               "no free package id");
        return;
    }

    /* ---- the files synced and in place, the manifest last, then the
     * directory takes its place: in a thread of nginx's pool when there
     * is one (fsync waits for the disk), then the record ---- */
    up->manifest = ota_package_manifest(p, up->id, up->files, nf);
    if (up->manifest == NULL) {
        ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                               "out of memory");
        return;
    }

    up->package_root = olcf->package_root;

#if (NGX_THREADS)
    {
        ngx_thread_task_t  *task;
        ngx_thread_pool_t  *tp;
        static ngx_str_t    name = ngx_string("default");

        tp = ngx_thread_pool_get((ngx_cycle_t *) ngx_cycle, &name);

        if (tp != NULL) {
            task = ngx_thread_task_alloc(r->pool, sizeof(ngx_ota_upload_t *));
            if (task == NULL) {
                ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "out of memory");
                return;
            }

            *(ngx_ota_upload_t **) task->ctx = up;
            task->handler = ngx_ota_upload_place_thread;
            task->event.handler = ngx_ota_upload_placed_event;
            task->event.data = task->ctx;

            if (ngx_thread_task_post(tp, task) == NGX_OK) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "ota admin upload: \"%s\" placed in a thread",
                               up->id);
                return;
            }
        }
    }
#endif

    /* no thread pool: here */
    ngx_ota_upload_place(up);
    ngx_ota_upload_placed(up);
}


/* what may wait for the disk, in a thread: it touches only up's files,
 * paths and manifest, which the request holds until the event below */
static void
ngx_ota_upload_place(ngx_ota_upload_t *up)
{
    int  i;

    up->placed = -1;

    for (i = 0; i < up->nfiles; i++) {
        if (ota_store_file_place(up->outs[i]) != 0) {
            ngx_cpystrn((u_char *) up->err, (u_char *) up->outs[i]->err,
                        sizeof(up->err));
            return;
        }
    }

    if (ota_store_manifest(up->tmpdir, up->manifest, up->err,
                           sizeof(up->err))
        != 0)
    {
        return;
    }

    /* over the empty directory made for it: one atomic step */
    if (rename(up->tmpdir, up->dir) != 0) {
        ngx_snprintf((u_char *) up->err, sizeof(up->err) - 1,
                     "rename(\"%s\", \"%s\"): %s%Z", up->tmpdir, up->dir,
                     strerror(errno));
        return;
    }

    ota_store_sync_dir((const char *) up->package_root.data);
    up->placed = 0;
}


#if (NGX_THREADS)

static void
ngx_ota_upload_place_thread(void *data, ngx_log_t *log)
{
    ngx_ota_upload_t  *up = *(ngx_ota_upload_t **) data;

    ngx_ota_upload_place(up);
}


static void
ngx_ota_upload_placed_event(ngx_event_t *ev)
{
    ngx_ota_upload_t    *up = *(ngx_ota_upload_t **) ev->data;
    ngx_connection_t    *c;

    c = up->request->connection;

    ngx_ota_upload_placed(up);

    ngx_http_run_posted_requests(c);
}

#endif


/* the base64 of the canonical manifest (include/ota_sign.h) of the
 * upload, malloc'd; NULL on no memory */
static char *
ngx_ota_upload_manifest_b64(ngx_ota_upload_t *up)
{
    int                   i;
    char                 *bytes, *b64;
    size_t                len;
    ota_manifest_t        m;
    ota_manifest_file_t   mf[OTA_PKG_FILES_MAX];
    ota_package_t        *p = &up->pkg;

    for (i = 0; i < up->nfiles; i++) {
        mf[i].name = up->files[i].name;
        mf[i].size = up->files[i].size;
        mf[i].sha256 = up->sha[i];
    }

    m.id = up->id;
    m.product = p->product;
    m.module = p->module;
    m.version = p->vbuf;
    m.type = p->type ? p->type : (p->fbuf[0] ? "diff" : "full");
    m.from = p->fbuf;
    m.files = mf;
    m.nfiles = up->nfiles;

    bytes = ota_manifest_bytes(&m, &len);
    if (bytes == NULL) {
        return NULL;
    }

    b64 = malloc(OTA_B64_LEN(len) + 1);
    if (b64 != NULL) {
        ota_b64_encode(bytes, len, b64);
    }

    free(bytes);
    return b64;
}


static void
ngx_ota_upload_placed(ngx_ota_upload_t *up)
{
    int                         i, k, argc, nf;
    char                       *files_js, *ext_js, now[NGX_INT64_LEN + 1];
    json_t                     *jfiles;
    ngx_int_t                   rc;
    ngx_http_request_t         *r = up->request;
    ota_package_t              *p = &up->pkg;
    ngx_ota_redis_call_t       *call;
    ota_package_record_bufs_t   bufs;
    const char                 *fields[OTA_PKG_RECORD_MAX];
    const char                 *values[OTA_PKG_RECORD_MAX];
    const char                 *argv[15 + 2 * OTA_PKG_RECORD_MAX];
    size_t                      argvlen[15 + 2 * OTA_PKG_RECORD_MAX];
    char                       *man_b64;
    const char                 *then;

    nf = up->nfiles;

    /* the files are closed (placed or removed) either way */
    for (i = 0; i < nf; i++) {
        up->outs[i] = NULL;
    }

    if (up->placed != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ota: admin: upload: %s", up->err);
        ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                               "cannot write the package store");
        return;
    }

    up->tmpdir_made = 0;

    /* ---- the record, by otactl's script ---- */
    jfiles = json_array();
    for (i = 0; jfiles != NULL && i < nf; i++) {
        if (json_array_append_new(jfiles, json_pack("{s:s, s:I, s:s, s:I}",
                "name", up->files[i].name,
                "size", (json_int_t) up->files[i].size,
                "sign", up->files[i].sign,
                "offset", (json_int_t) up->files[i].offset)) != 0)
        {
            json_decref(jfiles);
            jfiles = NULL;
        }
    }

    files_js = jfiles ? json_dumps(jfiles, JSON_COMPACT | JSON_PRESERVE_ORDER)
                      : NULL;
    ext_js = json_dumps(p->ext_json, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(jfiles);

    up->answer->json = ota_package_added_json(p, up->id, up->files, nf);

    if (files_js == NULL || ext_js == NULL || up->answer->json == NULL) {
        free(files_js);
        free(ext_js);
        ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                               "out of memory");
        return;
    }

    k = ota_package_record(p, up->id, up->files, nf, files_js, ext_js,
                           (long long) ngx_time(), &bufs, fields, values);

    /* sign_later: the manifest to sign (docs/signing.md) in the record,
     * the state unsigned until POST packages/<id>/signature */
    man_b64 = NULL;
    then = NULL;

    if (up->sign_later) {
        man_b64 = ngx_ota_upload_manifest_b64(up);

        for (i = 0; i < k; i++) {
            if (ngx_strcmp(fields[i], "state") == 0) {
                then = values[i];
                values[i] = OTA_PKG_UNSIGNED;
            }
        }

        if (man_b64 == NULL || then == NULL
            || json_object_set_new(up->answer->json, "state",
                                   json_string(OTA_PKG_UNSIGNED)) != 0)
        {
            free(man_b64);
            free(files_js);
            free(ext_js);
            ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "out of memory");
            return;
        }
    }

    *ngx_sprintf((u_char *) now, "%T", ngx_time()) = '\0';

    /* EVAL <script> 0 id product module slot now target from signed,
     * then the record's fields */
    argc = 0;
    ngx_ota_upload_arg(argv, argvlen, &argc, "EVAL");
    ngx_ota_upload_arg(argv, argvlen, &argc, ngx_ota_admin_lua_package_add);
    ngx_ota_upload_arg(argv, argvlen, &argc, "0");
    ngx_ota_upload_arg(argv, argvlen, &argc, up->id);
    ngx_ota_upload_arg(argv, argvlen, &argc, p->product);
    ngx_ota_upload_arg(argv, argvlen, &argc, p->module);
    ngx_ota_upload_arg(argv, argvlen, &argc, up->slot);
    ngx_ota_upload_arg(argv, argvlen, &argc, now);
    ngx_ota_upload_arg(argv, argvlen, &argc, "");
    ngx_ota_upload_arg(argv, argvlen, &argc, p->fbuf);
    /* not signed, or to be signed later */
    ngx_ota_upload_arg(argv, argvlen, &argc, up->sign_later ? "later" : "0");

    for (i = 0; i < k; i++) {
        ngx_ota_upload_arg(argv, argvlen, &argc, fields[i]);
        ngx_ota_upload_arg(argv, argvlen, &argc, values[i]);
    }

    if (up->sign_later) {
        ngx_ota_upload_arg(argv, argvlen, &argc, "manifest");
        ngx_ota_upload_arg(argv, argvlen, &argc, man_b64);
        ngx_ota_upload_arg(argv, argvlen, &argc, "sign_then");
        ngx_ota_upload_arg(argv, argvlen, &argc, then);
    }

    /* the object is the package from here on */
    up->object.data = (u_char *) up->id;
    up->object.len = ngx_strlen(up->id);

    call = ngx_ota_redis_call(r, ngx_ota_upload_registered, up);
    if (call == NULL) {
        free(man_b64);
        free(files_js);
        free(ext_js);
        ngx_ota_upload_refused(r, up, NGX_HTTP_INTERNAL_SERVER_ERROR,
                               "out of memory");
        return;
    }

    /* hiredis copies the vector into its output buffer at once */
    rc = ngx_ota_redis_argv(call, argc, argv, argvlen);

    free(man_b64);
    free(files_js);
    free(ext_js);

    if (rc != NGX_OK) {
        ngx_ota_redis_call_abort(call);
        ngx_ota_upload_remove(up);
        ngx_ota_admin_send_failed(r, OTA_ACT_PACKAGE_ADD, &up->object, rc);
        return;
    }

    up->sent = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota admin upload: \"%s\" in place, %d files, "
                   "registering", up->id, nf);
}


static void
ngx_ota_upload_registered(ngx_ota_redis_call_t *call, redisReply *reply)
{
    ngx_ota_upload_t    *up = call->data;
    ngx_http_request_t  *r = call->request;
    ota_package_t       *p = &up->pkg;
    redisReply          *e0;
    char                 msg[OTA_CHECK_MSG_MAX];

    if (ngx_ota_api_answered(call)) {
        return;
    }

    if (reply == NULL) {
        /* the script may have run: the files stay with the record it may
         * have written */
        up->kept = 1;
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ota: admin: upload of \"%s\": no answer from Redis; "
                      "the package may be registered, its files in \"%s\" "
                      "are kept", up->id, up->dir);
        ngx_ota_admin_redis_error(r, OTA_ACT_PACKAGE_ADD, &up->object, reply);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_ota_upload_remove(up);
        ngx_ota_admin_redis_error(r, OTA_ACT_PACKAGE_ADD, &up->object, reply);
        return;
    }

    e0 = reply->element[0];

    if (e0->len == 2 && ngx_strncmp(e0->str, "ok", 2) == 0) {
        up->kept = 1;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ota: admin: package \"%s\" uploaded by \"%V\" "
                      "(%d files)", up->id, &((ngx_ota_ctx_t *)
                          ngx_http_get_module_ctx(r, ngx_ota_module))
                          ->admin->name, up->nfiles);

        ngx_ota_admin_done(r, OTA_ACT_PACKAGE_ADD, &up->object,
                           NGX_HTTP_CREATED, up->answer);
        return;
    }

    /* a refusal: the files go before the answer */
    ngx_ota_upload_remove(up);

    if (e0->len == 9 && ngx_strncmp(e0->str, "duplicate", 9) == 0) {
        if (p->fbuf[0]) {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "product %s module %s already has a diff from %s to "
                         "%s (package %*s)%Z", p->product, p->module,
                         p->fbuf, p->vbuf,
                         (size_t) (reply->elements > 1
                                   ? reply->element[1]->len : 0),
                         reply->elements > 1 ? reply->element[1]->str : "");
        } else {
            ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                         "product %s module %s already has version %s "
                         "(package %*s)%Z", p->product, p->module, p->vbuf,
                         (size_t) (reply->elements > 1
                                   ? reply->element[1]->len : 0),
                         reply->elements > 1 ? reply->element[1]->str : "");
        }

        ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_ADD, &up->object,
                              NGX_HTTP_CONFLICT, msg);
        return;
    }

    if (e0->len == 8 && ngx_strncmp(e0->str, "nomodule", 8) == 0) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "no module %s in product %s (POST modules first)%Z",
                     p->module, p->product);
        ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_ADD, &up->object,
                              NGX_HTTP_NOT_FOUND, msg);
        return;
    }

    if (e0->len == 8 && ngx_strncmp(e0->str, "unsigned", 8) == 0) {
        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "product %s requires signed packages: add it with "
                     "--sign-key KEY (otactl package add), or upload with "
                     "sign_later=1 and POST packages/<id>/signature%Z",
                     p->product);
        ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_ADD, &up->object,
                              NGX_HTTP_CONFLICT, msg);
        return;
    }

    ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                 "package id %s is taken; try again%Z", up->id);
    ngx_ota_admin_refused(r, OTA_ACT_PACKAGE_ADD, &up->object,
                          NGX_HTTP_CONFLICT, msg);
}
