# The per-device ACL of ota_mqtt_auth.so: a device publishes only its own
# three reports and subscribes only to its own two answers; another
# device's topics, wildcards, shared subscriptions, its own answer topics
# (forging a notice) and anything else are refused, and nothing reaches
# Redis.  The bridge's user may use every OTA topic.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Time::HiRes qw(sleep);

my $t = OtaTest->new(no_nginx => 1);
my $m = OtaMqtt->new($t);
my $events = OtaTest::key('OTA_STREAM_EVENTS');

my $prod = 'plug';
my %sec = map { $_ => $t->fx_device($_, $prod) } qw(plug-a plug-b);
my $sa = $sec{'plug-a'};

sub denied_sub {
    my ($topic, $why) = @_;
    my $before = length $m->broker_log;
    my $s = $m->sub('plug-a', $prod, $sa, $topic);
    ok($t->wait_for(sub { $m->sub_err($s) =~ /denied/ }, 5), "subscription refused: $why");
    like(substr($m->broker_log, $before),
         qr/ota_mqtt_auth: denied subscribe of "\Q$topic\E" to client plug-a\|/, '  logged');
    $m->stop_sub($s);
}

# the device's own topics work
my $own = $m->sub('plug-a', $prod, $sa, ['/ota/device/upgrade/plug/plug-a',
                                          '/sys/plug/plug-a/thing/ota/firmware/get_reply']);
is($m->sub_err($own), '', 'a device subscribes to its upgrade and get_reply topics');
my $b_sub = $m->sub(undef, undef, undef, '/ota/device/upgrade/plug/plug-b', bridge_user => 1);
my $watch = $m->sub(undef, undef, undef, ['/ota/device/#', '/sys/+/+/thing/ota/#'], bridge_user => 1);
is($m->sub_err($watch), '', "the bridge's user subscribes to every OTA topic");

denied_sub('/ota/device/upgrade/plug/plug-b', "another device's upgrade topic");
denied_sub('/sys/plug/plug-b/thing/ota/firmware/get_reply', "another device's get_reply");
denied_sub('/ota/device/upgrade/plug/+', 'a wildcard over the devices');
denied_sub('/ota/device/#', 'a wildcard over everything');
denied_sub('/ota/device/inform/plug/plug-a', 'its own reports (to read them)');
denied_sub('$share/g//ota/device/inform/+/+', 'a shared subscription');
denied_sub('$SYS/#', 'the broker topics');

# publishes: v5 so that mosquitto_pub hears the refusal
my $xlen = $t->redis(XLEN => $events);
my @bad = (
    ['/ota/device/inform/plug/plug-b', "another device's inform"],
    ['/ota/device/progress/plug/plug-b', "another device's progress"],
    ['/sys/plug/plug-b/thing/ota/firmware/get', "another device's firmware/get"],
    ['/ota/device/inform/other/plug-a', 'another product'],
    ['/ota/device/upgrade/plug/plug-a', 'a forged notice on its own upgrade topic'],
    ['/ota/device/upgrade/plug/plug-b', "a notice to another device"],
    ['/sys/plug/plug-a/thing/ota/firmware/get_reply', 'a forged get_reply'],
    ['/elsewhere', 'a topic that is none of ours'],
);
for my $b (@bad) {
    my $before = length $m->broker_log;
    my ($rc, $out, $err) = $m->pub('plug-a', $prod, $sa, $b->[0],
        '{"id":"1","params":{"version":"9.9.9"}}', protocol => 'mqttv5');
    like("$out$err", qr/not authori[sz]ed/i, "publish refused: $b->[1]");
    like(substr($m->broker_log, $before),
         qr/ota_mqtt_auth: denied publish of "\Q$b->[0]\E"/, '  logged');
}

# a retained report (the broker would hand it to every bridge again)
{
    my $before = length $m->broker_log;
    my ($rc, $out, $err) = $m->pub('plug-a', $prod, $sa, '/ota/device/inform/plug/plug-a',
        '{"id":"1","params":{"version":"9.9.9"}}', protocol => 'mqttv5', retain => 1);
    like("$out$err", qr/not authori[sz]ed/i, 'a retained report of its own is refused');
    like(substr($m->broker_log, $before), qr/denied retained publish/, '  logged');
}

# a report of its own goes through, after the refused ones
my ($rc) = $m->pub('plug-a', $prod, $sa, '/ota/device/inform/plug/plug-a',
                   '{"id":"2","params":{"version":"1.0.0"}}');
ok($t->wait_for(sub { $t->redis(XLEN => $events) == $xlen + 1 }), 'its own inform is stored');
sleep 0.3;
is($t->redis(XLEN => $events), $xlen + 1, 'and none of the refused ones');
my %e = @{ $t->redis(XRANGE => $events, '-', '+')->[-1][1] };
is("$e{device} $e{version}", 'plug-a 1.0.0', 'the one stored is its own');

is(scalar($m->lines($own)), 0, 'no forged notice reached the device');
is(scalar($m->lines($b_sub)), 0, 'nothing reached the other device');
my @seen = map { $_->[0] } $m->lines($watch);
is_deeply(\@seen, ['/ota/device/inform/plug/plug-a'],
          "the bridge's user saw only what was allowed through");

$m->stop;
$t->stop;
done_testing();
