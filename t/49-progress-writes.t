# Progress writes per download session (issue 22, docs/download.md "When"):
# a request's end writes its track at once only when it matters (the first
# piece: an early event; the whole package; a connection that closes; the
# process exiting); a piece in between on a kept-alive connection is left
# to the tick (ota_progress_interval), which the device's next piece
# usually makes obsolete.  Under nginx's debug log, one worker process (one
# tick, one Redis connection), no ota-worker (the events stay in the
# stream to be counted).
#
# 1. four pieces on one keep-alive connection, quickly: two writes and two
#    events (the first piece's, then the whole package), none for the two
#    pieces in between, which the log shows left to the tick (the first
#    piece's event is awaited: with the next pieces right behind it, its
#    tail's write could otherwise carry them too);
# 2. a device that stops after a piece in between (its connection still
#    open): its coverage and an event with it within one interval;
# 3. the same piece in between on a connection that closes: written at
#    once, not left to the tick;
# 4. the process exits with a piece in between held: written at exit.
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

# ---- 1. four pieces quickly: the first piece's event and the whole one -----------

my $w0 = $t->metric('ota_progress_writes_total');
my $s = conn();
is(piece($s, 'pw-1', 0, $cut[1] - 1), 'ok', 'pw-1: the first piece');
ok($t->wait_for(sub { events('pw-1') == 1 }, 5), '  its event at once');
for my $k (1 .. 3) {                           # then the rest, back to back
    is(piece($s, 'pw-1', $cut[$k], $cut[$k + 1] - 1), 'ok', "pw-1: piece $k on the same connection");
}
ok($t->wait_for(sub { (($t->coverage('pw-1', 'pw'))[1] // 0) == $size }, 5),
   'pw-1: the whole package in Redis');
ok($t->wait_for(sub { grep { $_->{covered} == $size } events('pw-1') }, 5),
   '  and its event');
sleep $interval + 0.5;                         # a tick would write anything held
my @ev = events('pw-1');
is(scalar @ev, 2, 'pw-1: two download events for four pieces');
is($ev[0]{covered}, $cut[1], '  the first piece at once (the task downloads)');
is($ev[1]{covered}, $size, '  then the whole package at the end');
is(($t->coverage('pw-1', 'pw'))[0], "0-$size", '  the set is the one member');
is($t->metric('ota_progress_writes_total') - $w0, 2, '  two writes to Redis');
is(held('pw-1'), 2, '  the two pieces in between were left to the tick');
like($t->error_log, qr/flush of device "pw-1" package "pw": \d+ ranges, the whole package without the script/,
     '  the last write the whole package without the script');
close $s;

# ---- 2. a device stops after a piece in between: written within an interval -----

$s = conn();
is(piece($s, 'pw-2', 0, $cut[1] - 1), 'ok', 'pw-2: the first piece');
ok($t->wait_for(sub { events('pw-2') == 1 }, 5), '  its event at once');
is(piece($s, 'pw-2', $cut[1], $cut[2] - 1), 'ok', '  a piece in between, the connection kept open');
my $t0 = time;
ok($t->wait_for(sub { (($t->coverage('pw-2', 'pw'))[1] // 0) == $cut[2] }, $interval + 3),
   '  its coverage reaches Redis');
my $took = time - $t0;
cmp_ok($took, '<=', $interval + 0.5, sprintf('  within one interval (%.2f s)', $took));
ok($t->wait_for(sub { grep { $_->{covered} == $cut[2] } events('pw-2') }, 3),
   '  with its event');
is(scalar(events('pw-2')), 2, '  two events in all');
is(held('pw-2'), 1, '  it was left to the tick');
is(($t->coverage('pw-2', 'pw'))[0], "0-$cut[2]", '  the set');
close $s;

# ---- 3. a piece in between on a connection that closes: at once ------------------

$s = conn();
is(piece($s, 'pw-3', 0, $cut[1] - 1), 'ok', 'pw-3: the first piece');
ok($t->wait_for(sub { events('pw-3') == 1 }, 5), '  its event');
is(piece($s, 'pw-3', $cut[1], $cut[2] - 1, 'close'), 'ok', '  a piece in between with Connection: close');
close $s;
ok($t->wait_for(sub { grep { $_->{covered} == $cut[2] } events('pw-3') }, 5),
   '  its coverage and event');
is(held('pw-3'), 0, '  written at once, not left to the tick');
is((($t->coverage('pw-3', 'pw'))[1]), $cut[2], '  the count');

# ---- 4. the process exits with a piece held: written at exit -----------------------

$t->stop_nginx;
$t->start_nginx;                               # a fresh tick: armed by the first request
$s = conn();
is(piece($s, 'pw-4', 0, $cut[1] - 1), 'ok', 'pw-4: the first piece');
ok($t->wait_for(sub { events('pw-4') == 1 }, 5), '  its event');
is(piece($s, 'pw-4', $cut[1], $cut[3] - 1), 'ok', '  a piece in between');
ok($t->wait_for(sub { held('pw-4') == 1 }, 5), '  left to the tick');
$t->stop_nginx;                                # before the tick
close $s;
is((($t->coverage('pw-4', 'pw'))[1]), $cut[3], 'pw-4: the held piece written at exit');
is(($t->coverage('pw-4', 'pw'))[0], "0-$cut[3]", '  the set');
my @e4 = events('pw-4');
is(scalar @e4, 2, '  two events');
is($e4[-1]{covered}, $cut[3], '  the last with the held piece');
like($t->error_log, qr/ota: progress of 1 downloads written at exit/, '  the exit flush says so');
$t->start_nginx;

$t->stop;
done_testing;
