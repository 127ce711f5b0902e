#!/usr/bin/perl
# DDBCache::Client when the daemon goes away: restarts between calls (clean
# and crashed), a crash and restart under a process that keeps looking up,
# which calls are retried on a broken connection and which are not (against
# a scripted fake daemon), replies that arrive in pieces or make no sense,
# and a stopped (SIGSTOP) daemon, which must give a timeout, not a hang.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use POSIX qw(_exit);
use Test::More;
use Time::HiRes qw(time sleep);
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::FakeDaemon;

my $env = DDBCache::TestEnv->new;
my $socket = $env->socket_path;
my $ddb = $env->client(timeout => 5);
is(scalar(grep { $ddb->put(profile => { user_id => "r$_", name => "Restart $_" }) } 1 .. 20), 20, '20 items written');

# bulk($string): a RESP bulk reply.
sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n" }

# dies_like(sub { ... }, qr/.../, $name): the code dies with a matching message.
sub dies_like {
    my ($code, $re, $name) = @_;
    my $ok = eval { $code->(); 1 };
    return ok(0, "$name: did not die") if $ok;
    return like($@, $re, $name);
}

for my $signal (qw(TERM KILL)) {
    subtest "the daemon restarts (SIG$signal) between two calls" => sub {
        is($ddb->get(profile => 'r1')->{name}, 'Restart 1', 'a lookup');
        $env->restart_daemon(signal => $signal);
        is($ddb->get(profile => 'r2')->{name}, 'Restart 2', 'the next lookup works: it reconnected');

        $env->restart_daemon(signal => $signal);
        ok($ddb->put(profile => { user_id => 'r21', name => 'New' }), 'a put right after a restart works');
        is($ddb->get(profile => 'r21')->{name}, 'New', '... and was written once');
        $env->restart_daemon(signal => $signal);
        is($ddb->delete(profile => 'r21'), 1, 'so does a delete');
        $env->restart_daemon(signal => $signal);
        is($ddb->redis(SET => 'rs:k', 'v'), 'OK', 'and a Redis command');
    };
}

subtest 'killed and restarted while a process keeps looking up' => sub {
    pipe(my $report_r, my $report_w) or die "pipe: $!";
    pipe(my $ctl_r, my $ctl_w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $report_r;
        close $ctl_w;
        $report_w->autoflush(1);
        my $c = DDBCache::Client->new(socket => $socket, timeout => 5);
        my %n = (ok => 0, wrong => 0, errors => 0, after => 0, after_errors => 0);
        my %kinds;
        my $restarted = 0;
        my $i = 0;
        while (1) {
            my $k = 1 + $i++ % 20;
            my $item = eval { $c->get(profile => "r$k") };
            if ($item) {
                $item->{name} eq "Restart $k" ? $n{ok}++ : $n{wrong}++;
            } else {
                my $err = $@ || 'undef';
                $restarted ? $n{after_errors}++ : $n{errors}++;
                $kinds{ $err =~ /cannot connect to/ ? 'connect' : $err =~ /lost/ ? 'lost' : "other: $err" }++;
                sleep 0.002;    # back off while the daemon is down
            }
            $n{after}++ if $restarted && $item;
            print {$report_w} "running\n" if $n{ok} == 200 && $item;
            if (!$restarted) {
                my $rin = '';
                vec($rin, fileno $ctl_r, 1) = 1;
                $restarted = 1 if select($rin, undef, undef, 0) > 0;    # the parent closed the pipe
            }
            last if $n{after} >= 500;
        }
        print {$report_w} join(' ', map { "$_=$n{$_}" } sort keys %n), ' | ',
            join(', ', map { "$_ x$kinds{$_}" } sort keys %kinds), "\n";
        _exit(0);
    }
    close $report_w;
    close $ctl_r;
    is(scalar <$report_r>, "running\n", 'the child is looking up');
    $env->stop_daemon(signal => 'KILL');
    $env->start_daemon;
    close $ctl_w;    # tell the child
    my $summary = <$report_r> // '';
    waitpid($pid, 0);
    is($? >> 8, 0, 'the child exited 0');
    note "child: $summary";
    my %n = $summary =~ /(\w+)=(\d+)/g;
    is($n{wrong}, 0, 'no wrong values');
    is($n{after}, 500, '500 lookups after the restart');
    is($n{after_errors}, 0, '... all of them without an error');
    my ($kinds) = $summary =~ /\| (.*)/;
    unlike($kinds // '', qr/other/, 'while the daemon was down, only "cannot connect" or "lost" errors');
};

# The fake daemon speaks no DDB TRACK, and serves one connection at a time:
# its clients go without the local cache (t/08-local-cache.t tests that).
subtest 'idempotent calls are sent again on a broken connection' => sub {
    my $item = bulk('{"user_id":"1","a":1}');
    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close'], [$item]]);
    my $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    is_deeply($c->get(profile => 1), { user_id => '1', a => 1 }, 'get: dropped once, answered on a new connection');
    is_deeply([$fake->requests], ['1 DDB GET profile 1', '2 DDB GET profile 1'], 'the request was sent twice');

    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close'], ['close']]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0, reconnect => 0);
    dies_like(sub { $c->get(profile => 1) },
        qr/\ADDBCache::Client: DDB GET: connection to \Q${\ $fake->path }\E lost \(the daemon closed the connection\), and again after reconnecting/,
        'reconnect => 0, dropped twice: croaks');
    is(scalar(my @r = $fake->requests), 2, 'after two tries, not more');

    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close'], ["*2\r\n\$2\r\n{}\r\n\$-1\r\n"]]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    is_deeply($c->mget(profile => [1, 2]), { 1 => {} }, 'mget is retried too');
};

subtest 'the reconnect grace: idempotent calls try again while the daemon goes away' => sub {
    my $item = bulk('{"user_id":"1","a":1}');
    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close'], ['close'], ['close'], [$item]]);
    my $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    is_deeply($c->get(profile => 1), { user_id => '1', a => 1 }, 'dropped three times, answered the fourth');
    is(scalar(my @r = $fake->requests), 4, 'sent four times');

    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close'], [":1\r\n"]]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    is($c->invalidate(profile => 1), 1, 'invalidate is idempotent: sent again after a broken connection');
    is_deeply([$fake->requests], ['1 DDB INVALIDATE profile 1', '2 DDB INVALIDATE profile 1'], '... twice');

    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [(['close']) x 100]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0, reconnect => 0.5, every => 0.05);
    my $t0 = time;
    dies_like(sub { $c->get(profile => 1) },
        qr/\ADDBCache::Client: DDB GET: connection to .* lost \(the daemon closed the connection\), and again after reconnecting/,
        'a daemon that keeps dropping: croaks after the grace');
    my $took = time - $t0;
    cmp_ok($took, '>=', 0.4, sprintf 'not before reconnect (%.2f s)', $took);
    cmp_ok($took, '<', 1.5, '... nor long after it');
    my $tries = () = $fake->requests;
    cmp_ok($tries, '>', 2, "tried every 50 ms ($tries tries)");
    cmp_ok($tries, '<', 20, '... not in a busy loop');
};

