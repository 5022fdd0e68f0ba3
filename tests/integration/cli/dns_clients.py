#!/usr/bin/python3
"""dns_clients.py DNS_PORT NAME HTTP_PORT - clients of a weighted name.

Until killed: ask the authoritative server on 127.0.0.1:DNS_PORT for NAME's
A record (one UDP question, no cache: every request is a fresh client),
then GET / from the address it answered, port HTTP_PORT, on a new
connection.  What the DNS weights request is what the backends then see.
The DNS message is the minimal question of RFC 1035 §4.1; the answer's
first A record is read from its fixed layout (a test tool, not a resolver).
"""
import http.client
import os
import socket
import struct
import sys


def question(name, qid):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def first_a(reply, qlen):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    pos = qlen  # the question is echoed as sent
    for _ in range(an):
        if reply[pos] & 0xC0 == 0xC0:
            pos += 2
        else:
            while reply[pos]:
                pos += reply[pos] + 1
            pos += 1
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", reply[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(reply[pos:pos + 4])
        pos += rdlen
    return None


def main():
    dns_port, name, http_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", dns_port))
    qid = os.getpid() & 0xFFFF
    while True:
        qid = (qid + 1) & 0xFFFF
        q = question(name, qid)
        try:
            s.send(q)
            addr = first_a(s.recv(4096), len(q))
        except (socket.timeout, OSError, struct.error, IndexError):
            continue
        if not addr:
            continue
        try:
            c = http.client.HTTPConnection(addr, http_port, timeout=2)
            c.request("GET", "/")
            c.getresponse().read()
            c.close()
        except OSError:
            pass


if __name__ == "__main__":
    main()
