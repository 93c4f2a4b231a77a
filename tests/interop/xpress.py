"""Xpress LZ77+Huffman ([MS-XCA] 2.1/2.2) and the remote shell's block
framing (MS-WSMV 3.2.4.1.19, product note <134>), in Python, written from
the specifications' text and independent of src/lib/xpress.c: the interop
tests build compressed Send bodies and read compressed Receive replies with
it.

Framing: each rsp:Stream holds blocks of at most 64 KiB of original data,
each behind two 16-bit little-endian numbers, original length - 1 and
compressed length - 1; equal lengths mean the block is stored as is (so are
blocks under 266 bytes).
"""

import heapq
import struct

BLOCK = 65536
MIN_COMPRESSED = 266


# ---- decoding -----------------------------------------------------------

def huff_decompress(data, out_len):
    """One LZ77+Huffman block to exactly out_len bytes (ValueError if bad)."""
    if len(data) < 260:
        raise ValueError("no room for the Huffman table")
    lengths = []
    for b in data[:256]:
        lengths += [b & 15, b >> 4]
    # [MS-XCA] 2.2.4's table: 2^15 entries, by (length, symbol).
    table = []
    for bl in range(1, 16):
        for sym in range(512):
            if lengths[sym] == bl:
                table += [sym] * (1 << (15 - bl))
    if len(table) != 1 << 15:
        raise ValueError("the Huffman code is not complete")
    pos = 256

    def rd16():
        nonlocal pos
        if pos + 2 > len(data) + 4:
            raise ValueError("input ran out")
        v = int.from_bytes(data[pos:pos + 2].ljust(2, b"\0"), "little")
        pos += 2
        return v

    def rd8():
        nonlocal pos
        if pos >= len(data):
            raise ValueError("input ran out")
        pos += 1
        return data[pos - 1]

    nxt = (rd16() << 16) | rd16()
    extra = 16
    out = bytearray()

    def take(n):
        nonlocal nxt, extra
        v = (nxt >> (32 - n)) if n else 0
        nxt = (nxt << n) & 0xFFFFFFFF
        extra -= n
        if extra < 0:
            nxt |= rd16() << (-extra)
            extra += 16
        return v

    while len(out) < out_len:
        sym = table[nxt >> 17]
        take(lengths[sym])
        if sym < 256:
            out.append(sym)
            continue
        sym -= 256
        ml, ob = sym & 15, sym >> 4
        if ml == 15:
            ml = rd8()
            if ml == 255:
                ml = rd16()
                if ml < 15:
                    raise ValueError("bad match length")
                ml -= 15
            ml += 15
        ml += 3
        off = take(ob) + (1 << ob)
        if off > len(out) or len(out) + ml > out_len:
            raise ValueError("match outside the output")
        for _ in range(ml):
            out.append(out[-off])
    return bytes(out)


def unframe(data):
    """The data of a compressed rsp:Stream (one or more blocks)."""
    out, p = bytearray(), 0
    while p < len(data):
        if len(data) - p < 4:
            raise ValueError("truncated block header")
        orig, comp = struct.unpack_from("<HH", data, p)
        orig, comp = orig + 1, comp + 1
        p += 4
        if comp > len(data) - p or comp > orig:
            raise ValueError("bad block lengths")
        block = data[p:p + comp]
        out += block if comp == orig else huff_decompress(block, orig)
        p += comp
    return bytes(out)


# ---- encoding -----------------------------------------------------------

def _lz77(data):
    """Greedy LZ77: [(literal byte) | (length, distance)]."""
    heads, toks, i, n = {}, [], 0, len(data)
    while i < n:
        best = (0, 0)
        if i + 3 <= n:
            for c in reversed(heads.get(data[i:i + 3], [])[-8:]):
                d = i - c
                if d > 65535:
                    break
                m = 3
                while i + m < n and data[c + m] == data[i + m]:
                    m += 1
                if m > best[0]:
                    best = (m, d)
        step = best[0] if best[0] >= 3 else 1
        toks.append(best if best[0] >= 3 else data[i])
        for k in range(i, min(i + step, n - 2)):
            heads.setdefault(data[k:k + 3], []).append(k)
        i += step
    return toks


