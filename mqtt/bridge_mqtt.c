/*
 * bridge_mqtt.c: the bridge's broker session (libmosquitto 2.0).
 *
 * - MQTT 5, client id "ota-mqtt-<consumer>", clean start off and a session
 *   expiry (--session-expiry, default a day): messages published while the
 *   bridge is away wait in its session, and a message delivered but not
 *   acknowledged is delivered again after a crash.
 * - Receive Maximum 65535: the broker may have that many QoS 1 messages
 *   in flight to the bridge.  Mosquitto reads one packet per client socket
 *   per loop pass, so the bridge's PUBACKs lag behind a thousand devices
 *   (docs/mqtt.md, "Throughput"); with the default window of 20 the
 *   broker queues and then drops what the bridge has not acknowledged.
 * - Shared subscription "$share/<group>/<filter>" (--share), QoS 1, so
 *   several bridges split the device topics, each message to one of them.
 * - "Threaded" mode (mosquitto_threaded_set) with our own poll: packets
 *   queued while reading (the PUBACKs) are written only when
 *   ota_bridge_mqtt_write() says so, i.e. after the pass is stored.
 */

#include "ota_mqtt_bridge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <mqtt_protocol.h>


static void
ota_bridge_on_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
    const mosquitto_property *props)
{
    int            i;
    char           topics[3][128];
    char          *list[3];
    ota_bridge_t  *b = ud;

    static const ota_mqtt_topic_e  kinds[3] = {
        OTA_MQTT_T_INFORM, OTA_MQTT_T_PROGRESS, OTA_MQTT_T_GET
    };

    (void) props;

    if (rc != 0) {
        ota_log(OTA_LOG_ERR, "broker %s:%d refused the bridge: %s (check "
                "--mqtt-user/--mqtt-password against plugin_opt_bridge_user"
                "/_password)", b->mqtt_host, b->mqtt_port,
                mosquitto_reason_string(rc));
        mosquitto_disconnect(mosq);
        return;
    }

    for (i = 0; i < 3; i++) {
        snprintf(topics[i], sizeof(topics[i]), "%s%s%s%s",
                 b->share[0] ? "$share/" : "", b->share,
                 b->share[0] ? "/" : "", ota_mqtt_topic_filter(kinds[i]));
        list[i] = topics[i];
    }

    rc = mosquitto_subscribe_multiple(mosq, NULL, 3, list, 1, 0, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        ota_log(OTA_LOG_ERR, "cannot subscribe: %s", mosquitto_strerror(rc));
        mosquitto_disconnect(mosq);
        return;
    }

    b->mqtt_up = 1;
    b->mqtt_delay = 100;

    ota_log(OTA_LOG_INFO, "connected to broker %s:%d (%s session), "
            "subscribing to %s, %s, %s", b->mqtt_host, b->mqtt_port,
            (flags & 1) ? "resumed" : "new", topics[0], topics[1],
            topics[2]);
}


static void
ota_bridge_on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n,
    const int *granted)
{
    int            i;
    ota_bridge_t  *b = ud;

    (void) mosq;
    (void) mid;

    for (i = 0; i < n; i++) {
        if (granted[i] > 2) {
            ota_log(OTA_LOG_ERR, "the broker refused subscription %d of 3 "
                    "(reason 0x%02x): is ota_mqtt_auth.so loaded, and "
                    "--mqtt-user its plugin_opt_bridge_user?", i + 1,
                    granted[i]);
            return;
        }
    }

    ota_log(OTA_LOG_INFO, "subscribed to the device topics of broker %s:%d",
            b->mqtt_host, b->mqtt_port);
}


static void
ota_bridge_on_disconnect(struct mosquitto *mosq, void *ud, int rc,
    const mosquitto_property *props)
{
    ota_bridge_t  *b = ud;

    (void) mosq;
    (void) props;

    if (b->mqtt_up || rc != 0) {
        ota_log(OTA_LOG_WARN, "lost the broker %s:%d (%s); reconnecting",
                b->mqtt_host, b->mqtt_port,
                rc ? mosquitto_strerror(rc) : "disconnected");
    }

    b->mqtt_up = 0;
    b->mqtt_next_try = ota_now_ms() + b->mqtt_delay;
    b->mqtt_delay = b->mqtt_delay * 2 > 5000 ? 5000 : b->mqtt_delay * 2;
}


