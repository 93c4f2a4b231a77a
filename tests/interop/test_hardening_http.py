"""The HTTP front end cannot be held or flooded (issue 14, findings 2, 5, 11a,
11b; docs/internals/connections.md).

Raw sockets against a live wsmd on loopback: idle and trickling connections
meet the per-address limit and deadlines a trickle cannot extend, another
address is served meanwhile; anonymous bodies and attribute-heavy envelopes
are refused before they cost; ambiguous framing is 400 and a refused request
gets its 401 without a "100 Continue" first. The figures with 1,000 and 2,000
connections are in bench/slowloris, not here.
"""

import base64
import http.client
import socket
import ssl
import threading
import time

import pytest

from wsman_helpers import (
    IDENTIFY_BODY, PASSWORD, SANITIZED, SOAP_CT, USER, assert_identify_response,
    basic_auth, parse_fault,
)

SLOW = 3.0 if SANITIZED else 1.0
ANON = {"WSMANIDENTIFY": "unauthenticated"}


def start(wsmd_factory, users_file, tmp_path, extra=(), **keys):
    conf = tmp_path / "guard.conf"
    conf.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
    return wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0",
                        "--users", str(users_file), *extra)


def connect(port, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def is_closed(s, wait=0.0):
    """True when the peer closed s (EOF or reset) within wait seconds."""
    s.settimeout(max(wait, 0.001))
    try:
        return s.recv(4096) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def wait_closed(s, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_closed(s, 0.05):
            return True
    return False


def identify_from(port, src, timeout=5, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(src, 0))
    try:
        h = {"Content-Type": SOAP_CT, "Authorization": basic_auth()}
        h.update(headers or {})
        c.request("POST", "/wsman", body=IDENTIFY_BODY, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def raw_exchange(port, data, wait=3.0):
    """Sends data, returns everything received until EOF (or wait)."""
    s = connect(port)
    try:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                return out, False
            except OSError:
                return out, True
            if not d:
                return out, True
            out += d
        return out, False
    finally:
        s.close()


def head(lines):
    return ("\r\n".join(["POST /wsman HTTP/1.1", "Host: 127.0.0.1", *lines]) +
            "\r\n\r\n").encode("latin-1")


# ---- finding 2: per-address limit, deadlines, eviction -------------------

def test_per_address_limit_leaves_room_for_others(wsmd):
    """The default per-address limit (32): 40 idle connections from one
    address keep 32; another address is served meanwhile; closed ones are
    counted out again."""
    held = [connect(wsmd.port) for _ in range(40)]
    try:
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline:
            open_ = [s for s in held if not is_closed(s, 0.01)]
            if len(open_) <= 32:
                break
        assert len(open_) == 32, f"{len(open_)} of 40 idle connections from one address open"
        t0 = time.monotonic()
        status, body = identify_from(wsmd.port, "127.0.0.2")
        assert status == 200, body[:500]
        assert time.monotonic() - t0 < 1.0 * SLOW
        assert "event=connection-limit peer=127.0.0.1" in wsmd.log() or \
            _wait_log(wsmd, "event=connection-limit peer=127.0.0.1")
    finally:
        for s in held:
            s.close()
    # Their slots are given back: the address is served again.
    deadline = time.monotonic() + 5 * SLOW
    while True:
        try:
            status, _ = identify_from(wsmd.port, "127.0.0.1", timeout=2)
            if status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "127.0.0.1 not served after closing its connections"
        time.sleep(0.05)


def test_authenticated_sessions_beyond_the_per_address_limit(wsmd):
    """A client with credentials may keep more sessions than the
    per-address limit (one keep-alive connection each, as 40 pywinrm
    Protocols would); idle connections without credentials still may not
    pile up beside them."""
    conns = []
    try:
        for _ in range(40):
            c = http.client.HTTPConnection("127.0.0.1", wsmd.port, timeout=5,
                                           source_address=("127.0.0.3", 0))
            c.request("POST", "/wsman", body=IDENTIFY_BODY,
                      headers={"Content-Type": SOAP_CT, "Authorization": basic_auth()})
            r = c.getresponse()
            assert r.status == 200
            r.read()
            conns.append(c)
        for c in conns:  # all still open and usable
            sock = c.sock
            c.request("POST", "/wsman", body=IDENTIFY_BODY,
                      headers={"Content-Type": SOAP_CT, "Authorization": basic_auth()})
            r = c.getresponse()
            assert r.status == 200 and c.sock is sock
            r.read()
        idle = [connect(wsmd.port, "127.0.0.3") for _ in range(40)]
        try:
            deadline = time.monotonic() + 5 * SLOW
            while time.monotonic() < deadline:
                open_ = [s for s in idle if not is_closed(s, 0.01)]
                if len(open_) <= 32:
                    break
            assert len(open_) == 32, len(open_)
        finally:
            for s in idle:
                s.close()
    finally:
        for c in conns:
            c.close()


def _wait_log(d, text, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in d.log():
            return True
        time.sleep(0.05)
    return False


def test_header_deadline_not_extended_by_trickle(wsmd_factory, users_file, tmp_path):
    """HeaderTimeoutms=1000: a connection trickling its headers a byte at a
    time, and one sending nothing, are both closed about 1 s after they
    opened, whatever the trickle; the log has one summary, not a line per
    connection."""
    d = start(wsmd_factory, users_file, tmp_path, HeaderTimeoutms=1000)
    msg = b"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    trickle = connect(d.port)
    silent = connect(d.port)
    t0 = time.monotonic()
    sent = 0
    closed_at = None
    while time.monotonic() - t0 < 5 * SLOW:
        try:
            trickle.send(msg[sent:sent + 1])
            sent += 1
        except OSError:
            closed_at = time.monotonic() - t0
            break
        if is_closed(trickle, 0.1):
            closed_at = time.monotonic() - t0
            break
    assert closed_at is not None, f"a trickle of {sent} header bytes held the connection 5 s"
    assert 0.8 <= closed_at <= 2.0 * SLOW, closed_at
    assert wait_closed(silent, 1.0 * SLOW), "a silent connection outlived the header deadline"
    silent.close()
    trickle.close()
    assert _wait_log(d, "timed_out="), d.log()
    assert "Connection socket is closed" not in d.log()


def test_https_without_client_hello_is_closed(wsmd_factory, users_file, tmp_path):
    from test_https import https_port, make_cert
    c = make_cert(tmp_path / "tls")
    d = start(wsmd_factory, users_file, tmp_path,
              extra=("--listen", "https://127.0.0.1:0", "--tls-cert", str(c.cert),
                     "--tls-key", str(c.key)),
              HeaderTimeoutms=1000)
    port = https_port(d)
    s = connect(port)
    t0 = time.monotonic()
    assert wait_closed(s, 3.0 * SLOW), "a TLS connection without ClientHello was kept"
    assert time.monotonic() - t0 >= 0.7
    s.close()
    # A real TLS client is served.
    ctx = ssl.create_default_context(cafile=str(c.cert))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("POST", "/wsman", body=IDENTIFY_BODY,
                 headers={"Content-Type": SOAP_CT, "Authorization": basic_auth()})
    assert conn.getresponse().status == 200
    conn.close()


def test_body_deadline_not_extended_by_trickle(wsmd_factory, users_file, tmp_path):
    d = start(wsmd_factory, users_file, tmp_path, HeaderTimeoutms=1000, BodyTimeoutms=1500)
    s = connect(d.port)
    s.sendall(head([f"Authorization: {basic_auth()}", f"Content-Type: {SOAP_CT}",
                    "Content-Length: 5000"]))
    t0 = time.monotonic()
    closed_at = None
    while time.monotonic() - t0 < 6 * SLOW:
        try:
            s.send(b" " * 10)
        except OSError:
            closed_at = time.monotonic() - t0
            break
        if is_closed(s, 0.1):
            closed_at = time.monotonic() - t0
            break
    s.close()
    assert closed_at is not None, "a trickled body held the connection 6 s"
    assert 1.2 <= closed_at <= 3.0 * SLOW, closed_at


def test_keepalive_after_authentication_survives(wsmd_factory, users_file, tmp_path):
    """An authenticated client may idle between requests past the header
    deadline (the idle timeout applies); an unauthenticated one may not."""
    d = start(wsmd_factory, users_file, tmp_path, HeaderTimeoutms=1000)
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    hdr = {"Content-Type": SOAP_CT, "Authorization": basic_auth()}
    c.request("POST", "/wsman", body=IDENTIFY_BODY, headers=hdr)
    r = c.getresponse()
    assert r.status == 200
    r.read()
    sock = c.sock
    time.sleep(2.0)
    c.request("POST", "/wsman", body=IDENTIFY_BODY, headers=hdr)
    r = c.getresponse()
    assert r.status == 200 and c.sock is sock
    r.read()
    c.close()

    a = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    a.request("POST", "/wsman", body=IDENTIFY_BODY, headers={"Content-Type": SOAP_CT, **ANON})
    r = a.getresponse()
    assert r.status == 200
    r.read()
    assert wait_closed(a.sock, 3.0 * SLOW), "an anonymous keep-alive outlived the header deadline"
    a.close()


def test_long_poll_is_not_reaped(wsmd_factory, shell_users_file, shell_accounts, tmp_path):
    """A Receive parked longer than every deadline is answered (w:TimedOut),
    not cut."""
    from shell_helpers import CODE_TIMED_OUT, Raw, fault_of
    d = start(wsmd_factory, shell_users_file, tmp_path, HeaderTimeoutms=1000,
              BodyTimeoutms=1000)
    user, pw = shell_accounts[0]
    raw = Raw(d, user, pw, operation_timeout_sec=3)
    shell_id, _, _ = raw.create()
    try:
        cid = raw.command_id(raw.command(shell_id, "sleep", ["20"])[0])
        t0 = time.monotonic()
        reply, _ = raw.receive(shell_id, cid)
        took = time.monotonic() - t0
        assert reply.status != 200 or b"ReceiveResponse" in reply.body, reply
        if reply.status != 200:
            f = fault_of(reply)
            assert f.wsman_code == CODE_TIMED_OUT, (f, reply)
            assert took >= 2.0, took
        raw.signal(shell_id, cid, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
                   "signal/terminate")
    finally:
        raw.delete(shell_id)


def test_eviction_near_the_global_limit(wsmd_factory, users_file, tmp_path):
    """MaxConnections=10 and 14 idle connections: the oldest that never
    authenticated make room, a real client is served."""
    d = start(wsmd_factory, users_file, tmp_path, MaxConnections=10)
    held = []
    try:
        for i in range(14):
            held.append(connect(d.port, f"127.0.0.{10 + i}"))
            time.sleep(0.01)
        t0 = time.monotonic()
        status, body = identify_from(d.port, "127.0.0.2", timeout=5)
        assert status == 200, body[:300]
        assert time.monotonic() - t0 < 2.0 * SLOW
        assert wait_closed(held[0], 2.0), "the oldest idle connection was not evicted"
        assert _wait_log(d, "evicted=1"), d.log()
    finally:
        for s in held:
            s.close()


# ---- finding 5: the anonymous path and attribute caps ---------------------

def _padded_identify(pad):
    return IDENTIFY_BODY.replace("<wsmid:Identify/>",
                                 "<wsmid:Identify>%s</wsmid:Identify>" % (" " * pad)).encode()


def _attr_identify(n):
    attrs = "".join(' a%d=""' % i for i in range(n))
    return IDENTIFY_BODY.replace("<wsmid:Identify/>", "<wsmid:Identify%s/>" % attrs).encode()


def test_anonymous_body_capped_by_content_length(wsmd):
    body = _padded_identify(100 * 1024)
    t0 = time.monotonic()
    out, closed = raw_exchange(wsmd.port, head([f"Content-Type: {SOAP_CT}",
                                                "WSMANIDENTIFY: unauthenticated",
                                                f"Content-Length: {len(body)}"]) + body)
    assert time.monotonic() - t0 < 1.0 * SLOW
    status = int(out.split(b" ", 2)[1]) if out else None
    assert status == 500, out[:500]
    assert b"EncodingLimit" in out, out[:2000]


def test_anonymous_chunked_body_capped(wsmd):
    body = _padded_identify(500 * 1024)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                      for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
    s = connect(wsmd.port)
    s.sendall(head([f"Content-Type: {SOAP_CT}", "WSMANIDENTIFY: unauthenticated",
                    "Transfer-Encoding: chunked"]))
    sent = 0
    t0 = time.monotonic()
    try:
        while sent < len(chunks):
            sent += s.send(chunks[sent:sent + 65536])
    except OSError:
        pass
    # No IdentifyResponse for a 500 KB anonymous body, and not much read.
    out = b""
    try:
        s.settimeout(3)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    s.close()
    assert b"IdentifyResponse" not in out, out[:300]
    assert time.monotonic() - t0 < 3.0 * SLOW


def test_anonymous_floods_do_not_slow_identify(wsmd):
    """Four unauthenticated peers posting 390 KB bodies of attributes (the
    finding: a normal Identify took 5 s)."""
    body = _attr_identify(40000)
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            try:
                raw_exchange(wsmd.port, head([f"Content-Type: {SOAP_CT}",
                                              "WSMANIDENTIFY: unauthenticated",
                                              f"Content-Length: {len(body)}"]) + body, wait=5)
            except OSError:
                pass

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        worst = 0.0
        for _ in range(5):
            t0 = time.monotonic()
            status, _ = identify_from(wsmd.port, "127.0.0.2", timeout=15)
            worst = max(worst, time.monotonic() - t0)
            assert status == 200
        assert worst < 0.5 * SLOW, f"Identify took {worst:.2f}s under 4 anonymous floods"
    finally:
        stop.set()
        for t in threads:
            t.join(20)


def test_many_attributes_refused_for_authenticated_users(wsmd):
    body = _attr_identify(40000)
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", wsmd.port, timeout=15)
    c.request("POST", "/wsman", body=body,
              headers={"Content-Type": SOAP_CT, "Authorization": basic_auth()})
    r = c.getresponse()
    data = r.read()
    c.close()
    assert time.monotonic() - t0 < 0.5 * SLOW
    assert r.status == 400, data[:500]
    from wsman_helpers import Reply
    f = parse_fault(Reply(r.status, r.getheaders(), data))
    assert f.subcode and f.subcode.endswith(":SchemaValidationError"), f
    # A normal envelope with a few attributes is fine.
    status, _ = identify_from(wsmd.port, "127.0.0.1")
    assert status == 200


def test_normal_anonymous_identify_still_works(wsmd):
    import shutil
    import subprocess
    c = http.client.HTTPConnection("127.0.0.1", wsmd.port, timeout=10)
    c.request("POST", "/wsman", body=IDENTIFY_BODY, headers={"Content-Type": SOAP_CT, **ANON})
    r = c.getresponse()
    from wsman_helpers import Reply
    assert_identify_response(Reply(r.status, r.getheaders(), r.read()))
    c.close()
    if shutil.which("curl"):
        cp = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "-H", f"Content-Type: {SOAP_CT}",
             "-H", "WSMANIDENTIFY: unauthenticated", "--data-binary", IDENTIFY_BODY,
             "-w", "\n%{http_code}", f"http://127.0.0.1:{wsmd.port}/wsman"],
            capture_output=True, text=True, timeout=20)
        assert cp.stdout.rstrip().endswith("\n200"), cp.stdout + cp.stderr
        assert "IdentifyResponse" in cp.stdout


# ---- finding 11a: one way to frame a body ---------------------------------

@pytest.mark.parametrize("framing,want", [
    (["Content-Length: {n}", "Content-Length: 5"], 400),
    (["Content-Length: {n}", "Content-Length: {n}"], 400),
    (["Content-Length: 5", "Transfer-Encoding: chunked"], 400),
    (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], 400),
    (["Transfer-Encoding: gzip, chunked"], 501),
])
def test_ambiguous_framing_refused(wsmd, framing, want):
    body = IDENTIFY_BODY.encode()
    chunked = any("chunked" in f for f in framing)
    payload = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if chunked else body
    lines = [f"Authorization: {basic_auth()}", f"Content-Type: {SOAP_CT}"]
    lines += [f.format(n=len(body)) for f in framing]
    out, closed = raw_exchange(wsmd.port, head(lines) + payload)
    assert out.startswith(b"HTTP/1.1 %d " % want), out[:500]
    assert out.count(b"HTTP/1.1 ") == 1 and b"IdentifyResponse" not in out, out[:1000]
    assert closed, "the connection stayed open after ambiguous framing"


# ---- finding 11b: no "100 Continue" before the gate says yes --------------

NTLM_NEGOTIATE = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="


def _first_status(port, lines, body=b""):
    s = connect(port)
    try:
        s.sendall(head(lines))
        buf = b""
        s.settimeout(3)
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        first = buf.split(b"\r\n", 1)[0]
        if first.startswith(b"HTTP/1.1 100") and body:
            s.sendall(body)
            rest = buf.split(b"\r\n\r\n", 1)[1]
            while b"\r\n\r\n" not in rest:
                d = s.recv(4096)
                if not d:
                    break
                rest += d
            return first, rest.split(b"\r\n", 1)[0]
        return first, None
    finally:
        s.close()


@pytest.mark.parametrize("authz", [None, "Basic " + base64.b64encode(
    f"{USER}:wrong-password".encode()).decode(), "Negotiate " + NTLM_NEGOTIATE])
def test_no_100_continue_before_401(wsmd, authz):
    body = IDENTIFY_BODY.encode()
    lines = [f"Content-Type: {SOAP_CT}", f"Content-Length: {len(body)}",
             "Expect: 100-continue"]
    if authz:
        lines.append(f"Authorization: {authz}")
    first, _ = _first_status(wsmd.port, lines)
    assert first.startswith(b"HTTP/1.1 401"), first


def test_100_continue_after_authentication(wsmd):
    body = IDENTIFY_BODY.encode()
    first, final = _first_status(wsmd.port, [
        f"Content-Type: {SOAP_CT}", f"Content-Length: {len(body)}", "Expect: 100-continue",
        f"Authorization: {basic_auth(USER, PASSWORD)}"], body)
    assert first.startswith(b"HTTP/1.1 100"), first
    assert final and final.startswith(b"HTTP/1.1 200"), final

