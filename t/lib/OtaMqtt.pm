package OtaMqtt;

# The MQTT side of the test harness, beside an OtaTest one: Debian's
# mosquitto with build/ota_mqtt_auth.so on a free loopback port, and
# ota-mqtt bridges, in the OtaTest temp directory; real mosquitto_pub /
# mosquitto_sub as devices.
#
#   my $t = OtaTest->new(worker => 1);
#   my $m = OtaMqtt->new($t);                 # broker + one bridge
#   my ($rc, $out, $err) = $m->pub($dev, $prod, $secret, $topic, $json);
#   my $s = $m->sub($dev, $prod, $secret, $topic);   # in the background
#   $m->wait_lines($s, 1); my @msgs = $m->lines($s);
#   $m->stop;          # checks that no bridge and no broker crashed
#
# Passwords are computed as a device computes them (docs/mqtt.md).

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use File::Path qw(make_path);
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

use OtaTest;

our $BRIDGE_USER     = 'ota-bridge';
our $BRIDGE_PASSWORD = 'test-bridge-password-0123456789';

my @live;

sub new {
    my ($class, $t, %o) = @_;
    my $self = bless { t => $t, %o, bridges => [], subs => [], n => 0 },
               $class;
    $self->{dir} = $t->dir . '/mqtt';
    make_path($self->{dir});
    $self->{port} = OtaTest::free_port();
    push @live, $self;
    $self->start_broker unless $o{no_broker};
    $self->start_bridge unless $o{no_broker} || $o{no_bridge};
    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }

# ---- the broker --------------------------------------------------------------

