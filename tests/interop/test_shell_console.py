"""Console mode and the other Command/Create options of MS-WSMV against a
real wsmd, with raw requests over loopback (shell_helpers.Raw):

* WINRS_CONSOLEMODE_STDIN TRUE: the command's stdin is a terminal (isatty(0)
  true, a /dev/pts terminal, echo off, bytes pass unchanged,
  End is end of file), stdout and stderr stay two pipes; FALSE: a pipe;
* WINRS_SKIP_CMD_SHELL TRUE: the line is split into argv as Windows does and
  run without /bin/sh (a `$HOME` stays literal; quotes group; a program that
  is not there is a fault);
* the client's CommandId (a GUID, unique in the shell);
* InputStreams/OutputStreams at Create: another name is refused
  (2150859147), an unnamed output stream is not delivered, a Send to an
  unnamed stdin is refused.
"""

import time
import uuid
import xml.etree.ElementTree as ET

from shell_helpers import (ACT_COMMAND, ACT_CREATE, ACT_SEND, RSP, SLOW, Raw, Received,
                           command_body, fault_of, send_body)

CODE_INVALID_STREAM = "2150859147"

# isatty(0), the terminal's name and its echo, as a program
# sees them (python3 is what the test itself runs on).
PROBE = ("python3 -c \"import os,sys,termios;"
         "t=os.isatty(0);"
         "print('tty', t);"
         "print('echo', bool(termios.tcgetattr(0)[3] & termios.ECHO) if t else None);"
         "print('ctty', os.path.exists('/proc/self/fd/0') and "
         "os.ttyname(0) if t else None);"
         "sys.stderr.write('err-is-pipe %s' % (not os.isatty(2)))\"")


def opts(console, skip=False):
    return [("WINRS_CONSOLEMODE_STDIN", "TRUE" if console else "FALSE"),
            ("WINRS_SKIP_CMD_SHELL", "TRUE" if skip else "FALSE")]


def run(raw, sid, line, console=False, skip=False, stdin=None, cmd_id=None):
    body = command_body(line)
    if cmd_id:
        body["rsp:CommandLine"]["@CommandId"] = cmd_id
    reply, _ = raw.call(ACT_COMMAND, sid, body, option_set=opts(console, skip))
    cid = raw.command_id(reply)
    if stdin is not None:
        r, _ = raw.send(sid, cid, stdin, end=True)
        assert r.status == 200, r
    return cid, collect(raw, sid, cid)


def collect(raw, sid, cid):
    out = err = b""
    for _ in range(int(200 * SLOW)):
        reply, _ = raw.receive(sid, cid)
        if reply.status != 200 and b"2150858793" in reply.body:
            continue
        r = Received(reply)
        out += r.stdout
        err += r.stderr
        if r.done:
            return out, err, r.exit_code
    raise AssertionError(f"not done: {out!r} {err!r}")


