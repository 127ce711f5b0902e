#!/usr/bin/perl
# deploy/systemd/ddbcache.service: `systemd-analyze security` rates its
# exposure at most 2.0 (no systemd needs to run: --offline=true), and its
# ExecStart runs `ddbcache … serve`.
use strict;
use warnings;

use FindBin;
use Test::More;

my $unit = "$FindBin::Bin/../deploy/systemd/ddbcache.service";
my $max_exposure = 2.0;

my ($analyze) = grep { -x } map { "$_/systemd-analyze" } split /:/, "$ENV{PATH}:/usr/bin:/bin";
if (!$analyze) {
    BAIL_OUT('systemd-analyze not found: install it with `apt-get install systemd` (or run `make deps`)');
}

my $out = qx{"$analyze" security --offline=true --no-pager "$unit" 2>&1};
my ($exposure) = $out =~ /Overall exposure level for \S+: ([0-9.]+)/;
ok(defined $exposure, 'systemd-analyze security rates the unit') or diag($out);
cmp_ok($exposure // 99, '<=', $max_exposure, "exposure $max_exposure or less")
    or diag($out);

open my $fh, '<', $unit or die "$unit: $!";
my $text = do { local $/ = undef; <$fh> };
close $fh or die "$unit: $!";
like($text, qr{^ExecStart=\S+/ddbcache\b.*\bserve\b}m, 'ExecStart runs ddbcache serve');

done_testing;
