"""HTTPS listeners of wsmd (libmicrohttpd + GnuTLS).

Each test makes a fresh self-signed certificate with openssl (subjectAltName
DNS:localhost, IP:127.0.0.1) and starts wsmd with an https listener on port 0
beside an http one (conftest's Daemon waits for the http line; listeners start
in order, so the https line is logged by then). Only loopback is spoken to.
"""

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import wsmd_bin
from shell_helpers import SLOW, with_deadline
from wsman_helpers import (IDENTIFY_BODY, NS, PASSWORD, SOAP_CT, USER,
                           assert_identify_response, request)

PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"
HTTPS_RE = re.compile(r"listening on https://(127\.0\.0\.1|0\.0\.0\.0):(\d+)/wsman")
HTTP_ANY_RE = re.compile(r"listening on http://0\.0\.0\.0:(\d+)/wsman")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="openssl is needed to make a certificate")


# ---- helpers ------------------------------------------------------------

class Cert:
    def __init__(self, directory):
        self.dir = directory
        self.cert = directory / "cert.pem"
        self.key = directory / "key.pem"


def make_cert(directory, cn="localhost"):
    directory.mkdir(parents=True, exist_ok=True)
    c = Cert(directory)
    cp = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(c.key), "-out", str(c.cert), "-days", "2",
         "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName=DNS:{cn},IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"openssl req failed: {cp.stderr}"
    os.chmod(c.key, 0o600)
    return c


@pytest.fixture
def cert(tmp_path):
    return make_cert(tmp_path / "tls")


def https_port(d, host="127.0.0.1"):
    """The port of the https listener bound to host, from the daemon's log."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for h, port in HTTPS_RE.findall(d.log()):
            if h == host:
                assert int(port) != 0, d.log()
                return int(port)
        d.assert_alive()
        time.sleep(0.02)
    raise AssertionError(f"no 'listening on https://{host}:PORT/wsman' line:\n{d.log()}")


def start_tls(wsmd_factory, users, c, *extra):
    d = wsmd_factory("--listen", "https://127.0.0.1:0", "--listen", "http://127.0.0.1:0",
                     "--users", str(users), "--tls-cert", str(c.cert),
                     "--tls-key", str(c.key), *extra)
    d.https_port = https_port(d)
    d.https_url = f"https://127.0.0.1:{d.https_port}/wsman"
    return d


def tls_context(c):
    ctx = ssl.create_default_context(cafile=str(c.cert))
    ctx.check_hostname = True
    return ctx


def https_request(port, c, **kw):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls_context(c))
    try:
        return request(port, conn=conn, **kw)
    finally:
        conn.close()


def profiles(reply):
    ir = assert_identify_response(reply)
    sp = ir.find("wsmid:SecurityProfiles", NS)
    assert sp is not None, f"no wsmid:SecurityProfiles: {reply!r}"
    return sorted((e.text or "").strip()
                  for e in sp.findall("wsmid:SecurityProfileName", NS))


def curl_identify(url, c, *opts, user=USER, password=PASSWORD):
    """curl --cacert CERT -v ... Identify; returns the CompletedProcess."""
    return subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "20", "--cacert", str(c.cert), *opts,
         "-u", f"{user}:{password}", "-H", f"Content-Type: {SOAP_CT}",
         "--data-binary", IDENTIFY_BODY, "-w", "\nHTTP_CODE=%{http_code}\n", url],
        capture_output=True, text=True, timeout=60)


def curl_code(cp):
    m = re.search(r"HTTP_CODE=(\d+)", cp.stdout)
    return int(m.group(1)) if m else None


def run_refused(args, cwd):
    """wsmd ARGS that must refuse to start: (returncode, stderr)."""
    try:
        cp = subprocess.run([wsmd_bin(), *args], capture_output=True, text=True,
                            timeout=20 * SLOW, cwd=str(cwd), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"wsmd {args} did not refuse to start (still running after 20 s)")
    return cp.returncode, cp.stderr


# ---- Identify over HTTPS --------------------------------------------------

def test_identify_with_cacert(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    assert re.search(rf"listening on https://127\.0\.0\.1:{d.https_port}/wsman", d.log())
    cp = curl_identify(d.https_url, cert)
    assert cp.returncode == 0 and curl_code(cp) == 200, cp.stderr[-3000:]
    assert "IdentifyResponse" in cp.stdout, cp.stdout
    # The same through Python's ssl (hostname 127.0.0.1 checked against the SAN).
    r = https_request(d.https_port, cert)
    assert profiles(r) == [PROFILE + "https/basic"], r
    assert "user=alice action=Identify" in d.log()


def test_identify_profiles_per_listener(wsmd_factory, users_file, cert):
    """HTTPS lists https/basic only; loopback HTTP lists http/basic only."""
    d = start_tls(wsmd_factory, users_file, cert)
    assert profiles(https_request(d.https_port, cert)) == [PROFILE + "https/basic"]
    assert profiles(request(d.port)) == [PROFILE + "http/basic"]


def test_anonymous_identify_over_https(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    r = https_request(d.https_port, cert, auth=None,
                      headers={"WSMANIDENTIFY": "unauthenticated"})
    assert_identify_response(r)
    assert "user=(anonymous) action=Identify" in d.log()


def test_keep_alive_many_requests(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    conn = http.client.HTTPSConnection("127.0.0.1", d.https_port, timeout=10,
                                       context=tls_context(cert))
    try:
        for _ in range(50):
            assert_identify_response(request(d.https_port, conn=conn))
    finally:
        conn.close()


# ---- protocol versions ---------------------------------------------------

def test_tls12_and_tls13(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    cp = curl_identify(d.https_url, cert, "--tlsv1.2", "--tls-max", "1.2")
    assert cp.returncode == 0 and curl_code(cp) == 200, cp.stderr[-3000:]
    assert "TLSv1.2" in cp.stderr, cp.stderr[-3000:]
    cp = curl_identify(d.https_url, cert, "--tlsv1.3")
    assert cp.returncode == 0 and curl_code(cp) == 200, cp.stderr[-3000:]
    assert "TLSv1.3" in cp.stderr, cp.stderr[-3000:]


def test_tls11_refused(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    # SECLEVEL=0 lets OpenSSL's client offer TLS 1.0/1.1 at all, so that the
    # refusal is the server's.
    cp = curl_identify(d.https_url, cert, "--tlsv1.0", "--tls-max", "1.1",
                       "--ciphers", "DEFAULT@SECLEVEL=0")
    assert cp.returncode != 0 and curl_code(cp) in (None, 0), cp.stdout + cp.stderr[-3000:]
    if shutil.which("openssl"):
        cp = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{d.https_port}", "-tls1_1",
             "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", str(cert.cert)],
            input="", capture_output=True, text=True, timeout=30)
        out = cp.stdout + cp.stderr
        # GnuTLS closes the connection without a certificate.
        assert cp.returncode != 0, out
        assert "no peer certificate available" in out, out
    # Still serving.
    assert_identify_response(https_request(d.https_port, cert))


def cpu_has_aes():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "").split()
    except OSError:
        return False
    return "aes" in flags and "pclmulqdq" in flags


def s_client_cipher(port, c, *opts):
    """The cipher suite that wsmd chose for OpenSSL's client offering opts."""
    cp = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                         "-CAfile", str(c.cert), *opts],
                        input="", capture_output=True, text=True, timeout=30)
    m = re.search(r"Cipher is (\S+)", cp.stdout)
    assert cp.returncode == 0 and m, cp.stdout + cp.stderr[-3000:]
    return m.group(1)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
