#!/usr/bin/perl
# Download benchmark (issue 3): wrk against GET /ota/v1/packages/<id> with a
# signed link (auth, manifest cache, progress filter, coverage writes to
# Redis) and against plain nginx static serving of the same files
# (location /static/ { alias <store>/; }) in the same nginx, same run.
#
#   whole 1 MiB files (8 packages, random pick per request)
#   64 KiB ranges of a 16 MiB file (random aligned range per request)
#   whole 1 MiB files, a new device per request: every response is new
#   coverage (merge and event in Redis, the delivered-bytes check of the
#   socket, the tail watched after the request); reported, no target
#
# Runs alternate static/ota BENCH_ROUNDS times per case and compare the
# medians.  Only 127.0.0.1; bounded: rounds x cases x 2 x BENCH_SECS.
#
#   perl -I t/lib bench/download.pl     (or: make bench)
#   BENCH_SECS=5 BENCH_ROUNDS=3 BENCH_CONNS=16 BENCH_THREADS=1

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Test::More;                 # the harness reports through it
use OtaTest;
use OtaDownload;

my $secs    = $ENV{BENCH_SECS}    // 5;
my $rounds  = $ENV{BENCH_ROUNDS}  // 3;
my $conns   = $ENV{BENCH_CONNS}   // 16;
my $threads = $ENV{BENCH_THREADS} // 1;

system('which wrk >/dev/null 2>&1') == 0 or die "wrk is not installed\n";

# one worker process: wrk gets the other CPU of a small machine
my $t = OtaTest->new(nginx_workers => $ENV{BENCH_WORKERS} // 1,
                     http_extra => 'access_log off; open_file_cache max=64;'
                                   . ' open_file_cache_valid 60s;');
my $dir = $t->dir;

my @small = map { "b1m-$_" } 1 .. 8;
$t->make_package($_, files => [ 'fw.bin' => 1 << 20 ], no_redis => 1) for @small;
$t->make_package('b16m', files => [ 'fw.bin' => 16 << 20 ], no_redis => 1);

my $exp = time + 3600;

# a wrk script asking for the paths at random, or in turn ($seq)
sub lua_paths {
    my ($name, @paths) = @_;
    my $seq = ref $paths[0] ? ${ shift @paths } : 0;
    my $f = "$dir/$name.lua";
    OtaTest::write_file($f, "local paths = {" . join(',', map { "\"$_\"" } @paths) . "}\n"
        . "math.randomseed(7)\nlocal i = 0\n"
        . "request = function()\n"
        . ($seq ? "  i = i % #paths + 1\n" : "  i = math.random(#paths)\n")
        . "  return wrk.format(nil, paths[i])\n"
        . "end\n");
    return $f;
}

sub lua_ranges {
    my ($name, $path) = @_;
    my $f = "$dir/$name.lua";
    OtaTest::write_file($f, "math.randomseed(7)\n"
        . "request = function()\n"
        . "  local s = math.random(0, 255) * 65536\n"
        . "  return wrk.format(nil, \"$path\", { Range = \"bytes=\" .. s .. \"-\" .. (s + 65535) })\n"
        . "end\n");
    return $f;
}

# a device per request (wrk wraps around after BENCH_FRESH_DEVICES)
my $nfresh = $ENV{BENCH_FRESH_DEVICES} // 40000;
my @fresh = map { $t->signed_link($small[$_ % @small], "fresh-$_", $exp) } 0 .. $nfresh - 1;
my %case = (
    '1MiB whole' => {
        static => lua_paths('s1', map { "/static/$_/fw.bin" } @small),
        ota    => lua_paths('o1', map { $t->signed_link($_, 'bench-dev', $exp) } @small),
        target => 0.95,
    },
    '64KiB ranges of 16MiB' => {
        static => lua_ranges('s2', '/static/b16m/fw.bin'),
        ota    => lua_ranges('o2', $t->signed_link('b16m', 'bench-dev', $exp)),
        target => 0.90,
    },
    '1MiB, new device each' => {
        static => lua_paths('s3', map { "/static/$_/fw.bin" } @small),
        ota    => lua_paths('o3', \1, @fresh),
        target => undef,
    },
);

