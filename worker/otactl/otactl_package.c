/* otactl package add|show|list and link: the package store and its records */

#include "otactl.h"

#include "ota_audit.h"
#include "ota_delta.h"
#include "ota_package.h"
#include "ota_store.h"
#include "otactl_lua.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "ota_names.h"
#include "ota_stats.h"
#include "ota_token.h"
#include "ota_version.h"


static int otactl_package_store(otactl_t *o, otactl_pkg_spec_t *sp);
static int otactl_package_diff(otactl_t *o, int argc, char **argv);

/* path building: a path too long to fit is refused, never cut */
static int
otactl_path(char *buf, size_t len, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t) n >= len) ? -1 : 0;
}

/* copies src to dir/name through the store's one way (include/ota_store.h:
 * a temp name, the digests computed on the way, read-only once in place) */
static int
otactl_copy(const char *src, const char *dir, const char *name,
    const EVP_MD *md, long long expect, int follow, char *hex, char *sha)
{
    unsigned char     buf[1 << 16];
    ota_store_file_t  f;
    ssize_t           n;
    int               in, md5 = md != EVP_sha256();

    /* a link is published only when asked for (--follow-symlinks); the
     * check was made before, O_NOFOLLOW closes the window since */
    in = open(src, O_RDONLY | (follow ? 0 : O_NOFOLLOW));
    if (in < 0) {
        otactl_fail("cannot read %s: %s", src, errno == ELOOP
                    ? "it is a symbolic link (--follow-symlinks publishes "
                      "the file it points to)" : strerror(errno));
        return -1;
    }
    if (ota_store_file_open(&f, dir, name, md5) != 0) {
        otactl_fail("%s", f.err);
        close(in);
        return -1;
    }

    for ( ;; ) {
        n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            otactl_fail("cannot read %s: %s", src, strerror(errno));
            goto failed;
        }
        if (n == 0) {
            break;
        }
        if (ota_store_file_write(&f, buf, (size_t) n) != 0) {
            otactl_fail("%s", f.err);
            goto failed;
        }
    }

    if (f.size != expect) {
        otactl_fail("%s changed while it was copied; try again", src);
        goto failed;
    }
    /* the manifest names each file's sha256 whatever the sign method */
    if (ota_store_file_close(&f, sha, md5 ? hex : NULL) != 0) {
        otactl_fail("%s", f.err);
        close(in);
        return -1;
    }
    if (!md5) {
        memcpy(hex, sha, OTA_HEX_SHA256_LEN + 1);
    }
    close(in);
    return 0;

failed:
    ota_store_file_abort(&f);
    close(in);
    return -1;
}

static int otactl_api_package_add(otactl_t *o, otactl_pkg_spec_t *sp,
    otactl_opt_t *ext);

static int
otactl_package_add(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                               { "module", OTACTL_ARG, 0, 0, 0 },
                               { "name", OTACTL_ARG, 0, 0, 0 },
                               { "version", OTACTL_ARG, 0, 0, 0 },
                               { "type", OTACTL_ARG, 0, 0, 0 },
                               { "from", OTACTL_ARG, 0, 0, 0 },
                               { "sign", OTACTL_ARG, 0, 0, 0 },
                               { "verify", OTACTL_FLAG, 0, 0, 0 },
                               { "desc", OTACTL_ARG, 0, 0, 0 },
                               { "ext", OTACTL_MULTI, 0, 0, 0 },
                               { "follow-symlinks", OTACTL_FLAG, 0, 0, 0 },
                               { "sign-key", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t        pos;
    otactl_file_t       files[OTACTL_MAX_FILES];
    ota_package_file_t  pf[OTACTL_MAX_FILES];
    otactl_pkg_spec_t   sp;
    otactl_opt_t       *ext;
    ota_package_t       pkg;
    ota_check_t         chk;
    struct stat         st;
    long long           total = 0;
    int                 i, rc, follow;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "package add")) != 0) {
        return rc;
    }
    /* ---- the arguments, before touching anything: the checks the admin
     * API's upload makes too (include/ota_package.h) ---- */
    ota_check_init(&chk, 0);
    if (ota_package_check_nfiles(&chk, pos.npos) != 0) {
        return otactl_fail("%s", chk.msg);
    }
    ota_package_init(&pkg);
    pkg.product = otactl_opt(opts, "product");
    pkg.module = otactl_opt(opts, "module");
    pkg.name = otactl_opt(opts, "name");
    pkg.version = otactl_opt(opts, "version");
    pkg.type = otactl_opt(opts, "type");
    pkg.from = otactl_opt(opts, "from");
    pkg.sign = otactl_opt(opts, "sign");
    pkg.desc = otactl_opt(opts, "desc");
    pkg.verify = otactl_opt(opts, "verify") != NULL;
    follow = otactl_opt(opts, "follow-symlinks") != NULL;
    ext = otactl_optp(opts, "ext");
    for (i = 0; i < ext->nvals && i < OTA_PKG_EXT_MAX; i++) {
        pkg.ext[i] = ext->vals[i];
    }
    pkg.next = ext->nvals;
    if (ota_package_check(&chk, &pkg) != 0) {
        ota_package_free(&pkg);
        return otactl_fail("%s", chk.msg);
    }

    /* the platform's extensions and size limit (otactl config) */
    if ((rc = otactl_settings_load(o)) != 0) {
        ota_package_free(&pkg);
        return rc > 0 ? rc : OTACTL_UNAVAIL;
    }

    for (i = 0; i < pos.npos; i++) {
        const char *p = pos.pos[i], *b = strrchr(p, '/');

        files[i].path = p;
        files[i].name = b ? b + 1 : p;
        /* a symbolic link named x.bin may point at any readable file:
         * published only when asked for, like cp -L or tar -h */
        if (lstat(p, &st) != 0) {
            ota_package_free(&pkg);
            return otactl_fail("cannot read %s: %s", p, strerror(errno));
        }
        if (S_ISLNK(st.st_mode) && !follow) {
            char     target[4096];
            ssize_t  tl = readlink(p, target, sizeof(target) - 1);

            target[tl > 0 ? tl : 0] = '\0';
            ota_package_free(&pkg);
            return otactl_fail("%s is a symbolic link (to %s): pass "
                               "--follow-symlinks to publish the file it "
                               "points to, or give that file", p,
                               tl > 0 ? target : "?");
        }
        if (S_ISLNK(st.st_mode) && stat(p, &st) != 0) {
            ota_package_free(&pkg);
            return otactl_fail("cannot read %s: %s", p, strerror(errno));
        }
        if (!S_ISREG(st.st_mode)) {
            ota_package_free(&pkg);
            return otactl_fail("%s is not a regular file", p);
        }
        if (ota_package_check_file_name(&chk, &o->settings, files[i].name,
                                        pf, i) != 0
            || ota_package_check_file_size(&chk, &o->settings, p,
                                           (long long) st.st_size) != 0)
        {
            ota_package_free(&pkg);
            return otactl_fail("%s", chk.msg);
        }
        snprintf(pf[i].name, sizeof(pf[i].name), "%s", files[i].name);
        files[i].size = st.st_size;
        files[i].offset = total;
        total += st.st_size;
    }

    memset(&sp, 0, sizeof(sp));
    sp.prod = pkg.product;
    sp.mod = pkg.module;
    sp.name = pkg.name;
    sp.type = pkg.type;
    sp.sign = pkg.sign;
    sp.desc = pkg.desc;
    sp.ver = pkg.vbuf;
    sp.from = pkg.fbuf;
    sp.sign_key = otactl_opt(opts, "sign-key");
    sp.md = pkg.md5 ? EVP_md5() : EVP_sha256();
    sp.verify = pkg.verify;
    sp.follow = follow;
    sp.jext = pkg.ext_json;
    sp.files = files;
    sp.nfiles = pos.npos;
    sp.total = total;

    rc = o->api ? otactl_api_package_add(o, &sp, ext)
                : otactl_package_store(o, &sp);
    ota_package_free(&pkg);
    return rc;
}


