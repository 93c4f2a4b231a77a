"""The messages of a Windows Event Forwarding source, and the events it sends.

Part of wefsim (wefsim.py re-exports everything here). Written from the
protocol facts: DSP0226 chapter 10, MS-WSMV (Subscription, Events, Bookmarks),
and the decoded capture of a Windows 10 source talking to a Windows Event
Collector (cea-sec/openwec, doc/protocol.md; facts only). What a Windows
source does and this module copies:

* every envelope carries To, MachineID (the FQDN, mustUnderstand=false),
  ReplyTo anonymous, Action, MaxEnvelopeSize 512000, an upper-case
  uuid: MessageID, Locale / DataLocale en-US, SessionId, OperationID,
  SequenceId 1 and OperationTimeout PT60.000S;
* deliveries echo every NotifyTo reference property / parameter as a SOAP
  header (Windows: e:Identifier), then Bookmark (a BookmarkList of
  Bookmark Channel= RecordId= IsCurrent=) and AckRequested;
* each event is the event XML (single-quoted attributes) in CDATA inside
  w:Event Action=".../wsman/Event".

Only the standard library.
"""

import datetime
import random
import re
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_S = "http://www.w3.org/2003/05/soap-envelope"
NS_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_E = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
NS_N = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_P = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_M = "http://schemas.microsoft.com/wbem/wsman/1/machineid"
NS_SUB = "http://schemas.microsoft.com/wbem/wsman/1/subscription"
NS_EVENT = "http://schemas.microsoft.com/win/2004/08/events/event"
NS_POLICY = "http://schemas.xmlsoap.org/ws/2002/12/policy"
NS_AUTH = "http://schemas.microsoft.com/wbem/wsman/1/authentication"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

ANONYMOUS = NS_A + "/role/anonymous"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman"
A_ENUMERATE = NS_N + "/Enumerate"
A_ENUMERATE_RESPONSE = NS_N + "/EnumerateResponse"
A_END = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End"
A_EVENTS = WSMAN + "/Events"
A_EVENT = WSMAN + "/Event"
A_HEARTBEAT = WSMAN + "/Heartbeat"
A_ACK = WSMAN + "/Ack"
A_SUBSCRIPTION_END = NS_E + "/SubscriptionEnd"
A_IDENTIFY = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd/Identify"
R_SUBSCRIPTION = "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"
R_FULL_DUPLEX = "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex"
MODE_EVENTS = WSMAN + "/Events"
BOOKMARK_EARLIEST = WSMAN + "/bookmark/earliest"
STATUS_SOURCE_CANCELLING = NS_E + "/SourceCancelling"
GPO_PATH = "/wsman/SubscriptionManager/WEC"
MAX_ENVELOPE = 512000

# The prefixes Windows uses; echoed elements keep theirs when known.
PREFIX = {NS_S: "s", NS_A: "a", NS_E: "e", NS_N: "n", NS_W: "w", NS_P: "p", NS_M: "m"}
ENV_OPEN = ('<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:e="%s" xmlns:n="%s" xmlns:w="%s" '
            'xmlns:p="%s">' % (NS_S, NS_A, NS_E, NS_N, NS_W, NS_P))


def message_id():
    """uuid:XXXXXXXX-... in upper case, as Windows writes them."""
    return "uuid:" + str(uuid.uuid4()).upper()


# ---- envelopes ------------------------------------------------------------------

def _common_headers(to, action, mid, machine_id, timeout="PT60.000S", resource=None,
                    session_id=None, operation_id=None):
    h = ["<a:To>%s</a:To>" % escape(to)]
    if resource:
        h.append('<w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>' % resource)
    if machine_id:
        h.append('<m:MachineID xmlns:m="%s" s:mustUnderstand="false">%s</m:MachineID>'
                 % (NS_M, escape(machine_id)))
    h.append('<a:ReplyTo><a:Address s:mustUnderstand="true">%s</a:Address></a:ReplyTo>'
             % ANONYMOUS)
    h.append('<a:Action s:mustUnderstand="true">%s</a:Action>' % action)
    h.append('<w:MaxEnvelopeSize s:mustUnderstand="true">%d</w:MaxEnvelopeSize>' % MAX_ENVELOPE)
    h.append("<a:MessageID>%s</a:MessageID>" % mid)
    h.append('<w:Locale xml:lang="en-US" s:mustUnderstand="false" />')
    h.append('<p:DataLocale xml:lang="en-US" s:mustUnderstand="false" />')
    h.append('<p:SessionId s:mustUnderstand="false">%s</p:SessionId>'
             % (session_id or message_id()))
    h.append('<p:OperationID s:mustUnderstand="false">%s</p:OperationID>'
             % (operation_id or message_id()))
    h.append('<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>')
    h.append("<w:OperationTimeout>%s</w:OperationTimeout>" % timeout)
    return "".join(h)


