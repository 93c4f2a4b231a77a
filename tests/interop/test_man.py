"""Man pages, --help, `winrm help TOPIC` and `winrm helpmsg CODE`.

The pages and the --help texts come from one source per tool (man/*.txt,
man/mangen.py): these tests check that what the build made agrees with
itself (every option of a page is in --help and back), with the code (every
switch a tool's parser accepts, every config key config.c accepts, every
fault code fault.c sends is documented), renders without a groff warning,
and is installed where a package expects man pages. No daemon is started.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from conftest import WSMD_BIN  # noqa: E402

BUILD = Path(WSMD_BIN).resolve().parent
BINS = {
    "wsmd": WSMD_BIN,
    "winrm": os.environ.get("WINRM_BIN") or str(BUILD / "winrm"),
    "winrs": os.environ.get("WINRS_BIN") or str(BUILD / "winrs"),
    "wecutil": os.environ.get("WECUTIL_BIN") or str(BUILD / "wecutil"),
}
PAGES = {"winrm": "1", "winrs": "1", "wecutil": "1", "wsmd": "8", "wsmd.conf": "5",
         "libwsm": "3"}
TOPICS = ["uris", "aliases", "config", "certmapping", "remoting", "auth", "input", "switches",
          "proxy", "filters"]


def page(name):
    p = BUILD / "man" / f"{name}.{PAGES[name]}"
    if not p.is_file():
        pytest.skip(f"not built: {p}")
    return p


def run(tool, *args, **kw):
    b = BINS[tool]
    if not os.access(b, os.X_OK):
        pytest.skip(f"not built: {b}")
    return subprocess.run([b, *args], capture_output=True, text=True, timeout=20, **kw)


def winrm(*args):
    return run("winrm", *args)


def render(p):
    """groff's text of a page (no hyphenation, wide lines) and its warnings."""
    cp = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=200n", "-P-cbou", str(p)],
                        capture_output=True, text=True, timeout=30,
                        env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert cp.returncode == 0, cp.stderr
    return cp.stdout, cp.stderr


def section(text, title, stop_re=r"^[A-Z][A-Z ]+$"):
    """The lines of one section of rendered page text."""
    lines = text.splitlines()
    i = lines.index(title)
    out = []
    for l in lines[i + 1:]:
        if re.match(stop_re, l):
            break
        out.append(l)
    return out


def option_names(lines):
    """Switch names in tag lines (7 spaces in a page, 2 in --help): -x,
    --xx, -x[yy] (as -x), /f:xml (as /f), and wecutil's verbs."""
    names = set()
    for l in lines:
        m = re.match(r"^( {7}| {2})(\S.*)$", l)
        if not m or l.startswith(" " * 8) and m.group(1) == "  ":
            continue
        for tok in re.split(r"[ ,|]+", m.group(2)):
            mm = re.match(r"^(--?[A-Za-z?][A-Za-z-]*|/[a-z?]+)", tok)
            if mm:
                names.add(mm.group(1))
    return names


# ---- the pages ----------------------------------------------------------------

@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_without_warnings(name):
    p = page(name)
    head = p.read_text().splitlines()[:4]
    assert any(l.startswith(f".TH {name.upper()} {PAGES[name]} ") for l in head), head
    text, warnings = render(p)
    assert warnings == "", warnings
    assert text.splitlines()[0].startswith(f"{name.upper()}({PAGES[name]})")
    for title in ["NAME", "SYNOPSIS", "DESCRIPTION"]:
        assert title in text.splitlines(), title
    if shutil.which("man"):
        cp = subprocess.run(["man", "--warnings", "-l", "-P", "cat", str(p)], capture_output=True,
                            text=True, timeout=30, env={**os.environ, "MANWIDTH": "80"})
        assert cp.returncode == 0 and cp.stderr == "", cp.stderr
        assert name in cp.stdout


