"""Shell management (MS-WSMV 3.1.4.8.2, 3.1.4.2.1): Enumerate of
.../windows/shell/cmd and .../windows/shell, Get and Delete of a shell by
ShellId, with Windows' fields, as two ordinary users and as an
administrator (who holds every right: authz.md), raw and through our
`winrm` (enumerate shell/cmd, get, delete).
"""

import os
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO_ROOT, _check_sanitizer_log, user_add
from shell_helpers import ACT_CREATE, RSP, SHELL_NS, Raw, fault_of
from wsman_helpers import NS, post

ACT_ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
ACT_PULL = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
ACT_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ACT_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACT_DISCONNECT = SHELL_NS + "/Disconnect"
NS_EN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
CODE_SHELL_NOT_FOUND = "2150858843"
ADMIN = ("wsmdadm", "Wsmdadm-pw-3c9a")  # a user-file name only: `all @wsmdadm`
WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")

# Windows' order (winrm enumerate windows/shell); Name, ClientIP,
# ProcessId, Locale and DataLocale only when known.
FIELDS = ["ShellId", "Name", "ResourceUri", "Owner", "ClientIP", "ProcessId", "IdleTimeOut",
          "InputStreams", "OutputStreams", "MaxIdleTimeOut", "Locale", "DataLocale",
          "CompressionMode", "ProfileLoaded", "Encoding", "BufferMode", "State",
          "ShellRunTime", "ShellInactivity", "MemoryUsed", "ChildProcesses"]


@pytest.fixture
def mgmt(wsmd_factory, shell_accounts, tmp_path):
    """wsmd where the two shell accounts hold only `shell` and wsmdadm
    (no local account) holds every right."""
    users = tmp_path / "users"
    for name, pw in [*shell_accounts, ADMIN]:
        user_add(users, name, pw)
    (u1, p1), (u2, p2) = shell_accounts[:2]
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users),
                     "--allow", f"shell @{u1} @{u2}", "--allow", f"all @{ADMIN[0]}",
                     grant=os.geteuid() != 0)
    d.u1, d.u2 = Raw(d, u1, p1), Raw(d, u2, p2)
    d.adm = Raw(d, *ADMIN)
    d.names = (u1, u2)
    yield d
    d.stop()  # (wsmd_factory checks its exit status)
    _check_sanitizer_log(d)


def envelope(action, uri, body="", selectors=()):
    sel = ""
    if selectors:
        sel = "<w:SelectorSet>" + "".join(
            f'<w:Selector Name="{k}">{v}</w:Selector>' for k, v in selectors) + "</w:SelectorSet>"
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS_WSMAN}" '
        f'xmlns:n="{NS_EN}"><s:Header><a:To>http://127.0.0.1/wsman</a:To>'
        f'<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/'
        f'anonymous</a:Address></a:ReplyTo><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>'
        f'<w:ResourceURI>{uri}</w:ResourceURI><a:Action>{action}</a:Action>'
        f'<w:MaxEnvelopeSize>512000</w:MaxEnvelopeSize>{sel}</s:Header>'
        f'<s:Body>{body}</s:Body></s:Envelope>')


def enumerate_shells(raw, uri=SHELL_NS + "/cmd"):
    """[{field: value}] of every shell an Enumerate (+ Pulls) lists."""
    body = ('<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>1</w:MaxElements>'
            '</n:Enumerate>')
    reply = post(raw.d.port, body=envelope(ACT_ENUMERATE, uri, body), auth=raw.auth)
    assert reply.status == 200, reply
    root = ET.fromstring(reply.body)
    shells = root.findall(".//rsp:Shell", RSP)
    ctx = root.find(".//n:EnumerationContext", {"n": NS_EN})
    end = root.find(".//w:EndOfSequence", {"w": NS_WSMAN})
    while end is None and ctx is not None:
        body = f'<n:Pull><n:EnumerationContext>{ctx.text}</n:EnumerationContext></n:Pull>'
        reply = post(raw.d.port, body=envelope(ACT_PULL, uri, body), auth=raw.auth)
        assert reply.status == 200, reply
        root = ET.fromstring(reply.body)
        shells += root.findall(".//rsp:Shell", RSP)
        ctx = root.find(".//n:EnumerationContext", {"n": NS_EN})
        end = root.find(".//n:EndOfSequence", {"n": NS_EN})
    out = []
    for sh in shells:
        names = [el.tag.rsplit("}", 1)[1] for el in sh]
        order = [f for f in FIELDS if f in names]
        assert names == order, f"fields out of Windows' order: {names}"
        out.append({el.tag.rsplit("}", 1)[1]: el.text or "" for el in sh})
    return out


