"""Kerberos through HTTP Negotiate (SPNEGO) and the Kerberos scheme, against
a real MIT KDC (kdc.py), and WinRM message encryption with Kerberos.

Clients, each in a child process with the test realm's environment
(kdc.env: KRB5_CONFIG, KRB5CCNAME; nothing of the system's Kerberos set-up):

* python3-winrm's 'kerberos' transport (requests-kerberos over pykerberos).
  Debian's pykerberos 1.1.14 has no authGSSWinRMEncryptMessage, so pywinrm
  sends plain bodies (accepted on loopback); with the same pywinrm, an auth
  object built on python3-gssapi that supplies wrap_winrm/unwrap_winrm the
  way pykerberos 1.2 does (gss_wrap_iov: HEADER as the signature, DATA
  sealed in place, PADDING) makes pywinrm seal every body with its own
  Encryption class ('application/HTTP-SPNEGO-session-encrypted').
* curl --negotiate -u : with the ccache.
* python3-gssapi by hand: raw Kerberos tokens under the "Kerberos" scheme
  (MS-WSMV's Kerberos variant, protocol
  "application/HTTP-Kerberos-session-encrypted"), SPNEGO under "Negotiate",
  wrong tickets.

The service name is HTTP@localhost (localhost resolves to 127.0.0.1; the
test krb5.conf turns off rdns and dns_canonicalize_hostname).
"""

import base64
import http.client
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if __name__ != "__main__":
    from conftest import user_add, wsmd_bin
    from child_client import run_child
    from shell_helpers import SLOW
    from wsman_helpers import IDENTIFY_BODY, PASSWORD, SOAP_CT, USER, post

SPNEGO_PROTO = "application/HTTP-SPNEGO-session-encrypted"
KRB5_PROTO = "application/HTTP-Kerberos-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
IDENTIFY = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>")


# ---- the client side, run as a child process ---------------------------------

def _client_main(argv):
    mode, args = argv[0], json.loads(argv[1])
    try:
        out = {"raw": _client_raw, "pywinrm": _client_pywinrm}[mode](**args)
    except Exception as e:  # reported to the test, which asserts on it
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


def _gss_ctx(target, mech, cb=None, lifetime=None):
    import gssapi
    from gssapi.raw import ChannelBindings
    oid = {"spnego": "1.3.6.1.5.5.2", "krb5": "1.2.840.113554.1.2.2"}[mech]
    name = gssapi.Name(target, gssapi.NameType.hostbased_service)
    flags = (gssapi.RequirementFlag.mutual_authentication
             | gssapi.RequirementFlag.out_of_sequence_detection
             | gssapi.RequirementFlag.replay_detection
             | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.integrity)
    bindings = None
    if cb is not None:
        bindings = ChannelBindings(application_data=base64.b64decode(cb))
    return gssapi.SecurityContext(name=name, mech=gssapi.OID.from_int_seq(oid), usage="initiate",
                                  flags=flags, channel_bindings=bindings)


def _wrap(ctx, plain):
    """pykerberos 1.2's authGSSWinRMEncryptMessage: (header, sealed)."""
    from gssapi.raw import IOV, IOVBufferType, wrap_iov
    iov = IOV(IOVBufferType.header, plain, IOVBufferType.padding, std_layout=False)
    wrap_iov(ctx, iov, confidential=True)
    return iov[0].value, iov[1].value + (iov[2].value or b"")


def _unwrap(ctx, header, sealed):
    return ctx.unwrap(header + sealed).message


def _seal_body(ctx, plain, proto, tamper=False):
    header, sealed = _wrap(ctx, plain)
    if tamper:
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    return (BOUNDARY + b"\r\n\tContent-Type: " + proto.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(plain)).encode() + b"\r\n" + BOUNDARY + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<I", len(header)) + header + sealed + BOUNDARY + b"--\r\n")


