"""The BMC-managed systems (ComputerSystem: power state, RequestStateChange)
and the FRU inventory (CIM_Chassis, CIM_Card, CIM_PhysicalPackage) through
wsmd (docs/internals/ipmi.md), against OpenIPMI's ipmi_sim, cross-checked
with ipmitool's chassis status and FreeIPMI's ipmi-fru on the same
simulator.

The shared simulator has no chassis control wired (power actions are
refused with CCh): these tests run a copy of it whose lan.conf names a
chassis_control program, a shell script keeping the power bit in a file,
so that a power action really changes what `ipmitool chassis status` reads.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from cim_helpers import Client, instance_props
from conftest import user_add
from test_ipmi import (DMTF, SIM_DIR, WMI_HW, Sim, enum_json, free_port_pair, hosts_file, need,
                       start_wsmd)
from test_ipmi import sims  # noqa: F401  (the fixture: the shared simulator as it is)
from test_winrm_tool import ok, winrm
from wsman_helpers import PASSWORD, USER

HW_NS = {"__cimnamespace": "root/hardware"}

CHASSIS_SCRIPT = """#!/bin/sh
# ipmi_sim's chassis_control program: "get power", "set power 1", "set reset 1"
D=$(dirname "$0")
echo "$@" >> "$D/chassis.log"
case "$1" in
get) printf 'power:%s\\n' "$(cat "$D/power" 2>/dev/null || echo 0)" ;;
set) shift; while [ $# -ge 2 ]; do [ "$1" = power ] && echo "$2" > "$D/power"; shift 2; done ;;
esac
"""


class PowerSim(Sim):
    """The shared simulator, from a copy whose lan.conf wires chassis control."""

    def __init__(self, port, state, simdir):
        self.simdir = simdir
        self.port = port
        self.state = state
        cp = subprocess.run([str(simdir / "start"), str(port), str(state)],
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, f"simulator did not start: {cp.stderr}"
        self.pid = int(cp.stdout.strip().splitlines()[-1])

    def ipmitool(self, *args):
        cp = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p",
                             str(self.port), "-U", "admin", "-P", "password", *args],
                            capture_output=True, text=True, timeout=60)
        assert cp.returncode == 0, cp.stderr
        return cp.stdout

    def power_on(self):
        return "System Power         : on" in self.ipmitool("chassis", "status")

    def actions(self):
        p = self.simdir / "chassis.log"
        return p.read_text().splitlines() if p.exists() else []


@pytest.fixture
def psims(tmp_path):
    need("ipmi_sim", "sdrcomp", "ipmitool")
    started = []

    def start():
        simdir = Path(tempfile.mkdtemp(prefix="simdir-", dir=tmp_path))
        for f in SIM_DIR.iterdir():
            if f.is_file():
                shutil.copy(f, simdir / f.name)
        script = simdir / "chassis.sh"
        script.write_text(CHASSIS_SCRIPT)
        script.chmod(0o755)
        lan = simdir / "lan.conf"
        text = lan.read_text()
        assert "  endlan\n" in text
        lan.write_text(text.replace("  endlan\n", f'  endlan\n  chassis_control "{script}"\n', 1))
        # The simulator runs as root here; the script and its folder must be
        # reachable by it whatever the umask.
        os.chmod(simdir, 0o755)
        s = PowerSim(free_port_pair(), Path(tempfile.mkdtemp(prefix="ipmisim-", dir=tmp_path)),
                     simdir)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def wait_for(cond, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def cs_json(d, uri, *extra):
    return [x[next(iter(x))] for x in enum_json(d, uri, *extra)]


def request_state(c, uri, name, state, cls, selectors_extra=None):
    sel = {"CreationClassName": cls, "Name": name, **(selectors_extra or {})}
    _, out = c.invoke_output(uri, "RequestStateChange", {"RequestedState": state},
                             selectors=sel)
    return int(out["ReturnValue"])


def test_computer_system_power_both_forms_and_ipmitool(psims, wsmd_factory, users_file, tmp_path):
    sim = psims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert not sim.power_on()
    # Windows' form: one system per BMC, off as ipmitool says.
    (cs,) = cs_json(d, WMI_HW + "ComputerSystem")
    assert (cs["Name"], cs["CreationClassName"]) == ("bmc1", "ComputerSystem")
    assert (cs["EnabledState"], cs["PowerState"], cs["HealthState"]) == (3, 8, 5), cs
    assert cs["OperationalStatus"] == [2] and cs["IPMI_PowerFault"] is False
    c = Client(d.port)
    # Power on through the WMI form: ipmitool reads it on.
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 2, "ComputerSystem") == 0
    assert sim.power_on()
    assert "set power 1" in sim.actions()
    # The DMTF form lives in root/hardware (root/cimv2's CIM_ComputerSystem
    # is the host): Get and Enumerate there, with the new state.
    _, inst = c.get_instance(DMTF + "CIM_ComputerSystem",
                             {"CreationClassName": "CIM_ComputerSystem", "Name": "bmc1", **HW_NS})
    p = instance_props(inst)
    assert (p["Name"], p["EnabledState"], p["PowerState"]) == ("bmc1", "2", "2"), p
    (cs,) = cs_json(d, DMTF + "CIM_ComputerSystem?__cimnamespace=root/hardware")
    assert (cs["CreationClassName"], cs["EnabledState"]) == ("CIM_ComputerSystem", 2)
    # root/cimv2's is still the host.
    host = cs_json(d, DMTF + "CIM_ComputerSystem")
    assert [h["Name"] for h in host] != ["bmc1"] and len(host) == 1
    # Reset (11) keeps it on; the BMC was asked.
    assert request_state(c, DMTF + "CIM_ComputerSystem", "bmc1", 11, "CIM_ComputerSystem",
                         HW_NS) == 0
    assert "set reset 1" in sim.actions() and sim.power_on()
    # Off (3), then Reboot (10: power cycle): off at once, on again after
    # the simulator's power-on delay.
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 3, "ComputerSystem") == 0
    assert not sim.power_on()
    (cs,) = cs_json(d, WMI_HW + "ComputerSystem")
    assert (cs["EnabledState"], cs["PowerState"]) == (3, 8)
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 2, "ComputerSystem") == 0
    n = len(sim.actions())
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 10, "ComputerSystem") == 0
    assert "set power 0" in sim.actions()[n:]
    wait_for(sim.power_on, "the power cycle to end on")
    # Our winrm, JSON.
    out = ok(winrm(d, "invoke", "RequestStateChange",
                   "wmi/root/hardware/ComputerSystem?CreationClassName=ComputerSystem+Name=bmc1",
                   "@{RequestedState=\"3\"}", "-format:json"))
    assert json.loads(out)["RequestStateChange_OUTPUT"]["ReturnValue"] == 0, out
    assert not sim.power_on()
    # States a chassis cannot be put in, and nonsense.
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 7, "ComputerSystem") == 4097
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", "x", "ComputerSystem") == 5
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 70000, "ComputerSystem") == 5
    log = d.log()
    assert "event=ipmi-power user=alice bmc=bmc1 requested_state=2 cc=00 rv=0" in log, log
    assert "event=ipmi-chassis-control bmc=bmc1 action=power-up cc=00" in log


def test_power_refused_by_bmc_and_unknown_bmc(sims, wsmd_factory, users_file, tmp_path):
    """The shared simulator has no chassis control: the BMC answers CCh,
    which is ReturnValue 1 (Not Supported), and the power is unchanged."""
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    c = Client(d.port)
    assert request_state(c, WMI_HW + "ComputerSystem", "bmc1", 2, "ComputerSystem") == 1
    (cs,) = cs_json(d, WMI_HW + "ComputerSystem")
    assert cs["EnabledState"] == 3
    c.invoke(WMI_HW + "ComputerSystem", "RequestStateChange", {"RequestedState": 2},
             selectors={"CreationClassName": "ComputerSystem", "Name": "nosuch"}
             ).expect_fault("a:DestinationUnreachable")
    c.get(WMI_HW + "ComputerSystem", {"CreationClassName": "ComputerSystem", "Name": "nosuch"}
          ).expect_fault("a:DestinationUnreachable")
    # The DMTF form asked in another namespace is not there.
    c.get(DMTF + "CIM_ComputerSystem", {"CreationClassName": "CIM_ComputerSystem",
                                        "Name": "bmc1", "__cimnamespace": "root/wmi"}
          ).expect_fault("a:DestinationUnreachable")


def test_power_needs_the_invoke_right(psims, wsmd_factory, tmp_path):
    sim = psims()
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    user_add(users, "carol", "carol-pw-1")
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"IpmiHosts = {hosts_file(tmp_path, {'bmc1': sim})}\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users", str(users),
                     "--allow", f"all @{USER}", "--allow", "read @carol", grant=False)
    carol = Client(d.port, user="carol", password="carol-pw-1")
    a = carol.invoke(WMI_HW + "ComputerSystem", "RequestStateChange", {"RequestedState": 2},
                     selectors={"CreationClassName": "ComputerSystem", "Name": "bmc1"})
    a.expect_fault("w:AccessDenied")
    assert not sim.power_on() and "set power 1" not in sim.actions()
    # Reading is hers.
    _, inst = carol.get_instance(WMI_HW + "ComputerSystem",
                                 {"CreationClassName": "ComputerSystem", "Name": "bmc1"})
    assert instance_props(inst)["EnabledState"] == "3"
    assert request_state(Client(d.port), WMI_HW + "ComputerSystem", "bmc1", 2,
                         "ComputerSystem") == 0
    assert sim.power_on()


def ipmi_fru(sim):
    cache = tempfile.mkdtemp(prefix="sdrcache-")
    try:
        cp = subprocess.run(["ipmi-fru", "-h", f"127.0.0.1:{sim.port}", "-D", "LAN_2_0", "-u",
                             "admin", "-p", "password", "-W", "opensesspriv",
                             f"--sdr-cache-directory={cache}"],
                            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert cp.returncode == 0, cp.stderr
    rows = {}
    for line in cp.stdout.splitlines():
        k, sep, v = line.strip().partition(": ")
        if sep:
            rows[k] = v.strip()
    return rows


def test_fru_classes_match_readme_and_ipmi_fru(sims, wsmd_factory, users_file, tmp_path):
    need("ipmi-fru")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    fru = ipmi_fru(sim)
    (ch,) = cs_json(d, DMTF + "CIM_Chassis")
    assert ch["Tag"] == "IPMI:bmc1:FRU0:Chassis" and ch["SystemName"] == "bmc1"
    assert (ch["PartNumber"], ch["SerialNumber"]) == ("CH-SIM-0001", "CHS-0000001")
    assert (ch["PartNumber"], ch["SerialNumber"]) == (fru["FRU Chassis Part Number"],
                                                      fru["FRU Chassis Serial Number"])
    assert fru["FRU Chassis Type"] == "Rack Mount Chassis" and ch["ChassisPackageType"] == 23
    assert (ch["Manufacturer"], ch["Model"]) == ("SimVendor", "SimServer 1000")
    (card,) = cs_json(d, DMTF + "CIM_Card")
    assert (card["Manufacturer"], card["Model"], card["SerialNumber"], card["PartNumber"]) == (
        "SimBoards Inc", "SIM-MB-1", "MB-0000001", "PN-MB-01")
    assert (card["Manufacturer"], card["Model"], card["SerialNumber"], card["PartNumber"]) == (
        fru["FRU Board Manufacturer"], fru["FRU Board Product Name"],
        fru["FRU Board Serial Number"], fru["FRU Board Part Number"])
    assert card["ManufactureDate"].startswith("2024-01-01T00:00:00"), card
    assert fru["FRU Board Manufacturing Date/Time"] == "01/01/24 - 00:00:00"
    assert card["HostingBoard"] is True
    (pkg,) = cs_json(d, DMTF + "CIM_PhysicalPackage")
    assert (pkg["Manufacturer"], pkg["Model"], pkg["PartNumber"], pkg["Version"],
            pkg["SerialNumber"], pkg["IPMI_AssetTag"]) == (
        "SimVendor", "SimServer 1000", "SS1000", "1.0", "SN-SIM-0001", "ASSET-42")
    assert (pkg["Manufacturer"], pkg["Model"], pkg["PartNumber"], pkg["Version"],
            pkg["SerialNumber"], pkg["IPMI_AssetTag"]) == (
        fru["FRU Product Manufacturer Name"], fru["FRU Product Name"],
        fru["FRU Product Part/Model Number"], fru["FRU Product Version"],
        fru["FRU Product Serial Number"], fru["FRU Product Asset Tag"])
    # Get by Tag, and a Tag of no BMC.
    c = Client(d.port)
    _, inst = c.get_instance(DMTF + "CIM_Card", {"CreationClassName": "CIM_Card",
                                                 "Tag": "IPMI:bmc1:FRU0:Board"})
    assert instance_props(inst)["SerialNumber"] == "MB-0000001"
    c.get(DMTF + "CIM_Card", {"CreationClassName": "CIM_Card", "Tag": "IPMI:bmc1:FRU0:Chassis"}
          ).expect_fault("a:DestinationUnreachable")
    c.get(DMTF + "CIM_Chassis", {"CreationClassName": "CIM_Chassis",
                                 "Tag": "IPMI:nosuch:FRU0:Chassis"}
          ).expect_fault("a:DestinationUnreachable")


RAW = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/wmi/Microsoft_IPMI"


def raw_request(c, netfn, cmd, data=(), name="bmc1", **kw):
    params = [("NetworkFunction", netfn), ("Command", cmd), ("Lun", 0),
              *(("RequestData", b) for b in data), ("RequestDataSize", len(data)),
              ("ResponderAddress", 32)]
    inner = "".join(f"<p:{k}>{v}</p:{k}>" for k, v in params)
    body = f'<p:RequestResponse_INPUT xmlns:p="{RAW}">{inner}</p:RequestResponse_INPUT>'
    return c.send(RAW + "/RequestResponse", RAW, body, selectors={"InstanceName": name}, **kw)


def test_raw_request_response_and_the_ipmi_right(sims, wsmd_factory, tmp_path):
    sim = sims()
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    user_add(users, "carol", "carol-pw-1")
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"IpmiHosts = {hosts_file(tmp_path, {'bmc1': sim})}\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users", str(users),
                     "--allow", f"all @{USER}", "--allow", "read,invoke @carol", grant=False)
    c = Client(d.port)
    # One instance per BMC, in root/wmi.
    (inst,) = cs_json(d, RAW)
    assert inst["InstanceName"] == "bmc1" and inst["BMCAddress"] == 32
    # Get Device ID (NetFn App 06h, command 01h), as ipmitool raw reads it.
    a = raw_request(c, 6, 1).ok(RAW + "/RequestResponseResponse")
    out = a.body.find("{%s}RequestResponse_OUTPUT" % RAW)
    got = [int(e.text) for e in out.findall("{%s}ResponseData" % RAW)]
    assert int(out.find("{%s}CompletionCode" % RAW).text) == 0
    assert int(out.find("{%s}ResponseDataSize" % RAW).text) == len(got)
    cp = subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p",
                         str(sim.port), "-U", "admin", "-P", "password", "raw", "0x06", "0x01"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    sim_bytes = [int(x, 16) for x in cp.stdout.split()]
    assert got == sim_bytes and got[:4] == [0x20, 0x01, 0x02, 0x15], (got, sim_bytes)
    # A command the BMC does not know: its completion code, no data.
    a = raw_request(c, 6, 0xEE).ok(RAW + "/RequestResponseResponse")
    out = a.body.find("{%s}RequestResponse_OUTPUT" % RAW)
    assert int(out.find("{%s}CompletionCode" % RAW).text) == 0xC1
    # Bad parameters, an unknown BMC.
    raw_request(c, 0x40, 1).expect_fault("x:InvalidRepresentation")
    raw_request(c, 6, 1, name="nosuch").expect_fault("a:DestinationUnreachable")
    # invoke is not enough: the ipmi right.
    carol = Client(d.port, user="carol", password="carol-pw-1")
    raw_request(carol, 6, 1).expect_fault("w:AccessDenied")
    assert "event=access-denied user=carol family=" in d.log() and "right=ipmi" in d.log()
    assert "event=ipmi-raw user=alice bmc=bmc1 netfn=06 cmd=01 cc=00" in d.log()


# ---- profiles and associations ----------------------------------------------

def test_registered_profiles(wsmd):
    """Fixed data: listed whether or not a BMC is configured."""
    for uri, cls in ((DMTF + "CIM_RegisteredProfile", "CIM_RegisteredProfile"),
                     (WMI_HW + "RegisteredProfile", "RegisteredProfile")):
        profs = {p["RegisteredName"]: p for p in cs_json(wsmd, uri)}
        assert set(profs) == {"Sensors", "Record Log", "Physical Asset", "Profile Registration"}
        assert profs["Sensors"]["InstanceID"] == "DMTF:DSP1009:Sensors"
        assert profs["Record Log"]["RegisteredVersion"] == "2.0.0"
        assert all(p["RegisteredOrganization"] == 2 for p in profs.values())


def test_associations_stay_on_their_bmc(sims, wsmd_factory, users_file, tmp_path):
    from test_cim_hostdata import DMTF_ALL, assoc_filter, local_name, ref_of
    s1, s2 = sims(), sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"a": s1, "b": s2}))
    c = Client(d.port)
    cs_uri = DMTF + "CIM_ComputerSystem"
    cs_sel = {"CreationClassName": "CIM_ComputerSystem", "Name": "b", **HW_NS}
    # The system's devices: b's sensors only (4 numeric, 1 discrete).
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", cs_uri, cs_sel, AssociationClassName="CIM_SystemDevice"))
    kinds = sorted(local_name(i.tag) for i in items)
    assert kinds == ["CIM_NumericSensor"] * 4 + ["CIM_Sensor"], kinds
    assert {instance_props(i)["SystemName"] for i in items} == {"b"}
    # Its log, through UseOfLog, and the log's records (LogManagesRecord).
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", cs_uri, cs_sel, AssociationClassName="CIM_UseOfLog"))
    assert [instance_props(i)["InstanceID"] for i in items] == ["IPMI:b:SEL"]
    log_uri, log_sel = DMTF + "CIM_RecordLog", {"InstanceID": "IPMI:a:SEL"}
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", log_uri, log_sel, ResultClassName="CIM_LogRecord"))
    assert sorted(instance_props(i)["RecordID"] for i in items) == ["1", "2", "3", "4"]
    assert {instance_props(i)["LogName"] for i in items} == {"IPMI:a:SEL"}
    # The association objects: a sensor's system, whose reference leads
    # back (its __cimnamespace names root/hardware).
    sensor_sel = {"SystemCreationClassName": "CIM_ComputerSystem", "SystemName": "a",
                  "CreationClassName": "CIM_NumericSensor", "DeviceID": "3.0.32"}
    objs, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", DMTF + "CIM_NumericSensor", sensor_sel,
        ResultClassName="CIM_SystemDevice"))
    assert [local_name(o.tag) for o in objs] == ["CIM_SystemDevice"]
    g_uri, g_sel = ref_of(objs[0][0])
    assert g_uri == cs_uri and g_sel == {"CreationClassName": "CIM_ComputerSystem", "Name": "a",
                                         **HW_NS}, g_sel
    _, inst = c.get_instance(g_uri, g_sel)
    assert instance_props(inst)["Name"] == "a"
    # AssociatedSensor: the chassis a's sensors watch.
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", DMTF + "CIM_NumericSensor", sensor_sel,
        AssociationClassName="CIM_AssociatedSensor"))
    assert [instance_props(i)["Tag"] for i in items] == ["IPMI:a:FRU0:Chassis"]
    # The host's system is not a BMC's: no sensor there.
    import socket
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", cs_uri, {"CreationClassName": "CIM_ComputerSystem",
                                        "Name": socket.gethostname()},
        ResultClassName="CIM_NumericSensor"))
    assert items == []


def test_libwsm_sensors_example(sims, wsmd_factory, users_file, tmp_path):
    """examples/sensors.c: one line per threshold sensor, scaled, with its
    state; a BMC argument scopes the enumeration to it."""
    from conftest import wsmd_bin
    exe = Path(wsmd_bin()).parent / "sensors"
    if not exe.exists():
        pytest.skip("examples not built")
    s1, s2 = sims(), sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"a": s1, "b": s2}))
    env = {**os.environ, "WSM_PASSWORD": PASSWORD}
    url = f"http://127.0.0.1:{d.port}"
    cp = subprocess.run([str(exe), url, USER, "b"], capture_output=True, text=True, env=env,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert len(lines) == 4 and all(line.split()[0] == "b" for line in lines), cp.stdout
    by_name = {line[13:29].strip(): line[29:].split() for line in lines}
    assert by_name["12V"] == ["12.0", "V", "Normal"], by_name
    assert by_name["Fan1"] == ["5400", "RPM", "Normal"]
    assert by_name["CPU Temp"] == ["75", "C", "Upper", "Non-Critical"]
    assert "4 sensor(s)" in cp.stderr
    cp = subprocess.run([str(exe), url, USER], capture_output=True, text=True, env=env,
                        timeout=60)
    assert cp.returncode == 0 and len(cp.stdout.splitlines()) == 8, cp.stdout
    cp = subprocess.run([str(exe), url, USER, "nosuch"], capture_output=True, text=True, env=env,
                        timeout=60)
    assert cp.returncode == 1 and "no BMC named" in cp.stderr, cp.stderr


# ---- the in-band BMC (/dev/ipmi0) ---------------------------------------------

def test_inband_device_absent_is_said_once_and_left_out(sims, wsmd_factory, users_file, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("WSMD_IPMI_DEVICE", str(tmp_path / "no-ipmi0"))
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    for _ in range(2):
        assert [cs["Name"] for cs in cs_json(d, WMI_HW + "ComputerSystem")] == ["bmc1"]
        assert len(enum_json(d, WMI_HW + "NumericSensor")) == 4
    log = d.log()
    assert log.count("event=ipmi-inband-absent") == 1, log
    assert f"device={tmp_path / 'no-ipmi0'} reason=\"no such device" in log
    Client(d.port).get(WMI_HW + "ComputerSystem", {"CreationClassName": "ComputerSystem",
                                                   "Name": "local"}
                       ).expect_fault("a:DestinationUnreachable")


def helper_uids(d):
    """The Uid: fields of the wsmd-ipmi the daemon (its monitor) started."""
    uids = []
    for st in Path("/proc").glob("[0-9]*/status"):
        try:
            f = dict(ln.split(":", 1) for ln in st.read_text().splitlines() if ":" in ln)
        except OSError:
            continue
        if f.get("Name", "").strip() == "wsmd-ipmi" and int(f["PPid"]) == d.pid:
            uids.append(f["Uid"].split())
    return uids


def test_inband_alone_without_ipmi_hosts(wsmd_factory, users_file, tmp_path, monkeypatch):
    """No IpmiHosts, a device: the local BMC alone, its helper (started as
    root to open it) on the network process's account."""
    if os.geteuid() != 0:
        pytest.skip("the local BMC needs wsmd to run as root")
    monkeypatch.setenv("WSMD_IPMI_DEVICE", "/dev/null")
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))
    assert cs_json(d, WMI_HW + "ComputerSystem") == []  # local fails: skipped
    assert "event=ipmi-inband device=/dev/null bmc=local" in d.log()
    assert "event=ipmi-bmc-skipped bmc=local" in d.log()
    uids = helper_uids(d)
    assert len(uids) == 1 and "0" not in uids[0], uids


def test_inband_device_that_is_no_bmc(sims, wsmd_factory, users_file, tmp_path, monkeypatch):
    """A character device that does not answer as a BMC (/dev/null): the
    helper opens it as root, then takes the network process's account
    itself; the local system fails on its own, the remote BMC answers."""
    if os.geteuid() != 0:
        pytest.skip("the local BMC needs wsmd to run as root")
    monkeypatch.setenv("WSMD_IPMI_DEVICE", "/dev/null")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert [cs["Name"] for cs in cs_json(d, WMI_HW + "ComputerSystem")] == ["bmc1"]
    log = d.log()
    assert "event=ipmi-inband device=/dev/null bmc=local" in log, log
    assert "event=ipmi-inband-error bmc=local device=/dev/null" in log, log
    assert "event=ipmi-bmc-skipped bmc=local" in log, log
    a = Client(d.port).get(WMI_HW + "ComputerSystem", {"CreationClassName": "ComputerSystem",
                                                       "Name": "local"})
    a.expect_fault("w:TimedOut")
    assert "/dev/null could not be opened" in a.reply.text, a.reply.text
    # The helper (the monitor's child) left root once the device was open.
    uids = helper_uids(d)
    assert len(uids) == 1 and "0" not in uids[0], uids
