package DDBCache::TestEnv::Config;

# The daemon's configuration in a test: the default namespace, a test's
# overrides deep-merged in, the tables it needs, and the YAML file the
# daemon reads. Apart from DDBCache::TestEnv because building and writing a
# configuration is plain data work, with no process or server involved.

use strict;
use warnings;

use Exporter qw(import);
use JSON::PP;

our $VERSION   = '0.01';
our @EXPORT_OK = qw(default_namespaces daemon_config merge_config tables_of to_yaml);

sub default_namespaces {
    return {
        profile => {
            table         => 'users',
            partition_key => 'user_id',
            redis_key     => 'user_profile:{user_id}',
            ttl           => '1h',
            ttl_jitter    => '10%',
            negative_ttl  => '30s',
        },
    };
}

sub daemon_config {
    my (%args) = @_;
    my $namespaces = default_namespaces();
    for my $name (sort keys %{ $args{namespaces} || {} }) {
        my $ns = $args{namespaces}{$name};
        if (defined $ns) { $namespaces->{$name} = $ns } else { delete $namespaces->{$name} }
    }
    return merge_config({
        redis      => { addrs => $args{redis_addrs} // ["127.0.0.1:$args{redis_port}"] },
        dynamodb   => { region => 'us-east-1', endpoint => $args{dynamo_endpoint} },
        listen     => { unix => $args{socket_path} },
        namespaces => $namespaces,
    }, $args{config} || {});
}

sub merge_config {
    my ($base, $over) = @_;
    my %out = %$base;
    for my $k (keys %$over) {
        if (ref $out{$k} eq 'HASH' && ref $over->{$k} eq 'HASH') {
            $out{$k} = merge_config($out{$k}, $over->{$k});
        } elsif (defined $over->{$k}) {
            $out{$k} = $over->{$k};
        } else {
            delete $out{$k};
        }
    }
    return \%out;
}

sub tables_of {
    my ($config) = @_;
    my (%seen, @tables);
    for my $name (sort keys %{ $config->{namespaces} }) {
        my $ns = $config->{namespaces}{$name};
        next if $seen{ $ns->{table} }++;
        push @tables, {
            name          => $ns->{table},
            partition_key => $ns->{partition_key},
            ($ns->{sort_key} ? (sort_key => $ns->{sort_key}) : ()),
        };
    }
    return \@tables;
}

# to_yaml renders nested hashes in block style; arrays and strings are
# written as JSON, which YAML reads as flow sequences and double-quoted
# scalars.
sub to_yaml {
    my ($h, $indent) = @_;
    $indent //= 0;
    my $pad = ' ' x $indent;
    my $out = '';
    for my $k (sort keys %$h) {
        my $v = $h->{$k};
        next unless defined $v;
        if (ref $v eq 'HASH') {
            $out .= "$pad$k:" . (%$v ? "\n" . to_yaml($v, $indent + 2) : " {}\n");
        } else {
            $out .= "$pad$k: " . _yaml_scalar($v) . "\n";
        }
    }
    return $out;
}

sub _yaml_scalar {
    my ($v) = @_;
    return JSON::PP->new->ascii->encode([map { "$_" } @$v]) if ref $v eq 'ARRAY';
    return $v ? 'true' : 'false' if JSON::PP::is_bool($v);
    return $v if $v =~ /\A-?[0-9]+\z/;
    return JSON::PP->new->ascii->allow_nonref->encode("$v");
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Config - build, merge and write the test daemon's configuration

=head1 SYNOPSIS

    use DDBCache::TestEnv::Config qw(daemon_config tables_of to_yaml);

    my $config = daemon_config(
        redis_port      => 6379,
        dynamo_endpoint => 'http://127.0.0.1:8000',
        socket_path     => "$dir/ddbcache.sock",
        config          => { log => { level => 'debug' } },
    );
    write_file("$dir/ddbcache.yaml", to_yaml($config));
    $dynamo->create_table(%$_) for @{ tables_of($config) };

=head1 DESCRIPTION

Functions, exported on request, on the configuration as a nested hash with
the keys of F<config/table.go> (the README's settings table). L<DDBCache::TestEnv> imports
C<merge_config>, so C<DDBCache::TestEnv::merge_config> is this one.

=head1 FUNCTIONS

=over

=item default_namespaces

A new hash with the default namespace C<profile>: table C<users>, partition
key C<user_id>, redis_key C<user_profile:{user_id}>, ttl 1h, ttl_jitter 10%,
negative_ttl 30s.

=item daemon_config(redis_port => $port, dynamo_endpoint => $url, socket_path => $path, [namespaces => \%ns, config => \%over])

The configuration of a daemon on that Redis, DynamoDB endpoint and Unix
socket. C<namespaces> adds to or replaces the default namespaces (a name
mapped to C<undef> removes that namespace); C<config> is then deep-merged
into the whole with C<merge_config>.

=item merge_config(\%base, \%over)

A deep merge of two nested hashes, as a new hash: a hash in C<%over> merges
into a hash of C<%base>, any other defined value replaces, and an C<undef>
value removes the key.

=item tables_of(\%config)

The C<create_table> argument hashes for the distinct tables of the
configuration's namespaces (name, partition key, and sort key when there is
one), in the order of the namespaces' names.

=item to_yaml(\%config)

The configuration as YAML text: hashes in block style, keys sorted, C<undef>
values left out, integers bare, booleans (L<JSON::PP> ones) as
C<true>/C<false>, other strings double-quoted and arrays as flow sequences
of strings.

=back

=head1 SEE ALSO

L<DDBCache::TestEnv>, F<config/table.go> (the README's settings table).

=cut
