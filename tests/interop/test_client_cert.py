"""Client-certificate authentication over HTTPS (secprofile/https/mutual).

A small PKI is made once per module with openssl in a temporary directory:
two CAs (the configured one and another), client certificates signed by them
(mapped, mapped with an e-mail SAN or a CN only, without EKU, with a
serverAuth-only EKU, expired, unmapped), and a server certificate
(test_https.make_cert). wsmd runs with an https and an http listener,
ClientCAFile and CertMapping lines from a config file, and the shell
accounts of conftest (real local accounts when the tests run as root).
"""

import http.client
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import time

import pytest

from conftest import _check_sanitizer_log, wsmd_bin
from shell_helpers import SLOW, with_deadline
from test_https import curl_code, https_port, make_cert, profiles
from wsman_helpers import IDENTIFY_BODY, SOAP_CT, assert_identify_response, request

MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"
UPN_OID = "1.3.6.1.4.1.311.20.2.3"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                                reason="openssl and curl are needed")


# ---- a small PKI ------------------------------------------------------------

def openssl(*args, cwd=None):
    cp = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60,
                        cwd=cwd)
    assert cp.returncode == 0, f"openssl {' '.join(args)} failed: {cp.stderr}"
    return cp.stdout


class CA:
    def __init__(self, directory, name):
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "5",
                "-subj", f"/CN={name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.key, 0o600)
        fp = openssl("x509", "-in", str(self.cert), "-noout", "-fingerprint", "-sha1")
        self.sha1 = fp.strip().split("=", 1)[1].replace(":", "")
        fp = openssl("x509", "-in", str(self.cert), "-noout", "-fingerprint", "-sha256")
        self.sha256 = fp.strip().split("=", 1)[1]  # with colons: accepted too
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("1000\n")
        (directory / "new").mkdir(exist_ok=True)
        # For `openssl ca`, which alone can set a validity period in the past.
        (directory / "ca.cnf").write_text(
            "[ca]\ndefault_ca = d\n[d]\n"
            f"dir = {directory}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\n"
            "serial = $dir/serial\ndefault_md = sha256\npolicy = p\n"
            "unique_subject = no\ncopy_extensions = none\n[p]\ncommonName = supplied\n")

    def issue(self, directory, cn, upn=None, email=None, eku="clientAuth", expired=False):
        directory.mkdir(parents=True, exist_ok=True)
        key, csr, cert = directory / "key.pem", directory / "req.csr", directory / "cert.pem"
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
        os.chmod(key, 0o600)
        ext = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"]
        if eku:
            ext.append(f"extendedKeyUsage={eku}")
        san = []
        if upn:
            san.append(f"otherName:{UPN_OID};UTF8:{upn}")
        if email:
            san.append(f"email:{email}")
        if san:
            ext.append("subjectAltName=" + ",".join(san))
        extfile = directory / "ext.cnf"
        extfile.write_text("\n".join(ext) + "\n")
        if expired:
            openssl("ca", "-batch", "-config", str(self.dir / "ca.cnf"), "-cert", str(self.cert),
                    "-keyfile", str(self.key), "-in", str(csr), "-out", str(cert), "-notext",
                    "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
                    "-extfile", str(extfile))
        else:
            openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey",
                    str(self.key), "-CAcreateserial", "-out", str(cert), "-days", "2",
                    "-sha256", "-extfile", str(extfile))
        return cert, key


class PKI:
    pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory, shell_accounts):
    base = tmp_path_factory.mktemp("pki")
    p = PKI()
    (p.user1, p.pw1), (p.user2, p.pw2) = shell_accounts[:2]
    p.server = make_cert(base / "server")
    p.ca = CA(base / "ca", "wsmd test CA")
    p.other_ca = CA(base / "other-ca", "wsmd other CA")
    # Mapped through the UPN in the SAN (as Windows does).
    p.good = p.ca.issue(base / "good", "Alice Client", upn=f"{p.user1}@wsmd.test")
    # The same names from the other CA.
    p.wrong_ca = p.other_ca.issue(base / "wrong-ca", "Alice Client", upn=f"{p.user1}@wsmd.test")
    p.expired = p.ca.issue(base / "expired", "Alice Client", upn=f"{p.user1}@wsmd.test",
                           expired=True)
    p.unmapped = p.ca.issue(base / "unmapped", "nobody", upn="nobody@elsewhere.test")
    # Has an EKU, but not clientAuth.
    p.server_eku = p.ca.issue(base / "server-eku", "Alice Client",
                              upn=f"{p.user1}@wsmd.test", eku="serverAuth")
    # No EKU at all (allowed), mapped by a wildcard on the e-mail SAN.
    p.no_eku = p.ca.issue(base / "no-eku", "Bob Client", email=f"{p.user2}@dept.wsmd.test",
                          eku=None)
    # Mapped by the subject CN alone, to an account that does not exist.
    p.ghost = p.ca.issue(base / "ghost", "ghost-client")
    p.base = base
    return p


