"""winrs (our WinRS client) against wsmd.

The client binary is $WINRS_BIN, default <repo>/build/winrs. The daemon
and its accounts come from conftest's shell_wsmd fixture (as root, commands
run as the local account of the authenticated name).
"""

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WINRS_BIN = os.environ.get("WINRS_BIN") or str(REPO_ROOT / "build" / "winrs")
TIMEOUT = 60


def winrs_bin():
    if not (os.path.isfile(WINRS_BIN) and os.access(WINRS_BIN, os.X_OK)):
        pytest.skip(f"winrs binary not built: {WINRS_BIN}")
    return WINRS_BIN


def client_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    env.update(extra or {})
    return env


@pytest.fixture
def srv(shell_wsmd):
    """conftest's shell daemon; winrs authenticates as its first account."""
    shell_wsmd.user, shell_wsmd.password = shell_wsmd.user1, shell_wsmd.pw1
    return shell_wsmd


_DEFAULT = object()


def winrs_args(d, words, user=_DEFAULT, password=_DEFAULT, switches=()):
    user = d.user if user is _DEFAULT else user
    password = d.password if password is _DEFAULT else password
    args = [winrs_bin(), f"-r:{d.url}"]
    if user is not None:
        args.append(f"-u:{user}")
    if password is not None:
        args.append(f"-p:{password}")
    return [*args, *switches, *words]


def winrs(d, *words, input=None, env=None, **kw):
    """Run winrs; stdin is /dev/null unless input (bytes) is given."""
    cp = subprocess.run(winrs_args(d, words, **kw), input=input,
                        stdin=subprocess.DEVNULL if input is None else None,
                        capture_output=True, env=client_env(env), timeout=TIMEOUT)
    return cp


def detail(cp, d):
    return (f"rc={cp.returncode}\nstdout={cp.stdout[:2000]!r}\n"
            f"stderr={cp.stderr[:2000]!r}\ndaemon log:\n{d.log()[-4000:]}")


def test_echo(srv):
    cp = winrs(srv, "echo", "hello", "world")
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"hello world\n", detail(cp, srv)
    assert cp.stderr == b"", detail(cp, srv)


def test_stderr_is_separate(srv):
    cp = winrs(srv, "echo", "to-out;", "echo", "to-err", "1>&2;", "echo", "more-out")
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"to-out\nmore-out\n", detail(cp, srv)
    assert cp.stderr == b"to-err\n", detail(cp, srv)


def test_exit_code(srv):
    cp = winrs(srv, "exit", "3")
    assert cp.returncode == 3, detail(cp, srv)
    assert cp.stdout == b"" and cp.stderr == b"", detail(cp, srv)


def test_exit_code_with_output(srv):
    cp = winrs(srv, "echo out; echo err >&2; exit 42")
    assert cp.returncode == 42, detail(cp, srv)
    assert cp.stdout == b"out\n" and cp.stderr == b"err\n", detail(cp, srv)


def test_command_not_found(srv):
    cp = winrs(srv, "no-such-command-srv-test")
    assert cp.returncode == 127, detail(cp, srv)
    assert b"no-such-command-srv-test" in cp.stderr, detail(cp, srv)


def test_stdin_piped_through(srv):
    cp = winrs(srv, "cat", input=b"a\nb\n")
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"a\nb\n", detail(cp, srv)


def test_stdin_devnull_ends_at_once(srv):
    t0 = time.monotonic()
    cp = winrs(srv, "cat")
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"", detail(cp, srv)
    assert time.monotonic() - t0 < 20, "cat did not see EOF on stdin"


def test_stdin_binary_roundtrip_large(srv):
    """More than one Send, and more than the service buffers at once."""
    data = os.urandom(256 * 1024) * 8  # 2 MiB
    cp = winrs(srv, "cat", input=data)
    assert cp.returncode == 0, detail(cp, srv)
    assert len(cp.stdout) == len(data), detail(cp, srv)
    assert cp.stdout == data


def test_large_output(srv):
    n = 3 * 1000 * 1000
    cp = winrs(srv, f"head -c {n} /dev/zero | tr '\\0' x; echo done >&2")
    assert cp.returncode == 0, detail(cp, srv)
    assert len(cp.stdout) == n and cp.stdout == b"x" * n, detail(cp, srv)
    assert cp.stderr == b"done\n", detail(cp, srv)


