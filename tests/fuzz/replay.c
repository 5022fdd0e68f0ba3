/*
 * replay.c - main() for a harness built without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once on every file named on the command line,
 * and on every file in a folder named there (not recursively), so that the
 * seed corpora and every input that once crashed are regression tests in
 * each build, the sanitizer one included.  Exits 1 when a file cannot be
 * read or no input was run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/buf.h"
#include "util/mem.h"

static int run_file(const char *path)
{
	struct buf b;
	int rc;

	buf_init(&b, 16 << 20);
	rc = buf_read_file(&b, path);
	if (rc == 0) {
		/* a copy of exactly its size, as libFuzzer passes it: a read
		 * past the end (a parser trusting a NUL) is caught under ASan */
		uint8_t *copy = xmalloc(b.len ? b.len : 1);

		memcpy(copy, b.data, b.len);
		LLVMFuzzerTestOneInput(copy, b.len);
		free(copy);
	} else
		fprintf(stderr, "replay: cannot read %s\n", path);
	buf_release(&b);
	return rc;
}

int main(int argc, char **argv)
{
	size_t n = 0;
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: no such file\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]) < 0;
			n++;
			continue;
		}
		d = opendir(argv[i]);
		while (d && (e = readdir(d)) != NULL) {
			char *path;

			if (e->d_name[0] == '.')
				continue;
			path = xasprintf("%s/%s", argv[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				bad |= run_file(path) < 0;
				n++;
			}
			free(path);
		}
		if (d)
			closedir(d);
	}
	printf("replay: %zu inputs\n", n);
	return bad || n == 0;
}
