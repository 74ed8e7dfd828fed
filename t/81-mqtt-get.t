# firmware/get over MQTT, with and without a task, and the offers' shapes:
# a device asks on /sys/<p>/<d>/thing/ota/firmware/get and is answered on
# .../get_reply with {"id","code":200,"data":{...}} ("data":{} when there is
# nothing to do); an MD5 diff of two files carries md5, isDiff and files;
# a device with an open task of a push batch that comes online (informs)
# is handed the notice it missed.  Fixtures are written per
# docs/redis-schema.md, so the answers are checked against known records.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Digest::MD5 qw(md5_hex);
use JSON::PP;

my $t = OtaTest->new;
my $m = OtaMqtt->new($t);
my $events = OtaTest::key('OTA_STREAM_EVENTS');

my ($prod, $dev, $dev2) = ('meter', 'm-1', 'm-2');
my $secret = $t->fx_device($dev, $prod);
my $secret2 = $t->fx_device($dev2, $prod);
$t->fx_module($prod, 'MCU');

my $get = "/sys/$prod/$dev/thing/ota/firmware/get";
my $reply = "/sys/$prod/$dev/thing/ota/firmware/get_reply";

my $s = $m->sub($dev, $prod, $secret, $reply);

# ---- nothing to do ------------------------------------------------------------------

my ($rc, undef, $err) = $m->pub($dev, $prod, $secret, $get,
    '{"id":"123","version":"1.0","params":{"module":"MCU"},"method":"thing.ota.firmware.get"}');
is($rc, 0, 'firmware/get published') or diag($err);
ok($m->wait_lines($s, 1), 'answered');
my ($topic, $r) = @{ ($m->lines($s))[0] };
is($topic, $reply, 'on get_reply');
is_deeply($r, { id => '123', code => 200, data => {} }, 'no task: "data":{}');

# ---- a task: an MD5 diff of two files ------------------------------------------------

my $pkg = $t->fx_package(id => 'meter-MCU-2_0_0', product => $prod, module => 'MCU',
                         version => '2.0.0', type => 'diff', from => '1.0.0',
                         sign_method => 'md5', ext => { channel => 'beta' },
                         files => [['a.bin', 'a' x 3000], ['b.bin', 'b' x 500]]);
my $batch = $t->fx_batch(id => 'b-get', package => $pkg, devices => [$dev, $dev2],
                         tasks => { $dev => { from => '1.0.0' } });

my $xlen = $t->redis(XLEN => $events);
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":7,"params":{"module":"MCU"}}');
is($rc, 0, 'firmware/get with a task');
ok($m->wait_lines($s, 2), 'answered');
$r = ($m->lines($s))[1][1];
is($r->{id}, 7, 'an integer id echoed as an integer');
is($r->{code}, 200, 'code 200');
my $d = $r->{data};
is($d->{version}, '2.0.0', 'data.version');
is($d->{signMethod}, 'Md5', 'signMethod Md5');
is($d->{md5}, md5_hex('a' x 3000), 'md5: the first file');
is($d->{sign}, $d->{md5}, 'sign too');
is($d->{isDiff}, 1, 'isDiff 1');
is($d->{size}, 3000, 'size: the first file');
is($d->{module}, 'MCU', 'module');
is_deeply($d->{extData}, { channel => 'beta', batch => 'b-get' }, 'extData');
is(scalar @{ $d->{files} // [] }, 2, 'files: both');
is($d->{files}[1]{name}, 'b.bin', 'with their names');
like($d->{files}[1]{url}, qr{/ota/v1/packages/meter-MCU-2_0_0/b\.bin\?device=m-1&expires=\d+&signature=}, 'and links');
my ($exp, $sig) = $d->{url} =~ /expires=(\d+)&signature=([0-9a-f]{64})$/;
is($sig, $t->link_sign($pkg->{id}, $dev, $exp), 'the link is signed as nginx signs it');

is($t->redis(XLEN => $events), $xlen + 1, 'one event: notified');
my %e = @{ $t->redis(XRANGE => $events, '-', '+')->[-1][1] };
delete $e{ts};
is_deeply(\%e, { type => 'notified', device => $dev, module => 'MCU',
                 batch => 'b-get', package => $pkg->{id} },
          'the notified event of the HTTP answer');

my $dl = $t->http(GET => $d->{url});
is($dl->{status}, 200, 'nginx serves the link');
is($dl->{content}, 'a' x 3000, 'the first file');

# (the download appends its own event)
ok($t->wait_for(sub { grep { my %f = @{ $_->[1] }; $f{type} eq 'download' }
                      @{ $t->redis(XRANGE => $events, '-', '+') } }), 'the download counted');

# a task already notified: answered again, no new event
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_STATE', $batch), $dev, 'notified');
$xlen = $t->redis(XLEN => $events);
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"8"}');
ok($m->wait_lines($s, 3), 'asked again (no params: module default)');
is_deeply(($m->lines($s))[2][1]{data}, {}, 'module default has no task: data {}');
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"9","params":{"module":"MCU"}}');
ok($m->wait_lines($s, 4), 'asked again for MCU');
is(($m->lines($s))[3][1]{data}{version}, '2.0.0', 'the offer again');
is($t->redis(XLEN => $events), $xlen, 'no second notified event');

