"""A pytest plugin for tests/run: one line per test file as it finishes.

tests/run sends pytest's own output to a log (it is long, and only the
failures in it matter) and loads this plugin with `-p wsmd_progress`, so
that `make check` shows where it is instead of minutes of silence. The
lines go to the file descriptor named by $WSMD_PROGRESS_FD (tests/run
opens it on its own stdout), written with os.write: pytest's capture
replaces fds 1 and 2 only, and an unbuffered write shows at once even
through a pipe. Without the variable the plugin does nothing.

    [  12s] test_identify.py: 14 passed, 0 failed, 0 skipped (3.2 s)
    [  40s] FAILED tests/interop/test_shell.py::test_exit_code
"""

import os
import time

_fd = None
_start = 0.0
_left = {}     # file -> tests of it not finished yet
_tests = {}    # file -> its node ids
_began = {}    # file -> time its first test started
_outcome = {}  # node id -> "passed", "failed" or "skipped"


def _say(text):
    line = f"[{time.monotonic() - _start:5.0f}s] {text}\n"
    try:
        os.write(_fd, line.encode())
    except OSError:
        pass


def _file(nodeid):
    return nodeid.split("::", 1)[0]


def pytest_configure(config):
    global _fd, _start
    fd = os.environ.get("WSMD_PROGRESS_FD")
    if fd and fd.isdigit():
        _fd = int(fd)
        _start = time.monotonic()


def pytest_collection_finish(session):
    if _fd is None:
        return
    for item in session.items:
        f = _file(item.nodeid)
        _left[f] = _left.get(f, 0) + 1
        _tests.setdefault(f, []).append(item.nodeid)
    _say(f"{len(session.items)} tests in {len(_left)} files")


def pytest_runtest_logstart(nodeid, location):
    if _fd is not None:
        _began.setdefault(_file(nodeid), time.monotonic())


def pytest_runtest_logreport(report):
    """A test counts once: failed if any of its phases failed (and said at
    once), else skipped if its setup or call skipped, else passed."""
    if _fd is None:
        return
    nodeid = report.nodeid
    if report.failed:
        if _outcome.get(nodeid) != "failed":
            what = "FAILED" if report.when == "call" else "ERROR"
            _say(f"{what} {nodeid} ({report.when})")
        _outcome[nodeid] = "failed"
    elif report.skipped and _outcome.get(nodeid) != "failed":
        _outcome[nodeid] = "skipped"
    elif report.passed and report.when == "call" and nodeid not in _outcome:
        _outcome[nodeid] = "passed"


def pytest_runtest_logfinish(nodeid, location):
    if _fd is None:
        return
    f = _file(nodeid)
    if f not in _left:
        return
    _left[f] -= 1
    if _left[f] == 0:
        got = [_outcome.get(n) for n in _tests[f]]
        p, x, s = got.count("passed"), got.count("failed"), got.count("skipped")
        took = time.monotonic() - _began.get(f, time.monotonic())
        _say(f"{os.path.basename(f)}: {p} passed, {x} failed, {s} skipped ({took:.1f} s)")
