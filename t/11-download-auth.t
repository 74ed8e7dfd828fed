# Who may download: signed links (forged, expired, wrong device, wrong
# package, malformed), bearer tokens with and without an open task for the
# package, and what a refusal leaves behind (nothing in Redis, a JSON reason,
# a counted failure).  Redis away: bearer downloads get 503 + Retry-After,
# signed links keep working.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new;

my $pkg = $t->make_package('pkgA', files => [ 'fw.bin' => 20_000 ],
                           product => 'prodX', module => 'mcu');
my $other = $t->make_package('pkgB', files => [ 'fw.bin' => 1_000 ],
                             product => 'prodX', module => 'mcu');
my $data = $pkg->{files}[0]{data};


sub refused {
    my ($r, $status, $why, $what) = @_;
    is($r->{status}, $status, "$what: $status");
    is($r->{json}{code}, $status, "$what: JSON code");
    like($r->{json}{message} // '', $why, "$what: reason");
    ok(!defined $r->{headers}{'x-ota-sign'}, "$what: no package header");
}

my $failures0 = $t->metric('ota_auth_failures_total');
my $before = $t->redis_snapshot;

# ---- signed links ---------------------------------------------------------------

my $exp = time + 600;
my $good = $t->link_sign('pkgA', 'dev1', $exp);
my $base = '/ota/v1/packages/pkgA';

my $r = $t->http(GET => "$base?device=dev1&expires=$exp&signature=$good");
is($r->{status}, 200, 'a good signed link: 200');
ok($r->{content} eq $data, 'the file');

$r = $t->http(GET => "$base?device=dev1&expires=$exp&signature=" . uc $good);
is($r->{status}, 200, 'hex case does not matter');

# the successful downloads above wrote progress: compare from here on
sleep 1.5;
$before = $t->redis_snapshot;

my $forged = $good;
substr($forged, 10, 1) = substr($forged, 10, 1) eq 'a' ? 'b' : 'a';
refused($t->http(GET => "$base?device=dev1&expires=$exp&signature=$forged"),
        401, qr/signature does not match/, 'forged signature');

refused($t->http(GET => "$base?device=dev2&expires=$exp&signature=$good"),
        401, qr/signature does not match/, 'link of another device');

refused($t->http(GET => "/ota/v1/packages/pkgB?device=dev1&expires=$exp&signature=$good"),
        401, qr/signature does not match/, 'link of another package');

my $later = $exp + 1;
refused($t->http(GET => "$base?device=dev1&expires=$later&signature=$good"),
        401, qr/signature does not match/, 'expiry pushed later');

my $past = time - 10;
my $old = $t->link_sign('pkgA', 'dev1', $past);
refused($t->http(GET => "$base?device=dev1&expires=$past&signature=$old"),
        401, qr/expired/, 'expired link (genuine signature)');

# a link that worked (and is remembered by the worker) stops at its expiry
my $soon = int(time) + 2;
my $ssig = $t->link_sign('pkgA', 'dev1', $soon);
is($t->http(GET => "$base?device=dev1&expires=$soon&signature=$ssig")->{status},
   200, 'a link about to expire works');
sleep 3.2;
refused($t->http(GET => "$base?device=dev1&expires=$soon&signature=$ssig"),
        401, qr/expired/, 'the same link after its expiry');

refused($t->http(GET => "$base?device=dev1&expires=$exp"),
        401, qr/needs "device", "expires" and "signature"/, 'no signature');

refused($t->http(GET => "$base?device=dev1&expires=soon&signature=$good"),
        401, qr/malformed|does not match/, 'expires is not a number');

refused($t->http(GET => "$base?device=../x&expires=$exp&signature=$good"),
        401, qr/malformed "device"/, 'device name with a path');

refused($t->http(GET => "$base?device=dev1&expires=$exp&signature=zz"),
        401, qr/malformed|does not match/, 'signature not hex');

refused($t->http(GET => $base), 401, qr/missing credentials/, 'no credentials at all');
is($t->http(GET => $base)->{headers}{'www-authenticate'}, 'Bearer realm="ota"',
   '401 says how to authenticate');

# ---- bearer tokens -------------------------------------------------------------------

my $tok = $t->bearer_token('dev1', 'prodX');

refused($t->http(GET => $base, headers => { Authorization => "Bearer $tok" }),
        403, qr/no open task/, 'valid token, no task');

# a task for pkgB (another package of the same module)
$t->fx_batch(id => 'b-other', package => $other, devices => ['dev1']);
refused($t->http(GET => $base, headers => { Authorization => "Bearer $tok" }),
        403, qr/another package/, 'valid token, the open task is for another package');

my $bad = $tok;
substr($bad, -3, 1) = substr($bad, -3, 1) eq '0' ? '1' : '0';
refused($t->http(GET => $base, headers => { Authorization => "Bearer $bad" }),
        401, qr/signature/, 'forged token');

refused($t->http(GET => $base, headers => {
            Authorization => 'Bearer ' . $t->bearer_token('dev1', 'prodX', time - 5) }),
        401, qr/expired/, 'expired token');

refused($t->http(GET => $base, headers => {
            Authorization => 'Bearer ' . $t->bearer_token('dev1', 'prodY') }),
        403, qr/another product/, 'token of another product');

refused($t->http(GET => $base, headers => { Authorization => 'Basic Zm9vOmJhcg==' }),
        401, qr/Bearer/, 'not a bearer header');

# nothing the refusals did is in Redis: only the fixture's task keys changed
sleep 1.3;
my $after = $t->redis_snapshot;
my @changed = grep { !defined $before->{$_} || !defined $after->{$_}
                     || $before->{$_} ne $after->{$_} }
              (keys %$before, keys %$after);
my %seen;
@changed = sort grep { !$seen{$_}++ && !/b-other|:open$|^ota:batch/ } @changed;
is_deeply(\@changed, [], 'refused downloads wrote nothing to Redis');

my $failures = $t->metric('ota_auth_failures_total');
cmp_ok($failures - $failures0, '>=', 15, "every refusal is counted ($failures)");

# with a task for pkgA the token works
$t->fx_batch(id => 'b-ok', package => $pkg, devices => ['dev7']);
my $tok7 = $t->bearer_token('dev7', 'prodX');
$r = $t->http(GET => $base, headers => { Authorization => "Bearer $tok7" });
is($r->{status}, 200, 'token of a device with an open task for the package: 200');
ok($r->{content} eq $data, 'the file');
$r = $t->http(GET => $base, headers => { Authorization => "Bearer $tok7",
                                         Range => 'bytes=10-19' });
is($r->{status}, 206, 'ranges work with bearer tokens too');
ok($r->{content} eq substr($data, 10, 10), 'the right bytes');
my $cov = $t->wait_for(sub { ($t->coverage('dev7', 'pkgA'))[1] });
is($cov, 20_000, 'and the progress is counted for the token\'s device');

# a finished task is no longer open
$t->redis(HDEL => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'dev7'), 'mcu');
refused($t->http(GET => $base, headers => { Authorization => "Bearer $tok7" }),
        403, qr/no open task/, 'the task closed: 403');

# ---- Redis away --------------------------------------------------------------------------

$t->stop_redis;

my $t0 = time;
$r = $t->http(GET => $base, headers => { Authorization => "Bearer $tok7" });
is($r->{status}, 503, 'bearer without Redis: 503');
ok(defined $r->{headers}{'retry-after'}, 'with Retry-After');
is($r->{json}{code}, 503, 'JSON 503');
cmp_ok(time - $t0, '<', 3, 'answered at once, nothing hangs');

$r = $t->http(GET => "$base?device=dev1&expires=$exp&signature=$good");
is($r->{status}, 200, 'signed link without Redis: 200');
ok($r->{content} eq $data, 'the whole file');

refused($t->http(GET => "$base?device=dev1&expires=$exp&signature=$forged"),
        401, qr/signature does not match/, 'forged link without Redis: still 401');

$t->start_redis;
$t->stop;
done_testing;
