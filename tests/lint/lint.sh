#!/bin/sh
# lint.sh SRCROOT - the house rules a compiler does not check (STYLE.md).
#  1. banned functions (curl's list): atoi, sscanf, strcpy, sprintf, ...
#  2. one foreign library, one file: only the named file includes its header.
#  3. clang-format clean, where clang-format is installed.
#  4. every command of src/main.c's table is documented: a man page
#     docs/ferry-NAME.1.scd and a README.md section (a heading) naming
#     `ferry NAME` (src/cmd/cmd.h, "Adding a command").
set -u
root=${1:-.}
cd "$root" || exit 1
fail=0

files=$(find src lab -name '*.[ch]' 2>/dev/null | sort)

banned='\<(atoi|atol|atoll|sscanf|strcpy|strcat|sprintf|vsprintf|gets|strtok|gmtime|localtime|ctime|asctime)[[:space:]]*\('
hits=$(grep -nE "$banned" $files 2>/dev/null)
if [ -n "$hits" ]; then
	echo "lint: banned functions (use strtol/snprintf/strtok_r/gmtime_r/..):"
	echo "$hits"
	fail=1
fi

# header regex | the only files (regex) that may include it
rules='
libfyaml\.h|^src/plan/plan\.c$
sqlite3\.h|^src/journal/journal(_[a-z]+)?\.c$
ldns/|^src/dns/rfc2136\.c$|^lab/
libpq-fe\.h|^src/db/pgsql\.c$|^lab/
curl/|^src/hosts/http\.c$|^lab/
openssl/|^src/hosts/tls\.c$|^src/dns/sigv4\.c$|^lab/
hiredis|^src/db/redis\.c$
mysql\.h|^src/db/mariadb\.c$
microhttpd\.h|^lab/
'
echo "$rules" | while IFS='|' read -r hdr allowed rest; do
	[ -n "$hdr" ] || continue
	[ -n "$rest" ] && allowed="$allowed|$rest"
	for f in $(grep -lE "#include[[:space:]]*<$hdr" $files 2>/dev/null); do
		if ! echo "$f" | grep -qE "$allowed"; then
			echo "lint: $f includes <$hdr...>; only $allowed may (one foreign library, one file)"
			echo x >> "${TMPDIR:-/tmp}/ferry-lint.$$"
		fi
	done
done
if [ -f "${TMPDIR:-/tmp}/ferry-lint.$$" ]; then
	rm -f "${TMPDIR:-/tmp}/ferry-lint.$$"
	fail=1
fi

if command -v clang-format >/dev/null 2>&1; then
	for f in $files; do
		if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
			echo "lint: $f is not clang-format clean (run: clang-format -i $f)"
			fail=1
		fi
	done
fi

# The command table's rows look like: { "name", cmd_name, "summary", ...
cmds=$(sed -n 's/^[[:space:]]*{[[:space:]]*"\([a-z][a-z0-9-]*\)",[[:space:]]*cmd_.*/\1/p' src/main.c)
if [ -z "$cmds" ]; then
	echo "lint: no command found in src/main.c's table (has its form changed?)"
	fail=1
fi
for c in $cmds; do
	if [ ! -f "docs/ferry-$c.1.scd" ]; then
		echo "lint: command '$c' has no man page: write docs/ferry-$c.1.scd"
		fail=1
	fi
	if ! grep -E '^#+ ' README.md 2>/dev/null | grep -qF "\`ferry $c\`"; then
		echo "lint: command '$c' has no README.md section: add a heading naming \`ferry $c\`"
		fail=1
	fi
done

[ $fail = 0 ] && echo "lint: ok ($(echo "$files" | wc -l) files, $(echo $cmds | wc -w) commands documented)"
exit $fail
