package OtaTest;

# Download fixtures and helpers for the t/1x tests (issue 3), added to the
# OtaTest harness as methods:
#
#   use OtaTest; use OtaDownload;
#   my $pkg = $t->make_package('p1', files => [ 'fw.bin' => 1 << 20 ]);
#   $pkg->{files}[0]{data}, {sign}, {size}, {offset}; $pkg->{size}
#   my ($cov, $covn) = $t->coverage('dev1', 'p1');   # "0-10,20-30", bytes
#   my ($rc, $out, $err) = $t->client(curl => ...);   # no shell
#   $t->metric('ota_downloads_total'); $t->aria2c($pkg, 'dev1', 16, $dir)

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use File::Path qw(make_path);
use JSON::PP;

# Writes <store>/<id>/<files> and manifest.json (docs/redis-schema.md,
# "Package store") plus the ota:pkg:{id} hash; the content is random and
# reproducible per (id, file).
#   files => [ name => size | \"content", ... ], sign_method => md5|sha256,
#   product, module, version, no_redis => 1
sub make_package {
    my ($self, $id, %o) = @_;
    my $method = $o{sign_method} // 'sha256';
    my @spec = @{ $o{files} // [ 'fw.bin' => 4096 ] };
    my $dir = "$self->{store}/$id";
    make_path($dir);

    my ($offset, @files) = (0);
    while (@spec) {
        my ($name, $what) = splice(@spec, 0, 2);
        my $data;
        if (ref $what) {
            $data = $$what;
        } else {
            srand(length($id) * 7919 + length($name) * 104729 + $what);
            $data = join '', map { chr(int(rand(256))) } 1 .. ($what < 65536 ? $what : 65536);
            $data = substr($data x (int($what / 65536) + 1), 0, $what)
                if $what > 65536;
            # make every 64 KiB block distinct so misplaced ranges show
            if ($what > 65536) {
                for (my $b = 0; $b * 65536 < $what; $b++) {
                    substr($data, $b * 65536, 8) = pack('NN', $b, length $id);
                }
            }
        }
        write_file("$dir/$name", $data);
        my $sign = $method eq 'md5' ? md5_hex($data) : sha256_hex($data);
        push @files, { name => $name, size => length($data), sign => $sign,
                       offset => $offset, data => $data };
        $offset += length $data;
    }

    my $manifest = {
        id => $id, product => $o{product} // 'prod1',
        module => $o{module} // 'default', version => $o{version} // '1.0.0',
        type => 'full', from => '', sign_method => $method, size => $offset,
        files => [ map { { name => $_->{name}, size => $_->{size},
                           sign => $_->{sign}, offset => $_->{offset} } }
                   @files ],
    };
    write_file("$dir/.manifest.json.tmp", JSON::PP->new->canonical->encode($manifest));
    rename "$dir/.manifest.json.tmp", "$dir/manifest.json" or die "rename: $!\n";

    unless ($o{no_redis}) {
        $self->redis('HSET', "ota:pkg:{$id}", id => $id,
                     product => $manifest->{product},
                     module => $manifest->{module},
                     version => $manifest->{version}, type => 'full',
                     sign_method => $method, sign => $files[0]{sign},
                     size => $offset,
                     files => encode_json($manifest->{files}),
                     verify => 0, state => 'ready', created => time);
    }

    return { id => $id, size => $offset, files => \@files,
             sign_method => $method, %$manifest{qw(product module version)} };
}

# (sorted "start-end,..." of ota:cov, ota:covn) of a device and package
sub coverage {
    my ($self, $device, $pkg) = @_;
    my $m = $self->redis('ZRANGE', "ota:cov:{$device}:$pkg", 0, -1) // [];
    my $n = $self->redis('GET', "ota:covn:{$device}:$pkg");
    return (join(',', @$m), $n);
}

# download events of the stream, as hash refs, oldest first
sub download_events {
    my ($self, $device, $pkg) = @_;
    my $r = $self->redis('XRANGE', 'ota:events', '-', '+') // [];
    my @ev;
    for my $e (@$r) {
        my %f = @{ $e->[1] };
        next unless ($f{type} // '') eq 'download';
        next if defined $device && $f{device} ne $device;
        next if defined $pkg && $f{package} ne $pkg;
        push @ev, \%f;
    }
    return @ev;
}

# a bearer token for a device, as POST /ota/v1/auth would hand out
sub bearer_token {
    my ($self, $device, $product, $expires) = @_;
    require Digest::SHA;
    $expires = int($expires // time + 600);
    my $payload = "1~$expires~$product~$device";
    return "$payload~" . Digest::SHA::hmac_sha256_hex("ota-token\n$payload",
                                                      $self->{secret});
}

# a counter of the admin API's Prometheus metrics (-1 when absent)
sub metric {
    my ($self, $name) = @_;
    my $r = $self->http(GET => '/ota/admin/metrics',
                        headers => { Authorization => "Bearer $OtaTest::ADMIN_TOKEN" });
    return ($r->{content} // '') =~ /^\Q$name\E (\d+)/m ? $1 : -1;
}

# aria2c with $conns parallel segments into $dir/fw.bin, the digest checked
# by aria2c itself; (exit code, stdout, stderr)
sub aria2c {
    my ($self, $pkg, $device, $conns, $dir) = @_;
    mkdir $dir;
    return $self->client(90, 'aria2c', '-q', "-x$conns", "-s$conns", '-k1M',
                         '--allow-overwrite=true', '--auto-file-renaming=false',
                         '--checksum=sha-256=' . $pkg->{files}[0]{sign},
                         '-d', $dir, '-o', 'fw.bin',
                         $self->base . $self->signed_link($pkg->{id}, $device));
}

# runs a command with a time limit (seconds); (exit code, stdout, stderr)
sub client {
    my ($self, $secs, @cmd) = @_;
    return $self->run_cmd({}, 'timeout', '-k', '2', $secs, @cmd);
}

1;
