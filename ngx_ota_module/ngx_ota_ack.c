/*
 * ngx_ota_ack.c: which bytes of a download reached the device
 * (docs/download.md, "Delivered means acknowledged").
 *
 * c->sent counts what the kernel accepted, not what the device got: a
 * client that reads a little and closes leaves up to a socket buffer of
 * bytes behind.  So a byte counts only once the peer's TCP acknowledged it:
 *
 * - ngx_ota_ack_unacked() asks the socket how many of the bytes written to
 *   it are not acknowledged yet (SIOCOUTQ: unsent + unacknowledged).  The
 *   last bytes written leave the queue last, so a response's bytes that are
 *   not among the last `unacked` bytes were delivered.  Bytes written after
 *   them (a header, the next response) only make the count larger: the
 *   rule undercounts for a moment, it never overcounts.  Under HTTP/2 the
 *   queue is the connection's, shared by its streams: the same rule, just
 *   as safe.
 * - when a request ends its last bytes are usually still in flight: that
 *   "tail" (all the body the owner has not accounted: the request's end
 *   does not ask the socket, the tail's first check does) is watched on
 *   the connection's socket, checked on a timer with backoff (5 ms, 10 ms,
 *   ... 1 s; 100 ms, 200 ms, ... on a connection kept alive, whose next
 *   request or close asks first; the first checks of the fresh tails in
 *   one FIFO per kind under one process timer, since all of a kind wait as
 *   long), so it is learnt even when
 *   nginx closes the connection right after (the client's FIN carries its
 *   last acknowledgements; a Connection: close response drains after
 *   close()).  What is acknowledged is handed to the owner as delivered.
 *   A tail ends when all of it is acknowledged, when the socket is closed
 *   or reset (what is missing then never arrived), or when nginx has closed
 *   the connection and nothing moved for NGX_OTA_ACK_STALL ms (the socket
 *   is let go then, as the kernel would have).  A slow device that keeps
 *   draining a large socket buffer keeps its tail watched however long it
 *   takes: giving up on bytes it did receive would leave it short of 100 %
 *   for good, since it never asks for them again.
 * - the connection's close: ngx_close_connection() calls the event
 *   module's del_conn right before close(), and this file hooks it
 *   (ngx_ota_ack_closing).  The tails of the closing connection are asked
 *   once more; one all acknowledged ends there, one still in flight gets a
 *   duplicate of the descriptor, so the socket outlives nginx's close()
 *   until the next check after it.  Made for speed: a dup and its close
 *   only for a tail in flight at the close, not one per piece.  Without a
 *   hook (no del_conn), or for a tail not listed under its fd, the
 *   duplicate is taken when the tail starts, as before.  If it cannot be
 *   made, the tail is watched on the connection itself while the
 *   connection lives.
 * - the next request on the same connection checks its tails at once
 *   (ngx_ota_ack_next_request, a post-read phase handler): a client that
 *   reads a response before it sends its next request has acknowledged it
 *   by then (the request's segment carries the ACK).  One question to a
 *   socket that is warm in the caches instead of one or two on the timer
 *   5-15 ms later (made for speed: bench/README.md, "nginx's kernel
 *   time").  Asking more often is always safe: only what the socket says
 *   is acknowledged is handed over; a pipelining client's tail simply
 *   stays on its timer.
 */

#include "ngx_ota_ack.h"
#include "ngx_ota_core.h"

#include <sys/ioctl.h>
#include <netinet/tcp.h>
#if (NGX_LINUX)
#include <linux/sockios.h>
#endif


#define NGX_OTA_ACK_FIRST   5               /* ms to the first check */
#define NGX_OTA_ACK_KEPT    100             /* ... of a tail on a connection
                                               kept alive (its next request
                                               or its close asks first) */
#define NGX_OTA_ACK_LAST    1000            /* longest wait between checks */
#define NGX_OTA_ACK_SEGS    4               /* segments of a kept tail */
#define NGX_OTA_ACK_KEEP    256             /* tails kept for reuse */
#define NGX_OTA_ACK_STALL   60000           /* ms without progress, once
                                               nginx closed the connection */


struct ngx_ota_ack_tail_s {
    ngx_queue_t           queue;            /* every tail of the process */
    ngx_queue_t           fresh;            /* in the first check's FIFO */
    ngx_msec_t            due;              /* ... until then */
    ngx_event_t           timer;            /* the checks after the first */
    ngx_msec_t            wait;             /* backoff */
    ngx_msec_t            moved;            /* when bytes were last acked */

