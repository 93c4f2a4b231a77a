"""The event source in Pull mode (issue 11's Contract; docs/internals/eventlog.md).

A real wsmd reads a real journal: a systemd-journald of the test's own, in a
journal namespace (tests/interop/journald.py, shared with test_evsrc.py), given
to wsmd as JournalDirectory. Entries are written the way programs write them:
`logger -t NAME -p PRIO` (syslog, through the namespace's dev-log),
`systemd-cat -t NAME -p PRIO` (a stream, in a mount namespace where the
namespace's sockets are the default ones), and native datagrams as
sd_journal_send writes them.

The subscriber is raw SOAP (http.client) and pywinrm's transport
(winrm.Protocol.send_message, which takes any XML): Subscribe with Delivery
Mode Pull and an eventquery QueryList answers an EnumerationContext; Pull
returns the matching events in the Windows event schema, with Provider Name
and Level. Then the faults, the owner binding, the quota, Renew / GetStatus /
Unsubscribe, and a restart of wsmd that resumes after the last bookmark.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from wsman_helpers import PASSWORD, USER, new_message_id, parse_fault, post

EV = "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
EN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
EVENTLOG = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
PULL_MODE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"
EVQUERY = "http://schemas.microsoft.com/win/2004/08/events/eventquery"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
NSX = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "ev": EVENT_NS,
}
BOB = ("bob", "bob-pw-2")


def wait_until(cond, timeout, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


# ---- a journald of the test's own (tests/interop/journald.py) ----------------

class Journal:
    """The shared Journald, with the writers these tests use."""

    def __init__(self, jd):
        self.jd = jd
        self.dir = jd.directory

    def logger(self, ident, prio, msg):
        self.jd.logger("-t", ident, "-p", f"user.{prio}", msg)

    def native(self, **fields):
        self.jd.native(list(fields.items()))

    def cat(self, ident, prio, msg):
        """systemd-cat -t ident -p prio, unchanged, its stream to this journal
        (a private mount namespace: Journald.in_ns)."""
        cp = self.jd.in_ns(["systemd-cat", "-t", ident, "-p", prio], input_text=msg + "\n")
        return cp.returncode == 0


@pytest.fixture
def journal(tmp_path):
    from journald import Journald, usable
    why = usable()
    if why:
        pytest.skip(why)
    jd = Journald(tmp_path)
    yield Journal(jd)
    jd.stop()


@pytest.fixture
def evd(wsmd_factory, users_file, journal, tmp_path):
    """wsmd reading the test's journal; alice and bob may subscribe."""
    from conftest import user_add
    user_add(users_file, *BOB)
    state = tmp_path / "state"
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nUsers = {users_file}\n"
                    f"JournalDirectory = {journal.dir}\nStateDir = {state}\n"
                    "MaxSubscriptionsPerUser = 3\n")

    def start():
        d = wsmd_factory("-c", str(conf))
        d.journal = journal
        d.state = state
        return d

    d = start()
    d.restart = start
    return d


# ---- SOAP -------------------------------------------------------------------

def envelope(d, action, body, headers="", timeout="PT10S", mid=None):
    return (
        f'<s:Envelope xmlns:s="{NSX["s"]}" xmlns:a="{NSX["a"]}" xmlns:w="{NSX["w"]}" '
        f'xmlns:e="{NSX["e"]}" xmlns:n="{NSX["n"]}"><s:Header>'
        f"<a:To>{d.url}</a:To>"
        f'<a:ReplyTo><a:Address s:mustUnderstand="true">'
        f"http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
        f'<w:ResourceURI s:mustUnderstand="true">{EVENTLOG}</w:ResourceURI>'
        f"<a:MessageID>{mid or new_message_id()}</a:MessageID>"
        f'<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        f"<w:OperationTimeout>{timeout}</w:OperationTimeout>"
        f"{headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>")


def call(d, action, body, auth=(USER, PASSWORD), **kw):
    timeout = kw.pop("http_timeout", 30)
    return post(d.port, body=envelope(d, action, body, **kw), auth=auth, timeout=timeout)


def query(path="Application", select="*"):
    return (f'<QueryList><Query Id="0"><Select Path="{path}">{select}</Select>'
            f"</Query></QueryList>")


def subscribe_body(q=None, mode=PULL_MODE, extra="", dialect=EVQUERY):
    return (f'<e:Subscribe><e:Delivery Mode="{mode}"/>{extra}'
            f'<w:Filter Dialect="{dialect}">{q or query()}</w:Filter></e:Subscribe>')


