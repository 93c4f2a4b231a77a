"""DSP1010's CIM_LogEntry, SetPowerState and CIM_ElementConformsToProfile
on the BMCs (docs/internals/ipmi.md), against OpenIPMI's ipmi_sim, the
entries cross-checked with FreeIPMI's ipmi-sel on the same simulator and
the power with ipmitool's chassis status."""
import os
import time

from cim_helpers import Client, instance_props
from test_ipmi import DMTF, SEL, WMI_HW, enum_json, hosts_file, ipmi_sel, need, start_wsmd
from test_ipmi import sims  # noqa: F401  (fixture)
from test_ipmi_sys import HW_NS, psims  # noqa: F401  (fixture)


def log_count(d, line, n, timeout=5.0):
    """Whether the log holds line exactly n times; the helper's lines reach
    wsmd's log by their own pipe, maybe after the reply: polled."""
    t0 = time.monotonic()
    while d.log().count(line) < n and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    return d.log().count(line) == n

# PerceivedSeverity by record id: UNC asserted (Degraded/Warning), LC
# asserted (Critical), LC deasserted and presence (Information).
SEVERITY = {1: 3, 2: 6, 3: 2, 4: 2}


def test_log_entry_matches_readme_and_ipmi_sel(sims, wsmd_factory, users_file, tmp_path):
    need("ipmi-sel")
    from test_cim_hostdata import DMTF_ALL, assoc_filter
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    oracle = ipmi_sel(sim)
    recs = {int(x["CIM_LogEntry"]["RecordID"]): x["CIM_LogEntry"]
            for x in enum_json(d, DMTF + "CIM_LogEntry")}
    assert sorted(recs) == [1, 2, 3, 4], recs
    for (rid, ts, name, _gen, _evm, stype, snum, asserted, etype, data) in SEL:
        r = recs[rid]
        assert r["InstanceID"] == f"IPMI:bmc1:SEL:{rid}"
        assert (r["LogInstanceID"], r["LogName"]) == ("IPMI:bmc1:SEL", "IPMI SEL")
        assert r["CreationTimeStamp"] == time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                       time.gmtime(ts)), r
        assert "MessageTimestamp" not in r and "LogCreationClassName" not in r
        assert r["SystemName"] == "bmc1" and r["IPMI_SensorName"] == name
        assert (r["IPMI_SensorNumber"], r["IPMI_SensorType"]) == (snum, stype)
        assert r["IPMI_EventType"] == etype and r["IPMI_EventData"] == list(data)
        assert r["RecordData"].startswith(f"*SEL({snum}.0.32)*{rid:02X} 00*02*")
        assert r["RecordFormat"].startswith("*string CIM_Sensor.DeviceID*")
        assert r["PerceivedSeverity"] == SEVERITY[rid], r
        o = oracle[rid]
        assert o["name"] == name and o["event"] in r["Message"], (o, r["Message"])
        assert r["Message"].endswith("(Asserted)" if asserted else "(Deasserted)")
    # The same entries as CIM_LogRecord (the older class stays).
    old = {int(x["CIM_LogRecord"]["RecordID"]): x["CIM_LogRecord"]
           for x in enum_json(d, DMTF + "CIM_LogRecord")}
    assert {k: v["RecordData"] for k, v in old.items()} == {
        k: v["RecordData"] for k, v in recs.items()}
    # Get by the one key; a record or BMC that is not there.
    c = Client(d.port)
    _, inst = c.get_instance(DMTF + "CIM_LogEntry", {"InstanceID": "IPMI:bmc1:SEL:2"})
    p = instance_props(inst)
    assert (p["RecordID"], p["IPMI_SensorName"], p["PerceivedSeverity"]) == ("2", "Fan1", "6")
    c.get(DMTF + "CIM_LogEntry", {"InstanceID": "IPMI:bmc1:SEL:99"}).expect_fault(
        "a:DestinationUnreachable")
    c.get(DMTF + "CIM_LogEntry", {"InstanceID": "IPMI:nosuch:SEL:1"}).expect_fault(
        "a:DestinationUnreachable")
    for bad in ("IPMI:bmc1:SEL", "IPMI:bmc1:SEL:", "bmc1:1", ""):
        c.get(DMTF + "CIM_LogEntry", {"InstanceID": bad}).expect_fault(
            "a:DestinationUnreachable")
    # LogManagesRecord from the log: the entries as CIM_LogEntry.
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", DMTF + "CIM_RecordLog", {"InstanceID": "IPMI:bmc1:SEL"},
        ResultClassName="CIM_LogEntry"))
    assert sorted(instance_props(i)["InstanceID"] for i in items) == [
        f"IPMI:bmc1:SEL:{k}" for k in (1, 2, 3, 4)]
    # ... and back from an entry to its log.
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", DMTF + "CIM_LogEntry", {"InstanceID": "IPMI:bmc1:SEL:3"},
        AssociationClassName="CIM_LogManagesRecord"))
    assert [instance_props(i)["InstanceID"] for i in items] == ["IPMI:bmc1:SEL"]


