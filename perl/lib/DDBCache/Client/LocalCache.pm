package DDBCache::Client::LocalCache;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp qw(croak);
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Scalar::Util qw(looks_like_number);
use Socket ();
use Time::HiRes ();

use DDBCache::RESP qw(encode_request key_bytes parse_reply split_getc);

# Errors are the client's: Carp reports them at its caller's line.
our @CARP_NOT = qw(DDBCache::Client DDBCache::Client::Connection DDBCache::RESP);

# Constants, not Readonly (not core): inlined on the hot path.
use constant {    ## no critic (ProhibitConstantPragma)
    READ_SIZE => 65_536,
    NOSIGNAL  => eval { Socket::MSG_NOSIGNAL() } || 0,
    # Seconds before a client tries again to open a tracking connection
    # that the daemon could not give it (too many clients, a restart).
    TRACK_RETRY => 1,
    # Adapting (see "Adapting" in DDBCache::Client's POD): every
    # ADAPT_WINDOW misses the hit ratio of the window is looked at; below
    # ADAPT_OFF (ADAPT_ON in the window right after a bypass) the next
    # ADAPT_BYPASS lookups, then twice as many each time in a row, up to 64
    # times as many, bypass the local cache.
    ADAPT_WINDOW    => 1000,
    ADAPT_OFF       => 0.20,
    ADAPT_ON        => 0.30,
    ADAPT_BYPASS    => 10_000,
    ADAPT_MAX_SHIFT => 6,
    # What an entry costs Perl besides its value and keys, in bytes: the
    # entry's array and scalars, its slots in lc, lc_rk and lc_order, and
    # the two keys that the admission may remember for each entry held
    # (seen), with KEY_COPIES copies of the local key and RKEY_COPIES of
    # the Redis key counted apart. Measured on perl 5.36 x86_64 as RSS
    # growth per entry with seen full (50 000 entries; 891-953 B for local
    # keys of 14 to 68 bytes, values of 40 and 300 B), rounded up.
    ENTRY_BYTES => 960,
    KEY_COPIES  => 5,
    RKEY_COPIES => 2,
};

# new(max => ITEMS, bytes => BYTES, ttl => SECONDS, adapt => 0|1): an empty
# local cache, off when max is 0; the arguments were checked by
# DDBCache::Client. DDBCache::Client's lookups read the fields on their fast
# path: lc, tfh, tpid, tbuf, getc_prefix, bypass; and count lhits up and bypass down.
sub new {
    my ($class, %args) = @_;
    return bless {
        # max is 0 when the local cache is off (asked for, or the daemon
        # cannot track). lc: "ns\0key[\0sort]" => [JSON, expiry (epoch
        # seconds), Redis value key, serial]; lc_rk: Redis value key =>
        # local key, or { local key => 1 } for several, for the daemon's
        # invalidations; lc_order: (local key, serial) pairs in the order
        # inserted, for eviction; lc_bytes: what the entries take, summed
        # (see entry_bytes).
        max      => 0 + $args{max},
        bytes    => 0 + $args{bytes},
        ttl      => 0 + $args{ttl},
        lc       => {},
        lc_rk    => {},
        lc_order => [],
        lc_bytes => 0,
        lserial  => 0,
        seen     => {},
        # The tracking connection: its handle, the process that opened it,
        # the part of a push read so far, when to try again to open one.
        tfh         => undef,
        tpid        => 0,
        tbuf        => '',
        track_retry => 0,
        # Adapting: lookups left to bypass the local cache, misses and the
        # hits count at the start of the window, bypasses in a row.
        adapt    => 0 + $args{adapt},
        bypass   => 0,
        aw_miss  => 0,
        aw_hits  => 0,
        aw_shift => 0,
        # stats counters.
        lhits   => 0,
        lmiss   => 0,
        linval  => 0,
        lflush  => 0,
        lbypass => 0,
    }, $class;
}

# stats: the counters, as DDBCache::Client's local_stats returns them.
sub stats {
    my ($self) = @_;
    if ($self->{tfh}) {
        # Entries that pending pushes drop, or that a parent process holds,
        # are not counted.
        if ($self->{tpid} != $$) {
            $self->reset_all;
        } else {
            $self->drain_now;
        }
    }
    return {
        hits          => $self->{lhits},
        misses        => $self->{lmiss},
        invalidations => $self->{linval},
        flushes       => $self->{lflush},
        entries       => scalar keys %{ $self->{lc} },
        bytes         => $self->{lc_bytes},
        bypassed      => $self->{lbypass} - $self->{bypass},
        bypassing     => $self->{bypass} ? 1 : 0,
        enabled       => $self->{max} ? 1 : 0,
    };
}

