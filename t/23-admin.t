# The read-only admin API: batches, one batch (the fields of `otactl batch
# show --json`), its devices with progress, a package with its verify batch,
# the version distribution, and Prometheus metrics with per-batch counts.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new;
ok($t->wait_nginx_redis, "nginx workers connected to Redis");
my %auth = (Authorization => "Bearer $OtaTest::ADMIN_TOKEN");

sub admin {
    my ($path, %o) = @_;
    return $t->http($o{method} // 'GET', "/ota/admin/$path", headers => \%auth);
}

$t->fx_device("d$_", 'prodA') for 1 .. 6;
my $pkg = $t->fx_package(id => 'pA', product => 'prodA', version => '1.2.0',
                         files => [[ 'fw.bin' => 'x' x 1000 ]], verify => 1,
                         state => 'verifying', verify_batch => 'v1',
                         ext => { k => 'v' });

$t->fx_batch(id => 'v1', package => $pkg, type => 'verify', created => 1000,
             devices => [qw(d1 d2)],
             tasks => { d1 => { state => 'succeeded', covered => 1000 },
                        d2 => { state => 'downloading', covered => 333 } });
$t->fx_batch(id => 'b1', package => $pkg, created => 2000, name => 'roll out',
             devices => [qw(d1 d2 d3 d4 d5 d6)],
             tasks => { d1 => { state => 'succeeded', covered => 1000 },
                        d2 => { state => 'failed', reason => 'flash_failed', step => -4 },
                        d3 => { state => 'failed', reason => 'timeout' },
                        d4 => { state => 'downloading', covered => 500 },
                        d5 => { state => 'cancelled' },
                        d6 => { state => 'installing', covered => 1000, step => 40 } });
$t->fx_batch(id => 'b0', package => $pkg, created => 500, state => 'finished',
             devices => ['d3'], tasks => { d3 => { state => 'succeeded' } });

# ---- batches/<id> ----------------------------------------------------------------

my $r = admin('batches/b1');
is($r->{status}, 200, 'batch: 200');
my $j = $r->{json};
is($j->{id}, 'b1', 'id');
is($j->{name}, 'roll out', 'name');
is($j->{package}, 'pA', 'package');
is($j->{type}, 'upgrade', 'type');
is($j->{state}, 'running', 'state');
is($j->{total}, 6, 'total');
is("$j->{product} $j->{module} $j->{version}", 'prodA default 1.2.0', 'product, module, version');
is($j->{created}, 2000, 'created');
is_deeply($j->{counts}, { pending => 0, notified => 0, downloading => 1, downloaded => 0,
                          installing => 1, succeeded => 1, failed => 2, cancelled => 1 },
          'counts: every state');
is($j->{success_rate}, 0.3333, "success_rate = 1/3 rounded"); ok(abs($j->{success_rate} - 1 / 3) < 1e-4, "success_rate = 1/3 ($j->{success_rate})");
ok(abs($j->{completion} - 4 / 6) < 1e-4, "completion = 4/6 ($j->{completion})");
is_deeply($j->{failures}, { flash_failed => 1, timeout => 1 }, 'failures by reason');
like($r->{content}, qr/"success_rate":0\.3333[,}]/, 'rates rounded to 4 decimals (as otactl)');
is_deeply($j->{skipped}, {}, 'skipped: none recorded');

$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_FAILURES', 'b1'), 'wrong_version', 0);
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'b1'), skipped_current => 2, skipped_busy => 1);
$j = admin('batches/b1')->{json};
is_deeply($j->{failures}, { flash_failed => 1, timeout => 1 }, 'reasons counted 0 left out');
is_deeply($j->{skipped}, { current => 2, busy => 1 }, 'skipped devices by reason');
ok(!exists $j->{skipped_current}, 'skipped_* fields not repeated');

$r = admin('batches/b1/');
is($r->{status}, 200, 'trailing slash: same resource');

# no final task yet: success_rate is null
$t->fx_batch(id => 'b2', package => $pkg, created => 3000, devices => ['d4'],
             tasks => { d4 => { state => 'pending' } });
