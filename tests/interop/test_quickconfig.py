"""winrm quickconfig (src/cli/quickconfig.c) against a real wsmd started on
a temporary config file with a loopback port: the listener it adds on all
addresses is opened by the SIGHUP reload (reloadlisten.c) and answered
through (curl, Python's ssl); a second run changes nothing and writes
nothing; the prompt answered through a pty; https with a certificate it
makes; a non-admin refused; Windows' sentences by their exact text.

CI has no systemd as PID 1: the systemctl path runs against a script named
by SYSTEMCTL that keeps "enabled"/"active" in files and turns "reload" into
a SIGHUP to the real wsmd -- the calls quickconfig makes are checked, not
systemd itself."""
import hashlib
import os
import pty
import socket
import ssl
import subprocess
import tempfile
import shutil
import time

import pytest

from conftest import REPO_ROOT
from wsman_helpers import IDENTIFY_BODY, PASSWORD, USER

WINRM = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")

NOT_SET_UP = ("WinRM is not set up to allow remote access to this machine for management.\n"
              "The following changes must be made:\n\n")
CREATE = ("Create a WinRM listener on {t}://* to accept WS-Man requests to any IP on this "
          "machine.\n")
UPDATED = "\nWinRM has been updated for remote management.\n\n"
CREATED = ("Created a WinRM listener on {t}://* to accept WS-Man requests to any IP on this "
           "machine.\n")
RUNNING = "WinRM service is already running on this machine.\n"
ALREADY = "WinRM is already set up for remote management on this computer.\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def winrm_for(user):
    """The winrm binary another account can run: the build tree may sit
    below a directory only root may enter (a clean clone in a mktemp
    folder, /root), so a copy in a world-readable folder."""
    if user is None:
        return WINRM
    d = tempfile.mkdtemp(prefix="wsmd-qc-bin-")
    os.chmod(d, 0o755)
    dst = os.path.join(d, "winrm")
    shutil.copy2(WINRM, dst)
    # and libwsm beside it ($ORIGIN is winrm's runpath in the build tree)
    src_dir = os.path.dirname(os.path.realpath(WINRM))
    for name in os.listdir(src_dir):
        if name.startswith("libwsm.so") and not os.path.isdir(os.path.join(src_dir, name)):
            shutil.copy2(os.path.join(src_dir, name), os.path.join(d, name))
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o755)
    return dst


def qc(*args, env=None, user=None, timeout=60):
    e = dict(os.environ)
    e.pop("SYSTEMCTL", None)
    e.update(env or {})
    exe = winrm_for(user)
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True, env=e, user=user,
                              timeout=timeout)
    finally:
        if exe != WINRM:
            shutil.rmtree(os.path.dirname(exe), ignore_errors=True)


def listening_any(port):
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, st = line.split()[1], line.split()[3]
            if local == "00000000:%04X" % port and st == "0A":
                return True
    return False


