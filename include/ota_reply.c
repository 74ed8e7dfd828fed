/*
 * ota_reply.c: the createString/Array/Integer/Nil functions of a hiredis
 * reader, with every object and string carved by the ota_reply_carver_t
 * in the reader's privdata.  Nothing here frees: the memory's owner
 * empties it when the reply is done with (ota_reply.h).
 */

#include "ota_reply.h"

#include <string.h>


static redisReply *
ota_reply_obj(const redisReadTask *task, int type)
{
    redisReply          *r, *parent;
    ota_reply_carver_t  *c = task->privdata;

    r = c->alloc(c->data, sizeof(redisReply));
    if (r == NULL) {
        return NULL;
    }

    memset(r, 0, sizeof(redisReply));
    r->type = type;

    if (task->parent != NULL) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


void *
ota_reply_string(const redisReadTask *task, char *str, size_t len)
{
    char                *s;
    redisReply          *r;
    ota_reply_carver_t  *c = task->privdata;

    s = c->alloc(c->data, len + 1);
    if (s == NULL) {
        return NULL;
    }

    r = ota_reply_obj(task, task->type);
    if (r == NULL) {
        return NULL;
    }

    memcpy(s, str, len);
    s[len] = '\0';
    r->str = s;
    r->len = len;

    return r;
}


void *
ota_reply_array(const redisReadTask *task, int elements)
{
    void                *el = NULL;
    redisReply          *r;
    ota_reply_carver_t  *c = task->privdata;

    if (elements > 0) {
        el = c->alloc(c->data, (size_t) elements * sizeof(redisReply *));
        if (el == NULL) {
            return NULL;
        }
        memset(el, 0, (size_t) elements * sizeof(redisReply *));
    }

    r = ota_reply_obj(task, REDIS_REPLY_ARRAY);
    if (r == NULL) {
        return NULL;
    }

    r->elements = elements > 0 ? (size_t) elements : 0;
    r->element = el;

    return r;
}


void *
ota_reply_integer(const redisReadTask *task, long long value)
{
    redisReply  *r;

    r = ota_reply_obj(task, REDIS_REPLY_INTEGER);
    if (r != NULL) {
        r->integer = value;
    }

    return r;
}


void *
ota_reply_nil(const redisReadTask *task)
{
    return ota_reply_obj(task, REDIS_REPLY_NIL);
}