def subscribe(d, q=None, extra="", auth=(USER, PASSWORD), headers=""):
    r = call(d, EV + "Subscribe", subscribe_body(q, extra=extra), auth=auth, headers=headers)
    assert r.status == 200, r
    root = ET.fromstring(r.body)
    resp = root.find("s:Body/e:SubscribeResponse", NSX)
    assert resp is not None, r
    ctx = resp.find("n:EnumerationContext", NSX).text
    ident = resp.find("e:SubscriptionManager/a:ReferenceParameters/e:Identifier", NSX).text
    return ident, ctx, root


def pull_req(d, ctx, max_elements=50, max_time="PT5S", auth=(USER, PASSWORD)):
    body = (f"<n:Pull><n:EnumerationContext>{ctx}</n:EnumerationContext>"
            f"<n:MaxTime>{max_time}</n:MaxTime>"
            f"<n:MaxElements>{max_elements}</n:MaxElements></n:Pull>")
    return call(d, EN + "Pull", body, auth=auth)


def events_of(reply):
    root = ET.fromstring(reply.body)
    items = root.find("s:Body/n:PullResponse/n:Items", NSX)
    assert items is not None, reply
    return root, items.findall("ev:Event", NSX)


def pull_until(d, ctx, want, timeout=15, auth=(USER, PASSWORD)):
    """Pulls until want(events so far) holds; returns (events, last root)."""
    got, root = [], None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pull_req(d, ctx, max_time="PT2S", auth=auth)
        if r.status == 500 and parse_fault(r).subcode == "w:TimedOut":
            if want(got):
                break
            continue
        assert r.status == 200, r
        root, evs = events_of(r)
        got += evs
        if want(got):
            break
    return got, root


def provider(ev):
    p = ev.find("ev:System/ev:Provider", NSX)
    return p.get("Name") if p is not None else None


def level(ev):
    lv = ev.find("ev:System/ev:Level", NSX)
    return int(lv.text) if lv is not None else None


def id_header(ident):
    return f"<e:Identifier>{ident}</e:Identifier>"


def fault_of(r):
    assert r.status >= 400, r
    return parse_fault(r)


# ---- the Contract -------------------------------------------------------------

def test_subscribe_pull_contract(evd):
    """Subscribe (Pull, eventquery) answers an EnumerationContext; Pull returns
    what programs wrote, as Windows events in channel Application with Provider
    Name and Level from the priority (err 2, warning 3, info/notice 4)."""
    tag = secrets.token_hex(3)
    evd.journal.logger(f"before{tag}", "err", "written before the subscription")
    ident, ctx, root = subscribe(evd)
    assert ctx.startswith("uuid:") and ident.startswith("uuid:") and ctx != ident
    mgr = root.find("s:Body/e:SubscribeResponse/e:SubscriptionManager", NSX)
    assert mgr.find("a:Address", NSX).text == evd.url
    assert mgr.find("a:ReferenceParameters/w:ResourceURI", NSX).text == EVENTLOG

    names = {f"err{tag}": 2, f"warn{tag}": 3, f"info{tag}": 4, f"notice{tag}": 4}
    for name, prio in (("err", "err"), ("warn", "warning"), ("info", "info"),
                       ("notice", "notice")):
        evd.journal.logger(f"{name}{tag}", prio, f"{name} message {tag}")
    evs, _ = pull_until(evd, ctx, lambda g: {provider(e) for e in g} >= set(names))
    seen = {provider(e): level(e) for e in evs}
    for name, lv in names.items():
        assert seen.get(name) == lv, (name, seen)
    assert f"before{tag}" not in seen  # only what came after the Subscribe
    for e in evs:
        ch = e.find("ev:System/ev:Channel", NSX)
        assert ch is not None and ch.text == "Application", ET.tostring(e)


def test_systemd_cat_and_native(evd):
    tag = secrets.token_hex(3)
    _, ctx, _ = subscribe(evd, q=query(select=f"*[System[Provider[@Name='cat{tag}' or "
                                              f"@Name='nat{tag}']]]"))
    if not evd.journal.cat(f"cat{tag}", "err", "from systemd-cat"):
        pytest.skip("cannot bind the namespace's sockets for systemd-cat here")
    evd.journal.native(MESSAGE="from sd_journal_send", PRIORITY="4",
                       SYSLOG_IDENTIFIER=f"nat{tag}")
    evd.journal.logger(f"other{tag}", "err", "filtered out")
    evs, _ = pull_until(evd, ctx, lambda g: len(g) >= 2)
    seen = {provider(e): level(e) for e in evs}
    assert seen == {f"cat{tag}": 2, f"nat{tag}": 3}, seen


