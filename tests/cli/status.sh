#!/bin/sh
# status.sh FERRY - `ferry status` and `ferry run` around failures, crashes
# and the end, through the built binary, no servers (plans with no DNS,
# databases or traffic; a health check against a loopback port where
# nothing listens): the last error, open steps, an active run and the exact
# next command with the real plan path; no -1 placeholders; --watch into a
# pipe without escape codes; colour only where asked; a fresh run of a
# finished migration says when it finished and how to start another.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/cli.sh"
. "$top/tests/lib.sh"
cli_tmp status
mkdir plans

# --- a run that fails at the host checks (nothing listens on 16498)
plan_fail plans/f.yaml
"$ferry" run plans/f.yaml >o 2>e
check "the failing run exits 1" test $? -eq 1
"$ferry" status plans/f.yaml >o 2>e
check "status exits 0" test $? -eq 0
check "status shows the last error and where" grep -q "^last error (.*, in validate): validate: 1 host check failed" o
check "with its hint, PLAN replaced by the path" grep -q "hint: 'ferry check plans/f.yaml' lists every check" o
check "the gate that holds" grep -q "HOLD validate/host_checks" o
check "no run is active" grep -q "^no run is active" o
check "the exact next command" grep -q "^next: ferry run plans/f.yaml$" o
check "no -1 anywhere in the text" sh -c "! grep -Eq -- '(^|[ (>])-1([^0-9]|\$)' o"
check "triggers not set are said so" grep -q "rollback triggers: none set" o
"$ferry" status plans/f.yaml --json >o
check "--json: last_error with code" jq -e '.last_error.code == "check_failed" and .last_error.phase == "validate" and (.last_error.hint | test("plans/f.yaml"))' o
check "--json: next" jq -e '.next.command == "ferry run plans/f.yaml"' o
check "--json: unset thresholds are null, never -1" jq -e '.thresholds | [.[]] == [null, null, null]' o
check "--json: no -1 anywhere" sh -c "! grep -Eq -- '(: |\\[)-1([^0-9]|\$)' o"
# A value a driver could not tell (-1, HAProxy's empty rtime) is "unknown"
# (written into the journal with sqlite3, scripts/deps installs it).
sqlite3 plans/f.ferry.db "INSERT INTO series (name, object) VALUES ('rtime_ms', 'new');
	INSERT INTO samples SELECT id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, -1
	FROM series WHERE name = 'rtime_ms'"
check "a -1 sample written" test $? -eq 0
"$ferry" status plans/f.yaml >o
check "an unknown sample is 'unknown', not -1" grep -Eq "^  rtime_ms +new +unknown$" o
"$ferry" status plans/f.yaml --json >o
check "--json: an unknown sample is null" jq -e '.latest.rtime_ms.new == null' o
"$ferry" status plans/f.yaml --state plans/f.ferry.db --json >o
check "--state is kept in the next command" jq -e '.next.command == "ferry run plans/f.yaml --state plans/f.ferry.db"' o
"$ferry" run plans/f.yaml >o 2>e
check "the run's own hint names the path too" grep -q "hint: 'ferry check plans/f.yaml'" e

# --- --watch into a pipe: no clear-screen codes, one status after the other
"$ferry" status plans/f.yaml --watch | awk '/^--- /{n++} n == 3 {exit} {print}' >w
check "--watch into a pipe has no escape codes" sh -c "! grep -q \"$(printf '\033')\" w"
check "--watch into a pipe separates the statuses" test "$(grep -c '^--- ' w)" -eq 2
check "--watch into a pipe prints whole statuses" test "$(grep -c '^plan fail: phase validate' w)" -eq 2

# --- colour: only where asked, NO_COLOR honoured on a terminal
esc=$(printf '\033')
"$ferry" status plans/f.yaml >o
check "a pipe gets no colour" sh -c "! grep -q '$esc' o"
"$ferry" status plans/f.yaml --color=always >o
check "--color=always colours" grep -q "$esc\[1;31mHOLD" o
"$ferry" --color never status plans/f.yaml >o
check "--color never before the command works" sh -c "! grep -q '$esc' o"
"$ferry" status plans/f.yaml --color=sometimes >o 2>e
check "a bad --color is a usage error" sh -c "test $? -eq 2 && grep -q 'expected auto, always or never' e"
script -qec "'$ferry' status plans/f.yaml" /dev/null >o 2>&1
check "a terminal gets colour (auto)" grep -q "$esc\[1;31mHOLD" o
script -qec "NO_COLOR=1 '$ferry' status plans/f.yaml" /dev/null >o 2>&1
check "NO_COLOR: no colour on a terminal" sh -c "! grep -q '$esc\[' o"
script -qec "NO_COLOR=1 '$ferry' status plans/f.yaml --color=always" /dev/null >o 2>&1
check "--color=always beats NO_COLOR" grep -q "$esc\[1;31mHOLD" o

# --- a crash leaves an open step: status names it and what to do
cat >plans/h.yaml <<YAML
name: hook
hooks:
  before_prepare: [/bin/true]
YAML
FERRY_CRASH_AT=hook "$ferry" run plans/h.yaml >o 2>e
"$ferry" status plans/h.yaml >o
check "an open step is shown" grep -Eq "^  hook before_prepare.* \(pid [0-9]+\)" o
check "the next command says why" grep -q "a run was interrupted; the next one checks the world" o
check "and is the run" grep -q "^next: ferry run plans/h.yaml$" o

# --- an active run: status sees it and says to watch
plan_wait plans/w.yaml
"$ferry" run plans/w.yaml >run.out 2>&1 &
bg=$!
wait_for 20 grep -q "validate: gate holds" run.out
"$ferry" status plans/w.yaml --json >o
check "an active run is seen, with its pid" jq -e ".run.active == true and .run.pid == $bg" o
check "the next command is to watch it" jq -e '.next.command == "ferry status plans/w.yaml --watch"' o
kill "$bg"
wait "$bg" 2>/dev/null
bg=
"$ferry" status plans/w.yaml --json >o
check "after it stopped: not active" jq -e '.run.active == false' o

# --- the end: a finished migration, and a fresh run of it
cat >plans/d.yaml <<YAML
name: done
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
rollback: { window: 1h, waiver: "a test run: its cutover is what is tested, not a production one" }
YAML
"$ferry" run plans/d.yaml --no-wait >o 2>e
check "up to the rollback window: exit 75" test $? -eq 75
FERRY_NOW=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ) "$ferry" run plans/d.yaml >o 2>e
check "past the rollback window: complete" sh -c "test $? -eq 0 && grep -q 'migration done complete' o"
"$ferry" run plans/d.yaml >o 2>e
check "a fresh run of a finished migration: exit 0" test $? -eq 0
check "it says when it finished" grep -Eq "^ferry: migration done already finished at 20[0-9-]+T[0-9:]+Z \(journal plans/d.ferry.db\); nothing to do" o
check "it does not claim to have just done it" sh -c "! grep -q 'migration done complete' o"
check "it says how to start another (a new --state)" grep -Eq "^  ferry run plans/d.yaml --state plans/d-[0-9]{8}.ferry.db$" o
"$ferry" status plans/d.yaml --json >o
check "status: finished, next is a new journal" jq -e '.phase == "done" and (.finished | test("Z$")) and (.next.command | test("^ferry run plans/d.yaml --state plans/d-[0-9]{8}.ferry.db$"))' o

exit $fail
