# The admin API's reads added for the web console: the package list with
# verify progress, the products with their modules, one device with its
# versions and tasks, a search in a batch's devices, and the download
# progress histogram of a batch.  All read-only and bounded.

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
$t->fx_device('e1', 'prodB');
$t->fx_device('x:1.a', 'prodB');
$t->fx_module('prodA', 'MCU', alias => 'main controller', desc => 'the MCU');
$t->fx_module('prodA', 'APP');

my $pkg = $t->fx_package(id => 'pA', product => 'prodA', version => '1.2.0',
                         files => [[ 'fw.bin' => 'x' x 1000 ]], verify => 1,
                         state => 'verifying', verify_batch => 'v1');
my $pkgB = $t->fx_package(id => 'pB', product => 'prodA', version => '1.3.0',
                          files => [[ 'fw.bin' => 'y' x 1000 ]]);
$t->redis(ZADD => OtaTest::key('OTA_KEY_PACKAGES'), 1, 'pA');     # oldest
$t->redis(ZADD => OtaTest::key('OTA_KEY_PACKAGES'), 2, 'pB');
my $pkgC = $t->fx_package(id => 'pC', product => 'prodB', version => '2.0.0',
                          files => [[ 'fw.bin' => 'z' x 10 ]]);
$t->redis(ZADD => OtaTest::key('OTA_KEY_PACKAGES'), 3, 'pC');

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
$t->fx_batch(id => 'b2', package => $pkgB, created => 3000, devices => ['d4'],
             tasks => { d4 => { state => 'downloading', covered => 100 } });

my $before = $t->redis_snapshot;

# ---- packages ------------------------------------------------------------------

my $r = admin('packages');
is($r->{status}, 200, 'packages: 200');
my $j = $r->{json};
is($j->{total}, 3, 'three packages');
is_deeply([ map { $_->{id} } @{ $j->{packages} } ], [qw(pC pB pA)], 'newest first');
my %p = map { $_->{id} => $_ } @{ $j->{packages} };
is($p{pA}{state}, 'verifying', 'state');
is($p{pA}{version}, '1.2.0', 'version');
is($p{pA}{size}, 1000, 'size');
is($p{pA}{files}[0]{name}, 'fw.bin', 'files');
is($p{pA}{verify_progress}{id}, 'v1', 'verify batch');
is($p{pA}{verify_progress}{total}, 2, 'its total');
is($p{pA}{verify_progress}{counts}{succeeded}, 1, 'its counts');
is($p{pA}{verify_progress}{completion}, 0.5, 'its completion');
is($p{pA}{verify_progress}{name}, 'batch v1', 'its name');
ok(exists $p{pB}{verify_progress} && !defined $p{pB}{verify_progress},
   'no verify batch: null');
is_deeply(admin('packages/pA')->{json}{verify_progress}, $p{pA}{verify_progress},
          'the same verify progress as packages/<id>');

$j = admin('packages?product=prodA')->{json};
is_deeply([ map { $_->{id} } @{ $j->{packages} } ], [qw(pB pA)], 'one product');
is($j->{product}, 'prodA', 'product echoed');
$j = admin('packages?offset=1&limit=1')->{json};
is_deeply([ map { $_->{id} } @{ $j->{packages} } ], ['pB'], 'paged');
is("$j->{offset} $j->{limit} $j->{total}", '1 1 3', 'paging echoed');
$j = admin('packages?product=nope')->{json};
is_deeply([ $j->{total}, $j->{packages} ], [0, []], 'unknown product: empty');
is(admin('packages?product=a/b')->{status}, 400, 'bad product: 400');
is(admin('packages?limit=0')->{status}, 400, 'bad limit: 400');
like(admin('packages?limit=5000')->{json}{message}, qr/limit/, 'says what was wrong');

# a verify batch whose record went: the progress from its counters alone
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', 'pB'), verify_batch => 'gone');
$j = admin('packages?product=prodA')->{json};
is_deeply($j->{packages}[0]{verify_progress}{id}, 'gone', 'missing verify batch: its id');
is($j->{packages}[0]{verify_progress}{total}, 0, 'total 0');
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', 'pB'), verify_batch => '');

# ---- products ------------------------------------------------------------------

$r = admin('products');
is($r->{status}, 200, 'products: 200');
$j = $r->{json};
is($j->{total}, 2, 'two products');
is_deeply([ map { $_->{product} } @{ $j->{products} } ], [qw(prodA prodB)], 'by name');
my $pa = $j->{products}[0];
is($pa->{devices}, 6, 'device count');
is_deeply([ map { $_->{module} } @{ $pa->{modules} } ], [qw(default APP MCU)],
          'modules: default first, then by name');
