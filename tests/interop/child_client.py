"""Clients run in a child process: a test file run as a script
(`python3 test_x.py MODE JSON-ARGS`) that prints one JSON object.

Python clients of NTLM (python3-winrm, requests-ntlm, ntlm-auth) hash with
MD4, which OpenSSL 3 has only in its legacy provider: their child gets an
OPENSSL_CONF that enables it (openssl_legacy_env)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from shell_helpers import SLOW

OPENSSL_LEGACY = """\
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
"""


def openssl_legacy_env(directory):
    """The environment for a child with MD4: an OPENSSL_CONF written in
    directory, and no NTLM_USER_FILE."""
    conf = Path(directory) / "openssl-legacy.cnf"
    conf.write_text(OPENSSL_LEGACY)
    env = dict(os.environ)
    env["OPENSSL_CONF"] = str(conf)
    env.pop("NTLM_USER_FILE", None)
    return env


def run_child(script, env, mode, timeout, /, **args):
    """Runs `script MODE JSON(args)` and returns the last JSON object it
    printed."""
    script = Path(script).resolve()
    cp = subprocess.run([sys.executable, str(script), mode, json.dumps(args)],
                        capture_output=True, text=True, timeout=timeout * SLOW, env=env,
                        cwd=str(script.parent))
    assert cp.returncode == 0, f"client {mode} failed rc={cp.returncode}\n{cp.stderr}"
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"client {mode} printed nothing:\nstdout={cp.stdout}\nstderr={cp.stderr}"
    return json.loads(lines[-1])
