"""The event collector driven by plain HTTP clients (python-requests, curl)
with Basic over loopback: the subscription manager, delivery, refusals,
durability across restarts and kill -9, wecutil, /metrics. The Windows
source's own ways (Kerberos, Negotiate, certificates, UTF-16, SLDC) are in
test_collector_flow.py through wefsim.py."""

import os
from pathlib import Path
import signal
import subprocess
import time
import uuid

import pytest
import requests

from collector_helpers import (GPO_PATH, NS, Collector, ack_relates_to, end_body,
                               enumerate_body, event_xml, events_body, notify_to,
                               subscription_end_body, subscription_xml, subscriptions_of)


@pytest.fixture
def col(wsmd_factory, tmp_path):
    return Collector(wsmd_factory, tmp_path)


def enum(col, **kw):
    r = col.post(GPO_PATH, enumerate_body(col.base + GPO_PATH), **kw)
    return r


DEFAULT = object()


def deliver(col, sub, events, bookmark=None, auth=DEFAULT):
    path = f"/wsman/subscriptions/{sub}"
    mid, body = events_body(col.base + path, events, bookmark)
    kw = {"auth": auth} if auth is not DEFAULT else {}
    return mid, col.post(path, body, **kw)


def test_unauthenticated_requests_get_401_and_nothing_is_written(col):
    r = enum(col, auth=None)
    assert r.status_code == 401
    mid, r = deliver(col, "Sec", [event_xml(1)], bookmark=1, auth=None)
    assert r.status_code == 401
    r = col.post(GPO_PATH, enumerate_body(col.base), auth=("alice", "wrong"))
    assert r.status_code == 401
    assert col.jsonl() == []
    assert not list(col.events.iterdir())


def test_enumerate_hands_out_the_subscription(col):
    r = enum(col)
    assert r.status_code == 200, r.text
    subs = subscriptions_of(r.text)
    assert len(subs) == 1
    version, env = subs[0]
    assert version.startswith("uuid:")
    # NotifyTo names the listener by the name the source used.
    assert notify_to(env) == col.base + "/wsman/subscriptions/Sec"
    assert env.find(".//w:Heartbeats", NS).text == "PT60.000S"
    assert env.find(".//w:Bookmark", NS) is None  # no bookmark, not ReadExistingEvents
    assert "QueryList" in ET_text(env.find(".//w:Filter", NS))
    # The same Version every time (the parameters did not change).
    assert subscriptions_of(enum(col).text)[0][0] == version
    # End: 204, nothing in the body.
    r = col.post(GPO_PATH, end_body())
    assert r.status_code == 204 and r.content == b""


def ET_text(el):
    import xml.etree.ElementTree as ET
    return ET.tostring(el, encoding="unicode")


def test_read_existing_events_gives_bookmark_earliest(wsmd_factory, tmp_path):
    c = Collector(wsmd_factory, tmp_path,
                  subs={"Old": subscription_xml("Old", read_existing=True)})
    (_, env), = subscriptions_of(enum(c).text)
    assert env.find(".//w:Bookmark", NS).text.strip() == \
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"


def test_events_are_acked_and_written_with_their_fields(col):
    mid, r = deliver(col, "Sec", [event_xml(10), event_xml(11, computer="other.example.com")],
                     bookmark=11)
    assert r.status_code == 200, r.text
    action, rel = ack_relates_to(r.text)
    assert action == "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"
    assert rel == mid
    rows = col.jsonl()
    assert [row["EventRecordID"] for row in rows] == [10, 11]
    for row in rows:
        for key in ("Xml", "Computer", "Channel", "EventID", "EventRecordID", "TimeCreated",
                    "Subscription", "Client", "Received"):
            assert key in row, key
        assert row["Subscription"] == "Sec"
        assert row["Client"] == "alice"
        assert row["Channel"] == "Security" and row["EventID"] == 4624
        assert row["Xml"].startswith("<Event")
    # alice is no machine: every event's Computer is marked as not hers.
    assert all(row["ComputerMismatch"] for row in rows)


def test_unknown_or_disabled_subscription_is_refused_and_nothing_written(wsmd_factory, tmp_path):
    c = Collector(wsmd_factory, tmp_path, subs={
        "Sec": subscription_xml("Sec"), "Off": subscription_xml("Off", enabled=False)})
    for sub in ("Nope", "Off"):
        mid, r = deliver(c, sub, [event_xml(1)], bookmark=1)
        assert r.status_code >= 400, r.text
        assert "Ack" not in r.text
    assert c.jsonl() == []
    # The disabled one is not handed out either.
    assert [e.find(".//w:Option[@Name='SubscriptionName']", NS).text
            for _, e in subscriptions_of(enum(c).text)] == ["Sec"]


