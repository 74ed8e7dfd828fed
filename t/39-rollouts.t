# Safe rollouts (issue 18) through real nginx, Redis and ota-worker, with a
# simulated fleet (build/ota-fleet: whole device sessions; a device marked
# "fail" reports flashing failed; a 204 upgrade answer is "waiting"):
#
#   waves       only the devices of open waves are offered the upgrade, in
#               batch order; the success threshold opens the next wave once,
#               also when the worker was SIGKILLed before the events of the
#               crossing were applied (it applies them on restart)
#   error       a wave whose failures pass the error threshold pauses the
#               batch once, with a reason naming the wave; otactl batch
#               resume goes on and the rollout finishes
#   abort       the abort rule cancels the batch and its open tasks
#   start       a batch with --start-at is scheduled (devices get 204) and
#               starts by itself
#   rate        --max-per-minute across two nginx nodes: exactly N devices
#               offered, the others 204 with Retry-After; --ramp grows it as
#               devices succeed
#   dynamic     a device joining a dynamic batch belongs to the last wave
#   reads       otactl batch show (table and --json) and the admin API agree
#   bad input   every bad option is refused with a reason, nothing created

use strict;
use warnings;
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $fleet = "$OtaTest::BUILD/ota-fleet";
my $t = OtaTest->new(worker => 1, http_extra => 'access_log off;',
                     worker_args => ['--claim-idle', 3000]);
ok($t->wait_nginx_redis, 'nginx connected to Redis');
sub K { OtaTest::key(@_) }

