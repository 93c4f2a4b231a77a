"""`wsmd user ...` CLI and PAM authentication."""

import os
import stat


from conftest import run_cli, user_add
from wsman_helpers import (
    PASSWORD, USER, assert_identify_ok, assert_identify_response, post,
)


def test_user_file_mode_and_list(tmp_path):
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    mode = stat.S_IMODE(os.stat(users).st_mode)
    assert mode == 0o600, f"users file mode {oct(mode)}"
    user_add(users, "bob", "bob-pw-2")
    cp = run_cli(["user", "list", "--users", str(users)])
    assert cp.returncode == 0, cp
    names = cp.stdout.split()
    assert sorted(names) == ["alice", "bob"], cp.stdout
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600


def test_user_file_has_no_plaintext_password(tmp_path):
    """Beyond the written contract: a stored password should be hashed."""
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    assert PASSWORD.encode() not in users.read_bytes()


def test_user_del(tmp_path):
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    user_add(users, "bob", "bob-pw-2")
    cp = run_cli(["user", "del", "bob", "--users", str(users)])
    assert cp.returncode == 0, cp
    cp = run_cli(["user", "list", "--users", str(users)])
    assert cp.stdout.split() == ["alice"], cp.stdout


def test_user_del_unknown_fails(tmp_path):
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    cp = run_cli(["user", "del", "nobody", "--users", str(users)])
    assert cp.returncode != 0, cp


def test_user_update_password(tmp_path, wsmd_factory):
    users = tmp_path / "users"
    user_add(users, USER, "old-pw-0")
    user_add(users, USER, PASSWORD, force=True)
    cp = run_cli(["user", "list", "--users", str(users)])
    assert cp.stdout.split() == ["alice"], cp.stdout
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users))
    assert_identify_ok(d.port)
    assert post(d.port, auth=(USER, "old-pw-0")).status == 401


def test_deleted_user_rejected(tmp_path, wsmd_factory):
    users = tmp_path / "users"
    user_add(users, USER, PASSWORD)
    user_add(users, "bob", "bob-pw-2")
    run_cli(["user", "del", "bob", "--users", str(users)])
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users))
    assert post(d.port, auth=("bob", "bob-pw-2")).status == 401
    assert_identify_ok(d.port)


def test_password_with_colon_and_unicode(tmp_path, wsmd_factory):
    users = tmp_path / "users"
    pw = "p:w d\u00e9j\u00e0-\u2603"
    user_add(users, "carol", pw)
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users))
    assert_identify_response(post(d.port, auth=("carol", pw)))
    assert post(d.port, auth=("carol", "p")).status == 401


# --------------------------------------------------------------------------
# PAM
# --------------------------------------------------------------------------

def test_pam_authentication(pam_user, wsmd_factory):
    name, pw = pam_user
    d = wsmd_factory("--listen", "http://127.0.0.1:0")
    assert_identify_response(post(d.port, auth=(name, pw), timeout=20))
    r = post(d.port, auth=(name, pw + "x"), timeout=20)
    assert r.status == 401, r
    r = post(d.port, auth=("wsmd-no-such-user", pw), timeout=20)
    assert r.status == 401, r
    assert_identify_response(post(d.port, auth=(name, pw), timeout=20))
    log = d.log()
    assert pw not in log, log
