# Tokens and signed links known to the process (ngx_ota_creds.c;
# docs/device-protocol.md, "Tokens and links known to a node"): auth's
# token and the upgrade answer's links are accepted by the same process
# without an HMAC (the debug log says "known to this process"), and so is
# a credential it verified once; a credential that shares a known one's
# table slot but not its bytes still gets the full check and is refused,
# and a known one is refused once it expires.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Digest::SHA qw(hmac_sha256_hex);

my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                     http_extra => 'ota_link_ttl 900s;');

my $sec = $t->fx_device('kc-1', 'pkc');
my $pkg = $t->fx_package(id => 'pkc-default-1_0_0', product => 'pkc',
                         module => 'default', version => '1.0.0',
                         files => [[ 'fw.bin' => 'k' x 5000 ]]);
$t->fx_batch(id => 'bkc', package => $pkg, devices => ['kc-1']);

sub known_lines {
    my ($re) = @_;
    my $n = () = $t->error_log =~ /$re/g;
    return $n;
}
my $tok_known = qr/ota bearer: token of device "kc-1", product "pkc" accepted \(known to this process\)/;
my $link_known = qr/ota download: signed link of device "kc-1" accepted \(known to this process\)/;

# ---- bearer tokens ----------------------------------------------------------------------

my $token = $t->device_token('kc-1', 'pkc', $sec);
ok($token, 'auth gives a token');
my $r = $t->http(POST => '/ota/v1/inform', json => { version => '0.9.0' },
                 headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'the token is accepted');
is(known_lines($tok_known), 1, '  as known to the process (auth made it): no HMAC');

# the same signature's first digits (the table's slot), another body: refused
my ($body, $mac) = $token =~ /^(.*)~([0-9a-f]{64})$/;
(my $other = $body) =~ s/~kc-1$/~kc-2/;
$r = $t->http(POST => '/ota/v1/inform', json => { version => '0.9.0' },
              headers => { Authorization => "Bearer $other~$mac" });
is($r->{status}, 401, 'a token with a known signature but another device: 401');
like($r->{json}{message} // '', qr/signature/, '  for its signature');
# the same bytes but one digit of the signature changed (same slot)
my $bad = substr($mac, 0, 63) . (substr($mac, 63) eq '0' ? '1' : '0');
$r = $t->http(POST => '/ota/v1/inform', json => { version => '0.9.0' },
              headers => { Authorization => "Bearer $body~$bad" });
is($r->{status}, 401, 'a known token with its last digit changed: 401');
$r = $t->http(POST => '/ota/v1/inform', json => { version => '0.9.0' },
              headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'the genuine one still passes');
is(known_lines($tok_known), 2, '  known');

# a token made elsewhere (another node): verified once, then known; refused
# once it expires although it is known
my $exp = int(time) + 2;
my $short_body = "1~$exp~pkc~kc-1";
my $short = "$short_body~" . hmac_sha256_hex("ota-token\n$short_body", $OtaTest::SECRET);
$r = $t->http(GET => '/ota/v1/upgrade?module=default', headers => { Authorization => "Bearer $short" });
is($r->{status}, 200, 'a token of another node is verified');
my $before = known_lines($tok_known);
$r = $t->http(POST => '/ota/v1/progress', json => { step => 10 },
              headers => { Authorization => "Bearer $short" });
is($r->{status}, 200, '  and accepted again');
is(known_lines($tok_known), $before + 1, '  as known');
sleep 1 while time <= $exp;
$r = $t->http(POST => '/ota/v1/progress', json => { step => 20 },
              headers => { Authorization => "Bearer $short" });
is($r->{status}, 401, 'a known token past its expiry: 401');
like($r->{json}{message} // '', qr/expired/, '  expired');

# ---- signed links -----------------------------------------------------------------------

$r = $t->http(GET => '/ota/v1/upgrade?module=default', headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'the upgrade answer');
my ($link) = ($r->{json}{url} // '') =~ m{(/ota/v1/packages/.*)$};
ok($link, "  has a link ($link)");
$r = $t->http(GET => $link, headers => { Range => 'bytes=0-99' });
is($r->{status}, 206, 'its first piece');
is(known_lines($link_known), 1, '  the link is known to the process (the answer signed it): no HMAC');

my ($sig) = $link =~ /signature=([0-9a-f]{64})/;
(my $forged = $link) =~ s/device=kc-1/device=kc-2/;
$r = $t->http(GET => $forged, headers => { Range => 'bytes=0-99' });
is($r->{status}, 401, 'a known signature on another device: 401');
(my $digit = $link) =~ s/signature=([0-9a-f]{63})(.)/"signature=$1" . ($2 eq '0' ? '1' : '0')/e;
$r = $t->http(GET => $digit, headers => { Range => 'bytes=0-99' });
is($r->{status}, 401, 'a known link with its last digit changed: 401');
$r = $t->http(GET => uc_sig($link), headers => { Range => 'bytes=100-199' });
is($r->{status}, 206, 'the link in upper-case hex: accepted');
is(known_lines($link_known), 2, '  known');

sub uc_sig { my ($l) = @_; $l =~ s/(signature=)([0-9a-f]{64})/$1\U$2/; $l }

# a link signed elsewhere: verified once, then known; refused once expired
my $lexp = int(time) + 2;
my $elink = $t->signed_link('pkc-default-1_0_0', 'kc-1', $lexp);
$r = $t->http(GET => $elink, headers => { Range => 'bytes=0-9' });
is($r->{status}, 206, 'a link of another node is verified');
$before = known_lines($link_known);
$r = $t->http(GET => $elink, headers => { Range => 'bytes=10-19' });
is($r->{status}, 206, '  and accepted again');
is(known_lines($link_known), $before + 1, '  as known');
sleep 1 while time <= $lexp;
$r = $t->http(GET => $elink, headers => { Range => 'bytes=20-29' });
is($r->{status}, 401, 'a known link past its expiry: 401');
like($r->{json}{message} // '', qr/expired/, '  expired');

$t->stop;
done_testing;
