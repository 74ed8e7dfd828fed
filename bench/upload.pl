#!/usr/bin/perl
# Upload benchmark (issue 19), in one run on one nginx:
#
#  1. throughput: the same multipart body (one file of BENCH_UPLOAD_MB,
#     random bytes) sent with curl --data-binary to POST /ota/admin/packages
#     (parsed, written to the store, digested, synced, registered) and to a
#     plain nginx location that writes the body to disk (dav PUT: nginx's
#     client body temporary file, then a rename); medians of BENCH_ROUNDS,
#     alternated, ratio printed;
#  2. download latency: wrk (BENCH_WRK_CONNS connections) downloading a
#     small package for BENCH_WRK_SECS without an upload, then the same
#     while 1 GB uploads run back to back; p50 / p99 of each, ratio printed.
#
# No target is asserted: the figures go to bench/README.md.

use strict;
use warnings;
use lib 't/lib';
use OtaTest;
use Digest::SHA;
use JSON::PP qw(decode_json);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $MB     = $ENV{BENCH_UPLOAD_MB} // 1024;
my $ROUNDS = $ENV{BENCH_ROUNDS} // 3;
my $SECS   = $ENV{BENCH_WRK_SECS} // 10;
my $CONNS  = $ENV{BENCH_WRK_CONNS} // 8;
my $LAT_MB = $ENV{BENCH_LATENCY_UPLOAD_MB} // 1024;

system('which wrk >/dev/null 2>&1') == 0 or die "wrk is not installed\n";

my $dav;
my $t = OtaTest->new(
    nginx_workers => 1,
    admin_extra => 'client_body_buffer_size 1m;',
    server_extra => 'location /plain/ { root DAVROOT; dav_methods PUT; '
                  . 'create_full_put_path on; client_max_body_size 0; '
                  . 'client_body_buffer_size 1m; client_body_temp_path DAVROOT/tmp; }',
    no_nginx => 1);
$dav = $t->dir . '/dav';
mkdir $dav; mkdir "$dav/tmp"; mkdir "$dav/plain";
$t->{server_extra} =~ s/DAVROOT/$dav/g;
$t->start_nginx;
$t->wait_nginx_redis or die "nginx: no Redis\n";
if ($> == 0) {
    my (undef, undef, $uid, $gid) = getpwnam('nobody');
    chown $uid, $gid, $t->store, $dav, "$dav/tmp", "$dav/plain";
}
my $A = "Authorization: Bearer $OtaTest::ADMIN_TOKEN";
my $D = $t->dir;

my $r = $t->http(PUT => '/ota/admin/config', headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" },
                 json => { 'package.max_size' => '4GB' });
die "config: $r->{content}\n" unless $r->{status} == 200;
$t->fx_module('bench', 'fw');
$t->fx_device('dev-1', 'bench');

# the body: fields, then one file of random bytes, in one file on disk
sub make_body {
    my ($path, $mb, $version) = @_;
    my $bnd = 'BenchBoundary7e3f';
    open my $fh, '>', $path or die "$path: $!\n";
    binmode $fh;
    for my $f (['product', 'bench'], ['module', 'fw'], ['name', 'fw'],
               ['version', $version]) {
        print $fh "--$bnd\r\nContent-Disposition: form-data; name=\"$f->[0]\"\r\n\r\n$f->[1]\r\n";
    }
    print $fh "--$bnd\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fw.bin\"\r\n"
            . "Content-Type: application/octet-stream\r\n\r\n";
    close $fh;
    system("head -c ${mb}M /dev/urandom >> '$path'") == 0 or die "urandom\n";
    open $fh, '>>', $path or die; binmode $fh;
    print $fh "\r\n--$bnd--\r\n";
    close $fh;
    return "multipart/form-data; boundary=$bnd";
}

# curl --data-binary: seconds and status
sub send_body {
    my ($method, $url, $body, $ct, @h) = @_;
    my $t0 = time;
    my ($rc, $out, $err) = $t->run_cmd({}, 'curl', '-sS', '-o', "$D/send.out",
        '-w', '%{http_code}', '-X', $method, '-H', "Content-Type: $ct",
        '-H', 'Expect:', (map { ('-H', $_) } @h), '--data-binary', "\@$body", $url);
    my $dt = time - $t0;
    die "curl $url: $err\n" if $rc;
    return ($dt, $out);
}

sub median { my @s = sort { $a <=> $b } @_; return $s[int(@s / 2)] }

