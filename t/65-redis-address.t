# The one Redis address syntax (include/ota_addr.h) in ota-worker and
# otactl: `sentinel=IP:PORT,... master=NAME` (nginx's form) reaches the
# master through a real sentinel, `IP:PORT db=N` selects the database, the
# earlier `sentinel=IP:PORT/NAME` still works for one release and says what
# to write instead, and a malformed address is refused with the reason.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaCluster;

my $t = OtaTest->new(no_nginx => 1);
my $primary = $t->{redis_port};
my $sentinel = OtaCluster::sentinel($t, master_port => $primary, name => 'otam');
my $sent = "127.0.0.1:$sentinel->{port}";
my $new = "sentinel=$sent master=otam";
my $old = "sentinel=$sent/otam";
my $otactl = "$OtaTest::BUILD/otactl";

sub otactl_at {
    my ($addr, @args) = @_;
    return $t->run_cmd({ OTA_REDIS => $addr, OTA_STORE => $t->store }, $otactl, @args);
}

# otactl, the new form: through the sentinel, no warning
my ($rc, $out, $err) = otactl_at($new, qw(device add ad-1 --product ad));
is($rc, 0, "otactl reaches Redis through \"$new\"") or diag($err);
is($err, '', '  and warns of nothing');
ok(OtaCluster::cmd($primary, 'HGET', OtaTest::key('OTA_KEY_DEVICE', 'ad-1'), 'product'),
   '  the device is in the master the sentinel names');

# the old form: still read, with a warning naming the new form
($rc, $out, $err) = otactl_at($old, qw(device show ad-1));
is($rc, 0, "otactl still reads \"$old\"") or diag($err);
like($err, qr/warning: .*\Q$old\E.*next release.*write "\Q$new\E"/,
     '  and warns with the form to write');

# the worker: the new form, and the old one with its warning
$t->start_worker('--redis', $new, '--consumer', 'addr-new');
$t->start_worker('--redis', $old, '--consumer', 'addr-old');
ok($t->wait_for(sub {
    my $w = OtaCluster::cmd($primary, 'HGETALL', 'ota:workers') // [];
    my %h = @$w;
    $h{'addr-new'} && $h{'addr-old'};
}, 15), 'both workers reach the master through the sentinel');
unlike($t->worker_log(0), qr/warn/i, 'the new form: no warning');
like($t->worker_log(1), qr/\Q$old\E.*next release.*write "\Q$new\E"/,
     'the old form: a warning with the form to write');

# db= selects the database
($rc, undef, $err) = otactl_at("127.0.0.1:$primary db=3", qw(device add ad-2 --product ad));
is($rc, 0, 'otactl with "IP:PORT db=3"') or diag($err);
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$primary", Timeout => 2);
print {$s} "*2\r\n\$6\r\nSELECT\r\n\$1\r\n3\r\n*2\r\n\$6\r\nEXISTS\r\n\$"
    . length(OtaTest::key('OTA_KEY_DEVICE', 'ad-2')) . "\r\n"
    . OtaTest::key('OTA_KEY_DEVICE', 'ad-2') . "\r\n";
OtaTest::_resp_read($s);
is(OtaTest::_resp_read($s), 1, '  the device is in db 3');
ok(!OtaCluster::cmd($primary, 'EXISTS', OtaTest::key('OTA_KEY_DEVICE', 'ad-2')),
   '  and not in db 0');

# malformed addresses: refused, with the reason, by both programs
for my $bad ("127.0.0.1:$primary master=otam", "sentinel=$sent",
             "127.0.0.1:$primary timeout=2s", '::1:6379',
             "127.0.0.1:$primary 127.0.0.1:$primary") {
    ($rc, undef, $err) = otactl_at($bad, qw(device list));
    isnt($rc, 0, "otactl refuses \"$bad\"");
    like($err, qr/otactl: .*(sentinel|master|unknown word|address)/, "  and says why: $err");
    ($rc, undef, $err) = $t->run_cmd({}, "$OtaTest::BUILD/ota-worker", '--redis', $bad);
    is($rc, 2, '  so does ota-worker, exit 2');
    like($err, qr/ota-worker: .*(sentinel|master|unknown word|address)/, "  with the reason");
}

$t->stop;
OtaCluster::stop($sentinel);
done_testing();
