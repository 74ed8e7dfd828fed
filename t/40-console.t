# The web console in a real browser: headless Chromium driven by
# t/browser/console.py (python3-selenium, chromium-driver) against the real
# stack this test starts: redis-server, nginx with the module serving the
# console (conf/console.conf) and the admin API, and ota-worker.  A fleet
# of eight devices goes through a verify batch and an upgrade batch by the
# device API; the script then signs in, compares the pages with otactl,
# watches a change arrive live, and rides out a Redis outage.  Screenshots
# of each page land in the test directory and in build/console-screenshots/.
# The write controls (issue 20, second phase): an operator creates a batch
# with the form (a refused one first), pauses, resumes and cancels it, and
# uploads a package; a viewer token sees none of them and its forced POST
# is refused.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Open2;
use JSON::PP;
use Digest::SHA ();
use Time::HiRes qw(time sleep);

my $PY = '/usr/bin/python3';            # Debian's, where python3-selenium lives
my $CHART = '/usr/share/javascript/chart.js/chart.min.js';
my @missing;
push @missing, 'chromium' unless -x '/usr/bin/chromium';
push @missing, 'chromium-driver' unless -x '/usr/bin/chromedriver';
push @missing, 'libjs-chart.js' unless -f $CHART;
push @missing, 'python3-selenium'
    unless -x $PY && system($PY, '-c', 'import selenium') == 0;
plan skip_all => "the console's browser test needs Debian's chromium, chromium-driver, "
    . "python3-selenium and libjs-chart.js (make deps installs them); missing: @missing"
    if @missing;

my $VIEWER = 'console-viewer-token-0123';
my $t = OtaTest->new(no_nginx => 1, worker => 1,
                     http_extra => 'ota_progress_interval 200ms;',
                     admin_extra => "ota_admin_token console:$VIEWER role=viewer;");

# the console as conf/nginx.conf serves it, from a copy nginx's workers
# (nobody) can read wherever the checkout lives
my $dir = $t->dir;
system('cp', '-R', "$OtaTest::ROOT/console", "$dir/console") == 0 or die "cp console\n";
system('chmod', '-R', 'a+rX', "$dir/console") == 0 or die "chmod console\n";
$t->{server_extra} = <<"CONF";
        location /ota/console/ {
            alias $dir/console/;
            include $OtaTest::ROOT/conf/console.conf;
        }
        location = /ota/console/vendor/chart.min.js {
            alias $CHART;
            include $OtaTest::ROOT/conf/console.conf;
        }
CONF
$t->start_nginx;
# nginx's workers run as nobody under root: the store is theirs to write
# (the upload form's POST packages places the package there)
if ($> == 0) {
    my (undef, undef, $uid, $gid) = getpwnam('nobody');
    chown $uid, $gid, $t->store;
}

# ---- the fleet ----------------------------------------------------------------------

my $P = 'thermo';
my @devs = map { sprintf 't%02d', $_ } 1 .. 8;
my (%secret, %token);
for my $d (@devs) {
    my ($rc, $out, $err) = $t->otactl('device', 'add', $d, '--product', $P);
    die "device add: $err" if $rc;
    ($secret{$d}) = $out =~ /([0-9a-f]{64})/;
}