def _open_body(ctx, body):
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    length = int(parts[0].split(b"Length=")[1].strip())
    payload = parts[1]
    assert payload.endswith(BOUNDARY + b"--\r\n"), payload[-40:]
    payload = payload[:-len(BOUNDARY + b"--\r\n")]
    payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
    hl = struct.unpack("<I", payload[:4])[0]
    plain = _unwrap(ctx, payload[4:4 + hl], payload[4 + hl:])
    assert len(plain) == length, (len(plain), length)
    return plain


def _conn(port, ca=None):
    if ca:
        import ssl
        ctx = ssl.create_default_context(cafile=ca)
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def _send(conn, body=b"", headers=None):
    h = {"Content-Type": SOAP_CT_}
    h.update(headers or {})
    conn.request("POST", "/wsman", body=body, headers=h)
    r = conn.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()


SOAP_CT_ = "application/soap+xml;charset=UTF-8"


def _client_raw(port, steps, target="HTTP@localhost", mech="spnego", scheme="Negotiate",
                proto=SPNEGO_PROTO, ca=None, cb=None, sleep=0, token_conns=1):
    """One security context, driven through `steps` on one connection:
    auth-empty / auth-identify (the token with an empty body or an Identify),
    sealed / tamper (a sealed Identify, no Authorization), plain (a plain
    Identify, no Authorization), replay (the first token again, on a new
    connection)."""
    ctx = _gss_ctx(target, mech, cb)
    token = ctx.step()
    if sleep:
        time.sleep(sleep)
    authz = f"{scheme} " + base64.b64encode(token).decode()
    conn = _conn(port, ca)
    res = []
    for step in steps:
        rec = {"step": step}
        if step in ("auth-empty", "auth-identify"):
            st, h, body = _send(conn, b"" if step == "auth-empty" else IDENTIFY.encode(),
                                {"Authorization": authz})
            www = h.get("www-authenticate", "")
            rec.update(status=st, www=www[:40], body=body.decode(errors="replace")[:3000])
            m = re.match(r"(\w+) ([A-Za-z0-9+/=]+)$", www)
            if st == 200 and m:
                rec["www_scheme"] = m.group(1)
                ctx.step(base64.b64decode(m.group(2)))
            rec["complete"] = bool(ctx.complete)
        elif step in ("sealed", "tamper"):
            body = _seal_body(ctx, IDENTIFY.encode(), proto, tamper=step == "tamper")
            ct = f'multipart/encrypted;protocol="{proto}";boundary="Encrypted Boundary"'
            st, h, rb = _send(conn, body, {"Content-Type": ct})
            rec.update(status=st, ct=h.get("content-type", ""))
            if st == 200 or (h.get("content-type", "").startswith("multipart/encrypted")):
                rec["text"] = _open_body(ctx, rb).decode(errors="replace")
            else:
                rec["text"] = rb.decode(errors="replace")[:2000]
        elif step == "plain":
            st, h, rb = _send(conn, IDENTIFY.encode())
            rec.update(status=st, text=rb.decode(errors="replace")[:2000])
        elif step == "replay":
            other = _conn(port, ca)
            st, h, rb = _send(other, IDENTIFY.encode(), {"Authorization": authz})
            other.close()
            rec.update(status=st)
        elif step == "reconnect":
            conn.close()
            conn = _conn(port, ca)
        res.append(rec)
    conn.close()
    return {"steps": res}


