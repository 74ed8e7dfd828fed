# otactl: devices, modules, packages, links; every bad input is refused with
# a one-line reason and a non-zero exit, and nothing changes.

use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1);
my $store = $t->store;
my $otactl = "$OtaTest::BUILD/otactl";

sub mkfile {
    my ($name, $size) = @_;
    my $p = $t->dir . "/$name";
    open my $fh, '>', $p or die "$p: $!";
    binmode $fh;
    my $s = '';
    $s .= chr(($_ * 7 + 3) % 256) for 0 .. 4095;
    my $left = $size;
    while ($left > 0) {
        my $n = $left < 4096 ? $left : 4096;
        print {$fh} substr($s, 0, $n);
        $left -= $n;
    }
    close $fh;
    return $p;
}

sub slurp { OtaTest::read_file(@_) }

# a fingerprint of everything otactl may change: every key with its
# content, and the package store listing
# the audit stream records refusals too: it is no state a refusal changes
sub snapshot {
    my $keys = $t->redis('KEYS', '*');
    my @parts;
    my $audit = OtaTest::key('OTA_STREAM_AUDIT');
    for my $k (sort { $a cmp $b } grep { $_ ne $audit } @$keys) {
        my $ty = $t->redis('TYPE', $k);
        my $v = $ty eq 'hash' ? join(',', sort @{ $t->redis('HGETALL', $k) })
              : $ty eq 'set'  ? join(',', sort @{ $t->redis('SMEMBERS', $k) })
              : $ty eq 'zset' ? join(',', @{ $t->redis('ZRANGE', $k, 0, -1) })
              : $ty eq 'string' ? $t->redis('GET', $k)
              : $ty eq 'stream' ? $t->stream_newest($k) : '';
        push @parts, "$k=$v";
    }
    my @files = sort map { s/^\Q$store\E//r } glob("$store/* $store/*/* $store/*/.*");
    return join("\n", @parts, @files);
}

# refused: non-zero exit, one line on stderr matching $why, nothing changed
sub refused {
    my ($args, $why, $name, $env) = @_;
    my $before = snapshot();
    my ($rc, $out, $err) = $env
        ? $t->run_cmd({ OTA_REDIS => $t->redis_addr, OTA_STORE => $store,
                        %$env }, $otactl, @$args)
        : $t->otactl(@$args);
    isnt($rc, 0, "refused: $name");
    like($err, $why, "reason: $name") or diag("stderr: $err");
    is(scalar(() = $err =~ /\n/g), 1, "one line: $name") or diag($err);
    is($out, '', "nothing on stdout: $name");
    is(snapshot(), $before, "nothing changed: $name");
}

# ---- devices --------------------------------------------------------------
my ($rc, $out, $err) = $t->otactl(qw(device add d1 --product p1));
is($rc, 0, 'device add') or diag($err);
like($out, qr/^[0-9a-f]{64}\n\z/, 'prints a 64 hex secret');
chomp(my $secret = $out);
my $dev = $t->redis_hash('ota:dev:{d1}');
is($dev->{product}, 'p1', 'device product stored');
is($dev->{secret}, $secret, 'device secret stored');
ok($dev->{created} > 0, 'created time');
ok($t->redis('SISMEMBER', 'ota:products', 'p1'), 'product registered');
ok($t->redis('SISMEMBER', 'ota:prod:{p1}:devices', 'd1'), 'device in product');
ok($t->redis('HEXISTS', 'ota:prod:{p1}:modules', 'default'), 'module default');

# global flags before or after the command
($rc, $out) = $t->run_cmd({}, $otactl, 'device', 'add', 'd2', '--product',
                          'p1', '--secret', 'abcdefghijklmnop', '--json',
                          '--redis', $t->redis_addr);
is($rc, 0, 'flags after the command');
is(decode_json($out)->{secret}, 'abcdefghijklmnop', 'given secret, JSON');
($rc, $out) = $t->run_cmd({}, $otactl, '--redis', $t->redis_addr, '--json',
                          'device', 'show', 'd1');
is($rc, 0, 'device show');
is(decode_json($out)->{product}, 'p1', 'device show JSON');
($rc, $out) = $t->otactl(qw(device list --product p1));
like($out, qr/^d1\s+p1/m, 'device list table');
like($out, qr/^DEVICE\s+PRODUCT/, 'with a header');

refused([qw(device add d1 --product p1)], qr/already exists/, 'duplicate device');
refused([qw(device add d1 --product p2)], qr/already exists/, 'device in another product');
refused([qw(device add bad/name --product p1)], qr/invalid device name/, 'bad device name');
refused([qw(device add .hidden --product p1)], qr/invalid device name/, 'device starting with a dot');
refused([qw(device add d9)], qr/needs --product/, 'no product');
refused([qw(device add d9 --product), 'a b'], qr/invalid product/, 'bad product');
refused([qw(device add d9 --product p1 --secret short)], qr/secret/, 'short secret');
refused([qw(device add d9 d10 --product p1)], qr/exactly one/, 'two devices');
refused([qw(device add d9 --product p1 --bogus 1)], qr/unknown option --bogus/, 'unknown option');
refused([qw(device show nosuch)], qr/no device nosuch/, 'show unknown device');
refused([qw(device frob)], qr/unknown verb/, 'unknown verb');
refused([qw(nosuch)], qr/unknown command/, 'unknown command');
($rc, undef, $err) = $t->otactl(qw(device add d9 --product p1 --bogus));
is($rc, 2, 'usage errors exit 2');

# ---- modules --------------------------------------------------------------
($rc, $out, $err) = $t->otactl(qw(module add fw --product p1 --alias Firmware --desc), 'main firmware');
is($rc, 0, 'module add') or diag($err);
my $m = decode_json($t->redis('HGET', 'ota:prod:{p1}:modules', 'fw'));
is($m->{alias}, 'Firmware', 'alias stored');
is($m->{desc}, 'main firmware', 'description stored');
($rc, $out) = $t->otactl(qw(module list --product p1 --json));
my %mods = map { $_->{module} => $_ } @{ decode_json($out) };
ok($mods{fw} && $mods{default}, 'module list JSON has fw and default');
refused([qw(module add fw --product p1)], qr/already exists/, 'duplicate module');
refused([qw(module add bad.name --product p1)], qr/invalid module name/, 'module with a dot');
refused([qw(module add), 'x' x 65, qw(--product p1)], qr/invalid module name/, 'module name too long');
refused([qw(module add m2)], qr/needs --product/, 'module without product');
refused([qw(module list --product nosuch)], qr/no product/, 'modules of an unknown product');

# ---- packages ---------------------------------------------------------------
my $f1 = mkfile('fw-1.2.0.bin', 300_000);
($rc, $out, $err) = $t->otactl('package', 'add', $f1, qw(--product p1 --module fw --name), 'FW 1.2',
                               qw(--version 1.2.0 --verify --desc), 'first', qw(--ext a=1 --ext b=two));
is($rc, 0, 'package add') or diag($err);
chomp(my $id = $out);
is($id, 'p1-fw-1_2_0', 'readable package id');
my $dir = "$store/$id";
ok(-f "$dir/fw-1.2.0.bin", 'file in the store');
ok(!-w "$dir/fw-1.2.0.bin" || $> == 0, 'file is read-only');
is((stat "$dir/fw-1.2.0.bin")[2] & 0777, 0444, 'mode 0444');
is(slurp("$dir/fw-1.2.0.bin"), slurp($f1), 'same bytes');
my $man = decode_json(slurp("$dir/manifest.json"));
is($man->{id}, $id, 'manifest id');
is($man->{size}, 300_000, 'manifest size');
is($man->{sign_method}, 'sha256', 'sha256 by default');
is($man->{files}[0]{sign}, sha256_hex(slurp($f1)), 'sha256 digest of the file');
is($man->{files}[0]{offset}, 0, 'offset 0');
my @tmp = glob("$dir/.*.tmp");
is(scalar @tmp, 0, 'no temp files left');
my $p = $t->redis_hash("ota:pkg:{$id}");
is($p->{state}, 'unverified', 'must-verify package starts unverified');
is($p->{verify}, '1', 'verify flag');
is($p->{sign}, $man->{files}[0]{sign}, 'record has the digest');
is($p->{size}, 300_000, 'record has the size');
is_deeply(decode_json($p->{ext}), { a => '1', b => 'two' }, 'custom data');
is($t->redis('HGET', 'ota:prod:{p1}:pkgver', 'fw:1.2.0'), $id, 'version index');
ok(defined $t->redis('ZSCORE', 'ota:pkgs', $id), 'in the package list');

# several files, md5, diff
my $f2 = mkfile('part1.tar.gz', 1000);
my $f3 = mkfile('part2.pack', 2345);
($rc, $out, $err) = $t->otactl('--json', 'package', 'add', $f2, $f3, qw(--product p1 --module fw --name diff
                               --version 1.3.0 --type diff --from 1.2.0 --sign md5));
is($rc, 0, 'multi-file diff package') or diag($err);
my $j = decode_json($out);
my $id2 = $j->{id};
is($j->{size}, 3345, 'size over all files');
is($j->{state}, 'ready', 'no verification needed: ready');
$man = decode_json(slurp("$store/$id2/manifest.json"));
is($man->{files}[1]{offset}, 1000, 'second file offset');
is($man->{files}[1]{sign}, md5_hex(slurp($f3)), 'md5 of the second file');
is($man->{from}, '1.2.0', 'diff from');
is($man->{type}, 'diff', 'diff type');

($rc, $out) = $t->otactl('--json', 'package', 'show', $id);
$j = decode_json($out);
is($j->{state}, 'unverified', 'package show state');
is($j->{files}[0]{name}, 'fw-1.2.0.bin', 'package show files');
($rc, $out) = $t->otactl(qw(package list --product p1));
like($out, qr/^\Q$id\E\s+p1\s+fw\s+1\.2\.0/m, 'package list table');

my $f4 = mkfile('fw.bin', 10);
my $txt = mkfile('notes.txt', 10);
my $big = mkfile('big.bin', 2 * 1024 * 1024 + 1);
my $empty = mkfile('empty.bin', 0);
my @base = (qw(--product p1 --module fw --name x));
refused(['package', 'add', $f4, @base, qw(--version 1.2.0)], qr/already has version 1\.2\.0/, 'duplicate version');
refused(['package', 'add', $txt, @base, qw(--version 2.0.0)], qr/file type not accepted/, 'bad extension');
refused(['package', 'add', $big, @base, qw(--version 2.0.0)], qr/over the limit of 2 MB/, 'over the size limit',
        { OTA_PACKAGE_MAX_MB => 2 });
refused(['package', 'add', $empty, @base, qw(--version 2.0.0)], qr/empty/, 'empty file');
refused(['package', 'add', $f4, @base, qw(--version 1.2)], qr/invalid version/, 'short version');
refused(['package', 'add', $f4, @base, qw(--version 1.02.0)], qr/invalid version/, 'leading zero');
refused(['package', 'add', $f4, @base, qw(--version 1000000.0.0)], qr/invalid version/, 'part too large');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --type diff)], qr/needs --from/, 'diff without from');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --type diff --from 2.1.0)], qr/must be lower/, 'diff from newer');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --from 1.0.0)], qr/only for --type diff/, 'from on a full package');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --type delta)], qr/invalid --type/, 'bad type');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --sign sha1)], qr/invalid --sign/, 'bad sign');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --ext novalue)], qr/invalid --ext/, 'bad ext');
refused(['package', 'add', $f4, @base, qw(--version 2.0.0 --ext a=1 --ext a=2)], qr/given twice/, 'ext twice');
refused(['package', 'add', $f4, qw(--product p1 --module nosuch --name x --version 2.0.0)], qr/no module nosuch/, 'unknown module');
refused(['package', 'add', $f4, qw(--product nosuch --module fw --name x --version 2.0.0)], qr/no module fw in product nosuch/, 'unknown product');
refused(['package', 'add', $t->dir . '/missing.bin', @base, qw(--version 2.0.0)], qr/cannot read/, 'missing file');
refused(['package', 'add', $f4, $f4, @base, qw(--version 2.0.0)], qr/two files named/, 'same file twice');
refused(['package', 'add', $f4, qw(--product p1 --module fw --version 2.0.0)], qr/needs --product, --module, --name/, 'no name');
refused(['package', 'add', @base, qw(--version 2.0.0)], qr/at least one file/, 'no file');
refused(['package', 'show', '../etc'], qr/invalid package id/, 'path trick in an id');
refused(['package', 'show', 'nosuch'], qr/no package nosuch/, 'unknown package');

