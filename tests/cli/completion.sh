#!/bin/bash
# completion.sh FERRY SRCROOT - the bash completion (contrib/bash-completion/
# ferry) against the program itself: completing `ferry ` offers exactly the
# commands `ferry help` lists, `ferry run --until ` exactly the five phases
# `ferry help` names, `ferry CMD --` every long option of CMD's usage line,
# and a PLAN argument the .yaml/.yml files (and folders), not other files.
# Sourced into this bash, no terminal needed: each case sets COMP_WORDS and
# COMP_CWORD as readline would and calls the completion function.
set -u
ferry=$1
root=$2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bad() {
	echo "completion: $*"
	fail=1
}

# shellcheck source=/dev/null
. "$root/contrib/bash-completion/ferry" || {
	echo "completion: cannot source $root/contrib/bash-completion/ferry"
	exit 1
}
complete -p ferry >/dev/null 2>&1 || bad "sourcing it does not register 'complete -F ... ferry'"

# complete WORD... : the completions for the command line WORD... (the last
# word is the one being completed), sorted, one per line.
complete_line() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_ferry ferry "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}

# A newline-separated list on one line, for messages.
flat() {
	printf '%s' "$1" | tr '\n' ' '
}

# expect NAME WANT GOT: WANT and GOT are newline-separated sorted lists.
expect() {
	if [ "$2" != "$3" ]; then
		bad "$1: want [$(flat "$2")], got [$(flat "$3")]"
	fi
}

help=$("$ferry" help) || bad "ferry help failed"

# The commands, from `ferry help`: the indented lines after "commands:".
want=$(echo "$help" | sed -n '/^commands:/,/^$/{/^  [a-z]/s/^  \([a-z-]*\).*/\1/p}' | sort)
[ "$(echo "$want" | wc -l)" -ge 10 ] || bad "ferry help lists only: $(flat "$want")"
expect "ferry <TAB>" "$want" "$(complete_line ferry '')"
expect "ferry -v <TAB>" "$want" "$(complete_line ferry -v '')"
expect "ferry ro<TAB>" "rollback" "$(complete_line ferry ro)"
expect "ferry help <TAB>" "$want" "$(complete_line ferry help '')"

# The phases, from the overview's "prepare, replicate, ..., decommission."
phases=$(echo "$help" | grep -A1 'in five phases' | tail -1 | tr -d '.' | tr ',' '\n' |
	sed 's/^ *//' | sort)
[ "$(echo "$phases" | wc -l)" = 5 ] || bad "ferry help names these phases: $(flat "$phases")"
expect "ferry run --until <TAB>" "$phases" "$(complete_line ferry run --until '')"
expect "ferry run shop.yaml --until c<TAB>" "cutover" \
	"$(complete_line ferry run shop.yaml --until c)"

# Every long option in each command's usage line is offered after "--".
for cmd in $want; do
	usage=$("$ferry" help "$cmd" | head -1)
	got=$(complete_line ferry "$cmd" --)
	for opt in $(echo "$usage" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		echo "$got" | grep -qx -- "$opt" || bad "ferry $cmd --<TAB> does not offer $opt ($usage)"
	done
done

# PLAN: plan files and folders, nothing else.
mkdir "$tmp/plans" "$tmp/plans/sub"
: >"$tmp/plans/shop.yaml"
: >"$tmp/plans/old.yml"
: >"$tmp/plans/notes.txt"
: >"$tmp/plans/shop.ferry.db"
cd "$tmp/plans" || exit 1
expect "ferry run <TAB>" "$(printf '%s\n' old.yml shop.yaml sub | sort)" "$(complete_line ferry run '')"
expect "ferry check s<TAB>" "$(printf '%s\n' shop.yaml sub | sort)" "$(complete_line ferry check s)"
expect "ferry status --state <TAB>" "$(printf '%s\n' shop.ferry.db sub | sort)" \
	"$(complete_line ferry status --state '')"
expect "ferry version <TAB>" "" "$(complete_line ferry version '')"

[ $fail = 0 ] && echo "completion: ok ($(echo "$want" | wc -l) commands, 5 phases)"
exit $fail
