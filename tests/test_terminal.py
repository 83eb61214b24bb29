"""The terminal: a pty of the sandbox's own when stdin is a terminal, a new
session without one otherwise (src/terminal.c)."""

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
import tty

import pytest

from conftest import HUTCH

DEADLINE = 20.0
PROMPT = b"hutch-ready> "


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def take_ctty():
    # Runs in the child after setsid(): the pty on fd 0 (or 2) becomes its
    # controlling terminal, as a login shell's terminal would be.
    for fd in (0, 2):
        if os.isatty(fd):
            fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
            return


class PtySession:
    """hutch with stdin/stdout/stderr on a fresh pty we hold the master of.

    The slave stays open here too, so its termios can be read before and
    after and so the master never sees a hangup while we read."""

    def __init__(self, argv, winsize=None):
        # A spare pty first, so ours is not the host's /dev/pts/0 (which
        # would make "tty prints /dev/pts/0" pass without a pty of hutch's).
        self.spare = os.openpty()
        self.master, self.slave = os.openpty()
        if winsize:
            set_winsize(self.slave, *winsize)
        self.termios_before = termios.tcgetattr(self.slave)
        self.out = b""
        self.proc = subprocess.Popen(
            argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
            start_new_session=True, preexec_fn=take_ctty, close_fds=True)

    def read_some(self, timeout=0.1):
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                data = b""
            self.out += data
            return data
        return None

    def expect(self, pattern, count=1, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.out.count(pattern) >= count:
                return
            self.read_some()
            if self.proc.poll() is not None:
                # Drain what is left, then decide.
                while self.read_some(0):
                    pass
                if self.out.count(pattern) >= count:
                    return
                break
        self.close()
        pytest.fail(f"never saw {pattern!r} x{count}; exit "
                    f"{self.proc.returncode}; output {self.out!r}")

    def send(self, data):
        os.write(self.master, data)

    def wait(self, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while self.proc.poll() is None and time.monotonic() < end:
            self.read_some()
        if self.proc.poll() is None:
            self.close()
            pytest.fail(f"hutch did not exit; output {self.out!r}")
        while self.read_some(0.05):
            pass
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self.slave, *self.spare):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def without_notices(text):
    """Drop hutch's own notice lines (the single-id fallback prints one on
    the terminal) from pty output."""
    return "\n".join(l for l in text.splitlines()
                     if not l.startswith("hutch: notice:"))


def hutch_argv(*args):
    return [HUTCH, "run", "--setenv", "PS1=" + PROMPT.decode(), *args]


def test_interactive_shell(hutch_bin, userns):
    with PtySession(hutch_argv("--", "/bin/sh", "-i")) as s:
        s.expect(PROMPT)
        s.send(b"tty; echo $((6*7))\n")
        s.expect(PROMPT, count=2)
        s.send(b"exit 5\n")
        rc = s.wait()
        out = s.out.decode(errors="replace")
    assert "/dev/pts/0" in out
    # The echoed input shows "$((6*7))"; only the shell's answer is "42".
    assert re.search(r"(^|\n)42\r?\n", out), out
    assert rc == 5


def test_window_size_is_passed(hutch_bin, userns):
    with PtySession(hutch_argv("--", "stty", "size"), winsize=(40, 100)) as s:
        rc = s.wait()
        out = without_notices(s.out.decode(errors="replace"))
    assert rc == 0, out
    assert out.split() == ["40", "100"]


def test_window_size_changes_are_passed(hutch_bin, userns):
    script = ("trap 'stty size; exit 0' WINCH; echo ready; "
              "while :; do sleep 0.05; done")
    with PtySession(hutch_argv("--", "sh", "-c", script),
                    winsize=(24, 80)) as s:
        s.expect(b"ready")
        # The kernel signals hutch (the outer terminal's foreground group),
        # and hutch must pass the new size on to the inner terminal.
        set_winsize(s.master, 30, 90)
        rc = s.wait()
        out = s.out.decode(errors="replace")
    assert "30 90" in out, out
    assert rc == 0


def test_terminal_is_raw_while_running_and_restored(hutch_bin, userns):
    with PtySession(hutch_argv("--", "sh", "-c",
                               "echo ready; read line; exit 0")) as s:
        before = s.termios_before
        s.expect(b"ready")
        during = termios.tcgetattr(s.slave)
        s.send(b"go\n")
        rc = s.wait()
        after = termios.tcgetattr(s.slave)
    assert rc == 0
    lflag = during[3]
    assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG), (
        "the caller's terminal is not in raw mode while the sandbox runs")
    assert after == before, "the caller's terminal settings were not restored"


