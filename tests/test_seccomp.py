"""Seccomp profiles (src/seccomp*.c, seccomp-profiles/, hutch-seccomp(5)).

Each argument rule of the default profile is checked from inside with
ctypes: a call the filter lets through fails with EFAULT/EBADF/EINVAL (bad
arguments on purpose) or works, a blocked one fails with EPERM or ENOSYS.
"""

import json
import shutil

import pytest

from conftest import error_lines, ok, proc_status_fields

# A python3 prelude for the snippets: call(nr, *args) -> (result, errno).
PRELUDE = r"""
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    return r, ctypes.get_errno()
def show(name, nr, *args):
    r, e = call(nr, *args)
    if r == 0 and nr == 56:
        os._exit(0)   # the child of a clone that worked
    print(name, "ok" if r >= 0 else os.strerror(e))
"""

SIGCHLD = 17
CLONE_NEW = {"CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x02000000,
             "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
             "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
             "CLONE_NEWNET": 0x40000000}


def py(sandbox, body, opts=()):
    r = ok(sandbox("python3", "-c", PRELUDE + body, opts=opts))
    return dict(l.split(" ", 1) for l in r.stdout.splitlines())


def status(sandbox, path="/proc/self/status", opts=()):
    return proc_status_fields(ok(sandbox("cat", path, opts=opts)).stdout)


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_builtin_profiles_load(sandbox, profile):
    st = status(sandbox, opts=("--seccomp", profile))
    assert st["Seccomp"] == "2"
    assert int(st["Seccomp_filters"]) >= 1


def test_default_profile_is_on_by_default(sandbox):
    assert status(sandbox)["Seccomp"] == "2"


def test_none_has_no_filter_and_warns(sandbox):
    r = ok(sandbox("cat", "/proc/self/status", opts=("--seccomp", "none")))
    assert proc_status_fields(r.stdout)["Seccomp"] == "0"
    assert "--seccomp none" in r.stderr and "hutch: notice:" in r.stderr
    assert error_lines(r.stderr) == []


def test_init_is_filtered_too(sandbox):
    for opts in ((), ("--seccomp", "none")):
        st = status(sandbox, "/proc/1/status", opts=opts)
        assert st["Seccomp"] == "2", opts


@pytest.mark.parametrize("flag", sorted(CLONE_NEW))
def test_clone_with_namespace_flag_is_eperm(sandbox, flag):
    out = py(sandbox, f"show('ns', 56, {CLONE_NEW[flag] | SIGCHLD}, 0, 0, 0, 0)\n"
                      f"show('plain', 56, {SIGCHLD}, 0, 0, 0, 0)\n")
    assert out["ns"] == "Operation not permitted"
    assert out["plain"] == "ok"  # a plain fork-like clone still works


def test_namespace_calls_are_eperm(sandbox):
    out = py(sandbox, "show('unshare', 272, 0x10000000)\n"
                      "show('setns', 308, 0, 0)\n"
                      "show('mount', 165, 0, 0, 0, 0, 0)\n"
                      "show('umount2', 166, 0, 0)\n"
                      "show('pivot_root', 155, 0, 0)\n"
                      "show('fsopen', 430, 0, 0)\n"
                      "show('fsconfig', 431, 0, 0, 0, 0, 0)\n"
                      "show('fsmount', 432, 0, 0, 0)\n"
                      "show('fspick', 433, 0, 0, 0)\n"
                      "show('move_mount', 429, 0, 0, 0, 0, 0)\n"
                      "show('open_tree', 428, 0, 0, 0)\n"
                      "show('mount_setattr', 442, 0, 0, 0, 0, 0)\n")
    assert set(out.values()) == {"Operation not permitted"}, out


def test_clone3_is_enosys_and_libc_falls_back(sandbox):
    out = py(sandbox, "show('clone3', 435, 0, 0)\n"
                      "import threading, subprocess\n"
                      "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
                      "print('spawn', subprocess.run(['true']).returncode)\n")
    assert out["clone3"] == "Function not implemented"
    assert out["spawn"] == "0"


