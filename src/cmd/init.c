/*
 * init.c - `ferry init [FILE] [--force]`: writes the commented starter plan
 * (examples/shop.yaml, compiled in as plan_example_yaml) to FILE, by
 * default ./ferry.yaml.
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

static int write_plan(const char *path, bool force, struct ferry_error *err)
{
	char *tmp = force ? xasprintf("%s.ferry-init.%ld", path, (long)getpid()) : NULL;
	const char *target = tmp ? tmp : path;
	int fd, r = 0;

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
	if (fchmod(fd, 0644) < 0 || write_all(fd, plan_example_yaml, plan_example_yaml_len) < 0 ||
	    fsync(fd) < 0) {
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
	printf("wrote %s: a commented starter plan.\n"
	       "Edit it for your servers, then run 'ferry plan %s'.\n",
	       path, path);
	return EXIT_DONE;
}
