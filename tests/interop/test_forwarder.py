"""The forwarder (src/forwarder; docs/internals/forwarder.md): a wsmd with
EventForwarding pushes its journal into a collector as a Windows source
under the GPO does, against real peers: wsmd's own collector (a second
wsmd with Subscriptions, collector_helpers.py) and a journald of the test's
own (journald.py). Entries are written with logger, systemd-cat and
`wsmd eventcreate` and read back from the collector's JSONL output."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import journald
from collector_helpers import GPO_PATH, SUB_NS, Collector
from conftest import REPO_ROOT
from kdc import kdc  # noqa: F401  (the fixture)
from wsman_helpers import PASSWORD, USER

WSMD = os.environ.get("WSMD_BIN") or str(REPO_ROOT / "build" / "wsmd")


@pytest.fixture
def jd(tmp_path):
    why = journald.usable()
    if why:
        pytest.skip(why)
    j = journald.Journald(tmp_path)
    yield j
    j.stop()


def sub_xml(sub_id, query=None, *, max_items=100, latency_ms=300, heartbeat_ms=60000,
            read_existing=False, content_format="RenderedText", extra=""):
    query = query or "<QueryList><Query Id='0'><Select Path='Application'>*</Select></Query></QueryList>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Subscription xmlns="{SUB_NS}">
  <SubscriptionId>{sub_id}</SubscriptionId>
  <SubscriptionType>SourceInitiated</SubscriptionType>
  <Enabled>true</Enabled>
  <Uri>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</Uri>
  <ConfigurationMode>Custom</ConfigurationMode>
  <Delivery Mode="Push">
    <Batching><MaxItems>{max_items}</MaxItems><MaxLatencyTime>{latency_ms}</MaxLatencyTime></Batching>
    <PushSettings><Heartbeat Interval="{heartbeat_ms}"/></PushSettings>
  </Delivery>
  <Query><![CDATA[{query}]]></Query>
  <ReadExistingEvents>{"true" if read_existing else "false"}</ReadExistingEvents>
  <TransportName>HTTP</TransportName>
  <ContentFormat>{content_format}</ContentFormat>
  <LogFile>{sub_id}</LogFile>
  {extra}
</Subscription>
"""


def wait_for(pred, timeout=20.0, what="condition", on_fail=None):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}"
                                 + (f"\n{on_fail()}" if on_fail else ""))
        time.sleep(0.05)


class Forwarder:
    """A wsmd whose only job here is EventForwarding into col."""

    def __init__(self, factory, tmp_path, jd, col_url, *, auth_lines=None, refresh=1,
                 state=None, extra=""):
        self.factory = factory
        self.dir = Path(tmp_path)
        self.dir.mkdir(exist_ok=True)
        self.state = Path(state) if state else self.dir / "state"
        if auth_lines is None:
            cred = self.dir / "fwd.cred"
            cred.write_text(f"{USER}:{PASSWORD}\n")
            cred.chmod(0o600)
            auth_lines = f"ForwarderCredentials = {cred}\n"
        self.conf = self.dir / "fwd.conf"
        self.conf.write_text(
            "Listen = http://127.0.0.1:0\n"
            f"JournalDirectory = {jd.directory}\n"
            f"StateDir = {self.state}\n"
            f"EventForwarding = Server={col_url}{GPO_PATH},Refresh={refresh}\n"
            "LogLevel = debug\n" + auth_lines + extra)
        self.d = None
        self.start()

    def start(self):
        self.d = self.factory("-c", str(self.conf))
        return self.d

    def log(self):
        return self.d.log()

    def acked(self):
        """Events the collector acknowledged so far (the forwarder's debug lines)."""
        return sum(int(n) for n in re.findall(r"event=forwarder-acked .*? events=(\d+)", self.log()))

    def wait_log(self, pattern, count=1, timeout=20.0):
        rx = re.compile(pattern)
        return wait_for(lambda: len(rx.findall(self.log())) >= count, timeout,
                        f"/{pattern}/ x{count} in the forwarder's log", self.log)


def provider(ev):
    """The Provider Name of a JSONL event, whichever shape evjson gives it."""
    s = ev.get("System", ev)
    p = s.get("Provider")
    return p.get("Name") if isinstance(p, dict) else p


def system(ev, name):
    s = ev.get("System", ev)
    return s.get(name)


