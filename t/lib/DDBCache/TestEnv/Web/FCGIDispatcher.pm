package DDBCache::TestEnv::Web::FCGIDispatcher;

use strict;
use warnings;

use parent qw(Plack::Component);

use Carp qw(croak);
use FCGI::Client;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Plack::Util::Accessor qw(host port socket timeout);

our $VERSION = '0.01';

sub call {
    my ($self, $env) = @_;
    my $conn = FCGI::Client::Connection->new(sock => $self->_connect, timeout => $self->timeout || 30);

    my $body = '';
    my $left = $env->{CONTENT_LENGTH} || 0;
    while ($left > 0) {
        my $n = $env->{'psgi.input'}->read($body, $left, length $body);
        croak "FCGIDispatcher: request body: $!" unless defined $n;
        last if $n == 0;
        $left -= $n;
    }

    # The CGI variables of the PSGI environment become the FastCGI params;
    # the PSGI extensions (psgi.input, plack.*...) all have a dot in the name.
    my %params = map { ($_ => "$env->{$_}") } grep { !/\./ && defined $env->{$_} && !ref $env->{$_} } keys %$env;

    my ($stdout, $stderr) = eval { $conn->request(\%params, $body) };
    if (!defined $stdout) {
        $env->{'psgi.errors'}->print("FCGIDispatcher: " . ($@ || 'no response') . "\n");
        return [502, ['Content-Type' => 'text/plain'], ['Bad FastCGI gateway']];
    }
    $env->{'psgi.errors'}->print($stderr) if defined $stderr && length $stderr;
    return _cgi_response($stdout);
}

sub _connect {
    my ($self) = @_;
    my $sock;
    if (defined $self->socket) {
        $sock = IO::Socket::UNIX->new(Type => IO::Socket::UNIX::SOCK_STREAM(), Peer => $self->socket);
    } elsif (defined $self->port) {
        $sock = IO::Socket::INET->new(PeerAddr => $self->host || '127.0.0.1', PeerPort => $self->port, Proto => 'tcp');
    } else {
        croak 'FCGIDispatcher: give socket, or host and port';
    }
    croak 'FCGIDispatcher: cannot connect to the FastCGI server: ' . ($@ || $!) unless $sock;
    return $sock;
}

# _cgi_response turns a CGI response (headers, a blank line, the body) into
# a PSGI response; the Status header gives the status.
sub _cgi_response {
    my ($out) = @_;
    my ($head, $body) = split /\r?\n\r?\n/, $out, 2;
    return [502, ['Content-Type' => 'text/plain'], ['FastCGI response without a header/body separator']]
        unless defined $body;
    my $status = 200;
    my @headers;
    for my $line (split /\r?\n/, $head) {
        my ($name, $value) = $line =~ /\A([^:\s]+):\s*(.*)\z/ or next;
        if (lc $name eq 'status') {
            ($status) = $value =~ /\A(\d{3})/;
            $status //= 500;
        } else {
            push @headers, $name => $value;
        }
    }
    return [$status, \@headers, [$body]];
}

1;

__END__

=head1 NAME

DDBCache::TestEnv::Web::FCGIDispatcher - a PSGI app that passes requests to a FastCGI server

=head1 SYNOPSIS

    use Plack::Builder;
    use DDBCache::TestEnv::Web::FCGIDispatcher;

    builder {
        mount '/api' => DDBCache::TestEnv::Web::FCGIDispatcher->new(socket => '/run/ddbcache/fcgi.sock')->to_app;
    };

=head1 DESCRIPTION

The interface of L<Plack::App::FCGIDispatcher> (C<socket>, or C<host> and
C<port>, and C<timeout>), written on L<FCGI::Client> for the test suite:
Plack::App::FCGIDispatcher left the Plack distribution and Debian does not
package it. L<DDBCache::TestEnv::Web> uses the real module when it is
installed and this one otherwise.

The PSGI environment's CGI variables (C<REQUEST_URI>, C<SCRIPT_NAME>,
C<PATH_INFO>, C<HTTP_*>, ...) are sent as FastCGI params, the body as
STDIN; the CGI response comes back as a PSGI response (502 when the server
cannot be reached or answers garbage).

=head1 SEE ALSO

L<Plack::App::FCGIDispatcher>, L<FCGI::Client>, L<DDBCache::TestEnv::Web>.

=cut
