"""Subscription files in a real wsmd (src/collector/subscription.c and
friends; docs/internals/subscriptions.md): the example files of
data/subscriptions handed out as a Windows collector writes them, the
Identifier and the Version, CollectorInitiated files, percent-encoded
NotifyTo paths, the Version rule across a restart and a reload, and a bad
file among good ones. Plain HTTP with Basic over loopback, as
test_collector.py."""

import os
import signal
import time

from collector_helpers import (GPO_PATH, NS, Collector, enumerate_body, event_xml, events_body,
                               notify_to, subscription_xml, subscriptions_of)
from conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "data" / "subscriptions"
EV = "{http://schemas.xmlsoap.org/ws/2004/08/eventing}"
W = "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}"
POLICY = "{http://schemas.xmlsoap.org/ws/2002/12/policy}"
AUTH = "{http://schemas.microsoft.com/wbem/wsman/1/authentication}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def enum(c, **kw):
    r = c.post(GPO_PATH, enumerate_body(c.base + GPO_PATH), **kw)
    assert r.status_code == 200, r.text
    return subscriptions_of(r.text)


def by_name(subs):
    return {env.find(".//w:Option[@Name='SubscriptionName']", NS).text: (v, env)
            for v, env in subs}


def options(env):
    return {o.get("Name"): (o.text, o.get(XSI_NIL))
            for o in env.findall("s:Header/w:OptionSet/w:Option", NS)}


def loads(c):
    return c.d.log().count("event=collector-load")


