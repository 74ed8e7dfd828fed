/*
 * ota_offer.c: the upgrade offer of both channels (ota_offer.h).
 * t/unit/test_offer.c holds the cases; t/22-upgrade.t and the MQTT tests
 * check what devices receive.
 */

#include "ota_offer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ota_names.h"
#include "ota_token.h"


#define ota_view_is(v, lit)                                                  \
    ((v).len == sizeof(lit) - 1 && strncasecmp((v).data, lit, (v).len) == 0)


typedef struct {
    char    *buf;       /* <prefix>packages/<id>, room for "/<file>?..." */
    size_t   base;      /* length of that base */
    char     query[sizeof("?device=&expires=&signature=") + OTA_NAME_MAX
                   + 24 + OTA_HEX_SHA256_LEN];
} ota_offer_links_t;


static int
ota_offer_links(const ota_offer_t *o, ota_offer_links_t *l)
{
    int     n;
    size_t  plen;
    char    sig[OTA_HEX_SHA256_LEN + 1];

    plen = o->prefix.len;
    if (plen > OTA_OFFER_PREFIX_MAX || o->device.len > OTA_NAME_MAX) {
        return -1;
    }

    ota_link_sign(o->key.data, o->key.len, o->package.data, o->package.len,
                  o->device.data, o->device.len, o->expires, sig);

    n = snprintf(l->query, sizeof(l->query),
                 "?device=%.*s&expires=%lld&signature=%s",
                 (int) o->device.len, o->device.data,
                 (long long) o->expires, sig);
    if (n < 0 || (size_t) n >= sizeof(l->query)) {
        return -1;
    }

    /* base, '/', a file name of at most 128 bytes, the query */
    l->buf = malloc(plen + 1 + sizeof("packages/") + o->package.len + 1
                    + 128 + sizeof(l->query));
    if (l->buf == NULL) {
        return -1;
    }

    memcpy(l->buf, o->prefix.data, plen);
    if (plen == 0 || o->prefix.data[plen - 1] != '/') {
        l->buf[plen++] = '/';
    }
    memcpy(l->buf + plen, "packages/", sizeof("packages/") - 1);
    plen += sizeof("packages/") - 1;
    memcpy(l->buf + plen, o->package.data, o->package.len);
    l->base = plen + o->package.len;

    return 0;
}


/* the link to the package (file NULL) or to one of its files */
static json_t *
ota_offer_url(ota_offer_links_t *l, const char *file, size_t len)
{
    char  *p;

    p = l->buf + l->base;
    if (file != NULL) {
        *p++ = '/';
        memcpy(p, file, len);
        p += len;
    }
    strcpy(p, l->query);

    return json_string(l->buf);
}


/* one entry of a package record's "files": a valid name and an integer
 * size, or it is left out (of the HTTP answer, its text form and the MQTT
 * notice alike); sign is NULL or any JSON value */
int
ota_offer_file(json_t *f, json_t **name, json_t **size, json_t **sign)
{
    *name = json_object_get(f, "name");
    *size = json_object_get(f, "size");
    *sign = json_object_get(f, "sign");

    return json_is_string(*name) && json_is_integer(*size)
           && ota_name_file(json_string_value(*name),
                            json_string_length(*name));
}


/* the package's files with their links; *first_size and *first_sign get
 * the first valid file's (left alone when there is none) */
static json_t *
ota_offer_files(const ota_offer_t *o, ota_offer_links_t *l,
    json_int_t *first_size, ota_view_t *first_sign)
{
    size_t        i;
    json_t       *files, *list, *f, *name, *size, *sign, *e;
    json_error_t  err;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    files = o->files.len ? json_loadb(o->files.data, o->files.len, 0, &err)
                         : NULL;
    if (!json_is_array(files)) {
        json_decref(files);
        return list;
    }

    json_array_foreach(files, i, f) {
        if (!ota_offer_file(f, &name, &size, &sign)) {
            continue;
        }

        e = json_pack("{s:O,s:O,s:o}", "name", name, "size", size, "url",
                      ota_offer_url(l, json_string_value(name),
                                    json_string_length(name)));
        if (e == NULL
            || (json_is_string(sign) && json_object_set(e, "sign", sign) != 0))
        {
            json_decref(e);
            goto failed;
        }

        if (json_array_size(list) == 0) {
            *first_size = json_integer_value(size);
            if (json_is_string(sign)) {
                /* lives as long as e, which the list keeps */
                first_sign->data = json_string_value(json_object_get(e,
                                                                     "sign"));
                first_sign->len = json_string_length(sign);
            }
        }

        if (json_array_append_new(list, e) != 0) {
            goto failed;
        }
    }

    json_decref(files);
    return list;

failed:

    json_decref(files);
    json_decref(list);
    return NULL;
}


