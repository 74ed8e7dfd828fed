# GET /ota/v1/upgrade?module=<m>&wait=<s>: the long poll.  A device with
# no offer is held until one appears (woken through each nginx worker
# process's one subscription to the wake channel) or its wait ends (204).
# Real nginx, Redis, ota-worker and otactl; the waiting devices are raw
# sockets of this process (t/lib/OtaWait.pm).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaDownload;
use OtaWait;
use Time::HiRes qw(time sleep);

my $N = 2000;                       # devices waiting at once on one node

my $t = OtaTest->new(worker => 1, worker_connections => 4096,
                     main_extra => 'worker_rlimit_nofile 10000;',
                     http_extra => 'ota_upgrade_wait_max 20s;');

my $wake = OtaTest::key('OTA_CHANNEL_WAKE');
my $events = OtaTest::key('OTA_STREAM_EVENTS');
my $exp = int(time) + 3600;

# devices of two products, tokens as POST auth makes them
my (%sec, %tok);
for my $i (1 .. $N) {
    my $d = sprintf 'w%04d', $i;
    my $p = $i <= $N / 2 ? 'pa' : 'pb';
    $sec{$d} = $t->fx_device($d, $p);
    $tok{$d} = OtaWait::token($t->{secret}, $d, $p, $exp);
}
$t->fx_module('pa', 'MCU');

