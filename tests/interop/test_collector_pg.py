"""Several collector nodes on one PostgreSQL database (StateDatabase,
docs/internals/collector-store.md "Several nodes"): a throwaway cluster
(initdb + pg_ctl in a temp folder, loopback port) started by this module,
two wsmd nodes on it, and a source (plain SOAP over Basic, as
test_collector.py) whose batches go to either node as a load balancer
would send them."""

import os
import re
import signal
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

from collector_helpers import (CT, GPO_PATH, NS, Collector, enumerate_body, event_xml, events_body,
                               notify_to, subscription_xml, subscriptions_of)
from cluster_helpers import PG_BIN, PgCluster, free_port, kill9
from conftest import REPO_ROOT
from wsman_helpers import PASSWORD, USER

BALANCER = "wec.example.com:5985"
UNIT = os.environ.get("STATE_PG_TEST_BIN") or str(
    Path(os.environ.get("WSMD_BIN", REPO_ROOT / "build" / "wsmd")).parent
    / "tests" / "unit" / "test_state_pg")

pytestmark = pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="no PostgreSQL 15")


@pytest.fixture(scope="module")
def pg():
    c = PgCluster()
    yield c
    c.remove()


@pytest.fixture
def db(pg):
    name = "t" + uuid.uuid4().hex[:12]
    pg.psql(f"CREATE DATABASE {name}")
    return pg.uri(name)


@pytest.fixture
def nodes(wsmd_factory, tmp_path, db):
    extra = f"StateDatabase = {db}\nCollectorAddress = {BALANCER}\n"
    out = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        out.append(Collector(wsmd_factory, d, subs={"Sec": subscription_xml("Sec")}, extra=extra))
    return out


def enum(node):
    r = node.post(GPO_PATH, enumerate_body(node.base + GPO_PATH))
    assert r.status_code == 200, r.text
    return subscriptions_of(r.text)


def bookmark_of(env):
    bm = env.find(".//w:Bookmark", NS)
    if bm is None:
        return None
    m = re.search(r'RecordId="(\d+)"', ET.tostring(bm, encoding="unicode"))
    return int(m.group(1)) if m else None


def same_subscribe(env):
    """The Subscribe without what is fresh in every envelope (MessageID,
    OperationID): what a source acts on."""
    text = ET.tostring(env, encoding="unicode")
    text = re.sub(r"(MessageID[^>]*>)[^<]*", r"\1", text)
    return re.sub(r"(OperationID[^>]*>)[^<]*", r"\1", text)


def deliver(node, records, timeout=30):
    path = "/wsman/subscriptions/Sec"
    _, body = events_body(f"http://{BALANCER}{path}", [event_xml(i) for i in records],
                          bookmark_record=records[-1])
    return requests.post(node.base + path, data=body.encode(), headers={"Content-Type": CT},
                         auth=(USER, PASSWORD), timeout=timeout)


def received(*ns):
    """Every EventRecordID the nodes wrote, with repeats."""
    return [row["EventRecordID"] for n in ns for row in n.jsonl()]


