# Downloads behave like a good static server: Range (single, multipart,
# suffix, open), If-Range, ETag / If-None-Match, Last-Modified, Accept-Ranges,
# 416 with Content-Range, HEAD, the digest headers, multi-file packages, and
# names that cannot leave the package store.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new;

my $pkg = $t->make_package('fw-1_0', files => [ 'fw.bin' => 300_000 ],
                           sign_method => 'sha256');
my $multi = $t->make_package('multi', files => [ 'a.bin' => 70_000,
                                                  'b.tar.gz' => 5_000 ],
                             sign_method => 'md5');
my $data = $pkg->{files}[0]{data};
my $sign = $pkg->{files}[0]{sign};
my $url = $t->signed_link('fw-1_0', 'dev-h1');

# ---- whole file -------------------------------------------------------------

my $r = $t->http(GET => $url);
is($r->{status}, 200, 'GET: 200');
ok($r->{content} eq $data, 'body is the file, byte for byte');
is($r->{headers}{'content-length'}, 300_000, 'Content-Length');
is($r->{headers}{'accept-ranges'}, 'bytes', 'Accept-Ranges: bytes');
is($r->{headers}{etag}, qq("$sign"), 'strong ETag is the quoted digest');
is($r->{headers}{'x-ota-sign'}, $sign, 'X-OTA-Sign: the digest');
is($r->{headers}{'x-ota-sign-method'}, 'sha256', 'X-OTA-Sign-Method');
like($r->{headers}{'last-modified'}, qr/GMT$/, 'Last-Modified');
is($r->{headers}{'content-type'}, 'application/octet-stream', 'binary type');
like($r->{headers}{'content-disposition'}, qr/filename="fw\.bin"/,
     'Content-Disposition names the file');
my $etag = $r->{headers}{etag};
my $lm = $r->{headers}{'last-modified'};

# ---- HEAD -----------------------------------------------------------------------

