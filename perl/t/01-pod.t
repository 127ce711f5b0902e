#!/usr/bin/perl
# The POD of every module has no errors and the sections users look for.
use strict;
use warnings;

use File::Spec;
use FindBin;
use Pod::Checker;
use Test::More;

my @modules = map { File::Spec->catfile($FindBin::Bin, File::Spec->updir, 'lib', @$_) }
    ['DDBCache', 'Client.pm'], ['Plack', 'Middleware', 'DDBCache.pm'];

for my $file (@modules) {
    my $checker = Pod::Checker->new(-warnings => 2);
    open my $out, '>', File::Spec->devnull or die "devnull: $!";
    $checker->parse_from_file($file, $out);
    is($checker->num_errors, 0, "$file: no POD errors");
    is($checker->num_warnings, 0, "$file: no POD warnings");
    open my $fh, '<', $file or die "$file: $!";
    my $text = do { local $/; <$fh> };
    for my $section ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'METHODS', 'ERRORS', 'SEE ALSO') {
        like($text, qr/^=head1 \Q$section\E$/m, "$file: =head1 $section");
    }
    like($text, qr/^__END__\n\n=/m, "$file: the POD follows __END__");
}

# Every public method of the client is documented as an =item.
require DDBCache::Client;
my $pod = do { open my $fh, '<', $modules[0] or die; local $/; <$fh> };
# (Imported functions are not methods.)
my %skip = map { $_ => 1 } qw(croak blessed looks_like_number pack_sockaddr_un);
my @methods = grep { /\A[a-z]/ && !$skip{$_} && DDBCache::Client->can($_) } keys %DDBCache::Client::;
for my $m (sort @methods) {
    like($pod, qr/^=item (?:.*\b)?\Q$m\E\b/m, "DDBCache::Client::$m is documented");
}

done_testing;
