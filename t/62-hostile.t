# Hostile input: more than 10,000 malformed or hostile requests (ids with
# path tricks, forged/expired/misbound signatures, absurd ranges, broken and
# mistyped JSON, oversized bodies, forged tokens, header abuse, garbage HTTP)
# against a running node.  Every answer is a 4xx (JSON from the module), never
# a 2xx or 5xx; afterwards nginx still serves, its error log shows no crash,
# and Redis holds exactly what it held before.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);

srand($ENV{OTA_SEED} // 20261124);
diag('seed ' . ($ENV{OTA_SEED} // 20261124));

my $t = OtaTest->new;
ok($t->wait_nginx_redis, 'nginx connected to Redis');

# a real device, package and task, so near-valid forgeries have a target
my $secret = $t->fx_device('hd-1', 'hp');
$t->fx_device('hd-2', 'hp');
my $pkg = $t->fx_package(id => 'hp-fw', product => 'hp', version => '2.0.0',
                         files => [['fw.bin', 'F' x 65536], ['extra.tar', 'E' x 1000]]);
$t->fx_batch(id => 'hb', package => $pkg, devices => ['hd-1', 'hd-2']);
my $size = $pkg->{files}[0]{size};
my $token = $t->device_token('hd-1', 'hp', $secret);
ok($token, 'a valid token for the near-valid cases');

my $before = $t->redis_snapshot;
# one connection per request: HTTP::Tiny's keep-alive POSTs stall on Nagle
my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => 10, max_redirect => 0);
my $base = $t->base;

my ($sent, %bad, %status) = (0);

sub check {
    my ($what, $r, %o) = @_;
    $sent++;
    my $s = $r->{status};
    $status{$s}++;
    my $fail;
    if ($s == 599) {
        $fail = "no answer: $r->{content}";
    } elsif ($s < 400 || $s >= 500) {
        $fail = "status $s";
    } elsif (($r->{headers}{'content-type'} // '') =~ m{^text/html}
             && ($s == 400 || $s == 404)) {
        $status{"$s (nginx core)"}++;             # never reached the module
    } elsif ($o{head}) {
        $fail = "status $s without JSON"
            unless ($r->{headers}{'content-type'} // '') eq 'application/json';
    } else {
        my $j = eval { decode_json($r->{content} // '') };
        $fail = "status $s without a JSON reason"
            unless $j && $j->{code} && $j->{code} == $s && length($j->{message} // '');
    }
    if ($fail) {
        my $k = "$what: $fail";
        $bad{$k . ($ENV{OTA_VERBOSE} ? " $sent" : '')} //= $o{desc} // '';
    }
}

sub rstr {
    my ($n, $chars) = @_;
    $chars //= join '', map { chr } 32 .. 126;
    return join '', map { substr($chars, int rand length $chars, 1) } 1 .. $n;
}

sub pick { $_[int rand @_] }

# what HTTP::Tiny will send: escape what is not allowed in a URI, keep %xx
sub uri {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~:\/?#\[\]@!\$&'()*+,;=%])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub esc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# ---- 1. package ids, links and signatures -------------------------------------

my @ids = ('..', '../hp-fw', '%2e%2e', '%2e%2e%2fetc%2fpasswd', 'hp-fw%00',
           'hp-fw/../../../etc/passwd', 'hp-fw/..%2fmanifest.json',
           'hp-fw/manifest.json', 'x' x 300,
           'nope', 'hp-fw/nope.bin', 'hp-fw/fw.bin/x', '%ff%fe', 'hp fw',
           'HP-FW', '', '/etc/passwd', 'hp-fw/%2e%2e%2f%2e%2e%2fetc');
my $exp = int(time) + 600;
my $good_sig = $t->link_sign('hp-fw', 'hd-1', $exp);

for my $i (1 .. 3000) {
    my $kind = $i % 10;
    my ($path, %h);
    if ($kind == 0) {
        $path = '/ota/v1/packages/' . pick(@ids) . "?device=hd-1&expires=$exp&signature=$good_sig";
    } elsif ($kind == 1) {        # right package, signature of another device
        $path = "/ota/v1/packages/hp-fw?device=hd-2&expires=$exp&signature=$good_sig";
    } elsif ($kind == 2) {        # extended expiry
        $path = "/ota/v1/packages/hp-fw?device=hd-1&expires=" . ($exp + 1 + int rand 1e6)
              . "&signature=$good_sig";
    } elsif ($kind == 3) {        # expired, correctly signed
        my $e = int(time) - 1 - int rand 1e5;
        $path = "/ota/v1/packages/hp-fw?device=hd-1&expires=$e&signature="
              . $t->link_sign('hp-fw', 'hd-1', $e);
    } elsif ($kind == 4) {        # random signature
        $path = "/ota/v1/packages/hp-fw?device=hd-1&expires=$exp&signature="
              . rstr(pick(0, 10, 63, 64, 65, 200), '0123456789abcdefABCDEFxyz%');
    } elsif ($kind == 5) {        # missing or repeated parameters
        $path = '/ota/v1/packages/hp-fw?' . pick('', "device=hd-1", "expires=$exp",
            "device=hd-1&expires=$exp", "device=&expires=&signature=",
            "device=hd-2&device=hd-1&expires=$exp&signature=$good_sig",
            "signature=$good_sig", "device=hd-1%00&expires=$exp&signature=$good_sig");
    } elsif ($kind == 6) {        # garbage values
        $path = '/ota/v1/packages/hp-fw?device=' . esc(rstr(1 + int rand 80))
              . '&expires=' . esc(pick('-1', '1e9', '99999999999999999999999', 'abc', ''))
              . '&signature=' . esc(rstr(64));
    } elsif ($kind == 7) {        # forged bearer instead of a link
        $path = '/ota/v1/packages/hp-fw';
        $h{Authorization} = pick('Bearer ' . rstr(int rand 300), 'Bearer', 'Basic aGk6aGk=',
            "Bearer 1~$exp~hp~hd-1~" . ('0' x 64), 'Bearer ' . ('x' x 4000), 'bearer  ');
    } elsif ($kind == 8) {        # forged link with absurd ranges
        $path = "/ota/v1/packages/hp-fw?device=hd-1&expires=$exp&signature=" . ('a' x 64);
        $h{Range} = pick('bytes=99999999999999999999999-', 'bytes=-0', 'bytes=5-1',
            'bytes=' . join(',', map { "$_-$_" } 1 .. 500), 'bytes=0-0,-1,abc',
            'items=0-1', 'bytes=--1', 'bytes=0-18446744073709551616');
        $h{'If-Range'} = pick('"x"', 'Wed, 21 Oct 2015 07:28:00 GMT', rstr(40));
    } else {                      # no credentials at all, other files
        $path = '/ota/v1/packages/hp-fw/' . pick('fw.bin', 'extra.tar', 'manifest.json', '..');
    }
    my $m = pick('GET', 'HEAD', 'GET');
    check('download', $ua->request($m, $base . uri($path), { headers => \%h }),
          desc => "$m $path", head => $m eq 'HEAD');
}

# a valid link with ranges no byte of which exists: 416, nothing sent
for my $i (1 .. 500) {
    my $from = $size + int rand 1e6;
    my $range = pick("bytes=$from-", "bytes=$from-" . ($from + int rand 1000),
                     "bytes=$size-$size", "bytes=$from-,"
                     . ($from + 10) . '-' . ($from + 20));
    check('unsatisfiable range',
          $ua->request('GET', "$base/ota/v1/packages/hp-fw?device=hd-1&expires=$exp"
                              . "&signature=$good_sig", { headers => { Range => $range } }),
          desc => $range);
}

# ---- 2. JSON endpoints ----------------------------------------------------------

my @json_junk = ('', '{', '}', '[]', '"x"', '1', 'null', '{"a":}', '{"a":1,"a":2}',
    '{' x 2000, '[' x 5000 . ']' x 5000, "{\"device\":\"\x00\"}", "\xff\xfe{}",
    '{"product":1,"device":2,"timestamp":"x","sign":[]}', 'x' x 20000,
    '{"params":"x"}', '{"params":{"version":[]}}', '{"id":{},"params":{}}');

sub mutate {
    my ($s) = @_;
    my $n = 1 + int rand 4;
    for (1 .. $n) {
        my $p = int rand(length($s) + 1);
        my $op = int rand 3;
        if ($op == 0 && length $s) { substr($s, $p, 1, chr int rand 256) }
        elsif ($op == 1)           { substr($s, $p, 0, rstr(1 + int rand 5)) }
        elsif (length $s)          { substr($s, $p, 1 + int rand 5, '') }
    }
    return $s;
}

my $ts = int(time * 1000);
my $auth_ok = encode_json({ product => 'hp', device => 'hd-1', timestamp => $ts,
                            sign => OtaTest::auth_sign($secret, 'hd-1', 'hp', $ts) });

for my $i (1 .. 2200) {                              # auth
    my $k = $i % 5;
    my $body;
    if ($k == 0) { $body = pick(@json_junk) }
    elsif ($k == 1) {                                # wrong sign, stale, future, unknown
        my $tsx = pick($ts - 3_600_000, $ts + 3_600_000, $ts, 0, -1, '1e30', 'now');
        $body = encode_json({ product => pick('hp', 'other', ''), device => pick('hd-1', 'ghost', 'hd-2'),
                              timestamp => $tsx, sign => pick(rstr(64, '0123456789abcdef'), '') });
    } elsif ($k == 2) {                              # wrong types
        $body = encode_json({ product => pick(1, [], {}, undef, 'hp'),
                              device => pick(1, [], {}, undef, 'hd-1'),
                              timestamp => pick([], {}, 'x', undef, 1.5),
                              sign => pick(1, [], {}, undef) });
    } else {                                         # mutations of a valid body
        $body = mutate($auth_ok);
        next if $body =~ /^\{"(?:product|device|timestamp|sign)"/ && eval { decode_json($body) }
                && $body !~ /[^\x20-\x7e]/;          # could still be valid: skip
    }
    check('auth', $ua->request('POST', "$base/ota/v1/auth",
          { content => $body, headers => { 'Content-Type' => 'application/json' } }),
          desc => substr($body, 0, 120));
}

my @bad_versions = ('1.2', '01.2.3', '1.2.3.4', '', 'v1.2.3', '1.2.-3', '1000000.0.0',
                    '1.2.3 ', "1.2.3\n", 'x' x 100);
for my $i (1 .. 2300) {                              # inform / progress
    my $ep = pick('inform', 'progress');
    my $k = $i % 4;
    my (%h, $body) = ('Content-Type' => 'application/json');
    if ($k == 0) {                                   # forged tokens, any body
        $h{Authorization} = pick('Bearer ' . rstr(80), "Bearer 1~$exp~hp~hd-1~" . ('f' x 64),
                                 'Bearer 1~1~hp~hd-1~' . ('0' x 64), 'Token x');
        $body = pick(@json_junk, '{"module":"default","version":"2.0.0"}');
    } elsif ($k == 1) {                              # valid token, broken JSON
        $h{Authorization} = "Bearer $token";
        $body = pick(@json_junk);
    } elsif ($ep eq 'inform') {                      # valid token, invalid fields
        $h{Authorization} = "Bearer $token";
        $body = encode_json(pick(
            { module => 'default', version => pick(@bad_versions) },
            { module => pick('nope', '../x', 'a b', '', 'x' x 100), version => '2.0.0' },
            { params => { module => 'default', version => pick(@bad_versions) } },
            { module => 'default', version => pick(2, [], {}, undef) },
            { module => pick(1, [], {}), version => '2.0.0' }));
    } else {
        $h{Authorization} = "Bearer $token";
        $body = encode_json(pick(
            { module => 'default', step => pick(101, -5, 1e9, 'abc', '', '1.5', [], {}) },
            { module => 'default', step => 50, desc => 'd' x (129 + int rand 1000) },
            { module => pick('nope', '../x', ''), step => 10 },
            { params => { step => pick('-9', '200', 'x'), module => 'default' } },
            { module => 'default' }));
    }
    check($ep, $ua->request('POST', "$base/ota/v1/$ep", { content => $body, headers => \%h }),
          desc => substr($body, 0, 120));
}

for my $i (1 .. 1000) {                              # upgrade with bad input
    my %h = (Authorization => pick("Bearer $token", 'Bearer ' . rstr(90), ''));
    my $q = pick('', '?module=', '?module=nope', '?module=' . esc('../x'), '?module=' . ('m' x 200),
                 '?module=nope&module=default', '?x=' . esc(rstr(20)));
    next if $h{Authorization} eq "Bearer $token" && $q !~ /module=[^d&]/;
    delete $h{Authorization} unless length $h{Authorization};
    check('upgrade', $ua->request('GET', "$base/ota/v1/upgrade$q", { headers => \%h }),
          desc => $q);
}

# oversized bodies: declared and chunked
for my $i (1 .. 300) {
    my $big = '{"module":"default","version":"' . ('9' x (17_000 + int rand 50_000)) . '"}';
    my $ep = pick('auth', 'inform', 'progress');
    check("$ep oversized", $ua->request('POST', "$base/ota/v1/$ep",
          { content => $i % 2 ? $big : sub { my $c = $big; $big = undef; $c },
            headers => { 'Content-Type' => 'application/json',
                         Authorization => "Bearer $token" } }));
    $big = undef;
}

# wrong methods and unknown endpoints
for my $i (1 .. 600) {
    my $m = pick('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'GET', 'POST');
    my $p = pick('/ota/v1/auth', '/ota/v1/inform', '/ota/v1/progress', '/ota/v1/upgrade',
                 '/ota/v1/packages/hp-fw', '/ota/v1/' . esc(rstr(10)), '/ota/v1/packages/');
    next if $m eq 'GET' && $p =~ m{/(upgrade|packages/hp-fw)$};
    next if $m eq 'POST' && $p =~ m{/(auth|inform|progress)$};
    check("$m $p", $ua->request($m, "$base$p", { content => '{}' }));
}

# ---- 3. garbage HTTP on raw sockets --------------------------------------------

my $raw_ok = 0;
for my $i (1 .. 700) {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:" . $t->port, Timeout => 5) or next;
    my $req = pick(
        rstr(1 + int rand 200) . "\r\n\r\n",
        "GET /ota/v1/packages/hp-fw HTTP/1.1\r\nHost: x\r\nRange: " . rstr(2000) . "\r\n\r\n",
        "POST /ota/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
        "POST /ota/v1/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST /ota/v1/inform HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{",
        "GET /ota/v1/" . ('a' x 10000) . " HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /ota/v1/upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " . ('~' x 9000) . "\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" . rstr(100));
    print {$s} $req;
    shutdown($s, 1);
    local $/;
    my $resp = <$s> // '';
    close $s;
    $sent++;
    my ($code) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    if (defined $code && ($code < 400 || $code >= 500) && $code != 0) {
        $bad{"raw: status $code"} //= substr($req, 0, 80);
    }
    $raw_ok++;
}
ok($raw_ok > 600, "garbage HTTP sent ($raw_ok connections)");

# ---- the verdict ------------------------------------------------------------------

cmp_ok($sent, '>=', 10_000, "sent $sent hostile requests");
diag('statuses: ' . join(' ', map { "$_:$status{$_}" } sort keys %status));
ok(!%bad, 'every hostile request got a 4xx with a JSON reason')
    or diag(join("\n", map { "$_  <- $bad{$_}" } (sort keys %bad)[0 .. (keys %bad > ($ENV{OTA_VERBOSE} ? 999 : 15) ? ($ENV{OTA_VERBOSE} ? 998 : 14) : keys(%bad) - 1)]));

my $r = $t->http(GET => '/ota/v1/health');
is($r->{status}, 200, 'nginx still serves');
$r = $t->http(GET => "/ota/v1/packages/hp-fw?device=hd-1&expires=$exp&signature=$good_sig",
              headers => { Range => 'bytes=0-9' });
is($r->{status}, 206, 'and still serves a real download');

# that real download wrote progress: drop it before comparing
sleep 1.5;
for my $k (OtaTest::key('OTA_KEY_COVERAGE', 'hd-1', 'hp-fw'),
           OtaTest::key('OTA_KEY_COVERED', 'hd-1', 'hp-fw')) {
    $t->redis(DEL => $k);
}
my $after = $t->redis_snapshot;
my $events = OtaTest::key('OTA_STREAM_EVENTS');
# the one real download's event is the only stream entry allowed to be new
delete $after->{$events};
my %b = %$before;
delete $b{$events};
is_deeply([sort keys %$after], [sort keys %b], 'Redis has the same keys as before');
is_deeply($after, \%b, 'and every value is unchanged');
my $xlen = $t->redis(XLEN => $events) // 0;
ok($xlen <= 1, "no event from any hostile request ($xlen: the real download's)");

$t->stop;
done_testing;
