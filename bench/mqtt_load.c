/*
 * mqtt_load.c: the MQTT fleet of bench/mqtt.sh (build/ota-mqtt-load).
 *
 * Many device connections in one process, one thread, one epoll: each a
 * libmosquitto client driven by mosquitto_loop_read/_write, so a thousand
 * devices cost the machine little next to the broker and the bridge.
 *
 *   pub    connect --devices devices (Alibaba login: client id, user name
 *          and password signed with --secret, or anonymous with --anon),
 *          wait until all are connected, then each publishes --messages
 *          QoS 1 messages on its own topic with at most --window of them
 *          unacknowledged; prints what was sent and acknowledged, and the
 *          rate
 *   login  --logins connections, --concurrency at a time, each connects,
 *          waits for its CONNACK and disconnects; prints logins/s, and how
 *          many were accepted and refused
 *   sub    one subscriber on the inform topics of every device, QoS 1, as
 *          the bridge subscribes (MQTT 5, Receive Maximum 65535, PUBACKs
 *          written after each read): the raw mosquitto calibration of
 *          bench/mqtt.sh; counts --expect messages, prints the epoch ms of
 *          the last one
 *
 * pub waits, once every device is connected, for --go-file to exist (when
 * given), and prints the epoch ms it started publishing at (t_start).
 *
 * Output is one line of "key=value" words, for the script to read.
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "ota_token.h"


typedef struct {
    struct mosquitto  *mosq;
    int                idx;
    int                fd;
    int                connected;    /* CONNACK accepted */
    int                refused;      /* CONNACK refused */
    int                done;         /* login mode: finished */
    long               sent;
    long               acked;
    int                inflight;
} dev_t_;


static const char  *host = "127.0.0.1";
static int          port = 1883;
static int          ndev = 1000;
static long         nmsg = 100;
static int          window = 8;
static long         nlogins = 10000;
static int          concurrency = 50;
static int          anon;
static int          qos = 1;
static const char  *prefix = "bench-dev-";
static const char  *product = "bench-product";
static const char  *secret = "bench-secret";
static const char  *kind = "inform";
static const char  *mode = "pub";
static const char  *wrong;            /* login mode: every other one wrong */
static const char  *go_file;
static long         expect = 100000;
static const char  *sub_user, *sub_pass;

static int          ep;
static long         total_acked, total_sent, conn_ok, conn_refused;


static long long
epoch_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
on_connect(struct mosquitto *m, void *ud, int rc)
{
    dev_t_  *d = ud;

    (void) m;

    if (rc == 0) {
        d->connected = 1;
        conn_ok++;
    } else {
        d->refused = 1;
        conn_refused++;
    }
}


static void
on_publish(struct mosquitto *m, void *ud, int mid)
{
    dev_t_  *d = ud;

    (void) m;
    (void) mid;

    d->acked++;
    d->inflight--;
    total_acked++;
}


static void
ep_add(dev_t_ *d, int out)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = d;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, d->fd, &ev) != 0) {
        (void) epoll_ctl(ep, EPOLL_CTL_ADD, d->fd, &ev);
    }
}