def test_pull_waits_and_times_out(evd):
    """A Pull with nothing to read waits (MaxTime), then answers w:TimedOut and
    the context stays; one that waits is answered when an entry comes."""
    tag = secrets.token_hex(3)
    _, ctx, _ = subscribe(evd)
    t0 = time.monotonic()
    r = pull_req(evd, ctx, max_time="PT0.5S")
    took = time.monotonic() - t0
    f = fault_of(r)
    assert f.subcode == "w:TimedOut" and f.wsman_code == "2150858793", f
    assert 0.4 <= took < 5, took

    import threading
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", pull_req(evd, ctx, max_time="PT20S")))
    t0 = time.monotonic()
    th.start()
    th.join(0.5)
    assert th.is_alive()  # the Pull waits (parked) for the entry below
    evd.journal.logger(f"late{tag}", "warning", "wakes the pull")
    th.join(25)
    assert not th.is_alive()
    took = time.monotonic() - t0
    r = out["r"]
    assert r.status == 200, r
    _, evs = events_of(r)
    assert [provider(e) for e in evs] == [f"late{tag}"]
    assert took < 10, took


def test_max_elements_and_bookmark_header(evd):
    tag = secrets.token_hex(3)
    _, ctx, _ = subscribe(evd, extra="<w:SendBookmarks/>",
                          q=query(select=f"*[System[Provider[@Name='mx{tag}']]]"))
    for i in range(5):
        evd.journal.logger(f"mx{tag}", "info", f"number {i}")
    got = []
    end = time.monotonic() + 15
    while len(got) < 5 and time.monotonic() < end:
        r = pull_req(evd, ctx, max_elements=2, max_time="PT2S")
        if r.status != 200:
            assert parse_fault(r).subcode == "w:TimedOut", r
            continue
        root, evs = events_of(r)
        assert 1 <= len(evs) <= 2
        bm = root.find("s:Header/w:Bookmark", NSX)
        assert bm is not None and len(bm) == 1, r  # a BookmarkList, as Windows sends
        got += evs
    assert len(got) == 5
    msgs = [ET.tostring(e, encoding="unicode") for e in got]
    for i in range(5):
        assert f"number {i}" in msgs[i], msgs[i]


def test_pywinrm_transport(evd):
    """pywinrm's transport carries the same envelopes (winrm.Protocol.send_message)."""
    winrm = pytest.importorskip("winrm")
    tag = secrets.token_hex(3)
    p = winrm.Protocol(endpoint=evd.url, transport="basic", username=USER, password=PASSWORD)
    resp = p.send_message(envelope(evd, EV + "Subscribe", subscribe_body(
        q=query(select=f"*[System[Provider[@Name='py{tag}']]]"))))
    root = ET.fromstring(resp)
    ctx = root.find("s:Body/e:SubscribeResponse/n:EnumerationContext", NSX).text
    evd.journal.logger(f"py{tag}", "err", "through pywinrm")
    body = (f"<n:Pull><n:EnumerationContext>{ctx}</n:EnumerationContext>"
            f"<n:MaxTime>PT10S</n:MaxTime><n:MaxElements>5</n:MaxElements></n:Pull>")
    resp = p.send_message(envelope(evd, EN + "Pull", body, timeout="PT15S"))
    evs = ET.fromstring(resp).findall("s:Body/n:PullResponse/n:Items/ev:Event", NSX)
    assert [provider(e) for e in evs] == [f"py{tag}"]
    assert level(evs[0]) == 2


# ---- faults -------------------------------------------------------------------

