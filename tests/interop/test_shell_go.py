"""The remote shell (WinRS) of wsmd driven by the Go client
github.com/masterzen/winrm (Debian: golang-github-masterzen-winrm-dev).

tests/interop/go/main.go is built once per session, offline, in GOPATH mode
against the sources Debian installs under /usr/share/gocode/src
(GO111MODULE=off GOPATH=/usr/share/gocode); the build cache lives in the
pytest tmp dir.
"""

import re
import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shell_helpers import SLOW

HERE = Path(__file__).resolve().parent
GO_SRC = HERE / "go"
GOPATH = "/usr/share/gocode"
WINRM_PKG = Path(GOPATH) / "src/github.com/masterzen/winrm"


@pytest.fixture(scope="session")
def go_winrm(tmp_path_factory):
    """Path of the built Go client (skips when go or the package is missing)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not installed (apt-get install golang-go)")
    if not WINRM_PKG.is_dir():
        pytest.skip(f"github.com/masterzen/winrm sources missing: {WINRM_PKG} "
                    "(apt-get install golang-github-masterzen-winrm-dev)")
    out = tmp_path_factory.mktemp("go-winrm")
    exe = out / "winrm-run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(out / "cache"),
               GOFLAGS="", GOPROXY="off", CGO_ENABLED="0", HOME=str(out))
    cp = subprocess.run([go, "build", "-o", str(exe), "."], cwd=str(GO_SRC),
                        env=env, capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, (
        f"go build of {GO_SRC} failed rc={cp.returncode}\n"
        f"stdout={cp.stdout}\nstderr={cp.stderr}")
    return exe


class GoResult:
    def __init__(self, cp):
        self.cp = cp
        self.stdout = self.stderr = self.error = None
        self.exit = None
        for line in cp.stdout.splitlines():
            tag, _, val = line.partition(" ")
            if tag == "STDOUT-B64":
                self.stdout = base64.b64decode(val)
            elif tag == "STDERR-B64":
                self.stderr = base64.b64decode(val)
            elif tag == "EXIT":
                self.exit = int(val)
            elif tag == "ERROR":
                self.error = base64.b64decode(val).decode("utf-8", "replace")

    def __repr__(self):
        return (f"GoResult(rc={self.cp.returncode}, exit={self.exit}, "
                f"stdout={self.stdout!r}, stderr={self.stderr!r}, error={self.error!r}, "
                f"process stderr={self.cp.stderr[-2000:]!r})")


def go_run(exe, d, command, stdin=None, user=None, password=None):
    args = [str(exe), "-host", "127.0.0.1", "-port", str(d.port),
            "-user", user or d.user1, "-password", password or d.pw1]
    if stdin is not None:
        args.append("-input")
    args.append(command)
    cp = subprocess.run(args, input=stdin if stdin is not None else b"",
                        capture_output=True, timeout=120 * SLOW)
    cp.stdout = cp.stdout.decode("utf-8", "replace")
    cp.stderr = cp.stderr.decode("utf-8", "replace")
    return GoResult(cp)


def assert_ok(r):
    assert r.cp.returncode == 0 and r.error is None, r
    assert r.stdout is not None and r.stderr is not None and r.exit is not None, r


def test_go_echo(go_winrm, shell_wsmd):
    r = go_run(go_winrm, shell_wsmd, "echo hello from go")
    assert_ok(r)
    assert (r.stdout, r.stderr, r.exit) == (b"hello from go\n", b"", 0), r


def test_go_exit_code(go_winrm, shell_wsmd):
    r = go_run(go_winrm, shell_wsmd, "exit 3")
    assert_ok(r)
    assert r.exit == 3, r


def test_go_stderr(go_winrm, shell_wsmd):
    r = go_run(go_winrm, shell_wsmd, "echo to-out; echo to-err >&2; exit 1")
    assert_ok(r)
    assert (r.stdout, r.stderr, r.exit) == (b"to-out\n", b"to-err\n", 1), r


def test_go_stdin(go_winrm, shell_wsmd):
    data = b"line one\nline two\n\x00\xffbinary tail"
    r = go_run(go_winrm, shell_wsmd, "cat", stdin=data)
    assert_ok(r)
    assert (r.stdout, r.stderr, r.exit) == (data, b"", 0), r


def test_go_stdin_large(go_winrm, shell_wsmd):
    """More than one Send (the client splits at EnvelopeSize - 1000)."""
    data = bytes(range(256)) * 1200  # 307200 bytes
    r = go_run(go_winrm, shell_wsmd, "sha256sum | cut -d' ' -f1", stdin=data)
    assert_ok(r)
    import hashlib
    assert r.stdout.decode().strip() == hashlib.sha256(data).hexdigest(), r


def test_go_runs_as_user(go_winrm, shell_wsmd):
    d = shell_wsmd
    r = go_run(go_winrm, d, "id -un", user=d.user2, password=d.pw2)
    assert_ok(r)
    if os.geteuid() == 0:
        assert r.stdout == f"{d.user2}\n".encode(), r


def test_go_wrong_password(go_winrm, shell_wsmd):
    """Rejected with 401; the command never runs.

    This client version cannot report the 401 itself (clientRequest.Post
    resets its error in a defer on unnamed results, so it parses the empty
    401 body and says "EOF"); the daemon's log line shows the status.
    """
    d = shell_wsmd
    r = go_run(go_winrm, d, "echo never", password="wrong-password")
    assert r.cp.returncode != 0 and r.error is not None, r
    assert not r.stdout, r
    # The 401 names the user tried (never the password): nothing else ran.
    assert re.search(r"user=\S+ action=- resource=- status=401", d.log()), d.log()
    assert "transfer/Create" not in d.log(), d.log()
