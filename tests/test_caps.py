"""Privileges: capabilities and no_new_privs (src/caps.c)."""

import pytest

from conftest import error_lines, ok, proc_status_fields

CAP_SETS = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
CAP_NET_BIND_SERVICE = 10


def status_inside(sandbox, *opts):
    # cat reads its own status: the command as exec'd, after hutch's drops.
    r = ok(sandbox("cat", "/proc/self/status", opts=opts))
    return proc_status_fields(r.stdout)


@pytest.mark.parametrize("opts", [(), ("--uid", "0"),
                                  ("--uid", "0", "--gid", "0")],
                         ids=["user", "uid0", "uid0-gid0"])
def test_all_capabilities_dropped(sandbox, opts):
    st = status_inside(sandbox, *opts)
    for s in CAP_SETS:
        assert int(st[s], 16) == 0, f"{s} = {st[s]}"


@pytest.mark.parametrize("opts", [(), ("--uid", "0")], ids=["user", "uid0"])
def test_no_new_privs(sandbox, opts):
    assert status_inside(sandbox, *opts)["NoNewPrivs"] == "1"


def test_caps_stay_dropped_in_children(sh):
    """Not even a shell's children as root get anything back."""
    r = ok(sh("sh -c 'grep -E \"^Cap(Eff|Prm|Bnd)\" /proc/self/status'",
              "--uid", "0"))
    assert [int(l.split()[1], 16) for l in r.stdout.splitlines()] == [0, 0, 0]


@pytest.mark.parametrize("name", ["CAP_NET_BIND_SERVICE", "net_bind_service",
                                  "NET_BIND_SERVICE", "cap_net_bind_service"])
def test_cap_add_keeps_exactly_that_capability(sandbox, name):
    for opts in (("--cap-add", name), ("--cap-add", name, "--uid", "0")):
        st = status_inside(sandbox, *opts)
        assert int(st["CapEff"], 16) == 1 << CAP_NET_BIND_SERVICE, (opts, st)
        assert int(st["CapPrm"], 16) == 1 << CAP_NET_BIND_SERVICE, (opts, st)
        assert st["NoNewPrivs"] == "1"


BIND_LOW_PORT = r"""
import socket
s = socket.socket()
try:
    s.bind(("127.0.0.1", 80))
    print("bound")
except PermissionError:
    print("denied")
"""


def test_cap_add_works(sandbox):
    # Low ports are per network namespace, and the sandbox has its own.
    r = ok(sandbox("python3", "-c", BIND_LOW_PORT))
    assert r.stdout.strip() == "denied"
    r = ok(sandbox("python3", "-c", BIND_LOW_PORT,
                   opts=("--cap-add", "CAP_NET_BIND_SERVICE")))
    assert r.stdout.strip() == "bound"


def test_cap_add_unknown_name(run, userns):
    r = run("run", "--cap-add", "CAP_MAKE_COFFEE", "--", "true")
    assert r.returncode == 125
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and "CAP_MAKE_COFFEE" in errs[0], r.stderr

