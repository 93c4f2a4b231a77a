"""Host management data: CIM/WMI classes over WS-Management.

Get (selectors, singletons, fragments), Put (refused), Invoke
(Win32_Process Create / Terminate / GetOwner), Enumerate / Pull /
Release / GetStatus (plain, optimized, EPR modes, MaxEnvelopeSize,
expired and foreign contexts), WQL and SelectorFilter filters, and the
values of a few classes against their source on this host.

Every reply goes through cim_helpers.Answer, which checks that its
a:RelatesTo is the request's a:MessageID.
"""

import os
import pwd
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
import xml.etree.ElementTree as ET

import pytest

from cim_helpers import (
    CODE_ACTION_NOT_SUPPORTED, CODE_CANNOT_PROCESS_FILTER, CODE_DEST_UNREACHABLE,
    CODE_FILTER_DIALECT, CODE_FRAGMENT, CODE_INVALID_ENUM_CONTEXT, CODE_INVALID_OPTIONS,
    CODE_INVALID_SELECTORS, CODE_NOT_FOUND, CODE_UNSUPPORTED_FEATURE, CQL, DATETIME_RE, DMTF,
    ENUMERATE, GET, GETSTATUS, NS, PULL, RELEASE, WMI, WMI_ALL, WQL, XF,
    XSI_NIL, Client, epr_selectors, instance_props, local_name, q,
    selector_filter, wql_filter,
)
from wsman_helpers import PASSWORD, SANITIZED, USER

SYN = DMTF + "WSMD_Synthetic"
SYN_COUNT = 50
CODE_ENCODING_LIMIT = "2150858805"
CODE_ACCESS_DENIED = "5"
CODE_INVALID_REPRESENTATION = "2150858773"

SYSTEMD = os.path.isdir("/run/systemd/system") and not os.path.islink("/run/systemd/system")
IS_ROOT = os.geteuid() == 0
SLOW = 3 if SANITIZED else 1


@pytest.fixture(scope="module")
def cli(cim_wsmd):
    c = Client(cim_wsmd.port)
    yield c
    c.close()


@pytest.fixture(scope="module")
def bob(cim_wsmd):
    c = Client(cim_wsmd.port, cim_wsmd.user2, cim_wsmd.pw2)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _daemon_alive(request):
    yield
    if "cim_wsmd" in request.fixturenames:
        request.getfixturevalue("cim_wsmd").assert_alive()


def os_release(key):
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    if k == key:
                        v = v.strip()
                        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                            v = v[1:-1]
                        return v
            return None
        except FileNotFoundError:
            continue
    return None


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/meminfo")


def root_mount():
    """(fstype) of the last mount on "/" in /proc/self/mountinfo."""
    fstype = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) >= 5 and fields[4] == "/":
                fstype = right.split()[0]
    return fstype


def enum_ctx(answer):
    er = answer.body.find("n:EnumerateResponse", NS)
    assert er is not None, f"no n:EnumerateResponse{answer.where()}"
    c = er.find("n:EnumerationContext", NS)
    assert c is not None and (c.text or "").strip(), f"no EnumerationContext{answer.where()}"
    return c.text.strip()


def pull_items(answer):
    pr = answer.body.find("n:PullResponse", NS)
    assert pr is not None, f"no n:PullResponse{answer.where()}"
    items = pr.find("n:Items", NS)
    return (list(items) if items is not None else []), pr.find("n:EndOfSequence", NS) is not None


def syn_ids(items):
    return [instance_props(i)["InstanceID"] for i in items]


def all_syn_ids():
    return [f"synthetic-{i}" for i in range(SYN_COUNT)]


# --------------------------------------------------------------------------
# Resource URIs and classes
# --------------------------------------------------------------------------

WIN32_CLASSES = [
    "Win32_OperatingSystem", "Win32_ComputerSystem", "Win32_Processor",
    "Win32_PhysicalMemory", "Win32_BIOS", "Win32_LogicalDisk", "Win32_NetworkAdapter",
    "Win32_NetworkAdapterConfiguration", "Win32_Process", "Win32_Service",
]
CIM_CLASSES = [
    "CIM_OperatingSystem", "CIM_ComputerSystem", "CIM_Processor", "CIM_PhysicalMemory",
    "CIM_BIOSElement", "CIM_LogicalDisk", "CIM_FileSystem", "CIM_NetworkPort", "CIM_Process",
    "CIM_UnixProcess", "CIM_Service", "WSMD_Synthetic",
]
ALL_URIS = ([WMI + c for c in WIN32_CLASSES] + [DMTF + c for c in CIM_CLASSES]
            + [WMI + c for c in CIM_CLASSES])

SINGLE = {"OperatingSystem", "ComputerSystem"}
AT_LEAST_ONE = {"Processor", "LogicalDisk", "FileSystem", "Process", "UnixProcess",
                "Synthetic"}


def _base(cls):
    return cls.split("_", 1)[1]


