"""Helpers for the collector's interop tests (test_collector*.py): a wsmd
configured as a Windows Event Forwarding collector, and the messages a
source sends, built here as plain SOAP text (Basic over loopback; the
Kerberos and certificate paths go through wefsim.py)."""

import os
import re
import time
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import requests

from conftest import REPO_ROOT, Daemon, user_add  # noqa: F401
from wsman_helpers import PASSWORD, USER

WECUTIL = os.environ.get("WECUTIL_BIN") or str(REPO_ROOT / "build" / "wecutil")
GPO_PATH = "/wsman/SubscriptionManager/WEC"
SUB_NS = "http://schemas.microsoft.com/2006/03/windows/events/subscription"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "m": "http://schemas.microsoft.com/wbem/wsman/1/subscription",
}
CT = "application/soap+xml;charset=UTF-8"
METRICS_RE = re.compile(r"metrics on (http://127\.0\.0\.1:\d+)/metrics")


def subscription_xml(sub_id, *, enabled=True, read_existing=False, log_file=None,
                     allow=None, deny=None, outputs=None, heartbeat_ms=60000, max_items=100):
    ext = []
    if allow is not None:
        ext.append(f'<AllowedPrincipals xmlns="urn:wsmd:subscription">{allow}</AllowedPrincipals>')
    if deny is not None:
        ext.append(f'<DeniedPrincipals xmlns="urn:wsmd:subscription">{deny}</DeniedPrincipals>')
    if outputs is not None:
        ext.append(f'<Outputs xmlns="urn:wsmd:subscription">{outputs}</Outputs>')
    lf = f"<LogFile>{log_file}</LogFile>" if log_file else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Subscription xmlns="{SUB_NS}">
  <SubscriptionId>{sub_id}</SubscriptionId>
  <SubscriptionType>SourceInitiated</SubscriptionType>
  <Description>test</Description>
  <Enabled>{"true" if enabled else "false"}</Enabled>
  <Uri>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</Uri>
  <ConfigurationMode>Custom</ConfigurationMode>
  <Delivery Mode="Push">
    <Batching><MaxItems>{max_items}</MaxItems><MaxLatencyTime>1000</MaxLatencyTime></Batching>
    <PushSettings><Heartbeat Interval="{heartbeat_ms}"/></PushSettings>
  </Delivery>
  <Query><![CDATA[<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>]]></Query>
  <ReadExistingEvents>{"true" if read_existing else "false"}</ReadExistingEvents>
  <TransportName>HTTP</TransportName>
  <ContentFormat>Events</ContentFormat>
  {lf}
  {"".join(ext)}
</Subscription>
"""


class Collector:
    """A wsmd with Subscriptions, EventLogDir, StateDir in a temp folder,
    Basic users alice (and bob), and a metrics listener."""

    def __init__(self, factory, tmp_path, subs=None, extra=""):
        self.factory = factory
        self.dir = Path(tmp_path)
        self.subs = self.dir / "subs"
        self.events = self.dir / "events"
        self.state = self.dir / "state"
        for d in (self.subs, self.events, self.state):
            d.mkdir(exist_ok=True)
        self.users = self.dir / "users"
        if not self.users.exists():
            user_add(self.users, USER, PASSWORD)
            user_add(self.users, "bob", "bob-pw-1")
        for name, text in (subs or {"Sec": subscription_xml("Sec")}).items():
            (self.subs / f"{name}.xml").write_text(text)
        self.conf = self.dir / "wsmd.conf"
        self.conf.write_text(
            "Listen = http://127.0.0.1:0\n"
            f"Users = {self.users}\n"
            f"Subscriptions = {self.subs}\n"
            f"EventLogDir = {self.events}\n"
            f"StateDir = {self.state}\n"
            "MetricsListen = http://127.0.0.1:0\n" + extra)
        self.d = None
        self.start()

    def start(self):
        self.d = self.factory("-c", str(self.conf))
        self.base = f"http://127.0.0.1:{self.d.port}"
        # The metrics listener's line may follow the main listener's by a
        # moment (the log is written as each one opens): poll for it.
        m = METRICS_RE.search(self.d.log())
        deadline = time.monotonic() + 5
        while not m and "MetricsListen" in self.conf.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
            m = METRICS_RE.search(self.d.log())
        self.metrics_url = m.group(1) + "/metrics" if m else None
        return self.d

    def jsonl(self, log_file="ForwardedEvents"):
        import json
        p = self.events / f"{log_file}.jsonl"
        if not p.exists():
            return []
        text = p.read_text()
        # The collector may be writing a batch while a test polls: a last
        # line without its newline is not there yet.
        lines = text.split("\n")[:-1]
        return [json.loads(line) for line in lines if line]

    def post(self, path, body, auth=(USER, PASSWORD), **kw):
        return requests.post(self.base + path, data=body.encode() if isinstance(body, str) else body,
                             headers={"Content-Type": CT, **kw.pop("headers", {})}, auth=auth,
                             timeout=30, **kw)

    def wecutil(self, *args, check=True):
        cp = subprocess.run([WECUTIL, "-c", str(self.conf), *args], capture_output=True,
                            text=True, timeout=30)
        if check:
            assert cp.returncode == 0, f"wecutil {args}: rc={cp.returncode}\n{cp.stderr}"
        return cp


def enumerate_body(to, machine="ws1.example.com"):
    return f"""<s:Envelope xmlns:s="{NS['s']}" xmlns:a="{NS['a']}" xmlns:n="{NS['n']}" xmlns:w="{NS['w']}"><s:Header><a:To>{to}</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">{machine}</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"""


