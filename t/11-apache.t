#!/usr/bin/perl
# The HTTP API through Apache mod_proxy_fcgi (deploy/apache/ddbcache.conf)
# in front of the real daemon's FastCGI socket, redis-server (or a
# Redis Cluster) and dynalite.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Web;
use DDBCache::TestEnv::Conformance qw(env_args seed_table);
use DDBCache::TestEnv::Web::Suite qw(run_suite);

# On one Redis and on a Redis Cluster of 3 masters and 3 replicas: the web
# suite's table is the same on both.
for my $topology (qw(standalone cluster)) {
    subtest $topology => sub {
        my $web = DDBCache::TestEnv::Web->new;
        # A fresh daemon set up for the conformance table (its cases carry state).
        my $env = DDBCache::TestEnv->new(redis_cluster => $topology eq 'cluster', env_args(%{ $web->daemon_config }));
        seed_table($env);
        $web->attach($env);
        run_suite($web, $env, $web->start_apache, "apache on $topology Redis");
        $web->stop;
        $env->stop;
    };
}

done_testing;
