"""winrs against a scripted WinRM server: HTTP framings http.c must read
(chunked, Connection: close, HTTP/1.0, 100 Continue, idle closes) and
Receive replies the streaming parser must hand to the tree path (wrapped,
unpadded, CDATA or character-reference base64; faults; a wrong RelatesTo;
an unknown mustUnderstand header). The output must be what it always was.

The client binary is $WINRS_BIN, default <repo>/build/winrs. No wsmd needed.
"""

import base64
import os
import re
import socket
import socketserver
import subprocess
import threading
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WINRS_BIN = os.environ.get("WINRS_BIN") or str(REPO_ROOT / "build" / "winrs")

DATA = (b"hello world\n" * 5000) + bytes(range(256)) * 40  # 70 KB, 4 replies
SHELL = "11111111-2222-3333-4444-555555555555"
CMD = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
NS = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
      'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
      'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"')
STATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/"
CHUNK = 20000


def envelope(relates, body, extra_header=""):
    return (f'<s:Envelope {NS}><s:Header><a:Action>x</a:Action>'
            f'<a:RelatesTo>{relates}</a:RelatesTo>{extra_header}</s:Header>'
            f'<s:Body>{body}</s:Body></s:Envelope>')


def b64(data, how):
    t = base64.b64encode(data).decode()
    if how == "wrapped":
        return "\r\n".join(t[i:i + 76] for i in range(0, len(t), 76))
    if how == "nopad":
        return t.rstrip("=")
    if how == "charref":
        return f"&#{ord(t[0])};{t[1:]}"
    if how == "cdata":
        return f"<![CDATA[{t}]]>"
    if how == "bad":
        return t[:10] + "!" + t[11:]
    return t


class Script(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, mode):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.receives = 0
        self.lock = threading.Lock()

    def receive_reply(self, relates):
        with self.lock:
            self.receives += 1
            k = self.receives
        chunk = DATA[(k - 1) * CHUNK:k * CHUNK]
        done = k * CHUNK >= len(DATA)
        out = ""
        if chunk:
            out += (f'<rsp:Stream Name="stdout" CommandId="{CMD}">'
                    f'{b64(chunk, self.mode)}</rsp:Stream>')
        if k == 1:
            out += (f'<rsp:Stream Name="stderr" CommandId="{CMD}">'
                    f'{base64.b64encode(b"err-text").decode()}</rsp:Stream>')
            out += ('<rsp:Stream Name="stdout" CommandId="99999999-2222-3333-4444-555555555555">'
                    f'{base64.b64encode(b"NOT-OURS").decode()}</rsp:Stream>')
        if done:
            out += (f'<rsp:CommandState CommandId="{CMD}" State="{STATE}Done">'
                    '<rsp:ExitCode> 5 </rsp:ExitCode></rsp:CommandState>')
        else:
            out += f'<rsp:CommandState CommandId="{CMD}" State="{STATE}Running"/>'
        body = f"<rsp:ReceiveResponse>{out}</rsp:ReceiveResponse>"
        header = ""
        if k == 2 and self.mode == "badrelates":
            relates = "uuid:00000000-0000-0000-0000-000000000000"
        if k == 2 and self.mode == "mustunderstand":
            header = '<x:Odd xmlns:x="urn:x" s:mustUnderstand="true">1</x:Odd>'
        if k == 2 and self.mode == "fault200":
            body = ('<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason>'
                    '<s:Text xml:lang="en-US">scripted fault</s:Text></s:Reason></s:Fault>')
        return envelope(relates, body, header)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        mode = self.server.mode
        served = 0
        while True:
            if not self.rfile.readline():
                return
            headers = {}
            while True:
                line = self.rfile.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                k, v = line.decode().split(":", 1)
                headers[k.strip().lower()] = v.strip()
            body = self.rfile.read(int(headers.get("content-length", "0"))).decode()
            if not headers.get("authorization", "").startswith("Basic "):
                self.wfile.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
                return
            mid = re.search(r"<a:MessageID>([^<]*)</a:MessageID>", body).group(1)
            action = re.search(r"<a:Action[^>]*>([^<]*)</a:Action>", body).group(1)
            verb = action.rsplit("/", 1)[1]
            if verb == "Create":
                out = envelope(mid, f"<rsp:Shell><rsp:ShellId>{SHELL}</rsp:ShellId></rsp:Shell>")
            elif verb == "Command":
                out = envelope(mid, "<rsp:CommandResponse><rsp:CommandId>"
                                    f"{CMD}</rsp:CommandId></rsp:CommandResponse>")
            elif verb == "Receive":
                out = self.server.receive_reply(mid)
            else:
                out = envelope(mid, "")
            data = out.encode()
            close = mode in ("close", "http10")
            if mode == "chunked":
                parts = [data[i:i + 777] for i in range(0, len(data), 777)]
                payload = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts)
                payload += b"0\r\nX-Trailer: y\r\n\r\n"
                head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            elif mode == "http10":
                payload = data
                head = "HTTP/1.0 200 OK\r\nContent-Type: application/soap+xml\r\n\r\n"
            else:
                payload = data
                head = ("HTTP/1.1 100 Continue\r\n\r\n" if mode == "continue" else "")
                head += f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n"
                head += "Connection: close\r\n\r\n" if close else "\r\n"
            self.wfile.write(head.encode() + payload)
            self.wfile.flush()
            served += 1
            if close or (mode == "idleclose" and served % 2 == 0):
                return


def winrs_bin():
    if not (os.path.isfile(WINRS_BIN) and os.access(WINRS_BIN, os.X_OK)):
        pytest.skip(f"winrs binary not built: {WINRS_BIN}")
    return WINRS_BIN


def run(mode):
    srv = Script(mode)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
        env.update(WSM_PASSWORD="x", no_proxy="*")
        return subprocess.run([winrs_bin(), f"-r:http://127.0.0.1:{srv.server_address[1]}/wsman",
                               "-u:u", "cmd"], stdin=subprocess.DEVNULL, capture_output=True,
                              env=env, timeout=60)
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("mode", ["plain", "chunked", "close", "http10", "continue",
                                  "idleclose", "wrapped", "nopad", "charref", "cdata"])
def test_output_arrives_whole(mode):
    cp = run(mode)
    assert cp.returncode == 5, (cp.returncode, cp.stderr)
    assert cp.stdout == DATA, (len(cp.stdout), cp.stderr)
    assert cp.stderr == b"err-text", cp.stderr


@pytest.mark.parametrize("mode,message", [
    ("bad", b"bad base64 in the stdout stream"),
    ("badrelates", b"is not the request's MessageID"),
    ("mustunderstand", b"mustUnderstand"),
    ("fault200", b"scripted fault"),
])
def test_refused_replies(mode, message):
    cp = run(mode)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert message in cp.stderr, cp.stderr
    assert cp.stderr.startswith(b"err-text" if mode != "bad" else b"winrs: "), cp.stderr
    # Nothing of a refused reply reaches stdout; what came before did.
    assert cp.stdout == (b"" if mode == "bad" else DATA[:CHUNK]), len(cp.stdout)
