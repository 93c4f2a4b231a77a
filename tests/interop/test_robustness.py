"""Hostile input and resource use: entity bombs, huge envelopes, floods, RSS."""

import threading
import time

import pytest

from wsman_helpers import (
    SANITIZED, SHELL_URI, TRANSFER_GET, assert_identify_ok, basic_auth, http_head,
    parse_fault, post, raw_request, wsman_envelope, Reply,
)

MB = 1024  # VmRSS is in kB


def _billion_laughs(levels=10, fanout=10):
    ents = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        ents.append('<!ENTITY lol%d "%s">' % (i, ("&lol%d;" % (i - 1)) * fanout))
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE s:Envelope [\n' + "\n".join(ents) + "\n]>\n"
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
        "<s:Header/><s:Body><wsmid:Identify>&lol%d;</wsmid:Identify></s:Body>"
        "</s:Envelope>" % (levels - 1))


def test_billion_laughs_refused(wsmd):
    assert_identify_ok(wsmd.port)
    rss0 = wsmd.rss_kb()
    t0 = time.monotonic()
    reply = post(wsmd.port, body=_billion_laughs(), timeout=10)
    elapsed = time.monotonic() - t0
    wsmd.assert_alive()
    rss1 = wsmd.rss_kb()
    assert elapsed < 1.0, f"entity bomb took {elapsed:.2f}s to refuse: {reply!r}"
    assert reply.status in (400, 500), reply
    parse_fault(reply)
    limit = 16 * MB if SANITIZED else 4 * MB
    assert rss1 - rss0 <= limit, f"RSS grew {rss0} -> {rss1} kB on entity bomb"
    assert_identify_ok(wsmd.port)


def test_quadratic_blowup_refused(wsmd):
    """One big entity referenced many times (no nesting)."""
    big = "A" * 20000
    body = ('<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "%s">]>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            "<s:Header/><s:Body><wsmid:Identify>%s</wsmid:Identify></s:Body>"
            "</s:Envelope>" % (big, "&a;" * 20000))
    rss0 = wsmd.rss_kb()
    t0 = time.monotonic()
    reply = post(wsmd.port, body=body, timeout=10)
    elapsed = time.monotonic() - t0
    rss1 = wsmd.rss_kb()
    assert elapsed < 1.0, f"took {elapsed:.2f}s: {reply!r}"
    assert reply.status in (400, 500), reply
    parse_fault(reply)
    limit = 16 * MB if SANITIZED else 4 * MB
    assert rss1 - rss0 <= limit, f"RSS grew {rss0} -> {rss1} kB"
    assert_identify_ok(wsmd.port)


def _big_envelope(url, size):
    pad_len = size
    body = "<w:Pad xmlns:w=\"urn:pad\">" + ("x" * pad_len) + "</w:Pad>"
    return wsman_envelope(TRANSFER_GET, SHELL_URI, url, body=body).encode()


def _check_too_big(status, hdrs, body, err, what):
    assert err is None, f"{what}: no usable reply ({err!r}), status={status}"
    assert status in (413, 500), f"{what}: status {status}, body={body[:2000]!r}"
    if status == 500:
        reply = Reply(status, list(hdrs.items()), body)
        f = parse_fault(reply)
        assert f.subcode and f.subcode.endswith(":EncodingLimit"), (what, f, body[:2000])


def test_oversized_envelope_600k(wsmd):
    body = _big_envelope(wsmd.url, 600 * 1024)
    assert len(body) > 512000
    head = http_head("POST", "/wsman", wsmd.port, {
        "Authorization": basic_auth(),
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Content-Length": str(len(body)),
    })
    status, hdrs, rbody, err = raw_request(wsmd.port, head, body)
    _check_too_big(status, hdrs, rbody, err, "600 KB envelope")
    wsmd.assert_alive()
    assert_identify_ok(wsmd.port)


def test_oversized_envelope_chunked(wsmd):
    """Same limit when the size is not announced (Transfer-Encoding: chunked)."""
    env = _big_envelope(wsmd.url, 600 * 1024)
    chunks = b""
    step = 32768
    for i in range(0, len(env), step):
        piece = env[i:i + step]
        chunks += b"%x\r\n" % len(piece) + piece + b"\r\n"
    chunks += b"0\r\n\r\n"
    head = http_head("POST", "/wsman", wsmd.port, {
        "Authorization": basic_auth(),
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Transfer-Encoding": "chunked",
    })
    status, hdrs, rbody, err = raw_request(wsmd.port, head, chunks)
    if status in (400, 411, 501):
        pass  # refusing chunked uploads outright is acceptable
    else:
        _check_too_big(status, hdrs, rbody, err, "600 KB chunked envelope")
    wsmd.assert_alive()
    assert_identify_ok(wsmd.port)


def test_huge_content_length_unauthenticated(wsmd):
    """A 10 GB Content-Length must not make the daemon allocate it."""
    head = http_head("POST", "/wsman", wsmd.port, {
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Content-Length": str(10 * 1024 ** 3),
    })
    rss0 = wsmd.rss_kb()
    status, hdrs, rbody, err = raw_request(wsmd.port, head, b"x" * 65536,
                                           read_body=False)
    assert status in (401, 413), (status, hdrs, err)
    assert wsmd.rss_kb() - rss0 <= 4 * MB
    assert_identify_ok(wsmd.port)


