package DDBCache::TestEnv::Web;

use strict;
use warnings;

use Carp qw(croak);
use File::Copy qw(copy);
use File::Path qw(remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(_exit);

use DDBCache::TestEnv;
use DDBCache::TestEnv::Processes;

# The host name the shipped nginx and Apache configurations serve (their
# example): a real request names the site, not localhost.
my $SITE_HOST = 'www.example.com';

our $VERSION = '0.01';

# Every Web started by this process, stopped in END.
my @LIVE;

sub new {
    my ($class) = @_;
    my $dir = tempdir('ddbweb-XXXXXX', DIR => '/tmp', CLEANUP => 0);
    # Web servers' workers run as another user (nobody) when the test runs
    # as root: they must reach the FastCGI socket in here.
    chmod 0711, $dir or croak "chmod $dir: $!";
    my $self = bless {
        owner     => $$,
        dir       => $dir,
        procs     => DDBCache::TestEnv::Processes->new(dir => $dir),
        names     => [],    # of the servers started, in order
        gate_port => DDBCache::TestEnv::free_port(),
        http      => HTTP::Tiny->new(timeout => 20, keep_alive => 0),
    }, $class;
    push @LIVE, $self;
    return $self;
}

# ---- the daemon's side ---------------------------------------------------

sub fcgi_socket { return File::Spec->catfile($_[0]{dir}, 'fcgi.sock') }
sub dir         { return $_[0]{dir} }

# fcgi_conns counts the open connections to the FastCGI socket, from
# /proc/net/unix: a connection the daemon accepted is listed in state 03
# (connected) with the path the socket was bound to, which is not
# fcgi.sock: the daemon binds it in a private directory beside it (.sXXXX/s)
# and renames it into place (internal/sockfile).
sub fcgi_conns {
    my ($self) = @_;
    my $bound = qr{\A\Q$self->{dir}\E/\.s[^/]+/s\z};
    open my $fh, '<', '/proc/net/unix' or croak "fcgi_conns: /proc/net/unix: $!";
    my $n = 0;
    while (my $line = <$fh>) {
        my @f = split ' ', $line;
        $n++ if @f >= 8 && $f[5] eq '03' && $f[7] =~ $bound;
    }
    close $fh;
    return $n;
}

sub daemon_config {
    my ($self, %more) = @_;
    return DDBCache::TestEnv::merge_config({
        listen   => { fcgi => $self->fcgi_socket, fcgi_mode => '0666', api_prefix => '/api' },
        dynamodb => { endpoint => "http://127.0.0.1:$self->{gate_port}" },
        limits   => { timeout => '4s', load_timeout => '1s', max_value_bytes => 4096 },
    }, \%more);
}

sub attach {
    my ($self, $env) = @_;
    $self->{env} = $env;
    ($self->{dynamo_port}) = $env->dynamo_endpoint =~ /:(\d+)\z/ or croak 'attach: no port in ' . $env->dynamo_endpoint;
    $self->start_dynamo;
    return $self;
}

# The daemon reaches DynamoDB through a relay on gate_port, so that a test
# can take DynamoDB away from the daemon (connections refused) and give it
# back, while TestEnv keeps talking to dynalite directly.
sub start_dynamo {
    my ($self) = @_;
    return if $self->{gate_pid};
    my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $self->{gate_port}, Proto => 'tcp',
        Listen => 64, ReuseAddr => 1) or croak "DynamoDB relay: listen on $self->{gate_port}: $@";
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        local $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $c = $ls->accept or next;
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                close $ls;
                _relay($c, $self->{dynamo_port});
                _exit(0);
            }
            close $c;
        }
    }
    close $ls;
    $self->{gate_pid} = $pid;
    return;
}

sub stop_dynamo {
    my ($self) = @_;
    my $pid = delete $self->{gate_pid} or return;
    kill 'KILL', -$pid;    # the acceptor and its relays: a process group
    waitpid($pid, 0);
    return;
}

