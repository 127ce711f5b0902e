package DDBCache::TestEnv::Programs;

# Where the programs a test environment runs are found, and their command
# lines: redis-server, dynalite under node, and the ddbcache daemon (built
# when missing). Apart from DDBCache::TestEnv so that the rule "a missing
# program fails with the command that installs it, never skips" is kept in
# one place.

use strict;
use warnings;

use Cwd qw(getcwd);
use Exporter qw(import);
use File::Spec;

our $VERSION   = '0.01';
our @EXPORT_OK = qw(which_program redis_command dynalite_command daemon_program);

sub which_program {
    my ($prog, @more) = @_;
    for my $dir (File::Spec->path, @more) {
        my $path = File::Spec->catfile($dir, $prog);
        return $path if -f $path && -x _;
    }
    return;
}

sub redis_command {
    my (%args) = @_;
    my $bin = which_program('redis-server')
        or die "DDBCache::TestEnv: redis-server not found; install it with: apt-get install -y redis-server (or run make deps)\n";
    return [
        $bin, '--port', $args{port}, '--bind', '127.0.0.1', '--save', '',
        '--appendonly', $args{aof} ? 'yes' : 'no', '--daemonize', 'no', '--logfile', '', '--dir', $args{dir},
    ];
}

sub dynalite_command {
    my (%args) = @_;
    my $cli = $ENV{DDBCACHE_DYNALITE} || File::Spec->catfile($args{root}, qw(.deps node_modules dynalite cli.js));
    die "DDBCache::TestEnv: dynalite not found at $cli; install it with: "
        . "npm install --prefix .deps dynalite\@4.0.0 (or run make deps)\n" unless -f $cli;
    my $node = which_program('node')
        or die "DDBCache::TestEnv: node not found; install it with: apt-get install -y nodejs (or run make deps)\n";
    return [
        $node, $cli, '--port', $args{port}, '--host', '127.0.0.1',
        '--createTableMs', 0, '--deleteTableMs', 0, '--updateTableMs', 0,
    ];
}

sub daemon_program {
    my (%args) = @_;
    my $root = $args{root};
    if (my $bin = $ENV{DDBCACHE_BIN}) {
        die "DDBCache::TestEnv: DDBCACHE_BIN=$bin is not an executable file\n" unless -f $bin && -x _;
        return $bin;
    }
    my $bin = File::Spec->catfile($root, 'bin', 'ddbcache');
    return $bin if -f $bin && -x _;
    my $go = which_program('go') || (-x '/usr/local/go/bin/go' ? '/usr/local/go/bin/go' : undef)
        or die "DDBCache::TestEnv: $bin is missing and go is not installed to build it\n";
    my $cwd = getcwd;
    chdir $root or die "DDBCache::TestEnv: chdir $root: $!\n";
    my $rc = system { $go } $go, 'build', '-o', $bin, './cmd/ddbcache';
    chdir $cwd or die "DDBCache::TestEnv: chdir $cwd: $!\n";
    die "DDBCache::TestEnv: go build -o bin/ddbcache ./cmd/ddbcache failed\n" if $rc != 0;
    return $bin;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Programs - find redis-server, dynalite and the ddbcache daemon for the tests

=head1 SYNOPSIS

    use DDBCache::TestEnv::Programs qw(which_program redis_command dynalite_command daemon_program);

    my $redis    = redis_command(port => $port, dir => $tmpdir);
    my $dynalite = dynalite_command(root => $repo, port => $port);
    my $daemon   = [daemon_program(root => $repo), '--config', $config, 'serve'];

=head1 DESCRIPTION

Functions, exported on request. A missing program is an error, never a
skip: the message says how to install it. L<DDBCache::TestEnv> imports
C<which_program>, so C<DDBCache::TestEnv::which_program> is this one.

=head1 FUNCTIONS

=over

=item which_program($name, @extra_dirs)

The path of an executable file C<$name> in C<PATH> or in C<@extra_dirs>,
or undef.

=item redis_command(port => $port, dir => $dir, [aof => 1])

The command line of a private redis-server on 127.0.0.1:C<$port>, in the
foreground, without persistence (with C<aof>: with an append-only file in
C<$dir>, fsynced every second, which a redis-server started again with the
same C<$dir> loads), logging to standard output, with C<$dir> as its
working directory.

=item dynalite_command(root => $repo, port => $port)

The command line of dynalite under node on 127.0.0.1:C<$port>, with tables
created, deleted and updated at once (0 ms).

=item daemon_program(root => $repo)

The path of the daemon binary: C<DDBCACHE_BIN>, or F<bin/ddbcache> in the
repository, built with C<go build -o bin/ddbcache ./cmd/ddbcache> when it
does not exist.

=back

=head1 ENVIRONMENT

=over

=item DDBCACHE_BIN

The daemon binary, instead of F<bin/ddbcache>.

=item DDBCACHE_DYNALITE

dynalite's F<cli.js>, instead of F<.deps/node_modules/dynalite/cli.js>.

=back

=head1 ERRORS

Each function but C<which_program> dies, with the command that installs
the missing piece, when redis-server, node, dynalite or go is not found,
when C<DDBCACHE_BIN> is not an executable file, or when the build fails.

=head1 SEE ALSO

L<DDBCache::TestEnv>, F<scripts/deps.sh> (C<make deps>).

=cut
