"""Disconnected shells (MS-WSMV 3.1.4.15-17): Disconnect, Reconnect and
Connect against a real wsmd, with raw requests posted over loopback, each
on a connection of its own (so every Reconnect comes from a new one).

Checked: commands run on while the shell is disconnected; BufferMode Block
blocks the child when the buffers are full and a Reconnect then receives
everything, nothing lost or repeated; BufferMode Drop lets the child run to
its end and keeps the newest output; Connect and Reconnect by another user
are refused; the Disconnect's IdleTimeOut closes a shell nobody reconnects;
the client's ShellId at Create (unique, a GUID); a SequenceId replay of a
reply lost before the Disconnect.
"""

import base64
import os
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from shell_helpers import (ACT_CREATE, RSP, SHELL_NS, SLOW, Raw, Received, fault_of,
                           pids_matching, wait_for)

ACT_DISCONNECT = SHELL_NS + "/Disconnect"
ACT_RECONNECT = SHELL_NS + "/Reconnect"
ACT_CONNECT = SHELL_NS + "/Connect"
ACT_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
CODE_SHELL_NOT_FOUND = "2150858843"


@pytest.fixture
def flags():
    made = []
    yield made
    for f in made:
        try:
            f.unlink()
        except FileNotFoundError:
            pass


def disconnect_body(idle=None, mode=None):
    d = {}
    if idle is not None:
        d["rsp:IdleTimeOut"] = idle
    if mode is not None:
        d["rsp:BufferMode"] = mode
    return {"rsp:Disconnect": d or None}


def connect_body():
    # PowerShell's shape: open content (its connectXml) inside rsp:Connect.
    return {"rsp:Connect": {"connectXml": {
        "@xmlns": "http://schemas.microsoft.com/powershell",
        "#text": base64.b64encode(b"<Obj/>").decode()}}}


def ok(reply, what):
    assert reply.status == 200, f"{what} failed: {reply!r}"
    return reply


def receive_all(raw, sid, cid, timeout=60):
    """Receives until Done: (stdout, exit code)."""
    out = b""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        reply, _ = raw.receive(sid, cid)
        if reply.status != 200 and b"2150858793" in reply.body:
            continue  # w:TimedOut: nothing yet
        r = Received(reply)
        out += r.stdout
        if r.done:
            return out, r.exit_code
    raise AssertionError(f"command not done within {timeout * SLOW:.0f}s: {out[-200:]!r}")


def receive_until(raw, sid, cid, want):
    out = b""
    deadline = time.monotonic() + 20 * SLOW
    while want not in out and time.monotonic() < deadline:
        reply, _ = raw.receive(sid, cid)
        if reply.status == 200:
            out += Received(reply).stdout
    assert want in out, out
    return out


