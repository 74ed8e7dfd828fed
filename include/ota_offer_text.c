/*
 * ota_offer_text.c: the HTTP upgrade answer from compiled packages
 * (ota_offer_text.h).  Every piece here mirrors one line of
 * ota_offer_json() (ota_offer.c) and jansson's compact dump of it;
 * t/unit/test_offer_text.c checks that they stay equal.
 */

#include "ota_offer_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ota_jesc.h"
#include "ota_names.h"
#include "ota_token.h"


#define ota_view_is(v, lit)                                                  \
    ((v).len == sizeof(lit) - 1 && strncasecmp((v).data, lit, (v).len) == 0)

/* the dump flags of the module's answers (ngx_ota_api_send_json) */
#define OTA_OT_DUMP  (JSON_COMPACT | JSON_REAL_PRECISION(6) | JSON_ENCODE_ANY)

#define OTA_OT_WAYS  4


/* the slots: what one answer adds to a package's pieces */
enum {
    OTA_OT_PREFIX = 0,      /* the device API's URL, escaped, with '/' */
    OTA_OT_QUERY,           /* "?device=..&expires=..&signature=..", escaped */
    OTA_OT_BATCH,           /* escaped, without quotes */
    OTA_OT_MODULE,
    OTA_OT_FROM,            /* the task's from */
    OTA_OT_EXPIRES,         /* digits */
    OTA_OT_FALLBACK,        /* ',"fallback":{...}' or nothing */
    OTA_OT_NSLOTS
};


typedef struct {
    uint32_t    off;        /* in text */
    uint32_t    len;
    int         slot;       /* -1: text */
} ota_ot_seg_t;


/* a compiled answer: pieces of text and slots, in one allocation */
typedef struct {
    size_t          nseg;
    size_t          text_len;
    size_t          uses[OTA_OT_NSLOTS];
    ota_ot_seg_t   *seg;
    char           *text;
} ota_ot_tpl_t;


typedef struct {
    char           *buf;
    size_t          len;
    size_t          cap;
    ota_ot_seg_t   *seg;
    size_t          nseg;
    size_t          segcap;
    size_t          uses[OTA_OT_NSLOTS];
    int             err;
} ota_ot_build_t;


struct ota_offer_pkg_s {
    ota_offer_t     f;          /* views into the copies below */
    ota_ot_tpl_t   *offer;
    ota_ot_tpl_t   *fallback;   /* the same package as a diff's fallback */
    size_t          bytes;
    uint64_t        used;       /* the cache's clock at its last use */
    unsigned        refs;
    unsigned        kept;       /* in the cache */
};


struct ota_offer_cache_s {
    ota_offer_pkg_t   **e;      /* sets of OTA_OT_WAYS */
    size_t              mask;
    uint64_t            clock;
    uint64_t            gets;
    uint64_t            hits;
    size_t              kept;
};


/* ---- the compiler --------------------------------------------------- */

static int
ota_ot_room(ota_ot_build_t *b, size_t n)
{
    char          *p;
    size_t         cap;
    ota_ot_seg_t  *s;

    if (b->err) {
        return -1;
    }

    if (b->len + n > b->cap) {
        cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) {
            cap *= 2;
        }
        p = realloc(b->buf, cap);
        if (p == NULL) {
            b->err = 1;
            return -1;
        }
        b->buf = p;
        b->cap = cap;
    }

    if (b->nseg + 1 > b->segcap) {
        cap = b->segcap ? b->segcap * 2 : 32;
        s = realloc(b->seg, cap * sizeof(ota_ot_seg_t));
        if (s == NULL) {
            b->err = 1;
            return -1;
        }
        b->seg = s;
        b->segcap = cap;
    }

    return 0;
}


/* n bytes of text were written at b->buf + b->len */
static void
ota_ot_grow(ota_ot_build_t *b, size_t n)
{
    ota_ot_seg_t  *s;

    s = b->nseg ? &b->seg[b->nseg - 1] : NULL;

    if (s != NULL && s->slot < 0) {
        s->len += n;
    } else {
        s = &b->seg[b->nseg++];
        s->off = (uint32_t) b->len;
        s->len = (uint32_t) n;
        s->slot = -1;
    }

    b->len += n;
}


