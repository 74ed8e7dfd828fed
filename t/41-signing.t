# Signed packages (docs/signing.md): otactl key gen, package add
# --sign-key, package verify; the manifest and signature reach devices in
# the upgrade answers of both channels and verify with `openssl pkeyutl`
# as docs/signing.md shows; every refusal (wrong key, tampered manifest,
# tampered file, an unsigned package of a product that requires
# signatures, a key the product does not accept, keys of the wrong kind)
# with a one-line reason and nothing changed.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use lib 't/lib';
use OtaTest;
use OtaMqtt;

my $t = OtaTest->new;
my $m = OtaMqtt->new($t);
my $dir = $t->dir;
my $store = $t->store;

sub otactl { $t->otactl(@_) }

# the bridge's reads touch the notices stream's consumers: not ours
sub refused {
    my ($why, $name, @args) = @_;
    $t->otactl_refused($why, $name, \@args,
                       skip => [OtaTest::key('OTA_STREAM_NOTICES')]);
}

# ---- keys -------------------------------------------------------------------------

my ($rc, $out, $err) = otactl('key', 'gen', '--out', "$dir/k1");
is($rc, 0, 'key gen') or diag($err);
like($out, qr/^key ([0-9a-f]{16})\n/, 'prints the key id');
my ($kid1) = $out =~ /^key ([0-9a-f]{16})/;
is((stat "$dir/k1/ota-sign.key")[2] & 0777, 0600, 'the private key is 0600');
like(OtaTest::read_file("$dir/k1/ota-sign.pub"), qr/BEGIN PUBLIC KEY/, 'the public key in PEM');
my $priv1 = OtaTest::read_file("$dir/k1/ota-sign.key");
($rc, undef, $err) = otactl('key', 'gen', '--out', "$dir/k1");
isnt($rc, 0, 'key gen into the same place is refused');
like($err, qr/never overwritten/, '  a key is never overwritten');
is(OtaTest::read_file("$dir/k1/ota-sign.key"), $priv1, '  the key is the one before');
($rc, $out) = otactl('--json', 'key', 'gen', '--out', "$dir/k2");
my $kid2 = decode_json($out)->{key_id};
isnt($kid2, $kid1, 'a second key, another id');

# ---- a signed package ----------------------------------------------------------------

($rc, my $secret) = otactl(qw(device add d-1 --product p-1));
chomp $secret;
my $content = join '', map { chr(($_ * 13) % 251) } 1 .. 70000;
OtaTest::write_file("$dir/fw.bin", $content);
($rc, $out, $err) = otactl('package', 'add', "$dir/fw.bin", qw(--product p-1 --module default
    --name fw --version 1.1.0 --sign-key), "$dir/k1/ota-sign.key");
is($rc, 0, 'package add --sign-key') or diag($err);
chomp(my $id = $out);
my $rec = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $id));
is($rec->{sign_key}, $kid1, 'the record names the key');
my $man = decode_base64($rec->{manifest});
is($man, '{"format":"ota-manifest-1","id":"' . $id . '","product":"p-1","module":"default",'
       . '"version":"1.1.0","type":"full","from":"","files":[{"name":"fw.bin","size":70000,'
       . '"sha256":"' . sha256_hex($content) . '"}]}',
   'the manifest: canonical, with the file\'s size and sha256');
is(length decode_base64($rec->{signature}), 64, 'an Ed25519 signature of 64 bytes');
unlike(join('', values %$rec), qr/PRIVATE/, 'no private key in the record');

# the device's check of docs/signing.md
OtaTest::write_file("$dir/m.bin", $man);
OtaTest::write_file("$dir/s.bin", decode_base64($rec->{signature}));
my @pkeyutl = ('openssl', 'pkeyutl', '-verify', '-pubin', '-rawin', '-in', "$dir/m.bin",
               '-sigfile', "$dir/s.bin", '-inkey');
($rc, $out) = $t->run_cmd({}, @pkeyutl, "$dir/k1/ota-sign.pub");
is($rc, 0, 'openssl pkeyutl verifies the manifest with the public key');
like($out, qr/Signature Verified Successfully/, '  as docs/signing.md shows');
($rc) = $t->run_cmd({}, @pkeyutl, "$dir/k2/ota-sign.pub");
isnt($rc, 0, '  and not with another key');

