"""OCI runtime mode: hostile config.json (issue 14, item 12). Every field hutch
reads, given the wrong type, and null in every array: `create` exits 125 with
one error line naming the JSON path, never crashes (no signal, no sanitizer
report), leaves no state directory, and the same id is then created and
deleted with a good config."""

import json
import os

import pytest

from test_oci import bundle, oci, spec  # noqa: F401

SANITIZER = ("Sanitizer", "runtime error:", "Assertion", "core dumped")


def put(cfg, path, value):
    """Set cfg at a dotted path ("process.user.uid", "mounts[1].options");
    missing objects on the way are made."""
    node = cfg
    keys = []
    for part in path.split("."):
        name, *idx = part.replace("]", "").split("[")
        keys.append(name)
        keys.extend(int(i) for i in idx)
    for k, nxt in zip(keys, keys[1:]):
        if isinstance(k, str) and (k not in node or node[k] is None
                                   or not isinstance(node[k], (dict, list))):
            node[k] = [] if isinstance(nxt, int) else {}
        if isinstance(k, int):
            while len(node) <= k:
                node.append({})
        node = node[k]
    if isinstance(keys[-1], int):
        while len(node) <= keys[-1]:
            node.append(None)
    node[keys[-1]] = value


TMPFS = {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}
BIND = {"destination": "/data", "type": "bind", "source": "/tmp",
        "options": ["rbind", "ro"]}
HOOK = {"path": "/bin/true"}
UIDMAP = {"containerID": 0, "hostID": os.getuid(), "size": 1}
SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW"}
RULE = {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}

