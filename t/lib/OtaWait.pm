package OtaWait;

# Many upgrade requests held open at once (GET upgrade?wait=), as a fleet
# of devices long-polling one node would hold them: raw non-blocking
# sockets in one process, so thousands cost no fork each.
#
#   my $w = OtaWait->new($t->port);
#   $w->add($device, $token, '?wait=30');     # sends the request
#   $w->pump(5, sub { $w->answered >= 10 });  # reads until true or 5 s
#   $w->status($device)                       # 200, 204, ... or undef
#   $w->close($device)                        # the device goes away

use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP qw(decode_json);

# a bearer token as POST auth makes it (docs/architecture.md, "Token format")
sub token {
    my ($secret, $device, $product, $expires) = @_;
    my $body = "1~$expires~$product~$device";
    return "$body~" . hmac_sha256_hex("ota-token\n$body", $secret);
}

sub new {
    my ($class, $port) = @_;
    return bless { port => $port, c => {}, sel => IO::Select->new }, $class;
}

sub add {
    my ($self, $dev, $token, $query, $module) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp')
        or die "connect: $!\n";
    $s->blocking(0);
    my $q = $query // '';
    print $s "GET /ota/v1/upgrade$q HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: Bearer $token\r\nConnection: close\r\n\r\n";
    $self->{c}{$dev} = { s => $s, buf => '', sent => time };
    $self->{sel}->add($s);
    $self->{fd}{fileno $s} = $dev;
    return $s;
}

# reads what has come, until $done->() is true or $secs passed; returns
# $done's last value
sub pump {
    my ($self, $secs, $done) = @_;
    my $until = time + $secs;
    while (1) {
        my $ok = $done ? $done->() : 0;
        return $ok if $ok || time >= $until || !$self->{sel}->count;
        for my $s ($self->{sel}->can_read(0.05)) {
            my $dev = $self->{fd}{fileno $s};
            my $c = $self->{c}{$dev};
            my $n;
            # the answer and the close usually come together: both now
            while (($n = sysread($s, my $buf, 65536))) {
                $c->{buf} .= $buf;
            }
            next if !defined $n && $!{EAGAIN};
            $self->_done($dev);
        }
    }
}

# the socket of $dev closed and forgotten; its record
sub _forget {
    my ($self, $dev) = @_;
    my $c = $self->{c}{$dev};
    $self->{sel}->remove($c->{s});
    delete $self->{fd}{fileno $c->{s}};
    close $c->{s};
    $c->{closed} = 1;
    return $c;
}

sub _done {
    my ($self, $dev) = @_;
    my $c = $self->_forget($dev);
    $c->{at} = time;
    if ($c->{buf} =~ m{^HTTP/1\.1 (\d+)}) {
        $c->{status} = $1;
        my ($h, $b) = split /\r\n\r\n/, $c->{buf}, 2;
        $c->{headers} = $h;
        $c->{json} = eval { decode_json($b) } if length($b // '');
    }
}

sub status  { $_[0]{c}{$_[1]} && $_[0]{c}{$_[1]}{status} }
sub json    { $_[0]{c}{$_[1]} && $_[0]{c}{$_[1]}{json} }
sub headers { $_[0]{c}{$_[1]} && $_[0]{c}{$_[1]}{headers} }
# seconds from the request sent to its answer
sub took    { my $c = $_[0]{c}{$_[1]}; $c->{at} && $c->{at} - $c->{sent} }
sub at      { $_[0]{c}{$_[1]}{at} }
sub devices { sort keys %{ $_[0]{c} } }
sub answered { scalar grep { $_->{closed} && !$_->{dropped} } values %{ $_[0]{c} } }
sub open_count { $_[0]{sel}->count }

# the device goes away before its answer
sub close {
    my ($self, $dev) = @_;
    $self->_forget($dev)->{dropped} = 1;
}

# devices answered with status
sub with_status {
    my ($self, $status) = @_;
    my @l = sort grep { ($self->{c}{$_}{status} // '') eq $status }
        keys %{ $self->{c} };
    return wantarray ? @l : scalar @l;
}

1;
