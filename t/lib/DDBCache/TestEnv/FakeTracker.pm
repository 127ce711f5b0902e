package DDBCache::TestEnv::FakeTracker;

use strict;
use warnings;

use Exporter qw(import);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(_exit);

our $VERSION   = '0.01';
our @EXPORT_OK = qw(fake_tracker invalidate bulk);

# bulk($s): $s as a RESP bulk string.
sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n" }

# fake_tracker([\%opts,] @pings): a scripted daemon on a Unix socket, in a
# child process, that serves both connections of a client: DDB TRACK (+OK,
# or the n-th element of $opts{greetings} at the n-th DDB TRACK),
# DDB GETC ns key (a new value each time, {"key":KEY,"n":N}, with Redis key
# rk:KEY and max-age 60 s; 100 ms for keys short*; 0 for keys nokeep*), DDB
# GET ns key (the same value, as a bulk reply), DDB MGET ns key… (such
# values, an array of bulks), DDB MGETC refused as a daemon from before
# MGETC refused it (a daemon of this tree's error text, checked by the
# test that relies on it), and
# PING: before it answers the n-th PING it writes the n-th element of @pings
# to the latest tracking connection (a string, or 'close' to close it).
# Returns (socket path, pid, request log path).
sub fake_tracker {
    my (@pings) = @_;
    my %opts = ref $pings[0] eq 'HASH' ? %{ shift @pings } : ();
    my @greetings = @{ $opts{greetings} || [] };
    my $dir = tempdir('ddbcache-track-XXXXXX', DIR => '/tmp', CLEANUP => 1);
    my ($path, $log) = ("$dir/fake.sock", "$dir/requests.log");
    my $listener = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => $path, Listen => 8)
        or die "listen on $path: $!";
    my $parent = $$;
    my $pid = fork // die "fork: $!";
    return ($path, $pid, $log) if $pid;

    open my $logfh, '>>', $log or die "$log: $!";
    $logfh->autoflush(1);
    my $sel = IO::Select->new($listener);
    my (%buf, %id, $tracker);
    my ($conns, $n) = (0, 0);
    while (getppid == $parent) {    # not left behind by a test that died
        for my $fh ($sel->can_read(1)) {
            if ($fh == $listener) {
                my $conn = $listener->accept or next;
                $sel->add($conn);
                ($buf{$conn}, $id{$conn}) = ('', ++$conns);
                next;
            }
            if (!sysread $fh, $buf{$fh}, 65_536, length $buf{$fh}) {
                $sel->remove($fh);
                close $fh;
                next;
            }
            while ($buf{$fh} =~ s/\A\*([0-9]+)\r\n((?:\$[0-9]+\r\n[^\r]*\r\n)*)//) {
                my @args = $2 =~ /\$[0-9]+\r\n([^\r]*)\r\n/g;
                print {$logfh} "$id{$fh} @args\n";
                my $cmd = uc join ' ', @args[0 .. ($args[0] eq 'DDB' ? 1 : 0)];
                if ($cmd eq 'DDB TRACK') {
                    $tracker = $fh;
                    syswrite $fh, shift(@greetings) // "+OK\r\n";
                } elsif ($cmd eq 'DDB GET') {
                    syswrite $fh, bulk(sprintf '{"key":"%s","n":%d}', $args[3], ++$n);
                } elsif ($cmd eq 'DDB GETC') {
                    my $key = $args[3];
                    my $value = sprintf '{"key":"%s","n":%d}', $key, ++$n;
                    my $age = $key =~ /\Ashort/ ? 100 : $key =~ /\Anokeep/ ? 0 : 60_000;
                    syswrite $fh, '*3' . "\r\n" . bulk($value) . bulk("rk:$key") . ":$age\r\n";
                } elsif ($cmd eq 'DDB MGETC') {    # a daemon from before MGETC
                    syswrite $fh, "-ERR unknown DDB subcommand 'MGETC'; try GET, GETC, MGET, PUT, DEL, INVALIDATE, TRACK, STATS or NAMESPACES\r\n";
                } elsif ($cmd eq 'DDB MGET') {
                    my @keys = @args[3 .. $#args];
                    syswrite $fh, '*' . @keys . "\r\n" . join '', map { bulk(sprintf '{"key":"%s","n":%d}', $_, ++$n) } @keys;
                } elsif ($cmd eq 'PING') {
                    my $push = shift(@pings) // '';
                    if ($push eq 'close') {
                        $sel->remove($tracker);
                        close $tracker;
                    } elsif (length $push) {
                        syswrite $tracker, $push;
                    }
                    syswrite $fh, "+PONG\r\n";
                } else {
                    syswrite $fh, "-ERR unknown command\r\n";
                }
            }
        }
    }
    _exit(0);
}

# invalidate(@keys): the push that invalidates Redis keys.
sub invalidate {
    my (@keys) = @_;
    return "*2\r\n" . bulk('invalidate') . '*' . @keys . "\r\n" . join '', map { bulk($_) } @keys;
}


1;

__END__

=head1 NAME

DDBCache::TestEnv::FakeTracker - a scripted daemon that speaks DDB TRACK, to test how the client's local cache reads pushes

=head1 SYNOPSIS

    use DDBCache::TestEnv::FakeTracker qw(fake_tracker invalidate);
    my ($path, $pid, $log) = fake_tracker(invalidate('rk:a'), 'close');
    my $c = DDBCache::Client->new(socket => $path);
    $c->get(profile => 'a');    # held: GETC with max-age 60 s
    $c->ping;                   # the fake pushes the invalidation of rk:a first
    kill 'KILL', $pid;

=head1 DESCRIPTION

What no real daemon can be made to do on cue: a push in pieces, garbage
on the tracking connection, a push glued to the C<+OK> of C<DDB TRACK>,
an older daemon's refusal of C<DDB MGETC>. The pushes are paced by the
test's own C<PING>s, so nothing waits on time.

=head1 FUNCTIONS

=over

=item fake_tracker([\%opts,] @pings)

Forks the server; returns (socket path, pid, request log path). The log
has a line "CONNECTION-NUMBER ARGS..." per request. C<greetings> in
C<%opts> replaces the reply to the n-th C<DDB TRACK>.

=item invalidate(@keys)

The RESP push that invalidates Redis keys @keys.

=item bulk($string)

$string as a RESP bulk string.

=back

=head1 SEE ALSO

L<DDBCache::TestEnv::FakeDaemon>, a scripted server for one connection at a time.

=cut
