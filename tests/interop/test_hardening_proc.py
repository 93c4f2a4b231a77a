"""Quotas on processes that are real quotas (issue 14, findings 8, 10 and 11d).

- MaxProcessesPerShell counts the shell's processes (pids.max of its
  cgroup), not its commands;
- a shell's processes die with it, setsid'd and double-forked daemons
  included: on Delete, on IdleTimeout and when wsmd stops; a wsmd that
  crashed has its shells' leftovers killed by the next start;
- Win32_Process.Create is counted per user (MaxProcessesPerUser:
  w:QuotaLimit past it) and gets MaxMemoryPerShellMB as RLIMIT_AS;
- WorkingDirectory is checked as the user: /root answers exactly like a
  directory that does not exist;
- HandleCount (and the io counters) of another user's process are not
  shown to a user who is not root.

Real local accounts (conftest's shell_accounts) are needed: as root only.
Processes are found by a unique marker in their command line (/proc).
"""

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from cim_helpers import WMI, Client
from conftest import STOP_TIMEOUT
from shell_helpers import protocol

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="commands run as local accounts only as root")

PROC = WMI + "Win32_Process"
REPO_ROOT = Path(__file__).resolve().parents[2]
WINRS_BIN = os.environ.get("WINRS_BIN") or str(REPO_ROOT / "build" / "winrs")


def start(wsmd_factory, tmp_path, users, *lines):
    conf = tmp_path / f"proc-{uuid.uuid4().hex[:8]}.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nUsers = {users}\n"
                    + "".join(ln + "\n" for ln in lines))
    return wsmd_factory("-c", str(conf))


@pytest.fixture
def accounts(shell_users_file, shell_accounts):
    return shell_users_file, shell_accounts


def need_cgroups(d):
    """Skips where this machine has no cgroup wsmd can use (the daemon says
    so at startup). A wsmd that says nothing (the old one) is tested."""
    m = re.search(r"event=cgroups cgroups=(\S+) pids=(\S+)", d.log())
    if m and m.group(1) == "none":
        pytest.skip("no usable cgroup here: " + m.group(0))
    return m