class _GssWinRMAuth:
    """A requests auth for pywinrm's 'kerberos' transport built on
    python3-gssapi, with the wrap_winrm/unwrap_winrm pair that pywinrm's
    Encryption class calls (what pykerberos >= 1.2 provides)."""

    winrm_encryption_available = True

    def __init__(self, mutual_authentication=None, delegate=False, force_preemptive=True,
                 principal=None, hostname_override=None, sanitize_mutual_error_response=False,
                 service="HTTP", send_cbt=True):
        self.ctx = {}
        self.auth_done = False

    def __call__(self, r):
        from urllib.parse import urlparse
        host = urlparse(r.url).hostname
        if not self.auth_done:
            self.ctx[host] = _gss_ctx(f"HTTP@{host}", "spnego")
            tok = self.ctx[host].step()
            r.headers["Authorization"] = "Negotiate " + base64.b64encode(tok).decode()
            r.register_hook("response", self._hook)
        return r

    def _hook(self, resp, **kw):
        from urllib.parse import urlparse
        host = urlparse(resp.url).hostname
        m = re.search(r"Negotiate ([A-Za-z0-9+/=]+)", resp.headers.get("WWW-Authenticate", ""))
        if resp.status_code == 200:
            if m:
                self.ctx[host].step(base64.b64decode(m.group(1)))
            if not self.ctx[host].complete:
                raise RuntimeError("no mutual authentication token")
            self.auth_done = True
        return resp

    def wrap_winrm(self, host, message):
        header, sealed = _wrap(self.ctx[host], message)
        return sealed, header

    def unwrap_winrm(self, host, message, header):
        return _unwrap(self.ctx[host], header, message)


def _client_pywinrm(url, command, args, gssapi_auth=False, ca=None):
    import winrm
    import winrm.transport
    if gssapi_auth:
        winrm.transport.HTTPKerberosAuth = _GssWinRMAuth
    p = winrm.Protocol(url, transport="kerberos", username=None, password=None,
                       server_cert_validation="validate" if ca else "ignore",
                       ca_trust_path=ca, read_timeout_sec=70, operation_timeout_sec=60)
    seen = []
    p.transport.build_session()
    orig = p.transport.session.send

    def send(req, **kw):
        r = orig(req, **kw)
        seen.append([req.headers.get("Content-Type"), r.status_code,
                     r.headers.get("Content-Type")])
        return r
    p.transport.session.send = send
    shell = p.open_shell()
    cid = p.run_command(shell, command, args)
    so, se, code = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    return {"stdout": so.decode(errors="replace"), "stderr": se.decode(errors="replace"),
            "code": code, "encrypted": p.transport.encryption is not None, "seen": seen}


if __name__ == "__main__":
    _client_main(sys.argv[1:])
    sys.exit(0)


# ---- the test side -------------------------------------------------------------

def client(env, mode, timeout=120, **args):
    return run_child(__file__, env, mode, timeout, **args)


@pytest.fixture(scope="module")
def need_gssapi():
    try:
        import gssapi  # noqa: F401
    except ImportError:
        pytest.skip("python3-gssapi is not installed")


@pytest.fixture
def krb_env(kdc, monkeypatch):
    """The realm's environment in os.environ while wsmd starts (it inherits it)."""
    kdc.use_env(monkeypatch)
    return kdc


def start_krb(wsmd_factory, kdc, users, tmp_path, *lines, listen=("http://127.0.0.1:0",)):
    conf = tmp_path / f"wsmd-{len(list(tmp_path.glob('wsmd-*.conf')))}.conf"
    text = "".join(f"Listen = {u}\n" for u in listen)
    text += f"Keytab = {kdc.keytab}\nServicePrincipal = {kdc.service}\n"
    if users:
        text += f"Users = {users}\n"
    text += "".join(ln + "\n" for ln in lines)
    conf.write_text(text)
    return wsmd_factory("-c", str(conf))


@pytest.fixture
def kwsmd(wsmd_factory, krb_env, users_file, tmp_path):
    """wsmd with the alice user file and the realm's keytab."""
    d = start_krb(wsmd_factory, krb_env, users_file, tmp_path)
    d.kdc = krb_env
    return d


def raw(d, steps, env=None, **kw):
    r = client(env or d.kdc.env, "raw", port=d.port, steps=steps, **kw)
    assert "error" not in r, (r, d.log()[-2000:])
    return r["steps"]


