/*
 * ota_offer.h: the upgrade offer a device is handed for its open task, in
 * one place for both channels: the module's HTTP answer (GET
 * /ota/v1/upgrade) and the bridge's MQTT upgrade notice and
 * firmware/get_reply.  Plain C on jansson and ota_token.h's signed links.
 *
 * Both shapes carry the Alibaba Cloud IoT / SagooIOT names, built by the
 * same code, so they cannot drift apart:
 *
 *   size, version, url, sign     the first file (bytes, digest, signed link)
 *   signMethod                   "SHA256" or "Md5"
 *   md5                          the digest again, MD5 packages only
 *   isDiff                       1 for a diff package, else 0
 *   module, extData              extData: the package's custom key/values
 *                                and "batch" (the batch id)
 *   files                        [{"name","size","sign","url"}] each file
 *   manifest, signature          a signed package's manifest (the exact
 *                                signed bytes) and Ed25519 signature, both
 *                                base64 (include/ota_sign.h); absent for
 *                                an unsigned package
 *
 * A diff offered in place of the batch's full package (docs/delta.md)
 * carries the full package as "fallback": the same fields of that
 * package (its own links, digest, size, manifest and signature), for a
 * device that cannot apply the diff.
 *
 * OTA_OFFER_HTTP adds the device API's own fields (DESIGN "Device API"):
 * batch, package, type, from, total_size, sign_method, url_expires, and
 * always lists files.  OTA_OFFER_MQTT lists files only for a package of
 * several files (Alibaba's single-file notice has none).
 *
 * Links: <prefix>packages/<package>[/<file>]?device=<d>&expires=<unix s>
 * &signature=<hex>, prefix being the device API's URL ("https://ota.
 * example.com/ota/v1/"); the signature is ota_link_sign()'s, so every
 * nginx node checks it without Redis.
 */

#ifndef OTA_OFFER_H
#define OTA_OFFER_H

#include <stdint.h>

#include <jansson.h>

#include "ota_request.h"

#define OTA_OFFER_HTTP   1
#define OTA_OFFER_MQTT   2

#define OTA_OFFER_PREFIX_MAX  1024

typedef struct ota_offer_s {
    /* the task */
    ota_view_t   device;
    ota_view_t   batch;
    ota_view_t   module;
    ota_view_t   task_from;     /* the device's version when the task was made */

    /* the package record (docs/redis-schema.md, "Package fields") */
    ota_view_t   package;
    ota_view_t   version;
    ota_view_t   type;          /* "full" (also when empty) or "diff" */
    ota_view_t   pkg_from;      /* the version a diff applies to */
    ota_view_t   sign_method;   /* "md5" or "sha256" (also when empty) */
    ota_view_t   sign;          /* digest of the first file */
    ota_view_t   files;         /* JSON array text; may be empty */
    ota_view_t   ext;           /* JSON object text; may be empty */
    ota_view_t   manifest;      /* base64; empty when unsigned */
    ota_view_t   signature;     /* base64 */
    int64_t      size;          /* bytes of all files */

    /* the links */
    ota_view_t   key;           /* server key (ota_token_secret) */
    ota_view_t   prefix;        /* the device API's URL, '/' added if missing */
    int64_t      expires;       /* unix s */

    /* when set, ota_offer_text() writes the links' signatures here (65
     * bytes each: the module remembers them, ngx_ota_creds.c) */
    char        *link_sig;      /* the offered package's */
    char        *fallback_sig;  /* the fallback's, when there is one */

    /* a diff offered in place of the full package: the full package's
     * record (package .. size; the rest is taken from this offer) */
    const struct ota_offer_s  *fallback;
} ota_offer_t;

/* NULL when out of memory or the prefix is longer than
 * OTA_OFFER_PREFIX_MAX; the caller owns the object */
json_t *ota_offer_json(const ota_offer_t *o, int shape);

/* 1 when an entry of a record's "files" is offered (a valid file name and
 * an integer size), its members set (NULL when absent) */
int ota_offer_file(json_t *f, json_t **name, json_t **size, json_t **sign);

#endif /* OTA_OFFER_H */