INTERVAL_RE = re.compile(r"^P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _check_property_elements(inst, uri):
    """Every property is a p: element of the class namespace; NULL is an empty
    element with xsi:nil="true"; a datetime is one cim:Datetime (or
    cim:Interval) child with an ISO 8601 text; anything else is plain text."""
    for el in inst:
        where = f"{local_name(inst.tag)}.{local_name(el.tag)}"
        assert el.tag.startswith("{%s}" % uri), f"{where}: namespace {el.tag}"
        if el.get(XSI_NIL) is not None:
            assert el.get(XSI_NIL) == "true", f"{where}: xsi:nil={el.get(XSI_NIL)!r}"
            assert len(el) == 0 and not (el.text or "").strip(), f"{where}: nil with content"
            continue
        kids = list(el)
        if not kids:
            continue
        assert len(kids) == 1 and kids[0].tag in (q("cim:Datetime"), q("cim:Interval")), (
            f"{where}: unexpected children {[k.tag for k in kids]}")
        text = kids[0].text or ""
        if kids[0].tag == q("cim:Datetime"):
            assert DATETIME_RE.match(text), f"{where}: bad cim:Datetime {text!r}"
        else:
            assert INTERVAL_RE.match(text) and text != "P", f"{where}: bad interval {text!r}"


@pytest.mark.parametrize("uri", ALL_URIS, ids=lambda u: u.split("/wbem/")[1])
def test_class_enumerates_and_gets_by_its_epr(cli, uri):
    """Every class under each URI form it is served under: EnumerateObjectAndEPR
    gives instances in the requested URI's namespace whose EPR selectors are
    the instance's key values; a Get with those selectors finds the same
    instance."""
    cls = uri.rsplit("/", 1)[1]
    items, _ = cli.enumerate_all(uri, max_elements=500, mode="EnumerateObjectAndEPR")
    base = _base(cls)
    if base in SINGLE:
        assert len(items) == 1, f"{cls}: {len(items)} instances, expected 1"
    elif base in AT_LEAST_ONE:
        assert len(items) >= 1, f"{cls}: no instances"
    elif base == "Service" and not SYSTEMD:
        assert items == [], f"{cls} without systemd should be empty"
    first = None
    for item in items:
        assert item.tag == q("w:Item"), f"{cls}: item is {item.tag}, not w:Item"
        kids = list(item)
        assert len(kids) == 2, f"{cls}: w:Item should hold instance + EPR, has {len(kids)}"
        inst, epr = kids
        assert inst.tag == "{%s}%s" % (uri, cls), (
            f"instance element {inst.tag}, expected {{{uri}}}{cls}")
        assert epr.tag == q("a:EndpointReference")
        ruri, sels = epr_selectors(epr)
        assert ruri == uri, f"EPR ResourceURI {ruri!r} != {uri!r}"
        assert sels, f"{cls}: EPR without selectors"
        _check_property_elements(inst, uri)
        props = instance_props(inst)
        for name, value in sels.items():
            assert name in props, f"{cls}: selector {name} is not a property"
            assert props[name] == value, (
                f"{cls}: selector {name}={value!r} but property is {props[name]!r}")
            assert value, f"{cls}: empty key {name}"
        if first is None:
            first = (props, sels)
    if first is None:
        return
    props, sels = first
    if base in ("Process", "UnixProcess"):
        # pid 1 stays (the first one found may have exited meanwhile)
        sels = dict(sels, Handle="1")
    _, inst = cli.get_instance(uri, sels)
    assert inst.tag == "{%s}%s" % (uri, cls)
    got = instance_props(inst)
    for name, value in sels.items():
        assert got[name] == value, f"Get {cls} {sels}: {name}={got[name]!r}"


@pytest.mark.parametrize("uri", [
    DMTF + "Win32_OperatingSystem",               # Win32_ classes only under WMI
    DMTF + "Win32_Process",
    DMTF + "CIM_NoSuchClass",
    WMI + "Win32_NoSuchClass",
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/default/Win32_OperatingSystem",
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem/x",
    "http://schemas.example.com/wbem/wscim/1/cim-schema/2/CIM_OperatingSystem",
])
@pytest.mark.parametrize("op", ["get", "enumerate"])
def test_unknown_resource_uri(cli, uri, op):
    a = cli.get(uri) if op == "get" else cli.enumerate(uri)
    a.expect_fault("a:DestinationUnreachable", CODE_DEST_UNREACHABLE)


def test_synthetic_needs_the_option(wsmd):
    """WSMD_Synthetic exists only with --synthetic N."""
    c = Client(wsmd.port)
    c.get(SYN, {"InstanceID": "synthetic-0"}).expect_fault(
        "a:DestinationUnreachable", CODE_DEST_UNREACHABLE)
    c.enumerate(SYN).expect_fault("a:DestinationUnreachable", CODE_DEST_UNREACHABLE)
    c.enumerate(WMI_ALL, filter_xml=wql_filter("SELECT * FROM WSMD_Synthetic")).expect_fault(
        "w:CannotProcessFilter", CODE_CANNOT_PROCESS_FILTER)
    c.close()


def test_cimnamespace_selector(cli):
    os_uri = WMI + "Win32_OperatingSystem"
    cli.get_instance(os_uri, {"__cimnamespace": "root/cimv2"})
    cli.get_instance(os_uri, {"__cimnamespace": "ROOT/CIMV2"})
    me = str(os.getpid())
    cli.get_instance(WMI + "Win32_Process", {"Handle": me, "__cimnamespace": "root/cimv2"})
    for ns in ("root/default", "root/interop", ""):
        cli.get(os_uri, {"__cimnamespace": ns}).expect_fault(
            "a:DestinationUnreachable", CODE_DEST_UNREACHABLE)
        cli.get(WMI + "Win32_Process", {"Handle": me, "__cimnamespace": ns}).expect_fault(
            "a:DestinationUnreachable", CODE_DEST_UNREACHABLE)
        cli.enumerate(DMTF + "CIM_OperatingSystem", True, 10,
                      selectors={"__cimnamespace": ns}).expect_fault(
            "a:DestinationUnreachable", CODE_DEST_UNREACHABLE)
    items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem",
                                 selectors={"__cimnamespace": "root/cimv2"})
    assert len(items) == 1


# --------------------------------------------------------------------------
# Get and selectors
# --------------------------------------------------------------------------

def _cim_os_keys(cli):
    items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem", mode="EnumerateEPR")
    assert len(items) == 1
    _, sels = epr_selectors(items[0])
    assert set(sels) == {"CSCreationClassName", "CSName", "CreationClassName", "Name"}, sels
    return sels


def test_get_with_all_keys(cli):
    sels = _cim_os_keys(cli)
    _, inst = cli.get_instance(DMTF + "CIM_OperatingSystem", sels)
    props = instance_props(inst)
    assert props["Name"] == sels["Name"]
    assert props["CSName"] == socket.gethostname()
    # selector names are case-insensitive, as in WMI
    _, inst = cli.get_instance(DMTF + "CIM_OperatingSystem",
                               {k.lower(): v for k, v in sels.items()})
    assert instance_props(inst)["Name"] == sels["Name"]


def test_get_missing_or_unknown_selectors(cli):
    sels = _cim_os_keys(cli)
    uri = DMTF + "CIM_OperatingSystem"
    for missing in sels:
        partial = {k: v for k, v in sels.items() if k != missing}
        cli.get(uri, partial).expect_fault("w:InvalidSelectors", CODE_INVALID_SELECTORS)
    cli.get(uri, dict(sels, Bogus="1")).expect_fault(
        "w:InvalidSelectors", CODE_INVALID_SELECTORS)
    # a property that is not a key is not a selector
    cli.get(uri, dict(sels, Version="1")).expect_fault(
        "w:InvalidSelectors", CODE_INVALID_SELECTORS)
    cli.get(WMI + "Win32_Process", {"ProcessId": str(os.getpid())}).expect_fault(
        "w:InvalidSelectors", CODE_INVALID_SELECTORS)
    cli.get(SYN, {"Name": "item 1"}).expect_fault("w:InvalidSelectors", CODE_INVALID_SELECTORS)


def test_get_without_selectors(cli):
    """A singleton answers a Get without selectors; a class with several
    instances wants them."""
    _, inst = cli.get_instance(WMI + "Win32_OperatingSystem")
    assert inst.tag == "{%s}Win32_OperatingSystem" % (WMI + "Win32_OperatingSystem")
    _, inst = cli.get_instance(WMI + "Win32_ComputerSystem")
    _, inst = cli.get_instance(DMTF + "CIM_OperatingSystem")
    for uri in (WMI + "Win32_Process", SYN):
        cli.get(uri).expect_fault("w:InvalidSelectors", CODE_INVALID_SELECTORS)


@pytest.mark.parametrize("uri,sels", [
    (WMI + "Win32_Process", {"Handle": "999999999"}),
    (WMI + "Win32_Process", {"Handle": "0"}),
    (WMI + "Win32_Process", {"Handle": "abc"}),
    (DMTF + "CIM_Process", {"CreationClassName": "CIM_Process", "CSCreationClassName":
                            "CIM_ComputerSystem", "CSName": "no-such-host", "Handle": "1",
                            "OSCreationClassName": "CIM_OperatingSystem", "OSName": "x"}),
    (WMI + "Win32_LogicalDisk", {"DeviceID": "/no/such/mount"}),
    (SYN, {"InstanceID": f"synthetic-{SYN_COUNT}"}),
    (SYN, {"InstanceID": "synthetic-1x"}),
    (WMI + "Win32_OperatingSystem", {"Name": "Windows|C:\\Windows|\\Device\\Harddisk0"}),
])
def test_get_no_such_instance(cli, uri, sels):
    cli.get(uri, sels).expect_fault("a:DestinationUnreachable", CODE_NOT_FOUND)


@pytest.mark.skipif(SYSTEMD, reason="systemd runs here: services are not empty")
@pytest.mark.parametrize("uri", [WMI + "Win32_Service", DMTF + "CIM_Service",
                                 WMI + "CIM_Service"])
def test_services_without_systemd(cli, uri):
    a = cli.enumerate(uri, True, 100).ok(ENUMERATE + "Response")
    er = a.body.find("n:EnumerateResponse", NS)
    items = er.find("w:Items", NS)
    assert items is not None and len(items) == 0, f"items without systemd{a.where()}"
    assert er.find("w:EndOfSequence", NS) is not None, a.where()
    items, _ = cli.enumerate_all(uri, optimize=False)
    assert items == []
    cli.get(uri, {"Name": "cron"} if "Win32" in uri else {
        "CreationClassName": "CIM_Service", "Name": "cron",
        "SystemCreationClassName": "CIM_ComputerSystem", "SystemName": socket.gethostname(),
    }).expect_fault("w:UnsupportedFeature", CODE_UNSUPPORTED_FEATURE)


