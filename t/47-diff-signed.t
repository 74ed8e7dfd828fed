# Signed deltas through the admin API (issue 19): POST packages/<to>/diffs
# with "sign_later": true makes the worker record the delta in state
# unsigned with its manifest (otactl's direct diff, OTA_DIFF_SIGN_LATER);
# the admin signs the served manifest where the key is (POST
# packages/<id>/signature), and otactl --api package diff --sign-key does
# all of it with direct mode's output.  Without sign_later a product that
# requires signatures is refused (409) and nothing changes; an unsigned
# diff cannot go into a batch; a bad signature is 422 and changes nothing.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP qw(decode_json);
use MIME::Base64 qw(decode_base64 encode_base64);
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(worker => 1);
ok($t->wait_nginx_redis, 'nginx workers connected to Redis');
ok($t->wait_for(sub { $t->redis(HLEN => OtaTest::key('OTA_KEY_WORKERS')) }), 'the worker is up');
my $dir = $t->dir;
my $store = $t->store;
my $AUDIT = OtaTest::key('OTA_STREAM_AUDIT');
my $JOBS = OtaTest::key('OTA_STREAM_JOBS');

# direct mode's otactl, whatever OTA_OTACTL_API says
sub direct { local $ENV{OTA_OTACTL_API}; return $t->otactl(@_) }
sub otactl { my @r = direct(@_); die "otactl @_: $r[2]" if $r[0]; chomp $r[1]; $r[1] }
sub viaapi {
    return $t->run_cmd({ OTA_API => $t->base . '/ota/admin', OTA_ADMIN_TOKEN => $OtaTest::ADMIN_TOKEN,
                         OTA_REDIS => '127.0.0.1:1', OTA_STORE => "$dir/store-not-mounted" },
                       "$OtaTest::BUILD/otactl", @_);
}
sub api {
    my ($method, $path, %o) = @_;
    return $t->http($method, "/ota/admin/$path",
                    headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" },
                    (exists $o{json} ? (json => $o{json}) : ()), timeout => 60);
}
sub snap { $t->state_snapshot(skip => [$AUDIT, @_]) }
sub sign_bytes {
    my ($bytes, $keyfile) = @_;
    OtaTest::write_file("$dir/tosign.bin", $bytes);
    my ($rc, undef, $e) = $t->run_cmd({}, 'openssl', 'pkeyutl', '-sign', '-inkey', $keyfile,
                                      '-rawin', '-in', "$dir/tosign.bin", '-out', "$dir/sig.bin");
    die "openssl: $e" if $rc;
    return encode_base64(OtaTest::read_file("$dir/sig.bin"), '');
}

otactl('key', 'gen', '--out', "$dir/k1");
otactl('key', 'gen', '--out', "$dir/k2");

srand(47);
my $old = join '', map { chr(int rand 256) } 1 .. 200_000;
my $new = substr($old, 0, 80_000) . ('patch' x 1000) . substr($old, 80_000);
OtaTest::write_file("$dir/fw-1.bin", $old);
OtaTest::write_file("$dir/fw-2.bin", $new);
OtaTest::write_file("$dir/fw-3.bin", $new . 'three');

# p-s (through the API) and its twin p-t (direct mode), both requiring key 1
my (%pk);
for my $p ('p-s', 'p-t') {
    otactl('module', 'add', 'MCU', '--product', $p);
    for my $v (1 .. 3) {
        $pk{$p}[$v] = otactl('package', 'add', "$dir/fw-$v.bin", '--product', $p, qw(--module MCU
                             --name fw --version), "1.$v.0");
    }
    otactl('product', 'set', $p, '--require-signed', '--pubkey', "$dir/k1/ota-sign.pub");
}
my ($s1, $s2, $s3) = @{ $pk{'p-s'} }[1 .. 3];

# ---- without sign_later: 409, nothing changed -------------------------------------

