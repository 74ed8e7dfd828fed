#!/usr/bin/perl
# Fleet cost (issue 22): what a whole device session costs the node, against
# the same client fetching the same bytes from plain nginx static, in the
# same nginx, the same run (bench/README.md, "Fleet").
#
# Three modes of build/ota-fleet, each BENCH_ROUNDS times, alternating:
#
#   static  the download's 1..4 range pieces of the 1 MiB package from
#           location /static/ (no auth, no reports), same connections
#   full    auth, inform, upgrade, the same pieces from the signed link,
#           progress 100, inform of the new version (a fresh batch)
#   floor   the five small requests without the download (a fresh batch)
#   bare    static's pieces with the five small requests around them, in a
#           session's order, sent to plain nginx locations that answer
#           constant bodies of about the real ones' sizes (no module, no
#           Redis): what the protocol's shape costs any nginx, the bound
#           below which no implementation of it gets on this host
#   barefl  the five plain requests alone (BENCH_BARE=0: neither of these)
#
# CPU per session by process: the nginx worker processes, redis-server and
# ota-worker from /proc/<pid>/stat before and after (after the worker has
# drained the events the run wrote), the client from its own getrusage.
# Calibration in the same run: nginx static 1 MiB (wrk) and
# redis-benchmark -P 32 -t set on a throwaway server.
#
#   perl bench/fleet.pl          (bench/fleet.sh; make bench runs it)
#   BENCH_DEVICES=4000 BENCH_CONC=200 BENCH_PIECES=4 BENCH_SEED=22
#   BENCH_ROUNDS=2 BENCH_WORKERS=1 BENCH_SIZE=1048576 BENCH_STATS=1
#   OTA_BUILD=DIR: the binaries of another build (an older commit)
#   BENCH_LOG=debug: nginx's error_log level (OTA_KEEP=1 keeps the log)
#   BENCH_PERF=DIR [BENCH_PERF_CG=dwarf] [BENCH_PERF_FREQ=999] [BENCH_PERF_ALL=1: and
#   the whole machine, DIR/<mode>-all.data], BENCH_STRACE=DIR,
#   BENCH_UNIX=1: nginx's Redis connection on a unix socket
#   BENCH_REDIS_ARGS="--appendonly no": redis-server's arguments, added
#   BENCH_LAG=1: the age of the oldest unread event, sampled every 20 ms
#   (how late the statistics are; the sampling's own Redis calls count in the CPU)
#   BENCH_NSTAT=1: TCP counters per session (/proc/net/snmp, netstat; they are
#   the network namespace's: run it in one of its own, `unshare -n`, lo up)
#
# Loopback only; bounded: rounds x 5 runs of BENCH_DEVICES sessions.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Test::More;                 # the harness reports through it
use JSON::PP;
use Time::HiRes qw(time sleep);
use POSIX ();
use OtaTest;

my $ndev    = $ENV{BENCH_DEVICES} // 4000;
my $conc    = $ENV{BENCH_CONC}    // 200;
my $pieces  = $ENV{BENCH_PIECES}  // 4;
my $seed    = $ENV{BENCH_SEED}    // 22;
my $rounds  = $ENV{BENCH_ROUNDS}  // 2;
my $size    = $ENV{BENCH_SIZE}    // 1 << 20;
my $workers = $ENV{BENCH_WORKERS} // 1;
my $fleet   = "$OtaTest::BUILD/ota-fleet";
my $target  = 2.0;
my $bare    = $ENV{BENCH_BARE}    // 1;

# the bare modes' plain locations: constant answers of about the real
# ones' sizes (a token of ~130 bytes, the upgrade's offer of ~600)
my $tok = 'x' x 130;
my $offer = '{"batch":"b-bare","package":"bare-default-2_0_0","module":"default",'
          . '"version":"2.0.0","size":1048576,"sign":"' . ('0' x 64) . '","url":"http://'
          . '127.0.0.1:8080/ota/v1/packages/bare-default-2_0_0?device=bare-000001&'
          . 'expires=1767229200&signature=' . ('0' x 64) . '","files":[{"name":"fw.bin",'
          . '"size":1048576,"sign":"' . ('0' x 64) . '"}],"extData":{}}';