# symbolic links are refused unless asked for; extensions ignore case
symlink('/etc/passwd', $t->dir . '/x.bin') or die "symlink: $!";
refused(['package', 'add', $t->dir . '/x.bin', @base, qw(--version 3.0.0)],
        qr{x\.bin is a symbolic link \(to /etc/passwd\): pass --follow-symlinks},
        'a link named x.bin to any readable file is refused');
my $real = mkfile('build-3.0.1.bin', 777);
symlink($real, $t->dir . '/current.bin') or die "symlink: $!";
($rc, $out, $err) = $t->otactl('package', 'add', $t->dir . '/current.bin', @base,
                               qw(--version 3.0.1 --follow-symlinks));
is($rc, 0, '--follow-symlinks publishes the file the link points to') or diag($err);
chomp(my $lid = $out);
is(-s "$store/$lid/current.bin", 777, 'stored under the link\'s name, with the target\'s bytes');
ok(!-l "$store/$lid/current.bin", 'a copy, not a link');
my $up = mkfile('FW-3.0.2.BIN', 100);
($rc, $out, $err) = $t->otactl('package', 'add', $up, @base, qw(--version 3.0.2));
is($rc, 0, 'an upper-case .BIN is a .bin file') or diag($err);
my $tgz = mkfile('Rootfs.TAR.GZ', 100);
($rc, $out, $err) = $t->otactl('package', 'add', $tgz, @base, qw(--version 3.0.3));
is($rc, 0, 'and .TAR.GZ a .tar.gz') or diag($err);
refused(['package', 'add', mkfile('notes.TXT', 10), @base, qw(--version 3.0.4)],
        qr/file type not accepted/, 'case does not let other types in');
