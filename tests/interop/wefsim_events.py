"""The events a simulated Windows source sends (part of wefsim; wefsim.py
re-exports it): the Windows event schema
(http://schemas.microsoft.com/win/2004/08/events/event) as the renderer
writes it -- System (Provider, EventID, Version, Level, Task, Opcode,
Keywords, TimeCreated with 7 fractional digits, EventRecordID, Correlation,
Execution, Channel, Computer, Security), then EventData with named Data, and
RenderingInfo for ContentFormat RenderedText; single-quoted attributes; and
event 111 of Microsoft-Windows-EventForwarder, the first event of a new
subscription. Only the standard library.
"""

import datetime
import random
import re
from xml.sax.saxutils import escape

from wefsim_xml import NS_EVENT

# ---- the event generator ----------------------------------------------------------------

SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing",
                     "{54849625-5478-4994-a5ba-3e3b0328c30d}")
SCM_PROVIDER = ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}")
KW_SUCCESS, KW_FAILURE = "0x8020000000000000", "0x8010000000000000"
USERS = ["alice", "bob", "carol", "dave", "svc_backup", "Administrator"]
PROCESSES = [r"C:\Windows\System32\svchost.exe", r"C:\Windows\System32\cmd.exe",
             r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
             r"C:\Program Files\Mozilla Firefox\firefox.exe", r"C:\Windows\explorer.exe"]
SERVICES = ["Windows Update", "Background Intelligent Transfer Service", "Print Spooler",
            "WinHTTP Web Proxy Auto-Discovery Service", "Windows Defender Antivirus Service"]
LEVEL_NAMES = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information"}


def systime(t=None):
    """TimeCreated SystemTime: 7 fractional digits, Z."""
    t = t or datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%07dZ" % (t.microsecond * 10)


def _q(v):
    """A single-quoted attribute value, as the Windows renderer writes them."""
    return "'" + escape(str(v), {"'": "&apos;"}) + "'"


