"""HTTP/SOAP foundation: Identify, authentication, routing, faults, logging."""

import http.client
import re
import socket
import time

import pytest

from wsman_helpers import (
    IDENTIFY_BODY, NS, PASSWORD, SHELL_URI, TRANSFER_GET, USER,
    assert_identify_ok, assert_identify_response, assert_soap_content_type,
    basic_auth, new_message_id, parse_fault, post, request, wsman_envelope,
)


# --------------------------------------------------------------------------
# Identify
# --------------------------------------------------------------------------

def test_identify_authenticated(wsmd):
    reply = post(wsmd.port)
    ir = assert_identify_response(reply)
    sp = ir.find("wsmid:SecurityProfiles", NS)
    assert sp is not None, f"no wsmid:SecurityProfiles: {reply!r}"


def test_identify_unauthenticated_header(wsmd):
    reply = post(wsmd.port, auth=None,
                 headers={"WSMANIDENTIFY": "unauthenticated"})
    assert_identify_response(reply)
    assert_identify_ok(wsmd.port)


@pytest.mark.parametrize("ct", [
    "application/soap+xml;charset=UTF-8",    # pywinrm
    "application/soap+xml;charset=utf-8",    # curl / wsl
    "application/soap+xml; charset=utf-8",
    "application/soap+xml; charset=\"utf-8\"",
])
def test_identify_content_type_variants(wsmd, ct):
    assert_identify_response(post(wsmd.port, content_type=ct))


def test_identify_via_pywinrm_transport(wsmd):
    from winrm.transport import Transport
    t = Transport(wsmd.url, username=USER, password=PASSWORD,
                  auth_method="basic", message_encryption="never",
                  read_timeout_sec=10)
    text = t.send_message(IDENTIFY_BODY)
    assert b"IdentifyResponse" in text, text


# --------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------

def _assert_401(reply):
    assert reply.status == 401, f"expected 401: {reply!r}"
    challenges = reply.header_all("WWW-Authenticate")
    assert any(re.fullmatch(r'\s*Basic\s+realm="WSMAN"\s*', c, re.I) for c in challenges), (
        f'no `WWW-Authenticate: Basic realm="WSMAN"` in {challenges!r}: {reply!r}')
    assert_soap_content_type(reply)


def test_no_credentials_401(wsmd):
    _assert_401(post(wsmd.port, auth=None))
    assert_identify_ok(wsmd.port)


@pytest.mark.parametrize("creds", [
    (USER, "wrong-pw-7731"),
    (USER, ""),
    (USER, PASSWORD + "x"),
    (USER, PASSWORD[:-1]),
    ("mallory", PASSWORD),
    ("ALICE", PASSWORD),
    ("", PASSWORD),
], ids=["wrong-pw", "empty-pw", "pw-suffix", "pw-prefix", "unknown-user",
        "user-case", "empty-user"])
def test_bad_credentials_401(wsmd, creds):
    _assert_401(post(wsmd.port, auth=creds))
    assert_identify_ok(wsmd.port)


@pytest.mark.parametrize("authz", [
    "Basic",
    "Basic !!!notbase64!!!",
    "Basic QQ==",                      # "A": no colon
    "Bearer abc",
    "Negotiate !!!notbase64!!!",
    "Negotiate TlRMTVNTUAAHAAAA",      # "NTLMSSP\0" with an unknown message type
    "Basic " + "A" * 20000,
], ids=["bare-basic", "not-base64", "no-colon", "bearer", "negotiate", "negotiate-bad-type",
        "huge"])
def test_malformed_authorization_401(wsmd, authz):
    try:
        reply = post(wsmd.port, auth=None, headers={"Authorization": authz})
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        reply = None  # refusing an oversized header by closing is acceptable
    if reply is not None:
        assert reply.status in (400, 401, 431), reply
        if reply.status == 401:
            _assert_401(reply)
    assert_identify_ok(wsmd.port)


def test_unauthenticated_identify_header_does_not_bypass_auth(wsmd):
    """WSMANIDENTIFY only opens Identify, not other actions."""
    body = wsman_envelope(TRANSFER_GET, SHELL_URI, wsmd.url)
    reply = post(wsmd.port, body=body, auth=None,
                 headers={"WSMANIDENTIFY": "unauthenticated"})
    assert reply.status == 401, reply
    assert_identify_ok(wsmd.port)


