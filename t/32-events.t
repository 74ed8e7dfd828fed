# ota-worker: device sessions scripted as the module's events (fields of
# docs/redis-schema.md) drive the task state machine; counts, success rate,
# completion, failure reasons and the version distribution follow; repeated,
# late and out-of-order events change nothing; stalled tasks time out.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1);
$t->start_worker('--task-timeout', 2);
my $ts = int(time * 1000);
my @sent;

sub ev {
    my (%f) = @_;
    my $type = delete $f{type};
    my @e = (type => $type, ts => delete $f{ts} // $ts++,
             map { $_ => $f{$_} } sort keys %f);
    push @sent, \@e;
    $t->redis('XADD', 'ota:events', '*', @e);
}

sub settle { $t->wait_for(sub { $t->drained }) or die "worker did not drain" }

sub batch {
    my ($id) = @_;
    my ($rc, $out, $err) = $t->otactl('--json', 'batch', 'show', $id, '--devices');
    die "batch show: $err" if $rc;
    return decode_json($out);
}

# a task as every reader sees it (its batch's task columns and record)
sub task {
    my ($dev, $bid) = @_;
    return $t->task($dev, $bid) // {};
}

my @dev = qw(d1 d2 d3 d4 d5 d6);
for my $d (@dev) {
    my ($rc, undef, $err) = $t->otactl('device', 'add', $d, '--product', 'p');
    die $err if $rc;
    ev(type => 'inform', device => $d, product => 'p', module => 'fw', version => '1.0.0');
}
$t->otactl(qw(module add fw --product p));
my $file = $t->dir . '/fw.bin';
OtaTest::write_file($file, 'x' x 10000);
my ($rc, $pkg, $err) = $t->otactl('package', 'add', $file, qw(--product p --module fw --name fw --version 2.0.0));
chomp $pkg;
settle();

my ($rc2, $out) = $t->otactl(qw(--json stats versions --product p --module fw));
my $st = decode_json($out);
is($st->{modules}[0]{versions}{'1.0.0'}, 6, 'distribution: 6 devices at 1.0.0');

($rc, my $bid, $err) = $t->otactl('batch', 'create', '--package', $pkg, qw(--type upgrade --name up));
chomp $bid;
is($rc, 0, 'batch created') or diag($err);
is(batch($bid)->{total}, 6, '6 tasks');

# d1: the whole session in order
ev(type => 'notified', device => 'd1', module => 'fw', batch => $bid, package => $pkg);
settle();
is(task('d1', $bid)->{state}, 'notified', 'd1 notified');
# the task's fields from its batch and columns after its first move
is_deeply([ @{ task('d1', $bid) }{qw(device batch package module version from size covered)} ],
          [ 'd1', $bid, $pkg, 'fw', '2.0.0', '1.0.0', 10000, 0 ], 'd1: every field after its first move');
