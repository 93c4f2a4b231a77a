"""Windows' remaining shell and service quotas against a live wsmd
(docs/internals/shell.md "Quotas"): MaxConcurrentUsers, MaxShellRunTime and
MaxConcurrentCommandsPerShell (winrm/config/winrs), MaxConcurrentOperationsPerUser
(winrm/config/service). Each is set once through our `winrm set` or a raw Put
from python-requests, shown by a Get, reached, and answered with Windows'
WSManFault code.
"""

import threading

from shell_helpers import ACT_COMMAND, SLOW, Raw, command_body, fault_of, wait_for
from test_winrm_config_set import CFG, XF, conf, get, ok, put, raw, users, winrm  # noqa: F401

CODE_USERS = "2150859179"       # ERROR_WSMAN_QUOTA_MAX_SHELLUSERS
CODE_COMMANDS = "2150859241"    # ERROR_WSMAN_QUOTA_MAX_COMMANDS_PER_SHELL_PPQ
CODE_OPERATIONS = "2150859174"  # ERROR_WSMAN_QUOTA_MAX_OPERATIONS
CODE_SHELL_NOT_FOUND = "2150858843"


def shown(conf):
    w, s = get(conf.url, "winrs"), get(conf.url, "service")
    return {k: w.get(k) or s.get(k) for k in (
        "MaxConcurrentUsers", "MaxShellRunTime", "MaxConcurrentCommandsPerShell",
        "MaxConcurrentOperationsPerUser")}


def test_defaults_shown(conf):
    assert shown(conf) == {"MaxConcurrentUsers": "10", "MaxShellRunTime": "28800000",
                           "MaxConcurrentCommandsPerShell": "1000",
                           "MaxConcurrentOperationsPerUser": "1500"}


def test_max_concurrent_users(conf, shell_accounts):
    (u1, p1), (u2, p2) = shell_accounts[:2]
    code, x = put(conf.url, "winrs", {"MaxConcurrentUsers": "1"})  # raw Put
    assert code == 200
    r1, r2 = Raw(conf.d, u1, p1), Raw(conf.d, u2, p2)
    s1, _, _ = r1.create()
    s1b, _, _ = r1.create()  # the same user again: not a new user
    reply, _ = r2.call(XF + "Create", body={"rsp:Shell": {
        "rsp:InputStreams": "stdin", "rsp:OutputStreams": "stdout stderr"}})
    f = fault_of(reply)
    assert f.subcode == "w:QuotaLimit" and CODE_USERS in reply.text, reply
    assert "MaxConcurrentUsers" in reply.text
    out = ok(winrm(conf.url, "set", "winrm/config/winrs", '@{MaxConcurrentUsers="2"}'))
    assert "    MaxConcurrentUsers = 2" in out
    s2, _, _ = r2.create()
    for r, s in ((r1, s1), (r1, s1b), (r2, s2)):
        assert r.delete(s)[0].status == 200
    assert "MaxConcurrentUsers = 2\n" in conf.text()
    conf.restart()
    assert shown(conf)["MaxConcurrentUsers"] == "2"


def test_max_concurrent_commands_per_shell(conf, shell_accounts):
    (u1, p1) = shell_accounts[0]
    ok(winrm(conf.url, "set", "winrm/config/winrs", '@{MaxConcurrentCommandsPerShell="2"}'))
    assert shown(conf)["MaxConcurrentCommandsPerShell"] == "2"
    r = Raw(conf.d, u1, p1)
    sid, _, _ = r.create()
    for _ in range(2):
        r.command_id(r.command(sid, "sleep 60")[0])
    reply, _ = r.command(sid, "true")
    f = fault_of(reply)
    assert f.subcode == "w:QuotaLimit" and CODE_COMMANDS in reply.text, reply
    assert "MaxConcurrentCommandsPerShell" in reply.text
    r.delete(sid)


def test_max_shell_run_time(conf, shell_accounts):
    (u1, p1) = shell_accounts[0]
    code, x = put(conf.url, "winrs", {"MaxShellRunTime": "1500"})
    assert code == 200
    assert shown(conf)["MaxShellRunTime"] == "1500"
    r = Raw(conf.d, u1, p1)
    sid, _, _ = r.create()
    cid = r.command_id(r.command(sid, "sleep 60")[0])
    # A busy shell too: closed once it has existed that long.
    gone = wait_for(lambda: CODE_SHELL_NOT_FOUND in r.call(
        ACT_COMMAND, sid, command_body("true"))[0].text, 15 * SLOW)
    assert gone, "the shell outlived MaxShellRunTime"
    assert r.receive(sid, cid)[0].status != 200


def test_max_concurrent_operations_per_user(conf, shell_accounts):
    (u1, p1), (u2, p2) = shell_accounts[:2]
    code, x = put(conf.url, "service", {"MaxConcurrentOperationsPerUser": "1"})
    assert code == 200
    assert shown(conf)["MaxConcurrentOperationsPerUser"] == "1"
    r = Raw(conf.d, u1, p1, operation_timeout_sec=3)
    sid, _, _ = r.create()
    cid = r.command_id(r.command(sid, "sleep 60")[0])
    # A Receive that waits (no output) is an operation under way.
    ts = []

    def receive():
        # A Command of the loop below may come in first and hold the one
        # operation: then this Receive is the one refused, and is sent again.
        t = threading.Thread(target=lambda: r.receive(sid, cid), daemon=True)
        t.start()
        ts.append(t)

    receive()
    # Once the long poll is in, the next request of the same user is refused.
    got = []

    def refused():
        if not ts[-1].is_alive():
            receive()
        got.append(r.call(ACT_COMMAND, sid, command_body("true"))[0])
        return CODE_OPERATIONS in got[-1].text

    assert wait_for(refused, 10 * SLOW), got[-1]
    reply = got[-1]
    f = fault_of(reply)
    assert f.subcode == "w:QuotaLimit" and CODE_OPERATIONS in reply.text, reply
    assert "MaxConcurrentOperationsPerUser" in reply.text
    # Another user is not counted with the first.
    code, _ = raw(conf.url, XF + "Get", CFG + "/winrs", user=u2, pw=p2)
    assert code == 200
    for t in ts:
        t.join(30 * SLOW)
    # Nothing under way any more: the first user is served again.
    r.delete(sid)
    code, x = put(conf.url, "service", {"MaxConcurrentOperationsPerUser": "1500"})
    assert code == 200
