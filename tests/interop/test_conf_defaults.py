"""The packaged /etc/wsmd/wsmd.conf (data/wsmd.conf) against the daemon.

The file shows every embedded default as a comment, "#Key = value", so that
removing the "#" changes nothing; keys without a fixed default appear as
examples, "#   Key = value". These tests check both promises on a live wsmd:
every key the config parser knows is shown, and a wsmd started with all the
"#Key = value" lines uncommented answers `winrm get winrm/config` exactly as
a wsmd without a config file does.
"""

import re
from pathlib import Path

from test_winrm_tool import winrm

TOP = Path(__file__).resolve().parents[2]
CONF = TOP / "data" / "wsmd.conf"
# Other spellings of a key the file shows under its main name.
ALIASES = {"maxenvelopesizekb"}


def parser_keys():
    keys = set()
    for src in ("src/daemon/config.c", "src/collector/colconfig.c",
                "src/forwarder/fwdconfig.c"):
        text = (TOP / src).read_text()
        keys |= set(re.findall(r'strcasecmp\(key, "([A-Za-z]+)"\)', text))
    assert len(keys) > 30, "the key pattern no longer matches config.c"
    return keys


def defaults_lines():
    """The "#Key = value" lines, uncommented."""
    return [m.group(1) for m in re.finditer(r"^#([A-Za-z]+ = .*)$", CONF.read_text(), re.M)]


def test_every_key_is_shown():
    shown = {m.group(1).lower()
             for m in re.finditer(r"^#\s*([A-Za-z]+)\s*=", CONF.read_text(), re.M)}
    missing = sorted(k for k in parser_keys() if k.lower() not in shown | ALIASES)
    assert not missing, f"keys wsmd accepts but data/wsmd.conf does not show: {missing}"
    unknown = sorted(k for k in shown if k not in {p.lower() for p in parser_keys()})
    assert not unknown, f"data/wsmd.conf shows keys wsmd does not know: {unknown}"


def test_commented_defaults_are_the_defaults(wsmd_factory, users_file, tmp_path):
    lines = [ln for ln in defaults_lines() if not ln.lower().startswith("listen ")]
    assert len(lines) > 20
    conf = tmp_path / "defaults.conf"
    conf.write_text("\n".join(lines) + "\nListen = http://127.0.0.1:0\n")
    with_file = wsmd_factory("-c", str(conf), "--users", str(users_file))
    without = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file))
    a = winrm(with_file, "get", "winrm/config")
    b = winrm(without, "get", "winrm/config")
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    # The listeners' ports differ by construction; everything else may not.
    strip = lambda s: [ln for ln in s.splitlines() if "127.0.0.1" not in ln and "Port" not in ln]
    diff = [f"{x!r} != {y!r}" for x, y in zip(strip(a.stdout), strip(b.stdout)) if x != y]
    assert not diff, "uncommented defaults change winrm/config:\n" + "\n".join(diff)
    assert len(strip(a.stdout)) == len(strip(b.stdout))
    assert len(strip(a.stdout)) > 20, a.stdout
