/* unit tests: the one Redis address syntax (include/ota_addr) */

#include "tap.h"
#include "ota_addr.h"

static int
parse(const char *s, ota_addr_t *a, char *err, size_t len)
{
    err[0] = '\0';
    return ota_addr_parse(a, s, err, len);
}

int
main(void)
{
    ota_addr_t  a;
    char        err[512], buf[1200];
    size_t      i;

    static const struct {
        const char  *in, *canon;
    } good[] = {
        { "127.0.0.1:6379", "127.0.0.1:6379" },
        { "  127.0.0.1:6379  ", "127.0.0.1:6379" },
        { "[::1]:6390", "[::1]:6390" },
        { "localhost:6379", "localhost:6379" },
        { "redis.example.com:6379 db=3", "redis.example.com:6379" },
        { "unix:/run/redis.sock", "unix:/run/redis.sock" },
        { "sentinel=127.0.0.1:26379 master=ota",
          "sentinel=127.0.0.1:26379 master=ota" },
        { "master=ota sentinel=10.0.0.1:26379,[fe80::1]:26380 password=x",
          "sentinel=10.0.0.1:26379,[fe80::1]:26380 master=ota" },
        { "sentinel=10.0.0.1:1,10.0.0.2:2/m",
          "sentinel=10.0.0.1:1,10.0.0.2:2 master=m" },
    };

    static const struct {
        const char  *in, *why;
    } bad[] = {
        { "", "no Redis address" },
        { "127.0.0.1", "invalid Redis address" },
        { "127.0.0.1:", "invalid Redis address" },
        { "127.0.0.1:0", "invalid Redis port" },
        { "127.0.0.1:65536", "invalid Redis port" },
        { "127.0.0.1:63a9", "invalid Redis port" },
        { "::1:6379", "invalid Redis address" },
        { "[::1:6379", "invalid Redis address" },
        { "unix:", "invalid Redis socket" },
        { "127.0.0.1:1 127.0.0.1:2", "a second Redis address" },
        { "127.0.0.1:1 timeout=2s", "unknown word" },
        { "127.0.0.1:1 db=x", "invalid \"db\" value" },
        { "sentinel=", "empty sentinel list" },
        { "sentinel=127.0.0.1:1", "needs the master's name" },
        { "127.0.0.1:1 master=m", "goes with a sentinel list" },
        { "sentinel=127.0.0.1:1 master=m 127.0.0.1:2", "a second Redis" },
        { "sentinel=127.0.0.1:1,nohost master=m", "invalid sentinel" },
        { "sentinel=127.0.0.1:99999/m", "invalid sentinel" },
        { "sentinel=/m", "empty sentinel list" },
        { "sentinel=127.0.0.1:1/", "invalid Sentinel address" },
        { "sentinel=127.0.0.1:1 sentinel=127.0.0.1:2 master=m",
          "given twice" },
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(parse(good[i].in, &a, err, sizeof(err)) == 0, "reads \"%s\"%s%s",
           good[i].in, err[0] ? ": " : "", err);
        is_str(ota_addr_str(&a, buf, sizeof(buf)), good[i].canon,
               "  as %s", good[i].canon);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(parse(bad[i].in, &a, err, sizeof(err)) == -1
           && strstr(err, bad[i].why) != NULL, "refuses \"%s\" (%s)",
           bad[i].in, err);
    }

    parse("sentinel=10.0.0.1:26379,10.0.0.2:26380 master=m password=p db=2",
          &a, err, sizeof(err));
    ok(a.nsentinels == 2 && a.sentinel[1].port == 26380
       && strcmp(a.sentinel[1].host, "10.0.0.2") == 0
       && strcmp(a.master, "m") == 0 && strcmp(a.password, "p") == 0
       && a.db == 2 && !a.old_form, "sentinels, master, password, db");
    parse("sentinel=10.0.0.1:26379/m", &a, err, sizeof(err));
    ok(a.old_form && strcmp(a.master, "m") == 0, "the old form is marked");
    parse("[::1]:6379", &a, err, sizeof(err));
    ok(strcmp(a.server.host, "::1") == 0 && a.server.port == 6379,
       "IPv6 without its brackets");
    parse("unix:/tmp/r.sock password=a=b", &a, err, sizeof(err));
    ok(strcmp(a.path, "/tmp/r.sock") == 0 && strcmp(a.password, "a=b") == 0,
       "a socket and a password with '='");

    /* one word at a time, as nginx hands its arguments over */
    ota_addr_init(&a);
    ok(ota_addr_word(&a, "timeout=2s", 10, err, sizeof(err)) == 1,
       "a word that is not an address word is left to the caller");
    ok(ota_addr_word(&a, "10.1.1.1:6379", 13, err, sizeof(err)) == 0
       && ota_addr_check(&a, err, sizeof(err)) == 0, "word by word");

    parse("127.0.0.1:1", &a, err, sizeof(err));
    ok(!ota_addr_needs_dns(&a), "an IP needs no DNS");
    parse("localhost:1", &a, err, sizeof(err));
    ok(!ota_addr_needs_dns(&a), "nor does localhost");
    parse("sentinel=127.0.0.1:1,db.example:2 master=m", &a, err, sizeof(err));
    ok(ota_addr_needs_dns(&a), "a sentinel host name does");
    ok(ota_addr_is_ip("::1") && ota_addr_is_ip("10.0.0.1")
       && !ota_addr_is_ip("example.com"), "IP literals");

    return done_testing();
}
