"""--allow-net (src/allow.c, src/frame.c): the egress allowlist. Listed
CIDR:PORT works, everything else is refused at once (TCP reset, ICMP
unreachable for UDP); hostname rules open only addresses that the sandbox
resolved through its DNS. Every server is on the host's 127.0.0.1, reached
from inside through the gateway 10.0.2.2 (hence --allow-host-loopback)."""

import shlex

import pytest

from conftest import error_lines
from nethelp import DnsServer, TcpServer
from test_net import connect

# A datagram to HOST:PORT on a connected socket, so that an ICMP error for it
# comes back as the next recv's error (OSError 113, EHOSTUNREACH); a datagram
# dropped without one would be a TimeoutError after the 5 s.
UDP_PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.connect((sys.argv[1], int(sys.argv[2]))); s.send(b"x")
try:
    s.recv(10); print("GOT")
except OSError as e:
    print("ERR", type(e).__name__, e.errno)
"""

# One DNS question (A, recursion desired) for NAME over UDP to slirp's DNS,
# 10.0.2.3: prints the answer's rcode, or the error (TimeoutError after 10 s
# when no answer comes).
DNS_PROBE = """
import socket, struct, sys
q = struct.pack("!HHHHHH", 0x4854, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in sys.argv[1].split(".")) + b"\\0"
q += struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(q, ("10.0.2.3", 53))
try:
    a = s.recv(4096)
    print("RCODE", a[3] & 15 if len(a) > 3 and a[:2] == q[:2] else "bad answer %r" % a)
except OSError as e:
    print("ERR", type(e).__name__, e.errno)
"""


@pytest.fixture
def servers():
    a, b = TcpServer(b"allowed\n"), TcpServer(b"other\n")
    yield a, b
    a.close()
    b.close()


def base(*rules):
    opts = ["--net", "slirp", "--allow-host-loopback"]
    for r in rules:
        opts += ["--allow-net", r]
    return opts


def test_listed_port_allowed_other_port_reset(sandbox, servers):
    a, b = servers
    r, out = connect(sandbox, "10.0.2.2", a.port, *base(f"10.0.2.2:{a.port}"))
    assert out.get("GOT") == "allowed", r.stdout + r.stderr
    r, out = connect(sandbox, "10.0.2.2", b.port, *base(f"10.0.2.2:{a.port}"))
    # a reset at once, not a SYN dropped (TimeoutError after the client's 10 s)
    assert out.get("ERR") == "ConnectionRefusedError 111", r.stdout + r.stderr
    assert b.accepted == 0


def test_cidr_rule_without_port(sandbox, servers):
    a, b = servers
    for s in servers:
        r, out = connect(sandbox, "10.0.2.2", s.port, *base("10.0.2.0/24"))
        assert "GOT" in out, r.stdout + r.stderr


def test_unlisted_network_refused(sandbox, servers):
    a, _ = servers
    r, out = connect(sandbox, "10.0.2.2", a.port, *base("192.0.2.0/24"))
    assert out.get("ERR") == "ConnectionRefusedError 111", r.stdout + r.stderr
    assert a.accepted == 0


def test_udp_gets_icmp_unreachable(sandbox):
    r = sandbox("python3", "-c", UDP_PROBE, "10.0.2.2", "9", opts=base("10.0.2.2:53"))
    out = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
    # EHOSTUNREACH: the ICMP "administratively prohibited" that refused it
    assert out.get("ERR") == "OSError 113", r.stdout + r.stderr


def connect_client(port):
    """A shell command that prints what 10.0.2.2:PORT says, or 'refused'."""
    return "python3 -c " + shlex.quote(
        "import socket\n"
        "try: print(socket.create_connection(('10.0.2.2', %d), 5).recv(99).decode().strip())\n"
        "except OSError: print('refused')" % port)


def test_hostname_rule_needs_a_lookup(sh, servers):
    a, _ = servers
    dns = DnsServer({"mirror.hutch.test": "10.0.2.2", "other.hutch.test": "10.0.2.2"})
    client = connect_client(a.port)
    try:
        opts = base(f"mirror.hutch.test:{a.port}") + ["--dns", f"127.0.0.1:{dns.port}"]
        # before any lookup the address is not allowed; after resolving a
        # name that no rule lists, still not; after resolving the listed one, it is
        r = sh(f"{client}; getent hosts other.hutch.test >/dev/null; {client}; "
               f"getent hosts mirror.hutch.test; {client}", *opts)
        lines = r.stdout.splitlines()
        assert lines[0] == "refused" and lines[1] == "refused", r.stdout + r.stderr
        assert lines[2].split()[0] == "10.0.2.2"
        assert lines[3] == "allowed", r.stdout + r.stderr
        # DNS itself is limited to the listed names: the question about
        # other.hutch.test never left the sandbox
        assert dns.queries and not any(b"\x05other" in q for q in dns.queries)
    finally:
        dns.close()


def test_dns_limited_to_listed_names(sh):
    dns = DnsServer({"mirror.hutch.test": "10.0.2.2", "other.hutch.test": "10.0.2.2"})
    try:
        opts = ["--net", "slirp", "--allow-net", "mirror.hutch.test:443",
                "--dns", f"127.0.0.1:{dns.port}"]
        r = sh("getent hosts mirror.hutch.test; echo rc=$?; "
               "getent hosts other.hutch.test; echo rc=$?; "
               "python3 -c " + shlex.quote(DNS_PROBE) + " other.hutch.test", *opts)
        lines = r.stdout.splitlines()
        assert lines[0].split()[0] == "10.0.2.2" and lines[1] == "rc=0", r.stdout + r.stderr
        assert lines[2] == "rc=2", r.stdout + r.stderr
        # hutch answers the question itself: REFUSED (rcode 5). One dropped
        # instead goes unanswered: TimeoutError after the probe's 10 s
        assert lines[3] == "RCODE 5", r.stdout + r.stderr
        assert not any(b"\x05other" in q for q in dns.queries)
    finally:
        dns.close()


def test_hostname_rule_learns_from_dns_over_tcp(sh, servers):
    # glibc's resolver with use-vc asks over TCP (A and AAAA on one connection),
    # and every answer comes back split across three segments
    a, _ = servers
    dns = DnsServer({"mirror.hutch.test": "10.0.2.2"}, tcp=True)
    client = connect_client(a.port)
    try:
        opts = base(f"mirror.hutch.test:{a.port}") + ["--dns", f"127.0.0.1:{dns.port}"]
        r = sh(f"{client}; RES_OPTIONS=use-vc getent hosts mirror.hutch.test; {client}", *opts)
        lines = r.stdout.splitlines()
        assert lines[0] == "refused", r.stdout + r.stderr
        assert lines[1].split()[0] == "10.0.2.2", r.stdout + r.stderr
        assert lines[2] == "allowed", r.stdout + r.stderr
        assert dns.tcp_queries and not dns.queries, "the lookup must have gone over TCP"
    finally:
        dns.close()


# A client of DNS over TCP that sends each query in three segments (the length
# alone, then the message in two), two queries on one connection.
TCP_DNS_CLIENT = """
import socket, struct, sys, time
def query(name, qid):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\\0"
    return q + struct.pack("!HH", 1, 1)