refused(['package', 'add', mkfile('.bin', 10), @base, qw(--version 3.0.4)],
        qr/invalid file name|not accepted/, 'an extension alone is no name');

# the extension list and size limit are configuration
my $img = mkfile('rootfs.img', 100);
refused(['package', 'add', $f4, @base, qw(--version 2.0.0)], qr/accepted: \.img/, 'env narrows the list',
        { OTA_PACKAGE_EXTS => '.img' });
($rc, $out, $err) = $t->run_cmd({ OTA_REDIS => $t->redis_addr, OTA_STORE => $store,
                                  OTA_PACKAGE_EXTS => '.img,.bin' },
                                $otactl, 'package', 'add', $img, @base, qw(--version 2.0.0));
is($rc, 0, 'env widens the list') or diag($err);
OtaTest::write_file($t->dir . '/otactl.conf', "package_exts = .bin\npackage_max_mb 1\n");
refused(['package', 'add', $img, @base, qw(--version 2.1.0)], qr/not accepted/, 'config file list',
        { OTA_CONFIG => $t->dir . '/otactl.conf' });
OtaTest::write_file($t->dir . '/bad.conf', "package_max_mb lots\n");
refused(['package', 'list'], qr/bad\.conf:1: invalid package size limit/, 'bad config file',
        { OTA_CONFIG => $t->dir . '/bad.conf' });

