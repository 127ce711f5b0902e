package DDBCache::TestEnv;

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(getcwd);
use File::Basename qw(dirname);
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

use DDBCache::TestEnv::Conn;

our $VERSION = '0.01';

# The repository root: this file is <root>/t/lib/DDBCache/TestEnv.pm.
my $ROOT = File::Spec->rel2abs(
    File::Spec->catdir(dirname(File::Spec->rel2abs(__FILE__)), (File::Spec->updir) x 3));
$ROOT = Cwd::abs_path($ROOT) // $ROOT;

# How long a server may take to become ready, and a stopped one to exit.
my $READY_TIMEOUT = 30;
my $STOP_TIMEOUT  = 5;
# The pause between two polls of a readiness condition.
my $POLL_INTERVAL = 0.05;
# sun_path is 108 bytes on Linux, 104 on BSDs.
my $MAX_SOCKET_PATH = 100;

# Every environment started by this process, stopped in END.
my @LIVE;

my $JSON = JSON::PP->new->utf8->canonical;

# The AWS headers that dynalite wants to see; it does not check the signature.
my %AWS_HEADERS = (
    'Content-Type'  => 'application/x-amz-json-1.0',
    'X-Amz-Date'    => '20260101T000000Z',
    'Authorization' => 'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, '
        . 'SignedHeaders=host, Signature=x',
);

sub _default_namespaces {
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

sub new {
    my ($class, %args) = @_;
    my %known = map { $_ => 1 } qw(namespaces config tables);
    for my $k (sort keys %args) {
        croak "DDBCache::TestEnv->new: unknown argument '$k'" unless $known{$k};
    }
    my $self = bless {
        owner    => $$,
        procs    => {},
        tables   => {},
        tmpdir   => _tempdir(),
    }, $class;
    push @LIVE, $self;
    _trap_signals();

    $self->{redis_port}    = free_port();
    $self->{dynalite_port} = free_port();
    $self->{socket_path}   = File::Spec->catfile($self->{tmpdir}, 'ddbcache.sock');
    $self->{daemon_log}    = File::Spec->catfile($self->{tmpdir}, 'ddbcache.log');
    $self->{config_path}   = File::Spec->catfile($self->{tmpdir}, 'ddbcache.yaml');

    $self->_start_redis;
    $self->_start_dynalite;
    $self->_wait_redis;
    $self->_wait_dynalite;

    my $namespaces = _default_namespaces();
    for my $name (sort keys %{ $args{namespaces} || {} }) {
        my $ns = $args{namespaces}{$name};
        if (defined $ns) { $namespaces->{$name} = $ns } else { delete $namespaces->{$name} }
    }
    my $config = merge_config({
        redis      => { addrs => ["127.0.0.1:$self->{redis_port}"] },
        dynamodb   => { region => 'us-east-1', endpoint => $self->dynamo_endpoint },
        listen     => { unix => $self->{socket_path} },
        namespaces => $namespaces,
    }, $args{config} || {});
    $self->{config} = $config;

    my $tables = $args{tables};
    if (!defined $tables) {
        my %seen;
        $tables = [];
        for my $name (sort keys %{ $config->{namespaces} }) {
            my $ns = $config->{namespaces}{$name};
            next if $seen{ $ns->{table} }++;
            push @$tables, {
                name          => $ns->{table},
                partition_key => $ns->{partition_key},
                ($ns->{sort_key} ? (sort_key => $ns->{sort_key}) : ()),
            };
        }
    }
    $self->create_table(%$_) for @$tables;

    write_file($self->{config_path}, _yaml($config));
    $self->_start_daemon;
    return $self;
}

# ---- accessors -----------------------------------------------------------

sub socket_path     { return $_[0]{socket_path} }
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

# ---- clients -------------------------------------------------------------

sub connect {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, %opts) = @_;
    my $auth = delete $opts{auth} // 1;
    my $conn = DDBCache::TestEnv::Conn->new(path => $self->{socket_path}, %opts);
    # With listen.password set, log in, so that helpers and tests can talk.
    my $password = $self->{config}{listen}{password};
    $conn->cmd('AUTH', $password) if $auth && defined $password && length $password;
    return $conn;
}

