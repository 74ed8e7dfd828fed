#!/usr/bin/perl
# The worker's event scripts in a fleet's mix, without nginx (issue 22,
# bench/README.md "The worker's scripts per event"): BENCH_DEVICES (4000)
# devices of one upgrade batch each send what a bench/fleet.sh session
# sends (inform 1.0.0, notified, download of a first piece, download of
# the whole, progress 100, inform 2.0.0; BENCH_ONE_PIECE percent of the
# sessions without the first piece), sessions starting 1 ms apart and
# their events spread over 0.2 s as 200 concurrent sessions spread them,
# queued in that order before one ota-worker reads them BENCH_COUNT (115)
# at a time.  Prints Redis's CPU per session and per event and the SLOWLOG
# sums of lookup.lua and apply.lua per session; checks every task ended
# succeeded with covered == size.
#
#   perl -I t/lib bench/events.pl      (OTA_BUILD=DIR: another build)
#   BENCH_ROUNDS=3 (a fresh batch each), BENCH_STATS=0: no SLOWLOG;
#   BENCH_SLOW_US=20: its threshold (the scripts take hundreds of us a
#   call, the commands inside them about one: logging each of those adds
#   more than they cost); BENCH_PERF=FILE: perf record of redis-server;
#   BENCH_CALLGRIND=1 with redis-server run by callgrind --instr-atstart=no:
#   instrumentation on while the worker drains

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use OtaTest;

my $ndev   = $ENV{BENCH_DEVICES}   // 4000;
my $count  = $ENV{BENCH_COUNT}     // 115;
my $rounds = $ENV{BENCH_ROUNDS}    // 3;
my $stats  = $ENV{BENCH_STATS}     // 1;
my $one    = $ENV{BENCH_ONE_PIECE} // 12;
my $size   = 1 << 20;

my $t = OtaTest->new(no_nginx => 1);
my $dir = $t->dir;
my $resp = sub { my $s = '*' . @_ . "\r\n"; $s .= '$' . length($_) . "\r\n$_\r\n" for @_; $s };
my $port = $t->{redis_port};
sub pipe_in {
    my ($cmds) = @_;
    my $f = "$dir/pipe.redis";
    OtaTest::write_file($f, $cmds);
    system("redis-cli -p $port --pipe < $f > /dev/null") == 0 or die "redis-cli --pipe\n";
}
sub rcpu {
    my $i = $t->redis(INFO => 'cpu');
    my $s = 0;
    $s += $1 while $i =~ /^used_cpu_(?:user|sys):([\d.]+)/mg;
    return $s;
}

my $content = join '', map { chr(($_ * 131 + 7) % 251) } 0 .. $size - 1;
my $bin = "$dir/fw.bin";
OtaTest::write_file($bin, $content);

