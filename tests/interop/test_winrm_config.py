"""winrm/config reads against a live wsmd (docs/internals/winrm-config.md).

The daemon starts from a configuration file (MaxEnvelopeSize, AllowUnencrypted,
MaxShellsPerUser, CbtHardeningLevel) with an https and an http listener on
loopback; the tests check that what `winrm get winrm/config` and `winrm
enumerate winrm/config/listener` answer is that configuration, through curl
with raw SOAP, our winrm tool and Dell's wsl.
"""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from test_https import https_port, make_cert
from test_winrm_tool import winrm_bin
from wsman_helpers import NS, PASSWORD, SOAP_CT, USER, wsman_envelope

CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"
LIS = CFG + "/listener"
XF = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
EN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
NS_EN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
TIMEOUT = 60

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None,
                                reason="openssl and curl are needed")


@pytest.fixture
def d(wsmd_factory, users_file, tmp_path):
    """wsmd from a config file: https + http on loopback (https first)."""
    c = make_cert(tmp_path / "tls")
    conf = tmp_path / "wsmd.conf"
    conf.write_text(
        "MaxEnvelopeSize = 307200   # bytes: 300 KB\n"
        "AllowUnencrypted = true\n"
        "MaxShellsPerUser = 7\n"
        "MaxConnections = 300\n"
        "CbtHardeningLevel = Strict\n"
        "Listen = https://127.0.0.1:0\n"
        "Listen = http://127.0.0.1:0\n"
        f"CertificateFile = {c.cert}\n"
        f"KeyFile = {c.key}\n")
    d = wsmd_factory("-c", str(conf), "--users", str(users_file))
    d.cert = c
    d.https_port = https_port(d)
    return d


def thumbprint(cert):
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint",
                          "-sha1"], capture_output=True, text=True, check=True).stdout
    return out.split("=", 1)[1].strip().replace(":", "").upper()


def curl_soap(url, body, auth=True, cacert=None):
    """POST body with curl; returns (HTTP status, response text)."""
    args = ["curl", "-sS", "--max-time", "20", "-H", f"Content-Type: {SOAP_CT}",
            "--data-binary", "@-", "-w", "\nHTTP_CODE=%{http_code}", url]
    if auth:
        args[1:1] = ["-u", f"{USER}:{PASSWORD}"]
    if cacert:
        args[1:1] = ["--cacert", str(cacert)]
    cp = subprocess.run(args, input=body, capture_output=True, text=True, timeout=TIMEOUT)
    assert cp.returncode == 0, cp.stderr
    text, _, code = cp.stdout.rpartition("\nHTTP_CODE=")
    return int(code), text


def soap(d, action, uri, body="", selectors=None, auth=True, https=False):
    url = f"https://127.0.0.1:{d.https_port}/wsman" if https else d.url
    env = wsman_envelope(action, uri, url, body=body)
    if selectors:
        sel = "".join(f'<w:Selector Name="{k}">{v}</w:Selector>' for k, v in selectors.items())
        env = env.replace("</s:Header>", f"<w:SelectorSet>{sel}</w:SelectorSet></s:Header>")
    return curl_soap(url, env, auth=auth, cacert=d.cert.cert if https else None)


def body_of(text):
    return ET.fromstring(text.encode()).find("s:Body", NS)


def values(el):
    """{local name: text} of el's children (lists for repeated names)."""
    out = {}
    for c in el:
        name = c.tag.rsplit("}", 1)[-1]
        v = (c.text or "").strip() if len(c) == 0 else c
        if name in out:
            out[name] = (out[name] if isinstance(out[name], list) else [out[name]]) + [v]
        else:
            out[name] = v
    return out


def names(el):
    return [c.tag.rsplit("}", 1)[-1] for c in el]


# ---- curl + raw SOAP ------------------------------------------------------

