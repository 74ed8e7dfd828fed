/*
 * ota-worker: consumes the job and event streams through the consumer
 * group "ota-workers", creates batches and tasks, runs each task's state
 * machine, keeps the statistics counters, expires stalled tasks.
 *
 *   ota-worker --redis HOST:PORT [--store DIR] [--consumer NAME]
 *              [--config FILE] [--task-timeout SECS] [--claim-idle MS]
 *
 * An entry is acknowledged only after its effect is stored; whatever was
 * read but not acknowledged when the worker died (or Redis went away) is
 * read again by this consumer after a restart, or claimed by another one
 * after --claim-idle.  Every handler is idempotent, so reading twice is
 * harmless.  SIGTERM / SIGINT: finish the entries in hand, then exit 0.
 */

#include "ota_worker.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ota_fields.h"
#include "ota_keys.h"
#include "worker_gather.h"

static ota_worker_t  *ota_the_worker;

static void
ota_worker_signal(int sig)
{
    (void) sig;
    if (ota_the_worker != NULL) {
        ota_the_worker->stop = 1;
    }
}

static void
ota_worker_usage(FILE *f)
{
    fprintf(f,
        "usage: ota-worker --redis HOST:PORT [--store DIR] [--consumer NAME]\n"
        "                  [--config FILE] [--task-timeout SECS]\n"
        "                  [--claim-idle MS] [--chunk N] [--count N]\n"
        "                  [--gather MS]\n"
        "                  [--log-level error|warn|info|debug]\n"
        "See docs/worker.md and conf/worker.conf.\n");
}

static int
ota_worker_set(ota_worker_t *w, const char *k, const char *v, char *err,
    size_t errlen)
{
    if (strcmp(k, "redis") == 0) {
        char  warn[1600];

        if (ota_redis_addr_set(&w->addr, v, err, errlen, warn, sizeof(warn))
            != 0)
        {
            return -1;
        }
        if (warn[0]) {
            ota_log(OTA_LOG_WARN, "%s", warn);
        }
        return 0;
    }
    if (strcmp(k, "redis_password") == 0) {
        snprintf(w->addr.password, sizeof(w->addr.password), "%s", v);
        return 0;
    }
    if (strcmp(k, "redis_db") == 0) {
        return ota_config_int(k, v, 0, 1000, &w->addr.db, err, errlen);
    }
    if (strcmp(k, "store") == 0) {
        if (strlen(v) >= sizeof(w->store)) {
            snprintf(err, errlen, "store path too long");
            return -1;
        }
        strcpy(w->store, v);
        return 0;
    }
    if (strcmp(k, "consumer") == 0) {
        if (strlen(v) >= sizeof(w->consumer) || strchr(v, ' ')) {
            snprintf(err, errlen, "invalid consumer name \"%s\"", v);
            return -1;
        }
        strcpy(w->consumer, v);
        return 0;
    }
    if (strcmp(k, "task_timeout") == 0 || strcmp(k, "task-timeout") == 0) {
        return ota_config_int("task timeout", v, 0, 30 * 86400,
                              &w->task_timeout, err, errlen);
    }
    if (strcmp(k, "claim_idle") == 0 || strcmp(k, "claim-idle") == 0) {
        return ota_config_int("claim idle", v, 100, 86400000, &w->claim_idle,
                              err, errlen);
    }
    if (strcmp(k, "chunk") == 0) {
        return ota_config_int("chunk", v, 1, 3000, &w->chunk, err, errlen);
    }
    if (strcmp(k, "count") == 0) {
        return ota_config_int("count", v, 1, 100000, &w->count, err, errlen);
    }
    if (strcmp(k, "gather") == 0) {
        return ota_config_int("gather", v, 0, 1000, &w->gather, err, errlen);
    }
    if (strcmp(k, "log_level") == 0 || strcmp(k, "log-level") == 0) {
        return ota_log_level_set(v, err, errlen);
    }
    /* the file is shared with otactl: its settings are not ours */
    if (strcmp(k, "package_exts") == 0 || strcmp(k, "package_max_mb") == 0
        || strcmp(k, "token_secret") == 0 || strcmp(k, "delta_max_ratio") == 0)
    {
        return 0;
    }
    snprintf(err, errlen, "unknown setting \"%s\"", k);
    return -1;
}

