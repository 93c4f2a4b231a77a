"""Helpers for the CIM/WMI interop tests (no pytest fixtures here).

A small WS-Management client over http.client: requests shaped like
pywinrm's (same headers, same order), Get / Put / Invoke / Enumerate /
Pull / Release / GetStatus, and xml.etree parsing of the answers with
the namespaces below. Every reply is checked for a:RelatesTo equal to
the request's a:MessageID.
"""

import http.client
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from wsman_helpers import (
    ANONYMOUS, HTTP_TIMEOUT, NS as BASE_NS, PASSWORD, SOAP_CT, USER, Reply,
    basic_auth, new_message_id,
)

DMTF = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
WMI_ALL = WMI + "*"
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
SELECTOR_DIALECT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
CQL = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf"

XF = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
EN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
GET = XF + "Get"
PUT = XF + "Put"
ENUMERATE = EN + "Enumerate"
PULL = EN + "Pull"
RELEASE = EN + "Release"
GETSTATUS = EN + "GetStatus"

NS = dict(BASE_NS)
NS.update({
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "cim": "http://schemas.dmtf.org/wbem/wscim/1/common",
})
XSI_NIL = "{%s}nil" % NS["xsi"]

# WSManFault codes (ERROR_WSMAN_*)
CODE_INVALID_SELECTORS = "2150858813"
CODE_NOT_FOUND = "2150858752"
CODE_DEST_UNREACHABLE = "2150858770"
CODE_INVALID_ENUM_CONTEXT = "2150858779"
CODE_CANNOT_PROCESS_FILTER = "2150859042"
CODE_FILTER_DIALECT = "2150858777"
CODE_ACTION_NOT_SUPPORTED = "2150858771"
CODE_UNSUPPORTED_FEATURE = "2150858818"
CODE_INVALID_OPTIONS = "2150858809"
CODE_FRAGMENT = "2150858899"

DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")


def class_uri(cls, form=None):
    """The resource URI of a class: WMI form for Win32_ classes (or when
    form == "wmi"), DMTF form otherwise."""
    if form == "wmi" or (form is None and cls.lower().startswith("win32_")):
        return WMI + cls
    return DMTF + cls


def q(name):
    """'w:Items' -> '{ns}Items' for Element.tag comparisons."""
    prefix, local = name.split(":")
    return "{%s}%s" % (NS[prefix], local)


def local_name(tag):
    return tag.rsplit("}", 1)[-1]


def selector_set(selectors):
    if not selectors:
        return ""
    items = "".join(
        f'<w:Selector Name={quoteattr(k)}>{escape(str(v))}</w:Selector>'
        for k, v in (selectors.items() if isinstance(selectors, dict) else selectors))
    return f"<w:SelectorSet>{items}</w:SelectorSet>"


def envelope(action, resource_uri, body="", *, selectors=None, message_id=None,
             max_envelope_size=153600, extra_headers="", to=None,
             operation_timeout="PT20S"):
    """A request with pywinrm's headers (and its order), plus a SelectorSet
    and any extra header XML. resource_uri None leaves w:ResourceURI out."""
    if message_id is None:
        message_id = new_message_id()
    to = to or "http://127.0.0.1/wsman"
    parts = [
        '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:p="{p}" '
        'xmlns:n="{n}">'.format(**NS),
        "<s:Header>",
        f"<a:To>{escape(to)}</a:To>",
        f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ANONYMOUS}</a:Address></a:ReplyTo>',
    ]
    if max_envelope_size is not None:
        parts.append(f'<w:MaxEnvelopeSize s:mustUnderstand="true">{max_envelope_size}'
                     "</w:MaxEnvelopeSize>")
    parts += [
        f"<a:MessageID>{message_id}</a:MessageID>",
        '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>',
        '<p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/>',
    ]
    if operation_timeout:
        parts.append(f"<w:OperationTimeout>{operation_timeout}</w:OperationTimeout>")
    if resource_uri is not None:
        parts.append(f'<w:ResourceURI s:mustUnderstand="true">{escape(resource_uri)}'
                     "</w:ResourceURI>")
    parts.append(f'<a:Action s:mustUnderstand="true">{escape(action)}</a:Action>')
    parts.append(selector_set(selectors))
    parts.append(extra_headers)
    parts.append("</s:Header>")
    parts.append(f"<s:Body>{body}</s:Body>" if body else "<s:Body/>")
    parts.append("</s:Envelope>")
    return "".join(parts), message_id