def set_power(c, uri, cls, state, time_=None, ns=None):
    args = {"PowerState": state}
    if time_ is not None:
        args["Time"] = time_
    _, out = c.invoke_output(uri, "SetPowerState", args,
                             selectors={"CreationClassName": cls, "Name": "bmc1", **(ns or {})})
    return int(out["ReturnValue"])


def test_set_power_state(psims, wsmd_factory, users_file, tmp_path):
    sim = psims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    c = Client(d.port)
    wmi = (WMI_HW + "ComputerSystem", "ComputerSystem")
    dmtf = (DMTF + "CIM_ComputerSystem", "CIM_ComputerSystem")
    assert not sim.power_on()
    assert set_power(c, *wmi, 1) == 0  # Full Power
    assert sim.power_on() and "set power 1" in sim.actions()
    (cs,) = [x["ComputerSystem"] for x in enum_json(d, WMI_HW + "ComputerSystem")]
    assert (cs["EnabledState"], cs["PowerState"]) == (2, 2)
    n = len(sim.actions())
    assert set_power(c, *dmtf, 6, ns=HW_NS) == 0  # Power Off
    assert "set power 0" in sim.actions()[n:] and not sim.power_on()
    sets = lambda: [a for a in sim.actions() if a.startswith("set")]  # noqa: E731
    n = len(sets())
    # Sleep states chassis control cannot ask for, a deferred time,
    # nonsense: nothing reaches the BMC.
    for state in (2, 3, 4, 7):
        assert set_power(c, *wmi, state) == 1
    assert set_power(c, *wmi, 1, time_="2030-01-01T00:00:00Z") == 1
    for state in (0, 9, "x", -1):
        assert set_power(c, *wmi, state) == 5
    assert len(sets()) == n and not sim.power_on()
    assert "event=ipmi-power user=alice bmc=bmc1 power_state=6 cc=00 rv=0" in d.log()


def test_set_power_state_refused_by_bmc(sims, wsmd_factory, users_file, tmp_path):
    """The shared simulator has no chassis control: CCh, Not Supported."""
    sim = sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
    assert set_power(Client(d.port), WMI_HW + "ComputerSystem", "ComputerSystem", 1) == 1


def test_element_conforms_to_profile(sims, wsmd_factory, users_file, tmp_path):
    from test_cim_hostdata import DMTF_ALL, assoc_filter, local_name, ref_of
    s1, s2 = sims(), sims()
    d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"a": s1, "b": s2}))
    c = Client(d.port)
    # From a profile: every BMC's system (the root/hardware one, not the host's).
    prof = {"InstanceID": "DMTF:DSP1009:Sensors"}
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", DMTF + "CIM_RegisteredProfile", prof,
        AssociationClassName="CIM_ElementConformsToProfile"))
    assert sorted(instance_props(i)["Name"] for i in items) == ["a", "b"]
    assert {local_name(i.tag) for i in items} == {"CIM_ComputerSystem"}
    # From a system: the four profiles; the association objects point back.
    cs = DMTF + "CIM_ComputerSystem", {"CreationClassName": "CIM_ComputerSystem", "Name": "b",
                                       **HW_NS}
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", *cs, ResultClassName="CIM_RegisteredProfile"))
    assert sorted(instance_props(i)["RegisteredName"] for i in items) == [
        "Physical Asset", "Profile Registration", "Record Log", "Sensors"]
    objs, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociationInstances", *cs, ResultClassName="CIM_ElementConformsToProfile"))
    assert len(objs) == 4
    uri, sel = ref_of(objs[0].find("{*}ManagedElement"))
    assert uri == cs[0] and sel["Name"] == "b" and sel["__cimnamespace"] == "root/hardware"
    # The host's system conforms to none of them.
    host = [x["CIM_ComputerSystem"]["Name"] for x in enum_json(d, DMTF + "CIM_ComputerSystem")]
    items, _ = c.enumerate_all(DMTF_ALL, filter_xml=assoc_filter(
        "AssociatedInstances", DMTF + "CIM_ComputerSystem",
        {"CreationClassName": "CIM_ComputerSystem", "Name": host[0]},
        AssociationClassName="CIM_ElementConformsToProfile"))
    assert items == []


