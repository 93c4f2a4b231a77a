"""A small scripted HTTP server for client tests: it answers our winrm and
winrs with replies recorded from (or written like) servers we did not write
-- OMI, OpenWSMAN -- one request at a time, and keeps what it was sent.

ScriptedServer(answer): answer(req) returns the whole HTTP response as
bytes, or CLOSE to close the connection without a word. req has .method,
.path, .headers (lower-case names), .body, .conn (the connection's number)
and .index (the request's number on its connection).

OmiRelay(port, mode): a relay in front of a real wsmd that behaves as OMI
1.9.1 does with message encryption: it closes the connection on a
multipart/encrypted request whose MIME part headers start with a tab
(mode "tab"), or on every encrypted request (mode "all"); everything else
is passed through.
"""

import re
import socket
import threading

CLOSE = object()


class Request:
    def __init__(self, method, path, headers, body, conn, index):
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.conn, self.index = conn, index


def http_response(status, body=b"", reason=None, headers=(), close=False,
                  content_type="application/soap+xml;charset=UTF-8"):
    """A Content-Length framed response. reason defaults to a plain one."""
    if isinstance(body, str):
        body = body.encode()
    reason = reason if reason is not None else {200: "OK", 401: "Unauthorized",
                                                500: "Internal Server Error"}.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}"]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    lines += list(headers)
    if close:
        lines.append("Connection: Close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_message(sock, buf):
    """One HTTP message (head, body) from sock with buf holding bytes read
    ahead; (None, None) at the end of the stream. Content-Length or
    chunked framing."""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(65536)
        if not b:
            return None, None
        buf += b
    end = buf.index(b"\r\n\r\n")
    head = bytes(buf[:end])
    del buf[:end + 4]
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if m:
        size = int(m.group(1))
        while len(buf) < size:
            b = sock.recv(65536)
            if not b:
                return None, None
            buf += b
        body = bytes(buf[:size])
        del buf[:size]
        return head, body
    if re.search(rb"(?i)\r\ntransfer-encoding:\s*chunked", head):
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                b = sock.recv(65536)
                if not b:
                    return None, None
                buf += b
            i = buf.index(b"\r\n")
            n = int(bytes(buf[:i]).split(b";")[0], 16)
            while len(buf) < i + 2 + n + 2:
                b = sock.recv(65536)
                if not b:
                    return None, None
                buf += b
            body += buf[i + 2:i + 2 + n]
            del buf[:i + 2 + n + 2]
            if n == 0:
                return head, bytes(body)
    return head, b""


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return method, path, headers


class _Base:
    def __init__(self):
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/wsman"
        self.nconn = 0
        self.open = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                n = self.nconn
                self.nconn += 1
                self.open.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def close(self):
        self.sock.close()
        with self.lock:
            for c in self.open:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass


class ScriptedServer(_Base):
    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        super().__init__()

    def _serve(self, c, n):
        buf = bytearray()
        index = 0
        try:
            while True:
                head, body = _read_message(c, buf)
                if head is None:
                    break
                method, path, headers = _parse_head(head)
                req = Request(method, path, headers, body, n, index)
                index += 1
                with self.lock:
                    self.requests.append(req)
                out = self.answer(req)
                if out is CLOSE:
                    break
                c.sendall(out)
                if re.search(rb"(?i)\r\nconnection:\s*close", out.split(b"\r\n\r\n")[0]):
                    break
        except OSError:
            pass
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        c.close()


def tab_before_part_headers(body):
    """Whether a multipart/encrypted body's MIME part headers begin with a
    tab (as MS-WSMV's examples, Windows and pywinrm write them)."""
    return b"--Encrypted Boundary\r\n\t" in body


class OmiRelay(_Base):
    def __init__(self, target_port, mode="tab"):
        self.target = target_port
        self.mode = mode
        self.dropped = 0  # encrypted requests closed on
        self.passed = []  # (head, body) of encrypted requests passed on
        super().__init__()

    def _serve(self, c, n):
        up = socket.create_connection(("127.0.0.1", self.target))
        cbuf, ubuf = bytearray(), bytearray()
        try:
            while True:
                head, body = _read_message(c, cbuf)
                if head is None:
                    break
                sealed = b"multipart/encrypted" in head.lower() and body
                if sealed and (self.mode == "all" or tab_before_part_headers(body)):
                    with self.lock:
                        self.dropped += 1
                    break
                if sealed:
                    with self.lock:
                        self.passed.append((head, body))
                up.sendall(head + b"\r\n\r\n" + body)
                rhead, rbody = _read_message(up, ubuf)
                if rhead is None:
                    break
                # Passed on Content-Length framed (the body was de-chunked).
                rhead = re.sub(rb"(?i)\r\ntransfer-encoding:[^\r]*", b"", rhead)
                rhead = re.sub(rb"(?i)\r\ncontent-length:[^\r]*", b"", rhead)
                rhead += b"\r\nContent-Length: %d" % len(rbody)
                c.sendall(rhead + b"\r\n\r\n" + rbody)
        except OSError:
            pass
        for s in (c, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