@pytest.mark.parametrize("tool", ["winrm", "winrs", "wecutil", "wsmd"])
def test_help_has_the_options_of_the_page(tool):
    cp = run(tool, "--help")
    assert cp.returncode == 0, cp
    assert cp.stdout.startswith(f"usage: {tool} "), cp.stdout[:200]
    assert f"See {tool}({PAGES[tool]})" in cp.stdout
    text, _ = render(page(tool))
    in_page = option_names(section(text, "OPTIONS"))
    in_help = option_names(section(cp.stdout, "Options:", r"^\S"))
    assert len(in_page) >= 4, in_page
    assert in_page == in_help, (in_page - in_help, in_help - in_page)
    # The usage lines are the page's SYNOPSIS, word for word.
    syn = [l.split() for l in section(text, "SYNOPSIS") if l.strip()]
    usage = [l.replace("usage:", "").split() for l in cp.stdout.split("\n\n")[0].splitlines()]
    assert syn == usage


@pytest.mark.parametrize("flag", ["-h", "-?", "/?"])
@pytest.mark.parametrize("tool", ["winrm", "winrs", "wecutil", "wsmd"])
def test_every_help_switch(tool, flag):
    cp = run(tool, flag)
    assert cp.returncode == 0, cp
    assert cp.stdout == run(tool, "--help").stdout


def parser_switches(tool):
    """The switch names a tool's argument parser accepts, read from its
    source: groups of names (any of a group may be the documented one)."""
    src = {"winrm": "src/cli/winrm*.c", "winrs": "src/cli/winrs*.c",
           "wecutil": "src/cli/wecutil.c", "wsmd": "src/daemon/main.c"}[tool]
    code = "".join(f.read_text() for f in sorted(REPO.glob(src)))  # winrm: several files
    if tool in ("winrm", "winrs"):
        return [g.split("|") for g in re.findall(r'cli_switch\(a, "([^"]+)"', code)]
    if tool == "wecutil":
        return [list(g) for g in re.findall(r'is\(verb, "([a-z]+)", "([a-z-]+)"\)', code)]
    groups = [[m] for m in re.findall(r'strcmp\(a, "(-[^"]+)"\)', code)]
    return [g for g in groups if g != ["--synthetic"]]  # tests and benchmarks only


@pytest.mark.parametrize("tool", ["winrm", "winrs", "wecutil", "wsmd"])
def test_every_switch_of_the_parser_is_documented(tool):
    groups = parser_switches(tool)
    assert len(groups) >= 7, groups
    text, _ = render(page(tool))
    words = set(re.findall(r"[-/]*[A-Za-z?][A-Za-z-]*", text.lower()))
    for g in groups:
        forms = {n.lower() for n in g} | {"-" + n.lower() for n in g} | {"/" + n.lower() for n in g}
        assert forms & words, f"{tool}: no switch of {g} in {tool}({PAGES[tool]})"


def config_keys():
    keys = set()
    for f in ["src/daemon/config.c", "src/collector/colconfig.c", "src/forwarder/fwdconfig.c"]:
        keys |= set(re.findall(r'strcasecmp\(key, "([A-Za-z]+)"\)', (REPO / f).read_text()))
    return keys


def test_every_config_key_is_in_wsmd_conf_5():
    keys = config_keys()
    assert {"Listen", "Keytab", "MaxShellsPerUser", "Subscriptions"} <= keys
    text, _ = render(page("wsmd.conf"))
    tags = {m.group(1) for m in re.finditer(r"^ {7}([A-Za-z]+) = ", text, re.M)}
    assert keys - tags == set(), "keys missing from man/wsmd.conf.txt"
    assert tags - keys == set(), "wsmd.conf(5) documents keys wsmd does not accept"


def test_every_config_key_is_in_admin_md():
    doc = (REPO / "docs" / "admin.md").read_text()
    rows = set(re.findall(r"^\| `([A-Za-z]+)`", doc, re.M))
    assert config_keys() - rows == set(), "keys missing from the table of docs/admin.md"


