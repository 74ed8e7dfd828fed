/*
 * ota_offer_text.h: the HTTP upgrade answer (ota_offer.h, OTA_OFFER_HTTP)
 * as text, without a JSON tree per answer.  Made for speed: the upgrade
 * is the costliest request of a session, and most of its CPU went to
 * parsing the package's files and ext JSON and building and dumping the
 * tree on every request.
 *
 * A package record is compiled once into a template: text pieces (all
 * that depends only on the package: files, ext, digests, sizes, names)
 * and slots, the parts of one answer (the signed links' prefix and query,
 * batch, module, the task's from, the expiry, the fallback).  An answer
 * is the template's pieces and slots concatenated.  The text is byte for
 * byte what json_dumps(ota_offer_json(o, OTA_OFFER_HTTP), JSON_COMPACT |
 * JSON_REAL_PRECISION(6)) gives (the module's answer before;
 * t/unit/test_offer_text.c compares them), and fails where it fails (a
 * string that is not UTF-8, a prefix or device too long).
 *
 * The cache keeps compiled packages by id, bounded (4-way set
 * associative, least recently used out), and is a pure memo: an entry is
 * used only when the record's fields read for this answer are the very
 * bytes it was compiled from, so a changed record is compiled again and
 * a removed one is never served (the caller reads the fields each time).
 * Plain C on jansson (at compile time only); one cache per process, not
 * shared between threads.
 */

#ifndef OTA_OFFER_TEXT_H
#define OTA_OFFER_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "ota_offer.h"

/* the compiled answers of one package record (as an offer and, built on
 * first use, as the fallback of a diff) */
typedef struct ota_offer_pkg_s    ota_offer_pkg_t;
typedef struct ota_offer_cache_s  ota_offer_cache_t;

/* a compiled package bigger than this is used once and not kept */
#define OTA_OFFER_TEXT_KEEP_MAX  (64 * 1024)

/* room for about entries packages (rounded up to sets of 4); NULL without
 * memory */
ota_offer_cache_t *ota_offer_cache_new(size_t entries);
/* entries still held (ota_offer_pkg_release) are freed on their release */
void ota_offer_cache_free(ota_offer_cache_t *c);

/*
 * The compiled package whose record o holds (o->package .. o->size; the
 * rest of o is not read): the kept one when it was compiled from the same
 * fields, else compiled now and kept (unless c is NULL or it is too big).
 * *hit is 1 for a kept one.  NULL without memory or when a field cannot
 * be shaped (not UTF-8): the answer of such a record fails as
 * ota_offer_json() does.  The caller holds it until ota_offer_pkg_release.
 */
ota_offer_pkg_t *ota_offer_cache_get(ota_offer_cache_t *c,
    const ota_offer_t *o, int *hit);
void ota_offer_pkg_release(ota_offer_pkg_t *p);

/* the record fields it was compiled from (views into the package) */
const ota_offer_t *ota_offer_pkg_fields(const ota_offer_pkg_t *p);

/* entries and hits, for the debug log */
void ota_offer_cache_stats(const ota_offer_cache_t *c, uint64_t *gets,
    uint64_t *hits, size_t *kept);

/*
 * The HTTP answer of o (the task, key, prefix, expires; package fields
 * not read) for package p, and fb the full package offered as its
 * fallback (o->fallback's role), or NULL.  The text goes into a buffer
 * from alloc(ctx, size) (*len its length, no NUL); NULL when alloc fails
 * or the answer cannot be shaped (ota_offer_json() would give NULL).
 */
char *ota_offer_text(const ota_offer_pkg_t *p, const ota_offer_pkg_t *fb,
    const ota_offer_t *o, void *(*alloc)(void *ctx, size_t size), void *ctx,
    size_t *len);

#endif /* OTA_OFFER_TEXT_H */
