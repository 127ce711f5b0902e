package DDBCache::TestEnv::Web::Suite;

use strict;
use warnings;
use utf8;

use Exporter qw(import);
use JSON::PP;
use Test::More;
use Time::HiRes qw(time);

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

# run_suite runs the same cases through the web server at $base (which
# passes /api/ to the daemon): miss, hit, byte-identical to the RESP
# socket, 404, 304, PUT then GET, DELETE, bad JSON, unknown namespace,
# too large, a key with '/', healthz, and, last, DynamoDB stopped. Keys
# are prefixed with $front, so that fronts can share one daemon.
sub run_suite {
    my ($web, $env, $base, $front) = @_;
    my $api = "$base/api";
    my ($u1, $absent, $put) = ("$front-u1", "$front-absent", "$front-put");
    my $etag;

    subtest "$front: a miss, then a hit, byte-identical to DDB GET" => sub {
        seed($env, $u1, 'Ann');
        my $res = $web->request(GET => "$api/profile/$u1");
        is_status($res, 200, 'GET an item: 200');
        is($res->{headers}{'x-cache'}, 'miss', 'X-Cache: miss');
        like($res->{headers}{'content-type'}, qr{\Aapplication/json}, 'Content-Type: application/json');
        is($res->{content}, resp_get($env, $u1), 'the same bytes as DDB GET on the socket');
        is_deeply($JSON->decode($res->{content}), { user_id => $u1, name => 'Ann' }, 'the item');
        $etag = $res->{headers}{etag};
        like($etag, qr/\A"[0-9a-f]{32}"\z/, 'a strong ETag');
        my $hit = $web->request(GET => "$api/profile/$u1");
        is($hit->{headers}{'x-cache'}, 'hit', 'again: X-Cache: hit');
        is($hit->{content}, $res->{content}, 'same bytes');
        is($hit->{headers}{etag}, $etag, 'same ETag');
        my ($age) = ($hit->{headers}{'cache-control'} // '') =~ /max-age=(\d+)/;
        ok(defined $age && $age > 3000, 'Cache-Control: max-age is the TTL left (1h ± 10%)');
    };

    subtest "$front: 304 on If-None-Match" => sub {
        my $res = $web->request(GET => "$api/profile/$u1", undef, 'If-None-Match' => $etag);
        is_status($res, 304, '304 Not Modified');
        is($res->{content} // '', '', 'no body');
        is($res->{headers}{etag}, $etag, 'the ETag again');
        my $other = $web->request(GET => "$api/profile/$u1", undef, 'If-None-Match' => '"0"');
        is_status($other, 200, 'another ETag: 200');
    };

    subtest "$front: an absent item is 404, then a negative hit" => sub {
        my $res = $web->request(GET => "$api/profile/$absent");
        is_status($res, 404, 'status 404');
        is(error_code($res), 'not_found', 'JSON error, code not_found');
        is($res->{headers}{'x-cache'}, 'miss', 'X-Cache: miss');
        my $again = $web->request(GET => "$api/profile/$absent");
        is($again->{headers}{'x-cache'}, 'negative', 'again: X-Cache: negative');
    };

    subtest "$front: PUT then GET, DELETE then GET" => sub {
        my $doc = $JSON->encode({ user_id => $put, name => 'Zoë 東京', n => JSON::PP::true });
        is_status($web->request(PUT => "$api/profile/$put", $doc, 'Content-Type' => 'application/json'), 204, 'PUT: 204');
        my $res = $web->request(GET => "$api/profile/$put");
        is_status($res, 200, 'GET after PUT: 200');
        is_deeply($JSON->decode($res->{content}), $JSON->decode($doc), 'the written item, UTF-8 intact');
        is($res->{content}, resp_get($env, $put), 'the same bytes as DDB GET');
        is_status($web->request(DELETE => "$api/profile/$put"), 200, 'DELETE: 200');
        is_status($web->request(GET => "$api/profile/$put"), 404, 'GET after DELETE: 404');
        my $odd = $web->request(PUT => "$api/profile/$put", $JSON->encode({ user_id => 'other' }));
        is_status($odd, 400, 'PUT with another key in the item: 400');
        is(error_code($odd), 'bad_key', 'code bad_key');
    };

    subtest "$front: POST _mget" => sub {
        my $res = $web->request(POST => "$api/profile/_mget", $JSON->encode([$u1, $absent]));
        is_status($res, 200, 'status 200');
        is($res->{content}, '{"' . $u1 . '":' . resp_get($env, $u1) . '}', 'present items only, byte-identical');
    };

    subtest "$front: bad input" => sub {
        my $res = $web->request(PUT => "$api/profile/$put", '{"user_id":');
        is_status($res, 400, 'malformed JSON item: 400');
        is(error_code($res), 'bad_item', 'code bad_item');
        $res = $web->request(POST => "$api/profile/_mget", '{"not":"a list"');
        is_status($res, 400, 'malformed _mget body: 400');
        is(error_code($res), 'bad_request', 'code bad_request');
        $res = $web->request(GET => "$api/nope/1");
        is_status($res, 404, 'unknown namespace: 404');
        is(error_code($res), 'unknown_namespace', 'code unknown_namespace');
        $res = $web->request(PUT => "$api/profile/$put", $JSON->encode({ user_id => $put, x => 'y' x 10_000 }));
        is_status($res, 413, 'an item over max_value_bytes: 413');
        is(error_code($res), 'too_large', 'code too_large');
    };

    subtest "$front: a key with a '/' (%2F)" => sub {
        my $id = "$front/slash";
        is_status($web->request(PUT => "$api/profile/$front%2Fslash", $JSON->encode({ user_id => $id })), 204, 'PUT');
        my $res = $web->request(GET => "$api/profile/$front%2Fslash");
        is_status($res, 200, 'GET');
        is($res->{content}, resp_get($env, $id), 'the item DDB GET finds');
    };

    subtest "$front: healthz" => sub {
        my $res = $web->request(GET => "$api/healthz");
        is_status($res, 200, 'status 200');
        is($res->{content}, '{"dynamodb":true,"redis":true,"status":"ok"}', 'both backends up');
    };

    subtest "$front: DynamoDB stopped" => sub {
        $web->stop_dynamo;
        my $t0  = time;
        my $res = $web->request(GET => "$api/profile/$front-never-seen");
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

DDBCache::TestEnv::Web::Suite - one table of HTTP API cases, run through every web server

=head1 SYNOPSIS

    use DDBCache::TestEnv::Web::Suite qw(run_suite);
    run_suite($web, $env, $web->start_nginx, 'nginx');

=head1 DESCRIPTION

As Plack::Test::Suite runs one table against every PSGI server, C<run_suite>
runs the same cases against the daemon's FastCGI endpoint through nginx,
Apache or Plack (see L<DDBCache::TestEnv::Web>). C<resp_get> and C<seed> are
exported on request.

=cut
