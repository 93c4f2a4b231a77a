#!/usr/bin/python3
"""wefsim: a Windows Event Forwarding source, for the tests and the benchmark.

Plays what a Windows machine configured by GPO with
`Server=http://COLLECTOR:PORT/wsman/SubscriptionManager/WEC` does (facts from
DSP0226 chapter 10, MS-WSMV, and the decoded capture of a Windows 10 source
and a Windows Event Collector in cea-sec/openwec doc/protocol.md):

1. Transport: one persistent HTTP/1.1 connection per endpoint
   (http.client); the security context lives as long as the connection.
   HTTPS with a client certificate (ssl) is the third way in.
2. Authentication (python3-gssapi): the machine principal NAME$@REALM,
   from a keytab (as a domain member holds it), a password or a ccache.
   Scheme `Kerberos`: the raw krb5 mechanism, `Authorization: Kerberos
   <AP-REQ>` on an empty-body POST (as Windows does), the AP-REP in the
   200's `WWW-Authenticate: Kerberos`. Scheme `Negotiate`: the same with
   SPNEGO. Scheme `cert`: `Authorization: .../secprofile/https/mutual`
   and the TLS client certificate. Scheme `none`: no authentication at
   all (stub servers in tests only).
3. Message encryption over HTTP: `multipart/encrypted` with
   protocol="application/HTTP-Kerberos-session-encrypted" (Kerberos) or
   "application/HTTP-SPNEGO-session-encrypted" (Negotiate): a part with
   Content-Type and OriginalContent (type, charset, Length of the plain
   bytes), then an application/octet-stream part holding the 4-byte
   little-endian length of the wrap token's header, that header, and the
   sealed bytes (gss_wrap_iov: HEADER, DATA sealed in place, PADDING; with
   AES the header is 60 bytes, RRC 28, EC 0, as in the capture).
4. Bodies: UTF-16LE with a BOM (Windows' default) or UTF-8; deliveries
   compressed with SLDC (tests/interop/sldc.py, imported when needed) and
   marked `Content-Encoding: SLDC` on every request of the connection when
   the subscription asks for Compression SLDC (or when forced).
5. The flow: Enumerate on the GPO path -> Subscriptions (wefsim_xml),
   `.../wsman/End` (204); then to each NotifyTo: event 111 first for a new
   subscription without bookmark, Events batches with the echoed reference
   properties, a Bookmark and AckRequested, Heartbeats, SubscriptionEnd.
   Each Ack must have Action .../wsman/Ack and RelatesTo = our MessageID;
   without one the batch is sent again (the same envelope, same MessageID)
   on a new connection, up to `retries` times.

API (import from tests and bench):

    src = Source("localhost", port, principal="WS1$@WSMD.TEST", keytab=kt,
                 scheme="Kerberos", address="127.0.0.1")
    subs = src.enumerate(); src.end()
    src.deliver(subs[0], batches=10, per_batch=50)   # 111, then batches
    src.heartbeat(subs[0]); src.subscription_end(subs[0]); src.close()

CLI: `python3 tests/interop/wefsim.py --help` (K sources in parallel, N
batches of M events each, a JSON summary on stdout). For a benchmark:
`--fast` (template events), `--processes` (one process per source: the GIL),
`--sldc-tool build/tests/unit/sldc-tool` (sldc.py compresses at under
1 MB/s). Note that with UTF-16 bodies a batch of 500 typical events is
about 950 KB: with MaxEnvelopeSize 512000 it goes as two messages, as a
Windows source's would.
"""

import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Re-exported: one import for users.
from wefsim_events import *  # noqa: E402,F401,F403
from wefsim_wire import *  # noqa: E402,F401,F403
from wefsim_xml import *  # noqa: E402,F401,F403
from wefsim_events import EventGen, event_111  # noqa: E402
from wefsim_wire import (PROTO, USER_AGENT, AckError, Channel, HttpError,  # noqa: E402
                         SimError, SldcUnavailable, gss_credentials)
from wefsim_xml import (A_ACK, A_HEARTBEAT, GPO_PATH, MAX_ENVELOPE, NS_A,  # noqa: E402
                        bookmark_xml, end_envelope, enumerate_envelope, events_envelope,
                        header_text, identify_envelope, message_id, parse_enumerate_response,
                        subscription_end_envelope)

# ---- the source ---------------------------------------------------------------------

class Ack:
    """A delivery's answer: status 200 with the Ack (relates_to = our
    MessageID), or 204 where that is accepted (SubscriptionEnd)."""

    def __init__(self, mid, relates_to, attempts, elapsed, status=200):
        self.message_id, self.relates_to = mid, relates_to
        self.attempts, self.elapsed, self.status = attempts, elapsed, status


