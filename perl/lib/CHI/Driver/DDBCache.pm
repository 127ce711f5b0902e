package CHI::Driver::DDBCache;

use 5.010_001;
use strict;
use warnings;

use Carp qw(croak);
use CHI::Constants qw(CHI_Max_Time);
use DDBCache::Client;
use Log::Any ();
use Moo;

extends 'CHI::Driver';

our $VERSION = '0.01';

# The separator of a partition key and a sort key in one CHI key: chr(28),
# Perl's default $; (SUBSEP), which DDBCache::Client's mget also joins
# pairs with, so that $cache->get("$user$;$order") reads as $h{$user, $order}.
my $SUBSEP = "\x1C";

# The DDBCache::Client arguments this driver passes on (see new in its POD).
my @CLIENT_ARGS = qw(socket timeout password local_cache local_ttl reconnect every);

# What set and remove may do; the first of each is the default.
my %ON_SET    = map { $_ => 1 } qw(put invalidate die);
my %ON_REMOVE = map { $_ => 1 } qw(invalidate delete die);

has $_ => (is => 'ro') for @CLIENT_ARGS;
has client    => (is => 'lazy');
has on_set    => (is => 'ro', default => 'put');
has on_remove => (is => 'ro', default => 'invalidate');

# Items are hashes, not blobs: CHI hands store the CHI::CacheObject itself
# and takes one back from fetch, as with CHI::Driver::RawMemory.
has serializer => (is => 'ro', init_arg => undef);

# A failed lookup is not a miss here: a miss means "no such item in
# DynamoDB", which callers act on (compute creates the item). So errors die
# unless the caller asks CHI for 'log', 'warn' or 'ignore'.
has '+on_get_error' => (default => 'die');
has '+on_set_error' => (default => 'die');

my %KNOWN = map { $_ => 1 } @CLIENT_ARGS, qw(client on_set on_remove);

