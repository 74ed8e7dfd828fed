# The offer follows the device (issue 21, docs/delta.md): an upgrade batch
# of a full package offers each device the diff from the version it
# reported when there is one (with the full package as "fallback" in the
# same answer), else the full package.  A fleet on two old versions: the
# devices at 1.0.0 (a diff to 1.2.0 exists) get the diff, the one at 1.1.0
# (no diff) and the one that never reported get the full package; a diff
# that is not ready is not offered.  Each device downloads what it was
# offered with curl in range pieces, checks it (the diff applied with
# zstd --patch-from gives the new file byte for byte), reports the new
# version; progress reaches 100 % of the package it downloaded, the batch
# succeeds, and the bytes saved are the full size less the diff's for each
# device that upgraded with the diff.  A device that cannot apply the diff
# downloads the fallback instead: its progress follows the full package
# from then on (back below 100 %), and it saves nothing.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(worker => 1);
ok($t->wait_nginx_redis, 'nginx connected to Redis');
my $dir = $t->dir;

sub otactl { $t->otactl(@_) }
sub admin {
    my $r = $t->http(GET => "/ota/admin/$_[0]",
                     headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" });
    return $r->{json};
}

# three firmwares: 1.2.0 is 1.0.0 with a few changes (a good delta), 1.1.0
# another build (no diff made from it)
srand(43);   # (the delta is small: 70 bytes or so, downloaded in three pieces)
my $v100 = join '', map { chr(int rand 256) } 1 .. 200_000;
my $v110 = join '', map { chr(int rand 256) } 1 .. 200_000;
my $v120 = substr($v100, 0, 60_000) . ('new code' x 500) . substr($v100, 60_000);
substr($v120, 150_000, 10) = 'patched-10';
OtaTest::write_file("$dir/fw-1.0.0.bin", $v100);
OtaTest::write_file("$dir/fw-1.1.0.bin", $v110);
OtaTest::write_file("$dir/fw-1.2.0.bin", $v120);

my @at100 = qw(a-1 a-2 f-1);        # f-1 cannot apply the diff
my %ver = ((map { $_ => '1.0.0' } @at100), 'b-1' => '1.1.0', 'c-1' => undef);
my @devs = sort keys %ver;
my %secret;
for my $d (@devs) {
    my ($rc, $out, $err) = otactl('device', 'add', $d, '--product', 'fl');
    ($secret{$d}) = $out =~ /([0-9a-f]{64})/ or diag($err);
}
otactl(qw(module add MCU --product fl));
my %pkg;
for my $v (qw(1.0.0 1.1.0 1.2.0)) {
    my ($rc, $out, $err) = otactl('package', 'add', "$dir/fw-$v.bin", qw(--product fl
                                  --module MCU --name fw --version), $v);
    is($rc, 0, "full package $v") or diag($err);
    chomp($pkg{$v} = $out);
}
my ($rc, $out, $err) = otactl('package', 'diff', '--from', $pkg{'1.0.0'}, '--to', $pkg{'1.2.0'});
is($rc, 0, 'the diff 1.0.0 -> 1.2.0') or diag($err);
chomp(my $diff = $out);
my $drec = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $diff));
my $dsize = $drec->{size};
my $fsize = length $v120;
ok($dsize > 0 && $dsize < $fsize / 4, "the diff is small ($dsize of $fsize)");
is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', $pkg{'1.2.0'}), '1.0.0'), $diff,
   'the full package\'s index names its diff from 1.0.0');
ok(!$t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', $pkg{'1.2.0'}), '1.1.0'),
   '  and none from 1.1.0');

# a diff added by hand before its full package: the full one picks it up
OtaTest::write_file("$dir/hand.bin", 'z' x 500);
($rc, $out, $err) = otactl('package', 'add', "$dir/hand.bin", qw(--product fl --module MCU
                           --name hand --version 1.3.0 --type diff --from 1.2.0));
is($rc, 0, 'a diff 1.2.0 -> 1.3.0 added by hand') or diag($err);
chomp(my $hand = $out);
OtaTest::write_file("$dir/fw-1.3.0.bin", 'y' x 700);
($rc, $out) = otactl('package', 'add', "$dir/fw-1.3.0.bin", qw(--product fl --module MCU
                     --name fw --version 1.3.0));
chomp(my $p130 = $out);
is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', $p130), '1.2.0'), $hand,
   '  the full 1.3.0 added after it is indexed with it');

# ---- the devices report their versions ------------------------------------------

my %tok;
for my $d (@devs) {
    my $ts = int(time * 1000);
    my $r = $t->http(POST => '/ota/v1/auth', json => { product => 'fl', device => $d,
        timestamp => "$ts", sign => hmac_sha256_hex("device${d}productfltimestamp$ts", $secret{$d}) });
    $tok{$d} = $r->{json}{token};
    next unless defined $ver{$d};
    $r = dev($d, POST => '/ota/v1/inform', { module => 'MCU', version => $ver{$d} });
    is($r->{status}, 200, "$d reports $ver{$d}");
}
ok($t->wait_for(sub { $t->drained }, 10), 'the reports are applied');

