package DDBCache::Client;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp qw(croak);
use Scalar::Util qw(looks_like_number);
use Socket ();
use Time::HiRes ();

# One concept per module: this one is the API and the lookups' fast paths;
# the connection, the local cache and the protocol are in these.
use DDBCache::Client::Connection;
use DDBCache::Client::LocalCache;
use DDBCache::RESP qw(encode_request is_utf8_bytes key_bytes);

our @CARP_NOT = qw(DDBCache::Client::Connection DDBCache::Client::LocalCache DDBCache::RESP);

# Where the daemon listens unless told otherwise (listen.unix in ddbcache.yaml).
our $DEFAULT_SOCKET = '/run/ddbcache/ddbcache.sock';

# Seconds. A little more than the daemon's own request timeout (5 s), so that
# when DynamoDB is slow the caller gets the daemon's error, not ours.
our $DEFAULT_TIMEOUT = 6;

# The local cache: how many items a client holds in its process, and for
# how many seconds at most it uses one (see "LOCAL CACHE" in the POD).
# 50 000: what 64 MiB holds of 300-byte profiles; with Zipf(0.99) over
# 100 000 of them a long-lived worker hits about 75 % (1000 entries: 55 %).
our $DEFAULT_LOCAL_CACHE = 50_000;
our $DEFAULT_LOCAL_TTL   = 30;

# The most bytes that the local cache takes (each entry's value and keys and
# about 1 KB of Perl's own for it), whatever local_cache says: large items
# fill it long before 50 000 of them.
our $DEFAULT_LOCAL_CACHE_BYTES = 64 * 1024 * 1024;

# Seconds that a call waits for the daemon's socket to come back (a
# restart), and the pause between two tries (see "FORK, RESTART, TIMEOUTS").
our $DEFAULT_RECONNECT = 2;
our $DEFAULT_EVERY     = 0.05;