# a paused batch hands out nothing
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', $batch), state => 'paused');
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"10","params":{"module":"MCU"}}');
ok($m->wait_lines($s, 5), 'asked while paused');
is_deeply(($m->lines($s))[4][1], { id => '10', code => 200, data => {} }, 'paused: data {}');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', $batch), state => 'running');

# an unknown module is a bad message: dropped, no answer
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"11","params":{"module":"NOPE"}}');
ok($t->wait_for(sub { ($m->dropped->{unknown_module} // 0) == 1 }), 'unknown module dropped and counted');
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"12"}');
ok($m->wait_lines($s, 6), 'the next request is answered');
is(($m->lines($s))[5][1]{id}, '12', 'and the dropped one never was');

# a rollout's wave not yet open for the device: its pending task is not
# offered, as over HTTP (docs/rollouts.md)
my $bk = OtaTest::key('OTA_KEY_BATCH', $batch);
$t->redis(HDEL => OtaTest::key('OTA_KEY_BATCH_STATE', $batch), $dev);
$t->redis(HSET => $bk, wave_upto => 0);
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"13","params":{"module":"MCU"}}');
ok($m->wait_lines($s, 7), 'asked before its wave opened');
is_deeply(($m->lines($s))[6][1], { id => '13', code => 200, data => {} },
          'its wave not open: data {}');
$t->redis(HSET => $bk, wave_upto => 2);
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"14","params":{"module":"MCU"}}');
ok($m->wait_lines($s, 8), 'asked once its wave opened');
is(($m->lines($s))[7][1]{data}{version}, '2.0.0', 'its wave open: the offer');
$t->redis(HDEL => $bk, 'wave_upto');

# a rollout's rate (offers per minute, across nodes and channels): the
# minute is full when another device took its one place
my $offers = OtaTest::key('OTA_KEY_BATCH_OFFERS', $batch);
$t->redis(HSET => $bk, rate => 1);
$t->redis(ZADD => $offers, int(Time::HiRes::time() * 1000), 'm-other');
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"15","params":{"module":"MCU"}}');
ok($m->wait_lines($s, 9), 'asked while the minute is full');
is_deeply(($m->lines($s))[8][1], { id => '15', code => 200, data => {} },
          'over the rate: data {}');
is($t->redis(ZSCORE => $offers, $dev), undef, '  and not charged');
$t->redis(ZREM => $offers, 'm-other');
($rc) = $m->pub($dev, $prod, $secret, $get, '{"id":"16","params":{"module":"MCU"}}');
ok($m->wait_lines($s, 10), 'asked once the minute has room');
is(($m->lines($s))[9][1]{data}{version}, '2.0.0', 'within the rate: the offer');
ok(defined $t->redis(ZSCORE => $offers, $dev), '  charged to the minute the HTTP answer charges');
$t->redis(HDEL => $bk, 'rate');
$t->redis(DEL => $offers);

# ---- a device that missed a push notice gets it when it informs -----------------

$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', $batch), push => 1);
my $s2 = $m->sub($dev2, $prod, $secret2, "/ota/device/upgrade/$prod/$dev2");
($rc) = $m->pub($dev2, $prod, $secret2, "/ota/device/inform/$prod/$dev2",
                '{"id":"1","params":{"version":"1.0.0","module":"MCU"}}');
ok($m->wait_lines($s2, 1), 'informing with an open push task brings the notice');
is(($m->lines($s2))[0][1]{data}{version}, '2.0.0', 'the notice of its task');
my @types = map { my %f = @{ $_->[1] }; $f{device} eq $dev2 ? $f{type} : () }
            @{ $t->redis(XRANGE => $events, '-', '+') };
is("@types", 'inform notified', 'events: the inform, then notified');