def test_pages_install_under_mandir():
    cp = subprocess.run(["meson", "introspect", "--installed", str(BUILD)], capture_output=True,
                        text=True, timeout=60)
    if cp.returncode != 0:
        pytest.skip("meson introspect: " + cp.stderr)
    installed = {Path(k).name: v for k, v in json.loads(cp.stdout).items()}
    for name, sec in PAGES.items():
        dest = installed.get(f"{name}.{sec}")
        assert dest and dest.endswith(f"/share/man/man{sec}/{name}.{sec}"), (name, dest)
    assert not [k for k in installed if k.endswith("_help.h")]


# ---- winrm help TOPIC ------------------------------------------------------------

@pytest.mark.parametrize("topic", TOPICS)
def test_help_topic(topic):
    cp = winrm("help", topic)
    assert cp.returncode == 0 and cp.stderr == "", cp
    assert len(cp.stdout.splitlines()) >= 5
    # The same text is in winrm(1), under HELP TOPICS.
    text, _ = render(page("winrm"))
    first = cp.stdout.splitlines()[0]
    assert re.search(rf"^ {{3}}winrm help {re.escape(topic)}: {re.escape(first)}$", text, re.M), first


def test_help_config_and_uris_say_what_they_cover():
    cfg = winrm("help", "CONFIG").stdout  # topics compare without case
    assert "winrm/config/service" in cfg and "wsmd.conf(5)" in cfg
    uris = winrm("help", "uris").stdout
    assert "wmicimv2/Win32_Service?Name=" in uris and "Selectors" in uris


def test_help_without_topic_is_the_usage():
    cp = winrm("help")
    assert cp.returncode == 0
    assert cp.stdout == winrm("-?").stdout
    assert "winrm help" in cp.stdout and "helpmsg" in cp.stdout


def test_unknown_topic():
    cp = winrm("help", "nosuchtopic")
    assert cp.returncode == 1 and cp.stdout == ""
    assert "no help topic 'nosuchtopic'" in cp.stderr
    assert all(t in cp.stderr for t in TOPICS)


# ---- winrm helpmsg CODE ----------------------------------------------------------

@pytest.mark.parametrize("code", ["0x80338012", "0X80338012", "2150858770", "-2144108526"])
def test_helpmsg_cannot_connect(code):
    cp = winrm("helpmsg", code)
    assert cp.returncode == 0, cp
    assert cp.stdout.startswith("The client cannot connect to the destination")
    assert "ERROR_WSMAN_DESTINATION_UNREACHABLE (2150858770, 0x80338012)" in cp.stdout


@pytest.mark.parametrize("code", ["5", "0x5", "0x80070005", "-2147024891"])
def test_helpmsg_win32_access_denied(code):
    cp = winrm("helpmsg", code)
    assert cp.returncode == 0, cp
    assert cp.stdout.startswith("Access is denied.")
    assert "ERROR_ACCESS_DENIED (5, 0x00000005)" in cp.stdout


@pytest.mark.parametrize("code", ["12345", "0x80338FFF", "4294967295"])
def test_helpmsg_unknown_code(code):
    cp = winrm("helpmsg", code)
    assert cp.returncode == 1 and cp.stdout == ""
    assert "no message for" in cp.stderr


@pytest.mark.parametrize("arg", [[], ["zz"], ["0x"], ["12abc"], ["99999999999"], ["1", "2"]])
def test_helpmsg_bad_argument_is_a_usage_error(arg):
    cp = winrm("helpmsg", *arg)
    assert cp.returncode == 2 and cp.stdout == "", cp


