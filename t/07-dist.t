#!/usr/bin/perl
# The Perl distribution in perl/ as a user gets it: perl Makefile.PL, make,
# make test in a copy (and MANIFEST lists what is there), perlcritic at its
# default severity on perl/, perl/bench/lookup.pl on a short run, and the
# example perl/examples/profile.pl against a daemon with seeded profiles.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use File::Temp qw(tempdir);
use Test::More;

my $perl_dir = File::Spec->rel2abs("$FindBin::Bin/../perl");

# run($dir, @command): (exit code, output) of a command run in $dir.
sub run {
    my ($dir, @command) = @_;
    my $pid = open(my $out, '-|') // die "fork: $!";
    if ($pid == 0) {
        chdir $dir or die "chdir $dir: $!\n";
        open STDERR, '>&', \*STDOUT or die "dup: $!\n";
        exec { $command[0] } @command or die "exec $command[0]: $!\n";
    }
    my $text = do { local $/; <$out> } // '';
    close $out;
    return ($? >> 8, $text);
}

subtest 'perl Makefile.PL && make && make test' => sub {
    my $tmp = tempdir(CLEANUP => 1);
    my ($rc, $out) = run($tmp, 'cp', '-R', $perl_dir, "$tmp/dist");
    is($rc, 0, 'copied perl/') or diag $out;
    my $dist = "$tmp/dist";
    # A copy of a work tree may hold an earlier build.
    ($rc, $out) = run($dist, 'rm', '-rf', qw(Makefile Makefile.old MYMETA.json MYMETA.yml blib pm_to_blib));
    ($rc, $out) = run($dist, $^X, 'Makefile.PL');
    is($rc, 0, 'perl Makefile.PL') or diag $out;
    unlike($out, qr/missing in your kit/, 'every file in MANIFEST exists') or diag $out;
    ($rc, $out) = run($dist, 'make');
    is($rc, 0, 'make') or diag $out;
    ($rc, $out) = run($dist, 'make', 'test');
    is($rc, 0, 'make test') or diag $out;
    like($out, qr/^Result: PASS$/m, '... passes');
    ($rc, $out) = run($dist, 'make', 'distcheck');
    unlike($out, qr/^Not in MANIFEST: /m, 'every file is in MANIFEST') or diag $out;
};

subtest 'perlcritic perl/' => sub {
    eval { require Perl::Critic; 1 }
        or die "Perl::Critic is missing; install it with: apt-get install -y libperl-critic-perl (or run make deps)\n";
    my $critic = Perl::Critic->new;
    my @files = sort map { "$perl_dir/$_" } qw(Makefile.PL lib/DDBCache/Client.pm lib/DDBCache/Client/Connection.pm
        lib/DDBCache/Client/LocalCache.pm lib/DDBCache/RESP.pm lib/Plack/Middleware/DDBCache.pm bench/lookup.pl examples/profile.pl t/00-load.t t/01-pod.t);
    for my $file (@files) {
        my @violations = $critic->critique($file);
        is(scalar @violations, 0, "$file: no violations at the default severity") or diag "@violations";
    }
};

subtest 'perl/bench/lookup.pl runs' => sub {
    my ($rc, $out) = run($perl_dir, $^X, 'bench/lookup.pl', qw(--lookups 300 --rounds 3 --keys 5));
    is($rc, 0, 'exits 0') or diag $out;
    like($out, qr/^\(a\) DDBCache::Client .* [0-9 ]+ +[0-9.]+ +[0-9.]+$/m, 'a row for (a)') or diag $out;
    like($out, qr/^\(b\) Redis::Fast /m, 'a row for (b)');
    like($out, qr/^\(c\) Redis\.pm /m, 'a row for (c)');
    like($out, qr/^\(a\)\/\(b\) = [0-9.]+x/m, 'the ratio');
    like($out, qr/^\(a0\) DDBCache::Client \(local_cache=>0\) .* [0-9 ]+ +[0-9.]+ +[0-9.]+$/m, 'a row for (a0)');
    like($out, qr/the daemon served \(a0\) and \(d\) with 600 hits from its memory, 0 from Redis/,
        'all hot-key lookups that reached the daemon were hits in its memory');
    like($out, qr/^# \(a\)'s local cache served 300 hits, 0 misses/m, '(a) was served by its local cache');
    ($rc, $out) = run($perl_dir, $^X, 'bench/lookup.pl', '--help');
    like($out, qr/\Ausage: /, '--help');
    like($out, qr/--zipf /, '--help names --zipf');

    # --zipf: the default client against local_cache => 0, per exponent.
    ($rc, $out) = run($perl_dir, $^X, 'bench/lookup.pl', qw(--zipf --zipf-keys 300 --zipf-s 0,1.2 --lookups 2000 --rounds 4));
    is($rc, 0, '--zipf exits 0') or diag $out;
    for my $s ('0', '1.2') {
        like($out, qr/^\Q$s\E +default \(local cache\) +[0-9 ]+ +[0-9.]+ +[0-9.]+x +[0-9.]+%$/m, "--zipf: a row for the default client at s=$s")
            or diag $out;
        like($out, qr/^\Q$s\E +local_cache => 0 +[0-9 ]+ +[0-9.]+/m, "--zipf: a row for local_cache => 0 at s=$s");
    }
    like($out, qr/^#      local cache: [0-9]+ hits, [0-9]+ misses, [0-9]+ bypassed/m, '--zipf: the local cache counters');
    ($rc, $out) = run($perl_dir, $^X, 'bench/lookup.pl', qw(--zipf --zipf-s -1));
    isnt($rc, 0, '--zipf-s -1 fails');
    like($out, qr/--zipf-s: '-1' is not a number >= 0/, '... saying why');
};

subtest 'perl/examples/profile.pl runs against the daemon' => sub {
    require DDBCache::TestEnv;
    my $env = DDBCache::TestEnv->new;
    for my $id (2, 3, 4) {
        $env->put_item(users => { user_id => { S => "$id" }, name => { S => "User $id" },
            email => { S => "user$id\@example.com" }, plan => { S => 'free' } });
    }
    my ($rc, $out) = run($perl_dir, $^X, '-Ilib', 'examples/profile.pl', '--socket', $env->socket_path);
    is($rc, 0, 'exits 0') or diag $out;
    like($out, qr/^  User 2 <user2\@example\.com>, plan free$/m, 'the profile it looked up');
    like($out, qr/^get\(profile => 2\) again +[0-9]+ µs  from this process's local cache$/m,
        'a repeated lookup served by the local cache');
    like($out, qr/^  2 found: User 3, User 4 \(999 does not exist\)$/m, 'mget');
    like($out, qr/^  now: Zoë [0-9]+$/m, 'the value it wrote, read back at once');
    like($out, qr/^redis\(GET => 'user_profile:2'\) +\{.*"name":"Zoë [0-9]+"/m, 'the legacy Redis key after the write');
};

done_testing;
