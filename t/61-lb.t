# Two module nodes behind a real load balancer (a plain nginx upstream) that
# share nothing but Redis and the package store:
#  - a token issued by node A works on node B (stateless tokens);
#  - a download started through node A and resumed through node B ends at
#    exactly 100 % coverage, counted once;
#  - an aria2c -x8 segmented download through the balancer, whose segments
#    land on both nodes, ends at exactly 100 % and the task at "downloaded".

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaCluster;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep);

my $fast = 'ota_progress_interval 200ms;';
my $a = OtaTest->new(worker => 1, http_extra => $fast);
my $b = OtaTest->new(no_redis => 1, redis_port => $a->{redis_port},
                     store => $a->store, http_extra => $fast);
ok($a->wait_nginx_redis && $b->wait_for(sub {
       my $l = $a->redis('CLIENT', 'LIST');
       (() = $l =~ /name=ota-nginx-/g) >= 4 }),
   'both nodes connected to the one Redis');

# the balancer: round robin over both nodes, no module
my $lb_port = OtaCluster::balancer($a, $a->{port}, $b->{port});
ok($lb_port, 'load balancer started');
my ($rc, $out, $err);

# a product with two devices, a 3 MB package, an upgrade batch
my %secret;
for my $d (qw(lb-dev-1 lb-dev-2)) {
    ($rc, $out, $err) = $a->otactl('device', 'add', $d, '--product', 'gw');
    is($rc, 0, "device $d added") or diag($err);
    ($secret{$d}) = $out =~ /([0-9a-f]{64})/;
}
my $fw = join '', map { pack('N', ($_ * 2654435761) % 4294967296) } 1 .. 786_432;
my $file = $a->dir . '/gw-2.0.0.bin';
OtaTest::write_file($file, $fw);
($rc, $out, $err) = $a->otactl('package', 'add', $file, qw(--product gw --module default
                               --name gw-fw --version 2.0.0 --sign sha256));
is($rc, 0, 'package added') or diag($err);
my ($pkg) = $out =~ /^(\S+)\s*$/m;
($rc, $out, $err) = $a->otactl('batch', 'create', '--package', $pkg, qw(--type upgrade
                               --name lb-rollout));
is($rc, 0, 'batch created') or diag($err);
my ($batch) = $out =~ /^(\S+)\s*$/m;

# a token from node A works on node B
my $tok = $a->device_token('lb-dev-1', 'gw', $secret{'lb-dev-1'});
ok($tok, 'token issued by node A');
my $r = $b->http(GET => '/ota/v1/upgrade?module=default',
                 headers => { Authorization => "Bearer $tok" });
is($r->{status}, 200, 'node B accepts the token of node A');
is($r->{json}{package}, $pkg, 'and hands out the package');
my ($query) = ($r->{json}{url} // '') =~ /(\?.*)$/;
ok($query, 'signed link in the answer');

my $cov_n = OtaTest::key('OTA_KEY_COVERED', 'lb-dev-1', $pkg);
my $cov = OtaTest::key('OTA_KEY_COVERAGE', 'lb-dev-1', $pkg);
my $size = length $fw;

# start on A, interrupted after 1 MB; resume on B
my $part = $a->dir . '/dev1.bin';
my $url_a = $a->base . "/ota/v1/packages/$pkg$query";
my $url_b = $b->base . "/ota/v1/packages/$pkg$query";
($rc) = $a->run_cmd({}, 'curl', '-sf', '-o', $part, '-r', '0-1048575', $url_a);
is($rc, 0, 'first megabyte through node A');
($rc, undef, $err) = $a->run_cmd({}, 'curl', '-sf', '-o', $part, '-C', '-', $url_b);
is($rc, 0, 'resumed through node B with curl -C -') or diag($err);
is(sha256_hex(OtaTest::read_file($part)), sha256_hex($fw), 'the file is whole');
is($a->wait_for(sub { ($a->redis(GET => $cov_n) // 0) == $size ? $size : 0 }),
   $size, 'coverage is exactly the package size');
is_deeply($a->redis(ZRANGE => $cov, 0, -1), ["0-$size"],
          'one merged range across both nodes');

# aria2c -x8 through the balancer for the second device
$tok = $b->device_token('lb-dev-2', 'gw', $secret{'lb-dev-2'});
ok($tok, 'token issued by node B');
$r = $a->http(GET => '/ota/v1/upgrade?module=default',
              headers => { Authorization => "Bearer $tok" });
($query) = ($r->{json}{url} // '') =~ /(\?.*)$/;
my $url_lb = "http://127.0.0.1:$lb_port/ota/v1/packages/$pkg$query";
# two pieces first: round robin puts one on each node
for my $range ('0-99999', '100000-199999') {
    ($rc) = $a->run_cmd({}, 'curl', '-sf', '-o', '/dev/null', '-r', $range, $url_lb);
    is($rc, 0, "piece $range through the balancer");
}
($rc, $out, $err) = $a->run_cmd({}, 'aria2c', '-q', '-x8', '-s8', '-k1M',
                                '--allow-overwrite=true', '--auto-file-renaming=false',
                                '-d', $a->dir, '-o', 'dev2.bin', $url_lb);
is($rc, 0, 'aria2c -x8 -s8 through the balancer') or diag("$out$err");
is(sha256_hex(OtaTest::read_file($a->dir . '/dev2.bin')), sha256_hex($fw),
   'aria2c file matches the digest');

my $cov2 = OtaTest::key('OTA_KEY_COVERED', 'lb-dev-2', $pkg);
is($a->wait_for(sub { ($a->redis(GET => $cov2) // 0) == $size ? $size : 0 }),
   $size, 'segmented download through both nodes: exactly 100 %');

my $hits = sub {
    my $log = OtaTest::read_file($_[0]->dir . '/nginx/access.log');
    return () = $log =~ /packages\/\Q$pkg\E\?device=lb-dev-2/g;
};
ok($hits->($a) > 0 && $hits->($b) > 0,
   'segments were served by both nodes (' . $hits->($a) . ' + ' . $hits->($b) . ')');

# the worker saw both downloads complete, once each
my $counts = $a->wait_for(sub {
    my $c = $a->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
    ($c->{downloaded} // 0) == 2 ? $c : undef;
});
is($counts && $counts->{downloaded}, 2, 'both tasks downloaded');
is($counts && $counts->{downloading} + $counts->{pending} + $counts->{notified}, 0,
   'nothing counted twice or left behind');

OtaCluster::stop_balancer($a);
$b->stop;
$a->stop;
done_testing;
