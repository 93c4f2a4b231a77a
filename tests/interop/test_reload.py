"""Signals and the service manager (docs/internals/daemon.md, "Signals and
the service manager"; src/daemon/reload.c, tlscert.c, sdnotify.c).

- SIGHUP with a good changed config (a new user, a smaller
  MaxEnvelopeSize, a new TLS certificate) and with a bad one (the running
  configuration kept, one log line naming file, line, key and reason),
  each while a thread sends requests in a loop: no request may fail.
- sd_notify: a unix datagram socket the test binds as NOTIFY_SOCKET gets
  READY=1, RELOADING=1 (with MONOTONIC_USEC) then READY=1, STOPPING=1.
- SIGTERM with a shell running a command: the command's process is gone,
  and a Receive waiting for it is answered.

Run as root, wsmd is separated (privsep.md) and the reload crosses from
the monitor to the network process; PrivilegeSeparation = no runs the
same tests in one process.
"""

import http.client
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import run_cli, user_add
from shell_helpers import Raw, pids_matching, wait_for
from test_https import HTTPS_RE, make_cert
from wsman_helpers import IDENTIFY_BODY, PASSWORD, USER, post

PRIVSEP = [pytest.param("yes", id="separated"), pytest.param("no", id="single")]


# ---- helpers ------------------------------------------------------------

def https_port(d):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = HTTPS_RE.search(d.log())
        if m:
            return int(m.group(2))
        d.assert_alive()
        time.sleep(0.02)
    raise AssertionError(d.log())


def write_conf(path, users, cert, *extra, privsep="yes"):
    lines = ["# wsmd test config",
             "Listen = http://127.0.0.1:0",
             "Listen = https://127.0.0.1:0",
             f"Users = {users}",
             f"CertificateFile = {cert.cert}",
             f"KeyFile = {cert.key}",
             f"PrivilegeSeparation = {privsep}",
             *extra]
    path.write_text("\n".join(lines) + "\n")


