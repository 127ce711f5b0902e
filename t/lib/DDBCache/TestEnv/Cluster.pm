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
    for my $port (grep { !$self->{dead}{$_} } @{ $self->{ports} }) {
        my $info = $self->_cmd($port, 'CLUSTER', 'INFO') // return 0;
        return 0 unless $info =~ /cluster_state:ok/ && $info =~ /cluster_slots_ok:16384/;
        my $repl = $self->_cmd($port, 'INFO', 'replication') // return 0;
        $linked++ if $repl =~ /role:slave/ && $repl =~ /master_link_status:up/;
    }
    return $linked >= $MASTERS * $REPLICAS - keys %{ $self->{dead} // {} };
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
    for my $port (grep { !$self->{dead}{$_} } @{ $self->{ports} }) {
        my $repl = $self->cmd_on($port, 'INFO', 'replication');
        $self->cmd_on($port, 'FLUSHALL') if $repl =~ /role:master/;
    }
    return;
}

# nodes: the cluster as a node sees it (CLUSTER NODES), one hash per
# running node: port, id, role (master or slave), master (a replica's
# master's id), slots ([from, to] ranges).
sub nodes {
    my ($self) = @_;
    my @nodes;
    for my $line (split /\n/, $self->cmd_on($self->_a_running_port, 'CLUSTER', 'NODES')) {
        my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots) = split ' ', $line;
        next if $flags =~ /fail/ || $link ne 'connected';
        my ($port) = $addr =~ /:([0-9]+)@/;
        push @nodes, { id => $id, port => $port, role => $flags =~ /master/ ? 'master' : 'slave', master => $master,
            slots => [map { [split /-/] } grep { /\A[0-9]/ } @slots] };
    }
    return @nodes;
}

# master_of($key) and replica_of($master): the node hashes of nodes.
sub master_of {
    my ($self, $key) = @_;
    my $slot = $self->cmd_on($self->_a_running_port, 'CLUSTER', 'KEYSLOT', $key);
    for my $n (grep { $_->{role} eq 'master' } $self->nodes) {
        return $n if grep { $slot >= $_->[0] && $slot <= ($_->[1] // $_->[0]) } @{ $n->{slots} };
    }
    croak "DDBCache::TestEnv::Cluster: no master serves $key";
}

sub replica_of {
    my ($self, $master) = @_;
    my ($r) = grep { $_->{role} eq 'slave' && $_->{master} eq $master->{id} } $self->nodes;
    return $r // croak "DDBCache::TestEnv::Cluster: master $master->{port} has no replica";
}

# failover($key): CLUSTER FAILOVER on a replica of the master of $key (a
# manual, coordinated failover), and waits until that replica says it is
# master and the cluster is ok again. Returns the new master's port.
sub failover {
    my ($self, $key) = @_;
    my $replica = $self->replica_of($self->master_of($key));
    $self->cmd_on($replica->{port}, 'CLUSTER', 'FAILOVER');
    wait_until("$replica->{port} to be master",
        sub { ($self->_cmd($replica->{port}, 'INFO', 'replication') // '') =~ /role:master/ });
    wait_until('the cluster to be ok', sub { $self->ok });
    return $replica->{port};
}

# kill_master_of($key): SIGKILLs the master of $key and waits until its
# replica has taken over (the cluster's own failover, after
# cluster-node-timeout) and the cluster is ok again without it. Returns the
# new master's port.
sub kill_master_of {
    my ($self, $key) = @_;
    my $master  = $self->master_of($key);
    my $replica = $self->replica_of($master);
    my ($i) = grep { $self->{ports}[$_] == $master->{port} } 0 .. $#{ $self->{ports} };
    $self->{procs}->stop($self->{names}[$i], 'KILL');
    $self->{dead}{ $master->{port} } = 1;
    wait_until("$replica->{port} to take over from the killed $master->{port}",
        sub { ($self->_cmd($replica->{port}, 'INFO', 'replication') // '') =~ /role:master/ });
    wait_until('the cluster to be ok without the killed master', sub { $self->ok });
    return $replica->{port};
}

sub _a_running_port {
    my ($self) = @_;
    for my $port (@{ $self->{ports} }) {
        return $port if ($self->_cmd($port, 'PING') // '') eq 'PONG';
    }
    croak 'DDBCache::TestEnv::Cluster: no node answers';
}

sub stop {
    my ($self) = @_;
    $self->{procs}->stop($_) for $self->names;
    return;
}

sub _cmd {
    my ($self, $port, @args) = @_;
    return DDBCache::TestEnv::Conn->try_cmd($port, @args);
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
C<nodes> is CLUSTER NODES parsed, C<master_of($key)> and
C<replica_of($master)> pick nodes of it, C<failover($key)> runs CLUSTER
FAILOVER on a replica of $key's master and waits until it took over, and
C<kill_master_of($key)> SIGKILLs that master and waits for the cluster's
own failover.

=cut
