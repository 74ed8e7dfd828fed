# JSON request bodies (auth, inform, progress): read in memory up to the
# limit (ota_body_max, or client_max_body_size when smaller) whatever
# client_body_buffer_size, declared or chunked, slow or fast; never written
# to a temporary file (the body of auth is not authenticated yet); a body
# over the limit gets the module's JSON 413, declared or chunked, also over
# client_max_body_size (nginx's HTML 413 before).

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OtaTest;

# a small buffer: anything over 1k went to a temporary file before
my $t = OtaTest->new(http_extra => 'client_body_buffer_size 1k;');
my $secret = $t->fx_device('bd-1', 'bp');

sub auth_body {
    my ($pad) = @_;
    my $ts = int(time * 1000);
    my %b = (product => 'bp', device => 'bd-1', timestamp => "$ts",
             sign => OtaTest::auth_sign($secret, 'bd-1', 'bp', $ts));
    $b{pad} = 'x' x $pad if $pad;
    return encode_json(\%b);
}

# a raw HTTP/1.1 request; the body in pieces (chunked when asked), with a
# pause between pieces; returns (status, content type, body, closed)
sub raw {
    my (%o) = @_;
    my $port = $o{port} // $t->port;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10)
        or die "connect: $!";
    binmode $s;
    my @pieces = @{ $o{pieces} };
    my $h = "POST $o{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
    $h .= "Authorization: Bearer $o{token}\r\n" if $o{token};
    if ($o{chunked}) {
        $h .= "Transfer-Encoding: chunked\r\n";
    } else {
        my $len = 0;
        $len += length $_ for @pieces;
        $h .= "Content-Length: " . ($o{declare} // $len) . "\r\n";
    }
    $h .= "Connection: close\r\n" unless $o{keep};
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, "$h\r\n");
    for my $p (@pieces) {
        my $data = $o{chunked} ? sprintf("%x\r\n%s\r\n", length $p, $p) : $p;
        while (length $data) {
            my $n = syswrite($s, $data);
            last unless $n;                  # the server closed: stop sending
            substr($data, 0, $n) = '';
        }
        sleep $o{pause} if $o{pause};
    }
    syswrite($s, "0\r\n\r\n") if $o{chunked} && !$o{no_end};
    shutdown($s, 1) unless $o{keep};
    my $resp = '';
    my $until = time + 10;
    while (time < $until) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
        last if $o{keep} && $resp =~ /\r\n\r\n/ && $resp =~ /Content-Length: (\d+)/i
                && length($resp) >= index($resp, "\r\n\r\n") + 4 + $1;
    }
    close $s;
    my ($code) = $resp =~ m{^HTTP/1\.1 (\d{3})};
    my ($type) = $resp =~ m{^Content-Type: ([^\r]+)}mi;
    my ($body) = $resp =~ m{\r\n\r\n(.*)}s;
    return ($code // 0, $type // '', $body // '');
}

sub is_json_error {
    my ($code, $type, $body, $want, $name) = @_;
    is($code, $want, "$name: $want");
    is($type, 'application/json', "$name: JSON, not nginx's page");
    my $j = eval { decode_json($body) } // {};
    is($j->{code}, $want, "$name: JSON code");
}

# ---- bodies up to ota_body_max (16k) whatever client_body_buffer_size (1k) -----------

my $b12 = auth_body(12 * 1024);
cmp_ok(length $b12, '>', 12 * 1024, 'a 12 KB auth body');
my $r = $t->http(POST => '/ota/v1/auth', body => $b12,
                 headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 200, 'a valid 12 KB body over client_body_buffer_size: 200');
ok($r->{json}{token}, 'and a token');
my $token = $r->{json}{token};

my ($code, $type, $body) = raw(path => '/ota/v1/auth', chunked => 1,
                               pieces => [ unpack('(a1000)*', auth_body(14 * 1024)) ]);
is($code, 200, 'the same chunked in 1000-byte chunks: 200');

