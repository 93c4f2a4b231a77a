"""Dell `wsl` (curl + xmllint shell client) against wsmd's CIM classes.

`wsl enum` sends an optimized Enumerate (MaxElements 512 unless -opti N)
and then Pulls for as long as the last response carries a non-empty
EnumerationContext; `wsl get CLASS K=V...` sends a Get with those
selectors and succeeds when the response has an element named after the
last selector. Each exchange is kept as request-N.xml / response-N.xml in
the working directory and the last response is copied to response.xml.
"""

import os
import re
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from cim_helpers import (
    DMTF, NS, SELECTOR_DIALECT, WMI, WQL, Client, epr_selectors, instance_props,
)
from wsman_helpers import PASSWORD, SANITIZED, USER

pytestmark = pytest.mark.skipif(
    shutil.which("wsl") is None or not os.path.exists("/usr/bin/wslenum")
    or not os.path.exists("/usr/bin/wslget"),
    reason="Dell wsl not installed")

SYN = DMTF + "WSMD_Synthetic"


def _pretty_name():
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if os.path.exists(path):
            for line in open(path):
                k, _, v = line.strip().partition("=")
                if k == "PRETTY_NAME":
                    return v.strip().strip("\"'")
            break
    return "Linux"


class WslRun:
    def __init__(self, cp, work, daemon):
        self.cp = cp
        self.work = work
        self.daemon = daemon
        self.files = {p.name: p.read_text(errors="replace")
                      for p in sorted(work.iterdir()) if p.is_file()}
        n = 1
        self.responses = []
        while f"response-{n}.xml" in self.files:
            self.responses.append(self.files[f"response-{n}.xml"])
            n += 1

    def detail(self):
        shown = {k: v[:2500] for k, v in self.files.items()
                 if k.startswith(("request", "response", "log"))}
        text = "\n".join(f"--- {k}:\n{v}" for k, v in shown.items())
        return (f"\nwsl rc={self.cp.returncode}\nstdout (tail):\n{self.cp.stdout[-2000:]}\n"
                f"stderr:\n{self.cp.stderr[-2000:]}\nfiles:\n{text}\n"
                f"daemon log (tail):\n{self.daemon.log()[-3000:]}")

    def parsed(self, n):
        """ElementTree root of response-n.xml (1-based)."""
        try:
            return ET.fromstring(self.responses[n - 1].encode())
        except (ET.ParseError, IndexError) as e:
            raise AssertionError(f"response-{n}.xml unusable ({e}){self.detail()}")

    def faults(self):
        return [n for n in range(1, len(self.responses) + 1)
                if self.parsed(n).find("s:Body/s:Fault", NS) is not None]

    def items(self):
        """Every item of every Enumerate/Pull response, in order."""
        out = []
        for n in range(1, len(self.responses) + 1):
            body = self.parsed(n).find("s:Body", NS)
            for path in ("n:EnumerateResponse/w:Items", "n:PullResponse/n:Items"):
                el = body.find(path, NS)
                if el is not None:
                    out.extend(list(el))
        return out

    def assert_clean(self):
        """No fault in any response and wsl's exit status 0."""
        bad = self.faults()
        assert not bad, (f"response(s) {bad} are SOAP faults "
                         f"(first: {self._fault_summary(bad[0])}){self.detail()}")
        assert self.cp.returncode == 0, f"wsl failed{self.detail()}"

    def _fault_summary(self, n):
        root = self.parsed(n)
        sub = root.find("s:Body/s:Fault/s:Code/s:Subcode/s:Value", NS)
        wf = root.find("s:Body/s:Fault/s:Detail/f:WSManFault", NS)
        return (f"{sub.text if sub is not None else '?'} "
                f"code {wf.get('Code') if wf is not None else '?'}")


def run_wsl(daemon, tmp_path, *args, user=USER, password=PASSWORD):
    home = tmp_path / "home"
    work = tmp_path / ("work-" + str(len(list(tmp_path.glob("work-*")))))
    home.mkdir(exist_ok=True)
    work.mkdir()
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "WSENDPOINT": f"127.0.0.1:{daemon.port}",
        "WSUSER": user,
        "WSPASS": password,
        "WSNOSSL": "true",          # plain http://
        "IPINTERACTIVE": "0",       # never prompt
        "WSAUTOMATED": "1",
        "KEEPHISTORY": "0",         # do not write .wslrun with the password
        "OUTLEVEL": "1",
        "WGETTIMEOUTSECS": "30" if SANITIZED else "10",
        "no_proxy": "*",
    }
    cp = subprocess.run(["wsl", *args], cwd=work, env=env, stdin=subprocess.DEVNULL,
                        capture_output=True, text=True, timeout=120)
    daemon.assert_alive()
    return WslRun(cp, work, daemon)


