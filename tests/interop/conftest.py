"""Fixtures for the wsmd interop tests.

The daemon binary is $WSMD_BIN, default <repo>/build/wsmd.
"""

import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from wsman_helpers import PASSWORD, USER  # noqa: E402

REPO_ROOT = HERE.parents[1]
WSMD_BIN = os.environ.get("WSMD_BIN") or str(REPO_ROOT / "build" / "wsmd")

# As root, wsmd authorizes by local group (docs/internals/authz.md): the
# shell accounts are made members of wsmd-admins (shell_accounts), while
# alice and bob are user-file users without a local account, who hold no
# right unless an Allow line names them. So every daemon the tests start
# as root is given, as an administrator would write them, the Allow lines
# of the defaults' admin group and of those two users -- unless started
# with grant=False (test_authz.py, which tests the policy itself).
ADMIN_GROUP = "wsmd-admins"
TEST_ALLOW = ("--allow", f"all {ADMIN_GROUP}", "--allow", f"all @{USER} @bob")

LISTEN_RE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/wsman)")
NETWORK_RE = re.compile(r"event=privsep role=network pid=(\d+)")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def wsmd_bin():
    if not (os.path.isfile(WSMD_BIN) and os.access(WSMD_BIN, os.X_OK)):
        pytest.skip(f"wsmd binary not built: {WSMD_BIN}")
    return WSMD_BIN


def run_cli(args, input_text=None, timeout=20):
    """Run `wsmd ARGS...` and return the CompletedProcess."""
    return subprocess.run([wsmd_bin(), *args], input=input_text,
                          capture_output=True, text=True, timeout=timeout)


def user_add(users_file, name, password, force=False):
    cp = run_cli(["user", "add", name, "--users", str(users_file),
                  *(["--force"] if force else [])],
                 input_text=password + "\n")
    assert cp.returncode == 0, (
        f"`wsmd user add {name}` failed rc={cp.returncode}\n"
        f"stdout={cp.stdout!r}\nstderr={cp.stderr!r}")
    return cp


class Daemon:
    """A running wsmd. stderr goes to a file so it can never block the daemon."""

    def __init__(self, args, workdir, grant=True):
        if grant and os.geteuid() == 0:
            args = [*args, *TEST_ALLOW]
        self.args = [wsmd_bin(), *args]
        self.workdir = Path(workdir)
        self.stderr_path = self.workdir / "wsmd.stderr"
        self.stdout_path = self.workdir / "wsmd.stdout"
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     cwd=str(self.workdir))
        self.pid = self.proc.pid
        self.url = None
        self.port = None
        self.stopped = False
        self._wait_listening()

    def log(self):
        """stderr written so far."""
        return self.stderr_path.read_text(errors="replace")

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.log())
            if m:
                self.url = m.group(1)
                self.port = int(m.group(2))
                assert self.port != 0, f"daemon reported port 0:\n{self.log()}"
                return
            if self.proc.poll() is not None:
                self._close_files()
                pytest.fail(
                    f"wsmd exited (rc={self.proc.returncode}) before listening; "
                    f"args={self.args}\nstderr:\n{self.log()}")
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        self._close_files()
        pytest.fail(f"wsmd did not print 'listening on ...' within "
                    f"{START_TIMEOUT}s; args={self.args}\nstderr:\n{self.log()}")

    def alive(self):
        return self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), (
            f"wsmd died (rc={self.proc.returncode})\nstderr:\n{self.log()}")

    @property
    def work_pid(self):
        """The process that serves requests: under privilege separation
        (wsmd run as root) the unprivileged network process, whose memory
        and fds are the ones that grow; else the daemon itself."""
        found = NETWORK_RE.findall(self.log())
        return int(found[-1]) if found else self.pid

    def rss_kb(self):
        self.assert_alive()
        from wsman_helpers import rss_kb
        return rss_kb(self.work_pid)

    def _close_files(self):
        for f in (self._err, self._out):
            try:
                f.close()
            except OSError:
                pass

    def stop(self):
        """SIGTERM, wait, return (returncode, stderr)."""
        if self.stopped:
            return self.proc.returncode, self.log()
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                return None, self.log()
        self._close_files()
        return self.proc.returncode, self.log()


def _stop_and_check(d):
    was_alive = d.alive()
    rc, err = d.stop()
    if rc is None:
        pytest.fail(f"wsmd did not exit within {STOP_TIMEOUT}s of SIGTERM "
                    f"(killed)\nstderr:\n{err}")
    if rc != 0:
        how = "on SIGTERM" if was_alive else "before teardown (crashed?)"
        pytest.fail(f"wsmd exited with status {rc} {how}; args={d.args}\n"
                    f"stderr:\n{err}")


@pytest.fixture
def users_file(tmp_path):
    """A users file holding alice / alice-pw-1."""
    path = tmp_path / "users"
    user_add(path, USER, PASSWORD)
    return path


