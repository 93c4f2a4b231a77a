"""Collector-initiated subscriptions on several nodes (src/collector/
dialclaim.c, docs/collector.md "Several nodes"): two wsmd collector nodes
share one real PostgreSQL (a throwaway cluster, cluster_helpers.PgCluster)
and one CollectorInitiated subscription to a wsmd event source that reads
a journald of the test's own. Exactly one node dials the source (the
source sees one Subscribe, the events are written once); when that node is
killed with -9, or its claim session is cut, the other takes the source
over from the shared bookmark within the bound, and the events written
meanwhile arrive once: a repeat is allowed only for the batch the dead
node had written and not yet committed (at most MaxItems events, said in
the assertion)."""

import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from cluster_helpers import PG_BIN, PgCluster, free_port, kill9
from collector_helpers import Collector
from conftest import REPO_ROOT
from test_collector_initiated import (Source, ci_xml, gr, jd, records,  # noqa: F401 (jd: fixture)
                                      source_status, write_secret)
from test_forwarder import wait_for as _wait_for

UNIT = os.environ.get("DIALCLAIM_TEST_BIN") or str(
    Path(os.environ.get("WSMD_BIN", REPO_ROOT / "build" / "wsmd")).parent
    / "tests" / "unit" / "test_dialclaim")
# A claim freed (the holder's session ended) is taken at the other node's
# next round: a period (2 s) plus jitter (1 s), then its Subscribe. With
# margin for this loaded machine and ASan.
TAKEOVER_BOUND = 12.0
MAX_ITEMS = 50

pytestmark = pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="no PostgreSQL 15")


def wait_for(pred, timeout=30.0, **kw):
    return _wait_for(pred, timeout, **kw)


@pytest.fixture(scope="module")
def pg():
    c = PgCluster()
    yield c
    c.remove()


@pytest.fixture
def db(pg):
    name = "d" + os.urandom(6).hex()
    pg.psql(f"CREATE DATABASE {name}")
    return pg.uri(name)


def node(factory, path, uri, files):
    """A collector node on the shared database; its own folder holds the
    subscription file with the password (the database never does)."""
    path = Path(path)
    (path / "subs").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_secret(path / "subs" / f"{name}.xml", text)
    return Collector(factory, path, extra=f"LogLevel = debug\nStateDatabase = {uri}\n")


def subscribes(src):
    return src.log().count("event=eventsource-subscribe ")


def taken(n, sub="Pulled"):
    return len(re.findall(rf"event=dial_claim subscription={sub} source=\S+ node=\S+ "
                          r"state=taken", n.d.log()))


def messages(nodes, tag):
    return [e.get("Message") for n in nodes for e in records(n, "Pulled", tag)]


def two_nodes(wsmd_factory, jd, tmp_path, db, mode="Pull"):
    port = free_port()
    src = Source(wsmd_factory, tmp_path / "src", jd, port).start()
    tag = "dc" + secrets.token_hex(3)
    addr = f"127.0.0.1:{port}"
    files = {"Pulled": ci_xml("Pulled", addr, tag, max_items=MAX_ITEMS, mode=mode,
                              heartbeat_ms=1000)}
    a = node(wsmd_factory, tmp_path / "a", db, files)  # seeds the database
    b = node(wsmd_factory, tmp_path / "b", db, files)
    nodes = [a, b]
    holder = wait_for(lambda: [n for n in nodes if "event=collector-dial-subscribed" in n.d.log()],
                      what="one node dialing", on_fail=lambda: a.d.log() + b.d.log())
    assert len(holder) == 1, "both nodes dialed"
    holder = holder[0]
    other = b if holder is a else a
    # The other node has tried and stands by (its round came and failed):
    # only then does "one Subscribe at the source" mean something.
    wait_for(lambda: "another collector node dials this source" in gr(other, "Pulled"),
             what="the other node standing by", on_fail=other.d.log)
    return src, tag, addr, holder, other


