"""Long NTLM-sealed exchanges on one connection with python3-winrm.

wsmd seals and unseals NTLM bodies itself (src/lib/ntlmseal.c, nettle) after
gss-ntlmssp's handshake: one RC4 state and one sequence number per direction
for the life of the connection. pywinrm (ntlm-auth) keeps its own; a single
message out of step would fail its signature check or wsmd's. These tests
send hundreds of sealed requests on one authenticated connection (no second
handshake: no Authorization header after the first) and check that wsmd
sealed them without falling back to GSSAPI.

As in test_ntlm.py, the pywinrm clients run as child processes (this file
run as a script) with an OPENSSL_CONF that enables MD4 (legacy provider).
"""

import base64
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if __name__ != "__main__":
    from wsman_helpers import IDENTIFY_BODY, PASSWORD, USER, post
    from child_client import run_child
    from test_ntlm import need_negotiate

SPNEGO_CT = ('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
             'boundary="Encrypted Boundary"')


# ---- the client side, run as a child process --------------------------------

def _watch(session, seen):
    orig = session.send

    def send(req, **kw):
        seen["req"].append(req.headers.get("Content-Type"))
        seen["authz"].append((req.headers.get("Authorization") or "").split(" ")[0])
        r = orig(req, **kw)
        seen["resp"].append([r.status_code, r.headers.get("Content-Type")])
        return r
    session.send = send


def _client_identify_many(url, user, password, body, count):
    from winrm.transport import Transport
    t = Transport(endpoint=url, username=user, password=password, auth_method="ntlm",
                  message_encryption="auto")
    t.build_session()
    seen = {"req": [], "resp": [], "authz": []}
    _watch(t.session, seen)
    ok = 0
    for _ in range(count):
        text = t.send_message(body)
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        ok += "IdentifyResponse" in text
    return {"ok": ok, "encrypted": t.encryption is not None, "seen": seen}


def _client_shell_many(url, user, password, script, rounds):
    import winrm
    p = winrm.Protocol(url, transport="ntlm", username=user, password=password,
                       message_encryption="auto", read_timeout_sec=70, operation_timeout_sec=60)
    p.transport.build_session()
    seen = {"req": [], "resp": [], "authz": []}
    _watch(p.transport.session, seen)
    shell = p.open_shell()
    outs = []
    for _ in range(rounds):
        cid = p.run_command(shell, script)  # a command line, run by /bin/sh
        so, se, code = p.get_command_output(shell, cid)
        p.cleanup_command(shell, cid)
        outs.append([base64.b64encode(so).decode(), code])
    p.close_shell(shell)
    return {"outs": outs, "encrypted": p.transport.encryption is not None, "seen": seen}


if __name__ == "__main__":
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    try:
        out = {"identify": _client_identify_many, "shell": _client_shell_many}[mode](**args)
    except Exception as e:  # reported to the test, which asserts on it
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))
    sys.exit(0)


# ---- the test side ------------------------------------------------------------

def client(env, mode, timeout=300, **args):
    return run_child(__file__, env, mode, timeout, **args)


def assert_sealed_in_step(d, seen, n, logged=None):
    # Every request and reply sealed, on the connection of the one handshake;
    # logged: how many have a log line (successful Receives have none).
    assert len(seen["req"]) == n, seen
    assert set(seen["req"]) == {SPNEGO_CT}, seen
    assert all(st == 200 and ct == SPNEGO_CT for st, ct in seen["resp"]), seen
    assert set(seen["authz"]) == {""}, seen
    log = d.log()
    # wsmd sealed them with ntlmseal.c, not through GSSAPI.
    assert "NTLM sealing through GSSAPI" not in log, log[-3000:]
    assert log.count(" sealed=1") >= (n if logged is None else logged), log[-3000:]


def test_pywinrm_many_identify_one_connection(wsmd, legacy_env):
    need_negotiate(wsmd)
    n = 400
    r = client(legacy_env, "identify", url=wsmd.url, user=USER, password=PASSWORD,
               body=IDENTIFY_BODY, count=n)
    assert "error" not in r, r
    assert r["encrypted"], r
    assert r["ok"] == n, r
    assert_sealed_in_step(wsmd, r["seen"], n)
    wsmd.assert_alive()


def test_pywinrm_shell_many_receives(wsmd_factory, shell_users_file, shell_accounts,
                                     tmp_path, legacy_env):
    """One shell, several commands whose output comes in pieces over time
    (Receives that long-poll and return partial output), then a big one:
    requests and replies of every size, all on one context. LogReceives:
    every sealed request has its log line."""
    conf = tmp_path / "receives.conf"
    conf.write_text("LogReceives = true\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users",
                     str(shell_users_file))
    (d.user1, d.pw1), (d.user2, d.pw2) = shell_accounts
    need_negotiate(d)
    script = ("i=0; while [ $i -lt 25 ]; do echo line$i; sleep 0.02; i=$((i+1)); done; "
              "head -c 300000 /dev/zero | tr '\\0' x; echo")
    rounds = 4
    r = client(legacy_env, "shell", url=d.url, user=d.user1, password=d.pw1, script=script,
               rounds=rounds)
    assert "error" not in r, r
    assert r["encrypted"], r
    want = "".join(f"line{i}\n" for i in range(25)) + "x" * 300000 + "\n"
    for so, code in r["outs"]:
        assert code == 0, r["outs"]
        assert base64.b64decode(so).decode() == want
    n = len(r["seen"]["req"])
    # Create, then per command: Command, Receives, Signal; Delete.
    assert n >= 2 + rounds * 4, n
    # Logged: Create, Command and Signal of each round, Delete; each command
    # ends with one line of its own instead of one per Receive.
    assert_sealed_in_step(d, r["seen"], n, logged=2 + rounds * 2)
    assert d.log().count("event=command-end") == rounds, d.log()[-3000:]