@pytest.mark.skipif(not cpu_has_aes(), reason="AES-128-GCM goes first only with AES instructions")
def test_aes128_gcm_preferred_and_others_accepted(wsmd_factory, users_file, cert):
    # OpenSSL's client offers AES-256-GCM first; the server's order decides.
    d = start_tls(wsmd_factory, users_file, cert)
    p = d.https_port
    both13 = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
    assert s_client_cipher(p, cert, "-tls1_3", "-ciphersuites", both13) == \
        "TLS_AES_128_GCM_SHA256"
    both12 = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
    assert s_client_cipher(p, cert, "-tls1_2", "-cipher", both12) == \
        "ECDHE-RSA-AES128-GCM-SHA256"
    # A client that offers one suite only still gets it.
    for suite in ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"):
        assert s_client_cipher(p, cert, "-tls1_3", "-ciphersuites", suite) == suite
    assert s_client_cipher(p, cert, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384") == \
        "ECDHE-RSA-AES256-GCM-SHA384"
    assert_identify_response(https_request(p, cert))


# ---- authentication ---------------------------------------------------------

def test_wrong_password_401(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    r = https_request(d.https_port, cert, auth=(USER, "not-the-password"))
    assert r.status == 401, r
    assert any(v.startswith("Basic") for v in r.header_all("WWW-Authenticate")), r
    r = https_request(d.https_port, cert, auth=None)
    assert r.status == 401, r
    assert any(v.startswith("Basic") for v in r.header_all("WWW-Authenticate")), r
    cp = curl_identify(d.https_url, cert, password="wrong")
    assert curl_code(cp) == 401, cp.stderr[-2000:]
    assert_identify_response(https_request(d.https_port, cert))


def test_basic_over_https_on_any_address(wsmd_factory, users_file, cert):
    """Basic is refused over plain HTTP on a non-loopback listener, accepted
    over HTTPS on one: both bound to 0.0.0.0 (not a loopback address), spoken
    to through 127.0.0.1 only."""
    try:
        d = wsmd_factory("--listen", "https://0.0.0.0:0", "--listen", "http://0.0.0.0:0",
                         "--listen", "http://127.0.0.1:0", "--users", str(users_file),
                         "--tls-cert", str(cert.cert), "--tls-key", str(cert.key))
    except pytest.fail.Exception as e:
        if "cannot start listeners" in str(e):
            pytest.skip("cannot bind 0.0.0.0 here")
        raise
    sport = https_port(d, "0.0.0.0")
    m = HTTP_ANY_RE.search(d.log())
    assert m, d.log()
    pport = int(m.group(1))
    assert "Basic authentication is refused on http://0.0.0.0:0" in d.log()
    assert "refused on https" not in d.log()
    # HTTPS: Basic accepted, https/basic advertised.
    r = https_request(sport, cert)
    assert profiles(r) == [PROFILE + "https/basic"], r
    # Plain HTTP on the same (non-loopback) configuration: refused, not offered.
    r = request(pport)
    assert r.status == 401, r
    # Negotiate (with message encryption) is offered there; Basic is not.
    assert not any(v.startswith("Basic") for v in r.header_all("WWW-Authenticate")), r
    r = request(pport, auth=None, headers={"WSMANIDENTIFY": "unauthenticated"})
    assert r.status == 200, r
    # The anonymous Identify tells nothing of the profiles, or no http/basic.
    ir = assert_identify_response(r)
    sp = ir.find("wsmid:SecurityProfiles", NS)
    names = [] if sp is None else [(e.text or "").strip() for e in sp]
    assert PROFILE + "http/basic" not in names, r


# ---- robustness ------------------------------------------------------------

def test_plain_http_to_https_port(wsmd_factory, users_file, cert):
    d = start_tls(wsmd_factory, users_file, cert)
    # http.client speaking plain HTTP to the TLS port: no HTTP answer.
    with pytest.raises((http.client.HTTPException, OSError)):
        r = request(d.https_port, timeout=10)
        raise AssertionError(f"got an HTTP reply over plain TCP: {r!r}")
    # Raw bytes too: whatever comes back is not an HTTP status line.
    s = socket.create_connection(("127.0.0.1", d.https_port), timeout=10)
    try:
        s.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        got = b""
        try:
            while len(got) < 4096:
                piece = s.recv(4096)
                if not piece:
                    break
                got += piece
        except (ConnectionResetError, socket.timeout):
            pass
        assert not got.startswith(b"HTTP/"), got
    finally:
        s.close()
    # A TLS client that goes away mid-handshake.
    s = socket.create_connection(("127.0.0.1", d.https_port), timeout=10)
    s.sendall(b"\x16\x03\x01\x00\x05\x01\x00")
    s.close()
    d.assert_alive()
    assert_identify_response(https_request(d.https_port, cert))
    assert_identify_response(request(d.port))


def test_wrong_ca_refused_by_client(wsmd_factory, users_file, cert, tmp_path):
    d = start_tls(wsmd_factory, users_file, cert)
    other = make_cert(tmp_path / "other")
    with pytest.raises(ssl.SSLError):
        https_request(d.https_port, other)
    assert_identify_response(https_request(d.https_port, cert))


# ---- startup errors ---------------------------------------------------------

def test_key_readable_by_others_refused(users_file, cert, tmp_path):
    os.chmod(cert.key, 0o644)
    rc, err = run_refused(["--listen", "https://127.0.0.1:0", "--users", str(users_file),
                           "--tls-cert", str(cert.cert), "--tls-key", str(cert.key)], tmp_path)
    assert rc != 0, err
    assert "readable by other users" in err and "chmod 600" in err, err
    assert "listening on" not in err, err


def test_group_readable_key_accepted(wsmd_factory, users_file, cert):
    os.chmod(cert.key, 0o640)
    d = start_tls(wsmd_factory, users_file, cert)
    assert_identify_response(https_request(d.https_port, cert))


def test_missing_cert_or_key_refused(users_file, cert, tmp_path):
    base = ["--listen", "https://127.0.0.1:0", "--users", str(users_file)]
    for extra in ([], ["--tls-cert", str(cert.cert)], ["--tls-key", str(cert.key)]):
        rc, err = run_refused(base + extra, tmp_path)
        assert rc != 0, (extra, err)
        assert "needs a certificate and its private key" in err, (extra, err)
        assert "--tls-cert" in err, err
    rc, err = run_refused(base + ["--tls-cert", str(tmp_path / "nope.pem"),
                                  "--tls-key", str(cert.key)], tmp_path)
    assert rc != 0 and "cannot open the TLS certificate" in err, err


def test_mismatched_key_refused(users_file, cert, tmp_path):
    other = make_cert(tmp_path / "other")
    rc, err = run_refused(["--listen", "https://127.0.0.1:0", "--users", str(users_file),
                           "--tls-cert", str(cert.cert), "--tls-key", str(other.key)],
                          tmp_path)
    assert rc != 0 and "cannot use the TLS certificate" in err, err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    rc, err = run_refused(["--listen", "https://127.0.0.1:0", "--users", str(users_file),
                           "--tls-cert", str(garbage), "--tls-key", str(cert.key)], tmp_path)
    assert rc != 0 and "no PEM certificate" in err, err
    # The key where the certificate belongs.
    rc, err = run_refused(["--listen", "https://127.0.0.1:0", "--users", str(users_file),
                           "--tls-cert", str(cert.key), "--tls-key", str(cert.key)], tmp_path)
    assert rc != 0 and "no PEM certificate" in err, err


def test_http_only_needs_no_cert(wsmd_factory, users_file):
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file),
                     "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key")
    assert_identify_response(request(d.port))


