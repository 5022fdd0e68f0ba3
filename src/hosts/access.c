/*
 * access.c - see access.h.  Two runs of the plan's prefix with `sh -s`
 * (the way in alone, then through sudo), each answering one line
 * "ferry-access USER UID"; a failure is described by the command's own
 * stderr and a hint picked by the words ssh and sudo use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/access.h"
#include "util/buf.h"
#include "util/mem.h"

static const char access_script[] = "echo ferry-access \"$(id -un)\" \"$(id -u)\"\n";

/* ssh's and sudo's options that take an argument (ssh(1), sudo(8)). */
static const char ssh_opts_with_arg[] = "BbcDEeFIiJLlmOopQRSWw";
static const char sudo_opts_with_arg[] = "CDghprTtUu";

void hosts_access_init(struct hosts_access *a)
{
	memset(a, 0, sizeof(*a));
}

static void part_release(struct hosts_access_part *p)
{
	free(p->detail);
	memset(p, 0, sizeof(*p));
}

void hosts_access_release(struct hosts_access *a)
{
	part_release(&a->way);
	part_release(&a->sudo);
	free(a->command);
	hosts_access_init(a);
}

static const char *base_name(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

/* The way in, named for messages: "ssh DEST" for ssh, else its words. */
static char *way_command(char *const *w, size_t n, bool ssh)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	if (ssh) {
		for (i = 1; i < n; i++) {
			if (w[i][0] != '-')
				break;
			if (strlen(w[i]) == 2 && strchr(ssh_opts_with_arg, w[i][1]))
				i++;
		}
		buf_addf(&b, "ssh %s", i < n ? w[i] : "?");
	} else {
		for (i = 0; i < n; i++)
			buf_addf(&b, "%s%s", i ? " " : "", w[i]);
	}
	return buf_detach(&b, NULL);
}

/* Blank, or a line of ssh's "@@@@" banner (it starts with '@'). */
static bool skipped_line(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return s[i] == '@';
	return true;
}

/* The command's stderr for one line of a row: its lines without blanks and
 * ssh's "@@@" banner, control characters dropped; the first and the last
 * two when there are more than three ("A … Y / Z"). */
static char *stderr_lines(const struct buf *e)
{
	const char *lines[256];
	size_t lens[256], n = 0, i, k;
	const char *p = e->data ? e->data : "", *end = p + e->len;
	struct buf b;

	while (p < end && n < 256) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (!skipped_line(p, len)) {
			lines[n] = p;
			lens[n++] = len > 200 ? 200 : len;
		}
		p += len + 1;
	}
	buf_init(&b, 4096);
	for (i = 0; i < n; i++) {
		if (n > 3 && i > 0 && i < n - 2) {
			if (i == 1)
				buf_adds(&b, " … ");
			continue;
		}
		if (i > 0 && !(n > 3 && i == n - 2))
			buf_adds(&b, " / ");
		for (k = 0; k < lens[i]; k++)
			if ((unsigned char)lines[i][k] >= 0x20 && lines[i][k] != 0x7f)
				buf_addch(&b, lines[i][k]);
	}
	if (b.len == 0)
		buf_adds(&b, "(nothing on stderr)");
	return buf_detach(&b, NULL);
}

static const char *ssh_hint(const char *e)
{
	if (strstr(e, "Host key verification failed") && strstr(e, "has changed"))
		return "the host's key is not the one known_hosts pins: if the host was "
		       "reinstalled, check its new fingerprint on the host (ssh-keygen -lf "
		       "/etc/ssh/ssh_host_ed25519_key.pub) and replace the line (ssh-keygen -R)";
	if (strstr(e, "Host key verification failed") || strstr(e, "No ED25519 host key") ||
	    strstr(e, "host key is known"))
		return "the host's key is not in known_hosts: check its fingerprint on the host "
		       "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it "
		       "(ssh-keyscan HOST >> known_hosts); ferry never accepts an unknown key";
	if (strstr(e, "Permission denied"))
		return "the key is refused: put its public key in the user's authorized_keys on "
		       "the host, check the user name and IdentityFile (ferry types no password or "
		       "passphrase: BatchMode yes)";
	if (strstr(e, "Connection refused"))
		return "nothing listens on the ssh port: start sshd on the host, or fix the port "
		       "(-p, Port in the ssh config)";
	if (strstr(e, "timed out") || strstr(e, "No route to host") ||
	    strstr(e, "Network is unreachable"))
		return "the host does not answer on the ssh port: the address, a firewall, or a "
		       "bastion to go through (ProxyJump)";
	if (strstr(e, "Could not resolve hostname"))
		return "the host name does not resolve here: fix it, or give the address "
		       "(HostName in the ssh config)";
	return "run the prefix by hand with `sh -s` to see why";
}

static const char *sudo_hint(const char *e)
{
	if (strstr(e, "password is required") || strstr(e, "terminal is required") ||
	    strstr(e, "no tty present") || strstr(e, "askpass"))
		return "sudo wants a password for this user: give it NOPASSWD for what ferry runs "
		       "(USER ALL=(root) NOPASSWD: /usr/bin/sh \"\", /usr/bin/sh -s)";
	if (strstr(e, "not allowed to execute") || strstr(e, "not in the sudoers") ||
	    strstr(e, "may not run sudo"))
		return "no sudoers rule lets this user run sh: add one for what ferry runs "
		       "(USER ALL=(root) NOPASSWD: /usr/bin/sh \"\", /usr/bin/sh -s)";
	if (strstr(e, "not found"))
		return "install sudo on the host, or change the prefix";
	return "run the prefix by hand with `sh -s` to see why";
}