sub broker_conf {
    my ($self) = @_;
    my $t = $self->{t};
    my $user = $> == 0 ? 'user root' : '';
    my $extra = $self->{broker_extra} // '';
    return <<"CONF";
per_listener_settings false
listener $self->{port} 127.0.0.1
$user
persistence true
persistence_location $self->{dir}/
log_dest file $self->{dir}/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
log_timestamp true
max_queued_messages 100000
plugin $OtaTest::BUILD/ota_mqtt_auth.so
plugin_opt_redis @{[ $self->{redis} // $t->redis_addr ]}
plugin_opt_bridge_user $BRIDGE_USER
plugin_opt_bridge_password $BRIDGE_PASSWORD
plugin_opt_redis_timeout 100
plugin_opt_redis_retry 200
$extra
CONF
}

sub start_broker {
    my ($self) = @_;
    OtaTest::write_file("$self->{dir}/mosquitto.conf", $self->broker_conf);
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        if ($ENV{OTA_ASAN}) {          # the plugin is built with ASan
            $ENV{LD_PRELOAD} = OtaTest::_libasan();
            $ENV{ASAN_OPTIONS} = 'log_path=' . $self->{t}->asan_dir
                . '/mosquitto:detect_leaks=0';
        }
        open STDOUT, '>>', "$self->{dir}/mosquitto.out";
        open STDERR, '>&', \*STDOUT;
        exec 'mosquitto', '-c', "$self->{dir}/mosquitto.conf" or exit 127;
    }
    $self->{broker_pid} = $pid;
    OtaTest::wait_port($self->{port})
        or die "mosquitto does not listen on $self->{port}:\n"
               . $self->broker_log;
}

sub stop_broker {
    my ($self, %o) = @_;
    my $pid = delete $self->{broker_pid} or return;
    kill $o{signal} // 'TERM', $pid;
    my $until = time + 10;
    my $st;
    while (time < $until) {
        if (waitpid($pid, WNOHANG) == $pid) { $st = $?; last }
        sleep 0.05;
    }
    unless (defined $st) { kill 'KILL', $pid; waitpid($pid, 0); $st = $? }
    $self->{broker_status} = $st;
    return $st;
}

sub broker_log {
    my ($self) = @_;
    return OtaTest::read_file("$self->{dir}/mosquitto.log")
         . OtaTest::read_file("$self->{dir}/mosquitto.out");
}

# ---- bridges -------------------------------------------------------------------

sub bridge_args {
    my ($self, %o) = @_;
    my $t = $self->{t};
    return ('--redis', $o{redis} // $t->redis_addr,
            '--mqtt', "127.0.0.1:$self->{port}",
            '--mqtt-user', $BRIDGE_USER, '--mqtt-password', $BRIDGE_PASSWORD,
            '--token-secret', $t->{secret},
            '--public-url', $o{public_url}
                // ($t->{port} ? $t->base : 'http://127.0.0.1:8080'),
            '--claim-idle', $o{claim_idle} // 2000,
            '--log-level', 'debug', @{ $o{args} // [] });
}

# starts a bridge (consumer "b<n>" unless given) and waits until it is
# subscribed; returns its record
sub start_bridge {
    my ($self, %o) = @_;
    my $n = @{ $self->{bridges} } + 1;
    my $name = $o{consumer} // "b$n";
    my $log = "$self->{dir}/bridge-$name.log";
    my $start = -s $log // 0;
    my @cmd = ("$OtaTest::BUILD/ota-mqtt", $self->bridge_args(%o),
               '--consumer', $name);
    my $vg;
    if ($ENV{OTA_VALGRIND}) {           # make valgrind: memcheck the bridge
        $vg = "$self->{dir}/valgrind-$name-" . ++$self->{n} . '.log';
        unshift @cmd, 'valgrind', '--quiet', '--error-exitcode=99',
            '--leak-check=full', '--show-leak-kinds=definite',
            '--errors-for-leak-kinds=definite', "--log-file=$vg";
    }
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $ENV{ASAN_OPTIONS} = 'log_path=' . $self->{t}->asan_dir . '/bridge:'
            . 'detect_leaks=1' if $ENV{OTA_ASAN};
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or exit 127;
    }
    my $b = { pid => $pid, log => $log, name => $name, valgrind => $vg };
    push @{ $self->{bridges} }, $b;
    unless ($o{nowait}) {
        $self->{t}->wait_for(sub {
            substr(OtaTest::read_file($log), $start) =~ /subscribed to/
        }, 10) or die "ota-mqtt $name did not subscribe:\n"
                      . OtaTest::read_file($log);
    }
    return $b;
}

sub stop_bridge {
    my ($self, %o) = @_;
    my $b = $o{bridge} // $self->{bridges}[-1] // return;
    return $b->{status} if defined $b->{status};
    kill $o{signal} // 'TERM', $b->{pid};
    my $until = time + 10;
    while (time < $until) {
        if (waitpid($b->{pid}, WNOHANG) == $b->{pid}) { $b->{status} = $?; last }
        sleep 0.05;
    }
    unless (defined $b->{status}) {
        kill 'KILL', $b->{pid};
        waitpid($b->{pid}, 0);
        $b->{status} = $?;
    }
    $b->{expect_kill} = 1 if ($o{signal} // '') eq 'KILL';
    return $b->{status};
}

sub bridge_log {
    my ($self, $b) = @_;
    $b //= $self->{bridges}[-1];
    return $b ? OtaTest::read_file($b->{log}) : '';
}

# ---- devices (docs/mqtt.md, "Login") -----------------------------------------

# (client id, user name, password) of a device login
sub login {
    my ($self, $dev, $prod, $secret, %o) = @_;
    my $ts = $o{ts} // int(time * 1000);
    my $cid = $o{client_id}
        // "$dev|securemode=2,signmethod=hmacsha256,timestamp=$ts|";
    my $user = $o{user} // "$dev&$prod";
    my $pass = $o{password} // hmac_sha256_hex(
        "clientId${dev}deviceName${dev}productKey${prod}timestamp$ts",
        $secret);
    return ($cid, $user, $pass);
}

sub _client_args {
    my ($self, $dev, $prod, $secret, %o) = @_;
    my @a = ('-h', '127.0.0.1', '-p', $self->{port});
    if ($o{bridge_user}) {
        push @a, '-i', $o{client_id} // 'test-observer-' . ++$self->{n},
                 '-u', $BRIDGE_USER, '-P', $o{bridge_password} // $BRIDGE_PASSWORD;
    } elsif (!$o{anonymous}) {
        my ($cid, $user, $pass) = $self->login($dev, $prod, $secret, %o);
        push @a, '-i', $cid, '-u', $user, '-P', $pass;
    } else {
        push @a, '-i', 'anon-' . ++$self->{n};
    }
    push @a, '-V', $o{protocol} if $o{protocol};
    return @a;
}

# mosquitto_pub of one message (QoS 1); returns (exit code, out, err)
sub pub {
    my ($self, $dev, $prod, $secret, $topic, $msg, %o) = @_;
    return $self->{t}->run_cmd({}, 'mosquitto_pub',
        $self->_client_args($dev, $prod, $secret, %o),
        '-q', $o{qos} // 1, '-t', $topic, ($o{retain} ? ('-r') : ()),
        defined $msg ? ('-m', $msg) : ('-n'));
}

# mosquitto_sub in the background, "-v": one "topic payload" line per
# message in a file; waits until the broker logged its subscription
sub sub {
    my ($self, $dev, $prod, $secret, $topic, %o) = @_;
    my $n = ++$self->{n};
    my $out = "$self->{dir}/sub$n.out";
    my @args = $self->_client_args($dev, $prod, $secret, %o);
    my ($cid) = $args[5];
    my @topics = ref $topic ? @$topic : ($topic);
    my $logstart = length $self->broker_log;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', "$out.err";
        exec 'mosquitto_sub', @args, '-q', 1, '-v',
             ($o{persistent} ? ('-c') : ()),
             map({ ('-t', $_) } @topics) or exit 127;
    }
    my $s = { pid => $pid, out => $out, cid => $cid };
    push @{ $self->{subs} }, $s;
    unless ($o{nowait}) {
        $self->{t}->wait_for(sub {
            my $l = substr($self->broker_log, $logstart);
            my $k = () = $l =~ /\Q$cid\E \d+ \Q$topics[-1]\E/g;
            $k > 0 || OtaTest::read_file("$out.err") =~ /\S/;
        }, 10);
    }
    return $s;
}

# the messages a sub received: [topic, decoded JSON (undef if not), raw]
sub lines {
    my ($self, $s) = @_;
    my @r;
    for my $l (split /\n/, OtaTest::read_file($s->{out})) {
        my ($topic, $payload) = split / /, $l, 2;
        $payload //= '';
        push @r, [ $topic, eval { decode_json($payload) }, $payload ];
    }
    return @r;
}

sub wait_lines {
    my ($self, $s, $n, $secs) = @_;
    return $self->{t}->wait_for(sub { scalar($self->lines($s)) >= $n },
                                $secs // 10);
}

sub sub_err { OtaTest::read_file("$_[1]{out}.err") }

sub stop_sub {
    my ($self, $s) = @_;
    return if $s->{done}++;
    kill 'TERM', $s->{pid};
    waitpid($s->{pid}, 0);
}

# the bridges' counters in Redis
sub dropped { $_[0]{t}->redis_hash(OtaTest::key('OTA_KEY_MQTT_DROPPED')) }
sub handled { $_[0]{t}->redis_hash(OtaTest::key('OTA_KEY_MQTT_HANDLED')) }

# ---- teardown -------------------------------------------------------------------

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++;
    $self->stop_sub($_) for @{ $self->{subs} };
    for my $b (@{ $self->{bridges} }) {
        my $st = $self->stop_bridge(bridge => $b);
        my $sig = $st & 127;
        ok(!$sig || $b->{expect_kill}, "ota-mqtt $b->{name} did not crash")
            or diag("signal $sig; log:\n" . OtaTest::read_file($b->{log}));
        if ($b->{valgrind} && !$b->{expect_kill}) {
            my $vl = OtaTest::read_file($b->{valgrind});
            ok($vl !~ /\S/ && ($st >> 8) != 99, "valgrind: ota-mqtt $b->{name} clean")
                or diag(substr($vl, 0, 4000));
        }
    }
    if ($self->{broker_pid}) {
        my $st = $self->stop_broker;
        ok(!($st & 127), 'mosquitto did not crash')
            or diag($self->broker_log);
    }
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    return if $self->{stopped};
    $self->{stopped} = 1;
    for my $s (@{ $self->{subs} }) { kill 'KILL', $s->{pid} unless $s->{done} }
    for my $b (@{ $self->{bridges} }) {
        kill 'KILL', $b->{pid} unless defined $b->{status};
    }
    kill 'KILL', $self->{broker_pid} if $self->{broker_pid};
}

END {
    local $?;
    for my $m (@live) { $m->DESTROY if $m && !$m->{stopped} }
}

1;
