"""Reading ahead in Events-mode push deliveries (docs/internals/eventlog.md
"Reading ahead", "The bookmark's write").

While a full batch waits for its Ack, wsmd reads and renders the next one,
so it goes as soon as the Ack is in; the acknowledged bookmark is written
to disk off that path. Neither may lose or skip an event: a batch refused
while the next was read ahead comes again as it was and the events read
ahead follow it once; a wsmd killed (SIGKILL) while a batch is in flight
and the next read ahead resends, after its restart, at most what was not
durably acknowledged -- every event arrives.
"""

import os
import re
import secrets
import signal

from test_eventlog_pull import evd, journal, wait_until  # noqa: F401
from test_eventlog_push import push_subscribe, sub, Subscriber  # noqa: F401

SLOW_ACK = 0.3
BATCHES = ("<w:MaxElements>5</w:MaxElements><w:MaxTime>PT0.2S</w:MaxTime>"
           '<w:ConnectionRetry Total="3">PT0.3S</w:ConnectionRetry>')
EXISTING = ('<w:OptionSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<w:Option Name="ReadExistingEvents" xsi:nil="true"/></w:OptionSet>')


def write(evd, tag, n):
    for i in range(n):
        evd.journal.logger(tag, "info", f"ahead {i:03d}")


def seqs(sub):
    """The numbers of the events received, in order (repeats kept)."""
    return [int(re.search(r"ahead (\d+)", e).group(1)) for b in sub.batches() for e in b]


def test_next_batch_read_while_acked(evd, sub):  # noqa: F811
    """A subscriber slow to Ack: each next full batch was read while the last
    waited (logged ahead=5), goes right after the Ack, and the events come
    once each, in order."""
    tag = "pa" + secrets.token_hex(3)
    write(evd, tag, 30)
    sub.delay = SLOW_ACK
    push_subscribe(evd, sub, tag, delivery=BATCHES, headers=EXISTING)
    assert wait_until(lambda: sub.events >= 30, 20), sub.batches()
    assert seqs(sub) == list(range(30)), seqs(sub)
    aheads = [int(n) for n in re.findall(r"event=eventsource-push id=\S+ mode=Events "
                                         r"events=5 bytes=\d+ ahead=(\d+)", evd.log())]
    # Every batch but the last was sent with the next already read.
    assert aheads.count(5) >= 4, aheads
    # The next batch left soon after each Ack (it was ready): far less than
    # the Ack's own delay, which a read after the Ack would not explain
    # either -- this bounds a regression to waiting a MaxTime.
    with sub.lock:
        acks, times = list(sub.acked), [t for t, _ in sub.times]
    gaps = sorted(min(t - a for t in times if t > a) for a in acks[:5])
    assert gaps[len(gaps) // 2] < 0.15, gaps


def test_refused_while_reading_ahead(evd, sub):  # noqa: F811
    """The second batch is refused after the third was read ahead: it comes
    again whole, then the rest; nothing lost, nothing twice but the
    refused batch."""
    tag = "pf" + secrets.token_hex(3)
    write(evd, tag, 20)
    sub.delay = SLOW_ACK
    push_subscribe(evd, sub, tag, delivery=BATCHES, headers=EXISTING)
    assert wait_until(lambda: sub.events >= 5, 10), sub.batches()
    with sub.lock:
        sub.refuse = 1  # the next message (batch 2)
    assert wait_until(lambda: sub.events >= 25, 20), sub.batches()
    b = sub.batches()
    assert b[1] == b[2], b  # the refused batch, again, as it was
    got = seqs(sub)
    assert got == list(range(10)) + list(range(5, 20)), got
    assert "event=eventsource-push-failed" in evd.log()


def test_crash_mid_overlap_loses_nothing(evd, sub):  # noqa: F811
    """SIGKILL while a batch is in flight and the next read ahead: after the
    restart every event arrives (some perhaps twice: at-least-once); none
    after the last Acked batch is skipped."""
    tag = "pc" + secrets.token_hex(3)
    write(evd, tag, 40)
    sub.delay = SLOW_ACK
    push_subscribe(evd, sub, tag, delivery=BATCHES, headers=EXISTING,
                   extra="<e:Expires>PT1H</e:Expires>")
    assert wait_until(lambda: sub.events >= 15 and re.search(
        r"ahead=5", evd.log()), 20), sub.batches()
    for pid in {evd.work_pid, evd.pid}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert evd.proc.wait() == -signal.SIGKILL
    # Killed on purpose: the teardown's exit check is for the restarted one.
    evd.proc.returncode = 0
    evd.stopped = True
    evd._close_files()
    with sub.lock:
        before = sub.events
    # The first event of each batch received: where a resend may start.
    starts, at = set(), 0
    for b in sub.batches():
        starts.add(at)
        at += len(b)
    sub.delay = 0
    d2 = evd.restart()
    assert "subscriptions=1" in d2.log(), d2.log()
    assert wait_until(lambda: set(seqs(sub)) >= set(range(40)), 20), seqs(sub)
    got = seqs(sub)
    assert got[:before] == list(range(before)), got
    # Resent: from a batch boundary at or before where it stopped (the
    # durable bookmark, never past an event not acknowledged).
    again = got[before]
    assert again in starts | {before}, (again, starts, got)
    assert got[before:] == list(range(again, 40)), got