# (JSON path, bad value, what the error says after the path); a value of
# the right type goes in first where the path's parent must exist.
CASES = [
    # the examples
    ("process.args", ["sh", None], "process.args[1]: not a string"),
    ("mounts[1]", dict(TMPFS, options=[None]),
     "mounts[1].options[0]: not a string"),
    ("process.env", "PATH=/bin", "process.env: not an array"),
    ("process.env", {"PATH": "/bin"}, "process.env: not an array"),
    ("mounts", "proc", "mounts: not an array"),
    ("mounts", {"destination": "/proc"}, "mounts: not an array"),
    ("linux.namespaces", "pid", "linux.namespaces: not an array"),
    ("linux.namespaces", {"type": "pid"}, "linux.namespaces: not an array"),
    ("process.rlimits", {"type": "RLIMIT_NOFILE"},
     "process.rlimits: not an array"),
    ("process.rlimits", "RLIMIT_NOFILE", "process.rlimits: not an array"),
    ("linux.uidMappings", "0 1000 1", "linux.uidMappings: not an array"),
    ("linux.uidMappings", UIDMAP, "linux.uidMappings: not an array"),
    # the top level
    ("ociVersion", 1, "ociVersion: not a string"),
    ("process", [], "process: not an object"),
    ("process", "sh", "process: not an object"),
    ("root", "rootfs", "root: not an object"),
    ("hostname", 7, "hostname: not a string"),
    ("domainname", [], "domainname: not a string"),
    ("linux", [], "linux: not an object"),
    ("annotations", ["a"], "annotations: not an object"),
    ("annotations.x", 1, "annotations.x: not a string"),
    ("annotations.x", None, "annotations.x: not a string"),
    ("hooks", [], "hooks: not an object"),
    # process
    ("process.args", "sh", "process.args: not an array"),
    ("process.args", [0], "process.args[0]: not a string"),
    ("process.args", [["sh"]], "process.args[0]: not a string"),
    ("process.args", ["sh\u0000x"], "process.args[0]: contains a NUL byte"),
    ("process.env", ["PATH=/bin", None], "process.env[1]: not a string"),
    ("process.env", [{"PATH": "/bin"}], "process.env[0]: not a string"),
    ("process.env", ["NOEQUALS"], "process.env[0]: 'NOEQUALS' is not"),
    ("process.cwd", 1, "process.cwd: not a string"),
    ("process.cwd", ["/"], "process.cwd: not a string"),
    ("process.terminal", "yes", "process.terminal: not true or false"),
    ("process.terminal", 0, "process.terminal: not true or false"),
    ("process.user", [], "process.user: not an object"),
    ("process.user.uid", "0", "process.user.uid: not an integer"),
    ("process.user.uid", -1, "process.user.uid: not an integer from 0"),
    ("process.user.uid", 1.5, "process.user.uid: not an integer"),
    ("process.user.gid", "0", "process.user.gid: not an integer"),
    ("process.user.gid", 2 ** 32, "process.user.gid: not an integer from 0"),
    ("process.user.additionalGids", 5,
     "process.user.additionalGids: not an array"),
    ("process.user.additionalGids", [None],
     "process.user.additionalGids[0]: not an integer"),
    ("process.user.additionalGids", ["wheel"],
     "process.user.additionalGids[0]: not an integer"),
    ("process.user.umask", "022", "process.user.umask: not an integer"),
    ("process.user.username", 0, "process.user.username: not a string"),
    ("process.capabilities", ["CAP_CHOWN"],
     "process.capabilities: not an object"),
    ("process.capabilities.bounding", "CAP_CHOWN",
     "process.capabilities.bounding: not an array"),
    ("process.capabilities.bounding", [None],
     "process.capabilities.bounding[0]: not a string"),
    ("process.capabilities.effective", [1],
     "process.capabilities.effective[0]: not a string"),
    ("process.capabilities.permitted", {},
     "process.capabilities.permitted: not an array"),
    ("process.capabilities.inheritable", [None],
     "process.capabilities.inheritable[0]: not a string"),
    ("process.capabilities.ambient", "x",
     "process.capabilities.ambient: not an array"),
    ("process.rlimits", [None], "process.rlimits[0]: not an object"),
    ("process.rlimits", ["RLIMIT_NOFILE"], "process.rlimits[0]: not an object"),
    ("process.rlimits", [{"type": 7, "soft": 1, "hard": 1}],
     "process.rlimits[0].type: not a string"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": "1", "hard": 1}],
     "process.rlimits[0].soft: not an integer"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": -1}],
     "process.rlimits[0].hard: not an integer from 0"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1}],
     "process.rlimits[0].hard: missing"),
    ("process.noNewPrivileges", "true",
     "process.noNewPrivileges: not true or false"),
    ("process.consoleSize", [80, 24], "process.consoleSize: not an object"),
    ("process.consoleSize", {"height": "24", "width": 80},
     "process.consoleSize.height: not an integer"),
    ("process.oomScoreAdj", "0", "process.oomScoreAdj: not an integer"),
    ("process.apparmorProfile", 1, "process.apparmorProfile: not a string"),
    ("process.selinuxLabel", [], "process.selinuxLabel: not a string"),
    # root
    ("root.path", 1, "root.path: not a string"),
    ("root.path", ["rootfs"], "root.path: not a string"),
    ("root.readonly", "no", "root.readonly: not true or false"),
    # mounts
    ("mounts", [None], "mounts[0]: not an object"),
    ("mounts", ["/proc"], "mounts[0]: not an object"),
    ("mounts[1]", dict(TMPFS, destination=1),
     "mounts[1].destination: not a string"),
    ("mounts[1]", dict(TMPFS, destination="scratch"),
     "mounts[1].destination: 'scratch' is not an absolute path"),
    ("mounts[1]", dict(BIND, source={}), "mounts[1].source: not a string"),
    ("mounts[1]", dict(BIND, type=["bind"]), "mounts[1].type: not a string"),
    ("mounts[1]", dict(BIND, options="ro"), "mounts[1].options: not an array"),
    ("mounts[1]", dict(BIND, options=["rbind", None]),
     "mounts[1].options[1]: not a string"),
    ("mounts[1]", dict(BIND, uidMappings={}),
     "mounts[1].uidMappings: not an array"),
    # hooks
    ("hooks.prestart", {}, "hooks.prestart: not an array"),
    ("hooks.prestart", [None], "hooks.prestart[0]: not an object"),
    ("hooks.createRuntime", ["/bin/true"],
     "hooks.createRuntime[0]: not an object"),
    ("hooks.prestart", [{"path": 1}], "hooks.prestart[0].path: not a string"),
    ("hooks.poststart", [dict(HOOK, args="true")],
     "hooks.poststart[0].args: not an array"),
    ("hooks.poststop", [dict(HOOK, args=["true", None])],
     "hooks.poststop[0].args[1]: not a string"),
    ("hooks.startContainer", [dict(HOOK, env=[1])],
     "hooks.startContainer[0].env[0]: not a string"),
    ("hooks.createContainer", [dict(HOOK, timeout="5")],
     "hooks.createContainer[0].timeout: not an integer"),
    ("hooks.prestart", [dict(HOOK, timeout=0)],
     "hooks.prestart[0].timeout: not an integer from 1 to 86400"),
    # linux
    ("linux.namespaces", [None], "linux.namespaces[0]: not an object"),
    ("linux.namespaces", ["pid"], "linux.namespaces[0]: not an object"),
    ("linux.namespaces", [{"type": 1}], "linux.namespaces[0].type: not a string"),
    ("linux.namespaces", [{"type": "pid", "path": 1}],
     "linux.namespaces[0].path: not a string"),
    ("linux.resources", [], "linux.resources: not an object"),
    ("linux.resources.memory", 1, "linux.resources.memory: not an object"),
    ("linux.resources.memory.limit", "1G",
     "linux.resources.memory.limit: not an integer"),
    ("linux.resources.memory.swap", 1.5,
     "linux.resources.memory.swap: not an integer"),
    ("linux.resources.cpu", [], "linux.resources.cpu: not an object"),
    ("linux.resources.cpu.quota", "50000",
     "linux.resources.cpu.quota: not an integer"),
    ("linux.resources.cpu.period", -1,
     "linux.resources.cpu.period: not an integer from 0"),
    ("linux.resources.cpu.shares", "1024",
     "linux.resources.cpu.shares: not an integer"),
    ("linux.resources.cpu.cpus", 1, "linux.resources.cpu.cpus: not a string"),
    ("linux.resources.pids", 16, "linux.resources.pids: not an object"),
    ("linux.resources.pids.limit", "16",
     "linux.resources.pids.limit: not an integer"),
    ("linux.resources.devices", {}, "linux.resources.devices: not an array"),
    ("linux.resources.devices", [None],
     "linux.resources.devices[0]: not an object"),
    ("linux.resources.devices", [{"allow": "no"}],
     "linux.resources.devices[0].allow: not true or false"),
    ("linux.resources.devices", [{"allow": False, "major": "1"}],
     "linux.resources.devices[0].major: not an integer"),
    ("linux.resources.devices", [{"allow": False, "access": 7}],
     "linux.resources.devices[0].access: not a string"),
    ("linux.seccomp", [], "linux.seccomp: not an object"),
    ("linux.seccomp", "unconfined", "linux.seccomp: not an object"),
    ("linux.seccomp", {"defaultAction": 1},
     "linux.seccomp.defaultAction: not a string"),
    ("linux.seccomp", dict(SECCOMP, defaultErrnoRet="1"),
     "linux.seccomp.defaultErrnoRet: not an integer"),
    ("linux.seccomp", dict(SECCOMP, architectures="SCMP_ARCH_X86_64"),
     "linux.seccomp.architectures: not an array"),
    ("linux.seccomp", dict(SECCOMP, syscalls={}),
     "linux.seccomp.syscalls: not an array"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[None]),
     "linux.seccomp.syscalls[0]: not an object"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, names=[None])]),
     "linux.seccomp.syscalls[0].names[0]: not a string"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, names="mkdir")]),
     "linux.seccomp.syscalls[0].names: not an array"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, action=["x"])]),
     "linux.seccomp.syscalls[0].action: not a string"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, errnoRet="1")]),
     "linux.seccomp.syscalls[0].errnoRet: not an integer"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, args="x")]),
     "linux.seccomp.syscalls[0].args: not an array"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, args=[None])]),
     "linux.seccomp.syscalls[0].args[0]: not an object"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, args=[
        {"index": "0", "op": "SCMP_CMP_EQ", "value": 1}])]),
     "linux.seccomp.syscalls[0].args[0].index: not an integer"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, args=[
        {"index": 0, "op": "SCMP_CMP_EQ", "value": "1"}])]),
     "linux.seccomp.syscalls[0].args[0].value: not an integer"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE, includes="x")]),
     "linux.seccomp.syscalls[0].includes: not an object"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE,
                                                  includes={"caps": "x"})]),
     "linux.seccomp.syscalls[0].includes.caps: not an array"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE,
                                                  excludes={"arches": [None]})]),
     "linux.seccomp.syscalls[0].excludes.arches[0]: not a string"),
    ("linux.seccomp", dict(SECCOMP, syscalls=[dict(RULE,
                                                  includes={"minKernel": 5})]),
     "linux.seccomp.syscalls[0].includes.minKernel: not a string"),
    ("linux.maskedPaths", "/proc/kcore", "linux.maskedPaths: not an array"),
    ("linux.maskedPaths", [None], "linux.maskedPaths[0]: not a string"),
    ("linux.readonlyPaths", {}, "linux.readonlyPaths: not an array"),
    ("linux.readonlyPaths", ["/proc/sys", 1],
     "linux.readonlyPaths[1]: not a string"),
    ("linux.uidMappings", [None], "linux.uidMappings[0]: not an object"),
    ("linux.uidMappings", [dict(UIDMAP, containerID="0")],
     "linux.uidMappings[0].containerID: not an integer"),
    ("linux.uidMappings", [dict(UIDMAP, hostID=-1)],
     "linux.uidMappings[0].hostID: not an integer from 0"),
    ("linux.uidMappings", [dict(UIDMAP, size=0)],
     "linux.uidMappings[0].size: not an integer from 1"),
    ("linux.uidMappings", [{"containerID": 0, "hostID": 0}],
     "linux.uidMappings[0].size: missing"),
    ("linux.gidMappings", {}, "linux.gidMappings: not an array"),
    ("linux.gidMappings", [[0, 0, 1]], "linux.gidMappings[0]: not an object"),
    ("linux.cgroupsPath", 1, "linux.cgroupsPath: not a string"),
    ("linux.sysctl", ["kernel.shmmax=1"], "linux.sysctl: not an object"),
    ("linux.sysctl", {"kernel.shmmax": 1},
     "linux.sysctl.kernel.shmmax: not a string"),
    ("linux.devices", {}, "linux.devices: not an array"),
    ("linux.devices", [None], "linux.devices[0]: not an object"),
    ("linux.devices", [{"path": 1, "type": "c", "major": 1, "minor": 3}],
     "linux.devices[0].path: not a string"),
    ("linux.devices", [{"path": "/dev/null", "type": "c", "major": "1",
                        "minor": 3}],
     "linux.devices[0].major: not an integer"),
    ("linux.devices", [{"path": "/dev/null", "type": "c", "major": 1,
                        "minor": 3, "fileMode": "0666"}],
     "linux.devices[0].fileMode: not an integer"),
    ("linux.rootfsPropagation", 1, "linux.rootfsPropagation: not a string"),
    ("linux.mountLabel", {}, "linux.mountLabel: not a string"),
]


