# A whole SagooIOT session over MQTT, against real processes: Redis, nginx
# with the module, ota-worker, mosquitto with ota_mqtt_auth.so, ota-mqtt.
# The device (mosquitto_sub / mosquitto_pub, logged in the Alibaba way)
#   subscribes to its upgrade topic -> informs 1.0.0 -> is pushed the notice
#   of a push batch -> downloads the signed url over HTTP with a resume ->
#   reports progress -> informs the new version: the task succeeds, counted
#   once, and the channel is the worker's business no more than HTTP is.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Digest::SHA qw(sha256_hex);
use JSON::PP;

my $t = OtaTest->new(worker => 1, http_extra => 'ota_progress_interval 200ms;');
my $m = OtaMqtt->new($t);
my $events = OtaTest::key('OTA_STREAM_EVENTS');

my ($rc, $out, $err) = $t->otactl(qw(device add car-0001 --product sedan));
is($rc, 0, 'otactl device add') or diag($err);
my ($secret) = $out =~ /([0-9a-f]{64})/;
($rc, undef, $err) = $t->otactl(qw(module add MCU --product sedan));
is($rc, 0, 'otactl module add') or diag($err);

my $fw = join '', map { pack('N', $_ * 2654435761 % 4294967296) } 1 .. 100_000;   # 400 KB
my $file = $t->dir . '/mcu-1.1.0.bin';
OtaTest::write_file($file, $fw);
($rc, $out, $err) = $t->otactl('package', 'add', $file, qw(--product sedan --module MCU
                               --name mcu-fw --version 1.1.0 --sign sha256 --ext region=eu));
is($rc, 0, 'otactl package add') or diag($err);
my ($pkg) = $out =~ /^(\S+)\s*$/m;

my ($dev, $prod) = ('car-0001', 'sedan');
my $up = "/ota/device/upgrade/$prod/$dev";

# ---- the device comes online: subscribes, reports its version -----------------

my $s = $m->sub($dev, $prod, $secret, $up);
is($m->sub_err($s), '', 'the device is logged in and subscribed');

($rc, undef, $err) = $m->pub($dev, $prod, $secret, "/ota/device/inform/$prod/$dev",
                             '{"id":"123","params":{"version":"1.0.0","module":"MCU"}}');
is($rc, 0, 'inform 1.0.0 published') or diag($err);
my $v = $t->wait_for(sub {
    $t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $dev), 'MCU') });
is($v, '1.0.0', 'the worker recorded the version reported over MQTT');

my %ev = @{ $t->redis(XRANGE => $events, '-', '+')->[-1][1] };
delete $ev{ts};
is_deeply(\%ev, { type => 'inform', device => $dev, product => $prod,
                  module => 'MCU', version => '1.0.0' },
          'the inform event has the HTTP API fields exactly');

# ---- a push batch: the notice reaches the device ------------------------------

($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
                               qw(--type upgrade --name mqtt-rollout --protocol mqtt --push));
is($rc, 0, 'otactl batch create --push') or diag($err);
my ($batch) = $out =~ /^(\S+)\s*$/m;

ok($m->wait_lines($s, 1), 'the device got the upgrade notice');
my ($topic, $n) = @{ ($m->lines($s))[0] };
is($topic, $up, 'on its upgrade topic');
is($n->{code}, '200', 'code "200"');
is($n->{message}, 'success', 'message success');
like($n->{id}, qr/^\d{13}$/, 'id: ms');
my $d = $n->{data};
is($d->{version}, '1.1.0', 'data.version');
is($d->{size}, length $fw, 'data.size');
is($d->{sign}, sha256_hex($fw), 'data.sign: SHA-256 of the file');
is($d->{signMethod}, 'SHA256', 'data.signMethod');
is($d->{module}, 'MCU', 'data.module');
is($d->{isDiff}, 0, 'data.isDiff');
is($d->{extData}{region}, 'eu', 'data.extData: custom values');
is($d->{extData}{batch}, $batch, 'data.extData.batch');
ok(!exists $d->{md5} && !exists $d->{files}, 'no md5, no files for one SHA-256 file');
like($d->{url}, qr{^\Q@{[ $t->base ]}\E/ota/v1/packages/\Q$pkg\E\?device=\Q$dev\E&expires=\d+&signature=[0-9a-f]{64}$},
     'data.url: a signed link to the nginx nodes');

