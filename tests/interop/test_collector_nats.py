"""The collector's NATS JetStream output (NatsOutput, docs/internals/collector.md)
against a real nats-server started here with JetStream (-js -sd TMPDIR): every
acked event is in the stream exactly once (read back by a real JetStream
consumer, build/natsconsume, written with libnats), on the subject of its
subscription and channel, with its Nats-Msg-Id; a resent batch is dropped by
the stream's duplicate window; nats-server killed mid-stream makes the
collector refuse the Ack (the source retries), and once it is back every
event is there, once."""

import os
import time
from pathlib import Path

import pytest

from collector_helpers import Collector, event_xml, events_body, ack_relates_to
from cluster_helpers import NATS_SERVER, Nats
from conftest import REPO_ROOT

CONSUME = os.environ.get("NATSCONSUME_BIN") or str(
    Path(os.environ.get("WSMD_BIN", REPO_ROOT / "build" / "wsmd")).parent / "natsconsume")

pytestmark = [
    pytest.mark.skipif(not NATS_SERVER, reason="nats-server is not installed"),
    pytest.mark.skipif(not os.path.exists(CONSUME), reason="built without libnats"),
]


@pytest.fixture
def nats(tmp_path):
    n = Nats(tmp_path, CONSUME)
    yield n
    if n.proc.poll() is None:
        n.kill()


def _collector(wsmd_factory, tmp_path, nats, extra=""):
    return Collector(wsmd_factory, tmp_path,
                     extra=f"NatsOutput = {nats.url} stream=WSMD timeout=1500{extra}\n")


def _deliver(col, events, bookmark):
    path = "/wsman/subscriptions/Sec"
    mid, body = events_body(col.base + path, events, bookmark)
    return mid, body, col.post(path, body)


def test_each_acked_event_is_in_the_stream_once_with_its_subject_and_id(
        wsmd_factory, tmp_path, nats):
    col = _collector(wsmd_factory, tmp_path, nats)
    mid, body, r = _deliver(col, [event_xml(i) for i in range(1, 6)], 5)
    assert r.status_code == 200, r.text
    assert ack_relates_to(r.text)[1] == mid
    # The Ack came after JetStream's: the stream holds them already.
    rows = nats.consume()
    assert [row[2]["EventRecordID"] for row in rows] == [1, 2, 3, 4, 5]
    assert {row[0] for row in rows} == {"wsmd.events.Sec.Security"}
    assert [row[1] for row in rows] == [f"Sec/ws1.example.com/Security/{i}" for i in range(1, 6)]
    # The message is the JSON Lines object, the same as the file's.
    assert [row[2] for row in rows] == col.jsonl()
    assert rows[0][2]["SourceAddress"] == "127.0.0.1"
    assert "event=nats-stream-created stream=WSMD" in col.d.log()
    # The same batch sent again (a source that missed the Ack): acked, and
    # the stream's duplicate window drops it.
    r = col.post("/wsman/subscriptions/Sec", body)
    assert r.status_code == 200
    assert len(nats.consume()) == 5


def test_nats_away_refuses_the_ack_and_all_events_arrive_once_after(wsmd_factory, tmp_path,
                                                                    nats):
    col = _collector(wsmd_factory, tmp_path, nats)
    acked = []
    rid = 0
    for _ in range(3):
        evs = [event_xml(rid + i) for i in range(1, 11)]
        rid += 10
        _, _, r = _deliver(col, evs, rid)
        assert r.status_code == 200
        acked += list(range(rid - 9, rid + 1))
    nats.kill()
    # Away: the batch is refused (no Ack), fast, and the source keeps it.
    pending = [event_xml(rid + i) for i in range(1, 11)]
    t0 = time.monotonic()
    _, body, r = _deliver(col, pending, rid + 10)
    assert r.status_code != 200 or "Ack" not in r.text
    assert time.monotonic() - t0 < 10
    assert "output=nats" in col.d.log()
    nats.start()
    # The collector reconnects by itself; the source's retries get the Ack.
    deadline = time.monotonic() + 20
    while True:
        r = col.post("/wsman/subscriptions/Sec", body)
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    acked += list(range(rid + 1, rid + 11))
    rows = nats.consume()
    got = [row[2]["EventRecordID"] for row in rows]
    # Every acked event once (the events from before the kill survived it:
    # file storage), none twice.
    assert sorted(got) == acked
    assert len(set(row[1] for row in rows)) == len(rows)


def test_a_stream_named_otherwise_and_a_subject_template(wsmd_factory, tmp_path, nats):
    col = _collector(wsmd_factory, tmp_path, nats,
                     extra=" subject=siem.{channel}.{subscription}")
    col.conf.write_text(col.conf.read_text().replace("stream=WSMD", "stream=EVT"))
    col.d.stop()
    col.start()
    _, _, r = _deliver(col, [event_xml(1), event_xml(2, channel="System")], 2)
    assert r.status_code == 200, r.text
    rows = nats.consume("EVT", "siem.>")
    assert sorted(row[0] for row in rows) == ["siem.Security.Sec", "siem.System.Sec"]


def test_wsmd_starts_before_nats_server_and_connects_when_it_comes(wsmd_factory, tmp_path,
                                                                   nats):
    nats.kill()
    col = _collector(wsmd_factory, tmp_path, nats)  # starts: the server is no start condition
    _, body, r = _deliver(col, [event_xml(1)], 1)
    assert r.status_code != 200
    assert "reason=not-connected" in col.d.log()
    nats.start()
    deadline = time.monotonic() + 20
    while col.post("/wsman/subscriptions/Sec", body).status_code != 200:
        assert time.monotonic() < deadline, col.d.log()
        time.sleep(0.2)
    assert [row[2]["EventRecordID"] for row in nats.consume()] == [1]
    assert "event=nats-connected" in col.d.log()