    ngx_ota_ack_tail_t   *fd_next;          /* the tails of one fd */
    ngx_ota_ack_tail_t  **fd_prev;

    ngx_connection_t     *c;                /* the connection, while ... */
    ngx_atomic_uint_t     number;           /* ... its number is this */
    ngx_socket_t          cfd;              /* and its fd this */
    ngx_socket_t          fd;               /* ours (a dup), or -1 */

    off_t                 len;              /* bytes watched */
    off_t                 done;             /* of them, handed over */
    ngx_uint_t            nsegs;
    ngx_uint_t            seg;              /* first not wholly handed over */
    off_t                 seg_done;

    ngx_ota_ack_pt        acked;
    ngx_ota_ack_done_pt   finished;
    void                 *data;

    unsigned              in_fresh:1;
    unsigned              reusable:1;       /* NGX_OTA_ACK_SEGS segments */

    ngx_ota_seg_t         segs[1];          /* nsegs of them */
};


static void ngx_ota_ack_timer(ngx_event_t *ev);
static void ngx_ota_ack_fresh_timer(ngx_event_t *ev);
static ngx_int_t ngx_ota_ack_del_conn(ngx_connection_t *c, ngx_uint_t flags);


static ngx_queue_t   ngx_ota_ack_tails;
static ngx_log_t    *ngx_ota_ack_log;

/* made for speed: every fresh tail of a kind waits as long for its first
 * check (NGX_OTA_ACK_FIRST, NGX_OTA_ACK_KEPT), so they wait in one FIFO per
 * kind under one process timer instead of an rbtree insert and delete each
 * (most end at their connection's next request before it fires) */
typedef struct {
    ngx_queue_t           tails;            /* by due time */
    ngx_event_t           ev;
    ngx_msec_t            wait;
} ngx_ota_ack_fifo_t;

static ngx_ota_ack_fifo_t  ngx_ota_ack_fresh[2];   /* [1]: kept alive */

/* made for speed: tails of a few segments (a range, a piece of a
 * multipart answer) are kept for the next one, a malloc and a free less
 * per piece; the list goes through fd_next */
static ngx_ota_ack_tail_t  *ngx_ota_ack_free;
static ngx_uint_t           ngx_ota_ack_nfree;

/* the event module's del_conn, which ngx_close_connection() calls right
 * before it closes the socket: NULL when there is none to hook (the tails
 * then take a duplicate of the descriptor each, as they go) */
static ngx_int_t   (*ngx_ota_ack_orig_del_conn)(ngx_connection_t *c,
    ngx_uint_t flags);

/* live tails by the connection's fd, for the next request's check */
static ngx_ota_ack_tail_t  **ngx_ota_ack_by_fd;
static ngx_uint_t            ngx_ota_ack_nfd;
static ngx_uint_t            ngx_ota_ack_listed;

#define NGX_OTA_ACK_FD_MAX  (1 << 20)       /* fds beyond: the timer only */


static off_t
ngx_ota_ack_outq(ngx_socket_t fd)
{
    int  n;

    if (fd == (ngx_socket_t) -1) {
        return -1;
    }

#if (NGX_LINUX)
    if (ioctl(fd, SIOCOUTQ, &n) == -1) {
        return -1;
    }
#elif defined(FIONWRITE)
    if (ioctl(fd, FIONWRITE, &n) == -1) {
        return -1;
    }
#else
    n = 0;                      /* no way to ask: as if everything arrived */
#endif

    return n > 0 ? (off_t) n : 0;
}


off_t
ngx_ota_ack_unacked(ngx_connection_t *c)
{
    return ngx_ota_ack_outq(c->fd);
}


/* the connection a request's bytes travel on: HTTP/2 streams share one */
ngx_connection_t *
ngx_ota_ack_connection(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return r->stream->connection->connection;
    }
#endif

    return r->connection;
}


/* 1 while nginx still has the connection the tail was written on: closed,
 * its fd is -1; reused, its number changed */
static ngx_uint_t
ngx_ota_ack_open(ngx_ota_ack_tail_t *t)
{
    return t->c->fd == t->cfd && t->c->number == t->number
           && t->cfd != (ngx_socket_t) -1;
}


/* 1 when the socket is gone: closed or reset, nothing more will arrive */
static ngx_uint_t
ngx_ota_ack_dead(ngx_socket_t fd)
{
#if (NGX_LINUX)
    struct tcp_info  ti;
    socklen_t        len = sizeof(ti);

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        return ti.tcpi_state == TCP_CLOSE;
    }
