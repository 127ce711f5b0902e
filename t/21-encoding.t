#!/usr/bin/perl
# Characters and bytes in DDBCache::Client, row by row as
# perl/lib/DDBCache/Manual/Encoding.pod states them, against the real daemon,
# redis-server and dynalite: what put stores for text, Latin-1 bytes and
# UTF-8 bytes (values and attribute names, alone and mixed in one item),
# put_json of bytes and of characters, what get and get_json return, and
# which keys find an item.
use strict;
use warnings;
use utf8;

use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl/lib";

use Encode ();
use Test::More;
use DDBCache::TestEnv;
use DDBCache::Client;

binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

my $env = DDBCache::TestEnv->new(namespaces => {
    orders => { table => 'orders', partition_key => 'user_id', sort_key => 'order_id' },
});
# No local cache: every get below is answered by the daemon, so what it
# returns is what the daemon holds, not a copy this process kept.
my $ddb = $env->client(timeout => 5, local_cache => 0);

# dynamo_s($id, $attr): the S value DynamoDB holds, as characters.
sub dynamo_s {
    my ($id, $attr) = @_;
    my $item = $env->get_item(users => { user_id => { S => $id } });
    return $item && $item->{$attr} ? $item->{$attr}{S} : undef;
}

my $upgraded = "Zo\xeb";
utf8::upgrade($upgraded);

# dynamo_key($ns, @text): the DynamoDB key of a namespace's item whose key
# (and sort key) are these characters.
sub dynamo_key {
    my ($ns, @text) = @_;
    return $ns eq 'orders'
        ? (orders => { user_id => { S => $text[0] }, order_id => { S => $text[1] } })
        : (users => { user_id => { S => $text[0] } });
}

# put: each value is a Perl string; DynamoDB must then hold `stored` (as
# characters) and get must return it; get_json holds it as UTF-8 bytes.
my @values = (
    { name => 'ASCII',                           value => 'Ann',                     stored => 'Ann' },
    { name => 'text with wide characters',       value => 'Zoë 東京 🙂',             stored => 'Zoë 東京 🙂' },
    { name => 'Latin-1 bytes (no UTF-8 flag)',   value => "Zo\xeb",                  stored => "Zo\x{eb}" },
    { name => 'the same, upgraded (flag on)',    value => $upgraded,                 stored => "Zo\x{eb}" },
    { name => 'UTF-8 bytes: double-encoded',     value => "Zo\xc3\xab",              stored => "Zo\x{c3}\x{ab}" },
    { name => 'UTF-8 bytes after utf8::decode',  value => Encode::decode('UTF-8', "Zo\xc3\xab"), stored => 'Zoë' },
    { name => 'encoded CJK bytes: double-encoded', value => Encode::encode('UTF-8', '東京'),
        stored => join('', map { chr } unpack 'C*', Encode::encode('UTF-8', '東京')) },
);

subtest 'put: values are Perl characters, whatever their flag' => sub {
    my $n = 0;
    my %json_of;
    for my $case (@values) {
        my $id = 'v' . ++$n;
        ok($ddb->put(profile => { user_id => $id, name => $case->{value} }), "$case->{name}: put");
        is(dynamo_s($id, 'name'), $case->{stored}, "$case->{name}: DynamoDB holds the expected text");
        my $item = $ddb->get(profile => $id);
        is($item->{name}, $case->{stored}, "$case->{name}: get returns it");
        is(length $item->{name}, length $case->{stored}, "$case->{name}: ... as that many characters");
        ok(utf8::is_utf8($item->{name}), "$case->{name}: ... decoded (flag on)") if $case->{stored} =~ /[^\x00-\x7f]/;
        my $json = $ddb->get_json(profile => $id);
        ok(!utf8::is_utf8($json), "$case->{name}: get_json is bytes");
        my $want = Encode::encode('UTF-8', $case->{stored});
        like($json, qr/"name":"\Q$want\E"/, "$case->{name}: ... the UTF-8 of the stored text");
        $json_of{ $case->{name} } = $json =~ s/"user_id":"v\d+"//r;
    }
    is($json_of{'the same, upgraded (flag on)'}, $json_of{'Latin-1 bytes (no UTF-8 flag)'},
        'the flag makes no difference to what is stored');
};

