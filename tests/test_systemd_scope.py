"""The systemd transient scope (src/cgroup-systemd.c, src/cgroup.c): where the
caller's own cgroup v2 directory is not writable and a systemd user manager
answers on the session bus, hutch asks it (sd-bus, StartTransientUnit) for
hutch-PID-RANDOM.scope with Delegate=yes, moves itself into a `launcher` leaf
of it and makes the sandbox's cgroup beside that leaf.

Each test here talks to a real `systemd --user` that the module starts as the
test user, with the session bus socket-activated by it (dbus-daemon, from
dbus-user-session). That needs what `sudo tests/run` prepares for its
systemd_user suite: tests/pure-v2-env (a mount namespace where
/sys/fs/cgroup is the cgroup2 hierarchy and sd_booted() holds), and the suite
started in a root-owned cgroup, as a login session's scope is, whose parent is
delegated to the user (the user manager gets its cgroup there, as
user@UID.service has). Elsewhere the tests skip and say what is missing; with
HUTCH_SYSTEMD_SCOPE=1 (set by tests/run) they fail instead.

The v2 hierarchy of this hybrid host has no memory/pids/cpu controllers, so
what is proved here is the scope, its delegation, the kill and the cleanup,
and the message for a controller the scope lacks; tests/v2-proof proves the
limits on a real pure v2 host."""

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from cgtools import skip_unless_required
from conftest import HUTCH, TIMEOUT, error_lines

pytestmark = pytest.mark.systemd_user

SYSTEMD = "/usr/lib/systemd/systemd"
CGROOT = "/sys/fs/cgroup"
DROP_IN = "/etc/systemd/system/user@.service.d/delegate.conf"


def cgroup_of(pid="self"):
    """The cgroup v2 path of a process ("/a/b"), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except OSError:
        pass
    return None


def environment_problem():
    """None where a user manager can run here and hutch must ask it, else why not."""
    for prog in (SYSTEMD, shutil.which("busctl"), shutil.which("systemctl")):
        if not prog or not os.access(prog, os.X_OK):
            return "systemd is not installed (tests/install-deps installs it)"
    fstype = subprocess.run(["stat", "-fc", "%T", CGROOT], capture_output=True,
                            text=True).stdout.strip()
    if fstype != "cgroup2fs":
        return (f"{CGROOT} is {fstype or 'missing'}, not cgroup2: systemd --user needs a "
                "pure v2 view (sudo tests/pure-v2-env makes one)")
    if not os.path.isdir("/run/systemd/system"):
        return ("/run/systemd/system is missing: systemd --user refuses to run 'but the "
                "system has not been booted with systemd' (tests/pure-v2-env fakes it)")
    own = CGROOT + (cgroup_of() or "/")
    if os.access(own, os.W_OK):
        return (f"our own cgroup {own} is writable, so hutch would not ask systemd "
                "(tests/run starts this suite in a root-owned one)")
    if not os.access(os.path.dirname(own), os.W_OK):
        return f"{os.path.dirname(own)} is not delegated to us: no place for a user manager"
    return None


def need_environment():
    problem = environment_problem()
    skip_unless_required(problem, "HUTCH_SYSTEMD_SCOPE",
                         f"the systemd_user environment is broken: {problem}",
                         f"needs a systemd user manager: {problem}; sudo tests/run runs "
                         "these in the environment it prepares")


def procs_below(top):
    """Live processes in the cgroup tree at TOP (zombies left out)."""
    pids = []
    for f in glob.glob(f"{top}/**/cgroup.procs", recursive=True):
        try:
            pids += [int(p) for p in open(f).read().split()]
        except OSError:
            continue
    live = []
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            live.append(pid)
    return live


def remove_tree(top):
    for d, _, _ in sorted(os.walk(top), key=lambda w: len(w[0]), reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


def wait_for(what, cond, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


class UserManager:
    """A real `systemd --user` in a cgroup of its own beside ours."""

    def __init__(self):
        self.rt = tempfile.mkdtemp(prefix="hutch-xdg-")  # XDG_RUNTIME_DIR, 0700
        self.cg = f"{os.path.dirname(CGROOT + cgroup_of())}/user-manager-{os.getpid()}"
        os.mkdir(self.cg)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.rt)
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.log = f"{self.rt}/manager.log"
        with open(self.log, "w") as log:
            # moved into its cgroup before it execs: a manager takes over the
            # cgroup it starts in (moves everything there into init.scope)
            self.proc = subprocess.Popen(
                ["sh", "-c", 'echo $$ > "$1/cgroup.procs" && exec "$2" --user',
                 "sh", self.cg, SYSTEMD],
                env=self.env, cwd="/", stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)

    def log_tail(self):
        try:
            return open(self.log).read()[-3000:]
        except OSError:
            return ""

    def wait_ready(self):
        # the first call socket-activates dbus-daemon; the manager takes its
        # name on the bus once dbus.service is up
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"systemd --user exited {self.proc.returncode}:\n"
                            f"{self.log_tail()}", pytrace=False)
            if self.tool("busctl", "status", "org.freedesktop.systemd1").returncode == 0:
                return
            time.sleep(0.05)
        pytest.fail(f"systemd --user never answered on the bus:\n{self.log_tail()}",
                    pytrace=False)

    def tool(self, *cmd):
        return subprocess.run([cmd[0], "--user", *cmd[1:]], env=self.env,
                              capture_output=True, text=True, timeout=TIMEOUT)

    def units(self, prefix="hutch-"):
        r = self.tool("systemctl", "list-units", "--all", "--plain", "--no-legend",
                      f"{prefix}*")
        return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]

    def show(self, unit):
        r = self.tool("systemctl", "show", "-p", "ControlGroup", "-p", "Delegate",
                      "-p", "ActiveState", unit)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def stop(self):
        """SIGTERM: the manager stops its units (dbus-daemon, any scope) and exits.
        Returns what was left in its cgroup tree, after killing it."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        left = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = procs_below(self.cg)
            if not left:
                break
            time.sleep(0.05)
        if left:
            with open(f"{self.cg}/cgroup.kill", "w") as f:
                f.write("1")
        remove_tree(self.cg)
        # systemd leaves $XDG_RUNTIME_DIR/systemd/inaccessible/dir, mode 000
        for d, subdirs, _ in os.walk(self.rt):
            for sub in subdirs:
                os.chmod(os.path.join(d, sub), 0o700)
        shutil.rmtree(self.rt)
        return left


