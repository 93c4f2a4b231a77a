"""The first hour (issue 13, item 6): what a new administrator meets, by
its exact text -- config errors, a busy port, `wsmd user`, the password
prompt (through a pty), the log's reasons and levels, journald, typed
-format:json, the messages that point to the fix, and `make run PORT=`."""

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, run_cli, user_add, wsmd_bin
from test_https import make_cert, start_tls
from wsman_helpers import PASSWORD, USER

WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")
WINRS_BIN = os.environ.get("WINRS_BIN") or str(REPO_ROOT / "build" / "winrs")
IS_ROOT = os.geteuid() == 0


def tool(path):
    if not os.access(path, os.X_OK):
        pytest.skip(f"not built: {path}")
    return path


def refused_config(tmp_path, text, *extra):
    conf = tmp_path / "wsmd.conf"
    conf.write_text(text)
    cp = subprocess.run([wsmd_bin(), "-c", str(conf), *extra], capture_output=True, text=True,
                        timeout=20, stdin=subprocess.DEVNULL)
    assert cp.returncode != 0 and "listening on" not in cp.stderr, cp
    return cp.stderr, str(conf)


# ---- configuration errors ------------------------------------------------

def test_config_unknown_key_names_line_and_key(tmp_path):
    err, conf = refused_config(tmp_path, "# a comment\nListen = http://127.0.0.1:0\n"
                               "MaxShelsPerUser = 5\n")
    assert f'wsmd: {conf}:3: unknown key "MaxShelsPerUser"\n' in err, err


def test_config_bad_value_names_line_key_and_value(tmp_path):
    err, conf = refused_config(tmp_path, "Listen = http://127.0.0.1:0\n\n"
                               "MaxShellsPerUser = lots\n")
    assert f'wsmd: {conf}:3: bad value for MaxShellsPerUser: "lots"\n' in err, err
    err, conf = refused_config(tmp_path, "LogLevel = loud\n")
    assert f'wsmd: {conf}:1: bad value for LogLevel: "loud"\n' in err, err


def test_config_line_without_equals(tmp_path):
    err, conf = refused_config(tmp_path, "Listen http://127.0.0.1:0\n")
    assert f'wsmd: {conf}:1: expected "Key = value", not "Listen http://127.0.0.1:0"\n' in err


# ---- a busy port -----------------------------------------------------------

@pytest.mark.parametrize("privsep", ["yes", "no"])
def test_busy_port_names_the_address(tmp_path, users_file, privsep):
    if privsep == "yes" and not IS_ROOT:
        pytest.skip("privilege separation is root's")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        err, _ = refused_config(tmp_path, f"PrivilegeSeparation = {privsep}\n",
                                "--listen", f"http://127.0.0.1:{port}",
                                "--users", str(users_file))
    finally:
        s.close()
    assert f"wsmd: cannot listen on 127.0.0.1:{port}: address in use\n" in err, err


# ---- wsmd user -------------------------------------------------------------

def test_user_add_confirms_and_refuses_to_overwrite(tmp_path):
    users = tmp_path / "users"
    cp = user_add(users, "bob", "bob-pw-1")
    assert cp.stdout == f"added user bob to {users}\n", cp
    cp = run_cli(["user", "add", "bob", "--users", str(users)], input_text="other-pw\n")
    assert cp.returncode == 1, cp
    assert cp.stderr == (f"wsmd: user bob is already in {users} (to change the password: "
                         f"wsmd user add bob --users {users} --force)\n"), cp
    before = users.read_bytes()
    cp = user_add(users, "bob", "bob-pw-2", force=True)
    assert cp.stdout == f"added user bob to {users}\n"
    assert users.read_bytes() != before
    cp = run_cli(["user", "del", "bob", "--users", str(users)])
    assert cp.returncode == 0 and cp.stdout == f"removed user bob from {users}\n", cp


@pytest.mark.parametrize("verb", [["list"], ["del", "bob"]])
def test_user_commands_say_the_file_is_missing(tmp_path, verb):
    users = tmp_path / "nope" / "users"
    cp = run_cli(["user", *verb, "--users", str(users)])
    assert cp.returncode == 1, cp
    assert cp.stderr == (f"wsmd: the user file {users} does not exist (create it with: "
                         f"wsmd user add NAME --users {users})\n"), cp


