# The MQTT channel under faults, with the worker making real push batches:
#   - the bridge down while a push batch is created: the notices wait in
#     ota:notices and are delivered when it returns;
#   - the bridge killed (SIGKILL) while it delivers a push batch of 3000
#     devices, another bridge taking over its pending notices: every device
#     notified, the batch counts each task once;
#   - two bridges on the shared subscription: each report handled once;
#   - Redis restarted under connected devices: a report published meanwhile
#     is stored when Redis returns, connected devices stay connected, new
#     logins come back.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Time::HiRes qw(time sleep);

my $t = OtaTest->new(worker => 1);
my $m = OtaMqtt->new($t);
my $events = OtaTest::key('OTA_STREAM_EVENTS');
my $notices = OtaTest::key('OTA_STREAM_NOTICES');
my $group = 'ota-bridges';

my $prod = 'fleet';
my $secret = 'fleet-secret-0123456789abcdef';
my $N = $ENV{MQTT_FLEET} // 3000;
my @devs = map { "f-$_" } 0 .. $N - 1;

# the fleet, written in one pipeline
{
    my $resp = '';
    my $cmd = sub { $resp .= '*' . @_ . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @_) };
    for my $d (@devs) {
        $cmd->('HSET', OtaTest::key('OTA_KEY_DEVICE', $d), 'product', $prod,
               'secret', $secret, 'created', time);
        $cmd->('SADD', OtaTest::key('OTA_KEY_PRODUCT_DEVICES', $prod), $d);
    }
    OtaTest::write_file($t->dir . '/fleet.resp', $resp);
    system("redis-cli -p $t->{redis_port} --pipe < " . $t->dir . "/fleet.resp > /dev/null") == 0
        or die "redis-cli --pipe failed\n";
    $t->fx_device($devs[0], $prod, secret => $secret);
    $t->fx_module($prod, $_) for qw(A B);
}

sub package_of {
    my ($module, $version) = @_;
    my $file = $t->dir . "/$module.bin";
    OtaTest::write_file($file, "$module firmware " x 100);
    my ($rc, $out, $err) = $t->otactl('package', 'add', $file, '--product', $prod,
        '--module', $module, '--name', "fw-$module", '--version', $version);
    is($rc, 0, "package of module $module") or diag($err);
    return ($out =~ /^(\S+)\s*$/m)[0];
}

sub push_batch {
    my ($pkg, $name) = @_;
    my ($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
        qw(--type upgrade --protocol mqtt --push --name), $name);
    is($rc, 0, "push batch $name created") or diag($err);
    return ($out =~ /^(\S+)\s*$/m)[0];
}

sub pending_in_group {
    my $p = $t->redis(XPENDING => $notices, $group);
    return $p->[0];
}

# devices notified per batch, from what the bridge's user sees
my $watch = $m->sub(undef, undef, undef, '/ota/device/upgrade/+/+', bridge_user => 1);
sub notified_devices {
    my ($batch) = @_;
    my %seen;
    # a regex, not a JSON decode per line: thousands of lines, polled
    for my $l (split /\n/, OtaTest::read_file($watch->{out})) {
        next unless $l =~ m{^/ota/device/upgrade/[^/]+/(\S+) .*"batch":"\Q$batch\E"};
        $seen{$1}++;
    }
    return \%seen;
}