def test_bookmark_race_never_moves_backwards(db):
    """The state's compare-and-set, from two handles (two nodes) and four
    threads with late stale answers (tests/unit/test_state_pg.c)."""
    cp = subprocess.run([UNIT], env={**os.environ, "WSMD_TEST_PG": db}, capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SKIPPED" not in cp.stdout and "5 test(s)" in cp.stdout, cp.stdout


def test_unreachable_database_refused_at_start(wsmd_factory, tmp_path):
    """No state, no collector: wsmd says why (no password in the log) and exits."""
    conf = tmp_path / "wsmd.conf"
    for d in ("subs", "ev", "st"):
        (tmp_path / d).mkdir()
    port = free_port()
    conf.write_text(f"Listen = http://127.0.0.1:0\nSubscriptions = {tmp_path}/subs\n"
                    f"EventLogDir = {tmp_path}/ev\nStateDir = {tmp_path}/st\n"
                    f"StateDatabase = postgresql://wsmd:s3cret@127.0.0.1:{port}/x\n")
    from conftest import wsmd_bin
    t0 = time.monotonic()
    cp = subprocess.run([wsmd_bin(), "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0 and time.monotonic() - t0 < 20
    assert f'event=state_open_failed database="postgresql://wsmd@127.0.0.1:{port}/x"' in cp.stderr
    assert "s3cret" not in cp.stderr
    # A value that is no postgresql:// URI is a configuration error.
    conf.write_text(conf.read_text().replace(f"postgresql://wsmd:s3cret@127.0.0.1:{port}/x",
                                             "host=db dbname=x"))
    cp = subprocess.run([wsmd_bin(), "-c", str(conf)], capture_output=True, text=True, timeout=60)
    assert cp.returncode != 0 and "StateDatabase" in cp.stderr


def test_batches_alternate_between_nodes(nodes):
    a, b = nodes
    # Every node hands out the same Subscribe: Version, NotifyTo (the
    # balancer's address), no bookmark yet.
    (va, ea), = enum(a)
    (vb, eb), = enum(b)
    assert va == vb
    assert notify_to(ea) == notify_to(eb) == f"http://{BALANCER}/wsman/subscriptions/Sec"
    assert bookmark_of(ea) is None and bookmark_of(eb) is None
    rid = 1
    for i in range(12):
        node, other = nodes[i % 2], nodes[1 - i % 2]
        batch = list(range(rid, rid + 20))
        rid += 20
        r = deliver(node, batch)
        assert r.status_code == 200, r.text
        # The other node resumes exactly there.
        (v, env), = enum(other)
        assert v == va and bookmark_of(env) == batch[-1]
        (_, env_same), = enum(node)
        assert same_subscribe(env) == same_subscribe(env_same)
    got = received(a, b)
    assert sorted(got) == list(range(1, rid)), "a lost or repeated event"
    assert {row["EventRecordID"] for row in a.jsonl()} and {row["EventRecordID"] for row in b.jsonl()}


def test_wecutil_cluster_wide(nodes):
    a, b = nodes
    for i, node in enumerate(nodes):
        assert deliver(node, list(range(100 * i + 1, 100 * i + 11))).status_code == 200
    # The same source state whichever node is asked.
    gra, grb = a.wecutil("gr", "Sec").stdout, b.wecutil("gr", "Sec").stdout
    assert gra == grb and "Events: 20" in gra and 'RecordId="110"' in gra
    ma = requests.get(a.metrics_url, timeout=10).text
    mb = requests.get(b.metrics_url, timeout=10).text
    pick = re.compile(r"^wsmd_collector_(sources|stored_events).*$", re.M)
    assert pick.findall(ma) and [m.group(0) for m in pick.finditer(ma)] == \
        [m.group(0) for m in pick.finditer(mb)]
    # A subscription created, disabled, deleted on one node reaches the other.
    def wait_es(node, want):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if node.wecutil("es").stdout.split() == want:
                return
            time.sleep(0.05)
        pytest.fail(f"{node.base}: es never became {want}: {node.wecutil('es').stdout}")
    f = a.dir / "new.xml"
    f.write_text(subscription_xml("Other"))
    a.wecutil("cs", str(f))
    wait_es(b, ["Other", "Sec"])
    assert a.wecutil("cs", str(f), check=False).returncode != 0  # exists, seen from a
    assert b.wecutil("cs", str(f), check=False).returncode != 0  # and from b
    versions = [{v for v, _ in enum(n)} for n in nodes]
    assert versions[0] == versions[1] and len(versions[0]) == 2
    b.wecutil("ss", "Other", "/e:false")
    deadline = time.monotonic() + 5
    while "Enabled: false" not in a.wecutil("gs", "Other").stdout:
        assert time.monotonic() < deadline, a.wecutil("gs", "Other").stdout
        time.sleep(0.05)
    a.wecutil("ds", "Other")
    wait_es(b, ["Sec"])
    # Restarted, a node does not import its folder's files again: the
    # database is the subscriptions' home once seeded.
    (a.subs / "Third.xml").write_text(subscription_xml("Third"))
    a.d.stop()
    a.start()
    assert a.wecutil("es").stdout.split() == ["Sec"]
    assert "Third" not in a.d.log()  # the folder is not even read


def test_kill9_mid_stream_source_finishes_on_the_other_node(nodes):
    a, b = nodes
    acked, state = [], {"node": a, "inflight": None, "resumed_at": None}
    total, size = 3000, 25
    stop = threading.Event()

    def source():
        rid = 1
        while rid <= total and not stop.is_set():
            batch = list(range(rid, min(rid + size, total + 1)))
            state["inflight"] = batch
            try:
                r = deliver(state["node"], batch, timeout=10)
                ok = r.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                acked.extend(batch)
                rid = batch[-1] + 1
                continue
            # What a Windows source does when its collector is gone: it
            # enumerates again (the balancer now sends it to b) and
            # subscribes from the bookmark it is handed.
            state["node"] = b
            (_, env), = enum(b)
            bm = bookmark_of(env) or 0
            state["resumed_at"] = (bm, acked[-1] if acked else 0, batch[-1])
            rid = bm + 1

    t = threading.Thread(target=source)
    t.start()
    deadline = time.monotonic() + 30
    while len(acked) < total // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    kill9(a.d)
    t.join(60)
    stop.set()
    assert not t.is_alive()
    assert state["resumed_at"], "the source never moved"
    bm, last_acked, inflight_end = state["resumed_at"]
    # Exactly where it stopped: the last acked batch, or the batch in
    # flight when that one was stored but its Ack never came.
    assert bm in (last_acked, inflight_end), state["resumed_at"]
    got = received(a, b)
    assert set(range(1, total + 1)) <= set(got), "an acked event was lost"
    assert len(got) - total <= size, "more repeats than the batch in flight"
    (_, env), = enum(b)
    assert bookmark_of(env) == total


def test_postgres_restarted_mid_stream(nodes, pg):
    a, b = nodes
    rid = 1
    for i in range(4):
        assert deliver(nodes[i % 2], list(range(rid, rid + 10))).status_code == 200
        rid += 10
    pg.stop("fast")
    try:
        # The database is away: no Ack, and an answer at once, not a hang.
        for node in nodes:
            t0 = time.monotonic()
            r = deliver(node, list(range(rid, rid + 10)))
            assert r.status_code == 500 and "Ack" not in r.text, r.text
            assert time.monotonic() - t0 < 5
        assert node.post(GPO_PATH, enumerate_body(node.base + GPO_PATH)).status_code == 500
    finally:
        pg.start()
    # The source retries the same batch; the nodes reconnect by themselves.
    for i in range(6):
        node = nodes[i % 2]
        batch = list(range(rid, rid + 10))
        deadline = time.monotonic() + 20
        while True:
            r = deliver(node, batch)
            if r.status_code == 200:
                break
            assert time.monotonic() < deadline, r.text
            time.sleep(0.2)
        rid += 10
    for node in nodes:
        log = node.d.log()
        assert "event=state_db_lost" in log and "event=state_db_recovered" in log, log[-3000:]
    got = received(a, b)
    assert set(range(1, rid)) <= set(got)
    # Repeats: only batches written before a node saw the database gone (the
    # first refused one per node, one per pooled connection that broke in
    # use); retries while it is known away are refused before the outputs.
    assert len(got) - (rid - 1) <= 10 * (2 + 2 * 4), len(got) - (rid - 1)
    (_, env), = enum(b)
    assert bookmark_of(env) == rid - 1


def test_a_hung_database_blocks_no_thread_forever(nodes, pg):
    """The server stopped (SIGSTOP: connections open, nothing answers): each
    node answers a fault within its deadline (15 s), not never; resumed, the
    same batch is acked."""
    assert deliver(nodes[0], [1, 2]).status_code == 200
    pids = pg.pids()
    results = {}
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        def one(i):
            t0 = time.monotonic()
            try:
                r = deliver(nodes[i], [3 + i], timeout=40)
                results[i] = (r.status_code, time.monotonic() - t0)
            except requests.RequestException as e:
                results[i] = (str(e), time.monotonic() - t0)
        ts = [threading.Thread(target=one, args=(i,)) for i in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(45)
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)
    for i in (0, 1):
        status, took = results[i]
        assert status == 500 and took < 25, results
    for i in (0, 1):
        deadline = time.monotonic() + 20
        while deliver(nodes[i], [3 + i]).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    (_, env), = enum(nodes[0])
    assert bookmark_of(env) == 4  # the larger, whichever node stored last