sub dev {
    my ($d, $method, $path, $body) = @_;
    $token{$d} //= $t->device_token($d, $P, $secret{$d}) // die "auth $d\n";
    return $t->http($method, $path, headers => { Authorization => "Bearer $token{$d}" },
                    defined $body ? (json => $body) : ());
}
sub inform   { dev($_[0], POST => '/ota/v1/inform', { module => 'default', version => $_[1] }) }
sub progress { dev($_[0], POST => '/ota/v1/progress', { module => 'default', step => $_[1],
                                                       desc => $_[2] // '' }) }
sub upgrade {
    my $r = dev($_[0], GET => '/ota/v1/upgrade?module=default');
    die "upgrade $_[0]: $r->{status}\n" unless $r->{status} == 200;
    return $r->{json};
}
# the first $bytes of the package, as a device would fetch them
sub download {
    my ($d, $bytes) = @_;
    my $u = upgrade($d);
    my $r = $t->http(GET => $u->{url}, headers => { Range => 'bytes=0-' . ($bytes - 1) });
    die "download $d: $r->{status}\n" unless $r->{status} == 206 || $r->{status} == 200;
    return $u;
}
sub task_is {
    my ($d, $batch, $state, $covered) = @_;
    my $ok = $t->wait_for(sub {
        my $k = $t->task($d, $batch);
        $k->{state} eq $state && (!defined $covered || $k->{covered} == $covered);
    }, 15);
    diag("$d in $batch: " . encode_json($t->task($d, $batch)) . ", want $state") unless $ok;
    return $ok;
}

sub package_add {
    my ($version, @more) = @_;
    my $module = 'default';
    ($module, @more) = @more[1 .. $#more] if @more && $more[0] eq '--module';
    my $f = "$dir/fw-$module-$version.bin";
    OtaTest::write_file($f, join '', map { chr(($_ * 7 + length $version) % 256) } 1 .. 100_000);
    my ($rc, $out, $err) = $t->otactl('package', 'add', $f, '--product', $P, '--module', $module,
                                      '--name', "thermo firmware $version", '--version', $version,
                                      @more);
    die "package add: $err" if $rc;
    chomp $out;
    return $out;
}
sub batch_create {
    my (@args) = @_;
    my ($rc, $out, $err) = $t->otactl('batch', 'create', '--wait', '20', @args);
    die "batch create: $err" if $rc;
    chomp $out;
    return (split /\n/, $out)[-1];
}

inform($_, '1.0.0') for @devs;
$t->wait_for(sub { ($t->redis(HGET => OtaTest::key('OTA_KEY_VERSION_DIST', $P, 'default'), '1.0.0')
                    // 0) == 8 }, 15) or die "informs not counted\n";

# a package that must be verified: t01 succeeds, t02 is half way
my $pv = package_add('1.1.0', '--verify');
my $vb = batch_create('--package', $pv, '--type', 'verify', '--name', 'canary',
                      '--devices', 't01,t02');
download('t01', 100_000);
progress('t01', 100, 'installed');
inform('t01', '1.1.0');
download('t02', 50_000);
ok(task_is('t01', $vb, 'succeeded'), 'verify batch: t01 succeeded');
ok(task_is('t02', $vb, 'downloading', 50_000), 'verify batch: t02 half way');

# the rollout, with markup in its name (shown as text, never run)
my $pu = package_add('1.2.0');
my $b = batch_create('--package', $pu, '--type', 'upgrade',
                     '--name', 'rollout <b>eu</b><img src=x onerror="window.__xss=1">');
download('t03', 100_000);
progress('t03', 100, 'installed');
inform('t03', '1.2.0');
download('t04', 20_000);
progress('t04', -2, 'checksum mismatch');
download('t05', 30_000);
download('t06', 100_000);
# the install step after the download is counted (the download event is
# the module's, written after the response; a step before it is only noted)
ok(task_is('t06', $b, 'downloaded', 100_000), 't06 downloaded');
progress('t06', 50, 'flashing');
upgrade('t07');
ok(task_is('t03', $b, 'succeeded'), 't03 succeeded');
ok(task_is('t04', $b, 'failed'), 't04 failed');
ok(task_is('t05', $b, 'downloading', 30_000), 't05 downloading');
ok(task_is('t06', $b, 'installing'), 't06 installing');
ok(task_is('t07', $b, 'notified'), 't07 notified');
ok(task_is('t08', $b, 'pending'), 't08 pending');
ok($t->wait_for(sub { $t->drained }, 15), 'the worker drained its streams');

# for the write controls: a module no batch has touched yet, and its
# package, which the browser's verify batch runs on (then pauses, resumes
# and cancels); files for the upload form
{
    my ($rc, $out, $err) = $t->otactl('module', 'add', 'aux', '--product', $P);
    die "module add: $err" if $rc;
}
my $paux = package_add('2.0.0', '--module', 'aux', '--verify');
make_path("$dir/upload");
my $upfile = "$dir/upload/aux-fw-3.0.0.bin";
OtaTest::write_file($upfile, join '', map { chr(($_ * 13) % 251) } 1 .. 300_000);
OtaTest::write_file("$dir/upload/notes.txt", "not firmware\n");
system('chmod', '-R', 'a+rX', "$dir/upload");

# ---- the browser ----------------------------------------------------------------------

my $shots = "$dir/screenshots";
make_path($shots);
my $args = encode_json({ batch => $b, verify => $vb, pkg_verify => $pv, product => $P,
                         changed => 't08', pkg_aux => $paux, viewer => $VIEWER,
                         upload => $upfile, upload_bad => "$dir/upload/notes.txt" });
my $pid = open2(my $from, my $to, $PY, "$OtaTest::ROOT/t/browser/console.py",
                $t->base, $t->{admin_token}, $shots, $args);
my $started = time;

sub answer { print {$to} encode_json($_[0]) . "\n"; $to->flush }

my %act = (
    otactl => sub {
        my ($rc, $out, $err) = $t->otactl(@_);
        return { rc => $rc, out => $out, err => $err };
    },
    # t08 starts its download meanwhile: 60 %
    change => sub {
        download('t08', 60_000);
        return { ok => task_is('t08', $b, 'downloading', 60_000) ? 1 : 0 };
    },
    # a batch's state as Redis holds it (the record the worker writes)
    'batch-state' => sub {
        return { state => $t->redis(HGET => OtaTest::key('OTA_KEY_BATCH', $_[0]), 'state') };
    },
    # the keys of Redis and their contents, for "nothing changed"
    'snapshot' => sub { return { sum => snapshot_sum() } },
    'redis-stop'  => sub { $t->stop_redis; return { ok => 1 } },
    # the same Redis again, with its data (appendonly): say so when it is
    # not (its port taken meanwhile, the test directory gone)
    'redis-start' => sub {
        $t->start_redis;
        my $ours = $t->redis(EXISTS => OtaTest::key('OTA_KEY_BATCH', $b));
        diag("Redis came back without the test's data (dir $dir "
             . (-d "$dir/console" ? 'still there' : 'gone') . ')') unless $ours;
        return { ok => $ours ? 1 : 0 };
    },
);

# Redis without what changes by itself (the worker's heartbeat and lease,
# the audit trail a refusal is recorded in), a digest per key
sub snapshot_sum {
    my $s = $t->redis_snapshot;
    delete $s->{$_} for OtaTest::key('OTA_STREAM_AUDIT'), OtaTest::key('OTA_KEY_WORKERS'),
                        OtaTest::key('OTA_KEY_EVENTS_READER');
    return { map { ($_ => Digest::SHA::sha1_hex($s->{$_} // '')) } keys %$s };
}

my ($done, $results) = (0, 0);
local $SIG{ALRM} = sub { kill 'TERM', $pid; die "the browser test took over 400 s\n" };
alarm 400;
while (my $line = <$from>) {
    chomp $line;
    if ($line =~ /^(not )?ok (.*)$/) {
        ok(!$1, "browser: $2");
        $results++;
    } elsif ($line =~ /^skip (.*)$/) {
        SKIP: { skip "browser: $1", 1 }
    } elsif ($line =~ /^diag (.*)$/) {
        diag($1);
    } elsif ($line =~ /^req (.*)$/) {
        my ($what, @a) = @{ decode_json($1) };
        my $r = eval { $act{$what}->(@a) } // { error => "$@" };
        answer($r);
    } elsif ($line eq 'done') {
        $done = 1;
        last;
    } else {
        diag("console.py: $line");
    }
}
alarm 0;
close $to;
waitpid($pid, 0);
ok($done && $? == 0, 'the browser script ran to its end') or diag("exit status $?");
ok($results > 40, "it reported its checks ($results)");
diag(sprintf 'browser part: %.1f s', time - $started);

# the screenshots, kept after the test directory goes
my @png = sort glob("$shots/*.png");
diag("no screenshot in $shots: " . (-d $dir ? 'the directory is there' : 'the test directory is gone'))
    unless @png;
my %have = map { m{([^/]+)\.png$}; ($1 => 1) } @png;
for my $name (qw(signin signin-refused batches batch packages versions device
                 batches-phone batch-phone redis-down create-batch create-refused
                 batch-actions batch-cancel viewer-batch upload-refused create-phone
                 packages-phone)) {
    ok($have{$name} && -s "$shots/$name.png" > 5000, "screenshot $name.png");
}
my $keep = "$OtaTest::BUILD/console-screenshots";
make_path($keep);
unlink glob("$keep/*.png");                 # this run's only
copy($_, $keep) for @png;
diag("screenshots: $keep");

$t->stop;
done_testing;
