# A whole device session driven the way a device does it, against real
# processes: otactl registers the device, module and package; the batch is
# created by otactl + ota-worker when the worker runs (else written per
# docs/redis-schema.md); the device then does
#   auth -> inform -> upgrade -> download with resume (curl -C -) ->
#   progress -> inform the new version
# and the events, the coverage and (with the worker) the task and the
# batch statistics show each step.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use JSON::PP;
use Time::HiRes qw(time sleep);

my $t = OtaTest->new(http_extra => 'ota_progress_interval 200ms;');
ok($t->wait_nginx_redis, "nginx workers connected to Redis");
my $events = OtaTest::key('OTA_STREAM_EVENTS');

# ---- the operator: otactl ---------------------------------------------------------

my ($rc, $out, $err) = $t->otactl(qw(device add car-0001 --product sedan));
is($rc, 0, 'otactl device add') or diag($err);
my ($secret) = $out =~ /([0-9a-f]{64})/;
ok($secret, 'the device secret is printed');

($rc, undef, $err) = $t->otactl(qw(module add ECU --product sedan --alias engine));
is($rc, 0, 'otactl module add') or diag($err);

my $fw = join '', map { pack('N', $_ * 2654435761 % 4294967296) } 1 .. 150_000;   # 600 KB
my $file = $t->dir . '/ecu-1.1.0.bin';
OtaTest::write_file($file, $fw);
($rc, $out, $err) = $t->otactl('package', 'add', $file, qw(--product sedan --module ECU
                               --name ecu-fw --version 1.1.0 --sign sha256
                               --ext region=eu));
is($rc, 0, 'otactl package add') or diag($err);
my ($pkg_id) = $out =~ /^(\S+)\s*$/m;
ok($pkg_id, "package id printed ($pkg_id)");
my $pkg = $t->redis_hash(OtaTest::key('OTA_KEY_PACKAGE', $pkg_id));
is($pkg->{size}, length $fw, 'package recorded with its size');

# the worker, if it is implemented (the placeholder exits at once)
my $worker = 0;
if (-x "$OtaTest::BUILD/ota-worker") {
    my $pid = $t->start_worker;
    sleep 0.5;
    $worker = waitpid($pid, POSIX::WNOHANG()) == 0;
    pop @{ $t->{workers} } unless $worker;      # exited: nothing to stop
}
diag($worker ? 'with ota-worker' : 'ota-worker not running: batch written per docs/redis-schema.md');

# ---- the device: a small HTTP client ---------------------------------------------

my $dev = 'car-0001';
my %session;

sub call {
    my ($method, $path, $body) = @_;
    my %h = $session{token} ? (Authorization => "Bearer $session{token}") : ();
    return $t->http($method, $path, headers => \%h,
                    (defined $body ? (json => $body) : ()));
}

# auth: sign = HMAC-SHA256(secret, "device<d>product<p>timestamp<ms>")
my $ts = int(time * 1000);
my $r = call(POST => '/ota/v1/auth', {
    product => 'sedan', device => $dev, timestamp => "$ts",
    sign => hmac_sha256_hex("device${dev}productsedantimestamp$ts", $secret) });
is($r->{status}, 200, 'auth');
$session{token} = $r->{json}{token};

# inform: the version the device runs now (Alibaba shape)
$r = call(POST => '/ota/v1/inform', { id => '1', params => { version => '1.0.0', module => 'ECU' } });
is($r->{status}, 200, 'inform 1.0.0');
is($r->{json}{id}, '1', 'id echoed');

