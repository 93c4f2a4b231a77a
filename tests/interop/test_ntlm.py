"""NTLM through HTTP Negotiate, and WinRM message encryption.

Clients: python3-winrm's 'ntlm' transport (requests-ntlm + ntlm-auth: a raw
NTLMSSP token under "Negotiate", then multipart/encrypted bodies on the same
connection with no Authorization header), the Go client's ClientNTLM
(github.com/Azure/go-ntlmssp: the handshake on every request, plain
bodies), curl --ntlm (scheme "NTLM") and curl --negotiate (SPNEGO with
NTLM inside, through gss-ntlmssp on the client side too).

Every test is skipped unless the daemon's 401 advertises Negotiate: the
module is harmless before the HTTP layer offers it.

python3-winrm's NTLM hashes with MD4, which OpenSSL 3 has only in its legacy
provider: the Python clients run in child processes (this file run as a
script) whose OPENSSL_CONF enables it; the file is written in the test's
tmp dir. curl gets the same environment.
"""

import re
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if __name__ != "__main__":
    from wsman_helpers import IDENTIFY_BODY, PASSWORD, SOAP_CT, USER, post
    from child_client import run_child
    from shell_helpers import SLOW
    from conftest import any_address_port
else:
    IDENTIFY_BODY = None

WINRS_BIN = os.environ.get("WINRS_BIN") or str(HERE.parents[1] / "build" / "winrs")
SPNEGO_CT = ('multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";'
             'boundary="Encrypted Boundary"')


# ---- the client side, run as a child process --------------------------------

def _client_main(argv):
    """python3 test_ntlm.py MODE JSON-ARGS: prints one JSON object."""
    mode, args = argv[0], json.loads(argv[1])
    out = {}
    try:
        if mode == "run":
            out = _client_run(**args)
        elif mode == "identify":
            out = _client_identify(**args)
        elif mode == "replay":
            out = _client_replay(**args)
        else:
            raise SystemExit(f"unknown mode {mode}")
    except Exception as e:  # reported to the test, which asserts on it
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out))


def _watch(session, seen):
    """Records the Content-Type of every request sent and response received."""
    orig = session.send

    def send(req, **kw):
        seen["req"].append(req.headers.get("Content-Type"))
        seen["authz"].append((req.headers.get("Authorization") or "").split(" ")[0])
        r = orig(req, **kw)
        seen["resp"].append([r.status_code, r.headers.get("Content-Type"),
                             r.headers.get("WWW-Authenticate")])
        return r
    session.send = send


def _client_run(url, user, password, command, args, encryption="auto"):
    import winrm
    p = winrm.Protocol(url, transport="ntlm", username=user, password=password,
                       message_encryption=encryption, read_timeout_sec=70,
                       operation_timeout_sec=60)
    seen = {"req": [], "resp": [], "authz": []}
    p.transport.build_session()  # the handshake (an empty POST when encrypting)
    _watch(p.transport.session, seen)
    shell = p.open_shell()
    cid = p.run_command(shell, command, args)
    so, se, code = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    return {"stdout": base64.b64encode(so).decode(), "stderr": base64.b64encode(se).decode(),
            "code": code, "encrypted": p.transport.encryption is not None, "seen": seen}


def _client_identify(url, user, password, body, encryption="auto"):
    from winrm.transport import Transport
    t = Transport(endpoint=url, username=user, password=password, auth_method="ntlm",
                  message_encryption=encryption)
    t.build_session()
    seen = {"req": [], "resp": [], "authz": []}
    _watch(t.session, seen)
    text = t.send_message(body)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return {"text": text, "encrypted": t.encryption is not None, "seen": seen}


