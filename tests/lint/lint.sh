#!/bin/sh
# lint.sh SRCROOT - the house rules a compiler does not check (STYLE.md).
#  1. banned functions (curl's list): atoi, sscanf, strcpy, sprintf, ...;
#     qsort (xqsort, which takes an empty NULL array).
#  2. one foreign library, one file: only the named file includes its header.
#  3. clang-format clean, where clang-format is installed.
#  4. includes point one way (DESIGN §3): util <- {plan, journal} <- report;
#     util <- drivers (dns, db, switch, traffic, hosts) <- core <- cmd.  A
#     driver includes util/, its own family, and the shared transports
#     only (the one libpq layer, commands on a host, the one libcurl file,
#     HAProxy's runtime API connection); never core/, plan/ or cmd/.
#  5. every command of src/main.c's table is documented: a man page
#     docs/ferry-NAME.1.scd and a README.md section (a heading) naming
#     `ferry NAME` (src/cmd/cmd.h, "Adding a command").
#  5. a child's environment comes from secret_env_child() (util/secret.h):
#     only src/util/secret.c reads `environ`, and no child is handed
#     PGPASSWORD (a password file instead: pgsql_passfile_create).
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

# qsort(3) must not be handed NULL even for zero elements (UBSan stops on
# it): xqsort (util/mem.h) is the one call.
hits=$(grep -nE '(^|[^x_[:alnum:]])qsort[[:space:]]*\(' $files 2>/dev/null | grep -vE '^src/util/mem\.[ch]:')
if [ -n "$hits" ]; then
	echo "lint: qsort( outside util/mem.c (use xqsort):"
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
openssl/|^src/hosts/tls\.c$|^src/db/stream\.c$|^src/dns/sigv4\.c$|^lab/
hiredis|^src/db/redis_conn\.c$|^lab/lib/lab_redis\.c$
mysql\.h|^src/db/mariadb_conn\.c$|^lab/lib/lab_mariadb\.c$
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

# 4. the direction of includes (one awk over every file)
bad_includes=$(awk '
	BEGIN {
		split("db/pgsql.h hosts/shell.h hosts/exec.h hosts/http.h traffic/haproxy_api.h", t, " ")
		for (i in t) transport[t[i]] = 1
		allow["util"] = "util"
		allow["plan"] = "util plan"
		allow["journal"] = "util journal"
		allow["report"] = "util journal report"
		allow["core"] = "util plan journal report dns db switch traffic hosts core"
		n = split("dns db switch traffic hosts", d, " ")
		for (i = 1; i <= n; i++) { allow[d[i]] = "util " d[i]; driver[d[i]] = 1 }
	}
	FNR == 1 { split(FILENAME, parts, "/"); dir = parts[2] }
	/^#include "[a-z]+\/[a-z_0-9]+\.h"/ {
		if (!(dir in allow)) next
		inc = $2; gsub(/"/, "", inc)
		fam = inc; sub(/\/.*/, "", fam)
		if ((dir in driver) && (inc in transport)) next
		if (index(" " allow[dir] " ", " " fam " ")) next
		print "lint: " FILENAME " includes " inc ": includes point util <- drivers <- core <- cmd (DESIGN §3)"
	}' $(find src -name '*.[ch]' | sort))
if [ -n "$bad_includes" ]; then
	echo "$bad_includes"
	fail=1
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

hits=$(grep -nE '\<environ\>' $(echo "$files" | grep -v '^src/util/secret\.c$') 2>/dev/null |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$hits" ]; then
	echo "lint: a spawn path passes \`environ\`; pass secret_env_child() (util/secret.h):"
	echo "$hits"
	fail=1
fi
hits=$(grep -nE '"PGPASSWORD=' $files 2>/dev/null | grep -v 'strncmp')
if [ -n "$hits" ]; then
	echo "lint: PGPASSWORD for a child shows in /proc/PID/environ; use pgsql_passfile_create():"
	echo "$hits"
	fail=1
fi

[ $fail = 0 ] && echo "lint: ok ($(echo "$files" | wc -l) files, $(echo $cmds | wc -w) commands documented)"
exit $fail
