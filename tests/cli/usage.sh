#!/bin/sh
# usage.sh FERRY - the command line itself, through the built binary, no
# servers: every command's --help (options one line each, an example),
# "did you mean" for commands, options and phases, usage errors as JSON
# under --json, `version --json`, the loud warning for the test-only
# environment variables, and an empty --now / --reason refused.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/cli.sh"
cli_tmp usage
printf 'name: u\n' >u.yaml

# --- every command's --help: usage, options one line each, an example
cmds=$("$ferry" help | sed -n '/^commands:/,/^$/{/^  [a-z]/s/^  \([a-z-]*\).*/\1/p}')
check "ferry help lists the commands" test "$(echo "$cmds" | wc -w)" -ge 10
for c in $cmds; do
	"$ferry" "$c" --help >h.out 2>h.err
	rc=$?
	check "$c --help exits 0" test $rc -eq 0
	check "$c --help starts with its usage" grep -q "^usage: ferry $c" h.out
	check "$c --help has an example" grep -q "^  \$ ferry $c" h.out
	check "$c --help lists --help on a line of its own" grep -Eq '^  -h, --help +[a-z]' h.out
	# every --option of the usage line has its own line with a description
	for o in $(head -1 h.out | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		check "$c --help describes $o on a line" grep -Eq "^  (-[a-z], )?$o( [A-Z.|]+)? +[a-z(']" h.out
	done
	"$ferry" help "$c" >h2.out
	check "ferry help $c is ferry $c --help" cmp -s h.out h2.out
done

# --- did you mean
"$ferry" plna u.yaml >o 2>e
check "an unknown command exits 2" test $? -eq 2
check "an unknown command gets a suggestion" grep -q "'plna' is not a command; did you mean 'plan'?" e
"$ferry" xyzzy >o 2>e
check "no suggestion when nothing is close" grep -q "'xyzzy' is not a command$" e
"$ferry" help statsu >o 2>e
check "ferry help TYPO suggests too" grep -q "did you mean 'status'" e
"$ferry" plan u.yaml --jsn >o 2>e
check "an unknown option exits 2" test $? -eq 2
check "an unknown option gets a suggestion" grep -q "unknown option '--jsn'; did you mean '--json'?" e
check "and the command's usage" grep -q "^usage: ferry plan" e
"$ferry" run u.yaml --dryrun >o 2>e
check "--dryrun suggests --dry-run" grep -q "did you mean '--dry-run'" e
"$ferry" run u.yaml --until cutver >o 2>e
check "a bad phase exits 2" test $? -eq 2
check "a bad phase gets a suggestion" grep -q "did you mean 'cutover'" e
"$ferry" run u.yaml --until >o 2>e
check "a missing value is named" grep -q "option '--until' needs a value" e
"$ferry" --verbsoe help >o 2>e
check "a global typo gets a suggestion" grep -q "did you mean '--verbose'" e

# --- --json: failures are JSON objects on stdout, never an empty stdout
"$ferry" plan u.yaml --json --jsn >o 2>e
check "usage error under --json exits 2" test $? -eq 2
check "usage error under --json: an object on stdout" jq -e '.ok == false and .code == "usage" and .exit == 2 and (.message | test("did you mean"))' o
"$ferry" --json plna >o 2>e
check "an unknown command under --json: an object" jq -e '.ok == false and .code == "usage"' o
printf 'name: u\nhosts:\n  old: {exce: [ssh]}\n' >bad.yaml
"$ferry" plan bad.yaml --json >o 2>e
check "a plan error under --json exits 2" test $? -eq 2
check "a plan error under --json: code, message, hint, where" jq -e '.ok == false and .code == "plan" and .where == "bad.yaml:3:9" and (.errors[0].message | test("did you mean .exec.")) and (.errors[0].hint | type == "string") and (.message | type == "string")' o
check "the text errors still reach stderr" grep -q "bad.yaml:3:9:" e
"$ferry" status nothere.yaml --json >o 2>e
check "a missing plan under --json: an object" jq -e '.ok == false and .code == "not_found" and .exit == 2' o
"$ferry" status u.yaml --json >o 2>e
check "no journal under --json: exit 1" test $? -eq 1
check "no journal under --json: an object with a hint" jq -e '.ok == false and .code == "not_found" and (.hint | test("ferry run"))' o
"$ferry" report u.yaml -o x.html --json >o 2>e
check "report --json is refused as JSON" jq -e '.ok == false and .code == "usage"' o

"$ferry" --json >o 2>e
check "no command under --json: an object, exit 2" sh -c "test $? -eq 2 && jq -e '.ok == false and .code == \"usage\"' o >/dev/null"
"$ferry" init n.yaml --json >o 2>e
check "init --json: what it wrote" jq -e '.event == "wrote" and .file == "n.yaml" and .journal == "n.ferry.db" and .next == "ferry plan n.yaml --offline"' o

# --- version --json
"$ferry" version --json >o
check "version --json" jq -e '.version | test("^[0-9]+\\.[0-9]+")' o
check "version still prints text" sh -c "'$ferry' version | grep -q '^ferry [0-9]'"

# --- the test-only variables warn loudly, the others do not
"$ferry" version >o 2>e
check "no warning without them" test ! -s e
for v in FERRY_NOW=2026-01-01T00:00:00Z FERRY_CRASH_AT=dns.set_ttl FERRY_FAIL_AT=db.fence; do
	env "$v" "$ferry" version >o 2>e
	check "${v%%=*} set: a warning on stderr" grep -q "^ferry: WARNING: ${v%%=*}=.* is set: .*tests only" e
	check "${v%%=*} set: stdout unchanged" grep -q '^ferry [0-9]' o
done

# --- a reason must say something
"$ferry" run u.yaml --now "" >o 2>e
check "--now '' exits 2" test $? -eq 2
check "--now '' says a reason is needed" grep -q -- "--now needs a reason" e
"$ferry" run u.yaml --now "   " >o 2>e
check "--now of blanks exits 2" test $? -eq 2
test ! -e u.ferry.db
check "a refused --now starts nothing (no journal)" test $? -eq 0
"$ferry" rollback u.yaml --reason "" >o 2>e
check "--reason '' exits 2" test $? -eq 2

exit $fail
