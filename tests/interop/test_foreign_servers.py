"""Our winrm and winrs against what servers we did not write really send
(issue 16): OMI's Identify reply (IdentifyResponse in the SOAP namespace),
OMI- and OpenWSMAN-style faults (subcodes, w:FaultDetail, OMI_Error with a
CIM status code, no WSManFault), `HTTP/1.1 200 (null)` with
`Connection: Close` on every reply, a Basic-only server asked for NTLM,
replies that are not SOAP, and OMI 1.9.1's refusal of the tab before the
MIME part headers of an encrypted body (a relay in front of a real wsmd
plays OMI's part there). Every output format is checked.

The replies come from scripted_server.py; foreign_replies.py holds them.
"""

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import foreign_replies as fr
from scripted_server import CLOSE, OmiRelay, ScriptedServer, http_response
from wsman_helpers import PASSWORD, USER

REPO_ROOT = Path(__file__).resolve().parents[2]
WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")
WINRS_BIN = os.environ.get("WINRS_BIN") or str(REPO_ROOT / "build" / "winrs")
TIMEOUT = 60
FORMATS = ["text", "xml", "pretty", "json"]
OMI_CLASS = "http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/OMI_Nothing"
CIMV2 = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"


def _bin(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"client binary not built: {path}")
    return path


def _env():
    return {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}


def winrm(url, *words, auth="basic", user="omi", password="pw", switches=()):
    argv = [_bin(WINRM_BIN), *words, f"-r:{url}", f"-a:{auth}", f"-u:{user}", f"-p:{password}",
            *switches]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, env=_env())


def winrs(url, *words, auth="basic", user="omi", password="pw", switches=()):
    argv = [_bin(WINRS_BIN), f"-r:{url}", f"-a:{auth}", f"-u:{user}", f"-p:{password}",
            *switches, *words]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, env=_env())


def msgid(req):
    m = re.search(rb"<[A-Za-z]+:MessageID>([^<]+)<", req.body)
    return m.group(1).decode() if m else None


@pytest.fixture
def serve():
    made = []

    def make(answer):
        s = ScriptedServer(answer)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def fault_block(stderr):
    """What comes before the "Error number:" lines."""
    assert "\nError number:  " in stderr, stderr
    return stderr.split("\nError number:  ")[0]


def error_lines(stderr):
    return stderr.split("\nError number:  ")[1].splitlines()


# ---- 1. Identify from OMI ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_identify_omi(serve, fmt):
    srv = serve(lambda req: http_response(200, fr.OMI_IDENTIFY))
    cp = winrm(srv.url, "id", f"-format:{fmt}")
    assert cp.returncode == 0, cp
    assert cp.stderr == "", cp
    out = cp.stdout
    if fmt == "text":
        assert out.startswith("IdentifyResponse\n"), out
        assert "    ProductVendor = Open Management Infrastructure\n" in out
        assert "    ProductVersion = 1.9.1-0\n" in out
        assert "        SecurityProfileName = http://schemas.dmtf.org/wbem/wsman/1/wsman/" \
               "secprofile/https/basic\n" in out
        assert "    Capability_FaultIncludesCIMError\n" in out
    elif fmt == "json":
        doc = json.loads(out)["IdentifyResponse"]
        assert doc["ProductVendor"] == "Open Management Infrastructure"
        assert doc["ProtocolVersion"] == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
        assert "Capability_FaultIncludesCIMError" in doc
    else:
        root = ET.fromstring(out)
        assert root.tag == "{http://www.w3.org/2003/05/soap-envelope}IdentifyResponse"
        cap = root.find("{http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xml}"
                        "Capability_FaultIncludesCIMError")
        assert cap is not None, out
        assert (len(out.splitlines()) > 3) == (fmt == "pretty"), out


def test_identify_other_reply_shows_it(serve):
    """A SOAP reply that is not an IdentifyResponse: refused, and with
    -format:xml the reply itself is shown."""
    body = fr.OMI_IDENTIFY.replace("IdentifyResponse", "SomethingElse")
    srv = serve(lambda req: http_response(200, body))
    cp = winrm(srv.url, "id", "-format:xml")
    assert cp.returncode == 1, cp
    assert "<soap:SomethingElse>" in fault_block(cp.stderr), cp.stderr
    assert error_lines(cp.stderr)[1].endswith("the reply is not an IdentifyResponse")


