/*
 * matrix.c - the harness of the switch fault matrices (matrix.h): the case
 * table and its walk, the children that die in a switch, the fault
 * plumbing of the in-process switch, the waits on the writers and the
 * streams, the gap and ledger checks, and the per-case line and summary.
 */
#include "matrix.h"

#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "traffic/haproxy_api.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/mem.h"
#include "util/timeutil.h"

extern char **environ;

struct matrix matrix;
const struct orch_opts matrix_opts = { .block_signals = true };

static const struct matrix_case *cur; /* the armed case */
static bool acted;                    /* its act (or SIGTERM) done */
static bool then_done;                /* its then done */

void matrix_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "matrix: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

void matrix_bad(const char *fmt, ...)
{
	va_list ap;

	if (matrix.why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(matrix.why, sizeof(matrix.why), fmt, ap);
	va_end(ap);
}

int matrix_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int matrix_envint(const char *name, int def)
{
	const char *v = getenv(name);
	return v ? (int)strtol(v, NULL, 10) : def;
}

void matrix_msleep(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

char *matrix_password(const char *dir)
{
	char *path = xasprintf("%s/ferry.pw", dir), *pw;
	struct buf b;

	buf_init(&b, 4096);
	if (buf_read_file(&b, path) < 0)
		matrix_die("cannot read %s", path);
	free(path);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	pw = xstrdup(b.data);
	buf_release_secret(&b);
	return pw;
}

int matrix_haproxy_port(const char *addr, const char *backend)
{
	struct ferry_error err = { 0 };
	struct haproxy_api *a = NULL;
	const char *reply = NULL, *p;
	char show[128];
	int port = -1;

	snprintf(show, sizeof(show), "show servers state %s", backend);
	if (haproxy_api_open(addr, NULL, &a, &err) < 0 ||
	    haproxy_api_run(a, show, &reply, &err) < 0) {
		matrix_bad("haproxy %s: %s", addr, err.msg);
		haproxy_api_close(a);
		return -1;
	}
	/* "3 BACKEND 1 db 127.0.0.1 2 0 1 1 ... - PORT ...": srv_port is
	 * column 19 */
	for (p = reply; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char line[1024], *tok, *save = NULL;
		int col = 0;
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
		if (line[0] == '#' || !strchr(line, ' '))
			continue;
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), col++)
			if (col == 18)
				port = (int)strtol(tok, NULL, 10);
	}
	haproxy_api_close(a);
	return port;
}

/* ---- the table --------------------------------------------------------------- */

void matrix_table_add(struct matrix_table *t, struct matrix_case c)
{
	if (t->n >= MATRIX_MAX)
		matrix_die("more than %d cases", MATRIX_MAX);
	t->c[t->n++] = c;
}

void matrix_table_steps(struct matrix_table *t, const char *const *steps, bool crash, int rounds,
                        bool faced)
{
	int round;
	size_t i;

	for (round = 0; round < rounds; round++)
		for (i = 0; steps[i]; i++) {
			struct matrix_case c = { .name = steps[i] };
			if (crash) {
				snprintf(t->names[t->n], sizeof(t->names[t->n]), "kill -9 at %s",
				         steps[i]);
				c.name = t->names[t->n];
				c.crash_at = steps[i];
			} else {
				c.fail_at = steps[i];
			}
			if (faced && i == 0)
				c.face = 1 + round;
			matrix_table_add(t, c);
		}
}

void matrix_walk(const struct matrix_table *t, void (*run_case)(const struct matrix_case *c))
{
	const char *only = getenv("MATRIX_ONLY");
	size_t i;

	for (i = 0; i < t->n; i++) {
		const struct matrix_case *c = &t->c[i];
		if (only && !strstr(c->name, only))
			continue;
		if (c->face && (int)matrix.dir != c->face - 1)
			run_case(&(struct matrix_case){
			        .name = "a clean switch (to face the next case's way)" });
		run_case(c);
	}
}