def _client_replay(port, user, password):
    """The NTLM handshake by hand (ntlm-auth, as requests-ntlm does it), with
    the authenticate message sent on another connection first."""
    from ntlm_auth import ntlm

    def leg(conn, token):
        conn.request("POST", "/wsman", body=b"",
                     headers={"Content-Type": "application/soap+xml;charset=UTF-8",
                              "Authorization": "Negotiate " + token})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("WWW-Authenticate") or ""

    a = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    b = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    ctx = ntlm.Ntlm()
    st1, www = leg(a, ctx.create_negotiate_message("").decode())
    chal = www.split(" ", 1)[1] if www.startswith("Negotiate ") else ""
    ctx.parse_challenge_message(chal)
    auth = ctx.create_authenticate_message(user, password, "").decode()
    st_other, _ = leg(b, auth)        # another connection: no handshake there
    st_own, www_own = leg(a, auth)    # its own connection: accepted
    st_again, _ = leg(a, auth)        # replayed: refused
    return {"type1": [st1, www[:30]], "other": st_other, "own": st_own,
            "again": st_again}


if __name__ == "__main__":
    _client_main(sys.argv[1:])
    sys.exit(0)


# ---- the test side ------------------------------------------------------------

def client(env, mode, timeout=120, **args):
    return run_child(__file__, env, mode, timeout, **args)


def challenges(port):
    r = post(port, auth=None, body=b"")
    assert r.status == 401, r
    return r, [v.split(" ")[0].lower() for v in r.header_all("WWW-Authenticate")]


def need_negotiate(d):
    r, schemes = challenges(d.port)
    if "negotiate" not in schemes:
        pytest.skip(f"wsmd does not offer Negotiate (WWW-Authenticate: {schemes})")
    return schemes


def test_challenge(wsmd):
    """The 401 offers Negotiate (and Basic, on loopback) with no token."""
    schemes = need_negotiate(wsmd)
    assert "basic" in schemes, schemes
    r, _ = challenges(wsmd.port)
    assert "Negotiate" in r.header_all("WWW-Authenticate"), r


def _av_pairs(challenge):
    """The AV pairs of an NTLM CHALLENGE_MESSAGE's TargetInfo: {id: bytes}."""
    assert challenge[:12] == b"NTLMSSP\x00\x02\x00\x00\x00", challenge[:12]
    ln, _, off = struct.unpack("<HHI", challenge[40:48])
    info, pairs, i = challenge[off:off + ln], {}, 0
    while i + 4 <= len(info):
        av, n = struct.unpack("<HH", info[i:i + 4])
        if av == 0:
            break
        pairs[av] = info[i + 4:i + 4 + n]
        i += 4 + n
    return pairs


@pytest.mark.parametrize("scheme", ["NTLM", "Negotiate"])
def test_challenge_names_the_host_not_a_service(wsmd, scheme):
    """As Windows' CHALLENGE: the host's NetBIOS and DNS names and a
    timestamp, no MsvAvTargetName (9). gss-ntlmssp's acceptor would put its
    service name there (HTTP/host), and gss-ntlmssp's initiator then refuses
    any target but that one (a client that dialled 127.0.0.1, say)."""
    need_negotiate(wsmd)
    neg = b"NTLMSSP\x00" + struct.pack("<II", 1, 0xE2088297) + b"\x00" * 16
    r = post(wsmd.port, auth=None, body=b"",
             headers={"Authorization": f"{scheme} " + base64.b64encode(neg).decode()})
    assert r.status == 401, r
    tok = [v for v in r.header_all("WWW-Authenticate") if v.startswith(scheme + " ")]
    assert tok, r.header_all("WWW-Authenticate")
    blob = base64.b64decode(tok[0].split(" ", 1)[1])
    if scheme == "Negotiate":  # SPNEGO NegTokenResp: the NTLM message inside
        blob = blob[blob.index(b"NTLMSSP\x00"):]
    pairs = _av_pairs(blob)
    assert 9 not in pairs, pairs
    host = socket.gethostname().split(".")[0]
    assert pairs[1].decode("utf-16-le") == host.upper(), pairs  # MsvAvNbComputerName
    assert pairs[3].decode("utf-16-le").lower() == host.lower(), pairs  # MsvAvDnsComputerName
    assert 7 in pairs, pairs  # MsvAvTimestamp


# ---- python3-winrm ------------------------------------------------------------

def test_pywinrm_identify_encrypted(wsmd, legacy_env):
    need_negotiate(wsmd)
    r = client(legacy_env, "identify", url=wsmd.url, user=USER, password=PASSWORD,
               body=IDENTIFY_BODY)
    assert "error" not in r, r
    assert r["encrypted"], r
    assert "IdentifyResponse" in r["text"], r
    assert r["seen"]["req"] == [SPNEGO_CT], r
    status, ct, _ = r["seen"]["resp"][0]
    assert status == 200 and ct == SPNEGO_CT, r
    assert r["seen"]["authz"] == [""], r  # the connection is authenticated