def emitted_codes():
    """Every code wsmd puts in a fault (fault.c's table: code, HTTP status,
    flag) and the codes winrm and winrs report themselves."""
    codes = {int(c) for c in re.findall(r"\b(\d+)(?:UL)?,\s*\d{3},\s*[01],",
                                        (REPO / "src/lib/fault.c").read_text())}
    for f in sorted(REPO.glob("src/cli/winrm*.c")) + sorted(REPO.glob("src/cli/winrs*.c")):
        for v in re.findall(r"^#define (?:E_|ERROR_|FAULT_)\w+ (0x[0-9A-Fa-f]+|\d+)UL?$",
                            f.read_text(), re.M):
            codes.add(int(v, 0))
    return codes


def test_helpmsg_knows_every_code_we_emit():
    codes = emitted_codes()
    assert {5, 14, 0x80338012, 0x80004005, 2150858815, 2150859173} <= codes
    for c in sorted(codes):
        cp = winrm("helpmsg", str(c))
        assert cp.returncode == 0, f"winrm helpmsg {c} (0x{c:08X}): {cp.stderr}"
        assert f"0x{c:08X}" in cp.stdout


# ---- the generator ---------------------------------------------------------------

def test_mangen_escapes_roff(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("%name t\n%section 1\n%title a test\n= SYNOPSIS\nt [-x FILE]\n"
                   "# a comment\n= DESCRIPTION\n#include <x.h> is text\n.starts with a dot, has a \\ backslash\n'and a quote\n\n"
                   "| .verbatim \\n\n= OPTIONS\n-x FILE\n    the \"file\" ??= here\n")
    man, hdr = tmp_path / "t.1", tmp_path / "t_help.h"
    cp = subprocess.run([sys.executable, str(REPO / "man" / "mangen.py"), str(src), "9.9",
                         str(man), str(hdr)], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    text, warnings = render(man)
    assert warnings == ""
    assert ".starts with a dot, has a \\ backslash 'and a quote" in text
    assert ".verbatim \\n" in text
    assert "#include <x.h> is text" in text and "a comment" not in text
    # The header is a C string that says the same.
    prog = tmp_path / "p.c"
    prog.write_text('#include <stdio.h>\n#include "t_help.h"\n'
                    "int main(void) { fputs(T_HELP_TEXT, stdout); return 0; }\n")
    cc = subprocess.run(["cc", "-Wall", "-Wextra", "-Werror", "-Wtrigraphs", "-trigraphs",
                         "-I", str(tmp_path), str(prog), "-o", str(tmp_path / "p")],
                        capture_output=True, text=True, timeout=60)
    assert cc.returncode == 0, cc.stderr
    out = subprocess.run([str(tmp_path / "p")], capture_output=True, text=True).stdout
    assert out.startswith("usage: t [-x FILE]\n")
    assert 'the "file" ??= here' in out


def test_mangen_refuses_a_source_without_its_header(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("%name t\n= DESCRIPTION\nx\n")
    cp = subprocess.run([sys.executable, str(REPO / "man" / "mangen.py"), str(src), "1",
                         str(tmp_path / "t.1"), str(tmp_path / "t.h")],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0 and "%section missing" in cp.stderr


def test_libwsm_example_compiles(tmp_path):
    """libwsm(3)'s EXAMPLE is a program that builds against the header and
    the library as they are."""
    src = (REPO / "man" / "libwsm.txt").read_text()
    example = src.split("= EXAMPLE\n", 1)[1].split("\n= ", 1)[0]
    code = "\n".join(l[2:] for l in example.splitlines() if l.startswith("|"))
    assert "wsm_enumerate" in code
    (tmp_path / "ex.c").write_text(code + "\n")
    lib = BUILD / "libwsm.so"
    if not lib.exists():
        pytest.skip(f"not built: {lib}")
    # A sanitized build's library needs the sanitizers' runtimes.
    san = ["-fsanitize=address,undefined"] if os.environ.get("WSMD_SANITIZED") else []
    cc = subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I",
                         str(REPO / "include"), str(tmp_path / "ex.c"), "-o", str(tmp_path / "ex"),
                         "-L", str(BUILD), "-lwsm"] + san, capture_output=True, text=True,
                        timeout=60)
    assert cc.returncode == 0, cc.stderr
