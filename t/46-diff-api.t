# POST packages/<to>/diffs (docs/admin-api.md, docs/delta.md): the module
# checks the pair with otactl package diff's checks and queues a
# package_diff job; the worker makes the delta (otactl in direct mode, as
# a child) and records it.  Every refusal a 4xx with its reason, nothing
# changed and no file in the store; a viewer is refused; 503 when no
# worker answers; 201 with the new package; 202 for a long delta, then
# the package; the delta applied to the old file gives the new one byte
# for byte.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP qw(decode_json);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $VIEWER = 'viewer-token-0123456789';
my $t = OtaTest->new(admin_extra => "ota_admin_token console:$VIEWER role=viewer;");
ok($t->wait_nginx_redis, 'nginx workers connected to Redis');
my $dir = $t->dir;
my $store = $t->store;
my $AUDIT = OtaTest::key('OTA_STREAM_AUDIT');

sub otactl { my @r = $t->otactl(@_); die "otactl @_: $r[2]" if $r[0]; chomp $r[1]; $r[1] }

sub api {
    my ($path, %o) = @_;
    my $tok = $o{token} // $OtaTest::ADMIN_TOKEN;
    return $t->http('POST', "/ota/admin/$path", headers => { Authorization => "Bearer $tok" },
                    (exists $o{json} ? (json => $o{json}) : ()),
                    (exists $o{body} ? (body => $o{body}) : ()), timeout => 60);
}

sub snap { $t->state_snapshot(skip => [$AUDIT, @_]) }
sub npkg { scalar grep { /^ota:pkg:\{[^}]+\}$/ } @{ $t->redis(KEYS => 'ota:pkg:*') } }

