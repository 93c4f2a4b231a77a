"""winrm/config writes against a live wsmd (docs/internals/winrm-config.md "Writes").

Each change goes once through our `winrm set` and once as a raw Put from
python-requests (an independent client), and is checked three ways: its
effect on the running service, the configuration file (comments and other
lines kept), and the value after a restart of wsmd from that file. Run as
root (as in CI) wsmd is privilege-separated, so the file is written by the
monitor (PS_CONFIG_SET); one test runs the single process.
"""

import os
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest
import requests
import winrm as pywinrm

from conftest import user_add
from test_winrm_tool import winrm_bin
from wsman_helpers import NS, PASSWORD, SOAP_CT, USER, wsman_envelope

CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"
XF = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
TIMEOUT = 30
CAROL, CAROL_PW = "carol", "carol-pw-3"
NONLOOP = "192.0.2.2"  # the test machine's address; skipped where it is not there

HEAD = ("# wsmd.conf written by the test\n"
        "# keep this comment\n"
        "Listen = http://127.0.0.1:0\n")


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_nonloop():
    try:
        free_port(NONLOOP)
        return True
    except OSError:
        return False


@pytest.fixture
def users(tmp_path, shell_accounts):
    path = tmp_path / "users"
    user_add(path, USER, PASSWORD)
    user_add(path, CAROL, CAROL_PW)
    for name, pw in shell_accounts:
        user_add(path, name, pw)
    return path


class Conf:
    """A daemon started from a config file, and how to restart it."""

    def __init__(self, factory, users, path, extra=()):
        self.factory, self.users, self.path, self.extra = factory, users, path, list(extra)
        self.d = None
        self.start()

    def start(self):
        # As root conftest adds the administrators' Allow lines; not root,
        # any Allow line replaces "everyone may", so they are given here.
        admins = [] if os.geteuid() == 0 else [
            "--allow", "all " + " ".join(f"@{u}" for u in (USER, "wsmdsh1", "wsmdsh2"))]
        self.d = self.factory("-c", str(self.path), "--users", str(self.users),
                              "--allow", f"read,config-read @{CAROL}", *admins, *self.extra)
        return self.d

    def restart(self):
        rc, log = self.d.stop()
        assert rc == 0, log
        return self.start()

    @property
    def url(self):
        return self.d.url

    def text(self):
        return self.path.read_text()


@pytest.fixture
def conf(wsmd_factory, users, tmp_path):
    path = tmp_path / "wsmd.conf"
    path.write_text(HEAD + "MaxEnvelopeSize = 307200   # bytes\n"
                    "MaxShellsPerUser = 30  # Windows' default\n")
    return Conf(wsmd_factory, users, path)


# ---- clients ----------------------------------------------------------------

def raw(url, action, uri, body="", user=USER, pw=PASSWORD):
    """A request from python-requests: (HTTP status, parsed envelope or None)."""
    env = wsman_envelope(action, uri, url, body=body)
    r = requests.post(url, data=env.encode(), auth=(user, pw),
                      headers={"Content-Type": SOAP_CT}, timeout=TIMEOUT)
    x = ET.fromstring(r.content) if r.content else None
    return r.status_code, x


def put(url, section, inner, **kw):
    """A raw Put of section (e.g. "winrs") with inner elements {name: value}."""
    uri = f"{CFG}/{section}" if section else CFG
    el = {"": "Config", "service": "Service", "service/auth": "Auth",
          "winrs": "Winrs"}[section]
    body = f'<cfg:{el} xmlns:cfg="{uri}">' + "".join(
        f"<cfg:{k}>{v}</cfg:{k}>" for k, v in inner.items()) + f"</cfg:{el}>"
    return raw(url, XF + "Put", uri, body, **kw)


def fault_of(x):
    f = x.find("s:Body/s:Fault", NS)
    assert f is not None, ET.tostring(x)
    return (f.find("s:Code/s:Subcode/s:Value", NS).text,
            f.find("s:Detail/f:WSManFault/f:Message", NS).text)


def get(url, section=""):
    """{name: text} of the section's leaves, nested ones too (last wins)."""
    code, x = raw(url, XF + "Get", f"{CFG}/{section}" if section else CFG)
    assert code == 200, ET.tostring(x)
    return {e.tag.rsplit("}", 1)[-1]: (e.text or "") for e in x.find("s:Body", NS).iter()
            if len(e) == 0}


def winrm(url, *words, user=USER, pw=PASSWORD):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    return subprocess.run([winrm_bin(), *words, f"-r:{url}", f"-u:{user}", f"-p:{pw}"],
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)


def ok(cp):
    assert cp.returncode == 0, f"rc={cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp.stdout


# ---- the tests ----------------------------------------------------------------