sub BUILD {
    my ($self, $params) = @_;
    my $class = __PACKAGE__;
    croak "$class: namespace is required: the ddbcache namespace to read through, e.g. namespace => 'profile'"
        unless defined $params->{namespace};
    my $extra = $self->non_common_constructor_params($params);
    if (my @unknown = grep { !$KNOWN{$_} } sort keys %$extra) {
        croak "$class: unknown argument '$unknown[0]' (known: " . join(', ', sort keys %KNOWN)
            . ', and the arguments of CHI->new)';
    }
    for my $arg (grep { defined $params->{$_} } qw(l1_cache mirror_cache max_size)) {
        croak "$class: $arg is not supported: DDBCache::Client's local cache (local_cache) is the"
            . ' in-process layer, and the daemon tells it of every change; a CHI subcache would not be told';
    }
    croak "$class: on_set must be one of put, invalidate, die; got '$self->{on_set}'"
        unless $ON_SET{ $self->{on_set} // q() };
    croak "$class: on_remove must be one of invalidate, delete, die; got '$self->{on_remove}'"
        unless $ON_REMOVE{ $self->{on_remove} // q() };
    if (defined $params->{client}) {
        croak "$class: client must be a DDBCache::Client" unless eval { $params->{client}->isa('DDBCache::Client') };
        croak "$class: pass either client or " . join('/', @CLIENT_ARGS) . ', not both'
            if grep { defined $params->{$_} } @CLIENT_ARGS;
    } else {
        $self->client;    # bad client arguments croak now, not at the first get
    }
    return;
}

sub _build_client {
    my ($self) = @_;
    my %args = map { defined $self->{$_} ? ($_ => $self->{$_}) : () } @CLIENT_ARGS;
    return DDBCache::Client->new(%args, namespace => $self->namespace);
}

# ---- keys ----------------------------------------------------------------

# A CHI key is the partition key; in a namespace with a sort key, a
# [$key, $sort] pair or "$key$;$sort". Keys are never digested or
# serialized: the daemon must see the DynamoDB key itself.
sub transform_key {
    my ($self, $key) = @_;
    if (ref $key eq 'ARRAY') {
        croak __PACKAGE__ . ': a key reference must be a [$key, $sort] pair of strings'
            unless @$key == 2 && 2 == grep { defined && !ref } @$key;
        return join $SUBSEP, @$key;
    }
    croak __PACKAGE__ . ': a key must be a string or a [$key, $sort] pair, got ' . ref($key) . ' reference'
        if ref $key;
    return $key;
}

# _key_args($key): the transformed CHI key as DDBCache::Client arguments.
sub _key_args {
    my ($key) = @_;
    return index($key, $SUBSEP) < 0 ? ($key) : split /\x1C/, $key, 2;
}

# ---- reads ---------------------------------------------------------------

# _object($key, $item): the CacheObject CHI's get wants. ddbcache owns
# expiry (the namespace's ttl, and invalidation on every write it is told
# of), so an item is never expired in CHI's eyes.
sub _object {
    my ($self, $key, $item) = @_;
    return $self->cache_object_class->new($key, $item, time, CHI_Max_Time, CHI_Max_Time, undef);
}

sub fetch {
    my ($self, $key) = @_;
    my $item = $self->client->get($self->namespace, _key_args($key));
    return defined $item ? $self->_object($key, $item) : undef;
}

sub fetch_multi_hashref {
    my ($self, $keys) = @_;
    return {} unless @$keys;
    my @pairs = map { my @k = _key_args($_); @k > 1 ? \@k : $k[0] } @$keys;
    my $items = $self->client->mget($self->namespace, \@pairs);
    my %objects;
    for my $i (0 .. $#$keys) {
        my $pair = $pairs[$i];
        my $item = $items->{ ref $pair ? join($;, @$pair) : $pair };
        $objects{ $keys->[$i] } = $self->_object($keys->[$i], $item) if defined $item;
    }
    return \%objects;
}

# CHI's logger, whose debug level makes CHI::Driver's get log each call.
my $CHI_LOG = Log::Any->get_logger(category => 'CHI::Driver');

# get: CHI::Driver's get wraps every lookup in a CacheObject, an expiry
# check, timing and logging, which cost more than a hit in the client's
# local cache itself (on a 2-core VM: 10 600 CHI gets/s against 27 800
# client gets/s, interleaved). An item never expires in CHI, so when nothing asks for that
# machinery (no get options, CHI stats off, no debug logging, errors die)
# the value is the client's get, and that is what get returns; the error
# message is CHI's. Otherwise CHI's get runs.
around get => sub {
    my ($orig, $self, $key, %params) = @_;
    # busy_lock writes an expired entry back; here that would be a DynamoDB write.
    croak __PACKAGE__ . ': busy_lock is not supported: ddbcache entries do not expire in CHI'
        if exists $params{busy_lock};
    return $self->$orig($key, %params)
        if %params || !defined $key || $self->{ns_stats} || ref $self->{on_get_error}
        || $self->{on_get_error} ne 'die' || $CHI_LOG->is_debug;
    my $item;
    return $item if eval { $item = $self->{client}->get($self->{namespace}, _key_args($self->transform_key($key))); 1 };
    croak sprintf "error during cache get for namespace='%s', key='%s', cache='%s': %s",
        $self->namespace, $key, $self->label, $@;
};

# ---- writes --------------------------------------------------------------

sub store {
    my ($self, $key, $obj) = @_;
    my $mode = $self->on_set;
    croak __PACKAGE__ . ": set is refused (on_set => 'die'): write the item to DynamoDB, then remove the key"
        if $mode eq 'die';
    return $self->client->invalidate($self->namespace, _pair($key)) if $mode eq 'invalidate';
    $self->client->put($self->namespace, $self->_item_for($key, $obj->value));
    return;
}

# _item_for($key, $value): the item that set($key, $value) writes: $value,
# a hash, with the namespace's key attributes filled in from $key where it
# lacks them. A key attribute that disagrees with $key croaks: get($key)
# would not find the item afterwards. Key attributes are written as
# strings: ddbcache keys are DynamoDB strings (S), and the JSON encoder
# would make a Perl number (set(5, ...)) an N, which DynamoDB refuses.
sub _item_for {
    my ($self, $key, $value) = @_;
    croak __PACKAGE__ . ': set takes an item (a hash reference) as its value, got '
        . (ref $value ? ref($value) . ' reference' : "'$value'")
        unless ref $value eq 'HASH';
    my %item = %$value;
    my @names = $self->_key_names;
    my @parts = _key_args($key);
    croak __PACKAGE__ . ": namespace '" . $self->namespace . "' has "
        . (@names > 1 ? "a sort key ($names[1]): the key must be a [\$key, \$sort] pair" : 'no sort key')
        . ", got the key '" . join("', '", @parts) . "'"
        unless @names == @parts;
    for my $i (0 .. $#names) {
        my $have = $item{ $names[$i] };
        croak __PACKAGE__ . ": the item's $names[$i] '$have' is not its key '$parts[$i]'"
            if defined $have && $have ne $parts[$i];
        $item{ $names[$i] } = "$parts[$i]";
    }
    return \%item;
}

# _key_names: the namespace's partition key (and sort key) attribute names,
# asked of the daemon once (DDB NAMESPACES).
sub _key_names {
    my ($self) = @_;
    return @{ $self->{key_names} } if $self->{key_names};
    my ($ns) = grep { $_->{name} eq $self->namespace } @{ $self->client->namespaces };
    croak __PACKAGE__ . ": the daemon has no namespace '" . $self->namespace . q(') unless $ns;
    $self->{key_names} = [grep { defined && length } $ns->{partition_key}, $ns->{sort_key}];
    return @{ $self->{key_names} };
}

# _pair($key): the key as DDB INVALIDATE takes it: a key, or a [$key, $sort] pair.
sub _pair {
    my ($key) = @_;
    my @k = _key_args($key);
    return @k > 1 ? \@k : $k[0];
}

sub remove {
    my ($self, $key) = @_;
    my $mode = $self->on_remove;
    croak __PACKAGE__ . ": remove is refused (on_remove => 'die')" if $mode eq 'die';
    return $self->client->delete($self->namespace, _key_args($key)) if $mode eq 'delete';
    return $self->client->invalidate($self->namespace, _pair($key));
}

sub remove_multi {
    my ($self, $keys) = @_;
    croak 'must specify keys' unless defined $keys;
    return $self->SUPER::remove_multi($keys) unless $self->on_remove eq 'invalidate';
    $self->client->invalidate($self->namespace, map { _pair($self->transform_key($_)) } @$keys);
    return;
}

# expire: the next get reads DynamoDB afresh, as an expired entry would be.
sub expire {
    my ($self, $key) = @_;
    croak 'must specify key' unless defined $key;
    $self->client->invalidate($self->namespace, _pair($self->transform_key($key)));
    return;
}

# ---- what a read-through cache of a DynamoDB table cannot do -------------

for my $method (qw(clear get_keys get_namespaces purge dump_as_hash is_empty append)) {
    no strict 'refs';    ## no critic (ProhibitNoStrict)
    *{ __PACKAGE__ . "::$method" } = sub {
        croak __PACKAGE__ . ": $method is not supported: ddbcache reads through to a DynamoDB table,"
            . ' whose keys it cannot list or empty; remove or expire keys one by one (DDB INVALIDATE)';
    };
}

1;

__END__

=encoding utf8

=head1 NAME

CHI::Driver::DDBCache - CHI driver that reads DynamoDB items through the ddbcache daemon

=head1 SYNOPSIS

    use CHI;

    # Was: CHI->new(driver => 'Memcached', namespace => 'profile', servers => [...]);
    my $cache = CHI->new(driver => 'DDBCache', namespace => 'profile');

    my $user = $cache->get(42);                  # the item { user_id => '42', ... }, or undef
    my $users = $cache->get_multi_hashref([42, 43]);
    $cache->set(42, { name => 'Ann' });          # writes { user_id => '42', name => 'Ann' } to DynamoDB
    $cache->remove(42);                          # drops the cache entry; DynamoDB untouched
    my $item = $cache->compute(44, sub { { name => 'New' } });   # creates item 44 if it does not exist

    # A namespace with a sort key: a [$key, $sort] pair, or "$key$;$sort".
    my $orders = CHI->new(driver => 'DDBCache', namespace => 'orders', socket => '/run/ddbcache/ddbcache.sock');
    my $order  = $orders->get([42, '2026-01-01']);

    # Or once, for every CHI->new(storage => 'ddbcache', namespace => ...) of the application:
    CHI->config({ storage => { ddbcache => { driver => 'DDBCache', timeout => 2 } } });

=head1 DESCRIPTION

A L<CHI> driver for the ddbcache daemon. A CHI namespace is a ddbcache
namespace (C<namespaces:> in F<ddbcache.yaml>), and the cache I<reads
through>: C<get> of a key that is in no cache returns the DynamoDB item, read
by the daemon, instead of a miss. So code that already calls CHI moves to
ddbcache by changing the driver in its C<< CHI->new >> (or its CHI
configuration), and the code that filled the cache on a miss stops being
called for items that exist.

The driver talks to the daemon through L<DDBCache::Client> and its public
methods only, and inherits its local cache (C<local_cache>, on by default):
a hot item costs no round trip, and the daemon tells each process of every
change of an item it holds. A plain C<< $cache->get($key) >> costs about what
C<< $client->get >> does: CHI's per-call machinery (timing, expiry checks)
runs only when something needs it (C<get> options, CHI stats, debug
logging, an C<on_get_error> other than C<die>).

=head2 How CHI calls map to ddbcache

    CHI                              ddbcache
    get($key)                        DDB GET (read-through: DynamoDB on a miss)
    get_multi_arrayref/_hashref      DDB MGET (one BatchGetItem for the misses)
    set($key, \%item)                DDB PUT: writes DynamoDB, then invalidates (on_set => 'put')
    remove($key), remove_multi       DDB INVALIDATE (on_remove => 'invalidate'), or DDB DEL
    expire($key)                     DDB INVALIDATE: the next get reads DynamoDB
    compute($key, $code)             get; when the item does not exist, $code and set
    add, replace                     get, then set (not atomic)
    is_valid($key)                   whether the item exists
    clear, get_keys, get_namespaces, purge, dump_as_hash, is_empty, append
                                     croak: not supported

=over

=item Keys

A CHI key is the item's partition key value. In a namespace with a sort
key it is a C<[$key, $sort]> pair, or the string C<"$key$;$sort"> (joined by
C<chr(28)>, Perl's default C<$;>), as L<DDBCache::Client/mget> keys pairs; a
partition key containing C<chr(28)> cannot be used. Keys are passed to the
daemon as they are: CHI's key serializer, digest (C<max_key_length>) and
escaping do not apply, since the daemon must see the DynamoDB key. Other
references croak. Characters and bytes in keys are as
L<DDBCache::Manual::Encoding> says.

=item Values

Values are items: hash references of attributes, as
L<DDBCache::Client/get> returns them. Each C<get> returns a hash of its
own. CHI's C<serializer> and C<compress_threshold> do not apply: the daemon
stores JSON (or its namespace's format).

=item set

With C<< on_set => 'put' >> (the default), C<set($key, \%item)> writes the
item to DynamoDB through the daemon (C<DDB PUT>, write-through): from then on
every C<get> of it, from any process, sees the write. The item's key
attributes are filled in from C<$key> when it lacks them; an item whose key
attribute disagrees with C<$key> croaks, as does a value that is not a hash.
Finding the key attributes' names costs one C<DDB NAMESPACES> per cache
object. C<< on_set => 'invalidate' >> makes C<set> only drop the cache
entry (for code that writes DynamoDB itself and then calls C<set>), and
C<< on_set => 'die' >> refuses it.

=item remove

C<< on_remove => 'invalidate' >> (the default) drops the item's cache
entries and leaves DynamoDB alone: the next C<get> reads DynamoDB. This is
what C<remove> means to code written for a cache in front of a database.
C<< on_remove => 'delete' >> deletes the item from DynamoDB too
(C<DDB DEL>); C<< on_remove => 'die' >> refuses C<remove>.

=item Expiry

ddbcache owns expiry: each namespace's C<ttl> (and C<ttl_jitter>,
C<negative_ttl>) in the daemon's configuration, and invalidation on every
write it learns of. CHI's C<expires_in>, C<expires_at> and
C<expires_variance>, in C<new> or in C<set>, are accepted and ignored, so
that a configuration written for another driver still works; items never
expire in CHI's eyes (C<get_expires_at> is CHI's "never"). C<expire($key)>
is C<DDB INVALIDATE>. C<expire_if> works; C<busy_lock> croaks, as it would
write the item back to DynamoDB.

=item Errors

A failed lookup is not a miss: a miss means that the item does not exist,
which C<compute> would act on by creating it. So C<on_get_error> and
C<on_set_error> default to C<die> for this driver (CHI's default is
C<log>); the message is CHI's C<error during cache get for
namespace='profile', key='42', cache='DDBCache': > followed by
L<DDBCache::Client>'s (see L<DDBCache::Client/ERRORS>).

=back

=head1 METHODS

The methods are L<CHI>'s; the mapping above says what each does here. The
ones this driver defines, which CHI calls and code rarely does:

=over

=item new(namespace => $ns, socket => $path, ...)

CHI's constructor, with the options below; C<on_get_error> and
C<on_set_error> default to C<die>, and C<l1_cache>, C<mirror_cache> and
C<max_size> croak.

=item on_get_error, on_set_error, serializer

Attributes: the first two as in CHI, with C<die> as default; C<serializer>
is none, since values are items that the daemon stores.

=item transform_key($key)

Returns the key unchanged (a C<[$key, $sort]> pair as C<"$key$;$sort">):
the daemon must see the DynamoDB key, not a digest of it.

=item fetch($key), fetch_multi_hashref(\@keys)

C<DDB GET> and C<DDB MGET>, wrapped in CHI's cache objects.

=item store($key, $object)

C<set>'s back end: C<DDB PUT>, C<DDB INVALIDATE> or a refusal, by C<on_set>.

=item remove($key), remove_multi(\@keys), expire($key)

C<DDB INVALIDATE>, or C<DDB DEL> with C<< on_remove => 'delete' >>.

=item append, dump_as_hash, get_keys, get_namespaces, is_empty, purge

Croak: a read-through cache of a DynamoDB table cannot list, clear or
append to what it holds.

=back

=head1 CONSTRUCTOR OPTIONS

Besides CHI's own (C<namespace>, required here, C<on_get_error>,
C<on_set_error>, C<label>, C<expires_in>, ...):

=over

=item socket, timeout, password, local_cache, local_ttl, reconnect, every

Passed to L<DDBCache::Client/new>, which documents them. All optional:
the socket defaults to C<$ENV{DDBCACHE_SOCKET}>, then
F</run/ddbcache/ddbcache.sock>.

=item client

A L<DDBCache::Client> to use instead of making one (then none of the
options above may be given): several CHI namespaces can share one client
and its connections.

=item on_set

C<put> (default), C<invalidate> or C<die>; see L</set>.

=item on_remove

C<invalidate> (default), C<delete> or C<die>; see L</remove>.

=back

C<l1_cache>, C<mirror_cache> and C<max_size> croak: the client's local
cache is the in-process layer, kept coherent by the daemon; a CHI subcache
would not be told of changes. An unknown option croaks, naming it.
Nothing connects in C<new>; the first C<get> does.

=head1 ERRORS

=over

=item C<< CHI::Driver::DDBCache: namespace is required: the ddbcache namespace to read through, e.g. namespace => 'profile' >>

C<< CHI->new >> without a namespace (CHI's default, C<Default>, is not a
ddbcache namespace).

=item C<< CHI::Driver::DDBCache: clear is not supported: ddbcache reads through to a DynamoDB table, whose keys it cannot list or empty; ... >>

Likewise C<get_keys>, C<get_namespaces>, C<purge>, C<dump_as_hash>,
C<is_empty>, C<append>.

=item C<< CHI::Driver::DDBCache: the item's user_id '43' is not its key '42' >>

C<set(42, { user_id => 43, ... })>: C<get(42)> would not find it.

=item C<< error during cache get for namespace='nope', key='1', cache='DDBCache': DDBCache::Client: DDB GET: ERR unknown namespace 'nope' >>

An error from the daemon or the client, through CHI's C<on_get_error>.

=back

=head1 SEE ALSO

L<CHI>, L<CHI::Driver::Development>, L<DDBCache::Client>,
L<DDBCache::Manual::Encoding>.

=head1 LICENSE

This software is Copyright (c) the ddbcache developers.

This is free software, licensed under:

  The Apache License, Version 2.0, January 2004

See the F<LICENSE> file of the distribution.

=cut
