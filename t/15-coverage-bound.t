# The coverage set kept in Redis per (device, package) is bounded
# (OTA_COV_STORED_MAX = 128 ranges, include/ota_cov.h): a client asking for
# thousands of scattered parts cannot grow it past the bound; what it
# holds was delivered (covn is the sum of its ranges, never more than the
# bytes sent); ranges that extend, join or swallow stored ranges are always
# taken, so the same device still completes with one whole download, and
# real clients (curl -C -, aria2c -x16) stay exact.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new;
my $size = 1 << 20;
my $pkg = $t->make_package('cb', files => [ 'fw.bin' => $size ]);
my $zkey = OtaTest::key('OTA_KEY_COVERAGE', 'd-scatter', 'cb');
my $cap = 128;


sub check_set {
    my ($dev, $pkgid, $what) = @_;
    my ($ranges, $n) = $t->coverage($dev, $pkgid);
    my $sum = 0;
    my @r = map { [ split /-/ ] } split /,/, $ranges;
    $sum += $_->[1] - $_->[0] for @r;
    is($n // 0, $sum, "$what: covn is the sum of the stored ranges ($sum)");
    my $sorted = 1;
    for my $i (1 .. $#r) { $sorted = 0 if $r[$i][0] <= $r[$i - 1][1] }
    ok($sorted, "$what: disjoint, not touching");
    return scalar @r;
}

# ---- 100 requests of 300 scattered parts each ------------------------------------------

srand(14);
my $u = $t->signed_link('cb', 'd-scatter');
my (%sent, $parts);
my $capped0 = $t->metric('ota_progress_capped_total');
for my $req (1 .. 100) {
    my @p;
    my %used;
    while (@p < 300) {
        my $s = int(rand($size / 16)) * 16;   # 16-byte slots: parts never touch
        next if $used{$s}++ || $sent{$s};
        push @p, $s;
    }
    @p = sort { $a <=> $b } @p;
    my $r = $t->http(GET => $u, headers => { Range => 'bytes=' . join(',', map { "$_-" . ($_ + 9) } @p) });
    is($r->{status}, 206, "request $req: 206") if $req == 1 || $req == 100;
    $sent{$_} = 1 for @p;
    $parts += @p;
}
is($parts, 30_000, '30000 parts of 10 bytes asked for and sent');
my $n = $t->wait_for(sub { my $z = $t->redis(ZCARD => $zkey); $z >= $cap ? $z : 0 }, 10);
is($n, $cap, "the stored set stopped at $cap ranges (not 30000)");
sleep 1.2;                                     # every merge answered
is($t->redis(ZCARD => $zkey), $cap, 'and stays there');
is(check_set('d-scatter', 'cb', 'scattered'), $cap, "$cap ranges");
my ($cov, $covn) = $t->coverage('d-scatter', 'cb');
is($covn, $cap * 10, 'covered counts only the stored ranges: never more than was sent');
cmp_ok($t->metric('ota_progress_capped_total') - $capped0, '>=', 30_000 - $cap - 300,
       'the ranges left out are counted in ota_progress_capped_total');
my $mem = $t->redis(MEMORY => 'USAGE', $zkey);
cmp_ok($mem, '<', 16 * 1024, "the set takes $mem bytes of Redis");
is($t->redis(OBJECT => 'ENCODING', $zkey), 'listpack', 'in the compact encoding');

# the same device then downloads the whole package: one range, exactly 100 %
my $out = $t->dir . '/whole.bin';
my ($rc) = $t->client(30, 'curl', '-s', '-o', $out, $t->base . $u);
is($rc, 0, 'a whole download');
ok($t->wait_for(sub { (($t->coverage('d-scatter', 'cb'))[1] // 0) == $size }, 5),
   'covered == size after it');
is(($t->coverage('d-scatter', 'cb'))[0], "0-$size", 'one range');

# ---- a full set still completes by extending its ranges ---------------------------------

my $v = $t->signed_link('cb', 'd-fill');
my $step = int($size / 200);
for my $i (0 .. 199) {                         # 200 disjoint pieces: 128 kept
    $t->http(GET => $v, headers => { Range => 'bytes=' . ($i * $step) . '-' . ($i * $step + 99) });
}
ok($t->wait_for(sub { $t->redis(ZCARD => OtaTest::key('OTA_KEY_COVERAGE', 'd-fill', 'cb')) == $cap }, 10),
   "200 disjoint pieces: $cap kept");
# then every gap from its start (what a resuming client asks for)
my ($stored) = $t->coverage('d-fill', 'cb');
my @r = map { [ split /-/ ] } split /,/, $stored;
my $at = 0;
for my $x (@r, [ $size, $size ]) {
    if ($x->[0] > $at) {
        $t->http(GET => $v, headers => { Range => "bytes=$at-" . ($x->[0] - 1) });
    }
    $at = $x->[1];
}
ok($t->wait_for(sub { (($t->coverage('d-fill', 'cb'))[1] // 0) == $size }, 10),
   'filling the gaps from their starts completes it');
is(($t->coverage('d-fill', 'cb'))[0], "0-$size", 'one range, exactly 100 %');

# ---- real clients are untouched ---------------------------------------------------------

my $ar = $t->make_package('ar16', files => [ 'fw.bin' => 16 << 20 ]);
my ($arc, $aout, $aerr) = $t->aria2c($ar, 'd-aria16', 16, $t->dir . '/aria');
is($arc, 0, 'aria2c -x16 -s16 finished and checked the sha-256') or diag("$aout$aerr");
ok($t->wait_for(sub { (($t->coverage('d-aria16', 'ar16'))[1] // 0) == 16 << 20 }, 10),
   'aria2c -x16: exactly 100 %');
is(($t->coverage('d-aria16', 'ar16'))[0], '0-' . (16 << 20), 'one range');

$out = $t->dir . '/resume.bin';
($rc) = $t->client(20, 'curl', '-s', '-o', $out, '-r', '0-99999', $t->base . $t->signed_link('cb', 'd-curl'));
($rc) = $t->client(20, 'curl', '-s', '-C', '-', '-o', $out, $t->base . $t->signed_link('cb', 'd-curl'));
is($rc, 0, 'curl -C - resumed');
is(sha256_hex(OtaTest::read_file($out)), $pkg->{files}[0]{sign}, 'digest matches');
ok($t->wait_for(sub { (($t->coverage('d-curl', 'cb'))[1] // 0) == $size }, 5),
   'curl -C -: exactly 100 %');

$t->stop;
done_testing;
