package DDBCache::Client;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp qw(croak);
use Errno ();
use Scalar::Util qw(blessed looks_like_number);
use Socket qw(PF_UNIX SOCK_STREAM SOL_SOCKET SO_RCVTIMEO SO_SNDTIMEO pack_sockaddr_un);

# Where the daemon listens unless told otherwise (listen.unix in ddbcache.yaml).
our $DEFAULT_SOCKET = '/run/ddbcache/ddbcache.sock';

# Seconds. A little more than the daemon's own request timeout (5 s), so that
# when DynamoDB is slow the caller gets the daemon's error, not ours.
our $DEFAULT_TIMEOUT = 6;

use constant {
    # The first read of a reply asks for this much; a bulk reply whose length
    # is known is then read in one go.
    READ_SIZE => 65_536,
    # send() flag that turns SIGPIPE into EPIPE; 0 where the OS lacks it.
    NOSIGNAL => eval { Socket::MSG_NOSIGNAL() } || 0,
    # sun_path holds 108 bytes on Linux (104 on the BSDs), NUL included.
    MAX_SOCKET_PATH => 107,
    # The shortest timeout: below a millisecond a struct timeval rounds to
    # 0, which the kernel reads as "wait forever".
    MIN_TIMEOUT => 0.001,
};

# ---- JSON backend --------------------------------------------------------

# The fastest JSON module installed, chosen once at load time;
# DDBCACHE_JSON_BACKEND forces one (for tests and comparisons).
my @JSON_BACKENDS = qw(Cpanel::JSON::XS JSON::XS JSON::PP);
my ($JSON_CLASS, $JSON) = _load_json($ENV{DDBCACHE_JSON_BACKEND});

# The backend's decode_json: UTF-8 bytes in, characters out, as $JSON->decode
# but without a method call on the hot path.
my $decode_json = $JSON_CLASS->can('decode_json');

sub _load_json {
    my ($forced) = @_;
    my @try = @JSON_BACKENDS;
    if (defined $forced && length $forced) {
        croak "DDBCache::Client: DDBCACHE_JSON_BACKEND='$forced' is not one of @JSON_BACKENDS"
            unless grep { $_ eq $forced } @JSON_BACKENDS;
        @try = ($forced);
    }
    for my $class (@try) {
        (my $file = "$class.pm") =~ s{::}{/}g;
        next unless eval { require $file; 1 };
        # utf8: encode() makes UTF-8 bytes and decode() takes them, so that
        # decoded strings are Perl character strings.
        return ($class, $class->new->utf8);
    }
    croak "DDBCache::Client: cannot load $try[0]: $@";
}

sub json_backend { return $JSON_CLASS }

# ---- construction --------------------------------------------------------

my %NEW_ARGS = map { $_ => 1 } qw(socket timeout namespace password);

sub new {
    my $class = shift;
    croak 'DDBCache::Client->new: arguments must be key => value pairs' if @_ % 2;
    my %args = @_;
    if (my @unknown = grep { !$NEW_ARGS{$_} } sort keys %args) {
        croak "DDBCache::Client->new: unknown argument '$unknown[0]' (known: "
            . join(', ', sort keys %NEW_ARGS) . ')';
    }

    my $socket = $args{socket};
    if (exists $args{socket}) {
        croak 'DDBCache::Client->new: socket must be a path, got ' . _show($socket)
            unless defined $socket && !ref $socket && length $socket;
    } else {
        $socket = $ENV{DDBCACHE_SOCKET};
        $socket = $DEFAULT_SOCKET unless defined $socket && length $socket;
    }
    croak 'DDBCache::Client->new: socket path is longer than ' . MAX_SOCKET_PATH . " bytes: $socket"
        if length $socket > MAX_SOCKET_PATH;

    my $timeout = $args{timeout} // $DEFAULT_TIMEOUT;
    croak 'DDBCache::Client->new: timeout must be a number of seconds, at least ' . MIN_TIMEOUT
        . ', got ' . _show($timeout)
        unless !ref $timeout && looks_like_number($timeout) && $timeout >= MIN_TIMEOUT && $timeout < 9**9**9;

    my $namespace = $args{namespace};
    croak 'DDBCache::Client->new: namespace must be a name without spaces, got ' . _show($namespace)
        if exists $args{namespace} && !(defined $namespace && !ref $namespace && $namespace =~ /\A\S+\z/);

    my $password = $args{password};
    croak 'DDBCache::Client->new: password must be a string'
        if exists $args{password} && (!defined $password || ref $password);

    # No connection yet: it is made by the first call, in the process that
    # makes it (see "FORK, RESTART, TIMEOUTS" in the POD).
    return bless {
        socket    => $socket,
        timeout   => 0 + $timeout,
        namespace => $namespace,
        password  => $password,
        fh        => undef,
        pid       => 0,
    }, $class;
}