@pytest.mark.parametrize("mode", ["Pull", "Push"])
def test_one_node_dials_and_the_other_takes_over_after_kill9(wsmd_factory, jd, tmp_path, db, mode):
    """Push: the source delivers to the holder's listener; after the kill
    its subscription to the dead node only fails, and the survivor's new
    one (from the shared bookmark) brings the rest."""
    src, tag, addr, holder, other = two_nodes(wsmd_factory, jd, tmp_path, db, mode)
    assert taken(holder) == 1 and taken(other) == 0
    assert "collector-dial-subscribed" not in other.d.log()
    assert subscribes(src) == 1, src.log()
    assert "event=subscription_secrets id=Pulled source=file" in other.d.log()
    status, err = source_status(gr(other, "Pulled"), addr)
    assert status == "Inactive" and err.startswith("standby"), (status, err)
    for i in range(5):
        jd.logger("-t", tag, "-p", "user.err", f"first {i}")
    wait_for(lambda: len(messages([holder], tag)) >= 5, what="5 events on the holder",
             on_fail=holder.d.log)
    assert source_status(gr(holder, "Pulled"), addr) == ("Active", "0")
    # Stored, not only written: the shared row counts them (either node reads it).
    wait_for(lambda: "Events: 5" in gr(other, "Pulled"), what="the bookmark of the 5 stored")
    assert messages([other], tag) == [] and subscribes(src) == 1

    # A stream, and the holder killed while it runs: the other node takes
    # the source over from the shared bookmark.
    n_stream = 1000  # 20 batches: the kill falls within the stream
    cp = jd.in_ns(["systemd-cat", "-t", tag, "-p", "err"],
                  input_text="".join(f"stream {i}\n" for i in range(n_stream)))
    assert cp.returncode == 0, cp.stderr
    wait_for(lambda: any(m.startswith("stream") for m in messages([holder], tag)),
             what="the stream reaching the holder", on_fail=holder.d.log)
    kill9(holder.d)
    killed = time.monotonic()
    at_kill = sum(m.startswith("stream") for m in messages([holder], tag))
    for i in range(5):
        jd.logger("-t", tag, "-p", "user.err", f"meanwhile {i}")
    wait_for(lambda: "collector-dial-subscribed" in other.d.log(), timeout=TAKEOVER_BOUND,
             what=f"the takeover within {TAKEOVER_BOUND} s", on_fail=other.d.log)
    took = time.monotonic() - killed
    assert taken(other) == 1 and "from=bookmark" in other.d.log()
    want = ([f"first {i}" for i in range(5)] + [f"stream {i}" for i in range(n_stream)]
            + [f"meanwhile {i}" for i in range(5)])
    wait_for(lambda: set(want) <= set(messages([holder, other], tag)), what="every event",
             on_fail=lambda: other.d.log() + f"\n{len(messages([holder, other], tag))} events")
    time.sleep(0.5)  # a short while in which a repeat would show
    got = messages([holder, other], tag)
    assert sorted(set(got)) == sorted(want)
    # Repeats: only the batch the dead node had written and not committed.
    repeats = len(got) - len(want)
    assert 0 <= repeats <= MAX_ITEMS, f"{repeats} repeats (at most one batch of {MAX_ITEMS})"
    assert all(got.count(m) == 1 for m in want[:5] + want[-5:]), got
    assert subscribes(src) == 2, src.log()  # the dead node's, then the survivor's
    assert source_status(gr(other, "Pulled"), addr) == ("Active", "0")
    print(f"{mode}: takeover after kill -9: {took:.2f} s; stream events on the dead node: {at_kill} of "
          f"{n_stream}; repeats: {repeats}")


