"""The collector at fleet scale, all engines at once (docs/collector.md
"Several nodes"): HAProxy (TCP, PROXY v2, health check) in front of two
wsmd nodes sharing one PostgreSQL (StateDatabase) and one JetStream stream
(NatsOutput); a source connecting from 127.0.0.2 sends through HAProxy
only, as a Windows source would: batches alternate between the nodes with
no loss and no repeat, a node killed with -9 mid-stream leaves the source
finishing on the other one, every acked event is in JetStream exactly once,
and the outputs carry the source's real address, not HAProxy's."""

import base64
import http.client
import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cluster_helpers import (HAPROXY, NATS_SERVER, PG_BIN, HAProxy, Nats, PgCluster,
                             cluster_haproxy_config, free_port, kill9)
from collector_helpers import (CT, GPO_PATH, NS, Collector, enumerate_body, event_xml,
                               events_body, subscriptions_of)
from conftest import REPO_ROOT
from wsman_helpers import PASSWORD, USER

CONSUME = os.environ.get("NATSCONSUME_BIN") or str(
    Path(os.environ.get("WSMD_BIN", REPO_ROOT / "build" / "wsmd")).parent / "natsconsume")
CLIENT = "127.0.0.2"  # the source; HAProxy connects to the nodes from 127.0.0.1
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PATH = "/wsman/subscriptions/Sec"
RETRY_INTERVAL = 5.0  # what a source waits before it retries; a move must fit in it

pytestmark = [
    pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="no PostgreSQL 15"),
    pytest.mark.skipif(not NATS_SERVER, reason="nats-server is not installed"),
    pytest.mark.skipif(not HAPROXY, reason="haproxy is not installed"),
    pytest.mark.skipif(not os.path.exists(CONSUME), reason="built without libnats"),
]


@pytest.fixture(scope="module")
def pg():
    c = PgCluster()
    yield c
    c.remove()


@pytest.fixture
def cluster(wsmd_factory, tmp_path, pg):
    db = "c" + os.urandom(6).hex()
    pg.psql(f"CREATE DATABASE {db}")
    nats = Nats(tmp_path, CONSUME)
    port = free_port()
    extra = (f"StateDatabase = {pg.uri(db)}\nCollectorAddress = 127.0.0.1:{port}\n"
             f"ProxyProtocol = true\nNatsOutput = {nats.url} stream=WSMD timeout=1500\n")
    nodes = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        nodes.append(Collector(wsmd_factory, d, extra=extra))
    hp = HAProxy(tmp_path, cluster_haproxy_config(port, [n.d.port for n in nodes]), [port])
    yield nodes, nats, port
    hp.stop()
    nats.stop()


def via(port, path, body, timeout=15):
    """One request on its own connection from the source's address, as a
    source whose connection the balancer places anew."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(CLIENT, 0))
    try:
        conn.request("POST", path, body=body.encode(), headers={
            "Content-Type": CT, "Authorization": AUTH})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def send(port, records):
    _, body = events_body(f"http://127.0.0.1:{port}{PATH}", [event_xml(i) for i in records],
                          bookmark_record=records[-1])
    return via(port, PATH, body)


def bookmark(port):
    status, text = via(port, GPO_PATH, enumerate_body(f"http://127.0.0.1:{port}{GPO_PATH}"))
    assert status == 200, text
    (_, env), = subscriptions_of(text)
    bm = env.find(".//w:Bookmark", NS)
    if bm is None:
        return 0
    return int(re.search(r'RecordId="(\d+)"', ET.tostring(bm, encoding="unicode")).group(1))


def written(nodes):
    return [row for n in nodes for row in n.jsonl()]


def test_batches_alternate_and_reach_jetstream_once_with_the_real_address(cluster):
    nodes, nats, port = cluster
    rid = 1
    for _ in range(10):
        batch = list(range(rid, rid + 15))
        status, text = send(port, batch)
        assert status == 200 and "Ack" in text, text
        rid += 15
        # Whichever node took it, both hand out that bookmark (two
        # enumerations: round robin gives one to each node, and the next
        # batch to the other node than this one's).
        assert bookmark(port) == bookmark(port) == batch[-1]
    rows = written(nodes)
    assert sorted(r["EventRecordID"] for r in rows) == list(range(1, rid)), "lost or repeated"
    per_node = [len(n.jsonl()) for n in nodes]
    assert all(per_node), f"one node got every batch: {per_node}"
    assert {r["SourceAddress"] for r in rows} == {CLIENT}
    js = nats.consume()
    assert sorted(r[2]["EventRecordID"] for r in js) == list(range(1, rid))
    assert {r[2]["SourceAddress"] for r in js} == {CLIENT}
    assert len({r[1] for r in js}) == len(js)  # one Nats-Msg-Id per event
    for n in nodes:
        log = n.d.log()
        assert f"peer={CLIENT}:" in log and "peer=127.0.0.1:" not in log


def test_kill9_mid_stream_moves_the_source_and_loses_no_acked_event(cluster):
    nodes, nats, port = cluster
    total, size = 3000, 25
    acked, moves = [], []
    done = threading.Event()

    def source():
        rid, failed_at = 1, None
        while rid <= total:
            batch = list(range(rid, min(rid + size, total + 1)))
            try:
                status, _ = send(port, batch)
            except (OSError, http.client.HTTPException):
                status = 0
            if status == 200:
                acked.extend(batch)
                if failed_at is not None:
                    moves.append(time.monotonic() - failed_at)
                    failed_at = None
                rid = batch[-1] + 1
                continue
            # The collector went away under this batch: enumerate again
            # through the balancer (HAProxy's check has moved it) and go on
            # from the bookmark handed out.
            if failed_at is None:
                failed_at = time.monotonic()
            assert time.monotonic() - failed_at < 30, "the source never resumed"
            time.sleep(0.1)
            try:
                rid = bookmark(port) + 1
            except (OSError, AssertionError, http.client.HTTPException):
                pass
        done.set()

    t = threading.Thread(target=source)
    t.start()
    deadline = time.monotonic() + 40
    while len(acked) < total // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acked) >= total // 3, "the stream did not start"
    kill9(nodes[0].d)
    t.join(60)
    assert done.is_set(), "the source did not finish on the other node"
    assert all(m < RETRY_INTERVAL for m in moves), moves
    rows = written(nodes)
    got = [r["EventRecordID"] for r in rows]
    assert set(range(1, total + 1)) <= set(got), "an acked event was lost"
    # Repeats in the files: at most the batch in flight when the node died.
    assert len(got) - total <= size, len(got) - total
    assert {r["SourceAddress"] for r in rows} == {CLIENT}
    # JetStream: every acked event exactly once (a resent batch is dropped
    # by the stream's Nats-Msg-Id duplicate window).
    js = [r[2]["EventRecordID"] for r in nats.consume()]
    assert sorted(js) == list(range(1, total + 1))
    assert bookmark(port) == total
    # The survivor took the batches after the kill.
    assert total in {r["EventRecordID"] for r in nodes[1].jsonl()}
