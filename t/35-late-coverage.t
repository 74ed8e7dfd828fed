# Late coverage (issue 14, item 1): a device downloads its package and
# reports progress 100 and the new version before the event of its last
# coverage reaches the stream: the task is succeeded by then and its open
# entry gone.  The worker must still take that later, larger coverage
# (through the device's last closed task of the module, ota:dev:{d}:last)
# without moving the task or any counter: every device ends succeeded with
# covered == size, in Redis, otactl and the admin API.  The order is made
# by the client, so it is certain: one `curl --next` chain on one
# keep-alive connection fetches all but the last 1000 bytes, sends the
# reports, then fetches the rest (a piece that leaves the package
# incomplete waits for the tick, docs/download.md "When"; the last one's
# write follows the reports' answers).  Redis is kept busy meanwhile by a
# script spinning 20 ms at a time from a second connection, so the writes
# queue behind it as under load.  Three more devices report only an
# install step (50) before their last coverage is merged: once it is,
# their task must go on to installing, not stay downloaded.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

# one nginx worker process: one Redis connection, one order of commands
my $t = OtaTest->new(nginx_workers => 1, worker => 1);
ok($t->wait_nginx_redis, 'nginx connected to Redis');
my $events = OtaTest::key('OTA_STREAM_EVENTS');
my @devs = map { "late-$_" } 1 .. 5;          # progress 100, then the new version
my @inst = map { "late-$_" } 6 .. 8;          # progress 50 only: still installing

my %secret;
for my $d (@devs, @inst) {
    my ($rc, $out, $err) = $t->otactl('device', 'add', $d, '--product', 'lp');
    ($secret{$d}) = $out =~ /([0-9a-f]{64})/ or diag($err);
}
my $size = 300_000;
my $file = $t->dir . '/lp-2.0.0.bin';
OtaTest::write_file($file, join '', map { chr(($_ * 31) % 251) } 1 .. $size);
my ($rc, $out, $err) = $t->otactl('package', 'add', $file, qw(--product lp --module default
                                  --name fw --version 2.0.0));
is($rc, 0, 'package added') or diag($err);
chomp(my $pkg = $out);

# each device: a token and its first version report
my %tok;
for my $d (@devs, @inst) {
    my $ts = int(time * 1000);
    my $r = $t->http(POST => '/ota/v1/auth', json => { product => 'lp', device => $d,
        timestamp => "$ts", sign => hmac_sha256_hex("device${d}productlptimestamp$ts", $secret{$d}) });
    $tok{$d} = $r->{json}{token};
    $r = $t->http(POST => '/ota/v1/inform', json => { module => 'default', version => '1.0.0' },
                  headers => { Authorization => "Bearer $tok{$d}" });
    is($r->{status}, 200, "$d reports 1.0.0");
}
ok($t->wait_for(sub { $t->drained }, 10), 'the reports are applied');
($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
                               qw(--type upgrade --name late --wait 10));
is($rc, 0, 'batch created') or diag($err);
chomp(my $batch = $out);
my %url;
for my $d (@devs, @inst) {
    my $r = $t->http(GET => '/ota/v1/upgrade?module=default',
                     headers => { Authorization => "Bearer $tok{$d}" });
    $url{$d} = $r->{json}{url};
    ok($url{$d}, "$d has its signed link");
}
# the notified events are held up to one progress interval (docs/download.md)
ok($t->wait_for(sub { !grep({ $t->task($_, $batch)->{state} ne 'notified' } @devs, @inst)
                      && $t->drained }, 10), 'notified events applied');

# ---- the stream's order, collected as it comes (the worker trims acknowledged
# entries every 5 s, so a read of the stream afterwards could miss some) ----------