#endif

    return 0;
}


/* hands the tail's acknowledged bytes over to its owner, in order */
static void
ngx_ota_ack_hand(ngx_ota_ack_tail_t *t, off_t unacked)
{
    off_t           acked, take;
    ngx_ota_seg_t  *s;

    acked = t->len - ngx_min(unacked, t->len);

    while (t->done < acked && t->seg < t->nsegs) {
        s = &t->segs[t->seg];

        take = ngx_min(s->len - t->seg_done, acked - t->done);

        if (s->start >= 0) {
            t->acked(t->data, s->start + t->seg_done,
                     s->start + t->seg_done + take);
        }

        t->seg_done += take;
        t->done += take;

        if (t->seg_done == s->len) {
            t->seg++;
            t->seg_done = 0;
        }
    }
}


/* the tail is over: delivered as far as acknowledged, the rest lost */
static void
ngx_ota_ack_end(ngx_ota_ack_tail_t *t)
{
    if (t->in_fresh) {
        ngx_queue_remove(&t->fresh);
    }

    if (t->timer.timer_set) {
        ngx_del_timer(&t->timer);
    }

    if (t->fd != (ngx_socket_t) -1) {
        (void) ngx_close_socket(t->fd);
    }

    ngx_queue_remove(&t->queue);

    if (t->fd_prev) {
        *t->fd_prev = t->fd_next;
        if (t->fd_next) {
            t->fd_next->fd_prev = t->fd_prev;
        }
        ngx_ota_ack_listed--;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_ota_ack_log, 0,
                   "ota: tail of %O bytes done, %O acknowledged, %O lost",
                   t->len, t->done, t->len - t->done);

    t->finished(t->data, t->len - t->done);

    if (t->reusable && ngx_ota_ack_nfree < NGX_OTA_ACK_KEEP) {
        t->fd_next = ngx_ota_ack_free;
        ngx_ota_ack_free = t;
        ngx_ota_ack_nfree++;
        return;
    }

    ngx_free(t);
}


/* final: the process exits, what is acknowledged now is all there is */
static void
ngx_ota_ack_check(ngx_ota_ack_tail_t *t, ngx_uint_t final)
{
    off_t         unacked;
    ngx_uint_t    open;
    ngx_socket_t  fd;

    open = ngx_ota_ack_open(t);
    fd = t->fd != (ngx_socket_t) -1 ? t->fd : (open ? t->cfd : -1);

    unacked = ngx_ota_ack_outq(fd);

    if (unacked >= 0) {
        if (t->len - ngx_min(unacked, t->len) > t->done) {
            t->moved = ngx_current_msec;
        }
        ngx_ota_ack_hand(t, unacked);
    }

    /* made for speed: whether the socket died is asked (getsockopt) only
     * once nginx let the connection go: while nginx has it, a reset or a
     * close reaches nginx's own handlers, which close it, and the next
     * check asks then (a syscall less per check of a live tail) */
    if (t->done == t->len || unacked < 0 || final
        || (!open && (ngx_ota_ack_dead(fd)
                      || ngx_current_msec - t->moved >= NGX_OTA_ACK_STALL)))
    {
        ngx_ota_ack_end(t);
        return;
    }

    t->wait = ngx_min(t->wait * 2, NGX_OTA_ACK_LAST);
    ngx_add_timer(&t->timer, t->wait);
}


static void
ngx_ota_ack_timer(ngx_event_t *ev)
{
    ngx_ota_ack_tail_t  *t;

    /* ev->data is the stand-in connection (ngx_ota_event_init) */
    t = (ngx_ota_ack_tail_t *) ((u_char *) ev
                                - offsetof(ngx_ota_ack_tail_t, timer));

    ngx_ota_ack_check(t, 0);
}


/* the first checks of a FIFO's tails whose first wait is over; the tails
 * that go on wait on timers of their own from then on (backoff) */
static void
ngx_ota_ack_fresh_timer(ngx_event_t *ev)
{
    ngx_queue_t         *q;
    ngx_msec_int_t       left;
    ngx_ota_ack_fifo_t  *f;
    ngx_ota_ack_tail_t  *t;

    /* ev->data is the stand-in connection (ngx_ota_event_init) */
    f = (ngx_ota_ack_fifo_t *) ((u_char *) ev
                                - offsetof(ngx_ota_ack_fifo_t, ev));

    while (!ngx_queue_empty(&f->tails)) {
        q = ngx_queue_head(&f->tails);
        t = ngx_queue_data(q, ngx_ota_ack_tail_t, fresh);

        left = (ngx_msec_int_t) (t->due - ngx_current_msec);
        if (left > 0) {
            ngx_add_timer(ev, (ngx_msec_t) left);
            return;
        }

        ngx_queue_remove(q);
        t->in_fresh = 0;

        ngx_ota_ack_check(t, 0);
    }
}