static int
otactl_json_is(json_t *j, const char *k, const char *want)
{
    const char  *v = json_string_value(json_object_get(j, k));

    return v != NULL ? strcmp(v, want) == 0 : want[0] == '\0';
}


/*
 * package add --sign-key over the API, after the upload (sign_later) or
 * on a rerun: signs the package of j (its "id"; j is taken) and prints
 * what direct mode prints.  A failure leaves the package waiting, and says
 * that the same command finishes it.
 */
static int
otactl_api_package_signed(otactl_t *o, otactl_pkg_spec_t *sp, json_t *j)
{
    json_t      *s;
    const char  *id;
    char         idb[OTA_NAME_MAX + 1];
    int          rc;

    id = json_string_value(json_object_get(j, "id"));
    snprintf(idb, sizeof(idb), "%s", id ? id : "");
    rc = otactl_api_sign_package(o, sp, idb, &s);
    if (rc != OTACTL_OK) {
        fprintf(stderr, "otactl: package %s is uploaded and waits for its "
                "signature: run the same command again to finish it\n", idb);
        json_decref(j);
        return rc;
    }
    if (o->json) {
        json_t *out = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?}",
            "id", idb,
            "sign_method", json_object_get(j, "sign_method"),
            "sign", json_object_get(j, "sign"),
            "size", json_object_get(j, "size"),
            "state", json_object_get(s, "state"),
            "sign_key", json_object_get(s, "sign_key"));
        otactl_print_json(out);
    } else {
        printf("%s\n", idb);
    }
    json_decref(s);
    json_decref(j);
    return OTACTL_OK;
}


/*
 * The package an earlier package add --sign-key left waiting for its
 * signature: the readable id of sp (the server's first choice, as
 * ota_package_id() makes it), when it names this product, module and
 * version(s) and is unsigned.  OTACTL_OK with *j its record or NULL.
 */
static int
otactl_api_package_waiting(otactl_t *o, otactl_pkg_spec_t *sp, json_t **j)
{
    ota_package_t  idp;
    char           id[OTA_NAME_MAX + 1], path[256], *esc;
    long           st;
    int            rc;
    const char    *v;

    *j = NULL;
    ota_package_init(&idp);
    idp.product = sp->prod;
    idp.module = sp->mod;
    snprintf(idp.vbuf, sizeof(idp.vbuf), "%s", sp->ver);
    snprintf(idp.fbuf, sizeof(idp.fbuf), "%s", sp->from ? sp->from : "");
    ota_package_id(&idp, id);
    if (id[0] == '\0') {
        return OTACTL_OK;
    }
    esc = otactl_api_esc(o, id);
    if (esc == NULL) {
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "packages/%s", esc);
    otactl_api_free(esc);
    st = 0;
    rc = otactl_api_get(o, path, OTACTL_API_404, j, &st);
    if (rc != OTACTL_OK || *j == NULL) {
        return rc;
    }
    v = json_string_value(json_object_get(*j, "state"));
    if (v == NULL || strcmp(v, OTA_PKG_UNSIGNED) != 0
        || !otactl_json_is(*j, "product", sp->prod)
        || !otactl_json_is(*j, "module", sp->mod)
        || !otactl_json_is(*j, "version", sp->ver)
        || !otactl_json_is(*j, "from", sp->from ? sp->from : ""))
    {
        json_decref(*j);
        *j = NULL;
    }
    return OTACTL_OK;
}


/*
 * package add over the admin API: the files checked here as direct mode
 * checks them (the server checks them again), then POST packages as
 * multipart/form-data, the fields first and the files after them in
 * their order, so the server refuses a bad file name before its bytes.
 * curl reads each file as it sends it: never a whole file in memory.
 */
static int
otactl_api_package_add(otactl_t *o, otactl_pkg_spec_t *sp, otactl_opt_t *ext)
{
    otactl_mime_t  *m;
    json_t         *j;
    int             i, rc, err = 0;

    if (sp->sign_key != NULL) {
        otactl_signed_t  sg;

        /* the product's policy against the key, before anything is sent
         * (direct mode checks it before any file is copied) */
        memset(&sg, 0, sizeof(sg));
        rc = otactl_sign_policy(o, sp->prod, sp->sign_key, &sg);
        otactl_signed_free(&sg);
        if (rc != 0) {
            return OTACTL_FAIL;
        }

        /* a rerun finishes the package an earlier run left unsigned */
        rc = otactl_api_package_waiting(o, sp, &j);
        if (rc != OTACTL_OK || j != NULL) {
            return rc != OTACTL_OK ? rc : otactl_api_package_signed(o, sp, j);
        }
    }

    m = otactl_mime_new(o);
    if (m == NULL) {
        return otactl_fail("out of memory");
    }
    err |= otactl_mime_field(m, "product", sp->prod);
    err |= otactl_mime_field(m, "module", sp->mod);
    err |= otactl_mime_field(m, "name", sp->name);
    err |= otactl_mime_field(m, "version", sp->ver);
    err |= otactl_mime_field(m, "type", sp->type ? sp->type : "full");
    if (sp->from != NULL && sp->from[0]) {
        err |= otactl_mime_field(m, "from", sp->from);
    }
    err |= otactl_mime_field(m, "sign", sp->sign ? sp->sign : "sha256");
    err |= otactl_mime_field(m, "verify", sp->verify ? "true" : "false");
    if (sp->desc != NULL) {
        err |= otactl_mime_field(m, "desc", sp->desc);
    }
    for (i = 0; i < ext->nvals; i++) {
        err |= otactl_mime_field(m, "ext", ext->vals[i]);
    }
    if (sp->sign_key != NULL) {
        err |= otactl_mime_field(m, "sign_later", "1");
    }
    for (i = 0; i < sp->nfiles; i++) {
        err |= otactl_mime_file(m, sp->files[i].path, sp->files[i].name);
    }
    if (err) {
        otactl_mime_free(m);
        return otactl_fail("out of memory");
    }

    rc = otactl_api_upload(o, "packages", m, &j, NULL);
    otactl_mime_free(m);
    if (rc != OTACTL_OK) {
        return rc;
    }
    if (sp->sign_key != NULL) {
        return otactl_api_package_signed(o, sp, j);
    }
    if (o->json) {
        otactl_print_json(j);
    } else {
        printf("%s\n", json_string_value(json_object_get(j, "id")));
        json_decref(j);
    }
    return OTACTL_OK;
}


/*
 * Stores a checked package: the module exists and the version is free
 * (and for a product that requires signatures, the package is signed with
 * its key), the files are copied with their digests, the manifest goes
 * last, then the record.  Nothing stays behind on a failure.
 */