# ---- bodies ----------------------------------------------------------------

def wql_filter(query, dialect=WQL):
    return f"<w:Filter Dialect={quoteattr(dialect)}>{escape(query)}</w:Filter>"


def selector_filter(selectors):
    return (f"<w:Filter Dialect={quoteattr(SELECTOR_DIALECT)}>"
            f"{selector_set(selectors)}</w:Filter>")


def enumerate_body(optimize=False, max_elements=None, mode=None, filter_xml=""):
    inner = ""
    if optimize:
        inner += "<w:OptimizeEnumeration/>"
    if max_elements is not None:
        inner += f"<w:MaxElements>{max_elements}</w:MaxElements>"
    if mode:
        inner += f"<w:EnumerationMode>{mode}</w:EnumerationMode>"
    inner += filter_xml or ""
    return f"<n:Enumerate>{inner}</n:Enumerate>"


def pull_body(context, max_elements=None, max_characters=None):
    inner = f"<n:EnumerationContext>{escape(context)}</n:EnumerationContext>"
    if max_elements is not None:
        inner += f"<n:MaxElements>{max_elements}</n:MaxElements>"
    if max_characters is not None:
        inner += f"<n:MaxCharacters>{max_characters}</n:MaxCharacters>"
    return f"<n:Pull>{inner}</n:Pull>"


def release_body(context):
    return f"<n:Release><n:EnumerationContext>{escape(context)}</n:EnumerationContext></n:Release>"


def getstatus_body(context):
    return (f"<n:GetStatus><n:EnumerationContext>{escape(context)}</n:EnumerationContext>"
            "</n:GetStatus>")


def invoke_input(resource_uri, method, params=None):
    inner = "".join(f"<p:{k}>{escape(str(v))}</p:{k}>" for k, v in (params or {}).items())
    return (f'<p:{method}_INPUT xmlns:p={quoteattr(resource_uri)}>{inner}'
            f"</p:{method}_INPUT>")


# ---- results -----------------------------------------------------------------

class Answer:
    """A parsed reply: .reply (wsman_helpers.Reply), .root, .message_id, and
    for faults .subcode / .wsman_code."""

    def __init__(self, reply, message_id, request_text):
        self.reply = reply
        self.message_id = message_id
        self.request = request_text
        try:
            self.root = ET.fromstring(reply.body)
        except ET.ParseError as e:
            raise AssertionError(f"reply is not well-formed XML ({e}): {self.where()}")
        assert self.root.tag == q("s:Envelope"), f"reply root is not s:Envelope: {self.where()}"
        rel = self.root.find("s:Header/a:RelatesTo", NS)
        self.relates_to = (rel.text or "").strip() if rel is not None else None
        assert self.relates_to == message_id, (
            f"a:RelatesTo {self.relates_to!r} != request MessageID {message_id!r}: "
            f"{self.where()}")
        act = self.root.find("s:Header/a:Action", NS)
        self.action = (act.text or "").strip() if act is not None else None
        self.body = self.root.find("s:Body", NS)
        assert self.body is not None, f"no s:Body: {self.where()}"
        self.fault = self.body.find("s:Fault", NS)
        self.subcode = self.wsman_code = self.code = None
        if self.fault is not None:
            v = self.fault.find("s:Code/s:Value", NS)
            self.code = (v.text or "").strip() if v is not None else None
            s = self.fault.find("s:Code/s:Subcode/s:Value", NS)
            self.subcode = (s.text or "").strip() if s is not None else None
            wf = self.fault.find("s:Detail/f:WSManFault", NS)
            self.wsman_code = wf.get("Code") if wf is not None else None

    @property
    def is_fault(self):
        return self.fault is not None

    @property
    def text(self):
        return self.reply.text

    def where(self, limit=4000):
        return (f"\nrequest:\n{self.request[:limit]}\nreply (HTTP {self.reply.status}):\n"
                f"{self.reply.text[:limit]}")

    def ok(self, action=None):
        """Asserts a non-fault 200 answer (with the given a:Action)."""
        assert self.reply.status == 200 and not self.is_fault, (
            f"expected success, got fault subcode={self.subcode} code={self.wsman_code}"
            f"{self.where()}")
        if action is not None:
            assert self.action == action, f"a:Action {self.action!r} != {action!r}{self.where()}"
        return self

    def expect_fault(self, subcode, wsman_code=None):
        """Asserts a SOAP fault with the given subcode ('w:InvalidSelectors',
        compared by local name and namespace) and WSManFault Code."""
        assert self.is_fault, f"expected fault {subcode}, got success{self.where()}"
        assert self.reply.status in (400, 500), (
            f"fault with HTTP status {self.reply.status}{self.where()}")
        want_prefix, want_local = subcode.split(":")
        got = self.subcode or ""
        gp, _, gl = got.rpartition(":")
        assert gl == want_local, (
            f"fault subcode {got!r}, expected {subcode!r}{self.where()}")
        # The prefix must be bound to the expected namespace in the reply.
        uri = _prefix_uri(self.reply.text, gp)
        assert uri == NS[want_prefix], (
            f"fault subcode prefix {gp!r} bound to {uri!r}, expected {NS[want_prefix]!r}"
            f"{self.where()}")
        if wsman_code is not None:
            assert self.wsman_code == str(wsman_code), (
                f"WSManFault Code {self.wsman_code!r}, expected {wsman_code}{self.where()}")
        return self


