"""The built-in `desktop` policy and its options: --display, --audio, --dev-bind, the -try
binds and $APP (src/desktop.c, policy/desktop.policy). A real X11 program draws under Xvfb."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import error_lines, ok, run_hutch

WAIT = 10  # seconds: every wait below is bounded by this


def screen_colours(display):
    """The number of distinct colours on DISPLAY's root window (xwd | xwdtopnm, a P6 PPM)."""
    xwd = subprocess.run(["xwd", "-root", "-silent", "-display", display],
                         capture_output=True, timeout=WAIT, check=True).stdout
    ppm = subprocess.run(["xwdtopnm"], input=xwd, capture_output=True, timeout=WAIT,
                         check=True).stdout
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval, separated by whitespace
        while ppm[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not ppm[end:end + 1].isspace():
            end += 1
        fields.append(ppm[pos:end])
        pos = end
    assert fields[0] == b"P6", fields
    w, h, maxval = (int(f) for f in fields[1:])
    step = 3 if maxval < 256 else 6
    pixels = ppm[pos + 1:pos + 1 + w * h * step]
    return len({pixels[i:i + step] for i in range(0, len(pixels), step)})


def free_display():
    for n in range(90, 100):
        if not (os.path.exists(f"/tmp/.X11-unix/X{n}") or os.path.exists(f"/tmp/.X{n}-lock")):
            return n
    pytest.skip("no free X display among :90-:99")


@pytest.fixture
def xvfb():
    """An Xvfb of our own, with a black root (-br) so an empty screen has one colour."""
    for tool in ("Xvfb", "xlogo", "xwd", "xwdtopnm"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (tests/install-deps installs xvfb, "
                        "x11-apps, x11-utils and netpbm)")
    n = free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "320x240x24", "-br",
                             "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT
        while not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Xvfb :{n} did not start")
            time.sleep(0.05)
        yield f":{n}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def desktop_env(tmp_path, xvfb):
    """The caller's environment for a desktop app: X11 only, a home of the test's own."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR")}
    env.update(HOME=str(home), DISPLAY=xvfb)
    return env


def test_desktop_shows_a_window_under_xvfb(userns, desktop_env):
    display = desktop_env["DISPLAY"]
    assert screen_colours(display) == 1  # blank before: the check below can fail
    # xlogo runs until the test has seen it on the screen (a line on stdin), then is killed
    app = subprocess.Popen(
        [run_hutch.__globals__["HUTCH"], "run", "--policy", "desktop", "--", "sh", "-c",
         "xlogo -geometry 200x150+10+10 & p=$!; read line; kill $p; wait $p; echo done"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=desktop_env)
    try:
        colours, deadline = 1, time.monotonic() + WAIT
        while colours < 2 and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            colours = screen_colours(display)
        out, err = app.communicate("\n", timeout=WAIT)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert colours >= 2, f"the screen stayed blank; hutch said: {err}"
    assert app.returncode == 0 and out.endswith("done\n"), (app.returncode, out, err)


def test_desktop_home_is_private_and_persists_per_app(sandbox, desktop_env, tmp_path):
    home = tmp_path / "home"
    (home / "secret").write_text("host\n")
    (tmp_path / "elsewhere").write_text("host\n")
    script = ('ls -A "$HOME"; test -e {0} && echo SEEN {0}; test -e /work && echo SEEN /work; '
              'cat "$HOME/note" 2>/dev/null; echo kept > "$HOME/note"'
              ).format(tmp_path / "elsewhere")
    first = ok(sandbox("sh", "-c", script, opts=["--policy", "desktop"], env=desktop_env))
    assert "secret" not in first.stdout and "SEEN" not in first.stdout, first.stdout
    second = ok(sandbox("sh", "-c", script, opts=["--policy", "desktop"], env=desktop_env))
    assert "kept" in second.stdout, second.stdout
    # the home is the app's: ~/.local/share/hutch/homes/APP, APP the command's name
    assert (home / ".local/share/hutch/homes/sh/note").read_text() == "kept\n"
    other = ok(sandbox("env", opts=["--policy", "desktop"], env=desktop_env))
    assert (home / ".local/share/hutch/homes/env").is_dir()
    assert f"DISPLAY={desktop_env['DISPLAY']}\n" in other.stdout
    assert (home / "secret").read_text() == "host\n"


def test_desktop_dry_run_names_the_display_gpu_and_home(run, desktop_env):
    r = ok(run("run", "--policy", "desktop", "--dry-run", "--", "xlogo", env=desktop_env))
    n = desktop_env["DISPLAY"][1:]
    assert f"/tmp/.X11-unix/X{n} <- /tmp/.X11-unix/X{n}" in r.stdout, r.stdout
    assert "dev-bind   /dev/dri <- /dev/dri  (if it exists)" in r.stdout, r.stdout
    assert f"{desktop_env['HOME']} <- {desktop_env['HOME']}/.local/share/hutch/homes/xlogo" \
        in r.stdout, r.stdout


def test_display_needs_a_display(sandbox, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = sandbox("true", opts=["--display"], env=env)
    assert r.returncode == 125 and len(error_lines(r.stderr)) == 1, r.stderr
    assert "neither WAYLAND_DISPLAY nor DISPLAY" in r.stderr
    env["DISPLAY"] = "remote.example:0"
    r = sandbox("true", opts=["--display"], env=env)
    assert r.returncode == 125 and "not a local display" in r.stderr, r.stderr
    env["DISPLAY"] = ":989"  # no such server
    r = sandbox("true", opts=["--display"], env=env)
    assert r.returncode == 125 and "/tmp/.X11-unix/X989 is not a socket" in r.stderr, r.stderr


def test_dev_bind_keeps_device_nodes_usable_and_bind_does_not(sh):
    ok(sh("echo x > /mnt/null", "--dev-bind", "/dev/null:/mnt/null"))
    r = sh("echo x > /mnt/null", "--bind", "/dev/null:/mnt/null")
    assert r.returncode != 0 and "denied" in r.stderr, r.stderr


@pytest.mark.parametrize("opt", ["--bind-try", "--ro-bind-try", "--dev-bind-try"])
def test_try_binds_skip_a_missing_source_only(sh, tmp_path, opt):
    ok(sh("test ! -e /mnt/gone", opt, f"{tmp_path}/gone:/mnt/gone"))
    (tmp_path / "here").write_text("yes\n")
    assert ok(sh("cat /mnt/here", opt, f"{tmp_path}/here:/mnt/here")).stdout == "yes\n"
    r = sh("true", opt.replace("-try", ""), f"{tmp_path}/gone:/mnt/gone")
    assert r.returncode == 125, r.stderr


def test_app_variable_is_the_command_name(run, sandbox, tmp_path):
    pol = tmp_path / "p.policy"
    pol.write_text("setenv APP_IS=$APP\n")
    r = ok(sandbox("/usr/bin/env", opts=["--policy", str(pol)]))
    assert "APP_IS=env\n" in r.stdout, r.stdout
    assert "setenv APP_IS=$APP" in ok(run("policy", "show", str(pol))).stdout
    r = run("run", "--policy", str(pol), "--", "..")
    assert r.returncode == 125 and "$APP" in r.stderr, r.stderr


@pytest.fixture
def session_bus(tmp_path):
    """A dbus-daemon of our own, with org.example.Echo and org.freedesktop.Notifications on it
    (dbus-test-tool echo: an empty reply to any call)."""
    for tool in ("dbus-daemon", "dbus-send", "dbus-test-tool", "xdg-dbus-proxy"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (tests/install-deps installs dbus, "
                        "dbus-tests and xdg-dbus-proxy)")
    rt = tmp_path / "run"
    rt.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(XDG_RUNTIME_DIR=str(rt), DBUS_SESSION_BUS_ADDRESS=f"unix:path={rt}/hostbus")
    procs = [subprocess.Popen(["dbus-daemon", "--session", "--nofork",
                               f"--address={env['DBUS_SESSION_BUS_ADDRESS']}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + WAIT
        while not (rt / "hostbus").exists():
            if time.monotonic() > deadline:
                pytest.skip("dbus-daemon did not start")
            time.sleep(0.05)
        for name in ("org.example.Echo", "org.freedesktop.Notifications"):
            procs.append(subprocess.Popen(["dbus-test-tool", "echo", "--session",
                                           f"--name={name}"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            call = ["dbus-send", "--session", "--print-reply", f"--dest={name}", "/",
                    "org.example.Echo.Ping"]
            while subprocess.run(call, env=env, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    pytest.skip("dbus-test-tool echo did not start")
                time.sleep(0.05)
        yield env
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=WAIT)


PING = ("dbus-send --session --print-reply --dest=org.example.Echo / org.example.Echo.Ping "
        ">/dev/null && echo REACHED")


def test_dbus_talk_reaches_only_the_names_allowed(sh, session_bus):
    rt = session_bus["XDG_RUNTIME_DIR"]
    r = ok(sh(f'echo "$DBUS_SESSION_BUS_ADDRESS"; test -e {rt}/hostbus && echo HOSTBUS; {PING}',
              "--dbus-talk", "org.example.Echo", env=session_bus))
    assert r.stdout == f"unix:path={rt}/bus\nREACHED\n", (r.stdout, r.stderr)
    r = sh(PING, "--dbus-talk", "org.example.Other", env=session_bus)
    assert "REACHED" not in r.stdout and r.returncode != 0, (r.stdout, r.stderr)
    # nothing left on the host: the socket was unlinked once the sandbox held it
    assert sorted(os.listdir(rt)) == ["hostbus"], os.listdir(rt)


def test_dbus_proxy_dies_with_a_killed_launcher_and_leaves_nothing(session_bus):
    rt = session_bus["XDG_RUNTIME_DIR"]
    launcher = subprocess.Popen(
        [run_hutch.__globals__["HUTCH"], "run", "--dbus-talk", "org.example.Echo", "--", "sh",
         "-c", f"{PING}; sleep 60"], env=session_bus, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert launcher.stdout.readline() == "REACHED\n"
        proxies = [pid for pid in os.listdir("/proc") if pid.isdigit() and
                   os.path.exists(f"/proc/{pid}/cmdline") and
                   rt.encode() in open(f"/proc/{pid}/cmdline", "rb").read() and
                   b"xdg-dbus-proxy" in open(f"/proc/{pid}/cmdline", "rb").read()]
        assert len(proxies) == 1, proxies
        assert sorted(os.listdir(rt)) == ["hostbus"], os.listdir(rt)
    finally:
        launcher.kill()
        launcher.wait(timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while os.path.exists(f"/proc/{proxies[0]}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{proxies[0]}"), "xdg-dbus-proxy outlived the launcher"
    assert sorted(os.listdir(rt)) == ["hostbus"], os.listdir(rt)


def test_dbus_talk_needs_a_bus_name(sandbox):
    r = sandbox("true", opts=["--dbus-talk", "not a name"])
    assert r.returncode == 125 and "expected a bus name" in r.stderr, r.stderr


def test_desktop_bus_reaches_notifications_only(sh, session_bus, desktop_env):
    env = dict(desktop_env, XDG_RUNTIME_DIR=session_bus["XDG_RUNTIME_DIR"],
               DBUS_SESSION_BUS_ADDRESS=session_bus["DBUS_SESSION_BUS_ADDRESS"])
    notify = PING.replace("org.example.Echo /", "org.freedesktop.Notifications /")
    r = ok(sh(f"{notify}; {PING} || echo REFUSED", "--policy", "desktop", env=env))
    assert r.stdout == "REACHED\nREFUSED\n", (r.stdout, r.stderr)


def test_display_prefers_wayland_and_binds_its_socket(sh, tmp_path, xvfb):
    import socket
    rt = tmp_path / "run"
    rt.mkdir(mode=0o700)
    (rt / "private").write_text("host\n")  # the rest of the runtime directory stays out
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(rt / "wayland-7"))
    server.listen(1)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(rt), WAYLAND_DISPLAY="wayland-7", DISPLAY=xvfb)
    script = ('echo "${DISPLAY-no X11}"; ls "$XDG_RUNTIME_DIR"; python3 -c "import os, socket; '
              "socket.socket(socket.AF_UNIX).connect(os.environ['XDG_RUNTIME_DIR'] + '/' + "
              "os.environ['WAYLAND_DISPLAY']); print('CONNECTED')\"")
    try:
        r = ok(sh(script, "--display", env=env))
    finally:
        server.close()
    assert r.stdout == "no X11\nwayland-7\nCONNECTED\n", (r.stdout, r.stderr)


def test_display_binds_the_x_authority_file(sh, tmp_path, xvfb):
    cookie = tmp_path / "cookie"
    cookie.write_text("magic\n")
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env.update(DISPLAY=xvfb, XAUTHORITY=str(cookie))
    r = ok(sh('echo "$XAUTHORITY"; cat "$XAUTHORITY"; echo x > "$XAUTHORITY" || echo RO',
              "--display", env=env))
    assert r.stdout == "/tmp/.Xauthority\nmagic\nRO\n", (r.stdout, r.stderr)


def test_audio_binds_the_sound_sockets_that_exist(sh, tmp_path):
    import socket
    rt = tmp_path / "run"
    (rt / "pulse").mkdir(parents=True, mode=0o700)
    (rt / "keyring").write_text("secret\n")
    server = socket.socket(socket.AF_UNIX)  # PulseAudio's socket only: no PipeWire here
    server.bind(str(rt / "pulse" / "native"))
    server.listen(1)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(rt))
    script = ('ls -A "$XDG_RUNTIME_DIR"; python3 -c "import os, socket; '
              "socket.socket(socket.AF_UNIX).connect(os.environ['XDG_RUNTIME_DIR'] + "
              "'/pulse/native'); print('CONNECTED')\"")
    try:
        r = ok(sh(script, "--audio", env=env))
    finally:
        server.close()
    assert r.stdout == "pulse\nCONNECTED\n", (r.stdout, r.stderr)


def test_display_works_with_the_hosts_network_too(sh, desktop_env):
    """With --share-net the host's abstract X11 socket is in sight but Landlock refuses it, and
    libxcb would stop there: the display gets a number inside whose abstract name is free."""
    if not shutil.which("xdpyinfo"):
        pytest.skip("xdpyinfo is not installed (x11-utils)")
    for opts in (["--display"], ["--display", "--share-net"]):
        r = ok(sh("xdpyinfo >/dev/null && echo OPENED", *opts, env=desktop_env))
        assert r.stdout == "OPENED\n", (opts, r.stdout, r.stderr)
