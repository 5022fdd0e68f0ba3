#!/bin/bash
# smoke.sh - the lab's smoke test (suite 'lab'): lab/up with a small seed,
# a second lab/up that changes nothing, 20 s of lab/load at 500/s through
# the lab's resolver checked by lab/verify, each fault switched on and seen
# from outside (as ferry's checks will see it) and off again, then lab/down
# and nothing of the lab left: namespaces, interfaces, /etc/netns files,
# processes, state, the user ferryop, its sudoers file, ssh connections.
# Between: ferryop over ssh and sudo, as ferry's plan reaches the hosts.  lab/down runs on every exit (trap), failure included.
#
# Needs root (exit 77, skipped, otherwise) and no other lab up (the
# namespace names are fixed; exit 77 rather than tear someone's lab down).
# LAB_STATE and LAB_BUILD come from tests/lab/meson.build.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
export LAB_BUILD=${LAB_BUILD:-$top/build}
export LAB_STATE=${LAB_STATE:-$LAB_BUILD/tests/lab/smoke-state}
export LAB_SEED_MB=${LAB_SEED_MB:-5}
unset LAB_FAULTS LAB_KEEP_STATE

say() { printf 'smoke: %s\n' "$*"; }
fail() {
	printf 'smoke: FAIL: %s\n' "$*" >&2
	exit 1
}

if [ "$(id -u)" != 0 ]; then
	say "skipped: needs root (network namespaces)"
	exit 77
fi
# shellcheck source=/dev/null
why=$(LAB_STATE=/nonexistent . "$top/lab/lib.sh" && lab_netns_unusable)
if [ -n "$why" ]; then
	say "skipped: $why"
	exit 77
fi
# shellcheck source=/dev/null
. "$top/tests/lib.sh" # lab_exclusive
if ! lab_exclusive smoke "$0" "$@"; then
	say "skipped: a lab is up that this suite may not take down"
	exit 77
fi