class Source:
    """A Windows Event Forwarding source (see the module docstring).

    host, port: the collector as named in the GPO (also the Kerberos service
    host, HTTP@host, unless service_host is given); address: where to
    connect (default: host). scheme: Kerberos | Negotiate | cert | none.
    Credentials: principal + keytab | password | ccache. https, cert, key,
    cafile: TLS (cert/key: the client certificate). utf16: bodies in
    UTF-16LE with BOM (else UTF-8). sldc: "auto" (as the subscription's
    Compression option asks), True, False, or "flag" (the header, no
    compression); sldc_tool: compress with that sldc-tool binary instead
    of sldc.py. fast: the event generator's template mode (benchmarks).
    encrypt: seal bodies (default: over plain HTTP with
    Kerberos/Negotiate). machine_id: the FQDN (default from the principal
    NAME$@REALM -> name.realm, lower case, or the certificate's name).
    """

    def __init__(self, host, port, principal=None, keytab=None, password=None, ccache=None,
                 scheme="Kerberos", https=False, cert=None, key=None, cafile=None, utf16=True,
                 sldc="auto", encrypt=None, machine_id=None, service="HTTP", service_host=None,
                 address=None, path=GPO_PATH, timeout=30, retries=2, retry_delay=0.0,
                 user_agent=USER_AGENT, rendered=False, seed=None, record_start=1000,
                 fast=False, sldc_tool=None):
        if scheme not in ("Kerberos", "Negotiate", "cert", "none"):
            raise ValueError("scheme: Kerberos, Negotiate, cert or none")
        if scheme == "cert" and not (https and cert):
            raise ValueError("scheme cert needs https=True and cert=")
        self.host, self.port, self.address = host, port, address
        self.principal, self.keytab = principal, keytab
        self.password, self.ccache = password, ccache
        self.scheme, self.https = scheme, https
        self.cert, self.key, self.cafile = cert, key, cafile
        self.utf16, self.sldc, self.sldc_tool = utf16, sldc, sldc_tool
        self.encrypt = (scheme in PROTO and not https) if encrypt is None else encrypt
        self.service, self.service_host = service, service_host
        self.path, self.timeout = path, timeout
        self.retries, self.retry_delay = retries, retry_delay
        self.user_agent = user_agent
        if machine_id is None:
            if principal:
                short, _, realm = principal.partition("@")
                machine_id = (short.rstrip("$") + ("." + realm if realm else "")).lower()
            else:
                machine_id = socket.getfqdn()
        self.machine_id = machine_id
        self.gen = EventGen(machine_id, start=record_start, seed=seed, rendered=rendered,
                            fast=fast)
        self.session_id = message_id()
        self._creds = None
        self._tls = None
        self.channels = {}
        self.operation_id = None
        self.sent_111 = set()
        self.applied = set()
        self.positions = {}  # subscription id -> {channel: last RecordId acknowledged}
        self.stats = {"requests": 0, "batches": 0, "events": 0, "resends": 0, "heartbeats": 0}
        self.latencies = []

    # -- plumbing ---------------------------------------------------------------

    def creds(self):
        if self._creds is None and (self.keytab or self.password is not None or self.ccache):
            self._creds = gss_credentials(self.principal, self.keytab, self.password,
                                          self.ccache)
        return self._creds

    def tls_context(self):
        if self._tls is None:
            c = ssl.create_default_context(cafile=self.cafile)
            if self.cert:
                c.load_cert_chain(self.cert, self.key)
            self._tls = c
        return self._tls

    def channel(self, host=None, port=None):
        k = ((host or self.host).lower(), port or self.port)
        if k not in self.channels:
            self.channels[k] = Channel(self, *k)
        return self.channels[k]

    def drop(self, host=None, port=None):
        ch = self.channels.pop(((host or self.host).lower(), port or self.port), None)
        if ch:
            ch.close()

    def close(self):
        for ch in self.channels.values():
            ch.close()
        self.channels.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def post(self, path, text, host=None, port=None, compress=False, retry=True):
        """One message on the endpoint's connection; a dropped connection
        or context (401 after a handshake) gets one new connection (unless
        retry is False: deliveries count their own resends)."""
        for attempt in (0, 1) if retry else (1,):
            ch = self.channel(host, port)
            had_ctx = ch.ctx is not None
            try:
                r = ch.request(path, text, compress)
            except (http.client.HTTPException, ConnectionError, socket.timeout, OSError) as e:
                self.drop(host, port)
                if attempt:
                    raise SimError("%s:%s%s: %s: %s" % (host or self.host, port or self.port,
                                                       path, type(e).__name__, e)) from e
                continue
            self.stats["requests"] += 1
            if r.status == 401 and had_ctx and not attempt:
                self.drop(host, port)
                continue
            return r
        return r

    def url(self, path=""):
        return "%s://%s:%d%s" % ("https" if self.https else "http", self.host, self.port, path)

    # -- operations ---------------------------------------------------------------

    def identify(self, path="/wsman"):
        return self.post(path, identify_envelope())

    def enumerate(self, max_elements=32000):
        """Enumerate the GPO path: the list of Subscriptions (wefsim_xml)."""
        self.operation_id = message_id()
        mid = message_id()
        text = enumerate_envelope(self.url(self.path), mid, self.machine_id, max_elements,
                                  session_id=self.session_id, operation_id=self.operation_id)
        r = self.post(self.path, text)
        if r.status != 200:
            raise HttpError(r.status, "Enumerate", r.body)
        _, header, _ = r.envelope()
        rel = header_text(header, NS_A, "RelatesTo")
        if rel != mid:
            raise SimError("EnumerateResponse RelatesTo %r, sent %r" % (rel, mid))
        return parse_enumerate_response(r.text)

    def end(self):
        """.../wsman/End on the enumeration's connection (expects 204), then
        closes that connection as Windows does."""
        r = self.post(self.path, end_envelope(message_id(), self.operation_id or message_id()))
        self.drop()
        return r.status

    def _endpoint(self, sub):
        u = urlsplit(sub.notify_to)
        if u.scheme.lower() != ("https" if self.https else "http"):
            raise SimError("NotifyTo %s does not match our transport" % sub.notify_to)
        return u.hostname, u.port or (5986 if self.https else 5985), u.path or "/"

    def _compress(self, sub):
        if self.sldc == "auto":
            return (sub.compression or "").upper() == "SLDC" if sub else False
        return self.sldc

    def _deliver(self, sub, text, mid, what, allow_204=False):
        """Send a delivery and check its Ack; resend the same message on a
        new connection when there is none (up to self.retries times)."""
        host, port, path = self._endpoint(sub)
        t0 = time.monotonic()
        last = None
        for attempt in range(1 + self.retries):
            if attempt:
                self.stats["resends"] += 1
                self.drop(host, port)
                if self.retry_delay:
                    time.sleep(self.retry_delay)
            try:
                r = self.post(path, text, host, port, self._compress(sub), retry=False)
            except SldcUnavailable:
                raise
            except SimError as e:
                last = str(e)
                continue
            if r.status == 204 and allow_204:
                return Ack(mid, None, attempt + 1, time.monotonic() - t0, status=204)
            if r.status != 200:
                last = "HTTP %d %s" % (r.status, r.text[:300])
                continue
            try:
                _, header, _ = r.envelope()
            except Exception as e:  # noqa: BLE001 - any parse failure is "no Ack"
                last = "reply not XML: %s" % e
                continue
            action = header_text(header, NS_A, "Action")
            rel = header_text(header, NS_A, "RelatesTo")
            if action != A_ACK or rel != mid:
                last = "not our Ack: Action=%s RelatesTo=%s (sent %s)" % (action, rel, mid)
                continue
            el = time.monotonic() - t0
            self.latencies.append(el)
            return Ack(mid, rel, attempt + 1, el)
        raise AckError("%s to %s: no Ack after %d attempts: %s"
                       % (what, sub.notify_to, 1 + self.retries, last))

    def send_batch(self, sub, events, bookmark=None, ack=True):
        """One Events message (events: event XML strings); bookmark:
        BookmarkList XML or a {channel: RecordId} dict."""
        if isinstance(bookmark, dict):
            bookmark = bookmark_xml(bookmark)
        mid = message_id()
        text = events_envelope(sub.notify_to, mid, self.machine_id, sub.refs_xml, events,
                               bookmark, ack=ack, session_id=self.session_id)
        a = self._deliver(sub, text, mid, "Events")
        self.stats["batches"] += 1
        self.stats["events"] += len(events)
        return a

    def heartbeat(self, sub):
        mid = message_id()
        text = events_envelope(sub.notify_to, mid, self.machine_id, sub.refs_xml, [],
                               action=A_HEARTBEAT, session_id=self.session_id)
        a = self._deliver(sub, text, mid, "Heartbeat")
        self.stats["heartbeats"] += 1
        return a

    def subscription_end(self, sub, reason="Windows Event Forward Plugin failed to read events."):
        """SubscriptionEnd (Status SourceCancelling) with AckRequested. The
        answer may be the Ack (DSP0226: AckRequested asks for one) or a bare
        204: a source going away does not insist; Ack.status tells which."""
        mid = message_id()
        text = subscription_end_envelope(
            sub.end_to or sub.notify_to, mid, self.machine_id, sub.refs_xml,
            sub.end_to or sub.notify_to, sub.end_to_refs_xml or sub.refs_xml, reason=reason,
            session_id=self.session_id)
        return self._deliver(sub, text, mid, "SubscriptionEnd", allow_204=True)

    def deliver(self, sub, batches=1, per_batch=None, channels=None, inject_control=None,
                malformed=None):
        """What a source does for a subscription: event 111 first (a new
        subscription without bookmark, once per Version), then `batches`
        Events messages of per_batch events (default and bound: the
        subscription's MaxElements, else 20) over the subscription's
        channels (Security and System if it names none), each with the
        Bookmark of the source's position. inject_control / malformed:
        (batch, index) of an event to spoil. Returns the Acks."""
        acks = []
        pos = self.positions.setdefault(sub.id, {})
        key = (sub.id, sub.version, tuple(sorted((sub.bookmark or {}).items())))
        if sub.bookmark and key not in self.applied:
            # The collector's bookmark: read on from there (events it has
            # not acknowledged are sent again, as Windows does).
            self.applied.add(key)
            for ch, rid in sub.bookmark.items():
                self.gen.next_id[ch] = rid + 1
                pos[ch] = rid
        channels = [c for c in (channels or sub.channels or ["Security", "System"]) if c]
        if not sub.bookmark and not sub.bookmark_earliest and sub.version not in self.sent_111:
            for ch in channels:
                pos.setdefault(ch, self.gen.next_id.get(ch, self.gen.start) - 1)
            acks.append(self.send_batch(sub, [event_111(self.machine_id)],
                                        bookmark_xml(pos) if pos else None))
            self.sent_111.add(sub.version)
        n = per_batch or sub.max_elements or 20
        if sub.max_elements:
            n = min(n, sub.max_elements)
        for b in range(batches):
            ic = inject_control[1] if inject_control and inject_control[0] == b else None
            mf = malformed[1] if malformed and malformed[0] == b else None
            meta = self.gen.batch_meta(n, channels, inject_control_at=ic, malformed_at=mf)
            for chunk in self._fit(sub, meta):
                for _, ch, rid in chunk:
                    pos[ch] = rid
                acks.append(self.send_batch(sub, [m[0] for m in chunk],
                                            bookmark_xml(pos, current=chunk[-1][1])))
        return acks

    def _fit(self, sub, meta):
        """Split a batch so that each envelope stays within the
        subscription's MaxEnvelopeSize (as encoded: UTF-16 doubles it)."""
        limit = sub.max_envelope or MAX_ENVELOPE
        per_char = 2 if self.utf16 else 1
        overhead = 4096 * per_char  # headers, bookmark, wrapping
        chunk, size = [], overhead
        for m in meta:
            sz = (len(m[0]) + 120) * per_char
            if chunk and size + sz > limit:
                yield chunk
                chunk, size = [], overhead
            chunk.append(m)
            size += sz
        if chunk:
            yield chunk


