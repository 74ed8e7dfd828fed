# Server-side deltas (docs/delta.md): otactl package diff makes a diff
# package of two full packages of one module with zstd's patch-from; the
# zstd command line applies it to the old file and gives the new one byte
# for byte; it is stored, digested and signed like any package, served by
# nginx with a signed link, and its target names it for devices at the old
# version (its diff index).  Every refusal (a delta not smaller than the configured fraction,
# unknown or unfit packages, the same diff twice) with a one-line reason
# and nothing changed.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use lib 't/lib';
use OtaTest;

# through the admin API (make test-api) the worker makes the deltas
my $t = OtaTest->new(worker => $ENV{OTA_OTACTL_API} ? 1 : 0);
my $dir = $t->dir;
my $store = $t->store;

sub otactl { $t->otactl(@_) }

sub refused {
    my ($why, $name, @args) = @_;
    $t->otactl_refused($why, $name, \@args);
}

# an old firmware and a new one that shares most of it: a few changed
# stretches, an inserted block, the tail moved (what a rebuild does)
srand(21);
my $old = join '', map { chr(int rand 256) } 1 .. 300_000;
my $new = substr($old, 0, 100_000) . ('patch' x 2000) . substr($old, 100_000, 150_000)
        . join('', map { chr(int rand 256) } 1 .. 5000) . substr($old, 250_000);
substr($new, 50_000, 16) = 'changed-bytes-16';
OtaTest::write_file("$dir/fw-1.bin", $old);
OtaTest::write_file("$dir/fw-2.bin", $new);

otactl(qw(device add d-1 --product p-1));
otactl(qw(module add MCU --product p-1));
my @add = qw(--product p-1 --module MCU --name fw);
my ($rc, $out, $err) = otactl('package', 'add', "$dir/fw-1.bin", @add, '--version', '1.0.0');
is($rc, 0, 'the old full package') or diag($err);
chomp(my $p1 = $out);
($rc, $out, $err) = otactl('package', 'add', "$dir/fw-2.bin", @add, '--version', '1.1.0',
                           '--ext', 'channel=beta');
chomp(my $p2 = $out);
otactl('key', 'gen', '--out', "$dir/k");

# ---- the delta ----------------------------------------------------------------------

($rc, $out, $err) = otactl('package', 'diff', '--from', $p1, '--to', $p2,
                           '--sign-key', "$dir/k/ota-sign.key");
is($rc, 0, 'package diff') or diag($err);
chomp(my $d = $out);
like($err, qr/^otactl: delta of $p2 from $p1: (\d+) bytes, 0\.\d{3} of the full file's 315000\n\z/,
     'says the delta\'s size and its fraction of the full file');
my $rec = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $d));
is($rec->{type}, 'diff', 'a diff package');
is($rec->{from}, '1.0.0', '  from the old version');
is($rec->{version}, '1.1.0', '  to the new one');
is($rec->{base}, $p1, '  made from the old package');
is($rec->{target}, $p2, '  giving the new one');
is($rec->{state}, 'ready', '  ready');
is_deeply(decode_json($rec->{ext}), { channel => 'beta' }, '  with the target\'s custom data');
my $files = decode_json($rec->{files});
is($files->[0]{name}, 'fw-2.bin.zst', 'its file: the new file\'s name with .zst');
my $delta = OtaTest::read_file("$store/$d/fw-2.bin.zst");
is(length $delta, $rec->{size}, 'its size in the record');
is($files->[0]{sign}, sha256_hex($delta), 'digested like any package');
ok(length($delta) < 0.2 * length($new), 'much smaller than the full file ('
   . length($delta) . ' of ' . length($new) . ')');
is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', $p2), "1.0.0"), $d,
   'the target names its diff for devices at 1.0.0');
($rc, $out, $err) = otactl('package', 'verify', $d, '--pubkey', "$dir/k/ota-sign.pub");
is($rc, 0, 'signed: package verify') or diag($err);
is(scalar(() = glob("$store/.diff-*")), 0, 'no work files left in the store');

# what a device does (docs/delta.md): download with the signed link, apply
my $url = $t->base . $t->signed_link($d, 'd-1');
($rc, undef, $err) = $t->run_cmd({}, 'curl', '-sf', '-o', "$dir/got.zst", $url);
is($rc, 0, 'the diff is downloaded with its signed link') or diag($err);
is(sha256_hex(OtaTest::read_file("$dir/got.zst")), $files->[0]{sign}, '  whole');
($rc, undef, $err) = $t->run_cmd({}, 'zstd', '-q', '-d', "--patch-from=$dir/fw-1.bin",
                                 "$dir/got.zst", '-o', "$dir/patched.bin");
