# ota-worker: batch creation (verify lists, upgrade of a product, source
# version filters, diff packages, skips, must-verify rule, dynamic joins,
# active push), pause/resume/cancel, replayed jobs.

use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1, worker => 1);
my $ts = int(time * 1000);

sub ev {
    my (%f) = @_;
    my $type = delete $f{type};
    $t->redis('XADD', 'ota:events', '*', type => $type, ts => $f{ts} // $ts++,
              map { $_ => $f{$_} } grep { $_ ne 'ts' } sort keys %f);
}

sub mkpkg {
    my ($product, $module, $version, @more) = @_;
    my $f = $t->dir . "/$product-$module-$version.bin";
    OtaTest::write_file($f, "package $product $module $version\n" x 100);
    my ($rc, $out, $err) = $t->otactl('package', 'add', $f, '--product', $product,
                                      '--module', $module, '--name', "$module $version",
                                      '--version', $version, @more);
    die "package add: $err" if $rc;
    chomp $out;
    return $out;
}

sub devices {
    my ($product, %ver) = @_;
    for my $d (sort keys %ver) {
        my ($rc, undef, $err) = $t->otactl('device', 'add', $d, '--product', $product);
        die "device add: $err" if $rc;
        ev(type => 'inform', device => $d, product => $product, module => 'default',
           version => $ver{$d}) if $ver{$d};
    }
    $t->wait_for(sub { $t->drained }) or die "worker did not drain";
}

sub create {
    my (@args) = @_;
    my ($rc, $out, $err) = $t->otactl('batch', 'create', '--name', 'b', @args);
    chomp $out;
    return ($rc, $out, $err);
}

sub batch {
    my ($id) = @_;
    my ($rc, $out, $err) = $t->otactl('--json', 'batch', 'show', $id, '--devices');
    return $rc ? undef : decode_json($out);
}

sub devs { join ',', sort map { $_->{device} } @{ $_[0]{devices} } }

# ---- upgrade batches: every device of the product, skips ------------------
devices('pu', u1 => '1.0.0', u2 => '1.0.0', u3 => '2.0.0', u4 => '1.1.0', u5 => undef);
my $full = mkpkg('pu', 'default', '2.0.0');

my ($rc, $id, $err) = create('--package', $full, '--type', 'upgrade');
is($rc, 0, 'upgrade batch created') or diag($err);
like($id, qr/^[A-Za-z0-9_-]{1,64}$/, 'prints the batch id');
like($err, qr/4 tasks; skipped: 1 already at the target version/, 'says what it skipped');
my $b = batch($id);
is($b->{state}, 'running', 'running');
is($b->{total}, 4, 'every device but the one at the target version');
is(devs($b), 'u1,u2,u4,u5', 'the right devices');
is($b->{counts}{pending}, 4, 'all pending');
is($b->{skipped}{current}, 1, 'skipped at target recorded');
is($b->{type}, 'upgrade', 'type');
is($b->{package}, $full, 'package');
# tasks are stored by column: creation writes the open entry, the
# membership and the device's version, nothing per task else
my $psize = length("package pu default 2.0.0\n") * 100;
is_deeply([ sort grep { /^ota:task:/ || /\{\Q$id\E\}:(state|covered|step|updated)$/ }
            @{ $t->redis('KEYS', '*') } ], [], 'no state, coverage or task keys at creation');
is($t->redis('HGET', 'ota:dev:{u1}:open', 'default'), $id, 'open task recorded');
is($t->redis('HGET', "ota:batch:{$id}:from", 'u1'), '1.0.0', 'source version kept');
ok(!defined $t->redis('HGET', "ota:batch:{$id}:from", 'u5'), 'never reported: no source version');
{
    my ($rc, $out) = $t->otactl('--json', 'batch', 'show', $id, '--devices');
    my %d = map { $_->{device} => $_ } @{ decode_json($out)->{devices} };
    is($d{u1}{state}, 'pending', 'batch show: pending task');
    is($d{u1}{size}, $psize, 'batch show: size from the batch');
}
# no per-device history is written: device show finds the task through
# the batch's devices
ok(!$t->redis('EXISTS', 'ota:dev:{u1}:tasks'), 'no history key per device');
{
    my ($rc, $out) = $t->otactl('--json', 'device', 'show', 'u1');
    is($rc, 0, 'device show');
    my $tasks = decode_json($out)->{tasks};
    is_deeply([map { $_->{batch} } @$tasks], [$id],
              'device show lists the pending task');
    is_deeply([@{ $tasks->[0] }{qw(state version module size)}],
              ['pending', '2.0.0', 'default', $psize], 'with the batch\'s fields');
}
{
    # the batches are asked newest first, 256 per round trip: 300 newer
    # batches without the device must not hide its task
    my @fake = map { (4e15 + $_, "zz-newer-$_") } 1 .. 300;
    $t->redis('ZADD', 'ota:batches', @fake);
    my ($rc, $out) = $t->otactl('--json', 'device', 'show', 'u1');
    is_deeply([map { $_->{batch} } @{ decode_json($out)->{tasks} }], [$id],
              'device show pages past 300 newer batches');
    $t->redis('ZREM', 'ota:batches', map { "zz-newer-$_" } 1 .. 300);
}

