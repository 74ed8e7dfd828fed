# Foundation: the module loads into Debian's nginx, conf/nginx.conf is valid,
# configuration mistakes are refused with a clear reason, the dispatch answers
# JSON, and each nginx worker process connects to Redis without blocking.

use strict;
use warnings;
use Test::More;
use File::Path qw(make_path);
use lib 't/lib';
use OtaTest;

my $nginx = $OtaTest::NGINX;
my $so = "$OtaTest::BUILD/ngx_ota_module.so";
ok(-f $so, 'module built');

# nginx -t on the shipped configuration, in a scratch prefix
{
    my $t = OtaTest->new(no_redis => 1, no_nginx => 1);
    my $p = $t->dir . '/prefix';
    make_path("$p/modules", "$p/logs", "$p/store", "$p/tmp");
    symlink $so, "$p/modules/ngx_ota_module.so";
    my ($rc, $out, $err) = $t->run_cmd({}, $nginx, '-t', '-p', "$p/",
                                       '-c', "$OtaTest::ROOT/conf/nginx.conf");
    is($rc, 0, 'nginx -t accepts conf/nginx.conf') or diag($err);
    like($err, qr/syntax is ok/, 'nginx says the syntax is ok');

    # each mistake: nginx -t fails and says why
    my @bad = (
        [ 'ota_redis redis.example.com:6379;', qr/not an IP address/ ],
        [ 'ota_redis 127.0.0.1:99999;', qr/invalid Redis port/ ],
        [ 'ota_redis 127.0.0.1;', qr/invalid Redis address/ ],
        [ 'ota_redis 127.0.0.1:6379 bogus=1;', qr/invalid parameter/ ],
        [ 'ota_redis 127.0.0.1:6379 db=x;', qr/invalid "db"/ ],
        [ 'ota_redis 127.0.0.1:6379 gather=101ms;', qr/invalid "gather" value \(0 to 100ms\)/ ],
        [ 'ota_redis 127.0.0.1:6379 gather=soon;', qr/invalid "gather" value/ ],
        # the one address syntax (include/ota_addr.h), nginx's rules
        [ 'ota_redis sentinel=127.0.0.1:26379;', qr/needs the master's name/ ],
        [ 'ota_redis sentinel=sentinel.example:26379 master=m;', qr/not an IP address/ ],
        [ 'ota_redis 127.0.0.1:6379 master=m;', qr/goes with a sentinel list/ ],
        [ 'ota_redis 127.0.0.1:6379 127.0.0.1:6380;', qr/a second Redis address/ ],
    );
    for my $b (@bad) {
        my ($directive, $why) = @$b;
        my $conf = <<"C";
load_module $so;
error_log $p/logs/error.log;
pid $p/logs/nginx.pid;
events {}
http { $directive ota_token_secret 0123456789abcdef0123;
       server { listen 127.0.0.1:1; location / { ota_device_api; } } }
C
        OtaTest::write_file("$p/bad.conf", $conf);
        my ($rc2, undef, $err2) = $t->run_cmd({}, $nginx, '-t', '-p', "$p/",
                                               '-c', "$p/bad.conf");
        isnt($rc2, 0, "refused: $directive");
        like($err2, $why, "reason given for: $directive");
    }

    my $conf = <<"C";
load_module $so;
error_log $p/logs/error.log;
pid $p/logs/nginx.pid;
events {}
http { ota_redis 127.0.0.1:6379; ota_token_secret short;
       server { listen 127.0.0.1:1; location / { ota_device_api; } } }
C
    OtaTest::write_file("$p/bad.conf", $conf);
    my ($rc3, undef, $err3) = $t->run_cmd({}, $nginx, '-t', '-p', "$p/",
                                           '-c', "$p/bad.conf");
    isnt($rc3, 0, 'a short ota_token_secret is refused');
    like($err3, qr/ota_token_secret/, 'and the error names the directive');

    $conf =~ s/ota_token_secret short;/ota_token_secret 0123456789abcdef0123;/;
    $conf =~ s/ota_device_api;/ota_admin_api;/;
    OtaTest::write_file("$p/bad.conf", $conf);
    ($rc3, undef, $err3) = $t->run_cmd({}, $nginx, '-t', '-p', "$p/",
                                        '-c', "$p/bad.conf");
    isnt($rc3, 0, 'ota_admin_api without ota_admin_token is refused');
    like($err3, qr/ota_admin_token/, 'and the error says what is missing');

    # ota_admin_token's forms (issue 19): each mistake refused with its reason
    my $admin = $conf;
    for my $b ([ 'ota_admin_token short;', qr/at least 8 characters/ ],
               [ 'ota_admin_token a.b:0123456789;', qr/invalid name before ':'/ ],
               [ 'ota_admin_token ci:0123456789 role=root;', qr/role=viewer.*role=operator/ ],
               [ 'ota_admin_token ci:0123456789; ota_admin_token ci:9876543210;',
                 qr/names a token twice/ ],
               [ 'ota_admin_token a:0123456789; ota_admin_token b:0123456789;',
                 qr/same token twice/ ],
               # a tab inside a quoted token (nginx reads "\t" there)
               [ q{ota_admin_token "ci:0123\t456789";}, qr/cannot carry/ ]) {
        my ($directive, $why) = @$b;
        (my $c = $admin) =~ s/ota_admin_api;/ota_admin_api; $directive/;
        OtaTest::write_file("$p/bad.conf", $c);
        my ($rc4, undef, $err4) = $t->run_cmd({}, $nginx, '-t', '-p', "$p/",
                                               '-c', "$p/bad.conf");
        isnt($rc4, 0, "refused: $directive");
        like($err4, $why, "reason given for: $directive");
    }
    (my $good = $admin) =~ s/ota_admin_api;/ota_admin_api; ota_admin_token 0123456789; ota_admin_token v:abcdefghij role=viewer; ota_admin_token o:klmnopqrst role=operator;/;
    OtaTest::write_file("$p/bad.conf", $good);
    ($rc3, undef, $err3) = $t->run_cmd({}, $nginx, '-t', '-p', "$p/", '-c', "$p/bad.conf");
    is($rc3, 0, 'three tokens, both roles: accepted') or diag($err3);
    $t->stop;
}

# a running node
my $t = OtaTest->new;

my $r = $t->http(GET => '/ota/v1/nothing-here');
is($r->{status}, 404, 'unknown endpoint: 404');
is($r->{json}{code}, 404, 'JSON error body with code');
like($r->{json}{message}, qr/no such endpoint/, 'and a reason');

$r = $t->http(GET => '/ota/v1/auth');
is($r->{status}, 405, 'GET on auth: 405');
is($r->{headers}{allow}, 'POST', 'Allow: POST');
is($r->{json}{code}, 405, 'JSON error body');

$r = $t->http(POST => '/ota/v1/packages/abc', body => 'x');
is($r->{status}, 405, 'POST on a package: 405');

$r = $t->http(GET => '/ota/admin/metrics');
is($r->{status}, 401, 'admin API without token: 401');
is($r->{json}{code}, 401, 'JSON error body');

$r = $t->http(GET => '/ota/admin/metrics',
              headers => { Authorization => 'Bearer wrong' });
is($r->{status}, 401, 'admin API with a wrong token: 401');

$r = $t->http(GET => '/ota/admin/metrics',
              headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" });
is($r->{status}, 200, 'metrics with the admin token');
like($r->{content}, qr/^ota_auth_failures_total [1-9]/m,
     'failed admin logins are counted');
like($r->{headers}{'content-type'}, qr{^text/plain}, 'Prometheus text');

# every nginx worker process holds one connection to Redis
my $n = $t->wait_for(sub {
    my $list = $t->redis('CLIENT', 'LIST');
    my $c = () = $list =~ /cmd=(?!client)/g;
    return $c >= 2 ? $c : 0;
});
ok($n >= 2, "nginx workers connected to Redis ($n)");

# health: 200 with Redis, 503 without, 200 again once Redis is back
$r = $t->http(GET => '/ota/v1/health');
is($r->{status}, 200, 'health: 200 while Redis is up');
is($r->{json}{redis}, JSON::PP::true, 'health says redis is up');

$t->stop_redis;
$r = $t->wait_for(sub {
    my $h = $t->http(GET => '/ota/v1/health');
    return $h->{status} == 503 ? $h : undef;
}, 10);
ok($r, 'health: 503 once Redis is gone');
is($r && $r->{headers}{'retry-after'}, 5, 'with Retry-After');

$t->start_redis;
ok($t->wait_for(sub { $t->http(GET => '/ota/v1/health')->{status} == 200 }, 15),
   'nginx reconnects by itself when Redis returns');

$t->stop;
done_testing;