static void
ota_bridge_on_message(struct mosquitto *mosq, void *ud,
    const struct mosquitto_message *msg)
{
    ota_bridge_t  *b = ud;

    (void) mosq;

    b->on_message(b, msg->topic, msg->payload, msg->payloadlen);
}


static void
ota_bridge_on_publish(struct mosquitto *mosq, void *ud, int mid,
    int reason, const mosquitto_property *props)
{
    ota_bridge_t  *b = ud;

    (void) mosq;
    (void) props;

    /* 0x10 "no matching subscribers" is a success: the device is away */
    b->on_acked(b, mid, reason < 0x80);
}


int
ota_bridge_mqtt_init(ota_bridge_t *b)
{
    char  id[160];

    mosquitto_lib_init();

    snprintf(id, sizeof(id), "ota-mqtt-%s", b->consumer);

    b->mosq = mosquitto_new(id, false, b);
    if (b->mosq == NULL) {
        ota_log(OTA_LOG_ERR, "cannot create the MQTT client: %s",
                strerror(errno));
        return -1;
    }

    mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         MQTT_PROTOCOL_V5);
    mosquitto_int_option(b->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    mosquitto_int_option(b->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_threaded_set(b->mosq, true);

    if (mosquitto_username_pw_set(b->mosq, b->mqtt_user, b->mqtt_password)
        != MOSQ_ERR_SUCCESS)
    {
        return -1;
    }

    mosquitto_connect_v5_callback_set(b->mosq, ota_bridge_on_connect);
    mosquitto_disconnect_v5_callback_set(b->mosq, ota_bridge_on_disconnect);
    mosquitto_message_callback_set(b->mosq, ota_bridge_on_message);
    mosquitto_publish_v5_callback_set(b->mosq, ota_bridge_on_publish);
    mosquitto_subscribe_callback_set(b->mosq, ota_bridge_on_subscribe);

    b->mqtt_delay = 100;

    return 0;
}


int
ota_bridge_mqtt_connect(ota_bridge_t *b)
{
    int                 rc;
    mosquitto_property *props = NULL;

    if (mosquitto_socket(b->mosq) >= 0) {
        return 0;                       /* CONNACK awaited */
    }

    if (mosquitto_property_add_int32(&props,
                                     MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                     (uint32_t) b->session_expiry)
        != MOSQ_ERR_SUCCESS)
    {
        return -1;
    }

    rc = mosquitto_connect_bind_v5(b->mosq, b->mqtt_host, b->mqtt_port,
                                   b->keepalive, NULL, props);
    mosquitto_property_free_all(&props);

    if (rc != MOSQ_ERR_SUCCESS) {
        if (b->mqtt_delay <= 100) {
            ota_log(OTA_LOG_WARN, "cannot connect to broker %s:%d: %s; "
                    "retrying", b->mqtt_host, b->mqtt_port,
                    rc == MOSQ_ERR_ERRNO ? strerror(errno)
                                         : mosquitto_strerror(rc));
        }
        b->mqtt_next_try = ota_now_ms() + b->mqtt_delay;
        b->mqtt_delay = b->mqtt_delay * 2 > 5000 ? 5000 : b->mqtt_delay * 2;
        return -1;
    }

    /* CONNECT waits in the queue: threaded mode writes only on our call */
    mosquitto_loop_write(b->mosq, 1);

    return 0;
}


/*
 * A pass: packets while the socket has bytes, up to --pass messages.
 * FIONREAD because mosquitto_loop_read() reads about one packet a call.
 */
int
ota_bridge_mqtt_read(ota_bridge_t *b)
{
    int  fd, avail, rc, calls;

    fd = mosquitto_socket(b->mosq);
    calls = 0;

    do {
        rc = mosquitto_loop_read(b->mosq, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            return -1;              /* on_disconnect has run */
        }

        avail = 0;
        if (fd < 0 || mosquitto_socket(b->mosq) != fd
            || ioctl(fd, FIONREAD, &avail) != 0)
        {
            break;
        }

    } while (avail > 0 && b->reports.n < b->pass_max
             && ++calls < 4 * b->pass_max);

    return 0;
}


void
ota_bridge_mqtt_write(ota_bridge_t *b)
{
    if (mosquitto_socket(b->mosq) < 0) {
        return;
    }

    if (mosquitto_want_write(b->mosq)) {
        (void) mosquitto_loop_write(b->mosq, 1);
    }

    if (mosquitto_socket(b->mosq) >= 0) {
        (void) mosquitto_loop_misc(b->mosq);        /* keepalive */
    }
}


/* publishes msg (taken over) with QoS 1; track (copied) is acted on when
 * the broker acknowledges it */
int
ota_bridge_publish(ota_bridge_t *b, const char *topic, json_t *msg,
    ota_bridge_sent_t *track)
{
    int                 rc, mid;
    char               *s;
    ota_bridge_sent_t  *t;

    s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);

    if (s == NULL) {
        return -1;
    }

    t = malloc(sizeof(ota_bridge_sent_t));
    if (t == NULL) {
        free(s);
        return -1;
    }

    if (track != NULL) {
        *t = *track;
    } else {
        memset(t, 0, sizeof(ota_bridge_sent_t));
    }

    rc = mosquitto_publish(b->mosq, &mid, topic, (int) strlen(s), s, 1,
                           false);
    free(s);

    if (rc != MOSQ_ERR_SUCCESS) {
        ota_log(OTA_LOG_ERR, "cannot publish on %s: %s", topic,
                mosquitto_strerror(rc));
        free(t);
        return -1;
    }

    if (b->sent[mid] != NULL) {
        /* a packet id came round while its publish was never
         * acknowledged: its notice stays pending and is claimed again */
        free(b->sent[mid]);
        b->outstanding--;
    }

    b->sent[mid] = t;
    b->outstanding++;

    return 0;
}