def peer_cert(port):
    """The DER certificate a new TLS handshake on port presents."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def der_of(cert):
    return ssl.PEM_cert_to_DER_cert(cert.cert.read_text())


def padded_identify(extra):
    """An Identify with `extra` bytes of whitespace inside the Body."""
    return IDENTIFY_BODY.replace("</s:Body>", " " * extra + "</s:Body>")


class Load:
    """A thread sending authenticated Identify requests in a loop: each on
    a new HTTP connection, or on one kept-alive HTTPS connection, turn
    about. Counts what succeeded and what failed (with why)."""

    def __init__(self, d, https):
        self.d, self.https = d, https
        self.ok = 0
        self.failed = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        keep = None
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                if i % 2:
                    r = post(self.d.port, timeout=20)
                    status = r.status
                else:
                    if keep is None:
                        keep = http.client.HTTPSConnection("127.0.0.1", self.https,
                                                           timeout=20, context=ctx)
                    r = post(self.https, conn=keep, timeout=20)
                    status = r.status
                if status == 200:
                    self.ok += 1
                else:
                    self.failed.append(f"status {status}")
            except (OSError, http.client.HTTPException) as e:
                self.failed.append(repr(e))
                keep = None
        if keep:
            keep.close()

    def wait_for_requests(self, n):
        start = self.ok
        assert wait_for(lambda: self.ok >= start + n or self.failed, 20, 0.01), "no load"

    def finish(self):
        self.stop.set()
        self.t.join(30)
        return self.ok, self.failed


def hup_and_wait(d, pattern, start_at):
    """SIGHUP, then wait for a log line matching pattern written after
    start_at (the log's length before)."""
    os.kill(d.pid, signal.SIGHUP)
    rx = re.compile(pattern)
    assert wait_for(lambda: rx.search(d.log()[start_at:]), 15, 0.01), (
        f"no {pattern!r} after SIGHUP:\n{d.log()[start_at:]}")
    return rx.search(d.log()[start_at:])


# ---- SIGHUP: a good changed configuration -------------------------------

@pytest.mark.parametrize("privsep", PRIVSEP)
def test_reload_good_config_under_load(wsmd_factory, users_file, tmp_path, privsep):
    c1 = make_cert(tmp_path / "c1", cn="localhost")
    c2 = make_cert(tmp_path / "c2", cn="renewed")
    live = make_cert(tmp_path / "live")
    conf = tmp_path / "wsmd.conf"
    write_conf(conf, users_file, live, privsep=privsep)
    pems = [(c.cert.read_bytes(), c.key.read_bytes()) for c in (c1, c2)]
    os.replace(c1.cert, live.cert)
    os.replace(c1.key, live.key)
    d = wsmd_factory("-c", str(conf))
    hport = https_port(d)
    assert peer_cert(hport) == ssl.PEM_cert_to_DER_cert(live.cert.read_text())
    old_der = peer_cert(hport)

    # Before: a 30 KB envelope is within the default MaxEnvelopeSize; the
    # new user does not exist.
    assert post(d.port, body=padded_identify(30000)).status == 200
    assert post(d.port, auth=("carol", "carol-pw-3")).status == 401
    # A connection opened before the reload, kept alive across it.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    kept = http.client.HTTPSConnection("127.0.0.1", hport, timeout=20, context=ctx)
    assert post(hport, conn=kept).status == 200
    kept_sock = kept.sock

    load = Load(d, hport)
    load.wait_for_requests(20)
    # The changes: a user, a quota, a renewed certificate (new files moved
    # into place, as certbot and the like do).
    user_add(users_file, "carol", "carol-pw-3")
    write_conf(conf, users_file, live, "MaxEnvelopeSize = 20000", privsep=privsep)
    os.replace(c2.cert, live.cert)
    os.replace(c2.key, live.key)
    mark = len(d.log())
    t0 = time.monotonic()
    hup_and_wait(d, r"event=reload-certificate sha256=[0-9a-f]{64}", mark)
    took = time.monotonic() - t0
    load.wait_for_requests(20)
    # More renewals in a row, each waited for, the load still running.
    for i in range(8):
        cert_pem, key_pem = pems[i % 2]
        for path, data in ((live.cert, cert_pem), (live.key, key_pem)):
            tmp = path.with_suffix(".new")
            tmp.write_bytes(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        n = d.log().count("event=reload-certificate")
        os.kill(d.pid, signal.SIGHUP)
        assert wait_for(lambda: d.log().count("event=reload-certificate") > n, 15, 0.01), \
            d.log()[mark:]
        assert peer_cert(hport) == ssl.PEM_cert_to_DER_cert(cert_pem.decode())
    load.wait_for_requests(20)
    ok, failed = load.finish()
    print(f"\nreload under load ({privsep}): 9 reloads, requests ok={ok} "
          f"failed={len(failed)}; first reload+log {took * 1000:.0f} ms")
    assert failed == [], failed[:5]
    d.assert_alive()
    log = d.log()[mark:]
    assert re.search(r'event=reload file="[^"]*wsmd\.conf"', log), log
    assert "event=reload-refused" not in log, log

    # After (the last renewal put c2 back): the new certificate for new
    # handshakes, the old one kept by the connection that was open, which
    # still works.
    new_der = peer_cert(hport)
    assert new_der != old_der
    assert new_der == ssl.PEM_cert_to_DER_cert(pems[1][0].decode())
    assert post(hport, conn=kept).status == 200
    assert kept.sock is kept_sock
    assert kept.sock.getpeercert(binary_form=True) == old_der
    kept.close()
    # The quota and the user.
    r = post(d.port, body=padded_identify(30000))
    assert r.status != 200 and b"EncodingLimit" in r.body, r
    assert post(d.port, body=padded_identify(1000)).status == 200
    assert post(d.port, auth=("carol", "carol-pw-3")).status == 200


@pytest.mark.parametrize("privsep", PRIVSEP)
def test_reload_bad_config_keeps_old_under_load(wsmd_factory, users_file, tmp_path, privsep):
    cert = make_cert(tmp_path / "tls")
    conf = tmp_path / "wsmd.conf"
    write_conf(conf, users_file, cert, "MaxEnvelopeSize = 40000", privsep=privsep)
    d = wsmd_factory("-c", str(conf))
    hport = https_port(d)
    der = peer_cert(hport)
    load = Load(d, hport)
    load.wait_for_requests(20)

    # A bad value on line 9 (write_conf writes 7 lines, then the extras).
    write_conf(conf, users_file, cert, "MaxEnvelopeSize = 1000", "MaxEnvelopeSize = banana",
               privsep=privsep)
    mark = len(d.log())
    m = hup_and_wait(d, r"event=reload-refused .*", mark)
    line = m.group(0)
    assert re.search(r'file="[^"]*wsmd\.conf" line=9 key="MaxEnvelopeSize" '
                     r'reason="bad value: banana"', line), line
    assert "the running configuration is kept" in line
    # An unknown key.
    write_conf(conf, users_file, cert, "Frobnicate = 1", privsep=privsep)
    mark = len(d.log())
    m = hup_and_wait(d, r"event=reload-refused .*", mark)
    assert re.search(r'line=8 key="Frobnicate" reason="unknown key"', m.group(0)), m.group(0)
    # A private key others can read: the whole file is refused.
    write_conf(conf, users_file, cert, "MaxEnvelopeSize = 1000", privsep=privsep)
    os.chmod(cert.key, 0o644)
    mark = len(d.log())
    m = hup_and_wait(d, r"event=reload-refused .*", mark)
    assert re.search(r'file="[^"]*wsmd\.conf" key="CertificateFile" reason="the private key '
                     r'\S+ is readable by other users', m.group(0)), m.group(0)
    os.chmod(cert.key, 0o600)

    load.wait_for_requests(20)
    ok, failed = load.finish()
    print(f"\nrefused reloads under load ({privsep}): requests ok={ok} failed={len(failed)}")
    assert failed == [], failed[:5]
    # Still the old configuration: 40000, not 1000.
    assert post(d.port, body=padded_identify(30000)).status == 200
    assert peer_cert(hport) == der
    assert "event=reload-certificate" not in d.log()
    d.assert_alive()


def test_reload_names_keys_that_need_a_restart(wsmd_factory, users_file, tmp_path):
    cert = make_cert(tmp_path / "tls")
    conf = tmp_path / "wsmd.conf"
    write_conf(conf, users_file, cert)
    d = wsmd_factory("-c", str(conf))
    write_conf(conf, users_file, cert, "Listen = http://127.0.0.1:0",
               "MaxShellsPerUser = 3", "AllowUnencrypted = true")
    mark = len(d.log())
    hup_and_wait(d, r'event=reload file=', mark)
    log = d.log()[mark:]
    assert re.search(r"event=reload-restart keys=MaxShellsPerUser ", log), log
    # Listen lines are applied by the reload itself (reloadlisten.c),
    # separated in the network process, after the monitor's part.
    created = re.compile(r"event=listener-created url=http://127\.0\.0\.1:\d+/wsman port=\d+ "
                         r"by=reload")
    assert wait_for(lambda: created.search(d.log()[mark:]), 15, 0.01), d.log()[mark:]
    assert "keys=Listen" not in d.log()[mark:]
    assert "AllowUnencrypted" not in log  # applied live, not a restart's


# ---- sd_notify --------------------------------------------------------------

def recv_until(sock, want, timeout=15):
    """Datagrams until one holds the line `want`; all of them, joined."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(data)
        if want in data.split("\n"):
            return got
    raise AssertionError(f"no {want!r} among {got!r}")


@pytest.mark.parametrize("privsep,abstract", [("yes", False), ("no", False), ("yes", True)],
                         ids=["separated", "single", "abstract"])
def test_sd_notify(wsmd_factory, users_file, tmp_path, monkeypatch, privsep, abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"wsmd-test-{secrets.token_hex(6)}"
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    else:
        path = tmp_path / "notify"
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nUsers = {users_file}\n"
                    f"PrivilegeSeparation = {privsep}\n")
    try:
        d = wsmd_factory("-c", str(conf))
        got = recv_until(sock, "READY=1")
        assert any("STATUS=Serving" in g for g in got), got
        # Ready means listening: a request is served at once.
        assert post(d.port).status == 200
        os.kill(d.pid, signal.SIGHUP)
        got = recv_until(sock, "RELOADING=1")
        assert re.search(r"^MONOTONIC_USEC=\d+$", got[-1], re.M), got
        usec = int(re.search(r"MONOTONIC_USEC=(\d+)", got[-1]).group(1))
        now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
        assert 0 <= now - usec < 15e6, (now, usec)
        got = recv_until(sock, "READY=1")
        assert any("STATUS=Serving; configuration reloaded" in g for g in got), got
        rc, log = d.stop()
        assert rc == 0, log
        recv_until(sock, "STOPPING=1", timeout=5)
    finally:
        sock.close()


def test_sd_notify_bad_socket_is_logged_once(wsmd_factory, users_file, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))
    assert post(d.port).status == 200
    for _ in range(2):
        mark = len(d.log())
        hup_and_wait(d, r"event=reload file=", mark)
    assert wait_for(lambda: "event=notify-error" in d.log(), 10), d.log()
    assert d.log().count("event=notify-error") == 1, d.log()


# ---- SIGTERM ----------------------------------------------------------------

def server_read_all(port):
    """1 when no established connection to port has unread bytes: the
    daemon took in what was sent (ss's Recv-Q of its side)."""
    out = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    return lines and all(ln[0] == "0" for ln in lines)


def test_sigterm_ends_shell_command_and_answers_waiting_receive(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=60)
    sid, _, _ = raw.create()
    marker = f"{3000 + secrets.randbelow(1000)}.{secrets.randbelow(1000)}"
    cid = raw.command_id(raw.command(sid, "sleep", (marker,))[0])
    assert wait_for(lambda: pids_matching(f"sleep {marker}"), 10), "command did not start"
    pids = pids_matching(f"sleep {marker}")

    # A Receive that waits for output that never comes (parked).
    answer = {}

    def receive():
        try:
            answer["reply"] = raw.receive(sid, cid)[0]
        except Exception as e:  # noqa: BLE001 - reported below
            answer["error"] = repr(e)

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    assert wait_for(lambda: server_read_all(d.port) and t.is_alive(), 10)

    d.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert "reply" in answer, f"the waiting Receive got no answer: {answer}\n{d.log()}"
    # w:TimedOut: what a client takes as "poll again".
    assert b"TimedOut" in answer["reply"].body, answer["reply"]
    d.proc.wait(30)
    assert d.proc.returncode == 0, d.log()
    gone = wait_for(lambda: not set(pids) & set(pids_matching(f"sleep {marker}")), 10)
    assert gone, f"the shell's command outlived wsmd: {pids}"


def test_sighups_in_a_row_kill_nothing(wsmd_factory, users_file):
    """Signals that arrive while a reload runs wait for it: none may reach
    a thread that does not block it (its default action ends wsmd)."""
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))
    net = d.work_pid
    for _ in range(5):
        os.kill(d.pid, signal.SIGHUP)
    assert wait_for(lambda: d.log().count("event=reload file=") >= 1, 10, 0.01), d.log()
    assert post(d.port).status == 200
    d.assert_alive()
    assert d.work_pid == net and "privsep-restart" not in d.log(), d.log()
    rc, log = d.stop()
    assert rc == 0, log


def test_foreground_accepted_not_advertised(wsmd_factory, users_file):
    """--foreground is accepted and ignored (wsmd never forks away); the
    usage no longer offers it."""
    d = wsmd_factory("--foreground", "--listen", "http://127.0.0.1:0", "--users",
                     str(users_file))
    assert post(d.port).status == 200
    assert d.alive()
    cp = run_cli(["--help"])
    assert cp.returncode == 0 and "usage: wsmd" in cp.stdout
    assert "--foreground" not in cp.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="rights by group need wsmd run as root")