def test_daemon_says_the_user_file_is_missing(tmp_path, wsmd_factory):
    users = tmp_path / "missing-users"
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users))
    assert (f'event=notice message="the user file {users} does not exist: no password login '
            f'works until a user is added (wsmd user add NAME --users {users})"') in d.log()


@pytest.mark.skipif(not IS_ROOT, reason="the note is for wsmd run as root")
def test_user_add_notes_a_missing_local_account(tmp_path):
    users = tmp_path / "users"
    cp = user_add(users, "nolocal-fh1", "pw-123")
    assert cp.stderr == ("wsmd: note: nolocal-fh1 is not a local account: wsmd run as root runs "
                         "its commands as the account of that name (create it: useradd -m "
                         "nolocal-fh1)\n"), cp


class Pty:
    """A program on a pseudo-terminal: what it writes, and what we type."""

    def __init__(self, argv, env=None):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its controlling terminal is the pty
            try:
                os.execve(argv[0], argv, env or os.environ)
            finally:
                os._exit(127)
        self.out = b""

    def expect(self, text, timeout=15):
        deadline = time.monotonic() + timeout
        while text not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not seen; got {self.out!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{text!r} not seen before EOF; got {self.out!r}")
                self.out += chunk

    def type(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def finish(self, timeout=30):
        """Reads to the end; the exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                self.out += chunk
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            os.kill(self.pid, signal.SIGKILL)  # still waiting: a failure, not a hang
            _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_user_add_on_a_terminal_asks_twice(tmp_path):
    users = tmp_path / "users"
    p = Pty([wsmd_bin(), "user", "add", "carol", "--users", str(users)])
    p.expect(b"Password: ")
    p.type("carol-pw-1")
    p.expect(b"Retype password: ")
    p.type("carol-pw-1")
    assert p.finish() == 0, p.out
    assert b"carol-pw-1" not in p.out, p.out  # no echo
    assert f"added user carol to {users}".encode() in p.out
    # A mismatch changes nothing.
    p = Pty([wsmd_bin(), "user", "add", "dave", "--users", str(users)])
    p.expect(b"Password: ")
    p.type("dave-pw-1")
    p.expect(b"Retype password: ")
    p.type("dave-pw-2")
    assert p.finish() == 1, p.out
    assert b"wsmd: the passwords do not match; nothing changed" in p.out
    assert run_cli(["user", "list", "--users", str(users)]).stdout == "carol\n"


# ---- the password prompt of winrm and winrs -----------------------------

def test_winrm_prompts_for_the_password_without_echo(wsmd):
    url = f"http://127.0.0.1:{wsmd.port}/wsman"
    p = Pty([tool(WINRM_BIN), "id", f"-r:{url}", f"-u:{USER}"],
            env={k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"})
    p.expect(f"Password for {USER} at {url}: ".encode())
    p.type(PASSWORD)
    assert p.finish() == 0, p.out
    assert b"IdentifyResponse" in p.out, p.out
    assert PASSWORD.encode() not in p.out, p.out


def test_ctrl_c_at_the_prompt_restores_echo(wsmd):
    import termios
    url = f"http://127.0.0.1:{wsmd.port}/wsman"
    p = Pty([tool(WINRM_BIN), "id", f"-r:{url}", f"-u:{USER}"],
            env={k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"})
    p.expect(b"Password for ")
    assert not termios.tcgetattr(p.fd)[3] & termios.ECHO  # off while asking
    os.write(p.fd, b"\x03")
    _, status = os.waitpid(p.pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT, status
    assert termios.tcgetattr(p.fd)[3] & termios.ECHO  # put back
    os.close(p.fd)


def test_winrs_prompts_and_a_wrong_password_fails(wsmd):
    url = f"http://127.0.0.1:{wsmd.port}"
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    p = Pty([tool(WINRS_BIN), f"-r:{url}", f"-u:{USER}", "true"], env=env)
    p.expect(f"Password for {USER} at {url}/wsman: ".encode())
    p.type("not-the-password")
    assert p.finish() != 0, p.out
    assert b"not-the-password" not in p.out
    assert "user=alice action=- resource=- status=401" in wsmd.log()


@pytest.mark.parametrize("how", ["-p", "env", "kerberos", "no-tty"])
def test_no_prompt_when_not_needed(wsmd, how):
    url = f"http://127.0.0.1:{wsmd.port}/wsman"
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    argv = [tool(WINRM_BIN), "id", f"-r:{url}", f"-u:{USER}"]
    if how == "-p":
        argv.append(f"-p:{PASSWORD}")
    elif how == "env":
        env["WSM_PASSWORD"] = PASSWORD
    elif how == "kerberos":
        argv.append("-a:kerberos")
        env["KRB5CCNAME"] = f"FILE:{wsmd.workdir}/no-ccache"
    if how == "no-tty":
        # No controlling terminal and stdin not one: the usual message.
        cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20,
                            stdin=subprocess.DEVNULL, start_new_session=True)
        assert cp.returncode == 2, cp
        assert "Basic authentication needs -u: and -p: (or WSM_PASSWORD)" in cp.stderr, cp
        assert "Password for" not in cp.stderr
        return
    p = Pty(argv, env=env)
    rc = p.finish()
    assert b"Password for" not in p.out, p.out
    if how == "kerberos":
        assert rc == 1
        assert b"(no Kerberos ticket: run kinit alice first)" in p.out, p.out
    else:
        assert rc == 0 and b"IdentifyResponse" in p.out, p.out


def test_kerberos_without_a_ticket_says_kinit(wsmd):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    env["KRB5CCNAME"] = f"FILE:{wsmd.workdir}/no-ccache"
    cp = subprocess.run([tool(WINRM_BIN), "id", f"-r:http://127.0.0.1:{wsmd.port}/wsman",
                         "-a:kerberos"], env=env, capture_output=True, text=True, timeout=20,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode == 1, cp
    assert "Message = Access is denied. (" in cp.stderr, cp
    assert cp.stderr.rstrip().endswith("(no Kerberos ticket: run kinit first))"), cp


# ---- the log says why ------------------------------------------------------

def winrm(d, *words, user=USER, password=PASSWORD, fmt=None):
    argv = [tool(WINRM_BIN), *words, f"-r:http://127.0.0.1:{d.port}/wsman", f"-u:{user}",
            f"-p:{password}"]
    if fmt:
        argv.append(f"-format:{fmt}")
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_log_names_the_tried_user_scheme_and_reasons(wsmd):
    winrm(wsmd, "id", password="wrong-pw-9")
    log = wsmd.log()
    assert "event=auth-failure user=alice address=127.0.0.1 scheme=Basic reason=bad-password" \
        in log, log
    assert re.search(r"peer=127\.0\.0\.1:\d+ user=alice action=- resource=- status=401 us=\d+ "
                     r'scheme=Basic reason="bad-password"\n', log), log
    assert "wrong-pw-9" not in log
    # No credentials at all.
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", wsmd.port, timeout=10)
    c.request("POST", "/wsman", body=b"x", headers={"Content-Type": "application/soap+xml"})
    assert c.getresponse().status == 401
    c.close()
    deadline = time.monotonic() + 5
    while 'scheme=- reason="no-credentials"' not in wsmd.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert re.search(r'user=- action=- resource=- status=401 us=\d+ scheme=- '
                     r'reason="no-credentials"', wsmd.log()), wsmd.log()
    # A fault: its own text.
    cp = winrm(wsmd, "get", "wmicimv2/Win32_NoSuchClass")
    assert cp.returncode == 1
    assert re.search(r"user=alice action=http://schemas.xmlsoap.org/ws/2004/09/transfer/Get "
                     r"resource=\S+Win32_NoSuchClass status=(400|500) us=\d+ scheme=Basic "
                     r'reason="[^"]+"', wsmd.log()), wsmd.log()


class Plain:
    """A wsmd on a known port, not waiting for its "listening on" line
    (LogLevel = error leaves it out)."""

    def __init__(self, tmp_path, *args):
        self.port = free_port()
        self.err = tmp_path / "plain.stderr"
        with open(self.err, "wb") as f:
            self.p = subprocess.Popen([wsmd_bin(), *args, "--listen",
                                       f"http://127.0.0.1:{self.port}"], stderr=f,
                                      stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.p.poll() is None and time.monotonic() < deadline, self.log()
                time.sleep(0.02)

    def log(self):
        return self.err.read_text(errors="replace")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        assert self.p.wait(15) == 0, self.log()


@pytest.mark.parametrize("level", ["error", "warning", "info", "debug"])
def test_log_level(tmp_path, users_file, level):
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"LogLevel = {level}\n")
    d = Plain(tmp_path, "-c", str(conf), "--users", str(users_file), "--allow", "all @alice")
    try:
        winrm(d, "id", password="wrong")
        assert winrm(d, "id").returncode == 0
    finally:
        d.stop()
    log = d.log()
    # "listening on" is a notice: shown from warning on.
    assert ("listening on http://127.0.0.1:" in log) == (level != "error"), log
    # A failure is a warning; a request line information.
    assert ("event=auth-failure user=alice" in log) == (level != "error"), log
    assert ("action=Identify resource=- status=200" in log) == (level in ("info", "debug")), log
    assert ("event=request-start peer=127.0.0.1:" in log) == (level == "debug"), log


def test_journald_when_journal_stream_is_stderr(tmp_path, users_file):
    """JOURNAL_STREAM naming wsmd's stderr: lines go to journald's socket
    with PRIORITY=, none to stderr. The socket is a fake one in a mount
    namespace of its own (unshare), so no journald is needed."""
    if not IS_ROOT or not Path("/usr/bin/unshare").exists():
        pytest.skip("needs root and unshare for a private /run")
    helper = tmp_path / "fakejournal.py"
    out = tmp_path / "journal.txt"
    helper.write_text(f"""
import os, socket, subprocess, sys, time, signal
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run/systemd"] if os.path.isdir("/run/systemd")
               else ["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
os.makedirs("/run/systemd/journal", exist_ok=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
os.chmod("/run/systemd/journal/socket", 0o666)  # as journald's: the network process writes too
err = open({str(tmp_path / 'stderr.txt')!r}, "wb")
st = os.fstat(err.fileno())
env = dict(os.environ, JOURNAL_STREAM=f"{{st.st_dev}}:{{st.st_ino}}")
p = subprocess.Popen([{wsmd_bin()!r}, "--listen", "http://127.0.0.1:0", "--users",
                      {str(users_file)!r}, "--allow", "all @alice"], stderr=err, env=env,
                     stdin=subprocess.DEVNULL)
got = b""
s.settimeout(0.2)
deadline = time.monotonic() + 15
while b"listening on" not in got and time.monotonic() < deadline:
    try:
        got += s.recv(65536) + b"\\n--\\n"
    except socket.timeout:
        pass
p.send_signal(signal.SIGTERM)
p.wait(10)
while True:
    try:
        got += s.recv(65536) + b"\\n--\\n"
    except socket.timeout:
        break
open({str(out)!r}, "wb").write(got)
""")
    cp = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                         str(helper)], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp
    got = out.read_bytes().decode(errors="replace")
    assert "MESSAGE=listening on http://127.0.0.1:" in got, got
    assert "PRIORITY=6\nSYSLOG_IDENTIFIER=wsmd" in got, got
    assert "MESSAGE=event=stop signal=15" in got
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "listening on" not in stderr, stderr


# ---- -format:json ------------------------------------------------------------

def test_json_has_typed_values(wsmd_factory, users_file):
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))
    cp = winrm(d, "get", "wmicimv2/Win32_OperatingSystem", fmt="json")
    assert cp.returncode == 0, cp
    os_ = json.loads(cp.stdout)["Win32_OperatingSystem"]
    assert isinstance(os_["OSType"], int) and os_["OSType"] == 36, os_  # uint16
    assert isinstance(os_["NumberOfProcesses"], int), os_                # uint32
    assert os_["Primary"] is True, os_                                    # boolean
    assert isinstance(os_["BuildNumber"], str), os_                      # a string of digits
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", os_["LastBootUpTime"]), os_
    cp = winrm(d, "e", "wmicimv2/Win32_NetworkAdapterConfiguration", fmt="json")
    items = [i["Win32_NetworkAdapterConfiguration"] for i in json.loads(cp.stdout)]
    lo = next(i for i in items if i["Description"] == "lo")
    assert lo["IPAddress"][0] == "127.0.0.1" and isinstance(lo["IPAddress"], list), lo
    assert lo["IPEnabled"] is True and isinstance(lo["MTU"], int), lo
    cp = winrm(d, "get", "winrm/config/service", fmt="json")
    assert "@lang" not in cp.stdout, cp.stdout
    svc = json.loads(cp.stdout)["Service"]
    assert svc["AllowUnencrypted"] is False and svc["Auth"]["Basic"] is True, svc
    assert isinstance(svc["MaxConnections"], int), svc
    assert svc["DefaultPorts"]["HTTP"] == 5985, svc


# ---- messages that point to the fix ----------------------------------------

def test_untrusted_certificate_says_cacert_or_skipcacheck(tmp_path, wsmd_factory, users_file):
    c = make_cert(tmp_path / "tls")
    d = start_tls(wsmd_factory, users_file, c)
    cp = subprocess.run([tool(WINRM_BIN), "id", f"-r:{d.https_url}", f"-u:{USER}",
                         f"-p:{PASSWORD}"], capture_output=True, text=True, timeout=30,
                        stdin=subprocess.DEVNULL, env=dict(os.environ, SSL_CERT_FILE="/dev/null"))
    assert cp.returncode == 1, cp
    assert ("is not trusted (its issuer is not a trusted CA)" in cp.stderr and
            "; to trust its CA: -cacert:CA.pem, or to skip this check: -skipCAcheck)" in
            cp.stderr), cp
    ok = subprocess.run([tool(WINRM_BIN), "id", f"-r:{d.https_url}", f"-u:{USER}",
                         f"-p:{PASSWORD}", f"-cacert:{c.cert}"], capture_output=True, text=True,
                        timeout=30, stdin=subprocess.DEVNULL)
    assert ok.returncode == 0, ok


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd runs here")
def test_service_fault_says_systemd_is_not_running(wsmd_factory, users_file):
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))
    cp = winrm(d, "get", "wmicimv2/Win32_Service?Name=cron")
    assert cp.returncode == 1, cp
    text = ("Services are managed through systemd, and systemd is not running on this host "
            "(PID 1 is not systemd): wsmd cannot read or change services here.")
    assert f"Message = {text}" in cp.stderr, cp
    assert f'status=500 us=' in d.log() and f'reason="{text}"' in d.log()


@pytest.mark.skipif(not IS_ROOT, reason="as root only: commands run as the user's account")
def test_root_user_without_local_account_is_told_useradd(tmp_path, wsmd_factory):
    users = tmp_path / "users"
    user_add(users, "nolocal-fh2", "pw-nolocal-2")
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users),
                     "--allow", "all @nolocal-fh2")
    cp = subprocess.run([tool(WINRS_BIN), f"-r:http://127.0.0.1:{d.port}", "-u:nolocal-fh2",
                         "-p:pw-nolocal-2", "true"], capture_output=True, text=True, timeout=30,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode != 0, cp
    text = ("The user has no local account to run commands as: wsmd runs as root and runs a "
            "user's commands as the local account of the same name; create it (useradd -m "
            "NAME).")
    assert text in cp.stderr, cp
    assert ('event=shell-refused user=nolocal-fh2 reason="not a local account" '
            'fix="useradd -m nolocal-fh2"') in d.log()
    # Without an Allow line naming it, the default rights are the groups'.
    d2 = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users), grant=False)
    cp = winrm(d2, "e", "wmicimv2/Win32_Process", user="nolocal-fh2", password="pw-nolocal-2")
    assert ("Access is denied: the user is not a local account. wsmd runs as root and acts as "
            "the local account of the same name: create it (useradd -m NAME) or use an existing "
            "account's name in the user file.") in cp.stderr, cp
    assert ('event=access-denied user=nolocal-fh2 family=- right=any reason="not a local '
            'account" fix="useradd -m nolocal-fh2"') in d2.log()


# ---- make run PORT= ------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("users_there", [False, True])
def test_make_run_takes_port(tmp_path, users_there):
    if not (REPO_ROOT / "build" / "build.ninja").exists():
        pytest.skip("make run builds build/: not set up here")
    port = free_port()
    users = tmp_path / "users"
    if users_there:
        user_add(users, "nolocal-fh3", "pw-nolocal-3")
    env = dict(os.environ, HOME=str(tmp_path), WSMD_USERS=str(users))
    p = subprocess.Popen(["make", "-s", "run", f"PORT={port}"], cwd=str(REPO_ROOT), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    out = b""
    try:
        deadline = time.monotonic() + 120  # make may have to build first
        want = f"listening on http://127.0.0.1:{port}/wsman".encode()
        os.set_blocking(p.stdout.fileno(), False)
        while want not in out:
            assert time.monotonic() < deadline and p.poll() is None, out.decode()
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                out += p.stdout.read() or b""
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(20)
    text = out.decode()
    if users_there:
        assert "No users yet" not in text
        if IS_ROOT:
            assert ("Note: nolocal-fh3 is not a local account, so it cannot open shells here: "
                    "make user NAME=nolocal-fh3\n") in text, text
    elif IS_ROOT:
        assert "  make user NAME=alice\n" in text, text
        assert f"  build/winrs -r:http://127.0.0.1:{port} -u:alice uname -a" in text, text
    else:
        assert f"  build/winrm id -r:http://127.0.0.1:{port}/wsman -u:" in text, text


def test_make_run_rejects_a_bad_port(tmp_path):
    cp = subprocess.run(["tools/make-run"], cwd=str(REPO_ROOT), capture_output=True, text=True,
                        env=dict(os.environ, PORT="http", HOME=str(tmp_path)), timeout=20)
    assert cp.returncode == 2 and cp.stderr == "make run: PORT=http is not a port number\n", cp


@pytest.mark.skipif(not IS_ROOT, reason="creates a local account")
def test_make_user_creates_the_account(tmp_path):
    if not (REPO_ROOT / "build" / "wsmd").exists():
        pytest.skip("tools/make-user runs build/wsmd")
    name = "fhmake1"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    users = tmp_path / "users"
    env = dict(os.environ, WSMD_USERS=str(users))
    try:
        cp = subprocess.run(["tools/make-user", name], cwd=str(REPO_ROOT), input="fh-pw-1\n",
                            env=env, capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp
        assert f"+ useradd -m -G wsmd-admins {name}\n" in cp.stdout, cp
        assert cp.stdout.endswith(f"added user {name} to {users}\n"), cp
        groups = subprocess.run(["id", "-nG", name], capture_output=True, text=True).stdout
        assert "wsmd-admins" in groups.split(), groups
        # Again: a new password, the account as it is.
        cp = subprocess.run(["tools/make-user", name], cwd=str(REPO_ROOT), input="fh-pw-2\n",
                            env=env, capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0 and "useradd" not in cp.stdout, cp
        assert cp.stdout == f"added user {name} to {users}\n", cp
    finally:
        subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.mark.skipif(not IS_ROOT, reason="makes a normal user to run it as")
def test_quick_start_as_a_normal_user(tmp_path):
    """make user, then make run PORT=, then winrm with that user, as a
    normal account: wsmd runs as that account and the user is its own."""
    if not (REPO_ROOT / "build" / "wsmd").exists():
        pytest.skip("tools/make-run runs build/wsmd")
    name = "fhnormal2"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "-m", name], check=True, capture_output=True)
    port = free_port()

    def su(cmd, **kw):
        return subprocess.Popen(["su", name, "-s", "/bin/sh", "-c", f"cd {REPO_ROOT} && {cmd}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, **kw)
    p = None
    try:
        if su("test -x tools/make-run").wait(20) != 0:
            pytest.skip("the checkout is not readable by a normal user")
        add = su("tools/make-user")
        out = add.communicate(b"np-pw-1\n", timeout=30)[0].decode()
        assert add.returncode == 0, out
        assert out == f"added user {name} to /home/{name}/.config/wsmd/users\n", out
        p = su(f"PORT={port} exec tools/make-run", start_new_session=True)
        got, deadline = b"", time.monotonic() + 30
        os.set_blocking(p.stdout.fileno(), False)
        while f"listening on http://127.0.0.1:{port}/wsman".encode() not in got:
            assert time.monotonic() < deadline and p.poll() is None, got
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                got += p.stdout.read() or b""
        cp = subprocess.run([tool(WINRS_BIN), f"-r:http://127.0.0.1:{port}", f"-u:{name}",
                             "-p:np-pw-1", "id -un"], capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
        assert cp.returncode == 0 and cp.stdout == f"{name}\n", cp
    finally:
        if p:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(20)
        subprocess.run(["userdel", "-r", name], capture_output=True)