sub _show { my ($v) = @_; return defined $v ? (ref $v ? ref($v) . ' reference' : "'$v'") : 'undef' }

# get($conn, \$json, $ns, $key [, $sort]) looks an item up through the local
# cache, for get and get_json. Returns true when it did (the item's JSON,
# or undef when there is none, in $$json), false when the local cache cannot
# serve the lookup (arguments it does not key by, no tracking connection to
# be had): the caller then sends a plain DDB GET. Croaks as a lookup does.
sub get {
    my ($self, $conn, $out, @args) = @_;
    for my $arg (@args) {
        return 0 if !defined $arg || ref $arg;
    }
    return 0 if index($args[1], "\0") >= 0;    # "ns\0key\0sort" must say where the key ends
    $self->reset_all if $self->{tfh} && $self->{tpid} != $$;    # a forked child: nothing of the parent's

    # The tracking connection must be open, and drained, before the lookup
    # is sent: then every change of the item after the daemon read it is
    # pushed to it, and seen by the next lookup (it drains first).
    for (1 .. 2) {
        return 0 unless $self->track_open($conn);
        $self->drain_now;
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
        $self->forget($lkey);
    }

    # DDB GETC is DDB GET with the item's Redis key and for how long the
    # value may be kept. Errors read as those of DDB GET, the same lookup.
    my $reply;
    my $ok = eval { $reply = $conn->call('DDB GET', encode_request('DDB', 'GETC', $args[0], key_bytes(@args[1 .. $#args])), 1); 1 };
    if (!$ok) {
        my $err = $@;
        if ($err =~ /\ADDBCache::Client: DDB GET: ERR unknown DDB subcommand 'GETC'/) {
            $self->off;    # a daemon that tracks but has no GETC: do without
            return 0;
        }
        die $err;    ## no critic (RequireCarping): croaked with the caller's line already
    }
    my ($json, $rkey, $max_age) = _getc_checked($reply);
    $self->{lmiss}++;
    $self->adapt if ++$self->{aw_miss} >= ADAPT_WINDOW;
    # max-age > 0 only for a value that the daemon will push an
    # invalidation for when it changes.
    $self->store($lkey, $json, $rkey, $max_age) if $max_age > 0 && $self->{tfh};
    # This daemon knows GETC: the next misses in the namespace take the
    # inline path (see miss).
    $self->_getc_prefix($args[0]) if @args == 2 && !$conn->{select} && !exists $self->{getc_prefix}{ $args[0] };
    $$out = $json;
    return 1;
}

# mget($conn, $ns, \@keys) looks items up through the local cache, for
# DDBCache::Client's mget: the keys held (and unexpired) are served from it,
# the others asked of the daemon with one DDB MGETC (none when all are
# held), whose values are kept when it gives a max-age. Returns the items'
# JSON (undef: none) in the order of @keys, or undef when the local cache
# cannot serve the lookup (bypassed, keys it does not key by, no tracking
# connection): the caller then sends a plain DDB MGET. Each key counts as
# one lookup in the hits, misses and the adaptive bypass, as get's do.
sub mget {    ## no critic (ProhibitExcessComplexity)
    my ($self, $conn, $ns, $keys) = @_;
    if ($self->{bypass}) {
        # A bypass is counted in lookups: an mget of N keys takes N of them.
        if ($self->{bypass} > @$keys) {
            $self->{bypass} -= @$keys;
        } else {
            $self->bypass_end;
        }
        return;
    }
    return if !defined $ns || ref $ns;
    my @lkeys;
    for my $key (@$keys) {
        my @parts = ref $key eq 'ARRAY' ? @$key : ($key);
        for my $part (@parts) {
            return if !defined $part || ref $part;
        }
        return if index($parts[0], "\0") >= 0;    # "ns\0key\0sort" must say where the key ends
        push @lkeys, join "\0", $ns, @parts;      # as get's: the same entries
    }
    $self->reset_all if $self->{tfh} && $self->{tpid} != $$;    # a forked child: nothing of the parent's
    # Open and drained before the lookup is sent, as in get.
    for (1 .. 2) {
        return unless $self->track_open($conn);
        $self->drain_now;
        last if $self->{tfh};
    }
    return unless $self->{tfh};

    my (@json, @miss);
    my ($lc, $now) = ($self->{lc}, Time::HiRes::time());
    for my $i (0 .. $#lkeys) {
        my $entry = $lc->{ $lkeys[$i] };
        if ($entry && $entry->[1] > $now) {
            $json[$i] = $entry->[0];
            next;
        }
        $self->forget($lkeys[$i]) if $entry;
        push @miss, $i;
    }
    $self->{lhits} += @lkeys - @miss;
    return \@json unless @miss;

    my @args = key_bytes(map { ref eq 'ARRAY' ? @$_ : $_ } @$keys[@miss]);
    if ($self->{no_mgetc}) {
        # A daemon without MGETC: the misses by plain DDB MGET, not kept.
        @json[@miss] = @{ _mget_checked($conn->call('DDB MGET', encode_request('DDB', 'MGET', $ns, @args), 1), \@miss) };
    } else {
        my $reply;
        my $ok = eval { $reply = $conn->call('DDB MGET', encode_request('DDB', 'MGETC', $ns, @args), 1); 1 };
        if (!$ok) {
            my $err = $@;
            die $err    ## no critic (RequireCarping): croaked with the caller's line already
                unless $err =~ /\ADDBCache::Client: DDB MGET: ERR unknown DDB subcommand 'MGETC'/;
            $self->{no_mgetc} = 1;    # an older daemon: GETC, but no MGETC
            $self->{lhits} -= @lkeys - @miss;    # the hits are counted again by the retry
            return $self->mget($conn, $ns, $keys);
        }
        croak 'DDBCache::Client: DDB MGETC: protocol error: expected ' . 3 * @miss . ' elements, got ' . _show($reply)
            unless ref $reply eq 'ARRAY' && @$reply == 3 * @miss;
        for my $j (0 .. $#miss) {
            my ($value, $rkey, $max_age) = @$reply[3 * $j .. 3 * $j + 2];
            croak 'DDBCache::Client: DDB MGETC: protocol error: expected [value, key, max-age], got ' . _show($rkey)
                unless defined $rkey && !ref $rkey && defined $max_age && looks_like_number($max_age);
            $json[ $miss[$j] ] = $value;
            # max-age > 0 only for a value that the daemon will push an
            # invalidation for when it changes.
            $self->store($lkeys[ $miss[$j] ], $value, $rkey, $max_age) if $max_age > 0 && $self->{tfh};
        }
    }
    $self->{lmiss} += @miss;
    $self->adapt if ($self->{aw_miss} += @miss) >= ADAPT_WINDOW;
    return \@json;
}

# _mget_checked($reply, \@asked): a DDB MGET reply for the keys asked;
# croaks on anything else.
sub _mget_checked {
    my ($reply, $asked) = @_;
    croak 'DDBCache::Client: DDB MGET: expected ' . @$asked . ' replies, got ' . _show($reply)
        unless ref $reply eq 'ARRAY' && @$reply == @$asked;
    return $reply;
}

# track_open($conn): makes sure that this process has a tracking connection;
# returns true when it has one. Returns false when the daemon cannot give
# one now (then lookups do without the local cache until a retry), or does
# not know DDB TRACK (then the local cache is turned off). Croaks as a lookup
# would when the daemon cannot be reached, refuses the password or does not
# answer within the timeout.
sub track_open {
    my ($self, $conn) = @_;
    return 1 if $self->{tfh};
    return 0 if $self->{track_retry} && Time::HiRes::time() < $self->{track_retry};

    # A connection made as the lookups' is (timeouts, AUTH), which lends
    # the local cache its handle.
    my $track = $conn->clone;
    $track->dial;
    # The daemon may push as soon as it has subscribed the connection, right
    # behind the +OK: the first read can hold the +OK and pushes, or a part
    # of one. What follows the reply is kept for drain, not taken for a
    # protocol error.
    my ($reply, $pushes);
    my $ok = eval { $reply = $track->exchange('DDB GET', encode_request('DDB', 'TRACK'), \$pushes); 1 };
    if (!$ok) {
        # A timeout or a protocol error closed the connection: croak as
        # the lookup. An error reply left it open: see what it says.
        my $err = $@;
        die $err unless $track->{fh};    ## no critic (RequireCarping): croaked with the caller's line already
        $track->drop;
        if ($err =~ /\ADDBCache::Client: DDB GET: ERR max number of clients/) {
            $self->{track_retry} = Time::HiRes::time() + TRACK_RETRY;
        } else {
            $self->off;    # an older daemon: no DDB TRACK
        }
        return 0;
    }
    if ($conn->is_lost($reply)) {
        $self->{track_retry} = Time::HiRes::time() + TRACK_RETRY;    # closed at once: restarting?
        return 0;
    }
    if (!defined $reply || ref $reply || $reply ne 'OK') {
        $track->drop;
        $self->off;
        return 0;
    }
    my $fh    = $track->{fh};
    my $flags = fcntl $fh, F_GETFL, 0;
    if (!$flags || !fcntl $fh, F_SETFL, $flags | O_NONBLOCK) {
        $track->drop;
        $self->off;    # a lookup must never wait on this socket
        return 0;
    }
    @$self{qw(tfh tpid tbuf track_retry)} = ($fh, $$, $pushes // '', 0);
    $self->_apply_pushes if length $self->{tbuf};
    return $self->{tfh} ? 1 : 0;    # bytes that are no push closed it again
}

# drain_now: reads and acts on what the daemon pushed.
sub drain_now {
    my ($self) = @_;
    my $n = sysread $self->{tfh}, $self->{tbuf}, READ_SIZE, length $self->{tbuf};
    $self->drain($n) if defined $n || ($! != EAGAIN && $! != EWOULDBLOCK);
    return;
}

# drain($n), after a non-blocking sysread of the tracking connection that
# read $n bytes (0: EOF; undef: an error other than EAGAIN), reads on until
# nothing is pending, and acts on each whole push in the buffer. EOF, an
# error or bytes that are no push: the daemon closed the connection (a
# restart; a push it could not write), so anything may have changed: all
# entries are dropped and a new connection is opened by the next lookup.
sub drain {
    my ($self, $n) = @_;
    while (1) {
        if (!defined $n) {
            last if $! == EAGAIN || $! == EWOULDBLOCK;
            return $self->reset_all unless $! == EINTR;
        } elsif ($n == 0) {
            return $self->reset_all;
        } elsif ($n < READ_SIZE) {
            last;    # all there was: the rest of a push comes with its next bytes
        }
        $n = sysread $self->{tfh}, $self->{tbuf}, READ_SIZE, length $self->{tbuf};
    }
    return $self->_apply_pushes;
}

# _apply_pushes acts on each whole push in the buffer and keeps the rest (a
# push in pieces) for later; bytes that are no push drop everything, as in
# drain.
sub _apply_pushes {
    my ($self) = @_;
    my ($pos, $len) = (0, length $self->{tbuf});
    while ($pos < $len) {
        my @errors;
        my ($push, $end) = parse_reply($self->{tbuf}, $pos, \@errors);
        last if $end == -1;    # a push in pieces: the rest comes later
        return $self->reset_all
            unless $end > 0 && !@errors && ref $push eq 'ARRAY' && @$push == 2
            && defined $push->[0] && $push->[0] eq 'invalidate'
            && (!defined $push->[1] || ref $push->[1] eq 'ARRAY');
        $self->invalidate($push->[1]);
        $pos = $end;
    }
    substr($self->{tbuf}, 0, $pos, '') if $pos;
    return;
}

# invalidate(\@redis_keys) drops the entries of items with those
# Redis keys; undef (the flush form) drops all.
sub invalidate {
    my ($self, $rkeys) = @_;
    return $self->flush unless defined $rkeys;
    my $rk = $self->{lc_rk};
    for my $rkey (@$rkeys) {
        next unless defined $rkey && !ref $rkey;
        my $have = $rk->{$rkey} // next;    # keys not held are ignored
        for my $lkey (ref $have ? keys %$have : $have) {
            next unless $self->{lc}{$lkey};
            $self->forget($lkey);
            $self->{linval}++;
        }
    }
    return;
}

# store($lkey, $json, $rkey, $max_age_ms) keeps a value for
# min(max-age, local_ttl), first evicting the entries inserted first while
# the cache holds max entries or the entry would take it over bytes (what
# the entries take, summed in lc_bytes). An entry larger than bytes on its
# own is not kept. lc_rk maps a Redis key to its
# one local key (the usual case, no hash to make) or to a hash of them.
sub store {
    my ($self, $lkey, $json, $rkey, $max_age) = @_;
    my $ttl = $max_age / 1000;
    $ttl = $self->{ttl} if $ttl > $self->{ttl};
    my $size = entry_bytes($lkey, $json, $rkey);
    my ($lc, $rk, $order) = @$self{qw(lc lc_rk lc_order)};
    $self->forget($lkey) if $lc->{$lkey};    # an expired entry, read again
    return if $size > $self->{bytes};
    # Admission, once the cache is full: a key is kept at its second miss
    # among the last 2 x (entries held) keys that missed, not its first, so
    # that keys read once (most of a long tail) neither cost an eviction nor
    # evict a hot key. seen is that memory, emptied when it holds twice as
    # many keys as the cache holds entries (counted in ENTRY_BYTES).
    if (keys %$lc >= $self->{max} || $self->{lc_bytes} + $size > $self->{bytes}) {
        if (!delete $self->{seen}{$lkey}) {
            $self->{seen} = {} if keys %{ $self->{seen} } >= 2 * (keys %$lc || 1);
            $self->{seen}{$lkey} = 1;
            return;
        }
    }
    # Evict the entries inserted first. lc_order holds (key, serial) pairs; a
    # pair whose entry was dropped meanwhile (or dropped and inserted again:
    # another serial) is skipped. Inline: this runs on most misses of a full cache.
    while (%$lc && (keys %$lc >= $self->{max} || $self->{lc_bytes} + $size > $self->{bytes})) {
        my ($okey, $serial) = splice @$order, 0, 2;
        my $old = $lc->{$okey};
        next unless $old && $old->[3] == $serial;
        delete $lc->{$okey};
        $self->{lc_bytes} -= entry_bytes($okey, $old->[0], $old->[2]);
        my $have = $rk->{ $old->[2] };
        if (ref $have) {
            delete $have->{$okey};
            delete $rk->{ $old->[2] } unless %$have;
        } elsif (defined $have && $have eq $okey) {
            delete $rk->{ $old->[2] };
        }
    }
    push @$order, $lkey, ++$self->{lserial};
    $self->_compact if @$order > 4 * $self->{max} + 64;
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

# entry_bytes($lkey, $json, $rkey): the bytes an entry is counted for
# against local_cache_bytes: its value's length, its keys' as often as
# they are held, and ENTRY_BYTES for the rest. So the bound is one on the
# memory the local cache takes, whatever the items' size.
sub entry_bytes {
    my ($lkey, $json, $rkey) = @_;
    return (defined $json ? length $json : 0) + ENTRY_BYTES + KEY_COPIES * length($lkey) + RKEY_COPIES * length($rkey);
}

# _compact drops the pairs of lc_order that eviction would skip,
# so that invalidated entries do not make it grow without bound.
sub _compact {
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

# forget($lkey) drops one entry, if held, and its lc_rk link.
sub forget {
    my ($self, $lkey) = @_;
    my $entry = delete $self->{lc}{$lkey} or return;
    $self->{lc_bytes} -= entry_bytes($lkey, $entry->[0], $entry->[2]);
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

# adapt, every ADAPT_WINDOW misses: when the hit ratio of the window was
# below ADAPT_OFF (ADAPT_ON right after a bypass: the hysteresis), the next
# lookups bypass the local cache, as plain DDB GETs, ADAPT_BYPASS of them
# the first time and twice as many each time in a row after (at most
# ADAPT_BYPASS << ADAPT_MAX_SHIFT). Entries and the tracking connection are
# kept meanwhile, so the window after a bypass measures a warm cache.
sub adapt {
    my ($self) = @_;
    return $self->{aw_miss} = 0 unless $self->{adapt};
    my $hits  = $self->{lhits} - $self->{aw_hits};
    my $ratio = $hits / ($hits + $self->{aw_miss});
    if ($ratio < ($self->{aw_shift} ? ADAPT_ON : ADAPT_OFF)) {
        $self->{bypass} = ADAPT_BYPASS << $self->{aw_shift};
        $self->{lbypass} += $self->{bypass};    # counted now; stats takes off those still to come
        $self->{aw_shift}++ if $self->{aw_shift} < ADAPT_MAX_SHIFT;
    } else {
        $self->{aw_shift} = 0;
    }
    @$self{qw(aw_miss aw_hits)} = (0, $self->{lhits});
    return;
}

# bypass_end: the bypass is over; the next window starts now.
sub bypass_end {
    my ($self) = @_;
    @$self{qw(bypass aw_miss aw_hits)} = (0, 0, $self->{lhits});
    return;
}

sub flush {
    my ($self) = @_;
    $self->{lflush}++;
    @$self{qw(lc lc_rk lc_order lc_bytes)} = ({}, {}, [], 0);
    return;
}

# reset_all forgets the tracking connection (closing this process's
# descriptor only: a forked parent's connection is unaffected, and never
# read by the child) and every entry.
sub reset_all {
    my ($self) = @_;
    my $fh = $self->{tfh};
    close $fh if $fh;
    @$self{qw(tfh tpid tbuf)} = (undef, 0, '');
    $self->flush;
    return;
}

# off turns the local cache off for good: the daemon cannot track.
sub off {
    my ($self) = @_;
    $self->reset_all if $self->{tfh};
    $self->{max} = 0;
    @$self{qw(lc lc_rk lc_order lc_bytes)} = ({}, {}, [], 0);
    return;
}

# miss($conn, $fh, $prefix, $lkey, $key): the local cache's miss path, for
# a plain key on this process's open connections ($fh is $conn's): sends DDB GETC, reads its reply
# (one sysread for the usual whole reply, split in place by split_getc;
# anything else through the general reader), keeps the value when the daemon
# says it may, and returns the item's JSON (undef: no such item).
sub miss {
    my ($self, $conn, $fh, $prefix, $lkey, $key) = @_;
    my $req = $prefix . '$' . length($key) . "\r\n" . $key . "\r\n";
    local $SIG{PIPE} = 'IGNORE' unless NOSIGNAL;
    my $sent = send $fh, $req, NOSIGNAL;
    my @reply;
    if (defined $sent && $sent == length $req) {
        my $buf = '';
        my $n   = sysread $fh, $buf, READ_SIZE;
        @reply = split_getc($buf) if $n;
        if (!@reply) {
            my $r = $n ? $conn->read_reply('DDB GET', $buf) : $conn->read_failed('DDB GET', $n);
            $r = $conn->retry('DDB GET', $req, 1) if $conn->is_lost($r);
            @reply = _getc_checked($r);
        }
    } else {
        my $lost = $conn->send_rest('DDB GET', $req, $sent);
        my $r = $lost ? $conn->retry('DDB GET', $req, 1) : $conn->read_reply('DDB GET', '');
        $r = $conn->retry('DDB GET', $req, 1) if $conn->is_lost($r);
        @reply = _getc_checked($r);
    }
    $self->adapt if ++$self->{aw_miss} >= ADAPT_WINDOW;
    # Misses do not drain the tracking connection (see get); every 64th
    # does, so that pushes do not pile up when few lookups hit.
    $self->drain_now unless ++$self->{lmiss} & 63;
    # max-age > 0 only for a value that the daemon will push an
    # invalidation for when it changes.
    $self->store($lkey, @reply) if $reply[2] > 0 && $self->{tfh};
    return $reply[0];
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

# _getc_prefix($ns): the start of a `DDB GETC ns key` request, up to the key.
sub _getc_prefix {
    my ($self, $ns) = @_;
    (my $prefix = encode_request('DDB', 'GETC', $ns)) =~ s/\A\*3/*4/;
    $self->{getc_prefix} = {} if keys %{ $self->{getc_prefix} || {} } >= 64;
    $self->{getc_prefix}{$ns} = $prefix;
    return;
}


1;

__END__

=encoding utf8

=head1 NAME

DDBCache::Client::LocalCache - DDBCache::Client's items held in the process, kept true by the daemon's pushes

=head1 SYNOPSIS

    my $local = DDBCache::Client::LocalCache->new(max => 1000, bytes => 64 * 2**20, ttl => 30, adapt => 1);
    my $json;
    $local->get($conn, \$json, profile => 42) or ...;    # 0: do a plain DDB GET instead
    my $stats = $local->stats;

=head1 DESCRIPTION

The local cache of L<DDBCache::Client> (see L<DDBCache::Client/"LOCAL CACHE">
for what it promises): the entries, bounded by count and by bytes and
evicted in the order inserted; the tracking connection on which the daemon
pushes invalidations (a connection of its own, made by
L<DDBCache::Client::Connection/clone>); and the adapting that bypasses it
while it does not pay. It is part of the client, not an API of its own. The
client's lookups read its fields on their fast path (C<max>, C<lc>, C<tfh>,
C<tpid>, C<tbuf>, C<getc_prefix>, C<bypass>) and count C<lhits> and
C<bypass> down themselves: a method call there would cost more than the rest of
a hit.

=head1 METHODS

=over

=item new(max => $items, bytes => $bytes, ttl => $seconds, adapt => 0|1)

An empty local cache holding at most C<max> entries and C<bytes> bytes of
values, each for at most C<ttl> seconds; C<< max => 0 >>: off. The values
were checked by C<< DDBCache::Client->new >>.

=item get($conn, \$json, $ns, $key [, $sort])

Looks an item up through the local cache, with C<$conn> (a
L<DDBCache::Client::Connection>) for C<DDB GETC>. Returns true when it did
(the item's JSON, or undef when there is none, in C<$json>); false when it
cannot serve the lookup (arguments it does not key by, no tracking
connection to be had, a daemon without C<DDB TRACK> or C<DDB GETC>: then it
is off). Croaks as a lookup does.

=item mget($conn, $ns, \@keys)

Looks several items up through the local cache, for C<DDBCache::Client>'s
C<mget>: the keys held are served from it, the others asked of the daemon
with one C<DDB MGETC> (none when all are held), whose values are kept when
it gives a max-age. Returns the items' JSON (undef: none) in the order of
C<@keys>, or undef when the local cache cannot serve the lookup (bypassed,
keys it does not key by, no tracking connection): then the caller sends a
plain C<DDB MGET>. Each key counts as one hit or miss. A daemon without
C<DDB MGETC> has the keys not held read by plain C<DDB MGET>, not kept.

=item miss($conn, $fh, $prefix, $lkey, $key)

The miss path of a plain key on open connections: sends C<DDB GETC>
(C<$prefix> is the request up to the key), reads the reply, keeps the value
when the daemon says it may, and returns the item's JSON or undef.

=item track_open($conn)

Makes sure this process has a tracking connection; returns true when it
has one, false when the daemon cannot give one now (tried again a second
later) or does not know C<DDB TRACK> (then the local cache is off).

=item drain($n), drain_now

Read what the daemon pushed on the tracking connection (after a read of
C<$n> bytes, or now) and drop the entries it names; EOF or garbage drops
all and forgets the connection.

=item invalidate(\@redis_keys)

Drops the entries of items with those Redis keys; C<undef> drops all.

=item store($lkey, $json, $redis_key, $max_age_ms)

Keeps a value for min(max-age, C<ttl>), evicting the entries inserted first
while C<max> entries are held or the entry would take the cache over
C<bytes> (see C<entry_bytes>). An entry larger than C<bytes> is not kept; in
a full cache, a key is kept only at its second miss among the last
2 x (entries held) keys that missed.

=item entry_bytes($lkey, $json, $redis_key)

A function: the bytes that an entry counts for against C<bytes>, the
memory it takes in Perl: its value's and keys' lengths (the keys as often
as they are held) and about 1 KB of arrays, scalars and hash slots
(measured on perl 5.36 x86_64, the admission's memory of keys seen once
included). F<t/16-local-cache-bounds.t> checks that a worker grows by no
more than that.

=item forget($lkey)

Drops one entry.

=item adapt, bypass_end

The adapting (see L<DDBCache::Client/"LOCAL CACHE">, B<Adapting>): C<adapt>
looks at the hit ratio of the last window of misses and decides whether the
next lookups bypass the cache; C<bypass_end> starts the window after a
bypass.

=item flush

Drops all entries (counted as a flush).

=item reset_all

Forgets the tracking connection (closing this process's descriptor only)
and drops all entries.

=item off

Turns the local cache off for good: the daemon cannot track.

=item stats

The counters, as L<DDBCache::Client/local_stats> returns them.

=back

=head1 SEE ALSO

L<DDBCache::Client>, L<DDBCache::Client::Connection>, L<DDBCache::RESP>.

=head1 LICENSE

This software is Copyright (c) the ddbcache developers.

This is free software, licensed under:

  The Apache License, Version 2.0, January 2004

See the F<LICENSE> file of the distribution.

=cut
