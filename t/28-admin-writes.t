# The admin API's writes (issue 19): tokens with roles, POST devices (one
# or a list), POST modules, GET/PUT config (shared with otactl config and
# otactl package add), POST batches/<id>/pause|resume|cancel through the
# worker, and the audit trail.  Every refusal is a 4xx with a reason and
# leaves Redis as it was (but for its audit entry).

use strict;
use warnings;
use Test::More;
use JSON::PP qw(decode_json encode_json);
use lib 't/lib';
use OtaTest;

my $VIEWER = 'viewer-token-0123456789';
my $CI     = 'ci-token-0123456789abcd';
my $t = OtaTest->new(worker => 1, admin_extra =>
    "ota_admin_token console:$VIEWER role=viewer; "
    . "ota_admin_token ci:$CI role=operator; ota_body_max 2m;");
ok($t->wait_nginx_redis, "nginx workers connected to Redis");
# the worker's start (its streams and groups, its heartbeat) is done before
# any "nothing changed" is compared
ok($t->wait_for(sub { $t->redis(EXISTS => OtaTest::key('OTA_STREAM_JOBS'))
                      && $t->redis(EXISTS => OtaTest::key('OTA_STREAM_EVENTS'))
                      && $t->redis(HLEN => OtaTest::key('OTA_KEY_WORKERS')) }),
   'the worker is up');

my $AUDIT = OtaTest::key('OTA_STREAM_AUDIT');

sub api {
    my ($method, $path, %o) = @_;
    my $tok = exists $o{token} ? $o{token} : $OtaTest::ADMIN_TOKEN;
    my %h = defined $tok ? (Authorization => "Bearer $tok") : ();
    return $t->http($method, "/ota/admin/$path", headers => \%h,
                    (exists $o{json} ? (json => $o{json}) : ()),
                    (exists $o{body} ? (body => $o{body}) : ()));
}

# Redis without the audit stream and the worker's own bookkeeping (its
# heartbeat and reader lease change by themselves)
sub state_now {
    my $s = $t->redis_snapshot;
    delete $s->{$_} for $AUDIT, OtaTest::key('OTA_KEY_WORKERS'),
                        OtaTest::key('OTA_KEY_EVENTS_READER');
    # the worker trims the jobs stream as it likes: its newest job says
    # whether a job was added
    my $jobs = OtaTest::key('OTA_STREAM_JOBS');
    if (exists $s->{$jobs}) {
        my $last = $t->redis(XREVRANGE => $jobs, '+', '-', 'COUNT', 1);
        $s->{$jobs} = $last && @$last ? $last->[0][0] : '';
    }
    return $s;
}

sub last_audit {
    my $e = $t->redis(XREVRANGE => $AUDIT, '+', '-', 'COUNT', 1);
    return undef unless $e && @$e;
    return { @{ $e->[0][1] } };
}