static void
ota_ot_lit(ota_ot_build_t *b, const char *s, size_t n)
{
    if (ota_ot_room(b, n) != 0) {
        return;
    }

    memcpy(b->buf + b->len, s, n);
    ota_ot_grow(b, n);
}

#define ota_ot_lits(b, s)  ota_ot_lit(b, s, sizeof(s) - 1)


/* s escaped, without quotes */
static void
ota_ot_esc(ota_ot_build_t *b, const char *s, size_t len)
{
    size_t  n;

    n = ota_json_esc_len(s, len);
    if (n == (size_t) -1) {
        b->err = 1;
        return;
    }

    if (ota_ot_room(b, n) != 0) {
        return;
    }

    (void) ota_json_esc(b->buf + b->len, s, len);
    ota_ot_grow(b, n);
}


/* a JSON string of the view, as json_stringn() makes it (which refuses
 * NULL) */
static void
ota_ot_str(ota_ot_build_t *b, ota_view_t v)
{
    if (v.data == NULL) {
        b->err = 1;
        return;
    }

    ota_ot_lits(b, "\"");
    ota_ot_esc(b, v.data, v.len);
    ota_ot_lits(b, "\"");
}


static void
ota_ot_int(ota_ot_build_t *b, long long v)
{
    int   n;
    char  num[24];

    n = snprintf(num, sizeof(num), "%lld", v);
    ota_ot_lit(b, num, (size_t) n);
}


static void
ota_ot_json(ota_ot_build_t *b, json_t *v)
{
    char  *s;

    s = json_dumps(v, OTA_OT_DUMP);
    if (s == NULL) {
        b->err = 1;
        return;
    }

    ota_ot_lit(b, s, strlen(s));
    free(s);
}


static void
ota_ot_slot(ota_ot_build_t *b, int slot)
{
    ota_ot_seg_t  *s;

    if (ota_ot_room(b, 0) != 0) {
        return;
    }

    s = &b->seg[b->nseg++];
    s->off = 0;
    s->len = 0;
    s->slot = slot;
    b->uses[slot]++;
}


/* a signed link: <prefix>packages/<package>[/<file>]<query> */
static void
ota_ot_url(ota_ot_build_t *b, const ota_offer_t *o, const char *file,
    size_t len)
{
    ota_ot_lits(b, "\"");
    ota_ot_slot(b, OTA_OT_PREFIX);
    ota_ot_lits(b, "packages/");
    ota_ot_esc(b, o->package.data, o->package.len);
    if (file != NULL) {
        ota_ot_lits(b, "/");
        ota_ot_esc(b, file, len);
    }
    ota_ot_slot(b, OTA_OT_QUERY);
    ota_ot_lits(b, "\"");
}


/* ota_offer_files(): the valid files with their links */
static void
ota_ot_files(ota_ot_build_t *b, const ota_offer_t *o, json_t *files,
    long long *first_size, ota_view_t *first_sign)
{
    size_t       i, n;
    json_t      *f, *name, *size, *sign;
    ota_view_t   v;

    ota_ot_lits(b, "\"files\":[");

    n = 0;

    json_array_foreach(files, i, f) {
        if (!ota_offer_file(f, &name, &size, &sign)) {
            continue;
        }

        if (n++) {
            ota_ot_lits(b, ",");
        }

        v.data = json_string_value(name);
        v.len = json_string_length(name);

        ota_ot_lits(b, "{\"name\":");
        ota_ot_str(b, v);
        ota_ot_lits(b, ",\"size\":");
        ota_ot_int(b, (long long) json_integer_value(size));
        ota_ot_lits(b, ",\"url\":");
        ota_ot_url(b, o, v.data, v.len);

        if (json_is_string(sign)) {
            v.data = json_string_value(sign);
            v.len = json_string_length(sign);
            ota_ot_lits(b, ",\"sign\":");
            ota_ot_str(b, v);
        }

        ota_ot_lits(b, "}");

        if (n == 1) {
            *first_size = (long long) json_integer_value(size);
            if (json_is_string(sign)) {
                *first_sign = v;    /* lives as long as files */
            }
        }
    }

    ota_ot_lits(b, "]");
}


/* ota_offer_ext(): the custom key/values, the batch in the place of a
 * custom "batch" (json_object_set keeps a key's place) or last */