static int
dev_connect(dev_t_ *d, int idx, int bad)
{
    char   id[256], user[256], pass[65], dev[128], ts[32];
    char   msg[512];
    int    n;

    memset(d, 0, sizeof(*d));
    d->idx = idx;

    snprintf(dev, sizeof(dev), "%s%d", prefix, idx);

    if (anon) {
        snprintf(id, sizeof(id), "%s", dev);
    } else {
        snprintf(ts, sizeof(ts), "%lld",
                 (long long) (time(NULL)) * 1000LL + idx % 1000);
        snprintf(id, sizeof(id),
                 "%s|securemode=2,signmethod=hmacsha256,timestamp=%s|",
                 dev, ts);
        snprintf(user, sizeof(user), "%s&%s", dev, product);
        n = snprintf(msg, sizeof(msg),
                     "clientId%sdeviceName%sproductKey%stimestamp%s",
                     dev, dev, product, ts);
        ota_hmac_sha256_hex(bad ? wrong : secret, strlen(bad ? wrong : secret),
                            msg, (size_t) n, pass);
    }

    d->mosq = mosquitto_new(id, true, d);
    if (d->mosq == NULL) {
        return -1;
    }

    mosquitto_connect_callback_set(d->mosq, on_connect);
    mosquitto_publish_callback_set(d->mosq, on_publish);

    if (!anon) {
        mosquitto_username_pw_set(d->mosq, user, pass);
    }

    if (mosquitto_connect(d->mosq, host, port, 60) != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(d->mosq);
        d->mosq = NULL;
        return -1;
    }

    d->fd = mosquitto_socket(d->mosq);
    ep_add(d, mosquitto_want_write(d->mosq));

    return 0;
}


static void
dev_close(dev_t_ *d)
{
    if (d->mosq == NULL) {
        return;
    }
    (void) epoll_ctl(ep, EPOLL_CTL_DEL, d->fd, NULL);
    mosquitto_disconnect(d->mosq);
    (void) mosquitto_loop_write(d->mosq, 1);
    mosquitto_destroy(d->mosq);
    d->mosq = NULL;
}


/* one pass of epoll: reads, then writes of whoever wants to */
static void
pass(int timeout_ms)
{
    int                 n, i;
    dev_t_             *d;
    struct epoll_event  evs[1024];

    n = epoll_wait(ep, evs, 1024, timeout_ms);

    for (i = 0; i < n; i++) {
        d = evs[i].data.ptr;
        if (d->mosq == NULL) {
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            if (mosquitto_loop_read(d->mosq, 1) != MOSQ_ERR_SUCCESS) {
                d->done = 1;
                if (!d->connected && !d->refused) {
                    d->refused = 1;
                    conn_refused++;
                }
            }
        }
        if (d->mosq && (evs[i].events & EPOLLOUT)) {
            (void) mosquitto_loop_write(d->mosq, 1);
        }
    }
}


static void
publish_some(dev_t_ *d, const char *topic_fmt)
{
    char  topic[256], payload[256];
    int   n;

    while (d->connected && d->inflight < window && d->sent < nmsg) {
        snprintf(topic, sizeof(topic), topic_fmt, product, prefix, d->idx);
        if (strcmp(kind, "progress") == 0) {
            n = snprintf(payload, sizeof(payload),
                         "{\"id\":\"%ld\",\"params\":{\"step\":\"%ld\","
                         "\"desc\":\"bench\",\"module\":\"default\"}}",
                         d->sent, d->sent % 100);
        } else {
            n = snprintf(payload, sizeof(payload),
                         "{\"id\":\"%ld\",\"params\":{\"version\":\"1.0.0\","
                         "\"module\":\"default\"}}", d->sent);
        }
        if (mosquitto_publish(d->mosq, NULL, topic, n, payload, qos, false)
            != MOSQ_ERR_SUCCESS)
        {
            break;
        }
        d->sent++;
        total_sent++;
        if (qos > 0) {
            d->inflight++;
        } else {
            total_acked++;
        }
    }
}


