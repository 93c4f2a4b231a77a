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
  w:Event Action=".../wsman/Event" (the events themselves: wefsim_events).

Only the standard library.
"""

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