static void
ota_ot_ext(ota_ot_build_t *b, const ota_offer_t *o)
{
    int           batch;
    size_t        n, klen;
    json_t       *ext, *v;
    const char   *key;
    json_error_t  err;

    ota_ot_lits(b, ",\"extData\":{");

    ext = o->ext.len ? json_loadb(o->ext.data, o->ext.len, 0, &err) : NULL;
    n = 0;
    batch = 0;

    if (json_is_object(ext)) {
        json_object_keylen_foreach(ext, key, klen, v) {
            if (n++) {
                ota_ot_lits(b, ",");
            }

            if (klen == 5 && memcmp(key, "batch", 5) == 0) {
                ota_ot_lits(b, "\"batch\":\"");
                ota_ot_slot(b, OTA_OT_BATCH);
                ota_ot_lits(b, "\"");
                batch = 1;
                continue;
            }

            ota_ot_lits(b, "\"");
            ota_ot_esc(b, key, klen);
            ota_ot_lits(b, "\":");
            ota_ot_json(b, v);
        }
    }

    json_decref(ext);

    if (!batch) {
        if (n) {
            ota_ot_lits(b, ",");
        }
        ota_ot_lits(b, "\"batch\":\"");
        ota_ot_slot(b, OTA_OT_BATCH);
        ota_ot_lits(b, "\"");
    }

    ota_ot_lits(b, "}");
}


/* ota_offer_json(o, OTA_OFFER_HTTP) as pieces; as a fallback without
 * batch, module, url_expires and extData (ota_offer_fallback()) */
static ota_ot_tpl_t *
ota_ot_compile(const ota_offer_t *o, int fallback)
{
    int              md5, diff;
    char            *p;
    size_t           i;
    json_t          *files;
    long long        first_size;
    ota_view_t       sign;
    json_error_t     err;
    ota_ot_tpl_t    *t;
    ota_ot_build_t   b;

    memset(&b, 0, sizeof(ota_ot_build_t));

    files = o->files.len ? json_loadb(o->files.data, o->files.len, 0, &err)
                         : NULL;

    first_size = (long long) o->size;
    sign = o->sign;

    md5 = ota_view_is(o->sign_method, "md5");
    diff = ota_view_is(o->type, "diff");

    ota_ot_lits(&b, "{");
    if (json_is_array(files)) {
        ota_ot_files(&b, o, files, &first_size, &sign);
    } else {
        ota_ot_lits(&b, "\"files\":[]");
    }

    if (!fallback) {
        ota_ot_lits(&b, ",\"batch\":\"");
        ota_ot_slot(&b, OTA_OT_BATCH);
        ota_ot_lits(&b, "\"");
    }

    ota_ot_lits(&b, ",\"package\":");
    ota_ot_str(&b, o->package);

    if (!fallback) {
        ota_ot_lits(&b, ",\"module\":\"");
        ota_ot_slot(&b, OTA_OT_MODULE);
        ota_ot_lits(&b, "\"");
    }

    ota_ot_lits(&b, ",\"version\":");
    ota_ot_str(&b, o->version);

    if (diff) {
        /* a diff applies to one version */
        ota_ot_lits(&b, ",\"type\":\"diff\",\"from\":");
        ota_ot_str(&b, o->pkg_from);
    } else {
        ota_ot_lits(&b, ",\"type\":\"full\",\"from\":\"");
        ota_ot_slot(&b, OTA_OT_FROM);
        ota_ot_lits(&b, "\"");
    }

    ota_ot_lits(&b, ",\"size\":");
    ota_ot_int(&b, first_size);
    ota_ot_lits(&b, ",\"total_size\":");
    ota_ot_int(&b, (long long) o->size);

    if (md5) {
        ota_ot_lits(&b, ",\"sign_method\":\"md5\",\"sign\":");
    } else {
        ota_ot_lits(&b, ",\"sign_method\":\"sha256\",\"sign\":");
    }
    ota_ot_str(&b, sign);

    ota_ot_lits(&b, ",\"url\":");
    ota_ot_url(&b, o, NULL, 0);

    if (!fallback) {
        ota_ot_lits(&b, ",\"url_expires\":");
        ota_ot_slot(&b, OTA_OT_EXPIRES);
    }

    if (md5) {
        ota_ot_lits(&b, ",\"signMethod\":\"Md5\",\"md5\":");
        ota_ot_str(&b, sign);
    } else {
        ota_ot_lits(&b, ",\"signMethod\":\"SHA256\"");
    }

    if (diff) {
        ota_ot_lits(&b, ",\"isDiff\":1");
    } else {
        ota_ot_lits(&b, ",\"isDiff\":0");
    }

    if (!fallback) {
        ota_ot_ext(&b, o);
    }

    if (o->manifest.len) {
        ota_ot_lits(&b, ",\"manifest\":");
        ota_ot_str(&b, o->manifest);
        ota_ot_lits(&b, ",\"signature\":");
        ota_ot_str(&b, o->signature);
    }

    if (!fallback) {
        ota_ot_slot(&b, OTA_OT_FALLBACK);
    }

    ota_ot_lits(&b, "}");

    json_decref(files);             /* sign may point into it: used above */

    t = NULL;

    if (!b.err && b.len < UINT32_MAX) {
        t = malloc(sizeof(ota_ot_tpl_t) + b.nseg * sizeof(ota_ot_seg_t)
                   + b.len);
    }

    if (t != NULL) {
        t->nseg = b.nseg;
        t->text_len = 0;
        t->seg = (ota_ot_seg_t *) (t + 1);
        p = (char *) (t->seg + b.nseg);
        t->text = p;
        memcpy(t->seg, b.seg, b.nseg * sizeof(ota_ot_seg_t));
        memcpy(p, b.buf, b.len);
        memcpy(t->uses, b.uses, sizeof(t->uses));

        for (i = 0; i < b.nseg; i++) {
            if (b.seg[i].slot < 0) {
                t->text_len += b.seg[i].len;
            }
        }
    }

    free(b.buf);
    free(b.seg);

    return t;
}


