#!/bin/sh
# provider_cli.sh FERRY PROVIDER [PROVIDER_SCRIPT] - a plan with provider
# powerdns, route53 or command through the real command line: `ferry plan`
# (the live set), `ferry check` (the credentials proved, wrong ones
# refused), `ferry run --dry-run`,
# `ferry run` from the TTL step-down through the cutover, and `ferry
# rollback`.  Run under the provider's harness in tests/integration/dns:
#   powerdns  pdns.sh (a real pdns_server): read back over DNS with kdig
#   route53   route53.sh (the fake, botocore checking every signature): read
#             back from the fake's records.json
#   command   knot.sh with PROVIDER_SCRIPT (nsupdate-provider.sh, which edits
#             the real Knot zone): read back over DNS with kdig
# The name moves from a set of two A and one AAAA to a CNAME (a cloud load
# balancer) and back.  Time gates are crossed with FERRY_NOW, never by
# sleeping.
set -eu
ferry=$1
provider=$2
script=${3:-}
dir=$(mktemp -d /tmp/ferry-provider-cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL ($provider): $*" >&2; exit 1; }
PATH=$PATH:/usr/sbin
case $provider in
powerdns) port=$FERRY_TEST_PDNS_DNS_PORT swap="read-compare-write, not atomic" ;;
command) port=$FERRY_TEST_DNS_PORT swap="read-compare-write, not atomic" ;;
route53) port= swap="atomic" ;;
*) fail "unknown provider" ;;
esac
# answers NAME TYPE: the values sorted, space-separated; ttl_of NAME TYPE
if [ "$provider" = route53 ]; then
	sets() { jq -r --arg n "$1." --arg t "$2" \
		'.[] | select(.name == $n and .type == $t) | "\(.ttl) \(.values | join(" "))"' \
		"$FERRY_TEST_R53_DIR/records.json"; }
	answers() { sets "$1" "$2" | cut -d' ' -f2- | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
	ttl_of() { sets "$1" "$2" | cut -d' ' -f1; }
else
	dig_() { kdig @127.0.0.1 -p "$port" +noall +answer +norec "$1" "$2"; }
	answers() { dig_ "$1" "$2" | awk '{print $5}' | sort | tr '\n' ' ' | sed 's/ $//'; }
	ttl_of() { dig_ "$1" "$2" | awk '{print $2; exit}'; }
fi
# run_at TIME OUT ARGS...: ferry run at FERRY_NOW=TIME, its exit status in rc
run_at() {
	t=$1 out=$2
	shift 2
	set +e
	FERRY_NOW=$t "$ferry" run "$dir/p.yaml" --no-wait "$@" >"$dir/$out" 2>&1
	rc=$?
	set -e
}

dns_block() { # dns_block CREDENTIAL_FILE: the provider's keys
	case $provider in
	powerdns)
		cat <<YAML
  provider: powerdns
  api: "$FERRY_TEST_PDNS_API"
  api_key_file: $1
YAML
		;;
	route53)
		cat <<YAML
  provider: route53
  api: "$FERRY_TEST_R53_API"
  hosted_zone_id: $FERRY_TEST_R53_ZONE_ID
  access_key_id: $FERRY_TEST_R53_KEY_ID
  secret_access_key_file: $1
YAML
		;;
	command)
		cat <<YAML
  provider: command
  server: 127.0.0.1:$port
  command: [sh, $script]
  command_timeout: 10s
YAML
		;;
	esac
}

credential() {
	case $provider in
	powerdns) echo "$FERRY_TEST_PDNS_KEY_FILE" ;;
	route53) echo "$FERRY_TEST_R53_SECRET_FILE" ;;
	command) echo /dev/null ;;
	esac
}

write_plan() { # write_plan FILE CREDENTIAL_FILE
	{
		cat <<YAML
name: provider-cli
hosts:
  old: { addresses: [10.77.0.2, 10.77.0.4, "2001:db8::2"] }
  new: { cname: lb-new.example.net }
dns:
YAML
		dns_block "$2"
		cat <<YAML
  zone: shop.test
  records: [multi.shop.test]
  ttl: { cutover: 1, steps: [2, 1] }
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
rollback: { waiver: "a test run: its cutover is what is tested, not a production one" }
YAML
	} >"$1"
}
write_plan "$dir/p.yaml" "$(credential)"

