"""winrm/config/client: our winrm's per-user settings (src/cli/clientcfg.c).

`winrm get|set winrm/config/client...` act on $XDG_CONFIG_HOME/wsmd/client.conf
with no request; the tool then honours them before it connects (AllowUnencrypted,
TrustedHosts, client/auth, DefaultPorts, DefaultAuth) with Windows' messages. A
real wsmd with a listener on the machine's non-loopback address is the server.
"""

import os
import subprocess

import pytest

from conftest import user_add
from test_winrm_config_set import NONLOOP, free_port, have_nonloop
from test_winrm_tool import winrm_bin
from wsman_helpers import PASSWORD, USER

TIMEOUT = 30
TRUSTED_MSG = ("If the authentication scheme is different from Kerberos, or if the client "
               "computer is not joined to a domain, then HTTPS transport must be used or the "
               "destination machine must be added to the TrustedHosts configuration setting.")
UNENC_MSG = "Unencrypted traffic is currently disabled in the client configuration."


@pytest.fixture
def xdg(tmp_path):
    return tmp_path / "xdg"


def winrm(xdg, *words, creds=True):
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    env["XDG_CONFIG_HOME"] = str(xdg)
    extra = [f"-u:{USER}", f"-p:{PASSWORD}"] if creds else []
    return subprocess.run([winrm_bin(), *words, *extra], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


def conf_file(xdg):
    return xdg / "wsmd" / "client.conf"


def test_get_set_locally(xdg):
    cp = winrm(xdg, "get", "winrm/config/client", creds=False)
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0] == "Client"
    for want in ("    AllowUnencrypted = false", "        Basic = true", "        HTTP = 5985",
                 "        HTTPS = 5986", "    TrustedHosts"):
        assert want in lines, cp.stdout
    assert not conf_file(xdg).exists()  # a get writes nothing
    cp = winrm(xdg, "set", "winrm/config/client", '@{TrustedHosts="*.example.com,10.1.2.3"}',
               creds=False)
    assert cp.returncode == 0, cp.stderr
    assert "    TrustedHosts = *.example.com,10.1.2.3" in cp.stdout.splitlines()
    assert "TrustedHosts = *.example.com,10.1.2.3\n" in conf_file(xdg).read_text()
    cp = winrm(xdg, "get", "winrm/config/client/defaultports", "-format:xml", creds=False)
    assert 'xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config/client/defaultports"' \
        in cp.stdout and "<cfg:HTTP>5985</cfg:HTTP>" in cp.stdout
    before = conf_file(xdg).read_text()
    for section, h, why in [("client/auth", '@{Basic="maybe"}', "want true or false"),
                            ("client/defaultports", '@{HTTP="70000"}', "a port from 1"),
                            ("client", '@{DefaultAuth="digest"}', "basic, negotiate"),
                            ("client", '@{TrustedHosts="a\nb"}', "TrustedHosts"),
                            ("client", '@{NoSuch="1"}', "does not match any properties")]:
        cp = winrm(xdg, "set", f"winrm/config/{section}", h, creds=False)
        assert cp.returncode != 0 and why in cp.stderr, (h, cp.stderr)
    assert conf_file(xdg).read_text() == before
    # A broken file is named, with the line and the key.
    conf_file(xdg).write_text("# mine\nTrustedHosts = x\nColour = blue\n")
    cp = winrm(xdg, "get", "winrm/config/client", creds=False)
    assert cp.returncode == 1 and "client.conf:3: unknown key Colour" in cp.stderr


@pytest.fixture
def far(wsmd_factory, tmp_path):
    """wsmd with an http listener on the non-loopback address, which takes
    Basic there (AllowUnencrypted = true), and a loopback one."""
    if not have_nonloop():
        pytest.skip(f"no {NONLOOP} on this machine")
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    port = free_port(NONLOOP)
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--listen", f"http://{NONLOOP}:{port}",
                     "--users", str(users), "--allow-unencrypted")
    d.far = f"http://{NONLOOP}:{port}/wsman"
    d.far_port = port
    return d


