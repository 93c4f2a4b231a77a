"""Authorization by local group (issue 14, "Authorization"; docs/internals/authz.md).

As root, wsmd grants rights by the local groups of the authenticated
user's account: by default root and members of wsmd-admins may do all,
members of wsmd-users may read (CIM data and winrm/config), everybody
else nothing (w:AccessDenied, one log line). Allow lines replace the
defaults. Each operation family is checked with real local accounts and
groups this module creates: shell Create (pywinrm and raw), process
creation (Win32_Process.Create), CIM reads (Get, Enumerate), other
methods (Terminate), winrm/config reads, and winrm/config writes (an
administrator gets past authorization -- these daemons have no config
file, so the change is refused as one a restart would lose -- while a
non-administrator is told AccessDenied first).
"""

import os
import secrets
import subprocess
import time

import pytest
from winrm.exceptions import WinRMError, WinRMTransportError

from cim_helpers import WMI, Client, instance_props
from conftest import ADMIN_GROUP, add_to_group, ensure_group, run_admin, user_add
from shell_helpers import ACT_CREATE, Raw, create_body, protocol
from wsman_helpers import assert_identify_response, post

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="groups and accounts: root only (CI runs as root)")

READER_GROUP = "wsmd-users"
CFG = "http://schemas.microsoft.com/wbem/wsman/1/config"
XF = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
PROC = WMI + "Win32_Process"
OS_URI = WMI + "Win32_OperatingSystem"


def _run(*argv):
    cp = run_admin(list(argv), lambda: False)
    assert cp.returncode == 0, f"{argv} rc={cp.returncode}: {cp.stderr}"


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """Four fresh local accounts (random names, so that concurrent runs
    never meet): adm in wsmd-admins, rd in wsmd-users, ops in a group of
    this module's own, none in no group; a user file with all four and
    alice (a user-file user without an account). The product's groups
    are created if missing and left in place (a package would make them);
    the accounts and the module's group are removed at the end."""
    sfx = secrets.token_hex(3)
    ops_group = "wsmdazg" + sfx
    ensure_group(ADMIN_GROUP)
    ensure_group(READER_GROUP)
    _run("groupadd", ops_group)
    made = []
    users = {}
    try:
        for role, group in (("adm", ADMIN_GROUP), ("rd", READER_GROUP), ("ops", ops_group),
                            ("none", None)):
            name = f"wsmdaz{role}{sfx}"
            _run("useradd", "-m", "-s", "/bin/sh", *(["-G", group] if group else []), name)
            made.append(name)
            users[role] = (name, f"Pw-{role}-{secrets.token_hex(4)}")
        path = tmp_path_factory.mktemp("authz") / "users"
        for name, pw in users.values():
            user_add(path, name, pw)
        user_add(path, "alice", "alice-pw-1")
        users["alice"] = ("alice", "alice-pw-1")
        yield {"users": users, "path": path, "ops_group": ops_group}
    finally:
        for name in made:
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True, timeout=30)
        subprocess.run(["groupdel", ops_group], capture_output=True, timeout=30)


def client(d, accounts, role):
    return Client(d.port, *accounts["users"][role])


def denied(a):
    a.expect_fault("w:AccessDenied")
    assert "Access is denied" in a.reply.text, a.where()


# ---- one probe per operation family: True (allowed) / False (AccessDenied)

def can_read_cim(d, accounts, role):
    c = client(d, accounts, role)
    a = c.get(OS_URI)
    if a.is_fault:
        denied(a)
        c.enumerate(PROC).expect_fault("w:AccessDenied")
        return False
    assert instance_props(a.body[0])["Caption"], a.where()
    c.enumerate(PROC).ok()
    return True


def can_read_config(d, accounts, role):
    a = client(d, accounts, role).get(CFG + "/service")
    if a.is_fault:
        denied(a)
        return False
    assert a.body.find("{%s/service}Service/{%s/service}RootSDDL" % (CFG, CFG)) is not None
    return True


def can_write_config(d, accounts, role):
    """Administrators get past authorization (this daemon has no config
    file: the change is then refused as one that would not survive a
    restart); others are refused before that."""
    body = '<cfg:Service xmlns:cfg="%s/service"><cfg:MaxConnections>5' \
           "</cfg:MaxConnections></cfg:Service>" % CFG
    a = client(d, accounts, role).put(CFG + "/service", body)
    if a.subcode and a.subcode.endswith(":AccessDenied"):
        denied(a)
        return False
    a.expect_fault("a:ActionNotSupported")
    assert "configuration file" in a.reply.text
    return True


def can_create_process(d, accounts, role):
    a = client(d, accounts, role).invoke(PROC, "Create", {"CommandLine": "true"})
    if a.is_fault:
        denied(a)
        return False
    out = a.body.find("{%s}Create_OUTPUT" % PROC)
    assert instance_props(out)["ReturnValue"] == "0", a.where()
    return True