static size_t
ota_ot_len(const ota_ot_tpl_t *t, const ota_view_t *sl)
{
    int     i;
    size_t  n;

    n = t->text_len;

    for (i = 0; i < OTA_OT_NSLOTS; i++) {
        n += t->uses[i] * sl[i].len;
    }

    return n;
}


static char *
ota_ot_put(const ota_ot_tpl_t *t, const ota_view_t *sl, char *p)
{
    size_t               i;
    const ota_ot_seg_t  *s;

    for (i = 0; i < t->nseg; i++) {
        s = &t->seg[i];

        if (s->slot < 0) {
            memcpy(p, t->text + s->off, s->len);
            p += s->len;

        } else if (sl[s->slot].len) {
            memcpy(p, sl[s->slot].data, sl[s->slot].len);
            p += sl[s->slot].len;
        }
    }

    return p;
}


/* ---- the cache ------------------------------------------------------ */

static void
ota_offer_pkg_free(ota_offer_pkg_t *p)
{
    free(p->offer);
    free(p->fallback);
    free(p);
}


static ota_offer_pkg_t *
ota_offer_pkg_compile(const ota_offer_t *o)
{
    char              *d;
    size_t             n;
    ota_offer_pkg_t   *p;
    const ota_view_t  *src[10];
    ota_view_t        *dst[10];
    int                i;

    src[0] = &o->package;      src[1] = &o->version;
    src[2] = &o->type;         src[3] = &o->pkg_from;
    src[4] = &o->sign_method;  src[5] = &o->sign;
    src[6] = &o->files;        src[7] = &o->ext;
    src[8] = &o->manifest;     src[9] = &o->signature;

    n = 0;
    for (i = 0; i < 10; i++) {
        n += src[i]->len;
    }

    p = calloc(1, sizeof(ota_offer_pkg_t) + n + 1);
    if (p == NULL) {
        return NULL;
    }

    dst[0] = &p->f.package;      dst[1] = &p->f.version;
    dst[2] = &p->f.type;         dst[3] = &p->f.pkg_from;
    dst[4] = &p->f.sign_method;  dst[5] = &p->f.sign;
    dst[6] = &p->f.files;        dst[7] = &p->f.ext;
    dst[8] = &p->f.manifest;     dst[9] = &p->f.signature;

    /* copies, so that the compiled form outlives the record it came
     * from; a NULL view stays NULL (json_stringn refuses it) */
    d = (char *) (p + 1);
    for (i = 0; i < 10; i++) {
        dst[i]->len = src[i]->len;
        dst[i]->data = src[i]->data == NULL ? NULL : d;
        if (src[i]->len) {
            memcpy(d, src[i]->data, src[i]->len);
            d += src[i]->len;
        }
    }
    *d = '\0';

    p->f.size = o->size;
    p->offer = ota_ot_compile(&p->f, 0);
    p->fallback = ota_ot_compile(&p->f, 1);

    if (p->offer == NULL || p->fallback == NULL) {
        ota_offer_pkg_free(p);
        return NULL;
    }

    p->bytes = sizeof(ota_offer_pkg_t) + n
               + p->offer->text_len + p->fallback->text_len
               + (p->offer->nseg + p->fallback->nseg) * sizeof(ota_ot_seg_t);
    p->refs = 1;

    return p;
}