def end_body():
    return f"""<s:Envelope xmlns:s="{NS['s']}" xmlns:a="{NS['a']}" xmlns:w="{NS['w']}"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex</w:ResourceURI><a:Action s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/End</a:Action><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID></s:Header><s:Body></s:Body></s:Envelope>"""


def event_xml(record_id, computer="ws1.example.com", channel="Security", event_id=4624,
              extra=""):
    return (f"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            f"<Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>{event_id}</EventID>"
            f"<Level>0</Level><TimeCreated SystemTime='2026-12-07T07:00:00.000Z'/>"
            f"<EventRecordID>{record_id}</EventRecordID><Channel>{channel}</Channel>"
            f"<Computer>{computer}</Computer></System><EventData>"
            f"<Data Name='TargetUserName'>u{record_id}{extra}</Data></EventData></Event>")


def events_body(to, events, bookmark_record=None, channel="Security", action="Events",
                message_id=None):
    mid = message_id or f"uuid:{uuid.uuid4()}"
    bm = ""
    if bookmark_record is not None:
        bm = (f'<w:Bookmark><BookmarkList><Bookmark Channel="{channel}" '
              f'RecordId="{bookmark_record}" IsCurrent="true"/></BookmarkList></w:Bookmark>')
    items = "".join(
        f'<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"><![CDATA[{ev}]]></w:Event>'
        for ev in events)
    return mid, (f"""<s:Envelope xmlns:s="{NS['s']}" xmlns:a="{NS['a']}" xmlns:e="{NS['e']}" xmlns:w="{NS['w']}"><s:Header><a:To>{to}</a:To><a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/{action}</a:Action><a:MessageID>{mid}</a:MessageID>{bm}<w:AckRequested/></s:Header><s:Body><w:Events>{items}</w:Events></s:Body></s:Envelope>""")


def subscription_end_body(to, ack_requested=False, mid=None):
    ack = "<w:AckRequested/>" if ack_requested else ""
    return f"""<s:Envelope xmlns:s="{NS['s']}" xmlns:a="{NS['a']}" xmlns:e="{NS['e']}" xmlns:w="{NS['w']}"><s:Header><a:To>{to}</a:To><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd</a:Action><a:MessageID>{mid or f"uuid:{uuid.uuid4()}"}</a:MessageID>{ack}</s:Header><s:Body><e:SubscriptionEnd><e:Status>http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling</e:Status></e:SubscriptionEnd></s:Body></s:Envelope>"""


def subscriptions_of(resp_text):
    """[(version, subscribe Envelope element)] of an EnumerateResponse."""
    root = ET.fromstring(resp_text)
    out = []
    for sub in root.iter(f"{{{NS['m']}}}Subscription"):
        version = sub.find("m:Version", NS).text
        env = sub.find("s:Envelope", NS)
        out.append((version, env))
    return out


def notify_to(env):
    return env.find(".//e:NotifyTo/a:Address", NS).text


def ack_relates_to(resp_text):
    root = ET.fromstring(resp_text)
    action = root.find("s:Header/a:Action", NS).text
    rel = root.find("s:Header/a:RelatesTo", NS).text
    return action, rel


def have_rsyslogd():
    return shutil.which("rsyslogd") or os.path.exists("/usr/sbin/rsyslogd")