my %secret;
sub devices {
    my ($product, $n) = @_;
    my @d = map { sprintf '%s-%04d', $product, $_ } 1 .. $n;
    for my $d (@d) { $secret{$d} = $t->fx_device($d, $product) }
    return @d;
}
sub package_of {
    my ($product) = @_;
    my $f = $t->dir . "/$product.bin";
    OtaTest::write_file($f, join '', map { chr(($_ * 13 + 5) % 256) } 1 .. 20_000);
    my ($rc, $out, $err) = $t->otactl('package', 'add', $f, '--product', $product,
        qw(--module default --name fw --version 2.0.0));
    die "package add: $err" if $rc;
    chomp $out;
    return $out;
}
sub create {
    my ($rc, $out, $err) = $t->otactl('batch', 'create', '--type', 'upgrade',
                                      '--name', 'rollout', '--wait', 30, @_);
    chomp $out;
    return ($rc, $out, $err);
}
sub show {
    my ($rc, $out, $err) = $t->otactl('--json', 'batch', 'show', $_[0]);
    return $rc ? undef : decode_json($out);
}
sub admin {
    return $t->http(GET => "/ota/admin/$_[0]",
                    headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" });
}
# one fleet run over the devices; fail: devices that report a failure
sub run_fleet {
    my ($devs, %o) = @_;
    my $list = $t->dir . '/fleet.txt';
    OtaTest::write_file($list, join '', map {
        "$_ $secret{$_}" . ($o{fail}{$_} ? ' fail' : '') . "\n" } @$devs);
    my ($rc, $out, $err) = $t->run_cmd({}, 'timeout', '120', $fleet, '--port', $t->port,
        '--devices', $list, '--product', $o{product}, '--to', '2.0.0',
        '--concurrency', $o{concurrency} // 20, '--pieces', 2, '--waiting-ok', '--json');
    my $r = eval { decode_json($out) } // {};
    diag("ota-fleet: $err$out") if $rc;
    return $r;
}
sub settle { $t->wait_for(sub { $t->drained }, 60) }
sub state_of { $t->redis(HGET => K('OTA_KEY_BATCH_STATE', $_[0]), $_[1]) // 'pending' }
sub ranked { @{ $t->redis(ZRANGE => K('OTA_KEY_BATCH_DEVICES', $_[0]), 0, -1) } }
sub history {
    [ map { decode_json($_)->{event} }
      @{ $t->redis(LRANGE => K('OTA_KEY_BATCH_HISTORY', $_[0]), 0, -1) } ]
}

# ---- bad input ----------------------------------------------------------------------

devices('rb', 3);
my $pb = package_of('rb');
my $jobs0 = $t->stream_newest('ota:jobs');
for my $c ([['--waves', '10%,5%'], qr/cumulative/],
           [['--waves', '10%,100'], qr/not both/],
           [['--success-threshold', '90'], qr/needs --waves/],
           [['--error-threshold', '120'], qr/error-threshold "120"/],
           [['--abort-failure-rate', '20'], qr/needs both/],
           [['--abort-failure-rate', '20', '--abort-min', 'x'], qr/abort-min "x"/],
           [['--start-at', '2020-01-01T00:00:00Z'], qr/in the past/],
           [['--start-at', 'tomorrow'], qr/YYYY-MM-DD/],
           [['--timeout', '-5'], qr/invalid --timeout/]) {
    my ($args, $re) = @$c;
    my ($rc, $out, $err) = create('--package', $pb, @$args);
    ok($rc != 0 && $err =~ $re, "refused: @$args") or diag("rc $rc: $err");
}
is($t->stream_newest('ota:jobs'), $jobs0, '  no job was queued for any of them');

# ---- waves, success and error thresholds, SIGKILL, resume ---------------------------------

my @dw = devices('rw', 200);
my $pw = package_of('rw');
my ($rc, $bw, $err) = create('--package', $pw, '--waves', '5%,25%,100%',
    qw(--success-threshold 60 --error-threshold 30 --timeout 30));
is($rc, 0, 'a batch of 200 devices in waves 5 %, 25 %, 100 %') or diag($err);
my $j = show($bw);
is_deeply([ map { $_->{devices} } @{ $j->{waves} } ], [10, 40, 150], '  waves of 10, 40 and 150 devices');
is_deeply([ map { $_->{state} } @{ $j->{waves} } ], [qw(open waiting waiting)], '  wave 1 open');
is_deeply([ @$j{qw(wave success_threshold error_threshold timeout)} ], [1, 60, 30, 30],
          '  wave, thresholds and task timeout in the JSON');
my @rank = ranked($bw);
my %w1 = map { $_ => 1 } @rank[0 .. 9];

# a device of wave 3 asks: 204, and nothing is offered
my $tok = $t->device_token($rank[150], 'rw', $secret{$rank[150]});
my $up = $t->http(GET => '/ota/v1/upgrade?module=default',
                  headers => { Authorization => "Bearer $tok" });
is($up->{status}, 204, 'a device of a waiting wave gets 204');
is(state_of($bw, $rank[150]), 'pending', '  and stays pending');

# the worker is killed; the whole fleet asks; only wave 1 is offered
$t->stop_worker(signal => 'KILL', forget => 1);
my $r = run_fleet(\@dw, product => 'rw');
is_deeply([ @$r{qw(ok waiting failed)} ], [10, 190, 0], 'the fleet: 10 sessions went through, 190 wait');
is($t->redis(HGET => K('OTA_KEY_BATCH', $bw), 'wave'), 1, '  no worker: wave 2 is not open yet');
$t->start_worker;
ok(settle(), 'a new worker applies the events of the crossing');
# from here on two workers run side by side (one reads the events, both
# run the tick: scheduled starts, notices, timeouts)
$t->start_worker;
is(scalar(grep { state_of($bw, $_) eq 'succeeded' } keys %w1), 10, '  the 10 devices of wave 1 succeeded');
is(scalar(grep { !$w1{$_} && state_of($bw, $_) ne 'pending' } @dw), 0, '  nobody else moved');
is($t->redis(HGET => K('OTA_KEY_BATCH', $bw), 'wave'), 2, '  wave 2 is open (10 of 10 >= 60 %)');
is_deeply(history($bw), [qw(start wave)], '  opened once');

# wave 2: 13 of its 40 devices fail (32.5 % > 30 %; 12 would be 30 %),
# the failing ones first: all 13 are offered before the pause
my @w2 = @rank[10 .. 49];
my %fail = map { $_ => 1 } @w2[0 .. 12];
$r = run_fleet([@w2, @rank[50 .. 59]], product => 'rw', fail => \%fail, concurrency => 1);
ok(settle(), 'wave 2 ran');
$j = show($bw);
is($j->{state}, 'paused', 'the error threshold paused the batch');
is($j->{pause_kind}, 'error_threshold', '  kind error_threshold');
like($j->{pause_reason}, qr/^error threshold: wave 2 of 3: 13 of its 40 devices failed \(32\.50 % > 30 %\): flash_failed 13; otactl batch resume goes on$/,
     '  the reason: wave, how many, why') or diag($j->{pause_reason});
is(scalar(grep { $_ eq 'pause' } @{ history($bw) }), 1, '  paused once');
is(scalar(grep { state_of($bw, $_) ne 'pending' } @rank[50 .. 199]), 0, '  no device of wave 3 was offered');
my ($rc2, $text) = $t->otactl('batch', 'show', $bw);
like($text, qr/^paused: +error threshold: wave 2 of 3/m, 'otactl batch show prints the pause reason');
like($text, qr/^WAVE +DEVICES +STATE +PENDING +ACTIVE +SUCCEEDED +FAILED +CANCELLED +OPENED\n\s*1 +10 +done +0 +0 +10 +0 +0 /m,
     '  and the waves as a table') or diag($text);
my $a = admin("batches/$bw");
is($a->{status}, 200, 'the admin API answers');
is_deeply([ map { $_->{devices} } @{ $a->{json}{waves} } ], [10, 40, 150], '  with the waves');
is($a->{json}{pause_reason}, $j->{pause_reason}, '  and the same pause reason as otactl');
is($a->{json}{waves}[1]{counts}{failed}, $j->{waves}[1]{counts}{failed}, '  and the same wave counts');
like($t->http(GET => '/ota/admin/metrics', headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{content} // '',
     qr/^ota_batches_paused 1$/m, 'Prometheus metrics count the paused batch');

($rc, undef, $err) = $t->otactl('batch', 'resume', $bw);
is($rc, 0, 'otactl batch resume') or diag($err);
my @left = grep { state_of($bw, $_) !~ /^(succeeded|failed)$/ } @dw;
$r = run_fleet(\@left, product => 'rw');
ok(settle(), 'the rest of the fleet ran');
# wave 3 opens once wave 2 has 24 successes (60 % of 40); its devices
# were offered from then on: run again for those that asked too early
@left = grep { state_of($bw, $_) !~ /^(succeeded|failed)$/ } @dw;
$r = run_fleet(\@left, product => 'rw') if @left;
ok(settle(), 'and again for the devices that asked before wave 3 opened');
$j = show($bw);
is($j->{state}, 'finished', 'the rollout finished');
is_deeply([ @{ $j->{counts} }{qw(succeeded failed)} ], [187, 13], '  187 succeeded, 13 failed');
is_deeply([ map { $_->{state} } @{ $j->{waves} } ], [qw(done done done)], '  every wave done');
is_deeply(history($bw), [qw(start wave pause resume wave finish)], '  history: each step once');

# ---- the abort rule ------------------------------------------------------------------------

my @da = devices('ra', 60);
my $pa = package_of('ra');
($rc, my $ba, $err) = create('--package', $pa, qw(--abort-failure-rate 40 --abort-min 10));
is($rc, 0, 'a batch with an abort rule (40 % of at least 10 finished)') or diag($err);
my %fa = map { $da[$_] => 1 } grep { $_ % 2 == 0 } 0 .. $#da;
$r = run_fleet([@da[0 .. 29]], product => 'ra', fail => \%fa, concurrency => 1);
ok(settle(), 'half of them ran, every second one failing');
ok($t->wait_for(sub { ($t->redis(HGET => K('OTA_KEY_BATCH_COUNTS', $ba), 'pending') // 1) == 0 }, 30),
   '  the open tasks are cancelled');
$j = show($ba);
is($j->{state}, 'cancelled', 'the abort rule cancelled the batch');
like($j->{abort}{reason}, qr/^abort rule: \d+ of \d+ finished devices failed \([0-9.]+ % >= 40 %, at least 10 finished\): flash_failed \d+$/,
     '  the reason recorded') or diag($j->{abort}{reason});
cmp_ok($j->{counts}{cancelled}, '>=', 30, '  the devices not yet offered are cancelled');
is(scalar(grep { $_ eq 'abort' } @{ history($ba) }), 1, '  aborted once');
is(admin("batches/$ba")->{json}{abort}{reason}, $j->{abort}{reason}, '  the admin API shows it');
like($t->http(GET => '/ota/admin/metrics', headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{content} // '',
     qr/^ota_batches_aborted 1$/m, '  and Prometheus counts it');
$tok = $t->device_token($da[59], 'ra', $secret{$da[59]});
is($t->http(GET => '/ota/v1/upgrade?module=default', headers => { Authorization => "Bearer $tok" })->{status},
   204, '  nothing is offered any more');

# ---- a scheduled start -------------------------------------------------------------------------

my @ds = devices('rs', 3);
my $ps = package_of('rs');
my $at = time + 3;
($rc, my $bs, $err) = create('--package', $ps, '--start-at',
                             strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($at + 1)));
is($rc, 0, 'a batch that starts in a few seconds') or diag($err);
is(show($bs)->{state}, 'scheduled', '  is scheduled');
$tok = $t->device_token($ds[0], 'rs', $secret{$ds[0]});
is($t->http(GET => '/ota/v1/upgrade?module=default', headers => { Authorization => "Bearer $tok" })->{status},
   204, '  a device gets 204 before the start');
ok($t->wait_for(sub { (show($bs)->{state} // '') eq 'running' }, 15), 'it starts by itself');
# --start-at has whole seconds: the start is at int($at + 1)
cmp_ok(show($bs)->{started}, '>=', int($at + 1) * 1000, '  not before its time');
is(scalar(grep { $_ eq 'start' } @{ history($bs) }), 1, '  once, with two workers ticking');
is($t->http(GET => '/ota/v1/upgrade?module=default', headers => { Authorization => "Bearer $tok" })->{status},
   200, '  and the device is offered the upgrade');

# ---- a dynamic batch: devices that join go to the last wave ------------------------------

sub up_status {
    my ($product, $d) = @_;
    my $tk = $t->device_token($d, $product, $secret{$d});
    return $t->http(GET => '/ota/v1/upgrade?module=default',
                    headers => { Authorization => "Bearer $tk" })->{status};
}
sub inform {
    my ($product, $d, $v) = @_;
    my $tk = $t->device_token($d, $product, $secret{$d});
    $t->http(POST => '/ota/v1/inform', json => { module => 'default', version => $v },
             headers => { Authorization => "Bearer $tk" });
}
my @dd = devices('rd', 4);
my $pd = package_of('rd');
($rc, my $bd, $err) = create('--package', $pd, qw(--method dynamic --waves), '50%,100%');
is($rc, 0, 'a dynamic batch of 4 devices in waves of 50 % and the rest') or diag($err);
my $late = 'rd-late';
$secret{$late} = $t->fx_device($late, 'rd');
inform('rd', $late, '1.0.0');
ok(settle(), 'a new device reports its version');
is($t->redis(ZSCORE => K('OTA_KEY_BATCH_DEVICES', $bd), $late), 5, '  it joins with rank 5');
is_deeply([ map { $_->{devices} } @{ show($bd)->{waves} } ], [2, 3], '  in the last wave (now 3 devices)');
is(up_status('rd', $late), 204, '  and is not offered while wave 1 runs');
my @first = (ranked($bd))[0, 1];
for my $d (@first) { is(up_status('rd', $d), 200, "wave 1: $d is offered"); inform('rd', $d, '2.0.0') }
ok(settle(), 'wave 1 succeeds');
is(show($bd)->{wave}, 2, '  wave 2 opens');
is(up_status('rd', $late), 200, '  and the device that joined is offered');

# ---- the rate limit, across two nodes ------------------------------------------------------

my $t2 = OtaTest->new(no_redis => 1, redis_port => $t->{redis_port}, store => $t->store,
                      http_extra => 'access_log off;');
ok($t->wait_for(sub { (() = $t->redis('CLIENT', 'LIST') =~ /name=ota-nginx-/g) >= 4 }),
   'a second nginx node on the same Redis');
# asks the upgrade of each device, alternating nodes; status and Retry-After
sub ask_all {
    my ($product, @d) = @_;
    my @r;
    for my $i (0 .. $#d) {
        my $node = $i % 2 ? $t2 : $t;
        my $tk = $t->device_token($d[$i], $product, $secret{$d[$i]});
        my $h = $node->http(GET => '/ota/v1/upgrade?module=default',
                            headers => { Authorization => "Bearer $tk" });
        push @r, [$d[$i], $h->{status}, $h->{headers}{'retry-after'}];
    }
    return @r;
}
my @dr = devices('rr', 30);
my $pr = package_of('rr');
($rc, my $br, $err) = create('--package', $pr, qw(--max-per-minute 8));
is($rc, 0, 'a batch of 30 devices offered at most 8 per minute') or diag($err);
my @ans = ask_all('rr', @dr);
my @got = grep { $_->[1] == 200 } @ans;
my @later = grep { $_->[1] == 204 } @ans;
is(scalar @got, 8, '8 devices offered, through both nodes');
is(scalar @later, 22, '  the 22 others get 204');
is(scalar(grep { ($_->[2] // 0) =~ /^\d+$/ && $_->[2] >= 1 && $_->[2] <= 60 } @later), 22,
   '  each with Retry-After (1..60 s)');
ok((grep { $_->[0] =~ /[13579]$/ } @got) && (grep { $_->[0] =~ /[02468]$/ } @got),
   '  the offers came from both nodes');
# a refused device is taken out of the minute after its answer went out
# (the node's ZREM may land a moment after the 204): wait for it
ok($t->wait_for(sub { $t->redis(ZCARD => K('OTA_KEY_BATCH_OFFERS', $br)) == 8 }, 10),
   '  the minute holds the 8 offers')
    or diag('ZCARD ', $t->redis(ZCARD => K('OTA_KEY_BATCH_OFFERS', $br)));
my @again = ask_all('rr', map { $_->[0] } @got[0 .. 1]);
is(scalar(grep { $_->[1] == 200 } @again), 2, '  an offered device asking again is not charged twice');
is((ask_all("rr", $later[0][0]))[0][1], 204, '  a refused one is still refused');
is(show($br)->{rate}{now}, 8, 'otactl shows the rate');

# the ramp: 3 per minute, doubled each time 3 succeeded
my @dp = devices('rp', 12);
my $pp = package_of('rp');
($rc, my $bp, $err) = create('--package', $pp, qw(--max-per-minute 50 --ramp), '3,2');
is($rc, 0, 'a batch with a ramp from 3 per minute') or diag($err);
@got = grep { $_->[1] == 200 } ask_all('rp', @dp);
is(scalar @got, 3, '3 offered');
for my $g (@got) {
    my $tk = $t->device_token($g->[0], 'rp', $secret{$g->[0]});
    $t->http(POST => '/ota/v1/inform', json => { module => 'default', version => '2.0.0' },
             headers => { Authorization => "Bearer $tk" });
}
ok(settle(), 'they report the new version');
is(show($bp)->{rate}{now}, 6, '  3 succeeded: the rate is 6');
my %done = map { $_->[0] => 1 } @got;
is(scalar(grep { $_->[1] == 200 } ask_all('rp', grep { !$done{$_} } @dp)), 3,
   '  3 more are offered within the minute (6 in all)');
$t2->stop;

$t->stop;
done_testing;