def test_get_config_reflects_the_config_file(d):
    code, text = soap(d, XF + "Get", CFG)
    assert code == 200, text
    cfg = body_of(text).find("{%s}Config" % CFG)
    assert cfg is not None, text
    assert names(cfg) == ["MaxEnvelopeSizekb", "MaxTimeoutms", "MaxBatchItems", "Service",
                          "Winrs"]
    v = values(cfg)
    assert v["MaxEnvelopeSizekb"] == "300"
    assert v["MaxTimeoutms"] == "600000" and v["MaxBatchItems"] == "32000"
    svc = values(v["Service"])
    assert names(v["Service"]) == ["RootSDDL", "MaxConcurrentOperationsPerUser",
                                   "EnumerationTimeoutms", "MaxConnections",
                                   "AllowUnencrypted", "Auth", "DefaultPorts"]
    assert names(v["Winrs"]) == ["AllowRemoteShellAccess", "IdleTimeout", "MaxConcurrentUsers",
                                 "MaxShellRunTime", "MaxProcessesPerShell",
                                 "MaxMemoryPerShellMB", "MaxShellsPerUser",
                                 "MaxConcurrentCommandsPerShell"]
    assert svc["RootSDDL"].startswith("O:NSG:BAD:P(A;;GA;;;")
    assert svc["AllowUnencrypted"] == "true"
    assert svc["EnumerationTimeoutms"] == "240000" and svc["MaxConnections"] == "300"
    assert values(svc["DefaultPorts"]) == {"HTTP": "5985", "HTTPS": "5986"}
    auth = values(svc["Auth"])
    assert auth["Basic"] == "true" and auth["CredSSP"] == "false"
    assert auth["Kerberos"] == "false"       # no Keytab
    assert auth["Certificate"] == "false"    # no ClientCAFile
    assert auth["CbtHardeningLevel"] == "Strict"
    winrs = values(v["Winrs"])
    assert winrs["MaxShellsPerUser"] == "7" and winrs["AllowRemoteShellAccess"] == "true"
    assert winrs["IdleTimeout"] == "7200000" and winrs["MaxProcessesPerShell"] == "25"
    # No secret and no path of the configuration shows. (RootSDDL names
    # the groups and users the policy grants rights to, as Windows' names
    # their SIDs: the policy is not a secret from those who may read it.)
    shown = re.sub(r"<cfg:RootSDDL>[^<]*</cfg:RootSDDL>", "", text.split("<s:Body>", 1)[1])
    for secret in (str(d.cert.key), str(d.cert.cert), "users", USER):
        assert secret not in shown


def test_get_service_auth(d):
    code, text = soap(d, XF + "Get", CFG + "/service/auth", https=True)
    assert code == 200, text
    auth = body_of(text).find("{%s}Auth" % (CFG + "/service/auth"))
    assert auth is not None, text
    assert names(auth) == ["Basic", "Kerberos", "Negotiate", "Certificate", "CredSSP",
                           "CbtHardeningLevel"]
    assert values(auth)["CbtHardeningLevel"] == "Strict"