$r = $t->http(HEAD => $url);
is($r->{status}, 200, 'HEAD: 200');
is($r->{headers}{'content-length'}, 300_000, 'HEAD: Content-Length of the file');
is($r->{headers}{etag}, $etag, 'HEAD: same ETag');
is($r->{headers}{'x-ota-sign'}, $sign, 'HEAD: digest header');
is($r->{content} // '', '', 'HEAD: no body');

# ---- ranges ---------------------------------------------------------------------

$r = $t->http(GET => $url, headers => { Range => 'bytes=100-199' });
is($r->{status}, 206, 'single range: 206');
is($r->{headers}{'content-range'}, 'bytes 100-199/300000', 'Content-Range');
ok($r->{content} eq substr($data, 100, 100), 'the right 100 bytes');

$r = $t->http(GET => $url, headers => { Range => 'bytes=-500' });
is($r->{status}, 206, 'suffix range: 206');
ok($r->{content} eq substr($data, -500), 'the last 500 bytes');

$r = $t->http(GET => $url, headers => { Range => 'bytes=299990-' });
is($r->{headers}{'content-range'}, 'bytes 299990-299999/300000', 'open range');
ok($r->{content} eq substr($data, 299_990), 'to the end');

$r = $t->http(GET => $url, headers => { Range => 'bytes=0-9,1000-1009,5-14' });
is($r->{status}, 206, 'multiple ranges: 206');
like($r->{headers}{'content-type'}, qr{^multipart/byteranges; boundary=},
     'multipart/byteranges');
my ($boundary) = $r->{headers}{'content-type'} =~ /boundary=(\S+)/;
my @parts = grep { /Content-Range/ } split /--\Q$boundary\E/, $r->{content};
is(scalar @parts, 3, 'three parts');
my $ok = 1;
for my $p (@parts) {
    my ($s, $e) = $p =~ /Content-Range: bytes (\d+)-(\d+)\/300000/ or ($ok = 0, next);
    my ($body) = $p =~ /\r\n\r\n(.*)\r\n\z/s;
    $ok = 0 unless defined $body && $body eq substr($data, $s, $e - $s + 1);
}
ok($ok, 'each part carries its own bytes');

# ---- If-Range, conditionals -------------------------------------------------------

$r = $t->http(GET => $url, headers => { Range => 'bytes=0-9', 'If-Range' => $etag });
is($r->{status}, 206, 'If-Range with the ETag: 206');
is(length $r->{content}, 10, 'the range only');

$r = $t->http(GET => $url, headers => { Range => 'bytes=0-9',
                                        'If-Range' => '"0123456789abcdef"' });
is($r->{status}, 200, 'If-Range with another ETag: 200');
is(length $r->{content}, 300_000, 'the whole file instead');

$r = $t->http(GET => $url, headers => { Range => 'bytes=0-9', 'If-Range' => $lm });
is($r->{status}, 206, 'If-Range with the Last-Modified date: 206');

$r = $t->http(GET => $url, headers => { Range => 'bytes=0-9',
                              'If-Range' => 'Mon, 01 Jan 2001 00:00:00 GMT' });
is($r->{status}, 200, 'If-Range with an older date: 200');

$r = $t->http(GET => $url, headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'If-None-Match with the ETag: 304');
is($r->{content} // '', '', '304 has no body');

$r = $t->http(GET => $url, headers => { 'If-None-Match' => '"nope"' });
is($r->{status}, 200, 'If-None-Match with another ETag: 200');

$r = $t->http(GET => $url, headers => { 'If-Modified-Since' => $lm });
is($r->{status}, 304, 'If-Modified-Since the Last-Modified date: 304');

# ---- 416 --------------------------------------------------------------------------

$r = $t->http(GET => $url, headers => { Range => 'bytes=300000-' });
is($r->{status}, 416, 'range past the end: 416');
is($r->{headers}{'content-range'}, 'bytes */300000',
   '416 carries Content-Range: bytes */size');
is($r->{json}{code}, 416, '416 body is the JSON error');
like($r->{json}{message}, qr/range/, 'with a reason');

$r = $t->http(GET => $url, headers => { Range => 'bytes=5-2' });
ok($r->{status} == 200 || $r->{status} == 416,
   "an inverted range is ignored or refused ($r->{status})");

# ---- multi-file packages -------------------------------------------------------------

my $murl = $t->signed_link('multi', 'dev-h1');
$r = $t->http(GET => $murl);
is($r->{status}, 200, 'no file name: the first file');
ok($r->{content} eq $multi->{files}[0]{data}, 'first file content');
is($r->{headers}{'x-ota-sign-method'}, 'md5', 'md5 package');
is($r->{headers}{'x-ota-sign'}, $multi->{files}[0]{sign}, 'md5 of the first file');

$r = $t->http(GET => $t->signed_link('multi', 'dev-h1', undef, 'b.tar.gz'));
is($r->{status}, 200, 'second file by name');
ok($r->{content} eq $multi->{files}[1]{data}, 'second file content');
is($r->{headers}{etag}, qq("$multi->{files}[1]{sign}"), 'its own ETag');

$r = $t->http(GET => $t->signed_link('multi', 'dev-h1', undef, 'c.bin'));
is($r->{status}, 404, 'a file the package does not have: 404');
is($r->{json}{code}, 404, 'JSON 404');

$r = $t->http(GET => $t->signed_link('no-such-pkg', 'dev-h1'));
is($r->{status}, 404, 'unknown package: 404');
like($r->{json}{message}, qr/no such package/, 'says so');

# ---- names that try to leave the store -----------------------------------------------

OtaTest::write_file($t->dir . '/secret.txt', 'TOP-SECRET');
OtaTest::write_file($t->store . '/fw-1_0/extra.bin', 'NOT-IN-MANIFEST');

sub raw_get {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 5)
        or return (0, '');
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    my ($st) = $resp =~ m{^HTTP/1\.\d (\d+)};
    return ($st // 0, $resp);
}

my $q = '?device=dev-h1&expires=' . (time + 600) . '&signature=00';
for my $case (
    [ "/ota/v1/packages/..%2F..%2Fsecret.txt$q",         'encoded ../ in the id' ],
    [ "/ota/v1/packages/fw-1_0/..%2F..%2Fsecret.txt$q",  'encoded ../ in the file' ],
    [ "/ota/v1/packages/fw-1_0/manifest.json$q",        'the manifest itself' ],
    [ "/ota/v1/packages/fw-1_0/.hidden$q",              'a dot file' ],
    [ "/ota/v1/packages/fw-1_0%00.bin$q",               'a NUL byte' ],
    [ "/ota/v1/packages/fw-1_0/a%2Fb$q",                'a slash in the file name' ],
    [ '/ota/v1/packages/' . ('x' x 65) . $q,            'a 65-character id' ],
    [ "/ota/v1/packages/fw.1$q",                        'a dot in the id' ],
) {
    my ($path, $what) = @$case;
    my ($st, $resp) = raw_get($path);
    ok($st == 400 || $st == 404, "$what: refused ($st)");
    unlike($resp, qr/TOP-SECRET|"files"/, "$what: nothing of the store leaks");
}

# nginx folds "x%2F.." into the package itself: the forged link is refused
my ($st, $resp) = raw_get('/ota/v1/packages/fw-1_0/' . ('a' x 10) . '%2F..' . $q);
is($st, 401, "encoded slash-dot-dot at the end: the package, forged link: 401");
unlike($resp, qr/TOP-SECRET/, 'nothing leaks');

# a file in the package directory but not in the manifest is not served
$r = $t->http(GET => $t->signed_link('fw-1_0', 'dev-h1', undef, 'extra.bin'));
is($r->{status}, 404, 'a file that is not in the manifest: 404');
unlike($r->{content}, qr/NOT-IN-MANIFEST/, 'and its content stays put');

# a JSON error for a malformed id
$r = $t->http(GET => '/ota/v1/packages/bad.id' . $q);
is($r->{status}, 400, 'malformed id: 400');
like($r->{json}{message}, qr/malformed package id/, 'JSON reason');

# the manifest is read once per worker and cached: a package that
# disappears from disk still has its manifest, its file is a 404
rename $t->store . '/fw-1_0/fw.bin', $t->store . '/fw-1_0/fw.gone';
$r = $t->http(GET => $url);
is($r->{status}, 404, 'file removed from the store: 404');
like($r->{json}{message}, qr/missing/, 'JSON reason');
like($t->error_log, qr/ota: .*fw\.bin.*failed/, 'and the error log says which file');
rename $t->store . '/fw-1_0/fw.gone', $t->store . '/fw-1_0/fw.bin';

# methods
$r = $t->http(DELETE => $url);
is($r->{status}, 405, 'DELETE: 405');

$t->stop;
done_testing;