# ---- FRU devices other than 0, and the FRU read once per session ---------

PSU_LOCATOR = """
# A logical FRU device at the BMC (test_ipmi_more.py): the power supply's.
sdr type 17
	device_access_address	0x20
	fru_device_address	1
	logical_fru		true
	lun			0
	private_bus_id		0
	channel_number		0
	device_type		0x10
	device_type_modifier	0
	fru_entity_id		power_supply
	fru_entity_instance	1
	id_string		"PSU1 FRU"
endsdr
"""


def fru_image(mfg, name, part, version, serial, size=64):
    """A FRU device holding a product area only (FRU spec 1.0)."""
    area = bytearray([0x01, 0, 0])  # version, length (below), English
    for s in (mfg, name, part, version, serial, "", ""):  # ..., asset tag, file id
        area += bytes([0xC0 | len(s)]) + s.encode()
    area.append(0xC1)
    while (len(area) + 1) % 8:
        area.append(0)
    area[1] = (len(area) + 1) // 8
    area.append(-sum(area) & 0xFF)
    header = bytearray([0x01, 0, 0, 0, 1, 0, 0])
    header.append(-sum(header) & 0xFF)
    return bytes(header + area).ljust(size, b"\0")


def psu_sim(psims_start):
    """A simulator with FRU device 1 (named by an SDR FRU Device Locator)."""
    import shutil
    import tempfile
    from pathlib import Path
    from test_ipmi import SIM_DIR, free_port_pair
    from test_ipmi_sys import PowerSim
    tmp = Path(tempfile.mkdtemp(prefix="psusim-", dir=psims_start))
    for f in SIM_DIR.iterdir():
        if f.is_file():
            shutil.copy(f, tmp / f.name)
    img = fru_image("PsuVendor", "PSU-500W", "PS500", "A1", "PSU-0001")
    emu = (tmp / "sim.emu").read_text()
    data = " ".join(f"0x{b:02x}" for b in img)
    emu = emu.replace("mc_enable 0x20", f"mc_add_fru_data 0x20 1 {len(img)} data {data}\n\n"
                      "mc_enable 0x20", 1)
    (tmp / "sim.emu").write_text(emu)
    (tmp / "sim.sdrs").write_text((tmp / "sim.sdrs").read_text() + PSU_LOCATOR)
    os.chmod(tmp, 0o755)
    return PowerSim(free_port_pair(), Path(tempfile.mkdtemp(prefix="ipmisim-", dir=tmp)), tmp)