# --- ferry plan: the live record set and its TTL, read through the provider
FERRY_NOW=2026-11-26T06:00:00Z "$ferry" plan "$dir/p.yaml" --json >"$dir/plan.json" ||
	{ cat "$dir/plan.json"; fail "ferry plan"; }
jq -e '.records[0].name == "multi.shop.test" and .records[0].ttl_now == 3600 and
	(.records[0].addresses | sort) == ["10.77.0.2", "10.77.0.4", "2001:db8::2"]' \
	"$dir/plan.json" >/dev/null || { cat "$dir/plan.json"; fail "ferry plan: the record set"; }

# --- ferry check: the credentials proved, nothing changed; the swap named
"$ferry" check "$dir/p.yaml" >"$dir/check.txt" || { cat "$dir/check.txt"; fail "check exit $?"; }
grep -q "ok    dns.key .*$swap" "$dir/check.txt" || { cat "$dir/check.txt"; fail "key row"; }
grep -q 'ok    dns.points' "$dir/check.txt" || fail "points row"
head -c 24 /dev/urandom | base64 >"$dir/wrong.key"
write_plan "$dir/wrong.yaml" "$dir/wrong.key"
set +e
if [ "$provider" = command ]; then
	FERRY_TEST_PROVIDER_MODE=fail "$ferry" check "$dir/wrong.yaml" >"$dir/wrong.txt" 2>&1
else
	"$ferry" check "$dir/wrong.yaml" >"$dir/wrong.txt" 2>&1
fi
rc=$?
set -e
[ $rc = 1 ] || fail "check with wrong credentials: exit $rc, want 1"
case $provider in
powerdns) refusal='HTTP 401' ;;
route53) refusal='SignatureDoesNotMatch' ;;
command) refusal='exited 3: provider: permission denied' ;;
esac
grep -q "fail  dns.key .*$refusal" "$dir/wrong.txt" || { cat "$dir/wrong.txt"; fail "refusal"; }
if grep -qF "$(cat "$dir/wrong.key")" "$dir/wrong.txt" ||
	{ [ "$provider" != command ] && grep -qF "$(cat "$(credential)")" "$dir/check.txt"; }; then
	fail "a secret reached the output"
fi

# --- the dry run shows the request, without a secret
FERRY_NOW=2026-11-26T06:00:00Z "$ferry" run "$dir/p.yaml" --dry-run >"$dir/dry.txt" 2>&1 ||
	{ cat "$dir/dry.txt"; fail "dry run"; }
case $provider in
powerdns) grep -q '"type":"CNAME","ttl":1,"changetype":"REPLACE"' "$dir/dry.txt" ;;
route53) grep -q '<Action>CREATE</Action><ResourceRecordSet><Name>multi.shop.test.</Name><Type>CNAME</Type><TTL>1</TTL>' "$dir/dry.txt" ;;
command) grep -q '"new":{"cname":"lb-new.example.net"}' "$dir/dry.txt" ;;
esac || { cat "$dir/dry.txt"; fail "dry run: the request"; }
[ "$provider" != command ] && grep -qF "$(cat "$(credential)")" "$dir/dry.txt" &&
	fail "the dry run shows a secret"
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
grep -q "(compare-and-swap, ${swap%%,*})" "$dir/run4.txt" ||
	fail "the rollback plan does not say how the swap is made"
[ "$(answers multi.shop.test CNAME)" = lb-new.example.net. ] || fail "not moved to the CNAME"
[ "$(ttl_of multi.shop.test CNAME)" = 1 ] || fail "the CNAME is not at the cutover TTL"

# --- the rollback: back to the whole set
"$ferry" rollback "$dir/p.yaml" --reason "cli test" >"$dir/rb.txt" 2>&1 ||
	{ cat "$dir/rb.txt"; fail "rollback"; }
[ "$(answers multi.shop.test A)" = "10.77.0.2 10.77.0.4" ] || fail "A set not back"
[ "$(answers multi.shop.test AAAA)" = "2001:db8::2" ] || fail "AAAA not back"
echo "provider_cli $provider: ok"