def events_of(col, log_file, tag):
    return [e for e in col.jsonl(log_file) if provider(e) == tag]


def collector(factory, path, subs, extra=""):
    Path(path).mkdir(exist_ok=True)
    return Collector(factory, path, subs=subs, extra=extra)


def tag():
    return "fwdt" + os.urandom(4).hex()


# ---- Basic over http -----------------------------------------------------------


def test_basic_http_logger_systemd_cat_eventcreate(wsmd_factory, jd, tmp_path):
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App")})
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"App\"")
    t = tag()
    jd.logger("-t", t, "-p", "user.err", "from logger")
    cp = jd.in_ns(["systemd-cat", "-t", t, "-p", "warning", "echo", "from systemd-cat"])
    assert cp.returncode == 0, cp.stderr
    cp = jd.in_ns([WSMD, "eventcreate", "/T", "INFORMATION", "/ID", "100", "/L", "APPLICATION",
                   "/SO", t, "/D", "from eventcreate"])
    assert cp.returncode == 0, cp.stderr
    evs = wait_for(lambda: len(events_of(col, "App", t)) >= 3 and events_of(col, "App", t),
                   what="three events at the collector",
                   on_fail=lambda: fwd.log() + col.d.log())
    assert len(evs) == 3, evs
    levels = sorted(int(system(e, "Level")) for e in evs)
    assert levels == [2, 3, 4], evs
    assert all(system(e, "Channel") == "Application" for e in evs), evs


def fixed_port(col):
    """Restarts col on the port it got, written into its config, so that it
    can go down and come back where the forwarder looks for it."""
    port = col.d.port
    col.d.stop()
    text = col.conf.read_text().replace("Listen = http://127.0.0.1:0\n",
                                        f"Listen = http://127.0.0.1:{port}\n", 1)
    col.conf.write_text(text)
    col.start()
    assert col.d.port == port
    return port


def record_ids(col, log_file, t):
    return [int(system(e, "EventRecordID")) for e in events_of(col, log_file, t)]


def write_n(jd, t, start, n):
    for i in range(start, start + n):
        jd.logger("-t", t, "-p", "user.notice", f"event {i}")


def messages(col, log_file, t):
    return sorted(int(e["Message"].split()[-1]) for e in events_of(col, log_file, t))


# ---- delivery guarantees -------------------------------------------------------


def test_collector_down_then_up_delivers_everything_once(wsmd_factory, jd, tmp_path):
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App", max_items=4)})
    fixed_port(col)
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"App\"")
    t = tag()
    write_n(jd, t, 0, 6)
    wait_for(lambda: len(events_of(col, "App", t)) >= 6, what="the first 6 events",
             on_fail=fwd.log)
    # Stopped only once they are acknowledged: a collector that stops between
    # writing a batch and acknowledging it gets it again (its documented
    # duplicates); this test is about what the forwarder adds.
    wait_for(lambda: fwd.acked() >= 6, what="the Acks", on_fail=fwd.log)
    col.d.stop()
    write_n(jd, t, 6, 10)
    fwd.wait_log(r"event=forwarder-retry .*subscription=\"App\"")
    col.start()
    wait_for(lambda: len(events_of(col, "App", t)) >= 16, timeout=30,
             what="all 16 events after the collector came back", on_fail=fwd.log)
    time.sleep(0.5)  # nothing more may come: a duplicate would show here
    assert messages(col, "App", t) == list(range(16))
    ids = record_ids(col, "App", t)
    assert len(ids) == len(set(ids)) == 16


def test_restart_resumes_after_the_last_ack(wsmd_factory, jd, tmp_path):
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App")})
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"App\"")
    t = tag()
    write_n(jd, t, 0, 3)
    wait_for(lambda: len(events_of(col, "App", t)) >= 3, what="3 events", on_fail=fwd.log)
    wait_for(lambda: fwd.acked() >= 3, what="the Acks", on_fail=fwd.log)
    rc, _ = fwd.d.stop()
    assert rc == 0
    write_n(jd, t, 3, 4)  # while the forwarder is down
    assert list(fwd.state.joinpath("forwarder").glob("*.bookmark"))
    fwd.start()
    fwd.wait_log(r"event=forwarder-subscribed .*from=local-bookmark")
    wait_for(lambda: len(events_of(col, "App", t)) >= 7, what="the 4 written meanwhile",
             on_fail=fwd.log)
    # A reload (SIGHUP) leaves the forwarder as it is (its keys need a restart).
    os.kill(fwd.d.pid, signal.SIGHUP)
    fwd.wait_log(r"event=reload")
    write_n(jd, t, 7, 1)
    wait_for(lambda: len(events_of(col, "App", t)) >= 8, what="one after the reload",
             on_fail=fwd.log)
    time.sleep(0.5)
    assert messages(col, "App", t) == list(range(8))