def enumerate_envelope(to, mid, machine_id, max_elements=32000, session_id=None,
                       operation_id=None):
    """The Enumerate of the subscriptions a source POSTs to the GPO path."""
    return (ENV_OPEN + "<s:Header>"
            + _common_headers(to, A_ENUMERATE, mid, machine_id, resource=R_SUBSCRIPTION,
                              session_id=session_id, operation_id=operation_id)
            + "</s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/>"
            "<w:MaxElements>%d</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"
            % max_elements)


def end_envelope(mid, operation_id):
    """.../wsman/End: closes the full-duplex operation (the collector answers 204)."""
    return (ENV_OPEN + "<s:Header><a:To>%s</a:To>"
            '<w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>'
            '<a:Action s:mustUnderstand="true">%s</a:Action>'
            "<a:MessageID>%s</a:MessageID><p:OperationID>%s</p:OperationID>"
            "</s:Header><s:Body></s:Body></s:Envelope>"
            % (ANONYMOUS, R_FULL_DUPLEX, A_END, mid, operation_id))


def identify_envelope():
    return ('<s:Envelope xmlns:s="%s" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity'
            '/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>'
            % NS_S)


def cdata(text):
    """text as CDATA sections ("]]>" split across two)."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def events_envelope(to, mid, machine_id, refs_xml, events, bookmark=None, ack=True,
                    action=A_EVENTS, session_id=None):
    """A delivery: Action .../wsman/Events with events (event XML strings),
    or .../wsman/Heartbeat with none. refs_xml: the echoed reference
    properties; bookmark: BookmarkList XML or None."""
    h = _common_headers(to, action, mid, machine_id, session_id=session_id) + refs_xml
    if bookmark:
        h += "<w:Bookmark>%s</w:Bookmark>" % bookmark
    if ack:
        h += "<w:AckRequested/>"
    body = "".join('<w:Event Action="%s">%s</w:Event>' % (A_EVENT, cdata(ev)) for ev in events)
    return (ENV_OPEN + "<s:Header>" + h + "</s:Header><s:Body><w:Events>" + body
            + "</w:Events></s:Body></s:Envelope>")


def subscription_end_envelope(to, mid, machine_id, refs_xml, manager_addr, manager_refs_xml,
                              status=STATUS_SOURCE_CANCELLING, reason=None, code=1717,
                              session_id=None):
    """SubscriptionEnd from the source's side (Status SourceCancelling, and
    the WSManFault Windows adds)."""
    h = (_common_headers(to, A_SUBSCRIPTION_END, mid, machine_id, timeout="PT0.500S",
                         session_id=session_id) + refs_xml + "<w:AckRequested/>")
    fault = ""
    if reason:
        fault = ('<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
                 'Code="%d" Machine=%s><f:Message>%s</f:Message></f:WSManFault>'
                 % (code, quoteattr(machine_id or ""), escape(reason)))
    return (ENV_OPEN + "<s:Header>" + h + "</s:Header><s:Body><e:SubscriptionEnd>"
            "<e:SubscriptionManager><a:Address>%s</a:Address><a:ReferenceProperties>%s"
            "</a:ReferenceProperties></e:SubscriptionManager><e:Status>%s</e:Status>%s"
            "</e:SubscriptionEnd></s:Body></s:Envelope>"
            % (escape(manager_addr), manager_refs_xml, status, fault))


# ---- bookmarks --------------------------------------------------------------------

def bookmark_xml(positions, current=None):
    """A BookmarkList: positions maps channel -> last RecordId sent;
    IsCurrent="true" marks `current` (the channel of the last event), or
    every channel when current is None."""
    items = []
    for ch, rid in positions.items():
        cur = ' IsCurrent="true"' if current is None or ch == current else ""
        items.append("<Bookmark Channel=%s RecordId=\"%d\"%s/>" % (quoteattr(ch), rid, cur))
    return "<BookmarkList>" + "".join(items) + "</BookmarkList>"


def parse_bookmark(text):
    """BookmarkList XML -> {channel: record id}; {} for None/empty."""
    if not text or not text.strip():
        return {}
    root = ET.fromstring(text)
    if _local(root.tag) != "BookmarkList":
        root = next((e for e in root.iter() if _local(e.tag) == "BookmarkList"), None)
        if root is None:
            return {}
    return {b.get("Channel"): int(b.get("RecordId"))
            for b in root if _local(b.tag) == "Bookmark"}


# ---- parsing replies -----------------------------------------------------------------

def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _child(e, ns, name):
    return None if e is None else e.find("{%s}%s" % (ns, name))


def _text(e):
    return (e.text or "").strip() if e is not None else None


def parse_duration(text):
    """xs:duration (PT3600.000S, PT1M, P1DT2H) -> seconds (float)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?\s*", text)
    if not m:
        raise ValueError("not an xs:duration: %r" % text)
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def serialize(elem, declared=None):
    """An element back to XML text with its own namespace declarations
    (for echoing reference properties as headers, as Windows does:
    <e:Identifier xmlns:e="...">...</e:Identifier>)."""
    declared = dict(declared or {})
    decls = []

    def qname(tag):
        if not tag.startswith("{"):
            return tag
        ns, local = tag[1:].split("}", 1)
        if ns not in declared:
            pfx = PREFIX.get(ns) or "r%d" % len(declared)
            if pfx in declared.values():
                pfx = "r%d" % len(declared)
            declared[ns] = pfx
            decls.append(' xmlns:%s="%s"' % (pfx, ns))
        return "%s:%s" % (declared[ns], local)

    name = qname(elem.tag)
    attrs = "".join(" %s=%s" % (qname(k), quoteattr(v)) for k, v in elem.attrib.items())
    inner = escape(elem.text or "")
    for c in elem:
        inner += serialize(c, declared) + escape(c.tail or "")
    return "<%s%s%s>%s</%s>" % (name, "".join(decls), attrs, inner, name)