def test_terminal_restored_after_failure(hutch_bin, userns):
    with PtySession(hutch_argv("--", "sh", "-c", "kill -9 $$")) as s:
        before = s.termios_before
        rc = s.wait()
        after = termios.tcgetattr(s.slave)
    assert rc == 128 + 9
    assert after == before


def test_ctrl_c_reaches_the_command(hutch_bin, userns):
    script = ('trap "echo got-INT; exit 4" INT; echo ready; '
              "while :; do sleep 0.05; done")
    with PtySession(hutch_argv("--", "sh", "-c", script)) as s:
        s.expect(b"ready")
        s.send(b"\x03")
        rc = s.wait()
        out = s.out
    assert b"got-INT" in out
    assert rc == 4


def test_stdio_is_the_inner_pty(hutch_bin, userns):
    with PtySession(hutch_argv("--", "sh", "-c",
                               "readlink /proc/$$/fd/0 /proc/$$/fd/1 "
                               "/proc/$$/fd/2; ls /dev/pts")) as s:
        rc = s.wait()
        out = without_notices(s.out.decode(errors="replace")).split()
    assert rc == 0
    assert out == ["/dev/pts/0"] * 3 + ["0", "ptmx"], out


def stat_fields(text):
    """/proc/PID/stat -> fields after the command name (state is [0])."""
    return text[text.rindex(")") + 2:].split()


def run_with_outer_tty_on_stderr(args):
    """stdin /dev/null, stdout a pipe, stderr a pty that is hutch's
    controlling terminal. Returns (exit code, stdout, what reached the
    terminal, master fd, slave fd)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([HUTCH, "run", "--", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave, start_new_session=True,
                            preexec_fn=take_ctty, close_fds=True)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = b""
    while select.select([master], [], [], 0.05)[0]:
        try:
            err += os.read(master, 4096)
        except OSError:
            break
    return proc.returncode, out.decode(), err.decode(errors="replace"), \
        master, slave


def test_no_tty_means_new_session_without_terminal(hutch_bin, userns):
    rc, out, err, master, slave = run_with_outer_tty_on_stderr(
        ["sh", "-c", "cat /proc/$$/stat"])
    os.close(master), os.close(slave)
    assert rc == 0, err
    f = stat_fields(out)
    session, tty_nr = int(f[3]), int(f[4])
    assert session == 2, f"the command (pid 2) is not a session leader: {f}"
    assert tty_nr == 0, f"the command has a controlling terminal: {f}"


TIOCSTI = r"""
import errno, fcntl, termios
try:
    fcntl.ioctl(2, termios.TIOCSTI, b"X")
    print("injected")
except OSError as e:
    print(errno.errorcode[e.errno])