static int
otactl_package_store(otactl_t *o, otactl_pkg_spec_t *sp)
{
    const char     *prod = sp->prod, *mod = sp->mod, *type = sp->type;
    const char     *sign = sp->sign, *vbuf = sp->ver, *fbuf = sp->from;
    otactl_file_t  *files = sp->files;
    json_t         *jext = sp->jext;
    struct stat     st;
    char            id[OTA_NAME_MAX + 1], dir[4096], hex[17], now[32];
    char            slot[3 * OTA_NAME_MAX + 8];
    char           *files_js = NULL, *ext_js = NULL;
    json_t         *jfiles, *man;
    otactl_signed_t sg;
    redisReply     *r;
    ota_cmd_t       c;
    long long       total = sp->total;
    int             i, rc;

    memset(&sg, 0, sizeof(sg));

    if (o->store == NULL) {
        return otactl_fail("no package store: set --store DIR or OTA_STORE");
    }
    if (stat(o->store, &st) != 0 || !S_ISDIR(st.st_mode)
        || access(o->store, W_OK) != 0)
    {
        return otactl_fail("package store %s is not a writable directory",
                           o->store);
    }

    /* ---- Redis: the module exists, no duplicate ---- */
    r = otactl_cmd(o, "HEXISTS " OTA_KEY_PRODUCT_MODULES " %s", prod, mod);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    if (r->integer == 0) {
        freeReplyObject(r);
        return otactl_fail("no module %s in product %s (otactl module add %s "
                           "--product %s)", mod, prod, mod, prod);
    }
    freeReplyObject(r);
    /* a full package's slot is its version, a diff's its two versions */
    if (fbuf[0]) {
        snprintf(slot, sizeof(slot), "%s>%s", fbuf, vbuf);
    } else {
        snprintf(slot, sizeof(slot), "%s", vbuf);
    }
    r = otactl_cmd(o, "HGET " OTA_KEY_PRODUCT_PKGVER " %s:%s", prod, mod,
                   slot);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    if (r->type == REDIS_REPLY_STRING) {
        rc = fbuf[0]
             ? otactl_fail("product %s module %s already has a diff from %s "
                           "to %s (package %s)", prod, mod, fbuf, vbuf, r->str)
             : otactl_fail("product %s module %s already has version %s "
                           "(package %s)", prod, mod, vbuf, r->str);
        freeReplyObject(r);
        return rc;
    }
    freeReplyObject(r);

    /* the product's signing policy, before any file is copied (a package
     * to be signed later waits in state unsigned instead) */
    if (!sp->sign_later
        && otactl_sign_policy(o, prod, sp->sign_key, &sg) != 0)
    {
        return OTACTL_FAIL;
    }

    /* ---- the id: readable when it can be, random otherwise (the
     * upload's rule too: ota_package_id()) ---- */
    {
        ota_package_t  idp;

        ota_package_init(&idp);
        idp.product = prod;
        idp.module = mod;
        snprintf(idp.vbuf, sizeof(idp.vbuf), "%s", vbuf);
        snprintf(idp.fbuf, sizeof(idp.fbuf), "%s", fbuf);
        ota_package_id(&idp, id);
    }
    if (otactl_path(dir, sizeof(dir), "%s/%s", o->store, id) != 0) {
        return otactl_fail("package store path too long");
    }
    if (id[0] == '\0' || !ota_name_id(id, strlen(id))
        || mkdir(dir, 0755) != 0)
    {
        if (ota_random_hex(hex, 8) != 0) {
            otactl_signed_free(&sg);
            return otactl_fail("no randomness for the package id");
        }
        snprintf(id, sizeof(id), "pkg-%s", hex);
        otactl_path(dir, sizeof(dir), "%s/%s", o->store, id);
        if (mkdir(dir, 0755) != 0) {
            otactl_signed_free(&sg);
            return otactl_fail("cannot create %s: %s", dir, strerror(errno));
        }
    }
    chmod(dir, 0755);

    /* ---- files, then the manifest last ---- */
    jfiles = json_array();
    man = NULL;
    for (i = 0; i < sp->nfiles; i++) {
        if (otactl_copy(files[i].path, dir, files[i].name, sp->md,
                        files[i].size, sp->follow, files[i].sign,
                        files[i].sha256) != 0)
        {
            goto failed;
        }
        json_array_append_new(jfiles, json_pack("{s:s, s:I, s:s, s:I}",
            "name", files[i].name, "size", (json_int_t) files[i].size,
            "sign", files[i].sign, "offset", (json_int_t) files[i].offset));
    }
    /* the signed manifest names each file's sha256 (docs/signing.md) */
    if ((sg.key != NULL || sp->sign_later)
        && otactl_sign_package(id, sp, &sg) != 0)
    {
        goto failed;
    }
    man = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:O}",
        "id", id, "product", prod, "module", mod, "version", vbuf,
        "type", type, "from", fbuf, "sign_method", sign,
        "size", (json_int_t) total, "files", jfiles);
    if (man == NULL) {
        otactl_fail("out of memory");
        goto failed;
    }
    {
        char  err[OTA_STORE_ERR_MAX];

        if (ota_store_manifest(dir, man, err, sizeof(err)) != 0) {
            otactl_fail("%s", err);
            goto failed;
        }
    }

    /* ---- the record ---- */
    files_js = json_dumps(jfiles, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ext_js = json_dumps(jext, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (files_js == NULL || ext_js == NULL) {
        otactl_fail("out of memory");
        goto failed;
    }
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));

    ota_cmd_init(&c);
    ota_cmd_adds(&c, id);
    ota_cmd_adds(&c, prod);
    ota_cmd_adds(&c, mod);
    ota_cmd_adds(&c, slot);
    ota_cmd_adds(&c, now);
    ota_cmd_adds(&c, sp->target ? sp->target : "");
    ota_cmd_adds(&c, fbuf);
    ota_cmd_adds(&c, sp->sign_later ? "later" : sg.manifest ? "1" : "0");
    /* the record's fields as the API's upload writes them
     * (ota_package_record), then what only otactl adds */
    {
        ota_package_t              pk;
        ota_package_file_t        *pf;
        ota_package_record_bufs_t  bufs;
        const char                *fk[OTA_PKG_RECORD_MAX];
        const char                *fv[OTA_PKG_RECORD_MAX];
        int                        k, nf;

        pf = calloc((size_t) sp->nfiles, sizeof(ota_package_file_t));
        if (pf == NULL) {
            ota_cmd_free(&c);
            otactl_fail("out of memory");
            goto failed;
        }
        ota_package_init(&pk);
        pk.product = prod;
        pk.module = mod;
        pk.name = sp->name;
        pk.type = type;
        pk.sign = sign;
        pk.desc = sp->desc;
        pk.verify = sp->verify;
        snprintf(pk.vbuf, sizeof(pk.vbuf), "%s", vbuf);
        snprintf(pk.fbuf, sizeof(pk.fbuf), "%s", fbuf);
        for (i = 0; i < sp->nfiles; i++) {
            pf[i].size = files[i].size;
            pf[i].offset = files[i].offset;
            snprintf(pf[i].sign, sizeof(pf[i].sign), "%s", files[i].sign);
        }
        nf = ota_package_record(&pk, id, pf, sp->nfiles, files_js, ext_js,
                                atoll(now), &bufs, fk, fv);
        for (k = 0; k < nf; k++) {
            ota_cmd_adds(&c, fk[k]);
            /* sign_later: unsigned, then the state it would have had */
            if (sp->sign_later && strcmp(fk[k], "state") == 0) {
                ota_cmd_adds(&c, OTA_PKG_UNSIGNED);
                ota_cmd_adds(&c, "sign_then");
            }
            ota_cmd_adds(&c, fv[k]);
        }
        free(pf);
    }