class Subscription:
    """One Subscription of an EnumerateResponse: the Version and what the
    source needs of the Subscribe envelope."""

    def __init__(self, elem):
        self.version = _text(_child(elem, NS_SUB, "Version"))
        env = _child(elem, NS_S, "Envelope")
        if env is None:
            raise ValueError("Subscription without s:Envelope")
        self.envelope = ET.tostring(env, encoding="unicode")
        header, body = _child(env, NS_S, "Header"), _child(env, NS_S, "Body")
        self.action = _text(_child(header, NS_A, "Action"))
        self.resource_uri = _text(_child(header, NS_W, "ResourceURI"))
        self.options = {}
        for o in header.iter("{%s}Option" % NS_W) if header is not None else ():
            nil = o.get("{%s}nil" % NS_XSI) == "true"
            self.options[o.get("Name")] = None if nil else (o.text or "").strip()
        self.name = self.options.get("SubscriptionName")
        self.compression = self.options.get("Compression")
        self.content_format = self.options.get("ContentFormat") or "Raw"
        self.read_existing = (self.options.get("ReadExistingEvents") or "").lower() == "true"
        sub = _child(body, NS_E, "Subscribe")
        if sub is None:
            raise ValueError("Subscription envelope without e:Subscribe")
        end_to = _child(sub, NS_E, "EndTo")
        self.end_to, self.end_to_refs = self._epr(end_to)
        dl = _child(sub, NS_E, "Delivery")
        if dl is None:
            raise ValueError("Subscribe without e:Delivery")
        self.mode = dl.get("Mode")
        self.heartbeat = parse_duration(_text(_child(dl, NS_W, "Heartbeats")))
        nt = _child(dl, NS_E, "NotifyTo")
        if nt is None:
            raise ValueError("Subscribe without e:NotifyTo")
        self.notify_to, self.refs = self._epr(nt)
        self.auth_profiles, self.thumbprints = [], []
        for a in nt.iter("{%s}Authentication" % NS_AUTH):
            self.auth_profiles.append(a.get("Profile"))
            for t in a.iter("{%s}Thumbprint" % NS_AUTH):
                self.thumbprints.append((t.get("Role"), _text(t)))
        cr = _child(dl, NS_W, "ConnectionRetry")
        self.retry_total = int(cr.get("Total", "0")) if cr is not None else None
        self.retry_interval = parse_duration(_text(cr)) if cr is not None else None
        me = _child(dl, NS_W, "MaxElements")
        self.max_elements = int(_text(me)) if me is not None else None
        self.max_time = parse_duration(_text(_child(dl, NS_W, "MaxTime")))
        mes = _child(dl, NS_W, "MaxEnvelopeSize")
        self.max_envelope = int(_text(mes)) if mes is not None else MAX_ENVELOPE
        self.max_envelope_policy = mes.get("Policy") if mes is not None else None
        self.content_encoding = _text(_child(dl, NS_W, "ContentEncoding"))
        flt = _child(sub, NS_W, "Filter")
        self.filter_dialect = flt.get("Dialect") if flt is not None else None
        self.query = None
        self.channels = []
        if flt is not None:
            ql = next((e for e in flt.iter() if _local(e.tag) == "QueryList"), None)
            if ql is not None:
                self.query = ET.tostring(ql, encoding="unicode")
                for sel in ql.iter():
                    if _local(sel.tag) == "Select" and sel.get("Path") not in self.channels:
                        self.channels.append(sel.get("Path"))
            elif (flt.text or "").strip():
                self.query = flt.text.strip()  # the QueryList as escaped text
        bm = _child(sub, NS_W, "Bookmark")
        self.bookmark_earliest = False
        self.bookmark = None  # {channel: RecordId} when the collector has one
        if bm is not None:
            bl = next((e for e in bm.iter() if _local(e.tag) == "BookmarkList"), None)
            if bl is not None:
                self.bookmark = parse_bookmark(ET.tostring(bl, encoding="unicode"))
            elif _text(bm) == BOOKMARK_EARLIEST:
                self.bookmark_earliest = True
        self.send_bookmarks = _child(sub, NS_W, "SendBookmarks") is not None
        self.expires = _text(_child(sub, NS_E, "Expires"))
        self.id = self.notify_to.rstrip("/").rsplit("/", 1)[-1] if self.notify_to else None

    @staticmethod
    def _epr(e):
        if e is None:
            return None, []
        addr = _text(_child(e, NS_A, "Address"))
        refs = []
        for kind in ("ReferenceProperties", "ReferenceParameters"):
            holder = _child(e, NS_A, kind)
            if holder is not None:
                refs.extend(list(holder))
        return addr, refs

    @property
    def refs_xml(self):
        """The reference properties to echo as SOAP headers."""
        return "".join(serialize(r) for r in self.refs)

    @property
    def end_to_refs_xml(self):
        return "".join(serialize(r) for r in self.end_to_refs)

    def __repr__(self):
        return "<Subscription %s version=%s notify_to=%s>" % (self.name, self.version,
                                                             self.notify_to)


