# The upgrade answer's notified event is held in the process for up to one
# progress interval and folded into the device's first download event
# (issue 22, docs/download.md "The notified event"):
#
# 1. a device that gets the answer and never downloads: its notified event
#    is not written at once, and is in the stream within one interval;
# 2. a device that downloads right away: no notified event of its own, its
#    first download event carries batch and notified (the answer's ts);
#    a partial download the same; a device that downloads after its
#    event was written: the two events, as before;
# 3. the worker: a folded download notifies even when it ignores the
#    download (another package); the tasks and the batch's counts are the
#    same as with the separate events (notified passed once, then
#    downloading/downloaded; a deadline once the task left pending);
# 4. a held event survives a Redis outage (written once Redis is back);
# 5. and nginx's graceful exit (QUIT: written at exit).
#
# One worker process (one table, one tick); ota-worker started after the
# stream was counted.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;

my $interval = 1;                              # seconds
my $t = OtaTest->new(nginx_workers => 1,
                     http_extra => "ota_progress_interval ${interval}s;");

my @devs = qw(nf-never nf-fold nf-sep nf-part nf-other nf-out nf-quit);
my %tok;
for my $d (@devs) {                            # (key() reads into $_ once)
    $tok{$d} = $t->device_token($d, 'prodN', $t->fx_device($d, 'prodN'));
}
my $fw = join '', map { chr(($_ * 13) % 251) } 1 .. 200_000;
my $pkg = $t->fx_package(id => 'pn-2_0_0', product => 'prodN', version => '2.0.0',
                         files => [[ 'fw.bin' => $fw ]]);
my $b = $t->fx_batch(id => 'bn', package => $pkg, devices => \@devs);
my $size = length $fw;
my $base = $t->base;
ok($t->wait_nginx_redis, 'nginx connected to Redis');

sub upgrade {
    my ($d) = @_;
    my $r = $t->http(GET => '/ota/v1/upgrade',
                     headers => { Authorization => "Bearer $tok{$d}" });
    return $r->{status} == 200 ? $r->{json} : undef;
}

