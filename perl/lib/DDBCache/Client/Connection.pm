package DDBCache::Client::Connection;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp qw(croak);
use Socket qw(PF_UNIX SOCK_STREAM SOL_SOCKET SO_RCVTIMEO SO_SNDTIMEO pack_sockaddr_un);
use Time::HiRes ();

use DDBCache::RESP qw(encode_request parse_reply);

# Errors are the client's: Carp reports them at its caller's line.
our @CARP_NOT = qw(DDBCache::Client DDBCache::Client::LocalCache DDBCache::RESP);

# Constants, not Readonly (not core): inlined on the hot path.
use constant {    ## no critic (ProhibitConstantPragma)
    # The first read of a reply asks for this much; a bulk reply whose length
    # is known is then read in one go.
    READ_SIZE => 65_536,
    # send() flag that turns SIGPIPE into EPIPE; 0 where the OS lacks it.
    NOSIGNAL => eval { Socket::MSG_NOSIGNAL() } || 0,
};

# exchange and read_reply return $LOST when the connection broke before a
# whole reply came; {lost} says why and {lost_sent} whether the request had
# been written in full. DDBCache::Client compares replies with it too.
our $LOST = \'lost connection';
my $LOST_REF = $LOST;

# new(socket => PATH, timeout => S, password => P, reconnect => S, every =>
# S [, on_lost => CODE]): no connection yet; the first call makes it, in
# the process that makes it. The arguments were checked by DDBCache::Client.
sub new {
    my ($class, %args) = @_;
    return bless { (map { $_ => $args{$_} } qw(socket timeout password reconnect every on_lost)), fh => undef, pid => 0 },
        $class;
}

# clone: a connection of its own with the same settings, without on_lost
# (the tracking connection: its loss is the local cache's business).
sub clone {
    my ($self) = @_;
    return (ref $self)->new(map { $_ => $self->{$_} } qw(socket timeout password reconnect every));
}

sub is_lost { my (undef, $reply) = @_; return ref $reply && $reply == $LOST_REF }

sub _show { my ($v) = @_; return defined $v ? (ref $v ? ref($v) . ' reference' : "'$v'") : 'undef' }

# call($what, $request, $idempotent) sends one request and returns its
# reply. It connects first when there is no connection or it was made by
# another process (the pid changed: we are a forked child).
sub call {
    my ($self, $what, $req, $idempotent) = @_;
    if (!$self->{fh} || $self->{pid} != $$) {
        $self->dial;
    } elsif (!$idempotent && !$self->idle) {
        # Before a write, make sure that the daemon has not closed the
        # connection meanwhile (a restart): afterwards we could not tell
        # whether the write was done.
        $self->dial;
    }
    my $reply = $self->exchange($what, $req);
    return $reply unless ref $reply && $reply == $LOST_REF;
    return $self->retry($what, $req, $idempotent);
}

# retry: the connection broke under a request. The local cache is dropped
# (the daemon may have restarted: it would not push what changed meanwhile).
# The request is sent again on a new connection when that is safe: the call
# is idempotent, or nothing of the request reached the daemon. An idempotent
# call tries again, every `every` seconds, for up to `reconnect` seconds (a
# restart: the old daemon may close the new connection too while it drains);
# anything else, once.
sub retry {
    my ($self, $what, $req, $idempotent) = @_;
    my $first = $self->{lost};
    $self->{on_lost}->() if $self->{on_lost};
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first) after the request was sent; "
        . 'not retried: its outcome is unknown (it may or may not have been carried out)'
        unless $idempotent || !$self->{lost_sent};
    my $deadline = Time::HiRes::time() + $self->{reconnect};
    while (1) {
        $self->dial($deadline);
        my $reply = $self->exchange($what, $req);
        return $reply unless ref $reply && $reply == $LOST_REF;
        last unless $idempotent && Time::HiRes::time() + $self->{every} < $deadline;
        Time::HiRes::sleep($self->{every});    # the retry's backoff
    }
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first), and again after reconnecting "
        . "($self->{lost}); not retried again: its outcome is unknown (it may or may not have been carried out)"
        if $self->{lost_sent} && !$idempotent;
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first), "
        . "and again after reconnecting ($self->{lost})";
}

# idle: true when the connection has nothing to read. A closed connection
# reads as EOF, and bytes nobody asked for mean it is out of step: either
# way it must be replaced.
sub idle {
    my ($self) = @_;
    my $rin = '';
    vec($rin, fileno $self->{fh}, 1) = 1;
    return select($rin, undef, undef, 0) == 0;
}

# dial([$deadline]) opens a new connection. While the daemon's socket
# is missing (a clean stop removes it) or refuses connections (a stale file
# after a crash), it tries again every `every` seconds until $deadline
# (default: `reconnect` seconds from now), then croaks as the last try did.
# Nothing has been sent yet, so waiting is safe for any call.
sub dial {    ## no critic (RequireFinalReturn): its loop returns or croaks
    my ($self, $deadline) = @_;
    $self->drop;
    while (1) {
        my $err = $self->_connect_once // return;
        $deadline //= Time::HiRes::time() + $self->{reconnect};
        my $left = $deadline - Time::HiRes::time();
        croak $err if $left <= 0;
        Time::HiRes::sleep($left < $self->{every} ? $left : $self->{every});    # the backoff between tries
    }
}

