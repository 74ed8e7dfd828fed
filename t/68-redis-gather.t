# ota_redis gather= (ngx_ota_redis.c): a worker process holds its Redis
# commands for the gather time and writes them together, so the requests of
# a fleet share Redis's reads.  20 device logins 10 ms apart: with
# gather=100ms their commands reach Redis in a few reads, with gather=0
# each login's commands in reads of their own; every login is answered
# either way, and a gather that is not a time of 0 to 100ms is refused
# (t/00-foundation.t).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Time::HiRes qw(sleep time);
use POSIX qw(_exit);

my $N = 20;

sub reads {
    my ($t) = @_;
    my ($n) = $t->redis('INFO', 'stats') =~ /total_reads_processed:(\d+)/;
    return $n;
}

# the logins, one child each, started 10 ms apart; returns (answered 200,
# Redis reads they caused)
sub logins {
    my ($t, $secret) = @_;
    my $before = reads($t);
    my $t0 = time;
    my @pids;
    for my $i (0 .. $N - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $wait = $t0 + $i * 0.01 - time;
            sleep $wait if $wait > 0;
            my $ts = int(time * 1000);
            my $r = $t->http(POST => '/ota/v1/auth', json => {
                product => 'pr', device => 'd1', timestamp => "$ts",
                sign => OtaTest::auth_sign($secret, 'd1', 'pr', $ts) });
            _exit($r->{status} == 200 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $ok = 0;
    for (@pids) { waitpid $_, 0; $ok++ if $? == 0 }
    # the INFO of after is a read of its own
    return ($ok, reads($t) - $before - 1);
}

my %seen;
for my $gather (qw(0 100ms)) {
    my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                         no_nginx => 1);
    $t->{ota_redis} = $t->redis_addr . " gather=$gather";
    $t->start_nginx;
    ok($t->wait_nginx_redis, "gather=$gather: nginx connected to Redis");
    my $secret = $t->fx_device('d1', 'pr');
    my ($ok, $reads) = logins($t, $secret);
    is($ok, $N, "gather=$gather: every login answered 200");
    $seen{$gather} = $reads;
    note("gather=$gather: $reads Redis reads for $N logins");
    unlike($t->error_log, qr/\[(alert|emerg|crit)\]/, "gather=$gather: no alert");
    $t->stop;
}

cmp_ok($seen{0}, '>=', $N, "gather=0: each login's commands in reads of their own ($seen{0})");
# (about 3: a write per 100 ms window, the logins' second commands in the
# next; half of N leaves room for a loaded machine that spreads them out)
cmp_ok($seen{'100ms'}, '<=', $N / 2,
       "gather=100ms: the logins' commands shared a few reads ($seen{'100ms'})");

done_testing;
