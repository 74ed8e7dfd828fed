/*
 * ota_resp.c: Redis commands in RESP without printf (ota_resp.h).
 */

#include "ota_resp.h"

#include <string.h>


static size_t
ota_resp_digits(unsigned long long v)
{
    size_t  n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }

    return n;
}


/* v in decimal at p, no NUL; returns the end */
static char *
ota_resp_utoa(char *p, unsigned long long v)
{
    char    tmp[OTA_RESP_NUM_LEN];
    size_t  n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    while (n) {
        *p++ = tmp[--n];
    }

    return p;
}


size_t
ota_resp_len(int argc, const char **argv, const size_t *argvlen)
{
    int     j;
    size_t  len, total;

    total = 1 + ota_resp_digits((unsigned long long) argc) + 2;

    for (j = 0; j < argc; j++) {
        len = argvlen ? argvlen[j] : strlen(argv[j]);
        total += 1 + ota_resp_digits(len) + 2 + len + 2;
    }

    return total;
}


char *
ota_resp_write(char *p, int argc, const char **argv, const size_t *argvlen)
{
    int     j;
    size_t  len;

    *p++ = '*';
    p = ota_resp_utoa(p, (unsigned long long) argc);
    *p++ = '\r';
    *p++ = '\n';

    for (j = 0; j < argc; j++) {
        len = argvlen ? argvlen[j] : strlen(argv[j]);

        *p++ = '$';
        p = ota_resp_utoa(p, len);
        *p++ = '\r';
        *p++ = '\n';
        if (len) {
            memcpy(p, argv[j], len);
            p += len;
        }
        *p++ = '\r';
        *p++ = '\n';
    }

    *p = '\0';

    return p;
}


/* one conversion at fmt ('%' first): its length (2-4), or 0 if not taken */
static int
ota_resp_conv(const char *fmt, int *ints)
{
    const char  *c = fmt + 1;
    int          l = 0;

    if (*c == 's' || *c == 'b') {
        *ints = 0;
        return 2;
    }

    while (*c == 'l' && l < 2) {
        c++;
        l++;
    }

    if (*c == 'd' || *c == 'i' || *c == 'u') {
        *ints = 1;
        return (int) (c - fmt) + 1;
    }

    return 0;
}


int
ota_resp_vargs(const char *fmt, va_list ap, int max, const char **argv,
    size_t *argvlen, char (*nums)[OTA_RESP_NUM_LEN], int nnums)
{
    int                  argc, n, ints, num, neg;
    char                *e;
    long long            sv;
    const char          *c, *start;
    unsigned long long   uv;

    /* first only look: a format we do not take reads nothing of ap */
    argc = 0;
    num = 0;

    for (c = fmt; *c; /* void */) {
        if (*c == ' ') {
            c++;
            continue;
        }

        if (argc == max) {
            return -1;
        }

        if (*c == '%') {
            n = ota_resp_conv(c, &ints);
            if (n == 0 || (c[n] != ' ' && c[n] != '\0')) {
                return -1;
            }
            num += ints;
            c += n;

        } else {
            while (*c && *c != ' ') {
                if (*c == '%') {
                    return -1;
                }
                c++;
            }
        }

        argc++;
    }

    if (num > nnums) {
        return -1;
    }

    /* then take the arguments */
    argc = 0;
    num = 0;

    for (c = fmt; *c; /* void */) {
        if (*c == ' ') {
            c++;
            continue;
        }

        if (*c != '%') {
            start = c;
            while (*c && *c != ' ') {
                c++;
            }
            argv[argc] = start;
            argvlen[argc++] = (size_t) (c - start);
            continue;
        }

        n = ota_resp_conv(c, &ints);

        switch (c[n - 1]) {

        case 's':
            argv[argc] = va_arg(ap, const char *);
            argvlen[argc] = strlen(argv[argc]);
            break;

        case 'b':
            argv[argc] = va_arg(ap, const char *);
            argvlen[argc] = va_arg(ap, size_t);
            break;

        default:                        /* d, i, u with n - 2 'l's */
            neg = 0;

            if (c[n - 1] == 'u') {
                uv = n == 2 ? va_arg(ap, unsigned int)
                   : n == 3 ? va_arg(ap, unsigned long)
                   : va_arg(ap, unsigned long long);

            } else {
                sv = n == 2 ? va_arg(ap, int)
                   : n == 3 ? va_arg(ap, long)
                   : va_arg(ap, long long);
                neg = sv < 0;
                uv = neg ? 0ULL - (unsigned long long) sv
                         : (unsigned long long) sv;
            }

            e = nums[num];
            if (neg) {
                *e++ = '-';
            }
            e = ota_resp_utoa(e, uv);
            *e = '\0';

            argv[argc] = nums[num];
            argvlen[argc] = (size_t) (e - nums[num]);
            num++;
            break;
        }

        argc++;
        c += n;
    }

    return argc;
}
