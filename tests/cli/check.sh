#!/bin/sh
# tests/cli/check.sh - the TAP-ish helper of the command-line tests.
# Source it: . "$(dirname "$0")/check.sh"
#
#   check DESCRIPTION COMMAND...   runs COMMAND; prints "ok - DESCRIPTION"
#                                  or "not ok - DESCRIPTION" and sets fail=1
#   The script ends with: exit $fail
fail=0
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
