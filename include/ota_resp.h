/*
 * ota_resp.h: Redis commands in RESP without printf, for the hot paths.
 *
 * hiredis builds a command from a format one character at a time in sds
 * strings and writes every argument's length with sprintf; the nginx module
 * sends some twenty commands per device session, and that formatting cost
 * it more than the Redis layer's own work (bench/README.md, "Fleet cost").
 * These functions write the same bytes (t/unit/test_resp.c checks them
 * against hiredis) for the formats the module uses; a format they do not
 * take is left to hiredis (ota_resp_vargs() returns -1 before consuming any
 * argument).
 *
 * Plain C, no nginx, no hiredis.
 */

#ifndef OTA_RESP_H
#define OTA_RESP_H

#include <stdarg.h>
#include <stddef.h>

#define OTA_RESP_NUM_LEN  24            /* a 64-bit integer and its NUL */

/* bytes of "*<argc>\r\n" + "$<len>\r\n<arg>\r\n" per argument */
size_t ota_resp_len(int argc, const char **argv, const size_t *argvlen);

/* writes the command at p (ota_resp_len() bytes, then a NUL not counted);
 * returns the end (the NUL) */
char *ota_resp_write(char *p, int argc, const char **argv,
    const size_t *argvlen);

/*
 * Splits a hiredis format into arguments (argv points into the format, the
 * strings given, or nums for integers) as redisvFormatCommand does:
 * arguments are separated by spaces; each is literal text without '%', or
 * exactly one of %s, %b (pointer, size_t), %d, %i, %u with no, one or two
 * 'l'.  Returns argc, or -1 when the format has anything else (text and a
 * conversion in one argument, %%, other conversions, more than max
 * arguments or more integers than nums holds): then no argument of ap was
 * read.
 */
int ota_resp_vargs(const char *fmt, va_list ap, int max, const char **argv,
    size_t *argvlen, char (*nums)[OTA_RESP_NUM_LEN], int nnums);

#endif /* OTA_RESP_H */