def test_console_mode_stdin_is_a_terminal(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    _, (out, err, code) = run(raw, sid, PROBE, console=True)
    assert code == 0, (out, err)
    lines = out.decode().splitlines()
    assert "tty True" in lines, out
    assert "echo False" in lines, out  # Windows never returns a console's echo
    assert any(ln.startswith("ctty /dev/pts/") for ln in lines), out  # a terminal's name
    assert err == b"err-is-pipe True", err  # stderr stays a pipe, its own stream
    _, (out, err, code) = run(raw, sid, PROBE, console=False)
    assert code == 0 and "tty False" in out.decode().splitlines(), (out, err)


def test_console_mode_input_lines_and_end_of_file(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    # The terminal passes bytes as they are (clients pipe binary data in
    # console mode too): no line editing, no signal characters; End (after
    # a partial line, too) is end of file: cat ends, with everything.
    data = b"one\r\ntwo\x03\x04\x7f\x15\x1a" + bytes(range(256)) * 40 + b"last"
    _, (out, err, code) = run(raw, sid, "cat; echo done", console=True, stdin=data)
    assert code == 0, err
    assert out == data + b"done\n", (len(out), out[:40])
    # A pipe gets the bytes as they are.
    _, (out, err, code) = run(raw, sid, "cat", console=False, stdin=b"a\r\nb")
    assert out == b"a\r\nb", out


def test_console_mode_end_of_file_for_every_reader(shell_wsmd):
    """After End, every read of the terminal gets end of file, as from a
    pipe: four readers one after the other all end (two ^D were written
    once, so the third reader waited for ever), and soon."""
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    t0 = time.monotonic()
    _, (out, err, code) = run(raw, sid, "cat; cat; cat; cat; echo four", console=True,
                              stdin=b"x")
    assert code == 0, err
    assert out == b"xfour\n", out
    assert time.monotonic() - t0 < 15 * SLOW


def test_skip_cmd_shell_runs_argv_without_a_shell(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    line = ('printf "%s|" $HOME "two words" a\\"b "c""d" x\\\\y ;echo')
    _, (out, err, code) = run(raw, sid, line, skip=True)
    assert code == 0, err
    # No shell: $HOME literal, ';echo' an argument; Windows quoting rules.
    assert out == b'$HOME|two words|a"b|c"d|x\\\\y|;echo|', out
    _, (out, err, code) = run(raw, sid, line, skip=False)
    assert b"$HOME" not in out and b"two words" in out, out


def test_skip_cmd_shell_missing_program_is_a_fault(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    reply, _ = raw.call(ACT_COMMAND, sid, command_body("no-such-program-xyz arg"),
                        option_set=opts(False, True))
    f = fault_of(reply)
    assert f.subcode == "w:InvalidParameter" and b"WINRS_SKIP_CMD_SHELL" in reply.body, f
    reply, _ = raw.call(ACT_COMMAND, sid, command_body("true"),
                        option_set=[("WINRS_SKIP_CMD_SHELL", "maybe")])
    assert fault_of(reply).subcode == "w:InvalidOptions"


def test_client_command_id(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    sid, _, _ = raw.create()
    mine = str(uuid.uuid4()).upper()
    cid, (out, _, code) = run(raw, sid, "echo hi", cmd_id=mine)
    assert cid == mine and out == b"hi\n" and code == 0
    body = command_body("echo again")
    body["rsp:CommandLine"]["@CommandId"] = mine.lower()
    f = fault_of(raw.call(ACT_COMMAND, sid, body, option_set=opts(False))[0])
    assert f.subcode == "w:AlreadyExists", f
    body["rsp:CommandLine"]["@CommandId"] = "not-a-guid"
    f = fault_of(raw.call(ACT_COMMAND, sid, body, option_set=opts(False))[0])
    assert f.subcode == "w:InvalidParameter", f


def create_with(raw, inputs, outputs):
    body = {"rsp:Shell": {"rsp:InputStreams": inputs, "rsp:OutputStreams": outputs}}
    return raw.call(ACT_CREATE, body=body)[0]


def test_stream_names(shell_wsmd):
    d = shell_wsmd
    raw = Raw(d, d.user1, d.pw1)
    for inputs, outputs in (("stdin pr", "stdout stderr"), ("stdin", "stdout stdlog"),
                            ("stdout", "stdout")):
        reply = create_with(raw, inputs, outputs)
        f = fault_of(reply)
        assert f.subcode == "w:InvalidParameter" and CODE_INVALID_STREAM in reply.text, reply
    # Only stdout named: stderr is not delivered; no stdin: Send refused.
    reply = create_with(raw, "", "stdout")
    assert reply.status == 200, reply
    root = ET.fromstring(reply.body)
    assert root.find("s:Body/rsp:Shell/rsp:OutputStreams", RSP).text == "stdout"
    sid = root.find("s:Body/rsp:Shell/rsp:ShellId", RSP).text
    cid, (out, err, code) = run(raw, sid, "echo out; echo err >&2")
    assert out == b"out\n" and err == b"" and code == 0, (out, err)
    reply, _ = raw.call(ACT_SEND, sid, send_body(cid, b"x"))
    assert fault_of(reply).subcode == "w:InvalidParameter"
    # A Send to another stream name: the stream fault.
    sid2, _, _ = raw.create()
    reply, _ = raw.call(ACT_COMMAND, sid2, command_body("cat"), option_set=opts(False))
    cid2 = raw.command_id(reply)
    body = send_body(cid2, b"x")
    body["rsp:Send"]["rsp:Stream"]["@Name"] = "pr"
    reply, _ = raw.call(ACT_SEND, sid2, body)
    assert fault_of(reply).subcode == "w:InvalidParameter" and CODE_INVALID_STREAM in reply.text
