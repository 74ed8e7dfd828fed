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
my $t = OtaTest->new(worker => 1, admin_extra =>
    "ota_admin_token console:$VIEWER role=viewer;");
ok($t->wait_nginx_redis, 'nginx workers connected to Redis');
ok($t->wait_for(sub { $t->redis(EXISTS => OtaTest::key('OTA_STREAM_JOBS'))
                      && $t->redis(HLEN => OtaTest::key('OTA_KEY_WORKERS')) }),
   'the worker is up');
# nginx's workers run as nobody under root: the store is theirs to write
if ($> == 0) {
    my (undef, undef, $uid, $gid) = getpwnam('nobody');
    chown $uid, $gid, $t->store;
}
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
    delete $s->{$_} for $AUDIT, OtaTest::key('OTA_KEY_WORKERS'),
                        OtaTest::key('OTA_KEY_EVENTS_READER');
    my $jobs = OtaTest::key('OTA_STREAM_JOBS');
    if (exists $s->{$jobs}) {
        my $last = $t->redis(XREVRANGE => $jobs, '+', '-', 'COUNT', 1);
        $s->{$jobs} = $last && @$last ? $last->[0][0] : '';
    }
    # a hash by its fields (DUMP's order of a large hash may move)
    for my $k (keys %$s) {
        next unless ($t->redis(TYPE => $k) // '') eq 'hash';
        $s->{$k} = join ',', sort @{ $t->redis(HGETALL => $k) };
    }
    my $st = $t->store;
    $s->{'(store)'} = join "\n", sort glob("$st/* $st/*/*");
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
    my $r = api($method, $path, (defined $body ? (json => $body) : ()),
                (exists $o{token} ? (token => $o{token}) : ()));
    is($r->{status}, $status, "$name: $status");
    like($r->{json}{message} // '', $re, "$name: the reason")
        or diag($r->{content});
    is_deeply(state_now(), $before, "$name: nothing changed");
    if ($o{audited} // 1) {
        $t->wait_for(sub { ($t->redis(XLEN => $AUDIT) // 0) > $n }, 5);
        is($t->redis(XLEN => $AUDIT), $n + 1, "$name: audited");
        my $a = last_audit();
        is($a->{action}, $o{action} // 'product.set',
           "$name: as " . ($o{action} // 'product.set'));
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

# ---- signing after upload --------------------------------------------------------

sub upload {
    my (@form) = @_;
    my @cmd = ('curl', '-sS', '-o', "$dir/up.out", '-w', '%{http_code}',
               '-H', "Authorization: Bearer $OtaTest::ADMIN_TOKEN");
    for my $f (@form) {
        push @cmd, ($f->[1] =~ /^@/ ? '-F' : '--form-string'), "$f->[0]=$f->[1]";
    }
    push @cmd, $t->base . '/ota/admin/packages';
    my ($rc, $out) = $t->run_cmd({}, @cmd);
    my $content = OtaTest::read_file("$dir/up.out") // '';
    return { status => $out + 0, content => $content,
             json => eval { decode_json($content) } };
}

# the signature of bytes with a private key, as the admin makes it
sub sign_bytes {
    my ($bytes, $keyfile) = @_;
    OtaTest::write_file("$dir/tosign.bin", $bytes);
    my ($rc, undef, $e) = $t->run_cmd({}, 'openssl', 'pkeyutl', '-sign',
        '-inkey', $keyfile, '-rawin', '-in', "$dir/tosign.bin",
        '-out', "$dir/sig.bin");
    die "openssl: $e" if $rc;
    return MIME::Base64::encode_base64(OtaTest::read_file("$dir/sig.bin"), '');
}
use MIME::Base64 ();

my $fw = join '', map { chr(($_ * 7) % 251) } 1 .. 5000;
OtaTest::write_file("$dir/fw.bin", $fw);
# p-1 requires signatures with key 1
($rc, undef, $err) = direct(qw(product set p-1 --require-signed --pubkey),
                            "$dir/k1/ota-sign.pub");
is($rc, 0, 'p-1 requires key 1') or diag($err);

$r = upload([product => 'p-1'], [module => 'default'], [name => 'fw'],
            [version => '2.0.0'], [file => "\@$dir/fw.bin"]);
is($r->{status}, 409, 'a plain upload to a product that requires signatures: 409');

$r = upload([product => 'p-1'], [module => 'default'], [name => 'fw'],
            [version => '2.0.0'], [sign_later => '1'], [file => "\@$dir/fw.bin"]);
is($r->{status}, 201, 'POST packages sign_later=1: 201') or diag($r->{content});
my $pid = $r->{json}{id};
is($r->{json}{state}, 'unsigned', '  state unsigned');
my $PK = OtaTest::key('OTA_KEY_PACKAGE', $pid);
is($t->redis(HGET => $PK, 'state'), 'unsigned', '  the record: unsigned');

$r = api(GET => "packages/$pid/manifest");
is($r->{status}, 200, 'GET packages/<id>/manifest') or diag($r->{content});
my $man = MIME::Base64::decode_base64($r->{json}{manifest});
like($man, qr/^\{"format":"ota-manifest-1","id":"\Q$pid\E","product":"p-1","module":"default","version":"2\.0\.0","type":"full","from":"","files":\[\{"name":"fw\.bin","size":5000,"sha256":"[0-9a-f]{64}"\}\]\}$/,
     '  the canonical manifest, naming the id the server made');
is($r->{json}{key_id}, $kid1, '  and the product\'s key id');
is($r->{json}{state}, 'unsigned', '  and the state');
is(api(GET => "packages/$pid/manifest", token => $VIEWER)->{status}, 200,
   '  a viewer reads it too');
is(api(GET => 'packages/nosuch/manifest')->{status}, 404, '  an unknown package: 404');

# a batch of an unsigned package: refused by the shared check (the worker's
# batch_init.lua: the job asking for it is in the jobs stream, a request,
# not a change)
sub state_nojobs { my $s = state_now(); delete $s->{OtaTest::key('OTA_STREAM_JOBS')}; $s }
{
    my $before = state_nojobs();
    my $n = $t->redis(XLEN => $AUDIT);
    my $b = api(POST => 'batches', json => { package => $pid, type => 'upgrade',
                                             name => 'too soon' });
    ok($b->{status} == 409 || $b->{status} == 400, 'a batch of an unsigned package: refused')
        or diag($b->{content});
    is($b->{status}, 409, '  with 409');
    like($b->{json}{message} // '', qr/waits for its signature/, '  with the reason');
    is_deeply(state_nojobs(), $before, '  nothing changed');
    $t->wait_for(sub { $t->redis(XLEN => $AUDIT) > $n }, 5);
    is(last_audit()->{action}, 'batch.create', '  audited');
    my ($drc, undef, $derr) = direct(qw(batch create --package), $pid,
                                     qw(--type upgrade --name too-soon));
    isnt($drc, 0, '  direct mode refuses it too');
    like($derr, qr/waits for its signature/, '  with the same reason');
    is_deeply(state_nojobs(), $before, '  nothing changed');
}

my $sig2 = sign_bytes($man, "$dir/k2/ota-sign.key");
my $sig1 = sign_bytes($man, "$dir/k1/ota-sign.key");
my %A = (action => 'package.sign');
refused(POST => "packages/$pid/signature", { sig => $sig1 }, 403, qr/viewer/,
        'a viewer\'s signature', token => $VIEWER, %A);
refused(POST => "packages/$pid/signature", { sig => $sig1 }, 401, qr/token/i,
        'a bad token\'s', token => 'nope-nope-nope-nope', audited => 0, %A);
refused(POST => "packages/$pid/signature", '{"sig": ', 400, qr/JSON|json/,
        'a signature body that is not JSON', %A);
refused(POST => "packages/$pid/signature", { sig => 'abc' }, 400,
        qr/"sig" must be the base64 of a 64-byte/, 'a signature too short', %A);
refused(POST => "packages/$pid/signature", { sig => $sig1, extra => 1 }, 400,
        qr/unknown field "extra"/, 'an unknown field', %A);
refused(POST => "packages/$pid/signature", [ $sig1 ], 400,
        qr/must be a JSON object/, 'an array', %A);
refused(POST => "packages/nosuch/signature", { sig => $sig1 }, 404,
        qr/no such package/, 'an unknown package', %A);
refused(POST => "packages/$pid/signature", { sig => $sig2 }, 422,
        qr/does not verify/, 'a signature by another key', %A);
{
    my $bad = MIME::Base64::decode_base64($sig1);
    substr($bad, 5, 1) ^= "\x01";
    refused(POST => "packages/$pid/signature",
            { sig => MIME::Base64::encode_base64($bad, '') }, 422,
            qr/does not verify/, 'a tampered signature', %A);
}
refused(POST => "packages/$pid/signature", { sig => $sig2, pubkey => $pub2 }, 422,
        qr/not the one product p-1 accepts/, 'another key named', %A);

$r = api(POST => "packages/$pid/signature", json => { sig => $sig1 });
is($r->{status}, 200, 'POST packages/<id>/signature: 200') or diag($r->{content});
is_deeply($r->{json}, { id => $pid, state => 'ready', sign_key => $kid1,
                        changed => JSON::PP::true }, '  the package is ready');
is($t->redis(HGET => $PK, 'state'), 'ready', '  the record: ready');
is($t->redis(HGET => $PK, 'signature'), $sig1, '  the signature kept');
is($t->redis(HGET => $PK, 'sign_key'), $kid1, '  and its key');
ok(!$t->redis(HEXISTS => $PK, 'sign_then'), '  no leftover field');
is_deeply([ @{ last_audit() }{qw(action object status)} ],
          [ 'package.sign', $pid, 200 ], '  audited as package.sign');
($rc, $out, $err) = direct(qw(package verify), $pid, '--pubkey', "$dir/k1/ota-sign.pub");
is($rc, 0, '  otactl package verify: good') or diag($err);
like($out, qr/signature good \(key \Q$kid1\E\)/, '  signature good');

{
    my $before = state_now();
    $r = api(POST => "packages/$pid/signature", json => { sig => $sig1 });
    is($r->{status}, 200, 'the same signature again: 200');
    is($r->{json}{changed}, JSON::PP::false, '  nothing changed, it says');
    is_deeply(state_now(), $before, '  nothing changed');
}
refused(POST => "packages/$pid/signature", { sig => $sig2 }, 409,
        qr/does not wait for a signature/, 'another signature of a signed package', %A);
my $b = api(POST => 'batches', json => { package => $pid, type => 'upgrade',
                                         name => 'signed now' });
is($b->{status}, 201, 'a batch of the signed package: 201') or diag($b->{content});

# a package that was never meant to be signed later
($rc, undef, $err) = direct(qw(product set p-1 --no-require-signed --no-pubkey));
$r = upload([product => 'p-1'], [module => 'default'], [name => 'fw'],
            [version => '2.1.0'], [file => "\@$dir/fw.bin"]);
is($r->{status}, 201, 'a plain upload') or diag($r->{content});
refused(POST => "packages/$r->{json}{id}/signature", { sig => $sig1 }, 409,
        qr/does not wait for a signature/, 'a signature for a plain package', %A);
# sign_later on a product with no key: the signer names the key
$r = upload([product => 'p-1'], [module => 'default'], [name => 'fw'],
            [version => '2.2.0'], [sign_later => 'yes'], [file => "\@$dir/fw.bin"]);
is($r->{status}, 201, 'sign_later without a product key') or diag($r->{content});
$pid = $r->{json}{id};
$man = MIME::Base64::decode_base64(api(GET => "packages/$pid/manifest")->{json}{manifest});
$sig2 = sign_bytes($man, "$dir/k2/ota-sign.key");
refused(POST => "packages/$pid/signature", { sig => $sig2 }, 400,
        qr/names no public key: give "pubkey"/, 'no key to verify with', %A);
$r = api(POST => "packages/$pid/signature", json => { sig => $sig2, pubkey => $pub2 });
is($r->{status}, 200, '  with "pubkey": 200') or diag($r->{content});
is($r->{json}{sign_key}, $kid2, '  signed by key 2');

# ---- otactl --api package add --sign-key ---------------------------------------------

($rc, undef, $err) = direct(qw(product set p-1 --require-signed --pubkey),
                            "$dir/k1/ota-sign.pub");
my @ADD = ('package', 'add', "$dir/fw.bin", qw(--product p-1 --module default --name fw));
($arc, $aout, $aerr) = viaapi(@ADD, qw(--version 3.0.0 --sign-key), "$dir/k1/ota-sign.key");
is($arc, 0, 'otactl --api package add --sign-key') or diag($aerr);
chomp(my $sid = $aout);
is($sid, 'p-1-default-3_0_0', '  prints the id');
my $rec = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $sid));
is($rec->{state}, 'ready', '  the package is ready');
is($rec->{sign_key}, $kid1, '  signed with key 1');
($rc, $out, $err) = direct(qw(package verify), $sid, '--pubkey', "$dir/k1/ota-sign.pub");
is($rc, 0, '  otactl package verify: good') or diag($err);
my @acts = map { { @{ $_->[1] } }->{action} } @{ $t->redis(XREVRANGE => $AUDIT, '+', '-', 'COUNT', 2) };
is_deeply(\@acts, [ 'package.sign', 'package.add' ], '  audited: package.add, then package.sign');

# --json: what direct mode's --json names
($arc, $aout, $aerr) = viaapi('--json', @ADD, qw(--version 3.0.1 --sign-key), "$dir/k1/ota-sign.key");
is($arc, 0, 'otactl --api --json package add --sign-key') or diag($aerr);
my $js = decode_json($aout);
is_deeply([ sort keys %$js ], [ sort qw(id sign_method sign size state sign_key) ],
          '  the fields of direct mode');
is($js->{state}, 'ready', '  state ready');
is($js->{sign_key}, $kid1, '  sign_key');

# the wrong key: refused before anything is sent, as direct mode refuses it
# before any file is copied
{
    my $before = state_now();
    ($arc, $aout, $aerr) = viaapi(@ADD, qw(--version 3.1.0 --sign-key), "$dir/k2/ota-sign.key");
    my ($drc, $dout, $derr) = direct(@ADD, qw(--version 3.1.0 --sign-key), "$dir/k2/ota-sign.key");
    is($arc, 1, 'otactl --api --sign-key with a key the product does not accept: exit 1');
    is($aerr, $derr, '  the reason of direct mode');
    like($aerr, qr/is key \Q$kid2\E, but product p-1 accepts only key \Q$kid1\E/, '  names both keys');
    is($drc, $arc, '  direct mode: the same exit code');
    is_deeply(state_now(), $before, '  nothing changed');
}
# a run interrupted after its upload leaves the package waiting
$r = upload([product => 'p-1'], [module => 'default'], [name => 'fw'],
            [version => '3.1.0'], [sign_later => '1'], [file => "\@$dir/fw.bin"]);
is($r->{status}, 201, 'an upload whose signing was interrupted');
is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE', 'p-1-default-3_1_0'), 'state'), 'unsigned',
   '  the package waits');
# the rerun (with the right key) finishes it instead of failing
{
    my $before = $t->redis(ZCARD => OtaTest::key('OTA_KEY_PACKAGES'));
    ($arc, $aout, $aerr) = viaapi(@ADD, qw(--version 3.1.0 --sign-key), "$dir/k1/ota-sign.key");
    is($arc, 0, 'a rerun finishes the package left unsigned') or diag($aerr);
    is($aout, "p-1-default-3_1_0\n", '  prints its id');
    is($t->redis(HGET => OtaTest::key('OTA_KEY_PACKAGE', 'p-1-default-3_1_0'), 'state'), 'ready',
       '  the package is ready');
    is($t->redis(ZCARD => OtaTest::key('OTA_KEY_PACKAGES')), $before, '  no second package');
}
# a rerun of a finished command: the version exists (as in direct mode)
($arc, $aout, $aerr) = viaapi(@ADD, qw(--version 3.1.0 --sign-key), "$dir/k1/ota-sign.key");
is($arc, 1, 'the same command once more: refused');
like($aerr, qr/already has version 3\.1\.0/, '  the version exists');

# a package left waiting with other files: its manifest is not signed
$r = upload([product => 'p-1'], [module => 'default'], [name => 'fw'],
            [version => '3.2.0'], [sign_later => '1'], [file => "\@$dir/fw.bin"]);
is($r->{status}, 201, 'an upload left waiting');
OtaTest::write_file("$dir/other/fw.bin", 'x' x 100) if mkdir "$dir/other";
{
    my $before = state_now();
    ($arc, $aout, $aerr) = viaapi('package', 'add', "$dir/other/fw.bin",
        qw(--product p-1 --module default --name fw --version 3.2.0 --sign-key),
        "$dir/k1/ota-sign.key");
    is($arc, 1, 'a rerun with other files: refused');
    like($aerr, qr/does not name these files as they are here: not signed/, '  the reason');
    is($aout, '', '  nothing on stdout');
    is_deeply(state_now(), $before, '  nothing changed');
}

done_testing;
