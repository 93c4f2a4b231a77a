"""The simulator's messages and delivery logic without wsmd: the Enumerate,
End, Events, Heartbeat and SubscriptionEnd envelopes (parsed back with an XML
parser), bookmarks, an EnumerateResponse shaped as a Windows collector writes
it, the event generator (spoiled events too), and against a stub HTTP server:
the Ack check, resends of the same message, event 111 first, bookmarks
advancing and resuming, batches within MaxEnvelopeSize, SLDC marking.
"""

import http.server
import os
import socketserver
import threading
import xml.etree.ElementTree as ET

import pytest

import wefsim
from wefsim_events import event_111
from wefsim_xml import (A_ACK, A_EVENT, A_EVENTS, A_HEARTBEAT, A_SUBSCRIPTION_END, NS_A, NS_E,
                        NS_EVENT, NS_S, NS_W, bookmark_xml, cdata, events_envelope,
                        parse_bookmark, parse_duration, parse_enumerate_response)


# ---- builders and parsers ---------------------------------------------------------------

WINDOWS_LIKE_RESPONSE = """<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}"
 xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="{w}"
 xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header>
<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action>
<a:MessageID>uuid:0A</a:MessageID><a:RelatesTo>uuid:0B</a:RelatesTo></s:Header><s:Body>
<n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>
<m:Subscription xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/subscription">
<m:Version>uuid:11111111-2222-3333-4444-555555555555</m:Version>
<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:e="{e}" xmlns:w="{w}"><s:Header>
<a:Action s:mustUnderstand="true">{e}/Subscribe</a:Action>
<w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</w:ResourceURI>
<w:OptionSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<w:Option Name="SubscriptionName">sec</w:Option><w:Option Name="Compression">SLDC</w:Option>
<w:Option Name="CDATA" xsi:nil="true"/><w:Option Name="ContentFormat">RenderedText</w:Option>
<w:Option Name="ReadExistingEvents">false</w:Option></w:OptionSet></s:Header>
<s:Body><e:Subscribe>
<e:EndTo><a:Address>HTTP://wec.wsmd.test:5985/wsman/subscriptions/sec</a:Address>
<a:ReferenceProperties><e:Identifier>END-ID</e:Identifier></a:ReferenceProperties></e:EndTo>
<e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Events">
<w:Heartbeats>PT3600.000S</w:Heartbeats>
<e:NotifyTo><a:Address>HTTP://wec.wsmd.test:5985/wsman/subscriptions/sec</a:Address>
<a:ReferenceProperties><e:Identifier>SUB-ID</e:Identifier></a:ReferenceProperties>
<c:Policy xmlns:c="http://schemas.xmlsoap.org/ws/2002/12/policy"
 xmlns:auth="http://schemas.microsoft.com/wbem/wsman/1/authentication"><c:ExactlyOne><c:All>
<auth:Authentication Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"/>
</c:All></c:ExactlyOne></c:Policy></e:NotifyTo>
<w:ConnectionRetry Total="5">PT60.0S</w:ConnectionRetry><w:MaxTime>PT30.000S</w:MaxTime>
<w:MaxElements>5</w:MaxElements>
<w:MaxEnvelopeSize Policy="Notify">512000</w:MaxEnvelopeSize>
<w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery>
<w:Filter Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery"><QueryList>
<Query Id="0"><Select Path="Security">*</Select><Select Path="System">*[System[Level=2]]</Select>
</Query></QueryList></w:Filter>
<w:Bookmark><BookmarkList><Bookmark Channel="Security" RecordId="41" IsCurrent="true"/>
</BookmarkList></w:Bookmark><w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope>
</m:Subscription></w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>
""".format(s=NS_S, a=NS_A, e=NS_E, w=NS_W)


