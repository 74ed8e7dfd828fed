# A product's signing policy through the admin API (issue 19): PUT
# products/<p> (lua/admin/product_set.lua, the script otactl product set
# runs in direct mode), GET products/<p> showing it, otactl product set
# over --api with direct mode's output, and the audit of both.  Every
# refusal is a 4xx with a reason and leaves Redis as it was (but for its
# audit entry).

use strict;
use warnings;
use Test::More;
use JSON::PP qw(decode_json encode_json);
use lib 't/lib';
use OtaTest;

my $VIEWER = 'viewer-token-0123456789';
my $t = OtaTest->new(admin_extra =>
    "ota_admin_token console:$VIEWER role=viewer;");
ok($t->wait_nginx_redis, 'nginx workers connected to Redis');
my $dir = $t->dir;
my $AUDIT = OtaTest::key('OTA_STREAM_AUDIT');
my $SIGNING = OtaTest::key('OTA_KEY_PRODUCT_SIGNING', 'p-1');

sub api {
    my ($method, $path, %o) = @_;
    my $tok = exists $o{token} ? $o{token} : $OtaTest::ADMIN_TOKEN;
    my %h = defined $tok ? (Authorization => "Bearer $tok") : ();
    return $t->http($method, "/ota/admin/$path", headers => \%h,
                    (exists $o{json} ? (json => $o{json}) : ()));
}

sub state_now {
    my $s = $t->redis_snapshot;
    delete $s->{$AUDIT};
    return $s;
}

sub last_audit {
    my $e = $t->redis(XREVRANGE => $AUDIT, '+', '-', 'COUNT', 1);
    return undef unless $e && @$e;
    return { @{ $e->[0][1] } };
}

