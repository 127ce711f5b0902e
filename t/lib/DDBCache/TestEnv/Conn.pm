package DDBCache::TestEnv::Conn;

use strict;
use warnings;

use Carp qw(croak);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Scalar::Util qw(blessed);

sub new {
    my ($class, %opts) = @_;
    my $timeout = $opts{timeout} // 10;
    my ($sock, $where);
    if (defined $opts{path}) {
        $where = $opts{path};
        $sock = IO::Socket::UNIX->new(Type => IO::Socket::UNIX::SOCK_STREAM(), Peer => $opts{path}, Timeout => $timeout);
    } else {
        $where = "$opts{host}:$opts{port}";
        $sock = IO::Socket::INET->new(PeerAddr => $opts{host}, PeerPort => $opts{port}, Proto => 'tcp',
            Timeout => $timeout);
    }
    croak "DDBCache::TestEnv::Conn: connect to $where: " . ($@ || $!) unless $sock;
    binmode $sock;
    return bless { sock => $sock, buf => '', timeout => $timeout, where => $where }, $class;
}

sub cmd {
    my ($self, @args) = @_;
    $self->send_command(@args);
    my $reply = $self->read_reply;
    die $reply if _is_error($reply);
    return $reply;
}

sub try_cmd {
    my ($class, $port, @args) = @_;
    my $c = eval { $class->new(host => '127.0.0.1', port => $port, timeout => 2) } or return;
    my $v = eval { $c->cmd(@args) };
    $c->close;
    return $v;
}

sub err {
    my ($self, @args) = @_;
    $self->send_command(@args);
    my $reply = $self->read_reply;
    return _is_error($reply) ? $reply->message : undef;
}

sub send_command {
    my ($self, @args) = @_;
    my $out = '*' . @args . "\r\n";
    for my $a (@args) {
        croak 'DDBCache::TestEnv::Conn: undefined command argument' unless defined $a;
        my $bytes = "$a";
        utf8::downgrade($bytes, 1)
            or croak "DDBCache::TestEnv::Conn: argument has wide characters; encode it to UTF-8 bytes first";
        $out .= '$' . length($bytes) . "\r\n$bytes\r\n";
    }
    $self->write_raw($out);
    return;
}

sub write_raw {
    my ($self, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    while (length $bytes) {
        my $n = syswrite($self->{sock}, $bytes);
        croak "DDBCache::TestEnv::Conn: write to $self->{where}: $!" unless defined $n;
        substr($bytes, 0, $n, '');
    }
    return;
}

sub read_reply {
    my ($self) = @_;
    my $line = $self->_line;
    my $type = substr($line, 0, 1, '');
    return $line                                   if $type eq '+';
    return DDBCache::TestEnv::Error->new($line)    if $type eq '-';
    return 0 + $line                               if $type eq ':';
    if ($type eq '$') {
        return undef if $line == -1;               ## no critic (ProhibitExplicitReturnUndef)
        my $data = $self->_bytes($line + 2);
        croak "DDBCache::TestEnv::Conn: protocol error: bulk string not followed by CRLF"
            unless substr($data, -2, 2, '') eq "\r\n";
        return $data;
    }
    if ($type eq '*') {
        return undef if $line == -1;               ## no critic (ProhibitExplicitReturnUndef)
        return [map { $self->read_reply } 1 .. $line];
    }
    croak "DDBCache::TestEnv::Conn: protocol error: unexpected reply line '$type$line'";
}

sub close {    ## no critic (ProhibitBuiltinHomonyms, ProhibitAmbiguousNames)
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    delete $self->{sock};
    return;
}

sub _is_error { return blessed($_[0]) && $_[0]->isa('DDBCache::TestEnv::Error') }

sub _line {
    my ($self) = @_;
    while (1) {
        my $i = index($self->{buf}, "\r\n");
        return substr($self->{buf}, 0, $i + 2, '') =~ s/\r\n\z//r if $i >= 0;
        $self->_fill;
    }
}

sub _bytes {
    my ($self, $n) = @_;
    $self->_fill while length($self->{buf}) < $n;
    return substr($self->{buf}, 0, $n, '');
}

sub _fill {
    my ($self) = @_;
    my $sock = $self->{sock} or croak "DDBCache::TestEnv::Conn: connection to $self->{where} is closed";
    IO::Select->new($sock)->can_read($self->{timeout})
        or croak "DDBCache::TestEnv::Conn: no reply from $self->{where} within $self->{timeout}s";
    my $n = sysread($sock, $self->{buf}, 65536, length $self->{buf});
    croak "DDBCache::TestEnv::Conn: read from $self->{where}: $!" unless defined $n;
    croak "DDBCache::TestEnv::Conn: $self->{where} closed the connection" if $n == 0;
    return;
}

# An error reply: an object that stringifies to its text.
package DDBCache::TestEnv::Error;    ## no critic (ProhibitMultiplePackages)

use overload '""' => sub { $_[0]{message} }, 'bool' => sub { 1 }, fallback => 1;

sub new     { my ($class, $message) = @_; return bless { message => $message }, $class }
sub message { return $_[0]{message} }

1;

__END__

=head1 NAME

DDBCache::TestEnv::Conn - a minimal RESP2 client for the ddbcache tests

=head1 SYNOPSIS

    my $c = DDBCache::TestEnv::Conn->new(path => $socket);          # or host => ..., port => ...
    my $json = $c->cmd(qw(DDB GET profile 42));                     # value, or undef for nil
    my $err  = $c->err(qw(DDB GET nope 42));                        # "ERR unknown namespace 'nope'"

=head1 DESCRIPTION

A small RESP2 client over a Unix socket or TCP. Arguments are sent as bulk
strings and must be byte strings: encode text to UTF-8 first (a wide
character croaks). Replies are decoded as: simple string and bulk string -
the string (bytes); integer - a number; nil bulk or nil array - undef;
array - an array reference (error elements inside arrays are
C<DDBCache::TestEnv::Error> objects).

=head1 METHODS

=over

=item new(path => $unix_socket | host => $host, port => $port, [timeout => $seconds])

Connects; dies when it cannot. C<timeout> (default 10) bounds connecting and
waiting for each reply.

=item cmd(@args)

Sends one command and returns its reply. An error reply dies with a
C<DDBCache::TestEnv::Error> object, which stringifies to the error text
(C<ERR unknown namespace 'x'>), so C<< eval { $c->cmd(...) }; like($@, qr/.../) >> works.

=item DDBCache::TestEnv::Conn->try_cmd($port, @args)

One command to a server on 127.0.0.1:$port over a connection of its own
(2 s timeout): its reply, or undef when the server cannot be reached or
answers an error. For polling a server until it is ready.

=item err(@args)

Sends one command and returns the text of its error reply, or undef when the
reply was not an error.

=item send_command(@args), read_reply

The two halves of C<cmd>, for pipelining; C<read_reply> returns an error
reply as a C<DDBCache::TestEnv::Error> object instead of dying.

=item write_raw($bytes)

Writes bytes as they are, for protocol-level tests.

=item close

Closes the connection.

=back

=head1 ERRORS

An error reply is a C<DDBCache::TestEnv::Error> object: C<< $e->message >>
is its text, and the object stringifies to it. A connection or protocol
problem, or no reply within C<timeout>, croaks with a plain message that
names the peer.

=head1 SEE ALSO

L<DDBCache::TestEnv>, which starts the servers this client talks to.

=cut
