"""The remote shell (WinRS) of wsmd driven by python3-winrm 0.3.0.

Each test gets its own daemon (shell_wsmd, conftest.py) with the two shell
accounts; as root those are real local accounts and the commands run as
them. Commands run under /bin/sh -c (the command and its arguments joined
with spaces, like cmd.exe makes one line of them).
"""

import hashlib
import os
import pwd
import secrets
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
import winrm
from winrm.exceptions import WinRMError

from shell_helpers import (ACT_CREATE, CODE_INVALID_SELECTORS, CODE_TIMED_OUT,
                           RSP, SIG_CTRL_C, SIG_TERMINATE, SLOW, STATE_DONE, Raw,
                           Received, children, create_body, fault_of, fd_count, proc_stat,
                           fd_list, get_output, pids_matching, protocol, qname_ns,
                           receive_once, receive_until, run_in_shell, send_input,
                           send_signal, wait_for, with_deadline)
from wsman_helpers import NS, SANITIZED

ROOT = os.geteuid() == 0


def session(d, user=None, password=None, **kw):
    return winrm.Session(d.url, auth=(user or d.user1, password or d.pw1),
                         transport="plaintext", **kw)


def run_cmd(d, command, args=(), timeout=60, **kw):
    s = session(d, **kw)
    return with_deadline(lambda: s.run_cmd(command, args), timeout * SLOW,
                         f"run_cmd({command!r}, {args!r})")


def p1(d, **kw):
    return protocol(d, d.user1, d.pw1, **kw)


# ---- basic commands -----------------------------------------------------

def test_echo(shell_wsmd):
    r = run_cmd(shell_wsmd, "echo", ["hello"])
    assert (r.std_out, r.std_err, r.status_code) == (b"hello\n", b"", 0), r


def test_arguments_joined_with_spaces(shell_wsmd):
    r = run_cmd(shell_wsmd, "printf", ["'[%s]'", "one", "two", "three"])
    assert r.std_out == b"[one][two][three]", r
    assert r.status_code == 0, r
    # Several rsp:Arguments elements (raw) make one line too.
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    try:
        reply, _ = raw.command(sid, "echo", ["a", "b  c", "d"])
        cid = raw.command_id(reply)
        got = _raw_collect(raw, sid, cid)
        assert got.stdout == b"a b c d\n" and got.exit_code == 0, got
    finally:
        raw.delete(sid)


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_code(shell_wsmd, code):
    r = run_cmd(shell_wsmd, "exit", [str(code)])
    assert r.status_code == code, r
    assert r.std_out == b"" and r.std_err == b"", r


def test_stderr_separate_from_stdout(shell_wsmd):
    r = run_cmd(shell_wsmd, "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 2")
    assert r.std_out == b"out1\nout2\n", r
    assert r.std_err == b"err1\nerr2\n", r
    assert r.status_code == 2, r


def test_binary_stdout_printf(shell_wsmd):
    r = run_cmd(shell_wsmd, r"printf '\000\001\002\377\376\r\n\033[0m\200end'")
    assert r.std_out == b"\x00\x01\x02\xff\xfe\r\n\x1b[0m\x80end", r
    assert r.status_code == 0, r


def test_binary_stdout_random(shell_wsmd):
    f = f"/tmp/wsmdsh-bin-{secrets.token_hex(6)}"
    try:
        r = run_cmd(shell_wsmd, f"head -c 4096 /dev/urandom | tee {f}")
        assert r.status_code == 0, r
        with open(f, "rb") as fh:
            expect = fh.read()
        assert len(expect) == 4096
        assert r.std_out == expect, (len(r.std_out), r.std_err)
    finally:
        if os.path.exists(f):
            os.unlink(f)


