"""Our winrm and winrs with secure transports against a live wsmd: NTLM and
SPNEGO (Negotiate) over plain HTTP with WinRM message encryption, NTLM over
HTTPS, Basic over HTTPS with and without CA verification, wrong passwords,
Kerberos (kdc.py's realm) and client certificates (test_client_cert.py's PKI).

Encryption is checked on the wire: the clients talk to wsmd through a small
recording TCP relay (Relay below), and the test looks at what crossed it:
every request after the handshake is multipart/encrypted, no SOAP envelope
and no command text is visible in either direction. The relay can also close
each connection after N responses, which makes the client authenticate
again on a new connection (the security context belongs to the TCP
connection).

Most NTLM cases pass -spn:HTTP@<host name> (what a client of a named host
would use); test_no_spn_needed dials 127.0.0.1 and localhost without it.
"""

import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import any_address_port, user_add  # noqa: F401
from shell_helpers import SLOW

REPO_ROOT = Path(__file__).resolve().parents[2]
WINRS_BIN = os.environ.get("WINRS_BIN") or str(REPO_ROOT / "build" / "winrs")
WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")
TIMEOUT = 120 * SLOW
N_SYNTHETIC = 20
SYN = "cimv2/WSMD_Synthetic"
SEALED_CT = (b'Content-Type: multipart/encrypted;protocol="application/HTTP-SPNEGO-session-'
             b'encrypted";boundary="Encrypted Boundary"')
BIG_N = 800000  # seq 1 800000: 5,288,895 bytes of output
SPN = f"HTTP@{socket.gethostname()}"


def _bin(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"client binary not built: {path}")
    return path


def env_without_password(extra=None):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    env.update(extra or {})
    return env


def run(argv, input=None, env=None):
    return subprocess.run(argv, input=input, stdin=None if input is not None
                          else subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                          env=env_without_password(env))


def _cred_args(auth, user, password):
    """-a:, -u:, -p: for those given."""
    return [f"-{k}:{v}" for k, v in (("a", auth), ("u", user), ("p", password)) if v]


def winrs(url, *words, auth=None, user=None, password=None, switches=(), input=None, env=None):
    args = [_bin(WINRS_BIN), f"-r:{url}", *_cred_args(auth, user, password)]
    return run([*args, *switches, *words], input=input, env=env)


def winrm(url, *words, auth=None, user=None, password=None, switches=(), env=None):
    args = [_bin(WINRM_BIN), *words, f"-r:{url}", *_cred_args(auth, user, password)]
    return run([*args, *switches], env=env)


def detail(cp, d=None):
    out = (f"rc={cp.returncode}\nstdout={cp.stdout[:1500]!r}\n"
           f"stderr={cp.stderr[:3000]!r}")
    if d is not None:
        out += f"\ndaemon log:\n{d.log()[-3000:]}"
    return out


def big_expected(prefix=b""):
    return hashlib.sha256(prefix + "".join(f"{i}\n" for i in range(1, BIG_N + 1))
                          .encode()).hexdigest()


# ---- a recording TCP relay ------------------------------------------------------

