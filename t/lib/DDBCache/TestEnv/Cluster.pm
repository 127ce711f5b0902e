package DDBCache::TestEnv::Cluster;

# A private Redis Cluster for a Perl test: 3 masters and 3 replicas of
# Debian's redis-server on free ports, formed by redis-cli --cluster create
# and polled until every node says cluster_state:ok and every replica is
# linked. The nodes are children of the test environment's Processes, so
# they are stopped with it.

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(make_path);
use File::Spec;

use DDBCache::TestEnv::Conn;
use DDBCache::TestEnv::Processes qw(wait_until);
use DDBCache::TestEnv::Programs qw(which_program redis_command);

our $VERSION = '0.01';

my $MASTERS  = 3;
my $REPLICAS = 1;
# A short cluster-node-timeout, so that a killed master fails over in seconds.
my $NODE_TIMEOUT = 1000;

# start(procs => $procs, dir => $dir, ports => [...]): two free ports per
# node, its own and its cluster bus's (given, since port+10000 may not fit).
sub start {
    my ($class, %args) = @_;
    my @ports = @{ $args{ports} };
    my $nodes = $MASTERS * (1 + $REPLICAS);
    croak 'DDBCache::TestEnv::Cluster: needs ' . 2 * $nodes . ' ports' unless @ports == 2 * $nodes;
    my @bus = splice @ports, $nodes;
    my $cli = which_program('redis-cli')
        or die "DDBCache::TestEnv: redis-cli not found; install it with: apt-get install -y redis-server (or run make deps)\n";
    my $self = bless { procs => $args{procs}, ports => \@ports, names => [] }, $class;
    for my $i (0 .. $#ports) {
        my $dir = File::Spec->catdir($args{dir}, "cluster-$ports[$i]");
        make_path($dir);
        my $argv = redis_command(port => $ports[$i], dir => $dir);
        push @$argv, '--cluster-enabled', 'yes', '--cluster-config-file', File::Spec->catfile($dir, 'nodes.conf'),
            '--cluster-node-timeout', $NODE_TIMEOUT, '--cluster-port', $bus[$i], '--repl-diskless-sync-delay', 0;
        my $name = "redis-node-$i";
        $self->{procs}->spawn($name => $argv, File::Spec->catfile($dir, 'redis.log'));
        push @{ $self->{names} }, $name;
    }
    for my $i (0 .. $#ports) {
        $self->{procs}->wait_ready($self->{names}[$i] => sub { ($self->_cmd($ports[$i], 'PING') // '') eq 'PONG' });
    }
    my $out = qx{$cli --cluster create @{[ $self->addrs ]} --cluster-replicas $REPLICAS --cluster-yes 2>&1};
    die "DDBCache::TestEnv: redis-cli --cluster create failed:\n$out" if $?;
    wait_until('the cluster to be ok', sub { $self->ok });
    return $self;
}

sub addrs { my ($self) = @_; return map { "127.0.0.1:$_" } @{ $self->{ports} } }
sub names { my ($self) = @_; return @{ $self->{names} } }

# ok: every node says cluster_state:ok with all slots, and every replica
# reports its master link up.
sub ok {
    my ($self) = @_;
    my $linked = 0;
    for my $port (@{ $self->{ports} }) {
        my $info = $self->_cmd($port, 'CLUSTER', 'INFO') // return 0;
        return 0 unless $info =~ /cluster_state:ok/ && $info =~ /cluster_slots_ok:16384/;
        my $repl = $self->_cmd($port, 'INFO', 'replication') // return 0;
        $linked++ if $repl =~ /role:slave/ && $repl =~ /master_link_status:up/;
    }
    return $linked >= $MASTERS * $REPLICAS;
}

# cmd_on($port, @args): a command on one node, not routed; dies on error.
sub cmd_on {
    my ($self, $port, @args) = @_;
    my $c = DDBCache::TestEnv::Conn->new(host => '127.0.0.1', port => $port, timeout => 5);
    my $v = $c->cmd(@args);
    $c->close;
    return $v;
}

# flush empties every master (replicas follow).
sub flush {
    my ($self) = @_;
    for my $port (@{ $self->{ports} }) {
        my $repl = $self->cmd_on($port, 'INFO', 'replication');
        $self->cmd_on($port, 'FLUSHALL') if $repl =~ /role:master/;
    }
    return;
}

sub stop {
    my ($self) = @_;
    $self->{procs}->stop($_) for $self->names;
    return;
}

sub _cmd {
    my ($self, $port, @args) = @_;
    my $c = eval { DDBCache::TestEnv::Conn->new(host => '127.0.0.1', port => $port, timeout => 2) } or return;
    my $v = eval { $c->cmd(@args) };
    $c->close;
    return $v;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Cluster - a private 3-master, 3-replica Redis Cluster for Perl tests

=head1 SYNOPSIS

    my $env = DDBCache::TestEnv->new(redis_cluster => 1);   # the daemon runs on it

=head1 DESCRIPTION

Started by L<DDBCache::TestEnv> when C<redis_cluster> is true: six
C<redis-server --cluster-enabled yes> nodes, joined by C<redis-cli --cluster
create … --cluster-replicas 1 --cluster-yes>, ready once every node says
C<cluster_state:ok> and every replica is linked (polled, as Redis signals
nothing). C<addrs> gives the nodes' host:port, C<cmd_on($port, @args)> runs a
command on one node, C<flush> empties the masters, C<stop> kills the nodes.

=cut