($rc, $out, $err) = otactl('package', 'verify', $id, '--pubkey', "$dir/k1/ota-sign.pub");
is($rc, 0, 'package verify') or diag($err);
like($out, qr/signature good \(key $kid1\), 1 file in the store matches it/, '  says what it checked');

# ---- verify: every refusal --------------------------------------------------------

refused(qr/does not verify with key $kid2/, 'verify with another key',
        'package', 'verify', $id, '--pubkey', "$dir/k2/ota-sign.pub");
refused(qr/this is a private key/, 'a private key given as --pubkey',
        'package', 'verify', $id, '--pubkey', "$dir/k1/ota-sign.key");
my $mkey = OtaTest::key('OTA_KEY_PACKAGE', $id);
(my $forged = $man) =~ s/"1\.1\.0"/"9.9.9"/;
$t->redis(HSET => $mkey, manifest => encode_base64($forged, ''));
refused(qr/does not verify/, 'a tampered manifest', 'package', 'verify', $id,
        '--pubkey', "$dir/k1/ota-sign.pub");
$t->redis(HSET => $mkey, manifest => $rec->{manifest});
$t->redis(HSET => $mkey, version => '1.2.0');
refused(qr/signed manifest's version is not the package's/, 'a record changed after signing',
        'package', 'verify', $id, '--pubkey', "$dir/k1/ota-sign.pub");
$t->redis(HSET => $mkey, version => '1.1.0');
my $f = "$store/$id/fw.bin";
chmod 0644, $f;
OtaTest::write_file($f, $content . 'x');
refused(qr/fw\.bin in the store is not the file signed/, 'a tampered file in the store',
        'package', 'verify', $id, '--pubkey', "$dir/k1/ota-sign.pub");
OtaTest::write_file($f, $content);
chmod 0444, $f;

OtaTest::write_file("$dir/plain.bin", 'plain' x 100);
($rc, my $plain) = otactl('package', 'add', "$dir/plain.bin", qw(--product p-1 --module default
    --name plain --version 1.0.0));
chomp $plain;
refused(qr/package $plain is not signed/, 'verify of an unsigned package', 'package', 'verify',
        $plain, '--pubkey', "$dir/k1/ota-sign.pub");

# ---- product policy ---------------------------------------------------------------

OtaTest::write_file("$dir/fw2.bin", 'two' x 1000);
my @add2 = ('package', 'add', "$dir/fw2.bin", qw(--product p-1 --module default --name fw2
            --version 1.2.0));
($rc, $out, $err) = otactl(qw(product set p-1 --require-signed));
is($rc, 0, 'product set --require-signed') or diag($err);
like($out, qr/signed packages required/, '  says so');
# (through the admin API, make test-api, the upload's words: it cannot sign)
refused(qr/product p-1 requires signed packages(: add it with|, and an upload cannot be signed.*) --sign-key/,
        'an unsigned package of a product that requires signatures', @add2);

# the registration script's own check (lua/admin/package_add.lua as Redis
# runs it, against redis-server, without otactl's check before it): the
# product's policy is read in the same atomic step that writes the record,
# so a policy set between otactl's check and the write still refuses
my $pa = OtaTest::read_file("$OtaTest::BUILD/lua/otactl/package_add.lua");
my $lbefore = $t->state_snapshot(skip => [OtaTest::key('OTA_STREAM_NOTICES')]);
my @lua = ('lua-x', 'p-1', 'default', '1.9.0', time, '', '', );
my $lr = $t->redis(EVAL => $pa, 0, @lua, '0', id => 'lua-x', version => '1.9.0', type => 'full');
is_deeply($lr, ['unsigned'], 'package_add.lua refuses an unsigned package of a require-signed product');
is($t->state_snapshot(skip => [OtaTest::key('OTA_STREAM_NOTICES')]), $lbefore, '  nothing written');
$lr = $t->redis(EVAL => $pa, 0, 'lua-y', 'p-1', 'default', '1.0.0>1.9.0', time, '', '1.0.0', '0',
               id => 'lua-y', version => '1.9.0', type => 'diff');
