# POST /ota/v1/auth: the device signature, the timestamp window, the replay
# guard, and every malformed request: the right status, a JSON reason, and
# nothing changed in Redis.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Time::HiRes qw(time);

my $t = OtaTest->new(http_extra => 'ota_auth_window 60s; ota_token_ttl 600s;');
ok($t->wait_nginx_redis, "nginx workers connected to Redis");

my $secret = $t->fx_device('dev-1', 'prodA');
$t->fx_device('dev-2', 'prodB');

sub now_ms { int(time * 1000) }

sub auth {
    my (%b) = @_;
    return $t->http(POST => '/ota/v1/auth', json => \%b);
}

sub signed {
    my ($dev, $prod, $ts, $sec) = @_;
    return (product => $prod, device => $dev, timestamp => $ts,
            sign => OtaTest::auth_sign($sec // $secret, $dev, $prod, $ts));
}

# ---- success ---------------------------------------------------------------------

my $ts = now_ms();
my $r = auth(signed('dev-1', 'prodA', "$ts"));
is($r->{status}, 200, 'good sign: 200');
like($r->{json}{token}, qr/^1~\d+~prodA~dev-1~[0-9a-f]{64}$/, 'a token');
is($r->{json}{expires_in}, 600, 'expires_in is ota_token_ttl');
my ($exp) = $r->{json}{token} =~ /^1~(\d+)~/;
ok(abs($exp - (time + 600)) < 5, 'the token expires ota_token_ttl from now');
is($t->redis(EXISTS => OtaTest::key('OTA_KEY_AUTH_NONCE', 'dev-1', $ts)), 1,
   'the timestamp is remembered');
my $ttl = $t->redis(TTL => OtaTest::key('OTA_KEY_AUTH_NONCE', 'dev-1', $ts));
ok($ttl > 60 && $ttl <= 120, "for twice the window ($ttl s)");

# the token works on the device API (upgrade: 204, no task)
$r = $t->http(GET => '/ota/v1/upgrade',
              headers => { Authorization => "Bearer $r->{json}{token}" });
is($r->{status}, 204, 'the token is accepted by upgrade');

# timestamp as a JSON number, upper-case hex sign
$ts = now_ms() + 1;
my %b = signed('dev-1', 'prodA', $ts);
$b{timestamp} = $ts + 0;
$b{sign} = uc $b{sign};
$r = auth(%b);
is($r->{status}, 200, 'numeric timestamp and upper-case sign: 200');

# ---- refusals: 401, one message, nothing changed --------------------------------------

my @refused = (
    [ 'replayed timestamp',  sub { signed('dev-1', 'prodA', "$ts") } ],
    [ 'wrong secret',        sub { signed('dev-1', 'prodA', now_ms() + 2, 'ab' x 32) } ],
    [ 'stale timestamp',     sub { signed('dev-1', 'prodA', now_ms() - 120_000) } ],
    [ 'future timestamp',    sub { signed('dev-1', 'prodA', now_ms() + 120_000) } ],
    [ 'unknown device',      sub { signed('dev-9', 'prodA', now_ms() + 3) } ],
    [ 'device of another product', sub { signed('dev-2', 'prodA', now_ms() + 4) } ],
    [ 'sign for other fields', sub { my %x = signed('dev-1', 'prodA', now_ms() + 5);
                                     $x{timestamp} = now_ms() + 6; %x } ],
    [ 'sign not hex',        sub { my %x = signed('dev-1', 'prodA', now_ms() + 7);
                                   $x{sign} = 'z' x 64; %x } ],
    [ 'short sign',          sub { my %x = signed('dev-1', 'prodA', now_ms() + 8);
                                   $x{sign} = substr($x{sign}, 0, 63); %x } ],
);

my $msg;
for my $case (@refused) {
    my ($name, $make) = @$case;
    my $before = $t->redis_snapshot;
    $r = auth($make->());
    is($r->{status}, 401, "$name: 401");
    is($r->{json}{code}, 401, "$name: JSON code");
    $msg //= $r->{json}{message};
    is($r->{json}{message}, $msg, "$name: the same reason as every 401");
    is_deeply($t->redis_snapshot, $before, "$name: Redis unchanged");
}
like($msg, qr/authentication failed/, 'the 401 reason');
ok(!exists $r->{json}{token}, 'no token in a refusal');

# a replay is refused even within the window, and the first use still works
$ts = now_ms() + 10;
is(auth(signed('dev-1', 'prodA', "$ts"))->{status}, 200, 'fresh timestamp');
is(auth(signed('dev-1', 'prodA', "$ts"))->{status}, 401, 'same one again: 401');

# ---- malformed: 400 -----------------------------------------------------------------------

my %good = signed('dev-1', 'prodA', now_ms() + 20);
my @bad = (
    [ 'not JSON',           body => '{"product":' ],
    [ 'JSON array',         body => '[1,2]' ],
    [ 'empty body',         body => '' ],
    [ 'missing device',     json => { %good, device => undef } ],
    [ 'missing sign',       json => { map { $_ => $good{$_} } qw(product device timestamp) } ],
    [ 'missing timestamp',  json => { map { $_ => $good{$_} } qw(product device sign) } ],
    [ 'device a number',    json => { %good, device => 12 } ],
    [ 'product an object',  json => { %good, product => { a => 1 } } ],
    [ 'timestamp a float',  json => { %good, timestamp => 1.5 } ],
    [ 'timestamp negative', json => { %good, timestamp => -5 } ],
    [ 'timestamp letters',  json => { %good, timestamp => '12ab' } ],
    [ 'timestamp bool',     json => { %good, timestamp => JSON::PP::true } ],
    [ 'device with a slash', json => { %good, device => '../x' } ],
    [ 'product too long',   json => { %good, product => 'p' x 65 } ],
    [ 'duplicate keys',     body => '{"device":"dev-1","device":"dev-2"}' ],
);

for my $case (@bad) {
    my ($name, $kind, $body) = @$case;
    if ($kind eq 'json') {
        delete $body->{$_} for grep { !defined $body->{$_} } keys %$body;
    }
    my $before = $t->redis_snapshot;
    $r = $t->http(POST => '/ota/v1/auth', $kind => $body,
                  headers => { 'Content-Type' => 'application/json' });
    is($r->{status}, 400, "$name: 400");
    is($r->{json}{code}, 400, "$name: JSON code");
    ok(length($r->{json}{message} // ''), "$name: a reason ($r->{json}{message})");
    is_deeply($t->redis_snapshot, $before, "$name: Redis unchanged");
}

# oversized body: 413 (ota_body_max 16k by default)
$r = $t->http(POST => '/ota/v1/auth',
              json => { %good, pad => 'x' x (17 * 1024) });
is($r->{status}, 413, 'oversized body: 413');
is($r->{json}{code}, 413, 'JSON code');

# wrong method
is($t->http(GET => '/ota/v1/auth')->{status}, 405, 'GET auth: 405');

# ---- metrics count successes and failures -------------------------------------------

$r = $t->http(GET => '/ota/admin/metrics',
              headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" });
my ($ok) = $r->{content} =~ /^ota_auth_ok_total (\d+)/m;
my ($fail) = $r->{content} =~ /^ota_auth_failures_total (\d+)/m;
is($ok, 3, 'ota_auth_ok_total counts the successes');
is($fail, scalar(@refused) + 1, 'ota_auth_failures_total counts the 401s');

# ---- Redis down: 503 with Retry-After, and back again ----------------------------------

$t->stop_redis;
$r = auth(signed('dev-1', 'prodA', now_ms() + 30));
is($r->{status}, 503, 'Redis down: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
is($r->{json}{code}, 503, 'JSON code');

$t->start_redis;
$secret = $t->fx_device('dev-1', 'prodA');
my $st = $t->wait_for(sub {
    my $x = auth(signed('dev-1', 'prodA', now_ms()));
    $x->{status} == 200 ? 200 : 0;
}, 15);
is($st, 200, 'Redis back: auth works again');

$t->stop;
done_testing;
