#!/bin/bash
# rollback_cli.sh FERRY - the five rollback answers (issue 15) through the
# real binary against a real Knot (run under knot.sh on ports 16900-16999):
#   - `ferry check` fails each missing answer (authority, trigger, duration)
#     and `ferry plan --offline` and `ferry status` show them;
#   - the cutover gate refuses a DNS-only plan whose rollback was never
#     measured, with nothing changed, saying how to measure it;
#   - `ferry check --rehearse` moves the canary to the new set and back by
#     compare-and-swap, watches the resolver, and journals the measured
#     time; the canary holds the old set again; the answers are complete;
#   - the same plan then cuts over, and plan/status/report show the answers.
# Time gates are crossed with FERRY_NOW, never by sleeping.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../../.." && pwd)
port=$FERRY_TEST_DNS_PORT
PATH=$PATH:/usr/sbin
. "$top/tests/lib.sh"
. "$top/tests/cli/cli.sh"
cli_tmp rollback
answer() { kdig @127.0.0.1 -p "$port" +short +norec "$1" A; }
knsupdate <<NSUP || exit 1
server 127.0.0.1 $port
zone shop.test.
key hmac-sha256:ferry-key $(cat "$FERRY_TEST_DNS_KEY_FILE")
update add gate.shop.test. 1 A 10.77.0.2
update add rehearse.shop.test. 1 A 10.77.0.2
send
NSUP
wait_for 10 sh -c "test \"\$(kdig @127.0.0.1 -p $port +short rehearse.shop.test A)\" = 10.77.0.2"

write() { # write FILE ROLLBACK-SECTION
	cat >"$1" <<YAML
name: rb
hosts:
  old: { address: 10.77.0.2 }
  new: { address: 10.77.0.3 }
dns:
  server: 127.0.0.1:$port
  zone: shop.test
  key: { name: ferry-key, secret_file: $FERRY_TEST_DNS_KEY_FILE }
  records: [gate.shop.test]
  ttl: { cutover: 1, steps: [1] }
  resolvers: [127.0.0.1:$port]
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
$2
YAML
}
write bare.yaml "rollback: { window: 1h }"
write p.yaml 'rollback:
  authority: "Dana Ops <dana@shop.test>"
  when: { health_failures: 3 }
  window: 2h
  canary: rehearse.shop.test'

# --- check: each missing answer a failed row, exit 1
"$ferry" check bare.yaml >c0 2>&1
check "check without the answers exits 1" test $? -eq 1
check "check: authority missing" grep -Eq "^fail +rollback.authority +who may authorize one +nobody named" c0
check "check: trigger missing" grep -Eq "^fail +rollback.trigger .*no trigger" c0
check "check: duration not measured, how to get it" grep -Eq "^fail +rollback.duration .*not measured: no rehearsal.*rollback.canary" c0
check "check: the window answered" grep -Eq "^ok +rollback.window .*1h after the cutover" c0
"$ferry" check bare.yaml --json >c0.json 2>/dev/null
check "check --json: the rows" sh -c "jq -e '[.checks[] | select(.check == \"rollback.authority\")][0].status == \"fail\"' c0.json >/dev/null"

# --- plan --offline shows the answers
"$ferry" plan p.yaml --offline >plan0 2>&1
check "plan: the answers, incomplete" grep -q "^Rollback: the five answers (incomplete: the cutover gate refuses)" plan0
check "plan: the authority" grep -Eq "^  who may authorize one +Dana Ops <dana@shop.test>" plan0
check "plan: the duration not measured" grep -Eq "^  how long a rollback takes +MISSING: not measured: no rehearsal" plan0

# --- the gate refuses the cutover without a measurement; nothing changed
at() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }
T=0
# advance LOG: `ferry run --no-wait`, 100 s later each time while a time
# gate holds it (exit 75); rc is the last exit code
advance() {
	for _i in 1 2 3 4 5 6 7 8 9 10; do
		T=$((T + 100))
		FERRY_NOW=$(at $T) "$ferry" run p.yaml --no-wait --until cutover >>"$1" 2>&1
		rc=$?
		[ $rc = 75 ] || return 0
	done
}
advance run0
check "run without a measurement exits 1 (got $rc)" test $rc -eq 1
check "run: the gate names the missing answer and how to measure it" sh -c "grep -q 'cutover refused before anything changed: no answer to how long a rollback takes' run0 && grep -q 'ferry check p.yaml --rehearse' run0 || { cat run0; exit 1; }"
check "run: the record did not move" test "$(answer gate.shop.test)" = 10.77.0.2
"$ferry" status p.yaml --json >st0.json 2>/dev/null
check "status --json: the answers incomplete" sh -c "jq -e '.rollback.complete == false and (.rollback.answers[] | select(.key == \"duration\") | .state) == \"missing\"' st0.json >/dev/null"

# --- the rehearsal: measured, journaled, the canary back on the old set
"$ferry" check p.yaml --rehearse >c1 2>c1.err
rc=$?
check "check --rehearse exits 0 (got $rc)" sh -c "test $rc -eq 0 || { cat c1 c1.err; exit 1; }"
check "rehearsal: moved to the new set by compare-and-swap" grep -q "rehearsal: rehearse.shop.test 10.77.0.2 -> 10.77.0.3 (TTL 1), compare-and-swap" c1.err
check "rehearsal: back everywhere, timed" grep -Eq "rehearsal: back on 10.77.0.2 everywhere after [0-9]+ ms" c1.err
check "rehearsal: the canary holds the old set" test "$(answer rehearse.shop.test)" = 10.77.0.2
check "check: the duration answered by the rehearsal" grep -Eq "^ok +rollback.duration .*DNS part rehearsed in [0-9.]+ s on rehearse.shop.test" c1
"$ferry" status p.yaml --json >st1.json 2>/dev/null
check "status --json: the measured time journaled" sh -c "jq -e '.rollback.rehearsal_ms >= 0 and .rollback.complete == true' st1.json >/dev/null || { cat st1.json; exit 1; }"
"$ferry" status p.yaml >st1 2>&1
check "status: the answers" grep -Eq "^  how long a rollback takes +DNS part rehearsed in" st1

# --- now the cutover goes; the answers in plan, status and the report
advance run1
check "run with the answers passes the cutover (got $rc)" sh -c "test $rc -eq 0 || { cat run1; exit 1; }"
check "run: the record moved" test "$(answer gate.shop.test)" = 10.77.0.3
"$ferry" plan p.yaml --offline >plan1 2>&1
check "plan: complete answers" grep -q "^Rollback: the five answers$" plan1
check "plan: the window's end" grep -Eq "^  when the window ends +2h after the cutover: it ends " plan1
"$ferry" report p.yaml -o r.html >/dev/null 2>&1
check "report: the answers" sh -c "grep -q 'Rollback: the five answers' r.html && grep -q 'Dana Ops &lt;dana@shop.test&gt;' r.html"
exit $fail
