"""Host data as Windows gives it, against a real wsmd: every property of
Win32_OperatingSystem and Win32_ComputerSystem in WMI's order, the new
values against their Linux sources, our winrm tool enumerating them, and
the enumeration options RequestTotalItemsCountEstimate and
PolymorphismMode (DSP0226 8.2.3, DSP0227 7.3)."""

import os
import re
import xml.etree.ElementTree as ET
import socket
import subprocess

import pytest

from cim_helpers import (
    CODE_INVALID_OPTIONS, DMTF, ENUMERATE, NS, PULL, WMI, XSI_NIL, Client, instance_props,
    local_name, wql_filter,
)
from conftest import REPO_ROOT

WINRM_BIN = os.environ.get("WINRM_BIN") or str(REPO_ROOT / "build" / "winrm")
CIMB = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
ESTIMATE = '<w:RequestTotalItemsCountEstimate s:mustUnderstand="true"/>'
SYN = WMI + "WSMD_Synthetic"


@pytest.fixture(scope="module")
def cli(cim_wsmd):
    c = Client(cim_wsmd.port)
    yield c
    c.close()


def first_instance(cli, cls):
    a = cli.enumerate(WMI + cls, optimize=True, max_elements=1).ok(ENUMERATE + "Response")
    er = a.body.find("n:EnumerateResponse", NS)
    ctx = er.find("n:EnumerationContext", NS)
    if ctx is not None and (ctx.text or "").strip():
        cli.release(WMI + cls, ctx.text.strip())
    items = list(er.find("w:Items", NS))
    return items[0] if items else None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def kv(path, key):
    text = read(path) or ""
    val = None
    for line in text.splitlines():
        m = re.match(r"\s*(?:export\s+)?%s=(.*)$" % re.escape(key), line)
        if m:
            val = m.group(1).strip().strip("\"'")
    return val


# ---- Windows' shape ---------------------------------------------------------

@pytest.mark.parametrize("cls", [
    "Win32_OperatingSystem", "Win32_ComputerSystem", "Win32_Processor", "Win32_PhysicalMemory",
    "Win32_LogicalDisk", "Win32_NetworkAdapter", "Win32_NetworkAdapterConfiguration",
    "Win32_Process", "Win32_Service", "Win32_BIOS",
])
def test_properties_in_wmi_order(cli, cls):
    inst = first_instance(cli, cls)
    if inst is None:
        pytest.skip(f"no instance of {cls} here")
    names = [local_name(c.tag) for c in inst]
    assert names == sorted(names, key=str.lower), (cls, names)


def test_every_windows_property(cli):
    _, os_inst = cli.get_instance(WMI + "Win32_OperatingSystem")
    names = [local_name(c.tag) for c in os_inst]
    assert len(names) == 66 and len(set(names)) == 66, names
    for n in ("BootDevice", "CodeSet", "CSDVersion", "MUILanguages", "OSLanguage",
              "QuantumType", "WindowsDirectory"):
        assert n in names
    # No fact, no value: xsi:nil as WMI writes a NULL.
    for n in ("CSDVersion", "OSLanguage", "RegisteredUser", "WindowsDirectory"):
        el = os_inst.find(f"{{{WMI}Win32_OperatingSystem}}{n}")
        assert el.get(XSI_NIL) == "true" and not el.text, n
    _, cs = cli.get_instance(WMI + "Win32_ComputerSystem")
    names = [local_name(c.tag) for c in cs]
    assert len(names) == 64, names
    # A WQL query may name any of them, as on Windows.
    items, _ = cli.enumerate_all(WMI + "Win32_OperatingSystem", filter_xml=wql_filter(
        "SELECT CSDVersion, BuildNumber FROM Win32_OperatingSystem"))
    got = [local_name(c.tag) for c in items[0]]
    assert {"BuildNumber", "CSDVersion"} <= set(got), got


# ---- values against their sources ---------------------------------------

def kernel_version_code(release):
    nums = [int(x) for x in re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release).groups(0)]
    return nums[0] << 16 | nums[1] << 8 | min(nums[2], 255)


