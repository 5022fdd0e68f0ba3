#!/bin/sh
# apps.sh APP LOAD VERIFY - the lab's three C programs against real servers
# on loopback (suite 'integration'; LAB-CONTRACT).
#
# Starts PostgreSQL 15 (127.0.0.1:15580, schema of the contract), HAProxy
# with a throwaway self-signed certificate as the payments endpoint
# (`http-request return`, 127.0.0.1:15581) and as TLS front for the app
# (127.0.0.1:15584), and the lab app (HTTP, 127.0.0.1:15582), then checks:
#   - the app's routes, statuses and X-Served-By;
#   - lab/load over TLS: verified against --ca, refused without it;
#   - lab/load at 200/s for 5 s with a 1.5 s table lock in the middle:
#     every request acknowledged, and verify reports lost=0 and the pause;
#   - verify is not a rubber stamp: 3 acknowledged rows deleted -> lost=3,
#     exit 1; a row of the run the ledger never sent -> unexpected=1, exit 1;
#   - verify picks the primary: not the read-only database; when two are
#     writable, the one holding the most recent acknowledged id;
#   - SIGUSR1 makes POST /orders answer 500 (recorded by load, never
#     acknowledged), SIGUSR2 restores it;
#   - /healthz is 503 while the database is stopped and 200 again after it
#     restarts (the per-thread connections reconnect);
#   - with Knot (127.0.0.1:15583, www TTL 1) and a second app "new" on
#     127.0.0.2:15582 (without SHOP_API_KEY: /healthz 200 "degraded: ..."
#     and orders still work): lab/load resolves through DNS, follows the address
#     change when the TTL runs out, never sends a request for the new
#     address over a connection to the old one, and stops on --until-file;
#   - SIGTERM stops the app with exit 0 (under ASan: no leak).
# Every server is started by this script and stopped by its trap.
set -eu

app=$1
load=$2
verify=$3
PGBIN=/usr/lib/postgresql/15/bin
. "$(dirname "$0")/../lib.sh" # wait_for
PGPORT=15580
PAYPORT=15581
APPPORT=15582
DNSPORT=15583
WWWPORT=15584

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (PostgreSQL runs as the postgres user)"
	exit 77
fi
for p in $PGPORT $PAYPORT $APPPORT $DNSPORT $WWWPORT; do
	if ss -ltnH "sport = :$p" | grep -q .; then
		echo "FAIL: port $p is in use (another run of this test?)"
		exit 1
	fi
done

dir=$(mktemp -d /tmp/ferry-lab-apps.XXXXXX)
chmod 755 "$dir"
app_pid= load_pid= pg_started= pids=
cleanup() {
	rc=$?
	set +e
	for p in $load_pid $app_pid $pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ -n "$pg_started" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" \
		-m immediate stop >/dev/null 2>&1
	if [ $rc != 0 ]; then
		echo "--- app log"; cat "$dir/app.log" 2>/dev/null | tail -20
		echo "--- load log"; cat "$dir/load.log" 2>/dev/null | tail -20
		echo "--- postgres log"; tail -20 "$dir/pg/log" 2>/dev/null
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}
psql_shop() {
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PGPORT -U postgres -d shop "$@"
}
http_status() { # METHOD PATH [BODY]
	curl -s -o "$dir/body" -w '%{http_code}' -X "$1" ${3:+-d "$3"} \
		"http://127.0.0.1:$APPPORT$2" || true
}
healthz_is() {
	[ "$(http_status GET /healthz)" = "$1" ]
}

