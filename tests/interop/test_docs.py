"""The README and docs/ against the repository, and tests/run's progress plugin.

The README is a short guide whose first lines CI and checks outside the
repository read (`make run`, `make check` ... "N passed, M failed"); every
relative link of the README and docs/ must lead somewhere; the operator's key
table must say for each key what SIGHUP does, as reloadtext.c's keys[] does;
and tests/tools/wsmd_progress.py must print a line per test file and each
failure once. No daemon is started.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
README = TOP / "README.md"
DOCS = sorted((TOP / "docs").glob("*.md"))


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    h = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", h).replace(" ", "-")


def anchors(path):
    return {slug(h) for h in re.findall(r"^#+ (.*)$", path.read_text(), re.M)}


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# wsmd")
    block = text.split("```")[1].splitlines()
    assert block[0] == "sh", block[0]
    assert block[1].startswith("make run ") and "PORT=" in block[1], block[1]
    assert block[2].startswith("make check ") and '"N passed, M failed"' in block[2], block[2]
    # Nothing but the title and a blank line comes before them.
    assert text.index("```") == len(lines[0]) + 2


def test_readme_is_a_short_guide():
    # A guide that links to docs/, with room for a line per new feature.
    assert len(README.read_bytes()) <= 8192
    text = README.read_text()
    for must in ("docs/admin.md", "docs/clients.md", "docs/collector.md", "make user NAME=alice",
                 "## How long `make check` takes", "## What is here"):
        assert must in text, must


def test_readme_make_targets_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (TOP / "Makefile").read_text(), re.M))
    used = set(re.findall(r"\bmake ([a-z][\w-]*)", README.read_text()))
    assert used and used <= targets, used - targets


def test_every_internals_doc_is_in_the_readme_map():
    text = README.read_text()
    missing = [p.name for p in (TOP / "docs" / "internals").glob("*.md") if p.name not in text]
    assert not missing, f"add a line per file to the README's docs/internals map: {missing}"


def test_links_lead_somewhere():
    bad = []
    for doc in [README, *DOCS]:
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                bad.append(f"{doc.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                bad.append(f"{doc.name}: {target} (no such heading)")
        # Files named in code spans, such as `docs/internals/shell.md`.
        for name in re.findall(r"`((?:docs|man|data|tests|tools|src|bench|include)/[\w./-]+)`",
                               text):
            if "*" not in name and not (TOP / name).exists():
                bad.append(f"{doc.name}: `{name}` (no such file)")
    assert not bad, bad


def test_admin_table_says_what_sighup_does():
    """The last column of docs/admin.md's key table is keys[]'s class."""
    classes = dict(re.findall(r'\{"([A-Za-z]+)", (K_[A-Z]+)\}',
                              (TOP / "src/daemon/reloadtext.c").read_text()))
    assert len(classes) > 40
    word = {"K_LIVE": "live", "K_RESTART": "restart", "K_LISTEN": "live, and winrm create/delete"}
    rows = re.findall(r"^\| `([A-Za-z]+)` \|.*\| ([^|]+) \|$",
                      (TOP / "docs" / "admin.md").read_text(), re.M)
    assert len(rows) >= len(classes)
    wrong = {k: (v, word.get(classes.get(k), "not in keys[]")) for k, v in rows
             if word.get(classes.get(k)) != v.strip()}
    assert not wrong, wrong


TESTS = '''
import pytest, time

def test_ok():
    pass

def test_fails():
    assert 1 == 2

@pytest.mark.skip
def test_skipped():
    pass

@pytest.fixture
def breaks_after():
    yield
    raise RuntimeError("teardown")

def test_teardown_error(breaks_after):
    pass
'''
TESTS_B = '''
import pytest

@pytest.fixture
def breaks():
    raise RuntimeError("setup")

def test_setup_error(breaks):
    pass

@pytest.mark.parametrize("x", [1, 2, 3])
def test_param(x):
    pass
'''


def run_with_plugin(tmp_path, env_fd=True):
    (tmp_path / "test_a.py").write_text(TESTS)
    (tmp_path / "test_b.py").write_text(TESTS_B)
    env = dict(os.environ, PYTHONPATH=str(TOP / "tests" / "tools"))
    env.pop("WSMD_PROGRESS_FD", None)
    r, w = os.pipe()
    if env_fd:
        env["WSMD_PROGRESS_FD"] = str(w)
    cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         "-p", "wsmd_progress", str(tmp_path)], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=60, pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as f:
        progress = f.read()
    return cp, progress


def test_progress_plugin_prints_a_line_per_file_and_each_failure_once(tmp_path):
    cp, progress = run_with_plugin(tmp_path)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    lines = [re.sub(r"^\[ *\d+s\] ", "", line) for line in progress.splitlines()]
    assert all(re.match(r"^\[ *\d+s\] ", line) for line in progress.splitlines()), progress
    assert lines[0] == "8 tests in 2 files", lines
    assert "test_a.py: 1 passed, 2 failed, 1 skipped" in progress, progress
    assert "test_b.py: 3 passed, 1 failed, 0 skipped" in progress, progress
    assert sum("test_fails" in line for line in lines) == 1
    assert any(line.startswith("FAILED ") and "test_fails (call)" in line for line in lines)
    assert any(line.startswith("ERROR ") and "test_teardown_error (teardown)" in line
               for line in lines)
    assert any(line.startswith("ERROR ") and "test_setup_error (setup)" in line for line in lines)
    # The file's line comes after its failures, once it has finished.
    order = [i for i, line in enumerate(lines) if "test_a.py" in line]
    assert lines[order[-1]].startswith("test_a.py: "), lines
    # pytest's own report is untouched: the failures in full.
    assert "= FAILURES =" in cp.stdout and "assert 1 == 2" in cp.stdout


def test_progress_plugin_is_silent_without_its_variable(tmp_path):
    cp, progress = run_with_plugin(tmp_path, env_fd=False)
    assert cp.returncode == 1
    assert progress == ""


def test_tests_run_keeps_its_contract():
    """What .ci/run and the checks outside rely on, read from the script:
    the summary line is the last thing it prints, each stage's line keeps
    its form, and the interop stage uses the plugin."""
    text = (TOP / "tests" / "run").read_text()
    body = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert body[-2] == 'echo "$passed passed, $failed failed"', body[-2:]
    assert body[-1] == '[ "$failed" -eq 0 ]'
    assert "printf -- '--- %s: %d passed, %d failed, %d skipped\\n'" in text
    assert "-p wsmd_progress" in text and "WSMD_PROGRESS_FD=3" in text
    assert "2>&1 | tail -n 40" not in text  # pytest no longer piped into tail: no silence
    cp = subprocess.run(["bash", "-n", str(TOP / "tests" / "run")], capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