def write_conf(directory, lines):
    conf = directory / "wsmd.conf"
    conf.write_text("".join(line + "\n" for line in lines))
    return conf


def mappings(p):
    return [
        f"ClientCAFile = {p.ca.cert}",
        f"CertMapping = Issuer={p.ca.sha1} Subject={p.user1}@wsmd.test UserName={p.user1}",
        f"CertMapping = Issuer={p.ca.sha256} Subject=*@dept.wsmd.test UserName={p.user2}",
        "CertMapping = Issuer=* Subject=ghost-client UserName=wsmdghost",
    ]


def start(wsmd_factory, p, shell_users_file, lines=None, tag="d"):
    d_dir = p.base / f"conf-{tag}-{time.monotonic_ns()}"
    d_dir.mkdir()
    conf = write_conf(d_dir, mappings(p) if lines is None else lines)
    d = wsmd_factory("-c", str(conf), "--listen", "https://127.0.0.1:0", "--listen",
                     "http://127.0.0.1:0", "--users", str(shell_users_file),
                     "--tls-cert", str(p.server.cert), "--tls-key", str(p.server.key))
    d.https_port = https_port(d)
    d.https_url = f"https://127.0.0.1:{d.https_port}/wsman"
    return d


@pytest.fixture
def checked_factory(wsmd_factory):
    """wsmd_factory, plus: each daemon is stopped (SIGTERM, exit status 0, checked
    by wsmd_factory) and its stderr must hold no sanitizer report."""
    started = []

    def factory(*args):
        d = wsmd_factory(*args)
        started.append(d)
        return d

    yield factory
    for d in started:
        if d.alive():
            d.proc.send_signal(signal.SIGTERM)
            try:
                d.proc.wait(40 if SLOW > 1 else 10)
            except subprocess.TimeoutExpired:
                continue  # wsmd_factory kills it and reports
        _check_sanitizer_log(d)


@pytest.fixture
def cwsmd(checked_factory, pki, shell_users_file, monkeypatch):
    # pywinrm 0.3.0 lets these override its server_cert_validation.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return start(checked_factory, pki, shell_users_file)


def ctx(p, client=None):
    c = ssl.create_default_context(cafile=str(p.server.cert))
    if client:
        c.load_cert_chain(str(client[0]), str(client[1]))
    return c


def mutual_request(d, p, client, conn=None, headers=None, auth_header=MUTUAL):
    own = conn is None
    if own:
        conn = http.client.HTTPSConnection("127.0.0.1", d.https_port, timeout=10 * SLOW,
                                           context=ctx(p, client))
    try:
        hdrs = {"Content-Type": SOAP_CT}
        if auth_header is not None:
            hdrs["Authorization"] = auth_header
        hdrs.update(headers or {})
        return request(d.https_port, conn=conn, auth=None, headers=hdrs)
    finally:
        if own:
            conn.close()


def curl_mutual(d, p, client=None, url=None, header=MUTUAL):
    args = ["curl", "-sS", "--max-time", str(int(20 * SLOW)), "--cacert", str(p.server.cert),
            "-H", f"Content-Type: {SOAP_CT}", "--data-binary", IDENTIFY_BODY,
            "-w", "\nHTTP_CODE=%{http_code}\n"]
    if client:
        args += ["--cert", str(client[0]), "--key", str(client[1])]
    if header:
        args += ["-H", f"Authorization: {header}"]
    args.append(url or d.https_url)
    return subprocess.run(args, capture_output=True, text=True, timeout=60 * SLOW)


def cert_session(d, p, client):
    import winrm
    return winrm.Session(d.https_url, auth=(None, None), transport="certificate",
                         cert_pem=str(client[0]), cert_key_pem=str(client[1]),
                         server_cert_validation="validate", ca_trust_path=str(p.server.cert))


def expected_login(name):
    """Who a shell of `name` runs as: the account as root, else the daemon's own."""
    return name if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