def test_denied_principal_gets_no_subscription_and_cannot_deliver(wsmd_factory, tmp_path):
    c = Collector(wsmd_factory, tmp_path, subs={
        "Sec": subscription_xml("Sec", allow="alice bob", deny="bob")})
    assert len(subscriptions_of(enum(c).text)) == 1
    assert subscriptions_of(enum(c, auth=("bob", "bob-pw-1")).text) == []
    mid, r = deliver(c, "Sec", [event_xml(1)], bookmark=1, auth=("bob", "bob-pw-1"))
    assert r.status_code >= 400
    assert c.jsonl() == []


def test_a_bad_event_inside_a_good_batch_is_kept_with_the_rest(col):
    bad = "<Event><System><EventID>1</EventID></Syst"  # not well-formed
    ctrl = event_xml(21, extra="\u0005bell")  # a character XML forbids
    mid, r = deliver(col, "Sec", [event_xml(20), bad, ctrl, event_xml(22)], bookmark=22)
    assert r.status_code == 200, r.text
    rows = col.jsonl()
    assert len(rows) == 4
    assert [row["WellFormed"] for row in rows] == [True, False, True, True]
    assert rows[1]["Xml"] == bad
    assert rows[2]["EventRecordID"] == 21
    assert "bell" in rows[2]["Xml"] and "\u0005" not in rows[2]["Xml"]
    assert [rows[i]["EventRecordID"] for i in (0, 2, 3)] == [20, 21, 22]


def test_bookmark_is_handed_back_after_a_restart(col):
    deliver(col, "Sec", [event_xml(5)], bookmark=5)
    col.d.stop()
    col.start()
    (_, env), = subscriptions_of(enum(col).text)
    bm = env.find(".//w:Bookmark", NS)
    assert bm is not None
    assert 'RecordId="5"' in ET_text(bm)


def test_heartbeat_and_subscription_end_are_recorded(col):
    path = "/wsman/subscriptions/Sec"
    mid, body = events_body(col.base + path, [], action="Heartbeat")
    r = col.post(path, body)
    assert r.status_code == 200
    assert ack_relates_to(r.text) == ("http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack", mid)
    gr = col.wecutil("gr", "Sec").stdout
    assert "alice" in gr
    hb = [l for l in gr.splitlines() if "LastHeartbeatTime" in l]
    assert hb and "never" not in hb[0]
    r = col.post(path, subscription_end_body(col.base + path))
    assert r.status_code == 204
    assert "RunTimeStatus: Ended" in col.wecutil("gr", "Sec").stdout
    # With AckRequested (DSP0226): an Ack.
    mid = f"uuid:{uuid.uuid4()}"
    r = col.post(path, subscription_end_body(col.base + path, ack_requested=True, mid=mid))
    assert r.status_code == 200
    assert ack_relates_to(r.text) == ("http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack", mid)


def _kill9(d):
    """kill -9 the monitor and its network process at once."""
    pids = {d.pid, d.work_pid}
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    d.proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.02)
    # Killed on purpose: the factory's teardown must not count it a crash.
    log = d.log()
    d.stop = lambda: (0, log)


def test_kill9_right_after_an_ack_loses_nothing(col):
    acked = []
    rid = 100
    for cycle in range(4):
        for _ in range(3):
            batch = list(range(rid, rid + 50))
            rid += 50
            mid, r = deliver(col, "Sec", [event_xml(i) for i in batch], bookmark=batch[-1])
            assert r.status_code == 200
            acked += batch
        _kill9(col.d)
        col.start()
        got = {row["EventRecordID"] for row in col.jsonl()}
        assert set(acked) <= got, f"cycle {cycle}: lost {sorted(set(acked) - got)[:10]}"
        (_, env), = subscriptions_of(enum(col).text)
        assert f'RecordId="{acked[-1]}"' in ET_text(env.find(".//w:Bookmark", NS))


