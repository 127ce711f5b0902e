package DDBCache::TestEnv::Files;

# The files a test environment keeps: its temporary directory (short enough
# for a Unix socket path), the configuration it writes and the logs it
# reads back. Apart from DDBCache::TestEnv so that the other helpers can
# read and write files without depending on the whole environment.

use strict;
use warnings;

use Exporter qw(import);
use File::Path qw(remove_tree);
use File::Temp ();

our $VERSION   = '0.01';
our @EXPORT_OK = qw(tempdir write_file slurp tail);

# sun_path is 108 bytes on Linux, 104 on BSDs.
my $MAX_SOCKET_PATH = 100;
# How many lines of a log tail shows by default.
my $TAIL_LINES = 40;

sub tempdir {
    my $dir = File::Temp::tempdir('ddbcache-t-XXXXXX', TMPDIR => 1, CLEANUP => 0);
    if (length($dir) + length('/ddbcache.sock') > $MAX_SOCKET_PATH) {
        remove_tree($dir);
        $dir = File::Temp::tempdir('ddbcache-t-XXXXXX', DIR => '/tmp', CLEANUP => 0);
    }
    return $dir;
}

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "DDBCache::TestEnv: write $path: $!\n";
    print {$fh} $text or die "DDBCache::TestEnv: write $path: $!\n";
    close $fh or die "DDBCache::TestEnv: write $path: $!\n";
    return;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text // '';
}

sub tail {
    my ($path, $lines) = @_;
    my @l = split /\n/, slurp($path);
    @l = @l[-($lines || $TAIL_LINES) .. -1] if @l > ($lines || $TAIL_LINES);
    return join('', map { "    $_\n" } @l) || "    (empty)\n";
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Files - the temporary directory, and writing and reading files, for the test helpers

=head1 SYNOPSIS

    use DDBCache::TestEnv::Files qw(tempdir write_file slurp tail);

    my $dir = tempdir();
    write_file("$dir/ddbcache.yaml", $yaml);
    print tail("$dir/ddbcache.log");

=head1 DESCRIPTION

Functions, exported on request. L<DDBCache::TestEnv> imports C<write_file>
and C<slurp>, so C<DDBCache::TestEnv::write_file> and
C<DDBCache::TestEnv::slurp> are these.

=head1 FUNCTIONS

=over

=item tempdir

Creates a directory named F<ddbcache-t-XXXXXX> in the system's temporary
directory, or in F</tmp> when that one's path would make a socket path in it
too long for C<sun_path>; returns its path. It is not removed automatically.

=item write_file($path, $text)

Writes C<$text> to C<$path>, replacing the file; dies with the path and
C<$!> on an error.

=item slurp($path)

The file's contents, or C<''> when it cannot be read.

=item tail($path, [$lines])

The last C<$lines> lines (default 40) of a file, each indented by four
spaces, for a diagnostic; C<"    (empty)\n"> for an empty or unreadable file.

=back

=head1 SEE ALSO

L<DDBCache::TestEnv>.

=cut
