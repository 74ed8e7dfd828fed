# A fleet (issue 14): a few thousand devices run whole sessions at once
# through bench/fleet/ota_fleet.c (keep-alive connections; auth, inform,
# upgrade, the download in 1..4 random range pieces from a fixed seed,
# progress 100, inform of the new version), against real nginx, Redis and
# ota-worker.  Every device must end succeeded with covered == size, and
# otactl and the admin API must say so alike.  Under make test-debug
# (nginx's debug log) the fleet is smaller: the log would be gigabytes.

use strict;
use warnings;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't/lib';
use OtaTest;

my $debug = ($ENV{OTA_NGINX_LOG} // '') eq 'debug';
my $n = $ENV{OTA_FLEET_DEVICES} // ($debug ? 300 : 3000);
my $conc = $ENV{OTA_FLEET_CONCURRENCY} // 200;
my $fleet = "$OtaTest::BUILD/ota-fleet";
ok(-x $fleet, 'the fleet client is built') or BAIL_OUT('make fleet');

my $t = OtaTest->new(worker => 1, http_extra => 'access_log off;');
ok($t->wait_nginx_redis, 'nginx connected to Redis');

# the devices, as otactl device add writes them; the package and the
# batch through otactl and the worker
my $list = $t->dir . '/devices.txt';
open my $fh, '>', $list or die;
for my $i (1 .. $n) {
    my $d = sprintf 'fleet-%05d', $i;
    my $sec = $t->fx_device($d, 'fp');
    print {$fh} "$d $sec\n";
}
close $fh;
my $size = 150_000;
my $file = $t->dir . '/fp-2.0.0.bin';
OtaTest::write_file($file, join '', map { chr(($_ * 7 + 3) % 256) } 1 .. $size);
my ($rc, $out, $err) = $t->otactl('package', 'add', $file, qw(--product fp --module default
                                  --name fw --version 2.0.0));
is($rc, 0, 'package added') or diag($err);
chomp(my $pkg = $out);
($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg,
                               qw(--type upgrade --name fleet --wait 60));
is($rc, 0, 'batch created') or diag($err);
chomp(my $batch = $out);
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', $batch), 'total'), $n, "$n tasks");

# ---- the fleet ------------------------------------------------------------------------

my $t0 = time;
($rc, $out, $err) = $t->run_cmd({}, 'timeout', '600', $fleet, '--port', $t->port,
                                '--devices', $list, '--product', 'fp', '--to', '2.0.0',
                                '--concurrency', $conc, '--pieces', 4, '--seed', 14,
                                '--json');
my $res = eval { decode_json($out) } // {};
is($rc, 0, 'every session went through') or diag("$err$out");
is($res->{ok}, $n, "$n sessions succeeded ($res->{requests} requests in "
   . sprintf('%.1f', $res->{seconds} // 0) . ' s)');
cmp_ok($res->{requests}, '>=', $n * 6, 'at least six requests per session');
cmp_ok($res->{requests}, '>', $n * 6 + $n / 2, 'most downloads in more than one piece');
is($res->{bytes}, $n * $size, 'every byte of every download arrived once');

ok($t->wait_for(sub { $t->drained }, 120), 'the worker applied every event');
# the last merges may answer a moment after the sessions ended (the tails
# of the last pieces are learnt a few ms later): wait for their events too
my $tasks = OtaTest::key('OTA_KEY_BATCH_COVERED', $batch);
$t->wait_for(sub {
    my $v = $t->redis(HVALS => $tasks) // [];
    return @$v == $n && !grep { $_ != $size } @$v;
}, 20);
ok($t->wait_for(sub { $t->drained }, 60), 'and the events that came after');
if ($ENV{OTA_FLEET_DEBUG}) {
    my $cov = { @{ $t->redis(HGETALL => $tasks) // [] } };
    my ($bad) = grep { ($cov->{$_} // 0) != $size } map { sprintf 'fleet-%05d', $_ } 1 .. $n;
    if ($bad) {
        diag("device $bad: covered " . ($cov->{$bad} // 'none'));
        for my $e (@{ $t->redis(XRANGE => 'ota:events', '-', '+') }) {
            my %f = @{ $e->[1] };
            diag("  $e->[0] " . join ' ', map { "$_=$f{$_}" } sort keys %f)
                if ($f{device} // '') eq $bad;
        }
    }
}
diag(sprintf 'fleet of %d: %.1f s for the sessions, %.1f s with the worker',
     $n, $res->{seconds} // 0, time - $t0);

# ---- the outcome, as otactl and the admin API tell it -----------------------------------

($rc, $out, $err) = $t->otactl('--json', 'batch', 'show', $batch, '--devices');
my $j = eval { decode_json($out) } // {};
is($j->{counts}{succeeded}, $n, "otactl: $n succeeded");
is($j->{total}, $n, 'of a total of as many');
is($j->{success_rate}, 1, 'success rate 1');
my @cli = @{ $j->{devices} // [] };
is(scalar @cli, $n, 'otactl lists every device');
my @bad = grep { $_->{state} ne 'succeeded' || $_->{covered} != $size || $_->{progress} != 100 } @cli;
is(scalar @bad, 0, 'otactl: every device succeeded with covered == size (100 %)')
    or diag(join "\n", map { "$_->{device} $_->{state} $_->{covered} $_->{progress}" } @bad[0 .. ($#bad < 9 ? $#bad : 9)]);

my %auth = (Authorization => "Bearer $OtaTest::ADMIN_TOKEN");
my $a = $t->http(GET => "/ota/admin/batches/$batch", headers => \%auth)->{json};
is($a->{counts}{succeeded}, $n, "admin API: $n succeeded");
is_deeply($a->{counts}, $j->{counts}, 'admin API and otactl: the same counts');
my @api;
for (my $off = 0; $off < $n; $off += 1000) {
    my $p = $t->http(GET => "/ota/admin/batches/$batch/devices?offset=$off&limit=1000",
                     headers => \%auth)->{json};
    push @api, @{ $p->{devices} // [] };
}
is(scalar @api, $n, 'the admin API lists every device');
@bad = grep { $_->{state} ne 'succeeded' || $_->{covered} != $size || $_->{progress} != 100 } @api;
is(scalar @bad, 0, 'admin API: every device succeeded with covered == size (100 %)')
    or diag(join "\n", map { "$_->{device} $_->{state} $_->{covered} $_->{progress}" } @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
my %cli = map { $_->{device} => "$_->{state} $_->{covered} $_->{progress}" } @cli;
my @diff = grep { ($cli{ $_->{device} } // '') ne "$_->{state} $_->{covered} $_->{progress}" } @api;
is(scalar @diff, 0, 'otactl and the admin API agree on every device');

# the coverage in Redis: one range per device, the whole package
my $whole = 0;
for my $c (@cli) {
    my $z = $t->redis(ZRANGE => OtaTest::key('OTA_KEY_COVERAGE', $c->{device}, $pkg), 0, -1);
    $whole++ if @$z == 1 && $z->[0] eq "0-$size";
}
is($whole, $n, 'Redis: every device covers 0-size in one range');

$t->stop;
done_testing;