def test_faults(evd):
    cases = [
        (subscribe_body(dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL",
                        q="SELECT * FROM Win32_NTLogEvent"),
         "e:FilteringRequestedUnavailable", "2150858786"),
        (subscribe_body(mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Nothing"),
         "e:DeliveryModeRequestedUnavailable", "2150858782"),
        (subscribe_body(extra="<e:Expires>PT0S</e:Expires>"),
         "e:InvalidExpirationTime", "2150858783"),
        (subscribe_body(extra="<e:Expires>2001-01-01T00:00:00Z</e:Expires>"),
         "e:InvalidExpirationTime", "2150858783"),
        (subscribe_body(extra="<e:Expires>tomorrow</e:Expires>"),
         "e:InvalidExpirationTime", "2150858783"),
        (subscribe_body(q="<QueryList><Query><Select Path='Application'>*[System["
                          "</Select></Query></QueryList>"),
         "w:CannotProcessFilter", None),
        (subscribe_body(extra="<w:Bookmark><BookmarkList><Bookmark Channel='x' "
                              "RecordId='zz'/></BookmarkList></w:Bookmark>"),
         "w:InvalidBookmark", "2150858808"),
    ]
    for body, sub, code in cases:
        f = fault_of(call(evd, EV + "Subscribe", body))
        assert f.subcode == sub, (body, f)
        if code:
            assert f.wsman_code == code, (body, f)
    f = fault_of(pull_req(evd, "uuid:" + str(uuid.uuid4()).upper()))
    assert f.subcode == "n:InvalidEnumerationContext", f
    f = fault_of(call(evd, EV + "GetStatus", "<e:GetStatus/>",
                      headers=id_header("uuid:" + str(uuid.uuid4()))))
    assert f.subcode == "e:InvalidMessage", f
    assert "event=eventsource-subscribe" not in evd.log()


def test_another_users_subscription(evd):
    """bob is told about alice's subscription exactly what he is told about one
    that does not exist."""
    ident, ctx, _ = subscribe(evd)
    nobody = "uuid:" + str(uuid.uuid4()).upper()
    for key_ctx, key_id in ((ctx, ident), (nobody, nobody)):
        f = fault_of(pull_req(evd, key_ctx, max_time="PT0.2S", auth=BOB))
        assert f.subcode == "n:InvalidEnumerationContext", f
        f = fault_of(call(evd, EV + "GetStatus", "<e:GetStatus/>", auth=BOB,
                          headers=id_header(key_id)))
        assert f.subcode == "e:InvalidMessage", f
        f = fault_of(call(evd, EV + "Unsubscribe", "<e:Unsubscribe/>", auth=BOB,
                          headers=id_header(key_id)))
        assert f.subcode == "e:InvalidMessage", f
        f = fault_of(call(evd, EV + "Renew", "<e:Renew><e:Expires>PT1H</e:Expires></e:Renew>",
                          auth=BOB, headers=id_header(key_id)))
        assert f.subcode == "e:UnableToRenew", f
    r = call(evd, EV + "GetStatus", "<e:GetStatus/>", headers=id_header(ident))
    assert r.status == 200, r  # alice's is untouched


def test_quota(evd):
    for _ in range(3):
        subscribe(evd)
    f = fault_of(call(evd, EV + "Subscribe", subscribe_body()))
    assert f.subcode == "w:QuotaLimit", f
    assert "MaxSubscriptionsPerUser" in f.reply.text
    subscribe(evd, auth=BOB)  # per user


def test_renew_getstatus_unsubscribe_expiry(evd):
    ident, ctx, root = subscribe(evd, extra="<e:Expires>PT1H</e:Expires>")
    ex = root.find("s:Body/e:SubscribeResponse/e:Expires", NSX).text
    assert re.fullmatch(r"PT3[56]\d\d\.\d{3}S", ex), ex
    r = call(evd, EV + "Renew", "<e:Renew><e:Expires>PT2H</e:Expires></e:Renew>",
             headers=id_header(ident))
    assert r.status == 200, r
    r = call(evd, EV + "GetStatus", "<e:GetStatus/>", headers=id_header(ident))
    ex = ET.fromstring(r.body).find("s:Body/e:GetStatusResponse/e:Expires", NSX).text
    assert re.fullmatch(r"PT7[12]\d\d\.\d{3}S", ex), ex
    r = call(evd, EV + "Unsubscribe", "<e:Unsubscribe/>", headers=id_header(ident))
    assert r.status == 200, r
    assert fault_of(pull_req(evd, ctx)).subcode == "n:InvalidEnumerationContext"

    # A short life: gone for Pull and GetStatus once it passed (polled).
    ident, ctx, _ = subscribe(evd, extra="<e:Expires>PT1S</e:Expires>")
    assert wait_until(lambda: call(evd, EV + "GetStatus", "<e:GetStatus/>",
                                   headers=id_header(ident)).status == 500, 10)
    assert fault_of(pull_req(evd, ctx)).subcode == "n:InvalidEnumerationContext"


def test_release_ends_the_subscription(evd):
    ident, ctx, _ = subscribe(evd)
    r = call(evd, EN + "Release",
             f"<n:Release><n:EnumerationContext>{ctx}</n:EnumerationContext></n:Release>")
    assert r.status == 200, r
    f = fault_of(call(evd, EV + "GetStatus", "<e:GetStatus/>", headers=id_header(ident)))
    assert f.subcode == "e:InvalidMessage"


def test_restart_resumes_after_bookmark(evd, wsmd_factory):
    """The subscription survives a restart of wsmd, and a Pull on the old
    context goes on after the last event delivered: nothing twice, nothing
    lost, including what was written while wsmd was down."""
    tag = secrets.token_hex(3)
    ident, ctx, _ = subscribe(evd, q=query(select=f"*[System[Provider[@Name='rs{tag}']]]"),
                              extra="<e:Expires>PT1H</e:Expires>")
    for i in range(3):
        evd.journal.logger(f"rs{tag}", "info", f"before restart {i}")
    evs, _ = pull_until(evd, ctx, lambda g: len(g) >= 3)
    assert len(evs) == 3
    evd.journal.logger(f"rs{tag}", "info", "pending at restart")
    rc, _ = evd.stop()
    assert rc == 0
    evd.journal.logger(f"rs{tag}", "info", "while wsmd was down")
    d2 = evd.restart()
    assert "event=eventsource-loaded" in d2.log() and "subscriptions=1" in d2.log(), d2.log()
    evs, _ = pull_until(d2, ctx, lambda g: len(g) >= 2)
    msgs = [ET.tostring(e, encoding="unicode") for e in evs]
    assert len(msgs) == 2, msgs
    assert "pending at restart" in msgs[0] and "while wsmd was down" in msgs[1], msgs
    r = call(d2, EV + "GetStatus", "<e:GetStatus/>", headers=id_header(ident))
    assert r.status == 200, r


def test_needs_the_eventing_right(wsmd_factory, users_file, journal, tmp_path):
    """A user without the eventing right gets w:AccessDenied (as root; the
    defaults give it to wsmd-admins only)."""
    if os.geteuid() != 0:
        pytest.skip("authorization by group applies as root")
    conf = tmp_path / "nr.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nUsers = {users_file}\n"
                    f"JournalDirectory = {journal.dir}\nStateDir = {tmp_path / 'st'}\n"
                    f"Allow = read @{USER}\n")
    d = wsmd_factory("-c", str(conf), grant=False)
    f = fault_of(call(d, EV + "Subscribe", subscribe_body()))
    assert f.subcode == "w:AccessDenied", f
    assert "family=eventlog right=eventing" in d.log()