def test_huge_content_length_authenticated(wsmd):
    head = http_head("POST", "/wsman", wsmd.port, {
        "Authorization": basic_auth(),
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Content-Length": str(10 * 1024 ** 3),
    })
    rss0 = wsmd.rss_kb()
    status, hdrs, rbody, err = raw_request(wsmd.port, head, b"x" * 65536)
    assert status in (413, 500), (status, hdrs, rbody[:2000], err)
    if status == 500:
        _check_too_big(status, hdrs, rbody, err, "10 GB Content-Length")
    assert wsmd.rss_kb() - rss0 <= 4 * MB
    assert_identify_ok(wsmd.port)


@pytest.mark.parametrize("cl", ["-1", "abc", "1, 2", "99999999999999999999999"])
def test_bad_content_length(wsmd, cl):
    body = b"<x/>"
    head = http_head("POST", "/wsman", wsmd.port, {
        "Authorization": basic_auth(),
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Content-Length": cl,
    })
    status, hdrs, rbody, err = raw_request(wsmd.port, head, body, timeout=5,
                                           read_body=False)
    # any 4xx/5xx or a plain close is fine; a 2xx is not
    assert status is None or status >= 400, (status, hdrs)
    assert_identify_ok(wsmd.port)


def test_many_headers_and_long_lines(wsmd):
    hdr = {"Authorization": basic_auth(),
           "Content-Type": "application/soap+xml;charset=UTF-8",
           "Content-Length": "4"}
    for i in range(2000):
        hdr[f"X-Junk-{i}"] = "y" * 100
    head = http_head("POST", "/wsman", wsmd.port, hdr)
    status, hdrs, rbody, err = raw_request(wsmd.port, head, b"<x/>", timeout=5,
                                           read_body=False)
    assert status is None or status >= 400, (status, hdrs)
    head = (b"POST /wsman" + b"/a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, hdrs, rbody, err = raw_request(wsmd.port, head, b"", timeout=5,
                                           read_body=False)
    assert status is None or status >= 400, (status, hdrs)
    assert_identify_ok(wsmd.port)


def test_slow_idle_connections_do_not_block_service(wsmd):
    """A few connections that never send anything must not starve others."""
    import socket
    idle = [socket.create_connection(("127.0.0.1", wsmd.port), timeout=5)
            for _ in range(20)]
    try:
        idle[0].sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\n")  # partial
        t0 = time.monotonic()
        assert_identify_ok(wsmd.port)
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in idle:
            s.close()
    assert_identify_ok(wsmd.port)


# --------------------------------------------------------------------------
# Flood of unauthenticated 64 KB POSTs
# --------------------------------------------------------------------------

N_WARMUP = 50
N_FLOOD = 2000
N_THREADS = 8
BODY_64K = b"<" + b"x" * (64 * 1024 - 2) + b">"


def _flood(port, n, results, lock):
    head = http_head("POST", "/wsman", port, {
        "Content-Type": "application/soap+xml;charset=UTF-8",
        "Content-Length": str(len(BODY_64K)),
    })
    local = {}
    for _ in range(n):
        try:
            status, hdrs, _b, err = raw_request(port, head, BODY_64K, timeout=10,
                                                read_body=False)
            key = status if status is not None else type(err).__name__ if err else "eof"
        except OSError as e:
            key = type(e).__name__
        local[key] = local.get(key, 0) + 1
    with lock:
        for k, v in local.items():
            results[k] = results.get(k, 0) + v


def _run_flood(port, total):
    results, lock = {}, threading.Lock()
    per = total // N_THREADS
    threads = [threading.Thread(target=_flood, args=(port, per, results, lock))
               for _ in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_unauthenticated_flood_rss(wsmd):
    warm = _run_flood(wsmd.port, N_WARMUP + (-N_WARMUP % N_THREADS))
    wsmd.assert_alive()
    assert_identify_ok(wsmd.port)
    rss0 = wsmd.rss_kb()
    t0 = time.monotonic()
    res = _run_flood(wsmd.port, N_FLOOD)
    elapsed = time.monotonic() - t0
    wsmd.assert_alive()
    time.sleep(0.2)
    rss1 = wsmd.rss_kb()
    assert_identify_ok(wsmd.port)
    info = (f"warmup={warm} flood={res} in {elapsed:.1f}s "
            f"rss {rss0} -> {rss1} kB")
    print(info)
    bad = {k: v for k, v in res.items() if isinstance(k, int) and k != 401}
    assert not bad, f"non-401 statuses in flood: {info}"
    assert res.get(401, 0) > 0, f"never saw a 401: {info}"
    assert sum(res.values()) == N_FLOOD, info
    if not SANITIZED:
        assert rss1 - rss0 <= 10 * MB, f"RSS grew more than 10 MB: {info}"


@pytest.mark.skipif(SANITIZED, reason="RSS is meaningless under ASan")
def test_idle_rss_under_8mb(wsmd):
    rss_start = wsmd.rss_kb()
    assert_identify_ok(wsmd.port)
    time.sleep(0.1)
    rss_idle = wsmd.rss_kb()
    # The figure (idle RSS under 8 MB) is the daemon waiting for work. Serving
    # maps in the code paths it uses (libxml2's parser, yescrypt...): a few
    # hundred KB of shared library pages, allowed for separately.
    assert rss_start < 8 * MB, f"RSS right after start {rss_start} kB"
    assert rss_idle < 8 * MB + 512, f"idle RSS after one Identify {rss_idle} kB"
