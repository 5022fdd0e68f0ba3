#!/bin/sh
# knot.sh PROGRAM [ARGS...] - runs PROGRAM against a private Knot DNS server.
#
# Starts knotd as a plain foreground process on 127.0.0.1 at a free port in
# 15300-15399 (or KNOT_PORT_LO and the KNOT_PORT_SPAN ports above it: a test
# on its own range needs no server lock), authoritative for shop.test (www and api: A 10.77.0.2, TTL
# 3600, plus one record per test: multi holds two A and one AAAA, cn a
# CNAME, canary 127.0.0.1 at TTL 1), with two TSIG keys: ferry-key, allowed to
# update the zone, and other-key, known to the server but not in the zone's
# ACL.  Everything lives in one mktemp -d folder; a trap stops knotd and
# removes the folder on any exit.  PROGRAM gets:
#   FERRY_TEST_DNS_PORT        the port
#   FERRY_TEST_DNS_KEY_FILE    ferry-key's base64 secret (one line)
#   FERRY_TEST_DNS_OTHER_FILE  other-key's secret
#   FERRY_TEST_DNS_KNSUPDATE_KEY  ferry-key for knsupdate -k (alg:name:secret)
#   FERRY_TEST_DNS_SERIAL      the zone's SOA serial at start
set -eu

[ $# -ge 1 ] || { echo "usage: knot.sh PROGRAM [ARGS...]" >&2; exit 2; }
for tool in knotd kdig knsupdate; do
	if ! command -v $tool >/dev/null 2>&1 && [ ! -x /usr/sbin/$tool ]; then
		echo "knot.sh: $tool not installed (apt-get install knot knot-dnsutils)" >&2
		[ -n "${CI:-}" ] && exit 1
		exit 77 # meson: skipped
	fi
done
PATH=$PATH:/usr/sbin
. "$(dirname "$0")/../../lib.sh" # stop_pid, start_on_free_port

dir=$(mktemp -d /tmp/ferry-knot.XXXXXX)
knot_pid=
cleanup() {
	# knotd exits within a second on SIGTERM; stop_pid waits for it so
	# that no server outlives the test.
	[ -z "$knot_pid" ] || stop_pid "$knot_pid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

secret() { head -c 32 /dev/urandom | base64; }
key=$(secret)
other=$(secret)
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
serial=2026112601
printf '%s\n' "$key" >"$dir/ferry-key.secret"
printf '%s\n' "$other" >"$dir/other-key.secret"
printf 'hmac-sha256:ferry-key:%s\n' "$key" >"$dir/ferry-key.knsupdate"
chmod 600 "$dir"/*.secret
mkdir -p "$dir/run" "$dir/db" "$dir/zones"

cat >"$dir/zones/shop.test.zone" <<EOF
\$ORIGIN shop.test.
\$TTL 3600
@       SOA ns.shop.test. hostmaster.shop.test. $serial 3600 600 86400 300
@       NS  ns
ns      A   127.0.0.1
www     A   10.77.0.2
api     A   10.77.0.2
ttl     A   10.77.0.2
cas     A   10.77.0.2
nsup    A   10.77.0.2
race    A   10.77.0.2
auth    A   10.77.0.2
dual    A   10.77.0.2
dual    AAAA 2001:db8::2
multi   A   10.77.0.2
multi   A   10.77.0.4
multi   AAAA 2001:db8::2
canary  1 A 127.0.0.1
cn      CNAME lb-old.example.net.
alias   CNAME www
token   TXT "$token"
EOF
# 40 addresses: more than 512 bytes, so a UDP answer is truncated (TC) and
# the client must retry over TCP.
i=1
while [ $i -le 40 ]; do
	echo "big     A   10.77.1.$i" >>"$dir/zones/shop.test.zone"
	i=$((i + 1))
done

start_knot() {
	port=$1
	cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir/run"
    user: root:root
    listen: 127.0.0.1@$port
    tcp-workers: 2
    udp-workers: 2
    background-workers: 1
log:
  - target: "$dir/knot.log"
    any: info
database:
    storage: "$dir/db"
control:
    listen: "$dir/run/knot.sock"
key:
  - id: ferry-key
    algorithm: hmac-sha256
    secret: $key
  - id: other-key
    algorithm: hmac-sha256
    secret: $other
acl:
  - id: ferry-update
    key: ferry-key
    action: update
template:
  - id: default
    storage: "$dir/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
zone:
  - domain: shop.test
    file: shop.test.zone
    acl: ferry-update
EOF
	knotd -c "$dir/knot.conf" >>"$dir/knot.log" 2>&1 &
	knot_pid=$!
	# Poll until this server (not another one on the port) answers with our
	# token, or it dies, or 10 s pass.
	deadline=$(($(date +%s) + 10))
	while [ "$(date +%s)" -lt $deadline ]; do
		kill -0 "$knot_pid" 2>/dev/null || { knot_pid=; return 1; }
		got=$(kdig @127.0.0.1 -p "$port" +short +time=1 +retry=0 token.shop.test TXT \
			2>/dev/null || true)
		[ "$got" = "\"$token\"" ] && return 0
		sleep 0.05
	done
	kill "$knot_pid" 2>/dev/null || true
	wait "$knot_pid" 2>/dev/null || true
	knot_pid=
	return 1
}

lo=${KNOT_PORT_LO:-15300} span=${KNOT_PORT_SPAN:-100}
if start_on_free_port "$lo" "$span" start_knot; then
	started=$free_port
else
	echo "knot.sh: could not start knotd on a free port in $lo-$((lo + span - 1)); its log:" >&2
	tail -n 20 "$dir/knot.log" >&2 || true
	exit 1
fi

export FERRY_TEST_DNS_PORT=$started
export FERRY_TEST_DNS_KEY_FILE="$dir/ferry-key.secret"
export FERRY_TEST_DNS_OTHER_FILE="$dir/other-key.secret"
export FERRY_TEST_DNS_KNSUPDATE_KEY="$dir/ferry-key.knsupdate"
export FERRY_TEST_DNS_SERIAL=$serial
set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "knot.sh: $1 failed ($rc); knotd log:" >&2
	tail -n 30 "$dir/knot.log" >&2 || true
fi
exit $rc