def test_waiting_pull_client_gone_and_shutdown(evd):
    """A client that hangs up while its Pull waits leaves nothing behind (the
    next Pull on the context is served at once); a Pull waiting when wsmd
    stops is answered (w:TimedOut, as a waiting Receive) and wsmd exits 0."""
    import http.client
    import threading
    tag = secrets.token_hex(3)
    _, ctx, _ = subscribe(evd)
    body = envelope(evd, EN + "Pull",
                    f"<n:Pull><n:EnumerationContext>{ctx}</n:EnumerationContext>"
                    f"<n:MaxTime>PT30S</n:MaxTime><n:MaxElements>5</n:MaxElements></n:Pull>")
    from wsman_helpers import basic_auth
    conn = http.client.HTTPConnection("127.0.0.1", evd.port, timeout=5)
    conn.request("POST", "/wsman", body=body.encode(),
                 headers={"Content-Type": "application/soap+xml;charset=UTF-8",
                          "Authorization": basic_auth()})
    conn.sock.shutdown(socket.SHUT_RDWR)  # gone while parked
    conn.close()
    assert wait_until(lambda: "event=poll-abandoned" in evd.log(), 10), evd.log()
    evd.journal.logger(f"after{tag}", "err", "after the hang-up")
    evs, _ = pull_until(evd, ctx, lambda g: len(g) >= 1, timeout=10)
    assert [provider(e) for e in evs] == [f"after{tag}"]

    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", pull_req(evd, ctx, max_time="PT30S")))
    th.start()
    th.join(0.5)
    assert th.is_alive()
    t0 = time.monotonic()
    rc, log = evd.stop()
    th.join(10)
    assert rc == 0, log
    assert not th.is_alive() and time.monotonic() - t0 < 10
    assert fault_of(out["r"]).subcode == "w:TimedOut"


def options(**kv):
    return ('<w:OptionSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            + "".join(f'<w:Option Name="{k}">{v}</w:Option>' for k, v in kv.items())
            + "</w:OptionSet>")


