package DDBCache::TestEnv::Replicas;

# Read replicas of the test environment's standalone redis-server: Debian's
# redis-server started with --replicaof on free ports, polled until each
# says master_link_status:up (Redis signals nothing). The daemon reads
# from them with redis.read_from_replicas and redis.replica_addrs, as
# internal/testenv's Replicated topology does for the Go tests. The
# replicas are children of the test environment's Processes, so they are
# stopped with it.

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(make_path);
use File::Spec;

use DDBCache::TestEnv::Conn;
use DDBCache::TestEnv::Processes qw(wait_until);
use DDBCache::TestEnv::Programs qw(redis_command);

our $VERSION = '0.01';

# start(procs => $procs, dir => $dir, primary_port => $port, ports => [...]):
# one replica of the primary per port.
sub start {
    my ($class, %args) = @_;
    my @ports = @{ $args{ports} };
    croak 'DDBCache::TestEnv::Replicas: needs at least one port' unless @ports;
    my $self = bless { procs => $args{procs}, ports => \@ports, names => [] }, $class;
    for my $i (0 .. $#ports) {
        # A directory each: a replica's first sync writes its dump.rdb there.
        my $dir = File::Spec->catdir($args{dir}, "replica-$ports[$i]");
        make_path($dir);
        my $argv = redis_command(port => $ports[$i], dir => $dir);
        push @$argv, '--replicaof', '127.0.0.1', $args{primary_port}, '--repl-diskless-sync-delay', 0;
        my $name = "redis-replica-$i";
        $self->{procs}->spawn($name => $argv, File::Spec->catfile($dir, 'redis.log'));
        push @{ $self->{names} }, $name;
    }
    for my $i (0 .. $#ports) {
        $self->{procs}->wait_ready($self->{names}[$i] => sub { ($self->_cmd($ports[$i], 'PING') // '') eq 'PONG' });
    }
    wait_until('the replicas to be linked to their primary', sub { $self->linked });
    return $self;
}

sub addrs { my ($self) = @_; return map { "127.0.0.1:$_" } @{ $self->{ports} } }
sub ports { my ($self) = @_; return @{ $self->{ports} } }
sub names { my ($self) = @_; return @{ $self->{names} } }

# linked: every replica reports its link to the primary up.
sub linked {
    my ($self) = @_;
    for my $port (@{ $self->{ports} }) {
        my $repl = $self->_cmd($port, 'INFO', 'replication') // return 0;
        return 0 unless $repl =~ /role:slave/ && $repl =~ /master_link_status:up/;
    }
    return 1;
}

# commands($name): how many times the replicas ran the command $name
# (lowercase: "get"), summed, from INFO commandstats: what a test counts to
# see that reads went to the replicas.
sub commands {
    my ($self, $name) = @_;
    my $n = 0;
    for my $port (@{ $self->{ports} }) {
        my $stats = $self->_cmd($port, 'INFO', 'commandstats') // next;
        $n += $1 if $stats =~ /^cmdstat_\Q$name\E:calls=([0-9]+)/m;
    }
    return $n;
}

sub _cmd {
    my ($self, $port, @args) = @_;
    return DDBCache::TestEnv::Conn->try_cmd($port, @args);
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Replicas - read replicas of the Perl tests' standalone redis-server

=head1 SYNOPSIS

    my $env = DDBCache::TestEnv->new(redis_replicas => 2);   # the daemon reads from them
    $env->replicas->commands('get');                          # GETs the replicas answered

=head1 DESCRIPTION

Started by L<DDBCache::TestEnv> when C<redis_replicas> is a number: that many
C<redis-server --replicaof> the environment's redis-server, ready once each
says C<master_link_status:up> (polled), and a daemon configured with
C<redis.read_from_replicas: true> and C<redis.replica_addrs> naming them.
C<addrs> gives their host:port, C<ports> their ports, C<names> their names
in the environment's processes, C<linked> whether all are linked now, and
C<commands($name)> how many times they ran a command, summed (C<INFO
commandstats>).

=cut
