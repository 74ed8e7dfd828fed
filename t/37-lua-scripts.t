# The worker's Redis scripts on their own, against a real redis-server: no
# worker, no nginx.  Each script is run as Redis runs it (the text lua/embed.pl
# wrote to build/lua/worker/), with its arguments laid out by the names of
# worker/daemon/worker_wire.h, read from the header itself, so the test and
# the C side cannot drift apart.
#
#   apply.lua   every outcome of a task: moves, compare and set, timeouts
#               (fresh, paused, gone, applied), decisions on the cache or on
#               the batch alone (missing), deadlines written and rescheduled,
#               covered never lowered, desc, final states (open entry,
#               batch finished, verify package verified), the
#               acknowledgement by XACK and by cursor, the lease check
#   lookup.lua  version reports (distribution, sets, late reports), the
#               task of a question (open, or the last closed one for a
#               download), dynamic batches
#   reader.lua  the reader lease
#   rollouts    (lua/lib/rollout.lua through apply, batch_state,
#               create_finish, batch_start, cancel_chunk) per-wave counters,
#               a wave opened once by the success threshold, a replay
#               changing nothing, the error threshold's pause and its
#               reason, resume past it, the abort rule with its cancel job,
#               a scheduled start, a batch's own task timeout, the ramp,
#               push notices published wave by wave (notify.lua)

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1);
sub R { $t->redis(@_) }
sub K { OtaTest::key(@_) }
sub H { my $r = R(HGETALL => $_[0]) // []; return { @$r } }

# ---- the scripts and the wire layout ----------------------------------------

my %src;
for my $n (qw(apply lookup reader create_chunk create_finish batch_state
               batch_start cancel_chunk notify)) {
    my $f = "$OtaTest::BUILD/lua/worker/$n.lua";
    open my $fh, '<', $f or die "$f: $! (build first)\n";
    local $/;
    $src{$n} = <$fh>;
}
my %W;
{
    open my $fh, '<', "$OtaTest::ROOT/worker/daemon/worker_wire.h" or die "worker_wire.h: $!\n";
    while (<$fh>) {
        next unless /^#define\s+(OTA_\w+)\s+(?:\(?(-?\d+)\)?|"([^"]*)")/;
        my ($n, $v) = ($1, $2 // $3);
        $v =~ s/\\t/\t/g;               # a C string's escapes
        $v =~ s/\\n/\n/g;
        $W{$n} = $v;
    }
}
ok($W{OTA_APPLY_TASK_N} && defined $W{OTA_LOOKUP_T_N}, 'the wire layout is read from worker_wire.h');

my @TASK_FIELDS = qw(DEVICE BATCH EXPECTED NEW COVERED STEP DESC KIND MORE);
is(scalar @TASK_FIELDS, $W{OTA_APPLY_TASK_N}, 'a task has the fields the test knows');
# OTA_APPLY_MORE's values, in their order
my @MORE_FIELDS = qw(PKG SAVED PSIZE REASON);
is(scalar @MORE_FIELDS, $W{OTA_APPLY_M_N}, 'more has the values the test knows');

sub run_script { my $n = shift; return R('EVAL', $src{$n}, 0, @_) }

my $TMO = 60000;

# apply(now => ms, ack => [...], tasks => [{device, batch, expected, ...}])
sub apply {
    my (%o) = @_;
    my @head;
    $head[$W{OTA_APPLY_NOW} - 1] = $o{now} // int(Time::HiRes::time() * 1000);
    $head[$W{OTA_APPLY_TIMEOUT} - 1] = $o{timeout} // $TMO;
    my @ack = @{ $o{ack} // [] };
    $head[$W{OTA_APPLY_NACK} - 1] = scalar @ack;
    my @args = (@head, @ack);
    for my $tk (@{ $o{tasks} }) {
        my @v;
        for my $f (@TASK_FIELDS) {
            $v[$W{"OTA_APPLY_$f"}] = $tk->{lc $f} // '';
        }
        # the rare values joined, "" when none (worker_apply.c)
        my @m;
        $m[$W{"OTA_APPLY_M_$_"}] = $tk->{lc $_} // '' for @MORE_FIELDS;
        $v[$W{OTA_APPLY_MORE}] = join('', @m) eq '' ? '' : join($W{OTA_APPLY_MORE_SEP}, @m);
        push @args, @v;
    }
    my $r = run_script('apply', @args);
    my %res = @{ $r->[$W{OTA_APPLY_R_RESULTS}] };
    return ($r->[$W{OTA_APPLY_R_ACKED}], \%res);
}

my $KIND_C = $W{OTA_APPLY_K_CACHED};
my $KIND_T = $W{OTA_APPLY_K_TIMEOUT};
my $KIND_S = $W{OTA_APPLY_K_SPEC};

# a batch record with its counters, devices and a package, as batch_init
# and create_chunk leave them
sub batch {
    my ($id, %o) = @_;
    my @devs = @{ $o{devices} };
    my $pkg = $o{package} // "pkg-$id";
    R(HSET => K('OTA_KEY_PACKAGE', $pkg), id => $pkg, product => 'p', module => 'm',
      version => '2.0.0', type => 'full', size => 1000, state => $o{pkgstate} // 'ready',
      verify_batch => $id, verify => $o{verify} // 0);
    R(HSET => K('OTA_KEY_BATCH', $id), id => $id, type => $o{type} // 'upgrade',
      package => $pkg, product => 'p', module => 'm', version => '2.0.0', size => 1000,
      state => $o{state} // 'running', method => $o{method} // 'static',
      total => scalar @devs, created => 1000, push => 0, from_version => '');
    R(HSET => K('OTA_KEY_BATCH_COUNTS', $id), map { ($_ => 0) }
      qw(notified downloading downloaded installing succeeded failed cancelled));
    R(HSET => K('OTA_KEY_BATCH_COUNTS', $id), pending => scalar @devs);
    my $i = 0;
    for my $d (@devs) {
        R(ZADD => K('OTA_KEY_BATCH_DEVICES', $id), ++$i, $d);
        R(HSET => K('OTA_KEY_DEVICE_OPEN', $d), 'm', $id);
    }
}
sub col { R(HGET => K($_[0], $_[1]), $_[2]) }
sub counts { H(K('OTA_KEY_BATCH_COUNTS', $_[0])) }
sub dl { R(ZSCORE => K('OTA_KEY_TASK_DEADLINES'), "$_[0]:$_[1]") }

# ---- apply: moves ---------------------------------------------------------------

batch('b1', devices => [qw(d1 d2 d3 d4 d5 d6)]);
my $now = 5_000_000;
my ($acked, $res) = apply(now => $now, tasks => [
    { device => 'd1', batch => 'b1', expected => 'pending', new => 'notified' },
]);
is_deeply($res, {}, 'pending -> notified goes as decided');
is($acked, 0, '  nothing to acknowledge: acked 0');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd1'), 'notified', '  the state column');
is(col('OTA_KEY_BATCH_UPDATED', 'b1', 'd1'), $now, '  updated is now');
is(dl('b1', 'd1'), $now + $TMO, '  a deadline is written when the task leaves pending');
is_deeply([@{ counts('b1') }{qw(pending notified)}], [5, 1], '  the counters moved');

# compare and set: a task no longer in the state it was decided on
($acked, $res) = apply(now => $now, tasks => [
    { device => 'd1', batch => 'b1', expected => 'pending', new => 'notified' },
]);
is_deeply($res, { 1 => 'notified' }, 'a task that moved answers its state');
is_deeply([@{ counts('b1') }{qw(pending notified)}], [5, 1], '  and nothing is counted twice');

# covered: larger only, compared as numbers written as strings
apply(now => $now + 1, tasks => [
    { device => 'd1', batch => 'b1', expected => 'notified', new => 'downloading',
      covered => '999' },
]);
is(col('OTA_KEY_BATCH_COVERED', 'b1', 'd1'), '999', 'covered written');
is(dl('b1', 'd1'), $now + $TMO, '  the deadline is not written again on each event');
apply(now => $now + 2, tasks => [
    { device => 'd1', batch => 'b1', expected => 'downloading', new => 'downloading',
      covered => '1000' },
]);
is(col('OTA_KEY_BATCH_COVERED', 'b1', 'd1'), '1000', 'covered 1000 > 999 (a longer string)');
apply(now => $now + 3, tasks => [
    { device => 'd1', batch => 'b1', expected => 'downloading', new => 'downloading',
      covered => '500' },
]);
is(col('OTA_KEY_BATCH_COVERED', 'b1', 'd1'), '1000', 'covered is never lowered');
is(col('OTA_KEY_BATCH_UPDATED', 'b1', 'd1'), $now + 3, '  (the event still counts as progress)');

# step and desc
apply(now => $now + 4, tasks => [
    { device => 'd1', batch => 'b1', expected => 'downloading', new => 'downloading',
      step => '40', desc => "$W{OTA_APPLY_DESC_MARK}writing flash" },
]);
is(col('OTA_KEY_BATCH_STEP', 'b1', 'd1'), '40', 'step written');
is(col('OTA_KEY_BATCH_DESC', 'b1', 'd1'), 'writing flash', 'desc written without its mark');
apply(now => $now + 5, tasks => [
    { device => 'd1', batch => 'b1', expected => 'downloading', new => 'downloading',
      desc => $W{OTA_APPLY_DESC_MARK} },
]);
is(col('OTA_KEY_BATCH_DESC', 'b1', 'd1'), '', 'the mark alone is an empty desc, not none');

# a cached task that did not change: only its state is checked
($acked, $res) = apply(now => $now + 6, tasks => [
    { device => 'd1', batch => 'b1', expected => 'downloading', new => 'downloading',
      kind => $KIND_C },
]);
is_deeply($res, {}, 'a cached, unchanged task in the state expected: ok');
is(col('OTA_KEY_BATCH_UPDATED', 'b1', 'd1'), $now + 5, '  and nothing is written for it');
($acked, $res) = apply(now => $now + 6, tasks => [
    { device => 'd1', batch => 'b1', expected => 'installing', new => 'installing',
      kind => $KIND_C },
]);
is_deeply($res, { 1 => 'downloading' }, 'a cached task that moved: its state');

# a failure: reason and failures counter
apply(now => $now + 7, tasks => [
    { device => 'd2', batch => 'b1', expected => 'pending', new => 'failed',
      reason => 'download_failed', step => '-2' },
]);
is(col('OTA_KEY_BATCH_REASON', 'b1', 'd2'), 'download_failed', 'a failure records its reason');
is(R(HGET => K('OTA_KEY_BATCH_FAILURES', 'b1'), 'download_failed'), 1, '  and counts it');
ok(!R(HEXISTS => K('OTA_KEY_DEVICE_OPEN', 'd2'), 'm'), '  a final task leaves the open entry');
ok(!defined dl('b1', 'd2'), '  a task final from pending never had a deadline');

# a batch of more tasks than a listpack holds: its task columns are hash
# tables from their first write (made for speed: a listpack is searched
# field by field), and the field that made Redis convert them is gone in
# the same step
batch('big', devices => [map { "g$_" } 1 .. 200]);
($acked, $res) = apply(now => $now, tasks => [
    { device => 'g1', batch => 'big', expected => 'pending', new => 'notified' },
    { device => 'g2', batch => 'big', expected => 'pending', new => 'downloading',
      covered => '10', step => '5', desc => "$W{OTA_APPLY_DESC_MARK}x" },
]);
is_deeply($res, {}, 'a batch of 200 tasks: its first moves go as decided');
for my $c (qw(STATE COVERED STEP DESC UPDATED)) {
    is(R(OBJECT => 'ENCODING', K("OTA_KEY_BATCH_$c", 'big')), 'hashtable',
       "  its $c column is a hash table from its first write");
}
is_deeply([sort @{ R(HKEYS => K('OTA_KEY_BATCH_STATE', 'big')) }], [qw(g1 g2)],
          '  holding the tasks written and nothing else');
is_deeply([sort @{ R(HKEYS => K('OTA_KEY_BATCH_UPDATED', 'big')) }], [qw(g1 g2)],
          '  (the updated column too)');
apply(now => $now + 1, tasks => [
    { device => 'g1', batch => 'big', expected => 'notified', new => 'downloading',
      covered => '7' },
]);
is_deeply(H(K('OTA_KEY_BATCH_COVERED', 'big')), { g1 => 7, g2 => 10 },
          '  a later write adds its field only');
is(R(OBJECT => 'ENCODING', K('OTA_KEY_BATCH_STATE', 'b1')), 'listpack',
   "  a small batch's column is left as Redis makes it");

# ---- apply: timeouts ------------------------------------------------------------

# fresh: the task moved less than the timeout ago: a new deadline
apply(now => $now, tasks => [
    { device => 'd3', batch => 'b1', expected => 'pending', new => 'notified' },
]);
($acked, $res) = apply(now => $now + 1000, tasks => [
    { device => 'd3', batch => 'b1', expected => 'notified', new => 'failed',
      reason => 'timeout', kind => $KIND_T },
]);
is_deeply($res, { 1 => $W{OTA_APPLY_R_FRESH} }, 'a timeout of a task that moved since: fresh');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd3'), 'notified', '  the task is left as it is');
is(dl('b1', 'd3'), $now + $TMO, '  the deadline is rescheduled to updated + timeout');
R(HSET => K('OTA_KEY_BATCH_UPDATED', 'b1'), 'd3', $now + 30000);
apply(now => $now + $TMO, tasks => [
    { device => 'd3', batch => 'b1', expected => 'notified', new => 'failed',
      reason => 'timeout', kind => $KIND_T },
]);
is(dl('b1', 'd3'), $now + 30000 + $TMO, '  a deadline that fell due early is pushed back again');

# applied: the task did not move for the timeout
($acked, $res) = apply(now => $now + 30000 + $TMO, tasks => [
    { device => 'd3', batch => 'b1', expected => 'notified', new => 'failed',
      reason => 'timeout', kind => $KIND_T },
]);
is_deeply($res, {}, 'a timeout of a task that did not move: applied');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd3'), 'failed', '  failed');
is(col('OTA_KEY_BATCH_REASON', 'b1', 'd3'), 'timeout', '  reason timeout');
ok(!defined dl('b1', 'd3'), '  its deadline is gone');

# gone: a timeout of a task still pending (no deadline should exist)
R(ZADD => K('OTA_KEY_TASK_DEADLINES'), 1, 'b1:d4');
($acked, $res) = apply(now => $now, tasks => [
    { device => 'd4', batch => 'b1', expected => 'pending', new => 'failed',
      reason => 'timeout', kind => $KIND_T },
]);
is_deeply($res, { 1 => $W{OTA_APPLY_R_GONE} }, 'a timeout of a pending task: gone');
ok(!defined dl('b1', 'd4'), '  its stray deadline is removed');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd4'), undef, '  the task stays pending');

# paused: the batch is paused: a new deadline, nothing else
apply(now => $now, tasks => [
    { device => 'd5', batch => 'b1', expected => 'pending', new => 'notified' },
]);
R(HSET => K('OTA_KEY_BATCH', 'b1'), state => 'paused');
($acked, $res) = apply(now => $now + 2 * $TMO, tasks => [
    { device => 'd5', batch => 'b1', expected => 'notified', new => 'failed',
      reason => 'timeout', kind => $KIND_T },
]);
is_deeply($res, { 1 => $W{OTA_APPLY_R_PAUSED} }, 'a timeout in a paused batch: paused');
is(dl('b1', 'd5'), $now + 3 * $TMO, '  the deadline is now + timeout');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd5'), 'notified', '  the task waits');
R(HSET => K('OTA_KEY_BATCH', 'b1'), state => 'running');

# no timeouts at all (timeout 0)
($acked, $res) = apply(now => $now + 9 * $TMO, timeout => 0, tasks => [
    { device => 'd5', batch => 'b1', expected => 'notified', new => 'notified',
      kind => $KIND_T },
]);
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd5'), 'notified', 'with timeout 0 a due deadline fails nothing');

# ---- apply: gone and missing --------------------------------------------------

R(ZADD => K('OTA_KEY_TASK_DEADLINES'), 1, 'nob:dx');
($acked, $res) = apply(now => $now, tasks => [
    { device => 'dx', batch => 'nob', expected => 'notified', new => 'downloading' },
    { device => 'dy', batch => 'nob', expected => 'notified', new => 'downloading',
      kind => $KIND_C },
]);
is_deeply($res, { 1 => $W{OTA_APPLY_R_GONE}, 2 => $W{OTA_APPLY_R_MISSING} },
          'a batch that is gone: gone for a task looked up, missing for a cached one');
ok(!defined R(ZSCORE => K('OTA_KEY_TASK_DEADLINES'), 'nob:dx'), '  its deadline is removed');

# decided on the batch alone: the device must be a member
($acked, $res) = apply(now => $now, tasks => [
    { device => 'stranger', batch => 'b1', expected => 'pending', new => 'notified',
      kind => $KIND_S },
    { device => 'd6', batch => 'b1', expected => 'pending', new => 'notified',
      kind => $KIND_S },
]);
is_deeply($res, { 1 => $W{OTA_APPLY_R_MISSING} },
          'assumed pending from the batch: a device outside it is missing, a member goes');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'stranger'), undef, '  nothing written for the stranger');
is(col('OTA_KEY_BATCH_STATE', 'b1', 'd6'), 'notified', '  the member is notified');

# ---- apply: final states close the batch ------------------------------------------

batch('v1', type => 'verify', devices => [qw(e1 e2)], package => 'vpkg', pkgstate => 'verifying',
      verify => 1);
apply(now => $now, tasks => [
    { device => 'e1', batch => 'v1', expected => 'pending', new => 'succeeded' },
]);
is(R(HGET => K('OTA_KEY_BATCH', 'v1'), 'state'), 'running', 'one task of two final: running');
is(R(HGET => K('OTA_KEY_DEVICE_LAST', 'e1'), 'm'), 'v1', '  a final task is the device\'s last of the module');
apply(now => $now + 1, tasks => [
    { device => 'e2', batch => 'v1', expected => 'pending', new => 'downloading',
      covered => '10' },
]);
apply(now => $now + 2, tasks => [
    { device => 'e2', batch => 'v1', expected => 'downloading', new => 'succeeded' },
]);
is(R(HGET => K('OTA_KEY_BATCH', 'v1'), 'state'), 'finished', 'every task final: finished');
is(R(HGET => K('OTA_KEY_BATCH', 'v1'), 'finished'), $now + 2, '  at now');
is(R(HGET => K('OTA_KEY_PACKAGE', 'vpkg'), 'state'), 'verified',
   '  a verify batch all succeeded verifies its package');
ok(!defined dl('v1', 'e2'), '  the last deadline is gone');
is_deeply([@{ counts('v1') }{qw(pending downloading succeeded)}], [0, 0, 2], '  counted once each');

# ---- apply: the acknowledgement -----------------------------------------------------

my $S = K('OTA_STREAM_EVENTS');
R(XGROUP => 'CREATE', $S, K('OTA_GROUP'), 0, 'MKSTREAM');
my @ids = map { R(XADD => $S, '*', type => 'x', n => $_) } 1 .. 3;
R(XREADGROUP => 'GROUP', K('OTA_GROUP'), 'c1', 'COUNT', 10, 'STREAMS', $S, '>');
batch('a1', devices => [qw(f1 f2)]);
($acked, $res) = apply(now => $now, ack => [@ids], tasks => [
    { device => 'f1', batch => 'a1', expected => 'pending', new => 'notified' },
    { device => 'f2', batch => 'a1', expected => 'notified', new => 'downloading' },
]);
is($acked, 0, 'a conflict: nothing acknowledged');
is(R(XPENDING => $S, K('OTA_GROUP'))->[0], 3, '  the entries stay pending');
is(col('OTA_KEY_BATCH_STATE', 'a1', 'f1'), 'notified', '  (the task that was as expected is written)');
($acked, $res) = apply(now => $now, ack => [@ids], tasks => [
    { device => 'f2', batch => 'a1', expected => 'pending', new => 'notified' },
]);
is($acked, 1, 'every task as decided: acknowledged');
is(R(XPENDING => $S, K('OTA_GROUP'))->[0], 0, '  by XACK, in the same step');

# the cursor: the reader's lease and the group's cursor are checked first
my @more = map { R(XADD => $S, '*', type => 'x', n => $_) } 4 .. 5;
R(XGROUP => 'SETID', $S, K('OTA_GROUP'), $ids[-1]);
R(SET => K('OTA_KEY_EVENTS_READER'), 'reader-1', 'PX', 60000);
sub cursor_ack {
    my ($reader, $from) = @_;
    my @a;
    $a[0] = $W{OTA_ACK_CURSOR};
    $a[$W{OTA_ACK_READER}] = $reader;
    $a[$W{OTA_ACK_FROM}] = $from;
    $a[$W{OTA_ACK_TO}] = $more[-1];
    $a[$W{OTA_ACK_COUNT}] = 2;
    return \@a;
}
sub group_last {
    for my $g (@{ R(XINFO => 'GROUPS', $S) }) {
        my %h = @$g;
        return $h{'last-delivered-id'} if $h{name} eq K('OTA_GROUP');
    }
}
batch('c1', devices => [qw(g1)]);
($acked, $res) = apply(now => $now, ack => cursor_ack('reader-2', $ids[-1]), tasks => [
    { device => 'g1', batch => 'c1', expected => 'pending', new => 'notified' },
]);
is($acked, $W{OTA_APPLY_LOST}, 'the lease is another worker\'s: lost');
is(col('OTA_KEY_BATCH_STATE', 'c1', 'g1'), undef, '  and nothing is written');
($acked, $res) = apply(now => $now, ack => cursor_ack('reader-1', $ids[0]), tasks => [
    { device => 'g1', batch => 'c1', expected => 'pending', new => 'notified' },
]);
is($acked, $W{OTA_APPLY_LOST}, 'the cursor is not where the read started: lost');
is(group_last(), $ids[-1], '  the cursor stays');
($acked, $res) = apply(now => $now, ack => cursor_ack('reader-1', $ids[-1]), tasks => [
    { device => 'g1', batch => 'c1', expected => 'pending', new => 'notified' },
]);
is($acked, 1, 'the reader\'s own read: acknowledged');
is(group_last(), $more[-1], '  by moving the cursor to the read\'s last entry');
is(col('OTA_KEY_BATCH_STATE', 'c1', 'g1'), 'notified', '  with the effect');

# ---- lookup ----------------------------------------------------------------------------

sub lookup {
    my (%o) = @_;
    my @head;
    $head[$W{OTA_LOOKUP_NOW} - 1] = $o{now} // $now;
    my @inf = @{ $o{informs} // [] };
    $head[$W{OTA_LOOKUP_NINFORM} - 1] = scalar @inf;
    my @args = @head;
    for my $i (@inf) {
        my @v;
        $v[$W{"OTA_LOOKUP_I_$_"}] = $i->{lc $_} for qw(DEVICE PRODUCT MODULE VERSION TS);
        push @args, @v;
    }
    for my $q (@{ $o{ask} // [] }) {
        my @v;
        $v[$W{"OTA_LOOKUP_Q_$_"}] = $q->{lc $_} // '' for qw(DEVICE MODULE BATCH);
        push @args, @v;
    }
    return run_script('lookup', @args);
}
sub task_of {
    my ($r, $k) = @_;
    my $s = $r->[$W{OTA_LOOKUP_R_TASKS} + $k];
    return undef unless $s;
    my @f = split /\Q$W{OTA_LOOKUP_SEP}\E/, $s, -1;
    my %t = map { (lc($_) => $f[$W{"OTA_LOOKUP_T_$_"}]) } qw(BATCH STATE COVERED STEP FROM);
    my $b = $r->[$W{OTA_LOOKUP_R_BATCHES}];
    my $g = ($t{batch} - 1) * $W{OTA_LOOKUP_B_N};
    $t{batch_id} = $b->[$g + $W{OTA_LOOKUP_B_ID}];
    $t{version} = $b->[$g + $W{OTA_LOOKUP_B_VERSION}];
    return \%t;
}

my $r = lookup(ask => [ { device => 'd1', module => 'm' }, { device => 'd6', module => 'm',
                          batch => 'b1' }, { device => 'nobody', module => 'm' } ]);
my $t1 = task_of($r, 0);
is_deeply([@$t1{qw(batch_id state covered step version)}], ['b1', 'downloading', '1000', '40', '2.0.0'],
          'lookup: the open task of (device, module), its columns and batch');
is(task_of($r, 1)->{state}, 'notified', 'lookup: the task of a named batch');
ok(!task_of($r, 2), 'lookup: 0 for a device without a task');
is(task_of($r, 0)->{batch}, task_of($r, 1)->{batch}, '  a batch is answered once for its tasks');

# late coverage: a download's question finds the last closed task
$r = lookup(ask => [ { device => 'e1', module => 'm', batch => $W{OTA_LOOKUP_Q_OPEN} },
                     { device => 'e1', module => 'm', batch => $W{OTA_LOOKUP_Q_OPEN_OR_LAST} } ]);
ok(!task_of($r, 0), 'lookup: a final task is no open task');
is_deeply([@{ task_of($r, 1) }{qw(batch_id state)}], ['v1', 'succeeded'],
          '  but a download\'s question finds it as the last closed one');

my $VD = K('OTA_KEY_VERSION_DIST', 'p', 'm');
$r = lookup(informs => [ { device => 'h1', product => 'p', module => 'm', version => '1.0.0', ts => 100 },
                         { device => 'h2', product => 'p', module => 'm', version => '1.0.0', ts => 100 } ]);
is(R(HGET => $VD, '1.0.0'), 2, 'inform: the distribution counts the reports');
is(R(SCARD => K('OTA_KEY_VERSION_SET', 'p', 'm', '1.0.0')), 2, '  the version set has the devices');
lookup(informs => [ { device => 'h1', product => 'p', module => 'm', version => '2.0.0', ts => 200 } ]);
is_deeply([R(HGET => $VD, '1.0.0'), R(HGET => $VD, '2.0.0')], [1, 1], 'a newer report moves the device');
ok(R(SISMEMBER => K('OTA_KEY_VERSION_SET', 'p', 'm', '2.0.0'), 'h1')
   && !R(SISMEMBER => K('OTA_KEY_VERSION_SET', 'p', 'm', '1.0.0'), 'h1'), '  between the sets');
lookup(informs => [ { device => 'h1', product => 'p', module => 'm', version => '1.0.0', ts => 150 } ]);
is(R(HGET => K('OTA_KEY_DEVICE_VERSIONS', 'h1'), 'm'), '2.0.0', 'a late, older report changes nothing');
is_deeply([R(HGET => $VD, '1.0.0'), R(HGET => $VD, '2.0.0')], [1, 1], '  in the distribution either');
lookup(informs => [ { device => 'h1', product => 'p', module => 'm', version => '2.0.0', ts => 200 } ]);
is(R(HGET => $VD, '2.0.0'), 1, 'a replayed report counts nothing twice');

# a dynamic batch takes a device that reports a version
batch('dyn', devices => [], method => 'dynamic');
R(SADD => K('OTA_KEY_PRODUCT_DYNAMIC', 'p'), 'dyn');
$r = lookup(informs => [ { device => 'h3', product => 'p', module => 'm', version => '1.5.0', ts => 300 } ]);
is($r->[$W{OTA_LOOKUP_R_JOINED}], 1, 'a running dynamic batch takes the reporting device');
is(R(ZSCORE => K('OTA_KEY_BATCH_DEVICES', 'dyn'), 'h3'), 1, '  as a member');
is(R(HGET => K('OTA_KEY_BATCH_FROM', 'dyn'), 'h3'), '1.5.0', '  with its source version');
is(R(HGET => K('OTA_KEY_DEVICE_OPEN', 'h3'), 'm'), 'dyn', '  and its open entry');
is(counts('dyn')->{pending}, 1, '  counted pending');
$r = lookup(informs => [ { device => 'h4', product => 'p', module => 'm', version => '2.0.0', ts => 300 } ]);
is($r->[$W{OTA_LOOKUP_R_JOINED}], 0, '  not a device already at the target');

# ---- reader lease ------------------------------------------------------------------

R(DEL => K('OTA_KEY_EVENTS_READER'));
$r = run_script('reader', 'w1', 3000, 'hold');
is_deeply($r, [1, group_last()], 'reader: a free lease is taken, with the group\'s cursor');
$r = run_script('reader', 'w2', 3000, 'hold');
is_deeply($r, [0, 'w1'], 'reader: held by another: its holder');
run_script('reader', 'w2', 3000, 'release');
is(R(GET => K('OTA_KEY_EVENTS_READER')), 'w1', 'reader: only the holder gives it up');
run_script('reader', 'w1', 3000, 'release');
ok(!defined R(GET => K('OTA_KEY_EVENTS_READER')), 'reader: released');

# ---- create_chunk -------------------------------------------------------------------

batch('cc', devices => [], state => 'creating');
R(HSET => K('OTA_KEY_DEVICE_VERSIONS', 'k2'), 'm', '2.0.0');
R(SADD => K('OTA_KEY_VERSION_SET', 'p', 'm', '2.0.0'), 'k2');
R(HINCRBY => $VD, '2.0.0', 0);
R(HSET => K('OTA_KEY_DEVICE_OPEN', 'k3'), 'm', 'other');
$r = run_script('create_chunk', 'cc', $now, 'next', qw(k1 k2 k3 k1));
is_deeply([@$r[0 .. 5]], ['ok', 1, 1, 1, 1, 0], 'create_chunk: made, dup, current, busy, version');
is(R(HGET => K('OTA_KEY_BATCH', 'cc'), 'cursor'), 'next', '  the cursor stored with the chunk');
is(R(HGET => K('OTA_KEY_BATCH_COUNTS', 'cc'), 'pending'), 1, '  one task counted');
$r = run_script('create_chunk', 'cc', $now, 'end', qw(k1));
is($r->[2], 1, '  a chunk read again makes nothing twice');

# ---- rollouts --------------------------------------------------------------------

# r1: 10 devices in waves of 2, 3 and 5 (bounds 2,5): the next wave at 100 %
# succeeded, a pause above 40 % failed
batch('r1', devices => [map { "w$_" } 1 .. 10]);
R(HSET => K('OTA_KEY_BATCH', 'r1'), rollout => 1, waves => '2,5',
  success_threshold => 100, error_threshold => 40, wave_bounds => '2,5',
  wave => 1, wave_upto => 2);
sub rb { R(HGET => K('OTA_KEY_BATCH', $_[0]), $_[1]) }
sub waves { H(K('OTA_KEY_BATCH_WAVES', $_[0])) }
sub hist { [ map { JSON::PP::decode_json($_)->{event} } @{ R(LRANGE => K('OTA_KEY_BATCH_HISTORY', $_[0]), 0, -1) } ] }
require JSON::PP;
$now = 9_000_000;
($acked, $res) = apply(now => $now, tasks => [
    { device => 'w1', batch => 'r1', expected => 'pending', new => 'succeeded' },
    { device => 'w3', batch => 'r1', expected => 'pending', new => 'downloading', covered => 10 },
]);
is_deeply($res, {}, 'rollout: moves go as decided');
is_deeply(waves('r1'), { '1:succeeded' => 1, '2:downloading' => 1 },
          '  counted per wave by rank (pending is not counted)');
is(rb('r1', 'wave'), 1, '  1 of 2 succeeded: wave 2 still waiting');
my @two = ({ device => 'w2', batch => 'r1', expected => 'pending', new => 'succeeded' });
apply(now => $now + 1, tasks => \@two);
is(rb('r1', 'wave'), 2, 'the second success opens wave 2');
is(rb('r1', 'wave_upto'), 5, '  devices of rank <= 5 are offered');
is(waves('r1')->{'2:opened'}, $now + 1, '  opened at now');
(undef, $res) = apply(now => $now + 2, tasks => \@two);
is_deeply([values %$res], ['succeeded'], 'the same event again: the task moved (compare and set)');
is(rb('r1', 'wave'), 2, '  wave 2 opened once');
is_deeply(hist('r1'), ['wave'], '  one history line');

apply(now => $now + 3, tasks => [
    { device => 'w4', batch => 'r1', expected => 'pending', new => 'failed', reason => 'flash_failed' } ]);
is(rb('r1', 'state'), 'running', '1 of 3 failed in wave 2 (33 % <= 40 %): running');
apply(now => $now + 4, tasks => [
    { device => 'w3', batch => 'r1', expected => 'downloading', new => 'failed', reason => 'timeout' } ]);
is(rb('r1', 'state'), 'paused', '2 of 3 failed (66 % > 40 %): the batch pauses itself');
is(rb('r1', 'pause_kind'), 'error_threshold', '  kind error_threshold');
like(rb('r1', 'pause_reason'), qr/wave 2 of 3: 2 of its 3 devices failed \(66\.67 % > 40 %\): flash_failed 1, timeout 1/,
     '  the reason says which wave, how many, why');
is(waves('r1')->{'2:downloading'}, 0, '  the wave counters moved with the task');
$r = run_script('batch_state', 'r1', 'resume', $now + 5);
is($r->[1], 'running', 'resume: running');
is(rb('r1', 'wave_ack'), 2, '  the pause of wave 2 is seen');
ok(!defined rb('r1', 'pause_reason'), '  the pause reason is cleared');
apply(now => $now + 6, tasks => [
    { device => 'w5', batch => 'r1', expected => 'pending', new => 'failed', reason => 'timeout' } ]);
is(rb('r1', 'state'), 'running', '  a third failure of wave 2 does not pause again');
is_deeply(hist('r1'), [qw(wave pause resume)], '  history: wave, pause, resume');
run_script('cancel_chunk', 'r1', $now + 7, 0, 100);
my $wv = waves('r1');
is_deeply([ @$wv{qw(3:cancelled 2:cancelled 1:cancelled)} ], [5, undef, undef],
          'cancel_chunk counts the cancelled tasks per wave (only wave 3 was open)');

# a1: the abort rule (50 % of at least 4 finished)
batch('a1', devices => [map { "x$_" } 1 .. 6]);
R(HSET => K('OTA_KEY_BATCH', 'a1'), rollout => 1, abort_failure_rate => 50, abort_min => 4);
my $jobs0 = R(XLEN => K('OTA_STREAM_JOBS'));
apply(now => $now, tasks => [
    (map { { device => "x$_", batch => 'a1', expected => 'pending', new => 'failed', reason => 'verify_failed' } } 1 .. 3),
]);
is(rb('a1', 'state'), 'running', 'abort rule: 3 finished, below the minimum of 4');
apply(now => $now + 1, tasks => [
    { device => 'x4', batch => 'a1', expected => 'pending', new => 'succeeded' } ]);
is(rb('a1', 'state'), 'cancelled', '  3 of 4 failed (75 % >= 50 %): cancelled');
like(rb('a1', 'abort'), qr/^abort rule: 3 of 4 finished devices failed \(75\.00 % >= 50 %, at least 4 finished\): verify_failed 3/,
     '  the reason recorded');
my $jl = R(XREVRANGE => K('OTA_STREAM_JOBS'), '+', '-', 'COUNT', 1)->[0][1];
my %jf = @$jl;
is_deeply([ R(XLEN => K('OTA_STREAM_JOBS')) - $jobs0, @jf{qw(type id)} ], [1, 'batch_cancel', 'a1'],
          '  a cancel job for its open tasks, in the same step');
apply(now => $now + 2, tasks => [
    { device => 'x5', batch => 'a1', expected => 'pending', new => 'failed' } ]);
is(R(XLEN => K('OTA_STREAM_JOBS')) - $jobs0, 1, '  a later failure aborts nothing again');

# s1: a scheduled start; its own task timeout
batch('s1', devices => [qw(s1d1 s1d2)], state => 'creating');
R(HSET => K('OTA_KEY_BATCH', 's1'), start_at => $now + 1000, timeout => 2);
$r = run_script('create_finish', 's1', $now, '');
is($r->[0], 'scheduled', 'create_finish: scheduled before its start');
is(R(ZSCORE => K('OTA_KEY_SCHEDULED'), 's1'), $now + 1000, '  in the schedule');
is(run_script('batch_start', $now + 999, 100), 0, 'batch_start: nothing due yet');
is(run_script('batch_start', $now + 1000, 100), 1, '  at its time it starts');
is(rb('s1', 'state'), 'running', '  running');
is(rb('s1', 'started'), $now + 1000, '  started recorded');
is(run_script('batch_start', $now + 2000, 100), 0, '  once');
apply(now => $now + 3000, timeout => 5000, tasks => [
    { device => 's1d1', batch => 's1', expected => 'pending', new => 'notified' } ]);
is(dl('s1', 's1d1'), $now + 3000 + 120000, "the batch's --timeout 2 (minutes) sets the deadline, not the worker's");

# rr: the ramp: 2 per minute, doubled each time 2 succeeded, at most 5
batch('rr', devices => [map { "y$_" } 1 .. 6], state => 'creating');
R(HSET => K('OTA_KEY_BATCH', 'rr'), rollout => 1, max_per_minute => 5, ramp => '2,2');
run_script('create_finish', 'rr', $now, '');
is(rb('rr', 'rate'), 2, 'ramp: the batch starts at its base rate');
apply(now => $now, tasks => [
    { device => 'y1', batch => 'rr', expected => 'pending', new => 'succeeded' } ]);
is(rb('rr', 'rate'), 2, '  1 succeeded: still 2');
apply(now => $now, tasks => [
    { device => 'y2', batch => 'rr', expected => 'pending', new => 'succeeded' } ]);
is(rb('rr', 'rate'), 4, '  2 succeeded: 4');
apply(now => $now, tasks => [
    map { { device => "y$_", batch => 'rr', expected => 'pending', new => 'succeeded' } } 3, 4 ]);
is(rb('rr', 'rate'), 5, '  4 succeeded: 8, but at most 5');

# pn: an active-push batch with waves: notices go out as the waves open
batch('pn', devices => [map { "n$_" } 1 .. 5], state => 'creating');
R(HSET => K('OTA_KEY_BATCH', 'pn'), rollout => 1, push => 1, waves => '2,5',
  success_threshold => 50);
R(HSET => K('OTA_KEY_BATCH_STATE', 'pn'), 'n2', 'notified');
require IO::Socket::INET;
require IO::Select;
my $sub = IO::Socket::INET->new(PeerAddr => $t->redis_addr) or die "subscribe: $!";
binmode $sub;
print {$sub} "*2\r\n\$10\r\nPSUBSCRIBE\r\n\$11\r\nota:push:n*\r\n";
OtaTest::_resp_read($sub);
# the next n notices (the reads are buffered: count, do not select),
# then nothing more within 0.3 s
sub notices {
    my ($n) = @_;
    my @got;
    for (1 .. $n) {
        my $m = eval { local $SIG{ALRM} = sub { die "timeout\n" }; alarm 3;
                       my $x = OtaTest::_resp_read($sub); alarm 0; $x } or last;
        push @got, JSON::PP::decode_json($m->[3])->{device};
    }
    push @got, 'more' if IO::Select->new($sub)->can_read(0.3);
    return join ',', sort @got;
}
run_script('create_finish', 'pn', $now, '2');
ok(R(SISMEMBER => K('OTA_KEY_NOTIFY'), 'pn'), 'push with waves: to be notified as wave 1 opens');
is_deeply(run_script('notify', $now, 100), [1, 0], 'notify: one notice (n2 is no longer pending)');
is(notices(1), 'n1', '  n1 is told, nobody of wave 2');
ok(!R(SISMEMBER => K('OTA_KEY_NOTIFY'), 'pn'), '  wave 1 published: the batch leaves ota:notify');
apply(now => $now, tasks => [
    { device => 'n1', batch => 'pn', expected => 'pending', new => 'succeeded' } ]);
is(rb('pn', 'wave'), 2, 'wave 2 opens (the last one)');
is_deeply(run_script('notify', $now, 2), [2, 1], '  notify: a page of 2 notices, more left');
is_deeply(run_script('notify', $now, 2), [1, 0], '  then the last one');
is(notices(3), 'n3,n4,n5', '  the devices of wave 2 are told, once');
close $sub;

# ---- diffs (docs/delta.md) ---------------------------------------------------------------
# lookup: a task's diff (pkg, psize columns) and its batch's diffs from the
# package's index; apply: the package covered counts (pkg, psize written,
# removed again by a fallback, covered lowered then since it counts another
# package), the bytes saved counted once with the move to succeeded

batch('gd', devices => [qw(x1 x2 x3)]);
R(HSET => K('OTA_KEY_PACKAGE', 'pkg-gd-d'), id => 'pkg-gd-d', type => 'diff', size => 200);
R(HSET => K('OTA_KEY_PACKAGE_DIFFS', 'pkg-gd'), '1.0.0', 'pkg-gd-d');
apply(now => $now, tasks => [
    { device => 'x1', batch => 'gd', expected => 'pending', new => 'downloading',
      covered => 150, pkg => 'pkg-gd-d', psize => 200 },
    { device => 'x2', batch => 'gd', expected => 'pending', new => 'downloading',
      covered => 500 } ]);
is(col('OTA_KEY_BATCH_PKG', 'gd', 'x1'), 'pkg-gd-d', 'apply: the diff the task counts');
is(col('OTA_KEY_BATCH_PSIZE', 'gd', 'x1'), 200, '  and its size');
is(col('OTA_KEY_BATCH_COVERED', 'gd', 'x1'), 150, '  covered of the diff');
ok(!defined col('OTA_KEY_BATCH_PKG', 'gd', 'x2'), '  a task on the full package has none');
$r = lookup(ask => [ { device => 'x1', module => 'm' }, { device => 'x2', module => 'm' } ]);
my @lt = map { [ split /\Q$W{OTA_LOOKUP_SEP}\E/, $r->[$W{OTA_LOOKUP_R_TASKS} + $_], -1 ] } 0, 1;
is($lt[0][$W{OTA_LOOKUP_T_PKG}], 'pkg-gd-d', 'lookup: the task\'s diff');
is($lt[0][$W{OTA_LOOKUP_T_PKGSIZE}], '200', '  with its size');
is($lt[1][$W{OTA_LOOKUP_T_PKG}], '', '  none for a task on the full package');
is($r->[$W{OTA_LOOKUP_R_BATCHES}][$W{OTA_LOOKUP_B_DIFFS}], "pkg-gd-d${\ $W{OTA_LOOKUP_DSEP}}200",
   '  the batch\'s diffs from the package\'s index, with their sizes');
apply(now => $now, tasks => [
    { device => 'x1', batch => 'gd', expected => 'downloading', new => 'downloading',
      covered => 40, pkg => $W{OTA_APPLY_PKG_FULL} } ]);
ok(!defined col('OTA_KEY_BATCH_PKG', 'gd', 'x1'), 'apply: a fallback clears the diff');
ok(!defined col('OTA_KEY_BATCH_PSIZE', 'gd', 'x1'), '  and its size');
is(col('OTA_KEY_BATCH_COVERED', 'gd', 'x1'), 40, '  covered counts the full package (lower)');
apply(now => $now, tasks => [
    { device => 'x1', batch => 'gd', expected => 'downloading', new => 'downloading',
      covered => 30 } ]);
is(col('OTA_KEY_BATCH_COVERED', 'gd', 'x1'), 40, '  but never lowered without a change of package');
my @win = ({ device => 'x3', batch => 'gd', expected => 'pending', new => 'succeeded',
             saved => 800 });
apply(now => $now, tasks => \@win);
is(rb('gd', 'bytes_saved'), 800, 'apply: bytes saved with the move to succeeded');
is(rb('gd', 'diff_succeeded'), 1, '  one device upgraded with a diff');
(undef, $res) = apply(now => $now, tasks => \@win);
is($res->{1}, 'succeeded', '  a replay conflicts');
is(rb('gd', 'bytes_saved'), 800, '  and counts nothing twice');

# OTA_APPLY_MORE: every rare value of one task in one argument, each to
# its place (pkg, saved, psize, reason), beside a task without them
batch('gm', devices => [qw(y1 y2)]);
R(HSET => K('OTA_KEY_PACKAGE', 'pkg-gm-d'), id => 'pkg-gm-d', type => 'diff', size => 300);
(undef, $res) = apply(now => $now, tasks => [
    { device => 'y1', batch => 'gm', expected => 'pending', new => 'failed', covered => 20,
      pkg => 'pkg-gm-d', psize => 300, saved => 700, reason => 'verify_failed' },
    { device => 'y2', batch => 'gm', expected => 'pending', new => 'downloading', covered => 10 } ]);
is_deeply($res, {}, 'apply: a task with every rare value goes as decided');
is(col('OTA_KEY_BATCH_PKG', 'gm', 'y1'), 'pkg-gm-d', '  its diff');
is(col('OTA_KEY_BATCH_PSIZE', 'gm', 'y1'), 300, '  the diff\'s size');
is(col('OTA_KEY_BATCH_REASON', 'gm', 'y1'), 'verify_failed', '  its reason');
is(H(K('OTA_KEY_BATCH_FAILURES', 'gm'))->{verify_failed}, 1, '  counted once among the failures');
ok(!defined rb('gm', 'bytes_saved'), '  saved bytes only with a move to succeeded');
is(col('OTA_KEY_BATCH_COVERED', 'gm', 'y1'), 20, '  covered of the diff');
ok(!defined col('OTA_KEY_BATCH_PKG', 'gm', 'y2') && !defined col('OTA_KEY_BATCH_REASON', 'gm', 'y2'),
   '  the task beside it has none of them');
is(col('OTA_KEY_BATCH_COVERED', 'gm', 'y2'), 10, '  and its covered');

$t->stop;
done_testing;
