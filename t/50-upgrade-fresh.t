# GET /ota/v1/upgrade answers from a per-process compiled package
# (include/ota_offer_text.c) and reads the batch's package with the batch
# (a hint of the batch's package): never stale.  A package whose record
# changes between two upgrades is answered with the new data, a removed
# one is not offered, a diff added or removed changes the offer, a batch
# whose package changes is answered with the new one; many devices each
# get their own signed links; all under nginx's debug log, one worker
# process so that every answer after the first is one the cache could
# serve.  With OTA_COMPARE_BUILD=<dir of an older ngx_ota_module.so> (the
# jansson answer) the answers of both builds are compared byte for byte.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use JSON::PP;
use Digest::SHA qw(sha256_hex);

my $pub = 'ota_public_url https://ota.example.com; ota_link_ttl 900s;';
my $t = OtaTest->new(nginx_workers => 1, log_level => 'debug',
                     http_extra => $pub);
my $N = 40;
my @devs = map { "d$_" } 1 .. $N;
my %tok;
for my $d (@devs) {     # (the harness's calls may change $_)
    my $sec = $t->fx_device($d, 'prodF');
    $tok{$d} = $t->device_token($d, 'prodF', $sec);
}
my $pk = OtaTest::key('OTA_KEY_PACKAGE', 'pF-1');

my $ext = { "r\x{e9}gion" => "eu \"q\" \\ / \t", batch => 'custom',
            n => 1.5, nested => { a => [1, undef, JSON::PP::true] },
            "k\"ey" => '' };
my $pkg = $t->fx_package(id => 'pF-1', product => 'prodF', version => '2.0.0',
                         files => [[ 'fw.bin' => 'a' x 3000 ],
                                   [ 'res.pack' => 'b' x 500 ]],
                         ext => $ext);
$t->fx_batch(id => 'bF', package => $pkg, devices => \@devs,
             tasks => { map { my $i = $_; ("d$i" => { from => "1.0.$i" }) }
                        1 .. $N });

sub upgrade {
    my ($dev) = @_;
    return $t->http(GET => '/ota/v1/upgrade',
                    headers => { Authorization => "Bearer $tok{$dev}" });
}

sub log_count {
    my ($re) = @_;
    my $n = () = $t->error_log =~ /$re/g;
    return $n;
}

sub links_ok {
    my ($j, $dev, $id, $what, $exp) = @_;
    $exp //= $j->{url_expires};     # a fallback: the offer's
    my $q = "?device=$dev&expires=$exp&signature="
            . $t->link_sign($id, $dev, $exp);
    my $ok = $j->{url} eq "https://ota.example.com/ota/v1/packages/$id$q";
    for my $f (@{ $j->{files} }) {
        $ok &&= $f->{url} eq
                "https://ota.example.com/ota/v1/packages/$id/$f->{name}$q";
    }
    ok($ok, "$what: links signed for $dev and $id");
}

# ---- many devices: one compile, then the cache ---------------------------------------

