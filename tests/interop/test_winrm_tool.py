"""winrm (our winrm.cmd) against wsmd: management data.

The client binary is $WINRM_BIN, default <repo>/build/winrm; the daemon
comes from conftest's wsmd_factory (with --synthetic N for the synthetic
class WSMD_Synthetic: instances synthetic-0 .. synthetic-<N-1>) or, for
Invoke and the shell resource, conftest's shell_wsmd (as root, methods run
as the local account of the authenticated name).

Exit status of winrm: 0 success, 1 a fault, 2 a usage error.
"""

import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from wsman_helpers import PASSWORD, USER

REPO_ROOT = Path(__file__).resolve().parents[2]
WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")
TIMEOUT = 60
N_SYNTHETIC = 50

NS_ID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
NS_RESULTS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/results"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
SYN_URI = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/WSMD_Synthetic"
SYN = "cimv2/WSMD_Synthetic"


def winrm_bin():
    if not (os.path.isfile(WINRM_BIN) and os.access(WINRM_BIN, os.X_OK)):
        pytest.skip(f"winrm binary not built: {WINRM_BIN}")
    return WINRM_BIN


def winrm(d, *words, user=None, password=None, input=None):
    """Run winrm against daemon d; returns the CompletedProcess."""
    user = user or getattr(d, "user", USER)
    password = password or getattr(d, "password", PASSWORD)
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    cp = subprocess.run([winrm_bin(), *words, f"-r:{d.url}", f"-u:{user}", f"-p:{password}"],
                        input=input, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    return cp


def ok(cp):
    assert cp.returncode == 0, (
        f"winrm failed rc={cp.returncode}\nstdout={cp.stdout}\nstderr={cp.stderr}")
    return cp.stdout


def local(tag):
    return tag.rsplit("}", 1)[-1]


def text_items(out, name):
    """Items of a text-format listing: blocks that start with `name`."""
    return [b for b in out.split("\n\n") if b.strip() and b.lstrip().startswith(name)]


def count_actions(d, action):
    return sum(1 for ln in d.log().splitlines() if f"action={action} " in ln)


@pytest.fixture
def syn(wsmd_factory, users_file):
    """wsmd with alice and WSMD_Synthetic of N_SYNTHETIC instances."""
    return wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file),
                        "--synthetic", str(N_SYNTHETIC))


# ---- identify ----------------------------------------------------------


def test_identify_text(syn):
    out = ok(winrm(syn, "identify"))
    lines = out.splitlines()
    assert lines[0] == "IdentifyResponse"
    assert "    ProtocolVersion = http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" in lines
    assert any(ln.startswith("    ProductVendor = ") for ln in lines)


def test_identify_xml_pretty_json(syn):
    for fmt in ("xml", "pretty"):
        root = ET.fromstring(ok(winrm(syn, "id", f"-format:{fmt}")))
        assert root.tag == f"{{{NS_ID}}}IdentifyResponse"
        assert root.find(f"{{{NS_ID}}}ProtocolVersion").text == NS_WSMAN
    doc = json.loads(ok(winrm(syn, "id", "-format:json")))
    assert doc["IdentifyResponse"]["ProtocolVersion"] == NS_WSMAN


def test_identify_anonymous(syn):
    cp = subprocess.run([winrm_bin(), "id", f"-r:{syn.url}", "-a:none"], capture_output=True,
                        text=True, timeout=TIMEOUT)
    assert "IdentifyResponse" in ok(cp)


# ---- get -----------------------------------------------------------------


def test_get_text(syn):
    out = ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-7"))
    lines = out.splitlines()
    assert lines[0] == "WSMD_Synthetic"
    assert "    InstanceID = synthetic-7" in lines
    assert "    Name = item 7" in lines
    assert "    Note = null" in lines  # xsi:nil
    i = lines.index("    Created")  # a datetime is a nested element
    assert lines[i + 1].startswith("        Datetime = ")
    assert lines.count("    Tags = alpha") == 1  # 7 % 3 == 1 tag


def test_get_array_on_one_line(syn):
    """As winrm.cmd prints repeated elements ("ListeningOn = 127.0.0.1,
    ::1" in winrm/config/listener): the values of an array on one line."""
    out = ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-8"))
    assert "    Tags = alpha, beta\n" in out


