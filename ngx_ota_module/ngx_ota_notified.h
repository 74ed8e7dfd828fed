/*
 * ngx_ota_notified.h: the upgrade answer's notified event, held in the
 * process for up to one ota_progress_interval and folded into the
 * device's first download event when this process writes one for the
 * same device and package before then (docs/download.md, "The notified
 * event"; ngx_ota_notified.c).
 */

#ifndef NGX_OTA_NOTIFIED_H
#define NGX_OTA_NOTIFIED_H

#include "ngx_ota_core.h"


typedef struct ngx_ota_notified_s  ngx_ota_notified_t;

struct ngx_ota_notified_s {
    ngx_str_node_t        sn;               /* "<device>\n<package>" */
    ngx_queue_t           queue;            /* held: oldest first */
    char                 *device;           /* NUL-terminated */
    char                 *module;
    char                 *batch;
    char                 *package;
    int64_t               ts;               /* ms the answer was given */
    ngx_uint_t            tick;             /* the tick it was held at */
    void                 *track;            /* riding: the track whose
                                               download event carries it */
    unsigned              held:1;           /* in the queue */
};


/*
 * What the held events need of the progress tick, which lies above this
 * file: ngx_ota_progress.c hands it over at process start, so the two
 * files do not include each other.  arm takes an interval seen (0: none;
 * the smallest wins) and arms the tick; ticks counts them; carry says
 * whether this process's track of (device, package) is about to write a
 * download event (its merge is in flight, or its pending ranges are
 * written at once for it).
 */
typedef struct {
    void                (*arm)(ngx_msec_t interval);
    ngx_uint_t          (*ticks)(void);
    ngx_uint_t          (*carry)(const char *device, const char *package);
} ngx_ota_notified_tick_t;

void ngx_ota_notified_init_process(const ngx_ota_notified_tick_t *tick);

/*
 * The notified event of an upgrade answer (r: its interval), held instead
 * of written.  NGX_OK: held (or one is held for the task already); the
 * caller answers at once.  NGX_DECLINED: the caller writes the event
 * itself, as before (the table is full, no memory, nginx exits).
 */
ngx_int_t ngx_ota_notified_hold(ngx_http_request_t *r, ngx_str_t *device,
    ngx_str_t *module, ngx_str_t *batch, ngx_str_t *package);

/* The held event of (device, package) in module, for the download event
 * about to be sent (the fields to fold in: batch, ts); NULL when none.
 * It rides that event until ngx_ota_notified_sent() says how it went. */
ngx_ota_notified_t *ngx_ota_notified_take(const char *device,
    const char *package, const char *module, void *track);

/* The download event that carried n was written (ok) or not: then n is
 * held again and written on its own at the next tick. */
void ngx_ota_notified_sent(ngx_ota_notified_t *n, ngx_uint_t ok);

/* From the progress tick, after the tracks: writes the events held since
 * the tick before, but for one whose track's merge is in flight (its
 * event takes it).  1 while events are held: the tick must come again. */
ngx_uint_t ngx_ota_notified_tick(ngx_uint_t ticks);

/* At worker exit, before the progress flush: what is held (or may not
 * have left with its event) is written on a blocking connection. */
void ngx_ota_notified_exit_process(ngx_cycle_t *cycle);

#endif /* NGX_OTA_NOTIFIED_H */
