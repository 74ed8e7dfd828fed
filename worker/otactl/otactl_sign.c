/*
 * otactl key gen, product set, package verify, and the signing of a
 * package being added (docs/signing.md).  The private key is read from the
 * admin's file only while otactl runs; Redis and the store get the
 * manifest, its signature and the key id, never the key.
 */

#include "otactl.h"
#include "otactl_lua.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ota_audit.h"
#include "ota_keys.h"
#include "ota_names.h"

#define OTACTL_KEY_MAX   (64 * 1024)        /* a PEM key file */
#define OTACTL_KEY_PRIV  "ota-sign.key"
#define OTACTL_KEY_PUB   "ota-sign.pub"


int
otactl_read_small(const char *path, size_t max, char **buf, size_t *len)
{
    struct stat  st;
    ssize_t      n;
    size_t       got = 0;
    int          fd;

    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0) {
        otactl_fail("cannot read %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (size_t) st.st_size > max) {
        close(fd);
        otactl_fail("%s is not a regular file of at most %zu bytes", path,
                    max);
        return -1;
    }
    *buf = malloc((size_t) st.st_size + 1);
    if (*buf == NULL) {
        close(fd);
        otactl_fail("out of memory");
        return -1;
    }
    while (got < (size_t) st.st_size) {
        n = read(fd, *buf + got, (size_t) st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t) n;
    }
    close(fd);
    (*buf)[got] = '\0';
    *len = got;
    return 0;
}


/* a key from a PEM file: the private key, or the public key */
static EVP_PKEY *
otactl_key_file(const char *path, int private)
{
    char      *pem, err[256];
    size_t     len;
    EVP_PKEY  *key;

    if (otactl_read_small(path, OTACTL_KEY_MAX, &pem, &len) != 0) {
        return NULL;
    }
    key = ota_sign_key_pem(pem, len, private, err, sizeof(err));
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (key == NULL) {
        otactl_fail("%s: %s", path, err);
    }
    return key;
}


void
otactl_signed_free(otactl_signed_t *sg)
{
    EVP_PKEY_free(sg->key);
    free(sg->manifest);
    sg->key = NULL;
    sg->manifest = NULL;
}


