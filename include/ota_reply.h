/*
 * ota_reply.h: hiredis reply objects carved from the caller's memory
 * (ota_reply.c).  The module's kept reply block and the worker's arena both
 * build replies this way, for speed: no malloc and free per object.
 */

#ifndef OTA_REPLY_H
#define OTA_REPLY_H

#include <stddef.h>

#include <hiredis/hiredis.h>

/* 16-byte aligned bytes, NULL when out of memory; set as the reader's
 * privdata (redisReaderSetPrivdata) while the functions below are its fn */
typedef struct {
    void   *(*alloc)(void *data, size_t n);
    void    *data;
} ota_reply_carver_t;

void *ota_reply_string(const redisReadTask *task, char *str, size_t len);
void *ota_reply_array(const redisReadTask *task, int elements);
void *ota_reply_integer(const redisReadTask *task, long long value);
void *ota_reply_nil(const redisReadTask *task);

#endif /* OTA_REPLY_H */
