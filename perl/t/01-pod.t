#!/usr/bin/perl
# The POD of every module has no errors and the sections users look for,
# and documents every public sub of the module as an =item.
use strict;
use warnings;

use B ();
use File::Find qw(find);
use File::Spec;
use FindBin;
use Pod::Checker;
use Test::More;

my $lib = File::Spec->catdir($FindBin::Bin, File::Spec->updir, 'lib');
my @modules;
find({ no_chdir => 1, wanted => sub { push @modules, $File::Find::name if /\.pm\z/ } }, $lib);
@modules = sort @modules;
cmp_ok(scalar @modules, '>=', 5, 'the modules are found') or diag "@modules";

# The modules that applications call carry the ERRORS section; the parts of
# the client, which only it calls, say whose errors theirs are.
my %api = map { $_ => 1 } qw(DDBCache::Client Plack::Middleware::DDBCache);

for my $file (@modules) {
    (my $package = File::Spec->abs2rel($file, $lib)) =~ s{\.pm\z}{};
    $package = join '::', File::Spec->splitdir($package);
    my $checker = Pod::Checker->new(-warnings => 2);
    open my $out, '>', File::Spec->devnull or die "devnull: $!";
    $checker->parse_from_file($file, $out);
    close $out;
    is($checker->num_errors, 0, "$package: no POD errors");
    is($checker->num_warnings, 0, "$package: no POD warnings");
    open my $fh, '<', $file or die "$file: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    my @sections = ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'SEE ALSO', $api{$package} ? 'ERRORS' : ());
    like($text, qr/^=head1 \Q$_\E$/m, "$package: =head1 $_") for @sections;
    like($text, qr/^=head1 (?:METHODS|FUNCTIONS)$/m, "$package: =head1 METHODS or FUNCTIONS");
    like($text, qr/^__END__\n\n=/m, "$package: the POD follows __END__");

    # Every public sub defined in the package (not imported, not a
    # constant, not the middleware's Plack hooks) is an =item.
    require $file;
    no strict 'refs';    ## no critic (ProhibitNoStrict)
    my $stash = \%{"${package}::"};
    for my $name (sort keys %$stash) {
        next unless $name =~ /\A[a-z]/;
        my $code = $package->can($name) or next;
        next unless B::svref_2object($code)->GV->STASH->NAME eq $package;
        next if $package eq 'Plack::Middleware::DDBCache' && ($name eq 'call' || $name eq 'prepare_app');    # Plack's hooks
        like($text, qr/^=item (?:.*\b)?\Q$name\E\b/m, "${package}::$name is documented");
    }
}

done_testing;
