"""CollectorInitiated subscriptions (src/collector/dialer.c,
docs/internals/subscriptions.md "CollectorInitiated"): wsmd's collector
Subscribes to the event sources its subscription file names and Pulls their
events into its outputs and state, as Windows' collector does. Two real
wsmd processes on loopback: the source reads a journald of the test's own
(journald.py), entries written with logger and systemd-cat; the collector's
JSON Lines output, its log, `wecutil gr` and the source's log are read back."""

import os
import pwd
import re
import secrets
import signal
import time
from pathlib import Path

import pytest
import requests

import journald
from cluster_helpers import free_port
from collector_helpers import SUB_NS, Collector, events_body, subscription_xml
from conftest import user_add
from test_forwarder import wait_for as _wait_for
from wsman_helpers import PASSWORD, USER


EV_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


@pytest.fixture
def jd(tmp_path):
    why = journald.usable()
    if why:
        pytest.skip(why)
    j = journald.Journald(tmp_path)
    yield j
    j.stop()


def wait_for(pred, timeout=30.0, **kw):
    return _wait_for(pred, timeout, **kw)


class Source:
    """A wsmd serving the test's journal as the event log resource."""

    def __init__(self, factory, path, jd, port):
        self.factory = factory
        self.dir = Path(path)
        self.dir.mkdir(exist_ok=True)
        users = self.dir / "users"
        user_add(users, USER, PASSWORD)
        self.conf = self.dir / "src.conf"
        self.conf.write_text(f"Listen = http://127.0.0.1:{port}\nUsers = {users}\n"
                             f"JournalDirectory = {jd.directory}\nStateDir = {self.dir / 'state'}\n")
        self.d = None

    def start(self):
        self.d = self.factory("-c", str(self.conf))
        return self

    def log(self):
        return self.d.log() if self.d else ""


