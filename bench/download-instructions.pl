#!/usr/bin/perl
# Instructions per download request in the nginx worker, counted by
# valgrind's callgrind: repeatable whatever else the machine runs (wall time
# and CPU time on a shared machine move by 10-20 %), so two builds can be
# compared exactly.  nginx runs as one process (master_process off) under
# callgrind, curl sends the requests in turn on one keep-alive connection;
# a run of 50 and one of 550 requests, and their difference / 500 is the
# cost of one request (start-up and exit cancel out).  Kernel work
# (sendfile, TCP) is not counted: this is the module's and nginx's own code.
#
# Cases: 64 KiB ranges of a 16 MiB package and the whole 1 MiB package, with
# a signed link (the ota path) and from location /static/ (plain nginx).
#
#   perl -I t/lib bench/download-instructions.pl
#   BENCH_BASE=DIR   also measure the module of another build (DIR/ngx_ota_module.so,
#                    e.g. an older commit built in a second checkout)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Test::More;
use OtaTest;
use OtaDownload;
use Time::HiRes qw(sleep);

system('which valgrind >/dev/null 2>&1') == 0 or die "valgrind is not installed\n";

my $t = OtaTest->new(nginx_workers => 1,
    http_extra => 'access_log off; open_file_cache max=64; open_file_cache_valid 60s;');
$t->make_package('b16m', files => [ 'fw.bin' => 16 << 20 ], no_redis => 1);
$t->make_package('b1m', files => [ 'fw.bin' => 1 << 20 ], no_redis => 1);
my $exp = time + 3600;
my @cases = (
    [ '64KiB ranges, ota',    $t->signed_link('b16m', 'bench-dev', $exp), 1 ],
    [ '64KiB ranges, static', '/static/b16m/fw.bin', 1 ],
    [ '1MiB whole, ota',      $t->signed_link('b1m', 'bench-dev', $exp), 0 ],
    [ '1MiB whole, static',   '/static/b1m/fw.bin', 0 ],
);
$t->stop_nginx;

my $d = $t->dir . '/nginx';
my $conf = OtaTest::read_file("$d/nginx.conf");
my @builds = ([ 'this', $OtaTest::BUILD ]);
unshift @builds, [ 'base', $ENV{BENCH_BASE} ] if $ENV{BENCH_BASE};

sub total_ir {
    my ($f) = @_;
    for (split /\n/, OtaTest::read_file($f)) {
        return $1 if /^(?:summary|totals):\s+(\d+)/;
    }
    die "no total in $f\n";
}

sub run {
    my ($build, $path, $range, $n) = @_;
    (my $c = $conf) =~ s{load_module \S+;}{load_module $build/ngx_ota_module.so;};
    OtaTest::write_file("$d/cg.conf", $c);
    my $out = "$d/callgrind.out";
    unlink $out;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$d/valgrind.log";
        exec 'valgrind', '--tool=callgrind', "--callgrind-out-file=$out",
             $OtaTest::NGINX, '-p', "$d/", '-c', "$d/cg.conf",
             '-g', 'daemon off; master_process off;';
        exit 127;
    }
    OtaTest::wait_port($t->port, 60) or die "nginx under valgrind does not listen\n";
    sleep 1;
    my @args;
    for my $i (1 .. $n) {
        my $s = (($i * 7919) % 256) * 65536;
        push @args, '-o', '/dev/null',
             ($range ? ('-H', "Range: bytes=$s-" . ($s + 65535)) : ()), $t->base . $path;
    }
    my $ok = system('curl', '-s', '--fail', @args) == 0;
    kill 'QUIT', $pid;
    waitpid $pid, 0;
    die "a request failed\n" unless $ok;
    return total_ir($out);
}

printf "%-22s %s\n", 'case', join ' ', map { sprintf '%22s', "$_->[0] instr/req" } @builds;
for my $c (@cases) {
    my ($name, $path, $range) = @$c;
    my @v = map { (run($_->[1], $path, $range, 550) - run($_->[1], $path, $range, 50)) / 500 } @builds;
    printf "%-22s %s%s\n", $name, join(' ', map { sprintf '%22.0f', $_ } @v),
           @v == 2 ? sprintf('   this/base %.4f', $v[1] / $v[0]) : '';
}
$t->stop;
done_testing;