@pytest.mark.parametrize("value,allowed", [
    (0, True), (0x8, True), (0x20000, True), (0x20008, True), (0xffffffff, True),
    (0x0400000, False),   # READ_IMPLIES_EXEC
    (0x0400008, False),
    (0x6, False),         # PER_BSD
    (0x0200000, False),   # ADDR_COMPAT_LAYOUT
])
def test_personality(sandbox, value, allowed):
    out = py(sandbox, f"show('p', 135, {value})\n")
    assert (out["p"] == "ok") == allowed, out


@pytest.mark.parametrize("family,name", [(40, "AF_VSOCK"), (38, "AF_ALG")])
def test_socket_families_denied(sandbox, family, name):
    out = py(sandbox, f"show('s', 41, {family}, 1, 0)\nshow('inet', 41, 2, 1, 0)\n")
    assert out["s"] == "Operation not permitted", name
    assert out["inet"] == "ok"


TIOCSTI, TIOCLINUX = 0x5412, 0x541C


@pytest.mark.parametrize("cmd", [TIOCSTI, TIOCSTI | 0x123 << 32, TIOCSTI | 0xffffffff << 32,
                                 TIOCLINUX, TIOCLINUX | 1 << 63],
                         ids=["TIOCSTI", "TIOCSTI-high-bits", "TIOCSTI-all-high",
                              "TIOCLINUX", "TIOCLINUX-high-bits"])
def test_ioctl_tiocsti_masked(sandbox, cmd):
    # fd -1: an ioctl the filter lets through fails with EBADF
    out = py(sandbox, f"show('i', 16, 2**64 - 1, {cmd}, 0)\n"
                      f"show('other', 16, 2**64 - 1, 0x5401, 0)\n")  # TCGETS
    assert out["i"] == "Operation not permitted"
    assert out["other"] == "Bad file descriptor"


@pytest.mark.parametrize("name,nr", [
    ("keyctl", 250), ("add_key", 248), ("request_key", 249), ("bpf", 321),
    ("perf_event_open", 298), ("userfaultfd", 323), ("io_uring_setup", 425),
    ("io_uring_enter", 426), ("io_uring_register", 427), ("kexec_load", 246),
    ("kexec_file_load", 320), ("init_module", 175), ("finit_module", 313),
    ("delete_module", 176), ("acct", 163), ("swapon", 167), ("swapoff", 168),
    ("reboot", 169), ("syslog", 103), ("settimeofday", 164), ("clock_settime", 227),
    ("iopl", 172), ("ioperm", 173), ("quotactl", 179), ("open_by_handle_at", 304),
    ("lookup_dcookie", 212), ("kcmp", 312), ("pidfd_getfd", 438),
    ("process_madvise", 440), ("mbind", 237), ("set_mempolicy", 238),
    ("get_mempolicy", 239), ("migrate_pages", 256), ("move_pages", 279),
])
def test_dangerous_calls_are_eperm(sandbox, name, nr):
    out = py(sandbox, f"show('c', {nr}, 0, 0, 0, 0, 0, 0)\n")
    assert out["c"] == "Operation not permitted", name


def test_newer_syscalls_are_enosys(sandbox):
    # 451 cachestat, 452 fchmodat2, 462 mseal: newer than the profile; this kernel has them
    body = ("show('cachestat', 451, 2**64 - 1, 0, 0, 0)\n"
            "show('fchmodat2', 452, 2**64 - 1, 0, 0, 0)\n"
            "show('mseal', 462, 0, 0, 0)\n")
    out = py(sandbox, body)
    assert set(out.values()) == {"Function not implemented"}, out
    unfiltered = py(sandbox, body, opts=("--seccomp", "none"))
    if unfiltered["cachestat"] == "Function not implemented":
        pytest.skip("this kernel predates cachestat: cannot tell the filter's ENOSYS apart")
    assert unfiltered["cachestat"] != "Function not implemented"


def test_default_allows_ptrace_strict_does_not(sandbox):
    body = "show('ptrace', 101, 16, 1, 0, 0)\nshow('vm', 310, 1, 0, 0, 0, 0, 0)\n"
    default = py(sandbox, body)
    strict = py(sandbox, body, opts=("--seccomp", "strict"))
    # the init is not dumpable: EPERM from the kernel's check, which shows the call was made
    assert default["ptrace"] == "Operation not permitted"
    assert default["vm"] in ("Bad address", "Operation not permitted", "ok")
    assert strict["vm"] == "Operation not permitted"
    selftrace = "show('traceme', 101, 0, 0, 0, 0)\n"
    assert py(sandbox, selftrace)["traceme"] == "ok"
    assert py(sandbox, selftrace, opts=("--seccomp", "strict"))["traceme"] == \
        "Operation not permitted"