($code, $type, $body) = raw(path => '/ota/v1/inform', token => $token, pause => 0.05,
    pieces => [ unpack('(a700)*', encode_json({ module => 'default', version => '1.0.0',
                                                 pad => 'y' x 9000 })) ]);
is($code, 200, 'a 9 KB inform sent slowly in 700-byte pieces: 200');

($code, $type, $body) = raw(path => '/ota/v1/progress', token => $token, chunked => 1,
    pause => 0.02, pieces => [ ('') x 0, unpack('(a1)*', '{"step":5,"desc":"d"}') ]);
is($code, 200, 'a progress body one byte per chunk: 200');

# exactly at the limit, and one byte over
my $at = auth_body(1);
$at = auth_body(1 + 16 * 1024 - length $at);
is(length $at, 16 * 1024, 'a body of exactly 16384 bytes');
($code) = raw(path => '/ota/v1/auth', pieces => [ $at ]);
is($code, 200, 'at the limit: 200');
sleep 0.002;                                   # a fresh timestamp (replay guard)
$at = auth_body(1);
$at = auth_body(1 + 16 * 1024 - length $at);
($code) = raw(path => '/ota/v1/auth', chunked => 1, pieces => [ unpack('(a3000)*', $at) ]);
is($code, 200, 'at the limit, chunked: 200');
my $over = auth_body(2 + 16 * 1024 - length auth_body(1));
is(length $over, 16 * 1024 + 1, 'one byte over');
is_json_error(raw(path => '/ota/v1/auth', pieces => [ $over ]), 413, 'declared, one byte over');
is_json_error(raw(path => '/ota/v1/auth', chunked => 1, pieces => [ unpack('(a3000)*', $over) ]),
              413, 'chunked, one byte over');

# ---- unauthenticated bodies never reach the disk --------------------------------------

# nginx made its temp directory at start; without it any temporary file
# fails (500 and a [crit] line)
my $tmp = $t->dir . '/nginx/tmp/body';
system('rm', '-rf', $tmp) == 0 or die;
my $meg = 'z' x (1 << 20);
is_json_error(raw(path => '/ota/v1/auth', chunked => 1, pieces => [ unpack('(a65536)*', $meg) ]),
              413, 'a chunked 1 MB body to auth');
is_json_error(raw(path => '/ota/v1/auth', declare => 1 << 20, pieces => [ 'z' x 1000 ]),
              413, 'a declared 1 MB body to auth (refused before reading)');
$r = $t->http(POST => '/ota/v1/auth', body => auth_body(10 * 1024),
              headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 200, 'a 10 KB body without any temp directory: 200');
ok(!-e $tmp, 'no temporary file was ever made');
unlike($t->error_log, qr/\[crit\].*(client_body|body\/)/, 'no failed temp file in the log');

