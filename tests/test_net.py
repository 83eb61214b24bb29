"""--net none|slirp|host: the user-mode network (src/slirp.c, src/tap.c),
its DNS and /etc/resolv.conf, the host-loopback rule, errors and teardown.
Real traffic only to servers this test starts on 127.0.0.1."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import HUTCH, error_lines, ok
from nethelp import DnsServer, TcpServer, free_port, listening

# A client run inside: connect to HOST:PORT, print what came back or the
# error's name and errno. A refusal that comes back (a TCP reset:
# ConnectionRefusedError; an ICMP unreachable: OSError 113) is told apart from
# one that never does (a dropped SYN: TimeoutError, after the 10 s) by the
# error alone, with no clock.
CONNECT = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    print("GOT", s.recv(100).decode().strip())
except OSError as e:
    print("ERR", type(e).__name__, e.errno)
"""


def connect(sandbox, host, port, *opts):
    r = sandbox("python3", "-c", CONNECT, host, str(port), opts=opts)
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
    return r, lines


@pytest.fixture
def server():
    s = TcpServer()
    yield s
    s.close()


def test_default_has_no_route_out(sandbox, server):
    r, out = connect(sandbox, "10.0.2.2", server.port)
    assert out.get("ERR") == "OSError 101", r.stdout + r.stderr  # ENETUNREACH: no route
    assert server.accepted == 0


def test_slirp_interface(sh):
    r = ok(sh("ip -o addr show tap0; ip -o link show tap0; ip route; "
              "ip -6 route; cat /etc/resolv.conf", "--net", "slirp"))
    assert "10.0.2.100/24" in r.stdout
    assert "fd00::100/64" in r.stdout
    assert "mtu 65520" in r.stdout
    assert "default via 10.0.2.2 dev tap0" in r.stdout
    assert "default via fd00::2 dev tap0" in r.stdout
    assert "nameserver 10.0.2.3" in r.stdout


def test_resolv_conf_of_the_host_untouched(sh):
    before = open("/etc/resolv.conf").read()
    ok(sh("cat /etc/resolv.conf", "--net", "slirp"))
    assert open("/etc/resolv.conf").read() == before


def test_host_loopback_refused_by_default(sandbox, server):
    r, out = connect(sandbox, "10.0.2.2", server.port, "--net", "slirp")
    # refused by a reset from slirp, not a SYN left unanswered (TimeoutError)
    assert out.get("ERR") == "ConnectionRefusedError 111", r.stdout + r.stderr
    assert server.accepted == 0


def test_host_loopback_with_allow(sandbox, server):
    r, out = connect(sandbox, "10.0.2.2", server.port, "--net", "slirp",
                     "--allow-host-loopback")
    assert out.get("GOT") == "hello from the host", r.stdout + r.stderr
    assert server.accepted == 1


def test_host_loopback_ipv6(sandbox):
    s = TcpServer(family=__import__("socket").AF_INET6)
    try:
        r, out = connect(sandbox, "fd00::2", s.port, "--net", "slirp",
                         "--allow-host-loopback")
        assert out.get("GOT") == "hello from the host", r.stdout + r.stderr
    finally:
        s.close()


def test_share_net_is_net_host(sh):
    host = os.readlink("/proc/self/ns/net")
    r = ok(sh("readlink /proc/self/ns/net", "--net", "host"))
    assert r.stdout.strip() == host


def test_dns_through_slirp_to_local_server(sh):
    dns = DnsServer({"box.hutch.test": "10.0.2.2"})
    try:
        # the first query of a sandbox gets its answer the first time: that
        # lookup once lost its answer (libslirp's clock was read after the
        # first frames came in) and only the resolver's retry, 5 s on, got
        # one. ahostsv4 asks one question (A); attempts:1 takes the retry
        # away, so a lost query or answer fails the lookup (rc 2)
        r = ok(sh("RES_OPTIONS=attempts:1 getent ahostsv4 box.hutch.test", "--net", "slirp",
                  "--dns", f"127.0.0.1:{dns.port}"))
        assert r.stdout.split()[0] == "10.0.2.2"
        # ...and the server saw that question once: no resend reached it
        assert len(dns.queries) == 1 and b"\x03box\x05hutch\x04test" in dns.queries[0], \
            dns.queries
        r = sh("getent hosts nothere.hutch.test", "--net", "slirp", "--dns",
               f"127.0.0.1:{dns.port}")
        assert r.returncode == 2
    finally:
        dns.close()