# ---- the CLI -----------------------------------------------------------------------

def _one(i, a):
    """Source number i (1-based) of the CLI: enumerate, deliver, report."""
    def sub_i(v):
        return v.replace("{i}", str(i)) if isinstance(v, str) else v
    out = {"source": i, "error": None}
    src = Source(a.host, a.port, principal=sub_i(a.principal), keytab=sub_i(a.keytab),
                 password=a.password, ccache=a.ccache, scheme=a.scheme, https=a.https,
                 cert=sub_i(a.cert), key=sub_i(a.key), cafile=a.cafile, utf16=not a.utf8,
                 sldc={"auto": "auto", "on": True, "off": False, "flag": "flag"}[a.sldc],
                 encrypt=False if a.no_encrypt else None, machine_id=sub_i(a.machine_id),
                 address=a.address, path=a.path, timeout=a.timeout, retries=a.retries,
                 rendered=a.rendered, seed=i, fast=a.fast, sldc_tool=a.sldc_tool)
    t0 = time.monotonic()
    try:
        if a.identify:
            r = src.identify()
            out["identify"] = r.status
            return out
        subs = src.enumerate()
        out["subscriptions"] = [s.name or s.id for s in subs]
        out["end"] = src.end()
        for s in subs:
            src.deliver(s, batches=a.batches, per_batch=a.events,
                        inject_control=(0, 0) if a.inject_control else None,
                        malformed=(0, 1) if a.malformed else None)
            if a.heartbeat:
                src.heartbeat(s)
            if a.subscription_end:
                src.subscription_end(s)
    except SimError as e:
        out["error"] = str(e)
    finally:
        out["elapsed"] = time.monotonic() - t0
        out.update(src.stats)
        out["latencies"] = src.latencies
        src.close()
    return out


