"""Tests that prove a refusal, run where a bug would have nowhere to go: a
network namespace of the test's own (`unshare -Urn`, so the test user needs
no privileges), whose loopback also carries 192.0.2.0/24 (TEST-NET-1) for
stand-in services of "the outside". hutch runs inside it, so its monitor's
sockets are that namespace's: a packet the product wrongly lets through
reaches a stand-in there, and nothing can leave the machine.

run_in_netns(SCENARIO, addrs=...) runs the Python code SCENARIO in such a
namespace with these names defined: `hutch(*args, timeout=30)` (runs the
binary under test, returns a CompletedProcess), the server classes of
nethelp.py, `UdpSink` and `TcpSink` (listeners that count what reaches them),
and `result`, a dict the scenario fills; its JSON comes back to the test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HUTCH

HERE = Path(__file__).resolve().parent

RUNNER = r"""
import json, os, socket, subprocess, sys, threading, time
sys.path.insert(0, sys.argv[1])
import nethelp

def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)

sh("ip link set lo up")
sh("ip addr add 192.0.2.1/24 dev lo")
for a in json.loads(sys.argv[3]):
    sh("ip addr add %s dev lo" % a)

class UdpSink:
    # counts datagrams to HOST:PORT (PORT 0: a free one)
    def __init__(self, host="127.0.0.1", port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.got = []
        threading.Thread(target=self._serve, daemon=True).start()
    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            self.got.append(data.decode(errors="replace"))

class TcpSink(nethelp.TcpServer):
    # counts connections to HOST:PORT
    def __init__(self, host="127.0.0.1", port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reply = b"stand-in\n"
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

def hutch(*args, timeout=30):
    return subprocess.run([sys.argv[2], *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)

result = {}
code = open(sys.argv[4]).read()
exec(compile(code, "scenario", "exec"))
time.sleep(0.3)  # a datagram in flight reaches its sink
print("RESULT " + json.dumps(result, default=str))
"""


def netns_problem():
    r = subprocess.run(["unshare", "-Urn", "ip", "link", "set", "lo", "up"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot make a network namespace of our own: {r.stderr.strip()}"
    return None


def run_in_netns(scenario, tmp_path, addrs=(), timeout=60):
    """Run SCENARIO (Python source) in a fresh user+network namespace; its
    `result` dict. Fails the test with the output when it does not report."""
    why = netns_problem()
    if why:
        pytest.skip(why)
    code = tmp_path / "scenario.py"
    code.write_text(scenario)
    r = subprocess.run(["unshare", "-Urn", sys.executable, "-c", RUNNER, str(HERE),
                        HUTCH, json.dumps(list(addrs)), str(code)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    pytest.fail(f"the scenario reported nothing (exit {r.returncode}):\n"
                f"{r.stdout}\n{r.stderr}")