@pytest.fixture
def wsmd_factory(tmp_path):
    """Start daemons with arbitrary args; all are stopped and checked at teardown."""
    started = []

    def start(*args, grant=True):
        workdir = Path(tempfile.mkdtemp(prefix="wsmd-", dir=tmp_path))
        d = Daemon(list(args), workdir, grant=grant)
        started.append(d)
        return d

    yield start
    errors = []
    for d in started:
        try:
            _stop_and_check(d)
        except pytest.fail.Exception as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors))


@pytest.fixture
def wsmd(wsmd_factory, users_file):
    """wsmd on an ephemeral loopback port with the alice users file."""
    return wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))


@pytest.fixture(scope="module")
def legacy_env(tmp_path_factory):
    """The environment of a child client that needs MD4 (pywinrm's NTLM):
    child_client.openssl_legacy_env in a directory of the module's."""
    from child_client import openssl_legacy_env
    return openssl_legacy_env(tmp_path_factory.mktemp("openssl"))


def any_address_port(start):
    """Starts a wsmd (start() calls wsmd_factory with the arguments) that
    has a listener on 0.0.0.0 -- not loopback: Basic and plain bodies are
    refused there, as on any network address -- besides the 127.0.0.1 one
    wsmd_factory waits for; returns (daemon, the 0.0.0.0 listener's port).
    Skips where 0.0.0.0 cannot be bound."""
    try:
        d = start()
    except pytest.fail.Exception as e:
        if "cannot start listeners" in str(e):
            pytest.skip("cannot bind 0.0.0.0 here")
        raise
    m = re.search(r"listening on http://0\.0\.0\.0:(\d+)/wsman", d.log())
    assert m, d.log()
    return d, int(m.group(1))


# ---- remote shell (WinRS) fixtures: test_shell_pywinrm.py, test_shell_go.py ----

SHELL_ACCOUNTS = (("wsmdsh1", "Wsmdsh1-pw-4d1f"), ("wsmdsh2", "Wsmdsh2-pw-8b2e"))


def _account_exists(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


SHELL_ACCOUNTS_LOCK = os.path.join(tempfile.gettempdir(), "wsmd-shell-accounts.lock")


def _group_exists(name):
    import grp
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def run_admin(argv, done):
    """Runs a shadow-utils command (groupadd, usermod...) until done() is
    true: another process may hold /etc/passwd's or /etc/group's lock for a
    moment ("cannot lock ... try again later"). Returns the last result."""
    for _ in range(50):
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if cp.returncode == 0 or done():
            return cp
        if "lock" not in cp.stderr:
            return cp
        time.sleep(0.1)
    return cp


def ensure_group(name):
    """groupadd NAME unless it exists (root; a concurrent groupadd of the
    same name is fine: only the group's absence afterwards fails)."""
    if _group_exists(name):
        return
    cp = run_admin(["groupadd", name], lambda: _group_exists(name))
    if cp.returncode != 0 and not _group_exists(name):
        pytest.fail(f"groupadd {name} failed rc={cp.returncode}: {cp.stderr}")


def add_to_group(user, group):
    import grp
    import pwd
    pw = pwd.getpwnam(user)
    g = grp.getgrnam(group)
    if pw.pw_gid == g.gr_gid or user in g.gr_mem:
        return
    cp = run_admin(["usermod", "-a", "-G", group, user], lambda: False)
    if cp.returncode != 0:
        pytest.fail(f"usermod -a -G {group} {user} failed rc={cp.returncode}: {cp.stderr}")


@pytest.fixture(scope="session")
def shell_accounts():
    """[(name, password), (name, password)] the shell tests authenticate as.

    As root, wsmd runs commands as the local account of the authenticated
    name, so both are made real local accounts for the session (useradd -m
    -s /bin/sh; an account left over from an aborted run is reused) and
    removed at the end (userdel -r). Not root, they are only user-file users
    and every command runs as the daemon's own account.

    Several pytest sessions may run at once (the names are fixed): each
    holds a shared flock on SHELL_ACCOUNTS_LOCK while it uses the accounts,
    creates them under the exclusive lock, and only the session that gets
    the exclusive lock at its end (nobody else uses them) deletes them.
    """
    accounts = list(SHELL_ACCOUNTS)
    if os.geteuid() != 0:
        yield accounts
        return
    import fcntl
    import shutil
    if not (shutil.which("useradd") and shutil.which("userdel")):
        pytest.skip("running as root but useradd/userdel are missing")
    lock = open(SHELL_ACCOUNTS_LOCK, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_group(ADMIN_GROUP)
        for name, _ in accounts:
            if not _account_exists(name):
                cp = subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-G", ADMIN_GROUP,
                                     name], capture_output=True, text=True, timeout=30)
                if cp.returncode != 0 and not _account_exists(name):
                    pytest.fail(f"useradd {name} failed rc={cp.returncode}: {cp.stderr}")
            # An account left over from an older run may lack the group.
            add_to_group(name, ADMIN_GROUP)
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield accounts
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # another session still uses them; the last one deletes
        problems = []
        for name, _ in accounts:
            if not _account_exists(name):
                continue
            cp = subprocess.run(["userdel", "-r", name], capture_output=True,
                                text=True, timeout=30)
            if cp.returncode != 0 and _account_exists(name):
                ps = subprocess.run(["ps", "-o", "pid,ppid,stat,args", "-u", name],
                                    capture_output=True, text=True).stdout
                # Left processes behind: still remove the account, then fail.
                subprocess.run(["userdel", "-r", "-f", name], capture_output=True,
                               timeout=30)
                problems.append(f"userdel -r {name} failed rc={cp.returncode}: "
                                f"{cp.stderr.strip()}\nprocesses of {name}:\n{ps}")
        if problems:
            pytest.fail("\n".join(problems))
    finally:
        lock.close()