class Relay:
    """127.0.0.1:port -> target port. Keeps every byte each way, per
    connection. close_after: close a connection after that many complete
    HTTP responses (Content-Length framed, as wsmd writes them)."""

    def __init__(self, target_port, close_after=None):
        self.target = target_port
        self.close_after = close_after
        self.lock = threading.Lock()
        self.conns = []  # [client->server bytearray, server->client bytearray]
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/wsman"
        self.stopped = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            rec = [bytearray(), bytearray()]
            with self.lock:
                self.conns.append(rec)
                self.socks += [c, s]
            closing = threading.Event()
            threading.Thread(target=self._pump, args=(c, s, rec[0], False, closing),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, rec[1], True, closing),
                             daemon=True).start()

    def _responses(self, data):
        """Complete responses in data."""
        n, pos = 0, 0
        while True:
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                return n
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", bytes(data[pos:end]))
            size = int(m.group(1)) if m else 0
            if end + 4 + size > len(data):
                return n
            pos = end + 4 + size
            n += 1

    def _pump(self, src, dst, rec, responses, closing):
        try:
            while True:
                b = src.recv(65536)
                if not b or (not responses and closing.is_set()):
                    break  # a request after the last response never reaches wsmd
                with self.lock:
                    rec += b
                last = responses and self.close_after and \
                    self._responses(rec) >= self.close_after
                if last:
                    # Set before the client can see the response and send
                    # its next request on this connection.
                    closing.set()
                dst.sendall(b)
                if last:
                    break
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def requests(self):
        with self.lock:
            return [bytes(c[0]) for c in self.conns]

    def replies(self):
        with self.lock:
            return [bytes(c[1]) for c in self.conns]

    def close(self):
        self.stopped = True
        self.sock.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass


@pytest.fixture
def relay_factory():
    made = []

    def make(port, **kw):
        r = Relay(port, **kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def split_requests(stream):
    """(head, body) of each request of one connection's client->server bytes."""
    out, pos = [], 0
    while True:
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return out
        head = stream[pos:end]
        m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        size = int(m.group(1)) if m else 0
        out.append((head, stream[end + 4:end + 4 + size]))
        pos = end + 4 + size


def assert_sealed(relay, secrets=()):
    """Every request with a body on every connection is sealed; the
    handshake legs (empty bodies) carry Authorization; nothing of the SOAP
    text crosses in either direction."""
    n_sealed = 0
    for stream in relay.requests():
        for head, body in split_requests(stream):
            if not body:
                assert b"\r\nAuthorization: Negotiate " in head, head
                continue
            assert SEALED_CT in head, head
            assert b"Authorization:" not in head, head
            n_sealed += 1
    everything = b"".join(relay.requests()) + b"".join(relay.replies())
    for s in (b"Envelope", b"http://schemas.", *secrets):
        assert s not in everything, f"{s!r} crossed the wire in clear"
    assert b"application/HTTP-SPNEGO-session-encrypted" in b"".join(relay.replies())
    return n_sealed


def need_ntlm(d):
    cp = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", "-X", "POST", "-H",
                         "Content-Type: application/soap+xml", "--data", "", d.url],
                        capture_output=True, text=True, timeout=30)
    if "Negotiate" not in cp.stdout:
        pytest.skip("wsmd does not offer Negotiate (gss-ntlmssp missing?)")


# ---- daemons --------------------------------------------------------------------

@pytest.fixture
def nd(wsmd_factory, shell_users_file, shell_accounts, tmp_path):
    """wsmd over http with the shell accounts and WSMD_Synthetic; every
    Receive logged (LogReceives), so tests see which connection carried it."""
    if shutil.which("curl") is None:
        pytest.skip("curl is needed")
    conf = tmp_path / "nd.conf"
    conf.write_text("LogReceives = true\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users",
                     str(shell_users_file), "--synthetic", str(N_SYNTHETIC))
    (d.user, d.password) = shell_accounts[0]
    need_ntlm(d)
    return d


@pytest.fixture
def tls_d(wsmd_factory, shell_users_file, shell_accounts, tmp_path):
    if shutil.which("openssl") is None or shutil.which("curl") is None:
        pytest.skip("openssl and curl are needed")
    from test_https import https_port, make_cert
    c = make_cert(tmp_path / "tls")
    d = wsmd_factory("--listen", "https://127.0.0.1:0", "--listen", "http://127.0.0.1:0",
                     "--users", str(shell_users_file), "--tls-cert", str(c.cert),
                     "--tls-key", str(c.key), "--synthetic", str(N_SYNTHETIC))
    d.https_url = f"https://127.0.0.1:{https_port(d)}/wsman"
    d.cert = c
    (d.user, d.password) = shell_accounts[0]
    return d


