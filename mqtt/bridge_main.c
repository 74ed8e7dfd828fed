/*
 * ota-mqtt: the bridge between the MQTT broker and Redis (docs/mqtt.md).
 *
 *   ota-mqtt --redis ADDR --mqtt HOST:PORT --mqtt-user U --mqtt-password P
 *            --token-secret KEY --public-url URL [--link-ttl SECS]
 *            [--consumer NAME] [--share GROUP|none] [--config FILE] ...
 *
 * One thread, one loop: wait for the broker's socket, read a pass of
 * messages, store them in Redis in one round trip, then let libmosquitto
 * write (the pass's PUBACKs, the answers and notices); between passes the
 * notices stream is read.  SIGTERM/SIGINT: the pass in hand is stored and
 * acknowledged, then the bridge disconnects and exits 0.
 */

#include "ota_mqtt_bridge.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static ota_bridge_t  *ota_the_bridge;


static void
ota_bridge_signal(int sig)
{
    (void) sig;
    if (ota_the_bridge != NULL) {
        ota_the_bridge->stop = 1;
    }
}


static void
ota_bridge_usage(FILE *f)
{
    fprintf(f,
        "usage: ota-mqtt --redis ADDR --mqtt HOST:PORT --mqtt-user USER\n"
        "                --mqtt-password PASSWORD --token-secret KEY\n"
        "                --public-url URL [--link-ttl SECS] [--consumer NAME]\n"
        "                [--share GROUP|none] [--pass N] [--claim-idle MS]\n"
        "                [--session-expiry SECS] [--config FILE] [--leave]\n"
        "                [--log-level error|warn|info|debug]\n"
        "See docs/mqtt.md and conf/ota-mqtt.conf.\n");
}


