package DDBCache::TestEnv::Faults;

# What the fault tests (faults/*.t) share: a known data set written straight
# to DynamoDB, the check of a value read against it, timing a condition, and
# the one line of figures each scenario prints.

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use Time::HiRes qw(sleep time);

our $VERSION   = '0.01';
our @EXPORT_OK = qw(seed_items check_item time_until figure);

# The pause between two looks at a condition in time_until: what it waits
# for (a STATS field, a key in Redis) sends no signal.
my $POLL = 0.005;

# seed_items($env, $prefix, $count [, $table]): items "$prefix$i" with
# v => "v-$prefix$i", written straight to dynalite; returns their keys.
sub seed_items {
    my ($env, $prefix, $count, $table) = @_;
    my @keys = map { "$prefix$_" } 1 .. $count;
    $env->put_item($table // 'users', { user_id => { S => $_ }, v => { S => "v-$_" } }) for @keys;
    return @keys;
}

# check_item($item, $key): undef when $item is the seeded item of $key,
# else what is wrong with it.
sub check_item {
    my ($item, $key) = @_;
    return "$key: undef" unless ref $item eq 'HASH';
    return undef if ($item->{user_id} // '') eq $key && ($item->{v} // '') eq "v-$key";    ## no critic (ProhibitExplicitReturnUndef)
    return "$key: user_id " . ($item->{user_id} // 'undef') . ', v ' . ($item->{v} // 'undef');
}

# time_until($limit, \&cond): polls until cond is true; returns the seconds
# it took, or undef after $limit seconds.
sub time_until {
    my ($limit, $cond) = @_;
    my $t0 = time;
    while (1) {
        return time - $t0 if $cond->();
        return undef if time - $t0 > $limit;    ## no critic (ProhibitExplicitReturnUndef)
        sleep $POLL;
    }
}

# figure($text): the scenario's line of figures, "# fault $text", shown by
# prove without -v.
sub figure {
    my ($text) = @_;
    Test::More::diag("fault $text");
    return;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Faults - data, checks and figures shared by the fault tests

=head1 SYNOPSIS

    use DDBCache::TestEnv::Faults qw(seed_items check_item time_until figure);

    my @keys = seed_items($env, 'cold', 20);          # cold1 .. cold20, v => "v-cold1" ...
    my $wrong = check_item($client->get(profile => 'cold1'), 'cold1');   # undef: right
    my $took = time_until(1.5, sub { !$env->stats->{redis_connected} });  # seconds, or undef
    figure('redis-kill-4s local_cache=on: 0 failed / 1234 calls, 0 wrong');

=head1 DESCRIPTION

Functions, exported on request.

=over

=item seed_items($env, $prefix, $count [, $table])

Writes C<$count> items C<< { user_id => "$prefix$i", v => "v-$prefix$i" } >>
straight to DynamoDB (table C<users> unless told), so that nothing about
them is cached; returns their keys.

=item check_item($item, $key)

C<undef> when C<$item> is the item C<seed_items> wrote for C<$key>, else a
description of what was read.

=item time_until($limit, \&cond)

Calls C<cond> every 10 ms until it returns true; returns how many seconds
that took, or C<undef> after C<$limit> seconds.

=item figure($text)

Prints C<# fault $text> as a diagnostic, so that C<prove> shows each
scenario's figures without C<-v>.

=back

=head1 SEE ALSO

L<DDBCache::TestEnv>, L<DDBCache::TestEnv::Workers>.

=cut