def curl_identify(url, *extra):
    """An anonymous Identify with curl: on a listener that is not loopback
    wsmd asks for credentials (401, Negotiate: plain http carries no
    Basic there) -- an answer only wsmd gives."""
    cp = subprocess.run(["curl", "-sS", "-i", "--max-time", "10", *extra, "-H",
                         "Content-Type: application/soap+xml;charset=UTF-8",
                         "--data-binary", IDENTIFY_BODY, url],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith("HTTP/1.1 401"), cp.stdout
    assert "WWW-Authenticate: Negotiate" in cp.stdout, cp.stdout
    return cp.stdout


def listeners_seen(port, scheme="http", *extra):
    """winrm enumerate winrm/config/listener through the new listener,
    logged in with NTLM (sealed messages over http)."""
    cp = subprocess.run([WINRM, "enumerate", "winrm/config/listener",
                         f"-r:{scheme}://127.0.0.1:{port}/wsman", "-a:ntlm", f"-u:{USER}",
                         f"-p:{PASSWORD}", *extra], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return cp.stdout


@pytest.fixture
def conf(tmp_path):
    """A config file whose one listener is http on loopback, a free port."""
    port = free_port()
    path = tmp_path / "wsmd.conf"
    path.write_text("# wsmd for quickconfig's tests\n"
                    f"Listen = http://127.0.0.1:{port}  # loopback only\n"
                    "LogLevel = info\n")
    return path, port


def start(wsmd_factory, users_file, path):
    return wsmd_factory("-c", str(path), "--users", str(users_file))


@pytest.mark.parametrize("privsep", ["yes", "no"])
def test_quickconfig_twice(wsmd_factory, users_file, conf, privsep):
    """Separated, the monitor binds the new listener for the network
    process; unseparated, wsmd binds it itself."""
    path, port = conf
    path.write_text(path.read_text() + f"PrivilegeSeparation = {privsep}\n")
    d = start(wsmd_factory, users_file, path)
    assert not listening_any(port)
    cp = qc("quickconfig", "-q", "-config:" + str(path))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    out = cp.stdout
    # Windows' sentences, in Windows' order.
    assert out.startswith(RUNNING + NOT_SET_UP + CREATE.format(t="HTTP")), out
    assert UPDATED + CREATED.format(t="HTTP") in out, out
    assert "Make these changes" not in out  # -q does not ask
    assert f"wsmd reloaded its configuration and listens on 0.0.0.0:{port}." in out
    # The port this transport used, widened: the loopback line replaced
    # (0.0.0.0 serves 127.0.0.1 too), the comment line and others kept.
    assert path.read_text() == ("# wsmd for quickconfig's tests\n"
                                "LogLevel = info\n"
                                f"PrivilegeSeparation = {privsep}\n"
                                f"Listen = http://0.0.0.0:{port}\n")
    assert listening_any(port)
    # Reachable through the new listener, with an independent client.
    curl_identify(f"http://127.0.0.1:{port}/wsman")
    seen = listeners_seen(port)
    assert "Address = *" in seen and f"Port = {port}" in seen, seen
    assert "by=reload" in d.log()
    assert ("event=privsep role=network" in d.log()) == (privsep == "yes")
    # Not Basic, not AllowUnencrypted: as Windows' quickconfig.
    assert "AllowUnencrypted" not in path.read_text()
    assert "AuthBasic" not in path.read_text()

    before = os.stat(path)
    text = path.read_text()
    cp = qc("qc", "-config:" + str(path))  # no -q: nothing to ask either
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == RUNNING + ALREADY
    after = os.stat(path)
    assert path.read_text() == text
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def run_pty(args, answer):
    """winrm with a terminal for stdin/stdout; answer typed at the prompt."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.pop("SYSTEMCTL", None)
        os.execv(WINRM, [WINRM, *args])
    out = b""
    sent = False
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"Make these changes [y/n]? " in out:
            os.write(fd, answer.encode() + b"\n")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode().replace("\r\n", "\n")


def test_prompt_no_then_yes(tmp_path):
    path = tmp_path / "wsmd.conf"
    path.write_text("# no Listen line: the embedded default\n")
    port = free_port()
    rc, out = run_pty(["qc", "-c", str(path), f"-port:{port}"], "n")
    assert rc == 1
    assert "\nMake these changes [y/n]? " in out
    assert UPDATED not in out
    assert path.read_text() == "# no Listen line: the embedded default\n"
    rc, out = run_pty(["quickconfig", "-c", str(path), f"-port:{port}"], "y")
    assert rc == 0, out
    assert "systemd is not this system's service manager" in out
    assert NOT_SET_UP + CREATE.format(t="HTTP") in out
    assert UPDATED + CREATED.format(t="HTTP") in out
    assert "wsmd is not running: the listener opens when it starts." in out
    # Another port than the default's: the default loopback listener is
    # written out, so that what wsmd serves only grows.
    assert path.read_text() == ("# no Listen line: the embedded default\n"
                                "Listen = http://127.0.0.1:5985\n"
                                f"Listen = http://0.0.0.0:{port}\n")


def test_force_and_https_with_created_certificate(wsmd_factory, users_file, conf):
    path, port = conf
    start(wsmd_factory, users_file, path)
    sport = free_port()
    cp = qc("qc", "-transport:https", "-force", f"-port:{sport}", "-config:" + str(path))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    out = cp.stdout
    assert "Make these changes" not in out
    assert CREATE.format(t="HTTPS") in out and CREATED.format(t="HTTPS") in out
    cert = path.parent / "quickconfig-cert.pem"
    key = path.parent / "quickconfig-key.pem"
    assert f"Created a self-signed certificate for {socket.gethostname()}" in out or \
        "Created a self-signed certificate for " in out
    assert str(cert) in out
    assert os.stat(key).st_mode & 0o777 == 0o600
    tp = [ln.split(": ", 1)[1] for ln in out.splitlines()
          if ln.startswith("CertificateThumbprint (SHA-1): ")][0]
    text = path.read_text()
    assert f"CertificateFile = {cert}\n" in text and f"KeyFile = {key}\n" in text
    assert f"Listen = https://0.0.0.0:{sport}\n" in text
    assert f"Listen = http://127.0.0.1:{port}" in text  # the http listener stays
    # The certificate served is the one made, by its thumbprint.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", sport), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            der = t.getpeercert(binary_form=True)
    assert hashlib.sha1(der).hexdigest().upper() == tp
    curl_identify(f"https://127.0.0.1:{sport}/wsman", "-k")
    curl_identify(f"http://127.0.0.1:{port}/wsman")
    # Again: nothing to change, the certificate not made twice.
    cp = qc("qc", "-transport:https", "-q", "-config:" + str(path))
    assert cp.stdout == RUNNING + ALREADY, cp.stdout + cp.stderr
    assert path.read_text() == text


def test_non_admin_is_refused(tmp_path):
    path = tmp_path / "wsmd.conf"
    path.write_text("LogLevel = info\n")
    os.chmod(tmp_path, 0o755)
    cp = qc("qc", "-q", "-config:" + str(path), user="nobody")
    assert cp.returncode == 1
    assert "Access is denied. winrm quickconfig changes wsmd's configuration on this machine: " \
           "run it as root or as a member of the group wsmd-admins." in cp.stderr
    assert "0x80070005" in cp.stderr
    assert path.read_text() == "LogLevel = info\n"


def test_usage_errors(tmp_path):
    cp = qc("qc", "-transport:ftp")
    assert cp.returncode == 2 and "-transport: is http or https, not ftp" in cp.stderr
    cp = qc("qc", "-certificate:/x")
    assert cp.returncode == 2
    cp = qc("qc", "-q", "-config:" + str(tmp_path / "none.conf"))
    assert cp.returncode == 1 and "cannot find wsmd's configuration file" in cp.stderr
    cp = qc("help", "quickconfig")
    assert cp.returncode == 0 and "Make these changes [y/n]?" in cp.stdout
    assert qc("qc", "-?").stdout == cp.stdout


def test_systemctl_path(wsmd_factory, users_file, conf, tmp_path):
    """The service stage through SYSTEMCTL (a script): disabled and
    inactive at first, enabled and started, then reloaded."""
    path, port = conf
    d = start(wsmd_factory, users_file, path)
    state = tmp_path / "unit"
    state.mkdir()
    script = tmp_path / "systemctl"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {state}/calls
case "$1" in
is-enabled) test -f {state}/enabled ;;
is-active) test -f {state}/active ;;
enable) touch {state}/enabled ;;
start) touch {state}/active ;;
reload) kill -HUP {d.pid} ;;
*) exit 1 ;;
esac
""")
    os.chmod(script, 0o755)
    env = {"SYSTEMCTL": str(script)}
    cp = qc("qc", "-q", "-config:" + str(path), env=env)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert cp.stdout.startswith(
        "WinRM is not set up to receive requests on this machine.\n"
        "The following changes must be made:\n\n"
        "Start the WinRM service.\n"
        "Set the WinRM service type to delayed auto start.\n"), cp.stdout
    assert ("\nWinRM has been updated to receive requests.\n\n"
            "WinRM service type changed successfully.\n"
            "WinRM service started.\n") in cp.stdout
    assert CREATED.format(t="HTTP") in cp.stdout
    calls = (state / "calls").read_text().split("\n")
    for c in ("enable wsmd.service", "start wsmd.service", "reload wsmd.service"):
        assert c in calls, calls
    assert listening_any(port)
    curl_identify(f"http://127.0.0.1:{port}/wsman")
    cp = qc("qc", "-q", "-config:" + str(path), env=env)
    assert cp.stdout == RUNNING + ALREADY


def test_given_certificate_is_used(wsmd_factory, users_file, conf, tmp_path):
    path, port = conf
    start(wsmd_factory, users_file, path)
    cert, key = tmp_path / "given.pem", tmp_path / "given.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha1", "-in", str(cert)],
                        check=True, capture_output=True, text=True).stdout
    want = fp.strip().split("=", 1)[1].replace(":", "").upper()
    sport = free_port()
    cp = qc("qc", "-q", "-transport:https", f"-port:{sport}", f"-certificate:{cert}",
            f"-key:{key}", "-config:" + str(path))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"Use the certificate {cert} (key {key}).\n" in cp.stdout
    assert f"CertificateThumbprint (SHA-1): {want}\n" in cp.stdout
    assert "Created a self-signed certificate" not in cp.stdout
    assert not (path.parent / "quickconfig-cert.pem").exists()
    text = path.read_text()
    assert f"CertificateFile = {cert}\n" in text and f"KeyFile = {key}\n" in text
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", sport), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            assert hashlib.sha1(t.getpeercert(binary_form=True)).hexdigest().upper() == want