# --------------------------------------------------------------------------
# enum
# --------------------------------------------------------------------------

def test_wsl_enum_cim_operating_system(cim_wsmd, tmp_path):
    r = run_wsl(cim_wsmd, tmp_path, "enum", "CIM_OperatingSystem")
    assert r.responses, f"no response file{r.detail()}"
    req = r.files["request-1.xml"]
    assert DMTF + "CIM_OperatingSystem" in req and "OptimizeEnumeration" in req, r.detail()
    items = r.items()
    assert len(items) == 1, f"{len(items)} instances{r.detail()}"
    assert items[0].tag == "{%s}CIM_OperatingSystem" % (DMTF + "CIM_OperatingSystem")
    p = instance_props(items[0])
    assert p["Caption"] == _pretty_name(), r.detail()
    assert p["CSName"] == socket.gethostname()
    assert "CIM_OperatingSystem" in r.cp.stdout
    # the whole enumeration fit in the first response: wsl must stop there
    first = r.parsed(1).find("s:Body/n:EnumerateResponse", NS)
    assert first.find("w:EndOfSequence", NS) is not None, r.detail()
    r.assert_clean()
    assert len(r.responses) == 1, f"wsl pulled after w:EndOfSequence{r.detail()}"
    assert "CIM_OperatingSystem" in r.files["response.xml"], r.detail()


def test_wsl_enum_full_uri_wmi_class(cim_wsmd, tmp_path):
    uri = WMI + "Win32_Process"
    r = run_wsl(cim_wsmd, tmp_path, "enum", uri)
    assert uri in r.files["request-1.xml"]
    items = r.items()
    handles = [instance_props(i).get("Handle") for i in items]
    assert "1" in handles, r.detail()
    assert all(i.tag == "{%s}Win32_Process" % uri for i in items)
    r.assert_clean()


def test_wsl_enum_host_classes_complete(cim_wsmd, tmp_path):
    """Win32_OperatingSystem and Win32_ComputerSystem through wsl: every
    Windows property, in WMI's order, the new facts with their values."""
    for cls, count in (("Win32_OperatingSystem", 66), ("Win32_ComputerSystem", 64)):
        uri = WMI + cls
        r = run_wsl(cim_wsmd, tmp_path, "enum", uri)
        r.assert_clean()
        items = r.items()
        assert len(items) == 1, r.detail()
        names = [c.tag.rsplit("}", 1)[1] for c in items[0]]
        assert len(names) == count and names == sorted(names, key=str.lower), names
        p = instance_props(items[0])
        if cls == "Win32_OperatingSystem":
            m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release)
            a, b, c = (int(x or 0) for x in m.groups())
            assert p["BuildNumber"] == str(a << 16 | b << 8 | min(c, 255))
            assert p["SystemDrive"] == "/"
        else:
            assert p["Workgroup"] and p["Name"] == socket.gethostname()


def test_wsl_enum_pulls(cim_wsmd, tmp_path):
    """-opti 7: seven instances per response, Pulls until the end."""
    r = run_wsl(cim_wsmd, tmp_path, "enum", SYN, "-opti", "7")
    ids = [instance_props(i)["InstanceID"] for i in r.items()]
    assert ids == [f"synthetic-{i}" for i in range(50)], f"{ids}{r.detail()}"
    assert "<wsen:Pull>" in r.files.get("request-2.xml", ""), r.detail()
    r.assert_clean()
    assert len(r.responses) == 8, r.detail()   # 7 + 7*6 + 1 instances


def test_wsl_enum_epr_then_get(cim_wsmd, tmp_path):
    """`wsl enum -mode epr`, then `wsl get` with the selectors it returned."""
    r = run_wsl(cim_wsmd, tmp_path, "enum", "CIM_OperatingSystem", "-mode", "epr")
    assert "EnumerateEPR" in r.files["request-1.xml"]
    eprs = r.items()
    assert len(eprs) == 1 and eprs[0].tag == "{%s}EndpointReference" % NS["a"], r.detail()
    ruri, sels = epr_selectors(eprs[0])
    assert ruri == DMTF + "CIM_OperatingSystem"
    assert set(sels) == {"CSCreationClassName", "CSName", "CreationClassName", "Name"}
    r.assert_clean()

    # wsl splits each K=V argument on "=" and echoes the value unquoted:
    # fine for these values (no runs of blanks, no glob characters)
    args = [f"{k}={v}" for k, v in sels.items() if k != "Name"] + [f"Name={sels['Name']}"]
    g = run_wsl(cim_wsmd, tmp_path, "get", "CIM_OperatingSystem", *args)
    g.assert_clean()
    root = g.parsed(1)
    inst = root.find("s:Body/{%s}CIM_OperatingSystem" % (DMTF + "CIM_OperatingSystem"), NS)
    assert inst is not None, g.detail()
    assert instance_props(inst)["Name"] == sels["Name"]
    assert "CIM_OperatingSystem" in g.files["response.xml"]