def read(s, n):
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c:
            raise EOFError
        d += c
    return d
s = socket.create_connection(("10.0.2.3", 53), 5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i, name in enumerate(sys.argv[1:]):
    q = query(name, i + 1)
    try:
        for piece in (struct.pack("!H", len(q)), q[:7], q[7:]):
            s.sendall(piece)
            time.sleep(0.05)
        a = read(s, struct.unpack("!H", read(s, 2))[0])
        print(name, socket.inet_ntoa(a[-4:]))
    except (OSError, EOFError) as e:
        print(name, "refused", type(e).__name__)
        break
"""


def test_dns_over_tcp_limited_to_listed_names(sandbox):
    # the first question (listed) is answered; the second (not listed) resets
    # the connection before the segment that completes it goes on, so the
    # server never receives it whole
    dns = DnsServer({"mirror.hutch.test": "10.0.2.2", "other.hutch.test": "10.0.2.2"},
                    tcp=True)
    try:
        opts = ["--net", "slirp", "--allow-net", "mirror.hutch.test:443",
                "--dns", f"127.0.0.1:{dns.port}"]
        r = sandbox("python3", "-c", TCP_DNS_CLIENT, "mirror.hutch.test", "other.hutch.test",
                    opts=opts)
        lines = r.stdout.splitlines()
        assert lines[0] == "mirror.hutch.test 10.0.2.2", r.stdout + r.stderr
        assert lines[1].startswith("other.hutch.test refused"), r.stdout + r.stderr
        assert len(dns.tcp_queries) == 1 and b"\x06mirror" in dns.tcp_queries[0]
    finally:
        dns.close()


def test_dns_over_tcp_empty_message_refused(sandbox):
    # a zero-length message, with a question behind it in the same segment: no
    # question about a listed name, so the connection is reset (and the
    # monitor does not spin on the empty message)
    dns = DnsServer({"mirror.hutch.test": "10.0.2.2"}, tcp=True)
    client = (
        "import socket, struct\n"
        "q = struct.pack('!HHHHHH', 1, 0x0100, 1, 0, 0, 0)"
        " + b'\\6mirror\\5hutch\\4test\\0' + struct.pack('!HH', 1, 1)\n"
        "s = socket.create_connection(('10.0.2.3', 53), 5)\n"
        "s.sendall(b'\\0\\0' + struct.pack('!H', len(q)) + q)\n"
        "try: print('got', s.recv(10))\n"
        "except OSError as e: print('refused', type(e).__name__)\n")
    try:
        r = sandbox("python3", "-c", client, timeout=20,
                    opts=["--net", "slirp", "--allow-net", "mirror.hutch.test:443",
                          "--dns", f"127.0.0.1:{dns.port}"])
        assert r.stdout.startswith("refused ConnectionResetError"), r.stdout + r.stderr
        assert not dns.tcp_queries
    finally:
        dns.close()


@pytest.mark.parametrize("rule,why", [
    ("exa mple.com:99999", "port out of range"),
    ("example.com:0", "port out of range"),
    ("10.0.0.0/33", "prefix length out of range"),
    ("exa mple.com", "not a CIDR (10.0.0.0/8), an address or a hostname"),
    ("[::1", "not a CIDR (10.0.0.0/8), an address or a hostname"),
])
def test_bad_rules(sandbox, rule, why):
    r = sandbox("true", opts=["--net", "slirp", "--allow-net", rule])
    assert r.returncode == 125
    assert error_lines(r.stderr) == [f"hutch: --allow-net '{rule}': {why}"]
