#!/usr/bin/perl
# The Perl distribution in perl/ as a user gets it: perl Makefile.PL, make,
# make test in a copy (and MANIFEST lists what is there), cpanm installing
# every module (each then loaded from the install path), the Kwalitee and
# Changes of the make dist tarball, perlcritic on perl/ (severity 4 on
# perl/lib), perl/bench/lookup.pl on a short run, and the example
# perl/examples/profile.pl against a daemon with seeded profiles.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Find qw(find);
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use DDBCache::TestEnv::Programs qw(which_program);

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

# fresh_copy(): a copy of perl/ in a new temporary directory, without the
# output of an earlier build that a work tree may hold; builds (and cpanm,
# which builds in the directory it is given) then leave perl/ alone.
sub fresh_copy {
    my $tmp = tempdir(CLEANUP => 1);
    my ($rc, $out) = run($tmp, 'cp', '-R', $perl_dir, "$tmp/dist");
    is($rc, 0, 'copied perl/') or diag $out;
    run("$tmp/dist", 'rm', '-rf', qw(Makefile Makefile.old MYMETA.json MYMETA.yml blib pm_to_blib), glob("$tmp/dist/DDBCache-Client-*"));
    return ($tmp, "$tmp/dist");
}

# The modules and POD files of the distribution, as MANIFEST lists them:
# paths under lib/.
my @lib_files = do {
    open my $fh, '<', "$perl_dir/MANIFEST" or die "$perl_dir/MANIFEST: $!";
    map { m{\Alib/(\S+\.p(?:m|od))\s*\z} ? $1 : () } <$fh>;
};

subtest 'perl Makefile.PL && make && make test' => sub {
    my ($tmp, $dist) = fresh_copy();
    my ($rc, $out) = run($dist, $^X, 'Makefile.PL');
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

subtest 'cpanm installs every module' => sub {
    my $cpanm = which_program('cpanm')
        or die "cpanm is missing; install it with: apt-get install -y cpanminus (or run make deps)\n";
    ok(scalar @lib_files >= 4, 'MANIFEST lists the modules: ' . join(' ', @lib_files));
    my ($tmp, $dist) = fresh_copy();
    # Its own home (build logs, work directories), and no PERL5LIB: the
    # install must stand on its own.
    local $ENV{PERL_CPANM_HOME} = "$tmp/cpanm-home";
    local $ENV{PERL5LIB};
    my ($rc, $out) = run($tmp, $cpanm, '-L', "$tmp/local", $dist);
    is($rc, 0, "cpanm -L $tmp/local <copy of perl/>") or diag $out;
    like($out, qr/^Successfully installed DDBCache-Client-/m, '... installed the distribution') or diag $out;
    my $inst = "$tmp/local/lib/perl5";
    for my $file (@lib_files) {
        ok(-f "$inst/$file", "$file installed");
        next unless $file =~ /\.pm\z/;
        (my $module = $file) =~ s{/}{::}g;
        $module =~ s/\.pm\z//;
        # From the install path only, in a perl that has never seen perl/lib.
        ($rc, $out) = run($tmp, $^X, "-I$inst", '-e', "require $module; print \$INC{'$file'}, ' ', $module->VERSION // 'none'");
        is($rc, 0, "$module loads") or diag $out;
        like($out, qr{\A\Q$inst/$file\E \d}, "... from the install path, with a version");
    }
};

subtest 'Kwalitee and Changes of the make dist tarball' => sub {
    my ($tmp, $dist) = fresh_copy();
    my ($rc, $out) = run($dist, $^X, 'Makefile.PL');
    is($rc, 0, 'perl Makefile.PL') or diag $out;
    ($rc, $out) = run($dist, 'make', 'dist');
    is($rc, 0, 'make dist') or diag $out;
    my ($tarball) = glob "$dist/DDBCache-Client-*.tar.gz";
    ok($tarball, 'a tarball') or return;
    ($rc, $out) = run($tmp, 'tar', 'xzf', $tarball);
    is($rc, 0, 'unpacks') or diag $out;
    (my $unpacked = $tarball) =~ s{\A.*/(DDBCache-Client-[^/]+)\.tar\.gz\z}{$tmp/$1};
    ok(-f "$unpacked/META.json" && -f "$unpacked/META.yml", 'the tarball has META.json and META.yml');
    # Test::Kwalitee's core metrics, as its author test runs them, in the
    # unpacked tarball (Test::Kwalitee analyses the current directory).
    ($rc, $out) = run($unpacked, 'prove', 'xt/release/kwalitee.t', 'xt/release/changes.t');
    is($rc, 0, 'prove xt/release: Kwalitee and Changes pass') or diag $out;
    like($out, qr/^Result: PASS$/m, '... PASS');

    # All of CPANTS's metrics, on the tarball itself (those Test::Kwalitee
    # leaves out because they need one, and the "extra" ones) but the
    # experimental.
    eval { require Module::CPANTS::Analyse; Module::CPANTS::Analyse->import; 1 }
        or die "Module::CPANTS::Analyse is missing; install it with: apt-get install -y libtest-kwalitee-perl (or run make deps)\n";
    my $analyser = Module::CPANTS::Analyse->new({ dist => $tarball, opts => { no_capture => 1 } });
    $analyser->run;
    my $kwalitee = $analyser->d->{kwalitee};
    for my $generator (@{ $analyser->mck->generators }) {
        for my $metric (grep { !$_->{is_experimental} } @{ $generator->kwalitee_indicators }) {
            ok($kwalitee->{ $metric->{name} }, "CPANTS $metric->{name}" . ($metric->{is_extra} ? ' (extra)' : ''))
                or diag "$metric->{error}\nRemedy: $metric->{remedy}";
        }
    }

    open my $fh, '<', "$unpacked/META.json" or die "META.json: $!";
    my $meta = JSON::PP->new->decode(do { local $/; <$fh> });
    is_deeply($meta->{license}, ['apache_2_0'], 'META: license apache_2_0');
    is($meta->{resources}{repository}{url}, 'https://github.com/ddbcache/ddbcache.git', 'META: the repository');
    ok($meta->{resources}{bugtracker}{web}, 'META: a bug tracker');
    is($meta->{prereqs}{runtime}{requires}{perl}, '5.010001', 'META: the minimum perl');
    ok($meta->{prereqs}{runtime}{recommends}{CHI}, 'META: CHI recommended, for CHI::Driver::DDBCache');
};

# The Perl files of perl/: every module and script the distribution has.
my @perl_files = do {
    my @found;
    find({ no_chdir => 1, wanted => sub { push @found, $_ if -f && /\.(?:pm|pl|t)\z/ } },
        map { "$perl_dir/$_" } grep { -d "$perl_dir/$_" } qw(lib bench examples t xt));
    sort @found, "$perl_dir/Makefile.PL";
};

subtest 'perlcritic perl/' => sub {
    eval { require Perl::Critic; 1 }
        or die "Perl::Critic is missing; install it with: apt-get install -y libperl-critic-perl (or run make deps)\n";
    my $critic = Perl::Critic->new;
    for my $file (@perl_files) {
        my @violations = $critic->critique($file);
        is(scalar @violations, 0, "$file: no violations at the default severity") or diag "@violations";
    }
    # Issue 14: severity 4 over all of perl/lib, with no exceptions.
    my $strict = Perl::Critic->new(-severity => 4);
    for my $file (grep { m{/lib/.+\.pm\z} } @perl_files) {
        my @violations = $strict->critique($file);
        is(scalar @violations, 0, "$file: no violations at severity 4") or diag "@violations";
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