static int
ota_worker_config_cb(void *ctx, const char *k, const char *v, char *err,
    size_t errlen)
{
    return ota_worker_set(ctx, k, v, err, errlen);
}

/* ---- Redis ---------------------------------------------------------------- */

/* connects with a growing delay until Redis answers or we are stopped */
static int
ota_worker_connect(ota_worker_t *w)
{
    char   err[512];
    int    delay = 100, logged = 0, ok;

    ota_pipe_close(&w->pipe);

    while (!w->stop) {
        ok = ota_pipe_connect(&w->pipe, &w->addr, ota_lua_scripts,
                              OTA_LUA_COUNT, err, sizeof(err)) == 0;
        if (ok && ota_maint_setup(w) == 0) {
            if (logged) {
                ota_log(OTA_LOG_INFO, "connected to Redis at %s again",
                        ota_redis_addr_str(&w->addr));
            }
            /* whatever we read and did not acknowledge is read again */
            ota_cache_forget(&w->cache);
            w->reader = 0;            /* the lease and cursor: asked anew */
            w->resync = 1;
            w->read_pending = 1;
            strcpy(w->pending_from[0], "0");
            strcpy(w->pending_from[1], "0");
            return 0;
        }
        if (ok) {
            snprintf(err, sizeof(err), "Redis at %s: %s",
                     ota_redis_addr_str(&w->addr),
                     ota_pipe_lost(&w->pipe) ? ota_pipe_error(&w->pipe)
                                             : "setup failed");
            ota_pipe_close(&w->pipe);
        }
        if (!logged) {
            ota_log(OTA_LOG_WARN, "%s; retrying", err);
            logged = 1;
        }
        usleep((useconds_t) delay * 1000);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    return -1;
}

/* the config file, then the flags (they win); -1 to run, else the exit
 * code */
static int
ota_worker_options(ota_worker_t *w, int argc, char **argv)
{
    char         err[512], host[64];
    const char  *config = NULL;
    int          i;

    /* the config file first, so flags given on the line win */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[i + 1];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
        }
    }
    if (config != NULL
        && ota_config_load(config, ota_worker_config_cb, w, err, sizeof(err))
           != 0)
    {
        fprintf(stderr, "ota-worker: %s\n", err);
        return 2;
    }

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v, *eq;
        char        name[64];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ota_worker_usage(stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "ota-worker: unexpected argument \"%s\"\n", a);
            ota_worker_usage(stderr);
            return 2;
        }
        eq = strchr(a, '=');
        if (eq != NULL) {
            snprintf(name, sizeof(name), "%.*s", (int) (eq - a - 2), a + 2);
            v = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (i + 1 >= argc) {
                fprintf(stderr, "ota-worker: %s needs a value\n", a);
                return 2;
            }
            v = argv[++i];
        }
        if (strcmp(name, "config") == 0) {
            continue;
        }
        if (ota_worker_set(w, name, v, err, sizeof(err)) != 0) {
            fprintf(stderr, "ota-worker: %s\n", err);
            ota_worker_usage(stderr);
            return 2;
        }
    }

    if (w->consumer[0] == '\0') {
        /* stable across restarts on one host: our own pending entries are
         * picked up again without waiting for --claim-idle */
        if (gethostname(host, sizeof(host)) != 0) {
            strcpy(host, "host");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(w->consumer, sizeof(w->consumer), "%s-%d", host, 1);
    }
    return -1;
}