# --------------------------------------------------------------------------
# Fragments and Put
# --------------------------------------------------------------------------

def test_fragment_get(cli):
    uri = WMI + "Win32_OperatingSystem"
    pretty = os_release("PRETTY_NAME") or "Linux"
    a = cli.get(uri, fragment="Caption").ok(GET + "Response")
    frag = a.body.find("w:XmlFragment", NS)
    assert frag is not None, a.where()
    kids = list(frag)
    assert len(kids) == 1 and kids[0].tag == "Caption", a.where()
    assert kids[0].text == pretty, a.where()

    a = cli.get(uri, fragment="Caption/text()").ok(GET + "Response")
    frag = a.body.find("w:XmlFragment", NS)
    assert frag is not None and len(frag) == 0, a.where()
    assert frag.text == pretty, a.where()

    # NULL property: an xsi:nil element; an array: one element per item
    a = cli.get(SYN, {"InstanceID": "synthetic-2"}, fragment="Note").ok(GET + "Response")
    note = a.body.find("w:XmlFragment/Note", NS)
    assert note is not None and note.get(XSI_NIL) == "true", a.where()
    a = cli.get(SYN, {"InstanceID": "synthetic-2"}, fragment="Tags").ok(GET + "Response")
    assert [t.text for t in a.body.findall("w:XmlFragment/Tags", NS)] == ["alpha", "beta"], (
        a.where())
    a = cli.get(WMI + "Win32_Process", {"Handle": str(os.getpid())},
                fragment="ProcessId/text()").ok(GET + "Response")
    assert a.body.find("w:XmlFragment", NS).text == str(os.getpid()), a.where()


@pytest.mark.parametrize("expr", ["Bogus", "Caption/Bogus", "/Caption", "Caption/text()/x",
                                  "Caption[1]"])
def test_fragment_bad_expression(cli, expr):
    cli.get(WMI + "Win32_OperatingSystem", fragment=expr).expect_fault(
        "w:InvalidParameter", CODE_FRAGMENT)


@pytest.mark.parametrize("uri", [WMI + "Win32_ComputerSystem", DMTF + "CIM_OperatingSystem",
                                 WMI + "Win32_Process"])
def test_put_is_not_supported(cli, uri):
    """Host classes without writable properties: Put is a:ActionNotSupported,
    whole instance or fragment (Win32_OperatingSystem.Description and
    Win32_Service.StartMode are writable: test_cim_hostdata)."""
    cls = uri.rsplit("/", 1)[1]
    body = f'<p:{cls} xmlns:p="{uri}"><p:Caption>x</p:Caption></p:{cls}>'
    sels = ({"Handle": str(os.getpid())} if "Process" in cls
            else {"InstanceID": "synthetic-1"} if cls == "WSMD_Synthetic" else None)
    cli.put(uri, body, sels).expect_fault("a:ActionNotSupported", CODE_ACTION_NOT_SUPPORTED)
    cli.put(uri, "<w:XmlFragment><Caption>x</Caption></w:XmlFragment>", sels,
            extra_headers='<w:FragmentTransfer s:mustUnderstand="true">Caption'
                          "</w:FragmentTransfer>").expect_fault(
        "a:ActionNotSupported", CODE_ACTION_NOT_SUPPORTED)


def test_put_writable_property(wsmd_factory, tmp_path):
    """WSMD_Synthetic's Note is writable: Put whole instance, then fragment;
    Get shows the value; a read-only property cannot change. (A daemon of
    its own: the module's shared one must keep every Note NULL.)"""
    from conftest import user_add
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users),
                     "--synthetic", "10")
    cli = Client(d.port)
    sels = {"InstanceID": "synthetic-4"}
    _, inst = cli.get_instance(SYN, sels)
    assert instance_props(inst)["Note"] is None
    body = (f'<p:WSMD_Synthetic xmlns:p="{SYN}"><p:InstanceID>synthetic-4</p:InstanceID>'
            f'<p:Note>first &amp; note</p:Note></p:WSMD_Synthetic>')
    a = cli.put(SYN, body, sels).ok(XF + "PutResponse")
    assert instance_props(list(a.body)[0])["Note"] == "first & note", a.where()
    _, inst = cli.get_instance(SYN, sels)
    assert instance_props(inst)["Note"] == "first & note"
    frag = '<w:FragmentTransfer s:mustUnderstand="true">Note</w:FragmentTransfer>'
    a = cli.put(SYN, "<w:XmlFragment><Note>second</Note></w:XmlFragment>", sels,
                extra_headers=frag).ok(XF + "PutResponse")
    assert a.body.find("w:XmlFragment", NS) is not None, a.where()
    _, inst = cli.get_instance(SYN, sels)
    assert instance_props(inst)["Note"] == "second"
    # Another instance is untouched.
    _, other = cli.get_instance(SYN, {"InstanceID": "synthetic-5"})
    assert instance_props(other)["Note"] is None
    # Read-only: Name may be echoed, not changed.
    bad = (f'<p:WSMD_Synthetic xmlns:p="{SYN}"><p:Name>renamed</p:Name>'
           f'</p:WSMD_Synthetic>')
    cli.put(SYN, bad, sels).expect_fault("x:InvalidRepresentation", CODE_INVALID_REPRESENTATION)
    same = (f'<p:WSMD_Synthetic xmlns:p="{SYN}"><p:Name>item 4</p:Name>'
            f'<p:Note>third</p:Note></p:WSMD_Synthetic>')
    cli.put(SYN, same, sels).ok(XF + "PutResponse")
    # A missing instance.
    cli.put(SYN, body, {"InstanceID": "synthetic-999999"}).expect_fault(
        "a:DestinationUnreachable")


@pytest.mark.parametrize("action", [XF + "Create", XF + "Delete",
                                    "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"])
def test_other_transfer_actions_not_supported(cli, action):
    cli.send(action, WMI + "Win32_OperatingSystem").expect_fault(
        "a:ActionNotSupported", CODE_ACTION_NOT_SUPPORTED)


# --------------------------------------------------------------------------
# Values against their source
# --------------------------------------------------------------------------

def _dt(text):
    assert DATETIME_RE.match(text), f"not a CIM datetime: {text!r}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_operating_system_values(cli):
    _, inst = cli.get_instance(WMI + "Win32_OperatingSystem")
    p = instance_props(inst)
    pretty = os_release("PRETTY_NAME") or "Linux"
    assert p["Caption"] == pretty
    assert p["Name"].startswith(pretty + "|/|"), p["Name"]
    assert p["CSName"] == socket.gethostname()
    assert p["Version"] == os.uname().release
    assert p["OSType"] == "36"
    assert p["CreationClassName"] == "Win32_OperatingSystem"
    assert p["TotalVisibleMemorySize"] == str(meminfo_kb("MemTotal"))
    assert 0 < int(p["FreePhysicalMemory"]) <= int(p["TotalVisibleMemorySize"])
    assert p["Primary"] == "true" and p["Distributed"] == "false"
    # datetimes: <cim:Datetime>, UTC
    for name in ("LastBootUpTime", "LocalDateTime"):
        el = inst.find(f"{{{WMI}Win32_OperatingSystem}}{name}")
        dt = el.find("cim:Datetime", NS)
        assert dt is not None and len(el) == 1, f"{name} not in <cim:Datetime>"
        _dt(dt.text)
    now = datetime.now(timezone.utc)
    assert abs(_dt(p["LocalDateTime"]) - now) < timedelta(minutes=5)
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    boot = now - timedelta(seconds=uptime)
    assert abs(_dt(p["LastBootUpTime"]) - boot) < timedelta(minutes=2), (
        p["LastBootUpTime"], boot)
    # NULLs: an empty element with xsi:nil="true"
    el = inst.find(f"{{{WMI}Win32_OperatingSystem}}CSDVersion")
    assert el is not None and el.get(XSI_NIL) == "true" and len(el) == 0 and not el.text

    _, inst = cli.get_instance(DMTF + "CIM_OperatingSystem")
    p = instance_props(inst)
    assert p["Caption"] == pretty and p["ElementName"] == pretty and p["Name"] == pretty
    assert p["CreationClassName"] == "CIM_OperatingSystem"
    assert p["CSCreationClassName"] == "CIM_ComputerSystem"


