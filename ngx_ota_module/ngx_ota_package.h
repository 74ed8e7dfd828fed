/*
 * ngx_ota_package.h: package manifests of the package store, cached per
 * process (ngx_ota_package.c; docs/redis-schema.md, "Package store").
 */

#ifndef NGX_OTA_PACKAGE_H
#define NGX_OTA_PACKAGE_H

#include "ngx_ota_core.h"


typedef struct {
    ngx_str_t             name;
    off_t                 size;
    off_t                 offset;       /* first byte in the package space */
    ngx_str_t             sign;         /* hex digest */
} ngx_ota_pkg_file_t;

typedef struct {
    ngx_str_t             id;
    ngx_str_t             product;
    ngx_str_t             module;
    ngx_str_t             sign_method;  /* "md5" | "sha256" */
    off_t                 size;         /* all files */
    ngx_uint_t            nfiles;
    ngx_ota_pkg_file_t   *files;
} ngx_ota_pkg_t;

/*
 * The manifest of <root>/<id>, read once per worker process and kept in a
 * bounded cache (packages are immutable).  *pkg is valid until the next
 * call: callers copy what they keep (ngx_ota_package_copy).
 * NGX_OK, NGX_DECLINED (no such package), NGX_ERROR (unreadable or invalid
 * manifest, logged).
 */
ngx_int_t ngx_ota_package_get(ngx_log_t *log, ngx_str_t *root, ngx_str_t *id,
    ngx_ota_pkg_t **pkg);

/* Copies the package's identity and one file into pool. */
ngx_int_t ngx_ota_package_copy(ngx_pool_t *pool, ngx_ota_pkg_t *src,
    ngx_ota_pkg_file_t *file, ngx_ota_pkg_t *dst, ngx_ota_pkg_file_t *dfile);

#endif /* NGX_OTA_PACKAGE_H */