if ($worker) {
    my $v = $t->wait_for(sub {
        $t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', $dev), 'ECU') });
    is($v, '1.0.0', 'the worker recorded the version');
}

# no batch yet: nothing to do
is(call(GET => '/ota/v1/upgrade?module=ECU')->{status}, 204, 'upgrade before a batch: 204');

# ---- the operator starts a batch ---------------------------------------------------------

my $batch;
if ($worker) {
    ($rc, $out, $err) = $t->otactl('batch', 'create', '--package', $pkg_id,
                                   qw(--type upgrade --name eu-rollout --wait 10));
    is($rc, 0, 'otactl batch create') or diag($err);
    ($batch) = $out =~ /^(\S+)\s*$/m;
} else {
    $batch = $t->fx_batch(id => 'b-eu', package => { %$pkg, id => $pkg_id },
                          devices => [$dev], name => 'eu-rollout',
                          tasks => { $dev => { from => '1.0.0' } });
}
ok($batch, "batch $batch");

# ---- upgrade -----------------------------------------------------------------------------

my $n_events = $t->redis(XLEN => $events);
$r = call(GET => '/ota/v1/upgrade?module=ECU');
is($r->{status}, 200, 'upgrade: the task');
my $u = $r->{json};
is($u->{batch}, $batch, 'batch');
is($u->{version}, '1.1.0', 'target version');
is($u->{from}, '1.0.0', 'from the reported version');
is($u->{size}, length $fw, 'size');
is($u->{sign}, sha256_hex($fw), 'sign = SHA-256 of the file');
is($u->{signMethod}, 'SHA256', 'signMethod');
is($u->{extData}{region}, 'eu', 'custom data');
is($u->{extData}{batch}, $batch, 'batch in extData');
# held up to one progress interval (docs/download.md, "The notified event")
ok($t->wait_for(sub { $t->redis(XLEN => $events) > $n_events }, 5), 'the notified event comes');
select(undef, undef, undef, 0.4);
is($t->redis(XLEN => $events), $n_events + 1, 'a notified event');

if ($worker) {
    my $st = $t->wait_for(sub {
        my $s = $t->task($dev, $batch)->{state};
        $s eq 'notified' ? $s : 0 });
    is($st, 'notified', 'the worker moved the task to notified');
}

# ---- download with resume -------------------------------------------------------------------

my $dl = $t->dir . '/download.bin';
my $url = $u->{url};
my ($crc, $cout, $cerr) = $t->run_cmd({}, 'curl', '-sS', '-f', '-r', '0-199999', '-o', $dl, $url);
my $ok_dl = $crc == 0;
TODO: {
    local $TODO = 'downloads (ngx_ota_download.c) not implemented yet' if $crc == 22;
    ok($ok_dl, 'first part downloaded (interrupted at 200000 bytes)') or diag($cerr);
    is(-s $dl, 200_000, 'the partial file');

    ($crc, $cout, $cerr) = $t->run_cmd({}, 'curl', '-sS', '-f', '-C', '-', '-o', $dl, $url);
    is($crc, 0, 'curl -C - resumes') or diag($cerr);
    is(-s $dl, length $fw, 'whole file');
    is(sha256_hex(OtaTest::read_file($dl)), $u->{sign}, 'the digest matches the sign');

    my $cov = $t->wait_for(sub {
        my $c = $t->redis(GET => OtaTest::key('OTA_KEY_COVERED', $dev, $pkg_id)) // 0;
        $c == length $fw ? $c : 0 });
    is($cov, length $fw, 'coverage: every byte once, resume not counted twice');

    my $e = $t->wait_for(sub {
        my $all = $t->redis(XRANGE => $events, '-', '+');
        my @d = grep { my %f = @{ $_->[1] }; $f{type} eq 'download' && $f{covered} == length $fw } @$all;
        scalar @d });
    ok($e, 'a download event with the full coverage');
}

if ($worker) {
    my $st = $t->wait_for(sub {
        my $s = $t->task($dev, $batch)->{state};
        $s eq 'downloaded' ? $s : 0 });
    is($st, 'downloaded', 'the worker moved the task to downloaded');
}

# ---- progress and the new version -------------------------------------------------------

$r = call(POST => '/ota/v1/progress', { id => '2', params => { step => '50', desc => 'flashing', module => 'ECU' } });
is($r->{status}, 200, 'progress 50');
$r = call(POST => '/ota/v1/progress', { module => 'ECU', step => 100, desc => 'done' });
is($r->{status}, 200, 'progress 100');

$r = call(POST => '/ota/v1/inform', { module => 'ECU', version => '1.1.0' });
is($r->{status}, 200, 'inform 1.1.0 after the upgrade');

# the stream holds the whole session in order
my @types = map { my %f = @{ $_->[1] }; $f{device} eq $dev ? "$f{type}" : () }
            @{ $t->redis(XRANGE => $events, '-', '+') };
my $seq = join ' ', grep { $_ ne 'download' } @types;
is($seq, 'inform notified progress progress inform',
   'events: inform, notified, progress, progress, inform');
my @last = @{ $t->redis(XREVRANGE => $events, '+', '-', 'COUNT', 1)->[0][1] };
my %last = @last;
is("$last{type} $last{module} $last{version}", 'inform ECU 1.1.0', 'the last event');

# ---- the outcome (the worker's part) ----------------------------------------------------

SKIP: {
    skip 'ota-worker not running: task states are its job', 6 unless $worker;

    my $st = $t->wait_for(sub {
        my $s = $t->task($dev, $batch)->{state};
        $s eq 'succeeded' ? $s : 0 });
    is($st, 'succeeded', 'the task succeeded');

    my $admin = $t->http(GET => "/ota/admin/batches/$batch",
                         headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" })->{json};
    is($admin->{counts}{succeeded}, 1, 'admin API: one succeeded');
    is($admin->{success_rate}, 1, 'admin API: success rate 1');
    is($admin->{completion}, 1, 'admin API: completion 1');

    ($rc, $out) = $t->otactl('--json', 'batch', 'show', $batch);
    my $cli = eval { decode_json($out) } // {};
    is_deeply([ @$cli{qw(id package type state total counts success_rate completion failures)} ],
              [ @$admin{qw(id package type state total counts success_rate completion failures)} ],
              'the admin API and otactl batch show --json agree');

    is(call(GET => '/ota/v1/upgrade?module=ECU')->{status}, 204, 'nothing left to do: 204');
}

$t->stop;
done_testing;
