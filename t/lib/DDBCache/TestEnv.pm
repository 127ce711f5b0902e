package DDBCache::TestEnv;

# The test environment the Perl suite and perl/bench/lookup.pl run in: a
# private redis-server, dynalite and the ddbcache daemon, started for one
# test and stopped at its end. This module is the object the tests hold;
# the configuration (TestEnv::Config), finding the programs
# (TestEnv::Programs), running processes (TestEnv::Processes), each daemon
# (TestEnv::Daemon), DynamoDB over HTTP (TestEnv::Dynamo) and files
# (TestEnv::Files) are each in a module of their own.

use strict;
use warnings;

use Carp qw(croak);
use Cwd ();
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Spec;
use IO::Socket::INET;
use JSON::PP;

use DDBCache::TestEnv::Config qw(daemon_config merge_config tables_of to_yaml);
use DDBCache::TestEnv::Conn;
use DDBCache::TestEnv::Daemon;
use DDBCache::TestEnv::Dynamo;
use DDBCache::TestEnv::Files qw(tempdir write_file slurp tail);
use DDBCache::TestEnv::Cluster;
use DDBCache::TestEnv::Replicas;
use DDBCache::TestEnv::Processes qw(trap_signals wait_until);
use DDBCache::TestEnv::Programs qw(which_program redis_command dynalite_command);

our $VERSION = '0.01';

# The repository root: this file is <root>/t/lib/DDBCache/TestEnv.pm.
my $ROOT = File::Spec->rel2abs(
    File::Spec->catdir(dirname(File::Spec->rel2abs(__FILE__)), (File::Spec->updir) x 3));
$ROOT = Cwd::abs_path($ROOT) // $ROOT;

# Every environment started by this process, stopped in END.
my @LIVE;

my $JSON = JSON::PP->new->utf8->canonical;