subtest 'the reconnect grace: waiting for the socket to come back' => sub {
    my $dir  = DDBCache::TestEnv::Files::tempdir();
    my $none = "$dir/none.sock";
    for my $case ([0, 0, 0.3], [0.4, 0.35, 1.2]) {
        my ($grace, $min, $max) = @$case;
        my $c  = DDBCache::Client->new(socket => $none, reconnect => $grace, local_cache => 0);
        my $t0 = time;
        dies_like(sub { $c->get(profile => 1) },
            qr/\ADDBCache::Client: cannot connect to \Q$none\E: No such file or directory \(is the ddbcache daemon running\?\) at \Q$0\E line/,
            "reconnect => $grace: no daemon: the error of a missing socket");
        my $took = time - $t0;
        ok($took >= $min && $took < $max, sprintf "reconnect => $grace: after %.2f s", $took);
    }

    # The daemon is stopped; a child's lookup and put wait for it, and the
    # parent starts it again once the child has started waiting.
    $env->stop_daemon;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        $w->autoflush(1);
        my $c = DDBCache::Client->new(socket => $socket, reconnect => 20);
        print {$w} "waiting\n";
        my @got = eval { ($c->get(profile => 'r5')->{name}, $c->put(profile => { user_id => 'r22', name => 'Waited' })) };
        print {$w} @got ? "@got\n" : "error: $@";
        _exit(0);
    }
    close $w;
    is(scalar <$r>, "waiting\n", 'the child looks up while the daemon is down');
    $env->start_daemon;
    is(scalar <$r>, "Restart 5 1\n", 'its get and its put went through once the daemon was back');
    waitpid($pid, 0);
    is($ddb->get(profile => 'r22')->{name}, 'Waited', 'the put was written');
};

subtest 'lookups on an established connection (the fast path)' => sub {
    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [
        [bulk('{"n":1}'), 'close'],
        [bulk('{"n":2}'), [unpack '(a3)*', bulk('{"n":3}')], "\$-1\r\n", "-ERR boom\r\n", bulk('{"n":4}')],
    ]);
    my $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    is_deeply($c->get(profile => 'k'), { n => 1 }, 'the first lookup connects');
    is_deeply($c->get(profile => 'k'), { n => 2 }, 'the next is dropped after sending, and sent again once');
    is_deeply($c->get(profile => 'k'), { n => 3 }, 'a reply in pieces');
    is($c->get(profile => 'k'), undef, 'nil');
    dies_like(sub { $c->get(profile => 'k') }, qr/\ADDBCache::Client: DDB GET: ERR boom at /, 'an error reply');
    is($c->get_json(profile => 'k'), '{"n":4}', 'get_json, after an error on the same connection');
    is_deeply([$fake->requests], [('1 DDB GET profile k') x 2, ('2 DDB GET profile k') x 5], 'requests');
};