# --- PostgreSQL 15 with the contract's schema
mkdir "$dir/pg"
chown postgres "$dir/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
pg_start() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
		-o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $dir/pg" start >/dev/null
}
pg_start
pg_started=1
psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -c 'CREATE DATABASE shop'
psql_shop <<'EOF'
CREATE SEQUENCE order_no_seq;
CREATE TABLE orders (id text PRIMARY KEY,
  order_no bigint NOT NULL DEFAULT nextval('order_no_seq') UNIQUE,
  amount_cents bigint NOT NULL, served_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
EOF

# --- the payments endpoint: HAProxy answering 200 JSON over TLS
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=payments.shop.test \
	-addext "subjectAltName=DNS:payments.shop.test,DNS:www.shop.test,IP:127.0.0.1" \
	-keyout "$dir/pay.key" -out "$dir/pay.crt" 2>/dev/null
cat "$dir/pay.crt" "$dir/pay.key" >"$dir/pay.pem"
cat >"$dir/pay.cfg" <<EOF
defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 5s
frontend payments
    bind 127.0.0.1:$PAYPORT ssl crt $dir/pay.pem
    http-request return status 200 content-type application/json string "{\"charged\":true}"
frontend www
    bind 127.0.0.1:$WWWPORT ssl crt $dir/pay.pem
    default_backend web
backend web
    server old 127.0.0.1:$APPPORT
EOF
haproxy -db -f "$dir/pay.cfg" >"$dir/pay.log" 2>&1 &
pids="$pids $!"
wait_for 10 curl -sf --cacert "$dir/pay.crt" -d '{}' "https://127.0.0.1:$PAYPORT/charge" \
	-o /dev/null || fail "payments endpoint did not come up"

# --- the app
DATABASE_URL="host=127.0.0.1 port=$PGPORT dbname=shop user=postgres" \
	PAYMENTS_URL="https://127.0.0.1:$PAYPORT/charge" PAYMENTS_CA="$dir/pay.crt" \
	APP_HOST=old LISTEN="127.0.0.1:$APPPORT" SHOP_API_KEY=test-key \
	PIDFILE="$dir/app.pid" "$app" >"$dir/app.log" 2>&1 &
app_pid=$!
wait_for 10 healthz_is 200 || fail "app /healthz never answered 200"
grep -qx ok "$dir/body" || fail "healthz body: $(cat "$dir/body")"
[ "$(cat "$dir/app.pid")" = "$app_pid" ] || fail "PIDFILE does not hold the app's pid"

# --- routes
[ "$(http_status POST /orders '{"id":"x-1","amount_cents":5}')" = 201 ] ||
	fail "first POST /orders not 201"
no=$(sed -n 's/.*"order_no":\([0-9]*\).*/\1/p' "$dir/body")
[ -n "$no" ] || fail "no order_no in $(cat "$dir/body")"
[ "$(http_status POST /orders '{"id":"x-1","amount_cents":5}')" = 200 ] ||
	fail "repeated POST /orders not 200"
grep -q "\"order_no\":$no," "$dir/body" || fail "repeat changed order_no: $(cat "$dir/body")"
[ "$(http_status GET /orders/x-1)" = 200 ] || fail "GET /orders/x-1 not 200"
grep -q '"served_by":"old"' "$dir/body" || fail "GET body: $(cat "$dir/body")"
[ "$(http_status GET /orders/nope)" = 404 ] || fail "GET of a missing order not 404"
[ "$(http_status POST /orders '{"id":1}')" = 400 ] || fail "bad body not 400"
curl -s -D - -o /dev/null "http://127.0.0.1:$APPPORT/healthz" | grep -qi '^X-Served-By: old' ||
	fail "no X-Served-By header"

# --- load over TLS (SNI and certificate name www.shop.test)
"$load" --rate 50 --duration 1s --address "127.0.0.1:$WWWPORT" --ca "$dir/pay.crt" \
	--ledger "$dir/ledger-tls" --prefix tT 2>>"$dir/load.log" || fail "load over TLS exited $?"
bad=$(awk -F'\t' '$4 != 201 || $5 != "old"' "$dir/ledger-tls" | head -3)
[ -z "$bad" ] && [ "$(wc -l <"$dir/ledger-tls")" = 50 ] || fail "load over TLS: $bad"
"$load" --rate 20 --duration 1s --address "127.0.0.1:$WWWPORT" --ledger "$dir/ledger-tls2" \
	--prefix tU 2>>"$dir/load.log" || fail "load over TLS exited $?"
bad=$(awk -F'\t' '$4 != 0' "$dir/ledger-tls2" | head -3)
[ -z "$bad" ] || fail "load accepted a certificate from an unknown CA: $bad"

# --- load with a 1.5 s write stall in the middle, then verify
"$load" --rate 200 --duration 5s --conns 8 --address "127.0.0.1:$APPPORT" --plain \
	--ledger "$dir/ledger" --prefix tA 2>"$dir/load.log" &
load_pid=$!
has_lines() { [ -s "$dir/ledger" ]; }
wait_for 5 has_lines || fail "no ledger line after 5 s"
psql_shop -c 'BEGIN; LOCK TABLE orders IN EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;' >/dev/null
wait "$load_pid" || fail "load exited $?"
load_pid=
n=$(wc -l <"$dir/ledger")
[ "$n" = 1000 ] || fail "ledger has $n lines, want 1000"
bad=$(awk -F'\t' '$4 != 201 || $5 != "old" || $6 != "127.0.0.1:'$APPPORT'"' "$dir/ledger" | head -3)
[ -z "$bad" ] || fail "unexpected ledger lines: $bad"
db="host=127.0.0.1 port=$PGPORT dbname=shop user=postgres"
"$verify" --ledger "$dir/ledger" --db "$db" >"$dir/v1" || fail "verify exited $?: $(cat "$dir/v1")"
last=$(tail -1 "$dir/v1")
echo "$last"
case $last in
"verify: acknowledged=1000 lost=0 duplicated=0 unexpected=0 pause_ms="*) ;;
*) fail "verify: $last" ;;
esac
pause=$(echo "$last" | sed 's/.*pause_ms=\([0-9]*\).*/\1/')
[ "$pause" -ge 1000 ] && [ "$pause" -lt 5000 ] || fail "pause_ms=$pause, want about 1500"
"$verify" --ledger "$dir/ledger" --db "$db" --json | grep -q '"ok": true' ||
	fail "verify --json does not say ok"

