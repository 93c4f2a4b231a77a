"""Shared helpers for the wsmd interop tests (no pytest fixtures here).

Everything talks to the daemon over loopback only.
"""

import base64
import http.client
import os
import select
import socket
import time
import uuid
import xml.etree.ElementTree as ET

USER = "alice"
PASSWORD = "alice-pw-1"

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wsmid": "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}

WSMAN_PROTOCOL_VERSION = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
TRANSFER_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"

SOAP_CT = "application/soap+xml;charset=UTF-8"

IDENTIFY_BODY = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)

SANITIZED = os.environ.get("WSMD_SANITIZED") == "1"

HTTP_TIMEOUT = 10.0


def basic_auth(user=USER, password=PASSWORD):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def new_message_id():
    return f"uuid:{str(uuid.uuid4()).upper()}"


def wsman_envelope(action, resource_uri, to, message_id=None, body="",
                   max_envelope_size=153600):
    """A request shaped like the ones pywinrm sends."""
    if message_id is None:
        message_id = new_message_id()
    return (
        '<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:p="{p}">'
        "<s:Header>"
        "<a:To>{to}</a:To>"
        '<a:ReplyTo><a:Address s:mustUnderstand="true">{anon}</a:Address></a:ReplyTo>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">{mes}</w:MaxEnvelopeSize>'
        "<a:MessageID>{mid}</a:MessageID>"
        '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
        '<p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/>'
        "<w:OperationTimeout>PT20S</w:OperationTimeout>"
        '<w:ResourceURI s:mustUnderstand="true">{ruri}</w:ResourceURI>'
        '<a:Action s:mustUnderstand="true">{action}</a:Action>'
        "</s:Header>"
        "<s:Body>{body}</s:Body>"
        "</s:Envelope>"
    ).format(mid=message_id, to=to, anon=ANONYMOUS, mes=max_envelope_size,
             ruri=resource_uri, action=action, body=body, **NS)


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        # list of (name, value) pairs, names as sent
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "Reply(status=%r, headers=%r, body=%r)" % (
            self.status, self.headers, self.body[:2000])


def request(port, method="POST", path="/wsman", body=IDENTIFY_BODY,
            content_type=SOAP_CT, auth=(USER, PASSWORD), headers=None,
            timeout=HTTP_TIMEOUT, conn=None):
    """One HTTP request on a fresh (or given) http.client connection."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {}
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    if auth is not None:
        hdrs["Authorization"] = basic_auth(*auth)
    if headers:
        hdrs.update(headers)
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, resp.getheaders(), data)
    finally:
        if own:
            conn.close()


def post(port, body=IDENTIFY_BODY, **kw):
    return request(port, "POST", "/wsman", body=body, **kw)


def parse_xml(reply):
    try:
        return ET.fromstring(reply.body)
    except ET.ParseError as e:
        raise AssertionError(f"reply body is not well-formed XML ({e}): {reply!r}")


def assert_soap_content_type(reply):
    ct = reply.header("Content-Type")
    assert ct is not None and "application/soap+xml" in ct.lower(), (
        f"reply lacks Content-Type application/soap+xml: {reply!r}")


def assert_identify_response(reply):
    assert reply.status == 200, f"Identify did not return 200: {reply!r}"
    assert_soap_content_type(reply)
    root = parse_xml(reply)
    ir = root.find("s:Body/wsmid:IdentifyResponse", NS)
    assert ir is not None, f"no s:Body/wsmid:IdentifyResponse: {reply!r}"
    pv = ir.find("wsmid:ProtocolVersion", NS)
    assert pv is not None and (pv.text or "").strip() == WSMAN_PROTOCOL_VERSION, (
        f"bad/missing ProtocolVersion: {reply!r}")
    for name in ("ProductVendor", "ProductVersion"):
        el = ir.find(f"wsmid:{name}", NS)
        assert el is not None and (el.text or "").strip(), (
            f"missing/empty wsmid:{name}: {reply!r}")
    return ir


def assert_identify_ok(port):
    """After every bad request an ordinary authenticated Identify still works."""
    try:
        reply = post(port)
    except OSError as e:
        raise AssertionError(f"daemon unreachable after previous request: {e!r}")
    ir = assert_identify_response(reply)
    assert ir.find("wsmid:SecurityProfiles", NS) is not None, (
        f"authenticated IdentifyResponse lacks wsmid:SecurityProfiles: {reply!r}")
    return reply


class Fault:
    def __init__(self, root, reply):
        self.root = root
        self.reply = reply
        self.fault = root.find("s:Body/s:Fault", NS)
        assert self.fault is not None, f"no s:Body/s:Fault in reply: {reply!r}"
        sub = self.fault.find("s:Code/s:Subcode/s:Value", NS)
        self.subcode = (sub.text or "").strip() if sub is not None else None
        code = self.fault.find("s:Code/s:Value", NS)
        self.code = (code.text or "").strip() if code is not None else None
        wf = self.fault.find("s:Detail/f:WSManFault", NS)
        self.wsman_code = wf.get("Code") if wf is not None else None
        rel = root.find("s:Header/a:RelatesTo", NS)
        self.relates_to = (rel.text or "").strip() if rel is not None else None

    def __repr__(self):
        return (f"Fault(code={self.code!r}, subcode={self.subcode!r}, "
                f"wsman_code={self.wsman_code!r}, relates_to={self.relates_to!r})")


def parse_fault(reply):
    return Fault(parse_xml(reply), reply)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def raw_request(port, head, body=b"", timeout=HTTP_TIMEOUT, read_body=True,
                chunk=16384):
    """Send a raw request, interleaving the body upload with reads.

    The server may answer (401/413) before reading the body and close the
    connection; resets and broken pipes after that are tolerated.  Returns
    (status or None, headers dict (lower-case names), body bytes, error or None).
    """
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setblocking(False)
    data = head + body
    sent = 0
    buf = b""
    err = None
    deadline = time.monotonic() + timeout
    status = None
    hdrs = {}
    hdr_end = -1
    try:
        while True:
            if time.monotonic() > deadline:
                err = TimeoutError("raw_request timed out")
                break
            want_w = [s] if sent < len(data) else []
            r, w, _ = select.select([s], want_w, [], 0.2)
            if r:
                try:
                    piece = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError) as e:
                    err = e
                    break
                except BlockingIOError:
                    piece = None
                if piece == b"":
                    break
                if piece:
                    buf += piece
                    if hdr_end < 0:
                        hdr_end = buf.find(b"\r\n\r\n")
                        if hdr_end >= 0:
                            lines = buf[:hdr_end].decode("latin-1").split("\r\n")
                            status = int(lines[0].split()[1])
                            for ln in lines[1:]:
                                k, _, v = ln.partition(":")
                                hdrs[k.strip().lower()] = v.strip()
                            if not read_body:
                                break
                    if hdr_end >= 0:
                        clen = int(hdrs.get("content-length", "-1"))
                        if clen >= 0 and len(buf) - (hdr_end + 4) >= clen:
                            break
            if w:
                try:
                    n = s.send(data[sent:sent + chunk])
                    sent += n
                except (ConnectionResetError, BrokenPipeError) as e:
                    # Server stopped reading; keep trying to read its reply.
                    sent = len(data)
                    err = e
                except BlockingIOError:
                    pass
    finally:
        s.close()
    rbody = buf[hdr_end + 4:] if hdr_end >= 0 else b""
    if status is not None:
        # a reset after the status line has been received is fine
        err = None if isinstance(err, (ConnectionResetError, BrokenPipeError)) else err
    return status, hdrs, rbody, err


def http_head(method, path, port, headers):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
