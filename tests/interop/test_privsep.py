"""Privilege separation (docs/internals/privsep.md): run as root, wsmd is a
root monitor and an unprivileged network process.

Checked from outside, with real clients: the network process's
credentials (uid, no capabilities, NO_NEW_PRIVS, seccomp), commands still
run as the authenticated user, a crash of the network process (a SIGSEGV,
as a parser bug would raise) leaves the monitor running and serving on
the same port, ends what the dead process had started, and `PrivilegeSeparation
= no` keeps the single-process model.
"""

import grp
import os
import pwd
import secrets
import signal
import subprocess
import time

import pytest

from conftest import NETWORK_RE, _account_exists
from shell_helpers import pids_matching, wait_for
from wsman_helpers import SANITIZED, post

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="privilege separation needs root")

PRIVSEP_USER = "wsmd"


def status_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def identify(d):
    """An anonymous Identify: needs nothing of the monitor."""
    try:
        return post(d.port, auth=None, headers={"WSMANIDENTIFY": "unauthenticated"}).status
    except OSError:
        return None


def background_command(d, user, password):
    """(marker, Popen) of a winrs running `sleep 1000.<marker>` as user."""
    marker = f"sleep 1000.{secrets.randbelow(10**6):06d}"
    p = subprocess.Popen([os.environ.get("WINRS_BIN", "build/winrs"), f"-r:{d.url}",
                          f"-u:{user}", f"-p:{password}", marker],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return marker, p


def network_pid(d):
    found = NETWORK_RE.findall(d.log())
    assert found, d.log()
    return int(found[-1])


def winrs(d, user, password, *cmd, timeout=30):
    return subprocess.run([os.environ.get("WINRS_BIN", "build/winrs"), f"-r:{d.url}",
                           f"-u:{user}", f"-p:{password}", *cmd],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def psd(wsmd_factory, shell_users_file):
    if not _account_exists(PRIVSEP_USER):
        pytest.skip("no wsmd account (tests/deps makes it)")
    return wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(shell_users_file))


def test_network_process_has_no_privilege(psd):
    d = psd
    net = network_pid(d)
    assert net != d.pid
    mon = status_fields(d.pid)
    st = status_fields(net)
    want = pwd.getpwnam(PRIVSEP_USER).pw_uid
    assert mon["Uid"].split()[0] == "0"
    assert st["Uid"].split() == [str(want)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(pwd.getpwnam(PRIVSEP_USER).pw_gid)] * 4
    # One supplementary group: systemd-journal (the event source reads the
    # journal; docs/internals/evsrc.md), when the system has it.
    try:
        want_groups = str(grp.getgrnam("systemd-journal").gr_gid)
    except KeyError:
        want_groups = ""
    assert st["Groups"] == want_groups, st["Groups"]
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, st
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2", "no seccomp filter on the network process"
    # The monitor is its parent, and it is the process that was started.
    with open(f"/proc/{net}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) == d.pid
    assert identify(d) == 200


def test_commands_run_as_the_user(psd, shell_accounts):
    d = psd
    (u1, p1), (u2, p2) = shell_accounts
    for user, pw in ((u1, p1), (u2, p2)):
        cp = winrs(d, user, pw, "id -un; id -u")
        assert cp.returncode == 0, cp
        name, uid = cp.stdout.split()
        assert name == user and int(uid) == pwd.getpwnam(user).pw_uid


def test_network_crash_restarts_and_ends_its_commands(psd, shell_accounts):
    d = psd
    (u1, p1), _ = shell_accounts
    # A command left running in the background of a shell that stays open.
    marker, p = background_command(d, u1, p1)

    def ours():  # the client's own command line names the marker too
        return [q for q in pids_matching(marker) if q != p.pid]
    try:
        assert wait_for(ours, 10), "command never started"
        net = network_pid(d)
        # What a parser bug would do (a sanitizer build would report the
        # SIGSEGV and exit 1: there the process is simply killed).
        os.kill(net, signal.SIGKILL if SANITIZED else signal.SIGSEGV)
        assert wait_for(lambda: len(NETWORK_RE.findall(d.log())) >= 2, 10), d.log()
        d.assert_alive()  # the monitor, still the same process
        assert network_pid(d) != net
        assert "event=privsep-restart" in d.log()
        # The same port answers, with authentication through the monitor.
        assert wait_for(lambda: identify(d) == 200, 10)
        cp = winrs(d, u1, p1, "echo back")
        assert cp.returncode == 0 and cp.stdout.strip() == "back", cp
        # What the dead process had started is gone: no orphan survives.
        assert wait_for(lambda: not ours(), 10), [
            (q, open(f"/proc/{q}/cmdline", "rb").read()) for q in ours()]
    finally:
        p.kill()
        p.wait()


def test_stop_leaves_nothing_behind(wsmd_factory, shell_users_file, shell_accounts):
    if not _account_exists(PRIVSEP_USER):
        pytest.skip("no wsmd account")
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(shell_users_file))
    (u1, p1), _ = shell_accounts
    net = network_pid(d)
    cp = winrs(d, u1, p1, "true")
    assert cp.returncode == 0, cp
    rc, log = d.stop()
    assert rc == 0, log
    assert not os.path.exists(f"/proc/{net}"), "the network process outlived its monitor"


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(x) for x in f.read().split()}
    except OSError:
        return set()