def test_claim_session_cut_drops_the_source_and_it_is_dialed_once(wsmd_factory, jd, tmp_path, db,
                                                                    pg):
    """The holder loses its claim session (terminated at the server, as a
    database restart or a cut would end it): it stops dialing and
    Unsubscribes; a node takes the source again after the grace, and
    nothing is lost or doubled."""
    src, tag, addr, holder, other = two_nodes(wsmd_factory, jd, tmp_path, db)
    jd.logger("-t", tag, "-p", "user.err", "before")
    wait_for(lambda: messages([holder], tag) == ["before"], what="1 event", on_fail=holder.d.log)
    dbname = db.rsplit("/", 1)[1]
    # Its node name is HOST:PID of the process that runs the collector.
    pids = {holder.d.pid, holder.d.work_pid}
    who = " OR ".join(f"application_name LIKE 'wsmd-dial %:{p}'" for p in pids)
    out = pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                  f" WHERE datname = '{dbname}' AND ({who})", db=dbname)
    assert out.strip() == "1", out
    wait_for(lambda: "state=lost" in holder.d.log(), what="the holder's claim lost",
             on_fail=holder.d.log)
    wait_for(lambda: "eventsource-unsubscribe" in src.log(), what="its Unsubscribe at the source",
             on_fail=lambda: holder.d.log() + src.log())
    jd.logger("-t", tag, "-p", "user.err", "after")
    wait_for(lambda: taken(holder) + taken(other) == 2, timeout=TAKEOVER_BOUND,
             what="the claim taken again", on_fail=lambda: holder.d.log() + other.d.log())
    wait_for(lambda: "after" in messages([holder, other], tag), what="the event after",
             on_fail=lambda: holder.d.log() + other.d.log())
    time.sleep(0.5)  # (a repeat would show by then)
    assert sorted(messages([holder, other], tag)) == ["after", "before"]
    live = src.log().count("event=eventsource-subscribe ") - \
        src.log().count("event=eventsource-unsubscribe ")
    assert live == 1, src.log()


def test_claim_rounds_against_the_server(db):
    """tests/unit/test_dialclaim.c with a server: one holder per key, a
    closed session's key taken by the other, the share, the grace, a silent
    node ended by the server (idle_session_timeout)."""
    cp = subprocess.run([UNIT], env={**os.environ, "WSMD_TEST_PG": db}, capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SKIPPED" not in cp.stdout and "6 test(s)" in cp.stdout, cp.stdout


def test_database_restart_moves_no_source_twice(wsmd_factory, jd, tmp_path, db, pg):
    """PostgreSQL restarted: every claim session ends at once, both nodes
    stop dialing (state=lost), and after the restart one node claims the
    source again (after its grace, by which time the old holder has
    stopped): events written meanwhile arrive once, and the source is left
    with one live subscription."""
    src, tag, addr, holder, other = two_nodes(wsmd_factory, jd, tmp_path, db)
    jd.logger("-t", tag, "-p", "user.err", "before")
    wait_for(lambda: messages([holder], tag) == ["before"], what="1 event", on_fail=holder.d.log)
    wait_for(lambda: "Events: 1" in gr(other, "Pulled"), what="its bookmark stored")
    pg.stop()
    try:
        wait_for(lambda: "state=lost" in holder.d.log(), timeout=TAKEOVER_BOUND,
                 what="the holder's claim lost", on_fail=holder.d.log)
        jd.logger("-t", tag, "-p", "user.err", "while the database is away")
    finally:
        pg.start()
    wait_for(lambda: taken(holder) + taken(other) == 2, timeout=TAKEOVER_BOUND + 10,
             what="the claim taken again", on_fail=lambda: holder.d.log() + other.d.log())
    want = ["before", "while the database is away"]
    wait_for(lambda: sorted(messages([holder, other], tag)) == want, what="the event meanwhile",
             on_fail=lambda: holder.d.log() + other.d.log())
    jd.logger("-t", tag, "-p", "user.err", "after")
    wait_for(lambda: "after" in messages([holder, other], tag), what="the event after")
    time.sleep(0.5)  # (a repeat would show by then)
    assert sorted(messages([holder, other], tag)) == sorted(want + ["after"])
    live = src.log().count("event=eventsource-subscribe ") - \
        src.log().count("event=eventsource-unsubscribe ")
    assert live == 1, src.log()
