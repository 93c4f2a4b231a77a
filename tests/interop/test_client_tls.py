"""libwsm's own TLS (src/lib/tls.c: GnuTLS under http.c) through winrs and
winrm: certificate checks (CA file, system CAs, -skipCAcheck, -skipCNcheck,
a name mismatch, an expired certificate), client certificates with an
encrypted key, NTLM with channel bindings against a wsmd with
CbtHardeningLevel = Strict, a 20 MB transfer, TLS 1.2 and 1.3, servers that
close kept-alive connections between requests, time-outs, and that GnuTLS is
loaded only for https://.

TlsFront below is a small TLS server in front of wsmd's plain http listener:
it records SNI and the protocol version, and can close each connection after
N responses (with close_notify, or with a TCP reset).
"""

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import user_add  # noqa: F401
from test_client_auth import (SPN, detail, krb_realm, need_ntlm, run, tk, winrm,  # noqa: F401
                              winrs, WINRS_BIN, _bin)
from test_https import https_port, make_cert

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                                reason="openssl and curl are needed")

BIG = 20_000_000


def openssl(*args):
    cp = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"openssl {' '.join(args)}: {cp.stderr}"
    return cp.stdout


class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, one for another
    name only, an expired one, and a client certificate with an encrypted
    key."""

    def __init__(self, d):
        d.mkdir(parents=True, exist_ok=True)
        self.d = d
        self.ca, self.ca_key = d / "ca.pem", d / "ca.key"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", str(self.ca_key), "-out", str(self.ca), "-days", "5",
                "-subj", "/CN=wsmd tls test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        (d / "index.txt").write_text("")
        (d / "serial").write_text("2000\n")
        (d / "new").mkdir(exist_ok=True)
        (d / "ca.cnf").write_text(
            "[ca]\ndefault_ca = d\n[d]\n"
            f"dir = {d}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\n"
            "serial = $dir/serial\ndefault_md = sha256\npolicy = p\n"
            "unique_subject = no\ncopy_extensions = none\n[p]\ncommonName = supplied\n")
        self.server = self.issue("server", "localhost", "DNS:localhost,IP:127.0.0.1")
        self.other = self.issue("other", "other.example", "DNS:other.example")
        self.expired = self.issue("expired", "localhost", "DNS:localhost,IP:127.0.0.1",
                                  expired=True)

    def issue(self, name, cn, san, expired=False, eku="serverAuth"):
        key, csr, crt = (self.d / f"{name}.key", self.d / f"{name}.csr",
                         self.d / f"{name}.pem")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
        ext = self.d / f"{name}.ext"
        ext.write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage={eku}\n"
                       + (f"subjectAltName={san}\n" if san else ""))
        dates = (["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] if expired
                 else ["-days", "2"])
        openssl("ca", "-batch", "-config", str(self.d / "ca.cnf"), "-cert", str(self.ca),
                "-keyfile", str(self.ca_key), "-in", str(csr), "-out", str(crt), "-notext",
                "-extfile", str(ext), *dates)
        os.chmod(key, 0o600)
        return crt, key


@pytest.fixture(scope="module")
def tpki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("tls-pki"))


try:  # the client-certificate PKI and wsmd's configuration (test_client_cert.py)
    import test_client_cert as tcc
    from test_client_cert import pki  # noqa: F401  (the fixture)
except Exception as e:  # pragma: no cover
    tcc, TCC_WHY = None, str(e)


def start(wsmd_factory, users, crt, key, *conf_lines, tmp=None):
    """wsmd with https (crt/key) and http listeners; conf_lines go to a
    config file."""
    args = []
    if conf_lines:
        conf = Path(tmp) / f"tls-{time.monotonic_ns()}.conf"
        conf.write_text("".join(ln + "\n" for ln in conf_lines))
        args += ["-c", str(conf)]
    d = wsmd_factory(*args, "--listen", "https://127.0.0.1:0", "--listen", "http://127.0.0.1:0",
                     "--users", str(users), "--tls-cert", str(crt), "--tls-key", str(key))
    d.https_port = https_port(d)
    d.https_url = f"https://127.0.0.1:{d.https_port}/wsman"
    return d


@pytest.fixture
def sd(wsmd_factory, shell_users_file, shell_accounts, tpki):
    """wsmd whose https certificate comes from tpki's CA."""
    d = start(wsmd_factory, shell_users_file, *tpki.server)
    d.user, d.password = shell_accounts[0]
    return d