int
otactl_sign_policy(otactl_t *o, const char *prod, const char *keyfile,
    otactl_signed_t *sg)
{
    redisReply  *r;
    int          require;
    const char  *kid;
    char         akid[OTA_SIGN_KEYID_LEN + 1];

    if (o->api) {
        /* GET products/<p>: its policy as PUT products/<p> wrote it */
        json_t  *j;
        char     path[256], *esc;
        long     st = 0;

        esc = otactl_api_esc(o, prod);
        if (esc == NULL) {
            otactl_fail("out of memory");
            return -1;
        }
        snprintf(path, sizeof(path), "products/%s", esc);
        otactl_api_free(esc);
        if (otactl_api_get(o, path, OTACTL_API_404, &j, &st) != OTACTL_OK) {
            return -1;
        }
        if (j == NULL) {
            otactl_fail("no product %s (otactl device add ... --product %s "
                        "makes it)", prod, prod);
            return -1;
        }
        kid = json_string_value(json_object_get(j, "key_id"));
        snprintf(akid, sizeof(akid), "%s", kid ? kid : "");
        require = json_is_true(json_object_get(j, "require_signed"));
        json_decref(j);
        r = NULL;
    } else {
        r = otactl_cmd(o, "HMGET " OTA_KEY_PRODUCT_SIGNING " require key_id",
                       prod);
        if (r == NULL) {
            return -1;
        }
        require = strcmp(ota_reply_str(r->element[0]), "1") == 0;
        snprintf(akid, sizeof(akid), "%s", ota_reply_str(r->element[1]));
    }

    if (keyfile == NULL) {
        freeReplyObject(r);
        if (require) {
            otactl_fail("product %s requires signed packages: add it with "
                        "--sign-key KEY (otactl product set %s "
                        "--no-require-signed lifts it)", prod, prod);
            return -1;
        }
        return 0;
    }

    sg->key = otactl_key_file(keyfile, 1);
    if (sg->key == NULL || ota_sign_key_id(sg->key, sg->key_id) != 0) {
        freeReplyObject(r);
        if (sg->key != NULL) {
            otactl_fail("%s: cannot read its public part", keyfile);
        }
        return -1;
    }

    /* a product that names its key accepts no other */
    kid = akid;
    if (kid[0] && strcmp(kid, sg->key_id) != 0) {
        otactl_fail("%s is key %s, but product %s accepts only key %s "
                    "(otactl product set %s --pubkey PUB)", keyfile,
                    sg->key_id, prod, kid, prod);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}


int
otactl_sign_package(const char *id, const otactl_pkg_spec_t *sp,
    otactl_signed_t *sg)
{
    ota_manifest_file_t  mf[OTACTL_MAX_FILES];
    ota_manifest_t       m;
    unsigned char        sig[OTA_SIGN_LEN];
    char                *bytes;
    size_t               len;
    int                  i;

    for (i = 0; i < sp->nfiles; i++) {
        mf[i].name = sp->files[i].name;
        mf[i].size = sp->files[i].size;
        mf[i].sha256 = sp->files[i].sha256;
    }
    m.id = id;
    m.product = sp->prod;
    m.module = sp->mod;
    m.version = sp->ver;
    m.type = sp->type;
    m.from = sp->from;
    m.files = mf;
    m.nfiles = sp->nfiles;

    bytes = ota_manifest_bytes(&m, &len);
    if (bytes == NULL) {
        otactl_fail("out of memory");
        return -1;
    }
    sg->manifest = malloc(OTA_B64_LEN(len) + 1);
    if (sg->manifest != NULL && sg->key == NULL) {
        /* sign_later: the manifest only, signed where the key is */
        ota_b64_encode(bytes, len, sg->manifest);
        free(bytes);
        return 0;
    }
    if (sg->manifest == NULL || ota_sign(sg->key, bytes, len, sig) != 0) {
        free(bytes);
        otactl_fail("cannot sign the manifest of %s", id);
        return -1;
    }
    ota_b64_encode(bytes, len, sg->manifest);
    ota_b64_encode(sig, sizeof(sig), sg->signature);
    free(bytes);
    return 0;
}


/* ---- otactl key gen --out DIR ------------------------------------------- */

static int
otactl_key_write(const char *dir, const char *name, const char *text,
    mode_t mode, char *path, size_t plen)
{
    size_t  len = strlen(text);
    int     fd;

    snprintf(path, plen, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        return otactl_fail("cannot create %s: %s%s", path, strerror(errno),
                           errno == EEXIST ? " (a key is never overwritten: "
                           "choose another --out)" : "");
    }
    if (write(fd, text, len) != (ssize_t) len || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return otactl_fail("cannot write %s: %s", path, strerror(errno));
    }
    close(fd);
    return 0;
}


int
otactl_key(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "out", OTACTL_ARG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *dir;
    char         *priv = NULL, *pub = NULL, kid[OTA_SIGN_KEYID_LEN + 1];
    char          ppriv[4096], ppub[4096];
    EVP_PKEY     *key;
    int           rc;

    if (argc < 1 || strcmp(argv[0], "gen") != 0) {
        return otactl_usage("key needs a verb: gen --out DIR");
    }
    if ((rc = otactl_parse(argc - 1, argv + 1, opts, &pos, "key gen")) != 0) {
        return rc;
    }
    dir = otactl_opt(opts, "out");
    if (dir == NULL || pos.npos != 0) {
        return otactl_usage("key gen takes --out DIR");
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return otactl_fail("cannot create %s: %s", dir, strerror(errno));
    }

    key = ota_sign_keygen();
    if (key != NULL) {
        priv = ota_sign_key_to_pem(key, 1);
        pub = ota_sign_key_to_pem(key, 0);
    }
    if (key == NULL || priv == NULL || pub == NULL
        || ota_sign_key_id(key, kid) != 0)
    {
        rc = otactl_fail("cannot make an Ed25519 key");
        goto done;
    }
    rc = otactl_key_write(dir, OTACTL_KEY_PRIV, priv, 0600, ppriv,
                          sizeof(ppriv));
    if (rc == 0) {
        rc = otactl_key_write(dir, OTACTL_KEY_PUB, pub, 0644, ppub,
                              sizeof(ppub));
        if (rc != 0) {
            unlink(ppriv);
        }
    }
    if (rc == 0) {
        if (o->json) {
            otactl_print_json(json_pack("{s:s, s:s, s:s}", "key_id", kid,
                                        "private", ppriv, "public", ppub));
        } else {
            printf("key %s\nprivate key: %s (keep it with the admin; otactl "
                   "package add --sign-key)\npublic key:  %s (for devices; "
                   "otactl package verify --pubkey)\n", kid, ppriv, ppub);
        }
    }

done:
    if (priv != NULL) {
        OPENSSL_cleanse(priv, strlen(priv));
    }
    free(priv);
    free(pub);
    EVP_PKEY_free(key);
    return rc;
}


/* what product set prints, direct or over the API */
static void
otactl_product_print(otactl_t *o, const char *prod, int req, const char *kid)
{
    if (o->json) {
        otactl_print_json(json_pack("{s:s, s:b, s:s?}", "product", prod,
            "require_signed", req, "key_id", kid[0] ? kid : NULL));
    } else {
        printf("product %s: %s, %s%s\n", prod,
               req ? "signed packages required" : "unsigned packages accepted",
               kid[0] ? "only key " : "any signing key", kid);
    }
}


/* PUT products/<p> {"require_signed"?, "pubkey"? (PEM, or null)} */
static int
otactl_api_product_set(otactl_t *o, const char *prod, int req, int noreq,
    const char *pem, int nopub)
{
    json_t  *body, *j;
    char     path[256], *esc;
    long     st;
    int      rc;

    body = json_object();
    if (body == NULL
        || ((req || noreq)
            && json_object_set_new(body, "require_signed",
                                   json_boolean(req)) != 0)
        || (pem && json_object_set_new(body, "pubkey", json_string(pem))
                   != 0)
        || (nopub && json_object_set_new(body, "pubkey", json_null()) != 0)
        || (esc = otactl_api_esc(o, prod)) == NULL)
    {
        json_decref(body);
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "products/%s", esc);
    otactl_api_free(esc);

    j = NULL;
    st = 0;
    rc = otactl_api(o, "PUT", path, body, OTACTL_API_404, &j, &st);
    json_decref(body);
    if (rc != OTACTL_OK) {
        return rc;
    }
    if (j == NULL) {
        return otactl_fail("no product %s (otactl device add ... --product "
                           "%s makes it)", prod, prod);
    }
    otactl_product_print(o, prod,
                         json_is_true(json_object_get(j, "require_signed")),
                         json_string_value(json_object_get(j, "key_id"))
                         ? json_string_value(json_object_get(j, "key_id"))
                         : "");
    json_decref(j);
    return OTACTL_OK;
}


/* ---- otactl product set <p> ----------------------------------------------- */

int
otactl_product(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t  opts[] = { { "require-signed", OTACTL_FLAG, 0, 0, 0 },
                             { "no-require-signed", OTACTL_FLAG, 0, 0, 0 },
                             { "pubkey", OTACTL_ARG, 0, 0, 0 },
                             { "no-pubkey", OTACTL_FLAG, 0, 0, 0 },
                             { NULL, 0, 0, 0, 0 } };
    otactl_pos_t  pos;
    const char   *prod, *pubfile;
    char          kid[OTA_SIGN_KEYID_LEN + 1], *pem = NULL;
    size_t        len;
    int           rc, req, noreq, nopub;
    ota_cmd_t     c;
    redisReply   *r;
    EVP_PKEY     *key;

    if (argc < 1 || strcmp(argv[0], "set") != 0) {
        return otactl_usage("product needs a verb: set <product> "
                            "[--require-signed|--no-require-signed] "
                            "[--pubkey PUB|--no-pubkey]");
    }
    if ((rc = otactl_parse(argc - 1, argv + 1, opts, &pos, "product set"))
        != 0)
    {
        return rc;
    }
    if (pos.npos != 1) {
        return otactl_usage("product set needs exactly one product");
    }
    prod = pos.pos[0];
    req = otactl_opt(opts, "require-signed") != NULL;
    noreq = otactl_opt(opts, "no-require-signed") != NULL;
    pubfile = otactl_opt(opts, "pubkey");
    nopub = otactl_opt(opts, "no-pubkey") != NULL;
    if (!ota_name_product(prod, strlen(prod))) {
        return otactl_fail("invalid product name \"%s\"", prod);
    }
    if ((req && noreq) || (pubfile && nopub)) {
        return otactl_usage("product set: contradictory options");
    }
    if (!req && !noreq && !pubfile && !nopub) {
        return otactl_usage("product set: nothing to set");
    }
    if (pubfile != NULL) {
        key = otactl_key_file(pubfile, 0);
        if (key == NULL) {
            return OTACTL_FAIL;
        }
        rc = ota_sign_key_id(key, kid);
        EVP_PKEY_free(key);
        if (rc != 0
            || otactl_read_small(pubfile, OTACTL_KEY_MAX, &pem, &len) != 0)
        {
            return otactl_fail("%s: cannot read the key", pubfile);
        }
    }

    if (o->api) {
        rc = otactl_api_product_set(o, prod, req, noreq, pem, nopub);
        free(pem);
        return rc;
    }

    /* lua/admin/product_set.lua, as PUT products/<p> runs it */
    ota_cmd_init(&c);
    ota_cmd_adds(&c, prod);
    ota_cmd_adds(&c, req ? "1" : noreq ? "0" : "");
    ota_cmd_adds(&c, pem ? "set" : nopub ? "del" : "");
    ota_cmd_adds(&c, pem ? pem : "");
    ota_cmd_adds(&c, pem ? kid : "");
    free(pem);

    r = NULL;
    if (otactl_connect(o) == 0) {
        r = otactl_script(o, &otactl_lua_scripts[OTACTL_LUA_PRODUCT_SET], &c);
    }
    ota_cmd_free(&c);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        if (r != NULL) {
            otactl_fail("Redis refused: %s", ota_reply_str(r));
        }
        freeReplyObject(r);
        return OTACTL_FAIL;
    }
    if (strcmp(ota_reply_str(r->element[0]), "noproduct") == 0
        || r->elements < 3)
    {
        freeReplyObject(r);
        return otactl_fail("no product %s (otactl device add ... --product "
                           "%s makes it)", prod, prod);
    }
    otactl_audit(o, OTA_ACT_PRODUCT_SET, prod, 200, NULL);
    otactl_product_print(o, prod,
                         strcmp(ota_reply_str(r->element[1]), "1") == 0,
                         ota_reply_str(r->element[2]));
    freeReplyObject(r);
    return OTACTL_OK;
}