def can_invoke(d, accounts, role):
    """Terminate of a process that is not there: a not-found fault for
    those who may invoke methods."""
    a = client(d, accounts, role).invoke(PROC, "Terminate", {"Reason": "0"},
                                         selectors={"Handle": "999999999"})
    assert a.is_fault, a.where()
    if a.subcode.endswith(":AccessDenied"):
        denied(a)
        return False
    return True


def can_open_shell(d, accounts, role):
    name, pw = accounts["users"][role]
    raw = Raw(d, name, pw)
    reply, mid = raw.call(ACT_CREATE, body=create_body())
    if reply.status != 200:
        assert b"AccessDenied" in reply.body and b"Access is denied" in reply.body, reply
        # pywinrm sees the same refusal.
        with pytest.raises((WinRMError, WinRMTransportError)):
            protocol(d, name, pw).open_shell()
        return False
    p = protocol(d, name, pw)
    sid = p.open_shell()
    cid = p.run_command(sid, "id", ["-un"])
    out, _, code = p.get_command_output(sid, cid)
    p.cleanup_command(sid, cid)
    p.close_shell(sid)
    assert code == 0 and out.decode().strip() == name
    return True


FAMILIES = {
    "read": can_read_cim,
    "config-read": can_read_config,
    "config-write": can_write_config,
    "create": can_create_process,
    "invoke": can_invoke,
    "shell": can_open_shell,
}


def rights_of(d, accounts, role):
    return {right for right, probe in FAMILIES.items() if probe(d, accounts, role)}


def test_default_policy(wsmd_factory, accounts):
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(accounts["path"]),
                     grant=False)
    assert rights_of(d, accounts, "adm") == set(FAMILIES)
    assert rights_of(d, accounts, "rd") == {"read", "config-read"}
    for role in ("none", "ops", "alice"):
        assert rights_of(d, accounts, role) == set(), role
    # Identify needs no right, authenticated or not.
    name, pw = accounts["users"]["none"]
    assert_identify_response(post(d.port, auth=(name, pw)))
    # The policy as Windows shows it.
    a = client(d, accounts, "rd").get(CFG + "/service").ok()
    sddl = a.body.find("{%s/service}Service/{%s/service}RootSDDL" % (CFG, CFG)).text
    assert sddl == "O:NSG:BAD:P(A;;GA;;;SY)(A;;GA;;;wsmd-admins)(A;;GR;;;wsmd-users)"
    # One log line per refusal, naming user and right, no more.
    log = d.log()
    assert f"event=access-denied user={name} family=- right=any" in log
    rd = accounts["users"]["rd"][0]
    assert f"event=access-denied user={rd} family=shell right=shell" in log
    assert f"event=access-denied user={rd} family=cim right=create" in log
    assert f"event=access-denied user={rd} family=winrm-config right=config-write" in log


def test_allow_lines_replace_the_defaults(wsmd_factory, accounts, tmp_path):
    ops_group = accounts["ops_group"]
    none_user = accounts["users"]["none"][0]
    conf = tmp_path / "wsmd.conf"
    conf.write_text(f"Allow = shell,create,config-read {ops_group}\n"
                    f"Allow = read,invoke @{none_user}\n")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users",
                     str(accounts["path"]), grant=False)
    assert rights_of(d, accounts, "ops") == {"shell", "create", "config-read"}
    assert rights_of(d, accounts, "none") == {"read", "invoke"}
    # The defaults are gone: wsmd-admins and wsmd-users hold nothing now.
    assert rights_of(d, accounts, "adm") == set()
    assert rights_of(d, accounts, "rd") == set()
    sddl = client(d, accounts, "ops").get(CFG + "/service").ok().body.find(
        "{%s/service}Service/{%s/service}RootSDDL" % (CFG, CFG)).text
    assert sddl == (f"O:NSG:BAD:P(A;;GA;;;SY)(A;;0x13;;;{ops_group})"
                    f"(A;;0xc;;;@{none_user})")


def test_group_membership_is_read_from_the_account(wsmd_factory, accounts):
    """A user added to wsmd-users gains read within the cache's few
    seconds, without a restart."""
    d = wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(accounts["path"]),
                     grant=False)
    c = client(d, accounts, "ops")
    c.get(OS_URI).expect_fault("w:AccessDenied")
    name = accounts["users"]["ops"][0]
    add_to_group(name, READER_GROUP)
    try:
        deadline = time.monotonic() + 15
        while c.get(OS_URI).is_fault:
            assert time.monotonic() < deadline, "the new group never counted"
            time.sleep(0.25)
    finally:
        subprocess.run(["gpasswd", "-d", name, READER_GROUP], capture_output=True, timeout=30)
