/*
 * ota_event.h: the one encoder of a device event as an XADD on
 * OTA_STREAM_EVENTS (docs/redis-schema.md, "Streams").  Whoever produces
 * events (the nginx module's device API and progress filter, the MQTT
 * bridge) fills an ota_event_fields_t and sends the argument vector
 * ota_event_encode() builds (redisCommandArgv, redisAsyncCommandArgv):
 * every event then has the same fields in the same order and its ts in
 * milliseconds.
 *
 * Which fields each type carries:
 *
 *   download   device package module covered size [batch notified]
 *   inform     device product module version
 *   progress   device product module step desc
 *   notified   device module batch package
 *
 * A download event may carry the device's notified event folded in
 * (docs/download.md, "The notified event"): batch and notified (the ms
 * the upgrade answer was given), written only when notified > 0.
 *
 * No allocation: the vector points into the fields given (they must live
 * until the command is sent) and into the ota_event_t's own buffer for the
 * numbers.
 */

#ifndef OTA_EVENT_H
#define OTA_EVENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char  *data;
    size_t       len;
} ota_event_str_t;

typedef struct {
    const char       *type;         /* OTA_EV_* */
    int64_t           ts;           /* producer's clock, ms */
    ota_event_str_t   device;
    ota_event_str_t   product;      /* inform, progress */
    ota_event_str_t   module;
    ota_event_str_t   package;      /* download, notified */
    ota_event_str_t   batch;        /* notified; download with notified */
    ota_event_str_t   version;      /* inform */
    ota_event_str_t   desc;         /* progress; may be empty */
    long long         covered;      /* download: bytes covered, absolute */
    long long         size;         /* download: the package's bytes */
    int               step;         /* progress: -4..100 */
    int64_t           notified;     /* download: > 0, the notified event of
                                       batch folded in (its ts, ms) */
} ota_event_fields_t;

/* XADD <stream> * type T ts TS and at most seven fields */
#define OTA_EVENT_ARGC_MAX  21

typedef struct {
    int           argc;
    const char   *argv[OTA_EVENT_ARGC_MAX];
    size_t        argvlen[OTA_EVENT_ARGC_MAX];
    char          num[5][24];       /* ts, covered, size, step, notified */
} ota_event_t;

/* 0, or -1 for an unknown type or a missing required field (device,
 * module, and per type: package, product, batch, version) */
int ota_event_encode(ota_event_t *e, const ota_event_fields_t *f);

/* a C string as a field value */
ota_event_str_t ota_event_cstr(const char *s);

#endif /* OTA_EVENT_H */