def basic(d):
    return dict(auth="basic", user=d.user, password=d.password)


# ---- certificate checks --------------------------------------------------------

def test_ca_file_and_system_cas(sd, tpki):
    cp = winrs(sd.https_url, "echo", "ok", switches=[f"-cacert:{tpki.ca}"], **basic(sd))
    assert cp.returncode == 0 and cp.stdout == b"ok\n", detail(cp, sd)
    # By name (SNI, and the DNS name in the certificate).
    cp = winrm(f"https://localhost:{sd.https_port}/wsman", "id", switches=[f"-cacert:{tpki.ca}"],
               **basic(sd))
    assert cp.returncode == 0 and b"ProtocolVersion" in cp.stdout, detail(cp, sd)
    # The system's CAs do not know this CA.
    cp = winrs(sd.https_url, "echo", "ok", **basic(sd))
    assert cp.returncode == 1 and cp.stdout == b"", detail(cp, sd)
    assert b"certificate is not trusted" in cp.stderr, detail(cp)
    # A CA file that is not a certificate.
    cp = winrm(sd.https_url, "id", switches=[f"-cacert:{tpki.server[1]}"], **basic(sd))
    assert cp.returncode == 1 and b"CA file" in cp.stderr, detail(cp)
    cp = winrs(sd.https_url, "echo", "ok", switches=["-skipCAcheck"], **basic(sd))
    assert cp.returncode == 0 and cp.stdout == b"ok\n", detail(cp, sd)


def test_name_mismatch_and_skip_cn_check(wsmd_factory, shell_users_file, shell_accounts, tpki):
    d = start(wsmd_factory, shell_users_file, *tpki.other)
    d.user, d.password = shell_accounts[0]
    for url in (d.https_url, f"https://localhost:{d.https_port}/wsman"):
        cp = winrs(url, "echo", "x", switches=[f"-cacert:{tpki.ca}"], **basic(d))
        assert cp.returncode == 1, detail(cp, d)
        assert b"does not match the host name" in cp.stderr, detail(cp)
        # -skipCAcheck alone still checks the name.
        cp = winrs(url, "echo", "x", switches=["-skipCAcheck"], **basic(d))
        assert cp.returncode == 1 and b"does not match the host name" in cp.stderr, detail(cp)
    cp = winrs(d.https_url, "echo", "cn", switches=[f"-cacert:{tpki.ca}", "-skipCNcheck"],
               **basic(d))
    assert cp.returncode == 0 and cp.stdout == b"cn\n", detail(cp, d)
    cp = winrm(d.https_url, "id", switches=["-skipCAcheck", "-skipCNcheck"], **basic(d))
    assert cp.returncode == 0, detail(cp, d)


def test_expired_server_certificate(wsmd_factory, shell_users_file, shell_accounts, tpki):
    d = start(wsmd_factory, shell_users_file, *tpki.expired)
    d.user, d.password = shell_accounts[0]
    cp = winrs(d.https_url, "echo", "x", switches=[f"-cacert:{tpki.ca}"], **basic(d))
    assert cp.returncode == 1, detail(cp, d)
    assert b"has expired" in cp.stderr, detail(cp)
    cp = winrs(d.https_url, "echo", "x", switches=["-skipCAcheck"], **basic(d))
    assert cp.returncode == 0 and cp.stdout == b"x\n", detail(cp, d)


