package DDBCache::TestEnv::Coherence;

# The local cache's coherence under concurrency, randomized: two daemons on
# one Redis (or one Redis Cluster) and one dynalite (as on two hosts); a
# writer process on each puts increasing versions of the keys it owns;
# readers on both, local cache on, read in tight loops, while the test may
# change the Redis topology (a failover). Afterwards every read is checked
# against the writes acknowledged before it started: a write through the
# reader's own daemon must be seen at once (the daemon pushes the
# invalidation before it acknowledges), one through the other daemon within
# $DELTA seconds. A failed lookup is retried once; the retry must not fail,
# and a failure may only happen while the topology changes.

use strict;
use warnings;

use Exporter qw(import);
use File::Spec;
use IO::Select;
use JSON::PP qw(decode_json);
use POSIX    qw(_exit);
use Test::More;
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);
use DDBCache::Client;
use DDBCache::TestEnv;

our $VERSION   = '0.01';
our @EXPORT_OK = qw(run_coherence);

# How long the readers and writers run, in seconds, unless run_coherence
# is told otherwise.
my $DEFAULT_RUN = 8;

# How far behind a write acknowledged by the other daemon a read may be.
my $DELTA = 1;

# 20 keys; the first $SLOW are written only every 2.5 to 3.5 s (longer than the
# daemon's 2 s write bypass, during which the writer's own daemon does not
# let clients keep the key), and get $SLOW_SHARE of the reads; the others
# are written as fast as the writers go.
my $KEYS       = 20;
my $SLOW       = 12;
my $SLOW_SHARE = 0.85;
my @SLOW_EVERY = (2.5, 3.5);

# A writer's pause between two writes of the fast keys, so that two writers
# and dynalite leave some of the 2 CPUs to the readers. (Load only: no
# check depends on it.)
my $WRITE_PAUSE = 0.005;

# Each reader must have served at least this share of its reads locally,
# or the test would not be testing the local cache (unless run_coherence
# is told otherwise: a killed master drops the local caches for a while).
my $DEFAULT_MIN_LOCAL_SHARE = 0.5;

# How long the processes may take to get ready, and to finish after $RUN.
my $SETUP_LIMIT  = 30;
my $FINISH_LIMIT = 30;

# How long after a topology change ended a lookup may still fail: the
# daemon's Redis client learns the new topology from a MOVED reply or a
# refresh it schedules within a second.
my $FAIL_SLACK = 2;

# A writer's pause before it tries a failed put again.
my $WRITE_RETRY_PAUSE = 0.01;

# A logged read or write: key index, version, start, end (acknowledgement).
my $RECORD     = 'CNdd';
my $RECORD_LEN = length pack $RECORD, 0, 0, 0, 0;

# ---- the child processes ---------------------------------------------------

# The run's settings and state, set by run_coherence (the child processes
# are its forks).
my ($env, $RUN, $MIN_LOCAL_SHARE, $seed, %socket, @keys, @procs, %daemon_of_key);

sub now { return clock_gettime(CLOCK_MONOTONIC) }

sub log_path {
    my ($p, $ext) = @_;
    (my $file = $p->{name}) =~ tr/ /-/;
    return File::Spec->catfile($env->tmpdir, "$file.$ext");
}

