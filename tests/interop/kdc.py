"""A throw-away MIT Kerberos realm for the interop tests.

    (conftest.py imports the fixture: any test module can ask for `kdc`)

    def test_something(kdc):
        kdc.realm, kdc.env, ...

`kdc` is session-scoped: one krb5kdc for the whole pytest session, on a
free loopback port, with everything (krb5.conf, kdc.conf, the database, the
stash, keytabs, credential caches, the replay cache, the KDC's log) in one
temporary directory that is removed at the end. Nothing outside it is read
or written: clients and wsmd find the realm only through the environment in
`kdc.env` (KRB5_CONFIG and friends). The system's /etc/krb5.conf is not used
(not even read: KRB5_CONFIG names only the test file).

Fields of the returned object (class KDC):

  realm         "WSMD.TEST"
  port          the KDC's UDP and TCP port on 127.0.0.1
  dir           pathlib.Path of the temporary directory
  krb5_conf     path of the clients' and wsmd's krb5.conf
  kdc_conf      path of the KDC's kdc.conf (KRB5_KDC_PROFILE)
  host          "localhost": the service host name that the clients use in
                URLs (resolves to 127.0.0.1; rdns and
                dns_canonicalize_hostname are off, so the client asks for
                HTTP/localhost@REALM as it is)
  service       "HTTP@localhost"    (GSSAPI host-based name; wsmd's
                ServicePrincipal)
  service_principal  "HTTP/localhost@WSMD.TEST"
  keytab        path of the keytab holding HTTP/localhost (wsmd's Keytab)
  user, password     the test user (wsman_helpers USER / PASSWORD),
                principal user@REALM
  principal     "alice@WSMD.TEST"
  ccache        FILE: path of a credential cache holding a TGT for `user`
                (kinit at start); KRB5CCNAME in `env` points to it
  env           dict: os.environ plus KRB5_CONFIG, KRB5CCNAME,
                KRB5RCACHEDIR (wsmd's replay cache), KRB5_TRACE unset,
                KRB5_KTNAME (the service keytab: for a server under test)
                and KRB5_CLIENT_KTNAME unset. Pass it to every client and
                to wsmd (`subprocess.run(..., env=kdc.env)`).

Methods:

  add_principal(name, password=None)  creates name@REALM (random key when
                password is None); returns the full principal name
  add_keytab(principal, path)   exports principal's keys (kadmin ktadd
                -norandkey) into the keytab at path
  add_machine(name, keytab=None) -> (principal, keytab)
                a Windows-style machine account NAME$@REALM (NAME: the
                first label of name, upper case; random key, as a domain
                member's) and a keytab holding it (kdc.dir/machine-name.keytab
                made anew, or appended to the given one): what a forwarding
                source logs on with
  kinit(principal, password, ccache=None, lifetime=None) -> "FILE:..."
                a new ccache (a fresh file in kdc.dir unless given) with a
                TGT; lifetime as kinit -l (e.g. "5s")
  env_with(**overrides) -> dict   kdc.env with some variables changed
                (e.g. KRB5CCNAME=another ccache)
  kadmin(query) -> CompletedProcess   kadmin.local -q QUERY on the realm

The fixture skips (pytest.skip, with the reason) only when krb5kdc,
kdb5_util, kadmin.local or kinit are not installed (Debian: krb5-kdc,
krb5-admin-server, krb5-user; tests/deps installs them). Any other failure
(the KDC does not start, kinit fails) is a test error, with the KDC's log.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from wsman_helpers import PASSWORD, USER

REALM = "WSMD.TEST"
HOST = "localhost"
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit")
SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def _which(tool):
    path = shutil.which(tool)
    if path:
        return path
    for d in SBIN:
        p = os.path.join(d, tool)
        if os.access(p, os.X_OK):
            return p
    return None


def _free_port():
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise RuntimeError("no free port for the KDC")


KRB5_CONF = """\
[libdefaults]
    default_realm = {realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    ignore_acceptor_hostname = false
    udp_preference_limit = 1
    default_ccache_name = FILE:{dir}/ccache-default
    forwardable = false
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128
{extra}
[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
        admin_server = 127.0.0.1:{port}
    }}

[domain_realm]
    {host} = {realm}
