"""IPMI sensors through wsmd (docs/internals/ipmi.md), against OpenIPMI's
ipmi_sim (../shared/ipmi-sim, or $IPMI_SIM_DIR): a real wsmd with
IpmiHosts naming one or two simulators, our winrm (-format:json), raw SOAP
shaped like pywinrm's, and pywinrm's own transport; every value checked
against the simulator's README and against FreeIPMI's ipmi-sensors run on
the same simulator in the same test.
"""
import calendar
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cim_helpers import NS, Client, instance_props, wql_filter, SELECTOR_DIALECT, ENUMERATE
from wsman_helpers import PASSWORD, USER
from test_winrm_tool import winrm, ok

REPO_ROOT = Path(__file__).resolve().parents[2]
SIM_DIR = Path(os.environ.get("IPMI_SIM_DIR") or REPO_ROOT.parent / "shared" / "ipmi-sim")
WMI_HW = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/"
DMTF = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"

# The simulator's README: threshold sensors (NumericSensor).
EXPECTED = {
    "Inlet Temp": dict(DeviceID="1.0.32", CurrentReading=25, UnitModifier=0, BaseUnits=2,
                       SensorType=2, thr=dict(UpperThresholdNonCritical=40,
                                              UpperThresholdCritical=45,
                                              UpperThresholdFatal=50),
                       supported=[1, 3, 5], state="Normal", health=5, opstatus=2),
    "CPU Temp": dict(DeviceID="2.0.32", CurrentReading=75, UnitModifier=0, BaseUnits=2,
                     SensorType=2, thr=dict(UpperThresholdNonCritical=70,
                                            UpperThresholdCritical=85,
                                            UpperThresholdFatal=95),
                     supported=[1, 3, 5], state="Upper Non-Critical", health=10, opstatus=3),
    "Fan1": dict(DeviceID="3.0.32", CurrentReading=5400, UnitModifier=0, BaseUnits=19,
                 SensorType=5, thr=dict(LowerThresholdNonCritical=1000,
                                        LowerThresholdCritical=500, LowerThresholdFatal=250),
                 supported=[0, 2, 4], state="Normal", health=5, opstatus=2),
    "12V": dict(DeviceID="4.0.32", CurrentReading=120, UnitModifier=-1, BaseUnits=5,
                SensorType=3, thr=dict(LowerThresholdNonCritical=114, LowerThresholdCritical=108,
                                       LowerThresholdFatal=100, UpperThresholdNonCritical=126,
                                       UpperThresholdCritical=132, UpperThresholdFatal=140),
                supported=[0, 1, 2, 3, 4, 5], state="Normal", health=5, opstatus=2),
}
THRESHOLD_PROPS = ["LowerThresholdNonCritical", "LowerThresholdCritical", "LowerThresholdFatal",
                   "UpperThresholdNonCritical", "UpperThresholdCritical", "UpperThresholdFatal"]


def need(*tools):
    for t in tools:
        if not shutil.which(t):
            pytest.skip(f"{t} not installed (tests/deps installs openipmi, freeipmi-tools, "
                        f"ipmitool)")
    if not (SIM_DIR / "start").exists():
        pytest.skip(f"no simulator at {SIM_DIR}")


def free_port_pair():
    """A UDP port P and TCP port P+1 (the simulator's console) both free."""
    for _ in range(200):
        p = random.randrange(20000, 60000, 2)
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", p))
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.bind(("127.0.0.1", p + 1))
        except OSError:
            continue
        finally:
            u.close()
            try:
                t.close()
            except UnboundLocalError:
                pass
        return p
    pytest.fail("no free port pair")


class Sim:
    def __init__(self, port, state):
        self.port = port
        self.state = state
        cp = subprocess.run([str(SIM_DIR / "start"), str(port), str(state)],
                            capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, f"simulator did not start: {cp.stderr}"
        self.pid = int(cp.stdout.strip().splitlines()[-1])

    def stop(self):
        # SIGKILL, not ../stop's SIGTERM: ipmi_sim takes ~1.9 s to leave on
        # SIGTERM, and its fresh state directory is thrown away anyway.
        if self.pid:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            deadline = time.time() + 10
            while os.path.exists(f"/proc/{self.pid}") and time.time() < deadline:
                try:
                    with open(f"/proc/{self.pid}/stat") as f:
                        if f.read().split(") ")[-1].startswith("Z"):
                            break  # a zombie: its port is free already
                except OSError:
                    break
                time.sleep(0.01)
            shutil.rmtree(self.state, ignore_errors=True)
            self.pid = None

    def console(self, line):
        """One command on the emulation console (ipmi_sim_cmd(5)); returns
        once the console prompts again, so the change is made."""
        with socket.create_connection(("127.0.0.1", self.port + 1), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            got = b""
            deadline = time.time() + 5
            while got.count(b"> ") < 2 and time.time() < deadline:
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    break
                if not chunk:
                    break
                got += chunk


@pytest.fixture
def sims(tmp_path):
    need("ipmi_sim", "sdrcomp", "ipmitool")
    started = []

    def start():
        s = Sim(free_port_pair(), Path(tempfile.mkdtemp(prefix="ipmisim-", dir=tmp_path)))
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def hosts_file(tmp_path, sims_by_name, mode=0o600, extra=""):
    p = tmp_path / "ipmi-hosts"
    lines = ["# name host:port user password options"]
    for name, s in sims_by_name.items():
        lines.append(f"{name} 127.0.0.1:{s.port} admin password cipher=3 "
                     f"workaround=opensesspriv timeout=1000{extra}")
    p.write_text("\n".join(lines) + "\n")
    os.chmod(p, mode)
    return p


def start_wsmd(wsmd_factory, users_file, tmp_path, hosts):
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"IpmiHosts = {hosts}\n")
    return wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0",
                        "--users", str(users_file))