/*
 * nginx is about to close connection c (ngx_close_connection() calls the
 * event module's del_conn right before close()).  Its tails are asked once
 * more while the socket is still nginx's: one that is all acknowledged ends
 * here; one that is not gets a duplicate of the descriptor now, so the
 * socket outlives the close() until the tail is known.  Made for speed: a
 * dup and its close only for a tail still in flight when its connection
 * closes, not one per piece (a device's pieces are nearly all ended by its
 * next request).
 */
static ngx_uint_t
ngx_ota_ack_closing(ngx_connection_t *c)
{
    off_t                unacked;
    ngx_uint_t           duped;
    ngx_ota_ack_tail_t  *t, *next;

    unacked = -2;
    duped = 0;

    for (t = ngx_ota_ack_by_fd[c->fd]; t; t = next) {
        next = t->fd_next;

        if (t->c != c || t->number != c->number || t->cfd != c->fd) {
            continue;                   /* an earlier connection's fd */
        }

        if (unacked == -2) {
            unacked = ngx_ota_ack_outq(c->fd);
        }

        if (unacked >= 0) {
            if (t->len - ngx_min(unacked, t->len) > t->done) {
                t->moved = ngx_current_msec;
            }

            ngx_ota_ack_hand(t, unacked);

            if (t->done == t->len) {
                ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                               "ota: tail of %O bytes acknowledged when "
                               "socket %d closes", t->len, c->fd);
                ngx_ota_ack_end(t);
                continue;
            }
        }

        if (t->fd == (ngx_socket_t) -1) {
            t->fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);

            /* without one the next check ends the tail: what was
             * acknowledged by now is all it gets */
            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, c->log,
                           t->fd == (ngx_socket_t) -1 ? ngx_socket_errno : 0,
                           "ota: socket %d closes with %O of a tail of %O "
                           "bytes unacknowledged: watched on %d",
                           c->fd, t->len - t->done, t->len, t->fd);
        }

        if (t->fd != (ngx_socket_t) -1) {
            duped = 1;
        }
    }

    return duped;
}


static ngx_int_t
ngx_ota_ack_del_conn(ngx_connection_t *c, ngx_uint_t flags)
{
    if ((flags & NGX_CLOSE_EVENT) && ngx_ota_ack_listed
        && c->fd != (ngx_socket_t) -1
        && (ngx_uint_t) c->fd < ngx_ota_ack_nfd
        && ngx_ota_ack_by_fd[c->fd] != NULL)
    {
        /*
         * epoll drops a socket from its set only when the last descriptor
         * of it is closed: with a duplicate kept, the event module must
         * delete it itself, or the socket's events (its ACKs) would keep
         * coming for a connection nginx has freed, and would reach
         * whatever connection reuses it with the same instance bit
         */
        if (ngx_ota_ack_closing(c)) {
            flags &= ~NGX_CLOSE_EVENT;
        }
    }

    return ngx_ota_ack_orig_del_conn(c, flags);
}


/* the tail under its connection's fd, for the next request's check; when
 * that cannot be (no memory, a huge fd) the timer alone watches it */
static void
ngx_ota_ack_list(ngx_ota_ack_tail_t *t)
{
    size_t                n;
    ngx_uint_t            i, fd;
    ngx_ota_ack_tail_t  **a;

    fd = (ngx_uint_t) t->cfd;

    if (fd >= NGX_OTA_ACK_FD_MAX) {
        return;
    }

    if (fd >= ngx_ota_ack_nfd) {
        n = ngx_max(1024, ngx_ota_ack_nfd * 2);
        while (n <= fd) {
            n *= 2;
        }

        a = ngx_alloc(n * sizeof(ngx_ota_ack_tail_t *), ngx_ota_ack_log
                                                        ? ngx_ota_ack_log
                                                        : ngx_cycle->log);
        if (a == NULL) {
            return;
        }

        ngx_memzero(a, n * sizeof(ngx_ota_ack_tail_t *));

        if (ngx_ota_ack_by_fd) {
            ngx_memcpy(a, ngx_ota_ack_by_fd,
                       ngx_ota_ack_nfd * sizeof(ngx_ota_ack_tail_t *));

            /* the first tail of each fd points back into the array */
            for (i = 0; i < ngx_ota_ack_nfd; i++) {
                if (a[i]) {
                    a[i]->fd_prev = &a[i];
                }
            }

            ngx_free(ngx_ota_ack_by_fd);
        }

        ngx_ota_ack_by_fd = a;
        ngx_ota_ack_nfd = n;
    }

    t->fd_next = ngx_ota_ack_by_fd[fd];
    if (t->fd_next) {
        t->fd_next->fd_prev = &t->fd_next;
    }

    t->fd_prev = &ngx_ota_ack_by_fd[fd];
    ngx_ota_ack_by_fd[fd] = t;
    ngx_ota_ack_listed++;
}