#define F(k, val) ota_cmd_adds(&c, k); ota_cmd_adds(&c, val)
    if (sg.manifest != NULL && sp->sign_later) {
        F("manifest", sg.manifest);
    } else if (sg.manifest != NULL) {
        F("manifest", sg.manifest);
        F("signature", sg.signature);
        F("sign_key", sg.key_id);
    }
    if (sp->base != NULL) {
        F("base", sp->base);
        F("target", sp->target);
    }
#undef F
    r = otactl_script(o, &otactl_lua_scripts[OTACTL_LUA_PACKAGE_ADD], &c);
    ota_cmd_free(&c);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        otactl_fail("Redis: %s", r ? ota_reply_str(r)
                    : (o->rc ? o->rc->errstr : "no connection"));
        freeReplyObject(r);
        goto failed;
    }
    if (strcmp(ota_reply_str(r->element[0]), "ok") != 0) {
        const char *why = ota_reply_str(r->element[0]);
        if (strcmp(why, "duplicate") == 0) {
            otactl_fail("product %s module %s already has version %s "
                        "(package %s)", prod, mod, vbuf,
                        ota_reply_str(r->element[1]));
        } else if (strcmp(why, "nomodule") == 0) {
            otactl_fail("no module %s in product %s", mod, prod);
        } else if (strcmp(why, "unsigned") == 0) {
            otactl_fail("product %s requires signed packages: add it with "
                        "--sign-key KEY (otactl product set %s "
                        "--no-require-signed lifts it)", prod, prod);
        } else if (strcmp(why, "notarget") == 0) {
            otactl_fail("package %s is gone", sp->target);
        } else {
            otactl_fail("package id %s is taken; try again", id);
        }
        freeReplyObject(r);
        goto failed;
    }
    freeReplyObject(r);
    otactl_audit(o, OTA_ACT_PACKAGE_ADD, id, 201, NULL);

    if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", id,
            "sign_method", sign, "sign", files[0].sign, "size",
            (json_int_t) total, "state", sp->sign_later ? OTA_PKG_UNSIGNED
            : sp->verify ? OTA_PKG_UNVERIFIED : OTA_PKG_READY);
        if (j != NULL && sg.manifest != NULL && !sp->sign_later) {
            json_object_set_new(j, "sign_key", json_string(sg.key_id));
        }
        otactl_print_json(j);
    } else {
        printf("%s\n", id);
    }
    otactl_signed_free(&sg);
    free(files_js);
    free(ext_js);
    json_decref(man);
    json_decref(jfiles);
    return OTACTL_OK;

failed:
    /* nothing stays behind: no record was written, remove the files */
    ota_store_rmtree(dir);
    otactl_signed_free(&sg);
    free(files_js);
    free(ext_js);
    json_decref(man);
    json_decref(jfiles);
    return OTACTL_FAIL;
}

/* GET packages/<id>: otactl_package_json()'s fields (the API answers the
 * record's, and "verify_progress" null when it has none: left out, as
 * direct mode leaves it) */
static json_t *
otactl_api_package_json(otactl_t *o, const char *id, int *missing, int *rc)
{
    json_t  *j;
    char     path[128];

    *missing = 0;
    snprintf(path, sizeof(path), "packages/%s", id);
    *rc = otactl_api_get(o, path, OTACTL_API_404, &j, NULL);
    if (*rc == OTACTL_OK && j == NULL) {
        *missing = 1;
        *rc = OTACTL_FAIL;
    }
    if (j != NULL && json_is_null(json_object_get(j, "verify_progress"))) {
        json_object_del(j, "verify_progress");
    }
    return j;
}

/* the package record as JSON, with its verify batch's progress */
static json_t *
otactl_package_json(otactl_t *o, const char *id, int *missing)
{
    redisReply  *r, *b, *cnt;
    json_t      *j, *v;
    size_t       i;

    *missing = 0;
    r = otactl_cmd(o, "HGETALL " OTA_KEY_PACKAGE, id);
    if (r == NULL) {
        return NULL;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        *missing = 1;
        return NULL;
    }
    j = json_object();
    for (i = 0; j && i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *s = r->element[i + 1]->str;

        if (strcmp(k, "files") == 0 || strcmp(k, "ext") == 0) {
            v = json_loads(s, 0, NULL);
            json_object_set_new(j, k, v ? v : json_null());
        } else if (strcmp(k, "size") == 0 || strcmp(k, "created") == 0) {
            json_object_set_new(j, k, json_integer(atoll(s)));
        } else if (strcmp(k, "verify") == 0) {
            json_object_set_new(j, k, json_boolean(strcmp(s, "1") == 0));
        } else {
            json_object_set_new(j, k, json_string(s));
        }
    }
    freeReplyObject(r);

    v = json_object_get(j, "verify_batch");
    if (json_string_value(v) && json_string_value(v)[0]) {
        const char          *bid = json_string_value(v);
        ota_batch_counts_t   c;
        json_t              *jb, *jc;

        memset(&c, 0, sizeof(c));
        b = otactl_cmd(o, "HMGET " OTA_KEY_BATCH " state total name", bid);
        cnt = otactl_cmd(o, "HGETALL " OTA_KEY_BATCH_COUNTS, bid);
        if (b != NULL && cnt != NULL) {
            jc = json_object();
            for (i = 0; i + 1 < cnt->elements; i += 2) {
                int s = ota_task_state_parse(cnt->element[i]->str,
                                             cnt->element[i]->len);
                if (s >= 0) {
                    c.n[s] = atoll(cnt->element[i + 1]->str);
                }
            }
            for (i = 0; i < OTA_TS_COUNT; i++) {
                json_object_set_new(jc, ota_task_state_name(i),
                                    json_integer(c.n[i]));
            }
            c.total = ota_reply_ll(b->element[1], 0);
            jb = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o}",
                "id", bid, "name", ota_reply_str(b->element[2]),
                "state", ota_reply_str(b->element[0]),
                "total", (json_int_t) c.total, "counts", jc,
                "success_rate", otactl_rate_json(ota_success_rate(&c)),
                "completion", otactl_rate_json(ota_completion(&c)));
            json_object_set_new(j, "verify_progress", jb);
        }
        freeReplyObject(b);
        freeReplyObject(cnt);
    }
    return j;
}

static int
otactl_package_show(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    json_t       *j, *f, *vp;
    const char   *id, *k;
    size_t        i;
    int           rc, missing;
    char          b1[32], t1[32], r1[16];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "package show")) != 0) {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("package show needs exactly one package id");
    }
    id = pos.pos[0];
    if (!ota_name_id(id, strlen(id))) {
        return otactl_fail("invalid package id \"%s\"", id);
    }
    rc = OTACTL_FAIL;
    j = o->api ? otactl_api_package_json(o, id, &missing, &rc)
               : otactl_package_json(o, id, &missing);
    if (j == NULL) {
        return missing ? otactl_fail("no package %s", id) : rc;
    }
    if (o->json) {
        otactl_print_json(j);
        return OTACTL_OK;
    }