def _code_lengths(freq):
    f = list(freq)
    while True:
        heap = [(w, s, None) for s, w in enumerate(f) if w]
        if len(heap) == 1:
            lens = [0] * 512
            lens[heap[0][1]] = 1
            lens[1 if heap[0][1] == 0 else 0] = 1
            return lens
        heapq.heapify(heap)
        uid = 512
        depth_of = {}
        nodes = {}
        while len(heap) > 1:
            a, b = heapq.heappop(heap), heapq.heappop(heap)
            nodes[uid] = (a, b)
            heapq.heappush(heap, (a[0] + b[0], uid, None))
            uid += 1
        lens = [0] * 512
        stack = [(heap[0], 0)]
        while stack:
            (w, key, _), dep = stack.pop()
            if key < 512:
                lens[key] = dep
            else:
                a, b = nodes[key]
                stack += [(a, dep + 1), (b, dep + 1)]
        del depth_of
        if max(lens) <= 15:
            return lens
        f = [(w + 1) // 2 if w else 0 for w in f]


def huff_compress(data):
    """One LZ77+Huffman block (with its EOF symbol) of len(data) <= 64 KiB."""
    toks = _lz77(data)
    freq = [0] * 512

    def sym_of(t):
        if isinstance(t, int):
            return t
        ln, d = t
        return 256 + min(ln - 3, 15) + 16 * (d.bit_length() - 1)

    for t in toks:
        freq[sym_of(t)] += 1
    freq[256] += 1
    lens = _code_lengths(freq)
    codes, c = [0] * 512, 0
    for bl in range(1, 16):
        for s in range(512):
            if lens[s] == bl:
                codes[s] = c
                c += 1
        c <<= 1
    out = bytearray(bytes(lens[s] | (lens[s + 1] << 4) for s in range(0, 512, 2)))
    out += bytes(4)
    # the writer of [MS-XCA] 2.1.4.3
    st = {"free": 16, "next": 0, "p1": 256, "p2": 258}

    def put16(at, v):
        out[at:at + 2] = (v & 0xFFFF).to_bytes(2, "little")

    def bits(n, v):
        if st["free"] >= n:
            st["free"] -= n
            st["next"] = (st["next"] << n) | v
            return
        st["next"] = (st["next"] << st["free"]) | (v >> (n - st["free"]))
        put16(st["p1"], st["next"])
        st["p1"], st["p2"] = st["p2"], len(out)
        out.extend(b"\0\0")
        st["free"] += 16 - n
        st["next"] = v

    for t in toks:
        s = sym_of(t)
        bits(lens[s], codes[s])
        if isinstance(t, int):
            continue
        ln, d = t
        ln -= 3
        if ln >= 15:
            if ln - 15 < 255:
                out.append(ln - 15)
            else:
                out.append(255)
                out += ln.to_bytes(2, "little")
        hb = d.bit_length() - 1
        if hb:
            bits(hb, d - (1 << hb))
    bits(lens[256], codes[256])
    st["next"] <<= st["free"]
    put16(st["p1"], st["next"])
    put16(st["p2"], 0)
    return bytes(out)


def frame(data, always_store=False):
    """data as the blocks of one compressed rsp:Stream."""
    out = bytearray()
    for p in range(0, len(data), BLOCK):
        blk = data[p:p + BLOCK]
        z = None if always_store or len(blk) < MIN_COMPRESSED else huff_compress(blk)
        if z is None or len(z) >= len(blk):
            z = blk
        out += struct.pack("<HH", len(blk) - 1, len(z) - 1) + z
    return bytes(out)
