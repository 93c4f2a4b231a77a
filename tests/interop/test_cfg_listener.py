"""Listeners and certificate mappings created and deleted live, and kept in
the configuration file (src/daemon/cfglisten.c, docs/internals/winrm-config.md).

Each daemon runs from a config file in a temporary directory (as root: with
privilege separation, so the monitor binds and writes the file). Clients:
our winrm, python-requests with hand-written SOAP (an independent client),
pywinrm on the new listener, curl for client certificates.
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import user_add
from test_client_cert import CA, checked_factory, curl_mutual  # noqa: F401 (a fixture)
from test_https import curl_code, https_port, make_cert
from test_winrm_config import thumbprint
from test_winrm_tool import winrm_bin
from wsman_helpers import (IDENTIFY_BODY, NS, PASSWORD, USER, assert_identify_response, request,
                           wsman_envelope)

CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"
LIS = CFG + "/listener"
CMAP = CFG + "/service/certmapping"
XF = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
TIMEOUT = 60

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                                reason="openssl and curl are needed")


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(factory, tmp_path, users, *lines, name="wsmd.conf"):
    conf = tmp_path / name
    if not conf.exists():
        conf.write_text("# written by the test; comments stay\n"
                        "Listen = http://127.0.0.1:0\n"
                        f"Users = {users}\n"
                        "AllowUnencrypted = true  # pywinrm on 0.0.0.0\n"
                        + "".join(line + "\n" for line in lines))
    d = factory("-c", str(conf))
    d.conf = conf
    return d


def winrm(d, *words, user=USER, password=PASSWORD):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    return subprocess.run([winrm_bin(), *words, f"-r:{d.url}", f"-u:{user}", f"-p:{password}"],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)


def raw(d, action, uri, selectors, body="", auth=(USER, PASSWORD)):
    """One SOAP request with python-requests: (status, text)."""
    env = wsman_envelope(action, uri, d.url, body=body)
    sel = "".join(f'<w:Selector Name="{k}">{v}</w:Selector>' for k, v in selectors.items())
    env = env.replace("</s:Header>", f"<w:SelectorSet>{sel}</w:SelectorSet></s:Header>")
    r = requests.post(d.url, data=env.encode(), auth=auth, timeout=TIMEOUT,
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    return r.status_code, r.text


def subcode(text):
    root = ET.fromstring(text.encode())
    return root.find("s:Body/s:Fault/s:Code/s:Subcode/s:Value", NS).text


def listen_lines(d):
    return [ln for ln in d.conf.read_text().splitlines() if ln.startswith("Listen =")]


def identify(port, host="127.0.0.1", auth=(USER, PASSWORD)):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        return request(port, conn=conn, auth=auth)
    finally:
        conn.close()


def refused(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def users(tmp_path, shell_accounts):
    path = tmp_path / "users"
    user_add(path, USER, PASSWORD)
    for name, pw in shell_accounts:
        user_add(path, name, pw)
    user_add(path, "carol", "carol-pw-3")  # reads the configuration, may not change it
    return path


# ---- listeners ------------------------------------------------------------------

def test_create_with_winrm_then_pywinrm_then_delete(checked_factory, tmp_path, users,
                                                     shell_accounts):
    import winrm as pywinrm
    d = start(checked_factory, tmp_path, users)
    port = free_port()
    cp = winrm(d, "create", "winrm/config/listener?Address=*+Transport=HTTP",
               f'@{{Port="{port}"}}')
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "ResourceCreated" in cp.stdout and "Selector: Address = *" in cp.stdout, cp.stdout
    assert f"Listen = http://0.0.0.0:{port}/wsman" in listen_lines(d)
    assert "# written by the test; comments stay" in d.conf.read_text()
    out = winrm(d, "enumerate", "winrm/config/listener").stdout
    assert f"Port = {port}" in out and "Address = *" in out, out

    # pywinrm on the new listener (a shell as the local account).
    user, pw = shell_accounts[0]
    s = pywinrm.Session(f"http://127.0.0.1:{port}/wsman", auth=(user, pw), transport="basic")
    r = s.run_cmd("echo", ["created-listener"])
    assert r.status_code == 0 and r.std_out.strip() == b"created-listener", r

    # A connection on the main listener, open across the delete.
    keep = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    assert_identify_response(request(d.port, conn=keep))
    cp = winrm(d, "delete", "winrm/config/listener?Address=*+Transport=HTTP")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert refused(port), "the deleted listener still accepts connections"
    assert_identify_response(request(d.port, conn=keep))  # untouched
    keep.close()
    assert not any(str(port) in ln for ln in listen_lines(d)), d.conf.read_text()
    assert "Address = *" not in winrm(d, "enumerate", "winrm/config/listener").stdout
    # Deleted twice: as Windows, the resource is not found.
    cp = winrm(d, "delete", "winrm/config/listener?Address=*+Transport=HTTP")
    assert cp.returncode != 0 and "0x80338000" in cp.stdout + cp.stderr, cp.stdout + cp.stderr
    d.assert_alive()


@pytest.mark.parametrize("privsep", ["yes", "no"])
def test_raw_create_persists_across_restart(checked_factory, tmp_path, users, privsep):
    """Separated, the monitor binds and writes; not, the daemon itself."""
    d = start(checked_factory, tmp_path, users, f"PrivilegeSeparation = {privsep}")
    assert ("role=monitor" in d.log()) == (privsep == "yes" and os.geteuid() == 0)
    port = free_port("127.0.0.2")
    sel = {"Address": "IP:127.0.0.2", "Transport": "HTTP"}
    body = f'<p:Listener xmlns:p="{LIS}"><p:Port>{port}</p:Port><p:Enabled>true</p:Enabled>' \
           "</p:Listener>"
    code, text = raw(d, XF + "Create", LIS, sel, body)
    assert code == 200 and "ResourceCreated" in text, text
    assert_identify_response(identify(port, "127.0.0.2"))
    # The same keys again: w:AlreadyExists, as Windows (0x800700B7).
    code, text = raw(d, XF + "Create", LIS, sel, body)
    assert code == 500 and subcode(text) == "w:AlreadyExists", text
    assert "2147942583" in text
    if "role=monitor" in d.log():
        # The monitor keeps the socket: a network process started again
        # after a crash serves the created listener too.
        os.kill(d.work_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while d.log().count("role=network") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert d.log().count("role=network") == 2, d.log()
        assert_identify_response(identify(port, "127.0.0.2"))
    d.stop()
    assert d.proc.returncode == 0, d.log()

    d2 = start(checked_factory, tmp_path, users)  # the same file
    # The listeners start one after the other and the factory returns at the
    # first "listening on": wait for the created one's line (slow under ASan).
    want = f"listening on http://127.0.0.2:{port}/wsman"
    deadline = time.monotonic() + 20
    while want not in d2.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert want in d2.log(), d2.log()
    assert_identify_response(identify(port, "127.0.0.2"))
    code, text = raw(d2, XF + "Delete", LIS, sel)
    assert code == 200, text
    assert refused(port, "127.0.0.2")
    assert listen_lines(d2) == ["Listen = http://127.0.0.1:0"], d2.conf.read_text()
    assert f"PrivilegeSeparation = {privsep}" in d2.conf.read_text()


def test_https_listener_with_the_configured_certificate(checked_factory, tmp_path, users):
    c = make_cert(tmp_path / "tls")
    d = start(checked_factory, tmp_path, users, f"CertificateFile = {c.cert}",
              f"KeyFile = {c.key}")
    port = free_port("127.0.0.3")
    tp = thumbprint(c.cert)
    sel = "winrm/config/listener?Address=IP:127.0.0.3+Transport=HTTPS"
    cp = winrm(d, "create", sel, f'@{{Port="{port}";Hostname="localhost";'
               f'CertificateThumbprint="{"0" * 40}"}}')
    assert cp.returncode != 0 and "cannot find the certificate" in cp.stdout + cp.stderr, \
        cp.stdout + cp.stderr
    cp = winrm(d, "create", sel, f'@{{Port="{port}";Hostname="localhost";'
               f'CertificateThumbprint="{tp.lower()}"}}')
    assert cp.returncode == 0, cp.stdout + cp.stderr
    # curl checks the certificate against the name it was made for.
    cp = subprocess.run(["curl", "-sS", "--cacert", str(c.cert), "--resolve",
                         f"localhost:{port}:127.0.0.3", "-u", f"{USER}:{PASSWORD}",
                         "-H", "Content-Type: application/soap+xml;charset=UTF-8",
                         "--data-binary", IDENTIFY_BODY, "-w", "\nHTTP_CODE=%{http_code}\n",
                         f"https://localhost:{port}/wsman"],
                        capture_output=True, text=True, timeout=30)
    assert curl_code(cp) == 200 and "IdentifyResponse" in cp.stdout, cp.stdout + cp.stderr
    out = winrm(d, "enumerate", "winrm/config/listener").stdout
    assert f"CertificateThumbprint = {tp}" in out, out
    assert f"Listen = https://127.0.0.3:{port}/wsman" in listen_lines(d)


@pytest.mark.parametrize("selectors,body,fault", [
    ({"Address": "IP:127.0.0.256", "Transport": "HTTP"}, "", "w:InvalidSelectors"),
    ({"Address": "*", "Transport": "FTP"}, "", "w:InvalidSelectors"),
    ({"Address": "*"}, "", "w:InvalidSelectors"),
    ({"Address": "*", "Transport": "HTTP"}, "<p:Port>22</p:Port>", "w:InvalidParameter"),
    ({"Address": "*", "Transport": "HTTP"}, "<p:Port>0x50</p:Port>", "w:InvalidParameter"),
    ({"Address": "*", "Transport": "HTTP"}, "<p:Colour>red</p:Colour>",
     "x:InvalidRepresentation"),
    ({"Address": "*", "Transport": "HTTPS"}, "<p:Port>15999</p:Port>", "w:InvalidParameter"),
    ({"Address": "IP:127.0.0.1", "Transport": "HTTP"}, "<p:Port>15998</p:Port>",
     "w:AlreadyExists"),
])
def test_bad_creates(checked_factory, tmp_path, users, selectors, body, fault):
    d = start(checked_factory, tmp_path, users)
    before = d.conf.read_text()
    code, text = raw(d, XF + "Create", LIS, selectors, f'<p:Listener xmlns:p="{LIS}">{body}'
                     "</p:Listener>")
    assert code == 500 and subcode(text) == fault, text
    assert d.conf.read_text() == before


def test_only_config_writers_may(checked_factory, tmp_path, users):
    d = start(checked_factory, tmp_path, users, "Allow = config-read @carol")
    port = free_port()
    body = f'<p:Listener xmlns:p="{LIS}"><p:Port>{port}</p:Port></p:Listener>'
    sel = {"Address": "*", "Transport": "HTTP"}
    code, text = raw(d, XF + "Create", LIS, sel, body, auth=("carol", "carol-pw-3"))
    assert code == 500 and subcode(text) == "w:AccessDenied", text
    assert refused(port)
    cp = winrm(d, "delete", "winrm/config/listener?Address=IP:127.0.0.1+Transport=HTTP",
               user="carol", password="carol-pw-3")
    assert cp.returncode != 0 and "Access is denied" in cp.stdout + cp.stderr
    assert_identify_response(identify(d.port))
    assert listen_lines(d) == ["Listen = http://127.0.0.1:0"]
    code, text = raw(d, XF + "Create", CMAP, {"Issuer": "*", "Subject": "*", "URI": "*"},
                     f'<p:CertMapping xmlns:p="{CMAP}"><p:UserName>carol</p:UserName>'
                     "</p:CertMapping>", auth=("carol", "carol-pw-3"))
    assert code == 500 and subcode(text) == "w:AccessDenied", text
    assert "CertMapping" not in d.conf.read_text()


# ---- certificate mappings --------------------------------------------------------

def test_certmapping_create_login_delete(checked_factory, tmp_path, users, shell_accounts):
    user1 = shell_accounts[0][0]
    ca = CA(tmp_path / "ca", "wsmd cfg CA")
    client = ca.issue(tmp_path / "client", "Client One", upn=f"{user1}@wsmd.test")
    server = make_cert(tmp_path / "server")
    d = start(checked_factory, tmp_path, users, f"ClientCAFile = {ca.cert}",
              f"CertificateFile = {server.cert}", f"KeyFile = {server.key}",
              "Listen = https://127.0.0.1:0")
    d.https_url = f"https://127.0.0.1:{https_port(d)}/wsman"

    class P:
        pass
    p = P()
    p.server = server
    assert curl_code(curl_mutual(d, p, client)) == 401  # no mapping yet

    res = f"winrm/config/service/certmapping?Issuer={ca.sha1}+Subject={user1}@wsmd.test+URI=*"
    cp = winrm(d, "create", res, f'@{{UserName="{user1}";Password="unused";Enabled="true"}}')
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "ResourceCreated" in cp.stdout
    text = d.conf.read_text()
    assert f"CertMapping = Issuer={ca.sha1} Subject=\"{user1}@wsmd.test\" UserName={user1}" \
        in text, text
    assert "unused" not in text  # the password is never written
    cp = curl_mutual(d, p, client)
    assert curl_code(cp) == 200 and "IdentifyResponse" in cp.stdout, cp.stdout + d.log()

    out = winrm(d, "enumerate", "winrm/config/service/certmapping").stdout
    assert f"Issuer = {ca.sha1}" in out and f"UserName = {user1}" in out, out
    assert "Password" not in out
    out = winrm(d, "get", res).stdout
    assert f"UserName = {user1}" in out and f"Subject = {user1}@wsmd.test" in out, out
    cp = winrm(d, "create", res, f'@{{UserName="{user1}"}}')
    assert cp.returncode != 0 and "0x800700B7" in cp.stdout + cp.stderr

    # A mapping to root is for the configuration file only.
    cp = winrm(d, "create", res.replace("Subject=", "Subject=r"), '@{UserName="root"}')
    assert cp.returncode != 0 and "uid 0" in cp.stdout + cp.stderr, cp.stdout + cp.stderr
    # An Issuer that is no CA of ClientCAFile.
    cp = winrm(d, "create", res.replace(ca.sha1, "AB" * 20), f'@{{UserName="{user1}"}}')
    assert cp.returncode != 0 and "ClientCAFile" in cp.stdout + cp.stderr

    # Nothing that would not stay one line of the file, or be cut at '#'.
    for subject, user in (("a&#10;Allow = all *", user1), ("a#b", user1), ("x", "a&#10;b"),
                          ("y", "a#b")):
        code, text = raw(d, XF + "Create", CMAP,
                         {"Issuer": ca.sha1, "Subject": subject, "URI": "*"},
                         f'<p:CertMapping xmlns:p="{CMAP}"><p:UserName>{user}</p:UserName>'
                         "</p:CertMapping>")
        assert code == 500 and subcode(text) in ("w:InvalidSelectors", "w:InvalidParameter"), \
            text
    assert "Allow = all *" not in d.conf.read_text()

    cp = winrm(d, "delete", res)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert curl_code(curl_mutual(d, p, client)) == 401
    assert "CertMapping" not in d.conf.read_text().replace("# written", "")
    cp = winrm(d, "delete", res)
    assert cp.returncode != 0 and "0x80338000" in cp.stdout + cp.stderr


def test_delete_the_listener_the_request_came_on(checked_factory, tmp_path, users):
    """The reply still goes out on the connection; then the port refuses."""
    d = start(checked_factory, tmp_path, users)
    port = free_port("127.0.0.4")
    sel = {"Address": "IP:127.0.0.4", "Transport": "HTTP"}
    code, text = raw(d, XF + "Create", LIS, sel,
                     f'<p:Listener xmlns:p="{LIS}"><p:Port>{port}</p:Port></p:Listener>')
    assert code == 200, text

    class Via:
        url = f"http://127.0.0.4:{port}/wsman"
    code, text = raw(Via, XF + "Delete", LIS, sel)
    assert code == 200 and "DeleteResponse" in text, text
    assert refused(port, "127.0.0.4")
    # Its slot is reused once its connections are gone.
    for i in range(9):
        p = free_port("127.0.0.4")
        code, text = raw(d, XF + "Create", LIS, sel,
                         f'<p:Listener xmlns:p="{LIS}"><p:Port>{p}</p:Port></p:Listener>')
        assert code == 200, (i, text)
        assert_identify_response(identify(p, "127.0.0.4"))
        code, text = raw(d, XF + "Delete", LIS, sel)
        assert code == 200, (i, text)
    d.assert_alive()


def test_ipv6_listener(checked_factory, tmp_path, users):
    try:
        port = free_port_v6()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    d = start(checked_factory, tmp_path, users)
    cp = winrm(d, "create", "winrm/config/listener?Address=IP:[::1]+Transport=HTTP",
               f'@{{Port="{port}"}}')
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"Listen = http://[::1]:{port}/wsman" in listen_lines(d)
    conn = http.client.HTTPConnection("::1", port, timeout=10)
    assert_identify_response(request(port, conn=conn))
    conn.close()
    out = winrm(d, "get", "winrm/config/listener?Address=IP:::1+Transport=HTTP").stdout
    assert f"Port = {port}" in out, out
    cp = winrm(d, "delete", "winrm/config/listener?Address=IP:[::1]+Transport=HTTP")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert listen_lines(d) == ["Listen = http://127.0.0.1:0"]


def free_port_v6():
    s = socket.socket(socket.AF_INET6)
    s.bind(("::1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