subtest 'writes are not retried once the request was sent' => sub {
    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close'], ["+OK\r\n"]]);
    my $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    dies_like(sub { $c->put(profile => { user_id => '1' }) },
        qr/\ADDBCache::Client: DDB PUT: connection to .* lost \(.*\) after the request was sent; not retried: its outcome is unknown \(it may or may not have been carried out\) at /,
        'put: the connection broke after sending: croaks, saying the outcome is unknown');
    is_deeply([$fake->requests], ['1 DDB PUT profile {"user_id":"1"}'], 'the put was sent once');
    ok($c->put(profile => { user_id => '2' }), 'the next put uses a new connection');

    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close']]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    dies_like(sub { $c->delete(profile => 1) }, qr/DDB DEL: connection .* lost .* not retried/, 'delete too');
    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [['close']]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    dies_like(sub { $c->redis(INCR => 'n') }, qr/INCR: connection .* lost .* not retried/, 'and Redis commands');

    # The daemon closed an idle connection (a restart): the write notices
    # before sending, and goes out on a new connection, once.
    $fake = DDBCache::TestEnv::FakeDaemon->new(script => [["+PONG\r\n"], ["+OK\r\n"]]);
    $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    ok($c->ping, 'ping; then the server closes the connection');
    $fake->wait_closed(1);
    ok($c->put(profile => { user_id => '3' }), 'put on a connection closed meanwhile works');
    is_deeply([$fake->requests], ['1 PING', '2 DDB PUT profile {"user_id":"3"}'], '... sent once, on a new connection');
};

subtest 'replies in pieces, and replies that are no RESP' => sub {
    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [[
        [unpack '(a17)*', bulk('{"user_id":"1","b":"xy"}')],
        ["*2\r", "\n\$2\r\n{}\r\n", "\$-", "1\r\n"],
        ["-ERR some", " error\r\n"],
        ["*3\r\n:1\r\n+OK\r\n-ERR nested\r\n"],
        ["?what\r\n"],
    ]]);
    my $c = DDBCache::Client->new(socket => $fake->path, timeout => 5, local_cache => 0);
    is_deeply($c->get(profile => 1), { user_id => '1', b => 'xy' }, 'a bulk reply in two pieces');
    is_deeply($c->mget(profile => [1, 2]), { 1 => {} }, 'an array in four pieces');
    dies_like(sub { $c->get(profile => 1) }, qr/\ADDBCache::Client: DDB GET: ERR some error at /, 'an error in two pieces');
    dies_like(sub { $c->redis('HGETALL', 'x') }, qr/\ADDBCache::Client: HGETALL: ERR nested at /,
        'an error inside an array croaks too');
    dies_like(sub { $c->ping }, qr/\ADDBCache::Client: PING: protocol error: unexpected reply from .*'\?what/,
        'a reply that is no RESP: protocol error');
};

subtest 'a stopped daemon gives a timeout, not a hang' => sub {
    # Round trips: with the local cache, a held item would be served from
    # the process's memory (t/08-local-cache.t). The new client has it on:
    # its DDB TRACK times out the same.
    my $c = $env->client(timeout => 0.5, local_cache => 0);
    is($c->get(profile => 'r3')->{name}, 'Restart 3', 'connected and looking up');
    $env->pause_daemon;
    my $ok = eval {
        for my $case ([existing => $c], [new => $env->client(timeout => 0.5)]) {
            my ($name, $client) = @$case;
            my $t0 = time;
            dies_like(sub { $client->get(profile => 'r3') },
                qr/\ADDBCache::Client: DDB GET: timed out after 0\.5 s waiting for a reply from the daemon on \Q$socket\E at /,
                "$name connection: the exception names the socket and the timeout");
            my $took = time - $t0;
            cmp_ok($took, '>=', 0.45, sprintf('%s connection: after the timeout (%.2f s)', $name, $took));
            cmp_ok($took, '<', 2, "$name connection: not much later");
        }
        1;
    };
    $env->resume_daemon;
    die $@ unless $ok;
    is($c->get(profile => 'r4')->{name}, 'Restart 4', 'after SIGCONT the same client works again');
    is($c->get(profile => 'r3')->{name}, 'Restart 3', 'and gets the right values (no late reply taken)');
};

done_testing;
