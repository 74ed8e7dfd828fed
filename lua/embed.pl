#!/usr/bin/perl
# lua/embed.pl: turns Redis Lua scripts (.lua files) into C at build time.
#
#   perl lua/embed.pl --out build/gen/worker_lua --lua-out build/lua/worker \
#       --enum OTA_LUA --table ota_lua_scripts --header-include ota_common.h \
#       --cc gcc -Iinclude --include ota_keys.h --include ota_fields.h \
#       --luac luac5.1 --pre lua/lib/prelude.lua --pre lua/lib/batch.lua \
#       lua/worker/*.lua
#
# Every script is sent to Redis as the --pre files followed by its own file,
# in that order (each part ends with a newline, so a comment on a part's
# last line never swallows the next part's first statement).
#
# Names from C: an identifier OTA_<NAME> in Lua code (not in a string or a
# comment) is the C macro of that name, from the headers given with
# --include, as the C preprocessor expands it (a string macro becomes a Lua
# string, an integer macro a number).  So the scripts use the key formats,
# field names, states and wire layouts of include/ota_keys.h,
# include/ota_fields.h and the programs' wire headers, and a name that is
# not a macro stops the build.
#
# Checks (any failure stops the build, with file:line of the .lua source):
#   - luac -p on each part alone (after the names are put in) and on each
#     whole script: syntax, and limits such as 200 locals per function;
#   - no global variable is written (Redis refuses it) and none is read
#     but the ones Redis's Lua provides (a misspelt local reads as one).
#
# Writes <out>.c (the sources as C strings with their lengths and SHA1s
# and, with --table, an ota_script_t table), <out>.h (with --enum: one
# enum value per script, from its file name: apply.lua -> <ENUM>_APPLY)
# and with --lua-out the whole text of each script as Redis runs it (for
# tests and reading).

use strict;
use warnings;
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use File::Temp qw(tempfile);
use Digest::SHA qw(sha1_hex);
use Getopt::Long qw(GetOptions);

my (@pre, @inc, @cpp, $out, $luaout, $enum, $table, $hinc);
my $cc   = 'cc';
my $luac = 'luac5.1';

Getopt::Long::Configure('no_ignore_case', 'pass_through');
GetOptions(
    'pre=s'            => \@pre,
    'include=s'        => \@inc,
    'out=s'            => \$out,
    'lua-out=s'        => \$luaout,
    'enum=s'           => \$enum,
    'table=s'          => \$table,
    'header-include=s' => \$hinc,
    'cc=s'             => \$cc,
    'luac=s'           => \$luac,
) or die "embed.pl: bad arguments\n";

my @scripts;
for (@ARGV) {
    if (/^-I/) { push @cpp, $_ } else { push @scripts, $_ }
}
die "embed.pl: --out and at least one script are needed\n"
    unless defined $out && @scripts;

# the globals of Redis's Lua (5.1 base library, the libraries Redis loads)
my %lua_globals = map { $_ => 1 } qw(
    redis ARGV KEYS cjson cmsgpack bit struct string math table
    tonumber tostring type pairs ipairs next select unpack pcall error
    assert rawget rawset rawequal setmetatable getmetatable loadstring
    xpcall _G
);

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or die "embed.pl: cannot read $f: $!\n";
    local $/;
    my $s = <$fh>;
    $s .= "\n" unless $s =~ /\n\z/;
    return $s;
}

# ---- a Lua lexer just good enough to tell code from strings and comments:
# calls $code->(text) for code, $other->(text) for the rest

