package DDBCache::TestEnv::Workers;

# Forked worker processes that call the daemon in a loop, as the workers
# of a preforked Perl web app do, and count what went wrong: calls that
# died (failed) and calls that returned a value that is not right (wrong).
# For the fault tests (faults/*.t): the parent makes a fault happen while
# the workers run, then stops them and reads their counts.

use strict;
use warnings;

use Carp qw(croak);
use IO::Handle;
use JSON::PP;
use POSIX qw(_exit);
use Time::HiRes qw(time);

our $VERSION = '0.01';

# How long starting, finishing and stopping the workers may take.
my $DEADLINE = 120;
# How many different error messages a worker reports (with their counts).
my $MAX_MESSAGES = 5;

my $JSON = JSON::PP->new->canonical;

sub new {
    my ($class, %args) = @_;
    for my $k (qw(n client call)) {
        croak "DDBCache::TestEnv::Workers->new: $k is required" unless defined $args{$k};
    }
    return bless { calls => 0, %args, kids => [] }, $class;
}

# start: forks the workers; returns once each has made its client (and
# whatever else `client` does) and waits for go.
sub start {
    my ($self) = @_;
    pipe(my $go_r, my $go_w) or croak "pipe: $!";
    pipe(my $stop_r, my $stop_w) or croak "pipe: $!";
    for my $i (1 .. $self->{n}) {
        pipe(my $rep_r, my $rep_w) or croak "pipe: $!";
        my $pid = fork // croak "fork: $!";
        if ($pid == 0) {
            close $_ for $go_w, $stop_w, $rep_r, map { $_->{out} } @{ $self->{kids} };
            $rep_w->autoflush(1);
            my $report = eval { $self->_work($i, $go_r, $stop_r, $rep_w) } // { died => "$@" };
            print {$rep_w} $JSON->encode($report), "\n";
            close $rep_w;
            _exit(0);    # never the test's END blocks
        }
        close $rep_w;
        push @{ $self->{kids} }, { pid => $pid, out => $rep_r };
    }
    close $_ for $go_r, $stop_r;
    @$self{qw(go stop)} = ($go_w, $stop_w);
    for my $kid (@{ $self->{kids} }) {
        my $line = $self->_read_line($kid->{out}, 'ready');
        croak "DDBCache::TestEnv::Workers: worker $kid->{pid} did not start: $line" unless $line eq "ready\n";
    }
    return $self;
}

# go: all workers start calling at once (they wait for the end of a pipe).
sub go {
    my ($self) = @_;
    close delete $self->{go};
    $self->{t0} = time;
    return $self;
}

# stop: tells the workers to stop after their current call, then finish.
sub stop {
    my ($self) = @_;
    close delete $self->{stop} if $self->{stop};
    return $self->finish;
}