def seq_pids(first):
    """Pids of `seq FIRST ...` processes (not the shell that runs them)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0] == b"seq" and argv[1] == str(first).encode():
            found.append(int(p))
    return found


def wchan(pid):
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return f.read().strip()
    except OSError:
        return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def start_writer(raw, sid, flags, lines, tag):
    """A command that prints 'start', waits for a flag file, then prints
    `seq 1 LINES` and 'done'. Returns (cid, flag path, expected rest)."""
    # Where the shell's account can see it (pytest's tmp_path is root's);
    # the flags fixture removes it if the test stops first.
    flag = Path(tempfile.gettempdir()) / f"wsmd-flag-{uuid.uuid4().hex}"
    flags.append(flag)
    script = (f"echo start; while [ ! -e {flag} ]; do sleep 0.02; done; "
              f"seq {tag} {lines + tag - 1}; echo done")
    cid = raw.command_id(raw.command(sid, script)[0])
    rest = "".join(f"{i}\n" for i in range(tag, lines + tag)).encode() + b"done\n"
    return cid, flag, rest


def test_disconnect_block_reconnect_gets_everything(shell_wsmd, flags):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    cid, flag, rest = start_writer(raw, sid, flags, 400000, 7000001)
    assert receive_until(raw, sid, cid, b"start\n") == b"start\n"

    ok(raw.call(ACT_DISCONNECT, sid, disconnect_body("PT120S", "Block"))[0], "Disconnect")
    # While disconnected nothing is taken: a Receive is refused, output stays.
    f = fault_of(raw.receive(sid, cid)[0])
    assert f.subcode == "w:InvalidParameter" and b"disconnected" in f.reply.body, f

    flag.touch()
    # ~2.9 MB of output: more than the ring (1 MiB) and the pipe (1 MiB)
    # hold, so with Block the writer must end up blocked in write.
    pids = wait_for(lambda: seq_pids(7000001), 10 * SLOW)
    flag.unlink()
    assert pids, "the command did not go on while disconnected"
    # (wchan is "pipe_write", "anon_pipe_write" or "pipe_wait" by kernel
    # version; None where it cannot be read.)
    assert wait_for(lambda: wchan(pids[0]) is None or "pipe_w" in wchan(pids[0]), 20 * SLOW), (
        wchan(pids[0]))
    assert alive(pids[0]), "BufferMode Block: the writer must block, not end"

    # Reconnect on a new connection (Raw opens one per request).
    ok(raw.call(ACT_RECONNECT, sid)[0], "Reconnect")
    out, code = receive_all(raw, sid, cid)
    assert code == 0
    assert out == rest, (len(out), len(rest), out[:80], out[-80:])


def test_disconnect_drop_keeps_newest(shell_wsmd, flags):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    cid, flag, rest = start_writer(raw, sid, flags, 700000, 8000001)
    receive_until(raw, sid, cid, b"start\n")
    ok(raw.call(ACT_DISCONNECT, sid, disconnect_body("PT120S", "Drop"))[0], "Disconnect")
    flag.touch()
    # Drop: the writer never blocks, it runs to its end while disconnected.
    # (The command's sh names the flag on its command line.)
    assert wait_for(lambda: not pids_matching(str(flag)), 30 * SLOW), (
        "BufferMode Drop: the writer blocked")
    flag.unlink()
    ok(raw.call(ACT_RECONNECT, sid)[0], "Reconnect")
    out, code = receive_all(raw, sid, cid)
    assert code == 0
    # The newest output, contiguous, up to the buffers' size; the oldest went.
    assert out.endswith(b"done\n")
    assert len(out) < len(rest) and len(out) <= (2 << 20) + 65536, len(out)
    assert rest.endswith(out)


def test_connect_and_reconnect_by_another_user_refused(shell_wsmd):
    d = shell_wsmd
    a = Raw(d, d.user1, d.pw1)
    b = Raw(d, d.user2, d.pw2)
    sid, _, _ = a.create()
    ok(a.call(ACT_DISCONNECT, sid, disconnect_body("PT60S"))[0], "Disconnect")
    for action, body in ((ACT_CONNECT, connect_body()), (ACT_RECONNECT, None)):
        f = fault_of(b.call(action, sid, body)[0])
        assert f.subcode == "w:AccessDenied", f
    # Still disconnected and its owner's: Connect takes it up.
    reply = ok(a.call(ACT_CONNECT, sid, connect_body())[0], "Connect")
    cr = ET.fromstring(reply.body).find("s:Body/rsp:ConnectResponse", RSP)
    assert cr is not None and cr.find("rsp:InputStreams", RSP).text == "stdin", reply
    # Connected now: a second Connect is refused (MS-WSMV: InternalError),
    # a Reconnect is a no-op.
    f = fault_of(a.call(ACT_CONNECT, sid, connect_body())[0])
    assert f.subcode == "w:InternalError", f
    ok(a.call(ACT_RECONNECT, sid)[0], "Reconnect of a connected shell")
    cid = a.command_id(a.command(sid, "echo back")[0])
    assert receive_all(a, sid, cid) == (b"back\n", 0)
    ok(a.delete(sid)[0], "Delete")
    # Unknown shells: the shell-not-found fault.
    f = fault_of(a.call(ACT_RECONNECT, str(uuid.uuid4()).upper())[0])
    assert f.wsman_code == CODE_SHELL_NOT_FOUND, f


def test_disconnected_shell_refuses_commands_and_wakes_receive(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    cid = raw.command_id(raw.command(sid, "sleep 30")[0])
    got = {}

    def parked():
        got["reply"] = raw.receive(sid, cid)[0]

    t = threading.Thread(target=parked, daemon=True)
    t.start()
    time.sleep(0.3)  # the Receive parks (nothing to poll for from outside)
    t0 = time.monotonic()
    ok(raw.call(ACT_DISCONNECT, sid, disconnect_body())[0], "Disconnect")
    t.join(10 * SLOW)
    assert "reply" in got and time.monotonic() - t0 < 5 * SLOW
    assert fault_of(got["reply"]).subcode == "w:InvalidParameter"
    for reply in (raw.command(sid, "true")[0], raw.send(sid, cid, b"x")[0],
                  raw.signal(sid, cid, SHELL_NS + "/signal/ctrl_c")[0]):
        f = fault_of(reply)
        assert f.subcode == "w:InvalidParameter" and b"disconnected" in reply.body, f
    # Bad Disconnect bodies.
    for body in ({"rsp:Disconnect": {"rsp:BufferMode": "Sometimes"}},
                 {"rsp:Disconnect": {"rsp:IdleTimeOut": "soon"}}, None):
        assert fault_of(raw.call(ACT_DISCONNECT, sid, body)[0]).subcode == "w:InvalidParameter"
    ok(raw.delete(sid)[0], "Delete of a disconnected shell")


def test_idle_timeout_after_disconnect_closes_shell(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create(idle_timeout="PT600S")
    cid = raw.command_id(raw.command(sid, "sleep 77.5")[0])
    assert wait_for(lambda: pids_matching("sleep 77.5"), 10 * SLOW)
    t0 = time.monotonic()
    ok(raw.call(ACT_DISCONNECT, sid, disconnect_body("PT1S"))[0], "Disconnect")

    def gone():
        # A Get (shell management) reads the shell without touching it.
        r = raw.call(ACT_GET, sid)[0]
        if r.status == 200:
            st = ET.fromstring(r.body).find("s:Body/rsp:Shell/rsp:State", RSP)
            assert st is not None and st.text == "Disconnected", r
            return False
        return fault_of(r).wsman_code == CODE_SHELL_NOT_FOUND

    assert wait_for(gone, 15 * SLOW, step=0.05), "shell still there after its IdleTimeOut"
    assert time.monotonic() - t0 >= 0.9
    assert wait_for(lambda: not pids_matching("sleep 77.5"), 10 * SLOW)
    assert fault_of(raw.receive(sid, cid)[0]).wsman_code == CODE_SHELL_NOT_FOUND


def test_client_shell_id(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    other = Raw(d, d.user2, d.pw2)
    mine = str(uuid.uuid4()).upper()
    body = {"rsp:Shell": {"@ShellId": mine, "@Name": "Runspace7",
                          "rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}}
    reply = ok(raw.call(ACT_CREATE, body=body)[0], "Create with a ShellId")
    root = ET.fromstring(reply.body)
    assert root.find("s:Body/rsp:Shell/rsp:ShellId", RSP).text == mine
    # Unique: taken by anybody, refused.
    for r in (raw, other):
        f = fault_of(r.call(ACT_CREATE, body=body)[0])
        assert f.subcode == "w:AlreadyExists", f
    bad = {"rsp:Shell": {"@ShellId": "../../etc", "rsp:InputStreams": "stdin"}}
    f = fault_of(raw.call(ACT_CREATE, body=bad)[0])
    assert f.subcode == "w:InvalidParameter", f
    cid = raw.command_id(raw.command(mine, "echo hi")[0])
    assert receive_all(raw, mine, cid) == (b"hi\n", 0)
    ok(raw.delete(mine)[0], "Delete")


def test_sequence_id_replay_across_reconnect(shell_wsmd):
    """A robust client whose last Receive reply was lost asks again with the
    same SequenceId after it reconnects: the same output, then the rest."""
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    cid = raw.command_id(raw.command(sid, "printf one; sleep 0.5; printf two")[0])

    def receive(seq):
        body = {"rsp:Receive": {"@SequenceId": str(seq), "rsp:DesiredStream": {
            "@CommandId": cid, "#text": "stdout stderr"}}}
        return raw.call(SHELL_NS + "/Receive", sid, body)[0]

    first = Received(ok(receive(0), "Receive 0"))
    assert first.stdout == b"one"
    ok(raw.call(ACT_DISCONNECT, sid, disconnect_body("PT60S"))[0], "Disconnect")
    ok(raw.call(ACT_RECONNECT, sid)[0], "Reconnect")
    again = Received(ok(receive(0), "Receive 0 again"))
    assert again.stdout == b"one"
    out = b""
    seq = 1
    deadline = time.monotonic() + 30 * SLOW
    while True:
        assert time.monotonic() < deadline, out
        reply = receive(seq)
        seq += 1
        if reply.status != 200:
            continue  # w:TimedOut
        r = Received(reply)
        out += r.stdout
        if r.done:
            break
    assert out == b"two"