def test_20mb_output_exact(shell_wsmd):
    """20 MB of random bytes arrive exactly (sha256), over many Receives."""
    f = f"/tmp/wsmdsh-20m-{secrets.token_hex(6)}"
    try:
        t0 = time.monotonic()
        r = run_cmd(shell_wsmd, f"head -c 20000000 /dev/urandom | tee {f}",
                    timeout=300)
        elapsed = time.monotonic() - t0
        assert r.status_code == 0, (r.status_code, r.std_err)
        assert r.std_err == b"", r.std_err
        with open(f, "rb") as fh:
            expect = hashlib.sha256(fh.read()).hexdigest()
        assert len(r.std_out) == 20000000, len(r.std_out)
        assert hashlib.sha256(r.std_out).hexdigest() == expect
        print(f"20 MB in {elapsed:.1f}s")
    finally:
        if os.path.exists(f):
            os.unlink(f)


def test_20mb_deterministic_output(shell_wsmd):
    r = run_cmd(shell_wsmd, "yes abcdefghij | head -c 20000000", timeout=300)
    expect = (b"abcdefghij\n" * (20000000 // 11 + 1))[:20000000]
    assert r.status_code == 0, (r.status_code, r.std_err)
    assert len(r.std_out) == len(expect), len(r.std_out)
    assert hashlib.sha256(r.std_out).hexdigest() == hashlib.sha256(expect).hexdigest()


# ---- stdin --------------------------------------------------------------

def test_stdin_three_chunks_then_end(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "cat")
        chunks = [b"first line\n", b"second \x00\xff\x80 binary\n", b"third, no newline"]
        for c in chunks:
            send_input(p, sid, cid, c)
        send_input(p, sid, cid, b"", end=True)
        out, err, code = get_output(p, sid, cid, timeout=30)
        assert out == b"".join(chunks), (out, err, code)
        assert (err, code) == (b"", 0), (out, err, code)
        p.cleanup_command(sid, cid)
    finally:
        p.close_shell(sid)


def test_stdin_end_with_data(shell_wsmd):
    """The last chunk may carry End="true" itself."""
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "wc -c")
        send_input(p, sid, cid, b"x" * 1000)
        send_input(p, sid, cid, b"y" * 234, end=True)
        out, err, code = get_output(p, sid, cid, timeout=30)
        assert out.strip() == b"1234" and code == 0, (out, err, code)
    finally:
        p.close_shell(sid)


def test_stdin_interactive(shell_wsmd):
    """Output of one line is received before the next line is sent."""
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "while read l; do echo \"got $l\"; done; echo bye")
        for i in range(3):
            send_input(p, sid, cid, f"line{i}\n".encode())
            out, _, _, done = receive_until(p, sid, cid, lambda o, e: b"\n" in o)
            assert out == f"got line{i}\n".encode() and not done, out
        send_input(p, sid, cid, b"", end=True)
        out, err, code = get_output(p, sid, cid, timeout=30)
        assert (out, err, code) == (b"bye\n", b"", 0)
    finally:
        p.close_shell(sid)


# ---- timeouts -----------------------------------------------------------

def test_command_outlives_operation_timeout(shell_wsmd):
    """pywinrm retries the Receive that timed out and still gets the output."""
    d = shell_wsmd
    p = p1(d, operation_timeout_sec=2, read_timeout_sec=4)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "sleep 5; echo done")
        t0 = time.monotonic()
        out, err, code = get_output(p, sid, cid, timeout=30)
        assert (out, err, code) == (b"done\n", b"", 0)
        assert time.monotonic() - t0 >= 4.0
        # pywinrm really went through the TimedOut fault and retried.
        timed_out = [ln for ln in d.log().splitlines()
                     if "/shell/Receive " in ln and "status=500" in ln]
        assert len(timed_out) >= 1, d.log()
        p.cleanup_command(sid, cid)
    finally:
        p.close_shell(sid)


