# POST <admin>/packages (issue 19): a package uploaded as multipart/form-data
# with curl -F, streamed to the store, checked as otactl package add checks
# it, placed as otactl places it and registered by the same script.  Every
# refusal is a 4xx with a reason that leaves Redis and the store as they
# were (but for its audit entry); a client cut off midway leaves nothing; two
# uploads of one version: one 201, one 409; a 200 MB upload while other
# clients download; the uploaded package downloads byte-identical.

use strict;
use warnings;
use Test::More;
use Digest::MD5;
use Digest::SHA;
use IO::Socket::INET;
use JSON::PP qw(decode_json encode_json);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);
use lib 't/lib';
use OtaTest;

my $VIEWER = 'viewer-token-0123456789';
my $t = OtaTest->new(admin_extra =>
    "ota_admin_token console:$VIEWER role=viewer; client_body_buffer_size 1m;");
ok($t->wait_nginx_redis, "nginx workers connected to Redis");

# nginx's workers run as nobody under root: the store is theirs to write
if ($> == 0) {
    my (undef, undef, $uid, $gid) = getpwnam('nobody');
    chown $uid, $gid, $t->store;
}

my $AUDIT = OtaTest::key('OTA_STREAM_AUDIT');
my $URL = $t->base . '/ota/admin/packages';
my $D = $t->dir;
my $n_cmd = 0;