# a refusal: status, a message matching re, nothing changed, audited
sub refused {
    my ($method, $path, $body, $status, $re, $name, %o) = @_;
    my $before = state_now();
    my $n = $t->redis(XLEN => $AUDIT);
    my $r = api($method, $path, (defined $body ? (json => $body) : ()), %o);
    is($r->{status}, $status, "$name: $status");
    like($r->{json}{message} // '', $re, "$name: the reason")
        or diag($r->{content});
    is_deeply(state_now(), $before, "$name: nothing changed");
    if ($o{audited} // 1) {
        # a body that does not parse is audited without waiting
        $t->wait_for(sub { $t->redis(XLEN => $AUDIT) > $n }, 5);
        is($t->redis(XLEN => $AUDIT), $n + 1, "$name: audited");
        is(last_audit()->{status}, $status, "$name: with its status");
    }
    return $r;
}

# ---- tokens and roles ------------------------------------------------------

my $r = api('GET', 'whoami', token => undef);
is($r->{status}, 401, 'no token: 401');
is(api('GET', 'whoami', token => 'wrong-token-000000')->{status}, 401,
   'a wrong token: 401');
is(api('POST', 'devices', token => 'wrong-token-000000',
       json => { device => 'x', product => 'p' })->{status}, 401,
   'a wrong token writing: 401');

is_deeply(api('GET', 'whoami')->{json},
          { token => 'admin', role => 'operator', write => JSON::PP::true },
          'the one-word token is "admin", an operator');
is_deeply(api('GET', 'whoami', token => $VIEWER)->{json},
          { token => 'console', role => 'viewer', write => JSON::PP::false },
          'a viewer learns its role (for the console)');
is(api('GET', 'whoami', token => $CI)->{json}{role}, 'operator', 'a named operator');
is(api('GET', 'packages', token => $VIEWER)->{status}, 200, 'a viewer reads');
is(api('GET', 'config', token => $VIEWER)->{status}, 200, 'a viewer reads config');

refused('POST', 'devices', { device => 'v1', product => 'pv' }, 403,
        qr/viewer.*operator token/, 'viewer adds a device', token => $VIEWER);
is(last_audit()->{token}, 'console', 'the audit names the viewer token');
is(last_audit()->{role}, 'viewer', 'and its role');
refused('PUT', 'config', { 'package.max_size' => '1MB' }, 403, qr/viewer/,
        'viewer sets config', token => $VIEWER);
refused('POST', 'batches/b1/cancel', undef, 403, qr/viewer/,
        'viewer cancels a batch', token => $VIEWER);

is(api('DELETE', 'devices')->{status}, 405, 'DELETE: 405');
is(api('POST', 'metrics')->{status}, 405, 'POST to a read-only resource: 405');
is(api('GET', 'devices')->{status}, 400, 'GET devices without a product: 400');
is(api('POST', 'nothing')->{status}, 404, 'POST to nothing: 404');
is(api('POST', 'packages', json => {})->{status}, 415,
   'POST packages wants multipart/form-data (t/29-admin-upload.t)');
refused('POST', 'batches', { package => 'p', type => 'upgrade', name => 'n' }, 403,
        qr/viewer/, 'viewer creates a batch', token => $VIEWER);
is(api('PUT', 'devices', json => {})->{status}, 405, 'PUT devices: 405');
is(api('POST', 'config', json => {})->{status}, 405, 'POST config: 405');

# ---- POST devices ----------------------------------------------------------

$r = api('POST', 'devices', token => $CI, json => { device => 'dev-1', product => 'prodA' });
is($r->{status}, 201, 'one device: 201') or diag($r->{content});
like($r->{json}{secret} // '', qr/^[0-9a-f]{64}$/, 'a generated secret');
is($r->{json}{device}, 'dev-1', 'the device');
my $secret = $r->{json}{secret};
is($t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE', 'dev-1'), 'secret'), $secret,
   'stored');
ok($t->redis(SISMEMBER => OtaTest::key('OTA_KEY_PRODUCT_DEVICES', 'prodA'), 'dev-1'),
   'in its product');
ok($t->redis(HEXISTS => OtaTest::key('OTA_KEY_PRODUCT_MODULES', 'prodA'), 'default'),
   'the product has module default');
my $a = last_audit();
is_deeply([ @$a{qw(token role action object status result)} ],
          [ 'ci', 'operator', 'device.add', 'dev-1', 201, 'ok' ], 'audited');
my $all = join ' ', map { @{ $_->[1] } } @{ $t->redis(XRANGE => $AUDIT, '-', '+') };
unlike($all, qr/\Q$secret\E|\Q$CI\E/, 'no secret and no token in the audit stream');

# the device can log in with what the API handed out
my $ts = int(time * 1000);
$r = $t->http('POST', '/ota/v1/auth', json => { product => 'prodA', device => 'dev-1',
              timestamp => $ts, sign => OtaTest::auth_sign($secret, 'dev-1', 'prodA', $ts) });
is($r->{status}, 200, 'the device authenticates with its secret');

$r = api('POST', 'devices', json => { device => 'dev-2', product => 'prodA',
                                      secret => 'given-secret-0123456789' });
is($r->{json}{secret}, 'given-secret-0123456789', 'a given secret is kept');

$r = api('POST', 'devices', json => [ map { { device => "lot-$_", product => 'prodB' } } 1 .. 3 ]);
is($r->{status}, 201, 'a list: 201') or diag($r->{content});
is($r->{json}{count}, 3, 'three devices');
is_deeply([ map { $_->{device} } @{ $r->{json}{devices} } ], [qw(lot-1 lot-2 lot-3)],
          'in order, each with its secret');
is(scalar(grep { $_->{secret} =~ /^[0-9a-f]{64}$/ } @{ $r->{json}{devices} }), 3, 'secrets');
is(last_audit()->{object}, 'lot-1 (and 2 more)', 'the audit names the list');

# refusals
refused('POST', 'devices', '{"device":', 400, qr/malformed JSON/, 'malformed JSON');
refused('POST', 'devices', '"dev"', 400, qr/malformed JSON.*'\[' or '\{' expected/,
        'a string');
refused('POST', 'devices', [], 400, qr/empty list/, 'an empty list');
refused('POST', 'devices', { device => '../x', product => 'p' }, 400,
        qr/invalid device name/, 'a bad device name');
refused('POST', 'devices', { device => 'nd' }, 400, qr/needs "product"/, 'no product');
refused('POST', 'devices', { product => 'p' }, 400, qr/needs a name/, 'no device');
refused('POST', 'devices', { device => 'nd', product => 'p q' }, 400,
        qr/invalid product name/, 'a bad product');
refused('POST', 'devices', { device => 'nd', product => 'p', secret => 'short' }, 400,
        qr/invalid "secret"/, 'a short secret');
refused('POST', 'devices', { device => 'nd', product => 'p', colour => 'red' }, 400,
        qr/unknown field "colour"/, 'an unknown field');
refused('POST', 'devices', { device => 7, product => 'p' }, 400,
        qr/"device" must be a string/, 'a number for a name');
refused('POST', 'devices', { device => 'dev-1', product => 'prodA' }, 409,
        qr/device dev-1 already exists \(product prodA\)/, 'an existing device');
refused('POST', 'devices', [ { device => 'new-1', product => 'p' },
                              { device => 'dev-2', product => 'p' } ], 409,
        qr/dev-2 already exists/, 'a list with one existing device: none added');
refused('POST', 'devices', [ { device => 'new-1', product => 'p' },
                              { device => 'new-1', product => 'p' } ], 400,
        qr/new-1 is named twice/, 'a device twice in a list');
refused('POST', 'devices', [ { device => 'new-1', product => 'p' }, 'new-2' ], 400,
        qr/device \[1\]: each device is a JSON object/, 'a list item not an object');
refused('POST', 'devices', [ { device => 'new-1', product => 'p' },
                              { device => 'bad name', product => 'p' } ], 400,
        qr/device \[1\]: invalid device name/, 'the bad item is named');
refused('POST', 'devices', [ map { { device => "m$_", product => 'p' } } 1 .. 10001 ],
        413, qr/at most 10000/, 'more than 10,000 devices');
refused('POST', 'devices', [ map { { device => "m$_", product => 'p',
                                      secret => 'x' x 100 } } 1 .. 20000 ],
        413, qr/too large/, 'a body over ota_body_max', audited => 0);

# as an impatient script would: the same new device twenty times at once
# (curl's parallel mode): one is created, every other one is a 409
{
    my @args;
    for my $i (1 .. 20) {
        push @args, ($i > 1 ? ('--next') : ()), '-s', '-o', '/dev/null',
             '-w', '%{http_code}\n', '-H', "Authorization: Bearer $OtaTest::ADMIN_TOKEN",
             '-d', '{"device":"race-1","product":"prodR"}', $t->base . '/ota/admin/devices';
    }
    my ($rc, $codes) = $t->run_cmd({}, 'curl', '--parallel', '--parallel-max', '20', @args);
    my %n;
    $n{$_}++ for split /\n/, $codes;
    is($n{201}, 1, 'twenty at once: one created');
    is($n{409}, 19, 'nineteen told it exists');
    is($t->redis(SCARD => OtaTest::key('OTA_KEY_PRODUCT_DEVICES', 'prodR')), 1,
       'one device in the product');
}

# ---- POST modules ----------------------------------------------------------

$r = api('POST', 'modules', json => { module => 'MCU', product => 'prodA',
                                      alias => 'main controller', desc => 'the MCU' });
is($r->{status}, 201, 'a module: 201') or diag($r->{content});
is_deeply($r->{json}, { product => 'prodA', module => 'MCU', alias => 'main controller',
                        desc => 'the MCU', new_product => JSON::PP::false }, 'its answer');
my $m = decode_json($t->redis(HGET => OtaTest::key('OTA_KEY_PRODUCT_MODULES', 'prodA'), 'MCU'));
is($m->{alias}, 'main controller', 'stored as otactl stores it');
is(last_audit()->{object}, 'prodA/MCU', 'audited as product/module');
$r = api('POST', 'modules', json => { module => 'APP', product => 'prodNew' });
ok($r->{json}{new_product}, 'a new product');
my ($rc, $out) = $t->otactl('module', 'list', '--product', 'prodNew', '--json');
like($out, qr/"APP"/, 'otactl lists it');

refused('POST', 'modules', { module => 'MCU', product => 'prodA' }, 409,
        qr/module MCU already exists in product prodA/, 'an existing module');
refused('POST', 'modules', { module => 'a.b', product => 'prodA' }, 400,
        qr/invalid module name/, 'a bad module name');
refused('POST', 'modules', { module => 'X' }, 400, qr/needs "product"/, 'no product');
refused('POST', 'modules', { module => 'X', product => 'prodA', alias => "a\nb" }, 400,
        qr/invalid "alias"/, 'a control character in the alias');
refused('POST', 'modules', { module => 'X', product => 'prodA', desc => 'd' x 1025 }, 400,
        qr/invalid "desc"/, 'a description too long');
refused('POST', 'modules', [ { module => 'X', product => 'prodA' } ], 400,
        qr/JSON object/, 'a list');

# ---- config ----------------------------------------------------------------

$r = api('GET', 'config');
is($r->{json}{'package.max_size'}, 1000 * 1024 * 1024, 'default size limit');
like($r->{json}{'package.extensions'}, qr/^\.bin .*\.pack$/, 'default extensions');
is_deeply($r->{json}{defaults}, [qw(package.max_size package.extensions)], 'both defaults');

$r = api('PUT', 'config', json => { 'package.max_size' => '2000MB' });
is($r->{status}, 200, 'PUT config: 200') or diag($r->{content});
is($r->{json}{'package.max_size'}, 2000 * 1024 * 1024, 'the new limit');
is_deeply($r->{json}{defaults}, ['package.extensions'], 'the other keeps its default');
is(last_audit()->{object}, 'package.max_size=2097152000', 'audited with the value');
$r = api('PUT', 'config', json => { 'package.extensions' => '.BIN, .zip', 'package.max_size' => 4096 });
is($r->{json}{'package.extensions'}, '.bin .zip', 'extensions, lower case');
is($r->{json}{'package.max_size'}, 4096, 'a size in bytes');

refused('PUT', 'config', {}, 400, qr/nothing to set/, 'nothing to set');
refused('PUT', 'config', { 'package.colour' => 'red' }, 400, qr/unknown setting/,
        'an unknown setting');
refused('PUT', 'config', { 'package.max_size' => '12 parsecs' }, 400,
        qr/invalid package.max_size/, 'a bad size');
refused('PUT', 'config', { 'package.max_size' => '0' }, 400,
        qr/invalid package.max_size/, 'a zero size');
refused('PUT', 'config', { 'package.max_size' => '5000GB' }, 400,
        qr/invalid package.max_size/, 'a size over 1 TB');
refused('PUT', 'config', { 'package.extensions' => 'bin' }, 400,
        qr/invalid file extension "bin"/, 'an extension without its dot');
refused('PUT', 'config', { 'package.extensions' => ' , ' }, 400,
        qr/empty extension list/, 'no extension');
refused('PUT', 'config', { 'package.max_size' => '1MB', 'package.extensions' => 'x' }, 400,
        qr/invalid file extension/, 'one bad value refuses both');
refused('PUT', 'config', { 'package.max_size' => [1] }, 400, qr/must be a string/,
        'an array for a value');

# otactl reads and writes the same settings
($rc, $out) = $t->otactl('config', 'show', '--json');
is($rc, 0, 'otactl config show');
is_deeply(decode_json($out), api('GET', 'config')->{json}, 'the same as GET config');
($rc, $out) = $t->otactl('config', 'show');
like($out, qr/package.extensions\s+\.bin \.zip/, 'as a table');
($rc, undef, my $err) = $t->otactl('config', 'set', 'package.max_size', 'lots');
is($rc, 1, 'otactl config set: a bad value, exit 1');
like($err, qr/invalid package.max_size "lots"/, 'with the same reason as the API');
($rc, undef, $err) = $t->otactl('config', 'set', 'package.nope', '1');
is($rc, 1, 'an unknown setting, exit 1');
($rc, $out) = $t->otactl('config', 'set', 'package.extensions', '.zip,.bin,.tar.gz');
is($rc, 0, 'otactl config set');
is(api('GET', 'config')->{json}{'package.extensions'}, '.zip .bin .tar.gz',
   'GET config sees it');
# through the API (make test-api) otactl's write is the API token's
is(last_audit()->{token}, $ENV{OTA_OTACTL_API} ? 'admin' : 'otactl',
   'audited as otactl (as the token over the API)');

# otactl package add honours the platform's settings
my $f = $t->dir . '/fw.img';
OtaTest::write_file($f, 'x' x 100);
($rc, undef, $err) = $t->otactl('package', 'add', $f, qw(--product prodA --module default
                                --name n --version 1.0.0));
is($rc, 1, 'an extension the platform does not accept');
like($err, qr/file type not accepted \(accepted: \.zip \.bin \.tar\.gz\)/, 'says which are');
$f = $t->dir . '/fw.bin';
OtaTest::write_file($f, 'x' x 5000);
($rc, undef, $err) = $t->otactl('package', 'add', $f, qw(--product prodA --module default
                                --name n --version 1.0.0));
is($rc, 1, 'a file over the platform limit');
like($err, qr/over the limit of 4 KB/, 'says the limit');
api('PUT', 'config', json => { 'package.max_size' => '1MB' });
($rc, my $pid, $err) = $t->otactl('package', 'add', $f, qw(--product prodA --module default
                                  --name n --version 1.0.0));
is($rc, 0, 'under the new limit: added') or diag($err);
chomp $pid;
is(last_audit()->{action}, 'package.add', 'otactl audits the package');

# ---- batches/<id>/pause|resume|cancel ---------------------------------------

my $pkg = { id => $pid, product => 'prodA', module => 'default', version => '1.0.0',
            size => 5000 };
$t->fx_batch(id => 'b1', package => $pkg, devices => [qw(dev-1 dev-2)]);

refused('POST', 'batches/nope/pause', undef, 404, qr/no batch nope/, 'no such batch');
refused('POST', 'batches/b%20x/pause', undef, 400, qr/not a valid batch id/, 'a bad id');
is(api('POST', 'batches/b1/explode')->{status}, 404, 'an unknown action: 404');

$r = api('POST', 'batches/b1/pause');
is($r->{status}, 200, 'pause: 200') or diag($r->{content});
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', 'b1'), 'state'), 'paused', 'paused');
is(last_audit()->{action}, 'batch.pause', 'audited');
$r = api('POST', 'batches/b1/resume');
is($r->{status}, 200, 'resume: 200');
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', 'b1'), 'state'), 'running', 'running');
$r = api('POST', 'batches/b1/cancel');
is($r->{status}, 200, 'cancel: 200') or diag($r->{content});
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', 'b1'), 'state'), 'cancelled', 'cancelled');
$r = api('POST', 'batches/b1/pause');
is($r->{status}, 409, 'pause a cancelled batch: 409');
like($r->{json}{message}, qr/only a running batch can be paused/, "the worker's reason");

# ---- POST batches -----------------------------------------------------------

$r = api('POST', 'batches', json => { package => $pid, type => 'upgrade', name => 'roll out' });
is($r->{status}, 201, 'an upgrade batch: 201 once the worker made it') or diag($r->{content});
like($r->{json}{id} // '', qr/^b\d{14}-[0-9a-f]{8}$/, 'its id');
is($r->{json}{total}, 2, 'every device of the product (dev-1, dev-2)');
my $bid = $r->{json}{id};
is($t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', $bid), 'name'), 'roll out', 'stored');
is(last_audit()->{object}, $bid, 'audited with the batch id');
is(api('GET', "batches/$bid")->{json}{total}, 2, 'GET batches/<id> shows it');
api('POST', "batches/$bid/cancel");

$r = api('POST', 'batches', json => { package => $pid, type => 'verify', name => 'v',
                                      devices => ['dev-1'], push => JSON::PP::true,
                                      protocol => 'http' });
is($r->{status}, 201, 'a verify batch with a device list') or diag($r->{content});
is($r->{json}{total}, 1, 'one device');
api('POST', "batches/$r->{json}{id}/cancel");

refused('POST', 'batches', { package => $pid, type => 'sideways', name => 'n' }, 400,
        qr/invalid "type" "sideways"/, 'a bad type');
refused('POST', 'batches', { package => $pid, type => 'upgrade' }, 400,
        qr/needs "package", "type" and "name"/, 'no name');
refused('POST', 'batches', { package => $pid, type => 'upgrade', name => 'n',
                             devices => 'dev-1' }, 400,
        qr/"devices" is for verify batches/, 'devices in an upgrade batch');
refused('POST', 'batches', { package => $pid, type => 'verify', name => 'n' }, 400,
        qr/a verify batch needs "devices"/, 'a verify batch without devices');
refused('POST', 'batches', { package => $pid, type => 'verify', name => 'n',
                             devices => ['dev-1', 7] }, 400,
        qr/"devices"\[1\] is not a device name/, 'a number in the devices');
refused('POST', 'batches', { package => $pid, type => 'upgrade', name => 'n',
                             from_version => '1.x' }, 400,
        qr/invalid "from_version" "1.x"/, 'a bad source version');
refused('POST', 'batches', { package => $pid, type => 'upgrade', name => 'n',
                             push => 'yes' }, 400, qr/"push" is true or false/, 'push not a boolean');
refused('POST', 'batches', { package => $pid, type => 'upgrade', name => 'n',
                             wave => '1%' }, 400, qr/unknown field "wave"/, 'an unknown option');

# the rollout options: otactl's checks, named as the body names them
my %U = (package => $pid, type => 'upgrade', name => 'n');
refused('POST', 'batches', { %U, waves => '10%,5%' }, 400, qr/^"waves" "10%,5%": /,
        'waves that do not grow');
refused('POST', 'batches', { %U, waves => '1%,10' }, 400, qr/"waves"/, 'waves of two kinds');
refused('POST', 'batches', { %U, waves => [] }, 400, qr/"waves"/, 'no waves');
refused('POST', 'batches', { %U, waves => ['1%', {}] }, 400, qr/"waves"\[1\] is not a wave/,
        'a wave that is an object');
refused('POST', 'batches', { %U, success_threshold => 95 }, 400,
        qr/"success_threshold" decides .*"waves"/, 'a success threshold without waves');
refused('POST', 'batches', { %U, error_threshold => 'lots' }, 400, qr/"error_threshold"/,
        'a bad error threshold');
refused('POST', 'batches', { %U, error_threshold => 12.345 }, 400, qr/"error_threshold"/,
        'a threshold with three decimals');
refused('POST', 'batches', { %U, max_per_minute => 0 }, 400, qr/invalid "max_per_minute" "0"/,
        'a rate of 0');
refused('POST', 'batches', { %U, ramp => '10,2' }, 400,
        qr/"ramp" grows the rate up to "max_per_minute": give both/, 'a ramp without a rate');
refused('POST', 'batches', { %U, max_per_minute => 10, ramp => '20,2' }, 400,
        qr/"ramp" base 20 is above "max_per_minute" 10/, 'a ramp above its rate');
refused('POST', 'batches', { %U, abort_failure_rate => 20 }, 400,
        qr/"abort_failure_rate" P and "abort_min" N/, 'an abort rule half given');
refused('POST', 'batches', { %U, abort_failure_rate => 20, abort_min => -1 }, 400,
        qr/invalid "abort_min"/, 'a bad abort minimum');
refused('POST', 'batches', { %U, start_at => '2001-01-01 00:00' }, 400,
        qr/"start_at" "2001-01-01 00:00" is in the past/, 'a start in the past');
refused('POST', 'batches', { %U, start_at => 'tomorrow' }, 400, qr/"start_at" "tomorrow": want/,
        'a start that is no time');
refused('POST', 'batches', { %U, timeout => -1 }, 400, qr/invalid "timeout" "-1"/, 'a negative timeout');
refused('POST', 'batches', { %U, max_per_minute => JSON::PP::true }, 400,
        qr/"max_per_minute" must be a string or a number/, 'a rate that is a boolean');

# and a batch with them all: the job carries them, the batch record keeps them
$r = api('POST', 'batches', json => { %U, name => 'canary', waves => ['50%', '100%'],
         success_threshold => 90, error_threshold => '12.5', max_per_minute => 100,
         ramp => '10,1.5', abort_failure_rate => 30, abort_min => 5, timeout => 60 });
is($r->{status}, 201, 'a batch with every rollout option: 201') or diag($r->{content});
my %rb = @{ $t->redis(HGETALL => OtaTest::key('OTA_KEY_BATCH', $r->{json}{id} // 'x')) // [] };
is($rb{waves}, '50%,100%', 'its waves');
is($rb{max_per_minute}, '100', 'its rate');
is($rb{abort_min}, '5', 'its abort rule');
my $rv = api('GET', "batches/$r->{json}{id}")->{json} // {};
is(scalar @{ $rv->{waves} // [] }, 2, 'GET batches/<id>: two waves');
is_deeply($rv->{rate} && $rv->{rate}{ramp}, { base => 10, factor => 1.5 }, 'and the ramp');
api('POST', "batches/$r->{json}{id}/cancel");

my $at = time + 3600;
$r = api('POST', 'batches', json => { %U, name => 'later', start_at => $at * 1000 });
is($r->{status}, 201, 'a scheduled batch (unix ms)') or diag($r->{content});
is($r->{json}{state} // api('GET', "batches/$r->{json}{id}")->{json}{state}, 'scheduled',
   'scheduled');
api('POST', "batches/$r->{json}{id}/cancel");
refused('POST', 'batches', { package => 'nope', type => 'upgrade', name => 'n' }, 404,
        qr/no package nope/, 'no such package');

# a batch still being created after two seconds: 202 with its id.  The
# worker is stopped; the test plays its part by marking the batch
# "creating" as batch_init.lua does, and never answers.
$t->stop_worker;
my $jobs = OtaTest::key('OTA_STREAM_JOBS');
my $last = $t->redis(XREVRANGE => $jobs, '+', '-', 'COUNT', 1)->[0][0] // '0';
my $pidc = fork // die "fork: $!";
if ($pidc == 0) {
    delete $t->{redis_sock};            # its own connection
    my $e = $t->wait_for(sub {
        my $x = $t->redis(XRANGE => $jobs, "($last", '+');
        $x && @$x ? $x->[0] : undef }, 10);
    my %f = @{ $e->[1] };
    $t->redis(HSET => OtaTest::key('OTA_KEY_BATCH', $f{id}), state => 'creating');
    require POSIX; POSIX::_exit(0);
}
$r = api('POST', 'batches', json => { package => $pid, type => 'upgrade', name => 'big' });
waitpid $pidc, 0;
is($r->{status}, 202, 'still being created: 202') or diag($r->{content});
is($r->{json}{state}, 'creating', 'says so');
like($r->{json}{id}, qr/^b\d{14}-/, 'with the id to follow');
is(last_audit()->{status}, 202, 'audited as accepted');
$t->redis(DEL => OtaTest::key('OTA_KEY_BATCH', $r->{json}{id}));

# ---- GET audit -------------------------------------------------------------

$r = api('GET', 'audit?limit=3', token => $VIEWER);
is($r->{status}, 200, 'a viewer reads the audit');
is(scalar @{ $r->{json}{entries} }, 3, 'limit');
is($r->{json}{entries}[0]{action}, 'batch.create', 'newest first');
is($r->{json}{entries}[0]{status}, 202, 'status as a number');
like($r->{json}{entries}[0]{time}, qr/^\d{13}$/, 'time in ms');
is($r->{json}{entries}[0]{remote}, '127.0.0.1', 'the client');
is(api('GET', 'audit?limit=0')->{status}, 400, 'limit 0: 400');
is(api('GET', 'audit?limit=x')->{status}, 400, 'limit x: 400');
is(scalar @{ api('GET', 'audit')->{json}{entries} }, 100, 'default: the newest 100')
    if $t->redis(XLEN => $AUDIT) >= 100;

# ---- Redis away: 503, nothing half done --------------------------------------

$t->stop_redis;
$r = api('POST', 'devices', json => { device => 'late', product => 'p' });
is($r->{status}, 503, 'Redis down: 503');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
$t->start_redis;

done_testing();
