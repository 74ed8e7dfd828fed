# A tail is asked about when nginx closes its connection (issue 22,
# ngx_ota_ack.c "the connection's close"): the request's end does not ask
# the socket and takes no duplicate of it; the whole unaccounted body is the
# tail, and if it is still in flight when nginx closes the connection, a
# duplicate is taken then, so the bytes the client acknowledges after the
# close still count.  A client that resets the connection with most of the
# tail unacknowledged is credited with what its kernel acknowledged only.

use strict;
use warnings;
use Test::More;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF IPPROTO_TCP
              inet_aton pack_sockaddr_in);
use Time::HiRes qw(sleep time);
use Digest::SHA qw(sha256_hex);
use lib 't/lib';
use OtaTest;
use OtaDownload;

# a second server whose sockets take 1 MB of unsent bytes: a request ends
# with most of its body still in nginx's socket
my $port2 = OtaTest::free_port();
my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                     http_extra => "server { listen 127.0.0.1:$port2 sndbuf=1m; "
                                 . "location /ota/v1/ { ota_device_api; } }");
my $size = 400_000;
my $pkg = $t->make_package('ac', files => [ 'fw.bin' => $size ], product => 'cp');

sub covn { ($t->coverage($_[0], 'ac'))[1] // 0 }

sub conn {
    my ($rcvbuf) = @_;
    socket(my $s, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $rcvbuf)) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($port2, inet_aton('127.0.0.1'))) or die "connect: $!";
    binmode $s;
    return $s;
}

# reads a response's head and up to $want bytes of its body ($slow: seconds
# between 16 KB reads)
sub response {
    my ($s, $want, $slow) = @_;
    my $head = '';
    while ($head !~ /\r\n\r\n/) { sysread($s, $head, 1, length $head) or last }
    my ($len) = $head =~ /Content-Length:\s*(\d+)/i;
    $want //= $len;
    my $b = '';
    while (length $b < $want) {
        my $n = $want - length $b;
        $n = 16384 if $n > 16384;
        sysread($s, $b, $n, length $b) or last;
        sleep $slow if $slow;
    }
    return $b;
}

# ---- 1. a reader that half-closes first: nginx closes with the tail in flight --

my $url = $t->signed_link('ac', 'ac-half');
my $s = conn(4096);
syswrite $s, "GET $url HTTP/1.1\r\nHost: x\r\n\r\n";
shutdown($s, 1);                    # nginx closes once its response is out
sleep 0.3;                          # ... long before the client reads it
my $body = response($s, undef, 0.002);
close $s;
is(sha256_hex($body), $pkg->{files}[0]{sign}, 'a half-closed client reads the whole file');
ok($t->wait_for(sub { covn('ac-half') == $size }, 10),
   'and is credited with all of it, acknowledged after nginx closed (' . covn('ac-half') . ')');
my @at = $t->error_log =~ /socket \d+ closes with (\d+) of a tail of \d+ bytes unacknowledged: watched on (-?\d+)/g;
ok(@at >= 2 && $at[0] > 100_000 && $at[1] >= 0,
   "the close found the tail in flight and took a duplicate (@at[0, 1])");

# ---- 2. a reader that resets: only what its kernel acknowledged -----------------

my $unacked0 = $t->metric('ota_download_unacked_bytes_total');
$url = $t->signed_link('ac', 'ac-reset');
$s = conn(4096);
syswrite $s, "GET $url HTTP/1.1\r\nHost: x\r\n\r\n";
$body = response($s, 1000);
sleep 0.3;                          # the request is over, its tail watched
close $s;                           # unread bytes: a reset
sleep 1.5;
my $c = covn('ac-reset');
cmp_ok($c, '>=', 1000, "what was read counts ($c bytes)");
cmp_ok($c, '<', 64 << 10, "but not what nginx's socket still held: $c of $size bytes");
cmp_ok($t->metric('ota_download_unacked_bytes_total') - $unacked0, '>', $size / 2,
       'the rest is counted as never acknowledged');

# ---- 3. a reader of every piece: no duplicate at all -------------------------

my $lines0 = () = $t->error_log =~ /watching a tail/g;
my @cut = (0, 100_000, 200_000, 300_000, $size);
$url = $t->signed_link('ac', 'ac-read');
$s = conn(16384);
$body = '';
for my $k (0 .. 3) {
    syswrite $s, "GET $url HTTP/1.1\r\nHost: x\r\nRange: bytes=$cut[$k]-" . ($cut[$k + 1] - 1) . "\r\n\r\n";
    $body .= response($s);
}
sleep 0.5;
close $s;
is(sha256_hex($body), $pkg->{files}[0]{sign}, 'a client of four pieces reads them all');
ok($t->wait_for(sub { covn('ac-read') == $size }, 5), 'and is credited with exactly all of it');
my @watch = ($t->error_log =~ /watching a tail of \d+ bytes in \d+ segments on socket \d+, duplicate (-?\d+)/g);
@watch = @watch[$lines0 .. $#watch];
is(scalar @watch, 4, 'each piece ended with a tail');
is(join(' ', @watch), '-1 -1 -1 -1', 'none of them took a duplicate of the socket');

$t->stop;
done_testing;