"""


def test_tiocsti_cannot_reach_outer_terminal(hutch_bin, userns):
    rc, out, err, master, slave = run_with_outer_tty_on_stderr(
        ["python3", "-c", TIOCSTI])
    try:
        # Anything pushed into the outer terminal's input would be waiting
        # on its slave side now.
        pushed = select.select([slave], [], [], 0.2)[0]
        pushed = os.read(slave, 100) if pushed else b""
    finally:
        os.close(master), os.close(slave)
    assert rc == 0, err
    assert out.strip() in ("EPERM", "EIO", "EACCES"), out
    assert pushed == b""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_interactive_shell_in_tmux(hutch_bin, userns, tmp_path):
    sock = str(tmp_path / "tmux.sock")
    rcfile = tmp_path / "rc"
    tmux = ["tmux", "-S", sock, "-f", "/dev/null"]
    cmd = (f"{HUTCH} run --setenv 'PS1={PROMPT.decode()}' -- /bin/sh -i; "
           f"echo $? > {rcfile}; sleep 30")

    def pane():
        r = subprocess.run(tmux + ["capture-pane", "-p", "-t", "t"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def wait_for(cond, what):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.05)
        pytest.fail(f"tmux: never saw {what}; pane:\n{pane()}")

    env = dict(os.environ, TERM="xterm")
    env.pop("TMUX", None)
    subprocess.run(tmux + ["new-session", "-d", "-s", "t", "-x", "100",
                           "-y", "40", cmd], check=True, env=env, timeout=10)
    try:
        # capture-pane drops trailing blanks, so look for the prompt stripped.
        wait_for(lambda: PROMPT.decode().strip() in pane(), "the prompt")
        subprocess.run(tmux + ["send-keys", "-t", "t",
                               "tty; echo $((6*7)); stty size", "Enter"],
                       check=True, timeout=10)
        wait_for(lambda: "40 100" in pane(), "stty size")
        text = pane()
        assert "/dev/pts/0" in text and "\n42\n" in text, text
        subprocess.run(tmux + ["send-keys", "-t", "t", "exit 5", "Enter"],
                       check=True, timeout=10)
        wait_for(lambda: rcfile.exists() and rcfile.read_text().strip(),
                 "the exit status")
        assert rcfile.read_text().strip() == "5"
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=10)


# The caller's terminal on stdout or stderr only (`hutch run -- prog <
# /dev/null` in a shell): the command gets a pty there too, so what it does to
# "its terminal" stays inside. N_NULL and -echo on the caller's own terminal
# would outlive hutch (a shell left without echo, its output discarded).
N_TTY = 0
BREAK_TERMINAL = r"""
import fcntl, os, struct, sys, termios
ttys = [fd for fd in (0, 1, 2) if os.isatty(fd)]  # N_NULL answers no TCGETS
out = [f"{fd}:" + os.readlink(f"/proc/self/fd/{fd}") for fd in ttys]
for fd in ttys:
    a = termios.tcgetattr(fd)
    a[3] &= ~(termios.ECHO | termios.ICANON)
    termios.tcsetattr(fd, termios.TCSANOW, a)
for fd in ttys:
    fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", 27))  # N_NULL
