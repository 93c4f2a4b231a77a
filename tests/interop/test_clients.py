"""Third-party clients against wsmd: Dell `wsl` (curl based)."""

import os
import shutil
import subprocess

import pytest

from wsman_helpers import PASSWORD, USER, assert_identify_ok


@pytest.mark.skipif(shutil.which("wsl") is None or not os.path.exists("/usr/bin/wslid"),
                    reason="Dell wsl not installed")
def test_wsl_identify(wsmd, tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "WSENDPOINT": f"127.0.0.1:{wsmd.port}",
        "WSUSER": USER,
        "WSPASS": PASSWORD,
        "WSNOSSL": "true",          # plain http://
        "IPINTERACTIVE": "0",       # never prompt
        "WSAUTOMATED": "1",
        "KEEPHISTORY": "0",         # do not write .wslrun with the password
        "OUTLEVEL": "1",
        "WGETTIMEOUTSECS": "10",
        "no_proxy": "*",
    }
    cp = subprocess.run(["wsl", "identify", "check"], cwd=work, env=env,
                        stdin=subprocess.DEVNULL, capture_output=True,
                        text=True, timeout=60)
    files = {p.name: p.read_text(errors="replace") for p in work.iterdir() if p.is_file()}
    detail = (f"rc={cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}\n"
              f"files: { {k: v[:3000] for k, v in files.items()} }\n"
              f"daemon log:\n{wsmd.log()}")
    assert cp.returncode == 0, detail
    assert "response.xml" in files, detail
    assert "IdentifyResponse" in files["response.xml"], detail
    assert "IdentifyResponse" in cp.stdout, detail
    assert "ProtocolVersion" in files["response.xml"], detail
    assert any("user=alice" in ln and "status=200" in ln
               for ln in wsmd.log().splitlines()), detail
    assert_identify_ok(wsmd.port)