$j = admin('batches/b2')->{json};
ok(exists $j->{success_rate} && !defined $j->{success_rate}, 'success_rate null when undefined');
is($j->{completion}, 0, 'completion 0');
is_deeply($j->{failures}, {}, 'no failures');

$r = admin('batches/nope');
is($r->{status}, 404, 'unknown batch: 404');
is($r->{json}{code}, 404, 'JSON code');
for my $bad ('bad.id', 'a:b', 'a' x 65, 'x%00', 'a%20b') {
    $r = admin("batches/$bad");
    is($r->{status}, 400, "bad batch id '$bad': 400");
}
$r = admin('batches/..%2f..%2fv1%2fauth');
ok($r->{status} >= 400 && $r->{status} < 500, "path tricks: a 4xx ($r->{status})");

# ---- batches/<id>/devices -------------------------------------------------------------

$r = admin('batches/b1/devices');
is($r->{status}, 200, 'devices: 200');
$j = $r->{json};
is($j->{total}, 6, 'total');
is(scalar @{ $j->{devices} }, 6, 'all six in one page');
my %dev = map { $_->{device} => $_ } @{ $j->{devices} };
is_deeply([ map { $_->{device} } @{ $j->{devices} } ], [qw(d1 d2 d3 d4 d5 d6)], 'in insertion order');
is($dev{d1}{state}, 'succeeded', 'state');
is($dev{d1}{progress}, 100, 'progress 100');
is($dev{d4}{progress}, 50, 'progress 50');
is($dev{d2}{reason}, 'flash_failed', 'failure reason');
is($dev{d2}{step}, -4, 'negative step');
is($dev{d6}{step}, 40, 'step');
is($dev{d3}{progress}, 0, 'progress 0');

$j = admin('batches/v1/devices')->{json};
is($j->{devices}[1]{progress}, 33.3, 'progress 333/1000 = 33.3');


# a device without entries in the task columns is pending with nothing
# downloaded; its size is the batch's
my @cols = map { OtaTest::key("OTA_KEY_BATCH_$_", 'b1') } qw(STATE COVERED STEP REASON);
my @saved = map { $t->redis(HGET => $_, 'd4') } @cols;
$t->redis(HDEL => $_, 'd4') for @cols;
$j = admin('batches/b1/devices?offset=3&limit=1')->{json};
is_deeply($j->{devices}[0], { device => 'd4', state => 'pending', progress => 0,
                              covered => 0, size => 1000 },
          'no column entries: pending, size of the batch, no step or reason');
for my $i (0 .. $#cols) {
    $t->redis(HSET => $cols[$i], 'd4', $saved[$i]) if defined $saved[$i];
}

$j = admin('batches/b1/devices?offset=2&limit=3')->{json};
is_deeply([ map { $_->{device} } @{ $j->{devices} } ], [qw(d3 d4 d5)], 'offset and limit');
is("$j->{offset} $j->{limit} $j->{total}", '2 3 6', 'paging echoed');
$j = admin('batches/b1/devices?offset=10')->{json};
is_deeply($j->{devices}, [], 'past the end: empty page');

for my $q ('limit=0', 'limit=1001', 'limit=x', 'offset=-1', 'offset=') {
    is(admin("batches/b1/devices?$q")->{status}, 400, "bad paging $q: 400");
}
is(admin('batches/nope/devices')->{status}, 404, 'devices of an unknown batch: 404');
is(admin('batches/b1/other')->{status}, 404, 'unknown sub-resource: 404');

# ---- batches -----------------------------------------------------------------------

$j = admin('batches')->{json};
is($j->{total}, 4, 'four batches');
is_deeply([ map { $_->{id} } @{ $j->{batches} } ], [qw(b2 b1 v1 b0)], 'newest first');
is($j->{batches}[1]{state}, 'running', 'with state');
is($j->{batches}[1]{counts}{failed}, 2, 'and counts');
is($j->{batches}[3]{state}, 'finished', 'finished batch listed');
$j = admin('batches?offset=1&limit=2')->{json};
is_deeply([ map { $_->{id} } @{ $j->{batches} } ], [qw(b1 v1)], 'paged');

# ---- packages/<id> ---------------------------------------------------------------------

