#!/bin/sh
# pdns.sh PROGRAM [ARGS...] - runs PROGRAM against a private PowerDNS
# Authoritative server (Debian's pdns-server 4.7 with the SQLite backend).
#
# Starts pdns_server in the foreground on 127.0.0.1: DNS and the HTTP API on
# two free ports in 16220-16239 (the dns helper's range), LUA records
# enabled, authoritative for shop.test (loaded with pdnsutil from a zone
# file: www and api A 10.77.0.2 TTL 3600, one record per test, see below;
# web A 127.0.0.2 TTL 1 for the weighted validation through the CLI).
# Everything lives in one mktemp -d folder; a trap stops the server and
# removes the folder on any exit.  PROGRAM gets:
#   FERRY_TEST_PDNS_API       http://127.0.0.1:PORT
#   FERRY_TEST_PDNS_DNS_PORT  the DNS port
#   FERRY_TEST_PDNS_KEY_FILE  the API key (one line, mode 0600)
#   FERRY_TEST_PDNS_DIR       the folder (pdnsutil --config-dir=DIR, the
#                             other party's tool in the tests)
# With CI set, a missing pdns_server fails instead of skipping.
set -eu

[ $# -ge 1 ] || { echo "usage: pdns.sh PROGRAM [ARGS...]" >&2; exit 2; }
PATH=$PATH:/usr/sbin
for tool in pdns_server pdnsutil kdig; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "pdns.sh: $tool not installed (apt-get install pdns-server" \
			"pdns-backend-sqlite3 knot-dnsutils)" >&2
		[ -n "${CI:-}" ] && exit 1
		exit 77
	fi
done
if [ ! -f /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql ]; then
	echo "pdns.sh: pdns-backend-sqlite3 not installed" >&2
	[ -n "${CI:-}" ] && exit 1
	exit 77
fi
. "$(dirname "$0")/../../lib.sh" # stop_pid, port_in_use, random_port

dir=$(mktemp -d /tmp/ferry-pdns.XXXXXX)
pdns_pid=
cleanup() {
	[ -z "$pdns_pid" ] || stop_pid "$pdns_pid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$key" >"$dir/api.key"
chmod 600 "$dir/api.key"
token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

# The SQLite backend's schema as Debian ships it, through python3's sqlite3
# (no sqlite3 shell needed).
/usr/bin/python3 - "$dir/pdns.db" /usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript(open(sys.argv[2]).read())
db.commit()
EOF

cat >"$dir/shop.test.zone" <<EOF
\$ORIGIN shop.test.
\$TTL 3600
@       SOA ns.shop.test. hostmaster.shop.test. 2026112601 3600 600 86400 300
@       NS  ns
ns      A   127.0.0.1
www     A   10.77.0.2
api     A   10.77.0.2
ttl     A   10.77.0.2
cas     A   10.77.0.2
race    A   10.77.0.2
multi   A   10.77.0.2
multi   A   10.77.0.4
multi   AAAA 2001:db8::2
cn      CNAME lb-old.example.net.
weight  A   10.77.0.2
weight6 A   10.77.0.2
weight6 AAAA 2001:db8::2
dry     A   10.77.0.2
web     1 A 127.0.0.2
token   TXT "$token"
EOF

start_pdns() { # start_pdns DNS_PORT: the API on the port above it
	dport=$1
	aport=$(($1 + 1))
	port_in_use "$aport" && return 1
	cat >"$dir/pdns.conf" <<EOF
launch=gsqlite3
gsqlite3-database=$dir/pdns.db
local-address=127.0.0.1
local-port=$dport
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$aport
webserver-allow-from=127.0.0.0/8
enable-lua-records=yes
socket-dir=$dir
guardian=no
daemon=no
disable-syslog=yes
loglevel=4
EOF
	pdnsutil --config-dir="$dir" load-zone shop.test "$dir/shop.test.zone" \
		>>"$dir/pdns.log" 2>&1 || return 1
	pdns_server --config-dir="$dir" >>"$dir/pdns.log" 2>&1 &
	pdns_pid=$!
	# Until this server (not another one on the port) answers with our
	# token over DNS and the API answers, or it dies, or 10 s pass.
	deadline=$(($(date +%s) + 10))
	while [ "$(date +%s)" -lt $deadline ]; do
		kill -0 "$pdns_pid" 2>/dev/null || { pdns_pid=; return 1; }
		got=$(kdig @127.0.0.1 -p "$dport" +short +time=1 +retry=0 token.shop.test TXT \
			2>/dev/null || true)
		if [ "$got" = "\"$token\"" ] && /usr/bin/python3 - "$aport" "$dir/api.key" <<'EOF'
import sys, urllib.request
key = open(sys.argv[2]).read().strip()
rq = urllib.request.Request("http://127.0.0.1:%s/api/v1/servers/localhost" % sys.argv[1],
                            headers={"X-API-Key": key})
urllib.request.urlopen(rq, timeout=1).read()
EOF
		then
			return 0
		fi
		sleep 0.05
	done
	stop_pid "$pdns_pid"
	pdns_pid=
	return 1
}

started=
for try in 1 2 3 4 5 6 7 8; do
	p=$(random_port 16220 18)
	port_in_use "$p" && continue
	if start_pdns "$p"; then
		started=$p
		break
	fi
done
if [ -z "$started" ]; then
	echo "pdns.sh: could not start pdns_server on free ports in 16220-16239; its log:" >&2
	tail -n 20 "$dir/pdns.log" >&2 || true
	exit 1
fi

export FERRY_TEST_PDNS_API="http://127.0.0.1:$((started + 1))"
export FERRY_TEST_PDNS_DNS_PORT=$started
export FERRY_TEST_PDNS_KEY_FILE="$dir/api.key"
export FERRY_TEST_PDNS_DIR="$dir"
set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "pdns.sh: $1 failed ($rc); pdns_server log:" >&2
	tail -n 30 "$dir/pdns.log" >&2 || true
fi
exit $rc