/* ---- otactl package verify <id> --pubkey PUB ----------------------------- */

/* sha256 of a file in hex; 0 or -1 */
static int
otactl_sha256_file(const char *path, char *hex)
{
    unsigned char  buf[1 << 16], dg[EVP_MAX_MD_SIZE];
    unsigned int   dl, i;
    EVP_MD_CTX    *ctx;
    ssize_t        n;
    int            fd;

    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        close(fd);
        return -1;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        EVP_DigestUpdate(ctx, buf, (size_t) n);
    }
    close(fd);
    EVP_DigestFinal_ex(ctx, dg, &dl);
    EVP_MD_CTX_free(ctx);
    if (n < 0) {
        return -1;
    }
    for (i = 0; i < dl; i++) {
        sprintf(hex + 2 * i, "%02x", dg[i]);
    }
    return 0;
}


/* the manifest says what the record says; NULL, or the field that differs */
static const char *
otactl_manifest_matches(json_t *m, const char **rec)
{
    static const char  *names[] = { "id", "product", "module", "version",
                                    "type", "from" };
    json_t             *rf, *mf, *a, *b;
    size_t              i;

    if (!json_is_object(m)
        || strcmp(json_string_value(json_object_get(m, "format"))
                  ? json_string_value(json_object_get(m, "format")) : "",
                  OTA_SIGN_FORMAT) != 0)
    {
        return "format";
    }
    for (i = 0; i < 6; i++) {
        const char *v = json_string_value(json_object_get(m, names[i]));
        const char *w = rec[i];

        if (v == NULL || strcmp(v, strcmp(names[i], "type") == 0 && !w[0]
                                   ? "full" : w) != 0)
        {
            return names[i];
        }
    }
    rf = json_loads(rec[6], 0, NULL);
    mf = json_object_get(m, "files");
    if (!json_is_array(rf) || !json_is_array(mf)
        || json_array_size(rf) != json_array_size(mf))
    {
        json_decref(rf);
        return "files";
    }
    json_array_foreach(rf, i, a) {
        b = json_array_get(mf, i);
        if (!json_equal(json_object_get(a, "name"), json_object_get(b, "name"))
            || !json_equal(json_object_get(a, "size"),
                           json_object_get(b, "size")))
        {
            json_decref(rf);
            return "files";
        }
    }
    json_decref(rf);
    return NULL;
}