def test_operating_system_new_values(cli):
    _, inst = cli.get_instance(WMI + "Win32_OperatingSystem")
    p = instance_props(inst)
    u = os.uname()
    assert p["BuildNumber"] == str(kernel_version_code(u.release))
    words = [w for w in u.version.split()[1:] if w in ("SMP", "PREEMPT", "PREEMPT_DYNAMIC",
                                                        "PREEMPT_RT")]
    assert p.get("BuildType") == (" ".join(words) if words else None)
    assert p["SystemDrive"] == "/"
    limits = [int(read(f"/proc/sys/kernel/{f}")) for f in ("pid_max", "threads-max")]
    assert p["MaxNumberOfProcesses"] == str(min(limits))
    pretty = kv("/etc/machine-info", "PRETTY_HOSTNAME")
    assert p.get("Description") == (pretty or None)
    lang = kv("/etc/locale.conf", "LANG") or kv("/etc/default/locale", "LANG")
    if lang and re.search(r"\.utf-?8", lang, re.I):
        assert p["CodeSet"] == "65001"
    if lang and re.match(r"[a-z]{2,3}_[A-Z]{2}", lang):
        mui = inst.findall(f"{{{WMI}Win32_OperatingSystem}}MUILanguages")
        assert [e.text for e in mui] == [lang.split(".")[0].split("@")[0].replace("_", "-")]
    flags = re.search(r"^flags\s*:(.*)$", read("/proc/cpuinfo") or "", re.M)
    if flags:
        nx = "true" if "nx" in flags.group(1).split() else "false"
        assert p["DataExecutionPrevention_Available"] == nx
    # InstallDate: the root directory's birth time, where the fs keeps one.
    born = subprocess.run(["stat", "-c", "%W", "/"], capture_output=True, text=True).stdout
    born = int(born.strip() or 0)
    if born > 0:
        assert p["InstallDate"].startswith(
            __import__("time").strftime("%Y-%m-%dT%H:%M:%S", __import__("time").gmtime(born)))
    else:
        assert p.get("InstallDate") is None


def test_computer_system_new_values(cli):
    _, inst = cli.get_instance(WMI + "Win32_ComputerSystem")
    p = instance_props(inst)
    prof = read("/sys/firmware/acpi/pm_profile")
    if prof is not None and prof.isdigit() and int(prof) <= 8:
        assert p["PCSystemTypeEx"] == prof
        assert p.get("PCSystemType") == (prof if int(prof) <= 7 else None)
    else:
        assert p.get("PCSystemType") is None
    assert p["Workgroup"]
    if "." not in socket.gethostname() and p["Domain"] == p["Workgroup"]:
        pass  # no DNS domain: the workgroup, as Windows outside a domain
    uid = kv("/run/systemd/seats/seat0", "ACTIVE_UID")
    if uid is None:
        assert p.get("UserName") is None
    assert p.get("NameFormat") is None  # WMI leaves it NULL on Win32_ComputerSystem