# writer($p, $client, $end): puts keys it owns until $end; the slow ones
# when due, a random fast one otherwise. Returns the log and a summary.
sub writer {
    my ($p, $c, $end) = @_;
    my @own  = grep { $_ % 2 == $p->{writer} } 0 .. $KEYS - 1;
    my @fast = grep { $_ >= $SLOW } @own;
    my %due  = map  { $_ => now() + 0.5 + rand 3 } grep { $_ < $SLOW } @own;
    my (@version, $log);
    my ($slow, $fast, $failed) = (0, 0, 0);
    while ((my $t = now()) < $end) {
        my ($k) = sort { $due{$a} <=> $due{$b} } grep { $due{$_} <= $t } keys %due;
        if (defined $k) {
            $due{$k} = $t + $SLOW_EVERY[0] + rand($SLOW_EVERY[1] - $SLOW_EVERY[0]);
            $slow++;
        }
        else {
            $k = $fast[rand @fast];
            $fast++;
        }
        my $v     = ++$version[$k];
        my $start = now();
        put_until_acknowledged($c, $k, $v, $end, \$failed);
        $log .= pack $RECORD, $k, $v, $start, now();
        Time::HiRes::sleep($WRITE_PAUSE) if $k >= $SLOW;    # the fast keys' write pace, not a synchronizer
    }
    return ($log // '', "slow $slow fast $fast failed $failed");
}

# put_until_acknowledged: puts version $v of key $k again after each
# failure (the put is idempotent, and a failed one may have reached
# DynamoDB: it is the same version either way), counting the failures,
# for at most $FINISH_LIMIT s past $end. The write's start stays the first
# attempt's, its acknowledgement is the success.
sub put_until_acknowledged {
    my ($c, $k, $v, $end, $failed) = @_;
    while (1) {
        return if eval { $c->put(profile => {user_id => $keys[$k], name => "v$v"}); 1 };
        my $err = $@;
        $$failed++;
        die "put of $keys[$k] v$v still failing $FINISH_LIMIT s after the end: $err" if now() > $end + $FINISH_LIMIT;
        Time::HiRes::sleep($WRITE_RETRY_PAUSE);    # a writer's backoff, so that failures count attempts, not spins
    }
}

# reader($p, $client, $end): gets random keys until $end, mostly the slow ones.
sub reader {
    my ($p, $c, $end) = @_;
    my $before = $c->local_stats;
    my ($n, $log, $failures) = (0, '', '');
    while ((my $start = now()) < $end) {
        my $k    = rand() < $SLOW_SHARE ? int rand $SLOW : $SLOW + int rand($KEYS - $SLOW);
        my $item = eval { $c->get(profile => $keys[$k]) };
        if (my $err = $@) {

            # A failed lookup is logged and retried once, as an
            # application would retry an idempotent read.
            $failures .= pack 'dC', $start, 0;
            $item = eval { $c->get(profile => $keys[$k]) };
            if ($@) {
                $failures .= pack 'dC', now(), 1;
                next;
            }
        }
        my $done = now();
        my ($v)  = ($item ? $item->{name} // '' : '') =~ /\Av([0-9]+)\z/
            or die "$keys[$k]: unexpected item " . ($item ? join(',', %$item) : 'undef') . "\n";
        $log .= pack $RECORD, $k, $v, $start, $done;
        $n++;
    }
    my $s = $c->local_stats;
    DDBCache::TestEnv::write_file(log_path($p, 'fail'), $failures);
    return ($log, join ' ', 'reads', $n, map { $_, $s->{$_} - $before->{$_} } qw(hits misses invalidations flushes));
}

# warm($client): gets every key until the local cache holds it (at most
# 5 s each); returns how many it holds.
sub warm {
    my ($c) = @_;
    my $held = 0;
    for my $key (@keys) {
        my $deadline = now() + 5;
        while (now() < $deadline) {
            my $hits = $c->local_stats->{hits};
            $c->get(profile => $key);
            if ($c->local_stats->{hits} > $hits) {
                $held++;
                last;
            }
        }
    }
    return $held;
}

# child($p, $ready, $go): in the child process; says "ready INDEX HELD" (a
# reader: how many keys it holds) on $ready, waits until $go is closed, runs
# for $RUN s and writes its log and summary files. Never returns.
sub child {
    my ($p, $ready, $go) = @_;
    $SIG{$_} = 'DEFAULT' for qw(HUP INT TERM);
    srand($seed + 7919 * $p->{index});
    my $ok = eval {
        my $c    = DDBCache::Client->new(socket => $socket{$p->{daemon}}, timeout => 5);
        my $held = exists $p->{writer} ? do { $c->ping; '-' } : warm($c);
        syswrite $ready, "ready $p->{index} $held\n";
        sysread $go, my $buf, 1;    # EOF: go
        my $end = now() + $RUN;
        my ($log, $summary) = exists $p->{writer} ? writer($p, $c, $end) : reader($p, $c, $end);
        DDBCache::TestEnv::write_file(log_path($p, 'log'), $log);
        DDBCache::TestEnv::write_file(log_path($p, 'sum'), $summary);
        1;
    };
    if (!$ok) {
        my $err = $@ || 'unknown error';
        DDBCache::TestEnv::write_file(log_path($p, 'err'), $err);
        syswrite $ready, "error $err";    # if still before the start
    }
    _exit($ok ? 0 : 1);
}

# stop_children: kills the children still running (after a failure).
sub stop_children {
    for my $p (grep { !defined $_->{status} } @procs) {
        kill 'KILL', $p->{pid};
        waitpid $p->{pid}, 0;
        $p->{status} = $?;
    }
    return;
}

# ---- the run -----------------------------------------------------------

# start: forks the processes, waits until they are ready and starts them
# together; returns the start time, or nothing when they did not get ready.
sub start {

    pipe(my $ready_r, my $ready_w) or die "pipe: $!";
    pipe(my $go_r,    my $go_w)    or die "pipe: $!";
    for my $i (0 .. $#procs) {
        my $p = $procs[$i];
        $p->{index} = $i;
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $ready_r;
            close $go_w;
            child($p, $ready_w, $go_r);
        }
        $p->{pid} = $pid;
    }
    close $ready_w;
    close $go_r;

    # Every child gets ready (each reader holding every key), then all start together.
    my ($ready_text, $setup_end) = ('', now() + $SETUP_LIMIT);
    my $sel = IO::Select->new($ready_r);
    while (($ready_text =~ tr/\n//) < @procs && now() < $setup_end) {
        next unless $sel->can_read($setup_end - now());
        sysread($ready_r, $ready_text, 4096, length $ready_text) or last;
    }
    my %held = $ready_text =~ /^ready ([0-9]+) (\S+)$/mg;
    if (!is(scalar keys %held, scalar @procs, 'all ' . @procs . ' processes are ready')) {
        diag $ready_text;
        stop_children();
        return;
    }
    my @readers = grep { !exists $_->{writer} } @procs;
    is_deeply(
        [@held{map { $_->{index} } @readers}],
        [($KEYS) x @readers],
        "each reader holds all $KEYS keys in its local cache before the start"
    );
    my $t0 = now();
    close $go_w;
    return $t0;
}

# finish($t0): waits for the children; true when all ran and exited 0.
sub finish {
    my ($t0) = @_;

    # Each child's exit is what the test waits for: a blocking waitpid per
    # child, all under one alarm as the deadline (a child still running then
    # has no status and fails below).
    {
        local $SIG{ALRM} = sub { die "finish deadline\n" };
        alarm($RUN + $FINISH_LIMIT);
        eval {
            for my $p (@procs) {
                $p->{status} = $? if waitpid($p->{pid}, 0) == $p->{pid};
            }
            1;
        };
        alarm 0;
    }
    my $took = now() - $t0;
    stop_children();
    for my $p (@procs) {
        is($p->{status}, 0, "$p->{name} ran for $RUN s and exited")
            or diag DDBCache::TestEnv::slurp(log_path($p, 'err')) || sprintf 'status %d after %.1f s',
            $p->{status}, $took;
    }
    return 0 if grep { $_->{status} } @procs;

    return 1;
}

# daemon_stats: what the daemons say about their tracking clients (pushes
# written, clients closed because a push could not be written within 2 ms).
sub daemon_stats {
    for my $d (sort keys %socket) {
        my $st = decode_json($env->connect(path => $socket{$d})->cmd(qw(DDB STATS)));
        diag sprintf 'daemon %s: %d invalidations pushed, %d flushes pushed, %d tracking clients dropped', $d,
            map { $st->{$_} // -1 } qw(invalidations_pushed flushes_pushed tracking_clients_dropped);
    }
    return;
}

# ---- the check -----------------------------------------------------------

# records($p, $callback): calls $callback->(key, version, start, end) for
# each record in the process's log, in order.
sub records {
    my ($p, $cb) = @_;
    my $data  = DDBCache::TestEnv::slurp(log_path($p, 'log'));
    my $chunk = 4096 * $RECORD_LEN;
    my $off   = 0;
    while ($off < length $data) {
        my @f = unpack "($RECORD)*", substr $data, $off, $chunk;
        $cb->(splice @f, 0, 4) while @f;
        $off += $chunk;
    }
    return;
}

# check_writes: reads the writers' logs into @$start and @$ack (for
# version $v of key $k, when its first put began and when the last was
# acknowledged) and checks them.
sub check_writes {
    my ($start, $ack) = @_;

    my ($writes, $bad_writes) = (0, 0);
    for my $p (grep { exists $_->{writer} } @procs) {
        records(
            $p,
            sub {
                my ($k, $v, $s, $a) = @_;
                $bad_writes++ unless $k % 2 == $p->{writer} && $v == @{$ack->[$k] ||= [undef]};
                ($start->[$k][$v], $ack->[$k][$v]) = ($s, $a);
                $writes++;
            }
        );
        $p->{summary} = DDBCache::TestEnv::slurp(log_path($p, 'sum'));
    }
    is($bad_writes, 0, 'the writers logged versions 1, 2, 3, ... of their own keys');
    my @slow_written = grep { $ack->[$_] && @{$ack->[$_]} > 1 } 0 .. $SLOW - 1;
    is(
        scalar @slow_written,
        $SLOW,
        "each of the $SLOW slow keys was written ("
            . join(', ', map { "$_->{name}: $_->{summary}" } grep { exists $_->{writer} } @procs) . ')'
    );
    cmp_ok($writes, '>', 100, "$writes writes");
    return $writes;
}

# check_reads($t0, $start, $ack): judges every read against the writes.
sub check_reads {
    my ($t0, $start, $ack, $writes, $change) = @_;
    my @start   = @$start;
    my @ack     = @$ack;
    my @readers = grep { !exists $_->{writer} } @procs;
    my $at      = sub { my ($t) = @_; return sprintf '+%.6f s', $t - $t0 };
    my (%count, @violations, @future, @regress);
    my $max_stale = 0;
    my @gaps;    # for the first read of a slow key since a write through the reader's daemon: how long after its ack

    for my $p (@readers) {
        my @last;      # the newest version this reader saw of each key
        my @newest;    # the newest version of each key acknowledged before this reader's last read of it
        my %c;
        records(
            $p,
            sub {
                my ($k, $v, $s, $e) = @_;
                $c{reads}++;
                my $acks = $ack[$k] || [undef];
                if ($v > $#$acks || ($v > 0 && $start[$k][$v] >= $e)) {
                    push @future,
                          "$p->{name} read $keys[$k] from "
                        . $at->($s) . ' to '
                        . $at->($e)
                        . ": v$v, "
                        . ($v > $#$acks ? 'never written' : 'whose put started ' . $at->($start[$k][$v]));
                }
                push @regress, [$s, "$p->{name} read $keys[$k] at " . $at->($s) . ": v$v after v$last[$k]"]
                    if defined $last[$k] && $v < $last[$k];
                $last[$k] = $v if !defined $last[$k] || $v > $last[$k];

                # The reads of a reader are in order of time: the newest write acknowledged before this one started.
                my $n = $newest[$k] // 0;
                $n++ while $n < $#$acks && $acks->[$n + 1] < $s;
                my $fresh = $n > ($newest[$k] // 0);    # the first read since a write
                $newest[$k] = $n;

                # How long before the read the first write it did not see was acknowledged.
                my $stale = $v < $n                            ? $s - $acks->[$v + 1] : 0;
                my $where = $daemon_of_key{$k} eq $p->{daemon} ? 'same'               : 'cross';
                $c{$where}++;
                $c{"fresh_$where"}++ if $fresh;
                push @gaps, $s - $acks->[$n] if $fresh && $where eq 'same' && $k < $SLOW;
                $max_stale = $stale if $where eq 'cross' && $stale > $max_stale;
                if ($where eq 'same' ? $stale > 0 : $stale > $DELTA) {
                    $c{violations}++;
                    push @violations,
                        sprintf '%s (daemon %s) read %s at %s: v%d, but v%d was acknowledged at %s by writer %s, '
                        . '%.1f ms before the read%s', $p->{name}, $p->{daemon}, $keys[$k], $at->($s), $v, $v + 1,
                        $at->($acks->[$v + 1]), $daemon_of_key{$k}, 1000 * $stale,
                        $n > $v + 1 ? " (and v$n, the newest, at " . $at->($acks->[$n]) . ')' : '';
                }
            }
        );
        my %s = DDBCache::TestEnv::slurp(log_path($p, 'sum')) =~ /(\w+) (-?[0-9]+)/g;
        cmp_ok($s{reads}, '==', $c{reads}, "$p->{name}: its log has all its reads");
        cmp_ok(
            $s{hits},
            '>',
            $MIN_LOCAL_SHARE * $s{reads},
            sprintf '%s (daemon %s): %d reads, %d local hits (%.0f %%), '
                . '%d misses, %d invalidations, %d flushes; %d reads of keys written through its daemon, %d through the other',
            $p->{name},
            $p->{daemon},
            $s{reads},
            $s{hits},
            100 * $s{hits} / ($s{reads} || 1),
            @s{qw(misses invalidations flushes)},
            $c{same}  // 0,
            $c{cross} // 0
        );
        cmp_ok($s{invalidations}, '>', 0, "$p->{name}: pushes dropped entries it held");
        $count{$_}   += $c{$_} // 0 for qw(reads same cross fresh_same fresh_cross violations);
        $count{hits} += $s{hits};
    }

    is(scalar @future, 0, 'no read returned a version whose put had not started')
        or diag join "\n", grep { defined } @future[0 .. 4];
    is(
        scalar @violations,
        0,
        "no read missed a write acknowledged before it started by its own daemon, or $DELTA s "
            . 'before by the other daemon'
    ) or diag join "\n", grep { defined } @violations[0 .. 9];
    # A write that failed in a killed master's window (its invalidation
    # never reached the replica that took over) is not acknowledged; until
    # its retry is, a reader may see it (read from DynamoDB) and then the
    # older copy the new master kept. Only then.
    my ($from, $to) = $change ? ($change->{start}, $change->{end} + $FAIL_SLACK) : (0, -1);
    my @outside = grep { $_->[0] < $from || $_->[0] > $to } @regress;
    diag sprintf '%d reads went back to an older version, %d of them outside the change', scalar @regress,
        scalar @outside if @regress;
    is(scalar @outside, 0, 'no reader saw a key go back to an older version' . ($change ? ' outside the change' : ''))
        or diag join "\n", map { $_->[1] } grep { defined } @outside[0 .. 4];
    diag sprintf '%d writes; %d reads (%d local hits): %d of keys written through the reader\'s daemon (%d the first '
        . 'since a write; %d of a slow key, %.1f ms after the ack at the median), %d through the other (%d); %d violations; '
        . 'max staleness after a write through the other daemon: %.1f ms', $writes,
        @count{qw(reads hits same fresh_same)},
        scalar @gaps, 1000 * ((sort { $a <=> $b } @gaps)[@gaps / 2] // 0),
        @count{qw(cross fresh_cross violations)}, 1000 * $max_stale;
    return;
}

# ---- the entry point -------------------------------------------------------

# run_coherence(env => $env, run => $seconds, change => $sub,
# min_local_share => $share): runs the readers and writers on $env's daemon
# and a second one for $seconds (default 8), calling $change->($t0) (if given) in the parent meanwhile;
# $change returns { what => ..., start => ..., end => ... } (monotonic
# times), the window in which lookups may fail. Then checks every read.
sub run_coherence {
    my (%args) = @_;
    $env  = $args{env};
    $RUN  = $args{run}               // $DEFAULT_RUN;
    $MIN_LOCAL_SHARE = $args{min_local_share} // $DEFAULT_MIN_LOCAL_SHARE;
    $seed = $ENV{DDBCACHE_TEST_SEED} // (time ^ $$);
    note "seed $seed (DDBCACHE_TEST_SEED=$seed repeats the choices, not the timing)";
    %socket = (A => $env->socket_path, B => $env->start_extra_daemon);
    @keys   = map { sprintf 'coh%02d', $_ } 0 .. $KEYS - 1;
    for my $key (@keys) {
        $env->put_item(users => {user_id => {S => $key}, name => {S => 'v0'}});
    }

    # Key $i is written only by writer $i % 2, so its versions are totally ordered.
    @procs = (
        {name => 'writer A',  daemon => 'A', writer => 0},
        {name => 'writer B',  daemon => 'B', writer => 1},
        {name => 'reader A1', daemon => 'A'},
        {name => 'reader B1', daemon => 'B'},
        {name => 'reader B2', daemon => 'B'},
    );
    %daemon_of_key = map { $_ => $procs[$_ % 2]{daemon} } 0 .. $KEYS - 1;
    my $t0     = start() // return;
    my $change = $args{change} ? $args{change}->($t0) : undef;
    finish($t0) or return;
    daemon_stats();
    my (@start, @ack);
    my $writes = check_writes(\@start, \@ack);
    check_reads($t0, \@start, \@ack, $writes, $change);
    check_failures($t0, $change);
    return;
}

# check_failures($t0, $change): the readers' failed lookups, each retried
# once: no retry may fail, and every failure must fall within the change's
# window (to $FAIL_SLACK s after it), or there must be none without a change.
sub check_failures {
    my ($t0, $change)                     = @_;
    my ($failed, $retry_failed, @outside) = (0, 0);
    my ($from, $to)                       = $change ? ($change->{start}, $change->{end} + $FAIL_SLACK) : (0, -1);
    for my $p (grep { !exists $_->{writer} } @procs) {
        my @f = unpack '(dC)*', DDBCache::TestEnv::slurp(log_path($p, 'fail')) // '';
        while (my ($at, $retry) = splice @f, 0, 2) {
            $retry ? $retry_failed++ : $failed++;
            push @outside, sprintf '%s at +%.3f s', $p->{name}, $at - $t0 if !$retry && ($at < $from || $at > $to);
        }
    }
    my @writers = map { DDBCache::TestEnv::slurp(log_path($_, 'sum')) =~ /failed ([0-9]+)/ }
        grep { exists $_->{writer} } @procs;
    my $window =
        $change
        ? sprintf('%s from +%.3f s to +%.3f s', $change->{what}, $change->{start} - $t0, $change->{end} - $t0)
        : 'no change';
    diag sprintf '%s: %d lookups failed (%d failed again on their one retry); %d puts failed and were tried again',
        $window, $failed, $retry_failed, eval { my $n = 0; $n += $_ for @writers; $n };
    is($retry_failed,   0, 'no lookup failed twice (the client retries an idempotent read once)');
    is(scalar @outside, 0, "no lookup failed outside the change's window (to $FAIL_SLACK s after it)")
        or diag join "\n", grep { defined } @outside[0 .. 4];
    return;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Coherence - the randomized coherence checker of t/09 and t/17

=head1 SYNOPSIS

    use DDBCache::TestEnv::Coherence qw(run_coherence);
    run_coherence(env => DDBCache::TestEnv->new);
    run_coherence(env => DDBCache::TestEnv->new(redis_cluster => 1), change => sub { ... });

=head1 DESCRIPTION

Two writers and three readers, in child processes, on two daemons; every
read is judged against the writes acknowledged before it began (see the
comment at the top). C<change> is called in the parent once the processes
run, to change the Redis topology; it returns the window in which lookups
may fail.

=cut