#define ota_view_eq(a, b)                                                    \
    ((a).len == (b).len && ((a).len == 0 || memcmp((a).data, (b).data,       \
                                                   (a).len) == 0))

/* the record is the one p was compiled from */
static int
ota_offer_pkg_same(const ota_offer_pkg_t *p, const ota_offer_t *o)
{
    const ota_offer_t  *f = &p->f;

    /* the largest fields last */
    return f->size == o->size
           && ota_view_eq(f->package, o->package)
           && ota_view_eq(f->version, o->version)
           && ota_view_eq(f->type, o->type)
           && ota_view_eq(f->pkg_from, o->pkg_from)
           && ota_view_eq(f->sign_method, o->sign_method)
           && ota_view_eq(f->sign, o->sign)
           && ota_view_eq(f->signature, o->signature)
           && ota_view_eq(f->ext, o->ext)
           && ota_view_eq(f->files, o->files)
           && ota_view_eq(f->manifest, o->manifest);
}


ota_offer_cache_t *
ota_offer_cache_new(size_t entries)
{
    size_t              sets;
    ota_offer_cache_t  *c;

    sets = 1;
    while (sets * OTA_OT_WAYS < entries && sets < (1u << 20)) {
        sets <<= 1;
    }

    c = calloc(1, sizeof(ota_offer_cache_t));
    if (c == NULL) {
        return NULL;
    }

    c->e = calloc(sets * OTA_OT_WAYS, sizeof(ota_offer_pkg_t *));
    if (c->e == NULL) {
        free(c);
        return NULL;
    }

    c->mask = sets - 1;

    return c;
}


static void
ota_offer_cache_drop(ota_offer_cache_t *c, ota_offer_pkg_t **slot)
{
    ota_offer_pkg_t  *p;

    p = *slot;
    *slot = NULL;
    c->kept--;
    p->kept = 0;

    if (p->refs == 0) {
        ota_offer_pkg_free(p);
    }
}


void
ota_offer_cache_free(ota_offer_cache_t *c)
{
    size_t  i;

    if (c == NULL) {
        return;
    }

    for (i = 0; i < (c->mask + 1) * OTA_OT_WAYS; i++) {
        if (c->e[i] != NULL) {
            ota_offer_cache_drop(c, &c->e[i]);
        }
    }

    free(c->e);
    free(c);
}


ota_offer_pkg_t *
ota_offer_cache_get(ota_offer_cache_t *c, const ota_offer_t *o, int *hit)
{
    size_t             i, w;
    uint32_t           h;
    ota_offer_pkg_t   *p, **set;

    *hit = 0;
    set = NULL;

    if (c != NULL) {
        c->gets++;

        /* FNV-1a of the id */
        h = 2166136261u;
        for (i = 0; i < o->package.len; i++) {
            h = (h ^ (unsigned char) o->package.data[i]) * 16777619u;
        }

        set = &c->e[(h & c->mask) * OTA_OT_WAYS];

        for (w = 0; w < OTA_OT_WAYS; w++) {
            p = set[w];

            if (p == NULL || !ota_view_eq(p->f.package, o->package)) {
                continue;
            }

            if (ota_offer_pkg_same(p, o)) {
                p->used = ++c->clock;
                p->refs++;
                c->hits++;
                *hit = 1;
                return p;
            }

            /* the record changed: compiled again below */
            ota_offer_cache_drop(c, &set[w]);
            break;
        }
    }

    p = ota_offer_pkg_compile(o);
    if (p == NULL || set == NULL || p->bytes > OTA_OFFER_TEXT_KEEP_MAX) {
        return p;
    }

    /* a free way, else the least recently used */
    w = 0;
    for (i = 0; i < OTA_OT_WAYS; i++) {
        if (set[i] == NULL) {
            w = i;
            break;
        }
        if (set[i]->used < set[w]->used) {
            w = i;
        }
    }

    if (set[w] != NULL) {
        ota_offer_cache_drop(c, &set[w]);
    }

    set[w] = p;
    p->kept = 1;
    p->used = ++c->clock;
    c->kept++;

    return p;
}