sub redis_cmd {
    my ($self, @args) = @_;
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

# ---- DynamoDB ------------------------------------------------------------

sub dynamo {
    my ($self, $operation, $body) = @_;
    my $res = $self->_dynamo_request($operation, $body);
    if (!$res->{success}) {
        my $err = eval { $JSON->decode($res->{content}) } || {};
        my $type = $err->{__type} // '';
        $type =~ s/.*#//;
        croak sprintf 'DynamoDB %s: HTTP %s %s: %s', $operation, $res->{status}, $type,
            $err->{message} // $err->{Message} // $res->{content};
    }
    return length $res->{content} ? $JSON->decode($res->{content}) : {};
}

sub create_table {
    my ($self, %t) = @_;
    my $name = $t{name} or croak 'create_table: name is required';
    my $pk   = $t{partition_key} or croak 'create_table: partition_key is required';
    my @attrs = ({ AttributeName => $pk, AttributeType => $t{partition_type} || 'S' });
    my @keys  = ({ AttributeName => $pk, KeyType => 'HASH' });
    if (my $sk = $t{sort_key}) {
        push @attrs, { AttributeName => $sk, AttributeType => $t{sort_type} || 'S' };
        push @keys,  { AttributeName => $sk, KeyType => 'RANGE' };
    }
    $self->dynamo('CreateTable', {
        TableName            => $name,
        AttributeDefinitions => \@attrs,
        KeySchema            => \@keys,
        BillingMode          => 'PAY_PER_REQUEST',
    });
    # dynalite answers CREATING and turns ACTIVE on a timer (0 ms here).
    _wait_until("table $name to become ACTIVE", sub {
        $self->dynamo('DescribeTable', { TableName => $name })->{Table}{TableStatus} eq 'ACTIVE';
    });
    $self->{tables}{$name} = 1;
    return;
}

sub put_item {
    my ($self, $table, $item) = @_;
    $self->dynamo('PutItem', { TableName => $table, Item => $item });
    return;
}

sub get_item {
    my ($self, $table, $key) = @_;
    my $res = $self->dynamo('GetItem', { TableName => $table, Key => $key, ConsistentRead => JSON::PP::true });
    return $res->{Item};
}

sub _dynamo_request {
    my ($self, $operation, $body) = @_;
    $self->{http} ||= HTTP::Tiny->new(timeout => 10);
    return $self->{http}->post($self->dynamo_endpoint . '/', {
        headers => { %AWS_HEADERS, 'X-Amz-Target' => "DynamoDB_20120810.$operation" },
        content => $JSON->encode($body),
    });
}

# ---- processes -----------------------------------------------------------

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
        or die "DDBCache::TestEnv: cannot bind a loopback port: $@\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub _start_redis {
    my ($self) = @_;
    my $bin = which_program('redis-server')
        or die "DDBCache::TestEnv: redis-server not found; install it with: apt-get install -y redis-server (or run make deps)\n";
    $self->_spawn(redis => [
        $bin, '--port', $self->{redis_port}, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--daemonize', 'no', '--logfile', '', '--dir', $self->{tmpdir},
    ]);
    return;
}

sub _wait_redis {
    my ($self) = @_;
    $self->_wait_ready(redis => sub {
        my $c = eval { DDBCache::TestEnv::Conn->new(host => '127.0.0.1', port => $self->{redis_port}, timeout => 2) }
            or return 0;
        my $pong = eval { $c->cmd('PING') } // '';
        return $pong eq 'PONG';
    });
    return;
}

sub _start_dynalite {
    my ($self) = @_;
    my $cli = $ENV{DDBCACHE_DYNALITE} || File::Spec->catfile($ROOT, qw(.deps node_modules dynalite cli.js));
    die "DDBCache::TestEnv: dynalite not found at $cli; install it with: "
        . "npm install --prefix .deps dynalite\@4.0.0 (or run make deps)\n" unless -f $cli;
    my $node = which_program('node')
        or die "DDBCache::TestEnv: node not found; install it with: apt-get install -y nodejs (or run make deps)\n";
    $self->_spawn(dynalite => [
        $node, $cli, '--port', $self->{dynalite_port}, '--host', '127.0.0.1',
        '--createTableMs', 0, '--deleteTableMs', 0, '--updateTableMs', 0,
    ]);
    return;
}

sub _wait_dynalite {
    my ($self) = @_;
    # Any HTTP answer (599 is HTTP::Tiny's own "could not connect") means it listens.
    $self->_wait_ready(dynalite => sub { $self->_dynamo_request('ListTables', {})->{status} != 599 });
    return;
}