def test_port_of_the_other_transport_is_refused(tmp_path):
    path = tmp_path / "wsmd.conf"
    text = "Listen = https://127.0.0.1:5986\n"
    path.write_text(text)
    cp = qc("qc", "-q", "-port:5986", "-config:" + str(path))
    assert cp.returncode == 1
    assert ("port 5986 is already used by the listener https://127.0.0.1:5986; choose another "
            "with -port:") in cp.stderr
    assert UPDATED not in cp.stdout
    assert path.read_text() == text


def test_firewall_is_named_not_changed(tmp_path):
    """A fake ufw that says it is active: quickconfig names the command
    that opens the port and runs nothing else of ufw's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ufw = bin_dir / "ufw"
    ufw.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/ufw-calls\necho 'Status: active'\n")
    os.chmod(ufw, 0o755)
    path = tmp_path / "wsmd.conf"
    path.write_text("")
    port = free_port()
    cp = qc("qc", "-q", f"-port:{port}", "-config:" + str(path),
            env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert cp.returncode == 0, cp.stderr
    assert (f"A firewall is active (ufw): to let WinRM requests in, run: ufw allow {port}/tcp\n"
            in cp.stdout)
    assert (tmp_path / "ufw-calls").read_text() == "status\n"


def test_every_narrower_listener_of_the_port_is_replaced(wsmd_factory, users_file, tmp_path):
    port = free_port()
    path = tmp_path / "wsmd.conf"
    path.write_text(f"Listen = http://127.0.0.1:{port}\n"
                    f"listen=http://127.0.0.2:{port}/wsman # the second\n"
                    "Listen = http://[::1]:0\n")
    d = start(wsmd_factory, users_file, path)
    cp = qc("qc", "-q", "-config:" + str(path))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert (f"in place of Listen = http://127.0.0.1:{port}, in place of Listen = "
            f"http://127.0.0.2:{port}/wsman") in cp.stdout
    # IPv6 sockets are IPv6-only: the [::1] one stays.
    assert path.read_text() == f"Listen = http://[::1]:0\nListen = http://0.0.0.0:{port}\n"
    assert listening_any(port)
    curl_identify(f"http://127.0.0.2:{port}/wsman")
    assert d.log().count("by=reload") == 3, d.log()  # two closed, one opened
