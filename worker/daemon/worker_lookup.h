/*
 * worker_lookup.h: the lookup script of a round (worker_lookup.c)
 */

#ifndef WORKER_LOOKUP_H
#define WORKER_LOOKUP_H

#include "worker_round.h"

/* runs it for this round's questions (and with informs the read's
 * version reports); 0, or -1 when Redis did not answer as agreed */
int ota_lookup(ota_evread_t *rd, int informs);
/* the read's version reports, appended to c unless NULL; how many */
int ota_lookup_informs(ota_evread_t *rd, ota_cmd_t *c);
/* the batch (from 1) of an answer's task, 0: no task */
size_t ota_lookup_batch_of(redisReply *res, redisReply *info);
const char *ota_lookup_batch_id(redisReply *info, size_t g);
/* an answer into a task; -1 when it is unreadable */
int ota_lookup_task(ota_wt_t *t, redisReply *res, redisReply *info);
/* the diffs of the batch of an answer's task (OTA_LOOKUP_B_DIFFS) */
const char *ota_lookup_diffs(redisReply *res, redisReply *info);
/* the bytes of diff id among diffs, -1 when it is not one of them */
long long ota_lookup_diff_size(const char *diffs, const char *id);
/* the answer's batches into the batch cache */
void ota_lookup_learn(ota_cache_t *c, redisReply *info);

#endif /* WORKER_LOOKUP_H */