class EventGen:
    """Realistic Windows events for one machine: Security (4624, 4625, 4634,
    4672, 4688), System (7036, 7040, 1014) and any other channel (a generic
    event), EventRecordID increasing per channel from `start`.

    rendered=True adds RenderingInfo (ContentFormat RenderedText)."""

    def __init__(self, computer, start=1000, seed=None, rendered=False, domain="WSMD",
                 fast=False):
        self.computer = computer
        # fast: each event is one of a few templates made once per channel,
        # only EventRecordID and TimeCreated filled in (for benchmarks: a
        # several times higher rate, when the generator must not be the
        # bottleneck).
        self.fast = fast
        self.templates = {}
        self.rng = random.Random(seed)
        self.next_id = {}
        self.start = start
        self.rendered = rendered
        self.domain = domain
        self.machine_account = computer.split(".")[0].upper() + "$"

    def last_ids(self):
        """{channel: last RecordId generated} (the source's current position)."""
        return {ch: n - 1 for ch, n in self.next_id.items()}

    def _rid(self, channel):
        n = self.next_id.get(channel, self.start)
        self.next_id[channel] = n + 1
        return n

    def _system(self, provider, event_id, version, level, task, opcode, keywords, channel,
                rid, qualifiers=None, security="<Security/>", pid=None, tid=None):
        name, guid = provider
        prov = ("<Provider Name=%s Guid=%s EventSourceName=%s/>" % (_q(name), _q(guid), _q(name))
                if qualifiers is not None else "<Provider Name=%s Guid=%s/>" % (_q(name), _q(guid)))
        eid = ("<EventID Qualifiers=%s>%d</EventID>" % (_q(qualifiers), event_id)
               if qualifiers is not None else "<EventID>%d</EventID>" % event_id)
        return ("<System>%s%s<Version>%d</Version><Level>%d</Level><Task>%d</Task>"
                "<Opcode>%d</Opcode><Keywords>%s</Keywords><TimeCreated SystemTime=%s/>"
                "<EventRecordID>%d</EventRecordID><Correlation/>"
                "<Execution ProcessID=%s ThreadID=%s/><Channel>%s</Channel>"
                "<Computer>%s</Computer>%s</System>"
                % (prov, eid, version, level, task, opcode, keywords, _q(systime()), rid,
                   _q(pid or self.rng.randint(4, 9000)), _q(tid or self.rng.randint(8, 12000)),
                   escape(channel), escape(self.computer), security))

    @staticmethod
    def _data(pairs):
        return "<EventData>" + "".join("<Data Name=%s>%s</Data>" % (_q(k), escape(str(v)))
                                       for k, v in pairs) + "</EventData>"

    def _rendering(self, message, level, task, channel, provider, keywords):
        if not self.rendered:
            return ""
        kw = "".join("<Keyword>%s</Keyword>" % escape(k) for k in keywords)
        return ("<RenderingInfo Culture='en-US'><Message>%s</Message><Level>%s</Level>"
                "<Task>%s</Task><Opcode>Info</Opcode><Channel>%s</Channel>"
                "<Provider>%s</Provider><Keywords>%s</Keywords></RenderingInfo>"
                % (escape(message), LEVEL_NAMES.get(level, "Information"), escape(task),
                   escape(channel), escape(provider), kw))

    def _event(self, system, data, rendering):
        return "<Event xmlns=%s>%s%s%s</Event>" % (_q(NS_EVENT), system, data, rendering)

    def security(self, event_id=None, extra=""):
        ch = "Security"
        event_id = event_id or self.rng.choice([4624, 4624, 4688, 4688, 4634, 4625, 4672])
        rid = self._rid(ch)
        user = self.rng.choice(USERS)
        logon_id = "0x%x" % self.rng.randint(0x10000, 0xffffff)
        subject = [("SubjectUserSid", "S-1-5-18"), ("SubjectUserName", self.machine_account),
                   ("SubjectDomainName", self.domain), ("SubjectLogonId", "0x3e7")]
        kw, task = KW_SUCCESS, 12544
        if event_id == 4624:
            data = subject + [("TargetUserSid", "S-1-5-21-1004336348-1177238915-682003330-%d"
                               % self.rng.randint(1000, 2000)),
                              ("TargetUserName", user), ("TargetDomainName", self.domain),
                              ("TargetLogonId", logon_id),
                              ("LogonType", self.rng.choice([2, 3, 3, 5, 10])),
                              ("LogonProcessName", "User32 "),
                              ("AuthenticationPackageName", "Negotiate"),
                              ("WorkstationName", self.machine_account.rstrip("$")),
                              ("IpAddress", "10.0.%d.%d" % (self.rng.randint(0, 9),
                                                            self.rng.randint(1, 254))),
                              ("IpPort", self.rng.randint(49152, 65535))]
            msg = "An account was successfully logged on."
            tname = "Logon"
        elif event_id == 4625:
            kw = KW_FAILURE
            data = subject + [("TargetUserSid", "S-1-0-0"), ("TargetUserName", user),
                              ("TargetDomainName", self.domain), ("Status", "0xc000006d"),
                              ("FailureReason", "%%2313"), ("SubStatus", "0xc000006a"),
                              ("LogonType", 3), ("IpAddress", "192.0.2.%d"
                                                  % self.rng.randint(1, 254))]
            msg = "An account failed to log on."
            tname = "Logon"
        elif event_id == 4634:
            task = 12545
            data = [("TargetUserSid", "S-1-5-21-1004336348-1177238915-682003330-1105"),
                    ("TargetUserName", user), ("TargetDomainName", self.domain),
                    ("TargetLogonId", logon_id), ("LogonType", 3)]
            msg = "An account was logged off."
            tname = "Logoff"
        elif event_id == 4672:
            task = 12548
            data = subject[:3] + [("SubjectLogonId", logon_id),
                                  ("PrivilegeList",
                                   "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege")]
            msg = "Special privileges assigned to new logon."
            tname = "Special Logon"
        else:
            event_id, task = 4688, 13312
            proc = self.rng.choice(PROCESSES)
            data = subject + [("NewProcessId", "0x%x" % self.rng.randint(0x100, 0x3000)),
                              ("NewProcessName", proc), ("TokenElevationType", "%%1936"),
                              ("ProcessId", "0x%x" % self.rng.randint(0x100, 0x3000)),
                              ("CommandLine", '"%s" %s' % (proc, extra or "-k netsvcs")),
                              ("ParentProcessName", r"C:\Windows\System32\services.exe"),
                              ("MandatoryLabel", "S-1-16-16384")]
            msg = "A new process has been created."
            tname = "Process Creation"
        if extra and event_id != 4688:
            data.append(("Extra", extra))
        system = self._system(SECURITY_PROVIDER, event_id, 2, 0, task, 0, kw, ch, rid,
                              pid=588, tid=self.rng.randint(600, 900))
        audit = "Audit Failure" if kw == KW_FAILURE else "Audit Success"
        return self._event(system, self._data(data),
                           self._rendering(msg, 0, tname, ch,
                                           "Microsoft Windows security auditing.", [audit]))

    def system(self, event_id=None, extra=""):
        ch = "System"
        event_id = event_id or self.rng.choice([7036, 7036, 7036, 7040, 1014])
        rid = self._rid(ch)
        svc = self.rng.choice(SERVICES)
        if event_id == 1014:
            prov = ("Microsoft-Windows-DNS-Client", "{1c95126e-7eea-49a9-a3fe-a378b03ddb4d}")
            system = self._system(prov, 1014, 0, 3, 1014, 0, "0x4000000000000000", ch, rid,
                                  security="<Security UserID='S-1-5-20'/>")
            data = [("QueryName", "wpad.%s" % self.computer.split(".", 1)[-1]),
                    ("AddressLength", 128), ("Address", extra or "")]
            msg = "Name resolution for the name timed out."
            return self._event(system, self._data(data),
                               self._rendering(msg, 3, "", ch, prov[0], []))
        if event_id == 7040:
            data = [("param1", svc), ("param2", "auto start"), ("param3", "demand start"),
                    ("param4", extra or "BITS")]
            msg = "The start type of the %s service was changed." % svc
            kw = "0x8080000000000000"
        else:
            event_id = 7036
            state = self.rng.choice(["running", "stopped"])
            data = [("param1", svc), ("param2", state + extra)]
            msg = "The %s service entered the %s state." % (svc, state)
            kw = "0x8080000000000000"
        system = self._system(SCM_PROVIDER, event_id, 0, 4, 0, 0, kw, ch, rid,
                              qualifiers=16384, pid=684)
        return self._event(system, self._data(data),
                           self._rendering(msg, 4, "", ch, SCM_PROVIDER[0], ["Classic"]))

    def generic(self, channel, extra=""):
        rid = self._rid(channel)
        prov = ("Microsoft-Windows-Wsmd-Sim", "{3f0d3a1c-7a39-4f4a-9a2e-6a1b5b3c9d01}")
        system = self._system(prov, 100, 0, 4, 0, 0, "0x8000000000000000", channel, rid)
        return self._event(system, self._data([("Message", "generic event %d%s" % (rid, extra))]),
                           self._rendering("generic event", 4, "", channel, prov[0], []))

    def make(self, channel="Security", inject_control=False, malformed=False):
        """One event of channel. inject_control puts U+0005 (not allowed in
        XML 1.0, seen in real Windows events) in a data value; malformed
        returns text that is not well-formed XML (still counted: the
        channel's next RecordId is used)."""
        extra = "ctl\u0005char" if inject_control else ""
        if self.fast and not (inject_control or malformed):
            return self._from_template(channel)
        if channel == "Security":
            ev = self.security(extra=extra)
        elif channel == "System":
            ev = self.system(extra=extra)
        else:
            ev = self.generic(channel, extra=extra)
        if malformed:
            # Cut inside the System element: unbalanced, the rest lost.
            ev = ev[:ev.index("</EventRecordID>") + len("</EventRecordID>")] + "<Channel>"
        return ev

    RID_MARK, TIME_MARK = "\x01RID\x01", "\x01TIME\x01"

    def _from_template(self, channel):
        pool = self.templates.get(channel)
        if pool is None:
            saved, self.fast = self.next_id.get(channel), False
            pool = []
            for _ in range(16):
                ev = self.make(channel)
                rid = self.next_id[channel] - 1
                ev = ev.replace("<EventRecordID>%d<" % rid, "<EventRecordID>%s<" % self.RID_MARK)
                ev = re.sub(r"SystemTime='[^']*'", "SystemTime='%s'" % self.TIME_MARK, ev, 1)
                pool.append(ev)
            self.fast = True
            if saved is None:
                del self.next_id[channel]
            else:
                self.next_id[channel] = saved
            self.templates[channel] = pool
        rid = self._rid(channel)
        return (pool[rid % len(pool)].replace(self.RID_MARK, str(rid))
                .replace(self.TIME_MARK, systime()))

    def batch_meta(self, n, channels=("Security", "System"), inject_control_at=None,
                   malformed_at=None):
        """n events spread over channels (in turn): [(xml, channel, RecordId)]."""
        out = []
        for i in range(n):
            ch = channels[i % len(channels)]
            xml = self.make(ch, inject_control=i == inject_control_at,
                            malformed=i == malformed_at)
            out.append((xml, ch, self.next_id[ch] - 1))
        return out

    def batch(self, n, channels=("Security", "System"), inject_control_at=None,
              malformed_at=None):
        """n events spread over channels (in turn); (events, channel of the last)."""
        meta = self.batch_meta(n, channels, inject_control_at, malformed_at)
        return [m[0] for m in meta], (meta[-1][1] if meta else None)


def event_111(computer, t=None):
    """The first event of a new subscription without bookmark (provider
    Microsoft-Windows-EventForwarder, no Channel, no EventRecordID)."""
    ts = (t or datetime.datetime.now(datetime.timezone.utc))
    ts = ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ts.microsecond // 1000)
    return ("<Event xmlns=%s><System><Provider Name='Microsoft-Windows-EventForwarder'/>"
            "<EventID>111</EventID><TimeCreated SystemTime=%s/><Computer>%s</Computer>"
            "</System><SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId>"
            "</SubscriptionBookmarkEvent></Event>" % (_q(NS_EVENT), _q(ts), escape(computer)))
