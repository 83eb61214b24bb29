"""Servers on 127.0.0.1 for the network tests (tests/test_net.py,
test_publish.py, test_allow_net.py): they run in threads of the test process,
so nothing outlives a test. Nothing here talks to any address outside
127.0.0.0/8 and ::1."""

import socket
import struct
import threading
import time


class TcpServer:
    """Accepts on 127.0.0.1 (or ::1), answers every connection with REPLY."""

    def __init__(self, reply=b"hello from the host\n", family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with c:
                try:
                    c.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET if ":" not in host else socket.AF_INET6, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dns_answer(query, records):
    """A DNS response to QUERY (bytes) from RECORDS {name: "a.b.c.d"}: one A
    record for a known name, NXDOMAIN otherwise. Written by hand (dnslib is
    not available): header, the question copied, one answer pointing at it."""
    qid, flags = struct.unpack("!HH", query[:4])
    i, labels = 12, []
    while query[i]:
        n = query[i]
        labels.append(query[i + 1:i + 1 + n].decode().lower())
        i += 1 + n
    qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
    question = query[12:i + 5]
    name = ".".join(labels)
    addr = records.get(name)
    rd = flags & 0x0100
    if addr is None or qtype != 1:
        rcode = 0 if addr is not None else 3
        return struct.pack("!HHHHHH", qid, 0x8080 | rd | rcode, 1, 0, 0, 0) + question
    answer = (struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) +
              socket.inet_aton(addr))
    return (struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 1, 0, 0) + question +
            answer)


class DnsServer:
    """A DNS server on 127.0.0.1 that knows RECORDS; keeps the queries it got.
    With tcp=True it also answers over TCP on the same port (RFC 7766: a 2-byte
    length before each message, several per connection), and each TCP answer
    is sent in three pieces with pauses between them, so that it reaches the
    sandbox split across segments (the length alone, then the message in two)."""

    def __init__(self, records, tcp=False):
        self.records = records
        self.queries = []
        self.tcp_queries = []
        for _ in range(20):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            if not tcp:
                break
            self.tsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.tsock.bind(("127.0.0.1", self.port))
                break
            except OSError:  # that port is taken for TCP: try another
                self.tsock.close()
                self.sock.close()
        threading.Thread(target=self._serve, daemon=True).start()
        if tcp:
            self.tsock.listen(8)
            threading.Thread(target=self._accept, daemon=True).start()
        self.tcp = tcp

    def _serve(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.queries.append(q)
                self.sock.sendto(dns_answer(q, self.records), peer)
            except (IndexError, struct.error, OSError, UnicodeDecodeError):
                pass

    def _accept(self):
        while True:
            try:
                c, _ = self.tsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_tcp, args=(c,), daemon=True).start()

    @staticmethod
    def _read(c, n):
        data = b""
        while len(data) < n:
            chunk = c.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve_tcp(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c:
            try:
                while True:
                    q = self._read(c, struct.unpack("!H", self._read(c, 2))[0])
                    self.tcp_queries.append(q)
                    a = dns_answer(q, self.records)
                    for piece in (struct.pack("!H", len(a)), a[:20], a[20:]):
                        c.sendall(piece)
                        time.sleep(0.05)
            except (EOFError, IndexError, struct.error, OSError, UnicodeDecodeError):
                pass

    def close(self):
        self.sock.close()
        if self.tcp:
            self.tsock.close()


def listening(port, host="127.0.0.1"):
    """True when something accepts TCP connections on HOST:PORT."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0
