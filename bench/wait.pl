#!/usr/bin/perl
# Long-poll benchmark (issue 17): BENCH_WAITS (10,000) devices wait on one
# node (BENCH_NGINX_WORKERS nginx worker processes, 2: one per CPU of a
# small machine) with GET /ota/v1/upgrade?wait=60, then
# one `otactl batch create` gives every one of them an offer.
#
#   memory per waiting request: the nginx workers' private memory
#     (Private_Dirty of /proc/<pid>/smaps_rollup) with every device
#     waiting, minus the same with 100 waiting, per request; calibration:
#     the same for plain nginx holding connections that sent half a
#     request header (a connection nginx keeps for client_header_timeout)
#   wake time: from the moment the batch became ready (the wake notice,
#     which is published in the step that makes it run, as seen by this
#     process's own subscription) until every device has its answer;
#     target 2 s; calibration: as many open connections, each sending a
#     plain nginx static request at once, until nginx answered them all
#     (the times are nginx's, from its access log in ms: a Perl client
#     reads thousands of sockets slower than nginx answers them)
#   and redis-benchmark -P 32 -t set (requests/s) on the same Redis
#
#   perl -I t/lib bench/wait.pl     (or: make bench)
#   BENCH_WAITS=10000

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Test::More;                 # the harness reports through it
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use POSIX ();
use OtaTest;
use OtaDownload;
use OtaWait;

my $n = $ENV{BENCH_WAITS} // 10000;
my $target = 2.0;

# one socket a device here and in nginx, at a time
my $files = $n + 2000;
chomp(my $soft = `sh -c 'ulimit -n'`);
if ($soft ne 'unlimited' && $soft < $files) {
    system('prlimit', '--pid', $$, "--nofile=$files") == 0
        or die "prlimit: cannot raise the open file limit to $files\n";
}

my $nw = $ENV{BENCH_NGINX_WORKERS} // 2;  # worker_processes auto, 2 CPUs
my $t = OtaTest->new(worker => 1, nginx_workers => $nw,
                     worker_connections => $files,
                     main_extra => "worker_rlimit_nofile $files;",
                     # when nginx sent each answer, in ms: the client
                     # below reads thousands of sockets slower than that
                     http_extra => 'log_format ms "$msec $status $request_uri";'
                                   . ' access_log ms.log ms buffer=256k flush=100ms;'
                                   . ' ota_upgrade_wait_max 60s;');

# the last time nginx answered a request whose URI matches, status 200
sub last_answer {
    my ($uri) = @_;
    sleep 0.5;                              # the log's flush
    my $last = 0;
    for (split /\n/, OtaTest::read_file($t->dir . '/nginx/ms.log')) {
        my ($ms, $st, $u) = split ' ';
        $last = $ms if $st == 200 && $u =~ $uri && $ms > $last;
    }
    return $last;
}

# ---- the fleet, written straight into Redis ------------------------------------

my $exp = int(time) + 3600;
my @devs = map { sprintf 'bw%05d', $_ } 1 .. $n;
my %tok;
for my $d (@devs) {
    $t->fx_device($d, 'bp', secret => 'cd' x 32);
    $tok{$d} = OtaWait::token($t->{secret}, $d, 'bp', $exp);
}
my $file = $t->dir . '/bp.bin';
OtaTest::write_file($file, "bench firmware\n" x 1000);
OtaTest::write_file($t->store . '/static.txt', "static\n");
my ($rc, $out, $err) = $t->otactl('package', 'add', $file, qw(--product bp --module default
                                  --name bench --version 2.0.0 --sign sha256));
die "package add: $err" if $rc;
my ($pkg) = $out =~ /^(\S+)\s*$/m;

my @wpid = $t->nginx_workers;

# the nginx worker processes' private memory, all together
sub private_kb {
    my $kb = 0;
    for (@wpid) {
        $kb += $1 if OtaTest::read_file("/proc/$_/smaps_rollup")
                     =~ /^Private_Dirty:\s+(\d+) kB/m;
    }
    return $kb;
}

# CPU seconds used so far by the nginx worker processes, and by Redis
sub nginx_cpu {
    my $ticks = 0;
    for (@wpid) {
        my @f = split ' ', (OtaTest::read_file("/proc/$_/stat") =~ /\) (.*)/)[0];
        $ticks += $f[11] + $f[12];
    }
    return $ticks / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}
sub redis_cpu {
    my $i = $t->redis('INFO', 'cpu');
    my ($s) = $i =~ /used_cpu_sys:([\d.]+)/;
    my ($u) = $i =~ /used_cpu_user:([\d.]+)/;
    return $s + $u;
}

sub waiting {
    $t->metric('ota_upgrade_waits_total') - $t->metric('ota_upgrade_waits_ended_total');
}

# ---- calibration: plain nginx, connections with half a request ------------------

sub half_requests {
    my ($count) = @_;
    my @s;
    for (1 .. $count) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port)
            or die "connect: $!\n";
        print $s "GET /static/static.txt HTTP/1.1\r\nHost: x\r\n";
        push @s, $s;
    }
    return \@s;
}

diag("fleet written");
my $few = half_requests(100);
sleep 1;
my $m0 = private_kb();
my $many = half_requests($n);
sleep 1;
my $m1 = private_kb();
my $cal_mem = ($m1 - $m0) * 1024 / $n;