def _prefix_uri(text, prefix):
    m = re.search(r'xmlns:%s="([^"]*)"' % re.escape(prefix), text)
    return m.group(1) if m else None


def instance_props(elem):
    """{name: value} of an instance element. value: the text (str), None for
    xsi:nil, a list when the property repeats (arrays), and for datetimes
    the text of the cim:Datetime / cim:Interval child."""
    out = {}
    for child in elem:
        name = local_name(child.tag)
        if child.get(XSI_NIL) == "true":
            val = None
        elif len(child):
            inner = child[0]
            val = (inner.text or "")
        else:
            val = child.text or ""
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(val)
        else:
            out[name] = val
    return out


def datetime_child(prop_elem):
    """The cim:Datetime child of a property element, or None."""
    return prop_elem.find("cim:Datetime", NS)


def epr_selectors(epr):
    """(ResourceURI, {Name: value}) of an a:EndpointReference."""
    ruri = epr.find("a:ReferenceParameters/w:ResourceURI", NS)
    sels = {s.get("Name"): (s.text or "")
            for s in epr.findall("a:ReferenceParameters/w:SelectorSet/w:Selector", NS)}
    return (ruri.text or "").strip() if ruri is not None else None, sels


# ---- the client ----------------------------------------------------------------

class Client:
    """One user's connection to wsmd (a keep-alive http.client connection,
    reopened if the server closes it)."""

    def __init__(self, port, user=USER, password=PASSWORD, timeout=HTTP_TIMEOUT * 3):
        self.port = port
        self.user = user
        self.password = password
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _post(self, text):
        data = text.encode("utf-8")
        hdrs = {"Content-Type": SOAP_CT, "Authorization": basic_auth(self.user, self.password)}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request("POST", "/wsman", body=data, headers=hdrs)
                resp = self.conn.getresponse()
                body = resp.read()
                reply = Reply(resp.status, resp.getheaders(), body)
                if (resp.getheader("Connection") or "").lower() == "close":
                    self.close()
                return reply
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a kept-alive connection the server closed meanwhile: retry once
                self.close()
                if attempt:
                    raise

    def send(self, action, resource_uri, body="", **kw):
        text, mid = envelope(action, resource_uri, body, **kw)
        reply = self._post(text)
        return Answer(reply, mid, text)

    # Transfer ---------------------------------------------------------------

    def get(self, resource_uri, selectors=None, fragment=None, **kw):
        extra = kw.pop("extra_headers", "")
        if fragment is not None:
            extra += (f'<w:FragmentTransfer s:mustUnderstand="true">{escape(fragment)}'
                      "</w:FragmentTransfer>")
        return self.send(GET, resource_uri, selectors=selectors, extra_headers=extra, **kw)

    def get_instance(self, resource_uri, selectors=None, **kw):
        """Get that must succeed: (answer, instance element)."""
        a = self.get(resource_uri, selectors, **kw).ok(GET + "Response")
        kids = list(a.body)
        assert len(kids) == 1, f"GetResponse body should hold one instance{a.where()}"
        return a, kids[0]

    def put(self, resource_uri, body, selectors=None, **kw):
        return self.send(PUT, resource_uri, body, selectors=selectors, **kw)

    def invoke(self, resource_uri, method, params=None, selectors=None, **kw):
        return self.send(resource_uri + "/" + method, resource_uri,
                         invoke_input(resource_uri, method, params), selectors=selectors, **kw)

    def invoke_output(self, resource_uri, method, params=None, selectors=None, **kw):
        """Invoke that must succeed: (answer, {out param: value})."""
        a = self.invoke(resource_uri, method, params, selectors, **kw).ok(
            f"{resource_uri}/{method}Response")
        out = a.body.find("{%s}%s_OUTPUT" % (resource_uri, method))
        assert out is not None, f"no p:{method}_OUTPUT in {resource_uri} namespace{a.where()}"
        return a, instance_props(out)

    # Enumeration --------------------------------------------------------------

    def enumerate(self, resource_uri, optimize=False, max_elements=None, mode=None,
                  filter_xml="", selectors=None, **kw):
        return self.send(ENUMERATE, resource_uri,
                         enumerate_body(optimize, max_elements, mode, filter_xml),
                         selectors=selectors, **kw)

    def pull(self, resource_uri, context, max_elements=None, max_characters=None, **kw):
        return self.send(PULL, resource_uri, pull_body(context, max_elements, max_characters),
                         **kw)

    def release(self, resource_uri, context, **kw):
        return self.send(RELEASE, resource_uri, release_body(context), **kw)

    def get_status(self, resource_uri, context, **kw):
        return self.send(GETSTATUS, resource_uri, getstatus_body(context), **kw)

    def enumerate_all(self, resource_uri, optimize=True, max_elements=100, mode=None,
                      filter_xml="", selectors=None, pull_max=100, max_envelope_size=153600,
                      max_rounds=10000):
        """Enumerate then Pull until the end. Returns (items, answers): items
        are the elements under w:Items / n:Items in order."""
        items, answers = [], []
        a = self.enumerate(resource_uri, optimize, max_elements if optimize else None, mode,
                           filter_xml, selectors,
                           max_envelope_size=max_envelope_size).ok(ENUMERATE + "Response")
        answers.append(a)
        er = a.body.find("n:EnumerateResponse", NS)
        assert er is not None, f"no n:EnumerateResponse{a.where()}"
        ctx_el = er.find("n:EnumerationContext", NS)
        ctx = (ctx_el.text or "").strip() if ctx_el is not None else ""
        done = False
        if optimize:
            w_items = er.find("w:Items", NS)
            assert w_items is not None, f"optimized EnumerateResponse lacks w:Items{a.where()}"
            items.extend(list(w_items))
            done = er.find("w:EndOfSequence", NS) is not None
        else:
            assert [local_name(c.tag) for c in er] == ["EnumerationContext"], (
                f"plain EnumerateResponse should hold only n:EnumerationContext{a.where()}")
        rounds = 0
        while not done:
            assert ctx, f"no EnumerationContext to pull with{a.where()}"
            rounds += 1
            assert rounds <= max_rounds, "enumeration did not end"
            a = self.pull(resource_uri, ctx, pull_max,
                          max_envelope_size=max_envelope_size).ok(PULL + "Response")
            answers.append(a)
            pr = a.body.find("n:PullResponse", NS)
            assert pr is not None, f"no n:PullResponse{a.where()}"
            n_items = pr.find("n:Items", NS)
            if n_items is not None:
                items.extend(list(n_items))
            done = pr.find("n:EndOfSequence", NS) is not None
            c = pr.find("n:EnumerationContext", NS)
            if c is not None and (c.text or "").strip():
                ctx = c.text.strip()
        return items, answers

    def enumerate_instances(self, resource_uri, **kw):
        """[(element, props)] of every instance of an object enumeration."""
        items, _ = self.enumerate_all(resource_uri, **kw)
        return [(el, instance_props(el)) for el in items]