/* extData: the package's custom key/values, then the batch id (set last:
 * the platform's batch wins over a custom "batch" key) */
static json_t *
ota_offer_ext(const ota_offer_t *o)
{
    json_t       *ext, *out;
    json_error_t  err;

    out = json_object();
    if (out == NULL) {
        return NULL;
    }

    if (o->ext.len) {
        ext = json_loadb(o->ext.data, o->ext.len, 0, &err);
        if (json_is_object(ext) && json_object_update(out, ext) != 0) {
            json_decref(ext);
            json_decref(out);
            return NULL;
        }
        json_decref(ext);
    }

    if (json_object_set_new(out, "batch",
                            json_stringn(o->batch.data, o->batch.len))
        != 0)
    {
        json_decref(out);
        return NULL;
    }

    return out;
}


/* the full package behind a diff: its own fields and links, without what
 * the offer says once for both (batch, module, extData, url_expires) */
static json_t *
ota_offer_fallback(const ota_offer_t *o, int shape)
{
    json_t       *fb;
    ota_offer_t   f;

    f = *o->fallback;
    f.device = o->device;
    f.batch = o->batch;
    f.module = o->module;
    f.task_from = o->task_from;
    f.key = o->key;
    f.prefix = o->prefix;
    f.expires = o->expires;
    f.fallback = NULL;

    fb = ota_offer_json(&f, shape);
    if (fb == NULL) {
        return NULL;
    }

    json_object_del(fb, "batch");
    json_object_del(fb, "module");
    json_object_del(fb, "extData");
    json_object_del(fb, "url_expires");

    return fb;
}


json_t *
ota_offer_json(const ota_offer_t *o, int shape)
{
    int                rc;
    int                md5, diff;
    json_t            *out, *files;
    ota_view_t         sign, from;
    json_int_t         first_size;
    ota_offer_links_t  l;

    if (ota_offer_links(o, &l) != 0) {
        return NULL;
    }

    out = json_object();
    first_size = (json_int_t) o->size;
    sign = o->sign;

    files = ota_offer_files(o, &l, &first_size, &sign);

    if (out == NULL || files == NULL) {
        json_decref(files);
        json_decref(out);
        free(l.buf);
        return NULL;
    }

    md5 = ota_view_is(o->sign_method, "md5");
    diff = ota_view_is(o->type, "diff");

    /* a diff applies to one version; a full package to whatever the
     * device had when the task was made */
    from = diff ? o->pkg_from : o->task_from;

    rc = 0;

#define ota_set(k, v)   rc |= json_object_set_new(out, k, v)
#define ota_setv(k, v)  ota_set(k, json_stringn((v).data, (v).len))

    if (shape == OTA_OFFER_HTTP) {
        ota_set("files", json_incref(files));
        ota_setv("batch", o->batch);
        ota_setv("package", o->package);
        ota_setv("module", o->module);
        ota_setv("version", o->version);
        ota_set("type", json_string(diff ? "diff" : "full"));
        ota_setv("from", from);
        ota_set("size", json_integer(first_size));
        ota_set("total_size", json_integer((json_int_t) o->size));
        ota_set("sign_method", json_string(md5 ? "md5" : "sha256"));
        ota_setv("sign", sign);
        ota_set("url", ota_offer_url(&l, NULL, 0));
        ota_set("url_expires", json_integer((json_int_t) o->expires));

    } else {
        ota_set("size", json_integer(first_size));
        ota_setv("version", o->version);
        ota_set("url", ota_offer_url(&l, NULL, 0));
        ota_setv("sign", sign);
        ota_setv("module", o->module);
    }

    /* the Alibaba Cloud IoT / SagooIOT names, the same in both shapes */
    ota_set("signMethod", json_string(md5 ? "Md5" : "SHA256"));
    if (md5) {
        ota_setv("md5", sign);
    }
    ota_set("isDiff", json_integer(diff ? 1 : 0));
    ota_set("extData", ota_offer_ext(o));

    if (shape != OTA_OFFER_HTTP && json_array_size(files) > 1) {
        ota_set("files", json_incref(files));
    }

    if (o->manifest.len) {
        ota_setv("manifest", o->manifest);
        ota_setv("signature", o->signature);
    }

    if (o->fallback != NULL) {
        ota_set("fallback", ota_offer_fallback(o, shape));
    }

#undef ota_set
#undef ota_setv

    json_decref(files);
    free(l.buf);

    if (rc != 0) {
        json_decref(out);
        return NULL;
    }

    return out;
}