subtest 'put: attribute names follow the same rule, each string on its own' => sub {
    my $item = {
        user_id      => 'm1',
        "n\xe4me"    => 'latin-1 name',                 # Latin-1 bytes as an attribute name
        'städte'     => '東京',                          # text name, text value
        legacy       => "Zo\xc3\xab",                   # UTF-8 bytes beside text in one hash
        clean        => 'Zoë',
    };
    ok($ddb->put(profile => $item), 'put a hash mixing byte strings and text');
    my $back = $ddb->get(profile => 'm1');
    is_deeply([sort keys %$back], [sort 'user_id', "n\x{e4}me", 'städte', 'legacy', 'clean'],
        'attribute names come back as the characters they were');
    is($back->{"n\x{e4}me"}, 'latin-1 name', 'a Latin-1 attribute name is the text it means in Latin-1');
    is($back->{'städte'}, '東京', 'text stays text');
    is($back->{legacy}, "Zo\x{c3}\x{ab}", 'UTF-8 bytes are double-encoded even beside text');
    is($back->{clean}, 'Zoë', '... and the text beside them is not');
};

subtest 'put_json: bytes as given (UTF-8 only), characters as UTF-8' => sub {
    ok($ddb->put_json(profile => qq({"user_id":"j1","name":"Zo\xc3\xab"})), 'UTF-8 bytes');
    is(dynamo_s('j1', 'name'), 'Zoë', '... stored as the text they encode');
    my $text = '{"user_id":"j2","name":"東京 🙂"}';
    ok(utf8::is_utf8($text), 'JSON text held as characters');
    ok($ddb->put_json(profile => $text), '... put_json');
    is(dynamo_s('j2', 'name'), '東京 🙂', '... is sent UTF-8 encoded');
    is($ddb->get(profile => 'j2')->{name}, '東京 🙂', '... and get returns the text');
    my $ok = eval { $ddb->put_json(profile => qq({"user_id":"j3","name":"Zo\xeb"})); 1 };
    ok(!$ok, 'Latin-1 bytes in JSON are refused');
    like($@, qr/DDB PUT: ERR bad item: invalid UTF-8 at byte \d+ \(JSON must be UTF-8\)/, '... by the daemon, saying why');
    is($env->get_item(users => { user_id => { S => 'j3' } }), undef, '... and nothing is written');
};

subtest 'mget returns characters too' => sub {
    my $items = $ddb->mget(profile => [qw(v2 v5)]);
    is($items->{v2}{name}, 'Zoë 東京 🙂', 'text');
    is($items->{v5}{name}, "Zo\x{c3}\x{ab}", 'the double-encoded value, as get has it');
};

# Which key finds an item put under a non-ASCII partition key.
subtest 'keys: text and UTF-8 bytes find the same item' => sub {
    ok($ddb->put(profile => { user_id => '東京-7', name => 'Kyo' }), 'an item keyed by text');
    ok($ddb->put(profile => { user_id => "Zo\x{eb}", name => 'Zoe' }), 'an item keyed by Zoë');
    my @keys = (
        ['text',                   '東京-7',                             'Kyo'],
        ['its UTF-8 bytes',        Encode::encode('UTF-8', '東京-7'),    'Kyo'],
        ['Zoë as text',            'Zoë',                                'Zoe'],
        ['Zoë upgraded from Latin-1', $upgraded,                         'Zoe'],
        ['Zoë as UTF-8 bytes',     "Zo\xc3\xab",                         'Zoe'],
    );
    for my $case (@keys) {
        my ($name, $key, $want) = @$case;
        my $item = $ddb->get(profile => $key);
        is($item && $item->{name}, $want, "get by $name");
        is_deeply([keys %{ $ddb->mget(profile => [$key]) }], [$key], "mget by $name, keyed as given");
    }
};

# Every form a key takes in Perl code, and the text it means: put, get,
# get_json, mget, invalidate and delete of one item must all agree on the
# item, whichever form the caller holds its key in. make($tag) gives the key
# in that form (every run has keys of its own); flag is whether the form
# has Perl's UTF-8 flag, asserted so that the table tests what it says.
my @key_forms = (
    { name => 'ASCII', flag => 0, make => sub { "k-$_[0]" }, text => sub { "k-$_[0]" } },
    { name => 'text with wide characters', flag => 1, make => sub { "東京-$_[0] 🙂" }, text => sub { "東京-$_[0] 🙂" } },
    { name => 'UTF-8 encoded bytes', flag => 0, make => sub { Encode::encode('UTF-8', "大阪-$_[0]") },
        text => sub { "大阪-$_[0]" } },
    { name => 'UTF-8 bytes of Latin-1 text', flag => 0, make => sub { Encode::encode('UTF-8', "Zoë-$_[0]") },
        text => sub { "Zoë-$_[0]" } },
    { name => 'Latin-1 bytes', flag => 0, make => sub { "Zo\xeb-$_[0]" }, text => sub { "Zo\x{eb}-$_[0]" } },
    { name => 'Latin-1 text, upgraded', flag => 1, make => sub { my $k = "Zo\xeb-$_[0]"; utf8::upgrade($k); $k },
        text => sub { "Zo\x{eb}-$_[0]" } },
);

