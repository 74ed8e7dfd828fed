# Exact download progress: per (device, package) the set of byte ranges that
# went out, merged in Redis across requests, overlaps, multipart ranges,
# resumes (curl -C -, wget -c), parallel segments (aria2c -x8 -s8), files of
# one package and nginx nodes; visible while a slow download runs; each
# update appends a download event with the absolute covered count.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new;
my $size = 300_000;
my $pkg = $t->make_package('pk', files => [ 'fw.bin' => $size ], module => 'mcu');
my $data = $pkg->{files}[0]{data};
my $dir = $t->dir;

sub cov_is {
    my ($dev, $pkgid, $want, $n, $what) = @_;
    my ($got, $gn) = ('', undef);
    $t->wait_for(sub { ($got, $gn) = $t->coverage($dev, $pkgid);
                       $got eq $want && ($gn // -1) == $n }, 5);
    is($got, $want, "$what: ranges $want");
    is($gn, $n, "$what: covered $n");
}

sub file_of { OtaTest::read_file($_[0]) }

# ---- pieces, overlaps, multipart -------------------------------------------------

my $u = $t->signed_link('pk', 'd1');
$t->http(GET => $u, headers => { Range => 'bytes=0-99' });
cov_is('d1', 'pk', '0-100', 100, 'one range');

$t->http(GET => $u, headers => { Range => 'bytes=50-149' });
cov_is('d1', 'pk', '0-150', 150, 'an overlapping range counts only new bytes');

$t->http(GET => $u, headers => { Range => 'bytes=1000-1999' });
cov_is('d1', 'pk', '0-150,1000-2000', 1150, 'a disjoint range');

$t->http(GET => $u, headers => { Range => 'bytes=100-199,3000-3099,1990-2009' });
cov_is('d1', 'pk', '0-200,1000-2010,3000-3100', 1310,
       'multipart: each part, not the boundaries');

$t->http(GET => $u, headers => { Range => 'bytes=0-1999' });
cov_is('d1', 'pk', '0-2010,3000-3100', 2110, 'a range swallowing several');

# the event follows the merge's answer: wait for it, not just the merge
my @ev;
$t->wait_for(sub { @ev = $t->download_events('d1', 'pk');
                   @ev && $ev[-1]{covered} == 2110 }, 5);
ok(@ev >= 3, 'download events were appended (' . scalar(@ev) . ')');
is($ev[-1]{covered}, 2110, 'the last event carries the absolute covered count');
is($ev[-1]{size}, $size, 'and the package size');
is($ev[-1]{module}, 'mcu', 'and the module from the manifest');
ok($ev[-1]{ts} > 1e12, 'ts is in milliseconds');
my @c = map { $_->{covered} } @ev;
is_deeply(\@c, [ sort { $a <=> $b } @c ], 'covered never goes down in events');

# re-sending covered bytes changes nothing and appends no event
my $n_ev = scalar @ev;
$t->http(GET => $u, headers => { Range => 'bytes=10-19' });
sleep 1.5;
cov_is('d1', 'pk', '0-2010,3000-3100', 2110, 're-sent bytes');
is(scalar($t->download_events('d1', 'pk')), $n_ev, 'and no new event');

# ---- no body, no progress --------------------------------------------------------

$t->http(HEAD => $t->signed_link('pk', 'd-none'));
$t->http(GET => $t->signed_link('pk', 'd-none'),
         headers => { 'If-None-Match' => qq("$pkg->{files}[0]{sign}") });
$t->http(GET => $t->signed_link('pk', 'd-none'), headers => { Range => "bytes=$size-" });
sleep 1.5;
my ($cn, $nn) = $t->coverage('d-none', 'pk');
is($cn, '', 'HEAD, 304 and 416 send no body: no coverage');
ok(!defined $nn, 'and no count');
is(scalar($t->download_events('d-none')), 0, 'and no event');

# ---- interrupted, then resumed with curl -C - ------------------------------------

my $url = $t->base . $t->signed_link('pk', 'd-curl');
my $out = "$dir/curl.out";
my ($rc) = $t->client(20, 'curl', '-s', '-o', $out, '-r', '0-99999', $url);
is($rc, 0, 'curl fetched the first 100000 bytes');
cov_is('d-curl', 'pk', '0-100000', 100_000, 'interrupted download');

($rc) = $t->client(20, 'curl', '-s', '-C', '-', '-o', $out, $url);
is($rc, 0, 'curl -C - resumed');
is(sha256_hex(file_of($out)), $pkg->{files}[0]{sign}, 'the file matches the digest');
cov_is('d-curl', 'pk', "0-$size", $size, 'resumed download: exactly 100 %');
like(OtaTest::read_file("$dir/nginx/access.log"),
     qr{"GET /ota/v1/packages/pk\?device=d-curl[^"]*" 206 200000 }, 'the resume was a 206 of the rest');

# a transfer cut by the client (slow, then killed by --max-time), then
# resumed; big enough not to fit in loopback socket buffers
my $bigsize = 48 << 20;
my $big = $t->make_package('big', files => [ 'fw.bin' => $bigsize ]);
$url = $t->base . $t->signed_link('big', 'd-cut');
$out = "$dir/cut.out";
($rc) = $t->client(20, 'curl', '-s', '--limit-rate', '1M', '--max-time', '1',
                   '-o', $out, $url);
is($rc, 28, 'curl gave up mid-transfer');
my $partial = -s $out;
ok($partial > 0 && $partial < $bigsize, "part of the file arrived ($partial)");
my ($cutn) = ($t->wait_for(sub { ($t->coverage('d-cut', 'big'))[1] }, 3));
ok($cutn >= $partial && $cutn < $bigsize,
   "coverage of the cut transfer: at least what arrived, not all ($cutn)");
($rc) = $t->client(30, 'curl', '-s', '-C', '-', '-o', $out, $url);
is($rc, 0, 'curl -C - finished it');
is(sha256_hex(file_of($out)), $big->{files}[0]{sign}, 'digest matches');
cov_is('d-cut', 'big', "0-$bigsize", $bigsize, 'cut and resumed: exactly 100 %');

# ---- wget -c -----------------------------------------------------------------------

$out = "$dir/wget.out";
OtaTest::write_file($out, substr($data, 0, 12345));
($rc) = $t->client(20, 'wget', '-q', '-c', '-O', $out, $t->base . $t->signed_link('pk', 'd-wget'));
is($rc, 0, 'wget -c finished the partial file');
is(sha256_hex(file_of($out)), $pkg->{files}[0]{sign}, 'digest matches');
cov_is('d-wget', 'pk', "12345-$size", $size - 12345,
       'wget -c asked only for the rest, and only that counts');

# ---- aria2c: 8 parallel segments ---------------------------------------------------

my $ar = $t->make_package('ar', files => [ 'fw.bin' => 8 << 20 ]);
my $adir = "$dir/aria";
my ($arc, $aout, $aerr) = $t->aria2c($ar, 'd-aria', 8, $adir);
is($arc, 0, 'aria2c -x8 -s8 finished and checked the sha-256') or diag("$aout$aerr");
is(sha256_hex(file_of("$adir/fw.bin")), $ar->{files}[0]{sign}, 'digest matches');
my $n206 = () = OtaTest::read_file("$dir/nginx/access.log")
                =~ m{/ota/v1/packages/ar\?device=d-aria[^"]*" 206 }g;
cmp_ok($n206, '>=', 2, "in parallel ranges ($n206 partial responses)");
cov_is('d-aria', 'ar', '0-' . (8 << 20), 8 << 20, 'parallel segments: exactly 100 %');

# ---- a multi-file package counts in one byte space ----------------------------------

my $m = $t->make_package('mf', files => [ 'a.bin' => 70_000, 'b.bin' => 5_000 ]);
$t->http(GET => $t->signed_link('mf', 'd-mf', undef, 'b.bin'));
cov_is('d-mf', 'mf', '70000-75000', 5_000, 'second file at its package offset');
$t->http(GET => $t->signed_link('mf', 'd-mf', undef, 'b.bin'), headers => { Range => 'bytes=0-9' });
$t->http(GET => $t->signed_link('mf', 'd-mf'), headers => { Range => 'bytes=69990-' });
cov_is('d-mf', 'mf', '69990-75000', 5_010, 'ranges of both files');
$t->http(GET => $t->signed_link('mf', 'd-mf', undef, 'a.bin'));
cov_is('d-mf', 'mf', '0-75000', 75_000, 'all files: 100 % of the package');
is(($t->download_events('d-mf'))[-1]{size}, 75_000, 'size is the whole package');

# ---- visible while a slow download runs ---------------------------------------------

my $slow = $t->make_package('slow', files => [ 'fw.bin' => 24 << 20 ]);
my $calls0 = evalsha_calls();
$out = "$dir/slow.out";
my $t0 = time;
my $pid = fork // die;
if ($pid == 0) {
    exec 'timeout', '60', 'curl', '-s', '--limit-rate', '3M', '-o', $out,
         $t->base . $t->signed_link('slow', 'd-slow');
    exit 127;
}
my $mid = $t->wait_for(sub {
    my $n = ($t->coverage('d-slow', 'slow'))[1] // 0;
    return $n > 0 && $n < (24 << 20) ? $n : 0;
}, 6);
ok($mid, "progress visible in Redis mid-download ($mid bytes)");
ok(waitpid($pid, WNOHANG) == 0, 'while curl is still downloading');
my @mev = $t->download_events('d-slow');
ok(@mev && $mev[0]{covered} < (24 << 20), 'a mid-download event too');
# curl's limiter reads in bursts a few seconds apart
my $seen = $t->wait_for(sub { my $n = ($t->coverage('d-slow', 'slow'))[1] // 0;
                              $n > $mid ? $n : 0 }, 8);
ok($seen, "and it grows ($seen)");
waitpid($pid, 0);
my $secs = time - $t0;
is($?, 0, sprintf('curl finished in %.1f s', $secs));
is(sha256_hex(file_of($out)), $slow->{files}[0]{sign}, 'digest matches');
cov_is('d-slow', 'slow', '0-' . (24 << 20), 24 << 20, 'slow download: exactly 100 %');
my $calls = evalsha_calls() - $calls0;
cmp_ok($calls, '<=', int($secs) * 2 + 6,
       "merge calls are bounded by time, not by writes ($calls in ${\ int $secs} s)");

sub evalsha_calls {
    my $info = $t->redis(INFO => 'commandstats');
    my $n = 0;
    $n += $1 while $info =~ /cmdstat_eval(?:sha)?:calls=(\d+)/g;
    return $n;
}

# ---- two nodes, one progress ---------------------------------------------------------

my $t2 = OtaTest->new(no_redis => 1, redis_port => $t->{redis_port},
                      store => $t->store);
my $half = int($size / 2);
$t->http(GET => $t->signed_link('pk', 'd-2n'), headers => { Range => "bytes=0-$half" });
$t2->http(GET => $t2->signed_link('pk', 'd-2n'), headers => { Range => "bytes=" . ($half - 100) . '-' });
cov_is('d-2n', 'pk', "0-$size", $size, 'started on one node, finished on another: 100 %');

$t2->stop;
$t->stop;
done_testing;