def test_strict_socket_families(sandbox):
    out = py(sandbox, "show('unix', 41, 1, 1, 0)\nshow('inet6', 41, 10, 1, 0)\n"
                      "show('packet', 41, 17, 3, 0)\nshow('vsock', 41, 40, 1, 0)\n",
             opts=("--seccomp", "strict"))
    assert out["unix"] == "ok" and out["inet6"] == "ok"
    assert out["packet"] == out["vsock"] == "Operation not permitted"


MAKEFILE = "all: hello\n\t./hello\nhello: hello.c\n\tgcc -O1 -o hello hello.c\n"
HELLO = '#include <stdio.h>\nint main(void){puts("hello from gcc");return 0;}\n'


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_profile_runs_sh_python_gcc_make(sandbox, tmp_path, profile):
    for tool in ("gcc", "make"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (tests/install-deps installs it)")
    (tmp_path / "Makefile").write_text(MAKEFILE)
    (tmp_path / "hello.c").write_text(HELLO)
    tmp_path.chmod(0o777)
    r = ok(sandbox("sh", "-c",
                   "cp -r /src /tmp/w && cd /tmp/w && make -s && "
                   "python3 -c 'import subprocess, threading, json; print(json.dumps([1]))' && "
                   "sh -c 'echo $((6*7))' | cat",
                   opts=("--seccomp", profile, "--ro-bind", f"{tmp_path}:/src")))
    assert "hello from gcc" in r.stdout
    assert "[1]" in r.stdout and "42" in r.stdout


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    tmp_path.chmod(0o755)
    p.chmod(0o644)
    return p


def test_text_profile_file_applies(sandbox, tmp_path):
    prof = write(tmp_path, "no-mkdir", "# allow all but mkdir\n"
                 "default allow\n"
                 "group mk\n\tmkdir\n\tmkdirat\n"
                 "errno EACCES @mk\n"
                 "const AF_UNIX 1\n"
                 "errno EAFNOSUPPORT socket if arg0 == AF_UNIX and arg1 & 0xf == 1\n")
    r = sandbox("sh", "-c", "mkdir /tmp/x; echo mkdir=$?; "
                "python3 -c 'import socket; socket.socket(socket.AF_UNIX)' 2>&1 | tail -1; "
                "python3 -c 'import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
                "print(\"dgram ok\")'",
                opts=("--seccomp", str(prof)))
    assert "mkdir=1" in r.stdout
    assert "Permission denied" in r.stdout + r.stderr
    assert "Address family not supported" in r.stdout
    assert "dgram ok" in r.stdout


def test_json_profile_loads_and_applies(sandbox, tmp_path):
    doc = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat", "no_such_call_in_this_libseccomp"],
             "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 0x0400000, "op": "SCMP_CMP_EQ"}]},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        ],
    }
    prof = write(tmp_path, "p.json", json.dumps(doc))
    r = sandbox("sh", "-c", "mkdir /tmp/x; echo mkdir=$?", opts=("--seccomp", str(prof)))
    assert "mkdir=1" in r.stdout and "Permission denied" in r.stderr
    out = py(sandbox, "show('rie', 135, 0x0400000)\nshow('zero', 135, 0)\n",
             opts=("--seccomp", str(prof)))
    assert out == {"rie": "Operation not permitted", "zero": "ok"}


def test_docker_style_default_deny_json(sandbox, tmp_path):
    names = ["read", "write", "close", "fstat", "newfstatat", "mmap", "mprotect", "munmap",
             "brk", "rt_sigaction", "rt_sigprocmask", "execve", "exit_group", "arch_prctl",
             "access", "openat", "pread64", "set_tid_address", "set_robust_list", "rseq",
             "prlimit64", "getrandom", "faccessat2", "ioctl", "lseek", "getcwd", "uname",
             "fcntl", "getdents64", "statx", "exit"]
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
           "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}
    prof = write(tmp_path, "min.json", json.dumps(doc))
    r = sandbox("/bin/sh", "-c", "echo still runs", opts=("--seccomp", str(prof)))
    assert r.returncode == 0 and "still runs" in r.stdout, r.stderr


