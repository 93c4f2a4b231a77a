"""Enumeration contexts that cannot leak or lie (issue 14: findings 1, 11b,
11c for Enumerate).

- Enumerates refused by the per-user context quota free what they made
  (they leaked one fd and ~37 KB each), so that 1,000 of them leave wsmd's
  fd count and RSS where they were, and other users keep working.
- Out of file descriptors, a provider's enumeration is a fault, never a
  200 with no items.
- A context answers only under the ResourceURI of its Enumerate.
- Enumerate (optimized) fits its reply in the client's MaxEnvelopeSize,
  and faults w:EncodingLimit when not one item fits.
"""

import os
import re
import resource

import pytest

from cim_helpers import (
    CODE_INVALID_ENUM_CONTEXT, NS, WMI, Client, instance_props,
)
from conftest import user_add
from wsman_helpers import SANITIZED

SYN = WMI + "WSMD_Synthetic"
PROC = WMI + "Win32_Process"
LISTENER = "http://schemas.microsoft.com/wbem/wsman/1/config/listener"
PER_USER_CONTEXTS = 200  # enumctx.c MAX_CONTEXTS_PER_USER


@pytest.fixture
def d(wsmd_factory, users_file):
    user_add(users_file, "bob", "bob-pw-2")
    return wsmd_factory("--listen", "http://127.0.0.1:0", "--users", str(users_file),
                        "--synthetic", "50")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def context_of(a):
    el = a.body.find("n:EnumerateResponse/n:EnumerationContext", NS)
    assert el is not None and (el.text or "").strip(), a.where()
    return el.text.strip()


def enum_items(a):
    er = a.body.find("n:EnumerateResponse", NS)
    items = er.find("w:Items", NS)
    return list(items) if items is not None else []


def test_refused_enumerates_leak_nothing(d):
    """Finding 1: past the quota every Enumerate is w:QuotaLimit, and 1,000
    of them leave wsmd's fds and RSS at the baseline; another user still
    enumerates processes with every item."""
    c = Client(d.port)
    # Fill the quota with contexts on processes (each holds /proc open).
    for _ in range(PER_USER_CONTEXTS):
        c.enumerate(PROC).ok()
    c.enumerate(PROC).expect_fault("w:QuotaLimit")
    fds0, rss0 = fd_count(d.work_pid), d.rss_kb()
    for _ in range(1000):
        a = c.enumerate(PROC, optimize=True, max_elements=5)
        a.expect_fault("w:QuotaLimit")
    fds1, rss1 = fd_count(d.work_pid), d.rss_kb()
    # Before the fix: +1000 fds and ~+37 MB.
    assert fds1 <= fds0 + 2, (fds0, fds1)
    if not SANITIZED:  # ASan's quarantine holds freed memory
        assert rss1 - rss0 < 8 * 1024, (rss0, rss1)
    bob = Client(d.port, "bob", "bob-pw-2")
    items, _ = bob.enumerate_all(PROC)
    assert len(items) > 1
    assert str(os.getpid()) in [instance_props(i)["Handle"] for i in items]
    c.close()
    bob.close()
    d.assert_alive()


def _limit_to_one_free_fd(pid):
    """RLIMIT_NOFILE of pid such that exactly one descriptor number is free
    below it; returns the old limits."""
    used = sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd"))
    free = [n for n in range(used[-1] + 3) if n not in set(used)]
    # numbers below free[1] hold exactly one free slot: free[0]
    old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (free[1], old[1]))
    return old


def test_out_of_fds_is_a_fault(wsmd_factory, users_file, tmp_path):
    """Finding 1: when wsmd has no descriptor left for /proc/PID, the
    process enumeration is a w:InternalError fault, not 200 with 0 items.
    One process (PrivilegeSeparation = no): changing another account's
    limits takes CAP_SYS_RESOURCE, which root may not have here."""
    conf = tmp_path / "one.conf"
    conf.write_text("PrivilegeSeparation = no\n")
    user_add(users_file, "bob", "bob-pw-2")
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users",
                     str(users_file), "--synthetic", "50")
    if os.geteuid() != 0 and os.stat(f"/proc/{d.work_pid}").st_uid != os.geteuid():
        pytest.skip("cannot change wsmd's limits")
    c = Client(d.port)
    c.enumerate(PROC, optimize=True, max_elements=1).ok()  # the connection is up
    old = _limit_to_one_free_fd(d.work_pid)
    try:
        a = c.enumerate(PROC, optimize=True, max_elements=100)
    finally:
        resource.prlimit(d.work_pid, resource.RLIMIT_NOFILE, old)
    assert a.is_fault, f"{len(enum_items(a))} items with no fd to read them{a.where()}"
    assert a.subcode.rpartition(":")[2] == "InternalError", a.where()
    # Limits back: the same connection enumerates in full again.
    items, _ = c.enumerate_all(PROC)
    assert len(items) > 1
    c.close()


