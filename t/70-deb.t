# The Debian packages as an operator uses them: `make deb` builds them
# (lintian included), dpkg -i installs them on this machine, the example
# site and /etc/ota/worker.conf are configured, nginx and the worker start
# from the installed paths with the ExecStart lines of their systemd units,
# one whole device session runs (auth, inform, upgrade, download, progress,
# inform of the new version) with the admin statistics; then mosquitto with
# the installed plugin and the package's broker snippet enabled (in a copy
# of mosquitto's configuration of our own) and the bridge with the ExecStart
# line of its unit: a device's MQTT report reaches Redis and the worker.
# Then dpkg -r and dpkg -P: only what Debian keeps may stay (conffiles until
# purge, the package store's data and the system user ota after it).
#
# Safe beside other suites on the same machine: one run at a time (a lock
# file), nothing of the system's nginx or Redis is stopped or reloaded
# (policy-rc.d refuses the nginx-reload trigger's action; our nginx has its
# own config, pid and ports; our mosquitto too, and the system's mosquitto
# configuration is only read), the packages are purged whatever happens, and
# the test does not run when the packages, /etc/ota or /var/lib/ota were
# there before it. A held dpkg lock is waited for.
#
# OTA_DEB_DIR=dir uses the .deb files there instead of `make deb`.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Cwd ();
use Digest::SHA qw(sha256_hex);
use Fcntl qw(:flock);
use File::Basename qw(basename);
use JSON::PP;
use POSIX ();
use Sys::Hostname qw(hostname);
use Text::ParseWords qw(shellwords);
use Time::HiRes qw(time sleep);

plan skip_all => 'needs root (dpkg -i)' unless $> == 0;
plan skip_all => 'needs dpkg' unless -x '/usr/bin/dpkg' && -x '/usr/sbin/nginx';
plan skip_all => 'the packaged build is not instrumented'
    if $ENV{OTA_ASAN} || $ENV{OTA_VALGRIND};

my @PKGS = qw(libnginx-mod-http-ota ota-worker ota-tools ota-console ota-mqtt);
my $CONSOLE = '/etc/nginx/snippets/ota-console.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-ota.conf';
my $SNIPPET = '/usr/share/nginx/modules-available/mod-http-ota.conf';
my $CONF    = '/etc/ota/worker.conf';
my $STORE   = '/var/lib/ota/packages';
my $UNIT    = '/lib/systemd/system/ota-worker@.service';
my $WANTS   = '/etc/systemd/system/multi-user.target.wants/ota-worker@t70.service';
my $MCONF   = '/etc/ota/ota-mqtt.conf';
my $BROKER  = '/etc/mosquitto/conf.d/ota.conf';
my $PLUGIN  = '/usr/lib/ota/ota_mqtt_auth.so';
my $MUNIT   = '/lib/systemd/system/ota-mqtt@.service';
my $MWANTS  = '/etc/systemd/system/multi-user.target.wants/ota-mqtt@t70.service';
my $PRC     = '/usr/sbin/policy-rc.d';
my $lockdir = -d '/run/lock' ? '/run/lock' : '/tmp';
my $STATE   = '/var/tmp/ota-deb-test.state';   # what to undo after a crash

# ---- one run at a time; what was there before -----------------------------------

open my $lock, '>>', "$lockdir/ota-deb-test.lock" or die "lock: $!\n";
flock($lock, LOCK_EX) or die "flock: $!\n";

sub status {
    my ($p) = @_;
    my $s = `dpkg-query -W -f='\${Status}' $p 2>/dev/null`;
    return $s eq '' ? 'not-installed' : (split ' ', $s)[2];
}

my $MAIN = $$;                   # a forked child whose exec failed cleans nothing
my ($t, $m);
my %state;                       # installed => 1, user_existed => 0|1, ...
if (-f $STATE) {                 # a run killed before its cleanup
    %state = %{ decode_json(OtaTest::read_file($STATE)) };
    diag('purging what a killed run of this test left');
    cleanup();
}
my @there = grep { status($_) ne 'not-installed' } @PKGS;
plan skip_all => "already on this machine: @there (the test would remove them)" if @there;
plan skip_all => "$_ exists (the test would remove it)"
    for grep { -e } '/etc/ota', '/var/lib/ota', $BROKER, '/usr/lib/ota';

