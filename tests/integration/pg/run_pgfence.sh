#!/bin/sh
# run_pgfence.sh TEST_BINARY - the staged fence test on two PostgreSQL 15
# clusters (old on 16700, new on 16701; no pgbouncer): run_drift.sh with
# this test's ports, and prepared transactions allowed (a prepared writer
# holds a lock no session's end lets go).
PG_OLD_PORT=16700 PG_NEW_PORT=16701 PG_REPL_PORT=16702 PGB_OLD_PORT=16703 PGB_NEW_PORT=16704
PG_MAX_PREPARED=2
export PG_OLD_PORT PG_NEW_PORT PG_REPL_PORT PGB_OLD_PORT PGB_NEW_PORT PG_MAX_PREPARED
exec "$(cd "$(dirname "$0")" && pwd)/run_drift.sh" "$@"