my $st = $t->wait_for(sub { my $x = $t->task($dev, $batch)->{state}; $x eq 'notified' ? $x : 0 });
is($st, 'notified', 'handing out the notice moved the task to notified');

# the same fields as the HTTP answer's Alibaba names
my $tok = $t->device_token($dev, $prod, $secret);
my $h = $t->http(GET => '/ota/v1/upgrade?module=MCU',
                 headers => { Authorization => "Bearer $tok" })->{json};
is_deeply([ @$h{qw(version size sign signMethod module isDiff)} ],
          [ @$d{qw(version size sign signMethod module isDiff)} ],
          'HTTP and MQTT agree on the Alibaba fields');
is_deeply($h->{extData}, $d->{extData}, 'and on extData');

# ---- the download over HTTP, interrupted and resumed ---------------------------

my $dl = $t->dir . '/download.bin';
($rc, undef, $err) = $t->run_cmd({}, 'curl', '-sS', '-f', '-r', '0-149999', '-o', $dl, $d->{url});
is($rc, 0, 'first part of the signed url') or diag($err);
($rc, undef, $err) = $t->run_cmd({}, 'curl', '-sS', '-f', '-C', '-', '-o', $dl, $d->{url});
is($rc, 0, 'curl -C - resumes') or diag($err);
is(sha256_hex(OtaTest::read_file($dl)), $d->{sign}, 'the file matches data.sign');
$st = $t->wait_for(sub { my $x = $t->task($dev, $batch)->{state}; $x eq 'downloaded' ? $x : 0 });
is($st, 'downloaded', 'every byte delivered: downloaded');

# ---- progress and the new version over MQTT --------------------------------------

($rc) = $m->pub($dev, $prod, $secret, "/ota/device/progress/$prod/$dev",
                '{"id":"124","params":{"step":"60","desc":"flashing","module":"MCU"}}');
is($rc, 0, 'progress 60 published');
$st = $t->wait_for(sub { my $x = $t->task($dev, $batch); $x->{state} eq 'installing' ? $x : 0 });
is($st && $st->{step}, 60, 'installing, step 60');
is($st && $st->{desc}, 'flashing', 'with its desc');

($rc) = $m->pub($dev, $prod, $secret, "/ota/device/inform/$prod/$dev",
                '{"id":"125","params":{"version":"1.1.0","module":"MCU"}}');
is($rc, 0, 'inform 1.1.0 published');
$st = $t->wait_for(sub { my $x = $t->task($dev, $batch)->{state}; $x eq 'succeeded' ? $x : 0 });
is($st, 'succeeded', 'the task succeeded');

# the same report again (a device that reconnects and informs): nothing moves
($rc) = $m->pub($dev, $prod, $secret, "/ota/device/inform/$prod/$dev",
                '{"id":"126","params":{"version":"1.1.0","module":"MCU"}}');
ok($t->wait_for(sub { $t->drained }), 'the worker drained the events');
my %c = %{ $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch)) };
is_deeply([ @c{qw(succeeded failed pending notified downloading downloaded installing)} ],
          [1, 0, 0, 0, 0, 0, 0], 'counted once: 1 succeeded, nothing else');
my $vd = $t->redis_hash(OtaTest::key('OTA_KEY_VERSION_DIST', $prod, 'MCU'));
is_deeply($vd, { '1.1.0' => 1 }, 'version distribution: one device at 1.1.0');
is(scalar($m->lines($s)), 1, 'no second notice: the task is over');

# ---- the metrics ----------------------------------------------------------------

my $met = $t->http(GET => '/ota/admin/metrics',
                   headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{content};
like($met, qr/^ota_mqtt_messages_total\{kind="inform"\} 3$/m, 'metrics: 3 informs over MQTT');
like($met, qr/^ota_mqtt_messages_total\{kind="progress"\} 1$/m, 'metrics: 1 progress');
like($met, qr/^ota_mqtt_messages_total\{kind="notice"\} 1$/m, 'metrics: 1 notice');
unlike($met, qr/^ota_mqtt_dropped_total\{/m, 'nothing dropped');

$m->stop;
$t->stop;
done_testing();