is($rc, 0, 'zstd -d --patch-from applies it') or diag($err);
ok(OtaTest::read_file("$dir/patched.bin") eq $new, '  and gives the new file byte for byte');

# ---- refusals -----------------------------------------------------------------------

refused(qr/already has a diff from 1\.0\.0 to 1\.1\.0 \(package $d\)/, 'the same diff twice',
        'package', 'diff', '--from', $p1, '--to', $p2);
refused(qr/no package nope \(--from\)/, 'an unknown package', 'package', 'diff', '--from', 'nope',
        '--to', $p2);
refused(qr/is a diff: deltas are made between full packages/, 'a diff as --to',
        'package', 'diff', '--from', $p1, '--to', $d);
refused(qr/is version 1\.1\.0, not below --to $p1/, 'the versions the wrong way round',
        'package', 'diff', '--from', $p2, '--to', $p1);
refused(qr/package diff needs --from/, 'no --to', 'package', 'diff', '--from', $p1);
refused(qr/invalid --max-ratio/, 'a bad --max-ratio', 'package', 'diff', '--from', $p1,
        '--to', $p2, '--max-ratio', '1.5');

OtaTest::write_file("$dir/other.bin", join '', map { chr(int rand 256) } 1 .. 60_000);
($rc, $out) = otactl('package', 'add', "$dir/other.bin", qw(--product p-1 --module default
                     --name o --version 2.0.0));
chomp(my $po = $out);
refused(qr/are not of one module/, 'packages of two modules', 'package', 'diff',
        '--from', $p1, '--to', $po);

# a new file unlike the old: the delta would not pay
OtaTest::write_file("$dir/fw-3.bin", join '', map { chr(int rand 256) } 1 .. 50_000);
($rc, $out) = otactl('package', 'add', "$dir/fw-3.bin", @add, '--version', '1.2.0');
chomp(my $p3 = $out);
# (through the API the worker refuses it: its job is on the stream, all
# else as it was)
$t->otactl_refused(qr/is \d+ bytes, 1\.0\d\d of the full file's 50000 \(limit 0\.900: --max-ratio or delta_max_ratio\): devices are better served the full package/,
        'a delta that is not smaller than 0.9 of the full file', ['package', 'diff',
        '--from', $p1, '--to', $p3],
        skip => [$ENV{OTA_OTACTL_API} ? OtaTest::key('OTA_STREAM_JOBS') : ()]);
OtaTest::write_file("$dir/otactl.conf", "delta_max_ratio 0.05\n");
refused(qr/\(limit 0\.050: --max-ratio or delta_max_ratio\)/,
        'over delta_max_ratio of the config file', '--config', "$dir/otactl.conf",
        'package', 'diff', '--from', $p2, '--to', $p3);
OtaTest::write_file("$dir/a.bin", 'a' x 1000);
OtaTest::write_file("$dir/b.bin", 'b' x 1000);
($rc, $out) = otactl('package', 'add', "$dir/a.bin", "$dir/b.bin", @add, '--version', '1.3.0');
chomp(my $pm = $out);
refused(qr/has 2 files: package diff takes packages of one file/, 'a package of two files',
        'package', 'diff', '--from', $p1, '--to', $pm);

# a product that requires signatures refuses an unsigned diff as any package
otactl(qw(product set p-1 --require-signed));
OtaTest::write_file("$dir/fw-4.bin", OtaTest::read_file("$dir/fw-3.bin") . 'tail' x 10);
($rc, $out, $err) = otactl('package', 'add', "$dir/fw-4.bin", @add, '--version', '1.4.0',
                           '--sign-key', "$dir/k/ota-sign.key");
chomp(my $p4 = $out);
refused(qr/requires signed packages/, 'an unsigned diff of a product that requires signatures',
        'package', 'diff', '--from', $p3, '--to', $p4);
($rc, $out, $err) = otactl('package', 'diff', '--from', $p3, '--to', $p4,
                           '--sign-key', "$dir/k/ota-sign.key");
is($rc, 0, '  and a signed one is made') or diag($err);

$t->stop;
done_testing();
