# The whole-package write on a Redis without SET ... GET (before 6.2): the
# module's flush that makes a package whole writes MULTI DEL ZADD SET..GET
# EXEC; such a Redis runs the DEL and the ZADD and refuses the SET at EXEC.
# The fallback must still count exactly: the set says 0-<size>, the count
# says <size>, the download event carries the bytes once.
# OTA_TEST_NO_SET_GET=1 (nginx "env") makes the module send the SET with
# an option this Redis refuses the same way (ngx_ota_progress.c).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use OtaTest;
use OtaDownload;

my $t = OtaTest->new(nginx_workers => 1,
                     main_extra => 'env OTA_TEST_NO_SET_GET=1;');
my $size = 300_000;
my $pkg = $t->make_package('wf', files => [ 'fw.bin' => $size ]);
my $data = $pkg->{files}[0]{data};

sub cov_is {
    my ($dev, $want, $n, $what) = @_;
    my ($got, $gn) = ('', undef);
    $t->wait_for(sub { ($got, $gn) = $t->coverage($dev, 'wf');
                       $got eq $want && ($gn // -1) == $n }, 5);
    is($got, $want, "$what: ranges $want");
    is($gn, $n, "$what: covered $n");
}

sub last_event {
    my ($dev, $n) = @_;
    my @ev;
    $t->wait_for(sub { @ev = $t->download_events($dev, 'wf');
                       @ev && $ev[-1]{covered} == $n }, 5);
    return @ev;
}

# 1. the first whole write of the process meets the refusal
my $u = $t->signed_link('wf', 'w1');
my $r = $t->http(GET => $u);
is($r->{status}, 200, 'whole download');
ok($r->{content} eq $data, 'every byte');
cov_is('w1', "0-$size", $size, 'whole at once through the fallback');
my @ev = last_event('w1', $size);
is(scalar(grep { $_->{covered} == $size } @ev), 1, 'one event at the size');
like($t->error_log, qr/SET \.\.\. GET refused.*GETSET/,
     'the refusal is logged once, with what is used instead');

# 2. a piece first (the script), then the rest makes it whole (GETSET now):
# the bytes already counted are not counted again
$u = $t->signed_link('wf', 'w2');
$r = $t->http(GET => $u, headers => { Range => 'bytes=0-99999' });
is($r->{status}, 206, 'a first piece');
cov_is('w2', '0-100000', 100_000, 'the first piece');
$r = $t->http(GET => $u, headers => { Range => 'bytes=100000-' });
is($r->{status}, 206, 'the rest');
ok($r->{content} eq substr($data, 100_000), 'its bytes');
cov_is('w2', "0-$size", $size, 'whole after the rest');
@ev = last_event('w2', $size);
is_deeply([ map { $_->{covered} } @ev ], [ 100_000, $size ],
          'events: the piece, then the size (nothing counted twice)');

# 3. the same pieces again: nothing new, no event
my $n = @ev;
$t->http(GET => $u);
sleep 1.5;
cov_is('w2', "0-$size", $size, 'a re-sent package');
is(scalar($t->download_events('w2', 'wf')), $n, 'and no new event');

# 4. a fresh nginx meets the refusal on a device with bytes counted before
$t->stop_nginx;
$t->start_nginx;
$u = $t->signed_link('wf', 'w3');
$t->http(GET => $u, headers => { Range => 'bytes=200000-' });
cov_is('w3', "200000-$size", 100_000, 'a tail piece');
$t->stop_nginx;
$t->start_nginx;
$r = $t->http(GET => $u);
ok($r->{status} == 200 && $r->{content} eq $data, 'the whole file after a restart');
cov_is('w3', "0-$size", $size, 'whole, the refusal met with 100000 counted');
@ev = last_event('w3', $size);
is_deeply([ map { $_->{covered} } @ev ], [ 100_000, $size ],
          'events: the tail, then the size');
my @refused = $t->error_log =~ /SET \.\.\. GET refused/g;
is(scalar(@refused), 2,
   'met once by each process that wrote a whole package (the first and the last)');

done_testing;