def test_parse_enumerate_response():
    (sub,) = parse_enumerate_response(WINDOWS_LIKE_RESPONSE)
    assert sub.version == "uuid:11111111-2222-3333-4444-555555555555"
    assert sub.name == "sec" and sub.compression == "SLDC"
    assert sub.content_format == "RenderedText" and not sub.read_existing
    assert sub.options["CDATA"] is None
    assert sub.notify_to == "HTTP://wec.wsmd.test:5985/wsman/subscriptions/sec"
    assert sub.id == "sec" and sub.mode.endswith("/wsman/Events")
    assert sub.heartbeat == 3600.0 and sub.max_time == 30.0 and sub.max_elements == 5
    assert (sub.retry_total, sub.retry_interval) == (5, 60.0)
    assert sub.max_envelope == 512000 and sub.max_envelope_policy == "Notify"
    assert sub.content_encoding == "UTF-16"
    assert sub.channels == ["Security", "System"] and "QueryList" in sub.query
    assert sub.bookmark == {"Security": 41} and sub.send_bookmarks
    assert sub.auth_profiles == [
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"]
    # The reference property is echoed as a header with its namespace.
    assert sub.refs_xml == f'<e:Identifier xmlns:e="{NS_E}">SUB-ID</e:Identifier>'
    assert "END-ID" in sub.end_to_refs_xml
    assert wefsim.Source("h", 1, scheme="none")._endpoint(sub) == (
        "wec.wsmd.test", 5985, "/wsman/subscriptions/sec")
    assert parse_duration("P1DT2H3M4.5S") == 93784.5
    with pytest.raises(ValueError):
        parse_enumerate_response(WINDOWS_LIKE_RESPONSE.replace("EnumerateResponse</a:Action>",
                                                               "Other</a:Action>"))


def parse_delivery(text):
    root = ET.fromstring(text)
    header, body = root.find(f"{{{NS_S}}}Header"), root.find(f"{{{NS_S}}}Body")
    return header, body


def test_enumerate_and_end_envelopes():
    """Shaped as the Windows capture's: the GPO Enumerate and the End."""
    mid, op = wefsim.message_id(), wefsim.message_id()
    text = wefsim.enumerate_envelope("http://wec:5985/wsman/SubscriptionManager/WEC", mid,
                                     "ws1.wsmd.test", session_id="uuid:S", operation_id=op)
    header, body = parse_delivery(wefsim.encode_body(text)[0])
    assert header.findtext(f"{{{NS_A}}}Action").endswith("/enumeration/Enumerate")
    assert header.findtext(f"{{{NS_W}}}ResourceURI") == wefsim.R_SUBSCRIPTION
    assert header.findtext(f"{{{NS_W}}}MaxEnvelopeSize") == "512000"
    assert header.findtext(f"{{{NS_W}}}OperationTimeout") == "PT60.000S"
    assert header.findtext(f"{{{NS_A}}}MessageID") == mid and mid[5:] == mid[5:].upper()
    m = header.find("{http://schemas.microsoft.com/wbem/wsman/1/machineid}MachineID")
    assert m.text == "ws1.wsmd.test" and m.get(f"{{{NS_S}}}mustUnderstand") == "false"
    assert header.findtext(f"{{{NS_A}}}ReplyTo/{{{NS_A}}}Address").endswith("/role/anonymous")
    en = body.find("{http://schemas.xmlsoap.org/ws/2004/09/enumeration}Enumerate")
    assert en.find(f"{{{NS_W}}}OptimizeEnumeration") is not None
    assert en.findtext(f"{{{NS_W}}}MaxElements") == "32000"
    header, body = parse_delivery(wefsim.end_envelope(wefsim.message_id(), op))
    assert header.findtext(f"{{{NS_A}}}Action") == wefsim.A_END
    assert header.findtext(f"{{{NS_W}}}ResourceURI") == wefsim.R_FULL_DUPLEX
    assert header.findtext("{http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd}OperationID") \
        == op
    assert len(body) == 0


def test_events_envelope_and_bookmark():
    (sub,) = parse_enumerate_response(WINDOWS_LIKE_RESPONSE)
    gen = wefsim.EventGen("ws1.wsmd.test", start=100, seed=1, rendered=True)
    events, last = gen.batch(6, ["Security", "System"])
    bm = bookmark_xml({"Security": 102, "System": 102}, current=last)
    mid = wefsim.message_id()
    text = events_envelope(sub.notify_to, mid, "ws1.wsmd.test", sub.refs_xml, events, bm)
    for data in (text.encode(), wefsim.encode_body(text, True)[0]):
        header, body = parse_delivery(data)
        assert header.findtext(f"{{{NS_A}}}Action") == A_EVENTS
        assert header.findtext(f"{{{NS_A}}}MessageID") == mid
        assert header.findtext(f"{{{NS_A}}}To") == sub.notify_to
        assert header.findtext(f"{{{NS_E}}}Identifier") == "SUB-ID"
        assert header.find(f"{{{NS_W}}}AckRequested") is not None
        bl = header.find(f"{{{NS_W}}}Bookmark/BookmarkList")
        assert [(b.get("Channel"), b.get("RecordId"), b.get("IsCurrent")) for b in bl] == [
            ("Security", "102", None if last == "System" else "true"),
            ("System", "102", "true" if last == "System" else None)]
        evs = body.findall(f"{{{NS_W}}}Events/{{{NS_W}}}Event")
        assert len(evs) == 6 and all(e.get("Action") == A_EVENT for e in evs)
    assert text.count("<![CDATA[<Event xmlns='%s'>" % NS_EVENT) == 6
    ids = {}
    for e in evs:
        ev = ET.fromstring(e.text)
        sysn = ev.find(f"{{{NS_EVENT}}}System")
        ch = sysn.findtext(f"{{{NS_EVENT}}}Channel")
        ids.setdefault(ch, []).append(int(sysn.findtext(f"{{{NS_EVENT}}}EventRecordID")))
        assert sysn.findtext(f"{{{NS_EVENT}}}Computer") == "ws1.wsmd.test"
        assert int(sysn.findtext(f"{{{NS_EVENT}}}EventID")) in (
            4624, 4625, 4634, 4672, 4688, 7036, 7040, 1014)
        assert ev.find(f"{{{NS_EVENT}}}RenderingInfo/{{{NS_EVENT}}}Message") is not None
    assert ids == {"Security": [100, 101, 102], "System": [100, 101, 102]}
    assert gen.last_ids() == {"Security": 102, "System": 102}
    assert parse_bookmark(bm) == {"Security": 102, "System": 102}
    assert parse_bookmark(None) == {}


def test_heartbeat_subscription_end_and_111():
    (sub,) = parse_enumerate_response(WINDOWS_LIKE_RESPONSE)
    mid = wefsim.message_id()
    text = events_envelope(sub.notify_to, mid, "ws1.wsmd.test", sub.refs_xml, [],
                           action=A_HEARTBEAT)
    header, body = parse_delivery(text)
    assert header.findtext(f"{{{NS_A}}}Action") == A_HEARTBEAT
    assert header.find(f"{{{NS_W}}}Bookmark") is None
    ev = body.find(f"{{{NS_W}}}Events")
    assert ev is not None and len(ev) == 0
    text = wefsim.subscription_end_envelope(sub.end_to, mid, "ws1.wsmd.test", sub.refs_xml,
                                            sub.end_to, sub.end_to_refs_xml, reason="bye")
    header, body = parse_delivery(text)
    assert header.findtext(f"{{{NS_A}}}Action") == A_SUBSCRIPTION_END
    se = body.find(f"{{{NS_E}}}SubscriptionEnd")
    assert se.findtext(f"{{{NS_E}}}Status").endswith("/SourceCancelling")
    assert se.findtext(f"{{{NS_E}}}SubscriptionManager/{{{NS_E}}}ReferenceProperties"
                       f"/{{{NS_E}}}Identifier") is None  # a: namespace, checked next
    assert "END-ID" in text
    ev = ET.fromstring(event_111("ws1.wsmd.test"))
    sysn = ev.find(f"{{{NS_EVENT}}}System")
    assert sysn.findtext(f"{{{NS_EVENT}}}EventID") == "111"
    assert sysn.find(f"{{{NS_EVENT}}}Provider").get("Name") == "Microsoft-Windows-EventForwarder"
    assert sysn.find(f"{{{NS_EVENT}}}Channel") is None
    assert ev.find(f"{{{NS_EVENT}}}SubscriptionBookmarkEvent/{{{NS_EVENT}}}SubscriptionId") \
        is not None


def test_fast_generator():
    """Template mode: still well-formed Windows events, RecordIds in order per
    channel, the spoiling options still honoured."""
    gen = wefsim.EventGen("ws1.wsmd.test", start=7, seed=4, fast=True)
    meta = gen.batch_meta(40, ["Security", "System", "Application"], malformed_at=5)
    seen = {}
    for i, (xml, ch, rid) in enumerate(meta):
        if i == 5:
            with pytest.raises(ET.ParseError):
                ET.fromstring(xml)
        else:
            sysn = ET.fromstring(xml).find(f"{{{NS_EVENT}}}System")
            assert sysn.findtext(f"{{{NS_EVENT}}}Channel") == ch
            assert int(sysn.findtext(f"{{{NS_EVENT}}}EventRecordID")) == rid
            assert sysn.find(f"{{{NS_EVENT}}}TimeCreated").get("SystemTime").endswith("Z")
        seen.setdefault(ch, []).append(rid)
    assert all(v == list(range(7, 7 + len(v))) for v in seen.values()), seen
    assert len({m[0] for m in meta}) == 40


def test_spoiled_events():
    """U+0005 makes the whole envelope not well-formed XML (what the
    collector's events_prepare repairs); a malformed event leaves the
    envelope well-formed (CDATA) but not the event."""
    gen = wefsim.EventGen("ws1.wsmd.test", seed=2)
    events, _ = gen.batch(3, ["Security"], inject_control_at=0, malformed_at=1)
    assert "\u0005" in events[0]
    text = events_envelope("http://c/x", "uuid:1", "ws1", "", events)
    with pytest.raises(ET.ParseError):
        ET.fromstring(text)
    with pytest.raises(ET.ParseError):
        ET.fromstring(events[1])
    ET.fromstring(events[2])
    good = events_envelope("http://c/x", "uuid:1", "ws1", "", events[1:])
    assert len(parse_delivery(good)[1].findall(f"{{{NS_W}}}Events/{{{NS_W}}}Event")) == 2
    # UTF-16 keeps the control character as it is.
    assert "\u0005".encode("utf-16-le") in wefsim.encode_body(text)[0]
    # "]]>" inside an event survives CDATA.
    odd = "<x>a]]>b</x>"
    assert ET.fromstring("<w>%s</w>" % cdata(odd)).text == odd


# ---- the Ack check and resends, against a stub ---------------------------------------------

class Stub(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def stub_server(script):
    """A plain HTTP server that answers each POST by the next entry of
    script: "drop" (close without answering), "wrong" (an Ack with another
    RelatesTo), "ack", "500". Records (headers, body) of every request."""
    seen = []

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((dict(self.headers), body))
            what = script[min(len(seen), len(script)) - 1]
            if what == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            try:
                mid = ET.fromstring(wefsim.decode_body(body)).findtext(
                    f"{{{NS_S}}}Header/{{{NS_A}}}MessageID")
            except (ET.ParseError, UnicodeDecodeError):
                mid = "unparsable"
            if what == "500":
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            rel = mid if what == "ack" else "uuid:SOMETHING-ELSE"
            out = (f'<s:Envelope xmlns:s="{NS_S}" xmlns:a="{NS_A}"><s:Header>'
                   f"<a:Action>{A_ACK}</a:Action><a:MessageID>uuid:X</a:MessageID>"
                   f"<a:RelatesTo>{rel}</a:RelatesTo></s:Header><s:Body/></s:Envelope>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = Stub(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, seen


@pytest.fixture
def stub():
    servers = []

    def make(script):
        srv, seen = stub_server(script)
        servers.append(srv)
        return srv.server_address[1], seen
    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def stub_sub(port):
    text = WINDOWS_LIKE_RESPONSE.replace("HTTP://wec.wsmd.test:5985", f"http://127.0.0.1:{port}")
    (sub,) = parse_enumerate_response(text)
    return sub


def test_resend_until_acked(stub):
    port, seen = stub(["drop", "wrong", "500", "ack"])
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc=False, retries=3)
    sub = stub_sub(port)
    ack = src.send_batch(sub, src.gen.batch(2)[0], {"Security": 1001})
    assert ack.attempts == 4 and src.stats["resends"] == 3
    mids = {ET.fromstring(wefsim.decode_body(b)).findtext(
        f"{{{NS_S}}}Header/{{{NS_A}}}MessageID") for _, b in seen}
    assert mids == {ack.message_id}, mids  # the same message each time
    assert all(h["Content-Type"] == "application/soap+xml;charset=UTF-16" for h, _ in seen)
    assert all(h["User-Agent"] == "Microsoft WinRM Client" for h, _ in seen)
    assert all(b.startswith(b"\xff\xfe") for _, b in seen)
    assert all(h["Host"] == f"127.0.0.1:{port}" for h, _ in seen)
    # Host is the URL's host even when connecting to another address.
    src = wefsim.Source("collector.wsmd.test", port, scheme="none", address="127.0.0.1")
    assert src.identify().status == 200
    assert seen[-1][0]["Host"] == f"collector.wsmd.test:{port}"
    src.close()


def test_no_ack_is_an_error(stub):
    port, seen = stub(["wrong"])
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc=False, retries=1, utf16=False)
    with pytest.raises(wefsim.AckError, match="not our Ack"):
        src.heartbeat(stub_sub(port))
    assert len(seen) == 2 and seen[0][1].startswith(b"<s:Envelope")
    src.close()


def test_deliver_sequence(stub):
    """deliver(): event 111 first (no bookmark from the collector, so here
    the subscription's bookmark is dropped), then batches bounded by
    MaxElements, bookmarks advancing; heartbeat and SubscriptionEnd."""
    port, seen = stub(["ack"])
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc=False, seed=3)
    sub = stub_sub(port)
    sub.bookmark = None
    acks = src.deliver(sub, batches=2, per_batch=50)
    assert len(acks) == 3
    src.heartbeat(sub)
    src.subscription_end(sub)
    # Once per Version: no second 111.
    src.deliver(sub, batches=1)
    actions, marks, counts = [], [], []
    for _, b in seen:
        header, body = parse_delivery(wefsim.decode_body(b))
        actions.append(header.findtext(f"{{{NS_A}}}Action").rsplit("/", 1)[-1])
        bl = header.find(f"{{{NS_W}}}Bookmark/BookmarkList")
        marks.append(None if bl is None else {x.get("Channel"): int(x.get("RecordId"))
                                              for x in bl})
        counts.append(len(body.findall(f"{{{NS_W}}}Events/{{{NS_W}}}Event")))
    assert actions == ["Events", "Events", "Events", "Heartbeat", "SubscriptionEnd", "Events"]
    assert counts == [1, 5, 5, 0, 0, 5]  # MaxElements 5 bounds the batches
    first = ET.fromstring(parse_delivery(wefsim.decode_body(seen[0][1]))[1].find(
        f"{{{NS_W}}}Events/{{{NS_W}}}Event").text)
    assert first.findtext(f"{{{NS_EVENT}}}System/{{{NS_EVENT}}}EventID") == "111"
    assert marks[0] == {"Security": 999, "System": 999}
    assert marks[1] == {"Security": 1002, "System": 1001}
    assert marks[2] == {"Security": 1005, "System": 1003}
    assert marks[5] == {"Security": 1008, "System": 1005}
    src.close()