sub refused {
    my ($path, $body, $status, $re, $name, %o) = @_;
    my @skip = @{ delete $o{skip} // [] };
    my $before = snap(@skip);
    my $r = api($path, (ref $body ? (json => $body) : defined $body ? (body => $body) : ()), %o);
    is($r->{status}, $status, "$name: $status");
    like($r->{json}{message} // '', $re, "$name: the reason") or diag($r->{content});
    is(snap(@skip), $before, "$name: nothing changed");
    is(scalar(() = glob("$store/.diff-*")), 0, "$name: no work file in the store");
    return $r;
}

srand(46);
my $old = join '', map { chr(int rand 256) } 1 .. 200_000;
my $new = substr($old, 0, 80_000) . ('patch' x 1000) . substr($old, 80_000);
substr($new, 10_000, 8) = 'changed!';
OtaTest::write_file("$dir/fw-1.bin", $old);
OtaTest::write_file("$dir/fw-2.bin", $new);
OtaTest::write_file("$dir/fw-3.bin", $new . 'three');

otactl(qw(module add MCU --product p-1));
my @add = qw(--product p-1 --module MCU --name fw);
my $p1 = otactl('package', 'add', "$dir/fw-1.bin", @add, '--version', '1.0.0');
my $p2 = otactl('package', 'add', "$dir/fw-2.bin", @add, '--version', '1.1.0');
my $p3 = otactl('package', 'add', "$dir/fw-3.bin", @add, '--version', '1.2.0');
my $other = otactl('package', 'add', "$dir/fw-1.bin", qw(--product p-1 --module default --name o --version 2.0.0));
otactl(qw(module add MCU --product p-s));
my $s1 = otactl('package', 'add', "$dir/fw-1.bin", qw(--product p-s --module MCU --name s --version 1.0.0));
my $s2 = otactl('package', 'add', "$dir/fw-2.bin", qw(--product p-s --module MCU --name s --version 1.1.0));
otactl(qw(product set p-s --require-signed));

# ---- no worker: 503 after ?wait=, and the job is never done ---------------------

my $n0 = npkg();
my $r = api("packages/$p2/diffs?wait=1", json => { from => $p1 });
is($r->{status}, 503, 'no worker: 503');
like($r->{json}{message} // '', qr/no ota-worker answered within 1 s/, '  says so');

$t->start_worker;
ok($t->wait_for(sub { $t->redis(HLEN => OtaTest::key('OTA_KEY_WORKERS')) }), 'the worker is up');
ok($t->wait_for(sub { $t->drained }), 'the expired job is read and refused');
is(npkg(), $n0, 'the expired job made no package');
is(scalar(() = glob("$store/.diff-*")), 0, '  and left no file');

# ---- refusals ---------------------------------------------------------------------

refused("packages/$p2/diffs", { from => $p1 }, 403, qr/viewer.*operator token/, 'a viewer',
        token => $VIEWER);
refused("packages/$p2/diffs", {}, 400, qr/"from"/, 'no from');
refused("packages/$p2/diffs", '{"from":', 400, qr/JSON|json/, 'a body that is not JSON');
refused("packages/$p2/diffs", { from => $p1, colour => 'red' }, 400, qr/colour/, 'an unknown field');
refused("packages/$p2/diffs", { from => 'a b' }, 400, qr/invalid package id/, 'a bad from id');
refused("packages/$p2/diffs", { from => $p1, level => 20 }, 400, qr/level/, 'level 20');
refused("packages/$p2/diffs", { from => $p1, level => 'x' }, 400, qr/level/, 'level x');
refused("packages/$p2/diffs", { from => $p1, max_ratio => 0 }, 400, qr/ratio/, 'max_ratio 0');
refused("packages/$p2/diffs", { from => $p1, max_ratio => 1.5 }, 400, qr/ratio/, 'max_ratio 1.5');
refused("packages/$p2/diffs", { from => $p1, name => '' }, 400, qr/name/, 'an empty name');
refused("packages/$p2/diffs?wait=0", { from => $p1 }, 400, qr/wait/, 'wait=0');
refused("packages/a%20b/diffs", { from => $p1 }, 400, qr/not a valid package id/, 'a bad to id');
refused("packages/nope/diffs", { from => $p1 }, 404, qr/no package nope/, 'an unknown to');
refused("packages/$p2/diffs", { from => 'nope' }, 404, qr/no package nope/, 'an unknown from');
refused("packages/$p1/diffs", { from => $p2 }, 409, qr/older|below|newer|from/, 'from newer than to');
refused("packages/$p2/diffs", { from => $p2 }, 409, qr/./, 'a package against itself');
refused("packages/$other/diffs", { from => $p1 }, 409, qr/module/, 'another module');
refused("packages/$s2/diffs", { from => $s1 }, 409, qr/requires signed packages/,
        'a product that requires signed packages');
refused("packages/$p2/diffs", { from => $p1, max_ratio => 0.0001 }, 409,
        qr/delta|ratio|fraction|smaller/, 'a delta over max_ratio (the worker refuses it)',
        # the job went on the stream: all else is as it was
        skip => [OtaTest::key('OTA_STREAM_JOBS')]);

# ---- 201 ---------------------------------------------------------------------------

$r = api("packages/$p2/diffs", json => { from => $p1, level => 3 });
is($r->{status}, 201, '201: the diff is made') or diag($r->{content});
my $d = $r->{json}{id} // '';
ok(length $d, '  names the new package');
is($r->{json}{from}, $p1, '  from');
is($r->{json}{to}, $p2, '  to');
is($r->{json}{full_size}, length $new, '  the full file\'s size');
my $rec = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $d));
is($rec->{type}, 'diff', 'a diff package');
is($rec->{base}, $p1, '  made from the old package');
is($rec->{target}, $p2, '  giving the new one');
is($rec->{state}, 'ready', '  ready');
is($r->{json}{size}, $rec->{size}, '  its size as recorded');
my $delta = OtaTest::read_file("$store/$d/fw-2.bin.zst");
is(length $delta, $rec->{size}, 'the delta in the store');
is(decode_json($rec->{files})->[0]{sign}, sha256_hex($delta), '  digested');
ok(length($delta) < 0.2 * length($new), '  much smaller than the full file');
is(scalar(() = glob("$store/.diff-*")), 0, 'no work files left in the store');

SKIP: {
    skip 'no zstd command', 1 unless -x '/usr/bin/zstd';
    system('zstd', '-q', '-d', '--long=31', "--patch-from=$dir/fw-1.bin",
           "$store/$d/fw-2.bin.zst", '-o', "$dir/applied.bin") == 0 or diag('zstd failed');
    ok(-f "$dir/applied.bin" && OtaTest::read_file("$dir/applied.bin") eq $new,
       'the delta applied to the old file gives the new one byte for byte');
}

refused("packages/$p2/diffs", { from => $p1 }, 409, qr/already has a diff from 1\.0\.0 to 1\.1\.0/,
        'the same diff twice');

# ---- otactl --api package diff: direct mode's output and exit codes --------------

sub api_otactl {
    return $t->run_cmd({ OTA_API => $t->base . '/ota/admin', OTA_ADMIN_TOKEN => $OtaTest::ADMIN_TOKEN,
                         OTA_REDIS => '127.0.0.1:1', OTA_STORE => "$dir/store-not-mounted" },
                       "$OtaTest::BUILD/otactl", @_);
}

my ($rc, $out, $err) = api_otactl('package', 'diff', '--from', $p2, '--to', $p3);
is($rc, 0, 'otactl --api package diff') or diag($err);
chomp(my $d3 = $out);
is($d3, $t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'), 'MCU:1.1.0>1.2.0'),
   '  prints the new package');
like($err, qr/^otactl: delta of $p3 from $p2: (\d+) bytes, 0\.\d{3} of the full file's 205005\n\z/,
     '  and says its size as direct mode does');
($rc, $out, $err) = api_otactl('package', 'diff', '--from', 'nope', '--to', $p3);
is($rc, 1, 'otactl --api: an unknown package, exit 1');
like($err, qr/^otactl: no package nope \(--from\)\n\z/, '  in direct mode\'s words');
# --sign-key goes through the API too (t/47); a key that is not there is
# refused before anything is asked for
my $nk = npkg();
($rc, $out, $err) = api_otactl('package', 'diff', '--from', $p1, '--to', $p3, '--sign-key', "$dir/k");
is($rc, 1, 'otactl --api: --sign-key with no key file, exit 1');
like($err, qr/\Q$dir\E\/k/, '  naming the file');
is(npkg(), $nk, '  nothing made');

# ---- 202, then the package ------------------------------------------------------

# a file large enough that level 19 takes longer than the 1 s of ?wait=1
my $big_old = join '', map { pack 'N*', map { int rand 4294967296 } 1 .. 1024 } 1 .. 4096;
my $big_new = substr($big_old, 0, 4_000_000) . 'x' x 1000 . substr($big_old, 4_000_000);
OtaTest::write_file("$dir/big-1.bin", $big_old);
OtaTest::write_file("$dir/big-2.bin", $big_new);
otactl(qw(module add B --product p-1));
my $b1 = otactl('package', 'add', "$dir/big-1.bin", qw(--product p-1 --module B --name big --version 1.0.0));
my $b2 = otactl('package', 'add', "$dir/big-2.bin", qw(--product p-1 --module B --name big --version 1.1.0));
$r = api("packages/$b2/diffs?wait=1", json => { from => $b1, level => 19 });
SKIP: {
    skip 'the delta was quicker than 1 s on this machine', 4 if $r->{status} == 201;
    is($r->{status}, 202, '202: the delta takes longer') or diag($r->{content});
    is($r->{json}{state}, 'running', '  running');
    my $job = $r->{json}{job} // '';
    like($job, qr/^[0-9a-f]{32}$/, '  names the job');
    ok($t->wait_for(sub {
        ($t->redis(HGET => OtaTest::key('OTA_KEY_JOB', $job), 'state') // '') eq 'done' }, 120),
       'the job finishes');
}
# otactl --api --wait 1 on a long delta: exit 3 naming the job
OtaTest::write_file("$dir/big-3.bin", $big_new . 'three' x 100);
my $b3 = otactl('package', 'add', "$dir/big-3.bin", qw(--product p-1 --module B --name big --version 1.2.0));
($rc, $out, $err) = api_otactl('package', 'diff', '--from', $b2, '--to', $b3, '--level', 19,
                               '--wait', 1);
SKIP: {
    skip 'the delta was quicker than 1 s on this machine', 3 if $rc == 0;
    is($rc, 3, 'otactl --api --wait 1 on a long delta: exit 3');
    like($err, qr/still being made after 1 s \(job [0-9a-f]{32}\)/, '  naming the job');
    is($out, '', '  nothing on stdout');
}
ok($t->wait_for(sub { $t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'),
                                'B:1.1.0>1.2.0') }, 120), '  and the worker finishes it');
my $bd = $t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'), 'B:1.0.0>1.1.0');
ok($bd, 'the large diff is recorded');
is(scalar(() = glob("$store/.diff-*")), 0, 'no work files left in the store');

# ---- a worker killed mid-delta: its child dies with it, the job is taken
# over and made once ---------------------------------------------------------------

OtaTest::write_file("$dir/big-4.bin", $big_new . 'four' x 100);
my $b4 = otactl('package', 'add', "$dir/big-4.bin", qw(--product p-1 --module B --name big --version 1.3.0));
my $npk = npkg();
$r = api("packages/$b4/diffs?wait=1", json => { from => $b3, level => 19 });
SKIP: {
    skip 'the delta was quicker than 1 s on this machine', 9 if $r->{status} == 201;
    is($r->{status}, 202, 'a long delta: 202') or diag($r->{content});
    my $job = $r->{json}{job} // '';
    my $jk = OtaTest::key('OTA_KEY_JOB', $job);
    is($t->redis(HGET => $jk, 'state'), 'running', '  running');
    ok(-d "$store/.diff-$job", '  in its work directory');
    my $child = sub {
        for my $c (glob '/proc/[0-9]*/cmdline') {
            my $cl = eval { OtaTest::read_file($c) } // next;
            return 1 if $cl =~ /\0diff\0--from\0\Q$b3\E\0--to\0\Q$b4\E\0/;
        }
        return 0;
    };
    ok($child->(), '  otactl runs as the worker\'s child');
    $t->stop_worker(signal => 'KILL');
    ok($t->wait_for(sub { !$child->() }, 10), 'the worker killed: its child dies with it');
    is($t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'), 'B:1.2.0>1.3.0'), undef,
       '  nothing recorded');
    $t->start_worker('--claim-idle', 500);
    ok($t->wait_for(sub { ($t->redis(HGET => $jk, 'state') // '') eq 'done' }, 120),
       'another worker takes the job over and finishes it');
    my $bd4 = $t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'), 'B:1.2.0>1.3.0');
    is($t->redis(HGET => $jk, 'package'), $bd4, '  the diff recorded');
    is(npkg(), $npk + 1, '  once');
}
ok($t->wait_for(sub { $t->drained }), 'every job acknowledged');
is(scalar(() = glob("$store/.diff-*")), 0, 'no work files left in the store');

done_testing;
