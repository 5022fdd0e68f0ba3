#!/bin/sh
# init.sh FERRY SRCROOT - `ferry init`: writes the starter plan (the plan of
# examples/shop.yaml, its comments naming the file written: the commands to
# type and the journal ferry will really use) with mode 0644, to
# ./ferry.yaml by default; refuses to overwrite with exit 2 and leaves the
# file alone; --force replaces it.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
. "$(dirname "$0")/cli.sh"
cli_tmp init

umask 077 # the mode must not depend on the umask

"$ferry" init >out 2>err
check "init exits 0" test $? -eq 0
check "init writes ./ferry.yaml" test -f ferry.yaml
grep -v '^#' "$src/examples/shop.yaml" >example.body
check "the plan is the example's (comments aside)" sh -c "grep -v '^#' ferry.yaml | cmp -s - example.body"
check "the comments name the file written" grep -Eq '^#     ferry plan ferry.yaml +# ' ferry.yaml
check "and no other plan file" sh -c "! grep -q 'shop.yaml' ferry.yaml"
check "the comments' commands are ones ferry has" sh -c "for c in \$(sed -n 's/^#     ferry \([a-z]*\) .*/\1/p' ferry.yaml); do '$ferry' help \$c >/dev/null || exit 1; done"
# The journal the comments name is the one ferry uses for this file.
"$ferry" status ferry.yaml >st.out 2>st.err
journal=$(sed -n 's/.*has no journal at \(.*\) yet$/\1/p' st.err)
check "the journal ferry uses is ferry.ferry.db" test "$journal" = ferry.ferry.db
check "the comments name that journal" grep -q "sits beside it: $journal " ferry.yaml
check "the plan itself is valid (ferry plan --offline: only secrets missing)" sh -c "'$ferry' plan ferry.yaml --offline 2>&1 | grep -v 'secret file\|hint:\|2 errors' | grep -q . && exit 1 || exit 0"
check "mode 0644 whatever the umask" test "$(stat -c %a ferry.yaml)" = 644
check "it says what it wrote" grep -q "wrote ferry.yaml" out

echo "name: mine" >ferry.yaml
"$ferry" init >out 2>err
check "refuses to overwrite: exit 2" test $? -eq 2
check "the existing plan is untouched" test "$(cat ferry.yaml)" = "name: mine"
check "the error names the file and hints at --force" grep -q "ferry.yaml already exists" err
check "the hint names --force" grep -q -- "--force" err

"$ferry" init --force >out 2>err
check "--force exits 0" test $? -eq 0
check "--force replaces the file" grep -q '^name: shop' ferry.yaml
check "--force leaves no temporary file" test "$(ls | grep -c ferry-init)" -eq 0
check "--force keeps mode 0644" test "$(stat -c %a ferry.yaml)" = 644

"$ferry" init sub/none.yaml >out 2>err
check "a missing folder is an error (exit 1)" test $? -eq 1
check "the error names the path" grep -q "sub/none.yaml" err

"$ferry" init shop.yaml >out 2>err
check "init shop.yaml writes the example, byte for byte" cmp -s shop.yaml "$src/examples/shop.yaml"
mkdir plans
"$ferry" init plans/web.yaml >out 2>err
check "init FILE in a folder: commands with that path" grep -Eq '^#     ferry run plans/web.yaml --dry-run +# ' plans/web.yaml
check "init FILE in a folder: the journal beside it" grep -q 'sits beside it: web.ferry.db ' plans/web.yaml
check "the trailing comments stay in their column where there is room" test "$(grep -E '^#     ferry (plan|check) plans/web.yaml +# ' plans/web.yaml | awk '{print index($0, " # ")}' | sort -u | wc -l)" -eq 1

"$ferry" init a.yaml b.yaml >out 2>err
check "two files is a usage error (exit 2)" test $? -eq 2
"$ferry" init --bogus >out 2>err
check "an unknown option is a usage error (exit 2)" test $? -eq 2
"$ferry" init --help >out 2>err
check "--help exits 0 with the usage" grep -q "usage: ferry init" out

exit $fail