@pytest.fixture(scope="session")
def shell_users_file(tmp_path_factory, shell_accounts):
    """A users file holding both shell accounts."""
    path = tmp_path_factory.mktemp("shell-users") / "users"
    for name, password in shell_accounts:
        user_add(path, name, password)
    return path


@pytest.fixture
def shell_wsmd(wsmd_factory, shell_users_file, shell_accounts):
    """wsmd on an ephemeral loopback port with the two shell accounts.

    d.user1/d.pw1 and d.user2/d.pw2 are the credentials. Teardown: SIGTERM,
    then wsmd_factory checks that the daemon exited with status 0 (more time
    is allowed under ASan).
    """
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(shell_users_file))
    (d.user1, d.pw1), (d.user2, d.pw2) = shell_accounts[:2]
    d.accounts = shell_accounts
    yield d
    if d.alive():
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(40 if os.environ.get("WSMD_SANITIZED") == "1" else STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return  # wsmd_factory's teardown kills it and reports the failure
    # UBSan reports and goes on (exit status 0): look at what it printed.
    log = d.log()
    bad = [ln for ln in log.splitlines()
           if "runtime error:" in ln or "Sanitizer" in ln]
    if bad:
        pytest.fail("sanitizer report in wsmd's stderr:\n" + "\n".join(bad[:20])
                    + "\n\nfull stderr (tail):\n" + log[-6000:])


# ---- CIM fixtures: test_cim.py, test_cim_wsl.py ----

CIM_USER2 = ("bob", "bob-pw-2")


def _check_sanitizer_log(d):
    """UBSan reports and goes on (exit status 0): look at what it printed."""
    log = d.log()
    bad = [ln for ln in log.splitlines() if "runtime error:" in ln or "Sanitizer" in ln]
    if bad:
        pytest.fail("sanitizer report in wsmd's stderr:\n" + "\n".join(bad[:20])
                    + "\n\nfull stderr (tail):\n" + log[-6000:])


@pytest.fixture(scope="module")
def cim_wsmd(tmp_path_factory):
    """One wsmd per test module for the CIM tests: loopback, ephemeral port,
    --synthetic 50 (WSMD_Synthetic has 50 instances), users alice (USER /
    PASSWORD) and bob (d.user2 / d.pw2), neither of them a local account.

    Teardown: SIGTERM, exit status 0 and no sanitizer report.
    """
    work = tmp_path_factory.mktemp("cim-wsmd")
    users = work / "users"
    user_add(users, USER, PASSWORD)
    user_add(users, *CIM_USER2)
    d = Daemon(["--listen", "http://127.0.0.1:0", "--users", str(users),
                "--synthetic", "50"], work)
    d.user2, d.pw2 = CIM_USER2
    d.users_file = users
    yield d
    if d.alive():
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(40 if os.environ.get("WSMD_SANITIZED") == "1" else STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass  # _stop_and_check kills it and reports the failure
    _stop_and_check(d)
    _check_sanitizer_log(d)


# ---- Kerberos: one throw-away MIT realm per session (kdc.py) ----

from kdc import kdc  # noqa: E402,F401  (the session fixture `kdc`)


@pytest.fixture
def pam_user():
    """A local account (random name, no home) with a password, for PAM mode
    (wsmd as root without --users); removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("PAM test needs root")
    if not os.path.exists("/etc/pam.d/wsmd"):
        pytest.skip("/etc/pam.d/wsmd not installed")
    name = "wsmdt" + secrets.token_hex(4)
    pw = "Pam-pw-" + secrets.token_hex(6)
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, timeout=30)
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{pw}\n", text=True,
                       check=True, capture_output=True, timeout=30)
        yield name, pw
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True, timeout=30)