$r = admin('packages/pA');
is($r->{status}, 200, 'package: 200');
$j = $r->{json};
is("$j->{id} $j->{product} $j->{module} $j->{version} $j->{type}", 'pA prodA default 1.2.0 full', 'identity');
is($j->{size}, 1000, 'size');
is($j->{state}, 'verifying', 'state');
is($j->{verify}, JSON::PP::true, 'verify flag');
is($j->{files}[0]{name}, 'fw.bin', 'files parsed');
is_deeply($j->{ext}, { k => 'v' }, 'ext parsed');
my $vp = $j->{verify_progress};
is($vp->{id}, 'v1', 'verify batch');
is($vp->{name}, 'batch v1', 'its name');
is($vp->{state}, 'running', 'its state');
is($vp->{total}, 2, 'its total');
is($vp->{counts}{succeeded}, 1, 'its counts');
is($vp->{completion}, 0.5, 'its completion');
ok(exists $vp->{success_rate} && !defined $vp->{success_rate} || $vp->{success_rate} == 1,
   'its success rate');

$t->fx_package(id => 'pB', product => 'prodA', version => '1.3.0');
$j = admin('packages/pB')->{json};
ok(exists $j->{verify_progress} && !defined $j->{verify_progress}, 'no verify batch: null');
is($j->{state}, 'ready', 'ready');

is(admin('packages/nope')->{status}, 404, 'unknown package: 404');
is(admin('packages/a.b')->{status}, 400, 'bad package id: 400');

# ---- versions -----------------------------------------------------------------------------

$t->redis(HSET => OtaTest::key('OTA_KEY_VERSION_DIST', 'prodA', 'default'),
          '1.9.0' => 2, '1.10.0' => 1, '1.2.0' => 5, '0.1.0' => 0);
$r = admin('versions?product=prodA');
is($r->{status}, 200, 'versions: 200');
$j = $r->{json};
is($j->{module}, 'default', 'module defaults to default');
is($j->{reported}, 8, 'devices reported');
is($j->{devices}, 8, 'devices: at least those reported');
is($j->{unreported}, 0, 'unreported');
is_deeply([ map { $_->{version} } @{ $j->{versions} } ], [qw(1.10.0 1.9.0 1.2.0)],
          'numeric order, newest first, empty versions left out');
is($j->{versions}[2]{devices}, 5, 'devices per version');
is($j->{versions}[2]{percent}, 62.5, 'percent');

$t->fx_module('prodA', 'MCU');
$j = admin('versions?product=prodA&module=MCU')->{json};
is_deeply($j->{versions}, [], 'module without reports: empty');
is($j->{reported}, 0, 'reported 0');
is($j->{devices}, 6, 'the product\'s six devices');
is($j->{unreported}, 6, 'all unreported');
$t->redis(HSET => OtaTest::key('OTA_KEY_VERSION_DIST', 'prodA', 'MCU'), '1.0.0' => 3);
$j = admin('versions?product=prodA&module=MCU')->{json};
is($j->{versions}[0]{percent}, 50, 'percent of all the product\'s devices');
is($j->{unreported}, 3, 'the rest unreported');

is(admin('versions')->{status}, 400, 'missing product: 400');
is(admin('versions?product=a/b')->{status}, 400, 'bad product: 400');
is(admin('versions?product=prodA&module=a.b')->{status}, 400, 'bad module: 400');
is(admin('versions?product=nope')->{status}, 404, 'unknown product: 404');
is(admin('versions?product=prodA&module=WIFI')->{status}, 404, 'unknown module: 404');

# ---- metrics ---------------------------------------------------------------------------------

