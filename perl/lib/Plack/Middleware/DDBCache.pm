package Plack::Middleware::DDBCache;

use 5.010_001;
use strict;
use warnings;

our $VERSION = '0.01';

use parent qw(Plack::Middleware);

use Carp qw(croak);
use DDBCache::Client;

# Arguments passed on to DDBCache::Client->new.
my @CLIENT_ARGS = qw(socket timeout namespace password local_cache local_cache_bytes local_ttl local_adapt reconnect every);
my %KNOWN = map { $_ => 1 } @CLIENT_ARGS, qw(app env_key);

sub prepare_app {
    my ($self) = @_;
    if (my @unknown = grep { !$KNOWN{$_} && !/\A_/ } sort keys %$self) {
        croak "Plack::Middleware::DDBCache: unknown argument '$unknown[0]' (known: "
            . join(', ', sort grep { $_ ne 'app' } keys %KNOWN) . ')';
    }
    $self->{env_key} //= 'ddbcache';
    $self->{_client_args} = { map { exists $self->{$_} ? ($_ => $self->{$_}) : () } @CLIENT_ARGS };
    # Bad arguments croak now, when the app is built, not at the first request.
    DDBCache::Client->new(%{ $self->{_client_args} });
    return;
}

sub call {
    my ($self, $env) = @_;
    $env->{ $self->{env_key} } = $self->client;
    return $self->app->($env);
}

# client: this process's client, made on first use in each process, so that
# a preforking server's workers each make their own after the fork.
sub client {
    my ($self) = @_;
    if (!$self->{_client} || $self->{_pid} != $$) {
        $self->{_client} = DDBCache::Client->new(%{ $self->{_client_args} });
        $self->{_pid}    = $$;
    }
    return $self->{_client};
}

1;

__END__

=head1 NAME

Plack::Middleware::DDBCache - one DDBCache::Client per PSGI worker process, in $env->{ddbcache}

=head1 SYNOPSIS

    # app.psgi
    use Plack::Builder;

    builder {
        enable 'DDBCache', timeout => 2, namespace => 'profile';   # socket: $ENV{DDBCACHE_SOCKET} or the default
        sub {
            my ($env) = @_;
            my ($id) = $env->{PATH_INFO} =~ m{\A/users/(\w+)\z}
                or return [404, ['Content-Type' => 'text/plain'], ['not found']];
            my $json = $env->{ddbcache}->get_json(profile => $id);    # UTF-8 bytes, ready to send
            return $json
                ? [200, ['Content-Type' => 'application/json'], [$json]]
                : [404, ['Content-Type' => 'text/plain'], ['no such user']];
        };
    };

=head1 DESCRIPTION

This middleware puts a L<DDBCache::Client> in C<< $env->{ddbcache} >> for
the application. Each process has one client, made at its first request, so
that the workers of a preforking server (Starman, Starlet, uWSGI,
mod_perl with L<Plack::Handler::Apache2>, FastCGI process managers) each
open their own connection to the daemon after the fork, and keep it for all
the requests they serve. The client reconnects by itself after a daemon
restart (see L<DDBCache::Client/"FORK, RESTART, TIMEOUTS">).

=head1 METHODS

=over

=item new(%args), wrap($app, %args), C<< enable 'DDBCache', %args >>

As for every L<Plack::Middleware>. Arguments, all optional:

C<socket>, C<timeout>, C<namespace>, C<password>, C<local_cache>,
C<local_cache_bytes>, C<local_ttl>, C<local_adapt>, C<reconnect>, C<every> - passed to
L<< DDBCache::Client->new|DDBCache::Client/"new(%args)" >> (the socket
defaults to C<$ENV{DDBCACHE_SOCKET}>, then F</run/ddbcache/ddbcache.sock>;
each worker has its own local cache, see L<DDBCache::Client/"LOCAL CACHE">).

C<env_key> - the key of C<$env> that holds the client; default C<ddbcache>.

Unknown arguments and bad values croak when the application is built.

=item client

This process's client, made when first asked for (by the first request, or
by this call). For code that runs outside a request, e.g. a worker's
start-up.

=back

=head1 ERRORS

Building the application croaks on bad arguments, with the message of
C<< DDBCache::Client->new >> or C<Plack::Middleware::DDBCache: unknown
argument '...'>. Requests never fail because of the middleware itself: the
client connects at its first call, and its errors (see
L<DDBCache::Client/ERRORS>) are the application's to catch.

=head1 SEE ALSO

L<DDBCache::Client>, L<Plack::Middleware>, L<Plack::Builder>.

=head1 LICENSE

This software is Copyright (c) the ddbcache developers.

This is free software, licensed under:

  The Apache License, Version 2.0, January 2004

See the F<LICENSE> file of the distribution.

=cut