# ---- what works ---------------------------------------------------------------

def test_identify_lists_mutual_profile(cwsmd, pki):
    r = https_request_basic(cwsmd, pki)
    assert profiles(r) == [PROFILE + "https/basic", PROFILE + "https/mutual"], r
    # Plain HTTP never offers it.
    assert PROFILE + "https/mutual" not in profiles(request(cwsmd.port, auth=(pki.user1,
                                                                                pki.pw1)))


def https_request_basic(d, p, client=None, auth=None):
    conn = http.client.HTTPSConnection("127.0.0.1", d.https_port, timeout=10 * SLOW,
                                       context=ctx(p, client))
    try:
        return request(d.https_port, conn=conn, auth=auth or (p.user1, p.pw1))
    finally:
        conn.close()


def test_curl_with_client_cert(cwsmd, pki):
    cp = curl_mutual(cwsmd, pki, pki.good)
    assert curl_code(cp) == 200, cp.stdout + cp.stderr
    assert "IdentifyResponse" in cp.stdout, cp.stdout
    log = cwsmd.log()
    assert re.search(rf"event=cert-mapped cert=[0-9A-F]{{40}} subject=\"[^\"]*Alice Client"
                     rf"[^\"]*\" user={pki.user1}\b", log), log
    assert f"user={pki.user1} action=Identify" in log, log


def test_wildcard_email_mapping_without_eku(cwsmd, pki):
    """No EKU at all is allowed; *@dept.wsmd.test matches the e-mail SAN."""
    r = mutual_request(cwsmd, pki, pki.no_eku)
    assert_identify_response(r)
    assert f"user={pki.user2} action=Identify" in cwsmd.log()


def test_pywinrm_certificate_transport_runs_as_mapped_user(cwsmd, pki):
    s = cert_session(cwsmd, pki, pki.good)
    r = with_deadline(lambda: s.run_cmd("id", ["-un"]), 60 * SLOW, "run_cmd id -un")
    assert r.status_code == 0, r
    assert r.std_out.decode().strip() == expected_login(pki.user1), r
    assert f"user={pki.user1} action=http://schemas.xmlsoap.org/ws/2004/09/transfer/Create" \
        in cwsmd.log()
    # The other mapping, another account.
    s = cert_session(cwsmd, pki, pki.no_eku)
    r = with_deadline(lambda: s.run_cmd("id", ["-un"]), 60 * SLOW, "run_cmd id -un (2)")
    assert r.status_code == 0, r
    assert r.std_out.decode().strip() == expected_login(pki.user2), r


def test_verdict_once_per_connection(cwsmd, pki):
    conn = http.client.HTTPSConnection("127.0.0.1", cwsmd.https_port, timeout=10 * SLOW,
                                       context=ctx(pki, pki.good))
    try:
        for _ in range(5):
            assert_identify_response(mutual_request(cwsmd, pki, None, conn=conn))
    finally:
        conn.close()
    assert cwsmd.log().count("event=cert-mapped") == 1, cwsmd.log()
    # A new connection is judged again.
    assert_identify_response(mutual_request(cwsmd, pki, pki.good))
    assert cwsmd.log().count("event=cert-mapped") == 2, cwsmd.log()


def test_basic_still_works_on_the_same_listener(cwsmd, pki):
    # Without a client certificate, and with one (Basic wins: it is what is sent).
    assert_identify_response(https_request_basic(cwsmd, pki))
    r = https_request_basic(cwsmd, pki, client=pki.unmapped)
    assert_identify_response(r)
    r = https_request_basic(cwsmd, pki, auth=(pki.user1, "wrong-password"))
    assert r.status == 401, r


# ---- what is refused -------------------------------------------------------------

@pytest.mark.parametrize("which,reason", [
    ("wrong_ca", "not verified"),
    ("expired", "not verified"),
    ("server_eku", "not verified"),
    ("unmapped", "no CertMapping matches"),
    ("ghost", "not a local account"),
])
def test_refused_certificates(cwsmd, pki, which, reason):
    if which == "ghost" and os.geteuid() != 0:
        pytest.skip("only as root are mapped users checked against local accounts")
    client = getattr(pki, which)
    cp = curl_mutual(cwsmd, pki, client)
    assert curl_code(cp) == 401, cp.stdout + cp.stderr
    assert "IdentifyResponse" not in cp.stdout
    r = mutual_request(cwsmd, pki, client)
    assert r.status == 401, r
    # The challenge lists what can be used: Basic here, and nothing bogus.
    www = r.header_all("WWW-Authenticate")
    assert any(v.startswith("Basic") for v in www), r
    assert not any("secprofile" in v for v in www), r
    log = cwsmd.log()
    assert re.search(rf"event=cert-refused .*reason=\"[^\"]*{reason}", log), log
    assert not re.search(r"user=(?!-)\S+ action=Identify", log), log
    # Still serving.
    cwsmd.assert_alive()
    assert_identify_response(mutual_request(cwsmd, pki, pki.good))


