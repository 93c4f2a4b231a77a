"""The Windows-forwarder simulator (wefsim.py), layer by layer, against what
exists today: a real wsmd on /wsman and a real MIT KDC (kdc.py).

* Kerberos scheme (raw krb5 token, empty-body first POST, AP-REP in the
  200) and Negotiate scheme (SPNEGO) with the machine principal WS1$ from a
  keytab; sealed multipart/encrypted requests, UTF-16LE with BOM and UTF-8,
  the replies unsealed; the wrap tokens laid out as in the Windows capture.
* HTTPS with a client certificate (CN = the machine's FQDN).
* The CLI: sources in parallel (threads, processes).

The message builders and parsers and the delivery logic (against a stub
HTTP server) are in test_wefsim_messages.py; the full flow against the
collector in test_collector_flow.py.
"""

import json
import os
import struct
from pathlib import Path

import pytest

import wefsim
import wefsim_wire
from conftest import user_add
from wsman_helpers import wsman_envelope

CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"


@pytest.fixture(scope="module")
def need_gssapi():
    try:
        import gssapi  # noqa: F401
    except ImportError:
        pytest.skip("python3-gssapi is not installed")


@pytest.fixture
def machine(kdc, monkeypatch, tmp_path):
    """The machine account WS1$ (keytab) in the realm's environment."""
    kdc.use_env(monkeypatch)
    principal, keytab = kdc.add_machine("ws1")
    return principal, keytab


@pytest.fixture
def kwsmd(wsmd_factory, kdc, machine, users_file, tmp_path):
    """wsmd with the realm's keytab; WS1$ is a user of its user file (the
    daemon maps user@REALM to a user-file name) who may read winrm/config."""
    user_add(users_file, "WS1$", "unused-" + os.urandom(6).hex())
    conf = tmp_path / "wsmd-krb.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nKeytab = {kdc.keytab}\n"
                    f"ServicePrincipal = {kdc.service}\nUsers = {users_file}\n"
                    "Allow = config-read @WS1$\n")
    d = wsmd_factory("-c", str(conf))
    d.kdc = kdc
    return d


def source(d, scheme, **kw):
    principal, keytab = kw.pop("machine")
    return wefsim.Source(d.kdc.host, d.port, principal=principal, keytab=keytab, scheme=scheme,
                         address="127.0.0.1", timeout=20, **kw)


def check_wrap_token(header):
    """The wrap token's header as in the capture: CFX wrap (05 04), Sealed
    and AcceptorSubkey, filler ff, EC 0, RRC 28, 60 bytes with AES."""
    assert header[:2] == b"\x05\x04", header[:8].hex()
    assert header[2] & 0x02 and header[2] & 0x04 and not header[2] & 0x01, header[2]
    assert header[3] == 0xFF
    ec, rrc = struct.unpack(">HH", header[4:8])
    assert (ec, rrc) == (0, 28), (ec, rrc)
    assert len(header) == 60, len(header)


@pytest.mark.parametrize("scheme", ["Kerberos", "Negotiate"])
def test_handshake_and_sealed_round_trip(kwsmd, machine, need_gssapi, scheme):
    """Empty-body POST with the token, the server's token in the 200 under the
    same scheme, then sealed requests (UTF-16LE with BOM, then UTF-8) on the
    same connection and context; the replies sealed and opened."""
    src = source(kwsmd, scheme, machine=machine)
    sent = []
    real_seal = wefsim_wire.seal

    def spy(ctx, plain, proto, charset="UTF-16"):
        body = real_seal(ctx, plain, proto, charset)
        sent.append((plain, proto, charset, body))
        return body
    wefsim_wire.seal = spy
    try:
        r = src.identify()
        assert r.status == 200 and r.sealed, (r, kwsmd.log()[-2000:])
        assert "IdentifyResponse" in r.text, r
        ch = src.channel()
        assert ch.www_scheme == scheme and ch.ctx.complete
        # A bigger reply: Get winrm/config, sealed both ways, in UTF-8 this time.
        src.utf16 = False
        env = wsman_envelope(GET, CFG, src.url("/wsman"))
        r = src.post("/wsman", env)
        assert r.status == 200 and r.sealed, r.text
        root, header, body = r.envelope()
        assert "MaxEnvelopeSizekb" in r.text, r.text[:500]
        assert ch.requests == 3, ch.requests  # handshake + 2, one connection
    finally:
        wefsim_wire.seal = real_seal
        src.close()
    (p1, proto1, cs1, b1), (p2, _, cs2, b2) = sent
    assert proto1 == wefsim.PROTO[scheme]
    assert p1.startswith(b"\xff\xfe") and cs1 == "UTF-16", p1[:8]
    assert p1[2:].decode("utf-16-le") == wefsim.identify_envelope()
    assert cs2 == "UTF-8" and p2.startswith(b"<s:Envelope")
    for plain, body in ((p1, b1), (p2, b2)):
        parts = wefsim.split_sealed(body)
        assert len(parts) == 1 and parts[0][2] == len(plain)
        check_wrap_token(parts[0][3])
        assert len(parts[0][4]) == len(plain)  # CFX seals to the plain length
        assert plain not in body
    log = kwsmd.log()
    assert "user=WS1$ action=Identify" in log, log[-2000:]


