/*
 * probe.c - `ferry probe`: this machine's fingerprint as JSON.
 *
 *	ferry probe [--json] [--process NAME | --pidfile PATH | --unit UNIT]
 *	            [--package NAME]... [--salt HEX]
 *
 * Runs the same probe script `ferry check` sends to the hosts, here, and
 * prints one JSON object: a member per category (os, timezone, locale, app,
 * env, ports, conns, packages, cron, limits), each an object of key to
 * value.  Environment values and crontabs appear only as "sha256:HEX",
 * computed by the script (salted with --salt when given, so that two runs
 * with the same salt compare).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "hosts/probe.h"
#include "util/mem.h"

enum {
	OPT_PROCESS = CMD_OPT_FIRST_PRIVATE,
	OPT_PIDFILE,
	OPT_UNIT,
	OPT_PACKAGE,
	OPT_SALT,
};

static json_t *fingerprint_json(const struct hosts_fingerprint *fp, const char *salt)
{
	json_t *root = json_object(), *cat[HOSTS_CAT_COUNT];
	size_t i;

	for (i = 0; i < HOSTS_CAT_COUNT; i++) {
		cat[i] = json_object();
		json_object_set_new(root, hosts_cat_name((enum hosts_cat)i), cat[i]);
	}
	for (i = 0; i < fp->n; i++) {
		const struct hosts_fact *f = &fp->v[i];
		json_t *v;

		if (f->cat == HOSTS_CAT_ENV || f->cat == HOSTS_CAT_CRON) {
			char *h = xasprintf("sha256:%s", f->value);

			v = json_string(h);
			free(h);
		} else if (f->cat == HOSTS_CAT_CONNS) {
			v = json_integer(strtoll(f->value, NULL, 10));
		} else {
			v = json_string(f->value);
		}
		/* json_string() refuses invalid UTF-8: keep the key, say so */
		json_object_set_new(cat[f->cat], f->key, v ? v : json_string("(not UTF-8)"));
	}
	json_object_set_new(root, "salted", json_boolean(salt && salt[0]));
	return root;
}

int cmd_probe(int argc, char **argv)
{
	static const struct option longopts[] = {
		CMD_COMMON_LONGOPTS,
		{ "process", required_argument, NULL, OPT_PROCESS },
		{ "pidfile", required_argument, NULL, OPT_PIDFILE },
		{ "unit", required_argument, NULL, OPT_UNIT },
		{ "package", required_argument, NULL, OPT_PACKAGE },
		{ "salt", required_argument, NULL, OPT_SALT },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_common common = { 0 };
	struct hosts_probe_opts po = { 0 };
	struct hosts_target local = { .name = "local" };
	struct hosts_fingerprint fp;
	struct ferry_error err = { 0 };
	char **packages = NULL;
	size_t npackages = 0, apackages = 0;
	int opt, code = EXIT_DONE;
	json_t *root;

	while ((opt = cmd_getopt(argc, argv, NULL, longopts)) != -1) {
		int r = cmd_common_option("probe", opt, optarg, &common, &code);

		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		switch (opt) {
		case OPT_PROCESS: po.process = optarg; break;
		case OPT_PIDFILE: po.pidfile = optarg; break;
		case OPT_UNIT: po.unit = optarg; break;
		case OPT_SALT: po.salt = optarg; break;
		case OPT_PACKAGE:
			XGROW(packages, apackages, npackages + 1);
			packages[npackages++] = optarg;
			break;
		default: code = EXIT_USAGE; goto out;
		}
	}
	if (optind < argc) {
		code = cmd_usage_error("probe", "takes no arguments, only options", NULL);
		goto out;
	}
	po.packages = packages;
	po.npackages = npackages;
	hosts_fingerprint_init(&fp);
	if (hosts_probe_run(&local, &po, &fp, &err) < 0) {
		code = cmd_fail(&err);
		goto out;
	}
	root = fingerprint_json(&fp, po.salt);
	if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0 || puts("") == EOF)
		code = EXIT_FAILED;
	json_decref(root);
	hosts_fingerprint_release(&fp);
out:
	free(packages);
	return code;
}
