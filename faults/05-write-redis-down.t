#!/usr/bin/perl
# Fault: a write while Redis is down. redis-server is killed; once the
# daemon knows (redis_connected false), a DDB PUT and a DDB DEL through the
# client must be refused before DynamoDB is touched: the daemon could not
# drop the cached copies, so the write would leave them stale.
# Target: both refused with an error; the item in dynalite unchanged.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/../perl/lib";

use Test::More;
use DDBCache::Client;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Faults qw(seed_items check_item time_until figure);

my $env = DDBCache::TestEnv->new;
my ($key) = seed_items($env, 'wd', 1);
my $c = $env->client(local_cache => 0, timeout => 6);
ok(!defined check_item($c->get(profile => $key), $key), 'the item is cached');

$env->stop_redis(signal => 'KILL');
my $down = time_until(3, sub { !$env->stats->{redis_connected} });
ok(defined $down, 'redis_connected false within 3 s') or diag 'going on: the daemon may not know yet';

# dynamo_state: the item in dynalite, described.
sub dynamo_state {
    my $item = $env->get_item(users => { user_id => { S => $key } });
    return 'deleted' unless $item;
    return ($item->{v}{S} // '') eq "v-$key" ? 'untouched' : "CHANGED to v '$item->{v}{S}'";
}

my (%refused, %dynamo);
for my $case (
    [put    => sub { $c->put(profile => { user_id => $key, v => 'written while Redis was down' }) }],
    [delete => sub { $c->delete(profile => $key) }],
) {
    my ($name, $code) = @$case;
    my $ok = eval { $code->(); 1 };
    my $err = $@;
    ok(!$ok, "$name is refused") and like($err, qr/\ADDBCache::Client: DDB (?:PUT|DEL): ERR /, "$name: an error reply");
    ($refused{$name} = $ok ? 'accepted' : "refused ($err)") =~ s/ at \S+ line \d+\.\n\)\z/)/;
    $dynamo{$name} = dynamo_state();
    is($dynamo{$name}, 'untouched', "$name: DynamoDB untouched");
    $env->put_item(users => { user_id => { S => $key }, v => { S => "v-$key" } });    # as it was, for the next case
}
figure(sprintf 'write-redis-down: put %s, DynamoDB %s; delete %s, DynamoDB %s; redis_connected false after %s',
    $refused{put}, $dynamo{put}, $refused{delete}, $dynamo{delete},
    defined $down ? sprintf('%.2f s', $down) : 'never (3 s)');
$env->start_redis;

done_testing;
