# The README's first command ends in `perl -Mblib eg/demo.pl`: it must run
# and show what it promises.
use strict;
use warnings;
use Test::More;

my $out = `$^X -Mblib eg/demo.pl 2>&1`;
is($? >> 8, 0, 'the demo exits 0') or diag($out);
like($out, qr/^24 responses in /m, '24 concurrent requests answered');
like($out, qr/^slow request: timeout /m, 'the timeout is shown');
like($out, qr/^port 1: connect, errno ECONNREFUSED/m, 'the refused connection is shown');
like($out, qr/^bad header refused before sending: .*CR, LF/m, 'the bad header is refused');
if (eval { require AnyEvent; 1 }) {
    like($out, qr/^inside AnyEvent \(AnyEvent::Impl::\w+\): 12 responses while its own timer ticked [1-9]\d* times/m,
        'the pool inside AnyEvent');
} else {
    like($out, qr/^AnyEvent part skipped: it needs AnyEvent/m, 'without AnyEvent the demo says why it skips that part');
}
SKIP: {
    if (!eval { require IO::Socket::SSL; 1 }) {
        like($out, qr/^https part skipped: it needs IO::Socket::SSL/m, 'without IO::Socket::SSL the demo says why it skips https');
        skip 'IO::Socket::SSL is not installed: the demo skips its https part', 4;
    }
    like($out, qr/^https with the system trust store: tls .*self-signed/m, 'the untrusted certificate is refused, in words');
    like($out, qr/^https request 1: 200 hello over TLS \(full handshake\)/m, 'https with a private CA');
    like($out, qr/^https request 4: 200 hello over TLS \(resumed handshake\)/m, 'later connections resume');
    like($out, qr/^TLS handshakes: 1 full, 3 resumed, over 4 connections/m, 'the pool counted them');
}
unlike($out, qr/warning|used only once/i, 'no warnings') or diag($out);
done_testing;
