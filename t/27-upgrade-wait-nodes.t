# The long poll across nodes: two module nodes behind a load balancer
# share nothing but Redis.  Devices wait on either node (through the
# balancer, and one on node B directly); a batch created with otactl
# wakes every one of them, whichever node holds it, through each node's
# subscriptions to the wake channel.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaCluster;
use OtaDownload;
use OtaWait;
use Time::HiRes qw(time);

my $a = OtaTest->new(worker => 1);
my $b = OtaTest->new(no_redis => 1, redis_port => $a->{redis_port}, store => $a->store);
ok($a->wait_for(sub {
       (() = $a->redis('CLIENT', 'LIST') =~ /name=ota-nginx-wait-\d+/g) == 4 }, 10),
   'each nginx worker process of both nodes holds one subscription');
my $lb_port = OtaCluster::balancer($a, $a->{port}, $b->{port});

my $exp = int(time) + 3600;
my %tok;
for my $d (map { "n$_" } 1 .. 5) {
    $a->fx_device($d, 'gw');
    $tok{$d} = OtaWait::token($a->{secret}, $d, 'gw', $exp);
}

my $file = $a->dir . '/gw-2.0.0.bin';
OtaTest::write_file($file, "gateway firmware\n" x 1000);
my ($rc, $out, $err) = $a->otactl('package', 'add', $file, qw(--product gw --module default
                                  --name gw-fw --version 2.0.0 --sign sha256));
is($rc, 0, 'package added') or diag($err);
my ($pkg) = $out =~ /^(\S+)\s*$/m;

# four through the balancer (round robin: two on each node), one on B
my $via_lb = OtaWait->new($lb_port);
$via_lb->add($_, $tok{$_}, '?wait=20') for qw(n1 n2 n3 n4);
my $on_b = OtaWait->new($b->port);
$on_b->add('n5', $tok{n5}, '?wait=20');

sub waiting {
    my ($t) = @_;
    $t->metric('ota_upgrade_waits_total') - $t->metric('ota_upgrade_waits_ended_total');
}
ok($a->wait_for(sub { waiting($a) == 2 && waiting($b) == 3 }, 5),
   'two devices wait on node A, three on node B');

($rc, $out, $err) = $a->otactl('batch', 'create', '--package', $pkg,
                               qw(--type upgrade --name lb-wait));
is($rc, 0, 'batch created') or diag($err);
ok($via_lb->pump(1, sub { $via_lb->answered == 4 }) && $on_b->pump(1, sub { $on_b->answered }),
   'every waiting device has its offer within a second, on both nodes');
is(scalar $via_lb->with_status(200) + scalar $on_b->with_status(200), 5, 'all with 200');
is($on_b->json('n5') && $on_b->json('n5')->{package}, $pkg, 'the offer');

my $log = OtaTest::read_file($a->dir . '/lb/access.log');
my %by;
$by{$1}++ while $log =~ /upgrade\?wait=20 HTTP\/1\.1 200 127\.0\.0\.1:(\d+)/g;
is_deeply(\%by, { $a->{port} => 2, $b->{port} => 2 },
          'the balancer had two of them answered by each node');

OtaCluster::stop_balancer($a);
$b->stop;
$a->stop;
done_testing;