sub lua_walk {
    my ($s, $code, $other) = @_;
    pos($s) = 0;
    while (pos($s) < length $s) {
        if ($s =~ /\G(--\[(=*)\[.*?\]\2\])/gcs            # long comment
            || $s =~ /\G(--[^\n]*)/gc                       # line comment
            || $s =~ /\G(\[(=*)\[.*?\]\2\])/gcs             # long string
            || $s =~ /\G("(?:[^"\\\n]|\\.)*")/gcs
            || $s =~ /\G('(?:[^'\\\n]|\\.)*')/gcs)
        {
            $other->($1);
        } elsif ($s =~ /\G([^-\[\"']+|.)/gcs) {
            $code->($1);
        }
    }
}

my %names;
my %src;
for my $f (@pre, @scripts) {
    $src{$f} = slurp($f);
    lua_walk($src{$f}, sub { $names{$_} = 1 for $_[0] =~ /\b(OTA_[A-Z0-9_]+)\b/g },
             sub { });
}

# ---- the macros' values, from the C preprocessor

my %value;
if (%names) {
    my ($fh, $tmp) = tempfile('embed-XXXXXX', SUFFIX => '.c', TMPDIR => 1,
                              UNLINK => 1);
    print $fh "#include \"$_\"\n" for @inc;
    print $fh "\@\@ \"$_\" $_\n" for sort keys %names;
    close $fh;
    my $cmd = join ' ', $cc, '-E', '-P', @cpp, $tmp;
    my @lines = `$cmd`;
    die "embed.pl: $cmd failed\n" if $?;
    for (@lines) {
        next unless /^\@\@\s*"(\w+)"\s*(.*?)\s*$/;
        my ($n, $v) = ($1, $2);
        if ($v eq $n) {
            next;                                   # not a macro
        } elsif ($v =~ /^(?:"(?:[^"\\]|\\.)*"\s*)+$/) {
            my $s = '';
            $s .= c_unescape($1) while $v =~ /"((?:[^"\\]|\\.)*)"/g;
            $value{$n} = lua_quote($s);
        } elsif ($v =~ /^\(?\s*(-?\d+)\s*\)?$/) {
            $value{$n} = $1 < 0 ? "($1)" : $1;
        } else {
            die "embed.pl: macro $n is neither a string nor an integer: $v\n";
        }
    }
}

