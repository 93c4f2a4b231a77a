"""WINRS_CODEPAGE (MS-WSMV 3.1.4.5.2): the command's output (UTF-8 here)
comes out in the code page the Create asked for, stdin goes in from it.
Checked byte for byte with pywinrm (which hands over the raw bytes and
sends 437 by default, as Windows winrs) and with raw requests; 65001 passes
bytes through; a code page iconv does not know is w:InvalidOptions;
characters the code page lacks become '?' as on Windows; our winrs asks
its terminal's code page."""

import pytest

from enc_helpers import EncRaw
from shell_helpers import fault_of, protocol, run_in_shell
from test_winrs import winrs, detail, srv  # noqa: F401

TEXT = "é ü ½ ─ end"  # é ü ½ ─: in 437; é ü ½ in 1252, ─ not
PRINT = "printf '%s\\n'" % TEXT
CP437 = "é ü ½ ─ end\n".encode("cp437")
CP1252 = b"\xe9 \xfc \xbd ? end\n"


def test_pywinrm_default_437(shell_wsmd):
    """pywinrm's open_shell sends WINRS_CODEPAGE 437: the bytes are CP437."""
    p = protocol(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1)
    sid = p.open_shell()
    try:
        out, err, code = run_in_shell(p, sid, PRINT)
        assert code == 0, err
        assert out == CP437
        assert out == b"\x82 \x81 \xab \xc4 end\n"
    finally:
        p.close_shell(sid)


def test_pywinrm_1252_and_65001(shell_wsmd):
    p = protocol(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1)
    for cp, want in (("1252", CP1252), ("65001", (TEXT + "\n").encode())):
        sid = p.open_shell(codepage=cp)
        try:
            out, err, code = run_in_shell(p, sid, PRINT)
            assert (out, code) == (want, 0), (cp, out, err)
        finally:
            p.close_shell(sid)


@pytest.mark.parametrize("cp,want", [("437", CP437), ("1252", CP1252), ("850", None),
                                     ("65001", (TEXT + "\n").encode())])
def test_raw_output(shell_wsmd, cp, want):
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage=cp)
    sid = raw.open()
    out, err, code, _ = raw.run(sid, PRINT + "; printf 'é\\n' >&2")
    assert code == 0, err
    assert out == (want if want is not None else ("é ü ½ ─ end\n".encode("cp850")))
    assert err == "é\n".encode("cp%s" % cp if cp != "65001" else "utf-8")
    raw.delete(sid)


def test_raw_stdin_converted_back(shell_wsmd):
    """Send carries bytes in the code page; the command reads UTF-8."""
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="1252")
    sid = raw.open()
    out, err, code, _ = raw.run(sid, "od -An -tx1 | tr -d ' \\n'", stdin=b"\xe9\x80\n")
    assert code == 0, err
    assert out == ("é€\n".encode("utf-8").hex()).encode()
    raw.delete(sid)


def test_binary_output_passes_as_is(shell_wsmd):
    """Bytes that are not UTF-8 are not text: they go through unchanged."""
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="437")
    sid = raw.open()
    out, err, code, _ = raw.run(sid, "printf '\\377\\376A\\351'")
    assert (out, code) == (b"\xff\xfeA\xe9", 0), err
    raw.delete(sid)


@pytest.mark.parametrize("cp", ["99999", "1200", "abc", "0", "-437"])
def test_unknown_codepage_faults(shell_wsmd, cp):
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage=cp)
    reply = raw.create_reply()
    assert reply.status == 500, reply
    assert fault_of(reply).subcode.endswith("InvalidOptions"), reply
    assert b"WINRS_CODEPAGE" in reply.body


def test_compressed_and_converted(shell_wsmd):
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="437",
                 compression="xpress")
    sid = raw.open()
    out, err, code, _ = raw.run(sid, "for i in $(seq 500); do " + PRINT + "; done")
    assert (out, code) == (CP437 * 500, 0), err
    raw.delete(sid)


def test_winrs_terminal_codepage(srv):  # noqa: F811
    """Under UTF-8 winrs asks 65001 and gets UTF-8; in the C locale (ASCII)
    it asks 437, as Windows winrs does, and gets CP437 bytes."""
    cp = winrs(srv, "printf 'é\\n'", env={"LC_ALL": "C.UTF-8"})
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == "é\n".encode()
    cp = winrs(srv, "printf 'é\\n'", env={"LC_ALL": "C"})
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"\x82\n"


def test_binary_stdin_passes_as_is(shell_wsmd):
    """stdin with bytes text never holds (NUL, most C0 controls) is binary:
    the command gets it unchanged even under 437."""
    data = bytes(range(256)) * 40
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="437")
    sid = raw.open()
    out, err, code, _ = raw.run(sid, "od -An -tx1 -v | tr -d ' \\n'", stdin=data)
    assert (out, code) == (data.hex().encode(), 0), err
    raw.delete(sid)