# key_form_agrees($client, $label, $ns, $form, $tag): one item through every
# call that takes a key, with its key (and, in orders, its sort key) in one form.
sub key_form_agrees {
    my ($client, $label, $ns, $form, $tag) = @_;
    my @key  = map { $form->{make}->("$tag-$_") } $ns eq 'orders' ? (1, 2) : (1);
    my @text = map { $form->{text}->("$tag-$_") } $ns eq 'orders' ? (1, 2) : (1);
    my $what = "$label, $ns, $form->{name}";
    is(!!utf8::is_utf8($_), !!$form->{flag}, "$what: the key has the form the table says") for @key;
    my %attrs = (user_id => $key[0], ($ns eq 'orders' ? (order_id => $key[1]) : ()));

    # put, then every read by the same key.
    ok($client->put($ns => { %attrs, name => $what }), "$what: put");
    my $stored = $env->get_item(dynamo_key($ns, @text));
    is($stored && $stored->{name}{S}, $what, "$what: DynamoDB holds the item under the key's text");
    my $item = $client->get($ns, @key);
    is($item && $item->{name}, $what, "$what: get finds it");
    is($item && $item->{user_id}, $text[0], "$what: ... keyed by the text");
    like($client->get_json($ns, @key) // '', qr/"name":"\Q${\ Encode::encode('UTF-8', $what)}\E"/,
        "$what: get_json finds it");
    my $mkey = @key > 1 ? [@key] : $key[0];
    my $items = $client->mget($ns => [$mkey]);
    my $as_given = join $;, @key;
    is_deeply([keys %$items], [$as_given], "$what: mget finds it, keyed as given");
    is($items->{$as_given} && $items->{$as_given}{name}, $what, "$what: ... the item");

    # The lookups above filled the cache entry that these drop.
    is($client->invalidate($ns => $mkey), 1, "$what: invalidate drops its cache entry");
    is($client->get($ns, @key) && $client->get($ns, @key)->{name}, $what, "$what: ... and get reads it again");
    is($client->delete($ns, @key), 1, "$what: delete finds it");
    is($env->get_item(dynamo_key($ns, @text)), undef, "$what: ... deletes it from DynamoDB");
    is($client->get($ns, @key), undef, "$what: ... and get no longer returns it");

    # An item written behind the daemon's back (DynamoDB only), under keys
    # of its own (the delete above left a "does not exist" entry): kept by
    # the local cache, when on, and dropped from it by a delete through
    # the client.
    my @skey  = map { $form->{make}->("$tag-s$_") } $ns eq 'orders' ? (1, 2) : (1);
    my @stext = map { $form->{text}->("$tag-s$_") } $ns eq 'orders' ? (1, 2) : (1);
    my ($table, $dkey) = dynamo_key($ns, @stext);
    $env->put_item($table => { %$dkey, name => { S => "seeded $what" } });
    # With the local cache on, some get must be served by it. The first
    # reads DynamoDB (a value just read from it is not kept), the next reads
    # Redis and is kept, and the one after is a local hit, unless the
    # invalidation of the fill's own write reached the daemon late and
    # dropped the kept value: then one more round. A few rounds bound that.
    my $served = 0;
    for my $n (1 .. 6) {
        my $hits = $client->local_stats->{hits};
        my $got  = $client->get($ns, @skey);
        is($got && $got->{name}, "seeded $what", "$what: get finds an item put in DynamoDB under the text ($n)");
        last if ($served = $client->local_stats->{hits} - $hits) || $label =~ /off/ && $n == 2;
    }
    ok($served, "$what: ... and the local cache serves it") if $label =~ /on/;
    is($client->delete($ns, @skey), 1, "$what: ... delete finds it");
    is($client->get($ns, @skey), undef, "$what: ... and get, from the local cache or not, no longer returns it");
    return;
}

for my $run (['local cache off', $ddb], ['local cache on', $env->client(timeout => 5)]) {
    my ($label, $client) = @$run;
    subtest "keys in every form agree, $label" => sub {
        my $tag = 0;
        for my $ns (qw(profile orders)) {
            key_form_agrees($client, $label, $ns, $_, $label =~ s/\W//gr . ++$tag) for @key_forms;
        }
    };
}

done_testing;