sub dev {
    my ($d, $method, $path, $body) = @_;
    return $t->http($method, $path, headers => { Authorization => "Bearer $tok{$d}" },
                    (defined $body ? (json => $body) : ()));
}

($rc, $out, $err) = otactl('batch', 'create', '--package', $pkg{'1.2.0'},
                           qw(--type upgrade --name to-1.2 --wait 10));
is($rc, 0, 'an upgrade batch of the full 1.2.0') or diag($err);
chomp(my $batch = $out);
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', $batch), 'total'), 5, '  five devices');

# ---- what each device is offered -------------------------------------------------

my %offer;
sub upgrade {
    my ($d) = @_;
    my $r = dev($d, GET => '/ota/v1/upgrade?module=MCU');
    is($r->{status}, 200, "$d: upgrade answered");
    return $r->{json} // {};
}

# a diff that is not ready (it must be verified first) is not offered
my $dk = OtaTest::key('OTA_KEY_PACKAGE', $diff);
$t->redis(HSET => $dk, state => 'unverified');
my $o = upgrade('a-2');
is("$o->{package} $o->{type}", "$pkg{'1.2.0'} full", 'a diff not ready: a-2 gets the full package');
ok(!exists $o->{fallback}, '  with no fallback');
$t->redis(HSET => $dk, state => 'ready');