sub _relay {
    my ($client, $port) = @_;
    my $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or return;
    my $sel = IO::Select->new($client, $up);
    while (my @ready = $sel->can_read) {
        for my $from (@ready) {
            my $n = sysread($from, my $buf, 65536);
            return if !$n;
            my $to = $from == $client ? $up : $client;
            while (length $buf) {
                my $w = syswrite($to, $buf) or return;
                substr($buf, 0, $w) = '';
            }
        }
    }
    return;
}

# ---- web servers ---------------------------------------------------------

sub start_nginx {
    my ($self) = @_;
    my $bin = DDBCache::TestEnv::which_program('nginx')
        or die "DDBCache::TestEnv::Web: nginx not found; install it with: apt-get install -y nginx (or run make deps)\n";
    my $params = '/etc/nginx/fastcgi_params';
    -f $params or die "DDBCache::TestEnv::Web: $params missing; install it with: apt-get install -y nginx-common\n";
    my $dir  = $self->{dir};
    my $port = DDBCache::TestEnv::free_port();
    copy($params, "$dir/fastcgi_params") or croak "copy $params: $!";
    DDBCache::TestEnv::write_file("$dir/nginx-site.conf", $self->_rewrite('nginx/ddbcache.conf', qr/listen\s+80;/ => "listen 127.0.0.1:$port;"));
    DDBCache::TestEnv::write_file("$dir/nginx.conf", <<"EOF");
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log $dir/nginx-access.log;
    client_body_temp_path $dir/nginx-body;
    fastcgi_temp_path $dir/nginx-fastcgi;
    proxy_temp_path $dir/nginx-proxy;
    uwsgi_temp_path $dir/nginx-uwsgi;
    scgi_temp_path $dir/nginx-scgi;
    # The distribution's default site, as on a real host: a request for
    # another name than the shipped config's gets its 404.
    server { listen 127.0.0.1:$port default_server; server_name _; return 404; }
    include $dir/nginx-site.conf;
}
EOF
    $self->{host} = $SITE_HOST;
    $self->_spawn(nginx => [$bin, '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/nginx-error.log"]);
    return $self->_wait_http(nginx => "http://127.0.0.1:$port", "$dir/nginx-error.log");
}

sub start_apache {
    my ($self) = @_;
    my $bin = DDBCache::TestEnv::which_program('apache2', '/usr/sbin')
        or die "DDBCache::TestEnv::Web: apache2 not found; install it with: apt-get install -y apache2 (or run make deps)\n";
    my $mods = '/usr/lib/apache2/modules';
    my @mods = qw(mpm_event authz_core authz_host proxy proxy_fcgi);
    for my $m (@mods) {
        -f "$mods/mod_$m.so" or die "DDBCache::TestEnv::Web: $mods/mod_$m.so missing; install it with: apt-get install -y apache2\n";
    }
    my $dir  = $self->{dir};
    my $port = DDBCache::TestEnv::free_port();
    DDBCache::TestEnv::write_file("$dir/apache-site.conf",
        $self->_rewrite('apache/ddbcache.conf', qr/<VirtualHost \*:80>/ => "<VirtualHost 127.0.0.1:$port>"));
    my $load = join '', map { "LoadModule ${_}_module $mods/mod_$_.so\n" } @mods;
    # As root, Apache's children must run as some other user.
    my $user = $> == 0 ? "User nobody\nGroup nogroup\n" : '';
    DDBCache::TestEnv::write_file("$dir/apache.conf", <<"EOF");
ServerRoot $dir
ServerName localhost
Listen 127.0.0.1:$port
PidFile $dir/apache.pid
ErrorLog $dir/apache-error.log
LogLevel warn
DefaultRuntimeDir $dir
Mutex file:$dir default
$user$load
# The distribution's default site (the first virtual host of an address).
<VirtualHost 127.0.0.1:$port>
    ServerName default.invalid
    DocumentRoot $dir
</VirtualHost>
Include $dir/apache-site.conf
EOF
    $self->{host} = $SITE_HOST;
    $self->_spawn(apache => [$bin, '-f', "$dir/apache.conf", '-DFOREGROUND']);
    return $self->_wait_http(apache => "http://127.0.0.1:$port", "$dir/apache-error.log");
}

sub dispatcher_class {
    return 'Plack::App::FCGIDispatcher' if eval { require Plack::App::FCGIDispatcher; 1 };
    eval { require FCGI::Client; 1 }
        or die "DDBCache::TestEnv::Web: FCGI::Client not found; install it with: apt-get install -y libfcgi-client-perl (or run make deps)\n";
    require DDBCache::TestEnv::Web::FCGIDispatcher;
    return 'DDBCache::TestEnv::Web::FCGIDispatcher';
}

sub start_plack {
    my ($self) = @_;
    my $bin = DDBCache::TestEnv::which_program('plackup')
        or die "DDBCache::TestEnv::Web: plackup not found; install it with: apt-get install -y libplack-perl (or run make deps)\n";
    my $class = $self->dispatcher_class;
    my $dir   = $self->{dir};
    my $port  = DDBCache::TestEnv::free_port();
    my $sock  = $self->fcgi_socket;
    DDBCache::TestEnv::write_file("$dir/app.psgi", <<"EOF");
use strict;
use warnings;
use Plack::Builder;
use $class;

# A PSGI site that mounts the daemon's FastCGI endpoint under /api.
builder {
    mount '/api' => $class->new({ socket => '$sock' })->to_app;
};
EOF
    my $lib = File::Spec->catdir(DDBCache::TestEnv->repo_root, 't', 'lib');
    $self->_spawn(plack => [$bin, '-I', $lib, '-s', 'HTTP::Server::PSGI', '--listen', "127.0.0.1:$port",
        '-E', 'deployment', "$dir/app.psgi"]);
    return $self->_wait_http(plack => "http://127.0.0.1:$port");
}

# _rewrite reads a file of deploy/ and substitutes what a test must: the
# socket path, and the given pattern => replacement (the listen port).
sub _rewrite {
    my ($self, $file, $pattern, $replacement) = @_;
    my $path = File::Spec->catfile(DDBCache::TestEnv->repo_root, 'deploy', $file);
    my $text = DDBCache::TestEnv::slurp($path);
    my $sock = $self->fcgi_socket;
    $text =~ s{/run/ddbcache/fcgi\.sock}{$sock}g or croak "$path does not name /run/ddbcache/fcgi.sock";
    $text =~ s/$pattern/$replacement/ or croak "$path does not match $pattern";
    return $text;
}

# ---- requests ------------------------------------------------------------

# site_host is the host name the shipped nginx and Apache configurations
# serve, for clients other than request (curl's -H Host:).
sub site_host { return $SITE_HOST }

sub request {
    my ($self, $method, $url, $body, %headers) = @_;
    # HTTP::Tiny derives Host from the URL and refuses a Host header: to
    # name the site, the URL names it and `peer` connects to this host.
    my %peer;
    if (defined $self->{host} && $url =~ s{^http://127\.0\.0\.1:}{http://$self->{host}:}) {
        %peer = (peer => '127.0.0.1');
    }
    return $self->{http}->request($method, $url, {
        %peer,
        headers => \%headers,
        (defined $body ? (content => $body) : ()),
    });
}

# ---- processes -----------------------------------------------------------

sub _spawn {
    my ($self, $name, $argv) = @_;
    $self->{procs}->spawn($name => $argv);
    push @{ $self->{names} }, $name;
    return;
}

# _wait_http waits until base/api/healthz answers 200 and returns base;
# a server that exits or never answers fails with its logs and the last answer.
sub _wait_http {
    my ($self, $name, $base, @logs) = @_;
    my $last = '(none)';
    my $ok = eval {
        $self->{procs}->wait_ready($name => sub {
            my $res = $self->request(GET => "$base/api/healthz");
            $last = "$res->{status} $res->{content}";
            return $res->{status} == 200;
        });
        1;
    };
    return $base if $ok;
    die "DDBCache::TestEnv::Web: $@(last answer: $last); its other logs:\n"
        . join('', map { DDBCache::TestEnv::slurp($_) } @logs);
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++ || $self->{owner} != $$;
    $self->stop_dynamo;
    $self->{procs}->stop($_) for reverse @{ $self->{names} };
    if ($ENV{DDBCACHE_TEST_KEEP}) {
        print {*STDERR} "# DDBCache::TestEnv::Web: kept $self->{dir}\n";
    } else {
        remove_tree($self->{dir});
    }
    @LIVE = grep { $_ != $self } @LIVE;
    return;
}

sub logs {
    my ($self) = @_;
    opendir my $dh, $self->{dir} or return '';
    my @logs = sort grep { /\.log\z/ } readdir $dh;
    closedir $dh;
    return join '', map { "==> $_ <==\n" . DDBCache::TestEnv::slurp("$self->{dir}/$_") } @logs;
}

END {
    local ($?, $!, $@);
    if (@LIVE && Test::Builder->can('new') && !Test::Builder->new->is_passing) {
        Test::Builder->new->diag("web server logs:\n" . $_->logs) for grep { $_->{owner} == $$ } @LIVE;
    }
    $_->stop for reverse @LIVE;
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Web - start nginx, Apache and a Plack FastCGI dispatcher in front of the test daemon

=head1 SYNOPSIS

    use DDBCache::TestEnv;
    use DDBCache::TestEnv::Web;

    my $web  = DDBCache::TestEnv::Web->new;
    my $env  = DDBCache::TestEnv->new(config => $web->daemon_config);
    $web->attach($env);
    my $base = $web->start_nginx;          # http://127.0.0.1:PORT
    my $res  = $web->request(GET => "$base/api/profile/1");
    $web->stop_dynamo;                     # DynamoDB unreachable for the daemon

=head1 DESCRIPTION

Starts real web servers in front of the daemon's FastCGI socket, each with
a private configuration in a temporary directory: the shipped
F<deploy/nginx/ddbcache.conf> and F<deploy/apache/ddbcache.conf>, with only
the socket path and the listen port rewritten, and a PSGI app that mounts
L<Plack::App::FCGIDispatcher> under C</api>, run by plackup
(HTTP::Server::PSGI). Servers listen on free loopback ports, so a web
server of the system does not matter. Everything is stopped, and the
directory removed, in C<END> (kept with C<DDBCACHE_TEST_KEEP=1>); when the
test fails, the servers' logs are printed.

A missing program or module is an error with the command that installs it,
never a skip. Plack::App::FCGIDispatcher is not packaged by Debian; when it
is not installed, L<DDBCache::TestEnv::Web::FCGIDispatcher> (the same
interface on L<FCGI::Client>) stands in.

=head1 METHODS

=over

=item new

Creates the temporary directory and reserves the DynamoDB relay's port.

=item daemon_config(%more)

The C<config> for C<< DDBCache::TestEnv->new >>: the FastCGI socket in the
directory (mode 0666), C<api_prefix: /api>, DynamoDB through the relay,
C<timeout: 4s>, C<load_timeout: 1s>, C<max_value_bytes: 4096>; C<%more> is
deep-merged in.

=item attach($env)

Starts the relay to C<$env>'s dynalite. Call it after C<< DDBCache::TestEnv->new >>.

=item stop_dynamo, start_dynamo

Take DynamoDB away from the daemon (its connections are refused) and give it back.

=item start_nginx, start_apache, start_plack

Start a server and wait until C</api/healthz> answers 200 through it;
return its base URL.

=item dispatcher_class

Plack::App::FCGIDispatcher, or the stand-in.

=item request($method, $url, $body, %headers)

An L<HTTP::Tiny> request; returns its response hash.

=item fcgi_conns

How many connections to the daemon's FastCGI socket are open now (from
F</proc/net/unix>): after requests through a web server that keeps its
FastCGI connections, at least one.

=item fcgi_socket, dir, logs, stop

Where things are; the servers' logs; stop everything (also done in C<END>).

=back

=head1 SEE ALSO

L<DDBCache::TestEnv>, L<DDBCache::TestEnv::Web::Suite>, F<deploy/>.

=cut