def test_computer_system_values(cli):
    _, inst = cli.get_instance(WMI + "Win32_ComputerSystem")
    p = instance_props(inst)
    assert p["NumberOfLogicalProcessors"] == str(os.sysconf("SC_NPROCESSORS_ONLN"))
    assert p["Name"] == socket.gethostname()
    assert p["DNSHostName"] == socket.gethostname().split(".")[0]
    assert p["TotalPhysicalMemory"] == str(meminfo_kb("MemTotal") * 1024)
    assert p["PartOfDomain"] == "false"
    assert int(p["NumberOfProcessors"]) >= 1
    _, inst = cli.get_instance(DMTF + "CIM_ComputerSystem")
    p = instance_props(inst)
    assert p["Name"] == socket.gethostname()
    assert p["CreationClassName"] == "CIM_ComputerSystem"


def test_logical_disk_root_values(cli):
    st = os.statvfs("/")
    frsize = st.f_frsize or st.f_bsize
    _, inst = cli.get_instance(WMI + "Win32_LogicalDisk", {"DeviceID": "/"})
    p = instance_props(inst)
    assert p["DeviceID"] == "/"
    assert p["Size"] == str(st.f_blocks * frsize)
    assert p["BlockSize"] == str(frsize)
    assert p["NumberOfBlocks"] == str(st.f_blocks)
    assert 0 <= int(p["FreeSpace"]) <= int(p["Size"])
    assert p["FileSystem"] == root_mount()
    assert p["SystemName"] == socket.gethostname()

    items, _ = cli.enumerate_all(DMTF + "CIM_FileSystem",
                                 filter_xml=wql_filter("SELECT * FROM CIM_FileSystem "
                                                       "WHERE Name = '/'"))
    assert len(items) == 1
    p = instance_props(items[0])
    assert p["FileSystemSize"] == str(st.f_blocks * frsize)
    assert p["Root"] == "/" and p["FileSystemType"] == root_mount()

    items, _ = cli.enumerate_all(DMTF + "CIM_LogicalDisk")
    roots = [instance_props(i) for i in items if instance_props(i)["DeviceID"] == "/"]
    assert len(roots) == 1 and roots[0]["NumberOfBlocks"] == str(st.f_blocks)


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode("utf-8", "replace") for a in f.read().rstrip(b"\0").split(b"\0")]


def test_own_process_values(cli):
    me, parent = os.getpid(), os.getppid()
    _, inst = cli.get_instance(WMI + "Win32_Process", {"Handle": str(me)})
    p = instance_props(inst)
    assert p["Handle"] == str(me)
    assert p["ProcessId"] == str(me)
    assert p["ParentProcessId"] == str(parent)
    # Only where the caller may read /proc/PID/exe: alice (no local
    # account) may not read a root process's, as a daemon running as her
    # could not.
    assert p.get("ExecutablePath") == (None if IS_ROOT else os.readlink("/proc/self/exe"))
    assert p["CommandLine"] == " ".join(_cmdline(me))
    assert p["CreationClassName"] == "Win32_Process"
    assert p["CSName"] == socket.gethostname()
    assert int(p["ThreadCount"]) >= 1
    created = _dt(inst.find(f"{{{WMI}Win32_Process}}CreationDate/cim:Datetime", NS).text)
    assert created <= datetime.now(timezone.utc) + timedelta(seconds=5)

    # the same process through the WMI "all classes" URI and a WQL query
    items, _ = cli.enumerate_all(WMI_ALL, filter_xml=wql_filter(
        f"SELECT * FROM Win32_Process WHERE ProcessId = {me}"))
    assert len(items) == 1
    assert items[0].tag == "{%s}Win32_Process" % (WMI + "Win32_Process")
    assert instance_props(items[0])["ParentProcessId"] == str(parent)

    # CIM_UnixProcess: all its keys from the EPR, then Get
    uri = DMTF + "CIM_UnixProcess"
    items, _ = cli.enumerate_all(uri, mode="EnumerateEPR",
                                 filter_xml=selector_filter({"Handle": str(me)}))
    assert len(items) == 1
    _, sels = epr_selectors(items[0])
    assert set(sels) == {"CreationClassName", "CSCreationClassName", "CSName", "Handle",
                         "OSCreationClassName", "OSName"}, sels
    _, inst = cli.get_instance(uri, sels)
    p = instance_props(inst)
    assert p["ParentProcessID"] == str(parent)
    assert p["RealUserID"] == str(os.getuid())
    params = p["Parameters"] if isinstance(p["Parameters"], list) else [p["Parameters"]]
    assert params == _cmdline(me)
    assert p.get("ModulePath") == (None if IS_ROOT else os.readlink("/proc/self/exe"))


def test_synthetic_values(cli):
    """Types as written: numbers, booleans, datetimes in cim:Datetime, arrays
    as repeated elements, NULL as xsi:nil."""
    for i in (0, 1, 2, 49):
        _, inst = cli.get_instance(SYN, {"InstanceID": f"synthetic-{i}"})
        p = instance_props(inst)
        assert p["Index"] == str(i)
        assert p["Name"] == f"item {i}"
        assert p["Value"] == str(i % 1000 - 500)
        assert p["Flag"] == ("true" if i % 2 == 0 else "false")
        created = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc) + timedelta(seconds=i)
        assert _dt(p["Created"]) == created
        assert inst.find(f"{{{SYN}}}Created/cim:Datetime", NS) is not None
        tags = ["alpha", "beta"][:i % 3]
        got = p.get("Tags", [])
        assert (got if isinstance(got, list) else [got]) == tags
        assert p["Note"] is None
        note = inst.find(f"{{{SYN}}}Note")
        assert note.get(XSI_NIL) == "true"


# --------------------------------------------------------------------------
# Enumeration
# --------------------------------------------------------------------------

