#!/bin/sh
# dns_cli.sh FERRY - `ferry plan`, `ferry check` and `ferry run --until
# prepare` through the real command line against a real Knot server (run
# under tests/integration/dns/knot.sh, which exports FERRY_TEST_DNS_*).
#
# Time gates are crossed with FERRY_NOW (ferry's wall clock for schedules),
# never by sleeping.
set -eu
ferry=$1
dir=$(mktemp -d /tmp/ferry-cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
port=$FERRY_TEST_DNS_PORT
fail() { echo "FAIL: $*" >&2; exit 1; }
ttl_of() { kdig @127.0.0.1 -p "$port" +noall +answer "$1" A | awk '{print $2; exit}'; }
addr_of() { kdig @127.0.0.1 -p "$port" +short +norec "$1" A | sort | tr '\n' ' ' | sed 's/ $//'; }
# other "UPDATE LINES": another party's change, signed with the same key.
other() {
	printf 'server 127.0.0.1 %s\nzone shop.test.\n%s\nsend\n' "$port" "$1" |
		knsupdate -k "$FERRY_TEST_DNS_KNSUPDATE_KEY" || fail "knsupdate: $1"
}
PATH=$PATH:/usr/sbin

write_plan() { # write_plan FILE SECRET_FILE
	cat >"$1" <<YAML
name: cli
hosts:
  old: { address: 10.77.0.2 }
  new: { address: 10.77.0.3 }
dns:
  provider: rfc2136
  server: 127.0.0.1:$port
  zone: shop.test
  key: { name: ferry-key, algorithm: hmac-sha256, secret_file: $2 }
  records: [www.shop.test, api.shop.test]
  ttl: { cutover: 1, steps: [2, 1] }
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
rollback: { waiver: "a test run: its cutover is what is tested, not a production one" }
YAML
}
write_plan "$dir/p.yaml" "$FERRY_TEST_DNS_KEY_FILE"

# --- ferry plan --json: the live records and the timeline
T0=2026-11-26T06:00:00Z
FERRY_NOW=$T0 "$ferry" plan "$dir/p.yaml" --json >"$dir/plan.json" || fail "ferry plan exit $?"
[ "$(jq -r '.records[0].name' "$dir/plan.json")" = www.shop.test ] || fail "records[0].name"
[ "$(jq -r '.records[0].addresses[0]' "$dir/plan.json")" = 10.77.0.2 ] || fail "addresses"
[ "$(jq -r '.records[0].ttl_now' "$dir/plan.json")" = 3600 ] || fail "ttl_now"
# 3600 -> 2 now, 2 -> 1 one old TTL (3600 s) later, in effect 2 s after that.
[ "$(jq -r '[.ttl_steps[] | select(.record == "www.shop.test")] | map(.ttl) | join(",")' \
	"$dir/plan.json")" = "2,1" ] || fail "ttl_steps"
[ "$(jq -r '.ttl_steps[0].not_before' "$dir/plan.json")" = $T0 ] || fail "first step not now"
[ "$(jq -r '.ttl_steps[1].not_before' "$dir/plan.json")" = 2026-11-26T07:00:00Z ] ||
	fail "second step not one old TTL later"
[ "$(jq -r '.cutover_ttl_effective' "$dir/plan.json")" = 2026-11-26T07:00:02Z ] ||
	fail "cutover_ttl_effective"
for k in earliest_cutover rollback_window_end decommission; do
	[ "$(jq -r ".$k" "$dir/plan.json")" != null ] || fail "$k missing"
done
"$ferry" plan "$dir/p.yaml" | grep -q 'TTL step-down' || fail "plan table"

# --- ferry check: all pass but the TTL (a warning), exit 0
"$ferry" check "$dir/p.yaml" >"$dir/check.txt" || fail "ferry check exit $?"
grep -q 'ok    dns.key' "$dir/check.txt" || fail "key row"
grep -q 'warn  dns.ttl' "$dir/check.txt" || fail "ttl row"
grep -q 'traffic split between old and new for up to one old TTL' "$dir/check.txt" ||
	fail "the TTL row does not name the failure it prevents"
"$ferry" check "$dir/p.yaml" --json | jq -e '.ok == true' >/dev/null || fail "check --json"

# --- a wrong secret: exit 1, BADSIG named, secret never printed
head -c 32 /dev/urandom | base64 >"$dir/wrong.secret"
write_plan "$dir/wrong.yaml" "$dir/wrong.secret"
set +e
"$ferry" check "$dir/wrong.yaml" >"$dir/wrong.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "check with a wrong key exit $rc, want 1"
grep -q 'fail  dns.key' "$dir/wrong.txt" || fail "wrong key not reported"
grep -qi 'BADSIG\|signature' "$dir/wrong.txt" || fail "BADSIG not named"
if grep -qF "$(cat "$dir/wrong.secret")" "$dir/wrong.txt" ||
	grep -qF "$(cat "$FERRY_TEST_DNS_KEY_FILE")" "$dir/check.txt"; then
	fail "a secret reached the output"
fi

# --- ferry run --dry-run: every action with the exact UPDATE, nothing changed
FERRY_NOW=$T0 "$ferry" run "$dir/p.yaml" --dry-run >"$dir/dry.txt" 2>&1 ||
	{ cat "$dir/dry.txt"; fail "dry run exit $?"; }
grep -q '^== prepare (the current phase)' "$dir/dry.txt" || fail "dry run: no prepare phase"
grep -q 'www.shop.test TTL 3600 -> 2 (now)' "$dir/dry.txt" || fail "dry run: first step"
grep -q 'update add www.shop.test.* 2 IN A 10.77.0.2' "$dir/dry.txt" ||
	{ cat "$dir/dry.txt"; fail "dry run: the exact UPDATE is not shown"; }
grep -q '^== decommission' "$dir/dry.txt" || fail "dry run stops before the last phase"
grep -q 'www.shop.test from 10.77.0.2 to 10.77.0.3' "$dir/dry.txt" || fail "dry run: no cutover CAS"
[ "$(ttl_of www.shop.test)" = 3600 ] || fail "a dry run changed a TTL"
[ ! -e "$dir/p.ferry.db" ] || fail "a dry run created a journal"
grep -qF "$(cat "$FERRY_TEST_DNS_KEY_FILE")" "$dir/dry.txt" && fail "the dry run shows the key"

# --- hooks: a failing before_prepare hook blocks the phase, changing nothing
write_plan "$dir/hooked.yaml" "$FERRY_TEST_DNS_KEY_FILE"
cat >>"$dir/hooked.yaml" <<YAML
hooks:
  before_prepare: [sh, -c, "echo change freeze in effect; exit 3"]
YAML
set +e
FERRY_NOW=$T0 "$ferry" run "$dir/hooked.yaml" --no-wait >"$dir/hook.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "a failing before_prepare hook: exit $rc, want 1"
grep -q 'before_prepare blocked by its hook' "$dir/hook.txt" || fail "the block is not explained"
grep -q 'change freeze in effect' "$dir/hook.txt" || fail "the hook's output line is not shown"
[ "$(ttl_of www.shop.test)" = 3600 ] || fail "a blocked prepare changed a TTL"
rm -f "$dir/hooked.ferry.db"*

# --- ferry run --until prepare, with a crash after the first TTL change
set +e
FERRY_NOW=$T0 FERRY_CRASH_AT=dns.set_ttl:after "$ferry" run "$dir/p.yaml" --no-wait >"$dir/run1.txt" 2>&1
rc=$?
set -e
[ $rc = 137 ] || fail "crash injection: exit $rc, want 137 (SIGKILL)"
[ "$(ttl_of www.shop.test)" = 2 ] || fail "the TTL change before the crash did not apply"
# The resumed run finds the open step, sees the change applied, goes on with
# api, and waits for the next step: exit 75.
set +e
FERRY_NOW=$T0 "$ferry" run "$dir/p.yaml" --no-wait >"$dir/run2.txt" 2>&1
rc=$?
set -e
[ $rc = 75 ] || { cat "$dir/run2.txt"; fail "resumed run exit $rc, want 75"; }
grep -q 'interrupted' "$dir/run2.txt" || fail "the resumed run did not report the open step"
[ "$(ttl_of api.shop.test)" = 2 ] || fail "api not lowered"
# A second run at the same instant changes nothing and still waits.
set +e
FERRY_NOW=$T0 "$ferry" run "$dir/p.yaml" --no-wait >"$dir/run3.txt" 2>&1
rc=$?
set -e
[ $rc = 75 ] || fail "early run exit $rc, want 75"
grep -q 'TTL 2 -> 1' "$dir/run3.txt" && fail "the second step was taken before one old TTL"
# One old TTL (3600 s) later: the last step, then the gate waits 2 s more.
set +e
FERRY_NOW=2026-11-26T07:00:00Z "$ferry" run "$dir/p.yaml" --no-wait >"$dir/run4.txt" 2>&1
rc=$?
set -e
[ $rc = 75 ] || fail "run at +1h exit $rc, want 75"
[ "$(ttl_of www.shop.test)" = 1 ] || fail "www not at the cutover TTL"
FERRY_NOW=2026-11-26T07:00:02Z "$ferry" run "$dir/p.yaml" --no-wait --until prepare \
	>"$dir/run5.txt" 2>&1 || { cat "$dir/run5.txt"; fail "prepare gate did not pass"; }
grep -q 'prepare: gate holds' "$dir/run5.txt" || fail "no gate line"
[ "$(stat -c %a "$dir/p.ferry.db")" = 600 ] || fail "journal mode"
# Two runs of one plan cannot overlap: hold the lock with flock(1).
flock "$dir/p.ferry.db.lock" sh -c "\"$ferry\" run \"$dir/p.yaml\" --no-wait >\"$dir/lock.txt\" 2>&1; echo \$? >\"$dir/lock.rc\"" || true
[ "$(cat "$dir/lock.rc")" = 1 ] || fail "a locked plan did not exit 1"
grep -q 'lock' "$dir/lock.txt" || fail "the lock refusal does not say so"

# --- the cutover expects the PLAN's old set: another party moves www after
# prepare, and the preflight refuses before anything is paused or changed.
FERRY_NOW=2026-11-26T07:00:05Z "$ferry" run "$dir/p.yaml" --no-wait --until validate \
	>"$dir/run6.txt" 2>&1 || { cat "$dir/run6.txt"; fail "replicate and validate did not pass"; }
cat >>"$dir/p.yaml" <<YAML
hooks:
  before_cutover: [sh, -c, "touch $dir/before-cutover.ran"]
YAML
other "update delete www.shop.test. A
update add www.shop.test. 1 A 10.77.0.9"
set +e
FERRY_NOW=2026-11-26T07:00:10Z "$ferry" run "$dir/p.yaml" --no-wait >"$dir/cut1.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$dir/cut1.txt"; fail "cutover with a moved record: exit $rc, want 1"; }
grep -q 'cutover refused before any database was paused: www.shop.test holds 10.77.0.9' \
	"$dir/cut1.txt" || { cat "$dir/cut1.txt"; fail "the refusal does not name what www holds"; }