$t->start_worker;
my @rows;
for my $round (1 .. $rounds) {
    my $product = "ev$round";
    my $pdev = OtaTest::key('OTA_KEY_PRODUCT_DEVICES', $product);
    my $cmds = '';
    my @devs = map { sprintf '%s-%05d', $product, $_ } 1 .. $ndev;
    for my $d (@devs) {
        $cmds .= $resp->('HSET', OtaTest::key('OTA_KEY_DEVICE', $d), 'product', $product,
                         'secret', '00', 'created', int time);
        $cmds .= $resp->('SADD', $pdev, $d);
    }
    pipe_in($cmds);
    $t->redis(SADD => OtaTest::key('OTA_KEY_PRODUCTS'), $product);
    $t->fx_module($product, 'default');
    my ($pkg, $batch) = $t->otactl_release($bin, $product, 'ev');
    $t->wait_for(sub { $t->drained }, 60) or die "not drained\n";
    $t->stop_worker(forget => 1);

    # the sessions' events in time order (ms from the first session's start)
    srand(22 + $round);
    my @ev;
    my $t0 = int(time * 1000);
    for my $i (0 .. $#devs) {
        my $d = $devs[$i];
        my $s = $i;                                 # 1000 sessions/s
        my $cut = 1 + int rand($size - 1);
        push @ev, [$s, 'inform', $d, 'product', $product, 'module', 'default',
                   'version', '1.0.0'];
        push @ev, [$s + 8, 'notified', $d, 'module', 'default', 'batch', $batch,
                   'package', $pkg];
        push @ev, [$s + 40, 'download', $d, 'package', $pkg, 'module', 'default',
                   'covered', $cut, 'size', $size] if rand(100) >= $one;
        push @ev, [$s + 170, 'download', $d, 'package', $pkg, 'module', 'default',
                   'covered', $size, 'size', $size];
        push @ev, [$s + 180, 'progress', $d, 'product', $product, 'module', 'default',
                   'step', 100, 'desc', 'installed'];
        push @ev, [$s + 195, 'inform', $d, 'product', $product, 'module', 'default',
                   'version', '2.0.0'];
    }
    $cmds = '';
    for my $e (sort { $a->[0] <=> $b->[0] } @ev) {
        my ($at, $type, $d, @f) = @$e;
        $cmds .= $resp->('XADD', 'ota:events', '*', 'type', $type, 'ts', $t0 + $at,
                         'device', $d, @f);
    }
    pipe_in($cmds);
    my $nev = @ev;

    $t->redis(CONFIG => 'RESETSTAT');
    if ($stats) {
        $t->redis(CONFIG => 'SET', 'slowlog-log-slower-than', $ENV{BENCH_SLOW_US} // 20);
        $t->redis(CONFIG => 'SET', 'slowlog-max-len', 1000000);
    }
    $t->redis(SLOWLOG => 'RESET');
    my $perf;
    if ($ENV{BENCH_PERF}) {
        chomp(my $rp = OtaTest::read_file("$dir/redis/redis.pid"));
        $perf = fork // die;
        if (!$perf) {
            open STDERR, '>', '/dev/null';
            exec 'perf', 'record', '-F', $ENV{BENCH_PERF_F} // 4000, '-g', '-q', '-o', "$ENV{BENCH_PERF}.$round", '-p', $rp;
        }
        sleep 0.5;
    }
    chomp(my $rpid = OtaTest::read_file("$dir/redis/redis.pid"));
    system('callgrind_control', '-i', 'on', $rpid) if $ENV{BENCH_CALLGRIND};
    my $c0 = rcpu();
    my $w0 = time;
    my $mon;
    if ($ENV{BENCH_MONITOR} && $round == 1) {   # every command, for a replay
        $mon = fork // die;
        if (!$mon) { exec "redis-cli -p $port monitor > $ENV{BENCH_MONITOR}" }
        sleep 0.3;
    }
    my $wpid = $t->start_worker('--count', $count, '--gather', 0);
    $t->wait_for(sub { $t->drained }, 120) or die "not drained\n";
    my $secs = time - $w0;
    my $c1 = rcpu();
    if ($mon) { kill 'TERM', $mon; waitpid $mon, 0 }
    if ($perf) { kill 'INT', $perf; waitpid $perf, 0 }
    if ($ENV{BENCH_CALLGRIND}) {
        system('callgrind_control', '-d', $rpid);
        system('callgrind_control', '-i', 'off', $rpid);
    }
    my $wst = OtaTest::read_file("/proc/$wpid/stat");
    my @wf = split ' ', ($wst =~ /\)\s(.*)/s)[0];
    my $wcpu = ($wf[11] + $wf[12]) / 100;
    my %by;
    if ($stats) {
        %by = %{ $t->slowlog_by_script };
        $t->redis(CONFIG => 'SET', 'slowlog-log-slower-than', 10000);
    }
    my $bad = 0;
    my $st = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_STATE', $batch));
    my $cv = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COVERED', $batch));
    for my $d (@devs) {
        $bad++ unless ($st->{$d} // '') eq 'succeeded' && ($cv->{$d} // 0) == $size;
    }
    my $cnt = $t->redis_hash(OtaTest::key('OTA_KEY_BATCH_COUNTS', $batch));
    my $ver = $t->redis_hash(OtaTest::key('OTA_KEY_VERSION_DIST', $product, 'default'));
    $bad++ unless ($cnt->{succeeded} // 0) == $ndev && ($ver->{'2.0.0'} // 0) == $ndev
        && !defined $ver->{'1.0.0'};
    my %r = (redis => ($c1 - $c0) / $ndev * 1e6, worker => $wcpu / $ndev * 1e6,
             events => $nev / $ndev, secs => $secs, bad => $bad);
    for my $n (keys %by) { $r{"$n.us"} = $by{$n}[1] / $ndev; $r{"$n.calls"} = $by{$n}[0] / $ndev }
    push @rows, \%r;
    printf "round %d: %d events (%.2f per session) in %.2f s; Redis %.1f us/session "
        . "(%.2f us/event), worker %.1f us/session%s; %s\n",
        $round, $nev, $r{events}, $secs, $r{redis}, $r{redis} / $r{events}, $r{worker},
        $stats ? sprintf(', lookup.lua %.1f us (%.3f calls), apply.lua %.1f us (%.3f calls)',
                         $r{'worker/lookup.us'} // 0, $r{'worker/lookup.calls'} // 0,
                         $r{'worker/apply.us'} // 0, $r{'worker/apply.calls'} // 0) : '',
        $bad ? "$bad WRONG" : 'every task succeeded, covered == size';
    if ($stats && $ENV{BENCH_VERBOSE}) {
        for my $n (sort { $by{$b}[1] <=> $by{$a}[1] } keys %by) {
            printf "  %-16s %8d calls %10d us  %.2f us/session\n", $n, @{ $by{$n} },
                $by{$n}[1] / $ndev;
        }
    }
    die "wrong result\n" if $bad;
}
if ($ENV{BENCH_ENC}) {                 # the hashes by encoding and size
    my $lua = <<'LUA';
      local by, cur = {}, '0'
      repeat
        local r = redis.call('SCAN', cur, 'COUNT', 1000)
        cur = r[1]
        for _, k in ipairs(r[2]) do
          local ty = redis.call('TYPE', k).ok
          if ty == 'hash' or ty == 'zset' then
            local n = ty == 'hash' and redis.call('HLEN', k) or redis.call('ZCARD', k)
            local e = redis.call('OBJECT', 'ENCODING', k)
            local pat = string.gsub(string.gsub(k, '{[^}]*}', '{}'), '%d+', 'N')
            local id = ty .. ' ' .. e .. ' ' .. pat
            local b = by[id] or {0, 0, 0}
            b[1] = b[1] + 1 b[2] = b[2] + n
            if n > b[3] then b[3] = n end
            by[id] = b
          end
        end
      until cur == '0'
      local out = {}
      for id, b in pairs(by) do out[#out + 1] = id .. ' keys ' .. b[1] .. ' fields ' .. b[2] .. ' max ' .. b[3] end
      return out
LUA
    my $r = $t->redis(EVAL => $lua, 0);
    diag($_) for sort @$r;
}
$t->stop;
ok(1, 'events bench');
done_testing;