# ---- NTLM and SPNEGO over http, encrypted ------------------------------------------

@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_winrs_encrypted_stdin_and_5mb(nd, relay_factory, auth):
    """A command reading piped stdin (a second connection: the stdin thread's
    own handshake) and writing 5 MB, every body sealed both ways."""
    r = relay_factory(nd.port)
    marker = b"stdin-marker-7f3a\n"
    cp = winrs(r.url, "cat", "&&", "seq", "1", str(BIG_N), auth=auth, user=nd.user,
               password=nd.password, switches=[f"-spn:{SPN}"], input=marker)
    assert cp.returncode == 0, detail(cp, nd)
    assert cp.stdout.startswith(marker), detail(cp, nd)
    assert hashlib.sha256(cp.stdout).hexdigest() == big_expected(marker), len(cp.stdout)
    assert cp.stderr == b"", detail(cp, nd)
    n = assert_sealed(r, secrets=[b"seq 1 800000", marker.strip(), b"800000"])
    assert n >= 5, n
    assert len(r.requests()) >= 2  # the stdin thread's connection
    assert f"user={nd.user} action=http://schemas.microsoft.com/wbem/wsman/1/windows/shell/" \
           f"Command" in nd.log()


def receive_peers(d):
    """How many sealed Receives came on each connection (wsmd's peer=)."""
    peers = {}
    for line in d.log().splitlines():
        if "/windows/shell/Receive " in line and "sealed=1" in line:
            m = re.search(r"peer=(\S+)", line)
            peers[m.group(1)] = peers.get(m.group(1), 0) + 1
    return peers


def assert_two_fetchers(d):
    """Receive ahead with sealing: two connections beyond the first, each
    with its own handshake, took turns."""
    peers = receive_peers(d)
    busy = [p for p, n in peers.items() if n >= 2]
    assert len(busy) >= 2, peers


def test_winrs_ntlm_receive_ahead_20mb(nd, relay_factory):
    """20 MB through winrs with NTLM: the Receives fetched ahead go on two
    connections of their own, each authenticated by its own handshake, in
    turn; the output arrives whole and in order, every body sealed."""
    r = relay_factory(nd.port)
    n = 2700000
    cp = winrs(r.url, "seq", "1", str(n), auth="ntlm", user=nd.user, password=nd.password,
               switches=[f"-spn:{SPN}"])
    assert cp.returncode == 0, detail(cp, nd)
    want = "".join(f"{i}\n" for i in range(1, n + 1)).encode()
    assert len(want) > 20000000
    assert len(cp.stdout) == len(want), detail(cp, nd)
    assert hashlib.sha256(cp.stdout).hexdigest() == hashlib.sha256(want).hexdigest()
    assert cp.stderr == b"", detail(cp, nd)
    assert_sealed(r, secrets=[b"seq 1", b"2700000"])
    assert_two_fetchers(nd)
    # Each of those connections authenticated itself: a handshake leg
    # (empty body, Authorization) opens every connection that sent a body.
    for stream in r.requests():
        reqs = split_requests(stream)
        if any(b for _, b in reqs):
            assert not reqs[0][1] and b"Authorization: Negotiate " in reqs[0][0]
    assert "/transfer/Delete resource=http://schemas.microsoft.com/wbem/wsman/1/windows/" \
           "shell/cmd status=200" in nd.log()