is($pa->{modules}[2]{alias}, 'main controller', 'alias');
is($pa->{modules}[2]{desc}, 'the MCU', 'desc');
$j = admin('products?offset=1')->{json};
is_deeply([ map { $_->{product} } @{ $j->{products} } ], ['prodB'], 'paged');
is(admin('products?offset=x')->{status}, 400, 'bad offset: 400');

# ---- devices/<device> -----------------------------------------------------------

$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE', 'd4'), created => 1767225600);
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', 'd4'),
          default => '1.1.0', 'default@ts' => 12345, MCU => '3.0.0');
$r = admin('devices/d4');
is($r->{status}, 200, 'device: 200');
$j = $r->{json};
is($j->{device}, 'd4', 'device');
is($j->{product}, 'prodA', 'product');
is($j->{created}, 1767225600, 'created');
is_deeply($j->{versions}, { default => '1.1.0', MCU => '3.0.0' }, 'versions, no @ts fields');
is_deeply($j->{open}, { default => 'b2' }, 'open task per module');
is_deeply([ map { $_->{batch} } @{ $j->{tasks} } ], [qw(b2 b1)], 'its tasks, newest batch first');
my $t0 = $j->{tasks}[0];
is($t0->{state}, 'downloading', 'task state');
is($t0->{progress}, 10, 'task progress');
is($t0->{covered}, 100, 'covered');
is($t0->{size}, 1000, 'size');
is($t0->{version}, '1.3.0', 'target version');
is($t0->{module}, 'default', 'module');
is($t0->{batch_state}, 'running', 'batch state');
is($t0->{created}, 3000, 'batch created');
ok($t0->{open}, 'the open one');
ok(!$j->{tasks}[1]{open}, 'an older one not open');
is($j->{batches}, 3, 'batches in all');
ok(!defined $j->{next_offset}, 'no further window');

$j = admin('devices/d2')->{json};
my %task = map { $_->{batch} => $_ } @{ $j->{tasks} };
is($task{b1}{reason}, 'flash_failed', 'failure reason');
is($task{b1}{step}, -4, 'step');
is($task{v1}{progress}, 33.3, 'verify task progress');

# a window of one batch: the open task is answered even outside it
$j = admin('devices/d4?limit=1&offset=1')->{json};
is_deeply([ map { $_->{batch} } @{ $j->{tasks} } ], [qw(b1 b2)],
          'window hit, then the open task outside the window');
is($j->{next_offset}, 2, 'next window');
$j = admin('devices/d4?offset=10')->{json};
is_deeply([ map { $_->{batch} } @{ $j->{tasks} } ], ['b2'], 'past the end: open task only');
$j = admin('devices/d5')->{json};
is_deeply($j->{open}, {}, 'no open task');
is_deeply($j->{versions}, {}, 'never reported');
is_deeply([ map { $_->{batch} } @{ $j->{tasks} } ], ['b1'], 'final task of a batch');
is($j->{tasks}[0]{state}, 'cancelled', 'its state');

$j = admin('devices/x:1.a')->{json};
is($j->{product}, 'prodB', 'device name with : and .');
is(admin('devices/x%3A1.a')->{json}{device}, 'x:1.a', 'percent-encoded name');
is_deeply($j->{tasks}, [], 'no task');

is(admin('devices/nope')->{status}, 404, 'unknown device: 404');
is(admin('devices/nope')->{json}{message}, 'no such device', 'with the reason');
is(admin('devices/.x')->{status}, 400, 'bad device name: 400');
is(admin('devices/a%20b')->{status}, 400, 'space in the name: 400');
is(admin('devices/d4?limit=1001')->{status}, 400, 'bad window: 400');

# ---- batches/<id>/devices?match= ------------------------------------------------

$j = admin('batches/b1/devices?match=d')->{json};
is_deeply([ sort map { $_->{device} } @{ $j->{devices} } ], [qw(d1 d2 d3 d4 d5 d6)],
          'a search: every match');
is($j->{cursor}, '0', 'went round: cursor 0');
is($j->{match}, 'd', 'match echoed');
$j = admin('batches/b1/devices?match=4')->{json};
is(scalar @{ $j->{devices} }, 1, 'one match');
is_deeply($j->{devices}[0], { device => 'd4', state => 'downloading', progress => 50,
                              covered => 500, size => 1000 },
          'with the columns of a page');
is_deeply(admin('batches/b1/devices?match=zz')->{json}{devices}, [], 'no match');
for my $bad ('*', '%2A', 'a%3Fb', '[a]', 'a%20b', '%', '', 'x' x 65) {
    $r = admin("batches/b1/devices?match=$bad");
    is($r->{status}, 400, "bad match '$bad': 400");
}
is(admin('batches/b1/devices?match=d&cursor=x')->{status}, 400, 'bad cursor: 400');
is(admin('batches/nope/devices?match=d')->{status}, 404, 'search of an unknown batch: 404');

