"""Channel binding (RFC 5929 tls-server-end-point) of Negotiate over HTTPS.

wsmd passes gss_channel_bindings with "tls-server-end-point:" + the hash of
its certificate (the certificate's signature hash; SHA-256 for MD5/SHA-1)
to gss_accept_sec_context on HTTPS connections, as CbtHardeningLevel says:
Relaxed (default) checks bindings a client sends and lets a client without
any in, Strict refuses the latter, None never checks.

Clients: pywinrm's 'ntlm' transport over HTTPS (requests-ntlm computes and
sends the bindings), ntlm-auth by hand with right, wrong or no bindings,
curl --ntlm (sends none), and python3-gssapi Kerberos tokens with right,
wrong or no bindings (kdc.py's realm). The Python NTLM clients need MD4:
they run as child processes with OpenSSL's legacy provider (test_ntlm.py).
"""

import base64
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if __name__ != "__main__":
    from child_client import run_child
    from shell_helpers import SLOW
    from test_https import https_port, make_cert
    from test_kerberos import client as krb_client
    from wsman_helpers import IDENTIFY_BODY, PASSWORD, SOAP_CT, USER

IDENTIFY = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>")


# ---- the client side, run as a child process ---------------------------------

def _ntlm_bindings(authz):
    """The MsvAvChannelBindings of an NTLM authenticate message (hex), or
    None."""
    import struct
    t = base64.b64decode(authz.split(" ", 1)[1])
    if t[:8] != b"NTLMSSP\0" or t[8] != 3:
        return None
    nl, _, off = struct.unpack("<HHI", t[20:28])
    p, end = off + 44, off + nl
    while p + 4 <= end:
        av, ln = struct.unpack("<HH", t[p:p + 4])
        if av == 0:
            break
        if av == 0x000a:
            return t[p + 4:p + 4 + ln].hex()
        p += 4 + ln
    return None


def _client_pywinrm(url, ca, user, password):
    from winrm.transport import Transport
    t = Transport(endpoint=url, username=user, password=password, auth_method="ntlm",
                  server_cert_validation="validate", ca_trust_path=ca)
    t.build_session()
    sent = []
    orig = t.session.send

    def send(req, **kw):
        sent.append(req.headers.get("Authorization") or "")
        return orig(req, **kw)
    # requests-ntlm sends its legs through the connection adapter, not
    # Session.send: record them there.
    adapter = t.session.get_adapter(url)
    asend = adapter.send

    def adapter_send(req, **kw):
        sent.append(req.headers.get("Authorization") or "")
        return asend(req, **kw)
    adapter.send = adapter_send
    text = t.send_message(IDENTIFY)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    cbs = [_ntlm_bindings(a) for a in sent if a.startswith("Negotiate TlRMTVNTUAAD")]
    return {"text": text[:3000], "bindings": cbs}


def _client_ntlm(port, ca, user, password, cert_hash):
    """The NTLM handshake by hand over TLS with the given certificate hash
    (hex, as requests-ntlm passes it) in the channel bindings, or none."""
    from ntlm_auth import ntlm
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx)

    def leg(token, body=b""):
        conn.request("POST", "/wsman", body=body,
                     headers={"Content-Type": "application/soap+xml;charset=UTF-8",
                              "Authorization": "Negotiate " + token})
        r = conn.getresponse()
        return r.status, r.getheader("WWW-Authenticate") or "", r.read()

    n = ntlm.Ntlm()
    st1, www, _ = leg(n.create_negotiate_message("").decode())
    assert st1 == 401 and www.startswith("Negotiate "), (st1, www)
    n.parse_challenge_message(www.split(" ", 1)[1])
    auth = n.create_authenticate_message(user, password, "",
                                         server_certificate_hash=cert_hash).decode()
    st3, _, body = leg(auth, IDENTIFY.encode())
    conn.close()
    return {"status": st3, "text": body.decode(errors="replace")[:2000],
            "bindings": _ntlm_bindings("Negotiate " + auth)}


def _client_main(argv):
    mode, args = argv[0], json.loads(argv[1])
    try:
        out = {"pywinrm": _client_pywinrm, "ntlm": _client_ntlm}[mode](**args)
    except Exception as e:
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    _client_main(sys.argv[1:])
    sys.exit(0)


# ---- the test side -------------------------------------------------------------

@pytest.fixture(scope="module")
def legacy_env(legacy_env):
    for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        legacy_env.pop(k, None)  # they would override pywinrm's ca_trust_path
    return legacy_env


def client(env, mode, timeout=120, **args):
    out = run_child(__file__, env, mode, timeout, **args)
    assert "error" not in out, out
    return out


def cert_hash(cert_path, algo="sha256"):
    der = ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())
    return hashlib.new(algo, der).hexdigest().upper()


def make_ec_cert(directory):
    """An ECDSA P-384 certificate signed with SHA-384: its binding hash is
    SHA-384."""
    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / "key.pem", directory / "cert.pem"
    cp = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
         "-sha384", "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    os.chmod(key, 0o600)
    return crt, key


def start(wsmd_factory, tmp_path, users, crt, key, *lines, kdc=None):
    conf = tmp_path / f"cbt-{len(list(tmp_path.glob('cbt-*.conf')))}.conf"
    text = (f"Listen = https://127.0.0.1:0\nListen = http://127.0.0.1:0\nUsers = {users}\n"
            f"CertificateFile = {crt}\nKeyFile = {key}\n")
    if kdc:
        text += f"Keytab = {kdc.keytab}\nServicePrincipal = {kdc.service}\n"
    text += "".join(ln + "\n" for ln in lines)
    conf.write_text(text)
    d = wsmd_factory("-c", str(conf))
    d.https_port = https_port(d)
    d.https_url = f"https://127.0.0.1:{d.https_port}/wsman"
    d.crt = str(crt)
    return d


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    base = tmp_path_factory.mktemp("cbt-certs")
    rsa = make_cert(base / "rsa")
    return {"rsa": (rsa.cert, rsa.key, "sha256"), "ec384": make_ec_cert(base / "ec") + ("sha384",)}