@pytest.mark.parametrize("privsep", PRIVSEP)
def test_reload_allow_lines(wsmd_factory, users_file, tmp_path, privsep):
    """A new Allow line takes effect at SIGHUP (the network process's new
    authz), removing it takes the right away again."""
    from wsman_helpers import TRANSFER_GET, wsman_envelope
    conf = tmp_path / "wsmd.conf"
    base = (f"Listen = http://127.0.0.1:0\nUsers = {users_file}\n"
            f"PrivilegeSeparation = {privsep}\n")
    conf.write_text(base)
    d = wsmd_factory("-c", str(conf), grant=False)

    def get_config():
        body = wsman_envelope(TRANSFER_GET, "http://schemas.microsoft.com/wbem/wsman/1/config",
                              d.url)
        return post(d.port, body=body)

    r = get_config()
    assert r.status != 200 and b"AccessDenied" in r.body, r
    conf.write_text(base + f"Allow = config-read @{USER}\n")
    mark = len(d.log())
    hup_and_wait(d, r"event=reload file=", mark)
    # Separated, the network process applies its part after the monitor's
    # line: poll for it.
    assert wait_for(lambda: get_config().status == 200, 10, 0.01), get_config()
    conf.write_text(base)
    mark = len(d.log())
    hup_and_wait(d, r"event=reload file=", mark)
    assert wait_for(lambda: b"AccessDenied" in get_config().body, 10, 0.01), get_config()