def test_version_change_resubscribes_and_removal_ends(wsmd_factory, jd, tmp_path):
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App")})
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"App\"")
    t = tag()
    write_n(jd, t, 0, 2)
    wait_for(lambda: len(events_of(col, "App", t)) >= 2, what="2 events", on_fail=fwd.log)
    # Another batching: another Version, which the source must follow.
    (col.subs / "App.xml").write_text(sub_xml("App", max_items=7, latency_ms=200))
    os.kill(col.d.pid, signal.SIGHUP)  # the collector reads its subscriptions again
    fwd.wait_log(r"event=forwarder-resubscribe .*subscription=\"App\"")
    fwd.wait_log(r"event=forwarder-subscribed .*max_elements=7 max_time_ms=200")
    write_n(jd, t, 2, 2)
    wait_for(lambda: len(events_of(col, "App", t)) >= 4, what="events after resubscribing",
             on_fail=fwd.log)
    time.sleep(0.5)
    assert messages(col, "App", t) == list(range(4))
    # The subscription goes away: SubscriptionEnd, nothing more sent.
    (col.subs / "App.xml").unlink()
    os.kill(col.d.pid, signal.SIGHUP)
    fwd.wait_log(r"event=forwarder-unsubscribed .*subscription=\"App\"")
    write_n(jd, t, 4, 1)
    time.sleep(0.8)
    assert len(events_of(col, "App", t)) == 4


def test_heartbeats_when_idle(wsmd_factory, jd, tmp_path):
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App", heartbeat_ms=300)})
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    fwd.wait_log(r"event=forwarder-subscribed .*heartbeat_ms=300")
    import requests

    def heartbeats():
        text = requests.get(col.metrics_url, timeout=10).text
        m = re.search(r"^wsmd_collector_heartbeats_total(?:\{[^}]*\})? (\d+)", text, re.M)
        return int(m.group(1)) if m else 0
    wait_for(lambda: heartbeats() >= 2, what="two heartbeats", on_fail=fwd.log)


def test_read_existing_events_and_query(wsmd_factory, jd, tmp_path):
    """ReadExistingEvents: entries written before the forwarder started
    arrive; the subscription's query (Level) decides which."""
    t = tag()
    jd.logger("-t", t, "-p", "user.err", "old error")
    jd.logger("-t", t, "-p", "user.info", "old info")
    q = ("<QueryList><Query Id='0'><Select Path='Application'>"
         "*[System[(Level=1 or Level=2)]]</Select></Query></QueryList>")
    col = collector(wsmd_factory, tmp_path / "col",
                    {"Err": sub_xml("Err", q, read_existing=True)})
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    fwd.wait_log(r"event=forwarder-subscribed .*from=oldest")
    jd.logger("-t", t, "-p", "user.crit", "new critical")
    jd.logger("-t", t, "-p", "user.info", "new info")
    evs = wait_for(lambda: len(events_of(col, "Err", t)) >= 2 and events_of(col, "Err", t),
                   what="the two errors", on_fail=fwd.log)
    time.sleep(0.5)
    evs = events_of(col, "Err", t)
    assert sorted(e["Message"] for e in evs) == ["new critical", "old error"], evs