/* ---- a case ---------------------------------------------------------------------- */

void matrix_case_begin(const struct matrix_case *c)
{
	(void)c;
	matrix.why[0] = '\0';
	acted = then_done = false;
	fault_reset();
}

static void act_hook(const char *name, void *ctx)
{
	(void)ctx;
	if (cur && cur->act && !acted && !strcmp(name, cur->act_at)) {
		acted = true;
		cur->act();
	} else if (cur && cur->then && acted && !then_done && !strcmp(name, cur->then_at)) {
		then_done = true;
		cur->then();
	}
}

void matrix_arm(const struct matrix_case *c)
{
	cur = c;
	if (c->fail_at)
		setenv("FERRY_FAIL_AT", c->fail_at, 1);
	fault_set_hook(act_hook, NULL);
}

void matrix_disarm(void)
{
	fault_set_hook(NULL, NULL);
	unsetenv("FERRY_FAIL_AT");
	cur = NULL;
}

void matrix_child_run(const char *srv, const struct matrix_case *c, enum db_direction dir)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *argv[] = { exe, (char *)(c->sigterm ? "--sigterm-child" : "--crash-child"),
		         (char *)srv, (char *)(dir == DB_FORWARD ? "forward" : "reverse"), NULL };
	int want = c->sigterm ? SIGTERM : SIGKILL;
	pid_t pid;
	int st, rc;

	if (n <= 0)
		matrix_die("readlink");
	exe[n] = '\0';
	if (c->crash_at)
		setenv("FERRY_CRASH_AT", c->crash_at, 1);
	if (c->fail_at)
		setenv("FERRY_FAIL_AT", c->fail_at, 1);
	rc = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
	unsetenv("FERRY_CRASH_AT");
	unsetenv("FERRY_FAIL_AT");
	if (rc != 0 || waitpid(pid, &st, 0) != pid)
		matrix_die("cannot run the child");
	if (!WIFSIGNALED(st) || WTERMSIG(st) != want)
		matrix_bad("the child was not ended by %s at %s (status %d)",
		           c->sigterm ? "SIGTERM" : "SIGKILL",
		           c->crash_at ? c->crash_at : "db.fence, after the pause", st);
}

/* The SIGTERM child's: SIGTERM raised at the fence; it must die of it
 * only after the pause. */
static void sigterm_hook(const char *name, void *ctx)
{
	(void)ctx;
	if (!strcmp(name, "db.fence") && !acted) {
		acted = true;
		kill(getpid(), SIGTERM);
	}
}

int matrix_child_main(int argc, char **argv,
                      void (*child)(const char *srv, enum db_direction dir,
                                    struct ferry_error *err))
{
	struct ferry_error err = { 0 };
	bool sigterm;

	if (argc != 4)
		return -1;
	if (!strcmp(argv[1], "--sigterm-child"))
		sigterm = true;
	else if (!strcmp(argv[1], "--crash-child"))
		sigterm = false;
	else
		return -1;
	if (sigterm)
		fault_set_hook(sigterm_hook, NULL);
	child(argv[2], strcmp(argv[3], "forward") ? DB_REVERSE : DB_FORWARD, &err);
	fprintf(stderr, "matrix child: still alive after the switch (%s)\n", err.msg);
	return 3;
}

bool matrix_after_resume(const char *step)
{
	return strstr(step, "start_reverse") || strstr(step, "drop_forward");
}

/* ---- waits and checks ------------------------------------------------------------ */

int matrix_wait_ready(struct endpoints_db *const *dbs, size_t n, int64_t ms,
                      bool (*caught_up)(const struct db_lag *lag))
{
	int64_t until = time_mono_ms() + ms;
	size_t i;

	for (i = 0; i < n; i++) {
		for (;;) {
			struct ferry_error err = { 0 };
			struct db_lag lag = { 0 };
			if (dbs[i]->eng->lag(dbs[i]->h, matrix.dir, &lag, &err) == 0 &&
			    caught_up(&lag))
				break;
			if (time_mono_ms() > until) {
				matrix_bad("database %s: the stream for the next switch does not "
				           "catch up (%s%s)",
				           dbs[i]->cfg.name, err.msg, lag.detail);
				return -1;
			}
			matrix_msleep(20);
		}
	}
	return 0;
}