static int
ota_bridge_str(char **dst, const char *v, char *err, size_t errlen)
{
    free(*dst);
    *dst = strdup(v);
    if (*dst == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}


/* HOST:PORT of the broker (an IP or a name: the bridge may resolve) */
static int
ota_bridge_mqtt_addr(ota_bridge_t *b, const char *v, char *err,
    size_t errlen)
{
    const char  *colon;
    size_t       hl;

    colon = strrchr(v, ':');
    if (colon == NULL || colon == v) {
        snprintf(err, errlen, "invalid broker address \"%s\" (want "
                 "HOST:PORT)", v);
        return -1;
    }

    hl = (size_t) (colon - v);
    if (hl >= sizeof(b->mqtt_host)) {
        snprintf(err, errlen, "broker host name too long");
        return -1;
    }

    if (ota_config_int("broker port", colon + 1, 1, 65535, &b->mqtt_port, err,
                       errlen) != 0)
    {
        return -1;
    }

    memcpy(b->mqtt_host, v, hl);
    b->mqtt_host[hl] = '\0';

    return 0;
}


/*
 * The device API's URL, which signed links start with.  A bare
 * "scheme://host[:port]" gets the default location "/ota/v1/"; the result
 * always ends in '/'.
 */
static int
ota_bridge_public_url(ota_bridge_t *b, const char *v, char *err,
    size_t errlen)
{
    size_t       n;
    const char  *host;
    char        *u;

    if (strncmp(v, "http://", 7) == 0) {
        host = v + 7;
    } else if (strncmp(v, "https://", 8) == 0) {
        host = v + 8;
    } else {
        snprintf(err, errlen, "invalid public URL \"%s\" (want http:// or "
                 "https://, e.g. https://ota.example.com/ota/v1/)", v);
        return -1;
    }

    n = strlen(v);
    if (*host == '\0' || *host == '/' || strpbrk(v, " \"?#") != NULL
        || n > 900)
    {
        snprintf(err, errlen, "invalid public URL \"%s\"", v);
        return -1;
    }

    u = malloc(n + sizeof("/ota/v1/"));
    if (u == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    strcpy(u, v);
    if (strchr(host, '/') == NULL) {
        strcat(u, "/ota/v1/");
    } else if (u[n - 1] != '/') {
        strcat(u, "/");
    }

    free(b->public_url);
    b->public_url = u;

    return 0;
}


static int
ota_bridge_set(ota_bridge_t *b, const char *k, const char *v, char *err,
    size_t errlen)
{
#define is(name)  (strcmp(k, name) == 0)

    if (is("redis")) {
        char  warn[1600];

        if (ota_redis_addr_set(&b->addr, v, err, errlen, warn, sizeof(warn))
            != 0)
        {
            return -1;
        }
        if (warn[0]) {
            ota_log(OTA_LOG_WARN, "%s", warn);
        }
        return 0;
    }
    if (is("redis_password")) {
        snprintf(b->addr.password, sizeof(b->addr.password), "%s", v);
        return 0;
    }
    if (is("redis_db")) {
        return ota_config_int(k, v, 0, 1000, &b->addr.db, err, errlen);
    }
    if (is("mqtt")) {
        return ota_bridge_mqtt_addr(b, v, err, errlen);
    }
    if (is("mqtt_user") || is("mqtt-user")) {
        return ota_bridge_str(&b->mqtt_user, v, err, errlen);
    }
    if (is("mqtt_password") || is("mqtt-password")) {
        return ota_bridge_str(&b->mqtt_password, v, err, errlen);
    }
    if (is("token_secret") || is("token-secret")) {
        if (strlen(v) < 16) {
            snprintf(err, errlen, "the token secret must be 16 characters "
                     "or more (nginx's ota_token_secret)");
            return -1;
        }
        return ota_bridge_str(&b->token_secret, v, err, errlen);
    }
    if (is("public_url") || is("public-url")) {
        return ota_bridge_public_url(b, v, err, errlen);
    }
    if (is("link_ttl") || is("link-ttl")) {
        return ota_config_int("link ttl", v, 60, 7 * 86400, &b->link_ttl, err,
                              errlen);
    }
    if (is("consumer")) {
        if (strlen(v) >= sizeof(b->consumer) - 16 || strpbrk(v, " /+#")) {
            snprintf(err, errlen, "invalid consumer name \"%s\"", v);
            return -1;
        }
        strcpy(b->consumer, v);
        return 0;
    }
    if (is("share")) {
        if (strlen(v) >= sizeof(b->share) || strpbrk(v, " /+#")) {
            snprintf(err, errlen, "invalid share group \"%s\"", v);
            return -1;
        }
        strcpy(b->share, strcmp(v, "none") == 0 ? "" : v);
        return 0;
    }
    if (is("pass")) {
        return ota_config_int(k, v, 1, 100000, &b->pass_max, err, errlen);
    }
    if (is("claim_idle") || is("claim-idle")) {
        return ota_config_int("claim idle", v, 100, 86400000, &b->claim_idle,
                              err, errlen);
    }
    if (is("session_expiry") || is("session-expiry")) {
        return ota_config_int("session expiry", v, 0, 30 * 86400,
                              &b->session_expiry, err, errlen);
    }
    if (is("log_level") || is("log-level")) {
        return ota_log_level_set(v, err, errlen);
    }

#undef is

    snprintf(err, errlen, "unknown setting \"%s\"", k);
    return -1;
}


static int
ota_bridge_config_cb(void *ctx, const char *k, const char *v, char *err,
    size_t errlen)
{
    return ota_bridge_set(ctx, k, v, err, errlen);
}


static int
ota_bridge_options(ota_bridge_t *b, int argc, char **argv)
{
    int          c, i;
    char         err[512], host[100];
    const char  *config = NULL;

    static const struct option  opts[] = {
        { "redis", 1, 0, 0 }, { "mqtt", 1, 0, 0 }, { "mqtt-user", 1, 0, 0 },
        { "mqtt-password", 1, 0, 0 }, { "token-secret", 1, 0, 0 },
        { "public-url", 1, 0, 0 }, { "link-ttl", 1, 0, 0 },
        { "consumer", 1, 0, 0 }, { "share", 1, 0, 0 }, { "pass", 1, 0, 0 },
        { "claim-idle", 1, 0, 0 }, { "session-expiry", 1, 0, 0 },
        { "log-level", 1, 0, 0 }, { "config", 1, 0, 'c' },
        { "leave", 0, 0, 'l' },
        { "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
    };

    /* the config file first, so flags win whatever their order */
    for (i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            config = argv[i + 1];
        }
    }

    if (config != NULL
        && ota_config_load(config, ota_bridge_config_cb, b, err, sizeof(err))
           != 0)
    {
        fprintf(stderr, "ota-mqtt: %s\n", err);
        return -1;
    }

    for (;;) {
        int  idx = 0;

        c = getopt_long(argc, argv, "", opts, &idx);
        if (c == -1) {
            break;
        }
        if (c == 'h') {
            ota_bridge_usage(stdout);
            exit(0);
        }
        if (c == 'c') {
            continue;
        }
        if (c == 'l') {
            b->leave = 1;
            continue;
        }
        if (c != 0) {
            ota_bridge_usage(stderr);
            return -1;
        }
        if (ota_bridge_set(b, opts[idx].name, optarg, err, sizeof(err)) != 0) {
            fprintf(stderr, "ota-mqtt: --%s: %s\n", opts[idx].name, err);
            return -1;
        }
    }

    if (optind < argc) {
        fprintf(stderr, "ota-mqtt: unexpected argument \"%s\"\n",
                argv[optind]);
        return -1;
    }

#define need(x, what)                                                        \
    if (!(x)) {                                                              \
        fprintf(stderr, "ota-mqtt: " what " is required\n");                 \
        ota_bridge_usage(stderr);                                            \
        return -1;                                                           \
    }

    need(b->addr.have_addr, "--redis")
    need(b->mqtt_host[0], "--mqtt HOST:PORT")
    need(b->mqtt_user && b->mqtt_password, "--mqtt-user and --mqtt-password")
    need(b->token_secret, "--token-secret (nginx's ota_token_secret)")
    need(b->public_url, "--public-url (the device API's URL)")

#undef need

    if (b->consumer[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0) {
            strcpy(host, "ota");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(b->consumer, sizeof(b->consumer) - 16, "%s-1", host);
    }

    return 0;
}


/* waits for the broker's socket; returns its events (0 on timeout) */
static int
ota_bridge_wait(ota_bridge_t *b, int timeout)
{
    struct pollfd  p;

    if (mosquitto_socket(b->mosq) < 0) {
        usleep((useconds_t) timeout * 1000);
        return 0;
    }

    p.fd = mosquitto_socket(b->mosq);
    p.events = POLLIN;
    if (!b->held && mosquitto_want_write(b->mosq)) {
        p.events |= POLLOUT;
    }
    p.revents = 0;

    if (poll(&p, 1, timeout) <= 0) {
        return 0;
    }

    return p.revents;
}


static void
ota_bridge_free(ota_bridge_t *b)
{
    int                i;
    ota_bridge_ops_t  *ops[4];

    ops[0] = &b->reports;
    ops[1] = &b->notices;
    ops[2] = &b->waiting;
    ops[3] = &b->followups;

    for (i = 0; i < 4; i++) {
        ota_bridge_ops_clear(ops[i]);
        free(ops[i]->op);
    }

    for (i = 0; i < b->ndone; i++) {
        free(b->done[i]);
    }

    free(b->done);
    free(b->acks);
    ota_lcache_free(b->known);
    ota_lcache_free(b->modules);
    free(b->mqtt_user);
    free(b->mqtt_password);
    free(b->token_secret);
    free(b->public_url);
    free(b);
}


static void
ota_bridge_loop(ota_bridge_t *b)
{
    int      ev, busy;
    int64_t  now, next_log, stop_by;

    next_log = ota_now_ms() + 60000;
    stop_by = 0;

    while (!b->stop || b->held) {
        if (b->mqtt_up && b->mqtt_since == 0) {
            b->mqtt_since = ota_now_ms();
        }

        now = ota_now_ms();

        if (!b->mqtt_up && now >= b->mqtt_next_try && !b->stop) {
            (void) ota_bridge_mqtt_connect(b);
        }

        /* work in hand: no waiting */
        busy = b->held || b->reports.n > 0 || b->ndone > 0 || b->nacks > 0
               || ota_bridge_notice_due(b, now);

        ev = ota_bridge_wait(b, busy ? 0 : 50);

        if ((ev & (POLLIN | POLLERR | POLLHUP)) && !b->held && !b->stop) {
            (void) ota_bridge_mqtt_read(b);
        }

        if (b->reports.n > 0 || b->ndone > 0 || b->nacks > 0
            || ota_bridge_notice_due(b, ota_now_ms()))
        {
            if (ota_bridge_redis_ready(b) == 0) {
                (void) ota_bridge_round(b);
            }

            /* a pass not stored keeps its PUBACKs back */
            b->held = b->reports.n > 0;

            if (b->held) {
                if (b->stop && stop_by == 0) {
                    stop_by = now + 5000;
                }
                if (b->stop && now > stop_by) {
                    ota_log(OTA_LOG_WARN, "stopping with %d messages not "
                            "stored (Redis away): the broker delivers them "
                            "again", b->reports.n);
                    break;
                }
                usleep(20000);
            }
        }

        if (!b->held) {
            ota_bridge_mqtt_write(b);
        }

        /* --leave: what the session held is in, and nothing for a second */
        if (b->leave && b->mqtt_up && !b->held && b->reports.n == 0
            && b->ndone == 0 && b->outstanding == 0
            && !mosquitto_want_write(b->mosq)
            && now - (b->last_in > b->mqtt_since ? b->last_in
                                                 : b->mqtt_since) > 1000)
        {
            ota_bridge_mqtt_leave(b);
            break;
        }

        if (now >= next_log) {
            ota_log(OTA_LOG_INFO, "%ld messages in, %ld dropped, %ld notices "
                    "published", b->total_in, b->total_dropped,
                    b->total_notices);
            next_log = now + 60000;
        }
    }
}


int
main(int argc, char **argv)
{
    ota_bridge_t  *b;

    ota_log_name = "ota-mqtt";

    b = calloc(1, sizeof(ota_bridge_t));
    if (b == NULL) {
        fprintf(stderr, "ota-mqtt: out of memory\n");
        return 1;
    }

    b->link_ttl = 3600;
    b->pass_max = 1000;
    b->claim_idle = 30000;
    b->session_expiry = 86400;
    b->keepalive = 30;
    b->outstanding_max = 10000;
    strcpy(b->share, "ota-mqtt");

    if (ota_bridge_options(b, argc, argv) != 0) {
        return 2;
    }

    ota_the_bridge = b;
    signal(SIGTERM, ota_bridge_signal);
    signal(SIGINT, ota_bridge_signal);
    signal(SIGPIPE, SIG_IGN);

    b->known = ota_lcache_new(65536, 60000);
    b->modules = ota_lcache_new(4096, 60000);

    b->on_message = ota_bridge_message;
    b->on_acked = ota_bridge_sent_acked;

    if (ota_bridge_mqtt_init(b) != 0) {
        return 1;
    }

    ota_log(OTA_LOG_INFO, "bridging broker %s:%d (consumer %s, %s) and "
            "Redis at %s; links to %s", b->mqtt_host, b->mqtt_port,
            b->consumer, b->share[0] ? "shared subscription" : "own "
            "subscription", ota_redis_addr_str(&b->addr), b->public_url);

    ota_bridge_loop(b);

    ota_log(OTA_LOG_INFO, "stopped: %ld messages in, %ld dropped, %ld "
            "notices published", b->total_in, b->total_dropped,
            b->total_notices);

    ota_bridge_mqtt_free(b);

    if (b->rc != NULL) {
        redisFree(b->rc);
    }

    ota_bridge_free(b);

    return 0;
}