def test_plain_enumerate_and_pull(cli):
    a = cli.enumerate(SYN).ok(ENUMERATE + "Response")
    er = a.body.find("n:EnumerateResponse", NS)
    assert [local_name(c.tag) for c in er] == ["EnumerationContext"], a.where()
    ctx = enum_ctx(a)
    got, pulls = [], 0
    while True:
        pulls += 1
        assert pulls <= SYN_COUNT, "enumeration did not end"
        a = cli.pull(SYN, ctx, 7).ok(PULL + "Response")
        items, end = pull_items(a)
        assert len(items) == (7 if not end else SYN_COUNT % 7 or 7), a.where()
        got += items
        if end:
            break
    assert pulls == -(-SYN_COUNT // 7)
    assert syn_ids(got) == all_syn_ids()
    # the context is gone at the end
    cli.pull(SYN, ctx, 7).expect_fault("n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)


def test_pull_default_max_elements_is_one(cli):
    ctx = enum_ctx(cli.enumerate(SYN).ok())
    for i in range(3):
        items, end = pull_items(cli.pull(SYN, ctx).ok(PULL + "Response"))
        assert syn_ids(items) == [f"synthetic-{i}"] and not end
    cli.release(SYN, ctx).ok(RELEASE + "Response")


def test_optimized_enumerate(cli):
    a = cli.enumerate(SYN, optimize=True, max_elements=10).ok(ENUMERATE + "Response")
    er = a.body.find("n:EnumerateResponse", NS)
    items = er.find("w:Items", NS)
    assert items is not None and syn_ids(items) == all_syn_ids()[:10], a.where()
    assert er.find("w:EndOfSequence", NS) is None
    ctx = enum_ctx(a)
    items, end = pull_items(cli.pull(SYN, ctx, 100).ok())
    assert syn_ids(items) == all_syn_ids()[10:] and end

    # everything in the EnumerateResponse (MaxElements above the count: the
    # server has looked past the last instance and knows the sequence ended)
    a = cli.enumerate(SYN, optimize=True, max_elements=SYN_COUNT + 1).ok(ENUMERATE + "Response")
    er = a.body.find("n:EnumerateResponse", NS)
    assert syn_ids(er.find("w:Items", NS)) == all_syn_ids()
    assert er.find("w:EndOfSequence", NS) is not None, a.where()
    # nothing left to pull, whatever the context says
    c = er.find("n:EnumerationContext", NS)
    if c is not None and (c.text or "").strip():
        cli.pull(SYN, c.text.strip(), 10).expect_fault(
            "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)

    # the helper loop, small batches
    items, answers = cli.enumerate_all(SYN, max_elements=3, pull_max=4)
    assert syn_ids(items) == all_syn_ids()
    assert len(answers) == 1 + -(-(SYN_COUNT - 3) // 4)


def test_end_of_sequence_carries_no_context(cli):
    """Once w:EndOfSequence / n:EndOfSequence is sent the context is gone, so
    no (non-empty) EnumerationContext may come with it: clients that pull
    while they hold a context (Dell wsl, openwsman-based tools) would pull a
    dead context and get a fault. openwsman sends an empty element there."""
    a = cli.enumerate(SYN, optimize=True, max_elements=SYN_COUNT + 1).ok()
    er = a.body.find("n:EnumerateResponse", NS)
    assert er.find("w:EndOfSequence", NS) is not None, a.where()
    c = er.find("n:EnumerationContext", NS)
    assert c is None or not (c.text or "").strip(), (
        f"EnumerateResponse with w:EndOfSequence hands out context {c.text!r}, "
        f"which is already dropped{a.where()}")
    ctx = enum_ctx(cli.enumerate(SYN).ok())
    a = cli.pull(SYN, ctx, SYN_COUNT + 1).ok()
    pr = a.body.find("n:PullResponse", NS)
    assert pr.find("n:EndOfSequence", NS) is not None
    c = pr.find("n:EnumerationContext", NS)
    assert c is None or not (c.text or "").strip(), (
        f"PullResponse with n:EndOfSequence hands out context {c.text!r}, "
        f"which is already dropped{a.where()}")


@pytest.mark.parametrize("body_max", ["0", "x", "", "1.5", "-1"])
def test_bad_max_elements(cli, body_max):
    """MaxElements is an xs:positiveInteger: anything else is w:InvalidOptions
    (for "-1" too, which strtoul would wrap to ULONG_MAX)."""
    cli.enumerate(SYN, optimize=True, max_elements=body_max).expect_fault(
        "w:InvalidOptions", CODE_INVALID_OPTIONS)
    ctx = enum_ctx(cli.enumerate(SYN).ok())
    cli.pull(SYN, ctx, body_max).expect_fault("w:InvalidOptions", CODE_INVALID_OPTIONS)
    # the context survives a refused Pull
    items, _ = pull_items(cli.pull(SYN, ctx, 2).ok())
    assert syn_ids(items) == all_syn_ids()[:2]
    cli.release(SYN, ctx).ok()


def test_release(cli):
    ctx = enum_ctx(cli.enumerate(SYN).ok())
    pull_items(cli.pull(SYN, ctx, 5).ok())
    a = cli.release(SYN, ctx).ok(RELEASE + "Response")
    assert len(a.body) == 0, f"ReleaseResponse has a body{a.where()}"
    cli.pull(SYN, ctx, 5).expect_fault("n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    cli.release(SYN, ctx).expect_fault("n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    cli.get_status(SYN, ctx).expect_fault(
        "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)


def test_get_status(cli):
    ctx = enum_ctx(cli.enumerate(WMI + "Win32_Process").ok())
    a = cli.get_status(WMI + "Win32_Process", ctx).ok(GETSTATUS + "Response")
    exp = a.body.find("n:GetStatusResponse/n:Expires", NS)
    assert exp is not None, a.where()
    m = re.fullmatch(r"PT(\d+)(\.\d+)?S", exp.text.strip())
    assert m, f"Expires is not an xs:duration in seconds: {exp.text!r}"
    secs = float(m.group(1) + (m.group(2) or ""))
    assert 0 < secs <= 240, secs
    # GetStatus does not consume anything
    items, _ = pull_items(cli.pull(WMI + "Win32_Process", ctx, 1).ok())
    assert instance_props(items[0])["Handle"] == "1"
    cli.release(WMI + "Win32_Process", ctx).ok()


def test_enumerate_epr(cli):
    items, _ = cli.enumerate_all(SYN, mode="EnumerateEPR", max_elements=20, pull_max=20)
    assert len(items) == SYN_COUNT
    ids = []
    for epr in items:
        assert epr.tag == q("a:EndpointReference"), epr.tag
        addr = epr.find("a:Address", NS)
        assert addr is not None and addr.text == (
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous")
        ruri, sels = epr_selectors(epr)
        assert ruri == SYN
        assert list(sels) == ["InstanceID"]
        ids.append(sels["InstanceID"])
    assert ids == all_syn_ids()

    items, _ = cli.enumerate_all(WMI + "Win32_Process", mode="EnumerateEPR", optimize=False)
    handles = []
    for epr in items:
        ruri, sels = epr_selectors(epr)
        assert ruri == WMI + "Win32_Process" and list(sels) == ["Handle"]
        handles.append(sels["Handle"])
    assert str(os.getpid()) in handles and "1" in handles


def test_enumerate_object_and_epr(cli):
    items, _ = cli.enumerate_all(SYN, mode="EnumerateObjectAndEPR", optimize=False,
                                 pull_max=13)
    assert len(items) == SYN_COUNT
    for n, item in enumerate(items):
        assert item.tag == q("w:Item")
        inst, epr = list(item)
        assert inst.tag == "{%s}WSMD_Synthetic" % SYN
        assert instance_props(inst)["InstanceID"] == f"synthetic-{n}"
        assert epr_selectors(epr) == (SYN, {"InstanceID": f"synthetic-{n}"})


@pytest.mark.parametrize("mode", ["EnumerateObject", "epr", "EnumerateEpr", ""])
def test_bad_enumeration_mode(cli, mode):
    cli.enumerate(SYN, mode=mode or " ").expect_fault("w:InvalidOptions", CODE_INVALID_OPTIONS)


def test_max_envelope_size_splits_items(cli):
    """With MaxEnvelopeSize 8192 every reply stays within 8192 bytes and the
    items come over several Pulls, none lost or repeated."""
    limit = 8192
    items, answers = cli.enumerate_all(SYN, max_elements=1000, pull_max=1000,
                                       max_envelope_size=limit)
    sizes = [len(a.reply.body) for a in answers]
    assert all(s <= limit for s in sizes), sizes
    assert len(answers) >= 3, f"50 synthetic items (~30 kB) in {len(answers)} replies: {sizes}"
    assert syn_ids(items) == all_syn_ids()

    # plain enumeration, Pull MaxElements 1000
    items, answers = cli.enumerate_all(SYN, optimize=False, pull_max=1000,
                                       max_envelope_size=limit)
    sizes = [len(a.reply.body) for a in answers]
    assert all(s <= limit for s in sizes), sizes
    assert syn_ids(items) == all_syn_ids()

    # Processes are the machine's own: one with a very long command line
    # (a CI driver, say) would not fit alone in 8192 bytes, so the limit is
    # raised above the largest instance seen with a roomy envelope.
    big, _ = cli.enumerate_all(WMI + "Win32_Process", max_elements=1000, pull_max=1000)
    largest = max(len(ET.tostring(i)) for i in big)
    limit = max(limit, 2 * largest + 4096)
    items, answers = cli.enumerate_all(WMI + "Win32_Process", max_elements=1000,
                                       pull_max=1000, max_envelope_size=limit)
    sizes = [len(a.reply.body) for a in answers]
    assert all(s <= limit for s in sizes), sizes
    if sum(len(ET.tostring(i)) for i in items) > 2 * limit:
        assert len(answers) >= 2, sizes
    handles = [instance_props(i)["Handle"] for i in items]
    assert len(handles) == len(set(handles)), "a process was sent twice"
    assert str(os.getpid()) in handles


def test_pull_max_characters(cli):
    ctx = enum_ctx(cli.enumerate(SYN).ok())
    a = cli.pull(SYN, ctx, SYN_COUNT, max_characters=1500).ok()
    items, end = pull_items(a)
    assert 1 <= len(items) < SYN_COUNT and not end
    m = re.search(rb"<n:Items>(.*)</n:Items>", a.reply.body, re.S)
    assert m and len(m.group(1)) <= 1500, len(m.group(1)) if m else a.where()
    rest, _ = pull_items(cli.pull(SYN, ctx, SYN_COUNT).ok())
    assert syn_ids(items + rest) == all_syn_ids()


@pytest.fixture
def long_cmdline_process():
    """A process whose Win32_Process instance is larger than 4 kB."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]
                         + ["x" * 60] * 80, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while b"time.sleep" not in open(f"/proc/{p.pid}/cmdline", "rb").read():
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.02)
    yield p
    p.kill()
    p.wait()


def test_special_characters_round_trip(cli):
    """Markup characters are escaped, control characters and invalid UTF-8
    replaced by "?", other text kept as is (Win32_Process.CommandLine and
    CIM_UnixProcess.Parameters of a child with such arguments)."""
    args = [b"<&>\"'", b"tab\there", b"ctl\x01x", "\u00fcn\u00ef \u4e2d".encode(), b"bad\xffbyte"]
    want = ["<&>\"'", "tab\there", "ctl?x", "\u00fcn\u00ef \u4e2d", "bad?byte"]
    p = subprocess.Popen([sys.executable.encode(), b"-c", b"import time; time.sleep(120)"] + args,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while b"time.sleep" not in open(f"/proc/{p.pid}/cmdline", "rb").read():
            assert time.monotonic() < deadline, "child did not start"
            time.sleep(0.02)
        _, inst = cli.get_instance(WMI + "Win32_Process", {"Handle": str(p.pid)})
        cmd = instance_props(inst)["CommandLine"]
        assert cmd.endswith(" ".join(want)), cmd
        items, _ = cli.enumerate_all(DMTF + "CIM_UnixProcess",
                                     filter_xml=selector_filter({"Handle": str(p.pid)}))
        assert len(items) == 1
        assert instance_props(items[0])["Parameters"][-len(want):] == want
    finally:
        p.kill()
        p.wait()


def test_item_larger_than_max_envelope_size(cli, long_cmdline_process):
    """An item that cannot fit alone: w:EncodingLimit, and the context stays
    usable."""
    pid = long_cmdline_process.pid
    uri = WMI + "Win32_Process"
    flt = wql_filter(f"SELECT * FROM Win32_Process WHERE ProcessId = {pid}")
    cli.enumerate(uri, True, 10, filter_xml=flt, max_envelope_size=4096).expect_fault(
        "w:EncodingLimit", CODE_ENCODING_LIMIT)
    ctx = enum_ctx(cli.enumerate(uri, filter_xml=flt).ok())
    cli.pull(uri, ctx, 10, max_envelope_size=4096).expect_fault(
        "w:EncodingLimit", CODE_ENCODING_LIMIT)
    a = cli.pull(uri, ctx, 10).ok(PULL + "Response")
    pull_items(a)


def test_invalid_enumeration_context(cli):
    for ctx in (f"uuid:{uuid.uuid4()}".upper(), "", "not-a-context"):
        cli.pull(SYN, ctx, 1).expect_fault(
            "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
        cli.release(SYN, ctx).expect_fault(
            "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
        cli.get_status(SYN, ctx).expect_fault(
            "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    # no EnumerationContext element at all
    cli.send(PULL, SYN, "<n:Pull><n:MaxElements>1</n:MaxElements></n:Pull>").expect_fault(
        "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)


def test_another_users_context(cli, bob):
    ctx = enum_ctx(cli.enumerate(SYN).ok())
    bob.pull(SYN, ctx, 5).expect_fault("n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    bob.get_status(SYN, ctx).expect_fault(
        "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    bob.release(SYN, ctx).expect_fault(
        "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    # untouched for its owner
    items, _ = pull_items(cli.pull(SYN, ctx, 5).ok())
    assert syn_ids(items) == all_syn_ids()[:5]
    cli.release(SYN, ctx).ok()


def test_expired_context(wsmd_factory, users_file, tmp_path):
    conf = tmp_path / "wsmd.conf"
    conf.write_text("EnumerationTimeoutms = 300\n")
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file),
                     "--synthetic", "20", "-c", str(conf))
    c = Client(d.port)
    live = enum_ctx(c.enumerate(SYN).ok())
    pull_items(c.pull(SYN, live, 2).ok())
    ctx2 = enum_ctx(c.enumerate(SYN).ok())
    time.sleep(1.0)
    c.pull(SYN, live, 2).expect_fault("n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    c.get_status(SYN, ctx2).expect_fault(
        "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    c.release(SYN, ctx2).expect_fault(
        "n:InvalidEnumerationContext", CODE_INVALID_ENUM_CONTEXT)
    # a fresh one works
    items, _ = c.enumerate_all(SYN, optimize=False, pull_max=50)
    assert len(items) == 20
    c.close()


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------

WQL_CASES = [
    ("Index = 7", lambda i: i == 7),
    ("Index <> 7", lambda i: i != 7),
    ("Index != 7", lambda i: i != 7),
    ("Index < 10", lambda i: i < 10),
    ("Index > 40", lambda i: i > 40),
    ("Index <= 10", lambda i: i <= 10),
    ("Index >= 45", lambda i: i >= 45),
    ("7 = Index", lambda i: i == 7),
    ("Value < -490", lambda i: i % 1000 - 500 < -490),
    ("Name = 'ITEM 12'", lambda i: i == 12),
    ("Name LIKE 'item 1%'", lambda i: str(i).startswith("1")),
    ("Name LIKE 'ITEM _'", lambda i: i < 10),
    ("Name LIKE '%[3-4]'", lambda i: i % 10 in (3, 4)),
    ("Name NOT LIKE '%0'", lambda i: i % 10 != 0),
    ("Flag = TRUE AND Index < 10", lambda i: i % 2 == 0 and i < 10),
    ("Index = 3 OR Index = 44", lambda i: i in (3, 44)),
    ("NOT Index < 45", lambda i: not i < 45),
    ("(Index < 5 OR Index > 45) AND NOT Flag = FALSE",
     lambda i: (i < 5 or i > 45) and i % 2 == 0),
    ("Note IS NULL", lambda i: True),
    ("Note IS NOT NULL", lambda i: False),
    ("Name IS NOT NULL AND Index < 3", lambda i: i < 3),
    ("Created >= '2023-11-14T22:13:40'", lambda i: i >= 20),
    ("Tags = 'beta'", lambda i: i % 3 == 2),
    ("InstanceID = 'synthetic-9'", lambda i: i == 9),
    ("index = 7 and flag = false", lambda i: i == 7),
    ("Index = 8 AND Flag = FALSE", lambda i: False),
]


@pytest.mark.parametrize("where,pred", WQL_CASES, ids=[c[0] for c in WQL_CASES])
def test_wql_where(cli, where, pred):
    items, _ = cli.enumerate_all(SYN, filter_xml=wql_filter(
        f"SELECT * FROM WSMD_Synthetic WHERE {where}"))
    assert syn_ids(items) == [f"synthetic-{i}" for i in range(SYN_COUNT) if pred(i)]


def test_wql_select_list(cli):
    items, _ = cli.enumerate_all(SYN, filter_xml=wql_filter(
        "SELECT Name, Index FROM WSMD_Synthetic WHERE Index < 5"))
    assert len(items) == 5
    for n, item in enumerate(items):
        p = instance_props(item)
        assert set(p) == {"InstanceID", "Name", "Index"}, p   # the key comes along
        assert p["Index"] == str(n) and p["Name"] == f"item {n}"

    # the WMI "all classes" URI: the class comes from the query
    items, _ = cli.enumerate_all(WMI_ALL, filter_xml=wql_filter(
        "select caption from win32_operatingsystem"))
    assert len(items) == 1
    assert items[0].tag == "{%s}Win32_OperatingSystem" % (WMI + "Win32_OperatingSystem")
    p = instance_props(items[0])
    assert set(p) == {"Name", "Caption"}, p
    assert p["Caption"] == (os_release("PRETTY_NAME") or "Linux")

    items, _ = cli.enumerate_all(WMI_ALL, filter_xml=wql_filter(
        "SELECT Handle FROM CIM_UnixProcess WHERE Handle = '1'"))
    assert len(items) == 1
    assert items[0].tag == "{%s}CIM_UnixProcess" % (WMI + "CIM_UnixProcess")


def test_wql_other_forms(cli):
    # the filter in the enumeration namespace, as WS-Enumeration spells it
    flt = (f'<n:Filter Dialect="{WQL}">SELECT * FROM WSMD_Synthetic WHERE Index &lt; 3'
           "</n:Filter>")
    items, _ = cli.enumerate_all(SYN, filter_xml=flt)
    assert syn_ids(items) == all_syn_ids()[:3]
    # with EnumerateEPR
    items, _ = cli.enumerate_all(SYN, mode="EnumerateEPR", filter_xml=wql_filter(
        "SELECT * FROM WSMD_Synthetic WHERE Index >= 48"))
    assert [epr_selectors(e)[1]["InstanceID"] for e in items] == ["synthetic-48", "synthetic-49"]
    # plain enumeration with a filter that matches nothing
    items, answers = cli.enumerate_all(SYN, optimize=False, filter_xml=wql_filter(
        "SELECT * FROM WSMD_Synthetic WHERE Index > 1000"))
    assert items == [] and len(answers) == 2


@pytest.mark.parametrize("query", [
    "SELECT FROM WSMD_Synthetic",
    "SELECT * FROM",
    "SELECT * WSMD_Synthetic",
    "SELECT * FROM WSMD_Synthetic WHERE",
    "SELECT * FROM WSMD_Synthetic WHERE Index = ",
    "SELECT * FROM WSMD_Synthetic WHERE Index = 'x'",
    "SELECT * FROM WSMD_Synthetic WHERE Name = 5",
    "SELECT * FROM WSMD_Synthetic WHERE Bogus = 1",
    "SELECT Bogus FROM WSMD_Synthetic",
    "SELECT * FROM WSMD_Synthetic WHERE (Index = 1",
    "SELECT * FROM WSMD_Synthetic WHERE Index = Value",
    "SELECT * FROM WSMD_Synthetic WHERE Name LIKE 'a' garbage",
    "SELECT * FROM NoSuchClass",
    "SELECT * FROM Win32_OperatingSystem",          # not the resource's class
    "DELETE FROM WSMD_Synthetic",
    "",
])
def test_wql_bad_query(cli, query):
    cli.enumerate(SYN, filter_xml=wql_filter(query)).expect_fault(
        "w:CannotProcessFilter", CODE_CANNOT_PROCESS_FILTER)


def test_wql_all_classes_uri_errors(cli):
    cli.enumerate(WMI_ALL, filter_xml=wql_filter("SELECT * FROM NoSuchClass")).expect_fault(
        "w:CannotProcessFilter", CODE_CANNOT_PROCESS_FILTER)
    # without a query the "*" URI names no class
    a = cli.enumerate(WMI_ALL)
    assert a.is_fault and a.subcode in ("a:DestinationUnreachable", "w:CannotProcessFilter"), (
        a.where())
    # Get on the "*" URI
    cli.get(WMI_ALL).expect_fault("a:DestinationUnreachable", CODE_DEST_UNREACHABLE)


@pytest.mark.parametrize("dialect", [
    CQL, "http://www.w3.org/TR/1999/REC-xpath-19991116", "urn:no-such-dialect",
])
def test_unknown_filter_dialect(cli, dialect):
    cli.enumerate(SYN, filter_xml=wql_filter("SELECT * FROM WSMD_Synthetic", dialect)
                  ).expect_fault("n:FilterDialectRequestedUnavailable", CODE_FILTER_DIALECT)


def test_selector_filter(cli):
    items, _ = cli.enumerate_all(SYN, filter_xml=selector_filter({"InstanceID": "synthetic-7"}))
    assert syn_ids(items) == ["synthetic-7"]
    items, _ = cli.enumerate_all(SYN, filter_xml=selector_filter({"InstanceID": "nothing"}))
    assert items == []
    items, _ = cli.enumerate_all(WMI + "Win32_Process", mode="EnumerateObjectAndEPR",
                                 filter_xml=selector_filter({"Handle": str(os.getpid())}))
    assert len(items) == 1
    assert instance_props(items[0][0])["ProcessId"] == str(os.getpid())
    items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem", filter_xml=selector_filter(
        {"CreationClassName": "CIM_OperatingSystem", "CSName": socket.gethostname()}))
    assert len(items) == 1
    items, _ = cli.enumerate_all(DMTF + "CIM_OperatingSystem", filter_xml=selector_filter(
        {"CreationClassName": "Win32_OperatingSystem"}))
    assert items == []
    cli.enumerate(SYN, filter_xml=selector_filter({"Bogus": "1"})).expect_fault(
        "w:InvalidSelectors", CODE_INVALID_SELECTORS)


# --------------------------------------------------------------------------
# Invoke: Win32_Process Create / Terminate / GetOwner
# --------------------------------------------------------------------------

PROC = WMI + "Win32_Process"


def _proc_state(pid):
    """'R', 'S', 'Z'... or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _proc_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def _wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _proc_state(pid) in (None, "Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _raw_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def _kill(pid, expect=b"sleep"):
    """SIGKILL pid if it is still the command we started (never a reused pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if expect not in f.read():
                return
        os.kill(pid, 9)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass


def _create(c, cmd, **extra):
    a, out = c.invoke_output(PROC, "Create", dict(CommandLine=cmd, **extra))
    out_el = a.body.find("{%s}Create_OUTPUT" % PROC)
    assert [local_name(e.tag) for e in out_el] == ["ProcessId", "ReturnValue"], a.where()
    return a, out


def test_process_create_getowner_terminate(shell_wsmd):
    d = shell_wsmd
    c1 = Client(d.port, d.user1, d.pw1)
    owner = d.user1 if IS_ROOT else pwd.getpwuid(os.geteuid()).pw_name
    a, out = _create(c1, "sleep 300")
    assert out["ReturnValue"] == "0", a.where()
    pid = int(out["ProcessId"])
    try:
        assert pid > 0 and _proc_state(pid) not in (None, "Z"), f"pid {pid} not running"
        if IS_ROOT:
            assert _proc_uid(pid) == pwd.getpwnam(d.user1).pw_uid
        # the pid is the command's (a simple command runs as "exec CMD"):
        # /bin/sh is that pid until it has exec'd sleep, so wait for that
        deadline = time.monotonic() + 10
        while _raw_cmdline(pid) != b"sleep\x00300\x00":
            assert time.monotonic() < deadline, f"pid {pid} never became sleep: {_raw_cmdline(pid)}"
            time.sleep(0.01)
        _, inst = c1.get_instance(PROC, {"Handle": str(pid)})
        p = instance_props(inst)
        assert p["ProcessId"] == str(pid) and p["CommandLine"] == "sleep 300", p
        assert p["Name"] == "sleep", p

        a, out = c1.invoke_output(PROC, "GetOwner", selectors={"Handle": str(pid)})
        assert out["ReturnValue"] == "0" and out["User"] == owner, a.where()
        assert out["Domain"], a.where()

        if IS_ROOT:
            # another account may not end it
            c2 = Client(d.port, d.user2, d.pw2)
            a, out = c2.invoke_output(PROC, "Terminate", selectors={"Handle": str(pid)})
            assert out["ReturnValue"] == "2", a.where()
            assert _proc_state(pid) not in (None, "Z"), "Terminate denied yet process gone"
            c2.close()

        a, out = c1.invoke_output(PROC, "Terminate", selectors={"Handle": str(pid)})
        assert out["ReturnValue"] == "0", a.where()
        assert a.action == PROC + "/TerminateResponse"
        assert _wait_gone(pid, 10 * SLOW), f"pid {pid} still running after Terminate"
        if _proc_state(pid) is None:
            c1.invoke(PROC, "Terminate", selectors={"Handle": str(pid)}).expect_fault(
                "a:DestinationUnreachable", CODE_NOT_FOUND)
    finally:
        _kill(pid)
        c1.close()


def test_process_create_return_values(shell_wsmd):
    d = shell_wsmd
    c = Client(d.port, d.user1, d.pw1)
    pids = []
    try:
        _, out = c.invoke_output(PROC, "Create", {"CommandLine": ""})
        assert out["ReturnValue"] == "21" and out.get("ProcessId") is None, out
        _, out = c.invoke_output(PROC, "Create", {"CommandLine": "true",
                                                  "CurrentDirectory": "relative/dir"})
        assert out["ReturnValue"] == "9", out
        _, out = c.invoke_output(PROC, "Create", {"CommandLine": "true",
                                                  "CurrentDirectory": "/no/such/dir"})
        assert out["ReturnValue"] == "9", out
        _, out = c.invoke_output(PROC, "Create", {"CommandLine": "/no/such/program"})
        assert out["ReturnValue"] in ("0", "9"), out   # exec'd: 9; run by sh: sh reports
        # CurrentDirectory is honoured
        _, out = c.invoke_output(PROC, "Create", {"CommandLine": "sleep 60",
                                                  "CurrentDirectory": "/tmp"})
        assert out["ReturnValue"] == "0", out
        pid = int(out["ProcessId"])
        pids.append(pid)
        assert os.readlink(f"/proc/{pid}/cwd") == "/tmp"
        _, out = c.invoke_output(PROC, "Terminate", selectors={"Handle": str(pid)})
        assert out["ReturnValue"] == "0"
    finally:
        for pid in pids:
            _kill(pid)
        c.close()


def test_invoke_errors(shell_wsmd):
    d = shell_wsmd
    c = Client(d.port, d.user1, d.pw1)
    # unknown method, or a class without methods
    c.invoke(PROC, "Explode").expect_fault("a:ActionNotSupported", CODE_ACTION_NOT_SUPPORTED)
    c.invoke(DMTF + "CIM_Process", "Create", {"CommandLine": "true"}).expect_fault(
        "a:ActionNotSupported", CODE_ACTION_NOT_SUPPORTED)
    c.invoke(WMI + "Win32_OperatingSystem", "Reboot").expect_fault(
        "a:ActionNotSupported", CODE_ACTION_NOT_SUPPORTED)
    # wrong input element, unknown parameter
    c.send(PROC + "/Create", PROC,
           f'<p:Terminate_INPUT xmlns:p="{PROC}"><p:Reason>1</p:Reason></p:Terminate_INPUT>'
           ).expect_fault("x:InvalidRepresentation", CODE_INVALID_REPRESENTATION)
    c.invoke(PROC, "Create", {"CommandLine": "true", "Bogus": "1"}).expect_fault(
        "x:InvalidRepresentation", CODE_INVALID_REPRESENTATION)
    # Terminate needs the instance
    c.invoke(PROC, "Terminate").expect_fault("w:InvalidSelectors", CODE_INVALID_SELECTORS)
    c.invoke(PROC, "Terminate", selectors={"Handle": "999999999"}).expect_fault(
        "a:DestinationUnreachable", CODE_NOT_FOUND)
    c.invoke(PROC, "GetOwner", selectors={"Bogus": "1"}).expect_fault(
        "w:InvalidSelectors", CODE_INVALID_SELECTORS)
    # the daemon itself is never terminated
    _, out = c.invoke_output(PROC, "Terminate", selectors={"Handle": str(d.pid)})
    assert out["ReturnValue"] == "2", out
    d.assert_alive()
    c.close()


@pytest.mark.skipif(not IS_ROOT, reason="only root acts as the caller's local account")
def test_invoke_without_local_account(cli):
    for name in (USER,):
        try:
            pwd.getpwnam(name)
            pytest.skip(f"{name} is a local account here")
        except KeyError:
            pass
    cli.invoke(PROC, "Create", {"CommandLine": "true"}).expect_fault("w:AccessDenied",
                                                                     CODE_ACCESS_DENIED)
    cli.invoke(PROC, "GetOwner", selectors={"Handle": "1"}).expect_fault(
        "w:AccessDenied", CODE_ACCESS_DENIED)


# --------------------------------------------------------------------------
# Addressing
# --------------------------------------------------------------------------

def test_relates_to_on_every_kind_of_reply(cli):
    """Answer checks a:RelatesTo == a:MessageID for every reply; this walks
    successes and faults of each operation with distinctive MessageIDs."""
    for mid in ("uuid:" + str(uuid.uuid4()), "urn:uuid:" + str(uuid.uuid4()),
                "uuid:AAAAAAAA-0000-0000-0000-000000000001"):
        cli.get(WMI + "Win32_OperatingSystem", message_id=mid).ok()
        cli.get(SYN, {"InstanceID": "nope"}, message_id=mid).expect_fault(
            "a:DestinationUnreachable")
        ctx = enum_ctx(cli.enumerate(SYN, message_id=mid).ok())
        cli.get_status(SYN, ctx, message_id=mid).ok()
        cli.pull(SYN, ctx, 1, message_id=mid).ok()
        cli.release(SYN, ctx, message_id=mid).ok()
        cli.pull(SYN, ctx, 1, message_id=mid).expect_fault("n:InvalidEnumerationContext")
        cli.enumerate(SYN, filter_xml=wql_filter("SELECT"), message_id=mid).expect_fault(
            "w:CannotProcessFilter")
        cli.put(SYN, "<x/>", {"InstanceID": "synthetic-1"}, message_id=mid).expect_fault(
            "x:InvalidRepresentation")
