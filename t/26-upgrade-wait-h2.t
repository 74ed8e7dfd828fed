# The long poll over HTTP/2 (curl --http2-prior-knowledge, several
# waiting streams on one connection): a reload or a stop answers them
# with 204 at once, as for HTTP/1 (t/26-upgrade-wait.t).  An HTTP/2
# connection with streams in progress is not idle, so nginx does not call
# it at shutdown: the module watches for the exit itself.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaWait;
use OtaDownload;
use Time::HiRes qw(time sleep);

my $h2 = OtaTest::free_port();
my $t = OtaTest->new(http_extra => <<"EXTRA");
ota_upgrade_wait_max 60s;
server {
    listen 127.0.0.1:$h2 http2;
    location /ota/v1/ { ota_device_api; }
}
EXTRA
ok($t->wait_nginx_redis, 'nginx connected to Redis');
$t->fx_device('h1', 'ph');
my $tok = OtaWait::token($t->{secret}, 'h1', 'ph', int(time) + 3600);

sub waiting {
    $t->metric('ota_upgrade_waits_total') - $t->metric('ota_upgrade_waits_ended_total');
}

# three streams on one HTTP/2 connection, each waiting 30 s; curl prints
# each stream's status and protocol version
sub start_curl {
    my ($out) = @_;
    my $url = "http://127.0.0.1:$h2/ota/v1/upgrade?module=default&wait=30";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $out or die;
        open STDERR, '>', "$out.err" or die;
        exec 'curl', '-s', '--http2-prior-knowledge', '-Z', '--parallel-immediate',
             '-H', "Authorization: Bearer $tok",
             '-w', '%{http_code} %{http_version}\n', '-o', '/dev/null', $url,
             '-o', '/dev/null', $url, '-o', '/dev/null', $url;
        exit 127;
    }
    return $pid;
}
sub reaped {
    my ($pid) = @_;
    return waitpid($pid, POSIX::WNOHANG()) == $pid;
}
use POSIX ();

for my $how (qw(reload stop)) {
    my $out = $t->dir . "/curl-$how.txt";
    my $pid = start_curl($out);
    ok($t->wait_for(sub { waiting() == 3 }, 10), "$how: three HTTP/2 streams wait")
        or diag("waiting ", waiting(), "; curl: ", eval { OtaTest::read_file($out) } // "", eval { OtaTest::read_file("$out.err") } // "");
    my @old = $t->nginx_workers;
    my $t0 = time;
    if ($how eq 'reload') {
        $t->reload_nginx;
    } else {
        kill 'QUIT', $t->nginx_pid;             # nginx -s quit: graceful
    }
    my $done = $t->wait_for(sub { reaped($pid) }, 10);
    ok($done, "$how: curl got its answers");
    ok(time - $t0 < 3, "$how: within moments, not at the end of the wait (30 s)")
        or diag(sprintf '%.1f s', time - $t0);
    my @lines = split /\n/, OtaTest::read_file($out);
    is_deeply(\@lines, ['204 2', '204 2', '204 2'], "$how: 204 on each HTTP/2 stream")
        or diag(OtaTest::read_file("$out.err"));
    ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 3), "$how: the old worker processes exit");
    kill 'KILL', $pid unless $done;
    if ($how eq 'reload') {
        ok($t->wait_nginx_redis, 'the new worker processes connect');
        ok($t->wait_for(sub {
               (() = $t->redis('CLIENT', 'LIST') =~ /name=ota-nginx-wait-\d+/g) == 2 }, 10),
           '  and subscribe');
    }
}
$t->{nginx_up} = 0;
$t->stop;
done_testing;
