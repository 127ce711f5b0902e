#!/usr/bin/perl
# The HTTP API through nginx (deploy/nginx/ddbcache.conf)
# in front of the real daemon's FastCGI socket, redis-server and dynalite.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use DDBCache::TestEnv;
use DDBCache::TestEnv::Web;
use DDBCache::TestEnv::Conformance qw(env_args seed_table);
use DDBCache::TestEnv::Web::Suite qw(run_suite);

my $web = DDBCache::TestEnv::Web->new;
# A fresh daemon set up for the conformance table (its cases carry state).
my $env = DDBCache::TestEnv->new(env_args(%{ $web->daemon_config }));
seed_table($env);
$web->attach($env);

run_suite($web, $env, $web->start_nginx, 'nginx', keeps_conns => 1);

done_testing;