def test_winrm_tool_shows_them(cim_wsmd):
    cp = subprocess.run([WINRM_BIN, "enumerate", "wmicimv2/Win32_OperatingSystem",
                         f"-r:http://127.0.0.1:{cim_wsmd.port}/wsman", "-u:alice",
                         "-p:" + cim_wsmd_password()],
                        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp
    assert f"BuildNumber = {kernel_version_code(os.uname().release)}" in cp.stdout, cp.stdout
    assert "SystemDrive = /" in cp.stdout
    assert "CSDVersion = null" in cp.stdout, cp.stdout
    # WMI's order in the tool's output too.
    props = re.findall(r"^    (\w+) = ", cp.stdout, re.M)
    assert props == sorted(props, key=str.lower), props


def cim_wsmd_password():
    from wsman_helpers import PASSWORD
    return PASSWORD


# ---- RequestTotalItemsCountEstimate ---------------------------------------

def estimate_of(answer):
    el = answer.root.find("s:Header/w:TotalItemsCountEstimate", NS)
    if el is None:
        return "absent"
    if el.get(XSI_NIL) == "true":
        return None
    return int(el.text)


def test_count_estimate_enumerate_and_pull(cli):
    a = cli.enumerate(SYN, extra_headers=ESTIMATE).ok(ENUMERATE + "Response")
    assert estimate_of(a) == 50
    ctx = a.body.find("n:EnumerateResponse/n:EnumerationContext", NS).text
    p = cli.pull(SYN, ctx, 10, extra_headers=ESTIMATE).ok(PULL + "Response")
    assert estimate_of(p) == 50
    assert len(p.body.find("n:PullResponse/n:Items", NS)) == 10
    p = cli.pull(SYN, ctx, 5).ok(PULL + "Response")
    assert estimate_of(p) == "absent"  # only when asked
    cli.release(SYN, ctx)
    # Optimized, and with a filter: the count is of what the filter passes.
    a = cli.enumerate(SYN, optimize=True, max_elements=3, extra_headers=ESTIMATE,
                      filter_xml=wql_filter("SELECT * FROM WSMD_Synthetic WHERE Index < 7")).ok()
    assert estimate_of(a) == 7
    a = cli.enumerate(WMI + "Win32_OperatingSystem", optimize=True, max_elements=5,
                      extra_headers=ESTIMATE).ok()
    assert estimate_of(a) == 1
    a = cli.enumerate(WMI + "Win32_OperatingSystem").ok()
    assert estimate_of(a) == "absent"


def test_count_estimate_processes(cli):
    a = cli.enumerate(WMI + "Win32_Process", extra_headers=ESTIMATE).ok()
    n = estimate_of(a)
    here = len([d for d in os.listdir("/proc") if d.isdigit()])
    assert abs(n - here) <= max(20, here // 10), (n, here)
    ctx = a.body.find("n:EnumerateResponse/n:EnumerationContext", NS).text
    cli.release(WMI + "Win32_Process", ctx)


def test_count_estimate_not_a_class(cli):
    """A sequence that is not a CIM class (the listeners) is not counted
    twice: the estimate is nil."""
    uri = "http://schemas.microsoft.com/wbem/wsman/1/config/listener"
    a = cli.enumerate(uri, optimize=True, max_elements=10, extra_headers=ESTIMATE)
    if a.is_fault:
        pytest.skip("no listener enumeration in this build")
    assert estimate_of(a) is None


# ---- PolymorphismMode -------------------------------------------------------

def poly(mode):
    return f'<b:PolymorphismMode xmlns:b="{CIMB}">{mode}</b:PolymorphismMode>'


@pytest.mark.parametrize("mode", ["None", "ExcludeSubClassProperties",
                                  "IncludeSubClassProperties"])
def test_polymorphism_modes(cli, mode):
    plain, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem")
    items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem", filter_xml=poly(mode))
    assert len(items) == len(plain) == 1
    assert [c.tag for c in items[0]] == [c.tag for c in plain[0]]


def test_polymorphism_unknown_mode(cli):
    cli.enumerate(WMI + "Win32_OperatingSystem", filter_xml=poly("Deep")).expect_fault(
        "w:InvalidOptions", CODE_INVALID_OPTIONS)


# ---- AssociationInstances -----------------------------------------------------

ASSOC_DIALECT = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"
DMTF_ALL = "http://schemas.dmtf.org/wbem/wscim/1/*"


def assoc_filter(el, uri, selectors, **fields):
    sel = "".join(f'<w:Selector Name="{k}">{v}</w:Selector>' for k, v in selectors.items())
    extra = "".join(f"<b:{k}>{v}</b:{k}>" for k, v in fields.items())
    return (f'<w:Filter Dialect="{ASSOC_DIALECT}"><b:{el} xmlns:b="{CIMB}"><b:Object>'
            "<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
            f"</a:Address><a:ReferenceParameters><w:ResourceURI>{uri}</w:ResourceURI>"
            f"<w:SelectorSet>{sel}</w:SelectorSet></a:ReferenceParameters></b:Object>"
            f"{extra}</b:{el}></w:Filter>")


def cs_object():
    return DMTF + "CIM_ComputerSystem", {"CreationClassName": "CIM_ComputerSystem",
                                          "Name": socket.gethostname()}


def ref_of(prop):
    uri = prop.find("a:ReferenceParameters/w:ResourceURI", NS).text
    sels = {s.get("Name"): s.text for s in
            prop.findall("a:ReferenceParameters/w:SelectorSet/w:Selector", NS)}
    return uri, sels


def test_association_instances(cli):
    uri, sel = cs_object()
    items, _ = cli.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", uri, sel, ResultClassName="CIM_InstalledOS"))
    assert [local_name(i.tag) for i in items] == ["CIM_InstalledOS"]
    inst = items[0]
    assert inst.tag == "{%sCIM_InstalledOS}CIM_InstalledOS" % DMTF
    assert [local_name(c.tag) for c in inst] == ["GroupComponent", "PartComponent"]
    g_uri, g_sel = ref_of(inst[0])
    assert g_uri == uri and g_sel == sel
    p_uri, p_sel = ref_of(inst[1])
    assert p_uri == DMTF + "CIM_OperatingSystem"
    os_items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem")
    assert p_sel["Name"] == instance_props(os_items[0])["Name"]
    assert p_sel["CSName"] == socket.gethostname()


def test_association_instances_match_associated(cli):
    """Every association object of the computer system names one of its
    associated instances, and the other way round."""
    uri, sel = cs_object()
    objs, _ = cli.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", uri, sel))
    assoc, _ = cli.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", uri, sel), mode="EnumerateEPR")
    assert len(objs) == len(assoc) > 1
    names = {local_name(o.tag) for o in objs}
    assert names <= {"CIM_InstalledOS", "CIM_SystemDevice", "CIM_HostedFileSystem"}, names
    parts = sorted((ref_of(o[1])[0], sorted(ref_of(o[1])[1].items())) for o in objs)
    eprs = sorted((e.find("a:ReferenceParameters/w:ResourceURI", NS).text,
                   sorted({s.get("Name"): s.text for s in e.findall(
                       "a:ReferenceParameters/w:SelectorSet/w:Selector", NS)}.items()))
                  for e in assoc)
    assert parts == eprs
    # The object's side is GroupComponent in each.
    assert all(ref_of(o[0]) == (uri, sel) for o in objs)


def test_association_instances_from_the_part_side(cli):
    os_items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem")
    p = instance_props(os_items[0])
    sel = {k: p[k] for k in ("CSCreationClassName", "CSName", "CreationClassName", "Name")}
    items, _ = cli.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", DMTF + "CIM_OperatingSystem", sel,
        ResultClassName="CIM_InstalledOS", Role="PartComponent"))
    assert len(items) == 1
    assert ref_of(items[0][1]) == (DMTF + "CIM_OperatingSystem", sel)
    assert ref_of(items[0][0])[0] == DMTF + "CIM_ComputerSystem"
    # The wrong role for the object: nothing.
    items, _ = cli.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", DMTF + "CIM_OperatingSystem", sel,
        ResultClassName="CIM_InstalledOS", Role="GroupComponent"))
    assert items == []