def test_refusal_reasons_are_specific(cwsmd, pki):
    mutual_request(cwsmd, pki, pki.expired)
    mutual_request(cwsmd, pki, pki.wrong_ca)
    log = cwsmd.log()
    assert re.search(r"event=cert-refused .*reason=\"not verified: .*expired", log), log
    assert re.search(r"event=cert-refused .*reason=\"not verified: .*(signer|issuer)", log,
                     re.I), log


def test_no_certificate_refused(cwsmd, pki):
    cp = curl_mutual(cwsmd, pki, None)
    assert curl_code(cp) == 401, cp.stdout + cp.stderr
    assert "reason=\"no client certificate\"" in cwsmd.log()
    r = mutual_request(cwsmd, pki, None)
    assert r.status == 401, r


def test_certificate_without_authorization_header_refused(cwsmd, pki):
    """As on Windows, a certificate alone does not authenticate: the header is needed."""
    r = mutual_request(cwsmd, pki, pki.good, auth_header=None)
    assert r.status == 401, r
    # Unknown or garbled schemes never authenticate either (CVE-2021-38647).
    for h in ("", "Bogus", MUTUAL + "x", MUTUAL.replace("https", "http"),
              "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual/basic"):
        r = mutual_request(cwsmd, pki, pki.good, auth_header=h)
        assert r.status == 401, (h, r)
    assert_identify_response(mutual_request(cwsmd, pki, pki.good))


def test_mutual_over_plain_http_refused(cwsmd, pki):
    r = request(cwsmd.port, auth=None, headers={"Authorization": MUTUAL})
    assert r.status == 401, r
    cp = curl_mutual(cwsmd, pki, None, url=f"http://127.0.0.1:{cwsmd.port}/wsman")
    assert curl_code(cp) == 401, cp.stdout + cp.stderr
    cwsmd.assert_alive()
    assert_identify_response(request(cwsmd.port, auth=(pki.user1, pki.pw1)))


def test_pywinrm_certificate_refused(cwsmd, pki):
    from winrm.exceptions import InvalidCredentialsError
    for client in (pki.wrong_ca, pki.expired, pki.unmapped):
        s = cert_session(cwsmd, pki, client)
        with pytest.raises(InvalidCredentialsError):
            with_deadline(lambda: s.run_cmd("id"), 60 * SLOW, "run_cmd refused")
    cwsmd.assert_alive()


def test_without_client_ca_mutual_is_refused(checked_factory, pki, shell_users_file):
    d = start(checked_factory, pki, shell_users_file, lines=[], tag="none")
    r = mutual_request(d, pki, pki.good)
    assert r.status == 401, r
    assert profiles(https_request_basic(d, pki)) == [PROFILE + "https/basic"]


# ---- root -----------------------------------------------------------------------

def test_mapping_to_root_needs_allow_root(pki, tmp_path):
    for user_line in (f"Issuer={pki.ca.sha1} Subject=* UserName=root",
                      f"Issuer={pki.ca.sha1} Subject=* UserName=root AllowRoot=false"):
        conf = write_conf(tmp_path, [f"ClientCAFile = {pki.ca.cert}",
                                     f"CertMapping = {user_line}"])
        rc, err = refused(["-c", str(conf), "--listen", "https://127.0.0.1:0",
                           "--tls-cert", str(pki.server.cert), "--tls-key",
                           str(pki.server.key), "--users", str(tmp_path / "users")], tmp_path)
        assert rc != 0 and "AllowRoot=true" in err, err


def test_mapping_to_root_when_allowed(checked_factory, pki, shell_users_file):
    lines = [f"ClientCAFile = {pki.ca.cert}",
             f"CertMapping = Issuer={pki.ca.sha1} Subject=nobody@elsewhere.test "
             "UserName=root AllowRoot=true"]
    d = start(checked_factory, pki, shell_users_file, lines=lines, tag="root")
    assert_identify_response(mutual_request(d, pki, pki.unmapped))
    assert "user=root action=Identify" in d.log()
    # Only that certificate.
    assert mutual_request(d, pki, pki.good).status == 401


