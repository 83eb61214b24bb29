"""OCI runtime mode (issue 8): config.json's POSIX-platform hooks
(runtime-spec config.md), run by `create`, `start` and `delete` at the
points and in the namespaces src/oci-hooks.c describes, with the state on
their stdin. Hooks are shell scripts the tests write; each logs a line."""

import json
import os
import socket
from pathlib import Path

import pytest

from test_oci import bundle, oci, spec, status, wait_status  # noqa: F401

# Logs "PHASE HOSTNAME UTS-NAMESPACE STATE-JSON" to $1's log; fails with
# $3 as its exit status when given (after saying why on stderr).
HOOK = """#!/bin/sh
state=$(cat)
echo "$1 $(hostname) $(readlink /proc/self/ns/uts) $HOOKVAR $state" >> "$2"
if [ -n "$3" ]; then echo "hook says no" >&2; exit "$3"; fi
"""


@pytest.fixture
def hooks(tmp_path):
    script = tmp_path / "hook"
    script.write_text(HOOK)
    script.chmod(0o755)
    log = tmp_path / "hooks.log"

    def make(phase, fail=None, **extra):
        h = {"path": str(script), "args": ["hook", phase, str(log)],
             "env": ["PATH=/usr/bin:/bin", "HOOKVAR=var-" + phase]}
        if fail is not None:
            h["args"].append(str(fail))
        h.update(extra)
        return h

    def entries():
        out = []
        for line in log.read_text().splitlines() if log.exists() else []:
            phase, host, uts, var, state = line.split(" ", 4)
            out.append({"phase": phase, "host": host, "uts": uts,
                        "var": var, "state": json.loads(state)})
        return out
    make.entries = entries
    make.log = log
    return make


