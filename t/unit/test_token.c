/* unit tests: HMAC formats, bearer tokens, signed links, names */

#include "tap.h"
#include "ota_token.h"
#include "ota_names.h"

#include <stdlib.h>
#include <time.h>

#define KEY "0123456789abcdef-server-key"

/* RFC 4231 cases 1-4, 6, 7 on the kept-context HMAC (and the one-shot) */
static void
test_kept(void)
{
    static const struct {
        int          key_byte, key_len;   /* key_byte -1: 0x01, 0x02, .. */
        const char  *data;
        int          data_byte, data_len;
        const char  *hex;
    } v[] = {
        { 0x0b, 20, "Hi There", 0, 8,
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { 0, 4, "what do ya want for nothing?", 0, 28,
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { 0xaa, 20, NULL, 0xdd, 50,
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { -1, 25, NULL, 0xcd, 50,
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
          0, 54,
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { 0xaa, 131, "This is a test using a larger than block-size key and a "
          "larger than block-size data. The key needs to be hashed before "
          "being used by the HMAC algorithm.", 0, 152,
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };
    unsigned char  key[6][200], data[6][200];
    char           hex[OTA_HEX_SHA256_LEN + 1];
    int            i, j, round, bad;
    struct timespec a, b, c;
    double         one, kept;

    for (i = 0; i < 6; i++) {
        for (j = 0; j < v[i].key_len; j++) {
            key[i][j] = v[i].key_byte == -1 ? (unsigned char) (j + 1)
                        : (unsigned char) v[i].key_byte;
        }
        if (i == 1) {
            memcpy(key[i], "Jefe", 4);
        }
        if (v[i].data != NULL) {
            memcpy(data[i], v[i].data, (size_t) v[i].data_len);
        } else {
            memset(data[i], v[i].data_byte, (size_t) v[i].data_len);
        }
    }

    /* three rounds over six keys: the first fills the four kept contexts
     * and evicts, the later ones hit and miss; each answer stays exact */
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 6; i++) {
            ota_hmac_sha256_hex_kept(key[i], (size_t) v[i].key_len, data[i],
                                     (size_t) v[i].data_len, hex);
            is_str(hex, v[i].hex, "kept HMAC, RFC 4231 vector %d, round %d",
                   i, round);
            if (round == 0) {
                ota_hmac_sha256_hex(key[i], (size_t) v[i].key_len, data[i],
                                    (size_t) v[i].data_len, hex);
                is_str(hex, v[i].hex, "one-shot HMAC, RFC 4231 vector %d", i);
            }
        }
    }

    /* one key over and over (the server key's case), then another key
     * between two uses of the first: no state leaks between messages */
    bad = 0;
    for (j = 0; j < 1000; j++) {
        ota_hmac_sha256_hex_kept(key[1], 4, data[1], (size_t) (j % 28), hex);
        {
            char want[OTA_HEX_SHA256_LEN + 1];

            ota_hmac_sha256_hex(key[1], 4, data[1], (size_t) (j % 28), want);
            bad += strcmp(hex, want) != 0;
        }
        ota_hmac_sha256_hex_kept(key[j % 6], (size_t) v[j % 6].key_len,
                                 data[j % 6], (size_t) v[j % 6].data_len, hex);
        bad += strcmp(hex, v[j % 6].hex) != 0;
    }
    is_int(bad, 0, "kept HMAC equals the one-shot over 2000 mixed calls");

    /* the cost of each (printed, never asserted) */
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (j = 0; j < 20000; j++) {
        ota_hmac_sha256_hex(KEY, sizeof(KEY) - 1, data[1], 28, hex);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    for (j = 0; j < 20000; j++) {
        ota_hmac_sha256_hex_kept(KEY, sizeof(KEY) - 1, data[1], 28, hex);
    }
    clock_gettime(CLOCK_MONOTONIC, &c);
    one = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 20000e3;
    kept = ((c.tv_sec - b.tv_sec) * 1e9 + (c.tv_nsec - b.tv_nsec)) / 20000e3;
    printf("# HMAC-SHA256 one-shot %.2f us, kept context %.2f us per call\n",
           one, kept);
}


/* ota_ct_equal, 8 bytes a step: equal buffers of every length 0..40 (the
 * tails that are not a multiple of 8), at every alignment, and one bit
 * changed at every position (each of the 8 bits in turn) */
static void
test_ct_equal(void)
{
    unsigned char  a[64], b[64];
    size_t         len, i, off;
    int            eq_bad, ne_bad, cases;

    for (i = 0; i < sizeof(a); i++) {
        a[i] = (unsigned char) (i * 37 + 11);
    }

    eq_bad = ne_bad = cases = 0;

    for (off = 0; off < 8; off++) {
        for (len = 0; len <= 40; len++) {
            memcpy(b + off, a, len);
            if (!ota_ct_equal(a, b + off, len)) {
                eq_bad++;
            }

            for (i = 0; i < len; i++) {
                b[off + i] ^= (unsigned char) (1u << ((i + off) % 8));
                if (ota_ct_equal(a, b + off, len)
                    || ota_ct_equal(b + off, a, len))
                {
                    ne_bad++;
                    printf("# equal with byte %zu of %zu changed (offset "
                           "%zu)\n", i, len, off);
                }
                b[off + i] = a[i];
                cases++;
            }

            /* a difference just past len is not looked at */
            b[off + len] = (unsigned char) ~a[len];
            if (!ota_ct_equal(a, b + off, len)) {
                eq_bad++;
            }
        }
    }

    is_int(eq_bad, 0, "ct_equal: equal for every length 0..40 and offset");
    is_int(ne_bad, 0, "ct_equal: unequal at each of %d changed positions",
           cases);
    ok(!ota_ct_equal("0123456789abcdefX", "0123456789abcdefY", 17),
       "ct_equal: a difference in the tail after two 8-byte steps");
    ok(!ota_ct_equal("\x80", "\x00", 1)
       && !ota_ct_equal("a\x80" "bcdefgh", "a\x00" "bcdefgh", 9),
       "ct_equal: the top bit of a byte counts");
}


/* every byte value in each kind of name, against the rules of ota_names.h */
static void
test_name_bytes(void)
{
    char  s[3];
    int   c, base, bad;

    bad = 0;

    for (c = 0; c < 256; c++) {
        base = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
               || (c >= '0' && c <= '9') || c == '_' || c == '-';
        s[0] = 'a';
        s[1] = (char) c;
        s[2] = 'b';

        if (ota_name_device(s, 3) != (base || c == '.' || c == ':')
            || ota_name_product(s, 3) != (base || c == '.' || c == ':')
            || ota_name_module(s, 3) != base || ota_name_id(s, 3) != base
            || ota_name_file(s, 3) != (base || c == '.')
            || ota_name_id(s + 1, 1) != base
            || ota_name_device(s + 1, 1) != (base || c == ':'))
        {
            printf("# byte 0x%02x judged wrongly\n", c);
            bad++;
        }
    }

    is_int(bad, 0, "names: every byte value judged by the rules");
    ok(ota_name_id("a123456789b123456789c123456789d123456789e123456789"
                   "f123456789abcd", 64)
       && !ota_name_id("a123456789b123456789c123456789d123456789e123456789"
                       "f123456789abcde", 65), "names: 64 bytes, not 65");
}


int
main(void)
{

    char         tok[OTA_TOKEN_MAX], hex[OTA_HEX_SHA256_LEN + 1], bad[OTA_TOKEN_MAX];
    ota_token_t  t;
    int          n;

    test_kept();
    test_ct_equal();
    test_name_bytes();

    /* RFC 4231 test case 2 */
    ota_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
    is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "HMAC-SHA256 matches RFC 4231 case 2");

    /* device auth sign: HMAC(secret, "device<d>product<p>timestamp<ts>") */
    ota_hmac_sha256_hex("s3cret", 6, "devicedev1productp1timestamp1700000000000",
                        41, hex);
    {
        char sign[OTA_HEX_SHA256_LEN + 1];
        ota_auth_sign("s3cret", 6, "dev1", 4, "p1", 2, "1700000000000", 13, sign);
        is_str(sign, hex, "auth sign is HMAC over device/product/timestamp");
        ok(ota_auth_check("s3cret", 6, "dev1", 4, "p1", 2, "1700000000000", 13,
                          sign, 64), "auth check accepts the right sign");
        sign[0] = sign[0] == 'a' ? 'b' : 'a';
        ok(!ota_auth_check("s3cret", 6, "dev1", 4, "p1", 2, "1700000000000", 13,
                           sign, 64), "auth check refuses a changed sign");
        ok(!ota_auth_check("s3cret", 6, "dev1", 4, "p1", 2, "1700000000000", 13,
                           "zz", 2), "auth check refuses a short sign");
    }

    n = ota_token_make(KEY, sizeof(KEY) - 1, "dev-1", 5, "prod", 4, 2000, tok);
    ok(n > 0 && (size_t) n == strlen(tok), "token made (%s)", tok);
    ok(ota_token_verify(KEY, sizeof(KEY) - 1, tok, n, 1000, &t) == OTA_TOKEN_OK
       && t.device_len == 5 && memcmp(t.device, "dev-1", 5) == 0
       && t.product_len == 4 && memcmp(t.product, "prod", 4) == 0
       && t.expires == 2000, "token verifies and names device and product");
    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, tok, n, 2000, &t),
           OTA_TOKEN_EXPIRED, "token expires");
    is_int(ota_token_verify("other-key-0123456", 17, tok, n, 1000, &t),
           OTA_TOKEN_BAD_SIGNATURE, "token of another key refused");

    /* tampering: change the device, keep the MAC */
    strcpy(bad, tok);
    bad[strlen("1~2000~prod~")] = 'D';
    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, bad, n, 1000, &t),
           OTA_TOKEN_BAD_SIGNATURE, "tampered device refused");
    strcpy(bad, tok);
    bad[2] = '9';
    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, bad, n, 1000, &t),
           OTA_TOKEN_BAD_SIGNATURE, "extended expiry refused");

    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, "", 0, 1000, &t),
           OTA_TOKEN_MALFORMED, "empty token malformed");
    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, "1~2~p~d", 7, 1000, &t),
           OTA_TOKEN_MALFORMED, "four fields malformed");
    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, "1~2~p~d~e~f", 11, 1000, &t),
           OTA_TOKEN_MALFORMED, "six fields malformed");
    strcpy(bad, tok);
    bad[0] = '2';
    is_int(ota_token_verify(KEY, sizeof(KEY) - 1, bad, n, 1000, &t),
           OTA_TOKEN_MALFORMED, "unknown version malformed");
    ok(ota_token_make(KEY, sizeof(KEY) - 1, "a/b", 3, "p", 1, 5, tok) == -1,
       "no token for a device name with '/'");
    ok(ota_token_make(KEY, sizeof(KEY) - 1, "a~b", 3, "p", 1, 5, tok) == -1,
       "no token for a device name with '~'");

    /* signed links */
    ota_link_sign(KEY, sizeof(KEY) - 1, "pkg1", 4, "dev-1", 5, 5000, hex);
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "pkg1", 4, "dev-1", 5,
                           "5000", 4, hex, 64, 4000), OTA_TOKEN_OK,
           "signed link verifies");
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "pkg1", 4, "dev-1", 5,
                           "5000", 4, hex, 64, 5000), OTA_TOKEN_EXPIRED,
           "signed link expires");
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "pkg2", 4, "dev-1", 5,
                           "5000", 4, hex, 64, 4000), OTA_TOKEN_BAD_SIGNATURE,
           "signed link bound to its package");
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "pkg1", 4, "dev-2", 5,
                           "5000", 4, hex, 64, 4000), OTA_TOKEN_BAD_SIGNATURE,
           "signed link bound to its device");
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "pkg1", 4, "dev-1", 5,
                           "5001", 4, hex, 64, 4000), OTA_TOKEN_BAD_SIGNATURE,
           "signed link bound to its expiry");
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "../x", 4, "dev-1", 5,
                           "5000", 4, hex, 64, 4000), OTA_TOKEN_MALFORMED,
           "path tricks in a package id are malformed");
    is_int(ota_link_verify(KEY, sizeof(KEY) - 1, "pkg1", 4, "dev-1", 5,
                           "-5", 2, hex, 64, 4000), OTA_TOKEN_MALFORMED,
           "negative expiry malformed");

    /* names */
    ok(ota_name_device("AA:BB:CC:00:11:22", 17), "MAC address is a device id");
    ok(ota_name_device("sn.12_3-x", 9), "dotted serial is a device id");
    ok(!ota_name_device(".hidden", 7), "leading dot refused");
    ok(!ota_name_device("a b", 3), "space refused");
    ok(!ota_name_device("a\0b", 3), "NUL refused");
    ok(!ota_name_device("", 0), "empty refused");
    ok(!ota_name_module("mod.1", 5), "module names have no dots");
    ok(ota_name_module("MCU_fw-2", 8), "module name ok");
    ok(!ota_name_id("..", 2) && !ota_name_id("a/b", 3), "ids refuse path tricks");
    ok(ota_name_file("fw-1.2.3.tar.gz", 15), "file name ok");
    ok(!ota_name_file("manifest.json", 13), "manifest name reserved");
    ok(!ota_name_file("../etc", 6) && !ota_name_file(".x", 2), "file tricks refused");
    {
        const char *exts = ".bin .tar.gz .pack";

        ok(ota_name_ext_ok("fw.bin", 6, exts), "extension .bin");
        ok(ota_name_ext_ok("FW.BIN", 6, exts), "extensions ignore case");
        ok(ota_name_ext_ok("a.Tar.Gz", 8, exts), "two-part extension");
        ok(!ota_name_ext_ok("a.gz", 4, exts), ".gz alone is not .tar.gz");
        ok(!ota_name_ext_ok(".bin", 4, exts), "an extension alone is no name");
        ok(!ota_name_ext_ok("fw.bin.txt", 10, exts), "the last one counts");
        ok(!ota_name_ext_ok("fwbin", 5, exts), "the dot is part of it");
        ok(!ota_name_ext_ok("fw.bin", 6, ""), "an empty list accepts nothing");
        ok(ota_name_ext_ok("x.pack", 6, "  .bin   .pack "), "spaces between");
    }

    return done_testing();
}
