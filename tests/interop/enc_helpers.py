"""Raw shell exchanges with a Create that carries WINRS_CODEPAGE and,
optionally, the CompressionType header (MS-WSMV 3.2.4.1.19), for
test_shell_compress.py and test_shell_codepage.py."""

import base64
import time
import xml.etree.ElementTree as ET

from shell_helpers import (ACT_CREATE, RSP, SHELL_NS, SLOW, STATE_DONE, Raw,
                           build_message, create_body)
from wsman_helpers import NS, post
import xpress

COMPRESSION = ('<rsp:CompressionType xmlns:rsp="%s" env:mustUnderstand="true">%s'
               '</rsp:CompressionType>')


class EncRaw(Raw):
    """Raw with the shell's code page and compression; Send and Receive
    frame and unframe Xpress blocks themselves when compressed."""

    def __init__(self, d, user, password, codepage="437", compression=None):
        super().__init__(d, user, password)
        self.codepage = codepage
        self.compression = compression
        self.elements = []  # the raw stream elements of the last Receive

    def create_reply(self):
        xml, mid = build_message(self.proto, ACT_CREATE, body=create_body(), option_set=[
            ("WINRS_NOPROFILE", "FALSE"), ("WINRS_CODEPAGE", self.codepage)])
        if self.compression is not None:
            xml = xml.replace("</env:Header>",
                              COMPRESSION % (SHELL_NS, self.compression) + "</env:Header>", 1)
        return post(self.d.port, body=xml, auth=self.auth, timeout=self.http_timeout)

    def open(self):
        reply = self.create_reply()
        assert reply.status == 200, f"Create failed: {reply!r}"
        sel = ET.fromstring(reply.body).find(
            "s:Body/{http://schemas.xmlsoap.org/ws/2004/09/transfer}ResourceCreated/"
            "a:ReferenceParameters/w:SelectorSet/w:Selector[@Name='ShellId']", NS)
        return sel.text.strip()

    def send_data(self, shell_id, command_id, data, end=False):
        wire = xpress.frame(data) if self.compression else data
        reply, _ = self.send(shell_id, command_id, wire, end)
        return reply

    def receive_all(self, shell_id, command_id, timeout=30):
        """(stdout, stderr, exit code, [(name, raw element bytes)...])."""
        out, err, elements = b"", b"", []
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            reply, _ = self.receive(shell_id, command_id)
            if reply.status != 200:
                assert b"2150858793" in reply.body, f"Receive failed: {reply!r}"
                continue
            rr = ET.fromstring(reply.body).find("s:Body/rsp:ReceiveResponse", RSP)
            for s in rr.findall("rsp:Stream", RSP):
                raw = base64.b64decode((s.text or "").encode("ascii"))
                if not raw:
                    continue
                elements.append((s.get("Name"), raw))
                data = xpress.unframe(raw) if self.compression else raw
                if s.get("Name") == "stdout":
                    out += data
                else:
                    err += data
            st = rr.find("rsp:CommandState", RSP)
            if st.get("State") == STATE_DONE:
                return out, err, int(st.find("rsp:ExitCode", RSP).text), elements
        raise AssertionError(f"command not done: out={out[:200]!r} err={err[:200]!r}")

    def run(self, shell_id, command, stdin=None):
        cid = self.command_id(self.command(shell_id, command)[0])
        if stdin is not None:
            reply = self.send_data(shell_id, cid, stdin, end=True)
            assert reply.status == 200, f"Send failed: {reply!r}"
        return self.receive_all(shell_id, cid)