def create(raw, name=None):
    if name is None:
        return raw.create()[0]
    body = {"rsp:Shell": {"@Name": name, "rsp:InputStreams": "stdin",
                          "rsp:OutputStreams": "stdout stderr"}}
    reply = raw.call(ACT_CREATE, body=body)[0]
    assert reply.status == 200, reply
    return ET.fromstring(reply.body).find("s:Body/rsp:Shell/rsp:ShellId", RSP).text


def get(raw, sid, uri=SHELL_NS + "/cmd"):
    return post(raw.d.port, body=envelope(ACT_GET, uri, selectors=[("ShellId", sid)]),
                auth=raw.auth)


def test_enumerate_own_shells_and_admin_all(mgmt):
    d = mgmt
    u1, u2 = d.names
    a1 = create(d.u1, name="Runspace1")
    a2 = create(d.u1)
    b1 = create(d.u2)
    cid = d.u1.command_id(d.u1.command(a1, "sleep 30")[0])
    assert cid
    ok = d.u1.call(ACT_DISCONNECT, a2, {"rsp:Disconnect": {"rsp:BufferMode": "Drop"}})[0]
    assert ok.status == 200, ok

    for uri in (SHELL_NS + "/cmd", SHELL_NS):
        mine = {s["ShellId"]: s for s in enumerate_shells(d.u1, uri)}
        assert set(mine) == {a1, a2}, mine
        theirs = {s["ShellId"]: s for s in enumerate_shells(d.u2, uri)}
        assert set(theirs) == {b1}
        everyone = {s["ShellId"]: s for s in enumerate_shells(d.adm, uri)}
        assert {a1, a2, b1} <= set(everyone)

    s = mine[a1]
    assert s["Name"] == "Runspace1" and s["Owner"] == u1
    assert s["ResourceUri"] == SHELL_NS + "/cmd"
    assert s["ClientIP"] == "127.0.0.1"
    assert s["State"] == "Connected" and s["BufferMode"] == "Block"
    assert s["InputStreams"] == "stdin" and s["OutputStreams"] == "stdout stderr"
    assert s["IdleTimeOut"].startswith("PT") and s["MaxIdleTimeOut"].startswith("PT")
    assert s["Locale"] == "en-US" and s["DataLocale"] == "en-US"
    assert s["ShellRunTime"].startswith("P0DT0H") and s["ShellInactivity"].startswith("P")
    assert s["MemoryUsed"].endswith("MB")
    # The running command: its process, and at least it among the children.
    assert int(s["ProcessId"]) > 0 and int(s["ChildProcesses"]) >= 1
    with open(f"/proc/{s['ProcessId']}/cmdline", "rb") as f:
        assert b"sleep" in f.read()
    assert mine[a2]["State"] == "Disconnected" and mine[a2]["BufferMode"] == "Drop"
    assert "ProcessId" not in mine[a2] and mine[a2]["ChildProcesses"] == "0"
    assert everyone[b1]["Owner"] == u2


def test_streams_as_the_create_named_them(mgmt):
    """A shell's InputStreams and OutputStreams are what its Create named,
    in Enumerate and in a Connect's reply (they used to be fixed:
    "stdin" / "stdout stderr" whatever the Create said)."""
    d = mgmt
    body = {"rsp:Shell": {"rsp:InputStreams": "", "rsp:OutputStreams": "stdout"}}
    reply = d.u1.call(ACT_CREATE, body=body)[0]
    assert reply.status == 200, reply
    sid = ET.fromstring(reply.body).find("s:Body/rsp:Shell/rsp:ShellId", RSP).text
    both = create(d.u1, name="Both")
    mine = {s["ShellId"]: s for s in enumerate_shells(d.u1)}
    assert mine[sid]["InputStreams"] == "" and mine[sid]["OutputStreams"] == "stdout", mine[sid]
    assert mine[both]["InputStreams"] == "stdin"
    assert mine[both]["OutputStreams"] == "stdout stderr"
    ok = d.u1.call(ACT_DISCONNECT, sid, {"rsp:Disconnect": {"rsp:IdleTimeOut": "PT60S"}})[0]
    assert ok.status == 200, ok
    connect = {"rsp:Connect": {"connectXml": {
        "@xmlns": "http://schemas.microsoft.com/powershell", "#text": "PE9iai8+"}}}
    reply = d.u1.call(SHELL_NS + "/Connect", sid, connect)[0]
    assert reply.status == 200, reply
    cr = ET.fromstring(reply.body).find("s:Body/rsp:ConnectResponse", RSP)
    assert cr.findtext("rsp:InputStreams", namespaces=RSP) in (None, "")
    assert cr.findtext("rsp:OutputStreams", namespaces=RSP) == "stdout"
    for x in (sid, both):
        assert d.u1.delete(x)[0].status == 200


