#!/usr/bin/perl
# CHI::Driver::DDBCache without a daemon: it loads when CHI is installed (and
# fails naming CHI when it is not), checks its arguments in CHI->new, and
# croaks for what a read-through cache of a table cannot do. The
# repository's t/20-chi.t runs it against the daemon.
use strict;
use warnings;

use File::Spec;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;

if (!eval { require CHI; 1 }) {
    # CHI is optional: the driver must then fail to load, naming it.
    my $ok = eval { require CHI::Driver::DDBCache; 1 };
    ok(!$ok, 'without CHI the driver does not load');
    like($@, qr{CHI/}, '... and says that CHI is missing');
    done_testing;
    exit;
}

use_ok('CHI::Driver::DDBCache');
my $dir = tempdir(CLEANUP => 1);

my $cache = CHI->new(driver => 'DDBCache', namespace => 'profile', socket => "$dir/none.sock", reconnect => 0);
isa_ok($cache, 'CHI::Driver::DDBCache');
is($cache->client->socket_path, "$dir/none.sock", 'the socket goes to the client');
is($cache->on_set, 'put', 'on_set defaults to put');
is($cache->on_remove, 'invalidate', 'on_remove defaults to invalidate');
is($cache->on_get_error, 'die', 'errors die, not misses');

my @bad = (
    [[],                                     qr/namespace is required/],
    [[namespace => 'profile', bogus => 1],   qr/unknown argument 'bogus'/],
    [[namespace => 'profile', on_set => 1],  qr/on_set must be one of put, invalidate, die/],
    [[namespace => 'profile', mirror_cache => { driver => 'Memory', datastore => {} }], qr/mirror_cache is not supported/],
);
for my $case (@bad) {
    my ($args, $want) = @$case;
    my $ok = eval { CHI->new(driver => 'DDBCache', @$args); 1 };
    ok(!$ok, "CHI->new(@$args) croaks");
    like($@, qr/\ACHI::Driver::DDBCache: $want/, '... saying why');
}

for my $method (qw(clear get_keys get_namespaces purge dump_as_hash is_empty)) {
    my $ok = eval { $cache->$method; 1 };
    like($@, qr/\ACHI::Driver::DDBCache: $method is not supported/, "$method croaks");
}
my $ok = eval { $cache->get(1); 1 };
like($@, qr/error during cache get .*cannot connect to \Q$dir\E\/none\.sock/, 'get without a daemon dies');

my $expiring = CHI->new(driver => 'DDBCache', namespace => 'profile', socket => "$dir/none.sock", expires_in => '1 min');
isa_ok($expiring, 'CHI::Driver::DDBCache', "CHI's expires_in is accepted (and ignored: ddbcache owns expiry)");

# The POD of the driver and of the encoding manual: no errors, and the
# sections users look for.
require Pod::Checker;
my %sections = (
    'CHI/Driver/DDBCache.pm'  => [qw(NAME SYNOPSIS DESCRIPTION METHODS ERRORS), 'SEE ALSO', 'LICENSE'],
    'DDBCache/Manual/Encoding.pod' => [qw(NAME SYNOPSIS DESCRIPTION), 'SEE ALSO', 'LICENSE'],
);
for my $file (sort keys %sections) {
    my $path = "$FindBin::Bin/../lib/$file";
    my $checker = Pod::Checker->new(-warnings => 2);
    open my $out, '>', File::Spec->devnull or die "devnull: $!";
    $checker->parse_from_file($path, $out);
    is($checker->num_errors, 0, "$file: no POD errors");
    is($checker->num_warnings, 0, "$file: no POD warnings");
    open my $fh, '<', $path or die "$path: $!";
    my $text = do { local $/; <$fh> };
    like($text, qr/^=head1 \Q$_\E$/m, "$file: =head1 $_") for @{ $sections{$file} };
}

done_testing;