"""

KDC_CONF = """\
[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {realm} = {{
        database_name = {dir}/principal
        key_stash_file = {dir}/stash
        acl_file = {dir}/kadm5.acl
        max_life = 10h 0m 0s
        max_renewable_life = 1d 0h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        kdc_ports = {port}
        kdc_tcp_ports = {port}
    }}

[logging]
    kdc = FILE:{dir}/kdc.log
    admin_server = FILE:{dir}/kadmin.log
    default = FILE:{dir}/krb5.log
"""


class KDC:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.realm = REALM
        self.host = HOST
        self.service = f"HTTP@{HOST}"
        self.service_principal = f"HTTP/{HOST}@{REALM}"
        self.user = USER
        self.password = PASSWORD
        self.principal = f"{USER}@{REALM}"
        self.krb5_conf = self.dir / "krb5.conf"
        self.kdc_conf = self.dir / "kdc.conf"
        self.keytab = self.dir / "http.keytab"
        self.ccache = None
        self.port = None
        self.proc = None
        self.tools = {t: _which(t) for t in TOOLS}
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("KRB5") and k != "KRBTKFILE"}
        base.update(KRB5_CONFIG=str(self.krb5_conf), KRB5_KDC_PROFILE=str(self.kdc_conf),
                    KRB5RCACHEDIR=str(self.dir / "rcache"),
                    KRB5_KTNAME=f"FILE:{self.keytab}")
        self.env = base
        self._n = 0

    # -- set-up ----------------------------------------------------------

    def write_krb5_conf(self, path, extra=""):
        """A krb5.conf for this realm at path; extra lines go under
        [libdefaults] (e.g. "    clockskew = 1")."""
        Path(path).write_text(KRB5_CONF.format(realm=self.realm, port=self.port, dir=self.dir,
                                               host=self.host, extra=extra))
        # Readable by all, as /etc/krb5.conf is: wsmd's unprivileged network
        # process (privilege separation) reads it to import contexts.
        os.chmod(path, 0o644)
        return Path(path)

    def start(self):
        self.port = _free_port()
        (self.dir / "rcache").mkdir(mode=0o700)
        self.write_krb5_conf(self.krb5_conf)
        self.kdc_conf.write_text(KDC_CONF.format(realm=self.realm, port=self.port, dir=self.dir))
        (self.dir / "kadm5.acl").write_text("")
        master = secrets.token_urlsafe(24)
        self._run([self.tools["kdb5_util"], "create", "-s", "-r", self.realm, "-P", master])
        self.add_principal(self.user, self.password)
        self.add_principal(f"HTTP/{self.host}")
        self.add_keytab(self.service_principal, self.keytab)
        log = open(self.dir / "krb5kdc.stderr", "wb")
        # -n: no fork, so that the process is ours to stop; -P: a pid file
        # of our own (the default one is under /var/run).
        self.proc = subprocess.Popen(
            [self.tools["krb5kdc"], "-n", "-r", self.realm, "-P", str(self.dir / "kdc.pid")],
            env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self._wait_listening()
        self.ccache = self.kinit(self.principal, self.password,
                                 ccache=f"FILE:{self.dir / 'ccache-user'}")
        self.env["KRB5CCNAME"] = self.ccache

    def _wait_listening(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"krb5kdc exited rc={self.proc.returncode}\n{self.logs()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"krb5kdc did not listen on 127.0.0.1:{self.port}\n{self.logs()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self):
        out = []
        for name in ("krb5kdc.stderr", "kdc.log", "krb5.log"):
            p = self.dir / name
            if p.exists():
                out.append(f"--- {name}\n" + p.read_text(errors="replace")[-4000:])
        return "\n".join(out)

    # -- helpers -----------------------------------------------------------

    def _run(self, argv, input_text=None, env=None, timeout=60):
        cp = subprocess.run(argv, input=input_text, capture_output=True, text=True,
                            env=env or self.env, timeout=timeout)
        if cp.returncode != 0:
            raise RuntimeError(f"{argv} failed rc={cp.returncode}\nstdout={cp.stdout}\n"
                               f"stderr={cp.stderr}\n{self.logs()}")
        return cp

    def kadmin(self, query):
        return self._run([self.tools["kadmin.local"], "-r", self.realm, "-q", query])

    def add_principal(self, name, password=None):
        full = name if "@" in name else f"{name}@{self.realm}"
        # kadmin.local says "already exists" on stderr with status 0: the
        # key is then set anew (another module may have made it first).
        cp = self.kadmin(f"addprinc -randkey {full}" if password is None
                         else f"addprinc -pw {password} {full}")
        if "already exists" in cp.stderr:
            self.kadmin(f"cpw -randkey {full}" if password is None
                        else f"cpw -pw {password} {full}")
        return full

    def add_keytab(self, principal, path):
        self.kadmin(f"ktadd -k {path} -norandkey {principal}")
        os.chmod(path, 0o600)
        return Path(path)

    def add_machine(self, name, keytab=None):
        short = name.split(".")[0].upper()
        if not short.endswith("$"):
            short += "$"
        principal = self.add_principal(short)
        if keytab is None:
            keytab = self.dir / f"machine-{short.rstrip('$').lower()}.keytab"
            # Its own file: only the current key (add_principal may have
            # changed it). A shared keytab given by the caller is appended to.
            Path(keytab).unlink(missing_ok=True)
        return principal, self.add_keytab(principal, keytab)

    def kinit(self, principal, password, ccache=None, lifetime=None):
        if ccache is None:
            self._n += 1
            ccache = f"FILE:{self.dir / f'ccache-{self._n}'}"
        argv = [self.tools["kinit"], "-c", ccache]
        if lifetime:
            argv += ["-l", lifetime]
        # MIT kinit reads the password from standard input when it is not
        # a terminal.
        self._run(argv + [principal], input_text=password + "\n")
        return ccache

    def use_env(self, monkeypatch):
        """The realm's KRB5* variables, and no others, in os.environ for
        the test (a wsmd started now inherits them)."""
        for k in list(os.environ):
            if k.startswith("KRB5"):
                monkeypatch.delenv(k)
        for k, v in self.env.items():
            if k.startswith("KRB5"):
                monkeypatch.setenv(k, v)

    def env_with(self, **overrides):
        env = dict(self.env)
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env


@pytest.fixture(scope="session")
def kdc():
    """A running test realm (see the module docstring for the fields)."""
    missing = [t for t in TOOLS if _which(t) is None]
    if missing:
        pytest.skip(f"MIT Kerberos KDC tools are not installed ({', '.join(missing)}): "
                    "apt-get install krb5-kdc krb5-admin-server krb5-user")
    d = tempfile.mkdtemp(prefix="wsmd-kdc-")
    os.chmod(d, 0o711)  # krb5.conf inside is read by wsmd's network process
    k = KDC(d)
    try:
        k.start()
        yield k
    finally:
        k.stop()
        shutil.rmtree(d, ignore_errors=True)