def test_association_instances_faults(cli):
    uri, sel = cs_object()
    # No key of their own: EPR modes are not served.
    cli.enumerate(DMTF_ALL, mode="EnumerateEPR", filter_xml=assoc_filter(
        "AssociationInstances", uri, sel)).expect_fault("w:UnsupportedFeature")
    # The object must exist.
    bad = cli.enumerate(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", uri, dict(sel, Name="no-such-host")))
    assert bad.is_fault
    # The estimate counts the association objects.
    a = cli.enumerate(DMTF_ALL, extra_headers=ESTIMATE, filter_xml=assoc_filter(
        "AssociationInstances", uri, sel, ResultClassName="CIM_InstalledOS")).ok()
    assert estimate_of(a) == 1


# ---- Put of Win32_Service.StartMode -----------------------------------------

SYSTEMD = os.path.isdir("/run/systemd/system") and not os.path.islink("/run/systemd/system")
SVC = WMI + "Win32_Service"


def svc_body(**props):
    inner = "".join(f"<p:{k}>{v}</p:{k}>" for k, v in props.items())
    return f'<p:Win32_Service xmlns:p="{SVC}">{inner}</p:Win32_Service>'


@pytest.mark.skipif(SYSTEMD, reason="systemd runs here")
def test_service_put_without_systemd(cli):
    cli.put(SVC, svc_body(StartMode="Auto"), {"Name": "cron"}).expect_fault(
        "w:UnsupportedFeature")


@pytest.mark.skipif(not SYSTEMD, reason="needs systemd")
def test_service_put_start_mode(cli, cim_wsmd):
    items, _ = cli.enumerate_all(SVC)
    p = instance_props(items[0])
    name, mode = p["Name"], p["StartMode"]
    # The same mode echoed back: accepted, nothing changes.
    a = cli.put(SVC, svc_body(StartMode=mode), {"Name": name}).ok()
    assert instance_props(list(a.body)[0])["StartMode"] == mode
    # A mode the class cannot take, and a read-only property changed.
    cli.put(SVC, svc_body(StartMode="Boot"), {"Name": name}).expect_fault(
        "x:InvalidRepresentation")
    cli.put(SVC, svc_body(State="Paused"), {"Name": name}).expect_fault(
        "x:InvalidRepresentation")
    # Another mode by a user who is not root: refused.
    other = "Manual" if mode != "Manual" else "Disabled"
    bob = Client(cim_wsmd.port, cim_wsmd.user2, cim_wsmd.pw2)
    bob.put(SVC, svc_body(StartMode=other), {"Name": name}).expect_fault("w:AccessDenied")
    bob.close()


# ---- pywinrm's transport ------------------------------------------------------

def test_pywinrm_enumerate_with_estimate(cim_wsmd):
    """pywinrm (its Transport, as its Protocol sends messages) enumerates
    Win32_OperatingSystem asking for the estimate: one item, estimate 1,
    every Windows property."""
    import xml.etree.ElementTree as ET
    from winrm.transport import Transport
    from cim_helpers import envelope, enumerate_body
    from wsman_helpers import PASSWORD, USER
    t = Transport(f"http://127.0.0.1:{cim_wsmd.port}/wsman", username=USER, password=PASSWORD,
                  auth_method="basic", message_encryption="never", read_timeout_sec=30)
    text, _ = envelope(ENUMERATE, WMI + "Win32_OperatingSystem",
                       enumerate_body(optimize=True, max_elements=10), extra_headers=ESTIMATE)
    root = ET.fromstring(t.send_message(text))
    assert root.find("s:Header/w:TotalItemsCountEstimate", NS).text == "1"
    items = root.find("s:Body/n:EnumerateResponse/w:Items", NS)
    assert len(items) == 1 and len(items[0]) == 66


# ---- Put of Win32_OperatingSystem.Description -------------------------------

OSURI = WMI + "Win32_OperatingSystem"


def os_body(**props):
    inner = "".join(f"<p:{k}>{v}</p:{k}>" for k, v in props.items())
    return f'<p:Win32_OperatingSystem xmlns:p="{OSURI}">{inner}</p:Win32_OperatingSystem>'


def test_os_put_description_refusals(cli):
    """Writing the description is root's (alice is not); the same value
    echoed back is accepted; a read-only property changed is refused."""
    _, inst = cli.get_instance(OSURI)
    cur = instance_props(inst).get("Description")
    a = cli.put(OSURI, os_body(Description=cur or "")) if cur else None
    if a is not None:
        a.ok()
    cli.put(OSURI, os_body(Description="wsmd test host")).expect_fault("w:AccessDenied")
    cli.put(OSURI, os_body(Caption="Windows")).expect_fault("x:InvalidRepresentation")
    cli.put(OSURI, "<w:XmlFragment>x</w:XmlFragment>",
            extra_headers='<w:FragmentTransfer s:mustUnderstand="true">Description'
                          "</w:FragmentTransfer>").expect_fault("w:AccessDenied")
    _, inst = cli.get_instance(OSURI)
    assert instance_props(inst).get("Description") == cur  # unchanged


def test_os_put_whole_instance_from_a_get(cli, cim_wsmd):
    """A client that Gets, changes one property and Puts the whole instance
    (winrm set, Set-WSManInstance) brings back values that changed by
    themselves meanwhile (LocalDateTime, FreePhysicalMemory): they are
    ignored; a stable read-only value changed is still refused."""
    import time
    _, inst = cli.get_instance(OSURI)
    time.sleep(0.01)  # LocalDateTime has moved on by the Put
    text = ET.tostring(inst, encoding="unicode")
    cli.put(OSURI, text).ok()  # nothing writable changed: no right needed
    p = instance_props(inst)
    bad = text.replace(f"<ns0:Version>{p['Version']}</ns0:Version>",
                       "<ns0:Version>10.0.19045</ns0:Version>")
    assert bad != text
    cli.put(OSURI, bad).expect_fault("x:InvalidRepresentation")
    # our winrm tool's set: Get, merge, Put; alice may not write it
    cp = subprocess.run([WINRM_BIN, "set", "wmicimv2/Win32_OperatingSystem",
                         '@{Description="wsmd test"}',
                         f"-r:http://127.0.0.1:{cim_wsmd.port}/wsman", "-u:alice",
                         "-p:" + cim_wsmd_password()],
                        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert cp.returncode == 1 and "Access is denied" in cp.stderr, cp
