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
    # Renew and GetStatus of an unknown subscription: the service's faults,
    # text and code, each as its own error code.
    assert "renew after unsubscribe: fault 2150858" in err, err
    assert err.split("renew after unsubscribe: ")[1].split("\n")[0].endswith(
        "(unable to renew the subscription)"), err
    assert err.split("status after unsubscribe: ")[1].split("\n")[0].endswith(
        "(unknown subscription)"), err


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


# ---- winrm subscribe -----------------------------------------------------------

def winrm(d, *args, timeout=30, wait=True):
    argv = [WINRM_BIN, "subscribe", "wsman/windows/EventLog", *args, f"-r:{d.url}",
            f"-u:{USER}"]
    env = dict(os.environ, WSM_PASSWORD=PASSWORD)
    if wait:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def subscriptions(d):
    """How many subscriptions wsmd holds: its log's subscribe lines less its
    unsubscribe lines."""
    log = d.log()
    return (log.count("event=eventsource-subscribe "),
            log.count("event=eventsource-unsubscribe "))


def test_winrm_subscribe_count_xml(evd):
    """-readexisting -count:N: the N oldest matching events, as received
    (-format:xml), in order; then it unsubscribes."""
    tag = secrets.token_hex(3)
    for i in range(4):
        evd.journal.logger(f"w{tag}", "warning", f"msg {i} {tag}")
    wait_until_journal(evd, f"w{tag}", 4)
    r = winrm(evd, f"-filter:{qlist(f'w{tag}')}", "-readexisting", "-count:3", "-format:xml")
    assert r.returncode == 0, r.stderr
    # As enumerate's -format:xml: the items inside one wsman:Results.
    assert r.stdout.startswith("<wsman:Results"), r.stdout
    lines = events(r.stdout)
    assert len(lines) == 3, r.stdout
    for i, ln in enumerate(lines):
        assert ln.startswith("<Event") and f"msg {i} {tag}" in ln, ln
        assert "<Level>3</Level>" in ln, ln
    # winrm unsubscribed on its way out.
    assert subscriptions(evd) == (1, 1), evd.log()


def events(out):
    return [ln for ln in out.splitlines() if ln.startswith("<Event")]


def wait_until_journal(d, ident, n):
    """journald has the n entries of ident (a subscriber with -readexisting
    then sees them all): polled with journalctl on the test's directory."""
    import time
    end = time.monotonic() + 10
    while time.monotonic() < end:
        cp = subprocess.run(["journalctl", "-D", str(d.journal.dir), "-t", ident, "-o", "cat"],
                            capture_output=True, text=True)
        if len(cp.stdout.splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"journald did not store {n} entries of {ident}")


def test_winrm_subscribe_follow_text_and_json(evd):
    """-follow prints events written after the Subscribe as they come (text
    format); -format:json gives a JSON array."""
    tag = secrets.token_hex(3)
    p = winrm(evd, f"-filter:{qlist(f'f{tag}')}", "-follow", "-count:2", wait=False)
    # Subscribed once wsmd logged it; events written before are not wanted.
    import time
    end = time.monotonic() + 10
    while "event=eventsource-subscribe" not in evd.log() and time.monotonic() < end:
        time.sleep(0.02)
    evd.journal.logger(f"f{tag}", "err", f"one {tag}")
    evd.journal.logger(f"f{tag}", "info", f"two {tag}")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert subscriptions(evd) == (1, 1), evd.log()
    assert f"one {tag}" in out and f"two {tag}" in out, out
    assert out.index(f"one {tag}") < out.index(f"two {tag}")
    assert "Event" in out and "<Event" not in out, out  # text, not XML

    r = winrm(evd, f"-filter:{qlist(f'f{tag}')}", "-readexisting", "-count:2", "-format:json")
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout)
    assert f"one {tag}" in json.dumps(doc) and f"two {tag}" in json.dumps(doc), doc


