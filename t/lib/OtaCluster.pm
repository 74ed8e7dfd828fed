package OtaCluster;

# Extra Redis processes for the operations tests: replicas and sentinels on
# free loopback ports inside a harness's temp directory.
#
#   my $r = OtaCluster::redis_server($t, replicaof => $t->{redis_port});
#   my $s = OtaCluster::sentinel($t, master_port => $port, name => 'm');
#   OtaCluster::stop($r);

use strict;
use warnings;

use File::Path qw(make_path);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use OtaTest;

# one-shot RESP command to any port (reuses OtaTest's reader)
sub cmd {
    my ($port, @cmd) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 2)
        or die "cannot connect to 127.0.0.1:$port\n";
    binmode $s;
    my $req = '*' . @cmd . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @cmd;
    print {$s} $req;
    my $r = OtaTest::_resp_read($s);
    close $s;
    return $r;
}

sub _wait_ping {
    my ($port) = @_;
    my $until = time + 10;
    while (time < $until) {
        my $r = eval { cmd($port, 'PING') };
        return 1 if defined $r && $r eq 'PONG';
        sleep 0.05;
    }
    die "redis on $port does not answer\n";
}

# a replica is of use once its first full sync is done: on a loaded machine
# that can take seconds, and a master killed before it loses everything
sub _wait_synced {
    my ($port) = @_;
    my $until = time + 60;
    while (time < $until) {
        my $info = cmd($port, 'INFO', 'replication') // '';
        return 1 if $info =~ /master_link_status:up/ && $info !~ /master_sync_in_progress:1/;
        sleep 0.1;
    }
    die "replica on port $port did not finish its first sync within 60 s\n";
}

sub redis_server {
    my ($t, %o) = @_;
    my $port = $o{port} // OtaTest::free_port();
    my $d = $t->dir . "/redis-$port";
    make_path($d);
    my @args = ('--port', $port, '--bind', '127.0.0.1', '--dir', $d,
                '--daemonize', 'yes', '--pidfile', "$d/redis.pid",
                '--logfile', "$d/redis.log", '--save', '',
                '--appendonly', 'yes', '--protected-mode', 'no');
    push @args, '--replicaof', '127.0.0.1', $o{replicaof} if $o{replicaof};
    system('redis-server', @args) == 0 or die "redis-server did not start\n";
    _wait_ping($port);
    _wait_synced($port) if $o{replicaof};
    return { port => $port, dir => $d, pidfile => "$d/redis.pid" };
}

sub sentinel {
    my ($t, %o) = @_;
    my $port = $o{port} // OtaTest::free_port();
    my $d = $t->dir . "/sentinel-$port";
    make_path($d);
    my $name = $o{name} // 'ota';
    OtaTest::write_file("$d/sentinel.conf", <<"C");
port $port
bind 127.0.0.1
protected-mode no
daemonize yes
dir $d
pidfile $d/sentinel.pid
logfile $d/sentinel.log
sentinel monitor $name 127.0.0.1 $o{master_port} 1
sentinel down-after-milliseconds $name 1000
sentinel failover-timeout $name 5000
sentinel parallel-syncs $name 1
C
    system('redis-server', "$d/sentinel.conf", '--sentinel') == 0
        or die "redis sentinel did not start\n";
    _wait_ping($port);
    return { port => $port, dir => $d, pidfile => "$d/sentinel.pid" };
}

sub pid {
    my ($h) = @_;
    open my $fh, '<', $h->{pidfile} or return;
    chomp(my $pid = <$fh> // '');
    return $pid || undef;
}

sub stop {
    my ($h, $signal) = @_;
    my $pid = pid($h) or return;
    kill $signal // 'TERM', $pid;
    my $until = time + 10;
    sleep 0.05 while kill(0, $pid) && time < $until;
}

# number of connections named ota-nginx-* on a server
sub nginx_clients {
    my ($port) = @_;
    my $list = eval { cmd($port, 'CLIENT', 'LIST') } // '';
    my $n = () = $list =~ /name=ota-nginx-\d+/g;
    return $n;
}

1;
