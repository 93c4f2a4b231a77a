"""libwsm's subscriber (src/lib/ev_client.c) against a real wsmd reading a
real journal (tests/interop/journald.py): examples/subscribe.c drives
wsm_subscribe / wsm_subscription_pull / _renew / _status / wsm_unsubscribe,
and `winrm subscribe` (a Linux addition to winrm) prints events as they
come. Events are written with logger(1) into the test's journald; what the
client saw is checked against what was written, and the server's state
(Renew, Unsubscribe) with raw SOAP (test_eventlog_pull's helpers).
"""

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from test_eventlog_pull import (  # noqa: F401 (fixtures)
    EN, EVQUERY, Journal, call, evd, fault_of, journal, query)
from wsman_helpers import PASSWORD, USER

REPO_ROOT = Path(__file__).resolve().parents[2]
WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")
SUBSCRIBE_BIN = os.environ.get("SUBSCRIBE_BIN") or str(Path(WINRM_BIN).parent / "subscribe")


def qlist(provider):
    return query(select=f"*[System[Provider[@Name='{provider}']]]")


def example(d, q, count, bookmark=None, timeout=30):
    args = [SUBSCRIBE_BIN, d.url, USER, q, str(count)]
    if bookmark:
        args.append(str(bookmark))
    env = dict(os.environ, WSM_PASSWORD=PASSWORD)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def finish(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def wait_subscribed(p):
    """The example prints its status line once subscribed; read it."""
    line = p.stderr.readline()
    assert line.startswith("subscription uuid:"), line
    return line


def test_example_pull_renew_unsubscribe(evd):
    tag = secrets.token_hex(3)
    p = example(evd, qlist(f"ex{tag}"), 3)
    status = wait_subscribed(p)
    # Expires PT1H asked: GetStatus says about an hour is left.
    left = int(status.split(",")[1].split()[0])
    assert 3_500_000 < left <= 3_600_000, status
    for i in range(3):
        evd.journal.logger(f"ex{tag}", "err", f"event {i} {tag}")
    evd.journal.logger(f"other{tag}", "err", "not matched")
    rc, out, err = finish(p)
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 3, out
    for i, line in enumerate(lines):
        assert line.startswith("<Event") and f"ex{tag}" in line and f"event {i} {tag}" in line, line
        assert 'xmlns="http://schemas.microsoft.com/win/2004/08/events/event"' in line, line
    assert "renew: ok" in err and "unsubscribe: ok" in err, err
    assert "pull after unsubscribe: refused" in err, err


def test_example_bookmark_resume(evd, tmp_path):
    """Events written while no subscriber runs are read by the next one,
    which resumes after the bookmark the first saved."""
    tag = secrets.token_hex(3)
    bm = tmp_path / "bookmark.xml"
    p = example(evd, qlist(f"bm{tag}"), 1, bookmark=bm)
    wait_subscribed(p)
    evd.journal.logger(f"bm{tag}", "err", f"first {tag}")
    rc, out, err = finish(p)
    assert rc == 0 and f"first {tag}" in out, err
    assert bm.read_text().startswith("<BookmarkList"), bm.read_text()
    for i in range(2):
        evd.journal.logger(f"bm{tag}", "err", f"gap {i} {tag}")
    p = example(evd, qlist(f"bm{tag}"), 2, bookmark=bm)
    rc, out, err = finish(p)
    assert rc == 0, err
    assert f"first {tag}" not in out
    assert f"gap 0 {tag}" in out.splitlines()[0] and f"gap 1 {tag}" in out.splitlines()[1], out


def test_example_faults_have_their_text(evd, tmp_path):
    # A QueryList naming a channel this host lacks: w:CannotProcessFilter.
    p = example(evd, query(path="NoSuchChannel"), 1)
    rc, out, err = finish(p)
    assert rc == 1 and out == "", (out, err)
    # The fault's text and Windows code, and the library's own code for it
    # (WSM_ERR_CANNOT_PROCESS_FILTER, whose wsm_strerror the example adds).
    assert "fault 2150859042:" in err and "unknown channel 'NoSuchChannel'" in err, err
    assert err.rstrip().endswith("(cannot process the filter)"), err
    # Not XML at all: refused by the library before anything is sent.
    p = example(evd, "<QueryList>", 1)
    rc, out, err = finish(p)
    assert rc == 1 and "not one well-formed XML element" in err, err
    # A bookmark that is not wsmd's: w:InvalidBookmark.
    bm = tmp_path / "bm.xml"
    bm.write_text('<BookmarkList><Bookmark Channel="Application" RecordId="x"/></BookmarkList>')
    p = example(evd, qlist("x"), 1, bookmark=bm)
    rc, out, err = finish(p)
    assert rc == 1 and err.rstrip().endswith("(invalid bookmark)"), err
