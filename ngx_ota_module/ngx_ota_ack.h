/*
 * ngx_ota_ack.h: which bytes of a response the client acknowledged
 * (ngx_ota_ack.c; docs/download.md).
 */

#ifndef NGX_OTA_ACK_H
#define NGX_OTA_ACK_H

#include "ngx_ota_core.h"


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
 * r ends with len body bytes written but not known to be acknowledged: the
 * bytes from skip bytes into segs (nsegs of them).  Watches them on the
 * connection until they are acknowledged or the connection ends: acked()
 * for each delivered file stretch, in order, then finished() once.  kept:
 * the connection is kept alive after r (its first check may wait longer).
 * NGX_OK, or NGX_DECLINED / NGX_ERROR when they cannot be watched (the
 * caller asks the socket itself and counts the rest lost); the callbacks
 * are not called then.
 */
ngx_int_t ngx_ota_ack_watch(ngx_http_request_t *r, ngx_ota_seg_t *segs,
    ngx_uint_t nsegs, off_t skip, off_t len, ngx_uint_t kept,
    ngx_ota_ack_pt acked, ngx_ota_ack_done_pt finished, void *data);

/* Registers the post-read phase handler that checks a connection's tails
 * when its next request arrives (postconfiguration). */
ngx_int_t ngx_ota_ack_postconf(ngx_conf_t *cf);

void ngx_ota_ack_init_process(ngx_cycle_t *cycle);
void ngx_ota_ack_exit_process(ngx_cycle_t *cycle);

#endif /* NGX_OTA_ACK_H */
