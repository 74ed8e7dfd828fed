package OtaTest;

# Test harness: starts real redis-server, Debian nginx with our module and
# the worker on free loopback ports inside a temp directory, talks to them,
# and tears everything down.  A test fails when nginx's error log shows an
# [alert]/[emerg] or a crashed worker process, or when ota-worker dies on a
# signal.
#
#   my $t = OtaTest->new(worker => 1);
#   my $r = $t->http(GET => '/ota/v1/upgrade?module=default',
#                    headers => { Authorization => "Bearer $tok" });
#   is($r->{status}, 200); is($r->{json}{version}, '1.2.0');
#   $t->redis(HSET => 'k', 'f', 'v');
#   my ($rc, $out, $err) = $t->otactl(qw(device add d1 --product p1));
#   $t->stop;                       # also checks the logs
#
# OTA_KEEP=1 keeps the temp directory for a look after a failure.
# OTA_VALGRIND=1 (make valgrind) runs ota-worker under valgrind memcheck;
# any error or definite leak fails the test in stop().
# OTA_ASAN=1 (make asan) runs nginx with libasan preloaded and the worker
# built with ASan; any sanitizer report fails the test in stop().
# OTA_NGINX_LOG=debug (make test-debug) sets nginx's error_log level (info
# by default; OtaTest->new(log_level => 'debug') for one test).

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

our $ROOT  = abs_path(dirname(__FILE__) . '/../..');
our $BUILD = $ENV{OTA_BUILD} // "$ROOT/build";
our $NGINX = $ENV{OTA_NGINX} // '/usr/sbin/nginx';

our $SECRET      = 'test-server-key-0123456789abcdef';
our $ADMIN_TOKEN = 'test-admin-token-0123456789';

my %used_ports;
my @live;                         # harnesses to stop at exit

sub free_port {
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                      LocalPort => 0, ReuseAddr => 0)
            or next;
        my $p = $s->sockport;
        close $s;
        next if $used_ports{$p}++;
        return $p;
    }
    die "no free port\n";
}