@pytest.mark.parametrize("opt", [["--publish", "8080:80"], ["--allow-net", "10.0.0.0/8"],
                                 ["--allow-host-loopback"], ["--dns", "127.0.0.1"]])
def test_slirp_options_need_slirp(sandbox, opt):
    r = sandbox("true", opts=opt)
    assert r.returncode == 125
    assert "--net slirp" in r.stderr


def test_bad_net_mode(sandbox):
    r = sandbox("true", opts=["--net", "bridge"])
    assert r.returncode == 125
    assert error_lines(r.stderr) == [
        "hutch: --net 'bridge': expected none, slirp or host"]


def unshare_problem():
    if not shutil.which("unshare"):
        return "unshare is missing"
    r = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    return None if r.returncode == 0 else "unshare -Urm does not work here"


@pytest.mark.parametrize("cover,word", [
    ("mount -t tmpfs none /dev/net", "missing"),
    # /etc/shadow belongs to an id that is unmapped in this namespace: not
    # even root inside may open it, like a /dev/net/tun with mode 0600
    ("mount --bind /etc/shadow /dev/net/tun", "cannot open"),
])
def test_tun_unusable_is_a_clear_error(userns, cover, word):
    why = unshare_problem()
    if why:
        pytest.skip(why)
    r = subprocess.run(["unshare", "-Urm", "sh", "-c",
                        f"{cover} && exec {HUTCH} run --net slirp -- true"],
                       capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 125, r.stderr
    (line,) = error_lines(r.stderr)
    assert "/dev/net/tun" in line and word in line
    assert "0666" in line and "ls -l /dev/net/tun" in line


def sandbox_init(pid):
    """The sandbox's init under hutch (named hutch-init once it runs); not the id
    keeper, which a first run starts as its child, nor the short-lived helpers
    that start either."""
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()
            if line.split()[1:] == ["hutch-init"]]


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_nothing_left_after_exit(userns, how):
    port = free_port()
    p = subprocess.Popen([HUTCH, "run", "--net", "slirp", "-p", f"{port}:80",
                          "--", "sleep", "30"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if listening(port):
                break
            time.sleep(0.05)
        assert listening(port), "the published port never listened"
        # The port listens before the sandbox is cloned (a first run also starts the
        # id keeper in between): wait for the init.
        for _ in range(100):
            init = sandbox_init(p.pid)
            if init:
                break
            time.sleep(0.05)
        assert init
        if how == "exit":
            p.send_signal(signal.SIGTERM)
        else:
            p.kill()
        p.wait(timeout=10)
        for _ in range(100):
            if not any(os.path.exists(f"/proc/{i}") for i in init):
                break
            time.sleep(0.05)
        assert not any(os.path.exists(f"/proc/{i}") for i in init)
        assert not listening(port)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


FLOOD = """
import socket, sys
s = socket.create_connection(("10.0.2.2", int(sys.argv[1])), timeout=10)
try:
    for _ in range(2000):
        s.sendall(b"x" * 65536)
except OSError as e:
    print("peer gone:", type(e).__name__)
print("done")
"""


def test_peer_closing_mid_stream_does_not_kill_the_monitor(sandbox):
    # libslirp then writes to a socket whose peer has gone: an EPIPE it must
    # see as an error, not a SIGPIPE that ends hutch and the whole sandbox
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def close_soon():
        # read for a while, like iperf3's server, then close with data unread
        c, _ = srv.accept()
        end = time.time() + 0.3
        while time.time() < end:
            c.recv(65536)
        c.close()
    t = threading.Thread(target=close_soon, daemon=True)
    t.start()
    try:
        r = sandbox("python3", "-c", FLOOD, str(srv.getsockname()[1]),
                    opts=["--net", "slirp", "--allow-host-loopback"])
    finally:
        srv.close()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "done" in r.stdout