/* --leave: DISCONNECT with a session expiry of 0, so the broker forgets
 * the session and its place in the shared subscription */
void
ota_bridge_mqtt_leave(ota_bridge_t *b)
{
    mosquitto_property  *props = NULL;

    if (mosquitto_property_add_int32(&props,
                                     MQTT_PROP_SESSION_EXPIRY_INTERVAL, 0)
        != MOSQ_ERR_SUCCESS)
    {
        return;
    }

    (void) mosquitto_disconnect_v5(b->mosq, 0, props);
    mosquitto_property_free_all(&props);

    if (mosquitto_socket(b->mosq) >= 0) {
        (void) mosquitto_loop_write(b->mosq, 1);
    }

    ota_log(OTA_LOG_INFO, "left: the broker forgets session ota-mqtt-%s",
            b->consumer);
}


void
ota_bridge_mqtt_free(ota_bridge_t *b)
{
    int  i;

    if (b->mosq != NULL) {
        /* what is queued (the last PUBACKs) goes out before we leave */
        for (i = 0; i < 50 && mosquitto_socket(b->mosq) >= 0
                    && mosquitto_want_write(b->mosq); i++)
        {
            if (mosquitto_loop_write(b->mosq, 1) != MOSQ_ERR_SUCCESS) {
                break;
            }
        }
        mosquitto_disconnect(b->mosq);
        if (mosquitto_socket(b->mosq) >= 0) {
            (void) mosquitto_loop_write(b->mosq, 1);
        }
        mosquitto_destroy(b->mosq);
        b->mosq = NULL;
    }

    for (i = 0; i < OTA_BRIDGE_MIDS; i++) {
        free(b->sent[i]);
        b->sent[i] = NULL;
    }

    mosquitto_lib_cleanup();
}