int
otactl_package_verify(otactl_t *o, int argc, char **argv)
{
    otactl_opt_t    opts[] = { { "pubkey", OTACTL_ARG, 0, 0, 0 },
                               { NULL, 0, 0, 0, 0 } };
    otactl_pos_t    pos;
    const char     *id, *pubfile, *why, *mb, *sb;
    char            kid[OTA_SIGN_KEYID_LEN + 1], hex[OTA_HEX_SHA256_LEN + 1];
    char            path[4096];
    unsigned char  *man = NULL, sig[OTA_SIGN_LEN + 3];
    size_t          mlen, slen, i, checked = 0;
    static const char  *names[] = { "id", "product", "module", "version",
                                    "type", "from", "files", "manifest",
                                    "signature", "sign_key" };
    redisReply     *r = NULL;
    EVP_PKEY       *key;
    json_t         *m = NULL, *f, *jr = NULL;
    char           *files_js = NULL;
    const char     *rec[10];
    int             rc;

    if ((rc = otactl_parse(argc, argv, opts, &pos, "package verify")) != 0) {
        return rc;
    }
    pubfile = otactl_opt(opts, "pubkey");
    if (pos.npos != 1 || pubfile == NULL) {
        return otactl_usage("package verify needs a package id and --pubkey "
                            "PUB");
    }
    id = pos.pos[0];
    if (!ota_name_id(id, strlen(id))) {
        return otactl_fail("invalid package id \"%s\"", id);
    }
    key = otactl_key_file(pubfile, 0);
    if (key == NULL || ota_sign_key_id(key, kid) != 0) {
        EVP_PKEY_free(key);
        return OTACTL_FAIL;
    }

    if (o->api) {
        /* the record over the API (GET packages/<id>); the files are in
         * the server's store, out of reach: the signature and the
         * manifest against the record are checked */
        char  path[128];
        long  st;

        snprintf(path, sizeof(path), "packages/%s", id);
        rc = otactl_api_get(o, path, OTACTL_API_404, &jr, &st);
        if (rc != OTACTL_OK) {
            EVP_PKEY_free(key);
            return rc;
        }
        rc = OTACTL_FAIL;
        if (jr == NULL) {
            otactl_fail("no package %s", id);
            goto done;
        }
        files_js = json_dumps(json_object_get(jr, "files"), JSON_COMPACT);
        for (i = 0; i < 10; i++) {
            rec[i] = i == 6 ? (files_js ? files_js : "")
                     : json_string_value(json_object_get(jr, names[i]));
            if (rec[i] == NULL) {
                rec[i] = "";
            }
        }
    } else {
        r = otactl_cmd(o, "HMGET " OTA_KEY_PACKAGE " id product module "
                       "version type from files manifest signature sign_key",
                       id);
        if (r == NULL) {
            EVP_PKEY_free(key);
            return OTACTL_FAIL;
        }
        rc = OTACTL_FAIL;
        if (r->element[0]->type != REDIS_REPLY_STRING) {
            otactl_fail("no package %s", id);
            goto done;
        }
        for (i = 0; i < 10; i++) {
            rec[i] = ota_reply_str(r->element[i]);
        }
    }
    mb = rec[7];
    sb = rec[8];
    if (mb[0] == '\0') {
        otactl_fail("package %s is not signed", id);
        goto done;
    }
    man = malloc(strlen(mb) / 4 * 3 + 3);
    if (man == NULL || ota_b64_decode(mb, strlen(mb), man, &mlen) != 0
        || strlen(sb) != OTA_B64_LEN(OTA_SIGN_LEN)
        || ota_b64_decode(sb, strlen(sb), sig, &slen) != 0)
    {
        otactl_fail("package %s: its manifest or signature is not base64",
                    id);
        goto done;
    }
    if (!ota_sign_verify(key, man, mlen, sig, slen)) {
        otactl_fail("package %s: the signature does not verify with key %s "
                    "(%s; the package names key %s)", id, kid, pubfile,
                    rec[9]);
        goto done;
    }
    m = json_loadb((char *) man, mlen, 0, NULL);
    why = otactl_manifest_matches(m, rec);
    if (why != NULL) {
        otactl_fail("package %s: the signed manifest's %s is not the "
                    "package's", id, why);
        goto done;
    }

    /* the files in the store are the ones signed */
    if (o->store != NULL && !o->api) {
        json_array_foreach(json_object_get(m, "files"), i, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            const char *want = json_string_value(json_object_get(f, "sha256"));

            if (snprintf(path, sizeof(path), "%s/%s/%s", o->store, id, name)
                >= (int) sizeof(path) || otactl_sha256_file(path, hex) != 0)
            {
                otactl_fail("package %s: cannot read %s", id, path);
                goto done;
            }
            if (want == NULL || strcmp(hex, want) != 0) {
                otactl_fail("package %s: %s in the store is not the file "
                            "signed (sha256 %s, signed %s)", id, name, hex,
                            want ? want : "none");
                goto done;
            }
            checked++;
        }
    }

    if (o->json) {
        otactl_print_json(json_pack("{s:s, s:b, s:s, s:I}", "id", id,
            "verified", 1, "key_id", kid, "files_checked",
            (json_int_t) checked));
    } else {
        printf("package %s: signature good (key %s)", id, kid);
        if (o->api) {
            printf("; the files were not checked (over the admin API: the "
                   "store is the server's)\n");
        } else if (o->store != NULL) {
            printf(", %zu file%s in the store match%s it\n", checked,
                   checked == 1 ? "" : "s", checked == 1 ? "es" : "");
        } else {
            printf("; the files were not checked (no --store)\n");
        }
    }
    rc = OTACTL_OK;

done:
    json_decref(m);
    json_decref(jr);
    free(files_js);
    free(man);
    freeReplyObject(r);
    EVP_PKEY_free(key);
    return rc;
}