#define S(n) (json_string_value(json_object_get(j, n)) \
              ? json_string_value(json_object_get(j, n)) : "")
    printf("id:           %s\n", id);
    printf("name:         %s\n", S("name"));
    printf("product:      %s\nmodule:       %s\nversion:      %s\n",
           S("product"), S("module"), S("version"));
    printf("type:         %s%s%s\n", S("type"), S("from")[0] ? " from " : "",
           S("from"));
    printf("size:         %s (%lld bytes)\n",
           otactl_bytes(json_integer_value(json_object_get(j, "size")), b1,
                        sizeof(b1)),
           (long long) json_integer_value(json_object_get(j, "size")));
    printf("sign:         %s %s\n", S("sign_method"), S("sign"));
    printf("must verify:  %s\n",
           json_is_true(json_object_get(j, "verify")) ? "yes" : "no");
    printf("state:        %s\n", S("state"));
    vp = json_object_get(j, "verify_progress");
    if (vp != NULL) {
        json_t *c = json_object_get(vp, "counts");
        printf("verify batch: %s (%s): %lld of %lld succeeded, %lld failed, "
               "completion %s\n",
               json_string_value(json_object_get(vp, "id")),
               json_string_value(json_object_get(vp, "state")),
               (long long) json_integer_value(json_object_get(c, "succeeded")),
               (long long) json_integer_value(json_object_get(vp, "total")),
               (long long) json_integer_value(json_object_get(c, "failed")),
               otactl_rate_str(json_is_null(json_object_get(vp, "completion"))
                   ? -1 : json_number_value(json_object_get(vp, "completion")),
                   r1, sizeof(r1)));
    }
    printf("created:      %s\n",
           otactl_time(json_integer_value(json_object_get(j, "created")), t1,
                       sizeof(t1)));
    if (S("desc")[0]) {
        printf("description:  %s\n", S("desc"));
    }
    f = json_object_get(j, "ext");
    if (json_object_size(f) > 0) {
        json_t *v;
        printf("ext:         ");
        json_object_foreach(f, k, v) {
            printf(" %s=%s", k, json_string_value(v));
        }
        printf("\n");
    }
    f = json_object_get(j, "files");
    if (json_array_size(f) > 0) {
        otactl_table_t  tb;
        json_t         *v;
        char            sz[32];

        printf("\n");
        otactl_table_init(&tb, 3, "FILE", "SIZE", "SIGN");
        json_array_foreach(f, i, v) {
            snprintf(sz, sizeof(sz), "%lld",
                     (long long) json_integer_value(json_object_get(v, "size")));
            otactl_table_row(&tb, json_string_value(json_object_get(v, "name")),
                             sz, json_string_value(json_object_get(v, "sign")));
        }
        otactl_table_print(&tb, stdout);
        otactl_table_free(&tb);
    }
#undef S
    json_decref(j);
    return OTACTL_OK;
}

static int
otactl_package_list(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "product", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t    pos;
    const char     *prod;
    redisReply     *ids;
    otactl_table_t  tb;
    json_t         *ja, *all = NULL;
    size_t          i, n;
    int             rc, missing;
    char            b1[32];

    if ((rc = otactl_parse(argc, argv, opts, &pos, "package list")) != 0) {
        return rc;
    }
    if (pos.npos != 0) {
        return otactl_usage("package list takes no arguments");
    }
    prod = otactl_opt(opts, "product");
    if (prod != NULL && !ota_name_product(prod, strlen(prod))) {
        return otactl_fail("invalid product name \"%s\"", prod);
    }
    ids = NULL;
    if (o->api) {
        /* the API's pages are newest first; otactl lists oldest first */
        char  path[128];

        snprintf(path, sizeof(path), "packages%s%s", prod ? "?product=" : "",
                 prod ? prod : "");
        rc = otactl_api_all(o, path, "packages", 0, &all);
        if (rc != OTACTL_OK) {
            return rc;
        }
        n = json_array_size(all);
    } else {
        ids = prod ? otactl_cmd(o, "ZRANGE " OTA_KEY_PRODUCT_PACKAGES " 0 -1",
                                prod)
                   : otactl_cmd(o, "ZRANGE " OTA_KEY_PACKAGES " 0 -1");
        if (ids == NULL) {
            return OTACTL_FAIL;
        }
        n = ids->elements;
    }
    ja = json_array();
    otactl_table_init(&tb, 8, "ID", "PRODUCT", "MODULE", "VERSION", "TYPE",
                      "STATE", "SIZE", "NAME");
    for (i = 0; i < n; i++) {
        json_t *j;

        if (all != NULL) {
            j = json_incref(json_array_get(all, n - 1 - i));
            if (json_is_null(json_object_get(j, "verify_progress"))) {
                json_object_del(j, "verify_progress");
            }
        } else {
            j = otactl_package_json(o, ids->element[i]->str, &missing);
        }
        if (j == NULL) {
            continue;
        }
#define S(n) (json_string_value(json_object_get(j, n)) \
              ? json_string_value(json_object_get(j, n)) : "")
        otactl_table_row(&tb, S("id"), S("product"), S("module"), S("version"),
                         S("type"), S("state"),
                         otactl_bytes(json_integer_value(
                             json_object_get(j, "size")), b1, sizeof(b1)),
                         S("name"));
#undef S
        json_array_append_new(ja, j);
    }
    freeReplyObject(ids);
    json_decref(all);
    return otactl_list_print(o, ja, &tb);
}

/* ---- otactl package diff --from <old> --to <new> ------------------------- */

/* a full package of one file: its record's fields (r: HMGET of
 * OTACTL_DIFF_FIELDS), the shared checks (include/ota_delta) and the path
 * of its file in the store */
#define OTACTL_DIFF_FIELDS \
    "id product module version type files sign_method name ext"

static int
otactl_diff_side(otactl_t *o, const char *id, const char *what,
    redisReply **rp, ota_delta_side_t *s, char *path, size_t plen)
{
    redisReply  *r;
    char         err[512];

    if (!ota_name_id(id, strlen(id))) {
        return otactl_fail("invalid package id \"%s\"", id);
    }
    r = otactl_cmd(o, "HMGET " OTA_KEY_PACKAGE " " OTACTL_DIFF_FIELDS, id);
    if (r == NULL) {
        return OTACTL_FAIL;
    }
    *rp = r;
    if (r->element[0]->type != REDIS_REPLY_STRING) {
        return otactl_fail("no package %s (--%s)", id, what);
    }
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->product = ota_reply_str(r->element[1]);
    s->module = ota_reply_str(r->element[2]);
    s->version = ota_reply_str(r->element[3]);
    s->type = ota_reply_str(r->element[4]);
    s->files = ota_reply_str(r->element[5]);
    if (ota_delta_side(s, what, err, sizeof(err)) != 0) {
        return otactl_fail("%s", err);
    }
    if (otactl_path(path, plen, "%s/%s/%s", o->store, id, s->file) != 0) {
        return otactl_fail("package %s: no file name in its record", id);
    }
    return OTACTL_OK;
}

/*
 * package diff --sign-key over the API: the diff the worker recorded in
 * state unsigned (sign_later) is signed here, where the key is.  This
 * host has no copy of the delta, so what is checked is what the manifest
 * names: the diff's id, both packages' product, module and versions, type
 * diff and one file named after the new package's file; its bytes are
 * signed as served (GET packages/<id>/manifest), then POST
 * packages/<id>/signature.  OTACTL_OK, or the exit code with the reason.
 */
