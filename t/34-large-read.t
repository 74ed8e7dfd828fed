# One stream read larger than Lua's unpack limit (about 8000 values): a
# worker with --count 5000 takes 4500 events of 4500 tasks in one read, so
# its scripts write columns of 9000 arguments; then it takes over 4500
# entries a dead consumer held and acknowledges the 4500 ids.  Both go in
# slices; without them the apply script fails and the events are never
# stored (the cursor stays, or the entries stay pending, forever).

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
ok($t->wait_for(sub { $t->drained }, 10), 'every entry acknowledged (the cursor at the end)');
is($t->redis(HLEN => OtaTest::key('OTA_KEY_BATCH_STATE', $bid)), $N, 'one state entry per task');
is($t->redis(ZCARD => OtaTest::key('OTA_KEY_TASK_DEADLINES')), $N, 'one deadline per task');
unlike($t->worker_log, qr/script \w+ failed/, 'no script failed');

# 4500 entries pending on a consumer that died: taken over in one claim,
# handled in one read, acknowledged with 4500 ids
$t->stop_worker;
pipeline(map { ['XADD', 'ota:events', '*', type => 'download', ts => $ts++, device => "d$_",
                module => 'default', package => $pkg, covered => 10, size => 1000] } 1 .. $N);
my $ghost = $t->redis('XREADGROUP', 'GROUP', 'ota-workers', 'ghost', 'COUNT', 5000,
                      'STREAMS', 'ota:events', '>');
is(scalar @{ $ghost->[0][1] }, $N, "a dead consumer holds $N entries");
$t->start_worker('--count', 5000, '--claim-idle', 500);
ok($t->wait_for(sub { ($counts->()->{downloading} // 0) == $N }, 30), 'all downloading after the claim')
    or diag(explain($counts->()));
ok($t->wait_for(sub { $t->drained }, 10), 'every claimed entry acknowledged');
like($t->worker_log, qr/took over $N entries/, 'in one claim');
unlike($t->worker_log, qr/script \w+ failed/, 'no script failed');

$t->stop;
done_testing;
