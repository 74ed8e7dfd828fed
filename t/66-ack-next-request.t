# A connection's next request checks its earlier responses' tails (issue 22,
# ngx_ota_ack.c "the next request"): what the socket says is acknowledged
# then is delivered, nothing more.  A client that reads each response before
# it asks again has its tails ended at the next request, every byte counted;
# a client that pipelines its requests without reading (a 4 KB receive
# buffer, nginx's send buffer large enough to take every response) is asked
# at each next request while most of what nginx wrote is still in the
# socket's queue, and must be credited with what its kernel acknowledged
# only: at most its receive buffer, not the responses nginx finished.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF IPPROTO_TCP
              inet_aton pack_sockaddr_in);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OtaTest;
use OtaDownload;

# a second server whose sockets take 1 MB of unsent bytes: nginx finishes
# responses that the client has not read, and reads its next request
my $port2 = OtaTest::free_port();
my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                     http_extra => "server { listen 127.0.0.1:$port2 sndbuf=1m; "
                                 . "location /ota/v1/ { ota_device_api; } }");
my $size = 400_000;
my $pkg = $t->make_package('an', files => [ 'fw.bin' => $size ], product => 'ap');
my $data = $pkg->{files}[0]{data};

sub covn { ($t->coverage($_[0], 'an'))[1] // 0 }

# debug lines of the next-request check for a socket: the unacknowledged
# counts it saw
sub checks {
    my @n = $t->error_log =~ /ota: tail of \d+ bytes at the next request: (\d+) unacknowledged/g;
    return @n;
}

# ---- 1. a client that reads each response, then asks again -----------------------

my @cut = (0, 100_000, 200_000, 300_000, $size);
my $before = () = checks();
# a 16 KB receive buffer: most of each 100 KB piece is still in nginx's
# socket when its request ends, so each piece has a tail to watch
socket(my $s, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', 16384)) or die "SO_RCVBUF: $!";
connect($s, pack_sockaddr_in($t->port, inet_aton('127.0.0.1'))) or die "connect: $!";
binmode $s;
my $body = '';
my $url = $t->signed_link('an', 'an-read');
for my $k (0 .. 3) {
    syswrite $s, "GET $url HTTP/1.1\r\nHost: x\r\nRange: bytes=$cut[$k]-" . ($cut[$k + 1] - 1) . "\r\n\r\n";
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($s, $head, 4096, length $head) or last }
    my ($h, $b) = split /\r\n\r\n/, $head, 2;
    my ($len) = $h =~ /Content-Length:\s*(\d+)/i;
    while (length $b < $len) { sysread($s, $b, $len - length $b, length $b) or last }
    $body .= $b;
}
is(sha256_hex($body), $pkg->{files}[0]{sign}, 'four pieces read whole on one connection');
ok($t->wait_for(sub { covn('an-read') == $size }, 5),
   'exactly 100 % while the connection is open (' . covn('an-read') . ')');
my @seen = checks();
my @mine = @seen[$before .. $#seen];
# (a timer check that comes between the client's last read and its next
# request may end some of them first: on a loaded machine this client,
# reading 100 KB through a 16 KB buffer, can be slower than the timer for
# two of the three; without the next-request check there is none at all)
cmp_ok(scalar(grep { $_ == 0 } @mine), '>=', 1,
       'the tails of the first pieces ended at the next request, all acknowledged')
    or diag("checks: @mine");
close $s;

# ---- 2. a client that pipelines and does not read -----------------------------------

$before = () = checks();
my $unacked0 = $t->metric('ota_download_unacked_bytes_total');
my $bytes0 = $t->metric('ota_download_bytes_total');
socket(my $p, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die "socket: $!";
setsockopt($p, SOL_SOCKET, SO_RCVBUF, pack('i', 4096)) or die "SO_RCVBUF: $!";
my $rcvbuf = unpack('i', getsockopt($p, SOL_SOCKET, SO_RCVBUF));
connect($p, pack_sockaddr_in($port2, inet_aton('127.0.0.1'))) or die "connect: $!";
binmode $p;
$url = $t->signed_link('an', 'an-pipe');
my $piece = 8000;
my $reqs = join '', map {
    "GET $url HTTP/1.1\r\nHost: x\r\nRange: bytes=" . ($_ * $piece) . '-' . (($_ + 1) * $piece - 1)
    . "\r\n\r\n" } 0 .. 39;
syswrite($p, $reqs) == length $reqs or die "write: $!";
sleep 1;                                     # nginx writes what its socket takes
sysread($p, my $got, 100);
is(length $got, 100, 'the pipelining client read 100 bytes');
close $p;                                    # with unread data: a reset
my $sent = $t->metric('ota_download_bytes_total') - $bytes0;
ok($t->wait_for(sub { $t->metric('ota_download_unacked_bytes_total') - $unacked0 >= $sent - $rcvbuf }, 10),
   'the tails end once the client is gone');
sleep 0.5;                                   # the last write

@seen = checks();
@mine = @seen[$before .. $#seen];
cmp_ok($sent, '>', 10 * $piece, "nginx finished many of the 40 responses ($sent body bytes sent)");
cmp_ok(scalar(grep { $_ > 0 } @mine), '>=', 5,
       'their next requests were checked with bytes still unacknowledged ('
       . scalar(@mine) . ' checks)');
my $cov = covn('an-pipe');
cmp_ok($cov, '>', 0, "what the client's kernel took counts ($cov bytes)");
cmp_ok($cov, '<=', $rcvbuf, "credited with at most the client's receive buffer: $cov of $sent "
       . "bytes sent (buffer $rcvbuf)");
cmp_ok($t->metric('ota_download_unacked_bytes_total') - $unacked0, '>=', $sent - $rcvbuf,
       'the rest is counted as never acknowledged');
ok(!($t->error_log =~ /\[(alert|crit|emerg)\]/), 'no alert in the error log');

$t->stop;
done_testing;