# --------------------------------------------------------------------------
# HTTP routing
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/foo", "/wsmanx", "/wsman/extra", "/WSMANX/"])
def test_other_paths_404(wsmd, path):
    reply = request(wsmd.port, "POST", path)
    assert reply.status == 404, f"POST {path}: {reply!r}"
    assert_identify_ok(wsmd.port)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_405(wsmd, method):
    body = None if method in ("GET", "DELETE", "OPTIONS") else IDENTIFY_BODY
    reply = request(wsmd.port, method, "/wsman", body=body)
    assert reply.status == 405, f"{method} /wsman: {reply!r}"
    assert_identify_ok(wsmd.port)


def test_405_carries_allow_header(wsmd):
    """RFC 9110 s15.5.6: a 405 MUST carry Allow (beyond the brief's contract)."""
    reply = request(wsmd.port, "GET", "/wsman", body=None)
    assert reply.status == 405, reply
    allow = reply.header("Allow")
    assert allow is not None and "POST" in allow.upper(), reply


@pytest.mark.parametrize("ct", [
    None,
    "text/xml; charset=utf-8",
    "application/json",
    "application/xml",
    "application/soap+xml; charset=iso-8859-1",
    "application/soap+xmlx",
], ids=["missing", "text-xml", "json", "app-xml", "latin1", "soap-xmlx"])
def test_bad_content_type_415(wsmd, ct):
    reply = post(wsmd.port, content_type=ct)
    assert reply.status == 415, f"Content-Type {ct!r}: {reply!r}"
    assert_identify_ok(wsmd.port)


# --------------------------------------------------------------------------
# Connection handling
# --------------------------------------------------------------------------

def test_keep_alive_two_requests_one_connection(wsmd):
    conn = http.client.HTTPConnection("127.0.0.1", wsmd.port, timeout=10)
    try:
        r1 = request(wsmd.port, conn=conn)
        assert_identify_response(r1)
        sock = conn.sock
        assert sock is not None, f"server closed the connection after 1st reply: {r1!r}"
        r2 = request(wsmd.port, conn=conn)
        assert_identify_response(r2)
        assert conn.sock is sock, "http.client had to reconnect: no keep-alive"
    finally:
        conn.close()


def test_keep_alive_after_401(wsmd):
    """The usual client flow: 401 challenge, then retry with credentials."""
    conn = http.client.HTTPConnection("127.0.0.1", wsmd.port, timeout=10)
    try:
        r1 = request(wsmd.port, conn=conn, auth=None)
        assert r1.status == 401, r1
        r2 = request(wsmd.port, conn=conn)
        assert_identify_response(r2)
    finally:
        conn.close()


def _read_response(f):
    status_line = f.readline()
    assert status_line.startswith(b"HTTP/1."), status_line
    status = int(status_line.split()[1])
    hdrs = {}
    while True:
        ln = f.readline()
        if ln in (b"\r\n", b"\n", b""):
            break
        k, _, v = ln.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    assert "content-length" in hdrs, ("no Content-Length", status, hdrs)
    return status, hdrs, f.read(int(hdrs["content-length"]))