def test_wecutil_verbs(col, tmp_path):
    assert col.wecutil("es").stdout.split() == ["Sec"]
    gs = col.wecutil("gs", "Sec").stdout
    assert "Subscription Id: Sec" in gs and "Enabled: true" in gs
    xml = col.wecutil("gs", "Sec", "/f:xml").stdout
    assert "<SubscriptionId>Sec</SubscriptionId>" in xml
    # cs: a Windows-exported file, under its own SubscriptionId.
    f = tmp_path / "new.xml"
    f.write_text(subscription_xml("NewOne"))
    col.wecutil("cs", str(f))
    assert sorted(col.wecutil("es").stdout.split()) == ["NewOne", "Sec"]
    assert (col.subs / "NewOne.xml").exists()
    assert col.wecutil("cs", str(f), check=False).returncode != 0  # exists already
    # ss /e:false: no longer handed out.
    col.wecutil("ss", "NewOne", "/e:false")
    assert "Enabled: false" in col.wecutil("gs", "NewOne").stdout
    names = [e.find(".//w:Option[@Name='SubscriptionName']", NS).text
             for _, e in subscriptions_of(enum(col).text)]
    assert names == ["Sec"]
    # ds
    col.wecutil("ds", "NewOne")
    assert col.wecutil("es").stdout.split() == ["Sec"]
    assert not (col.subs / "NewOne.xml").exists()
    cp = col.wecutil("gs", "NewOne", check=False)
    assert cp.returncode != 0 and "does not exist" in cp.stderr
    col.wecutil("rs", "Sec")
    # A bad file is refused before anything is written.
    bad = tmp_path / "bad.xml"
    bad.write_text("<Subscription>")
    assert col.wecutil("cs", str(bad), check=False).returncode != 0
    assert sorted(p.name for p in col.subs.iterdir()) == ["Sec.xml"]


def test_wecutil_refuses_unprivileged_users(col):
    cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         col_wecutil(), "-c", str(col.conf), "es"],
                        capture_output=True, text=True, timeout=30)
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    assert cp.returncode != 0
    assert "denied" in cp.stderr.lower() or "not reachable" in cp.stderr


def col_wecutil():
    from collector_helpers import WECUTIL
    return WECUTIL


def test_sighup_reloads_subscription_files(col):
    (col.subs / "Late.xml").write_text(subscription_xml("Late"))
    os.kill(col.d.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "Late" in col.wecutil("es").stdout.split():
            break
        time.sleep(0.05)
    assert sorted(col.wecutil("es").stdout.split()) == ["Late", "Sec"]


def test_metrics(col):
    deliver(col, "Sec", [event_xml(1), event_xml(2)], bookmark=2)
    deliver(col, "Nope", [event_xml(3)], bookmark=3)
    text = requests.get(col.metrics_url, timeout=10).text
    metrics = {l.split()[0]: float(l.split()[1]) for l in text.splitlines()
               if l and not l.startswith("#")}
    assert metrics["wsmd_collector_events_total"] == 2
    assert metrics["wsmd_collector_batches_total"] == 1
    assert metrics["wsmd_collector_acks_total"] == 1
    assert metrics["wsmd_collector_refused_total"] == 1
    assert metrics['wsmd_collector_sources{state="active"}'] == 1
    assert metrics["wsmd_collector_request_seconds_count"] == 1
    # Only GET /metrics there; and no /metrics on the WinRM listener.
    assert requests.get(col.metrics_url.replace("/metrics", "/wsman"), timeout=10).status_code == 404
    assert requests.get(col.base + "/metrics", timeout=10).status_code in (404, 405)


def test_bad_bodies_get_faults_fast_and_nothing_written(col):
    path = "/wsman/subscriptions/Sec"
    for body in (b"", b"<not xml", b"\xff\xfe<\x00", b"<?xml version='1.0'?><!DOCTYPE x []><x/>",
                 events_body(col.base + path, [])[1].replace("w:Events", "w:Nope").encode()):
        t = time.monotonic()
        r = col.post(path, body)
        assert r.status_code in (400, 500), (body, r.status_code)
        assert time.monotonic() - t < 2
    # curl, as another client, with a body that claims SLDC but is garbage.
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u",
                          "alice:alice-pw-1", "-H", "Content-Type: application/soap+xml",
                          "-H", "Content-Encoding: SLDC", "--data-binary", "\x01\x02\x03garbage",
                          col.base + path], capture_output=True, text=True, timeout=30).stdout
    assert out in ("400", "500")
    assert col.jsonl() == []
    col.d.assert_alive()


def test_principal_only_paths_do_not_open_wsman(col):
    # A collector path does not make /wsman's other resources reachable
    # without rights, nor the collector's actions reachable at /wsman.
    mid, body = events_body(col.base + "/wsman", [event_xml(1)], bookmark_record=1)
    r = col.post("/wsman", body)
    assert r.status_code >= 400
    assert col.jsonl() == []


