#!/bin/sh
# runbook.sh - the baseline: the same Redis switch steps as ferry's, done
# the way an operator's runbook does them today, one redis-cli per step
# (each a new process and a new connection), and the two HAProxy runtime
# API commands that repoint the applications, old -> new, for the servers
# of bench/redis-cutover/run.sh (OLD_PORT, NEW_PORT, HAP_API; the password
# in REDISCLI_AUTH, as redis-cli takes it).  Old already holds new's
# credentials (masteruser, masterauth), as after ferry's replication.
set -eu
old() { redis-cli --no-auth-warning --user ferry -p "$OLD_PORT" "$@"; }
new() { redis-cli --no-auth-warning --user ferry -p "$NEW_PORT" "$@"; }
hap() { echo "$1" | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HAP_API; cat >&3; cat <&3"; }
field() { sed -n "s/^$1:\([0-9]*\).*/\1/p"; }

old CLIENT PAUSE 5000 WRITE >/dev/null
off=$(old INFO replication | field master_repl_offset)
until [ "$(new INFO replication | field slave_repl_offset)" -ge "$off" ]; do :; done
new REPLICAOF NO ONE >/dev/null
old REPLICAOF 127.0.0.1 "$NEW_PORT" >/dev/null
hap "set server cache/db addr 127.0.0.1 port $NEW_PORT; shutdown sessions server cache/db" >/dev/null
echo point
old CLIENT UNPAUSE >/dev/null
