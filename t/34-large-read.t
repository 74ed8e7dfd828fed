# One stream read larger than Lua's unpack limit (about 8000 values): a
# worker with --count 5000 takes 4500 events of 4500 tasks in one read, so
# its scripts write columns of 9000 arguments and acknowledge 4500 ids.
# They go in slices; without them the apply script fails and the events
# stay pending forever.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1);
my $N = 4500;
my $ts = int(time * 1000);

sub pipeline {
    my (@cmds) = @_;
    $t->redis('PING');
    my $s = $t->{redis_sock};
    while (my @part = splice @cmds, 0, 1000) {
        my $req = '';
        for my $c (@part) {
            $req .= '*' . @$c . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$c);
        }
        print {$s} $req;
        OtaTest::_resp_read($s) for @part;
    }
}

# devices at 1.0.0 straight into Redis, as docs/redis-schema.md has them
pipeline(['SADD', OtaTest::key('OTA_KEY_PRODUCTS'), 'p'],
         map { my $d = "d$_";
               (['SADD', OtaTest::key('OTA_KEY_PRODUCT_DEVICES', 'p'), $d],
                ['HSET', OtaTest::key('OTA_KEY_DEVICE', $d), product => 'p', secret => '00', created => 1],
                ['HSET', OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $d), default => '1.0.0'],
                ['SADD', OtaTest::key('OTA_KEY_VERSION_SET', 'p', 'default', '1.0.0'), $d]) } 1 .. $N);
$t->redis(HSET => OtaTest::key('OTA_KEY_VERSION_DIST', 'p', 'default'), '1.0.0', $N);
$t->redis(HSET => OtaTest::key('OTA_KEY_PRODUCT_MODULES', 'p'), default => '{}');

$t->start_worker('--count', 5000, '--chunk', 3000);
my $file = $t->dir . '/fw.bin';
OtaTest::write_file($file, 'x' x 1000);
my ($rc, $pkg, $err) = $t->otactl('package', 'add', $file, qw(--product p --module default --name fw --version 2.0.0));
is($rc, 0, 'package') or diag($err);
chomp $pkg;
($rc, my $bid, $err) = $t->otactl('batch', 'create', '--package', $pkg, '--type', 'upgrade', '--name', 'big', '--wait', 60);
is($rc, 0, 'batch of 4500') or diag($err);
chomp $bid;
my $counts = sub { $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $bid)) };
is($counts->()->{pending}, $N, 'every task pending');

# the events queued while no worker runs, so one read takes them all
$t->stop_worker;
pipeline(map { ['XADD', 'ota:events', '*', type => 'notified', ts => $ts++, device => "d$_",
                module => 'default', batch => $bid, package => $pkg] } 1 .. $N);
$t->start_worker('--count', 5000, '--chunk', 3000);
ok($t->wait_for(sub { ($counts->()->{notified} // 0) == $N }, 30), 'all notified from one read')
    or diag(explain($counts->()));
ok($t->wait_for(sub {
    my %g = @{ $t->redis('XINFO', 'GROUPS', 'ota:events')->[0] };
    $g{pending} == 0 }, 10), 'every entry acknowledged');
is($t->redis(HLEN => OtaTest::key('OTA_KEY_BATCH_STATE', $bid)), $N, 'one state entry per task');
is($t->redis(ZCARD => OtaTest::key('OTA_KEY_TASK_DEADLINES')), $N, 'one deadline per task');
unlike($t->worker_log, qr/script \w+ failed/, 'no script failed');

$t->stop;
done_testing;
