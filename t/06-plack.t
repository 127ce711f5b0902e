#!/usr/bin/perl
# Plack::Middleware::DDBCache under Plack::Test: $env->{ddbcache} is a
# working client, one per process (the same object for every request of a
# process, a new one with its own connection in a forked worker), socket and
# timeout are configurable, bad arguments croak when the app is built, and
# the POD's SYNOPSIS app runs.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use POSIX qw(_exit);
use Scalar::Util qw(refaddr);
use Test::More;
use DDBCache::TestEnv;

BEGIN {
    for my $module (qw(Plack::Test Plack::Builder HTTP::Request::Common)) {
        (my $file = "$module.pm") =~ s{::}{/}g;
        eval { require $file; 1 }
            or die "$module is missing; install it with: apt-get install -y libplack-perl (or run make deps)\n";
    }
    HTTP::Request::Common->import('GET');
    Plack::Test->import;
    Plack::Builder->import;
}
use Cpanel::JSON::XS ();
use Plack::Middleware::DDBCache;

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $env = DDBCache::TestEnv->new;
my $socket = $env->socket_path;
$env->put_item(users => { user_id => { S => '42' }, name => { S => 'Zoë' } });

# The app answers /ID with the item's name and, in headers, which client
# object served it, in which process, on which daemon connection.
my $inner = sub {
    my ($psgi) = @_;
    my $ddb = $psgi->{ddbcache};
    my ($id) = $psgi->{PATH_INFO} =~ m{\A/(.+)};
    my $item = $ddb->get(profile => $id);
    my @headers = (
        'Content-Type' => 'text/plain; charset=utf-8',
        'X-Client'     => refaddr($ddb),
        'X-Pid'        => $$,
        'X-Conn'       => $ddb->redis(qw(CLIENT ID)),
        'X-Timeout'    => $ddb->timeout,
        'X-Socket'     => $ddb->socket_path,
    );
    return [404, \@headers, ['no such user']] unless $item;
    utf8::encode(my $name = $item->{name});
    return [200, \@headers, [$name]];
};

my $app = builder {
    enable 'DDBCache', socket => $socket, timeout => 1.5;
    $inner;
};

subtest 'requests see a working client in $env->{ddbcache}' => sub {
    test_psgi $app, sub {
        my ($cb) = @_;
        my $res = $cb->(GET '/42');
        is($res->code, 200, 'an existing item: 200');
        is($res->decoded_content, 'Zoë', 'its name');
        is($res->header('X-Timeout'), 1.5, 'the configured timeout');
        is($res->header('X-Socket'), $socket, 'the configured socket');
        my $again = $cb->(GET '/nobody');
        is($again->code, 404, 'a missing item: 404');
        is($again->header('X-Client'), $res->header('X-Client'), 'the same client object for the next request');
        is($again->header('X-Conn'), $res->header('X-Conn'), '... on the same connection');
    };
};

subtest 'a forked worker gets a client of its own' => sub {
    my $parent;
    test_psgi $app, sub { $parent = $_[0]->(GET '/42') };
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        my $line = eval {
            my @res;
            test_psgi $app, sub { push @res, $_[0]->(GET '/42'), $_[0]->(GET '/42') };
            join ' ', map { ($_->code, $_->header('X-Client'), $_->header('X-Pid'), $_->header('X-Conn')) } @res;
        } // "error $@";
        $line =~ s/\n/ /g;
        print {$w} "$line\n";
        close $w;
        _exit(0);
    }
    close $w;
    my $line = <$r> // '';
    waitpid($pid, 0);
    my ($code1, $client1, $pid1, $conn1, $code2, $client2, $pid2, $conn2) = split ' ', $line;
    is($code1, 200, 'the worker\'s request works') or diag $line;
    is($pid1, $pid, 'served in the worker');
    isnt($conn1, $parent->header('X-Conn'), 'on a connection of its own, not the parent\'s');
    is("$client2 $conn2", "$client1 $conn1", 'the worker keeps its client and connection for its next request');
    my $after;
    test_psgi $app, sub { $after = $_[0]->(GET '/42') };
    is($after->header('X-Conn'), $parent->header('X-Conn'), 'the parent still has its own');
};

subtest 'defaults and bad arguments' => sub {
    local $ENV{DDBCACHE_SOCKET} = $socket;
    my $default = builder { enable 'DDBCache'; $inner };
    test_psgi $default, sub {
        my $res = $_[0]->(GET '/42');
        is($res->code, 200, 'DDBCACHE_SOCKET is the default socket');
        is($res->header('X-Timeout'), 6, 'the client\'s default timeout');
    };
    my $keyed = builder { enable 'DDBCache', env_key => 'my.ddb'; sub { [200, [], [ref $_[0]{'my.ddb'}]] } };
    test_psgi $keyed, sub { is($_[0]->(GET '/')->content, 'DDBCache::Client', 'env_key') };
    for my $local (1000, 0) {
        my $app = builder {
            enable 'DDBCache', local_cache => $local;
            sub { [200, [], [$_[0]{ddbcache}->local_stats->{enabled}]] };
        };
        test_psgi $app, sub {
            is($_[0]->(GET '/')->content, $local ? 1 : 0, "local_cache => $local is passed to the client");
        };
    }

    my $ok = eval { builder { enable 'DDBCache', sock => '/x'; $inner }; 1 };
    like($@, qr/\APlack::Middleware::DDBCache: unknown argument 'sock' \(known: env_key, every, local_adapt, local_cache, local_cache_bytes, local_ttl, namespace, password, reconnect, socket, timeout\)/,
        'an unknown argument croaks when the app is built');
    $ok = eval { builder { enable 'DDBCache', timeout => 'soon'; $inner }; 1 };
    like($@, qr/\ADDBCache::Client->new: timeout must be a number/, 'so does a bad timeout');
};

subtest 'the SYNOPSIS app runs' => sub {
    my $pod = do {
        my $path = "$FindBin::Bin/../perl/lib/Plack/Middleware/DDBCache.pm";
        open my $fh, '<:encoding(UTF-8)', $path or die "$path: $!";
        local $/;
        <$fh>;
    };
    my ($synopsis) = $pod =~ /^=head1 SYNOPSIS\n(.*?)^=head1/ms;
    ok($synopsis, 'found the SYNOPSIS');
    local $ENV{DDBCACHE_SOCKET} = $socket;
    my $synopsis_app = eval "package main; no strict; $synopsis"    ## no critic (ProhibitStringyEval)
        or die "SYNOPSIS: $@";
    test_psgi $synopsis_app, sub {
        my $res = $_[0]->(GET '/users/42');
        is($res->code, 200, 'answers');
        is($res->header('Content-Type'), 'application/json', 'JSON');
        is(Cpanel::JSON::XS->new->utf8->decode($res->content)->{name}, 'Zoë', 'the item, UTF-8 encoded');
        is($_[0]->(GET '/users/99')->code, 404, 'a missing item: 404');
    };
};

done_testing;