def test_challenge_offers_kerberos(kwsmd, wsmd):
    r = post(kwsmd.port, auth=None, body=b"")
    assert r.status == 401, r
    assert r.header_all("WWW-Authenticate")[:2] == ["Negotiate", "Kerberos"], r
    assert any(v.startswith("Basic") for v in r.header_all("WWW-Authenticate")), r
    # Without a keytab: no Kerberos offered.
    r = post(wsmd.port, auth=None, body=b"")
    assert "Kerberos" not in r.header_all("WWW-Authenticate"), r


def test_curl_negotiate(kwsmd, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    body = tmp_path / "identify.xml"
    body.write_text(IDENTIFY_BODY)
    k = kwsmd.kdc
    url = f"http://{k.host}:{kwsmd.port}/wsman"
    args = [curl, "-sS", "-o", "-", "-w", "\nHTTP %{http_code}\n", "--negotiate", "-u", ":",
            "--resolve", f"{k.host}:{kwsmd.port}:127.0.0.1", "-H", f"Content-Type: {SOAP_CT}",
            "--data-binary", f"@{body}", url]
    cp = subprocess.run(args, capture_output=True, text=True, timeout=60 * SLOW, env=k.env)
    assert cp.stdout.rstrip().endswith("HTTP 200"), (cp, kwsmd.log()[-2000:])
    assert "IdentifyResponse" in cp.stdout, cp
    assert f"user={USER} action=Identify" in kwsmd.log()
    # No ticket at all: curl has nothing to send, 401.
    env = k.env_with(KRB5CCNAME=f"FILE:{tmp_path / 'empty-ccache'}")
    cp = subprocess.run(args, capture_output=True, text=True, timeout=60 * SLOW, env=env)
    assert cp.stdout.rstrip().endswith("HTTP 401"), cp


def test_kerberos_scheme_raw_token(kwsmd, need_gssapi):
    """The Kerberos scheme with a raw (not SPNEGO) token and an Identify:
    the answer carries the AP-REP under the same scheme."""
    s = raw(kwsmd, ["auth-identify"], mech="krb5", scheme="Kerberos")
    assert s[0]["status"] == 200, (s, kwsmd.log()[-2000:])
    assert "IdentifyResponse" in s[0]["body"], s
    assert s[0]["www_scheme"] == "Kerberos" and s[0]["complete"], s
    # Under Negotiate, the same raw token works too (answered as Negotiate).
    s = raw(kwsmd, ["auth-identify"], mech="krb5", scheme="Negotiate")
    assert s[0]["status"] == 200 and s[0]["www_scheme"] == "Negotiate", s


@pytest.mark.parametrize("scheme,mech,proto", [("Negotiate", "spnego", SPNEGO_PROTO),
                                                ("Kerberos", "krb5", KRB5_PROTO)])
def test_sealed_identify(kwsmd, need_gssapi, scheme, mech, proto):
    """Handshake on an empty POST, then sealed requests with no
    Authorization; replies sealed in the request's protocol."""
    s = raw(kwsmd, ["auth-empty", "sealed", "sealed", "plain"], scheme=scheme, mech=mech,
            proto=proto)
    assert s[0]["status"] == 200 and s[0]["complete"], (s, kwsmd.log()[-2000:])
    for rec in s[1:3]:
        assert rec["status"] == 200, s
        assert f'protocol="{proto}"' in rec["ct"], s
        assert "IdentifyResponse" in rec["text"], s
    # Plain bodies after the handshake: accepted on a loopback listener.
    assert s[3]["status"] == 200 and "IdentifyResponse" in s[3]["text"], s


def test_tampered_body(kwsmd, need_gssapi):
    """A flipped bit in the sealed bytes: refused (401, the context is
    dropped: its sequence numbers are out of step), nothing runs, the
    service goes on, and a new handshake works."""
    s = raw(kwsmd, ["auth-empty", "tamper", "sealed"])
    assert s[0]["status"] == 200, s
    assert s[1]["status"] == 401, s
    assert "IdentifyResponse" not in s[1]["text"], s
    assert s[2]["status"] == 401, s  # no context any more on that connection
    kwsmd.assert_alive()
    s = raw(kwsmd, ["auth-empty", "sealed"])
    assert s[1]["status"] == 200 and "IdentifyResponse" in s[1]["text"], s


def test_wrong_tickets_refused(kwsmd, need_gssapi):
    k = kwsmd.kdc
    k.add_principal("HTTP/other.test")
    # A ticket for another service (HTTP/other.test is not in wsmd's keytab).
    s = raw(kwsmd, ["auth-identify"], target="HTTP@other.test")
    assert s[0]["status"] == 401, s
    # A replayed AP-REQ on another connection (replay cache).
    s = raw(kwsmd, ["auth-identify", "replay"], mech="krb5", scheme="Kerberos")
    assert s[0]["status"] == 200, s
    assert s[1]["status"] == 401, s
    # A Kerberos-looking token that is garbage.
    bad = bytes([0x60, 0x12, 0x06, 0x09]) + bytes.fromhex("2a864886f712010202") + b"\x01\x00" + \
        b"\xff" * 7
    r = post(kwsmd.port, auth=None, headers={"Authorization": "Kerberos "
                                             + base64.b64encode(bad).decode()})
    assert r.status == 401, r
    kwsmd.assert_alive()


def test_principals_not_mapped(kwsmd, need_gssapi, tmp_path):
    """Only user@REALM of a user in the file: an unknown user and a
    principal with an instance are refused."""
    k = kwsmd.kdc
    for name in ("bob", f"{USER}/admin"):
        p = k.add_principal(name, "Pw-" + name.replace("/", "-"))
        cc = k.kinit(p, "Pw-" + name.replace("/", "-"))
        s = raw(kwsmd, ["auth-identify"], env=k.env_with(KRB5CCNAME=cc))
        assert s[0]["status"] == 401, (name, s)
    assert "action=Identify" not in kwsmd.log().split("bob")[-1]


def test_kerberos_realm_setting(wsmd_factory, krb_env, users_file, tmp_path, need_gssapi):
    k = krb_env
    d = start_krb(wsmd_factory, k, users_file, tmp_path, "KerberosRealm = OTHER.TEST")
    s = raw(d, ["auth-identify"], env=k.env)
    assert s[0]["status"] == 401, s
    # (and the keytab's spelling of the service name, HTTP/host)
    d = start_krb(wsmd_factory, k, users_file, tmp_path, f"KerberosRealm = {k.realm}",
                  f"ServicePrincipal = HTTP/{k.host}")
    s = raw(d, ["auth-identify"], env=k.env)
    assert s[0]["status"] == 200 and "IdentifyResponse" in s[0]["body"], s


def test_expired_ticket(wsmd_factory, krb_env, users_file, tmp_path, monkeypatch, need_gssapi):
    """A token made with a ticket that expires before it reaches wsmd (its
    krb5.conf allows 1 s of clock skew)."""
    k = krb_env
    conf = k.write_krb5_conf(k.dir / "krb5-skew.conf", extra="    clockskew = 1\n")
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    d = start_krb(wsmd_factory, k, users_file, tmp_path)
    cc = k.kinit(k.principal, k.password, lifetime="3s")
    env = k.env_with(KRB5CCNAME=cc)
    s = raw(d, ["auth-identify"], env=env, sleep=6)
    assert s[0]["status"] == 401, s
    # Control: a fresh ticket through the same daemon works.
    s = raw(d, ["auth-identify"], env=k.env)
    assert s[0]["status"] == 200, s


def test_large_authorization_header(kwsmd):
    """Tickets with a PAC make Authorization headers of tens of KB: a 40 KB
    one reaches the authentication gate (a 401 from wsmd, not 431 from the
    HTTP layer) and the connection stays usable."""
    for size in (12 * 1024, 40 * 1024):
        junk = base64.b64encode(bytes([0x60]) + os.urandom(size * 3 // 4)).decode()[:size]
        conn = http.client.HTTPConnection("127.0.0.1", kwsmd.port, timeout=20)
        try:
            conn.request("POST", "/wsman", body=b"", headers={
                "Content-Type": SOAP_CT, "Authorization": "Negotiate " + junk})
            r = conn.getresponse()
            r.read()
            assert r.status == 401, (size, r.status)
            assert "Negotiate" in (r.getheader("WWW-Authenticate") or ""), size
        finally:
            conn.close()
    kwsmd.assert_alive()


def test_config_errors(kdc, users_file, tmp_path):
    def refused(text):
        conf = tmp_path / "bad.conf"
        conf.write_text("Listen = http://127.0.0.1:0\n" f"Users = {users_file}\n" + text)
        cp = subprocess.run([wsmd_bin(), "-c", str(conf)], capture_output=True, text=True,
                            timeout=20 * SLOW, stdin=subprocess.DEVNULL, env=kdc.env)
        assert cp.returncode != 0 and "listening on" not in cp.stderr, cp
        return cp.stderr
    assert "keytab" in refused(f"Keytab = {tmp_path / 'missing.keytab'}\n")
    assert 'bad value for ServicePrincipal: "nohost"' in refused("ServicePrincipal = nohost\n")
    assert "bad value for ServicePrincipal" in refused("ServicePrincipal = HTTP/host@REALM\n")
    assert 'bad value for KerberosRealm: "A@B"' in refused("KerberosRealm = A@B\n")
    assert "bad value for CbtHardeningLevel" in refused("CbtHardeningLevel = Sometimes\n")


# ---- pywinrm and the remote shell ------------------------------------------

@pytest.fixture
def kshell(wsmd_factory, krb_env, shell_users_file, shell_accounts, tmp_path):
    """wsmd with the shell accounts; their principals in the realm (as root,
    they are real local accounts: the command runs as that account)."""
    k = krb_env
    name, pw = shell_accounts[0]
    k.add_principal(name, pw)
    d = start_krb(wsmd_factory, k, shell_users_file, tmp_path)
    d.kdc = k
    d.user1 = name
    d.env1 = k.env_with(KRB5CCNAME=k.kinit(f"{name}@{k.realm}", pw))
    return d


def test_pywinrm_kerberos(kshell):
    """pywinrm's own Kerberos transport (requests-kerberos): Debian's
    pykerberos cannot seal, so pywinrm sends plain bodies over loopback."""
    d = kshell
    r = client(d.env1, "pywinrm", url=f"http://{d.kdc.host}:{d.port}/wsman",
               command="id", args=["-un"])
    assert "error" not in r, (r, d.log()[-3000:])
    assert r["code"] == 0, r
    want = d.user1 if os.geteuid() == 0 else None
    if want:
        assert r["stdout"] == want + "\n", r
    assert f"user={d.user1} action=" in d.log()
    assert not r["encrypted"], r


def test_pywinrm_kerberos_encrypted(kshell, need_gssapi):
    """pywinrm's Encryption class ('kerberos': SPNEGO-session-encrypted,
    wrap_iov header as the signature) over plain HTTP: every body sealed
    both ways."""
    d = kshell
    r = client(d.env1, "pywinrm", url=f"http://{d.kdc.host}:{d.port}/wsman",
               command="echo", args=["hello", "kerberos"], gssapi_auth=True)
    assert "error" not in r, (r, d.log()[-3000:])
    assert r["stdout"] == "hello kerberos\n" and r["code"] == 0, r
    assert r["encrypted"], r
    sealed = f'multipart/encrypted;protocol="{SPNEGO_PROTO}";boundary="Encrypted Boundary"'
    assert len(r["seen"]) >= 5, r
    assert all(req == sealed for req, _, _ in r["seen"]), r
    assert all(st == 200 and SPNEGO_PROTO in (ct or "") for _, st, ct in r["seen"]), r
