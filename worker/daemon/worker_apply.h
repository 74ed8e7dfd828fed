/*
 * worker_apply.h: the apply script of a round and the acknowledgement of
 * a read (worker_apply.c)
 */

#ifndef WORKER_APPLY_H
#define WORKER_APPLY_H

#include "worker_round.h"

/* the task goes to the apply script */
int ota_apply_sent(const ota_wt_t *t);
/* the round's arguments into rd->apply; how many tasks go */
int ota_apply_build(ota_evread_t *rd);
/* its answer: events left to decide again, -1 when it is missing or says
 * the read is lost; *dropped: tasks taken out of the cache */
int ota_apply_finish(ota_evread_t *rd, redisReply *ar, int *dropped);
/* the answer says the reader lease or the cursor moved (then 1) */
int ota_apply_lost(ota_worker_t *w, redisReply *ar);
/* the read's acknowledgement, for the apply to store with the effects */
void ota_apply_ack_init(ota_evread_t *rd, redisReply **entries,
    const char *from);
/* acknowledges the read unless its apply did */
int ota_apply_ack(ota_evread_t *rd);

#endif /* WORKER_APPLY_H */