static int
run_pub(void)
{
    int        i, connected, pending;
    double     t0, t1, last_misc;
    dev_t_    *devs;
    const char *fmt;

    devs = calloc((size_t) ndev, sizeof(dev_t_));
    if (devs == NULL) {
        return 1;
    }

    fmt = strcmp(kind, "progress") == 0 ? "/ota/device/progress/%s/%s%d"
                                        : "/ota/device/inform/%s/%s%d";

    for (i = 0; i < ndev; i++) {
        if (dev_connect(&devs[i], i, 0) != 0) {
            fprintf(stderr, "device %d: cannot connect\n", i);
            return 1;
        }
        if (i % 50 == 49) {
            pass(0);
        }
    }

    t0 = now_s();
    do {
        pass(10);
        connected = 0;
        for (i = 0; i < ndev; i++) {
            connected += devs[i].connected;
        }
    } while (connected + conn_refused < ndev && now_s() - t0 < 30);

    if (connected < ndev) {
        printf("connected=%d refused=%ld error=not_all_connected\n",
               connected, conn_refused);
        return 1;
    }

    printf("connected=%d\n", connected);
    fflush(stdout);

    if (go_file != NULL) {
        struct stat  st;

        while (stat(go_file, &st) != 0) {
            pass(10);
        }
    }

    printf("t_start=%lld\n", epoch_ms());
    fflush(stdout);

    t0 = now_s();
    last_misc = t0;

    for (;;) {
        pending = 0;
        for (i = 0; i < ndev; i++) {
            publish_some(&devs[i], fmt);
            if (mosquitto_want_write(devs[i].mosq)) {
                (void) mosquitto_loop_write(devs[i].mosq, 1);
                if (mosquitto_want_write(devs[i].mosq)) {
                    ep_add(&devs[i], 1);
                }
            }
            if (devs[i].acked < nmsg) {
                pending = 1;
            }
        }
        if (!pending || now_s() - t0 > 300) {
            break;
        }
        pass(5);
        if (now_s() - last_misc > 1) {
            for (i = 0; i < ndev; i++) {
                (void) mosquitto_loop_misc(devs[i].mosq);
            }
            last_misc = now_s();
        }
    }

    t1 = now_s();

    printf("devices=%d sent=%ld acked=%ld seconds=%.3f rate=%.0f\n", ndev,
           total_sent, total_acked, t1 - t0, total_acked / (t1 - t0));

    for (i = 0; i < ndev; i++) {
        dev_close(&devs[i]);
    }
    free(devs);

    return total_acked == (long) ndev * nmsg ? 0 : 1;
}


static int
run_login(void)
{
    int      i, active;
    long     started, finished;
    double   t0, t1;
    dev_t_  *slots;

    slots = calloc((size_t) concurrency, sizeof(dev_t_));
    if (slots == NULL) {
        return 1;
    }

    started = finished = 0;
    t0 = now_s();

    for (;;) {
        active = 0;
        for (i = 0; i < concurrency; i++) {
            dev_t_ *d = &slots[i];

            if (d->mosq && (d->connected || d->refused || d->done)) {
                dev_close(d);
                finished++;
            }
            if (d->mosq == NULL && started < nlogins) {
                /* distinct devices: each login is a first login */
                if (dev_connect(d, (int) (started % ndev),
                                wrong != NULL && started % 2 == 1) != 0)
                {
                    conn_refused++;
                    finished++;
                }
                started++;
            }
            active += d->mosq != NULL;
        }
        if (active == 0 && started >= nlogins) {
            break;
        }
        if (now_s() - t0 > 300) {
            break;
        }
        pass(5);
    }

    t1 = now_s();

    printf("logins=%ld accepted=%ld refused=%ld seconds=%.3f rate=%.0f\n",
           finished, conn_ok, conn_refused, t1 - t0, finished / (t1 - t0));

    free(slots);

    return 0;
}


static long        sub_count;
static long long   sub_last;


static void
on_sub_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    (void) m;
    (void) ud;
    (void) msg;

    sub_count++;
    sub_last = epoch_ms();
}


static void
on_sub_subscribe(struct mosquitto *m, void *ud, int mid, int n,
    const int *granted)
{
    (void) m;
    (void) ud;
    (void) mid;

    printf("subscribed=%d\n", n > 0 && granted[0] <= 2);
    fflush(stdout);
}


static void
on_sub_connect(struct mosquitto *m, void *ud, int rc)
{
    (void) ud;

    if (rc == 0) {
        mosquitto_subscribe(m, NULL, "/ota/device/inform/+/+", 1);
    }
}