def parse_envelope(text):
    """(root, header, body) of a SOAP envelope (bytes or str)."""
    root = ET.fromstring(text)
    if root.tag != "{%s}Envelope" % NS_S:
        raise ValueError("not a SOAP envelope: %s" % root.tag)
    return root, _child(root, NS_S, "Header"), _child(root, NS_S, "Body")


def header_text(header, ns, name):
    return _text(_child(header, ns, name))


def parse_enumerate_response(text):
    """The Subscriptions of an EnumerateResponse (OptimizeEnumeration: the
    Items come in the response itself)."""
    _, header, body = parse_envelope(text)
    action = header_text(header, NS_A, "Action")
    if action != A_ENUMERATE_RESPONSE:
        raise ValueError("not an EnumerateResponse: %s" % action)
    er = _child(body, NS_N, "EnumerateResponse")
    items = _child(er, NS_W, "Items")
    if items is None:
        return []
    return [Subscription(s) for s in items if s.tag == "{%s}Subscription" % NS_SUB]


# ---- the event generator ----------------------------------------------------------------

SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing",
                     "{54849625-5478-4994-a5ba-3e3b0328c30d}")
SCM_PROVIDER = ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}")
KW_SUCCESS, KW_FAILURE = "0x8020000000000000", "0x8010000000000000"
USERS = ["alice", "bob", "carol", "dave", "svc_backup", "Administrator"]
PROCESSES = [r"C:\Windows\System32\svchost.exe", r"C:\Windows\System32\cmd.exe",
             r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
             r"C:\Program Files\Mozilla Firefox\firefox.exe", r"C:\Windows\explorer.exe"]