# finish: waits until every worker has ended (after `calls` calls, or
# stop) and returns the sums of their reports.
sub finish {
    my ($self) = @_;
    my %sum = (calls => 0, failed => 0, wrong => 0, errors => {}, wrongs => [], max_latency => 0, died => []);
    for my $kid (@{ $self->{kids} }) {
        my $line = $self->_read_line($kid->{out}, 'its report');
        waitpid($kid->{pid}, 0);
        my $r = eval { $JSON->decode($line) } // { died => "no report: $line" };
        push @{ $sum{died} }, $r->{died} if $r->{died};
        $sum{$_} += $r->{$_} // 0 for qw(calls failed wrong);
        $sum{errors}{$_} += $r->{errors}{$_} for keys %{ $r->{errors} || {} };
        push @{ $sum{wrongs} }, @{ $r->{wrongs} || [] };
        $sum{max_latency} = $r->{max_latency} if ($r->{max_latency} // 0) > $sum{max_latency};
        for my $k (qw(first_failure last_failure)) {
            next unless defined $r->{$k};
            $sum{$k} = $r->{$k}
                if !defined $sum{$k} || ($k eq 'first_failure' ? $r->{$k} < $sum{$k} : $r->{$k} > $sum{$k});
        }
    }
    close $self->{stop} if $self->{stop};
    $self->{kids} = [];
    $sum{elapsed} = time - ($self->{t0} // time);
    return \%sum;
}

# summary(\%sums): "0 failed / 123 calls, 0 wrong" and the first messages.
sub summary {
    my ($class, $s) = @_;
    my $line = "$s->{failed} failed / $s->{calls} calls, $s->{wrong} wrong";
    my @msgs = sort { $s->{errors}{$b} <=> $s->{errors}{$a} } keys %{ $s->{errors} };
    $line .= ' (' . join('; ', map { "$s->{errors}{$_}x $_" } @msgs[0 .. ($#msgs < 2 ? $#msgs : 2)]) . ')' if @msgs;
    $line .= ' [worker died: ' . join('; ', @{ $s->{died} }) . ']' if @{ $s->{died} || [] };
    return $line;
}

sub _read_line {
    my ($self, $fh, $what) = @_;
    my $line = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm $DEADLINE;
        my $l = <$fh>;
        alarm 0;
        $l;
    };
    alarm 0;
    croak "DDBCache::TestEnv::Workers: no $what from a worker within ${DEADLINE}s" unless defined $line;
    return $line;
}

sub _work {
    my ($self, $i, $go, $stop, $out) = @_;
    my $client = $self->{client}->($i);
    print {$out} "ready\n";
    <$go>;    # EOF: go
    my %r = (calls => 0, failed => 0, wrong => 0, errors => {}, wrongs => [], max_latency => 0);
    my $rin = '';
    vec($rin, fileno $stop, 1) = 1;
    for (my $n = 0; !$self->{calls} || $n < $self->{calls}; $n++) {
        last if select(my $rout = $rin, undef, undef, 0) > 0;    # the parent closed the stop pipe
        my $t0 = time;
        my $wrong = eval { $self->{call}->($client, $i, $n) };
        my $took = time - $t0;
        $r{calls}++;
        $r{max_latency} = $took if $took > $r{max_latency};
        if (my $err = $@) {
            $r{failed}++;
            $r{first_failure} //= $t0;
            $r{last_failure} = $t0;
            (my $msg = $err) =~ s/ at \S+ line \d+\.?\n?\z//;
            $msg =~ s{/\S*/}{.../}g;
            $msg =~ s/\r/\\r/g;
            $msg =~ s/\n/\\n/g;    # one line per message
            $r{errors}{$msg}++ if $r{errors}{$msg} || keys %{ $r{errors} } < $MAX_MESSAGES;
        } elsif (defined $wrong) {
            $r{wrong}++;
            push @{ $r{wrongs} }, "worker $i: $wrong" if @{ $r{wrongs} } < $MAX_MESSAGES;
        }
    }
    return \%r;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Workers - forked workers that call the daemon in a loop and count failures

=head1 SYNOPSIS

    my $w = DDBCache::TestEnv::Workers->new(
        n      => 8,
        client => sub { my ($i) = @_; DDBCache::Client->new(socket => $path) },
        call   => sub {                      # undef: right; a string: what is wrong; dies: failed
            my ($c, $i, $n) = @_;
            my $item = $c->get(profile => "k" . $n % 100);
            return $item->{v} eq 'x' ? undef : "k$n is $item->{v}";
        },
    )->start->go;
    ...                                      # a fault
    my $sums = $w->stop;                     # { calls, failed, wrong, errors => { message => count }, ... }
    diag DDBCache::TestEnv::Workers->summary($sums);

=head1 DESCRIPTION

Each worker is a forked process that makes its client with C<client>, then
waits; C<go> releases all of them at once, and each calls C<call> in a loop
until C<stop> (checked before each call), or C<calls> times. A call that
dies counts as failed (its message, without the line and with paths cut to
F<.../>, is counted), one that returns a defined value as wrong. Workers
exit with C<_exit>, so no C<END> block of the test runs in them.

=head1 METHODS

=over

=item new(n => $count, client => \&make, call => \&call, [calls => $per_worker])

=item start

Forks the workers and returns once each has made its client.

=item go

Releases them; returns the object.

=item stop, finish

C<stop> tells the workers to stop and then does C<finish>: waits until
each has exited and returns the sums of their reports: C<calls>,
C<failed>, C<wrong>, C<errors> (message => count), C<wrongs> (the first
wrong values, described), C<max_latency> (seconds, of one call),
C<first_failure> and C<last_failure> (epoch seconds), C<elapsed> (since
C<go>), C<died> (workers that died outside a call).

=item summary(\%sums)

A class method: the sums as one line, C<0 failed / 123 calls, 0 wrong>,
with the commonest error messages.

=back

=head1 ERRORS

C<start> and C<finish> croak when a worker does not report within 120
seconds.

=head1 SEE ALSO

L<DDBCache::TestEnv>, F<faults/>.

=cut