@pytest.mark.parametrize("tail,rc", [("exit 5", 5), ("sleep 1; echo end; exit 3", 3)])
def test_winrs_ntlm_output_ends_while_receiving_ahead(nd, relay_factory, tail, rc):
    """The command ends (at once, or after a pause and a last line) while a
    Receive is on its way on the other connection: nothing lost, nothing
    twice, the exit code kept, the shell deleted."""
    r = relay_factory(nd.port)
    cp = winrs(r.url, f"seq 1 {BIG_N}; {tail}", auth="ntlm", user=nd.user,
               password=nd.password, switches=[f"-spn:{SPN}"])
    assert cp.returncode == rc, detail(cp, nd)
    extra = b"end\n" if "end" in tail else b""
    assert cp.stdout.endswith(b"%d\n" % BIG_N + extra), detail(cp, nd)
    body = cp.stdout[:len(cp.stdout) - len(extra)]
    assert hashlib.sha256(body).hexdigest() == big_expected(), len(cp.stdout)
    assert cp.stderr == b"", detail(cp, nd)
    assert_sealed(r)
    assert_two_fetchers(nd)
    assert "/transfer/Delete resource=http://schemas.microsoft.com/wbem/wsman/1/windows/" \
           "shell/cmd status=200" in nd.log()


def test_winrs_ntlm_receive_ahead_connections_close(nd, relay_factory):
    """The relay closes every connection after 5 responses (2 handshake
    legs, 3 requests): the fetchers' connections go away in the middle of
    the output and each authenticates again on a new one; the output stays
    whole and in order."""
    r = relay_factory(nd.port, close_after=5)
    n = 2000000  # 15 MB: about 15 Receives
    cp = winrs(r.url, "seq", "1", str(n), auth="ntlm", user=nd.user,
               password=nd.password, switches=[f"-spn:{SPN}"])
    assert cp.returncode == 0, detail(cp, nd)
    want = "".join(f"{i}\n" for i in range(1, n + 1)).encode()
    assert len(cp.stdout) == len(want), detail(cp, nd)
    assert hashlib.sha256(cp.stdout).hexdigest() == hashlib.sha256(want).hexdigest()
    assert cp.stderr == b"", detail(cp, nd)
    assert_sealed(r)
    assert len(receive_peers(nd)) >= 5, receive_peers(nd)


def test_winrm_identify_get_enumerate_encrypted(nd, relay_factory):
    r = relay_factory(nd.port)
    common = dict(auth="ntlm", user=nd.user, password=nd.password, switches=[f"-spn:{SPN}"])
    cp = winrm(r.url, "id", **common)
    assert cp.returncode == 0, detail(cp, nd)
    assert b"ProtocolVersion" in cp.stdout, detail(cp)
    cp = winrm(r.url, "get", f"{SYN}?InstanceID=synthetic-7", **common)
    assert cp.returncode == 0, detail(cp, nd)
    assert b"InstanceID = synthetic-7" in cp.stdout, detail(cp)
    cp = winrm(r.url, "enumerate", SYN, **dict(common, switches=[f"-spn:{SPN}",
                                                                 "-format:xml"]))
    assert cp.returncode == 0, detail(cp, nd)
    ids = re.findall(rb"<[^>]*InstanceID>synthetic-(\d+)<", cp.stdout)
    assert sorted(int(i) for i in ids) == list(range(N_SYNTHETIC)), cp.stdout[:2000]
    assert assert_sealed(r, secrets=[b"synthetic-7", b"WSMD_Synthetic"]) >= 3


def test_reauthenticates_when_the_connection_closes(nd, relay_factory):
    """The relay closes every connection after 3 responses (2 handshake
    legs and one request): each request then needs a new connection and a
    new handshake, transparently."""
    r = relay_factory(nd.port, close_after=3)
    cp = winrs(r.url, "echo", "again", auth="ntlm", user=nd.user, password=nd.password,
               switches=[f"-spn:{SPN}"])
    assert cp.returncode == 0, detail(cp, nd)
    assert cp.stdout == b"again\n", detail(cp, nd)
    assert len(r.requests()) >= 4, len(r.requests())
    assert_sealed(r)