def test_pipelined_requests(wsmd):
    """Two requests written back to back before reading anything."""
    body = IDENTIFY_BODY.encode()
    one = (f"POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:{wsmd.port}\r\n"
           f"Authorization: {basic_auth()}\r\n"
           f"Content-Type: application/soap+xml;charset=UTF-8\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    s = socket.create_connection(("127.0.0.1", wsmd.port), timeout=10)
    try:
        s.sendall(one + one)
        f = s.makefile("rb")
        for i in range(2):
            status, hdrs, data = _read_response(f)
            assert status == 200 and b"IdentifyResponse" in data, (i, status, hdrs, data)
        f.close()
    finally:
        s.close()
    assert_identify_ok(wsmd.port)


def test_client_disconnects_mid_request(wsmd):
    """Half-sent headers / bodies followed by a close must not hurt the daemon."""
    body = IDENTIFY_BODY.encode()
    full = (f"POST /wsman HTTP/1.1\r\nHost: x\r\nAuthorization: {basic_auth()}\r\n"
            f"Content-Type: application/soap+xml;charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    for cut in (0, 5, 20, len(full) - len(body) - 2, len(full) - 10):
        s = socket.create_connection(("127.0.0.1", wsmd.port), timeout=10)
        s.sendall(full[:cut])
        s.close()
    assert_identify_ok(wsmd.port)


# --------------------------------------------------------------------------
# SOAP faults
# --------------------------------------------------------------------------

@pytest.mark.parametrize("resource", [SHELL_URI, "http://example.com/nothing"],
                         ids=["shell", "unknown-resource"])
def test_unknown_action_fault(wsmd, resource):
    mid = new_message_id()
    body = wsman_envelope("http://example.com/bogus", resource, wsmd.url,
                          message_id=mid)
    reply = post(wsmd.port, body=body)
    assert reply.status == 500, reply
    assert_soap_content_type(reply)
    f = parse_fault(reply)
    assert f.subcode and f.subcode.endswith(":ActionNotSupported"), (f, reply)
    assert f.wsman_code == "2150858771", (f, reply)
    assert f.relates_to == mid, (f, reply)
    assert_identify_ok(wsmd.port)


def test_get_unknown_resource_fault(wsmd):
    mid = new_message_id()
    body = wsman_envelope(TRANSFER_GET, "http://example.com/nothing", wsmd.url,
                          message_id=mid)
    reply = post(wsmd.port, body=body)
    assert reply.status == 500, reply
    assert_soap_content_type(reply)
    f = parse_fault(reply)
    assert f.subcode and f.subcode.endswith(":DestinationUnreachable"), (f, reply)
    assert f.wsman_code == "2150858770", (f, reply)
    assert f.relates_to == mid, (f, reply)
    assert_identify_ok(wsmd.port)


def test_fault_subcode_prefix_is_bound(wsmd):
    """The QName in s:Subcode/s:Value uses a prefix bound to WS-Addressing."""
    body = wsman_envelope("http://example.com/bogus", SHELL_URI, wsmd.url)
    reply = post(wsmd.port, body=body)
    f = parse_fault(reply)
    assert f.subcode and ":" in f.subcode, f
    prefix = f.subcode.split(":", 1)[0]
    m = re.search(r'xmlns:%s="([^"]*)"' % re.escape(prefix), reply.text)
    assert m and m.group(1) == NS["a"], (f, reply.text)


@pytest.mark.parametrize("bad", [
    b"<s:Envelope><unclosed",
    b"not xml at all",
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body></s:Envelope>',
    b'<?xml version="1.0"?>',
    b"\x00\x01\x02",
    b"<a><b></a></b>",
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>\xff\xfe</s:Body></s:Envelope>',
], ids=["unclosed", "text", "mismatched", "decl-only", "binary", "crossed", "bad-utf8"])
def test_malformed_xml_400(wsmd, bad):
    reply = post(wsmd.port, body=bad)
    assert reply.status == 400, reply
    assert_soap_content_type(reply)
    parse_fault(reply)
    assert_identify_ok(wsmd.port)


def test_empty_body(wsmd):
    reply = post(wsmd.port, body=b"")
    assert reply.status in (400, 500), reply
    parse_fault(reply)
    assert_identify_ok(wsmd.port)


@pytest.mark.parametrize("body", [
    "<foo/>",
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>',
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
], ids=["not-envelope", "soap11", "no-body", "empty-body"])
def test_non_wsman_envelope_fault(wsmd, body):
    """Well-formed XML that is not a usable request gets a fault, not a crash."""
    reply = post(wsmd.port, body=body)
    assert reply.status in (400, 500), reply
    parse_fault(reply)
    assert_identify_ok(wsmd.port)


def test_xxe_external_entity_not_resolved(wsmd):
    body = ('<?xml version="1.0"?><!DOCTYPE s:Envelope ['
            '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
            "<s:Header/><s:Body><wsmid:Identify>&xxe;</wsmid:Identify></s:Body></s:Envelope>")
    reply = post(wsmd.port, body=body)
    assert b"root:" not in reply.body, reply
    assert reply.status in (400, 500), reply
    parse_fault(reply)
    assert_identify_ok(wsmd.port)


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------

def _wait_for_log(d, pred, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        log = d.log()
        if pred(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_log_line_per_request(wsmd):
    wrong = "wrong-secret-91827"
    assert_identify_ok(wsmd.port)
    post(wsmd.port, auth=(USER, wrong))

    def done(log):
        return "status=401" in log and any(
            "user=alice" in ln and "status=200" in ln for ln in log.splitlines())

    log = _wait_for_log(wsmd, done)
    lines = [ln for ln in log.splitlines()
             if "user=alice" in ln and "status=200" in ln]
    assert lines, f"no log line with user=alice and status=200:\n{log}"
    for key in ("peer=", "user=", "action=", "resource=", "status=", "us="):
        assert key in lines[0], f"log line lacks {key!r}: {lines[0]!r}"
    assert "peer=127.0.0.1" in lines[0], lines[0]
    assert re.search(r"\bus=\d+", lines[0]), lines[0]
    assert "status=401" in log, f"no log line for the 401:\n{log}"
    for secret in (PASSWORD, wrong, basic_auth().split()[1],
                   basic_auth(USER, wrong).split()[1]):
        assert secret not in log, f"secret {secret!r} leaked into the log:\n{log}"