def ci_xml(sub_id, address, tag, *, password=PASSWORD, enabled=True, read_existing=False,
           source_enabled=True, max_items=50, mode="Pull", heartbeat_ms=60000):
    query = (f"<QueryList><Query Id='0'><Select Path='Application'>"
             f"*[System[Provider[@Name='{tag}']]]</Select></Query></QueryList>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Subscription xmlns="{SUB_NS}">
  <SubscriptionId>{sub_id}</SubscriptionId>
  <SubscriptionType>CollectorInitiated</SubscriptionType>
  <Description>pulled from a wsmd source</Description>
  <Enabled>{"true" if enabled else "false"}</Enabled>
  <Uri>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</Uri>
  <ConfigurationMode>Custom</ConfigurationMode>
  <Delivery Mode="{mode}">
    <Batching><MaxItems>{max_items}</MaxItems><MaxLatencyTime>500</MaxLatencyTime></Batching>
    <PushSettings><Heartbeat Interval="{heartbeat_ms}"/></PushSettings>
  </Delivery>
  <Query><![CDATA[{query}]]></Query>
  <ReadExistingEvents>{"true" if read_existing else "false"}</ReadExistingEvents>
  <TransportName>HTTP</TransportName>
  <ContentFormat>RenderedText</ContentFormat>
  <LogFile>{sub_id}</LogFile>
  <CredentialsType>Basic</CredentialsType>
  <CommonUserName>{USER}</CommonUserName>
  <CommonPassword>{password}</CommonPassword>
  <EventSources>
    <EventSource Enabled="{"true" if source_enabled else "false"}">
      <Address>{address}</Address>
    </EventSource>
  </EventSources>
</Subscription>
"""


def write_secret(path, text):
    """A file with a password: readable by the collector's network process
    (the wsmd account when run as root) and nobody else."""
    path.write_text(text)
    path.chmod(0o600)
    if os.geteuid() == 0:
        try:
            os.chown(path, pwd.getpwnam("wsmd").pw_uid, -1)
        except KeyError:
            pass


def collector(factory, path, files):
    path = Path(path)
    (path / "subs").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_secret(path / "subs" / f"{name}.xml", text)
    return Collector(factory, path, subs={"Sec": subscription_xml("Sec")},
                     extra="LogLevel = debug\n")


def records(col, log_file, tag):
    out = []
    for e in col.jsonl(log_file):
        s = e.get("System", e)
        p = s.get("Provider")
        if (p.get("Name") if isinstance(p, dict) else p) == tag:
            out.append(e)
    return out


def gr(col, name):
    return col.wecutil("gr", name).stdout


def source_status(text, address):
    m = re.search(re.escape(address) + r"\n\t\tRunTimeStatus: (\w+)\n\t\tLastError: (.*)\n", text)
    return (m.group(1), m.group(2)) if m else (None, None)


def test_pull_exactly_once_and_resume_after_restart(wsmd_factory, jd, tmp_path):
    port = free_port()
    src = Source(wsmd_factory, tmp_path / "src", jd, port).start()
    tag = "ci" + secrets.token_hex(3)
    addr = f"127.0.0.1:{port}"
    col = collector(wsmd_factory, tmp_path / "col", {"Pulled": ci_xml("Pulled", addr, tag)})
    wait_for(lambda: "event=collector-dial-subscribed" in col.d.log(), what="subscribed",
             on_fail=col.d.log)
    assert "from=now" in col.d.log()
    for i in range(5):
        jd.logger("-t", tag, "-p", "user.err", f"first {i}")
    cp = jd.in_ns(["systemd-cat", "-t", tag, "-p", "warning"], input_text="from systemd-cat\n")
    assert cp.returncode == 0, cp.stderr
    evs = wait_for(lambda: len(records(col, "Pulled", tag)) >= 6 and records(col, "Pulled", tag),
                   what="6 events in the collector's output", on_fail=col.d.log)
    time.sleep(1.0)  # (a short while in which a repeat would show)
    evs = records(col, "Pulled", tag)
    assert len(evs) == 6
    ids = [e.get("EventRecordID") for e in evs]
    assert len(set(ids)) == 6, ids
    assert all(e.get("Subscription") == "Pulled" and e.get("Client") == addr for e in evs)
    # The contract of issue 11: err is Level 2, warning 3, Provider the tag.
    assert sorted(str(e.get("Level")) for e in evs) == ["2"] * 5 + ["3"], evs[0]
    out = gr(col, "Pulled")
    assert source_status(out, addr) == ("Active", "0"), out
    assert "Events: 6" in out and "<BookmarkList" in out, out
    # Pulled events count in /metrics as pushed ones do.
    m = requests.get(col.metrics_url, timeout=10).text
    assert re.search(r"^wsmd_collector_events_total 6$", m, re.M), m

    # The collector stops (it Unsubscribes); events written meanwhile are
    # read after its restart from the stored bookmark: none lost, none twice.
    col.d.stop()
    assert "eventsource-unsubscribe" in wait_for(
        lambda: "eventsource-unsubscribe" in src.log() and src.log(), what="unsubscribe at stop")
    for i in range(4):
        jd.logger("-t", tag, "-p", "user.info", f"second {i}")
    col.start()
    wait_for(lambda: len(records(col, "Pulled", tag)) >= 10, what="10 events after the restart",
             on_fail=col.d.log)
    assert "from=bookmark" in col.d.log()
    time.sleep(1.0)
    evs = records(col, "Pulled", tag)
    msgs = [e.get("Message") for e in evs]
    assert len(evs) == 10, msgs
    assert len({e.get("EventRecordID") for e in evs}) == 10
    assert [m for m in msgs if m and m.startswith("second")] == [f"second {i}" for i in range(4)]


def test_source_down_then_up(wsmd_factory, jd, tmp_path):
    port = free_port()
    tag = "cd" + secrets.token_hex(3)
    addr = f"127.0.0.1:{port}"
    col = collector(wsmd_factory, tmp_path / "col",
                    {"Later": ci_xml("Later", addr, tag, read_existing=True)})
    out = wait_for(lambda: (lambda o: source_status(o, addr)[0] == "Trying" and
                            source_status(o, addr)[1] != "0" and o)(gr(col, "Later")),
                   what="Trying with an error", on_fail=col.d.log)
    assert "Pull" in out or "Subscribe" in out, out
    for i in range(3):
        jd.logger("-t", tag, "-p", "user.err", f"while down {i}")
    src = Source(wsmd_factory, tmp_path / "src", jd, port).start()
    # ReadExistingEvents: what the journal held before the source came up.
    wait_for(lambda: len(records(col, "Later", tag)) >= 3, timeout=40, what="3 events",
             on_fail=col.d.log)
    assert "from=oldest" in col.d.log()
    assert source_status(gr(col, "Later"), addr)[0] == "Active"
    time.sleep(0.5)
    assert len(records(col, "Later", tag)) == 3
    # The source stops while the collector Pulls in a loop: it stops cleanly
    # (a Pull that arrives during its shutdown is answered, not parked past
    # the listeners: httppark.c), and the collector retries.
    rc, log = src.d.stop()
    assert rc == 0, log
    wait_for(lambda: source_status(gr(col, "Later"), addr)[0] in ("Trying", "Inactive"),
             what="Trying after the source stopped", on_fail=col.d.log)


def test_wrong_password_is_inactive_with_the_reason(wsmd_factory, jd, tmp_path):
    port = free_port()
    src = Source(wsmd_factory, tmp_path / "src", jd, port).start()
    addr = f"127.0.0.1:{port}"
    col = collector(wsmd_factory, tmp_path / "col",
                    {"Bad": ci_xml("Bad", addr, "x", password="not-the-password")})
    out = wait_for(lambda: (lambda o: source_status(o, addr)[0] == "Inactive" and o)(
        gr(col, "Bad")), what="Inactive", on_fail=col.d.log)
    status, err = source_status(out, addr)
    assert "Subscribe" in err and ("401" in err or "auth" in err.lower()
                                   or "denied" in err.lower()), out
    assert "NextRetryTime: 2" in out, out
    # No password in any log or in wecutil's answers.
    for text in (col.d.log(), src.log(), out, col.wecutil("gs", "Bad").stdout,
                 col.wecutil("gs", "Bad", "/f:xml").stdout):
        assert "not-the-password" not in text and PASSWORD not in text


def test_disable_unsubscribes_and_enable_resumes(wsmd_factory, jd, tmp_path):
    port = free_port()
    src = Source(wsmd_factory, tmp_path / "src", jd, port).start()
    tag = "cx" + secrets.token_hex(3)
    addr = f"127.0.0.1:{port}"
    col = collector(wsmd_factory, tmp_path / "col", {"Toggle": ci_xml("Toggle", addr, tag)})
    wait_for(lambda: "event=collector-dial-subscribed" in col.d.log(), what="subscribed",
             on_fail=col.d.log)
    jd.logger("-t", tag, "-p", "user.err", "before")
    wait_for(lambda: len(records(col, "Toggle", tag)) == 1, what="1 event", on_fail=col.d.log)
    path = col.subs / "Toggle.xml"
    mode = path.stat().st_mode & 0o777
    col.wecutil("ss", "Toggle", "/e:false")
    # wecutil kept the file's mode (it holds a password): still loadable.
    assert path.stat().st_mode & 0o777 == mode
    wait_for(lambda: "eventsource-unsubscribe" in src.log(), what="Unsubscribe at the source",
             on_fail=lambda: col.d.log() + src.log())
    assert "event=collector-dial-stopped" in col.d.log()
    assert source_status(gr(col, "Toggle"), addr)[0] == "Disabled"
    jd.logger("-t", tag, "-p", "user.err", "while disabled")
    col.wecutil("ss", "Toggle", "/e:true")
    wait_for(lambda: len(records(col, "Toggle", tag)) >= 2, what="the event written meanwhile",
             on_fail=col.d.log)
    assert [e.get("Message") for e in records(col, "Toggle", tag)] == ["before", "while disabled"]
    # The source disabled in the file, then SIGHUP: hung up on as well; and
    # enabled again, dialed again.
    n = src.log().count("eventsource-unsubscribe")
    write_secret(path, ci_xml("Toggle", addr, tag, source_enabled=False))
    os.kill(col.d.pid, signal.SIGHUP)
    wait_for(lambda: src.log().count("eventsource-unsubscribe") > n, what="Unsubscribe on SIGHUP")
    assert source_status(gr(col, "Toggle"), addr)[0] == "Disabled"
    k = col.d.log().count("event=collector-dial-subscribed")
    write_secret(path, ci_xml("Toggle", addr, tag))
    os.kill(col.d.pid, signal.SIGHUP)
    wait_for(lambda: col.d.log().count("event=collector-dial-subscribed") > k, what="dialed again")
    # Deleted: the dialer Unsubscribes again.
    n = src.log().count("eventsource-unsubscribe")
    col.wecutil("ds", "Toggle")
    wait_for(lambda: src.log().count("eventsource-unsubscribe") > n, what="Unsubscribe on ds")


def test_push_mode_source_delivers_to_the_collector(wsmd_factory, jd, tmp_path):
    """Delivery Mode Push: the collector Subscribes with NotifyTo = its own
    /wsman/subscriptions/<id>; the source pushes batches there with the
    credentials it was given (Basic), and they take the durable path of
    pushed events."""
    port = free_port()
    src = Source(wsmd_factory, tmp_path / "src", jd, port).start()
    tag = "cp" + secrets.token_hex(3)
    addr = f"127.0.0.1:{port}"
    col = collector(wsmd_factory, tmp_path / "col",
                    {"Pushed": ci_xml("Pushed", addr, tag, mode="Push", heartbeat_ms=1000)})
    wait_for(lambda: "mode=Push notify_to=" in col.d.log(), what="subscribed in Push mode",
             on_fail=col.d.log)
    assert "/wsman/subscriptions/Pushed" in col.d.log()
    assert "user=alice mode=Events" in src.log()  # batches, as Windows' sources send
    for i in range(3):
        jd.logger("-t", tag, "-p", "user.err", f"pushed {i}")
    wait_for(lambda: len(records(col, "Pushed", tag)) >= 3, what="3 pushed events",
             on_fail=lambda: col.d.log() + src.log())
    evs = records(col, "Pushed", tag)
    assert [e.get("Message") for e in evs] == [f"pushed {i}" for i in range(3)]
    assert all(e.get("Client") == addr for e in evs)
    # The source's heartbeats reach the row of this source.
    wait_for(lambda: "Heartbeat" in col.d.log() or "heartbeat" in src.log().lower(), timeout=10)
    out = gr(col, "Pushed")
    assert source_status(out, addr) == ("Active", "0"), out
    assert "Events: 3" in out and "<BookmarkList" in out, out
    # A delivery must come from a source of the subscription, as the user
    # the collector gave it: another Address, or another user, is refused
    # and writes nothing.
    path = "/wsman/subscriptions/Pushed"
    for who, source in ((("bob", "bob-pw-1"), addr), ((USER, PASSWORD), "10.9.9.9:5985")):
        _, body = events_body(col.base + path, [f"<Event xmlns='{EV_NS}'/>"])
        body = body.replace("<w:AckRequested/>", f"<w:AckRequested/><wsmd:Source xmlns:wsmd="
                            f"'urn:wsmd:subscription'>{source}</wsmd:Source>")
        r = col.post(path, body, auth=who)
        assert r.status_code >= 400 and "Ack" not in r.text, (who, source, r.text)
    assert "not an event source of this subscription" in col.d.log()
    assert len(records(col, "Pushed", tag)) == 3
    # Stopped, the collector Unsubscribes; restarted, it Subscribes again from
    # the bookmark the deliveries stored, and what was written meanwhile comes.
    col.d.stop()
    wait_for(lambda: "eventsource-unsubscribe" in src.log(), what="Unsubscribe at stop")
    jd.logger("-t", tag, "-p", "user.err", "while down")
    col.start()
    wait_for(lambda: len(records(col, "Pushed", tag)) >= 4, what="the event written meanwhile",
             on_fail=lambda: col.d.log() + src.log())
    assert "mode=Push notify_to=" in col.d.log() and "from=bookmark" in col.d.log()
    time.sleep(0.5)
    assert [e.get("Message") for e in records(col, "Pushed", tag)] == \
        [f"pushed {i}" for i in range(3)] + ["while down"]


def test_password_file_readable_by_others_is_refused(wsmd_factory, tmp_path):
    col = collector(wsmd_factory, tmp_path / "col", {})
    p = col.subs / "Open.xml"
    p.write_text(ci_xml("Open", "127.0.0.1:1", "x"))
    p.chmod(0o644)
    col.wecutil("rs", "Sec")
    wait_for(lambda: "holds a password and others can read" in col.d.log(), what="refusal")
    assert col.wecutil("gr", "Open", check=False).returncode != 0
    # wecutil cs of a file with a password writes it 0640 with the folder's
    # group (here the daemon account's), so it loads.
    if os.geteuid() == 0:
        try:
            os.chown(col.subs, -1, pwd.getpwnam("wsmd").pw_gid)
        except KeyError:
            pass
    given = tmp_path / "Created.xml"
    given.write_text(ci_xml("Created", "127.0.0.1:1", "x"))
    given.chmod(0o644)
    col.wecutil("cs", str(given))
    made = col.subs / "Created.xml"
    assert made.stat().st_mode & 0o777 == 0o640
    assert made.stat().st_gid == col.subs.stat().st_gid
    assert "EventSource[0]:\n\tAddress: 127.0.0.1:1" in col.wecutil("gs", "Created").stdout
    # A malformed source is refused with the element named.
    bad = ci_xml("Bad", "http://u:p@h/x y", "x")
    write_secret(col.subs / "Bad.xml", bad)
    col.wecutil("rs", "Sec")
    wait_for(lambda: "EventSource Address" in col.d.log(), what="bad Address refused")