def test_handshake_failure_is_reported(tmp_path, tpki):
    """A plain HTTP server on an https URL: the handshake fails, and the
    message says so."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def serve():
        try:
            c, _ = srv.accept()
            c.recv(4096)
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            c.close()
        except OSError:
            pass
    threading.Thread(target=serve, daemon=True).start()
    cp = winrm(f"https://127.0.0.1:{port}/wsman", "id", auth="basic", user="u", password="p",
               switches=["-skipCAcheck"])
    srv.close()
    assert cp.returncode == 1, detail(cp)
    assert b"TLS handshake" in cp.stderr, detail(cp)


# ---- client certificates -------------------------------------------------------------

def test_client_certificate_with_encrypted_key(request, wsmd_factory, shell_users_file,
                                               tmp_path):
    if tcc is None:
        pytest.skip(f"test_client_cert.py not usable: {TCC_WHY}")
    p = request.getfixturevalue("pki")
    d = tcc.start(wsmd_factory, p, shell_users_file)
    cert, key = p.good
    enc = tmp_path / "enc.key"
    openssl("pkey", "-in", str(key), "-out", str(enc), "-aes256", "-passout", "pass:key-pw-93")
    sw = [f"-certificate:{cert}", f"-key:{enc}", f"-cacert:{p.server.cert}"]
    cp = winrm(d.https_url, "id", auth="certificate", password="key-pw-93", switches=sw)
    assert cp.returncode == 0 and b"ProtocolVersion" in cp.stdout, detail(cp, d)
    assert f"user={p.user1} action=Identify" in d.log()
    cp = winrs(d.https_url, "echo", "cc", auth="certificate", password="key-pw-93", switches=sw)
    assert cp.returncode == 0 and cp.stdout == b"cc\n", detail(cp, d)
    cp = winrm(d.https_url, "id", auth="certificate", password="wrong", switches=sw)
    assert cp.returncode == 1 and b"client certificate" in cp.stderr, detail(cp, d)


# ---- NTLM and channel binding --------------------------------------------------------

@pytest.mark.parametrize("level", ["Strict", "Relaxed"])
def test_ntlm_over_https_with_channel_binding(wsmd_factory, shell_users_file, shell_accounts,
                                              tpki, tmp_path, level):
    d = start(wsmd_factory, shell_users_file, *tpki.server, f"CbtHardeningLevel = {level}",
              tmp=tmp_path)
    d.user, d.password = shell_accounts[0]
    sw = [f"-spn:{SPN}", f"-cacert:{tpki.ca}"]
    cp = winrs(d.https_url, "cat", "&&", "echo", "done", auth="ntlm", user=d.user,
               password=d.password, switches=sw, input=b"cbt-in\n")
    assert cp.returncode == 0, detail(cp, d)
    assert cp.stdout == b"cbt-in\ndone\n", detail(cp, d)
    for auth in ("ntlm", "negotiate"):
        cp = winrm(d.https_url, "id", auth=auth, user=d.user, password=d.password, switches=sw)
        assert cp.returncode == 0 and b"ProtocolVersion" in cp.stdout, detail(cp, d)
    cp = winrm(d.https_url, "id", auth="ntlm", user=d.user, password="bad", switches=sw)
    assert cp.returncode == 1 and b"Access is denied" in cp.stderr, detail(cp, d)
    assert "NTLM without channel bindings" not in d.log()
    if level == "Strict":
        # curl sends no bindings: refused by the same daemon.
        cp = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                             str(tpki.ca), "--ntlm", "-u", f"{d.user}:{d.password}", "-H",
                             "Content-Type: application/soap+xml;charset=UTF-8",
                             "--data-binary", "<x/>", d.https_url],
                            capture_output=True, text=True, timeout=60)
        assert cp.stdout.strip() != "200", cp


try:  # the realm fixture (kdc.py); without it krb_realm skips
    from kdc import kdc  # noqa: F401
except Exception:  # pragma: no cover
    pass


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_kerberos_over_https_strict(request, wsmd_factory, shell_users_file, shell_accounts,
                                    tpki, tmp_path, auth):
    """Kerberos binds to the certificate too: wsmd under Strict asks for
    GSS_C_CHANNEL_BOUND_FLAG, which only bindings we sent give."""
    k, name, pw = krb_realm(request, shell_accounts)
    crt, key = tpki.server
    d = tk.start_krb(wsmd_factory, k, shell_users_file, tmp_path, f"CertificateFile = {crt}",
                     f"KeyFile = {key}", "CbtHardeningLevel = Strict",
                     listen=("https://127.0.0.1:0", "http://127.0.0.1:0"))
    url = f"https://{k.host}:{https_port(d)}/wsman"
    env = k.env_with(KRB5CCNAME=f"FILE:{d.workdir}/none")
    cp = winrs(url, "echo", "krb-tls", auth=auth, user=f"{name}@{k.realm}", password=pw,
               switches=[f"-cacert:{tpki.ca}"], env=env)
    assert cp.returncode == 0 and cp.stdout == b"krb-tls\n", detail(cp, d)
    assert f"user={name} action=" in d.log()


# ---- bulk, protocol versions, reconnects -------------------------------------------------

def big_cmd():
    # 20 MB of varied text: seq's lines, as many as needed.
    return ["seq", "1", "2600000"], hashlib.sha256(
        "".join(f"{i}\n" for i in range(1, 2600001)).encode()).hexdigest()


def test_20mb_over_https(sd, tpki):
    words, want = big_cmd()
    for sw in ([f"-cacert:{tpki.ca}"], ["-skipCAcheck", "-skipCNcheck"]):
        cp = winrs(sd.https_url, *words, switches=sw, **basic(sd))
        assert cp.returncode == 0, detail(cp, sd)
        assert len(cp.stdout) > BIG * 0.9
        assert hashlib.sha256(cp.stdout).hexdigest() == want, len(cp.stdout)
    # NTLM too (bodies plain over https, bindings sent).
    cp = winrs(sd.https_url, *words, auth="ntlm", user=sd.user, password=sd.password,
               switches=[f"-cacert:{tpki.ca}", f"-spn:{SPN}"])
    assert cp.returncode == 0, detail(cp, sd)
    assert hashlib.sha256(cp.stdout).hexdigest() == want, len(cp.stdout)


def _read_message(sock, buf):
    """One HTTP message (head + Content-Length body) from sock: (msg, rest),
    or (None, b"") at the end."""
    def more(done):
        nonlocal buf
        while not done():
            try:
                b = sock.recv(65536)
            except (OSError, ssl.SSLError):
                return False
            if not b:
                return False
            buf += b
        return True

    if not more(lambda: b"\r\n\r\n" in buf):
        return None, b""
    end = buf.index(b"\r\n\r\n") + 4
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", buf[:end])
    size = int(m.group(1)) if m else 0
    if not more(lambda: len(buf) >= end + size):
        return None, b""
    return buf[:end + size], buf[end + size:]


class TlsFront:
    """TLS on 127.0.0.1:port in front of an http port. close_after: close
    each connection after that many responses, with close_notify at once
    (how="notify"), or with a TCP reset when the next request comes
    (how="reset")."""

    def __init__(self, cert, key, target, close_after=None, how="notify", max_version=None):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        if max_version:
            self.ctx.maximum_version = max_version
        self.sni, self.versions, self.conns = [], [], 0
        self.ctx.sni_callback = lambda obj, name, ctx: self.sni.append(name) and None
        self.target, self.close_after, self.how = target, close_after, how
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}/wsman"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, raw):
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        self.conns += 1
        self.versions.append(s.version())
        up = socket.create_connection(("127.0.0.1", self.target))
        cbuf, ubuf, n = b"", b"", 0
        try:
            while True:
                req, cbuf = _read_message(s, cbuf)
                if req is None:
                    break
                up.sendall(req)
                resp, ubuf = _read_message(up, ubuf)
                if resp is None:
                    break
                s.sendall(resp)
                n += 1
                if self.close_after and n >= self.close_after:
                    break
            if self.how == "reset":
                # The next request arrives on a connection the server drops
                # (a reset, no close_notify): the client sends it again on
                # a new one.
                s.settimeout(5)
                try:
                    s.recv(1)
                except (OSError, ssl.SSLError):
                    pass
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                s.close()  # no close_notify: a TCP reset
            else:
                s.settimeout(5)
                try:
                    s.unwrap().close()
                except (OSError, ssl.SSLError):
                    s.close()
        finally:
            up.close()
            s.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def front_factory():
    made = []

    def make(*a, **kw):
        f = TlsFront(*a, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


@pytest.mark.parametrize("how", ["notify", "reset"])
def test_server_closes_between_requests(sd, tpki, front_factory, how):
    """Each connection closed after every response: every request of winrs
    (Create, Command, Receive..., Delete) goes on a new connection,
    transparently; NTLM authenticates again on each."""
    f = front_factory(*tpki.server, sd.port, close_after=1, how=how)
    cp = winrs(f.url, "seq", "1", "20000", switches=[f"-cacert:{tpki.ca}"], **basic(sd))
    assert cp.returncode == 0, detail(cp, sd)
    assert cp.stdout == "".join(f"{i}\n" for i in range(1, 20001)).encode()
    assert f.conns >= 4, f.conns
    f3 = front_factory(*tpki.server, sd.port, close_after=3, how=how)
    cp = winrs(f3.url, "echo", "again", auth="ntlm", user=sd.user, password=sd.password,
               switches=[f"-cacert:{tpki.ca}", f"-spn:{SPN}"])
    assert cp.returncode == 0 and cp.stdout == b"again\n", detail(cp, sd)
    assert f3.conns >= 2, f3.conns


def test_tls12_and_sni(sd, tpki, front_factory):
    f = front_factory(*tpki.server, sd.port, max_version=ssl.TLSVersion.TLSv1_2)
    cp = winrs(f"https://localhost:{f.port}/wsman", "echo", "v12",
               switches=[f"-cacert:{tpki.ca}"], **basic(sd))
    assert cp.returncode == 0 and cp.stdout == b"v12\n", detail(cp, sd)
    assert set(f.versions) == {"TLSv1.2"}, f.versions
    assert "localhost" in f.sni, f.sni
    g = front_factory(*tpki.server, sd.port)
    cp = winrs(g.url, "echo", "v13", switches=[f"-cacert:{tpki.ca}"], **basic(sd))
    assert cp.returncode == 0 and cp.stdout == b"v13\n", detail(cp, sd)
    assert set(g.versions) == {"TLSv1.3"}, g.versions
    assert all(n is None for n in g.sni), g.sni  # no SNI for an address
    # One TLS session for the whole shell (keep-alive).
    assert g.conns == 1, g.conns


# ---- time-outs ------------------------------------------------------------------------------

def test_timeouts(tpki):
    """A server that accepts and never answers the handshake, and one that
    completes it and never answers the request."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tpki.server[0]), str(tpki.server[1]))
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(4)
    held = []

    def hold():
        try:
            c, _ = mute.accept()
            held.append(ctx.wrap_socket(c, server_side=True))
        except (OSError, ssl.SSLError):
            pass
    threading.Thread(target=hold, daemon=True).start()
    try:
        t = time.monotonic()
        cp = winrm(f"https://127.0.0.1:{silent.getsockname()[1]}/wsman", "id", auth="basic",
                   user="u", password="p", switches=["-skipCAcheck", "-timeout:1500"])
        dt = time.monotonic() - t
        assert cp.returncode == 1 and b"timed out in the TLS handshake" in cp.stderr, detail(cp)
        assert dt < 10, dt
        t = time.monotonic()
        cp = winrm(f"https://127.0.0.1:{mute.getsockname()[1]}/wsman", "id", auth="basic",
                   user="u", password="p", switches=[f"-cacert:{tpki.ca}", "-timeout:1500"])
        dt = time.monotonic() - t
        assert cp.returncode == 1 and b"timed out waiting for the reply" in cp.stderr, detail(cp)
        assert 5 < dt < 20, dt
    finally:
        silent.close()
        mute.close()
        for s in held:
            s.close()


# ---- what is loaded ---------------------------------------------------------------------

def test_gnutls_only_for_https(sd, tpki):
    def loaded(url, *sw):
        cp = subprocess.run(["sh", "-c", 'LD_DEBUG=files "$0" "$@" 2>&1', _bin(WINRS_BIN),
                             f"-r:{url}", f"-u:{sd.user}", f"-p:{sd.password}", *sw, "echo",
                             "ok"], capture_output=True, timeout=120)
        assert b"ok\n" in cp.stdout, cp.stdout[-2000:]
        return cp.stdout
    out = loaded(sd.url)
    assert b"libgnutls" not in out and b"libcurl" not in out and b"libgssapi" not in out
    out = loaded(sd.https_url, f"-cacert:{tpki.ca}")
    assert b"libgnutls.so.30" in out
    assert b"libcurl" not in out and b"libgssapi" not in out
