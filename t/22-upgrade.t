# GET /ota/v1/upgrade?module=<m>: the device's open task with the design's
# fields, the Alibaba/SagooIOT names and signed links; 204 when there is no
# open task of a running batch; a notified event while the task is pending.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Digest::SHA qw(sha256_hex);
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(time);

# the notified event is held in the process for up to one progress
# interval (docs/download.md, "The notified event"): a short one
my $t = OtaTest->new(http_extra => 'ota_link_ttl 900s; ota_progress_interval 200ms;');
my $events = OtaTest::key('OTA_STREAM_EVENTS');

my %sec = map { $_ => $t->fx_device($_, 'prodA') } qw(d1 d2 d3 d4 d5);
$t->fx_module('prodA', 'MCU');
my %tok = map { $_ => $t->device_token($_, 'prodA', $sec{$_}) } keys %sec;

my $fw1 = join '', map { chr(($_ * 7) % 256) } 1 .. 5000;
my $fw2 = 'second file ' x 100;
my $pkg = $t->fx_package(id => 'prodA-default-1_1_0', product => 'prodA',
                         module => 'default', version => '1.1.0',
                         files => [[ 'fw.bin' => $fw1 ], [ 'res.pack' => $fw2 ]],
                         ext => { key1 => 'value1', batch => 'custom' });
my $diff = $t->fx_package(id => 'prodA-MCU-2_0_0', product => 'prodA',
                          module => 'MCU', version => '2.0.0', type => 'diff',
                          from => '1.0.1', sign_method => 'md5',
                          files => [[ 'mcu.bin' => 'mcu' x 333 ]]);

$t->fx_batch(id => 'b1', package => $pkg, devices => [qw(d1 d2 d3)],
             tasks => { d2 => { state => 'downloading', from => '1.0.0' },
                        d3 => { state => 'succeeded' } });
$t->fx_batch(id => 'b2', package => $diff, devices => [qw(d1 d4)],
             tasks => { d1 => { from => '1.0.1' } });
$t->fx_batch(id => 'b3', package => $pkg, devices => ['d5'], state => 'paused');

