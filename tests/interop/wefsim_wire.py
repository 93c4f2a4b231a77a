"""The wire of a simulated Windows source (part of wefsim; wefsim.py
re-exports it): bodies (UTF-16LE with BOM or UTF-8, SLDC), the
multipart/encrypted framing of MS-WSMV 2.2.9.1 as Windows lays it out, GSSAPI
credentials and contexts (python3-gssapi), and one HTTP connection with its
security context (Channel). See wefsim.py's docstring for the facts.
"""

import base64
import http.client
import re
import struct
import subprocess
import uuid

from wefsim_xml import parse_envelope

KRB5_OID = "1.2.840.113554.1.2.2"
SPNEGO_OID = "1.3.6.1.5.5.2"
PROTO = {"Kerberos": "application/HTTP-Kerberos-session-encrypted",
         "Negotiate": "application/HTTP-SPNEGO-session-encrypted"}
BOUNDARY = b"--Encrypted Boundary"
MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
USER_AGENT = "Microsoft WinRM Client"


class SimError(Exception):
    pass


class HttpError(SimError):
    def __init__(self, status, what, body=b""):
        super().__init__("%s: HTTP %d %s" % (what, status, body[:300]))
        self.status = status
        self.body = body


class AuthError(SimError):
    pass


class AckError(SimError):
    pass


class SldcUnavailable(SimError):
    pass


def load_sldc():
    """tests/interop/sldc.py (another slice), imported only when a body is
    to be compressed."""
    try:
        import sldc
    except ImportError as e:
        raise SldcUnavailable("SLDC compression asked for but tests/interop/sldc.py cannot "
                              "be imported (%s)" % e) from None
    if not hasattr(sldc, "compress"):
        raise SldcUnavailable("tests/interop/sldc.py has no compress(data) -> bytes")
    return sldc


def compress_sldc(data, tool=None):
    """SLDC: through the C sldc-tool (`tool -c`, stdin to stdout) when a
    path is given -- the Python compressor runs at well under 1 MB/s, which
    would make a benchmark measure the simulator -- else sldc.py."""
    if tool:
        cp = subprocess.run([tool, "-c"], input=data, capture_output=True, timeout=60)
        if cp.returncode != 0:
            raise SimError("%s -c failed: %s" % (tool, cp.stderr.decode(errors="replace")))
        return cp.stdout
    return load_sldc().compress(data)


# ---- bodies ---------------------------------------------------------------------

def encode_body(text, utf16=True):
    """(bytes, charset): UTF-16LE with BOM as Windows sends, or UTF-8."""
    if utf16:
        return b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass"), "UTF-16"
    return text.encode("utf-8", "surrogatepass"), "UTF-8"


def decode_body(data, charset=None):
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if charset and charset.upper().replace("-", "") in ("UTF16", "UTF16LE"):
        return data.decode("utf-16-le")
    return data.decode("utf-8")


# ---- multipart/encrypted (MS-WSMV 2.2.9.1) -----------------------------------------------

def wrap(ctx, plain):
    """(header, sealed): gss_wrap_iov with HEADER, DATA, PADDING as Windows'
    SSPI EncryptMessage lays it out (SECBUFFER_TOKEN, DATA, PADDING)."""
    from gssapi.raw import IOV, IOVBufferType, wrap_iov
    iov = IOV(IOVBufferType.header, plain, IOVBufferType.padding, std_layout=False)
    wrap_iov(ctx, iov, confidential=True)
    return iov[0].value, iov[1].value + (iov[2].value or b"")