# ---- links --------------------------------------------------------------------
($rc, $out, $err) = $t->otactl('link', '--package', $id, '--device', 'd1', '--secret', $OtaTest::SECRET,
                               '--expires', 600);
is($rc, 0, 'link') or diag($err);
my ($exp, $sig) = $out =~ m{^/ota/v1/packages/\Q$id\E\?device=d1&expires=(\d+)&signature=([0-9a-f]{64})$};
ok($exp && abs($exp - time - 600) < 5, 'link expires in 600 s');
is($sig, $t->link_sign($id, 'd1', $exp), 'link signature is the module\'s');
refused([qw(link --package), $id, qw(--device d1)], qr/server key/, 'link without the key');

# ---- batches without a worker ------------------------------------------------
refused([qw(batch create --package), $id, qw(--type verify --name v)], qr/needs --devices/, 'verify without devices');
refused([qw(batch create --package), $id, qw(--type upgrade --name v --devices d1)], qr/for verify batches/, 'upgrade with devices');
refused([qw(batch create --package), $id, qw(--type rollout --name v)], qr/invalid --type/, 'bad batch type');
refused([qw(batch create --package), $id, qw(--type upgrade --name v --protocol ftp)], qr/invalid --protocol/, 'bad protocol');
refused([qw(batch create --package), $id, qw(--type upgrade --name v --method lazy)], qr/invalid --method/, 'bad method');
refused([qw(batch create --package), $id, qw(--type upgrade --name v --from-version 1.x.0)], qr/invalid --from-version/, 'bad from version');
refused([qw(batch create --package), $id, qw(--type verify --name v --devices), 'd1,,d2'], qr/invalid device name/, 'empty device in list');
refused([qw(batch create --package), $id, qw(--type verify --name v --method dynamic --devices d1)], qr/fixed device list/, 'dynamic verify');
refused([qw(batch create --package nosuch --type upgrade --name v)], qr/no package nosuch/, 'batch of an unknown package');
refused([qw(batch show nosuch)], qr/no batch nosuch/, 'show unknown batch');
refused([qw(batch pause nosuch)], qr/no batch nosuch/, 'pause unknown batch');
refused([qw(batch cancel ../x)], qr/invalid batch id/, 'bad batch id');
refused([qw(stats versions --product nosuch)], qr/no product nosuch/, 'stats of an unknown product');
refused([qw(stats versions --product p1 --module nosuch)], qr/no module nosuch/, 'stats of an unknown module');
refused([qw(stats versions)], qr/needs --product/, 'stats without product');