/* "ferry-access USER UID\n": the user's name (at most size - 1 bytes of
 * it) and the uid. */
static bool parse_answer(const char *line, char *name, size_t size, long *uid)
{
	const char *u = line + strlen("ferry-access "), *sp = strchr(u, ' ');
	char *end;

	if (!sp || sp == u || (size_t)(sp - u) >= size)
		return false;
	memcpy(name, u, (size_t)(sp - u));
	name[sp - u] = '\0';
	*uid = strtol(sp + 1, &end, 10);
	return end != sp + 1 && (*end == '\n' || *end == '\0');
}

/* Runs w[0..n) sh -s with the script; on success *user and *uid (owned by
 * the caller) hold who answered.  Returns 0, or -1 with p filled. */
static int run_part(const struct hosts_target *t, size_t n, int64_t timeout_ms, bool ssh,
                    struct hosts_access_part *p, char **user, long *uid)
{
	static const char *const argv[] = { "sh", "-s", NULL };
	struct hosts_target part = *t;
	struct hosts_exec_result r;
	struct ferry_error err = { 0 };
	const char *line;
	char name[64];
	int rc;

	part.nexec = n;
	hosts_exec_result_init(&r);
	rc = hosts_exec(&part, argv, access_script, strlen(access_script), timeout_ms, &r, &err);
	p->elapsed_ms = r.elapsed_ms;
	line = r.out.data ? strstr(r.out.data, "ferry-access ") : NULL;
	if (rc == 0 && r.status == 0 && line && parse_answer(line, name, sizeof(name), uid)) {
		*user = xstrdup(name);
		rc = 0;
		goto out;
	}
	p->state = HOSTS_ACCESS_FAIL;
	if (rc == FERRY_ENOTFOUND || rc == FERRY_EIO) {
		p->detail = xstrdup(err.msg);
		p->hint = "install it, or fix the host's exec prefix in the plan";
	} else {
		char *lines = stderr_lines(&r.err);

		if (rc == FERRY_ETIMEDOUT)
			p->detail = xasprintf("no answer within %lld ms: %s", (long long)timeout_ms,
			                      lines);
		else if (r.status == 0)
			p->detail = xasprintf("ran, but did not answer as a shell does: %s", lines);
		else
			p->detail = xasprintf("exit %d: %s", r.status, lines);
		free(lines);
		p->hint = ssh ? ssh_hint(p->detail)
		              : "run the prefix by hand with `sh -s` to see why";
	}
	rc = -1;
out:
	hosts_exec_result_release(&r);
	return rc;
}

void hosts_access_check(const struct hosts_target *t, int64_t timeout_ms, struct hosts_access *a)
{
	size_t k, i;
	bool sudo_n = false;
	char *user = NULL;
	long uid = -1;

	for (k = 0; k < t->nexec; k++)
		if (!strcmp(base_name(t->exec[k]), "sudo"))
			break;
	a->ssh = k > 0 && !strcmp(base_name(t->exec[0]), "ssh");
	a->command = k > 0 ? way_command(t->exec, k, a->ssh) : xstrdup("this machine");
	/* The way in (when sudo is not the first word). */
	if (k > 0) {
		if (run_part(t, k, timeout_ms, a->ssh, &a->way, &user, &uid) < 0)
			return;
		a->way.state = HOSTS_ACCESS_OK;
		a->way.detail = xasprintf("%s: a shell as %s (uid %ld) in %lld ms%s", a->command,
		                          user, uid, (long long)a->way.elapsed_ms,
		                          a->ssh ? "; key accepted, host key known" : "");
		free(user);
		user = NULL;
	}
	if (k == t->nexec)
		return;
	/* sudo: -n (or --non-interactive, or n among other letters), up to
	 * the command; an option's argument (-u USER) is skipped. */
	for (i = k + 1; i < t->nexec && t->exec[i][0] == '-'; i++) {
		if (!strcmp(t->exec[i], "--non-interactive") ||
		    (t->exec[i][1] != '-' && strchr(t->exec[i], 'n')))
			sudo_n = true;
		if (strlen(t->exec[i]) == 2 && strchr(sudo_opts_with_arg, t->exec[i][1]))
			i++;
	}
	if (run_part(t, t->nexec, timeout_ms, false, &a->sudo, &user, &uid) < 0) {
		a->sudo.hint = sudo_hint(a->sudo.detail);
		return;
	}
	a->sudo.state = sudo_n ? HOSTS_ACCESS_OK : HOSTS_ACCESS_WARN;
	a->sudo.detail = xasprintf("sh runs as %s (uid %ld), no password asked%s", user, uid,
	                           sudo_n ? ""
	                                  : "; but without -n, a sudo that wants a password "
	                                    "would wait for one ferry cannot type");
	if (!sudo_n)
		a->sudo.hint = "add -n after sudo in the prefix";
	free(user);
}