sub _show { my ($v) = @_; return defined $v ? (ref $v ? ref($v) . ' reference' : "'$v'") : 'undef' }

sub socket_path { return $_[0]{socket} }
sub timeout     { return $_[0]{timeout} }
sub namespace   { return $_[0]{namespace} }

# ---- commands ------------------------------------------------------------

# _exchange and _read_reply return $LOST when the connection broke before a
# whole reply came; $self->{lost} says why and $self->{lost_sent} whether the
# request had been written in full.
my $LOST = \'lost connection';

# Each method builds its RESP request and passes it to _call with whether a
# broken connection may be retried blindly (idempotent calls only). The
# lookups are the hot path. A lookup of a plain key (a byte string, the
# usual case) on a connection that this process made is done inline here:
# the request is a prefix made once per namespace plus the key, one send(),
# one sysread() and, for the usual whole bulk reply, one substr(). Anything
# else (first call, fork, sort keys, wide characters, a reply in pieces, an
# error reply, a broken connection) takes the general path through _call.

# _lookup_sub($decode) makes get (decoding) and get_json (not): the same
# code, made twice so that neither pays for a call to the other.
sub _lookup_sub {
    my ($decode) = @_;
    return sub {
        my ($self, $ns, $key) = @_;
        my ($fh, $prefix);
        if (   @_ == 3
            && ($fh = $self->{fh})
            && $self->{pid} == $$
            && defined $key && !ref $key && !utf8::is_utf8($key)
            && defined $ns && ($prefix = $self->{get_prefix}{$ns}))
        {
            my $req = $prefix . '$' . length($key) . "\r\n" . $key . "\r\n";
            local $SIG{PIPE} = 'IGNORE' unless NOSIGNAL;    # compiled away where MSG_NOSIGNAL exists
            my $sent = send $fh, $req, NOSIGNAL;
            if (defined $sent && $sent == length $req) {
                my $buf = '';
                my $n   = sysread $fh, $buf, READ_SIZE;
                if ($n && substr($buf, 0, 1) eq '$') {
                    my $i   = index $buf, "\r\n";
                    my $len = substr $buf, 1, $i - 1;
                    if ($i > 0 && length $buf == $i + 4 + $len && substr($buf, -2) eq "\r\n") {
                        return $decode ? $decode_json->(substr $buf, $i + 2, $len) : substr $buf, $i + 2, $len;
                    }
                    return undef if $buf eq "\$-1\r\n";    ## no critic (ProhibitExplicitReturnUndef)
                }
                my $json = $n ? $self->_read_reply('DDB GET', $buf) : $self->_read_failed('DDB GET', $n);
                $json = $self->_retry('DDB GET', $req, 1) if ref $json && $json == $LOST;
                return $decode && defined $json ? $decode_json->($json) : $json;
            }
            $self->_drop if $sent;    # a part went out: the connection is out of step
        } elsif (@_ == 3 && defined $ns && !ref $ns && !exists $self->{get_prefix}{$ns}) {
            $self->_get_prefix($ns);    # for the next lookups in this namespace
        }
        my $json = $self->_call('DDB GET', _request('DDB', 'GET', @_[1 .. $#_]), 1);
        return $decode && defined $json ? $decode_json->($json) : $json;
    };
}

{
    no warnings 'once';    ## no critic (ProhibitNoWarnings)
    *get      = _lookup_sub(1);
    *get_json = _lookup_sub(0);
}

sub lookup {
    my $self = shift;
    my $ns = $self->{namespace}
        // croak 'DDBCache::Client: lookup needs a default namespace: pass namespace => NAME to new';
    return $self->get($ns, @_);
}

# _get_prefix($ns): the start of a `DDB GET ns key` request, up to the key;
# made by the first lookup in a namespace.
sub _get_prefix {
    my ($self, $ns) = @_;
    return if $self->{select};    # the fast path reads without select()
    (my $prefix = _request('DDB', 'GET', $ns)) =~ s/\A\*3/*4/;
    # A few namespaces are the norm; do not grow without bound if the
    # caller makes up names.
    $self->{get_prefix} = {} if keys %{ $self->{get_prefix} || {} } >= 64;
    $self->{get_prefix}{$ns} = $prefix;
    return;
}

sub mget {
    my ($self, $ns, $keys, @extra) = @_;
    croak 'DDBCache::Client: usage: $client->mget($namespace, \@keys)'
        if @extra || ref $keys ne 'ARRAY';
    return {} unless @$keys;
    my $reply = $self->_call('DDB MGET', _request('DDB', 'MGET', $ns, _flat_keys($keys)), 1);
    croak 'DDBCache::Client: DDB MGET: expected ' . @$keys . ' replies, got ' . _show($reply)
        unless ref $reply eq 'ARRAY' && @$reply == @$keys;
    my %items;
    for my $i (0 .. $#$reply) {
        next unless defined $reply->[$i];
        my $key = $keys->[$i];
        $items{ ref $key eq 'ARRAY' ? join($;, @$key) : $key } = $decode_json->($reply->[$i]);
    }
    return \%items;
}

sub put {
    my ($self, $ns, $item, @extra) = @_;
    croak 'DDBCache::Client: usage: $client->put($namespace, \%item)' if @extra || ref $item ne 'HASH';
    $self->_call('DDB PUT', _request('DDB', 'PUT', $ns, $JSON->encode($item)), 0);
    return 1;
}

sub put_json {
    my ($self, $ns, $json, @extra) = @_;
    croak 'DDBCache::Client: usage: $client->put_json($namespace, $json_text)' if @extra || ref $json;
    $self->_call('DDB PUT', _request('DDB', 'PUT', $ns, $json), 0);
    return 1;
}

sub delete {    ## no critic (ProhibitBuiltinHomonyms)
    my $self = shift;
    return $self->_call('DDB DEL', _request('DDB', 'DEL', @_), 0);
}

sub invalidate {
    my ($self, $ns, @keys) = @_;
    return 0 unless @keys;
    return $self->_call('DDB INVALIDATE', _request('DDB', 'INVALIDATE', $ns, _flat_keys(\@keys)), 0);
}

sub stats {
    my $self = shift;
    return $decode_json->($self->_call('DDB STATS', _request('DDB', 'STATS', @_), 1));
}

sub namespaces {
    my $self = shift;
    return $decode_json->($self->_call('DDB NAMESPACES', _request('DDB', 'NAMESPACES', @_), 1));
}

sub ping {
    my $self = shift;
    my $pong = $self->_call('PING', _request('PING'), 1);
    croak 'DDBCache::Client: PING: expected PONG, got ' . _show($pong) unless defined $pong && $pong eq 'PONG';
    return 1;
}

sub redis {
    my ($self, @command) = @_;
    croak 'DDBCache::Client: usage: $client->redis($command, @arguments)' unless @command;
    croak 'DDBCache::Client: redis: the command name must be a string' unless defined $command[0] && !ref $command[0];
    return $self->_call(uc $command[0], _request(@command), 0);
}

sub disconnect {
    my ($self) = @_;
    $self->_drop;
    return;
}

# _flat_keys(\@keys): key, or [key, sort key] pairs, as command arguments.
sub _flat_keys {
    my ($keys) = @_;
    return map { ref eq 'ARRAY' ? @$_ : $_ } @$keys;
}

# _request(@args) is the RESP request of one command: an array of bulk
# strings. A string with the UTF-8 flag (decoded text) is sent UTF-8 encoded;
# a byte string is sent as it is.
sub _request {
    my $req = '*' . @_ . "\r\n";
    for my $arg (@_) {
        if (!defined $arg || ref $arg || utf8::is_utf8($arg)) {
            my $bytes = _arg_bytes($arg, \@_);
            $req .= '$' . length($bytes) . "\r\n" . $bytes . "\r\n";
            next;
        }
        $req .= '$' . length($arg) . "\r\n" . $arg . "\r\n";
    }
    return $req;
}

sub _arg_bytes {
    my ($arg, $args) = @_;
    my $cmd = join ' ', grep { defined && !ref } @$args[0 .. ($args->[0] eq 'DDB' ? 1 : 0)];
    croak "DDBCache::Client: $cmd: an argument is undefined" unless defined $arg;
    croak "DDBCache::Client: $cmd: an argument is " . ref($arg) . ' reference, not a string'
        if ref $arg && !blessed $arg;
    my $bytes = "$arg";    # objects (Math::BigInt, ...) stringify
    utf8::encode($bytes) if utf8::is_utf8($bytes);
    return $bytes;
}

# ---- the connection ------------------------------------------------------

# _call($what, $request, $idempotent) sends one request and returns its
# reply. It connects first when there is no connection or it was made by
# another process (the pid changed: we are a forked child).
sub _call {
    my ($self, $what, $req, $idempotent) = @_;
    if (!$self->{fh} || $self->{pid} != $$) {
        $self->_connect;
    } elsif (!$idempotent && !$self->_idle) {
        # Before a write, make sure that the daemon has not closed the
        # connection meanwhile (a restart): afterwards we could not tell
        # whether the write was done.
        $self->_connect;
    }
    my $reply = $self->_exchange($what, $req);
    return $reply unless ref $reply && $reply == $LOST;
    return $self->_retry($what, $req, $idempotent);
}

# _retry: the connection broke under a request. It is sent again once, on a
# new connection, when that is safe: the call is idempotent, or nothing of
# the request reached the daemon.
sub _retry {
    my ($self, $what, $req, $idempotent) = @_;
    my $first = $self->{lost};
    if ($idempotent || !$self->{lost_sent}) {
        $self->_connect;
        my $reply = $self->_exchange($what, $req);
        return $reply unless ref $reply && $reply == $LOST;
        croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first), "
            . "and again after reconnecting ($self->{lost})";
    }
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first) after the request was sent; "
        . 'not retried, since it may or may not have been carried out';
}

# _idle: true when the connection has nothing to read. A closed connection
# reads as EOF, and bytes nobody asked for mean it is out of step: either
# way it must be replaced.
sub _idle {
    my ($self) = @_;
    my $rin = '';
    vec($rin, fileno $self->{fh}, 1) = 1;
    return select($rin, undef, undef, 0) == 0;
}

sub _connect {
    my ($self) = @_;
    $self->_drop;
    my $path = $self->{socket};
    socket(my $fh, PF_UNIX, SOCK_STREAM, 0) or croak "DDBCache::Client: socket: $!";
    # SO_RCVTIMEO/SO_SNDTIMEO bound every read and write (and, on Linux, a
    # connect to a full listen queue) without a select() per call. Where
    # they cannot be set, each read waits in select() instead.
    my $t  = $self->{timeout};
    my $tv = pack 'l!l!', int $t, int(($t - int $t) * 1_000_000);
    my $sockopts = setsockopt($fh, SOL_SOCKET, SO_RCVTIMEO, $tv) && setsockopt($fh, SOL_SOCKET, SO_SNDTIMEO, $tv);
    if (!connect $fh, pack_sockaddr_un($path)) {
        croak "DDBCache::Client: cannot connect to $path within $t s (timeout)"
            if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINPROGRESS} || $!{ETIMEDOUT};
        croak "DDBCache::Client: cannot connect to $path: $! (is the ddbcache daemon running?)";
    }
    $self->{fh}     = $fh;
    $self->{pid}    = $$;
    $self->{select} = !$sockopts;
    delete $self->{get_prefix} if $self->{select};
    if (defined $self->{password}) {
        # A refused password must not leave an unauthenticated connection.
        my $ok = eval { $self->_exchange('AUTH', _request('AUTH', $self->{password})) };
        if (!defined $ok) {
            my $err = $@ || "DDBCache::Client: AUTH: no reply from $path\n";
            $self->_drop;
            die $err;    ## no critic (RequireCarping): already croaked with the caller's line
        }
        croak "DDBCache::Client: AUTH: connection to $path lost ($self->{lost})" if ref $ok && $ok == $LOST;
    }
    return;
}

sub _drop {
    my ($self) = @_;
    my $fh = delete $self->{fh};
    close $fh if $fh;    # close(2) only: a forked parent's connection is unaffected
    return;
}

sub _lost {
    my ($self, $why, $sent) = @_;
    $self->_drop;
    @$self{qw(lost lost_sent)} = ($why, $sent);
    return $LOST;
}

sub _timeout {
    my ($self, $what, $doing) = @_;
    $self->_drop;    # a late reply would be taken for the next one's
    croak "DDBCache::Client: $what: timed out after $self->{timeout} s $doing the daemon on $self->{socket}";
}

# _exchange($what, $request) writes a request and reads its reply. An
# error reply croaks with its text; a timeout croaks; a broken connection
# returns $LOST.
sub _exchange {
    my ($self, $what, $req) = @_;
    local $SIG{PIPE} = 'IGNORE' unless NOSIGNAL;
    my $sent = send $self->{fh}, $req, NOSIGNAL;
    if (!defined $sent || $sent != length $req) {
        my $lost = $self->_send_rest($what, $req, $sent);
        return $lost if $lost;
    }
    return $self->_read_reply($what, '');
}

# _read_reply($what, $buf) reads until $buf holds one whole reply, and
# returns it (or croaks, or returns $LOST, as _exchange).
sub _read_reply {
    my ($self, $what, $buf) = @_;
    my $fh   = $self->{fh};
    my $want = READ_SIZE;
    while (1) {
        if (length $buf) {
            my @errors;
            my ($reply, $end, $need) = _parse($buf, 0, \@errors);
            if ($end == length $buf) {
                croak "DDBCache::Client: $what: $errors[0]" if @errors;
                return $reply;
            }
            if ($end == -1) {
                # A bulk string whose length is known is read in one go.
                $want = defined $need && $need - length $buf > READ_SIZE ? $need - length $buf : READ_SIZE;
            } else {
                $self->_drop;
                croak "DDBCache::Client: $what: protocol error: unexpected reply from $self->{socket}: "
                    . _show(substr $buf, 0, 80);
            }
        }
        $self->_wait_readable($what) if $self->{select};
        my $n = sysread $fh, $buf, $want, length $buf;
        if (!$n) {
            my $failed = $self->_read_failed($what, $n, 1);
            return $failed if ref $failed;
        }
    }
}

# _read_failed($what, $n) deals with a sysread that returned 0 or undef:
# returns $LOST for a closed or broken connection, croaks on a timeout, and
# after a signal returns '' (from _read_reply) or reads on (elsewhere).
sub _read_failed {
    my ($self, $what, $n, $in_loop) = @_;
    return $self->_lost('the daemon closed the connection', 1) if defined $n;
    if ($!{EINTR}) {
        return '' if $in_loop;
        return $self->_read_reply($what, '');
    }
    $self->_timeout($what, 'waiting for a reply from') if $!{EAGAIN} || $!{EWOULDBLOCK};
    return $self->_lost("read: $!", 1);
}

# _send_rest finishes a write that send() did not finish at once (large
# requests, a signal, a timeout or a closed connection). Returns $LOST or
# nothing.
sub _send_rest {
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
sub _wait_readable {
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

# _parse($buf, $pos, \@errors) parses one RESP2 reply starting at $pos.
# Returns (reply, end): end is the position after it, -1 when the buffer
# ends first (then a third value may say how long the buffer must be), or -2
# for bytes that are no RESP. Error replies are pushed on @errors (their
# place in a reply is undef).
sub _parse {    ## no critic (ProhibitExcessComplexity)
    my (undef, $pos, $errors) = @_;
    my $i = index $_[0], "\r\n", $pos;
    return (undef, -1) if $i < 0;
    my $type = substr $_[0], $pos, 1;
    my $line = substr $_[0], $pos + 1, $i - $pos - 1;
    my $next = $i + 2;
    return ($line, $next) if $type eq '+';
    if ($type eq '-') {
        push @$errors, $line;
        return (undef, $next);
    }
    return (undef, -2) unless $line =~ /\A-?[0-9]+\z/;
    return (0 + $line, $next) if $type eq ':';
    if ($type eq '$') {
        return (undef, $next) if $line < 0;
        my $end = $next + $line + 2;
        return (undef, -1, $end) if length $_[0] < $end;
        return (undef, -2) unless substr($_[0], $end - 2, 2) eq "\r\n";
        return (substr($_[0], $next, $line), $end);
    }
    if ($type eq '*') {
        return (undef, $next) if $line < 0;
        my @array;
        for (1 .. $line) {
            my ($v, $end, $need) = _parse($_[0], $next, $errors);
            return (undef, $end, $need) if $end < 0;
            push @array, $v;
            $next = $end;
        }
        return (\@array, $next);
    }
    return (undef, -2);
}

1;

__END__

=encoding utf8

=head1 NAME

DDBCache::Client - look up DynamoDB items through the local ddbcache daemon

=head1 SYNOPSIS

    use DDBCache::Client;

    my $ddb = DDBCache::Client->new(
        timeout   => 2,            # seconds, for connecting and for each reply
        namespace => 'profile',    # the namespace of lookup()
    );                             # socket: $ENV{DDBCACHE_SOCKET}, else /run/ddbcache/ddbcache.sock

    $ddb->put(profile => { user_id => '42', name => 'Ann', plan => 'pro' });
    my $user  = $ddb->get(profile => 42);             # { user_id => '42', name => 'Ann', plan => 'pro' }
    my $json  = $ddb->get_json(profile => 42);        # the same as JSON text (UTF-8 bytes), undecoded
    my $same  = $ddb->lookup(42);                     # get() in the default namespace
    my $none  = $ddb->get(profile => 'nobody');       # undef: no such item
    my $users = $ddb->mget(profile => [42, 'nobody']);  # { 42 => {...} }: absent items are left out

    $ddb->invalidate(profile => 42);                  # drop its cache entries; DynamoDB untouched
    $ddb->delete(profile => 42);                      # 1: it existed

    $ddb->redis(SETEX => 'session:abc', 600, 'data'); # allowlisted Redis commands, pooled by the daemon
    my $session = $ddb->redis(GET => 'session:abc');
    my $stats   = $ddb->stats;                        # counters per namespace
    $ddb->ping;

    my $item = eval { $ddb->get(nope => 1) }
        or warn $@;    # DDBCache::Client: DDB GET: ERR unknown namespace 'nope' at ...

=head1 DESCRIPTION

C<DDBCache::Client> talks to the ddbcache daemon, which serves cache-aside
lookups of DynamoDB items (its own memory, then Redis, then DynamoDB) over a
Unix socket in the Redis protocol (RESP2). A hot item comes back from the
daemon's memory without any network round trip.

The module is pure Perl and needs only core modules. JSON is encoded and
decoded with the fastest module installed: L<Cpanel::JSON::XS>, then
L<JSON::XS>, then the core L<JSON::PP> (see L</json_backend>).

Items are JSON objects. Decoded strings are Perl character strings; C<put>
encodes character strings as UTF-8. Numbers come back as Perl numbers;
an integer too large for Perl comes back as the string of its digits (never
rounded). Binary attributes are base64 strings and sets are arrays, as the
daemon stores them.

Keys and other arguments are strings. A string with Perl's UTF-8 flag
(decoded text: a C<use utf8> literal, a value from a decoded JSON item) is
sent UTF-8 encoded; a byte string is sent as it is. So text and raw UTF-8
bytes from legacy code find the same item. This is what L<Redis::Fast> does.

=head1 METHODS

All methods except C<new>, the accessors and C<json_backend> talk to the
daemon and C<croak> on failure (see L</ERRORS>). C<$ns> is a namespace name
from the daemon's configuration (C<profile>); C<$key> is the item's partition
key value, C<$sort> its sort key value in namespaces that have one.

=over

=item new(%args)

    my $ddb = DDBCache::Client->new(socket => $path, timeout => 2, namespace => 'profile');

Returns a client; all arguments are optional:

C<socket> - the daemon's Unix socket. Default: C<$ENV{DDBCACHE_SOCKET}>, then
F</run/ddbcache/ddbcache.sock>.

C<timeout> - seconds (fractions allowed, at least 0.001) that connecting,
and each wait for the daemon while sending a request or reading its reply,
may take. Default 6, a little more than the daemon's own request timeout (5 s).

C<namespace> - the namespace of C<lookup>.

C<password> - sent with C<AUTH> on every new connection, for a daemon with
C<listen.password> set.

An unknown argument or a bad value croaks. C<new> does not connect: the
first call does, so that a client made before C<fork> costs nothing and a
daemon that is down makes calls fail, not the constructor.

=item get($ns, $key [, $sort])

The item as a hash reference, or C<undef> when it does not exist.

=item get_json($ns, $key [, $sort])

The item as the JSON text the daemon holds, undecoded: UTF-8 bytes, ready
for an HTTP response body or for C<decode_json>. C<undef> when the item does
not exist.

=item lookup($key [, $sort])

C<get> in the namespace given to C<new>; croaks when there is none. The
namespace is never optional in the other methods: C<< get(42, 'x') >> could
mean a key and a sort key, or a namespace and a key.

=item mget($ns, \@keys)

Looks several items up in one request (the daemon reads all misses from
DynamoDB in one BatchGetItem). Returns a hash reference of key to item;
keys of items that do not exist are absent. In a namespace with a sort key
each element of C<@keys> is a C<[$key, $sort]> pair and the result is keyed
by C<join($;, $key, $sort)>, so C<< $items->{$key, $sort} >> finds it.

=item put($ns, \%item)

Writes the item to DynamoDB through the daemon, which then drops its cache
entries: the next C<get> of the item, from any process, sees the write.
The item must contain the namespace's key attributes. Returns 1. Strings are
written as DynamoDB strings (C<S>) and numbers as numbers (C<N>), by the
usual Perl JSON rule: a scalar last used as a number is a number.

=item put_json($ns, $json)

C<put> for an item that is already JSON text.

=item delete($ns, $key [, $sort])

Deletes the item from DynamoDB and the cache. Returns 1 if it existed, else 0.

=item invalidate($ns, @keys)

Drops the cache entries of the items (values and "does not exist" entries)
without writing DynamoDB; the next lookup reads DynamoDB. Elements of
C<@keys> are keys, or C<[$key, $sort]> pairs. Returns how many had an entry.

=item stats

The daemon's counters (C<DDB STATS>) as a hash reference:
C<< $stats->{namespaces}{profile}{hits_local} >>, C<redis_connected>, ...

=item namespaces

The daemon's namespaces (C<DDB NAMESPACES>) as a hash reference.

=item ping

Returns 1 when the daemon answers C<PING>; croaks otherwise.

=item redis($command, @arguments)

Sends a Redis command and returns its reply undecoded: a string (bytes) for
status and bulk replies, a number for integers, an array reference for
arrays, C<undef> for nil. The daemon forwards only an allowlist of commands
(C<GET SET SETEX DEL EXPIRE TTL INCR MGET HGET ...>) to Redis through its
pooled connections, and answers others with an error, which croaks.

=item disconnect

Closes the connection; the next call opens a new one.

=item socket_path, timeout, namespace

The values in use.

=item json_backend

The JSON module in use: C<Cpanel::JSON::XS>, C<JSON::XS> or C<JSON::PP>.
Also a class method. The environment variable C<DDBCACHE_JSON_BACKEND>, set
before the module is loaded, forces one of them.

=back

=head1 FORK, RESTART, TIMEOUTS

B<Fork.> A client remembers the process that connected it. In a forked
child, the first call notices the different pid and opens its own
connection; parent and child never share one. A client may therefore be
made at start-up in a preforking server's parent (or in a mod_perl
C<startup.pl>) and used by every child.

B<Restart.> When the daemon restarts, the connection it closed is noticed at
the next call, which opens a new connection. If the connection breaks under
an idempotent call (C<get>, C<get_json>, C<lookup>, C<mget>, C<stats>,
C<namespaces>, C<ping>), the call is sent again once on a new connection.
Other calls (C<put>, C<put_json>, C<delete>, C<invalidate>, C<redis>) first
check that the connection is still open, and are sent again only when none
of the request reached the daemon; when the connection breaks after the
request was sent, they croak, since the write may or may not have happened.
While the daemon is down, calls croak at once with C<cannot connect>.

B<Timeouts.> C<timeout> bounds connecting and each wait while writing a
request or reading its reply (with C<SO_RCVTIMEO>/C<SO_SNDTIMEO>, so the fast
path costs no extra system call). A daemon that hangs, or is stopped with
SIGSTOP, makes the call croak after C<timeout> seconds with a message naming
the socket and the timeout. The connection is then closed, so a late reply
cannot be taken for the next call's.

=head1 ERRORS

Every failure croaks with a message that starts with C<DDBCache::Client:>
and, for a call to the daemon, names the command:

=over

=item C<< DDBCache::Client: DDB GET: ERR unknown namespace 'nope' >>

An error reply; the daemon's message follows the command, e.g.
C<ERR DDB GET takes 2 or 3 arguments: namespace, key [, sort key]>,
C<ERR bad item: item lacks key attribute "user_id">,
C<ERR value too large: ...>, C<ERR DynamoDB request failed: ...>,
C<ERR unknown command 'FLUSHALL' ...>. The connection stays usable.

=item C<< DDBCache::Client: cannot connect to /run/ddbcache/ddbcache.sock: No such file or directory (is the ddbcache daemon running?) >>

No daemon listens on the socket.

=item C<< DDBCache::Client: DDB GET: timed out after 2 s waiting for a reply from the daemon on /run/ddbcache/ddbcache.sock >>

See L</"FORK, RESTART, TIMEOUTS">.

=item C<< DDBCache::Client: DDB PUT: connection to /run/ddbcache/ddbcache.sock lost (...) after the request was sent; not retried ... >>

The connection broke under a call that is not retried blindly.

=item C<< DDBCache::Client->new: unknown argument 'sock' (known: namespace, password, socket, timeout) >>

Bad arguments to C<new>, and wrong argument types to the methods (an
undefined key, C<mget> without an array reference, C<put> without a hash
reference), croak before anything is sent. A wrong number of arguments is
left to the daemon, whose message says what it expects.

=back

A nil reply is C<undef>, never an error.

=head1 SEE ALSO

L<Plack::Middleware::DDBCache>, which gives each PSGI worker a client.

The daemon's F<README.md> and F<DESIGN.md> (the C<DDB> commands, namespaces,
consistency). L<Redis> and L<Redis::Fast> also work against the daemon's
socket: C<< Redis::Fast->new(sock => $path)->ddb_get(profile => 42) >>.

=cut
