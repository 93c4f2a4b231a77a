"""Helpers for the remote shell (WinRS) interop tests (no fixtures here).

Two ways to talk to wsmd's shell resource:

* through python3-winrm 0.3.0 (`winrm.protocol.Protocol`): open_shell,
  run_command, get_command_output, cleanup_command, close_shell, plus the
  messages 0.3.0 lacks (Send, Signal ctrl_c) built the way protocol.py
  builds its own: `Protocol._get_soap_header(...)` + xmltodict;
* raw: the same pywinrm-shaped envelopes posted with http.client
  (wsman_helpers.post), so that the HTTP status, the fault details and the
  addressing headers of every reply can be checked.

Everything talks to the daemon over loopback only.
"""

import base64
import os
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET

import xmltodict
from winrm.exceptions import WinRMError, WinRMOperationTimeoutError
from winrm.protocol import Protocol

from wsman_helpers import NS, SANITIZED, parse_fault, post

SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
SHELL_URI = SHELL_NS + "/cmd"
ACT_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACT_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACT_COMMAND = SHELL_NS + "/Command"
ACT_SEND = SHELL_NS + "/Send"
ACT_RECEIVE = SHELL_NS + "/Receive"
ACT_SIGNAL = SHELL_NS + "/Signal"
SIG_TERMINATE = SHELL_NS + "/signal/terminate"
SIG_CTRL_C = SHELL_NS + "/signal/ctrl_c"
STATE_DONE = SHELL_NS + "/CommandState/Done"
STATE_RUNNING = SHELL_NS + "/CommandState/Running"

RSP = {"rsp": SHELL_NS, **NS}

# WSManFault codes (MS-WSMV).
CODE_TIMED_OUT = "2150858793"          # w:TimedOut (Receive with no output)
CODE_INVALID_SELECTORS = "2150858843"  # unknown ShellId

# Generous factors under ASan/UBSan.
SLOW = 4.0 if SANITIZED else 1.0


# ---- pywinrm ------------------------------------------------------------

def protocol(d, user, password, operation_timeout_sec=20, read_timeout_sec=30):
    """A pywinrm Protocol (plaintext = Basic over HTTP) on daemon d."""
    return Protocol(d.url, transport="plaintext", username=user,
                    password=password,
                    operation_timeout_sec=operation_timeout_sec,
                    read_timeout_sec=read_timeout_sec)


def build_message(proto, action, shell_id=None, body=None, message_id=None,
                  option_set=None, max_envelope_size=None):
    """(xml text, 'uuid:...' message id) of a pywinrm-shaped request."""
    mid = message_id or uuid.uuid4()
    req = {"env:Envelope": proto._get_soap_header(
        resource_uri=SHELL_URI, action=action, shell_id=shell_id,
        message_id=mid)}
    if max_envelope_size is not None:
        req["env:Envelope"]["env:Header"]["w:MaxEnvelopeSize"]["#text"] = \
            str(max_envelope_size)
    if option_set:
        req["env:Envelope"]["env:Header"]["w:OptionSet"] = {
            "w:Option": [{"@Name": k, "#text": v} for k, v in option_set]}
    req["env:Envelope"]["env:Body"] = body or {}
    return xmltodict.unparse(req), f"uuid:{mid}"


def send_body(command_id, data, end=False):
    stream = {"@Name": "stdin", "@CommandId": command_id,
              "#text": base64.b64encode(data).decode("ascii")}
    if end:
        stream["@End"] = "true"
    return {"rsp:Send": {"rsp:Stream": stream}}


def signal_body(command_id, code):
    return {"rsp:Signal": {"@CommandId": command_id, "rsp:Code": code}}


def receive_body(command_id):
    return {"rsp:Receive": {"rsp:DesiredStream": {
        "@CommandId": command_id, "#text": "stdout stderr"}}}


def command_body(command, arguments=()):
    cl = {"rsp:Command": command}
    if arguments:
        cl["rsp:Arguments"] = list(arguments) if len(arguments) > 1 else arguments[0]
    return {"rsp:CommandLine": cl}


