"""The journal as Windows events (src/evsrc) against a real systemd-journald.

Entries are written by the programs a Linux admin uses (logger, systemd-cat,
`wsmd eventcreate`, the native protocol as sd_journal_send speaks it) into a
journald of the test's own (journald.py), and read back through the event
source with tests/tools/evread.c, as a subscription will read them: the
Windows event schema, the channel map, the query, bookmarks, following.
The events are checked with Python's own XML parser.
"""

import os
import secrets
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import journald

REPO = Path(__file__).resolve().parents[2]
WSMD = os.environ.get("WSMD_BIN") or str(REPO / "build" / "wsmd")
EVREAD = os.environ.get("EVREAD_BIN") or str(Path(WSMD).parent / "tests" / "unit" / "evread")
NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


@pytest.fixture
def jd(tmp_path):
    why = journald.usable()
    if why:
        pytest.skip(why)
    if not os.access(EVREAD, os.X_OK):
        pytest.skip(f"evread not built: {EVREAD}")
    j = journald.Journald(tmp_path)
    yield j
    j.stop()


def ql(*selects):
    body = "".join(f"<{k} Path='{p}'>{x}</{k}>" for k, p, x in selects)
    return f"<QueryList><Query Id='0'>{body}</Query></QueryList>"


def evread(jd, *args, query="*", timeout=30):
    cp = subprocess.run([EVREAD, "-d", jd.directory, "-q", query, *args],
                        capture_output=True, text=True, timeout=timeout)
    return cp


def events(jd, *args, query="*", n=None, timeout=10.0):
    """Reads from the oldest entry until n events match (entries reach the
    files a moment after the write returns), parsed."""
    end = time.monotonic() + timeout
    while True:
        cp = evread(jd, "-o", *args, query=query)
        assert cp.returncode == 0, cp.stderr
        evs = [parse(line) for line in cp.stdout.splitlines() if line]
        if n is None or len(evs) >= n or time.monotonic() > end:
            return evs
        time.sleep(0.05)


class Ev:
    def __init__(self, root):
        self.root = root
        s = root.find(NS + "System")
        self.provider = s.find(NS + "Provider").get("Name")
        self.event_id = int(s.find(NS + "EventID").text)
        self.level = int(s.find(NS + "Level").text)
        self.channel = s.find(NS + "Channel").text
        self.computer = s.find(NS + "Computer").text
        self.record_id = int(s.find(NS + "EventRecordID").text)
        self.time = s.find(NS + "TimeCreated").get("SystemTime")
        self.pid = int(s.find(NS + "Execution").get("ProcessID"))
        self.user_sid = s.find(NS + "Security").get("UserID")
        self.data = {d.get("Name"): (d.text or "") for d in root.iter(NS + "Data")}
        ri = root.find(NS + "RenderingInfo")
        self.rendered = None if ri is None else {c.tag[len(NS):]: c.text for c in ri}


def parse(line):
    return Ev(ET.fromstring(line))


def tag():
    return "t" + secrets.token_hex(4)


# ---- the Contract ----------------------------------------------------------

def test_programs_are_application_with_provider_and_level(jd):
    """systemd-cat -t NAME -p err and logger -t NAME: channel Application,
    Provider Name=NAME, Level from the priority (err 2, warning 3, info and
    notice 4)."""
    name = tag()
    cp = jd.in_ns(["systemd-cat", "-t", name, "-p", "err", "echo", "from systemd-cat"])
    assert cp.returncode == 0, cp.stderr
    jd.logger("-t", name, "-p", "user.warning", "from logger warning")
    jd.logger("-t", name, "-p", "user.notice", "from logger notice")
    jd.logger("-t", name, "-p", "local3.info", "from logger info")
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{name}']]]"))
    evs = events(jd, "-r", query=q, n=4)
    got = sorted((e.rendered["Message"], e.level, e.channel, e.provider) for e in evs)
    assert got == sorted([("from systemd-cat", 2, "Application", name),
                          ("from logger warning", 3, "Application", name),
                          ("from logger notice", 4, "Application", name),
                          ("from logger info", 4, "Application", name)])
    for e in evs:
        assert e.rendered["Channel"] == "Application" and e.rendered["Provider"] == name
        assert e.user_sid == "S-1-22-1-0"  # root wrote them
        assert e.pid > 0
        assert e.computer == os.uname().nodename
    # The Level filter of the brief's example picks the error alone.
    q = ql(("Select", "Application",
            f"*[System[(Level=1 or Level=2) and Provider[@Name='{name}'] and "
            "TimeCreated[timediff(@SystemTime) &lt;= 86400000]]]"))
    evs = events(jd, query=q)
    assert [e.level for e in evs] == [2]