# --- verify is not a rubber stamp
psql_shop -c "DELETE FROM orders WHERE id IN ('tA-10', 'tA-500', 'tA-999')" >/dev/null
set +e
"$verify" --ledger "$dir/ledger" --db "$db" >"$dir/v2"
rc=$?
set -e
[ $rc = 1 ] || fail "verify exited $rc with 3 rows deleted, want 1"
tail -1 "$dir/v2" | grep -q ' lost=3 ' || fail "verify: $(tail -1 "$dir/v2")"
grep -q 'tA-500' "$dir/v2" || fail "verify does not list the lost ids"
psql_shop -c "INSERT INTO orders (id, amount_cents, served_by)
	SELECT id, 1, 'old' FROM (VALUES ('tA-10'), ('tA-500'), ('tA-999'), ('tA-5000')) v(id)" >/dev/null
set +e
"$verify" --ledger "$dir/ledger" --db "$db" >"$dir/v3"
rc=$?
set -e
[ $rc = 1 ] || fail "verify exited $rc with an unexpected row, want 1"
tail -1 "$dir/v3" | grep -q ' lost=0 duplicated=0 unexpected=1 ' ||
	fail "verify: $(tail -1 "$dir/v3")"
set +e
"$verify" --ledger "$dir/ledger" >/dev/null 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "verify without --db exited $rc, want 2"
psql_shop -c "DELETE FROM orders WHERE id = 'tA-5000'" >/dev/null

# --- verify picks the primary among several databases
for d in shop_ro shop_copy; do
	psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -c "CREATE DATABASE $d"
	psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -d $d -c 'CREATE TABLE orders (id text PRIMARY KEY)'
done
psql -X -q -h 127.0.0.1 -p $PGPORT -U postgres -c \
	'ALTER DATABASE shop_ro SET default_transaction_read_only = on'
ro="host=127.0.0.1 port=$PGPORT dbname=shop_ro user=postgres"
copy="host=127.0.0.1 port=$PGPORT dbname=shop_copy user=postgres"
"$verify" --ledger "$dir/ledger" --db "$ro" --db "$db" >"$dir/v5" ||
	fail "verify with a read-only database: $(cat "$dir/v5")"
grep -q '^primary .*dbname=shop .*writable, no subscription' "$dir/v5" &&
	grep -q '^database .*dbname=shop_ro .*read-only' "$dir/v5" ||
	fail "verify chose the wrong primary: $(cat "$dir/v5")"
"$verify" --ledger "$dir/ledger" --db "$copy" --db "$db" >"$dir/v6" ||
	fail "verify with two writable databases: $(cat "$dir/v6")"
grep -q '^primary .*dbname=shop ' "$dir/v6" && grep -q 'ambiguous' "$dir/v6" ||
	fail "verify chose the wrong primary: $(cat "$dir/v6")"

# --- DNS: the load follows the name's address when its TTL runs out
knot="$dir/knot"
mkdir "$knot"
cat >"$knot/knot.conf" <<EOF
server:
    rundir: "$knot"
    listen: 127.0.0.1@$DNSPORT
database:
    storage: "$knot"
control:
    listen: "$knot/knot.sock"
log:
  - target: stderr
    any: warning
zone:
  - domain: shop.test
    storage: "$knot"
    file: "shop.test.zone"
EOF
cat >"$knot/shop.test.zone" <<'EOF'
$ORIGIN shop.test.
$TTL 3600
@ SOA ns1 hostmaster 1 3600 600 86400 1
@ NS ns1
ns1 A 127.0.0.1
www 1 A 127.0.0.1
EOF
/usr/sbin/knotd -c "$knot/knot.conf" >"$dir/knot.log" 2>&1 &
pids="$pids $!"
knotc() { command knotc -c "$knot/knot.conf" "$@" >/dev/null 2>&1; }
wait_for 10 knotc zone-status shop.test || fail "knotd did not load shop.test"
DATABASE_URL="host=127.0.0.1 port=$PGPORT dbname=shop user=postgres" \
	PAYMENTS_URL="https://127.0.0.1:$PAYPORT/charge" PAYMENTS_CA="$dir/pay.crt" \
	APP_HOST=new LISTEN="127.0.0.2:$APPPORT" \
	"$app" >"$dir/app-new.log" 2>&1 &