# a refusal: status, reason, nothing changed, audited (when it is)
sub refused {
    my ($method, $path, $body, $status, $re, $name, %o) = @_;
    my $before = state_now();
    my $n = $t->redis(XLEN => $AUDIT) // 0;
    my $r = api($method, $path, (defined $body ? (json => $body) : ()), %o);
    is($r->{status}, $status, "$name: $status");
    like($r->{json}{message} // '', $re, "$name: the reason")
        or diag($r->{content});
    is_deeply(state_now(), $before, "$name: nothing changed");
    if ($o{audited} // 1) {
        $t->wait_for(sub { ($t->redis(XLEN => $AUDIT) // 0) > $n }, 5);
        is($t->redis(XLEN => $AUDIT), $n + 1, "$name: audited");
        my $a = last_audit();
        is($a->{action}, 'product.set', "$name: as product.set");
        is($a->{status}, $status, "$name: with its status");
    }
    return $r;
}

# direct mode's otactl, whatever OTA_OTACTL_API says
sub direct {
    local $ENV{OTA_OTACTL_API};
    return $t->otactl(@_);
}

# the API's otactl
sub viaapi {
    return $t->run_cmd({}, "$OtaTest::BUILD/otactl", '--api',
                       $t->base . '/ota/admin', '--token',
                       $OtaTest::ADMIN_TOKEN, @_);
}

my ($rc, $out, $err) = direct('key', 'gen', '--out', "$dir/k1");
is($rc, 0, 'key gen') or diag($err);
my ($kid1) = $out =~ /^key ([0-9a-f]{16})/;
($rc, $out) = direct('key', 'gen', '--out', "$dir/k2");
my ($kid2) = $out =~ /^key ([0-9a-f]{16})/;
my $pub1 = OtaTest::read_file("$dir/k1/ota-sign.pub");
my $pub2 = OtaTest::read_file("$dir/k2/ota-sign.pub");
($rc, undef, $err) = direct(qw(device add d-1 --product p-1));
is($rc, 0, 'a device makes product p-1') or diag($err);

# ---- GET products/<p> --------------------------------------------------------

my $r = api(GET => 'products/p-1');
is($r->{status}, 200, 'GET products/p-1');
is($r->{json}{require_signed}, JSON::PP::false, '  unsigned packages accepted');
is($r->{json}{key_id}, undef, '  no key');

# ---- PUT products/<p> --------------------------------------------------------

$r = api(PUT => 'products/p-1', json => { require_signed => JSON::PP::true,
                                          pubkey => $pub1 });
is($r->{status}, 200, 'PUT products/p-1: require_signed and pubkey')
    or diag($r->{content});
is_deeply($r->{json}, { product => 'p-1', require_signed => JSON::PP::true,
                        key_id => $kid1 }, '  answers the policy');
is($t->redis(HGET => $SIGNING, 'require'), '1', '  require written');
is($t->redis(HGET => $SIGNING, 'key_id'), $kid1, '  key_id written');
is($t->redis(HGET => $SIGNING, 'pubkey'), $pub1, '  the PEM written');
my $a = last_audit();
is_deeply([ @$a{qw(token action object status)} ],
          [ 'admin', 'product.set', 'p-1', 200 ], '  audited as product.set');
$r = api(GET => 'products/p-1');
is($r->{json}{require_signed}, JSON::PP::true, 'GET shows require_signed');
is($r->{json}{key_id}, $kid1, 'GET shows key_id');

$r = api(PUT => 'products/p-1', json => { require_signed => JSON::PP::false });
is($r->{status}, 200, 'PUT require_signed false alone');
is_deeply($r->{json}, { product => 'p-1', require_signed => JSON::PP::false,
                        key_id => $kid1 }, '  the key is kept');
$r = api(PUT => 'products/p-1', json => { pubkey => undef });
is($r->{status}, 200, 'PUT pubkey null');
is($r->{json}{key_id}, undef, '  the key removed');
ok(!$t->redis(HEXISTS => $SIGNING, 'pubkey'), '  the PEM removed');

# ---- refusals ------------------------------------------------------------------

refused(PUT => 'products/p-1', { require_signed => JSON::PP::true },
        403, qr/viewer/, 'a viewer', token => $VIEWER);
refused(PUT => 'products/p-1', { require_signed => JSON::PP::true },
        401, qr/token/i, 'a bad token', token => 'nope-nope-nope-nope',
        audited => 0);
refused(PUT => 'products/p-9', { require_signed => JSON::PP::true },
        404, qr/no such product/, 'an unknown product');
refused(PUT => 'products/p-1', '{"require_signed": tru',
        400, qr/JSON|json/, 'a body that is not JSON');
refused(PUT => 'products/p-1', [ 1 ], 400, qr/must be a JSON object/,
        'an array');
refused(PUT => 'products/p-1', {}, 400, qr/nothing to set/, 'an empty object');
refused(PUT => 'products/p-1', { require_signed => 'yes' },
        400, qr/"require_signed" must be true or false/, 'require_signed a string');
refused(PUT => 'products/p-1', { require => JSON::PP::true },
        400, qr/unknown field "require"/, 'an unknown field');
refused(PUT => 'products/p-1', { pubkey => 'junk' },
        400, qr/"pubkey"/, 'a pubkey that is not PEM');
refused(PUT => 'products/p-1', { pubkey => OtaTest::read_file("$dir/k1/ota-sign.key") },
        400, qr/"pubkey"/, 'a private key as pubkey');
refused(PUT => 'products/p-1', { pubkey => 7 },
        400, qr/"pubkey" must be/, 'a pubkey that is a number');
refused(PUT => 'products/.p', { require_signed => JSON::PP::true },
        400, qr/not a valid product name/, 'a bad product name');
{
    my $before = state_now();
    my $r = api(POST => 'products/p-1', json => { require_signed => JSON::PP::true });
    is($r->{status}, 405, 'POST products/p-1: 405');
    is_deeply(state_now(), $before, '  nothing changed');
}

# ---- otactl product set: direct and over the API, the same -------------------------

($rc, $out, $err) = direct(qw(product set p-1 --require-signed --pubkey),
                           "$dir/k2/ota-sign.pub");
is($rc, 0, 'direct product set') or diag($err);
is($out, "product p-1: signed packages required, only key $kid2\n",
   '  its line');
$a = last_audit();
is_deeply([ @$a{qw(token action object status)} ],
          [ 'otactl', 'product.set', 'p-1', 200 ],
          '  audited as product.set by otactl');
my $direct_state = $t->redis(HGETALL => $SIGNING);
$t->redis(DEL => $SIGNING);
my ($arc, $aout, $aerr) = viaapi(qw(product set p-1 --require-signed --pubkey),
                                 "$dir/k2/ota-sign.pub");
is($arc, 0, 'otactl --api product set') or diag($aerr);
is($aout, $out, '  prints what direct mode prints');
is_deeply({ @{ $t->redis(HGETALL => $SIGNING) } }, { @$direct_state },
          '  and writes what direct mode writes');
is(last_audit()->{action}, 'product.set', '  audited');
is(last_audit()->{token}, 'admin', '  by the API token');

($rc, $out) = direct(qw(--json product set p-1 --no-require-signed --no-pubkey));
($arc, $aout) = viaapi(qw(--json product set p-1 --no-require-signed --no-pubkey));
is($arc, 0, 'otactl --api --json product set --no-pubkey');
is_deeply(decode_json($aout), decode_json($out), '  the JSON of direct mode');
is_deeply(decode_json($aout), { product => 'p-1',
                                require_signed => JSON::PP::false,
                                key_id => undef },
          '  no key, unsigned accepted');

for my $c ([ 'an unknown product', qr/no product p-9/,
             qw(product set p-9 --require-signed) ],
           [ 'a private key as --pubkey', qr/ota-sign\.key/,
             qw(product set p-1 --pubkey), "$dir/k1/ota-sign.key" ],
           [ 'contradictory options', qr/contradictory/,
             qw(product set p-1 --require-signed --no-require-signed) ]) {
    my ($name, $why, @args) = @$c;
    my $before = state_now();
    my ($drc, undef, $derr) = direct(@args);
    ($arc, $aout, $aerr) = viaapi(@args);
    isnt($drc, 0, "direct: $name refused");
    is($arc, $drc, "--api: $name refused with the same exit code");
    like($aerr, $why, '  with the reason') or diag($aerr);
    is($aout, '', '  nothing on stdout');
    is_deeply(state_now(), $before, '  nothing changed');
}

done_testing;
