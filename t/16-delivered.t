# Delivered means acknowledged (issue 14, item 4): a byte counts only once
# the client's TCP acknowledged it (the socket's unsent + unacknowledged
# queue, SIOCOUTQ, is left out; the tail of a response is watched after the
# request ends until it is acknowledged or the connection goes).  Clients
# that close early are not credited with what the kernel accepted but never
# delivered; clients that read everything stay exact, however they end the
# connection (next request, close, FIN after an idle wait, Connection:
# close, HTTP/1.0), and slow readers too.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF IPPROTO_TCP
              inet_aton pack_sockaddr_in);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new(nginx_workers => 1, worker => 1);
my $size = 8 << 20;
my $pkg = $t->make_package('dl', files => [ 'fw.bin' => $size ], product => 'dp');
my $data = $pkg->{files}[0]{data};


sub covn { ($t->coverage($_[0], $_[1] // 'dl'))[1] // 0 }

# a raw client: one connection with an optional small receive buffer, the
# requests of @$reqs (each read as far as $o{read} body bytes, or whole),
# then: close (default), keep the connection open idle ($o{idle} seconds),
# or half-close first; $o{slow}: seconds to sleep between 16 KB reads
sub client {
    my (%o) = @_;
    socket(my $s, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf})) or die if $o{rcvbuf};
    connect($s, pack_sockaddr_in($t->port, inet_aton('127.0.0.1'))) or die "connect: $!";
    binmode $s;
    my ($got, @bodies) = (0);
    for my $q (@{ $o{reqs} }) {
        my $req = "GET $q->{url} HTTP/$q->{http}\r\nHost: x\r\n";
        $req .= "Range: bytes=$q->{range}\r\n" if $q->{range};
        $req .= "Connection: $q->{conn}\r\n" if $q->{conn};
        syswrite($s, "$req\r\n");
        my ($head, $body) = ('', '');
        while ($head !~ /\r\n\r\n/) {
            my $n = sysread($s, my $b, 1) or last;
            $head .= $b;
        }
        my ($len) = $head =~ /Content-Length: (\d+)/i;
        my $want = defined $o{read} ? $o{read} : $len;
        while (length($body) < $want) {
            my $n = sysread($s, my $b, ($o{slow} ? 16384 : 65536) < $want - length $body
                                        ? ($o{slow} ? 16384 : 65536) : $want - length $body) or last;
            $body .= $b;
            sleep $o{slow} if $o{slow};
        }
        $got += length $body;
        push @bodies, $body;
    }
    sleep $o{idle} if $o{idle};
    close $s;
    return ($got, @bodies);
}

# ---- clients that read a little and close -----------------------------------------------

# 64 range requests of 128 KB each over the whole package, 100 bytes read
# of each, with a 4 KB receive buffer: the kernel took far more of each
my $u = $t->signed_link('dl', 'd-early');
my $piece = $size / 64;
my $unacked0 = $t->metric('ota_download_unacked_bytes_total');
my $read = 0;
for my $i (0 .. 63) {
    my ($g) = client(rcvbuf => 4096, read => 100,
                     reqs => [ { url => $u, http => '1.1',
                                 range => ($i * $piece) . '-' . (($i + 1) * $piece - 1) } ]);
    $read += $g;
}
is($read, 6400, '64 requests, 100 bytes read of each');
sleep 1.5;
my $early = covn('d-early');
cmp_ok($early, '>=', 6400, "what was read counts ($early bytes)");
cmp_ok($early, '<', $size / 20, "but not what the client never acknowledged: $early of $size bytes (was all of it)");
cmp_ok($t->metric('ota_download_unacked_bytes_total') - $unacked0, '>', $size / 2,
       'the bytes sent but never acknowledged are counted in ota_download_unacked_bytes_total');

# the same through the worker: a task that is not downloaded
$t->fx_device('d-task', 'dp');
$t->fx_batch(id => 'bd', package => { %$pkg, product => 'dp', module => 'default',
                                       version => '1.0.0' },
             devices => ['d-task'], tasks => { 'd-task' => { state => 'notified' } });
$u = $t->signed_link('dl', 'd-task');
for my $i (0 .. 63) {
    client(rcvbuf => 4096, read => 100,
           reqs => [ { url => $u, http => '1.1',
                       range => ($i * $piece) . '-' . (($i + 1) * $piece - 1) } ]);
}
# the download event goes out after its coverage write is answered, so
# the count can be in Redis and the stream drained before the event is
# in it: wait for the worker to have applied one (the task's covered)
ok($t->wait_for(sub { $t->drained && covn('d-task') > 0
                      && $t->task('d-task', 'bd')->{covered} > 0 }, 10),
   'the download events are applied');
my $task = $t->task('d-task', 'bd');
is($task->{state}, 'downloading', 'the task is downloading, not downloaded');
cmp_ok($task->{covered}, '<', $size / 20, "its covered: $task->{covered}");

# curl gives up on a file larger than --max-filesize right after the headers
for my $i (1 .. 3) {
    my ($rc) = $t->client(20, 'curl', '-s', '--max-filesize', '1000', '-o', '/dev/null',
                          $t->base . $t->signed_link('dl', "d-maxfs$i"));
    is($rc, 63, "curl --max-filesize gave up ($i)");
}
sleep 1.5;
for my $i (1 .. 3) {
    cmp_ok(covn("d-maxfs$i"), '<', 1 << 20,
           "and is credited with less than 1 MB of 8 MB (" . covn("d-maxfs$i") . ')');
}

# ---- clients that read everything: exact, however the connection ends -------------------

my @cases = (
    [ 'closes at once', 'd-close', {} ],
    [ 'stays idle 1 s, then closes', 'd-idle', { idle => 1.2 } ],
    [ 'asks again on the same connection', 'd-next', { next => 1 } ],
    [ 'sends Connection: close', 'd-connclose', { conn => 'close' } ],
    [ 'speaks HTTP/1.0', 'd-http10', { http => '1.0' } ],
    [ 'reads slowly through a 4 KB buffer', 'd-slow', { rcvbuf => 4096, slow => 0.002 } ],
);
for my $c (@cases) {
    my ($what, $dev, $o) = @$c;
    my $url = $t->signed_link('dl', $dev);
    my @reqs = ({ url => $url, http => $o->{http} // '1.1', conn => $o->{conn},
                  range => $o->{next} ? '0-' . ($size / 2 - 1) : undef });
    push @reqs, { url => $url, http => '1.1', range => ($size / 2) . '-' } if $o->{next};
    my ($g, @b) = client(%$o, reqs => \@reqs);
    is(sha256_hex(join("", @b)), $pkg->{files}[0]{sign}, "a client that $what: the whole file") or diag("got " . length(join "", @b));
    if ($o->{idle}) {
        # resolved by the timer while the connection is still open
    }
    ok($t->wait_for(sub { covn($dev) == $size }, 10), "and exactly 100 % ($dev: " . covn($dev) . ')');
}

# idle: known before the client closes (the timed check)
{
    socket(my $s, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die;
    connect($s, pack_sockaddr_in($t->port, inet_aton('127.0.0.1'))) or die;
    syswrite($s, "GET " . $t->signed_link('dl', 'd-open') . " HTTP/1.1\r\nHost: x\r\n\r\n");
    my $resp = '';
    while (length($resp) < $size) { sysread($s, my $b, 1 << 20) or last; $resp .= $b }
    ok($t->wait_for(sub { covn('d-open') == $size }, 5),
       'a client that keeps the connection open: 100 % while it is still open');
    close $s;
}

# real clients, unchanged
my $out = $t->dir . '/wget.out';
OtaTest::write_file($out, substr($data, 0, 12345));
my ($rc) = $t->client(30, 'wget', '-q', '-c', '-O', $out, $t->base . $t->signed_link('dl', 'd-wget'));
is($rc, 0, 'wget -c');
ok($t->wait_for(sub { covn('d-wget') == $size - 12345 }, 5), 'wget -c: exactly the rest');
$out = $t->dir . '/curl.out';
($rc) = $t->client(30, 'curl', '-s', '-r', '0-99999', '-o', $out, $t->base . $t->signed_link('dl', 'd-curl'));
($rc) = $t->client(30, 'curl', '-s', '-C', '-', '-o', $out, $t->base . $t->signed_link('dl', 'd-curl'));
is($rc, 0, 'curl -C -');
is(sha256_hex(OtaTest::read_file($out)), $pkg->{files}[0]{sign}, 'digest matches');
ok($t->wait_for(sub { covn('d-curl') == $size }, 5), 'curl -C -: exactly 100 %');

$t->stop;
done_testing;
