# otactl over the admin API (otactl --api URL --token T, OTA_API and
# OTA_ADMIN_TOKEN; issue 19): the same output as direct mode, table and
# JSON, for every read; the API's refusals as otactl's own (a wrong token,
# a viewer's write, an API that is down, Redis down behind it) with direct
# mode's exit codes; the commands that need the server's store say so;
# and the endpoints otactl needed: GET products/<p>, GET devices?product=
# (an SSCAN page), ?wait= of the worker's jobs.  The whole otactl suite
# runs through the API too: make test-api.

use strict;
use warnings;
use Test::More;
use JSON::PP qw(decode_json);
use lib 't/lib';
use OtaTest;

my $VIEWER = 'viewer-token-0123456789';
my $t = OtaTest->new(worker => 1, admin_extra =>
    "ota_admin_token console:$VIEWER role=viewer; ota_body_max 2m;");
ok($t->wait_nginx_redis, 'nginx workers connected to Redis');

my $otactl = "$OtaTest::BUILD/otactl";
my $API = $t->base . '/ota/admin';
my $AUDIT = OtaTest::key('OTA_STREAM_AUDIT');

# direct: Redis and the store; api: only the URL and a token (Redis and the
# store are named as unreachable, so nothing can go around the API)
sub direct {
    return $t->run_cmd({ OTA_REDIS => $t->redis_addr, OTA_STORE => $t->store },
                       $otactl, @_);
}
sub api_as {
    my ($token, @args) = @_;
    return $t->run_cmd({ OTA_REDIS => '127.0.0.1:1',
                         OTA_STORE => $t->dir . '/not-mounted' },
                       $otactl, '--api', $API, '--token', $token, @args);
}
sub api { api_as($OtaTest::ADMIN_TOKEN, @_) }