def test_eventcreate_round_trip(jd):
    src = tag()
    cp = jd.in_ns([WSMD, "eventcreate", "/T", "ERROR", "/ID", "100", "/L", "APPLICATION",
                   "/SO", src, "/D", "disk <almost> full & more"])
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith("SUCCESS: An event of type 'ERROR' was created in the "
                                "'APPLICATION' log")
    cp = jd.in_ns([WSMD, "eventcreate", "/t", "information", "/id", "7", "/l", "system",
                   "/so", src, "/d", "to System"])
    assert cp.returncode == 0, cp.stderr
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{src}'] and (EventID=100)]]"),
           ("Select", "System", f"*[System[Provider[@Name='{src}']]]"))
    evs = events(jd, "-r", query=q, n=2)
    assert [(e.channel, e.event_id, e.level) for e in evs] == [("Application", 100, 2),
                                                              ("System", 7, 4)]
    assert evs[0].rendered["Message"] == "disk <almost> full & more"
    assert evs[0].rendered["Level"] == "Error"
    assert evs[0].data["EVENT_ID"] == "100"
    assert not [e for e in events(jd, query=ql(("Select", "Security", "*"))) if e.provider == src]


def test_eventcreate_refusals(jd):
    for args, msg in [(["/T", "BAD", "/ID", "1", "/D", "x"], "Invalid Type"),
                      (["/T", "ERROR", "/ID", "1001", "/D", "x"], "Invalid Event ID"),
                      (["/T", "ERROR", "/ID", "1", "/L", "SECURITY", "/D", "x"],
                       "Invalid log name"),
                      (["/T", "ERROR", "/ID", "1"], "required"),
                      (["/S", "host", "/T", "ERROR", "/ID", "1", "/D", "x"], "not supported")]:
        cp = jd.in_ns([WSMD, "eventcreate", *args])
        assert cp.returncode == 2 and msg in cp.stderr, (args, cp)
    # Without a journald there is nowhere to write: an error, not SUCCESS.
    cp = subprocess.run(["unshare", "--mount", "sh", "-c",
                         f"mount -t tmpfs none /run/systemd && exec {WSMD} eventcreate "
                         "/T ERROR /ID 1 /D x"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 1 and "no journald" in cp.stderr, cp


# ---- channels ------------------------------------------------------------------

def test_security_and_system_channels(jd):
    t = tag()
    jd.logger("-t", "sudo", "-p", "authpriv.notice", f"{t} session opened for user root")
    jd.logger("-t", "sshd", "-p", "auth.info", f"{t} Accepted publickey for alice")
    jd.logger("-t", "wsmd", "-p", "daemon.warning",
              f"event=auth-failure user={t} address=::1 scheme=basic reason=bad")
    jd.logger("-t", "wsmd", "-p", "daemon.info", f"event=listening {t}")
    # journald's own lines are System ("Journal started").
    sec = [e for e in events(jd, query=ql(("Select", "Security", "*")), n=3)
           if t in e.data.get("MESSAGE", "")]
    assert sorted(e.provider for e in sec) == ["sshd", "sudo", "wsmd"]
    app = [e for e in events(jd, query=ql(("Select", "Application", "*")))
           if t in e.data.get("MESSAGE", "")]
    assert [e.provider for e in app] == ["wsmd"]
    sysev = events(jd, query=ql(("Select", "System", "*")))
    assert any(e.provider == "systemd-journald" for e in sysev)
    assert all(e.channel == "System" for e in sysev)


def _cgroup2_root():
    for line in Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup2":
            return f[1]
    return None


def test_unit_channel(jd):
    """An entry of a service is also in Unit/<unit>: journald takes the unit
    from the writer's cgroup, so the writer is put in a cgroup named like a
    service (under a slice, as systemd would), and stays alive until the
    entry is in the journal (journald reads /proc/PID/cgroup of the sender)."""
    root = _cgroup2_root()
    if not root or not os.access(root, os.W_OK):
        pytest.skip("no writable cgroup2 hierarchy")
    t = tag()
    unit = t + ".service"
    slice_ = Path(root) / (t + ".slice")
    cg = slice_ / unit
    cg.mkdir(parents=True)
    writer = ("import socket, sys\n"
              "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
              "s.connect(sys.argv[1])\n"
              "s.send(b'MESSAGE=in-unit\\nSYSLOG_IDENTIFIER=svc\\nPRIORITY=3\\n')\n"
              "sys.stdin.read()\n")
    p = subprocess.Popen(["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh",
                          "python3", "-c", writer, str(jd.sockdir / "socket")],
                         stdin=subprocess.PIPE, text=True)
    try:
        q = ql(("Select", f"Unit/{unit}", "*[System[Level=2]]"))
        evs = events(jd, query=q, n=1)
    finally:
        p.communicate("", timeout=10)
        cg.rmdir()
        slice_.rmdir()
    jd.logger("-t", "svc", "-p", "daemon.err", "not-in-unit")
    assert [(e.channel, e.data["MESSAGE"]) for e in evs] == [(f"Unit/{unit}", "in-unit")]
    assert evs[0].data["_SYSTEMD_UNIT"] == unit
    # The same entry is in Application too, under that name; the other not
    # in the unit.
    app = [e for e in events(jd, query=ql(("Select", "Application", "*")), n=2)
           if e.data.get("MESSAGE") in ("in-unit", "not-in-unit")]
    assert sorted((e.channel, e.data["MESSAGE"]) for e in app) == [
        ("Application", "in-unit"), ("Application", "not-in-unit")]
    assert [e.data["MESSAGE"] for e in events(jd, query=q)] == ["in-unit"]


# ---- content ---------------------------------------------------------------

def test_binary_and_control_characters(jd):
    t = tag()
    jd.native([("MESSAGE", b"bell\x07 nul\x00 bad\xff\xfe utf8 \xc3\xa9 <&>'\" cr\r end"),
               ("SYSLOG_IDENTIFIER", t), ("PRIORITY", "4"), ("SYSLOG_FACILITY", "1"),
               ("BLOB", bytes(range(256))), ("EVENT_ID", "4242")])
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
    evs = events(jd, "-r", query=q, n=1)
    assert len(evs) == 1
    e = evs[0]
    assert e.event_id == 4242 and e.level == 3
    assert e.rendered["Message"] == ("bell\\u0007 nul\\u0000 bad\\xFF\\xFE utf8 \u00e9 <&>'\" "
                                     "cr\r end")
    assert "\\u001F !\"#" in e.data["BLOB"] and "\\x80\\x81" in e.data["BLOB"]


def test_system_fields_match_the_journal(jd):
    """EventRecordID is the journal's sequence number, TimeCreated its
    __REALTIME_TIMESTAMP (UTC, 7 digits), as journalctl shows them."""
    t = tag()
    jd.logger("-t", t, "one")
    evs = events(jd, query=ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]")),
                 n=1)
    cp = subprocess.run(["journalctl", "-D", jd.directory, "-o", "export", f"SYSLOG_IDENTIFIER={t}"],
                        capture_output=True, text=True, timeout=30)
    exp = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line)
    seq = int(exp["__CURSOR"].split(";i=")[1].split(";")[0], 16)
    assert evs[0].record_id == seq
    # A query on EventRecordID takes exactly that entry.
    got = events(jd, query=ql(("Select", "Application", f"*[System[EventRecordID={seq}]]")))
    assert [e.record_id for e in got] == [seq]
    us = int(exp["__REALTIME_TIMESTAMP"])
    want = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us // 1000000)) + \
        f".{us % 1000000:06d}0Z"
    assert evs[0].time == want


