# Redis killed and restarted under a download load: four rate-limited
# downloads by signed link and a stream of API calls run while Redis is
# SIGKILLed.  nginx never hangs (every API call answers within the Redis
# timeout, 503 with Retry-After while Redis is away), the downloads go on and
# finish whole, and once Redis is back (restarted from its AOF) nginx
# reconnects by itself, the API answers again, the progress kept meanwhile is
# written, and the worker ends every task at "downloaded": exact coverage,
# nothing lost.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);

# fsync every write: a SIGKILL must not take acknowledged progress with it
my $t = OtaTest->new(worker => 1,
                     redis_args => ['--appendfsync', 'always'],
                     http_extra => 'ota_progress_interval 200ms;');
ok($t->wait_nginx_redis, 'nginx connected to Redis');

my (@devs, %secret);
for my $i (1 .. 4) {
    my $d = "fault-$i";
    my ($rc, $out, $err) = $t->otactl('device', 'add', $d, '--product', 'fp');
    is($rc, 0, "device $d") or diag($err);
    ($secret{$d}) = $out =~ /([0-9a-f]{64})/;
    push @devs, $d;
}
my $fw = join '', map { pack('N', ($_ * 2246822519) % 4294967296) } 1 .. 1_048_576;   # 4 MiB
my $file = $t->dir . '/fault-fw.bin';
OtaTest::write_file($file, $fw);
my ($rc, $out, $err) = $t->otactl('package', 'add', $file, qw(--product fp --module default
                                  --name fw --version 3.0.0));
is($rc, 0, 'package added') or diag($err);
my ($pkg) = $out =~ /^(\S+)\s*$/m;
($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
                               qw(--type upgrade --name fault-rollout));
is($rc, 0, 'batch created') or diag($err);
my ($batch) = $out =~ /^(\S+)\s*$/m;

my $token = $t->device_token($devs[0], 'fp', $secret{ $devs[0] });
ok($token, 'a device token');

# the load: four downloads at 1 MB/s (about 4 s each)
my @curls;
for my $d (@devs) {
    my $url = $t->base . $t->signed_link($pkg, $d, time + 600);
    my $pid = fork // die;
    if ($pid == 0) {
        exec 'curl', '-sf', '--limit-rate', '1M', '-o', $t->dir . "/$d.bin", $url;
        exit 127;
    }
    push @curls, $pid;
}

sleep 1;
$t->stop_redis(kill => 1);
my $killed = time;

# while Redis is away: the API answers 503 fast, signed downloads go on
my ($answers, $slowest, %st) = (0, 0);
while (time - $killed < 2.5) {
    my $t0 = time;
    my $r = $t->http(POST => '/ota/v1/inform', timeout => 10,
                     headers => { Authorization => "Bearer $token" },
                     json => { module => 'default', version => '2.9.0' });
    my $dt = time - $t0;
    $slowest = $dt if $dt > $slowest;
    $st{ $r->{status} }++;
    $answers++;
    sleep 0.1;
}
is_deeply([keys %st], [503], 'every API call answered 503 while Redis was away')
    or diag(explain \%st);
cmp_ok($slowest, '<', 3, sprintf('no call waited on Redis (slowest %.2f s)', $slowest));
my $h = $t->http(GET => '/ota/v1/health');
is($h->{status}, 503, 'health says degraded');
is($h->{headers}{'retry-after'}, 5, 'with Retry-After');

$t->start_redis;

ok($t->wait_for(sub { $t->http(GET => '/ota/v1/health')->{status} == 200 }, 15),
   'nginx reconnected by itself');
my $r = $t->http(POST => '/ota/v1/inform',
                 headers => { Authorization => "Bearer $token" },
                 json => { module => 'default', version => '2.9.0' });
is($r->{status}, 200, 'the API answers again');

for my $i (0 .. $#curls) {
    waitpid($curls[$i], 0);
    is($? >> 8, 0, "download of $devs[$i] finished through the outage");
    is(sha256_hex(OtaTest::read_file($t->dir . "/$devs[$i].bin")), sha256_hex($fw),
       "and is whole");
}

my $size = length $fw;
for my $d (@devs) {
    my $k = OtaTest::key('OTA_KEY_COVERED', $d, $pkg);
    is($t->wait_for(sub { ($t->redis(GET => $k) // 0) == $size ? $size : 0 }, 15),
       $size, "coverage of $d is exact after the outage");
}

my $counts = $t->wait_for(sub {
    my $c = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
    ($c->{downloaded} // 0) == 4 ? $c : undef;
}, 20);
is($counts && $counts->{downloaded}, 4, 'the worker took every task to downloaded');

like($t->error_log, qr/ota: redis .*(connection lost|connect failed)/,
     'the outage is in the error log');

$t->stop;
done_testing;
