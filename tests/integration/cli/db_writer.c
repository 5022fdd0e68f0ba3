/*
 * db_writer.c - the write load of db_cli.sh: `db_writer CONNINFO RATE
 * LEDGER` inserts into orders through the given pooler at RATE writes per
 * second (pgload.c's thread, through ferry's own libpq layer) until it gets
 * SIGTERM or SIGINT, then writes every acknowledged write to LEDGER, one
 * "LEDGER_ID ROW_ID" line each, and a last line "# errors N dup N
 * max_gap_us N".  Only acknowledged writes are listed: a write the client
 * saw fail is not one ferry may be blamed for losing.  While running it
 * rewrites LEDGER.count with the number of acknowledgements every 100 ms,
 * so that the test can wait for writes to flow without sleeping blindly.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "../pg/pgload.h"

static int count_file(const char *path, size_t n)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%zu\n", n);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	struct pgload l;
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	char cpath[4096];
	sigset_t set;
	FILE *out;
	size_t i;
	int sig = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: db_writer CONNINFO RATE LEDGER\n");
		return 2;
	}
	snprintf(cpath, sizeof(cpath), "%s.count", argv[3]);
	/* Block the signals before the thread starts so only sigtimedwait
	 * sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (pgload_start(&l, argv[1], (int)strtol(argv[2], NULL, 10), 1) < 0) {
		fprintf(stderr, "db_writer: cannot start the writer thread\n");
		return 1;
	}
	while (sig <= 0) {
		count_file(cpath, pgload_count(&l));
		sig = sigtimedwait(&set, NULL, &tick);
	}
	pgload_stop(&l);
	out = fopen(argv[3], "w");
	if (!out) {
		perror(argv[3]);
		pgload_release(&l);
		return 1;
	}
	for (i = 0; i < l.nacks; i++)
		fprintf(out, "%lld %lld\n", (long long)l.acks[i].ledger, (long long)l.acks[i].id);
	fprintf(out, "# errors %lld dup %lld max_gap_us %lld last_error %s\n", (long long)l.errors,
	        (long long)l.dup_errors, (long long)pgload_max_gap_us(&l, 0, 0), l.last_error);
	fclose(out);
	count_file(cpath, l.nacks);
	pgload_release(&l);
	return 0;
}