sub _daemon_bin {
    my ($self) = @_;
    if (my $bin = $ENV{DDBCACHE_BIN}) {
        die "DDBCache::TestEnv: DDBCACHE_BIN=$bin is not an executable file\n" unless -f $bin && -x _;
        return $bin;
    }
    my $bin = File::Spec->catfile($ROOT, 'bin', 'ddbcache');
    return $bin if -f $bin && -x _;
    my $go = which_program('go') || (-x '/usr/local/go/bin/go' ? '/usr/local/go/bin/go' : undef)
        or die "DDBCache::TestEnv: $bin is missing and go is not installed to build it\n";
    my $cwd = getcwd;
    chdir $ROOT or die "DDBCache::TestEnv: chdir $ROOT: $!\n";
    my $rc = system { $go } $go, 'build', '-o', $bin, './cmd/ddbcache';
    chdir $cwd or die "DDBCache::TestEnv: chdir $cwd: $!\n";
    die "DDBCache::TestEnv: go build -o bin/ddbcache ./cmd/ddbcache failed\n" if $rc != 0;
    return $bin;
}

sub _start_daemon {
    my ($self) = @_;
    $self->_spawn(daemon => [$self->_daemon_bin, '--config', $self->{config_path}, 'serve'], $self->{daemon_log});
    $self->_wait_ready(daemon => sub {
        my $c = eval { $self->connect(timeout => 2) } or return 0;
        my $pong = eval { $c->cmd('PING') } // '';
        return $pong eq 'PONG';
    });
    return;
}

# start_extra_daemon: one more daemon on the same Redis and dynalite, as on
# another host, with a socket, configuration file and log of its own;
# returns its socket path. Stopped by stop, before the first daemon.
sub start_extra_daemon {
    my ($self) = @_;
    my $extra = $self->{extra_daemons} ||= [];
    my $name  = 'daemon' . (@$extra + 2);
    my $path  = File::Spec->catfile($self->{tmpdir}, "$name.sock");
    my $config_path = File::Spec->catfile($self->{tmpdir}, "$name.yaml");
    # Only the Unix socket: other listeners' addresses are the first daemon's.
    my $config = merge_config($self->{config},
        { listen => { unix => $path, tcp => undef, fcgi => undef, http => undef } });
    write_file($config_path, _yaml($config));
    push @$extra, $name;
    $self->_spawn($name => [$self->_daemon_bin, '--config', $config_path, 'serve'],
        File::Spec->catfile($self->{tmpdir}, "$name.log"));
    $self->_wait_ready($name => sub {
        my $c = eval { $self->connect(path => $path, timeout => 2) } or return 0;
        my $pong = eval { $c->cmd('PING') } // '';
        return $pong eq 'PONG';
    });
    return $path;
}

# ---- the daemon's life --------------------------------------------------

sub daemon_pid {
    my ($self) = @_;
    my $p = $self->{procs}{daemon} or croak 'DDBCache::TestEnv: the daemon is not running';
    return $p->{pid};
}

sub stop_daemon {
    my ($self, %opts) = @_;
    my $signal = $opts{signal} // 'TERM';
    croak "DDBCache::TestEnv: stop_daemon: signal must be TERM, INT or KILL, not $signal"
        unless $signal =~ /\A(?:TERM|INT|KILL)\z/;
    croak 'DDBCache::TestEnv: stop_daemon: the daemon is not running' unless $self->{procs}{daemon};
    if (my $c = delete $self->{admin_conn}) {
        $c->close;
    }
    $self->_stop_process(daemon => $signal);
    return;
}

sub start_daemon {
    my ($self) = @_;
    croak 'DDBCache::TestEnv: start_daemon: the daemon is running already' if $self->{procs}{daemon};
    $self->_start_daemon;
    return;
}

sub restart_daemon {
    my ($self, %opts) = @_;
    $self->stop_daemon(%opts);
    $self->start_daemon;
    return;
}

sub pause_daemon {
    my ($self) = @_;
    my $pid = $self->daemon_pid;
    kill 'STOP', $pid or croak "DDBCache::TestEnv: kill STOP: $!";
    # The signal is delivered asynchronously: wait until every thread has stopped.
    _wait_until("the daemon (pid $pid) to stop", sub { _all_threads_stopped($pid) });
    return;
}

# _all_threads_stopped($pid): every thread of the process is in state T
# (stopped), per /proc/PID/task/TID/stat.
sub _all_threads_stopped {
    my ($pid) = @_;
    opendir(my $dh, "/proc/$pid/task") or return 1;    # no /proc: nothing to wait for
    my @tids = grep { /\A[0-9]+\z/ } readdir $dh;
    closedir $dh;
    for my $tid (@tids) {
        my $stat = slurp("/proc/$pid/task/$tid/stat");
        my ($state) = $stat =~ /\)\s+(\S)/;
        return 0 unless defined $state && ($state eq 'T' || $state eq 't');
    }
    return 1;
}