def marked(marker):
    """Pids of live processes whose command line holds marker."""
    found = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/cmdline", "rb") as f:
                cl = f.read()
            with open(f"/proc/{e}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cl and state not in ("Z", "X"):
            found.append(int(e))
    return found


def wait_until(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.fixture
def marker():
    """A unique marker; whatever still carries it at the end is killed."""
    m = "wsmdmark" + uuid.uuid4().hex[:12]
    yield m
    for pid in marked(m):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def escapers(marker):
    """A command line leaving two daemons behind: one setsid'd, one
    double-forked (fork, setsid, fork; the middle one exits). Both hold
    marker in their command line; the command itself returns at once."""
    py = ("import os,sys,time\n"
          "if os.fork(): os._exit(0)\n"
          "os.setsid()\n"
          "if os.fork(): os._exit(0)\n"
          "time.sleep(1000)\n")
    return (f"setsid python3 -c 'import time; time.sleep(1000)' {marker}-setsid "
            f"</dev/null >/dev/null 2>&1 & "
            f"python3 -c '{py}' {marker}-daemon </dev/null >/dev/null 2>&1; "
            f"echo started")


def run(p, shell, cmd):
    cid = p.run_command(shell, cmd)
    out, err, rc = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    return out.decode(), err.decode(), rc


def start_escapers(p, shell, marker):
    out, err, rc = run(p, shell, escapers(marker))
    assert rc == 0 and "started" in out, (out, err)
    assert wait_until(lambda: len(marked(marker)) == 2, 10), marked(marker)


# ---- finding 8: MaxProcessesPerShell counts processes ---------------------

FORKER = ("python3 -c '\n"
          "import os,time\n"
          "ok=fail=0\n"
          "for i in range(40):\n"
          "    try:\n"
          "        p=os.fork()\n"
          "    except OSError:\n"
          "        fail+=1; continue\n"
          "    if p==0:\n"
          "        os.close(1); os.close(2); time.sleep(20); os._exit(0)\n"
          "    ok+=1\n"
          "print(\"ok=%d fail=%d\" % (ok, fail))\n"
          "'")


def test_process_limit_counts_processes(wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users, "MaxProcessesPerShell = 10")
    need_cgroups(d)
    (u1, pw1) = accts[0]
    p = protocol(d, u1, pw1)
    shell = p.open_shell()
    try:
        out, err, rc = run(p, shell, FORKER + " " + marker)
        m = re.search(r"ok=(\d+) fail=(\d+)", out)
        assert m, (out, err)
        ok, fail = int(m.group(1)), int(m.group(2))
        # sh (maybe) + python + its children: at most 10 in all
        assert fail > 0 and ok <= 9, out
        assert len(marked(marker)) == ok  # the sleepers carry the marker
    finally:
        p.close_shell(shell)
    # Delete took the 9 sleepers with it.
    assert wait_until(lambda: not marked(marker), 5), marked(marker)


# ---- finding 8: nothing of a shell survives it ----------------------------

def test_setsid_daemons_die_with_shell_delete(wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users)
    need_cgroups(d)
    p = protocol(d, *accts[0])
    shell = p.open_shell()
    start_escapers(p, shell, marker)
    p.close_shell(shell)
    assert wait_until(lambda: not marked(marker), 5), \
        f"left running after Delete: {marked(marker)}"


def test_setsid_daemons_die_with_idle_timeout(wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users, "IdleTimeout = 1000")
    need_cgroups(d)
    p = protocol(d, *accts[0])
    shell = p.open_shell()
    start_escapers(p, shell, marker)
    # No more requests: the shell is reaped after 1 s idle.
    assert wait_until(lambda: not marked(marker), 10), \
        f"left running after IdleTimeout: {marked(marker)}"


def test_setsid_daemons_die_with_daemon_stop(wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users)
    need_cgroups(d)
    p = protocol(d, *accts[0])
    shell = p.open_shell()
    start_escapers(p, shell, marker)
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(STOP_TIMEOUT * 4)
    assert d.proc.returncode == 0, d.log()
    assert wait_until(lambda: not marked(marker), 5), \
        f"left running after wsmd stopped: {marked(marker)}"


def test_crashed_daemons_leftovers_killed_at_next_start(wsmd_factory, tmp_path, accounts,
                                                        marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users)
    need_cgroups(d)
    p = protocol(d, *accts[0])
    shell = p.open_shell()
    start_escapers(p, shell, marker)
    dead_pid = d.proc.pid
    d.proc.kill()  # a crash: no cleanup at all
    d.proc.wait(STOP_TIMEOUT)
    assert len(marked(marker)) == 2
    d2 = start(wsmd_factory, tmp_path, users)
    assert wait_until(lambda: not marked(marker), 5), \
        f"a crashed wsmd's shell processes still run: {marked(marker)}"
    # ... and its cgroup directories are gone.
    m = re.search(r"dir=(\S+)/wsmd-\d+", d2.log())
    assert m, d2.log()
    assert not os.path.exists(f"{m.group(1)}/wsmd-{dead_pid}")
    # d was SIGKILLed on purpose: wsmd_factory's teardown must not fail on it.
    d.proc.returncode = 0


# ---- finding 8: Win32_Process.Create is counted and limited ----------------

def _create(c, cmd):
    return c.invoke(PROC, "Create", {"CommandLine": cmd})


def _create_ok(c, cmd):
    a = _create(c, cmd).ok(PROC + "/CreateResponse")
    out = a.body.find("{%s}Create_OUTPUT" % PROC)
    vals = {e.tag.rsplit("}", 1)[1]: e.text for e in out}
    assert vals["ReturnValue"] == "0", a.where()
    return int(vals["ProcessId"])


def test_create_counted_per_user(wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users, "MaxProcessesPerUser = 3")
    need_cgroups(d)
    c1 = Client(d.port, *accts[0])
    c2 = Client(d.port, *accts[1])
    # one process each (exec: no shell waiting for it)
    cmd = f"exec python3 -c 'import time; time.sleep(300)' {marker}"
    pids = [_create_ok(c1, cmd) for _ in range(3)]
    assert wait_until(lambda: len(marked(marker)) == 3, 10)
    # the 4th of this user: the quota fault, and nothing started
    _create(c1, cmd).expect_fault("w:QuotaLimit")
    time.sleep(0.2)
    assert len(marked(marker)) == 3
    # another user has a count of its own
    pids.append(_create_ok(c2, cmd))
    # processes that end free their slot
    os.kill(pids[0], signal.SIGKILL)
    assert wait_until(lambda: not os.path.exists(f"/proc/{pids[0]}"), 10)  # reaped too
    _create_ok(c1, cmd)


def test_create_memory_limit(request, wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users, "MaxMemoryPerShellMB = 300")
    # where the account can write (pytest's tmp_path is root's, 0700)
    out = Path(tempfile.mkdtemp(prefix="wsmd-limits-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(out, ignore_errors=True))
    os.chmod(out, 0o777)
    c1 = Client(d.port, *accts[0])
    _create_ok(c1, f"cat /proc/self/limits > {out}/l.txt")
    f = out / "l.txt"
    assert wait_until(lambda: f.exists() and "Max address space" in f.read_text(), 10)
    line = [ln for ln in f.read_text().splitlines() if ln.startswith("Max address space")][0]
    assert line.split()[3] == str(300 << 20), line
    # and, with a memory controller, a group of its own with that limit
    m = need_cgroups(d)
    if not (m and "memory=yes" in d.log()):
        return
    pid = _create_ok(c1, f"exec python3 -c 'import time; time.sleep(300)' {marker}")
    with open(f"/proc/{pid}/cgroup") as fh:
        cg = fh.read()
    mem = re.search(r"^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(\S+)$", cg, re.M)
    v2 = re.search(r"^0::(\S+)$", cg, re.M)
    uid = pwd.getpwnam(accts[0][0]).pw_uid
    if mem:  # v1: the mount point is the one wsmd used
        path = mem.group(1)
        assert re.search(rf"/wsmd-{d.proc.pid}/user-{uid}/p-\d+$", path), cg
        mnt = [ln.split()[4] for ln in open("/proc/self/mountinfo")
               if " - cgroup " in ln and "memory" in ln.split()[-1].split(",")][0]
        limit = Path(mnt + path, "memory.limit_in_bytes").read_text().strip()
    else:
        path = v2.group(1)
        assert re.search(rf"/wsmd-{d.proc.pid}/user-{uid}/p-\d+$", path), cg
        mnt = [ln.split()[4] for ln in open("/proc/self/mountinfo") if " - cgroup2 " in ln][0]
        limit = Path(mnt + path, "memory.max").read_text().strip()
    assert limit == str(300 << 20), (path, limit)


# ---- finding 10: WorkingDirectory is checked as the user -------------------

def winrs(d, user, password, *words):
    return subprocess.run([WINRS_BIN, f"-r:{d.url}", f"-u:{user}", f"-p:{password}", *words],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def test_workdir_root_looks_like_missing(wsmd_factory, tmp_path, accounts):
    if not os.access(WINRS_BIN, os.X_OK):
        pytest.skip(f"winrs binary not built: {WINRS_BIN}")
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users)
    u, pw = accts[0]
    assert pwd.getpwnam(u).pw_uid != 0
    root = winrs(d, u, pw, "-d:/root", "pwd")
    missing = winrs(d, u, pw, "-d:/nonexistent-wsmd-dir", "pwd")
    assert root.returncode != 0 and root.stdout == b"", root
    assert (root.returncode, root.stdout, root.stderr) == \
        (missing.returncode, missing.stdout, missing.stderr)
    # the same fault as the raw answer, too (pywinrm's open_shell)
    p = protocol(d, u, pw)
    faults = []
    for wd in ("/root", "/nonexistent-wsmd-dir"):
        with pytest.raises(Exception) as ei:
            p.open_shell(working_directory=wd)
        faults.append(str(ei.value))
    assert faults[0] == faults[1], faults
    # a directory the user may enter works
    ok = winrs(d, u, pw, "-d:/tmp", "pwd")
    assert ok.returncode == 0 and ok.stdout.strip() == b"/tmp", ok


def test_missing_home_runs_in_root(wsmd_factory, tmp_path):
    """An account without its home directory (useradd -M, a service
    account) still runs commands: in /, its stderr saying so, as sshd does,
    instead of every Command failing with InvalidParameter; HOME stays what
    the account says. A WorkingDirectory the client names is still refused
    when missing."""
    if not os.access(WINRS_BIN, os.X_OK):
        pytest.skip(f"winrs binary not built: {WINRS_BIN}")
    from conftest import user_add
    name = "wsmdnh" + uuid.uuid4().hex[:6]
    pw = "Nohome-pw-" + uuid.uuid4().hex[:6]
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True,
                   capture_output=True, timeout=30)
    try:
        home = pwd.getpwnam(name).pw_dir
        assert not os.path.exists(home), home
        users = tmp_path / "nohome-users"
        user_add(users, name, pw)
        d = start(wsmd_factory, tmp_path, users, f"Allow = all @{name}")
        r = winrs(d, name, pw, 'pwd; echo "$HOME"; exit 7')
        assert r.returncode == 7, r
        assert r.stdout == f"/\n{home}\n".encode(), r
        assert b"could not enter the home directory " + home.encode() in r.stderr, r
        missing = winrs(d, name, pw, "-d:/nonexistent-wsmd-dir", "pwd")
        assert missing.returncode != 0 and missing.stdout == b"", missing
    finally:
        subprocess.run(["userdel", "-f", name], capture_output=True, timeout=30)


# ---- finding 11d: HandleCount of other users' processes --------------------

def _handle_count(c, pid):
    a = c.get(PROC, {"Handle": str(pid)}).ok()
    inst = a.body.find("{%s}Win32_Process" % PROC)
    assert inst is not None, a.where()
    el = inst.find("{%s}HandleCount" % PROC)
    if el is None or el.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    return int(el.text)


def _prop(c, pid, name):
    a = c.get(PROC, {"Handle": str(pid)}).ok()
    el = a.body.find("{%s}Win32_Process/{%s}%s" % (PROC, PROC, name))
    if el is None or el.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    return el.text


def test_handlecount_of_others_hidden(wsmd_factory, tmp_path, accounts, marker):
    users, accts = accounts
    d = start(wsmd_factory, tmp_path, users)
    c1 = Client(d.port, *accts[0])
    c2 = Client(d.port, *accts[1])
    pid2 = _create_ok(c2, f"python3 -c 'import time; time.sleep(300)' {marker}")
    assert wait_until(lambda: pid2 in marked(marker), 10)
    # its owner sees the count, another user does not
    assert _handle_count(c2, pid2) is not None and _handle_count(c2, pid2) >= 3
    assert _handle_count(c1, pid2) is None
    # nor of root's processes (this test's own)
    assert _handle_count(c1, os.getpid()) is None
    # ExecutablePath likewise: where the caller may read /proc/PID/exe
    assert _prop(c2, pid2, "ExecutablePath") == os.path.realpath(f"/proc/{pid2}/exe")
    assert _prop(c1, pid2, "ExecutablePath") is None
    assert _prop(c1, os.getpid(), "ExecutablePath") is None
