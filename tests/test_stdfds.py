"""The command's fds 0-2 (src/stdfds.c, src/landlock.c): a file the caller
redirects to or from cannot be reopened through /proc/self/fd with more access
than the redirect gave, with Landlock and without; `echo x > /dev/stderr` keeps
working."""

import ctypes
import os
import platform
import struct
import subprocess

import pytest

from conftest import HUTCH, TIMEOUT

# Each attempt prints "NAME: ok" when the kernel let it through; what counts
# is whether the file outside changed (or was read), which the tests check.
TRY = r"""
import errno, fcntl, os, sys
fd = int(sys.argv[1])
def attempt(name, f):
    try:
        f()
        print(name + ": ok", file=sys.stderr)
    except OSError as e:
        print(name + ": " + errno.errorcode[e.errno], file=sys.stderr)
path = f"/proc/self/fd/{fd}"
def rw():
    f = os.open(path, os.O_RDWR); os.lseek(f, 0, 0); os.write(f, b"OVERWRITTEN\n")
def trunc():
    os.close(os.open(path, os.O_WRONLY | os.O_TRUNC))
def rdonly_trunc():
    os.close(os.open(path, os.O_RDONLY | os.O_TRUNC))
def read():
    f = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe: never wait
    sys.stderr.write("READ " + repr(os.read(f, 100)) + "\n")
def write():
    f = os.open(path, os.O_WRONLY); os.write(f, b"WRITTEN\n")
def unappend():
    fcntl.fcntl(fd, fcntl.F_SETFL, 0); os.lseek(fd, 0, 0); os.write(fd, b"SEEKED\n")
def ftruncate():
    os.ftruncate(fd, 0)
for name, f in [("read", read), ("rw", rw), ("trunc", trunc),
                ("rdonly_trunc", rdonly_trunc), ("write", write),
                ("unappend", unappend), ("ftruncate", ftruncate)]:
    attempt(name, f)
"""


def run(args, **kw):
    return subprocess.run([HUTCH, "run", *args], timeout=TIMEOUT, **kw)


def no_landlock():
    """preexec_fn: landlock_create_ruleset answers ENOSYS, as on a kernel
    without Landlock, for hutch and all it starts. no_new_privs comes with
    the filter, so newuidmap cannot help: hutch maps the caller's ids only."""
    libc = ctypes.CDLL(None, use_errno=True)
    # struct sock_filter {u16 code; u8 jt, jf; u32 k}: load the syscall
    # number; landlock_create_ruleset (444 on every architecture) -> ENOSYS
    prog = b"".join([
        struct.pack("HBBI", 0x20, 0, 0, 0),           # ld [nr]
        struct.pack("HBBI", 0x15, 0, 1, 444),         # jeq 444
        struct.pack("HBBI", 0x06, 0, 0, 0x50000 | 38),  # ret ERRNO(ENOSYS)
        struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000),  # ret ALLOW
    ])
    buf = ctypes.create_string_buffer(prog)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        os._exit(90)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # SECCOMP_MODE_FILTER
        os._exit(91)


LANDLOCK = [pytest.param(None, id="landlock"),
            pytest.param(no_landlock, id="without-landlock")]


@pytest.fixture(params=LANDLOCK)
def fence(request, userns):
    if request.param and platform.machine() != "x86_64":
        pytest.skip("the filter is written for x86_64")
    return request.param


def test_append_only_stdout_keeps_its_earlier_content(fence, tmp_path):
    log = tmp_path / "log"
    log.write_text("earlier\n")
    with open(log, "a") as out:
        r = run(["--", "python3", "-c", TRY + "print('added')", "1"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                text=True, preexec_fn=fence)
    assert r.returncode == 0, r.stderr
    # whatever the kernel let through inside, the file only grew
    text = log.read_text()
    assert text.startswith("earlier\n"), (text, r.stderr)
    assert "READ 'earlier" not in r.stderr, r.stderr
    assert text.endswith("added\n"), (text, r.stderr)


def test_append_only_stderr_shared_with_stdout_keeps_order(fence, tmp_path):
    log = tmp_path / "log"
    log.write_text("earlier\n")
    with open(log, "a") as out:
        r = run(["--", "sh", "-c", "echo one; echo two >&2; echo three; "
                 "echo four > /dev/stderr"], stdin=subprocess.DEVNULL,
                stdout=out, stderr=out, preexec_fn=fence)
    assert r.returncode == 0
    assert log.read_text() == "earlier\none\ntwo\nthree\nfour\n"


def test_read_only_stdin_cannot_be_written(fence, tmp_path):
    notes = tmp_path / "notes"
    notes.write_text("my notes\n")
    with open(notes) as f:
        r = run(["--", "sh", "-c", "python3 -c \"$0\" 0; cat /dev/stdin", TRY],
                stdin=f, capture_output=True, text=True, preexec_fn=fence)
    assert r.returncode == 0, r.stderr
    assert notes.read_text() == "my notes\n", r.stderr
    # the command still reads it, through the fd and through /dev/stdin
    assert "my notes" in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_write_only_stdout_cannot_be_read_back(fence, tmp_path):
    # a file opened for writing, not truncated: what it held stays unread
    out = tmp_path / "out"
    out.write_text("secret from before\n")
    fd = os.open(out, os.O_WRONLY)
    try:
        os.lseek(fd, 0, os.SEEK_END)
        r = run(["--", "python3", "-c", TRY, "1"], stdin=subprocess.DEVNULL,
                stdout=fd, stderr=subprocess.PIPE, text=True,
                preexec_fn=fence)
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    assert "secret" not in r.stderr, r.stderr


def test_landlock_refuses_the_widening_reopens(userns, tmp_path):
    # With Landlock each widening reopen is refused outright (EACCES); the
    # narrower ones, and the ones the fd itself allows, pass.
    notes = tmp_path / "notes"
    notes.write_text("my notes\n")
    with open(notes) as f:
        r = run(["--", "python3", "-c", TRY, "0"], stdin=f,
                capture_output=True, text=True)
    got = dict(l.split(": ", 1) for l in r.stderr.splitlines()
               if ": " in l and not l.startswith(("hutch", "READ")))
    assert got["rw"] == got["trunc"] == got["rdonly_trunc"] == "EACCES", got
    assert got["write"] == "EACCES", got
    assert got["read"] == "ok", got


@pytest.mark.parametrize("kind", ["pipe", "devnull", "file", "append"])
def test_echo_to_dev_stderr_works(userns, tmp_path, kind):
    err = tmp_path / "err"
    if kind == "pipe":
        target = subprocess.PIPE
    elif kind == "devnull":
        target = subprocess.DEVNULL
    else:
        target = open(err, "a" if kind == "append" else "w")
    try:
        r = run(["--", "sh", "-c", "echo x > /dev/stderr && echo x >> /dev/stderr "
                 "&& echo done"], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=target, text=True)
    finally:
        if kind in ("file", "append"):
            target.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    if kind == "pipe":
        assert r.stderr.splitlines()[-2:] == ["x", "x"]
    elif kind != "devnull":
        assert err.read_text().splitlines()[-1] == "x"


def test_stdin_from_a_pipe_is_untouched(userns):
    # a pipe passes as it is: no relay, no copy
    r = run(["--", "sh", "-c", "readlink /proc/self/fd/0; cat"],
            input="through\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("through\n")