%state = (user_existed => defined(getpwnam 'ota') ? 1 : 0);

# dpkg, waiting while another apt/dpkg holds its lock; (rc, output)
sub dpkg {
    my @args = @_;
    my $until = time + 600;
    my $said;
    while (1) {
        my $out = `dpkg @args 2>&1`;
        my $rc = $? >> 8;
        return ($rc, $out) unless $rc && time < $until
            && $out =~ /lock (?:was|is) locked|database is locked|frontend lock/;
        diag('dpkg is locked by another apt/dpkg run: waiting') unless $said++;
        sleep 2;
    }
}

sub cleanup {
    return unless %state && $$ == $MAIN;
    if ($t) {                    # whatever still runs (quietly: no test output)
        $t->stop_nginx;
        defined $_->{status} or $t->stop_worker(worker => $_) for @{ $t->{workers} };
        $t->stop_redis(kill => 1);
        $t->{stopped} = 1;
        $m->DESTROY if $m;       # the broker and the bridge
    } else {                     # a killed run's processes, by the pids it wrote
        for my $p (@{ $state{pids} // [] }) {
            my ($pid, $name, $sig) = @$p;
            kill $sig, $pid if OtaTest::read_file("/proc/$pid/cmdline") =~ /^\Q$name\E/;
        }
        sleep 1;
        system('rm', '-rf', $state{dir}) if ($state{dir} // '') =~ m{/ota-test-\w+$};
    }
    if ($state{installed}) {
        my @left = grep { status($_) ne 'not-installed' } @PKGS;
        my ($rc, $out) = @left ? dpkg('--purge', @left) : (0, '');
        warn "dpkg --purge: $out" if $rc;
        system('rm', '-rf', '/var/lib/ota');     # the admin's step
        unless ($state{user_existed}) {
            system("deluser --system --quiet ota >/dev/null 2>&1");
            system("delgroup --system --quiet ota >/dev/null 2>&1");
        }
    }
    -l $_ and unlink $_ for $WANTS, $MWANTS;
    rmdir $_ for @{ $state{made} // [] };
    unlink $PRC if $state{prc};
    unlink $STATE;
    %state = ();
}

# interrupted, or prove gone (our output pipe closed): purge before leaving
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = $SIG{PIPE} = sub {
    $SIG{PIPE} = 'IGNORE';
    cleanup();
    exit 1;
};
END { my $rc = $?; cleanup(); $? = $rc }

# ---- build -----------------------------------------------------------------------------

my $debdir = $ENV{OTA_DEB_DIR};
unless ($debdir) {
    $debdir = "$OtaTest::ROOT/build/deb";
    my $out = `cd '$OtaTest::ROOT' && make -s deb 2>&1`;
    is($?, 0, 'make deb: dpkg-buildpackage and lintian without errors')
        or BAIL_OUT("make deb failed:\n$out");
    my $lint = OtaTest::read_file("$debdir/lintian.log");
    unlike($lint, qr/^E: /m, 'lintian: no error');
    diag("lintian: $_") for grep { /^[WI]: / } split /\n/, $lint;
}
my %deb;
for my $p (@PKGS) {
    ($deb{$p}) = glob("$debdir/${p}_*.deb");
    ok($deb{$p}, "package $p built") or BAIL_OUT("no $p in $debdir");
}

# the module's Depends: the ABI this nginx provides, as Debian's modules
chomp(my $depends = `dpkg-deb -f $deb{'libnginx-mod-http-ota'} Depends`);
my $provides = `dpkg-query -W -f='\${Provides}' nginx`;
my ($abi) = $depends =~ /(nginx-abi-[\w.+~-]+)/;
ok($abi, "the module depends on an nginx ABI ($depends)");
like($provides, qr/\Q$abi\E/, "this nginx provides $abi");

# ---- install -----------------------------------------------------------------------------

# the nginx-reload trigger must not reload a system nginx
unless (-e $PRC) {
    OtaTest::write_file($PRC, "#!/bin/sh\nexit 101\n");
    chmod 0755, $PRC;
    $state{prc} = 1;
}
$state{installed} = 1;
OtaTest::write_file($STATE, encode_json(\%state));
my ($rc, $out) = dpkg('-i', map { $deb{$_} } @PKGS);
is($rc, 0, 'dpkg -i') or diag($out);
is(status($_), 'installed', "$_ installed") for @PKGS;

ok(-f '/usr/lib/nginx/modules/ngx_ota_module.so', 'the module in /usr/lib/nginx/modules');
is(OtaTest::read_file($SNIPPET), "load_module modules/ngx_ota_module.so;\n",
   'its load_module snippet in modules-available');
is(readlink($ENABLED), $SNIPPET, 'linked from modules-enabled');
ok(-x '/usr/sbin/ota-worker' && -x '/usr/bin/otactl', 'ota-worker and otactl');
ok(-x '/usr/sbin/ota-mqtt' && -f $PLUGIN, "ota-mqtt and the broker plugin $PLUGIN");
ok(-f '/usr/share/ota-console/index.html' && -f '/usr/share/ota-console/js/app.js',
   'the console in /usr/share/ota-console');
ok(!-e '/usr/share/ota-console/vendor', 'no copy of Chart.js in it (libjs-chart.js serves it)');
like(`dpkg-query -W -f='\${Conffiles}' ota-console`, qr{^ \Q$CONSOLE\E }m,
     "$CONSOLE is a conffile");
ok(-f '/usr/share/man/man8/ota-worker.8.gz' && -f '/usr/share/man/man1/otactl.1.gz'
   && -f '/usr/share/man/man8/ota-mqtt.8.gz', 'their manual pages');

my @pw = getpwnam('ota');
ok(@pw, 'system user ota');
my ($uid, $gid, $home, $shell) = @pw[2, 3, 7, 8];
ok($uid > 0 && $uid < 1000, "ota is a system user (uid $uid)");
is($shell, '/usr/sbin/nologin', 'without a login shell');
is($home, '/var/lib/ota', 'home /var/lib/ota');
is(scalar getgrgid($gid), 'ota', 'group ota');

sub owner {
    my ($p) = @_;
    my @s = stat $p or return 'missing';
    return sprintf '%s:%s %04o', scalar getpwuid($s[4]), scalar getgrgid($s[5]),
        $s[2] & 07777;
}
is(owner($CONF), 'root:ota 0640', "$CONF: root:ota 0640 (may hold the Redis password)");
is(owner('/var/lib/ota'), 'ota:ota 0755', '/var/lib/ota: ota:ota 0755');
is(owner($STORE), 'ota:ota 2775', "$STORE: ota:ota 2775");
like(`dpkg-query -W -f='\${Conffiles}' ota-worker`, qr{^ \Q$CONF\E }m, "$CONF is a conffile");
my $mconffiles = `dpkg-query -W -f='\${Conffiles}' ota-mqtt`;
like($mconffiles, qr{^ \Q$_\E }m, "$_ is a conffile") for $MCONF, $BROKER;
is(owner($MCONF), 'root:ota 0640', "$MCONF: root:ota 0640 (the bridge's passwords)");
is(owner($BROKER), defined(getgrnam 'mosquitto') ? 'root:mosquitto 0640' : 'root:root 0644',
   "$BROKER: root:mosquitto 0640 when mosquitto is installed (the plugin's passwords)");
my $snippet = OtaTest::read_file($BROKER);
like($snippet, qr/^#plugin \Q$PLUGIN\E$/m, 'the broker snippet names the plugin');
unlike($snippet, qr/^\s*[^#\s]/m, 'every line of it commented out: disabled until configured');

# the stock configuration loads the module, which stays inert without its
# directives (nginx -t only reads; the system nginx is not touched)
my $stock = `/usr/sbin/nginx -t 2>&1`;
is($?, 0, 'nginx -t with the stock /etc/nginx/nginx.conf and the module enabled')
    or diag($stock);

# the admin's `systemctl enable ota-worker@t70 ota-mqtt@t70` (purge removes
# the links)
my @made;                            # directories made for it, removed at the end
for (my $dir = $WANTS =~ s{/[^/]+$}{}r; !-d $dir; $dir =~ s{/[^/]+$}{}) {
    unshift @made, $dir;
}
mkdir $_ for @made;
$state{made} = [ reverse @made ];
OtaTest::write_file($STATE, encode_json(\%state));
symlink $UNIT, $WANTS;
symlink $MUNIT, $MWANTS;

# ---- configure -----------------------------------------------------------------------------

# what a later run stops if this one is killed: [pid, how its command
# line starts, signal]
sub record {
    push @{ $state{pids} }, [@_];
    OtaTest::write_file($STATE, encode_json(\%state));
}

$t = OtaTest->new(no_nginx => 1);
$state{dir} = $t->dir;
record(OtaTest::read_file($t->dir . '/redis/redis.pid') =~ /(\d+)/, 'redis-server', 'TERM');
my $d = $t->dir . '/nginx';
mkdir $d; mkdir "$d/sites-enabled"; mkdir "$d/tmp";
chown scalar(getpwnam 'www-data'), -1, "$d/tmp";
$t->{port} = OtaTest::free_port();

# /etc/ota/worker.conf: the admin points it at Redis (in place: the
# owner and mode set by the package stay)
# $edit changes $_; what it returns
sub edit_in_place {
    my ($path, $edit) = @_;
    local $_ = OtaTest::read_file($path);
    my $ok = $edit->();
    open my $fh, '+<', $path or die "$path: $!\n";
    truncate $fh, 0; print {$fh} $_; close $fh;
    return $ok;
}
ok(edit_in_place($CONF, sub {
       s/^redis\s+127\.0\.0\.1:6379$/redis            ${\ $t->redis_addr}/m }),
   'worker.conf: redis 127.0.0.1:6379 by default');
is(owner($CONF), 'root:ota 0640', 'worker.conf edited, owner and mode kept');

# Debian's layout: modules-enabled and a site, in a config of our own
OtaTest::write_file("$d/nginx.conf", <<"CONF");
user www-data;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log info;
include /etc/nginx/modules-enabled/*.conf;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log $d/access.log;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    include $d/sites-enabled/*;
}
CONF

my $example = '/usr/share/doc/libnginx-mod-http-ota/examples/ota-site.conf';
my $site = OtaTest::read_file($example);
ok(length $site, "the example site $example");

# the unit's lines: ExecStartPre (nginx -t) and ExecStart, with our config
sub unit_lines {
    my ($unit, $key) = @_;
    return map { /^\Q$key\E=[-@+!]*(.*)$/ ? [shellwords($1)] : () }
           split /\n/, OtaTest::read_file($unit);
}
my ($pre) = unit_lines('/lib/systemd/system/nginx.service', 'ExecStartPre');
my ($start) = unit_lines('/lib/systemd/system/nginx.service', 'ExecStart');
ok($pre && $start, 'nginx.service: ExecStartPre and ExecStart');

# our port instead of 80
sub listen_here {
    my ($conf) = @_;
    return $conf =~ s/^\s*listen \[::\]:80;\n//mr =~ s/listen 80;/listen 127.0.0.1:$t->{port};/r;
}

# as shipped, the site is refused: its placeholder secret is too short
OtaTest::write_file("$d/sites-enabled/ota", listen_here($site));
my ($prc, undef, $perr) = $t->run_cmd({}, @$pre, '-c', "$d/nginx.conf");
isnt($prc, 0, 'the example site as shipped: nginx -t refuses it');
like($perr, qr/ota_token_secret/, 'naming ota_token_secret') or diag($perr);

# the admin sets Redis, the secret and the admin token
ok($site =~ s/^ota_redis\s+127\.0\.0\.1:6379;/ota_redis ${\ $t->redis_addr};/m,
   'the site: ota_redis 127.0.0.1:6379');
ok($site =~ s/^ota_token_secret\s+\S+;/ota_token_secret $OtaTest::SECRET;/m,
   'the site: ota_token_secret');
ok($site =~ s/ota_admin_token\s+\S+;/ota_admin_token $OtaTest::ADMIN_TOKEN;/,
   'the site: ota_admin_token');
# and adds the console to the OTA server, as its snippet says
ok($site =~ s/^\}\s*\z/    include $CONSOLE;\n}\n/m, 'the site: include the console snippet');
OtaTest::write_file("$d/sites-enabled/ota", listen_here($site));

# ---- start the stack as the units would ----------------------------------------------------

($prc, undef, $perr) = $t->run_cmd({}, @$pre, '-c', "$d/nginx.conf");
is($prc, 0, 'ExecStartPre: nginx -t accepts the configured site') or diag($perr);
($prc, undef, $perr) = $t->run_cmd({}, @$start, '-c', "$d/nginx.conf");
is($prc, 0, 'ExecStart: nginx started') or diag($perr);
ok(OtaTest::wait_port($t->{port}), "nginx listens on $t->{port}");
$t->{nginx_up} = 1;
record($t->nginx_pid, 'nginx', 'QUIT');
ok($t->wait_nginx_redis, 'its workers reach Redis');

# a template unit's instance t70: "User:Group", the command that runs as
# them, and its ExecStart (%H, %i substituted), as systemd would run it
my $host = hostname();
sub unit_cmd {
    my ($unit) = @_;
    my ($start) = unit_lines($unit, 'ExecStart');
    my %u = map { /^(User|Group)=(\S+)/ ? ($1 => $2) : () }
            split /\n/, OtaTest::read_file($unit);
    return ("$u{User}:$u{Group}",
            [ 'setpriv', "--reuid=$u{User}", "--regid=$u{Group}", '--init-groups', '--' ],
            map { s/%H/$host/gr =~ s/%i/t70/gr =~ s/%%/%/gr } @$start);
}

# a daemon in the background, its output in $log; its pid
sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        { exec @cmd }
        POSIX::_exit(127);
    }
    return $pid;
}

my ($wowner, $as, @wcmd) = unit_cmd($UNIT);
is($wowner, 'ota:ota', 'the unit runs the worker as ota:ota');
is($wcmd[0], '/usr/sbin/ota-worker', "ExecStart: @wcmd");

my $wlog = $t->dir . '/worker.log';
my $wpid = spawn($wlog, @$as, @wcmd);
push @{ $t->{workers} }, { pid => $wpid, log => $wlog, name => "$host-t70" };
record($wpid, '/usr/sbin/ota-worker', 'TERM');
my $beat = $t->wait_for(sub { $t->redis(HGET => OtaTest::key('OTA_KEY_WORKERS'), "$host-t70") });
ok($beat, "the worker runs (consumer $host-t70)") or diag(OtaTest::read_file($wlog));
my ($puid) = OtaTest::read_file("/proc/$wpid/status") =~ /^Uid:\s+(\d+)/m;
is($puid, $uid, 'as the user ota (it read the 0640 config through its group)');

# ---- one device session -----------------------------------------------------------------------

sub otactl {                    # the installed otactl with the installed config
    return $t->run_cmd({ OTA_CONFIG => $CONF }, '/usr/bin/otactl', @_);
}
my $err;
($rc, $out, $err) = otactl(qw(device add deb-0001 --product kettle));
is($rc, 0, 'otactl device add') or diag($err);
my ($secret) = $out =~ /([0-9a-f]{64})/;
($rc, undef, $err) = otactl(qw(module add MCU --product kettle));
is($rc, 0, 'otactl module add') or diag($err);

my $fw = join '', map { pack 'N', $_ * 2654435761 % 4294967296 } 1 .. 50_000;  # 200 KB
my $file = $t->dir . '/mcu-2.0.0.bin';
OtaTest::write_file($file, $fw);
($rc, $out, $err) = otactl('package', 'add', $file, qw(--product kettle --module MCU
                           --name mcu-fw --version 2.0.0 --sign sha256));
is($rc, 0, 'otactl package add into the store of /etc/ota/worker.conf') or diag($err);
my ($pkg) = $out =~ /^(\S+)\s*$/m;
ok(-f "$STORE/$pkg/manifest.json", "package $pkg in $STORE");

my %tok;
sub dev {
    my ($method, $path, $body) = @_;
    return $t->http($method, $path,
                    headers => $tok{t} ? { Authorization => "Bearer $tok{t}" } : {},
                    (defined $body ? (json => $body) : ()));
}
$tok{t} = $t->device_token('deb-0001', 'kettle', $secret);
ok($tok{t}, 'auth: a token');
is(dev(POST => '/ota/v1/inform', { module => 'MCU', version => '1.0.0' })->{status},
   200, 'inform 1.0.0');
ok($t->wait_for(sub {
    ($t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', 'deb-0001'), 'MCU') // '')
        eq '1.0.0' }), 'the worker recorded the version');

($rc, $out, $err) = otactl('batch', 'create', '--package', $pkg,
                           qw(--type upgrade --name deb-rollout --wait 20));
is($rc, 0, 'otactl batch create (the worker created it)') or diag($err);
my ($batch) = $out =~ /^(\S+)\s*$/m;

my $r = dev(GET => '/ota/v1/upgrade?module=MCU');
is($r->{status}, 200, 'upgrade: the task');
is($r->{json}{version}, '2.0.0', 'target version 2.0.0');
my $url = $r->{json}{url} // '';

my $dl = $t->dir . '/download.bin';
my ($crc, undef, $cerr) = $t->run_cmd({}, 'curl', '-sS', '-f', '-o', $dl, $url);
is($crc, 0, 'curl downloads the package through the signed link') or diag($cerr);
is(sha256_hex(OtaTest::read_file($dl)), $r->{json}{sign}, 'the digest matches');

is(dev(POST => '/ota/v1/progress', { module => 'MCU', step => 100, desc => 'done' })->{status},
   200, 'progress 100');
is(dev(POST => '/ota/v1/inform', { module => 'MCU', version => '2.0.0' })->{status},
   200, 'inform 2.0.0');
my $st = $t->wait_for(sub { my $s = $t->task('deb-0001', $batch)->{state};
                            $s eq 'succeeded' ? $s : 0 }, 20);
is($st, 'succeeded', 'the task succeeded');

# ---- the admin's statistics ----------------------------------------------------------------

my %adm = (headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" });
my $ab = $t->http(GET => "/ota/admin/batches/$batch", %adm)->{json} // {};
is($ab->{counts}{succeeded}, 1, 'admin API: one succeeded');
is($ab->{success_rate}, 1, 'admin API: success rate 1');
is($ab->{completion}, 1, 'admin API: completion 1');
my $av = $t->http(GET => '/ota/admin/versions?product=kettle&module=MCU', %adm)->{json} // {};
is_deeply($av->{versions}, [{ version => '2.0.0', devices => 1, percent => 100 }],
          'admin API: versions: the device at 2.0.0');

($rc, $out) = otactl('--json', 'batch', 'show', $batch);
my $cli = eval { decode_json($out) } // {};
is_deeply([ @$cli{qw(id counts success_rate completion)} ],
          [ @$ab{qw(id counts success_rate completion)} ],
          'otactl batch show --json agrees with the admin API');
($rc, $out) = otactl(qw(--json stats versions --product kettle --module MCU));
my $sv = eval { decode_json($out) } // {};
is_deeply($sv->{modules}[0]{versions}, { '2.0.0' => 1 }, 'otactl stats versions: 2.0.0 on 1 device')
    or diag($out);

# ---- the console, from the installed files ------------------------------------------------

$r = $t->http(GET => '/ota/console/');
is($r->{status}, 200, 'the console: /ota/console/ 200');
like($r->{content} // '', qr{<script src="vendor/chart\.min\.js"}, 'its index.html');
like($r->{headers}{'content-security-policy'} // '', qr/default-src 'self'/,
     'with its Content-Security-Policy');
$r = $t->http(GET => '/ota/console/js/app.js');
is($r->{status}, 200, 'its scripts');
like($r->{headers}{'content-type'} // '', qr{^application/javascript}, 'as JavaScript');
$r = $t->http(GET => '/ota/console/vendor/chart.min.js');
is($r->{status}, 200, 'Chart.js from libjs-chart.js');
like($r->{content} // '', qr/Chart/, 'the library itself');

# ---- the MQTT channel: mosquitto with the installed plugin, the bridge ------------------

# the bridge as shipped: its secrets are commented out, it refuses to start
my ($mowner, $bas, @bcmd) = unit_cmd($MUNIT);
is($mowner, 'ota:ota', 'the unit runs the bridge as ota:ota');
is($bcmd[0], '/usr/sbin/ota-mqtt', "ExecStart: @bcmd");
($rc, undef, $err) = $t->run_cmd({}, @$bas, @bcmd);
is($rc, 2, "the bridge with $MCONF as shipped: refused");
like($err, qr/--mqtt-password is required/, 'naming the missing password') or diag($err);

$m = OtaMqtt->new($t, no_broker => 1);     # a free port, the device logins
my $md = $m->dir;
my $bpw = 'deb-bridge-password-0123456789';

# the admin configures the bridge (in place: the owner and mode stay)
my $mc = edit_in_place($MCONF, sub {
    s/^redis .*/redis ${\ $t->redis_addr}/m
    && s/^mqtt .*/mqtt 127.0.0.1:${\ $m->port}/m
    && s/^#mqtt_password .*/mqtt_password $bpw/m
    && s/^#token_secret .*/token_secret $OtaTest::SECRET/m
    && s{^#public_url .*}{public_url ${\ $t->base}/ota/v1/}m });
ok($mc, "$MCONF: redis, mqtt, mqtt_password, token_secret, public_url set");
is(owner($MCONF), 'root:ota 0640', "$MCONF edited, owner and mode kept");

# mosquitto's own configuration, copied with our places (its pid file,
# persistence and log are the system broker's), including a conf.d of ours
# with the package's snippet, enabled as its header says
my $main = OtaTest::read_file('/etc/mosquitto/mosquitto.conf');
ok($main =~ s{^include_dir /etc/mosquitto/conf\.d$}{include_dir $md/conf.d}m,
   'mosquitto.conf includes /etc/mosquitto/conf.d');
$main =~ s/^pid_file .*\n//m;
$main =~ s{^persistence_location .*}{persistence_location $md/}m;
$main =~ s{^log_dest file .*}{log_dest file $md/mosquitto.log}m;
OtaTest::write_file("$md/mosquitto.conf", "$main\nuser root\n");
mkdir "$md/conf.d";
(my $enabled = $snippet) =~ s/^#(?=[a-z])//mg;
$enabled =~ s/^listener 1883$/listener ${\ $m->port} 127.0.0.1/m;
$enabled =~ s/^plugin_opt_redis .*/plugin_opt_redis ${\ $t->redis_addr}/m;
OtaTest::write_file("$md/conf.d/ota.conf", $enabled);

# with the shipped placeholder password the broker does not start
my ($brc, undef, $berr) = $t->run_cmd({}, 'timeout', '10', 'mosquitto', '-c', "$md/mosquitto.conf");
ok($brc != 0 && $brc != 124, 'mosquitto refuses the snippet with its placeholder password');
like(OtaTest::read_file("$md/mosquitto.log") . $berr, qr/plugin_opt_bridge_password/,
     'naming plugin_opt_bridge_password');
ok($enabled =~ s/^plugin_opt_bridge_password .*/plugin_opt_bridge_password $bpw/m,
   'the snippet: plugin_opt_bridge_password');
OtaTest::write_file("$md/conf.d/ota.conf", $enabled);

$m->{broker_pid} = spawn("$md/mosquitto.out", 'mosquitto', '-c', "$md/mosquitto.conf");
record($m->{broker_pid}, 'mosquitto', 'TERM');
ok(OtaTest::wait_port($m->port), 'mosquitto listens on ' . $m->port) or diag($m->broker_log);
like($m->broker_log, qr/\Q$PLUGIN\E/, "with the plugin $PLUGIN");

my $blog = "$md/bridge.log";
my $bpid = spawn($blog, @$bas, @bcmd);
push @{ $m->{bridges} }, { pid => $bpid, log => $blog, name => "$host-t70" };
record($bpid, '/usr/sbin/ota-mqtt', 'TERM');
ok($t->wait_for(sub { OtaTest::read_file($blog) =~ /subscribed to/ }, 10),
   'the bridge is connected and subscribed') or diag(OtaTest::read_file($blog));
($puid) = OtaTest::read_file("/proc/$bpid/status") =~ /^Uid:\s+(\d+)/m;
is($puid, $uid, 'as the user ota (it read the 0640 config through its group)');

# a second device reports its version over MQTT
($rc, $out, $err) = otactl(qw(device add deb-0002 --product kettle));
my ($secret2) = $out =~ /([0-9a-f]{64})/;
ok($secret2, 'otactl device add deb-0002') or diag($err);
my $inform = '/ota/device/inform/kettle/deb-0002';
my $msg = '{"id":"1","params":{"version":"1.0.0","module":"MCU"}}';
($rc) = $m->pub('deb-0002', 'kettle', 'f' x 64, $inform, $msg);
isnt($rc, 0, 'a login with a wrong secret: refused by the plugin');
($rc, undef, $err) = $m->pub('deb-0002', 'kettle', $secret2, $inform, $msg);
is($rc, 0, 'mosquitto_pub: inform 1.0.0 over MQTT') or diag($err);
ok($t->wait_for(sub {
    ($t->redis(HGET => OtaTest::key('OTA_KEY_DEVICE_VERSIONS', 'deb-0002'), 'MCU') // '')
        eq '1.0.0' }), 'the bridge stored it and the worker recorded the version')
    or diag(OtaTest::read_file($blog));
($rc, $out) = otactl(qw(--json stats versions --product kettle --module MCU));
$sv = eval { decode_json($out) } // {};
is_deeply($sv->{modules}[0]{versions}, { '1.0.0' => 1, '2.0.0' => 1 },
          'otactl stats versions: one device by each channel') or diag($out);

$m->stop;                        # the bridge and the broker did not crash
$t->stop;                        # nginx, the worker, Redis; their logs checked

# ---- remove: conffiles and data stay -------------------------------------------------------

($rc, $out) = dpkg('--remove', @PKGS);
is($rc, 0, 'dpkg --remove') or diag($out);
like(status($_), qr/^(config-files|not-installed)$/, "$_ removed") for @PKGS;
ok(!-e $_, "$_ gone") for '/usr/lib/nginx/modules/ngx_ota_module.so',
    '/usr/sbin/ota-worker', '/usr/bin/otactl', $UNIT, $SNIPPET,
    '/usr/sbin/ota-mqtt', $PLUGIN, $MUNIT;
ok(!-e $ENABLED && !-l $ENABLED, 'not enabled in nginx any more');
is(readlink("$ENABLED.removed"), $SNIPPET,
   'the link kept as .removed, for a reinstall (as Debian modules)');
like(OtaTest::read_file($CONF), qr/^redis\s+127\.0\.0\.1:$t->{redis_port}$/m,
     'the edited conffile stays until purge');
like(OtaTest::read_file($MCONF), qr/^mqtt_password \Q$bpw\E$/m, "so does $MCONF");
is(OtaTest::read_file($BROKER), $snippet, "and $BROKER");
ok(-f $CONSOLE && !-e '/usr/share/ota-console', "the console's files gone, $CONSOLE stays");
ok(-f "$STORE/$pkg/manifest.json", 'the package store keeps its data');
$stock = `/usr/sbin/nginx -t 2>&1`;
is($?, 0, 'nginx -t with the stock configuration after the removal') or diag($stock);

# ---- purge: only the data and the user stay ------------------------------------------------

($rc, $out) = dpkg('--purge', @PKGS);
is($rc, 0, 'dpkg --purge') or diag($out);
is(status($_), 'not-installed', "$_ purged") for @PKGS;
ok(!-e '/etc/ota', '/etc/ota gone (conffiles purged)');
ok(!-e $CONSOLE, "$CONSOLE gone (purged)");
ok(!-e $BROKER && !glob('/etc/mosquitto/conf.d/ota*.conf'), "$BROKER gone (purged)");
ok(!-e '/usr/lib/ota', '/usr/lib/ota gone');
ok(!-l "$ENABLED.removed", 'the .removed link gone');
ok(!-l $_, "the enablement link $_ gone") for $WANTS, $MWANTS;
is(`dpkg-statoverride --list '/etc/ota/*' '/var/lib/ota*' '$BROKER'`, '', 'no stat override left');
for my $p (@PKGS) {
    my @info = glob("/var/lib/dpkg/info/$p.*");
    is("@info", '', "no dpkg info files of $p");
}

# every path of the packages is gone, but directories other packages own
# and the store, which holds the admin's data
my @left;
for my $p (@PKGS) {
    for my $line (split /\n/, `dpkg-deb -c $deb{$p}`) {
        my ($path) = $line =~ m{ \.(/\S*?)/?$} or next;
        next if $path eq '/' || !(-e $path || -l $path);
        next if $path =~ m{^/var/lib/ota(/packages)?$};
        # /lib may be a link to /usr/lib (merged /usr): the directory it names
        my $real = Cwd::realpath($path);
        next if -d $path && grep { system("dpkg -S '$_' >/dev/null 2>&1") == 0 } $path, $real;
        push @left, $path;
    }
}
is("@left", '', 'nothing of the packages left');
ok(-f "$STORE/$pkg/manifest.json", "the store's data stays after purge (the admin removes it)");
ok(defined getpwnam('ota'), 'the system user ota stays (it owns that data)');

cleanup();
ok(!-e '/var/lib/ota', 'cleaned up: the admin removed /var/lib/ota');
done_testing;