def test_context_lost_new_handshake(kwsmd, machine, need_gssapi):
    """The security context lives as long as the TCP connection: a closed
    connection means a new handshake, done transparently."""
    src = source(kwsmd, "Kerberos", machine=machine)
    try:
        assert src.identify().status == 200
        first = src.channel()
        first.conn.sock.close()  # the peer sees the connection go
        r = src.identify()
        assert r.status == 200 and r.sealed and "IdentifyResponse" in r.text, r
        assert src.channel() is not first and src.channel().ctx.complete
    finally:
        src.close()


def test_wrong_service_refused(kwsmd, machine, need_gssapi):
    kwsmd.kdc.add_principal("HTTP/elsewhere.test")
    src = source(kwsmd, "Kerberos", machine=machine, service_host="elsewhere.test")
    with pytest.raises(wefsim.AuthError):
        src.identify()
    src.close()


def test_collector_path_today(kwsmd, machine, need_gssapi):
    """Until the collector exists, the GPO path is not served: the
    simulator reports the HTTP status (what test_collector_flow skips on)."""
    src = source(kwsmd, "Kerberos", machine=machine)
    try:
        src.enumerate()
    except wefsim.HttpError as e:
        assert e.status == 404, e
    else:
        pytest.skip("the collector answers on the GPO path: see test_collector_flow.py")
    finally:
        src.close()


# ---- HTTPS with a client certificate ---------------------------------------------------

def test_https_client_certificate(wsmd_factory, shell_users_file, shell_accounts, tmp_path):
    from test_client_cert import CA
    from test_https import https_port, make_cert
    server = make_cert(tmp_path / "server")
    ca = CA(tmp_path / "ca", "wefsim CA")
    cert, key = ca.issue(tmp_path / "ws1", "ws1.wsmd.test")
    user = shell_accounts[0][0]
    conf = tmp_path / "wsmd-tls.conf"
    conf.write_text(f"ClientCAFile = {ca.cert}\n"
                    f"CertMapping = Issuer={ca.sha1} Subject=ws1.wsmd.test UserName={user}\n")
    d = wsmd_factory("-c", str(conf), "--listen", "https://127.0.0.1:0", "--listen",
                     "http://127.0.0.1:0", "--users",
                     str(shell_users_file), "--tls-cert", str(server.cert), "--tls-key",
                     str(server.key))
    port = https_port(d)
    src = wefsim.Source("127.0.0.1", port, scheme="cert", https=True, cert=str(cert),
                        key=str(key), cafile=str(server.cert), machine_id="ws1.wsmd.test")
    try:
        for utf16 in (True, False):
            src.utf16 = utf16
            r = src.identify()
            assert r.status == 200 and not r.sealed, (r, d.log()[-2000:])
            assert "IdentifyResponse" in r.text
        assert len(src.channels) == 1 and src.channel().requests == 2
    finally:
        src.close()
    assert f"user={user} action=Identify" in d.log()
    # Without the certificate: refused.
    bare = wefsim.Source("127.0.0.1", port, scheme="cert", https=True, cert=str(cert),
                         key=str(key), cafile=str(server.cert))
    bare._tls = __import__("ssl").create_default_context(cafile=str(server.cert))
    try:
        assert bare.identify().status == 401
    finally:
        bare.close()


def test_cli_sources_in_parallel(kwsmd, kdc, need_gssapi):
    """The CLI: two machine accounts ({i} in the principal and keytab), in
    parallel, an Identify each; a JSON summary."""
    import subprocess
    import sys
    for i in (1, 2):
        _, kt = kdc.add_machine(f"ws{i}")
    user_add(users_of(kwsmd), "WS2$", "x-pw-12345")
    for how in ([], ["--processes", "--scheme", "Negotiate", "--utf8"]):
        cp = subprocess.run(
            [sys.executable, str(Path(wefsim.__file__)), "--host", kdc.host, "--address",
             "127.0.0.1", "--port", str(kwsmd.port), "--principal", "WS{i}$@" + kdc.realm,
             "--keytab", str(kdc.dir / "machine-ws{i}.keytab"), "--sources", "2",
             "--identify", *how],
            capture_output=True, text=True, timeout=60, env=kdc.env)
        out = json.loads(cp.stdout)
        assert cp.returncode == 0 and not out["errors"], (cp.stdout, cp.stderr)
        assert [r["identify"] for r in out["per_source"]] == [200, 200]
    log = kwsmd.log()
    assert log.count("user=WS1$ action=Identify") == 2, log[-2000:]
    assert log.count("user=WS2$ action=Identify") == 2
    cp = subprocess.run([sys.executable, str(Path(wefsim.__file__)), "--help"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0 and "--sources" in cp.stdout


def users_of(d):
    for line in Path(d.args[d.args.index("-c") + 1]).read_text().splitlines():
        if line.startswith("Users = "):
            return line.split(" = ", 1)[1]
    raise AssertionError("no Users line")