$r = admin('metrics');
is($r->{status}, 200, 'metrics: 200');
like($r->{headers}{'content-type'}, qr{^text/plain}, 'Prometheus text');
my $m = $r->{content};
like($m, qr/^ota_auth_ok_total \d+$/m, 'node counters');
like($m, qr/^ota_redis_up 1$/m, 'ota_redis_up 1');
like($m, qr/^ota_batch_tasks\{batch="b1",state="failed"\} 2$/m, 'per-batch state count');
like($m, qr/^ota_batch_tasks\{batch="v1",state="succeeded"\} 1$/m, 'verify batch too');
is(() = $m =~ /^ota_batch_tasks\{batch="b1",/mg, 8, 'every state of a running batch');
unlike($m, qr/batch="b0"/, 'finished batch left out');
like($m, qr/^ota_batches_running 3$/m, 'running batches');
like($m, qr/^# TYPE ota_batch_tasks gauge$/m, 'TYPE line');

# bounded: only the 100 most recent batches are looked at
for my $i (1 .. 101) {
    $t->redis(ZADD => OtaTest::key('OTA_KEY_BATCHES'), 10000 + $i, "z$i");
    $t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', "z$i"), state => 'running');
}
$m = admin('metrics')->{content};
like($m, qr/^ota_batches_running 100$/m, 'at most 100 batches');
unlike($m, qr/batch="b1"/, 'older batches fall out');
like($m, qr/^ota_batch_tasks\{batch="z101",state="pending"\} 0$/m, 'missing counters read 0');

# HEAD, methods, token
$r = admin('batches/b1', method => 'HEAD');
is($r->{status}, 200, 'HEAD: 200');
is($r->{content} // '', '', 'HEAD: no body');
is(admin('batches/b1', method => 'DELETE')->{status}, 405, 'DELETE: 405');
is($t->http(GET => '/ota/admin/batches/b1')->{status}, 401, 'no token: 401');
is(admin('nothing')->{status}, 404, 'unknown resource: 404');

# ---- Redis down ---------------------------------------------------------------------------------

$t->stop_redis;
$r = admin('batches/b1');
is($r->{status}, 503, 'Redis down: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
$r = admin('metrics');
is($r->{status}, 200, 'metrics without Redis: still 200');
like($r->{content}, qr/^ota_redis_up 0$/m, 'ota_redis_up 0');
like($r->{content}, qr/^ota_auth_ok_total \d+$/m, 'node counters still there');

# ---- one rounding rule with otactl: 100 only when every byte went out -------------------
$t->start_redis;
ok($t->wait_nginx_redis, 'Redis back');
$t->fx_device('dr1', 'prodA');
$t->fx_device('dr2', 'prodA');
$t->fx_batch(id => 'br', package => $pkg, created => 2500, devices => [qw(dr1 dr2)],
             tasks => { dr1 => { state => 'downloading', covered => 999 },
                        dr2 => { state => 'downloaded', covered => 1000 } });
$j = admin('batches/br/devices')->{json};
is($j->{devices}[0]{progress}, 99.9, 'admin API: size - 1 bytes is 99.9, not 100');
is($j->{devices}[1]{progress}, 100, 'admin API: every byte is 100');
my ($orc, $oout) = $t->otactl(qw(batch show br --devices --json));
my $oj = eval { JSON::PP::decode_json($oout) } // {};
is($oj->{devices}[0]{progress}, $j->{devices}[0]{progress},
   'otactl --json: the same 99.9');
is($oj->{devices}[1]{progress}, 100, 'otactl --json: 100');
($orc, $oout) = $t->otactl(qw(batch show br --devices));
like($oout, qr/^dr1\s+downloading\s+99\.90%/m, 'otactl table: 99.90%, never rounded up');
like($oout, qr/^dr2\s+downloaded\s+100\.00%/m, 'otactl table: 100.00% when complete');
# a large package one byte short (issue 14: 100.0 % in the table before)
my $big = { %$pkg, id => 'pBig', size => 1048576000 };
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', 'pBig'), %$pkg, id => 'pBig',
          size => 1048576000, files => '[]');
$t->fx_device('dr3', 'prodA');
$t->fx_batch(id => 'bb', package => $big, created => 2600, devices => ['dr3'],
             tasks => { dr3 => { state => 'downloading', covered => 1048575999 } });
$j = admin('batches/bb/devices')->{json};
is($j->{devices}[0]{progress}, 99.99, 'admin API: 1000 MB less one byte is 99.99');
($orc, $oout) = $t->otactl(qw(batch show bb --devices));
like($oout, qr/^dr3\s+downloading\s+99\.99%/m, 'otactl table: 99.99%');
$oj = eval { JSON::PP::decode_json(($t->otactl(qw(batch show bb --devices --json)))[1]) } // {};
is($oj->{devices}[0]{progress}, 99.99, 'otactl --json: 99.99');

$t->stop;
done_testing;
