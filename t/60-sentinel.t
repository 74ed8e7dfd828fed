# Redis behind Sentinel: `ota_redis sentinel=... master=...` finds the master
# through the sentinel, and after the master is killed and the sentinel
# promotes the replica, every nginx worker reconnects to the new master by
# itself, without a reload.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaCluster;

my $t = OtaTest->new(no_nginx => 1);
my $primary = $t->{redis_port};
my $replica = OtaCluster::redis_server($t, replicaof => $primary);
my $sentinel = OtaCluster::sentinel($t, master_port => $primary, name => 'otam');

$t->{ota_redis} = "sentinel=127.0.0.1:$sentinel->{port} master=otam";
$t->start_nginx;

ok($t->wait_for(sub { OtaCluster::nginx_clients($primary) >= 2 }, 10),
   'both nginx workers connect to the master the sentinel names');
is(OtaCluster::nginx_clients($replica->{port}), 0, 'none to the replica');
like($t->error_log, qr/master "otam" is at 127\.0\.0\.1:$primary/,
     'the log says where the master is');

# kill the master: the sentinel promotes the replica
$t->stop_redis(kill => 1);
my $new = $t->wait_for(sub {
    my $a = OtaCluster::cmd($sentinel->{port}, 'SENTINEL',
                            'get-master-addr-by-name', 'otam');
    return $a && $a->[1] == $replica->{port} ? 1 : 0;
}, 40);
ok($new, 'sentinel promoted the replica');

ok($t->wait_for(sub { OtaCluster::nginx_clients($replica->{port}) >= 2 }, 20),
   'every nginx worker follows the failover to the new master');
like($t->error_log, qr/master "otam" is at 127\.0\.0\.1:$replica->{port}/,
     'the log names the new master');

$t->stop;
OtaCluster::stop($sentinel);
OtaCluster::stop($replica);
done_testing;
