"""Resource limits through the sandbox's own cgroup (src/cgroup*.c), the
timeout (src/monitor.c) and rlimits (src/limits.c), as the unprivileged
user. Every run is bounded by --timeout or a loop limit."""

import os
import re
import resource as resource_mod
import select
import subprocess
import time

import pytest

from cgtools import delegation_problem, need_delegation, report_of
from conftest import HUTCH, TIMEOUT, error_lines, ok

HOG = "a = [bytearray(1 << 20) for _ in range(400)]"  # 400 MiB, touched


def test_memory_hog_is_oom_killed_and_reported(sandbox, tmp_path):
    need_delegation("--memory=64M")
    rep = tmp_path / "r.json"
    r = sandbox("python3", "-c", HOG,
                opts=("--memory", "64M", "--timeout", "20s", "--report", rep))
    assert r.returncode == 137, r.stderr
    j = report_of(rep)
    assert j["exit_code"] == 137 and j["signal_name"] == "KILL"
    assert j["oom_kills"] >= 1, j
    assert j["peak_memory_bytes"] <= 64 << 20, j
    assert j["limits"]["memory_bytes"] == 64 << 20
    assert not j["timed_out"]


def test_memory_under_the_limit_is_fine(sandbox, tmp_path):
    need_delegation("--memory=64M")
    rep = tmp_path / "r.json"
    ok(sandbox("python3", "-c", "a = bytearray(16 << 20)",
               opts=("--memory", "64M", "--report", rep)))
    j = report_of(rep)
    assert j["oom_kills"] == 0
    assert j["peak_memory_bytes"] >= 16 << 20, j


def test_fork_bomb_is_contained(sh, tmp_path):
    need_delegation("--pids=64")
    rep = tmp_path / "r.json"
    # 300 background sleeps: far more than 64, bounded so it always ends.
    r = sh("i=0; while [ $i -lt 300 ]; do sleep 2 & i=$((i+1)); done 2>/dev/null; "
           "wait; echo done", "--pids", "64", "--timeout", "15s", "--report", rep)
    j = report_of(rep)
    assert j["peak_pids"] is None or j["peak_pids"] <= 64, j
    assert not j["timed_out"], j
    assert r.returncode in (0, 2), r.stderr
    # the host is fine: we can still fork
    assert subprocess.run(["true"]).returncode == 0


