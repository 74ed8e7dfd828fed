# The module's Redis writes (ngx_ota_redis.c): commands queued during an
# event loop iteration are written at its end in one write, and only output
# a write left behind (the socket full: EAGAIN, a short write) waits for
# epoll's write event.  A burst of commands far larger than the socket's
# buffers must all arrive, each reply to its own request, in order, and
# commands queued after it too; the formats the module writes itself
# (include/ota_resp.c) must reach Redis as hiredis would have sent them.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use JSON::PP;
use POSIX qw(_exit);

# Redis on a unix socket: its buffer (net.core.wmem_default, ~200 kB) does
# not grow as a loopback TCP socket's does (to MBs), so the burst below
# certainly fills it
my $sock = "/tmp/ota-t51-$$.sock";
my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                     redis_args => ['--unixsocket', $sock, '--unixsocketperm', '777'],
                     ota_redis => "unix:$sock timeout=30s");
ok($t->wait_nginx_redis, 'nginx connected to Redis (unix socket)');
my %auth = (Authorization => "Bearer $OtaTest::ADMIN_TOKEN");
my $dir = $t->dir;

# ---- a batch of 1000 devices with long names --------------------------------

my $N = 1000;
my @devs = map { sprintf 'dev-%05d-%s', $_, 'x' x 50 } 1 .. $N;     # 60 bytes
my $pkg = $t->fx_package(id => 'p1', product => 'pr', version => '2.0.0',
                         files => [[ 'fw.bin' => 'y' x 5000 ]]);
$t->fx_batch(id => 'b1', package => $pkg, devices => [ $devs[0] ]);

# the rest of the tasks in one pipe (fx_batch writes one command a time)
my $resp = sub { my $s = '*' . @_ . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @_; $s };
my %want;
{
    open my $c, '>', "$dir/tasks.redis" or die;
    for my $i (1 .. $N) {
        my $d = $devs[$i - 1];
        print {$c} $resp->('ZADD', OtaTest::key('OTA_KEY_BATCH_DEVICES', 'b1'), $i, $d);
        if ($i % 3 == 1) {
            print {$c} $resp->('HSET', OtaTest::key('OTA_KEY_BATCH_STATE', 'b1'), $d,
                               'downloading');
            print {$c} $resp->('HSET', OtaTest::key('OTA_KEY_BATCH_COVERED', 'b1'), $d,
                               $i);
            $want{$d} = "downloading $i";
        } elsif ($i % 3 == 2) {
            print {$c} $resp->('HSET', OtaTest::key('OTA_KEY_BATCH_STATE', 'b1'), $d,
                               'failed');
            print {$c} $resp->('HSET', OtaTest::key('OTA_KEY_BATCH_REASON', 'b1'), $d,
                               "reason-$i");
            $want{$d} = "failed 0 reason-$i";
        } else {
            $want{$d} = 'pending 0';
        }
    }
    close $c;
    my $port = $t->{redis_port};
    is(system("redis-cli -p $port --pipe < $dir/tasks.redis > /dev/null"), 0,
       '1000 tasks written');
}

sub digest_page {
    my ($j) = @_;
    my @d = @{ $j->{devices} // [] };
    my $bad = 0;
    for my $x (@d) {
        my $got = join ' ', $x->{state}, $x->{covered} // 0,
                            defined $x->{reason} && $x->{reason} ne '' ? $x->{reason} : ();
        $bad++ unless ($want{ $x->{device} } // '') eq $got;
    }
    return (scalar @d, $bad);
}

my $one = $t->http(GET => "/ota/admin/batches/b1/devices?limit=$N", headers => \%auth);
is($one->{status}, 200, 'one page of 1000 devices');
my ($n, $bad) = digest_page($one->{json});
is($n, $N, '1000 devices in it');
is($bad, 0, 'each with its own columns');

# ---- a burst: 24 such pages at once -----------------------------------------
# each page is 6 HMGETs of 1000 names (~400 kB of commands), queued when its
# ZRANGE answer arrives: more than the socket takes in one write

my $C = 24;
my $log0 = -s "$dir/nginx/error.log";
my @kids;
for my $k (1 .. $C) {
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        my $r = $t->http(GET => "/ota/admin/batches/b1/devices?limit=$N",
                         headers => \%auth, timeout => 60);
        my ($n, $bad) = $r->{json} ? digest_page($r->{json}) : (0, -1);
        OtaTest::write_file("$dir/burst-$k", "$r->{status} $n $bad");
        _exit(0);
    }
    push @kids, $pid;
}
waitpid($_, 0) for @kids;

my %outcome;
for my $k (1 .. $C) {
    my $s = eval { OtaTest::read_file("$dir/burst-$k") } // 'none';
    $outcome{$s}++;
}
is_deeply(\%outcome, { "200 $N 0" => $C },
          "$C pages at once: every one answered whole, each device its own columns");

my $log = OtaTest::read_file("$dir/nginx/error.log");
my $burst = substr($log, $log0);
my $left = () = $burst =~ /ota redis: fd:\d+ has output left, waiting for the socket/g;
ok($left >= 1, "the burst filled the socket and waited for epoll ($left times)");
unlike($log, qr/\[(alert|emerg|crit)\]/, 'no alert in the error log');

# ---- after the burst: the connection works as before ------------------------

my $again = $t->http(GET => "/ota/admin/batches/b1/devices?limit=10&offset=990",
                     headers => \%auth);
is($again->{status}, 200, 'a page after the burst');
($n, $bad) = digest_page($again->{json});
is("$n $bad", '10 0', 'the last 10 devices, right');

my $secret = $t->fx_device('d-auth', 'pr');
ok(defined $t->device_token('d-auth', 'pr', $secret), 'a device authenticates after it');

my @c = $t->redis('CLIENT', 'LIST') =~ /name=ota-nginx-\d+/g;
is(scalar @c, 1, 'still one connection of nginx');

$t->stop;
unlink $sock;
done_testing;
