#!/bin/bash
# weighted_dns.sh - the whole lab migration with the zone behind PowerDNS
# (LAB_DNS=powerdns, lab/powerdns) and the validation split done by weighted
# DNS (lab/plan-powerdns.yaml, traffic.via: dns) instead of HAProxy's
# weights, under the lab's write load; the verdict on writes from the load
# generator's ledger (lab/verify), never from ferry's own view.
#
# It checks: each validation step put a weighted LUA record into PowerDNS
# (ferry's output and journal), ferry status shows the requested share
# beside the realised one, the balancers' weights were left alone (read
# only), at the end www and api answer the new address at the restored
# TTL, replication is removed, and 0 acknowledged writes were lost.
#
# Needs root and the lab's namespaces (exit 77 otherwise) and no other lab
# up; run it under flock /tmp/ferry-servers.lock like every lab test.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
export LAB_BUILD=${LAB_BUILD:-$top/build}
export LAB_STATE=${LAB_STATE:-$LAB_BUILD/tests/lab/weighted-state}
export LAB_SEED_MB=${LAB_SEED_MB:-5}
export LAB_TTL=6
export LAB_DNS=powerdns
unset LAB_FAULTS LAB_KEEP_STATE
ferry=$LAB_BUILD/src/ferry
logs=$LAB_BUILD/tests/lab/weighted-logs