void matrix_writers_wait(size_t more, int64_t ms, bool fatal)
{
	size_t before[64];
	int k;

	for (k = 0; k < matrix.load.n && k < 64; k++)
		before[k] = matrix.load.count(k);
	for (k = 0; k < matrix.load.n && k < 64; k++) {
		int64_t until = time_mono_ms() + ms;
		while (matrix.load.count(k) < before[k] + more) {
			if (time_mono_ms() > until) {
				if (fatal)
					matrix_die("writer %d does not write: %s", k,
					           matrix.load.last_error(k));
				matrix_bad("writer %d stopped writing: %s", k,
				           matrix.load.last_error(k));
				break;
			}
			matrix_msleep(10);
		}
	}
}

void matrix_writers_alive(void)
{
	matrix_writers_wait(5, 10000, false);
}

int64_t matrix_gap(int64_t t0_us, int64_t t1_us, int dead_load, int64_t limit_ms)
{
	int64_t gap = 0, each[64];
	char list[512];
	size_t used = 0;
	int k;

	for (k = 0; k < matrix.load.n && k < 64; k++) {
		each[k] = matrix.load.gap_us(k, t0_us - 200000, t1_us + 200000);
		if (k != dead_load - 1 && each[k] > gap)
			gap = each[k];
	}
	if (limit_ms > 0 && gap > limit_ms * 1000) {
		list[0] = '\0';
		for (k = 0; k < matrix.load.n && k < 64 && used < sizeof(list); k++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, " w%d %.0f ms",
			                         k, each[k] / 1000.0);
		matrix_bad("writers saw a pause of %.0f ms, over %lld ms (%s)", gap / 1000.0,
		           (long long)limit_ms, list);
	}
	return gap;
}

void matrix_ledger_check(enum db_side w)
{
	int k;

	for (k = 0; k < matrix.load.n; k++) {
		int64_t until = time_mono_ms() + 15000, miss;
		/* a write acknowledged on the other side just before the
		 * switch reaches the writer through replication */
		while ((miss = matrix.load.missing(k, w)) != 0 && time_mono_ms() < until)
			matrix_msleep(50);
		if (miss)
			matrix_bad("writer %d: %lld acknowledged writes are not on %s", k,
			           (long long)miss, db_side_name(w));
	}
}

static const char *outcome_name(enum orch_outcome o)
{
	return o == ORCH_DONE      ? "done"
	       : o == ORCH_UNDONE  ? "undone"
	       : o == ORCH_REFUSED ? "refused"
	                           : "stuck";
}

void matrix_case_end(const struct matrix_case *c, enum db_direction dir, enum orch_outcome outcome,
                     int64_t pause_ms, int64_t gap_us, bool ready, const char *note)
{
	if (ready && !matrix.why[0])
		matrix.passed++;
	else
		matrix.failed++;
	printf("%-4s %-56s %s -> %-7s %s is the writer; ferry %lld ms, clients %.0f ms%s%s%s%s\n",
	       matrix.why[0] ? "FAIL" : "ok", c->name, dir == DB_FORWARD ? "forward" : "reverse",
	       outcome_name(outcome), db_side_name(db_from(matrix.dir)), (long long)pause_ms,
	       gap_us / 1000.0, note && note[0] ? "; " : "", note ? note : "",
	       matrix.why[0] ? ": " : "", matrix.why);
}

int matrix_summary(const char *fmt, ...)
{
	va_list ap;

	printf("%d passed, %d failed (", matrix.passed, matrix.failed);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
	return matrix.failed ? 1 : 0;
}