def test_config_file_keys(wsmd_factory, users_file, cert, tmp_path):
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"Listen = https://127.0.0.1:0\n"
                    f"Listen = http://127.0.0.1:0\n"
                    f"CertificateFile = {cert.cert}\n"
                    f"KeyFile = {cert.key}\n"
                    f"Users = {users_file}\n")
    d = wsmd_factory("-c", str(conf))
    port = https_port(d)
    assert profiles(https_request(port, cert)) == [PROFILE + "https/basic"]


def test_default_https_port_is_5986(users_file, cert, tmp_path):
    """https://ADDR without a port binds 5986 (skipped when it is taken)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 5986))
    except OSError:
        pytest.skip("127.0.0.1:5986 is in use")
    finally:
        s.close()
    p = subprocess.Popen([wsmd_bin(), "--listen", "https://127.0.0.1", "--listen",
                          "http://127.0.0.1:0", "--users", str(users_file), "--tls-cert",
                          str(cert.cert), "--tls-key", str(cert.key)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15 * SLOW
        line = ""
        while time.monotonic() < deadline and "https://" not in line:
            line = p.stderr.readline()
            if not line and p.poll() is not None:
                break
        if "https://" not in line:
            pytest.skip(f"wsmd did not start on 5986: {line}")
        assert "listening on https://127.0.0.1:5986/wsman" in line, line
        assert_identify_response(https_request(5986, cert))
    finally:
        p.terminate()
        try:
            assert p.wait(40 if SLOW > 1 else 10) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stderr.close()


# ---- the remote shell through pywinrm over HTTPS --------------------------

def shell_session(d, **kw):
    import winrm
    (user, pw) = d.accounts[0]
    return winrm.Session(d.https_url, auth=(user, pw), transport="ssl", **kw)


@pytest.fixture
def tls_shell_wsmd(wsmd_factory, shell_users_file, shell_accounts, cert, monkeypatch):
    # pywinrm 0.3.0 lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override both
    # server_cert_validation='ignore' and ca_trust_path.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    d = start_tls(wsmd_factory, shell_users_file, cert)
    d.accounts = shell_accounts
    return d


def test_pywinrm_ssl_ignore_validation(tls_shell_wsmd):
    s = shell_session(tls_shell_wsmd, server_cert_validation="ignore")
    r = with_deadline(lambda: s.run_cmd("echo", ["hello"]), 60 * SLOW, "run_cmd echo")
    assert (r.std_out, r.std_err, r.status_code) == (b"hello\n", b"", 0), r


def test_pywinrm_ssl_validated_against_ca(tls_shell_wsmd, cert):
    s = shell_session(tls_shell_wsmd, server_cert_validation="validate",
                      ca_trust_path=str(cert.cert))
    r = with_deadline(lambda: s.run_cmd("echo", ["hello"]), 60 * SLOW, "run_cmd echo")
    assert (r.std_out, r.std_err, r.status_code) == (b"hello\n", b"", 0), r
    # Without the CA, validation fails (the certificate is self-signed).
    import requests
    s = shell_session(tls_shell_wsmd, server_cert_validation="validate")
    with pytest.raises(requests.exceptions.SSLError):
        with_deadline(lambda: s.run_cmd("echo", ["x"]), 60 * SLOW, "run_cmd unvalidated")


def test_pywinrm_ssl_wrong_password(tls_shell_wsmd):
    import winrm
    from winrm.exceptions import InvalidCredentialsError
    d = tls_shell_wsmd
    s = winrm.Session(d.https_url, auth=(d.accounts[0][0], "wrong-password"), transport="ssl",
                      server_cert_validation="ignore")
    with pytest.raises(InvalidCredentialsError):
        s.run_cmd("echo", ["x"])
