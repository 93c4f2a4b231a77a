"""The switches of Windows' winrm and winrs (the inventory's sections 1-2) as
docs/clients.md lists them: each one that is not done is refused with its
reason, the ones that need nothing done are accepted against a live wsmd,
and winrs -noecho turns the local terminal's echo off while it runs (and
back on after)."""

import os
import pty
import subprocess
import termios

import pytest

from test_winrm_tool import winrm_bin
from wsman_helpers import PASSWORD, USER

WINRS_BIN = os.environ.get("WINRS_BIN") or os.path.join(
    os.path.dirname(winrm_bin()), "winrs")

REFUSED_WINRM = [
    ("-defaultCreds", "implicit credentials"),
    ("-SPNPort:80", "-spn:"),
    ("-proxyaccess:ie", "http_proxy"),
    ("-proxyauth:basic", "http_proxy"),
    ("-proxyusername:x", "http_proxy"),
    ("-proxypassword:x", "http_proxy"),
    ("-c:0123456789ABCDEF", "-certificate:PEM"),
    ("-encoding:utf-16", "UTF-8 only"),
]
REFUSED_WINRS = [
    ("-ad", "delegation"),
    ("-allowdelegate", "delegation"),
    ("-t:30", "deprecated"),
    ("-timeout:30", "deprecated"),
]


def run(argv, **kw):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                          stdin=subprocess.DEVNULL, **kw)


@pytest.mark.parametrize("switch,why", REFUSED_WINRM)
def test_winrm_refuses_with_reason(switch, why):
    cp = run([winrm_bin(), "get", "winrm/config", switch, "-r:http://127.0.0.1:1"])
    assert cp.returncode == 2, cp
    assert f"{switch}: not supported" in cp.stderr and why in cp.stderr, cp.stderr


@pytest.mark.parametrize("switch,why", REFUSED_WINRS)
def test_winrs_refuses_with_reason(switch, why):
    if not os.access(WINRS_BIN, os.X_OK):
        pytest.skip("winrs not built")
    cp = run([WINRS_BIN, switch, "-r:http://127.0.0.1:1", "hostname"])
    assert cp.returncode == 1, cp
    assert "not supported" in cp.stderr and why in cp.stderr, cp.stderr


def test_unknown_switches_refused():
    cp = run([winrm_bin(), "get", "winrm/config", "-nosuchswitch"])
    assert cp.returncode == 2 and "Unknown switch" in cp.stderr, cp
    if os.access(WINRS_BIN, os.X_OK):
        cp = run([WINRS_BIN, "-nosuchswitch", "hostname"])
        assert cp.returncode != 0 and "unknown switch" in cp.stderr, cp


def test_accepted_switches_work(wsmd):
    # -encoding:utf-8 and -skipRevocationcheck need nothing done: the request
    # goes out as without them.
    for extra in (["-encoding:utf-8"], ["-skipRevocationcheck"], ["-encoding:UTF-8", "-un"]):
        cp = run([winrm_bin(), "id", f"-r:{wsmd.url}", f"-u:{USER}", f"-p:{PASSWORD}", *extra])
        assert cp.returncode == 0 and "ProtocolVersion" in cp.stdout, (extra, cp)


def test_winrs_noecho_turns_local_echo_off(shell_wsmd):
    if not os.access(WINRS_BIN, os.X_OK):
        pytest.skip("winrs not built")
    d = shell_wsmd
    seen = {}
    for noecho in (False, True):
        master, slave = pty.openpty()
        try:
            argv = [WINRS_BIN, f"-r:{d.url}", f"-u:{d.user1}", f"-p:{d.pw1}"]
            if noecho:
                argv.append("-noecho")
            # The remote command reads one line: winrs is running meanwhile.
            p = subprocess.Popen(argv + ["read x; echo got=$x"], stdin=slave,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # winrs changes the echo before it sends anything; the reply to
            # the remote read comes only after our line.
            import time
            deadline = time.monotonic() + 20
            state = None
            while time.monotonic() < deadline:
                state = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
                if state == (not noecho) and p.poll() is None:
                    break
                time.sleep(0.05)
            seen[noecho] = state
            os.write(master, b"hello\n")
            out, err = p.communicate(timeout=30)
            assert p.returncode == 0 and b"got=hello" in out, (out, err)
            # Restored at exit.
            assert termios.tcgetattr(slave)[3] & termios.ECHO, "echo not restored"
        finally:
            os.close(master)
            os.close(slave)
    assert seen == {False: True, True: False}, seen