# the connection after a refused chunked body is closed, not reused
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 10) or die;
syswrite($s, "POST /ota/v1/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             . sprintf("%x\r\n%s\r\n", 20000, 'q' x 20000)
             . "GET /ota/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
my $resp = '';
while (sysread($s, my $buf, 65536)) { $resp .= $buf }
close $s;
like($resp, qr{^HTTP/1\.1 413}, 'refused mid-body: 413');
my $n = () = $resp =~ m{HTTP/1\.1 \d{3}}g;
is($n, 1, 'and nothing after it: the rest of the body is not read as a request');

# ---- the flat reader (include/ota_jflat.c) and jansson behind it -------------------------
# auth, inform and progress read a flat body without a jansson tree; what it
# does not cover (an array, deeper objects) and every malformed body go to
# jansson as before: the same 400 with jansson's text, nothing changed.

sub post_raw {
    my ($path, $body, $tok) = @_;
    return $t->http(POST => $path, body => $body,
                    headers => { 'Content-Type' => 'application/json',
                                 ($tok ? (Authorization => "Bearer $tok") : ()) });
}

my $events = OtaTest::key('OTA_STREAM_EVENTS');
sub last_event {
    my $e = $t->redis(XREVRANGE => $events, '+', '-', 'COUNT', 1);
    return ($e && @$e) ? { @{ $e->[0][1] } } : {};
}

my @refused = (
    [ 'auth', '{"product":', 'malformed JSON at line 1 column 11: unexpected token near end of file' ],
    [ 'auth', '{"a":1} x', "malformed JSON at line 1 column 9: end of file expected near 'x'" ],
    [ 'auth', '{"a":1,"a":2}', "malformed JSON at line 1 column 10: duplicate object key near '\"a\"'" ],
    [ 'auth', '{"device":"d","\u0064evice":"e"}', 'malformed JSON at line 1 column 27: duplicate object key near \'"\u0064evice"\'' ],
    [ 'auth', '{"a":"\u0000"}', 'malformed JSON at line 1 column 13: \u0000 is not allowed without JSON_ALLOW_NUL near \'"\u0000"\'' ],
    [ 'auth', '{"a":"\uD800"}', "malformed JSON at line 1 column 13: invalid Unicode '\\uD800' near '\"\\uD800\"'" ],
    [ 'auth', qq({"a":"\xff"}), "malformed JSON at line 1 column 6: unable to decode byte 0xff near '\"'" ],
    [ 'auth', '{"a":1,}', "malformed JSON at line 1 column 8: string or '}' expected near '}'" ],
    [ 'auth', '{"a":01}', "malformed JSON at line 1 column 6: invalid token near '0'" ],
    [ 'auth', '{"a":1e999}', "malformed JSON at line 1 column 10: real number overflow near '1e999'" ],
    [ 'auth', '{"product":{"a":1},"device":"bd-1","timestamp":"1","sign":"00"}', '"product": must be a string' ],
    [ 'auth', '{"product":"bp","device":"bd-1","timestamp":1.5,"sign":"00"}',
      '"timestamp": must be an integer (ms) or a string of digits' ],
    [ 'inform', '{"params":{"version":"1.0.0","module":{"x":1}}}', '"module" must be a string' ],
    [ 'inform', '{"params":[1]}', '"params" must be an object' ],
    [ 'inform', '{"params":null,"version":"1.0.0"}', '"params" must be an object' ],
    [ 'inform', '{"id":true,"version":"1.0.0"}', '"id" must be a string or an integer' ],
    [ 'progress', '{"step":"1e2"}', '"step" must be an integer or a string of one' ],
    [ 'progress', '{"step":5,"desc":"' . ('\u00e9' x 129) . '"}', '"desc" is longer than 128 characters' ],
);
for my $c (@refused) {
    my ($ep, $body, $msg) = @$c;
    my $before = $t->redis_snapshot;
    my $r = post_raw("/ota/v1/$ep", $body, $ep eq 'auth' ? undef : $token);
    is($r->{status}, 400, "$ep $body: 400");
    is($r->{json}{message} // '', $msg, "$ep: the reason as before");
    is_deeply($t->redis_snapshot, $before, "$ep: nothing changed");
}

# escapes everywhere in an auth body: decoded before the sign is checked
{
    my $ts = int(time * 1000) + 5;
    my $sign = OtaTest::auth_sign($secret, 'bd-1', 'bp', $ts);
    my $r = post_raw('/ota/v1/auth', qq({ "\\u0070roduct" : "b\\u0070", "device":"bd\\u002d1",\n)
                     . qq( "timestamp":$ts, "sign":"$sign", "x":null, "y":[1,{"z":2}] }));
    is($r->{status}, 200, 'auth with escapes, a number timestamp and an array member: 200');
    ok($r->{json}{token}, 'a token');
}

# a string id with what JSON must escape: echoed as jansson wrote it
my $r2 = post_raw('/ota/v1/inform',
                  '{"id":"q\"b\\\\s/\u00e9\t\u0001\ud83d\ude00","params":{"version":"1.0.3"}}', $token);
is($r2->{status}, 200, 'Alibaba inform with an escaped string id: 200');
is($r2->{content}, qq({"code":200,"message":"ok","id":"q\\"b\\\\s/\xc3\xa9\\t\\u0001\xf0\x9f\x98\x80"}),
   'the id quoted as json_dumps quotes it');
is(last_event()->{version}, '1.0.3', 'the version from params');

$r2 = post_raw('/ota/v1/inform', '{"id":-9223372036854775808,"version":"1.0.4","tags":["a"]}', $token);
is($r2->{status}, 200, 'inform with an array member (jansson reads it): 200');
is($r2->{content}, '{"code":200,"message":"ok","id":-9223372036854775808}', 'the integer id');
is(last_event()->{version}, '1.0.4', 'its event');

$r2 = post_raw('/ota/v1/progress', '{"step":"-02","desc":"caf\u00e9 \/ \"ok\""}', $token);
is($r2->{status}, 200, 'progress with escapes in desc: 200');
my $pe = last_event();
is("$pe->{step} $pe->{desc}", qq(-2 caf\xc3\xa9 / "ok"), 'the event has step -2 and the decoded desc');

# ---- client_max_body_size smaller than ota_body_max --------------------------------------

# a second and third node on the same Redis: wait until their worker
# process has it (their first auth would get 503)
sub ready {
    my ($h) = @_;
    ok($h->wait_for(sub { $h->http(GET => '/ota/v1/health')->{status} == 200 }, 15),
       'the node reaches Redis');
}

my $t2 = OtaTest->new(no_redis => 1, redis_port => $t->{redis_port}, store => $t->store,
                      nginx_workers => 1,
                      loc_extra => 'client_max_body_size 4k; ota_body_max 64k;',
                      server_extra => 'location /plain/ { client_max_body_size 4k; return 204; }');
ready($t2);
($code, $type, $body) = raw(port => $t2->port, path => '/ota/v1/auth',
                            pieces => [ auth_body(5000) ]);
is_json_error($code, $type, $body, 413, 'declared body over client_max_body_size');
is_json_error(raw(port => $t2->port, path => '/ota/v1/auth', chunked => 1,
                  pieces => [ unpack('(a1000)*', auth_body(5000)) ]),
              413, 'chunked body over client_max_body_size');
($code) = raw(port => $t2->port, path => '/ota/v1/auth', pieces => [ auth_body(3000) ]);
is($code, 200, 'under both limits: 200');
($code, $type) = raw(port => $t2->port, path => '/plain/x', pieces => [ 'p' x 5000 ]);
is($code, 413, 'other locations keep nginx\'s own check');
like($type, qr{text/html}, 'with nginx\'s page there');

my $t3 = OtaTest->new(no_redis => 1, redis_port => $t->{redis_port}, store => $t->store,
                      nginx_workers => 1, loc_extra => 'ota_body_max 64k;');
ready($t3);
($code) = raw(port => $t3->port, path => '/ota/v1/auth', pieces => [ auth_body(40_000) ]);
is($code, 200, 'ota_body_max 64k: a 40 KB body (over nginx\'s 8k/16k buffer) is read');
($code) = raw(port => $t3->port, path => '/ota/v1/auth', chunked => 1,
              pieces => [ unpack('(a4096)*', auth_body(60_000)) ]);
is($code, 200, 'and a 60 KB chunked one');
is_json_error(raw(port => $t3->port, path => '/ota/v1/auth', chunked => 1,
                  pieces => [ unpack('(a4096)*', auth_body(70_000)) ]),
              413, 'over 64k chunked');

# a GET with a large declared body: JSON 413 as well
($code, $type) = raw(port => $t2->port, path => '/ota/v1/health', declare => 100_000, pieces => [ 'h' x 100 ]);
is($code, 413, 'any endpoint: a declared body over the limit is 413');
is($type, 'application/json', 'in JSON');

$t3->stop;
$t2->stop;
$t->stop;
done_testing;
