# ota_redis gather= (ngx_ota_redis.c): a busy worker process holds its
# Redis commands up to the gather time and writes them together, so the
# requests of a fleet share Redis's reads; the hold follows the process's
# rate of commands, so a process that is nearly idle writes at once.
#
# - busy: 20 devices log in 8 times each, as fast as they are answered;
#   with gather=100ms their commands reach Redis in far fewer reads than
#   with gather=0 (each event loop iteration's commands in reads of their
#   own), and every login is answered either way;
# - idle: one login after a quiet spell, gather=100ms: both of its
#   commands are written at once (the debug log says so), none is held.
# A gather that is not a time of 0 to 100ms is refused (t/00-foundation.t).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Time::HiRes qw(sleep time);
use POSIX qw(_exit);

my $DEVICES = 20;
my $LOGINS = 8;

sub reads {
    my ($t) = @_;
    my ($n) = $t->redis('INFO', 'stats') =~ /total_reads_processed:(\d+)/;
    return $n;
}

sub login {
    my ($t, $dev, $secret, $ts) = @_;
    my $r = $t->http(POST => '/ota/v1/auth', json => {
        product => 'pr', device => $dev, timestamp => "$ts",
        sign => OtaTest::auth_sign($secret, $dev, 'pr', $ts) });
    return $r->{status};
}

# every device logs in LOGINS times in a row, all devices at once; returns
# (logins answered 200, Redis reads they caused)
sub logins {
    my ($t, $secrets) = @_;
    my $before = reads($t);
    my $t0 = time + 0.2;
    my @pids;
    for my $d (1 .. $DEVICES) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $wait = $t0 - time;
            sleep $wait if $wait > 0;
            my ($ok, $last) = (0, 0);
            for (1 .. $LOGINS) {
                my $ts = int(time * 1000);
                $ts = $last + 1 if $ts <= $last;     # each a fresh nonce
                $last = $ts;
                $ok++ if login($t, "d$d", $secrets->{"d$d"}, $ts) == 200;
            }
            _exit($ok == $LOGINS ? 0 : 1);
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
    my %secrets = map { ("d$_" => $t->fx_device("d$_", 'pr')) } 1 .. $DEVICES;
    my ($ok, $reads) = logins($t, \%secrets);
    is($ok, $DEVICES, "gather=$gather: every device's $LOGINS logins answered 200");
    $seen{$gather} = $reads;
    note("gather=$gather: $reads Redis reads for " . $DEVICES * $LOGINS . " logins");

    if ($gather ne '0') {
        like($t->error_log, qr/commands gathered for [1-9]\d*ms/,
             "gather=$gather: the busy process held its commands");

        # idle: a quiet spell of more than four gather times, then one login
        sleep 0.5;
        my $log = length $t->error_log;
        is(login($t, 'd1', $secrets{d1}, int(time * 1000) + 1000), 200,
           'idle: a lone login answered 200');
        my $new = substr($t->error_log, $log);
        my $at_once = () = $new =~ /commands written at once/g;
        cmp_ok($at_once, '>=', 2, "idle: its two commands written at once ($at_once)");
        unlike($new, qr/commands gathered for/, 'idle: none of them held');
    }
    unlike($t->error_log, qr/\[(alert|emerg|crit)\]/, "gather=$gather: no alert");
    $t->stop;
}

# (about a tenth measured: the busy process's holds grow to tens of ms; a
# third leaves room for a loaded machine that spreads the logins out)
cmp_ok($seen{'100ms'}, '<=', $seen{0} / 3,
       "gather=100ms: the logins' commands shared reads ($seen{'100ms'} against "
       . "$seen{0} with gather=0)");

done_testing;
