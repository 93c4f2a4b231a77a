"""ECMA-321 SLDC in Python, for the event-forwarder simulator and to check the C code.

Written from the standard independently of src/lib/sldc.c (test_sldc_cross.py runs each
against the other). The format (ECMA-321, 1st edition June 2001; ISO/IEC 22091):

* bits are packed most significant first;
* scheme 1: Literal 1 = 0 + byte; Copy Pointer = 1 + Match Count Field + 10-bit displacement,
  the field being 0x (2-3), 10xx (4-7), 110xxx (8-15), 1110xxxx (16-31), 1111xxxxxxxx (32-271,
  xxxxxxxx < 0xF0); the displacement is an absolute location in the 1024-byte history buffer,
  which every output byte enters in turn, location 0 first after a Reset;
* scheme 2: Literal 2 = the byte, and a 0 bit after 0xFF;
* control symbols, in both schemes: nine 1 bits and a 4-bit code: 0 Flush, 1 Scheme 1,
  2 Scheme 2, 3 File Mark, 4 End of Record, 5 Reset 1, 6 Reset 2, 15 End Marker (7-14
  reserved); Flush and File Mark are followed by pad to the next 32-bit boundary.

A Windows source ends its body with End of Record, zero bits to a 16-bit boundary and the
decompressed length as 4 bytes little-endian; compress() writes the same, decompress() accepts
that, zero pad alone, or an End Marker. Here the history is a real 1024-byte ring (the C code
reads it back from its output instead); compress() finds matches with bytes.rfind (the C code
with hash chains) and never uses scheme 2.
"""

HISTORY = 1024
MAX_COUNT = 271

FLUSH, SCHEME1, SCHEME2, FILE_MARK, EOR, RESET1, RESET2 = range(7)
END_MARKER = 15


class SldcError(ValueError):
    """The input is not a complete, valid SLDC stream, or decodes to more than allowed."""


# ---------------------------------------------------------------- compress

