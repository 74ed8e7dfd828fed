# GET /ota/v1/upgrade?module=<m>&wait=<s>: the long poll.  A device with
# no offer is held until one appears (woken through each nginx worker
# process's one subscription to the wake channel) or its wait ends (204).
# Real nginx, Redis, ota-worker and otactl; the waiting devices are raw
# sockets of this process (t/lib/OtaWait.pm).  Two nodes behind a load
# balancer: t/27-upgrade-wait-nodes.t.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaDownload;
use OtaWait;
use Time::HiRes qw(time sleep);

my $N = 2000;                       # devices waiting at once on one node
my $exp = int(time) + 3600;
my $wake = OtaTest::key('OTA_CHANNEL_WAKE');
my ($t, %tok, $w, $r, $t0);

sub wait_get {
    my ($dev, $q, %o) = @_;
    return $t->http(GET => "/ota/v1/upgrade$q", timeout => 30,
                    headers => { Authorization => "Bearer " . ($o{token} // $tok{$dev}) });
}

sub waiting {
    $t->metric('ota_upgrade_waits_total') - $t->metric('ota_upgrade_waits_ended_total');
}

# ==== one node, no worker: the request's side ====================================

# answers from Redis within 500 ms: a subscription lost that long is down
my $rport = OtaTest::free_port();
$t = OtaTest->new(http_extra => 'ota_upgrade_wait_max 3s;', redis_port => $rport,
                  ota_redis => "127.0.0.1:$rport timeout=500ms");
$t->wait_nginx_redis;
$t->fx_device('d1', 'px');
$tok{d1} = OtaWait::token($t->{secret}, 'd1', 'px', $exp);

# ---- bad wait values: 400 with a reason, nothing changed ----------------------

for my $q ('?wait=abc', '?wait=-1', '?wait=', '?wait=1.5', '?wait=10s',
           '?wait=' . ('9' x 21), '?wait=%20') {
    my $before = $t->redis_snapshot;
    $r = wait_get('d1', $q);
    is($r->{status}, 400, "$q: 400");
    like($r->{json}{message} // '', qr/"wait" must be a whole number of seconds/,
         "$q: says why");
    is_deeply($t->redis_snapshot, $before, "$q: Redis unchanged");
}
is(wait_get('d1', '?wait=abc', token => 'x')->{status}, 401, 'the token is checked first');
$t0 = time;
is(wait_get('d1', '?wait=0')->{status}, 204, 'wait=0: 204 at once');
ok(time - $t0 < 1, 'without waiting');

# ---- the wait ends -----------------------------------------------------------------

$t0 = time;
is(wait_get('d1', '?wait=1')->{status}, 204, 'wait=1 with no offer: 204');
ok(time - $t0 >= 0.9 && time - $t0 < 3, 'after about one second');
$t0 = time;
is(wait_get('d1', '?wait=999999')->{status}, 204,
   'a wait above ota_upgrade_wait_max is capped: 204');
ok(time - $t0 >= 2.9 && time - $t0 < 5, 'after ota_upgrade_wait_max (3 s)');
$t0 = time;
$r = wait_get('d1', '?wait=3', token => OtaWait::token($t->{secret}, 'd1', 'px', int(time) + 2));
is($r->{status}, 401, 'a token that expires while waiting: 401');
like($r->{json}{message} // '', qr/token expired while waiting/, 'says why');
ok(time - $t0 < 2.9, 'when the token expires, not at the end of the wait');

# ---- notices on the channel -----------------------------------------------------------

my $p1 = $t->fx_package(id => 'px-1', product => 'px', version => '1.0.0');
$w = OtaWait->new($t->port);
$w->add('d1', $tok{d1}, '?wait=3');
ok($t->wait_for(sub { waiting() == 1 }, 5), 'd1 waits');
$t->fx_batch(id => 'bx', package => $p1, devices => ['d1']);
$t->redis(PUBLISH => $wake, 'dev default nosuch other');
$t->redis(PUBLISH => $wake, 'dev default d1 bad/name');
$t->redis(PUBLISH => $wake, 'dev MCU d1');
$t->redis(PUBLISH => $wake, 'mod py default');
$w->pump(0.3);
ok(!defined $w->status('d1'), 'a notice naming other devices, another module or '
   . 'product, or a malformed one: still waiting');
like($t->error_log, qr/message on "ota:wake" is ignored: a device name is not valid/,
     'the malformed notice is logged');
$t->redis(PUBLISH => $wake, 'dev default x1 d1');
ok($w->pump(1, sub { $w->answered }), 'a notice naming the device wakes it');
is($w->status('d1'), 200, 'with its offer');

# ---- a notice missed while the subscription was down is not lost -----------------

$t->redis(HDEL => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd1'), 'default');
$w = OtaWait->new($t->port);
$w->add('d1', $tok{d1}, '?wait=3');
ok($t->wait_for(sub { waiting() == 1 }, 5), 'd1 waits again');
# the offer appears with no notice at all, then the subscriptions drop
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd1'), 'default', 'bx');
$t->redis(CLIENT => 'KILL', 'TYPE', 'pubsub');
ok($w->pump(1.5, sub { $w->answered }), 'once subscribed again the wait checks again');
is($w->status('d1'), 200, 'and finds the offer');

# ---- Redis killed during waits: 503 Retry-After -------------------------------------

$t->redis(HDEL => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd1'), 'default');
$w = OtaWait->new($t->port);
$w->add("d1-$_", $tok{d1}, '?wait=20') for 1 .. 5;
ok($t->wait_for(sub { waiting() == 5 }, 5), 'five requests wait');
$t->stop_redis(kill => 1);
ok($w->pump(1.9, sub { $w->answered == 5 }), 'Redis killed: every wait is answered');
is(scalar $w->with_status(503), 5, 'with 503 (not the 204 of their end)');
like($w->headers('d1-1') // '', qr/^Retry-After: \d+/mi, 'and Retry-After');
$r = wait_get('d1', '?wait=20');
is($r->{status}, 503, 'a new wait while Redis is down: 503 at once');
$t->start_redis;
ok($t->wait_for(sub {
       (() = $t->redis('CLIENT', 'LIST') =~ /name=ota-nginx-wait-\d+/g) == 2 }, 10),
   'every nginx worker process subscribes again');
ok($t->wait_nginx_redis, 'and connects again');
$w = OtaWait->new($t->port);
$w->add('d1', $tok{d1}, '?wait=20');
$w->pump(0.3);
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd1'), 'default', 'bx');
$t->fx_batch(id => 'bx', package => $p1, devices => ['d1']);   # Redis lost it
$t->redis(PUBLISH => $wake, 'dev default d1');
ok($w->pump(2, sub { $w->answered }), 'waits work again after Redis is back');
is($w->status('d1'), 200, 'with the offer');
$t->stop;

# ==== one node with the worker: offers from batches ==============================

$t = OtaTest->new(worker => 1, worker_connections => 4096,
                  main_extra => 'worker_rlimit_nofile 10000;',
                  http_extra => 'ota_upgrade_wait_max 30s;');

# devices of two products, tokens as POST auth makes them
for my $i (1 .. $N) {
    my $d = sprintf 'w%04d', $i;
    my $p = $i <= $N / 2 ? 'pa' : 'pb';
    $t->fx_device($d, $p, secret => 'ab' x 32);
    $tok{$d} = OtaWait::token($t->{secret}, $d, $p, $exp);
}
$t->fx_module('pa', 'MCU');
my @pa = map { sprintf 'w%04d', $_ } 1 .. $N / 2;
my @pb = map { sprintf 'w%04d', $_ } $N / 2 + 1 .. $N;

sub package_of {
    my ($product, $version, $module) = @_;
    my $file = $t->dir . "/$product-$module-$version.bin";
    OtaTest::write_file($file, "firmware $product $version\n" x 100);
    my ($rc, $out, $err) = $t->otactl('package', 'add', $file, '--product', $product,
                                      '--module', $module, '--name', "fw-$module",
                                      '--version', $version, '--sign', 'sha256');
    die "package add: $err" if $rc;
    my ($id) = $out =~ /^(\S+)\s*$/m;
    return $id;
}

sub batch_create {
    my ($pkg, $name) = @_;
    my ($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
                                      '--type', 'upgrade', '--name', $name);
    is($rc, 0, "batch $name created") or diag($err);
}

# ---- a batch created while devices wait --------------------------------------------

my $mcu = package_of('pa', '2.0.0', 'MCU');
$w = OtaWait->new($t->port);
$w->add($_, $tok{$_}, '?module=MCU&wait=20') for qw(w0001 w0002);
$w->add('w0003', $tok{w0003}, '?module=default&wait=20');   # another module
$w->add('w1001', $tok{w1001}, '?wait=20');                  # another product
ok($t->wait_for(sub { waiting() == 4 }, 5), 'four devices wait');
$w->pump(0.3);
is($w->answered, 0, 'none is answered while there is no offer');
batch_create($mcu, 'mcu');
ok($w->pump(1, sub { $w->answered >= 2 }),
   'the waiting devices have their offer within a second of otactl batch create');
is($w->status($_), 200, "$_: 200") for qw(w0001 w0002);
is($w->json('w0001') && $w->json('w0001')->{package}, $mcu, 'the offer');
$w->pump(0.3);
ok(!defined $w->status('w0003'), 'a device waiting on another module still waits');
ok(!defined $w->status('w1001'), 'a device of another product still waits');
my $b = $t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'w0001'), 'MCU');
# the notified events are held up to one progress interval (docs/download.md)
ok($t->wait_for(sub { $t->task('w0001', $b)->{state} eq 'notified'
                      && $t->task('w0002', $b)->{state} eq 'notified' && $t->drained }, 10),
   'the worker took the notified events');
is($t->task('w0001', $b)->{state}, 'notified', 'an answered wait notifies its task');
is($t->task('w0005', $b)->{state}, 'pending', 'a device that did not ask is not');
$t0 = time;
is(wait_get('w0005', '?module=MCU&wait=20')->{status}, 200,
   'a device with an offer is answered at once');
ok(time - $t0 < 1, 'without waiting');

# ---- a paused batch resumed, a device joining a dynamic batch ---------------------------

my ($rc, $out, $err) = $t->otactl('batch', 'pause', $b);
is($rc, 0, 'batch paused') or diag($err);
$w = OtaWait->new($t->port);
$w->add('w0006', $tok{w0006}, '?module=MCU&wait=20');
ok($t->wait_for(sub { waiting() == 1 }, 5), 'a device of the paused batch waits');
($rc, $out, $err) = $t->otactl('batch', 'resume', $b);
is($rc, 0, 'batch resumed') or diag($err);
ok($w->pump(1, sub { $w->answered }), 'resumed: the waiting device has its offer');
is($w->status('w0006'), 200, 'with 200');

$t->fx_device('w9999', 'pc', secret => 'ab' x 32);
$tok{w9999} = OtaWait::token($t->{secret}, 'w9999', 'pc', $exp);
my $pc = package_of('pc', '2.0.0', 'default');
($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pc, qw(--type upgrade
                               --name dyn --method dynamic --from-version 1.0.0));
is($rc, 0, 'dynamic batch created') or diag($err);
$w = OtaWait->new($t->port);
$w->add('w9999', $tok{w9999}, '?wait=20');
ok($t->wait_for(sub { waiting() == 1 }, 5), 'a device not in it yet waits');
$r = $t->http(POST => '/ota/v1/inform', json => { module => 'default', version => '1.0.0' },
              headers => { Authorization => "Bearer $tok{w9999}" });
is($r->{status}, 200, 'it reports the version the batch takes');
ok($w->pump(3, sub { $w->answered }), 'it joins the batch and its wait has the offer');
is($w->json('w9999') && $w->json('w9999')->{package}, $pc, 'the dynamic batch\'s package');

# ---- clients that go away are dropped at once ------------------------------------------

$w = OtaWait->new($t->port);
$w->add($_, $tok{$_}, '?wait=20') for qw(w0003 w1001);
ok($t->wait_for(sub { waiting() == 2 }, 5), 'two devices wait');
$w->close($_) for qw(w0003 w1001);
ok($t->wait_for(sub { waiting() == 0 }, 1), 'both clients gone: their waits end at once');

# ---- 2,000 waiting on one node, one batch wakes exactly its devices --------------------

my $fw = package_of('pa', '3.0.0', 'default');
$w = OtaWait->new($t->port);
$w->add($_, $tok{$_}, '?wait=30') for @pa, @pb;
ok($t->wait_for(sub { waiting() == $N }, 20), "$N devices wait");
batch_create($fw, 'fleet');
ok($w->pump(15, sub { $w->answered >= @pa }), 'every device of the batch is answered');
$w->pump(0.5);
is_deeply([ $w->with_status(200) ], \@pa, 'exactly the devices of the batch, with 200');
is($w->answered, scalar @pa, 'the others still wait');
is(waiting(), scalar @pb, 'and nginx holds them');
ok(!grep({ ($w->json($_) // {})->{package} ne $fw } @pa), 'each with the new package');

# many clients go away at once
$w->close($_) for @pb[0 .. 499];
ok($t->wait_for(sub { waiting() == 500 }, 2), '500 clients gone: dropped at once');

# ---- reload with waiting requests -----------------------------------------------------

my @old = $t->nginx_workers;
is(scalar @old, 2, 'two nginx worker processes');
$t0 = time;
$t->reload_nginx;
ok($w->pump(3, sub { $w->answered == @pa + 500 }), 'reload: every waiting request answered');
is(scalar $w->with_status(204), 500, 'with 204');
ok(time - $t0 < 3, 'right away');
ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 3), 'the old worker processes exit promptly');
ok($t->wait_nginx_redis, 'the new ones connect');

# ---- nginx stops with waiting requests -------------------------------------------------

ok($t->wait_for(sub {
       (() = $t->redis('CLIENT', 'LIST') =~ /name=ota-nginx-wait-\d+/g) == 2 }, 10),
   'the new worker processes subscribe');
$w = OtaWait->new($t->port);
$w->add($_, $tok{$_}, '?wait=30') for @pb[0 .. 19];
ok($t->wait_for(sub { waiting() == 20 }, 5), '20 requests wait');
my $master = $t->nginx_pid;
kill 'TERM', $master;                           # nginx -s stop
ok($w->pump(3, sub { $w->answered == 20 }), 'stop: every waiting request answered');
is(scalar $w->with_status(204), 20, 'with 204');
$t->wait_for(sub { !kill 0, $master }, 5);
$t->{nginx_up} = 0;
$t->stop;

done_testing;
