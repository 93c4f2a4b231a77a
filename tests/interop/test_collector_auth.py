"""Who a source is, and what that gives it: machine principals (WS1$@REALM,
no local account) reach the collector's paths and nothing else; tickets for
HTTP/ and HOST/ both work; Kerberos set-up mistakes are named in the log.
Driven by wefsim.py against a real MIT KDC."""

import http.client
import time

import pytest

import wefsim
from test_collector_flow import (coldir, jsonl, need_gssapi, source,  # noqa: F401
                                 start_collector)
from wefsim_xml import GPO_PATH


@pytest.fixture
def col(wsmd_factory, kdc, monkeypatch, coldir, need_gssapi):  # noqa: F811
    kdc.use_env(monkeypatch)
    d = start_collector(wsmd_factory, kdc, coldir)
    d.machine = kdc.add_machine("ws1")
    return d


def test_machine_principal_cannot_use_wsman(col):
    """The handshake of a principal with no local account is refused on
    /wsman (401), while it succeeds on the GPO path."""
    src = source(col, "Kerberos", path="/wsman")
    with pytest.raises((wefsim.AuthError, wefsim.HttpError)):
        src.identify()  # an authenticated Identify: 401 for WS1$ on /wsman
    src.close()
    src = source(col, "Kerberos")
    subs = src.enumerate()
    assert subs, "the machine gets its subscription on the GPO path"
    src.close()
    assert "no-local-account" in col.log()


def test_context_from_collector_path_does_not_open_wsman(col):
    """A connection authenticated on the GPO path, then a request to /wsman
    on the same connection without a new handshake: 401, nothing served."""
    src = source(col, "Kerberos")
    src.enumerate()
    ch = src.channel()
    env = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
           'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
           'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
           '<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>'
           '<a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID>'
           '<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/config</w:ResourceURI>'
           '<a:To>http://localhost/wsman</a:To></s:Header><s:Body/></s:Envelope>')
    r = ch.request("/wsman", env)
    assert r.status == 401, (r.status, r.plain[:300] if r.plain else b"")
    src.close()


def test_host_spn_is_accepted_too(wsmd_factory, kdc, monkeypatch, coldir):  # noqa: F811
    """Recent Windows asks for HOST/fqdn: with ServicePrincipal unset, any
    key of the keytab (HTTP/ and HOST/) is accepted."""
    kdc.use_env(monkeypatch)
    host = kdc.add_principal(f"HOST/{kdc.host}")
    kdc.add_keytab(host, kdc.keytab)  # the service keytab now has HTTP/ and HOST/
    subs, logs, state = coldir / "subscriptions", coldir / "events", coldir / "state"
    for d in (subs, logs, state):
        d.mkdir()
    from test_collector_flow import subscription_file
    subscription_file(subs)
    conf = coldir / "c.conf"
    conf.write_text(f"Listen = http://127.0.0.1:0\nKeytab = {kdc.keytab}\n"
                    f"Subscriptions = {subs}\nEventLogDir = {logs}\nStateDir = {state}\n")
    d = wsmd_factory("-c", str(conf))
    principal, keytab = kdc.add_machine("ws2")
    for service in ("HOST", "HTTP"):
        src = wefsim.Source(kdc.host, d.port, principal=principal, keytab=keytab,
                            scheme="Kerberos", service=service, address="127.0.0.1", timeout=20)
        assert src.enumerate(), service
        src.close()


def test_wrong_spn_is_named_in_the_log(col):
    """A ticket for a service the keytab has no key for: 401, and the log
    says what to fix."""
    col.kdc.add_principal(f"HTTP/other.{col.kdc.host}")
    src = source(col, "Kerberos", service_host=f"other.{col.kdc.host}")
    with pytest.raises((wefsim.AuthError, wefsim.HttpError)):
        src.enumerate()
    src.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "wrong SPN" not in col.log():
        time.sleep(0.05)
    assert 'hint="wrong SPN' in col.log()
    assert jsonl(col) == []


def test_machine_principal_is_the_client_and_mismatch_is_marked(col):
    src = source(col, "Kerberos")
    subs = src.enumerate()
    sub = subs[0]
    src.send_batch(sub, [src.gen.security(4624)], bookmark=None)
    src.close()
    rows = [r for r in jsonl(col) if str(r.get("EventID")) != "111"]
    assert rows and all(r["Client"] == col.machine[0] for r in rows)
    assert all(r["ComputerMismatch"] is False for r in rows)


def test_unauthenticated_at_notify_to_gets_401(col):
    c = http.client.HTTPConnection("127.0.0.1", col.port, timeout=10)
    c.request("POST", "/wsman/subscriptions/sec", body=b"x",
              headers={"Content-Type": "application/soap+xml;charset=UTF-8",
                       "Authorization": "Kerberos AAAA"})
    r = c.getresponse()
    r.read()
    assert r.status == 401
    c.close()
    assert jsonl(col) == []
    assert GPO_PATH  # the GPO path is tested in test_collector_flow