static int
run_sub(void)
{
    int                fd, avail, k;
    double             idle;
    struct pollfd      p;
    struct mosquitto  *m;

    m = mosquitto_new("ota-bench-sub", true, NULL);
    if (m == NULL) {
        return 1;
    }

    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    mosquitto_threaded_set(m, true);
    mosquitto_connect_callback_set(m, on_sub_connect);
    mosquitto_message_callback_set(m, on_sub_message);
    mosquitto_subscribe_callback_set(m, on_sub_subscribe);
    if (sub_user != NULL) {
        mosquitto_username_pw_set(m, sub_user, sub_pass);
    }

    if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "sub: cannot connect\n");
        return 1;
    }
    (void) mosquitto_loop_write(m, 1);

    idle = now_s();

    while (sub_count < expect && now_s() - idle < 30) {
        fd = mosquitto_socket(m);
        p.fd = fd;
        p.events = POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0);
        p.revents = 0;

        if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
            k = 0;
            do {
                if (mosquitto_loop_read(m, 1) != MOSQ_ERR_SUCCESS) {
                    fprintf(stderr, "sub: connection lost\n");
                    return 1;
                }
                avail = 0;
                (void) ioctl(fd, FIONREAD, &avail);
            } while (avail > 0 && ++k < 1000);
            idle = now_s();
        }

        (void) mosquitto_loop_write(m, 1);
        (void) mosquitto_loop_misc(m);
    }

    printf("received=%ld t_last=%lld\n", sub_count, sub_last);

    mosquitto_destroy(m);

    return sub_count >= expect ? 0 : 1;
}


int
main(int argc, char **argv)
{
    int  c;

    static struct option  opts[] = {
        { "host", 1, 0, 'h' }, { "port", 1, 0, 'p' },
        { "devices", 1, 0, 'n' }, { "messages", 1, 0, 'm' },
        { "window", 1, 0, 'w' }, { "logins", 1, 0, 'l' },
        { "concurrency", 1, 0, 'c' }, { "anon", 0, 0, 'a' },
        { "qos", 1, 0, 'q' }, { "prefix", 1, 0, 'x' },
        { "product", 1, 0, 'P' }, { "secret", 1, 0, 's' },
        { "kind", 1, 0, 'k' }, { "mode", 1, 0, 'M' },
        { "wrong-secret", 1, 0, 'W' }, { "go-file", 1, 0, 'g' },
        { "expect", 1, 0, 'e' }, { "user", 1, 0, 'u' },
        { "password", 1, 0, 'X' },
        { 0, 0, 0, 0 }
    };

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': ndev = atoi(optarg); break;
        case 'm': nmsg = atol(optarg); break;
        case 'w': window = atoi(optarg); break;
        case 'l': nlogins = atol(optarg); break;
        case 'c': concurrency = atoi(optarg); break;
        case 'a': anon = 1; break;
        case 'q': qos = atoi(optarg); break;
        case 'x': prefix = optarg; break;
        case 'P': product = optarg; break;
        case 's': secret = optarg; break;
        case 'k': kind = optarg; break;
        case 'M': mode = optarg; break;
        case 'W': wrong = optarg; break;
        case 'g': go_file = optarg; break;
        case 'e': expect = atol(optarg); break;
        case 'u': sub_user = optarg; break;
        case 'X': sub_pass = optarg; break;
        default:
            fprintf(stderr, "usage: ota-mqtt-load --mode pub|login|sub ...\n");
            return 2;
        }
    }

    if (ndev < 1 || window < 1 || concurrency < 1) {
        fprintf(stderr, "ota-mqtt-load: --devices, --window and "
                "--concurrency must be at least 1\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    mosquitto_lib_init();

    ep = epoll_create1(0);
    if (ep < 0) {
        perror("epoll_create1");
        return 1;
    }

    c = strcmp(mode, "login") == 0 ? run_login()
        : strcmp(mode, "sub") == 0 ? run_sub() : run_pub();

    mosquitto_lib_cleanup();

    return c;
}
