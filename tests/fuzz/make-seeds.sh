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
#   powerdns    a real pdns_server's API replies (tests/integration/dns/
#               pdns.sh): a zone, a name's rrsets (plain, several types, a
#               CNAME, a LUA split as ferry writes it, a disabled record,
#               none), the cache flush, and the errors 401, 404 and 422
#   route53     the tests' fake Route 53's replies (tests/integration/dns/
#               route53.sh), each request signed by botocore: the hosted
#               zone, record sets (plain, weighted, a truncated page), a
#               change and GetChange (PENDING, INSYNC), and the errors
#               InvalidChangeBatch, AccessDenied, SignatureDoesNotMatch,
#               NoSuchHostedZone, NoSuchChange
# Seeds from the unit tests, the plans and AWS's documented examples
# (route53/aws-*.xml) are checked in by hand.
#
# make-seeds.sh [SECTION...] remakes only the sections named.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
c=$top/tests/fuzz/corpus
. "$top/tests/lib.sh"
sections=${*:-probe haproxy prometheus dns powerdns route53}
want() { case " $sections " in *" $1 "*) return 0 ;; esac; return 1; }

# --- probe ---------------------------------------------------------------
if want probe; then
FERRY_MODE=probe FERRY_SALT=00ff FERRY_PROCESS=sshd FERRY_PACKAGES="libc6 haproxy nosuchpkg" \
	sh "$top/src/hosts/probe.sh" >"$c/probe/real-probe.txt"
FERRY_MODE=egress FERRY_EGRESS="127.0.0.1:16600 payments.shop.test:443" FERRY_EGRESS_TIMEOUT=1 \
	sh "$top/src/hosts/probe.sh" >"$c/probe/real-egress.txt" || true
fi

d=$(mktemp -d /tmp/ferry-seeds.XXXXXX)
hp=
cleanup() {
	[ -n "$hp" ] && stop_pid "$hp"
	rm -rf "$d"
}
trap cleanup EXIT

# --- haproxy -------------------------------------------------------------
if want haproxy; then
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
stop_pid "$hp"
hp=
fi

# --- prometheus ----------------------------------------------------------
if want prometheus; then
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
fi

# --- dns -----------------------------------------------------------------
if want dns; then
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
fi

# --- powerdns ------------------------------------------------------------
if want powerdns; then
cat >"$d/pdns.sh" <<'EOF'
#!/bin/sh
set -eu
out=$1
k=$(cat "$FERRY_TEST_PDNS_KEY_FILE")
z=$FERRY_TEST_PDNS_API/api/v1/servers/localhost/zones
a() { curl -s --max-time 5 -H "X-API-Key: $k" -H "Content-Type: application/json" "$@"; }
a "$z/shop.test." >"$out/real-zone.json"
a "$z/shop.test.?rrset_name=www.shop.test." >"$out/real-rrsets-www.json"
a "$z/shop.test.?rrset_name=multi.shop.test." >"$out/real-rrsets-multi.json"
a "$z/shop.test.?rrset_name=cn.shop.test." >"$out/real-rrsets-cname.json"
a "$z/shop.test.?rrset_name=nosuch.shop.test." >"$out/real-rrsets-none.json"
# a split as ferry writes it (a LUA record), and a disabled record
a -X PATCH --data @- "$z/shop.test." <<'JSON'
{"rrsets":[{"name":"weight.shop.test.","type":"A","changetype":"DELETE"},
 {"name":"weight.shop.test.","type":"LUA","ttl":60,"changetype":"REPLACE","records":
 [{"content":"A \"pickwrandom({{90,'10.77.0.2'},{10,'10.77.0.3'}})\"","disabled":false}]}]}
JSON
a "$z/shop.test.?rrset_name=weight.shop.test." >"$out/real-rrsets-lua.json"
a -X PATCH --data @- "$z/shop.test." <<'JSON'
{"rrsets":[{"name":"dry.shop.test.","type":"A","ttl":300,"changetype":"REPLACE","records":
 [{"content":"10.77.0.2","disabled":false},{"content":"10.77.0.9","disabled":true}]}]}
JSON
a "$z/shop.test.?rrset_name=dry.shop.test." >"$out/real-rrsets-disabled.json"
a -X PUT "$FERRY_TEST_PDNS_API/api/v1/servers/localhost/cache/flush?domain=www.shop.test." \
	>"$out/real-flush.json"