# Constants, not Readonly (not core): inlined where the lookups use them.
use constant {    ## no critic (ProhibitConstantPragma)
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

my %NEW_ARGS = map { $_ => 1 } qw(socket timeout namespace password local_cache local_cache_bytes local_ttl local_adapt reconnect every);

sub new {
    my ($class, @args) = @_;
    croak 'DDBCache::Client->new: arguments must be key => value pairs' if @args % 2;
    my %args = @args;
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

    my $local = exists $args{local_cache} ? $args{local_cache} : $DEFAULT_LOCAL_CACHE;
    croak 'DDBCache::Client->new: local_cache must be a number of items (an integer, 0 turns the local cache off), got '
        . _show($local)
        unless defined $local && !ref $local && $local =~ /\A[0-9]+\z/;

    my $local_bytes = exists $args{local_cache_bytes} ? $args{local_cache_bytes} : $DEFAULT_LOCAL_CACHE_BYTES;
    croak 'DDBCache::Client->new: local_cache_bytes must be a number of bytes (an integer, 0 turns the local cache off), got '
        . _show($local_bytes)
        unless defined $local_bytes && !ref $local_bytes && $local_bytes =~ /\A[0-9]+\z/;
    $local = 0 unless $local_bytes;

    my $adapt = exists $args{local_adapt} ? $args{local_adapt} : 1;
    croak 'DDBCache::Client->new: local_adapt must be 0 or 1, got ' . _show($adapt)
        unless defined $adapt && !ref $adapt && $adapt =~ /\A[01]\z/;

    my $local_ttl = exists $args{local_ttl} ? $args{local_ttl} : $DEFAULT_LOCAL_TTL;
    croak 'DDBCache::Client->new: local_ttl must be a number of seconds above 0, got ' . _show($local_ttl)
        unless defined $local_ttl && !ref $local_ttl && looks_like_number($local_ttl)
        && $local_ttl > 0 && $local_ttl < 9**9**9;

    my $reconnect = exists $args{reconnect} ? $args{reconnect} : $DEFAULT_RECONNECT;
    croak 'DDBCache::Client->new: reconnect must be a number of seconds (0 turns waiting off), got '
        . _show($reconnect)
        unless defined $reconnect && !ref $reconnect && looks_like_number($reconnect)
        && $reconnect >= 0 && $reconnect < 9**9**9;

    my $every = exists $args{every} ? $args{every} : $DEFAULT_EVERY;
    croak 'DDBCache::Client->new: every must be a number of seconds, at least ' . MIN_TIMEOUT . ', got '
        . _show($every)
        unless defined $every && !ref $every && looks_like_number($every)
        && $every >= MIN_TIMEOUT && $every < 9**9**9;

    # No connection yet: it is made by the first call, in the process that
    # makes it (see "FORK, RESTART, TIMEOUTS" in the POD). A connection
    # lost under a request drops the local cache: the daemon may have
    # restarted, and would not push what changed meanwhile.
    my $cache = DDBCache::Client::LocalCache->new(max => $local, bytes => $local_bytes, ttl => $local_ttl,
        adapt => $adapt);
    my $conn = DDBCache::Client::Connection->new(socket => $socket, timeout => 0 + $timeout, password => $password,
        reconnect => 0 + $reconnect, every => 0 + $every, on_lost => sub { $cache->reset_all if $cache->{tfh} });
    return bless { socket => $socket, timeout => 0 + $timeout, namespace => $namespace, conn => $conn,
        local => $cache }, $class;
}

sub _show { my ($v) = @_; return defined $v ? (ref $v ? ref($v) . ' reference' : "'$v'") : 'undef' }

sub socket_path { my ($self) = @_; return $self->{socket} }
sub timeout     { my ($self) = @_; return $self->{timeout} }
sub namespace   { my ($self) = @_; return $self->{namespace} }

# ---- commands ------------------------------------------------------------

# What the connection returns when it broke before a whole reply came.
my $LOST = $DDBCache::Client::Connection::LOST;

# Each method builds its RESP request and passes it to the connection's call
# with whether a broken connection may be retried blindly (idempotent calls
# only). The lookups are the hot path. A lookup of a plain key (a byte
# string, the usual case) on a connection that this process made is done
# inline here: the request is a prefix made once per namespace plus the key,
# one send(), one sysread() and, for the usual whole bulk reply, one
# substr(). Anything else (first call, fork, sort keys, wide characters, a
# reply in pieces, an error reply, a broken connection) takes the general
# path through the connection's call. The fast path reads the fields of the
# connection (fh, pid) and of the local cache (lc, tfh, tpid, tbuf, ...)
# directly: a method call per lookup would cost more than the rest of a hit.

# With the local cache on, a lookup of a held item makes no round trip: one
# non-blocking sysread of the tracking connection (which finds nothing
# pending, EAGAIN, unless the daemon pushed invalidations), a hash lookup
# and a decode. A miss of a plain key is the local cache's miss(): DDB GETC
# inline. Everything else about the local cache is in its get().

# _lookup_sub($decode) makes get (decoding) and get_json (not): the same
# code, made twice so that neither pays for a call to the other.
sub _lookup_sub {
    my ($decode) = @_;
    return sub {    ## no critic (ProhibitExcessComplexity)
        my ($self, $ns, $key) = @_;
        my ($fh, $prefix, $entry, $local);
        my ($conn, $lc);
        if (($lc = $self->{local})->{max}) {
            if ($lc->{bypass}) {
                # The local cache does not pay now (see "Adapting" in the
                # POD): a plain DDB GET, below.
                # lbypass counted the whole bypass at its start: one
                # decrement here, so a bypassed lookup costs what one with
                # local_cache => 0 does, within a hash fetch or two.
                $lc->bypass_end unless --$lc->{bypass};
            } elsif (@_ == 3
                && ($fh = $lc->{tfh})
                && $lc->{tpid} == $$
                && defined $key && !ref $key && index($key, "\0") < 0
                && defined $ns && !ref $ns)
            {
                # A held entry: pending invalidations first, a write
                # acknowledged before this call has had its push written to
                # this socket. undef is EAGAIN, nothing pending: $! is not
                # looked at, as Perl makes its message each time (a third
                # of this path's cost). No other error can come from a Unix
                # socket that we never write to after DDB TRACK; one that
                # did would be seen by the local cache's get, which every
                # entry goes through within local_ttl. No entry: nothing to
                # drain for, as a push can only drop entries (a push about
                # this key read after the reply drops the value just kept:
                # safe).
                my $lkey = "$ns\0$key";
                if ($entry = $lc->{lc}{$lkey}) {
                    my $n = sysread $fh, $lc->{tbuf}, READ_SIZE, length $lc->{tbuf};
                    if (defined $n) {
                        $lc->drain($n);
                        $entry = $lc->{lc}{$lkey};    # the pushes may have dropped it
                    }
                    if ($entry && $entry->[1] > Time::HiRes::time()) {
                        $lc->{lhits}++;
                        return $decode && defined $entry->[0] ? $decode_json->($entry->[0]) : $entry->[0];
                    }
                }
                # A miss: DDB GETC inline, as the plain lookup below, for
                # no more than a DDB GET costs.
                if (   $lc->{tfh}
                    && ($fh = ($conn = $self->{conn})->{fh})
                    && $conn->{pid} == $lc->{tpid}
                    && !utf8::is_utf8($key)
                    && !($key =~ tr/\x80-\xff//)    # not ASCII: the local cache's get makes its key_bytes
                    && ($prefix = $lc->{getc_prefix}{$ns}))
                {
                    my $json = $lc->miss($conn, $fh, $prefix, $lkey, $key);
                    return $decode && defined $json ? $decode_json->($json) : $json;
                }
            }
            if (!$lc->{bypass} && (@_ == 3 || @_ == 4) && $lc->get($self->{conn}, \$local, @_[1 .. $#_])) {
                return $decode && defined $local ? $decode_json->($local) : $local;
            }
        }
        $conn = $self->{conn};
        if (   @_ == 3
            && ($fh = $conn->{fh})
            && $conn->{pid} == $$
            && defined $key && !ref $key && !utf8::is_utf8($key) && !($key =~ tr/\x80-\xff//)
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
                my $json = $n ? $conn->read_reply('DDB GET', $buf) : $conn->read_failed('DDB GET', $n);
                $json = $conn->retry('DDB GET', $req, 1) if ref $json && $json == $LOST;
                return $decode && defined $json ? $decode_json->($json) : $json;
            }
            $conn->drop if $sent;    # a part went out: the connection is out of step
        } elsif (@_ == 3 && defined $ns && !ref $ns && !exists $self->{get_prefix}{$ns}) {
            $self->_get_prefix($ns);    # for the next lookups in this namespace
        }
        my $json = $conn->call('DDB GET', encode_request('DDB', 'GET', $ns, key_bytes(@_[2 .. $#_])), 1);
        return $decode && defined $json ? $decode_json->($json) : $json;
    };
}

{
    no warnings 'once';    ## no critic (ProhibitNoWarnings)
    *get      = _lookup_sub(1);
    *get_json = _lookup_sub(0);
}

sub lookup {
    my ($self, @args) = @_;
    my $ns = $self->{namespace}
        // croak 'DDBCache::Client: lookup needs a default namespace: pass namespace => NAME to new';
    return $self->get($ns, @args);
}

# _get_prefix($ns): the start of a `DDB GET ns key` request, up to the key;
# made by the first lookup in a namespace.
sub _get_prefix {
    my ($self, $ns) = @_;
    # The fast path reads without select(): only where a connection has
    # its SO_RCVTIMEO (the usual case).
    return if !$self->{conn}{fh} || $self->{conn}{select};
    (my $prefix = encode_request('DDB', 'GET', $ns)) =~ s/\A\*3/*4/;
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
    # With the local cache on, the keys it holds make no request, the
    # others one DDB MGETC (see LocalCache's mget); else a plain DDB MGET.
    my $lc = $self->{local};
    my $reply = $lc->{max} ? $lc->mget($self->{conn}, $ns, $keys) : undef;
    $reply //= $self->{conn}->call('DDB MGET', encode_request('DDB', 'MGET', $ns, key_bytes(_flat_keys($keys))), 1);
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
    $item = $self->_key_text($ns, $item)
        if grep { defined && !ref && !utf8::is_utf8($_) && /[^\x00-\x7f]/ } values %$item;
    $self->{conn}->call('DDB PUT', encode_request('DDB', 'PUT', $ns, $JSON->encode($item)), 0);
    return 1;
}

sub put_json {
    my ($self, $ns, $json, @extra) = @_;
    croak 'DDBCache::Client: usage: $client->put_json($namespace, $json_text)' if @extra || ref $json;
    $self->{conn}->call('DDB PUT', encode_request('DDB', 'PUT', $ns, $json), 0);
    return 1;
}

sub delete {    ## no critic (ProhibitBuiltinHomonyms)
    my ($self, $ns, @keys) = @_;
    return $self->{conn}->call('DDB DEL', encode_request('DDB', 'DEL', $ns, key_bytes(@keys)), 0);
}

sub invalidate {
    my ($self, $ns, @keys) = @_;
    return 0 unless @keys;
    # Idempotent: dropping entries twice drops them once.
    return $self->{conn}->call('DDB INVALIDATE',
        encode_request('DDB', 'INVALIDATE', $ns, key_bytes(_flat_keys(\@keys))), 1);
}

sub stats {
    my ($self, @args) = @_;
    return $decode_json->($self->{conn}->call('DDB STATS', encode_request('DDB', 'STATS', @args), 1));
}

sub namespaces {
    my ($self, @args) = @_;
    return $decode_json->($self->{conn}->call('DDB NAMESPACES', encode_request('DDB', 'NAMESPACES', @args), 1));
}

sub ping {
    my $self = shift;
    my $pong = $self->{conn}->call('PING', encode_request('PING'), 1);
    croak 'DDBCache::Client: PING: expected PONG, got ' . _show($pong) unless defined $pong && $pong eq 'PONG';
    return 1;
}

sub redis {
    my ($self, @command) = @_;
    croak 'DDBCache::Client: usage: $client->redis($command, @arguments)' unless @command;
    croak 'DDBCache::Client: redis: the command name must be a string' unless defined $command[0] && !ref $command[0];
    return $self->{conn}->call(uc $command[0], encode_request(@command), 0);
}

sub disconnect {
    my ($self) = @_;
    $self->{conn}->drop;
    my $local = $self->{local};
    $local->reset_all if $local->{tfh} || %{ $local->{lc} };
    return;
}

sub local_stats { my ($self) = @_; return $self->{local}->stats }

# ---- keys ----------------------------------------------------------------

# _key_text($ns, \%item): the item to put, with each key attribute that is a
# byte string holding UTF-8 decoded to the text it encodes, so that put
# stores the item under the key that get, mget, delete and invalidate send
# for the same string (key_bytes in DDBCache::RESP); the caller's hash is not changed. Other
# attributes are values, read as characters whatever they hold (see
# DDBCache::Manual::Encoding). The namespace's key attribute names are asked
# of the daemon (DDB NAMESPACES) at the first such put in it.
sub _key_text {
    my ($self, $ns, $item) = @_;
    return $item unless defined $ns && !ref $ns;    # the daemon's PUT says what is wrong
    my $names = $self->{key_names}{$ns};
    if (!$names) {
        my ($info) = grep { $_->{name} eq $ns } @{ $self->namespaces };
        return $item unless $info;
        $names = $self->{key_names}{$ns} = [grep { defined && length } @$info{qw(partition_key sort_key)}];
    }
    my %copy;
    for my $name (@$names) {
        my $v = $item->{$name};
        next unless defined $v && !ref $v && !utf8::is_utf8($v) && $v =~ /[^\x00-\x7f]/ && is_utf8_bytes($v);
        %copy = %$item unless %copy;
        utf8::decode($copy{$name});
    }
    return %copy ? \%copy : $item;
}

# _flat_keys(\@keys): key, or [key, sort key] pairs, as command arguments.
sub _flat_keys {
    my ($keys) = @_;
    return map { ref eq 'ARRAY' ? @$_ : $_ } @$keys;
}

1;

__END__

=encoding utf8

=head1 NAME

DDBCache::Client - look up DynamoDB items through the local ddbcache daemon

=head1 SYNOPSIS

    use DDBCache::Client;

    my $ddb = DDBCache::Client->new(
        timeout     => 2,          # seconds, for connecting and for each reply
        namespace   => 'profile',  # the namespace of lookup()
        local_cache => 50_000,     # hot items kept in this process (the default; 0: none)
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
    my $local   = $ddb->local_stats;                  # { hits => ..., misses => ..., entries => ... }
    $ddb->ping;

    my $item = eval { $ddb->get(nope => 1) }
        or warn $@;    # DDBCache::Client: DDB GET: ERR unknown namespace 'nope' at ...

=head1 DESCRIPTION

C<DDBCache::Client> talks to the ddbcache daemon, which serves cache-aside
lookups of DynamoDB items (its own memory, then Redis, then DynamoDB) over a
Unix socket in the Redis protocol (RESP2). A hot item comes back from the
daemon's memory without any network round trip; and, by default, from the
client's own local cache without even a round trip to the daemon: the
daemon tells the client when a held item changes (see L</"LOCAL CACHE">).

The module is pure Perl and needs only core modules. JSON is encoded and
decoded with the fastest module installed: L<Cpanel::JSON::XS>, then
L<JSON::XS>, then the core L<JSON::PP> (see L</json_backend>).

Items are JSON objects. Decoded strings are Perl character strings; C<put>
encodes character strings as UTF-8. Numbers come back as Perl numbers;
an integer too large for Perl comes back as the string of its digits (never
rounded). Binary attributes are base64 strings and sets are arrays, as the
daemon stores them.

Keys are strings, sent as UTF-8. A string with Perl's UTF-8 flag (decoded
text: a C<use utf8> literal, a value from a decoded JSON item) is UTF-8
encoded; a byte string that is UTF-8 already is sent as it is, so text and
raw UTF-8 bytes from legacy code find the same item (as with
L<Redis::Fast>); any other byte string is read as Latin-1, as C<put>'s JSON
encoder reads it (C<"Zo\xeb"> is I<Zoë>). C<put> applies the same rule to
the key attributes of its item, so a key names the same item in C<put> and
in the other methods whatever its form. Other arguments (namespaces, the
arguments of C<redis>) are sent as they are, text UTF-8 encoded. See
L<DDBCache::Manual::Encoding>.

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

C<local_cache> - how many items the client keeps in this process's memory
(an integer; default 50 000, C<$DDBCache::Client::DEFAULT_LOCAL_CACHE>).
C<0> turns the local cache off: every lookup is then a round trip to the
daemon. See L</"LOCAL CACHE"> (B<Sizes>) for why 50 000.

C<local_cache_bytes> - the most memory, in bytes, that the local cache
takes, whatever C<local_cache> allows: each entry counts for its JSON's
length, its keys' and about 1 KB of Perl's own bookkeeping (measured on
perl 5.36; C<local_stats> reports the sum as C<bytes>), so that the bound
holds for small items as for large ones (1000 items of 100 KB would be
100 MB per worker). An integer; default 64 MiB
(C<$DDBCache::Client::DEFAULT_LOCAL_CACHE_BYTES>); an item larger than
this on its own is served but not kept; C<0> turns the local cache off.

C<local_adapt> - C<1> (the default): the local cache steps aside while it
hits too seldom to pay for what it costs on a miss (see L</"LOCAL CACHE">,
B<Adapting>); C<0>: it never does.

C<local_ttl> - the most seconds (fractions allowed; above 0) that an item
is used from the local cache before it is read from the daemon again, even
when the daemon said nothing about it. Default 30.

C<reconnect> - the most seconds (fractions allowed) that a call waits for
the daemon to come back when its socket is missing or refuses connections
(the daemon is restarting: C<systemctl restart ddbcache>), and that an
idempotent call goes on sending its request again when the connection
breaks under it. Default 2; C<0> turns waiting off: such a call then fails
at once, as it would without this option. See L</"FORK, RESTART, TIMEOUTS">.

C<every> - the seconds between two tries while waiting (at least 0.001).
Default 0.05.

An unknown argument or a bad value croaks. C<new> does not connect: the
first call does, so that a client made before C<fork> costs nothing and a
daemon that is down makes calls fail, not the constructor.

=item get($ns, $key [, $sort])

The item as a hash reference, or C<undef> when it does not exist. With the
local cache on, a held item costs no round trip (see L</"LOCAL CACHE">);
each call returns a hash of its own, so changing it changes no other
call's result.

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

With the local cache on, the keys it holds are served from it, and only
the others are asked of the daemon, with one C<DDB MGETC> (C<DDB MGET> with
each key's Redis key and max-age, as C<DDB GETC>): no request at all when
every key is held. What the daemon answers with a max-age is kept, as for
C<get>; C<local_stats> counts each key as one hit or miss, and the adapting
bypass counts each as one lookup. With C<< local_cache => 0 >>, while
bypassed, or for keys the local cache does not key by, it is one plain
C<DDB MGET>; a daemon without C<DDB MGETC> has the keys not held read by
plain C<DDB MGET> and not kept.

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

=item local_stats

The local cache's counters, for this process, as a hash reference:

    { hits => 9120, misses => 88, invalidations => 3, flushes => 1, entries => 85,
      bytes => 24650, bypassed => 0, bypassing => 0, enabled => 1 }

C<hits>: lookups served from the local cache; C<misses>: lookups sent to
the daemon while the local cache was on (whether their answer could be
kept or not); C<invalidations>: entries dropped because the daemon said
their item changed; C<flushes>: times all entries were dropped at once (the
daemon said so, restarted, or the process forked); C<entries>: items held
now; C<bytes>: the memory they take as C<local_cache_bytes> counts it
(their values' length, their keys' and about 1 KB each; at most
C<local_cache_bytes>); C<bypassed>: lookups sent to the daemon as plain
C<DDB GET>s because the local cache did not pay (B<Adapting> in
L</"LOCAL CACHE">; they are not C<misses>); C<bypassing>: 1 while it is
bypassed now; C<enabled>: 1 while the local cache is on, 0 when it is off
(C<< local_cache => 0 >>, or a daemon that cannot track, see
L</"LOCAL CACHE">). Counters start at 0 in C<new> and are inherited by a
forked child. Makes no request.

=item disconnect

Closes the connection, and the tracking connection, and drops the local
cache; the next call opens new ones.

=item socket_path, timeout, namespace

The values in use.

=item json_backend

The JSON module in use: C<Cpanel::JSON::XS>, C<JSON::XS> or C<JSON::PP>.
Also a class method. The environment variable C<DDBCACHE_JSON_BACKEND>, set
before the module is loaded, forces one of them.

=back

=head1 LOCAL CACHE

A round trip to the daemon over its Unix socket costs around 100
microseconds on a small machine, most of it the kernel switching between
two processes; a hash lookup in the process's own memory costs well under
one. So the
client keeps up to C<local_cache> items that it looked up, and the daemon
tells it when any of them changes, the way the daemon's own memory cache
is told by Redis.

B<How.> The first lookup opens a second connection to the daemon and sends
C<DDB TRACK> on it; from then on the daemon only writes to it, unasked,
C<invalidate> messages naming the Redis keys of items that changed (or
"everything", after it lost Redis or a namespace's stream). Lookups use
C<DDB GETC>, which answers the item and, when the daemon will hear of
every change of it, for how long it may be kept. Each C<get>, C<get_json>
and C<lookup> first reads what the daemon pushed (one non-blocking read,
which finds nothing most of the time), drops the entries it names, and
then returns a held item, decoded afresh, without asking the daemon.

B<Writes through the daemon: never stale.> Every write that goes through
the daemon - C<put>, C<put_json>, C<delete>, C<invalidate> and Redis
write commands of this client or of any other client or process on the
host, the HTTP fronts' PUT and DELETE, C<ddbcache invalidate>, the DynamoDB
Streams consumer - is pushed to every tracking connection I<before> the
writer gets its reply. So a lookup that starts after such a write was
acknowledged never returns the value from before it, from any client
object in any process: read-your-writes holds as it does without the local
cache, with no waiting.

B<Changes made elsewhere: a bounded delay.> A change that does not go
through this daemon (another host's daemon, a Lambda, a legacy writer that
sets or deletes the Redis key itself, the key's expiry or eviction in
Redis) reaches the daemon as Redis's tracking invalidation, as it does for
the daemon's own memory cache, and the daemon passes it on at once: the
next lookup after it arrives sees the change, typically within a few
milliseconds of it. The daemon's own memory cache has the same delay; the
local cache adds only the push from the daemon. When the daemon loses its Redis connection it pushes
"everything"; when it cannot write a push (the client has not read its
connection for long) or restarts, it closes the tracking connection, and
the client drops all entries when it notices. Only values that the daemon
will hear of are kept: not items that do not exist, not values just read
from DynamoDB, not values of items written through the daemon in the last
two seconds, nothing while Redis is unreachable. And no entry is used for
longer than C<local_ttl> (30 s), nor than the daemon's own copy would be
(C<DDB GETC> says for how long): that bounds staleness even when nothing
is heard, e.g. while the daemon is stopped (SIGSTOP) or hung.

B<Turning it off.> C<< local_cache => 0 >> in C<new> (or in
L<Plack::Middleware::DDBCache>'s arguments): every lookup is then a round
trip and reads the daemon's current value. A daemon that answers
C<DDB TRACK> with an error (an older version) turns the local cache off
for that client object by itself; C<< local_stats->{enabled} >> then
says 0, and lookups are plain C<DDB GET>s.

B<Costs.> Each process that looks items up holds a second connection to
the daemon (it counts against the daemon's C<max_conns>), and up to
C<local_cache> items, taking no more than C<local_cache_bytes> of memory
(each entry counted for its JSON's and keys' length and about 1 KB of
Perl's bookkeeping); when either is reached, the items inserted first are
dropped. A full local cache keeps an item at its second miss among the
last 2 x (entries held) items that missed, not at its first: items read
once (most of a long tail) then neither cost an eviction nor push a hot
item out (with Zipf(0.99) over 100 000 items and 1000 entries this took
the hit ratio from 45 to 55 %). C<mget> uses and fills it as C<get> does,
key by key, asking the daemon for the keys not held with one C<DDB MGETC>.
A miss costs about what a plain C<DDB GET> costs: one C<send> and
one C<sysread> of C<DDB GETC>, whose reply is split in place; the tracking
connection is read only when a held item is about to be served (and on
every 64th miss, so that pushes do not pile up); an eviction is a few
hash operations. Measured in one process on the 2-core machine (CPU time
of the client only, medians of 10 interleaved rounds): a hit 7-8 us, a
miss 23 us, a lookup with C<< local_cache => 0 >> 19-20 us.

B<Sizes.> Why 50 000 entries: the hit ratio of Zipf(0.99) over 100 000
items (user profiles read by popularity) grows with the entries held,
and C<local_ttl> (30 s) caps it, since an entry read less often than that
is read again from the daemon anyway. The cache's own policy, simulated for
a long-lived worker (steady state) at 3 000 lookups a second (at 10 000 in
parentheses): 1000 entries 55 % (55 %), 10 000 68 %, 30 000 74 % (80 %),
50 000 75 %, 100 000 77 % (86 %). The 64 MiB of the default
C<local_cache_bytes> hold about 47 000 profiles of 300 B, so 50 000 is
where the two bounds meet for the typical profile, and items larger than
about 400 B are bounded by bytes. A worker holding them takes its
C<local_cache_bytes> plus what a Perl process takes anyway (about 12 MiB
with this client loaded): within the bound + 30 MiB that
F<t/16-local-cache-bounds.t> checks. For 100 workers on a host that is up
to 7.6 GiB; give a smaller C<local_cache_bytes> (or C<local_cache>) where
memory is short: 16 MiB hold about 12 000 profiles, 68 % of hits in the
same simulation.

B<Adapting.> What a miss costs on top of a plain lookup (the slightly
longer reply, keeping the value, evicting another) is paid back only if
enough lookups hit: on a small machine a hit costs a third of a round
trip, and the two break even somewhere between 10 and 25 % of hits. So,
unless C<< local_adapt => 0 >>, the client looks at the hit ratio of every
1000 misses: below 20 %, the next 10 000 lookups bypass the local cache
(plain C<DDB GET>s, counted as C<bypassed>); then 1000 misses more are
looked at, and the local cache stays on only if at least 30 % of those
lookups hit (the difference between 20 and 30 % is the hysteresis that
keeps it from switching on and off at the boundary); if not, it is
bypassed again, for twice as long each time in a row, up to 640 000
lookups. Entries and the tracking connection are kept while bypassing
(the push that an invalidation makes is read, and acted on, before an
entry is used again), so the look after a bypass sees a warm cache.
A bypassed lookup costs what one with C<< local_cache => 0 >> costs, but
for one counter's decrement (CPU per lookup, 30 interleaved rounds, 0.97
to 1.01 of it, the rounds' quartiles 0.86 to 1.05 on the shared machine).
A Zipf(0.99) workload over 100 000 items (about 78 % of hits with the
default size) keeps it on; a uniform one over as many steps aside
after the first 1000 misses. C<perl/bench/lookup.pl --zipf> compares the
default client with C<< local_cache => 0 >>.

=head1 FORK, RESTART, TIMEOUTS

B<Fork.> A client remembers the process that connected it. In a forked
child, the first call notices the different pid and opens its own
connection; parent and child never share one. A client may therefore be
made at start-up in a preforking server's parent (or in a mod_perl
C<startup.pl>) and used by every child. The same holds for the local
cache: a child drops the entries it inherited and never reads the parent's
tracking connection; its first lookup opens its own.

B<Restart.> When the daemon restarts, the connection it closed is noticed at
the next call, which opens a new connection. The local cache is emptied
when a connection to the daemon is lost, and at the first lookup after the
restart (the daemon closed the tracking connection), which then opens a new
tracking connection: nothing that changed while the daemon was away is
served from it.

While the daemon's socket is missing (a clean stop removes it) or refuses
connections (the stale file a crash leaves), every call waits for it,
trying again every C<every> seconds (0.05), for up to C<reconnect> seconds
(2), then croaks with C<cannot connect>. Nothing has been sent then, so
this is safe for writes too. A restart (C<systemctl restart ddbcache>)
that takes less than C<reconnect> is therefore not seen by the callers,
only a pause. C<< reconnect => 0 >> turns the wait off: calls croak at once
while the daemon is down.

If the connection breaks under an idempotent call (C<get>, C<get_json>,
C<lookup>, C<mget>, C<invalidate>, C<stats>, C<namespaces>, C<ping>), the
request is sent again on a new connection, and again until C<reconnect>
seconds have passed (a stopping daemon may close the new connection too);
with C<< reconnect => 0 >>, once. Writes (C<put>, C<put_json>, C<delete>)
and C<redis> commands are never sent twice blindly: they first check that
the connection is still open, and are sent again only when none of the
request reached the daemon; when the connection breaks after the request
was sent, they croak saying that the outcome is unknown, since the write
may or may not have happened. Read the item to find out.

B<Timeouts.> C<timeout> bounds connecting and each wait while writing a
request or reading its reply (with C<SO_RCVTIMEO>/C<SO_SNDTIMEO>, so the fast
path costs no extra system call). A daemon that hangs, or is stopped with
SIGSTOP, makes the call croak after C<timeout> seconds with a message naming
the socket and the timeout. The connection is then closed, so a late reply
cannot be taken for the next call's. (Items held in the local cache are
still served meanwhile, for at most C<local_ttl>.) A lookup never waits on
the tracking connection once it is open; opening it (and its C<DDB TRACK>)
is bounded by C<timeout> like any request, and fails as the lookup would.

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

No daemon listens on the socket (C<Connection refused>: a stale socket
file, after a crash), and none came within C<reconnect> seconds.

=item C<< DDBCache::Client: DDB GET: timed out after 2 s waiting for a reply from the daemon on /run/ddbcache/ddbcache.sock >>

See L</"FORK, RESTART, TIMEOUTS">.

=item C<< DDBCache::Client: DDB PUT: connection to /run/ddbcache/ddbcache.sock lost (...) after the request was sent; not retried: its outcome is unknown (it may or may not have been carried out) >>

The connection broke under a write (or a C<redis> command) after it was
sent: it is not sent again blindly, and whether it was carried out is not
known.

=item C<< DDBCache::Client: DDB GET: connection to /run/ddbcache/ddbcache.sock lost (...), and again after reconnecting (...) >>

The connection broke under an idempotent call, and kept breaking for
C<reconnect> seconds.

=item C<< DDBCache::Client: DDB GETC: protocol error: expected [value, key, max-age], got ... >>

=item C<< DDBCache::Client: DDB MGETC: protocol error: expected ... >>

The daemon answered a local-cache lookup with something else than C<DDB GETC>
promises. Problems with the tracking connection are never errors of their
own: the client drops its entries and goes on, or turns the local cache
off (see L</"LOCAL CACHE">); pushes that arrive together with the reply to
C<DDB TRACK> are pushes like any other; only what would fail a lookup anyway (no
daemon, a timeout, a refused password) croaks, with the lookup's message.

=item C<< DDBCache::Client->new: unknown argument 'sock' (known: every, local_adapt, local_cache, local_cache_bytes, local_ttl, namespace, password, reconnect, socket, timeout) >>

Also C<< local_cache must be a number of items (an integer, 0 turns the
local cache off), got '-1' >> and C<< local_ttl must be a number of seconds
above 0, got '0' >>. Bad arguments to C<new>, and wrong argument types to the methods (an
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

L<DDBCache::Manual::Encoding> says what C<put> and C<get> do with byte
strings and character strings. L<CHI::Driver::DDBCache> puts the client
behind CHI. L<DDBCache::Client::Connection>, L<DDBCache::Client::LocalCache>
and L<DDBCache::RESP> are the parts this module is built from.

=head1 LICENSE

This software is Copyright (c) the ddbcache developers.

This is free software, licensed under:

  The Apache License, Version 2.0, January 2004

See the F<LICENSE> file of the distribution.

=cut
