#!/bin/bash
# haproxy_check.sh FERRY - `ferry check` of a plan's traffic section against
# a real HAProxy, read only: the runtime API answers at level admin, the
# backend has both servers (status and weight shown); a level that cannot
# set weights, a mistyped backend or server and a dead address each fail
# with exit 1; and nothing was changed (the weights are the same after).
#
# One haproxy on 127.0.0.1 ports 16410-16419 (the cli helper's range; no
# lock needed): 16415 runtime API at level admin, 16416 at level operator,
# backend web with servers old (16411, weight 100) and new (16412, 0).
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../../.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/cli/cli.sh"
cli_tmp haproxy-check
haproxy_up 16415 16416 <<CFG
frontend fe
    bind 127.0.0.1:16410
    default_backend web
backend web
    balance roundrobin
    server old 127.0.0.1:16411 weight 100
    server new 127.0.0.1:16412 weight 0
CFG

# plan FILE ADMIN BACKEND NEW_SERVER
plan() {
	cat >"$1" <<YAML
name: lb
rollback: { authority: "Lab Operator <ops@shop.test>", when: { error_rate: 5% } }
traffic:
  admin: $2
  backend: $3
  servers: {old: old, new: $4}
YAML
}
weights() { lb_api "get weight web/old"; lb_api "get weight web/new"; }
before=$(weights)

plan ok.yaml 127.0.0.1:16415 web new
"$ferry" check ok.yaml >o 2>e
check "a good runtime API: exit 0" test $? -eq 0
check "it answers at level admin" grep -Eq "^ok +lb.api +old 127.0.0.1:16415 +answers at level admin" o
check "the old server, with status and weight" grep -Eq "^ok +lb.server +old web/old +status [A-Za-z ]+, weight 100" o
check "the new server" grep -Eq "^ok +lb.server +old web/new +status [A-Za-z ]+, weight 0" o
"$ferry" check ok.yaml --json >o 2>e
check "--json rows" jq -e '[.checks[] | select(.check | startswith("lb."))] | length == 3 and all(.status == "ok")' o

plan op.yaml 127.0.0.1:16416 web new
"$ferry" check op.yaml >o 2>e
check "level operator: exit 1" test $? -eq 1
check "level operator: said, with what to do" grep -Eq "^fail +lb.api .*level operator, which cannot set weights: give ferry a socket at level admin" o
check "and what it prevents" grep -q "prevents: a traffic step or the cutover's switch of all traffic refused" o

plan two.yaml 127.0.0.1:16415 web new
echo "  admin_new: 127.0.0.1:16416" >>two.yaml
"$ferry" check two.yaml >o 2>e
check "traffic.admin_new is checked too" grep -Eq "^fail +lb.api +new 127.0.0.1:16416 .*level operator" o
check "with its servers" grep -Eq "^ok +lb.server +new web/new " o
check "new's balancer needs only the new server (read after DNS moves)" sh -c '! grep -Eq "lb.server +new web/old" o'

plan be.yaml 127.0.0.1:16415 wbe new
"$ferry" check be.yaml >o 2>e
check "a mistyped backend: exit 1" test $? -eq 1
check "a mistyped backend: named" grep -Eq "^fail +lb.backend .*backend wbe.*(No such proxy|no such backend)" o

plan sv.yaml 127.0.0.1:16415 web neu
"$ferry" check sv.yaml >o 2>e
check "a mistyped server: exit 1" test $? -eq 1
check "a mistyped server: named, with the plan key" grep -Eq "^fail +lb.server +old web/neu +no server neu in backend web .*traffic.servers.new" o

plan dead.yaml 127.0.0.1:16419 web new
"$ferry" check dead.yaml >o 2>e
check "nothing listening: exit 1" test $? -eq 1
check "nothing listening: unreachable" grep -Eiq "^fail +lb.api +old 127.0.0.1:16419 .*(refused|unreachable)" o

check "ferry check changed no weight" test "$(weights)" = "$before"
exit $fail
