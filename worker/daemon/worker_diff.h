/*
 * worker_diff.h: package_diff jobs (worker_diff.c), run by worker_jobs.c.
 */

#ifndef WORKER_DIFF_H
#define WORKER_DIFF_H

#include "worker_job.h"

/* package_diff (worker_diff.c): start answers OTA_JOB_MORE while the
 * delta is computed, step until it is stored and answered */
int ota_diff_start(ota_worker_t *w, ota_job_run_t *run);
int ota_diff_step(ota_worker_t *w, ota_job_run_t *run);

#endif /* WORKER_DIFF_H */