def test_enumerate_and_pull_listeners(d):
    code, text = soap(d, EN + "Enumerate", LIS, body='<n:Enumerate xmlns:n="%s"/>' % NS_EN)
    assert code == 200, text
    ctx = body_of(text).find("n:EnumerateResponse/n:EnumerationContext",
                             {"n": NS_EN}).text
    listeners = []
    for _ in range(5):
        pull = ('<n:Pull xmlns:n="%s"><n:EnumerationContext>%s</n:EnumerationContext>'
                "<n:MaxElements>1</n:MaxElements></n:Pull>" % (NS_EN, ctx))
        code, text = soap(d, EN + "Pull", LIS, body=pull)
        assert code == 200, text
        resp = body_of(text).find("{%s}PullResponse" % NS_EN)
        listeners += resp.findall("{%s}Items/{%s}Listener" % (NS_EN, LIS))
        if resp.find("{%s}EndOfSequence" % NS_EN) is not None:
            break
        ctx = resp.find("{%s}EnumerationContext" % NS_EN).text
    assert len(listeners) == 2, text
    https, http = (values(x) for x in listeners)
    for lis in (https, http):
        assert lis["Address"] == "IP:127.0.0.1" and lis["Hostname"] == ""
        assert lis["Enabled"] == "true" and lis["URLPrefix"] == "wsman"
        assert lis["ListeningOn"] == "127.0.0.1"
    assert names(listeners[0]) == ["Address", "Transport", "Port", "Hostname", "Enabled",
                                   "URLPrefix", "CertificateThumbprint", "ListeningOn"]
    assert https["Transport"] == "HTTPS" and https["Port"] == str(d.https_port)
    assert https["CertificateThumbprint"] == thumbprint(d.cert.cert)
    assert http["Transport"] == "HTTP" and http["Port"] == str(d.port)
    assert http["CertificateThumbprint"] == ""


def test_get_listener_by_selectors(d):
    code, text = soap(d, XF + "Get", LIS, selectors={"Address": "IP:127.0.0.1",
                                                     "Transport": "HTTPS"})
    assert code == 200, text
    lis = values(body_of(text).find("{%s}Listener" % LIS))
    assert lis["Port"] == str(d.https_port)
    code, text = soap(d, XF + "Get", LIS, selectors={"Address": "*", "Transport": "HTTP"})
    assert code == 500 and "DestinationUnreachable" in text


@pytest.mark.parametrize("action", ["Put", "Create", "Delete"])
def test_writes_are_refused(d, action):
    """Create and Delete mean nothing on a section; a Put of a read-only
    element is refused (writes: test_winrm_config_set.py)."""
    body = '<cfg:Config xmlns:cfg="%s"><cfg:MaxBatchItems>1000</cfg:MaxBatchItems>' \
           "</cfg:Config>" % CFG if action != "Delete" else ""
    code, text = soap(d, XF + action, CFG, body=body)
    assert code == 500, text
    fault = body_of(text).find("s:Fault", NS)
    sub = fault.find("s:Code/s:Subcode/s:Value", NS).text
    msg = fault.find("s:Detail/f:WSManFault/f:Message", NS).text
    if action == "Put":
        assert sub == "x:InvalidRepresentation" and "MaxBatchItems" in msg, msg
    else:
        assert sub == "a:ActionNotSupported" and "winrm set" in msg, msg
    # and nothing changed
    code, text = soap(d, XF + "Get", CFG)
    assert values(body_of(text).find("{%s}Config" % CFG))["MaxBatchItems"] == "32000"


def test_unauthenticated_is_401(d):
    code, _ = soap(d, XF + "Get", CFG, auth=False)
    assert code == 401


def test_client_config_is_not_served(d):
    code, text = soap(d, XF + "Get", CFG + "/client")
    assert code == 500 and "DestinationUnreachable" in text


# ---- our winrm tool -------------------------------------------------------

def winrm(d, *words):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    return subprocess.run([winrm_bin(), *words, f"-r:{d.url}", f"-u:{USER}", f"-p:{PASSWORD}"],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)


def ok(cp):
    assert cp.returncode == 0, f"rc={cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp.stdout


def test_winrm_get_config_text(d):
    out = ok(winrm(d, "get", "winrm/config"))
    lines = out.splitlines()
    assert lines[0] == "Config"
    assert "    MaxEnvelopeSizekb = 300" in lines
    assert "    Service" in lines and "        AllowUnencrypted = true" in lines
    assert "        Auth" in lines and "            CbtHardeningLevel = Strict" in lines
    assert "    Winrs" in lines and "        MaxShellsPerUser = 7" in lines