curl -s --max-time 5 -H "X-API-Key: not-the-key" "$z/shop.test." >"$out/real-401.txt"
a "$z/other.test." >"$out/real-404.json"
a -X PATCH --data @- "$z/shop.test." >"$out/real-422.json" <<'JSON'
{"rrsets":[{"name":"www.shop.test.","type":"A","ttl":60,"changetype":"REPLACE","records":
 [{"content":"not-an-address","disabled":false}]}]}
JSON
EOF
chmod +x "$d/pdns.sh"
sh "$top/tests/integration/dns/pdns.sh" "$d/pdns.sh" "$c/powerdns"
fi

# --- route53 -------------------------------------------------------------
if want route53; then
cat >"$d/r53.py" <<'EOF'
# The fake's replies to requests signed by botocore (as ferry signs them).
import os, sys, urllib.error, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
api, out, state = os.environ["FERRY_TEST_R53_API"], sys.argv[1], os.environ["FERRY_TEST_R53_DIR"]
key_id = os.environ["FERRY_TEST_R53_KEY_ID"]
secret = open(os.environ["FERRY_TEST_R53_SECRET_FILE"]).read().strip()
P = "/2013-04-01/hostedzone/ZFERRYTEST"
NS = "https://route53.amazonaws.com/doc/2013-04-01/"

def call(path, seed, body=None, key=secret):
    method = "POST" if body else "GET"
    h = {"Content-Type": "text/xml"} if body else {}
    rq = AWSRequest(method=method, url=api + path, data=body or b"", headers=h)
    SigV4Auth(Credentials(key_id, key), "route53", "us-east-1").add_auth(rq)
    r = urllib.request.Request(api + path, data=body, method=method, headers=dict(rq.headers))
    try:
        data = urllib.request.urlopen(r, timeout=5).read()
    except urllib.error.HTTPError as e:
        data = e.read()
    open(out + "/" + seed, "wb").write(data)
    return data

def batch(changes):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsRequest '
            'xmlns="%s"><ChangeBatch><Changes>%s</Changes></ChangeBatch>'
            '</ChangeResourceRecordSetsRequest>' % (NS, changes)).encode()

def rrset(action, ttl, values, sid=None, weight=None):
    w = "<SetIdentifier>%s</SetIdentifier><Weight>%d</Weight>" % (sid, weight) if sid else ""
    v = "".join("<ResourceRecord><Value>%s</Value></ResourceRecord>" % x for x in values)
    return ("<Change><Action>%s</Action><ResourceRecordSet><Name>weight.shop.test.</Name>"
            "<Type>A</Type>%s<TTL>%d</TTL><ResourceRecords>%s</ResourceRecords>"
            "</ResourceRecordSet></Change>" % (action, w, ttl, v))

call(P, "fake-zone.xml")
for n in ("www", "multi", "cn"):
    call(P + "/rrset?maxitems=100&name=%s.shop.test." % n, "fake-rrsets-%s.xml" % n)
got = call(P + "/rrset/", "fake-change.xml", batch(
    rrset("DELETE", 60, ["10.77.0.2"]) + rrset("CREATE", 60, ["10.77.0.2"], "ferry-old", 90) +
    rrset("CREATE", 60, ["10.77.0.3"], "ferry-new", 10)))
cid = got.decode().split("<Id>/change/")[1].split("<")[0]
call("/2013-04-01/change/" + cid, "fake-change-pending.xml")
call("/2013-04-01/change/" + cid, "fake-change-insync.xml")
call(P + "/rrset?maxitems=100&name=weight.shop.test.", "fake-rrsets-weighted.xml")
open(state + "/maxitems", "w").write("1")
call(P + "/rrset?maxitems=100&name=multi.shop.test.", "fake-rrsets-truncated.xml")
os.remove(state + "/maxitems")
call(P + "/rrset/", "fake-invalid-change-batch.xml", batch(rrset("DELETE", 1, ["10.9.9.9"])))
open(state + "/deny", "w").close()
call(P + "/rrset/", "fake-access-denied.xml", batch(rrset("DELETE", 1, ["10.9.9.9"])))
os.remove(state + "/deny")
call(P, "fake-signature.xml", key="not-the-secret")
call("/2013-04-01/hostedzone/ZNOSUCH", "fake-no-such-zone.xml")
call("/2013-04-01/change/CNOSUCH", "fake-no-such-change.xml")
EOF
printf '#!/bin/sh\nexec /usr/bin/python3 "%s/r53.py" "$1"\n' "$d" >"$d/r53.sh"
chmod +x "$d/r53.sh"
sh "$top/tests/integration/dns/route53.sh" "$d/r53.sh" "$c/route53"
fi
ls -l "$c"/*