sub wait_port {
    my ($port, $secs) = @_;
    my $until = time + ($secs // 10);
    while (time < $until) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

sub new {
    my ($class, %o) = @_;

    my $dir = tempdir('ota-test-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{OTA_KEEP});
    chmod 0755, $dir;
    diag("test dir: $dir") if $ENV{OTA_KEEP};

    my $self = bless {
        %o,
        dir         => $dir,
        store       => $o{store} // "$dir/store",   # a second node shares it
        secret      => $SECRET,
        admin_token => $ADMIN_TOKEN,
        workers     => [],
    }, $class;

    make_path($self->{store}) unless -d $self->{store};
    chmod 0755, $self->{store};
    push @live, $self;

    $self->{redis_port} = $o{redis_port} // free_port();
    $self->start_redis unless $o{no_redis};
    $self->start_nginx unless $o{no_nginx};
    $self->start_worker if $o{worker};

    return $self;
}

sub dir   { $_[0]{dir} }
sub store { $_[0]{store} }
sub port  { $_[0]{port} }
sub base  { "http://127.0.0.1:$_[0]{port}" }
sub redis_addr { "127.0.0.1:$_[0]{redis_port}" }

# ---- redis ------------------------------------------------------------------

sub start_redis {
    my ($self) = @_;
    my $d = "$self->{dir}/redis";
    make_path($d);
    my $p = $self->{redis_port};

    system('redis-server', '--port', $p, '--bind', '127.0.0.1',
           '--dir', $d, '--daemonize', 'yes', '--pidfile', "$d/redis.pid",
           '--logfile', "$d/redis.log", '--save', '', '--appendonly', 'yes',
           '--appendfsync', 'everysec', '--protected-mode', 'no',
           @{ $self->{redis_args} // [] }) == 0
        or die "redis-server did not start\n";

    my $until = time + 10;
    while (time < $until) {
        my $r = eval { $self->redis('PING') };
        if (defined $r && $r eq 'PONG') {
            $self->{redis_running} = 1;
            return 1;
        }
        sleep 0.05;
    }
    die "redis-server on $p does not answer\n";
}

sub stop_redis {
    my ($self, %o) = @_;
    my $pidf = "$self->{dir}/redis/redis.pid";
    return unless -f $pidf;
    chomp(my $pid = read_file($pidf));
    if ($o{kill}) {
        kill 'KILL', $pid;
    } else {
        eval { $self->redis('SHUTDOWN') };
    }
    my $until = time + 10;
    sleep 0.05 while kill(0, $pid) && time < $until;
    unlink $pidf;
    delete $self->{redis_sock};
    $self->{redis_running} = 0;
}

# Minimal RESP client: returns a scalar, an array ref, or undef for nil;
# dies with the message on an error reply.
sub redis {
    my ($self, @cmd) = @_;
    my $s = $self->{redis_sock};
    unless ($s && $s->connected) {
        $s = IO::Socket::INET->new(PeerAddr => $self->redis_addr, Timeout => 5)
            or die "cannot connect to redis at " . $self->redis_addr . "\n";
        binmode $s;
        $self->{redis_sock} = $s;
    }
    my $req = '*' . @cmd . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for map { defined $_ ? $_ : '' } @cmd;
    unless (print {$s} $req) {
        delete $self->{redis_sock};
        die "redis write failed\n";
    }
    my $r = eval { _resp_read($s) };
    if ($@) {
        delete $self->{redis_sock} if $@ =~ /closed/;
        die $@;
    }
    return $r;
}

sub _resp_read {
    my ($s) = @_;
    my $line = <$s>;
    die "redis connection closed\n" unless defined $line;
    $line =~ s/\r\n\z//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' || $t eq ':';
    die "redis: $v\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        my $buf = '';
        while (length($buf) < $v + 2) {
            my $n = read($s, $buf, $v + 2 - length($buf), length($buf));
            die "redis connection closed\n" unless $n;
        }
        return substr($buf, 0, $v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { _resp_read($s) } 1 .. $v ];
    }
    die "redis: bad reply '$line'\n";
}

# HGETALL as a hash ref
sub redis_hash {
    my ($self, $key) = @_;
    my $r = $self->redis('HGETALL', $key) // [];
    return { @$r };
}

# wait until $code->() is true (polls); returns its last value
# true when the worker streams (events, jobs) are drained: the group has
# delivered every entry and none is pending
sub drained {
    my ($self) = @_;
    for my $s ('ota:events', 'ota:jobs') {
        my $info = { @{ $self->redis('XINFO', 'STREAM', $s) } };
        my ($g) = grep { my %h = @$_; $h{name} eq 'ota-workers' }
                  @{ $self->redis('XINFO', 'GROUPS', $s) };
        return 0 unless $g;
        my %g = @$g;
        return 0 if $g{pending}
                 || $g{'last-delivered-id'} ne $info->{'last-generated-id'};
    }
    return 1;
}

sub wait_for {
    my ($self, $code, $secs) = @_;
    my $until = time + ($secs // 10);
    my $v;
    while (time < $until) {
        $v = eval { $code->() };
        return $v if $v;
        sleep 0.05;
    }
    return $v;
}

# ---- nginx --------------------------------------------------------------------

sub nginx_conf {
    my ($self) = @_;
    my $d = "$self->{dir}/nginx";
    my $user = $> == 0 ? "user nobody nogroup;" : '';
    my $workers = $self->{nginx_workers} // 2;
    my $http = $self->{http_extra} // '';
    my $loc = $self->{loc_extra} // '';
    my $srv = $self->{server_extra} // '';
    my $admin = $self->{admin_extra} // '';
    my $redis = $self->{ota_redis} // $self->redis_addr;
    # OTA_REDIS_EXTRA="gather=0": words added to ota_redis (benches)
    $redis .= " $ENV{OTA_REDIS_EXTRA}" if $ENV{OTA_REDIS_EXTRA};
    # OTA_NGINX_LOG=debug (make test-debug) runs every test with nginx's
    # debug log on, as an operator troubleshooting would
    my $level = $self->{log_level} // $ENV{OTA_NGINX_LOG} // 'info';
    my $conns = $self->{worker_connections} // 1024;
    my $main = $self->{main_extra} // '';

    return <<"CONF";
load_module $BUILD/ngx_ota_module.so;
$user
worker_processes $workers;
error_log $d/error.log $level;
pid $d/nginx.pid;
$main
events { worker_connections $conns; }
http {
    access_log $d/access.log;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;

    ota_redis $redis;
    ota_package_root $self->{store};
    ota_token_secret $self->{secret};
    $http

    server {
        listen 127.0.0.1:$self->{port};
        server_name localhost;
        location /ota/v1/ { ota_device_api; $loc }
        location /ota/admin/ { ota_admin_api; ota_admin_token $self->{admin_token}; $admin }
        location /static/ { alias $self->{store}/; }
        $srv
    }
}
CONF
}

sub start_nginx {
    my ($self) = @_;
    my $d = "$self->{dir}/nginx";
    make_path("$d/tmp");
    $self->{port} //= free_port();
    write_file("$d/nginx.conf", $self->nginx_conf);

    local $ENV{LD_PRELOAD} = _libasan() if $ENV{OTA_ASAN};
    local $ENV{ASAN_OPTIONS} = "log_path=" . $self->asan_dir . "/nginx:"
        . "detect_leaks=0:handle_segv=1" if $ENV{OTA_ASAN};
    my $out = `$NGINX -p $d/ -c $d/nginx.conf 2>&1`;
    die "nginx did not start: $out\n" if $?;
    wait_port($self->{port}) or die "nginx does not listen on $self->{port}\n";
    $self->{nginx_up} = 1;

    # worker processes connect to Redis just after nginx listens: a test's
    # first API call must not race them
    $self->wait_nginx_redis if $self->{redis_running} && !$self->{ota_redis};
}

sub nginx_pid {
    my ($self) = @_;
    my $f = "$self->{dir}/nginx/nginx.pid";
    return undef unless -f $f;
    chomp(my $pid = read_file($f));
    return $pid;
}

# the pids of the nginx master's worker processes
sub nginx_workers {
    my ($self) = @_;
    my $m = $self->nginx_pid // return ();
    return sort grep {
        my $st = eval { read_file("/proc/$_/stat") } // '';
        $st =~ /^\d+ \(.*?\) \S (\d+)/ && $1 == $m;
    } map { m{/proc/(\d+)$} ? $1 : () } glob '/proc/[0-9]*';
}

sub stop_nginx {
    my ($self) = @_;
    return unless $self->{nginx_up};
    my $pid = $self->nginx_pid;
    if ($pid) {
        kill 'QUIT', $pid;
        my $until = time + 10;
        sleep 0.05 while kill(0, $pid) && time < $until;
        kill 'KILL', $pid if kill 0, $pid;
    }
    $self->{nginx_up} = 0;
}

sub reload_nginx {
    my ($self) = @_;
    my $d = "$self->{dir}/nginx";
    write_file("$d/nginx.conf", $self->nginx_conf);
    kill 'HUP', $self->nginx_pid;
    sleep 0.5;
}

sub error_log {
    my ($self) = @_;
    my $f = "$self->{dir}/nginx/error.log";
    return -f $f ? read_file($f) : '';
}

# ---- worker ---------------------------------------------------------------------

sub start_worker {
    my ($self, @args) = @_;
    my $n = @{ $self->{workers} } + 1;
    my $name = "w$n-" . time;
    my $log = "$self->{dir}/worker$n.log";
    my @cmd = ("$BUILD/ota-worker", '--redis', $self->redis_addr,
               '--store', $self->{store}, '--consumer', $name,
               @{ $self->{worker_args} // [] },
               # OTA_WORKER_ARGS="--count 3": every read is full, so the
               # worker leaves applies in flight (make test runs the
               # event tests that way too)
               split(' ', $ENV{OTA_WORKER_ARGS} // ''), @args);
    my $vg;
    if ($ENV{OTA_VALGRIND}) {           # make valgrind: memcheck the worker
        $vg = "$self->{dir}/valgrind-worker$n.log";
        unshift @cmd, 'valgrind', '--quiet', '--error-exitcode=99',
            '--leak-check=full', '--show-leak-kinds=definite',
            '--errors-for-leak-kinds=definite', "--log-file=$vg";
    }
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $ENV{ASAN_OPTIONS} = "log_path=" . $self->asan_dir . "/worker:"
            . "detect_leaks=1" if $ENV{OTA_ASAN};
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or exit 127;
    }
    push @{ $self->{workers} }, { pid => $pid, log => $log, name => $name,
                                  valgrind => $vg };
    return $pid;
}

# stops one worker (the newest by default); returns its wait status
sub stop_worker {
    my ($self, %o) = @_;
    my $w = $o{worker} // $self->{workers}[-1] // return;
    return $w->{status} if defined $w->{status};
    kill $o{signal} // 'TERM', $w->{pid};
    my $until = time + 10;
    while (time < $until) {
        my $r = waitpid($w->{pid}, WNOHANG);
        if ($r == $w->{pid}) { $w->{status} = $?; last }
        sleep 0.05;
    }
    unless (defined $w->{status}) {
        kill 'KILL', $w->{pid};
        waitpid($w->{pid}, 0);
        $w->{status} = $?;
    }
    $self->{workers} = [ grep { $_ != $w } @{ $self->{workers} } ]
        if $o{forget};
    return $w->{status};
}

sub worker_log {
    my ($self, $i) = @_;
    my $w = $self->{workers}[$i // -1] or return '';
    return -f $w->{log} ? read_file($w->{log}) : '';
}

# ---- clients ----------------------------------------------------------------------

# http(METHOD => path, headers => {}, body => str|ref, json => ref)
# returns { status, headers, content, json }
sub http {
    my ($self, $method, $path, %o) = @_;
    my $ua = HTTP::Tiny->new(timeout => $o{timeout} // 15,
                             max_redirect => 0, keep_alive => 0);
    my %h = %{ $o{headers} // {} };
    my %req = (headers => \%h);
    if (exists $o{json}) {
        $req{content} = ref $o{json} ? encode_json($o{json}) : $o{json};
        $h{'Content-Type'} //= 'application/json';
    } elsif (exists $o{body}) {
        $req{content} = $o{body};
    }
    my $url = $path =~ m{^https?://} ? $path : $self->base . $path;
    my $r = $ua->request($method, $url, \%req);
    my $json;
    if (($r->{headers}{'content-type'} // '') =~ m{application/json}
        && length($r->{content} // ''))
    {
        $json = eval { decode_json($r->{content}) };
    }
    return { status => $r->{status}, headers => $r->{headers},
             content => $r->{content}, json => $json, reason => $r->{reason} };
}

# runs otactl against this harness; returns (exit code, stdout, stderr)
sub otactl {
    my ($self, @args) = @_;
    return $self->run_cmd($self->otactl_env(@args), "$BUILD/otactl", @args);
}

# Redis's SLOWLOG summed by script (benches, with slowlog-log-slower-than
# 0): { name => [calls, us] }, a script named by its file under lua/
# ("worker/apply"), any other command by its name in lower case
sub slowlog_by_script {
    my ($self) = @_;
    unless ($self->{script_names}) {
        require Digest::SHA;
        for my $f (glob "$BUILD/lua/*/*.lua") {
            my ($n) = $f =~ m{lua/(\w+/\w+)\.lua$};
            $self->{script_names}{ Digest::SHA::sha1_hex(read_file($f)) } = $n;
        }
    }
    my %by;
    for my $e (@{ $self->redis(SLOWLOG => 'GET', -1) }) {
        my ($us, $argv) = ($e->[2], $e->[3]);
        my $name = lc $argv->[0];
        $name = $self->{script_names}{ $argv->[1] } // "script $argv->[1]"
            if $name eq 'evalsha';
        $by{$name}[0]++;
        $by{$name}[1] += $us;
    }
    return \%by;
}

# a package of file $bin (version 2.0.0, module default) and a running
# upgrade batch of it for every device of $product, through otactl as an
# operator would; returns (package id, batch id), dies with otactl's reason
sub otactl_release {
    my ($self, $bin, $product, $name) = @_;
    my ($rc, $out, $err) = $self->otactl('package', 'add', $bin, '--product', $product,
                                         qw(--module default --name fw --version 2.0.0));
    die "package add: $err" if $rc;
    chomp(my $pkg = $out);
    ($rc, $out, $err) = $self->otactl('batch', 'create', '--package', $pkg,
                                      '--type', 'upgrade', '--name', $name, '--wait', 120);
    die "batch create: $err" if $rc;
    chomp(my $batch = $out);
    return ($pkg, $batch);
}

# OTA_OTACTL_API=1 (make test-api) runs every otactl call through the admin
# API of the test's nginx with its token, as an admin without Redis access
# or the store would: Redis and the store are named as unreachable, so a
# command that still touched them would fail.  nginx is started for it
# when the test did not.  A call that names --redis, --store, --config or
# --api itself tests direct mode (or its own API) and is left alone.
sub otactl_api_mode {
    my ($self, @args) = @_;
    return 0 unless $ENV{OTA_OTACTL_API};
    return 0 if grep { /^--(redis|store|config|api|token)(=|$)/ } @args;
    # what otactl refuses over the API by design (docs/otactl.md, "API
    # mode": the store's files) stays direct, and so does package verify
    # (over the API it cannot check the store's files, t/43 tests that);
    # OTA_OTACTL_API_DIRECT="cmd,..." adds to the list
    my $cmd = join ' ', grep { !/^-/ } @args[0 .. ($#args < 2 ? $#args : 2)];
    for my $d ('package verify',
               split /\s*,\s*/, $ENV{OTA_OTACTL_API_DIRECT} // '') {
        return 0 if length $d && index("$cmd ", "$d ") == 0;
    }
    return 0 unless $self->{redis_running} || $self->{nginx_up};
    $self->start_nginx unless $self->{nginx_up};
    # package add uploads: nginx's workers (nobody under root) write the
    # store, as an operator sets it up for the admin API's uploads
    if ($> == 0 && !$self->{store_for_nginx}++) {
        my (undef, undef, $uid, $gid) = getpwnam('nobody');
        chown $uid, $gid, $self->{store} if defined $uid;
    }
    return 1;
}

sub otactl_env {
    my ($self, @args) = @_;
    return { OTA_REDIS => $self->redis_addr, OTA_STORE => $self->{store} }
        unless $self->otactl_api_mode(@args);
    return { OTA_API => $self->base . '/ota/admin',
             OTA_ADMIN_TOKEN => $self->{admin_token},
             OTA_REDIS => '127.0.0.1:1',
             OTA_STORE => "$self->{dir}/store-not-mounted" };
}

# run_cmd(\%env, @cmd): (exit code, stdout, stderr), no shell involved
sub run_cmd {
    my ($self, $env, @cmd) = @_;
    my $n = ++$self->{cmd_n};
    my ($o, $e) = ("$self->{dir}/cmd$n.out", "$self->{dir}/cmd$n.err");
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $ENV{$_} = $env->{$_} for keys %$env;
        if ($ENV{OTA_ASAN} && $cmd[0] eq $NGINX) {     # loads the ASan .so
            $ENV{LD_PRELOAD} = _libasan();
            $ENV{ASAN_OPTIONS} = "detect_leaks=0";
        }
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $o;
        open STDERR, '>', $e;
        exec @cmd or exit 127;
    }
    waitpid($pid, 0);
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    my ($out, $err) = (read_file($o), read_file($e));
    unlink $o, $e;
    return ($rc, $out, $err);
}

# ---- device helpers (the protocol of docs/device-protocol.md) -----------------

sub auth_sign {
    my ($secret, $device, $product, $ts) = @_;
    return hmac_sha256_hex("device${device}product${product}timestamp${ts}",
                           $secret);
}

sub link_sign {
    my ($self, $pkg, $device, $expires) = @_;
    return hmac_sha256_hex("ota-link\n$pkg\n$device\n$expires",
                           $self->{secret});
}

sub signed_link {
    my ($self, $pkg, $device, $expires, $file) = @_;
    $expires //= time + 600;
    $expires = int($expires);
    my $path = "/ota/v1/packages/$pkg" . (defined $file ? "/$file" : '');
    return "$path?device=$device&expires=$expires&signature="
           . $self->link_sign($pkg, $device, $expires);
}

# ---- teardown -------------------------------------------------------------------

# checks the logs of everything still running, then stops it all
sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;

    $self->stop_nginx;
    # line by line: a debug log can be large
    my @bad;
    if (open my $fh, '<', "$self->{dir}/nginx/error.log") {
        while (my $l = <$fh>) {
            push @bad, $l if $l =~ /\[(alert|emerg)\]|exited on signal|segfault/;
        }
        chomp @bad;
    }
    ok(!@bad, 'nginx error log has no alert or crash')
        or diag(join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]));

    for my $w (@{ $self->{workers} }) {
        my $st = $self->stop_worker(worker => $w);
        my $sig = $st & 127;
        ok(!$sig || $sig == 9 || $sig == 15 || $w->{expect_kill},
           "ota-worker $w->{name} did not crash")
            or diag("signal $sig; log:\n" . read_file($w->{log}));
        if ($w->{valgrind}) {
            my $vl = read_file($w->{valgrind});
            ok($vl !~ /\S/ && ($st >> 8) != 99, "valgrind: ota-worker $w->{name} clean")
                or diag(substr($vl, 0, 4000));
        }
    }

    $self->stop_redis;

    if ($ENV{OTA_ASAN}) {
        my @reports = glob($self->asan_dir . "/*");
        ok(!@reports, 'no AddressSanitizer report')
            or diag(join("\n", map { read_file($_) } @reports[0 .. 1]));
    }
}

# reports land here; world-writable because nginx workers run as nobody
sub asan_dir {
    my ($self) = @_;
    my $d = "$self->{dir}/asan";
    unless (-d $d) { mkdir $d; chmod 0777, $d }
    return $d;
}

sub _libasan {
    my $p = `gcc -print-file-name=libasan.so`;
    chomp $p;
    return $p;
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    return if $self->{stopped};
    $self->{stopped} = 1;
    $self->stop_nginx;
    kill 'KILL', $_->{pid} for grep { !defined $_->{status} } @{ $self->{workers} };
    $self->stop_redis(kill => 1);
}

END {
    local $?;
    for my $t (@live) {
        next if !$t || $t->{stopped};
        $t->DESTROY;
    }
}

# ---- files ------------------------------------------------------------------------

sub read_file {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    binmode $fh;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub write_file {
    my ($f, $s) = @_;
    open my $fh, '>', $f or die "$f: $!\n";
    binmode $fh;
    print {$fh} $s;
    close $fh or die "$f: $!\n";
}

# ---- Redis keys and fixtures (device / admin API tests) ------------------------
#
# key('OTA_KEY_BATCH_STATE', $batch) builds a key from the printf format of
# include/ota_keys.h, read from the header itself so the tests cannot drift
# from the C side.  The fx_* helpers write records exactly as
# docs/redis-schema.md describes them, for tests that run without the
# worker and otactl.

my %KEY_FMT;

sub key {
    my ($name, @args) = @_;
    unless (%KEY_FMT) {
        open my $fh, '<', "$ROOT/include/ota_keys.h" or die "ota_keys.h: $!\n";
        while (<$fh>) {
            $KEY_FMT{$1} = $2 if /^#define\s+(OTA_\w+)\s+"([^"]*)"/;
        }
    }
    my $fmt = $KEY_FMT{$name} // die "no key $name in ota_keys.h\n";
    my $n = () = $fmt =~ /%s/g;
    die "key $name takes $n arguments\n" unless $n == @args;
    return sprintf($fmt, @args);
}

# a device of a product (and the product with its "default" module);
# returns the secret
sub fx_device {
    my ($self, $device, $product, %o) = @_;
    my $secret = $o{secret} // join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
    $self->redis(HSET => key('OTA_KEY_DEVICE', $device), product => $product,
                 secret => $secret, created => time);
    $self->redis(SADD => key('OTA_KEY_PRODUCTS'), $product);
    $self->redis(SADD => key('OTA_KEY_PRODUCT_DEVICES', $product), $device);
    $self->fx_module($product, 'default');
    return $secret;
}

sub fx_module {
    my ($self, $product, $module, %o) = @_;
    $self->redis(HSETNX => key('OTA_KEY_PRODUCT_MODULES', $product), $module,
                 encode_json({ alias => $o{alias} // '', desc => $o{desc} // '',
                               created => time }));
}

# a package with its files in the store (manifest last) and its hash:
# fx_package(id => 'p1', product => 'pr', module => 'default',
#            version => '1.1.0', files => [[name => content], ...],
#            type => 'full', from => '', sign_method => 'sha256',
#            ext => {k => v}, verify => 0, state => 'ready')
sub fx_package {
    my ($self, %o) = @_;
    require Digest::MD5;
    require Digest::SHA;
    my $id = $o{id} // die "fx_package: id\n";
    my $method = $o{sign_method} // 'sha256';
    my $dir = "$self->{store}/$id";
    make_path($dir);
    my ($off, @files) = (0);
    for my $f (@{ $o{files} // [['fw.bin', 'x' x 1000]] }) {
        my ($name, $content) = @$f;
        write_file("$dir/$name", $content);
        my $sign = $method eq 'md5' ? Digest::MD5::md5_hex($content)
                                    : Digest::SHA::sha256_hex($content);
        push @files, { name => $name, size => length $content, sign => $sign,
                       offset => $off };
        $off += length $content;
    }
    my %m = (id => $id, product => $o{product}, module => $o{module} // 'default',
             version => $o{version}, type => $o{type} // 'full',
             from => $o{from} // '', sign_method => $method, size => $off,
             files => \@files);
    write_file("$dir/manifest.json.tmp", encode_json(\%m));
    rename "$dir/manifest.json.tmp", "$dir/manifest.json" or die "rename: $!\n";
    $self->redis(HSET => key('OTA_KEY_PACKAGE', $id), %m,
                 files => encode_json(\@files), name => $o{name} // $id,
                 sign => $files[0]{sign}, verify => $o{verify} // 0,
                 state => $o{state} // 'ready', verify_batch => $o{verify_batch} // '',
                 desc => $o{desc} // '', ext => encode_json($o{ext} // {}),
                 created => time);
    $self->redis(ZADD => key('OTA_KEY_PACKAGES'), time, $id);
    $self->redis(ZADD => key('OTA_KEY_PRODUCT_PACKAGES', $o{product}), time, $id);
    $self->redis(HSET => key('OTA_KEY_PRODUCT_PKGVER', $o{product}),
                 "$m{module}:$m{version}", $id);
    return \%m;
}

# a batch of a package with one task per device, as the worker writes it:
# fx_batch(id => 'b1', package => $pkg (from fx_package), devices => [..],
#          state => 'running', type => 'upgrade',
#          tasks => { dev => { state => .., covered => .., from => .. } })
sub fx_batch {
    my ($self, %o) = @_;
    my $id = $o{id} // die "fx_batch: id\n";
    my $pkg = $o{package};
    my @devs = @{ $o{devices} // [] };
    my $now = int(time * 1000);
    my %counts = map { $_ => 0 } qw(pending notified downloading downloaded
                                    installing succeeded failed cancelled);
    my %fail;
    my $i = 1;                   # ranks start at 1, as the worker gives them
    for my $d (@devs) {
        my $t = { state => 'pending', covered => 0, from => '',
                  %{ $o{tasks}{$d} // {} } };
        $counts{ $t->{state} }++;
        $fail{ $t->{reason} }++ if $t->{reason};
        # tasks are stored by column; a column keeps its default (pending,
        # 0, none) until set
        my %col = (STATE => $t->{state} eq 'pending' ? undef : $t->{state},
                   COVERED => $t->{covered} || undef, STEP => $t->{step},
                   REASON => $t->{reason}, FROM => $t->{from} || undef);
        for my $c (sort keys %col) {
            $self->redis(HSET => key("OTA_KEY_BATCH_$c", $id), $d, $col{$c})
                if defined $col{$c} && $col{$c} ne '';
        }
        $self->redis(ZADD => key('OTA_KEY_BATCH_DEVICES', $id), $i++, $d);
        $self->redis(HSET => key('OTA_KEY_DEVICE_OPEN', $d), $pkg->{module}, $id)
            unless $t->{state} =~ /^(succeeded|failed|cancelled)$/;
    }
    $self->redis(HSET => key('OTA_KEY_BATCH', $id), id => $id,
                 name => $o{name} // "batch $id", type => $o{type} // 'upgrade',
                 package => $pkg->{id}, product => $pkg->{product},
                 module => $pkg->{module}, version => $pkg->{version}, size => $pkg->{size},
                 from_version => '', protocol => 'http', method => 'static',
                 push => 0, state => $o{state} // 'running', total => scalar @devs,
                 created => $o{created} // time, finished => '', cursor => '');
    $self->redis(HSET => key('OTA_KEY_BATCH_COUNTS', $id), %counts);
    $self->redis(HSET => key('OTA_KEY_BATCH_FAILURES', $id), %fail) if %fail;
    $self->redis(ZADD => key('OTA_KEY_BATCHES'), $o{created} // time, $id);
    return $id;
}

# one task as a hash of its fields (docs/redis-schema.md), put together
# from the batch's task columns and the batch record like every reader
# does; undef when the device is not in the batch
sub task {
    my ($self, $device, $batch) = @_;
    return undef unless defined $self->redis(ZSCORE =>
        key('OTA_KEY_BATCH_DEVICES', $batch), $device);
    my %b = %{ $self->redis_hash(key('OTA_KEY_BATCH', $batch)) };
    my %t = (device => $device, batch => $batch,
             map { $_ => $b{$_} } qw(package product module version size));
    my %dflt = (state => 'pending', covered => '0', from => '', step => '',
                reason => '', desc => '', created => $b{created});
    for my $c (qw(state covered from step reason desc created updated)) {
        my $v = $self->redis(HGET => key('OTA_KEY_BATCH_' . uc $c, $batch),
                             $device);
        $t{$c} = $v // $dflt{$c} // $t{created};
    }
    return \%t;
}

# waits until every nginx worker process holds its Redis connection (the
# workers connect after nginx listens: slow under ASAN); 1 when they do
sub wait_nginx_redis {
    my ($self, $secs) = @_;
    my $want = $self->{nginx_workers} // 2;
    return $self->wait_for(sub {
        my $list = $self->redis('CLIENT', 'LIST');
        my $n = () = $list =~ /name=ota-nginx-\d+/g;
        $n >= $want;
    }, $secs // 15) ? 1 : 0;
}

# POST auth as a device would; returns the token (undef on failure)
sub device_token {
    my ($self, $device, $product, $secret) = @_;
    $self->wait_nginx_redis;
    my $ts = int(time * 1000);
    my $r = $self->http(POST => '/ota/v1/auth', json => {
        product => $product, device => $device, timestamp => "$ts",
        sign => auth_sign($secret, $device, $product, $ts) });
    return $r->{status} == 200 ? $r->{json}{token} : undef;
}

# what an admin command may change, by content (a hash's fields sorted,
# so a rehash changes nothing): every key but those in skip, and the
# package store's listing
sub state_snapshot {
    my ($self, %o) = @_;
    my %skip = map { $_ => 1 } @{ $o{skip} // [] };
    # the admin API records every refusal in the audit stream (direct
    # otactl only those Redis saw): a record, not a change
    $skip{ key('OTA_STREAM_AUDIT') } = 1 if $ENV{OTA_OTACTL_API};
    # a running worker's liveness records (its heartbeat time moves by itself)
    $skip{ key('OTA_KEY_WORKERS') } = 1;
    $skip{ key('OTA_KEY_EVENTS_READER') } = 1;
    my @parts;
    for my $k (sort @{ $self->redis('KEYS', '*') // [] }) {
        next if $skip{$k};
        my $ty = $self->redis('TYPE', $k);
        my $v = $ty eq 'hash' ? join(',', sort @{ $self->redis('HGETALL', $k) })
              : $ty eq 'set'  ? join(',', sort @{ $self->redis('SMEMBERS', $k) })
              : $ty eq 'zset' ? join(',', @{ $self->redis('ZRANGE', $k, 0, -1) })
              : $ty eq 'string' ? $self->redis('GET', $k)
              : $ty eq 'stream' ? $self->stream_newest($k) : '';
        push @parts, "$k=$v";
    }
    my $st = $self->{store};
    return join("\n", @parts, sort glob("$st/* $st/*/* $st/.*"));
}

# otactl @args is refused: non-zero exit, one line on stderr matching
# $why, nothing on stdout, nothing changed (state_snapshot(%o))
sub otactl_refused {
    my ($self, $why, $name, $args, %o) = @_;
    my $before = $self->state_snapshot(%o);
    my ($rc, $out, $err) = $self->otactl(@$args);
    Test::More::isnt($rc, 0, "refused: $name");
    Test::More::like($err, $why, '  with the reason') or Test::More::diag($err);
    Test::More::is(scalar(() = $err =~ /\n/g), 1, '  on one line');
    Test::More::is($out, '', '  nothing on stdout');
    Test::More::is($self->state_snapshot(%o), $before, '  and nothing changed');
}

# a stream by its newest entry (id and fields): what a refusal must not add
# to.  Not its length: a running worker trims what its group has read
# (XTRIM MINID), so the length falls by itself between two snapshots
sub stream_newest {
    my ($self, $k) = @_;
    my $last = $self->redis(XREVRANGE => $k, '+', '-', 'COUNT', 1);
    return $last && @$last ? join(' ', $last->[0][0], @{ $last->[0][1] }) : '';
}

# every key of Redis with its DUMP, a stream by its newest entry: compare
# two snapshots to prove a request changed nothing
sub redis_snapshot {
    my ($self) = @_;
    my %snap;
    for my $k (@{ $self->redis(KEYS => '*') // [] }) {
        # a stream by its newest entry: what a refusal must not add to.
        # Its DUMP holds the consumer groups, whose consumers' seen-time
        # moves each time a running worker polls, and a running worker
        # trims what its group has read (XTRIM MINID keeps the newest)
        $snap{$k} = ($self->redis(TYPE => $k) // '') eq 'stream'
            ? 'stream ' . $self->stream_newest($k)
            : $self->redis(DUMP => $k);
    }
    return \%snap;
}

1;