def refused_cleanly(oci, b, cid, want):
    r = oci("create", "--bundle", str(b), cid)
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert not any(s in r.stderr for s in SANITIZER), r.stderr
    errors = [l for l in r.stderr.splitlines() if "warning" not in l]
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith("hutch: ") and want in errors[0], r.stderr
    assert not (oci.root / cid).exists()
    return errors[0]


def reusable(oci, bundle, cid):
    """The id is free: a good config creates it, delete removes it."""
    b = bundle(spec(["true"]))
    oci("create", "--bundle", str(b), cid, check=0)
    oci("delete", "--force", cid, check=0)
    assert not (oci.root / cid).exists()


@pytest.mark.parametrize("path,value,want", CASES,
                         ids=[f"{p}={json.dumps(v)[:40]}" for p, v, _ in CASES])
def test_wrong_type_refused(oci, bundle, path, value, want):
    cfg = spec(["true"])
    put(cfg, path, value)
    err = refused_cleanly(oci, bundle(cfg), "h1", want)
    assert err.startswith("hutch: config.json: "), err
    reusable(oci, bundle, "h1")


def test_truncated_and_trailing_json_refused(oci, bundle):
    b = bundle(spec(["true"]))
    text = (b / "config.json").read_text()
    (b / "config.json").write_text(text + " {}")
    refused_cleanly(oci, b, "h2", "config.json: not valid JSON")
    (b / "config.json").write_text(text + "\n\0")
    refused_cleanly(oci, b, "h2", "config.json: not valid JSON")
    (b / "config.json").write_text(text[:-1])
    refused_cleanly(oci, b, "h2", "config.json: not valid JSON")
    (b / "config.json").write_text("[" + text + "]")
    refused_cleanly(oci, b, "h2", "config.json: not a JSON object")
    reusable(oci, bundle, "h2")