static int
otactl_api_diff_sign(otactl_t *o, const char *id, json_t *fj, json_t *tj,
    otactl_signed_t *sg)
{
    json_t         *j, *m, *files, *out = NULL, *body;
    char            path[256], fname[200], *pub, *esc;
    const char     *b64, *tf;
    unsigned char  *bytes, sig[OTA_SIGN_LEN];
    size_t          len, blen;
    int             rc, ok;

    esc = otactl_api_esc(o, id);
    if (esc == NULL) {
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "packages/%s/manifest", esc);
    rc = otactl_api_get(o, path, 0, &j, NULL);
    if (rc != OTACTL_OK) {
        otactl_api_free(esc);
        return rc;
    }
    b64 = json_string_value(json_object_get(j, "manifest"));
    len = b64 ? strlen(b64) : 0;
    bytes = malloc(3 * (len / 4) + 1);
    m = NULL;
    if (bytes != NULL && b64 != NULL
        && ota_b64_decode(b64, len, bytes, &blen) == 0)
    {
        m = json_loadb((const char *) bytes, blen, 0, NULL);
    }
    json_decref(j);

    tf = json_string_value(json_object_get(
             json_array_get(json_object_get(tj, "files"), 0), "name"));
    snprintf(fname, sizeof(fname), "%s.zst", tf ? tf : "");
    files = json_object_get(m, "files");
    ok = m != NULL
         && otactl_json_is(m, "format", OTA_SIGN_FORMAT)
         && otactl_json_is(m, "id", id)
         && otactl_json_is(m, "type", "diff")
         && otactl_json_is(m, "product",
                json_string_value(json_object_get(tj, "product")))
         && otactl_json_is(m, "module",
                json_string_value(json_object_get(tj, "module")))
         && otactl_json_is(m, "version",
                json_string_value(json_object_get(tj, "version")))
         && otactl_json_is(m, "from",
                json_string_value(json_object_get(fj, "version")))
         && json_array_size(files) == 1
         && otactl_json_is(json_array_get(files, 0), "name", fname);
    json_decref(m);
    if (!ok) {
        free(bytes);
        otactl_api_free(esc);
        return otactl_fail("the server's manifest of package %s does not "
                           "name this diff of %s from %s: not signed (GET "
                           "packages/%s/manifest)", id,
                           json_string_value(json_object_get(tj, "id")),
                           json_string_value(json_object_get(fj, "id")), id);
    }
    if (ota_sign(sg->key, bytes, blen, sig) != 0) {
        free(bytes);
        otactl_api_free(esc);
        return otactl_fail("cannot sign the manifest of %s", id);
    }
    free(bytes);
    ota_b64_encode(sig, sizeof(sig), sg->signature);

    pub = ota_sign_key_to_pem(sg->key, 0);
    body = pub ? json_pack("{s:s, s:s}", "sig", sg->signature, "pubkey", pub)
               : NULL;
    free(pub);
    if (body == NULL) {
        otactl_api_free(esc);
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "packages/%s/signature", esc);
    otactl_api_free(esc);
    rc = otactl_api(o, "POST", path, body, 0, &out, NULL);
    json_decref(body);
    json_decref(out);
    return rc;
}

/* GET packages/<id> for package diff --sign-key: *j the record, or the
 * direct mode's words for a missing one */
static int
otactl_api_diff_get(otactl_t *o, const char *id, const char *side,
    json_t **j)
{
    char  path[256];
    long  st = 0;
    int   rc;

    snprintf(path, sizeof(path), "packages/%s", id);
    rc = otactl_api_get(o, path, OTACTL_API_404, j, &st);
    if (rc == OTACTL_OK && *j == NULL) {
        return otactl_fail("no package %s (--%s)", id, side);
    }
    return rc;
}

/* POST packages/<to>/diffs?wait=: the worker makes the delta (otactl
 * in direct mode next to the store); the same output and exit codes as
 * here, or 3 naming the job when it is not done after --wait */
static int
otactl_api_package_diff(otactl_t *o, const char *from, const char *to,
    int level, double ratio, const char *name, const char *desc,
    const char *sign_key)
{
    json_t      *body, *j = NULL;
    char         path[256], rbuf[32];
    long         st = 0;
    long long    dsize = 0, nsize = 0;
    int          rc;

    json_t           *fj = NULL, *tj = NULL;
    otactl_signed_t   sg;
    const char       *did;
    char              didb[OTA_NAME_MAX + 1];

    memset(&sg, 0, sizeof(sg));
    if (!ota_name_id(from, strlen(from))) {
        return otactl_fail("invalid package id \"%s\"", from);
    }
    if (!ota_name_id(to, strlen(to))) {
        return otactl_fail("invalid package id \"%s\"", to);
    }
    if (sign_key != NULL) {
        /* the worker makes it in state unsigned (sign_later), this host
         * signs it: both packages and the product's policy against the
         * key first, as direct mode checks them before the work */
        rc = otactl_api_diff_get(o, from, "from", &fj);
        if (rc == OTACTL_OK) {
            rc = otactl_api_diff_get(o, to, "to", &tj);
        }
        if (rc == OTACTL_OK
            && otactl_sign_policy(o, json_string_value(json_object_get(tj,
                                  "product")), sign_key, &sg) != 0)
        {
            rc = OTACTL_FAIL;
        }
        if (rc == OTACTL_OK) {
            /* a rerun finishes the diff an earlier run left unsigned */
            otactl_pkg_spec_t  wsp;

            memset(&wsp, 0, sizeof(wsp));
            wsp.prod = json_string_value(json_object_get(tj, "product"));
            wsp.mod = json_string_value(json_object_get(tj, "module"));
            wsp.ver = json_string_value(json_object_get(tj, "version"));
            wsp.from = json_string_value(json_object_get(fj, "version"));
            if (wsp.prod == NULL || wsp.mod == NULL || wsp.ver == NULL
                || wsp.from == NULL)
            {
                rc = otactl_fail("the server's records of %s and %s lack "
                                 "product, module or version", from, to);
            } else {
                rc = otactl_api_package_waiting(o, &wsp, &j);
            }
        }
        if (rc != OTACTL_OK) {
            goto signed_done;
        }
        if (j != NULL) {
            goto sign;
        }
    }
    snprintf(rbuf, sizeof(rbuf), "%.6g", ratio);
    body = json_pack("{s:s, s:s}", "from", from, "max_ratio", rbuf);
    if (body == NULL) {
        return otactl_fail("out of memory");
    }
    if (level > 0) {
        json_object_set_new(body, "level", json_integer(level));
    }
    if (name != NULL) {
        json_object_set_new(body, "name", json_string(name));
    }
    if (desc != NULL) {
        json_object_set_new(body, "desc", json_string(desc));
    }
    if (sign_key != NULL) {
        json_object_set_new(body, "sign_later", json_true());
    }
    snprintf(path, sizeof(path), "packages/%s/diffs?wait=%d", to, o->wait);
    rc = otactl_api(o, "POST", path, body, OTACTL_API_404, &j, &st);
    json_decref(body);
    if (rc != OTACTL_OK) {
        goto signed_done;
    }
    if (st == 404 && sign_key != NULL) {
        /* gone since the look-up above */
        json_decref(j);
        j = NULL;
        rc = otactl_fail("no package %s (--from) or %s (--to)", from, to);
        goto signed_done;
    }
    if (st == 404) {
        /* direct mode's words: which side is missing (--from first) */
        snprintf(path, sizeof(path), "packages/%s", from);
        rc = otactl_api_get(o, path, OTACTL_API_404, &j, &st);
        if (rc != OTACTL_OK) {
            return rc;
        }
        json_decref(j);
        return st == 404 ? otactl_fail("no package %s (--from)", from)
                         : otactl_fail("no package %s (--to)", to);
    }
    if (st == 202) {
        fprintf(stderr, "otactl: the delta of %s from %s is still being "
                "made after %d s (job %s); it is recorded when done: otactl "
                "package list\n", to, from, o->wait,
                json_string_value(json_object_get(j, "job")));
        if (sign_key != NULL) {
            fprintf(stderr, "otactl: once recorded it waits for its "
                    "signature: run the same command again to sign it\n");
        }
        json_decref(j);
        rc = OTACTL_UNAVAIL;
        goto signed_done;
    }
    dsize = (long long) json_integer_value(json_object_get(j, "size"));
    nsize = (long long) json_integer_value(json_object_get(j, "full_size"));

sign:
    if (sign_key != NULL) {
        did = json_string_value(json_object_get(j, "id"));
        snprintf(didb, sizeof(didb), "%s", did ? did : "");
        /* a rerun's j is the diff's record: the sizes from the records */
        if (json_object_get(j, "full_size") == NULL) {
            dsize = (long long) json_integer_value(json_object_get(j,
                                                                   "size"));
            nsize = (long long) json_integer_value(json_object_get(tj,
                                                                   "size"));
        }
        rc = otactl_api_diff_sign(o, didb, fj, tj, &sg);
        if (rc != OTACTL_OK) {
            fprintf(stderr, "otactl: diff %s is made and waits for its "
                    "signature: run the same command again to finish it\n",
                    didb);
            goto signed_done;
        }
    }
    if (o->json) {
        /* direct mode's fields, from the record (GET packages/<id>) */
        json_t  *rec = NULL;

        snprintf(path, sizeof(path), "packages/%s",
                 json_string_value(json_object_get(j, "id")));
        rc = otactl_api_get(o, path, 0, &rec, NULL);
        if (rc != OTACTL_OK) {
            goto signed_done;
        }
        otactl_print_json(json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O*}",
            "id", json_object_get(j, "id"),
            "sign_method", json_object_get(rec, "sign_method"),
            "sign", json_object_get(rec, "sign"),
            "size", json_object_get(rec, "size"),
            "state", json_object_get(rec, "state"),
            "sign_key", json_object_get(rec, "sign_key")));
        json_decref(rec);
    } else {
        printf("%s\n", json_string_value(json_object_get(j, "id")));
    }
    fprintf(stderr, "otactl: delta of %s from %s: %lld bytes, %.3f of the "
            "full file's %lld\n", to, from, dsize,
            nsize > 0 ? (double) dsize / (double) nsize : 0.0, nsize);
    rc = OTACTL_OK;