def create_body(workdir=None, env=None, idle_timeout=None):
    shell = {"rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}
    if workdir is not None:
        shell["rsp:WorkingDirectory"] = workdir
    if env:
        shell["rsp:Environment"] = {"rsp:Variable": [
            {"@Name": k, "#text": v} for k, v in env.items()]}
    if idle_timeout is not None:
        shell["rsp:IdleTimeOut"] = idle_timeout
    return {"rsp:Shell": shell}


def send_input(proto, shell_id, command_id, data, end=False):
    """Send stdin bytes (pywinrm 0.3.0 has no send_command_input)."""
    xml, mid = build_message(proto, ACT_SEND, shell_id,
                             send_body(command_id, data, end))
    res = proto.send_message(xml)
    assert_relates_to(res, mid)
    return res


def send_signal(proto, shell_id, command_id, code):
    xml, mid = build_message(proto, ACT_SIGNAL, shell_id,
                             signal_body(command_id, code))
    res = proto.send_message(xml)
    assert_relates_to(res, mid)
    return res


def assert_relates_to(text, mid):
    root = ET.fromstring(text)
    rel = root.find("s:Header/a:RelatesTo", NS)
    assert rel is not None and (rel.text or "").strip() == mid, (
        f"reply's a:RelatesTo is not the request's MessageID {mid}: {text[:2000]!r}")


def with_deadline(fn, timeout, what):
    """Run fn() in a daemon thread; fail (instead of hanging) after timeout s.

    pywinrm's get_command_output retries a Receive that timed out forever,
    so a command the server never finishes would hang the test run.
    """
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: B902 - re-raised below
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise AssertionError(f"{what}: no result within {timeout:.0f}s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def get_output(proto, shell_id, command_id, timeout=60):
    """pywinrm's get_command_output with a deadline: (stdout, stderr, code)."""
    return with_deadline(lambda: proto.get_command_output(shell_id, command_id),
                         timeout * SLOW, "get_command_output")


def run_in_shell(proto, shell_id, command, args=(), timeout=60):
    cid = proto.run_command(shell_id, command, args)
    out = get_output(proto, shell_id, cid, timeout)
    proto.cleanup_command(shell_id, cid)
    return out


def receive_once(proto, shell_id, command_id):
    """One pywinrm Receive: (stdout, stderr, code, done); None on TimedOut."""
    try:
        return proto._raw_get_command_output(shell_id, command_id)
    except WinRMOperationTimeoutError:
        return None


def receive_until(proto, shell_id, command_id, pred, timeout=20):
    """Receive (accumulating) until pred(stdout, stderr) or the end."""
    out = err = b""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        r = receive_once(proto, shell_id, command_id)
        if r is None:
            continue
        o, e, code, done = r
        out += o
        err += e
        if pred(out, err) or done:
            return out, err, code, done
    raise AssertionError(f"no matching output within {timeout * SLOW:.0f}s: "
                         f"stdout={out!r} stderr={err!r}")


# ---- raw exchanges ------------------------------------------------------

class Raw:
    """pywinrm-shaped messages posted with http.client, one connection each."""

    def __init__(self, d, user, password, operation_timeout_sec=20):
        self.d = d
        self.auth = (user, password)
        # Only used to build headers; never sends anything.
        self.proto = Protocol(d.url, transport="plaintext", username=user,
                              password=password,
                              operation_timeout_sec=operation_timeout_sec,
                              read_timeout_sec=operation_timeout_sec + 1)
        self.http_timeout = (operation_timeout_sec + 10) * SLOW
        self.max_envelope_size = None  # None: pywinrm's 153600

    def call(self, action, shell_id=None, body=None, message_id=None,
             option_set=None):
        """(Reply, message id)."""
        xml, mid = build_message(self.proto, action, shell_id, body,
                                 message_id, option_set, self.max_envelope_size)
        reply = post(self.d.port, body=xml, auth=self.auth,
                     timeout=self.http_timeout)
        return reply, mid

    def create(self, **kw):
        reply, mid = self.call(ACT_CREATE, body=create_body(**kw), option_set=[
            ("WINRS_NOPROFILE", "FALSE"), ("WINRS_CODEPAGE", "437")])
        assert reply.status == 200, f"Create failed: {reply!r}"
        root = ET.fromstring(reply.body)
        sel = root.find("s:Body/{http://schemas.xmlsoap.org/ws/2004/09/transfer}"
                        "ResourceCreated/a:ReferenceParameters/w:SelectorSet/"
                        "w:Selector[@Name='ShellId']", NS)
        assert sel is not None and (sel.text or "").strip(), (
            f"CreateResponse without a ShellId selector: {reply!r}")
        return sel.text.strip(), reply, mid

    def command(self, shell_id, command, arguments=()):
        reply, mid = self.call(ACT_COMMAND, shell_id, command_body(command, arguments),
                               option_set=[("WINRS_CONSOLEMODE_STDIN", "TRUE"),
                                           ("WINRS_SKIP_CMD_SHELL", "FALSE")])
        return reply, mid

    def command_id(self, reply):
        assert reply.status == 200, f"Command failed: {reply!r}"
        cid = ET.fromstring(reply.body).find(
            "s:Body/rsp:CommandResponse/rsp:CommandId", RSP)
        assert cid is not None and (cid.text or "").strip(), (
            f"CommandResponse without CommandId: {reply!r}")
        return cid.text.strip()

    def send(self, shell_id, command_id, data, end=False):
        return self.call(ACT_SEND, shell_id, send_body(command_id, data, end))

    def receive(self, shell_id, command_id):
        return self.call(ACT_RECEIVE, shell_id, receive_body(command_id))

    def signal(self, shell_id, command_id, code):
        return self.call(ACT_SIGNAL, shell_id, signal_body(command_id, code))

    def delete(self, shell_id):
        return self.call(ACT_DELETE, shell_id)


class Received:
    def __init__(self, reply):
        assert reply.status == 200, f"Receive failed: {reply!r}"
        root = ET.fromstring(reply.body)
        rr = root.find("s:Body/rsp:ReceiveResponse", RSP)
        assert rr is not None, f"no rsp:ReceiveResponse: {reply!r}"
        self.stdout = b""
        self.stderr = b""
        self.ends = set()
        for s in rr.findall("rsp:Stream", RSP):
            data = base64.b64decode((s.text or "").encode("ascii"))
            if s.get("Name") == "stdout":
                self.stdout += data
            elif s.get("Name") == "stderr":
                self.stderr += data
            if (s.get("End") or "").lower() == "true":
                self.ends.add(s.get("Name"))
        st = rr.find("rsp:CommandState", RSP)
        assert st is not None, f"ReceiveResponse without rsp:CommandState: {reply!r}"
        self.state = st.get("State")
        ec = st.find("rsp:ExitCode", RSP)
        self.exit_code = int(ec.text) if ec is not None else None
        self.done = self.state == STATE_DONE

    def __repr__(self):
        return (f"Received(state={self.state!r}, exit={self.exit_code!r}, "
                f"out={self.stdout[:200]!r}, err={self.stderr[:200]!r}, ends={self.ends})")


def qname_ns(reply, qname):
    """Namespace of the prefix of a QName found in a reply's text."""
    if not qname or ":" not in qname:
        return None
    prefix = qname.split(":", 1)[0]
    m = re.search(r'xmlns:%s="([^"]*)"' % re.escape(prefix), reply.text)
    return m.group(1) if m else None


def fault_of(reply):
    """(Fault, reply) of a reply that must be a SOAP fault."""
    assert reply.status in (400, 500), f"expected a fault, got {reply!r}"
    return parse_fault(reply)


def is_timeout_error(e):
    return isinstance(e, WinRMOperationTimeoutError)


# ---- processes ----------------------------------------------------------

def pids_matching(pattern):
    """Pids (not ours) whose full command line contains pattern."""
    found = []
    me = os.getpid()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if pattern in cmd:
            found.append(int(p))
    return found


def proc_stat(pid):
    """(state, ppid) or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def children(ppid):
    """[(pid, state)] of the children of ppid."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        st = proc_stat(p)
        if st and st[1] == ppid:
            out.append((int(p), st[0]))
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_list(pid):
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return out


def wait_for(pred, timeout, step=0.1):
    """Poll pred() until true or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(step)
        v = pred()
    return v


__all__ = [n for n in dir() if not n.startswith("_")] + ["WinRMError"]