sub resume_daemon {
    my ($self) = @_;
    kill 'CONT', $self->daemon_pid or croak "DDBCache::TestEnv: kill CONT: $!";
    return;
}

# _spawn(name => [argv], logfile): runs argv with stdout and stderr in logfile.
sub _spawn {
    my ($self, $name, $argv, $log) = @_;
    $log //= File::Spec->catfile($self->{tmpdir}, "$name.log");
    my $pid = fork // die "DDBCache::TestEnv: fork: $!\n";
    if ($pid == 0) {
        # The child must never return into the test, nor run its END blocks.
        delete @ENV{ grep { /\ADDBCACHE_/ } keys %ENV };
        if (open(STDIN, '<', File::Spec->devnull) && open(STDOUT, '>>', $log) && open(STDERR, '>&', \*STDOUT)) {
            exec { $argv->[0] } @$argv;
        }
        print {*STDERR} "DDBCache::TestEnv: exec $argv->[0]: $!\n";
        _exit(127);
    }
    $self->{procs}{$name} = { pid => $pid, log => $log, argv => $argv };
    return $pid;
}

sub _wait_ready {
    my ($self, $name, $ready) = @_;
    my $p = $self->{procs}{$name};
    my $deadline = time + $READY_TIMEOUT;
    while (1) {
        return if $ready->();
        if (waitpid($p->{pid}, WNOHANG) == $p->{pid}) {
            my $status = $? & 127 ? 'was killed by signal ' . ($? & 127) : 'exited with code ' . ($? >> 8);
            delete $self->{procs}{$name};
            die "DDBCache::TestEnv: $name (@{ $p->{argv} }) $status before it was ready; "
                . "its log:\n" . _tail($p->{log});
        }
        die "DDBCache::TestEnv: $name not ready after ${READY_TIMEOUT}s; its log:\n" . _tail($p->{log})
            if time > $deadline;
        sleep $POLL_INTERVAL;
    }
}

sub _wait_until {
    my ($what, $cond) = @_;
    my $deadline = time + $READY_TIMEOUT;
    until ($cond->()) {
        die "DDBCache::TestEnv: timed out waiting for $what\n" if time > $deadline;
        sleep $POLL_INTERVAL;
    }
    return;
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++ || $self->{owner} != $$;
    for my $c (qw(admin_conn redis_conn)) {
        $self->{$c}->close if $self->{$c};
    }
    for my $name (@{ $self->{extra_daemons} || [] }, qw(daemon dynalite redis)) {
        $self->_stop_process($name);
    }
    if ($ENV{DDBCACHE_TEST_KEEP}) {
        print {*STDERR} "# DDBCache::TestEnv: kept $self->{tmpdir}\n";
    } else {
        remove_tree($self->{tmpdir});
    }
    @LIVE = grep { $_ != $self } @LIVE;
    return;
}