my ($good, $linked) = (0, 0);
my $want_ext = { %$ext, batch => 'bF' };
for my $i (1 .. $N) {
    my $r = upgrade("d$i");
    my $j = $r->{json} // {};
    $good++ if $r->{status} == 200 && $j->{package} eq 'pF-1'
               && $j->{from} eq "1.0.$i" && $j->{batch} eq 'bF'
               && $j->{total_size} == 3500 && $j->{size} == 3000
               && $j->{sign} eq sha256_hex('a' x 3000)
               && @{ $j->{files} } == 2
               && $j->{files}[1]{sign} eq sha256_hex('b' x 500)
               && JSON::PP->new->canonical->encode($j->{extData})
                  eq JSON::PP->new->canonical->encode($want_ext);
    my $exp = $j->{url_expires} // 0;
    $linked++ if ($j->{url} // '') =~ /device=d$i&expires=$exp&signature=(\w+)$/
                 && $1 eq $t->link_sign('pF-1', "d$i", $exp)
                 && $j->{files}[0]{url} =~ m{/packages/pF-1/fw\.bin\?device=d$i&};
}
is($good, $N, "$N devices: each its task's answer (from, batch, files, odd ext)");
is($linked, $N, "$N devices: each its own signed links");
is(log_count(qr/package "pF-1" compiled/), 1, 'the package compiled once');
is(log_count(qr/package "pF-1" as compiled before/), $N - 1,
   'the other answers from the compiled package');
is(log_count(qr/batch "bF": package "pF-1" read with it/), $N - 1,
   'after the first, the package read with the batch (one round trip less)');

# ---- a record that changes is answered with the new data ------------------------------

sub fresh {
    my ($what, $change, $check) = @_;
    my $r0 = upgrade('d1');
    is($r0->{status}, 200, "$what: asked before (cached)");
    $change->();
    my $r = upgrade('d1');
    is($r->{status}, 200, "$what: asked after");
    ok($check->($r->{json} // {}), "$what: the new data");
    links_ok($r->{json}, 'd1', $r->{json}{package} // '', $what);
}

fresh('ext changed', sub { $t->redis(HSET => $pk, ext => '{"x":"new"}') },
      sub { JSON::PP->new->canonical->encode($_[0]{extData})
            eq '{"batch":"bF","x":"new"}' });
fresh('version changed', sub { $t->redis(HSET => $pk, version => '2.0.1') },
      sub { $_[0]{version} eq '2.0.1' });
fresh('files changed', sub {
          $t->redis(HSET => $pk, files => encode_json([
              { name => 'fw.bin', size => 3000, sign => 'f' x 64, offset => 0 }]));
      },
      sub { @{ $_[0]{files} } == 1 && $_[0]{sign} eq 'f' x 64
            && $_[0]{files}[0]{sign} eq 'f' x 64 });
fresh('signed', sub { $t->redis(HSET => $pk, manifest => 'bWFu', signature => 'c2ln') },
      sub { $_[0]{manifest} eq 'bWFu' && $_[0]{signature} eq 'c2ln' });
fresh('signature changed', sub { $t->redis(HSET => $pk, signature => 'c2lnMg==') },
      sub { $_[0]{signature} eq 'c2lnMg==' });
fresh('unsigned again', sub { $t->redis(HDEL => $pk, 'manifest', 'signature') },
      sub { !exists $_[0]{manifest} && !exists $_[0]{signature} });
fresh('size and method changed', sub {
          $t->redis(HSET => $pk, size => 3001, sign_method => 'md5');
      },
      sub { $_[0]{total_size} == 3001 && $_[0]{signMethod} eq 'Md5'
            && $_[0]{md5} eq 'f' x 64 });
ok(log_count(qr/package "pF-1" compiled/) >= 8,
   'each change compiled again (' . log_count(qr/package "pF-1" compiled/) . ')');

# ---- a removed record is not offered -----------------------------------------------------

my %rec = %{ $t->redis_hash($pk) };
is(upgrade('d2')->{status}, 200, 'the package offered');
$t->redis(DEL => $pk);
is(upgrade('d2')->{status}, 204, 'its record removed: 204, not the compiled answer');
like($t->error_log, qr/package "pF-1" of batch "bF" does not exist/,
     'and the error log says why');
$t->redis(HSET => $pk, %rec);
is(upgrade('d2')->{status}, 200, 'back: offered again');

# ---- the batch's package changes: the hint is checked ------------------------------------

my $pkg2 = $t->fx_package(id => 'pF-2', product => 'prodF', version => '3.0.0',
                          files => [[ 'fw.bin' => 'c' x 100 ]]);
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'bF'), package => 'pF-2');
my $r = upgrade('d3');
is($r->{json}{package}, 'pF-2', 'the batch names another package: that one');
is($r->{json}{version}, '3.0.0', '  with its record');
links_ok($r->{json}, 'd3', 'pF-2', 'the other package');
like($t->error_log, qr/batch "bF": package "pF-2" read now/,
     '  read after the batch (the hint was another package)');
is(upgrade('d4')->{json}{package}, 'pF-2', 'and from then on with the batch');
like($t->error_log, qr/batch "bF": package "pF-2" read with it/, '  so');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'bF'), package => 'pF-1');
is(upgrade('d3')->{json}{package}, 'pF-1', 'and back');

# ---- a diff added and removed -------------------------------------------------------------

my $ver = OtaTest::key('OTA_KEY_DEVICE_VERSIONS', 'd5');
my $idx = OtaTest::key('OTA_KEY_PACKAGE_DIFFS', 'pF-1');
$t->redis(HSET => $ver, default => '1.0.5');
$r = upgrade('d5');
ok(!$r->{json}{isDiff} && !exists $r->{json}{fallback}, 'no diff: the full package');
my $diff = $t->fx_package(id => 'pF-d', product => 'prodF', version => '2.0.1',
                          type => 'diff', from => '1.0.5',
                          files => [[ 'fw.bin.zst' => 'z' x 50 ]],
                          ext => { d => 1 });
$t->redis(HSET => $idx, '1.0.5' => 'pF-d');
$r = upgrade('d5');
is($r->{json}{package}, 'pF-d', 'a diff added: it is offered');
is($r->{json}{isDiff}, 1, '  isDiff 1');
is($r->{json}{fallback}{package}, 'pF-1', '  with the full package as fallback');
is($r->{json}{fallback}{total_size}, 3001, '  the fallback from its current record');
links_ok($r->{json}, 'd5', 'pF-d', 'the diff');
links_ok($r->{json}{fallback}, 'd5', 'pF-1', 'its fallback',
         $r->{json}{url_expires});