# a batch of 3000 devices (a hashtable-encoded ZSET): the search goes
# by steps of about ?limit= devices, the cursors find every match
my @big = map { sprintf 'dev-%04d', $_ } 1 .. 3000;
my $bk = OtaTest::key('OTA_KEY_BATCH_DEVICES', 'big');
for (my $i = 0; $i < @big; $i += 500) {
    $t->redis(ZADD => $bk, map { ($_, $big[$_]) } $i .. $i + 499);
}
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'big'), id => 'big', size => 100,
          total => 3000, state => 'running');
my (%found, $steps);
my $cursor = 0;
do {
    $j = admin("batches/big/devices?match=-1&limit=200&cursor=$cursor")->{json};
    $found{ $_->{device} }++ for @{ $j->{devices} };
    $cursor = $j->{cursor};
    $steps++;
} while ($cursor ne '0' && $steps < 100);
my @want = grep { /-1/ } @big;
is_deeply([ sort keys %found ], \@want, 'the cursor walk finds every match ('
          . scalar(@want) . ")");
ok($steps > 3, "in several bounded steps ($steps)");

# ---- batches/<id>/histogram -----------------------------------------------------

$r = admin('batches/b1/histogram');
is($r->{status}, 200, 'histogram: 200');
$j = $r->{json};
is(scalar @{ $j->{buckets} }, 11, 'eleven buckets');
is_deeply([ map { $_->{devices} } @{ $j->{buckets} } ], [3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2],
          '0 %: three, 50 %: one, 100 %: two');
is_deeply([ @{ $j->{buckets}[5] }{qw(from to)} ], [50, 60], 'bucket bounds');
is_deeply([ @{ $j->{buckets}[10] }{qw(from to)} ], [100, 100], 'last bucket: complete');
ok($j->{exact}, 'exact');
is($j->{total}, 6, 'total');
is($j->{size}, 1000, 'size');

# 999 of 1000 bytes is not complete
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_COVERED', 'b1'), d4 => 999);
is(admin('batches/b1/histogram')->{json}{buckets}[9]{devices}, 1, '99.9 %: bucket 90-100');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_COVERED', 'b1'), d4 => 500);

$j = admin('batches/b2/histogram')->{json};
is_deeply([ map { $_->{devices} } @{ $j->{buckets} } ], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
          '10 %: bucket 10-20');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'empty'), id => 'empty', size => 5,
          total => 4);
$j = admin('batches/empty/histogram')->{json};
is($j->{buckets}[0]{devices}, 4, 'nothing downloaded: all in bucket 0');
is(admin('batches/nope/histogram')->{status}, 404, 'unknown batch: 404');
is(admin('batches/a.b/histogram')->{status}, 400, 'bad batch id: 400');

# 30000 devices, 20000 with a covered value: a sample, scaled
my $ck = OtaTest::key('OTA_KEY_BATCH_COVERED', 'huge');
for my $part (0 .. 19) {
    $t->redis(HSET => $ck, map { ("h$part-$_", $_ % 2 ? 100 : 25) } 1 .. 1000);
}
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'huge'), id => 'huge', size => 100,
          total => 30000);
$j = admin('batches/huge/histogram')->{json};
ok(!$j->{exact}, 'large batch: a sample');
is($j->{sampled}, 2000, 'of 2000 entries');
my @n = map { $_->{devices} } @{ $j->{buckets} };
my $sum = 0; $sum += $_ for @n;
is($sum, 30000, 'buckets add up to the total');
ok(abs($n[10] - 10000) < 1000, "about 10000 complete ($n[10])");
ok(abs($n[2] - 10000) < 1000, "about 10000 at 25 % ($n[2])");
ok(abs($n[0] - 10000) < 1000, "10000 without a byte ($n[0])");

# ---- read-only, HEAD, Redis down ---------------------------------------------------

for my $k (keys %$before) {
    next if $k =~ /^ota:(pkg:\{pB\}|batch:\{(big|huge|empty)\}.*|dev:\{d4\}(:ver)?|batch:\{b1\}:covered)$/;
    is($t->redis(DUMP => $k), $before->{$k}, "unchanged: $k")
        or last;
}
$r = admin('devices/d4', method => 'HEAD');
is($r->{status}, 200, 'HEAD: 200');
is($r->{content} // '', '', 'HEAD: no body');
is(admin('devices/d4', method => 'POST')->{status}, 405, 'POST: 405 (read-only)');
is($t->http(GET => '/ota/admin/devices/d4')->{status}, 401, 'no token: 401');

$t->stop_redis;
for my $p ('packages', 'products', 'devices/d4', 'batches/b1/histogram',
           'batches/b1/devices?match=d') {
    $r = admin($p);
    is($r->{status}, 503, "Redis down: $p 503");
    ok($r->{headers}{'retry-after'}, 'with Retry-After');
}

$t->stop;
done_testing;
