#!/bin/sh
# make-seeds.sh - (re)makes the seed corpora of tests/fuzz/corpus from real
# components on this machine; run by hand (as root, from the top folder)
# when a parser's input format changes, then commit the files.  Not a test.
#
#   probe       probe.sh's real output here, in probe and egress mode
#   haproxy     HAProxy 2.6's runtime API replies (show stat, get weight,
#               set weight, an unknown command, an unknown server), from a
#               private haproxy on 127.0.0.1:16650 and a unix socket
#   prometheus  a private Prometheus's replies to good and bad queries
#               (tests/integration/prom/prom.sh starts it)
#   dns         Knot's answers to A/AAAA questions for www.shop.test (found,
#               no such name, outside the zone), and to UPDATEs: unsigned,
#               and signed with an unknown key (BADKEY), from a private
#               knotd (tests/integration/dns/knot.sh)
# Seeds from the unit tests and the plans are checked in by hand.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
c=$top/tests/fuzz/corpus
. "$top/tests/lib.sh"

# --- probe ---------------------------------------------------------------
FERRY_MODE=probe FERRY_SALT=00ff FERRY_PROCESS=sshd FERRY_PACKAGES="libc6 haproxy nosuchpkg" \
	sh "$top/src/hosts/probe.sh" >"$c/probe/real-probe.txt"
FERRY_MODE=egress FERRY_EGRESS="127.0.0.1:16600 payments.shop.test:443" FERRY_EGRESS_TIMEOUT=1 \
	sh "$top/src/hosts/probe.sh" >"$c/probe/real-egress.txt" || true

# --- haproxy -------------------------------------------------------------
d=$(mktemp -d /tmp/ferry-seeds.XXXXXX)
hp=
cleanup() {
	[ -n "$hp" ] && stop_pid "$hp"
	rm -rf "$d"
}
trap cleanup EXIT
cat >"$d/h.cfg" <<EOF
global
	stats socket $d/admin.sock mode 600 level admin
defaults
	mode http
	timeout connect 1s
	timeout client 5s
	timeout server 5s
frontend web
	bind 127.0.0.1:16650
	default_backend app
backend app
	server old 127.0.0.1:16651 weight 100
	server new 127.0.0.1:16652 weight 0
EOF
haproxy -f "$d/h.cfg" -db &
hp=$!
wait_for 10 test -S "$d/admin.sock"
api() { echo "$1" | socat - "UNIX-CONNECT:$d/admin.sock"; }
api "show stat" >"$c/haproxy/real-show-stat.txt"
api "show stat -1 4 -1" >"$c/haproxy/real-show-stat-servers.txt"
api "get weight app/new" >"$c/haproxy/real-get-weight.txt"
api "set weight app/new 10" >"$c/haproxy/real-set-weight.txt"
api "set weight app/nosuch 10" >"$c/haproxy/real-no-such-server.txt"
api "show nothing" >"$c/haproxy/real-unknown-command.txt"

# --- prometheus ----------------------------------------------------------
cat >"$d/prom.sh" <<'EOF'
#!/bin/sh
set -eu
q() { curl -s --max-time 5 "$FERRY_TEST_PROM_URL/api/v1/query" --data-urlencode "query=$1"; }
q 'up{job="self"}' >"$1/real-vector.json"
q 'scalar(up{job="self"})' >"$1/real-scalar.json"
q 'up{job="nosuch"}' >"$1/real-empty.json"
q 'up{job="self"}[5s]' >"$1/real-matrix.json"
q '"text"' >"$1/real-string.json"
q 'sum(' >"$1/real-bad-data.json"
q 'vector(1) / vector(0)' >"$1/real-inf.json"
EOF
chmod +x "$d/prom.sh"
sh "$top/tests/integration/prom/prom.sh" "$d/prom.sh" "$c/prometheus"

# --- dns -----------------------------------------------------------------
cat >"$d/dns.py" <<'EOF'
# Knot's answers, as bytes: queries and updates are put together here by
# hand (RFC 1035 §4.1, RFC 2136 §2, RFC 8945 §4.2); the answers are Knot's.
import random, socket, struct, sys
port, out = int(sys.argv[1]), sys.argv[2]

def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l) + b"\0"

def ask(msg, tcp, path):
    if tcp:
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.sendall(struct.pack("!H", len(msg)) + msg)
        n = struct.unpack("!H", s.recv(2))[0]
        data = b""
        while len(data) < n:
            data += s.recv(n - len(data))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(msg, ("127.0.0.1", port))
        data = s.recv(65535)
    open(out + "/" + path, "wb").write(data)

def query(qname, qtype, path, rd=0):
    hdr = struct.pack("!HHHHHH", random.randrange(65536), rd << 8, 1, 0, 0, 0)
    ask(hdr + name(qname) + struct.pack("!HH", qtype, 1), False, path)

query("www.shop.test", 1, "knot-a.bin")
query("www.shop.test", 28, "knot-aaaa-nodata.bin")
query("nosuch.shop.test", 1, "knot-nxdomain.bin")
query("www.other.test", 1, "knot-refused.bin")
query("www.shop.test", 1, "knot-a-rd.bin", rd=1)

def update(path, tsig=b""):
    # zone shop.test, prerequisite: the apex SOA exists (class ANY)
    hdr = struct.pack("!HHHHHH", random.randrange(65536), 5 << 11, 1, 1, 0, 1 if tsig else 0)
    zone = name("shop.test") + struct.pack("!HH", 6, 1)
    pre = name("shop.test") + struct.pack("!HHIH", 6, 255, 0, 0)
    ask(hdr + zone + pre + tsig, True, path)

update("knot-update-unsigned.bin")
mac = bytes(32)
rdata = name("hmac-sha256") + struct.pack("!HIH", 0, 0x60000000, 300) + \
    struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", 4242, 0, 0)
tsig = name("no-such-key") + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
update("knot-update-badkey.bin", tsig)
EOF
cat >"$d/dns.sh" <<EOF
#!/bin/sh
exec python3 "$d/dns.py" "\$FERRY_TEST_DNS_PORT" "$c/dns"
EOF
chmod +x "$d/dns.sh"
sh "$top/tests/integration/dns/knot.sh" "$d/dns.sh"
ls -l "$c"/*