/* ---- package add --sign-key over the admin API -------------------------- */

/*
 * Signs package id, uploaded with sign_later and waiting in state
 * unsigned: the manifest is made here from the local files (their sha256)
 * and the id the server chose, and signed only when it is byte for byte
 * the one the server serves (GET packages/<id>/manifest), so the key signs
 * what this host has; then POST packages/<id>/signature.  OTACTL_OK with
 * the package's state and key id in *out (the caller's), or the exit code
 * with the reason printed.
 */
int
otactl_api_sign_package(otactl_t *o, otactl_pkg_spec_t *sp, const char *id,
    json_t **out)
{
    json_t          *j, *body;
    char             path[256], *esc, *pub;
    const char      *man;
    otactl_signed_t  sg;
    int              i, rc;

    *out = NULL;
    memset(&sg, 0, sizeof(sg));

    sg.key = otactl_key_file(sp->sign_key, 1);
    if (sg.key == NULL) {
        return OTACTL_FAIL;
    }
    if (ota_sign_key_id(sg.key, sg.key_id) != 0) {
        otactl_signed_free(&sg);
        return otactl_fail("%s: not an Ed25519 key", sp->sign_key);
    }
    for (i = 0; i < sp->nfiles; i++) {
        if (otactl_sha256_file(sp->files[i].path, sp->files[i].sha256) != 0) {
            otactl_signed_free(&sg);
            return otactl_fail("cannot read %s", sp->files[i].path);
        }
    }
    if (otactl_sign_package(id, sp, &sg) != 0) {
        otactl_signed_free(&sg);
        return OTACTL_FAIL;
    }

    esc = otactl_api_esc(o, id);
    if (esc == NULL) {
        otactl_signed_free(&sg);
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "packages/%s/manifest", esc);
    rc = otactl_api_get(o, path, 0, &j, NULL);
    if (rc != OTACTL_OK) {
        otactl_api_free(esc);
        otactl_signed_free(&sg);
        return rc;
    }
    man = json_string_value(json_object_get(j, "manifest"));
    if (man == NULL || strcmp(man, sg.manifest) != 0) {
        json_decref(j);
        otactl_api_free(esc);
        otactl_signed_free(&sg);
        return otactl_fail("the server's manifest of package %s does not "
                           "name these files as they are here: not signed "
                           "(GET packages/%s/manifest)", id, id);
    }
    json_decref(j);

    pub = ota_sign_key_to_pem(sg.key, 0);
    body = pub ? json_pack("{s:s, s:s}", "sig", sg.signature, "pubkey", pub)
               : NULL;
    free(pub);
    if (body == NULL) {
        otactl_api_free(esc);
        otactl_signed_free(&sg);
        return otactl_fail("out of memory");
    }
    snprintf(path, sizeof(path), "packages/%s/signature", esc);
    otactl_api_free(esc);
    rc = otactl_api(o, "POST", path, body, 0, out, NULL);
    json_decref(body);
    otactl_signed_free(&sg);
    return rc;
}