@pytest.mark.skipif(not have_nonloop(), reason=f"no {NONLOOP} on this machine")
def test_allow_unencrypted_live_file_restart(wsmd_factory, users, tmp_path):
    port = free_port(NONLOOP)
    path = tmp_path / "wsmd.conf"
    path.write_text(HEAD + f"Listen = http://{NONLOOP}:{port}\n"
                    "AllowUnencrypted = false   # plain Basic only on loopback\n")
    c = Conf(wsmd_factory, users, path)
    far = f"http://{NONLOOP}:{port}/wsman"
    assert raw(far, XF + "Get", CFG)[0] == 401  # Basic over plain http: refused
    out = ok(winrm(c.url, "set", "winrm/config/service", '@{AllowUnencrypted="true"}'))
    assert "    AllowUnencrypted = true" in out
    assert raw(far, XF + "Get", CFG)[0] == 200  # live
    assert c.text() == (HEAD + f"Listen = http://{NONLOOP}:{port}\n"
                        "AllowUnencrypted = true # plain Basic only on loopback\n")
    c.restart()
    far = f"http://{NONLOOP}:{port}/wsman"
    assert get(far, "service")["AllowUnencrypted"] == "true"
    # Back, from the independent client.
    code, x = put(c.url, "service", {"AllowUnencrypted": "false"})
    assert code == 200, ET.tostring(x)
    assert x.find("s:Header/a:Action", NS).text == XF + "PutResponse"
    assert raw(far, XF + "Get", CFG)[0] == 401
    assert "AllowUnencrypted = false # plain" in c.text()


def test_max_shells_per_user(conf, shell_accounts):
    (user, pw) = shell_accounts[0]

    def shell():
        p = pywinrm.protocol.Protocol(conf.url, transport="basic", username=user,
                                      password=pw, server_cert_validation="ignore")
        return p, p.open_shell()

    code, x = put(conf.url, "winrs", {"MaxShellsPerUser": "1"})  # raw Put
    assert code == 200, ET.tostring(x)
    p1, s1 = shell()
    with pytest.raises(Exception) as e:
        shell()
    assert "QuotaLimit" in str(e.value) or "500" in str(e.value), e.value
    # Through our tool: one more allowed, at once.
    out = ok(winrm(conf.url, "set", "winrm/config/winrs", '@{MaxShellsPerUser="2"}',
                   user=user, pw=pw))
    assert "    MaxShellsPerUser = 2" in out
    p2, s2 = shell()
    p2.close_shell(s2)
    p1.close_shell(s1)
    assert "MaxShellsPerUser = 2 # Windows' default\n" in conf.text()
    assert conf.text().startswith(HEAD)
    conf.restart()
    assert get(conf.url, "winrs")["MaxShellsPerUser"] == "2"


def test_max_timeout(conf, shell_accounts):
    """MaxTimeoutms cuts a Receive's OperationTimeout (pywinrm asks 20 s)."""
    import time
    from winrm.exceptions import WinRMOperationTimeoutError
    (user, pw) = shell_accounts[0]
    ok(winrm(conf.url, "set", "winrm/config", '@{MaxTimeoutms="1000"}'))
    assert get(conf.url)["MaxTimeoutms"] == "1000"
    p = pywinrm.protocol.Protocol(conf.url, transport="basic", username=user, password=pw)
    sid = p.open_shell()
    try:
        cid = p.run_command(sid, "sleep", ["30"])
        t0 = time.monotonic()
        with pytest.raises(WinRMOperationTimeoutError):
            p._raw_get_command_output(sid, cid)
        assert time.monotonic() - t0 < 10
    finally:
        p.close_shell(sid)
    assert "MaxTimeoutms = 1000\n" in conf.text()


def test_max_envelope_size(conf):
    small = wsman_envelope(XF + "Get", CFG, conf.url)
    big = small.replace("</s:Header>", "<!--" + "x" * 40000 + "--></s:Header>")

    def post(env):
        return requests.post(conf.url, data=env.encode(), auth=(USER, PASSWORD),
                             headers={"Content-Type": SOAP_CT}, timeout=TIMEOUT).status_code

    assert post(big) == 200  # 40 KB under 300 KB
    out = ok(winrm(conf.url, "set", "winrm/config", '@{MaxEnvelopeSizekb="32"}'))
    assert "    MaxEnvelopeSizekb = 32" in out
    assert post(big) != 200 and post(small) == 200  # live
    # MaxEnvelopeSize (bytes) set the same limit: its line goes.
    assert c_lines(conf) == [*HEAD.splitlines(), "MaxShellsPerUser = 30  # Windows' default",
                             "MaxEnvelopeSizekb = 32"]
    conf.restart()
    assert get(conf.url)["MaxEnvelopeSizekb"] == "32"
    code, x = put(conf.url, "", {"MaxEnvelopeSizekb": "1000"})  # raw
    assert code == 200 and post(big) == 200


def c_lines(conf):
    return conf.text().splitlines()