signed_done:
    json_decref(j);
    json_decref(fj);
    json_decref(tj);
    otactl_signed_free(&sg);
    return rc;
}

static int
otactl_package_diff(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t       opts[] = { { "from", OTACTL_ARG, 0, 0, 0 },
                                  { "to", OTACTL_ARG, 0, 0, 0 },
                                  { "name", OTACTL_ARG, 0, 0, 0 },
                                  { "desc", OTACTL_ARG, 0, 0, 0 },
                                  { "level", OTACTL_ARG, 0, 0, 0 },
                                  { "max-ratio", OTACTL_ARG, 0, 0, 0 },
                                  { "sign-key", OTACTL_ARG, 0, 0, 0 },
                                  { "wait", OTACTL_ARG, 0, 0, 0 },
                                  { NULL, 0, 0, 0, 0 } };
    otactl_pos_t       pos;
    otactl_pkg_spec_t  sp;
    otactl_file_t      file;
    const char        *from, *to, *lv, *mr, *b;
    char               oldp[4096], newp[4096], tmp[4096], out[4096];
    char               fname[160], name[160];
    redisReply        *ro = NULL, *rn = NULL;
    ota_delta_side_t   so, sn;
    long long          nsize, dsize;
    double             ratio;
    char               err[512];
    int                rc, level = OTA_DELTA_LEVEL_DEFAULT, sign_later;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "package diff")) != 0) {
        return rc;
    }
    from = otactl_opt(opts, "from");
    to = otactl_opt(opts, "to");
    lv = otactl_opt(opts, "level");
    mr = otactl_opt(opts, "max-ratio");
    if (from == NULL || to == NULL || pos.npos != 0) {
        return otactl_usage("package diff needs --from <old package id> and "
                            "--to <new package id>");
    }
    if (lv != NULL && ota_delta_level(lv, &level, err, sizeof(err)) != 0) {
        return otactl_fail("%s", err);
    }
    ratio = o->delta_max_ratio;
    if (mr != NULL && ota_delta_ratio(mr, &ratio, err, sizeof(err)) != 0) {
        return otactl_fail("%s", err);
    }
    if (otactl_opt(opts, "wait") != NULL) {
        char  *end;
        long   v = strtol(otactl_opt(opts, "wait"), &end, 10);

        if (*end || end == otactl_opt(opts, "wait") || v < 1 || v > 3600) {
            return otactl_fail("invalid --wait \"%s\" (seconds, 1..3600)",
                               otactl_opt(opts, "wait"));
        }
        o->wait = (int) v;
    }
    if (o->api) {
        return otactl_api_package_diff(o, from, to, lv ? level : 0, ratio,
                                       otactl_opt(opts, "name"),
                                       otactl_opt(opts, "desc"),
                                       otactl_opt(opts, "sign-key"));
    }
    if (o->store == NULL) {
        return otactl_fail("no package store: set --store DIR or OTA_STORE");
    }
    /* the worker's diff for POST packages/<to>/diffs with sign_later
     * (worker_diff.c): state unsigned with its manifest */
    sign_later = getenv("OTA_DIFF_SIGN_LATER") != NULL
                 && strcmp(getenv("OTA_DIFF_SIGN_LATER"), "1") == 0;
    if (sign_later && otactl_opt(opts, "sign-key") != NULL) {
        return otactl_usage("--sign-key and OTA_DIFF_SIGN_LATER exclude "
                            "each other");
    }

    rc = otactl_diff_side(o, from, "from", &ro, &so, oldp, sizeof(oldp));
    if (rc == OTACTL_OK) {
        rc = otactl_diff_side(o, to, "to", &rn, &sn, newp, sizeof(newp));
    }
    if (rc != OTACTL_OK) {
        goto done;
    }
    nsize = sn.size;