my $t0 = time;
($rc, $out, $err) = $t->otactl(qw(batch create --package), $id2, qw(--type upgrade --name nobody --wait 1));
is($rc, 3, 'no worker: exit 3');
like($err, qr/no ota-worker answered within 1 s/, 'no worker: says so');
ok(time - $t0 < 5, 'and does not hang');
is($t->redis('ZCARD', 'ota:batches'), 0, 'no batch was made');
# a worker that comes later refuses the stale job instead of acting on it
$t->start_worker;
ok($t->wait_for(sub { $t->worker_log =~ /job expired/ }),
   'the worker refused the stale job') or diag($t->worker_log);
ok($t->wait_for(sub { $t->redis('XPENDING', 'ota:jobs', 'ota-workers')->[0] == 0 }),
   'and acknowledged it');
is($t->redis('ZCARD', 'ota:batches'), 0, 'and made no batch from it');

# Redis unreachable
($rc, $out, $err) = $t->run_cmd({}, $otactl, '--redis', '127.0.0.1:1', 'device', 'list');
isnt($rc, 0, 'Redis down: non-zero exit');
like($err, qr/cannot connect to Redis at 127\.0\.0\.1:1/, 'Redis down: says where');
($rc, $out, $err) = $t->run_cmd({}, $otactl, '--redis', 'nonsense', 'device', 'list');
like($err, qr/invalid Redis address/i, 'bad --redis');

$t->stop;
done_testing;
