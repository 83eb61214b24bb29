"""The soak, short (issue 14, item 15; bench/soak runs the long one): RUNS
sequential `hutch run`s of the mix in tests/soak.py (plain, --net slirp with
traffic, --memory/--pids, some killed with SIGKILL mid-run) against one id
keeper, then: the same keeper served them all, it holds no more fds and no
more memory than after the first runs, and nothing is left on the host.

Root only: the keeper is not dumpable, so only root can count its fds, and
root gives the soak a network namespace of its own, hence a keeper that no
other run of the user shares. tests/run runs this file in its root suite;
the runs themselves are made by the unprivileged soak user (hutch-test)."""

import json
import os
import pwd
import subprocess

import pytest

import soak
from conftest import TIMEOUT

RUNS = int(os.environ.get("HUTCH_SOAK_RUNS", "500"))
USER = os.environ.get("HUTCH_SOAK_USER", "hutch-test")
# The keeper allocates nothing per client: its anonymous memory (heap, stack) may
# move by a page or two; its resident size also counts the pages of code it
# maps, a few more where a path is first taken late (a spare made on the spot).
ANON_BOUND_KB = 16
RSS_BOUND_KB = 128


@pytest.fixture(scope="module")
def soaked(hutch_bin):
    if os.geteuid() != 0:
        pytest.skip("the soak needs root: only root counts the keeper's fds (it is not "
                    "dumpable) and gives the soak a keeper of its own (tests/run runs this "
                    "file as root)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER} to run the soak as (tests/setup-host makes it)")
    if not soak.subids(USER, pwd.getpwnam(USER).pw_uid) - {pwd.getpwnam(USER).pw_uid}:
        pytest.skip(f"{USER} has no subordinate ids: no keeper (tests/setup-host)")
    return soak.supervise(hutch_bin, RUNS, max(RUNS // 5, 10), user=USER)


def figures(res):
    return soak.baseline(res), res["samples"][-1]  # after the tenth run; after the last


def test_every_run_did_what_it_was_asked(soaked):
    assert soaked["errors"] == []
    if os.path.exists(soak.CGROUPS_FILE):  # tests/setup-host delegated cgroups
        assert soaked["limits"], f"runs with limits fail: {soaked['limits_why']}"
    kinds = set(soaked["kinds"])
    assert {"plain", "slirp", "kill"} <= kinds, kinds
    assert not soaked["limits"] or {"limits", "kill-limits"} <= kinds, kinds


def test_one_keeper_served_every_run(soaked):
    seen = {(s["keeper"], s.get("start")) for s in soaked["samples"]}
    assert len(seen) == 1 and None not in next(iter(seen)), soaked["samples"]


def test_the_keeper_holds_no_more_fds_than_after_the_first_runs(soaked):
    """Exactly what an idle keeper holds (src/keeper.c): its user namespace, the
    listening socket, the spare maker's socket (IDLE_FIXED), and whole spare
    pairs, at most KEEPER_SPARES; no client's socket once its run has ended."""
    base, end = figures(soaked)
    for s in soaked["samples"]:
        assert "kinds" in s, f"no keeper to count the fds of: {s}"
        kinds = dict(s["kinds"])
        spares = [kinds.pop("net", 0), kinds.pop("ipc", 0)]
        assert kinds == soak.IDLE_FIXED and spares[0] == spares[1] <= soak.KEEPER_SPARES, s
    assert end["fixed"] <= base["fixed"], (base, end)
    assert end["fds"] - 2 * end["spares"] == base["fds"] - 2 * base["spares"]


def test_the_spare_maker_holds_only_its_socket(soaked):
    """Not the keeper's listening socket above all (src/keeper.c, spare_maker_start):
    a maker that outlived its keeper would keep the keeper's address taken."""
    for s in soaked["samples"]:
        assert s.get("maker_kinds") == soak.MAKER_FIXED, s


def test_the_keeper_does_not_grow(soaked):
    base, end = figures(soaked)
    assert base.get("anon_kb") and end.get("anon_kb"), (base, end)
    assert end["anon_kb"] - base["anon_kb"] <= ANON_BOUND_KB, (base, end)
    assert end["rss_kb"] - base["rss_kb"] <= RSS_BOUND_KB, (base, end)


@pytest.mark.parametrize("what", ["processes", "cgroups", "mounts", "temp"])
def test_nothing_is_left_on_the_host(soaked, what):
    assert soaked["leftovers"][what] in ([], {}), soaked["leftovers"][what]


# As root, in a network namespace of its own (so a keeper of its own): start a
# keeper, freeze its spare maker (a v1 freezer holds even a SIGKILL back, as a
# starved SCHED_IDLE task would for a while), SIGKILL the keeper, then run
# again while the maker is still frozen. A maker that kept the keeper's
# listening socket kept its address: the next keeper could not bind it and the
# run waited on the dead keeper's queue for as long as the maker lived, here
# past the run's 10 s (rc "hung"; the maker thaws only after it).
FROZEN_MAKER = r"""
import ctypes, json, os, signal, subprocess, sys, time
hutch, user, freezer = sys.argv[1:4]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the keeper becomes ours
run = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--",
       hutch, "run", "--", "/bin/true"]
def children(pid, comm):
    found = []
    for p in os.listdir("/proc"):
        try:  # a process may end between the listing and the reads
            stat = open(f"/proc/{p}/stat").read() if p.isdigit() else ""
            name = open(f"/proc/{p}/comm").read().strip() if stat else ""
        except OSError:
            continue
        if stat and stat.rsplit(")", 1)[1].split()[1] == str(pid) and name == comm:
            found.append(int(p))
    return found
subprocess.run(run, check=True, stdin=subprocess.DEVNULL)
(keeper,) = children(os.getpid(), "hutch-keeper")
for _ in range(100):
    maker = children(keeper, "hutch-keeper-ns")
    if maker:
        break
    time.sleep(0.05)
os.mkdir(freezer)
out = {}
try:
    open(f"{freezer}/cgroup.procs", "w").write(str(maker[0]))
    open(f"{freezer}/freezer.state", "w").write("FROZEN")
    while open(f"{freezer}/freezer.state").read().strip() != "FROZEN":
        time.sleep(0.01)
    os.kill(keeper, signal.SIGKILL)
    os.waitpid(keeper, 0)
    p = subprocess.Popen(run, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        out["rc"] = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out["rc"] = "hung"
    out["keepers"] = len(children(os.getpid(), "hutch-keeper"))
finally:
    open(f"{freezer}/freezer.state", "w").write("THAWED")
    for pid in children(os.getpid(), "hutch-keeper"):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.rmdir(freezer)
            break
        except OSError:
            time.sleep(0.05)
print(json.dumps(out))
"""


def test_a_new_keeper_starts_while_the_old_ones_maker_cannot_run(hutch_bin):
    if os.geteuid() != 0:
        pytest.skip("needs root: a v1 freezer holds the maker, in a network namespace "
                    "of the test's own")
    if not os.path.isdir("/sys/fs/cgroup/freezer"):
        pytest.skip("no v1 freezer hierarchy to hold the maker with")
    freezer = f"/sys/fs/cgroup/freezer/hutch-soak-frozen-{os.getpid()}"
    r = subprocess.run(["unshare", "--net", "--", "/usr/bin/python3", "-c", FROZEN_MAKER,
                        hutch_bin, USER, freezer], capture_output=True, text=True,
                       timeout=TIMEOUT * 2, cwd="/")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the run got a new keeper, not the dead one's queue (rc "hung"), and it stayed
    assert out["rc"] == 0 and out["keepers"] == 1, out
