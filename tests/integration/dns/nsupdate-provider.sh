#!/bin/sh
# nsupdate-provider.sh - a DNS "provider" for ferry's command provider, as
# an operator would write one: it reads ferry's JSON on stdin and edits the
# zone of the Knot server that knot.sh started through RFC 2136 (knsupdate
# with the key in FERRY_TEST_DNS_KNSUPDATE_KEY), without prerequisites (a
# provider API has none; ferry compares before and verifies after).
#   {"action":"check","zone":Z}      a signed update with only a
#                                    prerequisite: proves the key, changes
#                                    nothing
#   {"action":"replace","zone":Z,"name":N,"ttl":T,"new":{...}}
#                                    N holds exactly new at T
# Every run appends its action to $FERRY_TEST_PROVIDER_LOG (when set), so a
# test can tell whether ferry ran it.  FERRY_TEST_PROVIDER_MODE=fail exits
# 3 with a message, =noop exits 0 without changing anything, =hang sleeps,
# =envdump writes its environment to $FERRY_TEST_PROVIDER_LOG.env.
set -eu
PATH=$PATH:/usr/sbin
in=$(cat)
action=$(printf '%s' "$in" | jq -r .action)
zone=$(printf '%s' "$in" | jq -r .zone)
[ -z "${FERRY_TEST_PROVIDER_LOG:-}" ] || echo "$action" >>"$FERRY_TEST_PROVIDER_LOG"
case ${FERRY_TEST_PROVIDER_MODE:-} in
fail) echo "provider: permission denied for zone $zone" >&2; exit 3 ;;
noop) exit 0 ;;
hang) exec sleep 60 ;;
envdump) env >"$FERRY_TEST_PROVIDER_LOG.env" && exit 0 ;;
esac
send() {
	{
		printf 'server 127.0.0.1 %s\nzone %s.\n' "$FERRY_TEST_DNS_PORT" "$zone"
		cat
		printf 'send\n'
	} | knsupdate -k "$FERRY_TEST_DNS_KNSUPDATE_KEY"
}
case $action in
check)
	printf 'prereq yxrrset %s. SOA\n' "$zone" | send
	;;
replace)
	name=$(printf '%s' "$in" | jq -r .name)
	ttl=$(printf '%s' "$in" | jq -r .ttl)
	{
		for t in A AAAA CNAME; do printf 'update delete %s. %s\n' "$name" "$t"; done
		printf '%s' "$in" | jq -r '.new.addresses // [] | .[]' | while read -r a; do
			case $a in
			*:*) printf 'update add %s. %s AAAA %s\n' "$name" "$ttl" "$a" ;;
			*) printf 'update add %s. %s A %s\n' "$name" "$ttl" "$a" ;;
			esac
		done
		cname=$(printf '%s' "$in" | jq -r '.new.cname // empty')
		[ -z "$cname" ] || printf 'update add %s. %s CNAME %s.\n' "$name" "$ttl" "$cname"
	} | send
	;;
*)
	echo "provider: unknown action '$action'" >&2
	exit 2
	;;
esac
