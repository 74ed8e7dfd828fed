/*
 * worker_diff.c: package_diff jobs (POST packages/<to>/diffs).
 *
 * The delta is what `otactl package diff` makes in direct mode, with its
 * checks, its record and its output: the worker runs otactl as a child
 * process (against the worker's Redis and store, never through the API),
 * so nothing of the store's logic is written twice and the worker's loop
 * keeps running while zstd works.  otactl computes the delta in
 * <store>/.diff-<job> (OTA_DIFF_DIR), copies it into the new package's
 * directory and records the package; a failure leaves neither a file nor
 * a key.  The job is answered and acknowledged only after that.
 *
 * While it runs, OTA_KEY_JOB holds state=running (the module answers 202
 * after NGX_OTA_JOB_ACCEPT ms); then state=done with the package, kept a
 * day; a refusal deletes it (the reply says why).
 *
 * Redelivered (a worker died mid-job: its child died with it,
 * PR_SET_PDEATHSIG): the diff's slot already holding this pair's package
 * answers with it, nothing made twice; else the leftover .diff-<job> is
 * removed and the delta made again.  The job's expiry applies only to a
 * job no worker started.
 */

#include "worker_diff.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ota_addr.h"
#include "ota_keys.h"
#include "ota_names.h"


#define OTA_DIFF_JOB_TTL  86400         /* s the job's state is kept */


/* the otactl next to this worker (the build tree), else the package's */
static void
ota_diff_otactl(char *path, size_t len)
{
    char     exe[PATH_MAX - 16], *s;
    ssize_t  n;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        s = strrchr(exe, '/');
        if (s != NULL) {
            *s = '\0';
            snprintf(path, len, "%s/otactl", exe);
            if (access(path, X_OK) == 0) {
                return;
            }
        }
    }
    snprintf(path, len, "/usr/bin/otactl");
}

/* <store>/.diff-<job> and what is in it (one file: the delta) */
static void
ota_diff_clean(ota_worker_t *w, ota_job_t *j)
{
    char            dir[4200], f[4500];
    DIR            *d;
    struct dirent  *e;

    snprintf(dir, sizeof(dir), "%s/.diff-%s", w->store, j->job);
    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
            unlink(f);
        }
    }
    closedir(d);
    if (rmdir(dir) != 0) {
        ota_log(OTA_LOG_WARN, "job %s: cannot remove %s: %s", j->entry_id,
                dir, strerror(errno));
    }
}

static void
ota_diff_state(ota_worker_t *w, ota_job_t *j, const char *state,
    const char *k, const char *v)
{
    char         key[128];
    redisReply  *r;

    snprintf(key, sizeof(key), OTA_KEY_JOB, j->job);
    r = ota_pipe_cmd(&w->pipe, "HSET %s state %s %s %s", key, state, k, v);
    freeReplyObject(r);
    r = ota_pipe_cmd(&w->pipe, "EXPIRE %s %d", key, OTA_DIFF_JOB_TTL);
    freeReplyObject(r);
}

/* the answer for a stored diff: what otactl printed, as JSON */
static int
ota_diff_answer(ota_worker_t *w, ota_job_t *j, const char *id)
{
    redisReply  *d, *t;
    int          rc;

    d = ota_pipe_cmd(&w->pipe, "HGET " OTA_KEY_PACKAGE " size", id);
    t = ota_pipe_cmd(&w->pipe, "HGET " OTA_KEY_PACKAGE " size", j->id);
    if (d == NULL || t == NULL) {
        freeReplyObject(d);
        freeReplyObject(t);
        return OTA_W_RETRY;
    }
    ota_diff_state(w, j, "done", "package", id);
    rc = ota_job_reply(w, j, json_pack("{s:b, s:s, s:s, s:s, s:I, s:I}",
                                       "ok", 1, "id", id, "from",
                                       j->diff_from, "to", j->id,
                                       "size", (json_int_t)
                                       ota_reply_ll(d, 0), "full_size",
                                       (json_int_t) ota_reply_ll(t, 0)));
    freeReplyObject(d);
    freeReplyObject(t);
    if (rc == OTA_W_OK) {
        ota_log(OTA_LOG_INFO, "job %s: diff %s of %s from %s stored",
                j->entry_id, id, j->id, j->diff_from);
    }
    return rc;
}