def test_bad_configuration_is_refused(tmp_path):
    for value, why in (("Refresh=60", "Server="), ("Server=ftp://x/y,Refresh=60", "Server="),
                       ("Server=http://x/y,Refresh=0", "Refresh"),
                       ("Server=http://x/y,Refresh=60,IssuerCA=AB", "IssuerCA"),
                       ("Server=http://x/y,Bogus=1", "unknown part")):
        conf = tmp_path / "bad.conf"
        conf.write_text(f"Listen = http://127.0.0.1:0\nEventForwarding = {value}\n")
        cp = subprocess.run([WSMD, "-c", str(conf)], capture_output=True, text=True, timeout=20)
        assert cp.returncode != 0 and why in cp.stderr, (value, cp.stderr)
    cred = tmp_path / "cred"
    cred.write_text("alice:pw\n")
    cred.chmod(0o644)
    conf = tmp_path / "bad.conf"
    conf.write_text("Listen = http://127.0.0.1:0\n"
                    "EventForwarding = Server=http://127.0.0.1:1/wsman/SubscriptionManager/WEC\n"
                    f"ForwarderCredentials = {cred}\n")
    cp = subprocess.run([WSMD, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert cp.returncode != 0 and "chmod 600" in cp.stderr, cp.stderr


# ---- HTTPS with a client certificate, Kerberos with message encryption ---------


def test_https_client_certificate(wsmd_factory, jd, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed")
    from test_client_cert import CA
    from test_https import https_port, make_cert
    server = make_cert(tmp_path / "server")
    ca = CA(tmp_path / "ca", "forwarder test CA")
    cert, key = ca.issue(tmp_path / "client", "fwd.wsmd.test")
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App")},
                    extra=f"Listen = https://127.0.0.1:0\nCertificateFile = {server.cert}\n"
                          f"KeyFile = {server.key}\nClientCAFile = {ca.cert}\n")
    port = https_port(col.d)
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, f"https://localhost:{port}",
                    auth_lines=f"ForwarderCertificate = {cert}\nForwarderKey = {key}\n"
                               f"ForwarderCAFile = {server.cert}\n",
                    extra="")
    # The GPO's form with IssuerCA= (the collector's CA for client certificates).
    text = fwd.conf.read_text().replace(",Refresh=1\n", f",Refresh=1,IssuerCA={ca.sha1}\n")
    fwd.conf.write_text(text)
    fwd.d.stop()
    fwd.start()
    fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"App\"")
    t = tag()
    jd.logger("-t", t, "-p", "user.warning", "over https")
    (ev,) = wait_for(lambda: events_of(col, "App", t), what="the event", on_fail=fwd.log)
    assert ev["Client"] == "fwd.wsmd.test" and int(system(ev, "Level")) == 3, ev
    assert "auth=certificate" in fwd.log()


def test_kerberos_machine_keytab_with_encryption(wsmd_factory, jd, tmp_path, kdc, monkeypatch):
    kdc.use_env(monkeypatch)
    principal, keytab = kdc.add_machine("fwd1")
    col = collector(wsmd_factory, tmp_path / "col", {"App": sub_xml("App")},
                    extra=f"Keytab = {kdc.keytab}\nServicePrincipal = {kdc.service}\n")
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, f"http://localhost:{col.d.port}",
                    auth_lines=f"ForwarderPrincipal = {principal}\n"
                               f"ForwarderKeytab = {keytab}\n")
    fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"App\"")
    t = tag()
    jd.logger("-t", t, "-p", "user.err", "over kerberos")
    (ev,) = wait_for(lambda: events_of(col, "App", t), what="the event",
                     on_fail=lambda: fwd.log() + col.d.log())
    assert ev["Client"] == principal, ev
    assert "auth=kerberos" in fwd.log()
    # Bodies came sealed (multipart/encrypted): the collector logs each
    # request it dispatches (the Enumerate; deliveries are parked for the
    # writers and logged by their outcome) with sealed=1.
    lines = [ln for ln in col.d.log().splitlines()
             if f"user={principal}" in ln and "action=http" in ln]
    assert lines and all("sealed=1" in ln for ln in lines), lines


# ---- on the wire, against a collector written here as Windows' writes it --------

WIN_ENUM = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" \
xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" \
xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" \
xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/subscription"><s:Header>\
<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action>\
<a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse>\
<n:EnumerationContext/><w:Items><m:Subscription><m:Version>uuid:{version}</m:Version>\
<s:Envelope xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><s:Header><w:OptionSet>\
<w:Option Name="SubscriptionName">WinSub</w:Option>{compression}\
<w:Option Name="ContentFormat">Raw</w:Option></w:OptionSet></s:Header><s:Body><e:Subscribe>\
<e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Events">\
<w:Heartbeats>PT3600.000S</w:Heartbeats><e:NotifyTo><a:Address>{notify}</a:Address>\
<a:ReferenceParameters><e:Identifier>{version}</e:Identifier></a:ReferenceParameters>\
</e:NotifyTo><w:MaxElements>3</w:MaxElements><w:MaxTime>PT0.300S</w:MaxTime>\
<w:MaxEnvelopeSize Policy="Notify">512000</w:MaxEnvelopeSize>\
<w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery><w:Filter \
Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery"><QueryList><Query Id="0">\
<Select Path="Application">*</Select></Query></QueryList></w:Filter><w:SendBookmarks/>\
</e:Subscribe></s:Body></s:Envelope></m:Subscription></w:Items><w:EndOfSequence/>\
</n:EnumerateResponse></s:Body></s:Envelope>"""

ACK = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" \
xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header>\
<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action>\
<a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body/></s:Envelope>"""