def _free_port(kind):
    import socket
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def rsyslogd(tmp_path):
    """A real rsyslogd on loopback (TCP and UDP), writing what wsmd sends to a file."""
    import shutil
    exe = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not os.path.exists(exe):
        pytest.skip("rsyslogd is not installed (tests/deps installs rsyslog)")
    d = tmp_path / "rsyslog"
    d.mkdir()
    tcp, udp = _free_port(1), _free_port(2)
    out = d / "out.log"
    (d / "rsyslog.conf").write_text(
        f'global(workDirectory="{d}" maxMessageSize="64k")\n'
        'module(load="imudp")\nmodule(load="imtcp")\n'
        f'input(type="imudp" address="127.0.0.1" port="{udp}")\n'
        f'input(type="imtcp" address="127.0.0.1" port="{tcp}")\n'
        'template(name="t" type="string" string="%inputname% %hostname% %app-name% %msgid% '
        '%structured-data% %msg%\\n")\n'
        f'if $app-name == \'wsmd\' then action(type="omfile" file="{out}" template="t")\n')
    p = subprocess.Popen([exe, "-n", "-f", str(d / "rsyslog.conf"), "-i", str(d / "pid")],
                         stdout=subprocess.DEVNULL, stderr=open(d / "err", "wb"))
    deadline = time.monotonic() + 10
    import socket
    while time.monotonic() < deadline:  # up when its TCP input accepts
        try:
            socket.create_connection(("127.0.0.1", tcp), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield {"tcp": tcp, "udp": udp, "out": out}
    p.terminate()
    p.wait(10)


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_syslog_output_reaches_rsyslog(wsmd_factory, tmp_path, rsyslogd, proto):
    c = Collector(wsmd_factory, tmp_path,
                  subs={"Sys": subscription_xml("Sys", outputs="jsonl syslog")},
                  extra=f"SyslogTarget = {proto}://127.0.0.1:{rsyslogd[proto]}\n")
    mid, r = deliver(c, "Sys", [event_xml(i, computer="ws7.example.com", event_id=4625)
                               for i in (1, 2, 3)], bookmark=3)
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline:
        if rsyslogd["out"].exists():
            lines = rsyslogd["out"].read_text().splitlines()
            if len(lines) >= 3:
                break
        time.sleep(0.05)
    assert len(lines) == 3, lines
    for i, line in zip((1, 2, 3), lines):
        inputname, host, app, msgid = line.split()[:4]
        assert inputname == ("imtcp" if proto == "tcp" else "imudp")
        assert host == "ws7.example.com" and app == "wsmd" and msgid == "4625"
        assert f'subscription="Sys" recordId="{i}" channel="Security"' in line
        assert 'client="alice"' in line
    assert len(c.jsonl()) == 3


def test_raw_xml_output_and_reopen_on_sighup(wsmd_factory, tmp_path):
    c = Collector(wsmd_factory, tmp_path,
                  subs={"Raw": subscription_xml("Raw", outputs="xml jsonl", log_file="Raw")})
    deliver(c, "Raw", [event_xml(1), event_xml(2)], bookmark=2)
    xml_file = c.events / "Raw.xml"
    lines = xml_file.read_text().splitlines()
    assert len(lines) == 2 and all(l.startswith("<Event") for l in lines)
    assert "<EventRecordID>2</EventRecordID>" in lines[1]
    # logrotate: rename, HUP, the next batch goes to a new file.
    xml_file.rename(c.events / "Raw.xml.1")
    (c.events / "Raw.jsonl").rename(c.events / "Raw.jsonl.1")
    os.kill(c.d.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10  # the reload is logged after the reopen
    while time.monotonic() < deadline and c.d.log().count("event=collector-load") < 2:
        time.sleep(0.05)
    deliver(c, "Raw", [event_xml(3)], bookmark=3)
    assert len((c.events / "Raw.xml").read_text().splitlines()) == 1
    assert [r["EventRecordID"] for r in c.jsonl("Raw")] == [3]
    assert len((c.events / "Raw.xml.1").read_text().splitlines()) == 2


def _vector(name):
    """A captured SLDC body from tests/unit/sldc_vectors.h (see its sources there)."""
    import re as _re
    text = (Path(__file__).resolve().parents[1] / "unit" / "sldc_vectors.h").read_text()
    m = _re.search(r"%s\[\d+\] = \{(.*?)\};" % name, text, _re.S)
    return bytes(int(x, 16) for x in _re.findall(r"0x([0-9a-fA-F]{2})", m.group(1)))


def test_a_captured_windows_sldc_heartbeat_is_acked(col):
    # A real Windows 10 Heartbeat, SLDC-compressed UTF-16LE, as it arrives
    # after the message decryption (here Basic over loopback carries it).
    body = _vector("openwec_heartbeat")
    r = col.post("/wsman/subscriptions/Sec", body,
                 headers={"Content-Encoding": "SLDC",
                          "Content-Type": "application/soap+xml;charset=UTF-16"})
    assert r.status_code == 200, r.text
    assert ack_relates_to(r.text) == ("http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack",
                                      "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA")
    gr = col.wecutil("gr", "Sec").stdout
    assert "LastHeartbeatTime: never" not in gr
    # Truncated, it is refused and nothing is recorded.
    r = col.post("/wsman/subscriptions/Sec", body[:500],
                 headers={"Content-Encoding": "SLDC"})
    assert r.status_code in (400, 500)
    assert col.jsonl() == []