sub events {                                   # the device's, in order
    my ($d, $type) = @_;
    my @e;
    for my $x (@{ $t->redis(XRANGE => 'ota:events', '-', '+') // [] }) {
        my %f = @{ $x->[1] };
        push @e, \%f if $f{device} eq $d && (!$type || $f{type} eq $type);
    }
    return @e;
}

sub get {                                      # the signed link, a range of it
    my ($u, $range) = @_;
    return $t->http(GET => $u->{url} =~ s{^\Q$base\E}{}r,
                    headers => $range ? { Range => "bytes=$range" } : {});
}

# ---- 1. never downloads: notified within one interval ------------------------------

my $t0 = time;
my $u = upgrade('nf-never');
ok($u, 'nf-never: the answer');
is(scalar events('nf-never'), 0, '  its notified event is held, not written at once');
ok($t->wait_for(sub { events('nf-never', 'notified') }, $interval + 3), '  then written');
my $took = time - $t0;
cmp_ok($took, '<=', $interval + 0.3, sprintf('  within one interval (%.2f s)', $took));
my ($ne) = events('nf-never', 'notified');
is("$ne->{module} $ne->{batch} $ne->{package}", "default bn $pkg->{id}", '  its fields');
cmp_ok($ne->{ts}, '<=', int($t0 * 1000) + 200, '  its ts the answer\'s, not the write\'s');

# ---- 2. downloads right away: folded ------------------------------------------------

my $ta = int(time * 1000);
$u = upgrade('nf-fold');
my $r = get($u);
is($r->{status}, 200, 'nf-fold: downloads right after the answer');
is(length($r->{content} // ''), $size, '  the whole package');
ok($t->wait_for(sub { grep { $_->{covered} == $size } events('nf-fold', 'download') }, 5),
   '  its download event');
sleep $interval + 0.5;                         # a held event would be written by now
my @e = events('nf-fold');
is(scalar @e, 1, '  one event in all');
is(scalar(events('nf-fold', 'notified')), 0, '  no notified event of its own');
is("$e[0]{type} $e[0]{covered} $e[0]{batch}", "download $size bn",
   '  the download event carries the batch');
ok($e[0]{notified} >= $ta && $e[0]{notified} <= $e[0]{ts},
   '  and notified: the answer\'s ts, before the download\'s');

$u = upgrade('nf-part');
$r = get($u, '0-9999');
is($r->{status}, 206, 'nf-part: a first piece right after the answer');
ok($t->wait_for(sub { events('nf-part', 'download') }, 5), '  its download event');
sleep $interval + 0.5;
@e = events('nf-part');
is(scalar @e, 1, '  one event in all');
is("$e[0]{type} $e[0]{covered} $e[0]{batch}", 'download 10000 bn', '  the notified folded in');

$u = upgrade('nf-sep');
ok($t->wait_for(sub { events('nf-sep', 'notified') }, $interval + 3),
   'nf-sep: its notified event written at the tick');
$r = get($u);
is(length($r->{content} // ''), $size, '  then the download');
ok($t->wait_for(sub { events('nf-sep', 'download') }, 5), '  its event');
@e = events('nf-sep');
is(join(' ', map { $_->{type} } @e), 'notified download', '  two events, as before the fold');
ok(!exists $e[1]{notified} && !exists $e[1]{batch}, '  the download carries nothing more');

# ---- 3. the worker: the same tasks and counts ---------------------------------------

# a folded event whose download the worker ignores (another package) still
# notifies the task
$t->redis(XADD => 'ota:events', '*', type => 'download', ts => int(time * 1000),
          device => 'nf-other', package => 'not-its-package', module => 'default',
          covered => 10, size => 100, batch => 'bn', notified => int(time * 1000));
$t->start_worker;
ok($t->wait_for(sub { $t->drained
                      && $t->task('nf-fold', $b)->{state} eq 'downloaded'
                      && $t->task('nf-part', $b)->{state} eq 'downloading'
                      && $t->task('nf-other', $b)->{state} eq 'notified' }, 15),
   'the worker applied the events');
my %st = map { $_ => scalar $t->task($_, $b) } @devs;
is($st{'nf-never'}{state}, 'notified', 'nf-never: notified');
is("$st{'nf-fold'}{state} $st{'nf-fold'}{covered}", "downloaded $size",
   'nf-fold: downloaded, every byte');
is("$st{'nf-sep'}{state} $st{'nf-sep'}{covered}", "downloaded $size",
   'nf-sep: the same from its two events');
is("$st{'nf-part'}{state} $st{'nf-part'}{covered}", 'downloading 10000', 'nf-part: downloading');
is($st{'nf-other'}{state}, 'notified', 'nf-other: notified by the fold of an ignored download');
my %c = %{ $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $b)) };
is_deeply({ map { $_ => $c{$_} // 0 } qw(pending notified downloading downloaded) },
          { pending => 2, notified => 2, downloading => 1, downloaded => 2 },
          'the counts: each task counted once, in its state');
my $sum = 0;
$sum += $_ for values %c;
is($sum, scalar @devs, '  and they add up to the batch');
for my $d (qw(nf-fold nf-sep nf-part)) {
    ok(defined $t->redis(ZSCORE => OtaTest::key('OTA_KEY_TASK_DEADLINES'), "$b:$d"),
       "$d: its deadline, as a task that left pending");
}

# ---- 4. a Redis outage ----------------------------------------------------------------

$u = upgrade('nf-out');
ok($u, 'nf-out: the answer');
is(scalar events('nf-out'), 0, '  held');
$t->stop_redis;
sleep 1.5 * $interval;                         # ticks with Redis away
$t->start_redis;
ok($t->wait_for(sub { events('nf-out', 'notified') }, 10), '  written once Redis is back');
sleep $interval;
is(scalar events('nf-out', 'notified'), 1, '  once');
ok($t->wait_for(sub { $t->task('nf-out', $b)->{state} eq 'notified' }, 15),
   '  and the worker notified the task');

# ---- 5. nginx's graceful exit ------------------------------------------------------------

$u = upgrade('nf-quit');
ok($u, 'nf-quit: the answer');
is(scalar events('nf-quit'), 0, '  held');
$t->stop_nginx;                                # QUIT, before the tick
is(scalar events('nf-quit', 'notified'), 1, '  written at exit');
like($t->error_log, qr/ota: 1 of 1 notified events written at exit/, '  the exit says so');
ok($t->wait_for(sub { $t->task('nf-quit', $b)->{state} eq 'notified' }, 15),
   '  and the worker notified the task');
$t->start_nginx;

$t->stop;
done_testing;