#define OLD(i) ota_reply_str(ro->element[i])
#define NEW(i) ota_reply_str(rn->element[i])
    rc = OTACTL_FAIL;
    if (ota_delta_pair(&so, &sn, err, sizeof(err)) != 0) {
        otactl_fail("%s", err);
        goto done;
    }

    /* what the store would refuse, before the work */
    {
        redisReply       *dup;
        otactl_signed_t   sg;

        dup = otactl_cmd(o, "HGET " OTA_KEY_PRODUCT_PKGVER " %s:%s>%s",
                         NEW(1), NEW(2), OLD(3), NEW(3));
        if (dup == NULL) {
            goto done;
        }
        if (dup->type == REDIS_REPLY_STRING) {
            otactl_fail("product %s module %s already has a diff from %s "
                        "to %s (package %s)", NEW(1), NEW(2), OLD(3),
                        NEW(3), dup->str);
            freeReplyObject(dup);
            goto done;
        }
        freeReplyObject(dup);
        memset(&sg, 0, sizeof(sg));
        rc = sign_later ? OTACTL_OK
             : otactl_sign_policy(o, NEW(1), otactl_opt(opts, "sign-key"),
                                  &sg) == 0 ? OTACTL_OK : OTACTL_FAIL;
        otactl_signed_free(&sg);
        if (rc != OTACTL_OK) {
            goto done;
        }
        rc = OTACTL_FAIL;
    }

    /* the delta in a private directory of the store, named after the new
     * file: what the device gets is <file>.zst */
    b = strrchr(newp, '/') + 1;
    if (snprintf(fname, sizeof(fname), "%s.zst", b) >= (int) sizeof(fname)
        || !ota_name_file(fname, strlen(fname))
        || (getenv("OTA_DIFF_DIR") != NULL
            /* the worker's (worker_diff.c): <store>/.diff-<job> */
            ? otactl_path(tmp, sizeof(tmp), "%s", getenv("OTA_DIFF_DIR"))
              != 0 || mkdir(tmp, 0700) != 0
            : otactl_path(tmp, sizeof(tmp), "%s/.diff-XXXXXX", o->store)
              != 0 || mkdtemp(tmp) == NULL)
        || otactl_path(out, sizeof(out), "%s/%s", tmp, fname) != 0)
    {
        otactl_fail("cannot make the delta's file %s.zst in %s", b, o->store);
        goto done;
    }
    rc = ota_delta_make(oldp, newp, out, level, &dsize, err, sizeof(err))
         == 0 ? OTACTL_OK : otactl_fail("%s", err);
    if (rc == OTACTL_OK
        && ota_delta_size_ok(&so, &sn, dsize, ratio, err, sizeof(err)) != 0)
    {
        rc = otactl_fail("%s", err);
    }
    if (rc == OTACTL_OK) {
        memset(&file, 0, sizeof(file));
        file.path = out;
        file.name = fname;
        file.size = dsize;

        snprintf(name, sizeof(name), "%.100s (diff from %s)",
                 NEW(7), OLD(3));
        memset(&sp, 0, sizeof(sp));
        sp.prod = NEW(1);
        sp.mod = NEW(2);
        sp.name = otactl_opt(opts, "name") ? otactl_opt(opts, "name") : name;
        sp.type = "diff";
        sp.sign = strcmp(NEW(6), "md5") == 0 ? "md5" : "sha256";
        sp.md = strcmp(NEW(6), "md5") == 0 ? EVP_md5() : EVP_sha256();
        sp.desc = otactl_opt(opts, "desc");
        sp.ver = NEW(3);
        sp.from = OLD(3);
        sp.sign_key = otactl_opt(opts, "sign-key");
        sp.sign_later = sign_later;
        sp.base = from;
        sp.target = to;
        sp.jext = json_loads(NEW(8), 0, NULL);
        if (!json_is_object(sp.jext)) {
            json_decref(sp.jext);
            sp.jext = json_object();
        }
        sp.files = &file;
        sp.nfiles = 1;
        sp.total = dsize;
        if (sp.name[0] == '\0' || !otactl_text_ok(sp.name, 128)
            || (sp.desc && !otactl_text_ok(sp.desc, 1024)))
        {
            rc = otactl_fail("invalid --name or --desc");
        } else {
            rc = otactl_package_store(o, &sp);
            if (rc == OTACTL_OK) {
                fprintf(stderr, "otactl: delta of %s from %s: %lld bytes, "
                        "%.3f of the full file's %lld\n", to, from, dsize,
                        (double) dsize / (double) nsize, nsize);
            }
        }
        json_decref(sp.jext);
    }
    unlink(out);
    rmdir(tmp);
#undef OLD
#undef NEW

done:
    freeReplyObject(ro);
    freeReplyObject(rn);
    return rc;
}

int
otactl_package(otactl_t *o, int argc, char **argv)
{
    if (argc < 1) {
        return otactl_usage("package needs a verb: add, diff, verify, show, "
                            "list");
    }
    if (strcmp(argv[0], "add") == 0) {
        return otactl_package_add(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "show") == 0) {
        return otactl_package_show(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "list") == 0) {
        return otactl_package_list(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "url") == 0) {
        return otactl_link(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "verify") == 0) {
        return otactl_package_verify(o, argc - 1, argv + 1);
    }
    if (strcmp(argv[0], "diff") == 0) {
        return otactl_package_diff(o, argc - 1, argv + 1);
    }
    return otactl_usage("unknown verb \"package %s\" (add, diff, verify, "
                        "show, list, url)", argv[0]);
}

/* ---- signed download links ------------------------------------------------- */

int
otactl_link(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "package", OTACTL_ARG, 0, 0, 0 },
                             { "device", OTACTL_ARG, 0, 0, 0 },
                             { "expires", OTACTL_ARG, 0, 0, 0 },
                             { "base", OTACTL_ARG, 0, 0, 0 },
                             { "secret", OTACTL_ARG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *pkg, *dev, *exp, *base, *key;
    char          sig[OTA_HEX_SHA256_LEN + 1], *end;
    long long     secs = 3600, expires;
    int           rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "link")) != 0) {
        return rc;
    }
    pkg = otactl_opt(opts, "package");
    dev = otactl_opt(opts, "device");
    exp = otactl_opt(opts, "expires");
    base = otactl_opt(opts, "base");
    key = otactl_opt(opts, "secret");
    if (pos.npos == 1 && pkg == NULL) {
        pkg = pos.pos[0];
    } else if (pos.npos != 0) {
        return otactl_usage("link takes --package and --device");
    }
    if (key == NULL) {
        key = o->token_secret;
    }
    if (pkg == NULL || dev == NULL) {
        return otactl_fail("link needs --package and --device");
    }
    if (!ota_name_id(pkg, strlen(pkg))) {
        return otactl_fail("invalid package id \"%s\"", pkg);
    }
    if (!ota_name_device(dev, strlen(dev))) {
        return otactl_fail("invalid device name \"%s\"", dev);
    }
    if (key == NULL || strlen(key) < 16) {
        return otactl_fail("link needs the server key (ota_token_secret): "
                           "--secret KEY or OTA_TOKEN_SECRET, 16+ characters");
    }
    if (exp != NULL) {
        secs = strtoll(exp, &end, 10);
        if (*end || end == exp || secs < 1 || secs > 365LL * 86400) {
            return otactl_fail("invalid --expires \"%s\" (seconds, 1 .. one "
                               "year)", exp);
        }
    }
    expires = (long long) time(NULL) + secs;
    ota_link_sign(key, strlen(key), pkg, strlen(pkg), dev, strlen(dev),
                  expires, sig);

    if (o->json) {
        char path[512];
        snprintf(path, sizeof(path), "%s/ota/v1/packages/%s?device=%s&expires="
                 "%lld&signature=%s", base ? base : "", pkg, dev, expires, sig);
        otactl_print_json(json_pack("{s:s, s:I, s:s}", "url", path,
                                    "expires", (json_int_t) expires,
                                    "signature", sig));
    } else {
        printf("%s/ota/v1/packages/%s?device=%s&expires=%lld&signature=%s\n",
               base ? base : "", pkg, dev, expires, sig);
    }
    return OTACTL_OK;
}