def test_get_and_delete(mgmt):
    d = mgmt
    a1 = create(d.u1)
    b1 = create(d.u2)
    r = get(d.u1, a1)
    assert r.status == 200, r
    sh = ET.fromstring(r.body).find("s:Body/rsp:Shell", RSP)
    assert sh.find("rsp:ShellId", RSP).text == a1
    # Another user's shell is not there for an ordinary user.
    assert fault_of(get(d.u1, b1)).wsman_code == CODE_SHELL_NOT_FOUND
    assert fault_of(d.u1.delete(b1)[0]).wsman_code == CODE_SHELL_NOT_FOUND
    # The administrator reads anybody's (under both URIs) and deletes it
    # through shell management (.../windows/shell); .../shell/cmd, the
    # session's own resource, stays its owner's.
    assert get(d.adm, b1).status == 200
    assert get(d.adm, b1, SHELL_NS).status == 200
    assert fault_of(d.adm.delete(b1)[0]).wsman_code == CODE_SHELL_NOT_FOUND
    r = post(d.port, body=envelope(ACT_DELETE, SHELL_NS, selectors=[("ShellId", b1)]),
             auth=d.adm.auth)
    assert r.status == 200, r
    assert enumerate_shells(d.u2) == []
    assert fault_of(get(d.adm, b1)).wsman_code == CODE_SHELL_NOT_FOUND
    # A Get needs exactly the ShellId selector.
    r = post(d.port, body=envelope(ACT_GET, SHELL_NS + "/cmd"), auth=d.u1.auth)
    assert fault_of(r).subcode == "w:InvalidSelectors"
    assert d.u1.delete(a1)[0].status == 200


def winrm(d, raw, *words):
    if not os.access(WINRM_BIN, os.X_OK):
        pytest.skip(f"winrm binary not built: {WINRM_BIN}")
    user, pw = raw.auth
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    return subprocess.run([WINRM_BIN, *words, f"-r:{d.url}", f"-u:{user}", f"-p:{pw}"],
                          capture_output=True, text=True, timeout=60, env=env)


def test_winrm_tool_enumerate_get_delete(mgmt):
    d = mgmt
    a1 = create(d.u1)
    b1 = create(d.u2)
    cp = winrm(d, d.u1, "enumerate", "shell/cmd")
    assert cp.returncode == 0, cp
    assert f"ShellId = {a1}" in cp.stdout and b1 not in cp.stdout, cp.stdout
    for field in ("Owner = ", "State = Connected", "ShellRunTime = ", "ChildProcesses = "):
        assert field in cp.stdout, cp.stdout
    cp = winrm(d, d.adm, "enumerate", "shell")
    assert cp.returncode == 0 and a1 in cp.stdout and b1 in cp.stdout, cp
    cp = winrm(d, d.u1, "get", f"shell/cmd?ShellId={a1}")
    assert cp.returncode == 0 and f"ShellId = {a1}" in cp.stdout, cp
    cp = winrm(d, d.u1, "delete", f"shell/cmd?ShellId={b1}")
    assert cp.returncode == 1, cp
    cp = winrm(d, d.adm, "delete", f"shell?ShellId={b1}")
    assert cp.returncode == 0, cp
    cp = winrm(d, d.u1, "delete", f"shell/cmd?ShellId={a1}")
    assert cp.returncode == 0, cp
    assert enumerate_shells(d.adm) == []