sub wait_get {
    my ($dev, $q, %o) = @_;
    return $t->http(GET => "/ota/v1/upgrade$q", timeout => $o{timeout} // 30,
                    headers => { Authorization => "Bearer " . ($o{token} // $tok{$dev}) });
}

sub waiting { $t->metric('ota_upgrade_waits_total') - $t->metric('ota_upgrade_waits_ended_total') }

sub package_of {
    my ($product, $version, $module) = @_;
    my $file = $t->dir . "/$product-$version.bin";
    OtaTest::write_file($file, "firmware $product $version\n" x 100);
    my ($rc, $out, $err) = $t->otactl('package', 'add', $file, '--product', $product,
                                      '--module', $module // 'default', '--name', "fw-$version",
                                      '--version', $version, '--sign', 'sha256');
    die "package add: $err" if $rc;
    my ($id) = $out =~ /^(\S+)\s*$/m;
    return $id;
}

# ---- bad wait values: 400 with a reason, nothing changed ----------------------

for my $q ('?wait=abc', '?wait=-1', '?wait=', '?wait=1.5', '?wait=10s',
           '?wait=' . ('9' x 21), '?wait=%20') {
    my $before = $t->redis_snapshot;
    my $r = wait_get('w0001', $q);
    is($r->{status}, 400, "$q: 400");
    like($r->{json}{message} // '', qr/"wait" must be a whole number of seconds/,
         "$q: says why");
    is_deeply($t->redis_snapshot, $before, "$q: Redis unchanged");
}
is(wait_get('w0001', '?wait=abc', token => 'x')->{status}, 401,
   'the token is checked first');
my $t0 = time;
is(wait_get('w0001', '?wait=0')->{status}, 204, 'wait=0: 204 at once');
ok(time - $t0 < 1, 'without waiting');

# ---- a waiting device gets its offer when the batch is created ----------------

my $pkg = package_of('pa', '2.0.0');
my $w = OtaWait->new($t->port);
$w->add($_, $tok{$_}, '?module=default&wait=20') for qw(w0001 w0002);
$w->add('w1001', $tok{w1001}, '?wait=20');            # product pb
$w->add('w0003', $tok{w0003}, '?module=MCU&wait=20');  # another module
ok($t->wait_for(sub { waiting() == 4 }, 5), 'four devices wait');
$w->pump(0.5);
is($w->answered, 0, 'none answered while there is no offer');

my ($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
                                  qw(--type upgrade --name first));
is($rc, 0, 'batch created') or diag($err);
ok($w->pump(1, sub { $w->answered >= 2 }),
   'the waiting devices have their offer within a second of otactl batch create');
is($w->status('w0001'), 200, 'w0001: 200');
is($w->json('w0001') && $w->json('w0001')->{package}, $pkg, 'w0001: the offer');
is($w->status('w0002'), 200, 'w0002: 200');
$w->pump(0.3);
ok(!defined $w->status('w1001'), 'a device of another product still waits');
ok(!defined $w->status('w0003'), 'a device waiting on another module still waits');
ok($t->wait_for(sub { $t->drained }, 10), 'the worker took the notified events');
is($t->task('w0001', $t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'w0001'),
                                'default'))->{state}, 'notified',
   'an answered wait notifies the task, as a plain upgrade does');

# a device that has an offer is answered at once
$t0 = time;
is(wait_get('w0001', '?wait=20')->{status}, 200, 'an offer: answered at once');
ok(time - $t0 < 1, 'without waiting');

# ---- the wait ends: 204 --------------------------------------------------------

$t0 = time;
my $r = wait_get('w1002', '?wait=1');
is($r->{status}, 204, 'wait=1 with no offer: 204');
ok(time - $t0 >= 0.9 && time - $t0 < 3, 'after about one second');

# a larger wait is capped to ota_upgrade_wait_max (2 s in this location)
# and a token that expires first ends the wait with 401
$t->stop;
$t = OtaTest->new(worker => 0, http_extra => 'ota_upgrade_wait_max 2s;');
$t->fx_device('d1', 'px', secret => 'ab' x 32);
$tok{d1} = OtaWait::token($t->{secret}, 'd1', 'px', $exp);
$t0 = time;
$r = wait_get('d1', '?wait=999999');
is($r->{status}, 204, 'wait above ota_upgrade_wait_max: capped, 204');
ok(time - $t0 >= 1.9 && time - $t0 < 4, 'after ota_upgrade_wait_max');
$t0 = time;
$r = wait_get('d1', '?wait=2', token => OtaWait::token($t->{secret}, 'd1', 'px', int(time) + 1));
is($r->{status}, 401, 'a token that expires while waiting: 401');
like($r->{json}{message} // '', qr/token expired while waiting/, 'says why');
ok(time - $t0 < 2.5, 'when the token expires');

# ---- notices on the channel -------------------------------------------------------

my $p1 = $t->fx_package(id => 'px-1', product => 'px', version => '1.0.0');
$w = OtaWait->new($t->port);
$w->add('d1', $tok{d1}, '?wait=2');
ok($t->wait_for(sub { waiting() == 1 }, 5), 'd1 waits');
$t->fx_batch(id => 'bx', package => $p1, devices => ['d1']);
$t->redis(PUBLISH => $wake, 'dev default nosuch other');
$t->redis(PUBLISH => $wake, 'dev default d1 bad/name');
$t->redis(PUBLISH => $wake, 'dev MCU d1');
$w->pump(0.3);
ok(!defined $w->status('d1'), 'a notice naming other devices, a malformed one, '
   . 'or another module: still waiting');
like($t->error_log, qr/message on "ota:wake" is ignored: a device name is not valid/,
     'the malformed notice is logged');
$t->redis(PUBLISH => $wake, 'dev default x1 d1');
ok($w->pump(1, sub { $w->answered }), 'a notice naming the device wakes it');
is($w->status('d1'), 200, 'with its offer');

# ---- a notice missed while the subscription was down is not lost -----------------

$t->redis(HDEL => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd1'), 'default');
$w = OtaWait->new($t->port);
$w->add('d1', $tok{d1}, '?wait=2');
ok($t->wait_for(sub { waiting() == 1 }, 5), 'd1 waits again');
# the offer appears with no notice at all, then the subscriptions drop
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd1'), 'default', 'bx');
$t->redis(CLIENT => 'KILL', 'TYPE', 'pubsub');
ok($w->pump(1.5, sub { $w->answered }), 'after the subscription is back the wait checks again');
is($w->status('d1'), 200, 'and finds the offer');
$t->stop;

done_testing;
