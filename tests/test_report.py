"""--report (src/report.c): the JSON written when the sandbox ends."""

import json

from cgtools import need_delegation, report_of
from conftest import ok

FIELDS = {"exit_code", "signal", "signal_name", "timed_out", "wall_time_s",
          "user_cpu_s", "system_cpu_s", "peak_memory_bytes", "oom_kills",
          "peak_pids", "limits", "cgroups"}


def test_report_to_a_file(sh, tmp_path):
    need_delegation("--memory=64M")
    rep = tmp_path / "r.json"
    r = sh("exit 3", "--memory", "64M", "--pids", "100", "--rlimit",
           "nofile=64", "--report", rep)
    assert r.returncode == 3
    j = report_of(rep)
    assert FIELDS <= set(j)
    assert j["exit_code"] == 3 and j["signal"] is None
    assert j["limits"]["memory_bytes"] == 64 << 20
    assert j["limits"]["pids"] == 100
    assert j["limits"]["rlimits"] == {"nofile": [64, 64]}
    assert j["peak_memory_bytes"] > 0 and j["oom_kills"] == 0
    assert j["wall_time_s"] > 0 and j["user_cpu_s"] >= 0


def test_report_to_stderr(sh):
    r = ok(sh("echo out", "--report", "-"))
    assert r.stdout == "out\n"
    j = json.loads(r.stderr.strip().splitlines()[-1])
    assert j["exit_code"] == 0 and j["timed_out"] is False


def test_report_counts_cpu_time(sandbox, tmp_path):
    rep = tmp_path / "r.json"
    sandbox("timeout", "1", "sh", "-c", "while :; do :; done",
            opts=("--report", rep))
    j = report_of(rep)
    assert j["user_cpu_s"] + j["system_cpu_s"] > 0.3, j


def test_report_of_a_signal(sh, tmp_path):
    rep = tmp_path / "r.json"
    sh("kill -TERM $$", "--report", rep)
    j = report_of(rep)
    assert j["exit_code"] == 143 and j["signal"] == 15
    assert j["signal_name"] == "TERM"


def test_unwritable_report_is_an_error(sh):
    r = sh("exit 0", "--report", "/proc/nonexistent/r.json")
    assert "--report /proc/nonexistent/r.json" in r.stderr


def test_report_of_a_setup_failure(sh, tmp_path):
    rep = tmp_path / "r.json"
    r = sh("true", "--memory", "64M", "--cgroup-parent", "/", "--report", rep)
    assert r.returncode == 125
    j = report_of(rep)
    assert j["exit_code"] == 125 and "delegated" in j["error"], j