# CPU seconds (user + system) the nginx worker processes used so far: the
# per-request cost does not depend on what else the machine is doing
sub nginx_cpu {
    my $master = $t->nginx_pid;
    my $sum = 0;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $st = OtaTest::read_file($stat);
        my @f = split ' ', ($st =~ /\)\s(.*)/s)[0] // next;
        next unless $f[1] == $master;          # ppid
        $sum += ($f[11] + $f[12]);             # utime, stime
    }
    return $sum / 100;                         # USER_HZ
}

sub wrk_run {
    my ($script) = @_;
    my $cpu0 = nginx_cpu();
    my ($rc, $out, $err) = $t->run_cmd({}, 'timeout', $secs + 30, 'wrk',
        "-t$threads", "-c$conns", "-d${secs}s", '-s', $script, $t->base . '/');
    die "wrk failed: $err$out\n" if $rc;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($tr, $unit) = $out =~ /Transfer\/sec:\s+([\d.]+)(\w+)/;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk: $non2xx non-2xx responses\n$out" if $non2xx;
    my ($reqs) = $out =~ /(\d+) requests in/;
    my %mul = (B => 1 / 1048576, KB => 1 / 1024, MB => 1, GB => 1024);
    return ($rps, $tr * ($mul{$unit} // 1), (nginx_cpu() - $cpu0) / $reqs * 1e6);
}

sub median { my @s = sort { $a <=> $b } @_; return $s[int(@s / 2)] }

# warm up: manifests cached, page cache hot, coverage keys exist (not
# for the fresh devices: their coverage must be new)
for my $c (values %case) { $t->run_cmd({}, 'wrk', '-t1', '-c4', '-d1s', '-s', $_, $t->base . '/')
                              for $c->{static}, ($c->{target} ? $c->{ota} : ()) }

my ($cpu) = grep { /model name/ } split /\n/, OtaTest::read_file('/proc/cpuinfo');
$cpu =~ s/.*:\s*//;
printf "# %s, %d CPUs, nginx %d worker, wrk -t%d -c%d -d%ds, %d rounds, medians\n",
       $cpu // '?', scalar(grep { /^processor/ } split /\n/, OtaTest::read_file('/proc/cpuinfo')),
       $ENV{BENCH_WORKERS} // 1, $threads, $conns, $secs, $rounds;
printf "%-22s %11s %11s %9s %9s %9s %9s %7s %7s\n", 'case', 'static r/s',
       'ota r/s', 'stat MiB/s', 'ota MiB/s', 'stat us/r', 'ota us/r', 'ratio', 'target';

my $fail = 0;
my @names = ('1MiB whole', '64KiB ranges of 16MiB', '1MiB, new device each');
@names = grep { my $n = $_; grep { index($n, $_) == 0 } split /,/, $ENV{BENCH_CASES} } @names
    if $ENV{BENCH_CASES};
for my $name (@names) {
    my $c = $case{$name};
    my (@s, @o, @sm, @om, @sc, @oc);
    for (1 .. $rounds) {
        my ($r, $m, $u) = wrk_run($c->{static}); push @s, $r; push @sm, $m; push @sc, $u;
        ($r, $m, $u) = wrk_run($c->{ota});       push @o, $r; push @om, $m; push @oc, $u;
    }
    my $ratio = median(@o) / median(@s);
    my $below = defined $c->{target} && $ratio < $c->{target};
    $fail++ if $below;
    printf "%-22s %11.0f %11.0f %9.1f %9.1f %9.1f %9.1f %7.3f %7s%s\n", $name,
           median(@s), median(@o), median(@sm), median(@om), median(@sc),
           median(@oc), $ratio,
           defined $c->{target} ? sprintf('%.2f', $c->{target}) : '-',
           $below ? '  BELOW TARGET' : '';
    printf "#   rounds static r/s: %s\n#   rounds ota r/s:    %s\n",
           join(' ', map { int } @s), join(' ', map { int } @o);
}

my ($cov, $n) = $t->coverage('bench-dev', 'b16m');
printf "# coverage of the 16 MiB package after the run: %s (%s bytes)\n", $cov, $n // 0;
my $info = $t->redis(INFO => 'commandstats');
my ($ev) = $info =~ /cmdstat_evalsha:calls=(\d+)/;
printf "# coverage merge calls in Redis for the whole run: %d\n", $ev // 0;

$t->stop;
done_testing;
exit($fail ? 1 : 0);
