# The module's coverage merge script on its own against a real
# redis-server, held against ota_cov_add() (include/ota_cov.c, the C rule
# the module keeps its unsent ranges with): random calls of random ranges
# (overlapping, touching, inside others, out of the package's bounds), with
# a small limit so that ranges are dropped too, go to both; after every
# call the script's answer {covered, added, dropped} and its ZSET must be
# exactly what build/unit/cov_replay computes with ota_cov_add().  The
# script is the text Redis runs (build/lua/module/merge.lua).

use strict;
use warnings;
use Test::More;
use IPC::Open2;
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(no_nginx => 1);
sub R { $t->redis(@_) }

my $f = "$OtaTest::BUILD/lua/module/merge.lua";
open my $fh, '<', $f or die "$f: $! (build first)\n";
my $merge = do { local $/; <$fh> };
close $fh;
my $replay = "$OtaTest::BUILD/unit/cov_replay";
-x $replay or die "$replay: build first\n";

# a fixed seed by default: the same calls every run (a random one left a
# case of the tiny package with nothing dropped); OTA_SEED=time explores
my $seed = $ENV{OTA_SEED} // 20261202;
$seed = time if $seed eq "time";
srand($seed);
diag("seed $seed (OTA_SEED= repeats it)");

# one device and package per case: size, limit, calls
my @cases = (
    [ 1000, 128, 60, 'bounded far away' ],
    [ 5000, 6, 80, 'a small limit: ranges dropped' ],
    [ 300, 3, 80, 'tiny package, tiny limit' ],
    [ 1 << 40, 16, 40, 'large offsets' ],
);

my $case = 0;
for my $c (@cases) {
    my ($size, $limit, $calls, $what) = @$c;
    $case++;
    my $cov = OtaTest::key('OTA_KEY_COVERAGE', "dev$case", "pkg$case");
    my $covn = OtaTest::key('OTA_KEY_COVERED', "dev$case", "pkg$case");
    my $pid = open2(my $out, my $in, $replay, $size, $limit) or die "$replay: $!\n";
    my ($same, $dropped, $n) = (1, 0, 0);
    for my $k (1 .. $calls) {
        my @r;
        for (1 .. 1 + int rand 12) {
            my $s = int(rand($size + 20)) - 10;
            my $len = rand() < 0.3 ? 1 + int rand 3            # small, touching
                    : int(rand($size / (rand() < 0.5 ? 50 : 4)) + 1);
            $s = $r[-2] + 0 if @r && rand() < 0.15;           # same start again
            push @r, $s, $s + $len;
        }
        print {$in} "@r\n";
        my $want = <$out>;
        chomp $want;
        my $got = R('EVAL', $merge, 2, $cov, $covn, $size, $limit, @r);
        my $set = R('ZRANGE', $cov, 0, -1);
        my $line = join ' ', @$got, @$set;
        $n++;
        $dropped += $got->[2];
        if ($line ne $want) {
            $same = 0;
            diag("call $k of case $case: @r");
            diag("  script: $line");
            diag("  C:      $want");
            last;
        }
    }
    close $in;
    waitpid $pid, 0;
    ok($same, "$what: the script answers as ota_cov_add() in $n calls");
    diag("  case $case: $dropped ranges dropped by a full set") if $limit < 10;
    ok(R('ZCARD', $cov) <= $limit, "  the set stays within its limit ($limit)");
}

# a full set drops a range that would need a member of its own, and only it
# (the random cases may cover their package before their set fills)
{
    my $cov = OtaTest::key('OTA_KEY_COVERAGE', 'full', 'p');
    my $covn = OtaTest::key('OTA_KEY_COVERED', 'full', 'p');
    my $got = R('EVAL', $merge, 2, $cov, $covn, 1000, 2, 0, 10, 100, 110, 500, 520, 110, 120);
    is_deeply($got, [30, 30, 1], 'a full set of 2: the third island dropped, an extension kept');
    is_deeply(R('ZRANGE', $cov, 0, -1), ['0-10', '100-120'], '  the set as it was, extended');
}

# a download in order, in pieces: one member, every byte counted once
my $cov = OtaTest::key('OTA_KEY_COVERAGE', 'seq', 'p');
my $covn = OtaTest::key('OTA_KEY_COVERED', 'seq', 'p');
my $r;
for (my $s = 0; $s < 100_000; $s += 7_000) {
    $r = R('EVAL', $merge, 2, $cov, $covn, 100_000, 2, $s, $s + 7_000, $s, $s + 10);
}
is_deeply($r, [100_000, 2_000, 0], 'a sequential download completes (the last call adds its rest)');
is_deeply(R('ZRANGE', $cov, 0, -1), ['0-100000'], '  as one range');
is(R('GET', $covn), 100_000, '  the count kept beside it');

$t->stop;
done_testing;
