#!/usr/bin/perl
# One daemon, four fronts: the same GET through nginx, Apache,
# Plack::App::FCGIDispatcher and the RESP socket returns byte-identical
# JSON; curl through the shipped nginx config; the fronts share counters.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Web;
use DDBCache::TestEnv::Web::Suite qw(resp_get seed);

my $web = DDBCache::TestEnv::Web->new;
my $env = DDBCache::TestEnv->new(config => $web->daemon_config);
$web->attach($env);
my %base = (nginx => $web->start_nginx, apache => $web->start_apache, plack => $web->start_plack);

# A number longer than a double and UTF-8 text: nothing may re-encode them.
$env->put_item(users => {
    user_id => { S => 'same' },
    name    => { S => 'Zoë 東京 "quoted" \\ slash' },
    balance => { N => '123456789012345678901234' },
    tags    => { L => [{ S => 'a' }, { N => '1.50' }] },
});

subtest 'the same GET, byte-identical through every front' => sub {
    my $resp = resp_get($env, 'same');
    ok(defined $resp, 'DDB GET on the socket');
    like($resp, qr/"balance":123456789012345678901234[,}]/, 'the long number as DynamoDB holds it');
    for my $front (sort keys %base) {
        my $res = $web->request(GET => "$base{$front}/api/profile/same");
        is($res->{status}, 200, "$front: status 200");
        is($res->{content}, $resp, "$front: the bytes of DDB GET");
    }
};

subtest 'curl through the shipped nginx config' => sub {
    my ($curl) = grep { -x } map { File::Spec->catfile($_, 'curl') } File::Spec->path;
    $curl or die "curl not found; install it with: apt-get install -y curl (or run make deps)\n";
    my $host = $web->site_host;
    my $out = qx{$curl -sS -i -H "Host: $host" "$base{nginx}/api/profile/same"};
    is($? >> 8, 0, 'curl exits 0');
    like($out, qr{\AHTTP/1\.1 200 OK\r\n}, '200 OK');
    like($out, qr{\r\nETag: "[0-9a-f]{32}"\r\n}i, 'an ETag');
    like($out, qr{\r\nX-Cache: hit\r\n}i, 'X-Cache: hit');
    my ($body) = $out =~ /\r\n\r\n(.*)\z/s;
    is($body, resp_get($env, 'same'), 'the body');
};

subtest 'the shipped configs let writes from this host through' => sub {
    for my $front (qw(nginx apache)) {
        my $res = $web->request(PUT => "$base{$front}/api/profile/w", '{"user_id":"w"}');
        is($res->{status}, 204, "$front: PUT from 127.0.0.1 passes");
    }
};

subtest 'every front counts in the one engine' => sub {
    my $before = $env->stats('profile');
    seed($env, 'counted', 'Cy');
    my $n = 0;
    for my $front (sort keys %base) {
        $web->request(GET => "$base{$front}/api/profile/counted");
        $n++;
    }
    resp_get($env, 'counted');
    $n++;
    my $after = $env->stats('profile');
    my $lookups = sub { my $s = shift; return $s->{hits_local} + $s->{hits_redis} + $s->{misses} };
    is($lookups->($after) - $lookups->($before), $n, "$n lookups, one engine");
    is($after->{misses} - $before->{misses}, 1, 'one miss: the others were hits');
};

done_testing;
