#!/bin/sh
# init.sh FERRY SRCROOT - `ferry init`: writes the starter plan (the same bytes
# as examples/shop.yaml) with mode 0644, to ./ferry.yaml by default; refuses
# to overwrite with exit 2 and leaves the file alone; --force replaces it.
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
. "$(dirname "$0")/cli.sh"
cli_tmp init

umask 077 # the mode must not depend on the umask

"$ferry" init >out 2>err
check "init exits 0" test $? -eq 0
check "init writes ./ferry.yaml" test -f ferry.yaml
check "the file is the example, byte for byte" cmp -s ferry.yaml "$src/examples/shop.yaml"
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
check "--force replaces the file" cmp -s ferry.yaml "$src/examples/shop.yaml"
check "--force leaves no temporary file" test "$(ls | grep -c ferry-init)" -eq 0
check "--force keeps mode 0644" test "$(stat -c %a ferry.yaml)" = 644

"$ferry" init sub/none.yaml >out 2>err
check "a missing folder is an error (exit 1)" test $? -eq 1
check "the error names the path" grep -q "sub/none.yaml" err

"$ferry" init other.yaml >out 2>err
check "init FILE writes FILE" cmp -s other.yaml "$src/examples/shop.yaml"

"$ferry" init a.yaml b.yaml >out 2>err
check "two files is a usage error (exit 2)" test $? -eq 2
"$ferry" init --bogus >out 2>err
check "an unknown option is a usage error (exit 2)" test $? -eq 2
"$ferry" init --help >out 2>err
check "--help exits 0 with the usage" grep -q "usage: ferry init" out

exit $fail