def test_winrm_get_service_formats(d):
    x = ET.fromstring(ok(winrm(d, "get", "winrm/config/service", "-format:xml")))
    assert x.tag == "{%s}Service" % (CFG + "/service")
    assert values(x)["AllowUnencrypted"] == "true"
    pretty = ok(winrm(d, "get", "winrm/config/service", "-format:pretty"))
    assert "\n  <cfg:AllowUnencrypted>true</cfg:AllowUnencrypted>" in pretty
    j = ok(winrm(d, "get", "winrm/config/service", "-format:json"))
    assert '"CbtHardeningLevel": "Strict"' in j


def test_winrm_enumerate_listeners(d):
    out = ok(winrm(d, "enumerate", "winrm/config/listener"))
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert len(blocks) == 2 and all(b.startswith("Listener\n") for b in blocks), out
    assert "    Transport = HTTPS" in blocks[0]
    assert f"    CertificateThumbprint = {thumbprint(d.cert.cert)}" in blocks[0]
    assert f"    Port = {d.port}" in blocks[1]
    # As winrm.cmd prints an empty value: the name alone.
    assert "\n    Hostname\n" in blocks[1] and "\n    CertificateThumbprint\n" in blocks[1], out
    x = ET.fromstring(ok(winrm(d, "e", "winrm/config/listener", "-format:xml")))
    assert [values(i)["Transport"] for i in x] == ["HTTPS", "HTTP"]


def test_winrm_get_listener(d):
    out = ok(winrm(d, "get", "winrm/config/listener?Address=IP:127.0.0.1+Transport=HTTP"))
    assert out.startswith("Listener\n") and f"    Port = {d.port}" in out


def test_winrm_set_read_only_is_refused(d):
    cp = winrm(d, "set", "winrm/config", '@{MaxBatchItems="1000"}')
    assert cp.returncode == 1, cp
    assert "cannot change MaxBatchItems" in cp.stdout + cp.stderr


def test_winrm_listener_on_any_address(wsmd_factory, users_file):
    """Address=* for a listener on 0.0.0.0; ListeningOn lists the host's
    IPv4 addresses (loopback among them)."""
    d = wsmd_factory("--listen", "http://0.0.0.0:0", "--listen", "http://127.0.0.1:0",
                     "--users", str(users_file), "--allow-unencrypted")
    x = ET.fromstring(ok(winrm(d, "get", "winrm/config/listener?Address=*+Transport=HTTP",
                               "-format:xml")))
    v = values(x)
    assert v["Address"] == "*" and v["Port"] != str(d.port)
    on = v["ListeningOn"] if isinstance(v["ListeningOn"], list) else [v["ListeningOn"]]
    assert "127.0.0.1" in on and all(re.fullmatch(r"[0-9.]+", a) for a in on)


# ---- Dell wsl -------------------------------------------------------------

have_wsl = shutil.which("wsl") is not None and os.path.exists("/usr/bin/wslenum")


@pytest.mark.skipif(not have_wsl, reason="Dell wsl not installed")
def test_wsl_get_and_enum(d, tmp_path):
    from test_cim_wsl import run_wsl
    # wsl get exits 1 without selectors (it looks for an element named after
    # the last one): the response is what counts.
    r = run_wsl(d, tmp_path, "get", CFG)
    assert not r.faults(), r.detail()
    cfg = r.parsed(1).find("s:Body/{%s}Config" % CFG, NS)
    assert cfg is not None and values(cfg)["MaxEnvelopeSizekb"] == "300", r.detail()

    r = run_wsl(d, tmp_path, "get", LIS, "Address=IP:127.0.0.1", "Transport=HTTP")
    r.assert_clean()
    assert values(r.parsed(1).find("s:Body/{%s}Listener" % LIS, NS))["Port"] == str(d.port)

    r = run_wsl(d, tmp_path, "enum", LIS)
    r.assert_clean()
    assert [values(i)["Transport"] for i in r.items()] == ["HTTPS", "HTTP"], r.detail()