def test_unencrypted_switch(nd, relay_factory):
    r = relay_factory(nd.port)
    cp = winrs(r.url, "echo", "plain", auth="ntlm", user=nd.user, password=nd.password,
               switches=[f"-spn:{SPN}", "-unencrypted"])
    assert cp.returncode == 0, detail(cp, nd)
    assert cp.stdout == b"plain\n"
    reqs = [x for s in r.requests() for x in split_requests(s) if x[1]]
    assert reqs and all(b"Content-Type: application/soap+xml" in h for h, _ in reqs), reqs
    assert all(b"Authorization:" not in h for h, _ in reqs)
    assert b"echo plain" in b"".join(b for _, b in reqs)


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_wrong_password(nd, auth):
    cp = winrs(nd.url, "echo", "x", auth=auth, user=nd.user, password="wrong-pw",
               switches=[f"-spn:{SPN}"])
    assert cp.returncode == 1, detail(cp, nd)
    assert b"access denied" in cp.stderr.lower(), detail(cp)
    assert cp.stdout == b""
    cp = winrm(nd.url, "id", auth=auth, user=nd.user, password="wrong-pw",
               switches=[f"-spn:{SPN}"])
    assert cp.returncode == 1, detail(cp, nd)
    assert b"Access is denied" in cp.stderr, detail(cp)


def test_password_from_environment(nd):
    cp = winrs(nd.url, "echo", "env", auth="NTLM", user=nd.user, switches=[f"-spn:{SPN}"],
               env={"WSM_PASSWORD": nd.password})
    assert cp.returncode == 0, detail(cp, nd)
    assert cp.stdout == b"env\n"


@pytest.mark.parametrize("auth", ["NTLM", "Negotiate"])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_no_spn_needed(nd, auth, host):
    """By address or by localhost, without -spn: wsmd's CHALLENGE names
    its host, not a service (test_ntlm.py), so the client's gss-ntlmssp
    has no name to refuse ours against. Sealed, as always over http."""
    url = nd.url.replace("127.0.0.1", host)
    cp = winrs(url, "echo", "no-spn", auth=auth, user=nd.user, password=nd.password)
    assert cp.returncode == 0 and cp.stdout == b"no-spn\n", detail(cp, nd)
    cp = winrm(url, "id", auth=auth, user=nd.user, password=nd.password)
    assert cp.returncode == 0 and b"ProductVendor" in cp.stdout, detail(cp, nd)
    assert re.search(r"action=Identify .*status=200 us=\d+ sealed=1", nd.log()), nd.log()


def test_auth_switch_errors(nd):
    cp = winrs(nd.url, "echo", "x", auth="digest", user=nd.user, password=nd.password)
    assert cp.returncode == 1 and b"unknown authentication" in cp.stderr, detail(cp)
    cp = winrm(nd.url, "id", auth="digest", user=nd.user, password=nd.password)
    assert cp.returncode == 2, detail(cp)
    # A client certificate over plain http: refused before anything is sent.
    cp = winrs(nd.url, "echo", "x", auth="certificate", switches=["-certificate:/nonexistent"])
    assert cp.returncode == 1 and b"needs https" in cp.stderr, detail(cp)
    # NTLM with a user and no password.
    cp = winrs(nd.url, "echo", "x", auth="ntlm", user=nd.user)
    assert cp.returncode == 1 and b"-p:" in cp.stderr, detail(cp)


def test_basic_over_http_loads_no_gssapi(nd):
    """The Basic path never maps libgssapi_krb5, libcurl or GnuTLS (start-up
    cost)."""
    cp = subprocess.run(["sh", "-c", f'LD_DEBUG=files "$0" -r:{nd.url} -u:{nd.user} '
                         f'-p:{nd.password} echo ok 2>&1', _bin(WINRS_BIN)],
                        capture_output=True, timeout=TIMEOUT, env=env_without_password())
    assert b"ok\n" in cp.stdout, cp.stdout[-2000:]
    assert b"libgssapi" not in cp.stdout and b"libcurl" not in cp.stdout
    assert b"libgnutls" not in cp.stdout


