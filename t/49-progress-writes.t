# Progress writes per download session (issue 22, docs/download.md "When"):
# a request's end writes its track at once only when it matters (the whole
# package; a connection that closes; the process exiting); any other piece
# on a kept-alive connection, the first one too, is left to the tick
# (ota_progress_interval), which the device's next piece usually makes
# obsolete.  Under nginx's debug log, one worker process (one tick, one
# Redis connection), no ota-worker (the events stay in the stream to be
# counted).
#
# 1. four pieces on one keep-alive connection, quickly: one write and one
#    event (the whole package), the three pieces before it left to the
#    tick, as the log shows;
# 2. a device that stops after two pieces (its connection still open): its
#    coverage and one event with it within one interval of its first byte;
# 3. a piece after the first on a connection that closes: written at once
#    (with the held first piece), not left to the tick;
# 4. the process exits with pieces held: written at exit.
#
# Each nginx is fresh where the tick's phase matters: its tick is armed by
# the first request, so nothing of a quick session meets a tick.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $interval = 2;                              # seconds
my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                     http_extra => "ota_progress_interval ${interval}s;");
my $size = 300_000;
my $pkg = $t->make_package('pw', files => [ 'fw.bin' => $size ]);
my $data = $pkg->{files}[0]{data};

# a keep-alive connection: GET pieces on it, each read whole and compared
sub conn {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
                                 Proto => 'tcp', Timeout => 10)
        // die "connect: $!\n";
}

sub piece {
    my ($s, $device, $from, $to, $close) = @_;
    my $path = $t->signed_link('pw', $device);
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\nRange: bytes=$from-$to\r\n"
        . ($close ? "Connection: close\r\n" : '') . "\r\n";
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread($s, $head, 4096, length $head);
        return "no answer" unless $n;
    }
    my ($h, $body) = split /\r\n\r\n/, $head, 2;
    my ($status) = $h =~ m{^HTTP/1\.1 (\d+)};
    my ($len) = $h =~ /^Content-Length:\s*(\d+)/mi;
    return "status $status" unless ($status // 0) == 206 && defined $len;
    while (length $body < $len) {
        my $n = sysread($s, $body, $len - length $body, length $body);
        return "short body" unless $n;
    }
    return $body eq substr($data, $from, $to - $from + 1) ? 'ok' : 'wrong bytes';
}

sub events { return $t->download_events($_[0], 'pw') }

sub held {                                     # debug lines: pieces left to the tick
    my ($device) = @_;
    my @l = $t->error_log =~ /ota progress: device "\Q$device\E" package "pw": a piece in between, left to the tick/g;
    return scalar @l;
}

my @cut = (0, 70_000, 150_000, 220_000, $size);

# ---- 1. four pieces quickly: one write, one event -----------------------------------

my $w0 = $t->metric('ota_progress_writes_total');
my $s = conn();
for my $k (0 .. 3) {                           # back to back
    is(piece($s, 'pw-1', $cut[$k], $cut[$k + 1] - 1), 'ok', "pw-1: piece $k on one connection");
}
ok($t->wait_for(sub { (($t->coverage('pw-1', 'pw'))[1] // 0) == $size }, 5),
   'pw-1: the whole package in Redis');
ok($t->wait_for(sub { grep { $_->{covered} == $size } events('pw-1') }, 5),
   '  and its event');
sleep $interval + 0.5;                         # a tick would write anything held
my @ev = events('pw-1');
is(scalar @ev, 1, 'pw-1: one download event for four pieces');
is($ev[0]{covered}, $size, '  the whole package');
is(($t->coverage('pw-1', 'pw'))[0], "0-$size", '  the set is the one member');
is($t->metric('ota_progress_writes_total') - $w0, 1, '  one write to Redis');
is(held('pw-1'), 3, '  the three pieces before the last were left to the tick');
like($t->error_log, qr/flush of device "pw-1" package "pw": \d+ ranges, the whole package without the script/,
     '  the write the whole package without the script');
close $s;

# ---- 2. a device stops after two pieces: written within an interval ---------------

$s = conn();
my $t0 = time;
is(piece($s, 'pw-2', 0, $cut[1] - 1), 'ok', 'pw-2: the first piece');
is(piece($s, 'pw-2', $cut[1], $cut[2] - 1), 'ok', '  a second piece, the connection kept open');
is(scalar(events('pw-2')), 0, '  no event yet: both left to the tick');
ok($t->wait_for(sub { (($t->coverage('pw-2', 'pw'))[1] // 0) == $cut[2] }, $interval + 3),
   '  its coverage reaches Redis');
my $took = time - $t0;
cmp_ok($took, '<=', $interval + 0.5, sprintf('  within one interval of the first byte (%.2f s)', $took));
ok($t->wait_for(sub { grep { $_->{covered} == $cut[2] } events('pw-2') }, 3),
   '  with its event (the task downloads)');
sleep $interval + 0.5;
is(scalar(events('pw-2')), 1, '  one event in all');
is(held('pw-2'), 2, '  both were left to the tick');
is(($t->coverage('pw-2', 'pw'))[0], "0-$cut[2]", '  the set');
close $s;

# ---- 3. a piece on a connection that closes: at once --------------------------------

$s = conn();
is(piece($s, 'pw-3', 0, $cut[1] - 1), 'ok', 'pw-3: the first piece');
is(piece($s, 'pw-3', $cut[1], $cut[2] - 1, 'close'), 'ok', '  a second piece with Connection: close');
close $s;
ok($t->wait_for(sub { grep { $_->{covered} == $cut[2] } events('pw-3') }, 5),
   '  its coverage and event');
is(held('pw-3'), 1, '  the first piece held, the closing one written at once');
is((($t->coverage('pw-3', 'pw'))[1]), $cut[2], '  the count');
is((events('pw-3'))[0]{covered} >= $cut[1] ? 1 : 0, 1,
   '  its first event has the held first piece (a tail still in flight at the close may follow)');

# ---- 4. the process exits with pieces held: written at exit -----------------------

$t->stop_nginx;
# a long interval: on a loaded machine the two pieces below could take
# longer than half of 2 s, and the tick would write the first one before
# the exit (a second event), which is not what this case is about
$t->{http_extra} = 'ota_progress_interval 60s;';
$t->start_nginx;
$s = conn();
is(piece($s, 'pw-4', 0, $cut[1] - 1), 'ok', 'pw-4: the first piece');
is(piece($s, 'pw-4', $cut[1], $cut[3] - 1), 'ok', '  a second piece');
ok($t->wait_for(sub { held('pw-4') == 2 }, 5), '  both left to the tick');
$t->stop_nginx;                                # before the tick
close $s;
is((($t->coverage('pw-4', 'pw'))[1]), $cut[3], 'pw-4: the held pieces written at exit');
is(($t->coverage('pw-4', 'pw'))[0], "0-$cut[3]", '  the set');
my @e4 = events('pw-4');
is(scalar @e4, 1, '  one event');
is($e4[-1]{covered}, $cut[3], '  with the held pieces');
like($t->error_log, qr/ota: progress of 1 downloads written at exit/, '  the exit flush says so');
$t->start_nginx;

$t->stop;
done_testing;