sub new {
    my ($class, %args) = @_;
    my %known = map { $_ => 1 } qw(namespaces config tables redis_aof redis_cluster redis_replicas);
    for my $k (sort keys %args) {
        croak "DDBCache::TestEnv->new: unknown argument '$k'" unless $known{$k};
    }
    my $tmpdir = tempdir();
    my $self = bless {
        owner  => $$,
        procs  => DDBCache::TestEnv::Processes->new(dir => $tmpdir),
        tables => {},
        tmpdir => $tmpdir,
        aof    => $args{redis_aof} ? 1 : 0,
    }, $class;
    push @LIVE, $self;
    trap_signals();

    $self->{redis_port}    = free_port();
    $self->{dynalite_port} = free_port();
    $self->{socket_path}   = File::Spec->catfile($tmpdir, 'ddbcache.sock');
    $self->{daemon_log}    = File::Spec->catfile($tmpdir, 'ddbcache.log');
    $self->{config_path}   = File::Spec->catfile($tmpdir, 'ddbcache.yaml');
    $self->{dynamo}        = DDBCache::TestEnv::Dynamo->new(endpoint => $self->dynamo_endpoint);

    $self->{procs}->spawn(dynalite => dynalite_command(root => $ROOT, port => $self->{dynalite_port}));
    if ($args{redis_cluster}) {
        $self->{cluster} = DDBCache::TestEnv::Cluster->start(procs => $self->{procs}, dir => $tmpdir,
            ports => [map { free_port() } 1 .. 12]);
    } else {
        $self->_spawn_redis;
        $self->_wait_redis;
        if ($args{redis_replicas}) {
            $self->{replicas} = DDBCache::TestEnv::Replicas->start(procs => $self->{procs}, dir => $tmpdir,
                primary_port => $self->{redis_port}, ports => [map { free_port() } 1 .. $args{redis_replicas}]);
        }
    }
    $self->{procs}->wait_ready(dynalite => sub { $self->{dynamo}->listening });

    my $config = daemon_config(
        redis_port      => $self->{redis_port},
        redis_addrs     => $self->{cluster} ? [$self->{cluster}->addrs] : undef,
        dynamo_endpoint => $self->dynamo_endpoint,
        socket_path     => $self->{socket_path},
        namespaces      => $args{namespaces},
        config          => $self->{replicas}
        # The test's config, merged last, may turn the reads off again.
        ? merge_config({ redis => { read_from_replicas => JSON::PP::true, replica_addrs => [$self->{replicas}->addrs] } },
            $args{config} // {})
        : $args{config},
    );
    $self->{config} = $config;
    $self->create_table(%$_) for @{ $args{tables} // tables_of($config) };

    $self->{daemon} = DDBCache::TestEnv::Daemon->new(name => 'daemon', procs => $self->{procs}, root => $ROOT,
        config => $config, config_path => $self->{config_path}, socket_path => $self->{socket_path},
        log => $self->{daemon_log});
    $self->{daemon}->start;
    return $self;
}

# ---- accessors -----------------------------------------------------------

sub socket_path     { return $_[0]{socket_path} }
sub cluster         { return $_[0]{cluster} }
sub replicas        { return $_[0]{replicas} }
sub redis_port      { return $_[0]{redis_port} }
sub dynamo_endpoint { return "http://127.0.0.1:$_[0]{dynalite_port}" }
sub daemon_log      { return $_[0]{daemon_log} }
sub config_path     { return $_[0]{config_path} }
sub tmpdir          { return $_[0]{tmpdir} }
sub repo_root       { return $ROOT }

sub daemon_log_text {
    my ($self) = @_;
    return slurp($self->{daemon_log});
}

# free_port: a function, as are which_program, merge_config, write_file and
# slurp (imported from the modules above).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
        or die "DDBCache::TestEnv: cannot bind a loopback port: $@\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# ---- clients -------------------------------------------------------------

sub connect {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, %opts) = @_;
    return $self->{daemon}->connect(%opts);
}

sub redis_cmd {
    my ($self, @args) = @_;
    croak 'DDBCache::TestEnv: redis_cmd: a cluster has no one node; use cluster->cmd_on' if $self->{cluster};
    $self->{redis_conn} ||= DDBCache::TestEnv::Conn->new(host => '127.0.0.1', port => $self->{redis_port});
    return $self->{redis_conn}->cmd(@args);
}

# client(%opts): a DDBCache::Client on the daemon's socket (the test must
# have perl/lib in @INC).
sub client {
    my ($self, %opts) = @_;
    require DDBCache::Client;
    return DDBCache::Client->new(socket => $self->{socket_path}, %opts);
}

sub stats {
    my ($self, $ns) = @_;
    $self->{admin_conn} ||= $self->connect;
    my $stats = $JSON->decode($self->{admin_conn}->cmd('DDB', 'STATS'));
    return $stats unless defined $ns;
    my $s = $stats->{namespaces}{$ns} or croak "DDB STATS has no namespace '$ns'";
    return $s;
}

# ---- DynamoDB, through DDBCache::TestEnv::Dynamo --------------------------

sub dynamo {
    my ($self, $operation, $body) = @_;
    return $self->{dynamo}->call($operation, $body);
}

sub create_table {
    my ($self, %t) = @_;
    $self->{dynamo}->create_table(%t);
    $self->{tables}{ $t{name} } = 1;
    return;
}

sub put_item {
    my ($self, $table, $item) = @_;
    $self->{dynamo}->put_item($table, $item);
    return;
}

sub get_item {
    my ($self, $table, $key) = @_;
    return $self->{dynamo}->get_item($table, $key);
}

# ---- the daemons, through DDBCache::TestEnv::Daemon -----------------------

# start_extra_daemon: one more daemon on the same Redis and dynalite, as on
# another host, with a socket, configuration file and log of its own;
# returns its socket path. Stopped by stop, before the first daemon.
sub start_extra_daemon {
    my ($self) = @_;
    my $extra = $self->{extra_daemons} ||= [];
    my $name  = 'daemon' . (@$extra + 2);
    my $file  = sub { File::Spec->catfile($self->{tmpdir}, "$name.$_[0]") };
    # Only the Unix socket: other listeners' addresses are the first daemon's.
    my $config = merge_config($self->{config},
        { listen => { unix => $file->('sock'), tcp => undef, fcgi => undef, http => undef } });
    my $daemon = DDBCache::TestEnv::Daemon->new(name => $name, procs => $self->{procs}, root => $ROOT,
        config => $config, config_path => $file->('yaml'), socket_path => $file->('sock'), log => $file->('log'));
    push @$extra, $daemon;    # before start: stop must stop it if it never gets ready
    $daemon->start;
    return $daemon->socket_path;
}

sub daemon_pid {
    my ($self) = @_;
    return $self->{daemon}->pid;
}

sub stop_daemon {
    my ($self, %opts) = @_;
    my $signal = $opts{signal} // 'TERM';
    croak "DDBCache::TestEnv: stop_daemon: signal must be TERM, INT or KILL, not $signal"
        unless $signal =~ /\A(?:TERM|INT|KILL)\z/;
    croak 'DDBCache::TestEnv: stop_daemon: the daemon is not running' unless $self->{daemon}->running;
    if (my $c = delete $self->{admin_conn}) {
        $c->close;
    }
    $self->{daemon}->stop($signal);
    return;
}

sub start_daemon {
    my ($self) = @_;
    croak 'DDBCache::TestEnv: start_daemon: the daemon is running already' if $self->{daemon}->running;
    $self->{daemon}->start;
    return;
}

sub restart_daemon {
    my ($self, %opts) = @_;
    $self->stop_daemon(%opts);
    $self->start_daemon;
    return;
}

# reload_daemon(\%over): merges %over into the daemon's configuration,
# rewrites its file, sends SIGHUP and waits for the daemon's log line that
# ends the reload; returns that line ("configuration reloaded" or "… not
# reloaded …").
sub reload_daemon {
    my ($self, $over) = @_;
    my $d = $self->{daemon};
    $self->{config} = $d->{config} = merge_config($d->{config}, $over);
    write_file($self->{config_path}, to_yaml($d->{config}));
    my $from = length(slurp($self->{daemon_log}));
    kill 'HUP', $d->pid or croak "DDBCache::TestEnv: kill HUP: $!";
    my $line;
    wait_until('the daemon to reload', sub {
        my $log = substr(slurp($self->{daemon_log}), $from);
        ($line) = $log =~ /^(.*configuration (?:not )?reloaded.*)$/m;
        return defined $line;
    });
    return $line;
}

sub pause_daemon  { my ($self) = @_; $self->{daemon}->pause;  return }
sub resume_daemon { my ($self) = @_; $self->{daemon}->resume; return }

# ---- Redis and dynalite under faults --------------------------------------

sub _spawn_redis {
    my ($self) = @_;
    $self->{procs}->spawn(redis => redis_command(port => $self->{redis_port}, dir => $self->{tmpdir}, aof => $self->{aof}),
        File::Spec->catfile($self->{tmpdir}, 'redis.log'));
    return;
}

sub _wait_redis {
    my ($self) = @_;
    $self->{procs}->wait_ready(redis => sub {
        my $c = eval { DDBCache::TestEnv::Conn->new(host => '127.0.0.1', port => $self->{redis_port}, timeout => 2) }
            or return 0;
        # LOADING (an append-only file being read) is not ready.
        my $pong = eval { $c->cmd('PING') } // '';
        return $pong eq 'PONG';
    });
    return;
}

sub stop_redis {
    my ($self, %opts) = @_;
    my $signal = $opts{signal} // 'KILL';
    croak 'DDBCache::TestEnv: stop_redis: redis-server is not running' unless $self->{procs}->get('redis');
    if (my $c = delete $self->{redis_conn}) {
        $c->close;
    }
    $self->{procs}->stop(redis => $signal);
    return;
}

sub start_redis {
    my ($self) = @_;
    croak 'DDBCache::TestEnv: start_redis: redis-server is running already' if $self->{procs}->get('redis');
    $self->_spawn_redis;
    $self->_wait_redis;
    return;
}

sub redis_running { my ($self) = @_; return $self->{procs}->get('redis') ? 1 : 0 }

sub pause_redis     { my ($self) = @_; $self->{procs}->pause('redis');     return }
sub resume_redis    { my ($self) = @_; $self->{procs}->resume('redis');    return }
sub pause_dynalite  { my ($self) = @_; $self->{procs}->pause('dynalite');  return }
sub resume_dynalite { my ($self) = @_; $self->{procs}->resume('dynalite'); return }

# stats_of($socket_path [, $ns]): stats, from the daemon on that socket (an
# extra daemon's).
sub stats_of {
    my ($self, $path, $ns) = @_;
    my $conns = $self->{stats_conns} ||= {};
    my $c     = $conns->{$path} ||= $self->connect(path => $path);
    my $stats = eval { $JSON->decode($c->cmd('DDB', 'STATS')) };
    if (!$stats) {
        delete $conns->{$path};    # a restarted daemon: a new connection, once
        $c     = $conns->{$path} = $self->connect(path => $path);
        $stats = $JSON->decode($c->cmd('DDB', 'STATS'));
    }
    return $stats unless defined $ns;
    return $stats->{namespaces}{$ns} // croak "DDB STATS has no namespace '$ns'";
}

# ---- the end -------------------------------------------------------------

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++ || $self->{owner} != $$;
    for my $c (qw(admin_conn redis_conn)) {
        $self->{$c}->close if $self->{$c};
    }
    $_->close for values %{ $self->{stats_conns} || {} };
    my @redis = $self->{cluster} ? $self->{cluster}->names : ('redis', $self->{replicas} ? $self->{replicas}->names : ());
    for my $name ((map { $_->name } @{ $self->{extra_daemons} || [] }), qw(daemon dynalite), @redis) {
        $self->{procs}->stop($name);
    }
    if ($ENV{DDBCACHE_TEST_KEEP}) {
        print {*STDERR} "# DDBCache::TestEnv: kept $self->{tmpdir}\n";
    } else {
        remove_tree($self->{tmpdir});
    }
    @LIVE = grep { $_ != $self } @LIVE;
    return;
}

