"""The sandbox's own cgroup (src/cgroup.c, cgroup-v1.c, cgroup-v2.c): where
it is made, what the sandbox sees of it, and that nothing is left behind."""

import glob
import os
import signal
import subprocess
import time

import pytest

from cgtools import cgroups_of, need_delegation, own_cgroup_dirs, report_of
from conftest import HUTCH, error_lines, ok


def test_own_cgroup_and_namespace(sh):
    need_delegation("--pids=64")
    r = ok(sh("cat /proc/self/cgroup; echo --; ls /sys/fs/cgroup; echo --; "
              "touch /sys/fs/cgroup/x 2>&1 || echo ro", "--pids", "64"))
    cg, listing, ro = r.stdout.split("--\n")
    # rooted at the sandbox's cgroup in every hierarchy it uses
    for line in cg.splitlines():
        assert line.endswith(":/"), cg
    assert "ro" in ro or "Read-only" in ro
    assert listing.strip(), "nothing mounted at /sys/fs/cgroup"


def test_cgroup_holds_only_the_sandbox(sh):
    need_delegation("--pids=64")
    # every pid in the view's cgroup.procs is one of the sandbox's (the init
    # is 1; a process outside the pid namespace would show as 0)
    r = ok(sh("cat $(find /sys/fs/cgroup -name cgroup.procs) | sort -un",
              "--pids", "64"))
    pids = [int(p) for p in r.stdout.split()]
    assert pids and 0 not in pids and 1 in pids, r.stdout


def test_nothing_left_after_exit(sh, tmp_path):
    need_delegation("--pids=64")
    rep = tmp_path / "r.json"
    ok(sh("sleep 100 & true", "--pids", "64", "--report", rep))
    dirs = cgroups_of(report_of(rep))
    assert dirs
    for d in dirs:
        assert not os.path.exists(d), d


def sandbox_cgroups(pid):
    return [d for parent in own_cgroup_dirs().values()
            for d in glob.glob(f"{parent}/hutch-{pid}-*")]


