# ota-worker under faults: SIGKILL in the middle of a burst (another
# worker claims what the dead one held: nothing lost, nothing counted
# twice), the whole burst replayed, two workers at once, Redis restarted
# under a running worker, SIGTERM, bad arguments.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1);
my $ts = int(time * 1000);
my $N = 300;

# pipelined commands on the harness connection
sub pipeline {
    my (@cmds) = @_;
    $t->redis('PING');
    my $s = $t->{redis_sock};
    my $req = '';
    for my $c (@cmds) {
        $req .= '*' . @$c . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @$c);
    }
    print {$s} $req;
    OtaTest::_resp_read($s) for @cmds;
}

sub counts { $t->redis_hash("ota:batch:{$_[0]}:counts") }

# every device session of a module, interleaved phase by phase: one in
# five fails flashing, the others reach the target version
sub burst {
    my ($mod, $bid, $pkg, $size) = @_;
    my @ev;
    for my $phase (0 .. 4) {
        for my $i (1 .. $N) {
            my @base = (device => "d$i", module => $mod);
            my @e = $phase == 0 ? (type => 'notified', @base, batch => $bid, package => $pkg)
                  : $phase == 1 ? (type => 'download', @base, package => $pkg, covered => int($size / 2), size => $size)
                  : $phase == 2 ? (type => 'download', @base, package => $pkg, covered => $size, size => $size)
                  : $phase == 3 ? (type => 'progress', @base, product => 'p', step => 40, desc => 'x')
                  : $i % 5 == 0 ? (type => 'progress', @base, product => 'p', step => -4, desc => 'flash')
                  :               (type => 'inform', @base, product => 'p', version => '2.0.0');
            my %e = @e;
            push @ev, ['XADD', 'ota:events', '*', type => $e{type}, ts => $ts++,
                       map { $_ => $e{$_} } grep { $_ ne 'type' } sort keys %e];
        }
    }
    return @ev;
}

sub expect_done {
    my ($bid, $mod, $what) = @_;
    my $c = counts($bid);
    is($c->{succeeded}, $N * 4 / 5, "$what: succeeded exactly once each");
    is($c->{failed}, $N / 5, "$what: failed exactly once each");
    is($c->{$_}, 0, "$what: none $_") for qw(pending notified downloading downloaded installing);
    is($t->redis('HGET', "ota:batch:{$bid}:failures", 'flash_failed'), $N / 5, "$what: failure reasons");
    is($t->redis('HGET', "ota:batch:{$bid}", 'state'), 'finished', "$what: batch finished");
    is($t->redis('HGET', "ota:verdist:{p}:$mod", '2.0.0'), $N * 4 / 5, "$what: distribution at 2.0.0");
    is($t->redis('HGET', "ota:verdist:{p}:$mod", '1.0.0'), $N / 5, "$what: distribution at 1.0.0");
}

sub setup_module {
    my ($mod) = @_;
    $t->otactl('module', 'add', $mod, '--product', 'p');
    pipeline(map { ['XADD', 'ota:events', '*', type => 'inform', ts => $ts++, device => "d$_",
                    product => 'p', module => $mod, version => '1.0.0'] } 1 .. $N);
    $t->wait_for(sub { $t->drained }, 20) or die 'not drained';
    my $f = $t->dir . "/$mod.bin";
    OtaTest::write_file($f, 'z' x 5000);
    my ($rc, $pkg, $err) = $t->otactl('package', 'add', $f, '--product', 'p', '--module', $mod,
                                      '--name', $mod, '--version', '2.0.0');
    die $err if $rc;
    chomp $pkg;
    ($rc, my $bid, $err) = $t->otactl('batch', 'create', '--package', $pkg, '--type', 'upgrade',
                                      '--name', $mod);
    die $err if $rc;
    chomp $bid;
    return ($pkg, $bid);
}

pipeline(map { ['HSET', "ota:dev:{d$_}", 'product', 'p', 'secret', 'x' x 32, 'created', 1],
               ['SADD', 'ota:prod:{p}:devices', "d$_"] } 1 .. $N);
pipeline(['SADD', 'ota:products', 'p'], ['HSET', 'ota:prod:{p}:modules', 'default', '{}']);

# ---- SIGKILL in the middle of a burst ---------------------------------------
my $w1 = $t->start_worker('--count', 40, '--claim-idle', 500);
my ($pkg, $bid) = setup_module('fw');
is($t->redis('HGET', "ota:batch:{$bid}", 'total'), $N, "$N tasks");

my @burst = burst('fw', $bid, $pkg, 5000);
# freeze the worker, queue the burst, let a ghost consumer take 600 entries
# and vanish (a worker that died holding them), then let the worker run a
# few milliseconds and SIGKILL it in the middle of its reads
kill 'STOP', $w1;
pipeline(@burst);
my $ghost = $t->redis('XREADGROUP', 'GROUP', 'ota-workers', 'ghost', 'COUNT', 600,
                      'STREAMS', 'ota:events', '>');
is(scalar @{ $ghost->[0][1] }, 600, 'a ghost consumer holds 600 entries');
kill 'CONT', $w1;
sleep 0.01;
my ($wk) = grep { $_->{pid} == $w1 } @{ $t->{workers} };
$t->stop_worker(worker => $wk, signal => 'KILL');
my $pend = $t->redis('XPENDING', 'ota:events', 'ota-workers')->[0];
my %grp = @{ $t->redis('XINFO', 'GROUPS', 'ota:events')->[0] };
diag("killed: $pend entries pending on dead consumers, group cursor at "
     . "$grp{'last-delivered-id'}, stream at "
     . { @{ $t->redis('XINFO', 'STREAM', 'ota:events') } }->{'last-generated-id'});