# the same sockets end their requests at once: plain nginx answers them all
my $sel = IO::Select->new(@$many);
my $t0 = time;
print $_ "\r\n" for @$many;
my $left = $n;
while ($left > 0 && time - $t0 < 60) {
    for my $s ($sel->can_read(0.1)) {
        my $got = sysread($s, my $buf, 4096);
        $sel->remove($s);
        close $s;
        $left--;
    }
}
close $_ for @$few;
die "calibration: $left static answers missing\n" if $left;
my $cal_time = last_answer(qr{^/static/}) - $t0;
sleep 1;

# ---- the waits ----------------------------------------------------------------------

diag("calibrated");
my $w = OtaWait->new($t->port);
$w->add($_, $tok{$_}, '?wait=60') for @devs[0 .. 99];
$t->wait_for(sub { waiting() == 100 }, 30) or die "100 waits did not start\n";
sleep 1;
$m0 = private_kb();
$w->add($_, $tok{$_}, '?wait=60') for @devs[100 .. $n - 1];
$t->wait_for(sub { waiting() == $n }, 60) or die "$n waits did not start\n";
sleep 1;
$m1 = private_kb();
my $wait_mem = ($m1 - $m0) * 1024 / ($n - 100);

# a process of its own, subscribed: when the batch became ready
my $ready_file = $t->dir . '/ready';
my $sub = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->{redis_port})
    or die "redis: $!\n";
my $ch = OtaTest::key('OTA_CHANNEL_WAKE');
print $sub "*2\r\n\$9\r\nSUBSCRIBE\r\n\$" . length($ch) . "\r\n$ch\r\n";
sysread($sub, my $ack, 4096);
my $spid = fork // die "fork: $!\n";
if ($spid == 0) {
    my $buf = '';
    while (sysread($sub, my $b, 65536)) {
        $buf .= $b;
        if ($buf =~ /mod bp default/) {
            OtaTest::write_file($ready_file, sprintf '%.6f', time);
            POSIX::_exit(0);
        }
    }
    POSIX::_exit(1);
}
close $sub;

diag("waiting");
# BENCH_PERF=<file>: a perf profile of the nginx workers during the wake
my $perf;
if ($ENV{BENCH_PERF}) {
    $perf = fork // die "fork: $!\n";
    exec 'perf', 'record', '-q', '-g', '-o', $ENV{BENCH_PERF}, '-p', join(',', @wpid)
        if $perf == 0;
    sleep 0.5;
}
my ($cpu_n, $cpu_r) = (nginx_cpu(), redis_cpu());
my $c0 = time;
my $pid = fork // die "fork: $!\n";
if ($pid == 0) {
    my ($rc) = $t->otactl('batch', 'create', '--package', $pkg, qw(--type upgrade --name bench));
    POSIX::_exit($rc);          # not exit: the harness's teardown is the parent's
}
$w->pump(60, sub { $w->answered == $n });
($cpu_n, $cpu_r) = (nginx_cpu() - $cpu_n, redis_cpu() - $cpu_r);
if ($perf) {
    kill 'INT', $perf;
    waitpid($perf, 0);
}
waitpid($pid, 0);
waitpid($spid, 0);
my $ok200 = scalar $w->with_status(200);
my $ready = -f $ready_file ? OtaTest::read_file($ready_file) : undef;
my $last = last_answer(qr{^/ota/v1/upgrade});

# ---- Redis calibration -----------------------------------------------------------------

my $cal_set = `redis-benchmark -p $t->{redis_port} -P 32 -t set -n 1000000 --csv 2>/dev/null`;
($cal_set) = $cal_set =~ /"SET","([\d.]+)"/;

my $wake = defined $ready ? $last - $ready : undef;
printf "long poll, %d devices waiting on one node (%d nginx worker processes, %d CPUs)\n",
    $n, $nw,
    scalar(() = OtaTest::read_file('/proc/cpuinfo') =~ /^processor/mg);
printf "memory per waiting request: %.0f bytes (nginx private memory)\n", $wait_mem;
printf "  calibration, plain nginx, a connection with half a request: %.0f bytes;"
     . " ratio %.2f\n", $cal_mem, $cal_mem ? $wait_mem / $cal_mem : 0;
printf "answered with their offer: %d of %d\n", $ok200, $n;
printf "wake: all %d answered %.3f s after the batch became ready (%.3f s after otactl"
     . " started); target %.1f s: ratio %.2f (%s)\n", $n, $wake // -1, $last - $c0, $target,
     defined $wake ? $wake / $target : 0, defined $wake && $wake <= $target ? 'met' : 'missed';
printf "  calibration, %d plain nginx static answers on as many open"
     . " connections: %.3f s; ratio %.2f\n", $n, $cal_time, defined $wake ? $wake / $cal_time : 0;
printf "  CPU from otactl to the last answer: nginx %.0f us, Redis %.0f us per waiting"
     . " device (Redis also runs the batch creation and the worker's scripts)\n",
    $cpu_n * 1e6 / $n, $cpu_r * 1e6 / $n;
printf "  calibration, redis-benchmark -P 32 -t set: %s requests/s\n", $cal_set // '?';

ok($ok200 == $n, 'every waiting device had its offer');
ok(defined $wake && $wake <= $target, "all within $target s of the batch becoming ready");
$t->stop;
done_testing;
