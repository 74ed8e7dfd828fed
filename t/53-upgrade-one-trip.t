# GET /ota/v1/upgrade asks the batch this process last saw open for the
# product's module with the device's open task (step 0, one round trip;
# ngx_ota_api_upgrade.c): the hint only chooses what is read, every
# answer is made of replies read for it.  A device whose open batch is
# another one gets its own batch's offer, one with nothing open 204 (and
# the hint is dropped: the next device pays no wasted reads), a batch
# paused or its waves moved between two answers is seen at once, and a
# diff added to the package after the process saw it without diffs is
# offered (found by HLEN, then the device's version asked), but not to a
# task that already counts bytes of the full package (covered and pkg,
# asked only when there are diffs).  One worker process, debug log, so
# that the hinted path is the one answering.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;

my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug');
my %tok;
for my $d (qw(a1 a2 a3 a4 b1 n1)) {
    my $sec = $t->fx_device($d, 'prodH');
    $tok{$d} = $t->device_token($d, 'prodH', $sec);
}
$t->fx_module('prodH', 'MCU');

my $pa = $t->fx_package(id => 'pH-a', product => 'prodH', module => 'MCU',
                        version => '2.0.0', files => [[ 'fw.bin' => 'a' x 2000 ]]);
my $pb = $t->fx_package(id => 'pH-b', product => 'prodH', module => 'MCU',
                        version => '3.0.0', files => [[ 'fw.bin' => 'b' x 3000 ]]);
$t->fx_batch(id => 'bA', package => $pa, devices => [qw(a1 a2 a3 a4)]);
$t->fx_batch(id => 'bB', package => $pb, devices => ['b1']);

sub upgrade {
    my ($dev, $module) = @_;
    return $t->http(GET => '/ota/v1/upgrade?module=' . ($module // 'MCU'),
                    headers => { Authorization => "Bearer $tok{$dev}" });
}

sub offer {
    my ($dev) = @_;
    my $r = upgrade($dev);
    return $r->{status} != 200 ? $r->{status}
         : join ' ', map { $_ // '-' } @{ $r->{json} }{qw(batch package)},
                     $r->{json}{fallback} ? $r->{json}{fallback}{package} : ();
}

sub log_count {
    my ($re) = @_;
    my $n = () = $t->error_log =~ /$re/g;
    return $n;
}

my $asked = qr/ota upgrade: batch "bA" read with the open task/;

# ---- the hint and devices of another batch ---------------------------------------

is(offer('a1'), 'bA pH-a', 'a1: its batch (first sight: two round trips)');
is(log_count($asked), 0, '  not from a hint');
is(offer('a2'), 'bA pH-a', 'a2: the same batch');
is(log_count($asked), 1, '  read with the open task (one round trip)');
is(offer('b1'), 'bB pH-b', 'b1, open in another batch: its own offer');
like($t->error_log, qr/device "b1": open batch is not "bA" as hinted/,
     '  the hint was seen to be wrong');
is(offer('a3'), 'bA pH-a', 'a3 after b1 (hint bB): bA');
is(offer('b1'), 'bB pH-b', 'b1 again (hint bA): bB');
is(upgrade('a1', 'nope')->{status}, 404, 'a module the product does not have: 404');

# nothing open: 204, and the hint is dropped
is(offer('a4'), 'bA pH-a', 'a4: bA (the hint was bB)');
my $n = log_count(qr/asked with the open task/);
is(offer('n1'), 204, 'n1 has nothing open: 204');
is(log_count(qr/asked with the open task/), $n + 1, '  (it was asked with a hint)');
is(offer('a1'), 'bA pH-a', 'a1 after it: bA');
is(log_count(qr/asked with the open task/), $n + 1,
   '  without a hint: dropped after the miss');
is(offer('n1'), 204, 'n1 again: 204');
is(offer('a2'), 'bA pH-a', 'a2: bA');

# ---- the batch's state and waves, read with the hint -------------------------------

my $bk = OtaTest::key('OTA_KEY_BATCH', 'bA');
$n = log_count($asked);
$t->redis(HSET => $bk, state => 'paused');
is(offer('a2'), 204, 'bA paused: 204 at once');
$t->redis(HSET => $bk, state => 'running');
is(offer('a2'), 'bA pH-a', 'resumed: the offer again');
$t->redis(HSET => $bk, wave_upto => 1);
my $redo = qr/batch "bA" has waves: read again with the device's rank/;
is(offer('a2'), 204, 'waves open to rank 1: a2 (rank 2, pending) waits');
is(log_count($redo), 1, '  the hint said no waves: read again with the rank');
is(offer('a3'), 204, '  a3 (rank 3) waits');
is(offer('a1'), 'bA pH-a', '  a1 (rank 1) is offered');
is(log_count($redo), 1, '  both with the rank asked at once (waves remembered)');
$t->redis(HSET => $bk, wave_upto => 2);
is(offer('a2'), 'bA pH-a', 'waves open to rank 2: a2 is offered');
$t->redis(HDEL => $bk, 'wave_upto');
ok(log_count($asked) >= $n + 6, '  all with the hinted reads');
is(offer('a4'), 'bA pH-a', 'no waves again: a4 is offered');

# ---- a diff added after the process saw the package without any ------------------

$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $_), MCU => '1.0.0')
    for qw(a1 a2 a3);
# a2 has already counted bytes of the full package: no diff for it
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH_COVERED', 'bA'), a2 => 500);
is(offer('a2'), 'bA pH-a', 'a2 at 1.0.0, no diff yet: the full package');
is(offer('a3'), 'bA pH-a', 'a3 at 1.0.0, no diff yet: the full package');

$t->fx_package(id => 'pH-d', product => 'prodH', module => 'MCU',
               version => '2.0.0', type => 'diff', from => '1.0.0',
               files => [[ 'fw.bin.zst' => 'z' x 50 ]]);
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', 'pH-a'), '1.0.0' => 'pH-d');
$n = log_count(qr/package "pH-a" has 1 diffs/);
is(offer('a2'), 'bA pH-a', 'a diff added: a2, counting the full package, keeps it');
is(log_count(qr/package "pH-a" has 1 diffs/), $n + 1, '  the diff was found by HLEN');
is(offer('a3'), 'bA pH-d pH-a', 'a3 at 1.0.0: the diff, the full package as fallback');
is(offer('a1'), 'bA pH-d pH-a', 'a1 at 1.0.0: the diff');
is(offer('a2'), 'bA pH-a', 'a2 again (the package known with diffs): the full one');
is(offer('a4'), 'bA pH-a', 'a4 (no version reported): the full package');
$t->redis(HDEL => OtaTest::key('OTA_KEY_PACKAGE_DIFFS', 'pH-a'), '1.0.0');
is(offer('a3'), 'bA pH-a', 'the diff removed: the full package');
is(offer('b1'), 'bB pH-b', 'b1 still its own');

unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts in the error log');

done_testing();
