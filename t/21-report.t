# POST /ota/v1/inform and POST /ota/v1/progress: the flat and the
# Alibaba/SagooIOT shapes become one event each on the events stream; every
# bad token, shape, version, module, step or desc is refused with the
# documented status and a JSON reason, and changes nothing in Redis.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Digest::SHA qw(hmac_sha256_hex);
use Time::HiRes qw(time);

my $t = OtaTest->new;
my $events = OtaTest::key('OTA_STREAM_EVENTS');

my $secret = $t->fx_device('dev-1', 'prodA');
$t->fx_module('prodA', 'MCU');
my $tok = $t->device_token('dev-1', 'prodA', $secret);
ok($tok, 'device token');

sub post {
    my ($path, $body, %o) = @_;
    my %h = (Authorization => "Bearer " . ($o{token} // $tok));
    delete $h{Authorization} if $o{no_token};
    return $t->http(POST => $path, headers => \%h,
                    (ref $body ? (json => $body) : (body => $body)));
}

# the last event as a hash (without the stream id)
sub last_event {
    my $e = $t->redis(XREVRANGE => $events, '+', '-', 'COUNT', 1);
    return undef unless $e && @$e;
    return { @{ $e->[0][1] } };
}

sub xlen { $t->redis(XLEN => $events) }

# ---- inform ------------------------------------------------------------------------

my $r = post('/ota/v1/inform', { module => 'default', version => '1.0.0' });
is($r->{status}, 200, 'flat inform: 200');
is_deeply($r->{json}, { code => 200, message => 'ok' }, 'answer');
my $e = last_event();
is($e->{type}, 'inform', 'an inform event');
is($e->{device}, 'dev-1', 'device from the token');
is($e->{product}, 'prodA', 'product from the token');
is($e->{module}, 'default', 'module');
is($e->{version}, '1.0.0', 'version');
ok(abs($e->{ts} - time * 1000) < 10_000, 'ts in ms');
is(xlen(), 1, 'one event');

$r = post('/ota/v1/inform', { id => '123', params => { version => '1.0.1', module => 'MCU' } });
is($r->{status}, 200, 'Alibaba inform: 200');
is($r->{json}{id}, '123', 'id echoed');
is($r->{json}{code}, 200, 'code 200');
$e = last_event();
is("$e->{module} $e->{version}", 'MCU 1.0.1', 'module and version from params');

$r = post('/ota/v1/inform', { id => 77, params => { version => '2.10.3' } });
is($r->{status}, 200, 'Alibaba inform without module');
is($r->{json}{id}, 77, 'integer id echoed as an integer');
is(last_event()->{module}, 'default', 'module omitted means default');

$r = post('/ota/v1/inform', { version => '999999.0.999999' });
is($r->{status}, 200, 'flat inform without module, largest parts');

# ---- progress -------------------------------------------------------------------------

$r = post('/ota/v1/progress', { module => 'MCU', step => 50, desc => 'flashing' });
is($r->{status}, 200, 'flat progress: 200');
$e = last_event();
is($e->{type}, 'progress', 'a progress event');
is("$e->{device} $e->{product} $e->{module} $e->{step} $e->{desc}",
   'dev-1 prodA MCU 50 flashing', 'its fields');

$r = post('/ota/v1/progress', { id => 'x9', params => { step => '-2', desc => 'download failed', module => 'MCU' } });
is($r->{status}, 200, 'Alibaba progress with a string step');
is($r->{json}{id}, 'x9', 'id echoed');
is(last_event()->{step}, '-2', 'step -2');

$r = post('/ota/v1/progress', { params => { step => '100' } });
is($r->{status}, 200, 'step "100", no desc, no module');
$e = last_event();
is("$e->{module}|$e->{step}|$e->{desc}", 'default|100|', 'defaults');

$r = post('/ota/v1/progress', { step => -4, desc => "\x{e9}" x 128 });
is($r->{status}, 200, 'step -4 and 128 two-byte characters of desc');
is(length(last_event()->{desc}), 256, 'desc stored whole (256 bytes)');

# ---- refusals: nothing changes ---------------------------------------------------------

my $now = int(time);
my $expired_body = "1~" . ($now - 10) . "~prodA~dev-1";
my $expired = "$expired_body~" . hmac_sha256_hex("ota-token\n$expired_body", $OtaTest::SECRET);
my $other_body = "1~" . ($now + 600) . "~prodA~dev-2";
my ($mac) = $tok =~ /~([0-9a-f]{64})$/;

my @cases = (
    # [ name, path, body, status, %opts ]
    [ 'no token',            '/ota/v1/inform', { version => '1.0.0' }, 401, no_token => 1 ],
    [ 'forged token',        '/ota/v1/inform', { version => '1.0.0' }, 401,
      token => substr($tok, 0, -1) . ($tok =~ /0$/ ? '1' : '0') ],
    [ 'token of another device (swapped name)', '/ota/v1/inform', { version => '1.0.0' }, 401,
      token => "$other_body~$mac" ],
    [ 'token signed with another key', '/ota/v1/progress', { step => 1 }, 401,
      token => "$other_body~" . hmac_sha256_hex("ota-token\n$other_body", 'another-key-0123456789') ],
    [ 'expired token',       '/ota/v1/inform', { version => '1.0.0' }, 401, token => $expired ],
    [ 'malformed token',     '/ota/v1/progress', { step => 1 }, 401, token => 'abc' ],
    [ 'bad JSON',            '/ota/v1/inform', '{"version":', 400 ],
    [ 'JSON string',         '/ota/v1/inform', '"1.0.0"', 400 ],
    [ 'missing version',     '/ota/v1/inform', { module => 'MCU' }, 400 ],
    [ 'version a number',    '/ota/v1/inform', { version => 1.1 }, 400 ],
    [ 'version 1.0',         '/ota/v1/inform', { version => '1.0' }, 400 ],
    [ 'version 1.0.0.0',     '/ota/v1/inform', { version => '1.0.0.0' }, 400 ],
    [ 'version 01.0.0',      '/ota/v1/inform', { version => '01.0.0' }, 400 ],
    [ 'version 1000000.0.0', '/ota/v1/inform', { version => '1000000.0.0' }, 400 ],
    [ 'version with spaces', '/ota/v1/inform', { version => ' 1.0.0' }, 400 ],
    [ 'empty version',       '/ota/v1/inform', { version => '' }, 400 ],
    [ 'params not an object', '/ota/v1/inform', { id => '1', params => '1.0.0' }, 400 ],
    [ 'id an object',        '/ota/v1/inform', { id => {}, params => { version => '1.0.0' } }, 400 ],
    [ 'module a number',     '/ota/v1/inform', { module => 5, version => '1.0.0' }, 400 ],
    [ 'module with a colon', '/ota/v1/inform', { module => 'a:b', version => '1.0.0' }, 400 ],
    [ 'empty module',        '/ota/v1/inform', { module => '', version => '1.0.0' }, 400 ],
    [ 'unknown module',      '/ota/v1/inform', { module => 'WIFI', version => '1.0.0' }, 404 ],
    [ 'unknown module (progress)', '/ota/v1/progress', { params => { module => 'WIFI', step => 3 } }, 404 ],
    [ 'missing step',        '/ota/v1/progress', { desc => 'x' }, 400 ],
    [ 'step 101',            '/ota/v1/progress', { step => 101 }, 400 ],
    [ 'step -5',             '/ota/v1/progress', { step => '-5' }, 400 ],
    [ 'step 1.5',            '/ota/v1/progress', { step => 1.5 }, 400 ],
    [ 'step "1.5"',          '/ota/v1/progress', { step => '1.5' }, 400 ],
    [ 'step "abc"',          '/ota/v1/progress', { step => 'abc' }, 400 ],
    [ 'step "-"',            '/ota/v1/progress', { step => '-' }, 400 ],
    [ 'step ""',             '/ota/v1/progress', { step => '' }, 400 ],
    [ 'step a list',         '/ota/v1/progress', { step => [1] }, 400 ],
    [ 'step huge',           '/ota/v1/progress', { step => '99999999999999999999' }, 400 ],
    [ 'desc of 129 chars',   '/ota/v1/progress', { step => 1, desc => 'd' x 129 }, 400 ],
    [ 'desc a number',       '/ota/v1/progress', { step => 1, desc => 5 }, 400 ],
    [ 'oversized body',      '/ota/v1/progress', { step => 1, pad => 'x' x 20000 }, 413 ],
);

my $fails = 0;
for my $c (@cases) {
    my ($name, $path, $body, $status, %o) = @$c;
    my $before = $t->redis_snapshot;
    $r = post($path, $body, %o);
    is($r->{status}, $status, "$name: $status");
    is($r->{json}{code}, $status, "$name: JSON code");
    ok(length($r->{json}{message} // ''), "$name: reason: " . ($r->{json}{message} // ''));
    is_deeply($t->redis_snapshot, $before, "$name: Redis unchanged");
    $fails++ if $status == 401;
}

$r = post('/ota/v1/inform', { module => 'WIFI', version => '1.0.0' });
like($r->{json}{message}, qr/unknown module/, 'the 404 names the cause');

$r = $t->http(GET => '/ota/v1/inform', headers => { Authorization => "Bearer $tok" });
is($r->{status}, 405, 'GET inform: 405');

# ---- Redis down: 503 ----------------------------------------------------------------------

$t->stop_redis;
$r = post('/ota/v1/inform', { version => '1.0.0' });
is($r->{status}, 503, 'Redis down: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
$r = post('/ota/v1/progress', { step => 5 });
is($r->{status}, 503, 'progress too');
$t->start_redis;
my $st = $t->wait_for(sub { post('/ota/v1/inform', { version => '1.0.2' })->{status} == 200 }, 15);
ok($st, 'Redis back: inform works again (the token needs no Redis)');

$t->stop;
done_testing;
