package DDBCache::RESP;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use Carp qw(croak);
use Exporter qw(import);
use Scalar::Util qw(blessed);

our @EXPORT_OK = qw(encode_request is_utf8_bytes key_bytes parse_reply split_getc);

# Errors name the client, whose callers they are meant for.
our @CARP_NOT = qw(DDBCache::Client DDBCache::Client::Connection DDBCache::Client::LocalCache);

# encode_request(@args) is the RESP request of one command: an array of bulk
# strings. A string with the UTF-8 flag (decoded text) is sent UTF-8 encoded;
# a byte string is sent as it is. The loop is the common case, byte strings,
# without a call per argument.
sub encode_request {    ## no critic (RequireArgUnpacking): reads @_ without a copy
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

# key_bytes(@keys): the keys (and sort keys) of DDB commands as they go to
# the daemon, UTF-8 bytes ("Keys" in DDBCache::Manual::Encoding). Text (the
# UTF-8 flag on) is encoded. A byte string that is UTF-8 already (ASCII is)
# goes as it is: legacy code's raw UTF-8 finds what its text finds. Any
# other byte string is Latin-1, as put's JSON encoder reads it, and is
# encoded as such: sent as it is, the key "Zo\xeb" would be the byte 0xEB
# and miss the item that put stored under the text Zoë. undef and
# references are left to encode_request, which refuses or stringifies them.
# Only for keys: other arguments (Redis values) are bytes, whatever they hold.
sub key_bytes {
    my @keys = @_;    # copies: the caller's strings stay as they are
    for my $k (@keys) {
        utf8::encode($k) if defined $k && !ref $k && (utf8::is_utf8($k) || !is_utf8_bytes($k));
    }
    return @keys;
}

# is_utf8_bytes($bytes): whether a byte string is well-formed UTF-8 as the
# daemon (Go's utf8.Valid) reads it: Perl's own decoder also takes
# surrogates and code points above U+10FFFF, which are not.
sub is_utf8_bytes {
    my ($s) = @_;
    return utf8::decode($s) && $s !~ /[\x{d800}-\x{dfff}]|[^\x{0}-\x{10ffff}]/;
}

# parse_reply($buf, $pos, \@errors) parses one RESP2 reply starting at $pos.
# $buf is read through $_[0], not copied: replies can be large.
sub parse_reply {    ## no critic (ProhibitExcessComplexity, RequireArgUnpacking)
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
            my ($v, $end, $need) = parse_reply($_[0], $next, $errors);
            return (undef, $end, $need) if $end < 0;
            push @array, $v;
            $next = $end;
        }
        return (\@array, $next);
    }
    return (undef, -2);
}

# split_getc($buf): the DDB GETC reply in $buf split in place, with index
# and substr only: this is the local cache's miss path, once per miss.
sub split_getc {    ## no critic (RequireArgUnpacking)
    return if substr($_[0], 0, 5) ne "*3\r\n\$";
    my $i = index $_[0], "\r\n", 5;
    return if $i < 6;
    my $vlen = substr $_[0], 5, $i - 5;
    my ($value, $p);
    if ($vlen eq '-1') {
        $p = $i + 2;
    } else {
        return if $vlen =~ tr/0-9//c;    # tr counts, without a regex
        $p = $i + 4 + $vlen;
        return if $p + 4 > length $_[0] || substr($_[0], $p - 2, 2) ne "\r\n";
        $value = substr $_[0], $i + 2, $vlen;
    }
    return if substr($_[0], $p, 1) ne '$';
    my $j = index $_[0], "\r\n", $p;
    return if $j < 0;
    my $klen = substr $_[0], $p + 1, $j - $p - 1;
    return if $klen eq q{} || $klen =~ tr/0-9//c;
    my $q = $j + 4 + $klen;
    return if $q + 3 > length $_[0] || substr($_[0], $q - 2, 3) ne "\r\n:" || substr($_[0], -2) ne "\r\n";
    my $max_age = substr $_[0], $q + 1, length($_[0]) - $q - 3;
    return if $max_age eq q{} || $max_age =~ tr/0-9//c;
    return ($value, substr($_[0], $j + 2, $klen), 0 + $max_age);
}

1;

__END__

=encoding utf8

=head1 NAME

DDBCache::RESP - the Redis protocol (RESP2) as DDBCache::Client speaks it

=head1 SYNOPSIS

    use DDBCache::RESP qw(encode_request parse_reply split_getc);

    my $req = encode_request('DDB', 'GET', 'profile', 42);   # "*4\r\n$3\r\nDDB\r\n..."
    my @errors;
    my ($reply, $end) = parse_reply("\$2\r\nhi\r\n", 0, \@errors);   # ('hi', 8)

=head1 DESCRIPTION

The encoder and decoder that L<DDBCache::Client> uses on its connections
to the ddbcache daemon; pure Perl, functions only, nothing exported by
default. They are public so that tools (F<perl/bench/lookup.pl>) can build
the same requests without reaching into the client.

=head1 FUNCTIONS

=over

=item encode_request(@args)

The RESP request of one command: an array of bulk strings, one per
argument. A string with Perl's UTF-8 flag (decoded text) is sent UTF-8
encoded; a byte string is sent as it is; an object is stringified. An
undefined argument or an unblessed reference croaks
(C<DDBCache::Client: DDB GET: an argument is undefined>).

=item key_bytes(@keys)

The keys and sort keys of C<DDB> commands as the client sends them: UTF-8
bytes. Text (a string with the UTF-8 flag) is UTF-8 encoded; a byte string
that is well-formed UTF-8 (ASCII included) is returned as it is; any other
byte string is taken as Latin-1 characters, as a JSON encoder reads it, and
UTF-8 encoded (C<"Zo\xeb"> becomes C<"Zo\xc3\xab">). Returns copies; undef
and references are returned as they are. See "Keys" in
L<DDBCache::Manual::Encoding>.

=item is_utf8_bytes($bytes)

True when C<$bytes> is well-formed UTF-8 (RFC 3629: no surrogates, nothing
above U+10FFFF), as the daemon checks it.

=item parse_reply($buf, $pos, \@errors)

Parses one reply that starts at C<$pos> in C<$buf> (which is not copied).
Returns C<($reply, $end)>: C<$end> is the position after the reply; C<-1>
when C<$buf> ends first (then a third value, when known, says how long
C<$buf> must be to hold it); C<-2> for bytes that are no RESP. Status
replies are strings, integers numbers, bulk strings strings (bytes), arrays
array references, nil C<undef>; the text of an error reply is pushed onto
C<@errors> and its place in the reply is C<undef>.

=item split_getc($buf)

When C<$buf> holds exactly one whole reply to C<DDB GETC> (an array of the
value or nil, the item's Redis key, and a max-age in milliseconds), returns
C<($value, $redis_key, $max_age)>; otherwise (a reply in pieces, an error
reply, anything else) the empty list, for C<parse_reply> to deal with.

=back

=head1 SEE ALSO

L<DDBCache::Client>; the RESP specification at L<https://redis.io/docs/latest/develop/reference/protocol-spec/>.

=head1 LICENSE

This software is Copyright (c) the ddbcache developers.

This is free software, licensed under:

  The Apache License, Version 2.0, January 2004

See the F<LICENSE> file of the distribution.

=cut
