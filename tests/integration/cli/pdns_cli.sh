#!/bin/sh
# pdns_cli.sh FERRY - a plan with provider powerdns through the real command
# line: `ferry plan`, `ferry check` (the API key proved, a wrong one
# refused), `ferry run` from the TTL step-down through the cutover, and
# `ferry rollback`, against a real pdns_server (run under
# tests/integration/dns/pdns.sh, which exports FERRY_TEST_PDNS_*).  The
# name moves from a set of two A and one AAAA to a CNAME (a cloud load
# balancer) and back; every check reads what the server answers over DNS
# with kdig.  Time gates are crossed with FERRY_NOW, never by sleeping.
set -eu
ferry=$1
dir=$(mktemp -d /tmp/ferry-pdns-cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port=$FERRY_TEST_PDNS_DNS_PORT
dig_() { kdig @127.0.0.1 -p "$port" +noall +answer +norec "$1" "$2"; }
answers() { dig_ "$1" "$2" | awk '{print $5}' | sort | tr '\n' ' ' | sed 's/ $//'; }
ttl_of() { dig_ "$1" "$2" | awk '{print $2; exit}'; }
# run_at TIME OUT ARGS...: ferry run at FERRY_NOW=TIME, its exit status in rc
run_at() {
	t=$1 out=$2
	shift 2
	set +e
	FERRY_NOW=$t "$ferry" run "$dir/p.yaml" --no-wait "$@" >"$dir/$out" 2>&1
	rc=$?
	set -e
}

write_plan() { # write_plan FILE KEY_FILE
	cat >"$1" <<YAML
name: pdns-cli
hosts:
  old: { addresses: [10.77.0.2, 10.77.0.4, "2001:db8::2"] }
  new: { cname: lb-new.example.net }
dns:
  provider: powerdns
  api: "$FERRY_TEST_PDNS_API"
  api_key_file: $2
  zone: shop.test
  records: [multi.shop.test]
  ttl: { cutover: 1, steps: [2, 1] }
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
YAML
}
write_plan "$dir/p.yaml" "$FERRY_TEST_PDNS_KEY_FILE"

# --- ferry check: the key proved, nothing changed; the swap named
"$ferry" check "$dir/p.yaml" >"$dir/check.txt" || { cat "$dir/check.txt"; fail "check exit $?"; }
grep -q 'ok    dns.key .*read-compare-write, not atomic' "$dir/check.txt" || fail "key row"
grep -q 'ok    dns.points' "$dir/check.txt" || fail "points row"
head -c 24 /dev/urandom | base64 >"$dir/wrong.key"
write_plan "$dir/wrong.yaml" "$dir/wrong.key"
set +e
"$ferry" check "$dir/wrong.yaml" >"$dir/wrong.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "check with a wrong key: exit $rc, want 1"
grep -q 'fail  dns.key .*HTTP 401' "$dir/wrong.txt" || { cat "$dir/wrong.txt"; fail "401 not named"; }
if grep -qF "$(cat "$dir/wrong.key")" "$dir/wrong.txt" ||
	grep -qF "$(cat "$FERRY_TEST_PDNS_KEY_FILE")" "$dir/check.txt"; then
	fail "an API key reached the output"
fi

# --- the dry run shows the PATCH, without the key
FERRY_NOW=2026-11-26T06:00:00Z "$ferry" run "$dir/p.yaml" --dry-run >"$dir/dry.txt" 2>&1 ||
	{ cat "$dir/dry.txt"; fail "dry run"; }
grep -q '"type":"CNAME","ttl":1,"changetype":"REPLACE"' "$dir/dry.txt" || fail "dry run: PATCH"
grep -qF "$(cat "$FERRY_TEST_PDNS_KEY_FILE")" "$dir/dry.txt" && fail "the dry run shows the key"
[ "$(ttl_of multi.shop.test A)" = 3600 ] || fail "a dry run changed the TTL"

# --- prepare: the TTL steps, each one old TTL apart
run_at 2026-11-26T06:00:00Z run1.txt
[ $rc = 75 ] || { cat "$dir/run1.txt"; fail "first step: exit $rc, want 75"; }
[ "$(ttl_of multi.shop.test A)" = 2 ] || fail "TTL not lowered to 2"
[ "$(ttl_of multi.shop.test AAAA)" = 2 ] || fail "AAAA TTL not lowered to 2"
run_at 2026-11-26T07:00:00Z run2.txt
[ $rc = 75 ] || { cat "$dir/run2.txt"; fail "second step: exit $rc, want 75"; }
[ "$(ttl_of multi.shop.test A)" = 1 ] || fail "TTL not lowered to 1"
run_at 2026-11-26T07:00:02Z run3.txt --until validate
[ $rc = 0 ] || { cat "$dir/run3.txt"; fail "prepare to validate: exit $rc"; }

# --- the cutover: the set becomes the CNAME
run_at 2026-11-26T07:00:10Z run4.txt
[ $rc = 75 ] || { cat "$dir/run4.txt"; fail "cutover: exit $rc, want 75"; }
grep -q 'read-compare-write' "$dir/run4.txt" || fail "the rollback plan does not say read-compare-write"
[ "$(answers multi.shop.test CNAME)" = lb-new.example.net. ] || fail "not moved to the CNAME"
[ "$(ttl_of multi.shop.test CNAME)" = 1 ] || fail "the CNAME is not at the cutover TTL"

# --- the rollback: back to the whole set
"$ferry" rollback "$dir/p.yaml" --reason "pdns cli test" >"$dir/rb.txt" 2>&1 ||
	{ cat "$dir/rb.txt"; fail "rollback"; }
[ "$(answers multi.shop.test A)" = "10.77.0.2 10.77.0.4" ] || fail "A set not back"
[ "$(answers multi.shop.test AAAA)" = "2001:db8::2" ] || fail "AAAA not back"
echo "pdns_cli: ok"