@pytest.mark.parametrize("privsep", PRIVSEP)
def test_reload_keytab(wsmd_factory, users_file, tmp_path, privsep):
    """Keytab at SIGHUP: a missing one is refused (the acceptor stays as it
    was), a present one makes a new acceptor that offers Kerberos to new
    connections. No KDC needed: only the offer is looked at."""
    conf = tmp_path / "wsmd.conf"
    base = (f"Listen = http://127.0.0.1:0\nUsers = {users_file}\n"
            f"PrivilegeSeparation = {privsep}\n")
    conf.write_text(base)
    d = wsmd_factory("-c", str(conf))

    def offers():
        r = post(d.port, auth=None)
        assert r.status == 401, r
        return [v for k, v in r.headers if k.lower() == "www-authenticate"]

    assert "Kerberos" not in offers()
    conf.write_text(base + f"Keytab = {tmp_path}/no-such.keytab\n")
    mark = len(d.log())
    m = hup_and_wait(d, r"event=reload-refused .*", mark)
    assert re.search(r'key="Keytab" reason="the keytab \S+no-such\.keytab is missing or empty"',
                     m.group(0)), m.group(0)
    assert "Kerberos" not in offers()
    kt = tmp_path / "krb5.keytab"
    kt.write_bytes(b"\x05\x02" + bytes(62))  # a keytab file's shape; never read without a KDC
    os.chmod(kt, 0o600)
    conf.write_text(base + f"Keytab = {kt}\n")
    mark = len(d.log())
    hup_and_wait(d, r"event=reload file=", mark)
    assert wait_for(lambda: "Kerberos" in offers(), 10, 0.01), offers()