def reload(c):
    """SIGHUP, and wait until the files were read again."""
    n = loads(c)
    os.kill(c.d.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while loads(c) == n and time.monotonic() < deadline:
        time.sleep(0.02)
    assert loads(c) > n, c.d.log()


def test_example_files_as_a_windows_collector_writes_them(wsmd_factory, tmp_path):
    dc = (EXAMPLES / "DomainControllers.xml").read_text()
    # alice is no domain controller: let her in for the test, keep the deny list.
    dc = dc.replace("DC*$@EXAMPLE.COM, dc*.example.com", "ali*").replace("DCTEST*$@EXAMPLE.COM",
                                                                          "bob")
    c = Collector(wsmd_factory, tmp_path, subs={
        "ForwardedSecurity": (EXAMPLES / "ForwardedSecurity.xml").read_text(),
        "DomainControllers": dc})
    subs = by_name(enum(c))
    assert sorted(subs) == ["DomainControllers", "ForwardedSecurity"]

    version, env = subs["ForwardedSecurity"]
    assert version.startswith("uuid:")
    guid = version[len("uuid:"):]
    h = env.find("s:Header", NS)
    assert h.find("a:Action", NS).text == "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"
    assert h.find("w:ResourceURI", NS).text == \
        "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
    assert h.find("w:MaxEnvelopeSize", NS).text == "512000"
    o = options(env)
    assert o["SubscriptionName"][0] == "ForwardedSecurity"
    assert o["Compression"][0] == "SLDC"
    assert o["CDATA"][1] == "true" and o["IgnoreChannelError"][1] == "true"
    assert o["ContentFormat"][0] == "RenderedText"
    assert "ReadExistingEvents" not in o
    sub = env.find("s:Body/e:Subscribe", NS)
    assert [ch.tag for ch in sub] == [EV + "EndTo", EV + "Delivery", W + "Filter",
                                      W + "SendBookmarks"]
    addr = c.base + "/wsman/subscriptions/ForwardedSecurity"
    assert sub.find("e:EndTo/a:Address", NS).text == addr
    assert notify_to(env) == addr
    # The Identifier a source echoes is the Version's GUID, in EndTo and NotifyTo.
    assert [i.text for i in env.iter(EV + "Identifier")] == [guid, guid]
    d = sub.find("e:Delivery", NS)
    assert d.get("Mode") == "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
    assert [ch.tag.split("}")[1] for ch in d] == [
        "Heartbeats", "NotifyTo", "ConnectionRetry", "MaxElements", "MaxTime", "MaxEnvelopeSize",
        "Locale", "DataLocale", "ContentEncoding"]
    # ConfigurationMode Normal: 5 events, 15 minutes, heartbeat 15 minutes.
    assert d.find("w:MaxElements", NS).text == "5"
    assert d.find("w:MaxTime", NS).text == "PT900.000S"
    assert d.find("w:Heartbeats", NS).text == "PT900.000S"
    assert d.find("w:MaxEnvelopeSize", NS).get("Policy") == "Notify"
    assert d.find("w:ContentEncoding", NS).text == "UTF-16"
    prof = d.find(f"e:NotifyTo/{POLICY}Policy/{POLICY}ExactlyOne/{POLICY}All/{AUTH}Authentication",
                  NS)
    assert prof.get("Profile") == \
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
    f = sub.find("w:Filter", NS)
    assert f.get("Dialect") == "http://schemas.microsoft.com/win/2004/08/events/eventquery"
    assert [q.get("Path") for q in f.findall("QueryList/Query")] == ["Security", "System"]

    version, env = subs["DomainControllers"]
    d = env.find("s:Body/e:Subscribe/e:Delivery", NS)
    assert d.find("w:MaxElements", NS).text == "50"
    assert d.find("w:MaxTime", NS).text == "PT10.000S"
    assert d.find("w:Heartbeats", NS).text == "PT300.000S"
    o = options(env)
    assert o["ContentFormat"][0] == "Raw"
    assert o["ReadExistingEvents"][1] == "true"
    assert env.find("s:Body/e:Subscribe/w:Bookmark", NS).text == \
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"
    assert len(env.findall("s:Body/e:Subscribe/w:Filter/QueryList/Query/Select", NS)) == 3
    # The deny list holds for the other user.
    assert list(by_name(enum(c, auth=("bob", "bob-pw-1")))) == ["ForwardedSecurity"]


def test_collector_initiated_file_loads_but_is_not_served(wsmd_factory, tmp_path):
    pulled = subscription_xml("Pulled").replace(
        "<SubscriptionType>SourceInitiated</SubscriptionType>",
        "<SubscriptionType>CollectorInitiated</SubscriptionType>").replace(
        'Mode="Push"', 'Mode="Pull"')
    c = Collector(wsmd_factory, tmp_path, subs={"Sec": subscription_xml("Sec"), "Pulled": pulled})
    assert "id=Pulled" in c.d.log() and "type=CollectorInitiated served=no" in c.d.log()
    assert list(by_name(enum(c))) == ["Sec"]
    path = "/wsman/subscriptions/Pulled"
    _, body = events_body(c.base + path, [event_xml(1)], 1)
    r = c.post(path, body)
    assert r.status_code >= 400 and "Ack" not in r.text
    assert c.jsonl() == []
    # wecutil still lists it (it loaded).
    assert "Pulled" in c.wecutil("es").stdout.split()


def test_a_name_with_spaces_is_percent_encoded_in_notify_to(wsmd_factory, tmp_path):
    c = Collector(wsmd_factory, tmp_path,
                  subs={"sp": subscription_xml("Forwarded Security &amp; Co")})
    (_, env), = enum(c)
    addr = notify_to(env)
    assert addr == c.base + "/wsman/subscriptions/Forwarded%20Security%20%26%20Co"
    path = addr[len(c.base):]
    _, body = events_body(addr, [event_xml(7)], 7)
    r = c.post(path, body)
    assert r.status_code == 200 and "Ack" in r.text, r.text
    rows = c.jsonl()
    assert [row["EventRecordID"] for row in rows] == [7]
    assert rows[0]["Subscription"] == "Forwarded Security & Co"


def test_version_rule_across_restart_and_reload(wsmd_factory, tmp_path):
    c = Collector(wsmd_factory, tmp_path, subs={"Sec": subscription_xml("Sec")})
    (v1, _), = enum(c)
    # The same file, a new process: the same Version (nothing stored).
    c.d.stop()
    c.start()
    (v2, _), = enum(c)
    assert v2 == v1
    f = c.subs / "Sec.xml"
    # Description and the allow list are not the source's business.
    f.write_text(subscription_xml("Sec", allow="alice bob").replace(
        "<Description>test</Description>", "<Description>edited</Description>"))
    reload(c)
    (v3, _), = enum(c)
    assert v3 == v1
    # The heartbeat is: a new Version, so the sources subscribe again.
    f.write_text(subscription_xml("Sec", heartbeat_ms=120000))
    reload(c)
    (v4, env), = enum(c)
    assert v4 != v1
    assert env.find(".//w:Heartbeats", NS).text == "PT120.000S"


def test_a_bad_file_is_skipped_and_the_others_served(wsmd_factory, tmp_path):
    many = "".join(f'<Select Path="C{i}">*</Select>' for i in range(257))
    bad = subscription_xml("TooMany").replace(
        '<Select Path="Security">*</Select>', many)
    c = Collector(wsmd_factory, tmp_path, subs={
        "Sec": subscription_xml("Sec"), "TooMany": bad,
        "Broken": "<Subscription xmlns='x'>", "Doctype": '<!DOCTYPE x [<!ENTITY a "b">]><x/>'})
    log = c.d.log()
    assert "event=subscription_skipped" in log
    assert "more than 256 channels" in log
    assert "DOCTYPE" in log
    skipped = [ln for ln in log.splitlines() if "event=subscription_skipped" in ln]
    assert len(skipped) == 3, log
    assert list(by_name(enum(c))) == ["Sec"]


def test_https_source_gets_the_issuer_thumbprint_and_delivers(wsmd_factory, tmp_path):
    """Over HTTPS with ClientCAFile, the Subscribe's NotifyTo asks for a client
    certificate from that CA (Thumbprint Role="issuer", its SHA-1), and a
    source that follows it (wefsim, a certificate with CN = its FQDN) delivers."""
    import xml.etree.ElementTree as ET

    import wefsim
    from test_client_cert import CA
    from test_https import https_port, make_cert
    server = make_cert(tmp_path / "server")
    ca = CA(tmp_path / "ca", "WEF sources CA")
    cert, key = ca.issue(tmp_path / "ws1", "ws1.wsmd.test")
    for sub in ("subs", "events", "state"):
        (tmp_path / sub).mkdir()
    (tmp_path / "subs" / "Sec.xml").write_text(
        subscription_xml("Sec", allow="ws*.wsmd.test"))
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"ClientCAFile = {ca.cert}\n"
                    f"Subscriptions = {tmp_path / 'subs'}\nEventLogDir = {tmp_path / 'events'}\n"
                    f"StateDir = {tmp_path / 'state'}\n")
    d = wsmd_factory("-c", str(conf), "--listen", "https://127.0.0.1:0", "--listen",
                     "http://127.0.0.1:0", "--tls-cert", str(server.cert), "--tls-key",
                     str(server.key))
    port = https_port(d)
    src = wefsim.Source("127.0.0.1", port, scheme="cert", https=True, cert=str(cert),
                        key=str(key), cafile=str(server.cert), machine_id="ws1.wsmd.test",
                        sldc=False)  # SLDC bodies are another test's business
    try:
        subs = src.enumerate()
        assert [s.name for s in subs] == ["Sec"], d.log()[-2000:]
        env = ET.fromstring(subs[0].envelope)
        auth = env.find(f".//e:NotifyTo/{POLICY}Policy/{POLICY}ExactlyOne/{POLICY}All/"
                        f"{AUTH}Authentication", NS)
        assert auth.get("Profile") == \
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
        tp = auth.find(f"{AUTH}ClientCertificate/{AUTH}Thumbprint")
        assert tp.get("Role") == "issuer"
        assert tp.text.upper() == ca.sha1.upper()
        assert notify_to(env) == f"https://127.0.0.1:{port}/wsman/subscriptions/Sec"
        ack = src.send_batch(subs[0], [event_xml(3, computer="ws1.wsmd.test")],
                             bookmark={"Security": 3})
        assert ack.relates_to
    finally:
        src.close()
    rows = [__import__("json").loads(x)
            for x in (tmp_path / "events" / "ForwardedEvents.jsonl").read_text().splitlines()]
    assert [(r["EventRecordID"], r["Client"], r["ComputerMismatch"]) for r in rows] == \
        [(3, "ws1.wsmd.test", False)]