/*
 * Post-read phase: a request arrived on a connection whose earlier
 * responses' tails are watched.  What the socket says is acknowledged now
 * is handed over; a tail wholly acknowledged ends here, the others keep
 * their timers (a pipelining client sends before it reads).
 */
static ngx_int_t
ngx_ota_ack_next_request(ngx_http_request_t *r)
{
    off_t                unacked;
    ngx_connection_t    *c;
    ngx_ota_ack_tail_t  *t, *next;

    if (ngx_ota_ack_listed == 0) {
        return NGX_DECLINED;            /* made for speed: nothing watched */
    }

    c = ngx_ota_ack_connection(r);

    if (c->fd == (ngx_socket_t) -1 || (ngx_uint_t) c->fd >= ngx_ota_ack_nfd) {
        return NGX_DECLINED;
    }

    unacked = -1;

    for (t = ngx_ota_ack_by_fd[c->fd]; t; t = next) {
        next = t->fd_next;

        if (t->c != c || t->number != c->number) {
            continue;                   /* an earlier connection's fd */
        }

        if (unacked < 0) {
            unacked = ngx_ota_ack_outq(c->fd);
            if (unacked < 0) {
                return NGX_DECLINED;    /* the timer asks again */
            }
        }

        if (t->len - ngx_min(unacked, t->len) > t->done) {
            t->moved = ngx_current_msec;
        }

        ngx_ota_ack_hand(t, unacked);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ota: tail of %O bytes at the next request: %O "
                       "unacknowledged on socket %d", t->len, unacked, c->fd);

        if (t->done == t->len) {
            ngx_ota_ack_end(t);
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_ota_ack_postconf(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_ota_ack_next_request;

    return NGX_OK;
}


ngx_int_t
ngx_ota_ack_watch(ngx_http_request_t *r, ngx_ota_seg_t *segs,
    ngx_uint_t nsegs, off_t skip, off_t len, ngx_uint_t kept,
    ngx_ota_ack_pt acked, ngx_ota_ack_done_pt finished, void *data)
{
    off_t                 left;
    ngx_uint_t            k, hooked;
    ngx_connection_t     *c;
    ngx_ota_ack_fifo_t   *f;
    ngx_ota_ack_tail_t   *t;

    c = ngx_ota_ack_connection(r);

    /* an error or a timeout: the peer is gone (or nginx resets it) */
    if (len <= 0 || c->fd == (ngx_socket_t) -1 || c->error || c->timedout) {
        return NGX_DECLINED;
    }

    /* the segments from skip bytes into segs, len bytes in all */
    for (k = 0; k < nsegs && skip >= segs[k].len; k++) {
        skip -= segs[k].len;
    }

    if (nsegs - k <= NGX_OTA_ACK_SEGS) {
        if (ngx_ota_ack_free) {
            t = ngx_ota_ack_free;
            ngx_ota_ack_free = t->fd_next;
            ngx_ota_ack_nfree--;

        } else {
            t = ngx_alloc(sizeof(ngx_ota_ack_tail_t)
                          + NGX_OTA_ACK_SEGS * sizeof(ngx_ota_seg_t), c->log);
            if (t == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_memzero(t, sizeof(ngx_ota_ack_tail_t));
        t->reusable = 1;

    } else {
        t = ngx_alloc(sizeof(ngx_ota_ack_tail_t)
                      + (nsegs - k) * sizeof(ngx_ota_seg_t), c->log);
        if (t == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(t, sizeof(ngx_ota_ack_tail_t));
    }

    for (left = len; k < nsegs && left > 0; k++) {
        t->segs[t->nsegs].start = segs[k].start >= 0 ? segs[k].start + skip
                                                     : -1;
        t->segs[t->nsegs].len = ngx_min(segs[k].len - skip, left);
        left -= t->segs[t->nsegs].len;
        t->nsegs++;
        skip = 0;
    }

    t->c = c;
    t->number = c->number;
    t->cfd = c->fd;
    t->len = len - left;
    t->acked = acked;
    t->finished = finished;
    t->data = data;
    t->moved = ngx_current_msec;

    ngx_ota_event_init(&t->timer, ngx_ota_ack_timer, ngx_ota_ack_log
                                                     ? ngx_ota_ack_log
                                                     : ngx_cycle->log);

    ngx_queue_insert_tail(&ngx_ota_ack_tails, &t->queue);

    ngx_ota_ack_list(t);

    /* a descriptor of our own, so the socket outlives nginx's close()
     * until the tail is known: taken when the connection closes
     * (ngx_ota_ack_closing) if the tail is listed under its fd and the
     * close can be hooked, else now (without one, the tail is known while
     * nginx keeps the connection) */
    t->fd = (ngx_socket_t) -1;

    hooked = t->fd_prev != NULL && ngx_ota_ack_orig_del_conn != NULL
             && !c->shared;

    if (!hooked) {
        t->fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);

        if (t->fd == (ngx_socket_t) -1) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, ngx_socket_errno,
                           "ota: no duplicate of socket %d for a tail",
                           c->fd);
        }
    }

    /*
     * The first check: in the FIFO of fresh tails of its kind, all of which
     * wait as long (ngx_ota_ack_fresh_timer).  Made for speed: a tail on a
     * connection kept alive, whose close is hooked, waits NGX_OTA_ACK_KEPT
     * ms: its next request (a device's next piece or report, a few ms
     * later) or nginx's close of the connection asks before that, so the
     * timer's question, a SIOCOUTQ on a socket gone cold, is nearly never
     * asked; a device that stays idle is credited 100 ms after the
     * request's end, the pace of a running download's checks.
     */
    f = &ngx_ota_ack_fresh[kept && hooked];

    t->wait = f->wait;
    t->due = ngx_current_msec + t->wait;
    t->in_fresh = 1;
    ngx_queue_insert_tail(&f->tails, &t->fresh);

    if (!f->ev.timer_set) {
        ngx_add_timer(&f->ev, t->wait);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ota: watching a tail of %O bytes in %ui segments on "
                   "socket %d, duplicate %d", t->len, t->nsegs, c->fd, t->fd);

    return NGX_OK;
}


void
ngx_ota_ack_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    ngx_ota_ack_log = cycle->log;
    ngx_queue_init(&ngx_ota_ack_tails);

    for (i = 0; i < 2; i++) {
        ngx_queue_init(&ngx_ota_ack_fresh[i].tails);
        ngx_ota_event_init(&ngx_ota_ack_fresh[i].ev, ngx_ota_ack_fresh_timer,
                           cycle->log);
        ngx_ota_ack_fresh[i].wait = i ? NGX_OTA_ACK_KEPT : NGX_OTA_ACK_FIRST;
    }

    /* the event module is set up by now (ngx_event_core_module's
     * init_process runs before this module's) */
    if (ngx_event_actions.del_conn != NULL
        && ngx_event_actions.del_conn != ngx_ota_ack_del_conn)
    {
        ngx_ota_ack_orig_del_conn = ngx_event_actions.del_conn;
        ngx_event_actions.del_conn = ngx_ota_ack_del_conn;
    }
}


/* the event loop is over: what is acknowledged now is delivered, and the
 * descriptors go */
void
ngx_ota_ack_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_ota_ack_tail_t  *t;

    if (ngx_ota_ack_log == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_ota_ack_tails)) {
        t = ngx_queue_data(ngx_queue_head(&ngx_ota_ack_tails),
                           ngx_ota_ack_tail_t, queue);
        ngx_ota_ack_check(t, 1);
    }

    for (i = 0; i < 2; i++) {
        if (ngx_ota_ack_fresh[i].ev.timer_set) {
            ngx_del_timer(&ngx_ota_ack_fresh[i].ev);
        }
    }

    if (ngx_ota_ack_by_fd) {
        ngx_free(ngx_ota_ack_by_fd);
        ngx_ota_ack_by_fd = NULL;
        ngx_ota_ack_nfd = 0;
    }

    while (ngx_ota_ack_free) {
        t = ngx_ota_ack_free;
        ngx_ota_ack_free = t->fd_next;
        ngx_free(t);
    }

    ngx_ota_ack_nfree = 0;
}