# ---- queries -----------------------------------------------------------------

def test_suppress_and_eventid(jd):
    t = tag()
    for i in (1, 2, 3):
        jd.native([("MESSAGE", f"m{i}"), ("SYSLOG_IDENTIFIER", t), ("EVENT_ID", str(i)),
                   ("PRIORITY", "6")])
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"),
           ("Suppress", "Application", "*[System[(EventID=2)]]"))
    evs = events(jd, query=q, n=2)
    assert [e.event_id for e in evs] == [1, 3]


def test_refused_queries(jd):
    cp = evread(jd, query=ql(("Select", "Application", "*[EventData[Data[@Name='x']='y']]")))
    assert cp.returncode == 3 and "EventData" in cp.stderr, cp
    cp = evread(jd, query=ql(("Select", "NoSuchLog", "*")))
    assert cp.returncode == 2 and "unknown channel" in cp.stderr, cp


# ---- positions -----------------------------------------------------------------

def test_bookmark_resumes_exactly_after(jd, tmp_path):
    t = tag()
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
    for i in range(3):
        jd.logger("-t", t, f"e{i}")
    events(jd, query=q, n=3)
    bm = tmp_path / "bm.xml"
    cp = evread(jd, "-o", "-m", "2", "-B", str(bm), query=q)
    assert [parse(x).data["MESSAGE"] for x in cp.stdout.splitlines()] == ["e0", "e1"]
    text = bm.read_text()
    assert text.startswith("<BookmarkList><Bookmark Channel='Application' RecordId='")
    for i in range(3, 5):
        jd.logger("-t", t, f"e{i}")
    events(jd, query=q, n=5)
    cp = evread(jd, "-b", str(bm), "-B", str(bm), query=q)
    assert cp.returncode == 0, cp.stderr
    assert [parse(x).data["MESSAGE"] for x in cp.stdout.splitlines()] == ["e2", "e3", "e4"]
    # From the new bookmark: nothing left.
    cp = evread(jd, "-b", str(bm), query=q)
    assert cp.stdout == ""
    # A bookmark that is not ours, or a cursor the journal cannot read, is
    # refused.
    bad = tmp_path / "bad.xml"
    for text in ["<BookmarkList><Bookmark Channel='Application' RecordId='5' "
                 "IsCurrent='true'/></BookmarkList>",
                 "<BookmarkList><Bookmark Cursor='s=zz;q=1'/></BookmarkList>"]:
        bad.write_text(text)
        cp = evread(jd, "-b", str(bad), query=q)
        assert cp.returncode == 4 and "invalid" in cp.stderr.lower(), (text, cp)


