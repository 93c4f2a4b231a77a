"""The forwarder (src/forwarder; docs/internals/forwarder.md): a wsmd with
EventForwarding pushes its journal into a collector as a Windows source
under the GPO does, against real peers: wsmd's own collector (a second
wsmd with Subscriptions, collector_helpers.py) and a journald of the test's
own (journald.py). Entries are written with logger, systemd-cat and
`wsmd eventcreate` and read back from the collector's JSONL output."""

import json
import os
import re
import time
from pathlib import Path

import pytest

import journald
from collector_helpers import GPO_PATH, SUB_NS, Collector
from conftest import REPO_ROOT
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
            + auth_lines + extra)
        self.d = None
        self.start()

    def start(self):
        self.d = self.factory("-c", str(self.conf))
        return self.d

    def log(self):
        return self.d.log()

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