class WireCollector:
    """A minimal collector over plain HTTP: hands out one subscription as
    Windows' collector writes it, keeps every delivery as it came."""

    def __init__(self, sldc_on, ack=True):
        import http.server
        import threading
        import uuid
        self.sldc_on, self.ack = sldc_on, ack
        self.version = str(uuid.uuid4()).upper()
        self.deliveries = []
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self.headers.get("Authorization", "").startswith("Basic "):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", "Basic")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = outer.handle(self.path, dict(self.headers), body)
                data = reply.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, path, headers, body):
        import xml.etree.ElementTree as ET
        import sldc
        raw = body
        if headers.get("Content-Encoding", "").upper() == "SLDC":
            body = sldc.decompress(body)
        text = body.decode("utf-16") if body[:2] == b"\xff\xfe" else body.decode()
        root = ET.fromstring(text)
        mid = root.find(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}MessageID").text
        if path.endswith("/SubscriptionManager/WEC"):
            comp = '<w:Option Name="Compression">SLDC</w:Option>' if self.sldc_on else ""
            return WIN_ENUM.format(relates=mid, version=self.version, compression=comp,
                                   notify=f"{self.base}/wsman/subscriptions/ABC")
        with self.lock:
            self.deliveries.append({"headers": headers, "raw": raw, "text": text, "root": root})
        return ACK.format(relates=mid)

    def events(self):
        with self.lock:
            ds = list(self.deliveries)
        out = []
        for d in ds:
            for ev in d["root"].iter("{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}Event"):
                out.append(ev.text)
        return out

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("sldc_on", [True, False], ids=["sldc", "plain"])
def test_wire_format_utf16_sldc_on_and_off(wsmd_factory, jd, tmp_path, sldc_on):
    wc = WireCollector(sldc_on)
    try:
        fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, wc.base)
        fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"WinSub\" .*sldc=%d utf16=1"
                     % sldc_on)
        t = tag()
        for i in range(4):
            jd.logger("-t", t, "-p", "user.err", f"wire {i} ]]> <&>")
        wait_for(lambda: sum(t in e for e in wc.events()) >= 4, what="4 events",
                 on_fail=fwd.log)
        mine = [d for d in wc.deliveries if t in d["text"]]
        for d in mine:
            h = d["headers"]
            assert ("SLDC" in h.get("Content-Encoding", "")) == sldc_on, h
            assert "charset=UTF-16" in h["Content-Type"], h
            if not sldc_on:
                assert d["raw"][:2] == b"\xff\xfe"  # UTF-16LE with a BOM, as Windows
            # Events mode, the Identifier echoed, the bookmark (SendBookmarks).
            assert "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>" in d["text"]
            assert f">{wc.version}</Identifier>" in d["text"]
            assert "<w:Bookmark><BookmarkList>" in d["text"] and "<w:AckRequested/>" in d["text"]
        # MaxElements 3: the 4 events came in at least two batches.
        assert len(mine) >= 2 and max(d["text"].count("<w:Event ") for d in mine) <= 3
        import xml.etree.ElementTree as ET
        for e in [e for e in wc.events() if t in e]:
            ev = ET.fromstring(e)  # the event XML, intact through CDATA
            ns = "{http://schemas.microsoft.com/win/2004/08/events/event}"
            assert ev.find(f"{ns}System/{ns}Provider").get("Name") == t
            assert ev.find(f"{ns}RenderingInfo") is None  # ContentFormat Raw
            assert "]]> <&>" in ET.tostring(ev, encoding="unicode").replace("&gt;", ">") \
                .replace("&lt;", "<").replace("&amp;", "&")
    finally:
        wc.close()