def test_from_now_and_follow(jd):
    """A reader opened "now" sees only later entries, woken by its fd."""
    t = tag()
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
    jd.logger("-t", t, "before")
    events(jd, query=q, n=1)
    p = subprocess.Popen([EVREAD, "-d", jd.directory, "-q", q, "-n", "-R", "-t", "-w", "20000",
                          "-m", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr.readline().strip() == "ready"
        sent = []
        for i in range(3):
            sent.append(time.time())
            jd.logger("-t", t, f"after{i}")
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert [parse(x.split(" ", 1)[1]).data["MESSAGE"] for x in lines] == \
        ["after0", "after1", "after2"]
    lat = [int(x.split(" ", 1)[0]) / 1e6 - s for x, s in zip(lines, sent)]
    print(f"# write-to-read latency (s): {[round(x, 4) for x in lat]}")
    assert max(lat) < 5.0


def test_follow_across_rotation(jd, tmp_path):
    """A reader following the journal reads on into the file journald
    begins at a rotation, and a bookmark taken before it resumes after it."""
    t = tag()
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
    bm = tmp_path / "bm.xml"
    jd.logger("-t", t, "r0")
    events(jd, query=q, n=1)
    cp = evread(jd, "-o", "-B", str(bm), query=q)
    assert [parse(x).data["MESSAGE"] for x in cp.stdout.splitlines()] == ["r0"]
    p = subprocess.Popen([EVREAD, "-d", jd.directory, "-q", q, "-n", "-R", "-w", "20000",
                          "-m", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr.readline().strip() == "ready"
        jd.logger("-t", t, "r1")
        jd.rotate()
        jd.logger("-t", t, "r2")
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert [parse(x).data["MESSAGE"] for x in out.splitlines()] == ["r1", "r2"]
    assert len(list(Path(jd.directory).glob("system@*.journal"))) >= 1
    cp = evread(jd, "-b", str(bm), query=q)
    assert [parse(x).data["MESSAGE"] for x in cp.stdout.splitlines()] == ["r1", "r2"]


def test_many_readers_share_one_journal(jd, tmp_path):
    """Readers share one sd_journal (one inotify instance, whatever their
    number: Linux allows 128 per user by default), each with its own
    position: readers moving in turn read the same events, and a bookmark
    taken by one while others move resumes exactly."""
    t = tag()
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
    for i in range(20):
        jd.logger("-t", t, f"m{i}")
    events(jd, query=q, n=20)
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    cp = evread(jd, "-N", str(limit + 100), query=q)
    assert cp.returncode == 0, cp.stderr
    per = dict(kv.split("=") for kv in cp.stdout.split())
    print(f"# {per}")
    assert float(per["rss_kb_per_reader"]) < 16 and float(per["fds_per_reader"]) <= 1.01, per
    cp = evread(jd, "-o", "-I", "5", query=q)
    assert cp.returncode == 0 and cp.stdout.strip() == "readers=5 events=20 identical=yes", cp


def test_long_scan_is_cut_into_calls(jd):
    """A query that skips thousands of entries: each call examines a bounded
    number (readers of one journal share its lock), says TIMED_OUT with the fd
    readable, and the caller that polls the fd comes back and finds the match."""
    t = tag()
    s = journald.socket.socket(journald.socket.AF_UNIX, journald.socket.SOCK_DGRAM)
    s.connect(str(jd.sockdir / "socket"))
    for i in range(10000):
        s.send(b"MESSAGE=filler %d\nSYSLOG_IDENTIFIER=filler\n" % i)
    s.close()
    jd.logger("-t", t, "needle")
    q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
    evs = events(jd, query=q, n=1)
    assert [e.data["MESSAGE"] for e in evs] == ["needle"]
    cp = evread(jd, "-o", "-I", "3", query=q)
    assert cp.stdout.strip() == "readers=3 events=1 identical=yes", cp


def test_reading_needs_the_journal_group(jd):
    """What the network process has after privilege separation: the wsmd
    account with the systemd-journal group reads the journal; without it the
    reader says it has no journal instead of showing an empty one."""
    import grp
    import pwd
    import shutil
    import tempfile
    try:
        pwd.getpwnam("wsmd")
        grp.getgrnam("systemd-journal")
    except KeyError:
        pytest.skip("no wsmd account or systemd-journal group")
    if not shutil.which("setpriv"):
        pytest.skip("no setpriv")
    t = tag()
    jd.logger("-t", t, "for the group")
    events(jd, query=ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]")), n=1)
    d = tempfile.mkdtemp(prefix="evread-")  # reachable by the wsmd account
    try:
        os.chmod(d, 0o755)
        tool = shutil.copy(EVREAD, d)
        q = ql(("Select", "Application", f"*[System[Provider[@Name='{t}']]]"))
        base = ["setpriv", "--reuid=wsmd", "--regid=wsmd"]
        cp = subprocess.run(base + ["--groups=systemd-journal", tool, "-d", jd.directory, "-o",
                                    "-q", q], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, cp.stderr
        assert [parse(x).data["MESSAGE"] for x in cp.stdout.splitlines()] == ["for the group"]
        cp = subprocess.run(base + ["--clear-groups", tool, "-d", jd.directory, "-o", "-q", q],
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 4 and "error=" in cp.stderr, cp
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_journal_directory_key_is_checked(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("JournalDirectory = relative/dir\nListen = http://127.0.0.1:0\n")
    cp = subprocess.run([WSMD, "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0 and "JournalDirectory" in cp.stderr, cp
