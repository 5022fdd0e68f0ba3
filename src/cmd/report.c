/*
 * report.c - `ferry report PLAN [-o FILE.html|-]`: the migration's story as
 * one self-contained HTML page, made from the journal alone (report/report.h).
 *
 * The plan file is only used for its path: the journal sits beside it (or
 * at --state).  The journal is opened read-only, so a report can be made
 * while `ferry run` works.  The page is built in memory and written to
 * FILE.tmp, then renamed over FILE, so a reader never sees half a page.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "journal/journal.h"
#include "report/report.h"
#include "util/buf.h"
#include "util/mem.h"

#define PAGE_MAX (64u << 20) /* far above what thinning leaves; a bound, not a target */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_file(const char *path, const struct buf *b, struct ferry_error *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = ferry_error_set(err, FERRY_EIO, "check that the folder exists and is writable",
		                    "report %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, b->data, b->len) < 0 || fsync(fd) < 0) {
		r = ferry_error_set(err, FERRY_EIO, "check the free space", "report %s: %s", tmp,
		                    strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		r = ferry_error_set(err, FERRY_EIO, NULL, "report %s: %s", path, strerror(errno));
		unlink(tmp);
	}
out:
	free(tmp);
	return r;
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_common common = { 0 };
	struct ferry_error err = { 0 };
	struct report_options opt = { 0 };
	struct journal *j = NULL;
	struct buf page;
	const char *output = NULL;
	char *state = NULL;
	int c, code = EXIT_DONE, r;

	buf_init(&page, PAGE_MAX);
	optind = 1;
	while ((c = cmd_getopt(argc, argv, "o:", longopts)) != -1) {
		if (c == 'o') {
			output = optarg;
			continue;
		}
		r = cmd_common_option("report", c, optarg, &common, &code);
		if (r < 0)
			return code;
		if (r == 0)
			return EXIT_USAGE;
	}
	if (optind != argc - 1 || !output || !*output)
		return cmd_usage_error("report",
		                       optind != argc - 1 ? "expected one PLAN"
		                                          : "expected -o FILE.html (or -o -)",
		                       NULL);
	if (common.json)
		return cmd_usage_error("report", "--json is not supported; the report is HTML",
		                       "write it to a file with -o FILE.html");

	state = cmd_state_path(argv[optind], common.state);
	r = journal_open(&j, state, JOURNAL_OPEN_READONLY, &err);
	if (r == FERRY_ENOTFOUND) {
		ferry_error_set(&err, r, "run 'ferry run PLAN' first",
		                "report: no journal at %s (this plan has not run yet)", state);
		code = cmd_fail_exit(&err,
		                     EXIT_FAILED); /* a missing journal is not a usage error */
		goto out;
	}
	if (r < 0) {
		ferry_error_prefix(&err, "report");
		if (!err.hint[0])
			snprintf(err.hint, sizeof(err.hint), "run 'ferry run PLAN' first");
		code = cmd_fail_exit(&err, EXIT_FAILED);
		goto out;
	}
	/* The plan's name: plan.c may not load yet; the journal's "plan.name"
	 * or the file name stand in (report.h). */
	opt.plan_path = argv[optind];
	r = report_render(j, &opt, &page, &err);
	if (r < 0) {
		code = cmd_fail_exit(&err, EXIT_FAILED);
		goto out;
	}
	if (!strcmp(output, "-")) {
		if (write_all(STDOUT_FILENO, page.data, page.len) < 0) {
			fprintf(stderr, "ferry: report: writing to standard output: %s\n",
			        strerror(errno));
			code = EXIT_FAILED;
		}
		goto out;
	}
	r = write_file(output, &page, &err);
	if (r < 0) {
		code = cmd_fail_exit(&err, EXIT_FAILED);
		goto out;
	}
	printf("report: wrote %s (%zu KiB)\n", output, (page.len + 1023) / 1024);
out:
	journal_close(j);
	free(state);
	buf_release(&page);
	return code;
}
