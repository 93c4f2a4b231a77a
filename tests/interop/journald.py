"""A systemd-journald of the tests' own, for the event source's tests.

CI has no systemd as PID 1, so there is no system journal to read or write.
journald runs fine as root without it in a *journal namespace*
(`systemd-journald NAMESPACE`, systemd >= 245): its sockets are under
/run/systemd/journal.NAMESPACE/ and, with /var/log/journal present, its files
under /var/log/journal/MACHINE-ID.NAMESPACE/ (else /run/log/journal/...).
Each Journald gets a namespace of its own (tests run in parallel) and
removes both folders when stopped.

Writers:
  logger(...)      logger(1) --socket DIR/dev-log (the syslog transport);
  native(fields)   a datagram of the native protocol to DIR/socket, binary
                   values allowed (what sd_journal_send writes);
  in_ns(cmd)       runs cmd in a private mount namespace where
                   /run/systemd/journal is this namespace's socket folder,
                   so programs that only know the default path (systemd-cat,
                   `wsmd eventcreate`, anything calling sd_journal_send)
                   write into this journal, unchanged.
Reading: `directory` is what JournalDirectory = / sd_journal_open_directory
takes.

A namespace journald exits after about 30 s without clients ("Server is
idle, exiting"); the fixture keeps one stdout stream connected (as a service
whose output journald collects), so it lives as long as the test.
"""

import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

JOURNALD = next((p for p in ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
                 if os.path.exists(p)), None)


def usable():
    """None when a test journald can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root (journald namespaces)"
    if not JOURNALD:
        return "no systemd-journald binary"
    if not shutil.which("unshare") or not shutil.which("logger"):
        return "needs unshare and logger (util-linux)"
    return None


def _machine_id():
    return Path("/etc/machine-id").read_text().strip()


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Journald:
    def __init__(self, tmp_path):
        self.ns = "wsmdt" + secrets.token_hex(5)
        self.sockdir = Path(f"/run/systemd/journal.{self.ns}")
        mid = _machine_id()
        self.dirs = [Path(f"/var/log/journal/{mid}.{self.ns}"),
                     Path(f"/run/log/journal/{mid}.{self.ns}")]
        self.tmp = Path(tmp_path)
        self.log = open(self.tmp / f"journald-{self.ns}.log", "w")
        env = dict(os.environ, SYSTEMD_LOG_LEVEL="notice", SYSTEMD_LOG_TARGET="console")
        self.proc = subprocess.Popen([JOURNALD, self.ns], stdout=self.log, stderr=self.log,
                                     env=env, start_new_session=True)
        try:
            wait_for(lambda: (self.sockdir / "socket").exists()
                     and any((d / "system.journal").exists() for d in self.dirs),
                     what=f"journald {self.ns} to start")
        except AssertionError:
            self.stop()
            raise
        self.directory = str(next(d for d in self.dirs if (d / "system.journal").exists()))
        # A connected stdout stream keeps the instance from exiting when idle.
        # Its header: identifier, unit id, priority, level prefix, forward to
        # syslog, kmsg, console.
        self.keep = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.keep.connect(str(self.sockdir / "stdout"))
        self.keep.sendall(b"wsmd-tests-keepalive\n\n6\n0\n0\n0\n0\n")

    # ---- writers -------------------------------------------------------------

    def logger(self, *args):
        cp = subprocess.run(["logger", "--socket", str(self.sockdir / "dev-log"), *args],
                            capture_output=True, text=True, timeout=10)
        assert cp.returncode == 0, cp.stderr

    def native(self, fields):
        """fields: list of (name, bytes|str); binary-safe encoding for every value."""
        out = b""
        for k, v in fields:
            v = v.encode() if isinstance(v, str) else v
            out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.connect(str(self.sockdir / "socket"))
            s.send(out)
        finally:
            s.close()

    def rotate(self):
        """journalctl --rotate: the current file archived, a new one begun."""
        cp = subprocess.run(["journalctl", f"--namespace={self.ns}", "--rotate"],
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, cp.stderr

    def in_ns(self, argv, input_text=None, env=None):
        """Runs argv where /run/systemd/journal is this journal's socket folder."""
        hold = self.tmp / f"sock-{self.ns}"
        hold.mkdir(exist_ok=True)
        script = ('set -e; mount --bind "$1" "$2"; mount -t tmpfs none /run/systemd; '
                  'mkdir /run/systemd/journal; mount --bind "$2" /run/systemd/journal; '
                  'shift 2; exec "$@"')
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               script, "sh", str(self.sockdir), str(hold), *argv],
                              input=input_text, capture_output=True, text=True, timeout=30,
                              env=env)

    # ---- end -----------------------------------------------------------------

    def stop(self):
        if getattr(self, "keep", None):
            self.keep.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.sockdir, ignore_errors=True)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