int
main(int argc, char **argv)
{
    ota_worker_t       w;
    struct sigaction   sa;
    char               err[512];
    int                rc, wait;
    int64_t            read_at, last_read_at = 0;

    memset(&w, 0, sizeof(w));
    /* every stream read allocates and frees tens of thousands of small
     * reply objects and a few arrays of 100+ KB: without fast bins a large
     * request does not first consolidate all of them, and arrays stay in
     * the heap instead of an mmap and page faults per read */
    mallopt(M_MXFAST, 0);
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    w.task_timeout = 3600;
    w.claim_idle = 30000;
    w.chunk = 1000;
    w.count = 1000;
    w.block = 1000;
    w.gather = 100;
    strcpy(w.jobs_seen, "0-0");
    ota_log_name = "ota-worker";
    ota_the_worker = &w;
    if (ota_addr_parse(&w.addr, "127.0.0.1:6379", err, sizeof(err)) != 0) {
        return 1;
    }

    rc = ota_worker_options(&w, argc, argv);
    if (rc >= 0) {
        return rc;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ota_worker_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    ota_log(OTA_LOG_INFO, "consumer %s of group " OTA_GROUP " on Redis %s, "
            "task timeout %d s, claim idle %d ms", w.consumer,
            ota_redis_addr_str(&w.addr), w.task_timeout, w.claim_idle);

    while (!w.stop) {
        if (ota_pipe_lost(&w.pipe)) {
            if (w.pipe.rc != NULL) {
                ota_log(OTA_LOG_WARN, "lost Redis at %s: %s; reconnecting",
                        ota_redis_addr_str(&w.addr), ota_pipe_error(&w.pipe));
            }
            if (ota_worker_connect(&w) != 0) {
                break;
            }
        }

        if (ota_now_ms() - w.last_tick >= 1000) {
            if (ota_pipe_settle(&w.pipe) != OTA_W_OK
                || ota_maint_tick(&w) != OTA_W_OK)
            {
                continue;
            }
        }

        if (w.resync
            && (ota_pipe_settle(&w.pipe) != OTA_W_OK
                || ota_maint_lease(&w, 0) != OTA_W_OK))
        {
            continue;
        }

        w.last_events = 0;
        read_at = ota_now_ms();
        rc = ota_read_streams(&w, w.block);
        if (rc != OTA_W_OK && !ota_pipe_lost(&w.pipe)) {
            /* a handler could not finish: its entries stay pending and are
             * read again; do not spin on them */
            usleep(100000);

        } else if (!ota_pipe_held(&w.pipe)
                   && (wait = ota_gather_wait(w.gather, w.count,
                                              w.last_events,
                                              read_at - last_read_at)) > 0)
        {
            /* a read that was not full: let the next gather a while, at
             * most until a full read is likely waiting (worker_gather.h).
             * Each read costs Redis its two scripts' fixed part, and a
             * session's events in one read are one lookup and one write
             * (bench/fleet.sh); the first event after a quiet spell is not
             * held (the blocked read returns with it) */
            usleep((useconds_t) wait * 1000);
        }
        last_read_at = read_at;
    }

    if (!ota_pipe_lost(&w.pipe)) {
        (void) ota_pipe_settle(&w.pipe);
    }
    ota_log(OTA_LOG_INFO, "stopping: %lld events, %lld jobs handled; "
            "%lld applies sent ahead, %lld of them decided again", w.events,
            w.jobs, w.pipe.ahead, w.redone);
    if (!ota_pipe_lost(&w.pipe)) {
        redisReply *r;

        (void) ota_maint_lease(&w, 1);    /* another worker reads at once */
        r = ota_pipe_cmd(&w.pipe, "HDEL " OTA_KEY_WORKERS " %s", w.consumer);
        freeReplyObject(r);
    }
    ota_pipe_close(&w.pipe);
    ota_cache_free(&w.cache);
    ota_arena_free(&w.arena[0]);
    ota_arena_free(&w.arena[1]);
    return 0;
}