def test_read_existing_rendered_and_bookmark_resume(evd):
    """ReadExistingEvents replays what was written before the Subscribe;
    RenderedText adds RenderingInfo with the message; a Subscribe that gives
    back a bookmark from a PullResponse header resumes exactly after it."""
    tag = secrets.token_hex(3)
    q = query(select=f"*[System[Provider[@Name='old{tag}']]]")
    for i in range(4):
        evd.journal.logger(f"old{tag}", "warning", f"old message {i}")
    _, ctx, _ = subscribe(evd, q=q, extra="<w:SendBookmarks/>",
                          headers=options(ReadExistingEvents="true",
                                          ContentFormat="RenderedText"))
    r = pull_req(evd, ctx, max_elements=2)
    assert r.status == 200, r
    root, evs = events_of(r)
    assert [provider(e) for e in evs] == [f"old{tag}"] * 2
    ri = evs[0].find("ev:RenderingInfo", NSX)
    assert ri is not None and "old message 0" in ET.tostring(ri, encoding="unicode")
    bm = root.find("s:Header/w:Bookmark", NSX)
    bookmark = "".join(ET.tostring(c, encoding="unicode") for c in bm)

    # A new subscription from that bookmark: messages 2 and 3, nothing twice.
    _, ctx2, _ = subscribe(evd, q=q, extra=f"<w:Bookmark>{bookmark}</w:Bookmark>")
    evs, _ = pull_until(evd, ctx2, lambda g: len(g) >= 2)
    msgs = [ET.tostring(e, encoding="unicode") for e in evs]
    assert len(msgs) == 2 and "old message 2" in msgs[0] and "old message 3" in msgs[1], msgs
    assert evs[0].find("ev:RenderingInfo", NSX) is None  # Raw by default

    # Without ReadExistingEvents: only what comes after.
    _, ctx3, _ = subscribe(evd, q=q)
    f = fault_of(pull_req(evd, ctx3, max_time="PT0.3S"))
    assert f.subcode == "w:TimedOut", f


def test_ignore_channel_error(evd):
    """A QueryList naming a Windows-only channel is refused, unless the
    Subscribe says IgnoreChannelError (as Windows collectors do): then that
    Select takes nothing and the others still work."""
    tag = secrets.token_hex(3)
    q = ('<QueryList><Query Id="0">'
         '<Select Path="Microsoft-Windows-PowerShell/Operational">*</Select>'
         f"<Select Path=\"Application\">*[System[Provider[@Name='ic{tag}']]]</Select>"
         "</Query></QueryList>")
    f = fault_of(call(evd, EV + "Subscribe", subscribe_body(q=q)))
    assert f.subcode == "w:CannotProcessFilter" and "unknown channel" in f.reply.text, f
    _, ctx, _ = subscribe(evd, q=q, headers=(
        '<w:OptionSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<w:Option Name="IgnoreChannelError" xsi:nil="true"/></w:OptionSet>'))
    evd.journal.logger(f"ic{tag}", "err", "still delivered")
    evs, _ = pull_until(evd, ctx, lambda g: len(g) >= 1)
    assert [provider(e) for e in evs] == [f"ic{tag}"]
    assert "ignored unknown channel" in evd.log()


def test_raw_curl_bad_input(evd, tmp_path):
    """Bad input through curl: a body that is not XML is refused before any
    eventing code; a Subscribe without a body element, and a Filter past the
    64 KB a QueryList may have, get their faults; wsmd goes on serving."""
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("no curl")

    def send(body):
        f = tmp_path / "body.xml"
        f.write_text(body)
        cp = subprocess.run([curl, "-s", "-o", "-", "-w", "\n%{http_code}", "-u",
                             f"{USER}:{PASSWORD}", "-H",
                             "Content-Type: application/soap+xml;charset=UTF-8",
                             "--data-binary", f"@{f}", evd.url],
                            capture_output=True, text=True, timeout=30)
        text, _, code = cp.stdout.rpartition("\n")
        return int(code), text

    code, _ = send("<s:Envelope>not closed")
    assert code == 400
    code, text = send(envelope(evd, EV + "Subscribe", ""))
    assert code == 500 and "e:InvalidMessage" in text, text
    big = query(select="*[System[" + " or ".join(["Level=1"] * 7000) + "]]")
    assert len(big) > 64 * 1024
    code, text = send(envelope(evd, EV + "Subscribe", subscribe_body(q=big)))
    assert code == 500 and "w:CannotProcessFilter" in text and "64 KB" in text, text[:2000]
    subscribe(evd)  # still serving
