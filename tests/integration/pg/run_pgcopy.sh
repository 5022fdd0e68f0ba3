#!/bin/sh
# run_pgcopy.sh TEST_BINARY - the parallel copy test on two PostgreSQL 15
# clusters (old on 16300, new on 16301; no pgbouncer): run_drift.sh with
# this test's ports.
PG_OLD_PORT=16300 PG_NEW_PORT=16301 PG_REPL_PORT=16302 PGB_OLD_PORT=16303 PGB_NEW_PORT=16304
export PG_OLD_PORT PG_NEW_PORT PG_REPL_PORT PGB_OLD_PORT PGB_NEW_PORT
exec "$(cd "$(dirname "$0")" && pwd)/run_drift.sh" "$@"