my $bare_conf = join ' ',
    'location = /bare/auth { default_type application/json;'
        . " return 200 '{\"token\":\"$tok\",\"expires_in\":3600}'; }",
    'location = /bare/upgrade { default_type application/json;'
        . " return 200 '$offer'; }",
    'location ~ ^/bare/(inform|progress)$ { default_type application/json;'
        . " return 200 '{\"code\":200,\"message\":\"ok\"}'; }";

-x $fleet or die "build first: make fleet ($fleet)\n";
system('which wrk redis-benchmark >/dev/null 2>&1') == 0
    or die "wrk and redis-benchmark are needed\n";

# BENCH_UNIX=1: nginx reaches Redis on a unix socket (a node with its own
# Redis; the worker stays on TCP)
my $sock = "/tmp/ota-fleet-$$.sock";
# BENCH_REDIS_ARGS="--appendonly no": words added to redis-server's
# arguments (attribution of a Redis setting's cost)
my @rargs = split ' ', $ENV{BENCH_REDIS_ARGS} // '';
my @unix = $ENV{BENCH_UNIX}
    ? (redis_args => ['--unixsocket', $sock, '--unixsocketperm', '777', @rargs],
       ota_redis => "unix:$sock")
    : (redis_args => \@rargs);
my $t = OtaTest->new(worker => 1, nginx_workers => $workers, @unix,
                     $ENV{BENCH_LOG} ? (log_level => $ENV{BENCH_LOG}) : (),
                     http_extra => 'access_log off; open_file_cache max=64;'
                                   . ' open_file_cache_valid 60s;',
                     server_extra => $bare_conf);
$t->wait_nginx_redis or die "nginx did not reach Redis on $sock\n" if $ENV{BENCH_UNIX};
END { unlink $sock if $ENV{BENCH_UNIX} }
my $dir = $t->dir;
my $hz = 100;                                   # USER_HZ

