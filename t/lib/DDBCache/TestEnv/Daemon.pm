package DDBCache::TestEnv::Daemon;

# One ddbcache daemon under test: its configuration file, Unix socket and
# log, how to start it and know it is ready (it answers PING), and how to
# stop, pause and resume it. Apart from DDBCache::TestEnv, which runs one
# daemon or several on the same Redis and dynalite, so that what is done
# to a daemon is written once for all of them.

use strict;
use warnings;

use Carp qw(croak);

use DDBCache::TestEnv::Config qw(to_yaml);
use DDBCache::TestEnv::Conn;
use DDBCache::TestEnv::Files qw(write_file);
use DDBCache::TestEnv::Processes qw(wait_until threads_stopped);
use DDBCache::TestEnv::Programs qw(daemon_program);

our $VERSION = '0.01';

# Errors are reported where a test called DDBCache::TestEnv, which delegates here.
our @CARP_NOT = qw(DDBCache::TestEnv);

sub new {
    my ($class, %args) = @_;
    for my $k (qw(name procs config config_path socket_path log root)) {
        croak "DDBCache::TestEnv::Daemon->new: $k is required" unless defined $args{$k};
    }
    my $self = bless { %args }, $class;
    write_file($self->{config_path}, to_yaml($self->{config}));
    return $self;
}

sub name        { return $_[0]{name} }
sub log_path    { return $_[0]{log} }
sub socket_path { return $_[0]{socket_path} }

sub running {
    my ($self) = @_;
    return $self->{procs}->get($self->{name});
}

sub pid {
    my ($self) = @_;
    my $p = $self->running or croak 'DDBCache::TestEnv: the daemon is not running';
    return $p->{pid};
}

sub connect {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, %opts) = @_;
    my $auth = delete $opts{auth} // 1;
    my $conn = DDBCache::TestEnv::Conn->new(path => $self->socket_path, %opts);
    # With listen.password set, log in, so that helpers and tests can talk.
    my $password = $self->{config}{listen}{password};
    $conn->cmd('AUTH', $password) if $auth && defined $password && length $password;
    return $conn;
}

sub start {
    my ($self) = @_;
    my $argv = [daemon_program(root => $self->{root}), '--config', $self->{config_path}, 'serve'];
    $self->{procs}->spawn($self->{name} => $argv, $self->{log});
    $self->{procs}->wait_ready($self->{name} => sub {
        my $c = eval { $self->connect(timeout => 2) } or return 0;
        my $pong = eval { $c->cmd('PING') } // '';
        return $pong eq 'PONG';
    });
    return $self;
}

sub stop {
    my ($self, $signal) = @_;
    $self->{procs}->stop($self->{name} => $signal);
    return;
}

sub pause {
    my ($self) = @_;
    my $pid = $self->pid;
    kill 'STOP', $pid or croak "DDBCache::TestEnv: kill STOP: $!";
    # The signal is delivered asynchronously: wait until every thread has stopped.
    wait_until("the daemon (pid $pid) to stop", sub { threads_stopped($pid) });
    return;
}

sub resume {
    my ($self) = @_;
    kill 'CONT', $self->pid or croak "DDBCache::TestEnv: kill CONT: $!";
    return;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Daemon - one ddbcache daemon run by a test environment

=head1 SYNOPSIS

    my $daemon = DDBCache::TestEnv::Daemon->new(
        name        => 'daemon2',                  # its name in the process table
        procs       => $procs,                     # a DDBCache::TestEnv::Processes
        config      => $config,
        config_path => "$dir/daemon2.yaml",        # written by new
        socket_path => "$dir/daemon2.sock",        # $config's listen.unix
        log         => "$dir/daemon2.log",
        root        => $repo,                      # where bin/ddbcache is
    )->start;
    my $conn = $daemon->connect;
    $daemon->stop('KILL');

=head1 DESCRIPTION

L<DDBCache::TestEnv> makes one of these for its daemon and one for each
extra daemon; its C<connect>, C<daemon_pid>, C<stop_daemon>,
C<start_daemon>, C<pause_daemon> and C<resume_daemon> call the first
daemon's methods below. The daemon runs C<ddbcache --config FILE serve> (see
L<DDBCache::TestEnv::Programs> for the binary) as a child process of the
table C<procs>.

=head1 METHODS

=over

=item new(name => $name, procs => $procs, config => \%config, config_path => $file, socket_path => $path, log => $file, root => $repo)

Writes the configuration to C<config_path> as YAML; does not start the
daemon. C<socket_path> is where the daemon is reached: the configuration's
C<listen.unix>.

=item name, log_path, socket_path

The name in the process table, the log file, and the Unix socket.

=item start

Starts the daemon and waits until it answers C<PING> on its socket (at most
30 seconds); returns the object.

=item running

The process record while the daemon runs (see
L<DDBCache::TestEnv::Processes/get>), or undef.

=item pid

The daemon's process id.

=item connect(%opts)

A new L<DDBCache::TestEnv::Conn> to the daemon's socket (C<path> and
C<timeout> are passed on); sends C<AUTH> first when the configuration sets
C<listen.password>, unless C<< auth => 0 >>.

=item stop([$signal])

Stops the daemon with C<$signal> (default C<TERM>; C<KILL> after 5 seconds)
and waits until it has exited; does nothing when it is not running.

=item pause, resume

Send C<SIGSTOP> and C<SIGCONT>; C<pause> returns once every thread of the
daemon has stopped.

=back

=head1 ERRORS

C<pid>, C<pause> and C<resume> croak C<the daemon is not running> when it
is not; C<start> dies with the tail of the log when the daemon exits or
does not answer in time.

=head1 SEE ALSO

L<DDBCache::TestEnv>, L<DDBCache::TestEnv::Processes>.

=cut