def test_winrm_subscribe_bookmark_file(evd, tmp_path):
    """-bookmark:FILE: a second run prints exactly what came after the
    first run's last event, none twice."""
    tag = secrets.token_hex(3)
    bm = tmp_path / "bm.xml"
    for i in range(2):
        evd.journal.logger(f"b{tag}", "err", f"a{i} {tag}")
    wait_until_journal(evd, f"b{tag}", 2)
    r = winrm(evd, f"-filter:{qlist(f'b{tag}')}", "-readexisting", "-count:2", f"-bookmark:{bm}",
              "-format:xml")
    assert r.returncode == 0, r.stderr
    assert f"a0 {tag}" in r.stdout and f"a1 {tag}" in r.stdout
    assert bm.read_text().startswith("<BookmarkList"), bm.read_text()
    for i in range(2):
        evd.journal.logger(f"b{tag}", "err", f"b{i} {tag}")
    wait_until_journal(evd, f"b{tag}", 4)
    # -readexisting is overridden by the bookmark: resume after a1.
    r = winrm(evd, f"-filter:{qlist(f'b{tag}')}", "-readexisting", "-count:5", f"-bookmark:{bm}",
              "-format:xml", "-timeout:3000")
    assert r.returncode == 0, r.stderr
    lines = events(r.stdout)
    assert len(lines) == 2, r.stdout
    assert f"b0 {tag}" in lines[0] and f"b1 {tag}" in lines[1], lines
    assert not (tmp_path / "bm.xml.tmp").exists()


def test_winrm_subscribe_channel_name_and_quiet_end(evd):
    """-filter:Application is the whole channel; without -follow or -count
    the command ends once a Pull waited in vain (-timeout:2000: 1 s)."""
    tag = secrets.token_hex(3)
    evd.journal.logger(f"c{tag}", "notice", f"chan {tag}")
    wait_until_journal(evd, f"c{tag}", 1)
    r = winrm(evd, "-filter:Application", "-readexisting", "-format:xml", "-timeout:2000")
    assert r.returncode == 0, r.stderr
    assert f"chan {tag}" in r.stdout


def test_winrm_subscribe_faults(evd, tmp_path):
    # The service's fault: Windows code and text, as winrm prints faults.
    r = winrm(evd, "-filter:NoSuchChannel")
    assert r.returncode == 1, r
    assert "0x80338122" in r.stderr and "unknown channel 'NoSuchChannel'" in r.stderr, r.stderr
    bm = tmp_path / "bm.xml"
    bm.write_text("<BookmarkList><Bookmark Channel='Application' RecordId='zz'/></BookmarkList>")
    r = winrm(evd, "-filter:Application", f"-bookmark:{bm}")
    assert r.returncode == 1 and "0x80338038" in r.stderr, r.stderr  # w:InvalidBookmark
    # Usage errors: exit 2, nothing sent.
    r = winrm(evd)
    assert r.returncode == 2 and "-filter" in r.stderr, r.stderr
    r = winrm(evd, "-filter:<QueryList>")
    assert r.returncode == 2 and "well-formed" in r.stderr, r.stderr
    r = winrm(evd, "-filter:Application", "-count:0")
    assert r.returncode == 2 and "-count" in r.stderr, r.stderr
    r = subprocess.run([WINRM_BIN, "enumerate", "wmicimv2/Win32_Service", "-follow"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "go with subscribe" in r.stderr, r.stderr


def test_winrm_subscribe_follow_interrupted(evd):
    """Ctrl-C (SIGINT) ends -follow cleanly: exit 0, the events so far
    printed, the subscription gone from wsmd."""
    import signal
    import time
    tag = secrets.token_hex(3)
    p = winrm(evd, f"-filter:{qlist(f'i{tag}')}", "-follow", "-format:xml", wait=False)
    end = time.monotonic() + 10
    while "event=eventsource-subscribe" not in evd.log() and time.monotonic() < end:
        time.sleep(0.02)
    evd.journal.logger(f"i{tag}", "err", f"before ^C {tag}")
    # Printed as soon as it came: read it before interrupting.
    got = ""
    while f"before ^C {tag}" not in got:
        line = p.stdout.readline()
        assert line, p.stderr.read()
        got += line
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert (got + out).rstrip().endswith("</wsman:Results>"), got + out
    assert subscriptions(evd) == (1, 1), evd.log()
