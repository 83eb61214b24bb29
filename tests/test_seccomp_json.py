"""OCI runtime-spec / Docker seccomp JSON (src/seccomp-json.c, the ordered
compiler in src/seccomp-compile.c): the engines' own default profiles load and
mean what they mean under runc and crun, with `hutch run --seccomp FILE.json`
and in OCI mode (linux.seccomp of a bundle's config.json).

Each rule is checked from inside with ctypes (test_seccomp.py's prelude): a
call the profile lets through works or fails with the kernel's own error, a
refused one fails with the errno the profile names.
"""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import error_lines, ok
from test_oci import bundle, oci, podman, spec, status  # noqa: F401 (fixtures)
from test_seccomp import PRELUDE, py, write

PODMAN_PROFILE = Path("/usr/share/containers/seccomp.json")

# x86_64 numbers
NR = {"clone": 56, "clone3": 435, "personality": 135, "socket": 41, "getpriority": 140,
      "kcmp": 312, "times": 100, "getcpu": 309, "getitimer": 36, "getsid": 124,
      "unshare": 272, "userfaultfd": 323, "io_uring_setup": 425, "uname": 63}
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17
AF_NETLINK, SOCK_RAW, NETLINK_AUDIT = 16, 3, 9
READ_IMPLIES_EXEC = 0x0400000

# what python3 -c and the ctypes prelude need, for profiles that deny by default
BASE = ["read", "write", "close", "fstat", "newfstatat", "mmap", "mprotect", "munmap", "brk",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "execve", "exit_group", "exit",
        "arch_prctl", "access", "openat", "pread64", "set_tid_address", "set_robust_list",
        "rseq", "prlimit64", "getrandom", "faccessat2", "ioctl", "lseek", "getcwd", "uname",
        "fcntl", "getdents64", "statx", "readlink", "sysinfo", "getuid", "geteuid", "getgid",
        "getegid", "getpid", "gettid", "futex", "dup", "dup2", "dup3", "pipe2", "wait4",
        "madvise", "sigaltstack", "mremap", "clock_gettime", "readlinkat", "getppid",
        "sched_getaffinity", "ptrace"]

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="system call numbers here are x86_64's")


def show(*calls):
    """The prelude's show() for each (label, name, *args)."""
    return "".join(f"show({c[0]!r}, {NR[c[1]]}, {', '.join(map(str, c[2:])) or ''})\n"
                   for c in calls)


def test_podman_default_profile_applies(sandbox):
    """containers-common's profile (podman's default) as --seccomp FILE: its
    errnos, its argument rules, and what it allows that hutch's default
    refuses."""
    if not PODMAN_PROFILE.exists():
        pytest.skip(f"{PODMAN_PROFILE} is missing (package containers-common, with podman)")
    body = show(("rie", "personality", READ_IMPLIES_EXEC), ("linux32", "personality", 8),
                ("audit", "socket", AF_NETLINK, SOCK_RAW, NETLINK_AUDIT),
                ("route", "socket", AF_NETLINK, SOCK_RAW, 0),
                ("uffd", "userfaultfd", 0), ("uring", "io_uring_setup", 1, 0),
                ("userns", "unshare", CLONE_NEWUSER))
    out = py(sandbox, body, opts=("--seccomp", str(PODMAN_PROFILE)))
    assert out == {
        "rie": "Function not implemented",        # defaultErrnoRet 38
        "linux32": "ok",                          # one of five personality rules
        "audit": "Invalid argument",              # errnoRet 22 when arg0 AND arg2 match
        "route": "ok",
        "uffd": "Operation not permitted",        # errnoRet 1
        "uring": "Function not implemented",      # not listed: the default
        "userns": "ok",                           # podman allows it; hutch's default not
    }
    # the same calls under hutch's own default profile, to show the profile changed
    assert py(sandbox, show(("rie", "personality", READ_IMPLIES_EXEC),
                            ("userns", "unshare", CLONE_NEWUSER))) == {
        "rie": "Operation not permitted", "userns": "Operation not permitted"}