def test_deliver_resumes_from_collector_bookmark(stub):
    port, seen = stub(["ack"])
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc=False, utf16=False)
    sub = stub_sub(port)  # Bookmark Security 41
    src.deliver(sub, batches=1, channels=["Security"])
    assert len(seen) == 1  # no 111: the collector had a bookmark
    header, body = parse_delivery(seen[0][1])
    ids = [int(ET.fromstring(e.text).findtext(f"{{{NS_EVENT}}}System/{{{NS_EVENT}}}"
                                              "EventRecordID"))
           for e in body.findall(f"{{{NS_W}}}Events/{{{NS_W}}}Event")]
    assert ids == [42, 43, 44, 45, 46]  # from the collector's bookmark on
    assert header.find(f"{{{NS_W}}}Bookmark/BookmarkList/Bookmark").get("RecordId") == "46"
    # The same hand-out again (no new Enumerate): no rewind.
    src.deliver(sub, batches=1, channels=["Security"])
    header, body = parse_delivery(seen[1][1])
    first = ET.fromstring(body.find(f"{{{NS_W}}}Events/{{{NS_W}}}Event").text)
    assert first.findtext(f"{{{NS_EVENT}}}System/{{{NS_EVENT}}}EventRecordID") == "47"
    src.close()


def test_batches_fit_max_envelope(stub):
    """A batch larger than the subscription's MaxEnvelopeSize goes as several
    Events messages, each within it, the bookmark following each."""
    port, seen = stub(["ack"])
    sub = stub_sub(port)
    sub.bookmark, sub.max_elements, sub.max_envelope = None, 100, 30000
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc=False, seed=5)
    acks = src.deliver(sub, batches=1, per_batch=40)
    assert len(acks) == len(seen) > 3
    total, last = 0, None
    for _, b in seen[1:]:
        assert len(b) <= 30000, len(b)
        header, body = parse_delivery(wefsim.decode_body(b))
        evs = body.findall(f"{{{NS_W}}}Events/{{{NS_W}}}Event")
        total += len(evs)
        rids = {x.get("Channel"): int(x.get("RecordId"))
                for x in header.find(f"{{{NS_W}}}Bookmark/BookmarkList")}
        last_ev = ET.fromstring(evs[-1].text).find(f"{{{NS_EVENT}}}System")
        assert rids[last_ev.findtext(f"{{{NS_EVENT}}}Channel")] == int(
            last_ev.findtext(f"{{{NS_EVENT}}}EventRecordID"))
        assert last is None or all(rids[c] >= last[c] for c in last)
        last = rids
    assert total == 40
    src.close()