def test_spn_is_ignored_by_basic(nd):
    """-spn: means nothing to Basic: accepted, no effect (a script can pass
    the same switches whatever the -a:)."""
    cp = winrs(nd.url, "echo", "basic-spn", auth="basic", user=nd.user, password=nd.password,
               switches=[f"-spn:{SPN}"])
    assert cp.returncode == 0 and cp.stdout == b"basic-spn\n", detail(cp, nd)
    cp = winrm(nd.url, "id", auth="basic", user=nd.user, password=nd.password,
               switches=["-spn:HTTP@elsewhere"])
    assert cp.returncode == 0, detail(cp, nd)


# ---- https --------------------------------------------------------------------------

def test_ntlm_over_https(tls_d):
    d = tls_d
    sw = [f"-spn:{SPN}", f"-cacert:{d.cert.cert}"]
    cp = winrs(d.https_url, "cat", "&&", "seq", "1", str(BIG_N), auth="ntlm", user=d.user,
               password=d.password, switches=sw, input=b"tls-in\n")
    assert cp.returncode == 0, detail(cp, d)
    assert hashlib.sha256(cp.stdout).hexdigest() == big_expected(b"tls-in\n"), len(cp.stdout)
    cp = winrm(d.https_url, "id", auth="ntlm", user=d.user, password=d.password, switches=sw)
    assert cp.returncode == 0, detail(cp, d)
    cp = winrm(d.https_url, "enumerate", SYN, auth="negotiate", user=d.user,
               password=d.password, switches=sw)
    assert cp.returncode == 0, detail(cp, d)
    assert cp.stdout.count(b"InstanceID = synthetic-") == N_SYNTHETIC, detail(cp)
    cp = winrm(d.https_url, "id", auth="ntlm", user=d.user, password="bad", switches=sw)
    assert cp.returncode == 1 and b"Access is denied" in cp.stderr, detail(cp, d)


def test_basic_over_https_ca_check(tls_d):
    d = tls_d
    common = dict(auth="basic", user=d.user, password=d.password)
    cp = winrs(d.https_url, "echo", "tls", switches=[f"-cacert:{d.cert.cert}"], **common)
    assert cp.returncode == 0 and cp.stdout == b"tls\n", detail(cp, d)
    # The system's CAs do not know the test certificate.
    cp = winrs(d.https_url, "echo", "tls", **common)
    assert cp.returncode == 1, detail(cp, d)
    assert re.search(rb"(?i)certificate|issuer|verif", cp.stderr), detail(cp)
    cp = winrm(d.https_url, "id", **common)
    assert cp.returncode == 1, detail(cp, d)
    cp = winrs(d.https_url, "echo", "tls", switches=["-skipCAcheck"], **common)
    assert cp.returncode == 0 and cp.stdout == b"tls\n", detail(cp, d)
    cp = winrm(d.https_url, "get", f"{SYN}?InstanceID=synthetic-3", switches=["-skipCAcheck"],
               **common)
    assert cp.returncode == 0 and b"InstanceID = synthetic-3" in cp.stdout, detail(cp, d)
    # Another CA's certificate as the trust anchor: refused.
    from test_https import make_cert
    other = make_cert(Path(d.workdir) / "other")
    cp = winrs(d.https_url, "echo", "tls", switches=[f"-cacert:{other.cert}"], **common)
    assert cp.returncode == 1, detail(cp, d)
    cp = winrs(d.https_url, "echo", "tls", auth="basic", user=d.user, password="nope",
               switches=["-skipCAcheck"])
    assert cp.returncode == 1 and b"access denied" in cp.stderr.lower(), detail(cp, d)


# ---- client certificates --------------------------------------------------------------

