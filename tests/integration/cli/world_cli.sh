#!/bin/bash
# world_cli.sh FERRY - a whole migration of DNS and traffic (no databases)
# through the real binary against a real Knot (run under knot.sh on ports
# 16420-16429) and a real HAProxy (runtime API on 16435), then the journal
# against the world: `ferry status` agrees with both, a fresh `ferry run`
# says when the migration finished and how to start another; after someone
# moves a record back and puts the old weights back by hand, `ferry status`
# says which disagree and that the next command is `ferry check`.
# Time gates are crossed with FERRY_NOW, never by sleeping.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../../.." && pwd)
port=$FERRY_TEST_DNS_PORT
PATH=$PATH:/usr/sbin
. "$top/tests/lib.sh"
. "$top/tests/cli/cli.sh"
cli_tmp world
haproxy_up 16435 <<CFG
backend web
    balance roundrobin
    server old 127.0.0.1:16431 weight 100
    server new 127.0.0.1:16432 weight 0
CFG
answer() { kdig @127.0.0.1 -p "$port" +short "$1" A; }

cat >p.yaml <<YAML
name: world
hosts:
  old: { address: 10.77.0.2 }
  new: { address: 10.77.0.3 }
dns:
  server: 127.0.0.1:$port
  zone: shop.test
  key: { name: ferry-key, secret_file: $FERRY_TEST_DNS_KEY_FILE }
  records: [www.shop.test, api.shop.test]
  ttl: { cutover: 60, steps: [60] }
traffic:
  admin: 127.0.0.1:16435
  backend: web
  servers: {old: old, new: new}
  steps: [50%]
  step_hold: 1s
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
rollback: { window: 1h, waiver: "a test run: its cutover is what is tested, not a production one" }
YAML
at() { date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ; }

FERRY_NOW=$(at 0) "$ferry" run p.yaml --no-wait >run1 2>&1
check "prepare lowers the TTL and waits one old TTL (75)" test $? -eq 75
# One old TTL later (and past the rollback window of an hour, which
# counts from the cutover's real time): everything else.
FERRY_NOW=$(at 3700) "$ferry" run p.yaml >run2 2>&1
check "then the rest, to the end" sh -c "test $? -eq 0 && grep -q 'migration world complete' run2 || { cat run2; exit 1; }"
check "the records moved" test "$(answer www.shop.test)" = 10.77.0.3

"$ferry" status p.yaml >st 2>&1
check "status of the finished migration: the world agrees (DNS)" grep -Eq "^  ok +world.dns +www.shop.test +127.0.0.1:$port answers 10.77.0.3, as the journal says" st
check "status: the world agrees (traffic)" grep -Eq "^  ok +world.traffic +web +100 % to new \\(weights 0/100\\), as the journal says" st
check "status: no database, no writer row" sh -c "! grep -q 'world.db' st"
check "status: next is a new journal" grep -Eq "^next: ferry run p.yaml --state p-[0-9]{8}.ferry.db$" st
"$ferry" run p.yaml >again 2>&1
check "a fresh run: when it finished" grep -Eq "^ferry: migration world already finished at .*; nothing to do" again
check "a fresh run: does not touch DNS" test "$(answer www.shop.test)" = 10.77.0.3

# Someone moves www back, and puts the old weights back.
knsupdate <<NSUP
server 127.0.0.1 $port
zone shop.test.
key hmac-sha256:ferry-key $(cat "$FERRY_TEST_DNS_KEY_FILE")
update delete www.shop.test. A
update add www.shop.test. 60 A 10.77.0.2
send
NSUP
wait_for 10 sh -c "test \"\$(kdig @127.0.0.1 -p $port +short www.shop.test A)\" = 10.77.0.2"
lb_api "set weight web/old 100" >/dev/null
lb_api "set weight web/new 0" >/dev/null
"$ferry" status p.yaml >st 2>&1
check "status: a record moved back is a disagreement" grep -Eq "^  DIFF +world.dns +www.shop.test +127.0.0.1:$port answers 10.77.0.2, but the journal's last change set 10.77.0.3" st
check "status: the other record still agrees" grep -Eq "^  ok +world.dns +api.shop.test" st
check "status: the weights put back are a disagreement" grep -Eq "^  DIFF +world.traffic +web +0 % to new \\(weights 100/0\\), but the journal's last split set 100 %" st
check "status: next is to look (ferry check)" grep -q "^next: ferry check p.yaml$" st
"$ferry" status p.yaml --json >stj 2>&1
check "status --json: the world rows" jq -e '[.world[] | select(.status == "fail")] | length == 2' stj
check "status never changed the world back" test "$(answer www.shop.test)" = 10.77.0.2
exit $fail
