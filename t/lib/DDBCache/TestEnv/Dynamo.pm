package DDBCache::TestEnv::Dynamo;

# A DynamoDB client over plain HTTP for the tests: it writes and reads
# items behind the cache's back and creates tables, with core modules only
# (no AWS SDK). Apart from DDBCache::TestEnv because speaking DynamoDB's JSON
# protocol has nothing to do with running the servers.

use strict;
use warnings;

use Carp qw(croak);
use HTTP::Tiny;
use JSON::PP;

use DDBCache::TestEnv::Processes qw(wait_until);

our $VERSION = '0.01';

# Errors are reported where a test called DDBCache::TestEnv, which delegates
# here (create_table polls through Processes::wait_until).
our @CARP_NOT = qw(DDBCache::TestEnv DDBCache::TestEnv::Processes);

my $JSON = JSON::PP->new->utf8->canonical;

# The AWS headers that dynalite wants to see; it does not check the signature.
my %AWS_HEADERS = (
    'Content-Type'  => 'application/x-amz-json-1.0',
    'X-Amz-Date'    => '20260101T000000Z',
    'Authorization' => 'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, '
        . 'SignedHeaders=host, Signature=x',
);

sub new {
    my ($class, %args) = @_;
    my $endpoint = $args{endpoint} or croak 'DDBCache::TestEnv::Dynamo->new: endpoint is required';
    return bless { endpoint => $endpoint, http => HTTP::Tiny->new(timeout => 10) }, $class;
}

sub endpoint { return $_[0]{endpoint} }

sub request {
    my ($self, $operation, $body) = @_;
    return $self->{http}->post($self->{endpoint} . '/', {
        headers => { %AWS_HEADERS, 'X-Amz-Target' => "DynamoDB_20120810.$operation" },
        content => $JSON->encode($body),
    });
}

# listening: any HTTP answer (599 is HTTP::Tiny's own "could not connect").
sub listening {
    my ($self) = @_;
    return $self->request('ListTables', {})->{status} != 599;
}

sub call {
    my ($self, $operation, $body) = @_;
    my $res = $self->request($operation, $body);
    if (!$res->{success}) {
        my $err = eval { $JSON->decode($res->{content}) } || {};
        my $type = $err->{__type} // '';
        $type =~ s/.*#//;
        croak sprintf 'DynamoDB %s: HTTP %s %s: %s', $operation, $res->{status}, $type,
            $err->{message} // $err->{Message} // $res->{content};
    }
    return length $res->{content} ? $JSON->decode($res->{content}) : {};
}

sub create_table {
    my ($self, %t) = @_;
    my $name = $t{name} or croak 'create_table: name is required';
    my $pk   = $t{partition_key} or croak 'create_table: partition_key is required';
    my @attrs = ({ AttributeName => $pk, AttributeType => $t{partition_type} || 'S' });
    my @keys  = ({ AttributeName => $pk, KeyType => 'HASH' });
    if (my $sk = $t{sort_key}) {
        push @attrs, { AttributeName => $sk, AttributeType => $t{sort_type} || 'S' };
        push @keys,  { AttributeName => $sk, KeyType => 'RANGE' };
    }
    $self->call('CreateTable', {
        TableName            => $name,
        AttributeDefinitions => \@attrs,
        KeySchema            => \@keys,
        BillingMode          => 'PAY_PER_REQUEST',
    });
    # dynalite answers CREATING and turns ACTIVE on a timer (0 ms here).
    wait_until("table $name to become ACTIVE", sub {
        $self->call('DescribeTable', { TableName => $name })->{Table}{TableStatus} eq 'ACTIVE';
    });
    return;
}

sub put_item {
    my ($self, $table, $item) = @_;
    $self->call('PutItem', { TableName => $table, Item => $item });
    return;
}

sub get_item {
    my ($self, $table, $key) = @_;
    my $res = $self->call('GetItem', { TableName => $table, Key => $key, ConsistentRead => JSON::PP::true });
    return $res->{Item};
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Dynamo - a minimal DynamoDB client over HTTP, for dynalite in the tests

=head1 SYNOPSIS

    my $ddb = DDBCache::TestEnv::Dynamo->new(endpoint => 'http://127.0.0.1:8000');
    $ddb->create_table(name => 'users', partition_key => 'user_id');
    $ddb->put_item(users => { user_id => { S => '1' }, name => { S => 'Ann' } });
    my $item = $ddb->get_item(users => { user_id => { S => '1' } });
    my $all  = $ddb->call('Scan', { TableName => 'users' });

=head1 DESCRIPTION

Each call is one POST of DynamoDB JSON (protocol C<DynamoDB_20120810>) with
fixed AWS headers: dynalite wants a C<SigV4> C<Authorization> header but
does not check the signature, so none is computed. L<DDBCache::TestEnv>
makes one for its dynalite; its C<dynamo>, C<create_table>, C<put_item> and
C<get_item> methods are this object's C<call>, C<create_table>,
C<put_item> and C<get_item>.

=head1 METHODS

=over

=item new(endpoint => $url)

A client for the endpoint (C<http://127.0.0.1:PORT>); requests time out
after 10 seconds.

=item endpoint

The endpoint's URL.

=item call($operation, \%body)

Any DynamoDB call (C<'Scan'>, C<'DeleteItem'>, ...); returns the decoded
response (C<{}> for an empty one).

=item request($operation, \%body)

The same request, returning L<HTTP::Tiny>'s response hash without looking
at it.

=item listening

True when the endpoint answers HTTP at all (an error status counts), false
when it cannot be reached.

=item create_table(name => T, partition_key => K, [partition_type => 'S'|'N'|'B', sort_key => S, sort_type => ...])

Creates a PAY_PER_REQUEST table and waits (at most 30 seconds) until it is
ACTIVE.

=item put_item($table, \%item)

Writes an item. The item is DynamoDB JSON:
C<< { user_id => { S => '1' }, age => { N => '42' } } >>.

=item get_item($table, \%key)

Reads an item (consistent read); returns its DynamoDB JSON hash, or undef.

=back

=head1 ERRORS

C<call>, and the methods on it, croak on a failed request with the
operation, the HTTP status, the error type and DynamoDB's message:
C<DynamoDB GetItem: HTTP 400 ResourceNotFoundException: ...>.
C<create_table> croaks without C<name> or C<partition_key>, and dies when
the table is not ACTIVE in time.

=head1 SEE ALSO

L<DDBCache::TestEnv>, F<internal/testenv/dynamodb.go> (the Go tests' side).

=cut
