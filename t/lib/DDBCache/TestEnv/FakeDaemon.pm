package DDBCache::TestEnv::FakeDaemon;

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::UNIX;
use POSIX qw(_exit);
use Time::HiRes qw(sleep time);

our $VERSION = '0.01';

# The pause between the pieces of a reply sent in chunks: a reply that
# arrives in pieces is what such a script tests, not a synchronization.
my $CHUNK_PAUSE = 0.05;
# How long wait_closed waits.
my $WAIT_TIMEOUT = 10;

sub new {
    my ($class, %args) = @_;
    my $script = $args{script} or croak 'DDBCache::TestEnv::FakeDaemon->new: script is required';
    my $dir  = tempdir('ddbcache-fake-XXXXXX', DIR => '/tmp', CLEANUP => 0);
    my $self = bless {
        dir   => $dir,
        path  => File::Spec->catfile($dir, 'fake.sock'),
        log   => File::Spec->catfile($dir, 'requests.log'),
        owner => $$,
    }, $class;
    my $listener = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $self->{path}, Listen => 16)
        or croak "DDBCache::TestEnv::FakeDaemon: listen on $self->{path}: $!";
    my $pid = fork // croak "DDBCache::TestEnv::FakeDaemon: fork: $!";
    if ($pid == 0) {
        my $ok = eval { $self->_serve($listener, $script); 1 };
        print {*STDERR} "DDBCache::TestEnv::FakeDaemon: $@" unless $ok;
        _exit($ok ? 0 : 1);
    }
    close $listener;
    $self->{pid} = $pid;
    return $self;
}

sub path { return $_[0]{path} }

# requests: "connection-number COMMAND ARGS..." per request received so far.
sub requests {
    my ($self) = @_;
    open my $fh, '<', $self->{log} or return;
    chomp(my @lines = <$fh>);
    close $fh;
    return grep { !/\A[0-9]+ closed\z/ } @lines;
}

# wait_closed($n): waits until the server has closed its n-th connection.
# The fake daemon is another process whose only account is its log, so the
# log is polled (with a deadline) for the line it writes on closing.
sub wait_closed {
    my ($self, $n) = @_;
    my $deadline = time + $WAIT_TIMEOUT;
    while (time < $deadline) {
        if (open my $fh, '<', $self->{log}) {
            return if grep { $_ eq "$n closed\n" } <$fh>;
        }
        sleep $CHUNK_PAUSE / 10;
    }
    croak "DDBCache::TestEnv::FakeDaemon: connection $n not closed after ${WAIT_TIMEOUT}s";
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++ || $self->{owner} != $$;
    kill 'KILL', $self->{pid};
    waitpid($self->{pid}, 0);
    remove_tree($self->{dir});
    return;
}

sub DESTROY { my ($self) = @_; $self->stop; return }

sub _serve {
    my ($self, $listener, $script) = @_;
    open my $log, '>>', $self->{log} or die "open $self->{log}: $!\n";
    $log->autoflush(1);
    my $n = 0;
    for my $actions (@$script) {
        my $conn = $listener->accept or die "accept: $!\n";
        $n++;
        for my $action (@$actions) {
            my $request = _read_request($conn) // last;
            print {$log} "$n @$request\n";
            last if $action eq 'close';
            for my $piece (ref $action ? @$action : $action) {
                syswrite($conn, $piece) // last;
                sleep $CHUNK_PAUSE if ref $action;
            }
        }
        close $conn;
        print {$log} "$n closed\n";
    }
    return;
}

# _read_request reads one RESP array of bulk strings; undef at EOF.
sub _read_request {
    my ($conn) = @_;
    my $line = <$conn> // return;
    $line =~ /\A\*(\d+)\r\n\z/ or die "bad request line: $line";
    my @args;
    for (1 .. $1) {
        my $head = <$conn> // return;
        $head =~ /\A\$(\d+)\r\n\z/ or die "bad bulk header: $head";
        read($conn, my $data, $1 + 2) == $1 + 2 or return;
        push @args, substr($data, 0, $1);
    }
    return \@args;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::FakeDaemon - a scripted RESP server, to test how a client handles broken connections

=head1 SYNOPSIS

    my $fake = DDBCache::TestEnv::FakeDaemon->new(script => [
        ['close'],                          # 1st connection: read a request, close without a reply
        ["\$2\r\n{}\r\n", "+PONG\r\n"],     # 2nd: answer two requests, then close
        [["\$5\r\nhel", "lo\r\n"]],         # 3rd: answer in two pieces, 50 ms apart
    ]);
    my $c = DDBCache::Client->new(socket => $fake->path);
    ...
    is_deeply([$fake->requests], ['1 DDB GET profile 1', '2 DDB GET profile 1'], 'sent twice');

=head1 DESCRIPTION

A forked process listening on a Unix socket in a temporary directory. For
each entry of C<script> it accepts one connection and, for each action of
the entry, reads one request, logs it, then: C<'close'> closes the
connection without replying; a string is written as the reply; an array of
strings is written piece by piece with a short pause between. After the last
action the connection is closed; after the last entry the server exits.

=head1 METHODS

=over

=item new(script => \@connections)

Starts the server.

=item path

The socket path.

=item requests

The requests received so far, one string each: the connection's number
(from 1), then the command's arguments joined by spaces. A request is
logged before the server acts on it.

=item wait_closed($n)

Returns once the server has closed its C<$n>-th connection (polling its log,
for at most 10 seconds).

=item stop

Kills the server and removes its directory; also done when the object goes
away.

=back

=head1 ERRORS

C<new> croaks when it cannot listen or fork.

=head1 SEE ALSO

L<DDBCache::TestEnv>, which starts the real daemon.

=cut
