/*
 * Replies read into an arena.  A stream read of 1000 entries is about
 * 16000 reply objects; hiredis allocates and frees each one, which was
 * half of the worker's CPU time.  Here they are carved out of big blocks
 * that are kept and reused: releasing a reply is moving a mark back.
 * Marks nest (a long job reads events while its own entry is in hand), so
 * a reply is released by returning to the mark taken before it was read.
 */

#include "ota_common.h"
#include "ota_reply.h"

#include <stdlib.h>
#include <string.h>

#define OTA_ARENA_BLOCK  (1024 * 1024)

struct ota_arena_blk_s {
    ota_arena_blk_t  *next;
    size_t            size, used;
    char              data[];
};

static void *
ota_arena_alloc(ota_arena_t *a, size_t n)
{
    ota_arena_blk_t  *b = a->cur, *nb;
    size_t            sz;

    n = (n + 15) & ~(size_t) 15;
    while (b != NULL && b->used + n > b->size) {
        b = b->next;              /* a kept block further on */
        if (b != NULL) {
            b->used = 0;
            a->cur = b;
        }
    }
    if (b == NULL) {
        sz = n > OTA_ARENA_BLOCK ? n : OTA_ARENA_BLOCK;
        nb = malloc(sizeof(*nb) + sz);
        if (nb == NULL) {
            return NULL;
        }
        nb->next = NULL;
        nb->size = sz;
        nb->used = 0;
        if (a->cur != NULL) {
            nb->next = a->cur->next;
            a->cur->next = nb;
        } else {
            a->first = nb;
        }
        a->cur = b = nb;
    }
    b->used += n;
    return b->data + b->used - n;
}

ota_arena_mark_t
ota_arena_mark(ota_arena_t *a)
{
    ota_arena_mark_t  m;

    m.blk = a->cur;
    m.used = a->cur != NULL ? a->cur->used : 0;
    return m;
}

void
ota_arena_release(ota_arena_t *a, ota_arena_mark_t m)
{
    if (m.blk == NULL) {
        a->cur = a->first;        /* everything: blocks stay for reuse */
        if (a->cur != NULL) {
            a->cur->used = 0;
        }
        return;
    }
    a->cur = m.blk;
    a->cur->used = m.used;
}

void
ota_arena_free(ota_arena_t *a)
{
    ota_arena_blk_t  *b, *n;

    for (b = a->first; b != NULL; b = n) {
        n = b->next;
        free(b);
    }
    memset(a, 0, sizeof(*a));
}

/* ---- hiredis reply functions ------------------------------------------- */

/* the objects are include/ota_reply.c's (the module's reply block uses
 * them too), carved from the arena of the read under way */
static void *
ota_arena_carve(void *data, size_t n)
{
    return ota_arena_alloc(data, n);
}

static void
ota_arena_nofree(void *obj)
{
    (void) obj;                   /* released with its mark */
}

static redisReplyObjectFunctions  ota_arena_fns = {
    ota_reply_string, ota_reply_array, ota_reply_integer, ota_reply_nil,
    ota_arena_nofree
};

redisReply *
ota_arena_reply(redisContext *rc, ota_arena_t *a)
{
    redisReplyObjectFunctions  *fn = rc->reader->fn;
    void                       *prev = rc->reader->privdata;
    void                       *r = NULL;
    int                         rv;
    ota_reply_carver_t          carver = { ota_arena_carve, a };

    rc->reader->fn = &ota_arena_fns;
    rc->reader->privdata = &carver;
    rv = redisGetReply(rc, &r);
    if (rv != REDIS_OK && rc->reader->reply != NULL) {
        /* cut short (the connection broke): the objects are the arena's,
         * and the context must not free them when it is freed */
        rc->reader->reply = NULL;
    }
    rc->reader->privdata = prev;
    rc->reader->fn = fn;
    return rv == REDIS_OK ? r : NULL;
}
