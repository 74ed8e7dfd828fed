#!/usr/bin/perl
# Compares BENCH_PERF profiles (bench/fleet.pl) per shared object and
# symbol, in µs of CPU per session: a sample is 1/FREQ s of the process's
# CPU (perf record -F), so µs per session = samples * 1e6 / FREQ / sessions.
#
#   perl bench/perf-dso.pl [--freq 2999] [--sessions 12000] [--proc nginx]
#        [--top 25] [--mode full --over bare] DIR [DIR2]
#
# For each DIR: self time per shared object of <mode>-<proc>.data and of
# <over>-<proc>.data and their difference (user space apart from the
# kernel).  With DIR2 too: the same for both and, per symbol of user space,
# (mode - over) in DIR and in DIR2, the largest changes first.

use strict;
use warnings;
use Getopt::Long;

my ($freq, $sessions, $proc, $top, $mode, $over) = (2999, 12000, 'nginx', 25,
                                                     'full', 'bare');
GetOptions('freq=f' => \$freq, 'sessions=i' => \$sessions, 'proc=s' => \$proc,
           'top=i' => \$top, 'mode=s' => \$mode, 'over=s' => \$over)
    or die "usage: $0 [--freq F] [--sessions N] [--proc P] [--top N] "
         . "[--mode M --over O] DIR [DIR2]\n";
my @dirs = @ARGV or die "a BENCH_PERF directory, please\n";

my $us = 1e6 / $freq / $sessions;

# { "dso\tsym" => samples }, from perf report's self (no children) counts
sub profile {
    my ($file) = @_;
    -f $file or die "$file: not there\n";
    open my $fh, '-|', 'perf', 'report', '--no-children', '--sort', 'dso,sym', '-n',
        '--stdio', '-g', 'none', '-i', $file
        or die "perf report: $!\n";
    my %p;
    while (<$fh>) {
        next if /^#/ || !/\S/;
        # "  12.34%  1234  libc.so.6  [.] malloc"
        next unless /^\s*[\d.]+%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.*?)\s*$/;
        $p{"$2\t$3\t$4"} += $1;
    }
    close $fh;
    return \%p;
}

sub by_dso {
    my ($p) = @_;
    my %d;
    for my $k (keys %$p) {
        my ($dso, $where) = split /\t/, $k;
        my $name = $where eq 'k' ? '[kernel]' : $dso;
        $d{$name} += $p->{$k};
        $d{'= user space'} += $p->{$k} if $where ne 'k';
        $d{'= all'} += $p->{$k};
    }
    return \%d;
}

my (@prof, @dso);
for my $dir (@dirs) {
    my $a = profile("$dir/$mode-$proc.data");
    my $b = profile("$dir/$over-$proc.data");
    push @prof, [$a, $b];
    push @dso, [by_dso($a), by_dso($b)];
}

# per shared object
my %names;
$names{$_} = 1 for map { (keys %{ $_->[0] }, keys %{ $_->[1] }) } @dso;
printf "# %s, µs per session (%d sessions, %g Hz): %s, %s, %s - %s%s\n", $proc, $sessions,
       $freq, $mode, $over, $mode, $over, @dirs > 1 ? ", for each of: @dirs" : " ($dirs[0])";
printf "%-28s" . (" %8s %8s %8s" x @dirs) . "\n", 'shared object',
       map { ($mode, $over, 'over') } @dirs;
for my $n (sort { ($dso[0][0]{$b} // 0) <=> ($dso[0][0]{$a} // 0) } keys %names) {
    my @v = map { my ($x, $y) = (($_->[0]{$n} // 0) * $us, ($_->[1]{$n} // 0) * $us);
                  ($x, $y, $x - $y) } @dso;
    next unless grep { abs($_) >= 0.05 } @v;
    printf "%-28s" . (" %8.2f %8.2f %8.2f" x @dirs) . "\n", substr($n, 0, 28), @v;
}

exit 0 if @dirs < 2;

# per user-space symbol: (mode - over) in each, the largest changes first
my %syms;
for my $pp (@prof) {
    for my $k (keys %{ $pp->[0] }, keys %{ $pp->[1] }) {
        $syms{$k} = 1 unless (split /\t/, $k)[1] eq 'k';
    }
}
my @rows;
for my $k (keys %syms) {
    my @o = map { (($_->[0]{$k} // 0) - ($_->[1]{$k} // 0)) * $us } @prof;
    push @rows, [$k, @o];
}
printf "\n# user-space symbols, %s - %s µs per session: %s, %s, change (largest first)\n",
       $mode, $over, @dirs[0, 1];
for my $r ((sort { abs($b->[2] - $b->[1]) <=> abs($a->[2] - $a->[1]) } @rows)[0 .. $top - 1]) {
    next unless $r;
    my ($dso, undef, $sym) = split /\t/, $r->[0];
    printf "%8.2f %8.2f %+8.2f  %s %s\n", $r->[1], $r->[2], $r->[2] - $r->[1],
           substr($dso, 0, 24), substr($sym, 0, 60);
}
printf "\n# the top user-space symbols of %s - %s in %s\n", $mode, $over, $dirs[1];
for my $r ((sort { $b->[2] <=> $a->[2] } @rows)[0 .. $top - 1]) {
    next unless $r;
    my ($dso, undef, $sym) = split /\t/, $r->[0];
    printf "%8.2f %8.2f  %s %s\n", $r->[1], $r->[2], substr($dso, 0, 24), substr($sym, 0, 60);
}