/* a refusal leaves no key: the job's state goes with it */
static int
ota_diff_refuse(ota_worker_t *w, ota_job_t *j, const char *msg)
{
    char         key[128];
    redisReply  *r;

    snprintf(key, sizeof(key), OTA_KEY_JOB, j->job);
    r = ota_pipe_cmd(&w->pipe, "DEL %s", key);
    if (r == NULL) {
        return OTA_W_RETRY;
    }
    freeReplyObject(r);
    return ota_job_error(w, j, "%s", msg);
}

/* otactl package diff --from F --to T ..., its output into two pipes */
static int
ota_diff_spawn(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    char         otactl[PATH_MAX], dir[4200], addr[1200];
    const char  *argv[24];
    int          po[2], pe[2], n = 0, fd;
    pid_t        pid, parent = getpid();
    sigset_t     all;

    ota_diff_otactl(otactl, sizeof(otactl));
    snprintf(dir, sizeof(dir), "%s/.diff-%s", w->store, j->job);
    ota_addr_str(&w->addr, addr, sizeof(addr));

    argv[n++] = otactl;
    argv[n++] = "--redis";
    argv[n++] = addr;
    argv[n++] = "--store";
    argv[n++] = w->store;
    argv[n++] = "package";
    argv[n++] = "diff";
    argv[n++] = "--from";
    argv[n++] = j->diff_from;
    argv[n++] = "--to";
    argv[n++] = j->id;
    if (j->level[0]) {
        argv[n++] = "--level";
        argv[n++] = j->level;
    }
    if (j->max_ratio[0]) {
        argv[n++] = "--max-ratio";
        argv[n++] = j->max_ratio;
    }
    if (j->name[0]) {
        argv[n++] = "--name";
        argv[n++] = j->name;
    }
    if (j->desc[0]) {
        argv[n++] = "--desc";
        argv[n++] = j->desc;
    }
    argv[n] = NULL;

    if (pipe2(po, O_CLOEXEC) != 0) {
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        return -1;
    }
    if (pid == 0) {
        /* dies with the worker: a redelivery starts over, never beside a
         * child still writing */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        for (fd = 3; fd < 1024; fd++) {
            close(fd);
        }
        unsetenv("OTA_API");
        unsetenv("OTA_ADMIN_TOKEN");
        unsetenv("OTA_CONFIG");
        unsetenv("OTA_REDIS_PASSWORD");
        if (w->addr.password[0]) {
            setenv("OTA_REDIS_PASSWORD", w->addr.password, 1);
        }
        setenv("OTA_DIFF_DIR", dir, 1);
        /* recorded in state unsigned with its manifest, signed later
         * where the key is (POST packages/<id>/signature) */
        if (strcmp(j->sign_later, "1") == 0) {
            setenv("OTA_DIFF_SIGN_LATER", "1", 1);
        } else {
            unsetenv("OTA_DIFF_SIGN_LATER");
        }
        execv(otactl, (char *const *) argv);
        fprintf(stderr, "otactl: the worker cannot run %s: %s\n", otactl,
                strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    run->pid = pid;
    run->fd[0] = po[0];
    run->fd[1] = pe[0];
    fcntl(po[0], F_SETFL, O_NONBLOCK);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);
    return 0;
}

int
ota_diff_start(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t   *j = &run->j;
    redisReply  *st, *f, *t, *s, *p;
    char         key[128], msg[600];
    int          started, rc;

    run->fd[0] = run->fd[1] = -1;
    if (j->job[0] == '\0' || !ota_name_id(j->job, strlen(j->job))) {
        return ota_job_error(w, j, "a package_diff job needs its job id");
    }
    if (!ota_name_id(j->id, strlen(j->id))
        || !ota_name_id(j->diff_from, strlen(j->diff_from)))
    {
        return ota_diff_refuse(w, j, "invalid package id");
    }
    if (w->store[0] == '\0') {
        return ota_diff_refuse(w, j, "this ota-worker has no package store "
                               "(--store DIR, store= in its config)");
    }

    snprintf(key, sizeof(key), OTA_KEY_JOB, j->job);
    st = ota_pipe_cmd(&w->pipe, "HGET %s state", key);
    f = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_PACKAGE " product module "
                     "version", j->diff_from);
    t = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_PACKAGE " product module "
                     "version", j->id);
    if (st == NULL || f == NULL || t == NULL || f->type != REDIS_REPLY_ARRAY
        || t->type != REDIS_REPLY_ARRAY || f->elements != 3
        || t->elements != 3)
    {
        freeReplyObject(st);
        freeReplyObject(f);
        freeReplyObject(t);
        return OTA_W_RETRY;
    }
    started = st->type == REDIS_REPLY_STRING
              && strcmp(st->str, OTA_JOB_RUNNING) == 0;
    freeReplyObject(st);

    if (f->element[0]->type != REDIS_REPLY_STRING
        || t->element[0]->type != REDIS_REPLY_STRING)
    {
        snprintf(msg, sizeof(msg), "no package %s",
                 f->element[0]->type != REDIS_REPLY_STRING
                 ? j->diff_from : j->id);
        freeReplyObject(f);
        freeReplyObject(t);
        return ota_diff_refuse(w, j, msg);
    }

    /* the slot of this pair: filled by this job before a redelivery, the
     * answer is that package; filled otherwise, otactl's refusal */
    s = ota_pipe_cmd(&w->pipe, "HGET " OTA_KEY_PRODUCT_PKGVER " %s:%s>%s",
                     t->element[0]->str, ota_reply_str(t->element[1]),
                     ota_reply_str(f->element[2]),
                     ota_reply_str(t->element[2]));
    freeReplyObject(f);
    freeReplyObject(t);
    if (s == NULL) {
        return OTA_W_RETRY;
    }
    if (s->type == REDIS_REPLY_STRING) {
        p = ota_pipe_cmd(&w->pipe, "HMGET " OTA_KEY_PACKAGE " base target",
                         s->str);
        if (p == NULL || p->type != REDIS_REPLY_ARRAY || p->elements != 2) {
            freeReplyObject(p);
            freeReplyObject(s);
            return OTA_W_RETRY;
        }
        if (started
            && strcmp(ota_reply_str(p->element[0]), j->diff_from) == 0
            && strcmp(ota_reply_str(p->element[1]), j->id) == 0)
        {
            freeReplyObject(p);
            snprintf(msg, sizeof(msg), "%s", s->str);
            freeReplyObject(s);
            ota_diff_clean(w, j);
            return ota_diff_answer(w, j, msg);
        }
        snprintf(msg, sizeof(msg), "a diff from %s to %s exists already "
                 "(package %s)", j->diff_from, j->id, s->str);
        freeReplyObject(p);
        freeReplyObject(s);
        return ota_diff_refuse(w, j, msg);
    }
    freeReplyObject(s);

    if (!started && j->expires > 0 && ota_now_ms() > j->expires) {
        return ota_job_error(w, j, "job expired before a worker read it; "
                             "nothing done");
    }

    ota_diff_clean(w, j);               /* a dead worker's leftover */
    ota_diff_state(w, j, OTA_JOB_RUNNING, "consumer", w->consumer);
    if (ota_pipe_lost(&w->pipe)) {
        return OTA_W_RETRY;
    }
    if (ota_diff_spawn(w, run) != 0) {
        snprintf(msg, sizeof(msg), "the worker cannot start otactl: %s",
                 strerror(errno));
        rc = ota_diff_refuse(w, j, msg);
        return rc;
    }
    ota_log(OTA_LOG_INFO, "job %s: diff of %s from %s: otactl pid %d",
            j->entry_id, j->id, j->diff_from, run->pid);
    run->phase = OTA_JOB_DIFF;
    run->t0 = ota_now_ms();
    run->last_keep = run->t0;
    return OTA_JOB_MORE;
}

