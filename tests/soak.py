"""The soak (bench/soak, tests/test_soak.py, issue 14 item 15): many `hutch run`s,
one after the other, against one id keeper (src/keeper.c), then a look at what
the keeper holds and at what is left on the host.

Two halves talk over a pipe, one JSON line each way per checkpoint:
  - the driver (`python3 tests/soak.py --drive ...`) runs as the unprivileged
    soak user: it makes the runs (the mix below), is a child subreaper (every
    orphan of a run, the keeper included, becomes its child) and serves the
    slirp runs' traffic on 127.0.0.1;
  - the supervisor (supervise()), in the caller: at each checkpoint it waits
    until the keeper is idle and samples it; at the end it looks for leftovers.
As root (CI's root suite, `sudo bench/soak`) the supervisor starts the driver as
the soak user in a network namespace of its own, so the soak's keeper (an
abstract socket, one per network namespace) serves the soak alone, and in the
user's delegated cgroups (/etc/hutch-test-cgroups, tests/setup-host); and it
counts the keeper's fds, which only root can read (the keeper is not dumpable).
As a normal user the driver runs beside the caller: fds are not counted.

The mix of run I (1-based; the schedule is fixed, so two soaks compare):
  every 20th   killed with SIGKILL (the launcher) while its command sleeps,
               in turn plain, with --memory/--pids (when delegated), with --net slirp;
  every 5th    --net slirp --allow-host-loopback: 64 KiB from a server on 127.0.0.1;
  every 10th+3 --memory 64M --pids 64 (when delegated);
  the rest     -- /bin/true;
  the last     --memory/--pids when delegated (it removes what a killed run left:
               README, resource limits), else plain.
Every command line carries a token, so any process of the soak is found by it.
"""

import json
import os
import pwd
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

from cgpaths import cgroup_dirs_of

KILL_EVERY, SLIRP_EVERY, LIMITS_EVERY = 20, 5, 10
LIMITS = ["--memory", "64M", "--pids", "64"]
PAYLOAD = 65536  # bytes a slirp run fetches
CGROUPS_FILE = "/etc/hutch-test-cgroups"
# What an idle keeper holds (src/keeper.c, keeper_serve): its user namespace, the
# listening socket, the socket to its spare maker, and up to KEEPER_SPARES spare
# network + IPC namespace pairs. A served client adds a socket until it hangs up.
KEEPER_SPARES = 2
IDLE_FIXED = {"user": 1, "socket": 2}
# The spare maker holds its socket to the keeper alone (and a pair while it makes one).
MAKER_FIXED = {"socket": 1}
SETTLE_S = 10  # how long to wait for the keeper to be idle, with its spares made