ok($pend >= 600, 'entries are pending on dead consumers');

$t->start_worker('--count', 40, '--claim-idle', 500);
ok($t->wait_for(sub { $t->drained }, 30), 'a new worker drained the stream (claimed the dead one\'s entries)');
expect_done($bid, 'fw', 'after SIGKILL');
like($t->worker_log, qr/took over \d+ entries/, 'the new worker says it took over');

# the whole burst again: nothing moves
pipeline(@burst);
ok($t->wait_for(sub { $t->drained }, 30), 'replayed burst drained');
expect_done($bid, 'fw', 'after a full replay');

# acknowledged entries are trimmed away
ok($t->wait_for(sub { $t->redis('XLEN', 'ota:events') < 100 }, 15),
   'acknowledged entries trimmed from the stream');

# ---- two workers at once: one reads the events (the reader lease) ---------------
$t->start_worker('--count', 25, '--claim-idle', 500);
my ($pkg2, $bid2) = setup_module('app');
pipeline(burst('app', $bid2, $pkg2, 5000));
ok($t->wait_for(sub { $t->drained }, 30), 'two workers drained the stream');
expect_done($bid2, 'app', 'two workers');
my @live = grep { !defined $_->{status} } @{ $t->{workers} };
is(scalar @live, 2, 'two workers run');
my $reader = $t->redis('GET', 'ota:events:reader') // '';
my ($holder) = grep { $_->{name} eq $reader } @live;
ok($holder, "one of them holds the reader lease ($reader)");
my ($standby) = grep { $_ != $holder } @live;
like(OtaTest::read_file($standby->{log}), qr/consumer \Q$reader\E reads the events/,
     'the other one says who reads the events');
%grp = @{ $t->redis('XINFO', 'GROUPS', 'ota:events')->[0] };
is($grp{lag}, 0, 'the group still counts the entries read (lag 0)');
ok($t->redis('PTTL', 'ota:events:reader') > 0, 'the lease expires by itself');

# the reader killed: the other one takes the lease over when it expires
# (3 s at most) and reads on from the group's cursor
$t->stop_worker(worker => $holder, signal => 'KILL');
my ($other) = grep { $_ != $holder } @live;
my ($pkg3, $bid3) = setup_module('drv');
is($t->redis('GET', 'ota:events:reader'), $other->{name},
   'after a SIGKILL the other worker reads the events');
like(OtaTest::read_file($other->{log}), qr/reading the events from \S+ on/,
     'and says from where');
$t->start_worker('--count', 25, '--claim-idle', 500);

# ---- Redis restarted under running workers ------------------------------------
my @b3 = burst('drv', $bid3, $pkg3, 5000);
pipeline(@b3[0 .. 2 * $N - 1]);
$t->stop_redis;                            # SHUTDOWN: the AOF keeps everything
sleep 1;
$t->start_redis;
pipeline(@b3[2 * $N .. $#b3]);
ok($t->wait_for(sub { $t->drained }, 30), 'after a Redis restart the stream drains');
expect_done($bid3, 'drv', 'Redis restart');
ok($t->wait_for(sub { grep { $t->worker_log($_) =~ /connected to Redis at .* again/ } 0 .. $#{ $t->{workers} } }),
   'the workers reconnected by themselves');

# ---- SIGTERM: clean exit, the lease handed on at once ---------------------------
$reader = $t->redis('GET', 'ota:events:reader') // '';
($holder) = grep { $_->{name} eq $reader && !defined $_->{status} } @{ $t->{workers} };
ok($holder, 'a worker holds the reader lease');
my $st = $t->stop_worker(worker => $holder);
is($st, 0, 'SIGTERM: exit 0');
like(OtaTest::read_file($holder->{log}), qr/stopping: \d+ events/, 'says it stops');
ok($t->wait_for(sub { ($t->redis('GET', 'ota:events:reader') // '') ne $reader }, 2.5),
   'SIGTERM gives the reader lease up (the other worker takes it at its next tick)');
$t->stop_worker(worker => $_) for grep { !defined $_->{status} } @{ $t->{workers} };

# ---- bad arguments ---------------------------------------------------------------
my $w = "$OtaTest::BUILD/ota-worker";
my ($rc, $out, $err) = $t->run_cmd({}, $w, '--redis', 'nonsense');
is($rc, 2, 'bad --redis: exit 2');
like($err, qr/invalid Redis address "nonsense"/i, 'and says why');
($rc, $out, $err) = $t->run_cmd({}, $w, '--task-timeout', '-5');
like($err, qr/invalid task timeout/, 'bad --task-timeout refused');
($rc, $out, $err) = $t->run_cmd({}, $w, '--chunk', '3001');
is($rc, 2, '--chunk over 3000: exit 2');
like($err, qr/invalid chunk "3001" \(want 1\.\.3000\)/, 'and says the range');
($rc, $out, $err) = $t->run_cmd({}, $w, '--frob', '1');
like($err, qr/unknown setting "frob"/, 'unknown flag refused');
OtaTest::write_file($t->dir . '/w.conf', "redis 127.0.0.1:6379\nclaim_idle = 10\n");
($rc, $out, $err) = $t->run_cmd({}, $w, '--config', $t->dir . '/w.conf');
like($err, qr/w\.conf:2: invalid claim idle "10"/, 'config file errors name the line');
($rc, $out, $err) = $t->run_cmd({}, $w, '--config', "$OtaTest::ROOT/conf/worker.conf", '--help');
is($rc, 0, 'conf/worker.conf is accepted');

$t->stop;
done_testing;