def test_receive_timeout_fault(shell_wsmd):
    """A Receive without output within OperationTimeout: HTTP 500, w:TimedOut."""
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=2)
    sid, _, _ = raw.create()
    try:
        reply, _ = raw.command(sid, "sleep 30")
        cid = raw.command_id(reply)
        t0 = time.monotonic()
        reply, mid = raw.receive(sid, cid)
        elapsed = time.monotonic() - t0
        assert reply.status == 500, reply
        f = fault_of(reply)
        assert f.subcode is not None and f.subcode.endswith(":TimedOut"), (f, reply)
        assert qname_ns(reply, f.subcode) == NS["w"], (f, reply.text)
        assert f.wsman_code == CODE_TIMED_OUT, (f, reply)
        assert f.relates_to == mid, (f, mid)
        # It waited for the OperationTimeout (PT2S) before answering.
        assert elapsed >= 1.8, elapsed
        if not SANITIZED:
            assert elapsed < 6, elapsed
        # The command is unaffected: terminate it and see it Done.
        reply, _ = raw.signal(sid, cid, SIG_TERMINATE)
        assert reply.status == 200, reply
        got = _raw_collect(raw, sid, cid, timeout=15)
        assert got.done, got
    finally:
        raw.delete(sid)


# ---- signals ------------------------------------------------------------

def _raw_collect(raw, sid, cid, timeout=30):
    """Receive until Done; returns a Received with everything accumulated."""
    out = err = b""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        reply, _ = raw.receive(sid, cid)
        if reply.status == 500:
            f = fault_of(reply)
            assert f.wsman_code == CODE_TIMED_OUT, (f, reply)
            continue
        last = Received(reply)
        out += last.stdout
        err += last.stderr
        if last.done:
            last.stdout, last.stderr = out, err
            return last
    raise AssertionError(f"command not Done within {timeout * SLOW:.0f}s: "
                         f"last={last!r} out={out!r} err={err!r}")


def test_signal_terminate(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=5)
    marker = f"sleep 100.{secrets.randbelow(10**6):06d}"
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, marker)
        assert wait_for(lambda: pids_matching(marker), 5 * SLOW), "command never started"
        t0 = time.monotonic()
        p.cleanup_command(sid, cid)  # Signal terminate
        got = _raw_collect(raw, sid, cid, timeout=10)
        elapsed = time.monotonic() - t0
        assert got.state == STATE_DONE, got
        assert got.exit_code is not None, got
        if not SANITIZED:
            assert elapsed < 5, f"Done only {elapsed:.1f}s after terminate"
        assert wait_for(lambda: not pids_matching(marker), 5 * SLOW), (
            f"{marker!r} still running after terminate: {pids_matching(marker)}")
        # A Receive after Done says Done again.
        reply, _ = raw.receive(sid, cid)
        again = Received(reply)
        assert again.state == STATE_DONE, again
    finally:
        p.close_shell(sid)


def test_signal_ctrl_c(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        cid = p.run_command(
            sid, "trap 'exit 7' INT; echo ready; while :; do sleep 0.1; done")
        out, _, _, done = receive_until(p, sid, cid, lambda o, e: b"ready" in o)
        assert out == b"ready\n" and not done, out
        send_signal(p, sid, cid, SIG_CTRL_C)
        out, err, code = get_output(p, sid, cid, timeout=15)
        assert code == 7, (out, err, code)
    finally:
        p.close_shell(sid)


def test_signal_ctrl_c_default_kills(shell_wsmd):
    """Without a trap, SIGINT ends the command: 128 + 2."""
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "echo ready; exec sleep 100")
        receive_until(p, sid, cid, lambda o, e: b"ready" in o)
        send_signal(p, sid, cid, SIG_CTRL_C)
        out, err, code = get_output(p, sid, cid, timeout=15)
        assert code == 130, (out, err, code)
    finally:
        p.close_shell(sid)


# ---- several shells, many commands --------------------------------------

def test_six_shells_in_parallel(shell_wsmd):
    d = shell_wsmd
    results = {}
    errors = []

    def worker(i):
        try:
            s = session(d)
            r = s.run_cmd(f"echo start {i}; sleep 2; echo end {i} >&2; exit {i}")
            results[i] = r
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * SLOW)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), "a parallel run_cmd hung"
    assert not errors, errors
    for i in range(6):
        r = results[i]
        assert r.std_out == f"start {i}\n".encode(), (i, r)
        assert r.std_err == f"end {i}\n".encode(), (i, r)
        assert r.status_code == i, (i, r)
    if not SANITIZED:
        # They ran concurrently (6 x sleep 2 in series would take 12 s).
        assert elapsed < 8, f"6 parallel shells took {elapsed:.1f}s"