def test_pywinrm_echo_encrypted(shell_wsmd, legacy_env):
    d = shell_wsmd
    need_negotiate(d)
    r = client(legacy_env, "run", url=d.url, user=d.user1, password=d.pw1, command="echo",
               args=["hello", "ntlm"])
    assert "error" not in r, r
    assert base64.b64decode(r["stdout"]) == b"hello ntlm\n", r
    assert r["code"] == 0, r
    assert r["encrypted"], r
    # Create, Command, Receive(s), Signal, Delete: all sealed both ways.
    assert len(r["seen"]["req"]) >= 5, r
    assert set(r["seen"]["req"]) == {SPNEGO_CT}, r
    assert all(ct == SPNEGO_CT for _, ct, _ in r["seen"]["resp"]), r


def test_pywinrm_echo_unencrypted_loopback(shell_wsmd, legacy_env):
    """message_encryption='never': plain bodies after the NTLM handshake are
    accepted on a loopback listener."""
    d = shell_wsmd
    need_negotiate(d)
    r = client(legacy_env, "run", url=d.url, user=d.user1, password=d.pw1, command="echo",
               args=["plain"], encryption="never")
    assert "error" not in r, r
    assert base64.b64decode(r["stdout"]) == b"plain\n", r
    assert not r["encrypted"], r
    assert all(ct.startswith("application/soap+xml") for _, ct, _ in r["seen"]["resp"]), r


@pytest.fixture
def any_wsmd(wsmd_factory, shell_users_file, shell_accounts):
    """wsmd with a listener on 0.0.0.0 (not loopback: AllowUnencrypted is
    false there, as on any network address), reached through 127.0.0.1.
    d.any_url is that listener's URL; wsmd_factory needs the loopback one
    too."""
    d, port = any_address_port(lambda: wsmd_factory(
        "--listen", "http://0.0.0.0:0", "--listen", "http://127.0.0.1:0",
        "--users", str(shell_users_file)))
    d.any_url = f"http://127.0.0.1:{port}/wsman"
    (d.user1, d.pw1) = shell_accounts[0]
    need_negotiate(d)
    return d


def test_pywinrm_encrypted_on_network_listener(any_wsmd, legacy_env):
    """The remote case: NTLM with message encryption on a listener that
    refuses plain bodies. pywinrm ends the handshake with an empty POST,
    which must get its 200 (it got 'Unencrypted traffic is disabled')."""
    d = any_wsmd
    r = client(legacy_env, "run", url=d.any_url, user=d.user1, password=d.pw1, command="echo",
               args=["over", "the", "network"])
    assert "error" not in r, r
    assert base64.b64decode(r["stdout"]) == b"over the network\n", r
    assert r["encrypted"], r
    assert set(r["seen"]["req"]) == {SPNEGO_CT}, r
    assert "Unencrypted traffic is disabled" not in d.log()


def test_pywinrm_unencrypted_refused_on_network_listener(any_wsmd, legacy_env):
    """message_encryption='never' there: the first SOAP body gets the
    AccessDenied fault, nothing runs."""
    d = any_wsmd
    r = client(legacy_env, "run", url=d.any_url, user=d.user1, password=d.pw1, command="echo",
               args=["plain"], encryption="never")
    assert "Unencrypted traffic is disabled" in r.get("error", ""), r
    assert "action=http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command" \
        not in d.log()