sub _stop_process {
    my ($self, $name, $signal) = @_;
    my $p = delete $self->{procs}{$name} or return;
    my $pid = $p->{pid};
    kill 'CONT', $pid;    # a stopped process would act on TERM only once continued
    kill $signal // 'TERM', $pid;
    my $deadline = time + $STOP_TIMEOUT;
    while (time < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return if $r == $pid || $r == -1;
        sleep $POLL_INTERVAL;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return;
}

sub _trap_signals {
    my %number = (HUP => 1, INT => 2, TERM => 15);
    for my $sig (sort keys %number) {
        next if $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
        $SIG{$sig} = sub { exit 128 + $number{$sig} };    # exit runs END, which stops the servers
    }
    return;
}

END {
    local ($?, $!, $@);
    if (@LIVE && Test::Builder->can('new') && !Test::Builder->new->is_passing) {
        for my $env (@LIVE) {
            next unless $env->{owner} == $$ && -f $env->{daemon_log};
            Test::Builder->new->diag("ddbcache log ($env->{daemon_log}):\n" . _tail($env->{daemon_log}));
            for my $p (grep { defined } map { $env->{procs}{$_} } @{ $env->{extra_daemons} || [] }) {
                Test::Builder->new->diag("ddbcache log ($p->{log}):\n" . _tail($p->{log}));
            }
        }
    }
    my @envs = reverse @LIVE;    # stop() takes each out of @LIVE
    $_->stop for @envs;
}

# ---- helpers -------------------------------------------------------------

sub _tempdir {
    my $dir = tempdir('ddbcache-t-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    if (length($dir) + length('/ddbcache.sock') > $MAX_SOCKET_PATH) {
        remove_tree($dir);
        $dir = tempdir('ddbcache-t-XXXXXX', DIR => '/tmp', CLEANUP => 0);
    }
    return $dir;
}

sub which_program {
    my ($prog, @more) = @_;
    for my $dir (File::Spec->path, @more) {
        my $path = File::Spec->catfile($dir, $prog);
        return $path if -f $path && -x _;
    }
    return;
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

# _yaml renders nested hashes in block style; arrays and strings are written
# as JSON, which YAML reads as flow sequences and double-quoted scalars.
sub _yaml {
    my ($h, $indent) = @_;
    $indent //= 0;
    my $pad = ' ' x $indent;
    my $out = '';
    for my $k (sort keys %$h) {
        my $v = $h->{$k};
        next unless defined $v;
        if (ref $v eq 'HASH') {
            $out .= "$pad$k:" . (%$v ? "\n" . _yaml($v, $indent + 2) : " {}\n");
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

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "DDBCache::TestEnv: write $path: $!\n";
    print {$fh} $text or die "DDBCache::TestEnv: write $path: $!\n";
    close $fh or die "DDBCache::TestEnv: write $path: $!\n";
    return;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text // '';
}

sub _tail {
    my ($path, $lines) = @_;
    my @l = split /\n/, slurp($path);
    @l = @l[-($lines || 40) .. -1] if @l > ($lines || 40);
    return join('', map { "    $_\n" } @l) || "    (empty)\n";
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

=head1 ENVIRONMENT

=over

=item DDBCACHE_BIN

The daemon binary. Default: F<bin/ddbcache> in the repository, built with
C<go build -o bin/ddbcache ./cmd/ddbcache> when it does not exist.

=item DDBCACHE_DYNALITE

dynalite's F<cli.js>. Default: F<.deps/node_modules/dynalite/cli.js>.

=item DDBCACHE_TEST_KEEP

When true, the temporary directory (config, socket, logs) is kept.

=back

Other C<DDBCACHE_*> variables are removed from the daemon's environment, so
that a developer's settings do not override the test configuration.

=head1 METHODS

=over

=item new(%args)

Starts everything and returns the environment. Arguments, all optional:

C<namespaces> - a hash of namespace name to namespace configuration (the
keys of F<cmd/ddbcache/config.go>); it adds to or replaces the default
namespace C<profile> (table C<users>, partition key C<user_id>, redis_key
C<user_profile:{user_id}>, ttl 1h, ttl_jitter 10%, negative_ttl 30s). A name
mapped to C<undef> removes that namespace.

C<config> - a hash deep-merged into the whole configuration, e.g.
C<< { limits => { max_value_bytes => 1024 }, log => { level => 'debug' } } >>;
an C<undef> value removes a key.

C<tables> - an array of C<create_table> argument hashes. Default: one table
per distinct table of the namespaces, with string (C<S>) key attributes.

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

=item create_table(name => T, partition_key => K, [partition_type => 'S'|'N'|'B', sort_key => S, sort_type => ...])

Creates a PAY_PER_REQUEST table in dynalite and waits until it is ACTIVE.

=item put_item($table, \%item)

Writes an item straight to DynamoDB, behind the cache's back. The item is
DynamoDB JSON: C<< { user_id => { S => '1' }, age => { N => '42' } } >>.

=item get_item($table, \%key)

Reads an item straight from DynamoDB (consistent read); returns its DynamoDB
JSON hash, or undef.

=item dynamo($operation, \%body)

Any DynamoDB call (C<'Scan'>, C<'DeleteItem'>, ...); returns the decoded
response, dies with the error type and message on failure.

=item client(%opts)

A new L<DDBCache::Client> on the daemon's socket, with C<%opts> passed to its
C<new> (C<timeout>, C<namespace>, ...). The test must have F<perl/lib> in C<@INC>.

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

=item daemon_pid

The daemon's process id.

=item pause_daemon, resume_daemon

Send the daemon C<SIGSTOP> and C<SIGCONT>; C<pause_daemon> returns once
every thread of the daemon has stopped. A paused daemon accepts
connections (the kernel queues them) but answers nothing. C<stop> and
C<stop_daemon> resume it first.

=item stop

Stops the daemon, dynalite and redis-server and removes the temporary
directory. Called from C<END>; calling it earlier is allowed.

=item free_port

A function: a loopback TCP port that was free a moment ago.

=item which_program($name, @extra_dirs)

A function: the path of an executable in C<PATH> or in @extra_dirs, or undef.

=item merge_config(\%base, \%over)

A function: a deep merge of two nested hashes; an undef value in %over
removes the key.

=item write_file($path, $text), slurp($path)

Functions: write a file (dying on errors), and read one ('' when it cannot
be read).

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