# ---- configuration errors -------------------------------------------------------

def refused(args, cwd):
    try:
        cp = subprocess.run([wsmd_bin(), *args], capture_output=True, text=True,
                            timeout=20 * SLOW, cwd=str(cwd), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"wsmd {args} did not refuse to start")
    return cp.returncode, cp.stderr


@pytest.mark.parametrize("lines,message", [
    (["CertMapping = Issuer=* Subject=* UserName=alice"], "needs ClientCAFile"),
    (["ClientCAFile = {ca}", "CertMapping = Issuer={other} Subject=* UserName=alice"],
     "is not the thumbprint of a certificate in ClientCAFile"),
    (["ClientCAFile = {ca}", "CertMapping = Issuer=* Subject=* "], "UserName= is missing"),
    (["ClientCAFile = {ca}", "CertMapping = Subject=* UserName=alice"], "Issuer= is missing"),
    (["ClientCAFile = {ca}", "CertMapping = Issuer=12AB Subject=* UserName=alice"],
     "thumbprint"),
    (["ClientCAFile = {ca}", "CertMapping = Issuer=* Subject=a*b UserName=alice"],
     "may only start"),
    (["ClientCAFile = {ca}", "CertMapping = Issuer=* Subject=* UserName=alice Foo=1"],
     "unknown key"),
    (["ClientCAFile = {ca}", "CertMapping = Issuer=* Issuer=* Subject=* UserName=alice"],
     "given twice"),
    (["ClientCAFile = {key}"], "no usable PEM certificate"),
    (["ClientCAFile = /nonexistent/ca.pem"], "cannot open ClientCAFile"),
])
def test_config_errors(pki, tmp_path, lines, message):
    lines = [x.format(ca=pki.ca.cert, other=pki.other_ca.sha1, key=pki.ca.key) for x in lines]
    conf = write_conf(tmp_path, lines)
    rc, err = refused(["-c", str(conf), "--listen", "https://127.0.0.1:0", "--tls-cert",
                       str(pki.server.cert), "--tls-key", str(pki.server.key), "--users",
                       str(tmp_path / "users")], tmp_path)
    assert rc != 0, err
    assert message in err, err
    assert "listening on" not in err, err


def test_quoted_subject_with_spaces(checked_factory, pki, shell_users_file):
    """Subject="Alice Client" matches the CN; the Issuer is the SHA-256 thumbprint
    with colons."""
    lines = [f"ClientCAFile = {pki.ca.cert}",
             f"CertMapping = Issuer={pki.ca.sha256} Subject=\"alice client\" "
             f"UserName={pki.user1}"]
    d = start(checked_factory, pki, shell_users_file, lines=lines, tag="quoted")
    assert_identify_response(mutual_request(d, pki, pki.good))
    # The other CA's certificate with the same CN is not from that Issuer.
    assert mutual_request(d, pki, pki.wrong_ca).status == 401


def test_issuer_restricts_mapping(checked_factory, pki, shell_users_file):
    """Both CAs trusted; the mapping names only the other one."""
    bundle = pki.base / "both-cas.pem"
    bundle.write_text(pki.ca.cert.read_text() + pki.other_ca.cert.read_text())
    lines = [f"ClientCAFile = {bundle}",
             f"CertMapping = Issuer={pki.other_ca.sha1} Subject=* UserName={pki.user2}"]
    d = start(checked_factory, pki, shell_users_file, lines=lines, tag="issuer")
    assert mutual_request(d, pki, pki.good).status == 401
    assert_identify_response(mutual_request(d, pki, pki.wrong_ca))
    assert f"user={pki.user2} action=Identify" in d.log()


def test_refused_certificates_are_throttled(cwsmd, pki):
    """Certificate refusals count against the address like wrong passwords
    (MaxAuthFailuresPerAddress, 20): then every attempt from it is answered
    503 unchecked, until the hold ends (docs/internals/auth-throttle.md)."""
    codes = [mutual_request(cwsmd, pki, pki.unmapped).status for _ in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 503, codes
    log = cwsmd.log()
    assert "scheme=certificate reason=no-valid-mapped-certificate" in log, log
    assert "event=auth-throttle-start address=127.0.0.1" in log, log
    assert mutual_request(cwsmd, pki, pki.good).status == 503