def test_config_not_a_regular_file_refused(oci, bundle):
    b = bundle(spec(["true"]))
    (b / "config.json").unlink()
    os.mkfifo(b / "config.json")  # reading would block create forever
    refused_cleanly(oci, b, "h3", "not a regular file")
    (b / "config.json").unlink()
    reusable(oci, bundle, "h3")


def test_exec_process_wrong_type_refused(oci, bundle, tmp_path):
    """exec --process FILE goes through the same getters."""
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "h4",
        check=0)
    oci("start", "h4", check=0)
    proc = tmp_path / "p.json"
    proc.write_text(json.dumps({"args": ["sh", None], "cwd": "/"}))
    r = oci("exec", "--process", str(proc), "h4")
    assert r.returncode == 125, r.stderr
    assert not any(s in r.stderr for s in SANITIZER), r.stderr
    assert f"{proc}: process.args[1]: not a string" in r.stderr
    proc.write_text(json.dumps({"args": ["true"], "env": "PATH=/bin"}))
    r = oci("exec", "--process", str(proc), "h4")
    assert r.returncode == 125 and "process.env: not an array" in r.stderr
    oci("delete", "--force", "h4", check=0)



def test_unmapped_additional_gid_fails_create(oci, bundle):
    """A gid that is not mapped in the container cannot be set (setgroups,
    just before exec): create fails with it, exit 125, nothing left, instead
    of reporting a container that would never run."""
    cfg = spec(["true"])
    cfg["process"]["user"] = {"uid": 0, "gid": 0,
                              "additionalGids": [4000000000]}
    refused_cleanly(oci, bundle(cfg), "h5",
                    "process.user.additionalGids: cannot set 1 supplementary")
    reusable(oci, bundle, "h5")


