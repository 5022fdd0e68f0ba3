#!/bin/sh
# weighted_dns.sh FERRY - the validation split by weighted DNS (traffic.via:
# dns) through the real command line, against a real pdns_server (run
# under tests/integration/dns/pdns.sh) and two real HAProxy processes that
# stand for the two hosts on loopback addresses:
#   old  127.0.0.2:PORT  backend web: server old (weight 100), new (weight 0)
#   new  127.0.0.3:PORT  backend web: server new
# each backend server a frontend of the same HAProxy that answers 200, each
# HAProxy with its runtime API (ferry only reads their counters in this
# mode).  The clients (dns_clients.py) resolve web.shop.test at PowerDNS
# for every request and send it to the address they got, so the split the
# DNS weights request is what the backends see.  Ports 16260-16279.
#
# It checks: each validation step puts the split into PowerDNS (answers of
# both addresses), `ferry status` shows the requested share beside the
# realised one (measured at the backends, close to it), the cutover moves
# the name from the split to the new address (a compare-and-swap that
# expects the split), a split changed behind ferry's back refuses the
# cutover, and the rollback puts the old address back.
set -eu
ferry=$1
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$haproxy" ] || { echo "haproxy not installed"; [ -n "${CI:-}" ] && exit 1; exit 77; }
top=$(cd "$(dirname "$0")/../../.." && pwd)
. "$top/tests/lib.sh"
dir=$(mktemp -d /tmp/ferry-wdns.XXXXXX)
load_pid=
cleanup() {
	[ -z "$load_pid" ] || stop_pid "$load_pid"
	for f in "$dir"/*.pid; do [ -s "$f" ] && stop_pid "$(cat "$f")"; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
dport=$FERRY_TEST_PDNS_DNS_PORT
answers() { kdig @127.0.0.1 -p "$dport" +short +norec web.shop.test A | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# Five ports in 16260-16279, none in use.
for try in 1 2 3 4 5 6 7 8; do
	base=$(random_port 16260 15)
	busy=
	for p in 0 1 2 3 4; do port_in_use $((base + p)) && busy=1; done
	[ -z "$busy" ] && break
done
[ -z "$busy" ] || fail "no five free ports in 16260-16279"
web=$base # the "hosts'" frontends, on 127.0.0.2 and .3
api_old=$((base + 1)) api_new=$((base + 2)) app_old=$((base + 3)) app_new=$((base + 4))
haproxy_cfg() { # NAME ADDRESS API: servers...
	name=$1 addr=$2 api=$3
	shift 3
	cat <<CFG
global
    stats socket ipv4@127.0.0.1:$api level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind $addr:$web
    default_backend web
backend web
    balance roundrobin
$(for s in "$@"; do echo "    server $s"; done)
frontend app_old
    bind 127.0.0.1:$app_old
    http-request return status 200 content-type text/plain string "old $name"
frontend app_new
    bind 127.0.0.1:$app_new
    http-request return status 200 content-type text/plain string "new $name"
CFG
}
haproxy_cfg old 127.0.0.2 "$api_old" "old 127.0.0.1:$app_old weight 100" \
	"new 127.0.0.1:$app_new weight 0" >"$dir/old.cfg"
# only one of the two may own the app frontends
haproxy_cfg new 127.0.0.3 "$api_new" "new 127.0.0.1:$app_new" |
	sed '/^frontend app_old/,$d' >"$dir/new.cfg"
# In the foreground, in this script's process group: a test runner that
# kills the group on a timeout stops them too.
"$haproxy" -f "$dir/old.cfg" >>"$dir/haproxy.log" 2>&1 &
echo $! >"$dir/old.pid"
"$haproxy" -f "$dir/new.cfg" >>"$dir/haproxy.log" 2>&1 &
echo $! >"$dir/new.pid"
wait_for 10 curl -sf "http://127.0.0.2:$web/" || { cat "$dir/haproxy.log"; fail "old haproxy does not answer"; }
wait_for 10 curl -sf "http://127.0.0.3:$web/" || fail "new haproxy does not answer"

# The clients: every request resolves anew and goes where it was sent.
/usr/bin/python3 "$top/tests/integration/cli/dns_clients.py" "$dport" web.shop.test "$web" &
load_pid=$!

cat >"$dir/p.yaml" <<YAML
name: weighted
hosts:
  old: { address: 127.0.0.2 }
  new: { address: 127.0.0.3 }
dns:
  provider: powerdns
  api: "$FERRY_TEST_PDNS_API"
  api_key_file: $FERRY_TEST_PDNS_KEY_FILE
  zone: shop.test
  records: [web.shop.test]
  ttl: { cutover: 1 }
traffic:
  via: dns
  admin: 127.0.0.1:$api_old
  admin_new: 127.0.0.1:$api_new
  backend: web
  servers: { old: old, new: new }
  steps: [20%, 50%]
  step_hold: 6s
schedule: { replication_soak: 1s, validation: 12s, monitor: 1s }
rollback: { waiver: "a test run: its cutover is what is tested, not a production one" }
YAML

# --- the dry run: each step's weighted record
"$ferry" run "$dir/p.yaml" --dry-run >"$dir/dry.txt" 2>&1 || { cat "$dir/dry.txt"; fail "dry run"; }
grep -q 'pickwrandom({{80,'"'"'127.0.0.2'"'"'},{20,'"'"'127.0.0.3'"'"'}})' "$dir/dry.txt" ||
	{ cat "$dir/dry.txt"; fail "dry run: the 20 % step's LUA record"; }

# --- through validation: the split is in PowerDNS while the steps hold
# (prepare's gate: the TTL is the cutover TTL already; FERRY_NOW crosses the
# one TTL it waits, never a sleep)
set +e
FERRY_NOW=2026-11-26T06:00:00Z "$ferry" run "$dir/p.yaml" --no-wait >"$dir/prep.txt" 2>&1
rc=$?
set -e
[ $rc = 75 ] || [ $rc = 0 ] || { cat "$dir/prep.txt"; fail "prepare: exit $rc"; }
FERRY_NOW=2026-11-26T06:01:00Z "$ferry" run "$dir/p.yaml" --no-wait --until validate \
	>"$dir/val.txt" 2>&1 || { cat "$dir/val.txt"; fail "validation"; }
grep -q 'DNS answers 50 % new (weights 50/50' "$dir/val.txt" || { cat "$dir/val.txt"; fail "50 %"; }
wait_for 5 sh -c "[ \"\$(kdig @127.0.0.1 -p $dport +short +norec web.shop.test A | head -1)\" = 127.0.0.3 ]" ||
	fail "the split never answers the new address"
wait_for 5 sh -c "[ \"\$(kdig @127.0.0.1 -p $dport +short +norec web.shop.test A | head -1)\" = 127.0.0.2 ]" ||
	fail "the split never answers the old address"
"$ferry" status "$dir/p.yaml" --json >"$dir/status.json"
want=$(jq -r '.traffic.requested_pct' "$dir/status.json")
got=$(jq -r '.traffic.realised_pct' "$dir/status.json")
[ "$want" = 50 ] || [ "$want" = 50.0 ] || fail "requested $want, want 50"
awk -v g="$got" 'BEGIN { exit !(g >= 30 && g <= 70) }' ||
	{ jq -c '.traffic, .latest' "$dir/status.json"; fail "realised $got % is not near the requested 50 %"; }
"$ferry" status "$dir/p.yaml" | grep -q 'traffic split (via dns): requested 50 % to new, realised' ||
	fail "status does not show requested beside realised"

# --- the split changed behind ferry's back: the cutover refuses
curl -sf -X PATCH -H "X-API-Key: $(cat "$FERRY_TEST_PDNS_KEY_FILE")" \
	"$FERRY_TEST_PDNS_API/api/v1/servers/localhost/zones/shop.test." \
	-d '{"rrsets":[{"name":"web.shop.test.","type":"LUA","ttl":1,"changetype":"REPLACE","records":[{"content":"A \"pickwrandom({{10,'"'"'127.0.0.2'"'"'},{90,'"'"'127.0.0.3'"'"'}})\"","disabled":false}]}]}' ||
	fail "the other party's PATCH"
curl -sf -X PUT -H "X-API-Key: $(cat "$FERRY_TEST_PDNS_KEY_FILE")" \
	"$FERRY_TEST_PDNS_API/api/v1/servers/localhost/cache/flush?domain=web.shop.test." >/dev/null
set +e
FERRY_NOW=2026-11-26T06:01:30Z "$ferry" run "$dir/p.yaml" --no-wait >"$dir/cut1.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$dir/cut1.txt"; fail "cutover over a changed split: exit $rc, want 1"; }
grep -q 'cutover refused before any database was paused: web.shop.test holds LUA A "pickwrandom({{10' \
	"$dir/cut1.txt" || { cat "$dir/cut1.txt"; fail "the refusal does not name the split found"; }

# --- put ferry's split back: the cutover moves the name to the new address
curl -sf -X PATCH -H "X-API-Key: $(cat "$FERRY_TEST_PDNS_KEY_FILE")" \
	"$FERRY_TEST_PDNS_API/api/v1/servers/localhost/zones/shop.test." \
	-d '{"rrsets":[{"name":"web.shop.test.","type":"LUA","ttl":1,"changetype":"REPLACE","records":[{"content":"A \"pickwrandom({{50,'"'"'127.0.0.2'"'"'},{50,'"'"'127.0.0.3'"'"'}})\"","disabled":false}]}]}' ||
	fail "putting the split back"
set +e
FERRY_NOW=2026-11-26T06:01:40Z "$ferry" run "$dir/p.yaml" --no-wait >"$dir/cut2.txt" 2>&1
rc=$?
set -e
[ $rc = 75 ] || { cat "$dir/cut2.txt"; fail "cutover: exit $rc, want 75"; }
[ "$(answers)" = 127.0.0.3 ] || fail "web.shop.test answers $(answers), not the new address"

# --- the rollback: the old address again
"$ferry" rollback "$dir/p.yaml" --reason "weighted dns test" >"$dir/rb.txt" 2>&1 ||
	{ cat "$dir/rb.txt"; fail "rollback"; }
[ "$(answers)" = 127.0.0.2 ] || fail "web.shop.test answers $(answers), not the old address"
echo "weighted_dns: ok"
