package DDBCache::TestEnv::Conformance;

# The one conformance table, internal/conformance/cases.json (which the Go
# tests run through the RESP socket, the HTTP API and FastCGI), for the
# Perl tests: the Perl client (t/15-conformance.t) and every web server in
# front of the daemon's FastCGI endpoint (DDBCache::TestEnv::Web::Suite).

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Encode qw(encode_utf8);
use Exporter qw(import);
use File::Spec;
use FindBin;
use JSON::PP;
use Test::More;
use DDBCache::TestEnv::Config qw(merge_config);
use DDBCache::TestEnv::Files qw(slurp);

our $VERSION   = '0.01';
our @EXPORT_OK = qw(table expand env_args seed_table run_http_cases);

my $JSON = JSON::PP->new->utf8->canonical;
my $PATH = File::Spec->catfile(__FILE__ =~ m{\A(.*)/[^/]+\z} ? $1 : '.', qw(.. .. .. .. internal conformance cases.json));

# The table's macros (see internal/conformance/conformance.go's Expand).
my %MACRO = ('${big}' => 'x' x (70 << 10), '${keys1001}' => '[' . ('"k",' x 1000) . '"k"]');

# The events namespace of the Go fixture: a sort key, numbers.
my %EVENTS = (table => 'events', partition_key => 'account', sort_key => 'seq');

my $table;

# table: cases.json, decoded (text as characters).
sub table { return $table //= $JSON->decode(slurp($PATH)) }

sub expand { my ($s) = @_; $s =~ s/(\$\{\w+\})/$MACRO{$1} \/\/ $1/ge; return $s }

# env_args(%config): what DDBCache::TestEnv->new needs to run the table:
# the events namespace and tables, max_value_bytes 64 KiB, and %config.
sub env_args {
    my (%config) = @_;
    return (
        namespaces => { events => \%EVENTS },
        config     => merge_config(\%config, { limits => { max_value_bytes => 64 << 10 } }),
        tables     => [
            { name => 'users',  partition_key => 'user_id' },
            { name => 'events', partition_key => 'account', partition_type => 'N', sort_key => 'seq', sort_type => 'N' },
        ],
    );
}

# seed_table($env): writes the table's users into DynamoDB.
sub seed_table {
    my ($env) = @_;
    for my $u (@{ table()->{seed} }) {
        $env->put_item(users => { map { $_ => { S => $u->{$_} } } keys %$u });
    }
    return;
}

# run_http_cases($request, $base, $name): every case's "http" part, in
# order, through $request->($method, $url, $body, %headers) (an HTTP::Tiny
# response), against a web server at $base that passes /api/ to the
# daemon: a table path outside /api/ is asked for under it (/v1/x as
# /api/v1/x, /healthz as /api/healthz; others are skipped).
sub run_http_cases {
    my ($request, $base, $name) = @_;
    for my $case (@{ table()->{cases} }) {
        my $h = $case->{http} or next;
        # A path the daemon answers outside its prefix and /v1 (/v2/...)
        # has no equivalent under /api/.
        next unless $h->{path} =~ m{\A/(?:api|v1|healthz)(?:/|\z)};
        my $path = $h->{path} =~ m{\A/api/} ? $h->{path} : "/api$h->{path}";
        my %headers = %{ $h->{headers} // {} };
        my $etag = defined $h->{etag_of} ? '"' . substr(sha256_hex(encode_utf8($h->{etag_of})), 0, 32) . '"' : '';
        s/\$\{etag\}/$etag/g for values %headers;
        my $body = length($h->{body} // '') ? encode_utf8(expand($h->{body})) : undef;
        my $res = $request->($h->{method}, "$base$path", $body, %headers);
        my $what = "$name: $case->{name} ($h->{method} $path)";
        is($res->{status}, $h->{status}, "$what: status $h->{status}") or diag("body: $res->{content}");
        if (length($h->{code} // '')) {
            my $doc = eval { $JSON->decode($res->{content}) } // {};
            ok(length($doc->{error} // '') && ($doc->{code} // '') eq $h->{code}, "$what: a JSON error, code $h->{code}")
                or diag("body: $res->{content}");
        } else {
            is($res->{content} // '', encode_utf8($h->{reply} // ''), "$what: the body");
        }
        is($res->{headers}{'x-cache'}, $h->{xcache}, "$what: X-Cache $h->{xcache}") if $h->{xcache};
    }
    return;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Conformance - the conformance table (internal/conformance/cases.json) for Perl tests

=head1 SYNOPSIS

    use DDBCache::TestEnv::Conformance qw(env_args seed_table run_http_cases);
    my $env = DDBCache::TestEnv->new(env_args(%{ $web->daemon_config }));
    seed_table($env);
    run_http_cases(sub { $web->request(@_) }, $base, 'nginx');

=head1 DESCRIPTION

C<table> is the decoded table, C<expand> replaces its macros, C<env_args>
and C<seed_table> set up a daemon the cases expect (fresh: the cases run in
order and carry state), and C<run_http_cases> runs the cases' C<http> parts
through a web server.

=cut
