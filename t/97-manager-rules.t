# Uvent::HTTP::Manager's rules at a check (_plan), on made-up scoreboards:
# growth to min_servers, to min_spare_servers and under load, never past
# max_servers and at most spawn_rate a check; shrinking by one worker a
# check, never below min_servers, idle workers older than min_worker_ttl
# only; stuck handlers killed; recycling past max_requests.
use strict;
use warnings;
use Test::More;
use Uvent;
use Uvent::HTTP::Manager;

my $NOW = 1000;
my %BASE = (
    min_servers => 1, max_servers => 8, min_spare_servers => 0, max_spare_servers => 0, max_load => 0.7,
    min_load => 0, spawn_rate => 1, max_requests => 0, min_worker_ttl => 60, activity_timeout => 0,
);
my $next_pid = 100;
sub w {
    my ($state, %o) = @_;
    return { pid => $next_pid++, state => $state, active => $state eq 'busy' ? 1 : 0, served => 0,
        started => $NOW - 100, last_activity => $NOW - 1, load => undef, %o };
}
sub plan_of {
    my ($cfg, @ws) = @_;
    return join ' ', map { "$_->[0]:$_->[1]" } Uvent::HTTP::Manager::_plan({ %BASE, %$cfg }, \@ws, $NOW);
}

is(plan_of({ min_servers => 3 }), 'spawn:1', 'none running: grow toward min_servers, one per check at spawn_rate 1');
is(plan_of({ min_servers => 3, spawn_rate => 2 }, w('idle')), 'spawn:2', 'spawn_rate 2: two at once');
is(plan_of({ min_servers => 3, spawn_rate => 5 }, w('idle')), 'spawn:2', 'never more than min_servers needs');
is(plan_of({ min_spare_servers => 2 }, w('busy'), w('idle')), 'spawn:1', 'one spare of two: grow');
is(plan_of({ min_spare_servers => 2 }, w('busy'), w('idle'), w('starting')), '', 'a starting worker counts as a spare');
is(plan_of({ min_spare_servers => 2, max_servers => 2 }, w('busy'), w('busy')), '', 'never past max_servers');
is(plan_of({}, w('busy', load => 0.9), w('busy', load => 0.8)), 'spawn:1', 'average load above max_load: grow');
is(plan_of({}, w('busy', load => 0.9), w('busy', load => 0.3)), '', 'average load 0.6: no growth');
is(plan_of({ max_servers => 2 }, w('busy', load => 0.9), w('busy', load => 0.9)), '', 'under load, still never past max_servers');
is(plan_of({}, w('busy'), w('busy')), '', 'no load sample yet: no load-based growth');

my @idle = (w('idle', last_activity => $NOW - 5), w('idle', last_activity => $NOW - 50), w('idle', last_activity => $NOW - 9));
is(plan_of({ max_spare_servers => 1 }, @idle), "retire:$idle[1]{pid}",
    'three spares, max 1: retire one (the one idle the longest), one per check');
is(plan_of({ max_spare_servers => 1, min_servers => 3 }, @idle), '', 'never below min_servers');
is(plan_of({ max_spare_servers => 1, min_worker_ttl => 200 }, @idle), '', 'workers younger than min_worker_ttl are kept');
my $young = w('idle', started => $NOW - 10, last_activity => $NOW - 90);
my $old = w('idle', started => $NOW - 100, last_activity => $NOW - 2);
is(plan_of({ max_spare_servers => 1 }, $young, $old), "retire:$old->{pid}", 'the retired worker is one older than min_worker_ttl');
is(plan_of({ max_spare_servers => 1 }, w('busy'), w('busy'), w('idle')), '', 'spares within the range: nothing');
is(plan_of({ max_spare_servers => 1 }, w('idle', load => 0.9), w('idle', load => 0.9), w('idle', load => 0.9)),
    'spawn:1', 'above max_load growth wins over too many spares');

my @quiet = (w('idle', load => 0.1), w('idle', load => 0.1), w('busy', load => 0.2));
like(plan_of({ min_load => 0.35 }, @quiet), qr/\Aretire:\d+\z/, 'load below min_load: retire one');
is(plan_of({ min_load => 0.35, min_spare_servers => 2 }, @quiet), '', 'but not below min_spare_servers spares');
is(plan_of({ min_load => 0.35 }, w('idle', load => 0.5), w('idle', load => 0.5)), '', 'load above min_load: nothing');

my $stuck = w('busy', last_activity => $NOW - 30);
is(plan_of({ activity_timeout => 20 }, $stuck, w('idle')), "kill:$stuck->{pid}", 'a handler stuck past activity_timeout is killed');
is(plan_of({ activity_timeout => 20, min_servers => 2 }, $stuck, w('idle')), "kill:$stuck->{pid} spawn:1",
    'and replaced when that leaves too few');
is(plan_of({ activity_timeout => 20 }, w('idle', last_activity => $NOW - 30), w('idle')), '',
    'an idle worker with no activity is not stuck');
is(plan_of({ activity_timeout => 0 }, $stuck), '', 'activity_timeout 0: never killed');

my $worn = w('idle', served => 500);
is(plan_of({ max_requests => 500 }, $worn, w('idle', served => 499)), "recycle:$worn->{pid}", 'past max_requests: recycled');
is(plan_of({ max_requests => 500, min_worker_ttl => 200 }, $worn), '', 'not before min_worker_ttl');
my @worn = map { w('idle', served => 600, started => $NOW - 100 - $_) } 1 .. 3;
is(plan_of({ max_requests => 500 }, @worn), "recycle:$worn[2]{pid}", 'one recycle per check at spawn_rate 1, the oldest first');
is(plan_of({ max_requests => 500, max_spare_servers => 1 }, @worn), "recycle:$worn[2]{pid} retire:$worn[1]{pid}",
    'a recycled worker is not also retired');

is(plan_of({ min_servers => 2 }, w('idle', retiring => 1), w('idle')), 'spawn:1', 'a retiring worker does not count');
is(plan_of({ min_servers => 2 }, w('stopping'), w('idle')), 'spawn:1', 'nor a stopping one');

# the constructor's checks
my %ok = (server => { locations => [ { host => '127.0.0.1', port => 0 } ] }, request_callback => sub { });
for my $bad ([ { max_servers => 0 }, qr/'max_servers' \(0\) is below 'min_servers' \(1\)/ ],
             [ { min_servers => 'x' }, qr/'min_servers' must be a number >= 0, got 'x'/ ],
             [ { spawn_rate => 1.5 }, qr/'spawn_rate' must be a whole number/ ],
             [ { check_interval => 'nan' }, qr/'check_interval' must be a number/ ],
             [ { bogus => 1 }, qr/unknown config key 'bogus'/ ],
             [ { worker_init => 'x' }, qr/'worker_init' must be a CODE reference/ ],
             [ { request_callback => undef, server => { locations => [ { port => 0 } ] } }, qr/a 'request_callback' is required/ ],
             [ { server => {} }, qr/'server' needs 'locations'/ ]) {
    my ($cfg, $re) = @$bad;
    eval { Uvent::HTTP::Manager->new({ %ok, %$cfg }) };
    like($@, $re, "new refuses: $re");
}
my $m = Uvent::HTTP::Manager->new({ %ok, min_spare_servers => 3, max_spare_servers => 2, min_servers => 2 });
is($m->{cfg}{max_spare_servers}, 4, 'max_spare_servers below min_spare_servers becomes min + 1 (seed 003)');
is($m->{cfg}{start_servers}, 3, 'start_servers defaults to the larger of min_servers and min_spare_servers');
is($m->workers, 0, 'no workers before run');

done_testing;
