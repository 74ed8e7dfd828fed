# Redis failover under Sentinel, end to end: nginx (`ota_redis sentinel=...
# master=...`) and ota-worker (`--redis sentinel=IP:PORT/MASTER`) both find
# the master through the sentinel.  Devices complete sessions, the master is
# SIGKILLed, the sentinel promotes the replica, and both nginx and the worker
# follow by themselves: sessions after the failover complete too, and the
# final statistics count every device exactly once (no acknowledged event
# lost, none counted twice).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaCluster;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);

my $t = OtaTest->new(no_nginx => 1);
my $primary = $t->{redis_port};
my $replica = OtaCluster::redis_server($t, replicaof => $primary);
my $sentinel = OtaCluster::sentinel($t, master_port => $primary, name => 'otam');
my $sent_addr = "127.0.0.1:$sentinel->{port}";

$t->{ota_redis} = "sentinel=$sent_addr master=otam";
$t->{http_extra} = 'ota_progress_interval 200ms;';
$t->start_nginx;
$t->start_worker('--redis', "sentinel=$sent_addr/otam");

ok($t->wait_for(sub { OtaCluster::nginx_clients($primary) >= 2 }, 15),
   'nginx found the master through the sentinel');

my $master = $primary;
sub R { OtaCluster::cmd($master, @_) }
sub rhash { my $r = R(HGETALL => $_[0]) // []; return { @$r } }

# otactl through the sentinel as well
my %env = (OTA_REDIS => "sentinel=$sent_addr/otam", OTA_STORE => $t->store);
my (%secret, @devs);
for my $i (1 .. 4) {
    my $d = "fo-$i";
    my ($rc, $out, $err) = $t->run_cmd(\%env, "$OtaTest::BUILD/otactl", 'device', 'add',
                                       $d, '--product', 'fo');
    is($rc, 0, "device $d added through the sentinel") or diag($err);
    ($secret{$d}) = $out =~ /([0-9a-f]{64})/;
    push @devs, $d;
}
my $fw = 'fw-2.0.0 ' x 20000;
OtaTest::write_file($t->dir . '/fw.bin', $fw);
my ($rc, $out, $err) = $t->run_cmd(\%env, "$OtaTest::BUILD/otactl", 'package', 'add',
    $t->dir . '/fw.bin', qw(--product fo --module default --name fw --version 2.0.0));
is($rc, 0, 'package added') or diag($err);
my ($pkg) = $out =~ /^(\S+)\s*$/m;
($rc, $out, $err) = $t->run_cmd(\%env, "$OtaTest::BUILD/otactl", 'batch', 'create',
    '--package', $pkg, qw(--type upgrade --name failover));
is($rc, 0, 'batch created by the worker') or diag($err);
my ($batch) = $out =~ /^(\S+)\s*$/m;

# one device session; every call is retried while Redis changes hands
sub call {
    my ($method, $path, %o) = @_;
    my $r;
    my $until = time + 30;
    do {
        $r = $t->http($method, $path, %o);
        return $r if $r->{status} != 503;
        sleep 0.2;
    } while (time < $until);
    return $r;
}

sub session {
    my ($d) = @_;
    my $ts = int(time * 1000);
    my $r = call(POST => '/ota/v1/auth', json => {
        product => 'fo', device => $d, timestamp => "$ts",
        sign => OtaTest::auth_sign($secret{$d}, $d, 'fo', $ts) });
    is($r->{status}, 200, "$d: auth") or return;
    my %h = (headers => { Authorization => "Bearer $r->{json}{token}" });
    is(call(POST => '/ota/v1/inform', %h,
            json => { module => 'default', version => '1.0.0' })->{status}, 200,
       "$d: inform 1.0.0");
    $r = call(GET => '/ota/v1/upgrade?module=default', %h);
    is($r->{status}, 200, "$d: upgrade") or return;
    my $dl = $t->http(GET => $r->{json}{url});
    is(sha256_hex($dl->{content} // ''), sha256_hex($fw), "$d: download whole");
    is(call(POST => '/ota/v1/progress', %h,
            json => { module => 'default', step => 100 })->{status}, 200,
       "$d: progress 100");
    is(call(POST => '/ota/v1/inform', %h,
            json => { module => 'default', version => '2.0.0' })->{status}, 200,
       "$d: inform 2.0.0");
}

sub succeeded {
    my $c = eval { rhash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch)) } // {};
    return $c->{succeeded} // 0;
}

session($_) for @devs[0, 1];
is($t->wait_for(sub { succeeded() == 2 ? 2 : 0 }, 20), 2,
   'two devices succeeded before the failover');

# the replica has everything acknowledged so far (async replication is
# Redis's own limit: docs/deploy.md), then the master dies
# WAIT answers how many replicas have the writes; on a loaded machine the
# first answer can come before the replica's ack, so ask again for a while
ok($t->wait_for(sub { (R('WAIT', 1, 2000) // 0) >= 1 }, 30), 'the replica caught up');
$t->stop_redis(kill => 1);
ok($t->wait_for(sub {
    my $a = OtaCluster::cmd($sentinel->{port}, 'SENTINEL', 'get-master-addr-by-name', 'otam');
    $a && $a->[1] == $replica->{port};
}, 40), 'the sentinel promoted the replica');
$master = $replica->{port};

ok($t->wait_for(sub { OtaCluster::nginx_clients($master) >= 2 }, 20),
   'nginx follows to the new master');

session($_) for @devs[2, 3];
is($t->wait_for(sub { succeeded() == 4 ? 4 : 0 }, 30), 4,
   'the worker followed too: all four devices succeeded');

my $c = rhash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
my $sum = 0;
$sum += $_ for values %$c;
is($sum, 4, 'every device counted exactly once');
my $dist = rhash(OtaTest::key('OTA_KEY_VERSION_DIST', 'fo', 'default'));
is($dist->{'2.0.0'}, 4, 'version distribution: four devices at 2.0.0');
ok(!$dist->{'1.0.0'}, 'none left at 1.0.0');
like($t->worker_log, qr/lost Redis|reconnect/i, 'the worker log shows the reconnect');

# a malformed Sentinel address is refused with the form to use
for my $bad ('sentinel=127.0.0.1:1', 'sentinel=/otam', 'sentinel=nohost/otam',
             'sentinel=127.0.0.1:99999/otam') {
    my ($brc, undef, $berr) = $t->run_cmd({ OTA_REDIS => $bad }, "$OtaTest::BUILD/otactl",
                                          'device', 'list');
    isnt($brc, 0, "otactl refuses OTA_REDIS=$bad");
    like($berr, qr/sentinel/i, 'and says what is wrong');
}

$t->stop;
OtaCluster::stop($sentinel);
OtaCluster::stop($replica);
done_testing;