BAD_TEXT = [
    ("unknown-syscall", "default errno EPERM\nallow read\nallow opn\n", 3, "unknown system call 'opn'"),
    ("unknown-action", "default errno EPERM\npermit read\n", 2, "unknown action 'permit'"),
    ("unknown-errno", "default errno EWHAT\n", 1, "unknown errno 'EWHAT'"),
    ("bad-condition", "default allow\n\nerrno EPERM socket if arg7 == 1\n", 3, "arg7"),
    ("bad-operator", "default allow\nerrno EPERM socket if arg0 ~ 1\n", 2, "comparison '~'"),
    ("unknown-const", "default allow\nerrno EPERM socket if arg0 == AF_NOPE\n", 2, "AF_NOPE"),
    ("unknown-group", "default allow\n# c\nerrno EPERM @nope\n", 3, "unknown group '@nope'"),
    ("same-arg-twice", "default errno EPERM\nallow socket if arg0 == 1 and arg0 == 2\n", 2,
     "compared twice"),
    ("no-default", "allow read\n", 1, "no 'default' action"),
    ("wrapped-group", "default allow\ngroup g\n\tread write\n\n\tclose opn\nerrno EPERM @g\n", 5,
     "unknown system call 'opn'"),
    ("conflict", "default errno EPERM\nallow read\nerrno EACCES read\n", 3,
     "conflicts with line 2"),
    ("same-test-two-denials", "default allow\nerrno EPERM personality if arg0 == 8\n\n"
     "errno EINVAL personality if arg0 == 8\n", 4, "same arguments as line 2"),
]


@pytest.mark.parametrize("name,text,line,what", BAD_TEXT, ids=[b[0] for b in BAD_TEXT])
def test_bad_text_profile_is_one_line_error(sandbox, tmp_path, name, text, line, what):
    prof = write(tmp_path, name, text)
    r = sandbox("true", opts=("--seccomp", str(prof)))
    assert r.returncode == 125
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"{prof}:{line}:" in errs[0], errs
    assert what in errs[0]


@pytest.mark.parametrize("text,what", [
    ("{not json", "json"),
    ('{"syscalls": []}', "defaultAction"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], '
     '"action": "SCMP_ACT_NOTIFY"}]}', "syscalls[0]"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], '
     '"action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]}', "index"),
], ids=["syntax", "no-default", "notify", "bad-index"])
def test_bad_json_profile_is_one_line_error(sandbox, tmp_path, text, what):
    prof = write(tmp_path, "bad.json", text)
    r = sandbox("true", opts=("--seccomp", str(prof)))
    assert r.returncode == 125
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and str(prof) in errs[0], r.stderr
    assert what in errs[0].lower() or what in errs[0]


def test_profile_libseccomp_cannot_compile_is_an_error_not_a_hang(sandbox, tmp_path):
    """libseccomp 2.5.4 loops for ever on these two rules (found by
    tests/fuzz/fuzz_seccomp_text.c): hutch gives its compiler 10 s, then says
    so, instead of hanging with the profile's author."""
    prof = write(tmp_path, "loops", "default errno EPERM\n"
                 "errno EAFNOSUPPORT socket if arg2 == 47 and arg0 > 3\n"
                 "errno EAFNOSUPPORT socket if arg5 == 47 and arg0 > 3\n")
    r = sandbox("true", opts=("--seccomp", str(prof)), timeout=40)  # a hang: TimeoutExpired
    assert r.returncode == 125, r.stderr
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and "did not finish compiling" in errs[0], r.stderr


@pytest.mark.parametrize("arg", ["nosuchprofile", "/no/such/file"])
def test_missing_profile(sandbox, arg):
    r = sandbox("true", opts=("--seccomp", arg))
    assert r.returncode == 125
    errs = error_lines(r.stderr)
    assert len(errs) == 1 and arg in errs[0] and "default, strict, none" in errs[0]


def test_internal_init_profile_not_selectable(sandbox):
    assert sandbox("true", opts=("--seccomp", "_init")).returncode == 125