def ipmi_fru_devices(sim):
    """{device id: {field: value}} from FreeIPMI's ipmi-fru (every device)."""
    import re
    import shutil
    import subprocess
    import tempfile
    cache = tempfile.mkdtemp(prefix="sdrcache-")
    try:
        cp = subprocess.run(["ipmi-fru", "-h", f"127.0.0.1:{sim.port}", "-D", "LAN_2_0", "-u",
                             "admin", "-p", "password", "-W", "opensesspriv",
                             f"--sdr-cache-directory={cache}"],
                            capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    assert cp.returncode == 0, cp.stderr
    out, cur = {}, None
    for line in cp.stdout.splitlines():
        m = re.match(r"FRU Inventory Device: (.*) \(ID ([0-9A-F]+)h\)", line.strip())
        if m:
            cur = out.setdefault(int(m.group(2), 16), {"name": m.group(1)})
            continue
        k, sep, v = line.strip().partition(": ")
        if sep and cur is not None:
            cur[k] = v.strip()
    return out


def write_fru(sim, dev, image):
    """Write FRU Data (NetFn 0Ah, 12h) through ipmitool, 16 bytes at a time."""
    for off in range(0, len(image), 16):
        chunk = image[off:off + 16]
        sim.ipmitool("raw", "0x0a", "0x12", str(dev), str(off & 0xFF), str(off >> 8),
                     *[f"0x{b:02x}" for b in chunk])


def test_fru_devices_named_by_sdr_and_read_once_per_session(wsmd_factory, users_file, tmp_path):
    import signal
    need("ipmi_sim", "sdrcomp", "ipmitool", "ipmi-fru")
    sim = psu_sim(tmp_path)
    try:
        d = start_wsmd(wsmd_factory, users_file, tmp_path, hosts_file(tmp_path, {"bmc1": sim}))
        oracle = ipmi_fru_devices(sim)
        assert sorted(oracle) == [0, 1] and oracle[1]["name"] == "PSU1 FRU", oracle
        pk = {x["CIM_PhysicalPackage"]["IPMI_FRUDevice"]: x["CIM_PhysicalPackage"]
              for x in enum_json(d, DMTF + "CIM_PhysicalPackage")}
        assert sorted(pk) == [0, 1], pk
        assert pk[0]["Tag"] == "IPMI:bmc1:FRU0:Product" and pk[0]["Model"] == "SimServer 1000"
        assert pk[0].get("IPMI_FRUName") is None
        p1 = pk[1]
        assert (p1["Tag"], p1["IPMI_FRUName"]) == ("IPMI:bmc1:FRU1:Product", "PSU1 FRU")
        o = oracle[1]
        assert (p1["Manufacturer"], p1["Model"], p1["PartNumber"], p1["Version"],
                p1["SerialNumber"]) == (
            o["FRU Product Manufacturer Name"], o["FRU Product Name"],
            o["FRU Product Part/Model Number"], o["FRU Product Version"],
            o["FRU Product Serial Number"]) == (
            "PsuVendor", "PSU-500W", "PS500", "A1", "PSU-0001")
        # Device 1 has no chassis or board area: one of each, device 0's.
        assert [x["CIM_Chassis"]["Tag"] for x in enum_json(d, DMTF + "CIM_Chassis")] == [
            "IPMI:bmc1:FRU0:Chassis"]
        assert len(enum_json(d, DMTF + "CIM_Card")) == 1
        # Get by Tag names the device; malformed tags are not found.
        c = Client(d.port)
        _, inst = c.get_instance(DMTF + "CIM_PhysicalPackage", {
            "CreationClassName": "CIM_PhysicalPackage", "Tag": "IPMI:bmc1:FRU1:Product"})
        assert instance_props(inst)["SerialNumber"] == "PSU-0001"
        for tag in ("IPMI:bmc1:FRU01:Product", "IPMI:bmc1:FRU255:Product", "IPMI:bmc1:FRU:Product",
                    "IPMI:bmc1:FRU2:Product", "IPMI::FRU1:Product", "IPMI:bmc1:FRU1:Chassis"):
            cls = "CIM_Chassis" if tag.endswith("Chassis") else "CIM_PhysicalPackage"
            c.get(DMTF + cls, {"CreationClassName": cls, "Tag": tag}).expect_fault(
                "a:DestinationUnreachable")
        # Read once per session: a new serial written into the BMC is what
        # ipmi-fru reads, while wsmd still answers from what it read.
        assert log_count(d, "event=ipmi-fru-read bmc=bmc1 areas=4", 1)
        write_fru(sim, 1, fru_image("PsuVendor", "PSU-500W", "PS500", "A1", "PSU-0002"))
        assert ipmi_fru_devices(sim)[1]["FRU Product Serial Number"] == "PSU-0002"
        pk = {x["CIM_PhysicalPackage"]["IPMI_FRUDevice"]: x["CIM_PhysicalPackage"]
              for x in enum_json(d, DMTF + "CIM_PhysicalPackage")}
        assert pk[1]["SerialNumber"] == "PSU-0001"
        assert d.log().count("event=ipmi-fru-read") == 1
        # The BMC lost (it stops answering: a sensor read fails, the
        # session is dropped; the FRU, cached, costs no command) and back:
        # a new session reads the FRU anew.
        os.kill(sim.pid, signal.SIGSTOP)
        try:
            c.get(WMI_HW + "NumericSensor", {
                "SystemCreationClassName": "ComputerSystem", "SystemName": "bmc1",
                "CreationClassName": "NumericSensor", "DeviceID": "1.0.32"}).expect_fault(
                "w:TimedOut")
        finally:
            os.kill(sim.pid, signal.SIGCONT)
        pk = {x["CIM_PhysicalPackage"]["IPMI_FRUDevice"]: x["CIM_PhysicalPackage"]
              for x in enum_json(d, DMTF + "CIM_PhysicalPackage")}
        assert pk[1]["SerialNumber"] == "PSU-0002", pk
        assert log_count(d, "event=ipmi-fru-read bmc=bmc1 areas=4", 2)
    finally:
        sim.stop()
