# Configuration of the MQTT channel: ota-mqtt refuses bad flags and config
# lines with a one-line reason and exit 2, reads conf/ota-mqtt.conf; the
# broker refuses to start with bad plugin options and says why; the
# example conf/mosquitto.conf starts with the plugin once its paths and
# ports are filled in (as conf/demo.sh does).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Time::HiRes qw(sleep);

my $t = OtaTest->new(no_nginx => 1);
my $bridge = "$OtaTest::BUILD/ota-mqtt";
my @ok = ('--redis', $t->redis_addr, '--mqtt', '127.0.0.1:1', '--mqtt-user', 'u',
          '--mqtt-password', 'p', '--token-secret', 'x' x 20,
          '--public-url', 'http://127.0.0.1:8080');

sub bridge_fails {
    my ($why, $msg, @args) = @_;
    my ($rc, $out, $err) = $t->run_cmd({}, $bridge, @args);
    is($rc, 2, "ota-mqtt exits 2: $why");
    like($err, qr/\Q$msg\E/, "  and says: $msg");
}

my @no_redis = @ok[2 .. $#ok];
bridge_fails('no --redis', '--redis is required', @no_redis);
bridge_fails('a bad Redis address', 'invalid Redis address "localhost:x"', @ok, '--redis', 'localhost:x');
bridge_fails('a bad word in the Redis address', 'db=', @ok, '--redis',
             $t->redis_addr . ' db=x');
bridge_fails('a Sentinel address without its master', 'master=', @ok, '--redis',
             'sentinel=127.0.0.1:26379');
bridge_fails('no broker', '--mqtt HOST:PORT is required', @ok[0, 1], @ok[4 .. $#ok]);
bridge_fails('a bad broker address', 'invalid broker address', @ok, '--mqtt', 'nowhere');
bridge_fails('a short token secret', 'the token secret must be 16 characters',
             @ok, '--token-secret', 'short');
bridge_fails('a public URL that is not http(s)', 'invalid public URL',
             @ok, '--public-url', 'ftp://example.com');
bridge_fails('a bad link ttl', 'invalid link ttl', @ok, '--link-ttl', '5');
bridge_fails('a share group with a slash', 'invalid share group', @ok, '--share', 'a/b');
bridge_fails('an unknown flag', 'usage: ota-mqtt', @ok, '--nope');

my $cf = $t->dir . '/bad.conf';
OtaTest::write_file($cf, "redis 127.0.0.1:6379\nmqtt 127.0.0.1:1883\nfrobnicate 3\n");
bridge_fails('an unknown setting in the file', "$cf:3: unknown setting \"frobnicate\"",
             '--config', $cf);

my ($rc, $out, $err) = $t->run_cmd({}, $bridge, '--config', "$OtaTest::ROOT/conf/ota-mqtt.conf",
                                   '--help');
is($rc, 0, 'conf/ota-mqtt.conf is read without complaint') or diag($err);

# ---- the plugin's options ---------------------------------------------------------

sub broker_fails {
    my ($why, $msg, $conf) = @_;
    my $m = OtaMqtt->new($t, no_broker => 1);
    OtaTest::write_file($m->dir . '/bad.conf', "listener @{[ $m->port ]} 127.0.0.1\n"
        . ($> == 0 ? "user root\n" : '')
        . "log_dest stderr\nplugin $OtaTest::BUILD/ota_mqtt_auth.so\n$conf");
    my ($rc, $out, $err) = $t->run_cmd({}, 'timeout', '5', 'mosquitto', '-c', $m->dir . '/bad.conf');
    ok($rc != 0 && $rc != 124, "mosquitto refuses to start: $why");
    like("$out$err", qr/\Q$msg\E/, "  and logs: $msg");
}

broker_fails('no plugin_opt_redis', 'plugin_opt_redis is missing', '');
broker_fails('a bad Redis address', 'plugin_opt_redis: invalid Redis',
             "plugin_opt_redis nowhere\n");
broker_fails('a bad word in the Redis address', 'plugin_opt_redis: invalid',
             "plugin_opt_redis 127.0.0.1:1 db=x\n");
broker_fails('a Redis host name (a blocking lookup)', 'give an IP address or unix:/path',
             "plugin_opt_redis redis.example.com:6379\n");
broker_fails('a bad auth window', 'plugin_opt_auth_window "0" is invalid',
             "plugin_opt_redis 127.0.0.1:1\nplugin_opt_auth_window 0\n");
broker_fails('a short bridge password', 'plugin_opt_bridge_password (16 characters or more)',
             "plugin_opt_redis 127.0.0.1:1\nplugin_opt_bridge_user b\nplugin_opt_bridge_password short\n");

# ---- the one Redis address syntax (include/ota_addr.h) in both --------------------
# plugin_opt_redis and --redis take the words of nginx's ota_redis: with db=1
# the plugin finds devices in database 1 only, and the bridge writes there

{
    my $addr = $t->redis_addr . ' db=1';
    my $m = OtaMqtt->new($t, redis => $addr, no_bridge => 1);
    $m->start_bridge(redis => $addr);
    my $secret = $t->fx_device('d-db', 'p-db');
    my $report = '{"id":"1","params":{"version":"1.0.0"}}';
    my ($rc) = $m->pub('d-db', 'p-db', $secret, '/ota/device/inform/p-db/d-db', $report);
    isnt($rc, 0, 'plugin_opt_redis "ADDR db=1": a device of database 0 is refused');
    for my $k (OtaTest::key('OTA_KEY_DEVICE', 'd-db'),
               OtaTest::key('OTA_KEY_PRODUCT_MODULES', 'p-db')) {
        $t->redis(MOVE => $k, 1);
    }
    ($rc, undef, $err) = $m->pub('d-db', 'p-db', $secret, '/ota/device/inform/p-db/d-db',
                                 $report);
    is($rc, 0, '  and the same device moved to database 1 logs in') or diag($err);
    my $events = OtaTest::key('OTA_STREAM_EVENTS');
    $t->redis(SELECT => 1);
    my $ok = $t->wait_for(sub { ($t->redis(XLEN => $events) // 0) == 1 }, 5);
    $t->redis(SELECT => 0);
    ok($ok, '--redis "ADDR db=1": the bridge stored its report in database 1')
        or diag($m->bridge_log);
    is($t->redis(XLEN => $events) // 0, 0, '  and nothing in database 0');
    $m->stop;
}

# ---- conf/mosquitto.conf as the demo fills it in ---------------------------------------

my $m = OtaMqtt->new($t, no_broker => 1);
my $conf = OtaTest::read_file("$OtaTest::ROOT/conf/mosquitto.conf");
my $d = $m->dir;
my $port = $m->port;
my $rport = $t->{redis_port};
$conf =~ s/^listener 1883 /listener $port /m;
$conf =~ s{/var/lib/mosquitto/}{$d/}g;
$conf =~ s{/var/log/mosquitto/mosquitto\.log}{$d/mosquitto.log}g;
$conf =~ s{/usr/lib/ota/}{$OtaTest::BUILD/}g;
$conf =~ s/127\.0\.0\.1:6379/127.0.0.1:$rport/;
$conf .= "\nuser root\n" if $> == 0;
is(scalar(() = $conf =~ /$port|\Q$d\E|\Q$OtaTest::BUILD\E|$rport/g) >= 5, 1,
   'conf/mosquitto.conf has the places the demo fills in');
OtaTest::write_file("$d/mosquitto.conf", $conf);
$m->{broker_extra} = '';
{
    no warnings 'redefine';
    local *OtaMqtt::broker_conf = sub { $conf };
    $m->start_broker;
}
my $secret = $t->fx_device('d-1', 'p-1');
($rc, undef, $err) = $m->pub('d-1', 'p-1', $secret, '/ota/device/inform/p-1/d-1',
                             '{"params":{"version":"1.0.0"}}');
is($rc, 0, 'the example broker configuration logs a device in') or diag($err);
($rc, undef, $err) = $m->pub('d-1', 'p-1', $secret, '/ota/device/inform/p-1/d-1',
                             '{"params":{"version":"1.0.0"}}', anonymous => 1);
isnt($rc, 0, 'and refuses anonymous clients');
$m->stop;

$t->stop;
done_testing();
