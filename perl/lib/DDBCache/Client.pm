package DDBCache::Client;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp qw(croak);
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Scalar::Util qw(blessed looks_like_number);
use Socket qw(PF_UNIX SOCK_STREAM SOL_SOCKET SO_RCVTIMEO SO_SNDTIMEO pack_sockaddr_un);
use Time::HiRes ();

# Where the daemon listens unless told otherwise (listen.unix in ddbcache.yaml).
our $DEFAULT_SOCKET = '/run/ddbcache/ddbcache.sock';

# Seconds. A little more than the daemon's own request timeout (5 s), so that
# when DynamoDB is slow the caller gets the daemon's error, not ours.
our $DEFAULT_TIMEOUT = 6;

# The local cache: how many items a client holds in its process, and for
# how many seconds at most it uses one (see "LOCAL CACHE" in the POD).
our $DEFAULT_LOCAL_CACHE = 1000;
our $DEFAULT_LOCAL_TTL   = 30;

# The most bytes of values (their JSON's length) that the local cache holds,
# whatever local_cache says: large items fill it long before 1000 of them.
our $DEFAULT_LOCAL_CACHE_BYTES = 64 * 1024 * 1024;

# Seconds that a call waits for the daemon's socket to come back (a
# restart), and the pause between two tries (see "FORK, RESTART, TIMEOUTS").
our $DEFAULT_RECONNECT = 2;
our $DEFAULT_EVERY     = 0.05;

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
    # Seconds before a client tries again to open a tracking connection
    # that the daemon could not give it (too many clients, a restart).
    TRACK_RETRY => 1,
    # Adapting (see "Adapting" in the POD): every ADAPT_WINDOW misses the
    # hit ratio of the window is looked at; below ADAPT_OFF (ADAPT_ON in
    # the window right after a bypass) the next ADAPT_BYPASS lookups, then
    # twice as many each time in a row, up to 64 times as many, bypass the
    # local cache.
    ADAPT_WINDOW    => 1000,
    ADAPT_OFF       => 0.20,
    ADAPT_ON        => 0.30,
    ADAPT_BYPASS    => 10_000,
    ADAPT_MAX_SHIFT => 6,
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
    # makes it (see "FORK, RESTART, TIMEOUTS" in the POD).
    return bless {
        socket    => $socket,
        timeout   => 0 + $timeout,
        namespace => $namespace,
        password  => $password,
        reconnect => 0 + $reconnect,
        every     => 0 + $every,
        fh        => undef,
        pid       => 0,
        # The local cache. local_max is 0 when it is off (asked for, or the
        # daemon cannot track). lc: "ns\0key[\0sort]" => [JSON, expiry
        # (epoch seconds), Redis value key, serial]; lc_rk: Redis value key
        # => local key, or { local key => 1 } for several, for the daemon's
        # invalidations; lc_order: (local key, serial) pairs in the order
        # inserted, for eviction; lc_bytes: the held values' lengths, summed.
        local_max   => 0 + $local,
        local_bytes => 0 + $local_bytes,
        local_ttl   => 0 + $local_ttl,
        lc          => {},
        lc_rk       => {},
        lc_order    => [],
        lc_bytes    => 0,
        lserial     => 0,
        # Adapting: lookups left to bypass the local cache, misses and the
        # hits count at the start of the window, bypasses in a row.
        adapt    => 0 + $adapt,
        bypass   => 0,
        aw_miss  => 0,
        aw_hits  => 0,
        aw_shift => 0,
        # The tracking connection: its handle, the process that opened it,
        # the part of a push read so far, when to try again to open one.
        tfh         => undef,
        tpid        => 0,
        tbuf        => '',
        track_retry => 0,
        # local_stats counters.
        lhits  => 0,
        lmiss  => 0,
        linval => 0,
        lflush  => 0,
        lbypass => 0,
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

# With the local cache on, a lookup of a held item makes no round trip: one
# non-blocking sysread of the tracking connection (which finds nothing
# pending, EAGAIN, unless the daemon pushed invalidations), a hash lookup
# and a decode. Everything else about the local cache is in _local_get.

# _lookup_sub($decode) makes get (decoding) and get_json (not): the same
# code, made twice so that neither pays for a call to the other.
sub _lookup_sub {
    my ($decode) = @_;
    return sub {
        my ($self, $ns, $key) = @_;
        my ($fh, $prefix, $entry, $local);
        if ($self->{local_max}) {
            if ($self->{bypass}) {
                # The local cache does not pay now (see "Adapting" in the
                # POD): a plain DDB GET, below.
                $self->{lbypass}++;
                $self->_bypass_end unless --$self->{bypass};
            } elsif (@_ == 3
                && ($fh = $self->{tfh})
                && $self->{tpid} == $$
                && defined $key && !ref $key && index($key, "\0") < 0
                && defined $ns && !ref $ns)
            {
                # A held entry: pending invalidations first, a write
                # acknowledged before this call has had its push written to
                # this socket. undef is EAGAIN, nothing pending: $! is not
                # looked at, as Perl makes its message each time (a third
                # of this path's cost). No other error can come from a Unix
                # socket that we never write to after DDB TRACK; one that
                # did would be seen by _local_get, which every entry goes
                # through within local_ttl. No entry: nothing to drain for,
                # as a push can only drop entries (a push about this key
                # read after the reply drops the value just kept: safe).
                my $lkey = "$ns\0$key";
                if ($self->{lc}{$lkey}) {
                    my $n = sysread $fh, $self->{tbuf}, READ_SIZE, length $self->{tbuf};
                    $self->_drain($n) if defined $n;
                    if (($entry = $self->{lc}{$lkey}) && $entry->[1] > Time::HiRes::time()) {
                        $self->{lhits}++;
                        return $decode && defined $entry->[0] ? $decode_json->($entry->[0]) : $entry->[0];
                    }
                }
                # A miss: DDB GETC inline, as the plain lookup below (one
                # send, one sysread, the reply split in place), for no more
                # than a DDB GET costs.
                if (   $self->{tfh}
                    && ($fh = $self->{fh})
                    && $self->{pid} == $self->{tpid}
                    && !utf8::is_utf8($key)
                    && ($prefix = $self->{getc_prefix}{$ns}))
                {
                    my $json = $self->_getc($fh, $prefix, $lkey, $key);
                    return $decode && defined $json ? $decode_json->($json) : $json;
                }
            }
            return $decode && defined $local ? $decode_json->($local) : $local
                if !$self->{bypass} && (@_ == 3 || @_ == 4) && $self->_local_get(\$local, @_[1 .. $#_]);
        }
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

# _getc($fh, $prefix, $lkey, $key): the local cache's miss path, for a plain
# key on this process's open connections: sends DDB GETC, reads its reply
# (one sysread for the usual whole reply, split in place by _getc_split;
# anything else through the general reader), keeps the value when the daemon
# says it may, and returns the item's JSON (undef: no such item).
sub _getc {
    my ($self, $fh, $prefix, $lkey, $key) = @_;
    my $req = $prefix . '$' . length($key) . "\r\n" . $key . "\r\n";
    local $SIG{PIPE} = 'IGNORE' unless NOSIGNAL;
    my $sent = send $fh, $req, NOSIGNAL;
    my @reply;
    if (defined $sent && $sent == length $req) {
        my $buf = '';
        my $n   = sysread $fh, $buf, READ_SIZE;
        @reply = _getc_split($buf) if $n;
        if (!@reply) {
            my $r = $n ? $self->_read_reply('DDB GET', $buf) : $self->_read_failed('DDB GET', $n);
            $r = $self->_retry('DDB GET', $req, 1) if ref $r && $r == $LOST;
            @reply = _getc_checked($r);
        }
    } else {
        my $lost = $self->_send_rest('DDB GET', $req, $sent);
        my $r = $lost ? $self->_retry('DDB GET', $req, 1) : $self->_read_reply('DDB GET', '');
        $r = $self->_retry('DDB GET', $req, 1) if ref $r && $r == $LOST;
        @reply = _getc_checked($r);
    }
    $self->_adapt if ++$self->{aw_miss} >= ADAPT_WINDOW;
    # Misses do not drain the tracking connection (see get); every 64th
    # does, so that pushes do not pile up when few lookups hit.
    $self->_drain_now unless ++$self->{lmiss} & 63;
    # max-age > 0 only for a value that the daemon will push an
    # invalidation for when it changes.
    $self->_local_store($lkey, @reply) if $reply[2] > 0 && $self->{tfh};
    return $reply[0];
}

# _getc_split($buf): (value or undef, Redis key, max-age) when $buf holds
# exactly one whole DDB GETC reply, *3 of a bulk (or nil), a bulk and an
# integer; else the empty list (a reply in pieces, an error: the general
# reader's business).
sub _getc_split {
    return if substr($_[0], 0, 5) ne "*3\r\n\$";
    my $i = index $_[0], "\r\n", 5;
    return if $i < 6;
    my $vlen = substr $_[0], 5, $i - 5;
    my ($value, $p);
    if ($vlen eq '-1') {
        $p = $i + 2;
    } else {
        return if $vlen =~ /[^0-9]/;
        $p = $i + 4 + $vlen;
        return if $p + 4 > length $_[0] || substr($_[0], $p - 2, 2) ne "\r\n";
        $value = substr $_[0], $i + 2, $vlen;
    }
    return if substr($_[0], $p, 1) ne '$';
    my $j = index $_[0], "\r\n", $p;
    return if $j < 0;
    my $klen = substr $_[0], $p + 1, $j - $p - 1;
    return if $klen eq '' || $klen =~ /[^0-9]/;
    my $q = $j + 4 + $klen;
    return if $q + 3 > length $_[0] || substr($_[0], $q - 2, 3) ne "\r\n:" || substr($_[0], -2) ne "\r\n";
    my $max_age = substr $_[0], $q + 1, length($_[0]) - $q - 3;
    return if $max_age eq '' || $max_age =~ /[^0-9]/;
    return ($value, substr($_[0], $j + 2, $klen), 0 + $max_age);
}

# _getc_checked($reply): a DDB GETC reply from the general reader as
# (value, Redis key, max-age); croaks on anything else.
sub _getc_checked {
    my ($reply) = @_;
    croak 'DDBCache::Client: DDB GETC: protocol error: expected [value, key, max-age], got ' . _show($reply)
        unless ref $reply eq 'ARRAY' && @$reply == 3 && defined $reply->[1] && !ref $reply->[1]
        && defined $reply->[2] && looks_like_number($reply->[2]);
    return @$reply;
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

# _getc_prefix($ns): the start of a `DDB GETC ns key` request, up to the key.
sub _getc_prefix {
    my ($self, $ns) = @_;
    (my $prefix = _request('DDB', 'GETC', $ns)) =~ s/\A\*3/*4/;
    $self->{getc_prefix} = {} if keys %{ $self->{getc_prefix} || {} } >= 64;
    $self->{getc_prefix}{$ns} = $prefix;
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
    # Idempotent: dropping entries twice drops them once.
    return $self->_call('DDB INVALIDATE', _request('DDB', 'INVALIDATE', $ns, _flat_keys(\@keys)), 1);
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
    $self->_local_reset if $self->{tfh} || %{ $self->{lc} };
    return;
}

sub local_stats {
    my ($self) = @_;
    if ($self->{tfh}) {
        # Entries that pending pushes drop, or that a parent process holds,
        # are not counted.
        if ($self->{tpid} != $$) {
            $self->_local_reset;
        } else {
            $self->_drain_now;
        }
    }
    return {
        hits          => $self->{lhits},
        misses        => $self->{lmiss},
        invalidations => $self->{linval},
        flushes       => $self->{lflush},
        entries       => scalar keys %{ $self->{lc} },
        bytes         => $self->{lc_bytes},
        bypassed      => $self->{lbypass},
        bypassing     => $self->{bypass} ? 1 : 0,
        enabled       => $self->{local_max} ? 1 : 0,
    };
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

# ---- the local cache -----------------------------------------------------

# _local_get(\$json, $ns, $key [, $sort]) looks an item up through the local
# cache, for get and get_json. Returns true when it did (the item's JSON,
# or undef when there is none, in $$json), false when the local cache cannot
# serve the lookup (arguments it does not key by, no tracking connection to
# be had): the caller then sends a plain DDB GET. Croaks as a lookup does.
sub _local_get {
    my ($self, $out, @args) = @_;
    for my $arg (@args) {
        return 0 if !defined $arg || ref $arg;
    }
    return 0 if index($args[1], "\0") >= 0;    # "ns\0key\0sort" must say where the key ends
    $self->_local_reset if $self->{tfh} && $self->{tpid} != $$;    # a forked child: nothing of the parent's

    # The tracking connection must be open, and drained, before the lookup
    # is sent: then every change of the item after the daemon read it is
    # pushed to it, and seen by the next lookup (it drains first).
    for (1 .. 2) {
        return 0 unless $self->_track_open;
        $self->_drain_now;
        last if $self->{tfh};    # else it was closed: a restart; open a new one once
    }
    return 0 unless $self->{tfh};

    my $lkey = join "\0", @args;
    if (my $entry = $self->{lc}{$lkey}) {
        if ($entry->[1] > Time::HiRes::time()) {
            $self->{lhits}++;
            $$out = $entry->[0];
            return 1;
        }
        $self->_local_forget($lkey);
    }

    # DDB GETC is DDB GET with the item's Redis key and for how long the
    # value may be kept. Errors read as those of DDB GET, the same lookup.
    my $reply;
    my $ok = eval { $reply = $self->_call('DDB GET', _request('DDB', 'GETC', @args), 1); 1 };
    if (!$ok) {
        my $err = $@;
        if ($err =~ /\ADDBCache::Client: DDB GET: ERR unknown DDB subcommand 'GETC'/) {
            $self->_local_off;    # a daemon that tracks but has no GETC: do without
            return 0;
        }
        die $err;    ## no critic (RequireCarping): croaked with the caller's line already
    }
    croak 'DDBCache::Client: DDB GETC: protocol error: expected [value, key, max-age], got ' . _show($reply)
        unless ref $reply eq 'ARRAY' && @$reply == 3 && defined $reply->[1] && !ref $reply->[1]
        && defined $reply->[2] && looks_like_number($reply->[2]);
    $self->{lmiss}++;
    $self->_adapt if ++$self->{aw_miss} >= ADAPT_WINDOW;
    my ($json, $rkey, $max_age) = @$reply;
    # max-age > 0 only for a value that the daemon will push an
    # invalidation for when it changes.
    $self->_local_store($lkey, $json, $rkey, $max_age) if $max_age > 0 && $self->{tfh};
    # This daemon knows GETC: the next misses in the namespace take the
    # inline path (see _getc).
    $self->_getc_prefix($args[0]) if @args == 2 && !$self->{select} && !exists $self->{getc_prefix}{ $args[0] };
    $$out = $json;
    return 1;
}

# _track_open: makes sure that this process has a tracking connection;
# returns true when it has one. Returns false when the daemon cannot give
# one now (then lookups do without the local cache until a retry), or does
# not know DDB TRACK (then the local cache is turned off). Croaks as a lookup
# would when the daemon cannot be reached, refuses the password or does not
# answer within the timeout.
sub _track_open {
    my ($self) = @_;
    return 1 if $self->{tfh};
    return 0 if $self->{track_retry} && Time::HiRes::time() < $self->{track_retry};

    # A connection made as the lookups' is (timeouts, AUTH), by a client
    # object of its own that lends it its handle.
    my $track = bless { (map { $_ => $self->{$_} } qw(socket timeout password reconnect every)), fh => undef, pid => 0 },
        __PACKAGE__;
    $track->_connect;
    # The daemon may push as soon as it has subscribed the connection, right
    # behind the +OK: the first read can hold the +OK and pushes, or a part
    # of one. What follows the reply is kept for _drain, not taken for a
    # protocol error.
    my ($reply, $pushes);
    my $ok = eval { $reply = $track->_exchange('DDB GET', _request('DDB', 'TRACK'), \$pushes); 1 };
    if (!$ok) {
        # A timeout or a protocol error closed the connection: croak as
        # the lookup. An error reply left it open: see what it says.
        my $err = $@;
        die $err unless $track->{fh};    ## no critic (RequireCarping): croaked with the caller's line already
        $track->_drop;
        if ($err =~ /\ADDBCache::Client: DDB GET: ERR max number of clients/) {
            $self->{track_retry} = Time::HiRes::time() + TRACK_RETRY;
        } else {
            $self->_local_off;    # an older daemon: no DDB TRACK
        }
        return 0;
    }
    if (ref $reply && $reply == $LOST) {
        $self->{track_retry} = Time::HiRes::time() + TRACK_RETRY;    # closed at once: restarting?
        return 0;
    }
    if (!defined $reply || ref $reply || $reply ne 'OK') {
        $track->_drop;
        $self->_local_off;
        return 0;
    }
    my $fh    = $track->{fh};
    my $flags = fcntl $fh, F_GETFL, 0;
    if (!$flags || !fcntl $fh, F_SETFL, $flags | O_NONBLOCK) {
        $track->_drop;
        $self->_local_off;    # a lookup must never wait on this socket
        return 0;
    }
    @$self{qw(tfh tpid tbuf track_retry)} = ($fh, $$, $pushes // '', 0);
    $self->_apply_pushes if length $self->{tbuf};
    return $self->{tfh} ? 1 : 0;    # bytes that are no push closed it again
}

# _drain_now: reads and acts on what the daemon pushed.
sub _drain_now {
    my ($self) = @_;
    my $n = sysread $self->{tfh}, $self->{tbuf}, READ_SIZE, length $self->{tbuf};
    $self->_drain($n) if defined $n || ($! != EAGAIN && $! != EWOULDBLOCK);
    return;
}

# _drain($n), after a non-blocking sysread of the tracking connection that
# read $n bytes (0: EOF; undef: an error other than EAGAIN), reads on until
# nothing is pending, and acts on each whole push in the buffer. EOF, an
# error or bytes that are no push: the daemon closed the connection (a
# restart; a push it could not write), so anything may have changed: all
# entries are dropped and a new connection is opened by the next lookup.
sub _drain {
    my ($self, $n) = @_;
    while (1) {
        if (!defined $n) {
            last if $! == EAGAIN || $! == EWOULDBLOCK;
            return $self->_local_reset unless $! == EINTR;
        } elsif ($n == 0) {
            return $self->_local_reset;
        } elsif ($n < READ_SIZE) {
            last;    # all there was: the rest of a push comes with its next bytes
        }
        $n = sysread $self->{tfh}, $self->{tbuf}, READ_SIZE, length $self->{tbuf};
    }
    return $self->_apply_pushes;
}

# _apply_pushes acts on each whole push in the buffer and keeps the rest (a
# push in pieces) for later; bytes that are no push drop everything, as in
# _drain.
sub _apply_pushes {
    my ($self) = @_;
    my ($pos, $len) = (0, length $self->{tbuf});
    while ($pos < $len) {
        my @errors;
        my ($push, $end) = _parse($self->{tbuf}, $pos, \@errors);
        last if $end == -1;    # a push in pieces: the rest comes later
        return $self->_local_reset
            unless $end > 0 && !@errors && ref $push eq 'ARRAY' && @$push == 2
            && defined $push->[0] && $push->[0] eq 'invalidate'
            && (!defined $push->[1] || ref $push->[1] eq 'ARRAY');
        $self->_invalidate_local($push->[1]);
        $pos = $end;
    }
    substr($self->{tbuf}, 0, $pos, '') if $pos;
    return;
}

# _invalidate_local(\@redis_keys) drops the entries of items with those
# Redis keys; undef (the flush form) drops all.
sub _invalidate_local {
    my ($self, $rkeys) = @_;
    return $self->_local_flush unless defined $rkeys;
    my $rk = $self->{lc_rk};
    for my $rkey (@$rkeys) {
        next unless defined $rkey && !ref $rkey;
        my $have = $rk->{$rkey} // next;    # keys not held are ignored
        for my $lkey (ref $have ? keys %$have : $have) {
            next unless $self->{lc}{$lkey};
            $self->_local_forget($lkey);
            $self->{linval}++;
        }
    }
    return;
}

# _local_store($lkey, $json, $rkey, $max_age_ms) keeps a value for
# min(max-age, local_ttl), first evicting the entries inserted first while
# the cache holds local_max entries or the value would take it over
# local_bytes (the values' lengths, summed in lc_bytes). A value longer
# than local_bytes on its own is not kept. lc_rk maps a Redis key to its
# one local key (the usual case, no hash to make) or to a hash of them.
sub _local_store {
    my ($self, $lkey, $json, $rkey, $max_age) = @_;
    my $ttl = $max_age / 1000;
    $ttl = $self->{local_ttl} if $ttl > $self->{local_ttl};
    my $size = defined $json ? length $json : 0;
    my ($lc, $rk, $order) = @$self{qw(lc lc_rk lc_order)};
    $self->_local_forget($lkey) if $lc->{$lkey};    # an expired entry, read again
    return if $size > $self->{local_bytes};
    # Evict the entries inserted first. lc_order holds (key, serial) pairs; a
    # pair whose entry was dropped meanwhile (or dropped and inserted again:
    # another serial) is skipped. Inline: this runs on most misses of a full cache.
    while (%$lc && (keys %$lc >= $self->{local_max} || $self->{lc_bytes} + $size > $self->{local_bytes})) {
        my ($okey, $serial) = splice @$order, 0, 2;
        my $old = $lc->{$okey};
        next unless $old && $old->[3] == $serial;
        delete $lc->{$okey};
        $self->{lc_bytes} -= length $old->[0] if defined $old->[0];
        my $have = $rk->{ $old->[2] };
        if (ref $have) {
            delete $have->{$okey};
            delete $rk->{ $old->[2] } unless %$have;
        } elsif (defined $have && $have eq $okey) {
            delete $rk->{ $old->[2] };
        }
    }
    push @$order, $lkey, ++$self->{lserial};
    $self->_local_compact if @$order > 4 * $self->{local_max} + 64;
    $lc->{$lkey} = [$json, Time::HiRes::time() + $ttl, $rkey, $self->{lserial}];
    $self->{lc_bytes} += $size;
    my $have = $rk->{$rkey};
    if (!defined $have) {
        $rk->{$rkey} = $lkey;
    } elsif (ref $have) {
        $have->{$lkey} = 1;
    } elsif ($have ne $lkey) {
        $rk->{$rkey} = { $have => 1, $lkey => 1 };
    }
    return;
}

# _local_compact drops the pairs of lc_order that eviction would skip,
# so that invalidated entries do not make it grow without bound.
sub _local_compact {
    my ($self) = @_;
    my ($lc, $order) = @$self{qw(lc lc_order)};
    my @pairs = @$order;
    @$order = ();
    while (my ($lkey, $serial) = splice @pairs, 0, 2) {
        my $entry = $lc->{$lkey};
        push @$order, $lkey, $serial if $entry && $entry->[3] == $serial;
    }
    return;
}

# _local_forget($lkey) drops one entry, if held, and its lc_rk link.
sub _local_forget {
    my ($self, $lkey) = @_;
    my $entry = delete $self->{lc}{$lkey} or return;
    $self->{lc_bytes} -= length $entry->[0] if defined $entry->[0];
    my ($rk, $rkey) = ($self->{lc_rk}, $entry->[2]);
    my $have = $rk->{$rkey};
    if (ref $have) {
        delete $have->{$lkey};
        delete $rk->{$rkey} unless %$have;
    } elsif (defined $have && $have eq $lkey) {
        delete $rk->{$rkey};
    }
    return;
}

# ---- adapting: a local cache that does not pay steps aside ---------------

# _adapt, every ADAPT_WINDOW misses: when the hit ratio of the window was
# below ADAPT_OFF (ADAPT_ON right after a bypass: the hysteresis), the next
# lookups bypass the local cache, as plain DDB GETs, ADAPT_BYPASS of them
# the first time and twice as many each time in a row after (at most
# ADAPT_BYPASS << ADAPT_MAX_SHIFT). Entries and the tracking connection are
# kept meanwhile, so the window after a bypass measures a warm cache.
sub _adapt {
    my ($self) = @_;
    return $self->{aw_miss} = 0 unless $self->{adapt};
    my $hits  = $self->{lhits} - $self->{aw_hits};
    my $ratio = $hits / ($hits + $self->{aw_miss});
    if ($ratio < ($self->{aw_shift} ? ADAPT_ON : ADAPT_OFF)) {
        $self->{bypass} = ADAPT_BYPASS << $self->{aw_shift};
        $self->{aw_shift}++ if $self->{aw_shift} < ADAPT_MAX_SHIFT;
    } else {
        $self->{aw_shift} = 0;
    }
    @$self{qw(aw_miss aw_hits)} = (0, $self->{lhits});
    return;
}

# _bypass_end: the bypass is over; the next window starts now.
sub _bypass_end {
    my ($self) = @_;
    @$self{qw(bypass aw_miss aw_hits)} = (0, 0, $self->{lhits});
    return;
}

sub _local_flush {
    my ($self) = @_;
    $self->{lflush}++;
    @$self{qw(lc lc_rk lc_order lc_bytes)} = ({}, {}, [], 0);
    return;
}

# _local_reset forgets the tracking connection (closing this process's
# descriptor only: a forked parent's connection is unaffected, and never
# read by the child) and every entry.
sub _local_reset {
    my ($self) = @_;
    my $fh = $self->{tfh};
    close $fh if $fh;
    @$self{qw(tfh tpid tbuf)} = (undef, 0, '');
    $self->_local_flush;
    return;
}

# _local_off turns the local cache off for good: the daemon cannot track.
sub _local_off {
    my ($self) = @_;
    $self->_local_reset if $self->{tfh};
    $self->{local_max} = 0;
    @$self{qw(lc lc_rk lc_order lc_bytes)} = ({}, {}, [], 0);
    return;
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

# _retry: the connection broke under a request. The local cache is dropped
# (the daemon may have restarted: it would not push what changed meanwhile).
# The request is sent again on a new connection when that is safe: the call
# is idempotent, or nothing of the request reached the daemon. An idempotent
# call tries again, every `every` seconds, for up to `reconnect` seconds (a
# restart: the old daemon may close the new connection too while it drains);
# anything else, once.
sub _retry {
    my ($self, $what, $req, $idempotent) = @_;
    my $first = $self->{lost};
    $self->_local_reset if $self->{tfh};
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first) after the request was sent; "
        . 'not retried: its outcome is unknown (it may or may not have been carried out)'
        unless $idempotent || !$self->{lost_sent};
    my $deadline = Time::HiRes::time() + $self->{reconnect};
    while (1) {
        $self->_connect($deadline);
        my $reply = $self->_exchange($what, $req);
        return $reply unless ref $reply && $reply == $LOST;
        last unless $idempotent && Time::HiRes::time() + $self->{every} < $deadline;
        Time::HiRes::sleep($self->{every});    # the retry's backoff
    }
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first), and again after reconnecting "
        . "($self->{lost}); not retried again: its outcome is unknown (it may or may not have been carried out)"
        if $self->{lost_sent} && !$idempotent;
    croak "DDBCache::Client: $what: connection to $self->{socket} lost ($first), "
        . "and again after reconnecting ($self->{lost})";
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

# _connect([$deadline]) opens a new connection. While the daemon's socket
# is missing (a clean stop removes it) or refuses connections (a stale file
# after a crash), it tries again every `every` seconds until $deadline
# (default: `reconnect` seconds from now), then croaks as the last try did.
# Nothing has been sent yet, so waiting is safe for any call.
sub _connect {
    my ($self, $deadline) = @_;
    $self->_drop;
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
    # connect to a full listen queue) without a select() per call. Where
    # they cannot be set, each read waits in select() instead.
    my $t  = $self->{timeout};
    my $tv = pack 'l!l!', int $t, int(($t - int $t) * 1_000_000);
    my $sockopts = setsockopt($fh, SOL_SOCKET, SO_RCVTIMEO, $tv) && setsockopt($fh, SOL_SOCKET, SO_SNDTIMEO, $tv);
    if (!connect $fh, pack_sockaddr_un($path)) {
        croak "DDBCache::Client: cannot connect to $path within $t s (timeout)"
            if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINPROGRESS} || $!{ETIMEDOUT};
        my $err = "DDBCache::Client: cannot connect to $path: $! (is the ddbcache daemon running?)";
        return $err if $!{ENOENT} || $!{ECONNREFUSED};
        croak $err;
    }
    $self->{fh}     = $fh;
    $self->{pid}    = $$;
    $self->{select} = !$sockopts;
    delete @$self{qw(get_prefix getc_prefix)} if $self->{select};
    if (defined $self->{password}) {
        # A refused password must not leave an unauthenticated connection.
        my $ok = eval { $self->_exchange('AUTH', _request('AUTH', $self->{password})) };
        if (!defined $ok) {
            my $err = $@ || "DDBCache::Client: AUTH: no reply from $path\n";
            $self->_drop;
            die $err;    ## no critic (RequireCarping): already croaked with the caller's line
        }
        # Closed at once: a daemon that is stopping. Tried again like a missing socket.
        return "DDBCache::Client: AUTH: connection to $path lost ($self->{lost})"
            if ref $ok && $ok == $LOST;
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

# _exchange($what, $request [, \$rest]) writes a request and reads its
# reply. An error reply croaks with its text; a timeout croaks; a broken
# connection returns $LOST. With \$rest, bytes read after the reply are
# put there (on the tracking connection: pushes); without, they are a
# protocol error.
sub _exchange {
    my ($self, $what, $req, $rest) = @_;
    local $SIG{PIPE} = 'IGNORE' unless NOSIGNAL;
    my $sent = send $self->{fh}, $req, NOSIGNAL;
    if (!defined $sent || $sent != length $req) {
        my $lost = $self->_send_rest($what, $req, $sent);
        return $lost if $lost;
    }
    return $self->_read_reply($what, '', $rest);
}

# _read_reply($what, $buf [, \$rest]) reads until $buf holds one whole
# reply, and returns it (or croaks, or returns $LOST, as _exchange).
sub _read_reply {
    my ($self, $what, $buf, $rest) = @_;
    my $fh   = $self->{fh};
    my $want = READ_SIZE;
    while (1) {
        if (length $buf) {
            my @errors;
            my ($reply, $end, $need) = _parse($buf, 0, \@errors);
            if ($end == length $buf || ($rest && $end > 0)) {
                $$rest = substr $buf, $end if $rest;
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
        timeout     => 2,          # seconds, for connecting and for each reply
        namespace   => 'profile',  # the namespace of lookup()
        local_cache => 1000,       # hot items kept in this process (the default; 0: none)
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

C<local_cache> - how many items the client keeps in this process's memory
(an integer; default 1000). C<0> turns the local cache off: every lookup is
then a round trip to the daemon. See L</"LOCAL CACHE">.

C<local_cache_bytes> - the most bytes of values (the items' JSON text, its
length summed over the items held) that the local cache holds, whatever
C<local_cache> allows: 1000 items of 100 KB would be 100 MB per worker.
An integer; default 64 MiB (C<$DDBCache::Client::DEFAULT_LOCAL_CACHE_BYTES>);
an item larger than this on its own is served but not kept; C<0> turns the
local cache off.

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
now; C<bytes>: the length of their values, summed (at most
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
C<local_cache> items' JSON text, and no more than C<local_cache_bytes> of
it; when either is reached, the items inserted first are dropped. C<mget>
neither uses nor fills the local cache. A miss costs about what a plain
C<DDB GET> costs: one C<send> and one C<sysread> of C<DDB GETC>, whose
reply is split in place; the tracking connection is read only when a held
item is about to be served (and on every 64th miss, so that pushes do not
pile up); an eviction is a few hash operations.

B<Adapting.> What a miss costs on top of a plain lookup (the slightly
longer reply, keeping the value, evicting another) is paid back only if
enough lookups hit: on a small machine a hit costs a fifth of a round
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
A Zipf(0.99) workload over 100 000 items (about 45 % of hits with the
default 1000 items) keeps it on; a uniform one over as many steps aside
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

=cut