ok(($t->redis('HGET', OtaTest::key('OTA_KEY_BATCH_UPDATED', $bid), 'd1') // 0) >= task('d1', $bid)->{created},
   'updated written by the move');
is(task('d1', $bid)->{created}, $t->redis('HGET', "ota:batch:{$bid}", 'created'), 'created: the batch\'s');
ev(type => 'download', device => 'd1', module => 'fw', package => $pkg, covered => 4000, size => 10000);
settle();
is(task('d1', $bid)->{state}, 'downloading', 'd1 downloading');
is(task('d1', $bid)->{covered}, 4000, 'd1 covered 4000');
my $b = batch($bid);
my ($d1) = grep { $_->{device} eq 'd1' } @{ $b->{devices} };
is($d1->{progress}, 40, 'batch show: progress 40 %');
ev(type => 'download', device => 'd1', module => 'fw', package => $pkg, covered => 10000, size => 10000);
settle();
is(task('d1', $bid)->{state}, 'downloaded', 'd1 downloaded');
ev(type => 'progress', device => 'd1', product => 'p', module => 'fw', step => 30, desc => 'flashing');
settle();
is(task('d1', $bid)->{state}, 'installing', 'd1 installing');
is(task('d1', $bid)->{step}, 30, 'step recorded');
is(task('d1', $bid)->{desc}, 'flashing', 'desc recorded');
ev(type => 'inform', device => 'd1', product => 'p', module => 'fw', version => '2.0.0');
settle();
is(task('d1', $bid)->{state}, 'succeeded', 'd1 succeeded');
ok(!$t->redis('HEXISTS', 'ota:dev:{d1}:open', 'fw'), 'open entry cleared on success');
is($t->redis('HGET', 'ota:dev:{d1}:ver', 'fw'), '2.0.0', 'device version updated');
{
    # the device's tasks are found through the batches' devices (no
    # per-device history): a finished task is still listed
    my ($rc, $out) = $t->otactl('--json', 'device', 'show', 'd1');
    is($rc, 0, 'device show d1');
    my $tasks = decode_json($out)->{tasks};
    is_deeply([ map { @$_{qw(batch state covered)} } @$tasks ], [ $bid, 'succeeded', 10000 ],
              'device show lists the finished task');
}

# every d1 event again, and late ones: nothing moves, nothing counts twice
my @d1 = grep { my %e = @$_; ($e{device} // '') eq 'd1' } @sent;
my $counts = batch($bid)->{counts};
$t->redis('XADD', 'ota:events', '*', @$_) for @d1;
ev(type => 'download', device => 'd1', module => 'fw', package => $pkg, covered => 2000, size => 10000);
ev(type => 'progress', device => 'd1', product => 'p', module => 'fw', step => -1, desc => 'late');
settle();
is_deeply(batch($bid)->{counts}, $counts, 'replayed and late events change no count');
is(task('d1', $bid)->{state}, 'succeeded', 'd1 still succeeded');
is(task('d1', $bid)->{covered}, 10000, 'covered never decreases');

# d2: out of order: success first, then the rest
ev(type => 'inform', device => 'd2', product => 'p', module => 'fw', version => '2.0.0');
ev(type => 'download', device => 'd2', module => 'fw', package => $pkg, covered => 10000, size => 10000);
ev(type => 'notified', device => 'd2', module => 'fw', batch => $bid, package => $pkg);
ev(type => 'progress', device => 'd2', product => 'p', module => 'fw', step => 50, desc => 'x');
settle();
is(task('d2', $bid)->{state}, 'succeeded', 'd2: out of order still succeeded');

# d3: step -3 (verification failed), later events ignored
ev(type => 'notified', device => 'd3', module => 'fw', batch => $bid, package => $pkg);
ev(type => 'download', device => 'd3', module => 'fw', package => $pkg, covered => 10000, size => 10000);
ev(type => 'progress', device => 'd3', product => 'p', module => 'fw', step => '-3', desc => 'bad digest');
ev(type => 'progress', device => 'd3', product => 'p', module => 'fw', step => 80, desc => 'late');
settle();
is(task('d3', $bid)->{state}, 'failed', 'd3 failed');
is(task('d3', $bid)->{reason}, 'verify_failed', 'reason verify_failed');

# d4: a version neither source nor target
ev(type => 'notified', device => 'd4', module => 'fw', batch => $bid, package => $pkg);
ev(type => 'inform', device => 'd4', product => 'p', module => 'fw', version => '1.0.0');
settle();
is(task('d4', $bid)->{state}, 'notified', 'd4: its source version changes nothing');
ev(type => 'inform', device => 'd4', product => 'p', module => 'fw', version => '1.5.0');
settle();
is(task('d4', $bid)->{reason}, 'wrong_version', 'd4: wrong_version');

# d5: download failed (step -2) before any byte
ev(type => 'progress', device => 'd5', product => 'p', module => 'fw', step => -2, desc => 'no network');
settle();
is(task('d5', $bid)->{reason}, 'download_failed', 'd5: download_failed');

# bytes of another package and malformed events are ignored
ev(type => 'download', device => 'd6', module => 'fw', package => 'other-pkg', covered => 5, size => 10);
ev(type => 'progress', device => 'd6', product => 'p', module => 'fw', step => 'abc');
ev(type => 'progress', device => 'd6', product => 'p', module => 'fw', step => 101);
ev(type => 'inform', device => 'd6', product => 'p', module => 'fw', version => '1.0');
ev(type => 'bogus', device => 'd6');
$t->redis('XADD', 'ota:events', '*', 'nothing', 'here');
settle();
is(task('d6', $bid)->{state}, 'pending', 'd6 untouched by foreign and malformed events');
is(task('d6', $bid)->{covered}, 0, 'no bytes counted');

$b = batch($bid);
is($b->{state}, 'running', 'batch still running (d6 open)');
is_deeply($b->{counts}, { pending => 1, notified => 0, downloading => 0, downloaded => 0,
                          installing => 0, succeeded => 2, failed => 3, cancelled => 0 },
          'counts per state');
is_deeply($b->{failures}, { verify_failed => 1, wrong_version => 1, download_failed => 1 },
          'failure reasons');
is($b->{success_rate}, 0.4, 'success rate 2 / 5');
is($b->{completion}, 0.8333, 'completion 5 / 6');
my $sum = 0;
$sum += $_ for values %{ $b->{counts} };
is($sum, $b->{total}, 'counts add up to the total');

# d6: stalls after notification and times out (worker --task-timeout 2)
ev(type => 'notified', device => 'd6', module => 'fw', batch => $bid, package => $pkg);
settle();
ok(defined $t->redis('ZSCORE', 'ota:deadlines', "$bid:d6"), 'deadline armed');
# deadlines are written once and pushed back lazily: a task that keeps
# progressing (each step sooner than the 2 s timeout) must not time out
for my $cov (100, 200) {
    sleep 1.2;
    ev(type => 'download', device => 'd6', module => 'fw', package => $pkg,
       covered => $cov, size => 10000);
    settle();
}
sleep 0.8;
is(task('d6', $bid)->{state}, 'downloading', 'progressing task not timed out (lazy deadline)');
ok($t->wait_for(sub { task('d6', $bid)->{state} eq 'failed' }, 10), 'd6 timed out');
is(task('d6', $bid)->{reason}, 'timeout', 'reason timeout');
ok(!defined $t->redis('ZSCORE', 'ota:deadlines', "$bid:d6"), 'deadline removed');
$b = batch($bid);
is($b->{state}, 'finished', 'every task final: batch finished');
ok($b->{finished} > 0, 'finish time');
is($b->{failures}{timeout}, 1, 'timeout counted');
is($b->{completion}, 1, 'completion 100 %');

($rc, $out) = $t->otactl('batch', 'show', $bid);
like($out, qr/success rate: 33\.3%/, 'table: success rate');
like($out, qr/failures:.*timeout 1/, 'table: failures');
($rc, $out) = $t->otactl('batch', 'list');
like($out, qr/^\Q$bid\E\s+up\s+upgrade/m, 'batch list');

# a task that keeps progressing does not time out
$t->otactl(qw(module add app --product p));
OtaTest::write_file($t->dir . '/app.bin', 'y' x 1000);
($rc, my $pkg2) = $t->otactl('package', 'add', $t->dir . '/app.bin', qw(--product p --module app --name app --version 1.0.0));
chomp $pkg2;
($rc, my $bid2) = $t->otactl('batch', 'create', '--package', $pkg2, qw(--type upgrade --name app));
chomp $bid2;
ev(type => 'notified', device => 'd1', module => 'app', batch => $bid2, package => $pkg2);
for my $i (1 .. 6) {
    sleep 0.5;
    ev(type => 'download', device => 'd1', module => 'app', package => $pkg2, covered => $i * 100, size => 1000);
}
settle();
is(task('d1', $bid2)->{state}, 'downloading', 'progressing task still downloading after 3 s');
is(task('d2', $bid2)->{state}, 'pending', 'a pending task (device never came) does not time out');
# a paused batch does not time out its tasks
$t->otactl('batch', 'pause', $bid2);
sleep 3;
is(task('d1', $bid2)->{state}, 'downloading', 'paused batch: no timeout');
$t->otactl('batch', 'resume', $bid2);
ok($t->wait_for(sub { (task('d1', $bid2)->{reason} // '') eq 'timeout' }, 10), 'resumed: times out');

# the worker decides tasks it has seen on its cache; a task that moved
# behind it (cancelled, replaced by a task of a new batch) must not take the
# event: the compare and set sends it to the device's open task
ev(type => 'notified', device => 'd2', module => 'app', batch => $bid2, package => $pkg2);
settle();
is(task('d2', $bid2)->{state}, 'notified', 'd2 notified (task now cached)');
($rc, undef, $err) = $t->otactl('batch', 'cancel', $bid2);
is($rc, 0, 'batch cancelled behind the cache') or diag($err);
# d3 and d5 report a version of app before the next batch: their source
# version
ev(type => 'inform', device => $_, product => 'p', module => 'app', version => '0.5.0') for qw(d3 d5);
settle();
($rc, my $bid3, $err) = $t->otactl('batch', 'create', '--package', $pkg2, qw(--type upgrade --name app2));
chomp $bid3;
is($rc, 0, 'new batch of the same package') or diag($err);
ev(type => 'download', device => 'd2', module => 'app', package => $pkg2, covered => 100, size => 1000);
settle();
is(task('d2', $bid2)->{state}, 'cancelled', 'cancelled task unchanged');
is(task('d2', $bid3)->{state}, 'downloading', 'event went to the new open task');
is(task('d2', $bid3)->{covered}, 100, 'its coverage');
$b = batch($bid3);
$sum = 0;
$sum += $_ for values %{ $b->{counts} };
is($sum, $b->{total}, 'new batch: counts add up');
is($b->{counts}{downloading}, 1, 'new batch: one downloading');

# a notified event of a batch the worker has seen is decided on the batch
# alone (a task never notified is pending with default columns): the
# apply checks that the device is in the batch and still pending
my $counts3 = batch($bid3)->{counts};
ev(type => 'notified', device => 'd7', module => 'app', batch => $bid3, package => $pkg2);
settle();
ok(!$t->redis('HEXISTS', "ota:batch:{$bid3}:state", 'd7'), 'not in the batch: no task written');
is_deeply(batch($bid3)->{counts}, $counts3, 'and no count moved');
# its source version is not known then: an inform of another version in
# the same read is decided with the one the lookup reads (0.5.0)
$t->redis('EVAL', "redis.call('XADD', 'ota:events', '*', unpack(ARGV, 1, 10))
                   redis.call('XADD', 'ota:events', '*', unpack(ARGV, 11, 22))", 0,
          type => 'notified', ts => $ts++, batch => $bid3, device => 'd3', module => 'app',
          type => 'inform', ts => $ts++, device => 'd3', module => 'app', product => 'p',
          version => '0.7.0');
settle();
is(task('d3', $bid3)->{from}, '0.5.0', 'd3: source version 0.5.0');
is(task('d3', $bid3)->{state}, 'failed', 'd3: notified, then neither source nor target');
is(task('d3', $bid3)->{reason}, 'wrong_version', 'd3: wrong_version');
# and one in a later read goes through the lookup too (the cached task
# does not know its source version)
ev(type => 'notified', device => 'd5', module => 'app', batch => $bid3, package => $pkg2);
settle();
is(task('d5', $bid3)->{state}, 'notified', 'd5 notified on the batch alone');
ev(type => 'inform', device => 'd5', product => 'p', module => 'app', version => '0.7.0');
settle();
is(task('d5', $bid3)->{reason}, 'wrong_version', 'd5: neither source nor target, a read later');

# ---- version distribution ----------------------------------------------------------
($rc, $out) = $t->otactl(qw(--json stats versions --product p --module fw));
$st = decode_json($out)->{modules}[0]{versions};
is_deeply($st, { '2.0.0' => 2, '1.0.0' => 3, '1.5.0' => 1 }, 'distribution after the batch');
is($t->redis('SCARD', 'ota:verset:{p}:fw:2.0.0'), 2, 'version set 2.0.0');
ok($t->redis('SISMEMBER', 'ota:verset:{p}:fw:1.5.0', 'd4'), 'version set 1.5.0 has d4');
ok(!$t->redis('SISMEMBER', 'ota:verset:{p}:fw:1.0.0', 'd4'), 'd4 left 1.0.0');
# an older report arriving late does not overwrite a newer one
ev(type => 'inform', device => 'd1', product => 'p', module => 'fw', version => '1.0.0', ts => 1000);
settle();
is($t->redis('HGET', 'ota:dev:{d1}:ver', 'fw'), '2.0.0', 'late old report ignored');
# replayed reports count once
ev(type => 'inform', device => 'd5', product => 'p', module => 'fw', version => '2.0.0', ts => $ts + 10);
ev(type => 'inform', device => 'd5', product => 'p', module => 'fw', version => '2.0.0', ts => $ts + 10);
settle();
($rc, $out) = $t->otactl(qw(--json stats versions --product p --module fw));
$st = decode_json($out)->{modules}[0]{versions};
is_deeply($st, { '2.0.0' => 3, '1.0.0' => 2, '1.5.0' => 1 }, 'distribution counts once');
($rc, $out) = $t->otactl(qw(stats versions --product p --module fw));
like($out, qr/^fw\s+2\.0\.0\s+3\s+50\.0%/m, 'table: newest version first with its share');

# many deadlines due at once (written once per task, they fall due in
# bursts): one pass takes them all, not 500 a second
$t->redis('ZADD', 'ota:deadlines', map { (1, "nosuch:dev$_") } 1 .. 1600);
ok($t->wait_for(sub { $t->redis('ZCARD', 'ota:deadlines') == 0 }, 2.5),
   '1600 due deadlines handled within one or two passes');

# --gather (ms between a read that was not full and the next): bad values
# stop the worker with the reason and nothing read; 0 reads again at once
for my $bad ('-1', '1001', 'soon', '') {
    my ($grc, undef, $gerr) = $t->run_cmd({}, "$OtaTest::BUILD/ota-worker", '--redis',
                                          $t->redis_addr, '--gather', $bad);
    is($grc, 2, "ota-worker --gather '$bad' refused, exit 2");
    like($gerr, qr/invalid gather "\Q$bad\E" \(want 0\.\.1000\)/, '  and says what is wanted');
}
$t->stop_worker;
$t->start_worker('--gather', 0);
ev(type => 'inform', device => 'd6', product => 'p', module => 'fw', version => '1.0.0', ts => $ts + 20);
settle();
is($t->redis('HGET', 'ota:dev:{d6}:ver', 'fw'), '1.0.0', 'a worker with --gather 0 handles events');

$t->stop;
done_testing;