def test_sldc_marking(stub):
    """With Compression SLDC (auto) every delivery request says
    Content-Encoding: SLDC and carries compress(body); "flag" sends the
    header over an uncompressed body, a quirk of Windows."""
    port, seen = stub(["ack"])
    sub = stub_sub(port)  # Compression SLDC
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc="flag")
    src.heartbeat(sub)
    assert seen[-1][0].get("Content-Encoding") == "SLDC"
    assert seen[-1][1].startswith(b"\xff\xfe")
    try:
        sldc = wefsim.load_sldc()
    except wefsim.SldcUnavailable as e:
        with pytest.raises(wefsim.SldcUnavailable):
            wefsim.Source("127.0.0.1", port, scheme="none").heartbeat(sub)
        pytest.skip(str(e))
    port2, seen2 = stub(["ack"])
    src = wefsim.Source("127.0.0.1", port2, scheme="none")
    sub2 = stub_sub(port2)
    text = None
    real = sldc.compress

    def spy(data):
        nonlocal text
        text = data
        return real(data)
    sldc.compress = spy
    try:
        # The stub cannot read SLDC: it answers a wrong Ack; the check is on the wire.
        src.retries = 0
        with pytest.raises(wefsim.AckError):
            src.heartbeat(sub2)
    finally:
        sldc.compress = real
    h, b = seen2[-1]
    assert h.get("Content-Encoding") == "SLDC"
    assert text.startswith(b"\xff\xfe") and b == real(text)
    if hasattr(sldc, "decompress"):
        assert sldc.decompress(b) == text


def test_sldc_tool(stub):
    """Compression through the C sldc-tool (the benchmark's way): the body on
    the wire is what `sldc-tool -d` turns back into the UTF-16 envelope."""
    import subprocess
    tool = os.environ.get("SLDC_TOOL")
    if not tool or not os.access(tool, os.X_OK):
        pytest.skip("SLDC_TOOL (build/tests/unit/sldc-tool) not given")
    port, seen = stub(["wrong"])  # the stub cannot read SLDC: the check is on the wire
    src = wefsim.Source("127.0.0.1", port, scheme="none", sldc=True, sldc_tool=tool, retries=0)
    with pytest.raises(wefsim.AckError):
        src.heartbeat(stub_sub(port))
    h, b = seen[-1]
    assert h.get("Content-Encoding") == "SLDC"
    plain = subprocess.run([tool, "-d"], input=b, capture_output=True, check=True).stdout
    assert plain.startswith(b"\xff\xfe") and "/wsman/Heartbeat" in plain.decode("utf-16-le")