def test_get_xml_json_and_full_uri(syn):
    root = ET.fromstring(ok(winrm(syn, "get", f"{SYN_URI}?InstanceID=synthetic-7",
                                  "-format:xml")))
    assert root.tag == f"{{{SYN_URI}}}WSMD_Synthetic"
    assert root.find(f"{{{SYN_URI}}}Index").text == "7"
    assert root.find(f"{{{SYN_URI}}}Note").get(f"{{{NS_XSI}}}nil") == "true"
    doc = json.loads(ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-7", "-format:json")))
    inst = doc["WSMD_Synthetic"]
    assert inst["Name"] == "item 7" and inst["Note"] is None


def test_get_hash_is_not_input(syn):
    # winrm get takes selectors only in the URI (?k=v); @{...} is input,
    # which get does not accept.
    cp = winrm(syn, "get", SYN, '@{InstanceID="synthetic-7"}')
    assert cp.returncode == 2, cp
    assert "does not accept input" in cp.stderr


def test_get_fragment(syn):
    out = ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-7", "-fragment:Name"))
    assert out.splitlines() == ["XmlFragment", "    Name = item 7"]
    root = ET.fromstring(ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-7",
                                  "-fragment:Name", "-format:xml")))
    assert root.tag == f"{{{NS_WSMAN}}}XmlFragment"
    assert [c.text for c in root] == ["item 7"]


def test_get_fragment_text(syn):
    out = ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-3", "-fragment:Name/text()"))
    assert out == "XmlFragment = item 3\n"


def test_get_alias_case_and_wmi_form(syn):
    # Aliases match without case; the synthetic class answers under the WMI
    # form too, and then in it.
    root = ET.fromstring(ok(winrm(syn, "get", "WmiCimV2/WSMD_Synthetic?InstanceID=synthetic-3",
                                  "-format:xml")))
    assert root.tag == ("{http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
                        "WSMD_Synthetic}WSMD_Synthetic")


def test_get_missing_instance(syn):
    cp = winrm(syn, "get", f"{SYN}?InstanceID=synthetic-{N_SYNTHETIC}")
    assert cp.returncode == 1, cp
    assert cp.stderr.startswith("WSManFault\n    Message = ")
    assert "Error number:  -2144108544 0x80338000" in cp.stderr


def test_get_options_accepted(syn):
    out = ok(winrm(syn, "get", f"{SYN}?InstanceID=synthetic-1", '-options:{Opt="1";Other=$null}'))
    assert "    InstanceID = synthetic-1" in out


# ---- enumerate ---------------------------------------------------------------