def left_running(marker):
    """Host processes whose command line names `marker` (ours only). The id
    keeper and its spare maker outlive runs by design (src/keeper.h), and
    one that this very test started carries the test's command line."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if (marker.encode() in (d / "cmdline").read_bytes() and
                    (d / "comm").read_text().strip() not in
                    ("hutch-keeper", "hutch-keeper-ns")):
                found.append(int(d.name))
        except OSError:
            pass
    return [p for p in found if p != os.getpid()]


def test_every_hook_runs_in_order_with_the_state(oci, bundle, hooks):
    """prestart, createRuntime and createContainer during create;
    startContainer during start, inside the container (its mount namespace:
    the script is the container's and writes the container's /tmp);
    poststart after it; poststop during delete."""
    rootfs = bundle.path / "rootfs"
    inside = rootfs / "bin" / "starthook"
    inside.write_text("#!/bin/sh\ncat > /tmp/start-state; echo >> /tmp/start-state; "
                      "hostname >> /tmp/start-state\n")
    inside.chmod(0o755)
    cfg = spec(["sh", "-c", "echo ran; cat /tmp/start-state"])
    cfg["hooks"] = {
        "prestart": [hooks("prestart")],
        "createRuntime": [hooks("createRuntime")],
        "createContainer": [hooks("createContainer")],
        "startContainer": [{"path": "/bin/starthook"}],
        "poststart": [hooks("poststart")],
        "poststop": [hooks("poststop")],
    }
    b = bundle(cfg)
    oci("create", "--bundle", str(b), "h1", check=0)
    pid = status(oci, "h1")["pid"]
    got = hooks.entries()
    assert [e["phase"] for e in got] == ["prestart", "createRuntime",
                                         "createContainer"]
    for e in got:
        assert e["state"]["id"] == "h1" and e["state"]["pid"] == pid
        assert e["state"]["bundle"] == str(b)
        assert e["state"]["status"] == "creating"
        assert e["var"] == "var-" + e["phase"]  # exactly the hook's env
    host_uts = os.readlink("/proc/self/ns/uts")
    # runtime hooks in create's namespaces; createContainer in the
    # container's (its hostname), though its path is a host path
    assert got[1]["host"] == socket.gethostname() and got[1]["uts"] == host_uts
    assert got[2]["host"] == "ocitest" and got[2]["uts"] != host_uts

    oci("start", "h1", check=0)
    assert [e["phase"] for e in hooks.entries()][3:] == ["poststart"]
    assert hooks.entries()[3]["state"]["status"] == "running"
    wait_status(oci, "h1", "stopped")
    out = oci.out.read_text()
    assert out.startswith("ran\n")
    start_state = json.loads(out.splitlines()[1])
    assert start_state["status"] == "created" and start_state["id"] == "h1"
    assert out.splitlines()[2] == "ocitest"

    oci("delete", "h1", check=0)
    last = hooks.entries()[-1]
    assert last["phase"] == "poststop" and last["state"]["status"] == "stopped"


@pytest.mark.parametrize("phase", ["prestart", "createRuntime",
                                   "createContainer"])
def test_failing_create_hook_fails_create_and_leaves_nothing(
        oci, bundle, hooks, phase):
    cfg = spec(["sleep", "30"])
    cfg["hooks"] = {phase: [hooks(phase, fail=3)],
                    "poststop": [hooks("poststop")]}
    b = bundle(cfg)
    r = oci("create", "--bundle", str(b), "hf")
    assert r.returncode == 125, r.stderr
    err = [l for l in r.stderr.splitlines() if "warning" not in l]
    assert len(err) == 1 and f"hook {phase}[0]" in err[0], r.stderr
    assert "exit status 3" in err[0] and "hook says no" in err[0]
    assert not (oci.root / "hf").exists()
    assert left_running(str(b)) == []
    # the lifecycle goes on at delete: poststop ran
    assert [e["phase"] for e in hooks.entries()] == [phase, "poststop"]


def test_hook_timeout_kills_it(oci, bundle, tmp_path):
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nexec sleep 29.5\n")
    slow.chmod(0o755)
    cfg = spec(["sleep", "30"])
    cfg["hooks"] = {"createContainer": [{"path": str(slow), "timeout": 1}]}
    b = bundle(cfg)
    r = oci("create", "--bundle", str(b), "ht")
    assert r.returncode == 125
    assert "hook createContainer[0]" in r.stderr and "timed out after 1 s" \
        in r.stderr
    assert not (oci.root / "ht").exists()
    assert left_running(str(b)) == [] and left_running("29.5") == []


def test_failing_start_container_hook_stops_it(oci, bundle, hooks):
    cfg = spec(["sh", "-c", "echo ran"])
    cfg["hooks"] = {"startContainer": [{"path": "/bin/sh",
                                        "args": ["sh", "-c", "exit 4"]}]}
    oci("create", "--bundle", str(bundle(cfg)), "hs", check=0)
    r = oci("start", "hs")
    assert r.returncode == 125 and "hook startContainer[0]" in r.stderr
    assert "exit status 4" in r.stderr
    wait_status(oci, "hs", "stopped")
    assert "ran" not in oci.out.read_text()


def test_poststart_and_poststop_failures_only_warn(oci, bundle, hooks):
    cfg = spec(["sleep", "30"])
    cfg["hooks"] = {"poststart": [hooks("poststart", fail=1)],
                    "poststop": [hooks("poststop", fail=2)]}
    oci("create", "--bundle", str(bundle(cfg)), "hw", check=0)
    r = oci("start", "hw", check=0)
    assert "warning: hook poststart[0]" in r.stderr
    assert wait_status(oci, "hw", "running")
    r = oci("delete", "--force", "hw", check=0)
    assert "warning: hook poststop[0]" in r.stderr
    assert not (oci.root / "hw").exists()


@pytest.mark.parametrize("hookcfg,want", [
    ({"createRuntime": [{"path": "relative/hook"}]}, "is not absolute"),
    ({"createRuntime": [{"args": ["x"]}]}, "needs a \"path\""),
    ({"onTuesday": [{"path": "/bin/true"}]}, "unknown hook type"),
    ({"poststart": [{"path": "/bin/true", "timeout": 0}]}, "timeout"),
])
def test_bad_hooks_refused(oci, bundle, hookcfg, want):
    cfg = spec(["true"])
    cfg["hooks"] = hookcfg
    r = oci("create", "--bundle", str(bundle(cfg)), "hb")
    assert r.returncode != 0 and want in r.stderr
    assert not (oci.root / "hb").exists()


def test_features_lists_the_hooks(hutch_bin):
    import subprocess
    from conftest import HUTCH, TIMEOUT
    r = subprocess.run([HUTCH, "features"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert "createContainer" in json.loads(r.stdout)["hooks"]
