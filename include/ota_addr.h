/*
 * ota_addr.h: the one syntax of a Redis address, read by the nginx module
 * (`ota_redis`), ota-worker (`--redis`, `redis` in its config file) and
 * otactl (`--redis`, OTA_REDIS):
 *
 *   ADDRESS [password=P] [db=N]
 *
 *   ADDRESS  IP:PORT | [IPv6]:PORT | HOST:PORT | unix:/path
 *            | sentinel=IP:PORT[,IP:PORT...] master=NAME
 *
 * Words are separated by blanks; nginx hands its directive's arguments to
 * ota_addr_word() one at a time, the programs give the whole string to
 * ota_addr_parse().  With Sentinel the sentinels are asked for the master
 * NAME on every (re)connect.
 *
 * The worker's and otactl's earlier Sentinel form `sentinel=A,B/NAME` is
 * still read for one release: `old_form` is set and the program warns
 * (OTA_ADDR_OLD_FORM).
 */

#ifndef OTA_ADDR_H
#define OTA_ADDR_H

#include <stddef.h>

#define OTA_ADDR_SENTINELS_MAX  16

/* the release after which `sentinel=A,B/NAME` is no longer read */
#define OTA_ADDR_OLD_FORM \
    "the form sentinel=IP:PORT,.../NAME is read until the next release"

typedef struct {
    char    host[256];                  /* IPv6 without its brackets */
    int     port;
} ota_hostport_t;

typedef struct {
    ota_hostport_t  server;             /* host "" with path or sentinels */
    char            path[256];          /* unix socket */
    ota_hostport_t  sentinel[OTA_ADDR_SENTINELS_MAX];
    int             nsentinels;
    char            master[128];        /* Sentinel master name */
    char            password[256];
    int             db;
    int             old_form;           /* read from sentinel=A,B/NAME */
    int             have_addr;          /* the ADDRESS word was seen */
} ota_addr_t;

void ota_addr_init(ota_addr_t *a);

/* One word.  0: taken; -1: invalid (reason in err); 1: not an address
 * word (the caller may take it: nginx's timeout=). */
int ota_addr_word(ota_addr_t *a, const char *w, size_t len, char *err,
    size_t errlen);

/* Every word of s, then ota_addr_check(); 0, or -1 with a reason. */
int ota_addr_parse(ota_addr_t *a, const char *s, char *err, size_t errlen);

/* The words make an address: one server, or sentinels and a master. */
int ota_addr_check(const ota_addr_t *a, char *err, size_t errlen);

/* Where Redis is, for messages and the canonical form of the address
 * (no password): "127.0.0.1:6379", "[::1]:6379", "unix:/path",
 * "sentinel=10.0.0.1:26379,10.0.0.2:26379 master=ota". */
const char *ota_addr_str(const ota_addr_t *a, char *buf, size_t len);

/* 1 when host is an IP literal (connecting needs no name lookup) */
int ota_addr_is_ip(const char *host);

/* 1 when some host of a (server or sentinel) is a name other than
 * localhost: resolving it would block (the nginx module refuses it) */
int ota_addr_needs_dns(const ota_addr_t *a);

#endif /* OTA_ADDR_H */