out.append("stdin:" + os.readlink("/proc/self/fd/0"))
# field 7 of /proc/self/stat, tty_nr: 0 without a controlling terminal
out.append("ctty:" + open("/proc/self/stat").read().rsplit(")", 1)[1].split()[4])
open(sys.argv[1], "w").write(" ".join(out))
os._exit(0)  # no flush at exit into a terminal that now refuses writes
"""


def line_discipline(fd):
    return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCGETD,
                                          b"\0\0\0\0"))[0]


def run_with_outer_tty_on(which, args):
    """hutch ARGS with stdin /dev/null and the fds in `which` (of 1, 2) on a
    pty we hold, the others a pipe. Returns (exit code, the pipes' output,
    what reached the terminal, its termios before and after, its line
    discipline after)."""
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    std = {fd: slave if fd in which else subprocess.PIPE for fd in (1, 2)}
    try:
        proc = subprocess.Popen(
            [HUTCH, "run", *args], stdin=subprocess.DEVNULL, stdout=std[1],
            stderr=std[2], start_new_session=True, close_fds=True)
        out, err = proc.communicate(timeout=30)
        seen = b""
        while select.select([master], [], [], 0.05)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        ldisc = line_discipline(slave)
        try:
            after = termios.tcgetattr(slave)
        except termios.error as e:  # N_NULL answers no TCGETS
            after = e
        return (proc.returncode, (out or b"") + (err or b""),
                seen.decode(errors="replace"), before, after, ldisc)
    finally:
        os.close(master), os.close(slave)


@pytest.mark.parametrize("which", [(1,), (2,), (1, 2)],
                         ids=["stdout", "stderr", "both"])
def test_outer_terminal_on_stdout_stderr_is_never_the_commands(
        hutch_bin, userns, tmp_path, which):
    rc, piped, seen, before, after, ldisc = run_with_outer_tty_on(
        which, ["--bind", f"{tmp_path}:/out", "--", "python3", "-c",
                BREAK_TERMINAL, "/out/report"])
    assert rc == 0, (piped, seen)
    assert ldisc == N_TTY, "the command set the caller's line discipline"
    assert after == before, "the command changed the caller's terminal"
    report = (tmp_path / "report").read_text().split()
    # it saw a terminal where the caller had one: its own pty, inside; stdin
    # stays what it was; and no controlling terminal, as without a pty
    assert report == [f"{fd}:/dev/pts/0" for fd in which] + [
        "stdin:/dev/null", "ctty:0"], report


def test_output_reaches_the_outer_terminal_unchanged(hutch_bin, userns):
    rc, piped, seen, *_ = run_with_outer_tty_on(
        (1,), ["--", "sh", "-c", "printf 'one\\ntwo\\n'; echo x > /dev/stdout; "
               "f=$(readlink /proc/$$/fd/1); echo $f >&2"])
    assert rc == 0, piped
    assert piped.decode().strip() == "/dev/pts/0", piped
    # the outer terminal's own ONLCR makes \r\n, once: the pty adds nothing
    assert seen == "one\r\ntwo\r\nx\r\n", repr(seen)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_stdin_not_a_terminal_in_tmux_leaves_the_terminal_alone(
        hutch_bin, userns, tmp_path):
    # The case from a shell: `hutch run -- prog < /dev/null` in a real
    # terminal, prog breaking the terminal it sees on stdout and stderr.
    sock = str(tmp_path / "tmux.sock")
    done = tmp_path / "done"
    tmux = ["tmux", "-S", sock, "-f", "/dev/null"]
    (tmp_path / "break.py").write_text(BREAK_TERMINAL)
    cmd = (f"{HUTCH} run --bind {tmp_path}:/t -- python3 /t/break.py "
           f"/t/report < /dev/null; echo $? > {done}; sleep 30")
    env = dict(os.environ, TERM="xterm")
    env.pop("TMUX", None)
    subprocess.run(tmux + ["new-session", "-d", "-s", "t", cmd], check=True,
                   env=env, timeout=10)
    try:
        pane_tty = subprocess.run(
            tmux + ["display-message", "-p", "-t", "t", "#{pane_tty}"],
            capture_output=True, text=True, check=True,
            timeout=10).stdout.strip()
        end = time.monotonic() + DEADLINE
        while not (done.exists() and done.read_text().strip()):
            if time.monotonic() > end:
                pytest.fail("hutch did not finish in the tmux pane")
            time.sleep(0.05)
        assert done.read_text().strip() == "0"
        fd = os.open(pane_tty, os.O_RDWR | os.O_NOCTTY)
        try:
            ldisc = line_discipline(fd)
            assert ldisc == N_TTY, "the pane's terminal lost its line discipline"
            lflag = termios.tcgetattr(fd)[3]
        finally:
            os.close(fd)
        assert lflag & termios.ECHO and lflag & termios.ICANON, (
            "the pane's terminal was left without echo")
        assert (tmp_path / "report").read_text().split()[:2] == [
            "1:/dev/pts/0", "2:/dev/pts/0"]
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=10)


def test_window_size_reaches_an_output_only_pty(hutch_bin, userns):
    # No controlling terminal, so the kernel tells the command nothing when
    # the pty's size changes: hutch resizes it and passes SIGWINCH on itself.
    master, slave = os.openpty()
    set_winsize(slave, 24, 80)
    size = "import os, sys; print(*os.get_terminal_size(1), file=sys.stderr)"
    script = (f"trap 'python3 -c \"{size}\"; exit 0' WINCH; echo ready >&2; "
              "while :; do sleep 0.05; done")
    proc = subprocess.Popen([HUTCH, "run", "--", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stderr.readline() == b"ready\n"
        set_winsize(master, 30, 90)
        proc.send_signal(signal.SIGWINCH)
        _, out = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master), os.close(slave)
    assert proc.returncode == 0
    assert out.split()[-2:] == [b"90", b"30"], out  # columns, lines
