#!/bin/sh
# events.sh FERRY - what `ferry run` and `ferry rollback` write while they
# work, without a terminal: a heartbeat at the interval asked while a time
# gate is waited for (phase, what, until when), and with --json one JSON
# object per line for each event, the outcome last, a failure as an
# "error" line (never an empty stdout).  No servers: plans with no DNS,
# databases or traffic; a cutover window hours away; a health check on a
# loopback port where nothing listens.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/cli.sh"
. "$top/tests/lib.sh"
cli_tmp events

# A run that waits for a cutover window three hours away.
plan_wait w.yaml

# --- heartbeats in a log (stdout a file, stderr not a terminal)
"$ferry" run w.yaml --heartbeat 1s >log 2>err &
bg=$!
wait_for 30 sh -c "test \$(grep -c '^heartbeat: ' log) -ge 3"
check "a heartbeat every second (--heartbeat 1s)" test $? -eq 0
check "it names the phase, what it waits for and until when" grep -Eq "^heartbeat: phase cutover, gate cutover window, waiting for the cutover window until 20[0-9-]+T[0-9:]+Z, [0-9hm ]+ left$" log
check "no countdown escape codes in the log" sh -c "! grep -q \"$(printf '\033')\" log err"
kill "$bg"
wait "$bg" 2>/dev/null
bg=
rm -f w.ferry.db*

# --- the same as JSON lines
"$ferry" run w.yaml --json --heartbeat 1s >log 2>err &
bg=$!
wait_for 30 sh -c "test \$(grep -c '\"heartbeat\"' log) -ge 2"
check "--json: heartbeats as JSON lines" test $? -eq 0
kill "$bg"
wait "$bg" 2>/dev/null
bg=
check "--json: every line is one JSON object" sh -c "jq -e -c . log >/dev/null"
check "--json: phase events" sh -c "jq -e -s '[.[] | select(.event == \"say\" and .phase == \"validate\" and .message == \"gate holds; phase complete\")] | length == 1' log >/dev/null"
check "--json: a heartbeat names what it waits for" sh -c "jq -e -s '[.[] | select(.event == \"heartbeat\")][0] | .phase == \"cutover\" and .gate == \"cutover window\" and .waiting_for == \"the cutover window\" and (.until | test(\"Z\$\")) and (.t | test(\"Z\$\"))' log >/dev/null"
"$ferry" run w.yaml --heartbeat soon >o 2>e
check "a bad --heartbeat is a usage error" sh -c "test $? -eq 2 && grep -q 'heartbeat' e"

# --- the outcome is the last line; --no-wait's exit 75 too
"$ferry" run w.yaml --json --no-wait >o 2>e
check "--json --no-wait: exit 75" test $? -eq 75
check "--json --no-wait: the outcome last, with the exit" sh -c "tail -1 o | jq -e '.event == \"outcome\" and .outcome == \"waiting\" and .waiting_for == \"the cutover window\" and .exit == 75' >/dev/null"

# --- a failure is an "error" line on stdout, after the events
plan_fail f.yaml
"$ferry" run f.yaml --json >o 2>e
check "--json failure: exit 1" test $? -eq 1
check "--json failure: every line JSON" sh -c "jq -e -c . o >/dev/null"
check "--json failure: the last line is the error" sh -c "tail -1 o | jq -e '.event == \"error\" and .ok == false and .code == \"check_failed\" and (.hint | test(\"ferry check f.yaml\")) and .exit == 1' >/dev/null"

# --- rollback --json: events and the outcome
"$ferry" rollback f.yaml --json >o 2>e
check "rollback --json: exit 0" test $? -eq 0
check "rollback --json: its events" sh -c "jq -e -s '[.[] | select(.event == \"say\" and .object == \"rollback\")] | length >= 1' o >/dev/null"
check "rollback --json: the outcome last" sh -c "tail -1 o | jq -e '.event == \"outcome\" and .outcome == \"rolled_back\"' >/dev/null"
"$ferry" rollback f.yaml --json >o 2>e
check "rollback --json in replicate: nothing to do" sh -c "tail -1 o | jq -e '.outcome == \"nothing_to_do\" and .phase == \"replicate\"' >/dev/null"
"$ferry" run f.yaml --dry-run --json >o 2>e
check "run --dry-run --json: one object with the actions" jq -e '.event == "dry_run" and (.actions | test("== validate"))' o

exit $fail
