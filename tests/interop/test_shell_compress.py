"""CompressionType xpress (MS-WSMV 3.2.4.1.19: LZ77+Huffman of [MS-XCA],
in blocks of at most 64 KiB behind two 16-bit lengths): raw requests whose
compressed stdin is built by tests/interop/xpress.py (written from the
specifications) and whose compressed output it reads; our winrs -comp; the
faults of a compression we do not do and of stdin that is not Xpress."""

import os
import struct
import subprocess

import pytest

from enc_helpers import EncRaw
from shell_helpers import fault_of
import xpress
from test_winrs import winrs, detail, srv  # noqa: F401  (srv: the fixture)

TEXT = b"".join(b"%06d drwxr-xr-x 2 root root 4096 Dec  7 13:51 file-%d.txt\n" % (i, i % 97)
                for i in range(6000))  # ~370 KB: several 64 KiB blocks


def test_raw_roundtrip_both_directions(shell_wsmd):
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="65001",
                 compression="xpress")
    sid = raw.open()
    out, err, code, elements = raw.run(sid, "cat; echo tail >&2", stdin=TEXT)
    assert code == 0
    assert out == TEXT
    assert err == b"tail\n"
    # Each element is one block: 4-byte header + its data; big ones compressed.
    compressed = 0
    for name, e in elements:
        orig, comp = struct.unpack_from("<HH", e)
        assert len(e) == 4 + comp + 1, "one block per rsp:Stream element"
        if comp < orig:
            compressed += 1
            assert orig + 1 >= xpress.MIN_COMPRESSED
    assert compressed >= 3, elements[:3]
    wire = sum(len(e) for n, e in elements if n == "stdout")
    assert wire < len(TEXT) * 0.4, (wire, len(TEXT))
    raw.delete(sid)


def test_raw_stored_blocks_and_small_output(shell_wsmd):
    """stdin in stored blocks (as Windows sends small ones); short output
    comes back stored too, exactly as Windows' trace shows it."""
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="65001",
                 compression="xpress")
    sid = raw.open()
    cid = raw.command_id(raw.command(sid, "cat")[0])
    reply, _ = raw.send(sid, cid, xpress.frame(b"short line\n", always_store=True), end=True)
    assert reply.status == 200, reply
    out, err, code, elements = raw.receive_all(sid, cid)
    assert (out, code) == (b"short line\n", 0)
    assert elements[0][1] == b"\x0a\x00\x0a\x00short line\n"
    raw.delete(sid)


def test_unknown_compression_faults_at_create(shell_wsmd):
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, compression="lznt1")
    reply = raw.create_reply()
    assert reply.status == 500, reply
    f = fault_of(reply)
    assert f.subcode.endswith("UnsupportedFeature"), f
    assert b"xpress" in reply.body


def test_bad_compressed_stdin_faults(shell_wsmd):
    raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, codepage="65001",
                 compression="xpress")
    sid = raw.open()
    cid = raw.command_id(raw.command(sid, "cat")[0])
    # a header announcing a compressed block whose Huffman table is empty
    bad = struct.pack("<HH", 999, 299) + bytes(300)
    reply, _ = raw.send(sid, cid, bad)
    assert reply.status == 500, reply
    assert b"xpress" in reply.body
    # the shell and command go on: a good Send still works
    reply = raw.send_data(sid, cid, b"ok\n", end=True)
    assert reply.status == 200, reply
    out, _, code, _ = raw.receive_all(sid, cid)
    assert (out, code) == (b"ok\n", 0)
    raw.delete(sid)


def test_winrs_comp_roundtrip(srv):  # noqa: F811
    data = TEXT + os.urandom(70000)
    cp = winrs(srv, "cat; echo to-err >&2", input=data, switches=("-comp",))
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == data
    assert cp.stderr == b"to-err\n"


def test_winrs_compression_long_switch(srv):  # noqa: F811
    cp = winrs(srv, "seq 1 20000", switches=("-compression",))
    assert cp.returncode == 0, detail(cp, srv)
    assert cp.stdout == b"".join(b"%d\n" % i for i in range(1, 20001))


def test_management_shows_compression(shell_wsmd):
    """Get of the shell (shell management) says CompressionMode
    XpressCompression for a compressed shell, NoCompression otherwise."""
    from test_shell_enum import get
    import xml.etree.ElementTree as ET
    from shell_helpers import RSP
    modes = {}
    for comp in ("xpress", None):
        raw = EncRaw(shell_wsmd, shell_wsmd.user1, shell_wsmd.pw1, compression=comp)
        sid = raw.open()
        reply = get(raw, sid)
        assert reply.status == 200, reply
        modes[comp] = ET.fromstring(reply.body).find(".//rsp:CompressionMode", RSP).text
        raw.delete(sid)
    assert modes == {"xpress": "XpressCompression", None: "NoCompression"}