def test_large_batches_bounded_by_the_envelope(wsmd_factory, jd, tmp_path):
    """Hundreds of entries at once: batches as large as MaxElements and
    MaxEnvelopeSize allow (UTF-16), every entry once."""
    t = tag()
    for i in range(600):
        jd.native([("MESSAGE", f"bulk {i} " + "x" * 200), ("SYSLOG_IDENTIFIER", t),
                   ("PRIORITY", "6")])

    def in_journal():
        cp = subprocess.run(["journalctl", "-D", jd.directory, "-q", "-o", "cat",
                             f"SYSLOG_IDENTIFIER={t}"], capture_output=True, text=True,
                            timeout=30)
        return cp.stdout.count("bulk ") >= 600
    # journald takes the datagrams in its own time (slowly on a loaded
    # machine): all 600 there first, so that the batches can be full.
    wait_for(in_journal, timeout=60, what="600 entries in the journal")
    col = collector(wsmd_factory, tmp_path / "col",
                    {"Bulk": sub_xml("Bulk", max_items=500, read_existing=True)})
    fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, col.base)
    wait_for(lambda: len(events_of(col, "Bulk", t)) >= 600, timeout=90, what="600 events",
             on_fail=fwd.log)
    msgs = sorted(int(e["Message"].split()[1]) for e in events_of(col, "Bulk", t))
    assert msgs == list(range(600))
    acked = [(int(n), int(b)) for n, b in re.findall(
        r"event=forwarder-acked .*? events=(\d+) heartbeat=0 bytes=(\d+)", fwd.log())]
    assert max(n for n, _ in acked) > 50, acked  # batched, not one by one
    assert sum(n for n, _ in acked) == 600, acked  # each batch acknowledged once
    assert max(b for _, b in acked) <= 512000, acked


def test_connection_retry_then_refresh(wsmd_factory, jd, tmp_path):
    """The Subscribe's ConnectionRetry (Total=2, PT0.4S): a collector that
    does not Ack gets the batch again within that interval, Total times;
    then the forwarder backs off to the Refresh interval (3 s), as Windows
    does, logging one line per state change (retrying, backoff, delivering
    when the collector Acks again); the batch is kept, nothing lost."""
    import time as _time

    class Refusing(WireCollector):
        refusing = True
        attempts = []

        def handle(self, path, headers, body):
            if path.endswith("/SubscriptionManager/WEC"):
                reply = super().handle(path, headers, body)
                return reply.replace("</e:NotifyTo>", "</e:NotifyTo><w:ConnectionRetry "
                                     'Total="2">PT0.4S</w:ConnectionRetry>')
            if self.refusing:
                self.attempts.append(_time.monotonic())
                return ACK.format(relates="uuid:not-this-one")  # not an Ack of it
            return super().handle(path, headers, body)

    wc = Refusing(False)
    try:
        fwd = Forwarder(wsmd_factory, tmp_path / "fwd", jd, wc.base, refresh=3)
        fwd.wait_log(r"event=forwarder-subscribed .*subscription=\"WinSub\"")
        t = tag()
        write_n(jd, t, 0, 2)
        fwd.wait_log(r"event=forwarder-delivery-state .*state=backoff", timeout=20)
        log = fwd.log()
        assert len(re.findall(r"state=retrying", log)) == 1, log
        assert re.search(r"state=backoff failures=\d+ connection_retry=2 retry_ms=3000", log), log
        n = len(wc.attempts)
        assert n >= 3, wc.attempts  # the first send and Total retries
        gaps = [b - a for a, b in zip(wc.attempts, wc.attempts[1:])]
        assert all(g < 2.0 for g in gaps), gaps  # within ConnectionRetry: not Refresh
        # Backing off: the next attempt only after the Refresh interval.
        wait_for(lambda: len(wc.attempts) > n, timeout=10, what="the attempt after Refresh")
        assert wc.attempts[n] - wc.attempts[n - 1] >= 2.5, wc.attempts
        wc.refusing = False
        wait_for(lambda: sum(t in e for e in wc.events()) >= 2, timeout=10,
                 what="the batch once Acked", on_fail=fwd.log)
        fwd.wait_log(r"event=forwarder-delivery-state .*state=delivering")
        assert messages_of(wc, t) == [0, 1]
    finally:
        wc.close()


def messages_of(wc, t):
    return [int(re.search(r"event (\d+)<", e).group(1)) for e in wc.events() if t in e]