pids="$pids $!"
new_up() {
	[ "$(curl -s -o "$dir/body" -w '%{http_code}' "http://127.0.0.2:$APPPORT/healthz")" = 200 ]
}
wait_for 10 new_up || fail "app new on 127.0.0.2 did not come up"
# the lab's deliberate fault: started without SHOP_API_KEY, it says so and
# still takes orders (below)
grep -qx 'degraded: SHOP_API_KEY missing' "$dir/body" || fail "new healthz: $(cat "$dir/body")"
"$load" --rate 100 --duration 40s --conns 4 --resolver "127.0.0.1:$DNSPORT" \
	--name www.shop.test --port $APPPORT --plain --until-file "$dir/stop" \
	--ledger "$dir/ledger-d" --prefix tD 2>"$dir/load.log" &
load_pid=$!
served() { # HOST ADDRESS-SUFFIX: at least 50 writes served by HOST at that address
	[ "$(awk -F'\t' -v h="$1" -v a="127.0.0.$2:$APPPORT" '$5 == h && $6 == a' \
		"$dir/ledger-d" | wc -l)" -ge 50 ]
}
wait_for 10 served old 1 || fail "load through DNS: no writes served by old"
knotc zone-begin shop.test
knotc zone-unset shop.test www A
knotc zone-set shop.test www 1 A 127.0.0.2
knotc zone-commit shop.test || fail "knotc could not change www"
wait_for 10 served new 2 || fail "load did not follow www to 127.0.0.2"
touch "$dir/stop"
wait "$load_pid" || fail "load exited $?"
load_pid=
grep -q 'dns www.shop.test -> 127.0.0.2 (TTL 1s), was 127.0.0.1' "$dir/load.log" ||
	fail "load did not log the address change"
bad=$(awk -F'\t' '$4 != 201 || ($6 ~ /^127\.0\.0\.2:/ && $5 != "new")' "$dir/ledger-d" | head -3)
[ -z "$bad" ] || fail "a request for 127.0.0.2 went elsewhere (connection reuse?): $bad"
[ "$(wc -l <"$dir/ledger-d")" -lt 3000 ] || fail "load ignored --until-file"
"$verify" --ledger "$dir/ledger-d" --db "$db" >"$dir/v4" || fail "verify: $(tail -1 "$dir/v4")"
grep -q '^served by   old [1-9][0-9]* ([0-9]*%), new [1-9]' "$dir/v4" ||
	fail "verify does not show both old and new: $(grep '^served' "$dir/v4")"

# --- fault mode
kill -USR1 "$app_pid"
fault_on() { [ "$(http_status POST /orders '{"id":"f-1","amount_cents":1}')" = 500 ]; }
wait_for 5 fault_on || fail "SIGUSR1 did not make POST /orders answer 500"
"$load" --rate 50 --duration 1s --address "127.0.0.1:$APPPORT" --plain \
	--ledger "$dir/ledger-f" --prefix tF 2>>"$dir/load.log"
bad=$(awk -F'\t' '$4 != 500' "$dir/ledger-f" | head -3)
[ -z "$bad" ] && [ -s "$dir/ledger-f" ] || fail "fault mode ledger: $bad"
"$verify" --ledger "$dir/ledger-f" --db "$db" | tail -1 | grep -q 'acknowledged=0 lost=0' ||
	fail "a ledger of 500s must have nothing acknowledged"
kill -USR2 "$app_pid"
fault_off() { [ "$(http_status POST /orders '{"id":"f-2","amount_cents":1}')" = 201 ]; }
wait_for 5 fault_off || fail "SIGUSR2 did not restore POST /orders"

# --- healthz follows the database
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null
wait_for 10 healthz_is 503 || fail "/healthz not 503 with the database stopped"
pg_start
wait_for 10 healthz_is 200 || fail "/healthz not 200 after the database came back"

# --- clean exit
kill "$app_pid"
set +e
wait "$app_pid"
rc=$?
set -e
app_pid=
[ $rc = 0 ] || fail "app exited $rc on SIGTERM"
[ ! -e "$dir/app.pid" ] || fail "app left its pidfile"
echo "ok: app, load and verify"