# _connect_once: one try. Returns undef when connected, the message to croak
# with when the daemon is not there (yet), and croaks on other failures.
sub _connect_once {
    my ($self) = @_;
    my $path = $self->{socket};
    socket(my $fh, PF_UNIX, SOCK_STREAM, 0) or croak "DDBCache::Client: socket: $!";
    # SO_RCVTIMEO/SO_SNDTIMEO bound every read and write (and, on Linux, a
    # dial to a full listen queue) without a select() per call. Where
    # they cannot be set, each read waits in select() instead.
    my $t  = $self->{timeout};
    my $tv = pack 'l!l!', int $t, int(($t - int $t) * 1_000_000);
    my $sockopts = setsockopt($fh, SOL_SOCKET, SO_RCVTIMEO, $tv) && setsockopt($fh, SOL_SOCKET, SO_SNDTIMEO, $tv);
    if (!CORE::connect $fh, pack_sockaddr_un($path)) {
        croak "DDBCache::Client: cannot connect to $path within $t s (timeout)"
            if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINPROGRESS} || $!{ETIMEDOUT};
        my $err = "DDBCache::Client: cannot connect to $path: $! (is the ddbcache daemon running?)";
        return $err if $!{ENOENT} || $!{ECONNREFUSED};
        croak $err;
    }
    $self->{fh}     = $fh;
    $self->{pid}    = $$;
    $self->{select} = !$sockopts;
    if (defined $self->{password}) {
        # A refused password must not leave an unauthenticated connection.
        my $ok = eval { $self->exchange('AUTH', encode_request('AUTH', $self->{password})) };
        if (!defined $ok) {
            my $err = $@ || "DDBCache::Client: AUTH: no reply from $path\n";
            $self->drop;
            die $err;    ## no critic (RequireCarping): already croaked with the caller's line
        }
        # Closed at once: a daemon that is stopping. Tried again like a missing socket.
        return "DDBCache::Client: AUTH: connection to $path lost ($self->{lost})"
            if ref $ok && $ok == $LOST_REF;
    }
    return;
}

sub drop {
    my ($self) = @_;
    my $fh = delete $self->{fh};
    close $fh if $fh;    # close(2) only: a forked parent's connection is unaffected
    return;
}

sub _lost {
    my ($self, $why, $sent) = @_;
    $self->drop;
    @$self{qw(lost lost_sent)} = ($why, $sent);
    return $LOST_REF;
}

sub _timeout {
    my ($self, $what, $doing) = @_;
    $self->drop;    # a late reply would be taken for the next one's
    croak "DDBCache::Client: $what: timed out after $self->{timeout} s $doing the daemon on $self->{socket}";
}

# exchange($what, $request [, \$rest]) writes a request and reads its
# reply. An error reply croaks with its text; a timeout croaks; a broken
# connection returns $LOST. With \$rest, bytes read after the reply are
# put there (on the tracking connection: pushes); without, they are a
# protocol error.
sub exchange {
    my ($self, $what, $req, $rest) = @_;
    local $SIG{PIPE} = 'IGNORE' unless NOSIGNAL;
    my $sent = send $self->{fh}, $req, NOSIGNAL;
    if (!defined $sent || $sent != length $req) {
        my $lost = $self->send_rest($what, $req, $sent);
        return $lost if $lost;
    }
    return $self->read_reply($what, '', $rest);
}

# read_reply($what, $buf [, \$rest]) reads until $buf holds one whole
# reply, and returns it (or croaks, or returns $LOST, as exchange).
sub read_reply {    ## no critic (RequireFinalReturn): its loop returns or croaks
    my ($self, $what, $buf, $rest) = @_;
    my $fh   = $self->{fh};
    my $want = READ_SIZE;
    while (1) {
        if (length $buf) {
            my @errors;
            my ($reply, $end, $need) = parse_reply($buf, 0, \@errors);
            if ($end == length $buf || ($rest && $end > 0)) {
                $$rest = substr $buf, $end if $rest;
                croak "DDBCache::Client: $what: $errors[0]" if @errors;
                return $reply;
            }
            if ($end == -1) {
                # A bulk string whose length is known is read in one go.
                $want = defined $need && $need - length $buf > READ_SIZE ? $need - length $buf : READ_SIZE;
            } else {
                $self->drop;
                croak "DDBCache::Client: $what: protocol error: unexpected reply from $self->{socket}: "
                    . _show(substr $buf, 0, 80);
            }
        }
        $self->_wait_readable($what) if $self->{select};
        my $n = sysread $fh, $buf, $want, length $buf;
        if (!$n) {
            my $failed = $self->read_failed($what, $n, 1);
            return $failed if ref $failed;
        }
    }
}

