# Redis away: signed-link downloads keep working, their progress is kept per
# worker process (bounded by ota_progress_buffer, drops counted) and written
# when Redis returns, or at the latest when the worker process exits.  Redis
# killed in the middle of a slow download: nginx neither hangs nor crashes
# and the final coverage is exact.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new(nginx_workers => 1);
my $size = 100_000;
my $pkg = $t->make_package('pk', files => [ 'fw.bin' => $size ]);
my $data = $pkg->{files}[0]{data};


# ---- downloads while Redis is down, written when it returns -------------------------

$t->stop_redis;

my $u = $t->signed_link('pk', 'dev-off');
my $t0 = time;
my $r = $t->http(GET => $u, headers => { Range => 'bytes=0-999' });
is($r->{status}, 206, 'Redis down: signed-link range download works');
ok($r->{content} eq substr($data, 0, 1000), 'the right bytes');
$r = $t->http(GET => $u, headers => { Range => 'bytes=5000-5999,9000-9099' });
is($r->{status}, 206, 'multipart too');
$r = $t->http(GET => $t->signed_link('pk', 'dev-off2'));
is($r->{status}, 200, 'a whole file for another device');
ok($r->{content} eq $data, 'complete');
cmp_ok(time - $t0, '<', 3, 'no waiting on Redis');

$t->start_redis;
my $ok = $t->wait_for(sub {
    (($t->coverage('dev-off', 'pk'))[1] // 0) == 2100
        && (($t->coverage('dev-off2', 'pk'))[1] // 0) == $size
}, 12);
ok($ok, 'progress kept while Redis was away is written when it returns');
is(($t->coverage('dev-off', 'pk'))[0], '0-1000,5000-6000,9000-9100', 'exact ranges');
my @ev = $t->download_events('dev-off', 'pk');
ok(@ev && $ev[-1]{covered} == 2100, 'and a download event with the covered count');
like($t->error_log, qr/redis .* connected/, 'the module reconnected by itself');

# ---- Redis killed during a slow download -----------------------------------------------

my $bsize = 24 << 20;
my $slow = $t->make_package('slow', files => [ 'fw.bin' => $bsize ]);
my $out = $t->dir . '/slow.out';
my $pid = fork // die;
if ($pid == 0) {
    exec 'timeout', '60', 'curl', '-s', '--limit-rate', '3M', '-o', $out,
         $t->base . $t->signed_link('slow', 'dev-slow');
    exit 127;
}
my $mid = $t->wait_for(sub { ($t->coverage('dev-slow', 'slow'))[1] }, 6);
ok($mid, "progress in Redis before the crash ($mid)");

$t->stop_redis(kill => 1);
sleep 0.5;
$t0 = time;
$r = $t->http(GET => $t->signed_link('pk', 'dev-x'), headers => { Range => 'bytes=0-0' });
is($r->{status}, 206, 'while Redis is dead nginx still answers');
cmp_ok(time - $t0, '<', 2, 'at once');
$r = $t->http(GET => '/ota/v1/packages/pk',
              headers => { Authorization => 'Bearer ' . $t->bearer_token('dev-x', 'prod1') });
is($r->{status}, 503, 'bearer needs Redis: 503');
sleep 2;
$t->start_redis;

waitpid($pid, 0);
is($?, 0, 'the slow download finished across the outage');
is(sha256_hex(OtaTest::read_file($out)), $slow->{files}[0]{sign}, 'digest matches');
ok($t->wait_for(sub { (($t->coverage('dev-slow', 'slow'))[1] // 0) == $bsize }, 12),
   'coverage is exactly 100 % after the outage');
is(($t->coverage('dev-slow', 'slow'))[0], "0-$bsize", 'one range, the whole file');

# ---- written at worker exit when Redis comes back too late for the loop -------------------

$t->stop_redis;
sleep 7;                                  # reconnect backoff grows to its maximum
$r = $t->http(GET => $t->signed_link('pk', 'dev-exit'), headers => { Range => 'bytes=10-19' });
is($r->{status}, 206, 'a download while Redis is down');
$t->start_redis;
$t->stop_nginx;                           # graceful: the worker exits now
is(($t->coverage('dev-exit', 'pk'))[0], '10-20', 'its progress was written at worker exit');
like($t->error_log, qr/progress of \d+ downloads written at exit/,
     'the exit flush says so in the error log');
$t->start_nginx;

# ---- the offline buffer is bounded ------------------------------------------------------------

my $b = OtaTest->new(nginx_workers => 1, loc_extra => 'ota_progress_buffer 1k;',
                     store => $t->store);
my $dropped0 = $b->metric('ota_progress_dropped_total');
$b->stop_redis;
my $ranges = join ',', map { ($_ * 100) . '-' . ($_ * 100 + 9) } 0 .. 199;
$r = $b->http(GET => $b->signed_link('pk', 'dev-buf'), headers => { Range => "bytes=$ranges" });
is($r->{status}, 206, '200 disjoint ranges while Redis is down');
my $dropped = $b->metric('ota_progress_dropped_total');
cmp_ok($dropped - $dropped0, '>', 0, "ranges over ota_progress_buffer are dropped and counted ($dropped)");
like($b->error_log, qr/dropped, buffer full \(ota_progress_buffer 1024\)/, 'with a warning');
$b->start_redis;
my $kept = $b->wait_for(sub { ($b->coverage('dev-buf', 'pk'))[1] }, 12);
ok($kept && $kept < 2000 && $kept % 10 == 0,
   "what fitted is written when Redis returns ($kept of 2000 bytes)");
my @k = split /,/, ($b->coverage('dev-buf', 'pk'))[0];
ok(@k > 5 && @k < 200, scalar(@k) . ' ranges kept, in 1 KiB of bookkeeping');
$b->stop;

$t->stop;
done_testing;
