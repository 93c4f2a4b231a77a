"""PROXY protocol v1 and v2 on wsmd's listeners (ProxyProtocol,
docs/internals/connections.md): HAProxy (TCP mode, send-proxy-v2, and a
send-proxy v1 frontend) started here from a temp config in front of two
wsmd collector nodes; the client connects from 127.0.0.2, HAProxy from
127.0.0.1, and wsmd's log and the collector's output carry 127.0.0.2. A
PROXY header on a listener without the option is refused; garbage, partial
and trickled headers (raw sockets) are closed within the deadline; HTTPS
takes the header before the TLS handshake."""

import base64
import http.client
import socket
import ssl
import struct
import time

import pytest

from cluster_helpers import HAPROXY, HAProxy, free_port
from collector_helpers import Collector, event_xml, events_body
from test_https import make_cert
from wsman_helpers import PASSWORD, USER

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CLIENT = "127.0.0.2"  # the source's real address; HAProxy connects from 127.0.0.1
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def v2_header(src, sport, dst="127.0.0.1", dport=5985, cmd=0x21):
    return (SIG + bytes([cmd, 0x11]) + struct.pack(">H", 12) + socket.inet_aton(src) +
            socket.inet_aton(dst) + struct.pack(">HH", sport, dport))


def identify_request():
    body = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            b'<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>')
    return (b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;"
            b"charset=UTF-8\r\nWSMANIDENTIFY: unauthenticated\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def exchange(port, data, timeout=10):
    """Sends data on a new connection, returns everything read until the
    server closes (or b"" on a reset)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                return out
            if not c:
                return out
            out += c
    finally:
        s.close()


def closed_within(sock, seconds):
    """Seconds until the server closed sock (recv gives b"" or a reset)."""
    t0 = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - t0


def haproxy(tmp_path, backends_v2, backend_v1):
    """A v2 frontend (round robin over backends_v2) and a v1 one."""
    port, port_v1 = free_port(), free_port()
    servers = "\n".join(f"  server n{i} 127.0.0.1:{p} send-proxy-v2"
                        for i, p in enumerate(backends_v2))
    hp = HAProxy(tmp_path, f"""global
  maxconn 200
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend fe2
  bind 127.0.0.1:{port}
  default_backend be2
backend be2
  balance roundrobin
{servers}
frontend fe1
  bind 127.0.0.1:{port_v1}
  default_backend be1
backend be1
  server v1 127.0.0.1:{backend_v1} send-proxy
""", (port, port_v1))
    hp.port, hp.port_v1 = port, port_v1
    return hp


@pytest.fixture
def nodes(wsmd_factory, tmp_path):
    if not HAPROXY:
        pytest.skip("haproxy is not installed")
    cols = []
    for i in range(2):
        d = tmp_path / f"node{i}"
        d.mkdir()
        cols.append(Collector(wsmd_factory, d, extra="ProxyProtocol = true\n"))
    hp = haproxy(tmp_path, [c.d.port for c in cols], cols[0].d.port)
    yield cols, hp
    hp.stop()


def post_via(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                      source_address=(CLIENT, 0))
    try:
        conn.request("POST", path, body=body.encode(), headers={
            "Content-Type": "application/soap+xml;charset=UTF-8", "Authorization": AUTH})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def test_haproxy_v2_in_front_of_two_nodes_carries_the_client_address(nodes):
    cols, hp = nodes
    path = "/wsman/subscriptions/Sec"
    for b in range(4):
        _, body = events_body(f"http://127.0.0.1:{hp.port}{path}",
                              [event_xml(b * 10 + i) for i in range(1, 4)], b * 10 + 3)
        status, text = post_via(hp.port, path, body)
        assert status == 200, text
    # Round robin: each node got batches; every event once, from 127.0.0.2.
    rows = [r for c in cols for r in c.jsonl()]
    assert all(c.jsonl() for c in cols)
    assert sorted(r["EventRecordID"] for r in rows) == sorted(
        b * 10 + i for b in range(4) for i in range(1, 4))
    assert {r["SourceAddress"] for r in rows} == {CLIENT}
    # A request without credentials on each node: its log line names the
    # client, never HAProxy's address.
    for _ in cols:
        conn = http.client.HTTPConnection("127.0.0.1", hp.port, timeout=30,
                                          source_address=(CLIENT, 0))
        conn.request("POST", path, body=b"x")
        assert conn.getresponse().status == 401
        conn.close()
    for c in cols:
        log = c.d.log()
        assert f"peer={CLIENT}:" in log
        assert "peer=127.0.0.1:" not in log  # HAProxy's own address is nowhere
        # wecutil gr: the source's last address is the client's.
        gr = c.wecutil("gr", "Sec").stdout
        assert CLIENT in gr and "127.0.0.1" not in gr, gr


def test_haproxy_v1_frontend(nodes):
    cols, hp = nodes
    path = "/wsman/subscriptions/Sec"
    _, body = events_body(f"http://127.0.0.1:{hp.port_v1}{path}", [event_xml(77)], 77)
    status, text = post_via(hp.port_v1, path, body)
    assert status == 200, text
    assert [r["SourceAddress"] for r in cols[0].jsonl()] == [CLIENT]
    # The throttle counts the real address too: a wrong password from the
    # client is logged with 127.0.0.2.
    conn = http.client.HTTPConnection("127.0.0.1", hp.port_v1, timeout=30,
                                      source_address=(CLIENT, 0))
    conn.request("POST", path, body=b"x", headers={
        "Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()})
    assert conn.getresponse().status == 401
    conn.close()
    assert f"peer={CLIENT}:" in cols[0].d.log()


def test_local_and_unknown_keep_the_peer_address(wsmd_factory, users_file):
    conf = users_file.parent / "p.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nUsers = {users_file}\nProxyProtocol = true\n")
    d = wsmd_factory("-c", str(conf))
    for hdr in (SIG + bytes([0x20, 0x00, 0, 0]), b"PROXY UNKNOWN\r\n"):
        out = exchange(d.port, hdr + identify_request())
        assert out.startswith(b"HTTP/1.1 200"), out[:200]
    # A v2 header from 10.1.2.3 gives 10.1.2.3 in the log line.
    out = exchange(d.port, v2_header("10.1.2.3", 4321, dport=d.port) + identify_request())
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    deadline = time.monotonic() + 5
    while "peer=10.1.2.3:4321" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.02)


@pytest.fixture
def two_listeners(wsmd_factory, users_file):
    """127.0.0.1 with ProxyProtocol (its port in the file's Listen line),
    and a plain 127.0.0.1 listener; HeaderTimeoutms 1000."""
    pport = free_port()
    conf = users_file.parent / "two.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nListen = http://127.0.0.1:{pport}\n"
                    f"ProxyProtocol = http://127.0.0.1:{pport}\nHeaderTimeoutms = 1000\n"
                    f"Users = {users_file}\n")
    d = wsmd_factory("-c", str(conf))
    deadline = time.monotonic() + 5
    while f"127.0.0.1:{pport}/wsman proxy_protocol=true" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.02)
    return d, d.port, pport


def test_a_proxy_header_on_a_plain_listener_is_refused(two_listeners):
    d, plain, proxied = two_listeners
    out = exchange(plain, b"PROXY TCP4 10.1.2.3 127.0.0.1 4321 5985\r\n" + identify_request())
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert b"Connection: close" in out
    out = exchange(plain, v2_header("10.1.2.3", 4321) + identify_request())
    assert not out.startswith(b"HTTP/1.1 200"), out[:200]
    # The plain listener still serves, and the proxied one needs its header.
    assert exchange(plain, identify_request()).startswith(b"HTTP/1.1 200")
    assert exchange(proxied, identify_request()) == b""
    assert "10.1.2.3" not in d.log()


def test_garbage_partial_and_trickled_headers_are_closed_fast(two_listeners):
    d, _, port = two_listeners
    # Garbage: closed at once.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GARBAGE\r\n\r\n")
    assert closed_within(s, 5) < 0.5
    s.close()
    # A v2 header announcing more than the bound: closed at once.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(SIG + bytes([0x21, 0x11, 0xff, 0xff]))
    assert closed_within(s, 5) < 0.5
    s.close()
    # Partial (and silent) ones: closed at the deadline (HeaderTimeoutms 1000).
    socks = []
    for data in (b"PROXY TCP4 10.1", SIG[:7], SIG + bytes([0x21, 0x11, 0, 12, 1, 2]), b""):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(data)
        socks.append(s)
    t0 = time.monotonic()
    for s in socks:
        closed_within(s, 5)
        s.close()
    assert 0.7 < time.monotonic() - t0 < 2.5
    # A trickle, one byte every 100 ms of a valid header: the deadline is
    # not moved by the bytes.
    hdr = b"PROXY TCP4 10.1.2.3 127.0.0.1 4321 5985\r\n"
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    sent = 0
    try:
        while sent < len(hdr):
            s.sendall(hdr[sent:sent + 1])
            sent += 1
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError):
        pass
    closed_within(s, 5)
    s.close()
    assert sent < len(hdr) and time.monotonic() - t0 < 2.5
    # A v1 line past 107 bytes without CR LF: refused without waiting.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PROXY UNKNOWN " + b"a" * 120)
    assert closed_within(s, 5) < 0.5
    s.close()
    # Still serving.
    assert exchange(port, v2_header("10.9.9.9", 1) + identify_request()).startswith(b"HTTP/1.1 200")
    assert "event=proxy-refused" in d.log() and "reason=timeout" in d.log()


def test_https_listener_takes_the_header_before_the_tls_handshake(wsmd_factory, users_file,
                                                                  tmp_path):
    c = make_cert(tmp_path / "tls")
    pport = free_port()
    conf = tmp_path / "tls.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nListen = https://127.0.0.1:{pport}\n"
                    f"ProxyProtocol = https://127.0.0.1:{pport}\nUsers = {users_file}\n"
                    f"CertificateFile = {c.cert}\nKeyFile = {c.key}\n")
    d = wsmd_factory("-c", str(conf))
    deadline = time.monotonic() + 5
    while "proxy_protocol=true" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.02)
    raw = socket.create_connection(("127.0.0.1", pport), timeout=10)
    raw.sendall(v2_header("10.7.7.7", 7777, dport=pport))
    ctx = ssl.create_default_context(cafile=str(c.cert))
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(identify_request())
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    deadline = time.monotonic() + 5
    while "peer=10.7.7.7:7777" not in d.log():
        assert time.monotonic() < deadline, d.log()
        time.sleep(0.02)
