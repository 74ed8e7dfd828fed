/*
 * ngx_ota_download.h: what ngx_ota_download.c, ngx_ota_package.c and
 * ngx_ota_progress.c share (docs/download.md).
 */

#ifndef NGX_OTA_DOWNLOAD_H
#define NGX_OTA_DOWNLOAD_H

#include "ngx_ota_module.h"


/* ---- package manifests (ngx_ota_package.c) ---------------------------- */

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


/* ---- delivered bytes (ngx_ota_ack.c) ---------------------------------- */

/* a stretch of a response body: len bytes at package offset start, or
 * bytes that are not the file (start -1: multipart boundaries) */
typedef struct {
    off_t                 len;
    off_t                 start;
} ngx_ota_seg_t;

typedef struct ngx_ota_ack_tail_s  ngx_ota_ack_tail_t;

/* [start, end) of the package reached the device */
typedef void (*ngx_ota_ack_pt)(void *data, off_t start, off_t end);
/* the tail is over; lost: its bytes never acknowledged */
typedef void (*ngx_ota_ack_done_pt)(void *data, off_t lost);

/* Bytes written to c's socket that its peer has not acknowledged yet
 * (unsent + unacknowledged), -1 when the socket cannot tell. */
off_t ngx_ota_ack_unacked(ngx_connection_t *c);

/* The connection r's bytes go out on (under HTTP/2 the one of all its
 * streams). */
ngx_connection_t *ngx_ota_ack_connection(ngx_http_request_t *r);

/*
 * r ends with len body bytes written but not acknowledged: the bytes from
 * skip bytes into segs (nsegs of them).  Watches them on the connection
 * until they are acknowledged or the connection ends: acked() for each
 * delivered file stretch, in order, then finished() once.  NGX_OK, or
 * NGX_DECLINED / NGX_ERROR when they cannot be watched (the caller counts
 * them lost); the callbacks are not called then.
 */
ngx_int_t ngx_ota_ack_watch(ngx_http_request_t *r, ngx_ota_seg_t *segs,
    ngx_uint_t nsegs, off_t skip, off_t len, ngx_ota_ack_pt acked,
    ngx_ota_ack_done_pt finished, void *data);

void ngx_ota_ack_init_process(ngx_cycle_t *cycle);
void ngx_ota_ack_exit_process(ngx_cycle_t *cycle);


/* ---- progress (ngx_ota_progress.c) ------------------------------------ */

/*
 * Starts counting the body of r (a download of file of pkg by device)
 * into the device's coverage; call right before ngx_http_send_header().
 * Failures only cost the progress of this request (logged, counted).
 */
void ngx_ota_progress_start(ngx_http_request_t *r, ngx_str_t *device,
    ngx_ota_pkg_t *pkg, ngx_ota_pkg_file_t *file);

#endif /* NGX_OTA_DOWNLOAD_H */
