"""Policy files, --policy, `hutch policy`, --dry-run and the bash completion
(src/policy.c, src/dryrun.c, src/completion.c)."""

import os
import subprocess

import pytest

from conftest import error_lines, ok, run_hutch, subid_ranges


def write(path, text):
    path.write_text(text)
    return str(path)


def env_with(**extra):
    env = dict(os.environ)
    env.update(extra)
    return env


def one_error(r, *needles):
    assert r.returncode == 125, (r.returncode, r.stderr)
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_settings_apply_and_later_ones_win(sh, tmp_path):
    pol = write(tmp_path / "p.policy",
                "# a comment\n\n  hostname first  \nhostname second\nsetenv FROM_POLICY=yes\n")
    r = ok(sh("hostname; echo $FROM_POLICY", "--policy", pol))
    assert r.stdout == "second\nyes\n"


@pytest.mark.parametrize("order", ["cli-first", "policy-first"])
def test_command_line_overrides_policy_wherever_it_stands(sh, tmp_path, order):
    pol = write(tmp_path / "p.policy", "hostname frompolicy\n")
    opts = (["--hostname", "fromcli", "--policy", pol] if order == "cli-first"
            else ["--policy", pol, "--hostname", "fromcli"])
    assert ok(sh("hostname", *opts)).stdout == "fromcli\n"


def test_include_relative_and_by_name_from_config_dir(run, tmp_path):
    cfg = tmp_path / "cfg" / "hutch" / "policy"
    cfg.mkdir(parents=True)
    write(cfg / "base.policy", "hostname base\nsetenv A=1\n")
    write(tmp_path / "sub.policy", "include base\nsetenv B=2\n")
    top = write(tmp_path / "top.policy", "include ./sub.policy\nhostname top\n")
    r = run("policy", "show", top, env=env_with(XDG_CONFIG_HOME=str(tmp_path / "cfg")))
    assert ok(r).stdout == "hostname base\nsetenv A=1\nsetenv B=2\nhostname top\n"


def test_user_policy_shadows_builtin(sh, tmp_path):
    cfg = tmp_path / "hutch" / "policy"
    cfg.mkdir(parents=True)
    write(cfg / "default.policy", "hostname mine\n")
    r = ok(sh("hostname", "--policy", "default", env=env_with(XDG_CONFIG_HOME=str(tmp_path))))
    assert r.stdout == "mine\n"


def test_variables_expand(run, tmp_path):
    pol = write(tmp_path / "v.policy",
                "setenv H=$HOME\nsetenv U=${UID}:$GID\nsetenv D=$$5\nchdir $PWD\n"
                "setenv P=$PROJECT\n")
    r = ok(run("policy", "show", pol, cwd=str(tmp_path)))
    assert r.stdout.splitlines() == [
        f"setenv H={os.environ['HOME']}", f"setenv U={os.getuid()}:{os.getgid()}",
        "setenv D=$5", f"chdir {tmp_path}", f"setenv P={tmp_path.name}"]


def test_builtin_default_is_listed_and_shown(run):
    listing = ok(run("policy", "list")).stdout.splitlines()
    assert "default\tbuilt-in" in listing
    assert "hostname hutch" in ok(run("policy", "show", "default")).stdout


def test_check_says_ok(run, tmp_path):
    pol = write(tmp_path / "good.policy", "keep-env\nro-bind /etc:/mnt/etc\n")
    assert ok(run("policy", "check", pol)).stdout == f"{pol}: ok\n"


@pytest.mark.parametrize("text,needles", [
    ("hostname a\nhostnme b\n", [":2:", "unknown setting 'hostnme'", "did you mean 'hostname'"]),
    ("frobnicate 1\n", [":1:", "unknown setting 'frobnicate'"]),
    ("setenv X=$NOPE\n", [":1:", "unknown variable '$NOPE'"]),
    ("setenv X=${HOME\n", [":1:", "bad variable reference"]),
    ("tmpfs /x:lots\n", [":1:", "'/x:lots'", "not a size"]),
    ("keep-env yes\n", [":1:", "takes no argument"]),
    ("hostname\n", [":1:", "needs an argument"]),
    ("policy other\n", [":1:", "include NAME"]),
    ("help\n", [":1:", "unknown setting 'help'"]),
    ("include\n", [":1:", "include needs"]),
    ("include ./nowhere.policy\n", [":1:", "nowhere.policy", "No such file"]),
])
def test_errors_name_file_and_line(run, tmp_path, text, needles):
    pol = write(tmp_path / "bad.policy", text)
    one_error(run("policy", "check", pol), "bad.policy", *needles)


def test_error_in_included_file_names_that_file(run, tmp_path):
    write(tmp_path / "inner.policy", "hostname ok\n\nbogus 1\n")
    outer = write(tmp_path / "outer.policy", "include ./inner.policy\n")
    line = one_error(run("policy", "check", outer), "inner.policy:3:", "bogus")
    assert "outer.policy" not in line


def test_include_cycle_is_an_error(run, tmp_path):
    write(tmp_path / "a.policy", "include ./b.policy\n")
    write(tmp_path / "b.policy", "hostname x\ninclude ./a.policy\n")
    one_error(run("policy", "check", str(tmp_path / "a.policy")), "include cycle")


def test_bad_policy_stops_run_before_anything_runs(sandbox, tmp_path):
    marker = tmp_path / "ran"
    pol = write(tmp_path / "bad.policy", "nonsense\n")
    r = sandbox("touch", str(marker), opts=("--bind", str(tmp_path), "--policy", pol))
    one_error(r, "bad.policy:1:")
    assert not marker.exists()