sub cpu_of {                                    # seconds, user + system
    my ($pid, $which) = @_;                     # $which: 'user' or 'sys' only
    my $st = eval { OtaTest::read_file("/proc/$pid/stat") } // return 0;
    my @f = split ' ', ($st =~ /\)\s(.*)/s)[0];
    return $f[11] / $hz if ($which // '') eq 'user';
    return $f[12] / $hz if ($which // '') eq 'sys';
    return ($f[11] + $f[12]) / $hz;
}

sub redis_pid {
    chomp(my $p = OtaTest::read_file("$dir/redis/redis.pid"));
    return $p;
}

sub snapshot {
    my %s = (nginx => 0, nginx_user => 0);
    $s{nginx} += cpu_of($_) for $t->nginx_workers;
    $s{nginx_user} += cpu_of($_, 'user') for $t->nginx_workers;
    $s{redis} = cpu_of(redis_pid());
    $s{worker} = cpu_of($t->{workers}[0]{pid});
    return \%s;
}

# devices of a product, written as otactl device add writes them (one pipe)
sub devices {
    my ($product) = @_;
    my $list = "$dir/$product.txt";
    my $cmds = "$dir/$product.redis";
    open my $l, '>', $list or die;
    open my $c, '>', $cmds or die;
    my $resp = sub { my $s = '*' . @_ . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @_; $s };
    my $pdev = OtaTest::key('OTA_KEY_PRODUCT_DEVICES', $product);
    for my $i (1 .. $ndev) {
        my $d = sprintf '%s-%05d', $product, $i;
        my $sec = sprintf '%064x', $i * 7919 + length $product;
        print {$l} "$d $sec\n";
        print {$c} $resp->('HSET', OtaTest::key('OTA_KEY_DEVICE', $d), 'product', $product,
                           'secret', $sec, 'created', int time);
        print {$c} $resp->('SADD', $pdev, $d);
    }
    close $l;
    close $c;
    my $port = $t->{redis_port};
    system("redis-cli -p $port --pipe < $cmds > /dev/null") == 0 or die "redis-cli --pipe\n";
    $t->redis(SADD => OtaTest::key('OTA_KEY_PRODUCTS'), $product);
    $t->fx_module($product, 'default');
    return $list;
}

my $content = join '', map { chr(($_ * 131 + 7) % 251) } 0 .. $size - 1;
my $bin = "$dir/fw-2.0.0.bin";
OtaTest::write_file($bin, $content);

# a product with its devices, a package and a running batch of them all
sub prepare {
    my ($product) = @_;
    my $list = devices($product);
    my ($pkg, $batch) = $t->otactl_release($bin, $product, 'fleet');
    return { product => $product, list => $list, pkg => $pkg, batch => $batch };
}

sub fleet {
    my (@args) = @_;
    my ($rc, $out, $err) = $t->run_cmd({}, 'timeout', '600', $fleet, '--port', $t->port,
        '--concurrency', $conc, '--pieces', $pieces, '--seed', $seed, '--json', @args);
    my $j = eval { decode_json($out) } // {};
    die "ota-fleet failed ($rc): $err$out\n" if $rc || ($j->{ok} // 0) != $ndev;
    return $j;
}

sub settle {
    my ($batch) = @_;
    $t->wait_for(sub { $t->drained }, 120) or die "the worker did not drain\n";
    if ($batch) {                      # the last merges land a moment later
        my $cov = OtaTest::key('OTA_KEY_BATCH_COVERED', $batch);
        $t->wait_for(sub {
            my $v = $t->redis(HVALS => $cov) // [];
            @$v == $ndev && !grep { $_ != $size } @$v;
        }, 30) or do {
            my %h = @{ $t->redis(HGETALL => $cov) // [] };
            my @short = grep { $h{$_} != $size } sort keys %h;
            die sprintf "not every device covered its package: %d of %d listed, %d short "
                . "(%s)\n", scalar keys %h, $ndev, scalar @short,
                join ', ', map { "$_ $h{$_}" } @short[0 .. ($#short < 4 ? $#short : 4)];
        };
        $t->wait_for(sub { $t->drained }, 60);
    }
    sleep 0.3;
}

# the scripts' SHA1s (as Redis names them) -> file names

# BENCH_PERF=DIR: perf record -g of nginx's workers and redis-server during
# each run (DIR/<mode>-<process>.data; the figures of such a run are not)
sub perf_start {
    my ($mode) = @_;
    my $out = $ENV{BENCH_PERF} or return [];
    my @p;
    for my $w (['nginx', join ',', $t->nginx_workers], ['redis', redis_pid()],
               ['worker', $t->{workers}[0]{pid}]) {
        my $pid = fork // die "fork: $!\n";
        if ($pid == 0) {
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            # BENCH_PERF_CG=dwarf: callers through DWARF (large files)
            my @cg = $ENV{BENCH_PERF_CG} ? ('--call-graph', $ENV{BENCH_PERF_CG}) : ('-g');
            exec 'perf', 'record', @cg, '-F', $ENV{BENCH_PERF_FREQ} // 999, '-o', "$out/$mode-$w->[0].data",
                 '-p', $w->[1];
            exit 127;
        }
        push @p, $pid;
    }
    if ($ENV{BENCH_PERF_ALL}) {        # the whole machine too: softirq work lands on
        my $pid = fork // die "fork: $!\n";   # whatever runs, the idle task included
        if ($pid == 0) {
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            exec 'perf', 'record', '-g', '-a', '-F', $ENV{BENCH_PERF_FREQ} // 999,
                 '-o', "$out/$mode-all.data";
            exit 127;
        }
        push @p, $pid;
    }
    sleep 0.5;
    return \@p;
}

# BENCH_STRACE=DIR: strace -c -f of nginx's workers during each run
# (DIR/<mode>-nginx.strace: syscalls per session; the run's CPU figures are not)
sub strace_start {
    my ($mode) = @_;
    my $out = $ENV{BENCH_STRACE} or return;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec 'strace', '-c', '-f', '-o', "$out/$mode-nginx.strace",
             map { ('-p', $_) } $t->nginx_workers;
        exit 127;
    }
    sleep 0.5;
    return $pid;
}

sub perf_stop {
    my ($p) = @_;
    kill 'INT', @$p;
    waitpid($_, 0) for @$p;
}

# BENCH_LAG=1: how long events wait for the worker during each run: every
# 20 ms the age of the oldest entry of ota:events after the group's cursor
# (0 when there is none), i.e. how late the statistics are then.  A child
# process on its own connection; its samples come back through a file.
sub lag_start {
    my ($mode) = @_;
    $ENV{BENCH_LAG} or return;
    my $file = "$dir/lag-$mode.txt";
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        delete $t->{redis_sock};         # the parent's connection is not ours
        open my $o, '>', $file or POSIX::_exit(1);
        my $stop = 0;
        local $SIG{TERM} = sub { $stop = 1 };
        while (!$stop) {
            my $age = eval {
                my ($g) = grep { my %h = @$_; $h{name} eq 'ota-workers' }
                          @{ $t->redis(XINFO => 'GROUPS', 'ota:events') };
                my %g = @$g;
                my $next = $t->redis(XRANGE => 'ota:events', "($g{'last-delivered-id'}", '+',
                                     'COUNT', 1);
                @$next ? time * 1e3 - ($next->[0][0] =~ /^(\d+)/)[0] : 0;
            };
            printf {$o} "%.1f\n", $age if defined $age;
            sleep 0.02;
        }
        close $o;
        POSIX::_exit(0);                 # not the harness's END: its servers are the parent's
    }
    return [$pid, $file];
}

sub lag_stop {
    my ($l) = @_;
    $l or return;
    kill 'TERM', $l->[0];
    waitpid($l->[0], 0);
    my @s = sort { $a <=> $b } split /\n/, eval { OtaTest::read_file($l->[1]) } // '';
    return [0, 0, 0] unless @s;
    return [$s[int(@s / 2)], $s[int(@s * 0.95)], $s[-1]];
}

# BENCH_NSTAT=1: the namespace's TCP/IP counters (Tcp: of /proc/net/snmp, TcpExt:
# of /proc/net/netstat), to tell segments, ACKs and pacing of one mode from another
sub nstat {
    my %c;
    for my $f ('/proc/net/snmp', '/proc/net/netstat') {
        my @l = split /\n/, OtaTest::read_file($f);
        while (@l >= 2) {
            my ($h, $v) = (shift @l, shift @l);
            my ($p, @k) = split ' ', $h;
            my (undef, @n) = split ' ', $v;
            $c{"$p$k[$_]"} = $n[$_] for 0 .. $#k;
        }
    }
    return \%c;
}

sub measure {
    my ($mode, $set) = @_;
    settle();
    $t->redis(CONFIG => 'RESETSTAT');
    if ($ENV{BENCH_STATS}) {           # every command, for the per-script cost
        $t->redis(CONFIG => 'SET', 'slowlog-log-slower-than', 0);
        $t->redis(CONFIG => 'SET', 'slowlog-max-len', 1000000);
    }
    $t->redis(SLOWLOG => 'RESET');
    my $perf = perf_start($mode);
    my $strace = strace_start($mode);
    my $n0 = $ENV{BENCH_NSTAT} ? nstat() : undef;
    my $lag = lag_start($mode);
    my $s0 = snapshot();
    my %plain = (static => 'static', bare => 'bare', barefl => 'bare-floor');
    my $j = $plain{$mode}
        ? fleet('--mode', $plain{$mode}, '--devices', $ndev, '--path', $set->{static},
                '--size', $size, '--sign', $set->{sign})
        : fleet('--mode', $mode, '--devices', $set->{list}, '--product', $set->{product},
                '--to', '2.0.0');
    settle($mode eq 'full' ? $set->{batch} : undef);
    my $lagged = lag_stop($lag);
    my $s1 = snapshot();
    perf_stop($perf);
    perf_stop([$strace]) if $strace;
    my %ms = map { $_ => ($s1->{$_} - $s0->{$_}) / $ndev * 1e3 } keys %$s1;
    $ms{lag} = $lagged if $lagged;
    if ($n0) {
        my $n1 = nstat();
        $ms{nstat} = { map { $_ => ($n1->{$_} - $n0->{$_}) / $ndev } keys %$n1 };
    }
    $ms{client} = $j->{cpu} / $ndev * 1e3;
    $ms{sps} = $j->{sessions_per_s};
    $ms{requests} = $j->{requests} / $ndev;
    $ms{stats} = $t->redis(INFO => 'commandstats');
    # Redis's read events (nginx's writes, the worker's, ...) per session
    my ($reads) = $t->redis(INFO => 'stats') =~ /total_reads_processed:(\d+)/;
    $ms{reads} = ($reads // 0) / $ndev;
    if ($ENV{BENCH_STATS}) {           # us and calls by script (or command)
        $ms{slow} = $t->slowlog_by_script;
        $t->redis(CONFIG => 'SET', 'slowlog-log-slower-than', 10000);
    }
    return \%ms;
}

# ---- calibration ------------------------------------------------------------------

my $first = prepare('cal');
my $m = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $first->{pkg}));
my $fname = decode_json($m->{files})->[0]{name};
my $static = "/static/$first->{pkg}/$fname";
my $sign = $m->{sign};
-f "$t->{store}/$first->{pkg}/$fname" or die "no $static in the store\n";

my $wl = "$dir/static.lua";
OtaTest::write_file($wl, "request = function() return wrk.format(nil, \"$static\") end\n");
$t->run_cmd({}, 'wrk', '-t1', '-c8', '-d1s', '-s', $wl, $t->base . '/');
my $c0 = snapshot();
my ($rc, $out) = $t->run_cmd({}, 'timeout', 60, 'wrk', '-t1', '-c16', '-d3s', '-s', $wl,
                             $t->base . '/');
my $c1 = snapshot();
my ($wrps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
my ($wreq) = $out =~ /(\d+) requests in/;
my $wcpu = $wreq ? ($c1->{nginx} - $c0->{nginx}) / $wreq * 1e6 : 0;

my $cport = OtaTest::free_port();
system('redis-server', '--port', $cport, '--bind', '127.0.0.1', '--dir', $dir,
       '--daemonize', 'yes', '--save', '', '--appendonly', 'no',
       '--logfile', "$dir/redis-cal.log") == 0 or die "calibration redis\n";
for (1 .. 50) { last if `redis-cli -p $cport ping 2>/dev/null` =~ /PONG/; sleep 0.1 }
my $cal = `redis-benchmark -p $cport -P 32 -t set -n 1000000 --csv 2>/dev/null`;
my ($sets) = $cal =~ /"SET","([\d.]+)"/;
system("redis-cli -p $cport shutdown nosave >/dev/null 2>&1");

my ($cpu) = grep { /model name/ } split /\n/, OtaTest::read_file('/proc/cpuinfo');
$cpu =~ s/.*:\s*//;
printf "# %s; nginx %d worker process(es); %d devices, %d at once, %d B package in 1..%d "
     . "pieces, seed %d, %d rounds (medians)\n", $cpu // '?', $workers, $ndev, $conc, $size,
     $pieces, $seed, $rounds;
printf "calibration: nginx static %d B: %.0f req/s, %.1f us nginx CPU/req (wrk -t1 -c16); "
     . "redis-benchmark -P 32 -t set: %.0f SET/s\n", $size, $wrps // 0, $wcpu, $sets // 0;

# ---- the runs -----------------------------------------------------------------------

my @modes = ('static', 'full', 'floor', $bare ? ('bare', 'barefl') : ());
my %runs = map { $_ => [] } @modes;
for my $r (1 .. $rounds) {
    my $full = prepare("fr$r");
    my $floor = prepare("fl$r");
    $full->{static} = $static;
    $full->{sign} = $sign;
    push @{ $runs{static} }, measure('static', $full);
    push @{ $runs{full} }, measure('full', $full);
    push @{ $runs{floor} }, measure('floor', $floor);
    if ($bare) {
        push @{ $runs{bare} }, measure('bare', $full);
        push @{ $runs{barefl} }, measure('barefl', $full);
    }
    for my $mode (@modes) {
        my $x = $runs{$mode}[-1];
        printf "#   round %d %-6s %8.1f sessions/s  nginx %.3f (user %.3f)  redis %.3f "
             . "(%.1f reads)  worker %.3f  client %.3f ms/session\n", $r, $mode, $x->{sps},
             $x->{nginx}, $x->{nginx_user}, $x->{redis}, $x->{reads}, $x->{worker},
             $x->{client};
        printf "#   round %d %-6s event lag (oldest unread, every 20 ms): median %.0f, p95 %.0f, "
             . "max %.0f ms\n", $r, $mode, @{ $x->{lag} } if $x->{lag} && $mode ne 'static';
    }
}

sub median { my @s = sort { $a <=> $b } @_; return $s[int(@s / 2)] }
my %med;
for my $mode (keys %runs) {
    for my $k (qw(sps nginx redis worker client requests)) {
        $med{$mode}{$k} = median(map { $_->{$k} } @{ $runs{$mode} });
    }
    $med{$mode}{server} = median(map { $_->{nginx} + $_->{redis} + $_->{worker} }
                                 @{ $runs{$mode} });
    $med{$mode}{all} = median(map { $_->{nginx} + $_->{redis} + $_->{worker} + $_->{client} }
                              @{ $runs{$mode} });
}

printf "%-7s %11s %9s %9s %9s %9s %9s %9s %8s\n", 'mode', 'sessions/s', 'req/sess',
       'nginx ms', 'redis ms', 'worker ms', 'client ms', 'node ms', 'all ms';
for my $mode (@modes) {
    my $x = $med{$mode};
    printf "%-7s %11.1f %9.2f %9.3f %9.3f %9.3f %9.3f %9.3f %8.3f\n", $mode, $x->{sps},
           $x->{requests}, $x->{nginx}, $x->{redis}, $x->{worker}, $x->{client},
           $x->{server}, $x->{all};
}
my $ratio = $med{full}{server} / $med{static}{server};
my $sratio = $med{full}{sps} / $med{static}{sps};
my $over = $med{full}{server} - $med{static}{server};
printf "full/static: node CPU per session %.2fx (target <= %.1f), with the client %.2fx; "
     . "sessions/s %.2f (target >= 0.5)\n", $ratio, $target,
       $med{full}{all} / $med{static}{all}, $sratio;
printf "floor: %.3f ms node CPU per session (%.2fx static); full - static = %.3f ms, "
     . "%.2fx the floor\n", $med{floor}{server}, $med{floor}{server} / $med{static}{server},
       $over, $med{floor}{server} ? $over / $med{floor}{server} : 0;
if ($bare) {
    my $bs = $med{bare}{server};
    printf "bare (the five requests to plain locations around the same pieces, no module, "
         . "no Redis): %.3f ms node CPU per session, %.2fx static; full/bare %.2fx; "
         . "barefl %.3f ms (%.2fx static)\n", $bs, $bs / $med{static}{server},
           $med{full}{server} / $bs, $med{barefl}{server},
           $med{barefl}{server} / $med{static}{server};
}
# each round's own ratios: the spread between rounds of one build is as
# large as most levers (bench/README.md, "session 11")
if (@{ $runs{full} } > 1) {
    my $node = sub { my $x = $_[0]; $x->{nginx} + $x->{redis} + $x->{worker} };
    my $per = sub {
        my ($a, $b) = @_;
        join ' ', map { sprintf '%.2f', $node->($runs{$a}[$_]) / ($node->($runs{$b}[$_]) || 1) }
                  0 .. $#{ $runs{$a} };
    };
    print "per round: full/static ", $per->('full', 'static'),
          $bare ? "; full/bare " . $per->('full', 'bare') : '', "\n";
}

if ($ENV{BENCH_STATS}) {
    for my $mode (qw(full floor)) {
        my @c;
        for my $line (split /\r?\n/, $runs{$mode}[-1]{stats}) {
            push @c, [$1, $2, $3] if $line =~ /^cmdstat_(\w+):calls=(\d+),usec=(\d+)/;
        }
        print "# $mode, last round, Redis commands per session (calls, us; in scripts too):\n";
        printf "#   %-16s %6.2f %8.1f\n", $_->[0], $_->[1] / $ndev, $_->[2] / $ndev
            for grep { $_->[2] / $ndev >= 0.5 } sort { $b->[2] <=> $a->[2] } @c;
        my $by = $runs{$mode}[-1]{slow};
        print "# $mode, last round, SLOWLOG by script or command: per session calls, us; us per call\n";
        printf "#   %-22s %6.2f %8.1f %8.1f\n", $_, $by->{$_}[0] / $ndev, $by->{$_}[1] / $ndev,
               $by->{$_}[1] / $by->{$_}[0]
            for grep { $by->{$_}[1] / $ndev >= 0.5 } sort { $by->{$b}[1] <=> $by->{$a}[1] } keys %$by;
    }
}

if ($ENV{BENCH_NSTAT}) {               # counters that moved, per session, last round
    my @m = qw(static full floor);
    my %k = map { %{ $runs{$_}[-1]{nstat} } } @m;
    print "# TCP counters per session, last round: static full floor\n";
    for my $k (sort keys %k) {
        my @v = map { $runs{$_}[-1]{nstat}{$k} // 0 } @m;
        next unless grep { abs($_) >= 0.05 } @v;
        printf "#   %-30s %9.2f %9.2f %9.2f\n", $k, @v;
    }
}

$t->stop;
done_testing;
exit($ratio <= $target && $sratio >= 0.5 ? 0 : 1);
