/*
 * ngx_ota_package.c: package manifests (<root>/<id>/manifest.json, layout
 * in ota_fields.h and docs/redis-schema.md), read once per worker process.
 *
 * Packages are immutable once their manifest exists, so an entry never goes
 * stale; the cache is bounded (least recently used entries go first) and
 * each entry lives in its own small pool so evicting it frees everything.
 * A missing package is not remembered: it may be added a second later.
 */

#include "ngx_ota_package.h"
#include "ngx_ota_core.h"

#include "ota_fields.h"
#include "ota_names.h"


#define NGX_OTA_PKG_CACHE_MAX     256
#define NGX_OTA_MANIFEST_MAX      (1024 * 1024)


typedef struct {
    ngx_str_node_t        sn;           /* key: "<root>/<id>" */
    ngx_queue_t           lru;
    ngx_pool_t           *pool;
    ngx_ota_pkg_t         pkg;
} ngx_ota_pkg_entry_t;


static ngx_rbtree_t       ngx_ota_pkg_tree;
static ngx_rbtree_node_t  ngx_ota_pkg_sentinel;
static ngx_queue_t        ngx_ota_pkg_lru;
static ngx_uint_t         ngx_ota_pkg_n;
static ngx_uint_t         ngx_ota_pkg_inited;


static ngx_int_t
ngx_ota_manifest_str(ngx_pool_t *pool, json_t *obj, const char *key,
    ngx_str_t *out, ngx_uint_t required)
{
    json_t      *v;
    const char  *s;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        ngx_str_null(out);
        return required ? NGX_DECLINED : NGX_OK;
    }

    if (!json_is_string(v)) {
        return NGX_DECLINED;
    }

    s = json_string_value(v);
    out->len = json_string_length(v);
    out->data = ngx_pnalloc(pool, out->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, s, out->len);
    out->data[out->len] = '\0';

    return NGX_OK;
}


static ngx_uint_t
ngx_ota_is_hex(ngx_str_t *s, size_t len)
{
    size_t  i;
    u_char  c;

    if (s->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = ngx_tolower(s->data[i]);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
        s->data[i] = c;                 /* ETags compare exactly: lower case */
    }

    return 1;
}