def test_network_process_never_outlives_a_killed_monitor(wsmd_factory, shell_users_file,
                                                         tmp_path):
    """The monitor killed while it restarts its network process (kill -9 of
    both, as a supervisor or an OOM killer may): the new network process
    must not go on alone, holding the ports with nobody to authenticate.
    It took the monitor's pid with getppid() after the fork, so a monitor
    dead by then looked like init and the orphan served on (seen in
    test_collector_pg's kill -9 of a node). Each trial kills the network
    process, then the monitor as soon as its new child appears."""
    if not _account_exists(PRIVSEP_USER):
        pytest.skip("no wsmd account")
    for trial in range(12):
        marker = str(tmp_path / f"users-{trial}")
        with open(shell_users_file, "rb") as src, open(marker, "wb") as dst:
            dst.write(src.read())
        os.chmod(marker, 0o600)
        d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", marker)
        mon, net = d.pid, network_pid(d)
        os.kill(net, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (_children(mon) - {net}):
            pass
        os.kill(mon, signal.SIGKILL)
        d.proc.wait()
        log = d.log()
        d.stop = lambda log=log: (0, log)  # killed on purpose: not a crash
        assert wait_for(lambda: not pids_matching(marker), 5), (
            f"trial {trial}: a network process outlived its monitor: "
            f"{pids_matching(marker)}\n{log}")


def test_privilege_separation_off(wsmd_factory, shell_users_file, shell_accounts, tmp_path):
    conf = tmp_path / "wsmd.conf"
    conf.write_text("PrivilegeSeparation = no\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0",
                     "--users", str(shell_users_file))
    assert not NETWORK_RE.findall(d.log())
    (u1, p1), _ = shell_accounts
    cp = winrs(d, u1, p1, "id -un")
    assert cp.returncode == 0 and cp.stdout.strip() == u1, cp


def test_missing_account_is_a_clear_error(tmp_path, users_file):
    conf = tmp_path / "wsmd.conf"
    conf.write_text("PrivilegeSeparationUser = wsmd-no-such-account\n")
    cp = subprocess.run([os.environ.get("WSMD_BIN", "build/wsmd"), "-c", str(conf),
                         "--listen", "http://127.0.0.1:0", "--users", str(users_file)],
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode != 0
    assert "wsmd-no-such-account" in cp.stderr and "useradd" in cp.stderr, cp.stderr


def test_basic_and_ntlm_through_the_monitor(psd, shell_accounts):
    """Passwords and NTLM handshakes are checked by the monitor, sealing
    is done by the network process with the context it was handed."""
    d = psd
    (u1, p1), _ = shell_accounts
    cp = winrs(d, u1, p1 + "x", "true")
    assert cp.returncode != 0 and "401" in cp.stderr, cp
    cp = subprocess.run([os.environ.get("WINRS_BIN", "build/winrs"), f"-r:{d.url}", "-a:NTLM",
                         f"-u:{u1}", f"-p:{p1}", "head -c 200000 /dev/zero | wc -c"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0 and cp.stdout.strip() == "200000", cp
    assert " sealed=1" in d.log()


@pytest.mark.parametrize("separated", [True, False])
def test_removed_user_commands_end(wsmd_factory, shell_accounts, tmp_path, separated):
    """Finding 10e: a user removed from the user file keeps nothing
    running: their shells' commands end (by the monitor when separated,
    by the shell engine otherwise), and their password stops working."""
    from conftest import run_cli, user_add
    (u1, p1), (u2, p2) = shell_accounts
    users = tmp_path / "users"
    user_add(users, u1, p1)
    user_add(users, u2, p2)
    args = ["--listen", "http://127.0.0.1:0", "--users", str(users)]
    if not separated:
        conf = tmp_path / "single.conf"
        conf.write_text("PrivilegeSeparation = no\n")
        args = ["-c", str(conf)] + args
    d = wsmd_factory(*args)
    marker, p = background_command(d, u1, p1)

    def ours():
        return [q for q in pids_matching(marker) if q != p.pid]
    try:
        assert wait_for(ours, 10), "command never started"
        cp = run_cli(["user", "del", u1, "--users", str(users)])
        assert cp.returncode == 0, cp
        assert wait_for(lambda: not ours(), 10), (ours(), d.log())
        assert f"event=user-removed user={u1}" in d.log()
        cp = winrs(d, u1, p1, "true")
        assert cp.returncode != 0 and "401" in cp.stderr, cp
        cp = winrs(d, u2, p2, "echo still")
        assert cp.returncode == 0 and cp.stdout.strip() == "still", cp
    finally:
        p.kill()
        p.wait()