def test_enumerate_text_many_pulls(syn):
    before = count_actions(syn, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull")
    out = ok(winrm(syn, "enumerate", SYN, "-maxelements:7"))
    items = text_items(out, "WSMD_Synthetic")
    assert len(items) == N_SYNTHETIC
    ids = [ln.split(" = ")[1] for ln in out.splitlines() if ln.startswith("    InstanceID = ")]
    assert ids == [f"synthetic-{i}" for i in range(N_SYNTHETIC)]
    pulls = count_actions(syn, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull") - before
    assert pulls >= N_SYNTHETIC // 7 - 1, syn.log()


def test_enumerate_xml(syn):
    root = ET.fromstring(ok(winrm(syn, "e", SYN, "-format:xml", "-maxelements:9")))
    assert root.tag == f"{{{NS_RESULTS}}}Results"
    assert len(root) == N_SYNTHETIC
    assert all(c.tag == f"{{{SYN_URI}}}WSMD_Synthetic" for c in root)


def test_enumerate_pretty_json(syn):
    root = ET.fromstring(ok(winrm(syn, "enum", SYN, "-format:pretty")))
    assert len(root) == N_SYNTHETIC
    doc = json.loads(ok(winrm(syn, "enumerate", SYN, "-format:json", "-maxelements:11")))
    assert isinstance(doc, list) and len(doc) == N_SYNTHETIC
    assert {d["WSMD_Synthetic"]["InstanceID"] for d in doc} == {
        f"synthetic-{i}" for i in range(N_SYNTHETIC)}


def test_enumerate_wql_filter(syn):
    out = ok(winrm(syn, "enumerate", SYN,
                   "-filter:select * from WSMD_Synthetic where Index < 5"))
    assert len(text_items(out, "WSMD_Synthetic")) == 5
    # The WMI way: the class comes from the query, the URI ends in "*".
    out = ok(winrm(syn, "e", "wmicimv2/*", "-dialect:WQL",
                   "-filter:select Name from WSMD_Synthetic where Index >= 48"))
    assert len(text_items(out, "WSMD_Synthetic")) == 2


def test_enumerate_bad_wql(syn):
    cp = winrm(syn, "enumerate", SYN, "-filter:select * from")
    assert cp.returncode == 1, cp
    assert "WSManFault" in cp.stderr
    assert "cannot process the filter" in cp.stderr
    assert "Error number:  -2144108254 0x80338122" in cp.stderr
    assert cp.stdout == ""


def test_enumerate_selector_filter(syn):
    out = ok(winrm(syn, "e", SYN, "-dialect:selector", '-filter:{InstanceID="synthetic-3"}'))
    assert len(text_items(out, "WSMD_Synthetic")) == 1
    assert "    InstanceID = synthetic-3" in out


def test_hash_split_by_the_shell(syn):
    # Unquoted in a shell, -filter:{Name=item 4} arrives as two arguments;
    # winrm keeps a {...} together as winrm.cmd does.
    out = ok(winrm(syn, "e", SYN, "-dialect:selector", "-filter:{Name=item", "4}"))
    assert len(text_items(out, "WSMD_Synthetic")) == 1
    assert "    InstanceID = synthetic-4" in out


def test_enumerate_epr(syn):
    out = ok(winrm(syn, "e", SYN, "-returnType:epr",
                   "-filter:select * from WSMD_Synthetic where Index < 3"))
    items = text_items(out, "EndpointReference")
    assert len(items) == 3
    assert f"        ResourceURI = {SYN_URI}" in items[0]
    assert "            Selector: InstanceID = synthetic-0" in items[0]
    root = ET.fromstring(ok(winrm(syn, "e", SYN, "-returnType:EPR", "-format:xml")))
    assert len(root) == N_SYNTHETIC
    sel = root[4].find(f"{{{NS_WSA}}}ReferenceParameters/{{{NS_WSMAN}}}SelectorSet/"
                       f"{{{NS_WSMAN}}}Selector")
    assert sel.get("Name") == "InstanceID" and sel.text == "synthetic-4"


def test_enumerate_object_and_epr(syn):
    doc = json.loads(ok(winrm(syn, "e", SYN, "-returnType:objectandepr", "-format:json",
                              "-filter:select * from WSMD_Synthetic where Index = 2")))
    assert len(doc) == 1
    item = doc[0]["Item"]
    assert item["WSMD_Synthetic"]["InstanceID"] == "synthetic-2"
    sel = item["EndpointReference"]["ReferenceParameters"]["SelectorSet"]["Selector"]
    assert sel == {"@Name": "InstanceID", "#text": "synthetic-2"}


def test_enumerate_associations(syn):
    """-associations: the association objects themselves (DSP0227
    AssociationInstances), each with its two references."""
    import socket
    host = socket.gethostname()
    cs = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem"
    doc = json.loads(ok(winrm(
        syn, "e", "http://schemas.dmtf.org/wbem/wscim/1/*", "-dialect:association",
        "-associations", "-format:json",
        f'-filter:{{Object="{cs}?CreationClassName=CIM_ComputerSystem+Name={host}";'
        'ResultClassName="CIM_InstalledOS"}')))
    assert len(doc) == 1, doc
    inst = doc[0]["CIM_InstalledOS"]
    group = inst["GroupComponent"]["ReferenceParameters"]
    part = inst["PartComponent"]["ReferenceParameters"]
    assert group["ResourceURI"] == cs
    assert part["ResourceURI"].endswith("/CIM_OperatingSystem")
    # An object nothing is associated with: an empty sequence.
    cp = winrm(syn, "e", "wmicimv2/*", "-dialect:association", "-associations",
               f'-filter:{{Object="{SYN}?InstanceID=synthetic-1"}}')
    assert cp.returncode == 0, cp


def test_unknown_resource(syn):
    cp = winrm(syn, "enumerate", "cimv2/WSMD_NoSuchClass")
    assert cp.returncode == 1, cp
    assert "WSManFault" in cp.stderr
    cp = winrm(syn, "get", "wmicimv2/WSMD_NoSuchClass?Name=x")
    assert cp.returncode == 1, cp


def test_wrong_password(syn):
    cp = winrm(syn, "enumerate", SYN, password="not-" + PASSWORD)
    assert cp.returncode == 1, cp
    assert "Access is denied." in cp.stderr
    assert "Error number:  -2147024891 0x80070005" in cp.stderr


def test_cannot_connect(syn):
    cp = subprocess.run([winrm_bin(), "id", "-r:http://127.0.0.1:1/wsman", "-u:a", "-p:b"],
                        capture_output=True, text=True, timeout=TIMEOUT)
    assert cp.returncode == 1
    assert "0x80338012" in cp.stderr


# ---- set -----------------------------------------------------------------------


def test_set_unknown_property(syn):
    cp = winrm(syn, "set", f"{SYN}?InstanceID=synthetic-7", '@{NoSuchProperty="x"}')
    assert cp.returncode == 1, cp
    assert "does not match any properties on resource: NoSuchProperty" in cp.stderr


def test_set_read_only_property_faults(syn):
    # Name is read-only: the service answers a fault.
    cp = winrm(syn, "set", f"{SYN}?InstanceID=synthetic-7", '@{Name="renamed"}')
    assert cp.returncode == 1, cp
    assert cp.stderr.startswith("WSManFault\n")


def test_set_writable_property(syn):
    cp = winrm(syn, "set", f"{SYN}?InstanceID=synthetic-8", '@{Note="set by winrm"}')
    assert cp.returncode == 0, cp
    assert "Note = set by winrm" in cp.stdout, cp.stdout
    cp = winrm(syn, "get", f"{SYN}?InstanceID=synthetic-8")
    assert cp.returncode == 0, cp
    assert "Note = set by winrm" in cp.stdout, cp.stdout


# ---- usage ---------------------------------------------------------------------


@pytest.mark.parametrize("words", [
    [],
    ["frobnicate", SYN],
    ["get"],
    ["set", f"{SYN}?InstanceID=synthetic-1"],          # no input
    ["delete", f"{SYN}?InstanceID=synthetic-1", '@{a="b"}'],
    ["enumerate", SYN, "-returnType:everything"],
    ["enumerate", SYN, "-dialect:selector", "-filter:InstanceID=x"],
    ["get", SYN, "-format:yaml"],
    ["invoke", "Create"],
])
def test_usage_errors(syn, words):
    cp = winrm(syn, *words)
    assert cp.returncode == 2, cp


# ---- the shell resource: Create and Delete ------------------------------------

SHELL_XML = ('<rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
             "<rsp:InputStreams>stdin</rsp:InputStreams>"
             "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>")


@pytest.fixture
def srv(shell_wsmd):
    shell_wsmd.user, shell_wsmd.password = shell_wsmd.user1, shell_wsmd.pw1
    return shell_wsmd


def test_create_and_delete_shell(srv, tmp_path):
    f = tmp_path / "shell.xml"
    f.write_text(SHELL_XML)
    root = ET.fromstring(ok(winrm(srv, "create", "shell/cmd", f"-file:{f}", "-format:xml")))
    assert local(root.tag) == "ResourceCreated"
    sel = root.find(f"{{{NS_WSA}}}ReferenceParameters/{{{NS_WSMAN}}}SelectorSet/"
                    f"{{{NS_WSMAN}}}Selector")
    assert sel.get("Name") == "ShellId" and sel.text
    ok(winrm(srv, "delete", f"shell/cmd?ShellId={sel.text}"))
    cp = winrm(srv, "delete", f"shell/cmd?ShellId={sel.text}")
    assert cp.returncode == 1 and "WSManFault" in cp.stderr, cp


# ---- Invoke on Win32_Process --------------------------------------------------


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def procs(srv):
    """srv, when it serves Win32_Process (skip otherwise); kills leftovers."""
    cp = winrm(srv, "e", "wmicimv2/Win32_Process",
               "-filter:select Handle from Win32_Process where Handle = '1'")
    if cp.returncode == 1 and "resource URI" in cp.stderr:
        pytest.skip("Win32_Process is not served by this wsmd")
    ok(cp)
    srv.pids = []
    yield srv
    for pid in srv.pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_invoke_create_terminate(procs):
    out = ok(winrm(procs, "invoke", "Create", "wmicimv2/Win32_Process",
                   '@{CommandLine="sleep 30"}'))
    lines = out.splitlines()
    assert lines[0] == "Create_OUTPUT"
    assert "    ReturnValue = 0" in lines
    pid = int(next(ln for ln in lines if ln.startswith("    ProcessId = ")).split(" = ")[1])
    procs.pids.append(pid)
    assert _alive(pid)
    if os.geteuid() == 0:  # the method ran as the account
        import pwd
        assert pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name == procs.user

    doc = json.loads(ok(winrm(procs, "invoke", "Terminate",
                              f"wmicimv2/Win32_Process?Handle={pid}", "-format:json")))
    assert doc["Terminate_OUTPUT"]["ReturnValue"] == 0  # a uint32, typed
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_invoke_from_file(procs, tmp_path):
    f = tmp_path / "in.xml"
    f.write_text('<?xml version="1.0"?>\n<p:Create_INPUT xmlns:p="http://schemas.microsoft.com'
                 '/wbem/wsman/1/wmi/root/cimv2/Win32_Process">'
                 "<p:CommandLine>sleep 30</p:CommandLine></p:Create_INPUT>\n")
    root = ET.fromstring(ok(winrm(procs, "i", "Create", "wmicimv2/Win32_Process", f"-file:{f}",
                                  "-format:xml")))
    assert local(root.tag) == "Create_OUTPUT"
    vals = {local(c.tag): c.text for c in root}
    assert vals["ReturnValue"] == "0"
    procs.pids.append(int(vals["ProcessId"]))


def test_invoke_unknown_method(procs):
    cp = winrm(procs, "invoke", "NoSuchMethod", "wmicimv2/Win32_Process")
    assert cp.returncode == 1 and "WSManFault" in cp.stderr, cp