# one open task per device and module
my $full2 = mkpkg('pu', 'default', '2.1.0');
($rc, my $id2, $err) = create('--package', $full2, '--type', 'upgrade');
is($rc, 0, 'second upgrade batch') or diag($err);
$b = batch($id2);
is(devs($b), 'u3', 'devices with an open task are skipped');
is($b->{skipped}{busy}, 4, 'and counted as busy');

# cancel: open tasks cancelled, open entries cleared
($rc, undef, $err) = $t->otactl('batch', 'cancel', $id);
is($rc, 0, 'cancel') or diag($err);
$b = batch($id);
is($b->{state}, 'cancelled', 'batch cancelled');
is($b->{counts}{cancelled}, 4, 'every task cancelled');
is($b->{counts}{pending}, 0, 'none pending');
is($b->{completion}, 1, 'completion 100 %');
is($b->{success_rate}, undef, 'no success rate yet (null)');
ok(!$t->redis('HEXISTS', 'ota:dev:{u1}:open', 'default'), 'open entry cleared');
{
    my $task = $t->task('u1', $id);
    is_deeply([@$task{qw(state from version size package device batch covered)}],
              ['cancelled', '1.0.0', '2.0.0', $psize, $full, 'u1', $id, 0],
              'cancelled task: every field');
    ok(($t->redis('HGET', OtaTest::key('OTA_KEY_BATCH_UPDATED', $id), 'u1') // 0) >= $task->{created}, 'updated written by the cancel');
    is($t->task('u5', $id)->{from}, '', 'never reported: empty source');
}
($rc, undef, $err) = $t->otactl('batch', 'cancel', $id);
is($rc, 0, 'cancel again: harmless');
($rc, undef, $err) = $t->otactl('batch', 'pause', $id);
is($rc, 1, 'pause a cancelled batch: refused');
like($err, qr/only a running batch can be paused/, 'with the reason');

# from-version filter
($rc, my $id3, $err) = create('--package', $full2, '--type', 'upgrade', '--from-version', '1.0.0',
                              '--protocol', 'mqtt');
is($rc, 0, 'upgrade from 1.0.0') or diag($err);
$b = batch($id3);
is(devs($b), 'u1,u2', 'only devices at 1.0.0');
is($b->{protocol}, 'mqtt', 'protocol recorded');

# pause / resume
($rc, undef, $err) = $t->otactl('batch', 'pause', $id3);
is($rc, 0, 'pause') or diag($err);
is(batch($id3)->{state}, 'paused', 'paused');
($rc) = $t->otactl('batch', 'pause', $id3);
is($rc, 0, 'pause twice: harmless');
($rc, undef, $err) = $t->otactl('batch', 'resume', $id3);
is($rc, 0, 'resume') or diag($err);
is(batch($id3)->{state}, 'running', 'running again');
($rc, undef, $err) = $t->otactl('batch', 'resume', $id3);
is($rc, 0, 'resume twice: harmless');

# ---- diff packages: only devices at the source ---------------------------------
devices('pd', v1 => '1.0.0', v2 => '1.0.0', v3 => '1.1.0', v4 => undef);
my $diff = mkpkg('pd', 'default', '1.2.0', '--type', 'diff', '--from', '1.1.0');
($rc, my $id4, $err) = create('--package', $diff, '--type', 'upgrade');
is($rc, 0, 'diff batch') or diag($err);
is(devs(batch($id4)), 'v3', 'only the device at the diff source');
($rc, undef, $err) = create('--package', $diff, '--type', 'upgrade', '--from-version', '1.0.0');
is($rc, 1, 'diff batch with another source version: refused');
like($err, qr/is a diff from 1\.1\.0/, 'with the reason');

# ---- must-verify packages ----------------------------------------------------------
devices('pv', w1 => '1.0.0', w2 => '1.0.0', w3 => '1.0.0');
my $mv = mkpkg('pv', 'default', '3.0.0', '--verify');
my $before = $t->redis('ZCARD', 'ota:batches');
($rc, undef, $err) = create('--package', $mv, '--type', 'upgrade');
is($rc, 1, 'upgrade of an unverified package: refused');
like($err, qr/must be verified first/, 'with the reason');
is($t->redis('ZCARD', 'ota:batches'), $before, 'no batch made');
($rc, undef, $err) = create('--package', $mv, '--type', 'verify', '--devices', 'w1,nosuch');
is($rc, 1, 'verify with an unknown device: refused');
like($err, qr/no device nosuch in product pv/, 'names the device');
($rc, undef, $err) = create('--package', $mv, '--type', 'verify', '--devices', 'w1,u1');
like($err, qr/device u1 belongs to product pu, not pv/, 'device of another product refused');
is($t->redis('ZCARD', 'ota:batches'), $before, 'still no batch');

($rc, my $vid, $err) = create('--package', $mv, '--type', 'verify', '--devices', 'w1,w2');
is($rc, 0, 'verify batch') or diag($err);
is(devs(batch($vid)), 'w1,w2', 'exactly the listed devices');
is($t->redis('HGET', "ota:pkg:{$mv}", 'state'), 'verifying', 'package verifying');
($rc, undef, $err) = create('--package', $mv, '--type', 'verify', '--devices', 'w3');
like($err, qr/is being verified by batch \Q$vid\E/, 'one verify batch at a time');
($rc, my $out) = $t->otactl('package', 'show', $mv);
like($out, qr/verify batch: \Q$vid\E \(running\): 0 of 2 succeeded/, 'package show has the progress');

for my $d (qw(w1 w2)) {
    ev(type => 'inform', device => $d, product => 'pv', module => 'default', version => '3.0.0');
}
ok($t->wait_for(sub { batch($vid)->{state} eq 'finished' }), 'verify batch finished');
is($t->redis('HGET', "ota:pkg:{$mv}", 'state'), 'verified', 'package verified');
($rc, my $uid, $err) = create('--package', $mv, '--type', 'upgrade');
is($rc, 0, 'now the upgrade is accepted') or diag($err);
is(devs(batch($uid)), 'w3', 'for the device not yet at the version');

# a verify batch that fails leaves the package verify_failed
my $mv2 = mkpkg('pv', 'default', '3.1.0', '--verify');
($rc, my $vid2) = create('--package', $mv2, '--type', 'verify', '--devices', 'w1');
ev(type => 'progress', device => 'w1', product => 'pv', module => 'default', step => -3, desc => 'bad sig');
ok($t->wait_for(sub { $t->redis('HGET', "ota:pkg:{$mv2}", 'state') eq 'verify_failed' }),
   'failed verification: verify_failed');
($rc, undef, $err) = create('--package', $mv2, '--type', 'upgrade');
like($err, qr/package state: verify_failed/, 'upgrade still refused');

# ---- dynamic batches -----------------------------------------------------------------
devices('py', y1 => '1.0.0');
my $dyn = mkpkg('py', 'default', '2.0.0');
($rc, my $did, $err) = create('--package', $dyn, '--type', 'upgrade', '--method', 'dynamic',
                              '--from-version', '1.0.0');
is($rc, 0, 'dynamic batch') or diag($err);
is(batch($did)->{total}, 1, 'starts with the matching device');
devices('py', y2 => '1.0.0', y3 => '1.5.0');
ok($t->wait_for(sub { batch($did)->{total} == 2 }), 'a device reporting the version joins');
is(devs(batch($did)), 'y1,y2', 'the matching one only');
ev(type => 'inform', device => 'y2', product => 'py', module => 'default', version => '1.0.0');
$t->wait_for(sub { $t->drained });
is(batch($did)->{total}, 2, 'a repeated report joins nothing twice');
is(batch($did)->{counts}{pending}, 2, 'counts follow the joins');
($rc, undef, $err) = create('--package', $dyn, '--type', 'upgrade', '--method', 'static',
                            '--from-version', '1.5.0');
is($rc, 0, 'static batch') or diag($err);
devices('py', y4 => '1.5.0');
is(batch($did)->{total}, 2, 'a static batch does not grow');

# ---- active push ------------------------------------------------------------------------
devices('pp', z1 => '1.0.0', z2 => '1.0.0');
my $pp = mkpkg('pp', 'default', '2.0.0', '--ext', 'k=v');
my $sub = IO::Socket::INET->new(PeerAddr => $t->redis_addr) or die "subscribe: $!";
binmode $sub;
print {$sub} "*2\r\n\$9\r\nSUBSCRIBE\r\n\$11\r\nota:push:z1\r\n";
OtaTest::_resp_read($sub);
($rc, my $pid, $err) = create('--package', $pp, '--type', 'upgrade', '--push');
is($rc, 0, 'push batch') or diag($err);
my $msg;
if (IO::Select->new($sub)->can_read(5)) {
    my $m = OtaTest::_resp_read($sub);
    $msg = eval { decode_json($m->[2]) };
}
ok($msg, 'a notice was published on ota:push:z1');
is($msg->{batch}, $pid, 'notice names the batch');
is($msg->{version}, '2.0.0', 'notice has the version');
is($msg->{sign}, $t->redis('HGET', "ota:pkg:{$pp}", 'sign'), 'notice has the digest');
is($msg->{ext}{k}, 'v', 'notice has the custom data');
ok(!exists $msg->{url}, 'notice has no signed URL');
close $sub;

# ---- a replayed job changes nothing ---------------------------------------------------
devices('pr', r1 => '1.0.0', r2 => '1.0.0');
my $rp = mkpkg('pr', 'default', '2.0.0');
my @job = (type => 'batch_create', id => 'replay-1', package => $rp, batch_type => 'upgrade',
           name => 'again', devices => '', from_version => '', protocol => 'https',
           method => 'static', push => 0);
$t->redis('XADD', 'ota:jobs', '*', @job, job => 'j1', ts => $ts);
$t->redis('XADD', 'ota:jobs', '*', @job, job => 'j2', ts => $ts);
my $r1 = $t->redis('BLPOP', 'ota:reply:j1', 10);
my $r2 = $t->redis('BLPOP', 'ota:reply:j2', 10);
is(decode_json($r1->[1])->{total}, 2, 'first job: 2 tasks');
is(decode_json($r2->[1])->{total}, 2, 'replayed job: same answer');
is($t->redis('ZCARD', 'ota:batch:{replay-1}:devices'), 2, 'no duplicate task');
is($t->redis('HGET', 'ota:batch:{replay-1}:counts', 'pending'), 2, 'counted once');

# a device listed twice gets one task (the chunk's duplicate check)
devices('pq', q1 => '1.0.0', q2 => '1.0.0');
my $qp = mkpkg('pq', 'default', '2.0.0');
($rc, my $qid, $err) = create('--package', $qp, '--type', 'verify', '--devices', 'q1,q2,q1');
is($rc, 0, 'verify batch with a device listed twice') or diag($err);
$b = batch($qid);
is($b->{total}, 2, 'one task per device');
is($b->{counts}{pending}, 2, 'counted once');
is($b->{skipped}{busy}, 0, 'the repeat is not a busy device');
is($t->redis('ZCARD', "ota:batch:{$qid}:devices"), 2, 'membership once');

# ---- resumable creation: kill the worker in the middle of a big batch ------------------
{
    # one device per chunk, so creation takes long enough (about a second)
    # for the kill to land in the middle of it
    my $n = 20000;
    $t->otactl('module', 'add', 'big', '--product', 'pbig');
    my $sock;
    $t->redis('PING');
    $sock = $t->{redis_sock};
    my $req = '';
    for my $i (1 .. $n) {
        my @c = ('SADD', 'ota:prod:{pbig}:devices', "big$i");
        $req .= '*' . @c . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @c);
        @c = ('HSET', "ota:dev:{big$i}", 'product', 'pbig', 'secret', 'x' x 32, 'created', 1);
        $req .= '*' . @c . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @c);
    }
    print {$sock} $req;
    OtaTest::_resp_read($sock) for 1 .. 2 * $n;
    my $bp = mkpkg('pbig', 'big', '1.0.0');

    $t->stop_worker;
    my $w = $t->start_worker('--chunk', 1, '--claim-idle', 500);
    my ($wk) = grep { $_->{pid} == $w } @{ $t->{workers} };
    $t->redis('XADD', 'ota:jobs', '*', type => 'batch_create', id => 'big-1', package => $bp,
              batch_type => 'upgrade', name => 'big', devices => '', from_version => '',
              protocol => 'https', method => 'static', push => 0, job => 'jbig', ts => $ts);
    $t->wait_for(sub { ($t->redis('HGET', 'ota:batch:{big-1}', 'total') // 0) > 100 }, 20);
    $t->stop_worker(worker => $wk, signal => 'KILL');
    my $mid = $t->redis('HGET', 'ota:batch:{big-1}', 'total');
    diag("killed with $mid of $n tasks made");
    cmp_ok($mid, '<', $n, 'the worker was killed during creation');
    $t->start_worker('--claim-idle', 500);
    ok($t->wait_for(sub { ($t->redis('HGET', 'ota:batch:{big-1}', 'state') // '') eq 'running' }, 30),
       'another worker finished the batch');
    is($t->redis('HGET', 'ota:batch:{big-1}', 'total'), $n, 'every device has a task');
    is($t->redis('ZCARD', 'ota:batch:{big-1}:devices'), $n, 'no device twice');
    is($t->redis('HGET', 'ota:batch:{big-1}:counts', 'pending'), $n, 'counted once each');
    my $r = $t->redis('BLPOP', 'ota:reply:jbig', 5);
    is(decode_json($r->[1])->{total}, $n, 'the reply has the total');
}

$t->stop;
done_testing;