for my $d (@at100) {
    $o = $offer{$d} = upgrade($d);
    is("$o->{package} $o->{type} $o->{isDiff}", "$diff diff 1", "$d at 1.0.0: the diff");
    is($o->{from}, '1.0.0', '  from its version');
    is($o->{version}, '1.2.0', '  to the batch\'s target');
    is($o->{size}, $dsize, '  its size');
    is($o->{sign}, $drec->{sign}, '  its digest');
    like($o->{url}, qr{/packages/\Q$diff\E\?device=\Q$d\E&}, '  its signed link');
    my $fb = $o->{fallback} // {};
    is("$fb->{package} $fb->{type}", "$pkg{'1.2.0'} full", '  the full package as fallback');
    is($fb->{size}, $fsize, '  fallback size');
    is($fb->{sign}, sha256_hex($v120), '  fallback sign');
    like($fb->{url} // '', qr{/packages/\Q$pkg{'1.2.0'}\E\?device=\Q$d\E&}, '  fallback link');
}
for my $d (qw(b-1 c-1)) {
    $o = $offer{$d} = upgrade($d);
    is("$o->{package} $o->{type} $o->{isDiff}", "$pkg{'1.2.0'} full 0",
       "$d (" . ($ver{$d} // 'never reported') . '): the full package');
    ok(!exists $o->{fallback}, '  no fallback');
    is($o->{size}, $fsize, '  its size');
}

# ---- downloads in range pieces ---------------------------------------------------

# curl -r per piece, as a device resuming after interruptions does
sub pieces {
    my ($d, $url, $file, @cuts) = @_;
    unlink $file;
    my $got = '';
    my @b = (0, @cuts);
    for my $i (0 .. $#b) {
        my $range = $b[$i] . '-' . ($i < $#b ? $b[$i + 1] - 1 : '');
        my ($crc, undef, $cerr) = $t->run_cmd({}, 'curl', '-sSf', '-r', $range, '-o',
                                               "$file.part", $url);
        is($crc, 0, "$d: range $range") or diag($cerr);
        $got .= OtaTest::read_file("$file.part");
    }
    OtaTest::write_file($file, $got);
    return $got;
}

sub task_is {
    my ($d, $want, $name) = @_;
    my $got = $t->wait_for(sub {
        my $k = $t->task($d, $batch);
        "$k->{state} $k->{covered}" eq $want ? $want : 0 }, 10);
    my $k = $t->task($d, $batch);
    is("$k->{state} $k->{covered}", $want, $name);
}

for my $d (qw(a-1 a-2)) {
    my $got = pieces($d, $offer{$d}{url}, "$dir/$d.zst", int($dsize / 3),
                     int(2 * $dsize / 3));
    is(sha256_hex($got), $offer{$d}{sign}, "$d: the diff arrived whole");
    ($rc, undef, $err) = $t->run_cmd({}, 'zstd', '-q', '-f', '-d',
                                     "--patch-from=$dir/fw-1.0.0.bin", "$dir/$d.zst",
                                     '-o', "$dir/$d.bin");
    is($rc, 0, "$d: zstd --patch-from applies it") or diag($err);
    ok(OtaTest::read_file("$dir/$d.bin") eq $v120, '  giving 1.2.0 byte for byte');
    task_is($d, "downloaded $dsize", "$d: downloaded once every byte of the diff is counted");
}
for my $d (qw(b-1 c-1)) {
    my $got = pieces($d, $offer{$d}{url}, "$dir/$d.bin", 100_000);
    ok($got eq $v120, "$d: the full package arrived whole");
    task_is($d, "downloaded $fsize", "$d: downloaded at the full package's size");
}

# f-1: the diff whole, then it cannot apply it and takes the fallback
pieces('f-1', $offer{'f-1'}{url}, "$dir/f-1.zst");
task_is('f-1', "downloaded $dsize", 'f-1: the diff downloaded');
is(dev('f-1', POST => '/ota/v1/progress', { module => 'MCU', step => 5,
                                            desc => 'applying the diff' })->{status},
   200, 'f-1: an install step');
task_is('f-1', "installing $dsize", 'f-1: installing the diff');
my $fb = $offer{'f-1'}{fallback}{url};
($rc, undef, $err) = $t->run_cmd({}, 'curl', '-sSf', '-r', '0-49999', '-o', "$dir/f-1.p1", $fb);
is($rc, 0, 'f-1: the first piece of the fallback') or diag($err);
task_is('f-1', 'downloading 50000', 'f-1: progress now follows the full package (50000 bytes)');
my $row = (grep { $_->{device} eq 'f-1' } @{ admin("batches/$batch/devices")->{devices} })[0];
is_deeply([ @$row{qw(state covered size)} ], ['downloading', 50000, $fsize],
          '  admin API: downloading 50000 of the full size');
ok($row->{progress} > 24 && $row->{progress} < 26, "  at $row->{progress} %");
is(dev('f-1', GET => '/ota/v1/upgrade?module=MCU')->{json}{package}, $pkg{'1.2.0'},
   '  asking again, it is offered the full package it downloads');
($rc, undef, $err) = $t->run_cmd({}, 'curl', '-sSf', '-r', '50000-', '-o', "$dir/f-1.p2", $fb);
is($rc, 0, 'f-1: the rest of the fallback') or diag($err);
ok(OtaTest::read_file("$dir/f-1.p1") . OtaTest::read_file("$dir/f-1.p2") eq $v120,
   '  the full package arrived whole');
task_is('f-1', "installing $fsize", 'f-1: every byte of the full package: installing');

# ---- the new version everywhere --------------------------------------------------

for my $d (@devs) {
    is(dev($d, POST => '/ota/v1/inform', { module => 'MCU', version => '1.2.0' })->{status},
       200, "$d reports 1.2.0");
}
my $fin = $t->wait_for(sub {
    $t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', $batch), 'state') eq 'finished' }, 15);
ok($fin, 'the batch finished');
my $counts = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
is($counts->{succeeded}, 5, 'five devices succeeded');

my %size = ('a-1' => $dsize, 'a-2' => $dsize, 'f-1' => $fsize, 'b-1' => $fsize,
            'c-1' => $fsize);
my $saved = 2 * ($fsize - $dsize);

my $rows = admin("batches/$batch/devices")->{devices};
is_deeply({ map { $_->{device} => "$_->{state} $_->{covered} $_->{size} $_->{progress}" } @$rows },
          { map { $_ => "succeeded $size{$_} $size{$_} 100" } @devs },
          'admin API: each device at 100 % of the package it downloaded');
is_deeply({ map { $_->{device} => $_->{package} // '' } @$rows },
          { 'a-1' => $diff, 'a-2' => $diff, 'f-1' => '', 'b-1' => '', 'c-1' => '' },
          '  the diff named for the devices that upgraded with it');

my $ab = admin("batches/$batch");
is_deeply([ @$ab{qw(bytes_saved diff_succeeded)} ], [ $saved, 2 ],
          "admin API: $saved bytes saved by 2 devices");
($rc, $out) = otactl('--json', 'batch', 'show', $batch, '--devices');
my $j = eval { decode_json($out) } // {};
is_deeply([ @$j{qw(bytes_saved diff_succeeded)} ], [ $saved, 2 ], 'otactl --json: the same');
is_deeply({ map { $_->{device} => "$_->{covered} $_->{size} $_->{progress}" } @{ $j->{devices} } },
          { map { $_ => "$size{$_} $size{$_} 100" } @devs }, 'otactl --json: 100 % each');
($rc, $out) = otactl('batch', 'show', $batch);
like($out, qr/^deltas:\s+$saved bytes saved by 2 devices that upgraded with a diff$/m,
     'otactl batch show: the bytes saved');

# a replay of the whole stream changes nothing
my $before = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH', $batch));
my $all = $t->redis(XRANGE => OtaTest::key('OTA_STREAM_EVENTS'), '-', '+');
$t->redis(XADD => OtaTest::key('OTA_STREAM_EVENTS'), '*', @{ $_->[1] }) for @$all;
ok($t->wait_for(sub { $t->drained }, 10), 'the stream replayed');
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', $batch), 'bytes_saved'), $before->{bytes_saved},
   '  bytes saved counted once');

$t->stop;
done_testing();