# ---- 2. faults shown whole ---------------------------------------------------------


def omi_answer(req):
    if b"Identify" in req.body:
        return http_response(200, fr.OMI_IDENTIFY)
    return http_response(500, fr.omi_fault(msgid(req)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_omi_fault(serve, fmt):
    srv = serve(omi_answer)
    cp = winrm(srv.url, "get", OMI_CLASS, f"-format:{fmt}")
    assert cp.returncode == 1, cp
    assert cp.stdout == ""
    block = fault_block(cp.stderr)
    # The subcode's Windows number, as Windows' client reports it.
    assert error_lines(cp.stderr) == [
        "-2144108526 0x80338012",
        "CIM_ERR_NOT_FOUND: The target class could not be found in the specified namespace."]
    if fmt == "text":
        assert block.splitlines() == [
            "WSManFault",
            "    Message = CIM_ERR_NOT_FOUND: The target class could not be found in the "
            "specified namespace.",
            "    Subcode = wsa:DestinationUnreachable",
            "    CIMError",
            "        Class = OMI_Error",
            "        CIMStatusCode = 6 (CIM_ERR_NOT_FOUND)",
            "        Message = The target class could not be found in the specified namespace.",
        ]
    elif fmt == "json":
        doc = json.loads(block)["WSManFault"]
        assert doc["@Code"] == "2150858770"
        assert doc["Subcode"] == "wsa:DestinationUnreachable"
        assert doc["CIMError"] == {
            "Class": "OMI_Error", "CIMStatusCode": 6, "CIMStatusCodeName": "CIM_ERR_NOT_FOUND",
            "Message": "The target class could not be found in the specified namespace."}
    else:
        # The reply as it came: the whole fault with OMI's detail.
        root = ET.fromstring(block)
        p = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/OMI_Error}"
        err = root.find(f".//{p}OMI_Error")
        assert err is not None and err.find(f"{p}CIMStatusCode").text == "6", block
        if fmt == "xml":
            assert block.strip() == fr.omi_fault(msgid(srv.requests[-1])).strip()


def openwsman_answer(req):
    """OpenWSMAN's framing: `200 (null)` and Connection: Close on every
    reply."""
    if b"OW_Instance" in req.body:
        return http_response(200, fr.instance(msgid(req), CIMV2 + "OW_Instance", "OW_Instance",
                                              {"Name": "one", "Value": "1"}),
                             reason="(null)", close=True)
    return http_response(400, fr.openwsman_fault(msgid(req)), reason="(null)", close=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_openwsman_fault_and_null_reason(serve, fmt):
    srv = serve(openwsman_answer)
    ok = winrm(srv.url, "get", "cimv2/OW_Instance?Name=one", f"-format:{fmt}")
    assert ok.returncode == 0, ok
    assert "one" in ok.stdout and ok.stderr == ""
    cp = winrm(srv.url, "get", "cimv2/OW_Other", f"-format:{fmt}")
    assert cp.returncode == 1, cp
    # Two connections at least: each reply closed its own.
    assert srv.nconn >= 2
    block = fault_block(cp.stderr)
    assert error_lines(cp.stderr) == ["-2144108483 0x8033803D",
                                      "The Selectors for the resource were not valid"]
    detail = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InsufficientSelectors"
    if fmt == "text":
        assert block.splitlines() == [
            "WSManFault", "    Message = The Selectors for the resource were not valid",
            "    Subcode = wsman:InvalidSelectors", f"    FaultDetail = {detail}"]
    elif fmt == "json":
        doc = json.loads(block)["WSManFault"]
        assert doc == {"@Code": "2150858813",
                       "Message": "The Selectors for the resource were not valid",
                       "Subcode": "wsman:InvalidSelectors", "FaultDetail": detail}
    else:
        root = ET.fromstring(block)
        assert root.find(".//{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}FaultDetail"
                         ).text == detail


@pytest.mark.parametrize("subcode,number", [
    ("wsa:ActionNotSupported", "-2144108525 0x80338013"),
    ("wsman:TimedOut", "-2144108503 0x80338029"),
    ("wsman:AccessDenied", "-2147024891 0x80070005"),
    ("wsman:SomethingNew", "-2147467259 0x80004005"),  # unknown: E_FAIL as before
])
def test_subcode_numbers(serve, subcode, number):
    srv = serve(lambda req: http_response(500, fr.openwsman_fault(
        msgid(req), subcode=subcode, reason="no", detail=None)))
    cp = winrm(srv.url, "get", "cimv2/X", "-format:json")
    assert cp.returncode == 1, cp
    assert error_lines(cp.stderr)[0] == number
    assert json.loads(fault_block(cp.stderr))["WSManFault"]["Subcode"] == subcode


def test_wsmd_fault_keeps_its_form(wsmd):
    """wsmd's own faults (a WSManFault with its Code) read as before; the
    xml format shows the WSManFault element alone, as Windows prints it."""
    url = wsmd.url
    cp = winrm(url, "get", "wmicimv2/Win32_Nothing_At_All", user=USER,
               password=PASSWORD)
    assert cp.returncode == 1, cp
    assert cp.stderr.startswith("WSManFault\n    Message = "), cp.stderr
    assert "    Subcode = " in cp.stderr
    x = winrm(url, "get", "wmicimv2/Win32_Nothing_At_All", "-format:xml", user=USER,
              password=PASSWORD)
    wf = ET.fromstring(fault_block(x.stderr))
    assert wf.tag == "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault", x.stderr
    assert int(wf.get("Code")) > 0, x.stderr
    assert error_lines(x.stderr)[0] == error_lines(cp.stderr)[0]
    p = winrm(url, "get", "wmicimv2/Win32_Nothing_At_All", "-format:pretty", user=USER,
              password=PASSWORD)
    assert ET.fromstring(fault_block(p.stderr)).tag == wf.tag, p.stderr
    assert "\n  <f:Message>" in p.stderr, p.stderr
    assert error_lines(x.stderr)[0].endswith(f"0x{int(wf.get('Code')):08X}")


# ---- 3. messages that say what happened ----------------------------------------------


def test_winrs_prints_fault_as_winrs_exe(serve):
    def answer(req):
        return http_response(500, fr.omi_fault(
            msgid(req), subcode="wsman:AccessDenied", cim_status=2,
            reason="CIM_ERR_ACCESS_DENIED", message="Access to the shell is denied."))
    srv = serve(answer)
    cp = winrs(srv.url, "echo", "x")
    assert cp.returncode == 1, cp
    assert cp.stderr == "Winrs error:CIM_ERR_ACCESS_DENIED: Access to the shell is denied.\n"


def basic_only(req):
    return http_response(401, headers=['WWW-Authenticate: Basic realm="WSMAN"'])


@pytest.mark.parametrize("tool", ["winrm", "winrs"])
def test_ntlm_against_basic_only_names_the_offer(serve, tool):
    srv = serve(basic_only)
    if tool == "winrm":
        cp = winrm(srv.url, "id", auth="ntlm")
    else:
        cp = winrs(srv.url, "echo", "x", auth="ntlm")
    assert cp.returncode == 1, cp
    assert "does not offer NTLM under Negotiate authentication" in cp.stderr, cp.stderr
    assert "it offers: Basic" in cp.stderr, cp.stderr
    if tool == "winrm":
        assert error_lines(cp.stderr)[0] == "-2147024891 0x80070005"


@pytest.mark.parametrize("status,body,ctype", [
    (200, "<html><body>not soap</body></html>", "text/html"),
    (500, "Internal error: provider crashed", "text/plain"),
    (200, "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>", None),
])
def test_xml_failure_shows_the_raw_reply(serve, status, body, ctype):
    kw = {"content_type": ctype} if ctype else {}
    srv = serve(lambda req: http_response(status, body, **kw))
    for fmt in ("xml", "pretty"):
        cp = winrm(srv.url, "get", "cimv2/X", f"-format:{fmt}")
        assert cp.returncode == 1, cp
        got = fault_block(cp.stderr).strip()
        if fmt == "pretty":  # indented when it parses as XML
            got = re.sub(r">\s+<", "><", got)
        assert got == body, cp.stderr
    cp = winrm(srv.url, "get", "cimv2/X", "-format:json")
    assert json.loads(fault_block(cp.stderr))["WSManFault"]["Reply"] == body


def test_closed_without_reply_keeps_its_message(serve):
    """A server that closes without a word (before any authentication):
    still "cannot connect" -- that is what happened."""
    srv = serve(lambda req: CLOSE)
    cp = winrm(srv.url, "id")
    assert cp.returncode == 1, cp
    assert "The client cannot connect to the destination" in cp.stderr, cp.stderr


# ---- 4. association filter ---------------------------------------------------------


def assoc_answer(req):
    # An empty enumeration, as any server answers it.
    return http_response(200, (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>'
        'http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action>'
        f'<a:RelatesTo>{msgid(req)}</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse>'
        '<n:EnumerationContext/><w:Items/><w:EndOfSequence/></n:EnumerateResponse>'
        '</s:Body></s:Envelope>'))


@pytest.mark.parametrize("main,expect", [
    ("cimv2/*", CIMV2 + "CIM_ComputerSystem"),
    ("http://schemas.dmtf.org/wbem/wscim/1/*", CIMV2 + "CIM_ComputerSystem"),
    ("wmicimv2/*", "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/CIM_ComputerSystem"),
])
def test_association_object_class_expanded(serve, main, expect):
    srv = serve(assoc_answer)
    cp = winrm(srv.url, "e", main, "-dialect:association",
               "-filter:{object=CIM_ComputerSystem?Name=host}")
    assert cp.returncode == 0, cp
    body = srv.requests[-1].body.decode()
    obj = re.search(r"<b:Object>.*</b:Object>", body).group(0)
    assert f"<w:ResourceURI>{expect}</w:ResourceURI>" in obj, obj
    assert '<w:Selector Name="Name">host</w:Selector>' in obj


def test_association_object_alias_and_refusal(serve):
    srv = serve(assoc_answer)
    cp = winrm(srv.url, "e", "cimv2/*", "-dialect:association",
               "-filter:{object=wmicimv2/Win32_Service?Name=x}")
    assert cp.returncode == 0, cp
    assert ("<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
            "Win32_Service</w:ResourceURI>") in srv.requests[-1].body.decode()
    n = len(srv.requests)
    cp = winrm(srv.url, "e", "Nothing", "-dialect:association",
               "-filter:{object=CIM_ComputerSystem?Name=host}")
    assert cp.returncode == 2, cp
    assert "the association filter's Object is not a resource URI: CIM_ComputerSystem" \
        in cp.stderr
    assert len(srv.requests) == n  # nothing sent


# ---- 5. OMI's encrypted bodies: no tab before the MIME part headers --------------------


from test_client_auth import SPN, nd  # noqa: E402,F401  (a wsmd with NTLM)


@pytest.fixture
def omi_relays(nd):
    """test_client_auth's wsmd with NTLM, behind relays playing OMI."""
    d = nd
    made = []

    def make(mode):
        r = OmiRelay(d.port, mode)
        made.append(r)
        return r
    yield d, make, SPN
    for r in made:
        r.close()


def test_ntlm_encrypted_without_tabs(omi_relays):
    d, make, spn = omi_relays
    r = make("tab")
    cp = winrm(r.url, "get", "cimv2/WSMD_Synthetic?InstanceID=synthetic-1", auth="ntlm",
               user=d.user, password=d.password, switches=[f"-spn:{spn}"])
    assert cp.returncode == 0, cp
    assert "InstanceID = synthetic-1" in cp.stdout
    assert r.dropped == 1, r.dropped  # the first sealed request, with its tabs
    assert r.passed and not any(b"Boundary\r\n\t" in b for _, b in r.passed)
    # winrs: three sessions to one server, one process: the first learns it,
    # the others start without the tab.
    before = r.dropped
    cp = winrs(r.url, "echo", "through the door", auth="ntlm", user=d.user,
               password=d.password, switches=[f"-spn:{spn}"])
    assert cp.returncode == 0, cp
    assert cp.stdout == "through the door\n"
    assert r.dropped == before + 1


@pytest.mark.parametrize("tool", ["winrm", "winrs"])
def test_encrypted_request_dropped_says_so(omi_relays, tool):
    d, make, spn = omi_relays
    r = make("all")
    if tool == "winrm":
        cp = winrm(r.url, "id", auth="ntlm", user=d.user, password=d.password,
                   switches=[f"-spn:{spn}"])
    else:
        cp = winrs(r.url, "echo", "x", auth="ntlm", user=d.user, password=d.password,
                   switches=[f"-spn:{spn}"])
    assert cp.returncode == 1, cp
    assert "accepted the NTLM authentication" in cp.stderr, cp.stderr
    assert "dropped the encrypted request" in cp.stderr
    assert "-unencrypted" in cp.stderr and "https" in cp.stderr
    assert "Verify that the service on the destination is running" not in cp.stderr
    assert r.dropped == 2  # with and without the tabs, then no more


def test_unencrypted_through_omi_relay(omi_relays):
    """-unencrypted: nothing sealed, nothing dropped (the relay passes
    plain bodies)."""
    if shutil.which("curl") is None:
        pytest.skip("curl is needed")
    d, make, spn = omi_relays
    r = make("all")
    cp = winrm(r.url, "id", auth="ntlm", user=d.user, password=d.password,
               switches=[f"-spn:{spn}", "-unencrypted"])
    # wsmd refuses unencrypted messages unless configured: either way, the
    # relay saw no sealed request to drop.
    assert r.dropped == 0, cp


def test_xml_failure_on_content_shows_the_reply(serve):
    """A well-formed reply whose content is not what was asked (a Get
    answered with an empty Body): the reply is shown with -format:xml."""
    def answer(req):
        return http_response(200, (
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header>'
            f'<a:RelatesTo>{msgid(req)}</a:RelatesTo></s:Header><s:Body/></s:Envelope>'))
    srv = serve(answer)
    cp = winrm(srv.url, "get", "cimv2/X?k=v", "-format:xml")
    assert cp.returncode == 1, cp
    root = ET.fromstring(fault_block(cp.stderr))
    assert root.tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope", cp.stderr


def test_openwsman_enumerate_pull_each_reply_closed(serve):
    """Enumerate and two Pulls, every reply `200 (null)` with Connection:
    Close: each request on a connection of its own, every item printed."""
    ns = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
          'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
          'xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
          'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"')
    uri = CIMV2 + "OW_Item"

    def item(i):
        return f'<p:OW_Item xmlns:p="{uri}"><p:Name>item {i}</p:Name></p:OW_Item>'

    def env(req, action, body):
        return (f'<s:Envelope {ns}><s:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2004/'
                f'09/enumeration/{action}</wsa:Action><wsa:RelatesTo>{msgid(req)}'
                f'</wsa:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>')

    def answer(req):
        if b"enumeration/Enumerate<" in req.body:
            body = ('<wsen:EnumerateResponse><wsen:EnumerationContext>ctx-1'
                    '</wsen:EnumerationContext></wsen:EnumerateResponse>')
            return http_response(200, env(req, "EnumerateResponse", body), reason="(null)",
                                 close=True)
        if b"ctx-1" in req.body:
            body = ('<wsen:PullResponse><wsen:EnumerationContext>ctx-2</wsen:EnumerationContext>'
                    f'<wsen:Items>{item(1)}{item(2)}</wsen:Items></wsen:PullResponse>')
            return http_response(200, env(req, "PullResponse", body), reason="(null)", close=True)
        body = (f'<wsen:PullResponse><wsen:Items>{item(3)}</wsen:Items><wsen:EndOfSequence/>'
                '</wsen:PullResponse>')
        return http_response(200, env(req, "PullResponse", body), reason="(null)", close=True)
    srv = serve(answer)
    for fmt in FORMATS:
        n = len(srv.requests)
        cp = winrm(srv.url, "enumerate", "cimv2/OW_Item", f"-format:{fmt}", "-maxelements:2")
        assert cp.returncode == 0, cp
        assert cp.stderr == "", cp
        for i in (1, 2, 3):
            assert f"item {i}" in cp.stdout, cp.stdout
        assert len(srv.requests) - n == 3
    assert srv.nconn == 12  # one connection per request
    assert [d["OW_Item"]["Name"] for d in json.loads(cp.stdout)] == ["item 1", "item 2", "item 3"]
