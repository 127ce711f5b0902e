package DDBBench::Dynamo;
# The DynamoDB calls of the bench's Perl baselines (bench/blog.psgi and the
# redis-fast target of bench/worker.pl), written as the blog's Perl app
# would: JSON over HTTP::Tiny, one kept connection. Requests are unsigned:
# local endpoints (dynalite, DynamoDB Local) only.
use strict;
use warnings;

use Carp qw(croak);
use Cpanel::JSON::XS ();
use HTTP::Tiny;
use Scalar::Util qw(looks_like_number);
use Socket ();

our $VERSION = '0.01';

my @AUTH = (
    'Content-Type'  => 'application/x-amz-json-1.0',
    'X-Amz-Date'    => '20260101T000000Z',
    'Authorization' => 'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, '
        . 'SignedHeaders=host, Signature=x',
);

sub new {
    my ($class, %args) = @_;
    for my $name (qw(endpoint table partition_key)) {
        croak "DDBBench::Dynamo->new: $name is required" unless defined $args{$name} && length $args{$name};
    }
    return bless {
        endpoint => $args{endpoint},
        table    => $args{table},
        pk       => $args{partition_key},
        http     => DDBBench::Dynamo::HTTP->new(timeout => 5, keep_alive => 1),
        json     => Cpanel::JSON::XS->new->utf8->canonical,
    }, $class;
}

# _call($operation, \%request): the decoded reply of one DynamoDB call.
sub _call {
    my ($self, $op, $req) = @_;
    my $res = $self->{http}->post($self->{endpoint},
        { headers => { @AUTH, 'X-Amz-Target' => "DynamoDB_20120810.$op" }, content => $self->{json}->encode($req) });
    croak "DDBBench::Dynamo: $op: $res->{status} $res->{content}" unless $res->{success};
    return $self->{json}->decode($res->{content});
}

sub get_item {
    my ($self, $id) = @_;
    my $out = $self->_call('GetItem',
        { TableName => $self->{table}, Key => { $self->{pk} => { S => $id } }, ReturnConsumedCapacity => 'TOTAL' });
    my $rcu  = $out->{ConsumedCapacity}{CapacityUnits} // 0;
    my $item = $out->{Item} or return (undef, $rcu);
    my %plain = map { ($_ => (values %{ $item->{$_} })[0]) } keys %{$item};
    return ($self->{json}->encode(\%plain), $rcu);
}

sub put_item {
    my ($self, $item) = @_;
    croak 'DDBBench::Dynamo: usage: $ddb->put_item(\%item)' unless ref $item eq 'HASH';
    my %av = map { ($_ => { (looks_like_number($item->{$_}) ? 'N' : 'S') => "$item->{$_}" }) } keys %{$item};
    $self->_call('PutItem', { TableName => $self->{table}, Item => \%av });
    return 1;
}

# DDBBench::Dynamo::HTTP is HTTP::Tiny with TCP_NODELAY on its sockets.
# HTTP::Tiny writes a POST's header and body in two writes: with Nagle's
# algorithm on, the body waits for the ACK of the header, which the server
# delays by up to 40 ms (Linux's delayed ACK), and every GetItem would take
# 40 ms instead of one. An app's AWS SDK does not pay that; the baseline
# must not either.
package DDBBench::Dynamo::HTTP;    ## no critic (ProhibitMultiplePackages)
use parent -norequire, 'HTTP::Tiny';

sub _open_handle {
    my ($self, @args) = @_;
    my $handle = $self->SUPER::_open_handle(@args);
    setsockopt $handle->{fh}, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1
        or die "DDBBench::Dynamo: TCP_NODELAY: $!\n";
    return $handle;
}

1;

__END__

=head1 NAME

DDBBench::Dynamo - GetItem and PutItem from Perl, for the bench's blog-pattern baselines

=head1 SYNOPSIS

    use DDBBench::Dynamo;
    my $ddb = DDBBench::Dynamo->new(endpoint => 'http://127.0.0.1:8000/',
        table => 'bench_users', partition_key => 'user_id');
    $ddb->put_item({ user_id => 'bench-1', version => 1, data => 'x' });
    my ($json, $rcu) = $ddb->get_item('bench-1');

=head1 DESCRIPTION

The DynamoDB half of the cache-aside pattern as the blog's Perl app does it,
shared by C<bench/blog.psgi> (C<ddbcache bench --front fcgi>) and the
C<redis-fast> target of C<bench/worker.pl>, so that both baselines pay the
same cost for a miss. The requests are not signed: point it at dynalite or
DynamoDB Local only.

=head1 METHODS

=over

=item new(endpoint => URL, table => NAME, partition_key => ATTRIBUTE)

A client of one table keyed by a string partition key.

=item get_item($id)

Reads the item with C<ReturnConsumedCapacity>; returns its JSON (attribute
values unwrapped, numbers as strings) and the read units, or C<undef> and the
read units when there is no such item. Croaks on an HTTP or DynamoDB error.

=item put_item(\%item)

Writes the item, numbers as C<N> and everything else as C<S>. Croaks on error.

=back

=head1 SEE ALSO

C<bench/blog.psgi>, C<bench/worker.pl>, C<bench/perl.go>.

=cut