/* fills pkg from the manifest text; a reason in *why when it is invalid */
static ngx_int_t
ngx_ota_manifest_parse(ngx_pool_t *pool, ngx_str_t *id, u_char *text,
    size_t len, ngx_ota_pkg_t *pkg, const char **why)
{
    off_t          offset;
    size_t         hexlen;
    json_t        *root, *files, *f, *v;
    ngx_int_t      rc;
    ngx_uint_t     i;
    json_error_t   err;

    root = json_loadb((const char *) text, len, 0, &err);
    if (root == NULL || !json_is_object(root)) {
        *why = "not a JSON object";
        rc = NGX_DECLINED;
        goto done;
    }

    rc = NGX_DECLINED;

    if (ngx_ota_manifest_str(pool, root, "id", &pkg->id, 0) != NGX_OK
        || ngx_ota_manifest_str(pool, root, "product", &pkg->product, 0) != NGX_OK
        || ngx_ota_manifest_str(pool, root, "module", &pkg->module, 0) != NGX_OK
        || ngx_ota_manifest_str(pool, root, "sign_method", &pkg->sign_method, 1)
           != NGX_OK)
    {
        *why = "\"id\", \"product\", \"module\" or \"sign_method\" is "
               "missing or not a string";
        goto done;
    }

    if (pkg->id.len
        && (pkg->id.len != id->len
            || ngx_strncmp(pkg->id.data, id->data, id->len) != 0))
    {
        *why = "its \"id\" is not the directory's name";
        goto done;
    }

    pkg->id.len = id->len;
    pkg->id.data = ngx_pstrdup(pool, id);
    if (pkg->id.data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    if (pkg->module.len == 0) {
        ngx_str_set(&pkg->module, "default");
    }

    if (pkg->sign_method.len == 3
        && ngx_strncmp(pkg->sign_method.data, "md5", 3) == 0)
    {
        hexlen = 32;

    } else if (pkg->sign_method.len == 6
               && ngx_strncmp(pkg->sign_method.data, "sha256", 6) == 0)
    {
        hexlen = 64;

    } else {
        *why = "\"sign_method\" is neither \"md5\" nor \"sha256\"";
        goto done;
    }

    files = json_object_get(root, "files");
    if (!json_is_array(files) || json_array_size(files) == 0) {
        *why = "\"files\" is not a non-empty array";
        goto done;
    }

    pkg->nfiles = json_array_size(files);
    pkg->files = ngx_pcalloc(pool, pkg->nfiles * sizeof(ngx_ota_pkg_file_t));
    if (pkg->files == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    offset = 0;

    for (i = 0; i < pkg->nfiles; i++) {
        f = json_array_get(files, i);

        if (!json_is_object(f)
            || ngx_ota_manifest_str(pool, f, "name", &pkg->files[i].name, 1)
               != NGX_OK
            || ngx_ota_manifest_str(pool, f, "sign", &pkg->files[i].sign, 1)
               != NGX_OK)
        {
            *why = "a file has no \"name\" or \"sign\"";
            goto done;
        }

        if (!ota_name_file((char *) pkg->files[i].name.data,
                           pkg->files[i].name.len))
        {
            *why = "a file name is not a valid stored file name";
            goto done;
        }

        if (!ngx_ota_is_hex(&pkg->files[i].sign, hexlen)) {
            *why = "a file's \"sign\" is not a hex digest of \"sign_method\"";
            goto done;
        }

        v = json_object_get(f, "size");
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            *why = "a file's \"size\" is not a non-negative integer";
            goto done;
        }
        pkg->files[i].size = (off_t) json_integer_value(v);

        v = json_object_get(f, "offset");
        if (v != NULL
            && (!json_is_integer(v) || json_integer_value(v) != offset))
        {
            *why = "a file's \"offset\" is not the sum of the sizes before it";
            goto done;
        }
        pkg->files[i].offset = offset;

        offset += pkg->files[i].size;
    }

    v = json_object_get(root, "size");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) != offset)) {
        *why = "\"size\" is not the sum of the file sizes";
        goto done;
    }

    pkg->size = offset;
    rc = NGX_OK;

done:

    if (root) {
        json_decref(root);
    }

    return rc;
}


static ngx_int_t
ngx_ota_manifest_read(ngx_log_t *log, ngx_str_t *key, ngx_str_t *id,
    ngx_ota_pkg_entry_t *e)
{
    u_char           *path, *text, *p;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_err_t         err;
    ngx_file_info_t   fi;
    const char       *why;

    path = ngx_pnalloc(e->pool, key->len + sizeof("/" OTA_MANIFEST_NAME));
    if (path == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path, key->data, key->len);
    ngx_memcpy(p, "/" OTA_MANIFEST_NAME, sizeof("/" OTA_MANIFEST_NAME));

    /* one small read per package and process: the only disk access that
     * is not a sendfile, done the way nginx's own open file cache does */
    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            return NGX_DECLINED;
        }
        ngx_log_error(NGX_LOG_ERR, log, err,
                      "ota: cannot open package manifest \"%s\"", path);
        return NGX_ERROR;
    }

    text = NULL;
    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "ota: cannot stat package manifest \"%s\"", path);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_OTA_MANIFEST_MAX) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ota: package manifest \"%s\" is larger than %d bytes",
                      path, NGX_OTA_MANIFEST_MAX);
        goto done;
    }

    text = ngx_alloc((size_t) ngx_file_size(&fi) + 1, log);
    if (text == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, text, (size_t) ngx_file_size(&fi));
    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_log_error(NGX_LOG_ERR, log, n == -1 ? ngx_errno : 0,
                      "ota: cannot read package manifest \"%s\"", path);
        goto done;
    }

    why = "?";
    rc = ngx_ota_manifest_parse(e->pool, id, text, (size_t) n, &e->pkg, &why);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ota: invalid package manifest \"%s\": %s", path, why);
        rc = NGX_ERROR;
    }

