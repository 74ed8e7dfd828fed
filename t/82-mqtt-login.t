# Device logins through ota_mqtt_auth.so (docs/mqtt.md, "Login"): the
# Alibaba form with the device secret of the HTTP API is accepted; every
# other login is refused with CONNACK "not authorised" and one broker log
# line with the reason; the bridge's user logs in with its password.
# Redis away: logins that need it are refused (fail closed) at once,
# a device verified within the cache's lifetime still logs in, connected
# clients keep working; Redis back: logins work again.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaMqtt;
use Time::HiRes qw(time sleep);

my $t = OtaTest->new(no_nginx => 1);
my $m = OtaMqtt->new($t, no_bridge => 1,
                     broker_extra => "plugin_opt_auth_window 60\nplugin_opt_cache_ttl 30");

my ($prod, $dev) = ('lamp', 'lamp-01');
my $secret = $t->fx_device($dev, $prod);
$t->fx_device('other-01', 'kettle');

my $n = 0;
# a connection attempt: (accepted, the broker's log since)
sub try_login {
    my (%o) = @_;
    my $before = length $m->broker_log;
    my ($rc, $out, $err) = $m->pub($o{dev} // $dev, $o{prod} // $prod,
                                   $o{secret} // $secret, "/ota/device/inform/$prod/$dev",
                                   '{"params":{"version":"1.0.0"}}', %o);
    my $log = substr($m->broker_log, $before);
    diag("unexpected: $err") if $rc != 0 && $err !~ /not authori[sz]ed/i;
    return ($rc == 0, $log);
}

sub refused {
    my ($why, $reason, %o) = @_;
    my ($ok, $log) = try_login(%o);
    ok(!$ok, "refused: $why");
    like($log, qr/ota_mqtt_auth: refused client .*: \Q$reason\E/, "  logged: $reason");
}

my ($ok, $log) = try_login();
ok($ok, 'the Alibaba login with the device secret is accepted');

my $now = int(time * 1000);
($ok) = try_login(ts => $now - 50_000);
ok($ok, 'a timestamp 50 s old, inside plugin_opt_auth_window 60');
($ok) = try_login(ts => $now + 50_000);
ok($ok, 'and 50 s ahead');

my ($cid, $user, $pass) = $m->login($dev, $prod, $secret, ts => $now);
($ok) = try_login(ts => $now, password => uc $pass);
ok($ok, 'upper-case hex accepted');

refused('wrong secret', 'wrong password', secret => 'x' x 64);
refused('unknown device', 'unknown device', dev => 'ghost-01');
refused('a device of another product', 'the device belongs to another product',
        dev => 'other-01', prod => $prod);
refused('a product the device is not in', 'the device belongs to another product',
        prod => 'kettle');
refused('a timestamp 70 s old', 'timestamp outside the auth window', ts => $now - 70_000);
refused('a timestamp 70 s ahead', 'timestamp outside the auth window', ts => $now + 70_000);
refused('hmacsha1', 'signmethod must be hmacsha256',
        client_id => "$dev|securemode=2,signmethod=hmacsha1,timestamp=$now|", ts => $now);
refused('no timestamp', 'no timestamp',
        client_id => "$dev|securemode=2,signmethod=hmacsha256|");
refused('a plain client id', 'client id is not',
        client_id => $dev);
refused('a user name of another device', 'user name and client id name different devices',
        user => "other-01&$prod");
refused('a user name without product', 'user name is not <device>&<product>',
        user => $dev);
refused('no password', 'wrong password', password => 'nothex');
refused('anonymous', 'no user name', anonymous => 1);

# the bridge's user
($ok) = try_login(bridge_user => 1);
ok($ok, "the bridge's user with its password");
($ok, $log) = try_login(bridge_user => 1, bridge_password => 'wrong-password-0123456789');
ok(!$ok, "the bridge's user with another password: refused");
like($log, qr/wrong password of the bridge's user/, '  logged');

# ---- Redis away ---------------------------------------------------------------------

# a device connected now, and one that logged in a moment ago (cached)
my $s = $m->sub($dev, $prod, $secret, "/ota/device/upgrade/$prod/$dev");
is($m->sub_err($s), '', 'a device is connected');
my $fresh = 'lamp-02';
my $secret2 = $t->fx_device($fresh, $prod);

# a wrong password for it just before does not evict it from the cache
refused('a wrong password for a cached device', 'wrong password', secret => 'y' x 64);

$t->stop_redis;

my $t0 = time;
refused('a new device while Redis is away', 'Redis unreachable: new logins are refused',
        dev => $fresh, secret => $secret2);
ok(time - $t0 < 3, 'refused at once, the broker does not wait');
refused('a wrong password for a cached device while Redis is away', 'wrong password',
        secret => 'y' x 64);
($ok) = try_login();
ok($ok, 'a device verified within plugin_opt_cache_ttl logs in again from the cache');
like($m->broker_log, qr/Redis at .* is unreachable/, 'the outage is logged');

my $until = time + 1;
my $slow = 0;
while (time < $until) {
    my $a = time;
    try_login(dev => $fresh, secret => $secret2);
    $slow++ if time - $a > 1;
}
is($slow, 0, 'a login storm during the outage: each refused quickly');

my ($rc) = $m->pub(undef, undef, undef, "/ota/device/upgrade/$prod/$dev", '{"code":"200"}',
                   bridge_user => 1);
ok($m->wait_lines($s, 1), 'a connected device keeps working: it gets what is published to it');

$t->start_redis;
($ok) = try_login(dev => $fresh, secret => $secret2);
ok($t->wait_for(sub { (try_login(dev => $fresh, secret => $secret2))[0] }, 5),
   'Redis back: new logins accepted again');
like($m->broker_log, qr/Redis at .* answers again/, 'logged');

$m->stop;
$t->stop;
done_testing();