SERVICES = ["Windows Update", "Background Intelligent Transfer Service", "Print Spooler",
            "WinHTTP Web Proxy Auto-Discovery Service", "Windows Defender Antivirus Service"]
LEVEL_NAMES = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information"}


def systime(t=None):
    """TimeCreated SystemTime: 7 fractional digits, Z."""
    t = t or datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (t.microsecond * 10)


def _q(v):
    """A single-quoted attribute value, as the Windows renderer writes them."""
    return "'" + escape(str(v), {"'": "&apos;"}) + "'"


class EventGen:
    """Realistic Windows events for one machine: Security (4624, 4625, 4634,
    4672, 4688), System (7036, 7040, 1014) and any other channel (a generic
    event), EventRecordID increasing per channel from `start`.

    rendered=True adds RenderingInfo (ContentFormat RenderedText)."""

    def __init__(self, computer, start=1000, seed=None, rendered=False, domain="WSMD",
                 fast=False):
        self.computer = computer
        # fast: each event is one of a few templates made once per channel,
        # only EventRecordID and TimeCreated filled in (for benchmarks: a
        # several times higher rate, when the generator must not be the
        # bottleneck).
        self.fast = fast
        self.templates = {}
        self.rng = random.Random(seed)
        self.next_id = {}
        self.start = start
        self.rendered = rendered
        self.domain = domain
        self.machine_account = computer.split(".")[0].upper() + "$"

    def last_ids(self):
        """{channel: last RecordId generated} (the source's current position)."""
        return {ch: n - 1 for ch, n in self.next_id.items()}

    def _rid(self, channel):
        n = self.next_id.get(channel, self.start)
        self.next_id[channel] = n + 1
        return n

    def _system(self, provider, event_id, version, level, task, opcode, keywords, channel,
                rid, qualifiers=None, security="<Security/>", pid=None, tid=None):
        name, guid = provider
        prov = ("<Provider Name=%s Guid=%s EventSourceName=%s/>" % (_q(name), _q(guid), _q(name))
                if qualifiers is not None else "<Provider Name=%s Guid=%s/>" % (_q(name), _q(guid)))
        eid = ("<EventID Qualifiers=%s>%d</EventID>" % (_q(qualifiers), event_id)
               if qualifiers is not None else "<EventID>%d</EventID>" % event_id)
        return ("<System>%s%s<Version>%d</Version><Level>%d</Level><Task>%d</Task>"
                "<Opcode>%d</Opcode><Keywords>%s</Keywords><TimeCreated SystemTime=%s/>"
                "<EventRecordID>%d</EventRecordID><Correlation/>"
                "<Execution ProcessID=%s ThreadID=%s/><Channel>%s</Channel>"
                "<Computer>%s</Computer>%s</System>"
                % (prov, eid, version, level, task, opcode, keywords, _q(systime()), rid,
                   _q(pid or self.rng.randint(4, 9000)), _q(tid or self.rng.randint(8, 12000)),
                   escape(channel), escape(self.computer), security))

    @staticmethod
    def _data(pairs):
        return "<EventData>" + "".join("<Data Name=%s>%s</Data>" % (_q(k), escape(str(v)))
                                       for k, v in pairs) + "</EventData>"

    def _rendering(self, message, level, task, channel, provider, keywords):
        if not self.rendered:
            return ""
        kw = "".join("<Keyword>%s</Keyword>" % escape(k) for k in keywords)
        return ("<RenderingInfo Culture='en-US'><Message>%s</Message><Level>%s</Level>"
                "<Task>%s</Task><Opcode>Info</Opcode><Channel>%s</Channel>"
                "<Provider>%s</Provider><Keywords>%s</Keywords></RenderingInfo>"
                % (escape(message), LEVEL_NAMES.get(level, "Information"), escape(task),
                   escape(channel), escape(provider), kw))

    def _event(self, system, data, rendering):
        return "<Event xmlns=%s>%s%s%s</Event>" % (_q(NS_EVENT), system, data, rendering)

    def security(self, event_id=None, extra=""):
        ch = "Security"
        event_id = event_id or self.rng.choice([4624, 4624, 4688, 4688, 4634, 4625, 4672])
        rid = self._rid(ch)
        user = self.rng.choice(USERS)
        logon_id = "0x%x" % self.rng.randint(0x10000, 0xffffff)
        subject = [("SubjectUserSid", "S-1-5-18"), ("SubjectUserName", self.machine_account),
                   ("SubjectDomainName", self.domain), ("SubjectLogonId", "0x3e7")]
        kw, task = KW_SUCCESS, 12544
        if event_id == 4624:
            data = subject + [("TargetUserSid", "S-1-5-21-1004336348-1177238915-682003330-%d"
                               % self.rng.randint(1000, 2000)),
                              ("TargetUserName", user), ("TargetDomainName", self.domain),
                              ("TargetLogonId", logon_id),
                              ("LogonType", self.rng.choice([2, 3, 3, 5, 10])),
                              ("LogonProcessName", "User32 "),
                              ("AuthenticationPackageName", "Negotiate"),
                              ("WorkstationName", self.machine_account.rstrip("$")),
                              ("IpAddress", "10.0.%d.%d" % (self.rng.randint(0, 9),
                                                            self.rng.randint(1, 254))),
                              ("IpPort", self.rng.randint(49152, 65535))]
            msg = "An account was successfully logged on."
            tname = "Logon"
        elif event_id == 4625:
            kw = KW_FAILURE
            data = subject + [("TargetUserSid", "S-1-0-0"), ("TargetUserName", user),
                              ("TargetDomainName", self.domain), ("Status", "0xc000006d"),
                              ("FailureReason", "%%2313"), ("SubStatus", "0xc000006a"),
                              ("LogonType", 3), ("IpAddress", "192.0.2.%d"
                                                  % self.rng.randint(1, 254))]
            msg = "An account failed to log on."
            tname = "Logon"
        elif event_id == 4634:
            task = 12545
            data = [("TargetUserSid", "S-1-5-21-1004336348-1177238915-682003330-1105"),
                    ("TargetUserName", user), ("TargetDomainName", self.domain),
                    ("TargetLogonId", logon_id), ("LogonType", 3)]
            msg = "An account was logged off."
            tname = "Logoff"
        elif event_id == 4672:
            task = 12548
            data = subject[:3] + [("SubjectLogonId", logon_id),
                                  ("PrivilegeList",
                                   "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege")]
            msg = "Special privileges assigned to new logon."
            tname = "Special Logon"
        else:
            event_id, task = 4688, 13312
            proc = self.rng.choice(PROCESSES)
            data = subject + [("NewProcessId", "0x%x" % self.rng.randint(0x100, 0x3000)),
                              ("NewProcessName", proc), ("TokenElevationType", "%%1936"),
                              ("ProcessId", "0x%x" % self.rng.randint(0x100, 0x3000)),
                              ("CommandLine", '"%s" %s' % (proc, extra or "-k netsvcs")),
                              ("ParentProcessName", r"C:\Windows\System32\services.exe"),
                              ("MandatoryLabel", "S-1-16-16384")]
            msg = "A new process has been created."
            tname = "Process Creation"
        if extra and event_id != 4688:
            data.append(("Extra", extra))
        system = self._system(SECURITY_PROVIDER, event_id, 2, 0, task, 0, kw, ch, rid,
                              pid=588, tid=self.rng.randint(600, 900))
        audit = "Audit Failure" if kw == KW_FAILURE else "Audit Success"
        return self._event(system, self._data(data),
                           self._rendering(msg, 0, tname, ch,
                                           "Microsoft Windows security auditing.", [audit]))

    def system(self, event_id=None, extra=""):
        ch = "System"
        event_id = event_id or self.rng.choice([7036, 7036, 7036, 7040, 1014])
        rid = self._rid(ch)
        svc = self.rng.choice(SERVICES)
        if event_id == 1014:
            prov = ("Microsoft-Windows-DNS-Client", "{1c95126e-7eea-49a9-a3fe-a378b03ddb4d}")
            system = self._system(prov, 1014, 0, 3, 1014, 0, "0x4000000000000000", ch, rid,
                                  security="<Security UserID='S-1-5-20'/>")
            data = [("QueryName", "wpad.%s" % self.computer.split(".", 1)[-1]),
                    ("AddressLength", 128), ("Address", extra or "")]
            msg = "Name resolution for the name timed out."
            return self._event(system, self._data(data),
                               self._rendering(msg, 3, "", ch, prov[0], []))
        if event_id == 7040:
            data = [("param1", svc), ("param2", "auto start"), ("param3", "demand start"),
                    ("param4", extra or "BITS")]
            msg = "The start type of the %s service was changed." % svc
            kw = "0x8080000000000000"
        else:
            event_id = 7036
            state = self.rng.choice(["running", "stopped"])
            data = [("param1", svc), ("param2", state + extra)]
            msg = "The %s service entered the %s state." % (svc, state)
            kw = "0x8080000000000000"
        system = self._system(SCM_PROVIDER, event_id, 0, 4, 0, 0, kw, ch, rid,
                              qualifiers=16384, pid=684)
        return self._event(system, self._data(data),
                           self._rendering(msg, 4, "", ch, SCM_PROVIDER[0], ["Classic"]))

    def generic(self, channel, extra=""):
        rid = self._rid(channel)
        prov = ("Microsoft-Windows-Wsmd-Sim", "{3f0d3a1c-7a39-4f4a-9a2e-6a1b5b3c9d01}")
        system = self._system(prov, 100, 0, 4, 0, 0, "0x8000000000000000", channel, rid)
        return self._event(system, self._data([("Message", "generic event %d%s" % (rid, extra))]),
                           self._rendering("generic event", 4, "", channel, prov[0], []))

    def make(self, channel="Security", inject_control=False, malformed=False):
        """One event of channel. inject_control puts U+0005 (not allowed in
        XML 1.0, seen in real Windows events) in a data value; malformed
        returns text that is not well-formed XML (still counted: the
        channel's next RecordId is used)."""
        extra = "ctl\u0005char" if inject_control else ""
        if self.fast and not (inject_control or malformed):
            return self._from_template(channel)
        if channel == "Security":
            ev = self.security(extra=extra)
        elif channel == "System":
            ev = self.system(extra=extra)
        else:
            ev = self.generic(channel, extra=extra)
        if malformed:
            # Cut inside the System element: unbalanced, the rest lost.
            ev = ev[:ev.index("</EventRecordID>") + len("</EventRecordID>")] + "<Channel>"
        return ev

    RID_MARK, TIME_MARK = "\x01RID\x01", "\x01TIME\x01"

    def _from_template(self, channel):
        pool = self.templates.get(channel)
        if pool is None:
            saved, self.fast = self.next_id.get(channel), False
            pool = []
            for _ in range(16):
                ev = self.make(channel)
                rid = self.next_id[channel] - 1
                ev = ev.replace("<EventRecordID>%d<" % rid, "<EventRecordID>%s<" % self.RID_MARK)
                ev = re.sub(r"SystemTime='[^']*'", "SystemTime='%s'" % self.TIME_MARK, ev, 1)
                pool.append(ev)
            self.fast = True
            if saved is None:
                del self.next_id[channel]
            else:
                self.next_id[channel] = saved
            self.templates[channel] = pool
        rid = self._rid(channel)
        return (pool[rid % len(pool)].replace(self.RID_MARK, str(rid))
                .replace(self.TIME_MARK, systime()))

    def batch_meta(self, n, channels=("Security", "System"), inject_control_at=None,
                   malformed_at=None):
        """n events spread over channels (in turn): [(xml, channel, RecordId)]."""
        out = []
        for i in range(n):
            ch = channels[i % len(channels)]
            xml = self.make(ch, inject_control=i == inject_control_at,
                            malformed=i == malformed_at)
            out.append((xml, ch, self.next_id[ch] - 1))
        return out

    def batch(self, n, channels=("Security", "System"), inject_control_at=None,
              malformed_at=None):
        """n events spread over channels (in turn); (events, channel of the last)."""
        meta = self.batch_meta(n, channels, inject_control_at, malformed_at)
        return [m[0] for m in meta], (meta[-1][1] if meta else None)


def event_111(computer, t=None):
    """The first event of a new subscription without bookmark (provider
    Microsoft-Windows-EventForwarder, no Channel, no EventRecordID)."""
    ts = (t or datetime.datetime.now(datetime.timezone.utc))
    ts = ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts.microsecond // 1000)
    return ("<Event xmlns=%s><System><Provider Name='Microsoft-Windows-EventForwarder'/>"
            "<EventID>111</EventID><TimeCreated SystemTime=%s/><Computer>%s</Computer>"
            "</System><SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId>"
            "</SubscriptionBookmarkEvent></Event>" % (_q(NS_EVENT), _q(ts), escape(computer)))