@pytest.mark.parametrize("auth", ["NTLM", "Negotiate"])
def test_our_winrs_on_network_listener(any_wsmd, auth):
    """Our winrs, sealed by default, and -unencrypted refused."""
    d = any_wsmd
    env = dict(os.environ, WSM_PASSWORD=d.pw1)
    cp = subprocess.run([WINRS_BIN, f"-r:{d.any_url}", f"-u:{d.user1}", f"-a:{auth}", "echo",
                         "sealed"], capture_output=True, timeout=120 * SLOW, env=env)
    assert cp.returncode == 0 and cp.stdout == b"sealed\n", (cp, d.log())
    cp = subprocess.run([WINRS_BIN, f"-r:{d.any_url}", f"-u:{d.user1}", f"-a:{auth}",
                         "-unencrypted", "echo", "plain"], capture_output=True,
                        timeout=120 * SLOW, env=env)
    assert cp.returncode != 0 and b"Unencrypted traffic is disabled" in cp.stderr, cp


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
def test_pywinrm_refused(wsmd, legacy_env, who):
    need_negotiate(wsmd)
    user, password = {
        "wrong-password": (USER, PASSWORD + "x"),
        "unknown-user": ("mallory", PASSWORD),
    }[who]
    r = client(legacy_env, "identify", url=wsmd.url, user=user, password=password,
               body=IDENTIFY_BODY)
    assert "InvalidCredentialsError" in r.get("error", ""), r


def test_pywinrm_domain_and_case(wsmd, legacy_env):
    """NTLM names are case-insensitive; a domain is ignored for file users."""
    need_negotiate(wsmd)
    for user in (USER.upper(), "WORKGROUP\\" + USER):
        r = client(legacy_env, "identify", url=wsmd.url, user=user, password=PASSWORD,
                   body=IDENTIFY_BODY)
        assert "error" not in r and "IdentifyResponse" in r["text"], (user, r)


def test_handshake_bound_to_connection(wsmd, legacy_env):
    need_negotiate(wsmd)
    r = client(legacy_env, "replay", port=wsmd.port, user=USER, password=PASSWORD)
    assert "error" not in r, r
    assert r["type1"][0] == 401 and r["type1"][1].startswith("Negotiate TlRMTVNTUAAC"), r
    assert r["other"] == 401, r
    assert r["own"] == 200, r
    assert r["again"] == 401, r


