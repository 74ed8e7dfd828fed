# ota_redis timeout=: a call whose reply does not come in time fails (503)
# and the connection is reset, however many calls before it were answered.
# The calls' deadlines share one process timer (ngx_ota_redis.c): it is set
# for the oldest call waiting and, when it fires for a call answered since,
# is set again for the next one's own deadline, not given up and not taken
# as that call's.  Real nginx (one worker process) and Redis; CLIENT PAUSE
# holds Redis's answers.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaWait;
use Time::HiRes qw(time sleep);

my $rport = OtaTest::free_port();
my $t = OtaTest->new(nginx_workers => 1, redis_port => $rport,
                     ota_redis => "127.0.0.1:$rport timeout=600ms");
ok($t->wait_nginx_redis, 'nginx is connected to Redis');
$t->fx_device('d1', 'px');
my $tok = OtaWait::token($t->{secret}, 'd1', 'px', int(time) + 3600);

sub upgrade {
    return $t->http(GET => '/ota/v1/upgrade', timeout => 10,
                    headers => { Authorization => "Bearer $tok" });
}

my ($r, $t0, $dt);

# ---- answered in time: nothing times out ---------------------------------------

for (1 .. 5) {
    $r = upgrade();
    is($r->{status}, 204, 'no offer: 204');
    sleep 0.2;
}
unlike($t->error_log, qr/no answer in/, 'calls answered in time never time out');

# ---- a call behind an answered one --------------------------------------------

# the first call sets the timer for its deadline, 600 ms on, and is answered
# (after a quiet second: the timer fired since and was not set again)
sleep 1;
$r = upgrade();
is($r->{status}, 204, 'the first call is answered');
sleep 0.35;

# the second is sent 350 ms later and never answered: it fails at its own
# deadline (600 ms after it was sent), not at the first call's (250 ms
# after) and not never
$t->redis('CLIENT', 'PAUSE', 3000);
$t0 = time;
$r = upgrade();
$dt = time - $t0;
is($r->{status}, 503, 'a call Redis does not answer fails: 503');
cmp_ok($dt, '>=', 0.55, "at its own deadline ($dt s), not the answered call's");
cmp_ok($dt, '<', 1.8, 'not after Redis answers again');
like($t->error_log, qr/no answer in 600 ms, resetting connection/,
     'the connection is reset');

# ---- and after: the connection comes back ---------------------------------------

ok($t->wait_for(sub { upgrade()->{status} == 204 }, 10),
   'once Redis answers, calls are answered again');

$t->stop;
done_testing;