def test_password_from_environment(srv):
    cp = winrs(srv, "echo", "env-ok", password=None, env={"WSM_PASSWORD": srv.password})
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"env-ok\n", detail(cp, srv)


def test_wrong_password(srv):
    cp = winrs(srv, "echo", "never", password="wrong-password")
    assert cp.returncode != 0, detail(cp, srv)
    assert cp.stdout == b"", detail(cp, srv)
    err = cp.stderr.decode(errors="replace")
    assert err.startswith("winrs: "), detail(cp, srv)
    assert any(w in err.lower() for w in ("denied", "authentication", "401")), detail(cp, srv)


def test_no_credentials_is_an_error(srv):
    cp = winrs(srv, "echo", "never", password=None)
    assert cp.returncode != 0, detail(cp, srv)
    assert cp.stdout == b"" and cp.stderr.startswith(b"winrs: "), detail(cp, srv)


def test_switch_forms_and_host_port(srv):
    """/switch:value, long names, and -r:host:port completed to http://host:port/wsman."""
    args = [winrs_bin(), f"/remote:127.0.0.1:{srv.port}", f"-username:{srv.user}",
            f"/password:{srv.password}", "-noprofile", "-a:basic", "echo", "forms"]
    cp = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                        env=client_env(), timeout=TIMEOUT)
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"forms\n", detail(cp, srv)


def test_url_without_path(srv):
    cp = subprocess.run([winrs_bin(), f"-r:http://127.0.0.1:{srv.port}", f"-u:{srv.user}",
                         f"-p:{srv.password}", "echo", "nopath"], stdin=subprocess.DEVNULL,
                        capture_output=True, env=client_env(), timeout=TIMEOUT)
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"nopath\n", detail(cp, srv)


@pytest.fixture
def shared_dir():
    """A directory the account can enter (pytest's tmp_path may be 0700 root)."""
    top = tempfile.mkdtemp(prefix="wsmd-winrs-")
    work = Path(top) / "work dir"
    work.mkdir()
    os.chmod(top, 0o755)
    os.chmod(work, 0o777)
    try:
        yield work
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_directory_and_environment(srv, shared_dir):
    work = shared_dir
    cp = winrs(srv, 'echo "$WSMD_T1|$WSMD_T2"; pwd',
               switches=[f"-d:{work}", "-env:WSMD_T1=one two", "-environment:WSMD_T2=<&>"])
    assert cp.returncode == 0, detail(cp, srv)
    lines = cp.stdout.decode().splitlines()
    assert lines[0] == "one two|<&>", detail(cp, srv)
    assert os.path.realpath(lines[1]) == os.path.realpath(work), detail(cp, srv)


def _processes_with(marker):
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmd:
            found.append(int(p.name))
    return found


def _read_until(fd, needle, timeout):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf


def test_ctrl_c_stops_the_command(srv):
    marker = "37.2468"  # a sleep only this test runs
    p = subprocess.Popen(winrs_args(srv, [f"echo started; sleep {marker}; echo finished"]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=client_env())
    try:
        out = _read_until(p.stdout.fileno(), b"started\n", 20)
        assert out == b"started\n", f"no output before Ctrl-C: {out!r}\n{srv.log()}"
        # Ctrl-C before sh has started sleep would only interrupt sh,
        # which (dash) then waits for the sleep it starts next.
        deadline = time.monotonic() + 10
        while not _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(f"sleep {marker}"), "the remote command is not running"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert time.monotonic() - t0 < 15
    assert p.returncode != 0, (p.returncode, rest, err)
    assert b"finished" not in rest, (rest, err)
    deadline = time.monotonic() + 5
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_with(f"sleep {marker}"), "the remote command survived Ctrl-C"


def test_no_command_is_a_usage_error(srv):
    cp = subprocess.run([winrs_bin(), f"-r:{srv.url}", f"-u:{srv.user}", f"-p:{srv.password}"],
                        stdin=subprocess.DEVNULL, capture_output=True, env=client_env(),
                        timeout=TIMEOUT)
    assert cp.returncode != 0
    assert b"winrs:" in cp.stderr
