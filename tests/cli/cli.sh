#!/bin/sh
# tests/cli/cli.sh - what the command-line tests share.  Source it after
# setting ferry (the binary): . "$(dirname "$0")/cli.sh"
#
#   check DESCRIPTION COMMAND...   runs COMMAND; prints "ok - DESCRIPTION"
#                                  or "not ok - DESCRIPTION" and sets fail=1;
#                                  the script ends with: exit $fail
#   cli_tmp NAME                   a fresh folder (removed at exit, with the
#                                  background run $bg killed), made the
#                                  current one; test-only variables unset
#   plan_wait FILE                 a plan with no servers whose run waits at
#                                  a cutover window three hours away
#   plan_fail FILE                 a plan with no servers whose run fails at
#                                  the host checks (a health check on a
#                                  loopback port where nothing listens)
fail=0
bg=
check() {
	_ck_desc=$1
	shift
	if "$@"; then
		echo "ok - $_ck_desc"
	else
		echo "not ok - $_ck_desc"
		fail=1
	fi
}

cli_cleanup() {
	[ -n "$bg" ] && kill "$bg" 2>/dev/null
	rm -rf "$cli_dir"
}

cli_tmp() {
	cli_dir=$(mktemp -d "/tmp/ferry-$1-test.XXXXXX") || exit 1
	trap cli_cleanup EXIT INT TERM
	cd "$cli_dir" || exit 1
	unset FERRY_NOW FERRY_CRASH_AT FERRY_FAIL_AT NO_COLOR
}

plan_wait() {
	cat >"$1" <<YAML
name: wait
schedule:
  replication_soak: 1s
  validation: 1s
  cutover_window: { from: "$(date -u -d '+3 hours' +%H:00)", to: "$(date -u -d '+4 hours' +%H:00)" }
YAML
}

plan_fail() {
	cat >"$1" <<YAML
name: fail
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
checks:
  health:
    - url: "http://127.0.0.1:16498/healthz"
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
YAML
}