sub upgrade {
    my ($dev, $q, %h) = @_;
    return $t->http(GET => '/ota/v1/upgrade' . ($q // ''),
                    headers => { Authorization => "Bearer $tok{$dev}", %h });
}

sub xlen { $t->redis(XLEN => $events) }

# longer than the hold of a notified event (one interval, 200 ms): what
# the process holds is in the stream after it
sub settle { select(undef, undef, undef, 0.5) }

# ---- the answer ----------------------------------------------------------------------

my $n0 = xlen();
my $r = upgrade('d1', '?module=default');
is($r->{status}, 200, 'pending task: 200');
my $j = $r->{json};
is($j->{batch}, 'b1', 'batch');
is($j->{package}, 'prodA-default-1_1_0', 'package');
is($j->{module}, 'default', 'module');
is($j->{version}, '1.1.0', 'version');
is($j->{type}, 'full', 'type');
is($j->{from}, '', 'from: the task\'s source version (none reported)');
is($j->{size}, 5000, 'size of the first file');
is($j->{total_size}, 5000 + length $fw2, 'total_size of all files');
is($j->{sign_method}, 'sha256', 'sign_method');
is($j->{sign}, sha256_hex($fw1), 'sign: digest of the first file');
ok(abs($j->{url_expires} - (time + 900)) < 5, 'url_expires = now + ota_link_ttl');
my $base = $t->base;
my $exp = $j->{url_expires};
is($j->{url}, "$base/ota/v1/packages/prodA-default-1_1_0?device=d1&expires=$exp&signature="
              . $t->link_sign('prodA-default-1_1_0', 'd1', $exp),
   'url: signed link bound to device, package and expiry');
is(scalar @{ $j->{files} }, 2, 'two files');
is_deeply([ map { $_->{name} } @{ $j->{files} } ], [ 'fw.bin', 'res.pack' ], 'file names in order');
is($j->{files}[1]{size}, length $fw2, 'second file size');
is($j->{files}[1]{sign}, sha256_hex($fw2), 'second file sign');
like($j->{files}[1]{url}, qr{^\Q$base\E/ota/v1/packages/prodA-default-1_1_0/res\.pack\?device=d1&expires=$exp&signature=[0-9a-f]{64}$},
     'each file has its own link');
# compatibility names
is($j->{signMethod}, 'SHA256', 'signMethod SHA256');
ok(!exists $j->{md5}, 'no md5 for a SHA-256 package');
is($j->{isDiff}, 0, 'isDiff 0');
is_deeply($j->{extData}, { key1 => 'value1', batch => 'b1' },
          'extData: custom key/values, the batch id wins');

# the notified event, within one interval
ok($t->wait_for(sub { xlen() > $n0 }, 5), 'the notified event comes');
settle();
is(xlen(), $n0 + 1, 'one event appended');
my $e = $t->redis(XREVRANGE => $events, '+', '-', 'COUNT', 1)->[0][1];
my %e = @$e;
is("$e{type} $e{device} $e{module} $e{batch} $e{package}",
   'notified d1 default b1 prodA-default-1_1_0', 'notified event fields');

# the task moves only through the worker: no change to the task here
is($t->task('d1', 'b1')->{state}, 'pending', 'the module does not write the task');
is($t->redis(HEXISTS => OtaTest::key('OTA_KEY_BATCH_STATE', 'b1'), 'd1'), 0,
   'no state column entry written');

# the link works with the download endpoint when that is implemented
my $dl = $t->http(GET => $j->{url} =~ s{^\Q$base\E}{}r);
TODO: {
    local $TODO = 'downloads (ngx_ota_download.c) not implemented yet'
        if $dl->{status} == 501;
    is($dl->{status}, 200, 'the signed link downloads');
    is(sha256_hex($dl->{content} // ''), $j->{sign}, 'and matches the sign');
}

# ---- diff package, MD5, module parameter ------------------------------------------------

$r = upgrade('d1', '?module=MCU');
is($r->{status}, 200, 'second module: its own task');
$j = $r->{json};
is($j->{batch}, 'b2', 'batch of the MCU task');
is($j->{type}, 'diff', 'type diff');
is($j->{from}, '1.0.1', 'from: the version the diff applies to');
is($j->{isDiff}, 1, 'isDiff 1');
is($j->{sign_method}, 'md5', 'sign_method md5');
is($j->{signMethod}, 'Md5', 'signMethod Md5');
is($j->{md5}, md5_hex('mcu' x 333), 'md5 field');
is($j->{sign}, $j->{md5}, 'sign is the MD5 too');
is_deeply($j->{extData}, { batch => 'b2' }, 'extData with the batch id');

# ---- no event once the task left pending ------------------------------------------------

settle();
$n0 = xlen();
$r = upgrade('d2');
is($r->{status}, 200, 'downloading task: still answered (a resume needs the link)');
is($r->{json}{from}, '1.0.0', 'from: the task\'s source version');
is($r->{json}{module}, 'default', 'module defaults to default');
settle();
is(xlen(), $n0, 'no notified event for a task past pending');

# ---- 204 ------------------------------------------------------------------------------

for my $c ([ 'succeeded task (not open)', 'd3', '' ],
           [ 'no task for the module',    'd4', '?module=default' ],
           [ 'paused batch',              'd5', '' ]) {
    my ($name, $dev, $q) = @$c;
    $n0 = xlen();
    $r = upgrade($dev, $q);
    is($r->{status}, 204, "$name: 204");
    is($r->{content} // '', '', "$name: no body");
    settle();
    is(xlen(), $n0, "$name: no event");
}

# a cancelled task still listed as open, a missing task, a missing package
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_STATE', 'b2'), d4 => 'cancelled');
is(upgrade('d4', '?module=MCU')->{status}, 204, 'final task: 204');
# a pending task (no state in the batch's state column): its source
# version is in the batch's from column, the rest is the batch's
$t->redis(HDEL => OtaTest::key('OTA_KEY_BATCH_STATE', 'b2'), 'd4');
$n0 = xlen();
$r = upgrade('d4', '?module=MCU');
is($r->{status}, 200, 'pending task (no state entry): answered');
is("$r->{json}{batch} $r->{json}{package} $r->{json}{from}", 'b2 prodA-MCU-2_0_0 1.0.1',
   'from the batch and the diff package');
ok($t->wait_for(sub { xlen() > $n0 }, 5), 'and notified');
settle();
is(xlen(), $n0 + 1, '  once');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_FROM', 'b1'), 'd1', '0.9.0');
$r = upgrade('d1');
is("$r->{status} $r->{json}{batch} $r->{json}{from}", '200 b1 0.9.0',
   'full package: from the batch\'s from hash');
$t->redis(HDEL => OtaTest::key('OTA_KEY_BATCH_FROM', 'b1'), 'd1');
$r = upgrade('d1');
is("$r->{status} [$r->{json}{from}]", '200 []', 'a device that never reported: empty from');
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd4'), 'MCU', 'nosuch');
is(upgrade('d4', '?module=MCU')->{status}, 204, 'open entry naming no batch: 204');
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd4'), 'MCU', 'no/such');
is(upgrade('d4', '?module=MCU')->{status}, 204, 'bad batch id in the open hash: 204');

# ---- refusals ---------------------------------------------------------------------------

settle();                       # the answers' notified events are written

my @bad = (
    [ 'unknown module', sub { upgrade('d1', '?module=WIFI') }, 404 ],
    [ 'bad module name', sub { upgrade('d1', '?module=../x') }, 400 ],
    [ 'module too long', sub { upgrade('d1', '?module=' . ('m' x 65)) }, 400 ],
    [ 'empty module',    sub { upgrade('d1', '?module=') }, 400 ],
    [ 'no token', sub { $t->http(GET => '/ota/v1/upgrade') }, 401 ],
    [ 'forged token', sub { $t->http(GET => '/ota/v1/upgrade', headers => {
        Authorization => 'Bearer ' . ($tok{d1} =~ s/~d1~/~d2~/r) }) }, 401 ],
    [ 'not Bearer', sub { $t->http(GET => '/ota/v1/upgrade', headers => {
        Authorization => "Basic $tok{d1}" }) }, 401 ],
);
for my $c (@bad) {
    my ($name, $do, $status) = @$c;
    my $before = $t->redis_snapshot;
    $r = $do->();
    is($r->{status}, $status, "$name: $status");
    is($r->{json}{code}, $status, "$name: JSON code");
    is_deeply($t->redis_snapshot, $before, "$name: Redis unchanged");
}

is($t->http(POST => '/ota/v1/upgrade', body => '{}')->{status}, 405, 'POST upgrade: 405');

# ---- Redis down -------------------------------------------------------------------------

$t->stop_redis;
$r = upgrade('d1');
is($r->{status}, 503, 'Redis down: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
$t->stop;

# ---- ota_public_url -----------------------------------------------------------------------

$t = OtaTest->new(http_extra => 'ota_public_url https://ota.example.com/;');
my $s = $t->fx_device('d1', 'prodA');
$pkg = $t->fx_package(id => 'p1', product => 'prodA', version => '1.0.0');
$t->fx_batch(id => 'b1', package => $pkg, devices => ['d1']);
my $tk = $t->device_token('d1', 'prodA', $s);
$r = $t->http(GET => '/ota/v1/upgrade', headers => { Authorization => "Bearer $tk" });
is($r->{status}, 200, 'upgrade behind ota_public_url');
like($r->{json}{url}, qr{^https://ota\.example\.com/ota/v1/packages/p1\?device=d1&expires=\d+&signature=[0-9a-f]{64}$},
     'links use ota_public_url');
$t->stop;

done_testing;