@pytest.fixture(scope="module")
def manager(hutch_bin):
    need_environment()
    m = UserManager()
    try:
        m.wait_ready()
        yield m
    finally:
        left = m.stop()
    assert m.proc.returncode == 0, f"systemd --user exited {m.proc.returncode}"
    assert not left, f"processes left in the user manager's cgroup: {left}"
    assert not os.path.exists(m.cg)


def start_hutch(manager, *args):
    return subprocess.Popen([HUTCH, "run", *map(str, args)], env=manager.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def scope_of(manager, launcher):
    """The scope hutch (pid LAUNCHER) asked for, once systemd has it running."""
    def running():
        units = [u for u in manager.units() if u.startswith(f"hutch-{launcher}-")]
        return units and manager.show(units[0]).get("ActiveState") == "active" and units[0]
    return wait_for(f"hutch-{launcher}-*.scope", running)


def assert_gone(manager, unit, scope_dir):
    wait_for(f"{unit} to go", lambda: unit not in manager.units())
    wait_for(f"{scope_dir} to be removed", lambda: not os.path.exists(scope_dir))
    assert manager.proc.poll() is None, "the user manager died"


def watch_running_sandbox(manager, p):
    """While hutch runs: its scope is delegated, holds the launcher in a leaf,
    and the sandbox's processes in a cgroup of their own. Returns (unit, dir)."""
    unit = scope_of(manager, p.pid)
    props = manager.show(unit)
    assert props["Delegate"] == "yes", props
    scope_dir = CGROOT + props["ControlGroup"]
    assert scope_dir.startswith(manager.cg + "/"), (scope_dir, manager.cg)
    # the launcher left our (root-owned) cgroup for a leaf of the scope, so the
    # scope itself holds no process and can hand controllers down
    assert cgroup_of(p.pid) == props["ControlGroup"] + "/launcher"
    # init, sh and the two sleeps, and nothing else
    leaf = wait_for("the sandbox's cgroup",
                    lambda: glob.glob(f"{scope_dir}/hutch-{p.pid}-*/sandbox"))
    wait_for("the sandbox's processes", lambda: len(procs_below(leaf[0])) == 4)
    return unit, scope_dir


def test_sandbox_runs_in_a_delegated_scope_that_goes_with_it(manager, tmp_path):
    rep = tmp_path / "r.json"
    p = start_hutch(manager, "--timeout", "30s", "--report", rep, "--",
                    "sh", "-c", "sleep 100 & sleep 100")
    try:
        unit, scope_dir = watch_running_sandbox(manager, p)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 143, err
    j = json.loads(rep.read_text())
    assert j["cgroups"]["cgroup2"].startswith(scope_dir + "/hutch-"), j
    assert not j["timed_out"]
    assert_gone(manager, unit, scope_dir)


def test_sigkill_of_the_launcher_leaves_nothing(manager):
    p = start_hutch(manager, "--timeout", "30s", "--", "sh", "-c", "sleep 100 & sleep 100")
    try:
        unit, scope_dir = watch_running_sandbox(manager, p)
    finally:
        p.kill()
        p.communicate(timeout=TIMEOUT)
    # the init dies with the launcher (parent-death signal), the scope empties,
    # and systemd removes it with everything hutch made inside
    assert_gone(manager, unit, scope_dir)


def test_timeout_kills_everything_in_the_scope(manager, tmp_path):
    rep = tmp_path / "r.json"
    r = subprocess.run([HUTCH, "run", "--timeout", "1s", "--report", rep, "--", "sh", "-c",
                        "grep ^0:: /proc/self/cgroup; ls /sys/fs/cgroup/cgroup.kill; "
                        "sleep 100 & sleep 100"],
                       env=manager.env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode in (137, 143), r.stderr
    # inside: rooted at its own cgroup, v2's files in view
    assert r.stdout.splitlines()[:2] == ["0::/", "/sys/fs/cgroup/cgroup.kill"], r.stdout
    j = json.loads(rep.read_text())
    assert j["timed_out"], j
    sandbox_dir = j["cgroups"]["cgroup2"]
    scope_dir = os.path.dirname(sandbox_dir)
    unit = os.path.basename(scope_dir)
    assert unit.startswith("hutch-") and unit.endswith(".scope"), sandbox_dir
    assert scope_dir.startswith(manager.cg + "/"), sandbox_dir
    assert_gone(manager, unit, scope_dir)


def test_missing_controller_names_the_systemd_drop_in(manager):
    with open(f"{manager.cg}/cgroup.controllers") as f:
        if "memory" in f.read().split():
            pytest.skip("the user manager has the memory controller here: the limit "
                        "itself is tests/v2-proof's to prove")
    r = subprocess.run([HUTCH, "run", "--memory", "64M", "--", "true"], env=manager.env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 125, r.stderr
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert "the memory controller is not delegated to cgroup" in lines[0], lines[0]
    assert DROP_IN in lines[0] and "Delegate=" in lines[0], lines[0]
    # it asked for a scope first, and that scope is gone with the failed run
    scope_dir = lines[0].split("delegated to cgroup ")[1].split(" (v2)")[0]
    unit = os.path.basename(scope_dir)
    assert unit.startswith("hutch-") and unit.endswith(".scope"), lines[0]
    assert_gone(manager, unit, scope_dir)


def test_without_the_bus_a_limit_is_a_clear_error(manager, tmp_path):
    env = {k: v for k, v in manager.env.items() if k != "XDG_RUNTIME_DIR"}
    r = subprocess.run([HUTCH, "run", "--pids", "64", "--", "true"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 125, r.stderr
    assert "needs a cgroup delegated to you" in r.stderr and "Delegate=yes" in r.stderr
    # only a timeout: no cgroup of its own, quietly, and no scope asked for
    rep = tmp_path / "r.json"
    r = subprocess.run([HUTCH, "run", "--timeout", "10s", "--report", rep, "--", "true"],
                       env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0 and not error_lines(r.stderr), r.stderr
    assert json.loads(rep.read_text())["cgroups"] == {}
    assert not manager.units()


def test_pure_v2_without_a_manager_climbs_to_the_delegation(hutch_bin, tmp_path):
    """No bus, hutch started in a writable leaf of the delegated tree: a cgroup
    for --timeout goes right there, and a controller none of the tree has is
    reported at the top of what is ours (the hidden v1 mounts of this hybrid
    host play no part: the view is pure v2)."""
    need_environment()
    parent = os.path.dirname(CGROOT + cgroup_of())
    top = parent
    while os.access(os.path.dirname(top), os.W_OK) and os.path.dirname(top) != CGROOT:
        top = os.path.dirname(top)
    mine = f"{parent}/climb-{os.getpid()}"
    os.makedirs(f"{mine}/leaf")
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")}

    def hutch_in_leaf(*args):
        return subprocess.run(["sh", "-c", 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"',
                               "sh", f"{mine}/leaf", HUTCH, "run", *map(str, args)],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TIMEOUT)
    try:
        rep = tmp_path / "r.json"
        r = hutch_in_leaf("--timeout", "10s", "--report", rep, "--", "true")
        assert r.returncode == 0, r.stderr
        assert list(json.loads(rep.read_text())["cgroups"]) == ["cgroup2"]
        r = hutch_in_leaf("--memory", "64M", "--", "true")
        assert r.returncode == 125, r.stderr
        lines = error_lines(r.stderr)
        assert len(lines) == 1, r.stderr
        assert f"the memory controller is not delegated to cgroup {top} (v2)" in lines[0]
        assert DROP_IN in lines[0]
    finally:
        remove_tree(mine)
