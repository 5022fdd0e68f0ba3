/*
 * init.c - `ferry init [FILE] [--force]`: writes the commented starter plan
 * (examples/shop.yaml, compiled in as plan_example_yaml) to FILE, by
 * default ./ferry.yaml.  Its comments name the commands and the journal
 * with the file's own name: "ferry plan FILE", "NAME.ferry.db" (the
 * example's "shop.yaml" and "shop.ferry.db" replaced, in comments only).
 *
 * An existing file is never overwritten without --force (it may be a plan
 * someone spent a day on); with --force the new text goes to a temporary
 * file beside it that is renamed over it, so the old plan is never left
 * half-written.  The file is mode 0644 whatever the umask: a plan holds no
 * secrets, only where to find them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "plan/plan.h"
#include "util/buf.h"
#include "util/mem.h"

enum {
	OPT_FORCE = CMD_OPT_FIRST_PRIVATE,
};

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Appends line with each `from` replaced by `to`. */
static void replace(struct buf *out, const char *line, size_t len, const char *from, const char *to)
{
	size_t nf = strlen(from), i = 0;

	while (i < len) {
		if (i + nf <= len && !memcmp(line + i, from, nf)) {
			buf_adds(out, to);
			i += nf;
		} else {
			buf_addch(out, line[i++]);
		}
	}
}

/* Where a comment line's own trailing comment (" # ...") starts, or 0. */
static size_t inner_hash(const char *line, size_t len)
{
	size_t i;

	for (i = 1; i + 1 < len; i++)
		if (line[i] == '#' && line[i - 1] == ' ')
			return i;
	return 0;
}

/* Appends the comment line with "shop.yaml" and "shop.ferry.db" replaced,
 * its trailing comment kept in its column where there is room. */
static void comment_line(struct buf *out, const char *line, size_t len, const char *path,
                         const char *journal)
{
	struct buf a, b;
	size_t col = inner_hash(line, len), at, sp;

	buf_init(&a, 1 << 16);
	buf_init(&b, 1 << 16);
	replace(&a, line, len, "shop.yaml", path);
	replace(&b, a.data, a.len, "shop.ferry.db", journal);
	at = col ? inner_hash(b.data, b.len) : 0;
	if (!at) {
		buf_add(out, b.data, b.len);
		goto out;
	}
	for (sp = 0; sp < at && b.data[at - 1 - sp] == ' '; sp++)
		;
	buf_add(out, b.data, at - sp);
	for (sp = at - sp < col ? col - (at - sp) : 1; sp > 0; sp--)
		buf_addch(out, ' ');
	buf_add(out, b.data + at, b.len - at);
out:
	buf_release(&a);
	buf_release(&b);
}

/* The starter plan for path: the example, its comments naming path. */
static void starter_text(const char *path, struct buf *out)
{
	char *journal, *base = strrchr(path, '/') ? xstrdup(strrchr(path, '/') + 1) : xstrdup(path);
	const char *p = plan_example_yaml, *nl;

	journal = cmd_state_path(base, NULL);
	while (*p) {
		nl = strchr(p, '\n');
		nl = nl ? nl + 1 : p + strlen(p);
		if (*p == '#')
			comment_line(out, p, (size_t)(nl - p), path, journal);
		else
			buf_add(out, p, (size_t)(nl - p));
		p = nl;
	}
	free(journal);
	free(base);
}

static int write_plan(const char *path, bool force, struct ferry_error *err)
{
	char *tmp = force ? xasprintf("%s.ferry-init.%ld", path, (long)getpid()) : NULL;
	const char *target = tmp ? tmp : path;
	struct buf text;
	int fd, r = 0;

	buf_init(&text, 1 << 20);
	starter_text(path, &text);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST && !force)
			r = ferry_error_set(err, FERRY_EINVAL,
			                    "use --force to replace it, or give another file name",
			                    "%s already exists; not overwriting it", path);
		else
			r = ferry_error_set(err, FERRY_EIO, NULL, "%s: %s", target,
			                    strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0644) < 0 || write_all(fd, text.data, text.len) < 0 || fsync(fd) < 0) {
		r = ferry_error_set(err, FERRY_EIO, NULL, "%s: %s", target, strerror(errno));
		close(fd);
		unlink(target);
		goto out;
	}
	if (close(fd) < 0) {
		r = ferry_error_set(err, FERRY_EIO, NULL, "%s: %s", target, strerror(errno));
		unlink(target);
		goto out;
	}
	if (tmp && rename(tmp, path) < 0) {
		r = ferry_error_set(err, FERRY_EIO, NULL, "%s: %s", path, strerror(errno));
		unlink(tmp);
	}
out:
	buf_release(&text);
	free(tmp);
	return r;
}

int cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_common common = { 0 };
	struct ferry_error err = { 0 };
	const char *path = "ferry.yaml";
	bool force = false;
	int opt, r, code = EXIT_DONE;

	optind = 1;
	while ((opt = cmd_getopt(argc, argv, "f", longopts)) != -1) {
		if (opt == OPT_FORCE || opt == 'f') {
			force = true;
			continue;
		}
		r = cmd_common_option(argv[0], opt, optarg, &common, &code);
		if (r < 0)
			return code;
		if (r > 0)
			continue;
		return EXIT_USAGE;
	}
	if (argc - optind > 1)
		return cmd_usage_error(argv[0], "expected at most one FILE", NULL);
	if (optind < argc)
		path = argv[optind];
	if (write_plan(path, force, &err) < 0)
		return cmd_fail(&err);
	if (common.json) {
		char *journal = cmd_state_path(path, NULL);
		char *next = xasprintf("ferry plan %s --offline", path);

		cmd_json_event("wrote", "{s:s, s:s, s:s}", "file", path, "journal", journal, "next",
		               next);
		free(next);
		free(journal);
		return EXIT_DONE;
	}
	printf("wrote %s: a commented starter plan.\n"
	       "Edit it for your servers, then run 'ferry plan %s'.\n",
	       path, path);
	return EXIT_DONE;
}
