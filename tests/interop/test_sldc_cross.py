"""SLDC: the C code (through build/tests/unit/sldc-tool, or $SLDC_TOOL) against the
independent Python implementation (tests/interop/sldc.py), both ways, and both against the
bodies captured from Windows sources (tests/unit/sldc_vectors.h)."""
import os
import random
import re
import subprocess
from pathlib import Path

import pytest

import sldc

REPO = Path(__file__).resolve().parents[2]
TOOL = os.environ.get("SLDC_TOOL") or str(REPO / "build" / "tests" / "unit" / "sldc-tool")


@pytest.fixture(scope="module")
def tool():
    if not (os.path.isfile(TOOL) and os.access(TOOL, os.X_OK)):
        pytest.skip(f"sldc-tool not built: {TOOL}")
    return TOOL


def c_compress(tool, data):
    p = subprocess.run([tool, "-c"], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def c_decompress(tool, data, max_out=None):
    """(output, None) or (None, the error word sldc-tool printed)."""
    args = [tool, "-d"] + ([str(max_out)] if max_out is not None else [])
    p = subprocess.run(args, input=data, capture_output=True, timeout=60)
    if p.returncode == 0:
        return p.stdout, None
    assert p.returncode == 1, p.stderr
    m = re.search(rb"error=(\w+)", p.stderr)
    assert m, p.stderr
    return None, m.group(1).decode()


def captured():
    """The C arrays of tests/unit/sldc_vectors.h, by name."""
    text = (REPO / "tests" / "unit" / "sldc_vectors.h").read_text()
    out = {}
    for name, body in re.findall(r"unsigned char (\w+)\[\d+\] = \{(.*?)\};", text, re.S):
        out[name] = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", body))
    return out


def samples():
    rnd = random.Random(321)
    text = "".join(
        rnd.choice(["<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>",
                    "<EventID>4624</EventID>", "<Computer>ws%d.example.com</Computer>" % i,
                    "<Data Name='TargetUserName'>user%d</Data>" % rnd.randrange(999),
                    "\r\n", " "])
        for i in range(3000))
    seg = bytes(rnd.randrange(256) for _ in range(300))
    yield "empty", b""
    yield "one byte", b"\x00"
    yield "0xff", b"\xff"
    yield "all bytes", bytes(range(256)) * 3
    yield "run", b"a" * 5000
    yield "0xff run", b"\xff" * 2000
    yield "random", bytes(rnd.randrange(256) for _ in range(30000))
    yield "text", text.encode()
    yield "utf-16 text", b"\xff\xfe" + text.encode("utf-16-le")
    for n in (2, 3, 4, 7, 8, 15, 16, 31, 32, 270, 271, 272, 300):
        yield f"repeat {n}", seg[:n] + b"|" + seg[:n] + b"#" + seg[:n]
    for dist in (1022, 1023, 1024, 1025):
        head = bytes(rnd.randrange(256) for _ in range(dist))
        yield f"distance {dist}", head + head[:200]


@pytest.mark.parametrize("name,data", list(samples()), ids=[n for n, _ in samples()])
def test_python_compress_c_decompress(tool, name, data):
    z = sldc.compress(data)
    out, err = c_decompress(tool, z)
    assert err is None and out == data, name


@pytest.mark.parametrize("name,data", list(samples()), ids=[n for n, _ in samples()])
def test_c_compress_python_decompress(tool, name, data):
    z = c_compress(tool, data)
    assert sldc.decompress(z) == data, name
    assert len(z) <= len(data) + len(data) // 8 + 32


def test_both_compressors_write_the_same_simple_stream(tool):
    # Reset 1, A, B, Copy Pointer (4 from location 0), End of Record, pad, length 6.
    want = bytes.fromhex("ffa904858003fe80" "06000000")
    assert sldc.compress(b"ABABAB") == want
    assert c_compress(tool, b"ABABAB") == want


def test_captured_windows_bodies(tool):
    vec = captured()
    assert set(vec) == {"openwec_heartbeat", "wef_go_events"}
    for name, body in vec.items():
        py = sldc.decompress(body)
        c, err = c_decompress(tool, body)
        assert err is None and c == py, name
        assert py.startswith(b"\xff\xfe<\x00s\x00:\x00E\x00n\x00v\x00")
        # Windows' framing: the decompressed length ends the body.
        assert int.from_bytes(body[-4:], "little") == len(py)
        text = py.decode("utf-16")
        assert text.endswith("</s:Envelope>"), name
    assert "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA" in \
        sldc.decompress(vec["openwec_heartbeat"]).decode("utf-16")


def bits(*parts):
    s = "".join(parts).replace(" ", "")
    s += "0" * (-len(s) % 8)
    return int(s, 2).to_bytes(len(s) // 8, "big") if s else b""


CTRL = "111111111"


def test_hand_built_streams_agree(tool):
    cases = {
        # Scheme 2 with the 0xFF escape, back to scheme 1, a copy of both.
        "scheme2": (bits(CTRL, "0110", "01100001", "11111111 0", CTRL, "0001",
                         "1 0 1 0000000000", CTRL, "0100"), b"a\xffa\xffa"),
        # Flush with ones as pad (skipped to the 32-bit boundary).
        "flush": (bits(CTRL, "0101", "0 01000001", CTRL, "0000", "1" * 29, "0 01000010",
                       CTRL, "0100"), b"AB"),
        # End Marker with its pad.
        "end marker": (bits(CTRL, "0101", "0 01011010", CTRL, "1111", "1" * 29), b"Z"),
        # Reset in the middle: location 0 again.
        "reset": (bits(CTRL, "0101", "0 01000001", CTRL, "0101", "0 01000010",
                       "1 0 0 0000000000", CTRL, "0100"), b"ABBB"),
    }
    for name, (stream, want) in cases.items():
        assert sldc.decompress(stream) == want, name
        out, err = c_decompress(tool, stream)
        assert err is None and out == want, name


def test_refusals_agree(tool):
    """Mutated and truncated streams: C and Python accept and refuse the same ones, and
    decode the accepted ones to the same bytes."""
    rnd = random.Random(22091)
    base = captured()["openwec_heartbeat"]
    other = sldc.compress(b"\xff\xfe" + "<Event>ok</Event>".encode("utf-16-le") * 40)
    cases = [base[:k] for k in (0, 1, 2, 13, 500, len(base) - 7, len(base) - 5,
                                len(base) - 4, len(base) - 1)]
    for _ in range(60):
        b = bytearray(rnd.choice([base, other]))
        for _ in range(rnd.choice([1, 1, 2, 5])):
            b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        cases.append(bytes(b))
    cases += [os.urandom(64) for _ in range(10)]
    cases.append(b"\xff\xfe<\x00s\x00")  # a plain UTF-16 body: an End Marker, then data
    refused = 0
    for i, case in enumerate(cases):
        try:
            py, py_err = sldc.decompress(case), None
        except sldc.SldcError as e:
            py, py_err = None, e
        c, c_err = c_decompress(tool, case)
        assert (py_err is None) == (c_err is None), (i, case.hex(), py_err, c_err)
        assert py == c, i
        refused += py_err is not None
    assert refused > len(cases) // 3


def test_output_bound(tool):
    body = captured()["openwec_heartbeat"]
    out, err = c_decompress(tool, body, 3041)
    assert out is None and err == "quota"
    out, err = c_decompress(tool, body, 3042)
    assert err is None and len(out) == 3042
    with pytest.raises(sldc.SldcError):
        sldc.decompress(body, max_out=3041)
    # 271 bytes per 23 bits: stopped at the bound.
    bomb = bits(CTRL, "0101", "0 00000000", "1 1111 11101111 0000000000" * 2000, CTRL, "0100")
    out, err = c_decompress(tool, bomb, 100000)
    assert err == "quota"
    with pytest.raises(sldc.SldcError):
        sldc.decompress(bomb, max_out=100000)