def test_unknown_policy_name(run):
    one_error(run("run", "--policy", "no-such-policy", "--", "true"),
              "no policy named 'no-such-policy'", "hutch policy list")


def test_dry_run_prints_the_plan_and_runs_nothing(run, tmp_path):
    marker = tmp_path / "ran"
    r = ok(run("run", "--dry-run", "--bind", f"{tmp_path}:/w", "--cap-add", "NET_RAW",
               "--hostname", "planned", "--", "touch", "/w/ran"))
    assert not marker.exists()
    out = r.stdout
    for needle in ["command: touch /w/ran", "namespaces: user pid mount ipc uts cgroup time net",
                   "hostname: planned", "ro-bind    /usr", "proc       /proc",
                   f"bind       /w <- {tmp_path}", "cap_net_raw", "uid map:"]:
        assert needle in out, (needle, out)


def test_dry_run_shows_the_subordinate_range(run, subids):
    start = subid_ranges("uid")[0][0]
    out = ok(run("run", "--dry-run", "--", "true")).stdout
    uid_line = next(l for l in out.splitlines() if l.startswith("uid map:"))
    assert f"-> {os.getuid()} (1)" in uid_line and f"-> {start} " in uid_line


def test_completion_script_is_valid_bash_and_knows_every_option(run):
    script = ok(run("completion", "bash")).stdout
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    helptext = ok(run("run", "--help")).stdout
    # the option column: the first --word of each option row
    options = set()
    for line in helptext.splitlines():
        words = line.split()
        if words and words[0].startswith("-"):
            options.add(next(w.rstrip(",") for w in words if w.startswith("--")))
    assert options
    for opt in options:
        assert opt in script, opt


def complete(script, words):
    """Run the completion function for WORDS (the last one being completed)."""
    prog = (script + "\nCOMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")\n"
            f"COMP_CWORD={len(words) - 1}\n_hutch\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True,
                       env=env_with(PATH=os.path.dirname(os.environ.get("HUTCH_BIN", "x")) +
                                    ":" + os.environ.get("PATH", "")))
    return set(r.stdout.split())


def test_completion_completes_options_policies_and_caps(run):
    script = ok(run("completion", "bash")).stdout
    assert complete(script, ["hutch", "ru"]) == {"run"}
    assert "--ro-bind" in complete(script, ["hutch", "run", "--ro"])
    assert "CAP_NET_ADMIN" in complete(script, ["hutch", "run", "--cap-add", "CAP_NET_A"])
    assert "show" in complete(script, ["hutch", "policy", "s"])


def test_policy_parser_unit_tests_in_c(hutch_bin):
    """tests/unit/policy_test.c: every rule and error of the parser, in C."""
    exe = os.path.join(os.path.dirname(hutch_bin), "policy-test")
    if not os.path.exists(exe):
        pytest.fail(f"{exe} is missing: meson builds it with hutch")
    r = subprocess.run([exe], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith(", 0 failed"), r.stdout


# ---- the built-in policies for the three uses

def test_untrusted_policy(sh, tmp_path):
    from cgtools import need_delegation, report_of
    need_delegation("--memory=512M")
    rep = tmp_path / "r.json"
    script = ("tail -n +3 /proc/net/dev | cut -d: -f1; ls -A $HOME | wc -l; "
              "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; "
              "touch /usr/x 2>/dev/null || echo usr-ro; touch /etc/x 2>/dev/null || echo etc-ro; "
              "python3 -c 'import ctypes; l=ctypes.CDLL(None); "
              "print(\"ptrace\", l.ptrace(0, 0, 0, 0), ctypes.get_errno())'")
    r = ok(sh(script, "--policy", "untrusted", "--report", rep))
    lines = r.stdout.split("\n")
    assert lines[0].strip() == "lo"          # no network but loopback
    assert lines[1] == "0"                   # an empty $HOME
    assert "usr-ro" in lines and "etc-ro" in lines
    assert "Seccomp:\t2" in r.stdout
    assert "ptrace -1" in r.stdout           # strict profile: ptrace refused
    lim = report_of(rep)["limits"]
    assert lim["memory_bytes"] == 512 << 20 and lim["pids"] == 256
    assert lim["timeout_s"] == 600


def test_untrusted_policy_can_be_loosened_on_the_command_line(sh):
    from cgtools import need_delegation
    need_delegation("--memory=512M")
    r = ok(sh("hostname", "--policy", "untrusted", "--hostname", "judge"))
    assert r.stdout == "judge\n"


def test_ci_policy_workspace_network_and_cache(sandbox, tmp_path):
    from cgtools import need_delegation
    need_delegation("--memory=4G")
    work = tmp_path / "proj"
    work.mkdir()
    cache = tmp_path / "xdgcache"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    script = ("pwd; echo built > out.txt; tail -n +3 /proc/net/dev | cut -d: -f1 | sort | "
              "tr -d ' ' | tr '\\n' ,; echo; cat $HOME/.cache/seen 2>/dev/null; "
              "echo cached > $HOME/.cache/seen")
    r = ok(sandbox("sh", "-c", script, opts=("--policy", "ci"), cwd=str(work), env=env))
    out = r.stdout.splitlines()
    assert out[0] == str(work)
    assert "tap0" in out[1] and "lo" in out[1]
    assert (work / "out.txt").read_text() == "built\n"
    assert (work / "out.txt").stat().st_uid == os.getuid()
    assert (cache / "hutch" / "ci" / "proj" / "seen").exists()
    # the cache survives into the next run of the same project
    r = ok(sandbox("sh", "-c", script, opts=("--policy", "ci"), cwd=str(work), env=env))
    assert "cached" in r.stdout.splitlines()