# a file of the test dir: $size bytes of a repeated random block (CRs and
# boundary-like bytes included)
sub mkfile {
    my ($name, $size, $seed) = @_;
    my $path = "$D/$name";
    srand($seed // 1);
    my $block = join '', map { chr int rand 256 } 1 .. 65536;
    $block .= "\r\n--" x 100;
    open my $fh, '>', $path or die "$path: $!\n";
    binmode $fh;
    my $left = $size;
    while ($left > 0) {
        my $n = $left < length $block ? $left : length $block;
        print $fh substr($block, 0, $n);
        $left -= $n;
    }
    close $fh;
    return $path;
}

sub digest_file {
    my ($path, $kind) = @_;
    open my $fh, '<', $path or die "$path: $!\n";
    binmode $fh;
    my $d = $kind eq 'md5' ? Digest::MD5->new : Digest::SHA->new(256);
    $d->addfile($fh);
    return $d->hexdigest;
}

# curl -F ... : { status, json, content }; @form: ['name', 'value'] or
# ['file', '@path'] pairs; %o: token, headers => [...], args => [...]
sub upload {
    my ($form, %o) = @_;
    my $tok = exists $o{token} ? $o{token} : $OtaTest::ADMIN_TOKEN;
    my @cmd = ('curl', '-sS', '-o', "$D/up.out", '-w', '%{http_code}',
               '--max-time', '120');
    push @cmd, '-H', "Authorization: Bearer $tok" if defined $tok;
    push @cmd, map { ('-H', $_) } @{ $o{headers} // [] };
    push @cmd, @{ $o{args} // [] };
    for my $f (@$form) {
        my ($k, $v) = @$f;
        # --form-string: a value is never read as @file or <file
        push @cmd, ($v =~ /^@/ ? '-F' : '--form-string'), "$k=$v";
    }
    push @cmd, $o{url} // $URL;
    my ($rc, $out, $err) = $t->run_cmd({}, @cmd);
    my $content = OtaTest::read_file("$D/up.out") // '';
    my $json = eval { decode_json($content) };
    return { status => $out + 0, content => $content, json => $json,
             curl => $rc, err => $err };
}

# Redis (without the audit stream) and the store (hidden names too)
sub state_now {
    my $s = $t->redis_snapshot;
    delete $s->{$AUDIT};
    my $st = $t->store;
    $s->{'(store)'} = join "\n", sort grep { !m{/\.\.?$} }
                                 glob("$st/* $st/.* $st/*/* $st/*/.* $st/.upload-*/* $st/.upload-*/.*");
    return $s;
}

sub last_audit {
    my $e = $t->redis(XREVRANGE => $AUDIT, '+', '-', 'COUNT', 1);
    return undef unless $e && @$e;
    return { @{ $e->[0][1] } };
}

# an upload refused: status, reason, nothing changed, audited
sub refused {
    my ($form, $status, $re, $name, %o) = @_;
    my $before = state_now();
    my $n = $t->redis(XLEN => $AUDIT) // 0;
    my $r = upload($form, %o);
    is($r->{status}, $status, "$name: $status") or diag($r->{content} . $r->{err});
    like($r->{json}{message} // '', $re, "$name: the reason") or diag($r->{content});
    if ($o{audited} // 1) {
        $t->wait_for(sub { ($t->redis(XLEN => $AUDIT) // 0) > $n }, 5);
        is($t->redis(XLEN => $AUDIT), $n + 1, "$name: audited");
        my $a = last_audit() // {};
        is($a->{status}, $status, "$name: with its status");
        is($a->{action}, 'package.add', "$name: as package.add");
    }
    is_deeply(state_now(), $before, "$name: Redis and the store unchanged");
    return $r;
}

my @BASE = (['product', 'sedan'], ['module', 'ECU'], ['name', 'ecu-fw']);

# the product and its module, through the API as an admin would
my $r = $t->http(POST => '/ota/admin/modules',
                 headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" },
                 json => { module => 'ECU', product => 'sedan' });
is($r->{status}, 201, 'module ECU of product sedan') or diag($r->{content});

# ---- an upload ---------------------------------------------------------------

my $f1 = mkfile('ecu.bin', 3_000_000, 1);
my $f2 = mkfile('BOOT.BIN', 70_001, 2);
$r = upload([@BASE, ['version', '1.2.0'], ['desc', 'spring release'],
             ['ext', 'region=eu'], ['ext', 'hw=rev3'], ['verify', 'true'],
             ['file', "\@$f1"], ['file', "\@$f2"]]);
is($r->{status}, 201, 'an upload of two files: 201') or diag($r->{content} . $r->{err});
my $id = $r->{json}{id} // '';
is($id, 'sedan-ECU-1_2_0', 'the id as otactl makes it');
is($r->{json}{state}, 'unverified', 'verify=true: unverified first');
is($r->{json}{size}, 3_070_001, 'the size of both files');
is($r->{json}{sign_method}, 'sha256', 'sha256 by default');
is($r->{json}{sign}, digest_file($f1, 'sha256'), 'the sign: the first file\'s sha256');

my %rec = @{ $t->redis(HGETALL => OtaTest::key('OTA_KEY_PACKAGE', $id)) // [] };
is($rec{version}, '1.2.0', 'the record: version');
is($rec{name}, 'ecu-fw', 'the record: name');
is($rec{desc}, 'spring release', 'the record: desc');
is_deeply(decode_json($rec{ext} // '{}'), { region => 'eu', hw => 'rev3' },
          'the record: custom data');
is($rec{verify}, '1', 'the record: verify');
my $files = decode_json($rec{files} // '[]');
is_deeply([ map { [ @$_{qw(name size offset sign)} ] } @$files ],
          [ [ 'ecu.bin', 3_000_000, 0, digest_file($f1, 'sha256') ],
            [ 'BOOT.BIN', 70_001, 3_000_000, digest_file($f2, 'sha256') ] ],
          'the record: files with sizes, offsets and digests');
is($t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_PKGVER', 'sedan'), 'ECU:1.2.0'),
   $id, 'the version slot');
ok(defined $t->redis(ZSCORE => OtaTest::key('OTA_KEY_PACKAGES'), $id), 'in the package list');
my $dir = $t->store . "/$id";
is((stat "$dir/ecu.bin")[7], 3_000_000, 'in the store');
is((stat "$dir/ecu.bin")[2] & 07777, 0444, 'read-only');
is((stat "$dir/BOOT.BIN")[2] & 07777, 0444, 'the second too');
my $man = decode_json(OtaTest::read_file("$dir/manifest.json") // '{}');
is_deeply([ $man->{id}, $man->{version}, $man->{size},
            [ map { $_->{sign} } @{ $man->{files} } ] ],
          [ $id, '1.2.0', 3_070_001,
            [ digest_file($f1, 'sha256'), digest_file($f2, 'sha256') ] ],
          'the manifest');
is_deeply([ sort grep { !m{/\.\.?$} } glob($t->store . "/.* " . $t->store . "/$id/.*") ], [],
          'no temporary file left');
my $a = last_audit();
is_deeply([ @$a{qw(token action object status result)} ],
          [ 'admin', 'package.add', $id, 201, 'ok' ], 'audited');
is($t->http(GET => "/ota/admin/packages/$id",
            headers => { Authorization => "Bearer $VIEWER" })->{json}{size},
   3_070_001, 'GET packages/<id> shows it');

# the upload downloads byte-identical, each file
$t->fx_device('car-1', 'sedan');
for my $f ([$f1, 'ecu.bin'], [$f2, 'BOOT.BIN']) {
    my $link = $t->base . $t->signed_link($id, 'car-1', undef, $f->[1]);
    my ($rc) = $t->run_cmd({}, 'curl', '-sSf', '-o', "$D/dl.bin", $link);
    is($rc, 0, "download of $f->[1]");
    is(digest_file("$D/dl.bin", 'sha256'), digest_file($f->[0], 'sha256'),
       "$f->[1] downloads byte-identical (its digest matches)");
}

# md5, a diff package, a browser's path in the file name
my $f3 = mkfile('delta.bin', 1000, 3);
$r = upload([@BASE, ['version', '1.3.0'], ['type', 'diff'], ['from', '1.2.0'],
             ['sign', 'md5'], ['file', "\@$f3;filename=C:\\fw\\delta.bin"]]);
is($r->{status}, 201, 'a diff package with md5: 201') or diag($r->{content});
is($r->{json}{id}, 'sedan-ECU-1_2_0-1_3_0', 'its id names both versions');
is($r->{json}{sign}, digest_file($f3, 'md5'), 'the md5 digest');
ok(-f $t->store . "/sedan-ECU-1_2_0-1_3_0/delta.bin", 'the last path component is the name');
is($r->{json}{state}, 'ready', 'no verify: ready');

# the fields after the file: still checked
$r = upload([['file', "\@$f3"], @BASE, ['version', '1.4.0'], ['sign', 'sha256']]);
is($r->{status}, 201, 'fields after the file: 201') or diag($r->{content});
is($r->{json}{sign}, digest_file($f3, 'sha256'), 'its digest');

# ---- refusals ------------------------------------------------------------------

my $small = mkfile('fw.bin', 5000, 4);
my @OK = (@BASE, ['version', '2.0.0']);

refused([@OK, ['file', "\@$small"]], 401, qr/Authorization/, 'no token', token => undef,
        audited => 0);
refused([@OK, ['file', "\@$small"]], 401, qr/bad admin token/, 'a wrong token',
        token => 'wrong-token-0000000', audited => 0);
refused([@OK, ['file', "\@$small"]], 403, qr/viewer/, 'a viewer', token => $VIEWER);
is(last_audit()->{token}, 'console', 'the audit names the viewer');

# not multipart
{
    my $before = state_now();
    my ($rc, $out) = $t->run_cmd({}, 'curl', '-sS', '-o', "$D/up.out", '-w', '%{http_code}',
        '-H', "Authorization: Bearer $OtaTest::ADMIN_TOKEN", '-H', 'Content-Type: application/json',
        '--data-binary', '{"product":"sedan"}', $URL);
    is($out, 415, 'a JSON body: 415');
    like(OtaTest::read_file("$D/up.out"), qr/multipart\/form-data/, 'the reason names multipart');
    is_deeply(state_now(), $before, '415: nothing changed');
}
OtaTest::write_file("$D/nb.body", "--x\r\n");
refused([], 400, qr/boundary/, 'multipart without a boundary',
        headers => ['Content-Type: multipart/form-data'], args => ['--data-binary', "\@$D/nb.body"]);

refused([@BASE, ['file', "\@$small"]], 400,
        qr/needs "product", "module", "name" and "version"/, 'no version');
refused([@BASE, ['version', '1.2'], ['file', "\@$small"]], 400,
        qr/invalid version "1\.2"/, 'a bad version');
refused([@BASE, ['version', '01.2.0'], ['file', "\@$small"]], 400,
        qr/invalid version/, 'a version with a leading zero');
refused([['product', 'bad product'], ['module', 'ECU'], ['name', 'n'],
         ['version', '2.0.0'], ['file', "\@$small"]], 400,
        qr/invalid product name/, 'a bad product');
refused([@OK, ['type', 'delta'], ['file', "\@$small"]], 400, qr/invalid "type" "delta"/,
        'a bad type');
refused([@OK, ['type', 'diff'], ['file', "\@$small"]], 400, qr/needs "from"/,
        'a diff without from');
refused([@OK, ['type', 'diff'], ['from', '3.0.0'], ['file', "\@$small"]], 400,
        qr/"from" 3\.0\.0 must be lower/, 'a diff from a higher version');
refused([@OK, ['from', '1.0.0'], ['file', "\@$small"]], 400, qr/"from" is only for/,
        'from on a full package');
refused([@OK, ['sign', 'sha1'], ['file', "\@$small"]], 400, qr/invalid "sign" "sha1"/,
        'a bad sign method');
refused([@OK, ['file', "\@$small"], ['sign', 'md5']], 400,
        qr/"sign" md5 must come before the "file" parts/, 'sign=md5 after a file');
refused([@OK, ['verify', 'maybe'], ['file', "\@$small"]], 400, qr/invalid "verify"/,
        'a bad verify');
refused([@OK, ['ext', 'novalue'], ['file', "\@$small"]], 400, qr/invalid "ext" "novalue"/,
        'a bad ext');
refused([@OK, ['ext', 'a=1'], ['ext', 'a=2'], ['file', "\@$small"]], 400,
        qr/"ext" a given twice/, 'an ext key twice');
refused([@OK, ['desc', "two\nlines"], ['file', "\@$small"]], 400, qr/invalid "desc"/,
        'a desc with a control character');
refused([@OK, ['desc', 'x' x 3000], ['file', "\@$small"]], 400, qr/"desc" is too long/,
        'a field over 2048 bytes');
refused([@OK, ['color', 'red'], ['file', "\@$small"]], 400, qr/unknown field "color"/,
        'an unknown field');
refused([@OK, ['version', '2.0.1'], ['file', "\@$small"]], 400, qr/"version" given twice/,
        'a field twice');
refused([@OK], 400, qr/at least one "file" part/, 'no file');
refused([@OK, ['file', 'not a file']], 400, qr/"file" part needs a file name/,
        'a file part without a file name');
my $exe = mkfile('fw.exe', 100, 5);
refused([@OK, ['file', "\@$exe"]], 400, qr/fw\.exe: file type not accepted \(accepted: \.bin/,
        'an extension not accepted');
refused([@OK, ['file', "\@$small;filename=.hidden.bin"]], 400, qr/invalid file name/,
        'a bad file name');
refused([@OK, ['file', "\@$small;filename=manifest.json"]], 400, qr/invalid file name/,
        'a file named manifest.json');
refused([@OK, ['file', "\@$small"], ['file', "\@$small"]], 400, qr/two files named fw\.bin/,
        'two files of one name');
my $empty = "$D/empty.bin";
OtaTest::write_file($empty, '');
refused([@OK, ['file', "\@$empty"]], 400, qr/empty\.bin is empty/, 'an empty file');
refused([@OK, ['module', 'MCU'], ['file', "\@$small"]], 400, qr/"module" given twice/,
        'module twice');
refused([['product', 'sedan'], ['module', 'MCU'], ['name', 'n'], ['version', '2.0.0'],
         ['file', "\@$small"]], 404, qr/no module MCU in product sedan/, 'an unknown module');
refused([@BASE, ['version', '1.2.0'], ['file', "\@$small"]], 409,
        qr/already has version 1\.2\.0 \(package sedan-ECU-1_2_0\)/, 'a version that exists');
refused([@BASE, ['version', '1.3.0'], ['type', 'diff'], ['from', '1.2.0'],
         ['file', "\@$small"]], 409, qr/already has a diff from 1\.2\.0 to 1\.3\.0/,
        'a diff that exists');

# a product that requires signed packages: an upload cannot be signed
$t->redis(HSET => OtaTest::key('OTA_KEY_PRODUCT_SIGNING', 'sedan'), require => 1);
refused([@OK, ['file', "\@$small"]], 409, qr/requires signed packages.*--sign-key/,
        'a product that requires signatures');
$t->redis(DEL => OtaTest::key('OTA_KEY_PRODUCT_SIGNING', 'sedan'));

# a malformed body: its closing boundary missing
{
    my $body = "--XyZ\r\nContent-Disposition: form-data; name=\"product\"\r\n\r\nsedan\r\n"
             . "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
             . "\r\n" . ('z' x 1000);
    OtaTest::write_file("$D/bad.body", $body);
    refused([], 400, qr/malformed multipart.*closing boundary/, 'a body without its end',
            headers => ['Content-Type: multipart/form-data; boundary=XyZ'],
            args => ['--data-binary', "\@$D/bad.body"]);
}

# ---- the size limit (package.max_size) ------------------------------------------

$r = $t->http(PUT => '/ota/admin/config',
              headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" },
              json => { 'package.max_size' => '1MB' });
is($r->{status}, 200, 'package.max_size 1MB') or diag($r->{content});

my $f15 = mkfile('big.bin', 1_500_000, 6);
my $f25 = mkfile('bigger.bin', 2_500_000, 7);
refused([@OK, ['file', "\@$f25"]], 413, qr/over the limit of 1 MB/,
        'a declared body over the limit: 413 at once');
refused([@OK, ['file', "\@$f15"]], 413, qr/big\.bin is over the limit of 1 MB/,
        'a file over the limit: 413 midway');
refused([@OK, ['file', "\@$f25"]], 413, qr/over the limit of 1 MB/,
        'a chunked body over the limit: 413 midway',
        headers => ['Transfer-Encoding: chunked']);
my $f1m = mkfile('exact.bin', 1024 * 1024, 8);
$r = upload([@BASE, ['version', '2.1.0'], ['file', "\@$f1m"]]);
is($r->{status}, 201, 'a file of exactly the limit: 201') or diag($r->{content});
$r = upload([@BASE, ['version', '2.2.0'], ['file', "\@$small"]],
            headers => ['Transfer-Encoding: chunked']);
is($r->{status}, 201, 'a chunked upload under the limit: 201') or diag($r->{content});

# the extensions (package.extensions)
$r = $t->http(PUT => '/ota/admin/config',
              headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" },
              json => { 'package.max_size' => '300MB', 'package.extensions' => '.img' });
is($r->{status}, 200, 'package.extensions .img') or diag($r->{content});
refused([@OK, ['file', "\@$small"]], 400, qr/fw\.bin: file type not accepted \(accepted: \.img\)/,
        'an extension the platform no longer accepts');
$r = $t->http(PUT => '/ota/admin/config',
              headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" },
              json => { 'package.extensions' => '.bin .zip' });
is($r->{status}, 200, 'package.extensions back');

# ---- a client cut off midway -----------------------------------------------------

{
    my $before = state_now();
    my $n = $t->redis(XLEN => $AUDIT);
    my $bnd = 'CutCutCut';
    my $head = join '', map { "--$bnd\r\nContent-Disposition: form-data; name=\"$_->[0]\"\r\n\r\n$_->[1]\r\n" }
                           (@BASE, ['version', '3.0.0']);
    $head .= "--$bnd\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n";
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die "connect: $!\n";
    print $s "POST /ota/admin/packages HTTP/1.1\r\nHost: localhost\r\n"
           . "Authorization: Bearer $OtaTest::ADMIN_TOKEN\r\n"
           . "Content-Type: multipart/form-data; boundary=$bnd\r\n"
           . "Content-Length: 50000000\r\n\r\n" . $head;
    my $chunk = 'c' x 65536;
    print $s $chunk for 1 .. 48;            # 3 MB of the 50 declared
    # the temporary file exists while the upload is on its way
    ok($t->wait_for(sub { my @g = glob($t->store . '/.upload-*/.cut.bin.tmp'); @g }, 10),
       'a cut-off upload: its temporary file while it runs');
    close $s;
    ok($t->wait_for(sub { $t->redis(XLEN => $AUDIT) > $n }, 10), 'the cut is audited');
    like(last_audit()->{result}, qr/cut off/, 'as cut off');
    is_deeply(state_now(), $before, 'a cut-off upload leaves no file and no key');
}

# ---- two uploads of one version at once ---------------------------------------------

{
    my $f20 = mkfile('race.bin', 20_000_000, 9);
    my @pids;
    for my $k (1, 2) {
        my $pid = fork // die "fork: $!\n";
        if (!$pid) {
            exec('curl', '-sS', '-o', "$D/race$k.out",
                 '--limit-rate', '8M', '-H', "Authorization: Bearer $OtaTest::ADMIN_TOKEN",
                 (map { ('--form-string', "$_->[0]=$_->[1]") } @BASE, ['version', '4.0.0']),
                 '-F', "file=\@$f20", $URL) or exit 99;
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my @ans = map { eval { decode_json(OtaTest::read_file("$D/race$_.out")) } // {} } 1, 2;
    my @st = sort map { $_->{id} ? 201 : ($_->{code} // 0) } @ans;
    is_deeply(\@st, [201, 409], 'two uploads of one version at once: one 201, one 409');
    # the one that claimed the readable name on disk may lose the
    # registration to the other (placed under a random id): the winner is
    # the answer's id, and the loser's directory is gone, whichever it was
    my ($win) = map { $_->{id} } grep { $_->{id} } @ans;
    my @dirs = grep { -d $_ } glob($t->store . '/*');
    my @mine = grep { m{/(sedan-ECU-4_0_0|pkg-[0-9a-f]+)$} } @dirs;
    is_deeply(\@mine, [$t->store . '/' . ($win // '?')], 'one package directory: the winner\'s')
        or diag("winner $win: @dirs");
    is_deeply([ glob($t->store . '/.upload-*') ], [], 'no temporary directory');
    is(digest_file($t->store . '/' . ($win // '?') . '/race.bin', 'sha256'),
       digest_file($f20, 'sha256'), 'the winner\'s file is whole');
}

# ---- 200 MB while other clients download ---------------------------------------------

{
    my $big = "$D/big200.bin";
    # random bytes: CRs and boundary prefixes all along
    system("head -c 209715200 /dev/urandom > '$big'") == 0 or die "urandom\n";
    my $want = digest_file($f1, 'sha256');
    my $link = $t->base . $t->signed_link($id, 'car-1', time + 3600, 'ecu.bin');
    my @dl;
    for my $k (1 .. 4) {
        my $pid = fork // die "fork: $!\n";
        if (!$pid) {
            # download until the upload is over, each copy checked
            my ($n, $bad) = (0, 0);
            while (!-e "$D/upload.done" || $n < 2) {
                system('curl', '-sSf', '-o', "$D/dl$k.bin", $link) == 0 or $bad++;
                $bad++ if digest_file("$D/dl$k.bin", 'sha256') ne $want;
                $n++;
            }
            OtaTest::write_file("$D/dl$k.res", "$n $bad");
            POSIX::_exit(0);
        }
        push @dl, $pid;
    }
    $r = upload([@BASE, ['version', '5.0.0'], ['file', "\@$big"]]);
    OtaTest::write_file("$D/upload.done", '1');
    waitpid($_, 0) for @dl;
    is($r->{status}, 201, 'a 200 MB upload: 201') or diag($r->{content} . $r->{err});
    is($r->{json}{sign}, digest_file($big, 'sha256'), 'its digest is the file\'s');
    for my $k (1 .. 4) {
        my ($n, $bad) = split ' ', OtaTest::read_file("$D/dl$k.res") // '0 1';
        ok($n >= 2 && $bad == 0, "downloader $k: $n downloads meanwhile, all whole");
    }
    my $link2 = $t->base . $t->signed_link($r->{json}{id} // 'none', 'car-1');
    my ($rc) = $t->run_cmd({}, 'curl', '-sSf', '-o', "$D/dl-big.bin", $link2);
    is($rc, 0, 'the 200 MB package downloads');
    is(digest_file("$D/dl-big.bin", 'sha256'), digest_file($big, 'sha256'),
       'byte-identical');
    unlink $big, "$D/dl-big.bin";
}

$t->stop;

# ---- the same with nginx at error_log debug --------------------------------------------

{
    my $d = OtaTest->new(log_level => 'debug');
    ok($d->wait_nginx_redis, 'debug: nginx connected');
    if ($> == 0) {
        my (undef, undef, $uid, $gid) = getpwnam('nobody');
        chown $uid, $gid, $d->store;
    }
    $d->fx_module('sedan', 'ECU');
    my $keep = $t;
    $t = $d;
    $URL = $d->base . '/ota/admin/packages';
    $r = upload([@BASE, ['version', '1.0.0'], ['file', "\@$f1"]]);
    is($r->{status}, 201, 'debug: an upload') or diag($r->{content});
    refused([@BASE, ['version', '1.0.0'], ['file', "\@$small"]], 409, qr/already has/,
            'debug: a duplicate');
    refused([@BASE, ['version', '1.1.0'], ['file', "\@$exe"]], 400, qr/not accepted/,
            'debug: a bad extension');
    like(OtaTest::read_file($d->dir . '/nginx/error.log'), qr/ota admin upload: body of \d+ bytes read/,
         'debug: the milestones are logged');
    $d->stop;
}

done_testing;