@pytest.mark.parametrize("which", ["rsa", "ec384"])
def test_pywinrm_ntlm_https_sends_bindings(wsmd_factory, users_file, tmp_path, legacy_env,
                                           certs, which):
    """requests-ntlm sends the certificate's binding (SHA-256, or SHA-384 for
    the ECDSA-SHA384 certificate): wsmd computes the same, or NTLM fails."""
    crt, key, algo = certs[which]
    d = start(wsmd_factory, tmp_path, users_file, crt, key, "CbtHardeningLevel = Strict")
    r = client(legacy_env, "pywinrm", url=d.https_url, ca=str(crt), user=USER,
               password=PASSWORD)
    assert "IdentifyResponse" in r["text"], (r, d.log()[-2000:])
    assert r["bindings"] and r["bindings"][0] and r["bindings"][0] != "00" * 16, r
    # What the client sent is MD5 over the RFC 4121 bindings structure.
    app = b"tls-server-end-point:" + bytes.fromhex(cert_hash(crt, algo))
    want = hashlib.md5(b"\0" * 16 + len(app).to_bytes(4, "little") + app).hexdigest()
    assert r["bindings"][0] == want, r


@pytest.mark.parametrize("level", ["Relaxed", "Strict", "None"])
def test_ntlm_bindings_by_level(wsmd_factory, users_file, tmp_path, legacy_env, certs, level):
    crt, key, algo = certs["rsa"]
    d = start(wsmd_factory, tmp_path, users_file, crt, key, f"CbtHardeningLevel = {level}")
    right = cert_hash(crt, algo)
    wrong = hashlib.sha256(b"another certificate").hexdigest().upper()
    got = {}
    for name, h in (("right", right), ("wrong", wrong), ("none", None)):
        got[name] = client(legacy_env, "ntlm", port=d.https_port, ca=str(crt), user=USER,
                           password=PASSWORD, cert_hash=h)
    assert got["right"]["bindings"] and got["none"]["bindings"] in (None, "00" * 16), got
    want = {"Relaxed": {"right": 200, "wrong": 401, "none": 200},
            "Strict": {"right": 200, "wrong": 401, "none": 401},
            "None": {"right": 200, "wrong": 200, "none": 200}}[level]
    assert {k: v["status"] for k, v in got.items()} == want, (got, d.log()[-2000:])
    assert "IdentifyResponse" in got["right"]["text"], got
    d.assert_alive()


def test_curl_ntlm_https_without_bindings(wsmd_factory, users_file, tmp_path, legacy_env,
                                          certs):
    """curl --ntlm sends no bindings: accepted under Relaxed (gss-ntlmssp
    1.2 alone would refuse it once bindings are passed), refused under
    Strict."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    crt, key, _ = certs["rsa"]
    for level, code in (("Relaxed", "200"), ("Strict", "401")):
        d = start(wsmd_factory, tmp_path, users_file, crt, key, f"CbtHardeningLevel = {level}")
        cp = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\nHTTP %{http_code}\n",
                             "--cacert", str(crt), "--ntlm", "-u", f"{USER}:{PASSWORD}",
                             "-H", f"Content-Type: {SOAP_CT}", "--data-binary", IDENTIFY_BODY,
                             d.https_url], capture_output=True, text=True,
                            timeout=60 * SLOW, env=legacy_env)
        assert cp.stdout.rstrip().endswith(f"HTTP {code}"), (level, cp)


def test_plain_http_ignores_bindings(wsmd_factory, users_file, tmp_path, legacy_env, certs):
    """Over plain HTTP there is no TLS to bind to: bindings are not checked
    (the same daemon, its http listener, under Strict)."""
    crt, key, _ = certs["rsa"]
    d = start(wsmd_factory, tmp_path, users_file, crt, key, "CbtHardeningLevel = Strict")
    from test_ntlm import client as ntlm_client
    r = ntlm_client(legacy_env, "identify", url=d.url, user=USER, password=PASSWORD,
                    body=IDENTIFY_BODY)
    assert "error" not in r and "IdentifyResponse" in r["text"], r


@pytest.mark.parametrize("level", ["Relaxed", "Strict"])
def test_kerberos_bindings(wsmd_factory, kdc, users_file, tmp_path, certs, monkeypatch, level):
    try:
        import gssapi  # noqa: F401
    except ImportError:
        pytest.skip("python3-gssapi is not installed")
    kdc.use_env(monkeypatch)
    crt, key, algo = certs["rsa"]
    d = start(wsmd_factory, tmp_path, users_file, crt, key, f"CbtHardeningLevel = {level}",
              kdc=kdc)
    right = base64.b64encode(b"tls-server-end-point:"
                             + bytes.fromhex(cert_hash(crt, algo))).decode()
    wrong = base64.b64encode(b"tls-server-end-point:" + b"\x01" * 32).decode()
    got = {}
    for name, cb in (("right", right), ("wrong", wrong), ("none", None)):
        r = krb_client(kdc.env, "raw", port=d.https_port, ca=str(crt), cb=cb,
                       steps=["auth-identify"])
        assert "error" not in r, r
        got[name] = r["steps"][0]["status"]
    want = {"right": 200, "wrong": 401, "none": 200 if level == "Relaxed" else 401}
    assert got == want, (got, d.log()[-2000:])