# read_failed($what, $n) deals with a sysread that returned 0 or undef:
# returns $LOST for a closed or broken connection, croaks on a timeout, and
# after a signal returns '' (from read_reply) or reads on (elsewhere).
sub read_failed {
    my ($self, $what, $n, $in_loop) = @_;
    return $self->_lost('the daemon closed the connection', 1) if defined $n;
    if ($!{EINTR}) {
        return '' if $in_loop;
        return $self->read_reply($what, '');
    }
    $self->_timeout($what, 'waiting for a reply from') if $!{EAGAIN} || $!{EWOULDBLOCK};
    return $self->_lost("read: $!", 1);
}

# send_rest finishes a write that send() did not finish at once (large
# requests, a signal, a timeout or a closed connection). Returns $LOST or
# nothing.
sub send_rest {    ## no critic (RequireFinalReturn): its loop returns or croaks
    my ($self, $what, $req, $sent) = @_;
    my $fh  = $self->{fh};
    my $off = $sent // 0;
    while (1) {
        if (!defined $sent) {
            if (!$!{EINTR}) {
                $self->_timeout($what, 'sending to') if $!{EAGAIN} || $!{EWOULDBLOCK};
                return $self->_lost("write: $!", 0) if $off == 0;
                return $self->_lost("write: $!", 1);    # a part went: the daemon may act on it
            }
        }
        return if $off >= length $req;
        $sent = send($fh, substr($req, $off), NOSIGNAL);
        $off += $sent if defined $sent;
    }
}

# _wait_readable: the select() fallback where SO_RCVTIMEO is not available.
sub _wait_readable {    ## no critic (RequireFinalReturn): its loop returns or croaks
    my ($self, $what) = @_;
    my $rin = '';
    vec($rin, fileno $self->{fh}, 1) = 1;
    while (1) {
        my $n = select(my $rout = $rin, undef, undef, $self->{timeout});
        return if $n > 0;
        $self->_timeout($what, 'waiting for a reply from') if $n == 0;
        return unless $!{EINTR};    # let sysread report the error
    }
}

1;

__END__

=encoding utf8

=head1 NAME

DDBCache::Client::Connection - one connection of DDBCache::Client to the ddbcache daemon

=head1 SYNOPSIS

    my $conn  = DDBCache::Client::Connection->new(socket => $path, timeout => 2,
        password => undef, reconnect => 2, every => 0.05, on_lost => sub { ... });
    my $reply = $conn->call('DDB GET', DDBCache::RESP::encode_request(qw(DDB GET profile 42)), 1);

=head1 DESCRIPTION

The connection that L<DDBCache::Client> sends its requests on: connecting
(and C<AUTH>), waiting for a restarting daemon, timeouts, fork safety, and
the retry rules described in L<DDBCache::Client/"FORK, RESTART, TIMEOUTS">.
It is part of the client, not an API of its own: applications use
L<DDBCache::Client>. Messages start with C<DDBCache::Client:>. The client's
lookups read the fields C<fh> (the socket, or undef), C<pid> (the process
that connected it) and C<select> (true where C<SO_RCVTIMEO> could not be set)
on their fast path.

=head1 METHODS

=over

=item new(%args)

C<socket>, C<timeout>, C<password>, C<reconnect>, C<every> as checked by
C<< DDBCache::Client->new >>; C<on_lost>, a code reference called when a
connection broke under a request (the client drops its local cache then).
Does not connect.

=item clone

A new connection object with the same settings and no C<on_lost>.

=item call($what, $request, $idempotent)

Sends the request (bytes) and returns its reply, connecting first when there
is no connection or it was made by another process. C<$what> names the
command in messages. A broken connection is dealt with by C<retry>.

=item exchange($what, $request [, \$rest])

Writes the request on the open connection and reads its reply. An error
reply croaks with its text; a timeout croaks; a broken connection returns
C<$DDBCache::Client::Connection::LOST>. With C<\$rest>, bytes read after the
reply are put there; without, they are a protocol error.

=item read_reply($what, $buf [, \$rest])

Reads until C<$buf> (what was read so far) holds one whole reply; returns
as C<exchange>.

=item read_failed($what, $n)

After a C<sysread> that returned 0 or undef: returns C<$LOST> for a closed
or broken connection, croaks on a timeout, and reads the reply after a
signal.

=item send_rest($what, $request, $sent)

Finishes a write that C<send> did not finish at once; returns C<$LOST> or
nothing.

=item retry($what, $request, $idempotent)

The connection broke under the request: calls C<on_lost>, then sends the
request again on a new connection when that is safe (idempotent, or none of
it was sent), for up to C<reconnect> seconds; croaks otherwise.

=item dial([$deadline])

Opens a new connection, waiting while the daemon's socket is missing or
refuses connections, until C<$deadline> (default: C<reconnect> seconds from
now); then croaks.

=item idle

True when the connection has nothing to read (a closed one reads as EOF).

=item drop

Closes this process's descriptor of the connection.

=item is_lost($reply)

True when C<$reply> is C<$LOST>.

=back

=head1 SEE ALSO

L<DDBCache::Client>, L<DDBCache::RESP>.

=head1 LICENSE

This software is Copyright (c) the ddbcache developers.

This is free software, licensed under:

  The Apache License, Version 2.0, January 2004

See the F<LICENSE> file of the distribution.

=cut