def cpu_cgroup_of(proc):
    """The cpu cgroup directory a `hutch run -v` names (v1 "cgroup (cpu): DIR", or v2's)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        line = proc.stderr.readline() if ready else ""
        m = re.match(r"hutch: cgroup \((cpu|cpu,cpuacct|cgroup2)\): (.*)$", line)
        if m:
            return m[1], m[2].strip()
        if line.startswith("hutch: command:") or proc.poll() is not None:
            break
    return None, None


def test_cpus_throttle_a_busy_loop():
    """Half a CPU's quota is set and the kernel throttles a busy loop by it: read from the
    cgroup while the loop runs (the quota and cpu.stat's nr_throttled), no timing compared."""
    need_delegation("--cpus=0.5")
    proc = subprocess.Popen([HUTCH, "run", "-v", "--cpus", "0.5", "--", "timeout", "120", "sh",
                             "-c", "while :; do :; done"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        kind, d = cpu_cgroup_of(proc)
        assert d, "hutch -v named no cpu cgroup"
        stat = {}
        deadline = time.monotonic() + TIMEOUT  # a bound on a hang, not a timing
        while time.monotonic() < deadline:
            with open(f"{d}/cpu.stat") as f:
                stat = dict(l.split() for l in f)
            if int(stat.get("nr_periods", 0)) >= 5:
                break
            time.sleep(0.1)
        if kind == "cgroup2":
            with open(f"{d}/cpu.max") as f:
                assert f.read().split() == ["50000", "100000"]
        else:
            with open(f"{d}/cpu.cfs_quota_us") as f:
                quota = int(f.read())
            with open(f"{d}/cpu.cfs_period_us") as f:
                assert quota * 2 == int(f.read()), quota
        assert int(stat.get("nr_throttled", 0)) >= 1, stat
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


def test_cpu_and_io_weight_apply_where_the_host_has_them(sandbox):
    need_delegation("--cpu-weight=50")
    ok(sandbox("true", opts=("--cpu-weight", "50")))


def test_timeout_kills_sleep_and_children(sh, tmp_path):
    # a sandbox that waited for either sleep would run into the 20 s:
    # TimeoutExpired, a failure
    rep = tmp_path / "r.json"
    r = sh("sleep 100 & sleep 100", "--timeout", "1s", "--report", rep,
           timeout=20)
    assert r.returncode in (137, 143), r.stderr
    j = report_of(rep)
    assert j["timed_out"] is True
    assert j["limits"]["timeout_s"] == 1.0


def test_timeout_kills_what_ignores_sigterm(sh, tmp_path):
    # SIGTERM first, and the command lives on to act on it (its trap prints
    # TERM; a SIGKILL with it would have left no time to), then SIGKILL (137);
    # a timeout that never went on to the kill would run into the 20 s
    rep = tmp_path / "r.json"
    r = sh("trap 'echo TERM' TERM; while :; do sleep 100 & wait $!; done",
           "--timeout", "300ms", "--report", rep, timeout=20)
    assert r.returncode == 137, r.stderr
    assert r.stdout == "TERM\n", r.stdout + r.stderr
    j = report_of(rep)
    assert j["timed_out"] is True


def test_no_timeout_when_the_command_is_quick(sh, tmp_path):
    rep = tmp_path / "r.json"
    ok(sh("exit 0", "--timeout", "10s", "--report", rep))
    assert report_of(rep)["timed_out"] is False


def proc_limits(text):
    """/proc/self/limits: {"Max processes": (soft, hard), ...}, as text."""
    out = {}
    for line in text.splitlines()[1:]:
        name, soft, hard = line[:26].strip(), *line[26:].split()[:2]
        out[name] = (soft, hard)
    return out


def host_limit(resource):
    soft, _ = resource_mod.getrlimit(resource)
    return "unlimited" if soft == resource_mod.RLIM_INFINITY else str(soft)


def test_default_limits_without_a_cgroup_are_rlimits(sh, tmp_path):
    """10: no cgroup (none under /): RLIMIT_NPROC 4096 and RLIMIT_DATA half of
    the RAM, soft and hard, so the sandbox cannot raise them again."""
    rep = tmp_path / "r.json"
    r = ok(sh("cat /proc/self/limits", "--cgroup-parent", "/", "--report", rep))
    lim = proc_limits(r.stdout)
    j = report_of(rep)["limits"]
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert j["pids"] == 4096 and j["pids_by"] == "rlimit nproc"
    assert j["memory_bytes"] == ram // 2 and j["memory_by"] == "rlimit data"
    assert lim["Max processes"] == ("4096", "4096")
    assert lim["Max data size"] == (str(ram // 2), str(ram // 2))


def test_default_limits_in_a_delegated_cgroup(sh, tmp_path):
    """With a cgroup, the cgroup holds them, and the rlimits stay the caller's."""
    need_delegation("--pids=64")
    rep = tmp_path / "r.json"
    r = ok(sh("cat /proc/self/limits", "--report", rep))
    lim = proc_limits(r.stdout)
    j = report_of(rep)["limits"]
    assert j["pids"] == 4096 and j["pids_by"] == "cgroup"
    assert j["memory_by"] == "cgroup" and j["memory_bytes"] > 0
    assert lim["Max processes"][0] == host_limit(resource_mod.RLIMIT_NPROC)
    assert lim["Max data size"][0] == host_limit(resource_mod.RLIMIT_DATA)


def test_default_limits_find_a_delegated_cgroup_unasked(sh):
    """No option asks for a cgroup (no --report, limit or timeout): hutch first asks, in a
    few calls, whether one of its own cgroups is delegated (the cheap look that keeps
    startup fast), and where one is, the defaults still go there, not to rlimits."""
    need_delegation("--pids=64")
    r = ok(sh("cat /proc/self/limits", "-v"))
    lim = proc_limits(r.stdout)
    assert lim["Max processes"][0] == host_limit(resource_mod.RLIMIT_NPROC), r.stdout
    assert any(l.startswith("hutch: cgroup (") for l in r.stderr.splitlines()), r.stderr


@pytest.mark.nosub
def test_default_limits_unasked_without_delegation_are_rlimits(sandbox):
    """The cheap look finds nothing of hutch-nosub's to write (tests/setup-host delegates
    nothing to it): the rlimits stand in, without any cgroup made."""
    if delegation_problem("--pids=64") is None:
        pytest.skip("this user has a delegated cgroup")
    r = ok(sandbox("cat", "/proc/self/limits", opts=("-v",)))
    assert proc_limits(r.stdout)["Max processes"] == ("4096", "4096"), r.stdout
    assert not any(l.startswith("hutch: cgroup (") for l in r.stderr.splitlines()), r.stderr


def test_max_means_no_limit(sh, tmp_path):
    rep = tmp_path / "r.json"
    r = ok(sh("cat /proc/self/limits", "--pids", "max", "--memory", "max",
              "--cgroup-parent", "/", "--report", rep))
    lim = proc_limits(r.stdout)
    j = report_of(rep)["limits"]
    assert "pids" not in j and "memory_bytes" not in j, j
    assert j["tmpfs_bytes"] == 1 << 30
    assert lim["Max processes"][0] == host_limit(resource_mod.RLIMIT_NPROC)
    assert lim["Max data size"][0] == host_limit(resource_mod.RLIMIT_DATA)


def test_rlimit_option_wins_over_the_default(sh):
    r = ok(sh("cat /proc/self/limits", "--cgroup-parent", "/", "--rlimit", "nproc=100",
              "--rlimit", "data=unlimited:unlimited"))
    lim = proc_limits(r.stdout)
    assert lim["Max processes"] == ("100", "100")
    assert lim["Max data size"][0] == "unlimited"


def test_rlimits_apply(sh):
    r = ok(sh("ulimit -n; ulimit -Hn; ulimit -c; ulimit -f",
              "--rlimit", "nofile=100:200", "--rlimit", "core=0",
              "--rlimit", "fsize=1M"))
    assert r.stdout.split() == ["100", "200", "0", "2048"]


def test_rlimit_fsize_stops_a_big_write(sh):
    r = sh("head -c 2M /dev/zero > /tmp/big; echo $?", "--rlimit", "fsize=1M")
    assert r.stdout.strip() != "0"


def test_rlimit_cannot_raise_the_hard_limit(sh):
    r = sh("true", "--rlimit", "nofile=unlimited")
    assert r.returncode == 125
    assert "hard limit" in r.stderr


@pytest.mark.parametrize("args,words", [
    (["--memory", "lots"], "not a size"),
    (["--memory", "0"], "not a size"),
    (["--pids", "1"], "whole number"),
    (["--cpus", "0"], "number of CPUs"),
    (["--cpus", "half"], "number of CPUs"),
    (["--cpu-weight", "20000"], "whole number"),
    (["--timeout", "1x"], "duration"),
    (["--timeout", "0"], "duration"),
    (["--rlimit", "nofile"], "NAME=SOFT"),
    (["--rlimit", "bogus=1"], "unknown resource"),
    (["--rlimit", "nofile=20:10"], "soft limit is above"),
    (["--memory-swap", "128M"], "needs --memory"),
    (["--memory", "128M", "--memory-swap", "64M"], "at least --memory"),
    (["--memory", "max", "--memory-swap", "64M"], "needs --memory"),
    (["--pids", "maximum"], "whole number"),
    (["--memory", "64M", "--tmpfs", "/x:64M"], "not below --memory"),
    (["--cgroup-parent", "relative"], "absolute cgroup path"),
    # a trailing "..", or "." anywhere, was let through (tests/fuzz/fuzz_path.c)
    (["--cgroup-parent", "/user/.."], "absolute cgroup path"),
    (["--cgroup-parent", "/.."], "absolute cgroup path"),
    (["--cgroup-parent", "/user/./jobs"], "absolute cgroup path"),
])
def test_bad_values_are_clear_errors(sandbox, args, words):
    r = sandbox("true", opts=args)
    assert r.returncode == 125
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and words in lines[0], r.stderr