is_deeply($lr, ['unsigned'], '  an unsigned diff too');
is($t->state_snapshot(skip => [OtaTest::key('OTA_STREAM_NOTICES')]), $lbefore, '  nothing written');
$lr = $t->redis(EVAL => $pa, 0, @lua, '1', id => 'lua-x', version => '1.9.0', type => 'full');
is_deeply($lr, ['ok'], '  a signed one is registered');
is($t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'), 'default:1.9.0'), 'lua-x',
   '  in its slot');
$t->redis(DEL => OtaTest::key('OTA_KEY_PACKAGE', 'lua-x'));
$t->redis(HDEL => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'p-1'), 'default:1.9.0');
$t->redis(ZREM => OtaTest::key('OTA_KEY_PACKAGES'), 'lua-x');
$t->redis(ZREM => OtaTest::key('OTA_KEY_PRODUCT_PACKAGES', 'p-1'), 'lua-x');
($rc, $out, $err) = otactl(qw(product set p-1 --pubkey), "$dir/k2/ota-sign.pub");
is($rc, 0, 'product set --pubkey') or diag($err);
like($out, qr/only key $kid2/, '  names the key');
refused(qr/is key $kid1, but product p-1 accepts only key $kid2/, 'a key the product does not accept',
        @add2, '--sign-key', "$dir/k1/ota-sign.key");
($rc, undef, $err) = $t->run_cmd({}, 'openssl', 'genpkey', '-algorithm', 'RSA', '-out', "$dir/rsa.key");
is($rc, 0, 'an RSA key') or diag($err);
refused(qr/not an Ed25519 key/, 'an RSA key as --sign-key', @add2, '--sign-key', "$dir/rsa.key");
refused(qr/no product nope/, 'product set of an unknown product', qw(product set nope --require-signed));
refused(qr/contradictory/, 'contradictory options',
        qw(product set p-1 --require-signed --no-require-signed));
($rc, $out, $err) = otactl(@add2, '--sign-key', "$dir/k2/ota-sign.key");
is($rc, 0, 'the product\'s key is accepted') or diag($err);
chomp(my $id2 = $out);
($rc) = otactl(qw(product set p-1 --no-require-signed --no-pubkey));
OtaTest::write_file("$dir/fw3.bin", 'three' x 1000);
($rc, undef, $err) = otactl('package', 'add', "$dir/fw3.bin", qw(--product p-1 --module default
    --name fw3 --version 1.3.0));
is($rc, 0, 'after --no-require-signed an unsigned package is accepted again') or diag($err);

# ---- the upgrade answers of both channels carry them ------------------------------

my $pkg = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $id));
$t->fx_batch(id => 'b-sig', package => $pkg, devices => ['d-1']);
my $token = $t->device_token('d-1', 'p-1', $secret);
my $r = $t->http(GET => '/ota/v1/upgrade?module=default',
                 headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'HTTP upgrade answer');
is($r->{json}{manifest}, $rec->{manifest}, '  carries the manifest as signed (base64)');
is($r->{json}{signature}, $rec->{signature}, '  and the signature');

my $reply = '/sys/p-1/d-1/thing/ota/firmware/get_reply';
my $s = $m->sub('d-1', 'p-1', $secret, $reply);
($rc) = $m->pub('d-1', 'p-1', $secret, '/sys/p-1/d-1/thing/ota/firmware/get',
                '{"id":"5","params":{"module":"default"}}');
ok($m->wait_lines($s, 1), 'MQTT firmware/get answered');
my $data = ($m->lines($s))[0][1]{data};
is($data->{manifest}, $rec->{manifest}, '  with the manifest');
is($data->{signature}, $rec->{signature}, '  and the signature');

$t->redis(DEL => OtaTest::key('OTA_KEY_DEVICE_OPEN', 'd-1'));
$t->fx_batch(id => 'b-plain', package => $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $plain)),
             devices => ['d-1']);
$r = $t->http(GET => '/ota/v1/upgrade?module=default',
              headers => { Authorization => "Bearer $token" });
ok(!exists $r->{json}{manifest} && !exists $r->{json}{signature},
   'an unsigned package\'s answer has neither');

$m->stop;
$t->stop;
done_testing();