on_exit() {
	rc=$?
	if [ $rc != 0 ] && [ -d "$LAB_STATE" ]; then
		say "failed ($rc); the last lines of the lab's logs:"
		find "$LAB_STATE" -name '*.log' -type f | while read -r f; do
			echo "--- $f"
			tail -n 5 "$f"
		done
	fi
	"$top/lab/down" >/dev/null 2>&1 || say "lab/down failed too"
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- up, twice -------------------------------------------------------------
t0=$(date +%s)
"$top/lab/up"
say "lab/up took $(($(date +%s) - t0))s"
pidfiles() { find "$LAB_STATE" -name '*.pid' -type f -exec head -qn 1 {} + | sort | tr '\n' ' '; }
before=$(pidfiles)
"$top/lab/up" >/dev/null || fail "a second lab/up on a running lab failed"
[ "$(pidfiles)" = "$before" ] || fail "a second lab/up restarted daemons: $before -> $(pidfiles)"
# shellcheck source=/dev/null
. "$LAB_STATE/env"
export PGPASSFILE=$LAB_PGPASSFILE
for f in "$LAB_APP" "$LAB_LOAD" "$LAB_VERIFY"; do
	[ -x "$f" ] || fail "$f is not built (ninja -C $LAB_BUILD)"
done

# --- the servers, from the root namespace ----------------------------------
[ "$(kdig +short @10.77.0.1 -p 5300 A www.shop.test)" = 10.77.0.2 ] ||
	fail "unbound does not resolve www.shop.test to 10.77.0.2"
ttl=$(kdig +noall +answer @10.77.0.1 -p 53 A api.shop.test | awk '{print $2}')
[ "$ttl" = "$LAB_TTL" ] || fail "Knot serves api.shop.test with TTL '$ttl', not $LAB_TTL"
[ "$(psql -X -At "$LAB_OLD_DB" -c 'SELECT count(*) > 0 FROM orders')" = t ] ||
	fail "old's shop has no seed orders"
[ "$(psql -X -At "$LAB_NEW_DB" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] ||
	fail "new's shop is not empty"
psql -X -At "$LAB_NEW_POOLER_ADMIN" -c 'SHOW DATABASES' | grep -q '^shop|10.77.0.2|5432|' ||
	fail "new's pgbouncer does not point shop at old's database"
state=$(echo 'show servers state web' | timeout 5 bash -c 'exec 3<>/dev/tcp/10.77.0.2/9999; cat >&3; cat <&3')
echo "$state" | grep -q ' web [0-9]* new 10.77.0.3 ' || fail "old's runtime API does not list web/new"
# MariaDB and Redis (lab/datastores.sh), and the HAProxy TCP backends at old
mdb() { mariadb --no-defaults -uroot -S "$1" -N -B -e "$2"; }
[ "$(mdb "$LAB_OLD_MARIADB_SOCK" 'SELECT COUNT(*) > 0 FROM shop.payments')" = 1 ] ||
	fail "old's MariaDB has no seed payments"
[ "$(mdb "$LAB_NEW_MARIADB_SOCK" "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'")" = 0 ] ||
	fail "new's MariaDB is not empty"
[ "$(mdb "$LAB_OLD_MARIADB_SOCK" 'SELECT @@server_id <> 0, @@binlog_format, @@gtid_strict_mode, @@log_slave_updates')" = "1	ROW	1	1" ] ||
	fail "old's MariaDB lacks ROW binlog, GTID strict mode or log_slave_updates"
[ "$(mdb "$LAB_OLD_MARIADB_SOCK" 'SELECT @@server_id')" != "$(mdb "$LAB_NEW_MARIADB_SOCK" 'SELECT @@server_id')" ] ||
	fail "old's and new's MariaDB have the same server_id"
rcli() { REDISCLI_AUTH=$(cat "$LAB_REDIS_FERRY_PASSWORD_FILE") redis-cli --no-auth-warning --user ferry -h "$1" "${@:2}"; }
[ "$(rcli 10.77.0.2 PING)" = PONG ] && [ "$(rcli 10.77.0.3 PING)" = PONG ] ||
	fail "Redis does not answer the ferry user on old and new"
redis-cli -h 10.77.0.2 SET smoke 1 2>&1 | grep -q NOAUTH || fail "Redis on old takes a command without AUTH"
for h in 10.77.0.2 10.77.0.3; do
	for b in mariadb:3306 redis:6379; do
		st=$(echo "show servers state ${b%%:*}" | timeout 5 bash -c "exec 3<>/dev/tcp/$h/9999; cat >&3; cat <&3")
		echo "$st" | awk '$4 == "db" { print $5 ":" $19 }' | grep -qx "10.77.0.2:${b#*:}" ||
			fail "$h's HAProxy: ${b%%:*}/db does not point at old's server: $st"
	done
done
say "servers answer: DNS, PostgreSQL, pgbouncer, MariaDB, Redis, HAProxy runtime API (mariadb, redis at old)"

# --- ssh and sudo: the way ferry's plan reaches old and new ------------------
for h in old new; do
	case $h in old) a=$LAB_OLD_ADDR ;; new) a=$LAB_NEW_ADDR ;; esac
	out=$(echo 'id -u; readlink /proc/$$/ns/net' |
		ssh -F "$LAB_SSH_CONFIG" "$LAB_SSH_USER@$a" sudo -n sh -s 2>&1) ||
		fail "ssh $LAB_SSH_USER@$a sudo -n sh -s: $out"
	[ "$(echo "$out" | sed -n 1p)" = 0 ] || fail "$h: sudo -n sh -s is not root: $out"
	[ "$(echo "$out" | sed -n 2p)" = "$(readlink "/proc/$(head -n 1 "$LAB_STATE/$h/sshd/sshd.pid")/ns/net")" ] ||
		fail "$h: the ssh session is not in ferry-$h's network namespace"
	[ "$(ssh -F "$LAB_SSH_CONFIG" "$LAB_SSH_USER@$a" id -un)" = "$LAB_SSH_USER" ] ||
		fail "$h: ssh does not log in as $LAB_SSH_USER"
	# the sudoers drop-in allows sh and sh -s, nothing else
	ssh -F "$LAB_SSH_CONFIG" "$LAB_SSH_USER@$a" sudo -n id >/dev/null 2>&1 &&
		fail "$h: sudo lets $LAB_SSH_USER run id: the rule is wider than sh"
	ssh -F "$LAB_SSH_CONFIG" "$LAB_SSH_USER@$a" sudo -n sh -c id >/dev/null 2>&1 &&
		fail "$h: sudo lets $LAB_SSH_USER run sh -c"
	ssh -F "$LAB_SSH_CONFIG" -o ControlPath=none -o UserKnownHostsFile=/dev/null \
		"$LAB_SSH_USER@$a" true >/dev/null 2>&1 && fail "$h: ssh accepted a host key it was not given"
done
ssh -F "$LAB_SSH_CONFIG" -O check 10.77.0.2 2>/dev/null || fail "no ssh ControlMaster for old"
say "ssh: $LAB_SSH_USER on old and new, in their namespaces, root through sudo for sh and sh -s only"

# --- load through DNS, then verify -----------------------------------------
ledger=$LAB_STATE/smoke.ledger
"$LAB_LOAD" --rate 500 --duration 20s --conns 8 --resolver "$LAB_RESOLVER" --name www.shop.test \
	--ca "$LAB_CA" --ledger "$ledger" --prefix "smoke$$" 2>"$LAB_STATE/load.log" ||
	fail "lab/load exited $? (see $LAB_STATE/load.log)"
total=$(wc -l <"$ledger")
bad=$(awk -F '\t' '$4 < 200 || $4 > 299' "$ledger" | wc -l)
[ "$total" -ge 9000 ] || fail "lab/load sent $total requests in 20 s at 500/s"
[ "$bad" = 0 ] || fail "$bad of $total requests failed (ledger $ledger)"
stores="--mariadb $LAB_OLD_MARIADB --mariadb $LAB_NEW_MARIADB --mariadb-password-file $LAB_MARIADB_FERRY_PASSWORD_FILE
	--redis $LAB_OLD_REDIS --redis $LAB_NEW_REDIS --redis-password-file $LAB_REDIS_FERRY_PASSWORD_FILE"
# shellcheck disable=SC2086 # $stores is a list of options
out=$("$LAB_VERIFY" --ledger "$ledger" --db "$LAB_OLD_DB" $stores) || fail "lab/verify: $out"
echo "$out" | tail -n 1
echo "$out" | tail -n 1 | grep -q ' lost=0 duplicated=0 unexpected=0 ' || fail "lab/verify: $out"
echo "$out" | tail -n 1 | grep -q ' lost_postgresql=0 lost_mariadb=0 unexpected_mariadb=0 lost_redis=0 unexpected_redis=0$' ||
	fail "lab/verify does not check MariaDB and Redis: $out"
[ "$(mdb "$LAB_OLD_MARIADB_SOCK" "SELECT COUNT(*) FROM shop.payments WHERE id LIKE 'smoke$$-%'")" = "$total" ] ||
	fail "old's MariaDB does not hold one payment row per order"
# not a rubber stamp: a missing payment row and a missing cart are lost writes
first=$(head -n 1 "$ledger" | cut -f 1)
second=$(sed -n 2p "$ledger" | cut -f 1)
mdb "$LAB_OLD_MARIADB_SOCK" "DELETE FROM shop.payments WHERE id = '$first'"
[ "$(rcli 10.77.0.2 DEL "cart:$second")" = 1 ] || fail "no cart:$second on old's Redis"
# shellcheck disable=SC2086
out=$("$LAB_VERIFY" --ledger "$ledger" --db "$LAB_OLD_DB" $stores --json) && fail "lab/verify passes with a payment row and a cart gone"
[ "$(echo "$out" | jq -c '[.lost, .lost_by_database.postgresql, .lost_by_database.mariadb, .lost_by_database.redis]')" = "[2,0,1,1]" ] ||
	fail "lab/verify --json does not count the missing payment row and cart: $out"
say "load: $total requests, all acknowledged, verified in PostgreSQL, MariaDB and Redis"

# --- faults ------------------------------------------------------------------
app_env_has() { # HOST VAR
	tr '\0' '\n' <"/proc/$(head -n 1 "$LAB_STATE/$1/app/app.pid")/environ" | grep -q "^$2="
}
tls_www() { # ADDR: a verified handshake for www.shop.test succeeds
	timeout 5 openssl s_client -connect "$1:443" -servername www.shop.test \
		-verify_hostname www.shop.test -verify_return_error -CAfile "$LAB_CA" </dev/null >/dev/null 2>&1
}
egress() { # the curl exit status of a call from ferry-new to the payments endpoint
	ip netns exec ferry-new curl -sS -o /dev/null --max-time 5 --cacert "$LAB_CA" \
		-d '{}' https://payments.shop.test/charge 2>/dev/null && echo 0 || echo $?
}
post_new() { # ID: the status of POST /orders straight to new's app
	curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
		-d "{\"id\":\"$1\",\"amount_cents\":100}" http://10.77.0.3:8080/orders
}
fault_status() { "$top/lab/fault" status "$1"; }

"$top/lab/fault" on env >/dev/null
app_env_has new SHOP_API_KEY && fail "env fault on, but new's app has SHOP_API_KEY"
app_env_has new DATABASE_URL || fail "env fault on, and new's app lost DATABASE_URL too"
app_env_has old SHOP_API_KEY || fail "env fault on, and old's app lost SHOP_API_KEY"
[ "$(fault_status env)" = "env on" ] || fail "lab/fault status env: $(fault_status env)"
"$top/lab/fault" off env >/dev/null
app_env_has new SHOP_API_KEY || fail "env fault off, but new's app lacks SHOP_API_KEY"
say "fault env: SHOP_API_KEY missing from new's app, then back"

tls_www 10.77.0.3 || fail "no TLS handshake for www.shop.test on new before the cert fault"
"$top/lab/fault" on cert >/dev/null
tls_www 10.77.0.3 && fail "cert fault on, but new still completes a handshake for www.shop.test"
tls_www 10.77.0.2 || fail "cert fault on, and old lost www.shop.test too"
[ "$(fault_status cert)" = "cert on" ] || fail "lab/fault status cert: $(fault_status cert)"
"$top/lab/fault" off cert >/dev/null
tls_www 10.77.0.3 || fail "cert fault off, but no handshake for www.shop.test on new"
say "fault cert: new's handshake for www.shop.test fails, then works"

[ "$(egress)" = 0 ] || fail "ferry-new cannot reach the payments endpoint before the egress fault"
"$top/lab/fault" on egress >/dev/null
"$top/lab/fault" on egress >/dev/null
rc=$(egress)
[ "$rc" = 7 ] || fail "egress fault on: curl from ferry-new exits $rc, not 7 (connection refused)"
[ "$(fault_status egress)" = "egress on" ] || fail "lab/fault status egress: $(fault_status egress)"
"$top/lab/fault" off egress >/dev/null
[ "$(egress)" = 0 ] || fail "egress fault off, but ferry-new still cannot reach payments"
say "fault egress: ferry-new -> 10.77.0.1:443 refused, then open"

code=$(post_new "smoke$$-a")
[ "$code" = 201 ] || fail "POST /orders to new answers $code before the orders500 fault"
"$top/lab/fault" on orders500 >/dev/null
code=$(post_new "smoke$$-b")
[ "$code" = 500 ] || fail "orders500 fault on, but POST /orders to new answers $code"
"$top/lab/fault" off orders500 >/dev/null
code=$(post_new "smoke$$-c")
[ "$code" = 201 ] || fail "orders500 fault off, but POST /orders to new answers $code"
# LAB_FAULTS on a lab that is up reaches the running app too.
LAB_FAULTS=orders500 "$top/lab/up" >/dev/null
code=$(post_new "smoke$$-d")
[ "$code" = 500 ] || fail "LAB_FAULTS=orders500 lab/up, but POST /orders to new answers $code"
"$top/lab/fault" off orders500 >/dev/null
say "fault orders500: POST /orders to new answers 500, then 201"

"$top/lab/fault" status | grep -q ' on$' && fail "a fault is still on: $("$top/lab/fault" status)"

# --- down, and nothing left ------------------------------------------------
pids=$(for ns in ferry-net ferry-old ferry-new; do ip netns pids "$ns"; done)
[ -n "$pids" ] || fail "no process in the lab's namespaces before lab/down?"
"$top/lab/down"
trap - EXIT
left=
for p in $pids; do
	st=$(cut -d ')' -f 2 "/proc/$p/stat" 2>/dev/null | cut -d ' ' -f 2)
	if [ -n "$st" ] && [ "$st" != Z ]; then
		left="$left $p($(cat "/proc/$p/comm" 2>/dev/null))"
	fi
done
[ -z "$left" ] || fail "processes of the lab still running after lab/down:$left"
if pgrep -f "$LAB_STATE" >/dev/null; then fail "processes naming $LAB_STATE after lab/down"; fi
ip netns list | grep -q '^ferry-' && fail "namespaces left: $(ip netns list | grep '^ferry-')"
ip -o link | grep -qE ': (ferrybr0|ferryv-)' && fail "interfaces left: $(ip -o link | grep -E 'ferrybr0|ferryv-')"
ls -d /etc/netns/ferry-* >/dev/null 2>&1 && fail "/etc/netns/ferry-* left"
[ ! -e /run/ferry-lab ] || fail "/run/ferry-lab left"
[ ! -e "$LAB_STATE" ] || fail "$LAB_STATE left"
getent passwd ferryop >/dev/null && fail "the user ferryop left"
[ ! -e /etc/sudoers.d/ferry-lab ] || fail "/etc/sudoers.d/ferry-lab left"
if pgrep -f 'ferry-lab/ssh/cm-' >/dev/null; then fail "an ssh ControlMaster of the lab left"; fi
say "down: no namespace, interface, process or state left; ok ($(($(date +%s) - t0))s)"