sub http_admin {
    my ($method, $path, %o) = @_;
    return $t->http($method, "/ota/admin/$path",
                    headers => { Authorization => "Bearer "
                                 . ($o{token} // $OtaTest::ADMIN_TOKEN) },
                    (exists $o{json} ? (json => $o{json}) : ()));
}

sub mkfile {
    my ($name, $size) = @_;
    my $p = $t->dir . "/$name";
    OtaTest::write_file($p, join '', map { chr(($_ * 7 + 3) % 256) } 1 .. $size);
    return $p;
}

# what a refusal may change: every key but the audit stream (the API
# records refusals) and the running batch's keys (the worker moves its
# tasks on by itself), and the store
my $batch;
sub state_now {
    my @skip = ($AUDIT);
    push @skip, grep { index($_, $batch) >= 0 } @{ $t->redis(KEYS => '*') // [] }
        if $batch;
    $t->state_snapshot(skip => \@skip);
}

# refused through the API: exit code, one line matching $why, no stdout,
# nothing changed
sub api_refused {
    my ($name, $code, $why, @cmd) = @_;
    my $before = state_now();
    my ($rc, $out, $err) = @cmd;
    is($rc, $code, "$name: exit $code");
    like($err, $why, "$name: the reason") or diag($err);
    is(scalar(() = $err =~ /\n/g), 1, "$name: one line");
    is($out, '', "$name: nothing on stdout");
    is(state_now(), $before, "$name: nothing changed");
}

# ---- a fleet, made through the API -----------------------------------------

my ($rc, $out, $err);
for my $d (map { sprintf 'car-%03d', $_ } 1 .. 12) {
    ($rc, $out, $err) = api(qw(device add), $d, qw(--product sedan));
    is($rc, 0, "device add $d over the API") or diag($err) if $d eq 'car-001';
}
($rc, $out, $err) = api(qw(device add car-001 --product sedan));
is($rc, 1, 'a device twice: exit 1, as direct mode');
like($err, qr/^otactl: device car-001 already exists \(product sedan\)\n\z/,
     '  the API\'s reason, as otactl says it');
($rc, $out) = api(qw(--json device add truck-1 --product truck --secret),
                  'given-secret-0123456789');
is(decode_json($out)->{secret}, 'given-secret-0123456789', 'device add --json');
($rc, $out, $err) = api(qw(module add ECU --product sedan --alias engine --desc), 'the ECU');
is($rc, 0, 'module add over the API') or diag($err);
is($out, "ECU\n", '  prints the module');
($rc, $out, $err) = api(qw(module add TCU --product van));
like($err, qr/note: new product van/, '  a new product is noted');

# packages through direct mode (POST packages is another helper's; make
# test-api runs package add through the API where it is there)
my $fw = mkfile('ecu.bin', 4000);
($rc, $out, $err) = direct('package', 'add', $fw, qw(--product sedan --module ECU
    --name ecu-fw --version 1.1.0 --ext region=eu));
is($rc, 0, 'a package') or diag($err);
chomp(my $pkg = $out);

# versions the devices report, so stats has something
for my $d (qw(car-001 car-002 car-003)) {
    $t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $d), 'ECU', '1.0.0');
}
$t->redis(HSET => OtaTest::key('OTA_KEY_VERSION_DIST', 'sedan', 'ECU'), '1.0.0', 3);

($rc, $out, $err) = api(qw(batch create --package), $pkg,
                        qw(--type upgrade --name eu));
is($rc, 0, 'batch create over the API') or diag($err);
chomp($batch = $out);
like($err, qr/^otactl: \d+ tasks; skipped: /, '  with the tasks and skips on stderr');
($rc, $out, $err) = api(qw(batch pause), $batch);
is($rc, 0, 'batch pause over the API') or diag($err);
is($out, "$batch\n", '  prints the batch');
($rc) = api(qw(batch resume), $batch);
is($rc, 0, 'batch resume');

# ---- every read prints what direct mode prints --------------------------------

for my $cmd ([qw(device show car-001)], [qw(device show truck-1)],
             [qw(device list)], [qw(device list --product sedan --limit 5)],
             [qw(module list --product sedan)],
             ['package', 'show', $pkg], [qw(package list)],
             [qw(package list --product sedan)],
             ['batch', 'show', $batch], ['batch', 'show', $batch, '--devices'],
             [qw(batch list)], [qw(batch list --product sedan)],
             [qw(stats versions --product sedan)],
             [qw(stats versions --product sedan --module ECU)],
             [qw(config show)]) {
    my $name = join ' ', @$cmd;
    my ($drc, $dout, $derr) = direct(@$cmd);
    my ($arc, $aout, $aerr) = api(@$cmd);
    is($arc, $drc, "$name: the same exit code") or diag($aerr);
    if ($name =~ /^device list$|^batch list/) {
        # across products the order of a set is Redis's: compare the lines
        is(join("\n", sort split /\n/, $aout), join("\n", sort split /\n/, $dout),
           "$name: the same table");
    } else {
        is($aout, $dout, "$name: the same table") or diag("$aerr\n$derr");
    }
    ($drc, $dout) = direct('--json', @$cmd);
    ($arc, $aout, $aerr) = api('--json', @$cmd);
    my ($dj, $aj) = (eval { decode_json($dout) }, eval { decode_json($aout) });
    if ($name =~ /^device list$|^batch list/) {
        $_ = [ sort { ($a->{device} // $a->{id}) cmp ($b->{device} // $b->{id}) } @$_ ]
            for grep { ref eq 'ARRAY' } $dj, $aj;
    }
    is_deeply($aj, $dj, "$name --json: the same JSON") or diag($aout);
}

# the same refusals, in the same words
for my $cmd ([qw(device show nosuch)], [qw(batch show nosuch)],
             [qw(package show nosuch)], [qw(batch pause nosuch)],
             [qw(module list --product nosuch)],
             [qw(device list --product nosuch)],
             [qw(stats versions --product nosuch)],
             [qw(stats versions --product sedan --module nosuch)],
             [qw(batch create --package nosuch --type upgrade --name x)],
             [qw(config set package.max_size lots)],
             [qw(device add bad/name --product sedan)]) {
    my $name = join ' ', @$cmd;
    my ($drc, undef, $derr) = direct(@$cmd);
    api_refused($name, $drc, qr/^\Q$derr\E\z/, api(@$cmd));
}

($rc, $out, $err) = api(qw(config set package.max_size 2000MB));
is($rc, 0, 'config set over the API') or diag($err);
like($out, qr/package.max_size\s+2000 MB/, '  prints the settings');
like((direct(qw(config show)))[1], qr/package.max_size\s+2000 MB\s*\n/,
     '  stored: direct mode reads it');

# ---- the API's refusals as otactl's ------------------------------------------

api_refused('a wrong token', 1, qr/^otactl: the admin API at \Q$API\E refused the token: .*--token or OTA_ADMIN_TOKEN/,
            api_as('not-the-token-0123', qw(device list)));
api_refused('a wrong token on a write', 1, qr/refused the token/,
            api_as('not-the-token-0123', qw(device add car-900 --product sedan)));
($rc, $out, $err) = $t->run_cmd({ OTA_API => $API, OTA_ADMIN_TOKEN => 'wrong-token-012345',
                                  OTA_REDIS => '127.0.0.1:1' }, $otactl, qw(batch list));
is($rc, 1, 'OTA_API and OTA_ADMIN_TOKEN: the API is used (the wrong token refused)');
like($err, qr/refused the token/, '  says so');
($rc, $out) = $t->run_cmd({ OTA_API => $API, OTA_ADMIN_TOKEN => $OtaTest::ADMIN_TOKEN,
                            OTA_REDIS => '127.0.0.1:1' }, $otactl, qw(device show car-002));
is($rc, 0, 'OTA_API and OTA_ADMIN_TOKEN: a read');
like($out, qr/^device:\s+car-002/, '  prints the device');

# a viewer reads, and is refused writes with the API's 403 reason
($rc, $out) = api_as($VIEWER, qw(batch show), $batch);
is($rc, 0, 'a viewer reads over the API');
like($out, qr/^batch:\s+\Q$batch\E/, '  the batch');
for my $w ([qw(device add car-901 --product sedan)], [qw(module add X1 --product sedan)],
           [qw(batch cancel), $batch], [qw(config set package.max_size 10MB)],
           [qw(batch create --package), $pkg, qw(--type upgrade --name v)]) {
    api_refused("a viewer's $w->[0] $w->[1]", 1,
                qr/^otactl: this token is a viewer's: writes need an operator token/,
                api_as($VIEWER, @$w));
}

# usage: no token, a URL that is not one
($rc, undef, $err) = $t->run_cmd({ OTA_REDIS => '127.0.0.1:1' }, $otactl,
                                  '--api', $API, qw(device list));
is($rc, 2, '--api without a token: exit 2');
like($err, qr/--api needs an admin token: --token TOKEN or OTA_ADMIN_TOKEN/, '  says what to give');
($rc, undef, $err) = api_as('x' x 12, qw(--api ftp://x device list));
is($rc, 2, 'a bad --api URL: exit 2');
like($err, qr/invalid admin API address "ftp:\/\/x"/, '  says so');
# a URL that is not the admin location
($rc, undef, $err) = $t->run_cmd({}, $otactl, '--api', $t->base . '/static',
                                  '--token', $OtaTest::ADMIN_TOKEN, qw(device show car-001));
is($rc, 1, 'not the admin location: exit 1');
like($err, qr/HTTP 404 .*admin location/, '  says where to look');

# what needs the server's store or a local key says so
my $keydir = $t->dir . '/keys';
mkdir $keydir;
($rc, $out, $err) = api(qw(key gen --out), $keydir);
is($rc, 0, 'key gen works locally in API mode') or diag($err);
ok(-f "$keydir/ota-sign.key", '  the key is written here');
# package diff works over the API (the worker makes the delta, t/46): its
# refusals are direct mode's
api_refused('package diff of a package with itself over the API', 1,
            qr/^otactl: --from $pkg is version \S+, not below --to ${pkg}'s/,
            api(qw(package diff --from), $pkg, '--to', $pkg));
api_refused('package diff --sign-key over the API: a public key to sign with', 1,
            qr/^otactl: .*ota-sign\.pub/,
            api(qw(package diff --from), $pkg, '--to', $pkg, '--sign-key', "$keydir/ota-sign.pub"));
# package add --sign-key and product set go through the API (t/45 signs
# and sets there); what they refuse is refused as direct mode refuses it
api_refused('package add --sign-key over the API: a public key to sign with', 1,
            qr/^otactl: .*ota-sign\.pub/,
            api('package', 'add', $fw, qw(--product sedan --module ECU --name s
                --version 9.0.0 --sign-key), "$keydir/ota-sign.pub"));
api_refused('product set over the API: an unknown product', 1,
            qr/^otactl: no product nosuch \(otactl device add/,
            api(qw(product set nosuch --require-signed)));
# a file refused before anything is sent, as direct mode refuses it
api_refused('package add: an extension not accepted', 1,
            qr/^otactl: fw\.exe: file type not accepted/,
            api('package', 'add', mkfile('fw.exe', 10), qw(--product sedan --module ECU
                --name x --version 9.0.1)));

# package verify: the signature and the manifest, not the server's files
($rc, $out, $err) = direct('package', 'add', $fw, qw(--product sedan --module ECU --name signed
    --version 1.2.0 --sign-key), "$keydir/ota-sign.key");
is($rc, 0, 'a signed package (direct)') or diag($err);
chomp(my $signed = $out);
($rc, $out, $err) = api(qw(package verify), $signed, '--pubkey', "$keydir/ota-sign.pub");
is($rc, 0, 'package verify over the API') or diag($err);
like($out, qr/signature good .*the files were not checked \(over the admin API/, '  says what it checked');
($rc, $out, $err) = api(qw(package verify), $pkg, '--pubkey', "$keydir/ota-sign.pub");
is($rc, 1, 'an unsigned package: exit 1');
like($err, qr/is not signed/, '  says so');

# link is made here, with the server key given
($rc, $out) = api(qw(link --package), $pkg, qw(--device car-001 --secret), $OtaTest::SECRET);
is($rc, 0, 'link works locally in API mode');
like($out, qr{/ota/v1/packages/\Q$pkg\E\?device=car-001}, '  the link');

# ?wait= of the worker's jobs: checked, and a job nobody answers expires
my $r = http_admin('POST', "batches/$batch/pause?wait=0");
is($r->{status}, 400, 'wait=0: 400');
like($r->{json}{message}, qr/"wait" must be seconds/, '  with the reason');
is(http_admin('POST', "batches/$batch/pause?wait=3601")->{status}, 400, 'wait=3601: 400');
is(http_admin('POST', "batches?wait=x", json => { package => $pkg })->{status}, 400,
   'POST batches?wait=x: 400');

# ---- GET products/<p>, GET devices?product= -------------------------------------

$r = http_admin('GET', 'products/sedan');
is($r->{status}, 200, 'GET products/sedan');
is($r->{json}{devices}, 12, '  its devices');
is_deeply([ map { $_->{module} } @{ $r->{json}{modules} } ], [qw(default ECU)],
          '  its modules, default first');
like($r->{json}{modules}[1]{created}, qr/^\d{10}$/, '  each with its creation time');
is(http_admin('GET', 'products/nosuch')->{status}, 404, 'an unknown product: 404');
is(http_admin('GET', 'products/.bad')->{status}, 400, 'a bad product name: 400');
is(http_admin('GET', 'products/sedan', token => $VIEWER)->{status}, 200, '  a viewer reads it');

# a walk of 250 devices by pages of 100: every device, each with its versions
for my $i (1 .. 250) {
    $t->fx_device("bus-$i", 'bus');
}
$t->redis(HSET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', 'bus-7'), 'default', '2.0.0',
          'default@ts', '123');
my (%seen, $pages, $v7);
my $cursor = '0';
do {
    $r = http_admin('GET', "devices?product=bus&cursor=$cursor&limit=100");
    is($r->{status}, 200, 'GET devices?product=bus: a page') unless $pages;
    $pages++;
    for my $d (@{ $r->{json}{devices} }) {
        $seen{ $d->{device} } = 1;
        $v7 = $d->{versions} if $d->{device} eq 'bus-7';
    }
    $cursor = $r->{json}{cursor};
} while ($cursor ne '0' && $pages < 50);
is(scalar(keys %seen), 250, 'the walk finds every device');
cmp_ok($pages, '>', 1, '  in several bounded pages');
is_deeply($v7, { default => '2.0.0' }, '  with the versions (not the "@ts" fields)');
($rc, $out) = api(qw(device list --product bus));
is(scalar(() = $out =~ /^bus-\d+ /mg), 250, 'device list over the API walks them all');
($rc, $out) = api(qw(device list --product bus --limit 7));
is(scalar(() = $out =~ /^bus-\d+ /mg), 7, '  and stops at --limit');

for my $bad ([ 'devices', 400, qr/"product" is missing/ ],
             [ 'devices?product=.x', 400, qr/"product" is missing or not a valid/ ],
             [ 'devices?product=bus&cursor=x', 400, qr/"cursor" must be/ ],
             [ 'devices?product=bus&limit=0', 400, qr/"limit" must be/ ],
             [ 'devices?product=bus&limit=1001', 400, qr/"limit" must be/ ],
             [ 'devices?product=nosuch', 404, qr/no such product/ ]) {
    $r = http_admin('GET', $bad->[0]);
    is($r->{status}, $bad->[1], "GET $bad->[0]: $bad->[1]");
    like($r->{json}{message} // '', $bad->[2], '  with the reason');
}

# the worker's refusal, through the API
($rc) = api(qw(batch cancel), $batch);
is($rc, 0, 'batch cancel over the API');
($rc, $out, $err) = api(qw(batch pause), $batch);
is($rc, 1, 'pausing a cancelled batch: exit 1, the worker\'s refusal');
like($err, qr/^otactl: .*only a running batch can be paused\n\z/, '  its reason') or diag($err);

# ---- down: the API, Redis behind it --------------------------------------------

$t->stop_redis;
($rc, $out, $err) = api(qw(batch show), $batch);
is($rc, 3, 'Redis down behind the API: exit 3, as direct mode without Redis');
like($err, qr/^otactl: .*\n\z/, '  one line') or diag($err);
is($out, '', '  nothing on stdout');
$t->start_redis;

$t->stop_nginx;
($rc, $out, $err) = api(qw(batch list));
is($rc, 3, 'the API down: exit 3');
like($err, qr/^otactl: admin API at \Q$API\E: .*\(is nginx running there\? set --api or OTA_API\)\n\z/,
     '  says where it looked');
is($out, '', '  nothing on stdout');

$t->stop;
done_testing();