def ipmi_sensors(sim):
    """{name: row} from FreeIPMI's ipmi-sensors on the simulator."""
    cache = tempfile.mkdtemp(prefix="sdrcache-")
    try:
        cp = subprocess.run(
            ["ipmi-sensors", "-h", f"127.0.0.1:{sim.port}", "-D", "LAN_2_0", "-u", "admin", "-p",
             "password", "-W", "opensesspriv", f"--sdr-cache-directory={cache}",
             "--output-sensor-thresholds", "--comma-separated-output", "--no-header-output",
             "--quiet-cache"], capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert cp.returncode == 0, cp.stderr
    rows = {}
    for line in cp.stdout.splitlines():
        f = line.split(",")
        # ID,Name,Type,Reading,Units,LNR,LC,LNC,UNC,UC,UNR,Event
        rows[f[1]] = dict(type=f[2], reading=f[3], lnr=f[5], lc=f[6], lnc=f[7], unc=f[8],
                          uc=f[9], unr=f[10], event=f[11])
    return rows


def num(v):
    return None if v in (None, "N/A") else float(v)


def enum_json(d, uri, *extra):
    doc = json.loads(ok(winrm(d, "enumerate", uri, "-format:json", *extra)))
    assert isinstance(doc, list)
    return doc


def check_numeric(inst, cls, system):
    """One NumericSensor (dict of typed JSON values) against EXPECTED."""
    name = inst["ElementName"]
    exp = EXPECTED[name]
    assert inst["SystemName"] == system
    assert inst["CreationClassName"] == cls
    assert inst["DeviceID"] == exp["DeviceID"]
    for k in ("CurrentReading", "UnitModifier", "BaseUnits", "SensorType"):
        assert inst[k] == exp[k], (name, k, inst[k])
    for k in THRESHOLD_PROPS:
        assert inst[k] == exp["thr"].get(k), (name, k, inst[k])
    assert sorted(inst["SupportedThresholds"]) == exp["supported"], (name, inst)
    assert inst["CurrentState"] == exp["state"]
    assert inst["HealthState"] == exp["health"]
    assert inst["OperationalStatus"] == [exp["opstatus"]]
    assert inst["RateUnits"] == 0 and inst["IsLinear"] is True


def check_against_freeipmi(inst, row):
    scale = 10.0 ** inst["UnitModifier"]
    assert abs(inst["CurrentReading"] * scale - float(row["reading"])) < 1e-6, (inst, row)
    pairs = dict(LowerThresholdFatal="lnr", LowerThresholdCritical="lc",
                 LowerThresholdNonCritical="lnc", UpperThresholdNonCritical="unc",
                 UpperThresholdCritical="uc", UpperThresholdFatal="unr")
    for prop, col in pairs.items():
        want = num(row[col])
        got = inst[prop]
        if want is None:
            assert got is None, (prop, inst, row)
        else:
            assert abs(got * scale - want) < 1e-6, (prop, inst, row)


# ---- the tests ----------------------------------------------------------------


def test_numeric_sensors_both_uris_match_readme_and_freeipmi(sims, wsmd_factory, users_file,
                                                             tmp_path):
    need("ipmi-sensors")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    rows = ipmi_sensors(sim)
    for uri, cls in ((WMI_HW + "NumericSensor", "NumericSensor"),
                     (DMTF + "CIM_NumericSensor", "CIM_NumericSensor")):
        doc = enum_json(d, uri)
        insts = [x[cls] for x in doc]
        assert sorted(i["ElementName"] for i in insts) == sorted(EXPECTED), doc
        for inst in insts:
            check_numeric(inst, cls, "bmc1")
            check_against_freeipmi(inst, rows[inst["ElementName"]])
            assert inst["SystemCreationClassName"] == (
                "ComputerSystem" if cls == "NumericSensor" else "CIM_ComputerSystem")
    # The winrm alias of root/hardware gives the same.
    doc = enum_json(d, "wmi/root/hardware/NumericSensor")
    assert len(doc) == len(EXPECTED)
    # FreeIPMI's states agree with ours where they say the same thing.
    assert rows["CPU Temp"]["event"].strip("'").startswith("At or Above (>=) Upper Non-Critical")
    assert rows["Inlet Temp"]["event"] == "'OK'"


def test_discrete_sensor(sims, wsmd_factory, users_file, tmp_path):
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    for uri, cls in ((WMI_HW + "Sensor", "Sensor"), (DMTF + "CIM_Sensor", "CIM_Sensor")):
        doc = enum_json(d, uri)
        assert len(doc) == 1, doc
        s = doc[0][cls]
        assert s["ElementName"] == "PS1 Status" and s["DeviceID"] == "5.0.32"
        assert s["SensorType"] == 1 and s["OtherSensorTypeDescription"] == "Power Supply"
        assert s["CurrentState"] == "Presence detected"
        assert s["PossibleStates"][0] == "Presence detected"
        assert s["HealthState"] == 5 and s["OperationalStatus"] == [2]
        assert s["IPMI_State"] == 1 and s["IPMI_EventReadingType"] == 0x6F


def test_raw_soap_and_pywinrm_transport(sims, wsmd_factory, users_file, tmp_path):
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    c = Client(d.port)
    items, _ = c.enumerate_all(WMI_HW + "NumericSensor", optimize=True, max_elements=2)
    got = {}
    for it in items:
        assert it.tag == "{%sNumericSensor}NumericSensor" % WMI_HW
        p = instance_props(it)
        got[p["ElementName"]] = p
    assert set(got) == set(EXPECTED)
    assert got["12V"]["CurrentReading"] == "120" and got["12V"]["UnitModifier"] == "-1"
    assert got["Inlet Temp"]["LowerThresholdCritical"] is None  # xsi:nil
    assert got["Fan1"]["SupportedThresholds"] == ["0", "2", "4"]
    # Get by the keys (Windows' DeviceID form), and WQL.
    _, inst = c.get_instance(WMI_HW + "NumericSensor", {
        "SystemCreationClassName": "ComputerSystem", "SystemName": "bmc1",
        "CreationClassName": "NumericSensor", "DeviceID": "4.0.32"})
    assert instance_props(inst)["ElementName"] == "12V"
    items, _ = c.enumerate_all(DMTF + "CIM_NumericSensor", filter_xml=wql_filter(
        "select * from CIM_NumericSensor where HealthState = 10"))
    assert [instance_props(i)["ElementName"] for i in items] == ["CPU Temp"]
    # pywinrm's transport (its headers, its HTTP) carrying an Enumerate.
    from winrm.transport import Transport
    t = Transport(d.url, username=USER, password=PASSWORD, auth_method="basic",
                  message_encryption="never", read_timeout_sec=30)
    body = f"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
 xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><s:Header>
<a:To>{d.url}</a:To><w:ResourceURI s:mustUnderstand="true">{WMI_HW}NumericSensor</w:ResourceURI>
<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<a:Action s:mustUnderstand="true">{ENUMERATE}</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>
<a:MessageID>uuid:0d9bbd6c-0000-4000-8000-000000000001</a:MessageID><w:OperationTimeout>PT60S</w:OperationTimeout>
</s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32</w:MaxElements></n:Enumerate></s:Body></s:Envelope>"""
    text = t.send_message(body).decode()
    root = ET.fromstring(text)
    names = [e.text for e in root.iter("{%sNumericSensor}ElementName" % WMI_HW)]
    assert sorted(names) == sorted(EXPECTED)


def test_console_change_shows_new_reading_and_state(sims, wsmd_factory, users_file, tmp_path):
    need("ipmi-sensors")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    fan = [x["NumericSensor"] for x in enum_json(d, WMI_HW + "NumericSensor")
           if x["NumericSensor"]["ElementName"] == "Fan1"][0]
    assert fan["CurrentReading"] == 5400 and fan["HealthState"] == 5
    sim.console("sensor_set_value 0x20 0 3 8 1")  # Fan1 -> 400 RPM: below LC 500
    fan = [x["NumericSensor"] for x in enum_json(d, WMI_HW + "NumericSensor")
           if x["NumericSensor"]["ElementName"] == "Fan1"][0]
    assert fan["CurrentReading"] == 400, fan
    assert fan["CurrentState"] == "Lower Critical" and fan["HealthState"] == 25
    assert fan["OperationalStatus"] == [6]
    assert float(ipmi_sensors(sim)["Fan1"]["reading"]) == 400.0
    # The SDR came from the cache: one session, read once.
    assert d.log().count("event=ipmi-session-open bmc=bmc1") == 1, d.log()


def test_two_bmcs_one_killed(sims, wsmd_factory, users_file, tmp_path):
    a, b = sims(), sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"a": a, "b": b}))
    doc = enum_json(d, WMI_HW + "NumericSensor")
    assert sorted((x["NumericSensor"]["SystemName"], x["NumericSensor"]["ElementName"])
                  for x in doc) == sorted([(s, n) for s in "ab" for n in EXPECTED])
    a.stop()
    c = Client(d.port)
    # Scoped to b (a selector on the Enumerate): answers, and quickly.
    t0 = time.monotonic()
    items, _ = c.enumerate_all(WMI_HW + "NumericSensor", selectors={"SystemName": "b"})
    assert len(items) == len(EXPECTED)
    assert {instance_props(i)["SystemName"] for i in items} == {"b"}
    assert time.monotonic() - t0 < 1.0
    # winrm's ?k=v form scopes the same way.
    doc = enum_json(d, WMI_HW + "NumericSensor?SystemName=b")
    assert len(doc) == len(EXPECTED)
    # Scoped to a: its own fault, saying which BMC and why.
    ans = c.enumerate(WMI_HW + "NumericSensor", selectors={"SystemName": "a"})
    ans.expect_fault("w:TimedOut")
    assert "The BMC a does not answer" in ans.text, ans.text
    # Get of one of a's sensors: the same.
    ans = c.get(WMI_HW + "NumericSensor", {
        "SystemCreationClassName": "ComputerSystem", "SystemName": "a",
        "CreationClassName": "NumericSensor", "DeviceID": "1.0.32"})
    assert ans.is_fault and "The BMC a does not answer" in ans.text
    # Unscoped: b's sensors; a's absence is in the log.
    doc = enum_json(d, WMI_HW + "NumericSensor")
    assert {x["NumericSensor"]["SystemName"] for x in doc} == {"b"}
    assert "event=ipmi-bmc-skipped bmc=a" in d.log()


def test_unknown_bmc(sims, wsmd_factory, users_file, tmp_path):
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    c = Client(d.port)
    ans = c.get(WMI_HW + "NumericSensor", {
        "SystemCreationClassName": "ComputerSystem", "SystemName": "nosuch",
        "CreationClassName": "NumericSensor", "DeviceID": "1.0.32"})
    ans.expect_fault("a:DestinationUnreachable")
    assert "no BMC named &apos;nosuch&apos; is configured" in ans.text, ans.text
    ans = c.enumerate(WMI_HW + "NumericSensor", selectors={"SystemName": "nosuch"})
    ans.expect_fault("a:DestinationUnreachable")
    # A sensor the BMC has not.
    ans = c.get(WMI_HW + "NumericSensor", {
        "SystemCreationClassName": "ComputerSystem", "SystemName": "bmc1",
        "CreationClassName": "NumericSensor", "DeviceID": "99.0.32"})
    ans.expect_fault("a:DestinationUnreachable")
    # root/hardware classes are not in root/cimv2, and the reverse.
    c.enumerate("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/NumericSensor"
                ).expect_fault("a:DestinationUnreachable")
    c.enumerate(WMI_HW + "Win32_OperatingSystem").expect_fault("a:DestinationUnreachable")
    # __cimnamespace must name root/hardware.
    c.enumerate(WMI_HW + "NumericSensor", selectors={"__cimnamespace": "root/cimv2"}
                ).expect_fault("a:DestinationUnreachable")
    items, _ = c.enumerate_all(WMI_HW + "NumericSensor",
                               selectors={"__cimnamespace": "root/hardware"})
    assert len(items) == len(EXPECTED)


def test_helper_killed_is_restarted(sims, wsmd_factory, users_file, tmp_path):
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert len(enum_json(d, WMI_HW + "NumericSensor")) == len(EXPECTED)
    pids = subprocess.run(["pgrep", "-P", str(d.pid), "-x", "wsmd-ipmi"], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1, (pids, d.log())
    # SIGKILL leaves its SDR cache directory behind (nothing can remove it
    # then): it is the one directory the new helper does not hold.
    tmpdir = Path(os.environ.get("TMPDIR") or "/tmp")
    t_kill = time.time()
    os.kill(int(pids[0]), 9)
    # The death is seen; the next request starts a new helper and answers.
    deadline = time.time() + 10
    while "event=ipmi-helper-lost" not in d.log() and time.time() < deadline:
        time.sleep(0.05)
    assert len(enum_json(d, WMI_HW + "NumericSensor")) == len(EXPECTED)
    assert d.log().count("event=ipmi-helper-started") == 2, d.log()
    new = subprocess.run(["pgrep", "-P", str(d.pid), "-x", "wsmd-ipmi"], capture_output=True,
                         text=True).stdout.split()
    held = set()
    for p in new:
        try:
            held |= {os.path.dirname(os.readlink(f"/proc/{p}/fd/{fd}"))
                     for fd in os.listdir(f"/proc/{p}/fd")}
        except OSError:
            pass
        held |= {ln.split()[-1].rsplit("/", 1)[0] for ln in open(f"/proc/{p}/maps")
                 if "wsmd-ipmi." in ln}
    for leftover in tmpdir.glob("wsmd-ipmi.*"):
        if str(leftover) not in held and leftover.stat().st_mtime >= t_kill - 60:
            shutil.rmtree(leftover, ignore_errors=True)


def test_hung_helper_times_out_and_is_replaced(sims, wsmd_factory, users_file, tmp_path,
                                               monkeypatch):
    monkeypatch.setenv("WSMD_IPMI_TIMEOUT_MS", "1500")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert len(enum_json(d, WMI_HW + "NumericSensor")) == len(EXPECTED)
    pids = subprocess.run(["pgrep", "-P", str(d.pid), "-x", "wsmd-ipmi"], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1, (pids, d.log())
    os.kill(int(pids[0]), 19)  # SIGSTOP: it takes requests into its socket, answers none
    c = Client(d.port)
    t0 = time.monotonic()
    ans = c.enumerate(WMI_HW + "NumericSensor")
    ans.expect_fault("w:TimedOut")
    assert "did not answer within 1500 ms" in ans.text, ans.text
    assert 1.4 < time.monotonic() - t0 < 10
    assert "event=ipmi-helper-hung" in d.log()
    # The next request has a new helper; the stopped one is gone.
    assert len(enum_json(d, WMI_HW + "NumericSensor")) == len(EXPECTED)
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{pids[0]}") and time.time() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pids[0]}")


def test_hosts_file_readable_by_others_is_refused(sims, tmp_path, users_file):
    sim = sims()
    hosts = hosts_file(tmp_path, {"bmc1": sim}, mode=0o644)
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"IpmiHosts = {hosts}\n")
    from conftest import wsmd_bin
    cp = subprocess.run([wsmd_bin(), "-c", str(conf), "--listen", "http://127.0.0.1:0",
                         "--users", str(users_file)], capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0
    assert f"IpmiHosts {hosts}" in cp.stderr and "chmod 600" in cp.stderr, cp.stderr
    assert "password" not in cp.stderr.replace("passwords", "")
    # A bad line names its number; a relative path is refused as a value.
    hosts.write_text("bmc1 127.0.0.1:1 admin password cipher=3\nbmc2 127.0.0.1:2 admin\n")
    os.chmod(hosts, 0o600)
    cp = subprocess.run([wsmd_bin(), "-c", str(conf), "--listen", "http://127.0.0.1:0",
                         "--users", str(users_file)], capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0 and "line 2:" in cp.stderr, cp.stderr
    conf.write_text("IpmiHosts = relative/hosts\n")
    cp = subprocess.run([wsmd_bin(), "-c", str(conf), "--listen", "http://127.0.0.1:0",
                         "--users", str(users_file)], capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0 and "IpmiHosts" in cp.stderr, cp.stderr


def test_no_ipmi_hosts_is_empty(wsmd):
    c = Client(wsmd.port)
    items, _ = c.enumerate_all(WMI_HW + "NumericSensor")
    assert items == []


# ---- the SEL -----------------------------------------------------------------

# The README's SEL: id, time_t, sensor, raw bytes 7..15 (generator, EvM rev,
# sensor type, number, dir|type, data 1-3).
SEL = [
    (1, 1709280000, "CPU Temp", "20 00", 0x04, 0x01, 2, True, 0x01, (0x57, 0x4B, 0x46)),
    (2, 1709280300, "Fan1", "20 00", 0x04, 0x04, 3, True, 0x01, (0x52, 0x08, 0x0A)),
    (3, 1709280360, "Fan1", "20 00", 0x04, 0x04, 3, False, 0x01, (0x52, 0x6C, 0x0A)),
    (4, 1709283600, "PS1 Status", "20 00", 0x04, 0x08, 5, True, 0x6F, (0x00, 0xFF, 0xFF)),
]


def ipmi_sel(sim):
    """{id: (date, time, name, event)} from FreeIPMI's ipmi-sel."""
    cache = tempfile.mkdtemp(prefix="sdrcache-")
    try:
        cp = subprocess.run(
            ["ipmi-sel", "-h", f"127.0.0.1:{sim.port}", "-D", "LAN_2_0", "-u", "admin", "-p",
             "password", "-W", "opensesspriv", f"--sdr-cache-directory={cache}",
             "--comma-separated-output", "--no-header-output", "--quiet-cache"],
            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert cp.returncode == 0, cp.stderr
    out = {}
    for line in cp.stdout.splitlines():
        f = line.split(",", 5)
        out[int(f[0])] = dict(date=f[1], time=f[2], name=f[3], type=f[4], event=f[5])
    return out


def test_sel_log_records_match_readme_and_ipmi_sel(sims, wsmd_factory, users_file, tmp_path):
    need("ipmi-sel")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    oracle = ipmi_sel(sim)
    for uri, cls in ((WMI_HW + "LogRecord", "LogRecord"), (DMTF + "CIM_LogRecord",
                                                           "CIM_LogRecord")):
        doc = enum_json(d, uri)
        recs = {int(x[cls]["RecordID"]): x[cls] for x in doc}
        assert sorted(recs) == [1, 2, 3, 4], doc
        for (rid, ts, name, gen, evm, stype, snum, asserted, etype, data) in SEL:
            r = recs[rid]
            assert r["LogName"] == "IPMI:bmc1:SEL" and r["SystemName"] == "bmc1"
            assert r["CreationClassName"] == cls
            assert r["LogCreationClassName"] == ("RecordLog" if cls == "LogRecord"
                                                 else "CIM_RecordLog")
            want_time = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(ts))
            assert r["MessageTimestamp"] == want_time, r
            assert r["IPMI_SensorName"] == name and r["IPMI_SensorNumber"] == snum
            assert r["IPMI_SensorType"] == stype and r["IPMI_EventType"] == etype
            assert r["IPMI_AssertionEvent"] is asserted
            assert r["IPMI_EventData"] == list(data)
            tsb = " ".join(f"{b:02X}" for b in ts.to_bytes(4, "little"))
            assert r["RecordData"] == (
                f"*SEL({snum}.0.32)*{rid:02X} 00*02*{tsb}*{gen}*{evm:02X}*{stype:02X}"
                f"*{snum:02X}*{'true' if asserted else 'false'}*{etype:02X}"
                f"*{data[0]:02X}*{data[1]:02X}*{data[2]:02X}*"), r
            assert r["RecordFormat"].startswith("*string CIM_Sensor.DeviceID*uint8[2] IPMI_RecordID")
            # ipmi-sel on the same simulator: same sensor, same words.
            o = oracle[rid]
            assert o["name"] == name
            assert o["event"] in r["Description"], (o, r["Description"])
            assert r["Description"].endswith("(Asserted)" if asserted else "(Deasserted)")
            assert time.strftime("%b-%d-%Y", time.gmtime(ts)) == o["date"]
            assert time.strftime("%H:%M:%S", time.gmtime(ts)) == o["time"]
    # The log itself.
    for uri, cls in ((WMI_HW + "RecordLog", "RecordLog"), (DMTF + "CIM_RecordLog",
                                                           "CIM_RecordLog")):
        doc = enum_json(d, uri)
        assert len(doc) == 1
        log = doc[0][cls]
        assert log["InstanceID"] == "IPMI:bmc1:SEL" and log["CurrentNumberOfRecords"] == 4
        assert log["MaxNumberOfRecords"] > 4 and log["OverwritePolicy"] == 7
        assert log["HealthState"] == 5 and log["IPMI_Truncated"] is False
    # Get of one record by its keys, and of the log.
    c = Client(d.port)
    _, inst = c.get_instance(WMI_HW + "LogRecord", {
        "LogCreationClassName": "RecordLog", "LogName": "IPMI:bmc1:SEL",
        "CreationClassName": "LogRecord", "RecordID": "4",
        "MessageTimestamp": "2024-03-01T09:00:00.000000Z"})
    assert instance_props(inst)["IPMI_SensorName"] == "PS1 Status"
    _, inst = c.get_instance(DMTF + "CIM_RecordLog", {"InstanceID": "IPMI:bmc1:SEL"})
    assert instance_props(inst)["CurrentNumberOfRecords"] == "4"


def test_sel_new_event_is_seen(sims, wsmd_factory, users_file, tmp_path):
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert len(enum_json(d, WMI_HW + "LogRecord")) == 4
    t0 = int(time.time())
    sim.console("sensor_set_value 0x20 0 3 8 1")  # Fan1 to 400 RPM: LNC and LC events
    doc = enum_json(d, WMI_HW + "LogRecord")
    assert len(doc) == 6, doc
    new = [x["LogRecord"] for x in doc if int(x["LogRecord"]["RecordID"]) > 4]
    assert {r["IPMI_SensorName"] for r in new} == {"Fan1"}
    for r in new:
        assert "Lower" in r["Description"] and "going low" in r["Description"], r
        stamp = calendar.timegm(time.strptime(r["MessageTimestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert abs(stamp - t0) < 120, (r["MessageTimestamp"], t0)
    log = enum_json(d, WMI_HW + "RecordLog")[0]["RecordLog"]
    assert log["CurrentNumberOfRecords"] == 6


def test_winrm_text_and_wsl(sims, wsmd_factory, users_file, tmp_path):
    """Readable text from our winrm; Dell's wsl (curl + xmllint) on the
    DMTF URI and the root/hardware one."""
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    out = ok(winrm(d, "enumerate", "wmi/root/hardware/NumericSensor"))
    blocks = [b for b in out.split("\n\n") if b.strip().startswith("NumericSensor")]
    assert len(blocks) == len(EXPECTED), out
    assert any("    ElementName = 12V" in b and "    CurrentReading = 120" in b
               and "    UnitModifier = -1" in b for b in blocks), out
    out = ok(winrm(d, "get", "wmi/root/hardware/NumericSensor?SystemCreationClassName="
                   "ComputerSystem+SystemName=bmc1+CreationClassName=NumericSensor"
                   "+DeviceID=2.0.32"))
    assert "    CurrentState = Upper Non-Critical" in out and "    HealthState = 10" in out, out
    if shutil.which("wsl") is None or not os.path.exists("/usr/bin/wslenum"):
        return  # Dell wsl not installed: the rest needs it
    from test_cim_wsl import run_wsl
    for uri in (DMTF + "CIM_NumericSensor", WMI_HW + "NumericSensor"):
        r = run_wsl(d, tmp_path, "enum", uri)
        r.assert_clean()
        names = sorted(instance_props(i)["ElementName"] for i in r.items())
        assert names == sorted(EXPECTED), r.detail()


def test_sel_clear_log(sims, wsmd_factory, users_file, tmp_path):
    need("ipmi-sel")
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert len(enum_json(d, WMI_HW + "LogRecord")) == 4
    c = Client(d.port)
    _, out = c.invoke_output(WMI_HW + "RecordLog", "ClearLog",
                             selectors={"InstanceID": "IPMI:bmc1:SEL"})
    assert out["ReturnValue"] == "0", out
    assert "event=ipmi-sel-cleared bmc=bmc1" in d.log()
    # What is left is what ipmi-sel sees (nothing, or the BMC's own
    # "log cleared" entry), and RecordLog counts the same.
    left = enum_json(d, WMI_HW + "LogRecord")
    oracle = ipmi_sel(sim)
    assert len(left) == len(oracle) <= 1, (left, oracle)
    log = enum_json(d, DMTF + "CIM_RecordLog")[0]["CIM_RecordLog"]
    assert log["CurrentNumberOfRecords"] == len(oracle)
    # Our winrm, the DMTF form: a second clear.
    out = ok(winrm(d, "invoke", "ClearLog",
                   DMTF + "CIM_RecordLog?InstanceID=IPMI:bmc1:SEL", "-format:json"))
    assert json.loads(out)["ClearLog_OUTPUT"]["ReturnValue"] == 0, out
    # A log that does not exist.
    c.invoke(WMI_HW + "RecordLog", "ClearLog", selectors={"InstanceID": "IPMI:nosuch:SEL"}
             ).expect_fault("a:DestinationUnreachable")


# ---- wsmd-ipmi's protocol, driven directly -----------------------------------

def _fld(tag, b):
    return struct.pack("<HH", tag, len(b)) + b


def _frame(fid, op, body=b"", length=None):
    p = struct.pack("<IHH", fid, op, 0) + body
    return struct.pack("<I", len(p) if length is None else length) + p


def test_helper_protocol(sims, tmp_path):
    """wsmd-ipmi on its own: CONFIG first, LIST without secrets, replies by
    id, the right status for a bad request, an unknown BMC or op, and an
    oversized frame ends it (closing its sessions)."""
    from conftest import wsmd_bin
    helper = Path(wsmd_bin()).parent / "wsmd-ipmi"
    if not helper.exists():
        pytest.skip("wsmd-ipmi not built (no libfreeipmi)")
    sim = sims()
    a, b = socket.socketpair()
    err = open(tmp_path / "helper.stderr", "wb")
    p = subprocess.Popen([str(helper), str(b.fileno())], pass_fds=[b.fileno()], stderr=err)
    b.close()
    a.settimeout(30)

    def rd():
        n = struct.unpack("<I", a.recv(4, socket.MSG_WAITALL))[0]
        d = a.recv(n, socket.MSG_WAITALL)
        fid, op, st = struct.unpack("<IHH", d[:8])
        return fid, op, st, d[8:]

    try:
        rec = (_fld(3, b"sim") + _fld(0x10, b"127.0.0.1") + _fld(0x11, struct.pack("<H", sim.port))
               + _fld(0x12, b"admin") + _fld(0x13, b"password") + _fld(0x15, b"opensesspriv")
               + _fld(0x16, b"\x04") + _fld(0x17, struct.pack("<I", 2000)))
        a.sendall(_frame(0, 1, _fld(1, rec)))
        a.sendall(_frame(41, 2))
        fid, op, st, body = rd()
        assert (fid, op, st) == (41, 0x8002, 0) and b"sim" in body and b"password" not in body
        # Two requests in flight: both answered, each with its own id.
        a.sendall(_frame(42, 3, _fld(3, b"sim")) + _frame(43, 4, _fld(3, b"sim")))
        got = {rd()[:3] for _ in range(2)}
        assert got == {(42, 0x8003, 0), (43, 0x8004, 0)}, got
        a.sendall(_frame(44, 3, _fld(3, b"nope")))
        assert rd()[:3] == (44, 0x8003, 2)          # unknown BMC
        a.sendall(_frame(45, 3))
        assert rd()[:3] == (45, 0x8003, 1)          # no BMC named: bad request
        a.sendall(_frame(46, 3, _fld(3, b"si\x00m")))
        assert rd()[:3] == (46, 0x8003, 1)          # a NUL inside a string
        a.sendall(_frame(47, 77, _fld(3, b"sim")))
        assert rd()[:3] == (47, 0x804d, 6)          # unknown op: unsupported
        a.sendall(_frame(48, 8, _fld(3, b"sim")))
        assert rd()[:3] == (48, 0x8008, 1)          # raw without NetFn nor command
        # Raw Get Device ID: completion code 0, then the device id 20h.
        a.sendall(_frame(49, 8, _fld(3, b"sim") + _fld(0x44, b"\x06") + _fld(0x45, b"\x01")))
        fid, op, st, body = rd()
        assert (fid, op, st) == (49, 0x8008, 0) and _fld(0x46, b"\x00") in body, body
        assert _fld(0x47, b"")[:2] in body and b"\x20\x01\x02\x15" in body, body
        # Chassis status: the power byte (off), then a chassis action the
        # shared simulator refuses (CCh: no chassis control wired).
        a.sendall(_frame(50, 6, _fld(3, b"sim")))
        fid, op, st, body = rd()
        assert (fid, op, st) == (50, 0x8006, 0) and _fld(0x40, b"\x00") in body, body
        a.sendall(_frame(51, 7, _fld(3, b"sim") + _fld(0x43, b"\x01")))
        fid, op, st, body = rd()
        assert (fid, op, st) == (51, 0x8007, 0) and _fld(0x46, b"\xcc") in body, body
        a.sendall(_frame(52, 7, _fld(3, b"sim") + _fld(0x43, b"\x09")))
        assert rd()[:3] == (52, 0x8007, 1)          # no such action
        # A frame announcing 2 GB: the helper ends, its sessions closed.
        a.sendall(struct.pack("<I", 0x7FFFFFF0))
        assert p.wait(timeout=30) == 0
    finally:
        a.close()
        if p.poll() is None:
            p.kill()
            p.wait()
        err.close()
    log = (tmp_path / "helper.stderr").read_text()
    assert "event=ipmi-session-open bmc=sim" in log and "bad frame from wsmd" in log, log
    assert "event=ipmi-helper-exit sessions=closed" in log and "password" not in log


def test_single_process_starts_the_helper_itself(sims, wsmd_factory, users_file, tmp_path):
    """Not separated (PrivilegeSeparation = no, or not root): wsmd starts
    wsmd-ipmi itself, and ends it at exit."""
    sim = sims()
    hosts = hosts_file(tmp_path, {"bmc1": sim})
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"IpmiHosts = {hosts}\nPrivilegeSeparation = no\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users",
                     str(users_file))
    assert "role=network" not in d.log()
    assert len(enum_json(d, WMI_HW + "NumericSensor")) == len(EXPECTED)
    pids = subprocess.run(["pgrep", "-P", str(d.pid), "-x", "wsmd-ipmi"], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1, d.log()
    d.stop()
    assert not os.path.exists(f"/proc/{pids[0]}"), "wsmd-ipmi outlived wsmd"
    assert "event=ipmi-helper-exit sessions=closed" in d.log()


def test_wrong_password_is_its_own_fault(sims, wsmd_factory, users_file, tmp_path):
    sim = sims()
    hosts = hosts_file(tmp_path, {"good": sim, "bad": sim})
    hosts.write_text(hosts.read_text().replace("bad 127.0.0.1:%d admin password" % sim.port,
                                               "bad 127.0.0.1:%d admin wrong-pw" % sim.port))
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts)
    c = Client(d.port)
    ans = c.enumerate(WMI_HW + "NumericSensor", selectors={"SystemName": "bad"})
    ans.expect_fault("w:InternalError")
    assert "The BMC bad refused wsmd&apos;s session (check IpmiHosts)" in ans.text, ans.text
    assert "wrong-pw" not in ans.text and "wrong-pw" not in d.log()
    doc = enum_json(d, WMI_HW + "NumericSensor")
    assert {x["NumericSensor"]["SystemName"] for x in doc} == {"good"}