class _Bits:
    def __init__(self):
        self.parts = []
        self.n = 0

    def put(self, value, width):
        self.parts.append(format(value, "0%db" % width) if width else "")
        self.n += width

    def control(self, code):
        self.put(0b111111111, 9)
        self.put(code, 4)

    def to_bytes(self):
        s = "".join(self.parts)
        assert len(s) % 8 == 0
        return int(s, 2).to_bytes(len(s) // 8, "big") if s else b""


# (first count, last count, prefix after the leading 1, width of the value)
_COUNT_FORMS = [(2, 3, "0", 1), (4, 7, "10", 2), (8, 15, "110", 3), (16, 31, "1110", 4),
                (32, 271, "1111", 8)]


def _count_field(count):
    for lo, hi, prefix, width in _COUNT_FORMS:
        if lo <= count <= hi:
            return prefix + format(count - lo, "0%db" % width)
    raise AssertionError(count)


def _longest(data, i, top):
    """(length, start) of the longest earlier occurrence of data[i:i+length], length 2..top,
    starting at most 1023 back and before i (it may run into data[i:]); (0, -1) if none.
    bytes.rfind does the searching: an occurrence of length k implies one of every shorter
    length, so lengths 4, 8, 16... are tried until one fails, then a binary search."""
    lo = max(0, i - (HISTORY - 1))
    where = data.rfind(data[i:i + 2], lo, i + 1)
    if where < 0:
        return 0, -1
    good, bad = 2, top + 1
    k = 4
    while k < bad:
        p = data.rfind(data[i:i + k], lo, i + k - 1)
        if p < 0:
            bad = k
            break
        good, where = k, p
        k *= 2
    while bad - good > 1:
        k = (good + bad) // 2
        p = data.rfind(data[i:i + k], lo, i + k - 1)
        if p >= 0:
            good, where = k, p
        else:
            bad = k
    return good, where


def compress(data: bytes) -> bytes:
    """Reset 1, scheme 1 (the longest match, the nearest of those; a 2-byte match gives way
    to a longer one at the next byte), End of Record,
    zero pad to 16 bits, the length (4 bytes little-endian), as Windows frames it."""
    data = bytes(data)
    n = len(data)
    w = _Bits()
    w.control(RESET1)
    i = 0
    while i < n:
        length, where = _longest(data, i, min(MAX_COUNT, n - i)) if i + 1 < n else (0, -1)
        if length == 2 and i + 2 < n and _longest(data, i + 1, min(MAX_COUNT, n - i - 1))[0] > 3:
            length = 0  # a literal, then the longer match that the pair would hide
        if length:
            bits = "1" + _count_field(length) + format(where % HISTORY, "010b")
            w.put(int(bits, 2), len(bits))
            i += length
        else:
            w.put(data[i], 9)
            i += 1
    w.control(EOR)
    w.put(0, -w.n % 16)
    return w.to_bytes() + (n & 0xFFFFFFFF).to_bytes(4, "little")


# ---------------------------------------------------------------- decompress

class _Reader:
    def __init__(self, data):
        self.data = data
        self.total = len(data) * 8
        # The bits as a '0'/'1' string: slicing it is the fastest bit access in Python.
        self.bits = format(int.from_bytes(data, "big"), "0%db" % self.total) if data else ""
        self.pos = 0

    def left(self):
        return self.total - self.pos

    def peek(self, width):
        """The next width bits, or None if fewer are left."""
        chunk = self.bits[self.pos:self.pos + width]
        return int(chunk, 2) if len(chunk) == width else None

    def take(self, width):
        v = self.peek(width)
        if v is None:
            raise SldcError("truncated SLDC stream")
        self.pos += width
        return v


def _only_trailer_left(r, produced):
    """After End of Record: zero bits to the byte boundary, zero bytes, maybe the length."""
    if r.pos % 8 and r.peek(8 - r.pos % 8) != 0:
        return False
    rest = r.data[(r.pos + 7) // 8:]
    if not rest.strip(b"\0"):
        return True
    return (len(rest) >= 4 and not rest[:-4].strip(b"\0")
            and int.from_bytes(rest[-4:], "little") == produced & 0xFFFFFFFF)


def decompress(data: bytes, max_out: int = 64 << 20) -> bytes:
    """Decode one SLDC body; SldcError if malformed or if more than max_out bytes."""
    r = _Reader(bytes(data))
    out = bytearray()
    ring = bytearray(HISTORY)
    wpos = 0      # next location written
    valid = 0     # locations written since the last Reset (all of them once 1024)
    scheme = None
    after_eor = False

    def put(byte):
        nonlocal wpos, valid
        if len(out) >= max_out:
            raise SldcError("SLDC output larger than %d bytes" % max_out)
        out.append(byte)
        ring[wpos] = byte
        wpos = (wpos + 1) % HISTORY
        valid = min(HISTORY, valid + 1)

    while True:
        if after_eor and _only_trailer_left(r, len(out)):
            return bytes(out)
        if r.left() == 0:
            raise SldcError("SLDC stream without End of Record")
        code = None
        if r.peek(9) == 0x1FF:
            r.take(9)
            code = r.take(4)
        elif scheme == 2:
            byte = r.take(8)
            if byte == 0xFF:
                r.take(1)  # the 0 that tells it from a control symbol
            put(byte)
            after_eor = False
            continue
        elif scheme == 1:
            if r.take(1) == 0:
                put(r.take(8))
            else:
                count = None
                for lo, hi, prefix, width in _COUNT_FORMS:
                    if r.peek(len(prefix)) == int(prefix, 2):
                        r.take(len(prefix))
                        count = lo + r.take(width)
                        break
                if count is None or count > MAX_COUNT:
                    raise SldcError("bad match count field")
                loc = r.take(10)
                for _ in range(count):
                    # The location about to be written holds the oldest byte when full.
                    if not (loc < valid or (valid == HISTORY)):
                        raise SldcError("copy pointer to history never written")
                    put(ring[loc])
                    loc = (loc + 1) % HISTORY
            after_eor = False
            continue
        else:
            raise SldcError("data before the first Reset or Scheme symbol")

        if code in (FLUSH, FILE_MARK):
            r.pos = min(r.total, (r.pos + 31) // 32 * 32)
        elif code in (SCHEME1, SCHEME2):
            scheme = 1 if code == SCHEME1 else 2
        elif code in (RESET1, RESET2):
            scheme = 1 if code == RESET1 else 2
            wpos, valid = 0, 0
        elif code == EOR:
            after_eor = True
        elif code == END_MARKER:
            if r.total <= (r.pos + 31) // 32 * 32 or _only_trailer_left(r, len(out)):
                return bytes(out)
            raise SldcError("data after the End Marker")
        else:
            raise SldcError("reserved control symbol %d" % code)