my $n_ver = 0;
sub upload_once {
    my ($mb) = @_;
    my $v = sprintf '1.0.%d', ++$n_ver;
    my $ct = make_body("$D/body", $mb, $v);
    my ($dt, $st) = send_body('POST', $t->base . '/ota/admin/packages', "$D/body", $ct, $A);
    die "upload: $st " . OtaTest::read_file("$D/send.out") . "\n" unless $st == 201;
    my $id = decode_json(OtaTest::read_file("$D/send.out"))->{id};
    return ($dt, $id, $ct);
}

# ---- 1. throughput -------------------------------------------------------------
printf "# %s, %d CPUs, nginx 1 worker, a %d MB file (random bytes), %d rounds, medians\n",
    scalar(gmtime), `nproc` + 0, $MB, $ROUNDS;
my (@ota, @plain);
for my $round (1 .. $ROUNDS) {
    my ($dt, $id, $ct) = upload_once($MB);
    push @ota, (-s "$D/body") / $dt / 1048576;
    # remove the package so the disk holds one copy at a time
    system('rm', '-rf', $t->store . "/$id");
    my ($dt2, $st) = send_body('PUT', $t->base . "/plain/up$round.bin", "$D/body", $ct);
    die "plain PUT: $st\n" unless $st == 201 || $st == 204;
    push @plain, (-s "$D/body") / $dt2 / 1048576;
    unlink "$dav/plain/up$round.bin";
}
my ($o, $p) = (median(@ota), median(@plain));
printf "upload POST packages     %7.1f MB/s  (%s)\n", $o, join(' ', map { sprintf '%.0f', $_ } @ota);
printf "plain nginx dav PUT      %7.1f MB/s  (%s)\n", $p, join(' ', map { sprintf '%.0f', $_ } @plain);
printf "ratio upload / plain     %7.2f\n", $o / $p;

# ---- 2. download latency during a 1 GB upload ------------------------------------
my $small = "$D/small.bin";
system("head -c 262144 /dev/urandom > '$small'") == 0 or die;
$t->fx_package(id => 'bench-small', product => 'bench', module => 'fw', version => '0.0.1',
               files => [['small.bin', OtaTest::read_file($small)]]);
my $path = $t->signed_link('bench-small', 'dev-1', time + 3600);
OtaTest::write_file("$D/get.lua", "request = function() return wrk.format(nil, \"$path\") end\n");

sub wrk_lat {
    my ($rc, $out, $err) = $t->run_cmd({}, 'timeout', $SECS + 30, 'wrk', '-t2', "-c$CONNS",
        "-d${SECS}s", '--latency', '-s', "$D/get.lua", $t->base . '/');
    die "wrk: $err$out\n" if $rc;
    my ($non) = $out =~ /Non-2xx or 3xx responses: (\d+)/;
    die "wrk: $non non-2xx\n$out" if $non;
    my %l;
    for my $q (50, 99) {
        my ($v, $u) = $out =~ /^\s+$q(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$/m;
        die "wrk: no p$q\n$out" unless defined $v;
        $l{$q} = $v * ({ us => 0.001, ms => 1, s => 1000 }->{$u});
    }
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    return ($l{50}, $l{99}, $rps);
}

# the upload body once, sent again and again
make_body("$D/lat-body", $LAT_MB, '9.9.9');
wrk_lat();                                       # warm up
my @quiet = wrk_lat();
my $pid = fork // die;
if (!$pid) {
    my $n = 0;
    while (!-e "$D/lat.stop") {
        # the first is stored, the next ones are refused (409) once their
        # whole body is parsed, written, digested and synced: the same load
        system('curl', '-sS', '-o', '/dev/null', '-H', $A, '-H', 'Expect:',
               '-H', 'Content-Type: multipart/form-data; boundary=BenchBoundary7e3f',
               '--data-binary', "\@$D/lat-body", $t->base . '/ota/admin/packages');
        $n++;
    }
    OtaTest::write_file("$D/lat.n", $n);
    POSIX::_exit(0);
}
sleep 1;                                          # the upload under way
my @busy = wrk_lat();
OtaTest::write_file("$D/lat.stop", 1);
waitpid($pid, 0);
printf "download p50/p99 without upload   %6.2f / %6.2f ms  (%.0f req/s, %d conns, 256 KB)\n",
    @quiet, $CONNS;
printf "download p50/p99 during uploads   %6.2f / %6.2f ms  (%.0f req/s; %s uploads of %d MB meanwhile)\n",
    @busy, OtaTest::read_file("$D/lat.n") // '?', $LAT_MB;
printf "ratio p99 during / without        %6.2f\n", $busy[1] / $quiet[1];
$t->stop;