is_deeply($r->{json}{extData}, { d => 1, batch => 'bF' }, "  the diff's ext");
$r = upgrade('d5');
is($r->{json}{package}, 'pF-d', 'asked again: the same offer');
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', 'pF-d'), ext => '{"d":2}');
$r = upgrade('d5');
is_deeply($r->{json}{extData}, { d => 2, batch => 'bF' }, "the diff's record changed: new data");
$t->redis(HSET => $pk, sign => 'e' x 64, files => encode_json([
    { name => 'fw.bin', size => 3000, sign => 'e' x 64, offset => 0 }]));
$r = upgrade('d5');
is($r->{json}{fallback}{sign}, 'e' x 64, "the full package's record changed: a new fallback");
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', 'pF-d'), state => 'verifying');
$r = upgrade('d5');
is($r->{json}{package}, 'pF-1', 'the diff not ready: the full package');
ok(!exists $r->{json}{fallback}, '  without a fallback');
$t->redis(HSET => OtaTest::key('OTA_KEY_PACKAGE', 'pF-d'), state => 'ready');
is(upgrade('d5')->{json}{package}, 'pF-d', 'ready again: the diff');
$t->redis(HDEL => $idx, '1.0.5');
$r = upgrade('d5');
is($r->{json}{package}, 'pF-1', 'the diff removed from the index: the full package');
$t->redis(HSET => $idx, '1.0.5' => 'pF-d');
$t->redis(DEL => OtaTest::key('OTA_KEY_PACKAGE', 'pF-d'));
$r = upgrade('d5');
is($r->{json}{package}, 'pF-1', 'its record removed: the full package');

# ---- the batch's state and waves are read on every answer -------------------------------

$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'bF'), state => 'paused');
is(upgrade('d6')->{status}, 204, 'the batch paused: 204 (the package read with it is not used)');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'bF'), state => 'running',
          wave_upto => 5);
is(upgrade('d6')->{status}, 204, 'a wave up to rank 5: rank 6 waits');
is(upgrade('d5')->{status}, 200, 'rank 5 is offered');
$t->redis(HDEL => OtaTest::key('OTA_KEY_BATCH', 'bF'), 'wave_upto');
$t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', 'bF'), rate => 1);
my @st = map { my $x = upgrade($_); [$x->{status}, $x->{headers}{'retry-after'}] }
         qw(d7 d8);
is($st[0][0], 200, 'a rate of 1 a minute: the first device offered');
ok($st[1][0] == 204 && ($st[1][1] // 0) >= 1, 'the second 204 with Retry-After');
$t->redis(HDEL => OtaTest::key('OTA_KEY_BATCH', 'bF'), 'rate');

# ---- the debug log: no worker died -------------------------------------------------------

unlike($t->error_log, qr/exited on signal|\[alert\]/, 'no worker died, no alert');

# ---- against the jansson answer of an older build (optional) ----------------------------

SKIP: {
    my $old = $ENV{OTA_COMPARE_BUILD};
    skip 'OTA_COMPARE_BUILD not set (a build dir of the jansson answer)', 3
        unless $old && -f "$old/ngx_ota_module.so";

    my $b = do {
        local $OtaTest::BUILD = $old;
        OtaTest->new(no_redis => 1, redis_port => $t->{redis_port},
                     store => $t->store, nginx_workers => 1,
                     http_extra => $pub);
    };
    $t->redis(HSET => $pk, ext => encode_json($ext));
    $t->redis(HSET => $pk, manifest => 'bWFuaWZlc3Q=', signature => 'c2ln');
    $diff = $t->fx_package(id => 'pF-d', product => 'prodF', version => '2.0.1',
                           type => 'diff', from => '1.0.5', sign_method => 'md5',
                           files => [[ 'fw.bin.zst' => 'z' x 50 ]],
                           ext => { "\x{2028}" => [1.25, "\x01"] });
    my ($same, $tried) = (0, 0);
    for my $d (qw(d1 d2 d5 d9 d10)) {
        for (1 .. 3) {          # both in the same second (url_expires)
            my $x = upgrade($d);
            my $y = $b->http(GET => '/ota/v1/upgrade',
                             headers => { Authorization => "Bearer $tok{$d}" });
            next unless ($x->{json}{url_expires} // 0)
                        == ($y->{json}{url_expires} // -1);
            $tried++;
            $same++ if $x->{content} eq $y->{content};
            diag("new: $x->{content}\nold: $y->{content}")
                if $x->{content} ne $y->{content};
            last;
        }
    }
    is($tried, 5, 'five devices asked both builds');
    is($same, 5, 'the same bytes (full, signed, diff with fallback, odd ext)');
    like(upgrade('d5')->{content}, qr/"fallback":\{/, 'a diff offer among them');
}

done_testing();
