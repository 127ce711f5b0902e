package DDBCache::TestEnv::Web::Suite;

use strict;
use warnings;
use utf8;

use Exporter qw(import);
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);
use DDBCache::TestEnv::Conformance qw(table run_http_cases);

our $VERSION   = '0.01';
our @EXPORT_OK = qw(run_suite resp_get seed);

my $JSON = JSON::PP->new->utf8->canonical;

# seed writes a profile straight into DynamoDB, behind the cache's back.
sub seed {
    my ($env, $id, $name) = @_;
    $env->put_item(users => { user_id => { S => $id }, name => { S => $name } });
    return;
}

# resp_get is DDB GET on the daemon's socket: the bytes to compare with.
sub resp_get {
    my ($env, $id) = @_;
    my $c = $env->connect;
    my $v = $c->cmd('DDB', 'GET', 'profile', $id);
    $c->close;
    return $v;
}

# error_code returns the "code" of a JSON error body, or a description of
# what came instead.
sub error_code {
    my ($res) = @_;
    my $doc = eval { $JSON->decode($res->{content}) };
    return "not JSON: $res->{content}" unless ref $doc eq 'HASH';
    return "no error message: $res->{content}" unless defined $doc->{error} && length $doc->{error};
    return $doc->{code} // 'none';
}

sub is_status {
    my ($res, $want, $name) = @_;
    return is($res->{status}, $want, $name) || diag("body: $res->{content}");
}

# run_suite runs the conformance table's HTTP cases
# (internal/conformance/cases.json, the Go tests' too) through the web
# server at $base (which passes /api/ to the daemon), then what only a web
# front has: the bytes of DDB GET, the ETag and Cache-Control, and, last,
# DynamoDB stopped. The daemon must be fresh and set up for the table
# (DDBCache::TestEnv::Conformance's env_args and seed_table): the cases
# carry state from one to the next. With keeps_conns => 1 it also checks
# that the server keeps its FastCGI connection open between requests.
sub run_suite {
    my ($web, $env, $base, $front, %opts) = @_;
    my $api = "$base/api";
    my $u1  = table()->{seed}[0]{user_id};

    subtest "$front: the conformance table" => sub {
        run_http_cases(sub { $web->request(@_) }, $base, $front);
    };

    subtest "$front: byte-identical to DDB GET, ETag, Cache-Control" => sub {
        my $res = $web->request(GET => "$api/profile/$u1");
        is_status($res, 200, 'GET an item: 200');
        like($res->{headers}{'content-type'}, qr{\Aapplication/json}, 'Content-Type: application/json');
        is($res->{content}, resp_get($env, $u1), 'the same bytes as DDB GET on the socket');
        like($res->{headers}{etag}, qr/\A"[0-9a-f]{32}"\z/, 'a strong ETag');
        my ($age) = ($res->{headers}{'cache-control'} // '') =~ /max-age=(\d+)/;
        ok(defined $age && $age > 3000, 'Cache-Control: max-age is the TTL left (1h ± 10%)');
    };

    if ($opts{keeps_conns}) {
        # deploy/'s nginx (fastcgi_keep_conn, upstream keepalive) reuses its
        # FastCGI connections: without that, every request costs the daemon
        # an accept and a close. (Apache does not: see deploy/apache.)
        subtest "$front: FastCGI connections kept" => sub {
            is_status($web->request(GET => "$api/profile/$u1"), 200, "GET $_") for 1 .. 5;
            cmp_ok($web->fcgi_conns, '>=', 1, 'a FastCGI connection is still open after the requests');
        };
    }

    subtest "$front: DynamoDB stopped" => sub {
        $web->stop_dynamo;
        my $t0  = time;
        my $res = $web->request(GET => "$api/profile/never-seen");
        my $took = time - $t0;
        ok($res->{status} == 503 || $res->{status} == 504, "a miss: 503 or 504 (got $res->{status})")
            or diag($res->{content});
        like(error_code($res), qr/\A(backend_unavailable|timeout)\z/, 'code backend_unavailable or timeout');
        cmp_ok($took, '<', 4.5, sprintf('within the 4s timeout (%.2fs)', $took));
        my $hit = $web->request(GET => "$api/profile/$u1");
        is_status($hit, 200, 'a cached item still comes back');
        is($hit->{content}, resp_get($env, $u1), '... with the same bytes');
        is_status($web->request(GET => "$api/healthz"), 503, 'healthz: 503');
        $web->start_dynamo;
        is_status($web->request(GET => "$api/healthz"), 200, 'DynamoDB back: healthz 200');
    };
    return;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Web::Suite - the conformance table's HTTP cases, run through every web server

=head1 SYNOPSIS

    use DDBCache::TestEnv::Web::Suite qw(run_suite);
    run_suite($web, $env, $web->start_nginx, 'nginx', keeps_conns => 1);

=head1 DESCRIPTION

As Plack::Test::Suite runs one table against every PSGI server, C<run_suite>
runs the conformance table (internal/conformance/cases.json, through
L<DDBCache::TestEnv::Conformance>) against the daemon's FastCGI endpoint
through nginx, Apache or Plack (see L<DDBCache::TestEnv::Web>), and the
checks only a web front has; with C<< keeps_conns => 1 >>, that the server
keeps its FastCGI connections open between requests (the shipped nginx and
Apache configurations do). C<resp_get> and C<seed> are
exported on request.

=cut