def seal(ctx, plain, proto, charset="UTF-16"):
    """The multipart/encrypted body of plain (one part)."""
    header, sealed = wrap(ctx, plain)
    return (BOUNDARY + b"\r\n\tContent-Type: " + proto.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=" + charset.encode()
            + b";Length=" + str(len(plain)).encode() + b"\r\n" + BOUNDARY + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<I", len(header)) + header + sealed + BOUNDARY + b"--\r\n")


def content_type(proto):
    return 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % proto


def split_sealed(body):
    """The parts of a multipart/encrypted (or x-multi-encrypted) body:
    [(proto, charset, orig_len, header, sealed)]. Strict about the framing
    (a reply that does not follow it is a finding)."""
    final = BOUNDARY + b"--\r\n"
    if not body.endswith(final):
        raise SimError("sealed body does not end with the final boundary")
    end, pos, parts = len(body) - len(final), 0, []
    line = BOUNDARY + b"\r\n"
    while pos < end:
        if not body.startswith(line, pos):
            raise SimError("sealed body: boundary expected at %d" % pos)
        pos += len(line)
        proto = charset = None
        length = None
        while not body.startswith(line, pos):
            eol = body.index(b"\r\n", pos)
            name, _, value = body[pos:eol].decode("ascii").strip().partition(":")
            value = value.strip()
            if name.lower() == "content-type":
                proto = value
            elif name.lower() == "originalcontent":
                for p in value.split(";"):
                    k, _, v = p.strip().partition("=")
                    if k.lower() == "length":
                        length = int(v)
                    elif k.lower() == "charset":
                        charset = v
            pos = eol + 2
        pos += len(line)
        eol = body.index(b"\r\n", pos)
        if body[pos:eol].strip().lower() != b"content-type: application/octet-stream":
            raise SimError("sealed body: no octet-stream part")
        pos = eol + 2
        (hl,) = struct.unpack_from("<I", body, pos)
        pos += 4
        header = body[pos:pos + hl]
        pos += hl
        if length is None:
            raise SimError("sealed body: no OriginalContent Length")
        # Stream ciphers seal to exactly the plain length; else up to the
        # next boundary.
        stop = pos + length
        if not (stop == end or body.startswith(line, stop)):
            nxt = body.find(BOUNDARY, pos)
            stop = end if nxt < 0 or nxt > end else nxt
        parts.append((proto, charset, length, header, body[pos:stop]))
        pos = stop
    return parts


def unseal(ctx, body):
    """(plain bytes, charset) of a sealed body."""
    plain, charset = b"", None
    for proto, cs, length, header, sealed in split_sealed(body):
        chunk = ctx.unwrap(header + sealed).message
        if len(chunk) != length:
            raise SimError("unsealed %d bytes, OriginalContent said %d" % (len(chunk), length))
        plain += chunk
        charset = charset or cs
    return plain, charset


# ---- credentials ------------------------------------------------------------------

def gss_credentials(principal=None, keytab=None, password=None, ccache=None):
    """Initiator credentials: from a keytab (a private MEMORY ccache, so
    sources in one process never share tickets), a password, a ccache, or
    None (the default ccache)."""
    import gssapi
    name = gssapi.Name(principal, gssapi.NameType.kerberos_principal) if principal else None
    if keytab:
        store = {"client_keytab": str(keytab), "ccache": "MEMORY:wefsim-%s" % uuid.uuid4().hex}
        return gssapi.Credentials(name=name, usage="initiate", store=store)
    if password is not None:
        from gssapi.raw import acquire_cred_with_password
        res = acquire_cred_with_password(name, password.encode(), usage="initiate")
        return gssapi.Credentials(base=res.creds)
    if ccache:
        return gssapi.Credentials(name=name, usage="initiate", store={"ccache": ccache})
    return None


def new_context(creds, target, mech):
    import gssapi
    flags = (gssapi.RequirementFlag.mutual_authentication
             | gssapi.RequirementFlag.out_of_sequence_detection
             | gssapi.RequirementFlag.replay_detection
             | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.integrity)
    return gssapi.SecurityContext(
        name=gssapi.Name(target, gssapi.NameType.hostbased_service), creds=creds,
        mech=gssapi.OID.from_int_seq(mech), usage="initiate", flags=flags)


# ---- one connection ----------------------------------------------------------------

class Response:
    def __init__(self, status, headers, plain, charset=None, sealed=False):
        self.status = status
        self.headers = headers
        self.body = plain
        self.sealed = sealed
        self.text = decode_body(plain, charset) if plain else ""

    def envelope(self):
        return parse_envelope(self.text)

    def __repr__(self):
        return "<Response %d sealed=%s %r>" % (self.status, self.sealed, self.text[:200])


class Channel:
    """One TCP connection to (host, port) and its security context."""

    def __init__(self, src, host, port):
        self.src, self.host, self.port = src, host, port
        self.ctx = None
        self.compress_flag = False
        addr = src.address or host
        if src.https:
            self.conn = http.client.HTTPSConnection(addr, port, timeout=src.timeout,
                                                    context=src.tls_context())
        else:
            self.conn = http.client.HTTPConnection(addr, port, timeout=src.timeout)
        self.requests = 0

    def close(self):
        self.conn.close()

    def _post(self, path, body, headers):
        c = self.conn
        # Host names the collector as in the URL, whatever address we
        # connect to (the collector builds NotifyTo from it).
        c.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", "%s:%d" % (self.host, self.port))
        c.putheader("Connection", "Keep-Alive")
        for k, v in headers.items():
            c.putheader(k, v)
        c.putheader("User-Agent", self.src.user_agent)
        c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        self.requests += 1
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def _base_headers(self, charset, compressed):
        h = {"Content-Type": "application/soap+xml;charset=" + charset}
        if compressed:
            h["Content-Encoding"] = "SLDC"
        return h

    def handshake(self, path, charset, compressed):
        """The empty-body POST carrying the first token; the reply's token
        completes the context (mutual authentication)."""
        src = self.src
        import gssapi
        mech = KRB5_OID if src.scheme == "Kerberos" else SPNEGO_OID
        target = "%s@%s" % (src.service, src.service_host or self.host)
        try:
            self.ctx = new_context(src.creds(), target, mech)
            token = self.ctx.step()
        except gssapi.exceptions.GSSError as e:
            self.ctx = None
            raise AuthError("no token for %s: %s" % (target, e)) from e
        h = self._base_headers(charset, compressed)
        h["Authorization"] = "%s %s" % (src.scheme, base64.b64encode(token).decode())
        st, hdrs, data = self._post(path, b"", h)
        if st != 200:
            self.ctx = None
            if st == 401:
                raise AuthError("%s handshake refused (401) on %s" % (src.scheme, path))
            raise HttpError(st, "%s handshake on %s" % (src.scheme, path), data)
        m = re.match(r"\s*(\w+)\s+([A-Za-z0-9+/=]+)\s*$", hdrs.get("www-authenticate", ""))
        if not m or m.group(1).lower() != src.scheme.lower():
            raise AuthError("no %s token in the 200's WWW-Authenticate: %r"
                            % (src.scheme, hdrs.get("www-authenticate")))
        try:
            self.ctx.step(base64.b64decode(m.group(2)))
        except gssapi.exceptions.GSSError as e:
            self.ctx = None
            raise AuthError("the server's %s token: %s" % (src.scheme, e)) from e
        if not self.ctx.complete:
            raise AuthError("security context not complete after the server's token")
        self.www_scheme = m.group(1)

    def request(self, path, text, compress=False):
        """POST one SOAP message; returns the Response (unsealed)."""
        src = self.src
        body, charset = encode_body(text, src.utf16)
        compressed = bool(compress)
        if compress == "flag":
            pass  # the header without the compression: a quirk Windows has
        elif compress:
            body = compress_sldc(body, src.sldc_tool)
        gss = src.scheme in PROTO
        if gss and self.ctx is None:
            self.handshake(path, charset, compressed)
        h = self._base_headers(charset, compressed)
        sealed = False
        if gss and src.encrypt:
            body = seal(self.ctx, body, PROTO[src.scheme], charset)
            h["Content-Type"] = content_type(PROTO[src.scheme])
            sealed = True
        elif src.scheme == "cert":
            h["Authorization"] = MUTUAL
        st, hdrs, data = self._post(path, body, h)
        ct = hdrs.get("content-type", "")
        if ct.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted")):
            if self.ctx is None:
                raise SimError("a sealed reply without a security context")
            plain, cs = unseal(self.ctx, data)
            return Response(st, hdrs, plain, cs, sealed=True)
        if sealed and st == 200:
            raise SimError("a plain 200 reply to a sealed request (%s)" % ct)
        if st == 401:
            self.ctx = None  # the server dropped the context: a new handshake is due
        m = re.search(r"charset=([\w-]+)", ct)
        return Response(st, hdrs, data, m.group(1) if m else None)