def test_wsl_enum_wql_filter(cim_wsmd, tmp_path):
    me = os.getpid()
    r = run_wsl(cim_wsmd, tmp_path, "enum", WMI + "Win32_Process", "-dialect", WQL,
                "-filter", f"SELECT * FROM Win32_Process WHERE ProcessId = {me}")
    items = r.items()
    assert len(items) == 1, r.detail()
    p = instance_props(items[0])
    assert p["ProcessId"] == str(me) and p["ParentProcessId"] == str(os.getppid())
    r.assert_clean()


def test_wsl_enum_selector_filter_and_namespace(cim_wsmd, tmp_path):
    r = run_wsl(cim_wsmd, tmp_path, "enum", SYN, "-dialect", SELECTOR_DIALECT,
                "-filter", "InstanceID=synthetic-7", "-ns", "root/cimv2")
    assert "__cimnamespace" in r.files["request-1.xml"]
    ids = [instance_props(i)["InstanceID"] for i in r.items()]
    assert ids == ["synthetic-7"], r.detail()
    r.assert_clean()


def test_wsl_enum_default_dialect_is_refused(cim_wsmd, tmp_path):
    """wsl's default dialect is CQL, which wsmd does not take."""
    r = run_wsl(cim_wsmd, tmp_path, "enum", "CIM_OperatingSystem",
                "-filter", "select * from CIM_OperatingSystem")
    assert r.faults() == [1], r.detail()
    root = r.parsed(1)
    sub = root.find("s:Body/s:Fault/s:Code/s:Subcode/s:Value", NS)
    assert sub is not None and sub.text.endswith(":FilterDialectRequestedUnavailable"), r.detail()
    assert r.cp.returncode != 0


# --------------------------------------------------------------------------
# get
# --------------------------------------------------------------------------

@pytest.mark.parametrize("uri,sel,check", [
    (WMI + "Win32_Process", lambda: f"Handle={os.getpid()}",
     lambda p: p["ProcessId"] == str(os.getpid())),
    (WMI + "Win32_LogicalDisk", lambda: "DeviceID=/",
     lambda p: p["Size"] == str(os.statvfs("/").f_blocks
                                * (os.statvfs("/").f_frsize or os.statvfs("/").f_bsize))),
    (SYN, lambda: "InstanceID=synthetic-3", lambda p: p["Name"] == "item 3"),
], ids=["Win32_Process", "Win32_LogicalDisk", "WSMD_Synthetic"])
def test_wsl_get(cim_wsmd, tmp_path, uri, sel, check):
    r = run_wsl(cim_wsmd, tmp_path, "get", uri, sel())
    cls = uri.rsplit("/", 1)[1]
    inst = r.parsed(1).find("s:Body/{%s}%s" % (uri, cls), NS)
    assert inst is not None, r.detail()
    assert check(instance_props(inst)), r.detail()
    r.assert_clean()


def test_wsl_get_key_with_blanks_and_punctuation(cim_wsmd, tmp_path):
    """Win32_OperatingSystem's key Name is "PRETTY_NAME|/|root device"."""
    uri = WMI + "Win32_OperatingSystem"
    c = Client(cim_wsmd.port)
    _, inst = c.get_instance(uri)
    c.close()
    name = instance_props(inst)["Name"]
    if "  " in name or re.search(r"[*?\[]", name):
        pytest.skip(f"wsl cannot pass {name!r} through its unquoted echo")
    r = run_wsl(cim_wsmd, tmp_path, "get", uri, "__cimnamespace=root/cimv2", f"Name={name}")
    got = r.parsed(1).find("s:Body/{%s}Win32_OperatingSystem" % uri, NS)
    assert got is not None, r.detail()
    p = instance_props(got)
    assert p["Name"] == name and p["Caption"] == _pretty_name(), r.detail()
    r.assert_clean()


def test_wsl_get_missing_instance(cim_wsmd, tmp_path):
    r = run_wsl(cim_wsmd, tmp_path, "get", WMI + "Win32_Process", "Handle=999999999")
    assert r.faults() == [1], r.detail()
    wf = r.parsed(1).find("s:Body/s:Fault/s:Detail/f:WSManFault", NS)
    assert wf is not None and wf.get("Code") == "2150858752", r.detail()
    assert r.cp.returncode != 0


def test_wsl_wrong_password(cim_wsmd, tmp_path):
    r = run_wsl(cim_wsmd, tmp_path, "get", WMI + "Win32_Process", "Handle=1",
                password="wrong-password")
    assert r.cp.returncode != 0
    assert not re.search(r"<p:Win32_Process\b", r.files.get("response.xml", "")), r.detail()
