# Bad messages on the device topics (docs/mqtt.md, "Bad messages"): each is
# dropped with one bridge log line, counted by reason in Redis and in the
# admin API's metrics, and nothing else changes in Redis.  The same checks
# as the HTTP API's bodies (include/ota_request.c), plus the device and
# module lookups; a topic naming a device that is not in the product
# (published by the bridge's trusted user, since the ACL stops devices)
# is dropped too.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Time::HiRes qw(sleep);

my $t = OtaTest->new;
my $m = OtaMqtt->new($t);
my $events = OtaTest::key('OTA_STREAM_EVENTS');

my ($prod, $dev) = ('valve', 'v-1');
my $secret = $t->fx_device($dev, $prod);
$t->fx_module($prod, 'MCU');
$t->fx_device('x-1', 'other');
my $pkg = $t->fx_package(id => 'valve-MCU-1_1_0', product => $prod, module => 'MCU',
                         version => '1.1.0');
$t->fx_batch(id => 'b-bad', package => $pkg, devices => [$dev]);
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'b-bad'), push => 1);

my $inf = "/ota/device/inform/$prod/$dev";
my $prg = "/ota/device/progress/$prod/$dev";
my $get = "/sys/$prod/$dev/thing/ota/firmware/get";
my $reply = $m->sub($dev, $prod, $secret, ["/sys/$prod/$dev/thing/ota/firmware/get_reply",
                                           "/ota/device/upgrade/$prod/$dev"]);

my @bad = (
    [$inf, '{"id":"1","params":', 'malformed_json', 'not JSON'],
    [$inf, '', 'malformed_json', 'an empty payload'],
    [$inf, '[1,2]', 'bad_payload', 'not an object'],
    [$inf, '{"id":"1","params":"x"}', 'bad_payload', 'params not an object'],
    [$inf, '{"id":1.5,"params":{"version":"1.0.0"}}', 'bad_payload', 'an id that is a float'],
    [$inf, '{"id":"1","params":{"version":"1.0"}}', 'bad_version', 'version 1.0'],
    [$inf, '{"id":"1","params":{"version":"01.0.0"}}', 'bad_version', 'a leading zero'],
    [$inf, '{"id":"1","params":{"version":"1.0.1000000"}}', 'bad_version', 'a part over 999999'],
    [$inf, '{"id":"1","params":{"module":"MCU"}}', 'bad_version', 'no version'],
    [$inf, '{"id":"1","params":{"version":"1.0.0","module":"a b"}}', 'bad_module', 'an invalid module name'],
    [$inf, '{"id":"1","params":{"version":"1.0.0","module":"NOPE"}}', 'unknown_module', 'a module the product lacks'],
    [$prg, '{"id":"1","params":{"step":"101"}}', 'bad_step', 'step 101'],
    [$prg, '{"id":"1","params":{"step":-5}}', 'bad_step', 'step -5'],
    [$prg, '{"id":"1","params":{"step":"2x"}}', 'bad_step', 'step "2x"'],
    [$prg, '{"id":"1","params":{"desc":"x"}}', 'bad_step', 'no step'],
    [$prg, '{"id":"1","params":{"step":"1","desc":"' . ('d' x 129) . '"}}', 'bad_desc', 'desc of 129 characters'],
    [$prg, '{"id":"1","params":{"step":"1","module":"NOPE"}}', 'unknown_module', 'progress of an unknown module'],
    [$get, '{"id":"1","method":"thing.ota.firmware.set"}', 'bad_payload', 'another method'],
    [$get, '{"id":"1","params":{"module":"NOPE"}}', 'unknown_module', 'firmware/get of an unknown module'],
    [$inf, '{"id":"1","params":{"version":"1.0.0","pad":"' . ('p' x 17000) . '"}}', 'too_large', 'over 16 KiB'],
);

# by the bridge's user, which may publish anywhere: a device that is not
# in the product of the topic
my @trusted = (
    ["/ota/device/inform/$prod/ghost-1", '{"params":{"version":"1.0.0"}}', 'unknown_device', 'a device that does not exist'],
    ["/ota/device/inform/$prod/x-1", '{"params":{"version":"1.0.0"}}', 'unknown_device', "a device of another product"],
    ["/sys/$prod/x-1/thing/ota/firmware/get", '{"id":"1"}', 'unknown_device', "firmware/get naming another product's device"],
);

my $skip = qr/^ota:(mqtt:|notices$)/;
my $snap = $t->redis_snapshot;
my $xlen = $t->redis(XLEN => $events);
my %want;

for my $b (@bad) {
    my ($rc, undef, $err) = $m->pub($dev, $prod, $secret, $b->[0], $b->[1]);
    is($rc, 0, "published: $b->[3]") or diag($err);
    $want{ $b->[2] }++;
}
for my $b (@trusted) {
    my ($rc, undef, $err) = $m->pub(undef, undef, undef, $b->[0], $b->[1], bridge_user => 1);
    is($rc, 0, "published by the bridge's user: $b->[3]") or diag($err);
    $want{ $b->[2] }++;
}

my $total = @bad + @trusted;
ok($t->wait_for(sub {
    my $d = $m->dropped; my $n = 0; $n += $_ for values %$d; $n == $total }, 10),
   "all $total counted as dropped");
is_deeply($m->dropped, \%want, 'counted by reason');

# a drop for a lookup (unknown_device, unknown_module) is counted by
# bridge.lua in Redis and logged when its answer is back in the bridge:
# the last line may come just after the counts
my $drops = sub { my @l = $m->bridge_log =~ /^.*dropped a message on .*$/mg; scalar @l };
$t->wait_for(sub { $drops->() >= $total }, 10);
is($drops->(), $total, 'one log line each');
like($m->bridge_log, qr/dropped a message on "\Q$inf\E": bad_version: "version" must be X\.Y\.Z/,
     'the line says why');

is($t->redis(XLEN => $events), $xlen, 'no event');
my $now = $t->redis_snapshot;
my @changed = grep { $_ !~ $skip && ($snap->{$_} // '') ne ($now->{$_} // '') }
              keys %{ { %$snap, %$now } };
is_deeply(\@changed, [], 'nothing else in Redis changed');
is(scalar($m->lines($reply)), 0, 'no answer and no notice for a dropped message');

my $met = $t->http(GET => '/ota/admin/metrics',
                   headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{content};
for my $why (sort keys %want) {
    like($met, qr/^ota_mqtt_dropped_total\{reason="$why"\} $want{$why}$/m,
         "metrics: ota_mqtt_dropped_total{reason=\"$why\"} $want{$why}");
}
like($met, qr/^# TYPE ota_mqtt_dropped_total counter$/m, 'a Prometheus counter');

# a label that is not a short word never reaches the metrics
$t->redis(HSET => OtaTest::key('OTA_KEY_MQTT_DROPPED'), 'x"} 1', 5);
$met = $t->http(GET => '/ota/admin/metrics',
                headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{content};
unlike($met, qr/x"\}/, 'a forged reason is left out of the metrics');

# the bridge goes on
my ($rc) = $m->pub($dev, $prod, $secret, $inf, '{"id":"2","params":{"version":"1.0.0","module":"MCU"}}');
ok($t->wait_for(sub { $t->redis(XLEN => $events) == $xlen + 2 }), 'a good inform afterwards: stored (inform, notified)');
ok($m->wait_lines($reply, 1), 'and its push notice delivered');

$m->stop;
$t->stop;
done_testing();
