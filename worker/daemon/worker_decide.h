/*
 * worker_decide.h: from stream entries to decided tasks (worker_decide.c)
 */

#ifndef WORKER_DECIDE_H
#define WORKER_DECIDE_H

#include "worker_round.h"

/* an entry into an event; -1 when it is malformed or not an event */
int ota_decide_parse(redisReply *entry, ota_ev_t *e);
/* the events back to the state right after parsing */
void ota_decide_reset(ota_evread_t *rd);
/* where each undone event's task comes from this round (spec: a notified
 * event of a known batch may be decided on the batch); -1: no memory */
int ota_decide_sources(ota_evread_t *rd, int spec);
/* every undone event applied to its task, in stream order */
void ota_decide(ota_evread_t *rd);

#endif /* WORKER_DECIDE_H */