def test_sigkill_of_the_launcher_leaves_nothing(hutch_bin):
    need_delegation("--pids=64")
    p = subprocess.Popen([HUTCH, "run", "--pids", "64", "--", "sh", "-c",
                          "sleep 100 & sleep 100"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        dirs = []
        while time.time() < deadline:
            dirs = sandbox_cgroups(p.pid)
            procs = "".join(open(f"{d}/sandbox/cgroup.procs").read()
                            for d in dirs if os.path.exists(f"{d}/sandbox"))
            if len(procs.split()) >= 3:
                break
            time.sleep(0.05)
        assert dirs, "the sandbox's cgroups never appeared"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    def procs(d):
        try:
            return open(f"{d}/sandbox/cgroup.procs").read().strip()
        except FileNotFoundError:
            return ""  # another run of this user already removed what it left: empty

    # the init dies with its parent, and the pid namespace with it
    deadline = time.time() + 10
    while time.time() < deadline:
        if all(not procs(d) for d in dirs):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"processes left in {dirs}")
    # the next run removes what the dead launcher left
    ok(subprocess.run([HUTCH, "run", "--pids", "64", "--", "true"],
                      stdin=subprocess.DEVNULL, capture_output=True, text=True))
    for d in dirs:
        assert not os.path.exists(d), d


def test_no_delegation_and_a_limit_is_a_clear_error(sandbox):
    r = sandbox("true", opts=("--memory", "64M", "--cgroup-parent", "/"))
    assert r.returncode == 125, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert "--memory needs a cgroup delegated to you" in lines[0]
    assert "chown" in lines[0] and "Delegate=yes" in lines[0]


def test_no_delegation_without_limits_runs_quietly(sh, tmp_path):
    rep = tmp_path / "r.json"
    r = ok(sh("echo hi", "--timeout", "10s", "--report", rep,
              "--cgroup-parent", "/"))
    assert r.stdout == "hi\n" and not error_lines(r.stderr)
    j = report_of(rep)
    assert j["cgroups"] == {} and j["user_cpu_s"] is not None


@pytest.mark.nosub
def test_nosub_user_without_delegation(sandbox):
    # hutch-nosub has no cgroup delegated to it (tests/setup-host)
    r = sandbox("true", opts=("--pids", "64"))
    if r.returncode == 0:
        pytest.skip("this user has a delegated cgroup")
    assert r.returncode == 125
    assert "delegated" in r.stderr


def test_v2_kill_and_stats_where_v2_is_delegated(sh, tmp_path):
    need_delegation("--pids=64")
    rep = tmp_path / "r.json"
    r = sh("sleep 100 & sleep 100", "--pids", "64", "--timeout", "500ms",
           "--report", rep, timeout=20)
    j = report_of(rep)
    if "cgroup2" not in j["cgroups"]:
        pytest.skip("no cgroup v2 subtree delegated here")
    assert r.returncode in (137, 143)
    assert j["timed_out"] and j["user_cpu_s"] is not None
    assert not os.path.exists(j["cgroups"]["cgroup2"])


def test_v1_only_kills_with_the_freezer(sh, tmp_path):
    """Where no v2 cgroup is usable (here: a parent that exists only in the
    v1 pids and freezer hierarchies), the sandbox is killed by freezing it,
    killing each process and thawing."""
    need_delegation("--pids=64")
    dirs = own_cgroup_dirs()
    roots = {m: d for m, d in dirs.items()
             if os.path.basename(m) in ("pids", "freezer")}
    if len(roots) != 2 or not all(os.access(d, os.W_OK) for d in roots.values()):
        pytest.skip("needs writable v1 pids and freezer cgroups (a hybrid or v1 host)")
    own = {os.path.relpath(d, m) for m, d in roots.items()}
    if len(own) != 1:
        pytest.skip("our pids and freezer cgroups differ")
    name = f"v1only-{os.getpid()}"
    parent = "/" + (own.pop().strip(".") + "/" + name).strip("/")
    made = [os.path.join(d, name) for d in roots.values()]
    for d in made:
        os.mkdir(d)
    try:
        rep = tmp_path / "r.json"
        r = sh("sleep 100 & trap '' TERM; sleep 100", "--pids", "64",
               "--timeout", "300ms", "--cgroup-parent", parent,
               "--report", rep, timeout=20)
        assert r.returncode == 137, r.stderr
        j = report_of(rep)
        assert "cgroup2" not in j["cgroups"], j
        assert set(j["cgroups"]) >= {"pids", "freezer"}, j
        for d in cgroups_of(j):
            assert not os.path.exists(d), d
    finally:
        # (a launcher killed mid-test leaves its empty cgroups here, in a
        # parent no later run looks at: remove them with it)
        for d in made:
            for sub in sorted(glob.glob(f"{d}/hutch-*/sandbox") + glob.glob(f"{d}/hutch-*"),
                              key=len, reverse=True):
                os.rmdir(sub)
            os.rmdir(d)


def test_clone_refused_by_the_cgroup_names_the_cgroup(sh):
    """Issue 15: where the kernel refuses to start the init in the sandbox's v2 cgroup (here:
    below a threaded cgroup, where no process may go: EOPNOTSUPP), the error names the cgroup,
    not user namespaces (`--pids 32` on a thread root said "cannot create the sandbox's user
    namespace: Operation not supported; check that unprivileged user namespaces are
    allowed")."""
    mnt, own = next(((m, d) for m, d in own_cgroup_dirs().items()
                     if os.path.exists(os.path.join(m, "cgroup.subtree_control"))), (None, None))
    if not own or not os.access(os.path.dirname(own), os.W_OK):
        pytest.skip("no writable cgroup v2 directory above this process")
    top = os.path.join(os.path.dirname(own), f"thr-{os.getpid()}")
    os.mkdir(top)
    try:
        os.mkdir(f"{top}/t")
        try:
            with open(f"{top}/t/cgroup.type", "w") as f:
                f.write("threaded")
        except OSError as ex:
            pytest.skip(f"cannot make a threaded cgroup here: {ex}")
        r = sh("true", "--timeout", "10s", "--cgroup-parent", f"{top}/t"[len(mnt):])
        assert r.returncode == 125, r.stderr
        lines = error_lines(r.stderr)
        assert lines and "cannot start the sandbox in its cgroup" in lines[0], r.stderr
        assert "user namespace" not in r.stderr, r.stderr
        assert os.listdir(f"{top}/t") == [] or not any(
            os.path.isdir(f"{top}/t/{n}") for n in os.listdir(f"{top}/t")), \
            "the sandbox's cgroup was left behind"
    finally:
        for d in sorted(glob.glob(f"{top}/**/", recursive=True), key=len, reverse=True):
            os.rmdir(d)