def test_many_commands_sequentially_in_one_shell(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        for i in range(60):
            out, err, code = run_in_shell(p, sid, f"echo cmd{i}; exit {i % 5}")
            assert (out, err, code) == (f"cmd{i}\n".encode(), b"", i % 5), i
    finally:
        p.close_shell(sid)


def test_two_commands_at_once_in_one_shell(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        c1 = p.run_command(sid, "cat")
        c2 = p.run_command(sid, "echo second")
        assert c1 != c2
        out, err, code = get_output(p, sid, c2)
        assert (out, code) == (b"second\n", 0)
        send_input(p, sid, c1, b"first\n", end=True)
        out, err, code = get_output(p, sid, c1)
        assert (out, code) == (b"first\n", 0)
    finally:
        p.close_shell(sid)


# ---- ids and ownership --------------------------------------------------

def test_command_on_deleted_shell_faults(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    p.close_shell(sid)
    with pytest.raises(WinRMError) as ei:
        p.run_command(sid, "echo", ["hello"])
    assert "2150858843" in str(ei.value), str(ei.value)
    # The same on a raw exchange: HTTP 500, w:InvalidSelectors.
    raw = Raw(d, d.user1, d.pw1)
    reply, mid = raw.command(sid, "echo hello")
    f = fault_of(reply)
    assert reply.status == 500, reply
    assert f.subcode is not None and f.subcode.endswith(":InvalidSelectors"), (f, reply)
    assert qname_ns(reply, f.subcode) == NS["w"], (f, reply.text)
    assert f.wsman_code == CODE_INVALID_SELECTORS, (f, reply)
    assert f.relates_to == mid, (f, mid)
    # Deleting it again faults the same way.
    reply, _ = raw.delete(sid)
    f2 = fault_of(reply)
    assert (f2.subcode, f2.wsman_code) == (f.subcode, f.wsman_code), (f2, reply)


def _fault_key(reply):
    f = fault_of(reply)
    return reply.status, f.code, f.subcode, f.wsman_code


def test_other_user_cannot_touch_shell(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "cat")
        send_input(p, sid, cid, b"before\n")
        other = Raw(d, d.user2, d.pw2, operation_timeout_sec=2)
        unknown_sid = str(uuid.uuid4()).upper()
        reply, _ = other.command(unknown_sid, "echo x")
        expect = _fault_key(reply)
        assert expect[3] == CODE_INVALID_SELECTORS, reply

        for what, (reply, _) in [
            ("Command", other.command(sid, "echo intruder")),
            ("Receive", other.receive(sid, cid)),
            ("Send", other.send(sid, cid, b"intruder\n")),
            ("Signal", other.signal(sid, cid, SIG_TERMINATE)),
            ("Delete", other.delete(sid)),
        ]:
            assert _fault_key(reply) == expect, (what, reply)
            assert b"intruder" not in reply.body and b"before" not in reply.body, (what, reply)

        # Still fine for its owner: the intruder's input never arrived and
        # the command was not terminated.
        send_input(p, sid, cid, b"after\n", end=True)
        out, err, code = get_output(p, sid, cid)
        assert (out, err, code) == (b"before\nafter\n", b"", 0)
        out, err, code = run_in_shell(p, sid, "echo still mine")
        assert (out, code) == (b"still mine\n", 0)
    finally:
        p.close_shell(sid)


def test_unknown_command_id_faults(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=2)
    sid, _, _ = raw.create()
    try:
        bogus = str(uuid.uuid4()).upper()
        for what, (reply, _) in [("Receive", raw.receive(sid, bogus)),
                                 ("Signal", raw.signal(sid, bogus, SIG_TERMINATE)),
                                 ("Send", raw.send(sid, bogus, b"x"))]:
            assert reply.status in (400, 500), (what, reply)
            f = fault_of(reply)
            assert f.wsman_code != CODE_TIMED_OUT, (what, f)
    finally:
        reply, _ = raw.delete(sid)
        assert reply.status == 200, reply


# ---- identity -----------------------------------------------------------

def test_runs_as_authenticated_user(shell_wsmd):
    d = shell_wsmd
    r1 = run_cmd(d, 'id -un; id -u; echo "$HOME"; echo "$USER"; cat /proc/self/status')
    r2 = run_cmd(d, "id -u; id -un", user=d.user2, password=d.pw2)
    assert r1.status_code == 0 and r2.status_code == 0, (r1, r2)
    lines = r1.std_out.decode().split("\n")
    name, uid, home, user_var = lines[:4]
    status = dict(ln.split(":\t", 1) for ln in lines[4:] if ":\t" in ln)
    if ROOT:
        pw = pwd.getpwnam(d.user1)
        assert name == d.user1, r1.std_out
        assert int(uid) == pw.pw_uid and pw.pw_uid != 0, r1.std_out
        assert home == pw.pw_dir, r1.std_out
        assert user_var == d.user1, r1.std_out
        for cap in ("CapEff", "CapPrm", "CapAmb"):
            assert int(status[cap].strip(), 16) == 0, (cap, status.get(cap))
        uids = status["Uid"].split()
        assert all(int(u) == pw.pw_uid for u in uids), status["Uid"]
        gids = status["Gid"].split()
        assert all(int(g) == pw.pw_gid for g in gids), status["Gid"]
        # The second user is someone else.
        pw2 = pwd.getpwnam(d.user2)
        assert r2.std_out.decode().split() == [str(pw2.pw_uid), d.user2], r2.std_out
        assert pw2.pw_uid != pw.pw_uid
    else:
        assert int(uid) == os.geteuid(), r1.std_out
        assert r2.std_out.decode().split()[0] == str(os.geteuid()), r2.std_out


def test_user_file_user_without_account_denied(wsmd_factory, tmp_path, shell_users_file):
    """As root, an authenticated name without a local account: AccessDenied."""
    if not ROOT:
        pytest.skip("only root maps user names to local accounts")
    from conftest import user_add
    users = tmp_path / "users"
    users.write_bytes(shell_users_file.read_bytes())
    ghost = "wsmdnoacct" + secrets.token_hex(3)
    user_add(users, ghost, "Ghost-pw-1")
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users))
    raw = Raw(d, ghost, "Ghost-pw-1")
    reply, mid = raw.call(ACT_CREATE, body=create_body())
    f = fault_of(reply)
    assert f.subcode is not None and f.subcode.endswith(":AccessDenied"), (f, reply)
    assert qname_ns(reply, f.subcode) == NS["w"], (f, reply.text)
    assert f.relates_to == mid


# ---- Create options -----------------------------------------------------

def test_environment_variable(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell(env_vars={"FOO": "bar"})
    try:
        out, err, code = run_in_shell(p, sid, "echo $FOO")
        assert (out, err, code) == (b"bar\n", b"", 0)
    finally:
        p.close_shell(sid)


def test_several_environment_variables_raw(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create(env={"FOO": "bar", "SPACED": "a b  <c>&'\"",
                                "PATH": "/opt/nothing:/usr/bin:/bin"})
    try:
        reply, _ = raw.command(sid, 'printf "%s|%s|%s" "$FOO" "$SPACED" "$PATH"')
        got = _raw_collect(raw, sid, raw.command_id(reply))
        assert got.stdout == b"bar|a b  <c>&'\"|/opt/nothing:/usr/bin:/bin", got
    finally:
        raw.delete(sid)


def test_working_directory(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    sid = p.open_shell(working_directory="/tmp")
    try:
        out, err, code = run_in_shell(p, sid, "pwd")
        assert (out, err, code) == (b"/tmp\n", b"", 0)
    finally:
        p.close_shell(sid)


def test_default_working_directory_is_home(shell_wsmd):
    d = shell_wsmd
    r = run_cmd(d, "pwd")
    home = pwd.getpwnam(d.user1).pw_dir if ROOT else os.environ.get("HOME")
    assert r.std_out == f"{home}\n".encode(), (r, home)


def test_missing_working_directory_faults(shell_wsmd):
    d = shell_wsmd
    p = p1(d)
    with pytest.raises(WinRMError):
        p.open_shell(working_directory="/nonexistent/wsmd-" + secrets.token_hex(4))


# ---- addressing ---------------------------------------------------------

def test_relates_to_on_every_reply(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=1)

    def rel(reply):
        r = ET.fromstring(reply.body).find("s:Header/a:RelatesTo", NS)
        return (r.text or "").strip() if r is not None else None

    sid, reply, mid = raw.create()
    assert rel(reply) == mid, (mid, reply)
    seen = [("Create", reply.status)]
    reply, mid = raw.command(sid, "cat")
    assert rel(reply) == mid, (mid, reply)
    cid = raw.command_id(reply)
    seen.append(("Command", reply.status))
    # Receive with nothing to say: the TimedOut fault relates too.
    reply, mid = raw.receive(sid, cid)
    assert reply.status == 500 and rel(reply) == mid, (mid, reply)
    seen.append(("Receive-timeout", reply.status))
    for what, (reply, mid) in [
        ("Send", raw.send(sid, cid, b"abc")),
        ("Receive", raw.receive(sid, cid)),
        ("Send-end", raw.send(sid, cid, b"", end=True)),
        ("Signal", raw.signal(sid, cid, SIG_TERMINATE)),
        ("Delete", raw.delete(sid)),
        ("Delete-again", raw.delete(sid)),
    ]:
        assert rel(reply) == mid, (what, mid, reply)
        seen.append((what, reply.status))
    assert [s for _, s in seen] == [200, 200, 500, 200, 200, 200, 200, 200, 500], seen


def test_create_response_shape(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, reply, _ = raw.create(idle_timeout="PT60S")
    try:
        root = ET.fromstring(reply.body)
        act = root.find("s:Header/a:Action", NS)
        assert act is not None and act.text.strip() == \
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", reply
        sh = root.find("s:Body/rsp:Shell", RSP)
        assert sh is not None, reply
        assert sh.find("rsp:ShellId", RSP).text.strip() == sid, reply
        assert sh.find("rsp:Owner", RSP).text.strip() == d.user1, reply
        idle = sh.find("rsp:IdleTimeOut", RSP)
        assert idle is not None and idle.text.strip() in ("PT60S", "PT60.000S"), reply
    finally:
        raw.delete(sid)


# ---- a client that goes away --------------------------------------------

def _zombies(pid):
    """Zombie children of the daemon: of the monitor and of the network
    process when it runs with privilege separation (pid is its work_pid)."""
    out = [c for c in children(pid) if c[1] == "Z"]
    ppid = proc_stat(pid)
    if ppid and ppid[1] > 1:
        out += [c for c in children(ppid[1]) if c[1] == "Z" and c[0] != pid]
    return out


def test_vanished_client_shell_reaped(shell_wsmd):
    """A shell abandoned without Delete is reaped after its IdleTimeOut.

    pywinrm 0.3.0's open_shell would pass idle_timeout through, but the
    shell is created raw (rsp:Shell/rsp:IdleTimeOut = PT2S) to control the
    exact message; the command is started and fetched with pywinrm.
    """
    d = shell_wsmd
    pid = d.work_pid  # the process holding the fds
    time.sleep(0.2)
    fds_before = fd_list(pid)
    marker = f"sleep 1000.{secrets.randbelow(10**6):06d}"

    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create(idle_timeout="PT2S")
    p = p1(d, operation_timeout_sec=1, read_timeout_sec=5)
    cid = p.run_command(sid, marker)
    assert cid
    assert wait_for(lambda: pids_matching(marker), 5 * SLOW), "command never started"
    r = receive_once(p, sid, cid)  # one Receive, then the client vanishes
    assert r is None or not r[3], r
    p.transport.session.close()  # drop the keep-alive connection, no Delete
    del p

    gone = wait_for(lambda: not pids_matching(marker), 10 * SLOW, step=0.2)
    assert gone, (f"{marker!r} still running 10s after the client vanished "
                  f"(IdleTimeOut PT2S): pids {pids_matching(marker)}")
    assert wait_for(lambda: not _zombies(pid), 3 * SLOW), (
        f"zombie children of wsmd: {_zombies(pid)}")

    def fds_back():
        return fd_count(pid) == len(fds_before)
    ok = wait_for(fds_back, 5 * SLOW, step=0.2)
    assert ok, (f"wsmd fd count {fd_count(pid)} != {len(fds_before)} before the shell\n"
                f"before={fds_before}\nnow={fd_list(pid)}")
    # The shell is gone: its id is unknown now.
    reply, _ = raw.command(sid, "echo x")
    f = fault_of(reply)
    assert f.wsman_code == CODE_INVALID_SELECTORS, (f, reply)
    d.assert_alive()


def test_deleted_shell_kills_its_commands(shell_wsmd):
    d = shell_wsmd
    pid = d.work_pid  # the process holding the fds
    marker = f"sleep 1000.{secrets.randbelow(10**6):06d}"
    time.sleep(0.2)
    n_before = fd_count(pid)
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    reply, _ = raw.command(sid, marker)
    raw.command_id(reply)
    assert wait_for(lambda: pids_matching(marker), 5 * SLOW), "command never started"
    reply, _ = raw.delete(sid)
    assert reply.status == 200, reply
    assert wait_for(lambda: not pids_matching(marker), 5 * SLOW), (
        f"{marker!r} survives Delete of its shell: {pids_matching(marker)}")
    assert wait_for(lambda: not _zombies(pid), 3 * SLOW), _zombies(pid)
    assert wait_for(lambda: fd_count(pid) == n_before, 5 * SLOW), (
        n_before, fd_list(pid))


# ---- a Receive parked while the shell goes away ---------------------------

def test_receive_parked_then_shell_deleted(shell_wsmd):
    """A Receive waiting for output is answered when its shell is deleted."""
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=30)
    sid, _, _ = raw.create()
    reply, _ = raw.command(sid, "sleep 100")
    cid = raw.command_id(reply)
    box = {}

    def park():
        box["t0"] = time.monotonic()
        box["reply"], box["mid"] = raw.receive(sid, cid)
        box["t1"] = time.monotonic()

    t = threading.Thread(target=park, daemon=True)
    t.start()
    time.sleep(1.0)
    other = Raw(d, d.user1, d.pw1)
    reply, _ = other.delete(sid)
    assert reply.status == 200, reply
    t.join(15 * SLOW)
    assert not t.is_alive(), "the parked Receive was not answered after Delete"
    assert box["t1"] - box["t0"] < 25, "answered only at its OperationTimeout"
    r = box["reply"]
    if r.status == 200:
        got = Received(r)
        assert got.done, got
    else:
        f = fault_of(r)
        assert f.wsman_code != CODE_TIMED_OUT, (f, r)


# ---- Receive size -------------------------------------------------------

@pytest.mark.parametrize("max_env", [153600, 51200])
def test_receive_fits_max_envelope_size(shell_wsmd, max_env):
    """Every ReceiveResponse fits the request's MaxEnvelopeSize."""
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1, operation_timeout_sec=5)
    raw.max_envelope_size = max_env
    sid, _, _ = raw.create()
    try:
        reply, _ = raw.command(sid, "head -c 1000000 /dev/zero | tr '\\000' 'z'; echo E >&2")
        cid = raw.command_id(reply)
        out = err = b""
        sizes = []
        deadline = time.monotonic() + 60 * SLOW
        while time.monotonic() < deadline:
            reply, _ = raw.receive(sid, cid)
            if reply.status == 500 and fault_of(reply).wsman_code == CODE_TIMED_OUT:
                continue
            sizes.append(len(reply.body))
            got = Received(reply)
            out += got.stdout
            err += got.stderr
            if got.done:
                break
        else:
            raise AssertionError("command not Done")
        assert max(sizes) <= max_env, (max_env, sorted(sizes)[-5:])
        assert out == b"z" * 1000000 and err == b"E\n", (len(out), err)
        assert got.exit_code == 0, got
    finally:
        raw.delete(sid)