done:

    if (text) {
        ngx_free(text);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", path);
    }

    return rc;
}


static void
ngx_ota_pkg_evict(void)
{
    ngx_queue_t          *q;
    ngx_ota_pkg_entry_t  *e;

    q = ngx_queue_last(&ngx_ota_pkg_lru);
    e = ngx_queue_data(q, ngx_ota_pkg_entry_t, lru);

    ngx_queue_remove(q);
    ngx_rbtree_delete(&ngx_ota_pkg_tree, &e->sn.node);
    ngx_ota_pkg_n--;

    ngx_destroy_pool(e->pool);
}


ngx_int_t
ngx_ota_package_get(ngx_log_t *log, ngx_str_t *root, ngx_str_t *id,
    ngx_ota_pkg_t **pkg)
{
    u_char               *p, buf[NGX_MAX_PATH];
    uint32_t              hash;
    ngx_int_t             rc;
    ngx_str_t             key;
    ngx_pool_t           *pool;
    ngx_ota_pkg_entry_t  *e;

    if (!ngx_ota_pkg_inited) {
        ngx_rbtree_init(&ngx_ota_pkg_tree, &ngx_ota_pkg_sentinel,
                        ngx_str_rbtree_insert_value);
        ngx_queue_init(&ngx_ota_pkg_lru);
        ngx_ota_pkg_inited = 1;
    }

    if (root->len + 1 + id->len + sizeof("/" OTA_MANIFEST_NAME) > sizeof(buf)) {
        return NGX_DECLINED;
    }

    p = ngx_cpymem(buf, root->data, root->len);
    *p++ = '/';
    p = ngx_cpymem(p, id->data, id->len);

    key.data = buf;
    key.len = p - buf;
    hash = ngx_crc32_short(key.data, key.len);

    e = (ngx_ota_pkg_entry_t *) ngx_str_rbtree_lookup(&ngx_ota_pkg_tree, &key,
                                                     hash);
    if (e != NULL) {
        ngx_queue_remove(&e->lru);
        ngx_queue_insert_head(&ngx_ota_pkg_lru, &e->lru);
        *pkg = &e->pkg;
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "ota manifest: \"%V\" from the cache", id);
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "ota manifest: \"%V\" read from the store", id);

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    e = ngx_pcalloc(pool, sizeof(ngx_ota_pkg_entry_t));
    if (e == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    e->pool = pool;
    e->sn.str.len = key.len;
    e->sn.str.data = ngx_pstrdup(pool, &key);
    if (e->sn.str.data == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    rc = ngx_ota_manifest_read(log, &e->sn.str, id, e);
    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return rc;
    }

    if (ngx_ota_pkg_n >= NGX_OTA_PKG_CACHE_MAX) {
        ngx_ota_pkg_evict();
    }

    e->sn.node.key = hash;
    ngx_rbtree_insert(&ngx_ota_pkg_tree, &e->sn.node);
    ngx_queue_insert_head(&ngx_ota_pkg_lru, &e->lru);
    ngx_ota_pkg_n++;

    *pkg = &e->pkg;

    return NGX_OK;
}


ngx_int_t
ngx_ota_package_copy(ngx_pool_t *pool, ngx_ota_pkg_t *src,
    ngx_ota_pkg_file_t *file, ngx_ota_pkg_t *dst, ngx_ota_pkg_file_t *dfile)
{
    *dst = *src;
    *dfile = *file;

    dst->files = dfile;
    dst->nfiles = 1;

#define ngx_ota_dup(s)                                                      \
    if ((s).len) {                                                          \
        (s).data = ngx_pstrdup(pool, &(s));                                 \
        if ((s).data == NULL) {                                             \
            return NGX_ERROR;                                               \
        }                                                                   \
    }

    ngx_ota_dup(dst->id);
    ngx_ota_dup(dst->product);
    ngx_ota_dup(dst->module);
    ngx_ota_dup(dst->sign_method);
    ngx_ota_dup(dfile->name);
    ngx_ota_dup(dfile->sign);

#undef ngx_ota_dup

    return NGX_OK;
}