void
ota_offer_pkg_release(ota_offer_pkg_t *p)
{
    if (p == NULL) {
        return;
    }

    if (--p->refs == 0 && !p->kept) {
        ota_offer_pkg_free(p);
    }
}


const ota_offer_t *
ota_offer_pkg_fields(const ota_offer_pkg_t *p)
{
    return &p->f;
}


void
ota_offer_cache_stats(const ota_offer_cache_t *c, uint64_t *gets,
    uint64_t *hits, size_t *kept)
{
    *gets = c ? c->gets : 0;
    *hits = c ? c->hits : 0;
    *kept = c ? c->kept : 0;
}


/* ---- one answer ----------------------------------------------------- */

/* the escaped query of the links to package id (ota_offer_links()) */
static size_t
ota_ot_query(const ota_offer_t *o, const ota_view_t *id, char *q, size_t room,
    char *out)
{
    int   n;
    char  sig[OTA_HEX_SHA256_LEN + 1];

    ota_link_sign(o->key.data, o->key.len, id->data, id->len,
                  o->device.data, o->device.len, o->expires, sig);

    if (out != NULL) {
        memcpy(out, sig, sizeof(sig));
    }

    n = snprintf(q, room, "?device=%.*s&expires=%lld&signature=%s",
                 (int) o->device.len, o->device.data,
                 (long long) o->expires, sig);

    return (n < 0 || (size_t) n >= room) ? (size_t) -1 : (size_t) n;
}


/* an escaped slot's length, or -1 */
static size_t
ota_ot_esc_slot(ota_view_t v, size_t uses)
{
    if (uses == 0) {
        return 0;
    }

    if (v.data == NULL) {
        return (size_t) -1;
    }

    return ota_json_esc_len(v.data, v.len);
}


#define OTA_OT_QUERY_MAX  (sizeof("?device=&expires=&signature=")           \
                           + OTA_NAME_MAX + 24 + OTA_HEX_SHA256_LEN)