/* what the child wrote so far; 1 when both pipes are closed */
static int
ota_diff_read(ota_job_run_t *run)
{
    char     buf[4096], *dst[2] = { run->out, run->err };
    size_t  *len[2] = { &run->nout, &run->nerr };
    size_t   cap[2] = { sizeof(run->out), sizeof(run->err) }, k;
    ssize_t  n;
    int      i;

    for (i = 0; i < 2; i++) {
        while (run->fd[i] >= 0) {
            n = read(run->fd[i], buf, sizeof(buf));
            if (n > 0) {
                k = cap[i] - 1 - *len[i];
                if ((size_t) n < k) {
                    k = (size_t) n;
                }
                memcpy(dst[i] + *len[i], buf, k);
                *len[i] += k;
                dst[i][*len[i]] = '\0';
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                break;
            }
            close(run->fd[i]);
            run->fd[i] = -1;
        }
    }
    return run->fd[0] < 0 && run->fd[1] < 0;
}

int
ota_diff_step(ota_worker_t *w, ota_job_run_t *run)
{
    ota_job_t      *j = &run->j;
    struct pollfd   pf[2];
    int             n = 0, i, status;
    pid_t           r;
    char           *s, *e, msg[1100];

    for (i = 0; i < 2; i++) {
        if (run->fd[i] >= 0) {
            pf[n].fd = run->fd[i];
            pf[n].events = POLLIN;
            n++;
        }
    }
    if (n > 0) {
        (void) poll(pf, n, 100);
    } else {
        usleep(20000);
    }
    (void) ota_diff_read(run);

    r = waitpid(run->pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
        if (ota_now_ms() - run->last_keep > 1000) {
            run->last_keep = ota_now_ms();
            ota_job_keep(w, j);
        }
        return OTA_JOB_MORE;
    }
    run->pid = 0;
    while (!ota_diff_read(run)) {
        usleep(1000);
    }

    if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        s = run->out;
        s[strcspn(s, "\r\n")] = '\0';
        if (ota_name_id(s, strlen(s))) {
            return ota_diff_answer(w, j, s);
        }
    }
    ota_diff_clean(w, j);

    if (w->stop && r > 0 && WIFSIGNALED(status)) {
        /* stopped with us (systemd signals the whole unit): the job stays
         * pending and is made again */
        ota_log(OTA_LOG_INFO, "job %s: otactl stopped with the worker; the "
                "diff is made again", j->entry_id);
        return OTA_W_RETRY;
    }

    /* otactl's reason: its last line, without "otactl: " */
    s = run->err;
    while (run->nerr > 0 && (run->err[run->nerr - 1] == '\n'
                             || run->err[run->nerr - 1] == '\r'))
    {
        run->err[--run->nerr] = '\0';
    }
    e = strrchr(s, '\n');
    s = e ? e + 1 : s;
    if (strncmp(s, "otactl: ", 8) == 0) {
        s += 8;
    }
    if (s[0] == '\0') {
        snprintf(msg, sizeof(msg), "otactl package diff failed (%s %d)",
                 r > 0 && WIFSIGNALED(status) ? "signal" : "exit",
                 r > 0 && WIFSIGNALED(status) ? WTERMSIG(status)
                 : r > 0 ? WEXITSTATUS(status) : -1);
    } else {
        snprintf(msg, sizeof(msg), "%s", s);
    }
    return ota_diff_refuse(w, j, msg);
}
