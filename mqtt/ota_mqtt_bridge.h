/*
 * ota_mqtt_bridge.h: ota-mqtt, the bridge between the broker and Redis.
 *
 *   bridge_main.c    options and config file, the loop, signals
 *   bridge_mqtt.c    the broker session (libmosquitto): connect, shared
 *                    subscriptions, reads in passes, publishes and their
 *                    acknowledgements
 *   bridge_report.c  a device message -> an operation for Redis, or a drop
 *                    with its reason; the answers to firmware/get
 *   bridge_notice.c  the notices stream (ota:notices): read, claim, ack
 *                    after the broker took the publish, trim
 *   bridge_offer.c   an offer from Redis -> the MQTT upgrade notice or
 *                    get_reply (include/ota_offer.c), published
 *   bridge_redis.c   the Redis connection and the round trip of a pass
 *   bridge_ops.c     below them all: a pass's operations, bridge.lua's
 *                    letters, drops and their counts
 *   bridge.lua       the script a round trip runs (checks, events, offers)
 *   notices_trim.lua trims what every bridge group has acknowledged
 *
 * Delivery.  Device -> platform: the bridge subscribes with QoS 1 and
 * runs libmosquitto in "threaded" mode, so the PUBACKs of a pass stay in
 * libmosquitto's queue until the pass's events are stored in Redis; only
 * then are they written.  A bridge killed before that leaves the messages
 * unacknowledged in its persistent session, and the broker delivers them
 * again (at least once; events are idempotent).  Platform -> device:
 * notices are entries of ota:notices, read in the group ota-bridges and
 * acknowledged once the broker acknowledged the publish.
 */

#ifndef OTA_MQTT_BRIDGE_H
#define OTA_MQTT_BRIDGE_H

#include <signal.h>
#include <stdint.h>

#include <jansson.h>
#include <mosquitto.h>

#include "ota_common.h"
#include "ota_lcache.h"
#include "ota_mqtt.h"
#include "ota_names.h"

#define OTA_BRIDGE_ID_MAX   48          /* a stream entry id */
#define OTA_BRIDGE_MIDS     65536       /* MQTT packet ids */

/* why a message was dropped: the label of ota_mqtt_dropped_total */
typedef enum {
    OTA_DROP_BAD_TOPIC = 0,
    OTA_DROP_TOO_LARGE,
    OTA_DROP_MALFORMED_JSON,
    OTA_DROP_BAD_PAYLOAD,
    OTA_DROP_BAD_MODULE,
    OTA_DROP_BAD_VERSION,
    OTA_DROP_BAD_STEP,
    OTA_DROP_BAD_DESC,
    OTA_DROP_PUBLISH_FAILED,
    OTA_DROP_COUNT
} ota_drop_e;

/* what a message is counted as: the label of ota_mqtt_messages_total */
typedef enum {
    OTA_KIND_INFORM = 0,
    OTA_KIND_PROGRESS,
    OTA_KIND_GET,
    OTA_KIND_NOTICE,            /* upgrade notices published */
    OTA_KIND_OTHER,             /* a topic that is none of ours */
    OTA_KIND_COUNT
} ota_kind_e;

/* one operation of bridge.lua: a report, a firmware/get, a notice */
typedef struct {
    char         kind;          /* 'i' inform 'p' progress 'g' get 'o' notice */
    char         device[OTA_NAME_MAX + 1];
    char         product[OTA_NAME_MAX + 1];
    char         module[OTA_NAME_MAX + 1];
    char         a[OTA_NAME_MAX + 1];   /* version, step, or the batch id */
    char        *desc;                  /* progress */
    json_t      *id;                    /* get: the request's id, echoed */
    char         stream_id[OTA_BRIDGE_ID_MAX];   /* notice */
    unsigned     fast:1;        /* stored without bridge.lua (known) */
} ota_bridge_op_t;

typedef struct {
    ota_bridge_op_t  *op;
    int               n, cap;
} ota_bridge_ops_t;

/* a publish the broker has not acknowledged yet */
typedef struct {
    char      stream_id[OTA_BRIDGE_ID_MAX];     /* "": nothing to ack */
    char      device[OTA_NAME_MAX + 1];
    char      module[OTA_NAME_MAX + 1];
    char      batch[OTA_NAME_MAX + 1];
    char      package[OTA_NAME_MAX + 1];
    unsigned  pending:1;        /* the task was pending: notified after */
} ota_bridge_sent_t;