sub c_unescape {
    my ($s) = @_;
    my %e = (n => "\n", t => "\t", r => "\r", '\\' => '\\', '"' => '"',
             "'" => "'", '0' => "\0");
    $s =~ s/\\([ntr\\"'0])/$e{$1}/g;
    die "embed.pl: unsupported escape in a C string: $s\n" if $s =~ /\\/;
    return $s;
}

sub lua_quote {
    my ($s) = @_;
    $s =~ s/([\\'])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/([\x00-\x1f])/sprintf('\\%d', ord $1)/ge;
    return "'$s'";
}

# ---- the parts with the names put in (same lines as the source)

my %part;
for my $f (@pre, @scripts) {
    my $t = '';
    lua_walk($src{$f}, sub {
        (my $c = $_[0]) =~ s/\b(OTA_[A-Z0-9_]+)\b/
            exists $value{$1} ? $value{$1}
            : die "embed.pl: $f:" . (($t =~ tr!\n!!) + 1) . ": $1 is not a "
                  . "macro of " . join(', ', @inc) . "\n"/ge;
        $t .= $c;
    }, sub { $t .= $_[0] });
    $part{$f} = $t;
}

# ---- checks

sub luac_list {
    my ($text, $where) = @_;
    my ($fh, $tmp) = tempfile('embed-XXXXXX', SUFFIX => '.lua', TMPDIR => 1,
                              UNLINK => 1);
    print $fh $text;
    close $fh;
    my @l = `$luac -p -l $tmp 2>&1`;
    if ($? == -1 || ($? >> 8) == 127) {
        die "embed.pl: $luac not found (make deps installs Debian's lua5.1)\n";
    }
    if ($?) {
        my $msg = join '', @l;
        $msg =~ s/^\S*luac\S*: //;
        $msg =~ s/\Q$tmp\E:(\d+):/$where->($1) . ':'/ge;
        die "embed.pl: $msg";
    }
    return @l;
}

my %script;
for my $s (@scripts) {
    my (@map, $text);
    $text = '';
    for my $f (@pre, $s) {
        luac_list($part{$f}, sub { "$f:$_[0]" });      # alone: exact lines
        my $n = () = $part{$f} =~ /\n/g;
        push @map, [$f, ($text =~ tr/\n//) + 1, $n];
        $text .= $part{$f};
    }
    my $where = sub {
        my ($line) = @_;
        for (@map) {
            my ($f, $first, $n) = @$_;
            return "$f:" . ($line - $first + 1)
                if $line >= $first && $line < $first + $n;
        }
        return "$s:?";
    };
    for (luac_list($text, $where)) {
        next unless /^\s*\d+\s+\[(\d+)\]\s+([SG]ETGLOBAL)\s.*;\s*(\S+)/;
        my ($line, $op, $name) = ($1, $2, $3);
        if ($op eq 'SETGLOBAL') {
            die "embed.pl: " . $where->($line) . ": assigns the global "
              . "\"$name\" (Redis refuses globals: declare it local)\n";
        }
        die "embed.pl: " . $where->($line) . ": \"$name\" is neither a local "
          . "nor a global of Redis's Lua (misspelt?)\n"
            unless $lua_globals{$name};
    }
    $script{$s} = $text;
}

# ---- output

sub cname {
    my ($f) = @_;
    (my $n = basename($f)) =~ s/\.lua$//;
    die "embed.pl: $f: a script's file name must be [a-z0-9_]+.lua\n"
        unless $n =~ /^[a-z0-9_]+$/;
    return $n;
}

sub c_string {
    my ($s) = @_;
    my $o = '';
    for my $line (split /(?<=\n)/, $s) {
        (my $l = $line) =~ s/([\\"])/\\$1/g;
        $l =~ s/\n/\\n/g;
        $l =~ s/\t/\\t/g;
        $l =~ s/\?\?/?\\?/g;                        # no trigraphs
        $o .= "    \"$l\"\n";
    }
    return $o;
}

my $base = basename($out);
my $guard = uc($base) . '_H';
$guard =~ s/\W/_/g;
my $from = join ' ', map { $_ } (@pre, @scripts);
my $note = "/* generated by lua/embed.pl from the .lua files below: do not edit.\n"
         . join('', map { " *   $_\n" } @pre, @scripts) . " */\n";

make_path(dirname($out));
open my $c, '>', "$out.c.tmp" or die "embed.pl: $out.c: $!\n";
print $c $note, "\n#include \"$base.h\"\n\n";
for my $s (@scripts) {
    my $n = cname($s);
    print $c "/* $s */\nconst char  ${base}_$n\[\] =\n", c_string($script{$s}),
             ";\n";
    # its length and SHA1 (EVALSHA), so no program computes them
    print $c "const size_t  ${base}_${n}_len = " . length($script{$s}) . ";\n";
    print $c "const char  ${base}_${n}_sha[] = \"" . sha1_hex($script{$s})
             . "\";\n\n";
}
if (defined $table) {
    my $count = defined $enum ? "${enum}_COUNT" : scalar @scripts;
    print $c "ota_script_t  $table\[$count\] = {\n";
    for my $s (@scripts) {
        my $n = cname($s);
        print $c "    { \"$n\", ${base}_$n, \"\" },\n";
    }
    print $c "};\n";
}
close $c;

open my $h, '>', "$out.h.tmp" or die "embed.pl: $out.h: $!\n";
print $h $note, "\n#ifndef $guard\n#define $guard\n\n";
print $h "#include \"$hinc\"\n\n" if defined $hinc;
if (defined $enum) {
    print $h "typedef enum {\n";
    print $h "    ${enum}_" . uc(cname($_)) . ",\n" for @scripts;
    print $h "    ${enum}_COUNT\n} " . lc($enum) . "_id_t;\n\n";
}
print $h "#include <stddef.h>\n\n";
for (@scripts) {
    my $n = cname($_);
    print $h "extern const char  ${base}_$n\[\];\n"
           . "extern const size_t  ${base}_${n}_len;\n"
           . "extern const char  ${base}_${n}_sha[41];\n";
}
if (defined $table) {
    my $count = defined $enum ? "${enum}_COUNT" : scalar @scripts;
    print $h "\nextern ota_script_t  $table\[$count\];\n";
}
print $h "\n#endif /* $guard */\n";
close $h;

if (defined $luaout) {
    make_path($luaout);
    for my $s (@scripts) {
        my $f = "$luaout/" . cname($s) . '.lua';
        open my $l, '>', $f or die "embed.pl: $f: $!\n";
        print $l $script{$s};
        close $l;
    }
}
rename "$out.c.tmp", "$out.c" or die "embed.pl: $!\n";
rename "$out.h.tmp", "$out.h" or die "embed.pl: $!\n";