@pytest.mark.parametrize("section,inner,why", [
    ("winrs", {"MaxShellsPerUser": "0"}, "MaxShellsPerUser"),
    ("winrs", {"IdleTimeout": "abc"}, "IdleTimeout"),
    ("", {"MaxEnvelopeSizekb": "99999999"}, "MaxEnvelopeSizekb"),
    ("service/auth", {"Basic": "yes please"}, "true or false"),
    ("service/auth", {"CbtHardeningLevel": "Medium"}, "None, Relaxed or Strict"),
    ("service", {"RootSDDL": "O:NSG:BAD:P(A;;GA;;;WD)"}, "Allow lines"),
    ("service/auth", {"Kerberos": "true"}, "Keytab"),
    ("", {"MaxBatchItems": "5"}, "fixed in this build"),
    ("", {"MaxTimeoutms": "499"}, "MaxTimeoutms"),
    ("winrs", {"MaxShellRunTime": "5"}, "MaxShellRunTime"),
    ("winrs", {"MaxShellStartupTime": "5"}, "not a setting"),
    # One good value and one bad: nothing happens.
    ("winrs", {"MaxShellsPerUser": "5", "MaxProcessesPerShell": "-1"}, "MaxProcessesPerShell"),
])
def test_bad_value_changes_nothing(conf, section, inner, why):
    before_file, before = conf.text(), get(conf.url)
    code, x = put(conf.url, section, inner)
    assert code == 500
    sub, msg = fault_of(x)
    assert sub == "x:InvalidRepresentation" and why in msg, (sub, msg)
    assert conf.text() == before_file and get(conf.url) == before


def test_winrm_tool_bad_value(conf):
    before = conf.text()
    cp = winrm(conf.url, "set", "winrm/config/winrs", '@{MaxShellsPerUser="many"}')
    assert cp.returncode == 1
    assert 'the value of MaxShellsPerUser ("many") is invalid' in cp.stdout + cp.stderr
    assert conf.text() == before


def test_non_admin_is_denied(conf):
    """carol may read the configuration, not change it."""
    before = conf.text()
    assert get(conf.url, "winrs")["MaxShellsPerUser"] == "30"
    code, x = put(conf.url, "winrs", {"MaxShellsPerUser": "3"}, user=CAROL, pw=CAROL_PW)
    assert code == 500 and fault_of(x)[0] == "w:AccessDenied"
    cp = winrm(conf.url, "set", "winrm/config/winrs", '@{MaxShellsPerUser="3"}',
               user=CAROL, pw=CAROL_PW)
    assert cp.returncode == 1 and "Access is denied" in cp.stdout + cp.stderr
    code, x = raw(conf.url, CFG + "/Restore", CFG, f'<p:Restore_INPUT xmlns:p="{CFG}"/>',
                  user=CAROL, pw=CAROL_PW)
    assert code == 500 and fault_of(x)[0] == "w:AccessDenied"
    assert conf.text() == before and get(conf.url, "winrs")["MaxShellsPerUser"] == "30"
    assert "event=access-denied user=carol family=winrm-config" in conf.d.log()


def test_basic_off_and_restore(conf):
    out = ok(winrm(conf.url, "set", "winrm/config/service",
                   '@{AllowUnencrypted="true";EnumerationTimeoutms="60000"}'))
    assert "    EnumerationTimeoutms = 60000" in out
    ok(winrm(conf.url, "set", "winrm/config/service/auth", '@{CbtHardeningLevel="Strict"}'))
    assert "AllowUnencrypted = true" in conf.text()
    # Restore through our tool: the managed keys go, the rest stays.
    out = ok(winrm(conf.url, "invoke", "Restore", "winrm/config", "@{}"))
    assert "Restore_OUTPUT" in out
    assert conf.text() == HEAD
    v = get(conf.url)
    assert (v["MaxEnvelopeSizekb"], v["MaxShellsPerUser"], v["AllowUnencrypted"],
            v["EnumerationTimeoutms"], v["CbtHardeningLevel"]) == \
        ("500", "30", "false", "240000", "Relaxed")
    assert "event=config-restore user=alice" in conf.d.log()
    # Basic off (raw Put): the next Basic request is refused, even on
    # loopback; the file says so, and so does the next start.
    code, _ = put(conf.url, "service/auth", {"Basic": "false"})
    assert code == 200
    assert raw(conf.url, XF + "Get", CFG)[0] == 401
    assert conf.text() == HEAD + "AuthBasic = false\n"
    conf.restart()
    assert raw(conf.url, XF + "Get", CFG)[0] == 401


def test_single_process_and_no_file(wsmd_factory, users, tmp_path):
    """Not separated, wsmd writes the file itself; without -c a change is
    refused (it would not survive a restart)."""
    path = tmp_path / "wsmd.conf"
    path.write_text(HEAD + "PrivilegeSeparation = no\n")
    c = Conf(wsmd_factory, users, path)
    code, x = put(c.url, "winrs", {"IdleTimeout": "60000"})
    assert code == 200, ET.tostring(x)
    assert c.text() == HEAD + "PrivilegeSeparation = no\nIdleTimeout = 60000\n"
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users))
    code, x = put(d.url, "winrs", {"IdleTimeout": "60000"})
    assert code == 500
    sub, msg = fault_of(x)
    assert sub == "a:ActionNotSupported" and "without a configuration file" in msg
    assert get(d.url, "winrs")["IdleTimeout"] == "7200000"


def test_create_delete_still_refused(conf):
    for action in ("Create", "Delete"):
        code, x = raw(conf.url, XF + action, CFG + "/winrs")
        assert code == 500 and fault_of(x)[0] == "a:ActionNotSupported"