END {
    local ($?, $!, $@);
    if (@LIVE && Test::Builder->can('new') && !Test::Builder->new->is_passing) {
        for my $env (@LIVE) {
            next unless $env->{owner} == $$ && -f $env->{daemon_log};
            Test::Builder->new->diag("ddbcache log ($env->{daemon_log}):\n" . tail($env->{daemon_log}));
            for my $p (grep { defined } map { $_->running } @{ $env->{extra_daemons} || [] }) {
                Test::Builder->new->diag("ddbcache log ($p->{log}):\n" . tail($p->{log}));
            }
        }
    }
    my @envs = reverse @LIVE;    # stop() takes each out of @LIVE
    $_->stop for @envs;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv - start redis-server, dynalite and the ddbcache daemon for a Perl test

=head1 SYNOPSIS

    use strict;
    use warnings;
    use FindBin;
    use lib "$FindBin::Bin/lib";
    use Test::More;
    use DDBCache::TestEnv;

    my $env = DDBCache::TestEnv->new;    # namespace "profile" on table "users"
    $env->put_item(users => { user_id => { S => '1' }, name => { S => 'Ann' } });

    my $c = $env->connect;
    like($c->cmd(qw(DDB GET profile 1)), qr/"name":"Ann"/, 'lookup');
    is($c->err(qw(DDB GET nope 1)), "ERR unknown namespace 'nope'", 'error reply');
    is($env->redis_cmd(qw(EXISTS user_profile:1)), 1, 'cached in Redis');

    done_testing;

=head1 DESCRIPTION

Integration tests run against real processes: a private C<redis-server>, a
dynalite DynamoDB-compatible server and the C<ddbcache> daemon, each on a free
loopback port or in a temporary directory. C<new> starts them and waits until
each answers (polling with a deadline). They are stopped (TERM, then KILL)
and the temporary directory removed in an C<END> block, also when the test
dies or is interrupted; set C<DDBCACHE_TEST_KEEP=1> to keep the directory
with the logs. When the test fails, the tail of the daemon's log is printed
as a diagnostic.

A missing program is an error, never a skip: the message says how to install it.

Tests need only this module; it delegates to L<DDBCache::TestEnv::Config>
(the configuration), L<DDBCache::TestEnv::Programs> (finding the programs),
L<DDBCache::TestEnv::Processes> (running them), L<DDBCache::TestEnv::Daemon>
(each daemon), L<DDBCache::TestEnv::Dynamo> (DynamoDB over HTTP) and
L<DDBCache::TestEnv::Files>.

=head1 ENVIRONMENT

C<DDBCACHE_BIN> (the daemon binary) and C<DDBCACHE_DYNALITE> (dynalite's
F<cli.js>) are described in L<DDBCache::TestEnv::Programs>. When
C<DDBCACHE_TEST_KEEP> is true, the temporary directory (config, socket,
logs) is kept. Other C<DDBCACHE_*> variables are removed from the daemon's
environment, so that a developer's settings do not override the test
configuration.

=head1 METHODS

=over

=item new(%args)

Starts everything and returns the environment. Arguments, all optional:

C<namespaces> - a hash of namespace name to namespace configuration (the
keys of F<config/namespace.go>); it adds to or replaces the default
namespace C<profile> (table C<users>, partition key C<user_id>, redis_key
C<user_profile:{user_id}>, ttl 1h, ttl_jitter 10%, negative_ttl 30s). A name
mapped to C<undef> removes that namespace.

C<config> - a hash deep-merged into the whole configuration, e.g.
C<< { limits => { max_value_bytes => 1024 }, log => { level => 'debug' } } >>;
an C<undef> value removes a key.

C<tables> - an array of C<create_table> argument hashes. Default: one table
per distinct table of the namespaces, with string (C<S>) key attributes.

C<redis_aof> - true: redis-server keeps an append-only file in C<tmpdir>, so
that C<stop_redis> and C<start_redis> bring it back with its data, as a
persistent Redis would.

C<redis_cluster> - true: the daemon runs on a private Redis Cluster of 3
masters and 3 replicas (L<DDBCache::TestEnv::Cluster>, reached through
C<cluster>) instead of one redis-server; C<redis_cmd> then dies.

C<redis_replicas> - a number: that many read replicas of the redis-server
(L<DDBCache::TestEnv::Replicas>, reached through C<replicas>), and a daemon
that reads from them (C<redis.read_from_replicas>, C<redis.replica_addrs>);
C<redis_cmd> and C<redis_port> are the primary's.

=item socket_path, redis_port, dynamo_endpoint, daemon_log, config_path, tmpdir, repo_root

Where things are. C<dynamo_endpoint> is an URL (C<http://127.0.0.1:PORT>).

=item daemon_log_text

The daemon's log so far, as text.

=item connect(%opts)

A new L<DDBCache::TestEnv::Conn> to the daemon's Unix socket. C<timeout>
(seconds, default 10) bounds connecting and waiting for each reply. When the
configuration sets C<listen.password>, the connection sends C<AUTH> first,
unless C<< auth => 0 >>. C<path> connects to another socket (one that
C<start_extra_daemon> returned).

=item redis_cmd(@args)

Runs a command on the private redis-server itself (over TCP, not through the
daemon), to look at what the daemon stored; returns like C<< $conn->cmd >>.

=item stats([$namespace])

C<DDB STATS> decoded from JSON; with a namespace name, that namespace's
counters (C<hits_local>, C<hits_redis>, C<misses>, C<negative_hits>,
C<dynamodb_reads>, ...).

=item client(%opts)

A new L<DDBCache::Client> on the daemon's socket, with C<%opts> passed to its
C<new> (C<timeout>, C<namespace>, ...). The test must have F<perl/lib> in C<@INC>.

=item create_table(name => T, partition_key => K, [partition_type => 'S'|'N'|'B', sort_key => S, sort_type => ...])

=item put_item($table, \%item), get_item($table, \%key), dynamo($operation, \%body)

Straight to dynalite, behind the cache's back: create a PAY_PER_REQUEST
table and wait until it is ACTIVE, write an item (DynamoDB JSON:
C<< { user_id => { S => '1' }, age => { N => '42' } } >>), read one
(consistent read; its DynamoDB JSON hash, or undef), or make any call
(C<'Scan'>, C<'DeleteItem'>, ...; the decoded response). A failed call dies
with the error type and message. See L<DDBCache::TestEnv::Dynamo>.

=item start_extra_daemon

Starts one more daemon on the same redis-server and dynalite, as a daemon on
another host would run, with the same configuration except its own Unix
socket (and no TCP, FastCGI or HTTP listener), configuration file and log
in C<tmpdir>; waits until it answers C<PING> and returns its socket path,
for C<< DDBCache::Client->new(socket => $path) >> or C<< connect(path => $path) >>.
It is stopped by C<stop>; C<stop_daemon> and the other methods about
"the daemon" concern the first one only.

=item stop_daemon([signal => 'TERM'|'INT'|'KILL'])

Stops the daemon with the signal (default C<TERM>: a clean stop that removes
the socket; C<KILL> leaves a stale socket file, as a crash does) and waits
until it has exited. Redis and dynalite keep running.

=item start_daemon

Starts the daemon again with the same configuration, socket and log, and
waits until it answers C<PING>.

=item restart_daemon([signal => ...])

C<stop_daemon> then C<start_daemon>.

=item reload_daemon(\%over)

Merges C<%over> into the daemon's configuration (as C<new>'s C<config>),
rewrites its file, sends SIGHUP and waits for the log line that ends the
reload, which it returns: C<configuration reloaded …> or C<… not
reloaded …>.

=item daemon_pid

The daemon's process id.

=item pause_daemon, resume_daemon

Send the daemon C<SIGSTOP> and C<SIGCONT>; C<pause_daemon> returns once
every thread of the daemon has stopped. A paused daemon accepts
connections (the kernel queues them) but answers nothing. C<stop> and
C<stop_daemon> resume it first.

=item stop_redis([signal => 'KILL'|'TERM'|...]), start_redis, redis_running

Stop redis-server (default C<KILL>: a crash) and wait for its exit; start
it again on the same port and directory (with C<redis_aof>, with its data)
and wait until it answers C<PING>; whether it runs.

=item pause_redis, resume_redis, pause_dynalite, resume_dynalite

C<SIGSTOP> and C<SIGCONT> to redis-server or dynalite: a hung server, whose
connections stay open and unanswered. C<pause_*> returns once every thread
has stopped.

=item stats_of($socket_path [, $namespace])

C<stats> of the daemon on another socket (one that C<start_extra_daemon>
returned), over a connection kept for the next call (made again once if the
daemon restarted).

=item stop

Stops the daemon, dynalite and redis-server and removes the temporary
directory. Called from C<END>; calling it earlier is allowed.

=back

=head1 FUNCTIONS

Called with the package name, e.g. C<DDBCache::TestEnv::free_port()>.

=over

=item free_port

A loopback TCP port that was free a moment ago.

=item which_program($name, @extra_dirs), merge_config(\%base, \%over), write_file($path, $text), slurp($path)

The path of an executable in C<PATH> or @extra_dirs, or undef
(L<DDBCache::TestEnv::Programs>); a deep merge of two nested hashes, where
an undef value in %over removes the key (L<DDBCache::TestEnv::Config>);
write a file, dying on errors, and read one, '' when it cannot be read
(L<DDBCache::TestEnv::Files>).

=back

=head1 ERRORS

C<new> dies (it does not skip) when redis-server, node, dynalite or the
daemon binary is missing, or a server does not become ready within 30
seconds; the message includes the install command or the tail of the
server's log. Connection problems and timeouts in C<Conn> croak with a
message naming the peer.

=head1 SEE ALSO

L<DDBCache::TestEnv::Conn> (the RESP client), F<DESIGN.md> (the RESP protocol), F<internal/testenv> (the same helper for Go tests).

=cut