def test_encrypted_body_without_context(wsmd):
    """A sealed body on a connection with no NTLM context is not processed."""
    need_negotiate(wsmd)
    body = (b"--Encrypted Boundary\r\n"
            b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=4\r\n"
            b"--Encrypted Boundary\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            b"\x10\x00\x00\x00" + b"\x01" * 16 + b"abcd--Encrypted Boundary--\r\n")
    r = post(wsmd.port, body=body, content_type=SPNEGO_CT)
    assert r.status in (400, 401, 415, 500), r
    assert b"IdentifyResponse" not in r.body, r
    wsmd.assert_alive()


# ---- the Go client -----------------------------------------------------------

GOPATH = "/usr/share/gocode"
GO_NTLM_SRC = HERE / "go-ntlm"


@pytest.fixture(scope="module")
def go_ntlm(tmp_path_factory):
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not installed")
    for pkg in ("github.com/masterzen/winrm", "github.com/Azure/go-ntlmssp"):
        if not (Path(GOPATH) / "src" / pkg).is_dir():
            pytest.skip(f"{pkg} sources missing under {GOPATH}")
    out = tmp_path_factory.mktemp("go-ntlm")
    exe = out / "winrm-ntlm-run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(out / "cache"), GOFLAGS="",
               GOPROXY="off", CGO_ENABLED="0", HOME=str(out))
    cp = subprocess.run([go, "build", "-o", str(exe), "."], cwd=str(GO_NTLM_SRC), env=env,
                        capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, f"go build failed:\n{cp.stdout}\n{cp.stderr}"
    return exe


def test_go_ntlm_echo(shell_wsmd, go_ntlm):
    d = shell_wsmd
    need_negotiate(d)
    cp = subprocess.run([str(go_ntlm), "-host", "127.0.0.1", "-port", str(d.port), "-user",
                         d.user1, "-password", d.pw1, "echo", "go", "ntlm"],
                        capture_output=True, text=True, timeout=120 * SLOW)
    res = dict(ln.split(" ", 1) for ln in cp.stdout.splitlines() if " " in ln)
    err = base64.b64decode(res.get("ERROR", "")).decode(errors="replace")
    assert cp.returncode == 0, f"rc={cp.returncode} error={err}\n{cp.stderr}"
    assert base64.b64decode(res["STDOUT-B64"]) == b"go ntlm\n", res
    assert res["EXIT"] == "0", res


def test_go_ntlm_wrong_password(shell_wsmd, go_ntlm):
    d = shell_wsmd
    need_negotiate(d)
    cp = subprocess.run([str(go_ntlm), "-host", "127.0.0.1", "-port", str(d.port), "-user",
                         d.user1, "-password", d.pw1 + "x", "echo", "no"],
                        capture_output=True, text=True, timeout=120 * SLOW)
    # The client reports the 401 as an error (its text varies: "EOF" for the
    # empty body); nothing ran.
    assert cp.returncode == 2, cp
    assert "STDOUT-B64 \n" in cp.stdout + "\n" or "STDOUT-B64" not in cp.stdout, cp
    # Only 401s for this user (the log names the user tried): nothing was served.
    assert not re.search(r"user=%s action=\S+ resource=\S+ status=2" % re.escape(d.user1),
                         d.log()), d.log()[-2000:]


# ---- curl ---------------------------------------------------------------------

def _curl(env, args):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    return subprocess.run([curl, "-sS", "-o", "-", "-w", "\nHTTP %{http_code}\n", *args],
                          capture_output=True, text=True, timeout=60 * SLOW, env=env)


def test_curl_ntlm_identify(wsmd, legacy_env, tmp_path):
    """curl --ntlm: scheme NTLM, an empty body with the negotiate message,
    the Identify with the authenticate message, no encryption."""
    need_negotiate(wsmd)
    body = tmp_path / "identify.xml"
    body.write_text(IDENTIFY_BODY)
    cp = _curl(legacy_env, ["--ntlm", "-u", f"{USER}:{PASSWORD}", "-H",
                            f"Content-Type: {SOAP_CT}", "--data-binary", f"@{body}", wsmd.url])
    assert cp.stdout.rstrip().endswith("HTTP 200"), cp
    assert "IdentifyResponse" in cp.stdout, cp
    cp = _curl(legacy_env, ["--ntlm", "-u", f"{USER}:wrong", "-H", f"Content-Type: {SOAP_CT}",
                            "--data-binary", f"@{body}", wsmd.url])
    assert cp.stdout.rstrip().endswith("HTTP 401"), cp


def test_curl_negotiate_spnego(wsmd, legacy_env, tmp_path):
    """curl --negotiate: SPNEGO from MIT krb5's GSSAPI with gss-ntlmssp inside
    (its credentials from NTLM_USER_FILE, DOMAIN:USER:PASSWORD)."""
    need_negotiate(wsmd)
    if not Path("/etc/gss/mech.d/mech.ntlmssp.conf").exists() and not list(
            Path("/etc/gss/mech.d").glob("*ntlm*")):
        pytest.skip("gss-ntlmssp is not installed for the client side")
    creds = tmp_path / "ntlm-client"
    creds.write_text(f"WORKGROUP:{USER}:{PASSWORD}\n")
    env = dict(legacy_env, NTLM_USER_FILE=str(creds), NTLMUSER=USER)
    body = tmp_path / "identify.xml"
    body.write_text(IDENTIFY_BODY)
    # gss-ntlmssp's initiator checks that the server's NTLM target info names
    # the service it asked for (HTTP/host of the URL): wsmd's acceptor is
    # HTTP@<its host name>, so the URL uses that name, resolved to loopback.
    host = socket.gethostname()
    url = f"http://{host}:{wsmd.port}/wsman"
    cp = _curl(env, ["--negotiate", "-u", ":", "--resolve", f"{host}:{wsmd.port}:127.0.0.1",
                     "-H", f"Content-Type: {SOAP_CT}", "--data-binary", f"@{body}", url])
    assert cp.stdout.rstrip().endswith("HTTP 200"), cp
    assert "IdentifyResponse" in cp.stdout, cp
    # A wrong password fails the same way.
    creds.write_text(f"WORKGROUP:{USER}:{PASSWORD}x\n")
    cp = _curl(env, ["--negotiate", "-u", ":", "--resolve", f"{host}:{wsmd.port}:127.0.0.1",
                     "-H", f"Content-Type: {SOAP_CT}", "--data-binary", f"@{body}", url])
    assert cp.stdout.rstrip().endswith("HTTP 401"), cp