def test_allow_unencrypted(far, xdg):
    cp = winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.far}")
    assert cp.returncode == 1 and UNENC_MSG in cp.stderr, cp
    assert "action=http://schemas.xmlsoap.org/ws/2004/09/transfer/Get" not in far.log()
    # Loopback is not refused: the traffic does not leave the host.
    assert winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.url}").returncode == 0
    cp = winrm(xdg, "set", "winrm/config/client", '@{AllowUnencrypted="true"}', creds=False)
    assert cp.returncode == 0, cp.stderr
    cp = winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.far}")
    assert cp.returncode == 0 and "MaxShellsPerUser" in cp.stdout, cp.stderr
    # Basic switched off in client/auth: refused before any request, even on loopback.
    winrm(xdg, "set", "winrm/config/client/auth", '@{Basic="false"}', creds=False)
    cp = winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.url}")
    assert cp.returncode == 1 and "Basic authentication is currently disabled" in cp.stderr


def test_trusted_hosts(far, xdg):
    cp = winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.far}", "-a:ntlm")
    assert cp.returncode == 1 and TRUSTED_MSG in cp.stderr and "0x803380E4" in cp.stderr, cp
    cp = winrm(xdg, "set", "winrm/config/client", f'@{{TrustedHosts="192.0.2.*"}}', creds=False)
    assert cp.returncode == 0, cp.stderr
    cp = winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.far}", "-a:ntlm")
    assert TRUSTED_MSG not in cp.stderr, cp.stderr  # the request went
    assert cp.returncode == 0 and "MaxShellsPerUser" in cp.stdout, cp


def test_default_ports_and_auth(far, xdg):
    # -r: without a port takes DefaultPorts/HTTP (first one where nothing listens).
    closed = free_port("127.0.0.1")
    winrm(xdg, "set", "winrm/config/client/defaultports", f'@{{HTTP="{closed}"}}', creds=False)
    cp = winrm(xdg, "get", "winrm/config/winrs", "-r:127.0.0.1")
    assert cp.returncode == 1 and "cannot connect" in cp.stderr, cp
    cp = winrm(xdg, "set", "winrm/config/client/defaultports", f'@{{HTTP="{far.port}"}}',
               creds=False)
    assert cp.returncode == 0, cp.stderr
    cp = winrm(xdg, "get", "winrm/config/winrs", "-r:127.0.0.1")
    assert cp.returncode == 0, cp.stderr
    # DefaultAuth: without -a: the client's scheme is used (here refused by TrustedHosts).
    winrm(xdg, "set", "winrm/config/client", '@{DefaultAuth="ntlm"}', creds=False)
    cp = winrm(xdg, "get", "winrm/config/winrs", f"-r:{far.far}")
    assert cp.returncode == 1 and TRUSTED_MSG in cp.stderr, cp


def test_winrs_honours_it(far, xdg):
    """winrs reads the same file: refused before connecting, then let through."""
    from test_winrs import winrs_bin
    env = {k: v for k, v in os.environ.items() if k != "WSM_PASSWORD"}
    env["XDG_CONFIG_HOME"] = str(xdg)

    def winrs(*words):
        return subprocess.run([winrs_bin(), f"-r:{far.far}", f"-u:{USER}", f"-p:{PASSWORD}",
                               *words, "true"], capture_output=True, text=True,
                              timeout=TIMEOUT, env=env)

    cp = winrs()
    assert cp.returncode == 1 and UNENC_MSG in cp.stderr, cp
    cp = winrs("-a:ntlm")
    assert cp.returncode == 1 and TRUSTED_MSG in cp.stderr, cp
    winrm(xdg, "set", "winrm/config/client", f'@{{TrustedHosts="{NONLOOP}"}}', creds=False)
    cp = winrs("-a:ntlm")
    assert TRUSTED_MSG not in cp.stderr and UNENC_MSG not in cp.stderr, cp
    assert f"user={USER}" in far.log()  # it reached wsmd and authenticated
