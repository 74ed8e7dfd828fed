/*
 * ngx_ota_redis.h: one non-blocking hiredis connection per nginx worker
 * process, driven by nginx's event loop.
 *
 * - Connects to an IP literal or a unix socket only (no blocking DNS),
 *   reconnects with backoff on nginx timers, sends AUTH/SELECT first.
 * - Commands are refused (NGX_DECLINED) while disconnected: callers answer
 *   503 or keep their data for later, they never wait for a connection.
 * - A call made for a request survives the request: if the request is
 *   finalised while replies are pending, the handler is not called and the
 *   call is freed when its last reply (or the disconnect) arrives.
 * - A call with replies outstanding has a deadline (ota_redis_timeout
 *   after the first of them was sent): when it passes, the connection is
 *   reset, the handler gets reply == NULL once and later replies are
 *   dropped.  The deadlines share one process timer (ngx_ota_redis.c).
 */

#ifndef NGX_OTA_REDIS_H
#define NGX_OTA_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct ngx_ota_redis_call_s  ngx_ota_redis_call_t;

/*
 * reply is NULL when Redis went away or the call timed out; a
 * REDIS_REPLY_ERROR reply is passed as it is.  The handler runs in the
 * request's context: it may finalize the request (the layer runs posted
 * requests afterwards).
 */
typedef void (*ngx_ota_redis_handler_pt)(ngx_ota_redis_call_t *call,
    redisReply *reply);

struct ngx_ota_redis_call_s {
    ngx_http_request_t         *request;    /* NULL once the request is gone */
    ngx_ota_redis_handler_pt    handler;
    void                       *data;       /* caller's state */
    ngx_uint_t                  index;      /* which reply: 0, 1, ... */
    ngx_uint_t                  sent;       /* commands sent for this call */
    ngx_uint_t                  pending;    /* replies outstanding */
    ngx_queue_t                 armed;      /* calls waiting, by deadline */
    ngx_msec_t                  deadline;
    ngx_uint_t                  received;   /* replies seen */
    unsigned                    done:1;     /* handler will not be called */
    unsigned                    timedout:1;
    unsigned                    in_handler:1;
    unsigned                    is_armed:1; /* in the deadlines' queue */
};


/* Per-process lifecycle, called by ngx_ota_module.c. */
ngx_int_t ngx_ota_redis_init_process(ngx_cycle_t *cycle);
void ngx_ota_redis_exit_process(ngx_cycle_t *cycle);

/* 1 when connected and authenticated. */
ngx_uint_t ngx_ota_redis_ready(void);

/* A call bound to r.  The layer does not touch r->main->count: a content
 * handler that waits for a reply does r->main->count++ and returns NGX_DONE
 * (a body handler already holds the count of ngx_http_read_client_request_body),
 * and the handler finalizes the request.  NULL on allocation failure. */
ngx_ota_redis_call_t *ngx_ota_redis_call(ngx_http_request_t *r,
    ngx_ota_redis_handler_pt handler, void *data);

/* Queues one command for the call; its reply goes to the handler with
 * call->index set to the command's position in the call.  NGX_DECLINED when
 * not connected, NGX_ERROR on failure. */
ngx_int_t ngx_ota_redis_argv(ngx_ota_redis_call_t *call, int argc,
    const char **argv, const size_t *argvlen);

/* printf-style command (hiredis format: %s %b %d ...). */
ngx_int_t ngx_ota_redis_cmd(ngx_ota_redis_call_t *call,
    const char *fmt, ...);

/* Releases a call on which no command could be sent (answering the
 * request is the caller's business). */
void ngx_ota_redis_call_abort(ngx_ota_redis_call_t *call);

/* Fire-and-forget commands, not bound to any request (progress, events).
 * handler may be NULL; data is passed as call->data when it is not. */
ngx_int_t ngx_ota_redis_argv_detached(ngx_ota_redis_handler_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen);

/* Where the connection goes now: *path for a unix socket, else host and
 * port (with Sentinel, the master it last named; host NULL when none is
 * known).  For the blocking last flush at worker exit. */
void ngx_ota_redis_target(const char **host, int *port, const char **path);

/* At worker exit: a blocking connection to that target (300 ms to
 * connect, 500 ms per command), authenticated and on the configured db;
 * NULL (logged) when there is none.  The caller frees it. */
redisContext *ngx_ota_redis_blocking(ngx_cycle_t *cycle);

/* At worker exit, before that flush: writes what the connection still has
 * queued (the posted write may not have run), waiting at most about
 * 200 ms.  NGX_OK when every command queued has left for Redis. */
ngx_int_t ngx_ota_redis_drain(void);

/* Called whenever the connection becomes ready (after a reconnect too),
 * so the progress writer can flush what it kept while Redis was away. */
typedef void (*ngx_ota_redis_ready_pt)(void);
void ngx_ota_redis_on_ready(ngx_ota_redis_ready_pt handler);

/*
 * For a second connection of the process (ngx_ota_redis_sub.c): wraps a
 * new hiredis async context's fd in an nginx connection with the same
 * level-triggered event hooks and handlers; cleanup is what hiredis calls
 * before it frees the context and closes the fd, and it calls
 * ngx_ota_redis_unwrap().  On NGX_ERROR the context is freed (where names
 * it in the log).
 */
ngx_int_t ngx_ota_redis_wrap(redisAsyncContext *ac, const char *where,
    ngx_log_t *log, void (*cleanup)(void *privdata));
void ngx_ota_redis_unwrap(ngx_connection_t *c);


#endif /* NGX_OTA_REDIS_H */
