/*
 * bridge_ops.c: what the bridge's parts share below them: the operations
 * of a pass, the letters of bridge.lua's answer, a drop and its count.
 */

#include "ota_mqtt_bridge.h"

#include <stdlib.h>
#include <string.h>


const char  *ota_drop_names[OTA_DROP_COUNT] = {
    "bad_topic", "too_large", "malformed_json", "bad_payload", "bad_module",
    "bad_version", "bad_step", "bad_desc", "publish_failed"
};

const char  *ota_kind_names[OTA_KIND_COUNT] = {
    "inform", "progress", "get", "notice", "other"
};


void
ota_bridge_drop(ota_bridge_t *b, ota_drop_e why, const char *topic,
    const char *detail)
{
    b->dropped[why]++;
    b->total_dropped++;

    ota_log(OTA_LOG_WARN, "dropped a message on \"%.200s\": %s%s%s", topic,
            ota_drop_names[why], detail ? ": " : "", detail ? detail : "");
}


/* the letter of operation i in bridge.lua's answer, 0 when there is none */
char
ota_bridge_letter(redisReply *r, int i)
{
    redisReply  *s;

    if (r->elements == 0) {
        return 0;
    }

    s = r->element[0];

    return (s->type == REDIS_REPLY_STRING && (size_t) i < s->len)
           ? s->str[i] : 0;
}


ota_bridge_op_t *
ota_bridge_ops_add(ota_bridge_ops_t *ops)
{
    int               cap;
    ota_bridge_op_t  *p;

    if (ops->n == ops->cap) {
        cap = ops->cap ? ops->cap * 2 : 256;
        p = realloc(ops->op, (size_t) cap * sizeof(ota_bridge_op_t));
        if (p == NULL) {
            return NULL;
        }
        ops->op = p;
        ops->cap = cap;
    }

    p = &ops->op[ops->n++];
    memset(p, 0, sizeof(ota_bridge_op_t));

    return p;
}


void
ota_bridge_ops_clear(ota_bridge_ops_t *ops)
{
    int  i;

    for (i = 0; i < ops->n; i++) {
        free(ops->op[i].desc);
        json_decref(ops->op[i].id);
    }

    ops->n = 0;
}