char *
ota_offer_text(const ota_offer_pkg_t *p, const ota_offer_pkg_t *fb,
    const ota_offer_t *o, void *(*alloc)(void *ctx, size_t size), void *ctx,
    size_t *len)
{
    int            slash, i;
    char          *out, *s;
    size_t         n, qn, fqn, uses[OTA_OT_NSLOTS], el[OTA_OT_NSLOTS],
                   fbl, total, qel, fqel;
    ota_view_t     sl[OTA_OT_NSLOTS];
    char           q[OTA_OT_QUERY_MAX], fq[OTA_OT_QUERY_MAX], num[24];
    const ota_ot_tpl_t  *t, *ft;

    if (o->prefix.len > OTA_OFFER_PREFIX_MAX || o->device.len > OTA_NAME_MAX
        || o->prefix.data == NULL)
    {
        return NULL;
    }

    t = p->offer;
    ft = fb != NULL ? fb->fallback : NULL;

    /* where each slot is used at all (ota_offer_json() checks only the
     * strings it sets) */
    for (i = 0; i < OTA_OT_NSLOTS; i++) {
        uses[i] = t->uses[i] + (ft != NULL ? ft->uses[i] : 0);
    }

    qn = ota_ot_query(o, &p->f.package, q, sizeof(q), o->link_sig);
    fqn = ft != NULL ? ota_ot_query(o, &fb->f.package, fq, sizeof(fq),
                                    o->fallback_sig)
                     : 0;
    if (qn == (size_t) -1 || fqn == (size_t) -1) {
        return NULL;
    }

    slash = o->prefix.len == 0 || o->prefix.data[o->prefix.len - 1] != '/';

    el[OTA_OT_PREFIX] = ota_json_esc_len(o->prefix.data, o->prefix.len);
    el[OTA_OT_BATCH] = ota_ot_esc_slot(o->batch, uses[OTA_OT_BATCH]);
    el[OTA_OT_MODULE] = ota_ot_esc_slot(o->module, uses[OTA_OT_MODULE]);
    el[OTA_OT_FROM] = ota_ot_esc_slot(o->task_from, uses[OTA_OT_FROM]);
    qel = ota_json_esc_len(q, qn);
    fqel = ota_json_esc_len(fq, fqn);

    if (el[OTA_OT_PREFIX] == (size_t) -1 || el[OTA_OT_BATCH] == (size_t) -1
        || el[OTA_OT_MODULE] == (size_t) -1 || el[OTA_OT_FROM] == (size_t) -1
        || qel == (size_t) -1 || fqel == (size_t) -1)
    {
        return NULL;
    }

    n = snprintf(num, sizeof(num), "%lld", (long long) o->expires);

    /* the slots' text after the answer, in the same allocation */
    sl[OTA_OT_PREFIX].len = el[OTA_OT_PREFIX] + slash;
    sl[OTA_OT_QUERY].len = qel;
    sl[OTA_OT_BATCH].len = el[OTA_OT_BATCH];
    sl[OTA_OT_MODULE].len = el[OTA_OT_MODULE];
    sl[OTA_OT_FROM].len = el[OTA_OT_FROM];
    sl[OTA_OT_EXPIRES].len = n;
    sl[OTA_OT_FALLBACK].len = 0;

    fbl = 0;
    if (ft != NULL) {
        /* the fallback's own query in its links */
        sl[OTA_OT_QUERY].len = fqel;
        fbl = sizeof(",\"fallback\":") - 1 + ota_ot_len(ft, sl);
        sl[OTA_OT_QUERY].len = qel;
        sl[OTA_OT_FALLBACK].len = fbl;
    }

    total = ota_ot_len(t, sl);
    n = total + sl[OTA_OT_PREFIX].len + qel + fqel + sl[OTA_OT_BATCH].len
        + sl[OTA_OT_MODULE].len + sl[OTA_OT_FROM].len + n + fbl;

    out = alloc(ctx, n);
    if (out == NULL) {
        return NULL;
    }

    s = out + total;

    sl[OTA_OT_PREFIX].data = s;
    s = ota_json_esc(s, o->prefix.data, o->prefix.len);
    if (slash) {
        *s++ = '/';
    }

    sl[OTA_OT_BATCH].data = s;
    if (uses[OTA_OT_BATCH]) {
        s = ota_json_esc(s, o->batch.data, o->batch.len);
    }

    sl[OTA_OT_MODULE].data = s;
    if (uses[OTA_OT_MODULE]) {
        s = ota_json_esc(s, o->module.data, o->module.len);
    }

    sl[OTA_OT_FROM].data = s;
    if (uses[OTA_OT_FROM]) {
        s = ota_json_esc(s, o->task_from.data, o->task_from.len);
    }

    sl[OTA_OT_EXPIRES].data = s;
    s = memcpy(s, num, sl[OTA_OT_EXPIRES].len);
    s += sl[OTA_OT_EXPIRES].len;

    sl[OTA_OT_FALLBACK].data = s;

    if (ft != NULL) {
        sl[OTA_OT_QUERY].data = s + fbl;
        sl[OTA_OT_QUERY].len = fqel;
        (void) ota_json_esc(s + fbl, fq, fqn);

        memcpy(s, ",\"fallback\":", sizeof(",\"fallback\":") - 1);
        s = ota_ot_put(ft, sl, s + sizeof(",\"fallback\":") - 1);
        s += fqel;
    }

    sl[OTA_OT_QUERY].data = s;
    sl[OTA_OT_QUERY].len = qel;
    (void) ota_json_esc(s, q, qn);

    (void) ota_ot_put(t, sl, out);

    *len = total;

    return out;
}
