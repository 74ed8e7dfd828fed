/*
 * worker_jobs.h: admin jobs (batch_create, batch_pause, batch_resume,
 * batch_cancel) from the job stream.  A job runs in steps so that whoever
 * drives it (worker_read.c) keeps the events flowing and the maintenance
 * ticking between them: ota_jobs_start() does what is quick and answers
 * OTA_JOB_MORE when chunks follow (creating a batch's tasks, cancelling
 * its open tasks); ota_jobs_step() runs one chunk at a time until it
 * answers otherwise.  A job that ends with OTA_W_OK has its answer pushed
 * and its entry acknowledged; OTA_W_RETRY leaves it pending (read again).
 */

#ifndef WORKER_JOBS_H
#define WORKER_JOBS_H

#include "worker_job.h"

int ota_jobs_start(ota_worker_t *w, redisReply *entry, ota_job_run_t *run);
int ota_jobs_step(ota_worker_t *w, ota_job_run_t *run);
void ota_jobs_end(ota_job_run_t *run);

#endif /* WORKER_JOBS_H */