typedef struct ota_bridge_s {
    /* options */
    ota_addr_t          addr;
    char                mqtt_host[256];
    int                 mqtt_port;
    char               *mqtt_user;
    char               *mqtt_password;
    char               *token_secret;
    char               *public_url;     /* the device API's URL, ends in / */
    int                 link_ttl;       /* s */
    char                consumer[128];  /* in the group, and the client id */
    char                share[64];      /* "" : no shared subscription */
    int                 pass_max;       /* messages per pass */
    int                 claim_idle;     /* ms */
    int                 session_expiry; /* s */
    int                 keepalive;      /* s */
    int                 outstanding_max;
    int                 leave;          /* --leave: drain, end the session */
    int64_t             last_in;        /* ms of the last message */
    int64_t             mqtt_since;     /* ms the session was up (leave) */

    /* the broker */
    struct mosquitto   *mosq;
    /* what bridge_mqtt.c hands up: a message, a publish the broker
     * acknowledged (set by bridge_main.c, so the session layer calls no
     * part above it) */
    void              (*on_message)(struct ota_bridge_s *b, const char *topic,
                                    const void *payload, int len);
    void              (*on_acked)(struct ota_bridge_s *b, int mid, int ok);
    int                 mqtt_up;
    int64_t             mqtt_next_try;  /* ms */
    int                 mqtt_delay;     /* ms, backoff */

    /* Redis */
    redisContext       *rc;
    int64_t             redis_next_try;
    int                 redis_delay;
    int                 redis_down;     /* logged once per outage */
    ota_script_t        script;
    ota_script_t        trim;
    /* device -> product, as Redis confirmed it less than a minute ago:
     * bridge.lua does not read the device again (speed: a command of the
     * three a report costs Redis) */
    ota_lcache_t       *known;
    /* "<module>@<product>" of modules Redis confirmed likewise */
    ota_lcache_t       *modules;
    /* informs stored the fast way whose device has an open task: the
     * offer is looked up (bridge.lua 'q') */
    ota_bridge_ops_t    followups;

    /* the pass: messages read, not yet stored; held: do not write (their
     * PUBACKs wait in libmosquitto's queue) */
    ota_bridge_ops_t    reports;
    int                 held;

    /* notices */
    ota_bridge_ops_t    notices;        /* read, to be looked up */
    ota_bridge_ops_t    waiting;        /* of batches being created */
    int64_t             waiting_at;     /* ms: looked up again then */
    ota_bridge_sent_t  *sent[OTA_BRIDGE_MIDS];
    int                 outstanding;
    ota_bridge_sent_t **done;           /* acknowledged by the broker */
    int                 ndone, done_cap;
    char              (*acks)[OTA_BRIDGE_ID_MAX];  /* to XACK, no effect */
    int                 nacks, acks_cap;
    char                own_cursor[OTA_BRIDGE_ID_MAX];  /* "" once read */
    char                claim_cursor[OTA_BRIDGE_ID_MAX];
    int64_t             next_read;      /* ms */
    int64_t             next_claim;
    int64_t             next_trim;
    int                 group_ready;
    int                 req[4];         /* notice commands in this round */
    int                 nreq;

    /* counters, written to Redis with the next round trip */
    long                dropped[OTA_DROP_COUNT];
    long                handled[OTA_KIND_COUNT];
    long                total_in, total_dropped, total_notices;

    volatile sig_atomic_t  stop;
} ota_bridge_t;

/* bridge_mqtt.c */
int ota_bridge_mqtt_init(ota_bridge_t *b);
void ota_bridge_mqtt_free(ota_bridge_t *b);
void ota_bridge_mqtt_leave(ota_bridge_t *b);
int ota_bridge_mqtt_connect(ota_bridge_t *b);
int ota_bridge_mqtt_read(ota_bridge_t *b);
void ota_bridge_mqtt_write(ota_bridge_t *b);
int ota_bridge_publish(ota_bridge_t *b, const char *topic, json_t *msg,
    ota_bridge_sent_t *track);

/* bridge_report.c */
void ota_bridge_message(ota_bridge_t *b, const char *topic,
    const void *payload, int len);
void ota_bridge_reports_done(ota_bridge_t *b, redisReply *r);
void ota_bridge_followups_done(ota_bridge_t *b, redisReply *r);
int ota_bridge_fast(ota_bridge_t *b, ota_bridge_op_t *op, int64_t now);

/* bridge_notice.c */
void ota_bridge_notice_request(ota_bridge_t *b, int *n, int64_t now);
int ota_bridge_notice_reply(ota_bridge_t *b, int i, redisReply *r);
void ota_bridge_notices_done(ota_bridge_t *b, redisReply *r);
void ota_bridge_notices_retry(ota_bridge_t *b, int64_t now);
void ota_bridge_notice_acks(ota_bridge_t *b, redisContext *rc, int *n);
void ota_bridge_notice_acks_done(ota_bridge_t *b);
void ota_bridge_sent_acked(ota_bridge_t *b, int mid, int ok);
void ota_bridge_ack_later(ota_bridge_t *b, const char *id);
int ota_bridge_notice_due(ota_bridge_t *b, int64_t now);

/* bridge_offer.c */
int ota_bridge_offer(ota_bridge_t *b, const ota_bridge_op_t *op,
    redisReply *r, ota_bridge_sent_t *track);
int ota_bridge_get_reply(ota_bridge_t *b, const ota_bridge_op_t *op,
    redisReply *offer);

/* bridge_redis.c */
int ota_bridge_redis_ready(ota_bridge_t *b);
int ota_bridge_round(ota_bridge_t *b);
void ota_bridge_redis_lost(ota_bridge_t *b, const char *why);
int ota_bridge_script_ops(ota_bridge_t *b, ota_cmd_t *c,
    ota_bridge_ops_t *ops);

/* bridge_ops.c */
void ota_bridge_ops_clear(ota_bridge_ops_t *ops);
ota_bridge_op_t *ota_bridge_ops_add(ota_bridge_ops_t *ops);
char ota_bridge_letter(redisReply *r, int i);
void ota_bridge_drop(ota_bridge_t *b, ota_drop_e why, const char *topic,
    const char *detail);

extern const char  *ota_drop_names[OTA_DROP_COUNT];
extern const char  *ota_kind_names[OTA_KIND_COUNT];

#endif /* OTA_MQTT_BRIDGE_H */