# informing again (a reconnect) brings it again: this report is stored
# without the script (the bridge knows the device and the module now) and
# its open task looked up after
($rc) = $m->pub($dev2, $prod, $secret2, "/ota/device/inform/$prod/$dev2",
                '{"id":"1b","params":{"version":"1.0.0","module":"MCU"}}');
ok($m->wait_lines($s2, 2), 'a second inform of the source version: the notice again');
is(($m->lines($s2))[1][1]{data}{version}, '2.0.0', 'the same offer');

# reporting the target version brings no notice
$xlen = $t->redis(XLEN => $events);
($rc) = $m->pub($dev2, $prod, $secret2, "/ota/device/inform/$prod/$dev2",
                '{"id":"2","params":{"version":"2.0.0","module":"MCU"}}');
ok($t->wait_for(sub { $t->redis(XLEN => $events) == $xlen + 1 }), 'the inform of 2.0.0 stored');
Time::HiRes::sleep(0.3);
is(scalar($m->lines($s2)), 2, 'the target version reported: no further notice');

# ---- the offer follows the device's version (docs/delta.md) ---------------------
# a full package with a diff from 2.0.0 in its index: a device that
# reported 2.0.0 is offered the diff with the full package as fallback,
# one at another version the full package alone, as over HTTP

my ($dev3, $dev4) = ('m-3', 'm-4');
my $secret3 = $t->fx_device($dev3, $prod);
my $secret4 = $t->fx_device($dev4, $prod);
$t->fx_module($prod, 'DSP');
my $full = $t->fx_package(id => 'meter-DSP-3_0_0', product => $prod, module => 'DSP',
                          version => '3.0.0', files => [['dsp.bin', 'f' x 4000]]);
my $dpk = $t->fx_package(id => 'meter-DSP-2_0_0-3_0_0', product => $prod, module => 'DSP',
                         version => '3.0.0', type => 'diff', from => '2.0.0',
                         files => [['dsp.bin.zst', 'd' x 300]]);
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', $full->{id}), '2.0.0', $dpk->{id});
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $dev3), 'DSP', '2.0.0');
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $dev4), 'DSP', '1.5.0');
$t->fx_batch(id => 'b-dsp', package => $full, devices => [$dev3, $dev4],
             tasks => { $dev3 => { from => '2.0.0' }, $dev4 => { from => '1.5.0' } });
my %got;
for my $x ([$dev3, $secret3], [$dev4, $secret4]) {
    my ($dv, $sc) = @$x;
    my $sx = $m->sub($dv, $prod, $sc, "/sys/$prod/$dv/thing/ota/firmware/get_reply");
    ($rc) = $m->pub($dv, $prod, $sc, "/sys/$prod/$dv/thing/ota/firmware/get",
                    '{"id":"d1","params":{"module":"DSP"}}');
    ok($m->wait_lines($sx, 1), "$dv: firmware/get answered");
    $got{$dv} = ($m->lines($sx))[0][1]{data} // {};
}
$d = $got{$dev3};
is("$d->{isDiff} $d->{size}", '1 300', 'at 2.0.0: the diff');
like($d->{url} // '', qr{/packages/\Q$dpk->{id}\E\?device=m-3&}, '  its link');
is($d->{fallback}{size}, 4000, '  the full package as fallback');
like($d->{fallback}{url} // '', qr{/packages/\Q$full->{id}\E\?device=m-3&}, '  with its link');
is($d->{fallback}{sign}, $full->{files}[0]{sign}, '  and its digest');
%e = map { @{ $_->[1] } } grep { my %f = @{ $_->[1] }; $f{device} eq $dev3 }
     @{ $t->redis(XRANGE => $events, '-', '+') };
is($e{package}, $dpk->{id}, '  the notified event names the diff');
$d = $got{$dev4};
is("$d->{isDiff} $d->{size}", '0 4000', 'at 1.5.0 (no diff): the full package');
ok(!exists $d->{fallback}, '  no fallback');
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', $dpk->{id}), state => 'verifying');
my $sy = $m->sub($dev3, $prod, $secret3, "/sys/$prod/$dev3/thing/ota/firmware/get_reply");
($rc) = $m->pub($dev3, $prod, $secret3, "/sys/$prod/$dev3/thing/ota/firmware/get",
                '{"id":"d2","params":{"module":"DSP"}}');
ok($m->wait_lines($sy, 1), 'asked again while the diff is being verified');
is(($m->lines($sy))[0][1]{data}{isDiff}, 0, '  a diff not ready: the full package');

$m->stop;
$t->stop;
done_testing();