say() { printf 'weighted_dns: %s\n' "$*"; }
fail() {
	printf 'weighted_dns: FAIL: %s\n' "$*" >&2
	exit 1
}
skip() {
	say "skipped: $*"
	[ -n "${CI:-}" ] && exit 1
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
# shellcheck source=/dev/null
why=$(LAB_STATE=/nonexistent . "$top/lab/lib.sh" && lab_netns_unusable)
[ -z "$why" ] || skip "$why"
command -v pdns_server >/dev/null 2>&1 || skip "pdns-server not installed"
# shellcheck source=/dev/null
. "$top/tests/lib.sh" # lab_exclusive
if ! lab_exclusive weighted_dns "$0" "$@"; then
	skip "a lab is up that this suite may not take down"
fi

load_pid=
on_exit() {
	rc=$?
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	if [ $rc != 0 ]; then
		say "failed ($rc); the last ferry output:"
		tail -n 40 "$logs"/*.out 2>/dev/null | tail -n 60
	fi
	"$top/lab/down" >/dev/null 2>&1 || say "lab/down failed too"
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT TERM
rm -rf "$logs"
mkdir -p "$logs"

wait_until() { # DEADLINE_S WHAT CMD...: polls CMD every 0.2 s
	local deadline=$(($(date +%s) + $1)) what=$2
	shift 2
	until "$@"; do
		[ "$(date +%s)" -lt $deadline ] || fail "timed out waiting for $what"
		sleep 0.2
	done
}
dns_of() { kdig @10.77.0.1 +short +norec "$1" A 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
ttl_of() { kdig @10.77.0.1 +noall +answer +norec "$1" A 2>/dev/null | awk '{print $2; exit}'; }
weight_of() { # SERVER: its weight in old's backend web
	timeout 3 bash -c 'exec 3<>/dev/tcp/10.77.0.2/9999; printf "get weight web/%s\n" "$1" >&3;
		cat <&3' _ "$1" | awk 'NR == 1 {print $1}'
}
replication_objects() { # DB: slots + publications + subscriptions
	psql "$1" -XAtqc "SELECT (SELECT count(*) FROM pg_replication_slots) +
		(SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_subscription)"
}

"$top/lab/down" >/dev/null 2>&1 || true
"$top/lab/up" >"$logs/lab-up" 2>&1 || { tail -n 20 "$logs/lab-up"; fail "lab/up failed"; }
grep -q 'net: PowerDNS on 10.77.0.1:53' "$logs/lab-up" || fail "lab/up did not start PowerDNS"
# shellcheck source=/dev/null
. "$LAB_STATE/env"
export PGPASSFILE=$LAB_PGPASSFILE
[ "$(dns_of www.shop.test)" = 10.77.0.2 ] || fail "PowerDNS does not serve www.shop.test"
plan=$LAB_STATE/plan-powerdns.yaml
# The lab's schedule of seconds, as tests/lab/scenarios.sh runs it.
sed -e "s#state/#$LAB_STATE/#g" \
	-e 's/steps: \[10, 2\]/steps: [3, 1]/' -e 's/cutover: 2$/cutover: 1/' \
	-e 's/restore: 30/restore: 6/' -e 's/replication_soak: 10s/replication_soak: 3s/' \
	-e 's/validation: 15s/validation: 6s/' -e 's/step_hold: 5s/step_hold: 2s/' \
	-e 's/monitor: 10s/monitor: 3s/' -e 's/window: 20s/window: 3s/' \
	"$top/lab/plan-powerdns.yaml" >"$plan"

"$ferry" check "$plan" >"$logs/check.out" 2>&1 || true
grep -q 'ok    dns.key .*powerdns.*read-compare-write' "$logs/check.out" ||
	{ cat "$logs/check.out"; fail "ferry check: the PowerDNS API key row"; }

rm -f "$LAB_STATE/stop-load"
"$top/lab/load" --duration 15m --until-file "$LAB_STATE/stop-load" >"$logs/load" 2>&1 &
load_pid=$!
wait_until 20 "the first acknowledged write" grep -q 'acked=[1-9]' "$logs/load"

# Through validation first, to look at the split while it is in place.
set +e
"$ferry" run "$plan" --until validate >"$logs/validate.out" 2>&1
rc=$?
set -e
[ $rc = 0 ] || fail "ferry run --until validate exit $rc"
for pct in 1 5 25; do
	grep -q "DNS answers $pct % new (weights" "$logs/validate.out" ||
		fail "no weighted DNS step of $pct %"
done
"$ferry" status "$plan" --json >"$logs/status.json"
[ "$(jq -r .traffic.via "$logs/status.json")" = dns ] || fail "status: traffic.via"
[ "$(jq -r .traffic.requested_pct "$logs/status.json")" = 25 ] ||
	fail "status: requested $(jq -r .traffic.requested_pct "$logs/status.json"), want 25"
jq -e '.traffic.realised_pct | type == "number"' "$logs/status.json" >/dev/null ||
	fail "status: no realised share"
say "validation: requested 25 %, realised $(jq -r .traffic.realised_pct "$logs/status.json") % at the backends"
[ "$(weight_of new)" = 0 ] || fail "ferry changed HAProxy's weights in DNS mode"

# The cutover refuses (exit 1, nothing moved) while replication lags by
# more than its limit, which a busy machine under 500 writes/s can show:
# as an operator would, run again (up to three times).
for try in 1 2 3; do
	set +e
	"$ferry" run "$plan" >"$logs/run.out" 2>&1
	rc=$?
	set -e
	[ $rc = 1 ] && grep -q 'not ready: lag' "$logs/run.out" || break
	say "cutover refused for replication lag ($(grep -o 'lag [0-9]* bytes, [0-9]* ms' "$logs/run.out")); again"
done
[ $rc = 0 ] || fail "ferry run exit $rc"
touch "$LAB_STATE/stop-load"
wait "$load_pid" || true
load_pid=

[ "$(dns_of www.shop.test)" = 10.77.0.3 ] || fail "www.shop.test answers $(dns_of www.shop.test)"
[ "$(dns_of api.shop.test)" = 10.77.0.3 ] || fail "api.shop.test answers $(dns_of api.shop.test)"
[ "$(ttl_of www.shop.test)" = 6 ] || fail "TTL not restored (is $(ttl_of www.shop.test))"
[ "$(replication_objects "$LAB_OLD_DB")" = 0 ] || fail "replication left on old"
[ "$(replication_objects "$LAB_NEW_DB")" = 0 ] || fail "replication left on new"
[ "$("$ferry" status "$plan" --json | jq -r .phase)" = done ] || fail "phase not done"
"$top/lab/verify" >"$logs/verify" 2>&1 || { cat "$logs/verify"; fail "lab/verify"; }
grep -q 'lost=0 ' "$logs/verify" || fail "lab/verify did not report lost=0"
say "$(tail -n 1 "$logs/verify")"
say "ok"