def kind_of(i, runs, limits):
    if i == runs:
        return "limits" if limits else "plain"
    if i % KILL_EVERY == 0:
        k = ("kill", "kill-limits", "kill-slirp")[(i // KILL_EVERY) % 3]
        return "kill" if k == "kill-limits" and not limits else k
    if i % SLIRP_EVERY == 0:
        return "slirp"
    if limits and i % LIMITS_EVERY == 3:
        return "limits"
    return "plain"


def checkpoints(runs, every):
    """After the first run (the keeper's start), after the tenth (the baseline:
    every code path has run once), every EVERY runs, and after the last."""
    return sorted({1, min(10, runs), runs} | set(range(every, runs + 1, every)))


# --------------------------------------------------------------------------
# The driver (the soak user)


class Server:
    """Answers each connection on 127.0.0.1 with PAYLOAD bytes, after one line."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            c, _ = self.sock.accept()
            with c:
                try:
                    c.settimeout(10)
                    c.recv(64)
                    c.sendall(b"x" * PAYLOAD)
                except OSError:
                    pass


def live_children(pid):
    """{pid: comm} of PID's children that are not zombies."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        state, ppid = rest.split()[:2]
        if int(ppid) == pid and state != "Z":
            out[int(d)] = comm
    return out


def reap():
    """Reap the zombies the subreaper inherited (sandbox inits whose monitor
    returned first, a keeper that exited); only between runs, when no run's
    own process is waited for. Returns how each keeper among them ended."""
    keepers = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return keepers
        if info is None:
            return keepers
        try:  # a zombie's name is still there until it is reaped
            with open(f"/proc/{info.si_pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            comm = "?"
        os.waitpid(info.si_pid, 0)
        if comm == "hutch-keeper":
            how = "exited %d" if info.si_code == os.CLD_EXITED else "killed by signal %d"
            keepers.append(f"keeper {info.si_pid} {how % info.si_status}")


class Driver:
    def __init__(self, hutch, token):
        self.hutch, self.token = hutch, token
        self.server = Server()
        self.launchers = []

    def start(self, opts, cmd, stdout=subprocess.DEVNULL):
        p = subprocess.Popen([self.hutch, "run", *opts, "--", *cmd], stdin=subprocess.DEVNULL,
                             stdout=stdout, stderr=subprocess.PIPE)
        self.launchers.append(p.pid)
        return p

    def finish(self, p, want_rc, timeout=30):
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return f"hung for {timeout} s"
        if p.returncode != want_rc:
            return f"exit {p.returncode}, want {want_rc}: {err.decode(errors='replace').strip()}"
        return None

    def one(self, kind):
        """Run one of the mix; an error's text, or None."""
        t = self.token
        if kind in ("plain", "limits"):
            return self.finish(self.start(LIMITS if kind == "limits" else [], ["/bin/true", t]), 0)
        if kind == "slirp":
            script = ("exec 3<>/dev/tcp/10.0.2.2/%d && echo get >&3 && wc -c <&3"
                      % self.server.port)
            p = self.start(["--net", "slirp", "--allow-host-loopback"], ["/bin/bash", "-c", script, t],
                           stdout=subprocess.PIPE)
            try:
                out, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                return "slirp: hung for 30 s"
            if p.returncode != 0 or out.strip() != str(PAYLOAD).encode():
                return (f"slirp: exit {p.returncode}, got {out.strip()!r}: "
                        f"{err.decode(errors='replace').strip()}")
            return None
        opts = {"kill": [], "kill-limits": LIMITS,
                "kill-slirp": ["--net", "slirp", "--allow-host-loopback"]}[kind]
        p = self.start(opts, ["/bin/sh", "-c", "echo up; exec sleep 1000", t],
                       stdout=subprocess.PIPE)
        up = select.select([p.stdout], [], [], 30)[0] and p.stdout.readline()
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
        if up != b"up\n":
            return f"{kind}: the command never started ({up!r})"
        return None if p.returncode == -signal.SIGKILL else f"{kind}: exit {p.returncode}"


def keeper_pids(me):
    kids = live_children(me)
    keeper = next((p for p, c in kids.items() if c == "hutch-keeper"), None)
    maker = keeper and next((p for p, c in live_children(keeper).items()
                             if c == "hutch-keeper-ns"), None)
    return keeper, maker, {p: c for p, c in kids.items() if p != keeper}


def limits_work(d):
    """Whether runs with limits work here (a cgroup is delegated), and why not."""
    err = d.finish(d.start(LIMITS, ["/bin/true", d.token]), 0, timeout=60)
    return err is None, err or ""


def drive(hutch, runs, every, token, want_limits):
    """The driver's life: JSON lines out (stdout), one line in (stdin) per checkpoint."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    tell = lambda msg: (sys.stdout.write(json.dumps(msg) + "\n"), sys.stdout.flush())
    d = Driver(hutch, token)
    limits, why = limits_work(d) if want_limits else (False, "not asked for")
    reap()
    counts, errors, marks = {}, [], set(checkpoints(runs, every))
    t0 = time.monotonic()
    tell({"limits": limits, "why": why})
    sys.stdin.readline()
    for i in range(1, runs + 1):
        kind = kind_of(i, runs, limits)
        counts[kind] = counts.get(kind, 0) + 1
        try:
            err = d.one(kind)
        except (OSError, subprocess.SubprocessError) as e:
            err = f"{kind}: {e}"
        errors += [f"after run {i}: {k}" for k in reap()]
        if err:
            errors.append(f"run {i}: {err}")
        if i in marks:
            keeper, maker, _ = keeper_pids(os.getpid())
            tell({"run": i, "keeper": keeper, "maker": maker})
            sys.stdin.readline()
    seconds = time.monotonic() - t0
    # what the killed runs left has a moment to die (their inits die with their parent)
    for _ in range(50):
        reap()
        keeper, maker, others = keeper_pids(os.getpid())
        if not others:
            break
        time.sleep(0.1)
    tell({"end": runs, "seconds": seconds, "kinds": counts, "errors": errors,
          "launchers": d.launchers, "children": others})
    sys.stdin.readline()


# --------------------------------------------------------------------------
# The supervisor: samples and leftovers


def proc_fields(pid, name):
    out = {}
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                k, sep, v = line.partition(":")
                if sep:
                    out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def kb(fields, key):
    v = fields.get(key)
    return int(v.split()[0]) if v else None


def start_time(pid):
    """PID's start time (clock ticks after boot): tells a pid's reuse from its process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except OSError:
        return None


def fd_kinds(pid):
    """The kinds of PID's open fds ({"socket": 2, "net": 2, ...}), or None when
    they cannot be read (not root: the keeper is not dumpable)."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    kinds = {}
    for n in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        k = target.split(":", 1)[0] if ":[" in target else target
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


def idle(kinds):
    """The keeper is idle: no client's socket, every spare pair whole."""
    extra = {k: v for k, v in kinds.items() if k not in ("net", "ipc")}
    return extra == IDLE_FIXED and kinds.get("net", 0) == kinds.get("ipc", 0)


def sample(run, keeper, maker):
    """The keeper's state at a checkpoint, once it is idle (or SETTLE_S passed)."""
    s = {"run": run, "keeper": keeper}
    if not keeper:
        return s
    # Idle: every client gone, no spare pair half taken or half made (two calls each).
    # Then a moment for the spares to be made: the maker runs SCHED_IDLE, so on a busy
    # host it may not get a CPU for long; the checks count spare pairs as they are.
    deadline = time.monotonic() + SETTLE_S
    kinds = fd_kinds(keeper)
    while kinds is not None and not idle(kinds) and time.monotonic() < deadline:
        time.sleep(0.01)
        kinds = fd_kinds(keeper)
    deadline = time.monotonic() + 1
    while kinds is not None and kinds.get("net") != KEEPER_SPARES and time.monotonic() < deadline:
        time.sleep(0.01)
        more = fd_kinds(keeper)
        kinds = more if more is not None and idle(more) else kinds
    status, rollup = proc_fields(keeper, "status"), proc_fields(keeper, "smaps_rollup")
    s.update(start=start_time(keeper), rss_kb=kb(status, "VmRSS"), anon_kb=kb(status, "RssAnon"),
             fdsize=int(status.get("FDSize", 0)), pss_kb=kb(rollup, "Pss"),
             private_kb=(kb(rollup, "Private_Dirty") or 0) + (kb(rollup, "Private_Clean") or 0)
             if rollup else None)
    if kinds is not None:
        # spare pairs beyond KEEPER_SPARES would be a leak: counted as fixed fds then
        spares = min(kinds.get("net", 0), kinds.get("ipc", 0), KEEPER_SPARES)
        s.update(fds=sum(kinds.values()), kinds=kinds, spares=spares,
                 fixed=sum(kinds.values()) - 2 * spares)
    if maker:
        mk = fd_kinds(maker)
        if mk is not None:
            s.update(maker_fds=sum(mk.values()),
                     maker_kinds={k: v for k, v in mk.items() if k not in ("net", "ipc")})
        s.update(maker=maker, maker_rss_kb=kb(proc_fields(maker, "status"), "VmRSS"))
    return s


def mount_lines():
    with open("/proc/self/mountinfo") as f:
        return {l.split(" ", 4)[4] for l in f if "hutch" in l}  # without the ids


def owned_by(path, uids):
    try:
        return os.lstat(path).st_uid in uids
    except OSError:
        return False


def temp_entries(user, uids):
    """What hutch could leave in temp places: hutch* in /tmp, /var/tmp, /dev/shm,
    the user's runtime directory's hutch/ and the image store's tmp/."""
    pw = pwd.getpwnam(user)
    found = set()
    for d in ("/tmp", "/var/tmp", "/dev/shm", f"/run/user/{pw.pw_uid}"):
        try:
            found |= {os.path.join(d, n) for n in os.listdir(d) if n.startswith("hutch")}
        except OSError:
            pass
    for d in (f"/run/user/{pw.pw_uid}/hutch", os.path.join(pw.pw_dir, ".local/share/hutch/tmp")):
        try:
            found |= {os.path.join(d, n) for n in os.listdir(d)}
        except OSError:
            pass
    return {p for p in found if owned_by(p, uids)}


def subids(user, uid):
    ids = {uid}
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                for line in f:
                    name, _, rest = line.strip().partition(":")
                    if name in (user, str(uid)):
                        start, count = map(int, rest.split(":"))
                        ids |= set(range(start, start + count))
        except (OSError, ValueError):
            pass
    return ids


def hutch_cgroups(dirs, launchers):
    """Cgroups hutch-PID-* of one of LAUNCHERS (dead now: a pid that another
    program's run took since is left alone) anywhere below DIRS."""
    mine = {str(p) for p in launchers if not os.path.exists(f"/proc/{p}")}
    found = []
    for top in dirs:
        for d, subdirs, _ in os.walk(top):
            for s in subdirs:
                parts = s.split("-")
                if len(parts) >= 3 and parts[0] == "hutch" and parts[1] in mine:
                    found.append(os.path.join(d, s))
    return sorted(found)


def marked(token, skip):
    """Live processes whose command line carries TOKEN, but SKIP."""
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in skip:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if token.encode() not in f.read():
                    continue
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            found[int(d)] = stat[stat.index("(") + 1:stat.rindex(")")]
    return found


def root_cgroups(user, token):
    """As root: the cgroup.procs files the driver starts in (each v1 directory
    delegated to USER, a new leaf of the v2 one) and the leaf to remove after."""
    procs, leaf = [], None
    try:
        with open(CGROUPS_FILE) as f:
            rows = [l.split() for l in f if l.strip()]
    except OSError:
        return procs, leaf
    pw = pwd.getpwnam(user)
    for row in rows:
        if row[0] == "v1" and len(row) == 3 and os.path.isdir(row[2]):
            procs.append(os.path.join(row[2], "cgroup.procs"))
        elif row[0] == "v2" and len(row) == 2 and os.path.isdir(row[1]):
            # the delegated directory itself must stay free of processes (v2's
            # no-internal-processes rule), as tests/run keeps it
            leaf = os.path.join(row[1], "soak-" + token[-8:])
            os.mkdir(leaf)
            # all of it, as tests/run does (chown -R): moving a process to a cgroup of the
            # user's below needs the leaf's cgroup.procs, the common ancestor's, writable
            for name in ["", *os.listdir(leaf)]:
                os.chown(os.path.join(leaf, name), pw.pw_uid, pw.pw_gid)
            procs.append(os.path.join(leaf, "cgroup.procs"))
    return procs, leaf


# As root: a network namespace of the soak's own (loopback up), the cgroups, then
# the soak user; setpriv execs, so the driver is this very process.
ENTER = r"""
"$1" link set lo up || exit 1
user=$2 home=$3; shift 3
while [ "$1" != -- ]; do echo $$ >"$1" || exit 1; shift; done
shift
exec setpriv --reuid="$user" --regid="$user" --init-groups -- env -i HOME="$home" \
	USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
	PYTHONDONTWRITEBYTECODE=1 "$@"
"""


def driver_command(cmd, user, token):
    """CMD as the soak user, in a network namespace and cgroups of its own when we are
    root; and the v2 leaf to remove after (or None)."""
    if os.geteuid() != 0:
        return cmd, None
    pw = pwd.getpwnam(user)
    procs, leaf = root_cgroups(user, token)
    ip = next(p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.path.exists(p))
    return ["unshare", "--net", "--", "/bin/sh", "-c", ENTER, "sh", ip, user, pw.pw_dir,
            *procs, "--", *cmd], leaf


def converse(p, res, log):
    """Sample the keeper at each checkpoint the driver reports; its last word."""
    def go():
        p.stdin.write("go\n")
        p.stdin.flush()

    def hear():
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"the soak's driver died (exit {p.wait()})")
        return json.loads(line)

    hello = hear()
    res["limits"], res["limits_why"] = hello["limits"], hello["why"]
    go()
    while "end" not in (msg := hear()):
        res["samples"].append(sample(msg["run"], msg["keeper"], msg["maker"]))
        if log:
            log(res["samples"][-1])
        go()
    res.update(seconds=msg["seconds"], kinds=msg["kinds"], errors=msg["errors"])
    return msg, go


def leftovers(token, skip, end, dirs, before):
    """What the soak left on the host, once a killed run's sandbox had time to die."""
    user, uids, mounts0, temp0 = before
    left = {}
    for _ in range(50):
        left = {"processes": {**marked(token, skip),
                              **{int(k): v for k, v in end["children"].items()}},
                "cgroups": hutch_cgroups(dirs, end["launchers"]),
                "mounts": sorted(mount_lines() - mounts0),
                "temp": sorted(temp_entries(user, uids) - temp0)}
        if not any(left.values()):
            break
        time.sleep(0.1)
    return left


def kill(pids, token):
    """SIGKILL those of PIDS that are still the soak's (a pid may have been reused)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def remove_cgroups(dirs):
    """Remove empty cgroups and their children (hutch's `sandbox` leaf)."""
    for top in dirs:
        for _ in range(50):
            try:
                for d, _, _ in os.walk(top, topdown=False):
                    os.rmdir(d)
                break
            except OSError:  # a dying sandbox's last process
                time.sleep(0.1)


def supervise(hutch, runs, every, user=None, want_limits=True, driver=__file__, log=None):
    """Run the soak; its figures: {"samples": [...], "leftovers": {...}, "errors", ...}."""
    root = os.geteuid() == 0
    user = user if root else pwd.getpwuid(os.getuid()).pw_name
    token = "hutch-soak-" + uuid.uuid4().hex
    uids = subids(user, pwd.getpwnam(user).pw_uid)
    before = (user, uids, mount_lines(), temp_entries(user, uids))
    cmd, leaf = driver_command(["/usr/bin/python3", driver, "--drive", hutch, str(runs),
                                str(every), token, "1" if want_limits else "0"], user, token)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
    res = {"root": root, "user": user, "samples": [], "runs": runs}
    try:
        end, go = converse(p, res, log)
        # every keeper seen (one, if all went well) and its maker carry the token too
        ours = {x.get(k) for x in res["samples"] for k in ("keeper", "maker")} - {None}
        res["leftovers"] = leftovers(token, ours | {os.getpid(), p.pid}, end,
                                     list(cgroup_dirs_of(p.pid).values()), before)
        # recorded; now removed, so that even a failed soak leaves nothing
        kill(res["leftovers"]["processes"], token)
        remove_cgroups(res["leftovers"]["cgroups"])
        go()
        p.wait(timeout=30)
        if root:  # the soak's own keeper would live on for a minute
            kill(ours, token)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for _ in range(50 if leaf else 0):
            try:
                os.rmdir(leaf)
                break
            except OSError:
                time.sleep(0.1)
    return res


def baseline(res):
    """The sample the end is held against: after the tenth run (every kind of run
    has been made once, the keeper's code paths taken)."""
    s = res["samples"]
    return next((x for x in s if x["run"] >= min(10, res["runs"])), s[0])


def verdict(res, anon_bound_kb, rss_bound_kb):
    """The soak's failures, as lines (empty: it passed); tests/test_soak.py makes
    the same checks, one test each."""
    bad = []
    s = res["samples"]
    base, end = baseline(res), s[-1]
    if res["errors"]:
        bad.append(f"{len(res['errors'])} runs failed: {res['errors'][:3]}")
    if len({(x["keeper"], x.get("start")) for x in s}) != 1 or not end["keeper"]:
        bad.append("not one keeper: " + str([(x["run"], x["keeper"]) for x in s]))
    if all("kinds" in x for x in s):
        if end["fixed"] > base["fixed"] or not all(idle_within(x["kinds"]) for x in s):
            bad.append("keeper fds: " + str([(x["run"], x["kinds"]) for x in s]))
        if any(x.get("maker_kinds") != MAKER_FIXED for x in s):
            bad.append("maker fds: " + str([(x["run"], x.get("maker_kinds")) for x in s]))
    for key, bound in (("anon_kb", anon_bound_kb), ("rss_kb", rss_bound_kb)):
        if None in (end.get(key), base.get(key)) or end[key] - base[key] > bound:
            bad.append(f"keeper {key}: {base.get(key)} -> {end.get(key)}")
    for what, items in res["leftovers"].items():
        if items:
            bad.append(f"left on the host: {what}: {items}")
    return bad


def idle_within(kinds):
    """Idle, with no more spare pairs than the keeper makes."""
    return idle(kinds) and kinds.get("net", 0) <= KEEPER_SPARES


if __name__ == "__main__" and sys.argv[1:2] == ["--drive"]:
    hutch, runs, every, token, want = sys.argv[2:7]
    drive(hutch, int(runs), int(every), token, want == "1")