def _pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="A Windows Event Forwarding source: Enumerate the GPO path, then deliver "
                    "N batches of M events to each subscription, from K sources in parallel. "
                    "In --principal, --keytab, --cert, --key and --machine-id, {i} stands for "
                    "the source's number (1..K). Prints a JSON summary.")
    ap.add_argument("--host", default="localhost", help="collector name (URL, HTTP@host)")
    ap.add_argument("--port", type=int, default=5985)
    ap.add_argument("--address", help="connect there instead of resolving --host")
    ap.add_argument("--path", default=GPO_PATH)
    ap.add_argument("--scheme", default="Kerberos",
                    choices=["Kerberos", "Negotiate", "cert", "none"])
    ap.add_argument("--principal", help="e.g. 'WS{i}$@WSMD.TEST'")
    ap.add_argument("--keytab", help="keytab holding the principal(s)")
    ap.add_argument("--password")
    ap.add_argument("--ccache")
    ap.add_argument("--https", action="store_true")
    ap.add_argument("--cert", help="client certificate (PEM)")
    ap.add_argument("--key", help="its key (PEM)")
    ap.add_argument("--cafile", help="CA of the collector's certificate")
    ap.add_argument("--machine-id", help="FQDN (default from the principal)")
    ap.add_argument("--utf8", action="store_true", help="UTF-8 bodies (default UTF-16LE+BOM)")
    ap.add_argument("--sldc", default="auto", choices=["auto", "on", "off", "flag"])
    ap.add_argument("--sldc-tool", default=os.environ.get("SLDC_TOOL"),
                    help="compress with this sldc-tool (C) instead of sldc.py "
                         "(default: $SLDC_TOOL)")
    ap.add_argument("--no-encrypt", action="store_true", help="plain bodies after the handshake")
    ap.add_argument("--rendered", action="store_true", help="RenderingInfo in events")
    ap.add_argument("--fast", action="store_true",
                    help="events from a few templates per channel (about 4x the rate; "
                         "for benchmarks)")
    ap.add_argument("--sources", "-k", type=int, default=1)
    ap.add_argument("--batches", "-n", type=int, default=1)
    ap.add_argument("--events", "-m", type=int, default=None,
                    help="events per batch (default: the subscription's MaxElements or 20)")
    ap.add_argument("--heartbeat", action="store_true", help="a Heartbeat after the batches")
    ap.add_argument("--subscription-end", action="store_true", help="SubscriptionEnd at the end")
    ap.add_argument("--inject-control", action="store_true",
                    help="U+0005 in the first event of the first batch")
    ap.add_argument("--malformed", action="store_true",
                    help="the second event of the first batch not well-formed")
    ap.add_argument("--identify", action="store_true", help="only an Identify on /wsman")
    ap.add_argument("--processes", action="store_true",
                    help="one process per source (else threads: the GIL bounds the rate)")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--retries", type=int, default=2)
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    if a.processes and a.sources > 1:
        import concurrent.futures as cf
        import multiprocessing
        with cf.ProcessPoolExecutor(a.sources,
                                    mp_context=multiprocessing.get_context("fork")) as ex:
            results = list(ex.map(_one, range(1, a.sources + 1), [a] * a.sources))
    else:
        results = [None] * a.sources

        def run(i):
            results[i - 1] = _one(i, a)
        ts = [threading.Thread(target=run, args=(i,)) for i in range(1, a.sources + 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    wall = time.monotonic() - t0
    lat = [x for r in results for x in r.pop("latencies")]
    events = sum(r["events"] for r in results)
    summary = {"sources": a.sources, "errors": [r["error"] for r in results if r["error"]],
               "events": events, "batches": sum(r["batches"] for r in results),
               "resends": sum(r["resends"] for r in results), "wall_s": round(wall, 3),
               "events_per_s": round(events / wall, 1) if wall > 0 else None,
               "ack_p50_ms": round(_pct(lat, 50) * 1000, 2) if lat else None,
               "ack_p99_ms": round(_pct(lat, 99) * 1000, 2) if lat else None,
               "per_source": results}
    print(json.dumps(summary))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