grep -q "neither hosts.old's 10.77.0.2 nor hosts.new's 10.77.0.3" "$dir/cut1.txt" ||
	fail "the refusal does not name both sides"
[ ! -e "$dir/before-cutover.ran" ] || fail "the before_cutover hook ran: the preflight came too late"
grep -q 'rollback plan for' "$dir/cut1.txt" && fail "the rollback plan was written: the cutover began"
[ "$(addr_of www.shop.test)" = 10.77.0.9 ] || fail "www lost the other party's value"
[ "$(addr_of api.shop.test)" = 10.77.0.2 ] || fail "api was moved by a refused cutover"

# --- put back: the cutover moves both records from the plan's old set
other "update delete www.shop.test. A
update add www.shop.test. 1 A 10.77.0.2"
set +e
FERRY_NOW=2026-11-26T07:00:20Z "$ferry" run "$dir/p.yaml" --no-wait >"$dir/cut2.txt" 2>&1
rc=$?
set -e
[ $rc = 75 ] || { cat "$dir/cut2.txt"; fail "cutover: exit $rc, want 75 (waits to decommission)"; }
[ -e "$dir/before-cutover.ran" ] || fail "the before_cutover hook did not run"
grep -q 'dns: www.shop.test from 10.77.0.3 back to 10.77.0.2, TTL 1 (compare-and-swap, atomic)' \
	"$dir/cut2.txt" || { cat "$dir/cut2.txt"; fail "the rollback plan does not name the sets"; }
[ "$(addr_of www.shop.test)" = 10.77.0.3 ] || fail "www not moved"
[ "$(addr_of api.shop.test)" = 10.77.0.3 ] || fail "api not moved"

# --- the rollback expects the plan's NEW set: api changed by another party
# after the cutover is refused, and keeps that value.
other "update delete api.shop.test. A
update add api.shop.test. 1 A 10.77.0.8"
set +e
"$ferry" rollback "$dir/p.yaml" --reason "cli test" >"$dir/rb.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$dir/rb.txt"; fail "rollback over a changed record: exit $rc, want 1"; }
grep -q 'api.shop.test.*10.77.0.8' "$dir/rb.txt" || { cat "$dir/rb.txt"; fail "rollback refusal"; }
[ "$(addr_of api.shop.test)" = 10.77.0.8 ] || fail "the rollback overwrote api"
echo "dns_cli: ok"