for my $c ([{ from => $s1 }, 409, qr/requires signed packages.*"sign_later": true/, 'no sign_later'],
           [{ from => $s1, sign_later => JSON::PP::false }, 409, qr/sign_later/, 'sign_later false'],
           [{ from => $s1, sign_later => 'yes' }, 400, qr/sign_later/, 'sign_later not a boolean']) {
    my ($body, $st, $re, $name) = @$c;
    my $before = snap();
    my $r = api(POST => "packages/$s2/diffs", json => $body);
    is($r->{status}, $st, "$name: $st");
    like($r->{json}{message} // '', $re, "$name: the reason") or diag($r->{content});
    is(snap(), $before, "$name: nothing changed");
    is(scalar(() = glob("$store/.diff-*")), 0, "$name: no work file");
}

# ---- sign_later: the unsigned diff and its manifest ---------------------------------

my $r = api(POST => "packages/$s2/diffs", json => { from => $s1, sign_later => JSON::PP::true });
is($r->{status}, 201, 'sign_later: 201') or diag($r->{content});
my $d = $r->{json}{id};
is($d, $t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-s'), 'MCU:1.1.0>1.2.0'),
   '  recorded in its slot');
my $PK = OtaTest::key('OTA_KEY_PACKAGE', $d);
is($t->redis(HGET => $PK, 'state'), 'unsigned', '  state unsigned');
is($t->redis(HGET => $PK, 'sign_then'), 'ready', '  ready once signed');
ok(!defined $t->redis(HGET => $PK, 'signature'), '  no signature');
is(scalar(() = glob("$store/.diff-*")), 0, '  no work file left');
my $delta = OtaTest::read_file("$store/$d/fw-2.bin.zst");

$r = api(GET => "packages/$d/manifest");
is($r->{status}, 200, 'GET its manifest') or diag($r->{content});
is($r->{json}{state}, 'unsigned', '  unsigned');
my $man = decode_base64($r->{json}{manifest});
my $sha = sha256_hex($delta);
like($man, qr/^\{"format":"ota-manifest-1","id":"\Q$d\E","product":"p-s","module":"MCU","version":"1\.2\.0","type":"diff","from":"1\.1\.0","files":\[\{"name":"fw-2\.bin\.zst","size":\d+,"sha256":"$sha"\}\]\}$/,
     '  names the diff, both versions and the delta\'s sha256');

# a batch of the unsigned diff: refused (the request itself is a job)
{
    my $before = snap($JOBS);
    my $b = api(POST => 'batches', json => { package => $d, type => 'upgrade', name => 'too soon' });
    is($b->{status}, 409, 'a batch of the unsigned diff: 409') or diag($b->{content});
    like($b->{json}{message} // '', qr/waits for its signature/, '  the reason');
    is(snap($JOBS), $before, '  nothing changed');
}

# a signature by another key: 422, nothing changed
{
    my $before = snap();
    my $b = api(POST => "packages/$d/signature", json => { sig => sign_bytes($man, "$dir/k2/ota-sign.key") });
    is($b->{status}, 422, 'a bad signature: 422') or diag($b->{content});
    like($b->{json}{message} // '', qr/verif|key/, '  the reason');
    is(snap(), $before, '  nothing changed');
}

$r = api(POST => "packages/$d/signature", json => { sig => sign_bytes($man, "$dir/k1/ota-sign.key") });
is($r->{status}, 200, 'signed: 200') or diag($r->{content});
is($t->redis(HGET => $PK, 'state'), 'ready', '  state ready');
ok(!defined $t->redis(HGET => $PK, 'sign_then'), '  sign_then gone');
my ($rc, $out, $err) = direct('package', 'verify', $d, '--pubkey', "$dir/k1/ota-sign.pub");
is($rc, 0, '  otactl package verify: good') or diag($err);
$r = api(POST => 'batches', json => { package => $d, type => 'upgrade', name => 'signed' });
is($r->{status}, 201, '  a batch of it now: 201') or diag($r->{content});

# ---- otactl --api package diff --sign-key: direct mode's output -------------------

# the wrong key: refused before anything is asked for, in direct mode's words
{
    my $before = snap();
    my ($arc, $aout, $aerr) = viaapi('package', 'diff', '--from', $s2, '--to', $s3,
                                     '--sign-key', "$dir/k2/ota-sign.key");
    my ($drc, $dout, $derr) = direct('package', 'diff', '--from', $s2, '--to', $s3,
                                     '--sign-key', "$dir/k2/ota-sign.key");
    is($arc, 1, 'otactl --api --sign-key with another key: exit 1');
    is($aerr, $derr, '  the words of direct mode') or diag($aerr);
    like($aerr, qr/accepts only key/, '  naming the key');
    is($aout, '', '  nothing on stdout');
    is(snap(), $before, '  nothing changed');
}

my ($arc, $aout, $aerr) = viaapi('package', 'diff', '--from', $s2, '--to', $s3,
                                 '--sign-key', "$dir/k1/ota-sign.key");
is($arc, 0, 'otactl --api package diff --sign-key') or diag($aerr);
my ($t2, $t3) = @{ $pk{'p-t'} }[2, 3];
my ($drc, $dout, $derr) = direct('package', 'diff', '--from', $t2, '--to', $t3,
                                 '--sign-key', "$dir/k1/ota-sign.key");
is($drc, 0, 'direct mode on the twin product') or diag($derr);
chomp(my $ad = $aout);
chomp(my $dd = $dout);
is($ad, $t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-s'), 'MCU:1.2.0>1.3.0'),
   '  prints the new package');
(my $norm = $aout . $aerr) =~ s/p-s/p-t/g;
is($norm, $dout . $derr, '  the same output as direct mode (but for the product)');
like($aerr, qr/^otactl: delta of \Q$s3\E from \Q$s2\E: \d+ bytes, 0\.\d{3} of the full file's 205005\n\z/,
     '  the size line');
for my $id ($ad, $dd) {
    my $k = OtaTest::key('OTA_KEY_PACKAGE', $id);
    is($t->redis(HGET => $k, 'state'), 'ready', "  $id: ready");
    ($rc, $out, $err) = direct('package', 'verify', $id, '--pubkey', "$dir/k1/ota-sign.pub");
    is($rc, 0, "  $id: its signature verifies") or diag($err);
}
is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE', $ad), 'sign_key'),
   $t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE', $dd), 'sign_key'), '  the same key id');

# a rerun after the diff was made but not signed: finishes it
$r = api(POST => "packages/$s3/diffs", json => { from => $s1, sign_later => JSON::PP::true });
is($r->{status}, 201, 'another unsigned diff') or diag($r->{content});
my $d13 = $r->{json}{id};
($arc, $aout, $aerr) = viaapi('package', 'diff', '--from', $s1, '--to', $s3,
                              '--sign-key', "$dir/k1/ota-sign.key");
is($arc, 0, 'otactl --api --sign-key on it: finishes it') or diag($aerr);
is($aout, "$d13\n", '  prints it');
like($aerr, qr/^otactl: delta of \Q$s3\E from \Q$s1\E: \d+ bytes, 0\.\d{3} of the full file's 205005\n\z/,
     '  and its size');
is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE', $d13), 'state'), 'ready', '  ready');
# once signed, the same command is refused as in direct mode: the slot is taken
($arc, $aout, $aerr) = viaapi('package', 'diff', '--from', $s1, '--to', $s3,
                              '--sign-key', "$dir/k1/ota-sign.key");
is($arc, 1, '  a second run: exit 1');
like($aerr, qr/already has a diff from 1\.1\.0 to 1\.3\.0/, '  the slot is taken');

# --json: direct mode's fields
my %p4;
for my $p ('p-s', 'p-t') {
    $p4{$p} = otactl('package', 'add', "$dir/fw-1.bin", '--product', $p, qw(--module MCU --name fw
                     --version 1.4.0 --sign-key), "$dir/k1/ota-sign.key");
}
($arc, $aout, $aerr) = viaapi('--json', 'package', 'diff', '--from', $s3, '--to', $p4{'p-s'},
                              '--max-ratio', 1, '--sign-key', "$dir/k1/ota-sign.key");
is($arc, 0, 'otactl --api --json package diff --sign-key') or diag($aerr);
($drc, $dout, $derr) = direct('--json', 'package', 'diff', '--from', $pk{'p-t'}[3], '--to', $p4{'p-t'},
                              '--max-ratio', 1, '--sign-key', "$dir/k1/ota-sign.key");
is($drc, 0, '  direct mode on the twin') or diag($derr);
($norm = $aout) =~ s/p-s/p-t/g;
is_deeply(decode_json($norm), decode_json($dout), '  the same JSON as direct mode (but for the product)')
    or diag("$aout\n$dout");
is(decode_json($aout)->{state}, 'ready', '  state ready');
is(join(',', sort keys %{ decode_json($aout) }), 'id,sign,sign_key,sign_method,size,state',
   '  with its fields');

ok($t->wait_for(sub { $t->drained }), 'every job acked');
done_testing;