def docker_style_profile():
    """A profile in the shape of Docker's default (moby profiles/seccomp):
    default deny with defaultErrnoRet, several rules per call, includes and
    excludes on caps, arches and minKernel, errnoRet, masked comparisons."""
    rules = [
        {"names": BASE, "action": "SCMP_ACT_ALLOW"},
        # several rules for one call with one action: any of them
        *({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": v, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
          for v in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)),
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                   "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        # arguments of different indexes in one rule: all of them
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 0, "value": AF_NETLINK, "op": "SCMP_CMP_EQ"},
                  {"index": 2, "value": NETLINK_AUDIT, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 2, "value": NETLINK_AUDIT, "op": "SCMP_CMP_NE"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": AF_NETLINK, "op": "SCMP_CMP_NE"}]},
        # the same rule again (podman's profile has such repeats): merged
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 2, "value": NETLINK_AUDIT, "op": "SCMP_CMP_NE"}]},
        # one index twice in one rule: either comparison (runc and crun read it so)
        {"names": ["getpriority"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["times"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.0"}},
        {"names": ["getcpu"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64"], "minKernel": "4.8"}},
        {"names": ["getitimer"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
        {"name": "getsid", "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        # a second unconditional rule for a call: the first decides, as in libseccomp
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
    ]
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": rules}


def test_docker_style_profile(sandbox, tmp_path):
    prof = write(tmp_path, "docker.json", json.dumps(docker_style_profile()))
    body = show(("p0", "personality", 0xFFFFFFFF), ("p8", "personality", 8),
                ("rie", "personality", READ_IMPLIES_EXEC),
                ("fork", "clone", SIGCHLD, 0, 0, 0, 0),
                ("newuser", "clone", SIGCHLD | CLONE_NEWUSER, 0, 0, 0, 0),
                ("clone3", "clone3", 0, 0),
                ("audit", "socket", AF_NETLINK, SOCK_RAW, NETLINK_AUDIT),
                ("route", "socket", AF_NETLINK, SOCK_RAW, 0),
                ("unix9", "socket", 1, 1, NETLINK_AUDIT),
                ("prio0", "getpriority", 0, 0), ("prio1", "getpriority", 1, 0),
                ("prio2", "getpriority", 2, 0), ("prio3", "getpriority", 3, 0),
                ("kcmp", "kcmp", 0, 0, 0, 0, 0), ("times", "times", 0),
                ("getcpu", "getcpu", 0, 0, 0), ("getitimer", "getitimer", 0, 0),
                ("getsid", "getsid", 0), ("uname", "uname", 0))
    out = py(sandbox, body, opts=("--seccomp", str(prof)))
    assert out == {
        "p0": "ok", "p8": "ok", "rie": "Operation not permitted",
        "fork": "ok", "newuser": "Operation not permitted",   # masked test on flags
        "clone3": "Function not implemented",                  # errnoRet 38
        "audit": "Invalid argument",                           # both arguments match
        "route": "ok",
        "unix9": "Protocol not supported",                     # one matches: the kernel's
        "prio0": "ok", "prio1": "Permission denied", "prio2": "Permission denied",
        "prio3": "Operation not permitted",                    # neither: the default
        "kcmp": "Operation not permitted",                     # needs kernel 99.0
        "times": "Operation not permitted",                    # excluded from 4.0 on
        "getcpu": "ok",                                        # included on amd64, 4.8
        "getitimer": "Operation not permitted",                # s390x only
        "getsid": "Operation not permitted",                   # excluded on amd64
        "uname": "Bad address",                                # the first rule decides
    }


@pytest.mark.parametrize("order", ["cap-after", "cap-before"])
def test_kept_capabilities_select_rules(sandbox, tmp_path, order):
    """includes/excludes on capabilities follow what the command keeps, as
    under Docker, runc and crun: with --cap-add SYS_ADMIN (wherever it stands
    on the command line) the profile's clone rule for CAP_SYS_ADMIN applies
    and its clone3 rule for sandboxes without it does not. A nested user
    namespace is then the kernel's to allow or refuse, not the profile's."""
    prof = write(tmp_path, "docker.json", json.dumps(docker_style_profile()))
    opts = (("--seccomp", str(prof), "--cap-add", "SYS_ADMIN") if order == "cap-after"
            else ("--cap-add", "SYS_ADMIN", "--seccomp", str(prof)))
    body = show(("newuser", "clone", SIGCHLD | CLONE_NEWUSER, 0, 0, 0, 0),
                ("clone3", "clone3", 0, 0), ("fork", "clone", SIGCHLD, 0, 0, 0, 0))
    out = py(sandbox, body, opts=opts)
    assert out["clone3"] == "Operation not permitted"   # the default, not errnoRet 38
    assert out["newuser"] != "Operation not permitted"   # allowed by the profile
    assert out["fork"] == "ok"


def json_error(sandbox, tmp_path, doc):
    prof = write(tmp_path, "p.json", json.dumps(doc))
    r = sandbox("true", opts=("--seccomp", str(prof)))
    assert r.returncode == 125, r.stderr
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(prof) in errs[0]
    return errs[0]


@pytest.mark.parametrize("second", [
    [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
    [{"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
], ids=["one-arg", "args-reordered"])
def test_same_arguments_other_action_names_both_rules(sandbox, tmp_path, second):
    first = [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
    if len(second) == 2:
        first = [second[1], second[0]]
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": first},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": second},
    ]}
    err = json_error(sandbox, tmp_path, doc)
    assert "syscalls[2] (personality)" in err and "syscalls[1]" in err, err


def test_bad_min_kernel_is_an_error(sandbox, tmp_path):
    err = json_error(sandbox, tmp_path, {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "new"}}]})
    assert "syscalls[0]" in err and "minKernel" in err


def test_trace_without_tracer_is_enosys(sandbox, tmp_path):
    prof = write(tmp_path, "t.json", json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcpu"], "action": "SCMP_ACT_TRACE"}]}))
    out = py(sandbox, show(("getcpu", "getcpu", 0, 0, 0)), opts=("--seccomp", str(prof)))
    assert out == {"getcpu": "Function not implemented"}


def test_negative_value_is_twos_complement(sandbox, tmp_path):
    """"value": -1 means 0xffffffffffffffff (json-c would read it as 0)."""
    prof = write(tmp_path, "n.json", json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                      "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}))
    out = py(sandbox, show(("minus1", "getsid", 2**64 - 1), ("zero", "getsid", 0)),
             opts=("--seccomp", str(prof)))
    assert out == {"minus1": "Permission denied", "zero": "ok"}


def oci_python_bundle(bundle, body, seccomp, args=None):
    """A bundle whose process is python3 from the host's /usr (bound read-only)."""
    root = bundle.path / "rootfs"
    for d in ("lib", "lib64"):
        if Path("/" + d).is_symlink() and not (root / d).exists():
            (root / d).symlink_to(os.readlink("/" + d))
    (root / "usr").mkdir(exist_ok=True)
    cfg = spec(args or ["/usr/bin/python3", "-c", PRELUDE + body])
    cfg["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr",
                          "options": ["rbind", "ro"]})
    cfg["linux"]["seccomp"] = seccomp
    return bundle(cfg)


def test_oci_bundle_uses_the_engines_profile(oci, bundle):  # noqa: F811
    """linux.seccomp in config.json: podman's profile, as podman passes it,
    is compiled and enforced; no fallback to hutch's own profile."""
    if not PODMAN_PROFILE.exists():
        pytest.skip(f"{PODMAN_PROFILE} is missing (package containers-common, with podman)")
    if not Path("/usr/bin/python3").exists():
        pytest.skip("python3 is missing")
    body = show(("rie", "personality", READ_IMPLIES_EXEC),
                ("audit", "socket", AF_NETLINK, SOCK_RAW, NETLINK_AUDIT),
                ("route", "socket", AF_NETLINK, SOCK_RAW, 0),
                ("userns", "unshare", CLONE_NEWUSER))
    b = oci_python_bundle(bundle, body, json.loads(PODMAN_PROFILE.read_text()))
    r = oci("create", "--bundle", str(b), "s1", check=0)
    assert "seccomp" not in r.stderr, r.stderr
    oci("start", "s1", check=0)
    for _ in range(500):
        if status(oci, "s1")["status"] == "stopped":
            break
        time.sleep(0.02)
    out = dict(l.split(" ", 1) for l in oci.out.read_text().splitlines())
    assert out == {"rie": "Function not implemented", "audit": "Invalid argument",
                   "route": "ok", "userns": "ok"}, oci.out.read_text()


def test_oci_exec_gets_the_engines_profile(oci, bundle):  # noqa: F811
    """`exec` reads the container's config.json again: the process it adds
    runs under the same engine profile."""
    if not PODMAN_PROFILE.exists():
        pytest.skip(f"{PODMAN_PROFILE} is missing (package containers-common, with podman)")
    body = show(("rie", "personality", READ_IMPLIES_EXEC),
                ("audit", "socket", AF_NETLINK, SOCK_RAW, NETLINK_AUDIT))
    b = oci_python_bundle(bundle, body, json.loads(PODMAN_PROFILE.read_text()),
                          args=["sleep", "30"])
    oci("create", "--bundle", str(b), "s3", check=0)
    oci("start", "s3", check=0)
    r = oci("exec", "s3", "/usr/bin/python3", "-c", PRELUDE + body, check=0)
    assert dict(l.split(" ", 1) for l in r.stdout.splitlines()) == {
        "rie": "Function not implemented", "audit": "Invalid argument"}, r.stdout + r.stderr


def test_oci_bundle_with_a_bad_profile_fails_create(oci, bundle):  # noqa: F811
    cfg = spec(["true"])
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_KILL",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    r = oci("create", "--bundle", str(bundle(cfg)), "s2")
    assert r.returncode != 0
    assert "syscalls[1] (personality)" in r.stderr and "syscalls[0]" in r.stderr, r.stderr
    assert not (oci.root / "s2").exists()


def test_podman_with_hutch_runtime_keeps_its_profile(podman):  # noqa: F811
    """`podman --runtime hutch run`: podman resolves its default profile for
    the container's capabilities and passes it in config.json; hutch applies
    it (podman allows unshare, which hutch's own default refuses)."""
    r = podman("run", "--rm", "--network", "none", "localhost/hutch-oci-test", "/bin/sh", "-c",
               "grep '^Seccomp:' /proc/self/status; unshare -U true && echo nested-userns-ok")
    assert r.returncode == 0, r.stderr
    assert "Seccomp:\t2" in r.stdout and "nested-userns-ok" in r.stdout, r.stdout + r.stderr
    assert "seccomp" not in r.stderr.lower(), r.stderr