def test_client_certificate_offered(tmp_path):
    """Without the server side: openssl s_server -verify sees our client
    certificate and the WS-Management mutual profile header."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed")
    from test_https import make_cert
    srv = make_cert(tmp_path / "srv")
    cli = make_cert(tmp_path / "cli", cn="client-7c1e")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    p = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                          str(srv.cert), "-key", str(srv.key), "-Verify", "1", "-CAfile",
                          str(cli.cert), "-naccept", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        seen = b""
        while b"ACCEPT" not in seen:
            line = p.stdout.readline()
            assert line, seen
            seen += line
        cp = winrm(f"https://127.0.0.1:{port}/wsman", "id", auth="certificate",
                    switches=[f"-certificate:{cli.cert}", f"-key:{cli.key}", "-skipCAcheck",
                              "-timeout:3000"])
        p.kill()
        out = (seen + p.communicate(timeout=10)[0]).decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "client-7c1e" in out, out
    assert "secprofile/https/mutual" in out, out
    assert cp.returncode == 1  # s_server answers no HTTP


try:  # the server side's PKI and configuration (test_client_cert.py)
    import test_client_cert as tcc
    from test_client_cert import pki  # noqa: F401  (the fixture)
except Exception as e:  # pragma: no cover
    tcc, TCC_WHY = None, str(e)


def test_winrs_winrm_client_certificate(request, wsmd_factory, shell_users_file):
    """Against wsmd's client-certificate authentication (test_client_cert's
    PKI and configuration)."""
    if tcc is None:
        pytest.skip(f"test_client_cert.py not usable: {TCC_WHY}")
    p = request.getfixturevalue("pki")
    d = tcc.start(wsmd_factory, p, shell_users_file)
    cert, key = p.good
    sw = [f"-certificate:{cert}", f"-key:{key}", f"-cacert:{p.server.cert}"]
    cp = winrs(d.https_url, "id", "-un", auth="certificate", switches=sw)
    assert cp.returncode == 0, detail(cp, d)
    assert cp.stdout.decode().strip() == tcc.expected_login(p.user1), detail(cp)
    # -certificate alone implies certificate authentication.
    cp = winrm(d.https_url, "id", switches=sw)
    assert cp.returncode == 0 and b"ProtocolVersion" in cp.stdout, detail(cp, d)
    assert f"user={p.user1} action=Identify" in d.log()
    cp = winrm(d.https_url, "id", auth="ClientCert", switches=sw)
    assert cp.returncode == 0, detail(cp, d)
    # The certificate of another CA is refused.
    wc, wk = p.wrong_ca
    cp = winrs(d.https_url, "echo", "x", auth="certificate",
               switches=[f"-certificate:{wc}", f"-key:{wk}", f"-cacert:{p.server.cert}"])
    assert cp.returncode == 1, detail(cp, d)
    assert cp.stdout == b""


# ---- Kerberos ------------------------------------------------------------------------

try:  # the realm fixture (kdc.py) and wsmd's Kerberos configuration
    import test_kerberos as tk
    from kdc import kdc  # noqa: F401  (the fixture)
except Exception as e:  # pragma: no cover
    tk, TK_WHY = None, str(e)


def krb_realm(request, shell_accounts):
    """kdc.py's realm with the first shell account as a principal, its
    KRB5* environment in this process: (kdc, name, password)."""
    if tk is None:
        pytest.skip(f"kdc.py / test_kerberos.py not usable: {TK_WHY}")
    k = request.getfixturevalue("kdc")
    k.use_env(request.getfixturevalue("monkeypatch"))
    name, pw = shell_accounts[0]
    k.add_principal(name, pw)
    return k, name, pw


@pytest.fixture
def kd(request, wsmd_factory, shell_users_file, shell_accounts, tmp_path):
    k, name, pw = krb_realm(request, shell_accounts)
    d = tk.start_krb(wsmd_factory, k, shell_users_file, tmp_path, "LogReceives = true")
    d.kdc, d.user, d.password = k, name, pw
    d.ccache = k.kinit(f"{name}@{k.realm}", pw)
    d.kurl = f"http://{k.host}:{d.port}/wsman"
    return d


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_kerberos_on_network_listener(request, wsmd_factory, shell_users_file, shell_accounts,
                                      tmp_path, auth):
    """A listener on 0.0.0.0 refuses plain bodies: the Kerberos handshake
    (an empty POST) and the sealed requests after it pass, and
    -unencrypted is refused."""
    k, name, pw = krb_realm(request, shell_accounts)
    d, port = any_address_port(lambda: tk.start_krb(
        wsmd_factory, k, shell_users_file, tmp_path,
        listen=("http://0.0.0.0:0", "http://127.0.0.1:0")))
    url = f"http://{k.host}:{port}/wsman"
    env = k.env_with(KRB5CCNAME=k.kinit(f"{name}@{k.realm}", pw))
    cp = winrs(url, "echo", "krb-net", auth=auth, env=env)
    assert cp.returncode == 0 and cp.stdout == b"krb-net\n", detail(cp, d)
    cp = winrs(url, "echo", "krb-plain", auth=auth, env=env, switches=["-unencrypted"])
    assert cp.returncode == 1 and b"Unencrypted traffic is disabled" in cp.stderr, detail(cp, d)


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_kerberos_with_ccache(kd, relay_factory, auth):
    """No -u/-p: the ticket in KRB5CCNAME; every body sealed (Kerberos
    scheme: application/HTTP-Kerberos-session-encrypted)."""
    r = relay_factory(kd.port)
    env = kd.kdc.env_with(KRB5CCNAME=kd.ccache)
    url = f"http://{kd.kdc.host}:{r.port}/wsman"
    cp = winrs(url, "cat", "&&", "seq", "1", str(BIG_N), auth=auth, input=b"krb-in\n",
               env=env)
    assert cp.returncode == 0, detail(cp, kd)
    assert hashlib.sha256(cp.stdout).hexdigest() == big_expected(b"krb-in\n"), detail(cp)
    proto = b"HTTP-Kerberos-session-encrypted" if auth == "kerberos" else \
        b"HTTP-SPNEGO-session-encrypted"
    reqs = [x for s in r.requests() for x in split_requests(s) if x[1]]
    assert reqs and all(proto in h for h, _ in reqs), [h for h, _ in reqs]
    wire = b"".join(r.requests()) + b"".join(r.replies())
    assert b"Envelope" not in wire and b"seq 1" not in wire
    assert_two_fetchers(kd)  # receive ahead: two more connections, two more handshakes
    scheme = b"Kerberos " if auth == "kerberos" else b"Negotiate "
    assert all(b"Authorization: " + scheme in h for s in r.requests()
               for h, b in split_requests(s) if not b)
    cp = winrm(kd.kurl, "id", auth=auth, env=env)
    assert cp.returncode == 0, detail(cp, kd)
    cp = winrm(kd.kurl, "id", auth=auth, user=f"{kd.user}@{kd.kdc.realm}",
               password=kd.password, env=kd.kdc.env_with(KRB5CCNAME=f"FILE:{kd.workdir}/none"))
    assert cp.returncode == 0, detail(cp, kd)
    assert f"user={kd.user} action=Identify" in kd.log()


def test_kerberos_errors(kd):
    # No ticket at all.
    env = kd.kdc.env_with(KRB5CCNAME=f"FILE:{kd.workdir}/empty-ccache")
    cp = winrs(kd.kurl, "echo", "x", auth="kerberos", env=env)
    assert cp.returncode == 1, detail(cp, kd)
    assert cp.stderr, detail(cp)
    # A wrong password.
    cp = winrm(kd.kurl, "id", auth="kerberos", user=f"{kd.user}@{kd.kdc.realm}",
               password="wrong", env=env)
    assert cp.returncode == 1, detail(cp, kd)