@pytest.mark.parametrize("verb", ["create", "delete"])
def test_what_a_dead_create_left_is_reclaimed(oci, bundle, verb):
    """A create killed midway leaves its directory without state.json and
    with nobody holding its lock: the id is neither blocked nor beyond
    delete. (A live create's or container's directory is locked: never
    taken.)"""
    left = oci.root / "h6"
    left.mkdir(parents=True)
    os.mkfifo(left / "exec.fifo")
    (left / "hooks.json").write_text("{}")
    if verb == "create":
        reusable(oci, bundle, "h6")
    else:
        oci("delete", "h6", check=0)
        assert not left.exists()


def test_a_live_containers_directory_is_not_reclaimed(oci, bundle):
    """Even without its state.json (removed here by hand), a container whose
    monitor lives keeps its directory: its lock is held."""
    oci("create", "--bundle", str(bundle(spec(["sleep", "30"]))), "h7",
        check=0)
    state = (oci.root / "h7" / "state.json").read_text()
    (oci.root / "h7" / "state.json").unlink()
    assert oci("delete", "h7").returncode != 0
    r = oci("create", "--bundle", str(bundle(spec(["true"]))), "h7")
    assert r.returncode == 125 and "exists" in r.stderr
    assert (oci.root / "h7" / "exec.fifo").exists()
    (oci.root / "h7" / "state.json").write_text(state)
    oci("delete", "--force", "h7", check=0)
