package DDBCache::TestEnv::Processes;

# The child processes of one test environment, by name: start a server with
# its output in a log, wait until it is ready (or report its log when it
# dies), stop it (TERM, then KILL). Apart from DDBCache::TestEnv so that
# fork, exec, waitpid and their deadlines live in one place, away from what
# each server is.

use strict;
use warnings;

use Exporter qw(import);
use File::Spec;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

use DDBCache::TestEnv::Files qw(slurp tail);

our $VERSION   = '0.01';
our @EXPORT_OK = qw(wait_until threads_stopped trap_signals);

# How long a server may take to become ready, and a stopped one to exit.
my $READY_TIMEOUT = 30;
my $STOP_TIMEOUT  = 5;
# The pause between two polls of a readiness condition. Polled because the
# servers (redis-server, dynalite, the daemon, nginx…) give no signal of
# their own when they are ready: the check is that they answer.
my $POLL_INTERVAL = 0.05;

sub new {
    my ($class, %args) = @_;
    return bless { dir => $args{dir}, procs => {} }, $class;
}

sub get {
    my ($self, $name) = @_;
    return $self->{procs}{$name};
}

# spawn(name => [argv], logfile): runs argv with stdout and stderr in logfile.
sub spawn {
    my ($self, $name, $argv, $log) = @_;
    $log //= File::Spec->catfile($self->{dir}, "$name.log");
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

sub wait_ready {
    my ($self, $name, $ready) = @_;
    my $p = $self->{procs}{$name};
    my $deadline = time + $READY_TIMEOUT;
    while (1) {
        return if $ready->();
        if (waitpid($p->{pid}, WNOHANG) == $p->{pid}) {
            my $status = $? & 127 ? 'was killed by signal ' . ($? & 127) : 'exited with code ' . ($? >> 8);
            delete $self->{procs}{$name};
            die "DDBCache::TestEnv: $name (@{ $p->{argv} }) $status before it was ready; "
                . "its log:\n" . tail($p->{log});
        }
        die "DDBCache::TestEnv: $name not ready after ${READY_TIMEOUT}s; its log:\n" . tail($p->{log})
            if time > $deadline;
        sleep $POLL_INTERVAL;
    }
}

sub stop {
    my ($self, $name, $signal) = @_;
    my $p = delete $self->{procs}{$name} or return;
    my $pid = $p->{pid};
    kill 'CONT', $pid;    # a stopped process would act on TERM only once continued
    kill $signal // 'TERM', $pid;
    # Its exit is the signal: a blocking waitpid, cut short by an alarm.
    my $gone = eval {
        local $SIG{ALRM} = sub { die "stop timeout\n" };
        alarm $STOP_TIMEOUT;
        my $r = waitpid($pid, 0);
        alarm 0;
        $r == $pid || $r == -1;
    };
    alarm 0;
    return if $gone;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return;
}

# pause($name): SIGSTOP, and returns once every thread has stopped (the
# signal is delivered asynchronously). resume($name): SIGCONT.
sub pause {
    my ($self, $name) = @_;
    my $p = $self->{procs}{$name} or die "DDBCache::TestEnv: $name is not running\n";
    kill 'STOP', $p->{pid} or die "DDBCache::TestEnv: kill STOP $name: $!\n";
    wait_until("$name (pid $p->{pid}) to stop", sub { threads_stopped($p->{pid}) });
    return;
}

sub resume {
    my ($self, $name) = @_;
    my $p = $self->{procs}{$name} or die "DDBCache::TestEnv: $name is not running\n";
    kill 'CONT', $p->{pid} or die "DDBCache::TestEnv: kill CONT $name: $!\n";
    return;
}

sub wait_until {
    my ($what, $cond) = @_;
    my $deadline = time + $READY_TIMEOUT;
    until ($cond->()) {
        die "DDBCache::TestEnv: timed out waiting for $what\n" if time > $deadline;
        sleep $POLL_INTERVAL;
    }
    return;
}

# threads_stopped($pid): every thread of the process is in state T
# (stopped), per /proc/PID/task/TID/stat.
sub threads_stopped {
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

sub trap_signals {
    my %number = (HUP => 1, INT => 2, PIPE => 13, TERM => 15);
    for my $sig (sort keys %number) {
        next if $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
        $SIG{$sig} = sub { exit 128 + $number{$sig} };    # exit runs END, which stops the servers
    }
    return;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Processes - start, wait for and stop the servers of a test environment

=head1 SYNOPSIS

    use DDBCache::TestEnv::Processes qw(wait_until trap_signals);

    trap_signals();
    my $procs = DDBCache::TestEnv::Processes->new(dir => $tmpdir);
    $procs->spawn(redis => ['/usr/bin/redis-server', '--port', $port]);    # log: $tmpdir/redis.log
    $procs->wait_ready(redis => sub { ping($port) });
    ...
    $procs->stop('redis');

=head1 DESCRIPTION

A table of child processes by name, for L<DDBCache::TestEnv>. A child runs
its program with standard input from F</dev/null>, standard output and
error appended to its log, and no C<DDBCACHE_*> variables in its
environment, so that a developer's settings do not override the test
configuration; when C<exec> fails it exits with 127 and never returns into
the test. Nothing is stopped automatically: the owner calls C<stop>, from
an C<END> block.

=head1 METHODS

=over

=item new(dir => $dir)

An empty table; logs go in C<$dir> unless C<spawn> names one.

=item spawn($name, \@argv, [$log])

Forks and execs C<@argv> (no shell), with its output in C<$log> (default
F<$dir/$name.log>); records it under C<$name> and returns its pid.

=item get($name)

The record of a running process, C<< { pid => ..., log => ..., argv => [...] } >>,
or undef when there is none by that name.

=item wait_ready($name, \&ready)

Calls C<ready> every 50 ms until it returns true. Dies, with the tail of
the process's log, when the process exits first (it is then forgotten) or
after 30 seconds.

=item stop($name, [$signal])

Sends C<SIGCONT> (a stopped process acts on the signal only once
continued), then C<$signal> (default C<TERM>); after 5 seconds without an
exit, C<KILL>. Returns once the process is reaped and forgotten; does
nothing for an unknown name.

=item pause($name), resume($name)

Send C<SIGSTOP> and C<SIGCONT>; C<pause> returns once every thread of the
process has stopped. Both die when no process runs by that name.

=back

=head1 FUNCTIONS

Exported on request.

=over

=item wait_until($what, \&cond)

Polls C<cond> every 50 ms until it returns true; dies with
C<timed out waiting for $what> after 30 seconds.

=item threads_stopped($pid)

True when every thread of the process is stopped (state C<T> in
F</proc/PID/task/*/stat>), or when there is no F</proc> to tell.

=item trap_signals

Makes C<SIGHUP>, C<SIGINT>, C<SIGPIPE> (the test's output piped into
C<head>) and C<SIGTERM> exit the test (status 128 plus the signal's
number), so that C<END> blocks run and stop the servers.
Signals that already have a handler are left alone.

=back

=head1 SEE ALSO

L<DDBCache::TestEnv>, L<DDBCache::TestEnv::Files>.

=cut
