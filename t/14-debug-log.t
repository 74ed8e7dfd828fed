# nginx at `error_log ... debug` (what an operator turns on to troubleshoot):
# nginx's debug lines read the connection behind ev->data of every timer,
# so each event the module owns (the progress tick, the Redis reconnect
# timer, the per-call answer timers) must carry a connection there.
# Downloads, the API and a Redis outage with its reconnects, all at debug
# level, without a worker process ever dying.  (make test-debug runs the
# whole suite at debug level as well.)

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new(nginx_workers => 2, log_level => 'debug');
my $size = 200_000;
my $pkg = $t->make_package('pk', files => [ 'fw.bin' => $size ]);

sub worker_pids {
    my $master = $t->nginx_pid;
    my @p;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $st = OtaTest::read_file($stat);
        my @f = split ' ', ($st =~ /\)\s(.*)/s)[0] // next;
        push @p, ($stat =~ m{/proc/(\d+)/})[0] if $f[1] == $master;
    }
    return join ',', sort @p;
}

my $pids = worker_pids();
like($pids, qr/^\d+,\d+$/, "two worker processes ($pids)");
like($t->error_log, qr/\[debug\]/, 'the debug log is on');

# downloads: the progress tick and the merge calls' timers
for my $i (1 .. 5) {
    my $r = $t->http(GET => $t->signed_link('pk', "d$i"));
    is($r->{status}, 200, "download $i at debug level");
}
my $r = $t->http(GET => $t->signed_link('pk', 'd1'), headers => { Range => 'bytes=0-99' });
is($r->{status}, 206, 'a range at debug level');
# a piece of a new device: not the whole package, merged by the script
$r = $t->http(GET => $t->signed_link('pk', 'd6'), headers => { Range => 'bytes=0-99' });
is($r->{status}, 206, 'a first piece at debug level');
ok($t->wait_for(sub { (($t->coverage('d6', 'pk'))[1] // 0) == 100 }, 5),
   'its progress reached Redis');
ok($t->wait_for(sub { (($t->coverage('d5', 'pk'))[1] // 0) == $size }, 5),
   'the progress reached Redis');
sleep 1.2;                                     # a tick fires, then rests
is(worker_pids(), $pids, 'no worker process died');

# the story of a request, as nginx's own modules tell it: each milestone of
# the module has its debug line (auth decision, manifest, range, progress
# flush, Redis call and reply)
my $secret = $t->fx_device('dbg-1', 'pdbg');
my $token = $t->device_token('dbg-1', 'pdbg', $secret);
ok($token, 'a device authenticates at debug level');
$r = $t->http(GET => '/ota/v1/upgrade?module=default', headers => { Authorization => "Bearer $token" });
is($r->{status}, 204, '  and asks for an upgrade');
my $log = $t->error_log;
for my $line (
    [ qr/ota download: package "pk" file ""/, 'the download and its package' ],
    [ qr/ota download: signed link of device "d1" accepted/, 'the signed link decision' ],
    [ qr/ota manifest: "pk" (read from the store|from the cache)/, 'the manifest' ],
    [ qr/ota download: file "[^"]+" fd:\d+ size:$size at 0, range "bytes=0-99"/, 'the file and the range' ],
    [ qr/ota progress: flush of device "d\d" package "pk": \d+ ranges, merge script/, 'a progress flush' ],
    [ qr/ota progress: flush of device "d\d" package "pk": \d+ ranges, the whole package without the script/,
      'a whole download written without the script' ],
    [ qr/ota progress: merged for device "d\d" package "pk": \d+ of the package's bytes covered/, 'its merge' ],
    [ qr/ota progress: download event of device "d\d" package "pk"/, 'its event' ],
    [ qr/ota redis: call \S+ sends EVALSHA \(\d+ bytes\)/, 'a Redis call' ],
    [ qr/ota redis: call \S+ reply 0: array of 3/, 'its reply' ],
    [ qr/ota device api: "auth"/, 'the device API dispatch' ],
    [ qr/ota: request body read flat, 4 members of \d+ bytes/, 'the auth body read without a tree' ],
    [ qr/ota auth: device "dbg-1" of product "pdbg" accepted/, 'the auth decision' ],
    [ qr/ota bearer: token of device "dbg-1", product "pdbg" accepted/, 'the bearer decision' ],
) {
    like($log, $line->[0], "debug: $line->[1]");
}

# Redis away: the reconnect timer fires again and again at debug level
$t->stop_redis;
my $t0 = time;
my ($ok, $n) = (0, 0);
while (time - $t0 < 2.5) {
    $r = $t->http(GET => $t->signed_link('pk', 'd-off'), headers => { Range => "bytes=$n-" . ($n + 99) });
    $ok++ if $r->{status} == 206;
    $n += 100;
    sleep 0.1;
}
ok($ok >= 15 && $ok == $n / 100, "signed links keep working while Redis is down ($ok of " . $n / 100 . ")");
is(worker_pids(), $pids, 'no worker process died while reconnecting');
my $crashes = () = $t->error_log =~ /exited on signal/g;
is($crashes, 0, 'no "exited on signal" in the log');
$t->start_redis;
ok($t->wait_for(sub { (($t->coverage('d-off', 'pk'))[1] // 0) == $n }, 10),
   'the progress kept while Redis was down is written when it returns');
is(worker_pids(), $pids, 'still the same worker processes');

$t->stop;
done_testing;
