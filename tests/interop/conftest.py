"""Fixtures for the wsmd interop tests.

The daemon binary is $WSMD_BIN, default <repo>/build/wsmd.
"""

import os
import re
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

LISTEN_RE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/wsman)")
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


def user_add(users_file, name, password):
    cp = run_cli(["user", "add", name, "--users", str(users_file)],
                 input_text=password + "\n")
    assert cp.returncode == 0, (
        f"`wsmd user add {name}` failed rc={cp.returncode}\n"
        f"stdout={cp.stdout!r}\nstderr={cp.stderr!r}")
    return cp


class Daemon:
    """A running wsmd. stderr goes to a file so it can never block the daemon."""

    def __init__(self, args, workdir):
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

    def rss_kb(self):
        self.assert_alive()
        from wsman_helpers import rss_kb
        return rss_kb(self.pid)

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

    def start(*args):
        workdir = Path(tempfile.mkdtemp(prefix="wsmd-", dir=tmp_path))
        d = Daemon(list(args), workdir)
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