def test_pull_under_another_resource_uri_refused(d):
    """Finding 11b: a context answers only under its Enumerate's
    ResourceURI (DSP0226: the context is invalid for that request):
    n:InvalidEnumerationContext, and the context stays usable under its
    own URI."""
    c = Client(d.port)
    ctx = context_of(c.enumerate(SYN).ok())
    for other in (PROC, WMI + "Win32_OperatingSystem", LISTENER):
        c.pull(other, ctx, 5).expect_fault("n:InvalidEnumerationContext",
                                           CODE_INVALID_ENUM_CONTEXT)
        c.get_status(other, ctx).expect_fault("n:InvalidEnumerationContext")
        c.release(other, ctx).expect_fault("n:InvalidEnumerationContext")
    a = c.pull(SYN, ctx, 5).ok()
    assert len(a.body.find("n:PullResponse/n:Items", NS)) == 5
    # The other way round: a winrm/config listener context, pulled as CIM.
    lctx = context_of(c.enumerate(LISTENER).ok())
    c.pull(SYN, lctx, 5).expect_fault("n:InvalidEnumerationContext")
    c.pull(LISTENER, lctx, 5).ok()
    c.release(SYN, ctx).ok()
    c.close()


def test_enumerate_fits_max_envelope_size(d):
    """Finding 11c: an optimized Enumerate with a small MaxEnvelopeSize
    answers fewer items, the reply within the limit; when not even one
    item fits, w:EncodingLimit."""
    c = Client(d.port)
    full = c.enumerate(SYN, optimize=True, max_elements=50, max_envelope_size=512000).ok()
    item = len(re.search(rb"<w:Items>(.*?)</w:Items>", full.reply.body, re.S).group(1)) // 50
    head = len(full.reply.body) - 50 * item
    for limit in (head + 3 * item, 2600, 3000):
        a = c.enumerate(SYN, optimize=True, max_elements=50, max_envelope_size=limit).ok()
        n = len(enum_items(a))
        assert 1 <= n < 50, (limit, n)
        assert len(a.reply.body) <= limit, (limit, len(a.reply.body))
        # Pulls under the same limit bring the rest, each within it.
        ctx = context_of(a)
        got = n
        while ctx:
            p = c.pull(SYN, ctx, 50, max_envelope_size=limit).ok()
            assert len(p.reply.body) <= limit, (limit, len(p.reply.body))
            got += len(p.body.find("n:PullResponse/n:Items", NS))
            el = p.body.find("n:PullResponse/n:EnumerationContext", NS)
            ctx = el.text.strip() if el is not None and el.text else None
        assert got == 50
    # Room for the reply's frame but not for one item.
    c.enumerate(SYN, optimize=True, max_elements=50,
                max_envelope_size=head + item // 2).expect_fault("w:EncodingLimit")
    c.enumerate(SYN, optimize=True, max_elements=50,
                max_envelope_size=300).expect_fault("w:EncodingLimit")
    c.close()


def test_context_memory_budget_per_user(wsmd_factory, users_file, tmp_path):
    """Finding 9 for contexts: beyond the count quota, the memory contexts
    hold is budgeted per user (MaxEnumerationMemoryPerUserKB): past it,
    w:QuotaLimit for that user only; a Release makes room again."""
    user_add(users_file, "bob", "bob-pw-2")
    conf = tmp_path / "wsmd.conf"
    conf.write_text("MaxEnumerationMemoryPerUserKB = 1024\n")  # ~21 contexts of 48 KB
    d = wsmd_factory("-c", str(conf), "--listen", "http://127.0.0.1:0", "--users",
                     str(users_file), "--synthetic", "50")
    c = Client(d.port)
    ctxs = []
    while True:
        a = c.enumerate(SYN)
        if a.is_fault:
            a.expect_fault("w:QuotaLimit")
            break
        ctxs.append(context_of(a))
        assert len(ctxs) < PER_USER_CONTEXTS, "the budget never bound"
    assert 10 <= len(ctxs) <= 21, len(ctxs)
    bob = Client(d.port, "bob", "bob-pw-2")
    bob.enumerate(SYN).ok()
    c.release(SYN, ctxs.pop()).ok()
    c.enumerate(SYN).ok()
    c.close()
    bob.close()
