"""-p/--publish (src/publish.c): host 127.0.0.1:HOSTPORT reaches a server in
the sandbox, TCP and UDP; a port in use and bad specs are clear errors."""

import socket
import subprocess
import time

import pytest

from conftest import HUTCH, error_lines
from nethelp import free_port, listening

TCP_SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8000)); s.listen(1)
print("ready", flush=True)
c, peer = s.accept(); c.sendall(b"served from inside"); c.close()
"""

UDP_SERVER = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 8001))
print("ready", flush=True)
data, peer = s.recvfrom(100); s.sendto(b"echo " + data, peer)
"""


def start(opts, script):
    p = subprocess.Popen([HUTCH, "run", "--net", "slirp", *opts, "--",
                          "python3", "-c", script], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.strip() == "ready", p.stderr.read() if p.poll() is not None else line
    return p


def finish(p):
    try:
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_publish_tcp(userns):
    port = free_port()
    p = start(["-p", f"{port}:8000"], TCP_SERVER)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            assert c.recv(100) == b"served from inside"
    finally:
        finish(p)
    assert p.returncode == 0
    assert not listening(port)


def test_publish_udp(userns):
    port = free_port(socket.SOCK_DGRAM)
    p = start(["--publish", f"127.0.0.1:{port}:8001/udp"], UDP_SERVER)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(10)
            c.sendto(b"ping", ("127.0.0.1", port))
            assert c.recvfrom(100)[0] == b"echo ping"
    finally:
        finish(p)
    assert p.returncode == 0


TCP6_SERVER = TCP_SERVER.replace("socket.socket()", "socket.socket(socket.AF_INET6)").replace(
    '"0.0.0.0"', '"::"')


def test_publish_ipv6_loopback(userns):
    port = free_port(host="::1")
    p = start(["-p", f"[::1]:{port}:8000"], TCP6_SERVER)
    try:
        with socket.create_connection(("::1", port), timeout=10) as c:
            assert c.recv(100) == b"served from inside"
    finally:
        finish(p)
    assert p.returncode == 0
    assert not listening(port, "::1")


def test_port_in_use_is_an_error_before_the_command(sandbox, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = sandbox("sh", "-c", "echo started", opts=["--net", "slirp", "-p", f"{port}:80"])
    finally:
        busy.close()
    assert r.returncode == 125
    assert "started" not in r.stdout
    (line,) = error_lines(r.stderr)
    assert f"127.0.0.1:{port}:80/tcp" in line and "Address already in use" in line


@pytest.mark.parametrize("spec,why", [
    ("80", "expected [ADDR:]HOSTPORT:PORT[/tcp|/udp]"),
    ("70000:80", "port out of range"),
    ("8080:0", "port out of range"),
    ("8080:80/sctp", "protocol must be tcp or udp"),
    ("nohost:8080:80", "'nohost' is not an IP address"),
])
def test_bad_publish(sandbox, spec, why):
    r = sandbox("true", opts=["--net", "slirp", "-p", spec])
    assert r.returncode == 125
    assert error_lines(r.stderr) == [f"hutch: --publish '{spec}': {why}"]
