#!/bin/sh
# plan.sh FERRY - `ferry plan` without servers: a value naming something
# this ferry has not built is refused at plan time (FILE:LINE:COLUMN, a
# hint, exit 2); a missing secret file is a plan error reported once, a
# too-open one a warning reported once.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/cli.sh"
cli_tmp plan
# Nothing listens here (the test's own range): an unreachable DNS server.
dead=127.0.0.1:16499

mkdir secrets
echo c2VjcmV0 >secrets/tsig.secret
echo pw >secrets/pg.password
chmod 600 secrets/*

# db_plan FILE ENGINE VIA
db_plan() {
	cat >"$1" <<YAML
name: shop
hosts: {old: {address: 10.77.0.2}, new: {address: 10.77.0.3}}
databases:
  - name: main
    engine: $2
    source: "host=127.0.0.1 port=16401 dbname=shop user=ferry"
    target: "host=127.0.0.1 port=16402 dbname=shop user=ferry"
    password: {file: secrets/pg.password}
    switch:
      via: $3
      admin: {old: "host=127.0.0.1 port=16403 dbname=pgbouncer"}
      include: {old: /tmp/ferry-plan-test-include.ini}
YAML
}

# --- not built: refused at plan time, by every command that loads the plan.
# The plan knows three engines; this ferry may be built with fewer.  Each
# one is either built (the plan passes that check) or refused with its
# place and a hint naming the engines that are.
for engine in postgresql mariadb redis; do
	case $engine in postgresql) via=pgbouncer ;; *) via=hook ;; esac
	db_plan m.yaml $engine $via
	"$ferry" plan m.yaml >o 2>e
	if grep -q "this ferry has no '$engine' engine" e; then
		check "engine: $engine (not built) exits 2" test "$("$ferry" plan m.yaml >/dev/null 2>&1; echo $?)" -eq 2
		check "the error has FILE:LINE:COLUMN of the value" grep -q "^m.yaml:5:13: databases\[main\].engine: this ferry has no '$engine' engine" e
		check "the hint names what is built" grep -q "hint: this ferry moves: postgresql" e
		"$ferry" check m.yaml >o 2>e
		check "check refuses it too (exit 2)" test $? -eq 2
		"$ferry" run m.yaml --dry-run >o 2>e
		check "run --dry-run refuses it too (exit 2)" test $? -eq 2
		"$ferry" plan m.yaml --json >o 2>e
		check "under --json: where and hint" jq -e '.errors[0].where == "m.yaml:5:13" and (.errors[0].hint | test("postgresql"))' o
	else
		check "engine: $engine is built: no 'not built' error" sh -c '! grep -q "this ferry has no" e'
	fi
done
# every switch driver the plan names is built (pgbouncer, haproxy, hook):
# the loader asks the table, so a name it knows passes that check
db_plan h.yaml postgresql pgbouncer
"$ferry" plan h.yaml >o 2>e
check "switch via: pgbouncer is built" sh -c '! grep -q "no .pgbouncer. switch" e' 

# dns_plan FILE SECRET_FILE: a DNS plan against the dead server
dns_plan() {
	cat >"$1" <<YAML
name: shop
hosts:
  old: { address: 10.77.0.2 }
  new: { address: 10.77.0.3 }
dns:
  server: $dead
  zone: shop.test
  key: { name: ferry-key, secret_file: $2 }
  records: [www.shop.test, api.shop.test]
  ttl: { cutover: 60, steps: [3600, 300, 60] }
schedule: { replication_soak: 1h, validation: 1h }
YAML
}

# --- secret files: missing is a plan error, once; too open a warning, once
dns_plan s.yaml secrets/none.secret
"$ferry" plan s.yaml >o 2>e
check "a missing secret file: plan exits 2" test $? -eq 2
check "reported with its place" grep -q "^s.yaml:8:40: secret file ./secrets/none.secret does not exist" e
check "reported once" test "$(grep -c 'none.secret' e)" -eq 1
check "as an error, not a warning" test "$(grep -c 'warning' e)" -eq 0
"$ferry" check s.yaml >o 2>e
check "check: exit 2, once" sh -c "test $? -eq 2 && test \$(grep -c none.secret e) -eq 1"
"$ferry" status s.yaml >o 2>e
check "status reads no secret: only a warning, then no journal (exit 1)" sh -c "test $? -eq 1 && grep -q 'warning: secret file' e"

sed -i 's/none.secret/tsig.secret/' s.yaml
chmod 644 secrets/tsig.secret
"$ferry" check s.yaml >o 2>e
check "a too-open secret file is reported once" test "$(grep -c 'tsig.secret' e)" -eq 1
check "in the plan's format, as a warning" grep -q "^s.yaml:8:40: warning: secret file ./secrets/tsig.secret can be read by group or others" e
chmod 600 secrets/tsig.secret

# --- offline: the DNS server cannot be asked
dns_plan o.yaml secrets/tsig.secret
T0=2026-11-26T06:00:00Z
FERRY_NOW=$T0 "$ferry" plan o.yaml >o 2>e
check "unreachable DNS: plan exits 1" test $? -eq 1
check "the plan is said valid first" grep -q "^plan shop (o.yaml): valid" o
check "then what could not be asked" grep -q "^ferry: dns www.shop.test: server $dead" e
check "with the hint to use --offline" grep -q "hint: 'ferry plan o.yaml --offline' validates without the network" e
FERRY_NOW=$T0 "$ferry" plan o.yaml --json >o 2>e
check "unreachable under --json: the error object" jq -e '.ok == false and .code == "unreachable" and (.hint | test("--offline"))' o

FERRY_NOW=$T0 "$ferry" plan o.yaml --offline >o 2>e
check "--offline: exit 0 for a valid plan" test $? -eq 0
check "--offline: says the server was not asked" grep -q "not asked" o
check "--offline: the TTL is the plan's longest" grep -Eq "^  www.shop.test +\(not asked\) +3600" o
check "--offline: the timeline from the plan's TTLs" grep -Eq "^  www.shop.test +300 -> 60 +in 1h 00m" o
FERRY_NOW=$T0 "$ferry" plan o.yaml --offline --json >o 2>e
check "--offline --json: offline, steps from the plan" jq -e '.offline == true and .records[0].ttl_from == "plan" and .records[0].ttl_now == 3600 and ([.ttl_steps[] | select(.record == "www.shop.test") | .ttl] == [300, 60]) and .ttl_steps[1].not_before == "2026-11-26T07:00:00Z" and .cutover_ttl_effective == "2026-11-26T07:05:00Z"' o
"$ferry" plan bad-none.yaml --offline >o 2>e
check "--offline still needs a plan (exit 2)" test $? -eq 2
printf 'name: shop\nhosts: {old: {adress: 1.2.3.4}}\n' >t.yaml
"$ferry" plan t.yaml --offline >o 2>e
check "--offline still validates (exit 2, did you mean)" sh -c "test $? -eq 2 && grep -q \"did you mean 'address'\" e"

FERRY_NOW=$T0 "$ferry" run o.yaml --dry-run >o 2>e
check "run --dry-run offline: exit 0" test $? -eq 0
check "run --dry-run offline: the TTL steps from the plan" grep -q "www.shop.test TTL 3600 -> 300 (now)" o
check "run --dry-run offline: says what it assumed" grep -q "www.shop.test not read: TTL assumed 3600" o
check "run --dry-run offline: lists what it could not read" sh -c "grep -A1 '^== not read' o | grep -q 'server $dead'"
check "run --dry-run offline: and says so on stderr" grep -q "could not read everything" e
test ! -e o.ferry.db
check "run --dry-run offline: no journal" test $? -eq 0

exit $fail