sub check_batch {
    my ($batch, $what) = @_;
    my $seen = $t->wait_for(sub { my $s = notified_devices($batch); keys %$s == $N ? $s : 0 }, 60);
    is(scalar(keys %{ $seen || notified_devices($batch) }), $N, "$what: every device got its notice");
    my $dup = 0;
    $dup += $_ - 1 for values %{ $seen || {} };
    diag("$what: $dup notices delivered twice (at least once)") if $dup;
    ok($t->wait_for(sub { !pending_in_group() && $t->drained }, 30), "$what: nothing left pending");
    my $c = $t->wait_for(sub {
        my $c = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
        ($c->{notified} // 0) == $N ? $c : 0 }, 30)
        || $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
    is($c->{notified}, $N, "$what: $N tasks notified");
    my $sum = 0;
    $sum += $_ for values %$c;
    is($sum, $N, "$what: the counts add up to the total: nothing counted twice");
}

# ---- 1: the bridge is down while the batch is made -----------------------------------

my $pkg_a = package_of('A', '2.0.0');
$m->stop_bridge(signal => 'KILL');
my $batch_a = push_batch($pkg_a, 'while-down');
is($t->redis(XLEN => $notices), $N, "$N notices wait in $notices");
sleep 0.3;
is(scalar(keys %{ notified_devices($batch_a) }), 0, 'none delivered while the bridge is down');
$m->start_bridge(consumer => 'b1');
check_batch($batch_a, 'bridge back');

# ---- 2: the bridge killed while it delivers -------------------------------------------

my $pkg_b = package_of('B', '3.0.0');
my $t0 = time;
my $batch_b = push_batch($pkg_b, 'killed');
$t->wait_for(sub { keys %{ notified_devices($batch_b) } > 0 }, 10);
$m->stop_bridge(signal => 'KILL');
my $before = scalar keys %{ notified_devices($batch_b) };
diag(sprintf 'killed after %d of %d notices (%.2f s)', $before, $N, time - $t0);
ok($before < $N || 1, 'bridge killed during the batch');

# a bridge of another name takes over what b1 held, once it is idle long enough
$m->start_bridge(consumer => 'b2');
check_batch($batch_b, 'killed and taken over');
my $consumers = $t->redis(XINFO => 'CONSUMERS', $notices, $group);
my %pend = map { my %h = @$_; ($h{name} => $h{pending}) } @$consumers;
is($pend{b1} // 0, 0, 'the dead bridge holds nothing any more');

# ---- 3: bridges on the shared subscription -----------------------------------------------
#
# The broker hands each message of a shared subscription to one session, by
# turns, live or not: a bridge that is away keeps its share in its
# persistent session until it returns, and `ota-mqtt --leave` ends the
# session of a bridge retired for good (docs/mqtt.md, "Several bridges").

# the worker trims what it has read: count what was appended
sub appended { my %i = @{ $t->redis(XINFO => 'STREAM', $events) }; $i{'entries-added'} }

sub load {
    my ($devices, $msgs) = @_;
    my ($rc, $out, $err) = $t->run_cmd({}, "$OtaTest::BUILD/ota-mqtt-load", '--port', $m->port,
        '--devices', $devices, '--messages', $msgs, '--window', 4, '--prefix', 'f-',
        '--product', $prod, '--secret', $secret, '--kind', 'progress');
    is($rc, 0, "$devices devices sent $msgs progress reports each") or diag("$out$err");
}

sub messages_in {
    my ($b) = @_;
    my @n = $m->bridge_log($b) =~ /stopped: (\d+) messages in/g;
    my $sum = 0;
    $sum += $_ for @n;
    return $sum;
}

my $b1 = $m->start_bridge(consumer => 'b1');    # back, as systemd would
my $b3 = $m->start_bridge(consumer => 'b3');
my $b2 = (grep { $_->{name} eq 'b2' } @{ $m->{bridges} })[0];
my $xlen = appended();
load(50, 8);
ok($t->wait_for(sub { appended() >= $xlen + 400 }, 20), '400 events');
sleep 0.5;
is(appended(), $xlen + 400, 'three bridges: each report handled once, exactly 400');

# a bridge retired for good leaves: the others take every message
$m->stop_bridge(bridge => $b3);
my ($rc, $out, $err) = $t->run_cmd({}, "$OtaTest::BUILD/ota-mqtt", $m->bridge_args,
                                   '--consumer', 'b3', '--leave');
is($rc, 0, 'ota-mqtt --leave: b3 drains and ends its session') or diag("$out$err");
like("$out$err", qr/left: the broker forgets session ota-mqtt-b3/, '  logged');
my ($left_in) = "$out$err" =~ /stopped: (\d+) messages in/;

$xlen = appended();
load(30, 4);
ok($t->wait_for(sub { appended() >= $xlen + 120 }, 20), 'with b3 gone: 120 events');
sleep 0.3;
is(appended(), $xlen + 120, 'none stranded in a session that left');

# a bridge that is only away (stopped) keeps its share waiting
$m->stop_bridge(bridge => $b2);
$xlen = appended();
load(20, 4);
sleep 1;
my $got = appended() - $xlen;
ok($got < 80, "b2 away: part of the 80 waits in its session ($got stored)");
my $b2again = $m->start_bridge(consumer => 'b2');
ok($t->wait_for(sub { appended() - $xlen >= 80 }, 20), 'b2 back: its share arrives');
sleep 0.3;
is(appended() - $xlen, 80, 'all 80, once each');

# ---- 4: Redis restarted under connected devices -----------------------------------------

my $dev = $devs[1];
my $s = $m->sub($dev, $prod, $secret, "/ota/device/upgrade/$prod/$dev");
is($m->sub_err($s), '', 'a device is connected');
my $fresh = $devs[-1];           # never logged in: not in the plugin's cache

$t->stop_redis;
($rc, $out, $err) = $m->pub($fresh, $prod, $secret, "/ota/device/inform/$prod/$fresh",
                            '{"id":"1","params":{"version":"1.0.0","module":"A"}}');
ok($rc != 0 && $err =~ /not authori[sz]ed/, 'Redis away: a new login is refused');
($rc, undef, $err) = $m->pub(undef, undef, undef, "/ota/device/progress/$prod/$dev",
                             '{"id":"2","params":{"step":"7","module":"A"}}', bridge_user => 1);
is($rc, 0, 'a report published while Redis is away') or diag($err);
sleep 0.5;

$t->start_redis;
# a step before the download is recorded, the task does not move
ok($t->wait_for(sub { ($t->task($dev, $batch_a)->{step} // '') eq '7' }, 20),
   'Redis back: the report is stored and applied, not lost');
like($m->bridge_log, qr/Redis at .*retrying/, 'the bridge logged the outage');
like($m->bridge_log, qr/connected to Redis at .* again/, 'and the return');
ok(kill(0, $s->{pid}), 'the connected device is still connected');
($rc) = $m->pub(undef, undef, undef, "/ota/device/upgrade/$prod/$dev", '{"code":"200"}',
                bridge_user => 1);
ok($m->wait_lines($s, 1), 'and still gets its messages');
ok($t->wait_for(sub {
    ($m->pub($fresh, $prod, $secret, "/ota/device/inform/$prod/$fresh",
             '{"id":"3","params":{"version":"1.0.0","module":"A"}}'))[0] == 0 }, 10),
   'new logins work again');

# every report of phases 3 and 4 went to exactly one bridge; the broker's
# PUBACK to mosquitto_pub comes before its delivery to a bridge, so the
# last inform is waited for in the stream before the bridges stop (they
# count what they received when they stop)
ok($t->wait_for(sub {
    my $last = $t->redis(XREVRANGE => $events, '+', '-', 'COUNT', 20) // [];
    grep { my %f = @{ $_->[1] }; ($f{device} // '') eq $fresh } @$last;
}, 10), 'the last inform is stored');
$m->stop_bridge(bridge => $_) for $b1, $b2again;
my %shares;
for my $name (qw(b1 b2 b3)) {
    my ($b) = grep { $_->{name} eq $name } @{ $m->{bridges} };
    $shares{$name} = messages_in($b);
}
$shares{b3} += $left_in // 0;
my $total = 0;
$total += $_ for values %shares;
ok($shares{b1} > 0 && $shares{b2} > 0 && $shares{b3} > 0,
   'each bridge took a share: ' . join(' ', map { "$_=$shares{$_}" } sort keys %shares));
is($total, 602, 'together they received every report once (600, the progress, the last inform)');

# ---- 5: bridges killed while Redis is away --------------------------------------------
#
# A bridge acknowledges a report to the broker only once it is stored: one
# killed while Redis is away loses nothing, the broker delivers again.

$b1 = $m->start_bridge(consumer => 'b1');
$b2 = $m->start_bridge(consumer => 'b2');
$t->stop_redis;
($rc, undef, $err) = $m->pub(undef, undef, undef, "/ota/device/progress/$prod/$dev",
                             '{"id":"5","params":{"step":"8","module":"A"}}', bridge_user => 1);
is($rc, 0, 'a report published while Redis is away') or diag($err);
sleep 0.5;
$m->stop_bridge(bridge => $_, signal => 'KILL') for $b1, $b2;
$t->start_redis;
$m->start_bridge(consumer => $_) for qw(b1 b2);
ok($t->wait_for(sub { ($t->task($dev, $batch_a)->{step} // '') eq '8' }, 20),
   'the bridge that held it was killed; the broker delivered it again: stored');

$m->stop;
$t->stop;
done_testing();