my $seen = $t->dir . '/events.seen';
my $collect_stop = $t->dir . '/collect.stop';
my %xinfo = @{ $t->redis(XINFO => 'STREAM', $events) };
my $collector = fork // die "fork: $!";
if ($collector == 0) {
    delete $t->{redis_sock};                   # a connection of its own
    open(my $out, '>', $seen) or POSIX::_exit(1);
    $out->autoflush(1);
    my $id = $xinfo{'last-generated-id'};
    my $until = time + 60;
    while (time < $until) {
        my $r = eval { $t->redis(XREAD => 'COUNT', 1000, 'BLOCK', 100, 'STREAMS', $events, $id) };
        for my $e (@{ $r && ref $r ? $r->[0][1] : [] }) {
            $id = $e->[0];
            my %f = @{ $e->[1] };
            print $out join("\t", map { $f{$_} // '' } qw(device type covered version)), "\n";
        }
        last if -e $collect_stop && !($r && ref $r);
    }
    POSIX::_exit(0);
}

# the entries of the late- devices, in the stream's order
sub seen {
    open(my $in, '<', $seen) or return ();
    my @e;
    while (my $l = <$in>) {
        chomp $l;
        my %f;
        @f{qw(device type covered version)} = split /\t/, $l, -1;
        push @e, \%f if $f{device} =~ /^late-/;
    }
    return @e;
}

# ---- Redis busy: 20 ms scripts back to back from another connection ----------------

my $stop = $t->dir . '/spin.stop';
my $spinner = fork // die "fork: $!";
if ($spinner == 0) {
    delete $t->{redis_sock};                   # a connection of its own
    my $until = time + 30;
    while (!-e $stop && time < $until) {
        eval { $t->redis(EVAL => "local t0 = redis.call('TIME')\n"
            . "local s = t0[1] * 1000000 + t0[2]\n"
            . "repeat local t = redis.call('TIME')\n"
            . "until t[1] * 1000000 + t[2] - s >= 20000\n"
            . "return 1", 0) };
    }
    POSIX::_exit(0);
}
sleep 0.2;

my $last = $size - 1;
my $cut = $size - 1001;

# one curl --next chain on one keep-alive connection: all but the last
# 1000 bytes, the reports (JSON bodies posted to their endpoints), then the
# rest
sub chain {
    my ($d, @reports) = @_;
    my @auth = ('-H', "Authorization: Bearer $tok{$d}", '-H', 'Content-Type: application/json');
    my @cmd = ('timeout', '30', 'curl', '-sS', '-f', '-r', "0-$cut", '-o', '/dev/null', $url{$d});
    while (my ($ep, $body) = splice(@reports, 0, 2)) {
        push @cmd, '--next', '-sS', '-f', @auth, '--data', $body, '-o', '/dev/null',
             $t->base . "/ota/v1/$ep";
    }
    push @cmd, '--next', '-sS', '-f', '-r', ($cut + 1) . "-$last", '-o', '/dev/null', $url{$d};
    return $t->run_cmd({}, @cmd);
}

for my $d (@devs) {
    my ($crc, $cout, $cerr) = chain($d, progress => '{"module":"default","step":100}',
                                    inform => '{"module":"default","version":"2.0.0"}');
    is($crc, 0, "$d: a piece, progress 100, the new version and the last piece in one chain")
        or diag($cerr);
}
# the step reported before the last coverage is merged: once it is, the
# task goes on to installing (not left downloaded)
for my $d (@inst) {
    my ($crc, $cout, $cerr) = chain($d, progress => '{"module":"default","step":50}');
    is($crc, 0, "$d: a piece, progress 50 and the last piece in one chain") or diag($cerr);
}
OtaTest::write_file($stop, '');
waitpid($spinner, 0);

# every device's last coverage written (its whole write may still have
# been queued behind the spinner when the chain ended), then applied
ok($t->wait_for(sub {
    my %whole;
    $whole{ $_->{device} } = 1 for grep { $_->{type} eq 'download' && $_->{covered} == $size } seen();
    return 8 == grep { $whole{$_} } @devs, @inst;
}, 20), 'the last coverage of every device in the stream');
ok($t->wait_for(sub { $t->drained }, 20), 'every event applied');
OtaTest::write_file($collect_stop, '');
waitpid($collector, 0);

# the race happened: a download event with the whole package after the inform
my $after = 0;
my %seen_inform;
for my $e (seen()) {
    my %f = %$e;
    $seen_inform{ $f{device} } = 1 if $f{type} eq 'inform' && $f{version} eq '2.0.0';
    $after++ if $f{type} eq 'download' && $f{covered} == $size && $seen_inform{ $f{device} };
}
is($after, 5, "for $after of 5 devices the last coverage came after the inform");
my ($after_step, %seen_step) = (0);
for my $e (seen()) {
    my %f = %$e;
    next unless grep { $_ eq ($f{device} // '') } @inst;
    $seen_step{ $f{device} } = 1 if $f{type} eq 'progress';
    $after_step++ if $f{type} eq 'download' && $f{covered} == $size && $seen_step{ $f{device} };
}
is($after_step, 3, "for $after_step of 3 devices the last coverage came after the step");

# ---- the outcome ---------------------------------------------------------------------

for my $d (@devs) {
    my $task = $t->task($d, $batch);
    is($task->{state}, 'succeeded', "$d: succeeded");
    is($task->{covered}, $size, "$d: covered == size (the late coverage was taken)");
    is($t->redis(GET => OtaTest::key('OTA_KEY_COVERED', $d, $pkg)), $size, "$d: Redis coverage complete");
    is($t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_LAST', $d), 'default'), $batch,
       "$d: the last closed task of the module is recorded");
    ok(!defined $t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_OPEN', $d), 'default'),
       "$d: no open task");
}
for my $d (@inst) {
    my $task = $t->task($d, $batch);
    is($task->{state}, 'installing', "$d: installing (its step carried it on once downloaded)");
    is($task->{covered}, $size, "$d: covered == size");
    is($task->{step}, 50, "$d: the step kept");
}
my $counts = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
is($counts->{succeeded}, 5, 'five succeeded');
is($counts->{installing}, 3, 'three installing');
my $sum = 0;
$sum += $_ for values %$counts;
is($sum, 8, 'the counts still sum to the total: nothing counted twice');

($rc, $out) = $t->otactl('--json', 'batch', 'show', $batch, '--devices');
my $j = eval { decode_json($out) } // {};
is_deeply([ map { $_->{progress} } @{ $j->{devices} } ], [ (100) x 8 ], 'otactl: 100 % each');
my $a = $t->http(GET => "/ota/admin/batches/$batch/devices",
                 headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{json};
is_deeply([ map { $_->{progress} } @{ $a->{devices} } ], [ (100) x 8 ], 'admin API: 100 % each');

# a replayed late event and a smaller one change nothing
my $n = $t->redis(XLEN => $events);
for my $cov ($size, 100) {
    $t->redis(XADD => $events, '*', type => 'download', ts => int(time * 1000), device => 'late-1',
              package => $pkg, module => 'default', covered => $cov, size => $size);
}
ok($t->wait_for(sub { $t->drained }, 10), 'replays applied');
is($t->task('late-1', $batch)->{covered}, $size, 'a smaller late count does not lower it');
is_deeply($t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch)), $counts, 'counts unchanged');

$t->stop;
done_testing;
